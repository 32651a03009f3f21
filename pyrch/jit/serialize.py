"""jit.save / jit.load: a traced graph as plain data, runnable without the source.

File layout (safetensors-style, no pickle):

    8 bytes   little-endian u64 N: the length of the JSON header
    N bytes   UTF-8 JSON header
    ...       raw little-endian buffers (constants and params), C order

Header: {"format": "pyrch.jit", "version": 1, "graph": {...}, "buffers": {key:
{"dtype", "shape", "offsets": [begin, end]}}}. The graph lists `values` (id ->
[shape, dtype]), `inputs`/`params`/`rng` (value ids, params with name and
kind), `constants` (value id -> buffer key), `nodes` ({op, inputs, attrs,
outputs, src, scope}), `outputs`, `writes` ({kind, target, value}), `guards`
({kind, value, expected, src}; a failing guard raises), `out_tree`. Literals and attrs are
tagged JSON: {"int": 3}, {"float": "0.1"} (repr, exact), {"np": ["float32",
"2.0"]}, {"dtype": "float32"}, {"tuple": [...]}, {"str": "x"}, {"none": 0},
{"bool": true}. Param kinds: "tensor" (a state tensor; its value is saved),
"hparam" (a scalar hyperparameter; its value is saved and can be changed
through `loaded.hparams`).

A loaded graph is re-optimised and runs on the reference executor; its state
lives in `loaded.params` (name -> Tensor) and is updated in place by writes.
"""
import json
import struct

import numpy as np

from .._dtype import as_dtype
from .._tensor import Tensor
from .ir import Graph, Guard, Node, Value, Write, verify

MAGIC = "pyrch.jit"
VERSION = 1


def _enc(x):
    if x is None:
        return {"none": 0}
    if isinstance(x, (bool, np.bool_)) and not isinstance(x, np.generic):
        return {"bool": bool(x)}
    if isinstance(x, np.generic):
        return {"np": [np.dtype(type(x)).name, repr(x.item())]}
    if isinstance(x, int):
        return {"int": x}
    if isinstance(x, float):
        return {"float": repr(x)}
    if isinstance(x, str):
        return {"str": x}
    if isinstance(x, tuple):
        return {"tuple": [_enc(y) for y in x]}
    if hasattr(x, "np") and hasattr(x, "itemsize"):
        return {"dtype": x.name}
    raise TypeError(f"jit.save: cannot store attribute value {x!r} ({type(x).__name__})")


def _dec(d):
    (k, v), = d.items()
    if k == "none":
        return None
    if k == "bool":
        return bool(v)
    if k == "int":
        return int(v)
    if k == "float":
        return float(v)
    if k == "str":
        return str(v)
    if k == "tuple":
        return tuple(_dec(y) for y in v)
    if k == "dtype":
        return as_dtype(v)
    if k == "np":
        dt = np.dtype(v[0])
        return dt.type(float(v[1]) if dt.kind == "f" else (v[1] == "True" if dt.kind == "b" else int(v[1])))
    raise ValueError(f"unknown literal tag {k!r}")


def _tree_enc(tree):
    if tree is None:
        return None
    t = tree[0]
    if t is dict:
        return {"dict": [list(tree[1]), [_tree_enc(s) for s in tree[2]]]}
    if t is list:
        return {"list": [_tree_enc(s) for s in tree[1]]}
    return {"tuple": [_tree_enc(s) for s in tree[1]]}


def _tree_dec(d):
    if d is None:
        return None
    (k, v), = d.items()
    if k == "dict":
        return (dict, tuple(v[0]), tuple(_tree_dec(s) for s in v[1]))
    return (list if k == "list" else tuple, tuple(_tree_dec(s) for s in v))


