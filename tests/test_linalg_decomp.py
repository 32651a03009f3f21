"""torch.linalg's inverse, determinants, solve, Cholesky, QR, eigh, pinv, matrix_rank,
matrix_power, matrix_exp, lstsq, cross, vecdot and multi_dot (and the top-level aliases and Tensor
methods), against PyTorch: values, gradients (and gradients of gradients), float64
gradcheck, batched inputs, torch's error messages, and a traced function.

The op samples in tests/opinfo/linalg.py add per-op gradcheck, gradgradcheck and
traced == eager on both executors."""
import numpy as np
import pytest

import pyrch
from pyrch.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch", reason="PyTorch is not installed: optional cross-check")


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _wellcond(*shape, seed=0):
    return _rand(*shape, seed=seed) + shape[-1] * np.eye(shape[-1])


def _spd(*shape, seed=0):
    a = _rand(*shape, seed=seed)
    return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])


def _sym(*shape, seed=0):
    a = _rand(*shape, seed=seed)
    return a + np.swapaxes(a, -1, -2)


def _eigh_fixed(lib):
    def f(a):
        w, q = lib.linalg.eigh(a)
        return w, q * q[..., :1, :].sign()       # eigenvectors are unique up to sign
    return f


def _qr_fixed(lib, mode="reduced"):
    def f(a):
        q, r = lib.linalg.qr(a, mode=mode)
        d = r.diagonal(dim1=-2, dim2=-1).sign()
        return q.narrow(-1, 0, d.shape[-1]) * d.unsqueeze(-2), r.narrow(-2, 0, d.shape[-1]) \
            * d.unsqueeze(-1)
    return f


