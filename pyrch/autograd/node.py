"""The autograd graph node: one per differentiable op call.

A node keeps only what its op's backward asked for (by parameter name), the
input shapes and dtypes (to reduce broadcast gradients and cast them back),
and one edge per input: the producing node, the leaf tensor that accumulates
`.grad`, or None. Every op has at most one differentiable output, so a node
stands for exactly one tensor.
"""
import numpy as np

_FREED = object()
_T = [None]   # Tensor, filled in by _tensor.py (import cycle)


_FREE_MSG = (
    "Trying to backward through the graph a second time (or directly access saved "
    "tensors after they have already been freed). Saved intermediate values of the "
    "graph are freed when you call .backward() or autograd.grad(). Specify "
    "retain_graph=True if you need to backward through the graph a second time or "
    "if you need to access saved tensors after calling backward.")

# step codes of a compiled backward plan (what Node.apply passes to the rule, in order)
_INPUT, _OUT, _META, _NEEDS, _REST = range(5)


class _Compiled:
    """An op's bwd_plan digested once: what a node keeps and how apply calls the rule."""
    __slots__ = ("plan", "fixed", "var_from", "saves_out", "steps", "attrs", "defaults",
                 "n_all", "positional", "leading")

    def __init__(self, op):
        plan = self.plan = op.bwd_plan
        fixed, steps, attrs = [], [], []
        var_from = None
        saves_out = False
        for kind, key in plan:
            if kind == "input":
                steps.append((_INPUT, len(fixed)))
                fixed.append(key)
            elif kind == "out":
                saves_out = True
                steps.append((_OUT, None))
            elif kind == "attr":
                attrs.append((key, op.attrs[key]))
            elif kind == "meta":
                steps.append((_META, None))
            elif kind == "needs":
                steps.append((_NEEDS, None))
            else:   # "inputs" (all of them) or "rest" (from index `key` on)
                var_from = 0 if kind == "inputs" else key
                steps.append((_REST, len(fixed)))
        # NOTE: a variadic tail is saved after the fixed inputs; a rule has at most one
        self.fixed, self.var_from, self.saves_out = tuple(fixed), var_from, saves_out
        self.leading = var_from is None and self.fixed == tuple(range(len(fixed)))
        self.steps, self.attrs, self.defaults = tuple(steps), tuple(attrs), dict(attrs)
        # a node's attrs (a subset of the op's) can go to the rule as they are when the rule
        # takes every attribute and the call gave them all: then n_all == len(node.attrs)
        self.n_all = len(op.attrs) if len(attrs) == len(op.attrs) else -1
        # the common rule takes only inputs (in saved order), then maybe `needs`, then attrs
        kinds = [k for k, _ in steps]
        self.positional = var_from is None and all(k == _INPUT for k in kinds[:len(fixed)]) and \
            kinds[len(fixed):] in ([], [_NEEDS])


_compiled = {}


def _compile(op):
    if op.bwd_plan is None:
        raise RuntimeError(f"op {op.name} is differentiable but has no backward rule")
    c = _compiled[op] = _Compiled(op)
    return c


