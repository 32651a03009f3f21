"""Collectives as registry ops, so traced steps record (and replay) them.

They are `opaque` with `effectful=True`: the jit never merges, folds or drops
them. Their forwards talk to MPI (or NCCL for cupy arrays) through the
process group in pyrch.distributed (imported when called, so this module
does not depend on the layer above it).
"""
import numpy as np

from .registry import op

_MPI_OPS = {"sum": "SUM", "avg": "SUM", "max": "MAX", "min": "MIN", "prod": "PROD"}


def _group():
    from ..distributed import _need
    return _need()


def _host(a):
    return a if isinstance(a, np.ndarray) else None


@op("all_reduce", kind="opaque", differentiable=False, method=False, effectful=True)
def all_reduce(xp, a, *, reduce="sum"):
    """Every rank's `a`, reduced (sum/avg/max/min/prod)."""
    from mpi4py import MPI
    from ..distributed import _wait
    g = _group()
    if g.nccl is not None and not isinstance(a, np.ndarray):
        return _nccl_all_reduce(g, a, reduce)
    send = np.ascontiguousarray(a).reshape(a.shape)     # (ascontiguousarray makes 0-d 1-d)
    out = np.empty_like(send)
    _wait(g.comm.Iallreduce(send, out, op=getattr(MPI, _MPI_OPS[reduce])), "all_reduce")
    if reduce == "avg":
        out = (out / g.size).astype(out.dtype) if out.dtype.kind == "f" else out // g.size
    return out


@op("broadcast", kind="opaque", differentiable=False, method=False, effectful=True)
def broadcast(xp, a, *, src=0):
    """Rank `src`'s `a` on every rank."""
    from ..distributed import _wait
    g = _group()
    buf = np.array(a, copy=True, order="C")
    _wait(g.comm.Ibcast(buf, root=src), "broadcast")
    return buf


@op("all_gather", kind="opaque", differentiable=False, method=False, effectful=True)
def all_gather(xp, a):
    """Every rank's `a`, stacked along a new leading dimension."""
    from ..distributed import _wait
    g = _group()
    send = np.ascontiguousarray(a).reshape(a.shape)
    out = np.empty((g.size,) + send.shape, dtype=send.dtype)
    _wait(g.comm.Iallgather(send, out), "all_gather")
    return out


def _nccl_all_reduce(g, a, reduce):
    import cupy as cp
    from cupy.cuda import nccl
    dt = {np.dtype(np.float32): nccl.NCCL_FLOAT32, np.dtype(np.float64): nccl.NCCL_FLOAT64,
          np.dtype(np.float16): nccl.NCCL_FLOAT16, np.dtype(np.int64): nccl.NCCL_INT64,
          np.dtype(np.int32): nccl.NCCL_INT32}[a.dtype]
    red = {"sum": nccl.NCCL_SUM, "avg": nccl.NCCL_SUM, "max": nccl.NCCL_MAX,
           "min": nccl.NCCL_MIN, "prod": nccl.NCCL_PROD}[reduce]
    src = cp.ascontiguousarray(a)
    out = cp.empty_like(src)
    g.nccl.allReduce(src.data.ptr, out.data.ptr, src.size, dt, red, cp.cuda.get_current_stream().ptr)
    if reduce == "avg":
        out /= g.size
    return out
