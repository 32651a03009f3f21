"""Indexing: `x[key]`, `x[key] = v`, gather/scatter, masks, sorting, unique, search.

A Python key becomes a hashable attribute: ints stay ints, a slice becomes
('s', start, stop, step), a bool scalar ('b', value), and each index tensor
('t',) -- the tensor itself travels as an extra input, so the tracer and
autograd see it. In `x[key]` a bool mask is first turned into coordinates by
`nonzero` (('m', k): one (N, k) tensor covering k dims), which keeps every
shape but nonzero's computable from shapes alone.

Basic keys (ints, slices, None, ...) run `getitem`, a view; keys with tensors
run `index`, a copy -- as in PyTorch. `x[key] = v` runs `setitem`, a
functional op that `dispatch_inplace` writes back into x.

>>> import pyrch
>>> x = pyrch.arange(6).reshape(2, 3)
>>> x[1, 1:]
tensor([4, 5])
"""
import operator

import numpy as np

from .registry import op, composite
from .movement import _norm_dim, _ALL
from .._dispatch import dispatch, dispatch_inplace, state
from .._dtype import int64, bool_
from .._tensor import Tensor


# -- the key: Python -> hashable attribute -> array key ------------------------------------

def _decode(key, idx):
    """The numpy key for an encoded basic `key` (no index tensors)."""
    return tuple(slice(k[1], k[2], k[3]) if type(k) is tuple else k for k in key)


def _split(a, key, idx):
    """(view, key2): torch's advanced indexing as basic indexing, then numpy's advanced.

    NOTE: torch applies ints, slices and None first (as views) and only then
    the index tensors, so in `x[1, :, i]` the int does not take part in the
    advanced indexing; numpy would count it in and move the result's dims.
    """
    k1, k2 = [], []
    it = iter(idx)
    for k in key:
        if type(k) is tuple:
            tag = k[0]
            if tag == "s":
                k1.append(slice(k[1], k[2], k[3]))
                k2.append(slice(None))
            elif tag == "t":
                i = next(it)
                n = i.ndim if i.dtype == bool else 1
                k1.extend([slice(None)] * n)
                k2.append(i)
            elif tag == "m":
                m = next(it)
                k1.extend([slice(None)] * k[1])
                k2.extend(m[:, j] for j in range(k[1]))
            else:   # "b": a bool scalar adds a dim, like None, in advanced mode
                k2.append(k[1])
        elif k is None:
            k1.append(None)
            k2.append(slice(None))
        elif k is Ellipsis:
            k1.append(k)
            k2.append(k)
        else:
            k1.append(k)
    return a[tuple(k1)], tuple(k2)


def _has_adv(key):
    for k in key:
        if type(k) is tuple and k[0] != "s":
            return True
    return False


def _bad_index(k):
    return IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                      f"Variables are valid indices (got {type(k).__name__})")


