"""Runs of native plan steps replayed in one C call (pyrch/jit/segments.py): the same
values as the step-by-step replay, with new inputs, replaced parameters, other layouts,
thread counts and the extension switched off; a step the C side refuses. (The C entry
point's own refusals are in test_c_vm.py.)"""
import contextlib

import numpy as np
import pytest

import pyrch
from pyrch import jit, nn
import pyrch.nn.functional as F
from pyrch.jit import segments as S

from jit_models import gpt_step, training_step

_C = pyrch._C
needs_c = pytest.mark.skipif(not _C.available, reason="the C extension is not built")


def executors(f):
    return [var.executor for entry in f._cache.values() for var in entry.variants]


def segments(f):
    return [s for ex in executors(f) if ex._units for s in ex._units.segments]


def mlp_step(seed=0, dtype=pyrch.float32, loss=F.cross_entropy):
    pyrch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 192), nn.ReLU(),
                          nn.Linear(192, 10)).to(dtype)
    opt = pyrch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return model, opt, training_step(model, opt, loss)


def batches(n, rows=64, dtype=np.float32, seed=1):
    rng = np.random.default_rng(seed)
    return [(pyrch.tensor(rng.standard_normal((rows, 128)).astype(dtype)),
             pyrch.tensor(rng.integers(0, 10, rows))) for _ in range(n)]


def params(model):
    return [p.detach().numpy().copy() for p in model.parameters()]


