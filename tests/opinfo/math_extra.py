"""Samples for ops/math_extra.py: logaddexp, fmax/fmin, heaviside, gcd/lcm, frexp, i0 and
the torch.special kernels, the nan-reductions, quantile, mode, logcumsumexp, histograms,
cov/corrcoef, dist, renorm, unravel_index and tensordot."""
import numpy as np

from . import OpInfo, Sample, add, positive
from .elementwise import _binary, _unary, _ints, _normal, _nz, _pos


def _sp(name):
    """Call torch.special.<name> / pyrch.special.<name>."""
    return lambda lib, *a, **k: getattr(lib.special, name)(*a, **k)


_NAN = np.nan
_INF = np.inf

# -- elementwise -------------------------------------------------------------------------------
_edges2 = lambda r: Sample((np.array([0.0, -_INF, _INF, 3.0, -_INF]),  # noqa: E731
                            np.array([0.0, -_INF, 1.0, _NAN, 2.0])), grad=False, note="edges")
add(OpInfo("logaddexp", lambda rng: _binary(_normal, _normal, scalar=None, ints=False)(rng) + [
    Sample((rng.standard_normal(4) * 50, rng.standard_normal(4) * 50), note="wide"), _edges2(rng),
    Sample((np.array([1, 2, 3]), rng.standard_normal(3)), note="int-float")]))
add(OpInfo("logaddexp2", lambda rng: _binary(_normal, _normal, scalar=None, ints=False)(rng)
           + [_edges2(rng)]))


def _fminmax(rng):
    a = rng.standard_normal((3, 4))
    b = a + np.where(rng.random((3, 4)) < 0.5, 0.3, -0.3)
    return [Sample((a, b)), Sample((rng.standard_normal((2, 3)), rng.standard_normal((3,))), note="bcast"),
            Sample((np.array([1.0, _NAN, _NAN, 2.0]), np.array([_NAN, 0.5, _NAN, 1.0])), grad=False,
                   note="nan"),
            Sample((np.array([1.0, 2.0]), np.array([1.0, 3.0])), grad=False, note="tie"),
            Sample((_ints(rng, (4,)), _ints(rng, (4,))), note="int"),
            Sample((_ints(rng, (4,)), rng.standard_normal(4)), note="int-float")]


add(OpInfo("fmax", _fminmax))
add(OpInfo("fmin", _fminmax))
add(OpInfo("heaviside", lambda rng: [
    Sample((np.array([-1.5, 0.0, 2.0, _NAN, -0.0]), np.array([0.25, 0.5, 0.75, 1.0, 2.0]))),
    Sample((np.array([[-1.0, 0.0], [0.0, 3.0]]), np.array(0.5)), note="0dim"),
    Sample((np.array([-2, 0, 3]), np.array([7, 7, 7])), note="int")], grad=False))
_gcd = lambda rng: [Sample((_ints(rng, (3, 4), -20, 20), _ints(rng, (3, 4), -20, 20))),  # noqa: E731
                    Sample((_ints(rng, (2, 3), 0, 30), _ints(rng, (3,), 1, 10)), note="bcast"),
                    Sample((np.array([0, 0, 5]), np.array([0, 4, 0])), note="zeros")]
add(OpInfo("gcd", _gcd, grad=False))
add(OpInfo("lcm", _gcd, grad=False))
add(OpInfo("nextafter", lambda rng: [
    Sample((rng.standard_normal((3, 4)), rng.standard_normal((3, 4)))),
    Sample((np.array([0.0, 1.0, -1.0, _INF]), np.array([1.0, 1.0, -2.0, 0.0])), grad=False, note="edges"),
    Sample((rng.standard_normal((2, 3)), np.array(0.0)), note="0dim")], gradgrad=False, atol=0))
add(OpInfo("float_power", lambda rng: [
    Sample((_pos(rng, (3, 4)), rng.standard_normal((3, 4)))),
    Sample((_pos(rng, (3,)), 2.5), note="scalar-exp"),
    Sample((2.0, rng.standard_normal((3,))), note="scalar-base"),
    Sample((_ints(rng, (4,), 1, 5), 2), note="int"),
    Sample((_pos(rng, (2, 3)), _ints(rng, (3,), 0, 3)), note="int-exp")]))
add(OpInfo("ldexp", lambda rng: [
    # NOTE: non-negative exponents: torch 2.13 gives a zero gradient where an integer exponent is
    # negative (it takes 2 ** other in integers); tests/test_math_extra.py checks that case
    Sample((rng.standard_normal((3, 4)), _ints(rng, (3, 4), 0, 5))),
    Sample((rng.standard_normal((2, 3)), rng.standard_normal((3,))), note="float-exp"),
    Sample((_ints(rng, (4,)), _ints(rng, (4,), -2, 3)), note="int")]))
