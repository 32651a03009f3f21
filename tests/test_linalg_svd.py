"""The SVD (linalg.svd, linalg.svdvals, svd, Tensor.svd) and the norms built on it
(matrix_norm 'nuc' / 2 / -2, linalg.norm, norm p='nuc'), against PyTorch.

Singular values compare directly; singular vectors only up to sign, so U and Vh are
compared through |U|, |Vh| and the reconstruction U diag(S) Vh. The op samples in
tests/opinfo/linalg.py add gradcheck, gradgradcheck and traced == eager."""
import math

import numpy as np
import pytest

import pyrch

torch = pytest.importorskip("torch", reason="PyTorch is not installed: optional cross-check")

SHAPES = [(3, 3), (5, 3), (3, 5), (2, 4, 3), (2, 1, 3, 4), (1, 1), (4, 1)]


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _reconstruct(u, s, vh):
    k = s.shape[-1]
    return (u[..., :, :k] * s[..., None, :]) @ vh[..., :k, :]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("full", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_linalg_svd_matches_torch(shape, full, dtype):
    a = _rand(*shape).astype(dtype)
    u, s, vh = (t.numpy() for t in pyrch.linalg.svd(pyrch.tensor(a), full_matrices=full))
    tu, ts, tvh = (t.numpy() for t in torch.linalg.svd(torch.tensor(a), full_matrices=full))
    tol = 1e-5 if dtype == "float32" else 1e-12
    assert u.dtype == s.dtype == vh.dtype == np.dtype(dtype)
    assert (u.shape, s.shape, vh.shape) == (tu.shape, ts.shape, tvh.shape)
    np.testing.assert_allclose(s, ts, rtol=tol, atol=tol)
    np.testing.assert_allclose(_reconstruct(u, s, vh), a, atol=10 * tol)
    k = s.shape[-1]        # the first k columns (rows) are unique up to sign
    np.testing.assert_allclose(np.abs(u[..., :, :k]), np.abs(tu[..., :, :k]), atol=10 * tol)
    np.testing.assert_allclose(np.abs(vh[..., :k, :]), np.abs(tvh[..., :k, :]), atol=10 * tol)
    # orthonormal columns of U, rows of Vh (np.eye broadcasts over the batch)
    np.testing.assert_allclose(np.swapaxes(u, -1, -2) @ u, np.eye(u.shape[-1])
                               + np.zeros(u.shape[:-2] + (1, 1)), atol=10 * tol)
    np.testing.assert_allclose(vh @ np.swapaxes(vh, -1, -2), np.eye(vh.shape[-2])
                               + np.zeros(vh.shape[:-2] + (1, 1)), atol=10 * tol)


def test_svd_result_is_a_named_tuple_and_defaults_to_full_matrices():
    r = pyrch.linalg.svd(pyrch.tensor(_rand(4, 2)))
    assert type(r).__name__ == "linalg_svd" and r._fields == ("U", "S", "Vh")
    assert r.U.shape == (4, 4) and r.S.shape == (2,) and r.Vh.shape == (2, 2)
    assert pyrch.linalg_svd(pyrch.tensor(_rand(4, 2)), False).U.shape == (4, 2)


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (2, 0, 3), (0, 3, 2), (0, 0)])
@pytest.mark.parametrize("full", [True, False])
def test_empty_inputs_match_torch(shape, full):
    got = pyrch.linalg.svd(pyrch.zeros(*shape, dtype=pyrch.float64), full_matrices=full)
    want = torch.linalg.svd(torch.zeros(*shape, dtype=torch.float64), full_matrices=full)
    for g, w in zip(got, want):
        assert tuple(g.shape) == tuple(w.shape)
        np.testing.assert_array_equal(g.numpy(), w.numpy())    # identities where full
    assert tuple(pyrch.linalg.svdvals(pyrch.zeros(*shape)).shape) == \
        tuple(torch.linalg.svdvals(torch.zeros(*shape)).shape)


