"""DistributedDataParallel: replicate a module on every rank, average its grads.

At construction, parameters and buffers are broadcast from rank 0. During
backward, gradients are grouped in size-capped buckets (in reverse
registration order, roughly the order backward produces them); when the last
gradient of a bucket arrives, its all-reduce starts without blocking, so
communication overlaps the rest of backward, and the engine's end-of-backward
callback waits for every bucket and writes the averages into `.grad`.
Under a tracer the same reduction runs as `all_reduce` ops at the end of
backward, so a traced training step records and replays it.
"""
import contextlib

import numpy as np

from . import _need, _wait, get_world_size, broadcast
from .._dispatch import state


class DistributedDataParallel:
    """Wrap `module` so that backward averages gradients across ranks (torch's DDP)."""

    def __new__(cls, *args, **kwargs):
        from ..nn import Module
        # subclass nn.Module lazily (pyrch.nn imports nothing from here)
        if not issubclass(cls, Module):
            cls = type("DistributedDataParallel", (cls, Module), {})
            globals()["DistributedDataParallel"] = cls
        return object.__new__(cls)

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=25, find_unused_parameters=False,
                 gradient_as_bucket_view=False, static_graph=False):
        from ..nn import Module
        Module.__init__(self)
        _need()
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self._sync = True
        from ..autograd.grad_mode import no_grad
        with no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                broadcast(t, 0)
        params = [p for p in module.parameters() if p.requires_grad]
        cap = int(bucket_cap_mb * 1024 * 1024)
        buckets, cur, size = [], [], 0
        for p in reversed(params):
            nbytes = p.numel() * p.element_size()
            if cur and size + nbytes > cap:
                buckets.append(cur)
                cur, size = [], 0
            cur.append(p)
            size += nbytes
        if cur:
            buckets.append(cur)
        self._buckets = buckets
        self._bucket_of = {id(p): i for i, b in enumerate(buckets) for p in b}
        self._reset()
        for p in params:
            p.register_hook(self._hook_for(p))

    def _reset(self):
        self._seen = [set() for _ in self._buckets]
        self._inflight = {}        # bucket -> (request, send buffer, receive buffer)
        self._dirty = set()
        self._queued = False

    def _hook_for(self, p):
        pid, b = id(p), self._bucket_of[id(p)]

        def hook(g):
            if not self._sync:
                return g
            from ..autograd import engine
            if not self._queued:
                engine.queue_callback(self._finish)
                self._queued = True
            if b in self._inflight:
                self._dirty.add(b)          # a second contribution after launch: redo at the end
            self._seen[b].add(pid)
            if state.tracer is None and len(self._seen[b]) == len(self._buckets[b]) and b not in self._dirty:
                self._launch(b, pending=(p, g))
            return g
        return hook

    def _flat(self, b, pending=None):
        parts = []
        for p in self._buckets[b]:
            g = p.grad
            if pending is not None and p is pending[0]:
                g = pending[1] if g is None else g + pending[1]
            arr = np.zeros(p.shape, p.dtype.np) if g is None else g.detach()._host()
            parts.append(np.ascontiguousarray(arr, dtype=self._buckets[b][0].dtype.np).reshape(-1))
        return np.concatenate(parts) if parts else np.zeros(0)

    def _launch(self, b, pending):
        from mpi4py import MPI
        send = self._flat(b, pending)
        recv = np.empty_like(send)
        req = _need().comm.Iallreduce(send, recv, op=MPI.SUM)
        self._inflight[b] = (req, send, recv)

    def _finish(self):
        from .. import from_numpy, zeros_like
        from ..autograd.grad_mode import no_grad
        from ..ops.registry import OPS
        from .._dispatch import dispatch
        n = get_world_size()
        try:
            with no_grad():
                for b, params in enumerate(self._buckets):
                    if not self._seen[b]:
                        continue
                    for p in params:
                        if p.grad is None:
                            p.grad = zeros_like(p)
                    if b in self._inflight and b not in self._dirty:
                        req, _, recv = self._inflight[b]
                        _wait(req, "DDP gradient all_reduce")
                        flat = from_numpy(recv)
                        off = 0
                        for p in params:
                            k = p.numel()
                            p.grad.copy_(flat[off:off + k].reshape(tuple(p.shape)) / n)
                            off += k
                    else:
                        # traced (or irregular) path: one all_reduce op per bucket, recorded by the tracer
                        from .. import cat
                        flat = cat([p.grad.reshape(-1) for p in params])
                        red = dispatch(OPS["all_reduce"], (flat,), {"reduce": "avg"})
                        off = 0
                        for p in params:
                            k = p.numel()
                            p.grad.copy_(red[off:off + k].reshape(tuple(p.shape)))
                            off += k
        finally:
            self._reset()

    @contextlib.contextmanager
    def no_sync(self):
        """Accumulate gradients locally; the next synced backward reduces the sum."""
        old = self._sync
        self._sync = False
        try:
            yield
        finally:
            self._sync = old

    def forward(self, *args, **kwargs):
        if self.broadcast_buffers and self.training:
            from ..autograd.grad_mode import no_grad
            with no_grad():
                for t in self.module.buffers():
                    broadcast(t, 0)
        return self.module(*args, **kwargs)
