/* Fused attention, float32 (attn.h): the products, the softmax and its gradient for one
 * (batch, head) entry at a time, on one thread, so the T x S scores stay in that core's
 * cache between the steps that read them, instead of each step streaming all heads.
 *
 * Each query row i reads only the key columns [lo_i, hi_i) from its first to its last
 * unmasked one (0..i+1 for a causal mask); a masked score inside that range is -inf as
 * in masked_fill. The products run over blocks of 16 query rows and the union of their
 * ranges, so a causal mask skips about 40% of the work on 64 positions. A row with no
 * unmasked column reads every column (its softmax is NaN, as eager's is).
 *
 * What the skip changes: a key or value row that every query masks out is never read,
 * so an inf or NaN there does not reach the output (in eager, 0 * NaN makes the row
 * NaN). PyTorch's fused attention kernels behave the same way.
 *
 * Products: the AVX-512 NN kernel of smallgemm.c where the CPU has them (K, and V
 * backward, transposed once per entry), else OpenBLAS on one thread. Entries are split
 * across the VM's pool; each entry's result is the same whatever the thread count. */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cblas.h>
#include "attn.h"
#include "vm.h"
#include "smallgemm.h"
#include "vmath.h"

#define RB 16               /* query rows per block (and key rows per block backward) */
#define PAR_FLOPS 2e6       /* below this the call stays on one thread */

/* ---- products on one thread ---------------------------------------------------- */

static int use_small(void)
{
    return pyrch_small_sgemm_kind(0, 0, 16, 16, 16) != PYRCH_SMALL_NONE;
}

/* C (m x n) = A (m x k, row-major) @ Bt^T, Bt (n x k) row-major, by OpenBLAS (with the
 * AVX-512 kernels, block_product transposes Bt and takes mm_nn instead) */
static void blas_nt(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                    const float *Bt, int64_t ldb, float *C, int64_t ldc)
{
    scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)m, (blasint)n, (blasint)k,
                      1.0f, A, (blasint)lda, Bt, (blasint)ldb, 0.0f, C, (blasint)ldc);
}

/* C (m x n) = op(A) @ B, B (k x n) row-major; op(A) = A (m x k) or, trans_a, A^T with A
 * (k x m) row-major */
static void mm_nn(int small, int trans_a, int64_t m, int64_t n, int64_t k, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc)
{
    if (small && pyrch_small_sgemm(PYRCH_SMALL_NN, trans_a, m, n, k, A, lda, B, ldb, C, ldc))
        return;
    scipy_cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, CblasNoTrans, (blasint)m,
                      (blasint)n, (blasint)k, 1.0f, A, (blasint)lda, B, (blasint)ldb, 0.0f, C,
                      (blasint)ldc);
}

/* ---- validation ------------------------------------------------------------------ */

/* Whether every element of an nb x nh batch of rows x cols matrices lies in the buffer */
static int arg_fits(const pyrch_attn_arg_t *x, int64_t nb, int64_t nh, int64_t rows,
                    int64_t cols, int64_t isz, int unit_cols)
{
    if (x->ptr == NULL)
        return 0;
    if (x->sb < 0 || x->sh < 0 || x->sr < 0 || x->sc < 0 || (unit_cols && x->sc != 1))
        return 0;
    if (unit_cols && x->sr > INT32_MAX)
        return 0;
    int64_t last = 0, t;
    const int64_t n[4] = {nb, nh, rows, cols}, st[4] = {x->sb, x->sh, x->sr, x->sc};
    for (int i = 0; i < 4; i++) {
        if (__builtin_mul_overflow(n[i] - 1, st[i], &t) || __builtin_add_overflow(last, t, &last))
            return 0;
    }
    if (__builtin_add_overflow(last, 1, &last) || __builtin_mul_overflow(last, isz, &last))
        return 0;
    return last <= x->nbytes;
}

