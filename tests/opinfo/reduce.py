"""Samples for this op family (see tests/opinfo/__init__.py).

Gradient samples avoid ties for max/min-like ops (random normals have none);
tie behaviour is checked against torch in tests/test_reduce_linalg.py.
"""
import numpy as np

from . import OpInfo, Sample, add, positive  # noqa: F401


def _lib_kwargs(lib, kwargs):
    """`dtype="float64"` in a sample names the dtype of whichever library runs it."""
    if "dtype" in kwargs and isinstance(kwargs["dtype"], str):
        kwargs = dict(kwargs, dtype=getattr(lib, kwargs["dtype"]))
    return kwargs


def _fn(name):
    return lambda lib, *a, **k: getattr(lib, name)(*a, **_lib_kwargs(lib, k))


def _method(name):
    return lambda lib, x, *a, **k: getattr(x, name)(*a, **_lib_kwargs(lib, k))


def _ints(rng, shape, low=-3, high=4):
    return rng.integers(low, high, size=shape).astype(np.int64)


def _common(rng, empty=True):
    """The dims every reduction should handle: all, one, negative, several, keepdim."""
    s = [
        Sample((rng.standard_normal((3, 4)),)),
        Sample((rng.standard_normal((3, 4)), 1)),
        Sample((rng.standard_normal((2, 3, 4)),), {"dim": -1, "keepdim": True}, note="neg"),
        Sample((rng.standard_normal((2, 3, 4)),), {"dim": (0, 2)}, note="dims"),
        Sample((rng.standard_normal((2, 3, 4)),), {"dim": [-1, 0], "keepdim": True}, note="list"),
        Sample((rng.standard_normal((4, 3)),), {"dim": 0}, noncontig=True),
        Sample((rng.standard_normal(()),), note="0dim"),
        Sample((rng.standard_normal(()),), {"dim": 0, "keepdim": True}, note="0dim-dim"),
    ]
    if empty:
        s.append(Sample((rng.standard_normal((0, 3)),), {"dim": 0}, note="empty"))
    return s


def _sum(rng):
    return _common(rng) + [
        Sample((_ints(rng, (3, 4)), 0), note="int"),
        Sample((rng.standard_normal((3, 4)) > 0,), note="bool"),
        Sample((rng.standard_normal((3, 4)),), {"dim": 1, "dtype": "float64"}, note="dtype"),
        Sample((_ints(rng, (3, 4)),), {"dtype": "int32"}, note="int-dtype"),
        Sample((rng.standard_normal((2, 3)),), {"dim": ()}, note="emptydims"),
    ]


def _mean(rng):
    return _common(rng) + [
        Sample((_ints(rng, (3, 4)),), {"dim": 0, "dtype": "float32"}, note="int-dtype"),
    ]


def _prod(rng):
    one_zero = rng.uniform(0.5, 1.5, (3, 4)) * rng.choice([-1, 1], (3, 4))
    one_zero[1, 2] = 0.0
    return [
        Sample((positive(rng, 3, 4),)),
        Sample((positive(rng, 3, 4) * rng.choice([-1, 1], (3, 4)), 1)),
        Sample((positive(rng, 2, 3, 4),), {"dim": -2, "keepdim": True}, note="neg"),
        Sample((positive(rng, 4, 3),), {"dim": 0}, noncontig=True),
        Sample((rng.standard_normal(()),), note="0dim"),
        Sample((rng.standard_normal((0, 3)),), {"dim": 0}, note="empty"),
        Sample((one_zero, 1), note="zero"),
        Sample((one_zero,), note="zero-all"),
        Sample((_ints(rng, (3, 4)), 1), note="int"),
        Sample((positive(rng, 3, 4),), {"dim": 0, "dtype": "float64"}, note="dtype"),
    ]


def _extreme(rng):
    return _common(rng, empty=False) + [
        Sample((rng.standard_normal((0, 3)),), {"dim": 1}, note="empty"),
        Sample((_ints(rng, (3, 4), -50, 50), 1), note="int"),
    ]


def _max(rng):
    return [
        Sample((rng.standard_normal((3, 4)),), note="all"),
        Sample((rng.standard_normal((3, 4)), 1)),
        Sample((rng.standard_normal((2, 3, 4)),), {"dim": -2, "keepdim": True}, note="neg"),
        Sample((rng.standard_normal((4, 3)), 0), noncontig=True),
        Sample((rng.standard_normal(()),), note="0dim"),
        Sample((rng.standard_normal(()), 0), note="0dim-dim"),
        Sample((rng.standard_normal((0, 3)), 1), note="empty"),
        Sample((_ints(rng, (3, 4), -50, 50), 0), note="int"),
        Sample((rng.standard_normal((3, 4)), rng.standard_normal((4,))), note="binary",
               grad=False),
    ]


