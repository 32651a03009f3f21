"""Elementwise arithmetic: + - * / // % **, abs/sign, min/max/clamp, lerp, where.

Each op has a forward on arrays, a backward in pyrch ops and a C expression
over operands a, b, c (and the attributes it names) that the fusion code
generator splices into a fused loop. Transcendental functions live in
elementwise_math.py, activations in elementwise_nn.py, comparisons and
bitwise/logical ops in elementwise_logic.py, torch's other spellings (clip,
absolute, arcsin, greater, ...) in elementwise_alias.py.

dtype rules: "promote" computes in torch's promoted type, "float" also turns
integers into the default float (exp, /, sqrt), "bool" promotes the operands
and returns bool (comparisons), "keep" returns the input's dtype.
"""
import math

import numpy as np

from .._config import flags
from .core import fill
from .registry import op, composite


def public(o):
    """Register `fn` as op `o`'s torch-signature function, named like the op."""
    def register(fn):
        fn.__name__ = fn.__qualname__ = o.name
        return o.public(fn)
    return register


def special(xp):
    """scipy.special for numpy arrays, cupyx.scipy.special for cupy arrays (erf, expit).

    On the CPU, float32 erf/erfc/expit of large arrays run through the C
    extension's vectorised kernels when it is built (scipy's are scalar loops,
    ~7 ms for half a million values); float64 always uses scipy's.
    """
    if xp is np:
        return _CPU_SPECIAL
    import cupyx.scipy.special as sp
    return sp


class _CpuSpecial:
    _C_NAMES = {"erf": "erf", "erfc": "erfc", "expit": "sigmoid"}

    def __init__(self):
        self._kernels = {}

    def __getattr__(self, name):
        import scipy.special as sp
        fn = getattr(sp, name)
        op_name = self._C_NAMES.get(name)
        if op_name is None:
            return fn

        def call(a, *rest):
            if not rest and type(a) is np.ndarray and a.dtype == np.float32 and a.size >= 4096:
                k = self._kernel(op_name)
                if k is not None:
                    out = np.empty(a.shape, np.float32)
                    k([a if all(st >= 0 for st in a.strides) else np.ascontiguousarray(a)], [out])
                    return out
            return fn(a, *rest)
        return call

    def _kernel(self, op_name, n_in=1, dtype="float32"):
        """A C program applying `op_name` to `n_in` inputs in `dtype` (cached), or None."""
        if not flags.c:                     # PYRCH_C=0 / config(c=False): numpy only
            return None
        key = (op_name, n_in, dtype)
        k = self._kernels.get(key, False)
        if k is False:
            k = None
            try:
                from .. import _C
                if _C.lib() is not None and not _C.stale():
                    from .._C import fused
                    if op_name in fused.opcode_table():
                        k = fused.compile_group(n_in, [(op_name, tuple(range(n_in)), {})],
                                                [n_in], dtype)
            except Exception:  # noqa: BLE001 - any trouble: scipy's scalar loop
                k = None
            self._kernels[key] = k
        return k


_CPU_SPECIAL = _CpuSpecial()


# NOTE: below ~256k results numpy's one-core loop wins: the call here costs ~20 us
# (measured: 128 x 512 adds 10 vs 26 us; 16 x 64 x 512 + bias 225 vs 90 us)
_THREADED_MIN = 1 << 18
_F64 = np.dtype(np.float64)


def c_binary(op_name, a, b, min_size=_THREADED_MIN, f64=True):
    """a <op> b (the op's cexpr) for two float32 or, with `f64`, two float64 arrays with
    `min_size`+ results, as one C loop on pyrch's threads (numpy's runs on one core):
    None when that does not apply. The C VM computes + - * and selects with the same
    IEEE roundings as numpy, so the bits agree; an op with a transcendental passes
    f64=False (float64 must stay bit-identical to numpy)."""
    # NOTE: this runs on every eager + - *: the cheap size test rejects small operands first
    if getattr(a, "size", 0) < min_size >> 4 and getattr(b, "size", 0) < min_size >> 4:
        return None
    if type(a) is not np.ndarray or type(b) is not np.ndarray:
        # a Python number beside an array arrives as a numpy scalar of the array's dtype
        # (dispatch casts it): a 0-dim operand (attention's `att * scale`: 70 -> 35 us
        # on 16 x 4 x 64 x 64, numpy's loop being single-threaded)
        if type(a) in _FLOAT_SCALARS and type(b) is np.ndarray:
            a = np.asarray(a)
        elif type(b) in _FLOAT_SCALARS and type(a) is np.ndarray:
            b = np.asarray(b)
        else:
            return None
    dt = a.dtype
    if dt is not b.dtype and dt != b.dtype:
        return None
    name = _FLOAT_NAME.get(dt)
    if name is None or (name == "float64" and not f64):
        return None
    # (a dtype's .name is computed in Python on every read, and broadcast_shapes costs
    # a few microseconds: both skipped where they can be)
    sa = a.shape
    if sa == b.shape:
        shape, size = sa, a.size
    else:
        try:
            shape = np.broadcast_shapes(sa, b.shape)
        except ValueError:
            return None
        size = math.prod(shape)
    if size < min_size or min(a.strides + b.strides, default=0) < 0:
        return None
    k = _CPU_SPECIAL._kernel(op_name, 2, name)
    if k is None:
        return None
    out = np.empty(shape, a.dtype)
    k([a, b], [out])
    return out


