"""The C fused-elementwise VM: random programs against a numpy interpreter,
and malformed programs and operands rejected with errors, never crashes."""
import numpy as np
import pytest

import pyrch._C as C
from pyrch._C import fused
from pyrch.ops.registry import OPS

pytestmark = pytest.mark.skipif(not C.available, reason="pyrch/_C is not built")

SAFE = {  # ops with a cexpr, with a domain-safe input transform
    "add": None, "sub": None, "mul": None, "neg": None, "exp": "small", "div": "nonzero",
}


def _safe(x, how):
    if how == "small":
        return np.clip(x, -5, 5)
    if how == "nonzero":
        return np.where(np.abs(x) < 0.5, 0.5, x)
    return x


def _interpret(n_in, steps, outputs, inputs, dtype):
    vals = [a.astype(dtype) for a in inputs]
    for name, operands, attrs in steps:
        args = [vals[x] if isinstance(x, int) else np.asarray(x, dtype) for x in operands]
        with np.errstate(all="ignore"):
            vals.append(np.asarray(OPS[name].forward(np, *args, **attrs), dtype=dtype))
    return [vals[o] for o in outputs]


@pytest.mark.parametrize("seed", range(40))
def test_random_programs_match_numpy(seed):
    rng = np.random.default_rng(seed)
    dtype = np.float32 if seed % 2 else np.float64
    table = fused.opcode_table()
    names = sorted(n for n in table if table[n][1] - len(table[n][2]) <= 2 and not table[n][2])
    shape = tuple(rng.integers(1, 6, size=rng.integers(1, 4)))
    n_in = int(rng.integers(1, 4))
    inputs = []
    for _ in range(n_in):
        s = list(shape)
        for d in range(len(s)):
            if rng.random() < 0.3:
                s[d] = 1                       # broadcast operand
        a = rng.standard_normal(s)
        if rng.random() < 0.3 and a.ndim >= 2:
            a = np.asfortranarray(a)           # non-contiguous
        inputs.append(a.astype(rng.choice([np.float32, np.float64])))
    steps = []
    n_vals = n_in
    for _ in range(int(rng.integers(1, 12))):
        name = str(rng.choice(names))
        arity = table[name][1]
        ops = []
        for _ in range(arity):
            ops.append(float(rng.uniform(0.5, 2)) if rng.random() < 0.2 else int(rng.integers(0, n_vals)))
        if SAFE.get(name) == "small" or name not in SAFE:
            # keep transcendental inputs tame: feed them a clipped-in-range original input
            ops = [o if not isinstance(o, int) else int(rng.integers(0, n_in)) for o in ops]
            for i in range(n_in):
                inputs[i] = np.clip(inputs[i], -3, 3).astype(inputs[i].dtype)
        if name == "div" and isinstance(ops[1], int):
            ops[1] = 1.5
        steps.append((name, tuple(ops), {}))
        n_vals += 1
    outputs = sorted({n_vals - 1, int(rng.integers(n_in, n_vals))})
    kernel = fused.compile_group(n_in, steps, outputs, dtype)
    full_shape = np.broadcast_shapes(*[a.shape for a in inputs], shape)
    outs = [np.empty(full_shape, dtype) for _ in outputs]
    kernel(inputs, outs)
    ref = _interpret(n_in, steps, outputs, [np.broadcast_to(a, full_shape) for a in inputs], dtype)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for o, r in zip(outs, ref):
        np.testing.assert_allclose(o, np.broadcast_to(r, full_shape), rtol=tol, atol=tol)


def _kernel():
    return fused.compile_group(2, [("mul", (0, 1), {}), ("add", (2, 1.0), {})], [3], "float32")


def test_bad_opcode_rejected():
    k = _kernel()
    k.program.code[0, 0] = 10_000
    with pytest.raises(RuntimeError, match="unknown opcode"):
        k([np.ones(3, np.float32)] * 2, [np.empty(3, np.float32)])


def test_bad_register_rejected():
    k = _kernel()
    k.program.code[0, 2] = 999
    with pytest.raises(RuntimeError, match="register"):
        k([np.ones(3, np.float32)] * 2, [np.empty(3, np.float32)])


def test_write_to_input_register_rejected():
    k = _kernel()
    k.program.code[0, 1] = 0
    with pytest.raises(RuntimeError, match="non-temporary"):
        k([np.ones(3, np.float32)] * 2, [np.empty(3, np.float32)])


def test_shape_mismatch_rejected_in_python():
    k = _kernel()
    with pytest.raises(ValueError, match="broadcast"):
        k([np.ones(4, np.float32), np.ones(3, np.float32)], [np.empty(3, np.float32)])


def test_out_of_bounds_operand_rejected_in_c():
    """A lying extent (as a buggy caller could pass) is caught by the C bounds check."""
    k = _kernel()
    ffi, s = k._ffi, k._s
    a = np.ones(8, np.float32)
    o = np.empty(8, np.float32)
    shape = np.asarray([8], np.int64)
    st = np.asarray([4, 4], np.int64)
    ost = np.asarray([4], np.int64)
    dts = np.asarray([0, 0], np.int32)
    odt = np.asarray([0], np.int32)
    nbytes = np.asarray([32, 16], np.int64)      # second input claims only 16 bytes
    onb = np.asarray([32], np.int64)
    ptrs = ffi.new("char *[]", [ffi.cast("char *", a.ctypes.data)] * 2)
    optr = ffi.new("char *[]", [ffi.cast("char *", o.ctypes.data)])
    s.ndim = 1
    s.shape = ffi.cast("const int64_t *", shape.ctypes.data)
    s.in_strides = ffi.cast("const int64_t *", st.ctypes.data)
    s.out_strides = ffi.cast("const int64_t *", ost.ctypes.data)
    s.in_dtype = ffi.cast("const int32_t *", dts.ctypes.data)
    s.out_dtype = ffi.cast("const int32_t *", odt.ctypes.data)
    s.in_nbytes = ffi.cast("const int64_t *", nbytes.ctypes.data)
    s.out_nbytes = ffi.cast("const int64_t *", onb.ctypes.data)
    s.in_ptr, s.out_ptr = ptrs, optr
    assert k._lib.pyrch_fused_run(s) == -7
    s.in_ptr = ffi.NULL
    assert k._lib.pyrch_fused_run(s) == -1


def test_random_garbage_programs_never_crash():
    rng = np.random.default_rng(0)
    k = _kernel()
    a = np.ones(16, np.float32)
    for _ in range(500):
        k.program.code[...] = rng.integers(-3, 300, size=k.program.code.shape)
        try:
            k([a, a], [np.empty(16, np.float32)])
        except RuntimeError:
            pass


def test_opcode_table_matches_registry():
    assert not C.stale(), "pyrch/_C was built from another op registry: pip install -e ."
    assert C._lib.pyrch_n_opcodes() == len(fused.opcode_table())


from pyrch._C import gemm  # noqa: E402


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", [None, "relu", "gelu_tanh", "tanh", "sigmoid", "gelu"])
def test_gemm_epilogue_matches_numpy(dtype, act):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((7, 5)).astype(dtype)
    b = rng.standard_normal((5, 6)).astype(dtype)
    bias = rng.standard_normal(6).astype(dtype)
    out = np.empty((7, 6), dtype)
    gemm.matmul(a, b, out, bias=bias, act=act)
    x = a.astype(np.float64) @ b + bias
    import math
    ref = {None: x, "relu": np.maximum(x, 0), "tanh": np.tanh(x), "sigmoid": 1 / (1 + np.exp(-x)),
           "gelu_tanh": 0.5 * x * (1 + np.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3))),
           "gelu": 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))}[act]
    np.testing.assert_allclose(out, ref, rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-5)


@pytest.mark.parametrize("shape", [(128, 784, 512), (96, 300, 250), (64, 200, 1000)])
def test_gemm_split_by_columns_where_the_weight_is_largest(shape):
    """x @ W.T + bias with W the largest operand is split by columns of the output across
    threads (each thread then reads its half of W); bias and activation must follow
    each part's columns, including a last part narrower than the others."""
    m, k, n = shape
    rng = np.random.default_rng(2)
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    ref = np.maximum(x.astype(np.float64) @ w.T.astype(np.float64) + bias, 0)
    import pyrch
    before = pyrch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            pyrch.set_num_threads(threads)
            out = np.empty((m, n), np.float32)
            gemm.matmul(x, w.T, out, bias=bias, act="relu")
            np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-3)
            np.testing.assert_allclose(gemm.mm(x, w.T), x.astype(np.float64) @ w.T, rtol=1e-4, atol=1e-3)
    finally:
        pyrch.set_num_threads(before)


def test_gemm_transposed_and_batched_operands():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4, 5)).astype(np.float32)
    b = rng.standard_normal((6, 5)).astype(np.float32).T      # transposed view, no copy
    out = np.empty((3, 4, 6), np.float32)
    gemm.matmul(a, b, out)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)


def test_gemm_with_an_empty_inner_dimension_gives_bias_and_activation_only():
    a, b = np.ones((3, 0), np.float32), np.ones((0, 4), np.float32)
    out = np.full((3, 4), 7, np.float32)
    gemm.matmul(a, b, out, bias=np.arange(-1, 3, dtype=np.float32), act="relu")
    np.testing.assert_array_equal(out, np.maximum(np.arange(-1, 3, dtype=np.float32), 0)[None].repeat(3, 0))


def test_gemm_shape_errors_are_python_errors():
    with pytest.raises(ValueError, match="cannot be multiplied"):
        gemm.matmul(np.ones((2, 3), np.float32), np.ones((4, 5), np.float32), np.empty((2, 5), np.float32))
    with pytest.raises(TypeError):
        gemm.matmul(np.ones((2, 3), np.float32), np.ones((3, 5)), np.empty((2, 5), np.float32))


class _Rec:
    def gemm(self, g):
        self.g = g


def _gelu_d_struct(a, w, out, bias, aux):
    """The struct gemm.matmul fills for act="gelu_d" (caught as it is recorded)."""
    rec = _Rec()
    fused.RECORDER[0] = rec
    try:
        gemm.matmul(a, w, out, bias=bias, act="gelu_d", aux=aux)
    finally:
        fused.RECORDER[0] = None
    return rec.g


@pytest.mark.parametrize("shape", [(1024, 128, 512), (7, 5, 6), (130, 70, 97)])
def test_gemm_gelu_derivative_epilogue_gives_the_traced_chain_bits(shape):
    """act="gelu_d": gelu(t) into the output and gelu'(t) into aux, t = a @ w + bias, with
    the same float32 operations as the traced plan's elementwise chain (the same bits),
    on 1 to 3 threads and through every part of a split."""
    import pyrch
    m, k, n = shape
    rng = np.random.default_rng(7)
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = (rng.standard_normal((n, k)) * 0.2).astype(np.float32).T
    bias = rng.standard_normal(n).astype(np.float32)
    t = np.empty((m, n), np.float32)
    gemm.matmul(a, w, t, bias=bias)
    # the chain as a traced plan runs it: gelu'(t) as passes spells it (value 0 is t,
    # step i's value 1 + i), then gelu(t) = t * Phi(t) from its step 3
    from pyrch.jit.passes import gelu_derivative_steps
    steps = [(op, tuple(0 if x == "a" else 1 + x if isinstance(x, int) else x for x in ops), {})
             for op, ops in gelu_derivative_steps(True)]
    steps.append(("mul", (0, 4), {}))
    chain = fused.compile_group(1, steps, [len(steps), len(steps) - 1], "float32")
    h_ref, d_ref = np.empty_like(t), np.empty_like(t)
    chain([t], [h_ref, d_ref])
    x = t.astype(np.float64)
    import math
    cdf = 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    np.testing.assert_allclose(d_ref, cdf + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi),
                               rtol=1e-5, atol=1e-6)
    before = pyrch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            pyrch.set_num_threads(threads)
            flat = np.full(m * n + 16, 7.0, np.float32)
            h, d = np.empty((m, n), np.float32), flat[:m * n].reshape(m, n)
            gemm.matmul(a, w, h, bias=bias, act="gelu_d", aux=d)
            np.testing.assert_array_equal(h, h_ref)
            np.testing.assert_array_equal(d, d_ref)
            assert (flat[m * n:] == 7.0).all(), "wrote past aux"
    finally:
        pyrch.set_num_threads(before)


