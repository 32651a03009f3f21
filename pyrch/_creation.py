"""Tensor creation: from data, filled, ranges. Random creation lives in ops/random.py.

>>> import pyrch
>>> pyrch.zeros(2, 3).shape
pyrch.Size([2, 3])
"""
import numpy as np

from ._backend import CPU, device as _device, to_device, xp_of
from ._dtype import NP2DT, as_dtype, bool_, get_default_dtype, int64, dtype as _dtype_cls
from ._tensor import Tensor


def _size_kw(size, kw, name):
    """The size given positionally or as torch's `size=` keyword."""
    if kw:
        extra = set(kw) - {"size"}
        if extra:
            raise TypeError(f"{name}() got an unexpected keyword argument {sorted(extra)[0]!r}")
        if size:
            raise TypeError(f"{name}() got multiple values for argument 'size'")
        return (kw["size"],)
    return size


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = int(s)
        if not isinstance(s, (int, np.integer)):
            raise TypeError(f"size must be a sequence of ints, got {type(s).__name__}")
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
        out.append(int(s))
    return tuple(out)


def _finish(arr, dtype, device, requires_grad):
    dev = CPU if device is None else _device(device)
    if dev is not CPU:
        arr = to_device(arr, dev)
    t = Tensor._wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _out(t, out):
    """Write a fresh result into torch's `out=` tensor, which must already have its shape."""
    if out is None:
        return t
    if tuple(out.shape) != tuple(t.shape):
        raise RuntimeError(f"out= has shape {list(out.shape)} but the result has shape "
                           f"{list(t.shape)}; pyrch does not resize out= tensors")
    return out.copy_(t)


def _infer_dtype(data):
    """torch.tensor's dtype inference: bools, ints -> int64, floats -> default float;
    numpy scalars and arrays keep their own dtype."""
    if isinstance(data, np.ndarray):
        return NP2DT.get(data.dtype) or _fail_dtype(data.dtype)
    best = None
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(x)
            continue
        if isinstance(x, Tensor):
            k = x.dtype
        elif isinstance(x, (np.ndarray, np.generic)):
            k = NP2DT.get(x.dtype) or _fail_dtype(x.dtype)
        elif isinstance(x, bool):
            k = bool_
        elif isinstance(x, int):
            k = int64
        elif isinstance(x, float):
            k = get_default_dtype()
        else:
            raise TypeError(f"Could not infer dtype of {type(x).__name__}")
        if best is None or k._cat > best._cat or (k._cat == best._cat and k._rank > best._rank):
            best = k
    return get_default_dtype() if best is None else best


def _fail_dtype(npdt):
    raise TypeError(f"can't convert np.ndarray of type {npdt}. The only supported types are: "
                    "float64, float32, float16, int64, int32, int16, int8, uint8, and bool.")


def _to_host(data):
    if isinstance(data, Tensor):
        return data._host()
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in data):
        return [_to_host(x) for x in data]
    return data


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of `data` (nested lists, numbers, arrays, tensors)."""
    if isinstance(data, Tensor):
        dt = as_dtype(dtype) if dtype is not None else data.dtype
        arr = data._data.astype(dt.np, copy=True)
        if device is not None and _device(device) is not data.device:
            arr = to_device(arr, _device(device))
        t = Tensor._wrap(arr)
        return t.requires_grad_(True) if requires_grad else t
    if hasattr(data, "__cuda_array_interface__") and not isinstance(data, np.ndarray):
        from ._backend import cupy
        arr = cupy().array(data, copy=True)
        if dtype is not None:
            arr = arr.astype(as_dtype(dtype).np)
        t = Tensor._wrap(arr)
        return t.requires_grad_(True) if requires_grad else t
    dt = as_dtype(dtype) if dtype is not None else _infer_dtype(data)
    arr = np.array(_to_host(data), dtype=dt.np)
    return _finish(arr, dt, device, requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like tensor(), but shares memory with a numpy array or tensor when it can."""
    if isinstance(data, Tensor):
        return data.to(dtype=dtype, device=device)
    if isinstance(data, np.ndarray) and (device is None or _device(device) is CPU):
        dt = as_dtype(dtype) if dtype is not None else (NP2DT.get(data.dtype) or _fail_dtype(data.dtype))
        return Tensor._wrap(data if data.dtype == dt.np else data.astype(dt.np))
    return tensor(data, dtype=dtype, device=device)


