"""Tensor: an array (numpy or cupy), autograd fields and a version counter.

Op methods (`x.exp()`, `x.sum(dim)`, `x + y`) are generated from the op
registry in `_functions.py`; this file holds only what is about the tensor
itself: properties, conversions, autograd entry points and Python protocols.

>>> import pyrch
>>> x = pyrch.tensor([1.0, 2.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4.])
"""
import numpy as np

from . import _dispatch
from ._backend import CPU, device, device_of, to_device
from ._dtype import NP2DT, TORCH_NAMES, as_dtype, float32
from ._dispatch import dispatch, dispatch_inplace, state


class Size(tuple):
    """A tensor shape: a tuple that prints as `pyrch.Size([2, 3])`."""
    __slots__ = ()

    def __repr__(self):
        return f"pyrch.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, key):
        out = tuple.__getitem__(self, key)
        return Size(out) if isinstance(key, slice) else out      # x.shape[1:] is a Size

    def __add__(self, other):
        return Size(tuple.__add__(self, tuple(other)))

    def __radd__(self, other):
        return Size(tuple(other) + tuple(self))


_TYPE_NAMES = {k: v + "Tensor" for k, v in TORCH_NAMES.items()}   # "FloatTensor", ...


_ENGINE = [None]     # autograd.engine.backward, imported on first use (a cycle at import)
_REVERSED = tuple(tuple(range(nd - 1, -1, -1)) for nd in range(8))   # x.T's dims by ndim


_PERMUTE = []        # the permute op, looked up on first use (the registry imports Tensor)


def _permute_op():
    if not _PERMUTE:
        from .ops.registry import OPS
        _PERMUTE.append(OPS["permute"])
    return _PERMUTE[0]


