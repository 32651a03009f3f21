"""Elementwise behaviour the generated op tests don't cover: in-place variants,
operators, dtype errors, torch's kinks and ties."""
import warnings

import numpy as np
import pytest

import pyrch


def test_inplace_methods_write_through():
    x = pyrch.tensor([1.0, -2.0, 3.0])
    keep = x
    x.mul_(2)
    x.add_(pyrch.tensor([1.0, 1.0, 1.0]), alpha=2)
    x.sub_(1, alpha=3)
    assert keep is x
    np.testing.assert_allclose(x.numpy(), [1.0, -5.0, 5.0])
    x.clamp_(0, 1)
    np.testing.assert_allclose(x.numpy(), [1.0, 0.0, 1.0])
    x = pyrch.tensor([-1.0, 0.5, 3.0])
    x.clamp_(min=0)
    np.testing.assert_allclose(x.numpy(), [0.0, 0.5, 3.0])
    x.clamp_(max=pyrch.tensor([1.0, 0.25, 2.0]))
    np.testing.assert_allclose(x.numpy(), [0.0, 0.25, 2.0])
    x.exp_().log_()
    np.testing.assert_allclose(x.numpy(), [0.0, 0.25, 2.0], rtol=1e-6)
    r = pyrch.tensor([0.25, 0.5, 1.5])
    r.round_(decimals=1)
    np.testing.assert_allclose(r.numpy(), [0.2, 0.5, 1.5])   # 0.25 rounds half to even
    r.round_()
    assert r.tolist() == [0.0, 0.0, 2.0]


def test_inplace_operators():
    x = pyrch.tensor([1.0, 2.0])
    view = x[:]
    x += pyrch.tensor([1.0, 1.0])
    x *= 3
    x -= 1
    x /= 2
    np.testing.assert_allclose(x.numpy(), [2.5, 4.0])
    np.testing.assert_allclose(view.numpy(), [2.5, 4.0])
    i = pyrch.tensor([7, -7])
    i //= 2
    assert i.tolist() == [3, -4] and i.dtype is pyrch.int64
    i %= 3
    assert i.tolist() == [0, 2]
    b = pyrch.tensor([5, 6])
    b &= 4
    b |= 1
    b ^= 2
    assert b.tolist() == [7, 7]


def test_inplace_int_tensor_rejects_float_result():
    i = pyrch.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        i.add_(1.5)
    with pytest.raises(RuntimeError, match="result type Float can't be cast"):
        i.div_(2)
    with pytest.raises(RuntimeError, match="result type Float can't be cast"):
        i += 0.5
    assert i.tolist() == [1, 2, 3]
    i.mul_(2)        # int result: fine
    assert i.tolist() == [2, 4, 6]


def test_activation_inplace_flags():
    x = pyrch.tensor([-1.0, 2.0])
    out = pyrch.relu(x, inplace=True)
    assert out is x and x.tolist() == [0.0, 2.0]
    y = pyrch.tensor([-1.0, 2.0])
    pyrch.leaky_relu(y, 0.5, inplace=True)
    assert y.tolist() == [-0.5, 2.0]
    z = pyrch.tensor([-1.0, 2.0]).relu_()
    assert z.tolist() == [0.0, 2.0]


def test_inplace_autograd():
    w = pyrch.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    y = w * 2
    y.clamp_(min=0, max=3)
    y.mul_(y)
    y.sum().backward()
    # y = clamp(2w)^2 -> grad 2*clamp(2w)*2 inside, 0 outside
    np.testing.assert_allclose(w.grad.numpy(), [0.0, 4.0, 0.0])
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w.add_(1)


def test_true_division():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = pyrch.tensor([1.0, -1.0, 0.0]) / 0
        assert out[0].item() == float("inf") and out[1].item() == float("-inf")
        assert np.isnan(out[2].item())
    q = pyrch.tensor([5, -5]) / pyrch.tensor([2, 2])
    assert q.dtype is pyrch.float32 and q.tolist() == [2.5, -2.5]


