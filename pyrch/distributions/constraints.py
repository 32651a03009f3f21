"""Constraints: the support of a distribution and the domain of its parameters.

A constraint's `check(value)` returns a bool tensor, True where `value` lies in
it (over the last `event_dim` dimensions together for event constraints).

>>> import pyrch
>>> from pyrch.distributions import constraints
>>> constraints.positive.check(pyrch.tensor([1.0, -1.0]))
tensor([ True, False])
"""
__all__ = ["Constraint", "real", "positive", "nonnegative", "unit_interval", "simplex", "boolean",
           "nonnegative_integer", "interval", "half_open_interval", "greater_than", "less_than",
           "real_vector", "lower_cholesky", "positive_definite", "independent", "dependent",
           "integer_interval"]


class Constraint:
    """A region of values; `event_dim` says how many rightmost dims one check covers."""
    is_discrete = False
    event_dim = 0

    def check(self, value):
        raise NotImplementedError

    def __repr__(self):
        return self.__class__.__name__[1:] + "()"


class _Dependent(Constraint):
    """A support that depends on other parameters; it cannot be checked alone."""

    def check(self, value):
        raise ValueError("Cannot determine validity of dependent constraint")


class _Real(Constraint):
    def check(self, value):
        return value == value       # False only at NaN


class _GreaterThan(Constraint):
    def __init__(self, lower_bound):
        self.lower_bound = lower_bound

    def check(self, value):
        return value > self.lower_bound

    def __repr__(self):
        return f"GreaterThan(lower_bound={self.lower_bound})"


class _GreaterThanEq(_GreaterThan):
    def check(self, value):
        return value >= self.lower_bound

    def __repr__(self):
        return f"GreaterThanEq(lower_bound={self.lower_bound})"


class _LessThan(Constraint):
    def __init__(self, upper_bound):
        self.upper_bound = upper_bound

    def check(self, value):
        return value < self.upper_bound

    def __repr__(self):
        return f"LessThan(upper_bound={self.upper_bound})"


class _Interval(Constraint):
    def __init__(self, lower_bound, upper_bound):
        self.lower_bound, self.upper_bound = lower_bound, upper_bound

    def check(self, value):
        return (value >= self.lower_bound) & (value <= self.upper_bound)

    def __repr__(self):
        return f"Interval(lower_bound={self.lower_bound}, upper_bound={self.upper_bound})"


class _HalfOpenInterval(_Interval):
    def check(self, value):
        return (value >= self.lower_bound) & (value < self.upper_bound)

    def __repr__(self):
        return f"HalfOpenInterval(lower_bound={self.lower_bound}, upper_bound={self.upper_bound})"


class _Boolean(Constraint):
    is_discrete = True

    def check(self, value):
        return (value == 0) | (value == 1)


class _IntegerInterval(Constraint):
    is_discrete = True

    def __init__(self, lower_bound, upper_bound):
        self.lower_bound, self.upper_bound = lower_bound, upper_bound

    def check(self, value):
        return (value % 1 == 0) & (value >= self.lower_bound) & (value <= self.upper_bound)

    def __repr__(self):
        return f"IntegerInterval(lower_bound={self.lower_bound}, upper_bound={self.upper_bound})"


class _NonnegativeInteger(Constraint):
    is_discrete = True

    def check(self, value):
        return (value % 1 == 0) & (value >= 0)


class _Simplex(Constraint):
    event_dim = 1

    def check(self, value):
        return (value >= 0).all(-1) & ((value.sum(-1) - 1).abs() < 1e-6)


class _OneHot(Constraint):
    is_discrete = True
    event_dim = 1

    def check(self, value):
        return ((value == 0) | (value == 1)).all(-1) & (value.sum(-1) == 1)


class _IndependentConstraint(Constraint):
    """`base` checked over `reinterpreted_batch_ndims` more rightmost dims at once."""

    def __init__(self, base, reinterpreted_batch_ndims):
        self.base_constraint = base
        self.reinterpreted_batch_ndims = reinterpreted_batch_ndims
        self.event_dim = base.event_dim + reinterpreted_batch_ndims
        self.is_discrete = base.is_discrete

    def check(self, value):
        ok = self.base_constraint.check(value)
        for _ in range(self.reinterpreted_batch_ndims):
            ok = ok.all(-1)
        return ok

    def __repr__(self):
        return f"IndependentConstraint({self.base_constraint!r}, {self.reinterpreted_batch_ndims})"


class _LowerCholesky(Constraint):
    event_dim = 2

    def check(self, value):
        lower = (value.tril() == value).all(-1).all(-1)
        return lower & (value.diagonal(0, -2, -1) > 0).all(-1)


class _PositiveDefinite(Constraint):
    """Symmetric with a positive-definite Cholesky factor (checked on the host)."""
    event_dim = 2

    def check(self, value):
        import numpy as np
        from .._creation import tensor
        a = value.detach().cpu().numpy()
        sym = np.abs(a - np.swapaxes(a, -1, -2)).max(axis=(-1, -2), initial=0) <= 1e-6 * (
            1 + np.abs(a).max(axis=(-1, -2), initial=0))
        try:
            eig = np.linalg.eigvalsh(a)
            pos = (eig > 0).all(-1)
        except np.linalg.LinAlgError:
            pos = np.zeros(a.shape[:-2], dtype=bool)
        return tensor(sym & pos, device=value.device)


dependent = _Dependent()
real = _Real()
real_vector = _IndependentConstraint(real, 1)
positive = _GreaterThan(0.0)
nonnegative = _GreaterThanEq(0.0)
unit_interval = _Interval(0.0, 1.0)
simplex = _Simplex()
boolean = _Boolean()
one_hot = _OneHot()
nonnegative_integer = _NonnegativeInteger()
lower_cholesky = _LowerCholesky()
positive_definite = _PositiveDefinite()
interval = _Interval
half_open_interval = _HalfOpenInterval
greater_than = _GreaterThan
less_than = _LessThan
greater_than_eq = _GreaterThanEq
integer_interval = _IntegerInterval
independent = _IndependentConstraint
