"""More of torch's top-level tensor functions, all composites of existing ops:
block_diag, cartesian_prod, combinations, rot90, vander, diag_embed, diagflat,
h/v/dsplit, split_with_sizes, the *_scatter family, masked_scatter,
index_reduce, put, as_strided; inner, vdot, addmv, addr, addbmm,
chain_matmul, trapezoid; and the window functions (hann, hamming, blackman,
bartlett, kaiser).

>>> import pyrch
>>> pyrch.block_diag(pyrch.ones(1, 1), 2 * pyrch.ones(1, 2)).tolist()
[[1.0, 0.0, 0.0], [0.0, 2.0, 2.0]]
"""
import itertools
import math
import warnings

from .registry import composite
from .._dispatch import dispatch
from .._dtype import TORCH_NAMES, int64, get_default_dtype, as_dtype, promote_types
from .movement import _norm_dim, _ALL, narrow, select, split, chunk, tensor_split, diagonal_scatter
from .rearrange import _cat, flip, constant_pad_nd, stack, meshgrid
from .index import setitem_op, take, index_put, index_put_
from .linalg import matmul, _scaled_add, _bmm_check, mm, dot, _CPP_NAME


def _creation():
    from .. import _creation
    return _creation


def _shape(t):
    return list(t._data.shape)


# -- building blocks ---------------------------------------------------------------------------

@composite("block_diag", method=False)
def block_diag(*tensors):
    """The block-diagonal matrix of the given 0-D, 1-D (one row) or 2-D tensors.

    >>> import pyrch
    >>> pyrch.block_diag(pyrch.tensor([1, 2]), pyrch.tensor([[3]])).tolist()
    [[1, 2, 0], [0, 0, 3]]
    """
    c = _creation()
    if not tensors:
        return c.zeros(1, 0)
    for i, t in enumerate(tensors):
        if t._data.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. "
                               f"Input {i} has {t._data.ndim} dimensions")
    dt = tensors[0].dtype
    for t in tensors[1:]:
        dt = promote_types(dt, t.dtype)
    mats = [t.reshape(1, 1) if t._data.ndim == 0 else t.reshape(1, -1) if t._data.ndim == 1 else t
            for t in tensors]
    mats = [m if m.dtype is dt else m.to(dt) for m in mats]
    cols = sum(m.shape[1] for m in mats)
    rows, left = [], 0
    for m in mats:
        w = m.shape[1]
        rows.append(dispatch(constant_pad_nd, (m,), {"pad": (left, cols - left - w), "value": 0}))
        left += w
    return _cat(rows, 0)


@composite("cartesian_prod", method=False)
def cartesian_prod(*tensors):
    """All tuples of one element from each 1-D tensor, as rows (itertools.product order).

    >>> import pyrch
    >>> pyrch.cartesian_prod(pyrch.tensor([1, 2]), pyrch.tensor([3, 4])).tolist()
    [[1, 3], [1, 4], [2, 3], [2, 4]]
    """
    for t in tensors:
        if t._data.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {_shape(t)}")
    if len(tensors) == 1:
        return tensors[0]
    return stack([g.reshape(-1) for g in meshgrid(*tensors, indexing="ij")], 1)


@composite("combinations", method=False)
def combinations(input, r=2, with_replacement=False):
    """The r-element combinations of a 1-D tensor's entries, one per row
    (itertools.combinations order; with_replacement=True repeats entries).

    >>> import pyrch
    >>> pyrch.combinations(pyrch.tensor([1, 2, 3])).tolist()
    [[1, 2], [1, 3], [2, 3]]
    """
    if input._data.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {_shape(input)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    c = _creation()
    if r == 0:
        return input.new_empty((0,))
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = list(pick(range(input.shape[0]), r))
    idx = c.tensor(idx, dtype=int64, device=input.device) if idx else \
        c.zeros(0, r, dtype=int64, device=input.device)
    return take(input, idx)


@composite("rot90")
def rot90(input, k=1, dims=(0, 1)):
    """Rotate by 90 degrees k times in the plane of `dims` (from dims[0] towards dims[1]).

    >>> import pyrch
    >>> pyrch.rot90(pyrch.tensor([[1, 2], [3, 4]])).tolist()
    [[2, 4], [1, 3]]
    """
    dims = list(dims)
    nd = input._data.ndim
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if nd < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {nd}")
    d0, d1 = _norm_dim(dims[0], nd), _norm_dim(dims[1], nd)
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and "
                           f"dim1 = {d1}")
    k %= 4
    if k == 1:
        return flip(input, dims=(d1,)).transpose(d0, d1)
    if k == 2:
        return flip(input, dims=(d0, d1))
    if k == 3:
        return flip(input, dims=(d0,)).transpose(d0, d1)
    return input.clone()


