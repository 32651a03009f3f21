"""Collective ops. They need a process group of real ranks, so their checks
run as 2-rank MPI jobs in tests/test_distributed.py (in_process=False keeps
them out of the in-process generated tests)."""
from . import OpInfo, Sample, add


def _collective(name, **attrs):
    def call(lib, x):
        from pyrch.ops.registry import OPS
        return OPS[name](x, **attrs)
    return call


for _name, _attrs in (("all_reduce", {"reduce": "sum"}), ("broadcast", {"src": 0}), ("all_gather", {})):
    add(OpInfo(_name, lambda rng: [Sample((rng.standard_normal((3,)),))], call=_collective(_name, **_attrs),
               torch_call=False, grad=False, in_process=False))
