"""pyrch.nn against PyTorch: every layer and loss (forward, input and parameter
gradients, same weights copied through numpy), module semantics, init, utils."""
import copy
import math
import warnings

import numpy as np
import pytest

import pyrch
import pyrch.nn as nn
import pyrch.nn.functional as F
from conftest import HAVE_TORCH

torch = pytest.importorskip("torch") if HAVE_TORCH else None
pytestmark = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch cross-check not installed")


def load_from_torch(pm, tm):
    """Copy torch's state_dict into the pyrch module through numpy."""
    return pm.load_state_dict({k: pyrch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


def _first(o):
    return o[0] if isinstance(o, tuple) else o


def compare_module(mk, inputs, dtype="float32", train=False, atol=None):
    """Build the module in both libraries, copy torch's weights, compare outputs and grads."""
    atol = atol if atol is not None else (2e-5 if dtype == "float32" else 1e-10)
    tm = mk(torch).to(getattr(torch, dtype))
    pm = mk(pyrch).to(dtype=getattr(pyrch, dtype))
    load_from_torch(pm, tm)
    tm.train(train)
    pm.train(train)
    tx, px = [], []
    for x in inputs:
        if x.dtype.kind == "f":
            x = x.astype(dtype)
            tx.append(torch.tensor(x, requires_grad=True))
            px.append(pyrch.tensor(x, requires_grad=True))
        else:
            tx.append(torch.tensor(x))
            px.append(pyrch.tensor(x))
    to, po = _first(tm(*tx)), _first(pm(*px))
    assert tuple(po.shape) == tuple(to.shape)
    np.testing.assert_allclose(po.detach().numpy(), to.detach().numpy(), atol=atol, rtol=1e-4)
    v = np.random.default_rng(3).standard_normal(tuple(to.shape)).astype(dtype)
    (to * torch.tensor(v)).sum().backward()
    (po * pyrch.tensor(v)).sum().backward()
    for a, b in zip(tx, px):
        if a.requires_grad:
            np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), atol=atol * 5, rtol=1e-4)
    tparams = dict(tm.named_parameters())
    for name, p in pm.named_parameters():
        tg = tparams[name].grad
        if tg is None:
            assert p.grad is None or np.allclose(p.grad.numpy(), 0)
        else:
            np.testing.assert_allclose(p.grad.numpy(), tg.numpy(), atol=atol * 5, rtol=1e-4,
                                       err_msg=name)
    return pm, tm


