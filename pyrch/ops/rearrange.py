"""Ops that build a new tensor from pieces of others: cat/stack and friends,
repeat/tile, flip/roll, and padding (built from cat, narrow and flip).

>>> import pyrch
>>> pyrch.stack([pyrch.zeros(2), pyrch.ones(2)]).shape
pyrch.Size([2, 2])
"""
from .registry import op, composite, _meta_dtype
from .._dispatch import dispatch
from .movement import _norm_dim, _sizes, narrow, unsqueeze, atleast_1d, atleast_2d, atleast_3d


# -- repeat / tile ------------------------------------------------------------------------

@composite("repeat")
def repeat(input, *sizes):
    """Tile `input` `sizes[i]` times along each dimension (a copy).

    >>> import pyrch
    >>> pyrch.tensor([1, 2]).repeat(2)
    tensor([1, 2, 1, 2])
    """
    sizes = _sizes(sizes)
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                           "of dimensions of tensor")
    shape = (1,) * (len(sizes) - len(shape)) + shape
    inter, big = [], []
    for r, s in zip(sizes, shape):
        if r < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {r}: {list(sizes)}")
        inter += [1, s]
        big += [r, s]
    final = tuple(r * s for r, s in zip(sizes, shape))
    return input.reshape(inter).expand(big).reshape(final).contiguous()


@composite("tile")
def tile(input, dims):
    """Like repeat, padding `dims` with leading 1s when shorter than input.ndim."""
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    nd = input._data.ndim
    if len(dims) < nd:
        dims = (1,) * (nd - len(dims)) + dims
    return repeat(input, dims)


# -- flip, roll ---------------------------------------------------------------------------

@op("flip", kind="movement", dtype="keep")
def flip(xp, a, *, dims):
    """Reverse the order of elements along `dims` (a copy, as in torch)."""
    if not dims or a.ndim == 0:
        return a.copy()
    return xp.ascontiguousarray(xp.flip(a, axis=dims))


@flip.backward
def _(g, dims):
    return (g.flip(dims),)


@flip.public
def _flip(input, *dims):
    """Reverse the order of elements along `dims` (a copy)."""
    nd = input._data.ndim
    dims = tuple(_norm_dim(d, nd) for d in _sizes(dims))
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"dims has duplicates, original flip dims size={len(dims)}, but unique "
                           f"flip dims size={len(set(dims))}")
    return dispatch(flip, (input,), {"dims": dims})


@composite("fliplr")
def fliplr(input):
    """Flip left-right (dimension 1)."""
    if input.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return _flip(input, 1)


@composite("flipud")
def flipud(input):
    """Flip up-down (dimension 0)."""
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return _flip(input, 0)


@op("roll", kind="movement", dtype="keep")
def roll(xp, a, *, shifts, dims=None):
    """Rotate elements along `dims` by `shifts` (flattened first when dims is None)."""
    return xp.roll(a, shifts, axis=dims)


@roll.backward
def _(g, shifts, dims):
    neg = -shifts if isinstance(shifts, int) else tuple(-s for s in shifts)
    return (g.roll(neg, dims),)


@roll.public
def _roll(input, shifts, dims=None):
    """Rotate elements along `dims` by `shifts` (torch.roll)."""
    shifts = int(shifts) if not isinstance(shifts, (tuple, list)) else tuple(int(s) for s in shifts)
    if dims is not None:
        nd = input._data.ndim
        dims = _norm_dim(dims, nd) if isinstance(dims, int) else tuple(_norm_dim(d, nd) for d in dims)
        ns = 1 if isinstance(shifts, int) else len(shifts)
        nds = 1 if isinstance(dims, int) else len(dims)
        if ns != nds:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {ns}, dims:{nds}")
    elif not isinstance(shifts, int):
        if len(shifts) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:0")
        shifts = shifts[0]
    return dispatch(roll, (input,), {"shifts": shifts, "dims": dims})


# -- cat, stack ---------------------------------------------------------------------------

@op("cat", kind="movement", dtype="promote", new_memory=True)
def cat(xp, *tensors, dim=0):
    """Concatenate along an existing dimension."""
    return xp.concatenate([t for t in tensors if not _legacy_empty(t.shape, tensors)], axis=dim)


