"""MultiheadAttention's add_bias_kv / add_zero_attn and interpolate(antialias=True)
against PyTorch: values, attention weights, gradients, parameter names and errors."""
import inspect

import numpy as np
import pytest

import pyrch
import pyrch.nn as nn
import pyrch.nn.functional as F

torch = pytest.importorskip("torch")


def _r(*shape, seed=0, dtype="float64"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _pair(tm, dtype="float64", **kw):
    """A pyrch MultiheadAttention with the same constructor args and torch's weights."""
    tm = tm.to(getattr(torch, dtype))
    pm = nn.MultiheadAttention(tm.embed_dim, tm.num_heads, dtype=getattr(pyrch, dtype), **kw)
    pm.load_state_dict({k: pyrch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return pm, tm


# -- MultiheadAttention ------------------------------------------------------------------

@pytest.mark.parametrize("bias_kv,zero_attn", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("kv_dims", [None, (5, 6)])
def test_mha_parameters_match_torch(bias_kv, zero_attn, kv_dims):
    kw = dict(add_bias_kv=bias_kv, add_zero_attn=zero_attn)
    if kv_dims:
        kw.update(kdim=kv_dims[0], vdim=kv_dims[1])
    tm = torch.nn.MultiheadAttention(8, 2, **kw)
    pm = nn.MultiheadAttention(8, 2, **kw)
    assert [n for n, _ in pm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert {k: tuple(v.shape) for k, v in pm.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in tm.state_dict().items()}
    assert pm.add_zero_attn is zero_attn
    if bias_kv:
        assert tuple(pm.bias_k.shape) == (1, 1, 8) and pm.bias_v.requires_grad
        assert np.abs(pm.bias_k.detach().numpy()).sum() > 0     # xavier-normal, not zeros
    else:
        assert pm.bias_k is None and pm.bias_v is None


def _masks(kind, n, h, lq, s, dtype):
    """(attn_mask, key_padding_mask) numpy pairs; rows keep at least one key unmasked."""
    rng = np.random.default_rng(3)
    am = kpm = None
    if kind in ("2d-bool", "3d-bool"):
        shape = (lq, s) if kind == "2d-bool" else (n * h, lq, s)
        am = rng.random(shape) < 0.3
        am[..., 0] = False
    elif kind in ("2d-float", "3d-float"):
        shape = (lq, s) if kind == "2d-float" else (n * h, lq, s)
        am = rng.standard_normal(shape).astype(dtype)
    elif kind == "kpm-bool":
        kpm = np.zeros((n, s), dtype=bool)
        kpm[0, -1] = kpm[1, 1] = True
    elif kind == "kpm-float":
        kpm = rng.standard_normal((n, s)).astype(dtype)
    elif kind == "both":
        am = np.triu(np.ones((lq, s), dtype=bool), 1)
        kpm = np.zeros((n, s), dtype=bool)
        kpm[1, -1] = True
    return am, kpm


@pytest.mark.parametrize("bias_kv,zero_attn", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("masks", [None, "2d-bool", "2d-float", "3d-bool", "3d-float", "kpm-bool",
                                   "kpm-float", "both"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_bias_kv_zero_attn_against_torch(bias_kv, zero_attn, masks, batch_first):
    n, h, lq, s, e = 2, 2, 3, 4, 8
    kw = dict(add_bias_kv=bias_kv, add_zero_attn=zero_attn, batch_first=batch_first)
    torch.manual_seed(0)
    pm, tm = _pair(torch.nn.MultiheadAttention(e, h, **kw), **kw)
    shp = (lambda L: (n, L, e)) if batch_first else (lambda L: (L, n, e))
    q, k, v = _r(*shp(lq), seed=1), _r(*shp(s), seed=2), _r(*shp(s), seed=4)
    am, kpm = _masks(masks, n, h, lq, s, "float64")
    g = _r(*shp(lq), seed=5)
    for avg in (True, False):
        tin = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
        pin = [pyrch.tensor(a, requires_grad=True) for a in (q, k, v)]
        topt = dict(attn_mask=None if am is None else torch.tensor(am),
                    key_padding_mask=None if kpm is None else torch.tensor(kpm),
                    average_attn_weights=avg)
        popt = dict(attn_mask=None if am is None else pyrch.tensor(am),
                    key_padding_mask=None if kpm is None else pyrch.tensor(kpm),
                    average_attn_weights=avg)
        to, tw = tm(*tin, **topt)
        po, pw = pm(*pin, **popt)
        extra = int(bias_kv) + int(zero_attn)
        assert tuple(pw.shape) == tuple(tw.shape) and pw.shape[-1] == s + extra
        np.testing.assert_allclose(po.detach().numpy(), to.detach().numpy(), atol=1e-10)
        np.testing.assert_allclose(pw.detach().numpy(), tw.detach().numpy(), atol=1e-10)
        tm.zero_grad()
        pm.zero_grad()
        ((to * torch.tensor(g)).sum() + (tw ** 2).sum()).backward()
        ((po * pyrch.tensor(g)).sum() + (pw ** 2).sum()).backward()
        for a, b in zip(pin, tin):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-10)
        tgrads = dict(tm.named_parameters())
        for name, p in pm.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), tgrads[name].grad.numpy(), atol=1e-10,
                                       err_msg=name)
    assert pm(*(pyrch.tensor(a) for a in (q, k, v)), need_weights=False)[1] is None


@pytest.mark.parametrize("bias_kv,zero_attn", [(True, False), (False, True), (True, True)])
def test_mha_bias_kv_zero_attn_kdim_vdim_unbatched_float32(bias_kv, zero_attn):
    kw = dict(add_bias_kv=bias_kv, add_zero_attn=zero_attn, kdim=5, vdim=6)
    torch.manual_seed(1)
    pm, tm = _pair(torch.nn.MultiheadAttention(8, 4, **kw), dtype="float32", **kw)
    q, k, v = _r(3, 8, dtype="f"), _r(6, 5, seed=1, dtype="f"), _r(6, 6, seed=2, dtype="f")
    kpm = np.array([False, True, False, False, True, False])
    am = np.random.default_rng(0).random((4, 3, 6)) < 0.2     # unbatched 3-D: (heads, L, S)
    to, tw = tm(torch.tensor(q), torch.tensor(k), torch.tensor(v), key_padding_mask=torch.tensor(kpm),
                attn_mask=torch.tensor(am))
    po, pw = pm(pyrch.tensor(q), pyrch.tensor(k), pyrch.tensor(v), key_padding_mask=pyrch.tensor(kpm),
                attn_mask=pyrch.tensor(am))
    assert tuple(po.shape) == (3, 8) and tuple(pw.shape) == tuple(tw.shape)
    np.testing.assert_allclose(po.detach().numpy(), to.detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(pw.detach().numpy(), tw.detach().numpy(), atol=2e-6)


def test_mha_zero_attn_row_gets_weight():
    """The appended zero key scores 0, so with very negative real scores it takes the weight."""
    pm = nn.MultiheadAttention(4, 1, add_zero_attn=True, bias=False)
    x = pyrch.tensor(_r(2, 1, 4, dtype="f"))
    am = pyrch.tensor(np.full((2, 2), -1e4, dtype="f"))
    _, w = pm(x, x, x, attn_mask=am)
    np.testing.assert_allclose(w.detach().numpy()[0, :, -1], 1.0, atol=1e-6)


# -- interpolate(antialias=True) ---------------------------------------------------------

_AA_CASES = [((8, 8), dict(scale_factor=0.5)), ((13, 7), dict(scale_factor=(0.7, 0.4))),
             ((32, 17), dict(scale_factor=(1 / 3, 0.2))), ((5, 29), dict(size=(3, 5))),
             ((64, 48), dict(size=(9, 31))), ((9, 11), dict(size=(1, 1))),
             ((7, 10), dict(scale_factor=2.0)), ((6, 20), dict(size=(11, 7))),
             ((30, 25), dict(scale_factor=0.37, recompute_scale_factor=True)),
             ((21, 14), dict(size=(4, 4), align_corners=True)),
             ((20, 16), dict(scale_factor=0.45, align_corners=True)),
             ((6, 5), dict(scale_factor=1.7, align_corners=True))]


def _torch_aa(x, mode, **kw):
    """torch's antialiased resize. For an output one column wide (with more than one row)
    torch 2.x's CPU kernel repeats the first output row down the column, so there the
    reference is the same resize of the transposed image, transposed back."""
    t = torch.tensor(x)
    out = torch.nn.functional.interpolate(t, mode=mode, antialias=True, **kw)
    if out.shape[-1] == 1 and out.shape[-2] > 1:
        kw = {k: (tuple(v)[::-1] if isinstance(v, tuple) else v) for k, v in kw.items()}
        out = torch.nn.functional.interpolate(t.transpose(2, 3), mode=mode, antialias=True,
                                              **kw).transpose(2, 3)
    return out.numpy()


@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "lanczos"])
@pytest.mark.parametrize("dtype,atol", [("float32", 2e-6), ("float64", 1e-12)])
def test_interpolate_antialias_values(mode, dtype, atol):
    for i, (hw, kw) in enumerate(_AA_CASES):
        if mode == "lanczos" and kw.get("align_corners"):
            continue
        x = _r(2, 3, *hw, seed=i, dtype=dtype)
        got = F.interpolate(pyrch.tensor(x), mode=mode, antialias=True, **kw)
        assert got.dtype == getattr(pyrch, dtype)
        ref = _torch_aa(x, mode, **kw)
        assert tuple(got.shape) == ref.shape, (hw, kw)
        np.testing.assert_allclose(got.numpy(), ref, atol=atol, rtol=0, err_msg=f"{hw} {kw}")


@pytest.mark.parametrize("size", [(40, 3), (12, 1), (1, 9)])
def test_interpolate_antialias_thin_outputs(size):
    """One-wide outputs against the transposed torch reference (see _torch_aa)."""
    x = _r(1, 2, 20, 9, seed=7)
    for mode in ("bilinear", "bicubic"):
        got = F.interpolate(pyrch.tensor(x), size=size, mode=mode, antialias=True)
        np.testing.assert_allclose(got.numpy(), _torch_aa(x, mode, size=size), atol=1e-12)


def test_interpolate_antialias_bilinear_upsampling_is_plain_bilinear():
    x = pyrch.tensor(_r(1, 2, 5, 7))
    for size in [(10, 14), (7, 9), (5, 7), (6, 20)]:
        a = F.interpolate(x, size=size, mode="bilinear", antialias=True)
        b = F.interpolate(x, size=size, mode="bilinear")
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-12)
    big = F.interpolate(x, size=(2, 3), mode="bilinear", antialias=True)
    small = F.interpolate(x, size=(2, 3), mode="bilinear")
    assert np.abs(big.numpy() - small.numpy()).max() > 1e-3        # downsampling differs


_GRAD_KW = [dict(size=(4, 3)), dict(scale_factor=(0.6, 1.5)), dict(size=(3, 5), align_corners=True)]


@pytest.mark.parametrize("mode,kw", [(m, kw) for m in ("bilinear", "bicubic", "lanczos")
                                     for kw in _GRAD_KW if m != "lanczos" or not kw.get("align_corners")])
def test_interpolate_antialias_grads(mode, kw):
    x = _r(2, 2, 9, 8, seed=3)
    px = pyrch.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    po = F.interpolate(px, mode=mode, antialias=True, **kw)
    to = torch.nn.functional.interpolate(tx, mode=mode, antialias=True, **kw)
    g = _r(*to.shape, seed=4)
    (po * pyrch.tensor(g)).sum().backward()
    (to * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), atol=1e-12)
    small = pyrch.tensor(_r(1, 1, 6, 5, seed=5), requires_grad=True)
    assert pyrch.autograd.gradcheck(
        lambda t: F.interpolate(t, mode=mode, antialias=True, **kw), (small,))


def test_interpolate_antialias_errors_match_torch():
    cases = [((1, 2, 8, 8), dict(mode="nearest")), ((1, 2, 8, 8), dict(mode="area")),
             ((1, 2, 8, 8), dict(mode="nearest-exact")), ((1, 2, 8), dict(mode="linear")),
             ((1, 2, 4, 4, 4), dict(mode="trilinear")), ((2, 8, 8), dict(mode="bilinear")),
             ((1, 2, 4, 4, 4), dict(mode="bicubic")),
             ((1, 2, 8, 8), dict(mode="lanczos", align_corners=True)),
             ((1, 2, 8, 8), dict(mode="lanczos", antialias=False))]
    for shape, kw in cases:
        kw = dict(dict(scale_factor=0.5, antialias=True), **kw)
        with pytest.raises(ValueError) as te:
            torch.nn.functional.interpolate(torch.zeros(shape), **kw)
        with pytest.raises(ValueError) as pe:
            F.interpolate(pyrch.zeros(shape), **kw)
        assert str(pe.value) == str(te.value), (shape, kw)


def test_upsample_modules_have_no_antialias_like_torch():
    for name in ("Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d"):
        ps = inspect.signature(getattr(nn, name).__init__).parameters
        ts = inspect.signature(getattr(torch.nn, name).__init__).parameters
        assert list(ps) == list(ts) and "antialias" not in ps


def test_unknown_interpolate_and_pad_modes_raise_torchs_errors():
    for lib in (pyrch, torch):
        x = lib.ones(1, 2, 3, 3)
        with pytest.raises(NotImplementedError) as e:
            lib.nn.functional.interpolate(x, scale_factor=2, mode="foo")
        msgs = [str(e.value)]
        with pytest.raises(NotImplementedError) as e:
            lib.nn.functional.pad(x, (1, 1), mode="foo")
        msgs.append(str(e.value))
        if lib is pyrch:
            want = msgs
        else:
            assert want == msgs
