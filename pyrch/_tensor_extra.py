"""Tensor methods torch has that pyrch builds out of its existing ops: the in-place forms of
composites (`x.addcdiv_`, `x.eq_`, `x.tril_`, ...), torch's spellings of in-place methods
pyrch already has (`x.clip_`, `x.divide_`, ...), the legacy linear-algebra methods
(`x.lu()`, `b.lu_solve(LU, piv)`, `b.triangular_solve(A)`, ...), the legacy constructors
(`x.new(...)`), `resize_`, `apply_` / `map_`, the post-accumulate-grad hook, and the
predicates and identities of real strided tensors (`x.layout`, `x.real`, `x.conj()`).

Every in-place method here goes through `dispatch_inplace`, as the generated ones do, so
version counters, in-place writes into views that take part in autograd, leaf checks
and dtype checks behave the same.

>>> import pyrch
>>> x = pyrch.tensor([1.0, 2.0, 3.0])
>>> x.addcmul_(x, x, value=2) is x
True
>>> x
tensor([ 3., 10., 21.])
"""
import collections
import math

import numpy as np

import pyrch as P   # (imported by pyrch/__init__ once the generated functions exist)
from ._dispatch import dispatch_inplace, state
from ._backend import cupy as _cupy
from ._dtype import TORCH_NAMES, as_dtype, get_default_dtype
from ._tensor import Size, Tensor

# the C++ type names torch prints in some in-place dtype errors
_CPP_NAME = {"bool": "bool", "uint8": "unsigned char", "int8": "signed char", "int16": "short int",
             "int32": "int", "int64": "long int", "float16": "c10::Half", "float32": "float",
             "float64": "double"}


class layout:
    """A tensor memory layout (torch.layout); pyrch tensors are all `pyrch.strided`."""
    __slots__ = ("_name",)

    def __init__(self, name):
        self._name = name

    def __repr__(self):
        return "pyrch." + self._name


strided = layout("strided")


def _attach(name, fn):
    """Make `fn` the method `name` unless Tensor defines it already."""
    if name not in Tensor.__dict__:
        setattr(Tensor, name, fn)


class _Named:
    """What `dispatch_inplace` reads of an op when it runs a composite (`call=`)."""
    __slots__ = ("name", "kind", "saves_inputs")

    def __init__(self, name):
        self.name, self.kind, self.saves_inputs = name, "composite", True


def _inplace(name, fn, doc=None):
    """`x.<name>_(*args)`: `fn(x, *args)` written back into x by `dispatch_inplace`."""
    o = _Named(name)

    def method(self, *args, **kwargs):
        return dispatch_inplace(o, self, (self,) + args, kwargs, call=fn)
    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = doc or f"In-place version of `{name}`."
    return method


def _type_name(dt):
    return TORCH_NAMES[dt.name]


# -- torch's other spellings of in-place methods pyrch has ------------------------------------

_ALIASES = {"clip_": "clamp_", "divide_": "div_", "multiply_": "mul_", "subtract_": "sub_",
            "negative_": "neg_", "absolute_": "abs_", "arccos_": "acos_", "arcsin_": "asin_",
            "arctan_": "atan_", "arccosh_": "acosh_", "arcsinh_": "asinh_", "arctanh_": "atanh_",
            "arctan2_": "atan2_", "fix_": "trunc_", "sgn_": "sign_"}   # sgn is sign for real input


def true_divide_(self, other):
    """In-place true division (`div_` without rounding)."""
    return self.div_(other)


# -- in-place forms of composites -------------------------------------------------------------

def _float_power_(self, exponent):
    if self.dtype.name != "float64":
        raise RuntimeError(f"the base given to float_power_ has dtype {_type_name(self.dtype)} but "
                           "the operation's result requires dtype Double")
    return dispatch_inplace(_Named("float_power"), self, (self, exponent), None, call=P.float_power)


def _ldexp_(self, other):
    if not self.is_floating_point():
        raise RuntimeError(f"ldexp can't be cast to the desired output type {_type_name(self.dtype)}")
    return dispatch_inplace(_Named("ldexp"), self, (self, other), None, call=P.ldexp)


