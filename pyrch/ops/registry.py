"""The op registry: every op is declared once here-by-decorator, and every
layer (dispatch, autograd, tracer, fusion, C VM, tests) reads the same record.

    @op("mul", kind="elementwise", dtype="promote", cexpr="a * b")
    def mul(xp, a, b): return xp.multiply(a, b)

    @mul.backward
    def _(g, a, b): return g * b, g * a

`promote=(1, 2)` limits dtype promotion to those input positions (where's
condition stays bool). `new_memory=True` says the forward always returns memory of its
own, never an input or a view of one (a callable of (input shapes, output shapes,
attributes) says when); the jit's memory plan then lets the inputs' buffers be reused.
`c_call=True` says the forward, where the C extension takes its operands, is one C
call into new arrays and nothing else (`pyrch_call` for the row kernels of
pyrch/_C/rows.py and rowsel.py, `pyrch_attention` for fused attention), so a traced
plan may record that call and replay it without the forward (pyrch/jit/segments.py); a
callable of the attributes says for which.
A forward's positional parameters after `xp` are tensor inputs (a `*name` parameter
takes any number of them); its keyword-only parameters are the
attributes, hashable values such as `dim` or `keepdim`. A backward's
parameters say what autograd keeps: `g` is the incoming gradient, an input's
name keeps that input, `out` keeps the output, `meta` gives the node (shapes
and dtypes only), `needs` the mask of inputs that want a gradient, and an
attribute's name receives that attribute. A backward `*name` named like the
forward's variadic input receives (and keeps) just those inputs.
"""
import inspect

import numpy as np

OPS = {}          # name -> Op, primitives only
COMPOSITES = {}   # name -> python function built from other ops

KINDS = ("elementwise", "reduce", "movement", "contraction", "random", "creation", "opaque")
DTYPE_RULES = ("promote", "float", "bool", "same", "keep")


class Op:
    """One primitive: its forward on arrays, backward in pyrch ops, and metadata."""
    __slots__ = ("name", "kind", "forward", "inputs", "variadic", "attrs", "attr_names",
                 "dtype", "cexpr", "differentiable", "bwd", "bwd_plan", "infer_fn",
                 "n_outputs", "view", "method", "node_name", "inplace_variant", "doc",
                 "saves_inputs", "public_fn", "effectful", "promotes", "floaty", "promote_positions",
                 "new_memory", "c_call", "__weakref__")

    def __init__(self, name, fwd, kind, dtype, cexpr, differentiable, outputs, view, method,
                 promote=None, effectful=False, new_memory=False, c_call=False):
        if kind not in KINDS:
            raise ValueError(f"op {name}: kind must be one of {KINDS}, got {kind!r}")
        if dtype not in DTYPE_RULES:
            raise ValueError(f"op {name}: dtype rule must be one of {DTYPE_RULES}, got {dtype!r}")
        sig = inspect.signature(fwd)
        params = list(sig.parameters.values())
        if not params or params[0].name != "xp":
            raise TypeError(f"op {name}: forward's first parameter must be `xp`")
        self.inputs, self.variadic, self.attrs = [], False, {}
        for p in params[1:]:
            if p.kind is p.POSITIONAL_OR_KEYWORD or p.kind is p.POSITIONAL_ONLY:
                self.inputs.append(p.name)
            elif p.kind is p.VAR_POSITIONAL:
                self.inputs.append(p.name)
                self.variadic = True
            elif p.kind is p.KEYWORD_ONLY:
                self.attrs[p.name] = None if p.default is p.empty else p.default
        self.inputs = tuple(self.inputs)
        self.attr_names = tuple(self.attrs)
        self.name, self.kind, self.forward, self.dtype = name, kind, fwd, dtype
        self.cexpr = cexpr
        self.differentiable = differentiable
        self.bwd = self.bwd_plan = self.infer_fn = None
        self.saves_inputs = False
        self.n_outputs = outputs
        self.view = view
        self.method = method
        self.node_name = "".join(w.capitalize() for w in name.split("_")) + "Backward0"
        self.inplace_variant = kind == "elementwise" and dtype != "bool"
        self.doc = fwd.__doc__
        self.public_fn = None
        # side effects beyond the output (collectives): never CSE'd, folded or dropped
        self.effectful = effectful or kind == "random"
        self.new_memory = new_memory
        self.c_call = c_call
        # precomputed for dispatch's hot path
        self.promotes = dtype in ("promote", "float", "bool")
        self.floaty = dtype == "float"
        self.promote_positions = None if promote is None else frozenset(promote)

    def one_c_call(self, attrs):
        """Whether, with these attributes, the forward is one recordable C call (c_call)."""
        c = self.c_call
        return bool(c(attrs) if callable(c) else c)

    def backward(self, fn):
        """Register the backward rule; its parameter names say what autograd keeps."""
        plan = []
        for p in list(inspect.signature(fn).parameters.values())[1:]:
            if p.kind is p.VAR_POSITIONAL and self.variadic and p.name == self.inputs[-1]:
                # `*idx` named like the forward's variadic input keeps only those inputs
                plan.append(("rest", len(self.inputs) - 1))
                continue
            if p.kind is p.VAR_POSITIONAL:
                plan.append(("inputs", None))
            elif p.name == "out":
                plan.append(("out", None))
            elif p.name == "meta":
                plan.append(("meta", None))
            elif p.name == "needs":
                plan.append(("needs", None))
            elif p.name in self.inputs:
                plan.append(("input", self.inputs.index(p.name)))
                self.saves_inputs = True
            elif p.name in self.attrs:
                plan.append(("attr", p.name))
            else:
                raise TypeError(f"op {self.name}: backward parameter {p.name!r} is neither an "
                                f"input ({', '.join(self.inputs)}), an attribute, "
                                "nor one of out/meta/needs")
            if p.kind is p.VAR_POSITIONAL:
                self.saves_inputs = True
        self.bwd, self.bwd_plan = fn, tuple(plan)
        return fn

    def public(self, fn):
        """Register the public function (and method) when torch's signature needs
        more than the forward's (`add(input, other, *, alpha=1)`). It must end in
        a call to this op; operators like `+` still call the op directly."""
        fn.__doc__ = fn.__doc__ or self.doc
        self.public_fn = fn
        return fn

    def infer(self, fn):
        """Register a shape/dtype rule: fn(*metas, **attrs) -> (shape, dtype) or a list of them."""
        self.infer_fn = fn
        return fn

    def __call__(self, *args, **attrs):
        if _DISPATCH:
            return _DISPATCH[0](self, args, attrs or None)
        from .._dispatch import dispatch     # (it imports this module: bound on first call)
        _DISPATCH.append(dispatch)
        return dispatch(self, args, attrs or None)

    def __repr__(self):
        return f"<op {self.name} ({self.kind})>"


