"""Samples for the elementwise family (see tests/opinfo/__init__.py).

Values are kept inside each op's domain and away from its kinks; integer and
bool arrays pass through the harness unchanged, so they test dtype rules
(int64 + 1.5 is float32, int / int is float, // and % floor on ints).
"""
import numpy as np

from . import SAMPLES, OpInfo, Sample, add, away_from, positive


def _F(name):
    """torch_call for ops that torch keeps in torch.nn.functional."""
    return lambda lib, *a, **k: getattr(lib.nn.functional, name)(*a, **k)


def _ints(rng, shape, low=-5, high=6):
    return rng.integers(low, high, size=shape).astype(np.int64)


def _nonzero_ints(rng, shape):
    x = _ints(rng, shape, -4, 5)
    return np.where(x == 0, 3, x)


def _off_grid(rng, shape):
    """Values whose fractional part stays away from 0 and 0.5 (floor, round, ...)."""
    frac = np.where(rng.random(shape) < 0.5, rng.uniform(0.1, 0.4, shape), rng.uniform(0.6, 0.9, shape))
    return np.asarray(rng.integers(-4, 4, size=shape) + frac)


def _unary(gen, ints=True, extra=()):
    """Standard unary samples from gen(rng, shape): 2-d, non-contiguous, 0-dim, empty."""
    gen = _arrays(gen)

    def samples(rng):
        out = [Sample((gen(rng, (3, 4)),)),
               Sample((gen(rng, (4, 3)),), noncontig=True),
               Sample((gen(rng, ()),), note="0dim"),
               Sample((gen(rng, (0, 3)),), note="empty")]
        if ints:
            out.append(Sample((_ints(rng, (5,), 1, 4),), note="int"))
        return out + [s(rng) for s in extra]
    return samples


def _arrays(gen):
    """gen, returning arrays even for shape () (numpy turns 0-d results into scalars)."""
    return lambda rng, shape: np.asarray(gen(rng, shape), dtype=np.float64)


def _normal(rng, shape):
    return rng.standard_normal(shape)


def _pos(rng, shape):
    return positive(rng, *shape)


def _unit(rng, shape):
    return rng.uniform(-0.9, 0.9, shape)


def _nz(rng, shape):
    return away_from(rng, shape, (0.0,), 0.15)


def _binary(a_gen=_normal, b_gen=_normal, scalar=2.5, ints=True):
    a_gen, b_gen = _arrays(a_gen), _arrays(b_gen)

    def samples(rng):
        out = [
            Sample((a_gen(rng, (3, 4)), b_gen(rng, (3, 4)))),
            Sample((a_gen(rng, (2, 3, 4)), b_gen(rng, (4,))), note="broadcast"),
            Sample((a_gen(rng, (3, 1)), b_gen(rng, (1, 5))), note="both"),
            Sample((a_gen(rng, (4, 3)), b_gen(rng, (4, 3))), noncontig=True),
            Sample((a_gen(rng, ()), b_gen(rng, (2,))), note="0dim"),
            Sample((a_gen(rng, (0, 3)), b_gen(rng, (3,))), note="empty"),
        ]
        if scalar is not None:
            out.append(Sample((a_gen(rng, (3,)), scalar), note="scalar"))
        if ints:
            out += [Sample((_nonzero_ints(rng, (4,)), _nonzero_ints(rng, (4,))), note="int"),
                    Sample((_nonzero_ints(rng, (4,)), b_gen(rng, (4,))), note="int-float")]
            if scalar is not None:
                out.append(Sample((_nonzero_ints(rng, (4,)), 1.5), note="int-float-scalar"))
        return out
    return samples


# -- arithmetic --------------------------------------------------------------------------

def _add_sub(rng, bools=True):
    return _binary()(rng) + [Sample((np.array([True, False]), np.array([True, True])), note="bool")] * bools + [Sample((rng.standard_normal((3,)), rng.standard_normal((3,))),
                                    {"alpha": 2.5}, note="alpha"),
                             Sample((_ints(rng, (3,)), _ints(rng, (3,))), {"alpha": 3}, note="int-alpha")]


