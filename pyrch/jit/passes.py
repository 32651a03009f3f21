"""Graph passes: each is a pure `graph -> graph` function, idempotent, with a golden test.

PIPELINE is the order `compile` runs them in; `plan_buffers` and `lower` live
in plan.py (the last takes a Graph to a flat Plan).
"""
import heapq
import math

import numpy as np

from .._config import flags
from ..ops.registry import OPS
from .ir import Guard, Node, Value, Write, verify

FOLD_LIMIT = 65536     # bytes: larger results stay computed, so traces embed no big arrays
# (64 KiB takes in a causal attention mask built from ones(T, T).tril() up to T = 128)
MAX_OPERANDS = 32


def _is_effectful(n):
    """Random ops (they advance a generator) and other effectful ops (collectives)."""
    o = OPS.get(n.op)
    return o is not None and (o.kind == "random" or getattr(o, "effectful", False))


def _substitute(g, sub, nodes, constants=None):
    """Rebuild `g` with `nodes`, renaming values through `sub` everywhere."""
    def r(x):
        while isinstance(x, Value) and x in sub:
            x = sub[x]
        return x
    new_nodes = []
    for n in nodes:
        ins = tuple(r(x) for x in n.inputs)
        new_nodes.append(n if ins == n.inputs else n.replace(inputs=ins))
    return g.replace(nodes=new_nodes, outputs=tuple(r(x) for x in g.outputs),
                     writes=tuple(Write(w.kind, w.target, r(w.value)) for w in g.writes),
                     guards=tuple(Guard(d.kind, r(d.value), d.expected, d.src) for d in g.guards),
                     constants=g.constants if constants is None else constants)


def dce(g):
    """Drop nodes and constants nothing uses (random and effectful nodes stay)."""
    live = set(g.results())
    keep = []
    for n in reversed(g.nodes):
        if _is_effectful(n) or any(o in live for o in n.outputs):
            keep.append(n)
            live.update(x for x in n.inputs if isinstance(x, Value))
    keep.reverse()
    consts = {v: a for v, a in g.constants.items() if v in live}
    return g.replace(nodes=keep, constants=consts)


def _lit_key(x):
    if isinstance(x, Value):
        return x
    if isinstance(x, np.generic):
        return (type(x), x.item())
    return (type(x), x)


def cse(g):
    """Merge nodes that compute the same op on the same inputs (never random/effectful ones)."""
    seen, sub, nodes = {}, {}, []
    for n in g.nodes:
        ins = tuple(sub.get(x, x) if isinstance(x, Value) else x for x in n.inputs)
        if _is_effectful(n):
            nodes.append(n.replace(inputs=ins))
            continue
        key = (n.op, tuple(_lit_key(x) for x in ins), n.attrs)
        try:
            prev = seen.get(key)
        except TypeError:       # an unhashable attr: leave the node alone
            nodes.append(n.replace(inputs=ins))
            continue
        if prev is not None:
            for a, b in zip(n.outputs, prev.outputs):
                sub[a] = b
            continue
        n = n.replace(inputs=ins)
        seen[key] = n
        nodes.append(n)
    return _substitute(g, sub, nodes)


def fold_constants(g):
    """Evaluate nodes whose inputs are all constants when the result is small (< FOLD_LIMIT)."""
    consts = dict(g.constants)
    nodes = []
    for n in g.nodes:
        o = OPS.get(n.op)
        if (o is None or _is_effectful(n) or not all(x in consts and type(consts[x]) is np.ndarray
                                                     for x in n.inputs if isinstance(x, Value))
                or sum(v.nbytes for v in n.outputs) >= FOLD_LIMIT
                or any(isinstance(x, np.random.Generator) for x in n.inputs)):
            nodes.append(n)
            continue
        args = [consts[x] if isinstance(x, Value) else x for x in n.inputs]
        out = o.forward(np, *args, **n.attr_dict())
        outs = out if isinstance(out, tuple) else (out,)
        if any(hasattr(arr, "__cuda_array_interface__") for arr in outs):
            nodes.append(n)         # a GPU constant among the attributes: run it in the plan
            continue
        for v, arr in zip(n.outputs, outs):
            consts[v] = np.array(arr, dtype=v.dtype.np, copy=True)
    return g.replace(nodes=nodes, constants=consts)


def _scalar_is(x, k, consts):
    if isinstance(x, Value):
        a = consts.get(x)
        return a is not None and a.size <= 64 and bool(np.all(a == k))
    return x is not None and not isinstance(x, np.random.Generator) and \
        isinstance(x, (int, float, np.number, bool, np.bool_)) and x == k


def _same_meta(v, w):
    return isinstance(w, Value) and v.shape == w.shape and v.dtype is w.dtype


