"""Replaying one recorded variant: resolve inputs and state, run the plan, check
guards, commit writes, return fresh outputs (with an autograd node when needed)."""
import numpy as np

from .._dispatch import state
from .._tensor import Tensor
from .executor import Executor
from .tracer import TraceError
from .grad import BackwardContext, consumed, derive_backward, freed_node, make_op
from .ir import Value
from .passes import optimize
from .plan import fresh, lower
from .tracer import _hp_value



def _copy(a):
    """A fresh copy of a numpy or cupy array, keeping its layout."""
    return np.array(a, copy=True) if type(a) is np.ndarray else a.copy()

class Fail:
    """A replay that could not run (a guard failed); `reason` says why."""
    __slots__ = ("reason",)

    def __init__(self, reason):
        self.reason = reason


def unflatten(tree, it):
    """Rebuild a structure from flatten()'s tree and an iterator over its leaves."""
    if tree is None:
        return next(it)
    t = tree[0]
    if t is dict:
        return {k: unflatten(s, it) for k, s in zip(tree[1], tree[2])}
    items = [unflatten(s, it) for s in tree[1]]
    if t is tuple or t is list:
        return t(items)
    return t(*items)


def _alias_roots(g):
    """Value -> set of source Values (inputs/params/constants) whose memory it may share."""
    srcs = set(g.sources())
    roots = {v: {v} for v in srcs}
    for n in g.nodes:
        if fresh(n):
            for v in n.outputs:
                roots[v] = set()
        else:
            rs = set()
            for x in n.inputs:
                if isinstance(x, Value):
                    rs |= roots.get(x, set())
            for v in n.outputs:
                roots[v] = rs
    return roots


def _inplace_writes(plan, g, roots):
    """{step index: {output slot: param slot}} for state updates a fused step may write
    straight into the state's own buffer instead of a fresh array copied at commit.

    Safe when nothing after the step reads the old value (the optimizer update is
    the last reader of a weight and its moments), no output or residual shares the
    state's memory, and the graph has no guards (a failed guard reruns eagerly on
    state that must still be unchanged).
    """
    if plan.guards:
        return {}
    # a read of a view of the state (a reshape of a weight) reads the state too: the last
    # read counts every value whose memory may be the state's (a fused update once wrote a
    # weight in place while a later cat still read it through a reshape)
    value_at = {s: v for v, s in plan.slot_of.items()}
    producer, last_read = {}, {}
    for k, st in enumerate(plan.steps):
        for s in st.outs:
            producer[s] = k
        for kind, s in st.args:
            if kind == "s":
                last_read[s] = k
                v = value_at.get(s)
                for r in (roots.get(v, ()) if v is not None else ()):
                    last_read[("root", r)] = k
    out_roots = set()
    for x in g.outputs:
        if isinstance(x, Value):
            out_roots |= roots.get(x, set())
    res, taken = {}, set()
    for kind, (where, i), ref in plan.writes:
        if kind != "assign" or where != "p" or ref is None or ref[0] != "s":
            continue
        pslot, vslot = plan.params[i], ref[1]
        k = producer.get(vslot)
        if k is None or plan.steps[k].kind != "fused" or pslot in taken:
            continue
        if last_read.get(pslot, -1) > k or last_read.get(("root", g.params[i]), -1) > k or \
                g.params[i] in out_roots:
            continue
        if any(ref2 == ("s", vslot) for ref2 in plan.outputs):
            continue
        res.setdefault(k, {})[vslot] = pslot
        taken.add(pslot)
    return res


