"""Creation functions (vs PyTorch where installed) and random numbers: streams,
generators, distributions, in-place fills and the RNG-as-input contract."""
import numpy as np
import pytest

import pyrch
from pyrch._dispatch import state, refresh_hooks
from conftest import HAVE_TORCH


# -- reproducibility and generators ----------------------------------------------------
DRAWS = [
    lambda g=None: pyrch.rand(3, 4, generator=g),
    lambda g=None: pyrch.randn((2, 3), generator=g),
    lambda g=None: pyrch.randint(0, 100, (5,), generator=g),
    lambda g=None: pyrch.randperm(10, generator=g),
    lambda g=None: pyrch.normal(pyrch.zeros(3), pyrch.ones(3), generator=g),
    lambda g=None: pyrch.bernoulli(pyrch.full((6,), 0.5), generator=g),
    lambda g=None: pyrch.multinomial(pyrch.ones(2, 5), 3, generator=g),
    lambda g=None: pyrch.empty(4).uniform_(-1, 1, generator=g),
    lambda g=None: pyrch.empty(4).exponential_(generator=g),
]


@pytest.mark.parametrize("draw", DRAWS)
def test_same_seed_same_numbers(draw):
    pyrch.manual_seed(123)
    a = draw().numpy()
    pyrch.manual_seed(123)
    assert np.array_equal(draw().numpy(), a)
    g = pyrch.Generator().manual_seed(7)
    b = draw(g).numpy()
    assert np.array_equal(draw(pyrch.Generator().manual_seed(7)).numpy(), b)


def test_generators_are_independent():
    g1, g2 = pyrch.Generator().manual_seed(1), pyrch.Generator().manual_seed(1)
    a = pyrch.rand(5, generator=g1)
    pyrch.rand(100)                         # the default stream does not touch g2
    pyrch.rand(7, generator=pyrch.Generator())
    assert np.array_equal(pyrch.rand(5, generator=g2).numpy(), a.numpy())
    assert not np.array_equal(pyrch.rand(5, generator=g1).numpy(), a.numpy())


def test_stream_continues_and_differs_between_seeds():
    pyrch.manual_seed(0)
    a, b = pyrch.rand(4), pyrch.rand(4)
    assert not np.array_equal(a.numpy(), b.numpy())
    pyrch.manual_seed(1)
    assert not np.array_equal(pyrch.rand(4).numpy(), a.numpy())


def test_state_roundtrip_and_seed_api():
    g = pyrch.Generator()
    assert g.device == pyrch.device("cpu") and g.initial_seed() == 67280421310721
    assert g.manual_seed(5) is g and g.initial_seed() == 5
    s = g.get_state()
    assert s.dtype is pyrch.uint8 and s.dim() == 1
    a = pyrch.randn(6, generator=g)
    g.set_state(s)
    assert np.array_equal(pyrch.randn(6, generator=g).numpy(), a.numpy())
    st = pyrch.get_rng_state()
    x = pyrch.rand(3)
    pyrch.set_rng_state(st)
    assert np.array_equal(pyrch.rand(3).numpy(), x.numpy())
    assert pyrch.manual_seed(9) is pyrch.default_generator and pyrch.initial_seed() == 9
    s1 = pyrch.seed()
    assert pyrch.initial_seed() == s1
    with pyrch.random.fork_rng():
        pyrch.rand(10)
    assert pyrch.random.initial_seed() == s1
    assert pyrch.Generator().manual_seed(-1).initial_seed() == 2 ** 64 - 1
    with pytest.raises(TypeError):
        pyrch.rand(2, generator=np.random.default_rng(0))


def test_seeding_keeps_the_numpy_generator_object():
    # a traced graph holds this object as its RNG input; reseeding must reach it
    g = pyrch.Generator()
    inner = g._np
    g.manual_seed(3)
    g.set_state(g.get_state())
    assert g._np is inner


class _Probe:
    def __init__(self):
        self.calls = []

    def record(self, op, args, attrs, outs):
        self.calls.append((op, args, attrs, outs))

    def record_inplace(self, target, out):
        pass

    def on_grad_set(self, t, v):
        pass

    def on_scalar(self, t, kind):
        return None