asarray = as_tensor


def from_numpy(ndarray):
    """A tensor sharing memory with `ndarray` (writes show through both)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    if ndarray.dtype not in NP2DT:
        _fail_dtype(ndarray.dtype)
    return Tensor._wrap(ndarray)


def from_dlpack(ext):
    """A tensor sharing memory with any DLPack producer (numpy, cupy, torch)."""
    dev = getattr(ext, "__dlpack_device__", lambda: (1, 0))()
    if dev[0] == 1:
        return Tensor._wrap(np.from_dlpack(ext))
    from ._backend import cupy
    return Tensor._wrap(cupy().from_dlpack(ext))


def _filled(size, value, dtype, device, requires_grad, empty=False):
    shape = _shape(size)
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    dev = CPU if device is None else _device(device)
    xp = xp_of(dev)
    if dev is not CPU:
        with xp.cuda.Device(dev.index):
            arr = xp.full(shape, value, dtype=dt.np)
    else:
        arr = np.empty(shape, dtype=dt.np) if empty else np.full(shape, value, dtype=dt.np)
    t = Tensor._wrap(arr)
    return t.requires_grad_(True) if requires_grad else t


def zeros(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None, **kw):
    """A tensor of zeros (`size` may also be passed as `size=`)."""
    return _out(_filled(_size_kw(size, kw, "zeros"), 0, dtype, device, requires_grad), out)


def ones(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None, **kw):
    """A tensor of ones (`size` may also be passed as `size=`)."""
    return _out(_filled(_size_kw(size, kw, "ones"), 1, dtype, device, requires_grad), out)


def empty(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None,
          memory_format=None, pin_memory=False, **kw):
    """An uninitialised tensor (pyrch zero-fills nothing; do not read before writing)."""
    return _out(_filled(_size_kw(size, kw, "empty"), 0, dtype, device, requires_grad, empty=True), out)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    """A tensor filled with `fill_value`; dtype follows the value as in torch."""
    if dtype is None:
        dtype = _infer_dtype(fill_value) if not isinstance(fill_value, Tensor) else fill_value.dtype
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    shape = (size,) if isinstance(size, int) else (tuple(size),)
    return _out(_filled(shape, fill_value, dtype, device, requires_grad), out)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None, layout=None):
    """Zeros with `input`'s shape, dtype and device."""
    return _filled((tuple(input.shape),), 0, dtype or input.dtype, device or input.device, requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None, layout=None):
    """Ones with `input`'s shape, dtype and device."""
    return _filled((tuple(input.shape),), 1, dtype or input.dtype, device or input.device, requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None, layout=None):
    """An uninitialised tensor like `input`."""
    return _filled((tuple(input.shape),), 0, dtype or input.dtype, device or input.device,
                   requires_grad, empty=True)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False, memory_format=None,
              layout=None):
    """`fill_value` with `input`'s shape, dtype and device."""
    return _filled((tuple(input.shape),), fill_value, dtype or input.dtype, device or input.device,
                   requires_grad)


def _num(v):
    return v.item() if isinstance(v, Tensor) else v


