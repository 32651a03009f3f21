"""Neural-network primitives: convolution, pooling indices, softmax, embedding.

Convolution is three primitives that are the partial derivatives of one
trilinear form  T(x, w, g) = sum x[n, c, l*s + k*d - p] w[o, c, k] g[n, o, l]:
`conv` (grad of T by g), `conv_transpose` (by x) and `conv_weight` (by w).
Each one's backward is written with the other two, so gradients of any order
close over the set. All three run as im2col + GEMM. For 1-D and 2-D float
arrays on CPU the columns come from pyrch/_C (im2col, and col2im for
`conv_transpose`) laid out (C*K, N, L), so the GEMMs span every sample;
elsewhere (3-D, cupy) the patches are a strided view of the padded input and
`conv_transpose` scatters its columns back with one vectorised add per kernel
offset.

Max pools are a non-differentiable primitive that finds the argmax of each
window, plus a `gather` (nn.functional), so their gradient is gather's.
Average and adaptive pools are composites (functional.py) over conv/matmul.
"""
import itertools

import numpy as np

from .registry import op
from .._dtype import int64
from . import core as _core, elementwise as _elementwise, linalg as _linalg  # (loaded before nn)


from math import prod as _prod  # noqa: E402


def _windows(xp, x, kernel, stride, padding, dilation, fill=0):
    """Strided view (N, C, *out, *kernel) of `x` (N, C, *spatial) padded by `padding`."""
    if any(lo or hi for lo, hi in padding):
        x = xp.pad(x, ((0, 0), (0, 0)) + tuple(padding), constant_values=fill)
    sp = x.shape[2:]
    eff = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    for n, e in zip(sp, eff):
        if n < e:
            raise RuntimeError(
                f"Calculated padded input size per channel: ({' x '.join(map(str, sp))}). "
                f"Kernel size: ({' x '.join(map(str, eff))}). Kernel size can't be greater "
                "than actual input size")
    out = tuple((n - e) // s + 1 for n, e, s in zip(sp, eff, stride))
    st = x.strides
    strides = st[:2] + tuple(a * s for a, s in zip(st[2:], stride)) + \
        tuple(a * d for a, d in zip(st[2:], dilation))
    if xp is np:
        return np.lib.stride_tricks.as_strided(x, x.shape[:2] + out + tuple(kernel), strides,
                                               writeable=False)
    return xp.lib.stride_tricks.as_strided(x, x.shape[:2] + out + tuple(kernel), strides)  # cupy: no flag


def _cols(xp, x, kernel, stride, padding, dilation, groups):
    """im2col: (N, G, C/G*K, L) patches of `x`, plus the output spatial shape.

    The kernel offsets sit outside the output positions, so the copy runs along
    whole output rows (long contiguous runs) instead of along the tiny kernel.
    """
    p = _windows(xp, x, kernel, stride, padding, dilation)
    n, c = x.shape[:2]
    nsp = len(kernel)
    out = p.shape[2:2 + nsp]
    # (N, C, *out, *K) -> (N, C, *K, *out)
    order = (0, 1) + tuple(range(2 + nsp, 2 + 2 * nsp)) + tuple(range(2, 2 + nsp))
    cols = xp.ascontiguousarray(p.transpose(order))
    return cols.reshape(n, groups, (c // groups) * _prod(kernel), _prod(out)), out


def _conv_out(x, kernel, stride, padding, dilation):
    return tuple((n + lo + hi - d * (k - 1) - 1) // s + 1
                 for n, k, s, (lo, hi), d in zip(x, kernel, stride, padding, dilation))


# -- the C path: im2col into (C*K, N, L) columns ---------------------------------------
#
# NOTE: which GEMM shape OpenBLAS runs fast depends on the layer (measured on this
# machine, LeNet's two layers): with many output positions per sample (L >= 256)
# one GEMM per sample wins (conv1, 28x28: 0.33 vs 1.4 ms for the weight gradient);
# with few (conv2, 10x10) one GEMM across all samples wins (0.32 vs 1.2 ms).
_PER_SAMPLE_L = 256
_C_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _c_ok(a, kernel, out):
    return type(a) is np.ndarray and a.dtype in _C_DTYPES and len(kernel) <= 2 \
        and all(n > 0 for n in out)


def _as_2d(kernel, stride, padding, dilation, out):
    """The 2-D geometry pyrch/_C's im2col takes (1-D runs as H = 1): kernel, stride,
    low-side padding, dilation and output size."""
    lows = tuple(lo for lo, _ in padding)
    if len(kernel) == 2:
        return tuple(kernel), tuple(stride), lows, tuple(dilation), tuple(out)
    return (1,) + tuple(kernel), (1,) + tuple(stride), (0,) + lows, (1,) + tuple(dilation), \
        (1,) + tuple(out)


def _as4d(a):
    """A 2-D convolution operand (N, C, H, W) as a contiguous array; a 1-D one as H = 1."""
    return np.ascontiguousarray(a if a.ndim == 4 else a.reshape(a.shape[:2] + (1,) + a.shape[2:]))


def _c_cols(x, kernel, stride, padding, dilation, groups, out):
    """(G, C/G*K, N, L) columns of x from the C extension, or None."""
    if not _c_ok(x, kernel, out):
        return None
    cols = _c_conv().im2col(_as4d(x), *_as_2d(kernel, stride, padding, dilation, out))
    return None if cols is None else cols.reshape((groups, -1) + cols.shape[1:])


def _conv_c(x, w, stride, padding, dilation, groups):
    kernel = w.shape[2:]
    out = _conv_out(x.shape[2:], kernel, stride, padding, dilation)
    if groups == 1 and x.dtype == np.float32 and _c_ok(x, kernel, out) and x.shape[1] == w.shape[1]:
        # float32, stride 1: no columns at all (conv.c's direct kernel), where it applies
        y = _c_conv().conv2d(_as4d(x), _as4d(w), *_as_2d(kernel, stride, padding, dilation, out)[1:])
        if y is not None:
            return y.reshape((x.shape[0], w.shape[0]) + out)
    cols = _c_cols(x, kernel, stride, padding, dilation, groups, out)
    if cols is None or w.dtype != cols.dtype:
        return None
    g, ckg, n, L = cols.shape
    o = w.shape[0]
    wm = w.reshape(g, o // g, ckg)
    if L >= _PER_SAMPLE_L:                                       # (N, G, O/G, L), no copy after
        y = _matmul(wm[0] if g == 1 else wm, cols.transpose(2, 0, 1, 3))
    else:                                                        # (G, O/G, N*L), then to (N, O, L)
        y = _matmul(wm, cols.reshape(g, ckg, n * L))
        y = np.ascontiguousarray(y.reshape(o, n, L).transpose(1, 0, 2))
    return y.reshape((n, o) + out)


def _conv_weight_c(x, gy, kernel, stride, padding, dilation, groups):
    out = tuple(gy.shape[2:])
    if groups == 1 and x.dtype == np.float32 and gy.dtype == np.float32 and \
            all(s == 1 for s in stride) and all(d == 1 for d in dilation) and _c_ok(x, kernel, out):
        # stride 1: no columns (conv.c's direct kernel), where it applies
        k2, _, p2, _, o2 = _as_2d(kernel, stride, padding, dilation, out)
        dw = _c_conv().conv2d_weight(_as4d(x), _as4d(gy), k2, p2, o2)
        if dw is not None:
            return dw.reshape((gy.shape[1], x.shape[1]) + tuple(kernel))
    cols = _c_cols(x, kernel, stride, padding, dilation, groups, out)
    if cols is None or gy.dtype != cols.dtype:
        return None
    g, ckg, n, L = cols.shape
    o = gy.shape[1]
    if L >= _PER_SAMPLE_L:        # per sample (O/G, L) @ (L, C/G*K), summed over samples
        gw = _matmul(gy.reshape(n, g, o // g, L), cols.transpose(2, 0, 3, 1)).sum(axis=0)
    else:                         # (C/G*K, N*L) @ (N*L, O/G) across all samples, transposed
        gm = np.ascontiguousarray(gy.reshape(n, o, L).transpose(1, 0, 2)).reshape(g, o // g, n * L)
        gw = _matmul(cols.reshape(g, ckg, n * L), gm.transpose(0, 2, 1)).transpose(0, 2, 1)
    return np.ascontiguousarray(gw).reshape((o, x.shape[1] // groups) + tuple(kernel))


def _conv_transpose_c(gy, w, size, stride, padding, dilation, groups):
    kernel = tuple(w.shape[2:])
    out = tuple(gy.shape[2:])
    if not _c_ok(gy, kernel, out) or w.dtype != gy.dtype:
        return None
    if groups == 1 and gy.dtype == np.float32 and all(s == 1 for s in stride) and \
            all(d == 1 for d in dilation) and all(lo <= k - 1 for (lo, _), k in zip(padding, kernel)):
        # stride 1: the adjoint is a convolution of gy, padded k - 1 - low on the low side,
        # with the kernel flipped and its channel axes swapped (conv.c's direct kernel)
        wf = w.swapaxes(0, 1)[(slice(None), slice(None)) + (slice(None, None, -1),) * len(kernel)]
        lows = tuple(k - 1 - lo for (lo, _), k in zip(padding, kernel))
        lead = (0,) * (2 - len(kernel))            # a 1-D convolution runs as H = 1
        x = _c_conv().conv2d(_as4d(gy), _as4d(wf), (1, 1), lead + lows, (1, 1),
                             (1,) * len(lead) + tuple(size))
        if x is not None:
            return x.reshape((gy.shape[0], w.shape[1]) + tuple(size))
    n, o = gy.shape[:2]
    c = w.shape[1] * groups
    wm = w.reshape(groups, o // groups, -1).transpose(0, 2, 1)           # (G, C/G*K, O/G)
    gm = np.ascontiguousarray(gy.reshape(n, o, -1).transpose(1, 0, 2))    # (O, N, L)
    cols = _matmul(wm, gm.reshape(groups, o // groups, -1))             # (G, C/G*K, N*L)
    shape4 = (n, c) + ((1,) if len(kernel) == 1 else ()) + tuple(size)
    img = _c_conv().col2im(cols.reshape(-1, n, gm.shape[2]), shape4,
                           *_as_2d(kernel, stride, padding, dilation, out))
    return None if img is None else img.reshape((n, c) + tuple(size))


@op("conv", kind="opaque", dtype="promote", method=False)
def conv(xp, x, w, *, stride, padding, dilation, groups=1):
    """N-d convolution (cross-correlation) of x (N, C, *sp) with w (O, C/groups, *K).

    `padding` holds a (low, high) pair per spatial dimension. On the CPU, 1-D and 2-D
    convolutions run in C: float32 stride-1 ones without columns, the rest through
    im2col and one GEMM (numpy for what the extension does not take).
    """
    y = _conv_c(x, w, stride, padding, dilation, groups)
    if y is not None:
        return y
    kernel = w.shape[2:]
    cols, out = _cols(xp, x, kernel, stride, padding, dilation, groups)
    o = w.shape[0]
    wm = w.reshape(groups, o // groups, -1)                   # (G, O/G, C/G*K)
    y = xp.matmul(wm, cols)                                   # (N, G, O/G, L)
    return y.reshape((x.shape[0], o) + out)


@conv.infer
def _(x, w, *, stride, padding, dilation, groups=1):
    out = _conv_out(x.shape[2:], w.shape[2:], stride, padding, dilation)
    if x.shape[1] != w.shape[1] * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(w.shape)}, expected input"
            f"{list(x.shape)} to have {w.shape[1] * groups} channels, but got {x.shape[1]} "
            "channels instead")
    if any(n <= 0 for n in out):
        padded = [n + lo + hi for n, (lo, hi) in zip(x.shape[2:], padding)]
        eff = [d * (k - 1) + 1 for k, d in zip(w.shape[2:], dilation)]
        raise RuntimeError(
            f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
            f"Kernel size: ({' x '.join(map(str, eff))}). Kernel size can't be greater than "
            "actual input size")
    from .._dtype import promote_types
    return (x.shape[0], w.shape[0]) + out, promote_types(x.dtype, w.dtype)


@conv.backward
def _(g, x, w, needs, stride, padding, dilation, groups):
    gx = gw = None
    if needs[0]:
        gx = conv_transpose(g, w, size=tuple(x.shape[2:]), stride=stride, padding=padding,
                            dilation=dilation, groups=groups)
    if needs[1]:
        gw = conv_weight(x, g, kernel=tuple(w.shape[2:]), stride=stride, padding=padding,
                         dilation=dilation, groups=groups)
    return gx, gw


@op("conv_transpose", kind="opaque", dtype="promote", method=False)
def conv_transpose(xp, g, w, *, size, stride, padding, dilation, groups=1):
    """Transposed convolution: the adjoint of `conv` (g (N, O, *L), w (O, C/G, *K)) -> (N, C, *size)."""
    r = _conv_transpose_c(g, w, size, stride, padding, dilation, groups)
    if r is not None:
        return r
    n, o = g.shape[:2]
    kernel = tuple(w.shape[2:])
    cg = w.shape[1]
    c = cg * groups
    lsp = g.shape[2:]
    wm = w.reshape(groups, o // groups, -1).transpose(0, 2, 1)   # (G, C/G*K, O/G)
    full = tuple(s + lo + hi for s, (lo, hi) in zip(size, padding))
    lead = (slice(None), slice(None))
    if all(s == 1 for s in stride) and \
            all(f >= m + d * (k - 1) for f, m, k, d in zip(full, lsp, kernel, dilation)):
        # stride 1: zero-pad g's trailing dims to the full plane, so each kernel offset's
        # block is one contiguous run of the flattened plane (the padding adds zeros)
        fst = [_prod(full[i + 1:]) for i in range(len(full))]
        gpad = ((0, 0), (0, 0), (0, 0)) + tuple((0, f - m) for f, m in zip(full[1:], lsp[1:]))
        if any(hi for _, hi in gpad):
            g = xp.pad(g, gpad)
        run = lsp[0] * fst[0]
        cols = xp.matmul(wm, g.reshape(n, groups, o // groups, run))
        cols = cols.reshape((n, c) + kernel + (run,))             # (N, C, *K, run)
        tot = _prod(full)
        slack = max(0, sum((k - 1) * d * t for k, d, t in zip(kernel, dilation, fst)) + run - tot)
        buf = xp.zeros((n, c, tot + slack), dtype=cols.dtype)
        for ks in itertools.product(*(range(k) for k in kernel)):
            off = sum(k * d * t for k, d, t in zip(ks, dilation, fst))
            buf[:, :, off:off + run] += cols[lead + ks]
        buf = buf[:, :, :tot].reshape((n, c) + full)
        if not any(lo or hi for lo, hi in padding):
            return xp.ascontiguousarray(buf)
        crop = tuple(slice(lo, lo + s) for s, (lo, hi) in zip(size, padding))
        return xp.ascontiguousarray(buf[lead + crop])
    gm = g.reshape(n, groups, o // groups, _prod(lsp))          # (N, G, O/G, L)
    cols = xp.matmul(wm, gm).reshape((n, c) + kernel + lsp)     # (N, C, *K, *L)
    buf = xp.zeros((n, c) + full, dtype=cols.dtype)
    for ks in itertools.product(*(range(k) for k in kernel)):
        sl = tuple(slice(k * d, k * d + s * (m - 1) + 1, s)
                   for k, d, s, m in zip(ks, dilation, stride, lsp))
        buf[lead + sl] += cols[lead + ks]
    if not any(lo or hi for lo, hi in padding):
        return buf
    crop = tuple(slice(lo, lo + s) for s, (lo, hi) in zip(size, padding))
    return xp.ascontiguousarray(buf[lead + crop])


@conv_transpose.infer
def _(g, w, *, size, stride, padding, dilation, groups=1):
    from .._dtype import promote_types
    if g.shape[1] != w.shape[0]:
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(w.shape)}, expected input{list(g.shape)} "
            f"to have {w.shape[0]} channels, but got {g.shape[1]} channels instead")
    return (g.shape[0], w.shape[1] * groups) + tuple(size), promote_types(g.dtype, w.dtype)


@conv_transpose.backward
def _(gy, g, w, needs, stride, padding, dilation, groups):
    gg = gw = None
    if needs[0]:
        gg = conv(gy, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    if needs[1]:
        gw = conv_weight(gy, g, kernel=tuple(w.shape[2:]), stride=stride, padding=padding,
                         dilation=dilation, groups=groups)
    return gg, gw


@op("conv_weight", kind="opaque", dtype="promote", method=False)
def conv_weight(xp, x, g, *, kernel, stride, padding, dilation, groups=1):
    """Gradient of `conv` by its weight: x (N, C, *sp), g (N, O, *L) -> (O, C/G, *kernel)."""
    gw = _conv_weight_c(x, g, kernel, stride, padding, dilation, groups)
    if gw is not None:
        return gw
    cols, out = _cols(xp, x, kernel, stride, padding, dilation, groups)   # (N, G, C/G*K, L)
    n, o = g.shape[:2]
    gm = g.reshape(n, groups, o // groups, _prod(out))                      # (N, G, O/G, L)
    # one small GEMM per sample (B transposed in place), then the sum over samples
    gw = xp.matmul(gm, cols.transpose(0, 1, 3, 2)).sum(axis=0)            # (G, O/G, C/G*K)
    return gw.reshape((o, x.shape[1] // groups) + tuple(kernel))


@conv_weight.infer
def _(x, g, *, kernel, stride, padding, dilation, groups=1):
    from .._dtype import promote_types
    return (g.shape[1], x.shape[1] // groups) + tuple(kernel), promote_types(x.dtype, g.dtype)


@conv_weight.backward
def _(gw, x, g, needs, stride, padding, dilation, groups):
    gx = gg = None
    if needs[0]:
        gx = conv_transpose(g, gw, size=tuple(x.shape[2:]), stride=stride, padding=padding,
                            dilation=dilation, groups=groups)
    if needs[1]:
        gg = conv(x, gw, stride=stride, padding=padding, dilation=dilation, groups=groups)
    return gx, gg


# -- pooling ---------------------------------------------------------------------------

def _pool_out(n, k, s, p, d, ceil_mode):
    eff = d * (k - 1) + 1
    if ceil_mode:
        out = -(-(n + 2 * p - eff) // s) + 1
        if (out - 1) * s >= n + p:      # the last window must start inside input or left pad
            out -= 1
    else:
        out = (n + 2 * p - eff) // s + 1
    return out


def _min_value(xp, dtype):
    return -xp.inf if dtype.kind == "f" else xp.iinfo(dtype).min


def _flat_index(xp, spatial, pos):
    """Row-major flat index into `spatial` from a list of per-dimension positions."""
    flat = pos[0]
    for n, p in zip(spatial[1:], pos[1:]):
        flat = flat * n + p
    return flat


@op("max_pool_indices", kind="opaque", dtype="keep", differentiable=False, method=False)
def max_pool_indices(xp, x, *, kernel, stride, padding, dilation, ceil_mode=False):
    """Flat index (into each input plane) of the max of every pooling window (int64).

    A running max over the kernel offsets (one strided slice each), so no window
    copies; ties and NaNs resolve like argmax (first max, first NaN) in window order.
    """
    sp = x.shape[2:]
    out = tuple(_pool_out(n, k, s, p, d, ceil_mode)
                for n, k, s, p, d in zip(sp, kernel, stride, padding, dilation))
    if len(sp) == 2 and x.dtype == np.float32 and type(x) is np.ndarray:
        idx = _c_pool().maxpool2d_indices(x, kernel, stride, padding, dilation, out)
        if idx is not None:             # one C pass instead of ~10 numpy passes per offset
            return idx
    pads = tuple((p, max((o - 1) * s + d * (k - 1) + 1 - n - p, p))
                 for n, k, s, p, d, o in zip(sp, kernel, stride, padding, dilation, out))
    if any(lo or hi for lo, hi in pads):
        x = xp.pad(x, ((0, 0), (0, 0)) + pads, constant_values=_min_value(xp, x.dtype))
    # flat input index = sum_i (o_i*s_i - p_i + k_i*d_i) * plane_stride_i: base(o) + offset(k)
    pst = [_prod(sp[i + 1:]) for i in range(len(sp))]
    lead = (slice(None), slice(None))
    floating = x.dtype.kind in "fc"
    offs = []
    best = j = None
    # branch-free running argmax (masked writes are slow): m marks a new winner;
    # with floats a NaN wins unless the running max is already NaN (argmax's rule)
    for ks in itertools.product(*(range(k) for k in kernel)):
        v = x[lead + tuple(slice(k * d, k * d + s * (o - 1) + 1, s)
                           for k, d, s, o in zip(ks, dilation, stride, out))]
        offs.append(sum(k * d * t for k, d, t in zip(ks, dilation, pst)))
        if best is None:
            best = v
            j = xp.zeros(v.shape, dtype=xp.int32)
            continue
        if floating:
            m = ~(v <= best)
            m &= best == best
        else:
            m = v > best
        best = xp.maximum(best, v)
        j += m * (xp.int32(len(offs) - 1) - j)
    idx = xp.asarray(offs, dtype=xp.int64).take(j)
    base = 0
    for i, (s, p, t) in enumerate(zip(stride, padding, pst)):
        o = xp.arange(out[i], dtype=xp.int64).reshape((-1,) + (1,) * (len(out) - 1 - i))
        base = base + (o * s - p) * t
    return idx + base


@max_pool_indices.infer
def _(x, *, kernel, stride, padding, dilation, ceil_mode=False):
    out = tuple(_pool_out(n, k, s, p, d, ceil_mode)
                for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation))
    if any(o <= 0 for o in out):
        raise RuntimeError(f"max_pool: output size is too small ({list(out)}) for input "
                           f"{list(x.shape)} with kernel {list(kernel)}")
    return x.shape[:2] + out, int64


def adaptive_ranges(n, out):
    """(start, end) of each adaptive-pooling window (torch's floor/ceil rule)."""
    return [((i * n) // out, -(-((i + 1) * n) // out)) for i in range(out)]


@op("adaptive_max_pool_indices", kind="opaque", dtype="keep", differentiable=False,
    method=False)
def adaptive_max_pool_indices(xp, x, *, output_size):
    """Flat index (into each input plane) of the max of every adaptive window (int64)."""
    sp = x.shape[2:]
    nd = len(sp)
    idxs = []
    for n, o in zip(sp, output_size):
        rng = adaptive_ranges(n, o)
        kmax = max(e - s for s, e in rng)
        start = xp.asarray([s for s, _ in rng]).reshape(-1, 1)
        end = xp.asarray([e for _, e in rng]).reshape(-1, 1)
        # windows shorter than kmax repeat their last element (does not change the max)
        idxs.append(xp.minimum(start + xp.arange(kmax), end - 1))
    # advanced index giving (N, C, o1, k1, o2, k2, ...)
    ix = []
    for i, a in enumerate(idxs):
        shape = [1] * (2 * nd)
        shape[2 * i], shape[2 * i + 1] = a.shape
        ix.append(a.reshape(shape))
    w = x[(slice(None), slice(None)) + tuple(ix)]
    order = (0, 1) + tuple(2 + 2 * i for i in range(nd)) + tuple(3 + 2 * i for i in range(nd))
    w = w.transpose(order)
    ks = [a.shape[1] for a in idxs]
    arg = w.reshape(w.shape[:2 + nd] + (-1,)).argmax(axis=-1)
    kk = xp.unravel_index(arg, tuple(ks))
    pos = []
    for i, (a, k) in enumerate(zip(idxs, kk)):
        o = xp.arange(a.shape[0]).reshape((-1,) + (1,) * (nd - 1 - i))
        pos.append(a[o, k])
    return _flat_index(xp, sp, pos).astype(xp.int64)


@adaptive_max_pool_indices.infer
def _(x, *, output_size):
    return x.shape[:2] + tuple(output_size), int64


# -- softmax -------------------------------------------------------------------------

def _c_pool():
    from .._C import pool
    return pool


def _matmul(a, b):
    """np.matmul, through pyrch's own threads where pyrch/_C takes it."""
    r = _c_gemm().mm(a, b)
    return np.matmul(a, b) if r is None else r


def _c_gemm():
    from .._C import gemm
    return gemm


def _c_conv():
    from .._C import conv
    return conv


def _c_rowsel():
    from .._C import rowsel
    return rowsel


def _c_rows():
    from .._C import rows
    return rows


def _softmax_float_only(name, dt):
    """torch's error for softmax / log_softmax of an integer or bool tensor."""
    if np.dtype(dt).kind != "f":
        from .._dtype import NP2DT, TORCH_NAMES
        raise NotImplementedError(f"\"{name}_lastdim_kernel_impl\" not implemented for "
                                  f"'{TORCH_NAMES.get(NP2DT[np.dtype(dt)].name, str(dt))}'")


def _softmax_infer(a, *, dim):
    _softmax_float_only("softmax", a.dtype.np)
    return a.shape, a.dtype


@op("softmax", kind="opaque", dtype="keep", new_memory=True, c_call=True)
def softmax(xp, a, *, dim):
    """exp(a) / exp(a).sum(dim), computed stably (the max is subtracted first)."""
    _softmax_float_only("softmax", a.dtype)
    if a.size == 0:
        return a.copy()
    if a.ndim == 0:       # numpy takes axis 0 of a 0-dim array, cupy does not: 1 (NaN for inf, NaN)
        e = xp.exp(a - a)
        return e / e
    if (dim == -1 or dim == a.ndim - 1) and a.dtype == np.float32:
        y = _c_rows().softmax(a)              # one vectorised C pass per row, or None
        if y is not None:
            return y
    e = xp.exp(a - a.max(axis=dim, keepdims=True))
    e /= e.sum(axis=dim, keepdims=True)
    return e


softmax.infer(_softmax_infer)


def _softmax_public(op):
    def fn(input, dim=None, dtype=None):
        if dtype is not None:               # torch.softmax(x, 1, dtype=...): cast first
            input = input.to(dtype)
        return op(input, dim=dim)
    fn.__name__ = fn.__qualname__ = op.name
    fn.__doc__ = op.doc
    return op.public(fn)


_softmax_public(softmax)


@softmax.backward
def _(g, out, dim):
    from .._dispatch import state
    if not state.grad_enabled:           # a plain backward: one pass (float32 rows in C)
        return (softmax_backward(g, out, dim=dim, log=False),)
    return (out * (g - (g * out).sum(dim=dim, keepdim=True)),)


@op("softmax_backward", kind="opaque", dtype="keep", differentiable=False, method=False,
    new_memory=True, c_call=True)
def softmax_backward(xp, g, y, *, dim, log=False):
    """The gradient by x of softmax(x, dim) (y * (g - sum(g y))) or, with log=True, of
    log_softmax(x, dim) (g - exp(y) sum(g)), from the output gradient g and the output y."""
    if xp is np and y.ndim and (dim == -1 or dim == y.ndim - 1) and g.shape == y.shape:
        r = _c_rows().softmax_backward(g, y, log=log)
        if r is not None:
            return r
    if log:
        return (g - xp.exp(y) * g.sum(axis=dim, keepdims=True)).astype(y.dtype, copy=False)
    return (y * (g - (g * y).sum(axis=dim, keepdims=True))).astype(y.dtype, copy=False)


@softmax_backward.infer
def _(g, y, *, dim, log=False):
    return tuple(y.shape), y.dtype


# -- fused attention (made by the jit's fuse_attention pass, pyrch/jit/passes.py) -------

def _attention_scores(xp, q, k, mask, scale, divide):
    from .registry import OPS
    s = OPS["matmul"].forward(xp, q, xp.swapaxes(k, -1, -2))
    s = OPS["div" if divide else "mul"].forward(xp, s, scale)
    if mask is not None:
        s = OPS["masked_fill"].forward(xp, s, mask, float("-inf"))
    return s


@op("_attention", kind="opaque", dtype="keep", outputs=2, differentiable=False, method=False,
    new_memory=True, c_call=True)
def _attention(xp, q, k, v, mask, *, scale, divide=False):
    """(softmax(masked_fill(q @ k^T * scale, mask, -inf), -1) @ v, the softmax), or the
    scores divided by `scale` when `divide`; mask may be None. The jit puts this op where
    a traced graph spells attention out. float32 on CPU is one C call (pyrch/_C/attn.c:
    a key column every query row masks is never read, so unlike the ops spelled out, a
    NaN there does not reach the output); elsewhere the ops it replaces, in their order."""
    from .registry import OPS
    if xp is np:
        r = _c_attn().forward(q, k, v, mask, scale, divide)
        if r is not None:
            return r
    p = OPS["softmax"].forward(xp, _attention_scores(xp, q, k, mask, scale, divide), dim=-1)
    return OPS["matmul"].forward(xp, p, v), p


def _attention_meta(q, k, v, mask):
    if len(q.shape) < 2 or tuple(q.shape[:-2]) != tuple(k.shape[:-2]) or \
            tuple(k.shape[:-2]) != tuple(v.shape[:-2]) or q.shape[-1] != k.shape[-1] or \
            k.shape[-2] != v.shape[-2] or not (q.dtype == k.dtype == v.dtype):
        raise RuntimeError(f"_attention: q {list(q.shape)}, k {list(k.shape)} and v "
                           f"{list(v.shape)} do not fit (..., T, D), (..., S, D), (..., S, Dv)")
    lead, t, s = tuple(q.shape[:-2]), q.shape[-2], k.shape[-2]
    if mask is not None:
        try:
            np.broadcast_shapes(tuple(mask.shape), lead + (t, s))
        except ValueError:
            raise RuntimeError(f"_attention: mask of shape {list(mask.shape)} does not "
                               f"broadcast to {list(lead + (t, s))}") from None
    return lead, t, s


@_attention.infer
def _(q, k, v, mask, *, scale, divide=False):
    lead, t, s = _attention_meta(q, k, v, mask)
    return [(lead + (t, v.shape[-1]), q.dtype), (lead + (t, s), q.dtype)]


@op("_attention_backward", kind="opaque", dtype="keep", outputs=3, differentiable=False,
    method=False, new_memory=True, c_call=True)
def _attention_backward(xp, g, q, k, v, p, mask, *, scale, divide=False):
    """(dq, dk, dv) of `_attention` from the gradient g of its first output and its
    softmax p. float32 on CPU is one C call; elsewhere the ops autograd would run."""
    from .registry import OPS
    if xp is np:
        r = _c_attn().backward(g, q, k, v, p, mask, scale, divide)
        if r is not None:
            return r
    mm = OPS["matmul"].forward
    dp = mm(xp, g, xp.swapaxes(v, -1, -2))
    dv = mm(xp, xp.swapaxes(p, -1, -2), g)
    ds = OPS["softmax_backward"].forward(xp, dp, p, dim=-1, log=False)
    if mask is not None:
        ds = OPS["masked_fill"].forward(xp, ds, mask, 0.0)
    ds = OPS["div" if divide else "mul"].forward(xp, ds, scale)
    dq = mm(xp, ds, k)
    dk = xp.swapaxes(mm(xp, xp.swapaxes(q, -1, -2), ds), -1, -2)
    return dq, xp.ascontiguousarray(dk), dv


@_attention_backward.infer
def _(g, q, k, v, p, mask, *, scale, divide=False):
    lead, t, s = _attention_meta(q, k, v, mask)
    if tuple(g.shape) != lead + (t, v.shape[-1]) or tuple(p.shape) != lead + (t, s):
        raise RuntimeError(f"_attention_backward: gradient {list(g.shape)} and softmax "
                           f"{list(p.shape)} do not fit q {list(q.shape)}, k {list(k.shape)}, "
                           f"v {list(v.shape)}")
    return [(tuple(q.shape), q.dtype), (tuple(k.shape), q.dtype), (tuple(v.shape), q.dtype)]


def _c_attn():
    from .._C import attn
    return attn


@op("log_softmax", kind="opaque", dtype="keep", new_memory=True, c_call=True)
def log_softmax(xp, a, *, dim):
    """a - logsumexp(a, dim), computed stably."""
    _softmax_float_only("log_softmax", a.dtype)
    if a.size == 0:
        return a.copy()
    if a.ndim == 0:       # numpy takes axis 0 of a 0-dim array, cupy does not: 0 (NaN for inf, NaN)
        return a - a
    if (dim == -1 or dim == a.ndim - 1) and a.dtype == np.float32:
        y = _c_rows().softmax(a, log=True)
        if y is not None:
            return y
    s = a - a.max(axis=dim, keepdims=True)
    return s - xp.log(xp.exp(s).sum(axis=dim, keepdims=True))


@log_softmax.infer
def _(a, *, dim):
    _softmax_float_only("log_softmax", a.dtype.np)
    return a.shape, a.dtype
_softmax_public(log_softmax)


@log_softmax.backward
def _(g, out, dim):
    from .._dispatch import state
    if not state.grad_enabled:
        return (softmax_backward(g, out, dim=dim, log=True),)
    return (g - out.exp() * g.sum(dim=dim, keepdim=True),)


# -- embedding -----------------------------------------------------------------------

@op("embedding", kind="opaque", dtype="keep", method=False, new_memory=True, c_call=True)
def embedding(xp, weight, indices, *, padding_idx=None):
    """Rows of `weight` picked by integer `indices` (shape indices.shape + (D,))."""
    if xp is np:
        out = _c_rowsel().gather_rows(weight, indices)       # one C pass, indices checked
        if out is not None:
            return out
    if indices.size and (indices.min() < 0 or indices.max() >= weight.shape[0]):
        raise IndexError("index out of range in self")      # torch's words; no wrap-around
    return xp.take(weight, indices, axis=0)


def embedding_unchecked(xp, weight, indices):
    """embedding's rows without the host-side index check (which waits for a GPU, and a
    CUDA graph cannot hold): an out-of-range index gives a row of NaN (float weights)
    instead of an error. Traced CUDA plans run embedding steps through this."""
    n = weight.shape[0]
    out = xp.take(weight, xp.clip(indices, 0, max(n - 1, 0)), axis=0)
    if weight.dtype.kind == "f":
        bad = ((indices < 0) | (indices >= n)).reshape(indices.shape + (1,) * (weight.ndim - 1))
        out = xp.where(bad, weight.dtype.type("nan"), out)
    return out


@embedding.infer
def _(weight, indices, *, padding_idx=None):
    if indices.dtype.is_floating_point or indices.dtype.name == "bool":
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following "
                           "scalar types: Long, Int; but got torch.FloatTensor instead "
                           "(while checking arguments for embedding)")
    return tuple(indices.shape) + tuple(weight.shape[1:]), weight.dtype


@embedding.backward
def _(g, indices, meta, padding_idx):
    return embedding_dense_backward(g, indices, num_weights=meta.shapes[0][0],
                                    padding_idx=padding_idx), None


@op("embedding_dense_backward", kind="opaque", dtype="keep", method=False,
    new_memory=True, c_call=lambda attrs: attrs.get("padding_idx") is None)  # (else it zeroes a row after)
def embedding_dense_backward(xp, g, indices, *, num_weights, padding_idx=None):
    """Sum the rows of `g` into a (num_weights, D) table at `indices` (embedding's grad)."""
    d = g.shape[indices.ndim:]
    flat = indices.reshape(-1)
    width = _prod(d)
    out = _c_rowsel().scatter_add_rows(g, indices, num_weights) if xp is np else None
    if out is not None:
        pass                                 # one C pass, indices checked
    elif xp.__name__ == "numpy" and g.dtype.kind == "f" and width == 1:
        # one value per index (max-pool's and nll's gathers): bincount, 2x add.at
        out = xp.bincount(flat, weights=g.reshape(-1), minlength=num_weights)
        out = out.astype(g.dtype, copy=False).reshape((num_weights,) + d)
    else:
        out = xp.zeros((num_weights,) + d, dtype=g.dtype)
        xp.add.at(out, flat, g.reshape((-1,) + d))
    if padding_idx is not None:
        out[padding_idx] = 0
    return out


@embedding_dense_backward.infer
def _(g, indices, *, num_weights, padding_idx=None):
    return (num_weights,) + tuple(g.shape[len(indices.shape):]), g.dtype


@embedding_dense_backward.backward
def _(gw, indices, padding_idx):
    out = embedding(gw, indices)
    if padding_idx is not None:
        # the padding row of the table received nothing, so its grad flows nowhere
        out = out * (indices != padding_idx).unsqueeze(-1).to(out.dtype)
    return out, None


# -- the linear layer -------------------------------------------------------------------

@op("_linear", kind="opaque", dtype="keep", method=False, new_memory=True)
def _linear(xp, x, w, b):
    """x @ w.T + b for x (..., in), w (out, in) and b (out,) of one dtype: eager
    F.linear in one dispatch, one autograd node and (float on the CPU) one GEMM that
    adds the bias in its epilogue. The values are bitwise those of matmul then add: the
    same C call where `same_as_mm` says so, else those two ops' own forwards. A traced
    F.linear records matmul and add instead (see nn.functional.linear)."""
    wt = w.T
    if xp is np and (x.ndim == 2 or x.flags.c_contiguous):
        x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        gemm = _linalg._gemm()
        if gemm.same_as_mm(x2, wt):
            out = np.empty((x2.shape[0], w.shape[0]), x.dtype)
            gemm.matmul(x2, wt, out, bias=b)
            return out.reshape(x.shape[:-1] + (w.shape[0],))
    return _elementwise.add.forward(xp, _linalg.matmul.forward(xp, x, wt), b)


_linear.node_name = "AddmmBackward0"      # what torch's F.linear output shows


@_linear.infer
def _(x, w, b):
    if len(w.shape) != 2 or not x.shape or x.shape[-1] != w.shape[1]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                           f"({_prod(x.shape[:-1])}x{x.shape[-1] if x.shape else 0} and "
                           f"{w.shape[-1]}x{w.shape[0]})")
    if tuple(b.shape) != (w.shape[0],) or not (x.dtype is w.dtype is b.dtype):
        raise RuntimeError(f"_linear: bias {list(b.shape)} ({b.dtype}) does not fit weight "
                           f"{list(w.shape)} ({w.dtype}) and input ({x.dtype})")
    return tuple(x.shape[:-1]) + (w.shape[0],), x.dtype


@_linear.backward
def _(g, x, w, needs):
    # the composite's gradients, op for op (matmul's rule for x @ w.T, then permute's and
    # add's): the same products and sums, so the same bits as an F.linear through them
    n, k = w.shape
    gx = gw = gb = None
    if needs[0]:
        gx = _linalg.matmul(g, w)
    if needs[1]:
        g2 = g if g.dim() == 2 else g.reshape(-1, n)
        x2 = x if x.dim() == 2 else x.reshape(-1, k)
        gw = _linalg.matmul(_linalg._mT(g2), x2)
    if needs[2]:
        gb = _core.sum_to(g, shape=(n,))
    return gx, gw, gb


# -- layer normalisation ----------------------------------------------------------------

@op("layer_norm", kind="opaque", dtype="promote", method=False, new_memory=True, c_call=True)
def layer_norm(xp, x, w, b, *, n, eps):
    """(x - mean) / sqrt(var + eps) * w + b, the statistics over x's last `n` dims
    (w and b shaped like those dims). One C pass for float32 on CPU."""
    if xp is np:
        out = _c_rows().layer_norm(x, w, b, eps, n)
        if out is not None:
            return out
    dims = tuple(range(x.ndim - n, x.ndim))
    d = x - x.mean(axis=dims, keepdims=True)
    rstd = 1 / xp.sqrt((d * d).mean(axis=dims, keepdims=True) + eps)
    return d * rstd * w + b


def _ln_meta(x, w, n):
    from .._dtype import promote_types
    if tuple(x.shape[len(x.shape) - n:]) != tuple(w.shape) or len(x.shape) < n:
        raise RuntimeError(f"layer_norm: weight of shape {list(w.shape)} does not match the "
                           f"last {n} dims of input of shape {list(x.shape)}")
    return tuple(x.shape), promote_types(x.dtype, w.dtype)


@layer_norm.infer
def _(x, w, b, *, n, eps):
    if tuple(b.shape) != tuple(w.shape):
        raise RuntimeError(f"layer_norm: bias of shape {list(b.shape)} does not match weight "
                           f"of shape {list(w.shape)}")
    return _ln_meta(x, w, n)


@layer_norm.backward
def _(g, x, w, n, eps):
    from .._dispatch import state
    if not state.grad_enabled:           # a plain backward: one C pass (float32)
        return layer_norm_backward(g, x, w, n=n, eps=eps)
    # create_graph: the same gradient from differentiable ops, so it can be differentiated
    dims = tuple(range(x.dim() - n, x.dim()))
    lead = tuple(range(x.dim() - n))
    d = x - x.mean(dims, keepdim=True)
    rstd = ((d * d).mean(dims, keepdim=True) + eps).rsqrt()
    xh = d * rstd
    gh = g * w
    gx = rstd * (gh - gh.mean(dims, keepdim=True) - xh * (gh * xh).mean(dims, keepdim=True))
    gxh = g * xh
    return gx, (gxh.sum(lead) if lead else gxh), (g.sum(lead) if lead else g)


# new memory unless x has no leading dims (then g itself is the bias gradient)
@op("layer_norm_backward", kind="opaque", dtype="promote", outputs=3, differentiable=False,
    method=False, c_call=True,
    new_memory=lambda ins, outs, at: ins[1] is not None and len(ins[1]) > at["n"])
def layer_norm_backward(xp, g, x, w, *, n, eps):
    """(grad x, grad w, grad b) of `layer_norm` given the output gradient g."""
    if xp is np:
        r = _c_rows().layer_norm_backward(g, x, w, eps, n)
        if r is not None:
            return r
    dims = tuple(range(x.ndim - n, x.ndim))
    lead = tuple(range(x.ndim - n))
    d = x - x.mean(axis=dims, keepdims=True)
    rstd = 1 / xp.sqrt((d * d).mean(axis=dims, keepdims=True) + eps)
    xh = d * rstd
    gh = g * w
    gx = rstd * (gh - gh.mean(axis=dims, keepdims=True) - xh * (gh * xh).mean(axis=dims, keepdims=True))
    return gx, (g * xh).sum(axis=lead), g.sum(axis=lead)


@layer_norm_backward.infer
def _(g, x, w, *, n, eps):
    shape, dt = _ln_meta(x, w, n)
    return [(shape, dt), (tuple(w.shape), dt), (tuple(w.shape), dt)]


# -- losses that need their own gradient -----------------------------------------------

def _ce_targets(xp, x, t, ignore_index):
    """(keep, safe): which rows count (target != ignore_index), and targets that can
    index a row (0 where ignored). A target outside [0, C) raises torch's IndexError on
    the CPU; on a GPU (no host sync) it is clipped and its row's loss made NaN."""
    c = x.shape[1]
    keep = t != ignore_index
    safe = t * keep
    if xp is np:
        # two reductions, then the offending target only on the error path
        if safe.size and (safe.min() < 0 or safe.max() >= c):
            bad = (safe < 0) | (safe >= c)
            raise IndexError(f"Target {int(t[bad.argmax()])} is out of bounds.")
        return keep, safe, None
    bad = (safe < 0) | (safe >= c)
    return keep, xp.clip(safe, 0, max(c - 1, 0)), bad


@op("cross_entropy_indices", kind="opaque", dtype="keep", method=False,
    new_memory=True, c_call=True)
def cross_entropy_indices(xp, x, t, *, ignore_index=-100, reduction="mean"):
    """-log_softmax(x, 1)[m, t[m]] for the rows m of x (M, C) whose target t[m] is not
    ignore_index (0 for those that are), summed, averaged over the counted rows, or
    per row ('none'). F.cross_entropy's common case as one op: one pass forward, one
    backward, where log_softmax + nll_loss took 16 dispatches and 11 autograd nodes."""
    m = x.shape[0]
    if xp is np and x.size:
        # float32: one C call, the reduction in it (the per-row losses have the same
        # bits as below; their sum runs in double, rounded once)
        out = _c_rows().cross_entropy(x, t, ignore_index, reduction)
        if out is not None:
            return out
    lp = log_softmax.forward(xp, x, dim=1) if x.size else x.copy()
    keep, safe, bad = _ce_targets(xp, x, t, ignore_index)
    picked = lp[xp.arange(m), safe] if x.size else xp.zeros(m, x.dtype)
    loss = xp.where(keep, -picked, x.dtype.type(0))   # an ignored row is 0, never NaN
    if bad is not None:
        loss = xp.where(bad, x.dtype.type("nan"), loss)
    kept = keep.sum()
    if reduction == "none":
        return loss
    total = loss.sum(dtype=x.dtype)
    if reduction == "sum":
        return xp.asarray(total, dtype=x.dtype)
    return xp.asarray(total / xp.asarray(kept).astype(x.dtype), dtype=x.dtype)   # 0 / 0 is NaN


def _ce_meta(x, t, reduction):
    if len(x.shape) != 2 or len(t.shape) != 1 or t.shape[0] != x.shape[0]:
        raise ValueError(f"Expected input batch_size ({x.shape[0] if x.shape else 1}) to match "
                         f"target batch_size ({t.shape[0] if t.shape else 1}).")
    if not x.dtype.is_floating_point or t.dtype.name != "int64":
        raise RuntimeError(f"cross_entropy_indices: float input and int64 target expected, "
                           f"got {x.dtype} and {t.dtype}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


@cross_entropy_indices.infer
def _(x, t, *, ignore_index=-100, reduction="mean"):
    _ce_meta(x, t, reduction)
    return ((x.shape[0],) if reduction == "none" else ()), x.dtype


@cross_entropy_indices.backward
def _(g, x, t, ignore_index, reduction):
    from .._dispatch import state
    if not state.grad_enabled:           # a plain backward: one pass
        return cross_entropy_indices_backward(g, x, t, ignore_index=ignore_index,
                                              reduction=reduction), None
    # create_graph: the same gradient from differentiable ops, so it can be differentiated
    from .. import nn
    keep = t != ignore_index
    w = keep.to(x.dtype)
    onehot = nn.functional.one_hot(t * keep, x.shape[1]).to(x.dtype)
    scale = g * w
    if reduction == "mean":
        scale = scale / w.sum().clamp(min=1)      # every row ignored: 0, not 0 / 0
    return (softmax(x, dim=1) - onehot) * scale.unsqueeze(1), None


@op("cross_entropy_indices_backward", kind="opaque", dtype="keep", differentiable=False,
    method=False, new_memory=True, c_call=True)
def cross_entropy_indices_backward(xp, g, x, t, *, ignore_index=-100, reduction="mean"):
    """cross_entropy_indices' gradient by x: (softmax(x) - onehot(t)) * g per counted row
    (divided by their count for 'mean'), 0 for an ignored row."""
    m = x.shape[0]
    if x.size == 0:
        return xp.zeros(x.shape, x.dtype)
    if xp is np:
        r = _c_rows().cross_entropy_backward(np.asarray(g, x.dtype), x, t, ignore_index,
                                             reduction == "mean")
        if r is not None:                 # float32: one C pass
            return r
    p = softmax.forward(xp, x, dim=1)
    keep, safe, _ = _ce_targets(xp, x, t, ignore_index)
    rows = xp.arange(m)
    p[rows, safe] -= 1
    scale = keep.astype(x.dtype) * g.astype(x.dtype, copy=False)
    if reduction == "mean":       # every row ignored: a zero gradient (torch's), not 0 / 0
        scale = scale / xp.maximum(keep.sum(), 1).astype(x.dtype)
    p *= scale.reshape(m, 1)
    return p


@cross_entropy_indices_backward.infer
def _(g, x, t, *, ignore_index=-100, reduction="mean"):
    _ce_meta(x, t, reduction)
    return tuple(x.shape), x.dtype


@op("binary_cross_entropy", kind="opaque", dtype="promote", method=False)
def binary_cross_entropy(xp, x, t):
    """Unreduced -(t log x + (1 - t) log(1 - x)), each log clamped at -100 (torch's rule)."""
    if xp is np and getattr(x, "size", 0) and ((x < 0) | (x > 1)).any():   # (on a GPU: not checked)
        raise RuntimeError("all elements of input should be between 0 and 1")
    return (t - 1) * xp.maximum(xp.log1p(-x), -100) - t * xp.maximum(xp.log(x), -100)


@binary_cross_entropy.infer
def _(x, t):
    from .registry import broadcast_shapes, _meta_dtype
    return broadcast_shapes(x.shape, t.shape), _meta_dtype(binary_cross_entropy, (x, t))


@binary_cross_entropy.backward
def _(g, x, t, needs):
    # NOTE: torch's formula: the denominator is clamped at 1e-12, so x in {0, 1} stays finite
    gx = g * (x - t) / ((1 - x) * x).clamp(min=1e-12) if needs[0] else None
    gt = g * ((-x).log1p().clamp(min=-100) - x.log().clamp(min=-100)) if needs[1] else None
    return gx, gt


@op("_adam_scalars", kind="opaque", dtype="keep", differentiable=False, outputs=2,
    method=False, new_memory=True, c_call=True)
def _adam_scalars(xp, step, lr, beta1, beta2, *, dtype):
    """Adam's per-step scalars from the (already advanced) step count: the step size
    lr / (1 - beta1**step) and sqrt(1 - beta2**step), as 0-dim arrays of the
    parameter's `dtype` (computed in double, then rounded once, as torch rounds a
    Python scalar operand to a float32 tensor's dtype).

    One op instead of the eight tensor ops spelling it (casts, powers, subtractions,
    a division and a square root), so an eager step pays one dispatch per parameter
    and a traced step one node. The arithmetic is Python's, in torch's order
    (torch.optim.Adam computes these on host floats), so eager, traced and torch
    agree to the bit on the CPU; lr and the betas arrive as live graph inputs when
    traced. On a GPU the same formula runs as device arithmetic.
    """
    if xp is np and type(lr) is np.ndarray:
        # a traced replay's live hyperparameters (0-dim arrays): the same arithmetic in
        # one C call, which the plan keeps in C
        r = _c_rows().adam_scalars(step, lr, beta1, beta2, dtype.np)
        if r is not None:
            return r
    # (float.__float__ reads a traced hyperparameter without adding a guard for it: it is
    # this op's input, read live on each replay; a GPU array stays on the device)
    lr, beta1, beta2 = (x if hasattr(x, "__cuda_array_interface__") else
                        float.__float__(x) if isinstance(x, float) else float(x)
                        for x in (lr, beta1, beta2))
    # on a GPU the count stays a device array (a traced step replays as a CUDA graph,
    # which cannot hold a device-to-host copy); on the CPU it is a host float, as torch's
    s = float(step) if xp is np else step.astype(xp.float64)
    bc1 = 1 - beta1 ** s
    bc2 = 1 - beta2 ** s
    return xp.asarray(lr / bc1, dtype=dtype.np), xp.asarray(bc2 ** 0.5, dtype=dtype.np)


_adam_scalars.inplace_variant = False


@_adam_scalars.infer
def _(step, lr, beta1, beta2, *, dtype):
    return [((), dtype), ((), dtype)]
