/* Row gather / scatter-add (see rowsel.h). */
#include <stddef.h>
#include <string.h>
#include "rowsel.h"
#include <stdlib.h>
#include "vm.h"

static int mul_ok(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0 || (a > 0 && b > INT64_MAX / a))
        return 0;
    *out = a * b;
    return 1;
}

/* Shared checks: counts, extents and pointers. */
static int check(int esz, int64_t table_nbytes, int64_t V, int64_t width, int64_t idx_nbytes,
                 int64_t n, int64_t rows_nbytes, const void *a, const void *b, const void *c)
{
    int64_t tb, ib, rb;
    if (V < 0 || width < 0 || n < 0)
        return PYRCH_E_COUNT;
    if (!mul_ok(V, width, &tb) || !mul_ok(tb, esz, &tb) || !mul_ok(n, 8, &ib) ||
        !mul_ok(n, width, &rb) || !mul_ok(rb, esz, &rb))
        return PYRCH_E_COUNT;
    if (tb > table_nbytes || ib > idx_nbytes || rb > rows_nbytes)
        return PYRCH_E_BOUNDS;
    if ((tb > 0 && a == NULL) || (n > 0 && b == NULL) || (rb > 0 && c == NULL))
        return PYRCH_E_NULL;
    return PYRCH_OK;
}

int pyrch_gather_rows(int esz, const void *table, int64_t table_nbytes, int64_t V, int64_t width,
                      const int64_t *idx, int64_t idx_nbytes, int64_t n, void *out,
                      int64_t out_nbytes)
{
    if (esz != 1 && esz != 2 && esz != 4 && esz != 8)
        return PYRCH_E_DTYPE;
    int rc = check(esz, table_nbytes, V, width, idx_nbytes, n, out_nbytes, table, idx, out);
    if (rc != PYRCH_OK)
        return rc;
    if (width == 1 && esz == 4) {          /* one value per index: max-pool, nll */
        const uint32_t *t = table;
        uint32_t *o = out;
        for (int64_t i = 0; i < n; i++) {
            int64_t k = idx[i];
            if ((uint64_t)k >= (uint64_t)V)
                return PYRCH_E_INDEX;
            o[i] = t[k];
        }
        return PYRCH_OK;
    }
    const size_t row = (size_t)(width * esz);
    for (int64_t i = 0; i < n; i++) {
        int64_t k = idx[i];
        if ((uint64_t)k >= (uint64_t)V)
            return PYRCH_E_INDEX;
        memcpy((char *)out + (size_t)i * row, (const char *)table + (size_t)k * row, row);
    }
    return PYRCH_OK;
}

#define DEFINE_SCATTER(T, SUF)                                                               \
static int scatter_##SUF(T *out, int64_t V, int64_t width, const int64_t *idx, int64_t n,    \
                         const T *g)                                                         \
{                                                                                            \
    if (width == 1) {                                                                        \
        for (int64_t i = 0; i < n; i++) {                                                    \
            int64_t k = idx[i];                                                              \
            if ((uint64_t)k >= (uint64_t)V)                                                  \
                return PYRCH_E_INDEX;                                                        \
            out[k] += g[i];                                                                  \
        }                                                                                    \
        return PYRCH_OK;                                                                     \
    }                                                                                        \
    for (int64_t i = 0; i < n; i++) {                                                        \
        int64_t k = idx[i];                                                                  \
        if ((uint64_t)k >= (uint64_t)V)                                                      \
            return PYRCH_E_INDEX;                                                            \
        T *restrict d = out + k * width;                                                     \
        const T *restrict s = g + i * width;                                                 \
        _Pragma("omp simd")                                                                  \
        for (int64_t j = 0; j < width; j++)                                                  \
            d[j] += s[j];                                                                    \
    }                                                                                        \
    return PYRCH_OK;                                                                         \
}

DEFINE_SCATTER(float, f32)
DEFINE_SCATTER(double, f64)

