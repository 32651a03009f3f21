"""`export`: trace a model with pyrch.jit and write the graph as an ONNX model.

Steps: record the model (eval mode unless `training` says otherwise, no grad)
with the tracer; with `dynamic_axes`, record it again once per symbolic size,
that axis grown by one, and line the graphs up so every value's shape becomes
affine in the symbolic sizes (`Dim`); rewrite a few multi-op patterns into
single ONNX ops (max pooling, linear layers; in training mode dropout and
batch-norm normalisation); drop dead nodes; fold parameter-only computations
into initializers (with `export_params=False` parameters are graph inputs and
are not folded); emit each remaining node through the table in
`_export_ops.py`.
"""
import enum
import os
import warnings

import numpy as np

from .._tensor import Tensor
from ..ops.registry import OPS
from ..jit.ir import Node, Value



class TrainingMode(enum.IntEnum):
    """The mode `export(training=...)` runs the model in, as torch.onnx.TrainingMode: EVAL
    (inference graph), PRESERVE (each module as it is), TRAINING (every module in train mode;
    dropout exports as a training-mode Dropout, batch norm normalises with batch statistics)."""
    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


def _training_mode(training):
    """TrainingMode from pyrch's or torch's enum (by name), a bool or None."""
    if training is None or training is False:
        return TrainingMode.EVAL
    if training is True:
        return TrainingMode.TRAINING
    name = getattr(training, "name", None)
    if name in TrainingMode.__members__:
        return TrainingMode[name]
    raise ValueError(f"pyrch.onnx.export: training must be a TrainingMode (EVAL, PRESERVE, "
                     f"TRAINING), got {training!r}")


class ExportError(RuntimeError):
    """The traced graph holds something ONNX export cannot express; the message names the op
    and its source line."""


# -- symbolic dimensions -----------------------------------------------------------------------
class Dim:
    """A dimension that depends on the dynamic sizes: c + sum(a * size(sym))."""
    __slots__ = ("c", "terms")

    def __init__(self, c, terms):
        self.c, self.terms = int(c), tuple(terms)

    def name(self):
        if self.c == 0 and len(self.terms) == 1 and self.terms[0][1] == 1:
            return self.terms[0][0]
        parts = [f"{a}*{s}" if a != 1 else s for s, a in self.terms]
        if self.c:
            parts.append(str(self.c))
        return "+".join(parts)

    def __repr__(self):
        return f"Dim({self.name()})"


def is_static(shape):
    return all(type(d) is int for d in shape)


# -- recording ------------------------------------------------------------------------------
def _tensor_leaves(obj, out):
    if isinstance(obj, Tensor):
        if not any(obj is t for t in out):
            out.append(obj)
    elif isinstance(obj, (tuple, list)):
        for x in obj:
            _tensor_leaves(x, out)
    elif isinstance(obj, dict):
        for x in obj.values():
            _tensor_leaves(x, out)
    return out


def _map_tensors(obj, fn):
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, tuple):
        return tuple(_map_tensors(x, fn) for x in obj)
    if isinstance(obj, list):
        return [_map_tensors(x, fn) for x in obj]
    if isinstance(obj, dict):
        return {k: _map_tensors(x, fn) for k, x in obj.items()}
    return obj


class _Trace:
    """One recorded graph with the arrays of its params and the tensors they were read from."""

    def __init__(self, graph, arrays, tensors):
        self.graph, self.arrays, self.tensors = graph, arrays, tensors


def _record(model, args):
    """Trace `model(*args)` (already in eval mode, no grad): the raw graph and param arrays."""
    from .. import jit
    t = jit.trace(model, args)
    tf = getattr(t, "_traced", t)
    g = tf.graph_for(*args, optimized=False)
    if g is None:                       # an already traced function: record a fresh one
        t = jit.trace(getattr(tf, "fn", model), args)
        tf = getattr(t, "_traced", t)
        g = tf.graph_for(*args, optimized=False)
    var = next(v for e in tf._cache.values() for v in e.variants if v.graph is g)
    arrays, tensors = {}, {}
    for v, src in zip(g.params, var.param_src):
        if src[0] == "tensor":
            arrays[v] = src[1].detach().cpu().numpy()
            tensors[v] = src[1]
        elif src[0] == "grad":
            arrays[v] = src[1].grad.detach().cpu().numpy()
        else:
            group, key, idx = src[1]
            val = group[key] if idx is None else group[key][idx]
            arrays[v] = np.asarray(val, src[2])
    for v, a in g.constants.items():
        arrays[v] = a if isinstance(a, np.ndarray) else a.get()
    return _Trace(g, arrays, tensors)