def test_gemm_mul_epilogue_multiplies_by_aux_and_refuses_an_aux_inside_the_output():
    """act="mul": (a @ w) * aux, the same bits as the product and a separate multiply;
    an aux sharing memory with the output (which the product overwrites first) or a
    lying aux size is refused, nothing written."""
    rng = np.random.default_rng(9)
    a = rng.standard_normal((300, 64)).astype(np.float32)
    w = rng.standard_normal((64, 200)).astype(np.float32)
    aux = rng.standard_normal((300, 200)).astype(np.float32)
    ref = np.empty((300, 200), np.float32)
    gemm.matmul(a, w, ref)
    ref *= aux
    out = np.empty_like(ref)
    gemm.matmul(a, w, out, act="mul", aux=aux)
    np.testing.assert_array_equal(out, ref)
    out[...] = 5.0
    with pytest.raises(RuntimeError, match="rejected"):
        gemm.matmul(a, w, out, act="mul", aux=out)
    assert (out == 5.0).all()
    rec = _Rec()
    fused.RECORDER[0] = rec
    try:
        gemm.matmul(a, w, out, act="mul", aux=aux)
    finally:
        fused.RECORDER[0] = None
    g = rec.g
    out[...] = 5.0
    g.nbytes_aux = aux.nbytes - 4
    assert C._lib.pyrch_gemm(g) != 0
    assert (out == 5.0).all()


def test_gemm_gelu_derivative_epilogue_refuses_bad_aux():
    """aux missing, too small for its claimed size, overlapping an operand or the output,
    a float64 product or a batch: refused before anything is written."""
    L = C._lib
    rng = np.random.default_rng(8)
    a = rng.standard_normal((64, 32)).astype(np.float32)
    w = rng.standard_normal((32, 48)).astype(np.float32)
    bias = np.zeros(48, np.float32)
    out, aux = np.zeros((64, 48), np.float32), np.zeros((64, 48), np.float32)
    g = _gelu_d_struct(a, w, out, bias, aux)
    assert L.pyrch_gemm(g) == 0
    with pytest.raises(ValueError, match="aux"):
        gemm.matmul(a, w, out, bias=bias, act="gelu_d")
    with pytest.raises(ValueError, match="aux"):
        gemm.matmul(a, w, out, bias=bias, act="gelu_d", aux=np.zeros((64, 47), np.float32))
    ffi = C.ffi()
    keep = dict(aux=g.aux, nbytes_aux=g.nbytes_aux, ldaux=g.ldaux, dtype=g.dtype, batch=g.batch)
    out[...] = 5.0
    aux[...] = 5.0
    bad = [dict(aux=ffi.NULL), dict(nbytes_aux=aux.nbytes - 4), dict(nbytes_aux=-1),
           dict(ldaux=47), dict(ldaux=1 << 40), dict(aux=g.c), dict(aux=g.a), dict(aux=g.b),
           dict(aux=g.bias), dict(dtype=1), dict(batch=2)]
    for change in bad:
        for name, value in change.items():
            setattr(g, name, value)
        assert L.pyrch_gemm(g) != 0, change
        for name, value in keep.items():
            setattr(g, name, value)
    assert (out == 5.0).all() and (aux == 5.0).all(), "a refused call wrote"
    with pytest.raises(RuntimeError, match="rejected"):
        gemm.matmul(a, w, out, bias=bias, act="gelu_d", aux=out)      # aux is the output


def test_integer_attribute_is_a_constant_not_a_value_id():
    """Regression: softplus(beta=2) passed the int 2 where value ids are ints."""
    table = fused.opcode_table()
    assert table["softplus"][2], "softplus's beta/threshold should be constant operands"
    attrs = {a: 2 for a in table["softplus"][2]}
    k = fused.compile_group(1, [("softplus", (0,), attrs)], [1], "float64")
    x = np.linspace(-3, 3, 7)
    out = np.empty(7)
    k([x], [out])
    ref = OPS["softplus"].forward(np, x, **{a: attrs.get(a, d) for a, d in OPS["softplus"].attrs.items()})
    np.testing.assert_allclose(out, ref, rtol=1e-6)


