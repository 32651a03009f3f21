"""Activation checkpointing, parametrizations (weight/spectral norm, old and new APIs),
LBFGS and CyclicLR, against PyTorch."""
import copy
import math
import warnings

import numpy as np
import pytest

import pyrch
import pyrch.nn as nn
from pyrch.nn.utils import parametrize, parametrizations
from pyrch.utils.checkpoint import checkpoint, checkpoint_sequential

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def _load(pm, tm):
    """Copy torch's state_dict into the pyrch module through numpy (strict)."""
    return pm.load_state_dict({k: pyrch.tensor(v.detach().numpy())
                               for k, v in tm.state_dict().items()})


def _graph_stats(t):
    """(nodes, saved tensors, their elements) reachable from t.grad_fn: what autograd keeps
    alive after the forward."""
    from pyrch.autograd.node import Node
    nodes, saved, elems, seen = 0, 0, 0, set()
    stack = [t.grad_fn]
    while stack:
        n = stack.pop()
        if n is None or id(n) in seen or not isinstance(n, Node):
            continue
        seen.add(id(n))
        nodes += 1
        held = [s for s in n.saved if isinstance(s, pyrch.Tensor)] \
            if isinstance(n.saved, tuple) else []
        if n.out is not None:
            held.append(pyrch.Tensor._wrap(n.out))
        saved += len(held)
        elems += sum(h.numel() for h in held)
        stack.extend(n.edges)
    return nodes, saved, elems


# -- checkpoint ---------------------------------------------------------------------------
def _mlp(p_drop=0.5):
    pyrch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Dropout(p_drop), nn.Linear(16, 16),
                         nn.GELU(), nn.Dropout(p_drop), nn.Linear(16, 3))


def _grads(m, x, run):
    m.zero_grad()
    x.grad = None
    pyrch.manual_seed(7)
    y = run(m, x)
    (y * y).sum().backward()
    return [_np(x.grad)] + [_np(p.grad) for p in m.parameters()]


@pytest.mark.parametrize("use_reentrant", [False, True])
def test_checkpoint_with_dropout_matches_plain_run(use_reentrant):
    m = _mlp()
    x = pyrch.randn(5, 4, requires_grad=True)
    plain = _grads(m, x, lambda mod, a: mod(a))
    ck = _grads(m, x, lambda mod, a: checkpoint(mod, a, use_reentrant=use_reentrant))
    for a, b in zip(plain, ck):
        np.testing.assert_array_equal(a, b)
    # without restoring the RNG state the recomputed dropout mask differs
    bad = _grads(m, x, lambda mod, a: checkpoint(mod, a, use_reentrant=use_reentrant,
                                                 preserve_rng_state=False))
    assert any(not np.array_equal(a, b) for a, b in zip(plain, bad))


