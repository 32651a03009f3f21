"""Samples for this op family (see tests/opinfo/__init__.py)."""
import numpy as np

from . import OpInfo, Sample, add  # noqa: F401


def _n(rng, *shape):
    return rng.standard_normal(shape)


def _matmul(rng):
    return [
        Sample((_n(rng, 3), _n(rng, 3)), note="1d-1d"),
        Sample((_n(rng, 2, 3), _n(rng, 3)), note="2d-1d"),
        Sample((_n(rng, 3), _n(rng, 3, 4)), note="1d-2d"),
        Sample((_n(rng, 2, 3), _n(rng, 3, 4)), note="2d-2d"),
        Sample((_n(rng, 2, 2, 3), _n(rng, 2, 3, 4)), note="batched"),
        Sample((_n(rng, 2, 1, 2, 3), _n(rng, 3, 3, 2)), note="broadcast"),
        Sample((_n(rng, 2, 2, 3), _n(rng, 3, 4)), note="3d-2d"),
        Sample((_n(rng, 2, 3), _n(rng, 2, 3, 4)), note="2d-3d"),
        Sample((_n(rng, 3), _n(rng, 2, 3, 4)), note="1d-3d"),
        Sample((_n(rng, 2, 2, 3), _n(rng, 3)), note="3d-1d"),
        Sample((_n(rng, 1, 2, 3), _n(rng, 2, 3, 2)), note="batch1"),
        Sample((_n(rng, 3, 4), _n(rng, 4, 3)), noncontig=True),
        Sample((_n(rng, 0, 3), _n(rng, 3, 2)), note="empty"),
        Sample((_n(rng, 2, 0), _n(rng, 0, 2)), note="empty-k"),
        Sample((rng.integers(-3, 4, (2, 3)), rng.integers(-3, 4, (3, 2))), note="int"),
    ]


add(OpInfo("matmul", _matmul))
add(OpInfo("mm", lambda rng: [
    Sample((_n(rng, 2, 3), _n(rng, 3, 4))),
    Sample((_n(rng, 4, 3), _n(rng, 3, 4)), noncontig=True),
    Sample((_n(rng, 0, 3), _n(rng, 3, 4)), note="empty"),
], call=lambda lib, a, b: a.mm(b)))
add(OpInfo("bmm", lambda rng: [
    Sample((_n(rng, 2, 2, 3), _n(rng, 2, 3, 4))),
    Sample((_n(rng, 3, 3, 3), _n(rng, 3, 3, 2)), noncontig=True),
]))
add(OpInfo("mv", lambda rng: [
    Sample((_n(rng, 2, 3), _n(rng, 3))),
    Sample((_n(rng, 3, 3), _n(rng, 3)), noncontig=True),
]))
add(OpInfo("dot", lambda rng: [
    Sample((_n(rng, 4), _n(rng, 4))),
    Sample((_n(rng, 4), _n(rng, 4)), noncontig=True),
    Sample((np.zeros(0), np.zeros(0)), note="empty"),
], call=lambda lib, a, b: a.dot(b)))
add(OpInfo("outer", lambda rng: [
    Sample((_n(rng, 3), _n(rng, 4))),
    Sample((_n(rng, 3), _n(rng, 2)), noncontig=True),
    Sample((rng.integers(-3, 4, (3,)), _n(rng, 2)), note="promote"),
]))
add(OpInfo("addmm", lambda rng: [
    Sample((_n(rng, 2, 4), _n(rng, 2, 3), _n(rng, 3, 4))),
    Sample((_n(rng, 4), _n(rng, 2, 3), _n(rng, 3, 4)), {"beta": 0.5, "alpha": 2.0},
           note="broadcast"),
    Sample((_n(rng, 2, 1), _n(rng, 2, 3), _n(rng, 3, 4)), {"alpha": -1.0}, note="col"),
    Sample((_n(rng, 4, 4), _n(rng, 4, 3), _n(rng, 3, 4)), noncontig=True),
]))
add(OpInfo("baddbmm", lambda rng: [
    Sample((_n(rng, 2, 2, 4), _n(rng, 2, 2, 3), _n(rng, 2, 3, 4))),
    Sample((_n(rng, 4), _n(rng, 2, 2, 3), _n(rng, 2, 3, 4)), {"beta": 2.0, "alpha": 0.5},
           note="broadcast"),
]))


