"""More of torch's top-level math: logaddexp, fmax/fmin, heaviside, float_power, gcd/lcm,
ldexp/frexp, nextafter, signbit, i0 and the torch.special kernels (i0e, i1, i1e, erfcx,
ndtri, log_ndtr, entr, xlog1py, zeta); the nan-reductions, quantile, mode, logcumsumexp,
histograms, cov/corrcoef, dist, renorm, unravel_index and tensordot.

Special-function values come from scipy.special (cupyx.scipy.special on the GPU), computed
in float64 where scipy has no float32 kernel and cast back to the input's dtype.

>>> import pyrch
>>> pyrch.logaddexp(pyrch.tensor([0.0]), pyrch.tensor([0.0]))
tensor([0.6931])
"""
import builtins
import collections
import functools
import math
import warnings

import numpy as np

from .registry import op, composite, broadcast_shapes, _meta_dtype, Meta
from .elementwise import public, special, where, zeros_like
from .._dtype import NP2DT, TORCH_NAMES, float64, int32, int64

_SQRT_2PI = math.sqrt(2 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _tname(arr):
    """torch's name for an array's dtype ('Long', 'Float', ...)."""
    return TORCH_NAMES[NP2DT[arr.dtype].name]


def _need_float_array(name, *arrays):
    for a in arrays:
        if a.dtype.kind != "f":
            raise NotImplementedError(f'"{name}" not implemented for \'{_tname(a)}\'')


def _dtype_checked_infer(o, kernel, allow=("float16", "float32", "float64")):
    """An elementwise `infer` rule raising torch's "not implemented" message unless the
    promoted dtype is in `allow` (dispatch asks it when the forward fails)."""
    def rule(*metas):
        dt = _meta_dtype(o, metas)
        if dt.name not in allow:
            raise NotImplementedError(f'"{kernel}" not implemented for \'{TORCH_NAMES[dt.name]}\'')
        return broadcast_shapes(*[m.shape for m in metas if isinstance(m, Meta)]), dt
    o.infer(rule)
    return o


def _like(out, a):
    return out.astype(a.dtype, copy=False) if out.dtype != a.dtype else out


def _return_type(name, fields):
    cls = collections.namedtuple(name, fields)
    cls.__module__ = "pyrch.return_types"
    return cls


_FrexpT = _return_type("frexp", ("mantissa", "exponent"))
_ModeT = _return_type("mode", ("values", "indices"))
_NanmedianT = _return_type("nanmedian", ("values", "indices"))
_HistogramT = _return_type("histogram", ("hist", "bin_edges"))


# -- two-operand elementwise ---------------------------------------------------------------

@op("logaddexp", kind="elementwise", dtype="promote",
    cexpr="(a != a || b != b ? a + b : (a == b ? a + 0.6931471805599453 "
          ": fmax(a, b) + log1p(exp(-fabs(a - b)))))")
def logaddexp(xp, a, b):
    """log(exp(input) + exp(other)), without overflow."""
    _need_float_array("logaddexp_cpu", a)
    return xp.logaddexp(a, b)


@logaddexp.backward
def _(g, a, b, needs):
    # NOTE: torch's rule, g / (1 + exp(other - input)): NaN where both are -inf
    return ((g / ((b - a).exp() + 1) if needs[0] else None),
            (g / ((a - b).exp() + 1) if needs[1] else None))


@op("logaddexp2", kind="elementwise", dtype="promote",
    cexpr="(a != a || b != b ? a + b : (a == b ? a + 1 "
          ": fmax(a, b) + log1p(exp2(-fabs(a - b))) / 0.6931471805599453))")
def logaddexp2(xp, a, b):
    """log2(2 ** input + 2 ** other), without overflow."""
    _need_float_array("logaddexp2_cpu", a)
    return xp.logaddexp2(a, b)


@logaddexp2.backward
def _(g, a, b, needs):
    return ((g / ((b - a).exp2() + 1) if needs[0] else None),
            (g / ((a - b).exp2() + 1) if needs[1] else None))


@op("fmax", kind="elementwise", dtype="promote", cexpr="(b != b || a >= b ? a : b)")
def fmax(xp, a, b):
    """Elementwise maximum that ignores a NaN operand (NaN only where both are NaN)."""
    # NOTE: torch's rule, input wherever input >= other (so fmax(-0., 0.) is -0.)
    return xp.where((a >= b) | (b != b), a, b)


@op("fmin", kind="elementwise", dtype="promote", cexpr="(b != b || a <= b ? a : b)")
def fmin(xp, a, b):
    """Elementwise minimum that ignores a NaN operand (NaN only where both are NaN)."""
    return xp.where((a <= b) | (b != b), a, b)


def _fminmax_bwd(pick_a):
    def rule(g, a, b, needs):
        # NOTE: as torch: input wins ties and wherever other is NaN
        take_a = pick_a(a, b) | b.isnan()
        return ((where(take_a, g, 0.0) if needs[0] else None),
                (where(take_a, 0.0, g) if needs[1] else None))
    return rule


_dtype_checked_infer(logaddexp, "logaddexp_cpu")
_dtype_checked_infer(logaddexp2, "logaddexp2_cpu")
fmax.backward(_fminmax_bwd(lambda a, b: a >= b))
fmin.backward(_fminmax_bwd(lambda a, b: a <= b))


@op("heaviside", kind="elementwise", dtype="promote", differentiable=False,
    cexpr="(a == 0 ? b : (a > 0 ? 1 : 0))")
def heaviside(xp, a, values):
    """The Heaviside step: 1 above zero, `values` at zero, 0 elsewhere (NaN too, as torch)."""
    return xp.where(a == 0, values, (a > 0).astype(a.dtype)).astype(a.dtype, copy=False)


@public(heaviside)
def _heaviside(input, values):
    from .._tensor import Tensor
    if not isinstance(values, Tensor):
        raise TypeError(f"heaviside(): argument 'values' (position 2) must be Tensor, not "
                        f"{type(values).__name__}")
    if input.dtype is not values.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    return heaviside(input, values)


def _gcd_like(name, ufunc, doc):
    def forward(xp, a, b):
        for x in (a, b):
            if x.dtype.kind not in "iu":
                raise NotImplementedError(f'"{name}_cpu" not implemented for \'{_tname(x)}\'')
        return getattr(xp, ufunc)(a, b)
    forward.__doc__ = doc
    forward.__name__ = forward.__qualname__ = name
    o = op(name, kind="elementwise", dtype="promote", differentiable=False)(forward)
    return _dtype_checked_infer(o, name + "_cpu", allow=("uint8", "int8", "int16", "int32", "int64"))


gcd = _gcd_like("gcd", "gcd", "Greatest common divisor of integer tensors (non-negative).")
lcm = _gcd_like("lcm", "lcm", "Least common multiple of integer tensors (non-negative).")


@op("nextafter", kind="elementwise", dtype="promote")
def nextafter(xp, a, b):
    """The next representable float after input, towards other."""
    _need_float_array("nextafter_cpu", a)
    return xp.nextafter(a, b)


_dtype_checked_infer(nextafter, "nextafter_cpu", allow=("float32", "float64"))


@nextafter.backward
def _(g, a, b, needs):
    # NOTE: torch's rule: the gradient passes to input except where input == other (the
    # result is then other itself); other gets none
    return (where(a == b, 0.0, g) if needs[0] else None), (zeros_like(g) if needs[1] else None)


@composite("float_power")
def float_power(input, exponent):
    """input ** exponent computed in float64 (the result is always float64).

    >>> import pyrch
    >>> pyrch.float_power(pyrch.tensor([2]), 3).dtype
    pyrch.float64
    """
    from .._tensor import Tensor
    from .elementwise import pow
    a = input.to(float64) if isinstance(input, Tensor) else float(input)
    b = exponent.to(float64) if isinstance(exponent, Tensor) else float(exponent)
    return pow(a, b)


@composite("ldexp")
def ldexp(input, other):
    """input * 2 ** other (floats; integers become the default float)."""
    from .elementwise import mul, pow
    return mul(input, pow(2.0, other))


# -- one-operand elementwise ----------------------------------------------------------------

@op("frexp", kind="opaque", dtype="keep", outputs=2)
def frexp(xp, a):
    """(mantissa, exponent) with input = mantissa * 2 ** exponent, |mantissa| in [0.5, 1)."""
    if a.dtype.kind != "f":
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    m, e = xp.frexp(a)
    return m, e.astype(xp.int32)


frexp.inplace_variant = False


@frexp.infer
def _(a):
    if not a.dtype.is_floating_point:
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    return [(a.shape, a.dtype), (a.shape, int32)]


@frexp.backward
def _(g, a):
    return (g / frexp(a.detach())[1].to(g.dtype).exp2(),)


@public(frexp)
def _frexp(input):
    return _FrexpT(*frexp(input))


@op("signbit", kind="elementwise", dtype="bool", differentiable=False)
def signbit(xp, a):
    """True where the sign bit is set (-0.0 and negative values; never for bool)."""
    if a.dtype.kind == "b":
        return xp.zeros(a.shape, dtype=bool)
    return xp.signbit(a)


@op("isposinf", kind="elementwise", dtype="bool", differentiable=False)
def isposinf(xp, a):
    """True where input is +inf."""
    if a.dtype.kind != "f":
        return xp.zeros(a.shape, dtype=bool)
    return a == xp.inf


@op("isneginf", kind="elementwise", dtype="bool", differentiable=False)
def isneginf(xp, a):
    """True where input is -inf."""
    if a.dtype.kind != "f":
        return xp.zeros(a.shape, dtype=bool)
    return a == -xp.inf


@op("isreal", kind="elementwise", dtype="bool", differentiable=False)
def isreal(xp, a):
    """True everywhere: pyrch's tensors are real (torch's imaginary-part-is-zero test)."""
    return xp.ones(a.shape, dtype=bool)


@composite("sgn")
def sgn(input):
    """The sign of input (torch's complex-aware sign; for real tensors, `sign`)."""
    from .elementwise import sign
    return sign(input)


_DEG = math.pi / 180.0


@op("deg2rad", kind="elementwise", dtype="float", cexpr="a * 0.017453292519943295")
def deg2rad(xp, a):
    """Degrees to radians."""
    return a * a.dtype.type(_DEG)


@op("rad2deg", kind="elementwise", dtype="float", cexpr="a * 57.29577951308232")
def rad2deg(xp, a):
    """Radians to degrees."""
    return a * a.dtype.type(1.0 / _DEG)


@deg2rad.backward
def _(g):
    return (g * _DEG,)


@rad2deg.backward
def _(g):
    return (g * (1.0 / _DEG),)


# -- Bessel, error-function and entropy kernels ---------------------------------------------

def _special_unary(name, fn, doc, method=False, fix=None):
    """A one-input float op computed by scipy.special.`fn` (cupyx on the GPU)."""
    def forward(xp, a):
        with np.errstate(all="ignore"):
            out = getattr(special(xp), fn)(a)
        if fix is not None:
            out = fix(xp, a, out)
        return _like(out, a)
    forward.__doc__ = doc
    forward.__name__ = forward.__qualname__ = name
    return op(name, kind="elementwise", dtype="float", method=method)(forward)


def _nan_at_inf(xp, a, out):
    # NOTE: torch's Chebyshev kernel for i0 / i1 gives NaN at +-inf
    return xp.where(xp.isinf(a), xp.nan, out)


i0 = _special_unary("i0", "i0", "The modified Bessel function of the first kind, order 0.",
                    method=True, fix=_nan_at_inf)
special_i0e = _special_unary("special_i0e", "i0e", "exp(-|input|) * i0(input).")
special_i1 = _special_unary("special_i1", "i1", "The modified Bessel function of the first "
                            "kind, order 1.", fix=_nan_at_inf)
special_i1e = _special_unary("special_i1e", "i1e", "exp(-|input|) * i1(input).")
special_erfcx = _special_unary("special_erfcx", "erfcx", "exp(input ** 2) * erfc(input).")
special_ndtri = _special_unary("special_ndtri", "ndtri", "The inverse of the standard normal "
                               "CDF.")
special_log_ndtr = _special_unary("special_log_ndtr", "log_ndtr", "log of the standard normal "
                                  "CDF, accurate in the lower tail.")
special_entr = _special_unary("special_entr", "entr", "-input * log(input): 0 at 0, -inf "
                              "below 0.")


@i0.backward
def _(g, a):
    return (g * special_i1(a),)


@special_i0e.backward
def _(g, a, out):
    return (g * (special_i1e(a) - a.sign() * out),)


@special_i1.backward
def _(g, a, out):
    # NOTE: d i1 / dx = i0(x) - i1(x) / x, which is 1/2 at 0 (and, as torch, at NaN)
    at0 = (a.abs() > 0).logical_not()
    safe = where(at0, 1.0, a)
    return (g * where(at0, 0.5, i0(a) - out / safe),)


@special_i1e.backward
def _(g, a, out):
    at0 = (a.abs() > 0).logical_not()
    safe = where(at0, 1.0, a)
    return (g * where(at0, 0.5, special_i0e(a) - out * (a.sign() + 1 / safe)),)


@special_erfcx.backward
def _(g, a, out):
    return (g * (2 * a * out - _TWO_OVER_SQRT_PI),)


@special_ndtri.backward
def _(g, out):
    return (g * _SQRT_2PI * (out * out * 0.5).exp(),)


@special_log_ndtr.backward
def _(g, a, out):
    return (g * (-(a * a * 0.5) - out).exp() / _SQRT_2PI,)


@special_entr.backward
def _(g, a):
    return (g * -(a.log() + 1),)


@op("special_xlog1py", kind="elementwise", dtype="float", method=False)
def special_xlog1py(xp, a, b):
    """input * log1p(other), 0 where input is 0 (unless other is NaN)."""
    return _like(special(xp).xlog1py(a, b), a)


@special_xlog1py.backward
def _(g, a, b, needs):
    ga = gb = None
    if needs[0]:
        # NOTE: as torch, zero where input == 0 and other <= -1
        ga = where((a == 0) & (b <= -1), 0.0, special_xlog1py(g, b))
    if needs[1]:
        gb = g * a / (b + 1)
    return ga, gb


@op("special_zeta", kind="elementwise", dtype="float", method=False)
def special_zeta(xp, a, q):
    """The Hurwitz zeta function sum_k (k + other) ** -input."""
    with np.errstate(all="ignore"):
        out = special(xp).zeta(a, q)
    return _like(xp.where(q == xp.inf, xp.nan, out), a)    # NOTE: torch's NaN at q = +inf


@special_zeta.backward
def _(g, a, q, needs):
    if needs[0]:
        raise RuntimeError("the derivative for 'self' is not implemented.")
    return None, g * -a * special_zeta(a + 1, q)


@composite("special_ndtr", method=False)
def special_ndtr(input):
    """The standard normal CDF, (1 + erf(input / sqrt(2))) / 2 (torch's formula: 0 below
    about -5.9 in float32 and -8.3 in float64, where erfc would keep the tail)."""
    from .elementwise_math import erf
    return (erf(input * (1 / math.sqrt(2.0))) + 1) * 0.5


@composite("mvlgamma")
def mvlgamma(input, p):
    """The log of the multivariate gamma function of dimension p, elementwise."""
    from .special_dist import lgamma
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    terms = [lgamma(input - 0.5 * j if j else input) for j in range(p)]
    return functools.reduce(lambda x, y: x + y, terms) + p * (p - 1) / 4 * math.log(math.pi)


# -- nan-reductions ---------------------------------------------------------------------------

@composite("nansum")
def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum over `dim`, NaN counted as zero."""
    from .reduce import _sum
    x = where(input.isnan(), 0.0, input) if input.dtype.is_floating_point else input
    return _sum(x, dim, keepdim, dtype=dtype)


@composite("nanmean")
def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """Mean over `dim` of the entries that are not NaN."""
    from .reduce import _sum
    if not input.dtype.is_floating_point:
        raise RuntimeError("nanmean(): expected input to have floating point or complex dtype "
                           f"but got {TORCH_NAMES[input.dtype.name]}")
    count = _sum(input.isnan().logical_not(), dim, keepdim)
    return nansum(input, dim, keepdim, dtype=dtype) / count


def _nanmedian_along(x, d, keepdim):
    from .reduce import _median_along
    return _median_along(x, d, keepdim, skip_nan=True)


@composite("nanmedian")
def nanmedian(input, dim=None, keepdim=False):
    """The lower median ignoring NaN (NaN only if all are NaN); with `dim`, (values, indices).

    >>> import pyrch
    >>> pyrch.tensor([3., float('nan'), 1., 2.]).nanmedian()
    tensor(2.)
    """
    from .movement import _norm_dim
    from .._dtype import bool_
    if input.dtype is bool_:
        raise NotImplementedError("\"nanmedian_cpu\" not implemented for 'Bool'")
    if dim is None:
        flat = input.reshape(-1)
        if flat.shape[0] == 0:
            return flat.sum() * float("nan") if input.dtype.is_floating_point else flat.sum()
        v = _nanmedian_along(flat, 0, False)[0]
        if not (input.requires_grad and input.dtype.is_floating_point):
            return v
        # NOTE: as torch, the gradient is shared evenly by every entry equal to the result
        # (every NaN when all are NaN); the value stays v exactly (v + 0, or NaN)
        v = v.detach()
        hit = (flat == v) | (flat.isnan() & v.isnan())
        return v + where(hit, flat - v, 0.0).sum() / hit.sum()
    nd = input._data.ndim
    d = _norm_dim(dim, nd)
    if not nd:
        vals, idx = _nanmedian_along(input.reshape(1), 0, False)
        return _NanmedianT(vals.reshape(()), idx.reshape(()))
    if input.shape[d] == 0:
        raise IndexError(f"nanmedian(): Expected reduction dim {d} to have non-zero size.")
    return _NanmedianT(*_nanmedian_along(input, d, keepdim))


# -- quantiles --------------------------------------------------------------------------------
_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(name, input, q, dim, keepdim, interpolation, ignore_nan):
    from .._tensor import Tensor
    from .._creation import tensor
    from .movement import _norm_dim
    from .scatter import gather
    from .elementwise import lerp
    if input.dtype.name not in ("float32", "float64"):
        raise RuntimeError(f"{name}() input tensor must be either float or double dtype")
    if isinstance(q, Tensor):
        if q.ndim > 1:
            raise RuntimeError(f"{name}() q must be a scalar or 1D tensor")
        if q.dtype is not input.dtype:
            raise RuntimeError(f"{name}() q tensor must be same dtype as the input tensor")
        if q.numel() and not builtins.bool(((q >= 0) & (q <= 1)).all()):
            raise RuntimeError(f"{name}() q values must be in the range [0, 1]")
        qt, scalar_q = q.reshape(-1), q.ndim == 0
    else:
        if not 0 <= q <= 1:
            raise RuntimeError(f"{name}() q must be in the range [0, 1] but got {q}")
        qt, scalar_q = tensor([float(q)], dtype=input.dtype, device=input.device), True
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(f"{name}() interpolation must be one of linear, lower, higher, "
                           f"midpoint or nearest, but got {interpolation}")
    if input.numel() == 0:
        raise RuntimeError(f"{name}() input tensor must be non-empty")
    nd = input.ndim
    if dim is None:
        x = input.reshape(-1)
    else:
        d = _norm_dim(dim, nd)
        x = input.reshape(1) if nd == 0 else input.movedim(d, -1)
    srt = x.sort(-1)[0]
    n = srt.shape[-1]
    if ignore_nan:
        k = srt.isnan().logical_not().sum(-1, keepdim=True)
        ranks = where(k > 0, qt * (k - 1).to(input.dtype), float(n - 1))
    else:
        ranks = where(srt.narrow(-1, n - 1, 1).isnan(), float(n - 1), qt * float(n - 1))
    if interpolation == "lower":
        ranks = ranks.floor()
    elif interpolation == "higher":
        ranks = ranks.ceil()
    elif interpolation == "nearest":
        ranks = ranks.round()
    below = ranks.to(int64)
    out = gather(srt, -1, below)
    if interpolation in ("linear", "midpoint"):
        above = gather(srt, -1, ranks.ceil().to(int64))
        weights = (ranks - below.to(ranks.dtype)) if interpolation == "linear" \
            else zeros_like(ranks) + 0.5
        out = lerp(out, above, weights)
    out = out.movedim(-1, 0)                            # q's dim first, as torch
    if scalar_q:
        out = out.squeeze(0)
    if keepdim:
        lead = () if scalar_q else (out.shape[0],)
        if dim is None:
            out = out.reshape(lead + (1,) * nd)
        elif nd:
            out = out.unsqueeze(d + len(lead))
    return out


@composite("quantile")
def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The q-th quantiles of `input` (all entries, or along `dim`); NaN where a NaN is present.

    >>> import pyrch
    >>> pyrch.quantile(pyrch.tensor([1., 2., 3., 4.]), 0.5)
    tensor(2.5000)
    """
    return _quantile("quantile", input, q, dim, keepdim, interpolation, False)


@composite("nanquantile")
def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The q-th quantiles ignoring NaN (NaN only where all values are NaN)."""
    return _quantile("quantile", input, q, dim, keepdim, interpolation, True)   # torch's wording


# -- mode -------------------------------------------------------------------------------------

@op("mode", kind="reduce", dtype="keep", outputs=2)
def mode(xp, a, *, dim=-1, keepdim=False):
    """(values, indices): the most frequent value along `dim` (the smallest among equally
    frequent ones) and the last index where it occurs."""
    from .reduce import _accumulate, _dims
    if a.ndim == 0:
        _dims(dim, 0)
        return a.copy(), xp.zeros((), xp.int64)
    d = _dims(dim, a.ndim)[0]
    if a.shape[d] == 0:
        raise IndexError(f"mode(): Expected reduction dim {d} to have non-zero size.")
    x = xp.moveaxis(a, d, -1)
    order = xp.argsort(x, axis=-1, kind="stable")
    s = xp.take_along_axis(x, order, -1)
    n = s.shape[-1]
    pos = xp.broadcast_to(xp.arange(n), s.shape)
    differ = s[..., 1:] != s[..., :-1]
    edge = xp.ones(s.shape[:-1] + (1,), dtype=bool)
    first = xp.concatenate([edge, differ], -1)
    last = xp.concatenate([differ, edge], -1)
    start = _accumulate(xp, xp.maximum, xp.where(first, pos, 0), -1)
    end = xp.flip(_accumulate(xp, xp.minimum, xp.flip(xp.where(last, pos, n), -1), -1), -1)
    best = xp.argmax(end - start, axis=-1)[..., None]     # the first (smallest) run of the most
    vals = xp.take_along_axis(s, best, -1)
    idx = xp.take_along_axis(order, xp.take_along_axis(end, best, -1), -1).astype(xp.int64)
    if keepdim:
        return xp.moveaxis(vals, -1, d), xp.moveaxis(idx, -1, d)
    return vals[..., 0], idx[..., 0]


@mode.infer
def _(a, *, dim=-1, keepdim=False):
    from .reduce import _dims, _reduced
    d = _dims(dim, len(a.shape))
    if a.shape and a.shape[d[0]] == 0:
        raise IndexError(f"mode(): Expected reduction dim {d[0]} to have non-zero size.")
    shape = _reduced(a.shape, dim, keepdim) if a.shape else ()
    return [(shape, a.dtype), (shape, int64)]


@mode.backward
def _(g, a, dim, keepdim):
    from .scatter import scatter_add
    if not a.shape:
        return (g,)
    d = dim % len(a.shape)
    idx = mode(a.detach(), dim=d, keepdim=True)[1]
    if not keepdim:
        g = g.unsqueeze(d)
    return (scatter_add(zeros_like(a), d, idx, g),)


@public(mode)
def _mode(input, dim=-1, keepdim=False):
    return _ModeT(*mode(input, dim=dim, keepdim=keepdim))


# -- logcumsumexp -----------------------------------------------------------------------------

@op("logcumsumexp", kind="reduce", dtype="keep")
def logcumsumexp(xp, a, *, dim):
    """log(cumsum(exp(input))) along `dim`, without overflow."""
    from .reduce import _accumulate, _dims
    _need_float_array("logcumsumexp_out_cpu", a)
    if a.ndim == 0:
        _dims(dim, 0)
        return a.copy()
    return _accumulate(xp, xp.logaddexp, a, dim)


@logcumsumexp.infer
def _(a, *, dim):
    from .reduce import _scan_dim
    if not a.dtype.is_floating_point:
        raise NotImplementedError('"logcumsumexp_out_cpu" not implemented for '
                                  f"'{TORCH_NAMES[a.dtype.name]}'")
    _scan_dim(a, dim)
    return a.shape, a.dtype


@logcumsumexp.backward
def _(g, a, out, dim):
    # grad_i = sum_{j >= i} g_j exp(a_i - out_j), in log space for each sign of g
    if not a.shape:
        return (g,)

    def tail(t):
        return logcumsumexp(t.flip(dim), dim=dim).flip(dim)
    # NOTE: a very negative finite stand-in for log(0) keeps the double backward free of
    # inf - inf; exp of anything near it is 0
    tiny = -1e30
    pos = where(g > 0, where(g > 0, g, 1.0).log(), tiny) - out
    neg = where(g < 0, where(g < 0, -g, 1.0).log(), tiny) - out
    return ((a + tail(pos)).exp() - (a + tail(neg)).exp(),)


# -- histograms -------------------------------------------------------------------------------

@op("_histogram", kind="opaque", dtype="keep", differentiable=False, method=False)
def _histogram(xp, a, edges, *weight, density=False):
    """Counts (or summed weights) of input's values per bin of the increasing `edges`;
    values outside [edges[0], edges[-1]] are left out, the last bin is closed."""
    nb = edges.shape[0] - 1
    x = a.reshape(-1)
    idx = xp.searchsorted(edges, x, side="right") - 1
    idx = xp.where(x == edges[-1], nb - 1, idx)
    ok = (idx >= 0) & (idx < nb) & (x == x)
    w = weight[0].reshape(-1)[ok].astype(xp.float64) if weight else None
    hist = xp.bincount(idx[ok], weights=w, minlength=nb)[:nb].astype(a.dtype)
    if density:
        hist = hist / (hist.sum() * xp.diff(edges))
    return hist.astype(a.dtype, copy=False)


_histogram.inplace_variant = False


def _num(v):
    return f"{v:g}"


@composite("histc")
def histc(input, bins=100, min=0, max=0):
    """Histogram of input's values in `bins` equal bins over [min, max] (the data's range
    when both are equal); values outside are ignored."""
    from .._creation import linspace
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f'"histogram_cpu" not implemented for '
                                  f"'{TORCH_NAMES[input.dtype.name]}'")
    if bins <= 0:
        raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {bins} for dimension 0")
    lo, hi = float(min), float(max)
    if lo > hi:
        raise RuntimeError("torch.histc: max must be larger than min")
    if lo == hi and input.numel():
        lo, hi = float(input.min()), float(input.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise RuntimeError(f"torch.histc: range of [{_num(lo)}, {_num(hi)}] is not finite")
    edges = linspace(lo, hi, bins + 1, dtype=input.dtype, device=input.device)
    return _histogram(input, edges)


@composite("histogram")
def histogram(input, bins, *, range=None, weight=None, density=False):
    """(hist, bin_edges): counts of input's values per bin; `bins` is a count of equal bins
    over `range` (default the data's) or a 1-D tensor of increasing edges."""
    from .._tensor import Tensor
    from .._creation import linspace
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f'"histogramdd" not implemented for '
                                  f"'{TORCH_NAMES[input.dtype.name]}'")
    if isinstance(bins, Tensor):
        if bins.ndim != 1:
            raise RuntimeError("torch.histogramdd: bins tensor should have one dimension, but got "
                               f"{bins.ndim} dimensions in the bins tensor for dimension 0")
        edges = bins
    else:
        if bins <= 0:
            raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {bins} for "
                               "dimension 0")
        if range is not None:
            lo, hi = float(range[0]), float(range[1])
            if lo > hi:
                raise RuntimeError(f"torch.histogramdd: min should not exceed max, but got min "
                                   f"{_num(lo)} max {_num(hi)} for dimension 0")
        elif input.numel():
            lo, hi = float(input.min()), float(input.max())
        else:
            lo = hi = 0.0
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        edges = linspace(lo, hi, int(bins) + 1, dtype=input.dtype, device=input.device)
    if weight is not None and tuple(weight.shape) != tuple(input.shape):
        raise RuntimeError("torch.histogramdd: if weight tensor is provided it should have the "
                           "same shape as the input tensor excluding its innermost dimension")
    ws = () if weight is None else (weight,)
    return _HistogramT(_histogram(input, edges, *ws, density=bool(density)), edges)