def c_select(op_name, arrays):
    """Run a selecting op (where, masked_fill) as one C loop over float32 arrays (bool
    masks allowed), broadcasting them; None when it does not apply (dtypes, sizes,
    no extension), so the caller falls back to numpy. np.where broadcasts and
    selects in several passes; this is one."""
    # NOTE: small selects stay on numpy before any other check (this runs on every where)
    if max(getattr(a, "size", 0) for a in arrays) < 4096:
        return None
    # a number beside the arrays arrives as a numpy scalar of the result dtype (dispatch
    # casts it): a 0-dim operand. np.where is slow here (numpy 2.4: 6 ns a value on a
    # random mask, 380 us on 65k values against 40 us in C), and relu's mask and many
    # backward rules select against 0.
    arrays = [np.asarray(a) if type(a) is np.float32 else a for a in arrays]
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype not in (_F32, _BOOL) or \
                any(st < 0 for st in a.strides):
            return None
    try:
        shape = np.broadcast_shapes(*[a.shape for a in arrays])
    except ValueError:
        return None
    k = _CPU_SPECIAL._kernel(op_name, len(arrays))
    if k is None:
        return None
    out = np.empty(shape, np.float32)
    k(list(arrays), [out])
    return out


_F32, _BOOL = np.dtype(np.float32), np.dtype(np.bool_)
_FLOAT_NAME = {_F32: "float32", _F64: "float64"}
_FLOAT_SCALARS = (np.float32, np.float64)


def zeros_like(g):
    """A zero gradient shaped like `g` (torch's grad of floor, sign, round, ...), made by
    an op so that a traced backward records it."""
    return fill(g, 0)


# -- + - * / ----------------------------------------------------------------------------

@op("add", kind="elementwise", dtype="promote", cexpr="a + b")
def add(xp, a, b):
    """input + alpha * other, with broadcasting and type promotion.

    >>> import pyrch
    >>> pyrch.add(pyrch.tensor([1, 2]), 1.5)
    tensor([2.5000, 3.5000])
    """
    if xp is np:
        r = c_binary("add", a, b)
        if r is not None:
            return r
    return xp.add(a, b)


@add.backward
def _(g):
    return g, g


@public(add)
def _add(input, other, *, alpha=1):
    if alpha != 1:
        other = other * alpha
    return add(input, other)


@op("sub", kind="elementwise", dtype="promote", cexpr="a - b")
def sub(xp, a, b):
    """input - alpha * other, with broadcasting and type promotion."""
    if xp is np:
        r = c_binary("sub", a, b)
        if r is not None:
            return r
    try:
        return xp.subtract(a, b)
    except TypeError:
        if a.dtype == bool and b.dtype == bool:
            raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not "
                               "supported. Use the `^` or `logical_xor()` operator instead.") from None
        raise


@sub.backward
def _(g, needs):
    return g, (-g if needs[1] else None)


@public(sub)
def _sub(input, other, *, alpha=1):
    if alpha != 1:
        other = other * alpha
    return sub(input, other)


@op("mul", kind="elementwise", dtype="promote", cexpr="a * b")
def mul(xp, a, b):
    """input * other, elementwise."""
    if xp is np:
        r = c_binary("mul", a, b)
        if r is not None:
            return r
    return xp.multiply(a, b)


@mul.backward
def _(g, a, b, needs):
    return (g * b if needs[0] else None), (g * a if needs[1] else None)


@op("div", kind="elementwise", dtype="float", cexpr="a / b")
def div(xp, a, b):
    """True division (integers give floats); rounding_mode='trunc' or 'floor' rounds.

    >>> import pyrch
    >>> pyrch.div(pyrch.tensor([5, -5]), 2)
    tensor([ 2.5000, -2.5000])
    """
    return xp.true_divide(a, b)


