/* float32 GEMM kernels for products with one small side (AVX-512).
 *
 * OpenBLAS packs panels of both operands on every call. When one side of the
 * product is small (a linear layer on a batch of 16: 16 x 784 @ 784 x 512, its
 * weight gradient 512 x 16 @ 16 x 784) the packing is most of the work: the big
 * operand is read, written to a pack buffer and read again, for few flops per
 * element. These kernels read both operands in place instead:
 *
 *   nn:  C = A @ B, B row-major. A tile of RI rows x CV vectors of C is held in
 *        registers; each step over k loads CV vectors of one row of B and
 *        broadcasts RI elements of A (any layout: element strides sai, sap).
 *   nt:  C = A @ B where B is stored transposed (Bt = B^T row-major) and A is
 *        row-major: each C[i, j] is a dot product of two contiguous rows, summed
 *        in 16-lane vectors and reduced at the end.
 *   packed: both sides medium: per block of 128 steps of k, a 128 x 64 panel of B
 *        is packed into a contiguous buffer (transposed when B is stored
 *        transposed, as in a linear layer's x @ W.T, else its rows copied), then
 *        the nn kernel runs every row strip of A over it, adding to C after the
 *        first block. A row-major A is read in place; A stored transposed (a
 *        weight gradient's g^T @ x) is packed into strips first.
 *
 * Only the caller's part of C is touched (gemm.c splits C across the pool's
 * threads). The kernels need AVX-512F: pyrch_small_sgemm returns 0 (not done)
 * on other CPUs or shapes it does not take, and gemm.c calls OpenBLAS instead.
 * Bounds were checked by pyrch_gemm before any part runs; tail vectors use
 * masked loads and stores, which never touch a masked-off element. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "smallgemm.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SG_TARGET __attribute__((target("avx512f")))
#define SG_INLINE static inline __attribute__((always_inline, target("avx512f")))

enum { NN_RI = 6, NN_CV = 4, NT_RI = 4, NT_RJ = 6 };
/* elements of B that fit in a core's L2 with room to spare (256 KB) */
#define NN_B_CACHED (64 * 1024)

