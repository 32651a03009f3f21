"""Recording: listen to dispatch during one eager run and build a `Graph`.

The tracer is installed as `_dispatch.state.tracer` for one run of the user's
function. Every dispatched op arrives in `record`; in-place writes in
`record_inplace`; `.grad` assignments in `on_grad_set`; reads of tensor values
into Python in `on_scalar`. A tensor is classified the first time the run
reads it:

- produced by a recorded op (or wrapping an array one produced) -> that value;
- created during the run without an op (`pyrch.tensor([...])`, the ones that
  seed `backward()`) -> a constant;
- anything else existed before the run -> a *param*: state read by reference
  on every replay (module parameters, buffers, optimizer moments, globals).
  A tensor that is some parameter's `.grad` is recorded as "the grad slot of
  that parameter", so a replay reads whatever `.grad` holds then.

In-place writes to state become trailing writes. Optimizer hyperparameters
(floats in `param_groups`) reach the graph as inputs: while recording they are
temporarily wrapped in `HyperFloat`, which the tracer turns into a param when
an op receives it directly, and into a guard (retrace when it changes) when
Python arithmetic or a comparison consumed it first.
"""
import linecache
import os
import sys

import numpy as np

from .. import _dispatch
from .._dispatch import state, refresh_hooks
from .._dtype import NP2DT, _default
from .._tensor import Tensor
from .ir import Graph, Guard, Node, Value, Write, freeze, type_str, _lit

_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_STR_FILE = os.path.join(_PKG, "_tensor_str.py")
_DISPATCH_FILE = os.path.join(_PKG, "_dispatch.py")
_INTERNAL = tuple(os.path.join(_PKG, p) for p in ("_dispatch.py", "_tensor.py", "_functions.py",
                                                   "ops" + os.sep, "autograd" + os.sep, "jit" + os.sep))


class TraceError(RuntimeError):
    """Tracing met something it cannot record faithfully; the message shows the user's
    line and the fix."""


class TracerWarning(UserWarning):
    """Tracing works but something will behave differently on replay."""


# -- hyperparameters --------------------------------------------------------------------
class HyperFloat(float):
    """A float read from an optimizer's param_groups while recording.

    Passed straight to an op it becomes a graph input read live on every
    replay (a scheduler's new lr takes effect without a retrace). Python
    arithmetic or comparisons on it give `_Derived` floats / plain bools and
    add a guard: the trace is redone if that hyperparameter changes.
    """
    __slots__ = ("src",)

    def __new__(cls, value, src):
        self = float.__new__(cls, value)
        self.src = src
        return self

    def _sources(self):
        return (self.src,)


class _Derived(float):
    __slots__ = ("srcs",)

    def __new__(cls, value, srcs):
        self = float.__new__(cls, value)
        self.srcs = srcs
        return self

    def _sources(self):
        return self.srcs


def _static_use(x):
    tr = state.tracer
    if tr is not None and isinstance(tr, Tracer):
        for s in x._sources():
            tr.static_hparam(s)


def _arith(name):
    base = getattr(float, name)

    def f(self, *other):
        r = base(self, *other)
        if r is NotImplemented or not isinstance(r, float):
            return r
        srcs = self._sources()
        for o in other:
            if isinstance(o, (HyperFloat, _Derived)):
                srcs = srcs + o._sources()
        return _Derived(r, srcs)
    return f


def _guarded(name):
    base = getattr(float, name)

    def f(self, *other):
        if sys._getframe(1).f_code.co_filename == _DISPATCH_FILE:
            return base(self, *other)       # dispatch casting the operand it records as an input
        _static_use(self)
        for o in other:
            if isinstance(o, (HyperFloat, _Derived)):
                _static_use(o)
        return base(self, *other)
    return f


