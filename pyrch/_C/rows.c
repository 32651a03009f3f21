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

/* One row of the gradient: softmax y * (g - sum(g y)); log-softmax g - exp(y) sum(g). */
__attribute__((target_clones("avx512f", "arch=haswell", "default")))
static void softmax_bwd_row(const float *restrict g, const float *restrict y, float *restrict o,
                            int64_t n, int lg)
{
    float s = 0.0f;
    if (lg) {
#pragma omp simd reduction(+:s)
        for (int64_t i = 0; i < n; i++)
            s += g[i];
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            o[i] = g[i] - pyrch_expf(y[i]) * s;
    } else {
#pragma omp simd reduction(+:s)
        for (int64_t i = 0; i < n; i++)
            s += g[i] * y[i];
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            o[i] = y[i] * (g[i] - s);
    }
}

#define PYRCH_ROWS_MAX_PARTS 64

typedef struct {
    const float *a, *b;             /* forward: x; backward: g and y */
    float *out;
    int64_t a_st, b_st, out_st, rows, n;
    int lg, backward, parts;
} rows_job_t;

static void rows_part(void *ctx, int t)
{
    const rows_job_t *j = ctx;
    int64_t r0 = j->rows * t / j->parts, r1 = j->rows * (t + 1) / j->parts;
    for (int64_t r = r0; r < r1; r++) {
        if (j->backward)
            softmax_bwd_row(j->a + r * j->a_st, j->b + r * j->b_st, j->out + r * j->out_st, j->n,
                            j->lg);
        else
            softmax_row(j->a + r * j->a_st, j->out + r * j->out_st, j->n, j->lg);
    }
}

/* Rows split across up to nthreads threads of the VM's pool once there is enough. */
static void rows_run(rows_job_t *job, int nthreads)
{
    job->parts = nthreads < 1 ? 1 : nthreads;
    if (job->parts > PYRCH_ROWS_MAX_PARTS)
        job->parts = PYRCH_ROWS_MAX_PARTS;
    if (job->parts > job->rows)
        job->parts = (int)job->rows;
    if (job->rows * job->n < ((int64_t)1 << 15) || job->parts <= 1) {
        job->parts = 1;
        rows_part(job, 0);
    } else
        pyrch_pool_run(rows_part, job, job->parts);
}

int pyrch_softmax_f32(const float *x, int64_t x_nbytes, int64_t x_row_stride,
                      float *y, int64_t y_nbytes, int64_t y_row_stride,
                      int64_t rows, int64_t n, int log_softmax, int nthreads)
{
    if (rows < 0 || n < 0)
        return PYRCH_E_COUNT;
    if (rows == 0 || n == 0)
        return PYRCH_OK;
    if (x == NULL || y == NULL)
        return PYRCH_E_NULL;
    if (!row_fits(rows, n, x_row_stride, x_nbytes) || !row_fits(rows, n, y_row_stride, y_nbytes))
        return PYRCH_E_BOUNDS;
    rows_job_t job = {x, NULL, y, x_row_stride, 0, y_row_stride, rows, n, log_softmax, 0, 1};
    rows_run(&job, nthreads);
    return PYRCH_OK;
}

int pyrch_softmax_backward_f32(const float *g, int64_t g_nbytes, const float *y,
                               int64_t y_nbytes, float *out, int64_t out_nbytes, int64_t rows,
                               int64_t n, int log_softmax, int nthreads)
{
    if (rows < 0 || n < 0)
        return PYRCH_E_COUNT;
    if (rows == 0 || n == 0)
        return PYRCH_OK;
    if (g == NULL || y == NULL || out == NULL)
        return PYRCH_E_NULL;
    if (!row_fits(rows, n, n, g_nbytes) || !row_fits(rows, n, n, y_nbytes) ||
        !row_fits(rows, n, n, out_nbytes))
        return PYRCH_E_BOUNDS;
    rows_job_t job = {g, y, out, n, n, n, rows, n, log_softmax, 1, 1};
    rows_run(&job, nthreads);
    return PYRCH_OK;
}
