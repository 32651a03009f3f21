/* Row gather and scatter-add over a (V, width) table with int64 indices: the
 * forward and backward of embedding (and of every gather built on it, such as
 * max-pooling's). Each index is checked against V in the same pass; an index
 * out of range returns PYRCH_E_INDEX (the output is then unspecified). The
 * scatter-add zeroes `out` first and adds in index order, so the sums are
 * deterministic. esz: gather copies rows of 1, 2, 4 or 8-byte elements;
 * scatter-add takes 4 (float32) or 8 (float64). Byte extents are checked. */
#ifndef PYRCH_ROWSEL_H
#define PYRCH_ROWSEL_H
#include <stdint.h>

int pyrch_gather_rows(int esz, const void *table, int64_t table_nbytes, int64_t V, int64_t width,
                      const int64_t *idx, int64_t idx_nbytes, int64_t n, void *out,
                      int64_t out_nbytes);
int pyrch_scatter_add_rows(int esz, void *out, int64_t out_nbytes, int64_t V, int64_t width,
                           const int64_t *idx, int64_t idx_nbytes, int64_t n, const void *g,
                           int64_t g_nbytes);

/* out[j] = sum over i of a[i, j] for a contiguous (rows, cols) float32/float64 table
 * (a bias gradient: the sum over every leading dim). Row ranges are split over
 * `nthreads` threads of the VM's pool (the same contiguous halves a fused program
 * wrote, so each thread reads what its own core's cache holds); the partial sums
 * are added in thread order, so a given thread count always gives the same bits. */
int pyrch_sum_rows(int esz, const void *a, int64_t a_nbytes, int64_t rows, int64_t cols,
                   void *out, int64_t out_nbytes, int nthreads);

#endif
