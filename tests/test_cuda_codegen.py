"""CUDA code generation, checked without a GPU.

Every fusable registry op (and a few multi-op groups) is turned into kernel
source by pyrch.cuda.codegen and compiled with `nvcc --ptx` (one .cu file per
dtype, compiled in parallel), so a cexpr the GPU cannot take fails here. The
same device functions are also compiled for the host with g++ and run over
sample inputs against the op's numpy forward: that checks the typing rules
(promotion, float32 math, float16 rounding aside) numerically on the CPU.
"""
import ctypes
import os
import shutil
import subprocess

import numpy as np
import pytest

import pyrch
from pyrch._dispatch import dispatch
from pyrch._dtype import _NAMES
from pyrch.cuda import codegen
from pyrch.ops.registry import OPS, Meta, infer

NVCC = shutil.which("nvcc") or next((p for p in ("/usr/local/cuda/bin/nvcc",) if os.path.exists(p)), None)
GXX = shutil.which("g++")
ATTR_VALUES = {"eps": 1e-6}      # attributes whose default (None) has no C form
DOMAIN = {"acos": (-0.9, 0.9), "asin": (-0.9, 0.9), "atanh": (-0.9, 0.9), "acosh": (1.1, 3.0),
          "log": (0.1, 3.0), "log2": (0.1, 3.0), "log10": (0.1, 3.0), "sqrt": (0.1, 3.0),
          "rsqrt": (0.1, 3.0), "logit": (0.05, 0.95), "pow": (0.1, 2.0), "xlogy": (0.1, 3.0),
          "log1p": (-0.5, 3.0), "reciprocal": (0.5, 3.0), "div": (0.5, 3.0),
          "fmod": (0.5, 3.0), "remainder": (0.5, 3.0), "floor_divide": (0.5, 3.0)}


# eager's forward and its infer rule disagree on these (not a codegen matter):
# square(bool) returns int8 from numpy, infer says bool.
INFER_DISAGREES = {("square", "bool")}


def fusable_ops():
    return sorted(n for n, o in OPS.items() if o.cexpr and o.kind == "elementwise"
                  and not o.variadic and o.n_outputs == 1)


def _attrs(o):
    out = {}
    for a in o.attr_names:
        v = o.attrs.get(a)
        out[a] = ATTR_VALUES.get(a, v) if v is None else v
    return tuple(sorted(out.items()))


def single_op_spec(name, dtype):
    """A one-step fused body applying `name` to fresh inputs of `dtype` (where: bool cond)."""
    o = OPS[name]
    n = len(o.inputs)
    in_dtypes = ["bool" if (name == "where" and i == 0) else dtype for i in range(n)]
    attrs = _attrs(o)
    metas = [Meta((8,), _NAMES[d]) for d in in_dtypes]
    shape, out_dt = infer(o, metas, dict(attrs))
    body = ((name, tuple(("x", i) for i in range(n)), attrs, out_dt.name),)
    return codegen.fuse_spec(body, (0,), [((8,), d) for d in in_dtypes], (8,))