def simplify(g):
    """Algebraic identities: x*1, x+0, x-0, x/1, --x, no-op casts/reshapes/permutes,
    reshape of reshape, detach/clone in a functional graph, x**2 -> x*x, x**3 -> x*x*x,
    (A@B).T -> B.T@A.T, and sums of zero-padded slices that tile a dim -> cat."""
    sub, nodes, made = {}, [], {}
    consts = g.constants
    pieces = {}
    for n in g.nodes:
        ins = tuple(sub.get(x, x) if isinstance(x, Value) else x for x in n.inputs)
        n = n.replace(inputs=ins) if ins != n.inputs else n
        out = n.outputs[0] if len(n.outputs) == 1 else None
        repl = _rewrite(n, ins, out, consts, made)
        if repl is None and out is not None:
            repl = _pieces_to_cat(n, ins, out, consts, made, pieces)
        if repl is None:
            nodes.append(n)
            if out is not None:
                made[out] = n
            continue
        if isinstance(repl, Value):
            sub[out] = repl
            continue
        nodes.extend(repl)
        for m in repl:
            made[m.outputs[0]] = m
    return _substitute(g, sub, nodes)


def _rewrite(n, ins, out, consts, made):
    """A Value that replaces n's output, a list of replacement nodes, or None."""
    if out is None:
        return None
    op, a = n.op, n.attr_dict()
    x = ins[0] if ins else None
    if op in ("mul",) and len(ins) == 2:
        for i in (0, 1):
            if _scalar_is(ins[1 - i], 1, consts) and _same_meta(out, ins[i]):
                return ins[i]
    if op == "add" and len(ins) == 2:
        for i in (0, 1):
            if _scalar_is(ins[1 - i], 0, consts) and _same_meta(out, ins[i]):
                return ins[i]
    if op == "sub" and _scalar_is(ins[1], 0, consts) and _same_meta(out, x):
        return x
    if op == "div" and _scalar_is(ins[1], 1, consts) and _same_meta(out, x):
        return x
    if op == "neg" and isinstance(x, Value) and x in made and made[x].op == "neg":
        inner = made[x].inputs[0]
        if _same_meta(out, inner):
            return inner
    if op in ("detach", "clone", "positive", "contiguous") and _same_meta(out, x):
        return x
    if op == "to_dtype" and _same_meta(out, x):
        return x
    if op in ("reshape", "expand", "view") and _same_meta(out, x):
        return x
    if op == "permute" and tuple(a.get("dims", ())) == tuple(range(len(out.shape))) and _same_meta(out, x):
        return x
    if op == "permute" and isinstance(x, Value) and x in made:
        inner = made[x]
        dims = tuple(a.get("dims", ()))
        if inner.op == "permute":
            # permute of permute: compose (identity -> the original value)
            d0 = tuple(inner.attr_dict().get("dims", ()))
            comp = tuple(d0[d] for d in dims)
            src = inner.inputs[0]
            if comp == tuple(range(len(comp))) and _same_meta(out, src):
                return src
            return [n.replace(inputs=(src,), attrs=(("dims", comp),))]
        if inner.op == "matmul" and dims == (1, 0) and len(inner.inputs) == 2 and \
                all(isinstance(v, Value) and len(v.shape) == 2 for v in inner.inputs) and \
                out.dtype.name != "float64":
            # (A @ B).T -> B.T @ A.T: BLAS reads transposed operands for free, and the
            # result comes out contiguous (a weight gradient feeding the optimizer).
            # Not in float64, which must stay bitwise equal to eager: BLAS blocks the
            # two products differently and rounds them differently once k is large.
            A, B = inner.inputs
            nodes, tr = [], []
            for v in (B, A):
                if v in made and made[v].op == "permute" and \
                        tuple(made[v].attr_dict().get("dims", ())) == (1, 0):
                    tr.append(made[v].inputs[0])
                else:
                    t = Value((v.shape[1], v.shape[0]), v.dtype)
                    nodes.append(Node("permute", (v,), (("dims", (1, 0)),), (t,), n.src, n.scope))
                    tr.append(t)
            nodes.append(Node("matmul", tuple(tr), inner.attrs, (out,), inner.src, inner.scope))
            return nodes
    if op == "reshape" and isinstance(x, Value) and x in made and made[x].op == "reshape":
        inner = made[x].inputs[0]
        if _same_meta(out, inner):
            return inner
        return [n.replace(inputs=(inner,))]
    if op == "gelu_backward" and len(ins) == 2 and all(isinstance(v, Value) for v in ins) and \
            all(_same_meta(out, v) for v in ins):
        return _gelu_backward_nodes(ins[0], ins[1], out, n.src, n.scope)
    if op == "pow" and len(ins) == 2 and not isinstance(ins[1], Value) and _same_meta(out, x) \
            and "mul" in OPS:
        e = ins[1]
        if _scalar_is(e, 1, consts):
            return x
        if _scalar_is(e, 2, consts):
            return [Node("mul", (x, x), (), (out,), n.src, n.scope)]
        if _scalar_is(e, 3, consts):
            sq = Value(out.shape, out.dtype)
            return [Node("mul", (x, x), (), (sq,), n.src, n.scope),
                    Node("mul", (sq, x), (), (out,), n.src, n.scope)]
    return None


