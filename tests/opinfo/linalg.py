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