add(OpInfo("add", _add_sub))
add(OpInfo("sub", lambda rng: _add_sub(rng, bools=False)))
add(OpInfo("mul", _binary()))
add(OpInfo("div", lambda rng: _binary(b_gen=_nz)(rng) + [
    Sample((np.array([5, -5, 7, -7]), np.array([2, 2, -2, -2])), {"rounding_mode": "trunc"}, note="int-trunc"),
    Sample((np.array([5, -5, 7, -7]), np.array([2, 2, -2, -2])), {"rounding_mode": "floor"}, note="int-floor"),
    Sample((_off_grid(rng, (4,)), np.array([1.0, -1.0, 1.0, -1.0])), {"rounding_mode": "trunc"}, note="trunc"),
    Sample((_off_grid(rng, (4,)), 1.0), {"rounding_mode": "floor"}, note="floor"),
]))
# NOTE: torch raises on floor_divide's backward, so gradients are not compared
add(OpInfo("floor_divide", lambda rng: _binary(_off_grid, lambda r, s: np.full(s, 1.0))(rng)[:6] + [
    Sample((np.array([5, -5, 7, -7]), np.array([3, 3, -3, -3])), note="int"),
    Sample((_off_grid(rng, (4,)), 1.0), note="scalar"),
], grad=False))
add(OpInfo("remainder", lambda rng: [
    Sample((_off_grid(rng, (3, 4)), np.array([1.0, -1.0, 2.0, -2.0]) + 0.25)),
    Sample((_off_grid(rng, (4, 3)), np.full((4, 3), 1.25)), noncontig=True),
    Sample((_off_grid(rng, (4,)), 1.5), note="scalar"),
    Sample((np.array([5, -5, 7, -7]), np.array([3, -3, 3, -3])), note="int"),
]))
add(OpInfo("fmod", lambda rng: [
    Sample((_off_grid(rng, (3, 4)), np.array([1.0, -1.0, 2.0, -2.0]) + 0.25)),
    Sample((_off_grid(rng, (4,)), 1.5), note="scalar"),
    Sample((np.array([5, -5, 7, -7]), np.array([3, -3, 3, -3])), note="int"),
]))
add(OpInfo("pow", lambda rng: [
    Sample((positive(rng, 3, 4), rng.standard_normal((3, 4)))),
    Sample((positive(rng, 2, 3), rng.standard_normal((3,))), note="broadcast"),
    Sample((rng.standard_normal((4, 3)), 2), noncontig=True, note="square"),
    Sample((positive(rng, 4), 0.5), note="sqrt"),
    Sample((rng.standard_normal(()), 3), note="0dim"),
    Sample((2.5, rng.standard_normal((4,))), note="scalar-base"),
    Sample((_ints(rng, (4,)), 2), note="int"),
    Sample((_ints(rng, (4,), 1, 4), 2.5), note="int-float"),
    Sample((positive(rng, 0, 3), 2.0), note="empty"),
]))

# -- sign-like, min/max, clamp -------------------------------------------------------------

add(OpInfo("neg", _unary(_normal)))
add(OpInfo("positive", _unary(_normal)))
add(OpInfo("abs", _unary(_nz, extra=(lambda r: Sample((np.array([-3, 0, 2]),), note="int-neg"),))))
add(OpInfo("sign", _unary(_nz, extra=(lambda r: Sample((np.array([-3, 0, 2]),), note="int-neg"),
                                      lambda r: Sample((np.array([np.nan, -0.5]),), grad=False,
                                                       note="nan")))))
add(OpInfo("reciprocal", _unary(_nz)))
add(OpInfo("square", _unary(_normal)))


def _distinct(rng):
    a = rng.standard_normal((3, 4))
    return a, a + np.where(rng.random((3, 4)) < 0.5, -1, 1) * rng.uniform(0.2, 1.0, (3, 4))


def _minmax(rng):
    a, b = _distinct(rng)
    return [Sample((a, b)),
            Sample((rng.standard_normal((2, 3)), rng.standard_normal((3,)) + 3.0), note="broadcast"),
            Sample((a.T, b.T), noncontig=True),
            # ties: torch splits the gradient; checked in test_elementwise.py (a kink for gradgrad)
            Sample((np.array([1.0, 2.0, -1.0]), np.array([1.0, 0.0, -1.0])), grad=False, note="ties"),
            Sample((np.array([1.0, np.nan]), np.array([np.nan, 2.0])), grad=False, note="nan"),
            Sample((_ints(rng, (4,)), _ints(rng, (4,))), note="int")]