for _cls in (HyperFloat, _Derived):
    for _n in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
               "__truediv__", "__rtruediv__", "__pow__", "__rpow__", "__neg__", "__pos__",
               "__abs__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__"):
        setattr(_cls, _n, _arith(_n))
    for _n in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__",
               "__int__", "__float__", "__round__", "__trunc__", "__floor__", "__ceil__",
               "__format__", "__repr__", "__str__"):
        setattr(_cls, _n, _guarded(_n))
    _cls.__hash__ = float.__hash__


def _hp_value(src):
    group, key, idx = src
    v = group[key]
    return v if idx is None else v[idx]


# -- the tracer ---------------------------------------------------------------------------
class Tracer:
    """Builds one Graph from one eager run (see the module docstring)."""

    def __init__(self, name, allow_scalars=False, names=None, grad_owner=None, stop_code=None,
                 scopes=None, capture=False):
        self.name = name
        self.allow_scalars = allow_scalars
        self.names = names or {}            # id(tensor) -> readable name (fc1.weight)
        self.grad_owner = grad_owner or {}  # id(grad tensor) -> parameter
        self.stop_code = stop_code
        self.scopes = scopes or {}          # id(module) -> path
        self.capture = [] if capture else None
        self.vals, self.arrs, self.keep = {}, {}, []
        self.custom_functions = []          # autograd.Function classes applied with grad on
        self.born = set()
        self.nodes = []
        self.inputs = []
        self.params, self.param_src, self.param_of = [], [], {}
        self.rng, self.rng_src = [], {}
        self.constants = {}
        self.written = {}                  # id(state tensor) -> tensor
        self.slots = {}                    # id(param) -> (param, grad object before the run)
        self.guards = []
        self.hp_params = {}                # (src, dtype) -> Value
        self.hp_static = {}                # src -> value it had
        self.views = {}                    # id(root tensor) -> [views]
        self.stale = set()
        self.casts = {}
        self.used_names = set()
        self.warned_hooks = False
        self.ext, self.ext_arrs, self.residuals, self.res_by_fwd = {}, {}, [], {}
        self.param_arrays = []
        self.input_of = {}

    # -- classification of tensors --------------------------------------------------------
    def bind(self, t, v):
        self.vals[id(t)] = v
        self.arrs[id(t._data)] = v
        self.keep.append(t)
        self.keep.append(t._data)

    def add_input(self, t, name):
        v = Value(t._data.shape, NP2DT[t._data.dtype], self._unique(name))
        self.inputs.append(v)
        self.input_of[id(t)] = v
        self.bind(t, v)
        return v

    def _unique(self, name):
        base, k = name, 1
        while name in self.used_names:
            name = f"{base}_{k}"
            k += 1
        self.used_names.add(name)
        return name

    def value_of(self, t):
        v = self.vals.get(id(t))
        if v is not None:
            if id(t) in self.stale:
                raise TraceError(_stale_message(self._src()))
            return v
        d = t._data
        v = self.arrs.get(id(d))
        if v is not None and v.shape == d.shape and v.dtype.np == d.dtype:
            if id(t) not in self.born and not self.ext:
                raise TraceError(_data_swap_message(self.names.get(id(t), "a tensor")))
            self.bind(t, v)
            return v
        e = self.ext.get(id(t))
        if e is None:
            e = self.ext_arrs.get(id(d))
            if e is not None and (e[1].shape != d.shape or e[1].dtype.np != d.dtype):
                e = None
        if e is not None:
            return self._residual(t, e[1])
        if id(t) in self.born:
            v = Value(d.shape, NP2DT[d.dtype])
            self.constants[v] = np.array(d, copy=True) if type(d) is np.ndarray else d.copy()
            self.bind(t, v)
            return v
        return self._state_input(t)

    def external(self, t, fwd):
        """Mark `t` as holding forward value `fwd` (when deriving a backward graph)."""
        self.ext[id(t)] = (t, fwd)
        self.ext_arrs[id(t._data)] = (t, fwd)
        self.keep.append(t)

    def _residual(self, t, fwd):
        v = self.res_by_fwd.get(fwd)
        if v is None:
            v = Value(fwd.shape, fwd.dtype, self._unique("r"))
            self.inputs.append(v)
            self.residuals.append((v, fwd))
            self.res_by_fwd[fwd] = v
        self.bind(t, v)
        return v

    def _state_input(self, t):
        owner = self.grad_owner.get(id(t))
        if owner is not None and owner._grad is t:
            src = ("grad", owner)
            name = self.names.get(id(owner), "p") + ".grad"
        else:
            src = ("tensor", t)
            name = self.names.get(id(t), "s")
        if t._hooks and not self.warned_hooks:
            self.warned_hooks = True
            _warn(f"a tensor read by the trace ({name}) has hooks registered with register_hook; "
                  "hooks do not run on replay")
        v = Value(t._data.shape, NP2DT[t._data.dtype], self._unique(name))
        self.params.append(v)
        self.param_src.append(src)
        self.param_of[id(t)] = v
        self.param_arrays.append((t, t._data))
        self.bind(t, v)
        return v

    def param_for(self, t):
        """The param Value standing for tensor `t` (registering it if needed)."""
        v = self.param_of.get(id(t))
        if v is None:
            v = Value(t._data.shape, NP2DT[t._data.dtype], self._unique(self.names.get(id(t), "s")))
            self.params.append(v)
            self.param_src.append(("tensor", t))
            self.param_of[id(t)] = v
            if id(t) not in self.vals:
                self.bind(t, v)
        return v

    def _rng_value(self, gen):
        v = self.rng_src.get(id(gen))
        if v is None:
            v = Value((), NP2DT[np.dtype(np.uint8)], self._unique("rng"))
            self.rng.append((v, gen))
            self.rng_src[id(gen)] = v
        return v

    def _hp_param(self, x, npdt):
        key = (x.src[0].__class__, id(x.src[0]), x.src[1], x.src[2], npdt)
        v = self.hp_params.get(key)
        if v is None:
            group, k, idx = x.src
            name = k if idx is None else f"{k}[{idx}]"
            v = Value((), NP2DT[np.dtype(npdt)], self._unique(name))
            self.params.append(v)
            self.param_src.append(("hparam", x.src, np.dtype(npdt)))
            self.hp_params[key] = v
        return v

    def static_hparam(self, src):
        group, k, idx = src
        self.hp_static[(id(group), k)] = (group, k, group[k])

    # -- source lines -------------------------------------------------------------------
    def _frames(self):
        f = sys._getframe(2)
        stop = self.stop_code
        while f is not None and f.f_code is not stop:
            yield f
            f = f.f_back

    def _src(self):
        """The user's file:line for the op being recorded (and its module scope)."""
        f = sys._getframe(2)
        stop, scopes, info = self.stop_code, self.scopes, _CODE_INFO
        user = lib = None
        scope = ""
        while f is not None:
            code = f.f_code
            if code is stop:
                break
            kind = info.get(code)
            if kind is None:
                kind = info[code] = _classify(code)
            if user is None:
                if kind[0] == 0:
                    user = kind[1] + str(f.f_lineno)
                elif kind[0] == 1 and lib is None:
                    lib = kind[1] + str(f.f_lineno)
            if kind[2] and not scope and scopes:
                scope = scopes.get(id(f.f_locals.get("self")), "")
            if user is not None and (scope or not scopes):
                break
            f = f.f_back
        self._last_scope = scope
        return user or lib or ""

    def _user_frame(self):
        for f in self._frames():
            fn = f.f_code.co_filename
            if not fn.startswith(_PKG) and fn != "<string>":
                return f
        return None

    # -- dispatch hooks -----------------------------------------------------------------
    def _emit(self, opname, ins, attrs, outs, src, scope):
        n = Node(opname, ins, attrs, outs, src, scope)
        self.nodes.append(n)
        return n

    def _cast(self, v, dt, src, scope):
        key = (v, dt)
        c = self.casts.get(key)
        if c is None:
            c = Value(v.shape, dt)
            self._emit("to_dtype", (v,), {"dtype": dt}, (c,), src, scope)
            self.casts[key] = c
        return c

    def record(self, op, args, attrs, outs):
        src = self._src()
        scope = self._last_scope
        cdt = _compute_dtype(op, args)
        pos = op.promote_positions
        ins = []
        for i, a in enumerate(args):
            cast_here = cdt is not None and (pos is None or i in pos)
            if isinstance(a, Tensor):
                v = self.value_of(a)
                if cast_here and v.dtype is not cdt:
                    v = self._cast(v, cdt, src, scope)
                ins.append(v)
            elif isinstance(a, np.random.Generator):
                ins.append(self._rng_value(a))
            elif type(a) is HyperFloat:
                ins.append(self._hp_param(a, cdt.np if cast_here else np.float64))
            else:
                if isinstance(a, _Derived):
                    _static_use(a)
                if cast_here and a is not None:
                    a = cdt.np.type(a)
                ins.append(a)
        if attrs:
            for x in attrs.values():
                for y in (x if isinstance(x, tuple) else (x,)):
                    if isinstance(y, (HyperFloat, _Derived)):
                        _static_use(y)
        out_vals = []
        for o in outs:
            d = o._data
            v = Value(d.shape, NP2DT[d.dtype])
            out_vals.append(v)
            self.bind(o, v)
        self._emit(op.name, ins, freeze(attrs), out_vals, src, scope)
        if op.view:
            base = args[0]
            root = base if base._base is None else base._base
            self.views.setdefault(id(root), []).extend(outs)
        if self.capture is not None:
            self.capture.append([np.array(o._data, copy=True) for o in outs])

    def record_inplace(self, target, out):
        v = self.value_of(out)
        src, scope = self._src(), self._last_scope
        old = self.value_of(target)      # registers state read for the first time
        if v.dtype is not old.dtype:
            v = self._cast(v, old.dtype, src, scope)
        root = target._base
        if root is not None and not _full_alias(target._data, root._data):
            # a partial write through a view (`x[0].add_(1)`): the base becomes
            # copy_slices(base, v) and the view a view of that, as eager autograd does
            from .._dispatch import _view_geometry
            geo = _view_geometry(target, root)
            if geo is None:
                raise TraceError(
                    f"pyrch.jit: an in-place op at {src} writes into a view whose elements "
                    "overlap, or into a view of a non-contiguous tensor; the tracer cannot "
                    "express that write. Fix: write through indexing on the base tensor "
                    "(`x[0] = x[0] + 1`) or use out-of-place ops.")
            shape, strides, offset = geo
            attrs = {"shape": shape, "strides": strides, "offset": offset}
            rv = self.value_of(root)
            new_root = Value(rv.shape, rv.dtype)
            self._emit("copy_slices", (rv, v), attrs, (new_root,), src, scope)
            self._write(root, new_root)
            v = Value(tuple(shape), v.dtype)
            self._emit("as_strided_view", (new_root,), attrs, (v,), src, scope)
        elif root is not None:
            self._write(root, v)
        self._write(target, v)
        self._reread_views(root if root is not None else target, target, src, scope)

    def _reread_views(self, root, written, src, scope):
        """Other views of `root` now read its new value: each is re-taken from the new
        base by its geometry; one the tracer cannot express becomes stale (reading it
        raises TraceError)."""
        from .._dispatch import _view_geometry
        new_root = self.vals.get(id(root))
        for w in self.views.get(id(root), ()):
            if w is written or w is root:
                continue
            geo = _view_geometry(w, root) if new_root is not None else None
            if geo is None or w._data.dtype != root._data.dtype:
                self.stale.add(id(w))
                continue
            shape, strides, offset = geo
            nv = Value(tuple(shape), new_root.dtype)
            self._emit("as_strided_view", (new_root,),
                       {"shape": shape, "strides": strides, "offset": offset}, (nv,), src, scope)
            self.stale.discard(id(w))
            self.bind(w, nv)

    def _write(self, t, v):
        if id(t) in self.param_of or id(t) in self.input_of:
            self.written[id(t)] = t
        self.stale.discard(id(t))
        self.bind(t, v)

    def on_grad_set(self, t, value):
        if id(t) not in self.slots:
            self.slots[id(t)] = (t, t._grad)

    def on_scalar(self, t, kind):
        if kind == "iter":
            return None        # iteration unbinds by shape only: nothing data-dependent
        if sys._getframe(2).f_code.co_filename == _STR_FILE or _called_from_str():
            return None        # printing a tensor while tracing: shows the trace-time value
        v = self.value_of(t)
        if v in self.constants:
            return None
        if kind == "bool":
            value = bool(t._host().reshape(()))
            self.guards.append(Guard("bool", v, value, self._src()))
            return value
        if self.allow_scalars:
            self.guards.append(Guard("value", v, np.array(t._host(), copy=True), self._src()))
            return None
        raise TraceError(self._scalar_message(t, v, kind))

    def _scalar_message(self, t, v, kind):
        f = self._user_frame()
        where, line = "<unknown>", ""
        if f is not None:
            where = f"{f.f_code.co_filename}:{f.f_lineno}"
            line = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
        call = {"item": ".item() / float() / int()", "tolist": ".tolist()",
                "numpy": ".numpy() / np.asarray()"}.get(kind, kind)
        producers = _producers(self, v)
        lines = [f"pyrch.jit: {call} reads a traced tensor's value into Python at {where}",
                 f"    {line}" if line else "",
                 "That value is computed by:"] + [f"    {p}" for p in producers] + [
            "A trace cannot branch or compute on tensor values in Python: the graph would "
            "silently bake this value in.",
            "Fix: return the tensor from the traced function and convert it outside, keep the "
            "computation in tensor ops, or use @jit.trace(allow_scalars=True) to bake the value "
            "in as a guard (a replay that sees a different value runs eagerly and retraces)."]
        return "\n".join(x for x in lines if x)

    # -- finishing ----------------------------------------------------------------------
    def finish(self, out_leaves):
        """Build the Graph: outputs, writes to state, grad-slot updates."""
        for t, d in self.param_arrays:
            if t._data is not d:
                raise TraceError(_data_swap_message(self.names.get(id(t), "a tensor")))
        outs = []
        for o in out_leaves:
            outs.append(self.value_of(o) if isinstance(o, Tensor) else o)
        writes = []
        for t in self.written.values():
            target = self.input_of.get(id(t)) or self.param_of[id(t)]
            writes.append(Write("assign", target, self.vals[id(t)]))
        for p, before in self.slots.values():
            after = p._grad
            if after is before:
                continue
            target = self.input_of.get(id(p)) or self.param_for(p)
            writes.append(Write("set_grad", target, None if after is None else self.value_of(after)))
        params = tuple(self.params)
        g = Graph(self.name, self.inputs, params, [v for v, _ in self.rng], self.constants,
                  self.nodes, outs, writes, self.guards)
        return g


