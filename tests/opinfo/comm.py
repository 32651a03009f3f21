"""Collective ops. They need a process group, so their real checks run as
2-rank MPI jobs in tests/test_distributed.py; here they run only when a
process group is already initialised (never inside plain pytest)."""
import pytest

from . import OpInfo, Sample, add


def _collective(name, **attrs):
    def call(lib, x):
        import pyrch.distributed as dist
        if lib.__name__ != "pyrch" or not dist.is_initialized():
            pytest.skip("collectives run on real ranks in tests/test_distributed.py")
        from pyrch.ops.registry import OPS
        return OPS[name](x, **attrs)
    return call


for _name, _attrs in (("all_reduce", {"reduce": "sum"}), ("broadcast", {"src": 0}), ("all_gather", {})):
    add(OpInfo(_name, lambda rng: [Sample((rng.standard_normal((3,)),))], call=_collective(_name, **_attrs),
               torch_call=False, grad=False))