add(OpInfo("maximum", _minmax))
add(OpInfo("minimum", _minmax))


def _clamp(rng):
    x = away_from(rng, (3, 4), (-0.5, 0.5), 0.05)
    lo = np.full((4,), -0.5)
    return [Sample((x, -0.5, 0.5)),
            Sample((x.T.copy(), -0.5, 0.5), noncontig=True),
            Sample((x, lo, lo + 1.0), note="tensor-bounds"),
            Sample((x,), {"min": -0.5}, note="min-only"),
            Sample((x,), {"max": 0.5}, note="max-only"),
            Sample((x, None, lo), note="tensor-max-only"),
            Sample((np.array(2.0), -0.5, 0.5), note="0dim"),
            Sample((np.array([1, 5, -3]), 0, 2), note="int"),
            Sample((np.array([1, 5, -3]), 1.5), note="int-float"),
            Sample((away_from(rng, (4,), (0.5, 0.25), 0.05), 0.5, 0.25), note="min>max")]


add(OpInfo("clamp", _clamp))
add(OpInfo("clamp_min", lambda rng: [
    Sample((away_from(rng, (3, 4), (0.1,), 0.05), 0.1)),
    Sample((away_from(rng, (3, 4), (0.0,), 0.05), np.full((4,), 0.3) + 0.0 * rng.random(4)),
           note="tensor")]))
add(OpInfo("clamp_max", lambda rng: [
    Sample((away_from(rng, (3, 4), (0.1,), 0.05), 0.1)),
    Sample((away_from(rng, (2, 4), (0.0,), 0.05), np.full((2, 1), 0.3)), note="tensor")]))
add(OpInfo("hardtanh", lambda rng: [
    Sample((away_from(rng, (3, 4), (-1.0, 1.0), 0.05) * 1.5,)),
    Sample((away_from(rng, (4, 3), (0.0, 6.0), 0.1) * 4,), {"min_val": 0.0, "max_val": 6.0},
           noncontig=True, note="relu6"),
    Sample((np.array(0.5),), note="0dim"),
], torch_call=_F("hardtanh")))

# -- three-operand, two-operand float ------------------------------------------------------

add(OpInfo("lerp", lambda rng: [
    Sample((rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), 0.3)),
    Sample((rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), 0.8), note="large-weight"),
    Sample((rng.standard_normal((2, 3)), rng.standard_normal((3,)), rng.uniform(0, 1, (2, 1))),
           note="tensor-weight"),
    Sample((rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), rng.uniform(0, 1, (4, 3))),
           noncontig=True),
    Sample((rng.standard_normal(()), rng.standard_normal((2,)), 0.5), note="0dim"),
]))


def _where(rng):
    c = rng.random((3, 4)) < 0.5
    return [Sample((c, rng.standard_normal((3, 4)), rng.standard_normal((3, 4)))),
            Sample((c[:, :1], rng.standard_normal((3, 4)), rng.standard_normal((4,))), note="broadcast"),
            Sample((c, rng.standard_normal((3, 4)), 0.0), note="scalar"),
            Sample((c.T.copy(), rng.standard_normal((4, 3)), rng.standard_normal((4, 3))), noncontig=True),
            Sample((np.array(True), rng.standard_normal(()), rng.standard_normal((2,))), note="0dim"),
            Sample((c[:0], rng.standard_normal((0, 4)), 1.0), note="empty"),
            Sample((c, _ints(rng, (3, 4)), 2.5), note="int-float"),
            Sample((c, _ints(rng, (3, 4)), _ints(rng, (4,))), note="int")]


add(OpInfo("where", _where))
add(OpInfo("atan2", _binary(_nz, _nz, scalar=None)))
add(OpInfo("hypot", _binary(_nz, _nz, scalar=None, ints=False)))
add(OpInfo("copysign", _binary(_nz, _nz)))
add(OpInfo("xlogy", lambda rng: _binary(_normal, _pos, scalar=1.5, ints=False)(rng) + [
    Sample((np.array([0.0, 1.0, 0.0]), np.array([2.0, 3.0, 0.5])), note="zeros"),
    Sample((2.0, positive(rng, 3)), note="scalar-x"),
    Sample((_ints(rng, (3,)), _ints(rng, (3,), 1, 4)), note="int"),
]))