def _arg(rng):
    return [
        Sample((rng.standard_normal((3, 4)),)),
        Sample((rng.standard_normal((3, 4)), 1)),
        Sample((rng.standard_normal((2, 3, 4)),), {"dim": -1, "keepdim": True}, note="neg"),
        Sample((rng.standard_normal((3, 4)),), {"keepdim": True}, note="keep-all"),
        Sample((rng.standard_normal((4, 3)), 0), noncontig=True),
        Sample((rng.standard_normal(()),), note="0dim"),
        Sample((rng.standard_normal((0, 3)), 1), note="empty"),
        Sample((_ints(rng, (3, 4), -50, 50), 0), note="int"),
    ]


def _var(rng):
    return [
        Sample((rng.standard_normal((3, 4)),)),
        Sample((rng.standard_normal((3, 4)), 1)),
        Sample((rng.standard_normal((2, 3, 4)),), {"dim": (0, -1), "keepdim": True}, note="dims"),
        Sample((rng.standard_normal((3, 4)),), {"dim": 0, "correction": 0}, note="corr0"),
        Sample((rng.standard_normal((3, 4)),), {"dim": 1, "unbiased": False}, note="biased"),
        Sample((rng.standard_normal((3, 4)), False), note="pos-unbiased"),
        Sample((rng.standard_normal((3, 4)), 1, True, True), note="positional"),
        Sample((rng.standard_normal((2, 5)),), {"dim": 1, "correction": 2}, note="corr2"),
        Sample((rng.standard_normal((4, 3)),), {"dim": [0]}, noncontig=True),
        Sample((rng.standard_normal(()),), {"correction": 0}, note="0dim"),
    ]


def _var_mean(rng):
    return [
        Sample((rng.standard_normal((3, 4)),)),
        Sample((rng.standard_normal((3, 4)), 1)),
        Sample((rng.standard_normal((2, 3, 4)),), {"dim": (0, 2), "keepdim": True,
                                                   "correction": 0}, note="dims"),
    ]


def _logsumexp(rng):
    big = rng.standard_normal((3, 4)) * 10 + 500
    return [
        Sample((rng.standard_normal((3, 4)), 1)),
        Sample((rng.standard_normal((2, 3, 4)), (0, 2)), note="dims"),
        Sample((rng.standard_normal((2, 3, 4)),), {"dim": -1, "keepdim": True}, note="neg"),
        Sample((big, 1), note="large"),
        Sample((-big, 0), note="very-negative"),
        Sample((rng.standard_normal((4, 3)), 0), noncontig=True),
        Sample((rng.standard_normal(()), 0), note="0dim"),
        Sample((rng.standard_normal((0, 3)), 0), note="empty"),
        Sample((_ints(rng, (3, 4)), 1), note="int"),
    ]


def _norm(rng):
    return [
        Sample((rng.standard_normal((3, 4)),)),
        Sample((rng.standard_normal((3, 4)),), {"dim": 1}),
        Sample((rng.standard_normal((3, 4)),), {"p": 1, "dim": -1, "keepdim": True}, note="p1"),
        Sample((rng.standard_normal((3, 4)),), {"p": float("inf"), "dim": 0}, note="inf"),
        Sample((rng.standard_normal((3, 4)),), {"p": float("-inf")}, note="-inf"),
        Sample((rng.standard_normal((3, 4)),), {"p": 3, "dim": 1}, note="p3"),
        Sample((positive(rng, 3, 4),), {"p": 0.5, "dim": 1}, note="p0.5"),
        Sample((rng.standard_normal((3, 4)),), {"p": 0, "dim": 1}, note="p0"),
        Sample((rng.standard_normal((2, 3, 4)),), {"p": "fro", "dim": (1, 2)}, note="fro"),
        Sample((rng.standard_normal((4, 3)),), {"dim": 0}, noncontig=True),
        Sample((rng.standard_normal(()),), note="0dim"),
        Sample((rng.standard_normal((0, 3)),), {"dim": 0}, note="empty"),
        Sample((rng.standard_normal((3, 4)),), {"dtype": "float64"}, note="dtype"),
    ]


def _logical(rng):
    x = rng.standard_normal((3, 4))
    x[0, 1] = 0.0
    return [
        Sample((x,)),
        Sample((x, 1)),
        Sample((x > 0,), {"dim": 0, "keepdim": True}, note="bool"),
        Sample((_ints(rng, (2, 3, 4), 0, 2),), {"dim": (0, -1)}, note="int"),
        Sample(((_ints(rng, (3, 4), 0, 3)).astype(np.uint8), 1), note="uint8"),
        Sample((x,), {"dim": 1}, noncontig=True),
        Sample((rng.standard_normal(()),), note="0dim"),
        Sample((np.zeros((0, 3)),), {"dim": 0}, note="empty"),
    ]


def _count_nonzero(rng):
    x = _ints(rng, (2, 3, 4), -1, 2)
    return [
        Sample((x,)),
        Sample((x, 1)),
        Sample((x,), {"dim": (0, -1)}, note="dims"),
        Sample((rng.standard_normal((3, 4)) > 0, 0), note="bool"),
        Sample((np.zeros((0, 3)),), {"dim": 0}, note="empty"),
    ]


