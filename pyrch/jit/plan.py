"""Memory planning and lowering: from a Graph to a flat, plain-data Plan.

A Plan is what executors run: numbered slots (inputs, params, rng, constants,
then every node output), a list of steps (`call` an op's forward or run a
`fused` body), and a buffer table. Every field is plain data (ints, strings,
tuples, numpy constants) so the C executor can consume the same plan.

Buffers: `plan_buffers` gives intermediate values a reusable buffer by
liveness. A value and its views share one lifetime; values that escape
(outputs, writes, guards) never get a planned buffer, so every replay
returns fresh arrays.
"""
from ..ops.registry import OPS
from .ir import Value


from ..ops.registry import ufunc_of  # noqa: F401  (re-exported for the executors)


def input_metas(inputs):
    """Probe keys for a node's inputs: (shape, numpy dtype) for Values, literals as they are."""
    return tuple((x.shape, x.dtype.np) if isinstance(x, Value) else x for x in inputs)


def fresh(n):
    """True when a node always writes a new array (so it may own a planned buffer)."""
    if n.op == "fused":
        return True
    return len(n.outputs) == 1 and ufunc_of(n.op, n.attrs, input_metas(n.inputs)) is not None


def new_memory(n):
    """True when a node's outputs never share memory with its inputs: a fresh node, or
    an op declared `new_memory` in the registry (it allocates its result itself, so it
    gets no planned buffer, but its inputs do not escape or stay alive through it)."""
    if fresh(n):
        return True
    o = OPS.get(n.op)
    nm = o.new_memory if o is not None else False
    if callable(nm):
        return bool(nm([tuple(x.shape) if isinstance(x, Value) else None for x in n.inputs],
                       [tuple(v.shape) for v in n.outputs], n.attr_dict()))
    return bool(nm)


def plan_buffers(g):
    """Assign reusable buffers to intermediates by liveness (never to escaping values).

    A node that does not provably write new memory may return (a view of)
    one of its inputs, so its outputs keep every input's memory alive.
    """
    roots = {}
    for n in g.nodes:
        if new_memory(n):
            for v in n.outputs:
                roots[v] = (v,)
        else:
            rs = set()
            for x in n.inputs:
                if isinstance(x, Value):
                    rs.update(roots.get(x, (x,)))
            for v in n.outputs:
                roots[v] = tuple(rs)
    escaping = set()
    for x in g.results():
        escaping.update(roots.get(x, (x,)))
    last = {}
    for i, n in enumerate(g.nodes):
        for x in n.inputs:
            if isinstance(x, Value):
                for r in roots.get(x, (x,)):
                    last[r] = i
        for v in n.outputs:
            if roots[v] == (v,):
                last[v] = max(last.get(v, i), i)
    buffers, free, assign, release = [], {}, {}, {}
    for i, n in enumerate(g.nodes):
        for b, key in release.pop(i - 1, ()):
            free.setdefault(key, []).append(b)
        if not fresh(n):
            continue
        for v in n.outputs:
            if v in escaping:
                continue
            key = (v.shape, v.dtype.name)
            pool = free.get(key)
            if pool:
                b = pool.pop()
            else:
                b = len(buffers)
                buffers.append(key)
            assign[v] = b
            release.setdefault(last[v], []).append((b, key))
    assign["__table__"] = tuple(buffers)
    return g.replace(buffers=assign)


def reduce_axes(op_name, attrs, in_shape):
    """The axes a reduce step (sum, mean, amax or sum_to) takes in keepdims form, or
    None if unknown."""
    nd = len(in_shape)
    if op_name == "sum_to":
        shape = tuple(attrs["shape"])
        lead = nd - len(shape)
        return tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                          if s == 1 and in_shape[lead + i] != 1)
    dim = attrs.get("dim")
    if dim is None:
        return tuple(range(nd))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    try:
        return tuple(sorted(d % nd for d in dims)) if nd else ()
    except TypeError:
        return None


class Step:
    """One step: `kind` is "call" (op forward) or "fused"; `args` are ("s", slot) or
    ("lit", value); `outs` slots; `bufs` a planned buffer per output or -1."""
    __slots__ = ("kind", "op", "args", "attrs", "outs", "bufs", "src")

    def __init__(self, kind, op, args, attrs, outs, bufs, src):
        self.kind, self.op, self.args, self.attrs = kind, op, args, attrs
        self.outs, self.bufs, self.src = outs, bufs, src

    def __repr__(self):
        return f"Step({self.kind} {self.op} {self.args} -> {self.outs} bufs={self.bufs})"

    @property
    def name(self):
        """The op's name, or fused[op+op+...] (profiler rows, error messages)."""
        if self.kind == "fused":
            return "fused[" + "+".join(op for op, *_ in self.attrs["body"]) + "]"
        return self.op


class Plan:
    """A lowered graph: slots, constants, steps, outputs, writes, guards, buffers."""

    def __init__(self, graph, n_slots, inputs, params, rng, constants, steps, outputs, writes,
                 guards, buffers, slot_of):
        self.graph = graph
        self.n_slots = n_slots
        self.inputs, self.params, self.rng = inputs, params, rng
        self.constants = constants          # [(slot, array)]
        self.steps = steps
        self.outputs = outputs              # [("s", slot) | ("lit", value)]
        self.writes = writes                # [(kind, ("p", param index) | ("in", input index), ref | None)]
        self.guards = guards                # [(kind, slot, expected, src)]
        self.buffers = buffers              # [(shape, dtype name)]
        self.slot_of = slot_of

    def reads(self):
        """How many step arguments read each slot."""
        n = {}
        for st in self.steps:
            for kind, k in st.args:
                if kind == "s":
                    n[k] = n.get(k, 0) + 1
        return n

    def escaping(self):
        """Slots a replay hands out: outputs, values written to state, guarded values."""
        esc = {k for kind, k in self.outputs if kind == "s"}
        esc.update(ref[1] for _, _, ref in self.writes if ref is not None and ref[0] == "s")
        esc.update(slot for _, slot, _, _ in self.guards)
        return esc

    def __repr__(self):
        return "\n".join([f"Plan({self.n_slots} slots, {len(self.buffers)} buffers)"] +
                         [f"  {s!r}" for s in self.steps])


def lower(g):
    """Flatten a graph into a Plan: a step list over numbered slots."""
    slot = {}
    for v in g.sources():
        slot.setdefault(v, len(slot))
    for n in g.nodes:
        for v in n.outputs:
            slot[v] = len(slot)
    bufs = g.buffers or {}

    def ref(x):
        return ("s", slot[x]) if isinstance(x, Value) else ("lit", x)
    steps = []
    for n in g.nodes:
        steps.append(Step("fused" if n.op == "fused" else "call", n.op,
                          tuple(ref(x) for x in n.inputs), n.attr_dict(),
                          tuple(slot[v] for v in n.outputs),
                          tuple(bufs.get(v, -1) for v in n.outputs), n.src))
    where = {v: ("p", i) for i, v in enumerate(g.params)}
    where.update({v: ("in", i) for i, v in enumerate(g.inputs)})
    writes = [(w.kind, where[w.target], None if w.value is None else ref(w.value))
              for w in g.writes]
    guards = [(d.kind, slot[d.value], d.expected, d.src) for d in g.guards]
    return Plan(g, len(slot), [slot[v] for v in g.inputs], [slot[v] for v in g.params],
                [slot[v] for v in g.rng], [(slot[v], a) for v, a in g.constants.items()],
                steps, [ref(x) for x in g.outputs], writes, guards,
                list(bufs.get("__table__", ())), slot)
