"""Fused attention: the C kernel (pyrch/_C/attn.c) against the ops it replaces, its
validation, the jit pass that puts it in traced graphs, and traced training with it."""
import numpy as np
import pytest

import pyrch
from pyrch._C import attn
from pyrch.jit import passes
from pyrch.jit.ir import Graph, Node, Value, verify
from pyrch.ops.registry import OPS

needs_c = pytest.mark.skipif(not pyrch._C.available, reason="the C extension is not built")
f32, b8 = pyrch.float32, pyrch.bool


def spelled_out(q, k, v, mask, scale, divide=False):
    """What the ops the pass replaces compute (the C kernel off)."""
    with pyrch.config(c=False):
        return OPS["_attention"].forward(np, q, k, v, mask, scale=scale, divide=divide)


def spelled_out_backward(g, q, k, v, p, mask, scale, divide=False):
    with pyrch.config(c=False):
        return OPS["_attention_backward"].forward(np, g, q, k, v, p, mask, scale=scale,
                                                   divide=divide)


def heads(x, nh):
    """(B, T, nh * d) -> (B, nh, T, d): a strided view, as attention's heads are"""
    b, t, c = x.shape
    return x.reshape(b, t, nh, c // nh).transpose(0, 2, 1, 3)


def close(got, want):
    """float32 equal up to rounding: the kernel sums in another order (a gradient's
    cancellations make elementwise relative error meaningless, so the scale is the
    array's largest value)"""
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    scale = float(np.abs(want[ok]).max()) if ok.any() else 0.0
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=1e-5 * scale + 1e-7)


MASKS = ["causal", "none", "random", "per_batch", "full_row", "wide_causal"]


def make_mask(kind, rng, b, t, s):
    if kind == "causal":
        return np.triu(np.ones((t, s), bool), 1)[None, None]
    if kind == "wide_causal":       # a key range starting later than 0: a sliding window
        i, j = np.arange(t)[:, None], np.arange(s)[None, :]
        return (j > i) | (j < i - 5)
    if kind == "random":
        return rng.random((t, s)) < 0.4
    if kind == "per_batch":
        return rng.random((b, 1, t, s)) < 0.5
    if kind == "full_row":
        m = np.triu(np.ones((t, s), bool), 1)
        m[t // 2] = True
        return m
    return None


SHAPES = [(2, 3, 64, 64, 32, 32), (1, 2, 37, 37, 8, 5), (3, 1, 1, 1, 4, 4),
          (2, 2, 17, 40, 80, 16), (1, 1, 130, 130, 16, 16)]
SQUARE_ONLY = ("causal", "full_row", "wide_causal")


@needs_c
@pytest.mark.parametrize("mask_kind,b,nh,t,s,d,dv",
                         [(m,) + sh for m in MASKS for sh in SHAPES
                          if m not in SQUARE_ONLY or sh[2] == sh[3]])
def test_kernel_matches_the_ops_it_replaces(mask_kind, b, nh, t, s, d, dv):
    rng = np.random.default_rng(t * 1000 + s)
    q = heads(rng.standard_normal((b, t, nh * d), dtype=np.float32), nh)
    kv = rng.standard_normal((b, s, nh * (d + dv)), dtype=np.float32)
    k, v = heads(kv[..., :nh * d], nh), heads(kv[..., nh * d:], nh)
    mask = make_mask(mask_kind, rng, b, t, s)
    for divide in (False, True):
        o, p = attn.forward(q, k, v, mask, 0.37, divide)
        wo, wp = spelled_out(q, k, v, mask, 0.37, divide)
        close(p, wp)
        close(o, wo)
        g = heads(rng.standard_normal((b, t, nh * dv), dtype=np.float32), nh)
        for got, want in zip(attn.backward(g, q, k, v, wp, mask, 0.37, divide),
                             spelled_out_backward(g, q, k, v, wp, mask, 0.37, divide)):
            close(got, want)


@needs_c
def test_fully_masked_rows_are_nan_as_in_eager_and_get_zero_query_gradient():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((1, 2, 8, 4), dtype=np.float32) for _ in range(3))
    mask = np.zeros((8, 8), bool)
    mask[3] = True
    o, p = attn.forward(q, k, v, mask, 1.0, False)
    assert np.isnan(p[:, :, 3]).all() and np.isnan(o[:, :, 3]).all()
    assert not np.isnan(np.delete(p, 3, axis=2)).any()
    dq, dk, dv = attn.backward(np.ones_like(o), q, k, v, p, mask, 1.0, False)
    assert (dq[:, :, 3] == 0).all() and np.isnan(dv).all()       # eager's 0 * NaN