def _parse(t, key, coords):
    """Encode `key` for tensor `t`: (key, index tensors).

    coords=True turns bool masks into nonzero coordinates (for reads); writes
    keep the masks as they are.
    """
    if type(key) is not tuple:
        key = (key,)
    shape = t._data.shape
    nd = len(shape)
    items = []          # (encoded, dims consumed, tensor or None)
    used = 0
    ell = False
    for k in key:
        tk = type(k)
        if tk is int or (isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))):
            items.append((int(k), 1, None))
            used += 1
        elif tk is slice:
            start, stop, step = k.start, k.stop, k.step
            if not (type(start) is int or start is None):
                start = operator.index(start)
            if not (type(stop) is int or stop is None):
                stop = operator.index(stop)
            if not (type(step) is int or step is None):
                step = operator.index(step)
            if step is not None and step <= 0:
                raise ValueError("step must be greater than zero")
            items.append((("s", start, stop, step), 1, None))
            used += 1
        elif k is None:
            items.append((None, 0, None))
        elif k is Ellipsis:
            if ell:
                raise IndexError("an index can only have a single ellipsis ('...')")
            ell = True
            items.append((Ellipsis, 0, None))
        elif isinstance(k, (bool, np.bool_)):
            items.append((("b", bool(k)), 0, None))
        else:
            if not isinstance(k, Tensor):
                if isinstance(k, (list, tuple, np.ndarray)):
                    from .._creation import tensor
                    k = tensor(k) if len(k) else tensor([], dtype=int64)
                else:
                    raise _bad_index(k)
            kind = k._data.dtype.kind
            if kind == "b":
                if k._data.ndim == 0:
                    items.append((("b", bool(k)), 0, None))
                    continue
                items.append((("t",), k._data.ndim, k))
                used += k._data.ndim
            elif kind in "iu":
                if k._data.ndim == 0 and not k._rg and state.tracer is None:
                    items.append((int(k), 1, None))     # torch: a 0-dim index acts as an int
                else:
                    items.append((("t",), 1, k))
                used += 1
            else:
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    if used > nd:
        if nd == 0:
            raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                             "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number")
        raise IndexError(f"too many indices for tensor of dimension {nd}")
    enc, tensors = [], []
    dev = None
    d = 0
    for e, n, k in items:
        if e is Ellipsis:
            d += nd - used
        elif type(e) is int:
            size = shape[d]
            if not -size <= e < size:
                raise IndexError(f"index {e} is out of bounds for dimension {d} with size {size}")
            e = e % size
        elif k is not None:
            if dev is None:
                dev = t.device
            if k.device != dev:
                k = k.to(dev)
            if n > 1 or k._data.dtype.kind == "b":
                ks = k._data.shape
                for j in range(n):
                    if ks[j] != shape[d + j]:
                        raise IndexError(f"The shape of the mask {list(ks)} at index {j} does not "
                                         f"match the shape of the indexed tensor {list(shape)} at "
                                         f"index {d + j}")
                if coords:
                    k = dispatch(nonzero_op, (k,))
                    e = ("m", n)
        d += n
        enc.append(e)
        if k is not None:
            tensors.append(k)
    return tuple(enc), tensors


def getitem(t, key):
    """`t[key]`: a view for basic keys, a copy when the key holds index tensors."""
    if type(key) is int:        # the hot path: x[i]
        shape = t._data.shape
        if shape:
            n = shape[0]
            if -n <= key < n:
                return dispatch(getitem_op, (t,), {"key": (key % n,)})
    enc, tensors = _parse(t, key, True)
    if tensors or _has_adv(enc):
        return dispatch(index_op, (t, *tensors), {"key": enc})
    return dispatch(getitem_op, (t,), {"key": enc})


def _value(t, value):
    if isinstance(value, Tensor):
        if value.device != t.device:
            value = value.to(t.device)
        return value
    if isinstance(value, (int, float, bool, np.generic)):
        return value
    from .._creation import tensor
    return tensor(value, dtype=t.dtype, device=t.device)


def setitem(t, key, value):
    """`t[key] = value`, written into t's storage (views of t see it)."""
    enc, tensors = _parse(t, key, False)
    value = _value(t, value)
    vt = isinstance(value, Tensor)
    if not state.hooks and not (state.grad_enabled and (t._rg or (vt and value._rg))):
        # nothing records it: write in place, skip the functional copy
        try:
            if tensors or _has_adv(enc):
                view, k = _split(t._data, enc, [i._data for i in tensors])
            else:
                view, k = t._data, _decode(enc, ())
            view[k] = value._data if vt else value
        except ValueError as e:
            if not t._data.flags.writeable:
                raise RuntimeError("unsupported operation: more than one element of the written-to "
                                   "tensor refers to a single memory location. Please clone() the "
                                   "tensor before performing the operation.") from None
            raise RuntimeError(f"setitem: {e}") from None
        t._vc[0] += 1
        return t
    return dispatch_inplace(setitem_op, t, (t, value, *tensors), {"key": enc})


