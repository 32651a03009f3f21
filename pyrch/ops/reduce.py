"""Reductions: sum, mean, max/min, var/std, logsumexp, norms, scans.

Forwards stay lean: they hand `dim` to numpy as it is and let numpy complain;
on failure dispatch asks the op's `infer` rule, which raises torch's message
(dimension out of range, repeated dims, empty reductions, integer inputs).
Public wrappers accept torch's spellings (dim as a list, `dtype=`, overloads
such as `max(a, b)`) and end in one call to the op.
"""
import builtins
import collections
import warnings

from .registry import op, composite
from .._dispatch import dispatch
from .._dtype import NP2DT, _default, bool_, int64, uint8
from .movement import expand

from .._dtype import TORCH_NAMES as _TORCH_NAME


def _return_type(name, fields=("values", "indices")):
    cls = collections.namedtuple(name, fields)
    cls.__module__ = "pyrch.return_types"
    return cls


_MaxT, _MinT = _return_type("max"), _return_type("min")
_CummaxT, _CumminT = _return_type("cummax"), _return_type("cummin")


# -- dims ---------------------------------------------------------------------------

def _dim_arg(dim):
    """torch's `dim` spellings -> an attribute: lists become tuples, () means all dims."""
    if type(dim) is list:
        dim = tuple(dim)
    if dim == ():
        return None
    return dim


def _axes(dim, ndim):
    """`dim` as numpy's `axis` (a 0-dim tensor accepts dim 0 or -1 and reduces nothing)."""
    if dim is None:
        return None
    if ndim == 0:
        _dims(dim, 0)   # still only 0 and -1 are valid
        return None
    return dim


def _dims(dim, nd):
    """Normalise `dim` to a tuple of non-negative axes, raising torch's errors."""
    if dim is None:
        return tuple(range(nd))
    n = builtins.max(nd, 1)
    out = []
    for d in ((dim,) if isinstance(dim, int) else dim):
        if not -n <= d < n:
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[{-n}, {n - 1}], but got {d})")
        d %= n
        if d in out:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
        out.append(d)
    return tuple(out) if nd else ()


def _reduced(shape, dim, keepdim):
    axes = _dims(dim, len(shape))
    if keepdim:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def _count(shape, dim):
    """How many elements each output element reduces over."""
    n = 1
    for d in _dims(dim, len(shape)):
        n *= shape[d]
    return n


def _nonempty(name, shape, dim, whole="dim"):
    """torch refuses max-like reductions over an empty dimension."""
    if dim is None and whole == "all" and 0 in shape:
        raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() "
                           "== 0. Specify the reduction dim with the 'dim' argument.")
    if dim is None and whole == "arg" and 0 in shape:
        raise IndexError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0.")
    for d in _dims(dim, len(shape)):
        if shape and shape[d] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")


def _keep(t, shape, dim, keepdim):
    """`t` (a reduction's output or grad) reshaped to broadcast against the input."""
    if keepdim or (dim is None and t.ndim == 0):
        return t            # a full reduction's 0-dim result broadcasts as it is
    return t.reshape(_reduced(shape, dim, True))


def _int_to_long(dt):
    return int64 if not dt.is_floating_point else dt


def _need_float(name, dt):
    if not dt.is_floating_point:
        raise RuntimeError(f"{name}(): could not infer output dtype. Input dtype must be either "
                           f"a floating point or complex dtype. Got: {_TORCH_NAME[dt.name]}")


def _cast(t, dtype):
    return t if dtype is None else t.to(dtype)


def _public(o, name):
    """o.public with the function renamed to the torch name (for repr and help)."""
    def register(fn):
        fn.__name__ = fn.__qualname__ = name
        return o.public(fn)
    return register


# -- sum, mean, prod ------------------------------------------------------------------

@op("sum", kind="reduce", dtype="keep")
def sum(xp, a, *, dim=None, keepdim=False):
    """Sum over `dim` (all dims if None); integers and bools sum to int64.

    >>> import pyrch
    >>> pyrch.tensor([[1, 2], [3, 4]]).sum(0)
    tensor([4, 6])
    """
    if a.dtype.kind in "bui":
        return a.sum(axis=_axes(dim, a.ndim), keepdims=keepdim, dtype=xp.int64)
    return a.sum(axis=_axes(dim, a.ndim), keepdims=keepdim)


@sum.backward
def _(g, meta, dim, keepdim):
    shape = meta.shapes[0]
    return (dispatch(expand, (_keep(g, shape, dim, keepdim),), {"shape": shape}),)


@sum.infer
def _(a, *, dim=None, keepdim=False):
    return _reduced(a.shape, dim, keepdim), _int_to_long(a.dtype)


_SUM_ALL = {"dim": None, "keepdim": False}   # shared, never mutated