def group_specs():
    """Multi-op groups: chains, broadcasts, literals, mixed dtypes, masks, float16."""
    f, d = "float32", "float64"
    groups = [
        # gelu(x * w + b) with a broadcast bias
        ([("mul", (("x", 0), ("x", 1)), (), f), ("add", (("t", 0), ("x", 2)), (), f),
          ("gelu", (("t", 1),), (), f)], (2,), [((4, 8), f), ((4, 8), f), ((8,), f)]),
        # exp(x - m) / s, both reductions broadcast
        ([("sub", (("x", 0), ("x", 1)), (), f), ("exp", (("t", 0),), (), f),
          ("div", (("t", 1), ("x", 2)), (), f)], (1, 2), [((4, 8), f), ((4, 1), f), ((4, 1), f)]),
        # Adam: p - lr * m / (sqrt(v) + eps), lr a 0-dim float64 hyperparameter
        ([("sqrt", (("x", 2),), (), f), ("add", (("t", 0), ("lit", 1e-8)), (), f),
          ("div", (("x", 1), ("t", 1)), (), f), ("mul", (("t", 2), ("x", 3)), (), f),
          ("sub", (("x", 0), ("t", 3)), (), f)], (4,), [((4, 8), f)] * 3 + [((), d)]),
        # relu backward: where(x > 0, g, 0), a bool temporary
        ([("gt", (("x", 0), ("lit", 0)), (), "bool"), ("where", (("t", 0), ("x", 1), ("lit", 0.0)), (), f)],
         (0, 1), [((4, 8), f), ((4, 8), f)]),
        # float32 tensor * float64 tensor promotes to float64
        ([("mul", (("x", 0), ("x", 1)), (), d), ("tanh", (("t", 0),), (), d)], (1,),
         [((4, 8), f), ((4, 8), d)]),
        # integer arithmetic and comparisons stay integer
        ([("add", (("x", 0), ("lit", 3)), (), "int64"), ("mul", (("t", 0), ("x", 1)), (), "int64"),
          ("ge", (("t", 1), ("lit", 10)), (), "bool"), ("logical_not", (("t", 2),), (), "bool")],
         (1, 3), [((8,), "int64"), ((8,), "int64")]),
        # float16: computed in float, rounded at every stored step
        ([("mul", (("x", 0), ("lit", 0.5)), (), "float16"), ("sigmoid", (("t", 0),), (), "float16"),
          ("add", (("t", 1), ("x", 1)), (), "float32")], (2,), [((8,), "float16"), ((8,), f)]),
        # leaky_relu / hardtanh / softplus with attributes, inf literal
        ([("leaky_relu", (("x", 0),), (("negative_slope", 0.2),), f),
          ("hardtanh", (("t", 0),), (("max_val", 1.0), ("min_val", -1.0)), f),
          ("softplus", (("t", 1),), (("beta", 2.0), ("threshold", 20.0)), f),
          ("minimum", (("t", 2), ("lit", float("inf"))), (), f)], (3,), [((8,), f)]),
    ]
    return [(codegen.fuse_spec(body, outs, ins, np.broadcast_shapes(*[s for s, _ in ins])), body, ins)
            for body, outs, ins in groups]


def _eager_group(body, outs, xs):
    """The group run op by op through eager dispatch (the oracle)."""
    t = []
    for op_name, operands, battrs, _ in body:
        args = tuple(xs[i] if kind == "x" else t[i] if kind == "t" else i for kind, i in operands)
        t.append(dispatch(OPS[op_name], args, dict(battrs) or None))
    return [t[k].numpy() for k in outs]


def _sources():
    """{file stem: CUDA source} -- one file per dtype plus one for the groups."""
    files = {}
    for dt in ("float32", "float64"):
        parts, seen = [codegen.PRELUDE], set()
        for name in fusable_ops():
            try:
                spec = single_op_spec(name, dt)
            except (codegen.Unsupported, NotImplementedError):   # (the op rejects the dtype)
                continue
            if spec.name not in seen:
                seen.add(spec.name)
                parts.append(codegen.global_source(spec))
        files[dt] = "".join(parts)
    parts, seen = [codegen.PRELUDE], set()
    for name in fusable_ops():
        for dt in ("int64", "bool"):
            try:
                spec = single_op_spec(name, dt)
            except (codegen.Unsupported, NotImplementedError):   # (the op rejects the dtype)
                continue
            if spec.name not in seen:
                seen.add(spec.name)
                parts.append(codegen.global_source(spec))
    for spec, _, _ in group_specs():
        parts.append(codegen.global_source(spec))
    g = group_specs()[0][0]
    for op_name, dt in (("sum", "float32"), ("mean", "float32"), ("amax", "float32")):
        parts.append(codegen.global_reduce_source(g, op_name, dt, 8, include_map=op_name == "sum"))
    files["mixed"] = "".join(parts)
    return files


def test_every_fusable_op_has_a_cuda_form():
    missing = []
    for name in fusable_ops():
        ok = False
        for dt in ("float32", "float64", "int64", "bool"):
            try:
                single_op_spec(name, dt)
                ok = True
            except codegen.Unsupported:
                pass
            except NotImplementedError:
                pass            # the op itself rejects this dtype (logaddexp of int64, as torch)
        if not ok:
            missing.append(name)
    assert not missing, f"ops with a cexpr but no CUDA form: {missing}"


def test_float32_uses_float_math_and_literals():
    spec = single_op_spec("gelu", "float32")
    assert "erff(" in spec.source and "0.5f" in spec.source and "erf(" not in spec.source.replace("erff(", "")
    spec64 = single_op_spec("gelu", "float64")
    assert "erf(" in spec64.source and "erff(" not in spec64.source