/* The shape of operand i in one (batch, head) entry, rows x cols; 0 rows where this
 * call does not use it (the validation and the entries' pointers read this one table). */
static void operand(const pyrch_attn_t *a, int i, int64_t *rows, int64_t *cols)
{
    int bwd = a->backward;
    int64_t r = 0, c = 0;
    switch (i) {
    case PYRCH_ATTN_Q: r = a->t, c = a->d; break;
    case PYRCH_ATTN_K: r = a->s, c = a->d; break;
    case PYRCH_ATTN_V: r = a->s, c = a->dv; break;
    case PYRCH_ATTN_MASK: r = a->masked ? a->t : 0, c = a->s; break;
    case PYRCH_ATTN_P: r = a->t, c = a->s; break;
    case PYRCH_ATTN_O: r = bwd ? 0 : a->t, c = a->dv; break;
    case PYRCH_ATTN_G: r = bwd ? a->t : 0, c = a->dv; break;
    case PYRCH_ATTN_DQ: r = bwd ? a->t : 0, c = a->d; break;
    case PYRCH_ATTN_DK: r = bwd ? a->s : 0, c = a->d; break;
    case PYRCH_ATTN_DV: r = bwd ? a->s : 0, c = a->dv; break;
    }
    *rows = r, *cols = c;
}

/* ---- the work ---------------------------------------------------------------------- */

/* One (batch, head) entry's operands: where each starts, and its row stride (NULL
 * where the call does not use it) */
typedef struct {
    char *at[PYRCH_ATTN_NARGS];
    int64_t sr[PYRCH_ATTN_NARGS];
} entry_t;

static void entry_at(const pyrch_attn_t *a, int64_t b, int64_t h, entry_t *e)
{
    for (int i = 0; i < PYRCH_ATTN_NARGS; i++) {
        int64_t rows, cols;
        operand(a, i, &rows, &cols);
        const pyrch_attn_arg_t *x = &a->x[i];
        e->at[i] = rows ? x->ptr + (b * x->sb + h * x->sh) * (i == PYRCH_ATTN_MASK ? 1 : 4) : NULL;
        e->sr[i] = x->sr;
    }
}

#define F32(e, i) ((float *)(e)->at[PYRCH_ATTN_##i])

typedef struct {
    const pyrch_attn_t *a;
    int64_t entries;
    int parts;
    /* the rows' column ranges when the mask is the same for every entry (or absent) */
    const int32_t *lo, *hi;
    const uint8_t *dense;
    int rc[PYRCH_MAX_PARTS];
} job_t;

/* Row i's unmasked column range [lo, hi) and whether nothing inside it is masked;
 * a fully masked row gets the whole range. m: the entry's mask (NULL: none). */
static void row_ranges(const pyrch_attn_t *a, const uint8_t *m, int32_t *lo, int32_t *hi,
                       uint8_t *dense)
{
    const pyrch_attn_arg_t *x = &a->x[PYRCH_ATTN_MASK];
    for (int64_t i = 0; i < a->t; i++) {
        if (m == NULL) {
            lo[i] = 0, hi[i] = (int32_t)a->s, dense[i] = 1;
            continue;
        }
        const uint8_t *r = m + i * x->sr;
        int64_t first = -1, last = -1, kept = 0;
        if (x->sc == 1) {
            const uint8_t *z = memchr(r, 0, (size_t)a->s);
            if (z != NULL) {
                first = z - r;
                for (int64_t j = a->s - 1; j >= first; j--)
                    if (!r[j]) { last = j; break; }
                for (int64_t j = first; j <= last; j++)
                    kept += !r[j];
            }
        } else {
            for (int64_t j = 0; j < a->s; j++)
                if (!r[j * x->sc]) {
                    if (first < 0)
                        first = j;
                    last = j;
                    kept++;
                }
        }
        if (first < 0) {
            lo[i] = 0, hi[i] = (int32_t)a->s, dense[i] = 0;
        } else {
            lo[i] = (int32_t)first, hi[i] = (int32_t)(last + 1);
            dense[i] = kept == last + 1 - first;
        }
    }
}