def _coords(key, idx):
    """Replace bool masks among `idx` by nonzero coordinates (for reads)."""
    if not any(i._data.dtype.kind == "b" for i in idx):
        return key, idx
    it = iter(idx)
    k2, i2 = [], []
    for k in key:
        if type(k) is tuple and k[0] == "t":
            i = next(it)
            if i._data.dtype.kind == "b":
                k = ("m", i._data.ndim)
                i = dispatch(nonzero_op, (i,))
            i2.append(i)
        k2.append(k)
    return tuple(k2), i2


def _read(g, key, idx):
    key, idx = _coords(key, idx)
    if idx or _has_adv(key):
        return dispatch(index_op, (g, *idx), {"key": key})
    return dispatch(getitem_op, (g,), {"key": key})


# -- the three indexing primitives ------------------------------------------------------

@op("getitem", kind="movement", dtype="keep", view=True, method=False)
def getitem_op(xp, a, *, key):
    """Basic indexing (ints, slices, None, ...): a view."""
    k = _decode(key, ())
    if Ellipsis not in k:
        k = k + (Ellipsis,)     # so a full int key gives a 0-dim view, not a scalar copy
    return a[k]


@getitem_op.backward
def _(g, meta, key):
    if not state.grad_enabled:          # a plain backward: one op, one pass
        return (dispatch(getitem_backward, (g,), {"key": key, "shape": tuple(meta.shapes[0])}),)
    # create_graph: setitem into zeros, which is differentiable
    z = g.new_zeros(meta.shapes[0])
    return (dispatch(setitem_op, (z, g), {"key": key}),)


@op("getitem_backward", kind="opaque", dtype="keep", differentiable=False, method=False,
    new_memory=True)
def getitem_backward(xp, g, *, key, shape):
    """getitem's gradient: zeros of the input's `shape` with g where `key` read (what
    setitem(zeros, key, g) gives, without copying the zeros once more). The backward
    of `q, k, v = qkv.split(C, 2)` makes three; a traced graph turns their sum into a
    cat (jit/passes.py)."""
    out = xp.zeros(shape, g.dtype)
    out[_decode(key, ())] = g
    return out


@getitem_backward.infer
def _(g, *, key, shape):
    return tuple(shape), g.dtype


def _walk(key, nd, idx_ndims):
    """Dims of the input each key entry covers: [(entry, first dim, count)]."""
    it = iter(idx_ndims)
    counts = []
    for k in key:
        if k is None or k is Ellipsis or (type(k) is tuple and k[0] == "b"):
            counts.append(0)
        elif type(k) is tuple and k[0] == "m":
            next(it)
            counts.append(k[1])
        elif type(k) is tuple and k[0] == "t":
            n = next(it)
            counts.append(n)
        else:
            counts.append(1)
    used = sum(counts)
    res, d = [], 0
    for k, n in zip(key, counts):
        if k is Ellipsis:
            d += nd - used
        res.append((k, d, n))
        d += n
    return res


@op("index", kind="movement", dtype="keep", method=False)
def index_op(xp, a, *idx, key):
    """Advanced indexing (index tensors among the key): a copy."""
    try:
        view, k = _split(a, key, idx)
        return view[k]
    except IndexError as e:
        raise IndexError(str(e).replace("for axis", "for dimension")) from None


@index_op.backward
def _(g, meta, *idx, key):
    z = g.new_zeros(meta.shapes[0])
    return (dispatch(setitem_op, (z, g, *idx), {"key": key, "accumulate": True}),) + \
        (None,) * len(idx)


@index_op.infer
def _(a, *idx, key):
    # run the key on a zero-strided stand-in whose indexed dims are at least 1 long
    shape = list(a.shape)
    for k, d, n in _walk(key, len(shape), [len(m.shape) if m.dtype is bool_ else 1 for m in idx]):
        if type(k) is tuple and k[0] in "tm":
            for j in range(d, d + n):
                shape[j] = max(shape[j], 1)
    stand_in = np.broadcast_to(np.zeros((), a.dtype.np), shape)
    arrays = [np.broadcast_to(np.zeros((), m.dtype.np), m.shape) for m in idx]
    view, k = _split(stand_in, key, arrays)
    return view[k].shape, a.dtype


