"""Samples for this op family (see tests/opinfo/__init__.py)."""
from . import OpInfo, Sample, add  # noqa: F401


def _sum(rng):
    return [
        Sample((rng.standard_normal((3, 4)),)),
        Sample((rng.standard_normal((3, 4)), 1)),
        Sample((rng.standard_normal((2, 3, 4)),), {"dim": (0, 2), "keepdim": True}),
        Sample((rng.standard_normal((4, 3)),), {"dim": -1}, noncontig=True),
        Sample((rng.standard_normal(()),), note="0dim"),
        Sample((rng.standard_normal((0, 3)),), {"dim": 0}, note="empty"),
    ]


add(OpInfo("sum", _sum))