def _einsum(rng):
    return [
        Sample(("ij,jk->ik", _n(rng, 2, 3), _n(rng, 3, 4)), note="mm"),
        Sample(("ij,jk", _n(rng, 2, 3), _n(rng, 3, 4)), note="implicit"),
        Sample(("bij,bjk->bik", _n(rng, 2, 2, 3), _n(rng, 2, 3, 2)), note="bmm"),
        Sample(("i,j->ij", _n(rng, 3), _n(rng, 2)), note="outer"),
        Sample(("ii", _n(rng, 3, 3)), note="trace"),
        Sample(("ii->i", _n(rng, 3, 3)), note="diag"),
        Sample(("ij->", _n(rng, 2, 3)), note="sum"),
        Sample(("ij->ji", _n(rng, 2, 3)), note="transpose"),
        Sample(("ij->j", _n(rng, 2, 3)), note="colsum"),
        Sample(("ij,jk,kl->il", _n(rng, 2, 3), _n(rng, 3, 2), _n(rng, 2, 2)), note="chain"),
        Sample(("...ij,...jk->...ik", _n(rng, 2, 1, 2, 3), _n(rng, 3, 3, 2)), note="ellipsis"),
        Sample(("b...,b->...", _n(rng, 2, 3, 2), _n(rng, 2)), note="ellipsis-tail"),
        Sample(("ij,jk", _n(rng, 2, 1), _n(rng, 3, 4)), note="size1"),
        Sample(("ij,ij->i", _n(rng, 3, 4), _n(rng, 3, 4)), noncontig=True),
        Sample(("iij,jk->ik", _n(rng, 2, 2, 3), _n(rng, 3, 2)), note="diag-mixed"),
        Sample(("ij,kj->ik", _n(rng, 0, 3), _n(rng, 2, 3)), note="empty"),
        Sample(("Ab,bC", _n(rng, 2, 3), _n(rng, 3, 2)), note="upper"),
    ]


add(OpInfo("einsum", _einsum))


def _tri(rng):
    return [
        Sample((_n(rng, 3, 4),)),
        Sample((_n(rng, 4, 3),), {"diagonal": 1}),
        Sample((_n(rng, 2, 3, 3),), {"diagonal": -1}, note="batched"),
        Sample((_n(rng, 3, 3), 2), noncontig=True),
        Sample((_n(rng, 0, 3),), note="empty"),
    ]


add(OpInfo("tril", _tri))
add(OpInfo("triu", _tri, call=lambda lib, x, *a, **k: x.triu(*a, **k)))


# -- the SVD ---------------------------------------------------------------------------
# Singular vectors are unique only up to sign (per pair), and LAPACK builds need not
# agree on the sign: the calls below fix it (U's columns by their first row, Vh's rows
# by their first column), which is smooth wherever those entries are away from 0. So
# the samples are built with well-separated singular values (a finite, well-conditioned
# gradient) and sign anchors of at least 0.05 in size.

def _svd_input(rng, *shape, anchor=0.05):
    m, n = shape[-2:]
    k = min(m, n)
    s = np.linspace(3.0, 0.8, k) if k > 1 else np.full(k, 1.5)
    for _ in range(1000):
        q1 = np.linalg.qr(rng.standard_normal(shape[:-2] + (m, m)))[0]
        q2 = np.linalg.qr(rng.standard_normal(shape[:-2] + (n, n)))[0]
        a = (q1[..., :, :k] * s) @ np.swapaxes(q2[..., :, :k], -1, -2)
        if not a.size:
            return a
        u, _, vh = np.linalg.svd(a)
        if min(np.abs(u[..., 0, :]).min(), np.abs(vh[..., :, 0]).min()) > anchor:
            return a
    raise AssertionError("no well-anchored SVD sample found")


def _signs_fixed(u, s, vh):
    return u * u[..., :1, :].sign(), s, vh * vh[..., :, :1].sign()


def _old_svd(lib, a, *args, **kw):
    u, s, v = lib.svd(a, *args, **kw)       # V, not Vh: fix the signs by V's first row
    u, s, vh = _signs_fixed(u, s, v.mT)
    return u, s, vh.mT


def _svd_samples(rng):
    return [
        Sample((_svd_input(rng, 3, 3),), note="square"),
        Sample((_svd_input(rng, 4, 3),), {"full_matrices": False}, note="tall"),
        Sample((_svd_input(rng, 3, 5),), {"full_matrices": False}, note="wide"),
        Sample((_svd_input(rng, 2, 4, 3),), {"full_matrices": False}, note="batched"),
        Sample((_svd_input(rng, 2, 3, 3),), noncontig=True),
        Sample((_svd_input(rng, 1, 1),), note="1x1"),
        # full U (Vh) of a tall (wide) matrix: the extra column (row) is unique up to sign
        # when m, n differ by 1, so the forward compares; torch ignores its gradient
        # (no derivative exists), so there is no gradient to check
        Sample((_svd_input(rng, 4, 3),), grad=False, note="full-tall"),
        Sample((_svd_input(rng, 2, 3),), {"full_matrices": True}, grad=False, note="full-wide"),
        Sample((np.zeros((0, 3)),), {"full_matrices": False}, note="empty"),
        Sample((np.zeros((2, 0, 3)),), note="empty-full"),
    ]


