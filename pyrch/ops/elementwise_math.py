"""Elementwise math: exp/log family, roots, trigonometry (atan2, hypot too),
copysign, xlogy, erf, sigmoid/logit, rounding, NaN tests.

Integer inputs become the default float for the transcendental functions
(dtype rule "float"); rounding ops keep integers as they are. erf, erfc,
erfinv and expit come from scipy.special (cupyx.scipy.special on the GPU).
"""
import math

from .registry import op
from .elementwise import public, special, zeros_like, where

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _unary(name, ufunc, cexpr, doc, dtype="float"):
    """Declare a one-input op whose forward is the numpy/cupy function `ufunc`."""
    def forward(xp, a):
        return getattr(xp, ufunc)(a)
    forward.__doc__ = doc
    forward.__name__ = forward.__qualname__ = name
    return op(name, kind="elementwise", dtype=dtype, cexpr=cexpr)(forward)


def _unary_special(name, fn, cexpr, doc):
    """Declare a one-input float op computed by scipy.special.`fn` (cupyx on the GPU)."""
    def forward(xp, a):
        out = getattr(special(xp), fn)(a)
        return out.astype(a.dtype, copy=False) if out.dtype != a.dtype else out
    forward.__doc__ = doc
    forward.__name__ = forward.__qualname__ = name
    return op(name, kind="elementwise", dtype="float", cexpr=cexpr)(forward)


# -- exp / log ----------------------------------------------------------------------------

@op("exp", kind="elementwise", dtype="float", cexpr="exp(a)")
def exp(xp, a):
    """e ** input, elementwise.

    >>> import pyrch
    >>> pyrch.exp(pyrch.tensor([0.0]))
    tensor([1.])
    """
    return xp.exp(a)


@exp.backward
def _(g, out):
    return (g * out,)


exp2 = _unary("exp2", "exp2", "exp2(a)", "2 ** input, elementwise.")
log = _unary("log", "log", "log(a)", "Natural logarithm, elementwise.")
log2 = _unary("log2", "log2", "log2(a)", "Base-2 logarithm, elementwise.")
log10 = _unary("log10", "log10", "log10(a)", "Base-10 logarithm, elementwise.")
log1p = _unary("log1p", "log1p", "log1p(a)", "log(1 + input), accurate for small input.")
expm1 = _unary("expm1", "expm1", "expm1(a)", "exp(input) - 1, accurate for small input.")
sqrt = _unary("sqrt", "sqrt", "sqrt(a)", "Square root, elementwise.")


@exp2.backward
def _(g, out):
    return (g * out * _LN2,)


@log.backward
def _(g, a):
    return (g / a,)


@log2.backward
def _(g, a):
    return (g / (a * _LN2),)


@log10.backward
def _(g, a):
    return (g / (a * _LN10),)


@log1p.backward
def _(g, a):
    return (g / (a + 1),)


@expm1.backward
def _(g, out):
    return (g * (out + 1),)


@sqrt.backward
def _(g, out):
    return (g / (2 * out),)


@op("rsqrt", kind="elementwise", dtype="float", cexpr="1 / sqrt(a)")
def rsqrt(xp, a):
    """1 / sqrt(input), elementwise."""
    return xp.reciprocal(xp.sqrt(a))


@rsqrt.backward
def _(g, out):
    return (g * out * out * out * -0.5,)


# -- trigonometric and hyperbolic -----------------------------------------------------------

sin = _unary("sin", "sin", "sin(a)", "Sine, elementwise.")
cos = _unary("cos", "cos", "cos(a)", "Cosine, elementwise.")
tan = _unary("tan", "tan", "tan(a)", "Tangent, elementwise.")
asin = _unary("asin", "arcsin", "asin(a)", "Inverse sine, elementwise.")
acos = _unary("acos", "arccos", "acos(a)", "Inverse cosine, elementwise.")
atan = _unary("atan", "arctan", "atan(a)", "Inverse tangent, elementwise.")
sinh = _unary("sinh", "sinh", "sinh(a)", "Hyperbolic sine, elementwise.")
cosh = _unary("cosh", "cosh", "cosh(a)", "Hyperbolic cosine, elementwise.")
tanh = _unary("tanh", "tanh", "tanh(a)", "Hyperbolic tangent, elementwise.")
asinh = _unary("asinh", "arcsinh", "asinh(a)", "Inverse hyperbolic sine, elementwise.")
acosh = _unary("acosh", "arccosh", "acosh(a)", "Inverse hyperbolic cosine, elementwise.")
atanh = _unary("atanh", "arctanh", "atanh(a)", "Inverse hyperbolic tangent, elementwise.")


