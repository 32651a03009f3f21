"""@jit.trace: call sequence, cache keys, state semantics, guards, errors, randomness,
gradients through traces, modules, check mode, save/load, speed."""
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

import pyrch
from pyrch import jit, nn
import pyrch.nn.functional as F
from pyrch.jit import TraceError, TracerWarning


def arr(t):
    return t.detach().numpy().copy()


# -- call sequence and caching ----------------------------------------------------------
def test_warmup_record_replay_and_side_effects():
    calls = []

    @jit.trace
    def f(x):
        calls.append(1)            # a Python side effect: runs only while tracing
        return (x * 2 + 1).exp()

    x = pyrch.randn(3)
    outs = [f(x) for _ in range(5)]
    assert len(calls) == 2                      # warm-up + recording
    assert f.stats.warmups == 1 and f.stats.traces == 1 and f.stats.hits == 3
    for o in outs:
        # float32 transcendentals may run vectorised in C: equal to within an ulp
        np.testing.assert_allclose(arr(o), arr((x * 2 + 1).exp()), rtol=3e-7, atol=0)


def test_replay_reads_new_argument_values():
    f = jit.trace(lambda x, y: x @ y + y.sum())
    a, b = pyrch.randn(2, 3), pyrch.randn(3, 3)
    f(a, b), f(a, b)
    c, d = pyrch.randn(2, 3), pyrch.randn(3, 3)
    np.testing.assert_array_equal(arr(f(c, d)), arr(c @ d + d.sum()))


def test_outputs_are_fresh_each_replay():
    f = jit.trace(lambda x: x + 1)
    x = pyrch.zeros(4)
    f(x), f(x)
    o1 = f(x)
    x.add_(5)
    o2 = f(x)
    assert o1 is not o2 and not np.shares_memory(o1._data, o2._data)
    np.testing.assert_array_equal(arr(o1), np.ones(4))     # not overwritten by the later replay
    np.testing.assert_array_equal(arr(o2), np.full(4, 6.0))


def test_returning_an_input_returns_the_same_object():
    f = jit.trace(lambda x, y: (x, y * 2))
    x, y = pyrch.ones(2), pyrch.ones(2)
    for _ in range(3):
        a, b = f(x, y)
    assert a is x


def test_cache_key_retraces_on_shape_dtype_grad_mode_and_values():
    f = jit.trace(lambda x, n: x * n)
    x = pyrch.ones(3)
    for _ in range(3):
        f(x, 2)
    assert f.stats.traces == 1
    f(pyrch.ones(4), 2)
    f(pyrch.ones(4), 2)
    f(x.to(pyrch.float64), 2)
    f(x.to(pyrch.float64), 2)
    f(x, 3)
    np.testing.assert_array_equal(arr(f(x, 3)), np.full(3, 3.0))
    assert f.stats.traces == 4
    assert any("f32[4]" in r or "float32[4]" in r for r in f.stats.retraces), f.stats.retraces


def test_retrace_warning_names_what_varies():
    f = jit.trace(lambda x: x.sum())
    with pytest.warns(TracerWarning, match=r"retraced 8 times.*x \("):
        for n in range(1, 11):
            f(pyrch.ones(n))
            f(pyrch.ones(n))


def test_disabled_and_env_flag():
    calls = []

    @jit.trace
    def f(x):
        calls.append(1)
        return x + 1
    x = pyrch.ones(2)
    with jit.disabled():
        for _ in range(4):
            f(x)
    assert len(calls) == 4 and f.stats.traces == 0
    with pyrch.config(jit=False):
        f(x)
    assert len(calls) == 5


def test_nested_traced_functions_inline():
    inner = jit.trace(lambda x: x.exp() * 2)

    @jit.trace
    def outer(x):
        return inner(x) + 1
    x = pyrch.randn(3)
    for _ in range(3):
        out = outer(x)
    g = outer.graph_for(x, optimized=False)
    assert [n.op for n in g.nodes] == ["exp", "mul", "add"]
    np.testing.assert_allclose(arr(out), arr(x.exp() * 2 + 1))