class Variant:
    """One recorded graph for one cache key and branch pattern, compiled for replay."""

    def __init__(self, tf, graph, tr, input_leaf, leaves, out_leaves, out_tree):
        self.graph = graph
        self.input_leaf = input_leaf
        self.param_src = list(tr.param_src)
        self.rng_objs = [gen for _, gen in tr.rng]
        arg_pos = {id(leaves[i]): i for i in input_leaf}
        self.slot_guards = [(p, arg_pos.get(id(p)), before is None) for p, before in tr.slots.values()]
        self.hp_static = list(tr.hp_static.values())
        meta = []
        for v, src in zip(graph.params, self.param_src):
            if src[0] == "tensor":
                meta.append((v.shape, v.dtype.np, src[1]._rg))
            elif src[0] == "grad":
                meta.append((v.shape, v.dtype.np, False))
            else:
                meta.append(None)
        self.param_meta = meta
        self.out_tree = out_tree
        # outputs: the same object as eager where eager returns an input or a state tensor
        leaf_pos = {id(leaves[i]): i for i in input_leaf}
        param_pos = {id(src[1]): k for k, src in enumerate(self.param_src) if src[0] == "tensor"}
        self.op = make_op(tf.name)
        specs, diff_out, freed = [], [], []
        for k, o in enumerate(out_leaves):
            if not isinstance(o, Tensor):
                specs.append(("lit", o))
            elif id(o) in leaf_pos:
                specs.append(("arg", leaf_pos[id(o)]))
            elif id(o) in param_pos:
                specs.append(("param", param_pos[id(o)]))
            else:
                rg = None
                if o._rg:
                    rg = "freed" if consumed(o) else "diff"
                    (freed if rg == "freed" else diff_out).append(k)
                specs.append(("value", k, rg))
        self.bwd = None
        fwd_outputs = list(graph.outputs)
        n_user = len(fwd_outputs)
        if diff_out and state.grad_enabled:
            if tr.custom_functions:
                # NOTE: the derived backward would differentiate the Function's forward ops,
                # not run its own backward (a straight-through estimator would be silently
                # wrong), so refuse rather than guess.
                raise TraceError(
                    f"pyrch.jit: {', '.join(sorted(set(tr.custom_functions)))} (a custom "
                    "autograd.Function) is used in a traced function whose outputs require grad; "
                    "its Python backward cannot run inside a replay's derived backward. Trace the "
                    "whole training step (forward, loss.backward() and optimizer.step() inside "
                    "the traced function) or call this function under `with jit.disabled():`")
            diff = [graph.inputs[j] for j, i in enumerate(input_leaf) if leaves[i]._rg]
            self.diff_args = [i for j, i in enumerate(input_leaf) if leaves[i]._rg]
            self.diff_params = [k for k, src in enumerate(self.param_src)
                                if src[0] == "tensor" and src[1]._rg]
            diff += [graph.params[k] for k in self.diff_params]
            values = {v: leaves[i]._data for v, i in zip(graph.inputs, input_leaf)}
            for v, src in zip(graph.params, self.param_src):
                values[v] = src[1]._data if src[0] == "tensor" else \
                    src[1]._grad._data if src[0] == "grad" else np.asarray(_hp_value(src[1]), src[2])
            bgraph, residuals = derive_backward(graph, values, diff, diff_out)
            fwd_outputs += residuals
            self.bwd = _Backward(bgraph, diff_out, len(residuals),
                                 _attention_inputs(graph.replace(outputs=fwd_outputs), bgraph,
                                                   residuals, len(diff_out)))
        self.n_user = n_user
        self.opt = optimize(graph.replace(outputs=fwd_outputs))
        self.plan = lower(self.opt)
        roots = _alias_roots(self.opt)
        self.executor = Executor(self.plan, inplace=_inplace_writes(self.plan, self.opt, roots))
        fixed = set(self.opt.constants) | set(self.opt.inputs) | set(self.opt.params)
        self.out_copy = [isinstance(x, Value) and bool(roots.get(x, set()) & fixed)
                         for x in self.opt.outputs]
        for k, s in enumerate(specs):
            if s[0] == "value":
                specs[k] = ("value", self.plan.outputs[s[1]], self.out_copy[s[1]], s[2])
        self.specs = specs
        # hyperparameters whose memory no output or write can share: one 0-dim array
        # each, refilled by every replay, so a recorded plan (segments.py) finds the same
        # array there each time instead of re-pointing every step that reads it (GPT's
        # 30 AdamW updates read lr and the betas: 120 pointers a replay)
        shared = set()
        for x in self.opt.results():
            shared |= roots.get(x, set())
        self.hp_arrays = [np.empty((), src[2]) if src[0] == "hparam" and v not in shared else None
                          for v, src in zip(self.opt.params, self.param_src)]
        state_in = set(self.opt.params) | set(self.opt.inputs)
        self.write_copy = [w.value is not None and isinstance(w.value, Value) and
                           bool(roots.get(w.value, set()) & (fixed if w.kind == "set_grad" else state_in))
                           for w in self.opt.writes]
        self.diff_out = diff_out

    def replay(self, leaves):
        """Run the plan on these arguments; commit writes; return fresh outputs (or _Fail)."""
        for group, k, val in self.hp_static:
            if group.get(k) != val:
                return Fail(f"hyperparameter {k!r} changed from {val!r} to {group.get(k)!r}")
        for p, arg, was_none in self.slot_guards:
            if arg is not None:
                p = leaves[arg]
            if (p._grad is None) != was_none:
                return Fail(f"a parameter's .grad is {'set' if was_none else 'None'} where the "
                             f"trace had it {'None' if was_none else 'set'}")
        plan = self.plan
        slots = self.executor.template.copy()
        for s, i in zip(plan.inputs, self.input_leaf):
            slots[s] = leaves[i]._data
        live = []
        fill = []
        for s, src, meta, hp in zip(plan.params, self.param_src, self.param_meta, self.hp_arrays):
            kind = src[0]
            if kind == "hparam":
                val = _hp_value(src[1])
                if hp is not None and type(val) in (float, int):
                    slots[s] = hp
                    fill.append((hp, val))          # written under the executor's lock
                else:
                    slots[s] = np.asarray(val, src[2])
                live.append(None)
                continue
            t = src[1] if kind == "tensor" else src[1]._grad
            if t is None:
                return Fail("a .grad the trace reads is None")
            d = t._data
            if d.shape != meta[0] or d.dtype != meta[1] or (kind == "tensor" and t._rg != meta[2]):
                return Fail(f"state tensor changed: now {d.dtype}{list(d.shape)} "
                             f"requires_grad={t._rg}")
            slots[s] = d
            live.append(t)
        for s, gen in zip(plan.rng, self.rng_objs):
            slots[s] = gen
        rng_saved = None
        if plan.guards and self.rng_objs:
            rng_saved = [g.bit_generator.state for g in self.rng_objs]
        # one replay at a time per plan: its planned buffers are shared, and outputs that
        # live in them are copied out by _finish (threads calling one traced function)
        with self.executor.lock:
            for hp, val in fill:
                hp[()] = val
            self.executor.run(slots)
            for kind, s, expected, src in plan.guards:
                a = slots[s]
                ok = bool(a.reshape(())) == expected if kind == "bool" else np.array_equal(a, expected)
                if not ok:
                    if rng_saved is not None:
                        for g, st in zip(self.rng_objs, rng_saved):
                            g.bit_generator.state = st
                    return Fail(f"guard at {src or 'unknown line'} failed: {kind}(tensor) differs "
                                 "from the traced run")
            return self._finish(slots, leaves, live)

    def _finish(self, slots, leaves, live):
        plan = self.plan
        for (kind, (where, i), ref), copy in zip(plan.writes, self.write_copy):
            t = live[i] if where == "p" else leaves[self.input_leaf[i]]
            if kind == "assign":
                val = slots[ref[1]] if ref[0] == "s" else ref[1]
                if val is not t._data:          # not already written in place by its step
                    t._data[...] = _copy(val) if copy else val
                t._vc[0] += 1
            elif ref is None:
                t._grad = None
            else:
                val = slots[ref[1]] if ref[0] == "s" else np.asarray(ref[1])
                t._grad = Tensor._wrap(_copy(val) if copy else val)
        outs = []
        diff_nodes = None
        for s in self.specs:
            kind = s[0]
            if kind == "value":
                ref, copy, rg = s[1], s[2], s[3]
                arr = slots[ref[1]] if ref[0] == "s" else np.asarray(ref[1])
                if copy:
                    arr = _copy(arr)
                t = Tensor._wrap(arr)
                if rg is not None and state.grad_enabled:
                    t._rg = True
                    if rg == "freed":
                        t.grad_fn = freed_node(self.op)
                    elif self.bwd is not None:
                        if diff_nodes is None:
                            diff_nodes = self._autograd(slots, leaves, live)
                        t.grad_fn = diff_nodes(arr, len(outs))
                outs.append(t)
            elif kind == "arg":
                outs.append(leaves[s[1]])
            elif kind == "param":
                outs.append(live[s[1]])
            else:
                outs.append(s[1])
        if self.out_tree is None:          # a single tensor returned: no structure to rebuild
            return outs[0]
        return unflatten(self.out_tree, iter(outs))

    def _autograd(self, slots, leaves, live):
        from ..autograd.node import Node
        res = tuple(slots[r[1]] if r[0] == "s" else np.asarray(r[1])
                    for r in self.plan.outputs[self.n_user:])
        ctx = BackwardContext(self.bwd.run, res)
        args = [leaves[i] for i in self.diff_args] + [live[k] for k in self.diff_params]
        index = {k: j for j, k in enumerate(self.diff_out)}
        op = self.op

        def make(arr, out_pos):
            return Node(op, args, {"ctx": ctx, "k": index[out_pos]}, arr)
        return make


