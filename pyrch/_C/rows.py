"""Row kernels in C: softmax and log-softmax over the last dimension (float32),
cross-entropy over class indices and its gradient, layer norm, Adam's step scalars;
and `_call`, through which these and rowsel.py's kernels run as one recordable C call.

One pass finds each row's max, a second computes exp(x - max) (vectorised) and
its sum, a third scales; numpy needs five passes and four temporaries.

>>> import numpy as np
>>> from pyrch._C import rows
>>> y = rows.softmax(np.zeros((2, 4), np.float32))
>>> y is None or bool(np.allclose(y, 0.25))
True
"""
import numpy as np

from .fused import _ERRORS, E_INDEX, RECORDER
from .._config import flags

# pyrch_call_t's kernels (steps.h)
SOFTMAX, SOFTMAX_BACKWARD, LAYER_NORM, LAYER_NORM_BACKWARD, CE_BACKWARD = 1, 2, 3, 4, 5
CE, GATHER, SCATTER_ADD, SUM_ROWS, ADAM_SCALARS = 6, 7, 8, 9, 10
# PYRCH_SCALAR_* (steps.h): the dtypes PYRCH_CALL_ADAM_SCALARS reads and writes
_SCALAR = {np.dtype(np.float32): 0, np.dtype(np.float64): 1, np.dtype(np.int64): 2}
# cross_entropy_indices' reductions, as PYRCH_CALL_CE numbers them
_REDUCTION = {"none": 0, "sum": 1, "mean": 2}


_EXT = []       # [(lib, ffi, get_num_threads)] once an extension with pyrch_call loaded


def _ext():
    """(lib, ffi, get_num_threads) while the extension can take a pyrch_call, else None
    (not built, an older build, or switched off: PYRCH_C=0 / pyrch.config(c=False)).
    Looked up once: every eager row kernel asks, and three imports a call cost ~1.5 us
    of a 6 us softmax on a small tensor."""
    if not _EXT:
        from . import lib, ffi, get_num_threads
        L = lib()
        if L is None or not hasattr(L, "pyrch_call"):
            return None
        _EXT.append((L, ffi(), get_num_threads))
    return _EXT[0] if flags.c else None


def _has_call():
    return _ext() is not None


def call_struct(fn, ins, outs, ints, eps=0.0, nthreads=None):
    """A pyrch_call_t for row kernel `fn` over C-contiguous numpy arrays ins / outs
    (they must outlive it: it points into them)."""
    _, F, get_num_threads = _ext()
    c = F.new("pyrch_call_t *")
    c.fn, c.nthreads = fn, get_num_threads() if nthreads is None else nthreads
    for k, a in enumerate(ins):
        c.src[k], c.src_nbytes[k] = F.from_buffer(a), a.nbytes
    for k, a in enumerate(outs):
        c.dst[k], c.dst_nbytes[k] = F.from_buffer(a, require_writable=True), a.nbytes
    for k, v in enumerate(ints):
        c.i[k] = v
    c.eps = eps
    return c


def _call(fn, what, ins, outs, ints, eps=0.0, t=None, index_error=None):
    """Run kernel `fn` through pyrch_call (the struct a traced plan records and replays,
    pyrch/jit/segments.py): ins/outs are C-contiguous numpy arrays. An index out of
    range raises IndexError: torch's words for a target t[bad], else index_error."""
    c = call_struct(fn, ins, outs, ints, eps)
    if RECORDER[0] is not None:
        RECORDER[0].call(c, len(ins), len(outs))
    rc = _EXT[0][0].pyrch_call(c)
    if rc != 0:
        if rc == E_INDEX and t is not None:
            raise IndexError(f"Target {int(t[c.bad])} is out of bounds.")
        if rc == E_INDEX and index_error is not None:
            raise IndexError(index_error)
        raise RuntimeError(f"pyrch/_C rejected the {what}: {_ERRORS.get(rc, rc)}")


def softmax(a, log=False):
    """softmax (or log_softmax) of float32 `a` over its last axis, or None when the
    extension cannot take it (other dtypes, rows not contiguous, no extension)."""
    if not _has_call() or a.dtype != np.float32 or type(a) is not np.ndarray or a.ndim == 0:
        return None
    n = a.shape[-1]
    if not a.flags.c_contiguous:
        return None
    rows = a.size // n if n else 0
    out = np.empty(a.shape, np.float32)
    if a.size:
        _call(SOFTMAX, "softmax", (a,), (out,), (rows, n, int(log)))
    return out


def softmax_backward(g, y, log=False):
    """The gradient by x of softmax(x) (or log_softmax) over the last axis from the
    output gradient `g` and the forward's output `y` (float32), or None when the
    extension cannot take them."""
    if not _has_call() or \
            any(type(a) is not np.ndarray or a.dtype != np.float32 for a in (g, y)) or \
            g.shape != y.shape or g.ndim == 0:
        return None
    g, y = np.ascontiguousarray(g), np.ascontiguousarray(y)
    n = g.shape[-1]
    rows = g.size // n if n else 0
    out = np.empty(g.shape, np.float32)
    if g.size:
        _call(SOFTMAX_BACKWARD, "softmax backward", (g, y), (out,), (rows, n, int(log)))
    return out