# name -> (fn(lib) -> callable on tensors, input arrays); the outputs' floating parts
# are compared, then a random weighted sum of them is differentiated twice
CASES = {
    "inv": (lambda lib: lib.linalg.inv, [_wellcond(2, 3, 4, 4)]),
    "inv_ex": (lambda lib: lambda a: lib.linalg.inv_ex(a).inverse, [_wellcond(3, 3)]),
    "inverse": (lambda lib: lib.inverse, [_wellcond(3, 3)]),
    "Tensor.inverse": (lambda lib: lambda a: a.inverse(), [_wellcond(2, 3, 3)]),
    "det": (lambda lib: lib.linalg.det, [_rand(2, 3, 3)]),
    "pyrch.det": (lambda lib: lib.det, [_rand(3, 3)]),
    "Tensor.det": (lambda lib: lambda a: a.det(), [_rand(4, 4)]),
    "slogdet": (lambda lib: lambda a: lib.linalg.slogdet(a).logabsdet, [_rand(2, 3, 3)]),
    "slogdet-sign": (lambda lib: lambda a: lib.linalg.slogdet(a).sign.detach(), [_rand(4, 3, 3)]),
    "pyrch.slogdet": (lambda lib: lambda a: lib.slogdet(a)[1], [_rand(3, 3)]),
    "Tensor.slogdet": (lambda lib: lambda a: a.slogdet()[1], [_rand(3, 3)]),
    "logdet": (lambda lib: lib.logdet, [_spd(2, 3, 3)]),
    "Tensor.logdet": (lambda lib: lambda a: a.logdet(), [_spd(3, 3)]),
    "solve": (lambda lib: lib.linalg.solve, [_wellcond(2, 3, 3), _rand(2, 3, 2)]),
    "solve-vector": (lambda lib: lib.linalg.solve, [_wellcond(3, 3), _rand(3)]),
    "solve-batched-vector": (lambda lib: lib.linalg.solve, [_wellcond(2, 3, 3), _rand(2, 3)]),
    "solve-broadcast": (lambda lib: lib.linalg.solve, [_wellcond(2, 3, 3), _rand(4, 1, 3, 2)]),
    "solve-broadcast-A": (lambda lib: lib.linalg.solve, [_wellcond(3, 3), _rand(2, 3, 1)]),
    "solve-1d-batched-A": (lambda lib: lib.linalg.solve, [_wellcond(2, 3, 3), _rand(3)]),
    "solve-right": (lambda lib: lambda a, b: lib.linalg.solve(a, b, left=False),
                    [_wellcond(2, 3, 3), _rand(2, 4, 3)]),
    "cholesky": (lambda lib: lib.linalg.cholesky, [_spd(2, 4, 4)]),
    "cholesky-upper": (lambda lib: lambda a: lib.linalg.cholesky(a, upper=True), [_spd(3, 3)]),
    "pyrch.cholesky": (lambda lib: lambda a: lib.cholesky(a, True), [_spd(3, 3)]),
    "Tensor.cholesky": (lambda lib: lambda a: a.cholesky(), [_spd(3, 3)]),
    "qr-tall": (lambda lib: _qr_fixed(lib), [_rand(2, 5, 3)]),
    "qr-wide": (lambda lib: _qr_fixed(lib), [_rand(3, 5)]),
    "qr-complete-wide": (lambda lib: _qr_fixed(lib, "complete"), [_rand(2, 3, 4)]),
    "eigh": (lambda lib: _eigh_fixed(lib), [_sym(2, 4, 4)]),
    "eigh-U": (lambda lib: lambda a: _eigh_fixed(lib)(a.triu() + a.triu(1).mT), [_rand(3, 3)]),
    "eigvalsh": (lambda lib: lib.linalg.eigvalsh, [_sym(2, 4, 4)]),
    "eigvalsh-U": (lambda lib: lambda a: lib.linalg.eigvalsh(a, UPLO="U"), [_sym(4, 4)]),
    "pinv-tall": (lambda lib: lib.linalg.pinv, [_rand(2, 5, 3)]),
    "pinv-wide": (lambda lib: lib.linalg.pinv, [_rand(3, 5)]),
    "pinverse": (lambda lib: lambda a: a.pinverse(), [_rand(4, 3)]),
    "matrix_power-5": (lambda lib: lambda a: lib.linalg.matrix_power(a, 5), [_wellcond(2, 3, 3) / 3]),
    "matrix_power-neg": (lambda lib: lambda a: lib.matrix_power(a, -3), [_wellcond(3, 3) / 3]),
    "matrix_power-0": (lambda lib: lambda a: a.matrix_power(0), [_rand(2, 3, 3)]),
    "lstsq": (lambda lib: lambda a, b: lib.linalg.lstsq(a, b).solution, [_rand(2, 5, 3), _rand(2, 5, 2)]),
    "lstsq-vector": (lambda lib: lambda a, b: lib.linalg.lstsq(a, b).solution, [_rand(5, 3), _rand(5)]),
    "lstsq-wide": (lambda lib: lambda a, b: lib.linalg.lstsq(a, b).solution, [_rand(3, 5), _rand(3, 2)]),
    "linalg.cross": (lambda lib: lib.linalg.cross, [_rand(1, 2, 3), _rand(4, 1, 3)]),
    "cross-dim": (lambda lib: lambda a, b: lib.cross(a, b, dim=0), [_rand(3, 2), _rand(3, 2)]),
    "Tensor.cross": (lambda lib: lambda a, b: a.cross(b, dim=1), [_rand(2, 3), _rand(2, 3)]),
    "vecdot": (lambda lib: lib.linalg.vecdot, [_rand(2, 1, 4), _rand(3, 4)]),
    "vecdot-dim": (lambda lib: lambda a, b: lib.linalg.vecdot(a, b, dim=0), [_rand(4, 2), _rand(4, 2)]),
    "matrix_exp": (lambda lib: lib.linalg.matrix_exp, [_rand(2, 3, 3) * np.array([0.1, 4.0])[:, None, None]]),
    "Tensor.matrix_exp": (lambda lib: lambda a: a.matrix_exp(), [_rand(4, 4)]),
    "multi_dot": (lambda lib: lambda *t: lib.linalg.multi_dot(t),
                  [_rand(3), _rand(3, 4), _rand(4, 2), _rand(2, 5)]),
    "multi_dot-2d": (lambda lib: lambda *t: lib.linalg.multi_dot(list(t)),
                     [_rand(2, 3), _rand(3, 4), _rand(4)]),
}


