"""Shape and view ops. Views share storage with their base, as in PyTorch.

Primitives are the few ops numpy does in one call (reshape/view, permute,
expand, diagonal); everything else (squeeze, transpose, narrow, split, ...)
is a composite of them and of basic indexing (`getitem`, in index.py). The
ops that copy (cat, repeat, flip, pad, ...) live in rearrange.py.

>>> import pyrch
>>> x = pyrch.arange(6).reshape(2, 3)
>>> x.t().shape
pyrch.Size([3, 2])
"""
import numpy as np

from .registry import op, composite
from .._dispatch import dispatch

_ALL = ("s", None, None, None)     # an encoded `:` (see index.py's key encoding)


def _norm_dim(d, nd):
    if not -max(nd, 1) <= d < max(nd, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-max(nd, 1)}, {max(nd, 1) - 1}], but got {d})")
    return d % nd if nd else 0


def _sizes(sizes):
    """`f(2, 3)` and `f((2, 3))` both mean the tuple (2, 3)."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        return tuple(int(s) for s in sizes[0])
    return tuple(int(s) for s in sizes)


from math import prod as _numel  # noqa: E402


def _infer_shape(shape, numel):
    """Resolve one -1 in `shape` for `numel` elements; torch's errors otherwise."""
    known, free = 1, None
    for i, s in enumerate(shape):
        if s == -1:
            if free is not None:
                raise RuntimeError("only one dimension can be inferred")
            free = i
        elif s < 0:
            raise RuntimeError(f"invalid shape dimension {s}")
        else:
            known *= s
    if free is not None:
        if known == 0:
            raise RuntimeError(f"cannot reshape tensor of {numel} elements into shape "
                               f"{list(shape)} because the unspecified dimension size -1 can be "
                               "any value and is ambiguous")
        if numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = shape[:free] + (numel // known,) + shape[free + 1:]
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def _viewable(shape, strides, new):
    """True when an array of (shape, strides) can take shape `new` without a copy.

    The rule PyTorch uses: each run of dimensions that is contiguous in memory
    may be split or merged freely, but no new dimension may span two runs.
    """
    if not shape or _numel(shape) == 0:
        return True
    view_d = len(new) - 1
    base = strides[-1]
    t_numel = v_numel = 1
    for d in range(len(shape) - 1, -1, -1):
        t_numel *= shape[d]
        if d == 0 or (shape[d - 1] != 1 and strides[d - 1] != t_numel * base):
            while view_d >= 0 and (v_numel < t_numel or new[view_d] == 1):
                v_numel *= new[view_d]
                view_d -= 1
            if v_numel != t_numel:
                return False
            if d > 0:
                base = strides[d - 1]
                t_numel = v_numel = 1
    return view_d == -1


# -- reshape, view, permute, expand ------------------------------------------------------

@op("reshape", kind="movement", dtype="keep", view=True)
def reshape(xp, a, *, shape):
    """`a` with a new shape (a view when the memory layout allows, else a copy)."""
    try:
        return a.reshape(shape)
    except ValueError:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {a.size}") from None


@reshape.backward
def _(g, meta):
    return (g.reshape(meta.shapes[0]),)


@reshape.infer
def _(a, *, shape):
    return _infer_shape(tuple(shape), _numel(a.shape)), a.dtype


@reshape.public
def _reshape(input, *shape):
    """`input` with a new shape; a view when the layout allows, else a copy.

    >>> import pyrch
    >>> pyrch.arange(6).reshape(3, -1).shape
    pyrch.Size([3, 2])
    """
    d = input._data
    shape = _infer_shape(_sizes(shape), d.size)
    out = dispatch(reshape, (input,), {"shape": shape})
    if not _viewable(d.shape, d.strides, shape):
        out._base, out._vc = None, [0]     # numpy copied: the result is not a view
    return out


@composite("view")
def view(input, *shape):
    """`input` seen with a new shape, sharing storage (`x.view(2, -1)`); raises where
    that would need a copy (then it is `reshape`, which may copy). `x.view(dtype)`
    reinterprets the bytes as another dtype (see `view_dtype`)."""
    from .._dtype import dtype as _dtype
    if len(shape) == 1 and isinstance(shape[0], _dtype):
        return dispatch(view_dtype, (input,), {"dtype": shape[0].name})
    d = input._data
    shape = _infer_shape(_sizes(shape), d.size)
    if not _viewable(d.shape, d.strides, shape):
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at "
                           "least one dimension spans across two contiguous subspaces). Use "
                           ".reshape(...) instead.")
    return dispatch(reshape, (input,), {"shape": shape})