def _r(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


LAYERS = [
    ("Identity", lambda L: L.nn.Identity(), [_r(2, 3)]),
    ("Linear", lambda L: L.nn.Linear(5, 3), [_r(2, 4, 5)]),
    ("Linear-nobias", lambda L: L.nn.Linear(5, 3, bias=False), [_r(4, 5)]),
    ("Bilinear", lambda L: L.nn.Bilinear(5, 4, 3), [_r(2, 5), _r(2, 4, seed=1)]),
    ("Flatten", lambda L: L.nn.Flatten(), [_r(2, 3, 4)]),
    ("Unflatten", lambda L: L.nn.Unflatten(1, (2, 3)), [_r(2, 6)]),
    ("Conv1d", lambda L: L.nn.Conv1d(3, 4, 3, padding="same", dilation=2), [_r(2, 3, 7)]),
    ("Conv1d-unbatched", lambda L: L.nn.Conv1d(3, 4, 2, stride=2), [_r(3, 7)]),
    ("Conv2d", lambda L: L.nn.Conv2d(3, 4, 3, padding=1, stride=2), [_r(2, 3, 7, 7)]),
    ("Conv2d-groups", lambda L: L.nn.Conv2d(4, 6, (2, 3), groups=2, dilation=(2, 1), bias=False),
     [_r(2, 4, 6, 5)]),
    ("Conv2d-depthwise-same", lambda L: L.nn.Conv2d(3, 3, 4, padding="same", groups=3), [_r(1, 3, 6, 6)]),
    ("ConvTranspose1d", lambda L: L.nn.ConvTranspose1d(4, 6, 3, stride=2, groups=2), [_r(2, 4, 5)]),
    ("ConvTranspose2d", lambda L: L.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1),
     [_r(2, 4, 4, 4)]),
    ("ConvTranspose2d-dil", lambda L: L.nn.ConvTranspose2d(2, 3, 2, stride=(1, 2), dilation=2),
     [_r(1, 2, 3, 4)]),
    ("MaxPool1d", lambda L: L.nn.MaxPool1d(3, 2, 1), [_r(2, 3, 9)]),
    ("MaxPool2d", lambda L: L.nn.MaxPool2d(3, 2, 1), [_r(2, 3, 7, 7)]),
    ("MaxPool2d-ceil-dil", lambda L: L.nn.MaxPool2d(2, 2, 0, dilation=2, ceil_mode=True), [_r(1, 2, 8, 7)]),
    ("AvgPool1d", lambda L: L.nn.AvgPool1d(3, 2, 1), [_r(2, 3, 9)]),
    ("AvgPool2d", lambda L: L.nn.AvgPool2d(2), [_r(2, 3, 6, 6)]),
    ("AvgPool2d-ceil-nopad", lambda L: L.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
     [_r(2, 3, 8, 8)]),
    ("AvgPool2d-ceil-pad", lambda L: L.nn.AvgPool2d(3, 2, 1, ceil_mode=True), [_r(1, 2, 8, 7)]),
    ("AvgPool2d-divisor", lambda L: L.nn.AvgPool2d(2, divisor_override=3), [_r(1, 2, 4, 4)]),
    ("AdaptiveAvgPool1d", lambda L: L.nn.AdaptiveAvgPool1d(3), [_r(2, 3, 7)]),
    ("AdaptiveAvgPool2d", lambda L: L.nn.AdaptiveAvgPool2d((3, 2)), [_r(2, 3, 7, 5)]),
    ("AdaptiveAvgPool2d-global", lambda L: L.nn.AdaptiveAvgPool2d(1), [_r(2, 3, 4, 5)]),
    ("AdaptiveMaxPool2d", lambda L: L.nn.AdaptiveMaxPool2d((3, 2)), [_r(2, 3, 7, 5)]),
    ("Upsample-nearest", lambda L: L.nn.Upsample(size=(5, 7), mode="nearest"), [_r(1, 2, 3, 4)]),
    ("Upsample-nearest-sf", lambda L: L.nn.Upsample(scale_factor=2), [_r(1, 2, 3, 4)]),
    ("Upsample-bilinear", lambda L: L.nn.Upsample(scale_factor=2, mode="bilinear"), [_r(1, 2, 3, 4)]),
    ("Upsample-bilinear-ac", lambda L: L.nn.Upsample(size=(5, 6), mode="bilinear", align_corners=True),
     [_r(1, 2, 3, 4)]),
    ("Upsample-linear", lambda L: L.nn.Upsample(scale_factor=1.5, mode="linear"), [_r(1, 2, 5)]),
    ("Upsample-bicubic", lambda L: L.nn.Upsample(scale_factor=1.7, mode="bicubic"), [_r(1, 2, 3, 4)]),
    ("BatchNorm1d", lambda L: L.nn.BatchNorm1d(3), [_r(4, 3)]),
    ("BatchNorm1d-3d", lambda L: L.nn.BatchNorm1d(3, affine=False), [_r(4, 3, 5)]),
    ("BatchNorm2d", lambda L: L.nn.BatchNorm2d(3, momentum=0.3), [_r(4, 3, 5, 5)]),
    ("LayerNorm", lambda L: L.nn.LayerNorm(5), [_r(4, 3, 5)]),
    ("LayerNorm-2d", lambda L: L.nn.LayerNorm((3, 5), elementwise_affine=False), [_r(4, 3, 5)]),
    ("GroupNorm", lambda L: L.nn.GroupNorm(2, 4), [_r(2, 4, 3, 3)]),
    ("RMSNorm", lambda L: L.nn.RMSNorm(5), [_r(2, 4, 5)]),
    ("RMSNorm-eps", lambda L: L.nn.RMSNorm((4, 5), eps=1e-3), [_r(2, 4, 5)]),
    ("Embedding", lambda L: L.nn.Embedding(5, 3), [np.array([[0, 1, 2], [4, 4, 1]])]),
    ("Embedding-padding", lambda L: L.nn.Embedding(5, 3, padding_idx=1), [np.array([[0, 1, 2], [1, 4, 1]])]),
    ("RNN", lambda L: L.nn.RNN(4, 5, nonlinearity="relu"), [_r(3, 2, 4)]),
    ("RNN-2layer-h0", lambda L: L.nn.RNN(4, 5, num_layers=2), [_r(3, 2, 4), _r(2, 2, 5, seed=1)]),
    ("LSTM", lambda L: L.nn.LSTM(4, 5, num_layers=2, bidirectional=True, batch_first=True), [_r(2, 3, 4)]),
    ("LSTM-unbatched", lambda L: L.nn.LSTM(4, 5), [_r(3, 4)]),
    ("GRU", lambda L: L.nn.GRU(4, 5, bidirectional=True), [_r(3, 2, 4)]),
    ("GRU-h0", lambda L: L.nn.GRU(4, 5, batch_first=True), [_r(2, 3, 4), _r(1, 2, 5, seed=1)]),
    ("RNNCell", lambda L: L.nn.RNNCell(4, 5), [_r(3, 4), _r(3, 5, seed=1)]),
    ("LSTMCell", lambda L: L.nn.LSTMCell(4, 5), [_r(3, 4)]),
    ("GRUCell", lambda L: L.nn.GRUCell(4, 5), [_r(3, 4), _r(3, 5, seed=1)]),
    ("MultiheadAttention", lambda L: L.nn.MultiheadAttention(8, 2, batch_first=True),
     [_r(2, 3, 8), _r(2, 4, 8, seed=1), _r(2, 4, 8, seed=2)]),
    ("MultiheadAttention-kv", lambda L: L.nn.MultiheadAttention(8, 2, kdim=5, vdim=6),
     [_r(3, 2, 8), _r(4, 2, 5, seed=1), _r(4, 2, 6, seed=2)]),
    ("TransformerEncoderLayer", lambda L: L.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), [_r(3, 2, 8)]),
    ("TransformerEncoderLayer-nf", lambda L: L.nn.TransformerEncoderLayer(
        8, 2, 16, dropout=0.0, norm_first=True, activation="gelu", batch_first=True), [_r(2, 3, 8)]),
    ("TransformerEncoder", lambda L: L.nn.TransformerEncoder(
        L.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), 2, norm=L.nn.LayerNorm(8),
        enable_nested_tensor=False), [_r(3, 2, 8)]),
    ("TransformerDecoderLayer", lambda L: L.nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0),
     [_r(3, 2, 8), _r(4, 2, 8, seed=1)]),
    ("TransformerDecoderLayer-nf", lambda L: L.nn.TransformerDecoderLayer(
        8, 2, 16, dropout=0.0, norm_first=True, batch_first=True), [_r(2, 3, 8), _r(2, 4, 8, seed=1)]),
]

