"""Distributed training over MPI (mpi4py), and NCCL through cupy for GPU tensors.

    python -m pyrch.distributed.run -n 2 train.py        # two ranks on this machine

    import pyrch.distributed as dist
    dist.init_process_group("mpi")
    dist.all_reduce(t)                                    # in place, like torch

Collectives are registry ops ("opaque", with side effects), so a traced
training step records them like any other op and its replays communicate.
Every blocking wait has a timeout (default 300 s, `timeout=` in
init_process_group or PYRCH_DIST_TIMEOUT): a rank that died makes the others
raise `DistributedError` naming the collective instead of hanging forever.
"""
import datetime
import enum
import os
import time

from .. import _dispatch
from ..ops.registry import OPS

__all__ = ["init_process_group", "destroy_process_group", "is_initialized", "is_available",
           "get_rank", "get_world_size", "barrier", "all_reduce", "broadcast", "all_gather",
           "all_gather_into_tensor", "reduce_scatter", "reduce_scatter_tensor", "send", "recv",
           "ReduceOp", "DistributedError", "get_backend"]


class DistributedError(RuntimeError):
    """A collective failed or timed out (usually: another rank died)."""


class ReduceOp(enum.Enum):
    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"
    PRODUCT = "prod"


class _Group:
    def __init__(self, backend, comm, timeout):
        self.backend, self.comm, self.timeout = backend, comm, timeout
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.nccl = None


_group = None


def is_available():
    """True when mpi4py can be imported."""
    try:
        import mpi4py  # noqa: F401
        return True
    except ImportError:
        return False


def is_initialized():
    return _group is not None


def _need():
    if _group is None:
        raise RuntimeError("Default process group has not been initialized, please make sure to "
                           "call init_process_group.")
    return _group


def init_process_group(backend="mpi", init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None):
    """Join the job that `python -m pyrch.distributed.run` (mpiexec) started."""
    global _group
    if _group is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    if backend not in ("mpi", "nccl", "gloo"):
        raise ValueError(f"Invalid backend: '{backend}' (pyrch supports 'mpi' and 'nccl'; "
                         "'gloo' is accepted as an alias of 'mpi')")
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError("pyrch.distributed needs mpi4py: pip install -e .[distributed]") from e
    if isinstance(timeout, datetime.timedelta):
        timeout = timeout.total_seconds()
    timeout = float(timeout or os.environ.get("PYRCH_DIST_TIMEOUT", 300))
    comm = MPI.COMM_WORLD.Dup()
    g = _Group("nccl" if backend == "nccl" else "mpi", comm, timeout)
    if world_size not in (-1, g.size):
        raise ValueError(f"world_size={world_size} but the MPI job has {g.size} ranks")
    if rank not in (-1, g.rank):
        raise ValueError(f"rank={rank} but MPI says this process is rank {g.rank}")
    if backend == "nccl":
        from .._backend import cupy
        cp = cupy()
        from cupy.cuda import nccl
        uid = nccl.get_unique_id() if g.rank == 0 else None
        uid = comm.bcast(uid, root=0)
        cp.cuda.Device(g.rank % cp.cuda.runtime.getDeviceCount()).use()
        g.nccl = nccl.NcclCommunicator(g.size, uid, g.rank)
    _group = g


def destroy_process_group(group=None):
    """Leave the process group."""
    global _group
    if _group is not None:
        _group.comm.Free()
        _group = None


def get_rank(group=None):
    return _need().rank if _group is not None else 0


def get_world_size(group=None):
    return _need().size if _group is not None else 1


def get_backend(group=None):
    return _need().backend


def _wait(req, what):
    """Wait for an MPI request, raising DistributedError after the group's timeout."""
    g = _need()
    deadline = time.monotonic() + g.timeout
    sleep = 0.0
    while not req.Test():
        if time.monotonic() > deadline:
            try:
                req.Cancel()
            except Exception:  # noqa: BLE001 - best effort; the job is failing anyway
                pass
            raise DistributedError(f"{what} timed out after {g.timeout:.0f} s on rank {g.rank}: "
                                   "another rank probably died or never reached this call")
        time.sleep(sleep)
        sleep = min(sleep * 2 + 1e-5, 1e-3)


