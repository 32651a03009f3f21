/* Max-pooling window argmax in float32 over (planes, H, W) contiguous input.
 * idx receives, per output position, the flat index (h * W + w) of the window's
 * maximum within its plane: the first maximum in window order, NaN winning
 * unless the running maximum is already NaN (numpy's argmax rule). Padding
 * positions never win. Every count and bound is checked. The planes are split
 * across up to nthreads threads of the VM's pool. */
#ifndef PYRCH_POOL_H
#define PYRCH_POOL_H
#include <stdint.h>

int pyrch_maxpool2d_f32(const float *x, int64_t x_nbytes, int64_t planes, int64_t H, int64_t W,
                        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                        int64_t dh, int64_t dw, int64_t OH, int64_t OW,
                        int64_t *idx, int64_t idx_nbytes, int nthreads);

#endif
