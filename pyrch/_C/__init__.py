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

def _preload_blas():
    """Load the OpenBLAS that the extension links against from where pip installed it.

    The extension's rpath names the build environment's copy, which pip's build
    isolation deletes after building; loading the runtime dependency's library
    first (globally) lets the dynamic linker resolve it from here instead.
    """
    try:
        import ctypes
        import os
        import scipy_openblas32 as sob
        path = os.path.join(sob.get_lib_dir(), "lib" + sob.get_library() + ".so")
        if os.path.exists(path):
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except (ImportError, OSError, AttributeError):
        pass      # the import below reports what is missing


_preload_blas()

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


_stale = None


def stale():
    """True when the compiled opcode table differs from the registry's (rebuild needed)."""
    global _stale, _warned
    if not available:
        return True
    if _stale is None:
        from . import codegen
        built = _ffi.string(_lib.pyrch_opcode_hash()).decode()
        _stale = built != codegen.table_hash(codegen.registry_rows())
        if _stale and not _warned:
            warnings.warn("pyrch's C extension was built from an older op registry; traced graphs "
                          "run on the reference executor until you rebuild it with "
                          "`pip install -e .`", RuntimeWarning, stacklevel=2)
            _warned = True
    return _stale


_threads = [0]


def set_num_threads(n):
    """Threads the C executor (and, through it, BLAS) may use."""
    if n < 1:
        raise ValueError("set_num_threads expects a positive integer")
    _threads[0] = int(n)


def get_num_threads():
    if _threads[0] == 0:
        import os
        _threads[0] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return _threads[0]
