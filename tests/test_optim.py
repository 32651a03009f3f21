"""Optimizers and lr schedulers: 20-step trajectories against PyTorch, state dicts, errors."""
import math

import numpy as np
import pytest

import pyrch
from pyrch import optim
from pyrch.optim import lr_scheduler

from conftest import HAVE_TORCH

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch cross-check is optional")

STEPS = 20

OPTIMIZERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.01, weight_decay=0.2, maximize=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.5, 0.9), eps=1e-6)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True, weight_decay=0.05)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
    ("AdamW", dict(lr=0.01, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, maximize=True, eps=1e-4)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.1, maximize=True, eps=1e-6)),
]


def _problem(dtype="float64"):
    rng = np.random.RandomState(0)
    return {"w": rng.randn(3, 4).astype(dtype), "b": rng.randn(3).astype(dtype),
            "x": rng.randn(8, 4).astype(dtype), "y": rng.randn(8, 3).astype(dtype)}


def _loss(lib, w, b, x, y):
    r = x @ w.t() + b - y
    return (r * r).mean() + (w * w * w * w).sum() * 0.01


def _run(lib, name, kwargs, dtype="float64", groups=False, sched=None, steps=STEPS):
    """Train the small problem with `lib` (pyrch or torch); return per-step params and lrs."""
    data = _problem(dtype)
    w = lib.tensor(data["w"], requires_grad=True)
    b = lib.tensor(data["b"], requires_grad=True)
    x, y = lib.tensor(data["x"]), lib.tensor(data["y"])
    params = [{"params": [w]}, {"params": [b], "lr": kwargs.get("lr", 0.01) * 0.5}] \
        if groups else [w, b]
    opt = getattr(lib.optim, name)(params, **kwargs)
    sch = sched(lib, opt) if sched else None
    traj, lrs = [], []
    for _ in range(steps):
        opt.zero_grad()
        loss = _loss(lib, w, b, x, y)
        loss.backward()
        opt.step()
        if sch is not None:
            if isinstance(sch, lib.optim.lr_scheduler.ReduceLROnPlateau):
                sch.step(float(loss.detach()))
            else:
                sch.step()
            lrs.append(list(sch.get_last_lr()))
        traj.append(np.concatenate([w.detach().numpy().ravel(), b.detach().numpy().ravel()]))
    return np.array(traj), lrs, opt


@needs_torch
@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=lambda v: str(v))
def test_trajectory_matches_torch_float64(name, kwargs):
    import torch
    ours, _, _ = _run(pyrch, name, kwargs)
    ref, _, _ = _run(torch, name, kwargs)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("name,kwargs", OPTIMIZERS[1::3], ids=lambda v: str(v))
def test_trajectory_matches_torch_float32_groups(name, kwargs):
    import torch
    ours, _, _ = _run(pyrch, name, kwargs, dtype="float32", groups=True)
    ref, _, _ = _run(torch, name, kwargs, dtype="float32", groups=True)
    np.testing.assert_allclose(ours, ref, rtol=2e-5, atol=2e-6)


SCHEDULERS = [
    ("LambdaLR", lambda L, o: L.optim.lr_scheduler.LambdaLR(o, lambda e: 0.9 ** e)),
    ("LambdaLR-groups", lambda L, o: L.optim.lr_scheduler.LambdaLR(
        o, [lambda e: 1 / (e + 1), lambda e: 0.5 + e % 3])),
    ("MultiplicativeLR", lambda L, o: L.optim.lr_scheduler.MultiplicativeLR(o, lambda e: 0.95)),
    ("StepLR", lambda L, o: L.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    ("MultiStepLR", lambda L, o: L.optim.lr_scheduler.MultiStepLR(o, [2, 5, 5, 11], gamma=0.3)),
    ("ConstantLR", lambda L, o: L.optim.lr_scheduler.ConstantLR(o, factor=0.25, total_iters=4)),
    ("ExponentialLR", lambda L, o: L.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
    ("CosineAnnealingLR", lambda L, o: L.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7,
                                                                               eta_min=0.001)),
    ("LinearLR", lambda L, o: L.optim.lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=6)),
    ("LinearLR-down", lambda L, o: L.optim.lr_scheduler.LinearLR(o, 1.0, 0.1, total_iters=8)),
    ("PolynomialLR", lambda L, o: L.optim.lr_scheduler.PolynomialLR(o, total_iters=12, power=2.0)),
    ("WarmRestarts", lambda L, o: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        o, T_0=3, T_mult=2, eta_min=0.001)),
    ("OneCycleLR", lambda L, o: L.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=21)),
    ("OneCycleLR-3phase-linear", lambda L, o: L.optim.lr_scheduler.OneCycleLR(
        o, max_lr=[0.1, 0.05], epochs=3, steps_per_epoch=7, three_phase=True,
        anneal_strategy="linear")),
    ("SequentialLR", lambda L, o: L.optim.lr_scheduler.SequentialLR(
        o, [L.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=4),
            L.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10),
            L.optim.lr_scheduler.ExponentialLR(o, gamma=0.8)], milestones=[5, 12])),
    ("ChainedScheduler", lambda L, o: L.optim.lr_scheduler.ChainedScheduler(
        [L.optim.lr_scheduler.ConstantLR(o, factor=0.5, total_iters=3),
         L.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)])),
    ("ReduceLROnPlateau", lambda L, o: L.optim.lr_scheduler.ReduceLROnPlateau(
        o, patience=1, factor=0.5, threshold=0.05, cooldown=1)),
    ("ReduceLROnPlateau-max-abs", lambda L, o: L.optim.lr_scheduler.ReduceLROnPlateau(
        o, mode="max", patience=2, threshold=0.01, threshold_mode="abs", min_lr=[0.02, 0.01])),
]


