"""Everyday PyTorch habits (from an audit of pyrch against torch 2.13) that once failed."""
import numpy as np
import pytest

import pyrch
import pyrch.nn as nn


def test_torch_habits_numpy_operands_none_comparisons_where_and_whole_tensor_checks():
    x = pyrch.ones(2)
    y = x * np.array([2.0, 3.0])            # a numpy operand is taken as a tensor (torch does)
    assert y.dtype is pyrch.float64 and y.tolist() == [2.0, 3.0]
    assert (np.array([2.0, 3.0]) * x).tolist() == [2.0, 3.0]
    assert (x == None) is False and (x != None) is True        # noqa: E711 - the habit under test
    rows, cols = pyrch.where(pyrch.tensor([[True, False], [False, True]]))
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1]
    assert pyrch.equal(x, pyrch.ones(2)) and not pyrch.equal(x, pyrch.ones(3))
    assert pyrch.is_tensor(x) and pyrch.is_floating_point(x) and pyrch.numel(x) == 2
    assert pyrch.tensor([1, 2], dtype=float).dtype is pyrch.float64       # Python float: double
    w = pyrch.tensor([1.5], requires_grad=True)
    assert not w.long().float().requires_grad           # integer results cut the graph


def test_reassigning_a_submodule_or_parameter_keeps_its_place():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 4))
    m[0] = nn.Linear(2, 3)
    m[1] = nn.Sigmoid()
    assert [type(c).__name__ for c in m] == ["Linear", "Sigmoid", "Linear"]
    assert tuple(m(pyrch.ones(1, 2)).shape) == (1, 4)
    lin = nn.Linear(2, 2)
    lin.weight = nn.Parameter(pyrch.ones(2, 2))
    assert list(lin.state_dict()) == ["weight", "bias"]


def test_grad_mode_decorators_hold_inside_generators():
    x = pyrch.ones(2, requires_grad=True)

    @pyrch.no_grad()
    def stream():
        got = yield (x * 2).requires_grad
        yield got, (x * 3).requires_grad
        return "done"
    it = stream()
    assert next(it) is False
    assert (x * 2).requires_grad            # the caller's mode is back between resumes
    assert it.send(5) == (5, False)
    try:
        next(it)
    except StopIteration as stop:
        assert stop.value == "done"

    @pyrch.enable_grad()
    def grads():
        yield (x * 2).requires_grad
    with pyrch.no_grad():
        assert next(grads()) is True


def test_torchs_keyword_spellings():
    x = pyrch.ones(2, 3)
    assert x.sum(axis=1).tolist() == [3.0, 3.0] and tuple(x.mean(0, keepdims=True).shape) == (1, 3)
    assert tuple(x.permute(dims=(1, 0)).shape) == (3, 2) and tuple(x.reshape(shape=(3, 2)).shape) == (3, 2)
    assert tuple(x.repeat(repeats=(1, 2)).shape) == (2, 6) and x.flip(dims=(1,)).shape == x.shape
    assert tuple(pyrch.cat([x, x], axis=0).shape) == (4, 3)
    assert tuple(pyrch.ones(size=(2, 3)).shape) == (2, 3) and pyrch.arange(end=3).tolist() == [0, 1, 2]
    assert pyrch.softmax(x, 1, dtype=pyrch.float64).dtype is pyrch.float64


