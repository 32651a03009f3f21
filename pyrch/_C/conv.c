/* im2col / col2im, and the direct float32 convolution and its weight gradient (see conv.h). */
#include <stddef.h>
#include <string.h>
#include <stdlib.h>
#include "conv.h"
#include "vm.h"
#include "smallgemm.h"

static int mul_ok(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0 || (a > 0 && b > INT64_MAX / a))
        return 0;
    *out = a * b;
    return 1;
}

/* Check the geometry; on success *xn / *cn are the image and column element counts. */
static int check(const pyrch_conv_t *g, int64_t *xn, int64_t *cn)
{
    if (g == NULL)
        return PYRCH_E_NULL;
    if (g->esz != 4 && g->esz != 8)
        return PYRCH_E_DTYPE;
    if (g->N < 0 || g->C < 0 || g->H < 1 || g->W < 1 || g->kh < 1 || g->kw < 1 || g->sh < 1 ||
        g->sw < 1 || g->ph < 0 || g->pw < 0 || g->dh < 1 || g->dw < 1 || g->OH < 0 || g->OW < 0)
        return PYRCH_E_COUNT;
    /* every index below stays far from overflow: bound each term */
    const int64_t lim = (int64_t)1 << 40;
    if (g->H > lim || g->W > lim || g->ph > lim || g->pw > lim || g->OH > lim || g->OW > lim ||
        g->kh > lim || g->kw > lim || g->sh > lim || g->sw > lim || g->dh > lim || g->dw > lim ||
        (g->OH - 1) * g->sh > lim || (g->OW - 1) * g->sw > lim ||
        (g->kh - 1) * g->dh > lim || (g->kw - 1) * g->dw > lim)
        return PYRCH_E_COUNT;
    int64_t t;
    if (!mul_ok(g->N, g->C, &t) || !mul_ok(t, g->H, &t) || !mul_ok(t, g->W, xn))
        return PYRCH_E_COUNT;
    if (!mul_ok(g->C, g->kh, &t) || !mul_ok(t, g->kw, &t) || !mul_ok(t, g->N, &t) ||
        !mul_ok(t, g->OH, &t) || !mul_ok(t, g->OW, cn))
        return PYRCH_E_COUNT;
    if (*xn > INT64_MAX / 8 || *cn > INT64_MAX / 8)
        return PYRCH_E_COUNT;
    return PYRCH_OK;
}

/* The output columns [lo, hi) of one kernel column j that land inside a row of W. */
static void span(const pyrch_conv_t *g, int64_t j, int64_t *w0, int64_t *lo, int64_t *hi)
{
    int64_t a = j * g->dw - g->pw;          /* input column of output column 0 */
    int64_t l = a >= 0 ? 0 : (-a + g->sw - 1) / g->sw;
    int64_t h = g->W - 1 - a < 0 ? 0 : (g->W - 1 - a) / g->sw + 1;
    if (l > g->OW)
        l = g->OW;
    if (h > g->OW)
        h = g->OW;
    if (h < l)
        h = l;
    *w0 = a;
    *lo = l;
    *hi = h;
}

/* Short rows: a call to memcpy per 10-element row cost more than the copy. */
#define DEFINE_IM2COL(T, SUF)                                                               \
static void copy_short_##SUF(T *restrict d, const T *restrict s, int64_t n)                 \
{                                                                                           \
    for (int64_t k = 0; k < n; k++)                                                         \
        d[k] = s[k];                                                                        \
}                                                                                           \
                                                                                            \