@pytest.mark.parametrize("shape", SHAPES)
def test_svdvals_equal_torch_and_linalg_svd(shape):
    a = _rand(*shape)
    s = pyrch.linalg.svdvals(pyrch.tensor(a)).numpy()
    np.testing.assert_allclose(s, torch.linalg.svdvals(torch.tensor(a)).numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s, pyrch.linalg.svd(pyrch.tensor(a)).S.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kw", [{}, {"some": False}, {"compute_uv": False},
                                {"some": False, "compute_uv": False}])
@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (2, 3, 3)])
def test_old_svd_matches_torch(shape, kw):
    a = _rand(*shape)
    for call in (lambda lib, t: lib.svd(t, **kw), lambda lib, t: t.svd(**kw)):
        u, s, v = (t.numpy() for t in call(pyrch, pyrch.tensor(a)))
        tu, ts, tv = (t.numpy() for t in call(torch, torch.tensor(a)))
        assert (u.shape, s.shape, v.shape) == (tu.shape, ts.shape, tv.shape)
        np.testing.assert_allclose(s, ts, rtol=1e-12, atol=1e-12)
        if kw.get("compute_uv", True):
            np.testing.assert_allclose(_reconstruct(u, s, np.swapaxes(v, -1, -2)), a, atol=1e-12)
            k = s.shape[-1]
            np.testing.assert_allclose(np.abs(u[..., :k]), np.abs(tu[..., :k]), atol=1e-12)
            np.testing.assert_allclose(np.abs(v[..., :k]), np.abs(tv[..., :k]), atol=1e-12)
        else:                           # U and V come back zero-filled, as in torch
            assert not u.any() and not v.any()


def test_old_svd_without_uv_gives_the_singular_values_gradient_only():
    x = pyrch.tensor(_rand(4, 3), requires_grad=True)
    u, s, v = x.svd(compute_uv=False)
    assert s.requires_grad and not u.requires_grad and not v.requires_grad
    s.sum().backward()
    tx = torch.tensor(_rand(4, 3), requires_grad=True)
    torch.svd(tx, compute_uv=False).S.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), atol=1e-12)


def _weights(shape, seed):
    return _rand(*shape, seed=seed)


@pytest.mark.parametrize("shape,full", [((4, 3), True), ((3, 5), True), ((4, 3), False),
                                        ((2, 3, 3), True), ((2, 2, 4), False)])
def test_svd_gradients_match_torch(shape, full):
    """A loss over U, S and Vh (signs fixed, so it is a function of A alone); with
    full_matrices=True and m != n the extra columns' gradient is ignored, as torch does."""
    a = _rand(*shape, seed=1)
    grads = []
    for lib in (pyrch, torch):
        x = lib.tensor(a, requires_grad=True)
        u, s, vh = lib.linalg.svd(x, full_matrices=full)
        u = u * u[..., :1, :].sign()
        vh = vh * vh[..., :, :1].sign()
        loss = (u * lib.tensor(_weights(u.shape, 2))).sum() + (s * lib.tensor(_weights(s.shape, 3))).sum() \
            + (vh * lib.tensor(_weights(vh.shape, 4))).sum()
        loss.backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-9, atol=1e-10)


def test_svd_second_derivatives_match_torch():
    a = _rand(3, 4, seed=5)
    res = []
    for lib in (pyrch, torch):
        x = lib.tensor(a, requires_grad=True)
        u, s, vh = lib.linalg.svd(x, full_matrices=False)
        loss = (s ** 3).sum() + (u * vh.mT[:3]).sum()      # u_ij v_ij: no sign ambiguity
        g, = lib.autograd.grad(loss, x, create_graph=True)
        h, = lib.autograd.grad((g * g).sum(), x)
        res.append((g.detach().numpy(), h.numpy()))
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(res[0][1], res[1][1], rtol=1e-8, atol=1e-9)