# -- unary math -----------------------------------------------------------------------------

add(OpInfo("exp", _unary(_normal)))
add(OpInfo("exp2", _unary(_normal)))
add(OpInfo("log", _unary(_pos)))
add(OpInfo("log2", _unary(_pos)))
add(OpInfo("log10", _unary(_pos)))
add(OpInfo("log1p", _unary(lambda r, s: r.uniform(-0.5, 2.0, s))))
add(OpInfo("expm1", _unary(_normal)))
add(OpInfo("sqrt", _unary(_pos)))
add(OpInfo("rsqrt", _unary(_pos)))
add(OpInfo("sin", _unary(_normal)))
add(OpInfo("cos", _unary(_normal)))
add(OpInfo("tan", _unary(lambda r, s: r.uniform(-1.2, 1.2, s), ints=False)))
add(OpInfo("asin", _unary(_unit, ints=False)))
add(OpInfo("acos", _unary(_unit, ints=False)))
add(OpInfo("atan", _unary(_normal)))
add(OpInfo("sinh", _unary(_normal)))
add(OpInfo("cosh", _unary(_normal)))
add(OpInfo("tanh", _unary(_normal)))
add(OpInfo("asinh", _unary(_normal)))
add(OpInfo("acosh", _unary(lambda r, s: r.uniform(1.3, 3.0, s))))
add(OpInfo("atanh", _unary(_unit, ints=False)))
add(OpInfo("sinc", _unary(_nz, extra=(lambda r: Sample((np.array([0.0, 1.0, -2.5]),), grad=False,
                                                       note="zero"),))))
add(OpInfo("sigmoid", _unary(lambda r, s: r.standard_normal(s) * 3)))
add(OpInfo("erf", _unary(_normal)))
add(OpInfo("erfc", _unary(_normal)))
add(OpInfo("erfinv", _unary(_unit, ints=False)))
add(OpInfo("logit", lambda rng: _unary(lambda r, s: r.uniform(0.1, 0.9, s), ints=False)(rng) + [
    Sample((np.array([0.05, 0.1, 0.5, 0.85, 0.95]),), {"eps": 0.2}, note="eps"),
    Sample((np.array([0.05, 0.5, 0.95]), 0.2), note="eps-positional")]))
add(OpInfo("floor", _unary(_off_grid)))
add(OpInfo("ceil", _unary(_off_grid)))
add(OpInfo("trunc", _unary(_off_grid)))
add(OpInfo("round", _unary(_off_grid, extra=(
    lambda r: Sample((np.array([0.5, 1.5, 2.5, -0.5, -1.5]),), grad=False, note="half-even"),
    lambda r: Sample((np.array([1.2345, -2.3456, 0.1234]) + 0.0002,), {"decimals": 2}, note="decimals"),
    lambda r: Sample((np.array([1234.0, -2345.0, 160.0]) + 3.0,), {"decimals": -2}, note="neg-decimals")))))
add(OpInfo("frac", _unary(_off_grid, ints=False)))


def _special_values(rng):
    return [Sample((np.array([1.0, np.nan, np.inf, -np.inf, 0.0]),)),
            Sample((rng.standard_normal((2, 3)),), noncontig=True),
            Sample((_ints(rng, (3,)),), note="int"),
            Sample((np.zeros((0,)),), note="empty")]


add(OpInfo("isnan", _special_values))
add(OpInfo("isinf", _special_values))
add(OpInfo("isfinite", _special_values))
def _close_pairs(rng):
    a = rng.standard_normal((3, 4))
    b = a + rng.choice([0.0, 1e-9, 1e-3, 1.0], size=a.shape)
    sp = np.array([1.0, np.nan, np.inf, -np.inf, np.inf, 0.0])
    return [Sample((a, b)), Sample((a, b), {"rtol": 1e-2, "atol": 0.0}, note="tol"),
            Sample((sp, np.array([1.0 + 1e-7, np.nan, np.inf, np.inf, 1.0, 1e-9])), note="special"),
            Sample((sp, sp), {"equal_nan": True}, note="equal_nan"),
            Sample((_ints(rng, (3,)), _ints(rng, (3,))), note="int")]


