"""The traced IR: a flat SSA graph of registry ops, its printer and `verify`.

A `Graph` holds its inputs (the call's tensors, flattened), params (state read
by reference: parameters, buffers, `.grad` slots, optimizer moments,
hyperparameters), rng inputs (numpy generators random ops draw from),
constants, nodes in SSA order, outputs, trailing writes and data guards.
Values are immutable and compared by identity, so passes build new graphs
that share them freely.

>>> from pyrch.jit.ir import Graph, Value, Node
>>> import pyrch
>>> x = Value((2,), pyrch.float32, "x")
>>> y = Value((2,), pyrch.float32)
>>> g = Graph("f", inputs=(x,), nodes=(Node("exp", (x,), (), (y,)),), outputs=(y,))
>>> print(g)
graph f(%x: f32[2]) {
  %0: f32[2] = exp(%x)
  return (%0)
}
"""
import numpy as np

from ..ops.registry import OPS, Meta, infer

_SHORT = {"float16": "f16", "float32": "f32", "float64": "f64", "int8": "i8", "int16": "i16",
          "int32": "i32", "int64": "i64", "uint8": "u8", "bool": "bool"}
_COMMENT_COL = 52


class Value:
    """One SSA value: a shape and a pyrch dtype (and a name for inputs and params)."""
    __slots__ = ("shape", "dtype", "name")

    def __init__(self, shape, dtype, name=None):
        self.shape, self.dtype, self.name = tuple(shape), dtype, name

    @property
    def nbytes(self):
        n = self.dtype.itemsize
        for s in self.shape:
            n *= s
        return n

    def meta(self):
        return Meta(self.shape, self.dtype)

    def __repr__(self):
        return f"Value({self.name or ''}: {type_str(self)})"


class Node:
    """One op call: op name, inputs (Values or literals), sorted attrs, output Values.

    `src` is the user's file:line, `scope` the module path (`fc1`) when known.
    A `fused` node carries its body in attrs (see passes.fuse_elementwise).
    """
    __slots__ = ("op", "inputs", "attrs", "outputs", "src", "scope")

    def __init__(self, op, inputs, attrs, outputs, src="", scope=""):
        self.op, self.inputs, self.outputs = op, tuple(inputs), tuple(outputs)
        self.attrs = attrs if isinstance(attrs, tuple) else freeze(attrs)
        self.src, self.scope = src, scope

    def attr_dict(self):
        return dict(self.attrs)

    def replace(self, **kw):
        """A copy with some fields changed (nodes are treated as immutable)."""
        d = {k: getattr(self, k) for k in self.__slots__}
        d.update(kw)
        return Node(**d)

    def __repr__(self):
        return f"Node({self.op})"


class Write:
    """A trailing state update: `assign` copies into a param's buffer; `set_grad`
    rebinds `param.grad` (to a fresh tensor holding `value`, or to None)."""
    __slots__ = ("kind", "target", "value")

    def __init__(self, kind, target, value):
        self.kind, self.target, self.value = kind, target, value


class Guard:
    """A data-dependent condition checked on replay: `bool` (bool(value) == expected)
    or `value` (the whole array equals expected, for allow_scalars reads)."""
    __slots__ = ("kind", "value", "expected", "src")

    def __init__(self, kind, value, expected, src=""):
        self.kind, self.value, self.expected, self.src = kind, value, expected, src


class Graph:
    """A traced function: see the module docstring for the parts."""
    __slots__ = ("name", "inputs", "params", "rng", "constants", "nodes", "outputs",
                 "writes", "guards", "buffers")

    def __init__(self, name, inputs=(), params=(), rng=(), constants=None, nodes=(),
                 outputs=(), writes=(), guards=(), buffers=None):
        self.name = name
        self.inputs, self.params, self.rng = tuple(inputs), tuple(params), tuple(rng)
        self.constants = dict(constants or {})
        self.nodes, self.outputs = tuple(nodes), tuple(outputs)
        self.writes, self.guards = tuple(writes), tuple(guards)
        self.buffers = buffers   # Value -> buffer index, set by plan_buffers

    def replace(self, **kw):
        d = {k: getattr(self, k) for k in self.__slots__}
        d.update(kw)
        return Graph(**d)

    def sources(self):
        """Every Value defined outside the nodes (inputs, params, rng, constants)."""
        return self.inputs + self.params + self.rng + tuple(self.constants)

    def results(self):
        """The Values the graph hands out: its outputs, the values it writes to state
        and the values its guards check."""
        out = [x for x in self.outputs if isinstance(x, Value)]
        out += [w.value for w in self.writes if isinstance(w.value, Value)]
        out += [d.value for d in self.guards]
        return out

    def uses(self):
        """Value -> number of uses (by nodes, outputs, writes and guards)."""
        n = {}
        for v in _used_values(self):
            n[v] = n.get(v, 0) + 1
        return n

    def __str__(self):
        return format_graph(self)

    __repr__ = __str__

    def _repr_html_(self):
        from .._display import graph_html
        return graph_html(self)

    def __rich__(self):
        from .._display import graph_rich
        return graph_rich(self)


