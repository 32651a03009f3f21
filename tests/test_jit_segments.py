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
from pyrch.jit.segments import Segment

from jit_models import gpt_step, training_step

_C = pyrch._C
needs_c = pytest.mark.skipif(not _C.available, reason="the C extension is not built")


def executors(f):
    return [var.executor for entry in f._cache.values() for var in entry.variants]


def segments(f):
    return [u for ex in executors(f) for u in (ex._units or ()) if isinstance(u, Segment)]


def mlp_step(seed=0, dtype=pyrch.float32):
    pyrch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 192), nn.ReLU(),
                          nn.Linear(192, 10)).to(dtype)
    opt = pyrch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return model, opt, training_step(model, opt, F.cross_entropy)


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
        gemms = [c for seg in segments(f1) for kind, c, _ in seg.calls if kind == 1]
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
    kind, c, _ = seg.calls[-1]
    if kind == 1:
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
    assert len(segments(f1)) >= 3 and not segments(f2)
    assert any(seg.views for seg in segments(f1))
    # Adam's per-parameter step scalars run ahead of the updates, which form one run
    assert max(len(seg.calls) for seg in segments(f1)) >= len(p1)
    assert l1 == l2
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a, b)