class _inference:
    """The export mode (eval by default; modes restored after), no grad, tracing enabled;
    buffers a training-mode run updates (batch norm running stats) are restored too."""

    def __init__(self, model, mode=TrainingMode.EVAL):
        self.model, self.mode = model, mode

    def __enter__(self):
        from .. import no_grad
        from .._config import config
        from ..jit import function as jf
        self.modes, self.buffers = [], []
        if hasattr(self.model, "modules") and hasattr(self.model, "training"):
            self.modes = [(m, m.training) for m in self.model.modules()]
            self.buffers = [(b, b.detach().clone()) for b in self.model.buffers()]
            if self.mode == TrainingMode.EVAL:
                self.model.eval()
            elif self.mode == TrainingMode.TRAINING:
                self.model.train()
        self.ng = no_grad()
        self.ng.__enter__()
        self.cfg = config(jit=True)
        self.cfg.__enter__()
        self.disabled = jf._DISABLED[0]
        jf._DISABLED[0] = 0
        return self

    def __exit__(self, *exc):
        from ..jit import function as jf
        jf._DISABLED[0] = self.disabled
        self.cfg.__exit__(*exc)
        for b, saved in self.buffers:
            b.copy_(saved)
        self.ng.__exit__(*exc)
        for m, mode in self.modes:
            m.training = mode
        return False


# -- dynamic axes -----------------------------------------------------------------------------
def _parse_dynamic(dynamic_axes, in_names, out_names, inputs):
    """{symbol: [(input index, axis)]}, {output name: {axis: symbol}}."""
    syms, out_axes = {}, {}
    for name, axes in (dynamic_axes or {}).items():
        if isinstance(axes, (list, tuple)):
            axes = {a: f"{name}_dynamic_axes_{i + 1}" for i, a in enumerate(axes)}
        if name in in_names:
            i = in_names.index(name)
            nd = len(inputs[i].shape)
            for a, s in axes.items():
                if not -nd <= a < nd:
                    raise ValueError(f"dynamic_axes: input {name!r} has {nd} dims, axis {a} is out "
                                     "of range")
                syms.setdefault(s, []).append((i, a % nd))
        elif name in out_names:
            out_axes[name] = dict(axes)
        else:
            raise ValueError(f"dynamic_axes names {name!r}, which is neither an input "
                             f"{in_names} nor an output {out_names}")
    return syms, out_axes


def _grown(args, leaves, places):
    """`args` with each (input index, axis) in `places` one longer (rows repeated cyclically)."""
    by_input = {}
    for i, a in places:
        by_input.setdefault(i, set()).add(a)
    repl = {}
    for i, axes in by_input.items():
        t = leaves[i]
        arr = t.detach().cpu().numpy()
        for a in sorted(axes):
            n = arr.shape[a]
            arr = np.take(arr, np.arange(n + 1) % max(n, 1), axis=a)
        from .._creation import tensor
        repl[id(t)] = tensor(np.ascontiguousarray(arr), dtype=t.dtype, device=t.device)
    return _map_tensors(args, lambda t: repl.get(id(t), t))


def _where(n):
    tag = " ".join(x for x in (n.scope, n.src) if x)
    return f"{n.op!r}" + (f" at {tag}" if tag else "")