@needs_c
def test_results_do_not_depend_on_the_thread_count_or_the_kernels():
    rng = np.random.default_rng(2)
    q, k, v, g = (rng.standard_normal((4, 4, 48, 32), dtype=np.float32) for _ in range(4))
    mask = np.triu(np.ones((48, 48), bool), 1)
    before = pyrch.get_num_threads()
    try:
        pyrch.set_num_threads(1)
        one = attn.forward(q, k, v, mask, 0.2, False)
        one_b = attn.backward(g, q, k, v, one[1], mask, 0.2, False)
        pyrch.set_num_threads(2)
        two = attn.forward(q, k, v, mask, 0.2, False)
        two_b = attn.backward(g, q, k, v, one[1], mask, 0.2, False)
    finally:
        pyrch.set_num_threads(before)
    for a, b in zip(one + one_b, two + two_b):
        np.testing.assert_array_equal(a, b)
    # OpenBLAS where the AVX-512 kernels are off (or the CPU lacks them)
    L = pyrch._C.lib()
    L.pyrch_set_small_gemm(0)
    try:
        blas = attn.forward(q, k, v, mask, 0.2, False)
        blas_b = attn.backward(g, q, k, v, one[1], mask, 0.2, False)
    finally:
        L.pyrch_set_small_gemm(1)
    for a, b in zip(blas + blas_b, one + one_b):
        close(a, b)


@needs_c
def test_inputs_the_kernel_cannot_take_fall_back_to_the_ops():
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((2, 5, 4)) for _ in range(3))     # float64
    assert attn.forward(q, k, v, None, 1.0, False) is None
    q32 = q.astype(np.float32)
    assert attn.forward(q32[..., ::2], q32[..., ::2], q32, None, 1.0, False) is None  # strided rows
    assert attn.forward(q32, q32, q32, np.zeros((5, 5), np.int64), 1.0, False) is None
    assert attn.forward(q32[:, :0], q32, q32, None, 1.0, False) is None   # empty
    # the op still answers, through the ops it replaces
    o, p = OPS["_attention"].forward(np, q32[..., ::2], q32[..., ::2], q32, None, scale=1.0)
    wo, wp = spelled_out(q32[..., ::2], q32[..., ::2], q32, None, 1.0)
    close(o, wo)


def _struct(q, k, v, o, p, nbytes=None, **over):
    c = attn._struct(0, {attn.Q: (q, (0, 0)), attn.K: (k, (0, 0)), attn.V: (v, (0, 0)),
                         attn.O: (o, (0, 0)), attn.P: (p, (0, 0))},
                     (), q.shape[0], k.shape[0], q.shape[1], v.shape[1], 1.0, 0, 0)
    for key, val in over.items():
        setattr(c, key, val)
    return c


@needs_c
@pytest.mark.parametrize("bad", ["short_q", "short_out", "neg_stride", "col_stride", "null",
                                 "counts", "flag", "huge", "mask_short"])
