/* Layer normalisation rows (see norm.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "norm.h"
#include "vm.h"

typedef struct {
    const float *x, *w, *b, *g;
    float *out, *gx, *pw, *pb;
    int64_t rows, D;
    double eps;
    int parts;
} ln_job_t;

/* mean and 1/sqrt(var + eps) of one row: vectorised float sums over blocks of 1024,
 * the blocks added in double */
static inline void row_stats(const float *restrict x, int64_t D, double eps, double *mean,
                             double *rstd)
{
    double s = 0;
    for (int64_t j0 = 0; j0 < D; j0 += 1024) {
        int64_t j1 = j0 + 1024 < D ? j0 + 1024 : D;
        float p = 0;
#pragma omp simd reduction(+:p)
        for (int64_t j = j0; j < j1; j++)
            p += x[j];
        s += p;
    }
    double m = s / (double)D, v = 0;
    float mf = (float)m;
    for (int64_t j0 = 0; j0 < D; j0 += 1024) {
        int64_t j1 = j0 + 1024 < D ? j0 + 1024 : D;
        float p = 0;
#pragma omp simd reduction(+:p)
        for (int64_t j = j0; j < j1; j++) {
            float d = x[j] - mf;
            p += d * d;
        }
        v += p;
    }
    *mean = m;
    *rstd = 1.0 / sqrt(v / (double)D + eps);
}

__attribute__((target_clones("avx512f", "arch=haswell", "default")))
static void fwd_part(void *ctx, int t)
{
    const ln_job_t *j = ctx;
    int64_t r0 = j->rows * t / j->parts, r1 = j->rows * (t + 1) / j->parts, D = j->D;
    const float *restrict w = j->w, *restrict b = j->b;
    for (int64_t r = r0; r < r1; r++) {
        const float *restrict x = j->x + r * D;
        float *restrict o = j->out + r * D;
        double mean, rstd;
        row_stats(x, D, j->eps, &mean, &rstd);
        float m = (float)mean, s = (float)rstd;
        for (int64_t c = 0; c < D; c++)
            o[c] = (x[c] - m) * s * w[c] + b[c];
    }
}

/* The backward of R rows at once (R a constant after inlining: 4, and 1 for the tail).
 * Per row the same arithmetic in the same order as a row at a time; the block shares
 * one pass that updates w's and b's partial sums (read and written once per R rows
 * instead of per row) and writes the rows' input gradients. */
static inline __attribute__((always_inline)) void bwd_rows(const ln_job_t *j, int64_t r,
                                                           const int R, float *restrict pw,
                                                           float *restrict pb)
{
    int64_t D = j->D;
    const float *restrict x = j->x + r * D, *restrict g = j->g + r * D, *restrict w = j->w;
    float *restrict gx = j->gx + r * D;
    float m[4], s[4], am[4], cm[4];
    for (int q = 0; q < R; q++) {
        double mean, rstd;
        row_stats(x + q * D, D, j->eps, &mean, &rstd);
        m[q] = (float)mean;
        s[q] = (float)rstd;
    }
    for (int q = 0; q < R; q++) {
        const float *restrict xq = x + q * D, *restrict gq = g + q * D;
        float mq = m[q], sq = s[q];
        float a = 0, c2 = 0;            /* row sums of 128-1024 terms: float is enough */
#pragma omp simd reduction(+:a, c2)
        for (int64_t c = 0; c < D; c++) {
            float xh = (xq[c] - mq) * sq, gh = gq[c] * w[c];
            a += gh;
            c2 += gh * xh;
        }
        am[q] = a / (float)D;
        cm[q] = c2 / (float)D;
    }
#pragma omp simd
    for (int64_t c = 0; c < D; c++) {
        float sw = pw[c], sb = pb[c], wc = w[c];
        for (int q = 0; q < R; q++) {
            float gv = g[q * D + c], xh = (x[q * D + c] - m[q]) * s[q];
            sw += gv * xh;
            sb += gv;
            gx[q * D + c] = s[q] * (gv * wc - am[q] - xh * cm[q]);
        }
        pw[c] = sw;
        pb[c] = sb;
    }
}