@_public(sum, "sum")
def _sum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum over `dim` (all dims if None); `dtype` casts the input first."""
    if dim is None and keepdim is False and dtype is None:
        return dispatch(sum, (input,), _SUM_ALL)          # the common `loss.sum()`
    out = dispatch(sum, (_cast(input, dtype),), {"dim": _dim_arg(dim), "keepdim": keepdim})
    return out if dtype is None or out.dtype is dtype else out.to(dtype)


@op("mean", kind="reduce", dtype="keep")
def mean(xp, a, *, dim=None, keepdim=False):
    """Mean over `dim` (all dims if None); floating inputs only, as in torch.

    >>> import pyrch
    >>> pyrch.tensor([[1., 2.], [3., 4.]]).mean(1)
    tensor([1.5000, 3.5000])
    """
    if a.dtype.kind not in "fc":
        _need_float("mean", NP2DT[a.dtype])
    # sum / n: numpy's a.mean() costs twice as much in Python-level overhead
    ax = _axes(dim, a.ndim)
    if a.dtype == xp.float16:   # accumulate in float32, as torch does
        s = a.sum(axis=ax, keepdims=keepdim, dtype=xp.float32)
        return (s / (a.size // s.size if s.size else 1)).astype(a.dtype)
    s = a.sum(axis=ax, keepdims=keepdim)
    return s / (a.size // s.size if s.size else 1)


@mean.backward
def _(g, meta, dim, keepdim):
    shape = meta.shapes[0]
    return (_keep(g, shape, dim, keepdim).expand(shape) / builtins.max(_count(shape, dim), 1),)


@mean.infer
def _(a, *, dim=None, keepdim=False):
    _need_float("mean", a.dtype)
    return _reduced(a.shape, dim, keepdim), a.dtype


@_public(mean, "mean")
def _mean(input, dim=None, keepdim=False, *, dtype=None):
    """Mean over `dim` (all dims if None); `dtype` casts the input first."""
    return dispatch(mean, (_cast(input, dtype),), {"dim": _dim_arg(dim), "keepdim": keepdim})


@op("prod", kind="reduce", dtype="keep")
def prod(xp, a, *, dim=None, keepdim=False):
    """Product over `dim` (all dims if None); integers and bools give int64.

    >>> import pyrch
    >>> pyrch.tensor([[1, 2], [3, 4]]).prod(1)
    tensor([ 2, 12])
    """
    if a.dtype.kind in "bui":
        return a.prod(axis=_axes(dim, a.ndim), keepdims=keepdim, dtype=xp.int64)
    return a.prod(axis=_axes(dim, a.ndim), keepdims=keepdim)


@prod.backward
def _(g, a, out, dim, keepdim):
    # NOTE: d prod / d a_i is the product of the others: (product before i) x (product
    # after i), two exclusive running products. No division, so it is exact at any
    # number of zeros, and it is built from differentiable ops, so second derivatives
    # are too (torch's answer at [0, 0, 2, 3]).
    shape = a.shape
    one_dim = dim[0] if isinstance(dim, (tuple, list)) and len(dim) == 1 else dim
    if one_dim is None or isinstance(one_dim, int):
        flat = a.reshape(-1) if one_dim is None else a
        d = 0 if one_dim is None else one_dim % builtins.max(a.ndim, 1)
        if flat.ndim == 0:                     # a 0-dim input: d a / d a = 1
            return (g.reshape(shape),)
        n = flat.shape[d]
        if n == 0:                             # an empty input: nothing to differentiate
            return (_keep(g, shape, one_dim, keepdim).expand(shape) * 0,)
        one = _ones_like_slice(flat, d)
        before = cumprod(_cat_dim(one, _narrow(flat, d, 0, n - 1), d), dim=d)
        rev = _flip(flat, d)
        after = _flip(cumprod(_cat_dim(one, _narrow(rev, d, 0, n - 1), d), dim=d), d)
        others = (before * after).reshape(shape)
        return (_keep(g, shape, dim, keepdim) * others,)
    g, out = _keep(g, shape, dim, keepdim), _keep(out, shape, dim, keepdim)
    zero = a == 0
    safe = _where(zero, 1.0, a)
    lone = sum(zero, dim=dim, keepdim=True) == 1
    at_zero = _where(lone, prod(safe, dim=dim, keepdim=True), 0.0)
    return (g * _where(zero, at_zero, out / safe),)


@prod.infer
def _(a, *, dim=None, keepdim=False):
    return _reduced(a.shape, dim, keepdim), _int_to_long(a.dtype)


@_public(prod, "prod")
def _prod(input, dim=None, keepdim=False, *, dtype=None):
    """Product over `dim` (all dims if None); `dtype` casts the input first."""
    out = dispatch(prod, (_cast(input, dtype),), {"dim": _dim_arg(dim), "keepdim": keepdim})
    return out if dtype is None or out.dtype is dtype else out.to(dtype)


def _where(cond, a, b):
    from .. import where
    return where(cond, a, b)


def _narrow(t, d, start, length):
    return t.narrow(d, start, length)


def _flip(t, d):
    return t.flip(d)


def _cat_dim(a, b, d):
    from .. import cat
    return cat((a, b), dim=d)


def _ones_like_slice(t, d):
    """Ones shaped like one slice of `t` along `d` (kept as a size-1 dim), made by ops."""
    return _narrow(t, d, 0, 1) * 0 + 1


# -- max, min, argmax, argmin -------------------------------------------------------------

@op("amax", kind="reduce", dtype="keep")
def amax(xp, a, *, dim=None, keepdim=False):
    """Largest value over `dim` (all dims if None); ties share the gradient evenly.

    >>> import pyrch
    >>> pyrch.tensor([[1., 5.], [3., 2.]]).amax(0)
    tensor([3., 5.])
    """
    return a.max(axis=_axes(dim, a.ndim), keepdims=keepdim)


@op("amin", kind="reduce", dtype="keep")
def amin(xp, a, *, dim=None, keepdim=False):
    """Smallest value over `dim` (all dims if None); ties share the gradient evenly.

    >>> import pyrch
    >>> pyrch.tensor([[1., 5.], [3., 2.]]).amin(1)
    tensor([1., 2.])
    """
    return a.min(axis=_axes(dim, a.ndim), keepdims=keepdim)


def _evenly(g, a, out, dim, keepdim):
    # NOTE: like torch, ties split the gradient evenly among the extreme elements.
    shape = a.shape
    g, out = _keep(g, shape, dim, keepdim), _keep(out, shape, dim, keepdim)
    mask = (a == out).to(g.dtype)
    return (g * mask / sum(mask, dim=dim, keepdim=True),)


amax.backward(_evenly)
amin.backward(_evenly)


def _amax_infer(name):
    def rule(a, *, dim=None, keepdim=False):
        _nonempty(name, a.shape, dim)
        return _reduced(a.shape, dim, keepdim), a.dtype
    return rule


amax.infer(_amax_infer("amax"))
amin.infer(_amax_infer("amin"))


@_public(amax, "amax")
def _amax(input, dim=(), keepdim=False):
    """Largest value over `dim` (all dims by default)."""
    return dispatch(amax, (input,), {"dim": _dim_arg(dim), "keepdim": keepdim})


@_public(amin, "amin")
def _amin(input, dim=(), keepdim=False):
    """Smallest value over `dim` (all dims by default)."""
    return dispatch(amin, (input,), {"dim": _dim_arg(dim), "keepdim": keepdim})


def _value_index(xp, a, dim, keepdim, fn, arg):
    if a.ndim == 0:
        _dims(dim, 0)
        return a.copy(), xp.zeros((), xp.int64)
    # two passes in C beat one argmax plus numpy's Python-level take_along_axis
    return (getattr(a, fn)(axis=dim, keepdims=keepdim),
            getattr(a, arg)(axis=dim, keepdims=keepdim).astype(xp.int64, copy=False))


@op("max", kind="reduce", dtype="keep", outputs=2)
def max(xp, a, *, dim, keepdim=False):
    """max(input) -> the largest value; max(input, dim, keepdim=False) -> (values,
    indices); max(input, other) -> elementwise maximum.

    >>> import pyrch
    >>> pyrch.tensor([[1., 5.], [3., 2.]]).max(1).indices
    tensor([1, 0])
    """
    return _value_index(xp, a, dim, keepdim, "max", "argmax")


@op("min", kind="reduce", dtype="keep", outputs=2)
def min(xp, a, *, dim, keepdim=False):
    """min(input) -> the smallest value; min(input, dim, keepdim=False) -> (values,
    indices); min(input, other) -> elementwise minimum.

    >>> import pyrch
    >>> pyrch.tensor([[1., 5.], [3., 2.]]).min(1).values
    tensor([1., 2.])
    """
    return _value_index(xp, a, dim, keepdim, "min", "argmin")


def _selected(arg):
    def rule(g, a, dim, keepdim):
        # NOTE: the whole gradient goes to the returned index (the first extreme),
        # as in torch; the index is recomputed rather than kept alive.
        shape = a.shape
        if not shape:
            return (g,)
        d = dim % len(shape)
        idx = arg(a, dim=d, keepdim=True)
        from .. import arange
        pos = arange(shape[d], device=a.device).reshape(tuple(-1 if i == d else 1
                                                              for i in range(len(shape))))
        return (_keep(g, shape, d, keepdim) * (pos == idx).to(g.dtype),)
    return rule


def _max_infer(name):
    def rule(a, *, dim, keepdim=False):
        _nonempty(name, a.shape, dim)
        shape = _reduced(a.shape, dim, keepdim)
        return [(shape, a.dtype), (shape, int64)]
    return rule


def _max_public(o, whole, cls):
    def fn(input, dim=None, keepdim=False):
        if dim is None:
            _nonempty(o.name, input.shape, None, "all")
            return dispatch(whole, (input,))
        if not isinstance(dim, int):
            from .. import maximum, minimum
            return (maximum if o.name == "max" else minimum)(input, dim)
        return cls(*dispatch(o, (input,), {"dim": dim, "keepdim": keepdim}))
    return fn


@op("argmax", kind="reduce", dtype="keep", differentiable=False)
def argmax(xp, a, *, dim=None, keepdim=False):
    """Index of the largest value over `dim` (of the flattened input if None).

    >>> import pyrch
    >>> pyrch.tensor([[1., 5.], [3., 2.]]).argmax(1)
    tensor([1, 0])
    """
    if a.ndim == 0:
        _dims(0 if dim is None else dim, 0)
        return xp.zeros((), xp.int64)
    return a.argmax(axis=dim, keepdims=keepdim).astype(xp.int64, copy=False)


@op("argmin", kind="reduce", dtype="keep", differentiable=False)
def argmin(xp, a, *, dim=None, keepdim=False):
    """Index of the smallest value over `dim` (of the flattened input if None).

    >>> import pyrch
    >>> pyrch.tensor([[1., 5.], [3., 2.]]).argmin()
    tensor(0)
    """
    if a.ndim == 0:
        _dims(0 if dim is None else dim, 0)
        return xp.zeros((), xp.int64)
    return a.argmin(axis=dim, keepdims=keepdim).astype(xp.int64, copy=False)


def _arg_infer(name):
    def rule(a, *, dim=None, keepdim=False):
        _nonempty(name, a.shape, dim, "arg")
        if dim is None:
            return ((1,) * len(a.shape) if keepdim else ()), int64
        return _reduced(a.shape, dim, keepdim), int64
    return rule


argmax.infer(_arg_infer("argmax"))
argmin.infer(_arg_infer("argmin"))
max.backward(_selected(argmax))
min.backward(_selected(argmin))
max.infer(_max_infer("max"))
min.infer(_max_infer("min"))
_public(max, "max")(_max_public(max, amax, _MaxT))
_public(min, "min")(_max_public(min, amin, _MinT))


# -- var, std, logsumexp, norm ------------------------------------------------------------

def _moment(xp, a, dim, correction, keepdim, std):
    if a.dtype.kind not in "fc":
        raise RuntimeError("std and var only support floating point and complex dtypes")
    ax = _axes(dim, a.ndim)
    n = _count(a.shape, dim)
    if n - correction <= 0:
        warnings.warn(f"{'std' if std else 'var'}(): degrees of freedom is <= 0. Correction "
                      "should be strictly less than the reduction factor (input numel divided "
                      "by output numel).", UserWarning, stacklevel=4)
    # by hand: numpy's var/std spend more time in Python than in the arithmetic
    if n:
        d = a - a.sum(axis=ax, keepdims=True) / n
        sq = xp.multiply(d, d, out=d) if a.ndim else d * d   # (0-dim math gives a scalar)
    else:
        sq = a   # an empty reduction sums to 0, and 0 / 0 is nan as in torch
    v = sq.sum(axis=ax, keepdims=keepdim)
    v = xp.true_divide(v, builtins.max(n - correction, 0)).astype(a.dtype, copy=False)
    return xp.sqrt(v) if std else v


@op("var", kind="reduce", dtype="keep")
def var(xp, a, *, dim=None, correction=1, keepdim=False):
    """Variance over `dim` with Bessel's `correction` (1 by default, like torch).

    >>> import pyrch
    >>> pyrch.tensor([1., 2., 3., 4.]).var()
    tensor(1.6667)
    """
    return _moment(xp, a, dim, correction, keepdim, False)


@op("std", kind="reduce", dtype="keep")
def std(xp, a, *, dim=None, correction=1, keepdim=False):
    """Standard deviation over `dim` with Bessel's `correction` (1 by default).

    >>> import pyrch
    >>> pyrch.tensor([1., 2., 3., 4.]).std(correction=0)
    tensor(1.1180)
    """
    return _moment(xp, a, dim, correction, keepdim, True)


def _centered(a, dim, correction):
    n = _count(a.shape, dim) - correction
    centered = a - mean(a, dim=dim, keepdim=True)
    return centered, (1.0 / n if n else float("inf"))


@var.backward
def _(g, a, dim, correction, keepdim):
    centered, inv = _centered(a, dim, correction)
    return (_keep(g, a.shape, dim, keepdim) * centered * (2.0 * inv),)


@std.backward
def _(g, a, out, dim, correction, keepdim):
    shape = a.shape
    if not shape:   # NOTE: torch gives a 0-dim std a zero gradient, not 0/0
        return (g * 0,)
    centered, inv = _centered(a, dim, correction)
    return (_keep(g, shape, dim, keepdim) / _keep(out, shape, dim, keepdim) * centered * inv,)


def _var_infer(a, *, dim=None, correction=1, keepdim=False):
    if not a.dtype.is_floating_point:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    return _reduced(a.shape, dim, keepdim), a.dtype


var.infer(_var_infer)
std.infer(_var_infer)


def _correction(dim, unbiased, correction):
    if isinstance(dim, bool):          # var(input, unbiased)
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise RuntimeError("var(): cannot pass both `unbiased` and `correction`")
    if correction is None:
        correction = 0 if unbiased is False else 1
    return _dim_arg(dim), correction


@_public(var, "var")
def _var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over `dim`; `unbiased=False` or `correction=0` for the population variance."""
    dim, correction = _correction(dim, unbiased, correction)
    return dispatch(var, (input,), {"dim": dim, "correction": correction, "keepdim": keepdim})