/* C[0:RI, 0:16*CV] = A[0:RI, 0:k] @ B[0:k, 0:16*CV]; the last vector is masked by `tail` */
SG_INLINE void nn_tile(const int RI, const int CV, const float *A, int64_t sai, int64_t sap,
                       const float *B, int64_t ldb, const int64_t *roff, float *C, int64_t ldc,
                       int64_t k, __mmask16 tail, int add)
{
    __m512 acc[NN_RI][NN_CV];
#pragma GCC unroll 8
    for (int r = 0; r < RI; r++)
#pragma GCC unroll 8
        for (int c = 0; c < CV; c++)          /* add: C += the product (a later k block) */
            acc[r][c] = !add ? _mm512_setzero_ps()
                : c == CV - 1 ? _mm512_maskz_loadu_ps(tail, C + r * ldc + 16 * c)
                              : _mm512_loadu_ps(C + r * ldc + 16 * c);
    for (int64_t p = 0; p < k; p++) {
        const float *b = roff ? B + roff[p] : B + p * ldb;    /* roff: row p starts there */
        __m512 bv[NN_CV];
#pragma GCC unroll 8
        for (int c = 0; c < CV; c++)
            bv[c] = c == CV - 1 ? _mm512_maskz_loadu_ps(tail, b + 16 * c) : _mm512_loadu_ps(b + 16 * c);
        const float *a = A + p * sap;
#pragma GCC unroll 8
        for (int r = 0; r < RI; r++) {
            __m512 av = _mm512_set1_ps(a[r * sai]);
#pragma GCC unroll 8
            for (int c = 0; c < CV; c++)
                acc[r][c] = _mm512_fmadd_ps(av, bv[c], acc[r][c]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < RI; r++)
#pragma GCC unroll 8
        for (int c = 0; c < CV; c++) {
            float *dst = C + r * ldc + 16 * c;
            if (c == CV - 1)
                _mm512_mask_storeu_ps(dst, tail, acc[r][c]);
            else
                _mm512_storeu_ps(dst, acc[r][c]);
        }
}

#define NN_CASE(ri, cv) case (ri) * 8 + (cv): \
    nn_tile(ri, cv, A, sai, sap, B, ldb, ROFF, C, ldc, k, tail, ADD); break;
#define NN_ROW(ri) NN_CASE(ri, 1) NN_CASE(ri, 2) NN_CASE(ri, 3) NN_CASE(ri, 4)

#define ROFF NULL
#define ADD 0
SG_TARGET static void nn_dispatch(int ri, int cv, const float *A, int64_t sai, int64_t sap,
                                  const float *B, int64_t ldb, float *C, int64_t ldc, int64_t k,
                                  __mmask16 tail)
{
    switch (ri * 8 + cv) {
    NN_ROW(1) NN_ROW(2) NN_ROW(3) NN_ROW(4) NN_ROW(5) NN_ROW(6)
    default: break;
    }
}
#undef ADD

/* the same tiles adding to C (a later block of k), B row-major */
#define ADD add
SG_TARGET static void nna_dispatch(int ri, int cv, const float *A, int64_t sai, int64_t sap,
                                   const float *B, int64_t ldb, float *C, int64_t ldc, int64_t k,
                                   __mmask16 tail, int add)
{
    switch (ri * 8 + cv) {
    NN_ROW(1) NN_ROW(2) NN_ROW(3) NN_ROW(4) NN_ROW(5) NN_ROW(6)
    default: break;
    }
}
#undef ADD
#undef ROFF

/* the same tiles with row p of B at B + roff[p] */
#define ROFF roff
#define ADD 0
SG_TARGET static void nno_dispatch(int ri, int cv, const float *A, int64_t sai, int64_t sap,
                                   const float *B, int64_t ldb, const int64_t *roff, float *C,
                                   int64_t ldc, int64_t k, __mmask16 tail)
{
    switch (ri * 8 + cv) {
    NN_ROW(1) NN_ROW(2) NN_ROW(3) NN_ROW(4) NN_ROW(5) NN_ROW(6)
    default: break;
    }
}
#undef ADD
#undef ROFF

/* Column blocks outer: a k x 64 panel of B stays in cache while every row block of A
 * passes over it. Row p of B at B + p * ldb, or at B + roff[p] when roff is given. */
SG_TARGET static void nn_columns(int64_t m, int64_t n, int64_t k, const float *A, int64_t sai,
                                 int64_t sap, const float *B, int64_t ldb, const int64_t *roff,
                                 float *C, int64_t ldc)
{
    for (int64_t j = 0; j < n; j += 16 * NN_CV) {
        int64_t w = n - j < 16 * NN_CV ? n - j : 16 * NN_CV;
        int cv = (int)((w + 15) / 16);
        __mmask16 tail = (__mmask16)(0xFFFFu >> (16 * cv - w));
        for (int64_t i = 0; i < m; i += NN_RI) {
            int ri = m - i < NN_RI ? (int)(m - i) : NN_RI;
            if (roff)
                nno_dispatch(ri, cv, A + i * sai, sai, sap, B + j, 0, roff, C + i * ldc + j, ldc,
                             k, tail);
            else
                nn_dispatch(ri, cv, A + i * sai, sai, sap, B + j, ldb, C + i * ldc + j, ldc, k,
                            tail);
        }
    }
}

SG_TARGET static void sgemm_nn(int64_t m, int64_t n, int64_t k, const float *A, int64_t sai,
                               int64_t sap, const float *B, int64_t ldb, float *C, int64_t ldc)
{
    if (k * n <= NN_B_CACHED) {
        /* all of B stays in cache: rows of C in order, so its stores stream */
        for (int64_t i = 0; i < m; i += NN_RI) {
            int ri = m - i < NN_RI ? (int)(m - i) : NN_RI;
            for (int64_t j = 0; j < n; j += 16 * NN_CV) {
                int64_t w = n - j < 16 * NN_CV ? n - j : 16 * NN_CV;
                int cv = (int)((w + 15) / 16);
                __mmask16 tail = (__mmask16)(0xFFFFu >> (16 * cv - w));
                nn_dispatch(ri, cv, A + i * sai, sai, sap, B + j, ldb, C + i * ldc + j, ldc, k,
                            tail);
            }
        }
        return;
    }
    nn_columns(m, n, k, A, sai, sap, B, ldb, NULL, C, ldc);
}

/* The 16 x 16 transpose of r[0..15] in registers: on return r[q] holds element q of
 * every input row (lanes 0-15 = rows 0-15). Four rounds of two-input shuffles: pairs
 * of elements, then of pairs, then of 128-bit quarters, then of halves. */
SG_INLINE void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {           /* per quarter: a0 b0 a1 b1 | a2 b2 a3 b3 */
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {           /* per quarter: column e of rows i..i+3 */
        u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    /* u[4g + e], quarter l: rows 4g..4g+3 of column 4l + e */
    for (int e = 0; e < 4; e++) {
        __m512 lo0 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x88);   /* columns e, e+8: rows 0-7 */
        __m512 hi0 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xDD);   /* columns e+4, e+12 */
        __m512 lo1 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x88);   /* rows 8-15 */
        __m512 hi1 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xDD);
        r[e] = _mm512_shuffle_f32x4(lo0, lo1, 0x88);
        r[e + 8] = _mm512_shuffle_f32x4(lo0, lo1, 0xDD);
        r[e + 4] = _mm512_shuffle_f32x4(hi0, hi1, 0x88);
        r[e + 12] = _mm512_shuffle_f32x4(hi0, hi1, 0xDD);
    }
}

