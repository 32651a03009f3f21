"""Fused group -> CUDA source, built from the same `cexpr` strings the C VM uses.

A fused node's body (see `jit.passes.fuse_elementwise`) is a list of steps
`(op, operands, attrs, dtype name)` whose operands are `("x", i)` group
inputs, `("t", k)` earlier steps or `("lit", value)` Python numbers. Each step
becomes one line of a `__device__` function:

    __device__ __forceinline__ void pyrch_fused_1a2b(const float x0, float &y0) {
      const float t0 = (float)(expf(((float)x0)));
      y0 = (float)t0;
    }

Typing follows eager dispatch exactly: a step computes in its operands'
promoted dtype (torch's rules, scalars weak), float16 computes in float and
rounds each stored value back to float16, every step's result is stored in
its recorded dtype. Float32 steps call CUDA's float math (`expf`, `tanhf`,
`erff`) and get `f`-suffixed literals, so float32 never silently runs in
double. A step the GPU cannot express (a libm call on integers, bitwise ops
on floats, a non-numeric attribute) raises `Unsupported`; the executor then
runs that group op by op through cupy.

The same function is wrapped three ways: a `cupy.ElementwiseKernel`
(broadcasting, strides), a `cupy.ReductionKernel` map expression when a sum,
mean or amax consumes the group, and a plain `__global__` over contiguous
arrays (what `tests/test_cuda_codegen.py` compiles with nvcc on machines
without a GPU).

>>> spec = fuse_spec([("exp", (("x", 0),), (), "float32")], (0,), [((4,), "float32")], (4,))
>>> "expf(" in spec.source
True
"""
import hashlib
import math
import re
from types import SimpleNamespace

import numpy as np

from .._dtype import _NAMES, float16, float32
from ..ops.registry import OPS, Meta, _meta_dtype

CTYPE = {"bool": "bool", "uint8": "unsigned char", "int8": "signed char", "int16": "short",
         "int32": "int", "int64": "long long", "float16": "float16", "float32": "float",
         "float64": "double"}
_MATH = frozenset((
    "exp", "log", "tanh", "erf", "erfc", "sqrt", "fabs", "floor", "ceil", "fmod", "pow",
    "copysign", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "asinh",
    "acosh", "atanh", "log1p", "expm1", "log2", "log10", "exp2", "round", "trunc", "rint",
    "nearbyint", "fmin", "fmax", "hypot", "cbrt", "remainder", "lgamma", "tgamma", "erfinv"))
_IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_CALL = re.compile(r"([A-Za-z_][A-Za-z_0-9]*)\s*\(")
_NUMBER = re.compile(r"(?<![A-Za-z_0-9.])(\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+)"
                     r"(?![A-Za-z_0-9.])")
_BITWISE = re.compile(r"(?<![&|])[&|^](?![&|=])")
_LETTERS = "abc"


# CUDA's math library has erfinv/erfinvf, C and C++ libraries do not. A source calling them
# carries this definition for a compiler that is not CUDA's (the codegen tests build these
# device functions with g++): Newton steps on libm's erf/erfc from Winitzki's closed-form
# start (within 0.2%), converged to double precision; nvcc and NVRTC skip it.
HOST_ERFINV = """#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__) && !defined(PYRCH_HOST_ERFINV)
#define PYRCH_HOST_ERFINV
static inline double erfinv(double x) {
  double a = fabs(x);
  if (!(a < 1.0)) return a == 1.0 ? copysign(INFINITY, x) : NAN;
  double l = log((1.0 - a) * (1.0 + a)), t = 4.330746750799873 + 0.5 * l;  /* 2/(pi*0.147) */
  double y = sqrt(sqrt(t * t - l / 0.147) - t);
  for (int k = 0; k < 6; ++k)   /* erf(y) - a, written with erfc where a is near 1 */
    y -= (a < 0.5 ? erf(y) - a : (1.0 - a) - erfc(y)) / (1.1283791670955126 * exp(-y * y));
  return copysign(y, x);
}
static inline float erfinvf(float x) { return (float)erfinv((double)x); }
#endif
"""
_ERFINV_CALL = re.compile(r"\berfinvf?\(")


