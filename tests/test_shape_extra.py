"""torch's extra top-level functions (pyrch/ops/shape_extra.py, pyrch/_aliases.py): the
edge cases, errors, views and aliases the generated op tests do not reach."""
import warnings

import numpy as np
import pytest

import pyrch

torch = pytest.importorskip("torch")


def _pair(*shape, seed=0, dtype=np.float64, rg=False):
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return (pyrch.tensor(a, requires_grad=rg), torch.tensor(a, requires_grad=rg))


def _close(p, t, atol=1e-6):
    np.testing.assert_allclose(np.asarray(p.detach().numpy()), t.detach().numpy(), atol=atol, rtol=1e-6)
    assert tuple(p.shape) == tuple(t.shape)


def _same_error(fp, ft):
    with pytest.raises(Exception) as et:
        ft(torch)
    with pytest.raises(type(et.value)) as ep:
        fp(pyrch)
    assert str(ep.value) == str(et.value).split("\n")[0]


# -- errors, worded as torch words them -----------------------------------------------------

_ERRORS = {
    "rot90_one_dim": lambda L: L.rot90(L.ones(3, 4), 1, [0]),
    "rot90_same": lambda L: L.rot90(L.ones(3, 4), 1, [0, 0]),
    "rot90_1d": lambda L: L.rot90(L.ones(3), 1, [0, 1]),
    "vander_2d": lambda L: L.vander(L.ones(3, 4)),
    "vander_negN": lambda L: L.vander(L.ones(3), N=-1),
    "hsplit_uneven": lambda L: L.hsplit(L.ones(3, 4), 3),
    "hsplit_0dim": lambda L: L.hsplit(L.tensor(1.0), 3),
    "vsplit_1d": lambda L: L.vsplit(L.ones(3), 3),
    "dsplit_2d": lambda L: L.dsplit(L.ones(3, 4), 2),
    "combinations_2d": lambda L: L.combinations(L.ones(3, 4)),
    "combinations_neg": lambda L: L.combinations(L.ones(3), r=-1),
    "cartesian_2d": lambda L: L.cartesian_prod(L.ones(3, 4)),
    "block_diag_3d": lambda L: L.block_diag(L.ones(2, 2, 2)),
    "diag_embed_same": lambda L: L.diag_embed(L.ones(3), dim1=0, dim2=0),
    "masked_scatter_few": lambda L: L.ones(3, 4).masked_scatter(L.ones(3, 4, dtype=L.bool), L.ones(5)),
    "masked_scatter_float_mask": lambda L: L.ones(3, 4).masked_scatter(L.ones(3, 4), L.ones(15)),
    "masked_scatter_dtype": lambda L: L.masked_scatter(L.ones(2), L.ones(2, dtype=L.bool),
                                                       L.ones(2, dtype=L.float64)),
    "select_scatter_shape": lambda L: L.select_scatter(L.ones(3, 4), L.ones(3), 0, 0),
    "select_scatter_index": lambda L: L.select_scatter(L.ones(3, 4), L.ones(4), 0, 5),
    "slice_scatter_shape": lambda L: L.slice_scatter(L.ones(3, 4), L.ones(2, 4), 0, 0, 1),
    "index_reduce_sum": lambda L: L.index_reduce(L.ones(3, 4), 0, L.tensor([0, 1]), L.ones(2, 4), "sum"),
    "index_reduce_shape": lambda L: L.index_reduce(L.ones(3, 4), 0, L.tensor([0, 1]), L.ones(2, 3),
                                                   "prod"),
    "put_range": lambda L: L.put(L.ones(3, 4), L.tensor([12]), L.ones(1)),
    "put_counts": lambda L: L.put(L.ones(3, 4), L.tensor([1, 2]), L.ones(3)),
    "as_strided_bounds": lambda L: L.as_strided(L.ones(3, 4), (3, 3), (1, 1), 20),
    "inner_shapes": lambda L: L.inner(L.ones(3, 4), L.ones(3)),
    "vdot_2d": lambda L: L.vdot(L.ones(3, 4), L.ones(3)),
    "vdot_sizes": lambda L: L.vdot(L.ones(4), L.ones(3)),
    "vdot_dtypes": lambda L: L.vdot(L.ones(3), L.ones(3, dtype=L.float64)),
    "addmv_sizes": lambda L: L.addmv(L.ones(3), L.ones(3, 4), L.ones(3)),
    "addr_2d": lambda L: L.addr(L.ones(3), L.ones(3, 4), L.ones(3)),
    "chain_matmul_none": lambda L: L.chain_matmul(),
    "chain_matmul_1d": lambda L: L.chain_matmul(L.ones(3)),
    "trapezoid_x": lambda L: L.trapezoid(L.ones(3, 4), L.ones(3)),
    "cumulative_trapezoid_x": lambda L: L.cumulative_trapezoid(L.ones(3, 4), L.ones(3)),
    "hann_negative": lambda L: L.hann_window(-1),
    "hann_int": lambda L: L.hann_window(4, dtype=L.int64),
    "split_with_sizes_sum": lambda L: L.split_with_sizes(L.ones(3, 4), [1, 1]),
    "is_nonzero_many": lambda L: L.is_nonzero(L.ones(2)),
    "is_nonzero_empty": lambda L: L.is_nonzero(L.ones(0)),
}


