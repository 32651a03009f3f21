"""Custom autograd functions, PyTorch-style.

Subclass `Function`, give it static `forward(ctx, ...)` and `backward(ctx, *grads)`
and call `Fn.apply(...)`. forward runs under no_grad; `apply` attaches one graph
node (the `ctx` itself, like torch's `FnBackward`) whose backward calls yours.
Write backward in pyrch ops and `create_graph=True` differentiates it again.

>>> import pyrch
>>> class Cube(pyrch.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x * x * x
...     @staticmethod
...     def backward(ctx, g):
...         x, = ctx.saved_tensors
...         return g * 3 * x * x
>>> x = pyrch.tensor([2.0], requires_grad=True)
>>> Cube.apply(x).backward()
>>> x.grad
tensor([12.])
"""
import functools

from .._dispatch import state
from .node import Node, _FREED, _T, _modified


class FunctionCtx:
    """What `ctx` offers inside forward / setup_context (torch's method names)."""

    def save_for_backward(self, *tensors):
        """Keep tensors (or None) for backward; read them back as `ctx.saved_tensors`."""
        self._to_save = tensors

    def mark_dirty(self, *tensors):
        """Declare inputs that forward modified in place (they must be returned)."""
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors):
        """Declare outputs that get no gradient (they come out with requires_grad=False)."""
        self._non_diff = tensors

    def set_materialize_grads(self, value):
        """With False, backward sees None (not zeros) for outputs that got no gradient."""
        self._materialize = bool(value)


class BackwardCFunction(Node, FunctionCtx):
    """The graph node of one `Fn.apply` call; also the `ctx` forward and backward see."""
    _forward_cls = None

    def __init__(self, args, needs):
        Tensor = _T[0]
        self.op = self.attrs = self.saved = self.versions = self.out = self.out_vc = None
        self._hooks = self._pre_hooks = self._retain = self._inplace_of = self.metadata = None
        self.edges = tuple((a.grad_fn or a) if n else None for a, n in zip(args, needs))
        self.shapes = tuple(a._data.shape if isinstance(a, Tensor) else None for a in args)
        self.dtypes = tuple(a._data.dtype if isinstance(a, Tensor) else None for a in args)
        self._is_tensor = tuple(isinstance(a, Tensor) for a in args)
        self.needs_input_grad = tuple(needs)
        self._to_save = self._dirty = self._non_diff = ()
        self._materialize = True
        self._outs = ()      # (shape, dtype, device) per forward output, for zero grads

    # -- torch-shaped introspection ----------------------------------------------------
    def name(self):
        """`FnBackward`, as torch names a custom Function's node."""
        return type(self).__name__

    def __repr__(self):
        return f"<{type(self).__name__} object at {hex(id(self))}>"

    @property
    def saved_tensors(self):
        """The tensors given to save_for_backward, checked against later in-place changes."""
        if self.saved is _FREED:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed). Saved intermediate values of the "
                "graph are freed when you call .backward() or autograd.grad(). Specify "
                "retain_graph=True if you need to backward through the graph a second time or "
                "if you need to access saved tensors after calling backward.")
        if self.saved is None:     # still inside forward
            return tuple(self._to_save)
        for i, (t, v) in enumerate(zip(self.saved, self.versions)):
            if v is not None and t._vc[0] != v:
                _modified(t._data, t._vc[0], v, f"saved tensor {i}", self.name())
        return self.saved

    saved_variables = saved_tensors

    def release(self):
        if self.saved:
            self.saved = _FREED

    # -- running ------------------------------------------------------------------------
    def apply(self, g, create_graph):
        """Call the user's backward; check, reduce and cast what it returns."""
        grads = g.grads if isinstance(g, _Partial) else {0: g}
        gs = []
        for i, meta in enumerate(self._outs):
            gi = grads.get(i)
            if gi is None and self._materialize and meta is not None:
                from .._creation import zeros
                gi = zeros(meta[0], dtype=meta[1], device=meta[2])
            gs.append(gi)
        res = self._forward_cls.backward(self, *gs)
        if not isinstance(res, tuple):
            res = (res,)
        n_in = len(self._is_tensor)
        if len(res) > n_in and all(r is None for r in res[n_in:]):
            res = res[:n_in]
        if len(res) != n_in:
            raise RuntimeError(f"function {self.name()} returned an incorrect number of gradients "
                               f"(expected {n_in}, got {len(res)})")
        Tensor = _T[0]
        out = []
        for i, (r, e) in enumerate(zip(res, self.edges)):
            if not self._is_tensor[i]:
                if r is not None:
                    raise RuntimeError(f"function {self.name()} returned a gradient different than "
                                       f"None at position {i + 1}, but the corresponding forward "
                                       "input was not a Variable")
                out.append(None)
                continue
            if e is None or r is None:
                out.append(None)
                continue
            if not isinstance(r, Tensor):
                raise TypeError(f"function {self.name()} returned a {type(r).__name__} as gradient "
                                f"{i}; expected a Tensor or None")
            shape, dt = self.shapes[i], self.dtypes[i]
            if r._data.shape != shape:
                if not _expandable(shape, r._data.shape):
                    raise RuntimeError(f"Function {self.name()} returned an invalid gradient at "
                                       f"index {i} - got {list(r._data.shape)} but expected shape "
                                       f"compatible with {list(shape)}")
                r = r.sum_to(shape)
            if r._data.dtype != dt:
                r = r.to(dt)
            out.append(r)
        return out