# -- state semantics --------------------------------------------------------------------
def _mlp_step(opt_cls, traced, steps, **opt_kw):
    pyrch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 3)).double()
    opt = opt_cls(model.parameters(), **opt_kw)
    rng = np.random.default_rng(1)
    data = [(pyrch.tensor(rng.standard_normal((4, 6))), pyrch.tensor(rng.integers(0, 3, 4)))
            for _ in range(5)]

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    if traced:
        step = jit.trace(step)
    losses = [step(*data[i % 5]) for i in range(steps)]
    return model, losses, step


@pytest.mark.parametrize("opt_cls,kw", [(pyrch.optim.SGD, dict(lr=0.1, momentum=0.9)),
                                        (pyrch.optim.Adam, dict(lr=0.01))])
def test_training_step_100_times_bitwise_equal_to_eager(opt_cls, kw):
    m1, l1, _ = _mlp_step(opt_cls, False, 100, **kw)
    m2, l2, step = _mlp_step(opt_cls, True, 100, **kw)
    assert step.stats.hits == 98 and step.stats.traces == 1
    assert [float(a) for a in l1] == [float(b) for b in l2]
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(arr(p), arr(q))
        np.testing.assert_array_equal(arr(p.grad), arr(q.grad))


def test_hand_written_sgd_with_grad_accumulation():
    def run(traced):
        w = pyrch.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
        x = pyrch.tensor(np.arange(6.0).reshape(3, 2))

        def step():
            loss = ((w @ x) ** 2).mean()
            loss.backward()                  # no zero_grad: .grad accumulates in place
            with pyrch.no_grad():
                w.sub_(w.grad * 0.01)
            return loss
        if traced:
            step = jit.trace(step)
        ls = [step() for _ in range(10)]
        return w, ls
    w1, l1 = run(False)
    w2, l2 = run(True)
    np.testing.assert_array_equal(arr(w1), arr(w2))
    np.testing.assert_array_equal(arr(w1.grad), arr(w2.grad))
    assert [float(a) for a in l1] == [float(b) for b in l2]


def test_grad_slot_read_by_reference_after_user_replaces_it():
    w = pyrch.tensor([1.0, 2.0], requires_grad=True)
    w.grad = pyrch.tensor([1.0, 1.0])

    @jit.trace
    def apply():
        with pyrch.no_grad():
            w.sub_(w.grad)
    for _ in range(3):
        apply()
    w.grad = pyrch.tensor([0.5, 0.5])       # a new tensor object in the slot
    apply()
    np.testing.assert_array_equal(arr(w), [-2.5, -1.5])


def test_lr_change_takes_effect_without_retrace():
    def run(traced):
        model, _, _ = None, None, None
        pyrch.manual_seed(0)
        model = nn.Linear(4, 2).double()
        opt = pyrch.optim.SGD(model.parameters(), lr=0.1)
        sched = pyrch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        x = pyrch.tensor(np.ones((3, 4)))

        def step():
            opt.zero_grad()
            loss = model(x).pow(2).sum()
            loss.backward()
            opt.step()
            return loss
        if traced:
            step = jit.trace(step)
        for _ in range(8):
            step()
            sched.step()
        return model, step
    m1, _ = run(False)
    m2, step = run(True)
    assert step.stats.traces == 1 and not step.stats.retraces
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(arr(p), arr(q))


def test_hyperparameter_used_in_python_retraces_instead_of_baking():
    def run(traced):
        w = pyrch.tensor([1.0, -2.0], dtype=pyrch.float64, requires_grad=True)
        opt = pyrch.optim.SGD([w], lr=0.1, weight_decay=0.0)

        def step():
            opt.zero_grad()
            (w * w).sum().backward()
            opt.step()
        if traced:
            step = jit.trace(step)
        for i in range(6):
            if i == 3:
                opt.param_groups[0]["weight_decay"] = 0.5   # read in Python: `if weight_decay != 0`
            step()
        return w, step
    w1, _ = run(False)
    w2, step = run(True)
    np.testing.assert_array_equal(arr(w1), arr(w2))
    assert any("weight_decay" in r for r in step.stats.retraces)


def test_state_tensor_changed_outside_is_seen():
    scale = pyrch.tensor([2.0])
    f = jit.trace(lambda x: x * scale)
    x = pyrch.ones(3)
    f(x), f(x)
    scale.fill_(5.0)                      # in-place, outside the trace
    np.testing.assert_array_equal(arr(f(x)), np.full(3, 5.0))