@pytest.mark.parametrize("n", [37, 10, 1, 15, 16])      # short rows are padded to a vector
@pytest.mark.parametrize("log", [False, True])
def test_softmax_rows_match_numpy_with_masks_and_nan(log, n):
    from pyrch._C import rows
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((5, 3, n)) * 10).astype(np.float32)
    x[..., n // 2 + 1:] = -np.inf  # a causal-style mask
    x[0, 0] = -np.inf              # a fully masked row: NaN, as in numpy and torch
    x[1, 1, n // 3] = np.nan       # NaN anywhere poisons its row
    with np.errstate(all="ignore"):
        s = x.astype(np.float64) - x.max(-1, keepdims=True)
        ref = s - np.log(np.exp(s).sum(-1, keepdims=True)) if log else \
            np.exp(s) / np.exp(s).sum(-1, keepdims=True)
    y = rows.softmax(x, log=log)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
    fin = np.isfinite(ref)
    np.testing.assert_array_equal(np.isfinite(y), fin)
    np.testing.assert_allclose(y[fin], ref[fin], rtol=1e-5, atol=1e-6)
    assert rows.softmax(x.astype(np.float64)) is None          # float64 stays on numpy
    assert rows.softmax(np.zeros((3, 0), np.float32)).shape == (3, 0)


def test_softmax_rows_bounds_are_checked_in_c():
    lib, ffi = C.lib(), C.ffi()
    x = np.zeros((4, 8), np.float32)
    y = np.zeros((4, 8), np.float32)
    px, py = ffi.cast("const float *", x.ctypes.data), ffi.cast("float *", y.ctypes.data)
    assert lib.pyrch_softmax_f32(px, x.nbytes, 8, py, y.nbytes, 8, 4, 8, 0, 2) == 0
    assert lib.pyrch_softmax_f32(px, x.nbytes, 8, py, y.nbytes, 8, 5, 8, 0, 2) < 0     # a row too many
    assert lib.pyrch_softmax_f32(px, x.nbytes - 4, 8, py, y.nbytes, 8, 4, 8, 0, 2) < 0  # lying extent
    assert lib.pyrch_softmax_f32(px, x.nbytes, 7, py, y.nbytes, 8, 4, 8, 0, 2) < 0     # rows overlap
    assert lib.pyrch_softmax_f32(px, x.nbytes, 8, py, y.nbytes, 8, -1, 8, 0, 2) < 0
    assert lib.pyrch_softmax_f32(ffi.NULL, 0, 8, py, y.nbytes, 8, 4, 8, 0, 2) < 0
    assert lib.pyrch_softmax_f32(px, x.nbytes, 1 << 62, py, y.nbytes, 8, 4, 8, 0, 2) < 0  # overflow


def test_cross_entropy_rows_bounds_and_targets_are_checked_in_c():
    lib, ffi = C.lib(), C.ffi()
    x = np.zeros((4, 3), np.float32)
    t = np.array([0, 2, -100, 1], np.int64)
    loss, out, g = np.zeros(4, np.float32), np.zeros((4, 3), np.float32), np.ones(4, np.float32)
    bad, kept = ffi.new("int64_t *"), ffi.new("int64_t *")
    p = lambda a: ffi.cast("float *", a.ctypes.data)
    pt = ffi.cast("const int64_t *", t.ctypes.data)
    fwd = lambda **k: lib.pyrch_cross_entropy_f32(
        p(x), k.get("xb", x.nbytes), pt, k.get("tb", t.nbytes), k.get("rows", 4), k.get("n", 3),
        -100, p(loss), k.get("lb", loss.nbytes), bad, kept, 2)
    bwd = lambda **k: lib.pyrch_cross_entropy_backward_f32(
        p(g), k.get("gb", g.nbytes), k.get("gs", 1), 1, p(x), x.nbytes, pt, t.nbytes,
        k.get("rows", 4), 3, -100, p(out), k.get("ob", out.nbytes), bad, 2)
    assert fwd() == 0 and kept[0] == 3
    np.testing.assert_allclose(loss, [np.log(3), np.log(3), 0, np.log(3)], rtol=1e-6)
    assert bwd() == 0
    np.testing.assert_allclose(out[2], 0)
    np.testing.assert_allclose(out[0], np.array([-2, 1, 1]) / 9, rtol=1e-6)
    for k in ({"xb": x.nbytes - 4}, {"tb": 24}, {"lb": 12}, {"rows": 5}, {"n": 4}):
        assert fwd(**k) < 0, k                      # every lying extent is refused
    assert fwd(rows=-1) < 0 and fwd(n=0) < 0
    for k in ({"gb": 12}, {"ob": out.nbytes - 4}, {"rows": 5}, {"gs": -1}):
        assert bwd(**k) < 0, k
    assert bwd(gb=4, gs=0) == 0                     # one g for every row
    t[1] = 3                                        # a target past the classes
    assert fwd() == -11 and bad[0] == 1 and bwd() == -11 and bad[0] == 1
    t[1] = -5
    assert fwd() == -11 and bad[0] == 1


def test_cross_entropy_rows_split_across_threads_match_float64():
    from pyrch._C import rows
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((1024, 65)) * 4).astype(np.float32)
    t = rng.integers(0, 65, 1024)
    t[::7] = -100
    keep = t != -100
    s = x.astype(np.float64) - x.max(1, keepdims=True)
    lse = np.log(np.exp(s).sum(1))
    ref = np.where(keep, lse - s[np.arange(1024), np.where(keep, t, 0)], 0)
    p = np.exp(s - lse[:, None])
    p[np.arange(1024), np.where(keep, t, 0)] -= 1
    gref = p * keep[:, None] / keep.sum()
    before = C.get_num_threads()
    try:
        got = {}
        for threads in (1, 2):
            C.set_num_threads(threads)
            loss = rows.cross_entropy(x, t, -100, "none")
            total = rows.cross_entropy(x, t, -100, "sum")
            mean = rows.cross_entropy(x, t, -100, "mean")
            g = rows.cross_entropy_backward(np.array(1, np.float32), x, t, -100, True)
            got[threads] = (loss, total, mean, g)
            np.testing.assert_allclose(loss, ref, rtol=1e-5, atol=1e-6)
            # the reductions: the per-row losses summed in double, in row order
            assert total.shape == mean.shape == () and total.dtype == mean.dtype == np.float32
            assert total == np.float32(loss.astype(np.float64).sum())
            assert mean == np.float32(total) / np.float32(keep.sum())
            np.testing.assert_allclose(mean, ref.sum() / keep.sum(), rtol=1e-5)
            np.testing.assert_allclose(g, gref, rtol=1e-5, atol=1e-8)
        for a, b in zip(got[1], got[2]):
            np.testing.assert_array_equal(a, b)       # rows are independent: the same bits
    finally:
        C.set_num_threads(before)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_backward_rows_match_numpy_on_threads(log):
    from pyrch._C import rows
    rng = np.random.default_rng(7)
    before = C.get_num_threads()
    try:
        for threads in (1, 2):
            C.set_num_threads(threads)
            for shape in [(5, 3, 37), (16, 4, 64, 64), (1, 1)]:
                x = rng.standard_normal(shape).astype(np.float32) * 3
                g = rng.standard_normal(shape).astype(np.float32)
                y = rows.softmax(x, log=log)
                y64, g64 = y.astype(np.float64), g.astype(np.float64)
                want = g64 - np.exp(y64) * g64.sum(-1, keepdims=True) if log else \
                    y64 * (g64 - (g64 * y64).sum(-1, keepdims=True))
                np.testing.assert_allclose(rows.softmax_backward(g, y, log=log), want,
                                           rtol=1e-5, atol=1e-5)
                np.testing.assert_allclose(rows.softmax(x, log=log), y, rtol=1e-6, atol=1e-7)
    finally:
        C.set_num_threads(before)
    lib, ffi = C.lib(), C.ffi()
    a = np.zeros((4, 8), np.float32)
    p = ffi.cast("float *", a.ctypes.data)
    f = lib.pyrch_softmax_backward_f32
    assert f(p, a.nbytes, p, a.nbytes, p, a.nbytes, 4, 8, int(log), 2) == 0
    assert f(p, a.nbytes, p, a.nbytes, p, a.nbytes, 5, 8, 0, 2) < 0            # a row too many
    assert f(p, a.nbytes - 4, p, a.nbytes, p, a.nbytes, 4, 8, 0, 2) < 0        # lying extents
    assert f(p, a.nbytes, p, a.nbytes - 4, p, a.nbytes, 4, 8, 0, 2) < 0
    assert f(p, a.nbytes, p, a.nbytes, p, a.nbytes - 4, 4, 8, 0, 2) < 0
    assert f(p, a.nbytes, p, a.nbytes, p, a.nbytes, -1, 8, 0, 2) < 0
    assert f(ffi.NULL, a.nbytes, p, a.nbytes, p, a.nbytes, 4, 8, 0, 2) < 0
    assert f(p, a.nbytes, p, a.nbytes, p, a.nbytes, 1 << 60, 1 << 10, 0, 2) < 0   # overflow


def test_set_num_threads_controls_the_vm_and_numpys_blas():
    import pyrch
    from pyrch._C import _numpy_blas
    before = pyrch.get_num_threads()
    try:
        pyrch.set_num_threads(1)
        assert pyrch.get_num_threads() == 1
        blas = _numpy_blas()
        if blas is not None:                    # numpy links OpenBLAS in its wheels
            assert blas[1]() == 1
            pyrch.set_num_threads(2)            # numpy's stays on one thread: pyrch's
            assert pyrch.get_num_threads() == 2 and blas[1]() == 1    # pool runs the GEMMs
        a = np.random.default_rng(0).standard_normal((300, 300)).astype(np.float32)
        np.testing.assert_allclose(pyrch.tensor(a) @ pyrch.tensor(a), a @ a, rtol=1e-4, atol=1e-3)
        with pytest.raises(ValueError, match="positive integer"):
            pyrch.set_num_threads(0)
    finally:
        pyrch.set_num_threads(before)


def test_maxpool_argmax_in_c_matches_the_numpy_path():
    from pyrch.ops import nn as N
    rng = np.random.default_rng(1)
    checked = 0
    for trial in range(200):
        H, W = (int(v) for v in rng.integers(3, 12, 2))
        k = tuple(int(v) for v in rng.integers(1, 4, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        d = tuple(int(v) for v in rng.integers(1, 3, 2))
        p = tuple(int(rng.integers(0, (dd * (kk - 1) + 1) // 2 + 1)) for kk, dd in zip(k, d))
        ceil = bool(trial % 2)
        x = rng.integers(-3, 3, (2, 3, H, W)).astype(np.float32)     # many ties
        if trial % 3 == 0:
            x[rng.random(x.shape) < 0.1] = np.nan
        kw = dict(kernel=k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
        try:
            want = N.max_pool_indices.forward(np, x.astype(np.float64), **kw)   # numpy path
        except (ValueError, RuntimeError):
            continue
        np.testing.assert_array_equal(N.max_pool_indices.forward(np, x, **kw), want)
        checked += 1
    assert checked > 150
    # big enough to split the planes across threads: inside windows and padded ones
    for shape, kw in [((64, 6, 28, 28), dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0))),
                      ((8, 33, 17, 19), dict(kernel=(3, 3), stride=(2, 1), padding=(1, 1)))]:
        x = rng.integers(-3, 3, shape).astype(np.float32)
        kw.update(dilation=(1, 1), ceil_mode=False)
        np.testing.assert_array_equal(N.max_pool_indices.forward(np, x, **kw),
                                      N.max_pool_indices.forward(np, x.astype(np.float64), **kw))


def test_maxpool_bounds_are_checked_in_c():
    lib, ffi = C.lib(), C.ffi()
    x = np.zeros((2, 4, 4), np.float32)
    idx = np.zeros((2, 2, 2), np.int64)
    px, pi = ffi.cast("const float *", x.ctypes.data), ffi.cast("int64_t *", idx.ctypes.data)
    args = lambda **kw: dict(dict(planes=2, H=4, W=4, kh=2, kw=2, sh=2, sw=2, ph=0, pw=0, dh=1,
                                  dw=1, OH=2, OW=2, xb=x.nbytes, ib=idx.nbytes), **kw)

    def call(a):
        return lib.pyrch_maxpool2d_f32(px, a["xb"], a["planes"], a["H"], a["W"], a["kh"], a["kw"],
                                       a["sh"], a["sw"], a["ph"], a["pw"], a["dh"], a["dw"],
                                       a["OH"], a["OW"], pi, a["ib"], a.get("threads", 2))
    assert call(args()) == 0
    assert call(args(planes=3)) < 0                 # more planes than the buffer holds
    assert call(args(OH=3)) < 0                     # more outputs than idx holds
    assert call(args(ib=idx.nbytes - 8)) < 0        # lying extent
    assert call(args(sh=0)) < 0 and call(args(kh=0)) < 0 and call(args(dh=0)) < 0
    assert call(args(H=1 << 40, W=1 << 40)) < 0     # overflow
    assert call(args(OH=1 << 62, sh=4)) < 0


def test_conv_through_c_im2col_matches_the_numpy_path():
    """conv, conv_transpose and conv_weight through pyrch/_C's im2col/col2im equal the
    numpy im2col path: 1-D and 2-D, groups, stride, dilation, asymmetric padding, both
    GEMM layouts (few and many positions per sample), float32 and float64."""
    from unittest import mock
    from pyrch.ops import nn as N
    rng = np.random.default_rng(1)
    checked = 0
    for t in range(240):
        nd = 1 + t % 2
        G, Cg, Og, n = (int(v) for v in rng.integers(1, 3, 4))
        sp = tuple(int(v) for v in rng.integers(1, 9, nd))
        k, s, d = (tuple(int(v) for v in rng.integers(1, hi, nd)) for hi in (4, 3, 3))
        pad = tuple((int(a), int(b)) for a, b in rng.integers(0, 3, (nd, 2)))
        if t % 5 == 0:
            sp = tuple(v + 20 for v in sp)          # many positions: the per-sample GEMMs
        out = N._conv_out(sp, k, s, pad, d)
        if any(o <= 0 for o in out):
            continue
        dt = np.float32 if t % 3 else np.float64
        x = rng.standard_normal((n, G * Cg) + sp).astype(dt)
        w = rng.standard_normal((G * Og, Cg) + k).astype(dt)
        gy = rng.standard_normal((n, G * Og) + out).astype(dt)
        kw = dict(stride=s, padding=pad, dilation=d, groups=G)
        got = (N.conv.forward(np, x, w, **kw), N.conv_weight.forward(np, x, gy, kernel=k, **kw),
               N.conv_transpose.forward(np, gy, w, size=sp, **kw))
        assert N._conv_c(x, w, s, pad, d, G) is not None       # the C path ran
        with mock.patch.object(N, "_c_ok", lambda *a: False), \
                mock.patch.object(N, "_c_cols", lambda *a: None):
            want = (N.conv.forward(np, x, w, **kw), N.conv_weight.forward(np, x, gy, kernel=k, **kw),
                    N.conv_transpose.forward(np, gy, w, size=sp, **kw))
        tol = 1e-4 if dt == np.float32 else 1e-11
        for a, b in zip(got, want):
            assert a.shape == b.shape and a.dtype == b.dtype
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
        checked += 1
    assert checked > 150


def test_col2im_is_the_adjoint_of_im2col():
    from pyrch._C import conv
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 7, 9))
    geo = ((3, 2), (2, 1), (1, 0), (1, 2), (4, 7))
    cols = conv.im2col(x, *geo)
    y = rng.standard_normal(cols.shape)
    img = conv.col2im(y, x.shape, *geo)
    assert np.isclose((cols * y).sum(), (x * img).sum())


def test_im2col_bounds_are_checked_in_c():
    lib, ffi = C.lib(), C.ffi()
    x = np.zeros((2, 3, 5, 5), np.float32)
    cols = np.zeros((3 * 9, 2, 9), np.float32)
    px, pc = ffi.cast("void *", x.ctypes.data), ffi.cast("void *", cols.ctypes.data)

    def call(fn, **kw):
        a = dict(N=2, C=3, H=5, W=5, kh=3, kw=3, sh=2, sw=2, ph=1, pw=1, dh=1, dw=1, OH=3, OW=3,
                 esz=4, xb=x.nbytes, cb=cols.nbytes)
        a.update(kw)
        g = ffi.new("pyrch_conv_t *")
        for f in ("N", "C", "H", "W", "kh", "kw", "sh", "sw", "ph", "pw", "dh", "dw", "OH", "OW", "esz"):
            setattr(g, f, a[f])
        if fn == "im2col":
            return lib.pyrch_im2col(g, px, a["xb"], pc, a["cb"])
        return lib.pyrch_col2im(g, pc, a["cb"], px, a["xb"])
    for fn in ("im2col", "col2im"):
        assert call(fn) == 0
        assert call(fn, N=3) < 0                        # more samples than the buffers hold
        assert call(fn, OH=4) < 0                       # more columns than cols holds
        assert call(fn, xb=x.nbytes - 4) < 0 and call(fn, cb=cols.nbytes - 4) < 0   # lying extents
        assert call(fn, esz=2) < 0 and call(fn, esz=8) < 0                         # dtype / extent
        assert call(fn, sh=0) < 0 and call(fn, kh=0) < 0 and call(fn, dw=0) < 0 and call(fn, ph=-1) < 0
        assert call(fn, H=1 << 40, W=1 << 40) < 0       # overflow
        assert call(fn, OH=1 << 50, sh=1 << 20) < 0
        assert call(fn, N=1 << 62, C=1 << 62) < 0
    assert lib.pyrch_im2col(ffi.NULL, px, x.nbytes, pc, cols.nbytes) < 0


def _conv_reference(x, w, pad, out):
    """float64 cross-correlation, stride 1, low-side padding `pad`, output size `out`."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.zeros((n, c, pad[0] + h + out[0] + kh, pad[1] + wd + out[1] + kw))
    xp[:, :, pad[0]:pad[0] + h, pad[1]:pad[1] + wd] = x
    y = np.zeros((n, o) + tuple(out))
    for i in range(kh):
        for j in range(kw):
            y += np.einsum("nchw,oc->nohw", xp[:, :, i:i + out[0], j:j + out[1]], w[:, :, i, j])
    return y


@pytest.mark.parametrize("threads", [1, 2])
def test_direct_conv_matches_reference_and_stays_in_bounds(threads):
    """conv.c's column-free float32 convolution: every padding (none, symmetric, one
    side, wider than the kernel), outputs cropped below the padded size, 1 x 1 images
    and kernels."""
    from pyrch._C import conv
    rng = np.random.default_rng(6)
    before = C.get_num_threads()
    C.set_num_threads(threads)
    try:
        for (n, c, o, h, wd, kh, kw, pad, out) in [
                (64, 1, 6, 28, 28, 5, 5, (2, 2), (28, 28)), (64, 6, 16, 14, 14, 5, 5, (0, 0), (10, 10)),
                (3, 2, 7, 6, 9, 3, 2, (1, 0), (6, 8)), (1, 1, 1, 1, 1, 1, 1, (0, 0), (1, 1)),
                (2, 3, 4, 5, 5, 3, 3, (3, 3), (9, 9)), (2, 3, 13, 8, 30, 2, 5, (1, 4), (7, 20)),
                (5, 4, 3, 4, 4, 3, 3, (5, 5), (2, 2)), (2, 17, 9, 1, 40, 1, 7, (0, 3), (1, 40))]:
            x = rng.standard_normal((n, c, h, wd)).astype(np.float32)
            w = rng.standard_normal((o, c, kh, kw)).astype(np.float32)
            y = conv.conv2d(x, w, (1, 1), pad, (1, 1), out)
            if y is None:
                assert not _small_on()          # no AVX-512: the im2col path takes it
                return
            want = _conv_reference(x.astype(np.float64), w.astype(np.float64), pad, out)
            np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4 * np.sqrt(c * kh * kw))
            # the weight gradient: <gy, conv(x, w)> is linear in w, so its gradient is the
            # sum over samples and positions of gy times x shifted by each kernel offset
            gy = rng.standard_normal(y.shape).astype(np.float32)
            dw = conv.conv2d_weight(x, gy, (kh, kw), pad, out)
            xp = np.zeros((n, c, pad[0] + h + out[0] + kh, pad[1] + wd + out[1] + kw))
            xp[:, :, pad[0]:pad[0] + h, pad[1]:pad[1] + wd] = x
            want_dw = np.stack([np.stack([np.einsum("nohw,nchw->oc", gy.astype(np.float64),
                                                    xp[:, :, i:i + out[0], j:j + out[1]])
                                          for j in range(kw)], -1) for i in range(kh)], -2)
            np.testing.assert_allclose(dw, want_dw, rtol=1e-4,
                                       atol=1e-4 * np.sqrt(n * out[0] * out[1]))
        assert conv.conv2d(x, w, (2, 1), pad, (1, 1), out) is None      # stride 2: not taken
        assert conv.conv2d(x.astype(np.float64), w, (1, 1), pad, (1, 1), out) is None
    finally:
        C.set_num_threads(before)


def test_direct_conv_checks_its_buffers_in_c():
    lib, ffi = C.lib(), C.ffi()
    x = np.ones((2, 3, 5, 5), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    flat = np.full(2 * 4 * 5 * 5 + 16, 7.0, np.float32)
    px, pw, py = (ffi.cast("void *", a.ctypes.data) for a in (x, w, flat))

    def geo(**kw):
        a = dict(N=2, C=3, H=5, W=5, kh=3, kw=3, sh=1, sw=1, ph=1, pw=1, dh=1, dw=1, OH=5, OW=5,
                 esz=4, nthreads=2)
        a.update(kw)
        g = ffi.new("pyrch_conv_t *")
        for f, v in a.items():
            setattr(g, f, v)
        return g

    def call(o=4, xb=x.nbytes, wb=w.nbytes, yb=2 * 4 * 25 * 4, **kw):
        return lib.pyrch_conv2d_f32(geo(**kw), px, xb, pw, wb, o, py, yb)
    if call() == 1:
        pytest.skip("no AVX-512F on this CPU: the direct kernel is never taken")
    assert call() == 0 and (flat[200:] == 7.0).all() and (flat[:200] > 0).all()
    assert call(N=3) < 0 and call(C=4) < 0 and call(o=5) < 0       # more than the buffers hold
    assert call(OH=6) < 0 and call(OW=6) < 0
    assert call(xb=x.nbytes - 4) < 0 and call(wb=w.nbytes - 4) < 0 and call(yb=199 * 4) < 0
    assert call(o=0) < 0 and call(o=-3) < 0 and call(N=-1) < 0 and call(ph=-1) < 0
    assert call(H=1 << 40, W=1 << 40) < 0 and call(N=1 << 62, C=1 << 62) < 0
    assert call(o=1 << 62) < 0
    assert call(esz=8) == 1 and call(sh=2, OH=3) == 1 and call(dw=2, OW=3) == 1   # not taken
    assert call(OH=1 << 12, OW=1 << 12, yb=1 << 60) == 1      # padded planes too big: im2col
    assert lib.pyrch_conv2d_f32(ffi.NULL, px, x.nbytes, pw, w.nbytes, 4, py, 800) < 0
    g = geo()
    assert lib.pyrch_conv2d_f32(g, ffi.NULL, x.nbytes, pw, w.nbytes, 4, py, 800) < 0
    assert lib.pyrch_conv2d_f32(g, px, x.nbytes, pw, w.nbytes, 4, ffi.NULL, 800) < 0
    # the weight gradient: gy is `flat` (N, O, OH, OW), dw is `w`'s buffer
    def wcall(o=4, xb=x.nbytes, gb=2 * 4 * 25 * 4, wb=w.nbytes, **kw):
        return lib.pyrch_conv2d_weight_f32(geo(**kw), px, xb, py, gb, o, pw, wb)
    assert wcall() == 0
    assert wcall(N=3) < 0 and wcall(C=4) < 0 and wcall(o=5) < 0 and wcall(OH=6) < 0
    assert wcall(xb=x.nbytes - 4) < 0 and wcall(gb=199 * 4) < 0 and wcall(wb=w.nbytes - 4) < 0
    assert wcall(o=0) < 0 and wcall(N=1 << 62, C=1 << 62) < 0 and wcall(kh=0) < 0
    assert wcall(esz=8) == 1 and wcall(sh=2, OH=3) == 1
    assert lib.pyrch_conv2d_weight_f32(g, ffi.NULL, x.nbytes, py, 800, 4, pw, w.nbytes) < 0
    assert lib.pyrch_conv2d_weight_f32(g, px, x.nbytes, py, 800, 4, ffi.NULL, w.nbytes) < 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.bool_])
@pytest.mark.parametrize("row", [(), (3,), (2, 5)])
def test_row_gather_and_scatter_add_match_numpy(dtype, row):
    from pyrch._C import rowsel
    rng = np.random.default_rng(3)
    table = rng.standard_normal((7,) + row).astype(dtype)
    idx = rng.integers(0, 7, (4, 6))
    np.testing.assert_array_equal(rowsel.gather_rows(table, idx), np.take(table, idx, axis=0))
    g = rng.standard_normal(idx.shape + row).astype(dtype)
    got = rowsel.scatter_add_rows(g, idx, 7)
    if dtype not in (np.float32, np.float64):
        assert got is None                          # the caller's numpy path takes it
        return
    want = np.zeros((7,) + row, dtype)
    np.add.at(want, idx, g)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    for bad in (-1, 7):
        idx[1, 2] = bad
        with pytest.raises(IndexError, match="index out of range in self"):
            rowsel.gather_rows(table, idx)
        with pytest.raises(IndexError, match="index out of range in self"):
            rowsel.scatter_add_rows(g, idx, 7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 5), (7, 3), (1024, 128), (3000, 70), (5, 0), (0, 4)])
def test_sum_rows_matches_numpy(dtype, shape):
    from pyrch._C import rowsel
    a = np.random.default_rng(6).standard_normal(shape).astype(dtype)
    got = rowsel.sum_rows(a)
    assert got.shape == (shape[1],) and got.dtype == dtype
    np.testing.assert_allclose(got, a.astype(np.float64).sum(0), rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-4 if dtype == np.float32 else 1e-12)
    lib, ffi = C.lib(), C.ffi()
    out = np.empty(max(shape[1], 1), dtype)
    pa, po = ffi.cast("void *", a.ctypes.data), ffi.cast("void *", out.ctypes.data)
    isz = a.itemsize
    assert lib.pyrch_sum_rows(isz, pa, a.nbytes - isz if a.size else -1, *shape, po, out.nbytes, 2) < 0
    assert lib.pyrch_sum_rows(isz, pa, a.nbytes, shape[0], shape[1] + 1, po, out.nbytes, 2) < 0
    assert lib.pyrch_sum_rows(2, pa, a.nbytes, *shape, po, out.nbytes, 2) < 0
    assert lib.pyrch_sum_rows(isz, pa, a.nbytes, -1, shape[1], po, out.nbytes, 2) < 0
    assert lib.pyrch_sum_rows(isz, pa, a.nbytes, 1 << 62, 1 << 62, po, out.nbytes, 2) < 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_eager_add_sub_mul_run_in_c_and_equal_numpy_bitwise(dtype):
    """Big eager + - * run as threaded C loops (pyrch.ops.elementwise.c_binary): the
    same IEEE roundings as numpy, so the bits agree, broadcasting included."""
    import pyrch
    from pyrch.ops.elementwise import c_binary
    rng = np.random.default_rng(7)
    shapes = [((16, 64, 512), (16, 64, 512)), ((16, 64, 512), (512,)), ((16, 64, 512), ()),
              ((1, 64, 4096), (16, 1, 4096)), ((64, 6, 28, 28), (1, 6, 1, 1))]
    for sa, sb in shapes:
        a = rng.standard_normal(sa).astype(dtype)
        b = np.asarray(rng.standard_normal(sb)).astype(dtype)
        a.flat[:3] = [np.nan, np.inf, -0.0]
        for name, f in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply)):
            assert c_binary(name, a, b) is not None                  # the C path takes it
            want = f(a, b)
            got = getattr(pyrch, name)(pyrch.from_numpy(a), pyrch.from_numpy(b)).numpy()
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
    # a Python number beside the tensor (dispatch hands it over as a numpy scalar), on
    # either side, including the values whose roundings and signs matter
    a = rng.standard_normal((16, 4, 64, 64)).astype(dtype)
    a.flat[:4] = [np.nan, np.inf, -0.0, 1e-38]
    A = pyrch.from_numpy(a)
    for v in (0.125, -3.7, 1e30, float("inf"), float("nan"), -0.0):
        assert c_binary("mul", a, dtype(v)) is not None and c_binary("sub", dtype(v), a) is not None
        for got, want in (((A * v).numpy(), a * dtype(v)), ((v * A).numpy(), dtype(v) * a),
                          ((A + v).numpy(), a + dtype(v)), ((A - v).numpy(), a - dtype(v)),
                          ((v - A).numpy(), dtype(v) - a)):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
    assert c_binary("add", np.ones(10, dtype), np.ones(10, dtype)) is None          # small: numpy
    assert c_binary("add", np.ones(1 << 18, np.float32), np.ones(1 << 18, np.float64)) is None
    assert c_binary("add", np.ones(1 << 18, np.float32), 2) is None         # a Python int: numpy


def test_config_c_false_keeps_every_eager_kernel_on_numpy():
    """PYRCH_C=0 / config(c=False) is the reference path: no C GEMM, conv, row or
    elementwise kernel runs under it (they answer None and numpy takes over)."""
    import pyrch
    from pyrch._C import gemm, rowsel
    from pyrch.ops import nn as N
    from pyrch.ops.elementwise import c_binary, c_select
    a = np.ones((300, 300), np.float32)
    big = np.ones(1 << 18, np.float32)
    assert gemm.mm(a, a) is not None and c_binary("add", big, big) is not None
    with pyrch.config(c=False):
        assert gemm.mm(a, a) is None
        assert c_binary("add", big, big) is None
        assert c_select("where", (big > 0, big, big)) is None
        assert N._c_cols(np.ones((2, 3, 8, 8), np.float32), (3, 3), (1, 1), ((0, 0), (0, 0)),
                         (1, 1), 1, (6, 6)) is None
        assert rowsel.sum_rows(np.ones((1000, 100), np.float32)) is None
        assert rowsel.gather_rows(a, np.zeros(5, np.int64)) is None
        np.testing.assert_allclose((pyrch.from_numpy(a) @ pyrch.from_numpy(a)).numpy(), a @ a)


def test_layer_norm_rows_in_c_match_float64_and_check_bounds():
    from pyrch._C import rows
    rng = np.random.default_rng(8)
    for shape in [(1024, 128), (3, 7), (5000, 16)]:
        x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
        w, b = rng.standard_normal(shape[1:]).astype(np.float32), rng.standard_normal(shape[1:]).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        xd = x.astype(np.float64)
        d = xd - xd.mean(-1, keepdims=True)
        rs = 1 / np.sqrt((d * d).mean(-1, keepdims=True) + 1e-5)
        xh = d * rs
        np.testing.assert_allclose(rows.layer_norm(x, w, b, 1e-5, 1), xh * w + b, rtol=1e-5, atol=1e-5)
        gx, gw, gb = rows.layer_norm_backward(g, x, w, 1e-5, 1)
        gh = g * w
        np.testing.assert_allclose(gx, rs * (gh - gh.mean(-1, keepdims=True) - xh * (gh * xh).mean(-1, keepdims=True)),
                                   rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(gw, (g * xh).sum(0), rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(gb, g.sum(0), rtol=1e-4, atol=1e-3)
    lib, ffi = C.lib(), C.ffi()
    x, w = np.zeros((4, 8), np.float32), np.ones(8, np.float32)
    out = np.zeros_like(x)
    p = lambda a: ffi.cast("float *", a.ctypes.data)
    ok = lambda **k: lib.pyrch_layer_norm_f32(p(x), k.get("xb", x.nbytes), k.get("rows", 4), k.get("D", 8), p(w), p(w),
                                              k.get("wb", w.nbytes), 1e-5, p(out), k.get("ob", out.nbytes), 2)
    assert ok() == 0
    assert ok(rows=5) < 0 and ok(D=9) < 0 and ok(xb=x.nbytes - 4) < 0 and ok(ob=4) < 0 and ok(wb=28) < 0
    assert ok(rows=-1) < 0 and ok(rows=1 << 62, D=1 << 62) < 0
    g, gx, gw, gb = np.zeros_like(x), np.zeros_like(x), np.zeros_like(w), np.zeros_like(w)
    bw = lambda **k: lib.pyrch_layer_norm_backward_f32(p(g), p(x), k.get("nb", x.nbytes), k.get("rows", 4), 8,
                                                       p(w), w.nbytes, 1e-5, p(gx), p(gw), p(gb), k.get("gb", w.nbytes), 2)
    assert bw() == 0
    assert bw(rows=5) < 0 and bw(nb=8) < 0 and bw(gb=4) < 0


def test_row_selection_bounds_are_checked_in_c():
    lib, ffi = C.lib(), C.ffi()
    t = np.zeros((5, 3), np.float32)
    idx = np.zeros(4, np.int64)
    out = np.zeros((4, 3), np.float32)
    pt, pi, po = (ffi.cast("void *", a.ctypes.data) for a in (t, idx, out))
    pi = ffi.cast("int64_t *", pi)

    def gather(**kw):
        a = dict(esz=4, tb=t.nbytes, V=5, width=3, ib=idx.nbytes, n=4, ob=out.nbytes)
        a.update(kw)
        return lib.pyrch_gather_rows(a["esz"], pt, a["tb"], a["V"], a["width"], pi, a["ib"], a["n"],
                                     po, a["ob"])

    def scatter(**kw):
        a = dict(esz=4, tb=t.nbytes, V=5, width=3, ib=idx.nbytes, n=4, ob=out.nbytes)
        a.update(kw)
        return lib.pyrch_scatter_add_rows(a["esz"], pt, a["tb"], a["V"], a["width"], pi, a["ib"],
                                          a["n"], po, a["ob"])
    for call in (gather, scatter):
        assert call() == 0
        assert call(V=6) < 0 and call(width=4) < 0 and call(n=5) < 0      # past the buffers
        assert call(tb=t.nbytes - 1) < 0 and call(ib=idx.nbytes - 1) < 0 and call(ob=out.nbytes - 4) < 0
        assert call(esz=3) < 0 and call(V=-1) < 0 and call(n=-1) < 0
        assert call(V=1 << 62, width=1 << 62) < 0 and call(n=1 << 62) < 0   # overflow
        idx[2] = 5
        assert call() == -11                        # an index past the table: PYRCH_E_INDEX
        idx[2] = 0
    assert lib.pyrch_gather_rows(4, ffi.NULL, 60, 5, 3, pi, 32, 4, po, 48) < 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_gemm_matches_numpy_for_every_layout(dtype):
    """pyrch's GEMM (OpenBLAS one thread per part, parts on the VM's pool): row- and
    column-major operands, small-batch rows, batches (broadcast, strided views), out=."""
    from pyrch._C import gemm
    rng = np.random.default_rng(4)
    tol = dict(rtol=1e-4, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)

    def mat(*shape, t=False):
        x = rng.standard_normal(shape[:-2] + (shape[-1], shape[-2]) if t else shape).astype(dtype)
        return np.swapaxes(x, -1, -2) if t else x
    cases = [(mat(16, 784), mat(784, 512, t=True)), (mat(16, 784), mat(784, 512)),
             (mat(512, 16, t=True), mat(16, 784)), (mat(200, 70), mat(70, 90)),
             (mat(6, 80, 50), mat(6, 50, 60, t=True)), (mat(2, 3, 80, 50), mat(2, 3, 50, 60)),
             (mat(80, 50), mat(10, 50, 60)), (mat(8, 32, 100), mat(100, 60)), (mat(1, 1000), mat(1000, 1100))]
    for a, b in cases:
        want = np.matmul(a.astype(np.float64), b.astype(np.float64))
        got = gemm.mm(a, b)
        assert got is not None and got.shape == want.shape and got.dtype == dtype
        np.testing.assert_allclose(got, want, **tol)
        out = np.full(want.shape, np.nan, dtype)
        assert gemm.mm(a, b, out) is out
        np.testing.assert_allclose(out, want, **tol)
    x = rng.standard_normal((5, 1, 60, 80)).astype(dtype)          # a size-1 dim with any stride
    x = np.lib.stride_tricks.as_strided(x, x.shape, (x.strides[0], 999, x.strides[2], x.strides[3]))
    y = mat(5, 1, 80, 50)
    np.testing.assert_allclose(gemm.mm(x, y), np.matmul(x, y), **tol)
    # what it leaves to numpy
    assert gemm.mm(mat(2, 3), mat(3, 2)) is None                            # tiny
    assert gemm.mm(mat(64, 256), mat(256, 32)) is None    # < 1M multiply-adds: numpy's is faster
    assert gemm.mm(mat(200, 100), mat(100, 60).astype(np.float16)) is None  # mixed dtypes
    at = mat(3, 2, 80, 50).transpose(1, 0, 2, 3)                            # heads split off, then
    np.testing.assert_allclose(gemm.mm(at, y2 := mat(2, 3, 50, 60)), np.matmul(at, y2), **tol)  # transposed
    assert gemm.mm(mat(200, 100), mat(100, 60), np.empty((200, 60), np.float16)) is None


def test_pool_runs_jobs_from_several_python_threads_and_in_a_forked_child():
    """The VM's thread pool: concurrent callers (one takes the pool, the others run on
    their own thread) and a forked child (no workers inherited) all get exact results."""
    import os
    import threading
    from pyrch._C import gemm
    n = 1 << 18
    k = fused.compile_group(2, [("mul", [0, 1], {}), ("add", [2, 0], {})], [3], np.float32)
    rng = np.random.default_rng(5)
    xs = [(rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32))
          for _ in range(4)]
    a, b = rng.standard_normal((300, 200)), rng.standard_normal((200, 100))
    errors = []

    def work(i):
        try:
            for _ in range(30):
                x, y = xs[i]
                out = np.empty(n, np.float32)
                k([x, y], [out])
                if not np.array_equal(out, x * y + x):
                    errors.append(f"thread {i}: wrong VM result")
                if not np.allclose(gemm.mm(a, b), a @ b):
                    errors.append(f"thread {i}: wrong GEMM result")
        except Exception as e:      # noqa: BLE001 - reported below
            errors.append(repr(e))
    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[:3]
    pid = os.fork()
    if pid == 0:                    # the child: the pool starts afresh
        ok = True
        try:
            x, y = xs[0]
            out = np.empty(n, np.float32)
            k([x, y], [out])
            ok = np.array_equal(out, x * y + x) and np.allclose(gemm.mm(a, b), a @ b)
        finally:
            os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


@pytest.mark.parametrize("n", [5, 3000])
def test_outputs_written_in_place_over_an_input_still_read_the_old_input(n):
    """An output may be computed straight into its array, but not when that array is
    also an input the program reads later (an optimizer writing p while reading p)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    a0 = a.copy()
    k = fused.compile_group(2, [("add", (0, 1), {}), ("mul", (0, 2), {})], [2, 3], "float32")
    other = np.empty_like(a)
    k([a, b], [a, other])                       # output 0 overwrites input 0
    np.testing.assert_array_equal(a, a0 + b)
    np.testing.assert_array_equal(other, a0 * (a0 + b))
    out0, out1 = np.empty_like(a), np.empty_like(a)
    k([a0, b], [out0, out1])                    # disjoint outputs: the direct path
    np.testing.assert_array_equal(out0, a0 + b)
    np.testing.assert_array_equal(out1, a0 * (a0 + b))


