/* im2col and its adjoint col2im for 2-D convolution (1-D runs as H = 1).
 *
 * x/img: (N, C, H, W) contiguous; cols: (C*KH*KW, N, OH*OW) contiguous, row
 * (c*KH + i)*KW + j holding x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
 * (zero where that falls outside the plane). With this layout one GEMM over
 * all N*OH*OW columns does the whole convolution. ph/pw are the low-side
 * paddings; positions past the high side are out of the plane, so asymmetric
 * padding needs nothing more. col2im zeroes img and adds every column entry
 * back where im2col read it (positions outside the plane are dropped).
 * esz is the element size: 4 (float32) or 8 (float64). Every count, stride
 * and byte bound is checked; a bad call returns a PYRCH_E_* code. Both split
 * the samples across nthreads threads of the VM's pool (1 or less: the
 * calling thread alone); each sample's columns and image plane are its own. */
#ifndef PYRCH_CONV_H
#define PYRCH_CONV_H
#include <stdint.h>

typedef struct {
    int64_t N, C, H, W;          /* image */
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
    int64_t OH, OW;              /* output positions */
    int esz;                     /* 4 or 8 */
    int nthreads;
} pyrch_conv_t;

int pyrch_im2col(const pyrch_conv_t *g, const void *x, int64_t x_nbytes, void *cols,
                 int64_t cols_nbytes);
int pyrch_col2im(const pyrch_conv_t *g, const void *cols, int64_t cols_nbytes, void *img,
                 int64_t img_nbytes);

/* y (N, O, OH, OW) = the float32 convolution of x (N, C, H, W) with w (O, C, kh, kw),
 * stride 1, dilation 1, one group, without materialising columns: each sample's
 * zero-padded planes are a small buffer, and output positions oh * Wp + ow over the
 * padded width Wp = OW + kw - 1 make every (c, i, j) row of the implicit column
 * matrix a contiguous run of that buffer (smallgemm.c's rows kernel); the kw - 1
 * positions past OW in each output row are computed and dropped. Returns PYRCH_OK, a
 * PYRCH_E_* code for a bad call, or PYRCH_CONV_NOT_TAKEN when it does not apply here
 * (another geometry or dtype, no AVX-512, a padded sample too big for cache): the
 * caller then takes the im2col path. */
#define PYRCH_CONV_NOT_TAKEN 1
int pyrch_conv2d_f32(const pyrch_conv_t *g, const void *x, int64_t x_nbytes, const void *w,
                     int64_t w_nbytes, int64_t O, void *y, int64_t y_nbytes);
/* dw (O, C, kh, kw) = the gradient of pyrch_conv2d_f32 by its weight, given x and the
 * output gradient gy (N, O, OH, OW): the same padded planes, with gy widened to Wp
 * (zeros in the dropped positions) and dot products against the shifted image rows,
 * summed over samples (per thread, then across threads in a fixed order). The same
 * return codes. */
int pyrch_conv2d_weight_f32(const pyrch_conv_t *g, const void *x, int64_t x_nbytes,
                            const void *gy, int64_t gy_nbytes, int64_t O, void *dw,
                            int64_t dw_nbytes);

#endif