from .._dtype import TORCH_NAMES as _TORCH_NAMES  # noqa: E402


@op("view_dtype", kind="movement", dtype="keep", view=True, differentiable=False, method=False)
def view_dtype(xp, a, *, dtype):
    """The same bytes read as `dtype` (torch's `x.view(torch.int32)`): a view. With a
    different element size the last dimension must be contiguous and scales by the
    ratio of the sizes.

    >>> import pyrch
    >>> pyrch.tensor([1.0]).view(pyrch.int32)
    tensor([1065353216], dtype=torch.int32)
    """
    new = xp.dtype(dtype if dtype != "bool" else xp.bool_)
    old = a.dtype
    if new.itemsize != old.itemsize:
        src, dst = _TORCH_NAMES[old.name], _TORCH_NAMES[str(dtype)]
        if a.ndim == 0:
            raise RuntimeError(f"self.dim() cannot be 0 to view {src} as {dst} (different "
                               "element sizes)")
        if a.shape[-1] != 1 and a.strides[-1] != old.itemsize:
            raise RuntimeError(f"self.stride(-1) must be 1 to view {src} as {dst} (different "
                               f"element sizes), but got {a.strides[-1] // old.itemsize}")
        if new.itemsize > old.itemsize and (a.shape[-1] * old.itemsize) % new.itemsize:
            raise RuntimeError(f"self.size(-1) must be divisible by {new.itemsize // old.itemsize} "
                               f"to view {src} as {dst} (different element sizes), but got "
                               f"{a.shape[-1]}")
        if any(st % new.itemsize for st in a.strides[:-1]):
            raise RuntimeError(f"self.stride(k) must be divisible by {new.itemsize // old.itemsize} "
                               f"for all k < self.dim() - 1 to view {src} as {dst} (different "
                               "element sizes)")
    return a.view(new)


