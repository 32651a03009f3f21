"""Every known tracing pitfall and what pyrch does about it: ERROR (TraceError naming
the line and the fix), RETRACE (a guard or the cache key catches it and the result
matches eager) or DOCUMENTED (the behaviour is stated in pyrch/jit/__init__.py).

Changing any of these behaviours requires updating this file.
"""

import numpy as np
import pytest

import pyrch
from pyrch import jit, nn
from pyrch.jit import TraceError, TracerWarning


def arr(t):
    return t.detach().numpy().copy()


def replay(f, *args, n=3):
    out = None
    for _ in range(n):
        out = f(*args)
    return out


# -- data-dependent control flow -------------------------------------------------------------
def test_RETRACE_if_on_a_tensor_value():
    @jit.trace
    def f(x):
        return x * 2 if x.max() > 1 else x / 2
    replay(f, pyrch.full((2,), 3.0))
    np.testing.assert_array_equal(arr(f(pyrch.full((2,), 0.5))), [0.25, 0.25])


def test_RETRACE_while_loop_on_a_tensor_value():
    @jit.trace
    def f(x):
        while x.sum() < 10:
            x = x * 2
        return x
    replay(f, pyrch.ones(2))                 # 1 -> 2 -> 4 -> 8 (3 doublings, 4 guards)
    np.testing.assert_array_equal(arr(f(pyrch.full((2,), 3.0))), [6.0, 6.0])


def test_ERROR_item_tolist_numpy_in_a_trace():
    @jit.trace
    def f(x):
        return x * x.mean().item()
    f(pyrch.ones(2))
    with pytest.raises(TraceError, match="allow_scalars"):
        f(pyrch.ones(2))


def test_DOCUMENTED_iterating_a_tensor_is_static():
    f = jit.trace(lambda x: [r * i for i, r in enumerate(x)])
    out = replay(f, pyrch.ones(3, 2))
    assert [arr(o).tolist() for o in out] == [[0, 0], [1, 1], [2, 2]]


# -- Python side effects -----------------------------------------------------------------------
def test_DOCUMENTED_python_side_effects_run_only_while_tracing():
    log = []

    @jit.trace
    def f(x):
        log.append("called")
        return x + 1
    replay(f, pyrch.ones(1), n=5)
    assert log == ["called", "called"]       # warm-up and recording only


def test_DOCUMENTED_non_tensor_outputs_are_those_of_the_traced_run():
    counter = [0]

    @jit.trace
    def f(x):
        counter[0] += 1
        return x + 1, counter[0]
    outs = [f(pyrch.ones(1))[1] for _ in range(4)]
    assert outs == [1, 2, 2, 2]


def test_DOCUMENTED_printing_shows_the_trace_time_value(capsys):
    @jit.trace
    def f(x):
        print("x is", x)
        return x
    replay(f, pyrch.ones(1), n=4)
    assert capsys.readouterr().out.count("x is") == 2


def test_DOCUMENTED_numpy_randomness_is_baked_use_pyrch_random_ops():
    @jit.trace
    def f(x):
        return x + pyrch.from_numpy(np.random.rand(2).astype(np.float32))
    a, b = replay(f, pyrch.zeros(2), n=3), f(pyrch.zeros(2))
    np.testing.assert_array_equal(arr(a), arr(b))      # numpy's draw became a constant
    g = jit.trace(lambda x: x + pyrch.rand(2))
    a, b = replay(g, pyrch.zeros(2), n=3), g(pyrch.zeros(2))
    assert not np.array_equal(arr(a), arr(b))          # pyrch's random ops are fresh


# -- state, closures, globals --------------------------------------------------------------------
W = pyrch.ones(2)


def test_DOCUMENTED_globals_and_closures_are_read_by_reference():
    bias = pyrch.zeros(2)
    f = jit.trace(lambda x: x * W + bias)
    replay(f, pyrch.ones(2))
    W.mul_(3)
    bias.add_(1)
    try:
        np.testing.assert_array_equal(arr(f(pyrch.ones(2))), [4.0, 4.0])
    finally:
        W.fill_(1.0)


def test_RETRACE_rebinding_a_global_or_closure_variable():
    global W
    f = jit.trace(lambda x: x * W)
    replay(f, pyrch.ones(2))
    old = W
    W = pyrch.full((2,), 5.0)
    try:
        np.testing.assert_array_equal(arr(f(pyrch.ones(2))), [5.0, 5.0])
        assert any("rebound" in r for r in f.stats.retraces)
    finally:
        W = old
    k = pyrch.ones(1)

    def g(x):
        return x * k
    tg = jit.trace(g)
    replay(tg, pyrch.ones(1))
    k = pyrch.full((1,), 7.0)    # noqa: F841  (rebinds the closure cell)
    np.testing.assert_array_equal(arr(tg(pyrch.ones(1))), [7.0])


def test_DOCUMENTED_python_numbers_in_mutable_containers_are_baked():
    cfg = {"scale": 2.0}
    f = jit.trace(lambda x: x * cfg["scale"])
    replay(f, pyrch.ones(1))
    cfg["scale"] = 5.0
    assert arr(f(pyrch.ones(1))).tolist() == [2.0]     # use check=N to catch this