class Unsupported(ValueError):
    """A fused step has no CUDA form (the executor runs the group op by op instead)."""


def _is_float(dtname):
    return dtname in ("float16", "float32", "float64")


def literal(value, ctype):
    """A C literal of `value` typed for `ctype` (inf/nan spelled with bit casts)."""
    if ctype == "bool":
        return "true" if value else "false"
    if ctype in ("float", "double"):
        v = float(value)
        single = ctype == "float"
        if math.isnan(v):
            return "__int_as_float(0x7fffffff)" if single else "__longlong_as_double(0x7ff8000000000000LL)"
        if math.isinf(v):
            bits = ("0x7f800000" if v > 0 else "0xff800000") if single else \
                ("0x7ff0000000000000LL" if v > 0 else "0xfff0000000000000LL")
            return f"__int_as_float({bits})" if single else f"__longlong_as_double({bits})"
        text = repr(v)
        if "e" not in text and "." not in text:
            text += ".0"
        return f"({text}f)" if single else f"({text})"
    if isinstance(value, float) and not float(value).is_integer():
        raise Unsupported(f"a non-integral literal {value!r} in an integer kernel")
    return f"({int(value)}LL)" if ctype == "long long" else f"(({ctype}){int(value)})"


def op_expr(op_name, args, attrs, compute):
    """One op's cexpr as CUDA for compute dtype `compute` (a dtype name).

    `args` are C expressions for the inputs (letters a, b, c by position);
    attributes named in the cexpr become typed literals.
    """
    o = OPS.get(op_name)
    if o is None or not o.cexpr or o.kind != "elementwise" or o.n_outputs != 1:
        raise Unsupported(f"op {op_name!r} has no C expression")
    expr = o.cexpr
    ctype = "float" if compute in ("float16", "float32") else CTYPE[compute]
    calls = set(_CALL.findall(expr))
    unknown = calls - _MATH
    if unknown:
        raise Unsupported(f"{op_name}: no CUDA form for {sorted(unknown)}")
    if calls and not _is_float(compute):
        raise Unsupported(f"{op_name}: libm calls on {compute} operands")
    if _BITWISE.search(expr) and _is_float(compute):
        raise Unsupported(f"{op_name}: bitwise operators on {compute}")
    sub = {}
    for i, x in enumerate(args):
        sub[_LETTERS[i]] = f"({x})"
    for name in o.attr_names:
        if name in set(_IDENT.findall(expr)):
            v = attrs.get(name, o.attrs.get(name))
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)):
                raise Unsupported(f"{op_name}: attribute {name}={v!r} is not a number")
            sub[name] = literal(v, ctype)
    if _is_float(compute):
        # numbers first (they are not identifiers), then names: typed literals keep float32
        # arithmetic in float32 and make math calls unambiguous (pow(10, 2) has no overload)
        expr = _NUMBER.sub(lambda m: literal(float(m.group(1)), ctype), expr)
    single = ctype == "float"

    def name(m):
        w = m.group(0)
        if w in sub:
            return sub[w]
        if w in _MATH and single:
            return w + "f"
        return w
    return _IDENT.sub(name, expr)


def _step_compute(o, metas, out_dtype):
    """The dtype a step computes in: dispatch's promotion (or its output dtype)."""
    if o.dtype in ("promote", "bool"):
        ct = _meta_dtype(SimpleNamespace(dtype="promote", promote_positions=o.promote_positions),
                         metas)
    else:
        ct = out_dtype
    return float32 if ct is float16 else ct