def _err(fn, lib, *args, **kwargs):
    with pytest.raises(Exception) as info:
        fn(lib)(*args, **kwargs)
    return type(info.value), str(info.value)


def _same_error(fn, make):
    """fn(lib) -> the callable; make(lib) -> its arguments. Same message (and a
    RuntimeError, or NotImplementedError where torch raises that)."""
    (pt, pm), (tt, tm) = _err(fn, pyrch, *make(pyrch)), _err(fn, torch, *make(torch))
    assert pm == tm
    assert issubclass(pt, NotImplementedError) == issubclass(tt, NotImplementedError)
    assert issubclass(pt, RuntimeError)


_SVD_FNS = {"linalg.svd": lambda lib: lib.linalg.svd, "linalg.svdvals": lambda lib: lib.linalg.svdvals,
            "svd": lambda lib: lib.svd, "Tensor.svd": lambda lib: lambda t: t.svd(),
            "matrix_norm-nuc": lambda lib: lambda t: lib.linalg.matrix_norm(t, "nuc"),
            "matrix_norm-2": lambda lib: lambda t: lib.linalg.matrix_norm(t, 2),
            "norm-nuc": lambda lib: lambda t: lib.norm(t, p="nuc", dim=(0, 1))}
_BAD_INPUTS = {"int": lambda lib: lib.ones(3, 3, dtype=lib.int64),
               "int32": lambda lib: lib.ones(3, 3, dtype=lib.int32),
               "bool": lambda lib: lib.ones(3, 3, dtype=lib.bool),
               "half": lambda lib: lib.ones(3, 3, dtype=lib.float16),
               "1d": lambda lib: lib.ones(3),
               "0d": lambda lib: lib.ones(()),
               "1d-int": lambda lib: lib.ones(3, dtype=lib.int64),
               "nan": lambda lib: lib.tensor([[1.0, math.nan], [0.0, 1.0]])}


@pytest.mark.parametrize("bad", sorted(_BAD_INPUTS))
@pytest.mark.parametrize("fn", sorted(_SVD_FNS))
def test_bad_inputs_raise_torchs_errors(fn, bad):
    _same_error(_SVD_FNS[fn], lambda lib: (_BAD_INPUTS[bad](lib),))


def test_nonfinite_input_raises_a_linalg_error():
    with pytest.raises(pyrch.linalg.LinAlgError, match="non-finite"):
        pyrch.linalg.svd(pyrch.tensor([[1.0, math.inf], [0.0, 1.0]]))
    assert issubclass(pyrch.linalg.LinAlgError, RuntimeError)


# -- the norms that need singular values ------------------------------------------------

_NORMS = [("linalg.matrix_norm", {"ord": "nuc"}), ("linalg.matrix_norm", {"ord": 2}),
          ("linalg.matrix_norm", {"ord": -2}), ("linalg.matrix_norm", {"ord": "nuc", "keepdim": True}),
          ("linalg.matrix_norm", {"ord": 2, "dim": (2, 0), "keepdim": True}),
          ("linalg.matrix_norm", {"ord": -2, "dim": (0, 1)}),
          ("linalg.matrix_norm", {"ord": 2.0, "dim": (-1, -3)}),
          ("linalg.norm", {"ord": "nuc", "dim": (1, 2)}), ("linalg.norm", {"ord": -2, "dim": (0, 2)}),
          ("linalg.norm", {"ord": 2, "dim": (2, 1), "keepdim": True}),
          ("norm", {"p": "nuc", "dim": (1, 2)}), ("norm", {"p": "nuc", "dim": (0, 2), "keepdim": True}),
          ("norm", {"p": "nuc", "dim": [2, 1]}), ("norm", {"p": "fro", "dim": (0, 1)}),
          # a number p is a vector norm in torch.norm, even over two dims
          ("norm", {"p": 2, "dim": (1, 2)}), ("norm", {"p": -2, "dim": (0, 1)}),
          ("Tensor.norm", {"p": "nuc", "dim": (0, 1)})]


