"""Tensor repr matches PyTorch's character for character ('torch.' -> 'pyrch.')."""
import numpy as np
import pytest

import pyrch
from conftest import HAVE_TORCH

_R = np.random.default_rng(7)

# (name, numpy array) -- the same numbers are printed by both libraries
CASES = [
    ("ints_f", np.array([1.0, 2.0, 3.0], np.float32)),
    ("frac", np.array([1.5, -2.25, 3.0], np.float32)),
    ("third", np.array([1 / 3, 2 / 3], np.float64)),
    ("zero_dim", np.array(3.0, np.float32)),
    ("zero_dim_frac", np.array(-0.125, np.float32)),
    ("zero_dim_int", np.array(7, np.int64)),
    ("zero_dim_bool", np.array(True)),
    ("sci_small", np.array([1e-5, 1.0], np.float32)),
    ("sci_big", np.array([1e9, 1.0], np.float32)),
    ("sci_ratio", np.array([0.001, 2.0], np.float32)),
    ("int_sci", np.array([1.0, 10000.0], np.float32)),
    ("int_big", np.array([123456789.0, 3.0], np.float64)),
    ("nan_inf", np.array([np.nan, np.inf, -np.inf, 1.5], np.float32)),
    ("nan_int", np.array([np.nan, 2.0], np.float32)),
    ("all_nan", np.array([np.nan, np.nan], np.float32)),
    ("zeros", np.zeros((2, 3), np.float32)),
    ("neg_zero", np.array([-0.0, 1.0], np.float32)),
    ("randn_2d", _R.standard_normal((4, 5)).astype(np.float32)),
    ("randn_3d", _R.standard_normal((2, 3, 4)).astype(np.float32)),
    ("randn_4d", _R.standard_normal((2, 2, 2, 3)).astype(np.float64)),
    ("wrap", _R.standard_normal(30).astype(np.float32)),
    ("wrap_2d", _R.standard_normal((3, 25)).astype(np.float32) * 100),
    ("long_ints", np.arange(40, dtype=np.int64) * 1000),
    ("ints", np.array([[1, -2], [300, 4]], np.int64)),
    ("int32", np.array([1, 2], np.int32)),
    ("uint8", np.array([0, 255], np.uint8)),
    ("int8", np.array([-128, 5], np.int8)),
    ("int16", np.array([[1], [2]], np.int16)),
    ("bool", np.array([True, False, True])),
    ("bool_2d", np.array([[True, False], [False, True]])),
    ("f64", np.array([1.0, 2.5], np.float64)),
    ("f16", np.array([1.0, 2.5, 0.1], np.float16)),
    ("f64_ints", np.array([1.0, 2.0], np.float64)),
    ("summ_1d", np.arange(2000, dtype=np.float32) / 7),
    ("summ_ints", np.arange(2000, dtype=np.int64)),
    ("summ_2d", _R.standard_normal((50, 50)).astype(np.float32)),
    ("summ_3d", _R.standard_normal((10, 10, 11)).astype(np.float64)),
    ("summ_rows", _R.standard_normal((1001, 2)).astype(np.float32)),
    ("summ_sci", np.logspace(-6, 6, 1200).astype(np.float32)),
    ("empty", np.zeros(0, np.float32)),
    ("empty_2d", np.zeros((0, 3), np.float32)),
    ("empty_int", np.zeros(0, np.int64)),
    ("empty_f64", np.zeros((2, 0), np.float64)),
    ("big_mixed", np.array([1e3, 1e-3, 5.0], np.float64)),
    ("large_vals", np.array([12345.678, 0.5], np.float32)),
]


def _torch_repr(torch, arr, **kw):
    t = torch.from_numpy(arr.copy())
    if kw.get("requires_grad"):
        t.requires_grad_(True)
    return repr(t).replace("torch.", "pyrch.")


@pytest.mark.parametrize("name,arr", CASES, ids=[c[0] for c in CASES])
def test_repr_matches_torch(name, arr, torch_or_skip):
    assert repr(pyrch.from_numpy(arr.copy())) == _torch_repr(torch_or_skip, arr)