@op("setitem", kind="movement", dtype="keep", method=False)
def setitem_op(xp, a, v, *idx, key, accumulate=False):
    """A copy of `a` with a[key] = v (or += v with accumulate=True, duplicates adding up)."""
    out = a.copy()
    if idx or _has_adv(key):
        view, k = _split(out, key, idx)
    else:
        view, k = out, _decode(key, ())
    try:
        if accumulate:
            _ufunc_at(xp, "add", view, k, v)
        else:
            view[k] = v
    except IndexError as e:
        raise IndexError(str(e).replace("for axis", "for dimension")) from None
    return out


@setitem_op.backward
def _(g, meta, needs, *idx, key, accumulate):
    ga = gv = None
    if needs[0]:
        ga = g if accumulate else dispatch(setitem_op, (g, 0, *idx), {"key": key})
    if needs[1]:
        gv = _read(g, key, idx)
    return (ga, gv) + (None,) * len(idx)


@setitem_op.infer
def _(a, v, *idx, key, accumulate=False):
    return a.shape, a.dtype


def _ufunc_at(xp, name, out, k, v):
    """out[k] (op)= v, unbuffered so that repeated indices all count."""
    if xp is np:
        getattr(np, name).at(out, k, v)
        return
    if name == "add":
        at = getattr(xp.add, "at", None)
        if at is None:                     # cupy < 13
            import cupyx
            at = cupyx.scatter_add
        at(out, k, v)
        return
    if name in ("maximum", "minimum") and out.dtype != np.float64:
        import cupyx   # cupy spells these ufunc.at as cupyx.scatter_*
        getattr(cupyx, "scatter_max" if name == "maximum" else "scatter_min")(out, k, v)
        return
    # cupy has no multiply.at, and its float64 scatter_max/min round through float32:
    # the host does these scatters (a copy each way), exact but slow
    def host(x):
        return x.get() if hasattr(x, "get") else x
    h = host(out)
    getattr(np, name).at(h, tuple(host(i) for i in k) if isinstance(k, tuple) else host(k), host(v))
    out[...] = xp.asarray(h)


# -- index_select, take, index_put/add/copy/fill -------------------------------------

def _dim_key(nd, dim):
    return (_ALL,) * _norm_dim(dim, nd) + (("t",),)


@composite("index_select")
def index_select(input, dim, index):
    """Entries of `input` along `dim` at the positions in the 1-D `index` (a copy)."""
    if index._data.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    if index._data.dtype.kind not in "iu":
        raise IndexError("index_select(): Expected dtype int32/int64 for index")
    nd = max(input._data.ndim, 1)
    x = input.reshape(1) if input._data.ndim == 0 else input
    out = dispatch(index_op, (x, index.reshape(-1)), {"key": _dim_key(nd, dim)})
    return out.reshape(()) if input._data.ndim == 0 else out


@composite("take")
def take(input, index):
    """`input.flatten()[index]`, shaped like `index`."""
    return dispatch(index_op, (input.reshape(-1), index), {"key": (("t",),)})


def _put(input, indices, values, accumulate, inplace):
    indices = tuple(slice(None) if i is None else i for i in indices)
    enc, tensors = _parse(input, indices, False)
    values = _value(input, values)
    args = (input, values, *tensors)
    attrs = {"key": enc, "accumulate": bool(accumulate)}
    return dispatch_inplace(setitem_op, input, args, attrs) if inplace else dispatch(setitem_op, args, attrs)


@composite("index_put")
def index_put(input, indices, values, accumulate=False):
    """A copy of `input` with input[indices] = values (+= with accumulate=True)."""
    return _put(input, indices, values, accumulate, False)


@composite("index_put_")
def index_put_(input, indices, values, accumulate=False):
    """In-place index_put."""
    return _put(input, indices, values, accumulate, True)