@composite("vander", method=False)
def vander(x, N=None, increasing=False):
    """The Vandermonde matrix of 1-D `x`: columns x**(N-1), ..., x**0 (reversed with
    increasing=True). Integer and bool inputs give int64.

    >>> import pyrch
    >>> pyrch.vander(pyrch.tensor([1, 2, 3]), N=3).tolist()
    [[1, 1, 1], [4, 2, 1], [9, 3, 1]]
    """
    if x._data.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.shape[0]
    N = n if N is None else N
    if N < 0:
        raise RuntimeError("N must be non-negative.")
    if not x.dtype.is_floating_point:
        x = x.to(int64)
    if N == 0:
        return x.new_empty((n, 0))
    cols = [x.new_ones((n, 1))]
    if N > 1:
        cols.append(x.reshape(n, 1).expand(n, N - 1))
    out = _cat(cols, 1).cumprod(1)
    return out if increasing else flip(out, dims=(1,))


@composite("diag_embed")
def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """A tensor whose (dim1, dim2) planes carry the last dimension of `input` on their
    `offset` diagonal, zeros elsewhere.

    >>> import pyrch
    >>> pyrch.diag_embed(pyrch.tensor([1, 2])).tolist()
    [[1, 0], [0, 2]]
    """
    nd = input._data.ndim + 1
    d1, d2 = _norm_dim(dim1, nd), _norm_dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    m = (input.shape[-1] if input._data.ndim else 1) + abs(offset)
    shape = list(input.shape[:-1])
    for d in sorted((d1, d2)):
        shape.insert(d, m)
    base = input.new_zeros(tuple(shape))
    return diagonal_scatter(base, input, offset=offset, dim1=d1, dim2=d2)


@composite("diagflat")
def diagflat(input, offset=0):
    """The square matrix with the flattened `input` on its `offset` diagonal.

    >>> import pyrch
    >>> pyrch.diagflat(pyrch.tensor([[1, 2]])).tolist()
    [[1, 0], [0, 2]]
    """
    return diag_embed(input.reshape(-1), offset)


# -- splitting ----------------------------------------------------------------------------------

def _nsplit(name, input, sections, min_nd, dim):
    nd = input._data.ndim
    if nd < min_nd:
        raise RuntimeError(f"torch.{name} requires a tensor with at least {min_nd} dimension, but got "
                           f"a tensor with {nd} dimensions!")
    if isinstance(sections, int):
        n = input.shape[dim]
        if sections == 0 or n % sections:
            raise RuntimeError(f"torch.{name} attempted to split along dimension {dim}, but the size "
                               f"of the dimension {n} is not divisible by the split_size {sections}!")
    return tensor_split(input, sections, dim)


@composite("hsplit")
def hsplit(input, indices_or_sections):
    """tensor_split along dim 1 (dim 0 for 1-D tensors); a section count must divide evenly."""
    return _nsplit("hsplit", input, indices_or_sections, 1, 1 if input._data.ndim > 1 else 0)


@composite("vsplit")
def vsplit(input, indices_or_sections):
    """tensor_split along dim 0 of a tensor with at least 2 dimensions."""
    return _nsplit("vsplit", input, indices_or_sections, 2, 0)


@composite("dsplit")
def dsplit(input, indices_or_sections):
    """tensor_split along dim 2 of a tensor with at least 3 dimensions."""
    return _nsplit("dsplit", input, indices_or_sections, 3, 2)


@composite("split_with_sizes")
def split_with_sizes(input, split_sizes, dim=0):
    """Views of `input` along `dim` with the given sizes (which must add up to its size)."""
    return split(input, [int(s) for s in split_sizes], dim)