@pytest.mark.parametrize("name", sorted(_ERRORS))
def test_errors_match_torch(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _same_error(_ERRORS[name], _ERRORS[name])


# -- edges the op samples leave out (they return without dispatching an op) ----------------

@pytest.mark.parametrize("name", ["hann_window", "hamming_window", "blackman_window",
                                  "bartlett_window", "kaiser_window"])
@pytest.mark.parametrize("n", [0, 1, 2, 10])
@pytest.mark.parametrize("periodic", [True, False])
def test_windows(name, n, periodic):
    p = getattr(pyrch, name)(n, periodic, requires_grad=True)
    t = getattr(torch, name)(n, periodic, requires_grad=True)
    _close(p, t, atol=2e-6)
    assert p.dtype is pyrch.float32 and p.requires_grad and p.is_leaf
    p64 = getattr(pyrch, name)(n, periodic, dtype=pyrch.float64)
    _close(p64, getattr(torch, name)(n, periodic, dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize("beta", [0.0, 3.0, 12.0, 30.0])
def test_kaiser_beta(beta):
    p = pyrch.kaiser_window(11, False, beta, dtype=pyrch.float64)
    _close(p, torch.kaiser_window(11, False, beta, dtype=torch.float64), atol=1e-12)


def test_edges():
    x = pyrch.tensor([1.0, 2.0])
    assert pyrch.cartesian_prod(x) is x                              # torch returns it too
    c = pyrch.combinations(pyrch.tensor([1, 2, 3]), 0)
    assert tuple(c.shape) == (0,) and c.dtype is pyrch.int64
    assert tuple(pyrch.combinations(x, 3).shape) == (0, 3)
    assert tuple(pyrch.vander(x, N=0).shape) == (2, 0)
    assert pyrch.vander(pyrch.tensor([True, False])).dtype is pyrch.int64
    assert tuple(pyrch.block_diag().shape) == (1, 0)
    assert pyrch.is_nonzero(pyrch.tensor([0.5])) and not pyrch.tensor(0).is_nonzero()
    assert pyrch.is_same_size(pyrch.ones(2, 3), pyrch.zeros(2, 3))
    assert not pyrch.ones(2).is_same_size(pyrch.ones(3))
    assert pyrch.is_signed(pyrch.ones(1)) and not pyrch.ones(1, dtype=pyrch.uint8).is_signed()
    assert not pyrch.ones(1, dtype=pyrch.bool).is_signed()


# -- as_strided is a view; put_ / masked_scatter_ / addr_ write in place -------------------

def test_as_strided_view_and_grad():
    p, t = _pair(3, 4, rg=True)
    pv, tv = p.as_strided((2, 3), (4, 1), 1), t.as_strided((2, 3), (4, 1), 1)
    _close(pv, tv)
    (pv * pv).sum().backward()
    (tv * tv).sum().backward()
    _close(p.grad, t.grad)
    base = pyrch.arange(6.0)
    v = pyrch.as_strided(base, (2, 2), (3, 1))
    v[0, 1] = 10.0                                                    # writes through
    assert base.tolist() == [0.0, 10.0, 2.0, 3.0, 4.0, 5.0]


def test_as_strided_overlap_grad_sums():
    p, t = _pair(6, rg=True)
    pv, tv = pyrch.as_strided(p, (3, 3), (1, 1)), torch.as_strided(t, (3, 3), (1, 1))
    _close(pv, tv)
    w = np.random.default_rng(1).standard_normal((3, 3))
    (pv * pyrch.tensor(w)).sum().backward()
    (tv * torch.tensor(w)).sum().backward()
    _close(p.grad, t.grad)


def test_inplace_methods_match_torch():
    for name, args in [("put_", (np.array([0, 5, 5]), 3, True)), ("put_", (np.array([1, -1]), 2, False))]:
        p, t = _pair(2, 3)
        idx, n, acc = args
        sp, st = _pair(n, seed=3)
        getattr(p, name)(pyrch.tensor(idx), sp, acc)
        getattr(t, name)(torch.tensor(idx), st, acc)
        _close(p, t)
    p, t = _pair(2, 3)
    mask = np.array([[True, False, True], [False, False, True]])
    sp, st = _pair(4, seed=4)
    assert p.masked_scatter_(pyrch.tensor(mask), sp) is p
    t.masked_scatter_(torch.tensor(mask), st)
    _close(p, t)
    for name, shapes in [("addr_", ((2, 3), (2,), (3,))), ("addmv_", ((2,), (2, 3), (3,))),
                         ("addbmm_", ((2, 2), (4, 2, 3), (4, 3, 2)))]:
        (p, t), a, b = (_pair(*s, seed=i) for i, s in enumerate(shapes))
        assert getattr(p, name)(a[0], b[0], beta=0.5, alpha=2.0) is p
        getattr(t, name)(a[1], b[1], beta=0.5, alpha=2.0)
        _close(p, t)


def test_index_reduce_inplace_grad():
    p, t = _pair(4, 3, rg=True)
    sp, st = _pair(2, 3, seed=2, rg=True)
    idx = np.array([1, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        op = (p * 1).index_reduce_(0, pyrch.tensor(idx), sp, "mean", include_self=False)
        ot = (t * 1).index_reduce_(0, torch.tensor(idx), st, "mean", include_self=False)
    _close(op, ot)
    op.square().sum().backward()
    ot.square().sum().backward()
    _close(p.grad, t.grad)
    _close(sp.grad, st.grad)


# -- top-level in-place forms ----------------------------------------------------------------

_INPLACE_CASES = ["abs_", "ceil_", "cos_", "exp_", "expm1_", "floor_", "frac_", "log1p_", "neg_",
                  "reciprocal_", "relu_", "round_", "sigmoid_", "sin_", "sinh_", "square_", "tanh_",
                  "trunc_", "zero_", "erf_", "atan_"]


@pytest.mark.parametrize("name", _INPLACE_CASES)
def test_toplevel_inplace(name):
    p, t = _pair(3, 4)
    assert getattr(pyrch, name)(p) is p
    getattr(torch, name)(t)
    _close(p, t)


def test_toplevel_inplace_with_args():
    p, t = _pair(3, 4)
    pos_p, pos_t = p.abs() + 0.5, t.abs() + 0.5
    for name, args in [("clamp_", (-0.5, 0.5)), ("clamp_min_", (0.1,)), ("clamp_max_", (0.2,)),
                       ("fill_", (1.5,)), ("nan_to_num_", ())]:
        q, s = p.clone(), t.clone()
        getattr(pyrch, name)(q, *args)
        getattr(torch, name)(s, *args)
        _close(q, s)
    for name in ("sqrt_", "rsqrt_", "log_", "log2_", "log10_"):
        q, s = pos_p.clone(), pos_t.clone()
        getattr(pyrch, name)(q)
        getattr(torch, name)(s)
        _close(q, s)
    q, s = p.clone(), t.clone()
    pyrch.selu_(q), torch.selu_(s)
    _close(q, s)
    q, s = p.clone(), t.clone()
    pyrch.threshold_(q, 0.1, -2.0), torch.threshold_(s, 0.1, -2.0)
    _close(q, s)
    q, s = p.clone(), t.clone()
    pyrch.celu_(q, 0.7), torch.celu_(s, 0.7)
    _close(q, s)


def test_every_listed_inplace_exists_where_tensor_has_it():
    from pyrch._aliases import _INPLACE
    for name in _INPLACE:
        if hasattr(pyrch.Tensor, name):
            assert callable(getattr(pyrch, name)), name


# -- top-level functional aliases, torch's signatures ---------------------------------------

def _run_both(fn, *arrays, grad=True, fixed=()):
    ps, ts = [], []
    for i, a in enumerate(arrays):
        rg = grad and i not in fixed and a.dtype.kind == "f"
        ps.append(pyrch.tensor(a, requires_grad=rg))
        ts.append(torch.tensor(a, requires_grad=rg))
    op, ot = fn(pyrch, *ps), fn(torch, *ts)
    if isinstance(ot, tuple):
        for a, b in zip(op, ot):
            _close(a, b, atol=1e-9)
        op, ot = op[0], ot[0]
    _close(op, ot, atol=1e-9)
    if grad:
        w = np.random.default_rng(9).standard_normal(tuple(ot.shape))
        (op * pyrch.tensor(w)).sum().backward()
        (ot * torch.tensor(w)).sum().backward()
        for a, b in zip(ps, ts):
            if b.grad is not None:
                _close(a.grad, b.grad, atol=1e-9)


_R = np.random.default_rng(0)


def _n(*s):
    return _R.standard_normal(s)


_ALIASES = {
    "conv1d": (lambda L, x, w, b: L.conv1d(x, w, b, 2, 1), _n(2, 3, 7), _n(4, 3, 3), _n(4)),
    "conv2d": (lambda L, x, w: L.conv2d(x, w, None, 1, 1, 1, 1), _n(1, 2, 5, 5), _n(3, 2, 3, 3)),
    "conv3d": (lambda L, x, w: L.conv3d(x, w), _n(1, 2, 4, 4, 4), _n(2, 2, 2, 2, 2)),
    "conv_transpose1d": (lambda L, x, w: L.conv_transpose1d(x, w, None, 2, 1, 1), _n(1, 2, 5),
                         _n(2, 3, 3)),
    "conv_transpose2d": (lambda L, x, w: L.conv_transpose2d(x, w, None, 2), _n(1, 2, 3, 3),
                         _n(2, 3, 2, 2)),
    "conv_transpose3d": (lambda L, x, w: L.conv_transpose3d(x, w), _n(1, 2, 2, 2, 2), _n(2, 1, 2, 2, 2)),
    "max_pool1d": (lambda L, x: L.max_pool1d(x, 2), _n(2, 3, 8)),
    "max_pool1d_stride": (lambda L, x: L.max_pool1d(x, 3, 2, 1), _n(2, 3, 8)),
    "max_pool2d": (lambda L, x: L.max_pool2d(x, 2), _n(1, 2, 4, 6)),
    "max_pool3d": (lambda L, x: L.max_pool3d(x, 2), _n(1, 2, 4, 4, 4)),
    "avg_pool1d": (lambda L, x: L.avg_pool1d(x, 3, 2, 1, False, False), _n(2, 3, 8)),
    "adaptive_avg_pool1d": (lambda L, x: L.adaptive_avg_pool1d(x, 3), _n(2, 3, 7)),
    "adaptive_max_pool1d": (lambda L, x: L.adaptive_max_pool1d(x, 3), _n(2, 3, 7)),
    "batch_norm": (lambda L, x, w, b, m, v: L.batch_norm(x, w, b, m, v, False, 0.1, 1e-5, False),
                   _n(4, 3, 2), _n(3), _n(3), _n(3), np.abs(_n(3)) + 0.5),
    "group_norm": (lambda L, x, w, b: L.group_norm(x, 2, w, b, 1e-5, True), _n(2, 4, 3), _n(4), _n(4)),
    "instance_norm": (lambda L, x, w, b: L.instance_norm(x, w, b, None, None, True, 0.1, 1e-5, False),
                      _n(2, 3, 5), _n(3), _n(3)),
    "layer_norm": (lambda L, x, w, b: L.layer_norm(x, [4], w, b, 1e-5, True), _n(2, 3, 4), _n(4), _n(4)),
    "rms_norm": (lambda L, x, w: L.rms_norm(x, [4], w, 1e-6), _n(2, 3, 4), _n(4)),
    "dropout_eval": (lambda L, x: L.dropout(x, 0.5, False), _n(3, 4)),
    "dropout_p0": (lambda L, x: L.dropout(x, 0.0, True), _n(3, 4)),
    "selu": (lambda L, x: L.selu(x), _n(3, 4)),
    "celu": (lambda L, x: L.celu(x, 0.5), _n(3, 4)),
    "threshold": (lambda L, x: L.threshold(x, 0.1, 2.0), _n(3, 4)),
    "prelu": (lambda L, x, w: L.prelu(x, w), _n(2, 3, 4), np.abs(_n(3))),
    "pixel_shuffle": (lambda L, x: L.pixel_shuffle(x, 2), _n(1, 8, 2, 3)),
    "pixel_unshuffle": (lambda L, x: L.pixel_unshuffle(x, 2), _n(1, 2, 4, 6)),
    "channel_shuffle": (lambda L, x: L.channel_shuffle(x, 2), _n(1, 4, 2, 2)),
    "cosine_similarity": (lambda L, a, b: L.cosine_similarity(a, b, 0), _n(3, 4), _n(3, 4)),
    "pairwise_distance": (lambda L, a, b: L.pairwise_distance(a, b, 3.0, 1e-6, True), _n(3, 4), _n(3, 4)),
    "kl_div": (lambda L, a, b: L.kl_div(a, b), _n(3, 4), np.abs(_n(3, 4))),
    "kl_div_mean": (lambda L, a, b: L.kl_div(a, b, 1), _n(3, 4), np.abs(_n(3, 4))),
    "bce_with_logits_none": (lambda L, a, b: L.binary_cross_entropy_with_logits(a, b), _n(3, 4),
                             _R.uniform(size=(3, 4))),
    "triplet_default": (lambda L, a, p, n: L.triplet_margin_loss(a, p, n), _n(3, 4), _n(3, 4), _n(3, 4)),
    "kl_div_sum_log": (lambda L, a, b: L.kl_div(a, b, 2, log_target=True), _n(3, 4), _n(3, 4)),
    "cosine_embedding_loss": (lambda L, a, b, y: L.cosine_embedding_loss(a, b, y, 0.1, 0), _n(3, 4),
                              _n(3, 4), np.array([1.0, -1.0, 1.0])),
    "margin_ranking_loss": (lambda L, a, b, y: L.margin_ranking_loss(a, b, y, 0.2), _n(5), _n(5),
                            np.array([1.0, -1.0, 1.0, 1.0, -1.0])),
    "hinge_embedding_loss": (lambda L, a, y: L.hinge_embedding_loss(a, y, 0.5, 2), _n(5),
                             np.array([1.0, -1.0, 1.0, 1.0, -1.0])),
    "triplet_margin_loss": (lambda L, a, p, n: L.triplet_margin_loss(a, p, n, 1.0, 2.0, 1e-6, True, 1),
                            _n(3, 4), _n(3, 4), _n(3, 4)),
    "poisson_nll_loss": (lambda L, a, b: L.poisson_nll_loss(a, b, True, True, 1e-8, 1), _n(3, 4),
                         np.abs(_n(3, 4)) * 3),
    "bce_with_logits": (lambda L, a, b, w, pw: L.binary_cross_entropy_with_logits(a, b, w, pw, 2),
                        _n(3, 4), _R.uniform(size=(3, 4)), np.abs(_n(4)), np.abs(_n(4))),
    "bilinear": (lambda L, a, b, w, c: L.bilinear(a, b, w, c), _n(2, 3), _n(2, 4), _n(5, 3, 4), _n(5)),
}


@pytest.mark.parametrize("name", sorted(_ALIASES))
def test_functional_alias(name):
    fn, *arrays = _ALIASES[name]
    # torch refuses gradients for batch_norm's running stats and the BCE weights
    fixed = {"batch_norm": (3, 4), "bce_with_logits": (2, 3)}.get(name, ())
    _run_both(fn, *arrays, fixed=fixed)


def test_ctc_loss_alias():
    lp = np.log(np.random.default_rng(3).dirichlet(np.ones(5), size=(6, 2)))
    tg = np.array([[1, 2, 2], [3, 1, 0]])
    # log_softmax first: torch's ctc gradient is right only through it
    for reduction in (0, 1, 2):
        fn = (lambda L, x, t: L.ctc_loss(x.log_softmax(2), t, [6, 5], [3, 2], 0, reduction, False))
        _run_both(fn, lp, tg)
    _run_both(lambda L, x, t: L.ctc_loss(x.log_softmax(2), t, [6, 5], [3, 2]), lp, tg)


def test_aliases_only_where_functional_has_them():
    import pyrch.nn.functional as F
    for name in ("alpha_dropout", "feature_alpha_dropout"):
        assert hasattr(pyrch, name) == hasattr(F, name)