def gelu_derivative_steps(float32):
    """gelu'(a) as the ops gelu_backward's eager form runs, in its order (so float64
    stays bit-identical): [(op, operands)], an operand "a", the index of an earlier
    step, or a constant (rounded to float32 for a float32 graph). The last step is
    gelu'(a); step 3 is Phi(a), which the forward's gelu shares. The one spelling of
    the chain: _gelu_backward_nodes builds nodes from it, and the executor recognises
    the fused group it becomes (executor._gelu_pair)."""
    # the op's own constants: 1 / sqrt(2) is 0.7071067811865475, an ulp below the
    # literal 0.7071067811865476 this used to write, which broke float64 bitwise equality
    from ..ops.elementwise_nn import _INV_SQRT2, _INV_SQRT_2PI

    def c(x):
        return float(np.float32(x)) if float32 else x
    return [("mul", ("a", c(_INV_SQRT2))), ("erf", (0,)), ("add", (1, 1.0)),
            ("mul", (2, 0.5)),                                          # 3: Phi(a)
            ("mul", ("a", "a")), ("mul", (4, -0.5)), ("exp", (5,)),
            ("mul", (6, c(_INV_SQRT_2PI))),                             # 7: phi(a)
            ("mul", ("a", 7)), ("add", (3, 8))]                         # 9: gelu'(a)


def _gelu_backward_nodes(g, a, out, src, scope):
    """gelu_backward(g, a) as g * gelu'(a) spelled out (gelu_derivative_steps): the
    parts that read only `a` can then fuse into the forward's group, beside the gelu
    that shares their erf."""
    nodes, made = [], []
    for op, operands in gelu_derivative_steps(a.dtype.name == "float32"):
        ins = tuple(a if x == "a" else made[x] if isinstance(x, int) else x for x in operands)
        v = Value(a.shape, a.dtype)
        nodes.append(Node(op, ins, (), (v,), src, scope))
        made.append(v)
    nodes.append(Node("mul", (g, made[-1]), (), (out,), src, scope))
    return nodes


def _slice_piece(n, out, consts, made):
    """(dim, start, stop, value) when `out` = setitem(zeros, one-dim slice, value) or
    getitem_backward(value) of such a slice, else None.

    That is what the backward of a slice (split, chunk, narrow) produces for each
    piece; the engine then adds the pieces up.
    """
    if n is not None and n.op == "getitem_backward" and len(n.inputs) == 1:
        base, v = None, n.inputs[0]             # the same piece, its zeros implicit
        if not isinstance(v, Value):
            return None
    elif n is None or n.op != "setitem" or len(n.inputs) != 2:
        return None
    else:
        base, v = n.inputs
        if not isinstance(base, Value) or base not in consts or not isinstance(v, Value):
            return None
    key = n.attr_dict().get("key")
    nd = len(out.shape)
    if not isinstance(key, tuple) or len(key) > nd or v.dtype != out.dtype:
        return None
    dim = None
    for d, k in enumerate(key):
        if not (isinstance(k, tuple) and len(k) == 4 and k[0] == "s" and k[3] in (None, 1)):
            return None
        start, stop = k[1], k[2]
        if start in (None, 0) and (stop is None or (isinstance(stop, int) and stop >= out.shape[d])):
            continue
        if dim is not None or not all(x is None or (isinstance(x, int) and x >= 0) for x in (start, stop)):
            return None
        dim = d
    if dim is None:
        return None
    start = key[dim][1] or 0
    stop = min(out.shape[dim] if key[dim][2] is None else key[dim][2], out.shape[dim])
    want = tuple(stop - start if d == dim else s for d, s in enumerate(out.shape))
    if stop <= start or tuple(v.shape) != want:
        return None
    if base is not None:
        arr = consts[base]
        if getattr(arr, "shape", None) != tuple(out.shape) or np.any(arr):
            return None
    return dim, start, stop, v