def _align(base, other, sym):
    """Map base Values to `other`'s; return (map, indices of nodes whose attrs differ)."""
    g0, g1 = base.graph, other.graph
    bad = (f"pyrch.onnx.export: the traced graph changes with the size of dynamic axis {sym!r}, "
           "so it cannot be exported with that axis dynamic")
    if (len(g0.inputs), len(g0.params), len(g0.constants), len(g0.nodes), len(g0.outputs)) != \
            (len(g1.inputs), len(g1.params), len(g1.constants), len(g1.nodes), len(g1.outputs)):
        raise ExportError(bad + f" ({len(g0.nodes)} ops vs {len(g1.nodes)} ops).")
    m = dict(zip(g0.sources(), g1.sources()))
    differ = set()
    for i, (a, b) in enumerate(zip(g0.nodes, g1.nodes)):
        if a.op != b.op or len(a.inputs) != len(b.inputs):
            raise ExportError(bad + f": op {i} is {_where(a)} in one trace and {b.op!r} in "
                              "the other.")
        for x, y in zip(a.inputs, b.inputs):
            if isinstance(x, Value) != isinstance(y, Value):
                raise ExportError(bad + f": the inputs of {_where(a)} differ.")
            if isinstance(x, Value):
                if m.get(x) is not y:
                    raise ExportError(bad + f": the inputs of {_where(a)} differ.")
            elif not _same_lit(x, y):
                differ.add(i)
        if a.attrs != b.attrs:
            differ.add(i)
        m.update(zip(a.outputs, b.outputs))
    return m, differ


def _same_lit(x, y):
    try:
        return bool(np.all(np.asarray(x) == np.asarray(y)))
    except Exception:
        return x == y


def _symbolic(base, others, sym_list, sizes):
    """Value -> shape with Dim entries where it depends on the dynamic sizes."""
    g0 = base.graph
    values = list(g0.sources()) + [o for n in g0.nodes for o in n.outputs]
    maps = [m for m, _ in others]
    shapes = {}
    for v in values:
        dims = []
        for d, s0 in enumerate(v.shape):
            terms = []
            for sym, m in zip(sym_list, maps):
                a = m[v].shape[d] - s0
                if a:
                    terms.append((sym, a))
            if terms:
                c = s0 - sum(a * sizes[s] for s, a in terms)
                dims.append(Dim(c, terms))
            else:
                dims.append(s0)
        shapes[v] = tuple(dims)
    return shapes


# -- graph rewrites ---------------------------------------------------------------------------
def _producers(nodes):
    p = {}
    for n in nodes:
        for o in n.outputs:
            p[o] = n
    return p


def _users(nodes, outputs):
    u = {}
    for n in nodes:
        for x in n.inputs:
            if isinstance(x, Value):
                u[x] = u.get(x, 0) + 1
    for x in outputs:
        if isinstance(x, Value):
            u[x] = u.get(x, 0) + 1
    return u


def _rewrite(g, params, arrays=None, training=False):
    """Pattern rewrites into synthetic `@` nodes: max pooling (gather of pool indices) and
    linear layers on 2-d input (-> Gemm); for a training-mode export also dropout (-> Dropout
    in training mode).

    NOTE: batch norm with batch statistics stays spelled out as Reduce/Sub/Mul ops. An ONNX
    BatchNormalization in training mode needs running-stat inputs that the pyrch graph does
    not have, and onnxruntime updates them in place after merging equal initializers (equal
    dummies then overwrote the scale or bias): the plain ops are exact at every opset."""
    nodes = list(g.nodes)
    prod = _producers(nodes)
    users = _users(nodes, g.outputs)
    for i, n in enumerate(nodes):
        if training and n.op == "mul":
            r = _dropout_pattern(n, prod, users, arrays or {})
            if r is not None:
                nodes[i] = r
        elif n.op == "embedding":
            r = _pool_pattern(n, prod)
            if r is not None:
                nodes[i] = r
        elif n.op == "add" and isinstance(n.inputs[0], Value) and isinstance(n.inputs[1], Value):
            mm = prod.get(n.inputs[0])
            b = n.inputs[1]
            lin = _linear_pattern(mm, prod, params)
            if lin is not None and users.get(mm.outputs[0]) == 1 and len(b.shape) == 1 \
                    and b in params and b.shape[0] == n.outputs[0].shape[-1] \
                    and b.dtype is n.outputs[0].dtype:
                nodes[i] = Node("@linear", lin + (b,), (), n.outputs, n.src, n.scope)
    return g.replace(nodes=nodes)


