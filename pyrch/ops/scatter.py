"""gather and the scatter family (scatter, scatter_add, scatter_reduce), torch's rules:
an index no larger than its input in every dimension but `dim`.

>>> import pyrch
>>> pyrch.zeros(3).scatter_add(0, pyrch.tensor([0, 0, 2]), pyrch.ones(3))
tensor([2., 0., 1.])
"""
import numpy as np

from .registry import op, composite
from .movement import _norm_dim, narrow
from .index import masked_fill, _ufunc_at
from .._dispatch import dispatch, dispatch_inplace
from .._dtype import bool_
from .._tensor import Tensor


# -- gather / scatter ------------------------------------------------------------------------

def _along(xp, a, index, dim, name):
    """The numpy key picking a[..., index[i,j,k], ...] along `dim` (torch.gather's rule)."""
    nd = a.ndim
    if index.ndim != nd:
        raise RuntimeError(f"Index tensor must have the same number of dimensions as "
                           f"{'input' if name == 'gather' else 'self'} tensor")
    if index.dtype != np.int64:
        raise RuntimeError(f"{name}(): Expected dtype int64 for index")
    d = _norm_dim(dim, max(nd, 1))
    k = []
    for j in range(nd):
        if j == d:
            k.append(index)
        else:
            if index.shape[j] > a.shape[j]:
                raise RuntimeError(f"Size does not match at dimension {j} expected index "
                                   f"{list(index.shape)} to be no larger than self "
                                   f"{list(a.shape)} apart from dimension {d}")
            k.append(xp.arange(index.shape[j]).reshape((-1,) + (1,) * (nd - 1 - j)))
    return tuple(k)


def _crop(xp, src, index):
    if not hasattr(src, "shape"):
        return src
    if src.ndim != index.ndim or any(s < i for s, i in zip(src.shape, index.shape)):
        raise RuntimeError(f"Expected index {list(index.shape)} to be no larger than src "
                           f"{list(src.shape)}")
    return src[tuple(slice(0, n) for n in index.shape)]


def _pad_to(g, shape):
    """Zero-pad `g` at the end of each dim up to `shape` (src grads of scatter ops)."""
    gs = g._data.shape
    if tuple(gs) == tuple(shape):
        return g
    pad = []
    for n, m in zip(reversed(gs), reversed(shape)):
        pad += [0, m - n]
    from .rearrange import constant_pad_nd
    return dispatch(constant_pad_nd, (g,), {"pad": tuple(pad), "value": 0})


@op("gather", kind="movement", dtype="keep")
def gather_op(xp, a, index, *, dim):
    """out[i][j] = a[index[i][j]][j] (for dim=0), and so on."""
    if a.ndim == 0:
        return a.reshape(1)[_along(xp, a.reshape(1), index.reshape(-1), 0, "gather")].reshape(index.shape)
    try:
        return a[_along(xp, a, index, dim, "gather")]
    except IndexError as e:
        raise RuntimeError(str(e).replace("for axis", "for dimension")) from None


@gather_op.backward
def _(g, index, meta, dim):
    z = g.new_zeros(meta.shapes[0])
    return dispatch(scatter_add_op, (z, index, g), {"dim": dim}), None


@gather_op.infer
def _(a, index, *, dim):
    return index.shape, a.dtype


@gather_op.public
def gather(input, dim, index, *, sparse_grad=False):
    """Values of `input` picked along `dim` by `index` (same ndim as input)."""
    return dispatch(gather_op, (input, index), {"dim": _norm_dim(dim, max(input._data.ndim, 1))})


@composite("take_along_dim")
def take_along_dim(input, indices, dim=None):
    """gather with broadcasting; dim=None works on the flattened input."""
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    nd = input._data.ndim
    d = _norm_dim(dim, nd)
    a, i = list(input._data.shape), list(indices._data.shape)
    from .registry import broadcast_shapes
    a2, i2 = a[:], i[:]
    a2[d] = i2[d] = 1
    b = list(broadcast_shapes(a2, i2))
    ea, ei = b[:], b[:]
    ea[d], ei[d] = a[d], i[d]
    return gather(input.expand(ea), d, indices.expand(ei))


