"""GEMM with a fused epilogue through the C extension (OpenBLAS underneath).

>>> import numpy as np
>>> from pyrch._C import gemm
>>> a, b = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
>>> out = np.empty((2, 4), np.float32)
>>> gemm.available() and bool((gemm.matmul(a, b, out, act="relu") == 3).all())  # doctest: +SKIP
True
"""
import numpy as np

from .fused import _ERRORS

ACTS = {None: 0, "relu": 1, "gelu_tanh": 2, "tanh": 3, "sigmoid": 4, "gelu": 5}
_DT = {np.dtype(np.float32): 0, np.dtype(np.float64): 1}
_state = {}


def available():
    from . import lib, stale
    return lib() is not None and not stale()


def _layout(m):
    """(transposed?, leading dimension) for a 2-D matrix BLAS can read, else None."""
    isz = m.itemsize
    s0, s1 = m.strides[-2], m.strides[-1]
    r, c = m.shape[-2], m.shape[-1]
    if s1 == isz and (s0 >= c * isz or r == 1) and s0 % isz == 0:
        return False, max(s0 // isz, c)
    if s0 == isz and (s1 >= r * isz or c == 1) and s1 % isz == 0:
        return True, max(s1 // isz, r)
    return None


def _batch_stride(m, batch):
    if m.ndim == 2 or batch == 1:
        return 0
    st = m.strides[0]
    return st // m.itemsize


def _extent(a):
    if a.size == 0:
        return 0
    return int(sum((n - 1) * st for n, st in zip(a.shape, a.strides)) + a.itemsize)


def matmul(a, b, out, *, bias=None, act=None, alpha=1.0, beta=0.0, nthreads=None):
    """out = act(alpha * a @ b + beta * out + bias); a, b 2-D or 3-D (batched) float arrays."""
    from . import lib, ffi, get_num_threads
    L, F = lib(), ffi()
    if a.dtype != b.dtype or a.dtype != out.dtype or a.dtype not in _DT:
        raise TypeError(f"gemm needs matching float32/float64 operands, got {a.dtype}, {b.dtype}, {out.dtype}")
    if a.ndim == 3 or b.ndim == 3 or out.ndim == 3:
        batch = out.shape[0]
        if a.ndim == 3 and a.shape[0] not in (1, batch) or b.ndim == 3 and b.shape[0] not in (1, batch):
            raise ValueError(f"gemm batch mismatch: {a.shape} @ {b.shape} -> {out.shape}")
    else:
        batch = 1
    m, k = a.shape[-2:]
    k2, n = b.shape[-2:]
    if k != k2 or out.shape[-2:] != (m, n):
        raise ValueError(f"mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {k2}x{n})")
    la, lb = _layout(a), _layout(b)
    if la is None:
        a = np.ascontiguousarray(a)
        la = _layout(a)
    if lb is None:
        b = np.ascontiguousarray(b)
        lb = _layout(b)
    if _layout(out) != (False, out.strides[-2] // out.itemsize if out.shape[-2] > 1 else n) and \
            not (out.flags.c_contiguous):
        raise ValueError("gemm output must be row-major")
    g = F.new("pyrch_gemm_t *")
    g.dtype = _DT[a.dtype]
    g.trans_a, g.lda = la
    g.trans_b, g.ldb = lb
    g.batch, g.m, g.n, g.k = batch, m, n, k
    g.a = F.cast("const char *", a.ctypes.data)
    g.b = F.cast("const char *", b.ctypes.data)
    g.c = F.cast("char *", out.ctypes.data)
    g.stride_a, g.stride_b = _batch_stride(a, batch), _batch_stride(b, batch)
    g.stride_c = _batch_stride(out, batch)
    g.ldc = out.strides[-2] // out.itemsize if m > 1 else n
    g.nbytes_a, g.nbytes_b, g.nbytes_c = _extent(a), _extent(b), _extent(out)
    if bias is not None:
        if bias.dtype != a.dtype or bias.ndim != 1 or not bias.flags.c_contiguous:
            bias = np.ascontiguousarray(bias, dtype=a.dtype).reshape(-1)
        g.bias_kind = 1 if bias.shape[0] == n else 2
        g.bias = F.cast("const char *", bias.ctypes.data)
        g.nbytes_bias = bias.nbytes
    g.act = ACTS[act]
    g.alpha, g.beta = alpha, beta
    g.nthreads = nthreads or get_num_threads()
    rc = L.pyrch_gemm(g)
    if rc != 0:
        raise RuntimeError(f"pyrch/_C rejected the GEMM: {_ERRORS.get(rc, rc)}")
    return out