# -- the small-product kernels (smallgemm.c) ---------------------------------------------

def _small_on():
    return bool(C._lib.pyrch_small_sgemm_kind(0, 0, 4, 64, 64))


def _mkl(on):
    """Route float32 products to MKL (on, where it loaded) or not; returns whether it is."""
    return bool(C._lib.pyrch_set_mkl(int(on)))


@pytest.fixture
def no_mkl():
    """pyrch's own kernels and OpenBLAS for the test, MKL (if loaded) again after it."""
    _mkl(0)
    yield
    _mkl(C.mkl is not None)


def test_mkl_is_used_where_installed():
    import importlib.metadata
    import os
    try:
        importlib.metadata.version("mkl")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the optional mkl package is not installed: OpenBLAS takes every product")
    if os.environ.get("PYRCH_BLAS", "").lower() == "openblas":
        pytest.skip("PYRCH_BLAS=openblas turns MKL off")
    assert C.mkl is not None and _mkl(1), "mkl is installed but pyrch/_C did not load it"
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((200, 300)).astype(np.float32), rng.standard_normal((300, 100)).astype(np.float32)
    np.testing.assert_allclose(gemm.mm(a, b), a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)
    assert not C._lib.pyrch_use_mkl(b"/nonexistent/libmkl_rt.so")     # a bad path changes nothing
    assert _mkl(1)