_DISPATCH = []      # pyrch._dispatch.dispatch, once imported (an import statement per call cost ~0.8 us)


def op(name, *, kind="opaque", dtype="keep", cexpr=None, differentiable=True, outputs=1,
       view=False, method=True, promote=None, effectful=False, new_memory=False,
       c_call=False):
    """Declare a primitive op from its forward function (see the module docstring)."""
    def register(fwd):
        if name in OPS:
            raise ValueError(f"op {name!r} is registered twice")
        o = Op(name, fwd, kind, dtype, cexpr, differentiable, outputs, view, method, promote,
               effectful, new_memory, c_call)
        OPS[name] = o
        return o
    return register


def composite(name, *, method=True):
    """Declare an op built from other ops: no backward, infer or cexpr of its own."""
    def register(fn):
        if name in COMPOSITES or name in OPS:
            raise ValueError(f"op {name!r} is registered twice")
        fn._pyrch_method = method
        fn._pyrch_name = name
        COMPOSITES[name] = fn
        return fn
    return register


class Meta:
    """Shape and dtype of a value, without its data (what `infer` works on)."""
    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape, self.dtype = tuple(shape), dtype

    def __repr__(self):
        return f"Meta({self.shape}, {self.dtype})"


def broadcast_shapes(*shapes):
    """Broadcast shapes by numpy/torch rules; raise torch's message on mismatch."""
    nd = max((len(s) for s in shapes), default=0)
    out = [1] * nd
    for s in shapes:
        off = nd - len(s)
        for i, n in enumerate(s):
            j = off + i
            if out[j] == 1:
                out[j] = n
            elif n != 1 and n != out[j]:
                raise ValueError(
                    f"The size of tensor a ({out[j]}) must match the size of tensor b ({n}) "
                    f"at non-singleton dimension {j}")
    return tuple(out)