add(OpInfo("frexp", lambda rng: [
    Sample((rng.standard_normal((3, 4)) * 10,)),
    Sample((np.array([0.0, -0.0, _INF, -_INF, _NAN, 1.0, 0.75]),), grad=False, note="edges"),
    Sample((np.array(3.0),), note="0dim")]))
_signs = lambda rng: [Sample((np.array([-1.0, 0.0, -0.0, _INF, -_INF, _NAN, 2.0]),)),  # noqa: E731
                      Sample((_ints(rng, (5,)),), note="int"),
                      Sample((np.array([True, False]),), note="bool"),
                      Sample((rng.standard_normal((2, 3)),), noncontig=True)]
add(OpInfo("signbit", _signs, grad=False))
add(OpInfo("isposinf", _signs, grad=False))
add(OpInfo("isneginf", _signs, grad=False))
add(OpInfo("isreal", _signs, grad=False))
# torch returns a ZeroTensor gradient the harness cannot read: test_math_extra.py checks it
add(OpInfo("sgn", _unary(_nz), grad=False))
add(OpInfo("deg2rad", _unary(lambda r, s: r.standard_normal(s) * 180)))
add(OpInfo("rad2deg", _unary(_normal)))

# -- special kernels -------------------------------------------------------------------------
_wide = lambda r, s: r.standard_normal(s) * 3  # noqa: E731
_ie = lambda r: Sample((np.array([0.0, -_INF, _INF, _NAN, 30.0, -1e-3]),), grad=False,  # noqa: E731
                       note="edges")
add(OpInfo("i0", _unary(_wide, extra=(_ie,)), rtol=1e-5))
add(OpInfo("special_i0e", _unary(_wide, extra=(_ie,)), call=_sp("i0e"), rtol=1e-5))
add(OpInfo("special_i1", _unary(_wide, extra=(_ie, lambda r: Sample((np.array([0.0, 1.0]),), note="zero"))),
           call=_sp("i1"), rtol=1e-5))
add(OpInfo("special_i1e", _unary(_wide, extra=(_ie, lambda r: Sample((np.array([0.0, 1.0]),), note="zero"))),
           call=_sp("i1e"), rtol=1e-5))
add(OpInfo("special_erfcx", _unary(_wide, extra=(
    lambda r: Sample((np.array([-30.0, 30.0, 1e4, _INF, -_INF, _NAN, 0.0]),), grad=False, note="edges"),)),
    call=_sp("erfcx"), rtol=1e-5))
add(OpInfo("special_ndtri", _unary(lambda r, s: r.uniform(0.05, 0.95, s), ints=False, extra=(
    lambda r: Sample((np.array([0.0, 1.0, -0.5, 1.5, _NAN, 1e-10]),), grad=False, note="edges"),)),
    call=_sp("ndtri"), rtol=1e-5))
add(OpInfo("special_log_ndtr", _unary(_wide, extra=(
    lambda r: Sample((np.array([-40.0, -10.0, 10.0, 40.0]),), note="tails"),
    lambda r: Sample((np.array([-_INF, _INF, _NAN]),), grad=False, note="inf"))),
    call=_sp("log_ndtr"), rtol=1e-5))
add(OpInfo("special_entr", _unary(_pos, extra=(
    lambda r: Sample((np.array([-1.0, 0.0, _NAN, _INF]),), grad=False, note="edges"),)),
    call=_sp("entr")))
add(OpInfo("special_xlog1py", lambda rng: _binary(_normal, lambda r, s: r.uniform(-0.5, 2.0, s),
                                                  scalar=1.5, ints=False)(rng) + [
    Sample((np.array([0.0, 1.0, 0.0, 2.0]), np.array([-1.0, 3.0, _NAN, -1.0])), grad=False, note="edges"),
    Sample((2.0, positive(rng, 3)), note="scalar-x"),
    Sample((_ints(rng, (3,)), _ints(rng, (3,), 0, 4)), note="int")], call=_sp("xlog1py")))
add(OpInfo("special_zeta", lambda rng: [
    Sample((2.5, positive(rng, 3, 4))),
    Sample((4.0, rng.uniform(0.5, 3.0, (5,))), note="s4"),
    Sample((np.array([2.0, 3.0, 1.5]), np.array([1.0, 2.0, 0.5])), grad=False, note="tensors"),
    Sample((np.array([1.0, 0.5, -2.0]), np.array([1.0, 2.0, 3.0])), grad=False, note="edges")],
    call=_sp("zeta"), rtol=1e-5))
add(OpInfo("special_ndtr", _unary(_wide, extra=(
    lambda r: Sample((np.array([-_INF, _INF, _NAN, -40.0]),), grad=False, note="edges"),)),
    call=_sp("ndtr")))