@sin.backward
def _(g, a):
    return (g * a.cos(),)


@cos.backward
def _(g, a):
    return (-g * a.sin(),)


@tan.backward
def _(g, out):
    return (g * (out * out + 1),)


@asin.backward
def _(g, a):
    return (g * (1 - a * a).rsqrt(),)


@acos.backward
def _(g, a):
    return (-g * (1 - a * a).rsqrt(),)


@atan.backward
def _(g, a):
    return (g / (a * a + 1),)


@sinh.backward
def _(g, a):
    return (g * a.cosh(),)


@cosh.backward
def _(g, a):
    return (g * a.sinh(),)


@tanh.backward
def _(g, out):
    return (g * (1 - out * out),)


@asinh.backward
def _(g, a):
    return (g * (a * a + 1).rsqrt(),)


@acosh.backward
def _(g, a):
    return (g * (a * a - 1).rsqrt(),)


@atanh.backward
def _(g, a):
    return (g / (1 - a * a),)


@op("sinc", kind="elementwise", dtype="float",
    cexpr="(a == 0 ? 1 : sin(3.141592653589793 * a) / (3.141592653589793 * a))")
def sinc(xp, a):
    """sin(pi * input) / (pi * input), 1 at 0."""
    return xp.sinc(a)


@sinc.backward
def _(g, a, out):
    # NOTE: d/dx sinc = (cos(pi x) - sinc(x)) / x, which is 0 at x = 0
    safe = where(a == 0, 1.0, a)
    return (where(a == 0, 0.0, g * ((a * math.pi).cos() - out) / safe),)


# -- two-operand float functions -------------------------------------------------------------

@op("atan2", kind="elementwise", dtype="float", cexpr="atan2(a, b)")
def atan2(xp, a, b):
    """The angle of (other, input): atan(input / other) with the quadrant kept."""
    return xp.arctan2(a, b)


@atan2.backward
def _(g, a, b, needs):
    r = g / (a * a + b * b)
    return (r * b if needs[0] else None), (-r * a if needs[1] else None)


@op("hypot", kind="elementwise", dtype="float", cexpr="hypot(a, b)")
def hypot(xp, a, b):
    """sqrt(input**2 + other**2) without overflow."""
    return xp.hypot(a, b)


@hypot.backward
def _(g, a, b, out, needs):
    r = g / out
    return (r * a if needs[0] else None), (r * b if needs[1] else None)


@op("copysign", kind="elementwise", dtype="float", cexpr="copysign(a, b)")
def copysign(xp, a, b):
    """|input| with the sign of other (integers give floats)."""
    return xp.copysign(a, b)


@copysign.backward
def _(g, a, out, needs):
    # NOTE: torch's rule: grad * out / input, taken as 0 where input is 0
    ga = where(a == 0, 0.0, g * out / a) if needs[0] else None
    return ga, (zeros_like(g) if needs[1] else None)


@op("xlogy", kind="elementwise", dtype="float",
    cexpr="(b != b ? b : (a == 0 ? 0 : a * log(b)))")
def xlogy(xp, a, b):
    """input * log(other), 0 where input is 0 (unless other is NaN)."""
    out = special(xp).xlogy(a, b)
    return out.astype(a.dtype, copy=False) if out.dtype != a.dtype else out


@xlogy.backward
def _(g, a, b, needs):
    ga = gb = None
    if needs[0]:
        # NOTE: torch zeroes the input's grad where input == 0 and other <= 0
        ga = where((a == 0) & (b <= 0), 0.0, xlogy(g, b))
    if needs[1]:
        gb = g * a / b
    return ga, gb


# -- sigmoid, logit, erf --------------------------------------------------------------------

sigmoid = _unary_special("sigmoid", "expit", "1 / (1 + exp(-a))",
                         "1 / (1 + exp(-input)), computed without overflow.")
erf = _unary_special("erf", "erf", "erf(a)", "The error function, elementwise.")
erfc = _unary_special("erfc", "erfc", "erfc(a)", "1 - erf(input), accurate for large input.")
erfinv = _unary_special("erfinv", "erfinv", "erfinv(a)", "The inverse error function, on (-1, 1).")


@sigmoid.backward
def _(g, out):
    return (g * out * (1 - out),)


@erf.backward
def _(g, a):
    return (g * (-a * a).exp() * _TWO_OVER_SQRT_PI,)


@erfc.backward
def _(g, a):
    return (g * (-a * a).exp() * -_TWO_OVER_SQRT_PI,)


@erfinv.backward
def _(g, out):
    return (g * (out * out).exp() * (math.sqrt(math.pi) / 2),)