@composite("unsafe_split")
def unsafe_split(input, split_size, dim=0):
    """`split` (torch's unsafe_split skips a view check pyrch does not need)."""
    return split(input, split_size, dim)


@composite("unsafe_chunk")
def unsafe_chunk(input, chunks, dim=0):
    """`chunk` (torch's unsafe_chunk skips a view check pyrch does not need)."""
    return chunk(input, chunks, dim)


# -- scatters -----------------------------------------------------------------------------------

def _scatter_into(input, src, key, region):
    if _shape(src) != _shape(region):
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src size = "
                           f"{_shape(src)}, slice size = {_shape(region)}")
    return dispatch(setitem_op, (input, src), {"key": key})


@composite("select_scatter")
def select_scatter(input, src, dim, index):
    """A copy of `input` with the slice at `index` along `dim` replaced by `src`.

    >>> import pyrch
    >>> pyrch.select_scatter(pyrch.zeros(2, 2), pyrch.ones(2), 0, 1).tolist()
    [[0.0, 0.0], [1.0, 1.0]]
    """
    region = select(input, dim, index)
    d = _norm_dim(dim, input._data.ndim)
    return _scatter_into(input, src, (_ALL,) * d + (int(index) % input.shape[d],), region)


@composite("slice_scatter")
def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    """A copy of `input` with input[start:end:step] along `dim` replaced by `src`.

    >>> import pyrch
    >>> pyrch.slice_scatter(pyrch.zeros(4), pyrch.ones(2), 0, 1, 3).tolist()
    [0.0, 1.0, 1.0, 0.0]
    """
    d = _norm_dim(dim, input._data.ndim)
    if step is not None and step <= 0:
        raise RuntimeError("slice step must be positive")
    s, e, st = slice(start, end, step).indices(input.shape[d])
    key = (_ALL,) * d + (("s", s, max(e, s), st),)
    return _scatter_into(input, src, key, dispatch_getitem(input, key))


def dispatch_getitem(input, key):
    from .index import getitem_op
    return dispatch(getitem_op, (input,), {"key": key})


def _masked_source(input, mask, source):
    if mask.dtype.name != "bool":
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with dtype "
                           f"{TORCH_NAMES[mask.dtype.name]}")
    if input.dtype is not source.dtype:
        raise RuntimeError(f"masked_scatter: expected self and source to have same dtypes but got"
                           f"{TORCH_NAMES[input.dtype.name]} and {TORCH_NAMES[source.dtype.name]}")
    if _shape(mask) != _shape(input):
        mask = mask.expand(*input.shape)
    count = int(mask._data.sum())
    if source.numel() < count:
        raise RuntimeError("Number of elements of source < number of ones in mask")
    if source.numel() == 0:
        return mask, input
    # k-th True of the (row-major) mask reads source's k-th element
    pos = mask.reshape(-1).to(int64).cumsum(0) - 1
    picked = take(source.reshape(-1), pos.clamp(min=0)).reshape(*input.shape)
    return mask, picked


@composite("masked_scatter")
def masked_scatter(input, mask, source):
    """A copy of `input` whose entries where `mask` is True take source's elements in order.

    >>> import pyrch
    >>> m = pyrch.tensor([True, False, True])
    >>> pyrch.masked_scatter(pyrch.zeros(3), m, pyrch.tensor([1., 2., 3.])).tolist()
    [1.0, 0.0, 2.0]
    """
    from .. import where
    mask, picked = _masked_source(input, mask, source)
    return where(mask, picked, input)


def _old(input):
    """`input`'s value before an in-place write, for a backward that needs it."""
    return input.clone() if input.requires_grad else input


@composite("masked_scatter_")
def masked_scatter_(input, mask, source):
    """In-place masked_scatter."""
    return input.copy_(masked_scatter(_old(input), mask, source))


_INDEX_REDUCE = ("prod", "mean", "amax", "amin")


