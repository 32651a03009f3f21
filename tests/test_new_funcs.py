"""repeat_interleave with tensor repeats (data-dependent sizes, so not in the traced OpInfo
table), and torch's errors for bad input to the functions added with it."""
import numpy as np
import pytest

import pyrch

torch = pytest.importorskip("torch")


from torch_compare import both  # noqa: E402


def _both(fn):
    both(fn, tol=1e-7)


@pytest.mark.parametrize("case", [
    lambda L: L.repeat_interleave(L.tensor([[1., 2.], [3., 4.], [5., 6.]]), L.tensor([1, 0, 2]), dim=0),
    lambda L: L.repeat_interleave(L.tensor([[1, 2, 3]]), L.tensor([2, 1, 3]), dim=-1),
    lambda L: L.repeat_interleave(L.tensor([[1, 2], [3, 4]]), L.tensor([2])),
    lambda L: L.repeat_interleave(L.tensor([1, 2]), L.tensor(3), dim=0),
    lambda L: L.repeat_interleave(L.tensor([2, 0, 1])),
    lambda L: L.repeat_interleave(L.tensor([1, 2]), L.tensor([1, 2]), dim=0, output_size=3),
    lambda L: L.repeat_interleave(L.tensor([1, 2, 3]), L.tensor([0, 0, 0])),
], ids=["dim0", "neg", "single", "0dim", "one-arg", "output_size", "all-zero"])
def test_repeat_interleave_tensor_repeats(case):
    _both(case)


