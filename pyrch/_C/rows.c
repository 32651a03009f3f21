/* Softmax and log-softmax over contiguous rows, vectorised (see rows.h). */
#include <math.h>
#include "rows.h"
#include "vm.h"
#include "vmath.h"

static int row_fits(int64_t rows, int64_t n, int64_t stride, int64_t nbytes)
{
    if (rows == 0 || n == 0)
        return 1;
    if (stride < n || rows - 1 > (INT64_MAX / 4 - n) / stride)
        return 0;
    return ((rows - 1) * stride + n) * 4 <= nbytes;
}

/* One row: the max, exp(x - max) into y with its sum, then the scale (or log). */
__attribute__((target_clones("avx512f", "arch=haswell", "default")))
static void softmax_row(const float *restrict x, float *restrict y, int64_t n, int lg)
{
    float m = -INFINITY;
    int nan = 0;
#pragma omp simd reduction(max:m) reduction(|:nan)
    for (int64_t i = 0; i < n; i++) {
        m = x[i] > m ? x[i] : m;
        nan |= x[i] != x[i];
    }
    if (nan)
        m = NAN;                      /* a NaN anywhere makes the whole row NaN */
    float s = 0.0f;
    if (lg) {
#pragma omp simd reduction(+:s)
        for (int64_t i = 0; i < n; i++)
            s += pyrch_expf(x[i] - m);
        float ls = pyrch_logf(s);
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = (x[i] - m) - ls;
    } else {
#pragma omp simd reduction(+:s)
        for (int64_t i = 0; i < n; i++) {
            float e = pyrch_expf(x[i] - m);
            y[i] = e;
            s += e;
        }
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] / s;
    }
}

int pyrch_softmax_f32(const float *x, int64_t x_nbytes, int64_t x_row_stride,
                      float *y, int64_t y_nbytes, int64_t y_row_stride,
                      int64_t rows, int64_t n, int log_softmax)
{
    if (rows < 0 || n < 0)
        return PYRCH_E_COUNT;
    if (rows == 0 || n == 0)
        return PYRCH_OK;
    if (x == NULL || y == NULL)
        return PYRCH_E_NULL;
    if (!row_fits(rows, n, x_row_stride, x_nbytes) || !row_fits(rows, n, y_row_stride, y_nbytes))
        return PYRCH_E_BOUNDS;
    for (int64_t r = 0; r < rows; r++)
        softmax_row(x + r * x_row_stride, y + r * y_row_stride, n, log_softmax);
    return PYRCH_OK;
}
