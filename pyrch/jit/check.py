"""`@jit.trace(check=N)`: run eager alongside the first N replays and compare.

The state the graph reads is snapshotted; eager runs (recording node values);
the state is restored and the replay runs. If any output or state differs, the
recorded graph is re-interpreted op by op from the snapshot and compared with
eager's values to name the first IR node that diverges.
"""
import numpy as np

from .._tensor import Tensor
from ..ops.registry import OPS
from .ir import Value, type_str
from .tracer import Tracer, TraceError, recording


def _close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        tol = 1e-5 if a.dtype.itemsize <= 4 else 1e-10
        return bool(np.allclose(a, b, rtol=tol, atol=tol, equal_nan=True))
    return bool(np.array_equal(a, b))


def _state_objects(var, leaves):
    objs = [leaves[i] for i in var.input_leaf]
    for src in var.param_src:
        if src[0] == "tensor":
            objs.append(src[1])
        elif src[0] == "grad" and src[1]._grad is not None:
            objs.append(src[1]._grad)
    return objs


def checked_replay(tf, var, args, kwargs, leaves, scan):
    from .function import _Fail, _run, flatten, _RUN_CODE
    objs = _state_objects(var, leaves)
    slot_params = [p if a is None else leaves[a] for p, a, _ in var.slot_guards] + \
        [s[1] for s in var.param_src if s[0] == "grad"]
    snap = [np.array(t._data, copy=True) for t in objs]
    grads = [(p, p._grad) for p in slot_params]
    rng = [(g, g.bit_generator.state) for g in var.rng_objs]

    def restore():
        for t, a in zip(objs, snap):
            t._data[...] = a
        for p, g in grads:
            p._grad = g
        for g, st in rng:
            g.bit_generator.state = st

    tr = Tracer(tf.name, tf.allow_scalars, stop_code=_RUN_CODE, capture=True)
    for i in var.input_leaf:
        tr.add_input(leaves[i], f"in{i}")
    with recording(tr):
        eager = _run(tf.fn, args, kwargs)
    e_out = []
    flatten(eager, "", e_out, [])
    e_state = [np.array(t._data, copy=True) for t in objs]
    e_grads = [(p, None if p._grad is None else np.array(p._grad._data, copy=True)) for p in slot_params]
    restore()
    res = var.replay(leaves)
    if isinstance(res, _Fail):
        return res
    r_out = []
    flatten(res, "", r_out, [])
    bad = []
    for k, (a, b) in enumerate(zip(e_out, r_out)):
        if isinstance(a, Tensor) and not _close(a._data, b._data):
            bad.append(f"output {k}")
    for t, a in zip(objs, e_state):
        if not _close(t._data, a):
            bad.append(f"state {tr.names.get(id(t)) or type_str(Value(t._data.shape, t.dtype))}")
    for p, a in e_grads:
        if (a is None) != (p._grad is None) or (a is not None and not _close(p._grad._data, a)):
            bad.append("a parameter's .grad")
    if bad:
        raise TraceError(f"pyrch.jit check: replay of {tf.name} differs from eager in "
                         f"{', '.join(bad)}. {_first_divergence(var, snap, objs, tr)}")
    return res


def _first_divergence(var, snap, objs, tr):
    g = var.graph
    env = dict(g.constants)
    by_obj = {id(t): a for t, a in zip(objs, snap)}
    for v, i in zip(g.inputs, var.input_leaf):
        env[v] = snap[var.input_leaf.index(i)]
    for v, src in zip(g.params, var.param_src):
        if src[0] == "tensor":
            env[v] = by_obj.get(id(src[1]), src[1]._data)
        elif src[0] == "grad":
            env[v] = src[1]._grad._data if src[1]._grad is not None else None
        else:
            from .tracer import _hp_value
            env[v] = np.asarray(_hp_value(src[1]), src[2])
    for v in g.rng:
        env[v] = np.random.default_rng(0)
    for i, n in enumerate(g.nodes):
        args = [env[x] if isinstance(x, Value) else x for x in n.inputs]
        out = OPS[n.op].forward(np, *args, **n.attr_dict())
        outs = out if isinstance(out, tuple) else (out,)
        for v, a in zip(n.outputs, outs):
            env[v] = np.asarray(a)
        if OPS[n.op].kind == "random":
            continue
        if i >= len(tr.capture) or tr.nodes[i].op != n.op:
            return f"The eager run took a different path at graph node {i} ({n.op}, {n.src})."
        for a, b in zip(outs, tr.capture[i]):
            if not _close(a, b):
                return (f"First diverging node: {i}: {n.op} -> {type_str(n.outputs[0])} at "
                        f"{n.src or 'unknown line'} (scope {n.scope or '-'}).")
    return "Every recorded node matches eager; the difference comes from the optimised plan."