def test_repeat_interleave_tensor_repeats_grad():
    x = pyrch.tensor(np.random.default_rng(0).standard_normal((3, 2)), requires_grad=True)
    r = pyrch.tensor([2, 0, 3])
    assert pyrch.autograd.gradcheck(lambda t: pyrch.repeat_interleave(t, r, dim=0), [x])
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    pyrch.repeat_interleave(x, r, dim=0).sum().backward()
    torch.repeat_interleave(tx, torch.tensor([2, 0, 3]), dim=0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


ERRORS = {
    "ri-size": lambda L: L.repeat_interleave(L.tensor([[1, 2], [3, 4]]), L.tensor([1, 2, 3]), dim=0),
    "ri-neg": lambda L: L.repeat_interleave(L.tensor([1, 2]), L.tensor([-1, 2]), dim=0),
    "ri-neg-int": lambda L: L.repeat_interleave(L.tensor([1, 2]), -1),
    "ri-2d": lambda L: L.repeat_interleave(L.tensor([1, 2]), L.tensor([[1, 2]]), dim=0),
    "ri-float": lambda L: L.repeat_interleave(L.tensor([1, 2]), L.tensor([1., 2.]), dim=0),
    "ri-one-2d": lambda L: L.repeat_interleave(L.tensor([[1, 2]])),
    "ri-dim": lambda L: L.repeat_interleave(L.tensor([1, 2]), 2, dim=3),
    "ri-outsize": lambda L: L.repeat_interleave(L.tensor([1, 2]), L.tensor([1, 2]), dim=0, output_size=4),
    "diff-0d": lambda L: L.diff(L.tensor(1.)),
    "diff-n": lambda L: L.diff(L.tensor([1., 2.]), n=-1),
    "diff-pre": lambda L: L.diff(L.tensor([1., 2.]), prepend=L.tensor([[1.]])),
    "addcdiv-int": lambda L: L.addcdiv(L.tensor([1., 2.]), L.tensor([1, 2]), L.tensor([1, 2])),
    "diag-3d": lambda L: L.diag(L.zeros(2, 2, 2)),
    "diag-0d": lambda L: L.diag(L.zeros(())),
    "trace-1d": lambda L: L.trace(L.zeros(3)),
    "trace-bool": lambda L: L.trace(L.ones(2, 3, dtype=L.bool)),
    "mesh-dtype": lambda L: L.meshgrid(L.zeros(2), L.zeros(3, dtype=L.int64), indexing="ij"),
    "mesh-indexing": lambda L: L.meshgrid(L.zeros(2), L.zeros(3), indexing="foo"),
    "mesh-empty": lambda L: L.meshgrid(indexing="ij"),
    "mesh-list": lambda L: L.meshgrid([L.arange(2), L.arange(3)], indexing="xy"),
    "tril-row": lambda L: L.tril_indices(-1, 4),
    "triu-col": lambda L: L.triu_indices(3, -4),
    "tril-dtype": lambda L: L.tril_indices(3, 3, dtype=L.int32),
    "isin-scalar": lambda L: L.isin(2, L.tensor([1, 2])),
    "isin-mixed": lambda L: L.isin(L.tensor([1., 2.5]), L.tensor([1, 2])),
    "bc-neg": lambda L: L.bincount(L.tensor([1, -1])),
    "bc-2d": lambda L: L.bincount(L.tensor([[1]])),
    "bc-float": lambda L: L.bincount(L.tensor([1.])),
    "bc-weights": lambda L: L.bincount(L.tensor([1, 2]), weights=L.tensor([1., 2., 3.])),
    "bc-minlength": lambda L: L.bincount(L.tensor([1, 2]), minlength=-1),
    "bc-f32": lambda L: L.bincount(L.tensor([1, 2]), weights=L.tensor([1., 2.], dtype=L.float32)),
    "med-empty": lambda L: L.median(L.tensor([])),
    "med-empty-dim": lambda L: L.median(L.zeros(0, 3), 0),
    "med-nan": lambda L: L.median(L.tensor([1., float("nan"), 0.])),
    "med-bool": lambda L: L.median(L.tensor([True, False])),
    "med-nan-rows": lambda L: L.median(L.tensor([[1., float("nan"), 0., float("nan")], [3., 1., 2., 0.]]), 1),
    "amm-empty": lambda L: L.aminmax(L.tensor([])),
    "amm-empty-dim": lambda L: L.aminmax(L.zeros(0, 3), dim=0),
    "amm-bool": lambda L: L.aminmax(L.tensor([True, False])),
    "cdist-1d": lambda L: L.cdist(L.zeros(3), L.zeros(3)),
    "cdist-cols": lambda L: L.cdist(L.zeros(2, 3), L.zeros(2, 4)),
    "cdist-p": lambda L: L.cdist(L.zeros(2, 3), L.zeros(2, 3), p=-1),
    "cdist-int": lambda L: L.cdist(L.zeros(2, 3, dtype=L.int64), L.zeros(2, 3)),
    "cdist-mixed": lambda L: L.cdist(L.zeros(2, 3), L.zeros(2, 3, dtype=L.float64)),
    "uc-dim": lambda L: L.unique_consecutive(L.tensor([1, 1, 2]), dim=3),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_matches_torch_including_errors(name):
    _both(ERRORS[name])


def test_meshgrid_rejects_2d():
    # torch prints the tensor in its C++ style after this prefix
    with pytest.raises(RuntimeError, match="^torch.meshgrid: Expected 0D or 1D tensor in the tensor list "
                                           "but got: "):
        pyrch.meshgrid(pyrch.zeros(3), pyrch.zeros(2, 2), indexing="ij")


def test_meshgrid_warns_without_indexing():
    with pytest.warns(UserWarning, match="indexing argument"):
        out = pyrch.meshgrid(pyrch.arange(2), pyrch.arange(3))
    assert tuple(out[0].shape) == (2, 3)


def test_methods_exist():
    x = pyrch.tensor([[1., 2.], [3., 4.]])
    assert x.trace().item() == 5.0
    assert x.diag().tolist() == [1.0, 4.0]
    assert x.kron(pyrch.ones(1)).shape == (2, 2)
    assert x.median().item() == 2.0
    assert tuple(x.aminmax(dim=0).max.tolist()) == (3.0, 4.0)
    assert x.addcmul(x, x, value=2).tolist() == [[3.0, 10.0], [21.0, 36.0]]
    assert pyrch.tensor([0, 0, 3]).bincount().tolist() == [2, 0, 0, 1]
    assert not hasattr(x, "meshgrid") and not hasattr(x, "cdist")
