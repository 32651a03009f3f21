"""pyrch.distributions: torch.distributions' API in pyrch ops.

log_prob, entropy, rsample and kl_divergence are built from pyrch ops, so they
differentiate (reparameterised samples carry gradients to the parameters) and
trace. Sampling draws from pyrch's generators: `pyrch.manual_seed` makes it
reproducible (the streams are pyrch's own, not torch's).

>>> import pyrch
>>> from pyrch.distributions import Normal
>>> Normal(pyrch.tensor(0.0), pyrch.tensor(1.0)).log_prob(pyrch.tensor(0.0))
tensor(-0.9189)
"""
from . import constraints, transforms  # noqa: F401
from .distribution import Distribution
from .continuous import Normal, Uniform, Laplace, Exponential
from .discrete import Bernoulli, Categorical, OneHotCategorical, Poisson
from .gamma import Gamma, Beta, Dirichlet
from .independent import Independent
from .multivariate_normal import MultivariateNormal
from .transforms import Transform, ExpTransform, AffineTransform, SigmoidTransform, TanhTransform
from .transformed import TransformedDistribution, LogNormal
from .kl import kl_divergence, register_kl

__all__ = ["Distribution", "Normal", "Uniform", "Laplace", "Exponential", "Bernoulli", "Categorical",
           "OneHotCategorical", "Poisson", "Gamma", "Beta", "Dirichlet", "Independent",
           "MultivariateNormal", "TransformedDistribution", "LogNormal", "Transform", "ExpTransform",
           "AffineTransform", "SigmoidTransform", "TanhTransform", "kl_divergence", "register_kl",
           "constraints", "transforms"]
