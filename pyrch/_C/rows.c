/* Softmax and log-softmax over contiguous rows, vectorised (see rows.h). */
#include <math.h>
#include <stdlib.h>
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

/* A row shorter than this (10 classes) is copied into a full vector's worth,
 * padded with -inf (whose exp is 0), so the loops below run as one vector step each
 * instead of one scalar exp per element (a 128 x 10 softmax: 19 -> 8 us) */
#define ROW_PAD 16

/* A short row (n < ROW_PAD) copied into pad, -inf after it: the row to use instead, with
 * *n set to ROW_PAD; a full-length row is used in place. */
static inline const float *padded_row(const float *x, int64_t *n, float *pad)
{
    if (*n >= ROW_PAD)
        return x;
    for (int64_t i = 0; i < ROW_PAD; i++)
        pad[i] = i < *n ? x[i] : -INFINITY;
    *n = ROW_PAD;
    return pad;
}

/* The row's max; NaN if any value is NaN (then the whole row's result is NaN). */
static inline float row_max(const float *restrict x, int64_t n)
{
    float m = -INFINITY;
    int nan = 0;
#pragma omp simd reduction(max:m) reduction(|:nan)
    for (int64_t i = 0; i < n; i++) {
        m = x[i] > m ? x[i] : m;
        nan |= x[i] != x[i];
    }
    return nan ? NAN : m;
}

/* One row: the max, exp(x - max) into y with its sum, then the scale (or log). */
__attribute__((target_clones("avx512f", "arch=haswell", "default")))
static void softmax_row(const float *restrict x, float *restrict y, int64_t n, int lg)
{
    float pad[ROW_PAD], py[ROW_PAD];
    float *out = y;
    int64_t n0 = n;
    x = padded_row(x, &n, pad);
    if (n != n0)
        y = py;
    float m = row_max(x, n);
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
    if (y != out)
        for (int64_t i = 0; i < n0; i++)
            out[i] = y[i];
}

/* For the VM's row outputs (vm.h out_acc 2 / 3): x and y are one row each, n long,
 * checked by pyrch_fused_validate. Not declared in a header cffi reads. */