def test_unsupported_is_reported():
    with pytest.raises(codegen.Unsupported):
        single_op_spec("bitwise_and", "float32")
    with pytest.raises(codegen.Unsupported):
        single_op_spec("exp", "int64") if OPS["exp"].dtype != "float" else single_op_spec("fmod", "int64")


def test_kernel_names_are_content_hashes():
    a, b = single_op_spec("exp", "float32"), single_op_spec("exp", "float32")
    assert a.name == b.name and a.source == b.source
    assert single_op_spec("exp", "float64").name != a.name


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
def test_nvcc_compiles_every_generated_kernel(tmp_path):
    procs = {}
    for stem, src in _sources().items():
        cu = tmp_path / f"{stem}.cu"
        cu.write_text(src)
        procs[stem] = subprocess.Popen([NVCC, "--ptx", "-Xcicc", "-O0", "-o", str(tmp_path / f"{stem}.ptx"), str(cu)],
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    errors = {}
    for stem, p in procs.items():
        out, _ = p.communicate(timeout=300)
        if p.returncode != 0:
            errors[stem] = out[-4000:]
    assert not errors, "nvcc rejected generated CUDA:\n" + "\n".join(f"[{k}]\n{v}" for k, v in errors.items())
    ptx = (tmp_path / "float32.ptx").read_text()
    assert ptx.count(".entry") >= 50


# -- host run: the same device functions compiled by g++ and compared with numpy ----------
HOST_PRELUDE = """#include <math.h>
#include <string.h>
#define __device__
#define __forceinline__ inline
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline double __longlong_as_double(long long i) { double d; memcpy(&d, &i, 8); return d; }
"""


def _host_loop(spec):
    from pyrch.cuda.codegen import CTYPE
    params = [f"const {CTYPE[d]} *x{i}" for i, d in enumerate(spec.in_dtypes)] + \
             [f"{CTYPE[d]} *y{j}" for j, d in enumerate(spec.out_dtypes)] + ["long long n"]
    args = [f"x{i}[i]" for i in range(len(spec.in_dtypes))] + [f"y{j}[i]" for j in range(len(spec.out_dtypes))]
    return (spec.source + f'extern "C" void {spec.name}_host({", ".join(params)}) {{\n'
            f"  for (long long i = 0; i < n; ++i) {spec.name}({', '.join(args)});\n}}\n")


def _sample(name, dt, n, rng):
    lo, hi = DOMAIN.get(name, (-2.0, 2.0))
    if dt == "bool":
        return rng.random(n) < 0.5
    if dt == "int64":
        return rng.integers(1 if name in DOMAIN else -5, 6, n).astype(np.int64)
    return rng.uniform(lo, hi, n).astype(dt)


@pytest.mark.skipif(GXX is None, reason="g++ is not installed")
def test_generated_code_matches_numpy_forward_on_host(tmp_path):
    rng = np.random.default_rng(0)
    n = 64
    cases = []
    for name in fusable_ops():
        for dt in ("float32", "float64", "int64", "bool"):
            try:
                spec = single_op_spec(name, dt)
            except (codegen.Unsupported, NotImplementedError):   # (the op rejects the dtype)
                continue
            cases.append((name, dt, spec))
    groups = [(spec, body, ins) for spec, body, ins in group_specs() if "float16" not in spec.source]
    src = HOST_PRELUDE + "".join(_host_loop(s) for _, _, s in {c[2].name: c for c in cases}.values()) \
        + "".join(_host_loop(g[0]) for g in groups)
    cpp = tmp_path / "host.cpp"
    cpp.write_text(src)
    lib_path = tmp_path / "host.so"
    r = subprocess.run([GXX, "-O0", "-shared", "-fPIC", "-x", "c++", "-o", str(lib_path), str(cpp)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    lib = ctypes.CDLL(str(lib_path))
    bad = []
    for name, dt, spec in cases:
        o = OPS[name]
        xs = [np.ascontiguousarray(_sample(name, d, n, rng)) for d in spec.in_dtypes]
        ys = [np.zeros(n, dtype=d) for d in spec.out_dtypes]
        fn = getattr(lib, spec.name + "_host")
        fn(*[ctypes.c_void_p(a.ctypes.data) for a in xs + ys], ctypes.c_longlong(n))
        attrs = dict(_attrs(o))
        try:     # the oracle is eager dispatch (it casts inputs as torch does)
            want = dispatch(o, tuple(pyrch.from_numpy(x) for x in xs), attrs or None).numpy()
        except (TypeError, ValueError, RuntimeError):
            continue        # eager refuses this dtype too (bool - bool)
        if (name, dt) in INFER_DISAGREES:
            continue
        got = ys[0]
        if want.dtype != got.dtype:
            bad.append(f"{name}/{dt}: dtype {got.dtype} vs numpy {want.dtype}")
            continue
        rtol = 2e-5 if got.dtype == np.float32 else 1e-12
        if got.dtype.kind == "f":
            ok = np.allclose(got, want, rtol=rtol, atol=rtol, equal_nan=True)
        else:
            ok = np.array_equal(got, want)
        if not ok:
            i = int(np.argmax(~np.isclose(got, want, rtol=rtol, atol=rtol, equal_nan=True)))
            bad.append(f"{name}/{dt}: at {[x[i] for x in xs]} got {got[i]!r}, numpy {want[i]!r}")
    assert not bad, "\n".join(bad)

    for spec, body, ins in groups:
        shape = np.broadcast_shapes(*[sh for sh, _ in ins])
        xs = [rng.uniform(0.1, 2.0, sh).astype(d) if d != "int64" else rng.integers(-3, 5, sh)
              for sh, d in ins]
        full = [np.ascontiguousarray(np.broadcast_to(x, shape)) for x in xs]
        ys = [np.zeros(shape, dtype=d) for d in spec.out_dtypes]
        getattr(lib, spec.name + "_host")(*[ctypes.c_void_p(a.ctypes.data) for a in full + ys],
                                          ctypes.c_longlong(int(np.prod(shape))))
        want = _eager_group(body, spec.outs, [pyrch.from_numpy(np.asarray(x)) for x in xs])
        for got, w in zip(ys, want):
            assert got.dtype == w.dtype, (spec.text, got.dtype, w.dtype)
            np.testing.assert_allclose(got, w, rtol=2e-6 if got.dtype == np.float32 else 1e-12,
                                       err_msg=spec.text)


# -- the CUDA executor end to end on the host: a numpy "cupy" whose kernels are g++-built -----
class _HostKernels:
    """cupy.ElementwiseKernel / ReductionKernel look-alikes that compile their CUDA source
    for the host (g++) and run it over numpy arrays: same source, same parameter text."""

    def __init__(self, tmp):
        self.tmp, self.n = tmp, 0

    def _build(self, src, fn):
        self.n += 1
        path = self.tmp / f"k{self.n}"
        (path.with_suffix(".cpp")).write_text(HOST_PRELUDE + src)
        r = subprocess.run([GXX, "-O0", "-shared", "-fPIC", "-x", "c++", "-o", str(path.with_suffix(".so")),
                            str(path.with_suffix(".cpp"))], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]
        return getattr(ctypes.CDLL(str(path.with_suffix(".so"))), fn)

    @staticmethod
    def _params(text):
        from pyrch.cuda.codegen import CTYPE
        return [(np.dtype(t), CTYPE[t], n) for t, n in (p.split() for p in text.split(","))]

    def ElementwiseKernel(self, in_params, out_params, operation, name, preamble=""):
        ins, outs = self._params(in_params), self._params(out_params)
        args = [f"const {c} *_{n}" for _, c, n in ins] + [f"{c} *_{n}" for _, c, n in outs]
        body = "".join(f"const {c} {n} = _{n}[i]; " for _, c, n in ins) + \
               "".join(f"{c} &{n} = _{n}[i]; " for _, c, n in outs)
        fn = self._build(preamble + f'extern "C" void run({", ".join(args)}, long long n) {{\n'
                         f"  for (long long i = 0; i < n; ++i) {{ {body}{operation} }}\n}}\n", "run")

        def call(*arrays):
            xs, ys = arrays[:len(ins)], arrays[len(ins):]
            shape = ys[0].shape
            full = [np.ascontiguousarray(np.broadcast_to(np.asarray(x, dt), shape)) for x, (dt, _, _) in zip(xs, ins)]
            tmp = [np.empty(shape, dt) for dt, _, _ in outs]
            fn(*[ctypes.c_void_p(a.ctypes.data) for a in full + tmp], ctypes.c_longlong(int(np.prod(shape))))
            for y, t in zip(ys, tmp):
                y[...] = t
        return call

    def ReductionKernel(self, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity,
                        name, reduce_type, preamble=""):
        ins, outs = self._params(in_params), self._params(out_params)
        (odt, oc, on), = outs
        acc = reduce_type
        args = [f"const {c} *_{n}" for _, c, n in ins]
        body = "".join(f"const {c} {n} = _{n}[i]; " for _, c, n in ins)
        src = (preamble +
               f'extern "C" void map({", ".join(args)}, {acc} *m, long long n) {{\n'
               f"  for (long long i = 0; i < n; ++i) {{ {body} m[i] = ({acc})({map_expr}); }}\n}}\n"
               f'extern "C" void red(const {acc} *m, {oc} *_z, long long rows, long long cols) {{\n'
               f"  for (long long r = 0; r < rows; ++r) {{ {acc} a = {identity};\n"
               f"    for (long long j = 0; j < cols; ++j) {{ {acc} b = m[r * cols + j]; a = {reduce_expr}; }}\n"
               f"    {oc} &{on} = _z[r]; {post_map_expr}; }}\n}}\n")
        self._build(src, "map")
        lib = ctypes.CDLL(str(self.tmp / f"k{self.n}.so"))
        acc_np = np.dtype({"float": "float32", "double": "float64", "long long": "int64"}[acc])

        def call(*xs, axis, keepdims):
            shape = np.broadcast_shapes(*[np.shape(x) for x in xs])
            full = [np.ascontiguousarray(np.broadcast_to(np.asarray(x, dt), shape)) for x, (dt, _, _) in zip(xs, ins)]
            m = np.empty(shape, acc_np)
            lib.map(*[ctypes.c_void_p(a.ctypes.data) for a in full + [m]], ctypes.c_longlong(m.size))
            keep = [d for d in range(len(shape)) if d not in axis]
            mt = np.ascontiguousarray(np.transpose(m, keep + list(axis)))
            rows = int(np.prod([shape[d] for d in keep]))
            z = np.empty(rows, odt)
            lib.red(ctypes.c_void_p(mt.ctypes.data), ctypes.c_void_p(z.ctypes.data),
                    ctypes.c_longlong(rows), ctypes.c_longlong(max(mt.size // max(rows, 1), 0)))
            return z.reshape([1 if d in axis else shape[d] for d in range(len(shape))])
        return call


class _FakeCupy:
    """numpy under cupy's name, with the host-compiled kernel classes above."""

    def __init__(self, tmp):
        self._k = _HostKernels(tmp)
        self.ndarray = np.ndarray
        self.ElementwiseKernel = self._k.ElementwiseKernel
        self.ReductionKernel = self._k.ReductionKernel

    def __getattr__(self, name):
        return getattr(np, name)


@pytest.mark.skipif(GXX is None, reason="g++ is not installed")
def test_cuda_executor_runs_generated_kernels_on_host(tmp_path, monkeypatch):
    import pyrch._backend as backend
    from pyrch.jit import cuda_executor
    from pyrch.jit.passes import compile_graph
    fake = _FakeCupy(tmp_path)
    monkeypatch.setattr(backend, "cupy", lambda: fake)
    monkeypatch.setattr(cuda_executor, "_KERNELS", {})
    F = pyrch.nn.functional

    def model(x, w, b, y):
        h = F.gelu(x @ w + b)
        loss = ((h - y) * (h - y)).mean()
        return h.tanh() * 0.5, loss, (h > 0).sum(1)
    rng = np.random.default_rng(0)
    args = [pyrch.tensor(rng.standard_normal(s).astype(np.float32)) for s in ((4, 8), (8, 6), (6,), (4, 6))]
    f = pyrch.jit.trace(model)
    for _ in range(2):
        f(*args)
    plan = compile_graph(f.graph_for(*args, optimized=False))
    ex = cuda_executor.CudaExecutor(plan)
    assert ex.stats["fused_kernels"] >= 1 and ex.stats["fused_reductions"] >= 1, ex.stats
    want = model(*args)
    for _ in range(2):         # the second replay reuses the planned buffers
        slots = [None] * plan.n_slots
        for s, t in zip(plan.inputs, args):
            slots[s] = t._data
        ex.run(slots)
        got = [slots[k] for _, k in plan.outputs]
        for g, w in zip(got, want):
            assert g.dtype == w._data.dtype
            np.testing.assert_allclose(g, w.numpy(), rtol=1e-5, atol=1e-6)