def test_bad_input_raises_torchs_errors_where_numpy_would_answer():
    import pytest
    F = pyrch.nn.functional
    cases = [(lambda: pyrch.tensor([1]) // pyrch.tensor([0]), "ZeroDivisionError"),
             (lambda: pyrch.tensor([1]) % 0, "ZeroDivisionError"),
             (lambda: pyrch.tensor([2]) ** -1, "Integers to negative integer powers are not allowed."),
             (lambda: F.binary_cross_entropy(pyrch.tensor([1.5]), pyrch.tensor([1.0])),
              "all elements of input should be between 0 and 1"),
             (lambda: F.cross_entropy(pyrch.randn(2, 3), pyrch.tensor([1, 2], dtype=pyrch.int32)),
              "expected target dtype to be Long or Byte, but got Int"),
             (lambda: F.one_hot(pyrch.tensor([-1, 2])), "Class values must be non-negative."),
             (lambda: F.one_hot(pyrch.tensor([1, 5]), 3), "Class values must be smaller than num_classes."),
             (lambda: F.one_hot(pyrch.tensor([1.0])), "one_hot is only applicable to index tensor")]
    for fn, msg in cases:
        with pytest.raises(RuntimeError, match=msg):
            fn()
    assert (pyrch.tensor([5.0]) // 0).tolist() == [float("inf")]      # floats divide as IEEE
    assert (pyrch.tensor([2]) ** pyrch.tensor([-1])).tolist() == [0]  # tensor exponents truncate


def test_script_boilerplate_runs_unchanged():
    import warnings
    pyrch.backends.cudnn.benchmark = True
    pyrch.backends.cudnn.deterministic = True
    assert pyrch.backends.mps.is_available() is False
    pyrch.use_deterministic_algorithms(True)
    assert pyrch.are_deterministic_algorithms_enabled()
    pyrch.use_deterministic_algorithms(False)
    pyrch.set_float32_matmul_precision("high")
    assert pyrch.get_float32_matmul_precision() == "high"
    pyrch.set_float32_matmul_precision("highest")
    # torch.compile(model) is served by jit.trace: same results, replayed
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    fast = pyrch.compile(model)
    x = pyrch.randn(5, 3)
    for _ in range(3):
        np.testing.assert_allclose(fast(x).detach().numpy(), model(x).detach().numpy(), rtol=1e-6,
                                   atol=1e-6)     # float32 products summed in another order
    assert pyrch.compile(model, disable=True) is model

    @pyrch.compile(mode="max-autotune")
    def f(x):
        return (x * 2).sum()
    assert [float(f(pyrch.ones(3))) for _ in range(3)] == [6.0] * 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pyrch.autocast("cpu", dtype=pyrch.float16):    # accepted; ops keep their dtypes
            assert model(x).dtype is pyrch.float32
    s = x.shape
    assert isinstance(s[1:], pyrch.Size) and isinstance(s + (1,), pyrch.Size) and s[1:] == (3,)


def test_softmax_of_integers_raises_torchs_error():
    import pytest
    for fn, name in ((pyrch.softmax, "softmax"), (pyrch.log_softmax, "log_softmax")):
        with pytest.raises(NotImplementedError, match=f'"{name}_lastdim_kernel_impl" not implemented '
                                                      "for 'Long'"):
            fn(pyrch.tensor([1, 2]), 0)
    assert pyrch.softmax(pyrch.tensor([1, 2]), 0, dtype=pyrch.float32).dtype is pyrch.float32


def test_a_zero_dim_index_picks_one_row():
    F = pyrch.nn.functional
    """embedding / one_hot of a 0-dim index: shape (D,) as in torch, not (1, D)."""
    w = pyrch.randn(5, 3, requires_grad=True)
    e = F.embedding(pyrch.tensor(2), w)
    assert e.shape == (3,)
    e.sum().backward()
    assert w.grad[2].tolist() == [1.0, 1.0, 1.0] and float(w.grad.sum()) == 3.0
    assert F.one_hot(pyrch.tensor(2), 4).tolist() == [0, 0, 1, 0]


def test_bce_with_logits_rejects_integer_and_bool_targets_as_torch_does():
    F = pyrch.nn.functional
    x = pyrch.randn(3)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        F.binary_cross_entropy_with_logits(x, pyrch.tensor([0, 1, 1]))
    with pytest.raises(RuntimeError, match="with two bool tensors is not supported"):
        F.binary_cross_entropy_with_logits(x, pyrch.tensor([False, True, True]))
    assert F.binary_cross_entropy_with_logits(x, pyrch.tensor([0.0, 1, 1], dtype=pyrch.float64)).dtype \
        == pyrch.float64