def test_random_ops_take_the_numpy_generator_as_input():
    g = pyrch.Generator().manual_seed(0)
    probe = _Probe()
    state.tracer = probe
    refresh_hooks()
    try:
        pyrch.randn(2, 2, generator=g)
        pyrch.empty(3).uniform_()
    finally:
        state.tracer = None
        refresh_hooks()
    ops = [c[0] for c in probe.calls]
    assert ops[0].name == "randn" and ops[0].kind == "random"
    assert probe.calls[0][1][0] is g._np
    assert probe.calls[1][1][0] is pyrch.default_generator._np
    # replaying the recorded call (what a tracer does) continues the stream
    op, args, attrs, _ = probe.calls[0]
    g.manual_seed(0)
    first = pyrch.randn(2, 2, generator=g).numpy()
    g.manual_seed(0)
    replay1 = op.forward(np, *args, **attrs)
    replay2 = op.forward(np, *args, **attrs)
    assert np.array_equal(replay1, first) and not np.array_equal(replay2, first)


# -- signatures, dtypes, devices, grads ------------------------------------------------
def test_shapes_dtypes_and_flags():
    assert pyrch.randn(2, 3).shape == (2, 3) and pyrch.randn((2, 3)).shape == (2, 3)
    assert pyrch.rand([4]).shape == (4,) and pyrch.rand(pyrch.Size([2, 2])).shape == (2, 2)
    assert pyrch.randn(2, dtype=pyrch.float64).dtype is pyrch.float64
    assert pyrch.rand(5, dtype=pyrch.float16).dtype is pyrch.float16
    assert pyrch.randint(5, (3,)).dtype is pyrch.int64
    assert pyrch.randint(0, 5, size=(3,), dtype=pyrch.int32).dtype is pyrch.int32
    assert pyrch.randint(low=3, high=4, size=(2,)).tolist() == [3, 3]
    with pytest.raises(TypeError, match="invalid combination"):
        pyrch.randint(3)
    assert pyrch.randperm(4, dtype=pyrch.float32).dtype is pyrch.float32
    t = pyrch.randn(3, requires_grad=True)
    assert t.requires_grad and t.is_leaf
    assert pyrch.rand(2, device="cpu").device == pyrch.device("cpu")
    assert pyrch.normal(0.0, 1.0, (2, 2)).dtype is pyrch.float32
    assert pyrch.normal(pyrch.zeros(2, 1), pyrch.ones(3)).shape == (2, 3)
    assert pyrch.normal(2.0, pyrch.ones(3, dtype=pyrch.float64)).dtype is pyrch.float64
    assert pyrch.bernoulli(pyrch.zeros(2, dtype=pyrch.float64)).dtype is pyrch.float64
    assert pyrch.rand_like(pyrch.zeros(2, 3, dtype=pyrch.float64)).dtype is pyrch.float64
    assert pyrch.randint_like(pyrch.zeros(2, dtype=pyrch.int32), 9).dtype is pyrch.int32
    assert pyrch.randn_like(pyrch.zeros(2), dtype=pyrch.float64).dtype is pyrch.float64


@pytest.mark.parametrize("call,match", [
    (lambda: pyrch.rand(2, dtype=pyrch.int64), "not implemented for 'Long'"),
    (lambda: pyrch.randn(2, dtype=pyrch.int32), "not implemented for 'Int'"),
    (lambda: pyrch.randint(5, 2, (2,)), "from=5 >= to=2"),
    (lambda: pyrch.empty(2).uniform_(3, 1), r"\[from, to\) range"),
    (lambda: pyrch.normal(pyrch.zeros(2), -pyrch.ones(2)), "std >= 0.0"),
    (lambda: pyrch.bernoulli(pyrch.tensor([1.5])), "p_in >= 0 && p_in <= 1"),
    (lambda: pyrch.multinomial(pyrch.tensor([0.0, -1.0]), 1), "element < 0"),
    (lambda: pyrch.multinomial(pyrch.zeros(3), 1), "sum of probabilities"),
    (lambda: pyrch.multinomial(pyrch.ones(3), 4), "without replacement"),
    (lambda: pyrch.randn(2, requires_grad=True).uniform_(), "leaf Variable"),
])
def test_errors(call, match):
    with pytest.raises(RuntimeError, match=match):
        call()


def test_normal_and_bernoulli_grads_are_zero_like_torch():
    m = pyrch.zeros(3, requires_grad=True)
    s = pyrch.ones(3, requires_grad=True)
    y = pyrch.normal(m, s)
    assert y.grad_fn is not None and y.grad_fn.name() == "NormalBackward0"
    y.sum().backward()
    assert m.grad.tolist() == [0.0] * 3 and s.grad.tolist() == [0.0] * 3
    p = pyrch.full((4,), 0.5, requires_grad=True)
    pyrch.bernoulli(p).sum().backward()
    assert p.grad.tolist() == [0.0] * 4
    assert not pyrch.rand(3).requires_grad