def _index_reduce(input, dim, index, source, reduce):
    if reduce not in _INDEX_REDUCE:
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin "
                           f"but got {reduce}.")
    nd = input._data.ndim
    d = _norm_dim(dim, max(nd, 1))
    if index._data.ndim > 1:
        raise IndexError("index_reduce_(): Index is supposed to be a vector")
    si, ss = _shape(input), _shape(source)
    if len(si) != len(ss) or any(a != b for i, (a, b) in enumerate(zip(si, ss)) if i != d):
        raise RuntimeError(f"source tensor shape must match self tensor shape, excluding the "
                           f"specified dimension. Got self.shape = {si} source.shape = {ss}")
    view = [1] * nd
    view[d] = -1
    idx = index.reshape(*view).expand(*ss) if nd else index.reshape(())
    return d, idx


@composite("index_reduce")
def index_reduce(input, dim, index, source, reduce, *, include_self=True):
    """Reduce (prod, mean, amax, amin) the slices of `source` into `input` at `index` along
    `dim`; include_self=False leaves input's own values out of the touched slices.

    >>> import pyrch
    >>> x = pyrch.ones(3)
    >>> pyrch.index_reduce(x, 0, pyrch.tensor([0, 0]), pyrch.tensor([2., 3.]), "prod").tolist()
    [6.0, 1.0, 1.0]
    """
    d, idx = _index_reduce(input, dim, index, source, reduce)
    return input.scatter_reduce(d, idx, source, reduce, include_self=include_self)


@composite("index_reduce_")
def index_reduce_(input, dim, index, source, reduce, *, include_self=True):
    """In-place index_reduce."""
    d, idx = _index_reduce(input, dim, index, source, reduce)
    return input.scatter_reduce_(d, idx, source, reduce, include_self=include_self)


def _put_coords(input, index, source):
    n = input.numel()
    if source.numel() != index.numel():
        raise IndexError(f"put_(): Expected source and index to have the same number of elements, "
                         f"but got source.numel() = {source.numel()}, index.numel() = {index.numel()}")
    if index._data.size:
        for i in (int(index._data.max()), int(index._data.min())):
            if not -n <= i < n:
                raise IndexError(f"out of range: tried to access index {i} on a tensor of {n} elements.")
    flat = index.reshape(-1).remainder(max(n, 1))
    coords, stride = [], n
    for size in input.shape:
        stride //= size
        coords.append(flat.div(stride, rounding_mode="floor").remainder(size))
    return tuple(coords), source.reshape(-1)


@composite("put")
def put(input, index, source, accumulate=False):
    """A copy of `input` (seen as 1-D) with source's values at `index` (added with
    accumulate=True, repeats adding up).

    >>> import pyrch
    >>> pyrch.put(pyrch.zeros(2, 2), pyrch.tensor([3, 0]), pyrch.tensor([1., 2.])).tolist()
    [[2.0, 0.0], [0.0, 1.0]]
    """
    if input._data.ndim == 0:
        return put(input.reshape(1), index, source, accumulate).reshape(())
    coords, values = _put_coords(input, index, source)
    return index_put(input, coords, values, accumulate)


@composite("put_")
def put_(input, index, source, accumulate=False):
    """In-place put."""
    if input._data.ndim == 0:
        return input.copy_(put(input, index, source, accumulate))
    coords, values = _put_coords(input, index, source)
    return index_put_(input, coords, values, accumulate)


@composite("as_strided")
def as_strided(input, size, stride, storage_offset=None):
    """A view of contiguous `input`'s elements with the given sizes, element strides and offset.

    NOTE: pyrch counts the offset from `input`'s first element and can only do this for
    contiguous tensors (torch counts from the start of the storage behind any tensor).

    >>> import pyrch
    >>> pyrch.as_strided(pyrch.arange(6), (2, 2), (3, 1), 1).tolist()
    [[1, 2], [4, 5]]
    """
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    off = int(storage_offset or 0)
    if len(size) != len(stride):
        raise RuntimeError("mismatch in length of strides and shape")
    if any(s < 0 for s in stride):
        raise RuntimeError("as_strided: Negative strides are not supported at the moment, got "
                           f"strides: {list(stride)}")
    if not input._data.flags.c_contiguous:
        raise RuntimeError("pyrch.as_strided needs a contiguous input; call .contiguous() first")
    need = 0 if 0 in size else off + 1 + sum((n - 1) * s for n, s in zip(size, stride))
    isz = input._data.itemsize
    if need > input.numel():
        raise RuntimeError(f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset "
                           f"{off}, and itemsize {isz} requiring a storage size of {need * isz} are "
                           f"out of bounds for storage of size {input.numel() * isz}")
    if _overlaps(size, stride):
        # NOTE: a view whose elements share memory would get a gradient written, not summed,
        # per shared element; such layouts are a copy here (gathered, gradients add up)
        c = _creation()
        pos = c.tensor(off, dtype=int64, device=input.device)
        for n, st in zip(size, stride):
            pos = pos.unsqueeze(-1) + c.arange(n, dtype=int64, device=input.device) * st
        return take(input.reshape(-1), pos)
    from .movement import as_strided_view
    return dispatch(as_strided_view, (input,), {"shape": size, "strides": stride, "offset": off})