def train_pair(n, before=None, traced_input=None, context=None):
    """Train a traced and an eager copy of the MLP on the same n batches; their losses
    and final weights agree. before(i, m1, m2) runs before step i, traced_input(i, x)
    is the traced copy's input, context(i) the context its call runs in. Returns the
    traced step."""
    m1, _, s1 = mlp_step()
    m2, _, s2 = mlp_step()
    f1 = jit.trace(s1)
    for i, (x, y) in enumerate(batches(n)):
        if before is not None:
            before(i, m1, m2)
        xin = traced_input(i, x) if traced_input is not None else x
        with context(i) if context is not None else contextlib.nullcontext():
            l1 = f1(xin, y)
        np.testing.assert_allclose(l1.item(), s2(x, y).item(), rtol=1e-5)
    for a, b in zip(params(m1), params(m2)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    return f1


@needs_c
@pytest.mark.parametrize("dtype", [pyrch.float32, pyrch.float64])
def test_segments_match_step_by_step_replay_bitwise(dtype):
    """A training step over new batches: the segment replay and the step-by-step replay
    of the same plan give bitwise the same losses, weights and gradients."""
    np_dt = np.float32 if dtype == pyrch.float32 else np.float64
    data = batches(8, dtype=np_dt)
    m1, _, s1 = mlp_step(dtype=dtype)
    m2, _, s2 = mlp_step(dtype=dtype)
    f1, f2 = jit.trace(s1), jit.trace(s2)
    losses1, losses2 = [], []
    for i, (x, y) in enumerate(data):
        losses1.append(f1(x, y).item())
        if i == 2:                      # f2 replays step by step from now on
            for ex in executors(f2):
                ex._units = False
        losses2.append(f2(x, y).item())
    assert segments(f1), "the MLP step should run native segments"
    assert not segments(f2)
    assert losses1 == losses2
    for a, b in zip(params(m1), params(m2)):
        np.testing.assert_array_equal(a, b)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(p1.grad.numpy(), p2.grad.numpy())


@needs_c
def test_segments_match_eager_training():
    assert segments(train_pair(6))


@needs_c
def test_grads_are_fresh_arrays_each_replay():
    """The weight gradients a segment writes are new arrays on every replay: a .grad kept
    from one step is not overwritten by the next."""
    data = batches(5)
    m, _, s = mlp_step()
    f = jit.trace(s)
    kept = []
    for x, y in data:
        f(x, y)
        kept.append([(p.grad, p.grad.numpy().copy()) for p in m.parameters()])
    assert segments(f)
    for step in kept:
        for g, value in step:
            np.testing.assert_array_equal(g.numpy(), value)
    last = [g for g, _ in kept[-1]]
    prev = [g for g, _ in kept[-2]]
    assert not any(np.shares_memory(a.numpy(), b.numpy()) for a, b in zip(last, prev))


@needs_c
def test_new_input_layout_records_again_and_stays_right():
    """An input with other strides (a Fortran-ordered copy) cannot reuse the recorded
    pointers: the replay runs step by step, records again, and the values stay right."""
    def fortran(i, x):
        if i < 4:
            return x
        xin = pyrch.tensor(np.asfortranarray(x.numpy()))       # same values
        assert xin.numpy().strides != x.numpy().strides
        return xin
    assert segments(train_pair(7, traced_input=fortran))


@needs_c
def test_replaced_parameter_data_is_written_not_the_old_array():
    """`p.data = ...` between steps: the segment's update must write the new array."""
    def replace(i, m1, m2):
        if i == 4:
            for p1, p2 in zip(m1.parameters(), m2.parameters()):
                new = p1.detach().numpy() * 0.5
                p1.data = pyrch.tensor(new.copy())
                p2.data = pyrch.tensor(new.copy())
    assert segments(train_pair(6, before=replace))


@needs_c
def test_read_only_parameter_array_is_not_written_through_a_segment():
    data = batches(6)
    m, _, s = mlp_step()
    f = jit.trace(s)
    for x, y in data[:4]:
        f(x, y)
    assert segments(f)
    w = m[0].weight
    frozen = w.detach().numpy().copy()
    frozen.flags.writeable = False
    w.data = pyrch.from_numpy(frozen) if hasattr(pyrch, "from_numpy") else pyrch.tensor(frozen)
    keep = frozen.copy()
    # the step-by-step replay writes the update at commit, where numpy refuses
    with pytest.raises(ValueError, match="read-only"):
        f(*data[4])
    np.testing.assert_array_equal(frozen, keep)          # the read-only array is untouched


@needs_c
def test_thread_count_change_and_extension_off():
    before = _C.get_num_threads()

    def threads(i, m1, m2):
        if i == 4:
            pyrch.set_num_threads(1)
    try:
        f1 = train_pair(9, before=threads,
                        context=lambda i: pyrch.config(c=False) if i in (6, 7) else contextlib.nullcontext())
        assert segments(f1)
        gemms = [c.struct for seg in segments(f1) for c in seg.calls if c.kind == S.GEMM]
        assert gemms and all(g.nthreads == 1 for g in gemms)      # recorded again
    finally:
        pyrch.set_num_threads(before)


@needs_c
def test_a_refused_step_raises_naming_it():
    data = batches(5)
    _, _, s = mlp_step()
    f = jit.trace(s)
    for x, y in data[:4]:       # warm-up, recording, the first replay, the segments' recording
        f(x, y)
    seg = segments(f)[0]
    kind, c = seg.calls[-1].kind, seg.calls[-1].struct
    if kind == S.GEMM:
        c.nbytes_c = 4          # the output no longer fits its buffer
    else:
        c.n_instr = -1
    with pytest.raises(RuntimeError, match=r"rejected the plan's .* step"):
        f(*data[4])


@needs_c
def test_forward_only_trace_with_changing_inputs():
    """A traced inference function (no optimizer): new input arrays on every call, the
    outputs fresh and right."""
    pyrch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64), nn.Tanh())
    f = jit.trace(model)
    rng = np.random.default_rng(3)
    outs = []
    with pyrch.no_grad():
        for _ in range(6):
            x = pyrch.tensor(rng.standard_normal((32, 64)).astype(np.float32))
            o = f(x)
            np.testing.assert_allclose(o.numpy(), model(x).numpy(), rtol=2e-5, atol=2e-6)
            outs.append((o, o.numpy().copy()))
    for o, v in outs:
        np.testing.assert_array_equal(o.numpy(), v)