def _legacy_empty(shape, all_):
    # NOTE: like torch, 1-D empty tensors are skipped whatever the others' shapes
    return shape == (0,) and any(len(t.shape) != 1 for t in all_)


@cat.backward
def _(g, meta, needs, dim):
    grads, off = [], 0
    for shape, need in zip(meta.shapes, needs):
        if shape == (0,) and g._data.ndim != 1:
            grads.append(g.new_zeros(0) if need else None)
            continue
        n = shape[dim]
        grads.append(narrow(g, dim, off, n) if need else None)
        off += n
    return tuple(grads)


@cat.infer
def _(*metas, dim=0):
    kept = [m for m in metas if not _legacy_empty(m.shape, metas)]
    shape = list(kept[0].shape)
    shape[dim] = sum(m.shape[dim] for m in kept)
    return tuple(shape), _meta_dtype(cat, metas)


@cat.public
def _cat(tensors, dim=0, *, out=None):
    """Concatenate tensors along an existing dimension `dim`.

    >>> import pyrch
    >>> pyrch.cat([pyrch.zeros(2, 3), pyrch.ones(1, 3)]).shape
    pyrch.Size([3, 3])
    """
    tensors = tuple(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    kept = [t for t in tensors if not (t._data.ndim == 1 and t._data.shape[0] == 0)]
    if not kept:
        kept = [tensors[0]]
    ref = kept[0]._data.shape
    for i, t in enumerate(kept):
        if t._data.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    d = _norm_dim(dim, len(ref))
    for i, t in enumerate(kept):
        s = t._data.shape
        if len(s) != len(ref):
            raise RuntimeError(f"Tensors must have same number of dimensions: got {len(ref)} and {len(s)}")
        for j, (x, y) in enumerate(zip(ref, s)):
            if j != d and x != y:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. "
                                   f"Expected size {x} but got size {y} for tensor number {i} "
                                   f"in the list.")
    return dispatch(cat, tensors, {"dim": d})


@composite("concat", method=False)
def concat(tensors, dim=0):
    """Alias of cat."""
    return _cat(tensors, dim)


@composite("concatenate", method=False)
def concatenate(tensors, axis=0):
    """Alias of cat."""
    return _cat(tensors, axis)


@composite("stack", method=False)
def stack(tensors, dim=0):
    """Join equally shaped tensors along a new dimension `dim`."""
    tensors = tuple(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    ref = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != ref:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(ref)} "
                               f"at entry 0 and {list(t._data.shape)} at entry {i}")
    d = _norm_dim(dim, len(ref) + 1)
    return _cat([unsqueeze(t, d) for t in tensors], d)


@composite("hstack", method=False)
def hstack(tensors):
    """Concatenate column-wise (along dim 0 for 1-D tensors, else dim 1)."""
    ts = atleast_1d(tuple(tensors))
    return _cat(ts, 0 if ts[0].ndim == 1 else 1)


@composite("vstack", method=False)
def vstack(tensors):
    """Concatenate row-wise, after making every tensor at least 2-D."""
    return _cat(atleast_2d(tuple(tensors)), 0)


@composite("row_stack", method=False)
def row_stack(tensors):
    """Alias of vstack."""
    return vstack(tensors)


@composite("dstack", method=False)
def dstack(tensors):
    """Concatenate depth-wise, after making every tensor at least 3-D."""
    return _cat(atleast_3d(tuple(tensors)), 2)


@composite("column_stack", method=False)
def column_stack(tensors):
    """Stack 1-D tensors as columns (others are hstacked)."""
    ts = [t.reshape(-1, 1) if t.ndim <= 1 else t for t in tensors]
    return _cat(ts, 1)


# -- padding ----------------------------------------------------------------------------