@_public(std, "std")
def _std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation over `dim`; `unbiased=False` or `correction=0` for the population one."""
    dim, correction = _correction(dim, unbiased, correction)
    return dispatch(std, (input,), {"dim": dim, "correction": correction, "keepdim": keepdim})


@composite("var_mean", method=False)
def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(variance, mean) over `dim` in one call, as torch.var_mean."""
    dim, correction = _correction(dim, unbiased, correction)
    return (var(input, dim=dim, correction=correction, keepdim=keepdim),
            mean(input, dim=dim, keepdim=keepdim))


@composite("std_mean", method=False)
def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(standard deviation, mean) over `dim` in one call, as torch.std_mean."""
    dim, correction = _correction(dim, unbiased, correction)
    return (std(input, dim=dim, correction=correction, keepdim=keepdim),
            mean(input, dim=dim, keepdim=keepdim))


@op("logsumexp", kind="reduce", dtype="float")
def logsumexp(xp, a, *, dim, keepdim=False):
    """log(sum(exp(a))) over `dim`, without overflow (the max is factored out).

    >>> import pyrch
    >>> pyrch.tensor([1000., 1000.]).logsumexp(0)
    tensor(1000.6932)
    """
    ax = _axes(dim, a.ndim)
    if a.size == 0:
        return xp.log(xp.exp(a).sum(axis=ax, keepdims=keepdim))
    m = a.max(axis=ax, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    s = xp.log(xp.exp(a - m).sum(axis=ax, keepdims=keepdim))
    return s + m.reshape(s.shape)


@logsumexp.backward
def _(g, a, out, dim, keepdim):
    shape = a.shape
    return (_keep(g, shape, dim, keepdim) * (a - _keep(out, shape, dim, keepdim)).exp(),)


@logsumexp.infer
def _(a, *, dim, keepdim=False):
    return _reduced(a.shape, dim, keepdim), (a.dtype if a.dtype.is_floating_point
                                             else _default.float)


@_public(logsumexp, "logsumexp")
def _logsumexp(input, dim, keepdim=False):
    """log(sum(exp(input))) over `dim`, computed stably."""
    return dispatch(logsumexp, (input,), {"dim": _dim_arg(dim), "keepdim": keepdim})


_INF = float("inf")


@op("norm", kind="reduce", dtype="keep")
def norm(xp, a, *, p=2.0, dim=None, keepdim=False):
    """Vector p-norm over `dim` (all dims if None): p = 2 ('fro'), 1, inf, -inf, 0 or any float.

    >>> import pyrch
    >>> pyrch.tensor([3., 4.]).norm()
    tensor(5.)
    """
    if a.dtype.kind not in "fc":
        raise RuntimeError("linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {_TORCH_NAME[NP2DT[a.dtype].name]}")
    ax = _axes(dim, a.ndim)
    if p == 2.0:
        return xp.sqrt(xp.square(a).sum(axis=ax, keepdims=keepdim))
    if p == 1.0:
        return xp.abs(a).sum(axis=ax, keepdims=keepdim)
    if p == _INF:
        return xp.abs(a).max(axis=ax, keepdims=keepdim)
    if p == -_INF:
        return xp.abs(a).min(axis=ax, keepdims=keepdim)
    if p == 0.0:
        return (a != 0).sum(axis=ax, keepdims=keepdim).astype(a.dtype)
    return (xp.abs(a) ** p).sum(axis=ax, keepdims=keepdim) ** (1.0 / p)


@norm.backward
def _(g, a, out, p, dim, keepdim):
    shape = a.shape
    g, out = _keep(g, shape, dim, keepdim), _keep(out, shape, dim, keepdim)
    if p == 0.0:
        return (g * 0 * a,)
    if p == 1.0:
        return (g * a.sign(),)
    if p in (_INF, -_INF):
        # NOTE: ties share the gradient evenly, as for amax.
        mask = (a.abs() == out).to(g.dtype)
        return (g * a.sign() * mask / sum(mask, dim=dim, keepdim=True),)
    # NOTE: the gradient at a zero norm is 0, not nan: dividing by norm + (norm == 0)
    # leaves zero slices at zero (their `a` is all zeros) and stays differentiable.
    safe = out + (out == 0).to(out.dtype)
    if p == 2.0:
        return (g * a / safe,)
    return (g * a.sign() * a.abs() ** (p - 1) / safe ** (p - 1),)


@norm.infer
def _(a, *, p=2.0, dim=None, keepdim=False):
    if not a.dtype.is_floating_point:
        raise RuntimeError("linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {_TORCH_NAME[a.dtype.name]}")
    if p in (_INF, -_INF):
        _nonempty("linalg.vector_norm", a.shape, dim)
    return _reduced(a.shape, dim, keepdim), a.dtype


@_public(norm, "norm")
def _norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """Norm of `input` over `dim`: p a number (a vector norm, even over two dims, as in torch:
    2, 1, inf, -inf, 0 or any float), 'fro' (Frobenius) or 'nuc' (nuclear, over two dims)."""
    if p is None:
        p = 2.0
    elif isinstance(p, str):
        if p == "fro" and (dim is None or isinstance(dim, int) or len(dim) <= 2):
            p = 2.0
        else:   # 'nuc', or a string torch's matrix_norm rejects (with its message)
            from ..linalg import matrix_norm
            dims = tuple(range(input.ndim)) if dim is None else \
                (dim,) if isinstance(dim, int) else tuple(dim)
            return matrix_norm(input, p, dims, keepdim, dtype=dtype)
    return dispatch(norm, (_cast(input, dtype),), {"p": float(p), "dim": _dim_arg(dim),
                                                "keepdim": keepdim})


# -- all, any, count_nonzero ----------------------------------------------------------------

@op("all", kind="reduce", dtype="keep", differentiable=False)
def all(xp, a, *, dim=None, keepdim=False):
    """True where every element over `dim` is nonzero (uint8 in, uint8 out, as torch).

    >>> import pyrch
    >>> pyrch.tensor([[1, 0], [1, 1]]).all(1)
    tensor([False,  True])
    """
    out = a.all(axis=_axes(dim, a.ndim), keepdims=keepdim)
    return out.astype(xp.uint8) if a.dtype == xp.uint8 else out


@op("any", kind="reduce", dtype="keep", differentiable=False)
def any(xp, a, *, dim=None, keepdim=False):
    """True where some element over `dim` is nonzero (uint8 in, uint8 out, as torch).

    >>> import pyrch
    >>> pyrch.tensor([[1, 0], [0, 0]]).any(1)
    tensor([ True, False])
    """
    out = a.any(axis=_axes(dim, a.ndim), keepdims=keepdim)
    return out.astype(xp.uint8) if a.dtype == xp.uint8 else out


def _logical_infer(a, *, dim=None, keepdim=False):
    return _reduced(a.shape, dim, keepdim), (uint8 if a.dtype is uint8 else bool_)


all.infer(_logical_infer)
any.infer(_logical_infer)


@_public(all, "all")
def _all(input, dim=None, keepdim=False):
    """True where every element over `dim` (all dims if None) is nonzero."""
    return dispatch(all, (input,), {"dim": _dim_arg(dim), "keepdim": keepdim})


@_public(any, "any")
def _any(input, dim=None, keepdim=False):
    """True where some element over `dim` (all dims if None) is nonzero."""
    return dispatch(any, (input,), {"dim": _dim_arg(dim), "keepdim": keepdim})


@op("count_nonzero", kind="reduce", dtype="keep", differentiable=False)
def count_nonzero(xp, a, *, dim=None):
    """Number of nonzero elements over `dim` (all dims if None), as int64.

    >>> import pyrch
    >>> pyrch.tensor([[1, 0], [2, 3]]).count_nonzero(1)
    tensor([1, 2])
    """
    return xp.asarray(xp.count_nonzero(a, axis=_axes(dim, a.ndim))).astype(xp.int64, copy=False)


@count_nonzero.infer
def _(a, *, dim=None):
    return _reduced(a.shape, dim, False), int64


@_public(count_nonzero, "count_nonzero")
def _count_nonzero(input, dim=None):
    """Number of nonzero elements over `dim` (all dims if None)."""
    return dispatch(count_nonzero, (input,), {"dim": _dim_arg(dim)})


# -- scans: cumsum, cumprod, cummax, cummin ----------------------------------------------

def _scan_dim(a, dim):
    """Check a scan's single `dim` (torch's out-of-range error)."""
    if not isinstance(dim, int):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    _dims(dim, len(a.shape))


@op("cumsum", kind="reduce", dtype="keep")
def cumsum(xp, a, *, dim, reverse=False):
    """Running sum along `dim` (int64 for integer inputs); `reverse` sums from the end.

    >>> import pyrch
    >>> pyrch.tensor([1, 2, 3]).cumsum(0)
    tensor([1, 3, 6])
    """
    dt = xp.int64 if a.dtype.kind in "bui" else None
    if a.ndim == 0:
        _dims(dim, 0)
        return a.astype(dt or a.dtype)
    if reverse:
        return xp.flip(xp.cumsum(xp.flip(a, dim), axis=dim, dtype=dt), dim)
    return xp.cumsum(a, axis=dim, dtype=dt)


@cumsum.backward
def _(g, dim, reverse):
    # NOTE: `reverse` is pyrch's own attribute (torch's signature has no such
    # thing): it lets the gradient of a running sum be a running sum from the
    # end, in one op, with no flips.
    return (cumsum(g, dim=dim, reverse=not reverse),)


@cumsum.infer
def _(a, *, dim, reverse=False):
    _scan_dim(a, dim)
    return a.shape, _int_to_long(a.dtype)


@_public(cumsum, "cumsum")
def _cumsum(input, dim, *, dtype=None):
    """Running sum along `dim`; `dtype` casts the input first."""
    return dispatch(cumsum, (_cast(input, dtype),), {"dim": dim})


@op("cumprod", kind="reduce", dtype="keep")
def cumprod(xp, a, *, dim):
    """Running product along `dim` (int64 for integer inputs).

    >>> import pyrch
    >>> pyrch.tensor([1, 2, 3]).cumprod(0)
    tensor([1, 2, 6])
    """
    dt = xp.int64 if a.dtype.kind in "bui" else None
    if a.ndim == 0:
        _dims(dim, 0)
        return a.astype(dt or a.dtype)
    return xp.cumprod(a, axis=dim, dtype=dt)


@cumprod.backward
def _(g, a, out, dim):
    # NOTE: out_j = prod_{k<=j} a_k, so d/d a_i = sum_{j>=i} g_j out_j / a_i
    # wherever a_i != 0 (after a slice's first zero z that is 0, as it should
    # be, and its derivative in a_z stays right because `out` carries a_z). At
    # z itself it is sum_{j>=z} g_j out'_j, with out' the running product with
    # that zero replaced by 1. The second zero z2 gets the same treatment: its
    # value is 0 (the first zero is in every product) but its derivative in the
    # first zero is not, and the formula with a_z2 replaced by 1 carries it. From
    # the third zero on, value and derivatives are 0 whichever formula is used.
    # So first and second derivatives are exact at any zeros, with no branch.
    zero = a == 0
    count = cumsum(zero, dim=dim)
    first, second = zero & (count == 1), zero & (count == 2)
    upto = cumsum(g * out, dim=dim, reverse=True) / _where(zero, 1.0, a)
    at = cumsum(g * cumprod(_where(first, 1.0, a), dim=dim), dim=dim, reverse=True)
    at2 = cumsum(g * cumprod(_where(second, 1.0, a), dim=dim), dim=dim, reverse=True)
    return (_where(first, at, _where(second, at2, upto)),)


@cumprod.infer
def _(a, *, dim):
    _scan_dim(a, dim)
    return a.shape, _int_to_long(a.dtype)


@_public(cumprod, "cumprod")
def _cumprod(input, dim, *, dtype=None):
    """Running product along `dim`; `dtype` casts the input first."""
    return dispatch(cumprod, (_cast(input, dtype),), {"dim": dim})


def _accumulate(xp, ufunc, a, axis):
    """ufunc.accumulate; cupy has only add.accumulate, so there others scan by doubling."""
    if xp.__name__ == "numpy":
        return ufunc.accumulate(a, axis=axis)
    return _scan_by_doubling(xp, ufunc, a, axis)


def _scan_by_doubling(xp, ufunc, a, axis):
    """Inclusive scan in log2(n) whole-array steps (Hillis-Steele), for any associative ufunc."""
    out = xp.moveaxis(a, axis, -1).copy()
    k, n = 1, out.shape[-1]
    while k < n:
        out[..., k:] = ufunc(out[..., k:], out[..., :-k])   # the right side is read first
        k *= 2
    return xp.moveaxis(out, -1, axis)


def _cum_extreme(xp, a, dim, ufunc):
    if a.ndim == 0:
        _dims(dim, 0)
        return a.copy(), xp.zeros((), xp.int64)
    vals = _accumulate(xp, ufunc, a, dim)
    pos = xp.arange(a.shape[dim]).reshape(tuple(-1 if i == dim % a.ndim else 1
                                                for i in range(a.ndim)))
    # NOTE: torch reports the latest index among ties, and a NaN once seen
    # stays the extreme (only a later NaN moves the index).
    hit = a == vals
    if a.dtype.kind == "f":
        hit |= xp.isnan(a)
    idx = _accumulate(xp, xp.maximum, xp.where(hit, pos, 0), dim)
    return vals, idx.astype(xp.int64, copy=False)


@op("cummax", kind="reduce", dtype="keep", outputs=2)
def cummax(xp, a, *, dim):
    """(values, indices) of the running maximum along `dim`.

    >>> import pyrch
    >>> pyrch.tensor([1., 3., 2.]).cummax(0).values
    tensor([1., 3., 3.])
    """
    return _cum_extreme(xp, a, dim, xp.maximum)


@op("cummin", kind="reduce", dtype="keep", outputs=2)
def cummin(xp, a, *, dim):
    """(values, indices) of the running minimum along `dim`.

    >>> import pyrch
    >>> pyrch.tensor([3., 1., 2.]).cummin(0).indices
    tensor([0, 1, 1])
    """
    return _cum_extreme(xp, a, dim, xp.minimum)


def _cum_bwd(o):
    def rule(g, a, dim):
        # each output takes its value from one input (its index): scatter-add back
        if not a.shape:
            return (g,)
        idx = o(a.detach(), dim=dim)[1]
        from .. import scatter_add, zeros_like
        return (scatter_add(zeros_like(g), dim, idx, g),)
    return rule


def _cum_infer(a, *, dim):
    _scan_dim(a, dim)
    return [(a.shape, a.dtype), (a.shape, int64)]


cummax.backward(_cum_bwd(cummax))
cummin.backward(_cum_bwd(cummin))
cummax.infer(_cum_infer)
cummin.infer(_cum_infer)


@_public(cummax, "cummax")
def _cummax(input, dim):
    """(values, indices) of the running maximum along `dim`."""
    return _CummaxT(*dispatch(cummax, (input,), {"dim": dim}))


@_public(cummin, "cummin")
def _cummin(input, dim):
    """(values, indices) of the running minimum along `dim`."""
    return _CumminT(*dispatch(cummin, (input,), {"dim": dim}))


# -- median, aminmax, bincount -----------------------------------------------------------------
_MedianT = _return_type("median")
_AminmaxT = _return_type("aminmax", ("min", "max"))


def _median_along(x, d, keepdim, skip_nan=False):
    """(values, indices) of the lower median along `d` of a tensor with ndim >= 1; a slice
    holding NaN gives NaN and the index of its first NaN, or with `skip_nan` (nanmedian)
    the lower median of its other entries (NaN only when all are)."""
    from .sort import argsort
    from .scatter import gather
    from .elementwise import where
    n = x.shape[d]
    order = argsort(x, d, False, True)          # stable; NaN sorts last
    at = (n - 1) // 2
    if x.dtype.is_floating_point and skip_nan:
        k = x.isnan().logical_not().sum(d, keepdim=True)
        pos = where(k > 0, (k - 1) // 2, 0)
    elif x.dtype.is_floating_point:
        nans = x.isnan().sum(d, keepdim=True)
        pos = where(nans > 0, n - nans, at)
    else:
        from .movement import narrow
        pos = None
        idx = narrow(order, d, at, 1)
    if pos is not None:
        idx = gather(order, d, pos)
    vals = gather(x, d, idx)
    if not keepdim:
        vals, idx = vals.squeeze(d), idx.squeeze(d)
    return vals, idx


@composite("median")
def median(input, dim=None, keepdim=False):
    """The lower median of all entries, or (values, indices) of the lower median along `dim`;
    NaN wins where present.

    >>> import pyrch
    >>> pyrch.tensor([3., 1., 4., 2.]).median()
    tensor(2.)
    """
    from .movement import _norm_dim
    if input.dtype is bool_:
        raise NotImplementedError("\"median_cpu\" not implemented for 'Bool'")
    if dim is None:
        flat = input.reshape(-1)
        if flat.shape[0] == 0:
            return flat.sum() * float("nan") if input.dtype.is_floating_point else flat.sum()
        return _median_along(flat, 0, False)[0]
    nd = input._data.ndim
    d = _norm_dim(dim, nd)
    if not nd:
        vals, idx = _median_along(input.reshape(1), 0, False)
        return _MedianT(vals.reshape(()), idx.reshape(()))
    if input.shape[d] == 0:
        raise IndexError(f"median(): Expected reduction dim {d} to have non-zero size.")
    return _MedianT(*_median_along(input, d, keepdim))


@composite("aminmax")
def aminmax(input, *, dim=None, keepdim=False):
    """(min, max) of `input`, over all entries or along `dim`."""
    from .movement import _norm_dim
    if dim is None:
        if input.numel() == 0:
            raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the "
                               "operation has no identity.")
        if keepdim:
            shape = (1,) * input._data.ndim
            return _AminmaxT(_amin(input).reshape(*shape), _amax(input).reshape(*shape))
        return _AminmaxT(_amin(input), _amax(input))
    nd = input._data.ndim
    d = _norm_dim(dim, nd)
    if nd and input.shape[d] == 0:
        raise IndexError(f"aminmax: Expected reduction dim {d} to have non-zero size.")
    return _AminmaxT(_amin(input, d, keepdim), _amax(input, d, keepdim))


@composite("bincount")
def bincount(input, weights=None, minlength=0):
    """How often each value 0, 1, ... occurs in the 1-D non-negative integer `input` (or the
    sum of `weights` per value); at least `minlength` bins.

    >>> import pyrch
    >>> pyrch.tensor([0, 2, 2]).bincount()
    tensor([1, 0, 2])
    """
    from .._creation import zeros
    from .scatter import scatter_add
    if input.dtype.is_floating_point or input.dtype is bool_:
        raise NotImplementedError(f"\"bincount_cpu\" not implemented for '{_TORCH_NAME[input.dtype.name]}'")
    if input._data.ndim != 1:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    n = input.shape[0]
    if weights is not None and (weights._data.ndim != 1 or weights.shape[0] != n):
        raise RuntimeError("weights should be 1-d and have the same length as input")
    if n and builtins.bool((input < 0).any()):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    size = builtins.max(int(input.max()) + 1 if n else 0, minlength)
    if weights is None:
        src = (input >= 0).long()
    else:
        src = weights if weights.dtype.is_floating_point else weights.double()
    base = zeros(size, dtype=src.dtype, device=input.device)
    return scatter_add(base, 0, input.long(), src)
