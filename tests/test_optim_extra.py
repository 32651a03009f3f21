"""Adamax, NAdam, RAdam, Adadelta against torch: defaults, trajectories, state layout."""
import numpy as np
import pytest

import pyrch

torch = pytest.importorskip("torch")

NAMES = ["Adamax", "NAdam", "RAdam", "Adadelta"]

CASES = [
    ("Adamax", {}),
    ("Adamax", dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1, eps=1e-6)),
    ("Adamax", dict(lr=0.05, maximize=True)),
    ("NAdam", {}),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, momentum_decay=0.02)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.05, betas=(0.7, 0.9), maximize=True)),
    ("RAdam", {}),
    ("RAdam", dict(lr=0.05, weight_decay=0.1)),
    ("RAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.05, betas=(0.9, 0.5), maximize=True)),   # rho_t > 5 from step 1 on
    ("Adadelta", {}),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1)),
    ("Adadelta", dict(maximize=True)),
]


def _loss(lib, w, b, x):
    return ((lib.tanh(x @ w) + b) ** 2).sum() + (w ** 4).sum()


def _trajectory(lib, name, kwargs, w0, b0, x, steps=12):
    w = lib.tensor(w0, requires_grad=True)
    b = lib.tensor(b0, requires_grad=True)
    xt = lib.tensor(x)
    opt = getattr(lib.optim, name)([{"params": [w]}, {"params": [b], "lr": 0.01}], **kwargs)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        _loss(lib, w, b, xt).backward()
        opt.step()
        out.append((w.detach().numpy().copy(), b.detach().numpy().copy()))
    return out, opt


@pytest.mark.parametrize("name,kwargs", CASES)
def test_trajectory_matches_torch(name, kwargs):
    rng = np.random.default_rng(0)
    w0, b0, x = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal((5, 4))
    ours, opt = _trajectory(pyrch, name, kwargs, w0, b0, x)
    ref, topt = _trajectory(torch, name, kwargs, w0, b0, x)
    # NAdam's mu_product is a float32 scalar under float32 defaults (as in torch), and
    # float32 products may round differently; the float64-default test below is tight
    rtol, atol = (1e-6, 1e-9) if name == "NAdam" else (1e-12, 1e-14)
    for (w, b), (tw, tb) in zip(ours, ref):
        np.testing.assert_allclose(w, tw, rtol=rtol, atol=atol)
        np.testing.assert_allclose(b, tb, rtol=rtol, atol=atol)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["param_groups"] == tsd["param_groups"]
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for k, st in sd["state"].items():
        assert set(st) == set(tsd["state"][k])
        for key, val in st.items():
            np.testing.assert_allclose(val.numpy(), tsd["state"][k][key].numpy(), rtol=1e-6,
                                       atol=1e-9)


@pytest.mark.parametrize("name,kwargs", [c for c in CASES if c[0] == "NAdam"])
def test_nadam_float64_default_dtype_tight(name, kwargs):
    """With float64 as the default dtype both keep mu_product in float64: agree to 1e-12."""
    rng = np.random.default_rng(1)
    w0, b0, x = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal((5, 4))
    old, told = pyrch.get_default_dtype(), torch.get_default_dtype()
    pyrch.set_default_dtype(pyrch.float64)
    torch.set_default_dtype(torch.float64)
    try:
        ours, opt = _trajectory(pyrch, name, kwargs, w0, b0, x)
        ref, topt = _trajectory(torch, name, kwargs, w0, b0, x)
    finally:
        pyrch.set_default_dtype(old)
        torch.set_default_dtype(told)
    for (w, b), (tw, tb) in zip(ours, ref):
        np.testing.assert_allclose(w, tw, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(b, tb, rtol=1e-12, atol=1e-14)
    assert opt.state[opt.param_groups[0]["params"][0]]["mu_product"].dtype == pyrch.float64


@pytest.mark.parametrize("name", ["Adamax", "RAdam", "Adadelta"])
def test_trajectory_tight(name):
    rng = np.random.default_rng(2)
    w0, b0, x = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal((5, 4))
    kwargs = dict(weight_decay=0.05)
    ours, _ = _trajectory(pyrch, name, kwargs, w0, b0, x)
    ref, _ = _trajectory(torch, name, kwargs, w0, b0, x)
    for (w, b), (tw, tb) in zip(ours, ref):
        np.testing.assert_allclose(w, tw, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(b, tb, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_match_torch(name):
    ours = getattr(pyrch.optim, name)([pyrch.zeros(2, requires_grad=True)])
    ref = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)])
    assert ours.defaults == ref.defaults


