"""Devices and the array modules behind them: numpy for 'cpu', cupy for 'cuda'.

Only op forwards, this file and the executors touch `xp` directly.

>>> import pyrch
>>> pyrch.device("cpu")
device(type='cpu')
"""
import numpy as np

_cupy = None


def cupy():
    """Import cupy on first use; raise a clear error where it is missing."""
    global _cupy
    if _cupy is None:
        try:
            import cupy as cp
        except ImportError as e:
            raise RuntimeError("CUDA tensors need cupy: pip install -e .[cuda] "
                               "(cupy-cuda12x) on a machine with an NVIDIA GPU") from e
        from .cuda import is_available
        if not is_available():
            raise RuntimeError("CUDA tensors need a CUDA GPU: cupy is installed but sees no device "
                               "(no NVIDIA driver, or none that this cupy build supports)")
        _cupy = cp
        from .cuda import install_memory_hook   # peak-memory tracking for pyrch.cuda
        install_memory_hook(cp)
    return _cupy


class device:
    """Where a tensor lives: `device('cpu')`, `device('cuda')`, `device('cuda', 1)`."""
    __slots__ = ("type", "index")
    _cache = {}

    def __new__(cls, spec, index=None):
        if isinstance(spec, device):
            return spec
        key = (spec, index)
        hit = cls._cache.get(key)
        if hit is not None:
            return hit
        if isinstance(spec, int):
            typ, idx = "cuda", spec
        else:
            typ, _, rest = str(spec).partition(":")
            idx = int(rest) if rest else index
        if typ not in ("cpu", "cuda"):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {spec}")
        if typ == "cuda" and idx is None:
            idx = 0
        canon = (typ, idx)
        self = cls._cache.get(canon)
        if self is None:
            self = object.__new__(cls)
            object.__setattr__(self, "type", typ)
            object.__setattr__(self, "index", idx)
            cls._cache[canon] = self
        cls._cache[key] = self
        return self

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return self is other

    def __hash__(self):
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (str(self),))


CPU = device("cpu")


def xp_of(dev):
    """The array module that computes on `dev`."""
    return np if dev is CPU else cupy()


def device_of(arr):
    """The device an array lives on."""
    if isinstance(arr, np.ndarray):
        return CPU
    return device("cuda", arr.device.id)


def to_device(arr, dev):
    """Copy an array to `dev` (no copy when already there)."""
    src = device_of(arr)
    if src is dev:
        return arr
    if dev is CPU:
        return arr.get()
    cp = cupy()
    with cp.cuda.Device(dev.index):
        return cp.asarray(arr)


def _keep_freed_memory():
    """Ask glibc to keep freed large blocks for reuse instead of returning them to the OS.

    Without this, every temporary above 128 KiB is a fresh mmap: page faults
    and zero-filling cost more than the arithmetic (an MLP training step ran
    twice as slow). PyTorch gets the same effect from its allocator. Set
    PYRCH_MALLOPT=0 to leave the C library's defaults alone.
    """
    import os
    import sys
    if os.environ.get("PYRCH_MALLOPT", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 1 << 30) and libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False   # not glibc (musl, ...): nothing to tune


MALLOPT = _keep_freed_memory()