def test_malformed_structs_are_refused_not_run(bad):
    L, F = pyrch._C.lib(), pyrch._C.ffi()
    q = np.ones((8, 4), np.float32)
    o, p = np.zeros((8, 4), np.float32), np.zeros((8, 8), np.float32)
    c = _struct(q, q, q, o, p)
    if bad == "short_q":
        c.x[attn.Q].nbytes = q.nbytes - 4
    elif bad == "short_out":
        c.x[attn.P].nbytes = p.nbytes - 1
    elif bad == "neg_stride":
        c.x[attn.K].sr = -4
    elif bad == "col_stride":
        c.x[attn.V].sc = 2
    elif bad == "null":
        c.x[attn.O].ptr = F.NULL
    elif bad == "counts":
        c.d = -1
    elif bad == "flag":
        c.backward = 7
    elif bad == "huge":
        c.nb, c.nh = 2 ** 62, 4
    elif bad == "mask_short":
        m = np.zeros((8, 8), bool)
        c.masked = 1
        c.x[attn.MASK].ptr = F.cast("char *", m.ctypes.data)
        c.x[attn.MASK].nbytes = 10
        c.x[attn.MASK].sr, c.x[attn.MASK].sc = 8, 1
    assert L.pyrch_attention(c) != 0
    assert (o == 0).all() and (p == 0).all()      # refused before anything ran


# -- the pass ------------------------------------------------------------------------------

def attention_graph(scores_used_elsewhere=False, fill=float("-inf"), dt=f32):
    q, k, v = Value((2, 4, 8, 16), dt, "q"), Value((2, 4, 8, 16), dt, "k"), Value((2, 4, 8, 16), dt, "v")
    m = Value((8, 8), b8, "m")
    kt, s, s2 = Value((2, 4, 16, 8), dt), Value((2, 4, 8, 8), dt), Value((2, 4, 8, 8), dt)
    s3, p, o = Value((2, 4, 8, 8), dt), Value((2, 4, 8, 8), dt), Value((2, 4, 8, 16), dt)
    nodes = [Node("permute", (k,), {"dims": (0, 1, 3, 2)}, (kt,)),
             Node("matmul", (q, kt), {}, (s,)),
             Node("mul", (s, 0.25), {}, (s2,)),
             Node("masked_fill", (s2, m, fill), {}, (s3,)),
             Node("softmax", (s3,), {"dim": -1}, (p,)),
             Node("matmul", (p, v), {}, (o,))]
    outs = (o, s2) if scores_used_elsewhere else (o,)
    return Graph("f", (q, k, v, m), (), (), {}, nodes, outs)


def test_pass_replaces_attention_spelled_out_with_one_node():
    g = attention_graph()
    out = passes.dce(passes.fuse_attention(g))
    verify(out)
    assert [n.op for n in out.nodes] == ["_attention"]
    n = out.nodes[0]
    assert n.inputs == g.inputs and n.attr_dict() == {"divide": False, "scale": 0.25}
    assert passes.dce(passes.fuse_attention(out)).nodes == out.nodes     # idempotent


@pytest.mark.parametrize("why", ["scores_used_elsewhere", "finite_fill", "float64"])
def test_pass_leaves_graphs_it_cannot_fuse_exactly(why):
    g = attention_graph(scores_used_elsewhere=why == "scores_used_elsewhere",
                        fill=-1e9 if why == "finite_fill" else float("-inf"),
                        dt=pyrch.float64 if why == "float64" else f32)
    assert [n.op for n in passes.fuse_attention(g).nodes] == [n.op for n in g.nodes]


def test_pass_leaves_a_mask_that_widens_the_batch_dims():
    """scores (1, 4, T, T) masked by (2, 1, T, T) are (2, 4, T, T): the kernel's batch is
    q's, so this stays spelled out -- and the traced result is still eager's"""
    def f(q, k, v, m):
        att = (q @ k.transpose(-2, -1)) * 0.25
        return att.masked_fill(m, float("-inf")).softmax(-1) @ v
    rng = np.random.default_rng(5)
    q, k, v = (pyrch.tensor(rng.standard_normal((1, 4, 8, 16)).astype(np.float32)) for _ in range(3))
    m = pyrch.tensor(np.triu(np.ones((2, 1, 8, 8), bool), 1))
    tf = pyrch.jit.trace(f)
    for _ in range(3):
        got = tf(q, k, v, m)
    ops = [n.op for n in tf.graph_for(q, k, v, m).nodes]
    assert "_attention" not in ops
    np.testing.assert_allclose(got.numpy(), f(q, k, v, m).numpy(), rtol=1e-5, atol=1e-6)


# -- traced training -------------------------------------------------------------------