def test_in_place_fills_under_no_grad_like_nn_init():
    w = pyrch.empty(50, 40, requires_grad=True)
    with pyrch.no_grad():
        assert w.uniform_(-0.1, 0.1) is w
        assert float(w.abs().max()) <= 0.1
        w.normal_(0.0, 0.02)
        w.bernoulli_(0.3)
        assert set(np.unique(w.detach().numpy()).tolist()) <= {0.0, 1.0}
    assert w.requires_grad and w.is_leaf and w.grad_fn is None
    x = pyrch.empty(1000, dtype=pyrch.int64).random_(-3, 3)
    assert x.min().item() >= -3 and x.max().item() <= 2
    b = pyrch.empty(100, dtype=pyrch.bool).random_()
    assert b.dtype is pyrch.bool
    i8 = pyrch.empty(200, dtype=pyrch.int8).random_()
    assert i8.min().item() >= 0
    f = pyrch.empty(100).random_()
    assert f.min().item() >= 0 and f.max().item() <= 2 ** 24
    assert bool((f == f.floor()).all())
    q = pyrch.zeros(3, 4).bernoulli_(pyrch.tensor([0.0, 1.0, 0.0, 1.0]))
    assert q.tolist() == [[0.0, 1.0, 0.0, 1.0]] * 3


# -- distributions (loose statistical checks, fixed seed) -------------------------------
def test_distribution_moments():
    pyrch.manual_seed(0)
    n = 200_000
    u = pyrch.rand(n).numpy()
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    z = pyrch.randn(n, dtype=pyrch.float64).numpy()
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    y = pyrch.normal(3.0, 2.0, (n,)).numpy()
    assert abs(y.mean() - 3) < 0.03 and abs(y.std() - 2) < 0.03
    e = pyrch.empty(n).exponential_(4.0).numpy()
    assert e.min() >= 0 and abs(e.mean() - 0.25) < 0.01
    b = pyrch.bernoulli(pyrch.full((n,), 0.3)).numpy()
    assert abs(b.mean() - 0.3) < 0.01
    h = pyrch.rand(n, dtype=pyrch.float16).numpy()
    assert h.max() < 1 and abs(h.astype(np.float64).mean() - 0.5) < 0.01
    r = pyrch.randint(-2, 3, (n,)).numpy()
    assert set(np.unique(r).tolist()) == {-2, -1, 0, 1, 2}


def test_multinomial_frequencies_and_without_replacement():
    pyrch.manual_seed(0)
    w = pyrch.tensor([1.0, 2.0, 0.0, 7.0])
    s = pyrch.multinomial(w, 20_000, replacement=True).numpy()
    freq = np.bincount(s, minlength=4) / s.size
    assert np.allclose(freq, [0.1, 0.2, 0.0, 0.7], atol=0.015)
    rows = pyrch.multinomial(pyrch.rand(50, 8) + 0.01, 8).numpy()
    assert all(sorted(r) == list(range(8)) for r in rows)
    first = pyrch.multinomial(pyrch.tensor([[1.0, 1000.0, 1.0]] * 200), 1).numpy()
    assert (first == 1).mean() > 0.95
    assert pyrch.multinomial(pyrch.tensor([0.0, 0.0, 1.0]), 1).tolist() == [2]


def test_randperm_is_a_permutation():
    p = pyrch.randperm(100).numpy()
    assert sorted(p.tolist()) == list(range(100))
    assert pyrch.randperm(0).shape == (0,)


