"""GEMM with a fused epilogue through the C extension (OpenBLAS underneath).

>>> import numpy as np
>>> from pyrch._C import gemm
>>> a, b = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
>>> out = np.empty((2, 4), np.float32)
>>> gemm.available() and bool((gemm.matmul(a, b, out, act="relu") == 3).all())  # doctest: +SKIP
True
"""
from math import prod as _prod

import numpy as np

from .fused import _ERRORS, RECORDER, recording_f32
from .._config import flags

# "gelu_d": gelu, and gelu's derivative into `aux` (gemm.h PYRCH_ACT_GELU_D)
# "mul": the result times `aux`, an input (gemm.h PYRCH_ACT_MUL)
ACTS = {None: 0, "relu": 1, "gelu_tanh": 2, "tanh": 3, "sigmoid": 4, "gelu": 5, "gelu_d": 6,
        "mul": 7}
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
    if r == 0 or c == 0:                # nothing is read: any leading dimension will do
        return False, max(c, 1)
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


def _ptr(F, a):
    """The address of a's first element: from_buffer on a (or on a.T, which starts at
    the same byte) where one is C-contiguous, 10x cheaper than a.ctypes.data."""
    if a.flags.c_contiguous:
        return F.from_buffer(a)
    if a.ndim == 2 and a.flags.f_contiguous:
        return F.from_buffer(a.T)
    return F.cast("char *", a.ctypes.data)


def _struct(F, a, b, out, la, lb, dims, strides, ldc, nbytes_c):
    """The C-side description of one (batched) GEMM out = a @ b."""
    g = F.new("pyrch_gemm_t *")
    g.dtype = _DT[a.dtype]
    g.trans_a, g.lda = la
    g.trans_b, g.ldb = lb
    g.batch, g.m, g.n, g.k = dims
    g.a = _ptr(F, a)
    g.b = _ptr(F, b)
    g.c = _ptr(F, out)
    g.stride_a, g.stride_b, g.stride_c = strides
    g.ldc = ldc
    g.nbytes_a, g.nbytes_b, g.nbytes_c = _extent(a), _extent(b), nbytes_c
    return g