def _scatter_check(a, src):
    if hasattr(src, "dtype") and src.dtype != a.dtype:
        raise RuntimeError(f"scatter(): Expected self.dtype to be equal to src.dtype")


@op("scatter", kind="movement", dtype="keep")
def scatter_op(xp, a, index, src, *, dim):
    """A copy of `a` with out[index[i][j]][j] = src[i][j] (dim=0); src may be a scalar."""
    _scatter_check(a, src)
    out = a.copy()
    if index.size:
        out[_along(xp, a, index, dim, "scatter")] = _crop(xp, src, index)
    return out


@scatter_op.backward
def _(g, index, meta, needs, dim):
    ga = dispatch(scatter_op, (g, index, 0.0), {"dim": dim}) if needs[0] else None
    gs = _pad_to(gather(g, dim, index), meta.shapes[2]) if needs[2] else None
    return ga, None, gs


@scatter_op.infer
def _(a, index, src, *, dim):
    return a.shape, a.dtype


@op("scatter_add", kind="movement", dtype="keep")
def scatter_add_op(xp, a, index, src, *, dim):
    """A copy of `a` with src[i][j] added at out[index[i][j]][j] (dim=0); repeats add up."""
    _scatter_check(a, src)
    out = a.copy()
    if index.size:
        _ufunc_at(xp, "add", out, _along(xp, a, index, dim, "scatter_add"), _crop(xp, src, index))
    return out


@scatter_add_op.backward
def _(g, index, meta, needs, dim):
    gs = _pad_to(gather(g, dim, index), meta.shapes[2]) if needs[2] else None
    return (g if needs[0] else None), None, gs


@scatter_add_op.infer
def _(a, index, src, *, dim):
    return a.shape, a.dtype


_REDUCE_UFUNC = {"sum": "add", "mean": "add", "prod": "multiply", "amax": "maximum",
                 "amin": "minimum"}


@op("scatter_reduce", kind="movement", dtype="keep")
def scatter_reduce_op(xp, a, index, src, *, dim, reduce, include_self=True):
    """Reduce src into a copy of `a` at index along dim: sum, prod, mean, amax or amin."""
    if reduce not in _REDUCE_UFUNC:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    _scatter_check(a, src)
    out = a.copy()
    if not index.size:
        return out
    k = _along(xp, a, index, dim, "scatter_reduce")
    s = _crop(xp, src, index)
    if not include_self:
        if reduce in ("sum", "mean"):
            ident = 0
        elif reduce == "prod":
            ident = 1
        elif a.dtype.kind == "f":
            ident = -np.inf if reduce == "amax" else np.inf
        else:
            info = np.iinfo(a.dtype) if a.dtype.kind in "iu" else None
            ident = (info.min if reduce == "amax" else info.max) if info else reduce == "amin"
        out[k] = ident
    _ufunc_at(xp, _REDUCE_UFUNC[reduce], out, k, s)
    if reduce == "mean":
        cnt = xp.full(a.shape, 1 if include_self else 0, dtype=xp.int64)
        _ufunc_at(xp, "add", cnt, k, 1)
        cnt = xp.maximum(cnt, 1)
        out = out // cnt if a.dtype.kind in "iu" else (out / cnt).astype(a.dtype)
    return out