/* panel[p * ldp + c] = Bt[c * ldb + p] for c < w (the columns j.. of B = Bt^T), p < k.
 * 16 rows of Bt are read 16 p at a time (a cache line each), transposed in registers
 * and stored as 16 rows of the panel; rows past w are never read. */
SG_TARGET static void pack_bt_ld(const float *Bt, int64_t ldb, int64_t w, int64_t k, float *panel,
                                 int64_t ldp)
{
    int64_t p = 0;
    for (; p + 16 <= k; p += 16) {
        for (int64_t c0 = 0; c0 < w; c0 += 16) {
            int64_t cw = w - c0 < 16 ? w - c0 : 16;
            __mmask16 cols = (__mmask16)(0xFFFFu >> (16 - cw));
            __m512 r[16];
            for (int64_t c = 0; c < 16; c++)
                r[c] = c < cw ? _mm512_loadu_ps(Bt + (c0 + c) * ldb + p) : _mm512_setzero_ps();
            transpose16(r);
            for (int q = 0; q < 16; q++)
                _mm512_mask_storeu_ps(panel + (p + q) * ldp + c0, cols, r[q]);
        }
    }
    for (; p < k; p++)
        for (int64_t c = 0; c < w; c++)
            panel[p * ldp + c] = Bt[c * ldb + p];
}

SG_TARGET static void pack_bt(const float *Bt, int64_t ldb, int64_t w, int64_t k, float *panel)
{
    pack_bt_ld(Bt, ldb, w, k, panel, 64);
}

/* panel[p * 64 + c] = B[p * ldb + c] for c < w: rows of B copied contiguous */
static void pack_b(const float *B, int64_t ldb, int64_t w, int64_t k, float *panel)
{
    for (int64_t p = 0; p < k; p++)
        memcpy(panel + p * 64, B + p * ldb, sizeof(float) * (size_t)w);
}

/* Rows [0, m) of A stored transposed (A[i, p] at A + p * lda + i), columns [0, kc),
 * packed into strips of NN_RI rows: strip s at apack + s * sst holds [p][r] =
 * A[s * NN_RI + r, p]. One pass along each row of A^T (its lda-apart rows would thrash
 * a few cache sets if every strip walked them all), each strip's NN_RI values written
 * with a whole-vector store whose spill past them is overwritten by the next p's; the
 * last p's spill lands in the 16 floats of padding each strip has (sst >= NN_RI * kc
 * + 16). Masked stores were 64% of the packing's time; reads past a row stay masked. */
SG_TARGET static void pack_at(const float *A, int64_t lda, int64_t m, int64_t kc, float *apack,
                              int64_t sst)
{
    int64_t strips = (m + NN_RI - 1) / NN_RI;
    int64_t whole = m >= 16 ? (m - 16) / NN_RI + 1 : 0;    /* strips a full load fits */
    for (int64_t p = 0; p < kc; p++) {
        const float *row = A + p * lda;
        float *dst = apack + p * NN_RI;
        int64_t s = 0;
        for (; s < whole; s++)
            _mm512_storeu_ps(dst + s * sst, _mm512_loadu_ps(row + s * NN_RI));
        for (; s < strips; s++) {
            int64_t left = m - s * NN_RI;
            __mmask16 in = (__mmask16)(left >= 16 ? 0xFFFFu : (1u << left) - 1);
            _mm512_storeu_ps(dst + s * sst, _mm512_maskz_loadu_ps(in, row + s * NN_RI));
        }
    }
}