class Block(pyrch.nn.Module):
    def __init__(self, d=32, nh=4, t=24, sdpa=False):
        super().__init__()
        self.qkv, self.proj, self.nh, self.sdpa = pyrch.nn.Linear(d, 3 * d), pyrch.nn.Linear(d, d), nh, sdpa
        self.register_buffer("mask", pyrch.tril(pyrch.ones(t, t)).view(1, 1, t, t))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.nh, C // self.nh).transpose(1, 2)
                   for t in self.qkv(x).split(C, dim=2))
        if self.sdpa:
            y = pyrch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / (C // self.nh) ** 0.5)
            att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf")).softmax(-1)
            y = att @ v
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


def run_steps(traced, sdpa, executor, n=4, ce=False):
    pyrch.manual_seed(0)
    m = Block(sdpa=sdpa)
    # SGD, not Adam: the key projection's bias gets a gradient that is zero in exact
    # arithmetic (softmax ignores a shift shared by a row), ~1e-12 here, and Adam
    # scales any rounding noise there to a step of lr's size, so two correct float32
    # summation orders (C and numpy) part by 4e-4 after four steps
    opt = pyrch.optim.SGD(m.parameters(), lr=1e-2, momentum=0.9)
    x = pyrch.randn(3, 24, 32)
    y = pyrch.randint(0, 32, (3 * 24,))

    def step(x):
        opt.zero_grad()
        out = m(x)
        # cross entropy's forward runs in Python: the plan's backward is another segment
        loss = pyrch.nn.functional.cross_entropy(out.reshape(-1, 32), y) if ce else \
            (out ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    fn = pyrch.jit.trace(step) if traced else step
    with pyrch.config(c=executor == "c"):
        losses = [fn(x).item() for _ in range(n)]
    return losses, [p.detach().numpy().copy() for p in m.parameters()], fn


@pytest.mark.parametrize("executor", ["c", "reference"])
@pytest.mark.parametrize("sdpa,ce", [(False, False), (True, False), (False, True)])
def test_traced_training_with_fused_attention_matches_eager(sdpa, ce, executor):
    want, wparams, _ = run_steps(False, sdpa, executor, ce=ce)
    got, gparams, fn = run_steps(True, sdpa, executor, ce=ce)
    ops = [n.op for e in fn._cache.values() for var in e.variants for n in var.opt.nodes]
    assert ops.count("_attention") == 1 and ops.count("_attention_backward") == 1
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for a, b in zip(gparams, wparams):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@needs_c
def test_replays_run_fused_attention_inside_the_plans_one_c_call(monkeypatch):
    """q, k and v are three views into one projection: the replay's recorder tells their
    pointers apart by where each starts, so the attention steps join the C segment and
    a replay makes no Python call to them (segments.py)."""
    _, _, fn = run_steps(True, False, "c", n=4, ce=True)
    calls = []
    for name in ("forward", "backward"):
        real = getattr(attn, name)
        monkeypatch.setattr(attn, name, lambda *a, _real=real, **k: calls.append(1) or _real(*a, **k))
    x = pyrch.randn(3, 24, 32)
    before = fn(x).item()
    assert calls == [] and np.isfinite(before)


@pytest.mark.parametrize("executor", ["c", "reference"])
def test_a_traced_modules_derived_backward_fuses_attention_too(executor):
    """jit.trace(module), loss.backward() outside: the forward graph fuses attention,
    and its separately derived gradient graph trusts what the forward computed (the
    softmax of the masked scores) to fuse the gradient as well; gradients match eager's."""
    def grads(traced):
        pyrch.manual_seed(0)
        m = Block()
        f = pyrch.jit.trace(m) if traced else m
        x = pyrch.randn(3, 24, 32)
        with pyrch.config(c=executor == "c"):
            for _ in range(3):
                for p in m.parameters():
                    p.grad = None
                (f(x) ** 2).mean().backward()
        return [p.grad.numpy().copy() for p in m.parameters()], f
    want, _ = grads(False)
    got, f = grads(True)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
    ops = [st.op for ex in f.executors() for st in ex.plan.steps if st.kind == "call"]
    assert ops.count("_attention") == 1 and ops.count("_attention_backward") == 1
    assert "softmax_backward" not in ops