def _call(lib, name, x, kw):
    if name == "Tensor.norm":
        return x.norm(**kw)
    f = lib
    for part in name.split("."):
        f = getattr(f, part)
    return f(x, **kw)


@pytest.mark.parametrize("name,kw", _NORMS)
def test_norms_match_torch_with_gradients(name, kw):
    a = _rand(3, 4, 5, seed=7)
    res = []
    for lib in (pyrch, torch):
        x = lib.tensor(a, requires_grad=True)
        y = _call(lib, name, x, kw)
        w = lib.tensor(np.arange(1.0, 1.0 + y.numel()).reshape(tuple(y.shape)))
        (y * w).sum().backward()
        res.append((y.detach().numpy(), x.grad.numpy()))
    assert res[0][0].shape == res[1][0].shape
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-10)
    np.testing.assert_allclose(res[0][1], res[1][1], rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("ord", ["nuc", 2, -2])
def test_two_d_matrix_norms_match_torch(ord):
    a = _rand(4, 3, seed=8).astype(np.float32)
    for lib_call in (lambda lib, t: lib.linalg.norm(t, ord), lambda lib, t: lib.linalg.matrix_norm(t, ord)):
        got, want = lib_call(pyrch, pyrch.tensor(a)), lib_call(torch, torch.tensor(a))
        assert got.dtype is pyrch.float32
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    np.testing.assert_allclose(pyrch.linalg.matrix_norm(pyrch.tensor(a), ord, dtype=pyrch.float64).numpy(),
                               torch.linalg.matrix_norm(torch.tensor(a), ord, dtype=torch.float64).numpy(),
                               rtol=1e-12)


def test_ties_share_the_spectral_norm_gradient_as_in_torch():
    grads = []
    for lib in (pyrch, torch):
        x = lib.eye(3, dtype=lib.float64, requires_grad=True)
        lib.linalg.matrix_norm(x, 2).backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-12)


@pytest.mark.parametrize("shape", [(0, 3), (2, 0, 3)])
def test_norms_of_empty_matrices_match_torch(shape):
    for ord in ("nuc", 2):
        got = pyrch.linalg.matrix_norm(pyrch.zeros(*shape), ord)
        want = torch.linalg.matrix_norm(torch.zeros(*shape), ord)
        assert tuple(got.shape) == tuple(want.shape) and not got.numpy().any()


@pytest.mark.parametrize("ord", ["nuc", 2, -2])
def test_norm_gradients_pass_gradcheck(ord):
    x = pyrch.tensor(_rand(2, 3, 4, seed=9), requires_grad=True)
    assert pyrch.autograd.gradcheck(lambda t: pyrch.linalg.matrix_norm(t, ord, dim=(0, 2)), (x,))
    assert pyrch.autograd.gradgradcheck(lambda t: pyrch.linalg.matrix_norm(t, ord), (x,))