def barrier(group=None, async_op=False, device_ids=None):
    """Block until every rank reaches this point."""
    _wait(_need().comm.Ibarrier(), "barrier")


def _inplace(name, tensor, **attrs):
    return _dispatch.dispatch_inplace(OPS[name], tensor, (tensor,), attrs)


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce `tensor` across ranks, in place (SUM, AVG, MAX, MIN, PRODUCT)."""
    _need()
    op = ReduceOp(op) if not isinstance(op, ReduceOp) else op
    with _no_grad():
        _inplace("all_reduce", tensor, reduce=op.value)
    return _Work() if async_op else None


def broadcast(tensor, src, group=None, async_op=False):
    """Overwrite `tensor` on every rank with rank `src`'s value."""
    g = _need()
    if not 0 <= src < g.size:
        raise ValueError(f"broadcast: src={src} is not a rank of a world of size {g.size}")
    with _no_grad():
        _inplace("broadcast", tensor, src=src)
    return _Work() if async_op else None


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Fill `tensor_list` (one tensor per rank) with every rank's `tensor`."""
    g = _need()
    if len(tensor_list) != g.size:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} entries for a world of size {g.size}")
    from .. import stack
    with _no_grad():
        out = OPS["all_gather"](tensor)
        for i, t in enumerate(tensor_list):
            if t.shape != tensor.shape:
                raise ValueError(f"all_gather: output {i} has shape {tuple(t.shape)}, input {tuple(tensor.shape)}")
            t.copy_(out[i])
    return _Work() if async_op else None


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Concatenate every rank's input along dim 0 into `output_tensor`."""
    g = _need()
    with _no_grad():
        out = OPS["all_gather"](input_tensor)
        output_tensor.copy_(out.reshape(tuple(output_tensor.shape)))
    return _Work() if async_op else None


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce input_list element-wise across ranks; rank r keeps element r."""
    from .. import stack
    g = _need()
    if len(input_list) != g.size:
        raise ValueError(f"reduce_scatter: input_list has {len(input_list)} entries for a world of size {g.size}")
    return reduce_scatter_tensor(output, stack(list(input_list)), op, group, async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce `input` across ranks and keep this rank's slice of dim 0 in `output`."""
    g = _need()
    op = ReduceOp(op) if not isinstance(op, ReduceOp) else op
    if input.shape[0] % g.size:
        raise ValueError(f"reduce_scatter_tensor: dim 0 ({input.shape[0]}) is not divisible by the world size {g.size}")
    with _no_grad():
        red = input.clone()
        _inplace("all_reduce", red, reduce=op.value)
        n = input.shape[0] // g.size
        output.copy_(red[g.rank * n:(g.rank + 1) * n].reshape(tuple(output.shape)))
    return _Work() if async_op else None


def send(tensor, dst, group=None, tag=0):
    """Send `tensor` to rank `dst`."""
    g = _need()
    arr = tensor.contiguous()._host()
    _wait(g.comm.Isend(arr, dest=dst, tag=tag), f"send to rank {dst}")


def recv(tensor, src=None, group=None, tag=0):
    """Receive into `tensor` from rank `src` (any rank if None); returns the sender's rank."""
    from mpi4py import MPI
    g = _need()
    import numpy as np
    buf = np.empty(tuple(tensor.shape), dtype=tensor.dtype.np)
    status = MPI.Status()
    req = g.comm.Irecv(buf, source=MPI.ANY_SOURCE if src is None else src, tag=tag)
    deadline = time.monotonic() + g.timeout
    while not req.Test(status):
        if time.monotonic() > deadline:
            raise DistributedError(f"recv from rank {src} timed out after {g.timeout:.0f} s")
        time.sleep(1e-4)
    from .._creation import from_numpy
    with _no_grad():
        tensor.copy_(from_numpy(buf))
    return status.Get_source()


class _Work:
    """What async_op=True returns: the work already completed (pyrch waits eagerly)."""

    def wait(self, timeout=None):
        return True

    def is_completed(self):
        return True


def _no_grad():
    from ..autograd.grad_mode import no_grad
    return no_grad()