@pytest.mark.parametrize("name,arr", [c for c in CASES if c[1].dtype.kind == "f" and c[1].size],
                         ids=[c[0] for c in CASES if c[1].dtype.kind == "f" and c[1].size])
def test_repr_requires_grad_matches_torch(name, arr, torch_or_skip):
    torch = torch_or_skip
    a = pyrch.from_numpy(arr.copy()).requires_grad_(True)
    t = torch.from_numpy(arr.copy()).requires_grad_(True)
    assert repr(a) == repr(t).replace("torch.", "pyrch.")
    assert repr(a * 2) == repr(t * 2).replace("torch.", "pyrch.")


def test_repr_grad_fn_suffix_wraps(torch_or_skip):
    torch = torch_or_skip
    arr = _R.standard_normal((3, 7)).astype(np.float64)
    a = pyrch.tensor(arr, requires_grad=True) * 3
    t = torch.tensor(arr, requires_grad=True) * 3
    assert repr(a) == repr(t).replace("torch.", "pyrch.")


@pytest.mark.parametrize("opts", [dict(precision=2), dict(sci_mode=True), dict(sci_mode=False),
                                  dict(linewidth=40), dict(threshold=5, edgeitems=2),
                                  dict(profile="short")])
def test_printoptions_match_torch(opts, torch_or_skip):
    torch = torch_or_skip
    arrs = [np.array([1e-5, 1.0, 123.25], np.float32), _R.standard_normal((6, 7)).astype(np.float32),
            np.arange(12, dtype=np.int64)]
    try:
        pyrch.set_printoptions(**opts)
        torch.set_printoptions(**opts)
        for arr in arrs:
            assert repr(pyrch.from_numpy(arr.copy())) == _torch_repr(torch, arr)
    finally:
        pyrch.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")


def test_repr_default_dtype_change(torch_or_skip):
    torch = torch_or_skip
    arr32, arr64 = np.array([1.5], np.float32), np.array([1.5], np.float64)
    try:
        pyrch.set_default_dtype(pyrch.float64)
        torch.set_default_dtype(torch.float64)
        for arr in (arr32, arr64, np.zeros(0, np.float64), np.zeros(0, np.float32)):
            assert repr(pyrch.from_numpy(arr.copy())) == _torch_repr(torch, arr)
    finally:
        pyrch.set_default_dtype(pyrch.float32)
        torch.set_default_dtype(torch.float32)


# Golden strings, so the format is pinned even where PyTorch is not installed.
GOLDEN = [
    (lambda: pyrch.tensor([1.0, 2.0]), "tensor([1., 2.])"),
    (lambda: pyrch.tensor(3.0), "tensor(3.)"),
    (lambda: pyrch.tensor([1.5, 2.0]), "tensor([1.5000, 2.0000])"),
    (lambda: pyrch.tensor([1e-5, 1.0]), "tensor([1.0000e-05, 1.0000e+00])"),
    (lambda: pyrch.tensor([1, 2], dtype=pyrch.int32), "tensor([1, 2], dtype=pyrch.int32)"),
    (lambda: pyrch.tensor([True, False]), "tensor([ True, False])"),
    (lambda: pyrch.zeros(0, 3), "tensor([], size=(0, 3))"),
    (lambda: pyrch.zeros(0, dtype=pyrch.int64), "tensor([], dtype=pyrch.int64)"),
    (lambda: pyrch.tensor([1.0, 2.0], requires_grad=True), "tensor([1., 2.], requires_grad=True)"),
    (lambda: pyrch.tensor([1.0, 2.0], requires_grad=True) * 2, "tensor([2., 4.], grad_fn=<MulBackward0>)"),
    (lambda: pyrch.tensor([[1.0, 2.0], [3.0, 4.0]]), "tensor([[1., 2.],\n        [3., 4.]])"),
    (lambda: pyrch.arange(2000), "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"),
    (lambda: pyrch.tensor([float("nan"), 1.5]), "tensor([   nan, 1.5000])"),
]


@pytest.mark.parametrize("make,expected", GOLDEN, ids=[g[1][:30] for g in GOLDEN])
def test_repr_golden(make, expected):
    assert repr(make()) == expected
    assert str(make()) == expected
