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
