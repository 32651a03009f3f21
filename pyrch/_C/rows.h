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

#endif