/* C = A @ B, a block of PK_K steps of k at a time (later blocks add to C):
 *   - a PK_K x 64 panel of B at a time is packed contiguous (32 KB: it stays in L1
 *     while every row strip of A passes over it), transposed from Bt when B is stored
 *     transposed (a linear layer's x @ W.T) or copied row by row from B. In place,
 *     B's rows lie ldb apart, and for a power-of-two ldb those rows share a few cache
 *     sets (128 x 1024 @ 1024 x 512: 1145 us in place against 805 in OpenBLAS);
 *   - A stored transposed (a weight gradient's g^T @ x, sai == 1) is packed into
 *     strips of NN_RI rows ([p][r]), once per block of k: in place its columns lie lda
 *     apart, and every strip would read k lines that share a few cache sets. A
 *     row-major A is read in place: a strip reads NN_RI rows, each along k.
 * 0 when out of memory (OpenBLAS takes the product). */
#define PK_K 128
SG_TARGET static int sgemm_packed(int64_t m, int64_t n, int64_t k, const float *A, int64_t sai,
                                  int64_t sap, int trans_b, const float *B, int64_t ldb, float *C,
                                  int64_t ldc)
{
    int64_t strips = (m + NN_RI - 1) / NN_RI;
    int64_t kb = k < PK_K ? k : PK_K;
    int pa = sai == 1 && m > 1;                 /* A stored transposed: pack its strips */
    float *panel = NULL, *apack = NULL;
    if (posix_memalign((void **)&panel, 64, sizeof(float) * 64 * (size_t)kb))
        return 0;
    int64_t sst = NN_RI * kb + 16;              /* a packed strip and its padding */
    if (pa && posix_memalign((void **)&apack, 64, sizeof(float) * (size_t)(sst * strips))) {
        free(panel);
        return 0;
    }
    for (int64_t k0 = 0; k0 < k; k0 += PK_K) {
        int64_t kc = k - k0 < PK_K ? k - k0 : PK_K;
        if (pa)
            pack_at(A + k0 * sap, sap, m, kc, apack, sst);
        for (int64_t j = 0; j < n; j += 16 * NN_CV) {
            int64_t w = n - j < 16 * NN_CV ? n - j : 16 * NN_CV;
            int cv = (int)((w + 15) / 16);
            __mmask16 tail = (__mmask16)(0xFFFFu >> (16 * cv - w));
            if (trans_b)
                pack_bt(B + j * ldb + k0, ldb, w, kc, panel);
            else
                pack_b(B + k0 * ldb + j, ldb, w, kc, panel);
            for (int64_t s = 0; s < strips; s++) {
                int ri = m - s * NN_RI < NN_RI ? (int)(m - s * NN_RI) : NN_RI;
                float *c = C + s * NN_RI * ldc + j;
                /* the first block of k writes C without reading it: ask for the next
                 * strip's lines of C, with intent to write, while this strip computes
                 * (a product's output is often a buffer last touched long before, and
                 * each store that missed waited for its line: GPT's 1024x128 @ 128x512
                 * took 0.12-0.15 ms longer in the step than warm, 0.04-0.06 now; the
                 * step, in one process: median 19.47 -> 18.78 ms) */
                if (k0 == 0 && s + 1 < strips) {
                    int rn = m - (s + 1) * NN_RI < NN_RI ? (int)(m - (s + 1) * NN_RI) : NN_RI;
                    const float *cn = c + NN_RI * ldc;
                    for (int r = 0; r < rn; r++)
                        for (int64_t q = 0; q < w; q += 16)
                            __builtin_prefetch(cn + r * ldc + q, 1, 3);
                }
                if (pa)
                    nna_dispatch(ri, cv, apack + s * sst, 1, NN_RI, panel, 64, c, ldc, kc,
                                 tail, k0 > 0);
                else
                    nna_dispatch(ri, cv, A + s * NN_RI * sai + k0 * sap, sai, sap, panel, 64, c,
                                 ldc, kc, tail, k0 > 0);
            }
        }
    }
    free(apack);
    free(panel);
    return 1;
}