def test_integer_semantics():
    a, b = pyrch.tensor([5, -5, 7, -7]), pyrch.tensor([3, 3, -3, -3])
    assert (a // b).tolist() == [1, -2, -3, 2]
    assert (a % b).tolist() == [2, 1, -2, -1]
    assert pyrch.fmod(a, b).tolist() == [2, -2, 1, -1]
    assert pyrch.div(a, b, rounding_mode="trunc").tolist() == [1, -1, -2, 2]
    assert (pyrch.tensor([1, 2]) + 1.5).dtype is pyrch.float32
    assert (pyrch.tensor([1, 2]) < 1.5).tolist() == [True, False]
    assert (2 ** pyrch.tensor([1, 3])).tolist() == [2, 8]
    assert pyrch.exp(pyrch.tensor([0])).dtype is pyrch.float32
    assert pyrch.floor(pyrch.tensor([3])).dtype is pyrch.int64


def test_operators_and_reflected():
    x = pyrch.tensor([1.0, 2.0])
    assert (1 - x).tolist() == [0.0, -1.0]
    assert (2 / x).tolist() == [2.0, 1.0]
    assert (3 % x).tolist() == [0.0, 1.0]
    assert (-x).tolist() == [-1.0, -2.0] and (+x).tolist() == [1.0, 2.0]
    assert abs(-x).tolist() == [1.0, 2.0]
    assert (~pyrch.tensor([True, False])).tolist() == [False, True]
    assert (pyrch.tensor([1]) << 3).tolist() == [8]


def test_where_condition_must_be_bool():
    with pytest.raises(RuntimeError, match="where expected condition to be a boolean tensor"):
        pyrch.where(pyrch.tensor([1.0]), pyrch.tensor([1.0]), 0.0)


@pytest.mark.parametrize("scalar", [0.0, -2, 1e40, float("nan")])
def test_where_against_a_number_on_big_float32_arrays(scalar):
    """Large float32 selects against a Python number run in C; the result is numpy's
    (the number as float32: 1e40 becomes inf), in either branch, NaN kept."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 70)).astype(np.float32)
    x[5, 5] = np.nan
    c = x > 0.2
    for got, want in [(pyrch.where(pyrch.tensor(c), pyrch.tensor(x), scalar),
                       np.where(c, x, np.float32(scalar))),
                      (pyrch.where(pyrch.tensor(c), scalar, pyrch.tensor(x)),
                       np.where(c, np.float32(scalar), x))]:
        assert got.dtype == pyrch.float32
        np.testing.assert_array_equal(got.numpy(), want)


def test_clamp_needs_a_bound():
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max' must not be None"):
        pyrch.clamp(pyrch.tensor([1.0]))


def test_bitwise_on_float_raises():
    with pytest.raises(RuntimeError, match="not implemented for 'Float'"):
        pyrch.tensor([1.0]) & pyrch.tensor([1.0])


def test_kinks_match_torch(torch_or_skip):
    torch = torch_or_skip
    cases = [
        (lambda m, x: m.relu(x), [0.0, -1.0, 2.0]),
        (lambda m, x: m.abs(x), [0.0, -1.0, 2.0]),
        (lambda m, x: m.clamp(x, 0.0, 1.0), [0.0, 1.0, 0.5, 2.0]),
        (lambda m, x: m.nn.functional.hardtanh(x) if m is torch else m.hardtanh(x), [-1.0, 1.0, 0.0]),
        (lambda m, x: m.nn.functional.leaky_relu(x, 0.1) if m is torch else m.leaky_relu(x, 0.1),
         [0.0, -1.0]),
        (lambda m, x: m.sinc(x), [0.0, 0.5]),
        (lambda m, x: m.maximum(x, m.tensor([0.0, 1.0, 0.0], dtype=x.dtype)), [0.0, 1.0, 2.0]),
        (lambda m, x: m.minimum(x, m.tensor([0.0, 1.0, 0.0], dtype=x.dtype)), [0.0, 1.0, 2.0]),
        (lambda m, x: x ** 0.0 + m.pow(x, 2.0), [0.0, 1.0]),
        (lambda m, x: m.pow(x, m.tensor([0.0, 2.0], dtype=x.dtype)), [0.0, 0.0]),
        (lambda m, x: m.xlogy(x, m.tensor([0.0, 2.0], dtype=x.dtype)), [0.0, 0.0]),
        (lambda m, x: m.sign(x) + m.floor(x) + m.round(x), [0.5, -1.0]),
    ]
    for f, vals in cases:
        x = pyrch.tensor(vals, dtype=pyrch.float64, requires_grad=True)
        tx = torch.tensor(vals, dtype=torch.float64, requires_grad=True)
        f(pyrch, x).sum().backward()
        f(torch, tx).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), err_msg=str(vals))


def test_maximum_ties_split_gradient():
    a = pyrch.tensor([1.0, 2.0], requires_grad=True)
    b = pyrch.tensor([1.0, 1.0], requires_grad=True)
    pyrch.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5, 1.0] and b.grad.tolist() == [0.5, 0.0]


def test_scipy_backed_ops_keep_dtype():
    x = pyrch.tensor([0.1, 0.5], dtype=pyrch.float32)
    for f in (pyrch.erf, pyrch.erfc, pyrch.erfinv, pyrch.sigmoid, pyrch.gelu):
        assert f(x).dtype is pyrch.float32
    assert pyrch.xlogy(x, x).dtype is pyrch.float32