def _mvlgamma_(self, p):
    if not self.is_floating_point():
        raise RuntimeError(f"mvlgamma: result type {_type_name(self.dtype)} can't be cast to the "
                           f"desired output type {_type_name(get_default_dtype())}")
    return dispatch_inplace(_Named("mvlgamma"), self, (self, p), None, call=P.mvlgamma)


def _polygamma_(self, n):
    return dispatch_inplace(_Named("polygamma"), self, (self, n), None,
                            call=lambda x, k: P.polygamma(k, x))


def _cumulative_(name):
    fn = getattr(P, name)
    o = _Named(name)

    def method(self, dim, *, dtype=None):
        if dtype is not None and as_dtype(dtype) != self.dtype:
            raise RuntimeError(f"Bad in-place call: input tensor dtype {_CPP_NAME[self.dtype.name]} "
                               f"and output tensor dtype {_CPP_NAME[as_dtype(dtype).name]} should match")
        return dispatch_inplace(o, self, (self, dim), None, call=fn)
    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"In-place `{name}` along `dim` (dtype, if given, must be this tensor's)."
    return method


def _zero_grad_of(a):
    """Zeros shaped like `a` that depend on it with a zero gradient (a non-differentiable
    result written into a tensor that has autograd history keeps a node, as in torch)."""
    return a.masked_fill(P.ones(a.shape, dtype=P.bool, device=a.device), 0)


def _comparison_(name, fn):
    o = _Named(name)

    def call(a, b):
        r = fn(a, b)
        if a._rg and state.grad_enabled:
            return _zero_grad_of(a) + r.to(a.dtype)
        return r

    def method(self, other):
        return dispatch_inplace(o, self, (self, other), None, call=call)
    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"In-place `{name}`: 1 where it holds, 0 elsewhere, in this tensor's dtype."
    return method


def _logical_(name, fn, unary=False):
    # NOTE: torch's in-place logical ops record no autograd node: a tensor with history keeps
    # it, and even a leaf that requires grad is written (no leaf error). Running the write
    # with grad mode off does exactly that.
    o = _Named(name)

    def method(self, *other):
        prev = state.grad_enabled
        state.grad_enabled = False
        try:
            return dispatch_inplace(o, self, (self,) + other, None, call=fn)
        finally:
            state.grad_enabled = prev
    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"In-place `{name}` (written as 0/1 in this tensor's dtype; no gradient)."
    return method