def _used_values(g):
    for n in g.nodes:
        for x in n.inputs:
            if isinstance(x, Value):
                yield x
    yield from g.results()


def freeze(attrs):
    """Attrs as a sorted tuple of (name, value) pairs: hashable, deterministic."""
    if not attrs:
        return ()
    return tuple(sorted(attrs.items()))


# -- printing ------------------------------------------------------------------------------
def type_str(v):
    return f"{_SHORT.get(v.dtype.name, v.dtype.name)}[{','.join(str(s) for s in v.shape)}]"


def _lit(x):
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    if hasattr(x, "np") and hasattr(x, "itemsize"):   # a pyrch dtype
        return x.name
    if isinstance(x, tuple):
        return "(" + ", ".join(_lit(y) for y in x) + ("," if len(x) == 1 else "") + ")"
    if x is None:
        return "None"
    return repr(x)


class _Names:
    def __init__(self, g):
        self.map = {}
        for v in g.sources():
            if v not in self.map:
                self.map[v] = v.name or f"s{len(self.map)}"
        for i, v in enumerate(g.constants):
            self.map[v] = f"c{i}"
        k = 0
        for n in g.nodes:
            for o in n.outputs:
                self.map[o] = str(k)
                k += 1

    def __call__(self, x):
        if isinstance(x, Value):
            return "%" + self.map.get(x, "?")
        return _lit(x)


def _comment(line, node):
    tag = " ".join(t for t in (node.scope, node.src) if t)
    if not tag:
        return line
    return line.ljust(_COMMENT_COL) + "  # " + tag


def format_body(attrs, operand_names):
    """A fused body as text: `t0 = x0 + x1; t1 = exp(t0) -> t1`."""
    a = dict(attrs)
    parts = []
    for i, (op, operands, battrs, _) in enumerate(a["body"]):
        args = [operand_names[k] if kind == "x" else f"t{k}" if kind == "t" else _lit(k)
                for kind, k in operands]
        expr = _cexpr_text(op, args, dict(battrs))
        parts.append(f"t{i} = {expr}")
    return "; ".join(parts) + " -> " + ", ".join(f"t{k}" for k in a["outs"])


def _cexpr_text(op, args, attrs):
    import re
    o = OPS.get(op)
    c = o.cexpr if o is not None else None
    if not c:
        return f"{op}({', '.join(args)})"
    sub = dict(zip("abc", args))
    sub.update({k: _lit(v) for k, v in attrs.items()})
    return re.sub(r"\b([A-Za-z_]\w*)\b", lambda m: sub.get(m.group(1), m.group(1)), c)