@view_dtype.infer
def _(a, *, dtype):
    from .._dtype import NP2DT
    new = np.dtype(dtype if dtype != "bool" else np.bool_)
    shape = tuple(a.shape)
    if shape and new.itemsize != a.dtype.np.itemsize:
        shape = shape[:-1] + (shape[-1] * a.dtype.np.itemsize // new.itemsize,)
    return shape, NP2DT[new]


# -- strided regions of a contiguous base (in-place ops on views under autograd) -----------

def _region(xp, a, shape, strides, offset):
    """The region of C-contiguous `a` at element `offset` with element `strides` (a view)."""
    flat = a.reshape(-1)
    isz = a.itemsize
    return xp.lib.stride_tricks.as_strided(flat[offset:], shape, tuple(st * isz for st in strides))


@op("copy_slices", kind="opaque", dtype="keep", method=False)
def copy_slices(xp, base, src, *, shape, strides, offset):
    """A copy of `base` whose strided region (a view's geometry: `shape`, element
    `strides`, `offset`) holds `src`: what an in-place op on a view does to its base."""
    out = xp.ascontiguousarray(base).copy() if not base.flags.c_contiguous else base.copy()
    _region(xp, out, shape, strides, offset)[...] = src
    return out


@copy_slices.backward
def _(g, meta, needs, shape, strides, offset):
    gb = gs = None
    if needs[0]:
        gb = dispatch(copy_slices, (g, g.new_zeros(tuple(shape))),
                      {"shape": shape, "strides": strides, "offset": offset})
    if needs[1]:
        gs = dispatch(strided_take, (g,), {"shape": shape, "strides": strides, "offset": offset})
    return gb, gs


@copy_slices.infer
def _(base, src, *, shape, strides, offset):
    return base.shape, base.dtype


@op("strided_take", kind="opaque", dtype="keep", method=False)
def strided_take(xp, a, *, shape, strides, offset):
    """A copy of the strided region of `a` (read in `a`'s row-major element order)."""
    return _region(xp, xp.ascontiguousarray(a), shape, strides, offset).copy()


def _region_back(g, meta, shape, strides, offset):
    """Reading a region: its gradient goes back into the region of a zero base."""
    z = g.new_zeros(meta.shapes[0])
    return (dispatch(copy_slices, (z, g), {"shape": shape, "strides": strides, "offset": offset}),)


def _region_meta(a, *, shape, strides, offset):
    return tuple(shape), a.dtype


strided_take.backward(_region_back)
strided_take.infer(_region_meta)


@op("as_strided_view", kind="movement", dtype="keep", view=True, method=False)
def as_strided_view(xp, base, *, shape, strides, offset):
    """The strided region of C-contiguous `base` as a view (how a view reads its base
    again after an in-place op rewrote the base's history)."""
    if not base.flags.c_contiguous:
        raise RuntimeError("as_strided_view needs a contiguous base")
    return _region(xp, base, shape, strides, offset)


as_strided_view.backward(_region_back)
as_strided_view.infer(_region_meta)


_PERMS = {}      # (dims, ndim) -> checked non-negative dims: permute runs on every x.T


@op("permute", kind="movement", dtype="keep", view=True)
def permute(xp, a, *, dims):
    """Reorder dimensions (a view)."""
    nd = a.ndim
    try:
        # (the array's own method: numpy's function form adds a wrapper call per use)
        return a.transpose(_PERMS[dims, nd])
    except (KeyError, TypeError):        # first time for these dims (or unhashable): check
        pass
    key = dims
    if len(dims) != nd:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does "
                           f"not match the length of the desired ordering of dimensions i.e. input."
                           f"dim() = {nd} is not equal to len(dims) = {len(dims)}")
    dims = tuple(_norm_dim(d, nd) for d in dims)
    if len(set(dims)) != nd:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    if type(key) is tuple and len(_PERMS) < 4096:
        _PERMS[key, nd] = dims
    return xp.transpose(a, dims)


@permute.backward
def _(g, dims):
    nd = len(dims)
    inv = [0] * nd
    for i, d in enumerate(dims):
        inv[d % nd] = i
    return (g.permute(*inv),)


@permute.public
def _permute(input, *dims):
    """Reorder dimensions (`x.permute(2, 0, 1)`), a view."""
    return dispatch(permute, (input,), {"dims": _sizes(dims)})


@op("expand", kind="movement", dtype="keep", view=True)
def expand(xp, a, *, shape):
    """Broadcast `a` to `shape` without copying (-1 keeps a dimension)."""
    shape = tuple(shape)
    if a.ndim == 0 and type(a) is np.ndarray and all(s >= 0 for s in shape):
        # a scalar everywhere (the backward of a full sum): nothing to check
        out = np.ndarray(shape, a.dtype, buffer=a, strides=(0,) * len(shape))
        out.flags.writeable = False
        return out
    lead = len(shape) - a.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(shape)}) must be greater "
                           f"or equal to the number of dimensions in the tensor ({a.ndim})")
    for i in range(lead):
        if shape[i] < 0:
            raise RuntimeError(f"The expanded size of the tensor ({shape[i]}) isn't allowed in a "
                               f"leading, non-existing dimension {i}")
    full = tuple(a.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape))
    for i in range(a.ndim):
        if a.shape[i] != 1 and a.shape[i] != full[lead + i]:
            raise RuntimeError(
                f"The expanded size of the tensor ({full[lead + i]}) must match the existing size "
                f"({a.shape[i]}) at non-singleton dimension {lead + i}.  Target sizes: {list(shape)}."
                f"  Tensor sizes: {list(a.shape)}")
    if type(a) is np.ndarray and a.flags.c_contiguous and a.size:
        # the same read-only zero-stride view np.broadcast_to makes, at a third of its cost
        st = (0,) * lead + tuple(0 if n == 1 and m != 1 else s
                                 for n, m, s in zip(a.shape, full[lead:], a.strides))
        out = np.ndarray(full, a.dtype, buffer=a, strides=st)
        out.flags.writeable = False
        return out
    return xp.broadcast_to(a, full)