class Tensor:
    """A multi-dimensional array with autograd, on 'cpu' (numpy) or 'cuda' (cupy)."""
    __slots__ = ("_data", "_rg", "grad_fn", "_grad", "_vc", "_base", "_hooks", "_extra",
                 "__weakref__", "__dict__")
    __array_priority__ = 1000   # so numpy_array + tensor defers to Tensor.__radd__

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, dtype=None, device=None):
        # torch.Tensor(2, 3) -> uninitialised float tensor; torch.Tensor([1, 2]) -> float copy
        from ._creation import tensor as _tensor_fn
        if len(args) == 1 and not isinstance(args[0], int):
            t = _tensor_fn(args[0], dtype=dtype or float32, device=device)
            arr = t._data
        else:
            shape = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
            arr = np.zeros(tuple(shape), dtype=(dtype and as_dtype(dtype) or float32).np)
        self._init(arr)

    def _init(self, arr, rg=False):
        self._data = arr
        self._rg = rg
        self.grad_fn = None
        self._grad = None
        self._vc = [0]
        self._base = None
        self._hooks = None
        self._extra = None

    @classmethod
    def _wrap(cls, arr):
        t = object.__new__(cls)
        t._data = arr
        t._rg = False
        t.grad_fn = None
        t._grad = None
        t._vc = [0]
        t._base = None
        t._hooks = None
        t._extra = None
        return t

    # -- metadata ---------------------------------------------------------------------
    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[self._dim(dim)]

    def _dim(self, dim):
        nd = self._data.ndim
        if not -max(nd, 1) <= dim < max(nd, 1):
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[{-max(nd, 1)}, {max(nd, 1) - 1}], but got {dim})")
        return dim % nd if nd else 0

    def dim(self):
        return self._data.ndim

    ndimension = dim

    @property
    def ndim(self):
        return self._data.ndim

    def numel(self):
        return int(self._data.size)

    nelement = numel

    def element_size(self):
        return self._data.dtype.itemsize

    @property
    def itemsize(self):
        return self._data.dtype.itemsize

    @property
    def nbytes(self):
        return int(self._data.nbytes)

    @property
    def dtype(self):
        return NP2DT[self._data.dtype]

    @property
    def device(self):
        d = self._data
        return CPU if type(d) is np.ndarray else device_of(d)

    @property
    def is_cuda(self):
        return type(self._data) is not np.ndarray

    @property
    def is_cpu(self):
        return type(self._data) is np.ndarray

    def get_device(self):
        return -1 if self.is_cpu else self.device.index

    def is_floating_point(self):
        return self._data.dtype.kind == "f"

    def is_complex(self):
        return False

    def type(self, dtype=None):
        if dtype is None:
            return "pyrch." + _TYPE_NAMES[self.dtype.name]
        return self.to(dtype)

    def stride(self, dim=None):
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[self._dim(dim)]

    def is_contiguous(self, memory_format=None):
        return bool(self._data.flags.c_contiguous)

    def data_ptr(self):
        d = self._data
        return d.__array_interface__["data"][0] if type(d) is np.ndarray else d.data.ptr

    @property
    def _version(self):
        return self._vc[0]

    # -- autograd fields -----------------------------------------------------------
    @property
    def requires_grad(self):
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad=True):
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If "
                               "you want to use a computed variable in a subgraph that doesn't "
                               "require differentiation use var_no_grad = var.detach().")
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError("only Tensors of floating point and complex dtype can require gradients")
        self._rg = bool(requires_grad)
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got {type(value).__name__}")
            if value._data.shape != self._data.shape:
                raise RuntimeError(f"assigned grad has data of a different size: {list(value.shape)} "
                                   f"vs {list(self.shape)}")
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(f"assigned grad has data of a different type: {value.dtype} vs {self.dtype}")
        if state.tracer is not None:
            state.tracer.on_grad_set(self, value)
        self._grad = value

    @property
    def retains_grad(self):
        return self.grad_fn is not None and self.grad_fn._retain is not None

    def retain_grad(self):
        if self.grad_fn is None:
            return
        if not self._rg:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        import weakref
        self.grad_fn._retain = weakref.ref(self)

    def register_hook(self, hook):
        """hook(grad) runs when this tensor's gradient is computed; it may return a new grad."""
        if not self._rg:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            return self.grad_fn.register_prehook(hook)
        from .autograd.node import _Handle
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return _Handle(self._hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate the gradient of this tensor w.r.t. graph leaves into their `.grad`."""
        backward = _ENGINE[0]
        if backward is None:
            from .autograd.engine import backward
            _ENGINE[0] = backward
        backward((self,), None if gradient is None else (gradient,), retain_graph,
                 create_graph, inputs)

    # -- in-place shape ops: the tensor becomes a view of itself --------------------------
    def _restride_(self, new):
        """Make this tensor `new` (a view op's result on it), as torch's t_() etc. do."""
        if state.grad_enabled and self._rg and self.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation.")
        self._data = new._data
        if new._rg:
            self._rg, self.grad_fn = True, new.grad_fn
        tracer = state.tracer if state.hooks else None
        if tracer is not None:
            tracer.bind(self, tracer.value_of(new))
        return self

    def unsqueeze_(self, dim):
        """In-place `unsqueeze`: this tensor gains a size-1 dimension at `dim`."""
        return self._restride_(self.unsqueeze(dim))

    def squeeze_(self, *dim):
        """In-place `squeeze`."""
        return self._restride_(self.squeeze(*dim))

    def t_(self):
        """In-place `t()` (transpose of a tensor of at most 2 dimensions)."""
        return self._restride_(self.t())

    def transpose_(self, dim0, dim1):
        """In-place `transpose`."""
        return self._restride_(self.transpose(dim0, dim1))

    swapdims_ = swapaxes_ = transpose_

    def detach_(self):
        if self._base is not None and self._rg:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self.grad_fn = None
        self._rg = False
        return self

    def _snapshot(self):
        """A copy of the current value that keeps this tensor's autograd history."""
        t = Tensor._wrap(self._data.copy())
        t._rg, t.grad_fn = self._rg, self.grad_fn
        return t

    @property
    def data(self):
        return self.detach()

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError("Tensor.data must be set to a Tensor")
        self._data = value._data

    # -- conversions ------------------------------------------------------------------
    def _scalar_read(self, kind):
        if state.tracer is not None:
            return state.tracer.on_scalar(self, kind)
        return None

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        r = self._scalar_read("item")
        if r is not None:
            return r
        return self._data.reshape(()).item() if type(self._data) is np.ndarray else self._data.item()

    def tolist(self):
        self._scalar_read("tolist")
        return self._host().tolist()

    def _host(self):
        d = self._data
        return d if type(d) is np.ndarray else d.get()

    def numpy(self, *, force=False):
        if self._rg and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        if self.is_cuda and not force:
            raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() "
                            "to copy the tensor to host memory first.")
        self._scalar_read("numpy")
        return self._host()

    def __array__(self, dtype=None, copy=None):
        self._scalar_read("numpy")
        a = self._host()
        return a if dtype is None else a.astype(dtype)

    def __dlpack__(self, *args, **kwargs):
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    @property
    def __cuda_array_interface__(self):
        if self.is_cpu:
            raise AttributeError("a CPU tensor has no __cuda_array_interface__")
        return self._data.__cuda_array_interface__

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous")
        r = self._scalar_read("bool")
        if r is not None:
            return r
        return bool(self._host().reshape(()))

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __complex__(self):
        return complex(self.item())

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        if state.tracer is not None:
            state.tracer.on_scalar(self, "iter")
        return iter(self.unbind(0))

    def __hash__(self):
        return id(self)

    def __contains__(self, element):
        return bool((self == element).any())

    def __reduce_ex__(self, proto):
        from ._creation import tensor as _tensor_fn
        return (_rebuild, (self._host(), self._rg))

    def __deepcopy__(self, memo):
        t = Tensor._wrap(self._data.copy()) if type(self) is Tensor else \
            type(self).__new__(type(self))
        if type(self) is not Tensor:
            t._init(self._data.copy(), self._rg)
            t.__dict__.update({k: v for k, v in self.__dict__.items()})
        t._rg = self._rg
        if self._grad is not None:
            t._grad = self._grad.__deepcopy__(memo)
        memo[id(self)] = t
        return t

    def __format__(self, spec):
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __repr__(self):
        from ._tensor_str import tensor_repr
        return tensor_repr(self)

    __str__ = __repr__

    def _repr_html_(self):
        from ._display import tensor_html
        return tensor_html(self)

    # -- dtype/device movement -------------------------------------------------------
    def to(self, *args, dtype=None, device=None, non_blocking=False, copy=False):
        """`x.to(dtype)`, `x.to(device)`, `x.to(other)`, `x.to(device, dtype)`."""
        from ._dtype import dtype as _dt
        from ._dtype import _NAMES
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, _dt) or (isinstance(a, str) and a in _NAMES) or (
                    not isinstance(a, (str, _dev_type)) and a is not None and not isinstance(a, int)):
                dtype = a
            elif a is not None:
                device = a
        out = self
        if dtype is not None:
            dtype = as_dtype(dtype)
            if dtype.np != out._data.dtype:
                out = dispatch(_ops.OPS["to_dtype"], (out,), {"dtype": dtype})
        if device is not None:
            dev = _dev_type(device)
            if dev is not out.device:
                out = dispatch(_ops.OPS["to_device"], (out,), {"device": str(dev), "src": str(out.device)})
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None, non_blocking=False):
        return self.to("cuda" if device is None else _dev_type("cuda", device) if isinstance(device, int) else device)

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to("float64")

    def half(self):
        return self.to("float16")

    def long(self):
        return self.to("int64")

    def int(self):
        return self.to("int32")

    def short(self):
        return self.to("int16")

    def char(self):
        return self.to("int8")

    def byte(self):
        return self.to("uint8")

    def bool(self):
        return self.to("bool")

    def type_as(self, other):
        return self.to(other.dtype)

    # -- views, indexing --------------------------------------------------------------
    @property
    def T(self):
        nd = self._data.ndim
        return dispatch(_permute_op(), (self,), {"dims": _REVERSED[nd] if nd < 8 else
                                                 tuple(range(nd - 1, -1, -1))})

    @property
    def mT(self):
        if self._data.ndim < 2:
            raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. "
                               f"Got {self._data.ndim}-D tensor.")
        return self.transpose(-2, -1)

    @property
    def H(self):
        return self.T

    @property
    def mH(self):
        return self.mT

    def __getitem__(self, key):
        return _ops.index.getitem(self, key)

    def __setitem__(self, key, value):
        _ops.index.setitem(self, key, value)

    # -- in-place helpers (not elementwise ops) -----------------------------------
    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        return dispatch_inplace(_ops.OPS["fill"], self, (self, value))

    def copy_(self, src, non_blocking=False):
        if not isinstance(src, Tensor):
            from ._creation import tensor as _tensor_fn
            src = _tensor_fn(src)
        if src.device != self.device:
            src = src.to(self.device)
        return dispatch_inplace(_ops.OPS["copy"], self, (self, src))

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        from ._creation import tensor as _tensor_fn
        return _tensor_fn(data, dtype=dtype or self.dtype, device=device or self.device,
                          requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        from ._creation import zeros
        return zeros(*size, dtype=dtype or self.dtype, device=device or self.device,
                     requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        from ._creation import ones
        return ones(*size, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return self.new_zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        from ._creation import full
        return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)


def _rebuild(arr, rg):
    t = Tensor._wrap(np.array(arr))
    t._rg = rg
    return t


_dev_type = device
_dispatch.Tensor = Tensor
from .autograd import node as _node  # noqa: E402
_node._T[0] = Tensor
from . import ops as _ops  # noqa: E402  (registry needs Tensor defined first)


def _method_sum_to(self, shape):
    if tuple(self._data.shape) == tuple(shape):
        return self
    return dispatch(_ops.OPS["sum_to"], (self,), {"shape": tuple(shape)})


Tensor.sum_to = _method_sum_to