def _along_dim(input, dim, index, source, accumulate, inplace, name):
    if index._data.ndim > 1:
        raise IndexError(f"{name}(): Index is supposed to be a vector")
    key = _dim_key(input._data.ndim, dim)
    args = (input, _value(input, source), index.reshape(-1))
    attrs = {"key": key, "accumulate": accumulate}
    return dispatch_inplace(setitem_op, input, args, attrs) if inplace else dispatch(setitem_op, args, attrs)


@composite("index_add")
def index_add(input, dim, index, source, *, alpha=1):
    """A copy of `input` with alpha * source added at `index` along `dim` (repeats add up)."""
    return _along_dim(input, dim, index, source if alpha == 1 else source * alpha, True, False, "index_add")


@composite("index_add_")
def index_add_(input, dim, index, source, *, alpha=1):
    """In-place index_add."""
    return _along_dim(input, dim, index, source if alpha == 1 else source * alpha, True, True, "index_add_")


@composite("index_copy")
def index_copy(input, dim, index, source):
    """A copy of `input` with the slices at `index` along `dim` replaced by `source`."""
    return _along_dim(input, dim, index, source, False, False, "index_copy")


@composite("index_copy_")
def index_copy_(input, dim, index, source):
    """In-place index_copy."""
    return _along_dim(input, dim, index, source, False, True, "index_copy_")


@composite("index_fill")
def index_fill(input, dim, index, value):
    """A copy of `input` with the slices at `index` along `dim` set to `value`."""
    return _along_dim(input, dim, index, value, False, False, "index_fill")


@composite("index_fill_")
def index_fill_(input, dim, index, value):
    """In-place index_fill."""
    return _along_dim(input, dim, index, value, False, True, "index_fill_")


# -- masks ---------------------------------------------------------------------------------

@op("masked_fill", kind="elementwise", dtype="keep", cexpr="(b ? c : a)")
def masked_fill(xp, a, mask, value):
    """`a` with `value` wherever `mask` is True."""
    if mask.dtype != bool:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{np.dtype(mask.dtype).name.replace('int64', 'long')}")
    if getattr(value, "ndim", 0) != 0:
        raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got "
                           f"tensor with {value.ndim} dimension(s).")
    if a.dtype == np.float32 and type(a) is np.ndarray:
        from .elementwise import c_select
        out = c_select("masked_fill", (a, mask, np.asarray(value, np.float32)))
        if out is not None:
            return out
    return xp.where(mask, xp.asarray(value).astype(a.dtype), a)


@masked_fill.backward
def _(g, mask, needs):
    kept = masked_fill(g, mask, 0.0)
    return (kept if needs[0] else None), None, ((g - kept).sum() if needs[2] else None)


@composite("masked_select")
def masked_select(input, mask):
    """The 1-D tensor of `input`'s entries where `mask` (broadcast) is True."""
    if mask._data.dtype.kind != "b":
        raise RuntimeError(f"masked_select: expected BoolTensor for mask")
    from .movement import broadcast_tensors
    x, m = broadcast_tensors(input, mask)
    if x._data.ndim == 0:
        x, m = x.reshape(1), m.reshape(1)
    return getitem(x, m)


@op("nonzero", kind="opaque", dtype="keep", differentiable=False)
def nonzero_op(xp, a):
    """The (N, ndim) int64 coordinates of the non-zero entries."""
    return xp.argwhere(a).astype(xp.int64)


@nonzero_op.infer
def _(a):
    return (None, len(a.shape)), int64     # NOTE: N depends on the data


@nonzero_op.public
def nonzero(input, *, as_tuple=False):
    """Coordinates of non-zero entries: an (N, ndim) tensor, or one 1-D tensor per dim."""
    out = dispatch(nonzero_op, (input,))
    if not as_tuple:
        return out
    if input._data.ndim == 0:
        return (dispatch(nonzero_op, (input.reshape(1),)).reshape(-1),)
    return tuple(out[:, j] for j in range(input._data.ndim))