def _passes_trusting(attention):
    """The pipeline with fuse_attention told what the forward computed."""
    from . import passes

    def fuse_attention(g):
        return passes.fuse_attention(g, trusted=attention)
    return [fuse_attention if p is passes.fuse_attention else p for p in passes.PIPELINE[:-1]]


def _attention_inputs(fgraph, bgraph, residuals, n_cot):
    """What the derived backward may trust about attention its forward computed:
    passes.attention_facts of the forward, for softmaxes whose operands all reach the
    backward graph as residual inputs, in the backward graph's values."""
    from .passes import attention_facts
    as_input = dict(zip(residuals, bgraph.inputs[n_cot:]))
    trusted = {}
    for p, (q, kt, v, mask, scale, divide) in attention_facts(fgraph).items():
        vals = (p, q, kt, v) + ((mask,) if mask is not None else ())
        if all(x in as_input for x in vals):
            trusted[as_input[p]] = (as_input[q], as_input[kt], as_input[v],
                                    as_input[mask] if mask is not None else None, scale, divide)
    return trusted


class _Backward:
    """The compiled backward graph of a variant; runs inside the autograd engine."""

    def __init__(self, bgraph, diff_out, n_res, attention=None):
        self.graph = bgraph
        self.n_cot = len(diff_out)
        self.opt = optimize(bgraph, passes=_passes_trusting(attention) if attention else None)
        self.plan = lower(self.opt)
        self.executor = Executor(self.plan)
        roots = _alias_roots(self.opt)
        fixed = set(self.opt.constants) | set(self.opt.inputs)
        self.copy = [isinstance(x, Value) and bool(roots.get(x, set()) & fixed) for x in self.opt.outputs]
        self.cot_meta = [(v.shape, v.dtype.np) for v in bgraph.inputs[:self.n_cot]]

    def run(self, g, k, needs, residuals):
        plan = self.plan
        slots = self.executor.template.copy()
        for j, s in enumerate(plan.inputs[:self.n_cot]):
            slots[s] = g._data if j == k else np.zeros(*self.cot_meta[j])
        for s, arr in zip(plan.inputs[self.n_cot:], residuals):
            slots[s] = arr
        grads = []
        with self.executor.lock:            # see Variant.replay
            self.executor.run(slots)
            for ref, copy, need in zip(plan.outputs, self.copy, needs):
                if ref[0] == "lit" or not need:
                    grads.append(None)
                    continue
                arr = slots[ref[1]]
                grads.append(Tensor._wrap(_copy(arr) if copy else arr))
        return tuple(grads)
