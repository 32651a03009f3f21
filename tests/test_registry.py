"""Contract tests: every op has samples; declarations are well formed."""
import inspect

import pyrch
from pyrch.ops.registry import OPS, COMPOSITES
from opinfo import SAMPLES


def _covered():
    names = set(SAMPLES)
    for info in SAMPLES.values():
        names.update(info.covers)
    return names


def test_every_op_has_samples():
    missing = sorted((set(OPS) | set(COMPOSITES)) - _covered())
    assert not missing, f"ops without OpInfo samples in tests/opinfo/: {missing}"


def test_samples_name_real_ops():
    unknown = sorted(_covered() - set(OPS) - set(COMPOSITES))
    assert not unknown, f"OpInfo entries for ops that are not registered: {unknown}"


def test_differentiable_ops_have_backward():
    missing = [n for n, o in OPS.items() if o.differentiable and o.bwd is None]
    assert not missing, f"differentiable ops without a backward rule: {missing}"


def test_cexpr_only_on_elementwise():
    bad = [n for n, o in OPS.items() if o.cexpr and o.kind != "elementwise"]
    assert not bad


def test_attrs_are_keyword_only_and_hashable_defaults():
    for name, o in OPS.items():
        for a, default in o.attrs.items():
            hash(default)


def test_public_functions_exist():
    for name, o in OPS.items():
        assert hasattr(pyrch, name), name
    for name in COMPOSITES:
        assert hasattr(pyrch, name), name