def matmul(a, b, out, *, bias=None, act=None, alpha=1.0, beta=0.0, nthreads=None, aux=None):
    """out = act(alpha * a @ b + beta * out + bias); a, b 2-D or 3-D (batched) float arrays.
    act="gelu_d" (float32, 2-D): out = gelu(t) and aux = gelu'(t), t = a @ b + bias;
    act="mul" (float32, 2-D): out = (a @ b + bias) * aux."""
    L, F = _lib_state()
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
    g = _struct(F, a, b, out, la, lb, (batch, m, n, k),
                (_batch_stride(a, batch), _batch_stride(b, batch), _batch_stride(out, batch)),
                out.strides[-2] // out.itemsize if m > 1 else n, _extent(out))
    if bias is not None:
        if bias.dtype != a.dtype or bias.ndim != 1 or not bias.flags.c_contiguous:
            bias = np.ascontiguousarray(bias, dtype=a.dtype).reshape(-1)
        g.bias_kind = 1 if bias.shape[0] == n else 2
        g.bias = F.cast("const char *", bias.ctypes.data)
        g.nbytes_bias = bias.nbytes
    g.act = ACTS[act]
    if act in ("gelu_d", "mul"):
        if type(aux) is not np.ndarray or aux.dtype != a.dtype or aux.shape != out.shape or \
                aux.ndim != 2 or (aux.strides[1] != aux.itemsize and aux.shape[1] > 1) or \
                aux.strides[0] % aux.itemsize or aux.strides[0] < 0:
            raise ValueError(f"gemm: act={act!r} needs `aux`, a row-major array like `out`")
        g.aux = _ptr(F, aux)
        g.ldaux = aux.strides[0] // aux.itemsize if aux.shape[0] > 1 else n
        g.nbytes_aux = _extent(aux)
    g.alpha, g.beta = alpha, beta
    g.nthreads = nthreads or _state["threads"]()
    if RECORDER[0] is not None:
        RECORDER[0].gemm(g)
    rc = L.pyrch_gemm(g)
    if rc != 0:
        raise RuntimeError(f"pyrch/_C rejected the GEMM: {_ERRORS.get(rc, rc)}")
    return out


# Below this many multiply-adds numpy's own matmul takes the product, on the calling
# thread: this call's Python and the pool's wake-up cost ~12 us, which a product this
# small does not earn back (measured on a quiet machine: 0.52M multiply-adds 15 vs
# 7 us, 1.05M 17-21 vs 18-27 us, 1.3M 27-32 vs 62-67 us). Not while a plan records
# (float32): a replay runs the recorded call with no Python, and the small-side kernels
# beat numpy there (MLP b128's last layer, 128x256 @ 256x10: 8 vs 19 us; its gradients
# 7-9 vs 9 us), and a Python step would split the replay's C run.
_MIN_MACS = 1 << 20


def _as3(x, batch):
    """x (..., r, c) as a (batch, r, c) view (no copy), or None."""
    if x.ndim == 3:
        return x
    dims = [(n, st) for n, st in zip(x.shape[:-2], x.strides[:-2]) if n != 1]
    for (_, s0), (n1, s1) in zip(dims, dims[1:]):
        if s0 != s1 * n1:
            return None
    step = dims[-1][1] if dims else 0
    return np.lib.stride_tricks.as_strided(x, (batch,) + x.shape[-2:], (step,) + x.strides[-2:])


def _one_stride(shape, strides, isz):
    """The element stride walking dims `shape` as one flat index, 0 for no dims, or None."""
    dims = [(n, st) for n, st in zip(shape, strides) if n != 1]
    if not dims:
        return 0
    for (_, s0), (n1, s1) in zip(dims, dims[1:]):
        if s0 != s1 * n1:
            return None
    st = dims[-1][1]
    return st // isz if st >= 0 and st % isz == 0 else None


def _split_batch(xs, first_cut):
    """(cut, [outer, inner element stride of each x]) for the first cut (from first_cut on)
    splitting the common batch dims of arrays xs into an outer and an inner group that
    every x walks with one stride each, else None."""
    dims = xs[0].shape[:-2]
    isz = xs[0].itemsize
    for cut in range(first_cut, len(dims)):
        found = []
        for x in xs:
            so = _one_stride(dims[:cut], x.strides[:cut], isz)
            si = _one_stride(dims[cut:], x.strides[cut:-2], isz)
            if so is None or si is None:
                break
            found += [so, si]
        else:
            return cut, found
    return None


def _two_level(a, b):
    """(batch_in, a's outer and inner element strides, b's) when the common batch dims of
    a and b split into an outer and an inner group each walkable by one stride, else None."""
    split = _split_batch((a, b), 1)
    if split is None:
        return None
    cut, found = split
    return (_prod(a.shape[cut:-2]),) + tuple(found)


def _lib_state():
    """(lib, ffi) once the extension is loaded (cached in _state), else None."""
    if not _state:
        from . import lib, ffi, get_num_threads
        if lib() is None:
            return None
        _state.update(L=lib(), F=ffi(), threads=get_num_threads)
    return _state["L"], _state["F"]


def _run(L, g):
    """Run a filled-in struct on pyrch's threads; the C side's refusal as RuntimeError."""
    g.alpha = 1.0
    g.nthreads = _state["threads"]()
    if RECORDER[0] is not None:
        RECORDER[0].gemm(g)
    rc = L.pyrch_gemm(g)
    if rc != 0:
        raise RuntimeError(f"pyrch/_C rejected the GEMM: {_ERRORS.get(rc, rc)}")


def mm_into(a, b, out):
    """a @ b written into `out`, a float32 view of another layout (attention's output
    (B, H, T, D) as a view of a (B, T, H, D) buffer, so that the transpose after it is
    contiguous and the reshape merging the heads copies nothing). a, b and out have the
    same batch dims; out's rows have unit stride. Returns out, or None where this does
    not apply (the caller then computes the product another way)."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray or type(out) is not np.ndarray \
            or not flags.c or a.dtype != np.float32 or b.dtype != a.dtype or out.dtype != a.dtype:
        return None
    key = (a.shape, b.shape, out.shape, a.strides, b.strides, out.strides)
    plan = _into_plans.get(key, False)
    if plan is False:
        if len(_into_plans) > 256:
            _into_plans.clear()
        plan = _into_plans[key] = _into_plan(a, b, out)
    if plan is None or np.may_share_memory(out, a) or np.may_share_memory(out, b):
        return None
    st = _lib_state()
    if st is None:
        return None
    L, F = st
    la, lb, dims, strides, ldc, inner = plan
    g = _struct(F, a, b, out, la, lb, dims, strides, ldc, _extent(out))
    g.batch_in, g.stride_a_in, g.stride_b_in, g.stride_c_in = inner
    _run(L, g)
    return out


# (shapes, strides) of mm_into's operands -> how the C side walks them, or None: a replay
# hands the same layouts every time, so the batch split is worked out once per layout
_into_plans = {}


def _into_plan(a, b, out):
    """(layouts of a and b, (batch, m, n, k), outer strides, ldc, (batch_in and the inner
    strides)) for mm_into's operands, or None where it does not apply."""
    if a.ndim < 3 or a.ndim != b.ndim or a.ndim != out.ndim or \
            not (a.shape[:-2] == b.shape[:-2] == out.shape[:-2]):
        return None
    m, k = a.shape[-2:]
    n = b.shape[-1]
    isz = a.itemsize
    if b.shape[-2] != k or out.shape[-2:] != (m, n) or m < 2 or n < 2 or \
            out.strides[-1] != isz or out.strides[-2] % isz or out.strides[-2] < n * isz:
        return None
    dims = a.shape[:-2]
    batch = _prod(dims)
    if m * n * k * batch < _MIN_MACS:
        return None
    la, lb = _layout(a), _layout(b)
    if la is None or lb is None:
        return None
    split = _split_batch((a, b, out), 0)     # cut 0: one level (batch_in 1, no inner strides)
    if split is None:
        return None
    cut, found = split
    batch_in = _prod(dims[cut:])
    sa, sa_in, sb, sb_in, sc, sc_in = found
    if cut == 0:
        batch_in, sa, sb, sc, sa_in, sb_in, sc_in = 1, sa_in, sb_in, sc_in, 0, 0, 0
    elif batch_in <= 1:
        batch_in, sa_in, sb_in, sc_in = 1, 0, 0, 0
    if batch > 1 and sc == 0 and sc_in == 0:
        return None
    return la, lb, (batch, m, n, k), (sa, sb, sc), out.strides[-2] // isz, \
        (batch_in, sa_in, sb_in, sc_in)


def _small_kind(trans_a, trans_b, m, n, k):
    """Which smallgemm.c kernel the C side would use for this float32 product (0: OpenBLAS)."""
    from . import lib
    L = lib()
    return L is not None and L.pyrch_small_sgemm_kind(trans_a, trans_b, m, n, k)


def _transposed_product(m, n, k, la, lb, dt):
    """True where `mm` computes a 2-D product as (b.T @ a.T).T (see the note in mm)."""
    return m <= 32 and lb[0] and n >= 64 and not la[0] and \
        not (dt == np.float32 and _small_kind(0, 1, m, n, k))


def same_as_mm(a, b):
    """True when `matmul(a, b, out, ...)` computes a 2-D product exactly as `mm(a, b)`
    does (the same C call, so bitwise the same): big enough for mm to take it, and not
    one that mm turns around."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray or a.ndim != 2 or b.ndim != 2 \
            or a.dtype != b.dtype or a.dtype not in _DT or not flags.c:
        return False
    m, k = a.shape
    n = b.shape[1]
    if m * n * k < _MIN_MACS:
        return False
    la, lb = _layout(a), _layout(b)
    return la is not None and lb is not None and not _transposed_product(m, n, k, la, lb, a.dtype)


def linear_ok(a, b):
    """True when a traced plan's fused GEMM (`matmul` with its bias/activation epilogue)
    may take the 2-D product a @ b: where `mm` would take it the same way (float64 must
    stay bitwise eager's), and any float32 product BLAS can read, however small: its one
    C call is recorded into the plan's C run (MLP b128's last layer, 128x256 @ 256x10),
    where two steps, numpy's product and the bias add, would split it."""
    if same_as_mm(a, b):
        return True
    return type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == 2 and b.ndim == 2 \
        and a.dtype == np.float32 and b.dtype == a.dtype and flags.c and \
        _layout(a) is not None and _layout(b) is not None


def mm(a, b, out=None):
    """a @ b for float32/float64 numpy arrays, on pyrch's own threads (into `out`, a
    C-contiguous array of the result's shape, when given); None where it does not
    apply (numpy's matmul then takes it): tiny products, mixed dtypes, 1-D operands,
    batch dims that broadcast or cannot be viewed as one.

    All pyrch GEMMs come here so that one pool of threads (the C VM's) does both the
    GEMMs and the fused elementwise work: numpy's OpenBLAS workers spin on the other
    core for a while after each call and slowed every VM step that wanted that core.
    """
    if type(a) is not np.ndarray or type(b) is not np.ndarray or a.ndim < 2 or b.ndim < 2 \
            or not flags.c:                 # PYRCH_C=0 / config(c=False): numpy only
        return None
    dt = a.dtype
    if dt is not b.dtype and dt != b.dtype or dt not in _DT:
        return None
    m, k = a.shape[-2:]
    n = b.shape[-1]
    if b.shape[-2] != k:
        return None
    two = None
    if b.ndim == 2:
        batch = 1
        if a.ndim > 2:
            if not a.flags.c_contiguous:
                return None
            m = a.size // k if k else 0
            a2 = a.reshape(m, k)
        else:
            a2 = a
        b2 = b
        out_shape = a.shape[:-1] + (n,)
    elif a.ndim == 2:                               # one matrix against a batch
        batch = _prod(b.shape[:-2])
        a2, b2 = a, _as3(b, batch)
        if b2 is None:
            b2 = _as3(np.ascontiguousarray(b), batch)
        out_shape = b.shape[:-2] + (m, n)
    else:
        if a.shape[:-2] != b.shape[:-2]:
            return None
        batch = _prod(a.shape[:-2])
        a2, b2 = _as3(a, batch), _as3(b, batch)
        if a2 is None or b2 is None:
            # batch dims that do not collapse into one (attention's heads split off a
            # projection, then transposed): two levels of batch strides when they make
            # two, else a contiguous copy (cheaper than numpy's product-at-a-time loop)
            two = _two_level(a, b)
            if two is not None:
                a2, b2 = a, b
            else:
                if a2 is None:
                    a2 = _as3(np.ascontiguousarray(a), batch)
                if b2 is None:
                    b2 = _as3(np.ascontiguousarray(b), batch)
        out_shape = a.shape[:-1] + (n,)
    if m * n * k * batch < _MIN_MACS and not recording_f32(dt):
        return None
    la, lb = _layout(a2), _layout(b2)
    if la is None or lb is None:
        return None
    if _transposed_product(m, n, k, la, lb, dt) and batch == 1 and a2.ndim == 2:
        # NOTE: without the small-product kernels (smallgemm.c: no AVX-512), a linear
        # layer on a small batch (x @ W.T, W row-major) runs 1.4x faster through
        # OpenBLAS as (W @ x.T).T: each thread then takes a block of W's rows (measured:
        # 16 x 784 @ 784 x 512, 142 -> 103 us on 2 threads); the transposed copy back is small
        t = mm(b2.T, a2.T)
        if t is None:
            return None
        if out is None:
            return np.ascontiguousarray(t.T).reshape(out_shape)
        if type(out) is not np.ndarray or out.shape != out_shape or out.dtype != dt \
                or not out.flags.c_contiguous:
            return None
        np.copyto(out.reshape(m, n), t.T)
        return out
    st = _lib_state()
    if st is None:
        return None
    L, F = st
    if out is None:
        out = np.empty(out_shape, dt)
    elif type(out) is not np.ndarray or out.shape != out_shape or out.dtype != dt \
            or not out.flags.c_contiguous or np.may_share_memory(out, a) or np.may_share_memory(out, b):
        return None
    if two is not None:
        batch_in, sa, sa_in, sb, sb_in = two
        strides = (sa, sb, m * n)
    else:
        strides = (a2.strides[0] // a2.itemsize if a2.ndim == 3 else 0,
                   b2.strides[0] // b2.itemsize if b2.ndim == 3 else 0, m * n) if batch > 1 else (0, 0, 0)
    g = _struct(F, a2, b2, out, la, lb, (batch, m, n, k), strides, n, out.nbytes)
    if two is not None:
        g.batch_in, g.stride_a_in, g.stride_b_in = batch_in, sa_in, sb_in
    _run(L, g)
    return out
