"""The import table: ONNX op -> pyrch ops.

Each entry is `fn(inputs, attrs) -> output or list of outputs`. Inputs are
pyrch Tensors or numpy arrays (host values: constants, shapes); `T` makes a
Tensor of either, `ints` reads a host value as Python ints. `attrs` holds the
node's attributes plus `_nout` (number of outputs) and `_opset`.
"""
import math

import numpy as np
import onnx
from onnx import helper, numpy_helper

import pyrch
import pyrch.nn.functional as F
from .._dtype import NP2DT
from .._tensor import Tensor

IMPL = {}
NEVER_HOST = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
              "Bernoulli", "Dropout"}


def to(*names):
    def deco(fn):
        for nm in names:
            IMPL[nm] = fn
        return fn
    return deco


def T(x, ref=None):
    """A pyrch Tensor for a Tensor or a host value (on `ref`'s device)."""
    if isinstance(x, Tensor):
        return x
    t = pyrch.from_numpy(np.array(x, copy=True))
    if isinstance(ref, Tensor) and ref.device != t.device:
        t = t.to(ref.device)
    return t


def _ref(xs):
    return next((x for x in xs if isinstance(x, Tensor)), None)


def ints(x):
    """A host (or constant) value as a list of Python ints."""
    if isinstance(x, Tensor):
        return [int(v) for v in np.asarray(x.tolist()).reshape(-1)]
    return [int(v) for v in np.asarray(x).reshape(-1)]


def _scalar(x):
    if isinstance(x, Tensor):
        return x.item()
    return np.asarray(x).reshape(()).item()


def _dtype(onnx_type):
    return NP2DT[np.dtype(helper.tensor_dtype_to_np_dtype(onnx_type))]


def _is_int(t):
    return not t.dtype.is_floating_point and t.dtype is not pyrch.bool


# -- elementwise ------------------------------------------------------------------------------
def _unary(f):
    return lambda x, a: f(T(x[0]))


def _binary(f):
    def h(x, a):
        r = _ref(x)
        return f(T(x[0], r), T(x[1], r))
    return h


for _k, _f in {"Neg": pyrch.neg, "Abs": pyrch.abs, "Sqrt": pyrch.sqrt,
               "Reciprocal": pyrch.reciprocal, "Exp": pyrch.exp, "Log": pyrch.log,
               "Erf": pyrch.erf, "Tanh": pyrch.tanh,
               "Sigmoid": pyrch.sigmoid, "Relu": pyrch.relu, "Floor": pyrch.floor,
               "Ceil": pyrch.ceil, "Round": pyrch.round, "Sign": pyrch.sign, "Sin": pyrch.sin,
               "Cos": pyrch.cos, "Tan": pyrch.tan, "Asin": pyrch.asin, "Acos": pyrch.acos,
               "Atan": pyrch.atan, "Sinh": pyrch.sinh, "Cosh": pyrch.cosh, "Asinh": pyrch.asinh,
               "Acosh": pyrch.acosh, "Atanh": pyrch.atanh, "IsNaN": pyrch.isnan,
               "Not": pyrch.logical_not, "Softplus": F.softplus}.items():
    IMPL[_k] = _unary(_f)

for _k, _f in {"Add": pyrch.add, "Sub": pyrch.sub, "Mul": pyrch.mul, "Equal": pyrch.eq,
               "Less": pyrch.lt, "LessOrEqual": pyrch.le, "Greater": pyrch.gt,
               "GreaterOrEqual": pyrch.ge, "And": pyrch.logical_and, "Or": pyrch.logical_or,
               "Xor": pyrch.logical_xor, "MatMul": pyrch.matmul}.items():
    IMPL[_k] = _binary(_f)


@to("Div")
def _div(x, a):
    r = _ref(x)
    p, q = T(x[0], r), T(x[1], r)
    if _is_int(p) and _is_int(q):
        return pyrch.div(p, q, rounding_mode="trunc")
    return p / q


@to("Pow")
def _pow(x, a):
    r = _ref(x)
    p = T(x[0], r)
    y = pyrch.pow(p, T(x[1], r))
    return y if y.dtype is p.dtype else y.to(p.dtype)


@to("Mod")
def _mod(x, a):
    r = _ref(x)
    f = pyrch.fmod if a.get("fmod", 0) else pyrch.remainder
    return f(T(x[0], r), T(x[1], r))


@to("IsInf")
def _isinf(x, a):
    t = T(x[0])
    pos, neg = a.get("detect_positive", 1), a.get("detect_negative", 1)
    if pos and neg:
        return pyrch.isinf(t)
    return (t == math.inf) if pos else (t == -math.inf) if neg else pyrch.zeros_like(t).bool()


@to("Identity")
def _identity(x, a):
    return x[0]


@to("Dropout")
def _dropout(x, a):
    """Identity unless training_mode is true; then zero with probability `ratio`, scale the
    rest by 1/(1-ratio). The optional second output is the keep mask."""
    t = T(x[0])
    ratio = _scalar(x[1]) if len(x) > 1 and x[1] is not None else a.get("ratio", 0.5)
    train = len(x) > 2 and x[2] is not None and bool(_scalar(x[2]))
    if not train or ratio == 0:
        y, keep = t, pyrch.ones(tuple(t.shape), dtype=pyrch.bool, device=t.device)
    else:
        keep = pyrch.rand(tuple(t.shape), device=t.device) >= ratio
        y = t * keep.to(t.dtype) * (1.0 / (1.0 - ratio)) if ratio < 1 else t * 0.0
    return [y, keep] if a["_nout"] > 1 else y