# -- guards and errors ------------------------------------------------------------------
def test_bool_guard_runs_eagerly_and_retraces_when_branch_differs():
    @jit.trace
    def f(x):
        if x.sum() > 0:
            return x * 2
        return x - 1
    pos, neg = pyrch.ones(3), -pyrch.ones(3)
    for _ in range(3):
        f(pos)
    np.testing.assert_array_equal(arr(f(neg)), np.full(3, -2.0))
    assert "guard" in f.stats.retraces[-1]
    for _ in range(2):
        np.testing.assert_array_equal(arr(f(neg)), np.full(3, -2.0))
        np.testing.assert_array_equal(arr(f(pos)), np.full(3, 2.0))
    assert f.stats.traces == 2            # one variant per branch, both replayed


def test_item_raises_trace_error_with_user_line_and_fix():
    @jit.trace
    def f(x):
        y = (x * 3).sum()
        return x / y.item()
    x = pyrch.ones(2)
    f(x)
    with pytest.raises(TraceError) as e:
        f(x)
    msg = str(e.value)
    assert "test_jit_trace.py" in msg and "return x / y.item()" in msg
    assert "sum(" in msg and "allow_scalars=True" in msg and "outside" in msg


@pytest.mark.parametrize("conv", [lambda t: t.tolist(), lambda t: t.numpy(), float,
                                  lambda t: np.asarray(t)])
def test_other_python_conversions_raise(conv):
    @jit.trace
    def f(x):
        conv((x + 1).sum())
        return x
    f(pyrch.ones(2))
    with pytest.raises(TraceError):
        f(pyrch.ones(2))


def test_allow_scalars_bakes_values_as_guards():
    @jit.trace(allow_scalars=True)
    def f(x):
        n = int(x.sum().item())
        return x * n
    a = pyrch.ones(2)
    for _ in range(3):
        np.testing.assert_array_equal(arr(f(a)), [2.0, 2.0])
    b = pyrch.full((2,), 2.0)
    np.testing.assert_array_equal(arr(f(b)), [8.0, 8.0])     # guard fails -> eager + retrace
    assert f.stats.traces == 2


def test_printing_and_iterating_inside_a_trace_are_allowed(capsys):
    @jit.trace
    def f(x):
        print(x.sum())
        return sum(row.sum() for row in x)
    x = pyrch.ones(2, 2)
    for _ in range(3):
        out = f(x)
    assert float(out) == 4.0
    assert capsys.readouterr().out.count("tensor(4.)") == 2


# -- randomness -------------------------------------------------------------------------
def test_random_ops_draw_fresh_numbers_matching_the_eager_stream():
    def f(x):
        return F.dropout(x, 0.5, training=True) + pyrch.randn(4) * 0.01
    x = pyrch.ones(4)
    pyrch.manual_seed(3)
    eager = [arr(f(x)) for _ in range(5)]
    pyrch.manual_seed(3)
    tf = jit.trace(f)
    traced = [arr(tf(x)) for _ in range(5)]
    assert tf.stats.hits == 3
    for a, b in zip(eager, traced):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(traced[3], traced[4])


def test_failed_guard_does_not_consume_random_numbers():
    @jit.trace
    def f(x):
        r = pyrch.rand(3)
        if x.sum() > 0:
            return r
        return -r
    pyrch.manual_seed(0)
    f(pyrch.ones(1)), f(pyrch.ones(1)), f(pyrch.ones(1))
    a = arr(f(-pyrch.ones(1)))              # replay fails its guard, then eager
    pyrch.manual_seed(0)
    for _ in range(3):
        pyrch.rand(3)
    np.testing.assert_array_equal(a, -arr(pyrch.rand(3)))


