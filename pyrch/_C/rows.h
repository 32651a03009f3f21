/* Row kernels over the last dimension: softmax and log-softmax in float32.
 * Rows are `n` contiguous values; row r starts r * row_stride elements after
 * the first. Every bound is checked against the buffers' sizes in bytes. Rows
 * are split across up to nthreads threads of the VM's pool. */
#ifndef PYRCH_ROWS_H
#define PYRCH_ROWS_H
#include <stdint.h>

int pyrch_softmax_f32(const float *x, int64_t x_nbytes, int64_t x_row_stride,
                      float *y, int64_t y_nbytes, int64_t y_row_stride,
                      int64_t rows, int64_t n, int log_softmax, int nthreads);
/* The gradient by x of softmax (y * (g - sum(g y))) or log-softmax (g - exp(y) sum(g)),
 * from the output gradient g and the forward's output y; contiguous rows of n. */
int pyrch_softmax_backward_f32(const float *g, int64_t g_nbytes, const float *y,
                               int64_t y_nbytes, float *out, int64_t out_nbytes, int64_t rows,
                               int64_t n, int log_softmax, int nthreads);

/* F.cross_entropy over class indices for float32 logits x (rows, n), contiguous,
 * and int64 targets t (rows): loss[r] = logsumexp(x[r]) - x[r, t[r]], 0 where
 * t[r] == ignore_index. A target outside [0, n) that is not ignore_index returns
 * PYRCH_E_INDEX with its row in *bad_row (nothing else is then written). *kept: the
 * rows that count. Rows split across up to nthreads threads of the VM's pool. */
int pyrch_cross_entropy_f32(const float *x, int64_t x_nbytes, const int64_t *t,
                            int64_t t_nbytes, int64_t rows, int64_t n, int64_t ignore_index,
                            float *loss, int64_t loss_nbytes, int64_t *bad_row, int64_t *kept,
                            int nthreads);
/* The same losses reduced: reduction 1 their sum, 2 their mean over the counted rows
 * (0 / 0 = NaN when none counts), one float in out; 0: the losses per row (the call
 * above). The sum runs in double, in row order, then is rounded once, so the result
 * does not depend on nthreads. */
int pyrch_cross_entropy_reduce_f32(const float *x, int64_t x_nbytes, const int64_t *t,
                                   int64_t t_nbytes, int64_t rows, int64_t n,
                                   int64_t ignore_index, int reduction, float *out,
                                   int64_t out_nbytes, int64_t *bad_row, int nthreads);
/* Its gradient by x: out[r] = (softmax(x[r]) - onehot(t[r])) * g[r * g_stride], divided
 * by the counted rows when `mean`; zero for an ignored row (g_stride 0: one g for every
 * row). Targets are checked as above. */
int pyrch_cross_entropy_backward_f32(const float *g, int64_t g_nbytes, int64_t g_stride,
                                     int mean, const float *x, int64_t x_nbytes,
                                     const int64_t *t, int64_t t_nbytes, int64_t rows, int64_t n,
                                     int64_t ignore_index, float *out, int64_t out_nbytes,
                                     int64_t *bad_row, int nthreads);

#endif