def abstract_eval(o, metas, attrs):
    """Infer shapes by running the forward on zero-strided arrays (no real memory).

    The fallback `infer` for ops without a rule of their own: a broadcast view
    of a scalar has every shape at the cost of one element.
    """
    arrays = [np.broadcast_to(np.zeros((), m.dtype.np), m.shape) if isinstance(m, Meta) else m
              for m in metas]
    with np.errstate(all="ignore"):
        out = o.forward(np, *arrays, **(attrs or {}))
    from .._dtype import NP2DT
    if isinstance(out, tuple):
        return [(np.shape(x), NP2DT[np.asarray(x).dtype]) for x in out]
    return np.shape(out), NP2DT[np.asarray(out).dtype]


def _meta_dtype(op, metas):
    from .._dtype import _TABLE, _default, bool_, result_type_of, scalar_dtype
    pos = op.promote_positions
    dims = zero = wrapped = None
    first = None
    for i, m in enumerate(metas):
        if isinstance(m, Meta):
            if first is None:
                first = m.dtype
            if pos is not None and i not in pos:
                continue
            if m.shape:
                dims = m.dtype if dims is None else _TABLE[(dims, m.dtype)]
            else:
                zero = m.dtype if zero is None else _TABLE[(zero, m.dtype)]
        elif m is not None and (pos is None or i in pos):
            t = scalar_dtype(m)
            wrapped = t if wrapped is None else _TABLE[(wrapped, t)]
    if op.dtype in ("keep", "same"):
        return first
    cdt = result_type_of(dims, zero, wrapped)
    if op.dtype == "float" and cdt._cat != 2:
        cdt = _default.float
    if op.dtype == "bool":
        cdt = bool_
    return cdt


def infer(o, metas, attrs=None):
    """Output (shape, dtype) of op `o` from input metadata alone.

    Uses the op's own rule if it has one; elementwise ops broadcast and apply
    their dtype rule; anything else falls back to `abstract_eval`.
    """
    attrs = attrs or {}
    if o.infer_fn is not None:
        return o.infer_fn(*metas, **attrs)
    if o.kind == "elementwise" and o.n_outputs == 1:
        shapes = [m.shape for m in metas if isinstance(m, Meta)]
        return broadcast_shapes(*shapes), _meta_dtype(o, metas)
    return abstract_eval(o, metas, attrs)


# -- which numpy ufunc is an op? (for writing results into existing buffers) -------------
class _Sentinel:
    """Stands in for an input array while probing a forward: metadata, no data."""
    __slots__ = ("shape", "dtype", "ndim", "size")

    def __init__(self, shape, dtype):
        import numpy as np
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)
        self.size = int(np.prod(self.shape, dtype=np.int64))


class _ProbeXP:
    """A fake `xp` that records the calls a forward makes."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def f(*args, **kwargs):
            r = _Sentinel((), "float64")
            self.calls.append((name, args, kwargs, r))
            return r
        return f


_UFUNCS = {}



_UFUNCS = {}


def ufunc_of(op_name, attrs, metas):
    """The numpy ufunc an op's forward calls, if for inputs like `metas` it is exactly
    `xp.<ufunc>(*inputs)` (after any checks of shapes and dtypes).

    Found by running the forward once on metadata-only stand-ins with a recording
    `xp`, so the registry stays the only description of the op. Such steps can
    compute into a planned buffer with `out=`; other forwards allocate (or alias).
    """
    import numpy as np
    attrs = tuple(sorted(attrs.items())) if isinstance(attrs, dict) else attrs
    try:
        key = (op_name, attrs, metas)
        return _UFUNCS[key]
    except KeyError:
        pass
    except TypeError:
        return None
    o = OPS.get(op_name) if isinstance(op_name, str) else op_name
    op_name = o.name if o is not None else op_name
    uf = None
    if o is not None and not o.effectful and o.n_outputs == 1:
        xp = _ProbeXP()
        ins = [_Sentinel(*m) if isinstance(m, tuple) and len(m) == 2 and isinstance(m[0], tuple)
               else m for m in metas]
        try:
            r = o.forward(xp, *ins, **dict(attrs))
        except Exception:  # noqa: BLE001 - anything but a plain ufunc call lands here
            r = None
        if r is not None and len(xp.calls) == 1:
            name, args, kwargs, res = xp.calls[0]
            f = getattr(np, name, None)
            if (res is r and not kwargs and isinstance(f, np.ufunc) and f.nout == 1
                    and len(args) == len(ins) and all(a is b for a, b in zip(args, ins))):
                uf = f
    _UFUNCS[key] = uf
    return uf