ACTIVATIONS = [
    ("ReLU", lambda L: L.nn.ReLU()), ("ReLU6", lambda L: L.nn.ReLU6()),
    ("LeakyReLU", lambda L: L.nn.LeakyReLU(0.2)), ("ELU", lambda L: L.nn.ELU(0.7)),
    ("GELU", lambda L: L.nn.GELU()), ("GELU-tanh", lambda L: L.nn.GELU(approximate="tanh")),
    ("SiLU", lambda L: L.nn.SiLU()), ("Sigmoid", lambda L: L.nn.Sigmoid()),
    ("Tanh", lambda L: L.nn.Tanh()), ("Softmax", lambda L: L.nn.Softmax(dim=1)),
    ("LogSoftmax", lambda L: L.nn.LogSoftmax(dim=-1)), ("Softplus", lambda L: L.nn.Softplus(beta=2.0)),
    ("Hardtanh", lambda L: L.nn.Hardtanh(-0.5, 0.7)), ("Mish", lambda L: L.nn.Mish()),
    ("PReLU", lambda L: L.nn.PReLU()), ("SELU", lambda L: L.nn.SELU()), ("CELU", lambda L: L.nn.CELU()),
    ("Softsign", lambda L: L.nn.Softsign()), ("LogSigmoid", lambda L: L.nn.LogSigmoid()),
    ("Hardswish", lambda L: L.nn.Hardswish()), ("Hardsigmoid", lambda L: L.nn.Hardsigmoid()),
    ("GLU", lambda L: L.nn.GLU()), ("Softmin", lambda L: L.nn.Softmin(dim=0)),
]


