/* Fused scaled-dot-product attention, float32 (see attn.c).
 *
 * Forward:  P = softmax(mask(Q @ K^T * scale)), O = P @ V, per (batch, head) entry;
 *           `mask` is bool, True where a score is replaced by -inf (masked_fill's sense).
 * Backward: from G = dL/dO and the forward's P: dQ, dK, dV.
 *
 * Each operand is described by a pointer, its size in bytes and four strides in
 * elements (batch, head, row, column). Float operands need unit column strides; the
 * mask (one byte per element) may have any non-negative strides, 0 broadcasting it.
 * Every extent is checked against the byte sizes before anything runs. */
#ifndef PYRCH_ATTN_H
#define PYRCH_ATTN_H
#include <stdint.h>

enum { PYRCH_ATTN_Q = 0, PYRCH_ATTN_K = 1, PYRCH_ATTN_V = 2, PYRCH_ATTN_MASK = 3,
       PYRCH_ATTN_P = 4, PYRCH_ATTN_O = 5, PYRCH_ATTN_G = 6, PYRCH_ATTN_DQ = 7,
       PYRCH_ATTN_DK = 8, PYRCH_ATTN_DV = 9, PYRCH_ATTN_NARGS = 10 };

typedef struct {
    char *ptr;
    int64_t nbytes;
    int64_t sb, sh, sr, sc;       /* strides in elements: batch, head, row, column */
} pyrch_attn_arg_t;

typedef struct {
    int32_t backward;             /* 0: Q, K, V (, MASK) -> O, P;
                                   * 1: G, Q, K, V, P (, MASK) -> DQ, DK, DV */
    int32_t nthreads;
    int32_t masked;               /* whether MASK is given */
    int32_t divide;               /* scores are (Q @ K^T) / scale, else * scale */
    int64_t nb, nh;               /* batch entries: nb x nh */
    int64_t t, s, d, dv;          /* query rows, key rows, Q/K width, V width */
    double scale;                 /* applied in float32 */
    pyrch_attn_arg_t x[10];       /* indexed by PYRCH_ATTN_* */
} pyrch_attn_t;

int pyrch_attention(const pyrch_attn_t *a);

#endif
