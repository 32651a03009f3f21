"""Max-pooling window argmax in C (float32, 2-D windows).

>>> import numpy as np
>>> from pyrch._C import pool
>>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
>>> idx = pool.maxpool2d_indices(x, (2, 2), (2, 2), (0, 0), (1, 1), (2, 2))
>>> idx is None or idx.tolist() == [[[[5, 7], [13, 15]]]]
True
"""
import numpy as np

from .fused import _ERRORS


def maxpool2d_indices(x, kernel, stride, padding, dilation, out):
    """Flat in-plane index of each window's max for float32 (N, C, H, W) `x`, or None
    when the extension cannot take it (another dtype or layout, no extension)."""
    from . import lib, ffi, get_num_threads
    L = lib()
    if L is None or type(x) is not np.ndarray or x.dtype != np.float32 or x.ndim != 4 \
            or not x.flags.c_contiguous:
        return None
    n, c, h, w = x.shape
    idx = np.empty((n, c) + tuple(out), np.int64)
    F = ffi()
    rc = L.pyrch_maxpool2d_f32(F.from_buffer("float[]", x), x.nbytes, n * c, h, w,
                               kernel[0], kernel[1], stride[0], stride[1], padding[0],
                               padding[1], dilation[0], dilation[1], out[0], out[1],
                               F.from_buffer("int64_t[]", idx, require_writable=True), idx.nbytes,
                               get_num_threads())
    if rc != 0:
        raise RuntimeError(f"pyrch/_C rejected the max-pool: {_ERRORS.get(rc, rc)}")
    return idx
