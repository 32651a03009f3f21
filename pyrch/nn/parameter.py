"""nn.Parameter: a Tensor that a Module registers as one of its parameters."""
from .._tensor import Tensor


class Parameter(Tensor):
    """A Tensor that requires grad by default and that Modules register on assignment.

    >>> import pyrch
    >>> p = pyrch.nn.Parameter(pyrch.zeros(2))
    >>> p.requires_grad
    True
    """

    def __new__(cls, data=None, requires_grad=True):
        return object.__new__(cls)

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            from .._creation import empty
            data = empty(0)
        self._init(data._data, False)   # shares storage with `data`, as torch does
        self._vc = data._vc
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        from .._tensor import Tensor as _T
        p = Parameter(_T._wrap(self._data.copy()), self._rg)
        if self._grad is not None:
            p._grad = self._grad.__deepcopy__(memo)
        memo[id(self)] = p
        return p

    def __reduce_ex__(self, proto):
        return (_rebuild_parameter, (self._host(), self._rg))


def _rebuild_parameter(arr, rg):
    import numpy as np
    return Parameter(Tensor._wrap(np.array(arr)), rg)


class UninitializedParameter(Parameter):
    """Placeholder for lazily shaped parameters (not supported: shapes must be known)."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("pyrch does not support lazy modules yet")