@composite("argwhere")
def argwhere(input):
    """Alias of nonzero(input)."""
    return dispatch(nonzero_op, (input,))


from . import scatter, sort  # noqa: E402,F401  (the rest of the family: gather/scatter, sorting)


# -- isin, unique_consecutive, tril_indices / triu_indices ------------------------------------
@composite("isin", method=False)
def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Whether each entry of `elements` occurs in `test_elements` (either may be a scalar);
    invert=True negates. Works by sorting test_elements and searching it.

    >>> import pyrch
    >>> pyrch.isin(pyrch.tensor([1, 2, 3]), pyrch.tensor([2, 5]))
    tensor([False,  True, False])
    """
    from .._creation import tensor
    from .sort import searchsorted, sort
    if not isinstance(elements, Tensor):
        elements = tensor(elements, device=test_elements.device)
    if not isinstance(test_elements, Tensor):
        test_elements = tensor(test_elements, device=elements.device)
    flat = test_elements.reshape(-1)
    m = flat.shape[0]
    if m == 0:
        found = (elements.unsqueeze(-1) == flat).any(-1)
    else:
        ordered = sort(flat).values
        at = searchsorted(ordered, elements).clamp(max=m - 1)
        found = index_select(ordered, 0, at.reshape(-1)).reshape(*elements.shape) == elements
    return found.logical_not() if invert else found


@composite("unique_consecutive")
def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """Collapse each run of equal consecutive values (or slices along `dim`) to one;
    optionally also the run each entry belongs to and the run lengths.

    >>> import pyrch
    >>> pyrch.tensor([1, 1, 2, 2, 1]).unique_consecutive()
    tensor([1, 2, 1])
    """
    from .._creation import ones, tensor
    from .rearrange import _cat, diff
    from .movement import narrow
    if dim is None:
        x, d, rest = input.reshape(-1), 0, ()
    else:
        d = _norm_dim(dim, input._data.ndim)
        x = input if input._data.ndim else input.reshape(1)
        rest = tuple(i for i in range(x._data.ndim) if i != d)
    n = x.shape[d]
    if n == 0:
        vals = x
        inv = tensor([], dtype=int64, device=input.device) if dim is not None else \
            x.reshape(*input.shape).long()
        counts = tensor([], dtype=int64, device=input.device)
    else:
        change = narrow(x, d, 1, n - 1) != narrow(x, d, 0, n - 1)
        if rest:
            change = change.any(rest)
        first = _cat([ones(1, dtype=bool_, device=input.device), change])
        starts = nonzero(first).reshape(-1)
        vals = index_select(x, d, starts)
        inv = first.long().cumsum(0) - 1
        if dim is None:
            inv = inv.reshape(*input.shape)
        counts = diff(starts, append=tensor([n], dtype=int64, device=input.device))
    if not return_inverse and not return_counts:
        return vals
    return (vals,) + ((inv,) if return_inverse else ()) + ((counts,) if return_counts else ())


def _tri_indices(row, col, offset, dtype, device, lower):
    from .._creation import arange
    if row < 0:
        raise RuntimeError(f"row must be non-negative, got{row}")
    if col < 0:
        raise RuntimeError(f"col must be non-negative, got{col}")
    step = arange(col, device=device).reshape(1, col) - arange(row, device=device).reshape(row, 1)
    keep = step <= offset if lower else step >= offset
    out = nonzero(keep).t().contiguous()
    return out if dtype is None or dtype is int64 else out.to(dtype)


@composite("tril_indices", method=False)
def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (2, N) row-major coordinates of the lower triangle (on and below diagonal `offset`)
    of a row x col matrix."""
    return _tri_indices(row, col, offset, dtype, device, True)


@composite("triu_indices", method=False)
def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (2, N) row-major coordinates of the upper triangle (on and above diagonal `offset`)
    of a row x col matrix."""
    return _tri_indices(row, col, offset, dtype, device, False)