def _expandable(shape, target):
    if len(shape) > len(target):
        return False
    return all(s == 1 or s == t for s, t in zip(reversed(shape), reversed(target)))


class _Partial:
    """Gradients for some outputs of a multi-output Function, keyed by output index."""
    __slots__ = ("grads",)

    def __init__(self, grads):
        self.grads = grads

    def __add__(self, other):
        merged = dict(self.grads)
        for i, g in other.grads.items():
            merged[i] = merged[i] + g if i in merged else g
        return _Partial(merged)


class _OutputNode(Node):
    """grad_fn of output i of a multi-output Function: routes its gradient to slot i."""
    __slots__ = ("index",)

    def __init__(self, fn_node, index):
        self.op = self.attrs = self.saved = self.versions = self.out = self.out_vc = None
        self._hooks = self._pre_hooks = self._retain = self._inplace_of = self.metadata = None
        self.edges, self.shapes, self.dtypes = (fn_node,), (None,), (None,)
        self.index = index

    def name(self):
        return self.edges[0].name()

    def __repr__(self):
        return repr(self.edges[0])

    @property
    def next_functions(self):
        return self.edges[0].next_functions

    def __getattr__(self, item):    # ctx attributes and saved_tensors live on the Function node
        return getattr(self.edges[0], item)

    def apply(self, g, create_graph):
        return [_Partial({self.index: g})]


class Function:
    """Base class of custom differentiable operations (see the module docstring)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._backward_cls = type(cls.__name__ + "Backward", (BackwardCFunction,),
                                 {"_forward_cls": cls})

    def __init__(self, *args, **kwargs):
        raise RuntimeError("Custom autograd Functions are used through their static methods: "
                           "call `MyFunction.apply(...)` instead of instantiating them.")

    @staticmethod
    def forward(ctx, *args, **kwargs):
        """Compute the outputs (runs under no_grad)."""
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        """Optional: fill `ctx` here and write forward without a ctx argument."""
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        """Return one gradient (or None) per forward input."""
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward mode AD.")

    @classmethod
    def vjp(cls, ctx, *grad_outputs):
        """Alias of backward (torch's name for it)."""
        return cls.backward(ctx, *grad_outputs)

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run forward and, if an input requires grad, record one node for backward."""
        Tensor = _T[0]
        grad_on = state.grad_enabled
        needs = tuple(grad_on and isinstance(a, Tensor) and a._rg for a in args)
        if state.tracer is not None and any(needs) and hasattr(state.tracer, "custom_functions"):
            state.tracer.custom_functions.append(cls.__name__)
        ctx = cls._backward_cls(args, needs)
        split = cls.setup_context is not Function.setup_context
        state.grad_enabled = False
        try:
            if split:
                out = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, out)
            else:
                out = cls.forward(ctx, *args, **kwargs)
        finally:
            state.grad_enabled = grad_on
        return _wrap_outputs(ctx, args, out, any(needs))


def _wrap_outputs(ctx, args, out, record):
    Tensor = _T[0]
    single = not isinstance(out, tuple)
    outs = [out] if single else list(out)
    dirty = {id(t) for t in ctx._dirty}
    non_diff = {id(t) for t in ctx._non_diff}
    inputs = {id(a) for a in args if isinstance(a, Tensor)}
    metas = []
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            metas.append(None)
            continue
        metas.append((o._data.shape, o.dtype, o.device))
        if not record:
            continue
        if id(o) in inputs and id(o) not in dirty:
            # an input returned as is: hand back a view, never rewire the input itself
            v = Tensor._wrap(o._data)
            v._vc, v._base = o._vc, o if o._base is None else o._base
            outs[i] = o = v
        if id(o) in non_diff or o._data.dtype.kind != "f":
            o._rg = False
            continue
        if id(o) in dirty and o.grad_fn is None and o._rg:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation.")
        o._rg = True
        o.grad_fn = ctx if single or len(outs) == 1 else _OutputNode(ctx, i)
        if state.anomaly:
            from .anomaly import record as _record
            _record(ctx)
    ctx._outs = tuple(metas)
    if record:
        saved = tuple(ctx._to_save)
        ctx.versions = tuple(t._vc[0] if isinstance(t, Tensor) else None for t in saved)
        ctx.saved = saved
    return outs[0] if single else tuple(outs)


def once_differentiable(fn):
    """Decorate a backward that is not itself differentiable: it runs under no_grad."""
    @functools.wraps(fn)
    def wrapper(ctx, *grads):
        prev = state.grad_enabled
        state.grad_enabled = False
        try:
            return fn(ctx, *grads)
        finally:
            state.grad_enabled = prev
    return wrapper
