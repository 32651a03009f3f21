"""torch.special: special functions, with autograd where torch has a gradient.

Most are pyrch's own ops under torch.special's names (expit is `sigmoid`, gammaln is
`lgamma`, psi is `digamma`); the others are declared in ops/math_extra.py.

>>> import pyrch
>>> pyrch.special.expit(pyrch.tensor([0.0]))
tensor([0.5000])
"""
from . import ops as _ops

_O = _ops.OPS
_C = _ops.COMPOSITES

__all__ = ["expit", "logit", "erf", "erfc", "erfinv", "erfcx", "log_ndtr", "ndtr", "ndtri",
           "i0", "i0e", "i1", "i1e", "xlogy", "xlog1py", "entr", "sinc", "logsumexp",
           "softmax", "log_softmax", "gammaln", "digamma", "psi", "polygamma", "multigammaln",
           "round", "exp2", "expm1", "log1p", "zeta"]


def expit(input):
    """1 / (1 + exp(-input)) (torch.sigmoid)."""
    return _O["sigmoid"](input)


def logit(input, eps=None):
    """log(p / (1 - p)); with eps, p is first clamped into [eps, 1 - eps]."""
    from . import logit as _logit
    return _logit(input, eps)


def erf(input):
    """The error function."""
    return _O["erf"](input)


def erfc(input):
    """1 - erf(input)."""
    return _O["erfc"](input)


def erfinv(input):
    """The inverse error function, on (-1, 1)."""
    return _O["erfinv"](input)


def erfcx(input):
    """The scaled complementary error function exp(input ** 2) * erfc(input)."""
    return _O["special_erfcx"](input)


def log_ndtr(input):
    """log of the standard normal CDF, accurate far into the lower tail."""
    return _O["special_log_ndtr"](input)


def ndtr(input):
    """The standard normal CDF."""
    return _C["special_ndtr"](input)


def ndtri(input):
    """The inverse of the standard normal CDF (the probit)."""
    return _O["special_ndtri"](input)


def i0(input):
    """The modified Bessel function of the first kind, order 0."""
    return _O["i0"](input)


def i0e(input):
    """exp(-|input|) * i0(input)."""
    return _O["special_i0e"](input)


def i1(input):
    """The modified Bessel function of the first kind, order 1."""
    return _O["special_i1"](input)


def i1e(input):
    """exp(-|input|) * i1(input)."""
    return _O["special_i1e"](input)


def xlogy(input, other):
    """input * log(other), 0 where input is 0."""
    return _O["xlogy"](input, other)


def xlog1py(input, other):
    """input * log1p(other), 0 where input is 0."""
    return _O["special_xlog1py"](input, other)


def entr(input):
    """Elementwise entropy -input * log(input) (0 at 0, -inf below 0)."""
    return _O["special_entr"](input)


def sinc(input):
    """sin(pi * input) / (pi * input), 1 at 0."""
    return _O["sinc"](input)


def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(input))) over `dim`."""
    from . import logsumexp as _lse
    return _lse(input, dim, keepdim)


def softmax(input, dim, *, dtype=None):
    """softmax over `dim`; `dtype` casts the input first."""
    from . import softmax as _softmax
    return _softmax(input, dim, dtype=dtype)


def log_softmax(input, dim, *, dtype=None):
    """log(softmax(input)) over `dim`, computed stably."""
    from . import log_softmax as _log_softmax
    return _log_softmax(input, dim, dtype=dtype)


def gammaln(input):
    """log |Gamma(input)| (torch.lgamma)."""
    return _O["lgamma"](input)


def digamma(input):
    """The logarithmic derivative of the Gamma function."""
    return _O["digamma"](input)


psi = digamma


def polygamma(n, input):
    """The n-th derivative of digamma."""
    from . import polygamma as _polygamma
    return _polygamma(n, input)


def multigammaln(input, p):
    """The log of the multivariate gamma function of dimension p (torch.mvlgamma)."""
    return _C["mvlgamma"](input, p)


def round(input, *, decimals=0):
    """Round half to even, to `decimals` decimal places."""
    from . import round as _round
    return _round(input, decimals=decimals)


def exp2(input):
    """2 ** input."""
    return _O["exp2"](input)


def expm1(input):
    """exp(input) - 1, accurate for small input."""
    return _O["expm1"](input)


def log1p(input):
    """log(1 + input), accurate for small input."""
    return _O["log1p"](input)


def zeta(input, other):
    """The Hurwitz zeta function sum_k (k + other) ** -input (gradient in `other` only)."""
    return _O["special_zeta"](input, other)