# -- covariance and distances -----------------------------------------------------------------

@composite("cov")
def cov(input, *, correction=1, fweights=None, aweights=None):
    """Covariance matrix of the variables in input's rows (observations in columns).

    >>> import pyrch
    >>> pyrch.cov(pyrch.tensor([[0., 1., 2.], [2., 1., 0.]]))
    tensor([[ 1., -1.],
            [-1.,  1.]])
    """
    from .._dtype import _default
    if input.ndim > 2:
        raise RuntimeError("cov(): expected input to have two or fewer dimensions but got an "
                           f"input with {input.ndim} dimensions")
    x = input.reshape(1, -1) if input.ndim < 2 else input
    n = x.shape[1]
    for wname, wt in (("fweights", fweights), ("aweights", aweights)):
        if wt is None:
            continue
        if wt.ndim > 1:
            raise RuntimeError(f"cov(): expected {wname} to have one or fewer dimensions but got "
                               f"{wname} with {wt.ndim} dimensions")
        if wt.numel() != n:
            raise RuntimeError(f"cov(): expected {wname} to have the same numel as there are "
                               f"observations in the input but got {wt.numel()} != {n}")
        integral = not wt.dtype.is_floating_point
        if wname == "fweights" and not integral:
            raise RuntimeError("cov(): expected fweights to have integral dtype but got fweights "
                               f"with {TORCH_NAMES[wt.dtype.name]} dtype")
        if wname == "aweights" and integral:
            raise RuntimeError("cov(): expected aweights to have floating point dtype but got "
                               f"aweights with {TORCH_NAMES[wt.dtype.name]} dtype")
        if wt.numel() and builtins.bool((wt < 0).any()):
            raise RuntimeError(f"cov(): {wname} cannot be negative")
    if not x.dtype.is_floating_point:
        x = x.to(_default.float)
    w = fweights
    if aweights is not None:
        w = aweights if w is None else w * aweights
    if w is None:
        avg = x.mean(1)
        norm = float(n - correction)
    else:
        wsum = w.sum()
        avg = (x * w).sum(1) / wsum
        if aweights is not None and correction != 0:
            norm = wsum - correction * (w * aweights).sum() / wsum
        else:
            norm = wsum - correction
    if builtins.bool(norm <= 0):
        warnings.warn("cov(): degrees of freedom is <= 0. Correction should be strictly less "
                      "than the number of observations.", UserWarning, stacklevel=2)
        norm = norm * 0 if w is not None else 0.0
    xc = x - avg.unsqueeze(1)
    c = xc.matmul((xc if w is None else xc * w).t())
    return (c / norm).squeeze()


