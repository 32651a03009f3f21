"""F.unfold / F.fold, Tensor.unfold, F.affine_grid / F.grid_sample, F.ctc_loss and
F.channel_shuffle (and their modules): values and gradients against PyTorch,
module reprs and torch's errors for bad input."""
import itertools
import warnings

import numpy as np
import pytest

import pyrch
import pyrch.nn as nn
import pyrch.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _both(x, dtype="float64", grad=True):
    """The same array as a pyrch and a torch tensor (float ones requiring grad)."""
    x = np.asarray(x)
    if x.dtype.kind == "f":
        x = x.astype(dtype)
        return (pyrch.tensor(x, requires_grad=grad), torch.tensor(x, requires_grad=grad))
    return pyrch.tensor(x), torch.tensor(x)


def _check(out, ref, inputs, tinputs, atol=1e-10, gatol=1e-9):
    """Forward values, then the gradients of <out, v> for a random v, against torch."""
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=atol, rtol=1e-6)
    v = np.random.default_rng(7).standard_normal(tuple(ref.shape))
    gs = pyrch.autograd.grad((out * pyrch.tensor(v, dtype=out.dtype)).sum(), inputs,
                             allow_unused=True)
    tgs = torch.autograd.grad((ref * torch.tensor(v, dtype=ref.dtype)).sum(), tinputs,
                              allow_unused=True)
    for g, tg in zip(gs, tgs):
        if tg is None or not tg.abs().sum():
            assert g is None or not np.abs(g.numpy()).sum()
            continue
        np.testing.assert_allclose(g.numpy(), tg.numpy(), atol=gatol, rtol=1e-6)


def _same_error(call):
    """call(lib) raises the same exception type in pyrch as in torch, with torch's words."""
    with pytest.raises(Exception) as want:
        call(torch)
    with pytest.raises(type(want.value)) as got:
        call(pyrch)
    assert str(want.value) in str(got.value), (str(got.value), str(want.value))


# -- unfold / fold ------------------------------------------------------------------------------

BLOCKS = [  # kernel_size, dilation, padding, stride
    (2, 1, 0, 1), ((2, 3), 1, 0, 1), (3, 2, 1, 2), ((2, 3), (1, 2), (1, 0), (2, 1)),
    (3, 1, 2, 3), ([1, 2], [2, 1], [0, 1], [1, 2]),
]