@div.backward
def _(g, a, b, needs):
    ga = g / b if needs[0] else None
    gb = -g * a / (b * b) if needs[1] else None
    return ga, gb


@public(div)
def _div(input, other, *, rounding_mode=None):
    if rounding_mode is None:
        return div(input, other)
    if rounding_mode == "floor":
        return floor_divide(input, other)
    if rounding_mode != "trunc":
        raise ValueError("div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                         f"found '{rounding_mode}'")
    from .._dtype import result_type
    if result_type(input, other).is_floating_point:
        return div(input, other).trunc()
    q = floor_divide(input, other)     # integers: floor, then step back toward zero
    return q + ((q * other != input) & ((input < 0) != (other < 0)))


# numpy's and torch's floor division: from fmod, so 1 // 0.1 is 9 like Python's (floor(1 / 0.1)
# would be 10). NOTE: for integer operands the C expression assumes a nonzero divisor.
_MOD = "fmod(a, b)"
_DIV = f"((a - {_MOD}) / b - ({_MOD} != 0 && (b < 0) != ({_MOD} < 0)))"
_FLOOR_DIVIDE_C = (f"(b == 0 ? a / b : ({_DIV} != 0 ? floor({_DIV}) + ({_DIV} - floor({_DIV}) > 0.5) "
                   ": copysign(0, a / b)))")


def _kind(x):
    """The dtype kind of an array or a scalar operand ("f", "i", ...)."""
    dt = getattr(x, "dtype", None)
    return dt.kind if dt is not None else np.dtype(type(x)).kind


def _no_integer_zero_division(xp, b):
    """torch's error for an integer division by zero (numpy would give 0 with a warning)."""
    if _kind(b) in "iub" and bool(xp.any(b == 0)):
        raise RuntimeError("ZeroDivisionError")


@op("floor_divide", kind="elementwise", dtype="promote", cexpr=_FLOOR_DIVIDE_C)
def floor_divide(xp, a, b):
    """Division rounded down (`//`), integers stay integers like Python's."""
    _no_integer_zero_division(xp, b)
    return xp.floor_divide(a, b)


@floor_divide.backward
def _(g):
    # NOTE: torch raises "derivative for aten::floor_divide is not implemented";
    # pyrch gives the zero gradient that torch.div(..., rounding_mode='floor') has.
    z = zeros_like(g)
    return z, z


@op("remainder", kind="elementwise", dtype="promote",
    cexpr="(fmod(a, b) != 0 && ((b < 0) != (fmod(a, b) < 0)) ? fmod(a, b) + b : fmod(a, b))")
def remainder(xp, a, b):
    """Python's modulus (`%`): the result takes the divisor's sign."""
    _no_integer_zero_division(xp, b)
    return xp.remainder(a, b)


@remainder.backward
def _(g, a, b, needs):
    return g, (-g * floor_divide(a, b) if needs[1] else None)


@op("fmod", kind="elementwise", dtype="promote", cexpr="fmod(a, b)")
def fmod(xp, a, b):
    """C's fmod: the remainder takes the dividend's sign."""
    return xp.fmod(a, b)


@fmod.backward
def _(g, a, b, needs):
    return g, (-g * div(a, b).trunc() if needs[1] else None)


@op("pow", kind="elementwise", dtype="promote", cexpr="pow(a, b)")
def pow(xp, a, b):
    """input ** exponent; either may be a Python number.

    >>> import pyrch
    >>> pyrch.tensor([1.0, 2.0]) ** 2
    tensor([1., 4.])
    """
    if isinstance(b, np.generic) and b.dtype.kind in "iu" and b < 0 and _kind(a) in "iu":
        raise RuntimeError("Integers to negative integer powers are not allowed.")   # torch
    try:
        return xp.power(a, b)
    except ValueError:   # integers to negative powers: torch gives 1, -1 or 0 (truncation)
        pos = xp.power(a, xp.abs(b))
        odd = xp.remainder(b, 2) != 0
        neg = xp.where(a == 1, 1, xp.where(a == -1, xp.where(odd, -1, 1), 0)).astype(pos.dtype)
        return xp.where(b < 0, neg, pos)


@pow.backward
def _(g, a, b, out, needs):
    import math
    from .._tensor import Tensor
    ga = gb = None
    if needs[0]:
        # NOTE: like torch, the grad is 0 where the exponent is 0 (0 ** 0 included)
        if isinstance(b, Tensor):
            ga = where(b == 0, 0.0, g * b * a ** (b - 1))
        else:
            ga = zeros_like(g) if b == 0 else g * b * a ** (b - 1)
    if needs[1]:
        # NOTE: and 0 where the base is 0 and the exponent >= 0 (log 0 = -inf)
        if isinstance(a, Tensor):
            gb = where((a == 0) & (b >= 0), 0.0, g * out * a.log())
        elif a == 0:
            gb = where(b >= 0, 0.0, g * out * -math.inf)
        else:
            gb = g * out * math.log(a)
    return ga, gb


# -- sign-like --------------------------------------------------------------------------

@op("neg", kind="elementwise", dtype="keep", cexpr="-a")
def neg(xp, a):
    """-input (bool tensors are an error, as in torch)."""
    if a.dtype == bool:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you "
                           "are trying to invert a mask, use the `~` or `logical_not()` operator "
                           "instead.")
    return xp.negative(a)