class FusedSpec:
    """The generated function for one fused group and how to call it."""
    __slots__ = ("name", "source", "in_dtypes", "out_dtypes", "outs", "text")

    def __init__(self, name, source, in_dtypes, out_dtypes, outs, text):
        self.name, self.source, self.text = name, source, text
        self.in_dtypes, self.out_dtypes, self.outs = in_dtypes, out_dtypes, outs

    def in_params(self):
        return ", ".join(f"{d} x{i}" for i, d in enumerate(self.in_dtypes))

    def out_params(self):
        return ", ".join(f"{d} y{k}" for k, d in enumerate(self.out_dtypes))

    def call(self):
        names = [f"x{i}" for i in range(len(self.in_dtypes))] + \
                [f"y{k}" for k in range(len(self.out_dtypes))]
        return f"{self.name}({', '.join(names)})"


def _load(x, from_dtype, compute):
    """Read an operand in the compute type (float16 values widen through float)."""
    ct = "float" if compute in ("float16", "float32") else CTYPE[compute]
    if from_dtype == "float16" and ct != "float":
        return f"(({ct})(float)({x}))"
    return f"(({ct})({x}))"


def fuse_spec(body, outs, inputs, shape):
    """Generate the device function for a fused body.

    `inputs` are (shape, dtype name) per group input, `shape` the group's
    output shape. Raises Unsupported when a step has no CUDA form.
    """
    in_dtypes = [dt for _, dt in inputs]
    lines, step_dtypes = [], []
    for k, (op_name, operands, battrs, dt) in enumerate(body):
        o = OPS.get(op_name)
        if o is None:
            raise Unsupported(f"op {op_name!r} is not in the registry")
        metas, refs, srcs = [], [], []
        for kind, i in operands:
            if kind == "x":
                metas.append(Meta(inputs[i][0], _NAMES[inputs[i][1]]))
                refs.append(f"x{i}")
                srcs.append(inputs[i][1])
            elif kind == "t":
                metas.append(Meta(shape, _NAMES[step_dtypes[i]]))
                refs.append(f"t{i}")
                srcs.append(step_dtypes[i])
            else:
                if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, float, np.number)):
                    raise Unsupported(f"{op_name}: literal operand {i!r}")
                metas.append(i.item() if isinstance(i, np.generic) else i)
                refs.append(None)
                srcs.append(None)
        compute = _step_compute(o, metas, _NAMES[dt]).name
        cty = "float" if compute in ("float16", "float32") else CTYPE[compute]
        pos = o.promote_positions
        args = []
        for j, (ref, src) in enumerate(zip(refs, srcs)):
            if ref is None:
                lit = metas[j]
                if pos is not None and j not in pos:
                    args.append(literal(lit, "double" if isinstance(lit, float) else "long long"))
                else:
                    args.append(literal(lit, cty))
            elif pos is not None and j not in pos:
                args.append(ref if src != "float16" else f"((float)({ref}))")
            else:
                args.append(_load(ref, src, compute))
        expr = op_expr(op_name, args, dict(battrs), compute)
        store = CTYPE[dt]
        if dt == "float16":
            lines.append(f"  const float16 t{k} = float16((float)({expr}));")
        else:
            lines.append(f"  const {store} t{k} = ({store})({expr});")
        step_dtypes.append(dt)
    out_dtypes = [body[k][3] for k in outs]
    params = [f"const {CTYPE[d]} x{i}" for i, d in enumerate(in_dtypes)] + \
             [f"{CTYPE[d]} &y{j}" for j, d in enumerate(out_dtypes)]
    text = "\n".join(lines) + "\n" + "\n".join(f"  y{j} = t{k};" for j, k in enumerate(outs))
    digest = hashlib.sha1((",".join(params) + text).encode()).hexdigest()[:12]
    name = f"pyrch_fused_{digest}"
    source = (HOST_ERFINV if _ERFINV_CALL.search(text) else "") + \
        (f"__device__ __forceinline__ void {name}({', '.join(params)}) {{\n"
         f"{text}\n}}\n")
    return FusedSpec(name, source, in_dtypes, out_dtypes, tuple(outs), text)