def _pieces_to_cat(n, ins, out, consts, made, pieces):
    """add-trees of zero-padded disjoint slices along one dim that cover it -> one cat.

    The backward of `q, k, v = qkv.split(C, dim=2)` pads each piece's gradient
    into zeros and sums them: three full-size copies and two adds, where a
    concatenation writes the result once. Partial sums stay as they are (and
    die in dce once the covering cat replaces their only use).
    """
    if n.op != "add" or len(ins) != 2 or not all(isinstance(x, Value) for x in ins) \
            or "cat" not in OPS or tuple(ins[0].shape) != tuple(out.shape) \
            or tuple(ins[1].shape) != tuple(out.shape) or ins[0].dtype != out.dtype \
            or ins[1].dtype != out.dtype:
        return None
    sets = []
    for x in ins:
        p = pieces.get(x)
        if p is None:
            one = _slice_piece(made.get(x), x, consts, made)
            if one is None:
                return None
            p = (one[0], (one[1:],))
        sets.append(p)
    if sets[0][0] != sets[1][0]:
        return None
    dim = sets[0][0]
    parts = sorted(sets[0][1] + sets[1][1], key=lambda t: t[0])
    if any(a[1] > b[0] for a, b in zip(parts, parts[1:])):
        return None                                  # overlapping pieces really add
    pieces[out] = (dim, tuple(parts))
    if parts[0][0] != 0 or parts[-1][1] != out.shape[dim] or \
            any(a[1] != b[0] for a, b in zip(parts, parts[1:])):
        return None                                  # not covering yet: keep the add
    return [Node("cat", tuple(p[2] for p in parts), (("dim", dim),), (out,), n.src, n.scope)]


# -- fusion ----------------------------------------------------------------------------
def _fusable(n):
    o = OPS.get(n.op)
    return (o is not None and o.kind == "elementwise" and o.cexpr and o.n_outputs == 1
            and len(n.outputs) == 1 and not any(isinstance(x, np.random.Generator) for x in n.inputs))


class _Cyclic(Exception):
    """A grouping whose fused graph would have a cycle."""


def fuse_elementwise(g):
    """Group chains of elementwise ops with a cexpr into `fused` nodes (one loop each).

    A group is legal when every member has the group's output shape, it is
    convex (no path leaves and re-enters it) and it reads at most 32 operands.
    Values used outside the group become extra outputs of the fused node.
    """
    # NOTE: the convexity test is local (it looks at a node's producers as groups
    # grow); if a grouping still closes a cycle, fuse less rather than fail:
    # first without sibling joins, then not at all for this graph.
    for siblings in (True, False):
        try:
            return _fuse(g, siblings)
        except _Cyclic:
            continue
    return g


def _fuse(g, siblings):
    producer = {}
    for i, n in enumerate(g.nodes):
        for o in n.outputs:
            producer[o] = i
    group_of = {}          # node index -> group id
    groups = []            # group id -> [node indices]
    operands = []          # group id -> set of external Values
    deps = []              # node index -> frozenset of group ids it depends on
    readers = {}           # Value -> group ids that read it
    prev_gid = None        # the group of the last fusable node
    for i, n in enumerate(g.nodes):
        d = set()
        for x in n.inputs:
            if isinstance(x, Value) and x in producer:
                j = producer[x]
                d |= deps[j]
                if j in group_of:
                    d.add(group_of[j])
        chosen = None
        if _fusable(n):
            shape = n.outputs[0].shape
            cands = []
            for x in n.inputs:
                if isinstance(x, Value) and x in producer and producer[x] in group_of:
                    gid = group_of[producer[x]]
                    if gid not in cands:
                        cands.append(gid)
            # siblings: a group already reading one of our inputs (gelu's x*0.5 beside
            # x*x*x), joined only when every input of ours is already one of its operands
            # (or a source): the group then gains no dependency, so no cycle can form
            sibling = set()
            for x in (n.inputs if siblings else ()):
                if isinstance(x, Value):
                    for gid in readers.get(x, ()):
                        if gid not in cands and all(
                                not isinstance(y, Value) or y not in producer or y in operands[gid]
                                or group_of.get(producer[y]) == gid for y in n.inputs):
                            cands.append(gid)
                            sibling.add(gid)
            # a node reading only sources (parameters, state, constants) continues the
            # group of the fusable node just before it, ahead of any sibling group that
            # also reads one of those sources: consecutive statements of an optimizer
            # update (`v.mul_(beta2)` after the first moment's update) then stay one
            # loop. Sources depend on nothing, so this cannot close a cycle.
            if siblings and prev_gid is not None and all(
                    not isinstance(x, Value) or x not in producer for x in n.inputs):
                if prev_gid in cands:
                    cands.remove(prev_gid)
                cands.insert(0, prev_gid)
                sibling.discard(prev_gid)
            for gid in cands:
                if g.nodes[groups[gid][0]].outputs[0].shape != shape:
                    continue
                # convex: no group this node depends on may itself (transitively) depend
                # on gid, or the fused node would wait on its own output
                if gid not in sibling and any(
                        isinstance(x, Value) and x in producer and group_of.get(producer[x]) != gid
                        and gid in deps[producer[x]] for x in n.inputs):
                    continue            # a path leaves the group and comes back here
                members = set(o for k in groups[gid] for o in g.nodes[k].outputs)
                ext = operands[gid] | {x for x in n.inputs if isinstance(x, Value) and x not in members}
                if len(ext) > MAX_OPERANDS:
                    continue
                chosen = gid
                operands[gid] = ext
                break
            if chosen is None:
                chosen = len(groups)
                groups.append([])
                operands.append({x for x in n.inputs if isinstance(x, Value)})
            groups[chosen].append(i)
            group_of[i] = chosen
            prev_gid = chosen
            for x in n.inputs:
                if isinstance(x, Value):
                    readers.setdefault(x, []).append(chosen)
            d.discard(chosen)
        deps.append(frozenset(d))
    # a lone op joins too when numpy has no single ufunc for it (where, masked_fill,
    # clamp with torch's NaN rule): one C loop beats numpy's several passes; and
    # when it is big enough for the C VM's threads to beat numpy's single one
    # (a 16 x 64 x 512 float32 multiply in the GPT step: 287 -> 110 us)
    real = [m for m in groups if len(m) > 1 or _not_a_ufunc(g.nodes[m[0]])
            or _threads_pay(g.nodes[m[0]])]
    if not real:
        return g
    return _build_fused(g, real, producer)