@expand.backward
def _(g, meta):
    return (g.sum_to(meta.shapes[0]),)


@expand.public
def _expand(input, *sizes):
    """Broadcast to a larger size without copying (`x.expand(3, -1)`)."""
    return dispatch(expand, (input,), {"shape": _sizes(sizes)})


@composite("expand_as")
def expand_as(input, other):
    """`input.expand(other.size())`."""
    return input.expand(other.shape)


@composite("broadcast_to")
def broadcast_to(input, size):
    """`input` broadcast to `size` (a view, as `expand`)."""
    return input.expand(tuple(size))


@composite("broadcast_tensors", method=False)
def broadcast_tensors(*tensors):
    """Broadcast all tensors to one shape (views)."""
    from .registry import broadcast_shapes
    try:
        shape = broadcast_shapes(*(t._data.shape for t in tensors))
    except ValueError as e:
        raise RuntimeError(str(e)) from None
    return tuple(t if t._data.shape == shape else t.expand(shape) for t in tensors)


@composite("view_as")
def view_as(input, other):
    """`input.view(other.size())`."""
    return input.view(other.shape)


@composite("reshape_as")
def reshape_as(input, other):
    """`input.reshape(other.size())`."""
    return input.reshape(other.shape)


@composite("contiguous")
def contiguous(input, memory_format=None):
    """`input` itself when C-contiguous, else a contiguous copy."""
    return input if input._data.flags.c_contiguous else input.clone()


# -- reshape-based composites ------------------------------------------------------------

@composite("flatten")
def flatten(input, start_dim=0, end_dim=-1):
    """Merge dimensions start_dim..end_dim into one.

    >>> import pyrch
    >>> pyrch.zeros(2, 3, 4).flatten(1).shape
    pyrch.Size([2, 12])
    """
    shape = input._data.shape
    nd = len(shape)
    if nd == 0:
        return input.reshape(1)
    s, e = _norm_dim(start_dim, nd), _norm_dim(end_dim, nd)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return input
    return input.reshape(shape[:s] + (_numel(shape[s:e + 1]),) + shape[e + 1:])


@composite("ravel")
def ravel(input):
    """A 1-D version of `input` (a view when possible)."""
    return input.reshape(-1)


@composite("unflatten")
def unflatten(input, dim, sizes):
    """Split dimension `dim` into `sizes` (one may be -1)."""
    shape = input._data.shape
    d = _norm_dim(dim, len(shape))
    sizes = tuple(int(s) for s in sizes)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    try:
        sizes = _infer_shape(sizes, shape[d])
    except RuntimeError:
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the "
                           f"size of dim {dim} ({shape[d]}) in the input tensor") from None
    return input.reshape(shape[:d] + sizes + shape[d + 1:])


@composite("squeeze")
def squeeze(input, dim=None):
    """Remove dimensions of size 1 (all, one, or a tuple of them); a view."""
    shape = input._data.shape
    nd = len(shape)
    if dim is None:
        dims = range(nd)
    else:
        dims = {_norm_dim(d, nd) for d in ((dim,) if isinstance(dim, int) else dim)}
    new = tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1))
    return input.reshape(new) if new != shape else input.view(shape)


@composite("unsqueeze")
def unsqueeze(input, dim):
    """Insert a dimension of size 1 at `dim`; a view."""
    shape = input._data.shape
    d = _norm_dim(dim, len(shape) + 1)
    return input.reshape(shape[:d] + (1,) + shape[d:])


@composite("atleast_1d", method=False)
def atleast_1d(*tensors):
    """Tensors with at least one dimension."""
    ts = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors
    out = tuple(t.reshape(1) if t.ndim == 0 else t for t in ts)
    return out[0] if len(tensors) == 1 and len(out) == 1 and not isinstance(tensors[0], (list, tuple)) else out


@composite("atleast_2d", method=False)
def atleast_2d(*tensors):
    """Tensors with at least two dimensions (1-D becomes a row)."""
    ts = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors
    out = tuple(t.reshape(1, -1) if t.ndim < 2 else t for t in ts)
    return out[0] if len(tensors) == 1 and not isinstance(tensors[0], (list, tuple)) else out