# -- creation vs PyTorch ---------------------------------------------------------------
CREATION = [
    ("tensor", ([1, 2, 3],), {}), ("tensor", ([[1.5, 2], [3, 4]],), {}), ("tensor", ([True, 2],), {}),
    ("tensor", (np.float64(1.5),), {}), ("tensor", (np.int32(3),), {}), ("tensor", ([np.float64(1.0)],), {}),
    ("tensor", ([np.array([1, 2], dtype=np.int16)],), {}), ("tensor", ([1, np.float32(2.0)],), {}),
    ("tensor", ([],), {}), ("tensor", (2.5,), {"dtype": "float64"}), ("tensor", ([1.7, -1.7],), {"dtype": "int64"}),
    ("zeros", (2, 3), {}), ("zeros", ((2, 3),), {"dtype": "int32"}), ("zeros", ((),), {}), ("ones", ([4],), {}),
    ("full", ((2, 2), 7), {}), ("full", ((2,), True), {}), ("full", ((2,), 1.5), {"dtype": "float64"}),
    ("arange", (5,), {}), ("arange", (1, 4, 0.5), {}), ("arange", (0, 5.5), {"dtype": "int64"}),
    ("arange", (0, 5.5), {"dtype": "int32"}), ("arange", (-7, 7, 3), {}), ("arange", (7, -7, -3), {}),
    ("arange", (0.5, 7.2, 1.5), {"dtype": "int64"}), ("arange", (0.0, 3.0, 0.3), {"dtype": "float16"}),
    ("linspace", (0, 1, 5), {}), ("linspace", (0, 10, 5), {"dtype": "int64"}), ("linspace", (-2.7, 9.9, 7), {"dtype": "int32"}),
    ("linspace", (2, 3, 1), {}), ("linspace", (2, 3, 0), {}), ("linspace", (0.1, 0.9, 9), {"dtype": "float64"}),
    ("logspace", (0, 3, 4), {}), ("logspace", (0, 4, 5), {"dtype": "int64"}), ("logspace", (-2, 2, 5), {"base": 2.0}),
    ("eye", (3,), {}), ("eye", (2, 4), {"dtype": "int64"}),
]


def _kw(lib, kw):
    return {k: (getattr(lib, v) if k == "dtype" else v) for k, v in kw.items()}


@pytest.mark.filterwarnings("ignore:Creating a tensor from a list")
@pytest.mark.parametrize("name,args,kw", CREATION, ids=[f"{c[0]}-{i}" for i, c in enumerate(CREATION)])
def test_creation_matches_torch(name, args, kw, torch_or_skip):
    torch = torch_or_skip
    p = getattr(pyrch, name)(*args, **_kw(pyrch, kw))
    t = getattr(torch, name)(*args, **_kw(torch, kw))
    assert tuple(p.shape) == tuple(t.shape)
    assert p.dtype.name == str(t.dtype).replace("torch.", "")
    # torch's vectorised float kernels may round linspace/logspace 1 ulp differently
    np.testing.assert_allclose(p.numpy().astype(np.float64), t.numpy().astype(np.float64), rtol=1e-6)


def test_like_functions_and_errors():
    x = pyrch.ones(2, 3, dtype=pyrch.int32)
    assert pyrch.zeros_like(x).dtype is pyrch.int32 and pyrch.full_like(x, 2.7).tolist() == [[2] * 3] * 2
    assert pyrch.ones_like(x, dtype=pyrch.float64).dtype is pyrch.float64
    assert pyrch.arange(pyrch.tensor(4)).dtype is pyrch.int64
    with pytest.raises(RuntimeError, match="inconsistent with step sign"):
        pyrch.arange(0, -5)
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        pyrch.arange(0, 5, 0)
    with pytest.raises(RuntimeError, match="non-negative"):
        pyrch.linspace(0, 1, -1)
    with pytest.raises(RuntimeError, match="negative dimension"):
        pyrch.zeros(2, -1)
    with pytest.raises(RuntimeError, match="floating point"):
        pyrch.zeros(2, dtype=pyrch.int64, requires_grad=True)


# -- pyrch.testing --------------------------------------------------------------------
def test_assert_close_messages():
    from pyrch.testing import assert_close
    with pytest.raises(AssertionError) as e:
        assert_close(pyrch.tensor([1.0, 2.0, 3.0]), pyrch.tensor([1.0, 2.1, 3.0]))
    assert str(e.value) == (
        "Tensor-likes are not close!\n\nMismatched elements: 1 / 3 (33.3%)\n"
        "Greatest absolute difference: 0.09999990463256836 at index (1,) (up to 1e-05 allowed)\n"
        "Greatest relative difference: 0.04761900380253792 at index (1,) (up to 1.3e-06 allowed)")
    with pytest.raises(AssertionError) as e:
        assert_close(pyrch.tensor([1, 2, 3]), pyrch.tensor([1, 2, 4]))
    assert str(e.value) == ("Tensor-likes are not equal!\n\nMismatched elements: 1 / 3 (33.3%)\n"
                            "Greatest absolute difference: 1 at index (2,)\n"
                            "Greatest relative difference: 0.25 at index (2,)")
    with pytest.raises(AssertionError, match="Scalars are not close!\n\nExpected 2.0 but got 1.0."):
        assert_close(pyrch.tensor(1.0), pyrch.tensor(2.0))
    with pytest.raises(AssertionError, match="attribute 'dtype' do not match"):
        assert_close(pyrch.tensor([1.0]), pyrch.tensor([1.0], dtype=pyrch.float64))
    with pytest.raises(AssertionError, match="attribute 'shape' do not match"):
        assert_close(pyrch.tensor([1.0]), pyrch.tensor([1.0, 2.0]))
    with pytest.raises(AssertionError, match=r"The failure occurred for item \['a'\]\[1\]"):
        assert_close({"a": [pyrch.tensor(1.0), pyrch.tensor(2.0)]}, {"a": [pyrch.tensor(1.0), pyrch.tensor(3.0)]})
    with pytest.raises(AssertionError, match="^custom$"):
        assert_close(pyrch.tensor([1.0]), pyrch.tensor([2.0]), msg="custom")
    with pytest.raises(ValueError, match="got no atol"):
        assert_close(pyrch.tensor([1.0]), pyrch.tensor([1.0]), rtol=0.1)
    with pytest.raises(TypeError, match="No comparison pair"):
        assert_close(pyrch.tensor([1.0]), 1.0)
    with pytest.raises(AssertionError, match="nan at index"):
        assert_close(pyrch.tensor([1.0, float("nan")]), pyrch.tensor([1.0, float("nan")]))