def test_RETRACE_python_number_arguments_are_part_of_the_key():
    f = jit.trace(lambda x, s: x * s)
    replay(f, pyrch.ones(1), 2.0)
    assert arr(f(pyrch.ones(1), 5.0)).tolist() == [5.0]


def test_ERROR_assigning_tensor_data_inside_a_trace():
    w = pyrch.ones(2)

    @jit.trace
    def f(x):
        w.data = x * 2
        return w + 1
    f(pyrch.ones(2))
    with pytest.raises(TraceError, match="copy_"):
        f(pyrch.ones(2))


def test_DOCUMENTED_in_place_write_through_a_partial_view_is_recorded():
    state = pyrch.zeros(3, 2)

    def f(x):
        y = x.clone()
        y[0].mul_(5)
        y.t()[1] += x[:, 0]
        state[1].add_(x.sum(0))
        return y
    tf = jit.trace(f)
    expect_state = pyrch.zeros(3, 2)
    for k in range(4):
        x = pyrch.randn(2, 2)
        np.testing.assert_array_equal(arr(tf(x)), arr(f(x.clone())))
        expect_state[1] += 2 * x.sum(0)                 # f ran too: it adds its own share
        np.testing.assert_allclose(arr(state), arr(expect_state), rtol=1e-6)
    assert tf.stats.hits >= 2


def test_DOCUMENTED_in_place_write_through_a_view_keeps_gradients():
    w = pyrch.randn(3, 4, dtype=pyrch.float64, requires_grad=True)

    def f(x):
        y = x * w
        y[0] += 1
        y[:, 1] *= x[:, 2]
        return (y * y).sum()
    tf = jit.trace(f)
    for _ in range(4):
        x = pyrch.randn(3, 4, dtype=pyrch.float64)
        w.grad = None
        f(x).backward()
        eager = arr(w.grad)
        w.grad = None
        tf(x).backward()
        np.testing.assert_array_equal(arr(w.grad), eager)     # float64: bit for bit
    assert tf.stats.hits >= 2


def test_ERROR_in_place_write_through_an_overlapping_view():
    @jit.trace
    def f(x):
        y = x.clone()[0].expand(3, 2)
        y.mul_(5)
        return y
    with pytest.raises((TraceError, RuntimeError)):
        f(pyrch.ones(2, 2))
        f(pyrch.ones(2, 2))


def test_DOCUMENTED_a_view_taken_before_an_in_place_update_sees_the_update():
    def f(x):
        y = x.clone()
        flat = y.reshape(4)
        col = y.t()[1]
        y.add_(1)
        y[0, 1] = 7.0
        return flat * 2, col + 0
    tf = jit.trace(f)
    for _ in range(4):
        x = pyrch.randn(2, 2)
        for a, b in zip(tf(x), f(x)):
            np.testing.assert_array_equal(arr(a), arr(b))
    assert tf.stats.hits >= 2


def test_DOCUMENTED_setitem_on_the_base_tensor_is_recorded():
    @jit.trace
    def f(x):
        y = x.clone()
        y[0] = y[0] * 5
        return y
    out = replay(f, pyrch.ones(2, 2))
    np.testing.assert_array_equal(arr(out), [[5, 5], [1, 1]])


# -- modules -------------------------------------------------------------------------------------
def test_RETRACE_modules_mutated_after_tracing():
    pyrch.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 3))
    tm = jit.trace(m)
    x = pyrch.ones(1, 3)
    with pyrch.no_grad():
        replay(tm, x)
        m.append(nn.Linear(3, 2))                       # a new submodule
        np.testing.assert_array_equal(arr(tm(x)), arr(m(x)))
        m[0].weight = nn.Parameter(pyrch.zeros(3, 3))   # a replaced parameter
        np.testing.assert_array_equal(arr(tm(x)), arr(m(x)))
        m[0].register_buffer("scale", pyrch.ones(1))    # a new buffer
        tm(x)
    assert len(tm.stats.retraces) >= 2


def test_RETRACE_a_submodule_set_to_none():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)

        def forward(self, x):
            x = self.a(x)
            return x if self.b is None else self.b(x)
    pyrch.manual_seed(0)
    m = Net()
    tm = jit.trace(m)
    x = pyrch.ones(2, 3)
    with pyrch.no_grad():
        replay(tm, x)
        m.b = None                                      # the slot stays, holding None
        np.testing.assert_array_equal(arr(replay(tm, x)), arr(m.a(x)))
        m.b = nn.Linear(3, 3)                           # and a module again
        np.testing.assert_array_equal(arr(replay(tm, x)), arr(m.b(m.a(x))))


def test_RETRACE_train_and_eval_flags():
    pyrch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    tm = jit.trace(m)
    x = pyrch.ones(2, 4)
    with pyrch.no_grad():
        replay(tm, x)
        m.eval()
        np.testing.assert_array_equal(arr(replay(tm, x)), arr(m(x)))


