"""Random programs, traced == eager.

Hypothesis draws chains of registered elementwise, reduce and movement ops over
random shapes, ending in a loss whose gradient updates a parameter in place
(an optimizer-like step), and sometimes a second output that backpropagates
through the replay. Each program runs three times eagerly and three times
traced (warm-up, record, replay) from the same state; outputs, parameter and
gradients must agree.
"""
import numpy as np
from hypothesis import HealthCheck, example, given, settings, strategies as st

import pyrch
from pyrch import jit

UNARY = ["exp", "tanh", "sin", "neg", "abs", "sigmoid", "relu", "square", "cos"]
BINARY = ["add", "sub", "mul", "div", "maximum", "minimum"]


def _unary(name, x):
    if name == "exp":
        return x.tanh().exp()                 # bounded
    return getattr(pyrch, name)(x)


def _binary(name, a, b):
    if name == "div":
        return a / (b.abs() + 1)
    return getattr(pyrch, name)(a, b)


@st.composite
def programs(draw):
    nd = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=nd, max_size=nd)))
    # a second input that broadcasts against the first
    bshape = tuple(s if draw(st.booleans()) else 1 for s in shape)[draw(st.integers(0, nd - 1)):]
    steps = []
    shapes = [shape, bshape, shape]     # x, y, w (the parameter)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["unary", "binary", "binary", "reduce", "move"]))
        i = draw(st.integers(0, len(shapes) - 1))
        s = shapes[i]
        if kind == "unary":
            steps.append(("unary", draw(st.sampled_from(UNARY)), i))
        elif kind == "binary":
            cands = [j for j, t in enumerate(shapes) if _broadcastable(s, t)]
            steps.append(("binary", draw(st.sampled_from(BINARY)), i, draw(st.sampled_from(cands))))
            s = np.broadcast_shapes(s, shapes[steps[-1][3]])
        elif kind == "reduce" and len(s) >= 1:
            d = draw(st.integers(0, len(s) - 1))
            keep = draw(st.booleans())
            steps.append(("reduce", draw(st.sampled_from(["sum", "mean", "amax"])), i, d, keep))
            s = tuple(1 if k == d else n for k, n in enumerate(s)) if keep else s[:d] + s[d + 1:]
        elif kind == "move" and len(s) >= 2:
            perm = tuple(draw(st.permutations(range(len(s)))))
            steps.append(("permute", perm, i))
            s = tuple(s[p] for p in perm)
        elif kind == "move":
            steps.append(("reshape", (1,) + tuple(s), i))
            s = (1,) + tuple(s)
        else:
            steps.append(("unary", "tanh", i))
        shapes.append(tuple(s))
    return shape, bshape, steps, draw(st.booleans()), draw(st.floats(0.01, 0.5))


def _broadcastable(a, b):
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


def _build(steps, two_outputs, lr_box):
    def program(x, y, w):
        vals = [x, y, w]
        for stp in steps:
            kind = stp[0]
            if kind == "unary":
                vals.append(_unary(stp[1], vals[stp[2]]))
            elif kind == "binary":
                vals.append(_binary(stp[1], vals[stp[2]], vals[stp[3]]))
            elif kind == "reduce":
                vals.append(getattr(vals[stp[2]], stp[1])(dim=stp[3], keepdim=stp[4]))
            elif kind == "permute":
                vals.append(vals[stp[2]].permute(*stp[1]))
            else:
                vals.append(vals[stp[2]].reshape(stp[1]))
        out = vals[-1]
        loss = (out * out).mean() + (w * w).sum() * 0.01
        return loss, (out.sum() if two_outputs else None)
    return program


def _step_fn(program, w, opt):
    def step(x, y):
        opt.zero_grad()
        loss, extra = program(x, y, w)
        loss.backward()
        opt.step()
        return loss, extra
    return step


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(prog=((1, 3), (1, 1), [("unary", "exp", 0)] * 5 + [("unary", "relu", 2), ("unary", "exp", 0),
                                                           ("binary", "maximum", 8, 2)], False, 0.5),
         seed=0)    # regression: a fused program's CSE merged `relu(w) > 0.0` with `relu(w) > w`
@given(programs(), st.integers(0, 2 ** 31 - 1))
def test_random_training_programs_traced_equal_eager(prog, seed):
    _check_training_program(prog, seed, np.float64)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.integers(0, 2 ** 31 - 1))
def test_random_float32_training_programs_traced_match_eager(prog, seed):
    """float32: the C VM runs the fused groups, and sums or means right after a group
    are computed in the group's pass; results match eager to float32 tolerance."""
    _check_training_program(prog, seed, np.float32)


def _check_training_program(prog, seed, dtype):
    shape, bshape, steps, two, lr = prog
    rng = np.random.default_rng(seed)
    xs = [(pyrch.tensor(rng.standard_normal(shape).astype(dtype)),
           pyrch.tensor(rng.standard_normal(bshape).astype(dtype))) for _ in range(4)]
    w0 = rng.standard_normal(shape).astype(dtype)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)
    results = []
    for traced in (False, True):
        w = pyrch.tensor(w0, requires_grad=True)
        opt = pyrch.optim.SGD([w], lr=lr, momentum=0.5)
        step = _step_fn(_build(steps, two, None), w, opt)
        if traced:
            step = jit.trace(step)
        outs = []
        for i, (x, y) in enumerate(xs):
            if i == 3:
                opt.param_groups[0]["lr"] = lr / 2       # a scheduler-like change
            loss, extra = step(x, y)
            outs.append((loss.item(), None if extra is None else extra.item(), w.detach().numpy().copy(),
                         w.grad.numpy().copy()))
        results.append(outs)
        if traced:
            assert step.stats.hits == 2 and not step.stats.retraces, step.stats.retraces
    for (l1, e1, w1, g1), (l2, e2, w2, g2) in zip(*results):
        np.testing.assert_allclose(l2, l1, **tol)
        if e1 is not None:
            np.testing.assert_allclose(e2, e1, **tol)
        np.testing.assert_allclose(w2, w1, **tol)
        np.testing.assert_allclose(g2, g1, **tol)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(prog=((1,), (1,), [("binary", "div", 0, 2), ("unary", "exp", 0), ("binary", "add", 2, 3)],
               False, 0.5), seed=0)       # regression: sibling fusion closed a cycle
@given(programs(), st.integers(0, 2 ** 31 - 1))
def test_random_programs_backpropagate_through_replays(prog, seed):
    shape, bshape, steps, _, _ = prog
    rng = np.random.default_rng(seed)
    w = pyrch.tensor(rng.standard_normal(shape), requires_grad=True)
    program = _build(steps, False, None)
    f = jit.trace(lambda x, y: program(x, y, w)[0])
    for _ in range(3):
        x = pyrch.tensor(rng.standard_normal(shape), requires_grad=True)
        y = pyrch.tensor(rng.standard_normal(bshape))
        gt = pyrch.autograd.grad(f(x, y), (x, w), allow_unused=True)
        ge = pyrch.autograd.grad(program(x, y, w)[0], (x, w), allow_unused=True)
        for a, b in zip(gt, ge):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)
    assert f.stats.hits == 1