def _dropout_pattern(n, prod, users, arrays):
    """mul(mul(X, bernoulli(rng, P)), 1/(1-p)), P constant 1-p shaped like X -> @dropout(X)."""
    inner, scale = n.inputs
    m = prod.get(inner) if isinstance(inner, Value) else None
    if m is None or m.op != "mul" or isinstance(scale, Value) or users.get(inner) != 1:
        return None
    for x, mask in (m.inputs, m.inputs[::-1]):
        b = prod.get(mask) if isinstance(mask, Value) else None
        if b is None or b.op != "bernoulli" or users.get(mask) != 1 or not isinstance(x, Value):
            continue
        pv = b.inputs[1]
        q = np.asarray(arrays[pv]) if isinstance(pv, Value) and pv in arrays else None
        if q is None or q.shape != tuple(x.shape) or q.shape != tuple(n.outputs[0].shape) \
                or not q.size or np.any(q != q.reshape(-1)[0]):
            continue
        q = float(q.reshape(-1)[0])
        if 0 < q < 1 and np.isclose(float(scale), 1.0 / q, rtol=1e-6, atol=0):
            return Node("@dropout", (x,), {"p": 1.0 - q}, n.outputs, n.src, n.scope)
    return None


def _linear_pattern(mm, prod, params):
    if mm is None or mm.op != "matmul" or not all(isinstance(x, Value) for x in mm.inputs):
        return None
    a, t = mm.inputs
    p = prod.get(t)
    if len(a.shape) != 2 or p is None or p.op != "permute" or p.attr_dict().get("dims") != (1, 0):
        return None
    w = p.inputs[0]
    if w not in params or w.dtype is not a.dtype:
        return None
    return (a, w)


def _pool_pattern(n, prod):
    """embedding(reshape(X, (-1, 1)), add(pool_indices(detach(X)), offsets)) -> @max_pool(X)."""
    table, idx = n.inputs[0], n.inputs[1]
    t = prod.get(table)
    a = prod.get(idx)
    if t is None or a is None or t.op not in ("reshape", "view") or a.op != "add":
        return None
    x = t.inputs[0]
    for k in (0, 1):
        p = prod.get(a.inputs[k]) if isinstance(a.inputs[k], Value) else None
        if p is not None and p.op in ("max_pool_indices", "adaptive_max_pool_indices"):
            src = p.inputs[0]
            d = prod.get(src)
            if d is not None and d.op == "detach":
                src = d.inputs[0]
            if src is x:
                attrs = dict(p.attrs, kind=p.op)
                return Node("@max_pool", (x,), attrs, n.outputs, n.src, n.scope)
    return None


def _live(nodes, outputs, sources):
    """The nodes needed for `outputs`, in order."""
    need = {x for x in outputs if isinstance(x, Value)}
    keep = []
    for n in reversed(nodes):
        if any(o in need for o in n.outputs):
            keep.append(n)
            for x in n.inputs:
                if isinstance(x, Value) and x not in sources:
                    need.add(x)
    keep.reverse()
    return keep


_NO_FOLD = {"to_device", "all_reduce", "all_gather", "broadcast", "nonzero", "unique"}


def _fold(nodes, arrays, shapes):
    """Evaluate nodes whose inputs are all known arrays; return remaining nodes (arrays grows)."""
    rest = []
    for n in nodes:
        o = OPS.get(n.op)
        ok = (o is not None and o.kind != "random" and n.op not in _NO_FOLD
              and all((x in arrays and is_static(shapes[x]))
                      for x in n.inputs if isinstance(x, Value))
              and any(isinstance(x, Value) for x in n.inputs)
              and all(is_static(shapes[v]) for v in n.outputs))
        if ok:
            ins_bytes = sum(arrays[x].nbytes for x in n.inputs if isinstance(x, Value))
            if sum(v.nbytes for v in n.outputs) > 4 * ins_bytes + 4096:
                ok = False
        if ok:
            try:
                ins = [arrays[x] if isinstance(x, Value) else x for x in n.inputs]
                res = o.forward(np, *ins, **n.attr_dict())
            except Exception:
                ok = False
        if not ok:
            rest.append(n)
            continue
        res = res if isinstance(res, (tuple, list)) else (res,)
        for v, r in zip(n.outputs, res):
            arrays[v] = np.array(r, dtype=v.dtype.np, copy=True).reshape(v.shape)
    return rest


