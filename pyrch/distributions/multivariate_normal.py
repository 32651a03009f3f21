"""MultivariateNormal, parameterised by a lower-triangular scale (Cholesky factor).

The factor comes from `pyrch.linalg.cholesky` and triangular systems are solved with
`pyrch.linalg.solve`, so log_prob and rsample differentiate and trace like other ops.
"""
import math

import pyrch
from .._tensor import Size
from . import constraints
from .distribution import Distribution
from .utils import lazy_property, as_size


def _cholesky(a):
    """Lower Cholesky factor of symmetric positive-definite `a` (..., D, D)."""
    return pyrch.linalg.cholesky(a)


def _solve_lower(tril, b):
    """x with tril @ x = b, for lower-triangular `tril` (..., D, D) and `b` (..., D, M).
    Only the lower triangle is read (its upper one gets no gradient), as in a triangular solve."""
    return pyrch.linalg.solve(tril.tril(), b)


def _eye_like(a):
    d = a.shape[-1]
    return pyrch.eye(d, dtype=a.dtype, device=a.device).expand(tuple(a.shape))


class MultivariateNormal(Distribution):
    """MultivariateNormal(loc, covariance_matrix=None, precision_matrix=None, scale_tril=None)."""
    arg_constraints = {"loc": constraints.real_vector,
                       "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite,
                       "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args=None):
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        if (covariance_matrix is not None) + (scale_tril is not None) + (precision_matrix is not None) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or scale_tril "
                             "may be specified.")
        if scale_tril is not None:
            if scale_tril.dim() < 2:
                raise ValueError("scale_tril matrix must be at least two-dimensional, "
                                 "with optional leading batch dimensions")
            mat = scale_tril
        elif covariance_matrix is not None:
            if covariance_matrix.dim() < 2:
                raise ValueError("covariance_matrix must be at least two-dimensional, "
                                 "with optional leading batch dimensions")
            mat = covariance_matrix
        else:
            if precision_matrix.dim() < 2:
                raise ValueError("precision_matrix must be at least two-dimensional, "
                                 "with optional leading batch dimensions")
            mat = precision_matrix
        batch_shape = pyrch.broadcast_shapes(tuple(mat.shape[:-2]), tuple(loc.shape[:-1]))
        self.loc = loc.expand(batch_shape + (-1,))
        if scale_tril is not None:
            self.scale_tril = scale_tril.expand(batch_shape + (-1, -1))
        elif covariance_matrix is not None:
            self.covariance_matrix = covariance_matrix.expand(batch_shape + (-1, -1))
        else:
            self.precision_matrix = precision_matrix.expand(batch_shape + (-1, -1))
        super().__init__(batch_shape, loc.shape[-1:], validate_args=validate_args)
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = _cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(precision_matrix)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(MultivariateNormal, _instance)
        batch_shape = tuple(as_size(batch_shape))
        new.loc = self.loc.expand(batch_shape + tuple(self._event_shape))
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                new.__dict__[name] = self.__dict__[name].expand(batch_shape + tuple(self._event_shape) * 2)
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @lazy_property
    def scale_tril(self):
        return self._unbroadcasted_scale_tril.expand(self._matrix_shape())

    @lazy_property
    def covariance_matrix(self):
        lt = self._unbroadcasted_scale_tril
        return (lt @ lt.transpose(-1, -2)).expand(self._matrix_shape())

    @lazy_property
    def precision_matrix(self):
        lt_inv = _solve_lower(self._unbroadcasted_scale_tril, _eye_like(self._unbroadcasted_scale_tril))
        return (lt_inv.transpose(-1, -2) @ lt_inv).expand(self._matrix_shape())

    def _matrix_shape(self):
        return tuple(self._batch_shape) + tuple(self._event_shape) * 2

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return self._unbroadcasted_scale_tril.pow(2).sum(-1).expand(
            tuple(self._batch_shape) + tuple(self._event_shape))

    def rsample(self, sample_shape=Size()):
        shape = tuple(self._extended_shape(sample_shape))
        eps = pyrch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + (self._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def _half_log_det(self):
        return self._unbroadcasted_scale_tril.diagonal(0, -2, -1).log().sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        lt = self._unbroadcasted_scale_tril
        shape = pyrch.broadcast_shapes(tuple(lt.shape[:-2]), tuple(diff.shape[:-1]))
        d = self._event_shape[0]
        z = _solve_lower(lt.expand(shape + (d, d)), diff.expand(shape + (d,)).unsqueeze(-1)).squeeze(-1)
        m = z.pow(2).sum(-1)
        return -0.5 * (d * math.log(2 * math.pi) + m) - self._half_log_det()

    def entropy(self):
        d = self._event_shape[0]
        h = 0.5 * d * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return h.expand(tuple(self._batch_shape)) if self._batch_shape else h


def _precision_to_scale_tril(p):
    """Lower factor L with L @ L.T = inverse(p), via the Cholesky factor of p flipped."""
    lf = _cholesky(p.flip(-2, -1))
    l_inv = lf.flip(-2, -1).transpose(-1, -2)       # lower triangular, l_inv.T @ l_inv = p
    return _solve_lower(l_inv, _eye_like(l_inv))
