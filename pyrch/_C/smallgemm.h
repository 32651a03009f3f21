/* float32 GEMM kernels for products with one side of at most PYRCH_SMALL_DIM
 * (see smallgemm.c). gemm.c asks pyrch_small_sgemm_kind which kernel, if any,
 * takes a product, then runs it part by part with pyrch_small_sgemm. */
#ifndef PYRCH_SMALLGEMM_H
#define PYRCH_SMALLGEMM_H
#include <stdint.h>

#define PYRCH_SMALL_DIM 32
/* medium products (both sides over PYRCH_SMALL_DIM, any layout): the NN kernel over
 * packed 128 x 64 panels of B (and strips of A when A is stored transposed) */
#define PYRCH_MID_K 1024
#define PYRCH_MID_M 64
enum { PYRCH_SMALL_NONE = 0, PYRCH_SMALL_NN = 1, PYRCH_SMALL_NT = 2, PYRCH_MID_NN = 3,
       PYRCH_MID_NNP = 4 };

/* 0 (OpenBLAS takes it), PYRCH_SMALL_NN, PYRCH_SMALL_NT, PYRCH_MID_NN or PYRCH_MID_NNP
 * (B row-major or stored transposed: packed a 128 x 64 panel at a time); always 0
 * without AVX-512F or after pyrch_set_small_gemm(0). gemm.c splits a PYRCH_MID_*
 * product by columns, so each thread packs or reads only its own panels of B. */
int pyrch_small_sgemm_kind(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k);
/* C (m x n, ldc) = op(A) @ op(B) with the kernel `kind`; 1 when done, 0 when not */
int pyrch_small_sgemm(int kind, int trans_a, int64_t m, int64_t n, int64_t k, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc);
/* C (m x n, ldc) = A (m x k, row-major, lda) @ B, where row p of B is the n floats
 * starting at B + roff[p] (a convolution's shifted image rows, conv.c). 1 when done, 0
 * when the kernels are off or the CPU lacks AVX-512F. The caller checked every read. */
int pyrch_small_sgemm_rows(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                           const float *B, const int64_t *roff, float *C, int64_t ldc);
/* C (m x n, ldc) = A (m x k, row-major, lda) @ Bt^T, where row c of Bt (column c of
 * the product's B) is the k floats at Bt + roff[c]: dot products of contiguous runs (a
 * convolution's weight gradient, conv.c). 1 when done, 0 as above. */
int pyrch_small_sgemm_nt_rows(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                              const float *Bt, const int64_t *roff, float *C, int64_t ldc);
/* dst[p * ldd + c] = src[c * lds + p] for c < n, p < k: an n x k row-major block stored
 * transposed (16 x 16 tiles transposed in registers). 1 when done, 0 as above. */
int pyrch_small_transpose(const float *src, int64_t lds, int64_t n, int64_t k, float *dst,
                          int64_t ldd);
/* turn the kernels on (1, the default) or off (0): for A/B measurements and tests */
void pyrch_set_small_gemm(int on);

#endif
