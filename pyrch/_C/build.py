"""cffi builder for pyrch/_C, run by setup.py at install time.

Compiles the C sources in this folder into the extension `pyrch._C._pyrch_c`
and links the optimised BLAS that the `scipy-openblas32` wheel ships (its
headers, library and an rpath to it), so GEMM steps call sgemm/dgemm directly.
This file must not import pyrch._C (it runs before that exists).
"""
import os
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

CDEF = """
int pyrch_abi_version(void);
long long pyrch_checked_sum_i64(const long long *xs, long long n, long long *out);
"""

SOURCES = ["core.c"]


def _blas():
    try:
        import scipy_openblas32 as sob
    except ImportError:
        return {}
    lib_dir = sob.get_lib_dir()
    return {"include_dirs": [sob.get_include_dir()], "library_dirs": [lib_dir],
            "libraries": [sob.get_library()], "extra_link_args": [f"-Wl,-rpath,{lib_dir}"]}


def make_builder():
    ffi = FFI()
    ffi.cdef(CDEF)
    kw = _blas()
    with open(os.path.join(HERE, "core.h")) as f:
        header = f.read()
    ffi.set_source(
        "pyrch._C._pyrch_c", header,
        sources=[os.path.join("pyrch", "_C", s) for s in SOURCES],
        include_dirs=[HERE] + kw.get("include_dirs", []),
        library_dirs=kw.get("library_dirs", []),
        libraries=kw.get("libraries", []) + ["m"],
        extra_compile_args=["-O3", "-std=c99", "-fno-strict-aliasing"],
        extra_link_args=kw.get("extra_link_args", []),
    )
    return ffi


ffibuilder = make_builder()

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=os.path.join(HERE, "..", ".."), verbose=True)