@pytest.mark.parametrize("name,kwargs", [
    ("Adamax", dict(lr=-1)), ("Adamax", dict(eps=-1)), ("Adamax", dict(betas=(1.0, 0.9))),
    ("Adamax", dict(betas=(0.9, -0.1))), ("Adamax", dict(weight_decay=-1)),
    ("NAdam", dict(momentum_decay=-1)), ("NAdam", dict(betas=(0.9, 1.0))),
    ("RAdam", dict(weight_decay=-0.5)), ("RAdam", dict(lr=-0.1)),
    ("Adadelta", dict(rho=1.5)), ("Adadelta", dict(eps=-1)), ("Adadelta", dict(lr=-1)),
])
def test_bad_hyperparameters_same_error(name, kwargs):
    with pytest.raises(ValueError) as ref:
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError) as ours:
        getattr(pyrch.optim, name)([pyrch.zeros(2, requires_grad=True)], **kwargs)
    assert str(ours.value) == str(ref.value)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_continues_identically(name):
    rng = np.random.default_rng(3)
    w0, x = rng.standard_normal((4, 3)), rng.standard_normal((5, 4))

    def run(w, opt, n):
        for _ in range(n):
            opt.zero_grad()
            ((pyrch.tensor(x) @ w) ** 2).sum().backward()
            opt.step()

    w1 = pyrch.tensor(w0, requires_grad=True)
    opt1 = getattr(pyrch.optim, name)([w1], lr=0.01)
    run(w1, opt1, 6)
    w2 = pyrch.tensor(w0, requires_grad=True)
    opt2 = getattr(pyrch.optim, name)([w2], lr=0.01)
    run(w2, opt2, 3)
    w3 = pyrch.tensor(w2.detach().numpy(), requires_grad=True)
    opt3 = getattr(pyrch.optim, name)([w3], lr=0.01)
    opt3.load_state_dict(opt2.state_dict())
    run(w3, opt3, 3)
    # like torch, loading casts every float state but 'step' to the parameter's dtype, so
    # NAdam's float32 mu_product comes back as float64 and the rest of the run differs by
    # float32 rounding
    rtol = 1e-8 if name == "NAdam" else 1e-12
    np.testing.assert_allclose(w3.detach().numpy(), w1.detach().numpy(), rtol=rtol)
    if name == "NAdam":
        assert opt3.state[w3]["mu_product"].dtype == pyrch.float64


@pytest.mark.parametrize("name", NAMES)
def test_float32_params_stay_float32(name):
    w = pyrch.ones(3, requires_grad=True)
    opt = getattr(pyrch.optim, name)([w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    assert w.dtype == pyrch.float32
    assert all(v.dtype == pyrch.float32 for k, v in opt.state[w].items() if k != "step")


def test_adam_scalars_device_branch_matches_the_host_formula():
    """_adam_scalars on a GPU computes with device arithmetic (a traced step replays as a
    CUDA graph, which cannot hold a host read). That branch runs here on numpy arrays
    through a stand-in array module and must give the host formula's values."""
    import types
    import numpy as np
    import pyrch
    from pyrch.ops.nn import _adam_scalars
    fake_xp = types.SimpleNamespace(float64=np.float64, asarray=np.asarray)   # cupy's names
    for step, lr, b1, b2 in [(1.0, 1e-3, 0.9, 0.999), (7.0, 0.05, 0.8, 0.99), (1000.0, 1.0, 0.5, 0.999)]:
        for dt in (pyrch.float32, pyrch.float64):
            host = _adam_scalars.forward(np, np.array(step, np.float32), lr, b1, b2, dtype=dt)
            dev = _adam_scalars.forward(fake_xp, np.array(step, np.float32), np.array(lr), np.array(b1),
                                        np.array(b2), dtype=dt)
            for h, d in zip(host, dev):
                assert d.dtype == dt.np and d.shape == ()
                np.testing.assert_allclose(d, h, rtol=1e-6 if dt == pyrch.float32 else 1e-14)