@scatter_reduce_op.backward
def _(g, a, index, src, out, needs, dim, reduce, include_self):
    from .. import ones_like, zeros_like
    shape_src = src._data.shape
    src_c = src
    if tuple(shape_src) != tuple(index._data.shape):
        for j, n in enumerate(index._data.shape):
            src_c = narrow(src_c, j, 0, n)
    hit = dispatch(scatter_op, (zeros_like(a, dtype=bool_), index, True), {"dim": dim})
    ga = gs = None
    if reduce == "sum":
        ga = g if include_self else masked_fill(g, hit, 0.0)
        gs = gather(g, dim, index)
    elif reduce == "mean":
        base = ones_like(a) if include_self else masked_fill(ones_like(a), hit, 0.0)
        cnt = dispatch(scatter_add_op, (base, index, ones_like(src_c)), {"dim": dim})
        ga = g / cnt if include_self else masked_fill(g, hit, 0.0)
        gs = gather(g / cnt, dim, index)
    elif reduce == "prod":
        # NOTE: divides by the inputs, so zeros among them give inf/nan (torch special-cases them)
        go = g * out
        ga = go / a if include_self else masked_fill(g, hit, 0.0)
        gs = gather(go, dim, index) / src_c
    else:  # amax / amin: the gradient is shared evenly among the entries equal to the result
        # NOTE: as in torch, a tie with self counts even when include_self=False
        ms = (a == out).to(g.dtype)
        es = (src_c == gather(out, dim, index)).to(g.dtype)
        cnt = dispatch(scatter_add_op, (ms, index, es), {"dim": dim})
        ga = g * ms / cnt
        if not include_self:
            ga = masked_fill(ga, hit, 0.0)
        gs = gather(g / cnt, dim, index) * es
    ga = ga if needs[0] else None
    gs = _pad_to(gs, shape_src) if needs[2] else None
    return ga, None, gs


@scatter_reduce_op.infer
def _(a, index, src, *, dim, reduce, include_self=True):
    return a.shape, a.dtype


def _scatter(input, dim, index, src, value, reduce, inplace):
    if src is None:
        src = value
    d = _norm_dim(dim, max(input._data.ndim, 1))
    if reduce is None:
        o, attrs = scatter_op, {"dim": d}
    else:
        if not isinstance(src, Tensor):
            from .._creation import full
            src = full(tuple(index.shape), src, dtype=input.dtype, device=input.device)
        if reduce == "add":
            o, attrs = scatter_add_op, {"dim": d}
        elif reduce == "multiply":
            o, attrs = scatter_reduce_op, {"dim": d, "reduce": "prod", "include_self": True}
        else:
            raise RuntimeError(f"reduce argument must be either add or multiply., got {reduce}")
    args = (input, index, src)
    return dispatch_inplace(o, input, args, attrs) if inplace else dispatch(o, args, attrs)


@scatter_op.public
def scatter(input, dim, index, src=None, value=None, *, reduce=None):
    """A copy of `input` with `src` (a tensor or a number) written at `index` along `dim`."""
    return _scatter(input, dim, index, src, value, reduce, False)


@composite("scatter_")
def scatter_(input, dim, index, src=None, value=None, *, reduce=None):
    """In-place scatter."""
    return _scatter(input, dim, index, src, value, reduce, True)


@scatter_add_op.public
def scatter_add(input, dim, index, src):
    """A copy of `input` with `src` added at `index` along `dim` (repeats add up)."""
    return dispatch(scatter_add_op, (input, index, src), {"dim": _norm_dim(dim, max(input.ndim, 1))})


@composite("scatter_add_")
def scatter_add_(input, dim, index, src):
    """In-place scatter_add."""
    return dispatch_inplace(scatter_add_op, input, (input, index, src),
                            {"dim": _norm_dim(dim, max(input.ndim, 1))})


@scatter_reduce_op.public
def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """Reduce `src` into `input` at `index` along `dim` with sum, prod, mean, amax or amin."""
    return dispatch(scatter_reduce_op, (input, index, src),
                    {"dim": _norm_dim(dim, max(input.ndim, 1)), "reduce": reduce,
                     "include_self": bool(include_self)})


@composite("scatter_reduce_")
def scatter_reduce_(input, dim, index, src, reduce, *, include_self=True):
    """In-place scatter_reduce."""
    return dispatch_inplace(scatter_reduce_op, input, (input, index, src),
                            {"dim": _norm_dim(dim, max(input.ndim, 1)), "reduce": reduce,
                             "include_self": bool(include_self)})