def test_DOCUMENTED_module_hooks_warn_and_do_not_run_on_replay():
    m = nn.Linear(2, 2)
    seen = []
    m.register_forward_hook(lambda mod, i, o: seen.append(1))
    tm = jit.trace(m)
    with pytest.warns(TracerWarning, match="hooks"):
        replay(tm, pyrch.ones(1, 2), n=4)
    assert len(seen) == 2


def test_DOCUMENTED_tensor_hooks_warn():
    w = pyrch.ones(2, requires_grad=True)
    w.register_hook(lambda g: g * 2)

    @jit.trace
    def step():
        (w * 3).sum().backward()
    with pytest.warns(TracerWarning, match="hooks"):
        replay(step)


# -- optimizers and gradients ------------------------------------------------------------------
def test_DOCUMENTED_hyperparameters_live_when_consumed_by_ops():
    w = pyrch.ones(1, requires_grad=True)
    opt = pyrch.optim.SGD([w], lr=1.0)

    @jit.trace
    def step():
        opt.zero_grad()
        w.sum().backward()
        opt.step()
    replay(step)
    opt.param_groups[0]["lr"] = 0.5
    before = arr(w)
    step()
    np.testing.assert_array_equal(arr(w), before - 0.5)
    assert not step.stats.retraces


def test_DOCUMENTED_grad_none_vs_set_is_guarded():
    w = pyrch.ones(2, requires_grad=True)

    @jit.trace
    def step():
        (w * w).sum().backward()      # accumulates when .grad exists, sets it when None
    replay(step)
    w.grad = None
    step()
    np.testing.assert_array_equal(arr(w.grad), [2.0, 2.0])
    assert any(".grad" in r for r in step.stats.retraces)


def test_ERROR_double_backward_through_a_trace():
    f = jit.trace(lambda x: (x ** 3).sum())
    x = pyrch.ones(1, requires_grad=True)
    y = replay(f, x)
    with pytest.raises(RuntimeError, match="double backward"):
        pyrch.autograd.grad(y, x, create_graph=True)


def test_RETRACE_lazy_state_created_while_recording_is_not_baked():
    pyrch.manual_seed(0)
    m = nn.Linear(3, 1).double()
    opt = pyrch.optim.Adam(m.parameters(), lr=0.1)
    x = pyrch.ones(2, 3, dtype=pyrch.float64)

    def step(x):
        opt.zero_grad()
        m(x).sum().backward()
        opt.step()
    ref_m = nn.Linear(3, 1).double()
    ref_m.load_state_dict(m.state_dict())
    ref_opt = pyrch.optim.Adam(ref_m.parameters(), lr=0.1)
    ts = jit.trace(step, (x,))         # records at once: Adam's moments appear during it
    for _ in range(4):
        ts(x)
    for _ in range(5):
        ref_opt.zero_grad()
        ref_m(x).sum().backward()
        ref_opt.step()
    np.testing.assert_array_equal(arr(m.weight), arr(ref_m.weight))
    assert ts.stats.traces == 1 and ts.stats.hits == 3


def test_DOCUMENTED_in_place_updates_of_arguments_are_committed():
    @jit.trace
    def f(x, g):
        x.sub_(g * 0.5)
    xs = [pyrch.ones(2) for _ in range(4)]
    for x in xs:
        f(x, pyrch.ones(2))
    for x in xs:
        np.testing.assert_array_equal(arr(x), [0.5, 0.5])


def test_custom_function_with_grad_through_replay_raises_instead_of_wrong_grads():
    """A straight-through estimator's backward is not the derivative of its forward:
    a replay's derived backward would silently differ, so tracing refuses."""
    class STE(pyrch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.round()

        @staticmethod
        def backward(ctx, g):
            return g

    @jit.trace
    def f(x):
        return STE.apply(x * 2)

    x = pyrch.tensor([0.3, 1.7], requires_grad=True)
    f(x)                                   # warm-up runs eagerly
    with pytest.raises(jit.TraceError, match="STE"):
        f(x)


def test_custom_function_inside_a_traced_training_step_is_fine():
    class STE(pyrch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.round()

        @staticmethod
        def backward(ctx, g):
            return g

    w = pyrch.tensor([0.3, 1.7], requires_grad=True)

    def step():
        w.grad = None
        STE.apply(w * 2).sum().backward()
        return w.grad.clone()
    traced = jit.trace(step)
    outs = [traced() for _ in range(4)]
    assert all(o.tolist() == [2.0, 2.0] for o in outs)


def test_DOCUMENTED_traced_cuda_embedding_gives_nan_rows_cpu_replays_still_raise():
    # (the CUDA half runs in tests/test_cuda.py::test_traced_embedding_out_of_range_gives_nan_rows)
    w = pyrch.randn(5, 3)
    f = jit.trace(lambda i: nn.functional.embedding(i, w) * 1)
    replay(f, pyrch.tensor([0, 4]))
    with pytest.raises(IndexError, match="index out of range in self"):
        f(pyrch.tensor([1, 7]))
