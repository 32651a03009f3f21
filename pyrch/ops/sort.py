"""Sorting and searching: argsort, sort, topk, kthvalue, unique, searchsorted.

>>> import pyrch
>>> pyrch.tensor([3, 1, 2]).topk(2).indices
tensor([0, 2])
"""
import collections

from .registry import op, composite, Meta
from .movement import _norm_dim, narrow
from .scatter import gather
from .._dispatch import dispatch
from .._dtype import int64, int32
from .._tensor import Tensor


# -- sorting and searching -----------------------------------------------------------------

_sort_result = collections.namedtuple("sort", ["values", "indices"])
_topk_result = collections.namedtuple("topk", ["values", "indices"])
_kth_result = collections.namedtuple("kthvalue", ["values", "indices"])


@op("argsort", kind="opaque", dtype="keep", differentiable=False)
def argsort_op(xp, a, *, dim=-1, descending=False, stable=False):
    """Indices that sort `a` along `dim` (ties keep their order; NaN sorts as largest)."""
    if a.ndim == 0:
        return xp.zeros((), dtype=xp.int64)
    if not descending:
        return xp.argsort(a, axis=dim, kind="stable").astype(xp.int64)
    n = a.shape[dim]
    # a stable descending sort: sort the reversed array, then reverse back
    r = xp.flip(xp.argsort(xp.flip(a, axis=dim), axis=dim, kind="stable"), axis=dim)
    return (n - 1 - r).astype(xp.int64)


@argsort_op.infer
def _(a, *, dim=-1, descending=False, stable=False):
    return a.shape, int64


@argsort_op.public
def argsort(input, dim=-1, descending=False, stable=False):
    """Indices that sort `input` along `dim`."""
    return dispatch(argsort_op, (input,), {"dim": _norm_dim(dim, input._data.ndim),
                                           "descending": bool(descending), "stable": bool(stable)})


@composite("sort")
def sort(input, dim=-1, descending=False, stable=False):
    """(values, indices) of `input` sorted along `dim`.

    >>> import pyrch
    >>> pyrch.tensor([3, 1, 2]).sort().values
    tensor([1, 2, 3])
    """
    idx = argsort(input, dim, descending, stable)
    return _sort_result(gather(input, dim, idx), idx)


@composite("msort")
def msort(input):
    """`input` sorted along its first dimension."""
    return sort(input, 0).values


@composite("topk")
def topk(input, k, dim=-1, largest=True, sorted=True):
    """(values, indices) of the k largest (or smallest) entries along `dim`."""
    nd = input._data.ndim
    d = _norm_dim(dim, nd)
    n = input._data.shape[d] if nd else 1
    if not 0 <= k <= n:
        raise RuntimeError("selected index k out of range")
    idx = argsort(input, d, largest, True)
    if nd:
        idx = narrow(idx, d, 0, k)
    return _topk_result(gather(input, d, idx), idx)


@composite("kthvalue")
def kthvalue(input, k, dim=-1, keepdim=False):
    """(values, indices) of the k-th smallest entry along `dim`."""
    nd = input._data.ndim
    d = _norm_dim(dim, nd)
    n = input._data.shape[d] if nd else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {dim}")
    idx = argsort(input, d, False, True)
    if nd:
        idx = narrow(idx, d, k - 1, 1)
    vals = gather(input, d, idx)
    if nd and not keepdim:
        vals, idx = vals.squeeze(d), idx.squeeze(d)
    return _kth_result(vals, idx)


@op("unique", kind="opaque", dtype="keep", differentiable=False, outputs=3)
def unique_op(xp, a, *, dim=None):
    """Sorted unique values (or slices along dim), inverse indices and counts."""
    if dim is None:
        vals, inv, cnt = xp.unique(a.reshape(-1), return_inverse=True, return_counts=True)
        inv = inv.reshape(a.shape)
    else:
        vals, inv, cnt = xp.unique(a, return_inverse=True, return_counts=True, axis=dim)
        inv = inv.reshape(-1)
    return vals, inv.astype(xp.int64), cnt.astype(xp.int64)


@unique_op.infer
def _(a, *, dim=None):
    # NOTE: the number of unique values depends on the data
    if dim is None:
        return [((None,), a.dtype), (a.shape, int64), ((None,), int64)]
    shape = list(a.shape)
    shape[dim] = None
    return [(tuple(shape), a.dtype), ((a.shape[dim],), int64), ((None,), int64)]


@unique_op.public
def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The unique values of `input` (sorted), optionally with inverse indices and counts."""
    if dim is not None:
        dim = _norm_dim(dim, input._data.ndim)
    vals, inv, cnt = dispatch(unique_op, (input,), {"dim": dim})
    if not return_inverse and not return_counts:
        return vals
    res = (vals,) + ((inv,) if return_inverse else ()) + ((cnt,) if return_counts else ())
    return res


@op("searchsorted", kind="opaque", dtype="keep", differentiable=False)
def searchsorted_op(xp, sorted_sequence, values, *, right=False, out_int32=False):
    """Insertion points of `values` in the (last dim of) `sorted_sequence`."""
    side = "right" if right else "left"
    dt = xp.int32 if out_int32 else xp.int64
    seq = sorted_sequence
    if seq.ndim <= 1:
        return xp.asarray(xp.searchsorted(seq.reshape(-1), values, side=side)).astype(dt)
    if seq.shape[:-1] != values.shape[:-1]:
        raise RuntimeError(f"torch.searchsorted(): boundaries tensor should be 1 dimension or the "
                           f"first N-1 dimensions of boundaries tensor and input value tensor must "
                           f"match, but we got boundaries tensor {list(seq.shape)} and input value "
                           f"tensor {list(values.shape)}")
    s2 = seq.reshape(-1, seq.shape[-1])
    v2 = values.reshape(-1, values.shape[-1])
    out = xp.empty(v2.shape, dtype=dt)
    for i in range(s2.shape[0]):
        out[i] = xp.searchsorted(s2[i], v2[i], side=side)
    return out.reshape(values.shape)


@searchsorted_op.infer
def _(sorted_sequence, values, *, right=False, out_int32=False):
    shape = values.shape if isinstance(values, Meta) else ()
    return shape, int32 if out_int32 else int64


@searchsorted_op.public
def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):
    """Indices where `input` would be inserted to keep `sorted_sequence` sorted."""
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got "
                               "side of left while right was True")
        right = side == "right"
    if sorter is not None:
        sorted_sequence = gather(sorted_sequence, -1, sorter)
    if not isinstance(input, Tensor):
        from .._creation import tensor
        input = tensor(input, dtype=sorted_sequence.dtype, device=sorted_sequence.device)
    return dispatch(searchsorted_op, (sorted_sequence, input),
                    {"right": bool(right), "out_int32": bool(out_int32)})


@composite("bucketize", method=False)
def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each entry of `input` among the 1-D `boundaries`."""
    if boundaries._data.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)