def _outs(res):
    return [o for o in (res if isinstance(res, tuple) else (res,))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_torch(name, dtype):
    make, arrays = CASES[name]
    got = _outs(make(pyrch)(*(pyrch.tensor(a.astype(dtype)) for a in arrays)))
    ref = _outs(make(torch)(*(torch.tensor(a.astype(dtype)) for a in arrays)))
    tol = 2e-4 if dtype == "float32" else 1e-10
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert tuple(g.shape) == tuple(r.shape) and g.dtype.name == str(r.dtype).split(".")[1]
        np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=tol, atol=tol)


_GRADCHECK = [n for n in sorted(CASES) if n != "slogdet-sign"]    # (sign takes no gradient)


@pytest.mark.parametrize("name", _GRADCHECK)
def test_gradients_and_second_gradients_match_torch(name):
    make, arrays = CASES[name]
    rng = np.random.default_rng(1)
    res = []
    weights = None
    for lib in (pyrch, torch):
        xs = [lib.tensor(a, requires_grad=True) for a in arrays]
        outs = [o for o in _outs(make(lib)(*xs)) if o.requires_grad]
        assert outs, name
        if weights is None:
            weights = [rng.standard_normal(tuple(o.shape)) for o in outs]
        loss = sum((o * lib.tensor(w)).sum() for o, w in zip(outs, weights))
        gs = lib.autograd.grad(loss, xs, create_graph=True)
        second = sum((g * g).sum() for g in gs)
        hs = lib.autograd.grad(second, xs, allow_unused=True) if second.requires_grad \
            else [None] * len(xs)
        res.append(([g.detach().numpy() for g in gs],
                    [None if h is None else h.numpy() for h in hs]))
    for g, r in zip(res[0][0], res[1][0]):
        np.testing.assert_allclose(g, r, rtol=1e-8, atol=1e-9)
    for h, r in zip(res[0][1], res[1][1]):
        if r is None or h is None:      # (a gradient that does not depend on the input)
            assert h is None or not np.any(h), name
            continue
        np.testing.assert_allclose(h, r, rtol=1e-7, atol=1e-8)


# these read one triangle of A while their gradient takes A as symmetric (as torch's does),
# so finite differences are taken through a symmetrised input
_SYMMETRIC = {"cholesky", "cholesky-upper", "pyrch.cholesky", "Tensor.cholesky", "eigh",
              "eigvalsh", "eigvalsh-U"}


@pytest.mark.parametrize("name", _GRADCHECK)
def test_gradcheck_float64(name):
    make, arrays = CASES[name]
    xs = [pyrch.tensor(a, requires_grad=True) for a in arrays]
    fn = make(pyrch)
    if name in _SYMMETRIC:
        f = fn
        fn = lambda a: f((a + a.mT) / 2)        # noqa: E731
    assert gradcheck(fn, xs, atol=1e-6, rtol=1e-4)
    if name not in ("matrix_power-0",):
        assert gradgradcheck(fn, xs, atol=1e-5, rtol=1e-3)


# -- results' form -----------------------------------------------------------------------

def test_named_tuples():
    a = pyrch.tensor(_spd(3, 3))
    r = pyrch.linalg.inv_ex(a)
    assert type(r).__name__ == "linalg_inv_ex" and r._fields == ("inverse", "info")
    assert r.info.dtype == pyrch.int32 and r.info.item() == 0
    assert pyrch.linalg.slogdet(a)._fields == ("sign", "logabsdet")
    assert pyrch.linalg.qr(a)._fields == ("Q", "R")
    assert pyrch.linalg.eigh(a)._fields == ("eigenvalues", "eigenvectors")
    assert pyrch.linalg.lstsq(a, a)._fields == ("solution", "residuals", "rank", "singular_values")