def test_mkl_keeps_32_bit_ints_whatever_the_environment_asks():
    """MKL_INTERFACE_LAYER=ILP64 would make MKL read pyrch's int arguments as 64-bit
    ones; pyrch sets the LP64 layer itself (or leaves MKL unloaded)."""
    import subprocess
    import sys
    code = ("import numpy as np; from pyrch._C import gemm; r = np.random.default_rng(0); "
            "a = r.random((200, 300), np.float32); b = r.random((300, 100), np.float32); "
            "print(float(np.abs(gemm.mm(a, b) - a.astype(np.float64) @ b).max()))")
    env = dict(__import__("os").environ, MKL_INTERFACE_LAYER="ILP64", MKL_THREADING_LAYER="INTEL")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip()) < 1e-3


def test_mkl_leaves_a_later_pytorch_its_threads():
    """libmkl_rt puts its layer's symbols in the global scope, where a PyTorch imported
    afterwards binds its own MKL's internal calls to them. pyrch's MKL must therefore
    keep MKL's process-wide thread count (pyrch's calls take one thread on the calling
    thread only): under the sequential layer every PyTorch GEMM ran on one thread."""
    import os
    import subprocess
    import sys
    if C.mkl is None:
        pytest.skip("MKL is not loaded (the optional mkl package, or PYRCH_BLAS=openblas)")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: MKL would use one thread anyway")
    code = ("import ctypes, numpy as np, pyrch._C as C; from pyrch._C import gemm; "
            "a = np.ones((300, 300), np.float32); "
            "assert np.all(gemm.mm(a, a) == 300); "     # the product loads MKL's layer
            "print(C._lib.pyrch_mkl_threaded(), "
            "ctypes.CDLL(C.mkl, mode=ctypes.RTLD_LOCAL).MKL_Get_Max_Threads())")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_"))}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    threaded, max_threads = map(int, out.stdout.split())
    if not threaded:
        import ctypes
        try:
            ctypes.CDLL("libgomp.so.1")
        except OSError:
            pytest.skip("no libgomp.so.1 on this machine: MKL stays on its sequential layer")
        pytest.fail("libgomp.so.1 loads, yet pyrch's MKL is not on the GNU OpenMP layer")
    assert max_threads == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("layout", ["nn", "tn", "nt", "tt"])
def test_small_product_kernels_match_numpy_for_every_tile_and_tail(layout, no_mkl):
    """Every register-tile size (rows 1-7, vector tails, k tails and blocks of k, which
    add to C), operands that are transposed views or slices of wider arrays, and no
    write past the output."""
    rng = np.random.default_rng(3)
    dims = [(1, 1, 1), (2, 15, 3), (3, 16, 16), (4, 17, 17), (5, 63, 33), (6, 64, 5), (7, 65, 100),
            (13, 130, 31), (16, 784, 512), (32, 47, 9), (200, 20, 40), (300, 784, 16), (40, 5, 700),
            (64, 33, 33), (70, 100, 37), (131, 257, 300), (97, 65, 1024)]    # medium: both sides > 32
    for m, n, k in dims:
        if layout[0] == "t":
            a = rng.standard_normal((k, m + 3)).astype(np.float32)[:, 1:m + 1].T   # transposed slice
        else:
            a = rng.standard_normal((m, k + 5)).astype(np.float32)[:, 2:k + 2]     # rows wider than k
        if layout[1] == "t":
            b = rng.standard_normal((n, k)).astype(np.float32).T
        else:
            b = rng.standard_normal((k, n + 7)).astype(np.float32)[:, :n]
        small = C._lib.pyrch_small_sgemm_kind(int(layout[0] == "t"), int(layout[1] == "t"), m, n, k)
        if _small_on() and (layout[1] == "n" and min(m, k) <= 32 or layout == "nt" and min(m, n) <= 32):
            assert small, (layout, m, n, k)
        if _small_on() and m >= 64 and n > 32 and k <= 1024:   # medium: the packed kernel
            assert small == (4 if layout[1] == "t" else 3) or min(m, k) <= 32, (layout, m, n, k)
        flat = np.full(m * n + 32, 7.0, np.float32)
        out = flat[:m * n].reshape(m, n)
        gemm.matmul(a, b, out)
        ref = a.astype(np.float64) @ b.astype(np.float64)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.sqrt(k), err_msg=f"{m}x{k}x{n}")
        assert (flat[m * n:] == 7.0).all(), "wrote past the output"


def test_small_product_kernels_agree_with_openblas_on_threads(no_mkl):
    """The same products with the kernels off (OpenBLAS) and on, and through MKL where it
    loaded, split across threads."""
    rng = np.random.default_rng(4)
    shapes = [((16, 784), (784, 512)), ((512, 16), (16, 784)), ((16, 256), (256, 512)),
              ((6, 25), (25, 50176)), ((64, 6, 25), (64, 25, 784)), ((128, 784), (784, 512)),
              ((1024, 128), (128, 384)), ((512, 128), (128, 784)), ((384, 1024), (1024, 128))]
    try:
        for sa, sb in shapes:
            a = rng.standard_normal(sa).astype(np.float32)
            b = rng.standard_normal(sb).astype(np.float32)
            got = {}
            for on in (0, 1):
                C._lib.pyrch_set_small_gemm(on)
                got[on] = gemm.mm(a, b)
                assert got[on] is not None
            np.testing.assert_allclose(got[1], got[0], rtol=1e-5, atol=1e-4)
            wt = np.ascontiguousarray(b.swapaxes(-1, -2)).swapaxes(-1, -2)    # x @ W.T layout
            np.testing.assert_allclose(gemm.mm(a, wt), got[0], rtol=1e-5, atol=1e-4)
            gt = np.ascontiguousarray(a.swapaxes(-1, -2)).swapaxes(-1, -2)    # g.T @ x layout
            np.testing.assert_allclose(gemm.mm(gt, b), got[0], rtol=1e-5, atol=1e-4)
            if _mkl(1):
                for x, y in ((a, b), (a, wt), (gt, b)):
                    np.testing.assert_allclose(gemm.mm(x, y), got[0], rtol=1e-5, atol=1e-4)
                _mkl(0)
    finally:
        C._lib.pyrch_set_small_gemm(1)


# -- summed outputs (a reduction computed in the program's pass) ---------------------------