@pytest.mark.parametrize("c_ext", [True, False], ids=["C", "xp"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k,d,p,s", BLOCKS)
def test_unfold_fold_match_torch(k, d, p, s, dtype, c_ext):
    with pyrch.config(c=c_ext):          # pyrch/_C's im2col/col2im, and the array code
        _unfold_fold_vs_torch(k, d, p, s, dtype)


def _unfold_fold_vs_torch(k, d, p, s, dtype):
    rng = np.random.default_rng(0)
    x, tx = _both(rng.standard_normal((2, 3, 7, 8)), dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    cols, tcols = F.unfold(x, k, d, p, s), TF.unfold(tx, k, d, p, s)
    _check(cols, tcols, [x], [tx], tol, tol)
    c, tc = _both(rng.standard_normal(tuple(tcols.shape)), dtype)
    _check(F.fold(c, (7, 8), k, d, p, s), TF.fold(tc, (7, 8), k, d, p, s), [c], [tc], tol, tol)
    # keyword arguments, modules
    _check(nn.Unfold(k, dilation=d, padding=p, stride=s)(x),
           torch.nn.Unfold(k, dilation=d, padding=p, stride=s)(tx), [x], [tx], tol, tol)
    _check(nn.Fold(output_size=(7, 8), kernel_size=k, dilation=d, padding=p, stride=s)(c),
           torch.nn.Fold(output_size=(7, 8), kernel_size=k, dilation=d, padding=p, stride=s)(tc),
           [c], [tc], tol, tol)


def test_unfold_fold_unbatched_and_empty_batch():
    rng = np.random.default_rng(1)
    x, tx = _both(rng.standard_normal((3, 5, 6)))
    cols, tcols = F.unfold(x, 2, padding=1), TF.unfold(tx, 2, padding=1)
    _check(cols, tcols, [x], [tx])
    c, tc = _both(rng.standard_normal((12, 12)))
    _check(F.fold(c, (4, 5), 2), TF.fold(tc, (4, 5), 2), [c], [tc])
    assert F.unfold(pyrch.zeros(0, 3, 5, 6), 2).shape == (0, 12, 20)
    assert F.fold(pyrch.zeros(0, 12, 12), (4, 5), 2).shape == (0, 3, 4, 5)


def test_fold_of_unfold_counts_overlaps():
    x = pyrch.ones(1, 1, 3, 3)
    out = F.fold(F.unfold(x, 2), (3, 3), 2)
    np.testing.assert_array_equal(out.numpy()[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_unfold_fold_gradgrad():
    rng = np.random.default_rng(2)
    x = pyrch.tensor(rng.standard_normal((1, 2, 4, 3)), requires_grad=True)
    assert pyrch.autograd.gradgradcheck(lambda t: F.unfold(t, 2, 1, 1, 2), [x])
    c = pyrch.tensor(rng.standard_normal((1, 8, 4)), requires_grad=True)
    assert pyrch.autograd.gradgradcheck(lambda t: F.fold(t, (3, 3), 2, 1, 0, 1), [c])


BAD_BLOCKS = [
    lambda lib: lib.nn.functional.unfold(lib.ones(5, 6), 2),
    lambda lib: lib.nn.functional.unfold(lib.ones(1, 2, 3, 4, 5), 2),
    lambda lib: lib.nn.functional.unfold(lib.ones(2, 3, 5, 6), 7),
    lambda lib: lib.nn.functional.unfold(lib.ones(2, 3, 5, 6), (2, 2, 2)),
    lambda lib: lib.nn.functional.unfold(lib.ones(2, 3, 5, 6), 2, stride=0),
    lambda lib: lib.nn.functional.unfold(lib.ones(2, 3, 5, 6), 2, dilation=0),
    lambda lib: lib.nn.functional.unfold(lib.ones(2, 3, 5, 6), 2, padding=-1),
    lambda lib: lib.nn.functional.unfold(lib.ones(2, 3, 5, 6), 0),
    lambda lib: lib.nn.functional.unfold(lib.ones(2, 0, 5, 6), 2),
    lambda lib: lib.nn.functional.unfold(lib.arange(24).reshape(1, 2, 3, 4), 2),
    lambda lib: lib.nn.functional.fold(lib.ones(2, 12, 10), (4, 5), 2),
    lambda lib: lib.nn.functional.fold(lib.ones(2, 7, 12), (4, 5), 2),
    lambda lib: lib.nn.functional.fold(lib.ones(2, 7, 12, 1), (4, 5), 2),
    lambda lib: lib.nn.functional.fold(lib.ones(7), (4, 5), 2),
    lambda lib: lib.nn.functional.fold(lib.ones(2, 12, 12), (1, 1), 2),
    lambda lib: lib.nn.functional.fold(lib.ones(2, 12, 12), 4, 2),
    lambda lib: lib.nn.functional.fold(lib.ones(2, 12, 12), (4, 5, 6), 2),
    lambda lib: lib.nn.functional.fold(lib.ones(2, 12, 12), (4, 5), 2, stride=0),
]


@pytest.mark.parametrize("call", BAD_BLOCKS)
def test_unfold_fold_errors(call):
    _same_error(call)


def test_module_reprs():
    for args, kw in [((2,), {}), (((2, 3),), dict(dilation=2, padding=1, stride=(1, 2)))]:
        assert repr(nn.Unfold(*args, **kw)) == repr(torch.nn.Unfold(*args, **kw))
    for args, kw in [(((4, 5), (2, 3)), dict(stride=2)), ((4, 2), {})]:
        assert repr(nn.Fold(*args, **kw)) == repr(torch.nn.Fold(*args, **kw))
    assert repr(nn.CTCLoss()) == repr(torch.nn.CTCLoss()) == "CTCLoss()"
    assert repr(nn.CTCLoss(blank=2, reduction="sum", zero_infinity=True)) == "CTCLoss()"
    assert repr(nn.ChannelShuffle(3)) == repr(torch.nn.ChannelShuffle(3))


# -- Tensor.unfold ------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,dim,size,step", [
    ((10,), 0, 3, 2), ((3, 7, 2), 1, 2, 1), ((4, 5), -1, 5, 2), ((3, 4), 0, 2, 3),
    ((2, 6), 1, 4, 1), ((), 0, 1, 1), ((2, 6), 1, 0, 2),
])
def test_tensor_unfold_matches_torch(shape, dim, size, step):
    x, tx = _both(np.random.default_rng(3).standard_normal(shape))
    _check(x.unfold(dim, size, step), tx.unfold(dim, size, step), [x], [tx])


def test_tensor_unfold_is_a_view():
    x = pyrch.arange(6.)
    u = x.unfold(0, 2, 2)
    x.mul_(10)
    np.testing.assert_array_equal(u.numpy(), [[0, 10], [20, 30], [40, 50]])


@pytest.mark.parametrize("call", [
    lambda lib: lib.arange(10.).unfold(0, 11, 1),
    lambda lib: lib.arange(10.).unfold(0, 3, 0),
    lambda lib: lib.arange(10.).unfold(1, 3, 1),
    lambda lib: lib.arange(10.).unfold(0, -1, 1),
    lambda lib: lib.tensor(5.).unfold(0, 2, 1),
])
def test_tensor_unfold_errors(call):
    _same_error(call)


# -- affine_grid / grid_sample ---------------------------------------------------------------------

@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 1, 3), (2, 3, 4, 5, 3)])
def test_affine_grid_matches_torch(size, align_corners):
    k = len(size) - 2
    th, tth = _both(np.random.default_rng(4).standard_normal((2, k, k + 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # unit-size grids with align_corners warn in both
        _check(F.affine_grid(th, size, align_corners), TF.affine_grid(tth, size, align_corners),
               [th], [tth])


def _grid(rng, shape):
    """Points in [-1.3, 1.3] nudged off the pixel lattice (kinks of the interpolation)."""
    return rng.uniform(-1.3, 1.3, shape)


@pytest.mark.parametrize("mode,padding_mode,align_corners", list(itertools.product(
    ["bilinear", "nearest"], ["zeros", "border", "reflection"], [False, True])))
def test_grid_sample_2d_matches_torch(mode, padding_mode, align_corners):
    rng = np.random.default_rng(5)
    x, tx = _both(rng.standard_normal((2, 3, 4, 5)))
    g, tg = _both(_grid(rng, (2, 6, 7, 2)))
    _check(F.grid_sample(x, g, mode, padding_mode, align_corners),
           TF.grid_sample(tx, tg, mode, padding_mode, align_corners), [x, g], [tx, tg])


@pytest.mark.parametrize("mode,padding_mode,align_corners", list(itertools.product(
    ["bilinear", "nearest"], ["zeros", "border", "reflection"], [False, True])))
def test_grid_sample_3d_matches_torch(mode, padding_mode, align_corners):
    rng = np.random.default_rng(6)
    x, tx = _both(rng.standard_normal((2, 2, 3, 4, 3)))
    g, tg = _both(_grid(rng, (2, 3, 2, 4, 3)))
    _check(F.grid_sample(x, g, mode, padding_mode, align_corners),
           TF.grid_sample(tx, tg, mode, padding_mode, align_corners), [x, g], [tx, tg])


def test_grid_sample_float32_unit_axis_and_affine_pipeline():
    rng = np.random.default_rng(8)
    x, tx = _both(rng.standard_normal((1, 2, 1, 5)), "float32")
    g, tg = _both(_grid(rng, (1, 3, 3, 2)), "float32")
    for pm in ("zeros", "border", "reflection"):
        for ac in (False, True):
            _check(F.grid_sample(x, g, "bilinear", pm, ac), TF.grid_sample(tx, tg, "bilinear", pm, ac),
                   [x, g], [tx, tg], 1e-5, 1e-4)
    # a spatial transformer: theta -> grid -> samples, differentiated by theta
    th, tth = _both(np.array([[[0.9, 0.2, 0.1], [-0.1, 1.1, 0.05]]]))
    img, timg = _both(rng.standard_normal((1, 2, 5, 6)))
    _check(F.grid_sample(img, F.affine_grid(th, (1, 2, 4, 4), False), align_corners=False),
           TF.grid_sample(timg, TF.affine_grid(tth, (1, 2, 4, 4), False), align_corners=False),
           [th, img], [tth, timg])


def test_grid_sample_gradcheck_and_trace():
    rng = np.random.default_rng(9)
    x = pyrch.tensor(rng.standard_normal((1, 2, 3, 4)), requires_grad=True)
    g = pyrch.tensor(_grid(rng, (1, 2, 3, 2)), requires_grad=True)
    fn = lambda a, b: F.grid_sample(a, b, "bilinear", "reflection", False)  # noqa: E731
    assert pyrch.autograd.gradcheck(fn, [x, g])
    assert pyrch.autograd.gradgradcheck(fn, [x, g])
    traced = pyrch.jit.trace(fn)
    want = fn(x, g).detach().numpy()
    for _ in range(3):
        got = traced(x.detach(), g.detach())
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)


def _bicubic_grid(rng, shape, dtype):
    """Points inside the image, well outside it ([-3.5, 3.5]) and on the pixel lattice of a
    4x5 image with align_corners=True (t = 0, where the taps' window shifts)."""
    g = rng.uniform(-3.5, 3.5, shape)
    g[:, 0, :, 0] = rng.uniform(-1, 1, shape[2])                     # a row inside the image
    g[:, 1, :4, 0] = np.linspace(-1, 1, 5)[:4]
    g[:, 1, :4, 1] = np.linspace(-1, 1, 4)
    return g.astype(dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("padding_mode,align_corners", list(itertools.product(
    ["zeros", "border", "reflection"], [False, True])))
def test_grid_sample_bicubic_matches_torch(padding_mode, align_corners, dtype):
    rng = np.random.default_rng(11)
    x, tx = _both(rng.standard_normal((2, 3, 4, 5)), dtype)
    g, tg = _both(_bicubic_grid(rng, (2, 6, 7, 2), dtype), dtype)
    out = F.grid_sample(x, g, "bicubic", padding_mode, align_corners)
    assert out.dtype is getattr(pyrch, dtype)
    tol = (1e-10, 1e-9) if dtype == "float64" else (1e-5, 1e-4)
    _check(out, TF.grid_sample(tx, tg, "bicubic", padding_mode, align_corners), [x, g], [tx, tg],
           *tol)


@pytest.mark.parametrize("shape", [(1, 2, 1, 5), (2, 1, 6, 1), (1, 1, 1, 1), (3, 2, 7, 9)])
@pytest.mark.parametrize("padding_mode,align_corners", list(itertools.product(
    ["zeros", "border", "reflection"], [False, True])))
def test_grid_sample_bicubic_shapes_match_torch(shape, padding_mode, align_corners):
    """Unit axes (reflection over a one-pixel span), more taps outside than inside, and a grid
    whose output size differs from the input's."""
    rng = np.random.default_rng(12)
    x, tx = _both(rng.standard_normal(shape))
    g, tg = _both(rng.uniform(-5, 5, (shape[0], 3, 8, 2)))
    _check(F.grid_sample(x, g, "bicubic", padding_mode, align_corners),
           TF.grid_sample(tx, tg, "bicubic", padding_mode, align_corners), [x, g], [tx, tg])


def test_grid_sample_bicubic_reproduces_pixels_and_constants():
    """At the pixel centres bicubic returns the pixels; the weights sum to 1, so with 'border'
    or 'reflection' a constant image stays constant anywhere (and the grid gets no gradient)."""
    rng = np.random.default_rng(13)
    img = rng.standard_normal((1, 2, 4, 5))
    ys, xs = np.meshgrid(np.linspace(-1, 1, 4), np.linspace(-1, 1, 5), indexing="ij")
    g = np.stack([xs, ys], -1)[None]
    for pm in ("zeros", "border", "reflection"):
        out = F.grid_sample(pyrch.tensor(img), pyrch.tensor(g), "bicubic", pm, True)
        np.testing.assert_allclose(out.numpy(), img, atol=1e-12)
    for pm in ("border", "reflection"):
        pts = pyrch.tensor(rng.uniform(-4, 4, (1, 3, 5, 2)), requires_grad=True)
        out = F.grid_sample(pyrch.full((1, 1, 4, 5), 2.5, dtype=pyrch.float64), pts, "bicubic",
                            pm, False)
        np.testing.assert_allclose(out.detach().numpy(), 2.5, atol=1e-12)
        (gg,) = pyrch.autograd.grad(out.sum(), [pts])
        np.testing.assert_allclose(gg.numpy(), 0, atol=1e-12)


def test_grid_sample_bicubic_gradcheck():
    rng = np.random.default_rng(14)
    x = pyrch.tensor(rng.standard_normal((1, 2, 3, 4)), requires_grad=True)
    g = pyrch.tensor(rng.uniform(-2, 2, (1, 2, 3, 2)), requires_grad=True)
    for pm in ("zeros", "border", "reflection"):
        for ac in (False, True):
            fn = lambda a, b: F.grid_sample(a, b, "bicubic", pm, ac)  # noqa: E731
            assert pyrch.autograd.gradcheck(fn, [x, g])
    assert pyrch.autograd.gradgradcheck(fn, [x, g])


def test_grid_sample_bicubic_5d_error():
    for lib in (torch, pyrch):
        with pytest.raises(RuntimeError, match="bicubic interpolation only supports 4D input"):
            lib.nn.functional.grid_sample(lib.ones(2, 3, 4, 5, 6), lib.ones(2, 6, 7, 8, 3),
                                          mode="bicubic", align_corners=False)


def test_grid_sample_warns_without_align_corners():
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.grid_sample(pyrch.ones(1, 1, 2, 2), pyrch.zeros(1, 1, 1, 2))
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.affine_grid(pyrch.zeros(1, 2, 3), (1, 1, 2, 2))


@pytest.mark.parametrize("call", [
    lambda lib: lib.nn.functional.affine_grid(lib.ones(2, 2, 3), (2, 3, 4, 5, 6), False),
    lambda lib: lib.nn.functional.affine_grid(lib.ones(2, 2, 3), (3, 3, 4, 5), False),
    lambda lib: lib.nn.functional.affine_grid(lib.ones(2, 3, 4), (2, 3, 4, 5), False),
    lambda lib: lib.nn.functional.affine_grid(lib.ones(2, 2, 3), (2, 3, 4), False),
    lambda lib: lib.nn.functional.affine_grid(lib.ones(2, 2, 3, dtype=lib.int32), (2, 3, 4, 5),
                                              False),
    lambda lib: lib.nn.functional.affine_grid(lib.ones(2, 2, 3), (2, 3, 0, 5), False),
    lambda lib: lib.nn.functional.grid_sample(lib.ones(2, 3, 4, 5), lib.ones(2, 6, 7, 2),
                                              mode="foo", align_corners=False),
    lambda lib: lib.nn.functional.grid_sample(lib.ones(2, 3, 4, 5), lib.ones(2, 6, 7, 2),
                                              padding_mode="foo", align_corners=False),
    lambda lib: lib.nn.functional.grid_sample(lib.ones(2, 3, 4, 5), lib.ones(3, 6, 7, 2),
                                              align_corners=False),
    lambda lib: lib.nn.functional.grid_sample(lib.ones(2, 3, 4, 5), lib.ones(2, 6, 7, 3),
                                              align_corners=False),
    lambda lib: lib.nn.functional.grid_sample(lib.ones(2, 3, 4, 5), lib.ones(2, 6, 7),
                                              align_corners=False),
    lambda lib: lib.nn.functional.grid_sample(lib.ones(2, 3, 4, 5), lib.ones(2, 6, 7, 8, 3),
                                              align_corners=False),
    lambda lib: lib.nn.functional.grid_sample(lib.ones(2, 3, 0, 5), lib.ones(2, 6, 7, 2),
                                              align_corners=False),
    lambda lib: lib.nn.functional.grid_sample(lib.ones(2, 3, 4, 5, 6), lib.ones(2, 6, 7, 8, 3),
                                              mode="bicubic", align_corners=False),
    lambda lib: lib.nn.functional.grid_sample(lib.ones(2, 3, 4, 5),
                                              lib.ones(2, 6, 7, 2, dtype=lib.float64),
                                              align_corners=False),
])
def test_grid_errors(call):
    _same_error(call)


# -- CTC loss -----------------------------------------------------------------------------------------

def _ctc_case(rng, T=8, N=3, C=5):
    padded = np.array([[1, 2, 2, 0], [3, 3, 0, 0], [4, 1, 4, 2]])[:N]
    tl = np.array([3, 2, 4])[:N]
    il = np.array([8, 6, 7])[:N]
    concat = np.concatenate([r[:n] for r, n in zip(padded, tl)])
    return rng.standard_normal((T, N, C)), padded, concat, il, tl


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("targets", ["padded", "concatenated"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_ctc_loss_matches_torch(reduction, targets, dtype):
    logits, padded, concat, il, tl = _ctc_case(np.random.default_rng(10))
    x, tx = _both(logits, dtype)
    tg = padded if targets == "padded" else concat
    out = F.ctc_loss(x.log_softmax(2), pyrch.tensor(tg), pyrch.tensor(il), pyrch.tensor(tl),
                     reduction=reduction)
    ref = TF.ctc_loss(tx.log_softmax(2), torch.tensor(tg), torch.tensor(il), torch.tensor(tl),
                      reduction=reduction)
    tol = 1e-5 if dtype == "float32" else 1e-10
    _check(out, ref, [x], [tx], tol, tol)
    # lengths as lists, the module
    loss = nn.CTCLoss(reduction=reduction)(x.log_softmax(2), pyrch.tensor(tg), list(il), tuple(tl))
    np.testing.assert_allclose(loss.detach().numpy(), ref.detach().numpy(), atol=tol, rtol=1e-6)


def test_ctc_loss_blank_and_unbatched():
    rng = np.random.default_rng(11)
    x, tx = _both(rng.standard_normal((6, 2, 4)))
    tg = np.array([[0, 1, 1], [2, 0, 0]])
    _check(F.ctc_loss(x.log_softmax(2), pyrch.tensor(tg), [6, 5], [3, 1], blank=3),
           TF.ctc_loss(tx.log_softmax(2), torch.tensor(tg), [6, 5], [3, 1], blank=3), [x], [tx])
    u, tu = _both(rng.standard_normal((6, 4)))
    for red in ("none", "mean"):
        _check(F.ctc_loss(u.log_softmax(1), pyrch.tensor([1, 2]), pyrch.tensor(6), pyrch.tensor(2),
                          reduction=red),
               TF.ctc_loss(tu.log_softmax(1), torch.tensor([1, 2]), torch.tensor(6),
                           torch.tensor(2), reduction=red), [u], [tu])


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_ctc_loss_impossible_alignment(reduction):
    rng = np.random.default_rng(12)
    # sample 0 needs 4 labels (three repeats: 6 frames) from 3 frames: impossible
    x, tx = _both(rng.standard_normal((3, 2, 5)))
    tg, il, tl = np.array([[1, 1, 1, 1], [2, 3, 0, 0]]), [3, 3], [4, 2]
    for zi in (True, False):
        out = F.ctc_loss(x.log_softmax(2), pyrch.tensor(tg), il, tl, reduction=reduction,
                         zero_infinity=zi)
        ref = TF.ctc_loss(tx.log_softmax(2), torch.tensor(tg), il, tl, reduction=reduction,
                          zero_infinity=zi)
        if zi:
            _check(out, ref, [x], [tx])
        else:
            np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
            assert np.isinf(out.detach().numpy()).any()
            g, = pyrch.autograd.grad(out.sum(), [x])
            tg_, = torch.autograd.grad(ref.sum(), [tx])
            np.testing.assert_array_equal(np.isnan(g.numpy()), np.isnan(tg_.numpy()))


def test_ctc_gradient_by_log_probs_is_exact():
    """The primitive's gradient is d(-log p)/d(log_probs) itself (gradcheck), not torch's
    gradient by the logits."""
    rng = np.random.default_rng(13)
    logits, padded, _, il, tl = _ctc_case(rng, T=5)
    lp = pyrch.tensor(logits, requires_grad=True)
    fn = lambda t: F.ctc_loss(t, pyrch.tensor(padded), pyrch.tensor([5, 4, 5]),  # noqa: E731
                              pyrch.tensor(tl), reduction="none")
    assert pyrch.autograd.gradcheck(fn, [lp])
    # a zero-length input with an empty target has probability 1
    out = F.ctc_loss(pyrch.tensor(logits).log_softmax(2), pyrch.tensor(padded), [0, 4, 5],
                     [0, 2, 1], reduction="none")
    ref = TF.ctc_loss(torch.tensor(logits).log_softmax(2), torch.tensor(padded), [0, 4, 5],
                      [0, 2, 1], reduction="none")
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=1e-12)


def test_ctc_loss_traced():
    logits, padded, _, il, tl = _ctc_case(np.random.default_rng(14))
    args = (pyrch.tensor(logits, dtype=pyrch.float32), pyrch.tensor(padded), pyrch.tensor(il),
            pyrch.tensor(tl))
    fn = lambda a, b, c, d: F.ctc_loss(a.log_softmax(2), b, c, d)  # noqa: E731
    want = fn(*args).numpy()
    traced = pyrch.jit.trace(fn)
    for _ in range(3):
        got = traced(*args)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


def _lp(lib, shape=(6, 3, 5)):
    return lib.zeros(shape, dtype=lib.float64)


@pytest.mark.parametrize("call", [
    lambda lib: lib.nn.functional.ctc_loss(_lp(lib), lib.ones(3, 3, dtype=lib.int64),
                                           lib.tensor([6, 5, 4]), lib.tensor([3, 2, 1]),
                                           reduction="foo"),
    lambda lib: lib.nn.functional.ctc_loss(_lp(lib), lib.ones(3, 3, dtype=lib.int64),
                                           lib.tensor([7, 5, 4]), lib.tensor([3, 2, 1])),
    lambda lib: lib.nn.functional.ctc_loss(_lp(lib), lib.ones(3, 3, dtype=lib.int64),
                                           lib.tensor([6, 5, 4]), lib.tensor([4, 2, 1])),
    lambda lib: lib.nn.functional.ctc_loss(_lp(lib), lib.ones(3, 3, dtype=lib.int64),
                                           lib.tensor([6, 5]), lib.tensor([3, 2, 1])),
    lambda lib: lib.nn.functional.ctc_loss(_lp(lib), lib.ones(3, 3, dtype=lib.int64),
                                           lib.tensor([6, 5, 4]), lib.tensor([3, 2])),
    lambda lib: lib.nn.functional.ctc_loss(_lp(lib), lib.ones(3, 3, dtype=lib.int64),
                                           lib.tensor([6, 5, 4]), lib.tensor([3, 2, 1]), blank=5),
    lambda lib: lib.nn.functional.ctc_loss(_lp(lib), lib.ones(2, 3, dtype=lib.int64),
                                           lib.tensor([6, 5, 4]), lib.tensor([3, 2, 1])),
    lambda lib: lib.nn.functional.ctc_loss(_lp(lib, (6, 3, 5, 1)), lib.ones(3, 3, dtype=lib.int64),
                                           lib.tensor([6, 5, 4]), lib.tensor([3, 2, 1])),
    lambda lib: lib.nn.functional.ctc_loss(_lp(lib), lib.ones(5, dtype=lib.int64),
                                           lib.tensor([6, 5, 4]), lib.tensor([3, 2, 1])),
    lambda lib: lib.nn.functional.ctc_loss(_lp(lib), lib.ones(3, 3, dtype=lib.int64),
                                           lib.tensor([6., 5., 4.]), lib.tensor([3, 2, 1])),
    lambda lib: lib.nn.functional.ctc_loss(_lp(lib), lib.ones(3, 3, dtype=lib.int64),
                                           lib.tensor([-1, 5, 4]), lib.tensor([3, 2, 1])),
    lambda lib: lib.nn.functional.ctc_loss(_lp(lib), lib.ones(3, 3, dtype=lib.int64),
                                           lib.tensor([6, 5, 4]), lib.tensor([-1, 2, 1])),
])
def test_ctc_loss_errors(call):
    _same_error(call)


# -- channel_shuffle ----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,groups", [((2, 6, 3), 2), ((1, 6, 2, 2), 3), ((2, 4, 1, 2, 2), 4)])
def test_channel_shuffle_matches_torch(shape, groups):
    x, tx = _both(np.random.default_rng(15).standard_normal(shape))
    _check(F.channel_shuffle(x, groups), TF.channel_shuffle(tx, groups), [x], [tx])
    _check(nn.ChannelShuffle(groups)(x), torch.nn.ChannelShuffle(groups)(tx), [x], [tx])


@pytest.mark.parametrize("call", [
    lambda lib: lib.nn.functional.channel_shuffle(lib.ones(2, 6), 2),
    lambda lib: lib.nn.functional.channel_shuffle(lib.ones(2, 6, 3), 0),
    lambda lib: lib.nn.functional.channel_shuffle(lib.ones(2, 6, 3), 4),
])
def test_channel_shuffle_errors(call):
    _same_error(call)