def save(traced, path):
    """Write a traced function/module's most recent graph, constants and state to `path`."""
    from .function import _hp_value
    tf = getattr(traced, "_traced", traced)
    var = None
    for entry in tf._cache.values():
        if entry.variants:
            var = entry.variants[0]
    if var is None:
        raise RuntimeError("jit.save: this function has not been traced yet; call it (at least "
                           "twice with the decorator, once with example_inputs) before saving")
    g = var.graph
    ids, values = {}, {}

    def vid(v):
        if v not in ids:
            ids[v] = len(ids)
            values[ids[v]] = [list(v.shape), v.dtype.name]
        return ids[v]

    def ref(x):
        return {"v": vid(x)} if isinstance(x, Value) else _enc(x)
    blobs = {}
    params = []
    for v, src in zip(g.params, var.param_src):
        if src[0] == "hparam":
            params.append({"id": vid(v), "name": v.name, "kind": "hparam",
                           "value": _enc(float(_hp_value(src[1])))})
        else:
            t = src[1] if src[0] == "tensor" else src[1]._grad
            key = f"param:{v.name}"
            blobs[key] = t._host()
            params.append({"id": vid(v), "name": v.name, "kind": "tensor", "buffer": key})
    consts = {}
    for i, (v, arr) in enumerate(g.constants.items()):
        key = f"const:{i}"
        blobs[key] = np.asarray(arr)
        consts[str(vid(v))] = key
    out_specs = []
    for s in var.specs:
        out_specs.append(None if s[0] == "lit" else s[0])
    header = {
        "format": MAGIC, "version": VERSION,
        "graph": {
            "name": g.name,
            "inputs": [{"id": vid(v), "name": v.name} for v in g.inputs],
            "params": params,
            "rng": [vid(v) for v in g.rng],
            "constants": consts,
            "nodes": [{"op": n.op, "inputs": [ref(x) for x in n.inputs],
                       "attrs": {k: _enc(a) for k, a in n.attrs},
                       "outputs": [vid(o) for o in n.outputs], "src": n.src, "scope": n.scope}
                      for n in g.nodes],
            "outputs": [ref(x) if not isinstance(x, Tensor) else None for x in g.outputs],
            "writes": [{"kind": w.kind, "target": vid(w.target),
                        "value": None if w.value is None else ref(w.value)} for w in g.writes],
            "guards": [{"kind": d.kind, "value": vid(d.value), "src": d.src,
                        "expected": _enc(bool(d.expected)) if d.kind == "bool" else
                        {"buffer": _guard_blob(blobs, i, d.expected)}} for i, d in enumerate(g.guards)],
            "out_tree": _tree_enc(var.out_tree),
            "values": values,
        },
    }
    offset = 0
    table = {}
    for key, arr in blobs.items():
        arr = np.ascontiguousarray(arr)
        n = arr.nbytes
        table[key] = {"dtype": arr.dtype.name, "shape": list(arr.shape), "offsets": [offset, offset + n]}
        offset += n
    header["buffers"] = table
    raw = json.dumps(header, sort_keys=True).encode("utf-8")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for key, arr in blobs.items():
            f.write(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())


def _guard_blob(blobs, i, arr):
    key = f"guard:{i}"
    blobs[key] = np.asarray(arr)
    return key


class LoadError(ValueError):
    """A file is not a valid pyrch.jit graph."""