@composite("corrcoef")
def corrcoef(input):
    """Pearson correlation coefficients of the variables in input's rows."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    sd = c.diagonal().sqrt()
    c = c / sd.unsqueeze(1)
    c = c / sd.unsqueeze(0)
    return c.clamp(-1, 1)


@composite("dist")
def dist(input, other, p=2):
    """The p-norm of input - other (broadcast)."""
    from ..linalg import vector_norm
    diff = input - other
    if not diff.dtype.is_floating_point:
        raise RuntimeError("norm(): input dtype should be either floating point or complex. "
                           f"Got {TORCH_NAMES[diff.dtype.name]} instead.")
    return vector_norm(diff, p)


@composite("renorm")
def renorm(input, p, dim, maxnorm):
    """Each slice along `dim` whose p-norm exceeds maxnorm, rescaled to norm maxnorm."""
    from ..linalg import vector_norm
    from .movement import _norm_dim
    if not input.dtype.is_floating_point:
        raise RuntimeError("linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {TORCH_NAMES[input.dtype.name]}")
    if p <= 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {_num(maxnorm)}")
    d = _norm_dim(dim, input.ndim)
    if input.ndim < 2:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {input.ndim} "
                           "dimensions")
    others = [i for i in builtins.range(input.ndim) if i != d]
    norms = vector_norm(input, p, others, True)
    factor = where(norms > maxnorm, maxnorm / (norms + 1e-7), 1.0)
    return input * factor


# -- index and contraction helpers ------------------------------------------------------------

@composite("unravel_index", method=False)
def unravel_index(indices, shape):
    """The coordinates, one tensor per dimension of `shape`, of flat `indices`
    (negative indices count from the end).

    >>> import pyrch
    >>> pyrch.unravel_index(pyrch.tensor(4), (2, 3))
    (tensor(1), tensor(1))
    """
    if indices.dtype.is_floating_point or indices.dtype.name == "bool":
        raise TypeError("expected 'indices' to be integer dtype, but got "
                        f"torch.{indices.dtype.name}")     # torch's wording
    shape = (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)
    if builtins.any(s < 0 for s in shape):
        raise ValueError(f"'shape' cannot have negative values, but got {shape}")
    rest = indices.to(int64)
    out = []
    for s in reversed(shape):
        out.append(rest % s)
        rest = rest // s
    return tuple(reversed(out))


@composite("tensordot", method=False)
def tensordot(a, b, dims=2, out=None):
    """Contract a's dims_a with b's dims_b: `dims` an int (a's last and b's first n dims)
    or a pair of lists."""
    from .._tensor import Tensor
    if isinstance(dims, Tensor):
        dims = int(dims.item()) if dims.ndim == 0 else dims.tolist()
    if a.dtype is not b.dtype:
        raise RuntimeError("both inputs should have same dtype")
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        if dims > builtins.min(a.ndim, b.ndim):
            raise RuntimeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={dims}")
        da, db = list(builtins.range(a.ndim - dims, a.ndim)), list(builtins.range(dims))
    else:
        da, db = dims
        da = [da] if isinstance(da, int) else list(da)
        db = [db] if isinstance(db, int) else list(db)
        if len(da) != len(db):
            raise RuntimeError("both dimension lists should have same length")
    from .movement import _norm_dim
    da = [_norm_dim(int(d), a.ndim) for d in da]
    db = [_norm_dim(int(d), b.ndim) for d in db]
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size "
                               f"{a.shape[i]} in dim {i} and second has size {b.shape[j]} in "
                               f"dim {j}")
    fa = [i for i in builtins.range(a.ndim) if i not in da]
    fb = [j for j in builtins.range(b.ndim) if j not in db]
    k = math.prod(a.shape[i] for i in da)
    am = a.permute(*(fa + da)).reshape(math.prod(a.shape[i] for i in fa), k)
    bm = b.permute(*(db + fb)).reshape(k, math.prod(b.shape[j] for j in fb))
    res = am.matmul(bm).reshape(tuple(a.shape[i] for i in fa) + tuple(b.shape[j] for j in fb))
    if out is not None:
        out.copy_(res)
        return out
    return res