@pytest.mark.parametrize("name,mk,inputs", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_matches_torch(name, mk, inputs):
    compare_module(mk, inputs, train=name.startswith("BatchNorm"))


@pytest.mark.parametrize("name,mk", ACTIVATIONS, ids=[c[0] for c in ACTIVATIONS])
def test_activation_matches_torch(name, mk):
    x = _r(3, 4) * 3
    x[np.abs(x) < 0.05] = 0.3          # away from the kinks
    x[np.abs(np.abs(x) - 3) < 0.05] = 2.0
    compare_module(mk, [x])


def test_float64_lstm_exact():
    compare_module(lambda L: L.nn.LSTM(3, 4, num_layers=2, dropout=0.0), [_r(5, 2, 3)], dtype="float64")


# -- losses ---------------------------------------------------------------------------

def _loss_case(fn_name, args, kwargs, float_args=(0,), atol=1e-5, dtype="float32"):
    pa, ta, grads_p, grads_t = [], [], [], []
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            a = a.astype(dtype)
            rg = i in float_args
            p, t = pyrch.tensor(a, requires_grad=rg), torch.tensor(a, requires_grad=rg)
            if rg:
                grads_p.append(p)
                grads_t.append(t)
        elif isinstance(a, np.ndarray):
            p, t = pyrch.tensor(a), torch.tensor(a)
        else:
            p = t = a
        pa.append(p)
        ta.append(t)
    pk = {k: pyrch.tensor(v.astype(dtype)) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    tk = {k: torch.tensor(v.astype(dtype)) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    po = getattr(F, fn_name)(*pa, **pk)
    to = getattr(torch.nn.functional, fn_name)(*ta, **tk)
    assert np.all(np.isfinite(po.detach().numpy())[np.isfinite(to.detach().numpy())])
    np.testing.assert_allclose(po.detach().numpy(), to.detach().numpy(), atol=atol, rtol=1e-4)
    v = np.random.default_rng(1).standard_normal(tuple(to.shape)).astype(dtype)
    (po * pyrch.tensor(v)).sum().backward()
    (to * torch.tensor(v)).sum().backward()
    for p, t in zip(grads_p, grads_t):
        fin = np.isfinite(t.grad.numpy())       # pyrch must be finite wherever torch is
        assert np.all(np.isfinite(p.grad.numpy())[fin])
        np.testing.assert_allclose(p.grad.numpy()[fin], t.grad.numpy()[fin], atol=atol, rtol=1e-4)


REDUCTIONS = ["mean", "sum", "none"]
_X, _Y = _r(4, 5), _r(4, 5, seed=1)
_LOGITS = _r(4, 5) * 3
_EXTREME = np.array([[-200.0, 0.0, 300.0, 80.0, -90.0], [1e4, -1e4, 5.0, 0.5, -0.5]])
_T = np.array([1, 0, 4, 2])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses(reduction):
    _loss_case("mse_loss", (_X, _Y), dict(reduction=reduction), (0, 1))
    _loss_case("l1_loss", (_X, _Y), dict(reduction=reduction), (0, 1))
    _loss_case("smooth_l1_loss", (_X, _Y), dict(reduction=reduction, beta=0.5), (0, 1))
    _loss_case("huber_loss", (_X, _Y), dict(reduction=reduction, delta=0.7), (0, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy(reduction):
    w = np.abs(_r(5, seed=4)) + 0.1
    _loss_case("cross_entropy", (_LOGITS, _T), dict(reduction=reduction))
    _loss_case("cross_entropy", (_LOGITS, _T), dict(reduction=reduction, weight=w))
    _loss_case("cross_entropy", (_LOGITS, np.array([1, -100, 4, 2])),
               dict(reduction=reduction, ignore_index=-100, weight=w, label_smoothing=0.1))
    _loss_case("cross_entropy", (_LOGITS, np.array([1, 3, 4, 3])),
               dict(reduction=reduction, ignore_index=3, label_smoothing=0.2))
    probs = np.random.default_rng(2).dirichlet(np.ones(5), 4)
    _loss_case("cross_entropy", (_LOGITS, probs), dict(reduction=reduction, label_smoothing=0.1))
    _loss_case("cross_entropy", (_LOGITS, probs), dict(reduction=reduction, weight=w))
    # extra dims (N, C, d1, d2)
    _loss_case("cross_entropy", (_r(2, 3, 4, 2), np.random.default_rng(0).integers(0, 3, (2, 4, 2))),
               dict(reduction=reduction))
    # extreme logits stay finite, as in torch
    _loss_case("cross_entropy", (_EXTREME, np.array([0, 1])), dict(reduction=reduction), atol=1e-3)
    # ignored rows (the one-op path: float32 in C, float64 in numpy); every row ignored
    # gives torch's NaN mean loss and a zero gradient
    for dt in ("float32", "float64"):
        for t in ([1, -100, 4, 2], [-100] * 4, [0, 0, 0, 0]):
            _loss_case("cross_entropy", (_LOGITS, np.array(t)), dict(reduction=reduction), dtype=dt)


def test_cross_entropy_unbatched_and_nll():
    _loss_case("cross_entropy", (_r(5), np.array(2)), {})
    lp = np.log(np.random.default_rng(0).dirichlet(np.ones(5), 4))
    for red in REDUCTIONS:
        _loss_case("nll_loss", (lp, _T), dict(reduction=red, weight=np.abs(_r(5)) + 0.1))
        _loss_case("nll_loss", (lp, np.array([1, -100, 2, 2])), dict(reduction=red))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_losses(reduction):
    p = np.random.default_rng(0).uniform(0.05, 0.95, (4, 5))
    t = np.random.default_rng(1).uniform(0, 1, (4, 5))
    _loss_case("binary_cross_entropy", (p, t), dict(reduction=reduction), (0, 1))
    _loss_case("binary_cross_entropy", (p, t), dict(reduction=reduction, weight=np.abs(_r(5)) + 0.1))
    tb = (t > 0.5).astype(np.float64)
    _loss_case("binary_cross_entropy_with_logits", (_LOGITS, t), dict(reduction=reduction), (0, 1))
    _loss_case("binary_cross_entropy_with_logits", (_LOGITS, tb),
               dict(reduction=reduction, pos_weight=np.abs(_r(5)) + 0.5, weight=np.abs(_r(5)) + 0.1),
               (0, 1))
    # extreme logits: finite loss and gradients
    te = np.array([[1.0, 0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0, 1.0]])
    _loss_case("binary_cross_entropy_with_logits", (_EXTREME, te), dict(reduction=reduction),
               atol=1e-3)
    _loss_case("binary_cross_entropy_with_logits", (_EXTREME, te),
               dict(reduction=reduction, pos_weight=np.full(5, 3.0)), atol=1e-3)


def test_bce_at_exact_zero_and_one_is_finite():
    _loss_case("binary_cross_entropy", (np.array([0.0, 1.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0, 0.0])),
               {}, atol=1e-4)


@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
def test_kl_div(reduction):
    lp = np.log(np.random.default_rng(0).dirichlet(np.ones(5), 4))
    tgt = np.random.default_rng(1).dirichlet(np.ones(5), 4)
    tgt[0, 0] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _loss_case("kl_div", (lp, tgt), dict(reduction=reduction), (0, 1))
        _loss_case("kl_div", (lp, np.log(tgt + 0.01)), dict(reduction=reduction, log_target=True), (0, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ranking_losses(reduction):
    y = np.array([1.0, -1.0, 1.0, -1.0])
    _loss_case("cosine_embedding_loss", (_X, _Y, y), dict(reduction=reduction, margin=0.1), (0, 1))
    _loss_case("margin_ranking_loss", (_r(4), _r(4, seed=1), y), dict(reduction=reduction, margin=0.2),
               (0, 1))
    _loss_case("hinge_embedding_loss", (_r(4), y), dict(reduction=reduction))


def test_loss_modules():
    x, t = pyrch.tensor(_LOGITS.astype("f")), pyrch.tensor(_T)
    ref = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(torch.tensor(_LOGITS.astype("f")), torch.tensor(_T))
    got = nn.CrossEntropyLoss(label_smoothing=0.1)(x, t)
    assert abs(float(got) - float(ref)) < 1e-5
    for name in ["MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss"]:
        a = getattr(nn, name)(reduction="sum")(pyrch.tensor(_X), pyrch.tensor(_Y))
        b = getattr(torch.nn, name)(reduction="sum")(torch.tensor(_X), torch.tensor(_Y))
        assert abs(float(a) - float(b)) < 1e-8
    p = pyrch.tensor(np.full((2, 3), 0.3))
    assert abs(float(nn.BCELoss()(p, pyrch.ones(2, 3, dtype=pyrch.float64))) + math.log(0.3)) < 1e-9
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"


# -- functional pieces ---------------------------------------------------------------------

def test_sdpa_matches_torch():
    q, k, v = (_r(2, 2, 3, 4, seed=i).astype("f") for i in range(3))
    mask = np.random.default_rng(0).uniform(size=(3, 3)) > 0.3
    np.fill_diagonal(mask, True)
    for kw in [{}, {"is_causal": True}, {"attn_mask": mask}, {"attn_mask": _r(3, 3).astype("f")},
               {"scale": 0.3}]:
        pk = {a: pyrch.tensor(b) if isinstance(b, np.ndarray) else b for a, b in kw.items()}
        tk = {a: torch.tensor(b) if isinstance(b, np.ndarray) else b for a, b in kw.items()}
        got = F.scaled_dot_product_attention(pyrch.tensor(q), pyrch.tensor(k), pyrch.tensor(v), **pk)
        ref = torch.nn.functional.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k),
                                                               torch.tensor(v), **tk)
        np.testing.assert_allclose(got.numpy(), ref.numpy(), atol=1e-5)


def test_mha_masks_and_weights():
    tm = torch.nn.MultiheadAttention(8, 2)
    pm = nn.MultiheadAttention(8, 2)
    load_from_torch(pm, tm)
    x = _r(4, 2, 8).astype("f")
    kpm = np.array([[False, False, True, False], [False, True, False, False]])
    am = np.triu(np.ones((4, 4), dtype=bool), 1)
    for avg in (True, False):
        to, tw = tm(*(torch.tensor(x),) * 3, key_padding_mask=torch.tensor(kpm), attn_mask=torch.tensor(am),
                    average_attn_weights=avg)
        po, pw = pm(*(pyrch.tensor(x),) * 3, key_padding_mask=pyrch.tensor(kpm), attn_mask=pyrch.tensor(am),
                    average_attn_weights=avg)
        np.testing.assert_allclose(po.detach().numpy(), to.detach().numpy(), atol=1e-5)
        np.testing.assert_allclose(pw.detach().numpy(), tw.detach().numpy(), atol=1e-5)
    assert pm(*(pyrch.tensor(x),) * 3, need_weights=False)[1] is None


def test_interpolate_and_pool_functional():
    x = _r(1, 2, 5, 6).astype("f")
    for kw in [dict(scale_factor=0.5, mode="nearest"), dict(size=(7, 3), mode="nearest-exact"),
               dict(scale_factor=(1.5, 0.8), mode="bilinear", align_corners=False),
               dict(size=(2, 9), mode="bilinear", align_corners=True), dict(size=(3, 4), mode="area")]:
        got = F.interpolate(pyrch.tensor(x), **kw)
        ref = torch.nn.functional.interpolate(torch.tensor(x), **kw)
        np.testing.assert_allclose(got.numpy(), ref.numpy(), atol=1e-5, err_msg=str(kw))
    out, idx = F.max_pool2d(pyrch.tensor(x), 2, return_indices=True)
    tout, tidx = torch.nn.functional.max_pool2d(torch.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    np.testing.assert_allclose(out.numpy(), tout.numpy())


def test_dropout_statistics_and_modes():
    pyrch.manual_seed(0)
    x = pyrch.ones(200, 200)
    d = nn.Dropout(0.25)
    y = d(x)
    kept = (y.numpy() != 0).mean()
    assert abs(kept - 0.75) < 0.02
    assert np.allclose(y.numpy()[y.numpy() != 0], 1 / 0.75)
    d.eval()
    assert d(x) is x
    y2 = nn.Dropout2d(0.5)(pyrch.ones(4, 50, 3, 3)).numpy()
    per_channel = y2.reshape(4, 50, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert np.all(F.dropout(x, 1.0).numpy() == 0)
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


def test_batchnorm_running_stats_and_eval():
    tm, pm = torch.nn.BatchNorm2d(3, momentum=0.2), nn.BatchNorm2d(3, momentum=0.2)
    for seed in range(3):
        x = _r(4, 3, 2, 2, seed=seed).astype("f")
        tm(torch.tensor(x))
        pm(pyrch.tensor(x))
    np.testing.assert_allclose(pm.running_mean.numpy(), tm.running_mean.numpy(), atol=1e-6)
    np.testing.assert_allclose(pm.running_var.numpy(), tm.running_var.numpy(), atol=1e-6)
    assert int(pm.num_batches_tracked) == 3
    tm.eval()
    pm.eval()
    x = _r(2, 3, 2, 2, seed=9).astype("f")
    np.testing.assert_allclose(pm(pyrch.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                               atol=1e-5)
    # momentum=None: cumulative moving average
    tm, pm = torch.nn.BatchNorm1d(3, momentum=None), nn.BatchNorm1d(3, momentum=None)
    for seed in range(3):
        x = _r(5, 3, seed=seed).astype("f")
        tm(torch.tensor(x))
        pm(pyrch.tensor(x))
    np.testing.assert_allclose(pm.running_var.numpy(), tm.running_var.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(pyrch.ones(2, 3))


def test_running_stats_update_is_seen_by_dispatch():
    """The running-stat update goes through in-place pyrch ops, so a tracer sees it."""
    from pyrch._dispatch import state, refresh_hooks
    seen = []

    class Probe:
        def record(self, op, args, attrs, outs):
            pass

        def record_inplace(self, target, out):
            seen.append(target)

        def on_grad_set(self, t, v):
            pass

        def on_scalar(self, t, kind):
            return None
    bn = nn.BatchNorm1d(3)
    state.tracer = Probe()
    refresh_hooks()
    try:
        bn(pyrch.randn(4, 3))
    finally:
        state.tracer = None
        refresh_hooks()
    assert any(t is bn.running_mean for t in seen) and any(t is bn.running_var for t in seen)


def test_embedding_padding_idx_gets_no_grad():
    e = nn.Embedding(5, 3, padding_idx=2)
    assert np.all(e.weight.detach().numpy()[2] == 0)
    e(pyrch.tensor([[2, 1, 2], [0, 2, 1]])).sum().backward()
    g = e.weight.grad.numpy()
    assert np.all(g[2] == 0) and np.all(g[1] == 2) and np.all(g[0] == 1)
    pre = nn.Embedding.from_pretrained(pyrch.eye(3))
    assert not pre.weight.requires_grad


# -- module semantics ------------------------------------------------------------------------

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(3, 2)
        self.register_buffer("steps", pyrch.zeros(1))
        self.register_buffer("scratch", pyrch.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def test_registration_and_traversal():
    m = Net()
    assert [n for n, _ in m.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert [n for n, _ in m.named_buffers()] == ["steps", "scratch"]
    assert [n for n, _ in m.named_children()] == ["fc1", "act", "fc2"]
    assert [n for n, _ in m.named_modules()] == ["", "fc1", "act", "fc2"]
    assert list(m.state_dict()) == ["steps", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert m.fc1.weight is m.fc1._parameters["weight"]
    # shared parameters appear once
    m.fc3 = m.fc1
    assert len(list(m.parameters())) == 4
    assert len(list(m.named_parameters(remove_duplicate=False))) == 6
    del m.fc3
    assert "fc3" not in dict(m.named_children())
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'nope'"):
        m.nope
    with pytest.raises(TypeError, match="cannot assign"):
        m.fc1.weight = pyrch.zeros(3, 4)
    m.fc1.bias = None
    assert [n for n, _ in m.fc1.named_parameters()] == ["weight"]


def test_plain_list_of_modules_warns():
    m = nn.Module()
    with pytest.warns(UserWarning, match="ModuleList"):
        m.layers = [nn.Linear(2, 2)]
    with pytest.warns(UserWarning, match="ModuleDict"):
        m.heads = {"a": nn.Linear(2, 2)}
    assert list(m.parameters()) == []


def test_parameter_repr_and_type():
    p = nn.Parameter(pyrch.tensor([1.0, 2.0]))
    assert repr(p) == repr(torch.nn.Parameter(torch.tensor([1.0, 2.0])))
    assert p.requires_grad and isinstance(p, pyrch.Tensor)
    assert not nn.Parameter(pyrch.ones(1), requires_grad=False).requires_grad


def test_train_eval_zero_grad_apply_requires_grad():
    m = Net()
    assert m.training and m.fc1.training
    m.eval()
    assert not m.training and not m.fc1.training
    m.train()
    m(pyrch.ones(2, 4)).sum().backward()
    assert m.fc1.weight.grad is not None
    m.zero_grad(set_to_none=False)
    assert np.all(m.fc1.weight.grad.numpy() == 0)
    m.zero_grad()
    assert m.fc1.weight.grad is None
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "ReLU", "Linear", "Net"]
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_to_dtype_keeps_parameter_identity():
    m = Net()
    w = m.fc1.weight
    m.to(pyrch.float64)
    assert m.fc1.weight is w and w.dtype == pyrch.float64 and isinstance(w, nn.Parameter)
    assert m.steps.dtype == pyrch.float64
    m.float()
    assert w.dtype == pyrch.float32
    m.double()
    assert w.dtype == pyrch.float64


def test_state_dict_roundtrip_and_errors():
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    assert np.array_equal(a.fc1.weight.detach().numpy(), b.fc1.weight.detach().numpy())
    sd = a.state_dict()
    assert not sd["fc1.weight"].requires_grad
    del sd["fc1.bias"]
    sd["extra"] = pyrch.zeros(1)
    with pytest.raises(RuntimeError) as e:
        b.load_state_dict(sd)
    msg = str(e.value)
    assert msg.startswith("Error(s) in loading state_dict for Net:\n\tMissing key(s) in state_dict: \"fc1.bias\". ")
    assert 'Unexpected key(s) in state_dict: "extra". ' in msg
    res = b.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["fc1.bias"] and res.unexpected_keys == ["extra"]
    sd = a.state_dict()
    sd["fc1.weight"] = pyrch.zeros(2, 2)
    with pytest.raises(RuntimeError, match=r"size mismatch for fc1.weight: copying a param with shape "
                                           r"torch.Size\(\[2, 2\]\) from checkpoint, the shape in current "
                                           r"model is torch.Size\(\[3, 4\]\)"):
        b.load_state_dict(sd)


def test_state_dict_transfers_from_torch_lstm():
    tm = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    pm = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    assert list(pm.state_dict()) == list(tm.state_dict())
    load_from_torch(pm, tm)


def test_hooks():
    m = nn.Linear(3, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
    h2 = m.register_forward_hook(lambda mod, args, out: out + 1)
    x = pyrch.ones(1, 3)
    expected = F.linear(x * 2, m.weight, m.bias) + 1
    assert np.allclose(m(x).detach().numpy(), expected.detach().numpy())
    h1.remove()
    h2.remove()
    assert np.allclose(m(x).detach().numpy(), F.linear(x, m.weight, m.bias).detach().numpy())

    def bw(mod, gin, gout):
        calls.append((gin, gout))
    h3 = m.register_full_backward_hook(bw)
    xi = pyrch.ones(2, 3, requires_grad=True)
    m(xi).sum().backward()
    assert len(calls) == 1
    gin, gout = calls[0]
    assert np.allclose(gout[0].numpy(), 1) and np.allclose(gin[0].numpy(), xi.grad.numpy())
    h3.remove()
    # torch's values: compare grad_input with torch on the same weights
    tm = torch.nn.Linear(3, 2)
    load_from_torch(m, tm)
    tcalls = []
    tm.register_full_backward_hook(lambda mod, gi, go: tcalls.append(gi))
    tm(torch.ones(2, 3, requires_grad=True)).sum().backward()
    calls.clear()
    m.register_full_backward_hook(bw)
    m(pyrch.ones(2, 3, requires_grad=True)).sum().backward()
    np.testing.assert_allclose(calls[0][0][0].numpy(), tcalls[0][0].numpy(), atol=1e-6)


def test_repr_matches_torch():
    def build(L):
        return L.nn.Sequential(
            L.nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), L.nn.BatchNorm2d(8), L.nn.ReLU(inplace=True),
            L.nn.MaxPool2d(2), L.nn.AdaptiveAvgPool2d((1, 1)), L.nn.Flatten(), L.nn.Dropout(0.2),
            L.nn.Linear(8, 4), L.nn.LayerNorm(4), L.nn.GELU(approximate="tanh"), L.nn.LSTM(4, 5, batch_first=True),
            L.nn.Embedding(10, 3, padding_idx=0), L.nn.ModuleList([L.nn.Identity(), L.nn.Tanh()]),
            L.nn.ModuleDict({"a": L.nn.Softmax(dim=1)}), L.nn.TransformerEncoderLayer(8, 2, 16),
            L.nn.ConvTranspose2d(2, 3, 3, stride=2, output_padding=1), L.nn.GroupNorm(2, 4),
            L.nn.LeakyReLU(0.1), L.nn.AvgPool1d(2), L.nn.Upsample(scale_factor=2.0, mode="nearest"),
            L.nn.RMSNorm(4), L.nn.GRUCell(3, 4), L.nn.PReLU(), L.nn.Hardtanh(), L.nn.Softplus())
    assert repr(build(pyrch)) == repr(build(torch))


def test_containers():
    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(s) == 3 and isinstance(s[-1], nn.Linear)
    assert isinstance(s[1:], nn.Sequential) and len(s[1:]) == 2
    s.append(nn.Sigmoid())
    assert len(s) == 4 and [n for n, _ in s.named_children()] == ["0", "1", "2", "3"]
    del s[1]
    assert [n for n, _ in s.named_children()] == ["0", "1", "2"]
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ml.append(nn.Linear(2, 1))
    assert len(list(ml.parameters())) == 8 and len(ml[1:3]) == 2
    md = nn.ModuleDict({"a": nn.Linear(2, 2)})
    md["b"] = nn.ReLU()
    assert list(md.keys()) == ["a", "b"] and "b" in md
    pl = nn.ParameterList([nn.Parameter(pyrch.ones(2)), pyrch.zeros(3)])
    assert len(pl) == 2 and isinstance(pl[1], nn.Parameter)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1"]
    pd = nn.ParameterDict({"w": nn.Parameter(pyrch.ones(2))})
    pd["b"] = pyrch.zeros(1)
    assert [n for n, _ in pd.named_parameters()] == ["w", "b"]
    tpl = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(2)), torch.zeros(3)])
    assert repr(pl) == repr(tpl)


def test_deepcopy_module():
    m = Net()
    c = copy.deepcopy(m)
    assert c.fc1.weight is not m.fc1.weight
    assert np.array_equal(c.fc1.weight.detach().numpy(), m.fc1.weight.detach().numpy())
    assert isinstance(c.fc1.weight, nn.Parameter)


# -- init and utils -----------------------------------------------------------------------

def test_init_functions():
    pyrch.manual_seed(0)
    w = pyrch.empty(200, 300)
    nn.init.xavier_uniform_(w)
    a = math.sqrt(6 / 500)
    assert w.abs().max().item() <= a and w.numpy().std() == pytest.approx(a / math.sqrt(3), rel=0.05)
    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / 200), rel=0.05)
    nn.init.kaiming_uniform_(w, a=math.sqrt(5))
    assert w.abs().max().item() <= 1 / math.sqrt(300)
    nn.init.trunc_normal_(w, std=1.0, a=-0.5, b=0.5)
    assert w.abs().max().item() <= 0.5
    nn.init.orthogonal_(w)
    q = w.numpy()
    assert np.allclose(q @ q.T, np.eye(200), atol=1e-4)
    nn.init.eye_(w)
    assert np.array_equal(w.numpy(), np.eye(200, 300, dtype="f"))
    for fn, val in [(nn.init.zeros_, 0), (nn.init.ones_, 1)]:
        fn(w)
        assert np.all(w.numpy() == val)
    assert nn.init.calculate_gain("leaky_relu", 0.2) == torch.nn.init.calculate_gain("leaky_relu", 0.2)
    assert nn.init.calculate_gain("tanh") == torch.nn.init.calculate_gain("tanh")
    p = nn.Linear(3, 3).weight
    nn.init.normal_(p)          # works on a leaf that requires grad (runs under no_grad)
    assert p.grad_fn is None and p.requires_grad


def test_default_init_ranges():
    lin = nn.Linear(100, 50)
    assert lin.weight.abs().max().item() <= 1 / math.sqrt(100)
    conv = nn.Conv2d(4, 8, 3)
    assert conv.bias.abs().max().item() <= 1 / math.sqrt(36)


def test_clip_grad():
    ps = [nn.Parameter(pyrch.ones(3)), nn.Parameter(pyrch.ones(4))]
    tps = [torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(4))]
    for p, t, v in zip(ps, tps, (_r(3), _r(4, seed=1))):
        p.grad = pyrch.tensor(v.astype("f"))
        t.grad = torch.tensor(v.astype("f"))
    for nt in (2.0, 1.0, float("inf")):
        total = nn.utils.clip_grad_norm_(ps, 0.5, norm_type=nt)
        ttotal = torch.nn.utils.clip_grad_norm_(tps, 0.5, norm_type=nt)
        assert float(total) == pytest.approx(float(ttotal), rel=1e-5)
        for p, t in zip(ps, tps):
            np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-5)
    nn.utils.clip_grad_value_(ps, 0.01)
    assert all(p.grad.abs().max().item() <= 0.01 for p in ps)


def test_parameters_vector_roundtrip():
    m = Net()
    v = nn.utils.parameters_to_vector(m.parameters())
    assert v.shape == (4 * 3 + 3 + 3 * 2 + 2,)
    nn.utils.vector_to_parameters(v * 0 + 1, m.parameters())
    assert all(np.all(p.detach().numpy() == 1) for p in m.parameters())


def test_conv_errors_name_shapes():
    with pytest.raises(RuntimeError, match=r"expected input\[1, 2, 5, 5\] to have 3 channels"):
        F.conv2d(pyrch.ones(1, 2, 5, 5), pyrch.ones(4, 3, 3, 3))
    with pytest.raises(RuntimeError, match="Kernel size can't be greater"):
        F.conv2d(pyrch.ones(1, 3, 2, 2), pyrch.ones(4, 3, 3, 3))


def test_out_of_range_class_targets_and_embedding_indices_raise_torchs_errors():
    x = pyrch.randn(4, 10)
    for bad in (10, -5):
        with pytest.raises(IndexError, match=f"Target {bad} is out of bounds"):
            F.cross_entropy(x, pyrch.tensor([1, 2, bad, 3]))
    ok = F.nll_loss(x.log_softmax(1), pyrch.tensor([1, 2, 7, 3]), ignore_index=7)
    assert ok.isfinite().item()
    F.cross_entropy(x, pyrch.tensor([1, 2, -100, 3]))          # the default ignore_index
    # a traced loss checks every replay's targets too (never a wrapped-around row)
    step = pyrch.jit.trace(lambda logits, t: F.cross_entropy(logits, t))
    step(x, pyrch.tensor([1, 2, 3, 4]))
    step(x, pyrch.tensor([1, 2, 3, 4]))
    with pytest.raises(IndexError, match="Target 10 is out of bounds"):
        step(x, pyrch.tensor([1, 2, 10, 4]))
    w = pyrch.randn(65, 40, requires_grad=True)
    for idx in ([-1, 3], [65]):
        with pytest.raises(IndexError, match="index out of range in self"):
            F.embedding(pyrch.tensor(idx), w)


@pytest.mark.parametrize("cls,shape", [("Conv1d", (2, 3, 9)), ("Conv2d", (2, 3, 7, 8)),
                                       ("Conv3d", (1, 2, 5, 6, 5))])
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", [1, 2, "same"])
def test_conv_padding_modes_match_torch(cls, shape, mode, pad):
    tm = getattr(torch.nn, cls)(shape[1], 4, 3, padding=pad, padding_mode=mode)
    pm = getattr(nn, cls)(shape[1], 4, 3, padding=pad, padding_mode=mode)
    pm.load_state_dict({k: pyrch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    px, tx = pyrch.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    py, ty = pm(px), tm(tx)
    py.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(py.detach().numpy(), ty.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), atol=1e-5)
    assert repr(pm) == repr(tm)


def test_conv_padding_mode_errors_are_torchs():
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose2d'):
        nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect")


@pytest.mark.parametrize("shape", [(2, 5, 7), (2, 6, 4, 5), (1, 7, 3, 4, 2)])
@pytest.mark.parametrize("size", [2, 3, 5])
def test_local_response_norm_matches_torch(shape, size):
    x = np.random.default_rng(size).standard_normal(shape)
    pm, tm = nn.LocalResponseNorm(size, 0.3, 0.7, 2.0), torch.nn.LocalResponseNorm(size, 0.3, 0.7, 2.0)
    px, tx = pyrch.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    py, ty = pm(px), tm(tx)
    py.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(py.detach().numpy(), ty.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert repr(pm) == repr(tm)


@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_embedding_max_norm_matches_torch(norm_type):
    w = np.random.default_rng(0).standard_normal((10, 4)) * 2
    idx = np.array([[1, 3, 3], [7, 1, 0]])
    v = np.arange(24.0).reshape(2, 3, 4)
    res = []
    for lib in (pyrch, torch):
        weight = lib.tensor(w.copy(), requires_grad=True)
        y = lib.nn.functional.embedding(lib.tensor(idx), weight, max_norm=1.5, norm_type=norm_type)
        (y * lib.tensor(v)).sum().backward()
        res.append((y.detach().numpy(), weight.detach().numpy(), weight.grad.numpy()))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_layer_norm_without_affine_and_its_errors_match_torch():
    """F.layer_norm is the one `layer_norm` op with or without weight and bias; wrong
    shapes and integer input raise torch's errors."""
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    for shape in [(4,), (3, 4)]:
        got = F.layer_norm(pyrch.tensor(x), shape).numpy()
        d = x - x.mean(axis=tuple(range(3 - len(shape), 3)), keepdims=True)
        want = d / np.sqrt((d * d).mean(axis=tuple(range(3 - len(shape), 3)), keepdims=True) + 1e-5)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError, match=r"Expected weight to be of same shape as normalized_shape, "
                                           r"but got weight of shape \[3\] and normalized_shape = \[4\]"):
        F.layer_norm(pyrch.tensor(x), (4,), pyrch.ones(3))
    with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
        F.layer_norm(pyrch.tensor(x).long(), (4,))


# -- F.linear's eager op ------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(16, 64), (4, 40, 128), (300, 200), (2, 3, 5, 70)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_eager_linear_is_bitwise_the_matmul_and_add_it_replaces(shape, dtype):
    """Eager F.linear runs as one op (one GEMM with the bias in its epilogue, one autograd
    node); a traced one records matmul and add. Both must give the same bits, forward
    and every gradient, or eager and traced runs would drift apart."""
    def run(fused):
        rng = np.random.default_rng(0)
        w = pyrch.tensor(rng.standard_normal((96, shape[-1])).astype(dtype), requires_grad=True)
        b = pyrch.tensor(rng.standard_normal(96).astype(dtype), requires_grad=True)
        x = pyrch.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)
        if len(shape) == 2 and shape[0] == 300:        # a transposed input: a strided view
            x = pyrch.tensor(rng.standard_normal(shape[::-1]).astype(dtype)).T.requires_grad_()
        y = F.linear(x, w, b) if fused else x.matmul(w.T) + b
        assert (y.grad_fn.name() == "AddmmBackward0") == fused
        (y * y).sum().backward()
        return [t.numpy() for t in (y.detach(), x.grad, w.grad, b.grad)]

    for got, want in zip(run(True), run(False)):
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_linear_inside_a_trace_records_matmul_and_add():
    lin = pyrch.nn.Linear(8, 4)
    f = pyrch.jit.trace(lambda x: lin(x).relu())
    x = pyrch.randn(3, 8)
    for _ in range(2):
        np.testing.assert_array_equal(f(x).detach().numpy(), lin(x).relu().detach().numpy())
    text = str(f.graph_for(x, optimized=False))
    assert "matmul" in text and "_linear" not in text