def test_inv_ex_reports_singular_matrices_per_batch_element():
    a = np.stack([np.eye(3), [[1., 2., 3.], [2., 4., 6.], [1., 0., 1.]], np.diag([1., 0., 2.])])
    got = pyrch.linalg.inv_ex(pyrch.tensor(a))
    ref = torch.linalg.inv_ex(torch.tensor(a))
    np.testing.assert_array_equal(got.info.numpy(), ref.info.numpy())
    np.testing.assert_allclose(got.inverse[0].numpy(), np.eye(3))
    assert not np.isfinite(got.inverse[1:].numpy()).all()


def test_qr_modes_match_torch():
    a = _rand(2, 5, 3)
    for mode in ("reduced", "complete", "r"):
        got = pyrch.linalg.qr(pyrch.tensor(a), mode=mode)
        ref = torch.linalg.qr(torch.tensor(a), mode=mode)
        assert tuple(got.Q.shape) == tuple(ref.Q.shape) and tuple(got.R.shape) == tuple(ref.R.shape)
        np.testing.assert_allclose(np.abs(got.R.numpy()), np.abs(ref.R.numpy()), atol=1e-12)
        if mode != "r":
            np.testing.assert_allclose((got.Q @ got.R).numpy(), a, atol=1e-12)


@pytest.mark.parametrize("driver", [None, "gelsy", "gelsd", "gelss", "gels"])
def test_lstsq_outputs_match_torch(driver):
    a, b = _rand(2, 5, 3), _rand(2, 5, 2, seed=1)
    got = pyrch.linalg.lstsq(pyrch.tensor(a), pyrch.tensor(b), driver=driver)
    ref = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
    for g, r in zip(got, ref):
        assert tuple(g.shape) == tuple(r.shape)
        np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kw", [{}, {"hermitian": True}, {"atol": 1.0}, {"rtol": 0.3},
                                {"atol": 0.5, "rtol": 0.1}])
def test_matrix_rank_matches_torch(kw):
    u = _rand(3, 4, 4)
    a = u @ np.diag([3., 2., 0.7, 0.]) @ np.swapaxes(u, -1, -2)      # symmetric, rank 3
    got = pyrch.linalg.matrix_rank(pyrch.tensor(a), **kw)
    ref = torch.linalg.matrix_rank(torch.tensor(a), **kw)
    assert got.dtype == pyrch.int64
    np.testing.assert_array_equal(got.numpy(), ref.numpy())


def test_pinv_tolerances_match_torch():
    a = _rand(4, 3) @ np.diag([2., 1., 1e-3]) @ _rand(3, 3, seed=2)
    for kw in ({}, {"rtol": 1e-2}, {"atol": 0.01}, {"atol": 0.01, "rtol": 0.5}):
        np.testing.assert_allclose(pyrch.linalg.pinv(pyrch.tensor(a), **kw).numpy(),
                                   torch.linalg.pinv(torch.tensor(a), **kw).numpy(), atol=1e-9)


def test_matrix_power_of_integers_and_cross_default_dim():
    a = np.arange(9).reshape(3, 3) - 4
    np.testing.assert_array_equal(pyrch.tensor(a).matrix_power(3).numpy(),
                                  torch.tensor(a).matrix_power(3).numpy())
    x, y = _rand(2, 3, 3), _rand(2, 3, 3, seed=1)
    with pytest.warns(UserWarning, match="without specifying the dim"):
        got = pyrch.cross(pyrch.tensor(x), pyrch.tensor(y))
    np.testing.assert_allclose(got.numpy(), torch.cross(torch.tensor(x), torch.tensor(y), dim=1).numpy())


# -- torch's errors ----------------------------------------------------------------------

def _err(call):
    with pytest.raises(Exception) as info:
        call()
    return info.type, str(info.value)


_SINGULAR = [[1., 2.], [2., 4.]]
_BATCH_SINGULAR = [np.eye(2).tolist(), _SINGULAR]
_NOT_PD = [[1., 2.], [2., 1.]]