@needs_c
def test_gpt_step_with_dropout_matches_step_by_step_replay_bitwise():
    """Attention's views and permuted products, layer norms, dropout masks and AdamW
    between the segments: the same losses and weights, bit for bit, as the step-by-step
    replay of the same plan (both runs draw the same random numbers)."""
    def run(segs, n=6):
        m, step = gpt_step(vocab=64, d=128, heads=4, layers=1, ctx=32)
        f = jit.trace(step)
        rng = np.random.default_rng(5)
        pyrch.manual_seed(123)
        losses = []
        for i in range(n):
            idx = pyrch.tensor(rng.integers(0, 64, (8, 32)))
            tgt = pyrch.tensor(rng.integers(0, 64, (8, 32)))
            if i == 3 and not segs:
                for ex in executors(f):
                    ex._units = False
            losses.append(f(idx, tgt).item())
        return losses, params(m), f

    l1, p1, f1 = run(True)
    l2, p2, f2 = run(False)
    # (the dropout's random draws run in Python: they split the plan's C run)
    assert len(segments(f1)) >= 2 and not segments(f2)
    assert any(seg.views for seg in segments(f1))
    # layer norms, the softmax backward, the loss, the embeddings, the bias gradients
    # and Adam's step scalars run from their recorded call structs (the softmax itself
    # inside the scale-and-mask program before it: test_jit_trace.py)
    called = {c.name for seg in segments(f1) for c in seg.calls if c.kind == S.CALL}
    assert called == {"layer_norm", "layer_norm_backward", "softmax_backward",
                      "cross_entropy_indices", "cross_entropy_indices_backward",
                      "embedding", "embedding_dense_backward", "sum_to", "_adam_scalars"}, called
    # Adam's per-parameter step scalars run ahead of the updates, which form one run
    assert max(len(seg.calls) for seg in segments(f1)) >= len(p1)
    assert l1 == l2
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a, b)


@needs_c
def test_whole_plan_is_one_c_call_with_python_steps_called_back(monkeypatch):
    """From the fourth call on, a replay is one pyrch_run_steps call: the native steps
    from their recorded structs, each run of the other steps (the loss, ...) one
    callback into Python, every plan step in one or the other, in plan order. (Label
    smoothing keeps the loss in Python: plain cross entropy is a C call now.)"""
    from pyrch.jit.executor import _nothing
    data = batches(7)

    def smoothed(out, y):
        return F.cross_entropy(out, y, label_smoothing=0.1)
    m1, _, s1 = mlp_step(loss=smoothed)
    m2, _, s2 = mlp_step(loss=smoothed)
    f = jit.trace(s1)
    for x, y in data[:4]:
        assert f(x, y).item() == pytest.approx(s2(x, y).item(), rel=1e-5)
    (ex,) = [ex for ex in executors(f) if ex._units]
    prog = ex._units
    covered = [fn for seg in prog.segments for fn in seg.fns if fn is not _nothing] + \
        [fn for fns, _, _ in prog._cb for fn in fns]
    assert sorted(map(id, covered)) == sorted(id(fn) for fn in ex.steps if fn is not _nothing)
    assert prog._cb and prog.segments
    runs, calls = [], []
    run, callback = S.Program.run, S.Program._callback
    monkeypatch.setattr(S.Program, "run", lambda self, v: runs.append(self) or run(self, v))
    monkeypatch.setattr(S.Program, "_callback", lambda self, i: calls.append(i) or callback(self, i))
    for x, y in data[4:]:
        assert f(x, y).item() == pytest.approx(s2(x, y).item(), rel=1e-5)
    assert runs == [prog] * 3
    assert calls == list(range(len(prog._cb))) * 3


