"""Ops the autograd engine itself relies on: casts, copies, broadcasting sums."""
import math

import numpy as np

from .registry import op


@op("to_dtype", kind="elementwise", dtype="keep", method=False)
def to_dtype(xp, a, *, dtype):
    """Cast to `dtype` (Tensor.to(dtype), .float(), ...)."""
    return a.astype(dtype.np)


@to_dtype.backward
def _(g, meta):
    return g.to(meta.dtypes[0])


@to_dtype.infer
def _(a, *, dtype):
    return a.shape, dtype


@op("to_device", kind="opaque", dtype="keep", method=False)
def to_device(xp, a, *, device, src="cpu"):
    """Copy to another device (Tensor.to(device), .cuda(), .cpu())."""
    from .._backend import to_device as move, device as dev
    return move(a, dev(device))


@to_device.backward
def _(g, src):
    return g.to(src)


@op("detach", kind="movement", dtype="keep", differentiable=False, view=True)
def detach(xp, a):
    """A tensor sharing storage with `a`, cut from the autograd graph."""
    return a


@op("clone", kind="elementwise", dtype="keep", cexpr="a")
def clone(xp, a):
    """A copy with its own storage (differentiable)."""
    return a.copy()


@clone.backward
def _(g):
    return (g,)


# new memory unless there is nothing to sum (then it returns its input)
@op("sum_to", kind="reduce", dtype="keep",
    new_memory=lambda ins, outs, at: ins[0] is not None and ins[0] != outs[0], c_call=True)
def sum_to(xp, a, *, shape):
    """Sum `a` down to `shape`, undoing broadcasting (used by autograd)."""
    shape = tuple(shape)
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                     if s == 1 and a.shape[lead + i] != 1)
    if axes and axes == tuple(range(len(axes))) and a.dtype.kind == "f" and a.itemsize >= 4 \
            and type(a) is np.ndarray and a.flags.c_contiguous:
        rows = math.prod(a.shape[:len(axes)])
        if rows >= 2 and (a.size // max(rows, 1) >= 16 or _recording_f32(a.dtype)):
            # summing the leading dims (a bias gradient): column sums in C, each of
            # pyrch's threads summing the rows its core just wrote (GPT step, in the
            # plan: 85 -> 65 us for 1024 x 128), one recordable C call however few the
            # rows (a small batch's position-embedding gradient), and however few the
            # columns while a plan records float32 (MLP b128's last bias: 128 x 10); a
            # BLAS vector-matrix product without the extension
            a2 = a.reshape(rows, -1)
            out = _rowsel().sum_rows(a2, shape)     # one C call (recorded by a traced plan)
            if out is None:
                out = (np.ones((1, rows), a.dtype) @ a2).reshape(shape)
            return out
    out = a.sum(axis=axes, keepdims=True, dtype=a.dtype) if axes else a
    return out.reshape(shape) if out.shape != shape else out


@sum_to.backward
def _(g, meta):
    return g.expand(meta.shapes[0])


@sum_to.infer
def _(a, *, shape):
    return tuple(shape), a.dtype


@op("fill", kind="elementwise", dtype="keep", differentiable=True, method=False)
def fill(xp, a, value):
    """A tensor like `a` filled with `value` (Tensor.fill_)."""
    out = xp.empty_like(a)
    out[...] = value
    return out


@fill.backward
def _(g, needs):
    return None, (g.sum() if needs[1] else None)


@op("copy", kind="elementwise", dtype="keep", method=False)
def copy(xp, a, src):
    """`src` broadcast to `a`'s shape and cast to its dtype (Tensor.copy_)."""
    return xp.broadcast_to(src, a.shape).astype(a.dtype, copy=True)


@copy.backward
def _(g, needs):
    return None, g


def _rowsel():
    from .._C import rowsel
    return rowsel


def _recording_f32(dtype):
    from .._C.fused import recording_f32
    return recording_f32(dtype)