_NORM_ERRORS = [
    ("matrix_norm-int", lambda lib: lambda: lib.linalg.matrix_norm(lib.ones(3, 3, dtype=lib.int64), "nuc")),
    ("matrix_norm-int-dtype", lambda lib: lambda: lib.linalg.matrix_norm(lib.ones(3, 3, dtype=lib.int64), 2,
                                                                          dtype=lib.float64)),
    ("matrix_norm-1d", lambda lib: lambda: lib.linalg.matrix_norm(lib.ones(3), -2)),
    ("matrix_norm-dim1", lambda lib: lambda: lib.linalg.matrix_norm(lib.ones(3, 3), "nuc", dim=(0,))),
    ("matrix_norm-dim3", lambda lib: lambda: lib.linalg.matrix_norm(lib.ones(3, 3, 3), 2, dim=(0, 1, 1))),
    ("matrix_norm-same", lambda lib: lambda: lib.linalg.matrix_norm(lib.ones(3, 3), "nuc", dim=(0, -2))),
    ("matrix_norm-ord", lambda lib: lambda: lib.linalg.matrix_norm(lib.ones(3, 3), 3)),
    ("matrix_norm-str", lambda lib: lambda: lib.linalg.matrix_norm(lib.ones(3, 3), "abc")),
    ("linalg.norm-3d", lambda lib: lambda: lib.linalg.norm(lib.ones(3, 3, 3), "nuc")),
    ("linalg.norm-1d-str", lambda lib: lambda: lib.linalg.norm(lib.ones(3), "nuc")),
    ("linalg.norm-dim1-str", lambda lib: lambda: lib.linalg.norm(lib.ones(3, 3), "nuc", dim=1)),
    ("linalg.norm-dim3", lambda lib: lambda: lib.linalg.norm(lib.ones(3, 3, 3), 2, dim=(0, 1, 2))),
    ("norm-nuc-3d", lambda lib: lambda: lib.norm(lib.ones(3, 3, 3), p="nuc")),
    ("norm-nuc-dim1", lambda lib: lambda: lib.norm(lib.ones(3, 3), p="nuc", dim=1)),
    ("norm-fro-3dims", lambda lib: lambda: lib.norm(lib.ones(3, 3, 3), p="fro", dim=(0, 1, 2))),
    ("norm-str", lambda lib: lambda: lib.norm(lib.ones(3, 3), p="abc")),
    ("matrix_norm-half-to-float", lambda lib: lambda: lib.linalg.matrix_norm(
        lib.ones(3, 3, dtype=lib.float16), "nuc", dtype=lib.float32)),
    ("norm-nuc-int", lambda lib: lambda: lib.norm(lib.ones(3, 3, dtype=lib.int64), p="nuc")),
]


@pytest.mark.parametrize("name,fn", _NORM_ERRORS, ids=[n for n, _ in _NORM_ERRORS])
def test_norm_errors_match_torch(name, fn):
    _same_error(lambda lib: fn(lib), lambda lib: ())


def test_norm_fro_over_all_dims_of_a_3d_tensor_is_still_a_vector_norm():
    a = _rand(2, 3, 4)
    np.testing.assert_allclose(pyrch.norm(pyrch.tensor(a), p="fro").item(),
                               torch.norm(torch.tensor(a), p="fro").item(), rtol=1e-12)


# -- tracing ----------------------------------------------------------------------------

def test_traced_svd_and_nuclear_norm_with_gradients_equal_eager():
    def step(a):
        u, s, vh = pyrch.linalg.svd(a, full_matrices=False)
        loss = pyrch.linalg.matrix_norm(a, "nuc") + (u * u[..., :1, :].sign()).sum() \
            + pyrch.linalg.svdvals(a).amax() + pyrch.norm(a, p="nuc")
        g, = pyrch.autograd.grad(loss, a)
        return loss, s, g

    traced = pyrch.jit.trace(step)
    for seed in range(4):        # warm-up, record, then replays on new values
        x = pyrch.tensor(_rand(4, 3, seed=seed), requires_grad=True)
        want = step(x)
        got = traced(x)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert "linalg_svd" in str(traced.graph_for(x)) and "linalg_svdvals" in str(traced.graph_for(x))


def test_traced_function_differentiates_through_the_svd():
    f = pyrch.jit.trace(lambda a: pyrch.linalg.matrix_norm(a, 2) * pyrch.linalg.svd(a).S.sum())
    for seed in range(4):
        a = _rand(3, 3, seed=seed)
        x = pyrch.tensor(a, requires_grad=True)
        f(x).backward()
        tx = torch.tensor(a, requires_grad=True)
        (torch.linalg.matrix_norm(tx, 2) * torch.linalg.svd(tx).S.sum()).backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