/* whether score (i, j) of the entry's mask m is masked (j inside i's range) */
static inline int masked_at(const pyrch_attn_t *a, const uint8_t *m, int64_t i, int64_t j)
{
    const pyrch_attn_arg_t *x = &a->x[PYRCH_ATTN_MASK];
    return m[i * x->sr + j * x->sc] != 0;
}

/* The union [blo, bhi) of rows i0..i1-1's ranges */
static void block_range(const int32_t *lo, const int32_t *hi, int64_t i0, int64_t i1,
                        int64_t *blo, int64_t *bhi)
{
    int64_t l = lo[i0], h = hi[i0];
    for (int64_t i = i0 + 1; i < i1; i++) {
        l = lo[i] < l ? lo[i] : l;
        h = hi[i] > h ? hi[i] : h;
    }
    *blo = l, *bhi = h;
}

#define ATTN_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))

/* One block of query rows [i0, i1) against key rows [blo, bhi), the union of those
 * rows' column ranges (set here): C[:, blo:bhi] = A[i0:i1] @ B[blo:bhi]^T, A and B k wide,
 * C's rows ldc apart from row i0's. Through bt (B transposed once per entry, k x ldbt)
 * where the AVX-512 kernels run (their NN kernel is several times faster on k = 32 than
 * dot products of rows), else OpenBLAS's NT product. */
static void block_product(int small, const int32_t *lo, const int32_t *hi, int64_t i0,
                          int64_t i1, int64_t k, const float *A, int64_t lda, const float *B,
                          int64_t ldb, const float *bt, int64_t ldbt, float *C, int64_t ldc,
                          int64_t *blo, int64_t *bhi)
{
    block_range(lo, hi, i0, i1, blo, bhi);
    int64_t m = i1 - i0, n = *bhi - *blo;
    if (small)
        mm_nn(small, 0, m, n, k, A + i0 * lda, lda, bt + *blo, ldbt, C + *blo, ldc);
    else
        blas_nt(m, n, k, A + i0 * lda, lda, B + *blo * ldb, ldb, C + *blo, ldc);
}

/* One row of scores (w of them, columns blo..): scaled, masked (-inf outside [lo, hi)
 * and, where the row is not dense, wherever the mask says), then softmax into prow
 * (the whole row of P, s long: 0 outside the block's columns, NaN everywhere when the
 * softmax is NaN -- a NaN or +inf score, or every column masked) */
static inline __attribute__((always_inline)) void softmax_scores(const pyrch_attn_t *a, const uint8_t *M, int64_t i,
                                  float *restrict srow, float *restrict prow, int64_t blo,
                                  int64_t w, int64_t lo, int64_t hi, int dense)
{
    float sc = (float)a->scale, m = -INFINITY;
    int nan = 0;
    int64_t l = lo - blo, h = hi - blo;
    if (a->divide) {
#pragma omp simd reduction(max:m) reduction(|:nan)
        for (int64_t j = 0; j < w; j++) {
            float x = (j < l || j >= h) ? -INFINITY : srow[j] / sc;
            srow[j] = x;
            m = x > m ? x : m;
            nan |= x != x;
        }
    } else {
#pragma omp simd reduction(max:m) reduction(|:nan)
        for (int64_t j = 0; j < w; j++) {
            float x = (j < l || j >= h) ? -INFINITY : srow[j] * sc;
            srow[j] = x;
            m = x > m ? x : m;
            nan |= x != x;
        }
    }
    if (!dense) {
        m = -INFINITY;
        for (int64_t j = l; j < h; j++) {
            if (masked_at(a, M, i, blo + j))
                srow[j] = -INFINITY;
            m = srow[j] > m ? srow[j] : m;
        }
    }
    if (nan || m == INFINITY || m == -INFINITY) {
        /* NaN - anything, inf - inf, -inf - -inf: eager's softmax is NaN throughout */
        for (int64_t j = 0; j < a->s; j++)
            prow[j] = NAN;
        return;
    }
    float sum = 0.0f;
#pragma omp simd reduction(+:sum)
    for (int64_t j = 0; j < w; j++) {
        float e = pyrch_expf(srow[j] - m);
        srow[j] = e;
        sum += e;
    }
    for (int64_t j = 0; j < blo; j++)
        prow[j] = 0.0f;
#pragma omp simd
    for (int64_t j = 0; j < w; j++)
        prow[blo + j] = srow[j] / sum;
    for (int64_t j = blo + w; j < a->s; j++)
        prow[j] = 0.0f;
}

