"""Row kernels in C: softmax and log-softmax over the last dimension (float32).

One pass finds each row's max, a second computes exp(x - max) (vectorised) and
its sum, a third scales; numpy needs five passes and four temporaries.

>>> import numpy as np
>>> from pyrch._C import rows
>>> y = rows.softmax(np.zeros((2, 4), np.float32))
>>> y is None or bool(np.allclose(y, 0.25))
True
"""
import numpy as np

from .fused import _ERRORS


def softmax(a, log=False):
    """softmax (or log_softmax) of float32 `a` over its last axis, or None when the
    extension cannot take it (other dtypes, rows not contiguous, no extension)."""
    from . import lib, ffi
    L = lib()
    if L is None or a.dtype != np.float32 or type(a) is not np.ndarray or a.ndim == 0:
        return None
    n = a.shape[-1]
    if not a.flags.c_contiguous:
        return None
    rows = a.size // n if n else 0
    out = np.empty(a.shape, np.float32)
    F = ffi()
    rc = L.pyrch_softmax_f32(F.from_buffer("float[]", a), a.nbytes, n,
                             F.from_buffer("float[]", out, require_writable=True), out.nbytes, n,
                             rows, n, int(log))
    if rc != 0:
        raise RuntimeError(f"pyrch/_C rejected the softmax: {_ERRORS.get(rc, rc)}")
    return out