@pytest.mark.parametrize("threads", [1, 2])
def test_summed_outputs_match_numpy(threads):
    """Sums over leading, trailing, middle and all dims, beside a stored output and
    from broadcast inputs, on one and two threads."""
    rng = np.random.default_rng(5)
    k = fused.compile_group(2, [("mul", (0, 1), {}), ("exp", (2,), {})], [3, 2, 3, 2, 3],
                            "float32", acc=[False, True, True, True, True])
    before = C.get_num_threads()
    C.set_num_threads(threads)
    try:
        for shape in [(3, 5, 7), (64, 1000), (2, 3, 4096), (1, 1, 1), (300, 17)]:
            x = rng.standard_normal(shape).astype(np.float32)
            y = rng.standard_normal(shape[-1:]).astype(np.float32)        # broadcast
            keeps = [tuple(1 if d == 0 else n for d, n in enumerate(shape)),     # leading
                     tuple(1 if d == len(shape) - 1 else n for d, n in enumerate(shape)),
                     (1,) * len(shape),                                          # all
                     tuple(1 if 0 < d < len(shape) - 1 or len(shape) == 2 and d == 1 else n
                           for d, n in enumerate(shape))]
            stored = np.empty(shape, np.float32)
            sums = [np.full(ks, np.nan, np.float32) for ks in keeps]
            k([x, y], [stored] + sums)
            m = (x.astype(np.float64) * y)
            np.testing.assert_allclose(stored, np.exp(m).astype(np.float32), rtol=1e-5)
            for ks, got, val in zip(keeps, sums, [m, np.exp(m), m, np.exp(m)]):
                axes = tuple(d for d, n in enumerate(ks) if n == 1 and shape[d] != 1)
                ref = val.sum(axis=axes, keepdims=True) if axes else val
                np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4, err_msg=f"{shape} {ks}")
    finally:
        C.set_num_threads(before)


def test_summed_outputs_are_checked():
    k = fused.compile_group(1, [("neg", (0,), {})], [1], "float32", acc=[True])
    x = np.ones((4, 8), np.float32)
    with pytest.raises(ValueError, match="keepdims form"):
        k([x], [np.empty(4, np.float32)], (4, 8))              # not in keepdims form
    with pytest.raises(ValueError, match="keepdims form"):
        k([x], [np.empty((2, 8), np.float32)], (4, 8))
    with pytest.raises(ValueError):
        fused.compile_group(1, [("neg", (0,), {})], [1], "float32", acc=[True, False])
    big = np.ones((1 << 21, 2), np.float32)                   # more sums than partials allowed
    with pytest.raises(RuntimeError):
        k([big], [np.empty((1 << 21, 1), np.float32)], big.shape)
    out = np.empty((1, 8), np.float32)
    k([x], [out], (4, 8))
    np.testing.assert_array_equal(out, np.full((1, 8), -4.0, np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_batches_that_take_two_strides(dtype):
    """Batch dims that do not collapse into one stride (attention: heads split off a
    projection, then transposed) run in place with two batch strides, not copied."""
    rng = np.random.default_rng(6)
    qkv = rng.standard_normal((5, 24, 3 * 64)).astype(dtype)
    heads = [qkv[:, :, i * 64:(i + 1) * 64].reshape(5, 24, 4, 16).transpose(0, 2, 1, 3)
             for i in range(3)]
    q, k, v = heads
    assert gemm._two_level(q, k.swapaxes(-1, -2)) is not None
    att = rng.standard_normal((5, 4, 24, 24)).astype(dtype)
    x5 = rng.standard_normal((3, 2, 4, 40, 30)).astype(dtype).transpose(2, 0, 1, 3, 4)   # 5-D
    y5 = rng.standard_normal((4, 3, 2, 30, 50)).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for a, b in [(q, k.swapaxes(-1, -2)), (att, v), (att.swapaxes(-1, -2), v), (x5, y5)]:
        ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
        got = gemm.mm(a, b)
        if got is None:                     # below the size gemm.mm takes: force it
            got = np.empty(ref.shape, dtype)
            L, F = C._lib, C._ffi
            two = gemm._two_level(a, b)
            assert two is not None
            batch = int(np.prod(a.shape[:-2]))
            m, kk = a.shape[-2:]
            n = b.shape[-1]
            g = gemm._struct(F, a, b, got, gemm._layout(a), gemm._layout(b), (batch, m, n, kk),
                             (two[1], two[3], m * n), n, got.nbytes)
            g.batch_in, g.stride_a_in, g.stride_b_in = two[0], two[2], two[4]
            g.alpha, g.nthreads = 1.0, 2
            assert L.pyrch_gemm(g) == 0
        np.testing.assert_allclose(got, ref, **tol)


_ONES_448 = np.ones((4, 8, 8), np.float32)     # (alive for as long as a struct points at it)


def _two_level_struct(out, batch_in, sa, sa_in, sc=64, sc_in=0):
    """A 4 x (8x8 @ 8x8) float32 GEMM over ones, batch entries split in two levels."""
    from pyrch._C import gemm
    a = b = _ONES_448
    g = gemm._struct(C._ffi, a, b, out, gemm._layout(a), gemm._layout(b), (4, 8, 8, 8),
                     (sa, 64, sc), 8, out.nbytes)
    g.batch_in, g.stride_a_in, g.stride_b_in, g.stride_c_in = batch_in, sa_in, 0, sc_in
    g.alpha, g.nthreads = 1.0, 1
    return g


def test_gemm_two_level_batches_are_bounds_checked():
    """A batch count the inner level does not divide, or strides reaching past a buffer,
    are rejected before any product runs (never read out of bounds)."""
    out = np.empty((4, 8, 8), np.float32)
    L = C._lib
    assert L.pyrch_gemm(_two_level_struct(out, 2, 128, 64)) == 0     # 2 x 2 entries, inside a
    assert L.pyrch_gemm(_two_level_struct(out, 3, 128, 64)) != 0     # 3 does not divide 4
    assert L.pyrch_gemm(_two_level_struct(out, 2, 128, 100)) != 0    # inner stride past a
    assert L.pyrch_gemm(_two_level_struct(out, 2, 1000, 64)) != 0    # outer stride past a
    assert L.pyrch_gemm(_two_level_struct(out, 2, 128, -64)) != 0    # negative strides


def test_gemm_into_a_permuted_view_writes_exactly_the_product():
    """mm_into writes a batched product straight into another layout (attention's
    (B, H, T, D) as a view of a (B, T, H, D) buffer, or of a slice of a wider one) and
    touches nothing else of that buffer."""
    from pyrch._C import gemm
    rng = np.random.default_rng(11)
    B, H, T, K, D = 4, 3, 64, 48, 40
    a = rng.standard_normal((B, H, T, K)).astype(np.float32)
    b = rng.standard_normal((B, H, K, D)).astype(np.float32)
    bt = rng.standard_normal((B, H, D, K)).astype(np.float32).swapaxes(-1, -2)
    for w in (b, bt):
        ref = np.matmul(a.astype(np.float64), w.astype(np.float64))
        base = np.full((B, T, H, D), np.nan, np.float32)
        assert gemm.mm_into(a, w, base.transpose(0, 2, 1, 3)) is not None
        np.testing.assert_allclose(base.transpose(0, 2, 1, 3), ref, rtol=1e-5, atol=1e-4)
        wide = np.full((B, T, 3 * H * D), np.nan, np.float32)
        view = wide[:, :, H * D:2 * H * D].reshape(B, T, H, D).transpose(0, 2, 1, 3)
        assert gemm.mm_into(a, w, view) is not None
        np.testing.assert_allclose(view, ref, rtol=1e-5, atol=1e-4)
        assert np.isnan(wide[:, :, :H * D]).all() and np.isnan(wide[:, :, 2 * H * D:]).all()
    # what it does not take: float64, mismatched batch dims, rows without unit stride
    assert gemm.mm_into(a.astype(np.float64), b.astype(np.float64),
                        np.empty((B, H, T, D))) is None
    assert gemm.mm_into(a, b[:2], np.empty((2, H, T, D), np.float32)) is None
    assert gemm.mm_into(a, b, np.empty((B, H, D, T), np.float32).swapaxes(-1, -2)) is None


def test_gemm_two_level_output_is_bounds_checked():
    """C's two-level batch strides (stride_c, stride_c_in) are checked against its buffer
    like A's and B's: an inner stride without an inner count, a negative one, or one
    reaching past C is refused before any product runs."""
    out = np.zeros((4, 8, 8), np.float32)
    L = C._lib
    assert L.pyrch_gemm(_two_level_struct(out, 2, 128, 64, 128, 64)) == 0
    assert (out == 8).all()
    assert L.pyrch_gemm(_two_level_struct(out, 1, 64, 0, 64, 64)) != 0        # no inner count
    assert L.pyrch_gemm(_two_level_struct(out, 2, 128, 64, 128, -64)) != 0    # negative
    assert L.pyrch_gemm(_two_level_struct(out, 2, 128, 64, 128, 100)) != 0    # inner past C
    assert L.pyrch_gemm(_two_level_struct(out, 2, 128, 64, 1 << 62, 64)) != 0  # would wrap


def test_vectorised_exp_is_within_one_ulp_and_keeps_ieee_specials():
    """The C VM's float32 exp (pyrch_expf, also inside erf, tanh, sigmoid, softmax...):
    within 1 ulp of the float64 result over the whole finite range, inf above
    ln(FLT_MAX), 0 below ln(FLT_MIN) (documented: no subnormal results), NaN kept."""
    k = fused.compile_group(1, [("exp", (0,), {})], [1], np.float32)
    rng = np.random.default_rng(3)
    f32 = np.float32
    hi = f32(88.72283172607421875)              # the largest float with a finite exp
    lo = f32(-87.33654022216796875)             # the smallest float with a normal exp
    x = np.concatenate([
        np.linspace(lo, hi, 2_000_001, dtype=f32),
        rng.uniform(-1, 1, 200_000).astype(f32) * f32(1e-3),
        np.array([hi, np.nextafter(hi, f32(np.inf)), np.nextafter(hi, f32(0)), lo,
                  np.nextafter(lo, f32(0)), np.nextafter(lo, f32(-np.inf)), 0.0, -0.0, 1e-45,
                  -1e-45, np.log(f32(2)) * 64, np.inf, -np.inf, np.nan, 100.0, -100.0], f32)])
    y = np.empty_like(x)
    k([x], [y])
    ref = np.exp(x.astype(np.float64))
    finite = np.isfinite(x) & (x >= lo) & (x <= hi)
    ulp = np.spacing(ref[finite].astype(f32)).astype(np.float64)
    err = np.abs(y[finite].astype(np.float64) - ref[finite]) / ulp
    assert err.max() <= 1.0, f"max error {err.max():.3f} ulp at x={x[finite][err.argmax()]!r}"
    assert np.all(y[finite] >= np.finfo(f32).tiny) and np.all(np.isfinite(y[finite]))
    assert np.all(y[x > hi] == np.inf) and np.all(y[x < lo] == 0) and np.isnan(y[np.isnan(x)]).all()
    assert np.all(y[x == 0] == 1.0)


def _ulp_error(y, ref):
    """|y - ref| in ulps of float32 at the exact value ref (float64): the spacing of the
    float32 binade ref lies in, so a value just below 1 counts in 2^-24s even where it
    rounds to 1; 2^-149 below the normal range."""
    _, e = np.frexp(np.abs(ref))                      # |ref| = m * 2^e, m in [0.5, 1)
    ulp = np.ldexp(1.0, np.maximum(e - 24, -149))
    return np.abs(y.astype(np.float64) - ref) / ulp


def _sampled_f32(lo, hi, rng):
    """Finite float32s for the accuracy tests: every 4099th bit pattern (all binades,
    both signs), a dense grid over [lo, hi], random points there, tiny and subnormal."""
    f32 = np.float32
    bits = np.arange(0, 2 ** 32, 4099, dtype=np.uint64).astype(np.uint32).view(f32)
    return np.concatenate([bits[np.isfinite(bits)],
                           np.linspace(lo, hi, 2_000_001, dtype=f32),
                           rng.uniform(lo, hi, 1_000_000).astype(f32),
                           np.geomspace(1e-45, 1.0, 100_000).astype(f32)])


def test_vectorised_erf_accuracy_and_specials():
    """The C VM's float32 erf (two polynomials, also inside gelu and its gradient):
    within 1.5 ulp of float64 erf over the float32 range (1.39 measured over every
    float32; the rational fit before it was 6.8 ulp), odd, +-1 from 3.95 on and at
    +-inf, NaN kept."""
    import math
    k = fused.compile_group(1, [("erf", (0,), {})], [1], np.float32)
    f32 = np.float32
    x = np.concatenate([_sampled_f32(-5, 5, np.random.default_rng(4)),
                        np.array([0.0, -0.0, 1.0, np.nextafter(f32(1), f32(0)), 3.95,
                                  np.nextafter(f32(3.95), f32(0)), 10.0, 1e30, 3.4e38,
                                  np.inf, -np.inf, np.nan], f32)])
    y = np.empty_like(x)
    k([x], [y])
    fin = np.isfinite(x)
    ref = np.frompyfunc(lambda v: math.erf(v), 1, 1)(x[fin].astype(np.float64)).astype(np.float64)
    err = _ulp_error(y[fin], ref)
    assert err.max() <= 1.5, f"max error {err.max():.3f} ulp at x={x[fin][err.argmax()]!r}"
    neg = np.empty_like(x)
    k([-x], [neg])
    np.testing.assert_array_equal(neg[fin], -y[fin])                # odd, bit for bit
    assert np.all(np.abs(y[fin & (np.abs(x) >= 3.95)]) == 1)
    assert y[x == np.inf].tolist() == [1.0] and y[x == -np.inf].tolist() == [-1.0]
    assert np.isnan(y[np.isnan(x)]).all() and np.all(np.abs(y[fin]) <= 1)
    z = y[x == 0]
    assert (z == 0).all() and (np.signbit(z) == np.signbit(x[x == 0])).all()


def test_vectorised_tanh_accuracy_and_specials():
    """The C VM's float32 tanh (a polynomial near 0, 1 - 2 / (e^(2|x|) + 1) from 0.7 on;
    also GEMM epilogues and GELU-tanh): within 1.25 ulp of float64 tanh over the float32
    range (1.07 measured over every float32; the rational fit before it was 5.7 ulp),
    tanh(x) = x for tiny x, odd, +-1 from |x| >= 9 on (where float32 tanh rounds to
    +-1, or to 1 - 2^-24 up to 9.0103) and at +-inf, NaN kept."""
    k = fused.compile_group(1, [("tanh", (0,), {})], [1], np.float32)
    f32 = np.float32
    x = np.concatenate([_sampled_f32(-12, 12, np.random.default_rng(5)),
                        np.array([0.0, -0.0, 0.7, np.nextafter(f32(0.7), f32(0)), 9.0,
                                  np.nextafter(f32(9), f32(0)), 9.5, 44.0, 89.0, 1e30,
                                  3.4e38, np.inf, -np.inf, np.nan], f32)])
    y = np.empty_like(x)
    k([x], [y])
    fin = np.isfinite(x)
    err = _ulp_error(y[fin], np.tanh(x[fin].astype(np.float64)))
    assert err.max() <= 1.25, f"max error {err.max():.3f} ulp at x={x[fin][err.argmax()]!r}"
    neg = np.empty_like(x)
    k([-x], [neg])
    np.testing.assert_array_equal(neg[fin], -y[fin])                # odd, bit for bit
    tiny = fin & (np.abs(x) < 2 ** -13)                             # x^3/3 under ulp/4
    np.testing.assert_array_equal(y[tiny], x[tiny])                 # signed zeros too
    assert (np.signbit(y[tiny]) == np.signbit(x[tiny])).all()
    assert np.all(np.abs(y[np.abs(x) >= 9]) == 1) and np.isnan(y[np.isnan(x)]).all()
    assert np.all(np.abs(y[fin]) <= 1)


# -- pyrch_run_steps: a run of plan steps in one call (pyrch/_C/steps.c) ------------------
def _gemm_desc(F, a, b, c, nbytes_c=None):
    g = F.new("pyrch_gemm_t *")
    g.dtype, g.nthreads, g.batch, g.alpha = 0, 1, 1, 1.0
    g.m, g.k = a.shape
    g.n = b.shape[1]
    g.lda, g.ldb, g.ldc = a.shape[1], b.shape[1], c.shape[1]
    g.a, g.b, g.c = F.from_buffer(a), F.from_buffer(b), F.from_buffer(c)
    g.nbytes_a, g.nbytes_b = a.nbytes, b.nbytes
    g.nbytes_c = c.nbytes if nbytes_c is None else nbytes_c
    return g


def test_run_steps_runs_in_order_and_refuses_malformed_lists():
    L, F = C.lib(), C.ffi()
    failed = F.new("int32_t *")
    assert L.pyrch_run_steps(F.NULL, 0, failed) == 0 and failed[0] == -1
    assert L.pyrch_run_steps(F.NULL, 1, failed) != 0 and failed[0] == -1
    assert L.pyrch_run_steps(F.NULL, -1, failed) != 0 and failed[0] == -1
    rng = np.random.default_rng(0)
    a = rng.standard_normal((8, 5)).astype(np.float32)
    b = rng.standard_normal((5, 6)).astype(np.float32)
    ab = np.empty((8, 6), np.float32)
    w = rng.standard_normal((6, 3)).astype(np.float32)
    out = np.empty((8, 3), np.float32)
    steps = F.new("pyrch_step_t[]", 3)
    g1, g2 = _gemm_desc(F, a, b, ab), _gemm_desc(F, ab, w, out)
    steps[0].kind, steps[0].desc = 1, g1
    steps[1].kind, steps[1].desc = 1, g2        # reads what step 0 wrote
    assert L.pyrch_run_steps(steps, 2, failed) == 0
    np.testing.assert_allclose(out, (a @ b) @ w, rtol=1e-5, atol=1e-5)
    steps[1].kind = 9                            # no such kind
    assert L.pyrch_run_steps(steps, 2, failed) == -3 and failed[0] == 1     # PYRCH_E_OPCODE
    steps[1].kind, steps[1].desc = 2, F.NULL     # no description
    assert L.pyrch_run_steps(steps, 2, failed) != 0 and failed[0] == 1
    # an output that does not fit the bytes it claims: refused before anything is written
    out[...] = 7
    bad = _gemm_desc(F, ab, w, out, nbytes_c=out.nbytes - 4)     # kept alive: desc only points
    steps[1].kind, steps[1].desc = 1, bad
    assert L.pyrch_run_steps(steps, 2, failed) != 0 and failed[0] == 1
    assert (out == 7).all()
    # a fused program with a bad opcode, after a good step
    s = F.new("pyrch_fused_t *")
    code = np.array([[10_000, 0, 0, 0, 0]], np.int32)
    s.n_instr, s.code = 1, F.cast("const int32_t *", code.ctypes.data)
    steps[1].kind, steps[1].desc = 2, s
    assert L.pyrch_run_steps(steps, 2, failed) != 0 and failed[0] == 1


@pytest.mark.parametrize("seed", range(20))
def test_run_steps_random_malformed_lists_never_crash(seed):
    """Random kinds, NULL and garbage-count descriptions: every list is either run or
    refused with a status (the sanitizer build checks nothing is read out of bounds)."""
    L, F = C.lib(), C.ffi()
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((4, 4)).astype(np.float32)
    c = np.empty((4, 4), np.float32)
    n = int(rng.integers(1, 6))
    steps = F.new("pyrch_step_t[]", n)
    keep = []
    for i in range(n):
        kind = int(rng.choice([0, 1, 2, 3, 4, -1]))
        if kind == 1:
            g = _gemm_desc(F, a, a, c)
            field = str(rng.choice(["m", "n", "k", "lda", "ldc", "nbytes_a", "nbytes_c", "batch"]))
            setattr(g, field, int(rng.choice([-3, 0, 5, 1 << 40])))
            desc = g
        elif kind == 2:
            s = F.new("pyrch_fused_t *")
            s.n_instr, s.n_regs, s.n_in, s.n_out = (int(x) for x in rng.integers(-2, 5, 4))
            desc = s
        elif kind == 4:
            desc = F.new("pyrch_call_t *")              # zeroed: no kernel, or counts of 0
            desc.fn = int(rng.integers(0, 7))
        else:
            desc = F.NULL if rng.random() < 0.5 else F.new("pyrch_gemm_t *")
        keep.append(desc)
        steps[i].kind, steps[i].desc = kind, desc
    failed = F.new("int32_t *")
    rc = L.pyrch_run_steps(steps, n, failed)
    assert rc <= 0 and (rc == 0) == (failed[0] == -1)


class _FakeProgram:
    """Stands in for segments.Program: records its callbacks, answers what it is told."""

    def __init__(self, answers):
        self._v, self._error, self.answers, self.seen = [], None, answers, []

    def _callback(self, i):
        self.seen.append(i)
        r = self.answers[i]
        if isinstance(r, BaseException):
            raise r
        return r


def test_run_steps_calls_python_steps_and_refuses_unknown_tokens_and_long_skips():
    """PYRCH_STEP_PYTHON: pyrch_run_steps calls back into Python (cffi def_extern) and
    skips what Python says it ran; an unknown token, a failure or a skip past the end of
    the list stops the run with its index."""
    from pyrch.jit import segments as S
    L, F = C.lib(), C.ffi()
    failed = F.new("int32_t *")
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 4)).astype(np.float32)
    c = np.zeros((4, 4), np.float32)
    S.attach(F)
    prog = _FakeProgram({0: 1, 1: 2, 2: 0, 3: 9, 4: ValueError("boom")})
    token = next(S._TOKENS)
    S._PROGRAMS[token] = prog
    descs = [F.new("pyrch_pystep_t *") for _ in range(5)]
    for i, d in enumerate(descs):
        d.token, d.id = token, i
    gemm = _gemm_desc(F, a, a, c)
    steps = F.new("pyrch_step_t[]", 4)
    steps[0].kind, steps[0].desc = 3, descs[0]       # run, go on
    steps[1].kind, steps[1].desc = 1, gemm
    steps[2].kind, steps[2].desc = 3, descs[1]       # run, skip the next step
    steps[3].kind, steps[3].desc = 1, F.NULL         # (would be refused if run)
    assert L.pyrch_run_steps(steps, 4, failed) == 0 and failed[0] == -1
    assert prog.seen == [0, 1]
    np.testing.assert_allclose(c, a @ a, rtol=1e-5, atol=1e-6)
    steps[2].desc = descs[2]                          # Python refuses
    assert L.pyrch_run_steps(steps, 4, failed) == -12 and failed[0] == 2
    steps[2].desc = descs[3]                          # a skip past the end
    assert L.pyrch_run_steps(steps, 4, failed) == -2 and failed[0] == 2
    steps[2].desc = descs[4]                          # raises: kept for the caller
    assert L.pyrch_run_steps(steps, 4, failed) == -12 and failed[0] == 2
    assert isinstance(prog._error, ValueError)
    unknown = F.new("pyrch_pystep_t *")
    unknown.token, unknown.id = -5, 0
    steps[0].desc = unknown
    n_seen = len(prog.seen)
    assert L.pyrch_run_steps(steps, 4, failed) == -12 and failed[0] == 0
    prog._v = None                                     # not running: refused too
    steps[0].desc = descs[0]
    assert L.pyrch_run_steps(steps, 4, failed) == -12 and failed[0] == 0
    assert len(prog.seen) == n_seen


