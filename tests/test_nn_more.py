"""The rarer torch.nn modules and functions (alpha dropout, shrinks, RReLU, EmbeddingBag,
LP / fractional pools, max unpooling, margin losses, gumbel_softmax, pdist,
AdaptiveLogSoftmaxWithLoss, in-place activations, nn.Buffer) against torch."""
import math

import numpy as np
import pytest

import pyrch
import pyrch.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _pair(x, grad=True, dtype=np.float64):
    x = np.asarray(x, dtype=dtype)
    return pyrch.tensor(x, requires_grad=grad), torch.tensor(x, requires_grad=grad)


def _check(ours, ref, inputs, rtol=1e-10, atol=1e-12, seed=0):
    """Compare values, then the gradients of a random weighted sum, for every input pair."""
    out, tout = ours, ref
    if isinstance(out, tuple):
        out, tout = out[0], tout[0]
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(seed).standard_normal(tuple(tout.shape))
    (out * pyrch.tensor(g, dtype=out.dtype)).sum().backward()
    (tout * torch.tensor(g, dtype=tout.dtype)).sum().backward()
    for a, b in inputs:
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)


def _raises_like(fn_ours, fn_torch):
    with pytest.raises(Exception) as te:
        fn_torch()
    with pytest.raises(type(te.value)) as oe:
        fn_ours()
    assert str(oe.value) == str(te.value)


def _copy_params(ours, ref):
    for (n1, p1), (n2, p2) in zip(ours.named_parameters(), ref.named_parameters()):
        assert n1 == n2
        with pyrch.no_grad():
            p1.copy_(pyrch.tensor(p2.detach().numpy()))


# -- activations, dropout ------------------------------------------------------------------

@pytest.mark.parametrize("name,args", [("hardshrink", ()), ("hardshrink", (1.2,)),
                                       ("softshrink", ()), ("softshrink", (0.8,))])
def test_shrink_match_torch(name, args):
    x = np.random.default_rng(1).standard_normal((4, 5)) * 2
    a, b = _pair(x)
    _check(getattr(F, name)(a, *args), getattr(TF, name)(b, *args), [(a, b)])
    cls = "Hardshrink" if name == "hardshrink" else "Softshrink"
    assert repr(getattr(pyrch.nn, cls)(*args)) == repr(getattr(torch.nn, cls)(*args))


def test_softshrink_negative_lambda_error():
    for dt in (np.float32, np.float64):
        x = np.ones(3, dtype=dt)
        _raises_like(lambda: F.softshrink(pyrch.tensor(x), -1.0),
                     lambda: TF.softshrink(torch.tensor(x), -1.0))


def test_rrelu_eval_and_training():
    x = np.random.default_rng(2).standard_normal((50, 40))
    a, b = _pair(x)
    _check(F.rrelu(a, 0.1, 0.3), TF.rrelu(b, 0.1, 0.3), [(a, b)])
    m, tm = pyrch.nn.RReLU(0.1, 0.3).eval(), torch.nn.RReLU(0.1, 0.3).eval()
    np.testing.assert_allclose(m(pyrch.tensor(x)).numpy(), tm(torch.tensor(x)).numpy())
    assert repr(m) == repr(tm)
    assert repr(pyrch.nn.RReLU(inplace=True)) == repr(torch.nn.RReLU(inplace=True))
    # training: positives unchanged, negative slopes in [lower, upper] with mean ~ the middle
    xt = pyrch.tensor(x, requires_grad=True)
    y = F.rrelu(xt, 0.1, 0.3, training=True)
    pos = x > 0
    np.testing.assert_array_equal(y.detach().numpy()[pos], x[pos])
    slope = y.detach().numpy()[~pos] / x[~pos]
    assert slope.min() >= 0.1 and slope.max() <= 0.3 and abs(slope.mean() - 0.2) < 0.01
    y.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy()[~pos], slope)
    _raises_like(lambda: F.rrelu(pyrch.ones(3), 0.5, 0.1, True),
                 lambda: TF.rrelu(torch.ones(3), 0.5, 0.1, True))