# -- gradients through a trace ----------------------------------------------------------
def test_gradients_flow_through_replays():
    w = pyrch.randn(3, 2, dtype=pyrch.float64, requires_grad=True)

    @jit.trace
    def f(x):
        h = (x @ w).tanh()
        return h.pow(2).sum(dim=1), h.exp().mean()

    def grads(fn):
        x = pyrch.tensor(np.linspace(-1, 1, 12).reshape(4, 3), requires_grad=True)
        a, b = fn(x)
        ((a * pyrch.arange(4.0, dtype=pyrch.float64)).sum() + 3 * b).backward()
        g = (arr(x.grad), arr(w.grad))
        w.grad = None
        return g
    ref = grads(f.__wrapped__)
    for _ in range(4):
        got = grads(f)
    assert f.stats.hits >= 2
    out, _ = f(pyrch.ones(4, 3, dtype=pyrch.float64, requires_grad=True))
    assert out.grad_fn.name() == "TracedBackward0"
    for a, b in zip(ref, got):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_traced_module_backward_matches_eager_and_uses_original_parameters():
    pyrch.manual_seed(0)
    m = nn.Sequential(nn.Linear(5, 7), nn.GELU(), nn.Linear(7, 2)).double()
    x = pyrch.randn(3, 5, dtype=pyrch.float64)
    tm = jit.trace(m, (x,))
    for _ in range(2):
        tm(x).sum().backward()
    g_traced = [arr(p.grad) for p in m.parameters()]
    m.zero_grad()
    m(x).sum().backward()
    m(x).sum().backward()
    for a, p in zip(g_traced, m.parameters()):
        np.testing.assert_allclose(a, arr(p.grad), rtol=1e-12)
    with pyrch.no_grad():
        m[0].weight.mul_(0)               # the traced module reads the same parameters
    np.testing.assert_allclose(arr(tm(x)), arr(m(x)))
    assert isinstance(tm.stats, jit.Stats) and tm[0] is m[0]


def test_loss_returned_by_a_training_step_cannot_be_backpropagated_again():
    w = pyrch.ones(2, requires_grad=True)

    @jit.trace
    def step():
        loss = (w * w.exp()).sum()
        loss.backward()
        return loss
    for _ in range(3):
        loss = step()
    assert loss.requires_grad
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_double_backward_through_a_trace_is_refused():
    f = jit.trace(lambda x: (x * x).sum())
    x = pyrch.ones(2, requires_grad=True)
    for _ in range(3):
        y = f(x)
    with pytest.raises(RuntimeError, match="double backward"):
        pyrch.autograd.grad(y, x, create_graph=True)


# -- check mode, printing ---------------------------------------------------------------
SETTINGS = {"scale": 2.0}


def test_check_mode_reports_the_first_diverging_node():
    @jit.trace(check=5)
    def f(x):
        y = x + 1
        return (y * SETTINGS["scale"]).exp()
    x = pyrch.ones(2)
    for _ in range(3):
        f(x)
    SETTINGS["scale"] = 3.0     # a float read from a dict is baked in: check mode catches it
    try:
        with pytest.raises(TraceError, match=r"First diverging node: 1: mul"):
            f(x)
    finally:
        SETTINGS["scale"] = 2.0


def test_graph_prints_with_sources_and_scopes():
    pyrch.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 2))
    tm = jit.trace(m, (pyrch.ones(1, 3),))
    text = str(tm.graph_for(pyrch.ones(1, 3), optimized=False))
    assert text.startswith("graph Sequential(%input: f32[1,3]) params(%0.weight: f32[2,3], %0.bias: f32[2]) {"), text
    assert "= matmul(%input, %0)" in text
    assert re.search(r"# 0 \w+\.py:\d+", text)       # scope, then the library line
    assert text.rstrip().endswith("}")
    assert "<pre>" in tm.graph_for(pyrch.ones(1, 3))._repr_html_()


# -- save / load ----------------------------------------------------------------------------
def test_save_load_runs_in_a_fresh_process(tmp_path):
    pyrch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x = pyrch.randn(2, 4)
    with pyrch.no_grad():
        tm = jit.trace(m, (x,))
        ref = arr(m(x))
    path = tmp_path / "model.pjit"
    jit.save(tm, str(path))
    np.save(tmp_path / "x.npy", arr(x))
    np.save(tmp_path / "ref.npy", ref)
    code = ("import numpy as np, pyrch\n"
            "f = pyrch.jit.load('model.pjit')\n"
            "out = f(pyrch.from_numpy(np.load('x.npy')))\n"
            # float32: a plan's small products may sum in another order than eager's
            "assert np.allclose(out.numpy(), np.load('ref.npy'), rtol=1e-6, atol=1e-7)\n"
            "print('ok', sorted(f.params))\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(pyrch.__file__))))
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "0.weight" in r.stdout


def test_save_load_training_step_updates_loaded_state(tmp_path):
    w = pyrch.tensor([1.0, 2.0], requires_grad=True)
    opt = pyrch.optim.SGD([w], lr=0.25)

    @jit.trace
    def step(x):
        opt.zero_grad()
        (w * x).sum().backward()
        opt.step()
    x = pyrch.tensor([1.0, -1.0])
    step(x), step(x)
    jit.save(step, str(tmp_path / "s.pjit"))
    f = jit.load(str(tmp_path / "s.pjit"))
    f(x)
    np.testing.assert_allclose(arr(f.params["p0_0"]), arr(w) - 0.25 * np.array([1.0, -1.0]))
    f.hparams["lr"] = 0.0
    before = arr(f.params["p0_0"])
    f(x)
    np.testing.assert_array_equal(arr(f.params["p0_0"]), before)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "header"])
