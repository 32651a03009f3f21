"""InstanceNorm with track_running_stats and LSTM with proj_size, against PyTorch:
outputs, input and parameter gradients, running stats over several train/eval steps,
parameter names and shapes, state dicts, and torch's errors for bad arguments."""
import warnings

import numpy as np
import pytest

import pyrch
import pyrch.nn as nn
import pyrch.nn.functional as F
from pyrch.nn import norm as _norm

torch = pytest.importorskip("torch")

INSTANCE_NORMS = {1: _norm.InstanceNorm1d, 2: _norm.InstanceNorm2d, 3: _norm.InstanceNorm3d}


def _rng(seed):
    return np.random.default_rng(seed)


def _close(p, t, atol, err_msg=""):
    t = t.detach().numpy() if isinstance(t, torch.Tensor) else t
    np.testing.assert_allclose(p.detach().numpy(), t, atol=atol, rtol=1e-5, err_msg=err_msg)


def _error(fn):
    """(type, message) of what fn raises."""
    with pytest.raises(Exception) as ei:
        fn()
    return type(ei.value), str(ei.value)


def _load_from_torch(pm, tm):
    return pm.load_state_dict({k: pyrch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


def _compare_params(pm, tm, atol):
    tparams = dict(tm.named_parameters())
    assert [n for n, _ in pm.named_parameters()] == list(tparams)
    for name, p in pm.named_parameters():
        _close(p.grad, tparams[name].grad, atol, err_msg=name)


# -- InstanceNorm(track_running_stats=True) -------------------------------------------

def _instance_pair(dim, dtype, **kw):
    tm = getattr(torch.nn, f"InstanceNorm{dim}d")(3, track_running_stats=True, **kw)
    pm = INSTANCE_NORMS[dim](3, track_running_stats=True, **kw)
    tm = tm.to(getattr(torch, dtype))
    pm = pm.to(dtype=getattr(pyrch, dtype))
    if kw.get("affine"):  # non-trivial scale and shift
        w, b = _rng(9).standard_normal((2, 3)).astype(dtype)
        with torch.no_grad():
            tm.weight.copy_(torch.tensor(w))
            tm.bias.copy_(torch.tensor(b))
        _load_from_torch(pm, tm)
    return pm, tm


def _step(pm, tm, shape, seed, dtype, atol):
    """One forward/backward in both libraries; compare output, grads and running stats."""
    x = (_rng(seed).standard_normal(shape) * 2 + 0.5).astype(dtype)
    v = _rng(seed + 100).standard_normal(shape).astype(dtype)
    tx, px = torch.tensor(x, requires_grad=True), pyrch.tensor(x, requires_grad=True)
    to, po = tm(tx), pm(px)
    assert tuple(po.shape) == tuple(to.shape)
    _close(po, to, atol)
    (to * torch.tensor(v)).sum().backward()
    (po * pyrch.tensor(v)).sum().backward()
    _close(px.grad, tx.grad, atol * 10)
    if pm.affine:
        _compare_params(pm, tm, atol * 10)
        pm.zero_grad()
        tm.zero_grad()
    _close(pm.running_mean, tm.running_mean, atol)
    _close(pm.running_var, tm.running_var, atol)
    assert int(pm.num_batches_tracked) == int(tm.num_batches_tracked)


@pytest.mark.parametrize("dim", [1, 2, 3])
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("momentum", [0.1, 0.6, None])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_instance_norm_running_stats_train_eval(dim, affine, momentum, dtype):
    atol = 2e-5 if dtype == "float32" else 1e-11
    pm, tm = _instance_pair(dim, dtype, affine=affine, momentum=momentum)
    shape = (2, 3) + (4, 3, 2)[:dim]
    for seed in range(3):                              # running stats move
        _step(pm, tm, shape, seed, dtype, atol)
    if momentum is not None:
        assert not np.allclose(pm.running_mean.numpy(), 0)
    pm.eval()
    tm.eval()
    for seed in range(3, 5):                           # running stats normalise, stay put
        _step(pm, tm, shape, seed, dtype, atol)
    pm.train()
    tm.train()
    _step(pm, tm, shape, 5, dtype, atol)


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_instance_norm_unbatched_tracks(dim):
    pm, tm = _instance_pair(dim, "float64", affine=True, momentum=0.3)
    shape = (3,) + (5, 4, 2)[:dim]
    for seed in range(2):
        _step(pm, tm, shape, seed, "float64", 1e-11)
    pm.eval()
    tm.eval()
    _step(pm, tm, shape, 2, "float64", 1e-11)


def test_instance_norm_momentum_none_as_torch():
    # torch's InstanceNorm passes momentum=None on as 0: the running stats stay at their
    # initial values and num_batches_tracked is never counted (unlike BatchNorm)
    pm, tm = _instance_pair(1, "float64", momentum=None)
    for seed in range(2):
        _step(pm, tm, (2, 3, 5), seed, "float64", 1e-11)
    np.testing.assert_array_equal(pm.running_mean.numpy(), np.zeros(3))
    np.testing.assert_array_equal(pm.running_var.numpy(), np.ones(3))
    assert int(pm.num_batches_tracked) == 0


def test_instance_norm_without_tracking_ignores_eval():
    tm, pm = torch.nn.InstanceNorm2d(3), nn.InstanceNorm2d(3)
    assert pm.running_mean is None and list(pm.state_dict()) == []
    pm.eval()
    tm.eval()
    x = _rng(0).standard_normal((2, 3, 4, 4))
    _close(pm(pyrch.tensor(x)), tm(torch.tensor(x)), 1e-6)


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("track", [False, True])
def test_instance_norm_state_dict_keys_and_repr(affine, track):
    tm = torch.nn.InstanceNorm2d(4, affine=affine, track_running_stats=track)
    pm = nn.InstanceNorm2d(4, affine=affine, track_running_stats=track)
    tsd, psd = tm.state_dict(), pm.state_dict()
    assert list(psd) == list(tsd)
    for k in tsd:
        assert tuple(psd[k].shape) == tuple(tsd[k].shape), k
        assert str(psd[k].dtype).split(".")[-1] == str(tsd[k].dtype).split(".")[-1], k
    assert repr(pm) == repr(tm)
    assert [n for n, _ in pm.named_buffers()] == [n for n, _ in tm.named_buffers()]


def test_instance_norm_load_state_dict_from_torch():
    tm = torch.nn.InstanceNorm1d(3, affine=True, track_running_stats=True).double()
    for seed in range(3):
        tm(torch.tensor(_rng(seed).standard_normal((4, 3, 6))))
    pm = nn.InstanceNorm1d(3, affine=True, track_running_stats=True).to(dtype=pyrch.float64)
    _load_from_torch(pm, tm)
    assert int(pm.num_batches_tracked) == int(tm.num_batches_tracked)
    _close(pm.running_var, tm.running_var, 0)
    pm.eval()
    tm.eval()
    x = _rng(7).standard_normal((2, 3, 6))
    _close(pm(pyrch.tensor(x)), tm(torch.tensor(x)), 1e-12)
    # and back: pyrch's state dict loads into torch
    tm2 = torch.nn.InstanceNorm1d(3, affine=True, track_running_stats=True).double()
    tm2.load_state_dict({k: torch.tensor(v.numpy()) for k, v in pm.state_dict().items()})
    tm2.eval()
    _close(pm(pyrch.tensor(x)), tm2(torch.tensor(x)), 1e-12)


def _load_both(kw, keys, shapes=None):
    """Load a plain dict of `keys` into fresh modules of both libraries; the outcomes."""
    shapes = shapes or {}
    out = []
    for lib, mod, mk in ((torch, torch.nn, torch.tensor), (pyrch, nn, pyrch.tensor)):
        m = mod.InstanceNorm1d(3, **kw)
        sd = {}
        for k in keys:
            sd[k] = mk(np.int64(5)) if k == "num_batches_tracked" else \
                mk(np.full(shapes.get(k, 3), 0.5, np.float32))
        try:
            r = m.load_state_dict(sd)
            out.append(("ok", list(r.missing_keys), list(r.unexpected_keys),
                        None if m.num_batches_tracked is None else int(m.num_batches_tracked)))
        except RuntimeError as e:
            out.append(("error", str(e)))
    return out


def test_instance_norm_load_state_dict_cases_as_torch():
    track = dict(track_running_stats=True)
    # num_batches_tracked missing from a plain dict: kept, not reported (torch's rule for
    # state dicts without version metadata)
    t, p = _load_both(track, ["running_mean", "running_var"])
    assert p == t and t[0] == "ok"
    t, p = _load_both(track, ["running_mean", "running_var", "num_batches_tracked"])
    assert p == t and t[-1] == 5
    t, p = _load_both(track, ["running_mean"])
    assert p == t and "Missing key(s) in state_dict: \"running_var\"" in t[1]
    t, p = _load_both(track, ["running_mean", "running_var"], {"running_mean": 4})
    assert p == t and "size mismatch for running_mean" in t[1]
    # running stats given to a module that does not track them: torch's message
    t, p = _load_both({}, ["running_mean", "running_var"])
    assert p == t and "Unexpected running stats buffer(s)" in t[1]
    t, p = _load_both({"affine": True}, ["running_var"])
    assert p == t and "Unexpected running stats buffer(s) \"running_var\" for InstanceNorm1d" in t[1]


def test_instance_norm_errors_as_torch():
    for kw in ({}, {"track_running_stats": True}):
        tm, pm = torch.nn.InstanceNorm1d(3, **kw), nn.InstanceNorm1d(3, **kw)
        x = np.zeros((2, 3, 1), np.float32)
        assert _error(lambda: pm(pyrch.tensor(x))) == _error(lambda: tm(torch.tensor(x)))
        x = np.zeros((2, 3, 4, 4), np.float32)
        assert _error(lambda: pm(pyrch.tensor(x))) == _error(lambda: tm(torch.tensor(x)))
    # one spatial element is fine once the running stats normalise
    tm = torch.nn.InstanceNorm1d(3, track_running_stats=True).eval()
    pm = nn.InstanceNorm1d(3, track_running_stats=True).eval()
    x = _rng(0).standard_normal((2, 3, 1)).astype(np.float32)
    _close(pm(pyrch.tensor(x)), tm(torch.tensor(x)), 1e-6)
    # channel count that does not match num_features
    x = np.zeros((2, 4, 5), np.float32)
    tm, pm = torch.nn.InstanceNorm1d(3, affine=True), nn.InstanceNorm1d(3, affine=True)
    assert _error(lambda: pm(pyrch.tensor(x))) == _error(lambda: tm(torch.tensor(x)))
    tm = torch.nn.InstanceNorm1d(3, track_running_stats=True)
    pm = nn.InstanceNorm1d(3, track_running_stats=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _error(lambda: pm(pyrch.tensor(x))) == _error(lambda: tm(torch.tensor(x)))
    with pytest.warns(UserWarning, match="input's size at dim=1 does not match num_features"):
        nn.InstanceNorm1d(3)(pyrch.tensor(x))


def test_functional_instance_norm_running_stats_and_errors():
    x = _rng(0).standard_normal((3, 2, 5, 4))
    trm, trv = torch.tensor([0.5, -1.0], dtype=torch.float64), torch.tensor([2.0, 0.5], dtype=torch.float64)
    prm, prv = pyrch.tensor(trm.numpy().copy()), pyrch.tensor(trv.numpy().copy())
    for use in (True, False):
        to = torch.nn.functional.instance_norm(torch.tensor(x), trm, trv, use_input_stats=use, momentum=0.25)
        po = F.instance_norm(pyrch.tensor(x), prm, prv, use_input_stats=use, momentum=0.25)
        _close(po, to, 1e-12)
        _close(prm, trm, 1e-12)
        _close(prv, trv, 1e-12)
    tx, px = torch.tensor(x), pyrch.tensor(x)
    z3, z4 = np.zeros(3), np.zeros(4)
    cases = [dict(use_input_stats=False),
             dict(running_mean=z3[:2], use_input_stats=False),
             dict(running_mean=z3[:2]),
             dict(running_mean=z3, running_var=z3),
             dict(weight=z4)]
    for kw in cases:
        tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        pkw = {k: pyrch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        assert _error(lambda: F.instance_norm(px, **pkw)) == \
            _error(lambda: torch.nn.functional.instance_norm(tx, **tkw)), kw


def test_instance_norm_gradcheck_eval_and_train():
    m = nn.InstanceNorm1d(2, affine=True, track_running_stats=True).to(dtype=pyrch.float64)
    m(pyrch.tensor(_rng(1).standard_normal((2, 2, 4))))
    x = pyrch.tensor(_rng(2).standard_normal((2, 2, 4)), requires_grad=True)
    m.eval()
    assert pyrch.autograd.gradcheck(lambda a, w: F.instance_norm(a, m.running_mean, m.running_var, w,
                                                                 use_input_stats=False), (x, m.weight))
    assert pyrch.autograd.gradcheck(lambda a, w: F.instance_norm(a, None, None, w), (x, m.weight))


# -- LSTM(proj_size=P) ----------------------------------------------------------------

def _lstm_pair(**kw):
    tm = torch.nn.LSTM(**kw).double()
    pm = nn.LSTM(**kw).to(dtype=pyrch.float64)
    return pm, tm


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, False), (1, True), (2, True)])
def test_lstm_proj_parameters_as_torch(bias, num_layers, bidirectional):
    kw = dict(input_size=3, hidden_size=5, proj_size=2, num_layers=num_layers, bias=bias,
              bidirectional=bidirectional)
    tm, pm = torch.nn.LSTM(**kw), nn.LSTM(**kw)
    tsd, psd = tm.state_dict(), pm.state_dict()
    assert list(psd) == list(tsd)
    assert [tuple(v.shape) for v in psd.values()] == [tuple(v.shape) for v in tsd.values()]
    assert [n for n, _ in pm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert pm._flat_weights_names == tm._flat_weights_names
    assert [[tuple(w.shape) for w in g] for g in pm.all_weights] == \
        [[tuple(w.shape) for w in g] for g in tm.all_weights]
    assert repr(pm) == repr(tm)
    bound = 1 / np.sqrt(5)
    for name, p in pm.named_parameters():          # torch's init: U(-1/sqrt(H), 1/sqrt(H))
        assert np.abs(p.detach().numpy()).max() <= bound, name
        assert p.detach().numpy().std() > 0, name
    _load_from_torch(pm, tm)
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in pm.state_dict().items()})