def _overlaps(size, stride):
    """Whether two positions of the layout address the same element."""
    dims = sorted((st, n) for n, st in zip(size, stride) if n > 1)
    reach = 0                           # the largest offset the smaller strides reach
    for st, n in dims:
        if st <= reach:
            return True
        reach += (n - 1) * st
    return False


# -- products -----------------------------------------------------------------------------------

@composite("inner")
def inner(input, other):
    """Sum of products over the last dimensions; shape input.shape[:-1] + other.shape[:-1]
    (a 0-D argument multiplies).

    >>> import pyrch
    >>> pyrch.inner(pyrch.tensor([1., 2.]), pyrch.tensor([3., 4.]))
    tensor(11.)
    """
    if input._data.ndim == 0 or other._data.ndim == 0:
        return input * other
    sa, sb = _shape(input), _shape(other)
    if sa[-1] != sb[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but got "
                           f"shapes {sa} and {sb}")
    k = sa[-1]
    out = dispatch(matmul, (input.reshape(-1, k), other.reshape(-1, k).transpose(0, 1)))
    return out.reshape(*(sa[:-1] + sb[:-1]))


@composite("vdot")
def vdot(input, other):
    """Dot product of two 1-D tensors (conjugating the first; pyrch's dtypes are all real)."""
    return dot(input, other)


@composite("addmv")
def addmv(input, mat, vec, *, beta=1, alpha=1):
    """beta * input + alpha * (mat @ vec) for a matrix and a vector (input broadcasts).

    >>> import pyrch
    >>> pyrch.addmv(pyrch.ones(2), pyrch.ones(2, 3), pyrch.ones(3)).tolist()
    [4.0, 4.0]
    """
    from .linalg import mv
    return _scaled_add(input, mv(mat, vec), beta, alpha)


@composite("addr")
def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """beta * input + alpha * outer(vec1, vec2) (input broadcasts).

    >>> import pyrch
    >>> pyrch.addr(pyrch.zeros(2, 2), pyrch.tensor([1., 2.]), pyrch.tensor([1., 3.])).tolist()
    [[1.0, 3.0], [2.0, 6.0]]
    """
    for name, v in (("vec1", vec1), ("vec2", vec2)):
        if v._data.ndim != 1:
            raise RuntimeError(f"addr: Expected 1-D argument {name}, but got {v._data.ndim}-D")
    prod = vec1.reshape(-1, 1) * vec2
    return _scaled_add(input, prod, beta, alpha)


