"""Convolution in C: im2col / col2im for 2-D (and 1-D) convolution, float32 and
float64, and a direct float32 path (stride 1, dilation 1, one group) for the
forward and the weight gradient that never builds the columns.

The columns are laid out (C*KH*KW, N, OH*OW), so one GEMM over every sample's
output positions does a whole convolution (see `pyrch.ops.nn`). The direct path
(`conv2d`, `conv2d_weight`) works on each sample's zero-padded planes instead; the
input gradient is `conv2d` of the padded output gradient with the flipped kernel.

>>> import numpy as np
>>> from pyrch._C import conv
>>> x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
>>> cols = conv.im2col(x, (2, 2), (1, 1), (0, 0), (1, 1), (2, 2))
>>> cols is None or cols[:, 0].tolist() == [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]]
True
"""
import numpy as np

from .fused import _ERRORS

_ESZ = {np.dtype(np.float32): 4, np.dtype(np.float64): 8}
_PAR_MIN = 1 << 16          # column elements below which one thread does it all


def _entry(name):
    from . import lib
    L = lib()
    return getattr(L, name, None) if L is not None else None    # None: an older build


def _geometry(shape, kernel, stride, padding, dilation, out, esz):
    from . import ffi
    g = ffi().new("pyrch_conv_t *")
    g.N, g.C, g.H, g.W = shape
    g.kh, g.kw = kernel
    g.sh, g.sw = stride
    g.ph, g.pw = padding
    g.dh, g.dw = dilation
    g.OH, g.OW = out
    g.esz = esz
    # split by samples across pyrch's threads once there is enough to copy
    from . import get_num_threads
    work = shape[0] * shape[1] * kernel[0] * kernel[1] * out[0] * out[1]
    g.nthreads = get_num_threads() if work >= _PAR_MIN else 1
    return g


def _check(rc, what):
    if rc != 0:
        raise RuntimeError(f"pyrch/_C rejected the {what}: {_ERRORS.get(rc, rc)}")


def im2col(x, kernel, stride, padding, dilation, out, cols=None):
    """(C*KH*KW, N, OH*OW) columns of a contiguous (N, C, H, W) float array (written
    into `cols` when given), or None when the extension cannot take it. `padding`
    is the low side per dimension."""
    f = _entry("pyrch_im2col")
    esz = _ESZ.get(x.dtype)
    if f is None or esz is None or type(x) is not np.ndarray or x.ndim != 4 \
            or not x.flags.c_contiguous:
        return None
    n, c = x.shape[:2]
    shape = (c * kernel[0] * kernel[1], n, out[0] * out[1])
    if cols is None:
        cols = np.empty(shape, x.dtype)
    elif cols.shape != shape or cols.dtype != x.dtype or not cols.flags.c_contiguous:
        raise ValueError(f"im2col: cols must be a contiguous {x.dtype} array of shape {shape}")
    from . import ffi
    F = ffi()
    _check(f(_geometry(x.shape, kernel, stride, padding, dilation, out, esz),
             F.from_buffer("char[]", x), x.nbytes,
             F.from_buffer("char[]", cols, require_writable=True), cols.nbytes), "im2col")
    return cols


def col2im(cols, shape, kernel, stride, padding, dilation, out):
    """The adjoint of `im2col`: a fresh (N, C, H, W) array of `shape` summing the
    columns back where im2col read them, or None when the extension cannot take it."""
    f = _entry("pyrch_col2im")
    esz = _ESZ.get(cols.dtype)
    if f is None or esz is None or type(cols) is not np.ndarray or not cols.flags.c_contiguous:
        return None
    img = np.empty(shape, cols.dtype)
    from . import ffi
    F = ffi()
    _check(f(_geometry(shape, kernel, stride, padding, dilation, out, esz),
             F.from_buffer("char[]", cols), cols.nbytes,
             F.from_buffer("char[]", img, require_writable=True), img.nbytes), "col2im")
    return img


def conv2d(x, w, stride, padding, dilation, out):
    """The float32 convolution of a contiguous (N, C, H, W) x with a contiguous (O, C, KH,
    KW) w without columns (conv.c's direct kernel), or None where it does not apply
    (another geometry or dtype, no AVX-512, an older build): use im2col then."""
    f = _entry("pyrch_conv2d_f32")
    if f is None or type(x) is not np.ndarray or type(w) is not np.ndarray \
            or x.dtype != np.float32 or w.dtype != np.float32 or x.ndim != 4 or w.ndim != 4 \
            or not x.flags.c_contiguous or not w.flags.c_contiguous:
        return None
    kernel = w.shape[2:]
    y = np.empty((x.shape[0], w.shape[0]) + tuple(out), np.float32)
    from . import ffi
    F = ffi()
    rc = f(_geometry(x.shape, kernel, stride, padding, dilation, out, 4),
           F.from_buffer("char[]", x), x.nbytes, F.from_buffer("char[]", w), w.nbytes,
           w.shape[0], F.from_buffer("char[]", y, require_writable=True), y.nbytes)
    if rc == 1:                         # PYRCH_CONV_NOT_TAKEN
        return None
    _check(rc, "direct convolution")
    return y


def conv2d_weight(x, gy, kernel, padding, out):
    """The gradient by its (O, C, KH, KW) weight of the float32 stride-1 convolution of a
    contiguous (N, C, H, W) x whose output gradient is the contiguous gy (N, O, *out),
    without columns (conv.c), or None where it does not apply: use im2col then."""
    f = _entry("pyrch_conv2d_weight_f32")
    if f is None or type(x) is not np.ndarray or type(gy) is not np.ndarray \
            or x.dtype != np.float32 or gy.dtype != np.float32 or x.ndim != 4 or gy.ndim != 4 \
            or not x.flags.c_contiguous or not gy.flags.c_contiguous:
        return None
    o = gy.shape[1]
    dw = np.empty((o, x.shape[1]) + tuple(kernel), np.float32)
    from . import ffi
    F = ffi()
    rc = f(_geometry(x.shape, kernel, (1, 1), padding, (1, 1), out, 4),
           F.from_buffer("char[]", x), x.nbytes, F.from_buffer("char[]", gy), gy.nbytes, o,
           F.from_buffer("char[]", dw, require_writable=True), dw.nbytes)
    if rc == 1:                         # PYRCH_CONV_NOT_TAKEN
        return None
    _check(rc, "direct convolution weight gradient")
    return dw
