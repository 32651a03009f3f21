"""The C executor extension, built by cffi at `pip install` time.

`available` says whether it loaded. If it is missing (or stale), pyrch warns
once, naming the fix, and the jit falls back to the reference executor;
`PYRCH_C=0` forces that path.
"""
import warnings

from .._config import flags

_lib = _ffi = None
available = False
error = None

try:
    from ._pyrch_c import ffi as _ffi, lib as _lib  # noqa: F401
    available = True
except ImportError as e:  # pragma: no cover - exercised when the build is missing
    error = e

_warned = False


def lib():
    """The loaded cffi `lib`, or None (with a one-time warning) when unavailable or disabled."""
    global _warned
    if not flags.c:
        return None
    if not available:
        if not _warned:
            warnings.warn(f"pyrch's C extension is not built ({error}); traced graphs run on the "
                          "slower reference executor. Fix: `pip install -e .` in the pyrch "
                          "checkout (needs a C compiler).", RuntimeWarning, stacklevel=2)
            _warned = True
        return None
    return _lib


def ffi():
    return _ffi


def checked_sum(values):
    """Sum int64 values in C (a smoke test that the extension works)."""
    import numpy as np
    arr = np.ascontiguousarray(values, dtype=np.int64)
    out = _ffi.new("long long *")
    rc = _lib.pyrch_checked_sum_i64(_ffi.cast("const long long *", arr.ctypes.data), arr.size, out)
    if rc != 0:
        raise ValueError("pyrch_checked_sum_i64 rejected its input")
    return int(out[0])