add(OpInfo("linalg_svd", _svd_samples,
           call=lambda lib, a, **kw: _signs_fixed(*lib.linalg.svd(a, **kw))))
add(OpInfo("svd", lambda rng: [
    Sample((_svd_input(rng, 4, 3),), note="some"),
    Sample((_svd_input(rng, 2, 3, 4),), note="batched"),
    Sample((_svd_input(rng, 3, 3), False), note="full-square"),
    Sample((_svd_input(rng, 3, 4),), {"some": False}, grad=False, note="full-wide"),
    Sample((_svd_input(rng, 4, 3),), {"compute_uv": False}, note="no-uv"),
    Sample((_svd_input(rng, 3, 3),), noncontig=True),
], call=_old_svd))
add(OpInfo("linalg_svdvals", lambda rng: [
    Sample((_svd_input(rng, 3, 3),)),
    Sample((_svd_input(rng, 4, 2),), note="tall"),
    Sample((_svd_input(rng, 2, 5),), note="wide"),
    Sample((_svd_input(rng, 2, 3, 4),), note="batched"),
    Sample((_svd_input(rng, 4, 3),), noncontig=True),
    Sample((np.zeros((0, 3)),), note="empty"),
], call=lambda lib, a: lib.linalg.svdvals(a)))


add(OpInfo("diag", lambda rng: [
    Sample((_n(rng, 3),)),
    Sample((_n(rng, 3), 2), note="k2"),
    Sample((_n(rng, 3),), {"diagonal": -1}, note="k-1"),
    Sample((_n(rng, 3, 4),), noncontig=True),
    Sample((_n(rng, 3, 4), 1), note="mat-k1"),
    Sample((_n(rng, 4, 3), -2), note="mat-k-2"),
    Sample((_n(rng, 2, 3), 5), note="mat-off"),
    Sample((_n(rng, 0),), note="empty"),
    Sample((np.arange(6).reshape(2, 3),), note="int"),
]))
add(OpInfo("trace", lambda rng: [
    Sample((_n(rng, 3, 3),)),
    Sample((_n(rng, 2, 4),), noncontig=True),
    Sample((_n(rng, 0, 3),), note="empty"),
    Sample((np.arange(12).reshape(4, 3).astype(np.int32),), note="int32"),
], call=lambda lib, x: x.trace()))
add(OpInfo("kron", lambda rng: [
    Sample((_n(rng, 2, 3), _n(rng, 3, 2)), noncontig=True),
    Sample((_n(rng, 2), _n(rng, 3)), note="1d"),
    Sample((_n(rng, 2, 2), _n(rng, 3)), note="2d-1d"),
    Sample((_n(rng, 2, 1, 2), _n(rng, 2, 3)), note="3d-2d"),
    Sample((_n(rng), _n(rng, 2)), note="0dim"),
    Sample((np.arange(4).reshape(2, 2), _n(rng, 2, 2)), note="int-float"),
]))
add(OpInfo("cdist", lambda rng: [
    Sample((_n(rng, 3, 4), _n(rng, 5, 4))),
    Sample((_n(rng, 3, 4), _n(rng, 2, 4), 1.0), note="p1"),
    Sample((_n(rng, 3, 4), _n(rng, 2, 4)), {"p": 3.0}, note="p3"),
    Sample((_n(rng, 3, 4), _n(rng, 2, 4)), {"p": float("inf")}, note="inf"),
    Sample((_n(rng, 3, 4), _n(rng, 2, 4)), {"p": 0.0}, note="p0"),
    Sample((_n(rng, 2, 3, 4), _n(rng, 2, 5, 4)), note="batch", noncontig=True),
    Sample((_n(rng, 2, 3, 4), _n(rng, 5, 4)), note="bcast"),
    Sample((_n(rng, 0, 4), _n(rng, 2, 4)), note="empty"),
]))


# -- inverse, determinants, solve, Cholesky, QR, eigh, pinv (ops/linalg_decomp.py) -------
# Square inputs are kept well conditioned (a random matrix plus n I); symmetric inputs go
# through a symmetrising call (a @ a.mT + I for Cholesky, (a + a.mT) / 2 for eigh), since
# these routines read one triangle only while their gradients treat A as symmetric.

