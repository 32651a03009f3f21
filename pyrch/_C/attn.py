"""Fused attention in C (attn.c): softmax(mask(q @ k^T * scale)) @ v and its gradient,
float32, one (batch, head) entry per thread at a time.

The jit's `fuse_attention` pass (pyrch/jit/passes.py) puts the ops `_attention` and
`_attention_backward` in a traced graph where it finds the pattern; their forwards
call these, and fall back to the separate ops where these return None.

>>> import numpy as np
>>> from pyrch._C import attn
>>> q = k = v = np.ones((1, 2, 3, 4), np.float32)
>>> r = attn.forward(q, k, v, None, 0.5, False)
>>> r is None or bool(np.allclose(r[0], 1.0) and np.allclose(r[1], 1 / 3))
True
"""
import numpy as np

from .fused import _ERRORS, RECORDER
from .gemm import _extent

# pyrch_attn_t's operands (attn.h), and which ones each direction writes
Q, K, V, MASK, P, O, G, DQ, DK, DV = range(10)
NARGS = 10
OUTPUTS = {False: (O, P), True: (DQ, DK, DV)}


def _batched(a):
    """(a, its (batch, head) strides in elements) for `a` of at most two batch dims
    (fewer: padded with 0 in front), or None where a stride is negative or not a
    whole number of elements."""
    isz = a.itemsize
    if any(st < 0 or st % isz for st in a.strides):
        return None
    st = [s // isz for s in a.strides[:-2]]
    return a, [0] * (2 - len(st)) + st


def _ok(*arrays):
    return all(type(a) is np.ndarray and a.dtype == np.float32 and a.strides[-1] == 4
               for a in arrays)


def _struct(backward, args, lead, t, s, d, dv, scale, divide, masked):
    from . import ffi, get_num_threads
    F = ffi()
    c = F.new("pyrch_attn_t *")
    c.backward, c.nthreads, c.masked, c.divide = backward, get_num_threads(), masked, divide
    full = (1,) * (2 - len(lead)) + tuple(lead)
    c.nb, c.nh = full
    c.t, c.s, c.d, c.dv = t, s, d, dv
    c.scale = scale
    for i, (a, (sb, sh)) in args.items():
        x = c.x[i]
        x.ptr = F.cast("char *", a.ctypes.data)
        x.nbytes = _extent(a)
        x.sb, x.sh = sb, sh
        x.sr, x.sc = a.strides[-2] // a.itemsize, a.strides[-1] // a.itemsize
    return c


def _run(c, what):
    from . import lib
    if RECORDER[0] is not None:
        RECORDER[0].attn(c)
    rc = lib().pyrch_attention(c)
    if rc != 0:
        raise RuntimeError(f"pyrch/_C rejected the {what}: {_ERRORS.get(rc, rc)}")


def _usable(q, k, v, mask, *more):
    from . import lib
    L = lib()
    if L is None or not hasattr(L, "pyrch_attention") or not _ok(q, k, v, *more):
        return None
    if q.ndim < 2 or not (q.shape[:-2] == k.shape[:-2] == v.shape[:-2]) or \
            q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        return None
    if mask is not None and (type(mask) is not np.ndarray or mask.dtype != np.bool_ or
                             mask.ndim > q.ndim):
        return None
    lead = q.shape[:-2]
    if len(lead) > 2 or 0 in q.shape or 0 in k.shape or 0 in v.shape:
        return None
    return lead


def _outs(out, shapes):
    """The caller's output arrays (float32, these shapes, unit-stride rows), else new ones."""
    if out is None:
        return [np.empty(s, np.float32) for s in shapes]
    if len(out) != len(shapes) or any(
            type(a) is not np.ndarray or a.dtype != np.float32 or a.shape != s or
            a.strides[-1] != 4 or not a.flags.writeable for a, s in zip(out, shapes)):
        raise ValueError("attention: out arrays do not fit")
    return list(out)


def _call(backward, ins, mask, outs, out, lead, dims, scale, divide):
    """Describe the operands (ins and the mask; the outputs, the caller's `out` or new
    arrays of shapes `outs`), run the kernel and return the outputs, or None where an
    operand's layout does not fit."""
    t, s = dims[0], dims[1]
    args = {i: _batched(a) for i, a in ins}
    if mask is not None:
        try:
            args[MASK] = _batched(np.broadcast_to(mask, lead + (t, s)))
        except ValueError:
            return None
    results = _outs(out, [shape for _, shape in outs])
    for (i, _), a in zip(outs, results):
        args[i] = _batched(a)
    if any(r is None for r in args.values()):
        return None
    _run(_struct(backward, args, lead, *dims, scale, int(divide), int(mask is not None)),
         "attention backward" if backward else "attention")
    return tuple(results)


def forward(q, k, v, mask, scale, divide, out=None):
    """(softmax(mask(q @ k^T * scale)) @ v, the softmax) for float32 arrays q (..., T, D),
    k (..., S, D), v (..., S, Dv) with the same batch dims (at most two), unit-stride
    last dims, and a bool mask broadcastable to (..., T, S) (True: -inf) or None; the
    scores are divided by `scale` instead when `divide`. None where this cannot take
    them (the caller computes it op by op). out: the two arrays to write the results
    into (any non-negative strides with unit-stride rows: the jit writes them in the
    layout their reader wants), else new ones."""
    lead = _usable(q, k, v, mask)
    if lead is None:
        return None
    t, s, d, dv = q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1]
    return _call(0, ((Q, q), (K, k), (V, v)), mask,
                 ((O, lead + (t, dv)), (P, lead + (t, s))), out, lead, (t, s, d, dv),
                 scale, divide)


def backward(g, q, k, v, p, mask, scale, divide, out=None):
    """(dq, dk, dv) of `forward` from the output gradient g (..., T, Dv) and the
    forward's softmax p (..., T, S); None where this cannot take them. out: as for
    `forward`, three arrays."""
    lead = _usable(q, k, v, mask, g, p)
    if lead is None:
        return None
    t, s, d, dv = q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1]
    if g.shape != lead + (t, dv) or p.shape != lead + (t, s):
        return None
    return _call(1, ((G, g), (Q, q), (K, k), (V, v), (P, p)), mask,
                 ((DQ, lead + (t, d)), (DK, lead + (s, d)), (DV, lead + (s, dv))), out, lead,
                 (t, s, d, dv), scale, divide)