# -- random -------------------------------------------------------------------------------------
def _draw(x, a, f):
    """f(shape, dtype, device) for RandomX (shape/dtype attributes) and RandomXLike (input 0)."""
    if x:
        ref = x[0]
        dt = _dtype(a["dtype"]) if "dtype" in a else T(ref).dtype
        return f(tuple(ref.shape), dt, ref.device if isinstance(ref, Tensor) else None)
    return f(tuple(a["shape"]), _dtype(a.get("dtype", onnx.TensorProto.FLOAT)), None)


@to("RandomUniform", "RandomUniformLike")
def _random_uniform(x, a):
    lo, hi = a.get("low", 0.0), a.get("high", 1.0)
    return _draw(x, a, lambda sh, dt, dev: pyrch.rand(sh, dtype=dt, device=dev) * (hi - lo) + lo)


@to("RandomNormal", "RandomNormalLike")
def _random_normal(x, a):
    mu, sd = a.get("mean", 0.0), a.get("scale", 1.0)
    return _draw(x, a, lambda sh, dt, dev: pyrch.randn(sh, dtype=dt, device=dev) * sd + mu)


@to("Bernoulli")
def _bernoulli(x, a):
    p = T(x[0])
    y = pyrch.bernoulli(p)
    return y.to(_dtype(a["dtype"])) if "dtype" in a else y


@to("LeakyRelu")
def _leaky(x, a):
    return F.leaky_relu(T(x[0]), a.get("alpha", 0.01))


@to("Elu")
def _elu(x, a):
    return F.elu(T(x[0]), a.get("alpha", 1.0))


@to("Selu")
def _selu(x, a):
    t = T(x[0])
    al, ga = a.get("alpha", 1.67326319217681884765625), a.get("gamma", 1.05070102214813232421875)
    return pyrch.where(t > 0, t, al * (pyrch.exp(t) - 1)) * ga


@to("HardSigmoid")
def _hardsigmoid(x, a):
    return pyrch.clamp(T(x[0]) * a.get("alpha", 0.2) + a.get("beta", 0.5), 0.0, 1.0)


@to("HardSwish")
def _hardswish(x, a):
    t = T(x[0])
    return t * pyrch.clamp(t / 6.0 + 0.5, 0.0, 1.0)


@to("Softsign")
def _softsign(x, a):
    t = T(x[0])
    return t / (1 + t.abs())


@to("PRelu")
def _prelu(x, a):
    t = T(x[0])
    s = T(x[1], t)
    return pyrch.where(t < 0, t * s, t)


@to("Gelu")
def _gelu(x, a):
    return F.gelu(T(x[0]), approximate=a.get("approximate", "none"))


@to("Clip")
def _clip(x, a):
    t = T(x[0])
    lo = x[1] if len(x) > 1 else a.get("min")
    hi = x[2] if len(x) > 2 else a.get("max")
    if lo is not None:
        t = pyrch.maximum(t, T(np.asarray(lo, dtype=t.dtype.np) if not isinstance(lo, Tensor)
                               else lo, t))
    if hi is not None:
        t = pyrch.minimum(t, T(np.asarray(hi, dtype=t.dtype.np) if not isinstance(hi, Tensor)
                               else hi, t))
    return t


def _fold(f):
    def h(x, a):
        r = _ref(x)
        acc = T(x[0], r)
        for v in x[1:]:
            acc = f(acc, T(v, r))
        return acc
    return h


IMPL["Max"] = _fold(pyrch.maximum)
IMPL["Min"] = _fold(pyrch.minimum)
IMPL["Sum"] = _fold(pyrch.add)


@to("Mean")
def _mean(x, a):
    return IMPL["Sum"](x, a) / len(x)


@to("Where")
def _where(x, a):
    r = _ref(x)
    return pyrch.where(T(x[0], r), T(x[1], r), T(x[2], r))


@to("Cast")
def _cast(x, a):
    if a["to"] == onnx.TensorProto.STRING:     # a numpy object array, as onnxruntime formats it
        v = x[0].detach().cpu().numpy() if isinstance(x[0], Tensor) else np.asarray(x[0])
        return np.array([_fmt(e, v.dtype) for e in v.reshape(-1)], dtype=object).reshape(v.shape)
    if _is_str(x[0]):         # ONNX parses strings ("1.5", "-inf", "NaN", "7") into numbers
        dt = helper.tensor_dtype_to_np_dtype(a["to"])
        return np.asarray([_parse(s, dt) for s in x[0].reshape(-1)], dt).reshape(x[0].shape)
    return T(x[0]).to(_dtype(a["to"]))


def _fmt(e, dt):
    if dt.kind in "OSU":
        return str(e)
    if dt.kind == "b":
        return "1" if e else "0"
    if dt.kind != "f":
        return str(int(e))
    if np.isnan(e):
        return "NaN"
    if np.isinf(e):
        return "INF" if e > 0 else "-INF"
    return "%.8g" % float(e)


def _parse(s, dt):
    s = s.strip()
    if dt.kind == "b":
        return s.lower() not in ("", "0", "false")
    return float(s) if dt.kind == "f" else int(s)


@to("CastLike")
def _castlike(x, a):
    return T(x[0]).to(T(x[1]).dtype)