def test_load_rejects_corrupted_files(tmp_path, damage):
    f = jit.trace(lambda x: x.exp(), (pyrch.ones(2),))
    p = tmp_path / "f.pjit"
    jit.save(f, str(p))
    data = p.read_bytes()
    if damage == "truncate":
        data = data[: len(data) - 3]
    elif damage == "garbage":
        data = b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!"
    else:
        data = data.replace(b'"exp"', b'"xyz"')
    p.write_bytes(data)
    with pytest.raises(ValueError, match="not a valid pyrch.jit graph file"):
        jit.load(str(p))


# -- speed ----------------------------------------------------------------------------------
def test_small_gpt_step_replays_and_matches_eager():
    # NOTE: speed (trace time, replay vs eager) is measured in benchmarks/, not asserted here.
    sys.path.insert(0, os.path.dirname(__file__))
    from jit_models import gpt_step
    m, step = gpt_step()
    m2, step2 = gpt_step()
    idx = pyrch.randint(0, 64, (2, 8))
    ts = jit.trace(step)
    pyrch.manual_seed(1)              # dropout: the same stream for both runs
    losses = [ts(idx, idx) for _ in range(5)]
    pyrch.manual_seed(1)
    ref = [step2(idx, idx) for _ in range(5)]
    assert ts.stats.hits == 3
    for a, b in zip(losses, ref):
        np.testing.assert_allclose(a.item(), b.item(), rtol=1e-4)



def test_qkv_gradients_are_written_into_the_cat_that_joins_them():
    """The q/k/v gradients' products write straight into their parts of the cat's output
    (the cat copies nothing), with bitwise the values of the plan that copies; where a
    product cannot be written there, the cat copies it and the values stay right."""
    sys.path.insert(0, os.path.dirname(__file__))
    from jit_models import gpt_step
    from pyrch.jit import executor as E
    from pyrch._C import gemm

    def run(n=5):
        m, step = gpt_step(vocab=64, d=128, heads=4, layers=1, ctx=32)
        f = jit.trace(step)
        rng = np.random.default_rng(0)
        pyrch.manual_seed(1)
        losses = [f(pyrch.tensor(rng.integers(0, 64, (8, 32))),
                    pyrch.tensor(rng.integers(0, 64, (8, 32)))).item() for _ in range(n)]
        cats = [st for entry in f._cache.values() for var in entry.variants
                for st in var.executor.steps if hasattr(st, "copies")]
        return losses, [p.detach().numpy().copy() for p in m.parameters()], cats

    losses, weights, cats = run()
    assert cats and all(c.copies == 0 for c in cats)
    orig_parts, orig_into = E.Executor._cat_parts, gemm.mm_into
    E.Executor._cat_parts = lambda self, *a: ({}, {})
    try:
        ref_losses, ref_weights, ref_cats = run()
    finally:
        E.Executor._cat_parts = orig_parts
    assert not ref_cats
    assert losses == ref_losses
    for a, b in zip(weights, ref_weights):
        np.testing.assert_array_equal(a, b)
    gemm.mm_into = lambda a, b, out: None          # no product can go into place
    try:
        fb_losses, fb_weights, fb_cats = run()
    finally:
        gemm.mm_into = orig_into
    assert fb_cats and all(c.copies > 0 for c in fb_cats)
    np.testing.assert_allclose(fb_losses, losses, rtol=1e-5)
    for a, b in zip(fb_weights, weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)