ATTN_CLONES static void forward_entry(const pyrch_attn_t *a, int small, const entry_t *e,
                                      const int32_t *lo, const int32_t *hi,
                                      const uint8_t *dense, float *sbuf, float *kt)
{
    const float *Q = F32(e, Q), *K = F32(e, K), *V = F32(e, V);
    float *P = F32(e, P), *O = F32(e, O);
    const uint8_t *M = (const uint8_t *)e->at[PYRCH_ATTN_MASK];
    const int64_t *sr = e->sr;
    int64_t qr = sr[PYRCH_ATTN_Q], kr = sr[PYRCH_ATTN_K], vr = sr[PYRCH_ATTN_V];
    int64_t pr = sr[PYRCH_ATTN_P], orr = sr[PYRCH_ATTN_O], S = a->s;
    if (small)
        pyrch_small_transpose(K, kr, S, a->d, kt, S);        /* kt = K^T, d x S */
    for (int64_t i0 = 0; i0 < a->t; i0 += RB) {
        int64_t i1 = i0 + RB < a->t ? i0 + RB : a->t, blo, bhi;
        block_product(small, lo, hi, i0, i1, a->d, Q, qr, K, kr, kt, S, sbuf, S, &blo, &bhi);
        int64_t w = bhi - blo;
        for (int64_t i = i0; i < i1; i++)
            softmax_scores(a, M, i, sbuf + (i - i0) * S + blo, P + i * pr, blo, w, lo[i], hi[i],
                           dense[i]);
        mm_nn(small, 0, i1 - i0, a->dv, w, P + i0 * pr + blo, pr, V + blo * vr, vr,
              O + i0 * orr, orr);
    }
}