def _wellcond(rng, *shape):
    n = shape[-1]
    return rng.standard_normal(shape) + n * np.eye(n)


def _spd_call(fn):
    def call(lib, a, *args, **kw):
        return fn(lib, a @ a.mT + lib.eye(a.shape[-1], dtype=a.dtype), *args, **kw)
    return call


def _eigh_input(rng, *shape, anchor=0.05):
    n = shape[-1]
    for _ in range(1000):
        q = np.linalg.qr(rng.standard_normal(shape))[0]
        if np.abs(q[..., 0, :]).min() > anchor:
            return (q * np.linspace(-2.0, 3.0, n)) @ np.swapaxes(q, -1, -2)
    raise AssertionError("no well-anchored eigh sample found")


def _eigh_call(lib, a, *args, **kw):
    w, q = lib.linalg.eigh((a + a.mT) / 2, *args, **kw)
    return w, q * q[..., :1, :].sign()


def _qr_call(lib, a, mode="reduced"):
    q, r = lib.linalg.qr(a, mode=mode)
    if mode == "r":
        return r.abs()
    k = min(r.shape[-2:])
    d = r.diagonal(dim1=-2, dim2=-1)[..., :k].sign()
    return q.narrow(-1, 0, k) * d.unsqueeze(-2), r.narrow(-2, 0, k) * d.unsqueeze(-1)


def _sign_detached(res):
    # torch's sign carries a (zero) gradient; pyrch's takes none, as a non-differentiable output
    return res.sign.detach(), res.logabsdet


def _square_samples(rng):
    return [
        Sample((_wellcond(rng, 3, 3),)),
        Sample((_wellcond(rng, 2, 4, 4),), note="batched"),
        Sample((_wellcond(rng, 3, 3),), noncontig=True),
        Sample((_wellcond(rng, 1, 1),), note="1x1"),
    ]


add(OpInfo("linalg_inv_ex", _square_samples, call=lambda lib, a: lib.linalg.inv_ex(a),
           atol=1e-4))