@neg.backward
def _(g):
    return (-g,)


@op("positive", kind="elementwise", dtype="keep", cexpr="a")
def positive(xp, a):
    """+input: the input itself (a copy)."""
    return a.copy()


@positive.backward
def _(g):
    return (g,)


@op("abs", kind="elementwise", dtype="keep", cexpr="(a <= 0 ? 0 - a : a)")
def abs(xp, a):
    """|input|, elementwise."""
    return xp.abs(a)


@abs.backward
def _(g, a):
    return (g * a.sign(),)   # NOTE: 0 at 0, like torch


@op("sign", kind="elementwise", dtype="keep", cexpr="((a > 0) - (a < 0))")
def sign(xp, a):
    """-1, 0 or 1 by the sign of input (0 for NaN, like torch)."""
    if a.dtype.kind == "b":
        return a.copy()
    out = xp.sign(a)
    return xp.where(out == out, out, 0) if a.dtype.kind == "f" else out


@sign.backward
def _(g):
    return (zeros_like(g),)


@op("reciprocal", kind="elementwise", dtype="float", cexpr="1 / a")
def reciprocal(xp, a):
    """1 / input (integers give floats)."""
    return xp.reciprocal(a)


@reciprocal.backward
def _(g, out):
    return (-g * out * out,)


@op("square", kind="elementwise", dtype="keep", cexpr="a * a")
def square(xp, a):
    """input * input (integers stay integers)."""
    return xp.square(a)


@square.backward
def _(g, a):
    return (g * 2 * a,)


# -- min/max, clamp -----------------------------------------------------------------------

@op("maximum", kind="elementwise", dtype="promote", cexpr="(a != a || a > b ? a : b)")
def maximum(xp, a, b):
    """The larger of two tensors, elementwise; NaN propagates."""
    return xp.maximum(a, b)


@op("minimum", kind="elementwise", dtype="promote", cexpr="(a != a || a < b ? a : b)")
def minimum(xp, a, b):
    """The smaller of two tensors, elementwise; NaN propagates."""
    return xp.minimum(a, b)


def _minmax_grads(g, a, b, needs, a_loses, b_loses):
    # NOTE: torch's rule: on ties each input gets half the gradient
    if needs[0] or needs[1]:
        g_tie = where(a == b, g * 0.5, g)
    return (where(a_loses, 0.0, g_tie) if needs[0] else None,
            where(b_loses, 0.0, g_tie) if needs[1] else None)


@maximum.backward
def _(g, a, b, needs):
    return _minmax_grads(g, a, b, needs, a < b, a > b)


@minimum.backward
def _(g, a, b, needs):
    return _minmax_grads(g, a, b, needs, a > b, a < b)


@op("clamp_min", kind="elementwise", dtype="promote", cexpr="(b != b || a < b ? b : a)")
def clamp_min(xp, a, min):
    """max(input, min) elementwise; NaN propagates."""
    return xp.maximum(a, min)


@clamp_min.backward
def _(g, a, min, needs):
    return (where(a >= min, g, 0.0) if needs[0] else None,
            where(a < min, g, 0.0) if needs[1] else None)


@op("clamp_max", kind="elementwise", dtype="promote", cexpr="(b != b || a > b ? b : a)")
def clamp_max(xp, a, max):
    """min(input, max) elementwise; NaN propagates."""
    return xp.minimum(a, max)


@clamp_max.backward
def _(g, a, max, needs):
    return (where(a <= max, g, 0.0) if needs[0] else None,
            where(a > max, g, 0.0) if needs[1] else None)


@op("clamp", kind="elementwise", dtype="promote",
    cexpr="(c != c || (b != b || a < b ? b : a) > c ? c : (b != b || a < b ? b : a))")