def format_graph(g):
    """Deterministic text: numbered by position, attrs sorted, one line per value."""
    nm = _Names(g)
    ins = ", ".join(f"{nm(v)}: {type_str(v)}" for v in g.inputs)
    head = f"graph {g.name}({ins})"
    if g.params:
        head += " params(" + ", ".join(f"{nm(v)}: {type_str(v)}" for v in g.params) + ")"
    if g.rng:
        head += " rng(" + ", ".join(nm(v) for v in g.rng) + ")"
    lines = [head + " {"]
    for v, arr in g.constants.items():
        a = np.asarray(arr)
        shown = np.array2string(a.reshape(-1), separator=", ", threshold=8) if a.size <= 8 else \
            f"<{a.nbytes} bytes>"
        lines.append(f"  {nm(v)}: {type_str(v)} = const {shown}")
    for n in g.nodes:
        outs = ", ".join(f"{nm(o)}: {type_str(o)}" for o in n.outputs)
        args = [nm(x) for x in n.inputs]
        if n.op == "fused":
            xs = [f"x{i}" for i in range(len(n.inputs))]
            call = f"fused({', '.join(args)}) {{ {format_body(n.attrs, xs)} }}"
        else:
            args += [f"{k}={_lit(v)}" for k, v in n.attrs]
            call = f"{n.op}({', '.join(args)})"
        lines.append(_comment(f"  {outs} = {call}", n))
    for gd in g.guards:
        exp = _lit(gd.expected) if gd.kind == "bool" else "<traced value>"
        line = f"  guard {gd.kind}({nm(gd.value)}) == {exp}"
        lines.append(line.ljust(_COMMENT_COL) + "  # " + gd.src if gd.src else line)
    for w in g.writes:
        lines.append(f"  {w.kind}({nm(w.target)}, {nm(w.value)})")
    lines.append("  return (" + ", ".join(nm(x) for x in g.outputs) + ")")
    lines.append("}")
    return "\n".join(lines)


# -- verification --------------------------------------------------------------------------
class VerifyError(AssertionError):
    """A graph broke an IR invariant; the message names the node."""


def _meta_of(x, rng):
    if isinstance(x, Value):
        if x in rng:
            return np.random.default_rng(0)
        return x.meta()
    return x


def verify(g):
    """Check the IR invariants (STYLE §7); raise VerifyError naming the bad node.

    Defined-before-use and once; ops exist; `infer` reproduces each output's
    shape and dtype; attrs are hashable; fused bodies use only ops with a cexpr.
    """
    defined = set()
    for v in g.sources():
        if v in defined:
            raise VerifyError(f"{v} is defined twice")
        defined.add(v)
    rng = set(g.rng)
    for i, n in enumerate(g.nodes):
        where = f"node {i} ({n.op}, {n.src or 'no source'})"
        for x in n.inputs:
            if isinstance(x, Value) and x not in defined:
                raise VerifyError(f"{where}: uses {x} before it is defined")
        try:
            hash(n.attrs)
        except TypeError:
            raise VerifyError(f"{where}: attrs are not hashable: {n.attrs!r}") from None
        if n.op == "fused":
            _verify_fused(n, where)
        else:
            o = OPS.get(n.op)
            if o is None:
                raise VerifyError(f"{where}: op {n.op!r} is not in the registry")
            got = infer(o, [_meta_of(x, rng) for x in n.inputs], n.attr_dict())
            got = got if isinstance(got, list) else [got]
            if len(got) != len(n.outputs):
                raise VerifyError(f"{where}: infer gives {len(got)} outputs, graph has {len(n.outputs)}")
            for (shape, dt), out in zip(got, n.outputs):
                if tuple(shape) != out.shape or dt is not out.dtype:
                    raise VerifyError(f"{where}: infer says {tuple(shape)} {dt}, graph records "
                                      f"{out.shape} {out.dtype}")
        for out in n.outputs:
            if out in defined:
                raise VerifyError(f"{where}: redefines {out}")
            defined.add(out)
    for x in _used_values(g):
        if x not in defined:
            raise VerifyError(f"output/write/guard uses undefined {x}")
    return True


def _verify_fused(n, where):
    a = n.attr_dict()
    body, outs = a.get("body"), a.get("outs")
    if body is None or outs is None or len(outs) != len(n.outputs):
        raise VerifyError(f"{where}: fused node without a valid body/outs")
    for j, (op, operands, _, _) in enumerate(body):
        o = OPS.get(op)
        if o is None or not o.cexpr:
            raise VerifyError(f"{where}: fused body uses {op!r}, which has no cexpr")
        for kind, k in operands:
            if kind == "x" and not 0 <= k < len(n.inputs):
                raise VerifyError(f"{where}: fused operand x{k} out of range")
            if kind == "t" and not 0 <= k < j:
                raise VerifyError(f"{where}: fused temporary t{k} used before it is defined")
    shape = n.outputs[0].shape
    if any(o.shape != shape for o in n.outputs):
        raise VerifyError(f"{where}: fused outputs differ in shape")