@composite("atleast_3d", method=False)
def atleast_3d(*tensors):
    """Tensors with at least three dimensions (as numpy: (n,) -> (1, n, 1))."""
    ts = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors
    res = []
    for t in ts:
        if t.ndim == 0:
            t = t.reshape(1, 1, 1)
        elif t.ndim == 1:
            t = t.reshape(1, -1, 1)
        elif t.ndim == 2:
            t = t.unsqueeze(-1)
        res.append(t)
    return res[0] if len(tensors) == 1 and not isinstance(tensors[0], (list, tuple)) else tuple(res)


# -- permute-based composites ------------------------------------------------------------

@composite("transpose")
def transpose(input, dim0, dim1):
    """Swap two dimensions (a view)."""
    nd = input._data.ndim
    if nd == 0:
        _norm_dim(dim0, 0), _norm_dim(dim1, 0)
        return input.view(())
    d0, d1 = _norm_dim(dim0, nd), _norm_dim(dim1, nd)
    dims = list(range(nd))
    dims[d0], dims[d1] = d1, d0
    return input.permute(dims)


@composite("swapaxes")
def swapaxes(input, axis0, axis1):
    """Alias of transpose."""
    return transpose(input, axis0, axis1)


@composite("swapdims")
def swapdims(input, dim0, dim1):
    """Alias of transpose."""
    return transpose(input, dim0, dim1)


@composite("t")
def t(input):
    """Transpose a matrix; 0-D and 1-D tensors come back as they are (a view)."""
    nd = input._data.ndim
    if nd > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {nd}D")
    return transpose(input, 0, 1) if nd == 2 else input.view(input._data.shape)


@composite("movedim")
def movedim(input, source, destination):
    """Move dimension(s) `source` to position(s) `destination`."""
    nd = input._data.ndim
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} "
                           f"dims) should contain the same number of dims as destination "
                           f"({list(dst)} dims)")
    src = [_norm_dim(d, nd) for d in src]
    dst = [_norm_dim(d, nd) for d in dst]
    if len(set(src)) != len(src):
        raise RuntimeError(f"movedim: repeated dim in `source` ({list(source)})")
    if len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in `destination` ({list(destination)})")
    order = [None] * nd
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(d for d in range(nd) if d not in src)
    order = [next(rest) if o is None else o for o in order]
    return input.permute(order)


@composite("moveaxis")
def moveaxis(input, source, destination):
    """Alias of movedim."""
    return movedim(input, source, destination)


# -- slicing, via basic indexing ------------------------------------------------------------

def _getitem(input, key):
    from .index import getitem_op
    return dispatch(getitem_op, (input,), {"key": key})


@composite("narrow")
def narrow(input, dim, start, length):
    """The view `input` along `dim` from `start`, `length` long."""
    shape = input._data.shape
    if not shape:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = _norm_dim(dim, len(shape))
    n = shape[d]
    start, length = int(start), int(length)
    if not -n <= start <= n:
        raise IndexError(f"start out of range (expected to be in range of [{-n}, {n}], but got "
                         f"{start})")
    if start < 0:
        start += n
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return _getitem(input, (_ALL,) * d + (("s", start, start + length, None),))


@composite("select")
def select(input, dim, index):
    """The view `input[..., index, ...]` at dimension `dim` (that dimension removed)."""
    shape = input._data.shape
    if not shape:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = _norm_dim(dim, len(shape))
    index = int(index)
    if not -shape[d] <= index < shape[d]:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"{list(shape)} at dimension {d}")
    return _getitem(input, (_ALL,) * d + (index % shape[d],))


def _consecutive(t, d, sizes):
    """Views of `t` along `d`, one per size, end to end."""
    out, off = [], 0
    for s in sizes:
        out.append(narrow(t, d, off, s))
        off += s
    return tuple(out)


@composite("split")
def split(tensor, split_size_or_sections, dim=0):
    """Split into pieces of one size (the last may be smaller) or of the listed sizes."""
    shape = tensor._data.shape
    d = _norm_dim(dim, len(shape))
    n = shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0 and not (step == 0 and n == 0):
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={step}")
        sizes = [min(step, n - i) for i in range(0, n, step)] if step else [0]
        if not sizes:
            sizes = [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input "
                               f"tensor's size at dimension {d}), but got split_sizes={sizes}")
    return _consecutive(tensor, d, sizes)


