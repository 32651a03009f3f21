"""nn.Parameter, and the UninitializedParameter / UninitializedBuffer placeholders that
lazy modules hold until their first call infers the shapes (see nn/lazy.py)."""
import sys

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


# -- lazy placeholders ----------------------------------------------------------------------
_DATA = Tensor.__dict__["_data"]     # the slot that holds a tensor's array


def _user_of(frame):
    """What read a placeholder's data: the op being dispatched, else the calling function."""
    op = frame.f_locals.get("op")
    if isinstance(getattr(op, "name", None), str):
        return f"<op '{op.name}'>"
    code = frame.f_code
    return f"<function {getattr(code, 'co_qualname', code.co_name)}>"


def _use_message(cls, what):
    """torch's error for using a placeholder before it is materialized."""
    return (f"Attempted to use an uninitialized parameter in {what}. This error happens when you "
            "are using a `LazyModule` or explicitly manipulating "
            f"`torch.nn.parameter.{cls.__name__}` objects. When using LazyModules Call `forward` "
            "with a dummy batch to initialize the parameters before calling torch functions")


class UninitializedTensorMixin:
    """What UninitializedParameter and UninitializedBuffer share: no data until
    `materialize(shape)`; only dtype/device queries and moves work before that.

    The array slot is hidden behind a property, so every op (they all read it
    through dispatch) raises torch's ValueError; the empty array kept in the slot
    only carries the dtype and device that materialization will use.
    """
    cls_to_become = None

    @property
    def _data(self):
        raise ValueError(_use_message(type(self), _user_of(sys._getframe(1))))

    @_data.setter
    def _data(self, arr):
        _DATA.__set__(self, arr)

    def _shell(self):
        """A plain empty Tensor sharing the placeholder's array (its dtype and device)."""
        return Tensor._wrap(_DATA.__get__(self))

    def materialize(self, shape, device=None, dtype=None):
        """Become a real Parameter (or Tensor) of `shape`, uninitialised, keeping this
        placeholder's device and dtype unless others are given."""
        from .._creation import empty
        shell = self._shell()
        arr = empty(tuple(shape), device=device or shell.device, dtype=dtype or shell.dtype)._data
        self.__class__ = self.cls_to_become
        self._data, self._vc = arr, [0]

    @property
    def shape(self):
        raise RuntimeError(
            "Can't access the shape of an uninitialized parameter or buffer. This error usually "
            "happens in `load_state_dict` when trying to load an uninitialized parameter into an "
            "initialized one. Call `forward` to initialize the parameters before accessing their "
            "attributes.")

    def size(self, dim=None):
        return self._shell().size(dim)      # torch answers these from the empty data

    @property
    def dtype(self):
        return self._shell().dtype

    @property
    def device(self):
        return self._shell().device

    @property
    def is_cuda(self):
        return self._shell().is_cuda

    @property
    def is_cpu(self):
        return self._shell().is_cpu

    def get_device(self):
        return self._shell().get_device()

    def is_floating_point(self):
        return self._shell().is_floating_point()

    @property
    def requires_grad(self):
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value):
        # NOTE: as in torch, the attribute may be set but requires_grad_() is refused
        if value and not self.is_floating_point():
            raise RuntimeError("only Tensors of floating point and complex dtype can require "
                               "gradients")
        self._rg = bool(value)

    def requires_grad_(self, requires_grad=True):
        raise ValueError(_use_message(type(self), "<function Tensor.requires_grad_>"))

    @property
    def data(self):
        return self._shell()

    @data.setter
    def data(self, value):
        Tensor.data.fset(self, value)

    def to(self, *args, **kwargs):
        """Convert dtype/device; the result is a plain empty Tensor for a parameter (which
        Module.to then installs in place) and a new placeholder for a buffer, as in torch."""
        shell = self._shell()
        out = shell.to(*args, **kwargs)
        return self if out is shell else self._converted(out)

    def _converted(self, out):
        return out

    def share_memory_(self):
        raise RuntimeError(
            "Can't share memory on an uninitialized parameter or buffer. Call `forward` to "
            "initialize the parameters before calling `module.share_memory()`.")

    def __repr__(self):
        return f"<{type(self).__name__}>"

    __str__ = __repr__


def is_lazy(param):
    """True if `param` is an UninitializedParameter or UninitializedBuffer.

    >>> import pyrch
    >>> is_lazy(pyrch.nn.UninitializedParameter()), is_lazy(pyrch.nn.Parameter(pyrch.ones(1)))
    (True, False)
    """
    return isinstance(param, UninitializedTensorMixin)


def _placeholder_init(t, requires_grad, device, dtype):
    from .._creation import empty
    if not isinstance(requires_grad, bool):
        raise TypeError(f"{type(t).__name__}(): argument 'requires_grad' must be bool, not "
                        f"{type(requires_grad).__name__}")
    arr = empty(0, device=device, dtype=dtype)._data
    Tensor._init(t, arr, False)
    if requires_grad and arr.dtype.kind != "f":
        raise RuntimeError("only Tensors of floating point and complex dtype can require gradients")
    t._rg = requires_grad


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A Parameter whose shape is not known yet (what lazy modules hold before their first
    call); `materialize(shape)` turns it into a Parameter in place.

    >>> import pyrch
    >>> p = pyrch.nn.UninitializedParameter()
    >>> p.materialize((2, 3))
    >>> type(p).__name__, p.shape
    ('Parameter', pyrch.Size([2, 3]))
    """
    cls_to_become = Parameter

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, requires_grad=True, device=None, dtype=None):
        _placeholder_init(self, requires_grad, device, dtype)

    def __deepcopy__(self, memo):
        if id(self) not in memo:
            memo[id(self)] = type(self)(self._rg, self.device, self.dtype)
        return memo[id(self)]

    def __reduce_ex__(self, proto):
        return (type(self), (self._rg, str(self.device), self.dtype))


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer whose shape is not known yet; `materialize(shape)` turns it into a Tensor.

    >>> import pyrch
    >>> b = pyrch.nn.UninitializedBuffer()
    >>> b.materialize((4,))
    >>> type(b).__name__, b.shape
    ('Tensor', pyrch.Size([4]))
    """
    cls_to_become = Tensor

    def __init__(self, requires_grad=False, device=None, dtype=None, persistent=True):
        _placeholder_init(self, requires_grad, device, dtype)
        self.persistent = persistent
        self._is_buffer = True

    def _converted(self, out):
        return type(self)(self._rg, out.device, out.dtype, self.persistent)

    def __deepcopy__(self, memo):
        if id(self) not in memo:
            memo[id(self)] = type(self)(self._rg, self.device, self.dtype, self.persistent)
        return memo[id(self)]

    def __reduce_ex__(self, proto):
        return (type(self), (self._rg, str(self.device), self.dtype, self.persistent))
