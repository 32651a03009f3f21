"""Special functions and samplers that `pyrch.distributions` needs: lgamma,
digamma, polygamma, the Gamma sampler with its implicit reparameterisation
gradient (`_standard_gamma`, `_standard_gamma_grad`) and `poisson`.

Values come from scipy.special (cupyx.scipy.special on the GPU), computed in
float64 and cast back to the input's dtype. Draws happen on the host from the
generator passed as the first input, as in ops/random.py.

>>> import pyrch
>>> pyrch.lgamma(pyrch.tensor([1.0, 3.0]))
tensor([0.0000, 0.6931])
"""
import numpy as np

from .registry import op
from .elementwise import special


def _like(out, a):
    return out.astype(a.dtype, copy=False) if out.dtype != a.dtype else out


@op("lgamma", kind="elementwise", dtype="float")
def lgamma(xp, a):
    """log |Gamma(input)|, elementwise (+inf at -inf, as torch; scipy's gammaln gives -inf)."""
    out = special(xp).gammaln(a)
    return _like(xp.where(xp.isneginf(a), xp.inf, out), a)


@op("digamma", kind="elementwise", dtype="float")
def digamma(xp, a):
    """The logarithmic derivative of the Gamma function, elementwise."""
    return _like(special(xp).psi(a), a)


@op("polygamma", kind="elementwise", dtype="float", method=False)
def _polygamma(xp, a, *, n):
    """The n-th derivative of digamma, elementwise (`polygamma(n, input)`)."""
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    if n == 0:
        return _like(special(xp).psi(a), a)
    return _like(special(xp).polygamma(n, a), a)


_polygamma.inplace_variant = False


@lgamma.backward
def _(g, a):
    return (g * digamma(a),)


@digamma.backward
def _(g, a):
    return (g * _polygamma(a, n=1),)


@_polygamma.backward
def _(g, a, n):
    return (g * _polygamma(a, n=n + 1),)


@_polygamma.public
def polygamma(n, input):
    """The n-th derivative of digamma, elementwise (torch.polygamma(n, input))."""
    return _polygamma(input, n=int(n))


# -- Gamma sampling with an implicit reparameterisation gradient ----------------------------
@op("_standard_gamma", kind="random", method=False)
def _standard_gamma(xp, gen, alpha):
    """One Gamma(alpha, 1) draw per element of `alpha`."""
    a = np.asarray(alpha.get() if hasattr(alpha, "get") else alpha, dtype=np.float64)
    ok = a > 0
    # NOTE: like torch, a concentration that is not positive gives the dtype's tiny
    x = np.where(ok, gen.standard_gamma(np.where(ok, a, 1.0)), np.finfo(alpha.dtype).tiny)
    return xp.asarray(x.astype(alpha.dtype, copy=False))


_standard_gamma.inplace_variant = False


@_standard_gamma.infer
def _(gen, alpha):
    return tuple(alpha.shape), alpha.dtype


@_standard_gamma.public
def standard_gamma(input, generator=None):
    """One Gamma(input, 1) draw per element (torch._standard_gamma); differentiable in input."""
    from .._random import _np_gen
    return _standard_gamma(_np_gen(generator), input)


@_standard_gamma.backward
def _(g, alpha, out):
    return None, g * _standard_gamma_grad(alpha, out)


@op("_standard_gamma_grad", kind="elementwise", dtype="float", differentiable=False, method=False)
def _standard_gamma_grad(xp, alpha, x):
    """d x / d alpha of a Gamma(alpha, 1) draw x at a fixed CDF value.

    Implicit reparameterisation: x = F^-1(u; alpha), so dx/dalpha = -(dF/dalpha) / (dF/dx).
    dF/dx is the density; dF/dalpha is a fourth-order central difference of the regularised
    incomplete gamma function (of whichever tail is smaller, for precision).
    """
    sp = special(xp)
    a = alpha.astype(np.float64)
    v = x.astype(np.float64)
    lower = sp.gammainc(a, v) < 0.5
    h = 1e-3 * a

    def tail(s):
        return xp.where(lower, sp.gammainc(s, v), -sp.gammaincc(s, v))
    dfda = (tail(a - 2 * h) - 8 * tail(a - h) + 8 * tail(a + h) - tail(a + 2 * h)) / (12 * h)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        logpdf = (a - 1) * xp.log(v) - v - sp.gammaln(a)
        out = -dfda * xp.exp(-logpdf)
    out = xp.where((v > 0) & xp.isfinite(out), out, 0.0)
    return out.astype(alpha.dtype if alpha.dtype.kind == "f" else np.float64, copy=False)


_standard_gamma_grad.inplace_variant = False


# -- Poisson ------------------------------------------------------------------------------
@op("poisson", kind="random", differentiable=False)
def _poisson(xp, gen, rates):
    """One Poisson(rate) draw per element of `rates`, in rates' dtype."""
    r = np.asarray(rates.get() if hasattr(rates, "get") else rates, dtype=np.float64)
    if not bool((r >= 0).all()):
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    return xp.asarray(gen.poisson(r).astype(rates.dtype, copy=False))


@_poisson.infer
def _(gen, rates):
    return tuple(rates.shape), rates.dtype


@_poisson.public
def poisson(input, generator=None):
    """A Poisson draw for each rate in `input`, in input's dtype and shape."""
    from .._random import _np_gen
    return _poisson(_np_gen(generator), input)
