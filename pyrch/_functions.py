"""Generate `pyrch.<op>` functions and Tensor methods from the op registry.

Nothing here describes an op: names, argument order and defaults all come
from the forward's signature. Tensor inputs come first, then attributes as
positional-or-keyword parameters (so `x.sum(1, True)` works as in torch).
"""
import functools
import inspect

import numpy as np

from ._dispatch import dispatch, dispatch_inplace
from .ops.registry import OPS, COMPOSITES

_TEMPLATE = """
def {name}({params}):
    return _d(_op, {args}, {attrs})
"""

_METHOD_INPLACE = """
def {name}_(self, {params}):
    return _di(_op, self, (self, {rest}), {attrs})
"""


def _build(o, name):
    ins = list(o.inputs)
    if o.variadic:
        params = ["tensors"]
        args = "tuple(tensors)"
    else:
        params = list(ins)
        args = "(" + ", ".join(ins) + ("," if len(ins) == 1 else "") + ")"
    for a in o.attr_names:
        params.append(a)
    attrs = "{" + ", ".join(f"{a!r}: {a}" for a in o.attr_names) + "}" if o.attr_names else "None"
    ns = {"_d": dispatch, "_op": o}
    exec(_TEMPLATE.format(name=name, params=", ".join(params), args=args, attrs=attrs), ns)
    fn = ns[name]
    defaults = tuple(o.attrs[a] for a in o.attr_names)
    if defaults:
        fn.__defaults__ = defaults
    fn.__doc__ = o.doc
    fn.__qualname__ = name
    return fn


def _build_inplace(o):
    if o.public_fn is not None:     # torch's signature (x.add_(y, alpha=2), x.clamp_(min=0))
        pub = o.public_fn

        def fn(self, *args, **kwargs):
            return dispatch_inplace(o, self, (self,) + args, kwargs, call=pub)
        fn.__name__ = fn.__qualname__ = o.name + "_"
        fn.__doc__ = f"In-place version of `{o.name}`."
        return fn
    rest = list(o.inputs[1:])
    params = rest + list(o.attr_names)
    attrs = "{" + ", ".join(f"{a!r}: {a}" for a in o.attr_names) + "}" if o.attr_names else "None"
    ns = {"_di": dispatch_inplace, "_op": o}
    src = _METHOD_INPLACE.format(name=o.name, params=", ".join(params),
                                 rest=", ".join(rest), attrs=attrs)
    exec(src, ns)
    fn = ns[o.name + "_"]
    if o.attr_names:
        fn.__defaults__ = tuple(o.attrs[a] for a in o.attr_names)
    return fn


# torch also takes numpy's keyword spellings, and the varargs of x.permute(*dims) by name
_VAR_NAMES = {"dims": ("dims",), "shape": ("shape", "size"), "sizes": ("sizes", "repeats")}


def _keyword_aliases(fn):
    """`fn`, also taking axis= for dim=, keepdims= for keepdim= and its varargs by name
    (x.flip(dims=(1,)), x.repeat(repeats=...)), as torch does; `fn` itself when none apply."""
    try:
        ps = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn
    ren = {a: b for a, b in (("axis", "dim"), ("keepdims", "keepdim")) if b in ps and a not in ps}
    var = next((p.name for p in ps.values() if p.kind is p.VAR_POSITIONAL), None)
    by_name = _VAR_NAMES.get(var, ())
    if not ren and not by_name:
        return fn

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if kwargs:
            for a, b in ren.items():
                if a in kwargs:
                    kwargs[b] = kwargs.pop(a)
            for n in by_name:
                if n in kwargs:
                    args = args + (kwargs.pop(n),)
        return fn(*args, **kwargs)
    return wrapper


def generate(namespace, tensor_cls):
    """Fill `namespace` (the pyrch module dict) and Tensor with one entry per op."""
    for name, o in OPS.items():
        fn = _keyword_aliases(o.public_fn or _build(o, name))
        namespace.setdefault(name, fn)
        if o.method and not o.variadic and name not in tensor_cls.__dict__:
            setattr(tensor_cls, name, fn)
        if o.inplace_variant and len(o.inputs) >= 1 and not o.variadic \
                and name + "_" not in tensor_cls.__dict__:
            setattr(tensor_cls, name + "_", _build_inplace(o))
    for name, fn in COMPOSITES.items():
        fn = _keyword_aliases(fn)
        namespace.setdefault(name, fn)
        if fn._pyrch_method and name not in tensor_cls.__dict__:
            setattr(tensor_cls, name, fn)