ATTN_CLONES static void backward_entry(const pyrch_attn_t *a, int small, const entry_t *e,
                                       const int32_t *lo, const int32_t *hi,
                                       const uint8_t *dense, float *ds, float *vt)
{
    const float *G = F32(e, G), *Q = F32(e, Q), *K = F32(e, K), *V = F32(e, V), *P = F32(e, P);
    float *DQ = F32(e, DQ), *DK = F32(e, DK), *DV = F32(e, DV);
    const uint8_t *M = (const uint8_t *)e->at[PYRCH_ATTN_MASK];
    const int64_t *sr = e->sr;
    int64_t gr = sr[PYRCH_ATTN_G], qr = sr[PYRCH_ATTN_Q], kr = sr[PYRCH_ATTN_K];
    int64_t vr = sr[PYRCH_ATTN_V], pr = sr[PYRCH_ATTN_P];
    int64_t dqr = sr[PYRCH_ATTN_DQ], dkr = sr[PYRCH_ATTN_DK], dvr = sr[PYRCH_ATTN_DV];
    int64_t S = a->s;
    float sc = (float)a->scale;
    if (small)
        pyrch_small_transpose(V, vr, S, a->dv, vt, S);       /* vt = V^T, dv x S */
    /* ds (t x S): the score gradient, zero outside each row block's range */
    for (int64_t i0 = 0; i0 < a->t; i0 += RB) {
        int64_t i1 = i0 + RB < a->t ? i0 + RB : a->t, blo, bhi;
        block_product(small, lo, hi, i0, i1, a->dv, G, gr, V, vr, vt, S, ds + i0 * S, S, &blo,
                      &bhi);
        int64_t w = bhi - blo;
        for (int64_t i = i0; i < i1; i++) {
            float *drow = ds + i * S + blo;
            const float *prow = P + i * pr + blo;
            int64_t l = lo[i] - blo, hh = hi[i] - blo;
            float r = 0.0f;
#pragma omp simd reduction(+:r)
            for (int64_t j = 0; j < w; j++)
                r += drow[j] * prow[j];
            if (a->divide) {
#pragma omp simd
                for (int64_t j = 0; j < w; j++)
                    drow[j] = (j < l || j >= hh) ? 0.0f : prow[j] * (drow[j] - r) / sc;
            } else {
#pragma omp simd
                for (int64_t j = 0; j < w; j++)
                    drow[j] = (j < l || j >= hh) ? 0.0f : prow[j] * (drow[j] - r) * sc;
            }
            if (!dense[i])
                for (int64_t j = l; j < hh; j++)
                    if (masked_at(a, M, i, blo + j))
                        drow[j] = 0.0f;
            for (int64_t j = 0; j < blo; j++)
                ds[i * S + j] = 0.0f;
            for (int64_t j = bhi; j < S; j++)
                ds[i * S + j] = 0.0f;
        }
        mm_nn(small, 0, i1 - i0, a->d, w, ds + i0 * S + blo, S, K + blo * kr, kr,
              DQ + i0 * dqr, dqr);
    }
    /* dK and dV by blocks of key rows, over the query rows whose ranges reach them */
    for (int64_t j0 = 0; j0 < S; j0 += RB) {
        int64_t j1 = j0 + RB < S ? j0 + RB : S, ilo = -1, ihi = -1;
        for (int64_t i = 0; i < a->t; i++)
            if (lo[i] < j1 && hi[i] > j0) {
                if (ilo < 0)
                    ilo = i;
                ihi = i + 1;
            }
        if (ilo < 0) {
            for (int64_t j = j0; j < j1; j++) {
                memset(DK + j * dkr, 0, (size_t)a->d * 4);
                memset(DV + j * dvr, 0, (size_t)a->dv * 4);
            }
            continue;
        }
        mm_nn(small, 1, j1 - j0, a->d, ihi - ilo, ds + ilo * S + j0, S, Q + ilo * qr, qr,
              DK + j0 * dkr, dkr);
        mm_nn(small, 1, j1 - j0, a->dv, ihi - ilo, P + ilo * pr + j0, pr, G + ilo * gr, gr,
              DV + j0 * dvr, dvr);
    }
}

static void attn_part(void *ctx, int part)
{
    job_t *job = ctx;
    const pyrch_attn_t *a = job->a;
    int64_t e0 = job->entries * part / job->parts, e1 = job->entries * (part + 1) / job->parts;
    int small = use_small();
    int shared = job->lo != NULL;
    /* the scores of a row block (the whole t x S score gradient backward), then K^T
     * (V^T backward) */
    size_t rows = (a->backward ? (size_t)a->t : (size_t)RB) + (size_t)(a->backward ? a->dv : a->d);
    size_t nbuf;
    float *buf = NULL;
    /* (the sizes were checked against the operands' byte sizes, which Python gives; a
     * struct that lies about those must still not overflow this) */
    if (!__builtin_mul_overflow(rows, (size_t)a->s, &nbuf) &&
        !__builtin_mul_overflow(nbuf, sizeof(float), &nbuf))
        buf = malloc(nbuf);
    int32_t *lo = shared ? NULL : malloc((size_t)a->t * 2 * sizeof(int32_t));
    uint8_t *dense = shared ? NULL : malloc((size_t)a->t);
    if (buf == NULL || (!shared && (lo == NULL || dense == NULL))) {
        job->rc[part] = PYRCH_E_NOMEM;
        free(buf), free(lo), free(dense);
        return;
    }
    for (int64_t i = e0; i < e1; i++) {
        entry_t e;
        entry_at(a, i / a->nh, i % a->nh, &e);
        const int32_t *l = job->lo, *hh = job->hi;
        const uint8_t *dn = job->dense;
        if (!shared) {
            row_ranges(a, (const uint8_t *)e.at[PYRCH_ATTN_MASK], lo, lo + a->t, dense);
            l = lo, hh = lo + a->t, dn = dense;
        }
        float *tr = buf + (a->backward ? (size_t)a->t : (size_t)RB) * (size_t)a->s;
        if (a->backward)
            backward_entry(a, small, &e, l, hh, dn, buf, tr);
        else
            forward_entry(a, small, &e, l, hh, dn, buf, tr);
    }
    free(buf), free(lo), free(dense);
}