@op("constant_pad_nd", kind="movement", dtype="keep")
def constant_pad_nd(xp, a, *, pad, value=0):
    """Pad the last len(pad)//2 dims by pad=(left_last, right_last, left_prev, ...); negative crops."""
    nd = a.ndim
    crop = [slice(None)] * nd
    widths = [(0, 0)] * nd
    for i in range(len(pad) // 2):
        d = nd - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        n = a.shape[d]
        if n + lo + hi < 0:
            raise RuntimeError(f"The input size {n}, plus negative padding {lo} and {hi} resulted "
                               f"in a negative output size, which is invalid. Check dimension "
                               f"{d} of your input.")
        crop[d] = slice(max(-lo, 0), n - max(-hi, 0))
        widths[d] = (max(lo, 0), max(hi, 0))
    return xp.pad(a[tuple(crop)], widths, mode="constant", constant_values=value)


@constant_pad_nd.backward
def _(g, pad):
    return (constant_pad_nd(g, pad=tuple(-p for p in pad), value=0),)


@constant_pad_nd.infer
def _(a, *, pad, value=0):
    shape = list(a.shape)
    for i in range(len(pad) // 2):
        shape[len(shape) - 1 - i] += pad[2 * i] + pad[2 * i + 1]
    return tuple(shape), a.dtype


def _pad_dim(x, d, lo, hi, mode):
    n = x._data.shape[d]
    parts = []
    if mode == "reflect":
        if lo >= n or hi >= n:
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding "
                               f"input dimension, but got: padding ({lo}, {hi}) at dimension {d} "
                               f"of input {list(x._data.shape)}")
        if lo:
            parts.append(_flip(narrow(x, d, 1, lo), d))
        parts.append(x)
        if hi:
            parts.append(_flip(narrow(x, d, n - 1 - hi, hi), d))
    elif mode == "replicate":
        if n == 0 and (lo or hi):
            raise RuntimeError("padding of an empty dimension needs mode='constant'")
        big = list(x._data.shape)
        if lo:
            big[d] = lo
            parts.append(narrow(x, d, 0, 1).expand(big))
        parts.append(x)
        if hi:
            big[d] = hi
            parts.append(narrow(x, d, n - 1, 1).expand(big))
    else:  # circular
        if lo > n or hi > n:
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if lo:
            parts.append(narrow(x, d, n - lo, lo))
        parts.append(x)
        if hi:
            parts.append(narrow(x, d, 0, hi))
    return _cat(parts, d) if len(parts) > 1 else x


@composite("pad", method=False)
def pad(input, pad, mode="constant", value=None):
    """torch.nn.functional.pad: pad=(left, right[, top, bottom, ...]) from the last dim back.

    >>> import pyrch
    >>> pyrch.pad(pyrch.ones(2), (1, 2)).tolist()
    [0.0, 1.0, 1.0, 0.0, 0.0]
    """
    pad = tuple(int(p) for p in pad)
    nd = input._data.ndim
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > nd:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input "
                           f"dimension but got padding length {len(pad)} and input of dimension {nd}")
    if mode == "constant":
        return dispatch(constant_pad_nd, (input,), {"pad": pad, "value": 0 if value is None else value})
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise RuntimeError(f"Padding mode \"{mode}\" doesn't take in value argument")
    if any(p < 0 for p in pad):
        raise RuntimeError(f"negative padding is only supported by mode='constant' in pyrch")
    x = input
    for i in range(len(pad) // 2):
        x = _pad_dim(x, nd - 1 - i, pad[2 * i], pad[2 * i + 1], mode)
    return x


for _fn, _name in ((_cat, "cat"), (_flip, "flip"), (_roll, "roll")):
    _fn.__name__ = _fn.__qualname__ = _name    # the public names, in reprs and help()


# -- repeat_interleave, diff, meshgrid -------------------------------------------------------
@composite("repeat_interleave")
def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Repeat each element (or slice along `dim`) of `input` `repeats` times; with
    `repeats` a 1-D tensor, element i repeats[i] times. `dim=None` flattens first.
    `repeat_interleave(r)` alone repeats index i r[i] times.

    >>> import pyrch
    >>> pyrch.tensor([1, 2]).repeat_interleave(2)
    tensor([1, 1, 2, 2])
    """
    from .._creation import arange
    from .._tensor import Tensor
    from .index import index_select
    from .sort import searchsorted
    if repeats is None:
        if input._data.ndim != 1:
            raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
        return repeat_interleave(arange(input.shape[0], device=input.device), input, 0,
                                 output_size=output_size)
    if dim is None:
        input, dim = input.reshape(-1), 0
    nd = input._data.ndim
    d = _norm_dim(dim, nd)
    n = input.shape[d] if nd else 1
    if isinstance(repeats, Tensor):
        if repeats.dtype.is_floating_point or repeats.dtype.name == "bool":
            from .._dtype import TORCH_NAMES
            raise NotImplementedError(f'"repeat_interleave_cpu" not implemented for '
                                      f"'{TORCH_NAMES.get(repeats.dtype.name, repeats.dtype.name)}'")
        if repeats._data.ndim > 1:
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
        if repeats._data.ndim == 1 and repeats.shape[0] != 1:
            if repeats.shape[0] != n:
                raise RuntimeError(f"repeats must have the same size as input along dim, but got "
                                   f"repeats.size(0) = {repeats.shape[0]} and input.size({d}) = {n}")
            if n and bool((repeats < 0).any()):
                raise RuntimeError("repeats can not be negative")
            ends = repeats.cumsum(0)
            total = int(ends[-1]) if n else 0
            if output_size is not None and output_size != total:
                raise RuntimeError("allocated size does not match required size")
            idx = searchsorted(ends, arange(total, device=input.device), right=True)
            return index_select(input, d, idx)
        repeats = int(repeats.reshape(-1)[0])
    if repeats < 0:
        raise RuntimeError("Repeats must be non-negative")
    if output_size is not None and output_size != n * repeats:
        raise RuntimeError("allocated size does not match required size")
    shape = list(input.shape)
    if not nd:
        input, shape = input.reshape(1), [1]
    wide = shape[:d + 1] + [repeats] + shape[d + 1:]
    return unsqueeze(input, d + 1).expand(*wide).reshape(*(shape[:d] + [n * repeats] + shape[d + 1:]))


@composite("diff")
def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The n-th forward difference along `dim` (after concatenating prepend/append);
    bool tensors give logical xor.

    >>> import pyrch
    >>> pyrch.diff(pyrch.tensor([1, 4, 9]))
    tensor([3, 5])
    """
    from .elementwise_logic import logical_xor
    nd = input._data.ndim
    if nd == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    d = _norm_dim(dim, nd)
    for extra in (prepend, append):
        if extra is not None and extra._data.ndim != nd:
            raise RuntimeError("diff expects prepend or append to be the same dimension as input")
    if prepend is not None or append is not None:
        input = _cat([t for t in (prepend, input, append) if t is not None], d)
    x = input if n else input.clone()
    for _ in range(n):
        m = x.shape[d]
        if m == 0:
            break
        hi, lo = narrow(x, d, 1, m - 1), narrow(x, d, 0, m - 1)
        x = logical_xor(hi, lo) if x.dtype.name == "bool" else hi - lo
    return x


@composite("meshgrid", method=False)
def meshgrid(*tensors, indexing=None):
    """Coordinate grids from 0-D/1-D tensors: 'ij' (matrix) or 'xy' (Cartesian) indexing.

    >>> import pyrch
    >>> [tuple(g.shape) for g in pyrch.meshgrid(pyrch.arange(2), pyrch.arange(3), indexing="ij")]
    [(2, 3), (2, 3)]
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    if indexing is None:
        import warnings
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the "
                      "indexing argument.", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("xy", "ij"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}')
    for t in tensors:
        if t._data.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t}")
        if t.dtype is not tensors[0].dtype:
            raise RuntimeError("meshgrid expects all tensors to have the same dtype")
        if t.device != tensors[0].device:
            raise RuntimeError("meshgrid expects all tensors to have the same device")
    axes = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:
        axes[0], axes[1] = 1, 0
    sizes = [0] * len(tensors)
    for t, a in zip(tensors, axes):
        sizes[a] = t.numel()
    grids = []
    for t, a in zip(tensors, axes):
        view = [1] * len(tensors)
        view[a] = sizes[a]
        grids.append(t.reshape(*view).expand(*sizes))
    return tuple(grids)
