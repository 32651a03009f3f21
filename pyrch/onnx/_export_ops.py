"""The export table: pyrch registry op -> ONNX nodes (opset 13+).

Each entry is `handler(cx, node) -> output name(s)`; `cx` (a `Context`) turns
inputs into ONNX names (`cx.x(n, i)`), makes constants (`cx.const`, `cx.ints`)
and nodes (`cx.emit`). Synthetic `@` ops come from the pattern rewrites in
export.py (`@max_pool`, `@linear`).
"""
import math

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..jit.ir import Value

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

# ops whose shape-dependent attributes are taken from the (symbolic) output shape
SHAPE_FROM_OUTPUT = {"reshape", "view", "expand", "sum_to", "@max_pool", "bernoulli", "rand",
                     "randn"}


def onnx_dtype(dt):
    """The TensorProto element type of a pyrch (or numpy) dtype."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(getattr(dt, "np", dt)))


class Context:
    """Emission state: names, nodes, initializers, symbolic shapes."""

    def __init__(self, opset, shapes, arrays, syms, in_names, inputs):
        self.opset, self.shapes, self.arrays = opset, shapes, arrays
        self.syms, self.in_names, self.inputs = syms, in_names, inputs
        self.names = {}          # Value -> ONNX name (inputs, params: preset)
        self.ready = {}          # Value -> ONNX name once defined
        self.out_names = {}      # Value -> requested graph-output name
        self.nodes, self.initializers = [], []
        self.taken = set()
        self.const_keys = {}
        self.sym_cache = {}
        self.k = 0

    # -- names ---------------------------------------------------------------------------
    def fresh(self, base):
        base = base.replace("@", "")
        while True:
            self.k += 1
            name = f"{base}_{self.k}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def name(self, v):
        r = self.ready.get(v)
        if r is not None:
            return r
        if v in self.arrays:
            r = self._initializer(v)
        elif v in self.names:
            r = self.names[v]
        else:
            raise KeyError(f"pyrch.onnx: internal error, {v} used before it is defined")
        self.ready[v] = r
        return r

    def _initializer(self, v):
        arr = np.asarray(self.arrays[v])
        shape = self.shapes.get(v, arr.shape)
        if all(type(d) is int for d in shape):
            name = self.names.get(v) or self.fresh("const")
            self.taken.add(name)
            self.initializers.append(numpy_helper.from_array(
                np.array(arr, dtype=v.dtype.np, order="C"), name))
            return name
        flat = arr.reshape(-1)
        if flat.size and not np.all(flat == flat[0]):
            raise _export_error(f"a constant of shape {arr.shape} whose size depends on a dynamic "
                                "axis and whose values are not all equal cannot be exported with "
                                "that axis dynamic; compute it from the input instead "
                                "(e.g. torch.zeros_like / torch.arange on x.shape)")
        scalar = self.const(np.asarray(flat[0] if flat.size else 0, dtype=arr.dtype))
        return self.emit("Expand", [scalar, self.shape_tensor(shape)])

    def out(self, n, k=0):
        v = n.outputs[k]
        want = self.out_names.get(v)
        return want if want is not None else self.fresh((n.scope + "." if n.scope else "") + n.op)

    # -- constants -------------------------------------------------------------------------
    def const(self, arr, hint="const"):
        arr = np.asarray(arr)
        key = None
        if arr.size <= 64:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            got = self.const_keys.get(key)
            if got is not None:
                return got
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.array(arr, order="C"), name))
        if key is not None:
            self.const_keys[key] = name
        return name

    def ints(self, xs):
        return self.const(np.asarray(list(xs), dtype=np.int64))

    def lit_dtype(self, n):
        out = n.outputs[0].dtype
        if out.name != "bool":
            return out.np
        for x in n.inputs:
            if isinstance(x, Value) and x.dtype.name != "bool":
                return x.dtype.np
        return np.dtype(np.float32)

    def x(self, n, i, dtype=None):
        """ONNX name of input i of node n (literals become typed constants)."""
        a = n.inputs[i]
        if isinstance(a, Value):
            return self.name(a)
        if dtype is None:
            dtype = a.dtype if isinstance(a, np.generic) else self.lit_dtype(n)
        return self.const(np.asarray(a, dtype=dtype))

    # -- nodes -----------------------------------------------------------------------------
    def emit(self, op, inputs, n_out=1, outputs=None, **attrs):
        if outputs is None:
            outputs = [self.fresh(op) for _ in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op, list(inputs), list(outputs),
                                           name=self.fresh("n_" + op), **attrs))
        return outputs[0] if len(outputs) == 1 else list(outputs)

    def node(self, n):
        fn = TABLE.get(n.op)
        if fn is None:
            raise _export_error(f"no ONNX mapping for op {n.op!r}", n)
        try:
            res = fn(self, n)
        except _Unsupported as e:
            raise _export_error(str(e), n) from None
        res = res if isinstance(res, (list, tuple)) else [res]
        for v, r in zip(n.outputs, res):
            want = self.out_names.get(v)
            if want is not None and r != want:
                self.emit("Identity", [r], outputs=[want])
                r = want
            self.ready[v] = r

    # -- shapes ----------------------------------------------------------------------------
    def shape(self, v):
        return self.shapes[v]

    def static(self, v):
        return all(type(d) is int for d in self.shapes[v])

    def sym(self, s):
        r = self.sym_cache.get(s)
        if r is None:
            i, a = self.syms[s][0]
            r = self.sym_cache[s] = self.emit("Shape", [self.in_names[i]], start=a, end=a + 1)
        return r

    def dim(self, d):
        acc = None
        for s, a in d.terms:
            t = self.sym(s)
            if a != 1:
                t = self.emit("Mul", [t, self.ints([a])])
            acc = t if acc is None else self.emit("Add", [acc, t])
        if d.c:
            acc = self.emit("Add", [acc, self.ints([d.c])])
        return acc

    def shape_tensor(self, shape):
        """An int64 1-d tensor holding `shape` (symbolic entries computed at run time)."""
        parts, run = [], []
        for d in shape:
            if type(d) is int:
                run.append(d)
            else:
                if run:
                    parts.append(self.ints(run))
                    run = []
                parts.append(self.dim(d))
        if run or not parts:
            parts.append(self.ints(run))
        return parts[0] if len(parts) == 1 else self.emit("Concat", parts, axis=0)

    def reduce(self, op, x, axes, keepdims, outputs=None):
        kw = {"outputs": outputs, "keepdims": int(bool(keepdims))}
        if axes is None:
            return self.emit(op, [x], **kw)
        if op == "ReduceSum" or self.opset >= 18:
            return self.emit(op, [x, self.ints(axes)], **kw)
        return self.emit(op, [x], axes=list(axes), **kw)

    def value_info(self, name, v, axis_names):
        dims = []
        for i, d in enumerate(self.shapes[v]):
            dims.append(d if type(d) is int else axis_names.get(i, d.name()))
        return helper.make_tensor_value_info(name, onnx_dtype(v.dtype), dims)


class _Unsupported(Exception):
    pass


def _export_error(msg, n=None):
    from .export import ExportError
    where = ""
    if n is not None:
        tag = " ".join(t for t in (n.scope, n.src) if t)
        where = f" (at {tag})" if tag else ""
    return ExportError(f"pyrch.onnx.export: {msg}{where}")


# -- the table --------------------------------------------------------------------------------
TABLE = {}


def to(*names):
    def deco(fn):
        for nm in names:
            TABLE[nm] = fn
        return fn
    return deco


def _rank(v):
    return len(v.shape)


def _axes(dim, r):
    if dim is None:
        return None
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    return sorted({d % r if r else 0 for d in dims})


def _unary(op_type):
    return lambda cx, n: cx.emit(op_type, [cx.x(n, 0)], outputs=[cx.out(n)])


def _binary(op_type, **attrs):
    return lambda cx, n: cx.emit(op_type, [cx.x(n, 0), cx.x(n, 1)], outputs=[cx.out(n)], **attrs)


for _k, _v in {"abs": "Abs", "acos": "Acos", "acosh": "Acosh", "asin": "Asin", "asinh": "Asinh",
               "atan": "Atan", "atanh": "Atanh", "ceil": "Ceil", "cos": "Cos", "cosh": "Cosh",
               "erf": "Erf", "exp": "Exp", "floor": "Floor", "log": "Log", "neg": "Neg",
               "reciprocal": "Reciprocal", "relu": "Relu", "sigmoid": "Sigmoid", "sign": "Sign",
               "sin": "Sin", "sinh": "Sinh", "sqrt": "Sqrt", "tan": "Tan", "tanh": "Tanh",
               "isnan": "IsNaN", "isinf": "IsInf", "logical_not": "Not"}.items():
    TABLE[_k] = _unary(_v)

for _k, _v in {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow",
               "maximum": "Max", "minimum": "Min", "eq": "Equal", "lt": "Less",
               "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual",
               "logical_and": "And", "logical_or": "Or", "logical_xor": "Xor",
               "matmul": "MatMul"}.items():
    TABLE[_k] = _binary(_v)
TABLE["fmod"] = _binary("Mod", fmod=1)


def _is_float(v):
    return np.dtype(v.dtype.np).kind == "f"


@to("ne")
def _ne(cx, n):
    return cx.emit("Not", [cx.emit("Equal", [cx.x(n, 0), cx.x(n, 1)])], outputs=[cx.out(n)])


@to("remainder")
def _remainder(cx, n):
    a, b = cx.x(n, 0), cx.x(n, 1)
    if not _is_float(n.outputs[0]):
        return cx.emit("Mod", [a, b], outputs=[cx.out(n)], fmod=0)
    q = cx.emit("Floor", [cx.emit("Div", [a, b])])
    return cx.emit("Sub", [a, cx.emit("Mul", [q, b])], outputs=[cx.out(n)])


@to("floor_divide")
def _floor_divide(cx, n):
    a, b = cx.x(n, 0), cx.x(n, 1)
    if _is_float(n.outputs[0]):
        return cx.emit("Floor", [cx.emit("Div", [a, b])], outputs=[cx.out(n)])
    m = cx.emit("Mod", [a, b], fmod=0)
    return cx.emit("Div", [cx.emit("Sub", [a, m]), b], outputs=[cx.out(n)])


@to("clone", "detach", "positive")
def _alias(cx, n):
    return cx.x(n, 0)


def _scalar(cx, n, value):
    return cx.const(np.asarray(value, dtype=n.outputs[0].dtype.np))


@to("rsqrt")
def _rsqrt(cx, n):
    return cx.emit("Reciprocal", [cx.emit("Sqrt", [cx.x(n, 0)])], outputs=[cx.out(n)])


@to("square")
def _square(cx, n):
    x = cx.x(n, 0)
    return cx.emit("Mul", [x, x], outputs=[cx.out(n)])


@to("log1p")
def _log1p(cx, n):
    return cx.emit("Log", [cx.emit("Add", [cx.x(n, 0), _scalar(cx, n, 1)])], outputs=[cx.out(n)])


@to("expm1")
def _expm1(cx, n):
    return cx.emit("Sub", [cx.emit("Exp", [cx.x(n, 0)]), _scalar(cx, n, 1)], outputs=[cx.out(n)])


@to("log2", "log10")
def _logb(cx, n):
    base = 2.0 if n.op == "log2" else 10.0
    return cx.emit("Div", [cx.emit("Log", [cx.x(n, 0)]), _scalar(cx, n, math.log(base))],
                   outputs=[cx.out(n)])


@to("exp2")
def _exp2(cx, n):
    return cx.emit("Pow", [_scalar(cx, n, 2.0), cx.x(n, 0)], outputs=[cx.out(n)])


@to("erfc")
def _erfc(cx, n):
    return cx.emit("Sub", [_scalar(cx, n, 1), cx.emit("Erf", [cx.x(n, 0)])], outputs=[cx.out(n)])


def _trunc_of(cx, n, x):
    neg = cx.emit("Less", [x, _scalar(cx, n, 0)])
    return cx.emit("Where", [neg, cx.emit("Ceil", [x]), cx.emit("Floor", [x])])


@to("trunc")
def _trunc(cx, n):
    if not _is_float(n.outputs[0]):
        return cx.x(n, 0)
    r = _trunc_of(cx, n, cx.x(n, 0))
    return cx.emit("Identity", [r], outputs=[cx.out(n)])


@to("frac")
def _frac(cx, n):
    x = cx.x(n, 0)
    return cx.emit("Sub", [x, _trunc_of(cx, n, x)], outputs=[cx.out(n)])


@to("round")
def _round(cx, n):
    d = n.attr_dict().get("decimals", 0)
    x = cx.x(n, 0)
    if not d:
        return cx.emit("Round", [x], outputs=[cx.out(n)])
    s = _scalar(cx, n, 10.0 ** d)
    return cx.emit("Div", [cx.emit("Round", [cx.emit("Mul", [x, s])]), s], outputs=[cx.out(n)])


@to("gelu")
def _gelu(cx, n):
    x = cx.x(n, 0)
    if cx.opset >= 20:
        return cx.emit("Gelu", [x], outputs=[cx.out(n)])
    e = cx.emit("Erf", [cx.emit("Div", [x, _scalar(cx, n, math.sqrt(2.0))])])
    h = cx.emit("Mul", [x, cx.emit("Add", [e, _scalar(cx, n, 1.0)])])
    return cx.emit("Mul", [h, _scalar(cx, n, 0.5)], outputs=[cx.out(n)])


@to("silu")
def _silu(cx, n):
    x = cx.x(n, 0)
    return cx.emit("Mul", [x, cx.emit("Sigmoid", [x])], outputs=[cx.out(n)])


@to("mish")
def _mish(cx, n):
    x = cx.x(n, 0)
    return cx.emit("Mul", [x, cx.emit("Tanh", [cx.emit("Softplus", [x])])], outputs=[cx.out(n)])


@to("softplus")
def _softplus(cx, n):
    a = n.attr_dict()
    beta, th = a.get("beta", 1.0), a.get("threshold", 20.0)
    x = cx.x(n, 0)
    bx = x if beta == 1 else cx.emit("Mul", [x, _scalar(cx, n, beta)])
    sp = cx.emit("Softplus", [bx])
    if beta != 1:
        sp = cx.emit("Div", [sp, _scalar(cx, n, beta)])
    big = cx.emit("Greater", [bx, _scalar(cx, n, th)])
    return cx.emit("Where", [big, x, sp], outputs=[cx.out(n)])


@to("elu")
def _elu(cx, n):
    return cx.emit("Elu", [cx.x(n, 0)], outputs=[cx.out(n)],
                   alpha=float(n.attr_dict().get("alpha", 1.0)))


@to("leaky_relu")
def _leaky_relu(cx, n):
    return cx.emit("LeakyRelu", [cx.x(n, 0)], outputs=[cx.out(n)],
                   alpha=float(n.attr_dict().get("negative_slope", 0.01)))


@to("hardtanh")
def _hardtanh(cx, n):
    a = n.attr_dict()
    return cx.emit("Clip", [cx.x(n, 0), _scalar(cx, n, a.get("min_val", -1.0)),
                            _scalar(cx, n, a.get("max_val", 1.0))], outputs=[cx.out(n)])


@to("isfinite")
def _isfinite(cx, n):
    x = cx.x(n, 0)
    bad = cx.emit("Or", [cx.emit("IsNaN", [x]), cx.emit("IsInf", [x])])
    return cx.emit("Not", [bad], outputs=[cx.out(n)])


@to("to_dtype")
def _to_dtype(cx, n):
    return cx.emit("Cast", [cx.x(n, 0)], outputs=[cx.out(n)], to=onnx_dtype(n.outputs[0].dtype))


@to("where")
def _where(cx, n):
    dt = n.outputs[0].dtype.np
    return cx.emit("Where", [cx.x(n, 0), cx.x(n, 1, dt), cx.x(n, 2, dt)], outputs=[cx.out(n)])


@to("masked_fill")
def _masked_fill(cx, n):
    dt = n.outputs[0].dtype.np
    return cx.emit("Where", [cx.x(n, 1), cx.x(n, 2, dt), cx.x(n, 0)], outputs=[cx.out(n)])


@to("clamp", "clamp_min", "clamp_max")
def _clamp(cx, n):
    x = cx.x(n, 0)
    dt = n.outputs[0].dtype.np
    bounds = {"clamp": (1, 2), "clamp_min": (1, None), "clamp_max": (None, 1)}[n.op]
    lo, hi = (None if i is None else n.inputs[i] for i in bounds)
    if not isinstance(lo, Value) and not isinstance(hi, Value):
        ins = [x, "" if lo is None else cx.const(np.asarray(lo, dt)),
               "" if hi is None else cx.const(np.asarray(hi, dt))]
        while ins[-1] == "":
            ins.pop()
        return cx.emit("Clip", ins, outputs=[cx.out(n)])
    if lo is not None:
        x = cx.emit("Max", [x, cx.x(n, bounds[0], dt)])
    if hi is not None:
        x = cx.emit("Min", [x, cx.x(n, bounds[1], dt)])
    return cx.emit("Identity", [x], outputs=[cx.out(n)])


@to("lerp")
def _lerp(cx, n):
    a, end, w = cx.x(n, 0), cx.x(n, 1), cx.x(n, 2)
    return cx.emit("Add", [a, cx.emit("Mul", [w, cx.emit("Sub", [end, a])])], outputs=[cx.out(n)])


# -- reductions --------------------------------------------------------------------------------
def _reduce_input(cx, n):
    x = cx.x(n, 0)
    src, out = n.inputs[0], n.outputs[0]
    if isinstance(src, Value) and src.dtype is not out.dtype and n.op in ("sum", "prod", "mean"):
        x = cx.emit("Cast", [x], to=onnx_dtype(out.dtype))
    return x


def _reducer(op_type):
    def h(cx, n):
        a = n.attr_dict()
        axes = _axes(a.get("dim"), _rank(n.inputs[0]))
        return cx.reduce(op_type, _reduce_input(cx, n), axes, a.get("keepdim", False),
                         outputs=[cx.out(n)])
    return h


for _k, _v in {"sum": "ReduceSum", "mean": "ReduceMean", "amax": "ReduceMax", "amin": "ReduceMin",
               "prod": "ReduceProd"}.items():
    TABLE[_k] = _reducer(_v)


@to("all", "any")
def _all_any(cx, n):
    a = n.attr_dict()
    axes = _axes(a.get("dim"), _rank(n.inputs[0]))
    x = cx.emit("Cast", [cx.x(n, 0)], to=onnx.TensorProto.INT32)
    if n.op == "all":
        x = cx.emit("Cast", [x], to=onnx.TensorProto.BOOL)      # nonzero -> 1
        x = cx.emit("Cast", [x], to=onnx.TensorProto.INT32)
    r = cx.reduce("ReduceMin" if n.op == "all" else "ReduceMax", x, axes, a.get("keepdim", False))
    return cx.emit("Cast", [r], outputs=[cx.out(n)], to=onnx.TensorProto.BOOL)


@to("max", "min")
def _max_min(cx, n):
    a = n.attr_dict()
    r = _rank(n.inputs[0])
    d = a["dim"] % max(r, 1)
    keep = int(bool(a.get("keepdim", False)))
    x = cx.x(n, 0)
    vals = cx.reduce("ReduceMax" if n.op == "max" else "ReduceMin", x, [d], keep,
                     outputs=[cx.out(n, 0)])
    idx = cx.emit("ArgMax" if n.op == "max" else "ArgMin", [x], outputs=[cx.out(n, 1)],
                  axis=d, keepdims=keep)
    return [vals, idx]


@to("argmax", "argmin")
def _argmax(cx, n):
    a = n.attr_dict()
    op = "ArgMax" if n.op == "argmax" else "ArgMin"
    x = cx.x(n, 0)
    dim = a.get("dim")
    if dim is None:
        flat = cx.emit("Reshape", [x, cx.ints([-1])])
        r = cx.emit(op, [flat], axis=0, keepdims=0)
        if a.get("keepdim"):
            return cx.emit("Reshape", [r, cx.ints([1] * _rank(n.inputs[0]))], outputs=[cx.out(n)])
        return cx.emit("Identity", [r], outputs=[cx.out(n)])
    return cx.emit(op, [x], outputs=[cx.out(n)], axis=dim % max(_rank(n.inputs[0]), 1),
                   keepdims=int(bool(a.get("keepdim", False))))


def _count(cx, n, axes):
    shape = cx.shape(n.inputs[0])
    axes = range(len(shape)) if axes is None else axes
    c = 1
    for i in axes:
        if type(shape[i]) is not int:
            raise _Unsupported(f"{n.op} over a dynamic axis")
        c *= shape[i]
    return c


@to("var", "std")
def _var(cx, n):
    a = n.attr_dict()
    axes = _axes(a.get("dim"), _rank(n.inputs[0]))
    x = cx.x(n, 0)
    m = cx.reduce("ReduceMean", x, axes, True)
    d = cx.emit("Sub", [x, m])
    s = cx.reduce("ReduceSum", cx.emit("Mul", [d, d]), axes, a.get("keepdim", False))
    denom = max(_count(cx, n, axes) - a.get("correction", 1), 0)
    v = cx.emit("Div", [s, _scalar(cx, n, denom)], outputs=None if n.op == "std" else [cx.out(n)])
    return cx.emit("Sqrt", [v], outputs=[cx.out(n)]) if n.op == "std" else v


@to("logsumexp")
def _logsumexp(cx, n):
    a = n.attr_dict()
    axes = _axes(a.get("dim"), _rank(n.inputs[0]))
    keep = a.get("keepdim", False)
    x = cx.x(n, 0)
    m = cx.reduce("ReduceMax", x, axes, True)
    inf = cx.emit("IsInf", [m])
    m = cx.emit("Where", [inf, _scalar(cx, n, 0), m])
    s = cx.reduce("ReduceSum", cx.emit("Exp", [cx.emit("Sub", [x, m])]), axes, keep)
    if not keep:
        m = cx.emit("Reshape", [m, cx.shape_tensor(cx.shape(n.outputs[0]))])
    return cx.emit("Add", [cx.emit("Log", [s]), m], outputs=[cx.out(n)])


@to("norm")
def _norm(cx, n):
    a = n.attr_dict()
    p = a.get("p", 2.0)
    axes = _axes(a.get("dim"), _rank(n.inputs[0]))
    keep = a.get("keepdim", False)
    x = cx.x(n, 0)
    if p == 2:
        return cx.reduce("ReduceL2", x, axes, keep, outputs=[cx.out(n)])
    if p == 1:
        return cx.reduce("ReduceL1", x, axes, keep, outputs=[cx.out(n)])
    if p == float("inf"):
        return cx.reduce("ReduceMax", cx.emit("Abs", [x]), axes, keep, outputs=[cx.out(n)])
    s = cx.reduce("ReduceSum", cx.emit("Pow", [cx.emit("Abs", [x]), _scalar(cx, n, p)]), axes, keep)
    return cx.emit("Pow", [s, _scalar(cx, n, 1.0 / p)], outputs=[cx.out(n)])


@to("cumsum")
def _cumsum(cx, n):
    a = n.attr_dict()
    return cx.emit("CumSum", [cx.x(n, 0), cx.const(np.asarray(a["dim"], np.int64))],
                   outputs=[cx.out(n)], reverse=int(bool(a.get("reverse", False))))


@to("sum_to")
def _sum_to(cx, n):
    src = cx.shape(n.inputs[0])
    dst = cx.shape(n.outputs[0])
    lead = len(src) - len(dst)
    axes = list(range(lead)) + [lead + i for i, d in enumerate(dst)
                                if type(d) is int and d == 1 and src[lead + i] != 1]
    x = cx.x(n, 0)
    if not axes:
        return x
    r = cx.reduce("ReduceSum", x, axes, True)
    return cx.emit("Reshape", [r, _reshape_target(cx, dst)], outputs=[cx.out(n)])


# -- contractions ---------------------------------------------------------------------------------
@to("einsum")
def _einsum(cx, n):
    return cx.emit("Einsum", [cx.x(n, i) for i in range(len(n.inputs))], outputs=[cx.out(n)],
                   equation=n.attr_dict()["equation"].replace(" ", ""))


@to("@linear")
def _linear(cx, n):
    return cx.emit("Gemm", [cx.x(n, 0), cx.x(n, 1), cx.x(n, 2)], outputs=[cx.out(n)], transB=1)


# -- movement -------------------------------------------------------------------------------------
def _reshape_target(cx, shape):
    dyn = [i for i, d in enumerate(shape) if type(d) is not int]
    if not dyn:
        return cx.ints(shape)
    if len(dyn) == 1 and 0 not in [d for d in shape if type(d) is int]:
        return cx.ints([-1 if type(d) is not int else d for d in shape])
    return cx.shape_tensor(shape)


@to("reshape", "view")
def _reshape(cx, n):
    shape = cx.shape(n.outputs[0])
    kw = {"allowzero": 1} if 0 in [d for d in shape if type(d) is int] else {}
    return cx.emit("Reshape", [cx.x(n, 0), _reshape_target(cx, shape)], outputs=[cx.out(n)], **kw)


@to("expand")
def _expand(cx, n):
    return cx.emit("Expand", [cx.x(n, 0), cx.shape_tensor(cx.shape(n.outputs[0]))],
                   outputs=[cx.out(n)])


@to("permute")
def _permute(cx, n):
    r = _rank(n.inputs[0])
    return cx.emit("Transpose", [cx.x(n, 0)], outputs=[cx.out(n)],
                   perm=[d % r for d in n.attr_dict()["dims"]])


@to("cat")
def _cat(cx, n):
    r = _rank(n.outputs[0])
    ins = [cx.x(n, i) for i, v in enumerate(n.inputs) if not (isinstance(v, Value) and
                                                               v.shape == (0,) and r != 1)]
    return cx.emit("Concat", ins, outputs=[cx.out(n)], axis=n.attr_dict().get("dim", 0) % r)


@to("getitem")
def _getitem(cx, n):
    key = n.attr_dict()["key"]
    r = _rank(n.inputs[0])
    used = sum(1 for k in key if type(k) is int or (type(k) is tuple and k[0] == "s"))
    starts, ends, axes, steps, squeeze, unsq = [], [], [], [], [], []
    d = p = 0
    for k in key:
        if k is Ellipsis:
            d += r - used
            p += r - used
        elif k is None or (type(k) is tuple and k[0] == "b"):
            if type(k) is tuple and not k[1]:
                raise _Unsupported("indexing with False")
            unsq.append(p)
            p += 1
        elif type(k) is int:
            starts.append(k), ends.append(k + 1), axes.append(d), steps.append(1)
            squeeze.append(d)
            d += 1
        else:
            _, a, b, s = k
            if not (a in (None, 0) and b is None and s in (None, 1)):
                starts.append(a or 0)
                ends.append(INT64_MAX if b is None else b)
                axes.append(d)
                steps.append(s or 1)
            d += 1
            p += 1
    x = cx.x(n, 0)
    if axes:
        x = cx.emit("Slice", [x, cx.ints(starts), cx.ints(ends), cx.ints(axes), cx.ints(steps)])
    if squeeze:
        x = cx.emit("Squeeze", [x, cx.ints(squeeze)])
    if unsq:
        x = cx.emit("Unsqueeze", [x, cx.ints(unsq)])
    return x


@to("index")
def _index(cx, n):
    key = n.attr_dict()["key"]
    r = _rank(n.inputs[0])
    tens = [i for i, k in enumerate(key) if type(k) is tuple and k[0] == "t"]
    full = ("s", None, None, None)
    if len(tens) != 1 or any(not (k == full or k is Ellipsis) for i, k in enumerate(key)
                             if i != tens[0]):
        raise _Unsupported("advanced indexing other than a single index tensor (x[..., idx, ...])")
    t = tens[0]
    if Ellipsis in key[:t]:
        axis = r - (len(key) - t - (1 if Ellipsis in key[t:] else 0))
    else:
        axis = t
    return cx.emit("Gather", [cx.x(n, 0), cx.x(n, 1)], outputs=[cx.out(n)], axis=axis)


@to("flip")
def _flip(cx, n):
    r = _rank(n.inputs[0])
    dims = [d % r for d in n.attr_dict()["dims"]]
    k = len(dims)
    return cx.emit("Slice", [cx.x(n, 0), cx.ints([-1] * k), cx.ints([INT64_MIN] * k), cx.ints(dims),
                             cx.ints([-1] * k)], outputs=[cx.out(n)])


@to("constant_pad_nd")
def _pad(cx, n):
    a = n.attr_dict()
    pad = a["pad"]
    r = _rank(n.inputs[0])
    begin, end = [0] * r, [0] * r
    for j in range(len(pad) // 2):
        begin[r - 1 - j], end[r - 1 - j] = pad[2 * j], pad[2 * j + 1]
    return cx.emit("Pad", [cx.x(n, 0), cx.ints(begin + end), _scalar(cx, n, a.get("value", 0))],
                   outputs=[cx.out(n)], mode="constant")


@to("gather")
def _gather(cx, n):
    r = _rank(n.inputs[0])
    return cx.emit("GatherElements", [cx.x(n, 0), cx.x(n, 1)], outputs=[cx.out(n)],
                   axis=n.attr_dict()["dim"] % max(r, 1))


@to("scatter", "scatter_add")
def _scatter(cx, n):
    r = _rank(n.inputs[0])
    kw = {"reduction": "add"} if n.op == "scatter_add" else {}
    if kw and cx.opset < 16:
        raise _Unsupported("scatter_add needs opset_version >= 16")
    return cx.emit("ScatterElements", [cx.x(n, 0), cx.x(n, 1), cx.x(n, 2)], outputs=[cx.out(n)],
                   axis=n.attr_dict()["dim"] % max(r, 1), **kw)


@to("tril", "triu")
def _trilu(cx, n):
    k = cx.const(np.asarray(n.attr_dict().get("diagonal", 0), np.int64))
    return cx.emit("Trilu", [cx.x(n, 0), k], outputs=[cx.out(n)], upper=int(n.op == "triu"))


# -- random (training-mode exports) ---------------------------------------------------------------
def _draw(cx, n, op, outputs=None, **kw):
    """RandomUniform / RandomNormal shaped like node n's output, in its dtype (the *Like form
    on a zero tensor of the run-time shape when that shape is dynamic)."""
    v = n.outputs[0]
    if cx.static(v):
        return cx.emit(op, [], outputs=outputs, shape=list(v.shape), dtype=onnx_dtype(v.dtype),
                       **kw)
    zero = cx.const(np.zeros((), dtype=v.dtype.np))
    like = cx.emit("Expand", [zero, cx.shape_tensor(cx.shape(v))])
    return cx.emit(op + "Like", [like], outputs=outputs, **kw)


@to("bernoulli")
def _bernoulli(cx, n):
    """1 where a uniform draw falls below p (input 0 is the generator)."""
    v = n.outputs[0]
    p = n.inputs[1]
    if isinstance(p, Value):
        pn = cx.x(n, 1)
        if p.dtype is not v.dtype:
            pn = cx.emit("Cast", [pn], to=onnx_dtype(v.dtype))
    else:
        pn = cx.const(np.asarray(p, dtype=v.dtype.np))
    u = _draw(cx, n, "RandomUniform")
    return cx.emit("Cast", [cx.emit("Less", [u, pn])], outputs=[cx.out(n)], to=onnx_dtype(v.dtype))


@to("rand", "randn")
def _random(cx, n):
    a = n.attr_dict()
    if n.op == "randn":
        return _draw(cx, n, "RandomNormal", outputs=[cx.out(n)])
    return _draw(cx, n, "RandomUniform", outputs=[cx.out(n)], low=float(a.get("low", 0.0)),
                 high=float(a.get("high", 1.0)))


@to("@dropout")
def _dropout(cx, n):
    """ONNX Dropout in training mode: zero with probability p, scale the rest by 1/(1-p)."""
    v = n.outputs[0]
    ratio = cx.const(np.asarray(n.attr_dict()["p"], dtype=v.dtype.np))
    return cx.emit("Dropout", [cx.x(n, 0), ratio, cx.const(np.asarray(True))],
                   outputs=[cx.out(n)])


# -- nn ---------------------------------------------------------------------------------------
@to("embedding")
def _embedding(cx, n):
    return cx.emit("Gather", [cx.x(n, 0), cx.x(n, 1)], outputs=[cx.out(n)], axis=0)


@to("layer_norm")
def _layer_norm(cx, n):
    a = n.attr_dict()
    k, eps = a["n"], float(a["eps"])
    r = _rank(n.inputs[0])
    x, w, b = cx.x(n, 0), cx.x(n, 1), cx.x(n, 2)
    if cx.opset >= 17:
        return cx.emit("LayerNormalization", [x, w, b], outputs=[cx.out(n)], axis=r - k,
                       epsilon=eps)
    axes = list(range(r - k, r))             # opset 13-16: the same arithmetic, spelled out
    d = cx.emit("Sub", [x, cx.reduce("ReduceMean", x, axes, True)])
    var = cx.reduce("ReduceMean", cx.emit("Mul", [d, d]), axes, True)
    rstd = cx.emit("Reciprocal", [cx.emit("Sqrt", [cx.emit("Add", [var, _scalar(cx, n, eps)])])])
    return cx.emit("Add", [cx.emit("Mul", [cx.emit("Mul", [d, rstd]), w]), b], outputs=[cx.out(n)])


@to("softmax", "log_softmax")
def _softmax(cx, n):
    r = _rank(n.inputs[0])
    return cx.emit("Softmax" if n.op == "softmax" else "LogSoftmax", [cx.x(n, 0)],
                   outputs=[cx.out(n)], axis=n.attr_dict()["dim"] % max(r, 1))


@to("cross_entropy_indices")
def _cross_entropy_indices(cx, n):
    a = n.attr_dict()
    return cx.emit("SoftmaxCrossEntropyLoss", [cx.x(n, 0), cx.x(n, 1)], outputs=[cx.out(n)],
                   reduction=a.get("reduction", "mean"), ignore_index=int(a.get("ignore_index", -100)))


def _pads(padding):
    padding = [p if isinstance(p, tuple) else (p, p) for p in padding]
    return [p[0] for p in padding] + [p[1] for p in padding]


@to("conv")
def _conv(cx, n):
    a = n.attr_dict()
    w = n.inputs[1]
    return cx.emit("Conv", [cx.x(n, 0), cx.x(n, 1)], outputs=[cx.out(n)],
                   kernel_shape=list(w.shape[2:]), strides=list(a["stride"]),
                   pads=_pads(a["padding"]), dilations=list(a["dilation"]),
                   group=int(a.get("groups", 1)))


@to("conv_transpose")
def _conv_transpose(cx, n):
    a = n.attr_dict()
    g, w = n.inputs[0], n.inputs[1]
    kernel = w.shape[2:]
    pads = _pads(a["padding"])
    nsp = len(kernel)
    outpad = []
    for i in range(nsp):
        full = (g.shape[2 + i] - 1) * a["stride"][i] + a["dilation"][i] * (kernel[i] - 1) + 1
        outpad.append(a["size"][i] - (full - pads[i] - pads[nsp + i]))
    if any(p < 0 for p in outpad):
        raise _Unsupported("conv_transpose with an output size below the natural one")
    return cx.emit("ConvTranspose", [cx.x(n, 0), cx.x(n, 1)], outputs=[cx.out(n)],
                   kernel_shape=list(kernel), strides=list(a["stride"]), pads=pads,
                   dilations=list(a["dilation"]), group=int(a.get("groups", 1)),
                   output_padding=outpad if any(outpad) else None)


@to("@max_pool")
def _max_pool(cx, n):
    a = n.attr_dict()
    x = cx.x(n, 0)
    sp = n.inputs[0].shape[2:]
    if a["kind"] == "adaptive_max_pool_indices":
        out = a["output_size"]
        if all(o == 1 for o in out):
            y = cx.emit("GlobalMaxPool", [x])
        elif all(s % o == 0 for s, o in zip(sp, out)):
            k = [s // o for s, o in zip(sp, out)]
            y = cx.emit("MaxPool", [x], kernel_shape=k, strides=k)
        else:
            raise _Unsupported(f"adaptive max pooling from {tuple(sp)} to {tuple(out)} "
                               "(sizes must divide evenly)")
    else:
        y = cx.emit("MaxPool", [x], kernel_shape=list(a["kernel"]), strides=list(a["stride"]),
                    pads=_pads(a["padding"]), dilations=list(a["dilation"]),
                    ceil_mode=int(bool(a.get("ceil_mode", False))))
    return cx.emit("Unsqueeze", [y, cx.ints([len(sp) + 2])], outputs=[cx.out(n)])


SUPPORTED_OPS = frozenset(k for k in TABLE if not k.startswith("@"))
