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


class Node:
    __slots__ = ("op", "attrs", "edges", "saved", "versions", "shapes", "dtypes", "out",
                 "_hooks", "_pre_hooks", "_retain", "_inplace_of", "metadata", "out_vc", "_ran", "__weakref__")

    def __init__(self, op, args, attrs, out_array, out_vc=None):
        Tensor = _T[0]
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
        self.out = self.out_vc = None
        saved = versions = None
        plan = op.bwd_plan
        if plan is None:
            raise RuntimeError(f"op {op.name} is differentiable but has no backward rule")
        for kind, key in plan:
            if kind == "input":
                if saved is None:
                    saved, versions = {}, {}
                a = args[key]
                saved[key] = a
                if isinstance(a, Tensor):
                    versions[key] = a._vc[0]
            elif kind == "inputs":
                if saved is None:
                    saved, versions = {}, {}
                for i, a in enumerate(args):
                    saved[i] = a
                    if isinstance(a, Tensor):
                        versions[i] = a._vc[0]
            elif kind == "rest":
                if saved is None:
                    saved, versions = {}, {}
                for i in range(key, len(args)):
                    saved[i] = a = args[i]
                    if isinstance(a, Tensor):
                        versions[i] = a._vc[0]
            elif kind == "out":
                self.out = out_array
                if out_vc is not None:   # the output's version counter, to catch y.add_() after y = x.exp()
                    self.out_vc = (out_vc, out_vc[0])
        self.saved, self.versions = saved, versions
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
        if self.versions or self.out is not None:
            self.saved = _FREED
            self.out = _FREED

    def _saved(self, i, create_graph):
        Tensor = _T[0]
        a = self.saved[i]
        if isinstance(a, Tensor):
            v = self.versions.get(i)
            if v is not None and a._vc[0] != v:
                _modified(a._data, a._vc[0], v, f"input {i}", self.op.node_name)
        return a

    def apply(self, g, create_graph):
        """Gradients for each input (None where not needed), shaped and typed like it."""
        Tensor = _T[0]
        if self.saved is _FREED:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed). Saved intermediate values of the "
                "graph are freed when you call .backward() or autograd.grad(). Specify "
                "retain_graph=True if you need to backward through the graph a second time or "
                "if you need to access saved tensors after calling backward.")
        args = []
        kwargs = None
        for kind, key in self.op.bwd_plan:
            if kind == "input":
                args.append(self._saved(key, create_graph))
            elif kind == "out":
                if self.out_vc is not None and self.out_vc[0][0] != self.out_vc[1]:
                    _modified(self.out, self.out_vc[0][0], self.out_vc[1], "output 0", self.op.node_name)
                t = Tensor._wrap(self.out)
                if create_graph:
                    t._rg, t.grad_fn = True, self
                args.append(t)
            elif kind == "attr":
                if kwargs is None:
                    kwargs = {}
                kwargs[key] = self.attrs[key] if self.attrs and key in self.attrs else self.op.attrs[key]
            elif kind == "meta":
                args.append(self)
            elif kind == "needs":
                args.append(tuple(e is not None for e in self.edges))
            elif kind == "rest":
                args.extend(self._saved(i, create_graph) for i in range(key, len(self.edges)))
            else:  # inputs
                args.extend(self._saved(i, create_graph) for i in range(len(self.edges)))
        res = self.op.bwd(g, *args, **kwargs) if kwargs else self.op.bwd(g, *args)
        if not isinstance(res, (tuple, list)):
            res = (res,)
        if len(res) != len(self.edges):
            raise RuntimeError(f"backward of {self.op.name} returned {len(res)} gradients for "
                               f"{len(self.edges)} inputs")
        out = []
        for e, r, shape, dt in zip(self.edges, res, self.shapes, self.dtypes):
            if e is None or r is None:
                out.append(None)
                continue
            if not isinstance(r, Tensor):
                r = Tensor._wrap(np.asarray(r, dtype=dt))
            if r._data.shape != shape:
                r = r.sum_to(shape)
            if r._data.dtype != dt:
                r = r.to(dt)
            out.append(r)
        return out


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
