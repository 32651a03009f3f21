"""Comparisons, logical and bitwise ops: no gradients, bool or integer results.

Comparisons promote their operands (int tensor < 1.5 compares as float) and
return bool; logical ops treat nonzero as True; bitwise ops need integer or
bool tensors.
"""
from .registry import op, composite


def _compare(name, ufunc, cexpr, doc):
    def forward(xp, a, b):
        return getattr(xp, ufunc)(a, b)
    forward.__doc__ = doc
    forward.__name__ = forward.__qualname__ = name
    return op(name, kind="elementwise", dtype="bool", differentiable=False, cexpr=cexpr)(forward)


lt = _compare("lt", "less", "a < b", "input < other, elementwise (`<`).")
le = _compare("le", "less_equal", "a <= b", "input <= other, elementwise (`<=`).")
gt = _compare("gt", "greater", "a > b", "input > other, elementwise (`>`).")
ge = _compare("ge", "greater_equal", "a >= b", "input >= other, elementwise (`>=`).")
eq = _compare("eq", "equal", "a == b", "input == other, elementwise (`==`).")
ne = _compare("ne", "not_equal", "a != b", "input != other, elementwise (`!=`).")
logical_and = _compare("logical_and", "logical_and", "(a != 0) && (b != 0)",
                       "True where both inputs are nonzero.")
logical_or = _compare("logical_or", "logical_or", "(a != 0) || (b != 0)",
                      "True where either input is nonzero.")
logical_xor = _compare("logical_xor", "logical_xor", "(a != 0) != (b != 0)",
                       "True where exactly one input is nonzero.")


@op("logical_not", kind="elementwise", dtype="bool", differentiable=False, cexpr="a == 0")
def logical_not(xp, a):
    """True where input is zero."""
    return xp.logical_not(a)


from .._dtype import TORCH_NAMES as _TORCH_NAMES  # noqa: E402


def _bitwise(name, ufunc, cexpr, doc):
    def forward(xp, a, b):
        for x in (a, b):
            if x.dtype.kind == "f":
                raise RuntimeError(f'"{name}_cpu" not implemented for '
                                   f"'{_TORCH_NAMES.get(x.dtype.name, str(x.dtype))}'")
        return getattr(xp, ufunc)(a, b)
    forward.__doc__ = doc
    forward.__name__ = forward.__qualname__ = name
    return op(name, kind="elementwise", dtype="promote", differentiable=False, cexpr=cexpr)(forward)


# NOTE: no C expressions here: the fused C loop instantiates every expression
# for float and double, where & | ^ ~ << >> don't exist (and C leaves shifting
# negative numbers undefined, and `~` on a C bool is not `not`).
bitwise_and = _bitwise("bitwise_and", "bitwise_and", None, "Bitwise AND of integer or bool tensors (`&`).")
bitwise_or = _bitwise("bitwise_or", "bitwise_or", None, "Bitwise OR of integer or bool tensors (`|`).")
bitwise_xor = _bitwise("bitwise_xor", "bitwise_xor", None, "Bitwise XOR of integer or bool tensors (`^`).")
bitwise_left_shift = _bitwise("bitwise_left_shift", "left_shift", None,
                              "input << other for integer tensors.")
bitwise_right_shift = _bitwise("bitwise_right_shift", "right_shift", None,
                               "input >> other (arithmetic) for integer tensors.")


@op("bitwise_not", kind="elementwise", dtype="keep", differentiable=False)
def bitwise_not(xp, a):
    """Bitwise NOT (`~`); logical not for bool tensors."""
    if a.dtype.kind == "f":
        raise RuntimeError(f"\"bitwise_not_cpu\" not implemented for '{_TORCH_NAMES.get(a.dtype.name)}'")
    return xp.invert(a)


# -- whole-tensor comparisons (composites of the ops above) ---------------------------------
@composite("isclose")
def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol * |other| elementwise; equal infinities are close, NaN
    only with equal_nan=True (torch's rule)."""
    from .. import isfinite, isnan
    if not hasattr(other, "_data"):
        from .._creation import full_like
        other = full_like(input, other)
    close = eq(input, other)
    if input.dtype.is_floating_point or other.dtype.is_floating_point:
        within = (input - other).abs() <= atol + rtol * other.abs()
        close = logical_or(close, logical_and(within, logical_and(isfinite(input), isfinite(other))))
        if equal_nan:
            close = logical_or(close, logical_and(isnan(input), isnan(other)))
    return close


@composite("allclose")
def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when every element of input is close to other's (see isclose)."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


@composite("equal")
def equal(input, other):
    """True when both tensors have the same shape and the same elements."""
    if tuple(input.shape) != tuple(other.shape):
        return False
    return bool(eq(input, other).all())