@op("logit", kind="elementwise", dtype="float",
    cexpr="log((eps < 0 ? a : (a < eps ? eps : (a > 1 - eps ? 1 - eps : a))) / "
          "(1 - (eps < 0 ? a : (a < eps ? eps : (a > 1 - eps ? 1 - eps : a)))))")
def logit(xp, a, *, eps=-1.0):
    """log(p / (1 - p)); with eps, p is first clamped into [eps, 1 - eps]."""
    if eps is not None and eps >= 0:
        a = xp.clip(a, a.dtype.type(eps), a.dtype.type(1 - eps))
    return xp.log(a / (1 - a))


@logit.backward
def _(g, a, eps):
    gx = g / (a * (1 - a))
    if eps is None or eps < 0:
        return (gx,)
    return (where((a < eps) | (a > 1 - eps), 0.0, gx),)   # NOTE: 0 where the clamp acted


@public(logit)
def _logit(input, eps=None):
    # NOTE: like torch's kernel, a negative eps means "no clamp", so the traced
    # attribute is always a number that the fused C expression can use.
    return logit(input, eps=-1.0 if eps is None else float(eps))


# -- rounding (integers pass through; the gradient is zero, as in torch) -------------------

def _rounding(name, ufunc, cexpr, doc):
    def forward(xp, a):
        if a.dtype.kind in "biu":
            return a.copy()
        return getattr(xp, ufunc)(a)
    forward.__doc__ = doc
    forward.__name__ = forward.__qualname__ = name
    o = op(name, kind="elementwise", dtype="keep", cexpr=cexpr)(forward)
    o.backward(lambda g: (zeros_like(g),))
    return o


floor = _rounding("floor", "floor", "floor(a)", "Round down to an integral value.")
ceil = _rounding("ceil", "ceil", "ceil(a)", "Round up to an integral value.")
trunc = _rounding("trunc", "trunc", "trunc(a)", "Round toward zero to an integral value.")


@op("round", kind="elementwise", dtype="keep",
    cexpr="(decimals == 0 ? nearbyint(a) : (decimals > 0 "
          "? nearbyint(a * pow(10, decimals)) / pow(10, decimals) "
          ": nearbyint(a / pow(10, -decimals)) * pow(10, -decimals)))")
def round(xp, a, *, decimals=0):
    """Round half to even, to `decimals` decimal places.

    >>> import pyrch
    >>> pyrch.round(pyrch.tensor([0.5, 1.5, 2.567]), decimals=0)
    tensor([0., 2., 3.])
    """
    if a.dtype.kind in "biu":
        return a.copy()
    if decimals == 0:
        return xp.rint(a)
    # torch's kernel: scale, round to nearest even, unscale, in the input's precision
    if decimals > 0:
        scale = a.dtype.type(10.0 ** decimals)
        return xp.rint(a * scale) / scale
    scale = a.dtype.type(10.0 ** -decimals)
    return xp.rint(a / scale) * scale


@round.backward
def _(g):
    return (zeros_like(g),)


@op("frac", kind="elementwise", dtype="keep", cexpr="a - trunc(a)")
def frac(xp, a):
    """input - trunc(input): the fractional part, with input's sign."""
    if a.dtype.kind != "f":
        raise RuntimeError(f'"frac_cpu" not implemented for \'{a.dtype}\'')
    return a - xp.trunc(a)


@frac.backward
def _(g):
    return (g,)


# -- NaN and infinity ---------------------------------------------------------------------
# The C tests are written with arithmetic so they hold for integer operands too.

@op("isnan", kind="elementwise", dtype="bool", differentiable=False, cexpr="a != a")
def isnan(xp, a):
    """True where input is NaN."""
    return xp.isnan(a)


@op("isinf", kind="elementwise", dtype="bool", differentiable=False,
    cexpr="(a == a && a - a != a - a)")
def isinf(xp, a):
    """True where input is +inf or -inf."""
    return xp.isinf(a)


@op("isfinite", kind="elementwise", dtype="bool", differentiable=False, cexpr="a - a == a - a")
def isfinite(xp, a):
    """True where input is neither NaN nor infinite."""
    return xp.isfinite(a)


@op("nan_to_num", kind="elementwise", dtype="keep")
def nan_to_num(xp, a, *, nan=0.0, posinf=None, neginf=None):
    """Replace NaN by `nan` and +-inf by `posinf`/`neginf` (default: the dtype's extremes)."""
    if a.dtype.kind != "f":
        return a.copy()
    return xp.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)


@nan_to_num.backward
def _(g, a):
    return (where(a.isfinite(), g, 0.0),)   # NOTE: replaced values get no gradient
