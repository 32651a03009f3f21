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

int pyrch_maxpool2d_f32(const float *x, int64_t x_nbytes, int64_t planes, int64_t H, int64_t W,
                        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                        int64_t dh, int64_t dw, int64_t OH, int64_t OW,
                        int64_t *idx, int64_t idx_nbytes)
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
    if (ph == 0 && pw == 0 && (OH - 1) * sh + (kh - 1) * dh < H &&
        (OW - 1) * sw + (kw - 1) * dw < W && plane <= INT32_MAX) {
        /* every window inside the plane (no padding, no ceil_mode overhang): one output
         * row at a time, a running (max, index) per column over the kernel offsets, so
         * the column loop vectorises (selects, no branches) */
        float *bv = malloc(sizeof(float) * (size_t)OW);
        int32_t *bi = malloc(sizeof(int32_t) * (size_t)OW);
        if (bv == NULL || bi == NULL) {
            free(bv);
            free(bi);
            return PYRCH_E_NOMEM;
        }
        for (int64_t p = 0; p < planes; p++) {
            const float *src = x + p * plane;
            int64_t *dst = idx + p * OH * OW;
            for (int64_t oh = 0; oh < OH; oh++) {
                int32_t row = (int32_t)(oh * sh * W);
                const float *r0 = src + row;
                for (int64_t ow = 0; ow < OW; ow++) {
                    bv[ow] = r0[ow * sw];
                    bi[ow] = row + (int32_t)(ow * sw);
                }
                for (int64_t i = 0; i < kh; i++)
                    for (int64_t j = 0; j < kw; j++) {
                        if (i == 0 && j == 0)
                            continue;
                        int32_t off = (int32_t)(i * dh * W + j * dw);
                        pick_row(bv, bi, r0 + off, row + off, OW, sw);
                    }
                for (int64_t ow = 0; ow < OW; ow++)
                    dst[oh * OW + ow] = bi[ow];
            }
        }
        free(bv);
        free(bi);
        return PYRCH_OK;
    }
    for (int64_t p = 0; p < planes; p++) {
        const float *src = x + p * plane;
        int64_t *dst = idx + p * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * sh - ph;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * sw - pw;
                int64_t bi = -1;
                float bv = 0.0f;
                for (int64_t i = 0; i < kh; i++) {
                    int64_t h = h0 + i * dh;
                    if (h < 0 || h >= H)
                        continue;
                    for (int64_t j = 0; j < kw; j++) {
                        int64_t w = w0 + j * dw;
                        if (w < 0 || w >= W)
                            continue;
                        if (bi < 0) {
                            bv = src[h * W + w];
                            bi = h * W + w;
                        } else
                            pick(&bv, &bi, src[h * W + w], h * W + w);
                    }
                }
                if (bi < 0) {          /* a window of padding only: its nearest input */
                    int64_t h = h0 < 0 ? 0 : (h0 >= H ? H - 1 : h0);
                    int64_t w = w0 < 0 ? 0 : (w0 >= W ? W - 1 : w0);
                    bi = h * W + w;
                }
                dst[oh * OW + ow] = bi;
            }
        }
    }
    return PYRCH_OK;
}