class Node:
    __slots__ = ("op", "attrs", "edges", "saved", "versions", "shapes", "dtypes", "out",
                 "_hooks", "_pre_hooks", "_retain", "_inplace_of", "metadata", "out_vc", "_ran",
                 "_c", "__weakref__")

    # NOTE: `saved` is a tuple of the inputs the rule asked for, in plan order (`_c`, the
    # compiled plan, says which input positions), or None; `versions` their version
    # counters at save time (None for a non-Tensor; None altogether when no Tensor was
    # kept). `saved` becomes _FREED once released. Attributes go to the rule by keyword.

    def __init__(self, op, args, attrs, out_array, out_vc=None):
        Tensor = _T[0]
        c = _compiled.get(op)
        if c is None or c.plan is not op.bwd_plan:
            c = _compile(op)
        edges, shapes, dtypes = [], [], []
        for a in args:
            if isinstance(a, Tensor):
                d = a._data
                shapes.append(d.shape)
                dtypes.append(d.dtype)
                edges.append((a.grad_fn or a) if a._rg else None)
            else:
                edges.append(None)
                shapes.append(None)
                dtypes.append(None)
        self.op, self.attrs = op, attrs
        self.edges, self.shapes, self.dtypes = tuple(edges), tuple(shapes), tuple(dtypes)
        idx = c.fixed
        if c.var_from is not None:
            idx = idx + tuple(range(c.var_from, len(args)))
        if idx:
            if c.leading:   # inputs 0..n-1 in order (mul's a, b): a slice of args
                saved = args[:len(idx)] if type(args) is tuple else tuple(args[:len(idx)])
            else:
                saved = tuple([args[i] for i in idx])
            self.saved = saved
            vs = [a._vc[0] if isinstance(a, Tensor) else None for a in saved]
            # None when no Tensor was kept (scalars only: nothing to free or check)
            self.versions = None if vs.count(None) == len(vs) else tuple(vs)
        else:
            self.saved = self.versions = None
        self._c = c
        if c.saves_out:
            self.out = out_array
            # the output's version counter, to catch y.add_() after y = x.exp()
            self.out_vc = None if out_vc is None else (out_vc, out_vc[0])
        else:
            self.out = self.out_vc = None
        self._hooks = self._pre_hooks = self._retain = self._inplace_of = None
        self.metadata = None
        self._ran = False

    # -- introspection, torch-shaped -------------------------------------------------
    def name(self):
        return self.op.node_name

    def __repr__(self):
        return f"<{self.op.node_name} object at {hex(id(self))}>"

    @property
    def next_functions(self):
        from .._tensor import Tensor
        out = []
        for e in self.edges:
            if isinstance(e, Tensor):
                out.append((AccumulateGrad(e), 0))
            else:
                out.append((e, 0))
        return tuple(out)

    def register_hook(self, fn):
        """fn(grad_inputs, grad_outputs) runs after this node's backward."""
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(fn)
        return _Handle(self._hooks, fn)

    def register_prehook(self, fn):
        """fn(grad_outputs) runs before this node's backward and may replace them."""
        if self._pre_hooks is None:
            self._pre_hooks = []
        self._pre_hooks.append(fn)
        return _Handle(self._pre_hooks, fn)

    # -- running --------------------------------------------------------------------
    def release(self):
        # NOTE: like torch, a node that saved no tensor can run again (z = (x * 2).sum()
        # backpropagates twice); only saved tensors are freed and then checked.
        self._ran = True      # backward ran through here without retain_graph
        if self.versions is not None or self.out is not None:
            self.saved = _FREED
            self.out = _FREED

    def apply(self, g, create_graph):
        """Gradients for each input (None where not needed), shaped and typed like it."""
        Tensor = _T[0]
        saved = self.saved
        if saved is _FREED:
            raise RuntimeError(_FREE_MSG)
        op = self.op
        c = self._c
        edges = self.edges
        vs = self.versions
        if vs is not None:
            for a, v in zip(saved, vs):
                if v is not None and a._vc[0] != v:
                    _stale(self)
        if c.positional:
            args = saved or ()
            if len(c.steps) != len(args):   # ends in `needs`
                args = args + (_needs(edges),)
        else:
            args = []
            for kind, j in c.steps:
                if kind == _INPUT:
                    args.append(saved[j])
                elif kind == _OUT:
                    ovc = self.out_vc
                    if ovc is not None and ovc[0][0] != ovc[1]:
                        _modified(self.out, ovc[0][0], ovc[1], "output 0", op.node_name)
                    t = Tensor._wrap(self.out)
                    if create_graph:
                        t._rg, t.grad_fn = True, self
                    args.append(t)
                elif kind == _META:
                    args.append(self)
                elif kind == _NEEDS:
                    args.append(_needs(edges))
                elif saved is not None:   # the variadic tail (may be empty)
                    args.extend(saved[j:])
        if c.attrs:
            attrs = self.attrs
            if not attrs:
                attrs = c.defaults
            elif len(attrs) != c.n_all:
                attrs = {k: attrs[k] if k in attrs else dflt for k, dflt in c.attrs}
            res = op.bwd(g, *args, **attrs)
        else:
            res = op.bwd(g, *args)
        if type(res) is not tuple:
            res = tuple(res) if isinstance(res, (tuple, list)) else (res,)
        if len(res) != len(edges):
            raise RuntimeError(f"backward of {op.name} returned {len(res)} gradients for "
                               f"{len(edges)} inputs")
        out = []
        for e, r, shape, dt in zip(edges, res, self.shapes, self.dtypes):
            if e is None or r is None:
                out.append(None)
                continue
            if not isinstance(r, Tensor):
                r = Tensor._wrap(np.asarray(r, dtype=dt))
            d = r._data
            if d.shape != shape:
                r = r.sum_to(shape)
                d = r._data
            if d.dtype is not dt and d.dtype != dt:
                r = r.to(dt)
            out.append(r)
        return out


def _needs(edges):
    """The `needs` mask: which inputs want a gradient."""
    if len(edges) == 2:
        return edges[0] is not None, edges[1] is not None
    return tuple([e is not None for e in edges])


def _stale(node):
    """Raise for the first saved input of `node` changed in place since it was saved."""
    c = node._c
    for j, (a, v) in enumerate(zip(node.saved, node.versions)):
        if v is not None and a._vc[0] != v:
            i = c.fixed[j] if j < len(c.fixed) else c.var_from + j - len(c.fixed)
            _modified(a._data, a._vc[0], v, f"input {i}", node.op.node_name)


def _modified(arr, now, expected, which, node_name):
    """Raise torch's error for a saved tensor that an in-place op changed since."""
    from .._dtype import NP2DT
    from .._tensor import _TYPE_NAMES
    raise RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [pyrch.{_TYPE_NAMES.get(NP2DT[arr.dtype].name, 'Tensor')} {list(arr.shape)}], "
        f"which is {which} of {node_name}, is at version {now}; expected version {expected} "
        "instead. Hint: clone() the tensor before modifying it in place, or enable anomaly "
        "detection with pyrch.autograd.set_detect_anomaly(True) to find the op that failed to "
        "compute its gradient.")


class AccumulateGrad:
    """The stand-in torch shows for a leaf in `next_functions`."""
    __slots__ = ("variable",)

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "AccumulateGrad"

    def __repr__(self):
        return f"<AccumulateGrad object at {hex(id(self))}>"

    next_functions = ()


class _Handle:
    """A removable hook handle (`handle.remove()`)."""
    __slots__ = ("_lst", "_fn")

    def __init__(self, lst, fn):
        self._lst, self._fn = lst, fn

    def remove(self):
        try:
            self._lst.remove(self._fn)
        except ValueError:
            pass
