"""erfinv in fused code: the C VM's float32 and float64 erfinv (pyrch/_C/vmath.h) against
scipy on dense grids, the tails and special values; traced graphs that fuse erfinv with its
neighbours and run it in C; its CUDA form (erfinvf / erfinv), checked with nvcc and on the
host through the fallback the generated source carries for non-CUDA compilers."""
import ctypes
import shutil
import subprocess

import numpy as np
import pytest

import pyrch
import pyrch._C as C
from pyrch import jit
from pyrch._C import fused
from pyrch.cuda import codegen
from pyrch.jit import native

sp = pytest.importorskip("scipy.special")
needs_c = pytest.mark.skipif(not C.available or C.stale(), reason="pyrch/_C is not built")
NVCC = shutil.which("nvcc")
GXX = shutil.which("g++")


def vm_erfinv(x):
    """erfinv through a one-instruction program of the C VM, in x's dtype."""
    x = np.ascontiguousarray(x)
    kernel = fused.compile_group(1, [("erfinv", (0,), {})], [1], x.dtype)
    y = np.empty_like(x)
    kernel([x], [y])
    return y


def f32_grid():
    """Non-negative float32 points: a uniform grid, every 37th float in [0.5, 1), the last
    16384 floats below 1 (the tail, down to 1 - 2**-24), powers of ten down to subnormals."""
    below_one = np.arange(0x3F800000 - (1 << 14), 0x3F800000, dtype=np.uint32).view(np.float32)
    half_up = np.arange(0x3F000000, 0x3F800000, 37, dtype=np.uint32).view(np.float32)
    tiny = (10.0 ** -np.linspace(1, 44, 300)).astype(np.float32)
    x = np.concatenate([np.linspace(0, 1, 200001, dtype=np.float32)[:-1], half_up, below_one, tiny,
                        np.float32([1 - 1e-7, 1 - 2 ** -24, 0.5, 0.9908, 2 ** -149])])
    assert x.max() < 1 and np.float32(1 - 2 ** -24) in x
    return x


def f64_grid():
    """Non-negative float64 points: a uniform grid, 1 - 10**-k down to 1 - 1e-15.5, the last
    4999 doubles below 1, powers of ten down to the smallest subnormal."""
    x = np.concatenate([np.linspace(0, 1, 400001)[:-1], 1 - np.logspace(-1, -15.5, 20000),
                        1 - np.arange(1, 5000) * 2.0 ** -53, 10.0 ** -np.linspace(0.01, 300, 3000),
                        [1 - 1e-15, 1 - 2 ** -53, 0.5, 5e-324]])
    assert x.max() < 1 and 1 - 2 ** -53 in x
    return x


@needs_c
def test_erfinv_is_in_the_compiled_opcode_table():
    assert fused.fusable("erfinv")
    assert "erfinv" in fused.opcode_table()


@needs_c
def test_float32_within_3_ulp_of_scipy_on_a_dense_grid_and_the_tails():
    x = f32_grid()
    for sign in (1, -1):
        got = vm_erfinv(sign * x).astype(np.float64)
        want = sp.erfinv(sign * x.astype(np.float64))      # float64 reference
        ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
        err = np.abs(got - want) / ulp
        i = int(np.argmax(err))
        assert err[i] <= 3, f"erfinv({sign * x[i]!r}) = {got[i]!r}, scipy {want[i]!r}: {err[i]:.2f} ulp"
    assert np.median(err) < 0.5


@needs_c
def test_float64_within_1e_15_of_scipy_on_a_dense_grid_and_the_tails():
    x = f64_grid()
    for sign in (1, -1):
        got, want = vm_erfinv(sign * x), sp.erfinv(sign * x)
        nz = want != 0
        rel = np.abs(got[nz] - want[nz]) / np.abs(want[nz])
        i = int(np.argmax(rel))
        assert rel[i] <= 1e-15, f"erfinv({sign * x[nz][i]!r}) = {got[nz][i]!r}, scipy {want[nz][i]!r}"
        assert np.array_equal(got[~nz], want[~nz])
    # the deep tail in numbers: erfinv(1 - 2**-53) = 5.863584748755167
    assert abs(vm_erfinv(np.array([1 - 2 ** -53]))[0] - 5.863584748755167) < 1e-14


@needs_c
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values(dtype):
    eps = np.finfo(dtype).eps
    x = np.array([0.0, -0.0, 1.0, -1.0, 1 + eps, -1 - eps, 2.0, -3.5, np.inf, -np.inf, np.nan, 1e30],
                 dtype)
    y = vm_erfinv(x)
    assert y[0] == 0 and not np.signbit(y[0]) and y[1] == 0 and np.signbit(y[1])
    assert y[2] == np.inf and y[3] == -np.inf
    assert np.isnan(y[4:]).all()
    np.testing.assert_array_equal(y, sp.erfinv(x))           # scipy agrees, NaN for NaN


@needs_c
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_odd_symmetry_is_exact(dtype):
    x = (f32_grid() if dtype == np.float32 else f64_grid()).astype(dtype)
    np.testing.assert_array_equal(vm_erfinv(-x), -vm_erfinv(x))


def _model(x, y):
    return (pyrch.erfinv(x * 0.5 - y) * 2.0 + y).tanh()


def _inputs(dtype):
    rng = np.random.default_rng(0)
    x = rng.uniform(-2.2, 2.2, (64, 33))
    x[0, :4] = [2.0, -2.0, 0.0, 1.9999999]                  # erfinv(+-1) = +-inf, tanh -> +-1
    y = np.zeros(33)
    y[4:] = rng.uniform(-0.1, 0.1, 29)
    return pyrch.tensor(x.astype(dtype)), pyrch.tensor(y.astype(dtype))