__attribute__((target_clones("avx512f", "arch=haswell", "default")))
static void bwd_part(void *ctx, int t)
{
    const ln_job_t *j = ctx;
    int64_t r0 = j->rows * t / j->parts, r1 = j->rows * (t + 1) / j->parts, D = j->D;
    float *restrict pw = j->pw + (int64_t)t * D, *restrict pb = j->pb + (int64_t)t * D;
    memset(pw, 0, sizeof(float) * (size_t)D);
    memset(pb, 0, sizeof(float) * (size_t)D);
    int64_t r = r0;
    /* four rows a block: one row's short loops (D of 128) leave the core waiting on
     * their sums; four independent rows keep it busy (GPT's 1024 x 128: 122-135 ->
     * 81 us on one core, measured standalone) */
    for (; r + 4 <= r1; r += 4)
        bwd_rows(j, r, 4, pw, pb);
    for (; r < r1; r++)
        bwd_rows(j, r, 1, pw, pb);
}

static int check(int64_t rows, int64_t D, int64_t big_nbytes, int64_t small_nbytes, int *parts,
                 int nthreads)
{
    if (rows < 0 || D < 0 || rows > (INT64_MAX / 4) / (D > 0 ? D : 1))
        return PYRCH_E_COUNT;
    if (rows * D * 4 > big_nbytes || D * 4 > small_nbytes)
        return PYRCH_E_BOUNDS;
    *parts = pyrch_pool_parts(nthreads, rows / 2, rows * D, (int64_t)1 << 15);  /* 2+ rows a part */
    return PYRCH_OK;
}

int pyrch_layer_norm_f32(const float *x, int64_t x_nbytes, int64_t rows, int64_t D,
                         const float *w, const float *b, int64_t wb_nbytes, double eps,
                         float *out, int64_t out_nbytes, int nthreads)
{
    int parts;
    int rc = check(rows, D, x_nbytes < out_nbytes ? x_nbytes : out_nbytes, wb_nbytes, &parts,
                   nthreads);
    if (rc != PYRCH_OK)
        return rc;
    if (rows == 0 || D == 0)
        return PYRCH_OK;
    if (!x || !w || !b || !out)
        return PYRCH_E_NULL;
    ln_job_t j = {x, w, b, NULL, out, NULL, NULL, NULL, rows, D, eps, parts};
    pyrch_pool_run(fwd_part, &j, parts);
    return PYRCH_OK;
}

int pyrch_layer_norm_backward_f32(const float *g, const float *x, int64_t nbytes, int64_t rows,
                                  int64_t D, const float *w, int64_t w_nbytes, double eps,
                                  float *gx, float *gw, float *gb, int64_t gwb_nbytes,
                                  int nthreads)
{
    int parts;
    int rc = check(rows, D, nbytes, w_nbytes < gwb_nbytes ? w_nbytes : gwb_nbytes, &parts,
                   nthreads);
    if (rc != PYRCH_OK)
        return rc;
    if (D == 0)
        return PYRCH_OK;
    if (!w || !gw || !gb || (rows > 0 && (!g || !x || !gx)))
        return PYRCH_E_NULL;
    float *partial = malloc(sizeof(float) * 2 * (size_t)parts * (size_t)D);
    if (partial == NULL)
        return PYRCH_E_NOMEM;
    ln_job_t j = {x, w, NULL, g, NULL, gx, partial, partial + (int64_t)parts * D, rows, D, eps,
                  parts};
    pyrch_pool_run(bwd_part, &j, parts);
    for (int64_t c = 0; c < D; c++) {
        float sw = j.pw[c], sb = j.pb[c];
        for (int t = 1; t < parts; t++) {
            sw += j.pw[(int64_t)t * D + c];
            sb += j.pb[(int64_t)t * D + c];
        }
        gw[c] = sw;
        gb[c] = sb;
    }
    free(partial);
    return PYRCH_OK;
}
