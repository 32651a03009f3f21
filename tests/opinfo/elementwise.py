"""Samples for this op family (see tests/opinfo/__init__.py)."""
from . import OpInfo, Sample, add  # noqa: F401


def _binary(rng):
    return [
        Sample((rng.standard_normal((3, 4)), rng.standard_normal((3, 4)))),
        Sample((rng.standard_normal((2, 3, 4)), rng.standard_normal((4,))), note="broadcast"),
        Sample((rng.standard_normal((3, 1)), rng.standard_normal((1, 5))), note="both"),
        Sample((rng.standard_normal((4, 3)), rng.standard_normal((4, 3))), noncontig=True),
        Sample((rng.standard_normal(()), rng.standard_normal((2,))), note="0dim"),
        Sample((rng.standard_normal((0, 3)), rng.standard_normal((3,))), note="empty"),
        Sample((rng.standard_normal((3,)), 2.5), note="scalar"),
    ]


add(OpInfo("add", _binary))
add(OpInfo("sub", _binary))
add(OpInfo("mul", _binary))
add(OpInfo("div", lambda rng: [
    Sample((rng.standard_normal((3, 4)), rng.uniform(0.5, 2, (3, 4)))),
    Sample((rng.standard_normal((2, 3)), rng.uniform(0.5, 2, (3,))), note="broadcast"),
    Sample((rng.standard_normal((3,)), 2.5), note="scalar"),
]))
add(OpInfo("neg", lambda rng: [Sample((rng.standard_normal((3, 4)),)),
                               Sample((rng.standard_normal(()),), note="0dim")]))
add(OpInfo("exp", lambda rng: [Sample((rng.standard_normal((3, 4)),)),
                               Sample((rng.standard_normal((4, 3)),), noncontig=True)]))