/* C[0:RI, 0:RJ] = A[0:RI, 0:k] @ Bt[0:RJ, 0:k]^T, both row-major along k */
SG_INLINE void nt_tile(const int RI, const int RJ, const float *A, int64_t lda, const float *Bt,
                       int64_t ldb, const int64_t *roff, float *C, int64_t ldc, int64_t k)
{
    /* roff: row c of Bt starts at Bt + roff[c] (a convolution's shifted image rows) */
    const float *brow[NT_RJ];
#pragma GCC unroll 8
    for (int c = 0; c < RJ; c++)
        brow[c] = roff ? Bt + roff[c] : Bt + c * ldb;
    __m512 acc[NT_RI][NT_RJ];
#pragma GCC unroll 8
    for (int r = 0; r < RI; r++)
#pragma GCC unroll 8
        for (int c = 0; c < RJ; c++)
            acc[r][c] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 16 <= k; p += 16) {
        __m512 av[NT_RI];
#pragma GCC unroll 8
        for (int r = 0; r < RI; r++)
            av[r] = _mm512_loadu_ps(A + r * lda + p);
#pragma GCC unroll 8
        for (int c = 0; c < RJ; c++) {
            __m512 bv = _mm512_loadu_ps(brow[c] + p);
#pragma GCC unroll 8
            for (int r = 0; r < RI; r++)
                acc[r][c] = _mm512_fmadd_ps(av[r], bv, acc[r][c]);
        }
    }
    if (p < k) {
        __mmask16 tail = (__mmask16)((1u << (k - p)) - 1);
        __m512 av[NT_RI];
#pragma GCC unroll 8
        for (int r = 0; r < RI; r++)
            av[r] = _mm512_maskz_loadu_ps(tail, A + r * lda + p);
#pragma GCC unroll 8
        for (int c = 0; c < RJ; c++) {
            __m512 bv = _mm512_maskz_loadu_ps(tail, brow[c] + p);
#pragma GCC unroll 8
            for (int r = 0; r < RI; r++)
                acc[r][c] = _mm512_fmadd_ps(av[r], bv, acc[r][c]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < RI; r++)
#pragma GCC unroll 8
        for (int c = 0; c < RJ; c++)
            C[r * ldc + c] = _mm512_reduce_add_ps(acc[r][c]);
}

#define NT_CASE(ri, rj) case (ri) * 8 + (rj): nt_tile(ri, rj, A, lda, Bt, ldb, ROFF, C, ldc, k); break;
#define NT_ROW(ri) NT_CASE(ri, 1) NT_CASE(ri, 2) NT_CASE(ri, 3) NT_CASE(ri, 4) NT_CASE(ri, 5) \
    NT_CASE(ri, 6)

#define ROFF NULL
SG_TARGET static void nt_dispatch(int ri, int rj, const float *A, int64_t lda, const float *Bt,
                                  int64_t ldb, float *C, int64_t ldc, int64_t k)
{
    switch (ri * 8 + rj) {
    NT_ROW(1) NT_ROW(2) NT_ROW(3) NT_ROW(4)
    default: break;
    }
}
#undef ROFF

/* the same tiles with row c of Bt at Bt + roff[c] */
#define ROFF roff
SG_TARGET static void nto_dispatch(int ri, int rj, const float *A, int64_t lda, const float *Bt,
                                   const int64_t *roff, float *C, int64_t ldc, int64_t k)
{
    const int64_t ldb = 0;
    switch (ri * 8 + rj) {
    NT_ROW(1) NT_ROW(2) NT_ROW(3) NT_ROW(4)
    default: break;
    }
}
#undef ROFF

SG_TARGET static void sgemm_nt(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                               const float *Bt, int64_t ldb, float *C, int64_t ldc)
{
    /* the larger operand is streamed once, the smaller one stays in cache */
    if (n >= m) {
        for (int64_t j = 0; j < n; j += NT_RJ) {
            int rj = n - j < NT_RJ ? (int)(n - j) : NT_RJ;
            for (int64_t i = 0; i < m; i += NT_RI) {
                int ri = m - i < NT_RI ? (int)(m - i) : NT_RI;
                nt_dispatch(ri, rj, A + i * lda, lda, Bt + j * ldb, ldb, C + i * ldc + j, ldc, k);
            }
        }
    } else {
        for (int64_t i = 0; i < m; i += NT_RI) {
            int ri = m - i < NT_RI ? (int)(m - i) : NT_RI;
            for (int64_t j = 0; j < n; j += NT_RJ) {
                int rj = n - j < NT_RJ ? (int)(n - j) : NT_RJ;
                nt_dispatch(ri, rj, A + i * lda, lda, Bt + j * ldb, ldb, C + i * ldc + j, ldc, k);
            }
        }
    }
}

static int have_avx512(void)
{
    static int known = -1;          /* a benign race: every caller computes the same */
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return known;
}

static int small_on = 1;

void pyrch_set_small_gemm(int on) { small_on = on != 0; }

int pyrch_small_sgemm_kind(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k)
{
    if (!small_on || !have_avx512() || m <= 0 || n <= 0 || k <= 0)
        return PYRCH_SMALL_NONE;
    if (!trans_b && (m <= PYRCH_SMALL_DIM || k <= PYRCH_SMALL_DIM))
        return PYRCH_SMALL_NN;
    if (trans_b && !trans_a && (m <= PYRCH_SMALL_DIM || n <= PYRCH_SMALL_DIM))
        return PYRCH_SMALL_NT;
    if (k <= PYRCH_MID_K && m >= PYRCH_MID_M && n > PYRCH_SMALL_DIM)
        return trans_b ? PYRCH_MID_NNP : PYRCH_MID_NN;
    return PYRCH_SMALL_NONE;
}

int pyrch_small_sgemm_nt_rows(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                              const float *Bt, const int64_t *roff, float *C, int64_t ldc)
{
    if (!small_on || !have_avx512())
        return 0;
    for (int64_t j = 0; j < n; j += NT_RJ) {
        int rj = n - j < NT_RJ ? (int)(n - j) : NT_RJ;
        for (int64_t i = 0; i < m; i += NT_RI) {
            int ri = m - i < NT_RI ? (int)(m - i) : NT_RI;
            nto_dispatch(ri, rj, A + i * lda, lda, Bt, roff + j, C + i * ldc + j, ldc, k);
        }
    }
    return 1;
}

int pyrch_small_sgemm_rows(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                           const float *B, const int64_t *roff, float *C, int64_t ldc)
{
    if (!small_on || !have_avx512())
        return 0;
    if (m > 0 && n > 0 && k > 0)
        nn_columns(m, n, k, A, lda, 1, B, 0, roff, C, ldc);
    return 1;
}

int pyrch_small_transpose(const float *src, int64_t lds, int64_t n, int64_t k, float *dst,
                          int64_t ldd)
{
    if (!small_on || !have_avx512())
        return 0;
    pack_bt_ld(src, lds, n, k, dst, ldd);
    return 1;
}

int pyrch_small_sgemm(int kind, int trans_a, int64_t m, int64_t n, int64_t k, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc)
{
    if (kind == PYRCH_SMALL_NN) {
        sgemm_nn(m, n, k, A, trans_a ? 1 : lda, trans_a ? lda : 1, B, ldb, C, ldc);
        return 1;
    }
    if (kind == PYRCH_MID_NN || kind == PYRCH_MID_NNP)
        return sgemm_packed(m, n, k, A, trans_a ? 1 : lda, trans_a ? lda : 1, kind == PYRCH_MID_NNP,
                            B, ldb, C, ldc);
    if (kind == PYRCH_SMALL_NT && !trans_a) {
        sgemm_nt(m, n, k, A, lda, B, ldb, C, ldc);
        return 1;
    }
    return 0;
}

#else   /* not x86-64 with GCC/Clang: OpenBLAS takes every product */

int pyrch_small_sgemm_rows(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                           const float *B, const int64_t *roff, float *C, int64_t ldc)
{
    (void)m; (void)n; (void)k; (void)A; (void)lda; (void)B; (void)roff; (void)C; (void)ldc;
    return 0;
}

int pyrch_small_sgemm_nt_rows(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                              const float *Bt, const int64_t *roff, float *C, int64_t ldc)
{
    (void)m; (void)n; (void)k; (void)A; (void)lda; (void)Bt; (void)roff; (void)C; (void)ldc;
    return 0;
}

void pyrch_set_small_gemm(int on) { (void)on; }

int pyrch_small_transpose(const float *src, int64_t lds, int64_t n, int64_t k, float *dst,
                          int64_t ldd)
{
    (void)src, (void)lds, (void)n, (void)k, (void)dst, (void)ldd;
    return 0;
}

int pyrch_small_sgemm_kind(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k)
{
    (void)trans_a; (void)trans_b; (void)m; (void)n; (void)k;
    return PYRCH_SMALL_NONE;
}

int pyrch_small_sgemm(int kind, int trans_a, int64_t m, int64_t n, int64_t k, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc)
{
    (void)kind; (void)trans_a; (void)m; (void)n; (void)k; (void)A; (void)lda; (void)B;
    (void)ldb; (void)C; (void)ldc;
    return 0;
}
#endif
