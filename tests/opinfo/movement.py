"""Samples for this op family (see tests/opinfo/__init__.py)."""
from . import OpInfo, Sample, add  # noqa: F401


add(OpInfo("expand", lambda rng: [
    Sample((rng.standard_normal((3, 1)), 3, 4)),
    Sample((rng.standard_normal((4,)), 2, 3, 4)),
    Sample((rng.standard_normal((1, 4)), -1, 4), noncontig=True),
], call=lambda lib, x, *s: x.expand(*s)))
add(OpInfo("reshape", lambda rng: [
    Sample((rng.standard_normal((3, 4)), (2, 6))),
    Sample((rng.standard_normal((3, 4)), (-1,)), noncontig=True),
    Sample((rng.standard_normal(()), (1, 1))),
], call=lambda lib, x, s: x.reshape(s)))
add(OpInfo("permute", lambda rng: [
    Sample((rng.standard_normal((2, 3, 4)), (2, 0, 1))),
    Sample((rng.standard_normal((3, 4)), (1, 0)), noncontig=True),
], call=lambda lib, x, d: x.permute(*d)))