add(OpInfo("isclose", _close_pairs, grad=False))
add(OpInfo("allclose", _close_pairs, grad=False, traced=False))
add(OpInfo("equal", lambda rng: [
    Sample((np.array([1.0, 2.0]), np.array([1.0, 2.0]))), Sample((np.array([1.0, 2.0]), np.array([1.0, 3.0])))],
    grad=False, traced=False))
add(OpInfo("nan_to_num", lambda rng: [
    Sample((rng.standard_normal((3, 4)),)),
    Sample((np.array([1.0, np.nan, np.inf, -np.inf]),), grad=False, note="special"),
    Sample((np.array([1.0, np.nan, np.inf, -np.inf]),), {"nan": 2.0, "posinf": 9.0, "neginf": -9.0},
           grad=False, note="values"),
    Sample((_ints(rng, (3,)),), note="int")]))

# -- activations ------------------------------------------------------------------------------

_relu_like = _unary(lambda r, s: away_from(r, s, (0.0,), 0.1))
add(OpInfo("relu", _relu_like))
add(OpInfo("relu_backward", lambda rng: [
    Sample((rng.standard_normal((3, 4)), away_from(rng, (3, 4), (0.0,), 0.1))),
    Sample((rng.standard_normal((40, 30)), away_from(rng, (40, 30), (0.0,), 0.1)),
           noncontig=True, note="C"),
    Sample((rng.standard_normal((2, 3, 4)), away_from(rng, (4,), (0.0,), 0.1)), note="broadcast"),
    Sample((np.array([np.inf, np.nan, 1.0, 2.0, 5.0]), np.array([-1.0, 0.0, 0.0, 3.0, np.nan])),
           grad=False, note="nonfinite g where out <= 0, NaN out"),
    Sample((rng.standard_normal(()), np.array(1.5)), note="0dim")],
    torch_call=lambda lib, g, out: lib.ops.aten.threshold_backward(
        *lib.broadcast_tensors(g, out), 0)))
add(OpInfo("gelu", lambda rng: _unary(_normal, ints=False)(rng) + [
    Sample((rng.standard_normal((3, 4)),), {"approximate": "tanh"}, note="tanh")],
    torch_call=_F("gelu")))
add(OpInfo("gelu_backward", lambda rng: [
    Sample((rng.standard_normal((3, 4)), rng.standard_normal((3, 4)) * 2)),
    Sample((rng.standard_normal((4, 3)), rng.standard_normal((4, 3)) * 2), noncontig=True),
    Sample((rng.standard_normal((2, 3, 4)), rng.standard_normal((4,))), note="broadcast"),
    Sample((rng.standard_normal(()), rng.standard_normal(())), note="0dim")],
    torch_call=lambda lib, g, a: lib.ops.aten.gelu_backward(*lib.broadcast_tensors(g, a))))
add(OpInfo("silu", _unary(lambda r, s: r.standard_normal(s) * 3, ints=False), torch_call=_F("silu")))
add(OpInfo("mish", _unary(lambda r, s: r.standard_normal(s) * 3, ints=False), torch_call=_F("mish")))
add(OpInfo("softplus", lambda rng: _unary(lambda r, s: r.standard_normal(s) * 3, ints=False)(rng) + [
    Sample((away_from(rng, (3, 4), (0.5,), 0.1),), {"beta": 2.0, "threshold": 1.0}, note="threshold")],
    torch_call=_F("softplus")))
add(OpInfo("elu", lambda rng: _unary(_nz, ints=False)(rng) + [
    Sample((_nz(rng, (3, 4)),), {"alpha": 0.5}, note="alpha")], torch_call=_F("elu")))
add(OpInfo("leaky_relu", lambda rng: _unary(_nz, ints=False)(rng) + [
    Sample((_nz(rng, (3, 4)), 0.2), note="slope")], torch_call=_F("leaky_relu")))

# -- comparisons, logical, bitwise (no gradients) ---------------------------------------------