@needs_c
def test_an_error_in_a_called_back_step_is_raised_and_the_next_call_runs():
    """A target out of range fails the cross entropy step, a callback in the middle of
    the C call: the same IndexError as eager, nothing after it runs, and the next calls
    train on exactly as eager does."""
    data = batches(7)
    m1, _, s1 = mlp_step()
    m2, _, s2 = mlp_step()
    f = jit.trace(s1)
    for i, (x, y) in enumerate(data):
        if i == 4:
            bad = pyrch.tensor(np.where(np.arange(y.shape[0]) == 3, 10, y.numpy()))
            with pytest.raises(IndexError, match="Target 10 is out of bounds"):
                f(x, bad)
            with pytest.raises(IndexError, match="Target 10 is out of bounds"):
                s2(x, bad)
        np.testing.assert_allclose(f(x, y).item(), s2(x, y).item(), rtol=1e-5)
    for a, b in zip(params(m1), params(m2)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@needs_c
def test_layout_change_after_a_python_step_runs_that_segment_step_by_step(monkeypatch):
    """An outside array that only a later segment reads (here w, after a cumsum,
    which stays Python) changes layout: the callback before that segment runs its steps
    one by one and skips their structs; the result is right and the plan records
    again."""

    def g(x, w):
        h = x.cumsum(-1) * 0.1
        return (h @ w).relu() * 2.0

    f = jit.trace(g)
    rng = np.random.default_rng(0)
    x = pyrch.tensor(rng.standard_normal((256, 128)).astype(np.float32))
    w = rng.standard_normal((128, 384)).astype(np.float32)
    with pyrch.no_grad():
        for _ in range(4):
            f(x, pyrch.tensor(w))
        (ex,) = [ex for ex in executors(f) if ex._units]
        assert ex._units._first is None and ex._units._cb[0][1] is not None
        answers = []
        callback = S.Program._callback
        monkeypatch.setattr(S.Program, "_callback",
                            lambda self, i: answers.append(callback(self, i)) or answers[-1])
        wf = pyrch.tensor(np.asfortranarray(w * 0.5))
        out = f(x, wf)
        assert answers and answers[0] > 1          # the segment ran step by step
        assert ex._units is None
        np.testing.assert_allclose(out.numpy(), g(x, wf).numpy(), rtol=1e-5, atol=1e-5)
        for _ in range(3):
            np.testing.assert_allclose(f(x, wf).numpy(), g(x, wf).numpy(), rtol=1e-5, atol=1e-5)
        assert ex._units and ex._units.segments


@needs_c
def test_threads_calling_one_traced_function():
    """Several Python threads call the same traced function at once (the C call lets
    go of the GIL): each gets its own right answer, replays of one plan taking turns
    (they share its buffers). Before the lock in Variant.replay, outputs came back
    wrong."""
    import threading
    pyrch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.LayerNorm(128), nn.GELU(), nn.Linear(128, 32))
    f = jit.trace(model)
    rng = np.random.default_rng(4)
    xs = [pyrch.tensor(rng.standard_normal((16, 64)).astype(np.float32)) for _ in range(8)]
    with pyrch.no_grad():
        want = [model(x).numpy() for x in xs]
        for x in xs[:4]:
            f(x)
        errors = []

        def work(t):
            try:
                for r in range(25):
                    i = (t + r) % len(xs)
                    np.testing.assert_allclose(f(xs[i]).numpy(), want[i], rtol=2e-5, atol=2e-5)
            except BaseException as e:      # reported below, from the main thread
                errors.append(e)
        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[0]


@needs_c
def test_a_refused_call_struct_raises_naming_its_step():
    """A recorded row-kernel struct that no longer fits its buffers (a corrupted
    description) is refused by the C side before anything is written; the error names
    the step."""
    data = batches(5)
    _, _, s = mlp_step()
    f = jit.trace(s)
    for x, y in data[:4]:
        f(x, y)
    c = next(c.struct for seg in segments(f) for c in seg.calls
             if c.kind == S.CALL and c.name == "cross_entropy_indices_backward")
    c.dst_nbytes[0] = 4
    with pytest.raises(RuntimeError, match=r"rejected the plan's cross_entropy_indices_backward step"):
        f(*data[4])


