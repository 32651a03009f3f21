"""`load`: an ONNX model as a runnable pyrch `nn.Module`.

Float initializers (but 0-d ones) become parameters, placed at their dotted names
(`fc1.weight` -> submodule `fc1`, parameter `weight`), so `state_dict()` keys
match the model that was exported. Other initializers, `Constant` nodes and
everything computed only from them and from `Shape` (sizes, reshape targets)
are host values: numpy arrays evaluated eagerly on each call, so tracing an
imported model with pyrch.jit records only the tensor computation. Each ONNX
op runs as pyrch ops, so autograd works through an imported model.
"""
import contextlib
import re

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .. import nn
from .._tensor import Tensor
from . import _import_ops
from ._import_ops import IMPL, NEVER_HOST


class ImportError_(RuntimeError):
    """The ONNX model uses something pyrch.onnx.load does not support; the message names it."""


def _attrs(node):
    a = {}
    for at in node.attribute:
        v = helper.get_attribute_value(at)
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, onnx.TensorProto):
            v = numpy_helper.to_array(v)
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [s.decode() for s in v]
        elif isinstance(v, onnx.GraphProto):
            raise ImportError_(f"pyrch.onnx.load: op {node.op_type} ({node.name}) has a subgraph "
                               "(control flow); only straight-line graphs are supported")
        a[at.name] = v
    return a


@contextlib.contextmanager
def _host():
    """Run pyrch ops on host values without recording them in an active trace."""
    from .._dispatch import state, refresh_hooks
    tr = state.tracer
    if tr is None:
        yield
        return
    state.tracer = None
    refresh_hooks()
    try:
        yield
    finally:
        state.tracer = tr
        refresh_hooks()


class OnnxModule(nn.Module):
    """An ONNX graph run with pyrch ops; `forward(*inputs)` takes the graph inputs in order."""

    def __init__(self, model):
        super().__init__()
        g = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          13)
        missing = sorted({n.op_type for n in g.node if n.op_type not in IMPL or
                          n.domain not in ("", "ai.onnx")})
        if missing:
            raise ImportError_(f"pyrch.onnx.load: unsupported ONNX op(s) {', '.join(missing)}; "
                               f"supported: {', '.join(sorted(IMPL))}")
        object.__setattr__(self, "_consts", {})
        object.__setattr__(self, "_params", {})
        for t in g.initializer:
            arr = numpy_helper.to_array(t)
            if arr.dtype.kind == "f" and arr.ndim:      # scalars stay constants
                self._add_param(t.name, arr)
            else:
                self._consts[t.name] = arr
        inits = {t.name for t in g.initializer}
        self.input_names = [i.name for i in g.input if i.name not in inits]
        self.output_names = [o.name for o in g.output]
        self._nodes = []
        for n in g.node:
            a = _attrs(n)
            a["_nout"] = len(n.output)
            a["_opset"] = self.opset
            self._nodes.append((n.op_type, tuple(n.input), tuple(n.output), a))

    def _add_param(self, name, arr):
        from .._creation import tensor
        p = nn.Parameter(tensor(np.ascontiguousarray(arr)))
        parts = name.split(".")
        mod = self
        ok = all(re.fullmatch(r"[A-Za-z_0-9]+", s) for s in parts)
        if ok:
            try:
                for s in parts[:-1]:
                    child = mod._modules.get(s)
                    if child is None:
                        if hasattr(mod, s):
                            raise KeyError(s)
                        child = nn.Module()
                        mod.add_module(s, child)
                    mod = child
                if hasattr(mod, parts[-1]):
                    raise KeyError(parts[-1])
                mod.register_parameter(parts[-1], p)
                self._params[name] = (mod, parts[-1])
                return
            except KeyError:
                mod = self
        flat = "p_" + re.sub(r"\W", "_", name)
        while hasattr(self, flat):
            flat += "_"
        self.register_parameter(flat, p)
        self._params[name] = (self, flat)

    def forward(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise TypeError(f"this ONNX model takes {len(self.input_names)} inputs "
                            f"({', '.join(self.input_names)}), got {len(inputs)}")
        env = dict(self._consts)
        for name, (mod, attr) in self._params.items():
            env[name] = getattr(mod, attr)
        for name, x in zip(self.input_names, inputs):
            env[name] = x if isinstance(x, Tensor) else np.asarray(x)
        for op, ins, outs, a in self._nodes:
            vals = [env[i] if i else None for i in ins]
            fn = IMPL[op]
            if op not in NEVER_HOST and all(v is None or isinstance(v, np.ndarray) for v in vals):
                with _host():
                    res = fn(vals, a)
                    res = [_np(r) for r in (res if isinstance(res, (list, tuple)) else (res,))]
            else:
                res = fn(vals, a)
                res = res if isinstance(res, (list, tuple)) else (res,)
            for o, r in zip(outs, res):
                if o:
                    env[o] = r
        # string outputs stay numpy object arrays (pyrch tensors hold numbers only)
        out = [env[o] if _import_ops._is_str(env[o]) else _import_ops.T(env[o])
               for o in self.output_names]
        return out[0] if len(out) == 1 else tuple(out)


def _np(r):
    if isinstance(r, Tensor):
        return r.detach().cpu().numpy()
    return r if r is None else np.asarray(r)


def load(f):
    """An ONNX model (path, bytes, file object or ModelProto) as a runnable pyrch Module."""
    if isinstance(f, onnx.ModelProto):
        model = f
    elif isinstance(f, (bytes, bytearray)):
        model = onnx.load_from_string(bytes(f))
    else:
        model = onnx.load(f)
    return OnnxModule(model)


import_model = load