def _compare(rng):
    a = rng.standard_normal((3, 4))
    b = np.where(rng.random((3, 4)) < 0.3, a, rng.standard_normal((3, 4)))
    return [Sample((a, b)),
            Sample((a, b[0]), note="broadcast"),
            Sample((a.T.copy(), b.T.copy()), noncontig=True),
            Sample((a, 0.0), note="scalar"),
            Sample((rng.standard_normal(()), b[0]), note="0dim"),
            Sample((_ints(rng, (5,)), _ints(rng, (5,))), note="int"),
            Sample((np.array([1, 2, 3]), 1.5), note="int-float"),
            Sample((np.array([1.0, np.nan]), np.array([np.nan, 1.0])), note="nan")]


for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    add(OpInfo(_name, _compare))


def _logical(rng):
    a = np.where(rng.random((3, 4)) < 0.5, 0.0, rng.standard_normal((3, 4)))
    b = np.where(rng.random((3, 4)) < 0.5, 0.0, rng.standard_normal((3, 4)))
    return [Sample((a, b)),
            Sample((a > 0, b[0] > 0), note="bool"),
            Sample((_ints(rng, (4,), 0, 3), a[0]), note="int-float")]


for _name in ("logical_and", "logical_or", "logical_xor"):
    add(OpInfo(_name, _logical))
add(OpInfo("logical_not", lambda rng: [Sample((s.args[0],), note=s.note) for s in _logical(rng)]))


def _bitwise(rng):
    return [Sample((_ints(rng, (3, 4), -20, 20), _ints(rng, (4,), -20, 20))),
            Sample((np.array([True, False, True]), np.array([True, True, False])), note="bool"),
            Sample((_ints(rng, (4,), -20, 20), 6), note="scalar")]


def _shifts(rng):
    return [Sample((_ints(rng, (3, 4), -50, 50), _ints(rng, (4,), 0, 5))),
            Sample((_ints(rng, (4,), -50, 50), 2), note="scalar")]


for _name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
    add(OpInfo(_name, _bitwise))
add(OpInfo("bitwise_left_shift", _shifts))
add(OpInfo("bitwise_right_shift", _shifts))
add(OpInfo("bitwise_not", lambda rng: [Sample((_ints(rng, (3, 4), -20, 20),)),
                                       Sample((np.array([True, False]),), note="bool")]))

# -- torch's other spellings: a couple of samples each ---------------------------------------

for _alias, _target in (("clip", "clamp"), ("absolute", "abs"), ("negative", "neg"),
                        ("multiply", "mul"), ("divide", "div"), ("true_divide", "div"),
                        ("subtract", "sub"), ("fix", "trunc"), ("arcsin", "asin"),
                        ("arccos", "acos"), ("arctan", "atan"), ("arctan2", "atan2"),
                        ("arcsinh", "asinh"), ("arccosh", "acosh"), ("arctanh", "atanh"),
                        ("greater", "gt"), ("greater_equal", "ge"), ("less", "lt"),
                        ("less_equal", "le"), ("not_equal", "ne")):
    add(OpInfo(_alias, (lambda t: lambda rng: SAMPLES[t].samples(rng)[:2])(_target)))


def _addc(rng, div):
    den = (lambda *s: np.asarray(positive(rng, *s) * rng.choice([-1, 1], s))) if div else \
        (lambda *s: rng.standard_normal(s))
    s = [
        Sample((rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), den(3, 4))),
        Sample((rng.standard_normal((3, 4)), rng.standard_normal((4,)), den(3, 1)),
               {"value": 0.5}, note="bcast"),
        Sample((rng.standard_normal((1, 4)), rng.standard_normal((3, 4)), den(3, 4)),
               {"value": -2}, note="bcast-input", noncontig=True),
        Sample((rng.standard_normal(()), rng.standard_normal(()), den()), note="0dim"),
        Sample((_ints(rng, (3, 4)), rng.standard_normal((3, 4)), den(3, 4)), note="int-input"),
    ]
    if not div:
        s.append(Sample((_ints(rng, (3, 4)), _ints(rng, (3, 4)), _ints(rng, (4,))), {"value": 3},
                        note="int"))
    return s


add(OpInfo("addcmul", lambda rng: _addc(rng, False)))
add(OpInfo("addcdiv", lambda rng: _addc(rng, True), call=lambda lib, x, *a, **k: x.addcdiv(*a, **k)))