int pyrch_scatter_add_rows(int esz, void *out, int64_t out_nbytes, int64_t V, int64_t width,
                           const int64_t *idx, int64_t idx_nbytes, int64_t n, const void *g,
                           int64_t g_nbytes)
{
    if (esz != 4 && esz != 8)
        return PYRCH_E_DTYPE;
    int rc = check(esz, out_nbytes, V, width, idx_nbytes, n, g_nbytes, out, idx, g);
    if (rc != PYRCH_OK)
        return rc;
    if (V * width > 0)
        memset(out, 0, (size_t)(V * width * esz));
    return esz == 4 ? scatter_f32(out, V, width, idx, n, g) : scatter_f64(out, V, width, idx, n, g);
}


typedef struct {
    int esz, parts;
    const char *a;
    int64_t rows, cols;
    char *partial;          /* parts x cols accumulators, in the compute dtype */
} sum_job_t;

#define DEFINE_SUM_PART(T, SUF)                                                              \
__attribute__((target_clones("avx512f", "arch=haswell", "default")))                         \
static void sum_part_##SUF(const sum_job_t *j, int t)                                        \
{                                                                                            \
    int64_t r0 = j->rows * t / j->parts, r1 = j->rows * (t + 1) / j->parts;                  \
    T *restrict acc = (T *)j->partial + (int64_t)t * j->cols;                                \
    const T *a = (const T *)j->a;                                                            \
    for (int64_t c = 0; c < j->cols; c++)                                                    \
        acc[c] = 0;                                                                          \
    for (int64_t r = r0; r < r1; r++) {                                                      \
        const T *restrict row = a + r * j->cols;                                             \
        _Pragma("omp simd")                                                                  \
        for (int64_t c = 0; c < j->cols; c++)                                                \
            acc[c] += row[c];                                                                \
    }                                                                                        \
}

DEFINE_SUM_PART(float, f32)
DEFINE_SUM_PART(double, f64)

static void sum_part(void *ctx, int t)
{
    const sum_job_t *j = ctx;
    if (j->esz == 4)
        sum_part_f32(j, t);
    else
        sum_part_f64(j, t);
}

int pyrch_sum_rows(int esz, const void *a, int64_t a_nbytes, int64_t rows, int64_t cols,
                   void *out, int64_t out_nbytes, int nthreads)
{
    if (esz != 4 && esz != 8)
        return PYRCH_E_DTYPE;
    int64_t n, ab, ob;
    if (rows < 0 || cols < 0 || !mul_ok(rows, cols, &n) || !mul_ok(n, esz, &ab) ||
        !mul_ok(cols, esz, &ob))
        return PYRCH_E_COUNT;
    if (ab > a_nbytes || ob > out_nbytes)
        return PYRCH_E_BOUNDS;
    if (cols == 0)
        return PYRCH_OK;
    if (out == NULL || (n > 0 && a == NULL))
        return PYRCH_E_NULL;
    int parts = pyrch_pool_parts(nthreads, rows / 2, n, (int64_t)1 << 15);  /* 2+ rows a part */
    sum_job_t j = {esz, parts, a, rows, cols, NULL};
    if (parts == 1) {
        j.partial = out;
        sum_part(&j, 0);
        return PYRCH_OK;
    }
    j.partial = malloc((size_t)parts * (size_t)ob);
    if (j.partial == NULL)
        return PYRCH_E_NOMEM;
    pyrch_pool_run(sum_part, &j, parts);
    if (esz == 4) {
        float *o = out;
        const float *p = (const float *)j.partial;
        for (int64_t c = 0; c < cols; c++) {
            float v = p[c];
            for (int t = 1; t < parts; t++)
                v += p[(int64_t)t * cols + c];
            o[c] = v;
        }
    } else {
        double *o = out;
        const double *p = (const double *)j.partial;
        for (int64_t c = 0; c < cols; c++) {
            double v = p[c];
            for (int t = 1; t < parts; t++)
                v += p[(int64_t)t * cols + c];
            o[c] = v;
        }
    }
    free(j.partial);
    return PYRCH_OK;
}
