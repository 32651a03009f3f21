/* Max-pooling argmax (see pool.h). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "pool.h"
#include "vm.h"

/* Keep (bv, bi) or take (v, at): v wins when bv is not NaN and not (v <= bv), so a NaN
 * wins unless the best is already NaN. Selected with integer masks: as a branch
 * (what gcc makes of the float select under -fno-trapping-math) it mispredicts
 * on every other element of real data (measured 3x slower). */
static inline void pick(float *bv, int64_t *bi, float v, int64_t at)
{
    int64_t take = -(int64_t)((*bv == *bv) & !(v <= *bv));
    int32_t a, b;
    memcpy(&a, bv, 4);
    memcpy(&b, &v, 4);
    a ^= (a ^ b) & (int32_t)take;
    memcpy(bv, &a, 4);
    *bi ^= (*bi ^ at) & take;
}

/* One kernel offset over a row of output columns: the running max and its index. */
static void pick_row(float *restrict bv, int32_t *restrict bi, const float *restrict q,
                     int32_t at0, int64_t n, int64_t step)
{
#pragma omp simd
    for (int64_t ow = 0; ow < n; ow++) {
        float v = q[ow * step], b = bv[ow];
        int take = (b == b) & !(v <= b);
        bv[ow] = take ? v : b;
        bi[ow] = take ? at0 + (int32_t)(ow * step) : bi[ow];
    }
}

static int mul_ok(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0 || (a > 0 && b > INT64_MAX / a))
        return 0;
    *out = a * b;
    return 1;
}

typedef struct {
    int64_t H, W, kh, kw, sh, sw, ph, pw, dh, dw, OW;
} win_t;

/* One output row when every window lies inside the plane. */
static void row_inside(const float *src, int64_t *dst, int64_t oh, const win_t *g, float *bv,
                       int32_t *bi)
{
    int32_t row = (int32_t)(oh * g->sh * g->W);
    const float *r0 = src + row;
    for (int64_t ow = 0; ow < g->OW; ow++) {
        bv[ow] = r0[ow * g->sw];
        bi[ow] = row + (int32_t)(ow * g->sw);
    }
    for (int64_t i = 0; i < g->kh; i++)
        for (int64_t j = 0; j < g->kw; j++) {
            if (i == 0 && j == 0)
                continue;
            int32_t off = (int32_t)(i * g->dh * g->W + j * g->dw);
            pick_row(bv, bi, r0 + off, row + off, g->OW, g->sw);
        }
    for (int64_t ow = 0; ow < g->OW; ow++)
        dst[ow] = bi[ow];
}

/* One output row with every position checked against the plane (padding, overhang). */
static void row_checked(const float *src, int64_t *dst, int64_t oh, const win_t *g)
{
    int64_t h0 = oh * g->sh - g->ph;
    for (int64_t ow = 0; ow < g->OW; ow++) {
        int64_t w0 = ow * g->sw - g->pw;
        int64_t bi = -1;
        float bv = 0.0f;
        for (int64_t i = 0; i < g->kh; i++) {
            int64_t h = h0 + i * g->dh;
            if (h < 0 || h >= g->H)
                continue;
            for (int64_t j = 0; j < g->kw; j++) {
                int64_t w = w0 + j * g->dw;
                if (w < 0 || w >= g->W)
                    continue;
                if (bi < 0) {
                    bv = src[h * g->W + w];
                    bi = h * g->W + w;
                } else
                    pick(&bv, &bi, src[h * g->W + w], h * g->W + w);
            }
        }
        if (bi < 0) {          /* a window of padding only: its nearest input */
            int64_t h = h0 < 0 ? 0 : (h0 >= g->H ? g->H - 1 : h0);
            int64_t w = w0 < 0 ? 0 : (w0 >= g->W ? g->W - 1 : w0);
            bi = h * g->W + w;
        }
        dst[ow] = bi;
    }
}

typedef struct {
    const float *x;
    int64_t *idx;
    const win_t *g;
    int64_t planes, plane, OH;
    int inside, parts;
    int status[PYRCH_MAX_PARTS];
} pool_job_t;

/* Planes [planes t / parts, planes (t + 1) / parts), with this part's row buffers. */
static void pool_part(void *ctx, int t)
{
    pool_job_t *job = ctx;
    const win_t *g = job->g;
    int64_t p0 = job->planes * t / job->parts, p1 = job->planes * (t + 1) / job->parts;
    float *bv = job->inside ? malloc(sizeof(float) * (size_t)g->OW) : NULL;
    int32_t *bi = job->inside ? malloc(sizeof(int32_t) * (size_t)g->OW) : NULL;
    if (job->inside && (bv == NULL || bi == NULL)) {
        free(bv);
        free(bi);
        job->status[t] = PYRCH_E_NOMEM;
        return;
    }
    for (int64_t p = p0; p < p1; p++)
        for (int64_t oh = 0; oh < job->OH; oh++) {
            int64_t *dst = job->idx + (p * job->OH + oh) * g->OW;
            if (job->inside)
                row_inside(job->x + p * job->plane, dst, oh, g, bv, bi);
            else
                row_checked(job->x + p * job->plane, dst, oh, g);
        }
    free(bv);
    free(bi);
}

int pyrch_maxpool2d_f32(const float *x, int64_t x_nbytes, int64_t planes, int64_t H, int64_t W,
                        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                        int64_t dh, int64_t dw, int64_t OH, int64_t OW,
                        int64_t *idx, int64_t idx_nbytes, int nthreads)
{
    if (planes < 0 || H < 1 || W < 1 || kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 ||
        pw < 0 || dh < 1 || dw < 1 || OH < 0 || OW < 0)
        return PYRCH_E_COUNT;
    int64_t plane, xn, on, xb, ob;
    if (!mul_ok(H, W, &plane) || !mul_ok(plane, planes, &xn) || !mul_ok(xn, 4, &xb) ||
        !mul_ok(OH, OW, &on) || !mul_ok(on, planes, &on) || !mul_ok(on, 8, &ob))
        return PYRCH_E_COUNT;
    if (on == 0)
        return PYRCH_OK;
    if (x == NULL || idx == NULL)
        return PYRCH_E_NULL;
    if (xb > x_nbytes || ob > idx_nbytes)
        return PYRCH_E_BOUNDS;
    /* every window must start within reach of the input (no overflow in h0/w0 below) */
    if ((OH - 1) > (INT64_MAX - ph) / sh || (OW - 1) > (INT64_MAX - pw) / sw ||
        kh - 1 > INT64_MAX / dh || kw - 1 > INT64_MAX / dw)
        return PYRCH_E_COUNT;
    win_t g = {H, W, kh, kw, sh, sw, ph, pw, dh, dw, OW};
    /* every window inside the plane (no padding, no ceil_mode overhang): the vectorised
     * row kernel, with a running (max, index) per output column */
    int inside = ph == 0 && pw == 0 && (OH - 1) * sh + (kh - 1) * dh < H &&
                 (OW - 1) * sw + (kw - 1) * dw < W && plane <= INT32_MAX;
    /* planes split across pyrch's threads once there is enough to do */
    pool_job_t job = {x, idx, &g, planes, plane, OH, inside,
                      pyrch_pool_parts(nthreads, planes, on * kh * kw, (int64_t)1 << 16),
                      {PYRCH_OK}};
    pyrch_pool_run(pool_part, &job, job.parts);
    for (int t = 0; t < job.parts; t++)
        if (job.status[t] != PYRCH_OK)
            return job.status[t];
    return PYRCH_OK;
}
