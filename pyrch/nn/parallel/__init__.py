"""Data parallelism: `nn.parallel.DistributedDataParallel` (see pyrch.distributed)."""


def __getattr__(name):
    if name in ("DistributedDataParallel", "DDP"):
        from ...distributed.ddp import DistributedDataParallel
        return DistributedDataParallel
    raise AttributeError(name)