_THREADED_MIN = 1 << 16


def _threads_pay(n):
    out = n.outputs[0]
    return out.dtype.name in ("float32", "float64") and math.prod(out.shape) >= _THREADED_MIN


def _not_a_ufunc(n):
    from ..ops.registry import ufunc_of
    from .plan import input_metas
    return ufunc_of(n.op, n.attrs, input_metas(n.inputs)) is None


def _build_fused(g, groups, producer):
    used_outside = {}
    member_of = {}
    for gid, members in enumerate(groups):
        for i in members:
            member_of[i] = gid
    ext_uses = set(g.results())
    for i, n in enumerate(g.nodes):
        for x in n.inputs:
            if isinstance(x, Value) and x in producer and member_of.get(producer[x], -1) != member_of.get(i, -2):
                used_outside[x] = True
    new_for = {}      # first member index -> fused node; other members -> None
    for gid, members in enumerate(groups):
        local = {}
        xs, xidx, body, outs, out_vals = [], {}, [], [], []
        for k, i in enumerate(members):
            n = g.nodes[i]
            opnds = []
            for x in n.inputs:
                if isinstance(x, Value) and x in local:
                    opnds.append(("t", local[x]))
                elif isinstance(x, Value):
                    if x not in xidx:
                        xidx[x] = len(xs)
                        xs.append(x)
                    opnds.append(("x", xidx[x]))
                else:
                    opnds.append(("lit", x))
            local[n.outputs[0]] = k
            body.append((n.op, tuple(opnds), n.attrs, n.outputs[0].dtype.name))
            v = n.outputs[0]
            if v in used_outside or v in ext_uses:
                outs.append(k)
                out_vals.append(v)
        first = g.nodes[members[0]]
        last = g.nodes[members[-1]]
        src = first.src if first.src == last.src else _span(first.src, last.src)
        fused = Node("fused", xs, (("body", tuple(body)), ("outs", tuple(outs))), out_vals,
                     src, first.scope or last.scope)
        new_for[members[0]] = fused
        for i in members[1:]:
            new_for[i] = None
    # topological rebuild: keep original order where possible, random nodes in sequence
    items = []
    for i, n in enumerate(g.nodes):
        if i in new_for:
            if new_for[i] is not None:
                items.append((i, new_for[i]))
        else:
            items.append((i, n))
    return g.replace(nodes=_toposort(items, g))


def _span(a, b):
    fa, _, la = a.rpartition(":")
    fb, _, lb = b.rpartition(":")
    if fa == fb and fa:
        lo, hi = sorted((int(la), int(lb)), key=int)
        return f"{fa}:{lo}-{hi}" if lo != hi else a
    return a