def _call_desc(F, fn, ins, outs, ints, eps=1e-5, nthreads=2):
    from pyrch._C import rows
    return rows.call_struct(fn, ins, outs, ints, eps, nthreads)


def test_call_structs_run_the_row_kernels_and_refuse_lying_ones():
    """pyrch_call (a row kernel's arguments in a struct, as a traced plan records them):
    each kernel's result, and a refusal, with nothing written, for a size that does not
    fit, an unknown kernel, a flag out of range or a NULL."""
    from pyrch._C import rows
    L, F = C.lib(), C.ffi()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 10)).astype(np.float32)
    g = rng.standard_normal((6, 10)).astype(np.float32)
    w = rng.standard_normal(10).astype(np.float32)
    b = rng.standard_normal(10).astype(np.float32)
    t = rng.integers(0, 10, 6)
    y, out, out2, out3 = (np.full_like(a, 7) for a in (x, x, w, w))
    ok = [(rows.SOFTMAX, (x,), (y,), (6, 10, 0), lambda: rows.softmax(x)),
          (rows.SOFTMAX, (x,), (y,), (6, 10, 1), lambda: rows.softmax(x, log=True)),
          (rows.SOFTMAX_BACKWARD, (g, x), (y,), (6, 10, 0), lambda: rows.softmax_backward(g, x)),
          (rows.LAYER_NORM, (x, w, b), (y,), (6, 10), lambda: rows.layer_norm(x, w, b, 1e-5, 1)),
          (rows.CE_BACKWARD, (np.float32(0.5).reshape(1), x, t), (y,), (6, 10, 0, 1, -100),
           lambda: rows.cross_entropy_backward(np.array(0.5, np.float32), x, t, -100, True))]
    for fn, ins, outs, ints, want in ok:
        assert L.pyrch_call(_call_desc(F, fn, ins, outs, ints)) == 0
        np.testing.assert_array_equal(y, want())
    assert L.pyrch_call(_call_desc(F, rows.LAYER_NORM_BACKWARD, (g, x, w), (out, out2, out3),
                                   (6, 10))) == 0
    for got, want in zip((out, out2, out3), rows.layer_norm_backward(g, x, w, 1e-5, 1)):
        np.testing.assert_array_equal(got, want)
    y[...] = 7
    bad = [_call_desc(F, rows.SOFTMAX, (x,), (y,), (7, 10, 0)),          # one row too many
           _call_desc(F, rows.SOFTMAX, (x,), (y,), (6, 10, 2)),          # log flag 2
           _call_desc(F, rows.SOFTMAX_BACKWARD, (g, x[:3]), (y,), (6, 10, 0)),
           _call_desc(F, rows.LAYER_NORM, (x, w[:5], b), (y,), (6, 10)),
           _call_desc(F, rows.LAYER_NORM, (x, w, b), (y,), (-1, 10)),
           _call_desc(F, rows.CE_BACKWARD, (np.zeros(1, np.float32), x, t[:2]), (y,), (6, 10, 0, 1, -100)),
           _call_desc(F, rows.CE_BACKWARD, (np.zeros(1, np.float32), x, t), (y,), (6, 10, 1, 1, -100)),
           _call_desc(F, 99, (x,), (y,), (6, 10, 0))]
    nulled = _call_desc(F, rows.LAYER_NORM, (x, w, b), (y,), (6, 10))
    nulled.src[1] = F.NULL
    for c in bad + [nulled]:
        assert L.pyrch_call(c) < 0
    assert L.pyrch_call(F.NULL) < 0
    assert (y == 7).all()
    # a target out of range: PYRCH_E_INDEX, the row in `bad`
    t2 = t.copy()
    t2[4] = 10
    c = _call_desc(F, rows.CE_BACKWARD, (np.ones(1, np.float32), x, t2), (y,), (6, 10, 0, 1, -100))
    assert L.pyrch_call(c) == -11 and c.bad == 4