def test_lstm_proj_validation_as_torch():
    cases = [(lambda L: L.nn.LSTM(3, 4, proj_size=-1)),
             (lambda L: L.nn.LSTM(3, 4, proj_size=4)),
             (lambda L: L.nn.LSTM(3, 4, proj_size=7)),
             (lambda L: L.nn.RNN(3, 4, proj_size=2)),
             (lambda L: L.nn.RNN(3, 4, proj_size=0)),
             (lambda L: L.nn.GRU(3, 4, proj_size=2)),
             (lambda L: L.nn.LSTM(3, 0)),
             (lambda L: L.nn.LSTM(0, 4)),
             (lambda L: L.nn.LSTM(3, 4, num_layers=0))]
    for mk in cases:
        t, p = _error(lambda: mk(torch)), _error(lambda: mk(pyrch))
        assert p == t and t[0] is ValueError
    # the base class refuses projections outside LSTM as well
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        nn.RNNBase("GRU", 3, 4, proj_size=2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'"):
        nn.GRU(3, 4, foo=1)


def _run_lstm(m, lib, x, hx, v):
    """Forward, a scalar of every output, backward; returns the outputs."""
    xs = lib.tensor(x, requires_grad=True)
    h = None if hx is None else tuple(lib.tensor(a, requires_grad=True) for a in hx)
    out, (hn, cn) = m(xs) if h is None else m(xs, h)
    loss = (out * lib.tensor(v[0])).sum() + (hn * lib.tensor(v[1])).sum() + (cn * lib.tensor(v[2])).sum()
    loss.backward()
    return out, hn, cn, xs.grad, [a.grad for a in h] if h is not None else []


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("given", [False, True])
def test_lstm_proj_forward_backward(num_layers, batch_first, bidirectional, given):
    seq, batch, isz, hsz, psz = 5, 3, 4, 6, 3
    pm, tm = _lstm_pair(input_size=isz, hidden_size=hsz, proj_size=psz, num_layers=num_layers,
                        batch_first=batch_first, bidirectional=bidirectional)
    _load_from_torch(pm, tm)
    dirs = 2 if bidirectional else 1
    rng = _rng(num_layers * 8 + batch_first * 4 + bidirectional * 2 + given)
    x = rng.standard_normal((batch, seq, isz) if batch_first else (seq, batch, isz))
    hx = None
    if given:
        hx = (rng.standard_normal((num_layers * dirs, batch, psz)),
              rng.standard_normal((num_layers * dirs, batch, hsz)))
    out_shape = (batch, seq, dirs * psz) if batch_first else (seq, batch, dirs * psz)
    v = (rng.standard_normal(out_shape), rng.standard_normal((num_layers * dirs, batch, psz)),
         rng.standard_normal((num_layers * dirs, batch, hsz)))
    tr, pr = _run_lstm(tm, torch, x, hx, v), _run_lstm(pm, pyrch, x, hx, v)
    assert tuple(pr[0].shape) == tuple(tr[0].shape) == out_shape
    assert tuple(pr[1].shape) == (num_layers * dirs, batch, psz)
    assert tuple(pr[2].shape) == (num_layers * dirs, batch, hsz)
    for a, b in zip(pr[:4] + tuple(pr[4]), tr[:4] + tuple(tr[4])):
        _close(a, b, 1e-10)
    _compare_params(pm, tm, 1e-10)


@pytest.mark.parametrize("given", [False, True])
def test_lstm_proj_unbatched_and_no_bias(given):
    pm, tm = _lstm_pair(input_size=3, hidden_size=5, proj_size=2, num_layers=2, bias=False,
                        bidirectional=True)
    _load_from_torch(pm, tm)
    rng = _rng(given)
    x = rng.standard_normal((4, 3))
    hx = (rng.standard_normal((4, 2)), rng.standard_normal((4, 5))) if given else None
    v = (rng.standard_normal((4, 4)), rng.standard_normal((4, 2)), rng.standard_normal((4, 5)))
    tr, pr = _run_lstm(tm, torch, x, hx, v), _run_lstm(pm, pyrch, x, hx, v)
    for a, b in zip(pr[:4] + tuple(pr[4]), tr[:4] + tuple(tr[4])):
        assert tuple(a.shape) == tuple(b.shape)
        _close(a, b, 1e-10)
    _compare_params(pm, tm, 1e-10)


def test_lstm_proj_float32_training_steps():
    kw = dict(input_size=4, hidden_size=8, proj_size=3, num_layers=2, batch_first=True)
    tm, pm = torch.nn.LSTM(**kw), nn.LSTM(**kw)
    _load_from_torch(pm, tm)
    topt = torch.optim.SGD(tm.parameters(), lr=0.1)
    popt = pyrch.optim.SGD(pm.parameters(), lr=0.1)
    for seed in range(3):
        x = _rng(seed).standard_normal((2, 5, 4)).astype(np.float32)
        to, po = tm(torch.tensor(x))[0], pm(pyrch.tensor(x))[0]
        _close(po, to, 2e-5)
        topt.zero_grad()
        popt.zero_grad()
        (to ** 2).mean().backward()
        (po ** 2).mean().backward()
        topt.step()
        popt.step()
    for (n, p), (_, t) in zip(pm.named_parameters(), tm.named_parameters()):
        _close(p, t, 2e-5, err_msg=n)


def test_lstm_proj_gradcheck():
    m = nn.LSTM(2, 3, proj_size=2, bidirectional=True).to(dtype=pyrch.float64)
    x = pyrch.tensor(_rng(0).standard_normal((3, 1, 2)), requires_grad=True)
    w = m.weight_hr_l0_reverse

    def fn(a, _w):
        out, (hn, cn) = m(a)
        return out.sum() + hn.sum() + cn.sum()
    assert pyrch.autograd.gradcheck(fn, (x, w))


def test_lstm_hidden_errors_as_torch():
    kw = dict(input_size=3, hidden_size=4, proj_size=2, num_layers=2, bidirectional=True)
    tm, pm = torch.nn.LSTM(**kw), nn.LSTM(**kw)
    z = np.zeros
    cases = [((5, 2, 3), (z((4, 2, 4)), z((4, 2, 4)))),     # h0 of hidden_size, not proj_size
             ((5, 2, 3), (z((4, 2, 2)), z((4, 2, 2)))),     # c0 of proj_size
             ((5, 2, 3), (z((2, 2)), z((4, 2, 4)))),        # 2-D state for batched input
             ((5, 3), (z((4, 2, 2)), z((4, 4)))),           # 3-D state for unbatched input
             ((5, 2, 4), None)]                             # wrong input_size
    for shape, hx in cases:
        x = z(shape, np.float32)
        targs = (torch.tensor(x),) + ((tuple(torch.tensor(a).float() for a in hx),) if hx else ())
        pargs = (pyrch.tensor(x),) + ((tuple(pyrch.tensor(a).float() for a in hx),) if hx else ())
        assert _error(lambda: pm(*pargs)) == _error(lambda: tm(*targs)), shape
    assert _error(lambda: nn.GRU(3, 4)(pyrch.zeros(5, 2, 3), pyrch.zeros(2, 4))) == \
        _error(lambda: torch.nn.GRU(3, 4)(torch.zeros(5, 2, 3), torch.zeros(2, 4)))
    assert _error(lambda: nn.GRU(3, 4)(pyrch.zeros(1, 5, 2, 3))) == \
        _error(lambda: torch.nn.GRU(3, 4)(torch.zeros(1, 5, 2, 3)))
    assert _error(lambda: nn.RNN(3, 4)(pyrch.zeros(1, 5, 2, 3))) == \
        _error(lambda: torch.nn.RNN(3, 4)(torch.zeros(1, 5, 2, 3)))


def test_load_state_dict_reports_keys_for_absent_buffers_as_torch():
    sd = {"weight": np.ones(3, np.float32), "bias": np.zeros(3, np.float32),
          "running_mean": np.zeros(3, np.float32), "running_var": np.ones(3, np.float32),
          "num_batches_tracked": np.array(0)}
    msgs, results = [], []
    for lib in (pyrch, torch):
        m = lib.nn.BatchNorm1d(3, track_running_stats=False)    # its running stats are None
        with pytest.raises(RuntimeError) as e:
            m.load_state_dict({k: lib.tensor(v) for k, v in sd.items()})
        msgs.append(str(e.value))
        r = m.load_state_dict({k: lib.tensor(sd[k]) for k in ("weight", "bias", "num_batches_tracked")},
                              strict=False)
        results.append((repr(r), repr(lib.nn.Linear(2, 2).load_state_dict(lib.nn.Linear(2, 2).state_dict()))))
    assert msgs[0] == msgs[1]
    assert results[0] == results[1]
    assert results[0][1] == "<All keys matched successfully>"