@composite("addbmm")
def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * sum_i batch1[i] @ batch2[i] (input broadcasts).

    >>> import pyrch
    >>> pyrch.addbmm(pyrch.zeros(2, 2), pyrch.ones(3, 2, 4), pyrch.ones(3, 4, 2)).tolist()
    [[12.0, 12.0], [12.0, 12.0]]
    """
    _bmm_check(batch1, batch2)
    return _scaled_add(input, dispatch(matmul, (batch1, batch2)).sum(0), beta, alpha)


def _inplace_of(fn, doc):
    def inplace(input, *args, **kwargs):
        return input.copy_(fn(_old(input), *args, **kwargs))
    inplace.__doc__ = doc
    return inplace


addmv_ = composite("addmv_")(_inplace_of(addmv, "In-place addmv."))
addr_ = composite("addr_")(_inplace_of(addr, "In-place addr."))
addbmm_ = composite("addbmm_")(_inplace_of(addbmm, "In-place addbmm."))
for _f, _n in ((addmv_, "addmv_"), (addr_, "addr_"), (addbmm_, "addbmm_")):
    _f.__name__ = _f.__qualname__ = _n


@composite("chain_matmul", method=False)
def chain_matmul(*matrices):
    """The product of the given 2-D matrices, left to right (deprecated in torch: use
    pyrch.linalg.multi_dot)."""
    warnings.warn("torch.chain_matmul is deprecated and will be removed in a future PyTorch "
                  "release. Use torch.linalg.multi_dot instead, which accepts a list of two or "
                  "more tensors rather than multiple parameters.", UserWarning, stacklevel=2)
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    for m in matrices:
        if m._data.ndim != 2:
            raise RuntimeError(f"Tensor dimension is {m._data.ndim}, expected 2 instead.")
    if len(matrices) == 1:
        return matrices[0].clone()
    out = matrices[0]
    for m in matrices[1:]:
        out = mm(out, m)
    return out


# -- trapezoid rule ------------------------------------------------------------------------------

def _spacing(name, y, x, d):
    """The sample spacings along `d`, shaped to broadcast against y's n-1 intervals."""
    n = y.shape[d]
    if x._data.ndim == 1:
        if x.shape[0] != n:
            raise RuntimeError(f"{name}: There must be one `x` value for each sample point")
        view = [1] * y._data.ndim
        view[d] = n - 1 if n else 0
        return x.diff().reshape(*view)
    return x.diff(dim=d - y._data.ndim)


def _pairs(y, d):
    n = y.shape[d]
    return narrow(y, d, 1, n - 1) + narrow(y, d, 0, n - 1)


@composite("trapezoid", method=False)
def trapezoid(y, x=None, *, dx=None, dim=-1):
    """The trapezoid-rule integral of `y` along `dim`, at points `x` or spacing `dx` (default 1).

    >>> import pyrch
    >>> pyrch.trapezoid(pyrch.tensor([1., 2., 3.]))
    tensor(4.)
    """
    if x is not None and dx is not None:
        raise TypeError("trapezoid() received an invalid combination of arguments - got both x and dx")
    d = _norm_dim(dim, y._data.ndim)
    n = y.shape[d]
    if x is not None:
        spacing = _spacing("trapezoid", y, x, d)
        if n == 0:
            return (y * spacing).sum(d)
        return (spacing * _pairs(y, d)).sum(d) / 2
    dx = 1 if dx is None else dx
    if n == 0:
        return y.sum(d) * dx
    ends = select(y, d, 0) + select(y, d, n - 1)
    return (y.sum(d) - ends * 0.5) * dx


@composite("trapz", method=False)
def trapz(y, x=None, *, dx=None, dim=-1):
    """`trapezoid` (torch.trapz(y, x, dim=...) or torch.trapz(y, dx=..., dim=...))."""
    return trapezoid(y, x, dx=dx, dim=dim)


@composite("cumulative_trapezoid", method=False)
def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """Running trapezoid-rule integrals of `y` along `dim` (one fewer than y's points).

    >>> import pyrch
    >>> pyrch.cumulative_trapezoid(pyrch.tensor([1., 2., 3.])).tolist()
    [1.5, 4.0]
    """
    if x is not None and dx is not None:
        raise TypeError("cumulative_trapezoid() received an invalid combination of arguments - "
                        "got both x and dx")
    d = _norm_dim(dim, y._data.ndim)
    n = y.shape[d]
    if n == 0:
        return y * 1.0 if x is None else y * _spacing("cumulative_trapezoid", y, x, d)
    pairs = _pairs(y, d)
    if x is not None:
        return (_spacing("cumulative_trapezoid", y, x, d) * pairs / 2).cumsum(d)
    return (pairs * ((1 if dx is None else dx) / 2)).cumsum(d)


# -- window functions ---------------------------------------------------------------------------