@needs_c
def test_a_gpt_step_is_one_c_call_and_hands_out_memory_no_later_replay_touches():
    """Session 13: the loss, the embeddings, the bias gradients, Adam's step scalars and
    the q/k/v gradients' cat are native too, so a GPT training step replays as one C
    call with no Python between its steps. The arrays it hands out (the loss, each
    .grad) are new on every replay; its internal results are kept from one replay to
    the next, and the live learning rate still takes effect."""
    m, step = gpt_step(vocab=64, d=128, heads=4, layers=1, ctx=32)
    m2, step2 = gpt_step(vocab=64, d=128, heads=4, layers=1, ctx=32)
    m.eval()
    m2.eval()                           # (no dropout: the two draw no random numbers)
    f = jit.trace(step)
    opt = next(c.cell_contents for c in step.__closure__ if isinstance(c.cell_contents, pyrch.optim.Optimizer))
    opt2 = next(c.cell_contents for c in step2.__closure__ if isinstance(c.cell_contents, pyrch.optim.Optimizer))
    rng = np.random.default_rng(7)
    held = []
    for i in range(7):
        idx = pyrch.tensor(rng.integers(0, 64, (8, 32)))
        tgt = pyrch.tensor(rng.integers(0, 64, (8, 32)))
        if i == 5:                                    # a scheduler's step: no retrace
            for o in (opt, opt2):
                o.param_groups[0]["lr"] = 3e-4
        loss = f(idx, tgt)
        want = step2(idx, tgt)
        np.testing.assert_allclose(loss.item(), want.item(), rtol=1e-6)
        grads = [p.grad for p in m.parameters()]
        held.append((loss, loss.detach().numpy().copy(), grads, [g.numpy().copy() for g in grads]))
    # (the fused attention's sums differ from eager's in the last bits; a learning
    # rate change that did not take effect would be off by about 1e-3)
    for a, b in zip(params(m), params(m2)):
        np.testing.assert_allclose(a, b, rtol=0, atol=3e-5)
    (ex,) = [e for e in executors(f) if e._units]
    assert ex._units._cb == [] and all(isinstance(u, S.Segment) for u in ex._units.units)
    called = {c.name for seg in segments(f) for c in seg.calls}
    assert {"embedding", "embedding_dense_backward", "cross_entropy_indices", "sum_to",
            "_adam_scalars"} <= called
    # what earlier replays handed out is unchanged and shared with no later replay
    for loss, lv, grads, gv in held:
        np.testing.assert_array_equal(loss.detach().numpy(), lv)
        for g, v in zip(grads, gv):
            np.testing.assert_array_equal(g.numpy(), v)
    for (_, _, g1, _), (_, _, g2, _) in zip(held[3:], held[4:]):
        assert not any(np.shares_memory(a.numpy(), b.numpy()) for a, b in zip(g1, g2))


@needs_c
def test_a_kept_array_a_view_hands_out_is_new_on_every_replay():
    """A native step's new array that a replay hands out only through a view (its
    reshape is the output) is not kept from one replay to the next: each replay's
    output has its own memory. One that stays inside the replay is kept, with the
    right values for each new input."""
    w = pyrch.randn(16)
    b = pyrch.randn(16)

    def f(x):
        y = F.layer_norm(x, (16,), w, b)             # one C call into a new array
        inner = F.layer_norm(x * 2, (16,), w, b)     # stays inside the replay
        return y.reshape(-1), (inner * 3).sum(1)

    g = jit.trace(f)
    rng = np.random.default_rng(3)
    xs = [pyrch.tensor(rng.standard_normal((64, 16)).astype(np.float32)) for _ in range(6)]
    outs = [g(x) for x in xs]
    assert segments(g)
    for x, (flat, s) in zip(xs, outs):
        fy, fs = f(x)
        np.testing.assert_array_equal(flat.numpy(), fy.numpy())
        np.testing.assert_allclose(s.numpy(), fs.numpy(), rtol=1e-6)
    assert not np.shares_memory(outs[-1][0].numpy(), outs[-2][0].numpy())


