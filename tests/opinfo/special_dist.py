"""Samples for ops/special_dist.py: lgamma, digamma, polygamma, the Gamma sampler and poisson."""
import numpy as np

from . import OpInfo, Sample, add
from .elementwise import _unary


def _pos_wide(rng, shape):
    return rng.uniform(0.3, 6.0, shape)


add(OpInfo("lgamma", _unary(_pos_wide, extra=(
    lambda r: Sample((np.array([-1.5, -0.3, 2.5]),), note="negative"),))))
add(OpInfo("digamma", _unary(_pos_wide, extra=(
    lambda r: Sample((np.array([-1.5, -0.3, 2.5]),), note="negative"),))))
add(OpInfo("polygamma",
           lambda rng: [Sample((n, _pos_wide(rng, (3, 4))), note=f"n={n}") for n in (0, 1, 2, 3)],
           call=lambda lib, n, x: lib.polygamma(n, x), rtol=1e-5))


def _gamma_grad(rng):
    a = rng.uniform(0.2, 20.0, (3, 4))
    x = rng.uniform(0.05, 1.5, (3, 4)) * a
    return [Sample((a, x)), Sample((np.array([0.3, 2.0, 50.0]), np.array([1e-4, 3.0, 45.0])), note="tails")]


# torch's kernel is a series/asymptotic approximation; pyrch differentiates the incomplete gamma
# function numerically: they agree to ~1e-4 relative
add(OpInfo("_standard_gamma_grad", _gamma_grad, grad=False, gradgrad=False, atol=1e-5, rtol=2e-4))

# Random draws reduced to something deterministic, as in creation.py
add(OpInfo("_standard_gamma", lambda rng: [Sample((rng.uniform(0.2, 5.0, (3, 4)),))],
           call=lambda lib, a: lib._standard_gamma(a).gt(0), grad=False, gradgrad=False, traced=False))
add(OpInfo("poisson", lambda rng: [Sample((np.zeros((3, 4)),))],
           call=lambda lib, r: (lib.poisson(r), lib.poisson(r + 4).ge(0)), grad=False, gradgrad=False,
           traced=False))