ERRORS = {
    "inv-singular": lambda lib: lib.linalg.inv(lib.tensor(_SINGULAR)),
    "inv-singular3": lambda lib: lib.linalg.inv(lib.tensor([[1., 2., 3.], [2., 4., 6.], [1., 0., 1.]])),
    "inv-batch-singular": lambda lib: lib.linalg.inv(lib.tensor(_BATCH_SINGULAR)),
    "inverse-singular": lambda lib: lib.inverse(lib.tensor(_SINGULAR)),
    "inv_ex-check": lambda lib: lib.linalg.inv_ex(lib.tensor(_SINGULAR), check_errors=True),
    "matrix_power-singular": lambda lib: lib.linalg.matrix_power(lib.tensor(_SINGULAR), -1),
    "inv-nonsquare": lambda lib: lib.linalg.inv(lib.zeros(2, 3)),
    "inv-1d": lambda lib: lib.linalg.inv(lib.zeros(3)),
    "inv-int": lambda lib: lib.linalg.inv(lib.eye(2, dtype=lib.int64)),
    "inv-half": lambda lib: lib.linalg.inv(lib.eye(2, dtype=lib.float16)),
    "det-nonsquare": lambda lib: lib.linalg.det(lib.zeros(2, 3)),
    "det-1d": lambda lib: lib.linalg.det(lib.zeros(3)),
    "det-int": lambda lib: lib.linalg.det(lib.eye(2, dtype=lib.int64)),
    "slogdet-nonsquare": lambda lib: lib.linalg.slogdet(lib.zeros(2, 3)),
    "logdet-nonsquare": lambda lib: lib.logdet(lib.zeros(2, 3)),
    "solve-singular": lambda lib: lib.linalg.solve(lib.tensor(_SINGULAR), lib.ones(2)),
    "solve-batch-singular": lambda lib: lib.linalg.solve(lib.tensor(_BATCH_SINGULAR), lib.ones(2)),
    "solve-shapes": lambda lib: lib.linalg.solve(lib.eye(2), lib.ones(3)),
    "solve-shapes-matrix": lambda lib: lib.linalg.solve(lib.eye(2), lib.ones(3, 2)),
    "solve-nonsquare": lambda lib: lib.linalg.solve(lib.zeros(2, 3), lib.ones(2)),
    "solve-dtypes": lambda lib: lib.linalg.solve(lib.eye(2), lib.ones(2, dtype=lib.float64)),
    "cholesky-not-pd": lambda lib: lib.linalg.cholesky(lib.tensor(_NOT_PD)),
    "cholesky-batch-not-pd": lambda lib: lib.linalg.cholesky(lib.tensor([np.eye(2).tolist(), _NOT_PD])),
    "cholesky-order3": lambda lib: lib.linalg.cholesky(lib.tensor([[1., 0., 0.], [0., 1., 0.],
                                                                   [0., 0., -1.]])),
    "pyrch.cholesky-not-pd": lambda lib: lib.cholesky(lib.tensor(_NOT_PD)),
    "cholesky-nonsquare": lambda lib: lib.linalg.cholesky(lib.zeros(2, 3)),
    "cholesky-int": lambda lib: lib.linalg.cholesky(lib.eye(2, dtype=lib.int64)),
    "eigh-nonsquare": lambda lib: lib.linalg.eigh(lib.zeros(2, 3)),
    "eigvalsh-nonsquare": lambda lib: lib.linalg.eigvalsh(lib.zeros(2, 3)),
    "eigh-uplo": lambda lib: lib.linalg.eigh(lib.eye(2), UPLO="X"),
    "qr-1d": lambda lib: lib.linalg.qr(lib.zeros(3)),
    "qr-mode": lambda lib: lib.linalg.qr(lib.zeros(2, 2), mode="x"),
    "qr-complete-tall-backward": lambda lib: lib.linalg.qr(
        lib.tensor(_rand(3, 2), requires_grad=True), mode="complete")[0].sum().backward(),
    "qr-r-backward": lambda lib: lib.linalg.qr(
        lib.tensor(_rand(3, 2), requires_grad=True), mode="r")[1].sum().backward(),
    "matrix_power-nonsquare": lambda lib: lib.linalg.matrix_power(lib.zeros(2, 3), 2),
    "pinv-1d": lambda lib: lib.linalg.pinv(lib.zeros(3)),
    "cross-length": lambda lib: lib.linalg.cross(lib.zeros(3, 2), lib.zeros(3, 2)),
    "cross-ndim": lambda lib: lib.linalg.cross(lib.zeros(3), lib.zeros(2, 3)),
    "cross-no-3": lambda lib: lib.cross(lib.zeros(2, 2), lib.zeros(2, 2)),
    "multi_dot-one": lambda lib: lib.linalg.multi_dot([lib.zeros(2, 2)]),
    "multi_dot-shapes": lambda lib: lib.linalg.multi_dot([lib.zeros(2, 2), lib.zeros(3, 2)]),
    "multi_dot-3d": lambda lib: lib.linalg.multi_dot([lib.zeros(2, 2, 2), lib.zeros(2, 2)]),
    "lstsq-shapes": lambda lib: lib.linalg.lstsq(lib.zeros(4, 2), lib.zeros(3, 3)),
    "matrix_exp-nonsquare": lambda lib: lib.matrix_exp(lib.zeros(2, 3)),
    "matrix_exp-int": lambda lib: lib.linalg.matrix_exp(lib.eye(2, dtype=lib.int64)),
    "lstsq-1d": lambda lib: lib.linalg.lstsq(lib.zeros(3), lib.zeros(3)),
    "matrix_rank-1d": lambda lib: lib.linalg.matrix_rank(lib.zeros(3)),
    "matrix_rank-hermitian-nonsquare": lambda lib: lib.linalg.matrix_rank(lib.zeros(2, 3), hermitian=True),
    "matrix_power-1d": lambda lib: lib.linalg.matrix_power(lib.zeros(3), 2),
    "inv_ex-nonsquare": lambda lib: lib.linalg.inv_ex(lib.zeros(2, 3)),
    "eigvalsh-1d": lambda lib: lib.linalg.eigvalsh(lib.zeros(3)),
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_match_torch(name):
    (pt, pm), (tt, tm) = _err(lambda: ERRORS[name](pyrch)), _err(lambda: ERRORS[name](torch))
    assert pm == tm
    assert issubclass(pt, RuntimeError)
    assert issubclass(pt, pyrch.linalg.LinAlgError) == issubclass(tt, torch.linalg.LinAlgError)


# -- tracing -----------------------------------------------------------------------------

def test_traced_inv_and_solve_match_eager_and_differentiate():
    def f(a, b):
        return pyrch.linalg.inv(a) @ b + pyrch.linalg.solve(a, b) * pyrch.linalg.det(a).unsqueeze(-1) \
            .unsqueeze(-1)

    traced = pyrch.jit.trace(f)
    for seed in range(4):           # warm-up, record, then replays
        a = pyrch.tensor(_wellcond(2, 3, 3, seed=seed), requires_grad=True)
        b = pyrch.tensor(_rand(2, 3, 2, seed=seed + 10), requires_grad=True)
        out = traced(a, b)
        ga, gb = pyrch.autograd.grad(out.sum(), (a, b))
        a2, b2 = a.detach().requires_grad_(), b.detach().requires_grad_()
        ref = f(a2, b2)
        ra, rb = pyrch.autograd.grad(ref.sum(), (a2, b2))
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ga.numpy(), ra.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gb.numpy(), rb.numpy(), rtol=1e-10, atol=1e-12)
    assert traced.stats.hits >= 1


def test_traced_inv_still_raises_for_a_singular_input():
    traced = pyrch.jit.trace(lambda a: pyrch.linalg.inv(a) * 2)
    for _ in range(3):
        traced(pyrch.tensor(_wellcond(2, 2)))
    with pytest.raises(pyrch.linalg.LinAlgError, match="singular"):
        traced(pyrch.tensor(_SINGULAR, dtype=pyrch.float64))