# -- reductions --------------------------------------------------------------------------
REDUCE_OPS = ("sum", "mean", "amax", "sum_to")


def reduce_parts(op_name, dtype, count):
    """(reduce_expr, identity, post_map_expr, accumulator C type) for a ReductionKernel.

    Sums accumulate in float for float16/float32 and in double for float64,
    as eager does; amax propagates NaN like torch.
    """
    acc = "double" if dtype == "float64" else "float" if _is_float(dtype) else "long long"
    store = CTYPE[dtype]
    if op_name in ("sum", "sum_to", "mean"):
        post = f"z = ({store})(a / {literal(count, acc)})" if op_name == "mean" else f"z = ({store})(a)"
        return "a + b", "0", post, acc
    if op_name == "amax":
        if not _is_float(dtype):
            raise Unsupported("amax on integers runs through cupy")
        ident = literal(-math.inf, acc)
        return "(a != a || a > b) ? a : b", ident, f"z = ({store})(a)", acc
    raise Unsupported(f"no fused reduction for {op_name!r}")


def reduce_source(spec, out_index, acc):
    """A map function returning fused output `out_index` in the accumulator type."""
    params = [f"const {CTYPE[d]} x{i}" for i, d in enumerate(spec.in_dtypes)]
    outs = [f"y{j}" for j in range(len(spec.out_dtypes))]
    decl = "".join(f"  {CTYPE[d]} y{j};\n" for j, d in enumerate(spec.out_dtypes))
    args = ", ".join([f"x{i}" for i in range(len(spec.in_dtypes))] + outs)
    return (f"__device__ __forceinline__ {acc} {spec.name}_map({', '.join(params)}) {{\n"
            f"{decl}  {spec.name}({args});\n  return ({acc})y{out_index};\n}}\n")


# -- standalone kernels (contiguous operands; nvcc-compilable without cupy) ----------------
PRELUDE = """#include <cuda_fp16.h>
typedef __half float16;
"""


def global_source(spec):
    """A complete `extern "C" __global__` kernel over n contiguous elements per operand."""
    params = [f"const {CTYPE[d]} *__restrict__ x{i}" for i, d in enumerate(spec.in_dtypes)] + \
             [f"{CTYPE[d]} *__restrict__ y{j}" for j, d in enumerate(spec.out_dtypes)] + \
             ["const long long n"]
    args = [f"x{i}[i]" for i in range(len(spec.in_dtypes))] + \
           [f"y{j}[i]" for j in range(len(spec.out_dtypes))]
    return (spec.source +
            f'extern "C" __global__ void {spec.name}_kernel({", ".join(params)}) {{\n'
            "  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;\n"
            "       i += (long long)gridDim.x * blockDim.x)\n"
            f"    {spec.name}({', '.join(args)});\n}}\n")


def global_reduce_source(spec, op_name, dtype, count, include_map=True):
    """A one-thread-per-output reduction kernel over rows of length `count` (for nvcc tests)."""
    red, ident, post, acc = reduce_parts(op_name, dtype, count)
    params = [f"const {CTYPE[d]} *__restrict__ x{i}" for i, d in enumerate(spec.in_dtypes)] + \
             [f"{CTYPE[dtype]} *__restrict__ out", "const long long rows"]
    args = ", ".join(f"x{i}[r * {count}LL + j]" for i in range(len(spec.in_dtypes)))
    return ((reduce_source(spec, 0, acc) if include_map else "") +
            f'extern "C" __global__ void {spec.name}_{op_name}({", ".join(params)}) {{\n'
            "  long long r = blockIdx.x * (long long)blockDim.x + threadIdx.x;\n"
            "  if (r >= rows) return;\n"
            f"  {acc} a = {ident};\n"
            f"  for (long long j = 0; j < {count}LL; ++j) {{\n"
            f"    {acc} b = {spec.name}_map({args});\n"
            f"    a = {red};\n  }}\n"
            f"  {CTYPE[dtype]} z;\n  {post};\n  out[r] = z;\n}}\n")
