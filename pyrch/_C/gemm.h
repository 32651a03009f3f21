/* Batched GEMM through OpenBLAS (or MKL, float32) with a fused epilogue (bias, activation).
 *
 * Row-major: C[b] = act(alpha * op(A[b]) @ op(B[b]) + beta * C[b] + bias).
 * All pointers are borrowed for the call; per-batch strides are in elements
 * (0 broadcasts one matrix over the batch). Every extent is bounds-checked
 * against the byte size of its buffer before BLAS is called. `nthreads` parts
 * (batch entries, row blocks or column blocks) run on the VM's thread pool, each
 * calling OpenBLAS (MKL for float32 where pyrch_use_mkl loaded it) on one thread;
 * products under 2 MFLOP run as one part. */
#ifndef PYRCH_GEMM_H
#define PYRCH_GEMM_H
#include <stdint.h>

/* PYRCH_ACT_GELU_D: with t = op(A) @ op(B) + bias, C = gelu(t) and aux = gelu'(t), the
 * derivative a training step saves for its backward (float32, one batch entry, beta 0;
 * aux must not overlap A, B, C or the bias), computed as the traced plan's elementwise
 * chain computes them (pyrch/jit/passes.py gelu_derivative_steps; a test holds the two
 * to the same bits): cdf = (erf(t / sqrt 2) + 1) * 0.5, C = t * cdf, aux = cdf + t *
 * (exp(t * t * -0.5) * (1 / sqrt(2 pi))). */
/* PYRCH_ACT_MUL: C = (op(A) @ op(B) + bias) * aux, aux read (float32, one batch entry,
 * beta 0; aux must not overlap C): the backward's gradient times the saved derivative. */
enum { PYRCH_ACT_NONE = 0, PYRCH_ACT_RELU = 1, PYRCH_ACT_GELU_TANH = 2, PYRCH_ACT_TANH = 3,
       PYRCH_ACT_SIGMOID = 4, PYRCH_ACT_GELU = 5, PYRCH_ACT_GELU_D = 6, PYRCH_ACT_MUL = 7 };
enum { PYRCH_BIAS_NONE = 0, PYRCH_BIAS_COL = 1, PYRCH_BIAS_ROW = 2 };

typedef struct {
    int32_t dtype, trans_a, trans_b, bias_kind, act, nthreads;
    int64_t batch, m, n, k;
    const char *a; int64_t lda, stride_a, nbytes_a;
    const char *b; int64_t ldb, stride_b, nbytes_b;
    char *c; int64_t ldc, stride_c, nbytes_c;
    const char *bias; int64_t nbytes_bias;
    double alpha, beta;
    /* two-level batches (attention's heads split off a projection, then transposed: the
     * batch dims do not collapse into one stride): batch entry b is A + (b / batch_in) *
     * stride_a + (b % batch_in) * stride_a_in, the same for B; C is b * stride_c, or
     * (b / batch_in) * stride_c + (b % batch_in) * stride_c_in when stride_c_in > 0
     * (a product written straight into the heads-merged layout its consumer wants).
     * batch_in <= 1: one level (stride_a, stride_b, stride_c only). */
    int64_t batch_in, stride_a_in, stride_b_in, stride_c_in;
    /* PYRCH_ACT_GELU_D's second output, PYRCH_ACT_MUL's second input: m x n, leading
     * dimension ldaux, nbytes_aux bytes */
    char *aux; int64_t ldaux, nbytes_aux;
} pyrch_gemm_t;

int pyrch_gemm(const pyrch_gemm_t *g);
/* Use Intel MKL's sgemm (single-threaded, one call per part) for the float32 products
 * OpenBLAS would take, from the libmkl_rt at `path`; 1 when loaded, 0 when it cannot
 * be (then nothing changes). pyrch_set_mkl(0) goes back to OpenBLAS, (1) to MKL if it
 * loaded; it returns whether MKL is now in use (A/B measurements and tests). */
int pyrch_use_mkl(const char *path);   /* also keeps MKL's BLAS to one thread per call */
int pyrch_set_mkl(int on);
/* 1 when MKL runs a threading layer (GNU OpenMP) and pyrch asks it for one thread per
 * call on the calling thread; 0 under the sequential layer (see pyrch_use_mkl) */
int pyrch_mkl_threaded(void);

#endif