def _toposort(items, g):
    defined = set(g.sources())
    prod = {}
    for k, (_, n) in enumerate(items):
        for o in n.outputs:
            prod[o] = k
    waits = [0] * len(items)
    users = [[] for _ in items]
    last_random = None
    for k, (_, n) in enumerate(items):
        need = {prod[x] for x in n.inputs if isinstance(x, Value) and x not in defined}
        if _is_effectful(n):
            if last_random is not None:
                need.add(last_random)
            last_random = k
        waits[k] = len(need)
        for j in need:
            users[j].append(k)
    ready = [(items[k][0], k) for k in range(len(items)) if waits[k] == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        _, k = heapq.heappop(ready)
        out.append(items[k][1])
        for u in users[k]:
            waits[u] -= 1
            if waits[u] == 0:
                heapq.heappush(ready, (items[u][0], u))
    if len(out) != len(items):
        raise _Cyclic()
    return out


def _swapped(dims):
    return tuple(dims[:-2]) + (dims[-1], dims[-2])


def _real_literal(x):
    return not isinstance(x, Value) and isinstance(x, (int, float, np.floating, np.integer)) \
        and not isinstance(x, bool)


class _Uses:
    """Producers, users and positions of a graph's values (for pattern passes)."""

    def __init__(self, g):
        self.made, self.users, self.pos = {}, {}, {}
        for i, n in enumerate(g.nodes):
            self.pos[id(n)] = i
            for o in n.outputs:
                self.made[o] = n
            for x in n.inputs:
                if isinstance(x, Value):
                    self.users.setdefault(x, []).append(n)
        self.escaping = set(g.results())

    def canon(self, v):
        """(base, dims): v is permute(base, dims), following chains of permutes (the
        identity permutation where v is not a permute's output)."""
        dims = tuple(range(len(v.shape)))
        while True:
            n = self.made.get(v)
            if n is None or n.op != "permute" or not isinstance(n.inputs[0], Value):
                return v, dims
            d = tuple(n.attr_dict().get("dims", ()))
            dims = tuple(d[i] for i in dims)
            v = n.inputs[0]

    def transposed(self, t, v):
        """Whether t is v with its last two dims swapped (both through permutes)."""
        (bt, dt), (bv, dv) = self.canon(t), self.canon(v)
        return len(dt) >= 2 and bt is bv and dt == _swapped(dv)

    def untransposed(self, t, at, src="", scope=""):
        """(v, nodes): v is t with its last two dims swapped back -- the base of t's
        permutes where that is it, else a new permute of that base (`nodes`), known to
        this _Uses as defined at node index `at` (a later match reads it)."""
        base, dims = self.canon(t)
        back = _swapped(dims)
        if back == tuple(range(len(dims))):
            return base, []
        v = Value(_swapped(t.shape), t.dtype)
        n = Node("permute", (base,), (("dims", back),), (v,), src, scope)
        self.made[v], self.pos[id(n)] = n, at
        return v, [n]

    def only_user(self, v, n):
        """Whether n is v's one user and v is not an output, write or guard."""
        return v not in self.escaping and self.users.get(v, []) == [n]

    def before(self, v, i):
        """Whether v is defined before node index i (a node's output, or a source)."""
        n = self.made.get(v)
        return n is None or self.pos[id(n)] < i


def _scores(u, s3):
    """(q, k, scale, divide, mask, nodes) when s3 = [masked_fill(]s * c or s / c[, mask,
    -inf)] with s = q @ k^T (k^T a permute of k), each intermediate used only there;
    else None. float32 only (float64 must stay bitwise eager's)."""
    nodes, mask = [], None
    n = u.made.get(s3)
    if n is not None and n.op == "masked_fill" and len(n.inputs) == 3 and \
            isinstance(n.inputs[1], Value) and n.inputs[1].dtype.name == "bool" and \
            _real_literal(n.inputs[2]) and float(n.inputs[2]) == float("-inf"):
        nodes.append(n)
        mask, s2 = n.inputs[1], n.inputs[0]
        if not isinstance(s2, Value) or not u.only_user(s2, n):
            return None
        n = u.made.get(s2)
    scale, divide = 1.0, False
    if n is not None and n.op in ("mul", "div") and len(n.inputs) == 2:
        a, b = n.inputs
        if n.op == "mul" and _real_literal(a) and isinstance(b, Value):
            a, b = b, a
        if isinstance(a, Value) and _real_literal(b):
            nodes.append(n)
            scale, divide = float(b), n.op == "div"
            if not u.only_user(a, n):
                return None
            n = u.made.get(a)
        else:
            return None
    if n is None or n.op != "matmul" or len(n.inputs) != 2 or \
            not all(isinstance(x, Value) for x in n.inputs):
        return None
    q, kt = n.inputs
    if len(kt.shape) < 2:
        return None
    nodes.append(n)
    return q, kt, scale, divide, mask, nodes


def _attention_forward(u, sm):
    """The _attention node for softmax node sm and the nodes it replaces, or None."""
    s3, p = sm.inputs[0], sm.outputs[0]
    a = sm.attr_dict()
    if not isinstance(s3, Value) or a.get("dim") not in (-1, len(p.shape) - 1) or \
            not u.only_user(s3, sm) or not 2 <= len(p.shape) <= 4:
        return None
    found = _scores(u, s3)
    if found is None:
        return None
    q, kt, scale, divide, mask, nodes = found
    pv = [n for n in u.users.get(p, []) if n.op == "matmul" and n.inputs[0] is p and
          isinstance(n.inputs[1], Value)]
    if len(pv) != 1:
        return None
    v, o = pv[0].inputs[1], pv[0].outputs[0]
    lead, t, s = q.shape[:-2], q.shape[-2], kt.shape[-1]
    vals = (q, kt, v, s3, p, o) + tuple(x for n in nodes for x in n.outputs)
    # (no broadcasting anywhere: a mask that widens the scores' batch dims does not fuse)
    if any(x.dtype.name != "float32" for x in vals) or \
            not (lead == kt.shape[:-2] == v.shape[:-2]) or q.shape[-1] != kt.shape[-2] or \
            v.shape[-2] != s or p.shape != lead + (t, s) or o.shape != lead + (t, v.shape[-1]):
        return None
    i = u.pos[id(sm)]
    base, _ = u.canon(kt)
    if not all(u.before(x, i) for x in (q, base, v) + ((mask,) if mask is not None else ())):
        return None
    k, made = u.untransposed(kt, i, sm.src, sm.scope)       # k itself
    made.append(Node("_attention", (q, k, v, mask), (("divide", divide), ("scale", scale)),
                     (o, p), sm.src, sm.scope))
    return made, nodes + [sm, pv[0]], (q, k, v, mask, scale, divide), kt


def _attention_backward(u, sb, fwd):
    """The _attention_backward node for softmax_backward node sb (of an _attention
    node's softmax, whose inputs `fwd` gives), the nodes it replaces, or None."""
    q, k, v, mask, scale, divide = fwd
    dp, p = sb.inputs[0], sb.inputs[1]
    a = sb.attr_dict()
    if a.get("log") or a.get("dim") not in (-1, len(p.shape) - 1) or \
            not isinstance(dp, Value) or not u.only_user(dp, sb):
        return None
    n_dp = u.made.get(dp)
    if n_dp is None or n_dp.op != "matmul" or not all(isinstance(x, Value) for x in n_dp.inputs) \
            or not u.transposed(n_dp.inputs[1], v):
        return None
    go = n_dp.inputs[0]
    nodes = [n_dp, sb]
    ds = sb.outputs[0]
    n = u.users.get(ds, [None])[0]
    if mask is not None:
        if n is None or n.op != "masked_fill" or n.inputs[0] is not ds or n.inputs[1] is not mask \
                or not _real_literal(n.inputs[2]) or float(n.inputs[2]) != 0.0 or \
                not u.only_user(ds, n):
            return None
        nodes.append(n)
        ds = n.outputs[0]
        n = u.users.get(ds, [None])[0]
    if scale != 1.0 or divide:
        if n is None or n.op != ("div" if divide else "mul") or not u.only_user(ds, n) or \
                len(n.inputs) != 2:
            return None
        lit = [x for x in n.inputs if x is not ds]
        # (autograd's literal is the forward's scale as a float32; the C side applies
        # it in float32 either way)
        if len(lit) != 1 or not _real_literal(lit[0]) or np.float32(lit[0]) != np.float32(scale) or \
                (divide and n.inputs[0] is not ds):
            return None
        nodes.append(n)
        ds = n.outputs[0]
    if ds in u.escaping:
        return None
    # its users: dq = ds @ k and dk^T = q^T @ ds
    users = u.users.get(ds, [])
    kc = u.canon(k)
    n_dq = [n for n in users if n.op == "matmul" and n.inputs[0] is ds and
            isinstance(n.inputs[1], Value) and u.canon(n.inputs[1]) == kc]
    n_dkt = [n for n in users if n.op == "matmul" and n.inputs[1] is ds and
             isinstance(n.inputs[0], Value) and u.transposed(n.inputs[0], q)]
    # and dv = p^T @ go
    n_dv = [n for n in u.users.get(go, []) if n.op == "matmul" and n.inputs[1] is go and
            isinstance(n.inputs[0], Value) and u.transposed(n.inputs[0], p)]
    if len(users) != 2 or len(n_dq) != 1 or len(n_dkt) != 1 or len(n_dv) != 1:
        return None
    nodes += [n_dq[0], n_dkt[0], n_dv[0]]
    i = min(u.pos[id(n)] for n in nodes)
    if not all(u.before(x, i) for x in (go, q, k, v, p) + ((mask,) if mask is not None else ())):
        return None
    dkt = n_dkt[0].outputs[0]
    dk = Value(k.shape, k.dtype)
    swap = _swapped(tuple(range(len(k.shape))))
    new = [Node("_attention_backward", (go, q, k, v, p, mask),
                (("divide", divide), ("scale", scale)),
                (n_dq[0].outputs[0], dk, n_dv[0].outputs[0]), sb.src, sb.scope),
           Node("permute", (dk,), (("dims", swap),), (dkt,), sb.src, sb.scope)]
    return new, nodes


def attention_facts(g):
    """{softmax output: (q, k^T, v, mask, scale, divide)} for each attention in `g` that
    fuse_attention fuses: what a separately derived gradient graph may trust about
    those values (see fuse_attention's `trusted`)."""
    u = _Uses(g)
    facts = {}
    for n in g.nodes:
        if n.op == "softmax":
            r = _attention_forward(u, n)
            if r is not None:
                q, _, v, mask, scale, divide = r[2]
                facts[n.outputs[0]] = (q, r[3], v, mask, scale, divide)
    return facts


def fuse_attention(g, trusted=None):
    """Attention spelled out in float32 -- softmax([masked_fill(](q @ k^T) * c[, mask,
    -inf)], -1) @ v, and its gradient as autograd writes it when the same graph holds
    both -- becomes one `_attention` node (and one `_attention_backward`), which the C
    executor runs per (batch, head) entry with the scores in cache, skipping key
    columns the mask hides (pyrch/_C/attn.c). The forward's scores must be used only
    by the chain; its softmax may be used elsewhere. The gradient is fused only when
    its softmax comes from a fused forward with the same q, k, v, mask and scale:
    skipping masked columns is exact only where the softmax is 0 there.

    trusted: for a gradient graph derived apart from its forward (a traced Module's),
    {softmax value: (q, k^T, v, mask, scale, divide)}, values of `g` that its forward
    graph computed that way (`attention_facts` of the forward, mapped to the gradient
    graph's inputs)."""
    if "_attention" not in OPS:
        return g
    u = _Uses(g)
    at, drop, fwd = {}, set(), {}
    for n in g.nodes:
        if n.op == "softmax" and id(n) not in drop:
            r = _attention_forward(u, n)
            if r is not None and not any(id(m) in drop for m in r[1]):
                new, nodes, info, _ = r
                at.setdefault(u.pos[id(n)], []).extend(new)
                drop.update(id(m) for m in nodes)
                fwd[n.outputs[0]] = info
    for p, (q, kt, v, mask, scale, divide) in (trusted or {}).items():
        if not all(u.before(x, 0) for x in (p, q, kt, v) + ((mask,) if mask is not None else ())):
            continue        # (facts are about the graph's inputs)
        k, made = u.untransposed(kt, -1)
        at.setdefault(0, []).extend(made)
        fwd[p] = (q, k, v, mask, scale, divide)
    if not fwd:
        return g
    for n in g.nodes:
        if n.op == "softmax_backward" and len(n.inputs) == 2 and n.inputs[1] in fwd and \
                id(n) not in drop:
            r = _attention_backward(u, n, fwd[n.inputs[1]])
            if r is not None and not any(id(m) in drop for m in r[1]):
                new, nodes = r
                at.setdefault(min(u.pos[id(m)] for m in nodes), []).extend(new)
                drop.update(id(m) for m in nodes)
    out = []
    for i, n in enumerate(g.nodes):
        out.extend(at.get(i, ()))
        if id(n) not in drop:
            out.append(n)
    return g.replace(nodes=out)


def hoist_product_multiplies(g):
    """Move a lone multiply (a `mul` node, or a fused group of one) of a matmul's
    product by another value to right after that matmul, when nothing effectful lies
    between and its other input already exists there (a GELU backward's `grad * saved derivative`, which autograd
    placed after the weight gradient's matmul): the executor then runs the multiply
    as the product's GEMM epilogue (gemm.h PYRCH_ACT_MUL), while the product is in
    cache. The graph is functional, so the values are the same."""
    nodes = list(g.nodes)
    made = {}
    for i, n in enumerate(nodes):
        for v in n.outputs:
            made[v] = i
    after = {}                                  # matmul index -> nodes moved behind it
    moved = set()
    for j, n in enumerate(nodes):
        if len(n.inputs) != 2 or len(n.outputs) != 1 or \
                not all(isinstance(x, Value) for x in n.inputs):
            continue
        if n.op == "fused":
            body = n.attr_dict()["body"]
            if len(body) != 1 or body[0][0] != "mul" or body[0][2]:
                continue
        elif n.op != "mul" or n.attrs:
            continue
        prods = [made.get(x, -1) for x in n.inputs]         # -1: an input or a constant
        k = max(prods)
        if k < 0 or nodes[k].op != "matmul" or k >= j - 1 or prods.count(k) != 1 or \
                any(_is_effectful(nodes[t]) for t in range(k + 1, j)):
            continue
        after.setdefault(k, []).append(n)
        moved.add(j)
    if not moved:
        return g
    out = []
    for i, n in enumerate(nodes):
        if i not in moved:
            out.append(n)
            out.extend(after.get(i, ()))
    return g.replace(nodes=out)


from .plan import plan_buffers, lower  # noqa: E402  (plan imports ir only)

PIPELINE = [dce, cse, fold_constants, simplify, fuse_attention, simplify, dce, fuse_elementwise,
            hoist_product_multiplies, plan_buffers, lower]


def optimize(g, passes=None, check=None):
    """Run the graph passes of PIPELINE (all but `lower`); verify after each when asked."""
    check = flags.debug >= 2 if check is None else check
    for p in (passes if passes is not None else PIPELINE[:-1]):
        g = p(g)
        if check:
            verify(g)
            if flags.debug >= 2:
                import sys
                print(f"[pyrch.jit] after {p.__name__}:\n{g}", file=sys.stderr)
    return g


def compile_graph(g, check=None):
    """optimize + lower: the Plan an executor runs."""
    return lower(optimize(g, check=check))