def fill_diagonal_(self, fill_value, wrap=False):
    """Fill the main diagonal of a tensor of at least 2 dims (all of one length beyond 2);
    with `wrap`, a tall matrix's diagonal restarts every `ncols + 1` rows, as in torch."""
    nd = self.dim()
    if nd < 2:
        raise RuntimeError("dimensions must larger than 1")
    shape = tuple(self.shape)
    if nd > 2 and len(set(shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    base = self if self._base is None else self._base
    if state.grad_enabled and base._rg and base.grad_fn is None:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                           "in-place operation.")
    n = min(shape)
    if nd == 2:
        m, c = shape
        parts = [np.arange(n) * (c + 1)]
        if wrap and m > c + 1:      # torch writes the wrapped part second (a second version bump)
            parts.append(np.arange(n * (c + 1), m * c, c + 1))
    else:
        parts = [np.arange(n) * sum(math.prod(shape[i + 1:]) for i in range(nd))]
    for flat in parts:
        mask = np.zeros(self.numel(), dtype=bool)
        mask[flat] = True
        self.masked_fill_(P.from_numpy(mask.reshape(shape)).to(self.device), fill_value)
    return self


# -- methods ---------------------------------------------------------------------------------

def where(self, condition, other):
    """`self` where `condition` holds, `other` elsewhere (`pyrch.where(condition, self, other)`)."""
    return P.where(condition, self, other)


def sum_to_size(self, *size):
    """Sum this tensor down to `size`, which must be expandable to this tensor's shape."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    size = tuple(int(s) for s in size)
    shape = tuple(self.shape)
    ok = len(size) <= len(shape) and all(
        s == d or s == 1 for s, d in zip(size[::-1], shape[::-1]))
    if not ok:
        raise RuntimeError(f"size {{{list(size)}}} is not expandable to size {{{list(shape)}}}.")
    return self.sum_to(size)


def storage_offset(self):
    """How many elements into its storage (the tensor it is a view of) this tensor starts."""
    base = self._base
    if base is None:
        return 0
    return (self.data_ptr() - base.data_ptr()) // self.element_size()


def prelu(self, weight):
    """`nn.functional.prelu(self, weight)`."""
    from .nn import functional as F
    return F.prelu(self, weight)


def hardshrink(self, lambd=0.5):
    """`nn.functional.hardshrink(self, lambd)`."""
    from .nn import functional as F
    return F.hardshrink(self, lambd)


def polygamma(self, n):
    """`pyrch.polygamma(n, self)`."""
    return P.polygamma(n, self)


def _ret(name, fields):
    cls = collections.namedtuple(name, fields)
    cls.__module__ = "pyrch.return_types"
    return cls


_QrT = _ret("qr", ("Q", "R"))
_TriSolveT = _ret("triangular_solve", ("solution", "cloned_coefficient"))


def qr(self, some=True):
    """(Q, R) of this (..., m, n) tensor: `linalg.qr` with mode 'reduced' (some) or 'complete'."""
    from . import linalg
    q, r = linalg.qr(self, "reduced" if some else "complete")
    return _QrT(q, r)


def lu(self, pivot=True, get_infos=False):
    """(LU, pivots[, infos]) of this (..., m, n) tensor by Gaussian elimination with partial
    pivoting, packed as LAPACK's getrf does: L (unit diagonal, not stored) below the
    diagonal, U on and above it, pivots 1-based int32 row swaps, infos int32 (0, or 1 + the
    first zero pivot's position). Differentiable (the pivots chosen are constants)."""
    if not pivot:
        raise RuntimeError("linalg.lu_factor: LU without pivoting is not implemented on the CPU")
    if self.dim() < 2:
        raise RuntimeError("linalg.lu_factor: The input tensor A must have at least 2 dimensions.")
    *batch, m, n = self.shape
    batch = tuple(batch)
    k = min(m, n)
    a = self
    pivots = np.zeros(batch + (k,), dtype=np.int32)
    infos = np.zeros(batch, dtype=np.int32)
    rows = np.broadcast_to(np.arange(m), batch + (m,))
    for j in range(k):
        col = np.abs(a[..., j:, j].detach()._host())
        p = np.argmax(col, axis=-1) + j
        pivots[..., j] = p + 1
        if np.any(p != j):
            idx = rows.copy()
            np.put_along_axis(idx, np.full(batch + (1,), j), p[..., None], axis=-1)
            np.put_along_axis(idx, p[..., None], np.full(batch + (1,), j), axis=-1)
            index = P.from_numpy(idx[..., None]).to(self.device).expand(*batch, m, n)
            a = a.gather(-2, index)
        d = a[..., j, j]
        zero = (d == 0)
        if bool(zero.any()):
            zh = zero._host()
            infos = np.where((infos == 0) & zh, j + 1, infos).astype(np.int32)
            d = d.masked_fill(zero, 1)
        if j + 1 == m:
            break
        low = a[..., j + 1:, j:j + 1] / d[..., None, None]
        rest = a[..., j + 1:, j + 1:] - low * a[..., j:j + 1, j + 1:]
        a = P.cat([a[..., :j + 1, :], P.cat([a[..., j + 1:, :j], low, rest], -1)], -2)
    out = (a, P.from_numpy(pivots).to(self.device))
    return out + (P.from_numpy(np.asarray(infos, dtype=np.int32)).to(self.device),) if get_infos else out


def _apply_pivots(b, pivots):
    """b's rows permuted as the 1-based row swaps `pivots` (LAPACK's getrf) do, in order."""
    piv = np.asarray(pivots._host(), dtype=np.int64) - 1
    n = b.shape[-2]
    batch = tuple(b.shape[:-2])
    perm = np.array(np.broadcast_to(np.arange(n), batch + (n,)))
    piv = np.broadcast_to(piv, batch + piv.shape[-1:])
    for j in range(piv.shape[-1]):
        pj = piv[..., j:j + 1]
        at_j = perm[..., j:j + 1].copy()
        np.put_along_axis(perm, np.full(batch + (1,), j), np.take_along_axis(perm, pj, -1), -1)
        np.put_along_axis(perm, pj, at_j, -1)
    index = P.from_numpy(perm[..., None]).to(b.device).expand(*b.shape)
    return b.gather(-2, index)


def lu_solve(self, LU_data, LU_pivots):
    """X with A X = self, where (LU_data, LU_pivots) is `A.lu()`; batch dims broadcast."""
    from . import linalg
    batch = P.broadcast_shapes(tuple(self.shape[:-2]), tuple(LU_data.shape[:-2]))
    b = self.expand(*batch, *self.shape[-2:])
    n = LU_data.shape[-1]
    eye = P.eye(n, dtype=LU_data.dtype, device=LU_data.device)
    low = LU_data.tril(-1) + eye
    up = LU_data.triu()
    if tuple(LU_pivots.shape[:-1]) != batch:
        LU_pivots = LU_pivots.expand(*batch, LU_pivots.shape[-1])
    return linalg.solve(up, linalg.solve(low, _apply_pivots(b, LU_pivots)))


def triangular_solve(self, A, upper=True, transpose=False, unitriangular=False):
    """(X, A.clone()) with T X = self, T the upper (or lower) triangle of A (its diagonal
    taken as ones if `unitriangular`; T transposed if `transpose`)."""
    from . import linalg
    t = A.triu(1 if unitriangular else 0) if upper else A.tril(-1 if unitriangular else 0)
    if unitriangular:
        t = t + P.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    if transpose:
        t = t.mT
    return _TriSolveT(linalg.solve(t, self), A.clone())


def _factor_product(factor, upper):
    # NOTE: torch's gradient for the factor is that of the full L @ L^T (not masked to the
    # triangle) while its value reads only the triangle: the other triangle enters with
    # value zero and gradient one.
    tri = factor.triu() if upper else factor.tril()
    if factor._rg and state.grad_enabled:
        tri = factor + (tri - factor).detach()
    return tri.mT @ tri if upper else tri @ tri.mT


def cholesky_solve(self, input2, upper=False):
    """X with A X = self, A = L L^T for the Cholesky factor L = input2 (U^T U if `upper`)."""
    from . import linalg
    return linalg.solve(_factor_product(input2, upper), self)


def cholesky_inverse(self, upper=False):
    """The inverse of A = L L^T (U^T U if `upper`) from its Cholesky factor, this tensor."""
    from . import linalg
    return linalg.inv(_factor_product(self, upper))


_NEW_SIGNATURES = (" * (*, pyrch.device device = None)\n * (Tensor other)\n"
                   " * (tuple of ints size, *, pyrch.device device = None)\n"
                   " * (object data, *, pyrch.device device = None)\n")


def new(self, *args, device=None, **kwargs):
    """torch's legacy constructor: `x.new()` (empty), `x.new(2, 3)` or `x.new(pyrch.Size(...))`
    (uninitialised; zeros here), `x.new(data)` (a copy in x's dtype), `x.new(tensor)` (an alias
    of a tensor of x's dtype). On x's device unless `device` is given."""
    if kwargs:
        got = ", ".join([type(a).__name__ for a in args] +
                        [f"{k}={type(v).__module__}.{type(v).__name__}" for k, v in kwargs.items()])
        raise TypeError(f"new() received an invalid combination of arguments - got ({got}), but "
                        f"expected one of:\n{_NEW_SIGNATURES}")
    device = device or self.device
    if not args:
        return P.empty(0, dtype=self.dtype, device=device)
    if all(isinstance(a, int) and not isinstance(a, bool) for a in args) or \
            (len(args) == 1 and isinstance(args[0], Size)):
        return P.zeros(*args, dtype=self.dtype, device=device)
    if len(args) == 1 and isinstance(args[0], Tensor):
        other = args[0]
        if other.dtype != self.dtype:
            def opts(t):
                return (f"TensorOptions(dtype={_CPP_NAME[t.dtype.name]}, device={t.device}, "
                        "layout=Strided, requires_grad=false (default), pinned_memory=false "
                        "(default), memory_format=(nullopt))")
            raise TypeError(f"expected {opts(self)} (got {opts(other)})")
        return Tensor._wrap(other._data)
    if len(args) == 1:
        return P.tensor(args[0], dtype=self.dtype, device=device)
    got = ", ".join(type(a).__name__ for a in args)
    raise TypeError(f"new() received an invalid combination of arguments - got ({got}), but "
                    f"expected one of:\n{_NEW_SIGNATURES}")


def new_empty_strided(self, size, stride, *, dtype=None, device=None, requires_grad=False):
    """An uninitialised (here: zero) tensor of `size` with element strides `stride`."""
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride):
        raise RuntimeError(f"dimensionality of sizes ({len(size)}) must match dimensionality of "
                           f"strides ({len(stride)})")
    dt = as_dtype(dtype) if dtype is not None else self.dtype
    n = 1 + sum((s - 1) * st for s, st in zip(size, stride)) if all(size) else 0
    buf = P.zeros(n, dtype=dt, device=device or self.device)
    d = buf._data
    xp = np if type(d) is np.ndarray else _cupy()
    arr = xp.lib.stride_tricks.as_strided(d, size, tuple(st * d.itemsize for st in stride))
    t = Tensor._wrap(arr)
    return t.requires_grad_() if requires_grad else t


def resize_(self, *sizes, memory_format=None):
    """Give this contiguous tensor shape `sizes`: its elements in order are kept (as many as
    fit), new ones are uninitialised (zeros here). Tensors that require grad cannot be resized."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = sizes[0]
    shape = tuple(int(s) for s in sizes)
    if self._rg:
        raise RuntimeError("cannot resize variables that require grad")
    if any(s < 0 for s in shape):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(shape)}: "
                           f"{list(shape)}")
    if shape == tuple(self.shape):
        return self
    d = self._data
    if not d.flags.c_contiguous:
        raise RuntimeError("resize_: pyrch resizes only contiguous tensors; call .contiguous() "
                           "first")
    n = math.prod(shape)
    flat = d.reshape(-1)
    if n <= flat.size:
        self._data = flat[:n].reshape(shape)       # still the same memory, as torch keeps it
    else:
        new_data = (np if type(d) is np.ndarray else _cupy()).zeros(n, dtype=d.dtype)
        new_data[:flat.size] = flat
        self._data = new_data.reshape(shape)
    self._vc[0] += 1
    return self


def resize_as_(self, the_template, memory_format=None):
    """`resize_` to `the_template`'s shape."""
    return self.resize_(tuple(the_template.shape))


def _python_elementwise(name, self, others):
    if not self.is_cpu:
        raise RuntimeError(f"{name} is only implemented on CPU tensors")
    if self._rg or any(o._rg for o in others):
        raise RuntimeError(f"Can't call {name}() on Variable that requires grad. Use "
                           f"var.detach().{name}() instead.")


def apply_(self, callable):
    """Replace each element v with `callable(v)` (a Python number in, one out); CPU only,
    no autograd, and slow: it calls Python once per element."""
    _python_elementwise("apply_", self, ())
    d = self._data
    vals = [callable(v) for v in d.reshape(-1).tolist()]
    d[...] = np.array(vals).astype(d.dtype).reshape(d.shape) if vals else d
    return self


def map_(self, tensor, callable):
    """Replace each element a with `callable(a, b)`, b the matching element of `tensor`
    broadcast to this tensor's shape; CPU only, no autograd, one Python call per element."""
    _python_elementwise("map_", self, (tensor,))
    d = self._data
    other = tensor.expand(*self.shape)._data
    vals = [callable(a, b) for a, b in zip(d.reshape(-1).tolist(), other.reshape(-1).tolist())]
    d[...] = np.array(vals).astype(d.dtype).reshape(d.shape) if vals else d
    return self


def register_post_accumulate_grad_hook(self, hook):
    """hook(tensor) runs after the backward pass has accumulated into this leaf's `.grad`."""
    if not self._rg:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if self.grad_fn is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    from .autograd.node import _Handle
    if self._extra is None:
        self._extra = {}
    hooks = self._extra.setdefault("post_accumulate_grad_hooks", [])
    hooks.append(hook)
    return _Handle(hooks, hook)


def angle(self):
    """The argument of each element as a complex number: pi for negative reals, 0 otherwise
    (nan stays nan); floating point out, gradient zero."""
    x = self if self.is_floating_point() else self.to(get_default_dtype())
    val = P.where(x < 0, math.pi, 0.0).to(x.dtype)
    val = P.where(x.isnan(), x.detach(), val)
    return _zero_grad_of(x) + val if x._rg and state.grad_enabled else val


def _imag(self):
    raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")


def adjoint(self):
    """The conjugate transpose of the last two dims (the transpose, for real tensors)."""
    if self.dim() < 2:
        raise RuntimeError("tensor.adjoint() is only supported on matrices or batches of matrices. "
                           f"Got {self.dim()}-D tensor.")
    return self.transpose(-2, -1)


def _self(self):
    """This tensor itself (what the method gives for a real, strided tensor)."""
    return self


def pin_memory(self, device=None):
    """This tensor itself: pyrch's CPU arrays have no page-locked form (torch copies into
    pinned memory, or fails without an accelerator)."""
    return self


def ger(self, vec2):
    """The outer product with `vec2` (torch's older name for `outer`)."""
    return P.outer(self, vec2)


def narrow_copy(self, dim, start, length):
    """A contiguous copy of `narrow(dim, start, length)`."""
    return self.narrow(dim, start, length).clone()


def _false(self):
    """False: pyrch tensors are real, strided, dense and never inference or shared tensors."""
    return False


def _install():
    for alias, target in _ALIASES.items():
        _attach(alias, getattr(Tensor, target))
    for name in ("addcdiv", "addcmul", "addmm", "baddbmm", "renorm"):
        _attach(name + "_", _inplace(name, getattr(P, name)))
    for name in ("cumsum", "cumprod"):
        _attach(name + "_", _cumulative_(name))
    for name, target in (("eq", "eq"), ("ne", "ne"), ("lt", "lt"), ("le", "le"), ("gt", "gt"),
                         ("ge", "ge"), ("greater", "gt"), ("greater_equal", "ge"), ("less", "lt"),
                         ("less_equal", "le"), ("not_equal", "ne")):
        _attach(name + "_", _comparison_(name, getattr(P, target)))
    for name in ("logical_and", "logical_or", "logical_xor", "logical_not"):
        _attach(name + "_", _logical_(name, getattr(P, name)))
    for name in ("tril", "triu"):
        o = P._ops.OPS[name]
        _attach(name + "_", lambda self, diagonal=0, o=o: dispatch_inplace(
            o, self, (self,), {"diagonal": diagonal}))
    extra = {"true_divide_": true_divide_, "float_power_": _float_power_, "ldexp_": _ldexp_,
             "mvlgamma_": _mvlgamma_, "polygamma_": _polygamma_, "fill_diagonal_": fill_diagonal_,
             "where": where, "sum_to_size": sum_to_size, "storage_offset": storage_offset,
             "prelu": prelu, "hardshrink": hardshrink, "polygamma": polygamma, "qr": qr, "lu": lu,
             "lu_solve": lu_solve, "triangular_solve": triangular_solve,
             "cholesky_solve": cholesky_solve, "cholesky_inverse": cholesky_inverse, "new": new,
             "new_empty_strided": new_empty_strided, "resize_": resize_, "resize_as_": resize_as_,
             "apply_": apply_, "map_": map_,
             "register_post_accumulate_grad_hook": register_post_accumulate_grad_hook,
             "angle": angle, "adjoint": adjoint, "conj": _self, "conj_physical": _self,
             "conj_physical_": _self, "resolve_conj": _self, "resolve_neg": _self,
             "is_conj": _false, "is_neg": _false, "is_inference": _false, "is_pinned": _false,
             "is_shared": _false, "pin_memory": pin_memory, "share_memory_": _self,
             "ger": ger, "narrow_copy": narrow_copy, "const_data_ptr": Tensor.data_ptr}
    for name, fn in extra.items():
        _attach(name, fn)
    props = {"real": property(_self), "imag": property(_imag),
             "layout": property(lambda self: strided),
             "output_nr": property(lambda self: 0), "is_meta": property(_false),
             "is_sparse": property(_false), "is_quantized": property(_false),
             "is_nested": property(_false)}
    for name, p in props.items():
        _attach(name, p)


_install()