def test_traced_method_keeps_one_cache_per_instance():
    class Scaler:
        def __init__(self, k):
            self.k = pyrch.tensor([k])

        @jit.trace
        def apply(self, x):
            return x * self.k
    a, b = Scaler(2.0), Scaler(3.0)
    x = pyrch.ones(1)
    for _ in range(3):
        ra, rb = a.apply(x), b.apply(x)
    assert float(ra) == 2.0 and float(rb) == 3.0
    assert a.apply.stats.hits == 1 and a.apply is a.apply


def test_saved_graph_keeps_its_guards_and_output_structure(tmp_path):
    @jit.trace
    def f(x):
        if x.sum() > 0:
            return {"a": x * 2, "b": (x + 1, 3)}
        return {"a": x, "b": (x, 3)}
    for _ in range(3):
        f(pyrch.ones(2))
    jit.save(f, str(tmp_path / "g.pjit"))
    g = jit.load(str(tmp_path / "g.pjit"))
    out = g(pyrch.ones(2))
    assert arr(out["a"]).tolist() == [2.0, 2.0] and out["b"][1] == 3
    with pytest.raises(RuntimeError, match="data guard"):
        g(-pyrch.ones(2))


def test_adamw_with_a_scheduler_changes_lr_every_step_without_retracing():
    """Regression: AdamW's decoupled decay used lr in Python arithmetic, so every new
    learning rate retraced."""
    pyrch.manual_seed(0)
    w = pyrch.nn.Parameter(pyrch.randn(3, 3))
    opt = pyrch.optim.AdamW([w], lr=0.1, weight_decay=0.1)
    sched = pyrch.optim.lr_scheduler.CosineAnnealingLR(opt, 10)
    w2 = pyrch.nn.Parameter(w.detach().clone())
    opt2 = pyrch.optim.AdamW([w2], lr=0.1, weight_decay=0.1)
    sched2 = pyrch.optim.lr_scheduler.CosineAnnealingLR(opt2, 10)

    def make(p, o):
        def step():
            o.zero_grad()
            (p * p).sum().backward()
            o.step()
        return step
    traced, eager = jit.trace(make(w, opt)), make(w2, opt2)
    for _ in range(8):
        traced()
        eager()
        sched.step()
        sched2.step()
    assert not traced.stats.retraces and traced.stats.traces == 1 and traced.stats.hits >= 5
    np.testing.assert_allclose(w.detach().numpy(), w2.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_fused_literal_zero_is_not_merged_with_the_first_input():
    """In a fused C program, `relu(w) > 0.0` (relu's backward mask) and `relu(w) > w`
    (maximum's) once became one value: 0.0 and input id 0 were the same CSE key. A tie in
    maximum(relu(w), w) then lost half its gradient on every replay."""
    w0 = np.array([[-0.5, -0.3, 0.4]])
    grads = []
    for traced in (False, True):
        w = pyrch.tensor(w0, requires_grad=True)
        opt = pyrch.optim.SGD([w], lr=0.5, momentum=0.5)

        def step():
            opt.zero_grad()
            m = pyrch.maximum(pyrch.relu(w), w)
            loss = (m * m).mean()
            loss.backward()
            opt.step()
            return loss
        f = jit.trace(step) if traced else step
        got = []
        for _ in range(4):
            f()
            got.append(w.grad.numpy().copy())
        grads.append(got)
    for e, t in zip(*grads):
        np.testing.assert_allclose(t, e, rtol=1e-12, atol=1e-15)


def test_small_batch_linear_products_write_into_planned_buffers():
    """A linear layer on a batch of <= 32 rows is still a plain matmul to the planner (so
    its output gets a reused buffer, not a fresh array per replay)."""
    from pyrch.jit.plan import ufunc_of
    f32 = np.dtype(np.float32)
    for rows in (1, 16, 32, 128):
        assert ufunc_of("matmul", {}, (((rows, 784), f32), ((784, 512), f32))) is np.matmul


@pytest.mark.skipif(not __import__("pyrch._C", fromlist=["available"]).available,
                    reason="the C extension is not built")
def test_sums_and_means_after_a_fused_group_run_in_its_pass():
    """float32: a sum / mean / sum_to right after a fused group is accumulated by the
    group's C program (the summed values are never stored) and matches eager."""
    from pyrch.jit.executor import _nothing

    def f(a, b, bias):
        d = (a - b) * 2.0
        h = (a * b + bias).relu()
        return ((d * d).mean(), (a * b).sum(dim=-1), (a + 1).sum(dim=0, keepdim=True),
                h, h.sum(dim=(0, 2)))
    rng = np.random.default_rng(0)
    a = pyrch.tensor(rng.standard_normal((8, 40, 300)).astype(np.float32))
    b = pyrch.tensor(rng.standard_normal((8, 40, 300)).astype(np.float32))
    bias = pyrch.tensor(rng.standard_normal(300).astype(np.float32))
    tf = jit.trace(f)
    for _ in range(3):
        got = tf(a, b, bias)
    for g, e in zip(got, f(a, b, bias)):
        assert g.shape == e.shape and g.dtype == e.dtype
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=2e-5, atol=2e-4)
    steps = [s for ex in tf.executors() for s in ex.steps]
    assert sum(s is _nothing for s in steps) >= 3, "the reductions were not folded into the group"