def load(path):
    """Read a file written by `jit.save` and return a callable `LoadedGraph`."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        return _load(data)
    except LoadError as e:
        raise LoadError(f"jit.load: {path} is not a valid pyrch.jit graph file: {e}") from None
    except (ValueError, KeyError, TypeError, IndexError, struct.error, UnicodeDecodeError) as e:
        raise LoadError(f"jit.load: {path} is not a valid pyrch.jit graph file "
                        f"(corrupted or truncated): {type(e).__name__}: {e}") from None


def _load(data):
    if len(data) < 8:
        raise LoadError("file is shorter than its 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise LoadError(f"header length {n} runs past the end of the file ({len(data)} bytes)")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    if not isinstance(header, dict) or header.get("format") != MAGIC:
        raise LoadError("missing the 'pyrch.jit' format tag")
    if header.get("version") != VERSION:
        raise LoadError(f"version {header.get('version')} is not supported (expected {VERSION})")
    body = memoryview(data)[8 + n:]
    arrays = {}
    for key, spec in header["buffers"].items():
        dt = np.dtype(spec["dtype"]).newbyteorder("<")
        a, b = spec["offsets"]
        shape = tuple(int(s) for s in spec["shape"])
        if not 0 <= a <= b <= len(body) or b - a != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
            raise LoadError(f"buffer {key!r} has offsets {a}..{b} inconsistent with its shape "
                            f"{list(shape)} or the file size")
        arrays[key] = np.frombuffer(body[a:b], dtype=dt).reshape(shape).astype(dt.newbyteorder("="))
    gd = header["graph"]
    vals = {}
    for k, (shape, dt) in gd["values"].items():
        vals[int(k)] = Value(tuple(int(s) for s in shape), as_dtype(dt))

    def ref(d):
        return vals[d["v"]] if "v" in d else _dec(d)
    inputs = []
    for d in gd["inputs"]:
        v = vals[d["id"]]
        v.name = d["name"]
        inputs.append(v)
    params, state = [], []
    for d in gd["params"]:
        v = vals[d["id"]]
        v.name = d["name"]
        params.append(v)
        if d["kind"] == "tensor":
            arr = arrays[d["buffer"]]
            if arr.shape != v.shape:
                raise LoadError(f"param {v.name} has shape {arr.shape}, graph says {v.shape}")
            state.append(("tensor", Tensor._wrap(arr.astype(v.dtype.np))))
        elif d["kind"] == "hparam":
            state.append(("hparam", _dec(d["value"])))
        else:
            raise LoadError(f"unknown param kind {d['kind']!r}")
    rng = [vals[i] for i in gd["rng"]]
    for v in rng:
        v.name = "rng"
    constants = {vals[int(k)]: arrays[key] for k, key in gd["constants"].items()}
    nodes = [Node(nd["op"], [ref(x) for x in nd["inputs"]],
                  {k: _dec(a) for k, a in nd["attrs"].items()},
                  [vals[o] for o in nd["outputs"]], nd.get("src", ""), nd.get("scope", ""))
             for nd in gd["nodes"]]
    outputs = [ref(x) for x in gd["outputs"]]
    writes = [Write(w["kind"], vals[w["target"]], None if w["value"] is None else ref(w["value"]))
              for w in gd["writes"]]
    guards = [Guard(d["kind"], vals[d["value"]],
                    _dec(d["expected"]) if d["kind"] == "bool" else arrays[d["expected"]["buffer"]],
                    d.get("src", "")) for d in gd.get("guards", ())]
    g = Graph(gd["name"], inputs, params, rng, constants, nodes, outputs, writes, guards)
    try:
        verify(g)
    except AssertionError as e:
        raise LoadError(f"the graph does not verify: {e}") from None
    return LoadedGraph(g, state, _tree_dec(gd["out_tree"]))


class LoadedGraph:
    """A graph read by `jit.load`: call it with the traced function's tensor inputs."""

    def __init__(self, graph, state, out_tree):
        from .executor import Executor
        from .passes import optimize
        from .plan import lower
        from .._random import default_generator
        self.graph = graph
        self.params = {v.name: s[1] for v, s in zip(graph.params, state) if s[0] == "tensor"}
        self.hparams = {v.name: s[1] for v, s in zip(graph.params, state) if s[0] == "hparam"}
        self._state = state
        self._tree = out_tree
        self._gen = default_generator
        self.plan = lower(optimize(graph))
        self.executor = Executor(self.plan)

    def __call__(self, *inputs):
        from .function import unflatten
        plan, g = self.plan, self.graph
        flat = [x for x in inputs if isinstance(x, Tensor)]
        if len(flat) != len(g.inputs):
            raise TypeError(f"{g.name} expects {len(g.inputs)} tensor inputs "
                            f"({', '.join(v.name for v in g.inputs)}), got {len(flat)}")
        slots = self.executor.template.copy()
        for s, v, t in zip(plan.inputs, g.inputs, flat):
            if tuple(t.shape) != v.shape or t.dtype is not v.dtype:
                raise ValueError(f"input {v.name}: expected {v.dtype.name}{list(v.shape)}, "
                                 f"got {t.dtype.name}{list(t.shape)}")
            slots[s] = t._data
        live = []
        for s, v, (kind, obj) in zip(plan.params, g.params, self._state):
            if kind == "tensor":
                slots[s] = obj._data
                live.append(obj)
            else:
                slots[s] = np.asarray(self.hparams[v.name], v.dtype.np)
                live.append(None)
        for s in plan.rng:
            slots[s] = self._gen._np
        with self.executor.lock:         # one run at a time: the plan's buffers are shared
            self.executor.run(slots)
            for kind, s, expected, src in plan.guards:
                a = slots[s]
                if (bool(a.reshape(())) != expected) if kind == "bool" else not np.array_equal(a, expected):
                    raise RuntimeError(f"{g.name}: a data guard recorded at {src or 'an unknown line'} "
                                       "failed (these inputs take a branch the saved trace did not "
                                       "record); trace and save again with such inputs")
            for kind, (where, i), ref in plan.writes:
                t = live[i] if where == "p" else flat[i]
                if kind == "assign":
                    t._data[...] = slots[ref[1]] if ref[0] == "s" else ref[1]
                elif ref is None:
                    t._grad = None
                else:
                    t._grad = Tensor._wrap(np.array(slots[ref[1]], copy=True))
            outs = []
            for r in plan.outputs:
                if r[0] == "s":
                    outs.append(Tensor._wrap(np.array(slots[r[1]], copy=True)))
                else:
                    outs.append(r[1])
        return unflatten(self._tree, iter(outs))

    def __repr__(self):
        return f"LoadedGraph({self.graph.name}: {len(self.graph.nodes)} ops)"