def clamp(xp, a, min, max):
    """Clamp input into [min, max]; min or max may be None, a number or a tensor.

    >>> import pyrch
    >>> pyrch.tensor([-2.0, 0.5, 3.0]).clamp(0, 1)
    tensor([0.0000, 0.5000, 1.0000])
    """
    return xp.minimum(xp.maximum(a, min), max)


@clamp.backward
def _(g, a, min, max, needs):
    # NOTE: torch's rule: the input's grad passes where min <= input <= max
    # (boundaries included); when min > max everything is max's.
    ga = where((a >= min) & (a <= max), g, 0.0) if needs[0] else None
    gmin = where((a < min) & (min < max), g, 0.0) if needs[1] else None
    gmax = where((a > max) | (max < min), g, 0.0) if needs[2] else None
    return ga, gmin, gmax


@public(clamp)
def _clamp(input, min=None, max=None):
    if min is None:
        if max is None:
            raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
        return clamp_max(input, max)
    if max is None:
        return clamp_min(input, min)
    return clamp(input, min, max)


# -- three-operand -------------------------------------------------------------------------

@op("lerp", kind="elementwise", dtype="promote",
    cexpr="((c < 0 ? -c : c) < 0.5 ? a + c * (b - a) : b - (b - a) * (1 - c))")
def lerp(xp, a, end, weight):
    """input + weight * (end - input); weight is a number or a tensor."""
    diff = xp.subtract(end, a)
    w = xp.asarray(weight, dtype=diff.dtype) if not hasattr(weight, "dtype") else weight
    small = xp.abs(w) < 0.5
    # torch's two-sided form: exact at both ends (weight 0 gives input, 1 gives end)
    return xp.where(small, a + w * diff, end - diff * (1 - w)).astype(diff.dtype, copy=False)


@lerp.backward
def _(g, a, end, weight, needs):
    return (g * (1 - weight) if needs[0] else None,
            g * weight if needs[1] else None,
            g * (end - a) if needs[2] else None)


@op("where", kind="elementwise", dtype="promote", promote=(1, 2), method=False,
    cexpr="(a ? b : c)")
def where(xp, condition, input, other):
    """input where condition is True, else other (numbers allowed for either).

    >>> import pyrch
    >>> x = pyrch.tensor([-1.0, 2.0])
    >>> pyrch.where(x > 0, x, 0.0)
    tensor([0., 2.])
    """
    if getattr(condition, "dtype", None) != bool:
        raise RuntimeError("where expected condition to be a boolean tensor, but got a tensor "
                           f"with dtype {getattr(condition, 'dtype', type(condition).__name__)}")
    if getattr(input, "dtype", None) == _F32 and getattr(other, "dtype", None) == _F32:
        out = c_select("where", (condition, input, other))
        if out is not None:
            return out
    return xp.where(condition, input, other)


@where.backward
def _(g, condition, needs):
    # NOTE: each branch gets the gradient only where it was selected; the other
    # branch gets 0 even where its value was inf or NaN.
    return (None, where(condition, g, 0.0) if needs[1] else None,
            where(condition, 0.0, g) if needs[2] else None)


where.inplace_variant = False   # torch has no where_; x.where_(c, y) would mean something else


@public(where)
def _where_public(condition, input=None, other=None):
    """input where condition is True, else other; `where(condition)` alone is
    `nonzero(condition, as_tuple=True)`, as in torch."""
    if input is None and other is None:
        from .index import nonzero
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where() takes 1 or 3 arguments (condition, input, other)")
    return where(condition, input, other)


# -- addcmul, addcdiv ---------------------------------------------------------------------------
@composite("addcmul")
def addcmul(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 * tensor2, elementwise with broadcasting."""
    prod = tensor1 * tensor2
    return input + (prod if value == 1 else prod * value)


@composite("addcdiv")
def addcdiv(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 / tensor2 (true division; integer tensor1 and tensor2 are refused
    as in torch)."""
    def integral(t):
        return not (t.dtype.is_floating_point if hasattr(t, "dtype") else isinstance(t, float))
    if integral(tensor1) and integral(tensor2):
        raise RuntimeError(
            "Integer division with addcdiv is no longer supported, and in a future  release addcdiv "
            "will perform a true division of tensor1 and tensor2. The historic addcdiv behavior can "
            "be implemented as (input + value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for "
            "integer inputs and as (input + value * tensor1 / tensor2) for float inputs. The future "
            "addcdiv behavior is just the latter implementation: (input + value * tensor1 / tensor2), "
            "for all dtypes.")
    quot = tensor1 / tensor2
    return input + (quot if value == 1 else quot * value)
