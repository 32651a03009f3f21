"""The import table: ONNX op -> pyrch ops.

Each entry is `fn(inputs, attrs) -> output or list of outputs`. Inputs are
pyrch Tensors or numpy arrays (host values: constants, shapes); `T` makes a
Tensor of either, `ints` reads a host value as Python ints. `attrs` holds the
node's attributes plus `_nout` (number of outputs) and `_opset`.
"""
import math

import numpy as np
from onnx import helper

import pyrch
import pyrch.nn.functional as F
from .._dtype import NP2DT
from .._tensor import Tensor

IMPL = {}
NEVER_HOST = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike"}


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


@to("Identity", "Dropout")
def _identity(x, a):
    if a["_nout"] > 1:
        return [x[0], pyrch.ones(tuple(T(x[0]).shape), dtype=pyrch.bool)]
    return x[0]


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
    return T(x[0]).to(_dtype(a["to"]))


@to("CastLike")
def _castlike(x, a):
    return T(x[0]).to(T(x[1]).dtype)


# -- constants and shapes -------------------------------------------------------------------------
@to("Constant")
def _constant(x, a):
    for k in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if k in a:
            v = a[k]
            if k.startswith("value_float"):
                return np.asarray(v, np.float32)
            if k.startswith("value_int"):
                return np.asarray(v, np.int64)
            return np.asarray(v)
    raise NotImplementedError("Constant without a tensor/float/int value")


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
    raise NotImplementedError(f"ScatterElements reduction={red!r}")


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
        if a.get("select_last_index", 0):
            raise NotImplementedError("ArgMax/ArgMin with select_last_index=1")
        return f(T(x[0]), dim=a.get("axis", 0), keepdim=bool(a.get("keepdims", 1)))
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


@to("MaxPool")
def _maxpool(x, a):
    t = T(x[0])
    if a["_nout"] > 1:
        raise NotImplementedError("MaxPool with an Indices output")
    n, kernel, strides, dilations, pads = _spatial(a, t)
    if pads[:n] != pads[n:]:
        t = F.pad(t, _torch_pads(pads), value=-math.inf)
        pads = [0] * (2 * n)
    return _MAXP[n](t, tuple(kernel), tuple(strides), tuple(pads[:n]), tuple(dilations),
                    ceil_mode=bool(a.get("ceil_mode", 0)))


@to("AveragePool")
def _avgpool(x, a):
    t = T(x[0])
    n, kernel, strides, dilations, pads = _spatial(a, t)
    if pads[:n] != pads[n:]:
        raise NotImplementedError("AveragePool with asymmetric pads")
    return _AVGP[n](t, tuple(kernel), tuple(strides), tuple(pads[:n]),
                    ceil_mode=bool(a.get("ceil_mode", 0)),
                    count_include_pad=bool(a.get("count_include_pad", 0)))


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
    return F.batch_norm(t, mean, var, scale, bias, training=False, eps=a.get("epsilon", 1e-5))


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


def _rnn_common(x, a, gates):
    t = T(x[0])
    if len(x) > 4 and x[4] is not None:
        lens = np.asarray(ints(x[4]))
        seq_axis = 1 if a.get("layout", 0) else 0
        if not np.all(lens == t.shape[seq_axis]):
            raise NotImplementedError("RNN sequence_lens shorter than the sequence")
    if a.get("clip") is not None:
        raise NotImplementedError("RNN with clip")
    if a.get("layout", 0):
        t = t.permute(1, 0, 2)                    # -> (seq, batch, input)
    W, R = T(x[1], t), T(x[2], t)
    H = a.get("hidden_size") or R.shape[-1]
    B = T(x[3], t) if len(x) > 3 and x[3] is not None else None
    ndir = W.shape[0]
    h0 = T(x[5], t) if len(x) > 5 and x[5] is not None else None
    if h0 is not None and a.get("layout", 0):
        h0 = h0.permute(1, 0, 2)
    return t, W, R, B, H, ndir, h0


