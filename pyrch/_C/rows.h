/* Row kernels over the last dimension: softmax and log-softmax in float32.
 * Rows are `n` contiguous values; row r starts r * row_stride elements after
 * the first. Every bound is checked against the buffers' sizes in bytes. */
#ifndef PYRCH_ROWS_H
#define PYRCH_ROWS_H
#include <stdint.h>

int pyrch_softmax_f32(const float *x, int64_t x_nbytes, int64_t x_row_stride,
                      float *y, int64_t y_nbytes, int64_t y_row_stride,
                      int64_t rows, int64_t n, int log_softmax);

#endif