def _fused_bodies(graph):
    return [[op for op, *_ in n.attr_dict()["body"]] for n in graph.nodes if n.op == "fused"]


@needs_c
def test_traced_float32_graph_fuses_erfinv_between_other_ops_and_runs_it_in_c(monkeypatch):
    ran = []

    def spy(st, *args, **kwargs):
        step = real(st, *args, **kwargs)
        ran.append(([op for op, *_ in st.attrs["body"]], step is not None))
        return step
    real = native.compile_fused
    monkeypatch.setattr(native, "compile_fused", spy)
    x, y = _inputs(np.float32)
    f = jit.trace(_model)
    for _ in range(3):
        got = f(x, y)
    ops = ["mul", "sub", "erfinv", "mul", "add", "tanh"]
    assert _fused_bodies(f.graph_for(x, y)) == [ops]
    assert [n.op for n in f.graph_for(x, y).nodes] == ["fused"]
    assert (ops, True) in ran                               # the C VM took the group
    want = _model(x, y).numpy()
    assert np.isinf(pyrch.erfinv(x * 0.5 - y).numpy()[0, :2]).all()
    np.testing.assert_allclose(got.numpy(), want, rtol=2e-6, atol=2e-6)
    assert np.array_equal(np.isnan(got.numpy()), np.isnan(want)) and np.isnan(want).any()


@needs_c
def test_traced_float64_graph_fuses_erfinv_and_equals_eager_bitwise():
    # float64 groups with transcendentals run on the reference (numpy) path: bit-exact
    x, y = _inputs(np.float64)
    f = jit.trace(_model)
    for _ in range(3):
        got = f(x, y)
    assert _fused_bodies(f.graph_for(x, y)) == [["mul", "sub", "erfinv", "mul", "add", "tanh"]]
    np.testing.assert_array_equal(got.numpy(), _model(x, y).numpy())


@needs_c
def test_traced_erfinv_gradient_matches_eager():
    rng = np.random.default_rng(1)
    data = rng.uniform(-0.95, 0.95, (16, 8)).astype(np.float32)

    def f(x):
        return (pyrch.erfinv(x * 0.9) * 1.5).exp()

    def grad(fn):
        x = pyrch.tensor(data, requires_grad=True)
        fn(x).sum().backward()
        return x.grad.numpy()
    traced = jit.trace(f)
    for _ in range(3):
        got = grad(traced)
    assert traced.stats.hits >= 1
    np.testing.assert_allclose(got, grad(f), rtol=1e-5)


# -- CUDA ------------------------------------------------------------------------------
_GROUP = ([("mul", (("x", 0), ("lit", 0.5)), (), "float32"), ("erfinv", (("t", 0),), (), "float32"),
           ("add", (("t", 1), ("x", 0)), (), "float32")], (2,), [((8,), "float32")], (8,))


def _group(dtype):
    body, outs, ins, shape = _GROUP
    body = [(op, args, attrs, dtype) for op, args, attrs, _ in body]
    return codegen.fuse_spec(body, outs, [(s, dtype) for s, _ in ins], shape)


def test_cuda_codegen_calls_cuda_erfinvf_and_erfinv():
    s32, s64 = _group("float32"), _group("float64")
    assert "erfinvf((" in s32.text and "erfinv((" not in s32.text
    assert "erfinv((" in s64.text and "erfinvf(" not in s64.text
    assert "__CUDACC__" in s32.source                       # the host fallback is guarded


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
def test_nvcc_compiles_an_erfinv_group(tmp_path):
    src = codegen.PRELUDE + codegen.global_source(_group("float32")) + \
        codegen.global_source(_group("float64"))
    cu = tmp_path / "erfinv.cu"
    cu.write_text(src)
    r = subprocess.run([NVCC, "--ptx", "-o", str(tmp_path / "erfinv.ptx"), str(cu)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (tmp_path / "erfinv.ptx").read_text().count(".entry") == 2


@pytest.mark.skipif(GXX is None, reason="g++ is not installed")
def test_generated_erfinv_source_runs_on_the_host_and_matches_scipy(tmp_path):
    spec = _group("float64")
    src = "#include <math.h>\n#define __device__\n#define __forceinline__ inline\n" + \
        spec.source + spec.source.replace(spec.name, spec.name + "_again") + \
        f'extern "C" void run(const double *x, double *y, long n) {{\n' \
        f"  for (long i = 0; i < n; ++i) {spec.name}(x[i], y[i]);\n}}\n"
    (tmp_path / "h.cpp").write_text(src)     # two copies: the fallback is defined once
    r = subprocess.run([GXX, "-O0", "-shared", "-fPIC", "-x", "c++", "-o", str(tmp_path / "h.so"),
                        str(tmp_path / "h.cpp")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    lib = ctypes.CDLL(str(tmp_path / "h.so"))
    t = np.concatenate([f64_grid()[::7], [1 - 2 ** -53]])
    x = np.concatenate([2 * t, -2 * t, [2.0, -2.0, 2.5, np.nan]])
    y = np.empty_like(x)
    lib.run(ctypes.c_void_p(x.ctypes.data), ctypes.c_void_p(y.ctypes.data), ctypes.c_long(x.size))
    want = sp.erfinv(x * 0.5) + x
    np.testing.assert_allclose(y, want, rtol=1e-14, atol=0)