@needs_torch
@pytest.mark.parametrize("label,make", SCHEDULERS, ids=[s[0] for s in SCHEDULERS])
def test_scheduler_matches_torch(label, make):
    import torch
    opt_name = "Adam" if "OneCycle" in label else "SGD"
    kwargs = dict(lr=0.1, momentum=0.9) if opt_name == "SGD" else dict(lr=0.05)
    ours, our_lrs, o1 = _run(pyrch, opt_name, kwargs, groups=True, sched=make)
    ref, ref_lrs, o2 = _run(torch, opt_name, kwargs, groups=True, sched=make)
    np.testing.assert_allclose(np.array(our_lrs), np.array(ref_lrs), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)
    for g1, g2 in zip(o1.param_groups, o2.param_groups):
        for key in ("lr", "momentum", "betas", "initial_lr", "max_lr", "min_lr"):
            if key in g2:
                np.testing.assert_allclose(g1[key], g2[key], rtol=1e-12)


@needs_torch
def test_scheduler_closed_form_epoch_argument():
    import torch
    out = []
    for lib in (pyrch, torch):
        o = lib.optim.SGD([lib.zeros(1, requires_grad=True)], lr=1.0)
        s = lib.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)
        with pytest.warns(UserWarning):
            s.step(7)
        out.append(s.get_last_lr())
    assert out[0] == out[1]


@needs_torch
@pytest.mark.parametrize("name,kwargs", [OPTIMIZERS[i] for i in (1, 10, 12, 17, 21)],
                         ids=lambda v: str(v))
def test_state_dict_layout_matches_torch(name, kwargs):
    import torch
    _, _, ours = _run(pyrch, name, kwargs, steps=2, groups=True)
    _, _, ref = _run(torch, name, kwargs, steps=2, groups=True)
    a, b = ours.state_dict(), ref.state_dict()
    assert [sorted(g) for g in a["param_groups"]] == [sorted(g) for g in b["param_groups"]]
    assert [g["params"] for g in a["param_groups"]] == [g["params"] for g in b["param_groups"]]
    assert sorted(a["state"]) == sorted(b["state"])
    for k in a["state"]:
        assert sorted(a["state"][k]) == sorted(b["state"][k])
        for key, v in a["state"][k].items():
            np.testing.assert_allclose(v.numpy(), b["state"][k][key].numpy(), rtol=1e-9)
            assert str(v.dtype).split(".")[-1] == str(b["state"][k][key].dtype).split(".")[-1]


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS[1::2], ids=lambda v: str(v))
def test_state_dict_round_trip_resumes_identically(name, kwargs):
    full, _, _ = _run(pyrch, name, kwargs, steps=10)
    data = _problem()
    w = pyrch.tensor(data["w"], requires_grad=True)
    b = pyrch.tensor(data["b"], requires_grad=True)
    x, y = pyrch.tensor(data["x"]), pyrch.tensor(data["y"])

    def train(opt, n):
        for _ in range(n):
            opt.zero_grad()
            _loss(pyrch, w, b, x, y).backward()
            opt.step()

    opt = getattr(optim, name)([w, b], **kwargs)
    train(opt, 5)
    sd = opt.state_dict()
    opt2 = getattr(optim, name)([w, b], **kwargs)
    opt2.load_state_dict(sd)
    train(opt2, 5)
    got = np.concatenate([w.detach().numpy().ravel(), b.detach().numpy().ravel()])
    np.testing.assert_allclose(got, full[-1], rtol=1e-12)
    # the loaded state is a private copy: training opt2 left opt's state untouched
    for k, st in opt.state_dict()["state"].items():
        for key, v in st.items():
            assert v is not opt2.state_dict()["state"][k][key]