def _scan(rng):
    return [
        Sample((rng.standard_normal((3, 4)), 1)),
        Sample((rng.standard_normal((2, 3, 4)), -2), note="neg"),
        Sample((rng.standard_normal((4, 3)), 0), noncontig=True),
        Sample((rng.standard_normal(()), 0), note="0dim"),
        Sample((rng.standard_normal((0, 3)), 1), note="empty"),
        Sample((_ints(rng, (3, 4)), 1), note="int"),
        Sample((rng.standard_normal((3, 4)) > 0, 0), note="bool"),
    ]


def _cumsum(rng):
    return _scan(rng) + [
        Sample((rng.standard_normal((3, 4)), 1), {"dtype": "float64"}, note="dtype"),
    ]


def _cumprod(rng):
    zeros = rng.uniform(0.5, 1.5, (3, 5)) * rng.choice([-1, 1], (3, 5))
    zeros[0, 1] = zeros[1, 4] = zeros[2, 0] = 0.0   # one per row: see test_reduce_linalg
    return _scan(rng) + [
        Sample((zeros, 1), note="zeros"),
        Sample((positive(rng, 3, 4), 1), {"dtype": "float64"}, note="dtype"),
    ]


add(OpInfo("sum", _sum, call=_fn("sum")))
add(OpInfo("mean", _mean, call=_fn("mean")))
add(OpInfo("prod", _prod, call=_fn("prod")))
add(OpInfo("amax", _extreme, call=_fn("amax")))
add(OpInfo("amin", _extreme, call=_fn("amin")))
add(OpInfo("max", _max, call=_fn("max"), covers=("amax",)))
add(OpInfo("min", _max, call=_method("min"), covers=("amin",)))
add(OpInfo("argmax", _arg, grad=False))
add(OpInfo("argmin", _arg, call=_method("argmin"), grad=False))
add(OpInfo("var", _var))
add(OpInfo("std", _var, call=_method("std")))
add(OpInfo("var_mean", _var_mean, covers=("var", "mean")))
add(OpInfo("std_mean", _var_mean, covers=("std", "mean")))
add(OpInfo("logsumexp", _logsumexp))
add(OpInfo("norm", _norm, call=_fn("norm")))
add(OpInfo("all", _logical, grad=False))
add(OpInfo("any", _logical, call=_method("any"), grad=False))
add(OpInfo("count_nonzero", _count_nonzero, grad=False))
add(OpInfo("cumsum", _cumsum, call=_fn("cumsum")))
add(OpInfo("cumprod", _cumprod, call=_method("cumprod")))
add(OpInfo("cummax", _scan))
add(OpInfo("cummin", _scan, call=_method("cummin")))


def _median(rng):
    return [
        Sample((rng.standard_normal((3, 4)),), note="all"),
        Sample((rng.standard_normal((3, 5)),), note="all-odd"),
        Sample((rng.standard_normal((3, 4)), 1)),
        Sample((rng.standard_normal((2, 3, 4)),), {"dim": -2, "keepdim": True}, note="neg"),
        Sample((rng.standard_normal((4, 3)), 0), noncontig=True),
        Sample((rng.standard_normal(()),), note="0dim"),
        Sample((rng.standard_normal(()), 0), note="0dim-dim"),
        Sample((rng.standard_normal((0, 3)), 1), note="empty"),
        Sample((rng.permutation(12).reshape(3, 4).astype(np.int64), 1), note="int"),
        Sample((np.array([1.0, np.nan, 0.0, np.nan, 2.0]), 0), note="nan", grad=False),
    ]


def _aminmax(rng):
    return [
        Sample((rng.standard_normal((3, 4)),), note="all"),
        Sample((rng.standard_normal((3, 4)),), {"keepdim": True}, note="all-keep"),
        Sample((rng.standard_normal((3, 4)),), {"dim": 1}),
        Sample((rng.standard_normal((2, 3, 4)),), {"dim": -2, "keepdim": True}, note="neg"),
        Sample((rng.standard_normal((4, 3)),), {"dim": 0}, noncontig=True),
        Sample((rng.standard_normal(()),), note="0dim"),
        Sample((rng.standard_normal((0, 3)),), {"dim": 1}, note="empty"),
        Sample((_ints(rng, (3, 4), -50, 50),), {"dim": 0}, note="int"),
    ]


def _bincount(rng):
    return [
        Sample((_ints(rng, (10,), 0, 5),)),
        Sample((_ints(rng, (10,), 0, 5),), {"minlength": 8}, note="minlength"),
        Sample((_ints(rng, (6,), 0, 4), rng.standard_normal((6,))), note="weights"),
        Sample((_ints(rng, (6,), 0, 4),), {"weights": _ints(rng, (6,))}, note="int-weights"),
        Sample((_ints(rng, (0,), 0, 4),), note="empty"),
        Sample((_ints(rng, (0,), 0, 4),), {"minlength": 3}, note="empty-min"),
    ]


add(OpInfo("median", _median))
add(OpInfo("aminmax", _aminmax, call=_method("aminmax")))
add(OpInfo("bincount", _bincount, grad=False, traced=False))   # size depends on the data