static void im2col_##SUF(const pyrch_conv_t *g, const T *x, T *cols, int64_t n0, int64_t n1) \
{                                                                                           \
    const int64_t L = g->OH * g->OW, plane = g->H * g->W;                                   \
    for (int64_t c = 0; c < g->C; c++)                                                      \
        for (int64_t i = 0; i < g->kh; i++)                                                 \
            for (int64_t j = 0; j < g->kw; j++) {                                           \
                int64_t w0, lo, hi;                                                         \
                span(g, j, &w0, &lo, &hi);                                                  \
                T *row = cols + ((c * g->kh + i) * g->kw + j) * g->N * L;                   \
                for (int64_t n = n0; n < n1; n++) {                                         \
                    const T *src = x + (n * g->C + c) * plane;                              \
                    T *dst = row + n * L;                                                   \
                    for (int64_t oh = 0; oh < g->OH; oh++, dst += g->OW) {                  \
                        int64_t h = oh * g->sh - g->ph + i * g->dh;                         \
                        if (h < 0 || h >= g->H) {                                           \
                            memset(dst, 0, sizeof(T) * (size_t)g->OW);                      \
                            continue;                                                       \
                        }                                                                   \
                        const T *s = src + h * g->W;                                   \
                        for (int64_t ow = 0; ow < lo; ow++)                                 \
                            dst[ow] = 0;                                                    \
                        if (g->sw == 1 && hi - lo >= 64)                                    \
                            memcpy(dst + lo, s + w0 + lo, sizeof(T) * (size_t)(hi - lo));        \
                        else if (g->sw == 1)                                                \
                            copy_short_##SUF(dst + lo, s + w0 + lo, hi - lo);                \
                        else                                                                \
                            for (int64_t ow = lo; ow < hi; ow++)                            \
                                dst[ow] = s[w0 + ow * g->sw];                                    \
                        for (int64_t ow = hi; ow < g->OW; ow++)                             \
                            dst[ow] = 0;                                                    \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
}                                                                                           \
                                                                                            \
__attribute__((target_clones("avx512f", "arch=haswell", "default")))                         \
static void col2im_##SUF(const pyrch_conv_t *g, const T *cols, T *img, int64_t n0,         \
                         int64_t n1)                                                        \
{                                                                                           \
    const int64_t L = g->OH * g->OW, plane = g->H * g->W;                                   \
    memset(img + n0 * g->C * plane, 0, sizeof(T) * (size_t)((n1 - n0) * g->C * plane));     \
    for (int64_t c = 0; c < g->C; c++)                                                      \
        for (int64_t i = 0; i < g->kh; i++)                                                 \
            for (int64_t j = 0; j < g->kw; j++) {                                           \
                int64_t w0, lo, hi;                                                         \
                span(g, j, &w0, &lo, &hi);                                                  \
                const T *row = cols + ((c * g->kh + i) * g->kw + j) * g->N * L;             \
                for (int64_t n = n0; n < n1; n++) {                                         \
                    T *dst = img + (n * g->C + c) * plane;                                  \
                    const T *src = row + n * L;                                             \
                    for (int64_t oh = 0; oh < g->OH; oh++) {                                \
                        int64_t h = oh * g->sh - g->ph + i * g->dh;                         \
                        if (h < 0 || h >= g->H)                                             \
                            continue;                                                       \
                        T *d = dst + h * g->W;                                              \
                        const T *s = src + oh * g->OW;                                      \
                        if (g->sw == 1) {                                                   \
                            _Pragma("omp simd")                                             \
                            for (int64_t ow = lo; ow < hi; ow++)                            \
                                d[w0 + ow] += s[ow];                                        \
                        } else                                                              \
                            for (int64_t ow = lo; ow < hi; ow++)                            \
                                d[w0 + ow * g->sw] += s[ow];                                \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
}

DEFINE_IM2COL(float, f32)
DEFINE_IM2COL(double, f64)

/* One call split by samples: part t takes samples [N t / parts, N (t + 1) / parts). */
typedef struct {
    const pyrch_conv_t *g;
    const void *src;
    void *dst;
    int col2im, parts;
} conv_job_t;

static void conv_part(void *ctx, int t)
{
    const conv_job_t *job = ctx;
    const pyrch_conv_t *g = job->g;
    int64_t n0 = g->N * t / job->parts, n1 = g->N * (t + 1) / job->parts;
    if (job->col2im) {
        if (g->esz == 4)
            col2im_f32(g, job->src, job->dst, n0, n1);
        else
            col2im_f64(g, job->src, job->dst, n0, n1);
    } else if (g->esz == 4)
        im2col_f32(g, job->src, job->dst, n0, n1);
    else
        im2col_f64(g, job->src, job->dst, n0, n1);
}

/* g->nthreads was chosen by the caller (conv.py) from the amount of work */
static void run_split(const pyrch_conv_t *g, const void *src, void *dst, int col2im)
{
    conv_job_t job = {g, src, dst, col2im, pyrch_pool_parts(g->nthreads, g->N, 1, 0)};
    pyrch_pool_run(conv_part, &job, job.parts);
}

int pyrch_im2col(const pyrch_conv_t *g, const void *x, int64_t x_nbytes, void *cols,
                 int64_t cols_nbytes)
{
    int64_t xn, cn;
    int rc = check(g, &xn, &cn);
    if (rc != PYRCH_OK)
        return rc;
    if (cn == 0)
        return PYRCH_OK;
    if (x == NULL && xn > 0)
        return PYRCH_E_NULL;
    if (cols == NULL)
        return PYRCH_E_NULL;
    if (xn * g->esz > x_nbytes || cn * g->esz > cols_nbytes)
        return PYRCH_E_BOUNDS;
    if (xn == 0)                        /* C == 0 or N == 0 gives cn == 0 above */
        return PYRCH_E_COUNT;
    run_split(g, x, cols, 0);
    return PYRCH_OK;
}

int pyrch_col2im(const pyrch_conv_t *g, const void *cols, int64_t cols_nbytes, void *img,
                 int64_t img_nbytes)
{
    int64_t xn, cn;
    int rc = check(g, &xn, &cn);
    if (rc != PYRCH_OK)
        return rc;
    if (xn == 0)
        return PYRCH_OK;
    if (img == NULL || (cols == NULL && cn > 0))
        return PYRCH_E_NULL;
    if (xn * g->esz > img_nbytes || cn * g->esz > cols_nbytes)
        return PYRCH_E_BOUNDS;
    run_split(g, cols, img, 1);
    return PYRCH_OK;
}


/* -- direct (implicit-GEMM) float32 convolution ------------------------------------ */

/* padded samples up to this many floats (1 MB) stay in a core's L2 */
#define PYRCH_CONV_DIRECT_MAX ((int64_t)1 << 18)

typedef struct {
    const pyrch_conv_t *g;
    const float *x, *w;
    float *y;
    int64_t O, Hp, Wp;
    const int64_t *roff;
    int parts;
    int status[PYRCH_MAX_PARTS];
    const float *gy;                /* the weight gradient's: output gradient, partial sums */
    float *partial;
} direct_job_t;

/* Sample n's image into its zero-padded planes xp (C planes of Hp x Wp): rows ph.. and
 * columns pw.. hold the image, clipped to the plane; the rest was zeroed once and stays
 * zero for every sample. */
static void fill_planes(const direct_job_t *job, int64_t n, float *xp)
{
    const pyrch_conv_t *g = job->g;
    int64_t Hp = job->Hp, Wp = job->Wp;
    int64_t rows = g->H < Hp - g->ph ? g->H : Hp - g->ph;
    int64_t cols = g->W < Wp - g->pw ? g->W : Wp - g->pw;
    if (cols <= 0)
        return;                         /* the padding alone covers the plane */
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t h = 0; h < rows; h++)
            memcpy(xp + (c * Hp + h + g->ph) * Wp + g->pw,
                   job->x + ((n * g->C + c) * g->H + h) * g->W, sizeof(float) * (size_t)cols);
}

static void direct_part(void *ctx, int t)
{
    direct_job_t *job = ctx;
    const pyrch_conv_t *g = job->g;
    int64_t n0 = g->N * t / job->parts, n1 = g->N * (t + 1) / job->parts;
    int64_t Hp = job->Hp, Wp = job->Wp, plane = Hp * Wp, P = g->OH * Wp;
    int64_t ckk = g->C * g->kh * g->kw;
    /* the padded planes, with slack: the dropped positions of the last row read up
     * to kw - 1 floats past the last plane */
    float *xp = calloc((size_t)(g->C * plane + Wp + 64), sizeof(float));
    float *tmp = malloc(sizeof(float) * (size_t)(job->O * P));
    if (xp == NULL || tmp == NULL) {
        free(xp);
        free(tmp);
        job->status[t] = PYRCH_E_NOMEM;
        return;
    }
    for (int64_t n = n0; n < n1; n++) {
        fill_planes(job, n, xp);
        pyrch_small_sgemm_rows(job->O, P, ckk, job->w, ckk, xp, job->roff, tmp, P);
        float *yn = job->y + n * job->O * g->OH * g->OW;
        for (int64_t o = 0; o < job->O; o++)
            for (int64_t oh = 0; oh < g->OH; oh++)
                memcpy(yn + (o * g->OH + oh) * g->OW, tmp + o * P + oh * Wp,
                       sizeof(float) * (size_t)g->OW);
    }
    free(xp);
    free(tmp);
}

/* The checks both direct kernels share; on PYRCH_OK *wn / *yn are the weight and
 * output element counts and *roff the offset of each (c, i, j) row in a sample's
 * padded planes (the caller frees it; NULL when there is nothing to do). */
static int direct_setup(const pyrch_conv_t *g, int64_t O, int64_t *xn, int64_t *wn,
                        int64_t *yn, int64_t **roff)
{
    int64_t cn, t;
    *roff = NULL;
    int rc = check(g, xn, &cn);
    if (rc != PYRCH_OK)
        return rc;
    if (g->esz != 4 || g->sh != 1 || g->sw != 1 || g->dh != 1 || g->dw != 1)
        return PYRCH_CONV_NOT_TAKEN;
    if (O < 1 || O > ((int64_t)1 << 30))
        return PYRCH_E_COUNT;
    int64_t Hp = g->OH + g->kh - 1, Wp = g->OW + g->kw - 1;
    if (!mul_ok(O, g->C, &t) || !mul_ok(t, g->kh * g->kw, wn) || !mul_ok(g->N, O, &t) ||
        !mul_ok(t, g->OH, &t) || !mul_ok(t, g->OW, yn) || *yn > INT64_MAX / 8)
        return PYRCH_E_COUNT;
    if (g->C * Hp * Wp > PYRCH_CONV_DIRECT_MAX || O * g->OH * Wp > PYRCH_CONV_DIRECT_MAX ||
        g->C * g->kh * g->kw > PYRCH_CONV_DIRECT_MAX)
        return PYRCH_CONV_NOT_TAKEN;
    /* a probe: 0 when the kernels are off or missing (no AVX-512) */
    if (!pyrch_small_sgemm_rows(0, 0, 0, NULL, 0, NULL, NULL, NULL, 0))
        return PYRCH_CONV_NOT_TAKEN;
    if (*yn == 0)
        return PYRCH_OK;
    int64_t ckk = g->C * g->kh * g->kw;
    *roff = malloc(sizeof(int64_t) * (size_t)ckk);
    if (*roff == NULL)
        return PYRCH_E_NOMEM;
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++)
                (*roff)[(c * g->kh + i) * g->kw + j] = c * Hp * Wp + i * Wp + j;
    return PYRCH_OK;
}

/* Run part(job, t) for the samples split into job->parts (from pyrch_pool_parts). */
static int direct_run(direct_job_t *job, void (*part)(void *, int))
{
    pyrch_pool_run(part, job, job->parts);
    for (int t = 0; t < job->parts; t++)
        if (job->status[t] != PYRCH_OK)
            return job->status[t];
    return PYRCH_OK;
}

int pyrch_conv2d_f32(const pyrch_conv_t *g, const void *x, int64_t x_nbytes, const void *w,
                     int64_t w_nbytes, int64_t O, void *y, int64_t y_nbytes)
{
    int64_t xn, wn, yn, *roff;
    int rc = direct_setup(g, O, &xn, &wn, &yn, &roff);
    if (rc != PYRCH_OK || yn == 0)
        return rc;
    if (x == NULL || w == NULL || y == NULL)
        rc = PYRCH_E_NULL;
    else if (xn * 4 > x_nbytes || wn * 4 > w_nbytes || yn * 4 > y_nbytes)
        rc = PYRCH_E_BOUNDS;
    else {
        direct_job_t job = {g, x, w, y, O, g->OH + g->kh - 1, g->OW + g->kw - 1, roff,
                            pyrch_pool_parts(g->nthreads, g->N, 1, 0), {PYRCH_OK}, NULL, NULL};
        rc = direct_run(&job, direct_part);
    }
    free(roff);
    return rc;
}

/* Samples [n0, n1) of the weight gradient into this part's partial sum (O x C*kh*kw). */
static void weight_part(void *ctx, int t)
{
    direct_job_t *job = ctx;
    const pyrch_conv_t *g = job->g;
    int64_t n0 = g->N * t / job->parts, n1 = g->N * (t + 1) / job->parts;
    int64_t Hp = job->Hp, Wp = job->Wp, plane = Hp * Wp, P = g->OH * Wp;
    int64_t ckk = g->C * g->kh * g->kw, O = job->O;
    float *xp = calloc((size_t)(g->C * plane + Wp + 64), sizeof(float));
    float *gw = calloc((size_t)(O * P), sizeof(float));     /* 0 past OW in every row */
    float *tmp = malloc(sizeof(float) * (size_t)(O * ckk));
    float *acc = job->partial + (int64_t)t * O * ckk;
    if (xp == NULL || gw == NULL || tmp == NULL) {
        free(xp);
        free(gw);
        free(tmp);
        job->status[t] = PYRCH_E_NOMEM;
        return;
    }
    memset(acc, 0, sizeof(float) * (size_t)(O * ckk));
    for (int64_t n = n0; n < n1; n++) {
        fill_planes(job, n, xp);
        const float *gn = job->gy + n * O * g->OH * g->OW;
        for (int64_t o = 0; o < O; o++)
            for (int64_t oh = 0; oh < g->OH; oh++)
                memcpy(gw + o * P + oh * Wp, gn + (o * g->OH + oh) * g->OW,
                       sizeof(float) * (size_t)g->OW);
        /* dw[o, (c, i, j)] += sum over positions of gy[o, p] * x shifted by (i, j) */
        pyrch_small_sgemm_nt_rows(O, ckk, P, gw, P, xp, job->roff, tmp, ckk);
        for (int64_t e = 0; e < O * ckk; e++)
            acc[e] += tmp[e];
    }
    free(xp);
    free(gw);
    free(tmp);
}

int pyrch_conv2d_weight_f32(const pyrch_conv_t *g, const void *x, int64_t x_nbytes,
                            const void *gy, int64_t gy_nbytes, int64_t O, void *dw,
                            int64_t dw_nbytes)
{
    int64_t xn, wn, yn, *roff;
    int rc = direct_setup(g, O, &xn, &wn, &yn, &roff);
    if (rc != PYRCH_OK)
        return rc;
    if (dw == NULL || (yn > 0 && (x == NULL || gy == NULL)))
        rc = PYRCH_E_NULL;
    else if (xn * 4 > x_nbytes || wn * 4 > dw_nbytes || yn * 4 > gy_nbytes)
        rc = PYRCH_E_BOUNDS;
    else if (yn == 0)
        memset(dw, 0, sizeof(float) * (size_t)wn);
    else {
        int parts = pyrch_pool_parts(g->nthreads, g->N, 1, 0);
        float *partial = malloc(sizeof(float) * (size_t)(wn * parts));
        if (partial == NULL)
            rc = PYRCH_E_NOMEM;
        else {
            direct_job_t job = {g, x, NULL, NULL, O, g->OH + g->kh - 1, g->OW + g->kw - 1,
                                roff, parts, {PYRCH_OK}, gy, partial};
            rc = direct_run(&job, weight_part);
            if (rc == PYRCH_OK) {         /* the parts' sums, in part order */
                float *out = dw;
                memcpy(out, partial, sizeof(float) * (size_t)wn);
                for (int t = 1; t < job.parts; t++)
                    for (int64_t e = 0; e < wn; e++)
                        out[e] += partial[t * wn + e];
            }
            free(partial);
        }
    }
    free(roff);
    return rc;
}