def test_step_count_is_a_float32_tensor_updated_in_place():
    w = pyrch.ones(2, requires_grad=True)
    opt = optim.Adam([w])
    (w * w).sum().backward()
    opt.step()
    step = opt.state[w]["step"]
    assert isinstance(step, pyrch.Tensor) and step.dtype == pyrch.float32 and step.dim() == 0
    opt.step()
    assert opt.state[w]["step"] is step and step.item() == 2.0


def test_lr_is_read_from_param_groups_every_step():
    w = pyrch.tensor([1.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    w.grad = pyrch.tensor([1.0])
    opt.step()
    opt.param_groups[0]["lr"] = 1.0
    opt.step()
    assert w.item() == pytest.approx(1.0 - 0.1 - 1.0)


def test_zero_grad_and_params_without_grad():
    w = pyrch.ones(2, requires_grad=True)
    v = pyrch.ones(2, requires_grad=True)
    opt = optim.Adam([w, v], lr=0.1)
    (w * 3).sum().backward()
    opt.step()
    assert v.grad is None and v not in opt.state and w in opt.state
    assert v.tolist() == [1.0, 1.0]
    opt.zero_grad(set_to_none=False)
    assert w.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert w.grad is None


def test_closure_is_called_with_grad_and_loss_returned():
    w = pyrch.tensor([2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 4.0
    assert w.item() == pytest.approx(1.0)


def test_add_param_group_and_errors():
    w, v = pyrch.ones(2, requires_grad=True), pyrch.ones(3, requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.5)
    opt.add_param_group({"params": v, "lr": 0.01})
    assert opt.param_groups[1]["lr"] == 0.01 and opt.param_groups[1]["momentum"] == 0.5
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [w]})
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(w, lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.Adam([w], lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        optim.Adam([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {w}}], lr=0.1)
    opt2 = optim.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt2.load_state_dict(opt.state_dict())


def test_named_parameters_are_accepted():
    w = pyrch.ones(2, requires_grad=True)
    opt = optim.SGD([("weight", w)], lr=0.1)
    assert opt.param_groups[0]["params"][0] is w
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight"]


def test_step_records_no_autograd_history():
    w = pyrch.ones(2, requires_grad=True)
    opt = optim.RMSprop([w], momentum=0.9, centered=True)
    (w * w).sum().backward()
    opt.step()
    assert w.grad_fn is None and w.is_leaf and w.requires_grad
    for v in opt.state[w].values():
        assert not v.requires_grad


def test_scheduler_state_dict_round_trip_and_warning():
    w = pyrch.ones(1, requires_grad=True)
    opt = optim.SGD([w], lr=1.0)
    s = lr_scheduler.MultiStepLR(opt, [2, 4], gamma=0.5)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        s.step()
    for _ in range(3):
        opt.step()
        s.step()
    sd = s.state_dict()
    opt2 = optim.SGD([w], lr=1.0)
    s2 = lr_scheduler.MultiStepLR(opt2, [2, 4], gamma=0.5)
    s2.load_state_dict(sd)
    assert s2.last_epoch == s.last_epoch == 4 and s2.get_last_lr() == s.get_last_lr()
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(object(), 2)


def test_lambda_lr_state_dict_keeps_callable_objects():
    class Warmup:
        def __init__(self):
            self.factor = 2.0

        def __call__(self, epoch):
            return self.factor * epoch

    w = pyrch.ones(1, requires_grad=True)
    f = Warmup()
    s = lr_scheduler.LambdaLR(optim.SGD([w], lr=1.0), [f])
    f.factor = 3.0
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [{"factor": 3.0}]
    g = Warmup()
    s2 = lr_scheduler.LambdaLR(optim.SGD([w], lr=1.0), [g])
    s2.load_state_dict(sd)
    assert g.factor == 3.0


def test_cosine_annealing_reaches_eta_min():
    w = pyrch.ones(1, requires_grad=True)
    opt = optim.SGD([w], lr=1.0)
    s = lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.1)
    for _ in range(10):
        opt.step()
        s.step()
    assert math.isclose(s.get_last_lr()[0], 0.1, rel_tol=1e-12)


def test_scheduler_does_not_warn_for_custom_optimizer_that_stepped():
    class Plain(optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, dict(lr=0.1))

        def step(self, closure=None):
            return None

    opt = Plain([pyrch.ones(1, requires_grad=True)])
    s = lr_scheduler.ExponentialLR(opt, 0.5)
    opt.step()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.step()
    assert s.get_last_lr() == [0.05]


def test_adagrad_param_group_added_later():
    w, v = pyrch.ones(2, requires_grad=True), pyrch.ones(2, requires_grad=True)
    opt = optim.Adagrad([w], lr=0.1)
    opt.add_param_group({"params": [v]})
    (w * v).sum().backward()
    opt.step()
    assert opt.state[v]["step"].item() == 1.0 and v.tolist() == pytest.approx([0.9, 0.9])


# -- the eager fused update (optim/_fused.py) ------------------------------------------------
_VARIANTS = [("SGD", dict(momentum=0.9)), ("SGD", dict(momentum=0.9, nesterov=True, weight_decay=0.1)),
             ("SGD", dict(momentum=0.5, dampening=0.3, maximize=True)),
             ("Adam", {}), ("Adam", dict(weight_decay=0.1, amsgrad=True)),
             ("Adam", dict(maximize=True)), ("AdamW", dict(weight_decay=0.1)),
             ("AdamW", dict(amsgrad=True, maximize=True))]


def _run_opt(name, kw, dtype, fused, monkeypatch):
    from pyrch.optim import _fused
    calls = []
    if fused:
        real = _fused.run
        monkeypatch.setattr(_fused, "run", lambda *a: (calls.append(a[0]), real(*a))[1])
    else:
        monkeypatch.setattr(_fused, "usable", lambda tensors: False)
    pyrch.manual_seed(0)
    w = pyrch.randn(6, 5, dtype=dtype, requires_grad=True)
    b = pyrch.randn(5, dtype=dtype, requires_grad=True)
    opt = getattr(pyrch.optim, name)([w, b], lr=0.05, **kw)
    sched = pyrch.optim.lr_scheduler.ExponentialLR(opt, 0.9)
    for _ in range(6):
        opt.zero_grad()
        ((w * w).sum() + (w.sin() * b).sum()).backward()
        opt.step()
        sched.step()
    monkeypatch.undo()
    state = [t.numpy().copy() for p in (w, b) for k, t in sorted(opt.state[p].items())
             if isinstance(t, pyrch.Tensor) and k != "step"]
    return [w.detach().numpy().copy(), b.detach().numpy().copy()] + state, calls


def _c_built():
    from pyrch import _C
    return _C.lib() is not None


needs_c = pytest.mark.skipif(not _c_built(), reason="pyrch's C extension is not built (the fused "
                                                    "update is a C kernel)")


@needs_c
@pytest.mark.parametrize("name,kw", _VARIANTS)
def test_eager_fused_update_equals_the_op_path_bitwise_in_float64(name, kw, monkeypatch):
    fused, calls = _run_opt(name, kw, pyrch.float64, True, monkeypatch)
    ops, _ = _run_opt(name, kw, pyrch.float64, False, monkeypatch)
    assert calls, "the fused path did not run"
    for a, b in zip(fused, ops):
        np.testing.assert_array_equal(a, b)
    fused32, _ = _run_opt(name, kw, pyrch.float32, True, monkeypatch)
    ops32, _ = _run_opt(name, kw, pyrch.float32, False, monkeypatch)
    for a, b in zip(fused32, ops32):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@needs_c
def test_eager_fused_update_steps_aside_when_ops_are_observed(monkeypatch):
    from pyrch.optim import _fused
    w = pyrch.randn(4, requires_grad=True)
    opt = pyrch.optim.Adam([w], lr=0.1)
    (w * w).sum().backward()
    calls = []
    real = _fused.run
    monkeypatch.setattr(_fused, "run", lambda *a: (calls.append(a[0]), real(*a))[1])
    with pyrch.profiler.profile() as prof:
        opt.step()
    assert not calls                      # the profiler sees the update's ops one by one
    assert any(e.name == "sqrt" for e in prof.events())
    opt.step()
    assert calls
    v0 = w._version
    opt.step()
    assert w._version > v0                # in-place writes bump the version counter