def test_assert_close_passes():
    from pyrch.testing import assert_close
    assert_close(pyrch.tensor([1.0, float("nan")]), pyrch.tensor([1.0, float("nan")]), equal_nan=True)
    assert_close(pyrch.tensor([1.0, 2.0], dtype=pyrch.float16), pyrch.tensor([1.0, 2.001], dtype=pyrch.float16))
    assert_close(pyrch.tensor([1.0]), pyrch.tensor([1.0 + 1e-6], dtype=pyrch.float64), check_dtype=False)
    assert_close(pyrch.tensor([float("inf")]), pyrch.tensor([float("inf")]))
    assert_close(pyrch.tensor([1.0]), pyrch.tensor([1.5]), rtol=0.0, atol=0.5)
    assert_close([1, 2.0, (pyrch.tensor(3),)], [1, 2.0, (pyrch.tensor(3),)])
    assert_close(np.ones(3), np.ones(3))


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch not installed")
@pytest.mark.parametrize("a,e,kw", [
    ([1.0, 2.0, 3.0], [1.0, 2.0001, 3.5], {}), ([[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.5], [0.0, 4.0]], {}),
    ([0.0, 1.0], [1.0, 1.0], {}), ([1.0, float("inf")], [1.0, float("-inf")], {}),
    ([3, 2, 1], [1, 2, 3], {"dtype": "uint8"}), ([1.0, 2.0], [1.0, 2.1], {"dtype": "float16"}),
    ([True, False], [True, True], {"dtype": "bool"}), ([1.0, 2.0], [1.1, 2.0], {"rtol": 0.01, "atol": 0.0}),
])
def test_assert_close_message_matches_torch(a, e, kw):
    import torch
    from pyrch.testing import assert_close
    kw = dict(kw)
    dt = kw.pop("dtype", "float32")
    msgs = []
    for lib, fn in ((pyrch, assert_close), (torch, torch.testing.assert_close)):
        with pytest.raises(AssertionError) as err:
            fn(lib.tensor(a, dtype=getattr(lib, dt)), lib.tensor(e, dtype=getattr(lib, dt)), **kw)
        msgs.append(str(err.value).replace("torch.", "pyrch."))
    assert msgs[0] == msgs[1]


def test_make_tensor():
    from pyrch.testing import make_tensor
    t = make_tensor(3, 4, dtype=pyrch.float32, low=-1, high=1)
    assert t.shape == (3, 4) and t.dtype is pyrch.float32 and float(t.abs().max()) <= 1
    u = make_tensor((50,), dtype=pyrch.uint8)
    assert u.min().item() >= 0 and u.max().item() < 10
    n = make_tensor(4, 6, dtype=pyrch.int64, noncontiguous=True, exclude_zero=True)
    assert not n.is_contiguous() and bool((n != 0).all())
    assert make_tensor(2, dtype=pyrch.float64, requires_grad=True).requires_grad
    assert make_tensor(5, dtype=pyrch.bool).dtype is pyrch.bool


def test_out_argument():
    o = pyrch.empty(2, 3)
    assert pyrch.zeros(2, 3, out=o) is o and o.tolist() == [[0.0] * 3] * 2
    assert pyrch.arange(3, out=pyrch.empty(3)).tolist() == [0.0, 1.0, 2.0]
    r = pyrch.empty(4)
    assert pyrch.rand(4, out=r) is r and float(r.max()) < 1
    with pytest.raises(RuntimeError, match="does not resize"):
        pyrch.ones(3, out=pyrch.empty(2))