def _rnn_out(ys, hs, cs, a):
    Y = pyrch.stack(ys, dim=1)                     # (seq, dirs, batch, H)
    Yh = pyrch.stack(hs, dim=0)
    outs = [Y, Yh]
    if cs is not None:
        outs.append(pyrch.stack(cs, dim=0))
    if a.get("layout", 0):
        outs = [outs[0].permute(2, 0, 1, 3)] + [o.permute(1, 0, 2) for o in outs[1:]]
    return outs


@to("LSTM")
def _lstm(x, a):
    t, W, R, B, H, ndir, h0 = _rnn_common(x, a, 4)
    if a.get("input_forget", 0) or (len(x) > 7 and x[7] is not None):
        raise NotImplementedError("LSTM with peepholes or input_forget")
    acts = [_ACT[s] for s in a.get("activations", ["Sigmoid", "Tanh", "Tanh"] * ndir)]
    c0 = T(x[6], t) if len(x) > 6 and x[6] is not None else None
    if c0 is not None and a.get("layout", 0):
        c0 = c0.permute(1, 0, 2)
    seq, batch = t.shape[0], t.shape[1]
    direction = a.get("direction", "forward")
    ys, hs, cs = [], [], []
    for d in range(ndir):
        f, g, h = acts[3 * d: 3 * d + 3]
        reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
        xw = t @ W[d].t()
        if B is not None:
            xw = xw + (B[d][:4 * H] + B[d][4 * H:])
        ht = h0[d] if h0 is not None else pyrch.zeros((batch, H), dtype=t.dtype, device=t.device)
        ct = c0[d] if c0 is not None else pyrch.zeros((batch, H), dtype=t.dtype, device=t.device)
        Rt = R[d].t()
        out = [None] * seq
        for s in (range(seq - 1, -1, -1) if reverse else range(seq)):
            z = xw[s] + ht @ Rt
            i, o, fg, c = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
            ct = f(fg) * ct + f(i) * g(c)
            ht = f(o) * h(ct)
            out[s] = ht
        ys.append(pyrch.stack(out, dim=0))
        hs.append(ht)
        cs.append(ct)
    return _rnn_out(ys, hs, cs, a)


@to("GRU")
def _gru(x, a):
    t, W, R, B, H, ndir, h0 = _rnn_common(x, a, 3)
    acts = [_ACT[s] for s in a.get("activations", ["Sigmoid", "Tanh"] * ndir)]
    lbr = a.get("linear_before_reset", 0)
    seq, batch = t.shape[0], t.shape[1]
    direction = a.get("direction", "forward")
    ys, hs = [], []
    for d in range(ndir):
        f, g = acts[2 * d: 2 * d + 2]
        reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
        xw = t @ W[d].t()
        wb = B[d][:3 * H] if B is not None else None
        rb = B[d][3 * H:] if B is not None else None
        if wb is not None:
            xw = xw + wb
        ht = h0[d] if h0 is not None else pyrch.zeros((batch, H), dtype=t.dtype, device=t.device)
        Rd = R[d]
        out = [None] * seq
        for s in (range(seq - 1, -1, -1) if reverse else range(seq)):
            xz, xr, xh = xw[s][:, :H], xw[s][:, H:2 * H], xw[s][:, 2 * H:]
            hz = ht @ Rd[:H].t()
            hr = ht @ Rd[H:2 * H].t()
            if rb is not None:
                hz, hr = hz + rb[:H], hr + rb[H:2 * H]
            z, r = f(xz + hz), f(xr + hr)
            if lbr:
                hh = ht @ Rd[2 * H:].t()
                if rb is not None:
                    hh = hh + rb[2 * H:]
                n = g(xh + r * hh)
            else:
                hh = (r * ht) @ Rd[2 * H:].t()
                if rb is not None:
                    hh = hh + rb[2 * H:]
                n = g(xh + hh)
            ht = (1 - z) * n + z * ht
            out[s] = ht
        ys.append(pyrch.stack(out, dim=0))
        hs.append(ht)
    return _rnn_out(ys, hs, None, a)