@composite("chunk")
def chunk(input, chunks, dim=0):
    """Split into `chunks` pieces of size ceil(n / chunks) (fewer if n runs out)."""
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    shape = input._data.shape
    d = _norm_dim(dim, len(shape))
    n = shape[d]
    step = max(-(-n // chunks), 1) if n else 0
    if n == 0:
        return tuple(narrow(input, d, 0, 0) for _ in range(chunks))
    return split(input, step, d)


@composite("tensor_split")
def tensor_split(input, indices_or_sections, dim=0):
    """Split into n near-equal pieces, or at the given indices (numpy's array_split)."""
    shape = input._data.shape
    d = _norm_dim(dim, len(shape))
    n = shape[d]
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        if k <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {k}")
        q, r = divmod(n, k)
        sizes = [q + 1] * r + [q] * (k - r)
    else:
        idx = [min(max(int(i) if i >= 0 else int(i) + n, 0), n) for i in indices_or_sections]
        bounds = [0] + idx + [n]
        sizes = [max(b - a, 0) for a, b in zip(bounds, bounds[1:])]
        starts = bounds[:-1]
        return tuple(narrow(input, d, min(s, n), z) for s, z in zip(starts, sizes))
    return _consecutive(input, d, sizes)


@composite("unbind")
def unbind(input, dim=0):
    """All slices along `dim`, as a tuple of views."""
    shape = input._data.shape
    d = _norm_dim(dim, len(shape))
    return tuple(_getitem(input, (_ALL,) * d + (i,)) for i in range(shape[d]))


# -- diagonal -------------------------------------------------------------------------------

def _diag_view(xp, a, offset, dim1, dim2):
    """A writable strided view of a's diagonal (numpy's own is read-only)."""
    nd = a.ndim
    d1, d2 = _norm_dim(dim1, nd), _norm_dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    b = xp.moveaxis(a, (d1, d2), (-2, -1))
    b = b[..., :, offset:] if offset >= 0 else b[..., -offset:, :]
    n = max(min(b.shape[-2], b.shape[-1]), 0)
    st = b.strides
    return xp.lib.stride_tricks.as_strided(b, b.shape[:-2] + (n,), st[:-2] + (st[-2] + st[-1],))


@op("diagonal", kind="movement", dtype="keep", view=True)
def diagonal(xp, a, *, offset=0, dim1=0, dim2=1):
    """The diagonal of the (dim1, dim2) planes, as the last dimension (a view)."""
    return _diag_view(xp, a, offset, dim1, dim2)


@diagonal.backward
def _(g, meta, offset, dim1, dim2):
    return (diagonal_scatter(g.new_zeros(meta.shapes[0]), g, offset=offset, dim1=dim1, dim2=dim2),)


@op("diagonal_scatter", kind="movement", dtype="keep")
def diagonal_scatter(xp, a, src, *, offset=0, dim1=0, dim2=1):
    """A copy of `a` with its (offset, dim1, dim2) diagonal replaced by `src`."""
    out = a.copy()
    d = _diag_view(xp, out, offset, dim1, dim2)
    if hasattr(src, "shape") and src.shape != d.shape:
        raise RuntimeError(f"diagonal_scatter: src must have shape {list(d.shape)}, got "
                           f"{list(src.shape)}")
    d[...] = src
    return out


@diagonal_scatter.backward
def _(g, needs, offset, dim1, dim2):
    ga = diagonal_scatter(g, 0.0, offset=offset, dim1=dim1, dim2=dim2) if needs[0] else None
    gs = g.diagonal(offset, dim1, dim2) if needs[1] else None
    return ga, gs


@diagonal_scatter.infer
def _(a, src, *, offset=0, dim1=0, dim2=1):
    return a.shape, a.dtype


for _fn, _name in ((_reshape, "reshape"), (_permute, "permute"), (_expand, "expand")):
    _fn.__name__ = _fn.__qualname__ = _name    # the public names, in reprs and help()

from . import rearrange  # noqa: E402,F401  (the copying half: cat, repeat, flip, pad, ...)