# Python operators -> op names; `True` means the operands are swapped (__radd__).
_DUNDERS = {
    "__add__": ("add", False), "__radd__": ("add", True),
    "__sub__": ("sub", False), "__rsub__": ("sub", True),
    "__mul__": ("mul", False), "__rmul__": ("mul", True),
    "__truediv__": ("div", False), "__rtruediv__": ("div", True),
    "__floordiv__": ("floor_divide", False), "__rfloordiv__": ("floor_divide", True),
    "__mod__": ("remainder", False), "__rmod__": ("remainder", True),
    "__pow__": ("pow", False), "__rpow__": ("pow", True),
    "__matmul__": ("matmul", False), "__rmatmul__": ("matmul", True),
    "__and__": ("bitwise_and", False), "__rand__": ("bitwise_and", True),
    "__or__": ("bitwise_or", False), "__ror__": ("bitwise_or", True),
    "__xor__": ("bitwise_xor", False), "__rxor__": ("bitwise_xor", True),
    "__lshift__": ("bitwise_left_shift", False), "__rshift__": ("bitwise_right_shift", False),
    "__lt__": ("lt", False), "__le__": ("le", False), "__gt__": ("gt", False),
    "__ge__": ("ge", False), "__eq__": ("eq", False), "__ne__": ("ne", False),
}
_UNARY = {"__neg__": "neg", "__abs__": "abs", "__invert__": "bitwise_not", "__pos__": "positive"}
_INPLACE = {"__iadd__": "add", "__isub__": "sub", "__imul__": "mul", "__itruediv__": "div",
            "__ifloordiv__": "floor_divide", "__imod__": "remainder", "__ipow__": "pow",
            "__iand__": "bitwise_and", "__ior__": "bitwise_or", "__ixor__": "bitwise_xor"}


def _tensor_of(other):
    """A numpy array operand becomes a tensor (as torch takes `t * np.array(...)`)."""
    if type(other) is np.ndarray:
        from ._tensor import Tensor
        return Tensor._wrap(other)
    return other


# NOTE: the operators test for a numpy operand inline: a helper call would cost every
# `a + b` a Python frame (~5% of a small add) for a case that is rare.
def _binary(o):
    ndarray = np.ndarray

    def op(self, other):
        if type(other) is ndarray:
            other = _tensor_of(other)
        return dispatch(o, (self, other))
    return op


def _swap(o):
    ndarray = np.ndarray

    def rop(self, other):
        if type(other) is ndarray:
            other = _tensor_of(other)
        return dispatch(o, (other, self))
    return rop


def _inplace(o):
    ndarray = np.ndarray

    def iop(self, other):
        if type(other) is ndarray:
            other = _tensor_of(other)
        return dispatch_inplace(o, self, (self, other))
    return iop


def _composite_op(fn, swapped):
    if swapped:
        return lambda self, other: fn(_tensor_of(other), self)
    return lambda self, other: fn(self, _tensor_of(other))


def generate_operators(namespace, tensor_cls):
    """Bind Python's operators to the registry's ops (only those that exist)."""
    for dunder, (name, swapped) in _DUNDERS.items():
        o = OPS.get(name)
        if o is not None and not o.attr_names:
            setattr(tensor_cls, dunder, _swap(o) if swapped else _binary(o))
        elif name in namespace and callable(namespace[name]):
            setattr(tensor_cls, dunder, _composite_op(namespace[name], swapped))
    for dunder, name in _UNARY.items():
        if name in namespace:
            f = namespace[name]
            setattr(tensor_cls, dunder, lambda self, f=f: f(self))
    for dunder, name in _INPLACE.items():
        o = OPS.get(name)
        if o is not None:
            setattr(tensor_cls, dunder, _inplace(o))
    # `x == None` is False (and != True) in torch, not an elementwise comparison
    for dunder, name, none in (("__eq__", "eq", False), ("__ne__", "ne", True)):
        setattr(tensor_cls, dunder, _comparison(OPS[name], none))


def _comparison(o, none):
    ndarray = np.ndarray

    def cmp(self, other):
        if other is None:
            return none
        if type(other) is ndarray:
            other = _tensor_of(other)
        return dispatch(o, (self, other))
    return cmp