@pytest.mark.parametrize("feature", [False, True])
def test_alpha_dropout(feature):
    fn = F.feature_alpha_dropout if feature else F.alpha_dropout
    cls = pyrch.nn.FeatureAlphaDropout if feature else pyrch.nn.AlphaDropout
    tcls = torch.nn.FeatureAlphaDropout if feature else torch.nn.AlphaDropout
    x = pyrch.randn(200, 100, 4, 4, dtype=pyrch.float64) if feature else \
        pyrch.randn(400, 1000, dtype=pyrch.float64)
    assert fn(x, 0.3, training=False) is x
    m = cls(0.3)
    assert repr(m) == repr(tcls(0.3))
    assert m.eval()(x) is x
    y = m.train()(x).numpy()
    # SELU statistics preserved: mean ~0, var ~1
    assert abs(y.mean()) < 0.02 and abs(y.var() - 1.0) < 0.03
    a = 1.0 / math.sqrt((1.7580993408473766 ** 2 * 0.3 + 1) * 0.7)
    dropped_val = -1.7580993408473766 * a * 0.7
    dropped = np.isclose(y, dropped_val, rtol=1e-12, atol=0)
    assert abs(dropped.mean() - 0.3) < 0.02
    kept = ~dropped
    np.testing.assert_allclose(y[kept], x.numpy()[kept] * a + 1.7580993408473766 * a * 0.3,
                               rtol=1e-12)
    if feature:   # whole channels share the mask
        d = dropped.reshape(200, 100, 16)
        assert (d.all(-1) | ~d.any(-1)).all()
    np.testing.assert_array_equal(fn(pyrch.ones(3, 3), 1.0, True).numpy(),
                                  (TF.feature_alpha_dropout if feature else TF.alpha_dropout)(
                                      torch.ones(3, 3), 1.0, True).numpy())
    xg = pyrch.randn(30, 20, requires_grad=True)
    out = fn(xg, 0.4, True)
    out.sum().backward()
    g = xg.grad.numpy()
    scale = 1.0 / math.sqrt((1.7580993408473766 ** 2 * 0.4 + 1) * 0.6)
    assert np.all(np.isclose(g, 0.0) | np.isclose(g, scale, rtol=1e-6))


def test_feature_alpha_dropout_needs_2d():
    _raises_like(lambda: F.feature_alpha_dropout(pyrch.ones(3), 0.5, True),
                 lambda: TF.feature_alpha_dropout(torch.ones(3), 0.5, True))
    _raises_like(lambda: F.alpha_dropout(pyrch.ones(3), 1.5, True),
                 lambda: TF.alpha_dropout(torch.ones(3), 1.5, True))


@pytest.mark.parametrize("name,args", [("relu_", ()), ("elu_", (0.7,)), ("leaky_relu_", (0.2,)),
                                       ("hardtanh_", (-0.5, 0.5)), ("selu_", ()), ("celu_", (1.3,)),
                                       ("threshold_", (0.1, -2.0)), ("rrelu_", (0.1, 0.3))])
def test_inplace_activations(name, args):
    x = np.random.default_rng(3).standard_normal((3, 4))
    a, b = pyrch.tensor(x), torch.tensor(x)
    ra, rb = getattr(F, name)(a, *args), getattr(TF, name)(b, *args)
    assert ra is a
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


def test_softmax2d_and_pixel_unshuffle():
    x = np.random.default_rng(4).standard_normal((2, 3, 4, 6))
    a, b = _pair(x)
    _check(pyrch.nn.Softmax2d()(a), torch.nn.Softmax2d()(b), [(a, b)])
    a, b = _pair(x[0])
    _check(pyrch.nn.Softmax2d()(a), torch.nn.Softmax2d()(b), [(a, b)])
    _raises_like(lambda: pyrch.nn.Softmax2d()(pyrch.ones(3, 4)),
                 lambda: torch.nn.Softmax2d()(torch.ones(3, 4)))
    assert repr(pyrch.nn.Softmax2d()) == repr(torch.nn.Softmax2d())
    a, b = _pair(x)
    m, tm = pyrch.nn.PixelUnshuffle(2), torch.nn.PixelUnshuffle(2)
    _check(m(a), tm(b), [(a, b)])
    assert repr(m) == repr(tm)