int pyrch_attention(const pyrch_attn_t *a)
{
    if (a == NULL)
        return PYRCH_E_NULL;
    if ((a->backward != 0 && a->backward != 1) || (a->masked != 0 && a->masked != 1) ||
        (a->divide != 0 && a->divide != 1) || a->nb < 0 || a->nh < 0 || a->t < 0 ||
        a->s < 0 || a->d < 0 || a->dv < 0 || a->t > INT32_MAX || a->s > INT32_MAX ||
        a->d > INT32_MAX || a->dv > INT32_MAX)
        return PYRCH_E_COUNT;
    int64_t entries;
    if (__builtin_mul_overflow(a->nb, a->nh, &entries))
        return PYRCH_E_COUNT;
    if (entries == 0 || a->t == 0)
        return PYRCH_OK;
    if (a->s == 0 || a->d == 0 || a->dv == 0)     /* Python handles empty products */
        return PYRCH_E_COUNT;
    const pyrch_attn_arg_t *X = a->x;
    int64_t t = a->t;
    for (int i = 0; i < PYRCH_ATTN_NARGS; i++) {
        int64_t rows, cols;
        operand(a, i, &rows, &cols);
        int mask = i == PYRCH_ATTN_MASK;
        if (rows && !arg_fits(&X[i], a->nb, a->nh, rows, cols, mask ? 1 : 4, !mask))
            return PYRCH_E_BOUNDS;
    }
    /* OpenBLAS (where the AVX-512 kernels are off) on one thread: the parts are ours */
    scipy_openblas_set_num_threads(1);
    job_t job;
    memset(&job, 0, sizeof job);
    job.a = a;
    job.entries = entries;
    int32_t *ranges = NULL;
    uint8_t *dense = NULL;
    const pyrch_attn_arg_t *m = &X[PYRCH_ATTN_MASK];
    if (!a->masked || (m->sb == 0 && m->sh == 0) || entries == 1) {
        ranges = malloc((size_t)t * 2 * sizeof(int32_t));
        dense = malloc((size_t)t);
        if (ranges == NULL || dense == NULL) {
            free(ranges), free(dense);
            return PYRCH_E_NOMEM;
        }
        row_ranges(a, a->masked ? (const uint8_t *)m->ptr : NULL, ranges, ranges + t, dense);
        job.lo = ranges, job.hi = ranges + t, job.dense = dense;
    }
    int parts = a->nthreads < 1 ? 1 : a->nthreads;
    if (parts > PYRCH_MAX_PARTS)
        parts = PYRCH_MAX_PARTS;
    if ((double)parts > (double)entries)
        parts = (int)entries;
    double flops = 4.0 * (double)entries * (double)t * (double)a->s * (double)(a->d + a->dv);
    if (flops < PAR_FLOPS)
        parts = 1;
    job.parts = parts;
    if (parts <= 1)
        attn_part(&job, 0);
    else
        pyrch_pool_run(attn_part, &job, parts);
    free(ranges), free(dense);
    for (int p = 0; p < parts; p++)
        if (job.rc[p])
            return job.rc[p];
    return PYRCH_OK;
}