# -- constants and shapes -------------------------------------------------------------------------
@to("Constant")
def _constant(x, a):
    if "value" in a:
        return _strings(np.asarray(a["value"]))
    if "sparse_value" in a:
        return _dense(a["sparse_value"])
    if "value_float" in a or "value_floats" in a:
        return np.asarray(a.get("value_float", a.get("value_floats")), np.float32)
    if "value_int" in a or "value_ints" in a:
        return np.asarray(a.get("value_int", a.get("value_ints")), np.int64)
    if "value_string" in a or "value_strings" in a:
        return np.asarray(a.get("value_string", a.get("value_strings")), dtype=object)
    raise ValueError("Constant node has none of the attributes value, sparse_value, value_float(s), "
                     "value_int(s), value_string(s)")


def _strings(arr):
    """ONNX string tensors as numpy object arrays of str (what onnxruntime returns)."""
    if arr.dtype.kind in "OSU":
        flat = [v.decode() if isinstance(v, bytes) else str(v) for v in arr.reshape(-1)]
        return np.array(flat, dtype=object).reshape(arr.shape)
    return arr


def _dense(sp):
    """A SparseTensorProto as a dense numpy array (indices linear [NNZ] or [NNZ, rank])."""
    dims = tuple(int(d) for d in sp.dims)
    vals = _strings(numpy_helper.to_array(sp.values)).reshape(-1)
    idx = numpy_helper.to_array(sp.indices).astype(np.int64)
    out = np.zeros(dims, dtype=vals.dtype)
    if vals.dtype == object:
        out[...] = ""
    if idx.ndim == 2:
        idx = np.ravel_multi_index(tuple(idx.T), dims) if idx.size else idx.reshape(-1)
    out.reshape(-1)[idx.reshape(-1)] = vals
    return out


def _is_str(v):
    return isinstance(v, np.ndarray) and v.dtype.kind in "OSU"


@to("Shape")
def _shape(x, a):
    s = np.asarray(tuple(x[0].shape), dtype=np.int64)
    start, end = a.get("start", 0), a.get("end")
    return s[start:end]


@to("Size")
def _size(x, a):
    return np.asarray(int(np.prod(tuple(x[0].shape), dtype=np.int64)), np.int64)


@to("ConstantOfShape")
def _constant_of_shape(x, a):
    v = a.get("value")
    v = np.zeros(1, np.float32) if v is None else np.asarray(v)
    return np.full(tuple(ints(x[0])), v.reshape(-1)[0], dtype=v.dtype)


@to("Range")
def _range(x, a):
    start, limit, delta = (_scalar(v) for v in x)
    dt = np.asarray(x[0]).dtype if not isinstance(x[0], Tensor) else x[0].dtype.np
    return np.arange(start, limit, delta).astype(dt)


# -- movement -------------------------------------------------------------------------------------
def _axes_arg(x, a, i=1):
    if len(x) > i and x[i] is not None:
        return ints(x[i])
    ax = a.get("axes")
    return None if ax is None else list(ax)


