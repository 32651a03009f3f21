"""Tensor creation: from data, filled, ranges. Random creation lives in ops/random.py.

>>> import pyrch
>>> pyrch.zeros(2, 3).shape
pyrch.Size([2, 3])
"""
import numpy as np

from ._backend import CPU, device as _device, to_device, xp_of
from ._dtype import NP2DT, as_dtype, bool_, get_default_dtype, int64, dtype as _dtype_cls
from ._tensor import Tensor


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


def _infer_dtype(data):
    """torch.tensor's dtype inference: bools, ints -> int64, floats -> default float."""
    if isinstance(data, np.ndarray):
        return NP2DT.get(data.dtype) or _fail_dtype(data.dtype)
    kinds = set()
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, Tensor):
            kinds.add(x.dtype)
        elif isinstance(x, bool) or isinstance(x, np.bool_):
            kinds.add(bool_)
        elif isinstance(x, (int, np.integer)):
            kinds.add(int64)
        elif isinstance(x, (float, np.floating)):
            kinds.add(get_default_dtype())
        else:
            raise TypeError(f"Could not infer dtype of {type(x).__name__}")
    if not kinds:
        return get_default_dtype()
    best = None
    for k in kinds:
        best = k if best is None or k._cat > best._cat or (k._cat == best._cat and k._rank > best._rank) else best
    return best


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


def zeros(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    """A tensor of zeros."""
    return _filled(size, 0, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    """A tensor of ones."""
    return _filled(size, 1, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None,
          memory_format=None, pin_memory=False):
    """An uninitialised tensor (pyrch zero-fills nothing; do not read before writing)."""
    return _filled(size, 0, dtype, device, requires_grad, empty=True)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    """A tensor filled with `fill_value`; dtype follows the value as in torch."""
    if dtype is None:
        dtype = _infer_dtype(fill_value) if not isinstance(fill_value, Tensor) else fill_value.dtype
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    return _filled((size,) if isinstance(size, int) else (tuple(size),), fill_value, dtype, device,
                   requires_grad)


def _like(fn, t, dtype, device, requires_grad, *extra):
    return fn(*extra, dtype=dtype or t.dtype, device=device or t.device,
              requires_grad=requires_grad) if not extra else None


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


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    """Values from start to end (exclusive) by step; int64 unless a bound is a float."""
    if end is None:
        start, end = 0, start
    vals = [float(v) if isinstance(v, Tensor) else v for v in (start, end, step)]
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if dtype is None:
        dtype = get_default_dtype() if any(isinstance(v, float) for v in vals) else int64
    dt = as_dtype(dtype)
    n = max(int(np.ceil((vals[1] - vals[0]) / vals[2])), 0)
    arr = (vals[0] + np.arange(n, dtype=np.float64) * vals[2]).astype(dt.np) if dt._cat == 2 \
        else np.arange(vals[0], vals[1], vals[2], dtype=dt.np)
    return _finish(arr, dt, device, requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    """`steps` evenly spaced values from start to end inclusive."""
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    arr = np.linspace(float(start), float(end), int(steps), dtype=np.float64).astype(dt.np)
    return _finish(arr, dt, device, requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False, out=None,
             layout=None):
    """base ** linspace(start, end, steps)."""
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    arr = (float(base) ** np.linspace(float(start), float(end), int(steps))).astype(dt.np)
    return _finish(arr, dt, device, requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    """The identity matrix (n x m)."""
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    return _finish(np.eye(n, n if m is None else m, dtype=dt.np), dt, device, requires_grad)


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False):
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    return _finish(np.array(s, dtype=dt.np), dt, device, requires_grad)