def arange(start=None, end=None, step=1, *, dtype=None, device=None, requires_grad=False, out=None,
           layout=None):
    """Values from start to end (exclusive) by step; int64 unless a bound is a float.

    >>> arange(3)
    tensor([0, 1, 2])
    """
    if start is None and end is None:
        raise TypeError("arange() missing required argument 'end'")
    if end is None:
        start, end = 0, start
    elif start is None:             # arange(end=3)
        start = 0
    start, end, step = _num(start), _num(end), _num(step)
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (step > 0 and end < start) or (step < 0 and end > start):
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    if dtype is None:
        dtype = get_default_dtype() if any(isinstance(v, float) for v in (start, end, step)) else int64
    dt = as_dtype(dtype)
    if dt is int64:
        # torch computes int64 ranges on the truncated bounds
        xs, xe, xp = int(start), int(end), int(step)
        sgn = (xp > 0) - (xp < 0)
        n = max((xe - xs + xp - sgn) // xp, 0)     # the signs agree, so // truncates
        arr = xs + xp * np.arange(n, dtype=np.int64)
    else:
        n = max(int(np.ceil((float(end) - float(start)) / float(step))), 0)
        if dt.is_floating_point:
            # accumulate in double, round once (torch's scalar kernel)
            arr = (float(start) + float(step) * np.arange(n, dtype=np.float64)).astype(dt.np)
        else:
            arr = (int(start) + int(step) * np.arange(n, dtype=np.int64)).astype(dt.np)
    return _out(_finish(arr, dt, device, requires_grad), out)


def _lin(start, end, steps, dt):
    """torch's linspace arithmetic: from `start` up to halfway, from `end` back after it,
    in the result dtype (double for integer results). NOTE: torch's vectorised CPU
    kernels round some float32 elements differently (by up to 1 ulp, varying by CPU)."""
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    work = dt.np if dt.is_floating_point else np.dtype(np.float64)
    start, end = _num(start), _num(end)
    if not dt.is_floating_point:
        start, end = int(start), int(end)     # torch casts the bounds to the result type first
    s, e = work.type(start), work.type(end)
    if steps == 1:
        return np.array([s], dtype=work)
    step = (e - s) / work.type(steps - 1) if steps > 1 else work.type(0)
    idx = np.arange(steps)
    half = steps // 2
    lo = s + step * idx[:half].astype(work)
    hi = e - step * (steps - idx[half:] - 1).astype(work)
    return np.concatenate((lo, hi)).astype(work, copy=False)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    """`steps` evenly spaced values from start to end inclusive.

    >>> linspace(0, 1, 5)
    tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000])
    """
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    return _out(_finish(_lin(start, end, int(steps), dt).astype(dt.np), dt, device, requires_grad), out)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False, out=None,
             layout=None):
    """base ** linspace(start, end, steps), the power taken in double as torch does."""
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    expo = _lin(start, end, int(steps), dt).astype(np.float64)
    return _out(_finish(np.power(float(base), expo).astype(dt.np), dt, device, requires_grad), out)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    """The identity matrix (n x m)."""
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    return _out(_finish(np.eye(n, n if m is None else m, dtype=dt.np), dt, device, requires_grad), out)


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False):
    """A 0-dim tensor holding the number `s` (default float dtype)."""
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    return _finish(np.array(s, dtype=dt.np), dt, device, requires_grad)


def broadcast_shapes(*shapes):
    """The shape that tensors of `shapes` broadcast to (ints count as 1-d shapes).

    >>> broadcast_shapes((2, 1), (3,))
    pyrch.Size([2, 3])
    """
    from ._tensor import Size
    shapes = [(s,) if isinstance(s, (int, np.integer)) else tuple(s) for s in shapes]
    nd = max((len(s) for s in shapes), default=0)
    out = [1] * nd
    for i, s in enumerate(shapes):
        for j, n in enumerate(s, nd - len(s)):
            if n < 0:
                raise RuntimeError(f"Trying to create tensor with negative dimension {n}: {list(s)}")
            if out[j] == 1:
                out[j] = n
            elif n != 1 and n != out[j]:
                raise RuntimeError(
                    f"Attempting to broadcast a dimension of length {n} at {j - nd}! Mismatching "
                    f"argument at index {i} had {s}; but expected shape should be broadcastable "
                    f"to {out[nd - len(s):]}")
    return Size(out)