add(OpInfo("mvlgamma", lambda rng: [
    Sample((rng.uniform(1.6, 5.0, (3, 4)), 1), note="p1"),
    Sample((rng.uniform(1.6, 5.0, (3, 4)), 3), note="p3"),
    Sample((rng.uniform(1.6, 5.0, (5,)),), {"p": 2}, note="kw"),
    Sample((_ints(rng, (4,), 2, 6), 2), note="int")], rtol=1e-5))


# -- reductions -----------------------------------------------------------------------------------

def _with_nans(rng, shape, frac=0.3):
    x = rng.standard_normal(shape)
    return np.where(rng.random(shape) < frac, _NAN, x)


def _nan_reduce(rng, ints=True):
    out = [Sample((_with_nans(rng, (3, 4)),)),
           Sample((_with_nans(rng, (3, 4)), 1)),
           Sample((_with_nans(rng, (2, 3, 4)),), {"dim": (0, 2), "keepdim": True}, note="dims"),
           Sample((_with_nans(rng, (4, 3)),), {"dim": 0}, noncontig=True),
           Sample((rng.standard_normal(()),), note="0dim"),
           Sample((np.full((2, 3), _NAN),), {"dim": 1}, grad=False, note="allnan"),
           Sample((rng.standard_normal((3, 4)),), {"dim": -1, "dtype": "float64"}, note="dtype")]
    if ints:
        out.append(Sample((_ints(rng, (3, 4)),), {"dim": 0}, note="int"))
    return out


def _dtype_kw(lib, k):
    if isinstance(k.get("dtype"), str):
        k = dict(k, dtype=getattr(lib, k["dtype"]))
    return k


add(OpInfo("nansum", _nan_reduce, call=lambda lib, x, *a, **k: lib.nansum(x, *a, **_dtype_kw(lib, k))))
add(OpInfo("nanmean", lambda rng: _nan_reduce(rng, ints=False),
           call=lambda lib, x, *a, **k: x.nanmean(*a, **_dtype_kw(lib, k))))
add(OpInfo("nanmedian", lambda rng: [
    Sample((_with_nans(rng, (3, 5)),), note="all"),
    Sample((_with_nans(rng, (4, 5)), 1)),
    Sample((_with_nans(rng, (2, 3, 4)),), {"dim": -2, "keepdim": True}, note="neg"),
    Sample((rng.standard_normal((4, 3)), 0), noncontig=True),
    Sample((rng.standard_normal(()), 0), note="0dim"),
    Sample((np.array([[_NAN, _NAN, _NAN], [1.0, _NAN, 0.0]]), 1), grad=False, note="allnan"),
    Sample((rng.permutation(12).reshape(3, 4).astype(np.int64), 1), note="int")]))


def _quantiles(rng):
    q2 = np.array([0.1, 0.3, 0.55, 0.9])
    out = [Sample((rng.standard_normal((3, 5)), 0.3)),
           Sample((rng.standard_normal((3, 5)), 0.7), {"dim": 1}),
           Sample((rng.standard_normal((2, 3, 4)), q2), {"dim": -2, "keepdim": True}, note="qvec"),
           Sample((rng.standard_normal((3, 4)), q2), {"keepdim": True}, note="qvec-all"),
           Sample((rng.standard_normal((4, 3)), 0.25), {"dim": 0}, noncontig=True),
           Sample((rng.standard_normal(()), 0.5), note="0dim"),
           Sample((rng.standard_normal(()), 0.5), {"dim": 0, "keepdim": True}, note="0dim-keep"),
           Sample((rng.standard_normal((3, 5)), np.array(0.4)), {"dim": 1}, note="q0dim"),
           Sample((_with_nans(rng, (4, 5), 0.25), q2), {"dim": 1}, note="nan", grad=False),
           Sample((rng.standard_normal((3, 5)), np.array([0.0, 1.0])), {"dim": 1}, grad=False, note="ends")]
    for interp in ("lower", "higher", "midpoint", "nearest"):
        out.append(Sample((rng.standard_normal((3, 6)), np.array([0.15, 0.55, 0.85])),
                          {"dim": 1, "interpolation": interp}, note=interp))
    return out


add(OpInfo("quantile", _quantiles))
add(OpInfo("nanquantile", _quantiles))


def _mode(rng):
    ints = rng.integers(0, 4, (3, 7)).astype(np.float64)
    return [Sample((ints,), note="last"), Sample((ints, 0), note="dim0"),
            Sample((rng.integers(0, 3, (2, 3, 5)).astype(np.float64),), {"dim": 1, "keepdim": True},
                   note="keep"),
            Sample((np.array([1.0, 2.0, 2.0, 1.0, 3.0]),), note="tie"),
            Sample((np.array(2.0),), note="0dim"),
            Sample((rng.integers(0, 3, (3, 6)),), note="int")]


