"""Gradients through a trace: derive the backward graph of a recorded forward graph.

The forward graph is re-run once, eagerly, through dispatch with autograd on
(the values are those of the recording call); then the eager engine's
`run_backward` runs under a tracer. Every forward value a backward rule reads
becomes an input of the backward graph (a *residual*); the replay's forward
plan outputs exactly those, and nothing else stays alive. One autograd node
per differentiable output and replay stands for the whole traced function.
"""
import numpy as np

from .._dispatch import dispatch, state
from .._tensor import Tensor
from ..autograd.engine import run_backward
from ..autograd.node import _FREED, Node
from ..ops.registry import OPS, Op
from .ir import Value
from .tracer import Tracer, TraceError, recording


def derive_backward(graph, values, diff, out_idx):
    """Backward graph of `graph` w.r.t. source Values `diff`, for outputs `out_idx`.

    values: source Value -> array (the recording call's inputs and params).
    Returns (bwd_graph, residuals): bwd_graph's inputs are one cotangent per
    output in out_idx followed by residuals (Values of `graph`); its outputs
    are one gradient (or None) per Value in `diff`.
    """
    scratch = np.random.default_rng(0)
    env = {}
    for v in graph.sources():
        if v in graph.constants:
            arr = graph.constants[v]
        elif v in graph.rng:
            env[v] = scratch
            continue
        else:
            arr = values[v]
        t = Tensor._wrap(arr)
        if v in diff:
            t._rg = True
        env[v] = t
    prev, state.grad_enabled = state.grad_enabled, True
    try:
        for n in graph.nodes:
            args = tuple(env[x] if isinstance(x, Value) else x for x in n.inputs)
            out = dispatch(OPS[n.op], args, n.attr_dict() or None)
            outs = out if isinstance(out, tuple) else (out,)
            for v, t in zip(n.outputs, outs):
                env[v] = t
    finally:
        state.grad_enabled = prev
    tr = Tracer(graph.name + ".backward")
    for v, t in env.items():
        if isinstance(t, Tensor):
            tr.external(t, v)
    roots, cots = [], []
    for k in out_idx:
        o = env[graph.outputs[k]]
        roots.append(o)
        ct = Tensor._wrap(np.ones(o._data.shape, dtype=o._data.dtype))
        tr.add_input(ct, f"grad_out{len(cots)}")
        cots.append(ct)
    leaves = [env[v] for v in diff]
    with recording(tr):
        grads = run_backward(roots, cots, retain_graph=False, create_graph=False,
                             inputs=leaves, accumulate=False)
    if tr.params:
        raise TraceError("pyrch.jit: a backward rule read state outside the traced function "
                         f"({', '.join(p.name for p in tr.params)}); this cannot be derived")
    g = tr.finish(list(grads))
    return g, [fwd for _, fwd in tr.residuals]


def _traced_forward(xp, *inputs, ctx=None, k=0):
    raise RuntimeError("a traced function's node is never run forward")


def make_op(name):
    """The synthetic op a replay's autograd node points at (its backward runs the plan)."""
    o = Op("traced_" + name, _traced_forward, "opaque", "keep", None, True, 1, False, False)
    o.backward(_traced_backward)
    o.node_name = "TracedBackward0"
    return o


def _traced_backward(g, needs, ctx, k):
    if state.grad_enabled:
        raise RuntimeError("pyrch.jit: create_graph=True (double backward) through a traced "
                           "function is not supported; call it under `with jit.disabled():` "
                           "when you need higher-order gradients")
    return ctx.backward(g, k, needs)


class BackwardContext:
    """Per replay: the residual arrays and the shared backward executor."""
    __slots__ = ("runner", "residuals")

    def __init__(self, runner, residuals):
        self.runner, self.residuals = runner, residuals

    def backward(self, g, k, needs):
        return self.runner(g, k, needs, self.residuals)


def consumed(t):
    """True if backward already ran through `t`'s graph (a training step's loss)."""
    stack, seen = [t.grad_fn], set()
    while stack:
        e = stack.pop()
        if not isinstance(e, Node) or id(e) in seen:
            continue
        seen.add(id(e))
        if e.saved is _FREED or getattr(e, "_ran", False):
            return True
        stack.extend(e.edges)
    return False


def freed_node(op):
    """A node that raises torch's 'backward through the graph a second time' error."""
    n = Node(op, (), {"ctx": None, "k": 0}, None)
    n.saved = _FREED
    return n