def test_fused_reductions_in_a_training_step_match_eager():
    """Bias gradients (sum_to) and a mean loss right after fused groups, through 5 SGD steps."""
    results = []
    for traced in (False, True):
        pyrch.manual_seed(0)
        model = nn.Sequential(nn.Linear(30, 64), nn.Tanh(), nn.Linear(64, 1))
        opt = pyrch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        rng = np.random.default_rng(1)
        x = pyrch.tensor(rng.standard_normal((256, 30)).astype(np.float32))
        y = pyrch.tensor(rng.standard_normal((256, 1)).astype(np.float32))

        def step(x, y):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        s = jit.trace(step) if traced else step
        losses = [float(s(x, y)) for _ in range(5)]
        results.append((losses, [p.detach().numpy().copy() for p in model.parameters()]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-4)
    for a, b in zip(results[1][1], results[0][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not __import__("pyrch._C", fromlist=["available"]).available,
                    reason="the C extension is not built")
@pytest.mark.parametrize("log", [False, True])
def test_softmax_after_a_fused_prologue_runs_in_its_program_bitwise(log):
    """Attention's scale and causal mask, then softmax (or log_softmax) over the last
    axis: the fused group's C program runs the row kernel on each row as it computes it
    (the masked scores are never stored), and values and gradients are bitwise eager's.
    Rows longer than 1024, an output also read elsewhere, and float64 keep two steps."""
    from pyrch.jit.executor import _nothing
    sm = F.log_softmax if log else F.softmax

    def attn(s, mask):
        return sm((s * 0.125).masked_fill(mask == 0, float("-inf")) if not log else s * 0.125 + 1.0,
                  dim=-1)

    def escapes(s, mask):
        t = s * 0.125 + 1.0
        return sm(t, dim=-1), t

    rng = np.random.default_rng(0)
    for fn, shape, dtype, fused in [(attn, (3, 4, 24, 24), np.float32, True),
                                    (attn, (5, 9), np.float32, True),
                                    (attn, (2, 1030), np.float32, False),
                                    (escapes, (6, 40), np.float32, False),
                                    (attn, (3, 4, 24, 24), np.float64, False)]:
        n = shape[-1]
        mask = pyrch.tensor(np.tril(np.ones((shape[-2] if len(shape) > 1 else 1, n), dtype)))
        x = pyrch.tensor(rng.standard_normal(shape).astype(dtype) * 3, requires_grad=True)
        g = pyrch.tensor(rng.standard_normal(shape).astype(dtype))
        tf = jit.trace(fn)
        for _ in range(4):
            got = tf(x, mask)
            got = got if isinstance(got, tuple) else (got,)
            gx, = pyrch.autograd.grad(got[0], [x], g)
        want = fn(x, mask)
        want = want if isinstance(want, tuple) else (want,)
        wx, = pyrch.autograd.grad(want[0], [x], g)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
        np.testing.assert_array_equal(gx.numpy(), wx.numpy())
        plan = [(st.name, s) for ex in tf.executors() for st, s in zip(ex.plan.steps, ex.steps)]
        absorbed = [name for name, s in plan if s is _nothing and "softmax" in name]
        assert bool(absorbed) == fused, (shape, dtype, plan)


@pytest.mark.skipif(not __import__("pyrch._C", fromlist=["available"]).available,
                    reason="the C extension is not built")
@pytest.mark.parametrize("dtype", [pyrch.float32, pyrch.float64])
def test_linear_layers_run_as_one_gemm_with_bias_and_activation(dtype):
    """matmul + bias (+ relu / gelu / tanh / sigmoid) in a traced forward is one GEMM
    with an epilogue; float64 only takes the exact ones (bias, relu) and stays bitwise."""
    from pyrch.jit.executor import _nothing
    pyrch.manual_seed(0)
    layers = [nn.Linear(96, 128), nn.ReLU(), nn.Linear(128, 112), nn.GELU(), nn.Linear(112, 96),
              nn.GELU(approximate="tanh"), nn.Linear(96, 80), nn.Tanh(), nn.Linear(80, 72),
              nn.Sigmoid(), nn.Linear(72, 96)]
    m = nn.Sequential(*layers).to(dtype)
    x = pyrch.randn(4, 50, 96, dtype=dtype)       # 3-D input: rows flattened; >= 1M multiply-adds
    with pyrch.no_grad():
        tm = jit.trace(m, (x,))
        for _ in range(3):
            got = tm(x)
        want = m(x)
    if dtype == pyrch.float64:
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    else:
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    steps = [s for ex in tm.executors() for s in ex.steps]
    assert all(s.slow[0] is None for s in steps if hasattr(s, "slow")), "fell back to two steps"
    folded = sum(s is _nothing for s in steps)
    # relu, gelu, tanh, sigmoid and the last bias in float32 (the tanh-approximated GELU is
    # traced spelled out, so it stays a fused group); relu and the last bias in float64
    assert folded == (5 if dtype == pyrch.float32 else 2), folded


@pytest.mark.skipif(not __import__("pyrch._C", fromlist=["available"]).available,
                    reason="the C extension is not built")
@pytest.mark.parametrize("fused", [False, True])
def test_attention_heads_merge_without_a_copy_and_matches_eager(fused, monkeypatch):
    """A traced attention block writes `att @ v` straight into the layout its
    `.transpose(1, 2).reshape(B, T, C)` wants (no copy for the heads merge), forward and
    backward, and matches eager: as separate products (attention the fuse_attention
    pass does not take, such as one with dropout) and as fused attention."""
    import math
    from pyrch.jit import executor as E, passes
    if not fused:
        monkeypatch.setattr(passes, "PIPELINE",
                            [p for p in passes.PIPELINE if p is not passes.fuse_attention])
    pyrch.manual_seed(0)
    B, T, C, H = 8, 64, 128, 4
    qkv = nn.Linear(C, 3 * C)
    proj = nn.Linear(C, C)
    params = list(qkv.parameters()) + list(proj.parameters())

    def block(x):
        q, k, v = qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        att = ((q @ k.transpose(-2, -1)) / math.sqrt(C // H)).softmax(-1)
        y = proj((att @ v).transpose(1, 2).reshape(B, T, C))
        return (y * y).mean()

    from pyrch._C import gemm
    found, calls = [], []
    orig, orig_into = E.Executor._permuted_products, gemm.mm_into

    def spy(self, steps, reads, escaping):
        r = orig(self, steps, reads, escaping)
        found.append(r)
        return r

    def spy_into(a, b, out):
        r = orig_into(a, b, out)
        calls.append(r is not None)
        return r
    x = pyrch.randn(B, T, C)
    traced = jit.trace(block)
    E.Executor._permuted_products, gemm.mm_into = spy, spy_into
    try:
        for _ in range(3):
            for p in params:
                p.grad = None
            loss = traced(x)
            loss.backward()
    finally:
        E.Executor._permuted_products, gemm.mm_into = orig, orig_into
    got = [loss.item()] + [p.grad.numpy().copy() for p in params]
    for p in params:
        p.grad = None
    loss = block(x)
    loss.backward()
    want = [loss.item()] + [p.grad.numpy() for p in params]
    if fused:
        # the output and the q, k, v gradients, each written in its permute's layout
        perms = [p for r in found for key, p in r.items() if isinstance(key, tuple)]
        assert perms.count((0, 2, 1, 3)) == 4, perms
    else:
        perms = [p for r in found for p in r.values()]
        assert (0, 2, 1, 3) in perms, "att @ v not written into the merged-heads layout"
        # the k gradient comes out transposed: its product is computed the other way round
        assert (0, 3, 1, 2) in perms, "the transposed k gradient still copies"
        assert calls and all(calls), "a product fell back to a copy"
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    for g, w in zip(got[1:], want[1:]):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