def _ce_takes(x, t):
    """Whether the C cross-entropy takes these operands: float32 logits (M, C) and int64
    targets (M,), both C-contiguous numpy arrays."""
    return type(x) is np.ndarray and type(t) is np.ndarray and x.dtype == np.float32 and \
        t.dtype == np.int64 and x.ndim == 2 and t.ndim == 1 and t.shape[0] == x.shape[0] and \
        x.shape[1] >= 1 and x.flags.c_contiguous and t.flags.c_contiguous and _has_call()


def cross_entropy(x, t, ignore_index, reduction="mean"):
    """Cross-entropy over class indices for float32 x (M, C) and int64 t (M,): the loss
    per row (0 for a row whose target is ignore_index) for reduction 'none', else its
    sum or its mean over the counted rows (summed in double, rounded once) as a 0-dim
    array. One recordable C call. None when the extension cannot take the operands;
    IndexError for a target outside [0, C)."""
    if reduction not in _REDUCTION or not _ce_takes(x, t):
        return None
    red = _REDUCTION[reduction]
    out = np.empty(x.shape[0] if red == 0 else (), np.float32)
    _call(CE, "cross entropy", (x, t), (out,), (x.shape[0], x.shape[1], int(ignore_index), red),
          t=t)
    return out


def adam_scalars(step, lr, beta1, beta2, dtype):
    """Adam's (lr / (1 - beta1**step), sqrt(1 - beta2**step)) as 0-dim arrays of `dtype`
    from 0-dim arrays (a traced step's live hyperparameters): the arithmetic Python does
    on floats, in one recordable C call. None when the extension cannot take them or
    Python would raise (then Python computes, and raises)."""
    ins = (step, lr, beta1, beta2)
    dt = np.dtype(dtype)
    if any(type(a) is not np.ndarray or a.ndim != 0 or a.dtype not in _SCALAR for a in ins) or \
            dt not in (np.float32, np.float64) or not _has_call():
        return None
    ins = tuple(np.ascontiguousarray(a) for a in ins)
    a, b = np.empty((), dt), np.empty((), dt)
    try:
        _call(ADAM_SCALARS, "Adam step scalars", ins, (a, b),
              tuple(_SCALAR[x.dtype] for x in ins) + (_SCALAR[dt],))
    except RuntimeError:
        return None
    return a, b


def cross_entropy_backward(g, x, t, ignore_index, mean):
    """The gradient by x of `cross_entropy`: (softmax(x) - onehot(t)) * g per row (divided
    by the counted rows when `mean`), 0 for an ignored row. g: a float32 scalar or one
    value per row. None when the extension cannot take the operands."""
    if not _ce_takes(x, t) or type(g) is not np.ndarray or g.dtype != np.float32 or \
            g.shape not in ((), (x.shape[0],)) or not g.flags.c_contiguous:
        return None
    out = np.empty(x.shape, np.float32)
    g1 = g.reshape(-1)
    _call(CE_BACKWARD, "cross entropy backward", (g1, x, t), (out,),
          (x.shape[0], x.shape[1], 1 if g.ndim else 0, int(bool(mean)), int(ignore_index)), t=t)
    return out


def _ln_args(x, w, n, other, other_shape):
    """(contiguous x, w, other, rows, D) for the C layer norm, or None when it cannot
    take them (no extension, not float32 numpy arrays, shapes that do not fit)."""
    arrays = (x, w, other)
    if not _has_call() or \
            any(type(a) is not np.ndarray or a.dtype != np.float32 for a in arrays) or \
            x.ndim < n or x.shape[x.ndim - n:] != w.shape or other.shape != other_shape:
        return None
    D = w.size
    return tuple(np.ascontiguousarray(a) for a in arrays) + ((x.size // D if D else 0), D)


def layer_norm(x, w, b, eps, n):
    """(x - mean) / sqrt(var + eps) * w + b over x's last `n` dims (float32), or None
    when the extension cannot take it."""
    args = _ln_args(x, w, n, b, getattr(w, "shape", None))
    if args is None:
        return None
    xc, wc, bc, rows, D = args
    out = np.empty(x.shape, np.float32)
    _call(LAYER_NORM, "layer norm", (xc, wc, bc), (out,), (rows, D), float(eps))
    return out


def layer_norm_backward(g, x, w, eps, n):
    """(grad x, grad w, grad b) of `layer_norm` for float32 operands, or None."""
    args = _ln_args(x, w, n, g, getattr(x, "shape", None))
    if args is None:
        return None
    xc, wc, gc, rows, D = args
    gx = np.empty(x.shape, np.float32)
    gw, gb = np.empty(w.shape, np.float32), np.empty(w.shape, np.float32)
    _call(LAYER_NORM_BACKWARD, "layer norm backward", (gc, xc, wc), (gx, gw, gb), (rows, D),
          float(eps))
    return gx, gw, gb
