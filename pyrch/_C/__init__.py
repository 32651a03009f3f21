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

mkl = None      # the libmkl_rt whose sgemm the extension calls, or None (OpenBLAS)


def _find_mkl():
    """libmkl_rt from the `mkl` wheel (it installs into the environment's lib/), unless
    PYRCH_BLAS=openblas. Its float32 GEMMs match PyTorch's (the same library); without
    it pyrch runs every product on OpenBLAS and its own kernels."""
    import glob
    import os
    import sys
    if os.environ.get("PYRCH_BLAS", "").lower() == "openblas":
        return None
    for root in dict.fromkeys((sys.prefix, sys.exec_prefix, sys.base_prefix)):
        found = sorted(glob.glob(os.path.join(root, "lib", "libmkl_rt.so*")))
        if found:
            return found[-1]
    return None


if available and hasattr(_lib, "pyrch_use_mkl"):
    _path = _find_mkl()
    if _path and _lib.pyrch_use_mkl(_path.encode()):
        mkl = _path

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
_np_blas = []


def _numpy_blas():
    """(set, get) thread-count functions of the OpenBLAS numpy links, or None.

    Found among the loaded shared libraries by their exported names (numpy's
    wheels rename OpenBLAS's symbols); the OpenBLAS the extension links
    (scipy_openblas32) is set per GEMM call instead.
    """
    if not _np_blas:
        _np_blas.append(None)
        try:
            import ctypes
            import re
            import numpy  # noqa: F401  (loads its BLAS)
            with open("/proc/self/maps") as f:
                paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so[\w.-]*)", f.read())))
            for path in paths:
                if "scipy_openblas32" in path:
                    continue
                lib = ctypes.CDLL(path)
                for s, g in (("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
                             ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
                             ("openblas_set_num_threads", "openblas_get_num_threads")):
                    if hasattr(lib, s) and hasattr(lib, g):
                        fs, fg = getattr(lib, s), getattr(lib, g)
                        fs.argtypes, fs.restype, fg.restype = [ctypes.c_int], None, ctypes.c_int
                        _np_blas[0] = (fs, fg)
                        break
                if _np_blas[0]:
                    break
        except (OSError, AttributeError):
            pass
    return _np_blas[0]


def _numpy_blas_threads():
    """How many threads numpy's OpenBLAS may use alongside pyrch: one while the C
    extension runs pyrch's GEMMs on its own pool (an OpenBLAS worker spins on its
    core for ~0.1 s after every multi-threaded call, even a 1 x 1024 @ 1024 x 128
    bias gradient, and halved the pool's speed on that core), else pyrch's count."""
    return 1 if available else get_num_threads()


def set_num_threads(n):
    """Threads pyrch may use on CPU. GEMMs and fused elementwise programs share one
    pool of this many threads (the C executor's; each GEMM part calls OpenBLAS on
    one thread), so BLAS and pyrch never oversubscribe the cores. numpy's own
    OpenBLAS, which runs the small products pyrch leaves to numpy, stays on one
    thread while the extension is loaded (see `_numpy_blas_threads`).

    >>> import pyrch
    >>> pyrch.set_num_threads(1); pyrch.get_num_threads()
    1
    >>> pyrch.set_num_threads(2)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads expects a positive integer, got {n!r}")
    _threads[0] = int(n)
    blas = _numpy_blas()
    if blas is not None:
        blas[0](_numpy_blas_threads())


def get_num_threads():
    """The thread count set by `set_num_threads` (all usable cores by default)."""
    if _threads[0] == 0:
        import os
        _threads[0] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return _threads[0]


if available:
    # pyrch's GEMMs run on the extension's pool: keep numpy's OpenBLAS workers idle
    _blas = _numpy_blas()
    if _blas is not None:
        _blas[0](1)