# -- the export ----------------------------------------------------------------------------
def _modules(model):
    """The modules of a Module (none for a plain function)."""
    if hasattr(model, "modules") and hasattr(model, "training"):
        return list(model.modules())
    return []


def _state_inputs(model, trace, in_names, out_names):
    """{param Value: state_dict name} for the model's parameters and buffers the trace read,
    in state_dict order (export_params=False makes them graph inputs)."""
    if not hasattr(model, "state_dict"):
        return {}
    named = {}
    for k, t in list(model.state_dict(keep_vars=True).items()) + \
            list(model.named_parameters()) + list(model.named_buffers()):
        named.setdefault(id(t), k)
    order = {k: i for i, k in enumerate(named.values())}
    found = sorted(((named[id(t)], v) for v, t in trace.tensors.items() if id(t) in named),
                   key=lambda kv: order[kv[0]])
    clash = [k for k, _ in found if k in in_names or k in out_names]
    if clash:
        raise ValueError(f"pyrch.onnx.export: with export_params=False the parameters become "
                         f"graph inputs, and {clash} is already an input or output name")
    return {v: k for k, v in found}


def export(model, args, f, input_names=None, output_names=None, dynamic_axes=None,
           opset_version=17, do_constant_folding=True, verbose=False, *, export_params=True,
           training=None, dynamo=False, keep_initializers_as_inputs=None):
    """Export `model(*args)` (a Module or function) to ONNX file/stream `f`; returns the ModelProto.

    Same arguments as `torch.onnx.export`: `dynamic_axes` maps input/output names to
    {axis: symbol} (or a list of axes); sizes derived from a dynamic axis are computed in
    the graph (Reshape with -1, Shape-derived targets), never baked in. `training` (a
    `TrainingMode`, default EVAL) picks the mode the model runs in; modes and buffers are
    restored afterwards. With `export_params=False` the model's parameters and buffers that
    the graph reads become graph inputs (named as in its state_dict, after the inputs)
    instead of initializers. `dynamo` and `keep_initializers_as_inputs` are accepted for
    compatibility and ignored.
    """
    import onnx
    from . import _export_ops
    mode = _training_mode(training)
    if mode != TrainingMode.EVAL and do_constant_folding and (
            mode == TrainingMode.TRAINING or getattr(model, "training", False)):
        warnings.warn("It is recommended that constant folding be turned off "
                      "('do_constant_folding=False') when exporting the model in training-amenable "
                      "mode, i.e. with 'training=TrainingMode.TRAIN' or 'training=TrainingMode."
                      "PRESERVE' (when model is in training mode). Otherwise, some learnable model "
                      "parameters may not translate correctly in the exported ONNX model because "
                      "constant folding mutates model parameters. Please consider turning off "
                      "constant folding or setting the training=TrainingMode.EVAL.", stacklevel=2)
    if opset_version < 13:
        raise ValueError(f"pyrch.onnx.export supports opset_version >= 13, got {opset_version}")
    if isinstance(args, Tensor) or not isinstance(args, tuple):
        args = (args,)
    if args and isinstance(args[-1], dict) and not args[-1]:
        args = args[:-1]
    leaves = _tensor_leaves(args, [])
    with _inference(model, mode):
        base = _record(model, args)
        g = base.graph
        if len(g.inputs) != len(leaves):
            raise ExportError("pyrch.onnx.export: could not match the traced inputs to the tensors "
                              "in `args`; pass the inputs as a tuple of tensors")
        in_names = list(input_names or [v.name for v in g.inputs])
        if len(in_names) != len(g.inputs):
            raise ValueError(f"input_names has {len(in_names)} names for {len(g.inputs)} inputs")
        n_out = len(g.outputs)
        out_names = list(output_names or (["output"] if n_out == 1 else
                                          [f"output_{i}" for i in range(n_out)]))
        if len(out_names) != n_out:
            raise ValueError(f"output_names has {len(out_names)} names for {n_out} outputs")
        syms, out_axes = _parse_dynamic(dynamic_axes, in_names, out_names, g.inputs)
        sizes = {}
        for s, places in syms.items():
            vals = {g.inputs[i].shape[a] for i, a in places}
            if len(vals) != 1:
                raise ValueError(f"dynamic_axes: axes named {s!r} have different sizes "
                                 f"{sorted(vals)} in the example inputs")
            sizes[s] = vals.pop()
        others = []
        for s, places in syms.items():
            t = _record(model, _grown(args, leaves, places))
            others.append(_align(base, t, s))
    training_graph = mode == TrainingMode.TRAINING or (
        mode == TrainingMode.PRESERVE and any(m.training for m in _modules(model)))
    if g.rng and not training_graph:
        raise ExportError("pyrch.onnx.export: the model draws random numbers in eval mode (a "
                          "random op such as dropout or randn in forward); ONNX export needs "
                          "a deterministic graph")
    if g.guards:
        warnings.warn("pyrch.onnx.export: the model branches on tensor values (`if tensor:`); the "
                      "exported graph keeps the branch taken with the example inputs",
                      stacklevel=2)
    sym_list = list(syms)
    shapes = _symbolic(base, others, sym_list, sizes)
    dyn_nodes = {g.nodes[i] for _, d in others for i in d}
    params = set(g.params) | set(g.constants)
    g2 = _rewrite(g, params, base.arrays, training_graph)
    for a, b in zip(g.nodes, g2.nodes):
        if a in dyn_nodes and a is not b:
            dyn_nodes.add(b)
    sources = set(g.sources())
    nodes = _live(g2.nodes, g2.outputs, sources)
    arrays = dict(base.arrays)
    state = {} if export_params else _state_inputs(model, base, in_names, out_names)
    for v in state:
        del arrays[v]                      # read at run time: neither folded nor initializers
    if do_constant_folding:
        nodes = _fold(nodes, arrays, shapes)
        nodes = _live(nodes, g2.outputs, sources | set(arrays))
    cx = _export_ops.Context(opset_version, shapes, arrays, syms, in_names, g.inputs)
    for v, name in zip(g.inputs, in_names):
        cx.names[v] = name
    for v in g.params:
        cx.names[v] = v.name
    cx.names.update(state)
    cx.taken.update(in_names, out_names, (v.name for v in g.params), state.values())
    for v, name in zip(g.outputs, out_names):
        if not isinstance(v, Value):
            raise ExportError(f"pyrch.onnx.export: output {name!r} is not a tensor ({v!r})")
        if v not in cx.out_names and v not in sources and v not in arrays:
            cx.out_names[v] = name
    for n in nodes:
        if n in dyn_nodes and n.op not in _export_ops.SHAPE_FROM_OUTPUT:
            raise ExportError(
                f"pyrch.onnx.export: an argument of {_where(n)} depends on the size of a dynamic "
                "axis, and this op cannot take it from the graph at run time. Fix: compute it "
                "with -1 in reshape/view, or export without that dynamic axis.")
        cx.node(n)
    outputs = []
    for v, name in zip(g.outputs, out_names):
        got = cx.name(v)
        if got != name:
            cx.emit("Identity", [got], outputs=[name])
        outputs.append(cx.value_info(name, v, out_axes.get(name, {})))
    inputs = [cx.value_info(name, v, {}) for v, name in zip(g.inputs, in_names)]
    inputs += [cx.value_info(name, v, {}) for v, name in state.items() if v in cx.ready]
    title = type(model).__name__ if hasattr(model, "modules") else \
        getattr(model, "__name__", "main")
    graph = onnx.helper.make_graph(cx.nodes, title, inputs, outputs, cx.initializers)
    proto = onnx.helper.make_model(graph, producer_name="pyrch", ir_version=8,
                                   opset_imports=[onnx.helper.make_opsetid("", opset_version)])
    if verbose:
        print(onnx.helper.printable_graph(proto.graph))
    if isinstance(f, (str, os.PathLike)):
        onnx.save(proto, os.fspath(f))
    elif f is not None:
        f.write(proto.SerializeToString())
    return proto