def test_checkpoint_matches_torch_gradients():
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    pm = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    _load(pm, tm)
    xn = np.random.default_rng(0).standard_normal((3, 4))
    tx = torch.tensor(xn, requires_grad=True)
    px = pyrch.tensor(xn, requires_grad=True)
    scale = 1.5

    def tfn(a, k):
        return tm(a) * k

    def pfn(a, k):
        return pm(a) * k
    from torch.utils.checkpoint import checkpoint as tcheckpoint
    tcheckpoint(tfn, tx, scale, use_reentrant=False).pow(2).sum().backward()
    checkpoint(pfn, px, scale, use_reentrant=False).pow(2).sum().backward()
    np.testing.assert_allclose(_np(px.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    for (n, p), q in zip(pm.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(_np(p.grad), q.grad.numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=n)


def test_checkpoint_input_without_grad_still_trains_parameters():
    m = _mlp(0.0)
    x = pyrch.randn(5, 4)         # a first layer: the input needs no gradient
    checkpoint(m, x, use_reentrant=False).sum().backward()
    ref = copy.deepcopy(m)
    ref.zero_grad()
    ref(x).sum().backward()
    for p, q in zip(m.parameters(), ref.parameters()):
        np.testing.assert_allclose(_np(p.grad), _np(q.grad), rtol=1e-6, atol=1e-7)


def test_checkpoint_keeps_fewer_saved_tensors():
    m = _mlp(0.0)
    x = pyrch.randn(5, 4, requires_grad=True)
    plain_nodes, plain_saved, plain_elems = _graph_stats(m(x))
    y = checkpoint(m, x, use_reentrant=False)
    ck_nodes, ck_saved, ck_elems = _graph_stats(y)
    assert ck_nodes == 1 and plain_nodes >= 5      # 3 linear layers and 2 activations
    assert ck_saved == 1 and ck_elems == 20         # only the input x is held
    assert plain_saved >= 6 and plain_elems >= 5 * 16 * 3
    y.sum().backward()
    assert x.grad is not None


def test_checkpoint_kwargs_tuple_outputs_and_warnings():
    x = pyrch.tensor([1.0, 2.0], requires_grad=True)

    def fn(a, *, k):
        return a * k, (a * a).sum()
    y, s = checkpoint(fn, x, k=3.0, use_reentrant=False)
    (y.sum() + s).backward()
    np.testing.assert_allclose(_np(x.grad), [5.0, 7.0])
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
        checkpoint(lambda a: a * 2, x)
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        checkpoint(lambda a: a * 2, pyrch.ones(2), use_reentrant=True)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: foo"):
        checkpoint(lambda a: a * 2, x, use_reentrant=True, foo=1)


def test_checkpoint_nested_with_captured_parameter():
    x = pyrch.tensor([1.0, 2.0], requires_grad=True)
    w = nn.Parameter(pyrch.tensor([3.0, 4.0]))

    def inner(a):
        return (a * w).sin()

    def outer(a):
        return checkpoint(inner, a * 2, use_reentrant=False).exp()
    checkpoint(outer, x, use_reentrant=False).sum().backward()
    gx, gw = _np(x.grad).copy(), _np(w.grad).copy()
    x.grad = w.grad = None
    inner(x * 2).exp().sum().backward()
    np.testing.assert_array_equal(gx, _np(x.grad))
    np.testing.assert_array_equal(gw, _np(w.grad))


@pytest.mark.parametrize("segments", [1, 2, 3])
def test_checkpoint_sequential(segments):
    m = _mlp()
    x = pyrch.randn(5, 4, requires_grad=True)
    plain = _grads(m, x, lambda mod, a: mod(a))
    ck = _grads(m, x, lambda mod, a: checkpoint_sequential(mod, segments, a,
                                                           use_reentrant=False))
    for a, b in zip(plain, ck):
        np.testing.assert_array_equal(a, b)


# -- parametrize ----------------------------------------------------------------------------
class _Symmetric(nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).transpose(-1, -2)

    def right_inverse(self, A):
        return A.triu()


class _TSymmetric(torch.nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).transpose(-1, -2)

    def right_inverse(self, A):
        return A.triu()


class _Scale(nn.Module):
    def forward(self, X):
        return X * 2

    def right_inverse(self, X):
        return X / 2


def test_parametrize_register_forward_grad_and_state_dict():
    tm = torch.nn.Linear(3, 3).double()
    pm = nn.Linear(3, 3).double()
    _load(pm, tm)
    torch.nn.utils.parametrize.register_parametrization(tm, "weight", _TSymmetric())
    parametrize.register_parametrization(pm, "weight", _Symmetric())
    assert type(pm).__name__ == "ParametrizedLinear" and isinstance(pm, nn.Linear)
    assert parametrize.is_parametrized(pm) and parametrize.is_parametrized(pm, "weight")
    assert not parametrize.is_parametrized(pm, "bias")
    assert parametrize.type_before_parametrizations(pm) is nn.Linear
    assert list(pm.state_dict()) == list(tm.state_dict())
    _load(pm, tm)
    np.testing.assert_allclose(_np(pm.weight), tm.weight.detach().numpy())
    xn = np.random.default_rng(1).standard_normal((2, 3))
    tm(torch.tensor(xn)).sum().backward()
    pm(pyrch.tensor(xn)).sum().backward()
    orig = pm.parametrizations.weight.original
    np.testing.assert_allclose(_np(orig.grad), tm.parametrizations.weight.original.grad.numpy(),
                               rtol=1e-12)
    assert [n for n, _ in pm.named_parameters()] == [n for n, _ in tm.named_parameters()]


def test_parametrize_assign_chain_cached_and_remove():
    m = nn.Linear(3, 3).double()
    parametrize.register_parametrization(m, "weight", _Symmetric())
    parametrize.register_parametrization(m, "weight", _Scale())
    assert len(m.parametrizations.weight) == 2
    a = pyrch.tensor(np.arange(9.0).reshape(3, 3))
    sym = a.triu() + a.triu(1).T
    m.weight = sym * 2                          # through both right inverses
    np.testing.assert_allclose(_np(m.weight), _np(sym * 2))
    np.testing.assert_allclose(_np(m.parametrizations.weight.original), _np(sym.triu()))
    with parametrize.cached():
        w1, w2 = m.weight, m.weight
        assert w1 is w2
    assert m.weight is not m.weight
    parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
    assert type(m) is nn.Linear and not parametrize.is_parametrized(m)
    assert isinstance(m.weight, nn.Parameter) and "weight" in m._parameters
    np.testing.assert_allclose(_np(m.weight), _np(sym * 2))
    assert list(m.state_dict()) == ["bias", "weight"]   # as in torch

    m2 = nn.Linear(3, 3)
    w0 = m2.weight
    parametrize.register_parametrization(m2, "weight", _Scale())
    parametrize.remove_parametrizations(m2, "weight", leave_parametrized=False)
    assert m2.weight is w0
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        parametrize.remove_parametrizations(m2, "weight")


def test_parametrize_errors_match_torch():
    class Bad(nn.Module):
        def forward(self, X):
            return X[0]
    with pytest.raises(ValueError, match="may not change the shape"):
        parametrize.register_parametrization(nn.Linear(3, 3), "weight", Bad())
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a "
                                         "parametrized element with name 'nope'"):
        parametrize.register_parametrization(nn.Linear(3, 3), "nope", _Scale())
    m = nn.Linear(3, 3)
    parametrize.register_parametrization(m, "weight", Bad(), unsafe=True)
    assert tuple(m.weight.shape) == (3,)


# -- weight norm / spectral norm, new API --------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, None])
def test_parametrizations_weight_norm(dim):
    tm = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(4, 3).double(), dim=dim)
    pm = parametrizations.weight_norm(nn.Linear(4, 3).double(), dim=dim)
    assert list(pm.state_dict()) == list(tm.state_dict())
    for k, v in tm.state_dict().items():
        assert tuple(pm.state_dict()[k].shape) == tuple(v.shape), k
    _load(pm, tm)
    np.testing.assert_allclose(_np(pm.weight), tm.weight.detach().numpy(), rtol=1e-12)
    xn = np.random.default_rng(2).standard_normal((5, 4))
    (tm(torch.tensor(xn)) ** 2).sum().backward()
    (pm(pyrch.tensor(xn)) ** 2).sum().backward()
    for i in range(2):
        np.testing.assert_allclose(
            _np(getattr(pm.parametrizations.weight, f"original{i}").grad),
            getattr(tm.parametrizations.weight, f"original{i}").grad.numpy(), rtol=1e-10)
    # fresh registration: g is the norm of the weight, so the weight is unchanged
    m = nn.Linear(4, 3).double()
    w = _np(m.weight).copy()
    parametrizations.weight_norm(m, dim=dim)
    np.testing.assert_allclose(_np(m.weight), w, rtol=1e-12)


def test_parametrizations_spectral_norm_train_and_eval():
    tm = torch.nn.utils.parametrizations.spectral_norm(torch.nn.Linear(5, 4).double(),
                                                       n_power_iterations=2)
    pm = parametrizations.spectral_norm(nn.Linear(5, 4).double(), n_power_iterations=2)
    assert list(pm.state_dict()) == list(tm.state_dict())
    _load(pm, tm)
    xn = np.random.default_rng(3).standard_normal((2, 5))
    for step in range(3):                   # training: u and v advance on every access
        to = tm(torch.tensor(xn))
        po = pm(pyrch.tensor(xn))
        np.testing.assert_allclose(_np(po), to.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(_np(pm.parametrizations.weight[0]._u),
                                   tm.parametrizations.weight[0]._u.numpy(), rtol=1e-10)
    to.sum().backward()
    po.sum().backward()
    np.testing.assert_allclose(_np(pm.parametrizations.weight.original.grad),
                               tm.parametrizations.weight.original.grad.numpy(), rtol=1e-9)
    tm.eval()
    pm.eval()
    u = _np(pm.parametrizations.weight[0]._u).copy()
    np.testing.assert_allclose(_np(pm.weight), tm.weight.detach().numpy(), rtol=1e-10)
    np.testing.assert_array_equal(_np(pm.parametrizations.weight[0]._u), u)
    # the largest singular value of the normalized weight is about 1
    pm.train()
    for _ in range(30):
        w = pm.weight
    assert abs(np.linalg.svd(_np(w), compute_uv=False)[0] - 1) < 1e-6


def test_parametrizations_spectral_norm_conv_dims():
    tm = torch.nn.utils.parametrizations.spectral_norm(
        torch.nn.ConvTranspose2d(3, 4, 3).double(), dim=None)
    pm = parametrizations.spectral_norm(nn.ConvTranspose2d(3, 4, 3).double(), dim=None)
    assert tuple(pm.parametrizations.weight[0]._u.shape) == \
        tuple(tm.parametrizations.weight[0]._u.shape) == (4,)
    _load(pm, tm)
    tm.eval()
    pm.eval()
    np.testing.assert_allclose(_np(pm.weight), tm.weight.detach().numpy(), rtol=1e-10)
    with pytest.raises(IndexError, match="Dimension out of range"):
        parametrizations.spectral_norm(nn.Linear(2, 2), dim=2)


# -- weight norm / spectral norm, old hook API ---------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, None])
def test_old_weight_norm(dim):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        tm = torch.nn.utils.weight_norm(torch.nn.Conv1d(2, 3, 3).double(), dim=dim)
    pm = nn.utils.weight_norm(nn.Conv1d(2, 3, 3).double(), dim=dim)
    assert list(pm.state_dict()) == list(tm.state_dict()) == ["bias", "weight_g", "weight_v"]
    _load(pm, tm)
    xn = np.random.default_rng(4).standard_normal((2, 2, 6))
    to, po = tm(torch.tensor(xn)), pm(pyrch.tensor(xn))
    np.testing.assert_allclose(_np(po), to.detach().numpy(), rtol=1e-10)
    to.pow(2).sum().backward()
    po.pow(2).sum().backward()
    np.testing.assert_allclose(_np(pm.weight_g.grad), tm.weight_g.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(_np(pm.weight_v.grad), tm.weight_v.grad.numpy(), rtol=1e-10)
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"):
        nn.utils.weight_norm(pm, dim=dim)
    nn.utils.remove_weight_norm(pm)
    assert [n for n, _ in pm.named_parameters()] == ["bias", "weight"]
    np.testing.assert_allclose(_np(pm.weight), tm.weight.detach().numpy(), rtol=1e-10)
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found in"):
        nn.utils.remove_weight_norm(pm)


def test_old_spectral_norm():
    tm = torch.nn.utils.spectral_norm(torch.nn.Linear(5, 4).double())
    pm = nn.utils.spectral_norm(nn.Linear(5, 4).double())
    assert list(pm.state_dict()) == list(tm.state_dict())
    assert [n for n, _ in pm.named_parameters()] == ["bias", "weight_orig"]
    assert [n for n, _ in pm.named_buffers()] == ["weight_u", "weight_v"]
    _load(pm, tm)
    xn = np.random.default_rng(5).standard_normal((2, 5))
    for _ in range(3):
        to, po = tm(torch.tensor(xn)), pm(pyrch.tensor(xn))
        np.testing.assert_allclose(_np(po), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(pm.weight_v), tm.weight_v.numpy(), rtol=1e-10)
    to.sum().backward()
    po.sum().backward()
    np.testing.assert_allclose(_np(pm.weight_orig.grad), tm.weight_orig.grad.numpy(), rtol=1e-9)
    tm.eval()
    pm.eval()
    u = _np(pm.weight_u).copy()
    np.testing.assert_allclose(_np(pm(pyrch.tensor(xn))), tm(torch.tensor(xn)).detach().numpy(),
                               rtol=1e-10)
    np.testing.assert_array_equal(_np(pm.weight_u), u)
    nn.utils.remove_spectral_norm(pm)
    torch.nn.utils.remove_spectral_norm(tm)
    assert list(pm.state_dict()) == list(tm.state_dict())
    np.testing.assert_allclose(_np(pm.weight), tm.weight.detach().numpy(), rtol=1e-10)
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found"):
        nn.utils.remove_spectral_norm(pm)


# -- LBFGS ------------------------------------------------------------------------------------
def _rosenbrock(lib, x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def _lbfgs_traj(lib, loss_fn, x0, steps, **kw):
    x = lib.tensor(x0, dtype=lib.float64, requires_grad=True)
    opt = lib.optim.LBFGS([x], **kw)

    def closure():
        opt.zero_grad()
        loss = loss_fn(lib, x)
        loss.backward()
        return loss
    traj, losses = [], []
    for _ in range(steps):
        losses.append(opt.step(closure).item())
        traj.append(x.detach().numpy().copy())
    st = opt.state[x]
    return np.array(traj), losses, st["func_evals"], st["n_iter"]


@pytest.mark.parametrize("kw", [dict(line_search_fn="strong_wolfe"),
                                dict(line_search_fn="strong_wolfe", history_size=3, max_iter=7,
                                     lr=0.5),
                                dict(max_iter=20),
                                dict(history_size=3, max_iter=7, lr=0.5)])
def test_lbfgs_rosenbrock_matches_torch(kw):
    steps = 5 if kw.get("line_search_fn") or kw.get("lr") else 1
    t = _lbfgs_traj(torch, _rosenbrock, [-1.5, 2.0], steps, **kw)
    p = _lbfgs_traj(pyrch, _rosenbrock, [-1.5, 2.0], steps, **kw)
    np.testing.assert_allclose(p[0], t[0], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(p[1], t[1], rtol=1e-8, atol=1e-12)
    assert p[2:] == t[2:]


@pytest.mark.parametrize("ls", [None, "strong_wolfe"])
def test_lbfgs_linear_regression_matches_torch(ls):
    rng = np.random.default_rng(6)
    A, b = rng.standard_normal((20, 3)), rng.standard_normal(20)
    trajs = []
    for lib in (torch, pyrch):
        W = lib.tensor(np.zeros((3, 1)), requires_grad=True)
        c = lib.tensor(np.zeros(1), requires_grad=True)
        At, bt = lib.tensor(A), lib.tensor(b).reshape(20, 1)
        opt = lib.optim.LBFGS([W, c], lr=0.8, history_size=4, max_iter=4, line_search_fn=ls)

        def closure():
            opt.zero_grad()
            loss = ((At.matmul(W) + c - bt) ** 2).mean()
            loss.backward()
            return loss
        traj = []
        for _ in range(4):
            opt.step(closure)
            traj.append(np.concatenate([W.detach().numpy().ravel(), c.detach().numpy()]))
        trajs.append(np.array(traj))
    np.testing.assert_allclose(trajs[1], trajs[0], rtol=1e-10, atol=1e-12)
    sol = np.linalg.lstsq(np.c_[A, np.ones(20)], b, rcond=None)[0]
    if ls is not None:
        np.testing.assert_allclose(trajs[1][-1], sol, atol=1e-4)


def test_lbfgs_errors():
    w = pyrch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        pyrch.optim.LBFGS([{"params": [w]}, {"params": [pyrch.zeros(1, requires_grad=True)]}])
    opt = pyrch.optim.LBFGS([w], line_search_fn="armijo")

    def closure():
        opt.zero_grad()
        loss = ((w - 1) ** 2).sum()
        loss.backward()
        return loss
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        opt.step(closure)
    opt = pyrch.optim.LBFGS([w], max_iter=3)
    calls = []
    opt.register_step_post_hook(lambda o, a, k: calls.append(o))
    loss = opt.step(closure)
    assert calls == [opt] and isinstance(loss, pyrch.Tensor)
    assert opt.state[w]["n_iter"] == 2 and opt.state[w]["func_evals"] == 3   # as in torch


# -- CyclicLR -------------------------------------------------------------------------------
def _cyclic_seq(lib, opt_name, steps=50, **kw):
    w = lib.zeros(2, requires_grad=True)
    if opt_name == "sgd":
        opt = lib.optim.SGD([w], lr=0.1, momentum=0.9)
        key = "momentum"
    else:
        opt = lib.optim.Adam([w], lr=0.1)
        key = "betas"
    sched = lib.optim.lr_scheduler.CyclicLR(opt, **kw)
    lrs, moms = [], []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        m = opt.param_groups[0][key]
        moms.append(m[0] if key == "betas" else m)
        opt.step()
        sched.step()
    return lrs, moms, sched.get_last_lr()


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
@pytest.mark.parametrize("kw", [
    dict(base_lr=0.01, max_lr=0.1, step_size_up=4),
    dict(base_lr=0.01, max_lr=0.1, step_size_up=3, step_size_down=7, mode="triangular2"),
    dict(base_lr=0.01, max_lr=0.1, step_size_up=5, mode="exp_range", gamma=0.97),
    dict(base_lr=0.001, max_lr=0.05, step_size_up=6, cycle_momentum=False),
    dict(base_lr=0.01, max_lr=0.1, step_size_up=4, base_momentum=0.7, max_momentum=0.95,
         scale_fn=lambda x: 0.5 ** x, scale_mode="iterations"),
    dict(base_lr=0.01, max_lr=0.1, step_size_up=4, scale_fn=lambda x: 1 / x),
])
def test_cyclic_lr_matches_torch(opt_name, kw):
    t = _cyclic_seq(torch, opt_name, **kw)
    p = _cyclic_seq(pyrch, opt_name, **kw)
    np.testing.assert_allclose(p[0], t[0], rtol=1e-14, atol=0)
    np.testing.assert_allclose(p[1], t[1], rtol=1e-14, atol=0)
    np.testing.assert_allclose(p[2], t[2], rtol=1e-14, atol=0)


def test_cyclic_lr_errors_and_state_dict():
    w = pyrch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="mode is invalid and scale_fn is None"):
        pyrch.optim.lr_scheduler.CyclicLR(pyrch.optim.SGD([w], lr=0.1, momentum=0.9),
                                          0.01, 0.1, mode="nope")
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        pyrch.optim.lr_scheduler.CyclicLR(pyrch.optim.Adagrad([w], lr=0.1), 0.01, 0.1)
    opt = pyrch.optim.SGD([w], lr=0.1, momentum=0.9)
    s = pyrch.optim.lr_scheduler.CyclicLR(opt, 0.01, 0.1, step_size_up=3,
                                          scale_fn=lambda x: 1.0)
    for _ in range(4):
        opt.step()
        s.step()
    sd = s.state_dict()
    assert sd["_scale_fn_custom"] is None and sd["last_epoch"] == 4
    opt2 = pyrch.optim.SGD([w], lr=0.1, momentum=0.9)
    s2 = pyrch.optim.lr_scheduler.CyclicLR(opt2, 0.01, 0.1, step_size_up=3,
                                           scale_fn=lambda x: 1.0)
    s2.load_state_dict(sd)
    assert s2.last_epoch == 4 and math.isclose(s2.get_last_lr()[0], s.get_last_lr()[0])


# -- orthogonal -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape,omap,triv", [
    ((4, 4), None, True), ((5, 3), None, True), ((3, 5), None, True),
    ((4, 4), "cayley", True), ((5, 3), "cayley", True), ((3, 5), "householder", False),
    ((4, 4), "householder", True), ((4, 4), "matrix_exp", False), ((5, 3), "matrix_exp", True)])
def test_parametrizations_orthogonal_matches_torch(shape, omap, triv):
    tm = torch.nn.utils.parametrizations.orthogonal(
        torch.nn.Linear(shape[1], shape[0]).double(), orthogonal_map=omap,
        use_trivialization=triv)
    pm = parametrizations.orthogonal(nn.Linear(shape[1], shape[0]).double(), orthogonal_map=omap,
                                     use_trivialization=triv)
    assert list(pm.state_dict()) == list(tm.state_dict())
    w = _np(pm.weight)
    small = min(shape)
    gram = w.T @ w if shape[0] >= shape[1] else w @ w.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)
    with torch.no_grad():
        tm.parametrizations.weight.original.add_(
            0.2 * torch.tensor(np.random.default_rng(8).standard_normal(shape)))
    _load(pm, tm)
    xn = np.random.default_rng(9).standard_normal((2, shape[1]))
    to, po = tm(torch.tensor(xn)), pm(pyrch.tensor(xn))
    np.testing.assert_allclose(_np(po), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    to.pow(2).sum().backward()
    po.pow(2).sum().backward()
    np.testing.assert_allclose(_np(pm.parametrizations.weight.original.grad),
                               tm.parametrizations.weight.original.grad.numpy(),
                               rtol=1e-9, atol=1e-12)


def test_parametrizations_orthogonal_assign_and_errors():
    m = parametrizations.orthogonal(nn.Linear(3, 3).double())
    q = np.linalg.qr(np.random.default_rng(10).standard_normal((3, 3)))[0]
    m.weight = pyrch.tensor(q)
    np.testing.assert_allclose(_np(m.weight), q, atol=1e-12)
    # householder without a base: the weight at registration is recovered
    lin = nn.Linear(3, 5).double()
    with pyrch.no_grad():
        lin.weight.copy_(pyrch.tensor(np.linalg.qr(np.random.default_rng(11)
                                                    .standard_normal((5, 3)))[0]))
    w0 = _np(lin.weight).copy()
    parametrizations.orthogonal(lin, orthogonal_map="householder", use_trivialization=False)
    np.testing.assert_allclose(_np(lin.weight), w0, atol=1e-12)
    with pytest.raises(ValueError, match="Expected a matrix or batch of matrices"):
        parametrizations.orthogonal(nn.Linear(3, 3), "bias")
    with pytest.raises(ValueError, match='orthogonal_map has to be one of'):
        parametrizations.orthogonal(nn.Linear(3, 3), orthogonal_map="qr")


def test_parametrizations_weight_norm_loads_old_api_state_dict():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        old = torch.nn.utils.weight_norm(torch.nn.Linear(4, 3).double())
    pm = nn.Sequential(parametrizations.weight_norm(nn.Linear(4, 3).double()))
    sd = {"0." + k: pyrch.tensor(v.detach().numpy()) for k, v in old.state_dict().items()}
    assert sorted(sd) == ["0.bias", "0.weight_g", "0.weight_v"]
    pm.load_state_dict(sd)
    np.testing.assert_allclose(_np(pm[0].weight), old.weight.detach().numpy(), rtol=1e-12)