_CODE_INFO = {}


def _classify(code):
    """(0 user | 1 library | 2 internal, "file.py:", is a Module.forward)."""
    fn = code.co_filename
    if fn == "<string>" or fn.startswith(_INTERNAL):
        kind = 2
    elif fn.startswith(_PKG):
        kind = 1
    else:
        kind = 0
    return (kind, os.path.basename(fn) + ":",
            code.co_name == "forward" and code.co_varnames[:1] == ("self",))


def _called_from_str():
    f = sys._getframe(2)
    for _ in range(6):
        if f is None:
            return False
        if f.f_code.co_filename == _STR_FILE:
            return True
        f = f.f_back
    return False


def _full_alias(a, b):
    if type(a) is not np.ndarray or type(b) is not np.ndarray:
        return False
    return (a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def _compute_dtype(op, args):
    """The dtype dispatch casts inputs to (None when it casts nothing). Mirrors dispatch()."""
    if not op.promotes:
        return None
    first, mixed = None, False
    for a in args:
        if isinstance(a, Tensor):
            dt = a._data.dtype
            if first is None:
                first = dt
            elif dt != first:
                mixed = True
        else:
            mixed = True
    if mixed:
        return _dispatch._promote(op, args)
    if op.floaty and first is not None and first.kind != "f":
        return _default.float
    return None


def _producers(tracer, v, limit=4):
    """The IR lines (with sources) that computed `v`, nearest first."""
    by_out = {}
    for i, n in enumerate(tracer.nodes):
        for o in n.outputs:
            by_out[o] = (i, n)
    lines, stack, seen = [], [v], set()
    while stack and len(lines) < limit:
        x = stack.pop(0)
        if x in seen or x not in by_out:
            if x in tracer.params or x in tracer.inputs:
                lines.append(f"%{x.name}: {type_str(x)} (an input of the trace)")
            seen.add(x)
            continue
        seen.add(x)
        i, n = by_out[x]
        args = ", ".join(f"%{a.name}" if isinstance(a, Value) and a.name else
                         f"%v{by_out[a][0]}" if isinstance(a, Value) and a in by_out else
                         "%const" if isinstance(a, Value) else _lit(a) for a in n.inputs)
        lines.append(f"%v{i}: {type_str(x)} = {n.op}({args})    # {n.src}")
        stack.extend(a for a in n.inputs if isinstance(a, Value))
    return lines


def _data_swap_message(name):
    return (f"pyrch.jit: `{name}.data = ...` (or another direct storage swap) happened inside "
            "the traced function; the tracer cannot see it. Fix: "
            "`with pyrch.no_grad(): t.copy_(new_value)`.")


def _stale_message(src):
    return (f"pyrch.jit: at {src} the trace reads a view (reshape/transpose/detach/slice) of a "
            "tensor that was modified in place after the view was taken. Eager mode would see "
            "the new values through the shared storage; the tracer cannot express that. Fix: "
            "take the view again after the in-place update, or use out-of-place ops.")


def _warn(msg):
    import warnings
    warnings.warn(msg, TracerWarning, stacklevel=4)


class recording:
    """Context manager: install `tracer` and track tensors born during the run."""

    def __init__(self, tracer):
        self.tracer = tracer

    def __enter__(self):
        tr = self.tracer
        born = tr.born
        self.saved = (Tensor.__dict__["_wrap"], Tensor._init, Tensor._snapshot, state.tracer)
        wrap = self.saved[0].__func__
        init, snapshot = self.saved[1], self.saved[2]

        def _wrap(cls, arr):
            t = wrap(cls, arr)
            born.add(id(t))
            return t

        def _init(self, arr, rg=False):
            init(self, arr, rg)
            born.add(id(self))

        def _snapshot(self):
            s = snapshot(self)
            tr.bind(s, tr.value_of(self))
            return s

        Tensor._wrap = classmethod(_wrap)
        Tensor._init = _init
        Tensor._snapshot = _snapshot
        state.tracer = tr
        refresh_hooks()
        return tr

    def __exit__(self, *exc):
        Tensor._wrap, Tensor._init, Tensor._snapshot, state.tracer = self.saved
        refresh_hooks()
        return False


def wrap_hyperparams(optimizers, tracer):
    """Wrap float hyperparameters as HyperFloat; guard the others. Returns an undo list."""
    undo = []
    for opt in optimizers:
        for group in opt.param_groups:
            for k, val in list(group.items()):
                if k in ("params", "param_names"):
                    continue
                new = val
                if type(val) is float:
                    new = HyperFloat(val, (group, k, None))
                elif type(val) is tuple and val and all(type(x) is float for x in val):
                    new = tuple(HyperFloat(x, (group, k, i)) for i, x in enumerate(val))
                elif val is None or isinstance(val, (bool, int, str, tuple)):
                    tracer.hp_static[(id(group), k)] = (group, k, val)
                if new is not val:
                    group[k] = new
                    undo.append((group, k, val, new))
    return undo


def unwrap_hyperparams(undo):
    for group, k, val, new in undo:
        if group.get(k) is new:
            group[k] = val