@needs_c
@pytest.mark.parametrize("sa,sb", [((4, 0), (0, 3)), ((0, 5), (5, 3)), ((3, 5), (5, 0)),
                                   ((7, 3), (3, 9)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)),
                                   ((2, 1, 3, 4), (5, 4, 6)), ((5,), (5, 3)), ((1, 1), (1, 1))])
@pytest.mark.parametrize("transposed", [False, True])
def test_small_float32_products_recorded_in_c_match_eager(sa, sb, transposed):
    """A plan records float32 products of any size as C calls (eager leaves those under
    a million multiply-adds to numpy): empty ones, broadcast batches, 1-D operands and
    operands stored transposed give eager's values, and so do their gradients."""
    rng = np.random.default_rng(0)

    def tensor(shape):
        if transposed and len(shape) >= 2:
            a = rng.standard_normal(shape[:-2] + shape[::-1][:2]).astype(np.float32)
            return pyrch.tensor(a).transpose(-1, -2).requires_grad_(True)
        return pyrch.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)
    a, b = tensor(sa), tensor(sb)

    def step(a, b):
        a.grad = b.grad = None
        y = a @ b
        (y * y).sum().backward()
        return y, a.grad, b.grad
    want = [t.detach().numpy().copy() for t in step(a, b)]
    f = jit.trace(step)
    for _ in range(4):
        got = [t.detach().numpy() for t in f(a, b)]
        for g, w in zip(got, want):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    assert f.stats.hits >= 2
    recorded = [c for seg in segments(f) for c in seg.calls if c.kind == S.GEMM]
    # (numpy keeps 1-D operands, empty products and batches that broadcast)
    assert recorded or len(sa) < 2 or 0 in sa + sb or sa[:-2] != sb[:-2] and len(sb) > 2


@needs_c
def test_linear_gelu_and_its_saved_derivative_run_as_the_gemm_epilogue():
    """A training step's linear layer followed by GELU: its product, bias, GELU and the
    derivative its backward saves are one recorded GEMM (gemm.h PYRCH_ACT_GELU_D), no
    elementwise program after it, and the backward multiplies by that derivative in
    another GEMM's epilogue (PYRCH_ACT_MUL); the step trains as eager does, on new
    batches too."""
    def make():
        pyrch.manual_seed(3)
        model = nn.Sequential(nn.Linear(48, 160), nn.GELU(), nn.Linear(160, 10))
        opt = pyrch.optim.AdamW(model.parameters(), lr=1e-2)
        return model, training_step(model, opt, F.cross_entropy)
    m1, s1 = make()
    m2, s2 = make()
    f = jit.trace(s1)
    rng = np.random.default_rng(4)
    for _ in range(7):
        x = pyrch.tensor(rng.standard_normal((96, 48)).astype(np.float32))
        y = pyrch.tensor(rng.integers(0, 10, 96))
        np.testing.assert_allclose(f(x, y).item(), s2(x, y).item(), rtol=1e-5)
    for a, b in zip(params(m1), params(m2)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    calls = [c for seg in segments(f) for c in seg.calls]
    from pyrch._C.gemm import ACTS
    acts = [c.struct.act for c in calls if c.kind == S.GEMM]
    assert acts.count(ACTS["gelu_d"]) == 1
    assert not any(c.kind == S.FUSED and "gelu" in c.name for c in calls)
    # and the backward's gradient times that derivative is its product's epilogue
    # (passes.hoist_product_multiplies moved it behind the product)
    assert acts.count(ACTS["mul"]) == 1 and not any(c.kind == S.FUSED and c.name == "fused[mul]"
                                          for c in calls)