# the mode jumps under any perturbation: its gradient is checked against torch in test_math_extra.py
add(OpInfo("mode", _mode, grad=False))
add(OpInfo("logcumsumexp", lambda rng: [
    Sample((rng.standard_normal((3, 4)), 1)),
    Sample((rng.standard_normal((2, 3, 4)) * 20, 0), note="wide"),
    Sample((rng.standard_normal((4, 3)), -1), noncontig=True),
    Sample((rng.standard_normal(()), 0), note="0dim"),
    Sample((np.array([-_INF, 0.0, _INF, 1.0]), 0), grad=False, note="inf")],
    call=lambda lib, x, d: lib.logcumsumexp(x, d)))


def _hist(rng):
    return [Sample((rng.standard_normal((50,)),), {"bins": 7}),
            Sample((rng.standard_normal((4, 5)),), {"bins": 5, "min": -1, "max": 1}, note="range"),
            Sample((np.array([1.0, 1.0]),), {"bins": 4}, note="flat"),
            Sample((np.array([]),), {"bins": 3}, note="empty")]


add(OpInfo("histc", _hist, covers=("_histogram",), grad=False, traced=False))


def _histogram(rng):
    return [Sample((rng.standard_normal((40,)), 6)),
            Sample((rng.standard_normal((3, 5)), 4), {"range": (-1.0, 2.0)}, note="range"),
            Sample((rng.standard_normal((30,)), np.array([-2.0, -0.5, 0.0, 0.3, 2.5])), note="edges"),
            Sample((rng.standard_normal((30,)), 5), {"weight": positive(rng, 30), "density": True},
                   note="weight-density"),
            Sample((np.array([1.0, 1.0, 1.0]), 2), note="flat")]


add(OpInfo("histogram", _histogram, grad=False, traced=False))


def _cov(rng):
    return [Sample((rng.standard_normal((3, 6)),)),
            Sample((rng.standard_normal((7,)),), note="1d"),
            Sample((rng.standard_normal((2, 5)),), {"correction": 0}, note="corr0"),
            Sample((rng.standard_normal((3, 5)),), {"fweights": _ints(rng, (5,), 1, 4)}, grad=False,
                   note="fw"),
            Sample((rng.standard_normal((3, 5)),), {"aweights": positive(rng, 5)}, grad=False, note="aw"),
            Sample((rng.standard_normal((3, 5)),), {"fweights": _ints(rng, (5,), 1, 4),
                                                    "aweights": positive(rng, 5), "correction": 2},
                   grad=False, note="both"),
            Sample((_ints(rng, (2, 5)),), note="int"),
            Sample((rng.standard_normal((4, 3)),), noncontig=True)]


# weighted samples skip the harness's gradient checks (it would not convert keyword weights);
# tests/test_math_extra.py compares those gradients with torch
add(OpInfo("cov", _cov))
add(OpInfo("corrcoef", lambda rng: [Sample((rng.standard_normal((3, 6)),)),
                                    Sample((rng.standard_normal((6,)),), note="1d"),
                                    Sample((_ints(rng, (2, 5)),), note="int")], rtol=1e-5))
add(OpInfo("dist", lambda rng: [
    Sample((rng.standard_normal((3, 4)), rng.standard_normal((3, 4)))),
    Sample((rng.standard_normal((3, 4)), rng.standard_normal((4,)), 1), note="p1"),
    Sample((rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), 3.5), note="p3.5"),
    Sample((rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), float("inf")), note="inf"),
    Sample((rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), 0), grad=False, note="p0")]))
add(OpInfo("renorm", lambda rng: [
    Sample((rng.standard_normal((3, 4)), 2, 0, 1.5)),
    Sample((rng.standard_normal((2, 3, 4)), 1, 1, 2.0), note="p1"),
    Sample((rng.standard_normal((4, 3)), 3, -1, 0.8), noncontig=True),
    Sample((rng.standard_normal((3, 4)) * 0.1, 2, 0, 5.0), note="under")], rtol=1e-5))
add(OpInfo("unravel_index", lambda rng: [
    Sample((rng.integers(-24, 24, (3, 4)), (2, 3, 4))),
    Sample((np.array(7), (3, 5)), note="0dim"),
    Sample((rng.integers(0, 10, (5,)), 10), note="intshape")], grad=False))
add(OpInfo("tensordot", lambda rng: [
    Sample((rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4, 5)))),
    Sample((rng.standard_normal((2, 3)), rng.standard_normal((3, 4))), {"dims": 1}, note="d1"),
    Sample((rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 2, 5))), {"dims": ([0, 2], [1, 0])},
           note="lists"),
    Sample((rng.standard_normal((2, 3)), rng.standard_normal((4,))), {"dims": 0}, note="outer"),
    Sample((rng.standard_normal((3, 4)), rng.standard_normal((4, 3))), {"dims": ([-1], [0])}, note="neg")]))