@to("Reshape")
def _reshape(x, a):
    t = T(x[0])
    shape = ints(x[1])
    if not a.get("allowzero", 0):
        shape = [t.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return t.reshape(tuple(shape))


@to("Flatten")
def _flatten(x, a):
    t = T(x[0])
    ax = a.get("axis", 1) % (t.dim() + 1) if t.dim() else 0
    lead = int(np.prod(tuple(t.shape[:ax]), dtype=np.int64))
    return t.reshape(lead, -1) if lead else t.reshape(0, int(np.prod(tuple(t.shape[ax:]))))


@to("Transpose")
def _transpose(x, a):
    t = T(x[0])
    perm = a.get("perm") or list(range(t.dim()))[::-1]
    return t.permute(*perm)


@to("Unsqueeze")
def _unsqueeze(x, a):
    t = T(x[0])
    axes = _axes_arg(x, a)
    r = t.dim() + len(axes)
    shape = list(t.shape)
    for ax in sorted(d % r for d in axes):
        shape.insert(ax, 1)
    return t.reshape(tuple(shape))


@to("Squeeze")
def _squeeze(x, a):
    t = T(x[0])
    axes = _axes_arg(x, a)
    r = t.dim()
    drop = {d % r for d in axes} if axes else {i for i, s in enumerate(t.shape) if s == 1}
    return t.reshape(tuple(s for i, s in enumerate(t.shape) if i not in drop))


@to("Concat")
def _concat(x, a):
    r = _ref(x)
    ts = [T(v, r) for v in x]
    return pyrch.cat(ts, dim=a["axis"])


@to("Expand")
def _expand(x, a):
    t = T(x[0])
    shape = np.broadcast_shapes(tuple(t.shape), tuple(ints(x[1])))
    return t.expand(*shape)


@to("Tile")
def _tile(x, a):
    return pyrch.tile(T(x[0]), tuple(ints(x[1])))


@to("Gather")
def _gather(x, a):
    t = T(x[0])
    axis = a.get("axis", 0) % max(t.dim(), 1)
    idx = x[1]
    if not isinstance(idx, Tensor):
        idx = np.asarray(idx).astype(np.int64)
        idx = np.where(idx < 0, idx + t.shape[axis], idx)
    return t[(slice(None),) * axis + (T(idx, t),)]


@to("GatherElements")
def _gather_elements(x, a):
    t = T(x[0])
    return pyrch.gather(t, a.get("axis", 0), T(x[1], t))


@to("ScatterElements")
def _scatter_elements(x, a):
    t = T(x[0])
    red = a.get("reduction", "none")
    idx, src = T(x[1], t), T(x[2], t)
    if red == "none":
        return pyrch.scatter(t, a.get("axis", 0), idx, src)
    if red == "add":
        return pyrch.scatter_add(t, a.get("axis", 0), idx, src)
    how = {"mul": "prod", "max": "amax", "min": "amin"}.get(red)
    if how is None:
        raise ValueError(f"ScatterElements: unknown reduction {red!r} (none, add, mul, max, min)")
    return pyrch.scatter_reduce(t, a.get("axis", 0), idx, src, how, include_self=True)


@to("Slice")
def _slice(x, a):
    t = T(x[0])
    starts, ends = ints(x[1]), ints(x[2])
    axes = ints(x[3]) if len(x) > 3 and x[3] is not None else list(range(len(starts)))
    steps = ints(x[4]) if len(x) > 4 and x[4] is not None else [1] * len(starts)
    key = [slice(None)] * t.dim()
    flips = []
    for s, e, ax, st in zip(starts, ends, axes, steps):
        ax %= t.dim()
        n = t.shape[ax]
        b, c, _ = slice(s, e, st).indices(n)
        if st > 0:
            key[ax] = slice(b, max(b, c), st)
        else:
            rng = range(b, c, st)
            if len(rng) == 0:
                key[ax] = slice(0, 0)
            else:
                key[ax] = slice(rng[-1], rng[0] + 1)
                flips.append((ax, -st))
    out = t[tuple(key)]
    for ax, st in flips:
        out = out.flip(ax)
        if st != 1:
            out = out[(slice(None),) * ax + (slice(None, None, st),)]
    return out


@to("Split")
def _split(x, a):
    t = T(x[0])
    axis = a.get("axis", 0) % t.dim()
    if len(x) > 1 and x[1] is not None:
        sizes = ints(x[1])
    elif a.get("split"):
        sizes = list(a["split"])
    else:
        k = a.get("num_outputs", a["_nout"])
        n = t.shape[axis]
        step = -(-n // k)
        sizes = [min(step, n - i * step) for i in range(k)]
    return list(pyrch.split(t, sizes, dim=axis))


@to("Trilu")
def _trilu(x, a):
    k = int(_scalar(x[1])) if len(x) > 1 and x[1] is not None else 0
    t = T(x[0])
    return pyrch.triu(t, k) if a.get("upper", 1) else pyrch.tril(t, k)


@to("Pad")
def _pad(x, a):
    t = T(x[0])
    mode = a.get("mode", "constant")
    pads = ints(x[1]) if len(x) > 1 and x[1] is not None else list(a.get("pads", []))
    value = _scalar(x[2]) if len(x) > 2 and x[2] is not None and np.size(
        x[2] if not isinstance(x[2], Tensor) else x[2].numel()) else a.get("value", 0.0)
    r = t.dim()
    axes = ints(x[3]) if len(x) > 3 and x[3] is not None else list(range(r))
    axes = [d % r for d in axes]
    k = len(axes)
    begin, end = dict(zip(axes, pads[:k])), dict(zip(axes, pads[k:]))
    lo = min((d for d in axes if begin[d] or end[d]), default=None)
    if lo is None:
        return t
    tp = []
    for d in range(r - 1, lo - 1, -1):
        tp += [begin.get(d, 0), end.get(d, 0)]
    if mode == "constant":
        return F.pad(t, tuple(tp), value=value)
    return F.pad(t, tuple(tp), mode={"reflect": "reflect", "edge": "replicate"}[mode])


# -- reductions --------------------------------------------------------------------------------
def _reduce_axes(x, a, t):
    axes = _axes_arg(x, a)
    if not axes:
        if a.get("noop_with_empty_axes", 0):
            return None, True
        axes = list(range(t.dim()))
    return tuple(sorted(d % max(t.dim(), 1) for d in axes)), False


def _reducer(f):
    def h(x, a):
        t = T(x[0])
        axes, noop = _reduce_axes(x, a, t)
        if noop:
            return t
        keep = bool(a.get("keepdims", 1))
        if not axes:
            return t
        return f(t, axes, keep)
    return h


def _prod(t, axes, keep):
    for d in sorted(axes, reverse=True):
        t = t.prod(dim=d, keepdim=keep)
    return t


IMPL["ReduceSum"] = _reducer(lambda t, d, k: t.sum(dim=d, keepdim=k))
IMPL["ReduceMean"] = _reducer(lambda t, d, k: t.mean(dim=d, keepdim=k))
IMPL["ReduceMax"] = _reducer(lambda t, d, k: t.amax(dim=d, keepdim=k))
IMPL["ReduceMin"] = _reducer(lambda t, d, k: t.amin(dim=d, keepdim=k))
IMPL["ReduceProd"] = _reducer(_prod)
IMPL["ReduceL1"] = _reducer(lambda t, d, k: t.abs().sum(dim=d, keepdim=k))
IMPL["ReduceL2"] = _reducer(lambda t, d, k: (t * t).sum(dim=d, keepdim=k).sqrt())
IMPL["ReduceSumSquare"] = _reducer(lambda t, d, k: (t * t).sum(dim=d, keepdim=k))
IMPL["ReduceLogSumExp"] = _reducer(lambda t, d, k: pyrch.logsumexp(t, dim=d, keepdim=k))


def _arg(f):
    def h(x, a):
        t = T(x[0])
        ax, keep = a.get("axis", 0) % max(t.dim(), 1), bool(a.get("keepdims", 1))
        if not a.get("select_last_index", 0):
            return f(t, dim=ax, keepdim=keep)
        # the last extreme: the first one of the reversed axis, counted from the end
        return (t.shape[ax] - 1) - f(t.flip(ax), dim=ax, keepdim=keep)
    return h


IMPL["ArgMax"] = _arg(pyrch.argmax)
IMPL["ArgMin"] = _arg(pyrch.argmin)


@to("CumSum")
def _cumsum(x, a):
    t = T(x[0])
    ax = int(_scalar(x[1])) % max(t.dim(), 1)
    if a.get("reverse", 0):
        t = t.flip(ax)
    y = pyrch.cumsum(t, dim=ax)
    if a.get("exclusive", 0):
        y = y - t
    return y.flip(ax) if a.get("reverse", 0) else y


def _softmax_like(f):
    def h(x, a):
        t = T(x[0])
        if a["_opset"] >= 13:
            return f(t, dim=a.get("axis", -1))
        ax = a.get("axis", 1) % max(t.dim(), 1)
        flat = t.reshape(int(np.prod(tuple(t.shape[:ax]), dtype=np.int64)), -1)
        return f(flat, dim=1).reshape(tuple(t.shape))
    return h


IMPL["Softmax"] = _softmax_like(F.softmax)
IMPL["LogSoftmax"] = _softmax_like(F.log_softmax)


@to("SoftmaxCrossEntropyLoss")
def _softmax_ce(x, a):
    w = T(x[2]) if len(x) > 2 and x[2] is not None else None
    return F.cross_entropy(T(x[0]), T(x[1]).long(), weight=w, reduction=a.get("reduction", "mean"),
                           ignore_index=a.get("ignore_index", -100))


# -- linear algebra --------------------------------------------------------------------------------
@to("Gemm")
def _gemm(x, a):
    r = _ref(x)
    A, B = T(x[0], r), T(x[1], r)
    if a.get("transA", 0):
        A = A.t()
    if a.get("transB", 0):
        B = B.t()
    y = A @ B
    if a.get("alpha", 1.0) != 1.0:
        y = y * a["alpha"]
    if len(x) > 2 and x[2] is not None:
        c = T(x[2], r)
        y = y + (c if a.get("beta", 1.0) == 1.0 else c * a["beta"])
    return y


@to("Einsum")
def _einsum(x, a):
    r = _ref(x)
    return pyrch.einsum(a["equation"], *[T(v, r) for v in x])


# -- nn -----------------------------------------------------------------------------------
def _same_pads(a, sp, kernel, strides, dilations):
    mode = a.get("auto_pad", "NOTSET")
    n = len(kernel)
    if mode in ("NOTSET", ""):
        return list(a.get("pads", [0] * (2 * n)))
    if mode == "VALID":
        return [0] * (2 * n)
    begin, end = [], []
    for i in range(n):
        out = -(-sp[i] // strides[i])
        total = max((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - sp[i], 0)
        small, big = total // 2, total - total // 2
        begin.append(small if mode == "SAME_UPPER" else big)
        end.append(big if mode == "SAME_UPPER" else small)
    return begin + end


def _torch_pads(pads):
    """ONNX [b1, b2, .., e1, e2, ..] over spatial dims -> F.pad order (last dim first)."""
    n = len(pads) // 2
    out = []
    for i in range(n - 1, -1, -1):
        out += [pads[i], pads[n + i]]
    return tuple(out)


def _spatial(a, t, w_shape=None):
    n = t.dim() - 2
    kernel = list(a.get("kernel_shape") or (w_shape[2:] if w_shape is not None else []))
    strides = list(a.get("strides", [1] * n))
    dilations = list(a.get("dilations", [1] * n))
    pads = _same_pads(a, tuple(t.shape[2:]), kernel, strides, dilations)
    return n, kernel, strides, dilations, pads


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONVT = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_MAXP = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVGP = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


@to("Conv")
def _conv(x, a):
    t = T(x[0])
    w = T(x[1], t)
    b = T(x[2], t) if len(x) > 2 and x[2] is not None else None
    n, kernel, strides, dilations, pads = _spatial(a, t, tuple(w.shape))
    if pads[:n] != pads[n:]:
        t = F.pad(t, _torch_pads(pads))
        pads = [0] * (2 * n)
    return _CONV[n](t, w, b, stride=tuple(strides), padding=tuple(pads[:n]),
                    dilation=tuple(dilations), groups=a.get("group", 1))


@to("ConvTranspose")
def _conv_transpose(x, a):
    t = T(x[0])
    w = T(x[1], t)
    b = T(x[2], t) if len(x) > 2 and x[2] is not None else None
    n = t.dim() - 2
    kernel = list(a.get("kernel_shape") or w.shape[2:])
    strides = list(a.get("strides", [1] * n))
    dil = list(a.get("dilations", [1] * n))
    outpad = list(a.get("output_padding", [0] * n))
    full = [(t.shape[2 + i] - 1) * strides[i] + dil[i] * (kernel[i] - 1) + 1 for i in range(n)]
    if "output_shape" in a:
        want = list(a["output_shape"])[-n:]
        pads = []
        for i in range(n):
            total = full[i] + outpad[i] - want[i]
            pads.append((total // 2, total - total // 2) if a.get("auto_pad") != "SAME_LOWER"
                        else (total - total // 2, total // 2))
        pads = [p[0] for p in pads] + [p[1] for p in pads]
    elif a.get("auto_pad", "NOTSET") not in ("NOTSET", "", "VALID"):
        pads = []
        for i in range(n):
            total = max(full[i] + outpad[i] - t.shape[2 + i] * strides[i], 0)
            pads.append((total // 2, total - total // 2) if a["auto_pad"] == "SAME_UPPER"
                        else (total - total // 2, total // 2))
        pads = [p[0] for p in pads] + [p[1] for p in pads]
    else:
        pads = list(a.get("pads", [0] * (2 * n)))
    y = _CONVT[n](t, w, None, stride=tuple(strides), padding=0, output_padding=0,
                  groups=a.get("group", 1), dilation=tuple(dil))
    key, extra = [slice(None), slice(None)], []
    for i in range(n):
        size = full[i] - pads[i] - pads[n + i] + outpad[i]
        stop = pads[i] + size
        key.append(slice(pads[i], min(stop, full[i])))
        extra.append(max(stop - full[i], 0))
    y = y[tuple(key)]
    if any(extra):
        y = F.pad(y, tuple(v for e in reversed(extra) for v in (0, e)))
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * n)
    return y


def _pool_sizes(a, sp, kernel, strides, dilations, pads):
    """Output sizes as onnxruntime computes them (with ceil_mode, a last window starting past
    the input and its head padding is dropped)."""
    n, out = len(sp), []
    for i in range(n):
        span = sp[i] + pads[i] + pads[n + i] - dilations[i] * (kernel[i] - 1) - 1
        if a.get("ceil_mode", 0):
            o = -(-span // strides[i]) + 1
            if (o - 1) * strides[i] >= sp[i] + pads[i]:
                o -= 1
        else:
            o = span // strides[i] + 1
        out.append(o)
    return out


def _crop(y, sizes):
    if list(y.shape[2:]) == list(sizes):
        return y
    return y[(slice(None), slice(None)) + tuple(slice(0, o) for o in sizes)]


@to("MaxPool")
def _maxpool(x, a):
    t = T(x[0])
    n, kernel, strides, dilations, pads = _spatial(a, t)
    sp = tuple(t.shape[2:])
    sizes = _pool_sizes(a, sp, kernel, strides, dilations, pads)
    src, begin = t, [0] * n
    if pads[:n] != pads[n:]:
        src = F.pad(t, _torch_pads(pads), value=-math.inf)
        begin, pads = pads[:n], [0] * (2 * n)
    res = _MAXP[n](src, tuple(kernel), tuple(strides), tuple(pads[:n]), tuple(dilations),
                   ceil_mode=bool(a.get("ceil_mode", 0)), return_indices=a["_nout"] > 1)
    if a["_nout"] == 1:
        return _crop(res, sizes)
    y, idx = _crop(res[0], sizes), _crop(res[1], sizes)
    return [y, _onnx_indices(idx, tuple(src.shape[2:]), sp, begin, a.get("storage_order", 0))]


def _onnx_indices(idx, frame, sp, begin, storage_order):
    """Per-plane row-major indices into `frame` (the padded input) -> ONNX MaxPool Indices:
    positions in the unpadded input of spatial size `sp`, flattened over the whole tensor
    (N, C and the spatial dims), the spatial part column-major when storage_order=1."""
    n = len(sp)
    if storage_order == 0 and list(frame) == list(sp):
        flat = idx
    else:
        coords, rest = [None] * n, idx
        for k in range(n - 1, -1, -1):
            coords[k] = rest % frame[k] - begin[k]
            rest = rest // frame[k]
        order = range(n) if storage_order == 0 else range(n - 1, -1, -1)
        flat = None
        for k in order:
            flat = coords[k] if flat is None else flat * sp[k] + coords[k]
    planes = idx.shape[0] * idx.shape[1]
    base = pyrch.arange(planes, device=idx.device).reshape((idx.shape[0], idx.shape[1]) + (1,) * n)
    return flat + base * int(np.prod(sp, dtype=np.int64))


@to("AveragePool")
def _avgpool(x, a):
    t = T(x[0])
    n, kernel, strides, dilations, pads = _spatial(a, t)
    if any(d != 1 for d in dilations):
        return _dilated_avgpool(t, a, n, kernel, strides, dilations, pads)
    ceil = bool(a.get("ceil_mode", 0))
    if pads[:n] == pads[n:]:
        return _AVGP[n](t, tuple(kernel), tuple(strides), tuple(pads[:n]), ceil_mode=ceil,
                        count_include_pad=bool(a.get("count_include_pad", 0)))
    sizes = _pool_sizes(a, tuple(t.shape[2:]), kernel, strides, dilations, pads)
    pool = lambda v: _crop(_AVGP[n](F.pad(v, _torch_pads(pads)), tuple(kernel), tuple(strides),
                                    0, ceil_mode=ceil, count_include_pad=True), sizes)
    y = pool(t)                      # zero padding counted in every window
    if a.get("count_include_pad", 0):
        return y
    # Divide out the share of real elements in each window (the same divisor cancels).
    ones = pyrch.ones((1, 1) + tuple(t.shape[2:]), dtype=t.dtype, device=t.device)
    return y / pool(ones)


def _dilated_avgpool(t, a, n, kernel, strides, dilations, pads):
    """AveragePool with dilations (opset 19): window sums by a depthwise convolution with a
    ones kernel, divided by the count of input elements (or, with count_include_pad, of input
    and pad positions) each window covers."""
    sp = tuple(t.shape[2:])
    sizes = _pool_sizes(a, sp, kernel, strides, dilations, pads)
    extra = [max(0, (sizes[i] - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1
                 - (sp[i] + pads[i] + pads[n + i])) for i in range(n)]
    full = _torch_pads(pads[:n] + [pads[n + i] + extra[i] for i in range(n)])
    c = t.shape[1]
    kw = dict(stride=tuple(strides), dilation=tuple(dilations))
    ones = pyrch.ones((c, 1) + tuple(kernel), dtype=t.dtype, device=t.device)
    total = _CONV[n](F.pad(t, full), ones, groups=c, **kw)
    inside = pyrch.ones((1, 1) + sp, dtype=t.dtype, device=t.device)
    if a.get("count_include_pad", 0):       # pad positions count, the ceil_mode overhang not
        inside = F.pad(inside, _torch_pads(pads), value=1.0)
        full = _torch_pads([0] * n + extra)
    count = _CONV[n](F.pad(inside, full), ones[:1], **kw)
    return _crop(total / count, sizes)


@to("GlobalAveragePool")
def _gap(x, a):
    t = T(x[0])
    return t.mean(dim=tuple(range(2, t.dim())), keepdim=True)


@to("GlobalMaxPool")
def _gmp(x, a):
    t = T(x[0])
    return t.amax(dim=tuple(range(2, t.dim())), keepdim=True)


@to("BatchNormalization")
def _batchnorm(x, a):
    t = T(x[0])
    scale, bias, mean, var = (T(v, t) for v in x[1:5])
    eps = a.get("epsilon", 1e-5)
    if not a.get("training_mode", 0):
        return F.batch_norm(t, mean, var, scale, bias, training=False, eps=eps)
    # training mode: normalise with the batch statistics (biased variance); the optional
    # outputs are the running stats moved by `momentum` toward them
    dims = (0,) + tuple(range(2, t.dim()))
    shape = (1, -1) + (1,) * (t.dim() - 2)
    m = t.mean(dims, keepdim=True)
    d = t - m
    v = (d * d).mean(dims, keepdim=True)
    y = d * (v + eps).rsqrt() * scale.reshape(shape) + bias.reshape(shape)
    mom = a.get("momentum", 0.9)
    outs = [y, mean * mom + m.reshape(-1) * (1 - mom), var * mom + v.reshape(-1) * (1 - mom)]
    return outs[:a["_nout"]]


@to("LayerNormalization")
def _layernorm(x, a):
    t = T(x[0])
    ax = a.get("axis", -1) % t.dim()
    w = T(x[1], t)
    b = T(x[2], t) if len(x) > 2 and x[2] is not None else None
    return F.layer_norm(t, tuple(t.shape[ax:]), w, b, eps=a.get("epsilon", 1e-5))


@to("InstanceNormalization")
def _instancenorm(x, a):
    t = T(x[0])
    dims = tuple(range(2, t.dim()))
    m = t.mean(dim=dims, keepdim=True)
    v = ((t - m) ** 2).mean(dim=dims, keepdim=True)
    shape = (1, -1) + (1,) * len(dims)
    y = (t - m) / (v + a.get("epsilon", 1e-5)).sqrt()
    return y * T(x[1], t).reshape(shape) + T(x[2], t).reshape(shape)


# -- recurrent ----------------------------------------------------------------------------
_ACT = {"Sigmoid": pyrch.sigmoid, "Tanh": pyrch.tanh, "Relu": pyrch.relu}


class _Recurrent:
    """What RNN, GRU and LSTM share: the input in (seq, batch, input) layout, per-direction
    activations, `clip` (applied to every gate pre-activation), initial states, and with
    `sequence_lens` shorter than the sequence, per-step masks: past its length a sequence
    keeps its state and outputs zeros, so Y_h/Y_c are its state at its last valid step
    (zeros for an empty sequence, as onnxruntime gives)."""

    def __init__(self, x, a, acts):
        self.layout = a.get("layout", 0)
        t = T(x[0])
        self.t = t.permute(1, 0, 2) if self.layout else t
        self.W, self.R = T(x[1], t), T(x[2], t)
        self.H = a.get("hidden_size") or self.R.shape[-1]
        self.B = T(x[3], t) if len(x) > 3 and x[3] is not None else None
        self.ndir = self.W.shape[0]
        self.seq, self.batch = self.t.shape[0], self.t.shape[1]
        direction = a.get("direction", "forward")
        self.reverse = [direction == "reverse" or (direction == "bidirectional" and d == 1)
                        for d in range(self.ndir)]
        names, k = a.get("activations", acts * self.ndir), len(acts)
        self.acts = [[_ACT[nm] for nm in names[k * d: k * d + k]] for d in range(self.ndir)]
        c = a.get("clip")
        self.clip = (lambda z: z) if c is None else (lambda z: pyrch.clamp(z, -c, c))
        self.masks = self.nonempty = None
        if len(x) > 4 and x[4] is not None:
            lens = np.asarray(ints(x[4]))
            if np.any(lens < self.seq):
                keep = np.arange(self.seq)[:, None] < lens[None, :]          # (seq, batch)
                self.masks = [(T(keep[s][:, None], self.t), T(keep[s][:, None], self.t).to(
                    self.t.dtype)) for s in range(self.seq)]
                if np.any(lens == 0):           # onnxruntime: empty sequences end in zeros
                    self.nonempty = T((lens > 0)[:, None].astype(self.t.dtype.np), self.t)
        self.h0 = self.initial(x, 5)

    def initial(self, x, i):
        if len(x) <= i or x[i] is None:
            return None
        v = T(x[i], self.t)
        return v.permute(1, 0, 2) if self.layout else v

    def state(self, v, d):
        if v is not None:
            return v[d]
        return pyrch.zeros((self.batch, self.H), dtype=self.t.dtype, device=self.t.device)

    def scan(self, d, states, step):
        """Run `step(s, states) -> new states` (hidden state first) over direction d's steps;
        returns the stacked hidden outputs (seq, batch, H) and the final states."""
        out = [None] * self.seq
        for s in (range(self.seq - 1, -1, -1) if self.reverse[d] else range(self.seq)):
            new = step(s, states)
            if self.masks is not None:
                keep, kf = self.masks[s]
                new = tuple(pyrch.where(keep, v, old) for v, old in zip(new, states))
                out[s] = new[0] * kf
            else:
                out[s] = new[0]
            states = new
        if self.nonempty is not None:
            states = tuple(v * self.nonempty for v in states)
        return pyrch.stack(out, dim=0), states

    def outputs(self, ys, finals):
        """Y (seq, dirs, batch, H) and the final states (dirs, batch, H), in the node's layout."""
        outs = [pyrch.stack(ys, dim=1)]
        outs += [pyrch.stack([f[k] for f in finals], dim=0) for k in range(len(finals[0]))]
        if self.layout:
            outs = [outs[0].permute(2, 0, 1, 3)] + [o.permute(1, 0, 2) for o in outs[1:]]
        return outs


@to("RNN")
def _rnn(x, a):
    r = _Recurrent(x, a, ["Tanh"])
    H, ys, finals = r.H, [], []
    for d in range(r.ndir):
        f = r.acts[d][0]
        xw = r.t @ r.W[d].t()
        if r.B is not None:
            xw = xw + (r.B[d][:H] + r.B[d][H:])
        Rt = r.R[d].t()
        y, st = r.scan(d, (r.state(r.h0, d),), lambda s, st: (f(r.clip(xw[s] + st[0] @ Rt)),))
        ys.append(y)
        finals.append(st)
    return r.outputs(ys, finals)


@to("LSTM")
def _lstm(x, a):
    r = _Recurrent(x, a, ["Sigmoid", "Tanh", "Tanh"])
    H, cl = r.H, r.clip
    c0 = r.initial(x, 6)
    P = T(x[7], r.t) if len(x) > 7 and x[7] is not None else None
    coupled = bool(a.get("input_forget", 0))
    ys, finals = [], []
    for d in range(r.ndir):
        f, g, h = r.acts[d]
        xw = r.t @ r.W[d].t()
        if r.B is not None:
            xw = xw + (r.B[d][:4 * H] + r.B[d][4 * H:])
        Rt = r.R[d].t()
        pi, po, pf = (P[d][:H], P[d][H:2 * H], P[d][2 * H:]) if P is not None else (None,) * 3

        def step(s, st, xw=xw, Rt=Rt, f=f, g=g, h=h, pi=pi, po=po, pf=pf):
            ht, ct = st
            z = xw[s] + ht @ Rt                     # gates in ONNX order i, o, f, c
            zi, zo, zf, zc = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
            i = f(cl(zi if pi is None else zi + pi * ct))
            fg = 1 - i if coupled else f(cl(zf if pf is None else zf + pf * ct))
            c = fg * ct + i * g(cl(zc))
            o = f(cl(zo if po is None else zo + po * c))
            return o * h(c), c

        y, st = r.scan(d, (r.state(r.h0, d), r.state(c0, d)), step)
        ys.append(y)
        finals.append(st)
    return r.outputs(ys, finals)


@to("GRU")
def _gru(x, a):
    r = _Recurrent(x, a, ["Sigmoid", "Tanh"])
    H, cl = r.H, r.clip
    lbr = a.get("linear_before_reset", 0)
    ys, finals = [], []
    for d in range(r.ndir):
        f, g = r.acts[d]
        xw = r.t @ r.W[d].t()
        wb = r.B[d][:3 * H] if r.B is not None else None
        rb = r.B[d][3 * H:] if r.B is not None else None
        if wb is not None:
            xw = xw + wb
        Rd = r.R[d]

        def step(s, st, xw=xw, Rd=Rd, rb=rb, f=f, g=g):
            ht = st[0]
            xz, xr, xh = xw[s][:, :H], xw[s][:, H:2 * H], xw[s][:, 2 * H:]
            hz = ht @ Rd[:H].t()
            hr = ht @ Rd[H:2 * H].t()
            if rb is not None:
                hz, hr = hz + rb[:H], hr + rb[H:2 * H]
            z, rr = f(cl(xz + hz)), f(cl(xr + hr))
            if lbr:
                hh = ht @ Rd[2 * H:].t()
                if rb is not None:
                    hh = hh + rb[2 * H:]
                n = g(cl(xh + rr * hh))
            else:
                hh = (rr * ht) @ Rd[2 * H:].t()
                if rb is not None:
                    hh = hh + rb[2 * H:]
                n = g(cl(xh + hh))
            return ((1 - z) * n + z * ht,)

        y, st = r.scan(d, (r.state(r.h0, d),), step)
        ys.append(y)
        finals.append(st)
    return r.outputs(ys, finals)
