"""Behaviour of reductions and linear algebra that the OpInfo samples can't state:
torch's error wording, gradients at ties and zeros, named-tuple results, dtypes."""
import math

import numpy as np
import pytest

import pyrch
from pyrch.ops.registry import Meta, infer, OPS


def _err(fn):
    with pytest.raises(Exception) as e:
        fn()
    return type(e.value), str(e.value)


def _grad(fn, x):
    t = pyrch.tensor(x, dtype=pyrch.float64, requires_grad=True)
    fn(t).sum().backward()
    return t.grad.numpy()


def _torch_grad(torch, fn, x):
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    fn(t).sum().backward()
    return t.grad.numpy()


# -- errors in torch's words ---------------------------------------------------------------

@pytest.mark.parametrize("sa,sb,msg", [
    ((2, 3), (4, 5), "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"),
    ((3,), (4,), "inconsistent tensor size, expected tensor [3] and src [4] to have the same "
                 "number of elements, but got 3 and 4 elements respectively"),
    ((2, 3), (4,), "size mismatch, got input (2), mat (2x3), vec (4)"),
    ((3,), (4, 5), "mat1 and mat2 shapes cannot be multiplied (1x3 and 4x5)"),
    ((2, 2, 3), (4, 5), "mat1 and mat2 shapes cannot be multiplied (4x3 and 4x5)"),
    ((2, 2, 3), (2, 4, 5), "Expected size for first two dimensions of batch2 tensor to be: "
                           "[2, 3] but got: [2, 4]."),
    ((2, 2, 3), (3, 3, 5), "The size of tensor a (2) must match the size of tensor b (3) at "
                           "non-singleton dimension 0"),
    ((), (3,), "both arguments to matmul need to be at least 1D, but they are 0D and 1D"),
])
def test_matmul_errors(sa, sb, msg):
    cls, text = _err(lambda: pyrch.ones(*sa) @ pyrch.ones(*sb))
    assert cls is RuntimeError and text == msg
    with pytest.raises(RuntimeError, match=msg.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        infer(OPS["matmul"], [Meta(sa, pyrch.float32), Meta(sb, pyrch.float32)])


def test_matmul_dtype_mismatch():
    _, text = _err(lambda: pyrch.ones(2, 3) @ pyrch.ones(3, 2, dtype=pyrch.float64))
    assert text == "expected m1 and m2 to have the same dtype, but got: float != double"


@pytest.mark.parametrize("fn,msg", [
    (lambda: pyrch.mm(pyrch.ones(3), pyrch.ones(3, 2)), "self must be a matrix"),
    (lambda: pyrch.mm(pyrch.ones(2, 3), pyrch.ones(3)), "mat2 must be a matrix"),
    (lambda: pyrch.bmm(pyrch.ones(2, 3), pyrch.ones(3, 2)), "batch1 must be a 3D tensor"),
    (lambda: pyrch.bmm(pyrch.ones(2, 2, 3), pyrch.ones(3, 3, 2)),
     "Expected size for first two dimensions of batch2 tensor to be: [2, 3] but got: [3, 3]."),
    (lambda: pyrch.mv(pyrch.ones(3), pyrch.ones(4)),
     "vector + matrix @ vector expected, got 1, 1, 1"),
    (lambda: pyrch.dot(pyrch.ones(2, 3), pyrch.ones(4)),
     "1D tensors expected, but got 2D and 1D tensors"),
    (lambda: pyrch.dot(pyrch.ones(3), pyrch.ones(3, dtype=pyrch.float64)),
     "dot : expected both vectors to have same dtype, but found Float and Double"),
    (lambda: pyrch.outer(pyrch.ones(3), pyrch.ones(3, 2)),
     "outer: Expected 1-D argument vec2, but got 2-D"),
    (lambda: pyrch.addmm(pyrch.ones(3), pyrch.ones(3), pyrch.ones(3, 3)),
     "mat1 must be a matrix, got 1-D tensor"),
    (lambda: pyrch.ones(3).tril(), "tril: input tensor must have at least 2 dimensions"),
    (lambda: pyrch.ones(3, dtype=pyrch.int64).mean(),
     "mean(): could not infer output dtype. Input dtype must be either a floating point or "
     "complex dtype. Got: Long"),
    (lambda: pyrch.ones(3, dtype=pyrch.int64).var(),
     "std and var only support floating point and complex dtypes"),
    (lambda: pyrch.ones(3, dtype=pyrch.int64).norm(),
     "linalg.vector_norm: Expected a floating point or complex tensor as input. Got Long"),
    (lambda: pyrch.ones(0, 3).max(),
     "max(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
     "reduction dim with the 'dim' argument."),
    (lambda: pyrch.ones(0, 3).amax(0), "amax(): Expected reduction dim 0 to have non-zero size."),
    (lambda: pyrch.ones(0, 3).max(0), "max(): Expected reduction dim 0 to have non-zero size."),
    (lambda: pyrch.ones(0, 3).argmax(),
     "argmax(): Expected reduction dim to be specified for input.numel() == 0."),
    (lambda: pyrch.ones(2, 3).sum(2),
     "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    (lambda: pyrch.ones(2, 3).sum((0, 0)), "dim 0 appears multiple times in the list of dims"),
    (lambda: pyrch.ones(()).sum(1),
     "Dimension out of range (expected to be in range of [-1, 0], but got 1)"),
    (lambda: pyrch.ones(()).cumsum(1),
     "Dimension out of range (expected to be in range of [-1, 0], but got 1)"),
    (lambda: pyrch.ones(2, 3).cumsum(2),
     "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    (lambda: pyrch.einsum("ij,jk->ik", pyrch.ones(2, 3), pyrch.ones(4, 5)),
     "einsum(): subscript j has size 4 for operand 1 which does not broadcast with previously "
     "seen size 3"),
    (lambda: pyrch.einsum("ij,jk->ik", pyrch.ones(2, 3)),
     "einsum(): fewer operands were provided than specified in the equation"),
    (lambda: pyrch.einsum("ij,jk->ik", pyrch.ones(2, 3), pyrch.ones(3, 5, 1)),
     "einsum(): the number of subscripts in the equation (2) does not match the number of "
     "dimensions (3) for operand 1 and no ellipsis was given"),
    (lambda: pyrch.einsum("ij,jk->il", pyrch.ones(2, 3), pyrch.ones(3, 4)),
     "einsum(): output subscript l does not appear in the equation for any input operand"),
    (lambda: pyrch.einsum("ij->ii", pyrch.ones(3, 3)),
     "einsum(): output subscript i appears more than once in the output"),
    (lambda: pyrch.einsum("ii->i", pyrch.ones(3, 4)),
     "einsum(): subscript i is repeated for operand 0 but the sizes don't match, 3 != 4"),
    (lambda: pyrch.einsum("i1", pyrch.ones(3, 3)),
     "einsum(): invalid subscript given at index 1 in the equation string, subscripts must "
     "be in [a-zA-Z]"),
])
def test_errors_match_torch(fn, msg):
    assert _err(fn)[1] == msg


def test_errors_match_torch_itself(torch_or_skip):
    """The wording above is what the installed torch says (guards against drift)."""
    torch = torch_or_skip
    for fn, msg in [(lambda: torch.ones(2, 3) @ torch.ones(4, 5),
                     "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"),
                    (lambda: torch.ones(0, 3).amax(0),
                     "amax(): Expected reduction dim 0 to have non-zero size.")]:
        assert _err(fn)[1] == msg


# -- results and dtypes ----------------------------------------------------------------------

def test_max_returns_named_tuple():
    x = pyrch.tensor([[1., 5., 2.], [7., 0., 3.]])
    r = x.max(1)
    assert r.values.tolist() == [5., 7.] and r.indices.tolist() == [1, 0]
    v, i = pyrch.min(x, dim=0, keepdim=True)
    assert v.shape == (1, 3) and i.tolist() == [[0, 1, 0]]
    assert type(r).__name__ == "max" and type(x.cummax(1)).__name__ == "cummax"
    assert x.max().item() == 7.
    assert pyrch.max(x, pyrch.tensor([2., 2., 2.])).tolist() == [[2., 5., 2.], [7., 2., 3.]]


def test_integer_sums_are_int64():
    for dt in (pyrch.bool, pyrch.uint8, pyrch.int32, pyrch.int64):
        x = pyrch.ones(2, 3, dtype=dt)
        assert x.sum().dtype is pyrch.int64
        assert x.prod(1).dtype is pyrch.int64
        assert x.cumsum(0).dtype is pyrch.int64
    assert pyrch.ones(3, dtype=pyrch.int32).sum(dtype=pyrch.int32).dtype is pyrch.int32
    assert pyrch.ones(3).sum(dtype=pyrch.float64).dtype is pyrch.float64
    assert pyrch.tensor([1, 2], dtype=pyrch.uint8).all().dtype is pyrch.uint8


def test_logsumexp_is_stable():
    x = pyrch.tensor([[1000., 1000.], [-1000., -1000.], [float("-inf"), float("-inf")]])
    out = x.logsumexp(1).tolist()
    assert np.allclose(out[:2], [1000 + np.log(2), -1000 + np.log(2)])
    assert out[2] == float("-inf")


def test_var_overloads():
    x = pyrch.tensor([[1., 2., 4.], [3., 5., 9.]])
    assert np.allclose(pyrch.var(x, 1, True).numpy(), np.var(x.numpy(), 1, ddof=1))
    assert np.allclose(pyrch.var(x, False).item(), np.var(x.numpy()))
    assert np.allclose(x.std(dim=0, correction=0).numpy(), np.std(x.numpy(), 0))
    v, m = pyrch.std_mean(x, 1)
    assert np.allclose(m.numpy(), [7 / 3, 17 / 3])


def test_einsum_operand_list_and_sum_dims():
    a, b = pyrch.ones(2, 3), pyrch.ones(3, 4)
    assert pyrch.einsum("ij,jk", [a, b]).shape == (2, 4)
    assert pyrch.ones(2, 3).sum(dim=()).item() == 6.   # torch: () reduces everything


def test_einsum_transpose_owns_its_memory():
    a = pyrch.ones(2, 3)
    t = pyrch.einsum("ij->ji", a)
    t.add_(1)
    assert a.tolist() == [[1.] * 3] * 2


# -- gradients at ties, zeros and broadcasts -------------------------------------------

TIES = np.array([[1., 3., 3.], [2., 2., 0.]])


@pytest.mark.parametrize("name,fn", [
    ("amax", lambda t: t.amax(1)),
    ("amax-all", lambda t: t.amax()),
    ("max-all", lambda t: t.max()),
    ("max-dim", lambda t: t.max(1)[0]),
    ("min-dim", lambda t: t.min(0)[0]),
    ("norm-inf", lambda t: t.norm(p=float("inf"), dim=1)),
])
def test_tie_gradients_match_torch(torch_or_skip, name, fn):
    np.testing.assert_allclose(_grad(fn, TIES), _torch_grad(torch_or_skip, fn, TIES))


@pytest.mark.parametrize("x", [
    [[1., 0., 3., 0.5, 2.], [2., 3., 0.7, 2., 2.]],
    [[1., 0., 3., 0., 2.], [0., 0., 0., 2., 2.]],
    [[0., 2., 3., 4., 5.], [2., 3., 4., 5., 0.]],
])
@pytest.mark.parametrize("name,fn", [
    ("cumprod", lambda t: t.cumprod(1) * t.new_tensor([1., -2., 3., 0.5, 1.])),
    ("prod", lambda t: t.prod(1)),
    ("prod-all", lambda t: t.prod()),
])
def test_zero_gradients_match_torch(torch_or_skip, name, fn, x):
    x = np.array(x)
    np.testing.assert_allclose(_grad(fn, x), _torch_grad(torch_or_skip, fn, x))


def test_norm_gradient_is_zero_at_zero(torch_or_skip):
    x = np.array([[1., 3., 3.], [0., 0., 0.]])
    for fn in (lambda t: t.norm(dim=1), lambda t: t.norm(p=3, dim=1)):
        g = _grad(fn, x)
        assert np.isfinite(g).all()
        np.testing.assert_allclose(g, _torch_grad(torch_or_skip, fn, x))


def test_addmm_beta_zero_ignores_nan_input():
    inp = pyrch.full((2, 3), float("nan"))
    m1 = pyrch.ones(2, 4, requires_grad=True)
    out = pyrch.addmm(inp, m1, pyrch.ones(4, 3), beta=0, alpha=0.5)
    assert out.tolist() == [[2.] * 3] * 2
    out.sum().backward()
    assert m1.grad.tolist() == [[1.5] * 4] * 2


def test_linear_layer_shaped_matmul_grad(torch_or_skip):
    """(batch, seq, in) @ (in, out): the weight's gradient folds the batch into one GEMM."""
    torch = torch_or_skip
    rng = np.random.default_rng(0)
    a, w = rng.standard_normal((4, 5, 3)), rng.standard_normal((3, 2))
    pa, pw = (pyrch.tensor(v, requires_grad=True) for v in (a, w))
    ta, tw = (torch.tensor(v, requires_grad=True) for v in (a, w))
    (pa @ pw).pow(2).sum().backward()
    (ta @ tw).pow(2).sum().backward()
    np.testing.assert_allclose(pw.grad.numpy(), tw.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(pa.grad.numpy(), ta.grad.numpy(), rtol=1e-10)


def test_infer_rules_for_reductions():
    m = Meta((2, 3, 4), pyrch.int32)
    assert infer(OPS["sum"], [m], {"dim": (0, -1), "keepdim": True}) == ((1, 3, 1), pyrch.int64)
    assert infer(OPS["max"], [m], {"dim": 1}) == [((2, 4), pyrch.int32), ((2, 4), pyrch.int64)]
    assert infer(OPS["argmax"], [m], {"keepdim": True}) == ((1, 1, 1), pyrch.int64)
    assert infer(OPS["logsumexp"], [m], {"dim": 1}) == ((2, 4), pyrch.float32)
    assert infer(OPS["einsum"], [Meta((2, 1), pyrch.float32), Meta((3, 4), pyrch.float32)],
                 {"equation": "ij,jk->ik"}) == ((2, 4), pyrch.float32)


@pytest.mark.parametrize("vals,dim", [([0.0, 0.0, 2.0, 3.0], None), ([0.0, 0.0, 0.0, 3.0], None),
                                      ([[0.0, 2.0, 0.0], [1.0, 2.0, 3.0]], 1),
                                      ([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]], 0)])
def test_prod_second_derivative_with_several_zeros_matches_torch(vals, dim):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: optional cross-check")
    res = []
    for lib in (pyrch, torch):
        x = lib.tensor(vals, dtype=lib.float64, requires_grad=True)
        y = x.prod() if dim is None else x.prod(dim)
        w = lib.tensor(np.arange(1.0, 1.0 + y.numel()).reshape(tuple(y.shape)), dtype=lib.float64)
        g, = lib.autograd.grad((y * w).sum(), x, create_graph=True)
        v = lib.tensor(np.arange(2.0, 2.0 + x.numel()).reshape(tuple(x.shape)), dtype=lib.float64)
        h, = lib.autograd.grad((g * v).sum(), x)
        res.append((g.detach().numpy(), h.numpy()))
    np.testing.assert_allclose(res[0][0], res[1][0])
    np.testing.assert_allclose(res[0][1], res[1][1])


_LINALG_CASES = [("vector_norm", {}), ("vector_norm", {"ord": 1, "dim": 1}),
                 ("vector_norm", {"ord": math.inf, "dim": (0, 2), "keepdim": True}),
                 ("vector_norm", {"ord": 0}), ("vector_norm", {"ord": 3.5, "dim": -1}),
                 ("vector_norm", {"ord": -math.inf}), ("matrix_norm", {}),
                 ("matrix_norm", {"ord": 1}), ("matrix_norm", {"ord": -1, "keepdim": True}),
                 ("matrix_norm", {"ord": math.inf, "dim": (0, 2)}), ("matrix_norm", {"ord": -math.inf}),
                 ("norm", {}), ("norm", {"dim": 1}), ("norm", {"dim": (0, 1)}),
                 ("norm", {"ord": 1, "dim": (1, 2)})]


@pytest.mark.parametrize("name,kw", _LINALG_CASES)
def test_linalg_norms_match_torch_with_gradients(name, kw):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: optional cross-check")
    x = np.random.default_rng(0).standard_normal((3, 4, 5))
    res = []
    for lib in (pyrch, torch):
        t = lib.tensor(x, requires_grad=True)
        y = getattr(lib.linalg, name)(t, **kw)
        if y.requires_grad:
            w = lib.tensor(np.arange(1.0, 1.0 + y.numel()).reshape(tuple(y.shape)))
            (y * w).sum().backward()
        res.append((y.detach().numpy(), np.zeros(x.shape) if t.grad is None else t.grad.numpy()))
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-10)
    np.testing.assert_allclose(res[0][1], res[1][1], rtol=1e-10, atol=1e-12)


def test_linalg_norm_errors_name_the_problem():
    x = pyrch.randn(3, 4, 5)
    with pytest.raises(RuntimeError, match="must be 1D or 2D"):
        pyrch.linalg.norm(x, ord=1)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        pyrch.linalg.matrix_norm(x[0, 0])
    with pytest.raises(RuntimeError, match="Order 3 not supported"):
        pyrch.linalg.matrix_norm(x, ord=3)


@pytest.mark.parametrize("vals", [[0.0, 0.0, 2.0, 3.0], [1.5, 0.0, 2.0, 0.0, 3.0],
                                  [0.0, 0.0, 0.0, 3.0], [2.0, 0.0, 3.0, 4.0]])
def test_cumprod_second_derivative_with_zeros_matches_torch(vals):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: optional cross-check")
    res = []
    for lib in (pyrch, torch):
        x = lib.tensor(vals, dtype=lib.float64, requires_grad=True)
        w = lib.tensor(np.arange(1.0, 1 + len(vals)), dtype=lib.float64)
        g, = lib.autograd.grad((x.cumprod(0) * w).sum(), x, create_graph=True)
        h, = lib.autograd.grad((g * (w + 1)).sum(), x)
        res.append((g.detach().numpy(), h.numpy()))
    np.testing.assert_allclose(res[0][0], res[1][0])
    np.testing.assert_allclose(res[0][1], res[1][1])