# -- EmbeddingBag -------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 2])
@pytest.mark.parametrize("include_last_offset", [False, True])
def test_embedding_bag_1d(mode, padding_idx, include_last_offset):
    rng = np.random.default_rng(5)
    w = rng.standard_normal((10, 4))
    idx = np.array([1, 2, 4, 5, 4, 3, 2, 9, 2, 2, 7, 0])
    offs = np.array([0, 3, 3, 8, 10])     # an empty bag, and a bag of padding only
    a, b = _pair(w)
    ia, ib = pyrch.tensor(idx), torch.tensor(idx)
    oa, ob = pyrch.tensor(offs), torch.tensor(offs)
    kw = dict(mode=mode, padding_idx=padding_idx, include_last_offset=include_last_offset)
    _check(F.embedding_bag(ia, a, oa, **kw), TF.embedding_bag(ib, b, ob, **kw), [(a, b)])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_2d_module(mode):
    rng = np.random.default_rng(6)
    m, tm = pyrch.nn.EmbeddingBag(12, 5, mode=mode), torch.nn.EmbeddingBag(12, 5, mode=mode)
    _copy_params(m, tm)
    idx = rng.integers(0, 12, (4, 6))
    out, tout = m(pyrch.tensor(idx)), tm(torch.tensor(idx))
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-6)
    g = rng.standard_normal(tuple(tout.shape)).astype(np.float32)
    (out * pyrch.tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert repr(m) == repr(tm)


def test_embedding_bag_per_sample_weights():
    rng = np.random.default_rng(7)
    w, psw = rng.standard_normal((8, 3)), rng.standard_normal(7)
    idx, offs = np.array([1, 2, 3, 3, 0, 7, 1]), np.array([0, 2, 5])
    a, b = _pair(w)
    pa, pb = _pair(psw)
    out = F.embedding_bag(pyrch.tensor(idx), a, pyrch.tensor(offs), mode="sum",
                          per_sample_weights=pa, padding_idx=3)
    tout = TF.embedding_bag(torch.tensor(idx), b, torch.tensor(offs), mode="sum",
                            per_sample_weights=pb, padding_idx=3)
    _check(out, tout, [(a, b), (pa, pb)])


def test_embedding_bag_repr_and_errors():
    kw = dict(mode="max", padding_idx=2, max_norm=1.0, include_last_offset=True)
    assert repr(pyrch.nn.EmbeddingBag(10, 3, **kw)) == repr(torch.nn.EmbeddingBag(10, 3, **kw))
    assert repr(pyrch.nn.EmbeddingBag(10, 3)) == repr(torch.nn.EmbeddingBag(10, 3))
    w, tw = pyrch.randn(5, 3), torch.randn(5, 3)
    cases = [
        (lambda lib, W: lib.nn.functional.embedding_bag(lib.tensor([1, 2]), W, lib.tensor([0]),
                                                        mode="mean",
                                                        per_sample_weights=lib.ones(2))),
        (lambda lib, W: lib.nn.functional.embedding_bag(lib.tensor([[1, 2]]), W, lib.tensor([0]))),
        (lambda lib, W: lib.nn.functional.embedding_bag(lib.tensor([1, 2]), W)),
        (lambda lib, W: lib.nn.functional.embedding_bag(lib.tensor([1, 2]), W, lib.tensor([0]),
                                                        mode="foo")),
        (lambda lib, W: lib.nn.functional.embedding_bag(lib.tensor([1, 2]), W, lib.tensor([0]),
                                                        mode="sum", per_sample_weights=lib.ones(3))),
    ]
    for c in cases:
        _raises_like(lambda: c(pyrch, w), lambda: c(torch, tw))
    with pytest.raises(RuntimeError, match=r"offsets\[0\] has to be 0"):
        F.embedding_bag(pyrch.tensor([1, 2]), w, pyrch.tensor([1]))


def test_embedding_bag_max_norm_and_from_pretrained():
    w = np.random.default_rng(8).standard_normal((6, 3)) * 3
    m = pyrch.nn.EmbeddingBag.from_pretrained(pyrch.tensor(w), max_norm=1.0, mode="sum")
    tm = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(w), max_norm=1.0, mode="sum")
    idx = [[0, 1], [1, 5]]
    np.testing.assert_allclose(m(pyrch.tensor(idx)).numpy(), tm(torch.tensor(idx)).numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose(m.weight.detach().numpy(), tm.weight.detach().numpy(), rtol=1e-12)
    assert not m.weight.requires_grad


# -- pools ----------------------------------------------------------------------------------

@pytest.mark.parametrize("nsp,kernel,stride,ceil,p", [
    (1, 3, None, False, 2), (1, 2, 1, True, 3.0), (2, 2, None, False, 2), (2, (2, 3), 1, True, 1.5),
    (3, 2, None, False, 2), (3, (1, 2, 2), (1, 1, 2), False, 3)])
def test_lp_pool(nsp, kernel, stride, ceil, p):
    shape = (2, 3) + (5, 6, 7)[:nsp]
    x = np.abs(np.random.default_rng(9).standard_normal(shape)) + 0.1
    a, b = _pair(x)
    name = f"lp_pool{nsp}d"
    _check(getattr(F, name)(a, p, kernel, stride, ceil), getattr(TF, name)(b, p, kernel, stride, ceil),
           [(a, b)])
    cls = f"LPPool{nsp}d"
    m, tm = getattr(pyrch.nn, cls)(p, kernel, stride, ceil), getattr(torch.nn, cls)(p, kernel, stride, ceil)
    assert repr(m) == repr(tm)
    np.testing.assert_allclose(m(pyrch.tensor(x)).numpy(), tm(torch.tensor(x)).numpy(), rtol=1e-10)


@pytest.mark.parametrize("nsp,kernel,stride,padding,shape", [
    (1, 2, None, 0, (6,)), (1, 3, 2, 1, (7,)), (2, 2, None, 0, (6, 7)),
    (2, (2, 3), (1, 2), (1, 1), (5, 7)), (3, 2, None, 0, (4, 5, 4))])
@pytest.mark.parametrize("batched", [True, False])
def test_max_unpool(nsp, kernel, stride, padding, shape, batched):
    shape = ((2,) if batched else ()) + (3,) + shape
    x = np.random.default_rng(10).standard_normal(shape)
    pool = f"max_pool{nsp}d"
    _, idx = getattr(F, pool)(pyrch.tensor(x), kernel, stride, padding, return_indices=True)
    tv, tidx = getattr(TF, pool)(torch.tensor(x), kernel, stride, padding, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    a, b = _pair(tv.detach().numpy())
    name = f"max_unpool{nsp}d"
    size = tuple(x.shape[-nsp:])
    _check(getattr(F, name)(a, idx, kernel, stride, padding, size),
           getattr(TF, name)(b, tidx, kernel, stride, padding, size), [(a, b)])
    cls = f"MaxUnpool{nsp}d"
    m, tm = getattr(pyrch.nn, cls)(kernel, stride, padding), getattr(torch.nn, cls)(kernel, stride, padding)
    assert repr(m) == repr(tm)
    if batched:
        np.testing.assert_array_equal(m(a, idx, output_size=x.shape).detach().numpy(),
                                      tm(b, tidx, output_size=x.shape).detach().numpy())
    # the default output size
    if all(s % 2 == 0 for s in shape[-nsp:]) and kernel == 2:
        np.testing.assert_array_equal(m(a, idx).detach().numpy(), tm(b, tidx).detach().numpy())


def test_max_unpool_errors():
    v, i = pyrch.randn(1, 1, 2, 2), pyrch.zeros(1, 1, 2, 2, dtype=pyrch.int64)
    tv, ti = torch.randn(1, 1, 2, 2), torch.zeros(1, 1, 2, 2, dtype=torch.long)
    _raises_like(lambda: F.max_unpool2d(v, i, 2, output_size=(9, 9)),
                 lambda: TF.max_unpool2d(tv, ti, 2, output_size=(9, 9)))
    _raises_like(lambda: F.max_unpool2d(v, i + 20, 2), lambda: TF.max_unpool2d(tv, ti + 20, 2))
    big = pyrch.full((1, 1, 2), 100, dtype=pyrch.int64)
    _raises_like(lambda: F.max_unpool1d(pyrch.ones(1, 1, 2), big, 2),
                 lambda: TF.max_unpool1d(torch.ones(1, 1, 2), torch.full((1, 1, 2), 100), 2))


@pytest.mark.parametrize("nsp,kernel,out,ratio", [
    (2, 2, 3, None), (2, (2, 3), (4, 3), None), (2, 3, None, 0.5), (2, 2, (5, 1), None),
    (3, 2, 3, None), (3, (2, 1, 3), None, (0.5, 0.7, 0.4))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fractional_max_pool(nsp, kernel, out, ratio, dtype):
    rng = np.random.default_rng(11)
    shape = (2, 3) + (7, 8, 9)[:nsp]
    x = rng.standard_normal(shape).astype(dtype)
    samples = rng.random((2, 3, nsp)).astype(dtype)
    a, b = _pair(x, dtype=dtype)
    name = f"fractional_max_pool{nsp}d"
    fratio = ratio if ratio is None or isinstance(ratio, tuple) else (ratio,) * nsp
    res = getattr(F, name)(a, kernel, out, fratio, True, _random_samples=pyrch.tensor(samples))
    tres = getattr(TF, name)(b, kernel, out, fratio, True, _random_samples=torch.tensor(samples))
    np.testing.assert_array_equal(res[1].numpy(), tres[1].numpy())
    _check(res, tres, [(a, b)])
    cls = f"FractionalMaxPool{nsp}d"
    kw = dict(output_size=out) if out is not None else dict(output_ratio=ratio)
    m = getattr(pyrch.nn, cls)(kernel, _random_samples=pyrch.tensor(samples), **kw)
    tm = getattr(torch.nn, cls)(kernel, _random_samples=torch.tensor(samples), **kw)
    assert repr(m) == repr(tm)
    np.testing.assert_array_equal(m(pyrch.tensor(x)).numpy(), tm(torch.tensor(x)).numpy())
    # unbatched input, random windows: each output is the max of a kernel-sized window
    y = getattr(F, name)(pyrch.tensor(x[0]), kernel, out, fratio)
    assert tuple(y.shape) == tuple(tres[0].shape[1:])


def test_fractional_max_pool_errors():
    x, tx = pyrch.randn(1, 1, 5, 5), torch.randn(1, 1, 5, 5)
    _raises_like(lambda: F.fractional_max_pool2d(x, 2), lambda: TF.fractional_max_pool2d(tx, 2))
    _raises_like(lambda: F.fractional_max_pool2d(x, 2, output_size=5),
                 lambda: TF.fractional_max_pool2d(tx, 2, output_size=5))
    _raises_like(lambda: F.fractional_max_pool3d(pyrch.randn(1, 1, 5, 5, 5), 2, output_size=5),
                 lambda: TF.fractional_max_pool3d(torch.randn(1, 1, 5, 5, 5), 2, output_size=5))
    _raises_like(lambda: pyrch.nn.FractionalMaxPool2d(2, output_ratio=1.5),
                 lambda: torch.nn.FractionalMaxPool2d(2, output_ratio=1.5))


@pytest.mark.parametrize("nsp", [1, 2, 3])
def test_with_indices_aliases(nsp):
    x = np.random.default_rng(12).standard_normal((2, 3) + (6, 5, 4)[:nsp])
    v, i = getattr(F, f"adaptive_max_pool{nsp}d_with_indices")(pyrch.tensor(x), 3)
    tv, ti = getattr(TF, f"adaptive_max_pool{nsp}d_with_indices")(torch.tensor(x), 3)
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    if nsp == 3:
        v, i = F.max_pool3d_with_indices(pyrch.tensor(x), 2)
        tv, ti = TF.max_pool3d_with_indices(torch.tensor(x), 2)
        np.testing.assert_array_equal(i.numpy(), ti.numpy())


# -- losses --------------------------------------------------------------------------------

REDUCTIONS = ["none", "mean", "sum"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("batched", [True, False])
def test_multilabel_margin_loss(reduction, batched):
    x = np.random.default_rng(13).standard_normal((3, 5))
    t = np.array([[3, 0, -1, 1, 1], [0, 1, 2, 3, 4], [4, 4, 1, -1, -1]])
    if not batched:
        x, t = x[0], t[0]
    a, b = _pair(x)
    m, tm = pyrch.nn.MultiLabelMarginLoss(reduction=reduction), \
        torch.nn.MultiLabelMarginLoss(reduction=reduction)
    _check(m(a, pyrch.tensor(t)), tm(b, torch.tensor(t)), [(a, b)])
    assert repr(m) == repr(tm)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_multilabel_soft_margin_loss(reduction, weighted):
    rng = np.random.default_rng(14)
    x, t, w = rng.standard_normal((4, 5)), (rng.random((4, 5)) > 0.5) * 1.0, rng.random(5)
    a, b = _pair(x)
    m = pyrch.nn.MultiLabelSoftMarginLoss(pyrch.tensor(w) if weighted else None, reduction=reduction)
    tm = torch.nn.MultiLabelSoftMarginLoss(torch.tensor(w) if weighted else None, reduction=reduction)
    _check(m(a, pyrch.tensor(t)), tm(b, torch.tensor(t)), [(a, b)])
    assert repr(m) == repr(tm)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p,margin,weighted", [(1, 1.0, False), (2, 0.5, True), (1, 2.0, True)])
@pytest.mark.parametrize("batched", [True, False])
def test_multi_margin_loss(reduction, p, margin, weighted, batched):
    rng = np.random.default_rng(15)
    x, t, w = rng.standard_normal((6, 4)), rng.integers(0, 4, 6), rng.random(4)
    if not batched:
        x, t = x[0], t[0]
    a, b = _pair(x)
    m = pyrch.nn.MultiMarginLoss(p, margin, pyrch.tensor(w) if weighted else None, reduction=reduction)
    tm = torch.nn.MultiMarginLoss(p, margin, torch.tensor(w) if weighted else None, reduction=reduction)
    _check(m(a, pyrch.tensor(t)), tm(b, torch.tensor(t)), [(a, b)])
    assert repr(m) == repr(tm)
    _raises_like(lambda: F.multi_margin_loss(a, pyrch.tensor(t), p=3),
                 lambda: TF.multi_margin_loss(b, torch.tensor(t), p=3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input,full", [(True, False), (False, False), (True, True), (False, True)])
def test_poisson_nll_loss_module(reduction, log_input, full):
    rng = np.random.default_rng(16)
    x = rng.random((4, 3)) + 0.2 if not log_input else rng.standard_normal((4, 3))
    t = rng.poisson(2.0, (4, 3)).astype(np.float64)
    a, b = _pair(x)
    m = pyrch.nn.PoissonNLLLoss(log_input, full, eps=1e-6, reduction=reduction)
    tm = torch.nn.PoissonNLLLoss(log_input, full, eps=1e-6, reduction=reduction)
    _check(m(a, pyrch.tensor(t)), tm(b, torch.tensor(t)), [(a, b)])
    assert repr(m) == repr(tm)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("custom", [False, True])
def test_triplet_margin_with_distance_loss(reduction, swap, custom):
    rng = np.random.default_rng(17)
    xs = [rng.standard_normal((5, 4)) for _ in range(3)]
    ours = [_pair(x) for x in xs]
    kw = dict(margin=0.7, swap=swap, reduction=reduction)
    if custom:
        m = pyrch.nn.TripletMarginWithDistanceLoss(
            distance_function=lambda u, v: 1.0 - F.cosine_similarity(u, v), **kw)
        tm = torch.nn.TripletMarginWithDistanceLoss(
            distance_function=lambda u, v: 1.0 - TF.cosine_similarity(u, v), **kw)
    else:
        m, tm = pyrch.nn.TripletMarginWithDistanceLoss(**kw), torch.nn.TripletMarginWithDistanceLoss(**kw)
        assert repr(m) == repr(tm)
    _check(m(*[o[0] for o in ours]), tm(*[o[1] for o in ours]), ours)
    _raises_like(lambda: F.triplet_margin_with_distance_loss(*[o[0] for o in ours], margin=0),
                 lambda: TF.triplet_margin_with_distance_loss(*[o[1] for o in ours], margin=0))


def test_gaussian_nll_loss_module_exists():
    assert repr(pyrch.nn.GaussianNLLLoss()) == repr(torch.nn.GaussianNLLLoss())


# -- gumbel_softmax, pdist -----------------------------------------------------------------

def test_gumbel_softmax():
    pyrch.manual_seed(0)
    logits = pyrch.tensor(np.log([0.1, 0.2, 0.7]), requires_grad=True)
    y = F.gumbel_softmax(logits.expand(20000, 3), tau=0.5)
    np.testing.assert_allclose(y.detach().numpy().sum(-1), 1.0, rtol=1e-12)
    hard = F.gumbel_softmax(logits.expand(20000, 3), tau=1.0, hard=True)
    h = hard.detach().numpy()
    assert set(np.unique(h)) <= {0.0, 1.0} and (h.sum(-1) == 1).all()
    # the argmax of logits + Gumbel noise samples the softmax distribution
    np.testing.assert_allclose(h.mean(0), [0.1, 0.2, 0.7], atol=0.015)
    # straight-through: the gradient is the soft sample's
    pyrch.manual_seed(3)
    x = pyrch.tensor(np.random.default_rng(0).standard_normal((4, 5)), requires_grad=True)
    w = pyrch.tensor(np.random.default_rng(1).standard_normal((4, 5)))
    (F.gumbel_softmax(x, tau=0.7, hard=True) * w).sum().backward()
    g_hard = x.grad.numpy().copy()
    x.grad = None
    pyrch.manual_seed(3)
    (F.gumbel_softmax(x, tau=0.7) * w).sum().backward()
    np.testing.assert_allclose(g_hard, x.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("p", [2, 1, 3.5, float("inf")])
def test_pdist(p):
    x = np.random.default_rng(18).standard_normal((6, 4))
    a, b = _pair(x)
    _check(F.pdist(a, p), TF.pdist(b, p), [(a, b)])
    _raises_like(lambda: F.pdist(pyrch.ones(2, 3, 4)), lambda: TF.pdist(torch.ones(2, 3, 4)))


# -- AdaptiveLogSoftmaxWithLoss --------------------------------------------------------------

@pytest.mark.parametrize("head_bias", [False, True])
def test_adaptive_log_softmax(head_bias):
    torch.manual_seed(0)
    tm = torch.nn.AdaptiveLogSoftmaxWithLoss(16, 20, [5, 12], div_value=2.0, head_bias=head_bias).double()
    m = pyrch.nn.AdaptiveLogSoftmaxWithLoss(16, 20, [5, 12], div_value=2.0, head_bias=head_bias).double()
    assert repr(m) == repr(tm)
    _copy_params(m, tm)
    rng = np.random.default_rng(19)
    x, t = rng.standard_normal((7, 16)), np.array([0, 4, 5, 11, 12, 19, 3])
    a, b = _pair(x)
    out, tout = m(a, pyrch.tensor(t)), tm(b, torch.tensor(t))
    np.testing.assert_allclose(out.loss.item(), tout.loss.item(), rtol=1e-10)
    _check(out.output, tout.output, [(a, b)])
    for p1, p2 in zip(m.parameters(), tm.parameters()):
        np.testing.assert_allclose(p1.grad.numpy(), p2.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(m.log_prob(pyrch.tensor(x)).detach().numpy(),
                               tm.log_prob(torch.tensor(x)).detach().numpy(), rtol=1e-10)
    np.testing.assert_array_equal(m.predict(pyrch.tensor(x)).numpy(), tm.predict(torch.tensor(x)).numpy())
    o1, t1 = m(pyrch.tensor(x[2]), pyrch.tensor(t[2])), tm(torch.tensor(x[2]), torch.tensor(t[2]))
    np.testing.assert_allclose(o1.output.item(), t1.output.item(), rtol=1e-10)
    np.testing.assert_allclose(m.log_prob(pyrch.tensor(x[2])).detach().numpy(),
                               tm.log_prob(torch.tensor(x[2:3]))[0].detach().numpy(), rtol=1e-10)
    _raises_like(lambda: m(pyrch.tensor(x), pyrch.tensor(t + 5)),
                 lambda: tm(torch.tensor(x), torch.tensor(t + 5)))
    _raises_like(lambda: pyrch.nn.AdaptiveLogSoftmaxWithLoss(4, 10, [5, 3]),
                 lambda: torch.nn.AdaptiveLogSoftmaxWithLoss(4, 10, [5, 3]))


# -- nn.Buffer -------------------------------------------------------------------------------

def test_buffer_registers_on_assignment():
    class M(pyrch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = pyrch.nn.Buffer(pyrch.ones(2))
            self.b = pyrch.nn.Buffer(pyrch.zeros(1), persistent=False)
            self.c = pyrch.ones(3)

    m = M()
    assert [n for n, _ in m.named_buffers()] == ["a", "b"]
    assert list(m.state_dict()) == ["a"]
    assert isinstance(m.a, pyrch.nn.Buffer) and not isinstance(m.c, pyrch.nn.Buffer)
    assert type(m.a) is pyrch.Tensor
    m.a = pyrch.zeros(2)             # plain reassignment keeps it a buffer
    assert list(m.state_dict()) == ["a"]
    t = torch.nn.Buffer(torch.ones(2, requires_grad=True))
    ours = pyrch.nn.Buffer(pyrch.ones(2, requires_grad=True))
    assert ours.requires_grad == t.requires_grad and ours.persistent == t.persistent
    m2 = pyrch.nn.Module()
    m2.x = ours
    assert "x" in dict(m2.named_buffers())
    object.__setattr__(m2, "z", 1)
    with pytest.raises(KeyError, match="already exists"):
        m2.z = pyrch.nn.Buffer(pyrch.ones(1))

