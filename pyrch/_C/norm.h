/* Layer normalisation over the last D values of each of `rows` contiguous float32
 * rows, with a per-column weight and bias:
 *   out = (x - mean) / sqrt(var + eps) * w + b        (mean, var over the row)
 * and its backward, which recomputes the row statistics from x:
 *   gx = rstd * (g*w - mean(g*w) - xhat * mean(g*w*xhat)),  gw = sum_rows(g*xhat),
 *   gb = sum_rows(g).
 * Statistics accumulate in double. Rows are split over `nthreads` threads of the
 * VM's pool; the column sums add per-thread partials in thread order. Every
 * count and byte extent is checked; a bad call returns a PYRCH_E_* code. */
#ifndef PYRCH_NORM_H
#define PYRCH_NORM_H
#include <stdint.h>

int pyrch_layer_norm_f32(const float *x, int64_t x_nbytes, int64_t rows, int64_t D,
                         const float *w, const float *b, int64_t wb_nbytes, double eps,
                         float *out, int64_t out_nbytes, int nthreads);
int pyrch_layer_norm_backward_f32(const float *g, const float *x, int64_t nbytes, int64_t rows,
                                  int64_t D, const float *w, int64_t w_nbytes, double eps,
                                  float *gx, float *gw, float *gb, int64_t gwb_nbytes,
                                  int nthreads);

#endif