def test_call_structs_of_the_loss_the_embeddings_the_column_sums_and_adams_scalars():
    """The kernels a traced plan keeps in C since session 13 (cross-entropy with its
    reduction, row gather and scatter-add, column sums, Adam's step scalars): each
    struct gives the wrapper's result, and a lying one is refused with nothing written."""
    from pyrch._C import rows, rowsel
    L, F = C.lib(), C.ffi()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 10)).astype(np.float32)
    t = rng.integers(0, 10, 6)
    idx = np.array([3, 0, 3, 5])
    g = rng.standard_normal((4, 10)).astype(np.float32)
    one, rows6 = np.full((), 7, np.float32), np.full(6, 7, np.float32)
    for red, code, out in (("none", 0, rows6), ("sum", 1, one), ("mean", 2, one)):
        assert L.pyrch_call(_call_desc(F, rows.CE, (x, t), (out,), (6, 10, -100, code))) == 0
        np.testing.assert_array_equal(out, rows.cross_entropy(x, t, -100, red))
    gathered = np.full((4, 10), 7, np.float32)
    assert L.pyrch_call(_call_desc(F, rows.GATHER, (x, idx), (gathered,), (4, 6, 10, 4))) == 0
    np.testing.assert_array_equal(gathered, x[idx])
    table = np.full((6, 10), 7, np.float32)
    assert L.pyrch_call(_call_desc(F, rows.SCATTER_ADD, (g, idx), (table,), (4, 6, 10, 4))) == 0
    want = np.zeros((6, 10), np.float32)
    np.add.at(want, idx, g)
    np.testing.assert_allclose(table, want, rtol=1e-6)
    np.testing.assert_array_equal(table, rowsel.scatter_add_rows(g, idx, 6))
    sums = np.full(10, 7, np.float32)
    assert L.pyrch_call(_call_desc(F, rows.SUM_ROWS, (x,), (sums,), (4, 6, 10))) == 0
    np.testing.assert_array_equal(sums, rowsel.sum_rows(x))
    # Adam's scalars: Python's float arithmetic, rounded once, whatever the operands' dtypes
    for step_dt, hp_dt, out_dt in ((np.float32, np.float64, np.float32), (np.int64, np.float32, np.float64),
                                   (np.float64, np.float64, np.float64)):
        for step in (1, 2, 7, 1000):
            ins = (np.asarray(step, step_dt), np.asarray(3e-4, hp_dt), np.asarray(0.9, hp_dt),
                   np.asarray(0.98, hp_dt))
            a, b = rows.adam_scalars(*ins, out_dt)
            s_, lr, b1, b2 = (float(v) for v in ins)
            assert a.dtype == b.dtype == out_dt and a.shape == b.shape == ()
            assert a == np.asarray(lr / (1 - b1 ** s_), out_dt)
            assert b == np.asarray((1 - b2 ** s_) ** 0.5, out_dt)
    # where Python raises (step 0: lr / 0), the C call refuses and Python computes
    zero = np.asarray(0, np.float32)
    assert rows.adam_scalars(zero, np.asarray(1e-3), np.asarray(0.9), np.asarray(0.99), np.float32) is None
    import pyrch
    from pyrch.ops.nn import _adam_scalars
    with pytest.raises(ZeroDivisionError):
        _adam_scalars.forward(np, zero, np.asarray(1e-3), np.asarray(0.9), np.asarray(0.99),
                              dtype=pyrch.float32)
    # lying structs: refused, nothing written
    one[...] = 7
    gathered[...] = 7
    sums[...] = 7
    table[...] = 7
    bad = [_call_desc(F, rows.CE, (x, t), (one,), (6, 10, -100, 3)),            # reduction 3
           _call_desc(F, rows.CE, (x, t), (one,), (6, 10, -100, 0)),            # 6 losses in 1
           _call_desc(F, rows.CE, (x, t[:3]), (one,), (6, 10, -100, 1)),
           _call_desc(F, rows.GATHER, (x, idx), (gathered,), (4, 7, 10, 4)),     # V past the table
           _call_desc(F, rows.GATHER, (x, idx), (gathered,), (3, 6, 10, 4)),     # element size 3
           _call_desc(F, rows.GATHER, (x, idx), (gathered,), (4, 6, 10, 5)),     # 5 indices
           _call_desc(F, rows.GATHER, (x, idx), (gathered[:2],), (4, 6, 10, 4)),
           _call_desc(F, rows.SCATTER_ADD, (g, idx), (table,), (2, 6, 10, 4)),   # element size 2
           _call_desc(F, rows.SCATTER_ADD, (g[:2], idx), (table,), (4, 6, 10, 4)),
           _call_desc(F, rows.SUM_ROWS, (x,), (sums,), (4, 7, 10)),
           _call_desc(F, rows.SUM_ROWS, (x,), (sums[:5],), (4, 6, 10)),
           _call_desc(F, rows.SUM_ROWS, (x,), (sums,), (1, 6, 10)),
           _call_desc(F, rows.ADAM_SCALARS, (x[0, :1], x[0, :1], x[0, :1], x[0, :1]), (one, sums[:1]),
                      (0, 0, 0, 0, 2)),                                         # int64 outputs
           _call_desc(F, rows.ADAM_SCALARS, (x[0, :1], x[0, :1], x[0, :1], x[0, :1]), (one, sums[:1]),
                      (0, 0, 0, 1, 0)),                                         # a double in 4 bytes
           _call_desc(F, rows.ADAM_SCALARS, (x[0, :1], x[0, :1], x[0, :1], x[0, :1]), (one, sums[:1]),
                      (0, 0, 0, 7, 0))]
    for c in bad:
        assert L.pyrch_call(c) < 0
    assert (one == 7).all() and (gathered == 7).all() and (sums == 7).all() and (table == 7).all()
    # an index out of range: torch's error from the wrappers
    with pytest.raises(IndexError, match="index out of range in self"):
        rowsel.gather_rows(x, np.array([0, 6]))
    with pytest.raises(IndexError, match="Target 10 is out of bounds"):
        rows.cross_entropy(x, np.array([0, 1, 2, 3, 4, 10]), -100, "mean")


@pytest.mark.parametrize("seed", range(30))
def test_random_call_structs_never_crash(seed):
    """Random kernels, counts, flags and (understated) byte sizes over small buffers:
    every struct is run or refused (the sanitizer build checks nothing is touched out of bounds)."""
    L, F = C.lib(), C.ffi()
    rng = np.random.default_rng(seed)
    bufs = [rng.standard_normal(int(rng.integers(0, 40))).astype(np.float32) for _ in range(6)]
    t = rng.integers(-2, 8, int(rng.integers(0, 12)))
    c = F.new("pyrch_call_t *")
    c.fn = int(rng.integers(-1, 12))
    c.nthreads = int(rng.integers(-1, 4))
    keep = []
    for k in range(4):
        a = t if (k in (1, 2) and rng.random() < 0.5) else bufs[k % 3]
        keep.append(a)
        c.src[k] = F.from_buffer(a) if a.size and rng.random() < 0.9 else F.NULL
        # sizes may understate a buffer (refused), never overstate it (C cannot know)
        c.src_nbytes[k] = a.nbytes if rng.random() < 0.8 else int(rng.integers(-8, a.nbytes + 1))
    for k in range(3):
        o = bufs[3 + k]
        c.dst[k] = F.from_buffer(o, require_writable=True) if o.size and rng.random() < 0.9 else F.NULL
        c.dst_nbytes[k] = o.nbytes if rng.random() < 0.8 else int(rng.integers(-8, o.nbytes + 1))
    for k in range(5):
        c.i[k] = int(rng.choice([-1, 0, 1, 2, 3, 5, 8, 1 << 40]))
    c.eps = float(rng.choice([1e-5, 0.0, -1.0]))
    rc = L.pyrch_call(c)
    assert rc <= 0


@pytest.mark.parametrize("log", [False, True])
def test_row_kernel_outputs_of_a_program_and_their_refusals(log):
    """out_acc 2 / 3: a program's output goes through softmax / log-softmax row by row
    (bitwise the row kernel on the stored values); refused for a float64 program, a
    row longer than a block, an output whose rows are not unit-strided, and a
    broadcast (zero-stride) output."""
    from pyrch._C import rows
    kind = fused.LOG_SOFTMAX_ROWS if log else fused.SOFTMAX_ROWS
    body = [("mul", (0, 1), {}), ("add", (2, 0.5), {})]
    k = fused.compile_group(2, body, [3], np.float32, acc=[kind])
    plain = fused.compile_group(2, body, [3], np.float32)
    rng = np.random.default_rng(3)
    for shape in [(7, 33), (2, 3, 1024), (1, 1), (300, 5)]:
        a = rng.standard_normal(shape).astype(np.float32) * 4
        b = rng.standard_normal(shape[-1:]).astype(np.float32)
        out, mid = np.empty(shape, np.float32), np.empty(shape, np.float32)
        k([a, b], [out])
        plain([a, b], [mid])
        np.testing.assert_array_equal(out, rows.softmax(mid, log=log))
    a = np.ones((2, 1025), np.float32)
    with pytest.raises(RuntimeError, match="bad shape"):
        k([a, a[0]], [np.empty_like(a)])
    wide = np.empty((4, 16), np.float32)
    with pytest.raises(RuntimeError, match="stride"):
        k([np.ones((4, 8), np.float32), np.ones(8, np.float32)], [wide[:, ::2]])
    k64 = fused.compile_group(2, body, [3], np.float64, acc=[kind])
    with pytest.raises(RuntimeError, match="dtype"):
        k64([np.ones((4, 8)), np.ones(8)], [np.empty((4, 8))])
    # a broadcast output (a row written over and over): refused in C
    L, F = C.lib(), C.ffi()
    x, y = np.ones((4, 8), np.float32), np.empty((1, 8), np.float32)
    lay = k.prepare([x, x[0]], [np.empty((4, 8), np.float32)])
    s = lay[0]
    st = np.array([0, 4], np.int64)
    s.out_strides = F.cast("const int64_t *", st.ctypes.data)
    s.out_ptr[0] = F.cast("char *", y.ctypes.data)
    s.in_ptr[0] = F.cast("char *", x.ctypes.data)
    s.in_ptr[1] = F.cast("char *", x.ctypes.data)
    assert s.ndim == 2
    assert L.pyrch_fused_run(s) == -6          # PYRCH_E_STRIDE


def test_python_mirrors_of_the_c_enums_match_the_built_extension():
    """The numbers Python writes into C structs (step kinds, row-kernel calls, output
    kinds, attention operands) are the C headers' enums, as compiled."""
    from pyrch._C import attn, rows
    from pyrch.jit import segments
    L = C.lib()
    assert (segments.GEMM, segments.FUSED, segments.PYTHON, segments.CALL, segments.ATTN) == \
        (L.PYRCH_STEP_GEMM, L.PYRCH_STEP_FUSED, L.PYRCH_STEP_PYTHON, L.PYRCH_STEP_CALL,
         L.PYRCH_STEP_ATTN)
    assert (rows.SOFTMAX, rows.SOFTMAX_BACKWARD, rows.LAYER_NORM, rows.LAYER_NORM_BACKWARD,
            rows.CE_BACKWARD) == \
        (L.PYRCH_CALL_SOFTMAX, L.PYRCH_CALL_SOFTMAX_BACKWARD, L.PYRCH_CALL_LAYER_NORM,
         L.PYRCH_CALL_LAYER_NORM_BACKWARD, L.PYRCH_CALL_CE_BACKWARD)
    assert (fused.SOFTMAX_ROWS, fused.LOG_SOFTMAX_ROWS) == \
        (L.PYRCH_OUT_SOFTMAX, L.PYRCH_OUT_LOG_SOFTMAX)
    names = ("Q", "K", "V", "MASK", "P", "O", "G", "DQ", "DK", "DV")
    assert [getattr(attn, n) for n in names] == [getattr(L, "PYRCH_ATTN_" + n) for n in names]
    assert attn.NARGS == L.PYRCH_ATTN_NARGS