def _window(name, n, periodic, dtype, device, requires_grad):
    """(k, N, dtype, finish): sample positions 0..n-1 and the symmetric length N, or None
    for the windows of length 0 and 1 (returned whole)."""
    c = _creation()
    dtype = get_default_dtype() if dtype is None else as_dtype(dtype)
    if not dtype.is_floating_point:
        raise RuntimeError(f"{name} expects floating point dtypes, got: TensorOptions(dtype="
                           f"{_CPP_NAME[dtype.name]}, device=cpu, layout=Strided (default), "
                           f"requires_grad=false (default), pinned_memory=false, "
                           f"memory_format=(nullopt))")
    if n < 0:
        raise RuntimeError(f"{name} requires non-negative window_length, got window_length={n}")
    if n <= 1:
        return None, c.ones(n, dtype=dtype, device=device, requires_grad=requires_grad)
    k = c.arange(n, dtype=dtype, device=device)
    return (k, n + 1 if periodic else n), dtype


def _finish(w, dtype, requires_grad):
    w = w.to(dtype).detach()
    return w.requires_grad_(True) if requires_grad else w


def _cosine_window(name, n, periodic, terms, dtype, device, requires_grad):
    kn, res = _window(name, n, periodic, dtype, device, requires_grad)
    if kn is None:
        return res
    k, N = kn
    w = None
    for j, a in enumerate(terms):
        t = a if j == 0 else (k * (2 * math.pi * j / (N - 1))).cos() * a
        w = t if w is None else w + t
    return _finish(w, res, requires_grad)


@composite("hann_window", method=False)
def hann_window(window_length, periodic=True, *, dtype=None, layout=None, device=None,
                requires_grad=False, pin_memory=False):
    """The Hann window 0.5 - 0.5 cos(2 pi k / (N - 1)) (N = length + 1 when periodic).

    >>> import pyrch
    >>> pyrch.hann_window(4).tolist()
    [0.0, 0.5, 1.0, 0.5]
    """
    return _cosine_window("hann_window", window_length, periodic, (0.5, -0.5), dtype, device,
                          requires_grad)


@composite("hamming_window", method=False)
def hamming_window(window_length, periodic=True, alpha=0.54, beta=0.46, *, dtype=None, layout=None,
                   device=None, requires_grad=False, pin_memory=False):
    """The Hamming window alpha - beta cos(2 pi k / (N - 1)) (N = length + 1 when periodic)."""
    return _cosine_window("hamming_window", window_length, periodic, (alpha, -beta), dtype, device,
                          requires_grad)


@composite("blackman_window", method=False)
def blackman_window(window_length, periodic=True, *, dtype=None, layout=None, device=None,
                    requires_grad=False, pin_memory=False):
    """The Blackman window 0.42 - 0.5 cos(2 pi k / (N - 1)) + 0.08 cos(4 pi k / (N - 1))."""
    return _cosine_window("blackman_window", window_length, periodic, (0.42, -0.5, 0.08), dtype,
                          device, requires_grad)


@composite("bartlett_window", method=False)
def bartlett_window(window_length, periodic=True, *, dtype=None, layout=None, device=None,
                    requires_grad=False, pin_memory=False):
    """The triangular Bartlett window 1 - |2k / (N - 1) - 1| (N = length + 1 when periodic)."""
    kn, res = _window("bartlett_window", window_length, periodic, dtype, device, requires_grad)
    if kn is None:
        return res
    k, N = kn
    return _finish(1 - (k * (2.0 / (N - 1)) - 1).abs(), res, requires_grad)


def _i0(x, terms):
    """The modified Bessel function I0 by its power series sum_j ((x/2)^j / j!)^2."""
    q = (x * 0.5) ** 2
    term, total = x * 0 + 1, x * 0 + 1
    for j in range(1, terms):
        term = term * q / (j * j)
        total = total + term
    return total


@composite("kaiser_window", method=False)
def kaiser_window(window_length, periodic=True, beta=12.0, *, dtype=None, layout=None, device=None,
                  requires_grad=False, pin_memory=False):
    """The Kaiser window I0(beta sqrt(1 - ((k - a) / a)^2)) / I0(beta), a = (N - 1) / 2."""
    kn, res = _window("kaiser_window", window_length, periodic, dtype, device, requires_grad)
    if kn is None:
        return res
    k, N = kn
    a = (N - 1) / 2.0
    r = (1 - ((k - a) / a) ** 2).clamp(min=0).sqrt() * beta
    terms = int(2 * abs(beta)) + 30   # the series' terms peak near j = beta / 2
    beta_t = k.new_full((), float(beta))
    return _finish(_i0(r, terms) / _i0(beta_t, terms), res, requires_grad)