add(OpInfo("inverse", _square_samples, call=lambda lib, a: a.inverse(), atol=1e-4))
add(OpInfo("linalg_det", lambda rng: _square_samples(rng) + [
    Sample((rng.standard_normal((2, 3, 3)),), note="signs"),
], call=lambda lib, a: lib.linalg.det(a), atol=1e-4, rtol=1e-5))
add(OpInfo("det", _square_samples, call=lambda lib, a: a.det(), atol=1e-4, rtol=1e-5))
add(OpInfo("linalg_slogdet", lambda rng: _square_samples(rng) + [
    Sample((rng.standard_normal((2, 3, 3)),), note="signs"),
], call=lambda lib, a: _sign_detached(lib.linalg.slogdet(a)), atol=1e-4))
add(OpInfo("slogdet", _square_samples, call=lambda lib, a: _sign_detached(a.slogdet()), atol=1e-4))
add(OpInfo("logdet", lambda rng: [
    Sample((_wellcond(rng, 3, 3),)),
    Sample((_wellcond(rng, 2, 3, 3),), note="batched"),
], call=_spd_call(lambda lib, a: a.logdet()), atol=1e-4))
add(OpInfo("linalg_solve", lambda rng: [
    Sample((_wellcond(rng, 3, 3), rng.standard_normal((3, 2)))),
    Sample((_wellcond(rng, 3, 3), rng.standard_normal(3)), note="vector"),
    Sample((_wellcond(rng, 2, 3, 3), rng.standard_normal((2, 3))), note="batched-vector"),
    Sample((_wellcond(rng, 2, 3, 3), rng.standard_normal((4, 1, 3, 2))), note="broadcast"),
    Sample((_wellcond(rng, 3, 3), rng.standard_normal((2, 3))), {"left": False}, note="right"),
    Sample((_wellcond(rng, 3, 3), rng.standard_normal((3, 3))), noncontig=True),
], call=lambda lib, a, b, **kw: lib.linalg.solve(a, b, **kw), atol=1e-4))
add(OpInfo("linalg_cholesky", lambda rng: [
    Sample((rng.standard_normal((3, 3)),)),
    Sample((rng.standard_normal((2, 4, 4)),), {"upper": True}, note="batched-upper"),
    Sample((rng.standard_normal((3, 3)),), noncontig=True),
], call=_spd_call(lambda lib, a, **kw: lib.linalg.cholesky(a, **kw)), atol=1e-4))
add(OpInfo("cholesky", lambda rng: [
    Sample((rng.standard_normal((3, 3)),)),
    Sample((rng.standard_normal((2, 3, 3)), True), note="upper"),
], call=_spd_call(lambda lib, a, *args: a.cholesky(*args)), atol=1e-4))
add(OpInfo("linalg_qr", lambda rng: [
    Sample((rng.standard_normal((4, 3)),), note="tall"),
    Sample((rng.standard_normal((3, 5)),), note="wide"),
    Sample((rng.standard_normal((2, 3, 3)),), note="batched"),
    Sample((rng.standard_normal((3, 3)),), {"mode": "complete"}, note="complete-square"),
    Sample((rng.standard_normal((2, 4)),), {"mode": "complete"}, note="complete-wide"),
    # the extra columns of a complete Q have no derivative (torch raises), nor has mode='r'
    Sample((rng.standard_normal((4, 3)),), {"mode": "complete"}, grad=False, note="complete-tall"),
    Sample((rng.standard_normal((4, 3)),), {"mode": "r"}, grad=False, note="r"),
    Sample((rng.standard_normal((4, 3)),), noncontig=True),
], call=_qr_call, atol=1e-4))
add(OpInfo("linalg_eigh", lambda rng: [
    Sample((_eigh_input(rng, 3, 3),)),
    Sample((_eigh_input(rng, 2, 4, 4),), {"UPLO": "U"}, note="batched-upper"),
    Sample((_eigh_input(rng, 3, 3),), noncontig=True),
], call=_eigh_call, atol=1e-4))
add(OpInfo("linalg_eigvalsh", lambda rng: [
    Sample((_eigh_input(rng, 3, 3),)),
    Sample((_eigh_input(rng, 2, 4, 4),), {"UPLO": "U"}, note="batched-upper"),
    Sample((_eigh_input(rng, 3, 3),), noncontig=True),
], call=lambda lib, a, **kw: lib.linalg.eigvalsh((a + a.mT) / 2, **kw), atol=1e-4))
add(OpInfo("linalg_pinv", lambda rng: [
    Sample((_svd_input(rng, 4, 3),), note="tall"),
    Sample((_svd_input(rng, 2, 5),), note="wide"),
    Sample((_svd_input(rng, 2, 3, 3),), noncontig=True),
    Sample((_svd_input(rng, 3, 4),), {"rtol": 0.1}, note="rtol"),
    Sample((np.zeros((0, 3)),), note="empty"),
], call=lambda lib, a, **kw: lib.linalg.pinv(a, **kw), atol=1e-4))
add(OpInfo("pinverse", lambda rng: [
    Sample((_svd_input(rng, 4, 3),)),
    Sample((_svd_input(rng, 2, 3, 2),), {"rcond": 1e-10}, note="batched"),
], call=lambda lib, a, **kw: a.pinverse(**kw), atol=1e-4))
add(OpInfo("matrix_power", lambda rng: [
    Sample((_wellcond(rng, 3, 3) / 3, 3)),
    Sample((_wellcond(rng, 2, 3, 3) / 3, 2), note="batched"),
    Sample((_wellcond(rng, 3, 3) / 3, -2), note="negative"),
    Sample((_wellcond(rng, 3, 3), 0), note="zero"),
    Sample((_wellcond(rng, 3, 3) / 3, 1), noncontig=True),
    Sample((rng.integers(-3, 4, (3, 3)), 3), note="int"),
], call=lambda lib, a, n: a.matrix_power(n), atol=1e-4))
add(OpInfo("cross", lambda rng: [
    Sample((_n(rng, 4, 3), _n(rng, 4, 3)), {"dim": 1}),
    Sample((_n(rng, 3, 2), _n(rng, 3, 2)), {"dim": 0}, note="dim0"),
    Sample((_n(rng, 2, 1, 3), _n(rng, 1, 4, 3)), {"dim": -1}, note="broadcast"),
    Sample((_n(rng, 3, 3), _n(rng, 3, 3)), {"dim": 0}, noncontig=True),
]))
add(OpInfo("matrix_exp", lambda rng: [
    Sample((_n(rng, 3, 3),)),
    Sample((_n(rng, 2, 4, 4) * np.array([0.01, 3.0])[:, None, None],), note="batched-scales"),
    Sample((_n(rng, 3, 3) * 8,), note="squared"),
    Sample((_n(rng, 3, 3),), noncontig=True),
    Sample((_n(rng, 1, 1),), note="1x1"),
    Sample((np.zeros((0, 0)),), note="empty"),
], atol=1e-4, rtol=1e-5))
