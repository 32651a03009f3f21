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

typedef struct {
    int32_t n_instr, n_regs, n_in, n_const, n_out, ndim, dtype, nthreads;
    const int32_t *code;
    const double *consts;
    const int64_t *shape;
    char *const *in_ptr;
    const int32_t *in_dtype;
    const int64_t *in_strides;
    const int64_t *in_nbytes;
    char *const *out_ptr;
    const int32_t *out_dtype;
    const int64_t *out_strides;
    const int64_t *out_nbytes;
    const int32_t *out_reg;
} pyrch_fused_t;
int pyrch_fused_validate(const pyrch_fused_t *p);
int pyrch_fused_run(const pyrch_fused_t *p);
int pyrch_n_opcodes(void);
const char *pyrch_opcode_hash(void);
const char *pyrch_opcode_name(int op);
int pyrch_opcode_arity(int op);

typedef struct {
    int32_t dtype, trans_a, trans_b, bias_kind, act, nthreads;
    int64_t batch, m, n, k;
    const char *a; int64_t lda, stride_a, nbytes_a;
    const char *b; int64_t ldb, stride_b, nbytes_b;
    char *c; int64_t ldc, stride_c, nbytes_c;
    const char *bias; int64_t nbytes_bias;
    double alpha, beta;
} pyrch_gemm_t;
int pyrch_gemm(const pyrch_gemm_t *g);
void pyrch_blas_set_threads(int n);
"""

SOURCES = ["core.c", "vm.c", "gemm.c"]


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
    ffi.cdef(CDEF)
    kw = _blas()
    header = '#include "core.h"\n#include "vm.h"\n#include "gemm.h"\n'

    ffi.set_source(
        "pyrch._C._pyrch_c", header,
        sources=[os.path.join("pyrch", "_C", s) for s in SOURCES],
        include_dirs=[HERE] + kw.get("include_dirs", []),
        library_dirs=kw.get("library_dirs", []),
        libraries=kw.get("libraries", []) + ["m"],
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
