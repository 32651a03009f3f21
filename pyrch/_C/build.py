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

HEADERS = ["core.h", "vm.h", "gemm.h", "rows.h", "pool.h", "conv.h", "rowsel.h", "norm.h", "smallgemm.h", "attn.h", "steps.h"]

# declared in a header, defined in Python (see cdef_from_headers)
PYTHON_DEFINED = ["pyrch_py_step"]


def cdef_from_headers(names=HEADERS):
    """The cffi declarations, read from the C headers themselves (declared once):
    comments and preprocessor lines are dropped, structs, enums and prototypes kept."""
    import re
    out = []
    for name in names:
        with open(os.path.join(HERE, name)) as f:
            text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
        out.extend(line for line in text.splitlines() if not line.strip().startswith("#"))
    text = "\n".join(out)
    # functions the C side calls and Python defines (cffi def_extern): C files see an
    # ordinary prototype in the header, cffi must be told that Python provides them
    for name in PYTHON_DEFINED:
        text = re.sub(r"^(.*\b%s\s*\()" % name, r'extern "Python+C" \1', text, flags=re.M)
    return text


SOURCES = ["core.c", "vm.c", "gemm.c", "rows.c", "pool.c", "conv.c", "rowsel.c", "norm.c", "smallgemm.c", "attn.c", "steps.c"]


def write_opcodes():
    """Generate opcodes.h from the registry (imports pyrch's pure-Python op modules)."""
    from pyrch._C import codegen
    text = codegen.header(codegen.registry_rows())
    path = os.path.join(HERE, "opcodes.h")
    old = open(path).read() if os.path.exists(path) else None
    if old != text:
        with open(path, "w") as f:
            f.write(text)


def _blas():
    try:
        import scipy_openblas32 as sob
    except ImportError:
        return {}
    lib_dir = sob.get_lib_dir()
    return {"include_dirs": [sob.get_include_dir()], "library_dirs": [lib_dir],
            "libraries": [sob.get_library()], "extra_link_args": [f"-Wl,-rpath,{lib_dir}"]}


# .ci/sanitize.sh builds a second copy with AddressSanitizer and UBSan
_SANITIZE = (["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"]
             if os.environ.get("PYRCH_SANITIZE") == "1" else [])


def make_builder():
    write_opcodes()
    ffi = FFI()
    ffi.cdef(cdef_from_headers())
    kw = _blas()
    header = "".join(f'#include "{h}"\n' for h in HEADERS)

    ffi.set_source(
        "pyrch._C._pyrch_c", header,
        sources=[os.path.join("pyrch", "_C", s) for s in SOURCES],
        # headers too, so a regenerated opcodes.h (a new fusable op) rebuilds the extension
        depends=[os.path.join("pyrch", "_C", h) for h in HEADERS + ["opcodes.h", "vmath.h"]],
        include_dirs=[HERE] + kw.get("include_dirs", []),
        library_dirs=kw.get("library_dirs", []),
        libraries=kw.get("libraries", []) + ["m", "dl"],
        extra_compile_args=["-O3", "-std=gnu99", "-fno-strict-aliasing", "-fopenmp-simd", "-pthread",
                            "-fno-math-errno", "-fno-trapping-math",
                            # no fused multiply-add: a*b+c must round like numpy's two ops
                            "-ffp-contract=off"] + _SANITIZE,
        extra_link_args=kw.get("extra_link_args", []) + ["-pthread"] + _SANITIZE,
    )
    return ffi


ffibuilder = make_builder()

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=os.path.join(HERE, "..", ".."), verbose=True)