void pyrch_softmax_row_f32(const float *x, float *y, int64_t n, int log_softmax)
{
    softmax_row(x, y, n, log_softmax);
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

/* rows split across up to nthreads threads of the VM's pool once there are 32k values */
#define ROWS_PAR_MIN ((int64_t)1 << 15)

static void rows_run(rows_job_t *job, int nthreads)
{
    job->parts = pyrch_pool_parts(nthreads, job->rows, job->rows * job->n, ROWS_PAR_MIN);
    pyrch_pool_run(rows_part, job, job->parts);
}

/* Cross-entropy over class indices, one row at a time: the loss is the row's
 * logsumexp minus its target's value, in the same operations as log_softmax
 * followed by the pick (so the two paths give the same bits); the gradient is
 * softmax(row) with 1 taken off at the target, times the row's scale. */
__attribute__((target_clones("avx512f", "arch=haswell", "default")))
static float ce_row(const float *restrict x, int64_t n, int64_t t)
{
    float pad[ROW_PAD];
    x = padded_row(x, &n, pad);
    float m = row_max(x, n);
    float s = 0.0f;
#pragma omp simd reduction(+:s)
    for (int64_t i = 0; i < n; i++)
        s += pyrch_expf(x[i] - m);
    return -((x[t] - m) - pyrch_logf(s));
}

/* softmax(x) - onehot(t), times scale: the softmax row's own operations, then the target */
static void ce_grad_row(const float *restrict x, float *restrict o, int64_t n, int64_t t,
                        float scale)
{
    softmax_row(x, o, n, 0);
    o[t] -= 1.0f;
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        o[i] = o[i] * scale;
}

/* Every target is ignore_index or in [0, n): else PYRCH_E_INDEX with the first bad
 * row in *bad_row. *kept: the rows that count. */
static int ce_check(const int64_t *t, int64_t rows, int64_t n, int64_t ignore_index,
                    int64_t *bad_row, int64_t *kept)
{
    int64_t k = 0;
    for (int64_t r = 0; r < rows; r++) {
        if (t[r] == ignore_index)
            continue;
        if (t[r] < 0 || t[r] >= n) {
            *bad_row = r;
            return PYRCH_E_INDEX;
        }
        k++;
    }
    *kept = k;
    return PYRCH_OK;
}

typedef struct {
    const float *x, *g;
    const int64_t *t;
    float *out;
    int64_t rows, n, ignore, g_stride;
    float div;
    int backward, parts;
} ce_job_t;

static void ce_part(void *ctx, int p)
{
    const ce_job_t *j = ctx;
    int64_t r0 = j->rows * p / j->parts, r1 = j->rows * (p + 1) / j->parts, n = j->n;
    for (int64_t r = r0; r < r1; r++) {
        if (!j->backward)
            j->out[r] = j->t[r] == j->ignore ? 0.0f : ce_row(j->x + r * n, n, j->t[r]);
        else if (j->t[r] == j->ignore)
            for (int64_t i = 0; i < n; i++)
                j->out[r * n + i] = 0.0f;
        else
            ce_grad_row(j->x + r * n, j->out + r * n, n, j->t[r], j->g[r * j->g_stride] / j->div);
    }
}

static void ce_run(ce_job_t *j, int nthreads)
{
    j->parts = pyrch_pool_parts(nthreads, j->rows, j->rows * j->n, ROWS_PAR_MIN);
    pyrch_pool_run(ce_part, j, j->parts);
}

int pyrch_cross_entropy_f32(const float *x, int64_t x_nbytes, const int64_t *t,
                            int64_t t_nbytes, int64_t rows, int64_t n, int64_t ignore_index,
                            float *loss, int64_t loss_nbytes, int64_t *bad_row, int64_t *kept,
                            int nthreads)
{
    if (rows < 0 || n < 1)
        return PYRCH_E_COUNT;
    if (bad_row == NULL || kept == NULL || (rows > 0 && (x == NULL || t == NULL || loss == NULL)))
        return PYRCH_E_NULL;
    *bad_row = -1;
    *kept = 0;
    if (!row_fits(rows, n, n, x_nbytes) || rows > t_nbytes / 8 || rows > loss_nbytes / 4)
        return PYRCH_E_BOUNDS;
    int rc = ce_check(t, rows, n, ignore_index, bad_row, kept);
    if (rc)
        return rc;
    ce_job_t job = {x, NULL, t, loss, rows, n, ignore_index, 0, 1.0f, 0, 1};
    ce_run(&job, nthreads);
    return PYRCH_OK;
}

int pyrch_cross_entropy_reduce_f32(const float *x, int64_t x_nbytes, const int64_t *t,
                                   int64_t t_nbytes, int64_t rows, int64_t n,
                                   int64_t ignore_index, int reduction, float *out,
                                   int64_t out_nbytes, int64_t *bad_row, int nthreads)
{
    int64_t kept;
    if (reduction < 0 || reduction > 2)
        return PYRCH_E_COUNT;
    if (reduction == 0)
        return pyrch_cross_entropy_f32(x, x_nbytes, t, t_nbytes, rows, n, ignore_index, out,
                                       out_nbytes, bad_row, &kept, nthreads);
    if (out == NULL || bad_row == NULL)
        return PYRCH_E_NULL;
    if (out_nbytes < 4)
        return PYRCH_E_BOUNDS;
    if (rows < 0 || rows > INT64_MAX / 4)
        return PYRCH_E_COUNT;
    float *loss = malloc(sizeof(float) * (size_t)(rows > 0 ? rows : 1));
    if (loss == NULL)
        return PYRCH_E_NOMEM;
    int rc = pyrch_cross_entropy_f32(x, x_nbytes, t, t_nbytes, rows, n, ignore_index, loss,
                                     rows * 4, bad_row, &kept, nthreads);
    if (rc == PYRCH_OK) {
        double s = 0;
        for (int64_t r = 0; r < rows; r++)
            s += loss[r];
        float total = (float)s;
        *out = reduction == 1 ? total : total / (float)kept;   /* none counted: 0 / 0 */
    }
    free(loss);
    return rc;
}

int pyrch_cross_entropy_backward_f32(const float *g, int64_t g_nbytes, int64_t g_stride,
                                     int mean, const float *x, int64_t x_nbytes,
                                     const int64_t *t, int64_t t_nbytes, int64_t rows, int64_t n,
                                     int64_t ignore_index, float *out, int64_t out_nbytes,
                                     int64_t *bad_row, int nthreads)
{
    if (rows < 0 || n < 1 || g_stride < 0)
        return PYRCH_E_COUNT;
    if (bad_row == NULL || (rows > 0 && (g == NULL || x == NULL || t == NULL || out == NULL)))
        return PYRCH_E_NULL;
    *bad_row = -1;
    if (!row_fits(rows, n, n, x_nbytes) || !row_fits(rows, n, n, out_nbytes) ||
        rows > t_nbytes / 8 || (rows > 0 && (rows - 1) * g_stride >= g_nbytes / 4))
        return PYRCH_E_BOUNDS;
    int64_t kept;
    int rc = ce_check(t, rows, n, ignore_index, bad_row, &kept);
    if (rc)
        return rc;
    /* a mean divides by the counted rows (none counted: every row is 0, no division) */
    float div = mean && kept > 0 ? (float)kept : 1.0f;
    ce_job_t job = {x, g, t, out, rows, n, ignore_index, g_stride, div, 1, 1};
    ce_run(&job, nthreads);
    return PYRCH_OK;
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
