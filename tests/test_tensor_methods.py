"""Tensor methods torch has that pyrch added in _tensor_extra.py: in-place forms (values,
dtype, identity, version counter, autograd, the leaf error), legacy linear algebra,
constructors, resize_, apply_/map_, the post-accumulate-grad hook and real-tensor
identities, each compared with torch."""

import numpy as np
import pytest

import pyrch

torch = pytest.importorskip("torch")

X = [[0.5, -1.25, 2.0], [1.5, 0.75, -0.5]]
Y = [[1.0, 2.0, -0.5], [0.25, -3.0, 1.5]]
Z = [[2.0, 0.5, 1.5], [-1.0, 4.0, 0.25]]
SQ = [[2.0, 0.5, 1.0], [0.3, 3.0, -1.0], [1.0, -0.7, 4.0]]
POS = [[0.5, 1.25, 2.0], [1.5, 0.75, 3.5]]


from torch_compare import as_float64 as _np, both as _both, same as _same  # noqa: E402


# (method, self's data, dtype, args(lib), kwargs, differentiable in self)
INPLACE = [
    ("addcdiv_", X, "float64", lambda L: (L.tensor(Y, dtype=L.float64), L.tensor(Z, dtype=L.float64)),
     {"value": 0.5}, True),
    ("addcmul_", X, "float64", lambda L: (L.tensor(Y, dtype=L.float64), L.tensor(Z, dtype=L.float64)),
     {"value": -2}, True),
    ("addmm_", X, "float64", lambda L: (L.tensor(Y, dtype=L.float64), L.tensor(SQ, dtype=L.float64)),
     {"beta": 0.5, "alpha": 2}, True),
    ("baddbmm_", [X], "float64", lambda L: (L.tensor([Y], dtype=L.float64),
                                           L.tensor([SQ], dtype=L.float64)), {"alpha": 3}, True),
    ("cumsum_", X, "float64", lambda L: (1,), {}, True),
    ("cumprod_", X, "float64", lambda L: (0,), {}, True),
    ("cumsum_", [[1, 2], [3, 4]], "int64", lambda L: (0,), {}, False),
    ("clip_", X, "float64", lambda L: (-1.0, 1.0), {}, True),
    ("divide_", X, "float64", lambda L: (L.tensor(Y, dtype=L.float64),), {}, True),
    ("divide_", [[5, -7]], "int64", lambda L: (2,), {"rounding_mode": "floor"}, False),
    ("multiply_", X, "float64", lambda L: (3.0,), {}, True),
    ("subtract_", X, "float64", lambda L: (L.tensor(Y, dtype=L.float64),), {"alpha": 2}, True),
    ("true_divide_", X, "float64", lambda L: (L.tensor(Z, dtype=L.float64),), {}, True),
    ("negative_", X, "float64", lambda L: (), {}, True),
    ("absolute_", X, "float64", lambda L: (), {}, True),
    ("arccos_", [[0.5, -0.25]], "float64", lambda L: (), {}, True),
    ("arcsin_", [[0.5, -0.25]], "float64", lambda L: (), {}, True),
    ("arctan_", X, "float64", lambda L: (), {}, True),
    ("arccosh_", [[1.5, 3.0]], "float64", lambda L: (), {}, True),
    ("arcsinh_", X, "float64", lambda L: (), {}, True),
    ("arctanh_", [[0.5, -0.25]], "float64", lambda L: (), {}, True),
    ("arctan2_", X, "float64", lambda L: (L.tensor(Y, dtype=L.float64),), {}, True),
    ("float_power_", POS, "float64", lambda L: (2.5,), {}, True),
    # (non-negative exponents: torch 2.13's ldexp gradient is grad * 2 ** other in integers,
    # 0 for a negative exponent; pyrch's is the true 2.0 ** other)
    ("ldexp_", X, "float64", lambda L: (L.tensor([[1, 2, 0], [0, 3, 1]]),), {}, True),
    ("ldexp_", X, "float64", lambda L: (L.tensor([[1, 2, -1], [0, 3, 1]]),), {}, False),
    ("sgn_", X, "float64", lambda L: (), {}, True),
    ("fix_", X, "float64", lambda L: (), {}, True),
    ("tril_", SQ, "float64", lambda L: (), {}, True),
    ("triu_", SQ, "float64", lambda L: (1,), {}, True),
    ("tril_", [[1, 2], [3, 4]], "int64", lambda L: (-1,), {}, False),
    ("renorm_", X, "float64", lambda L: (2, 0, 1.0), {}, True),
    ("mvlgamma_", [[1.5, 2.5], [3.0, 4.0]], "float64", lambda L: (2,), {}, True),
    ("polygamma_", POS, "float64", lambda L: (1,), {}, True),
    ("fill_diagonal_", SQ, "float64", lambda L: (7.0,), {}, True),
    ("fill_diagonal_", [[1, 2], [3, 4], [5, 6], [7, 8]], "int64", lambda L: (0,), {"wrap": True}, False),
]
for _name in ("eq_", "ne_", "lt_", "le_", "gt_", "ge_", "greater_", "greater_equal_", "less_",
              "less_equal_", "not_equal_"):
    INPLACE.append((_name, X, "float64", lambda L: (L.tensor(Y, dtype=L.float64),), {}, True))
INPLACE.append(("lt_", [[1, 2, 3]], "int64", lambda L: (2.5,), {}, False))
INPLACE.append(("eq_", [[True, False]], "bool", lambda L: (1,), {}, False))
for _name in ("logical_and_", "logical_or_", "logical_xor_"):
    INPLACE.append((_name, [[1.0, 0.0, 2.0]], "float32", lambda L: (L.tensor([[0, 0, 3]]),), {}, False))
INPLACE.append(("logical_not_", [[1, 0, 3]], "int64", lambda L: (), {}, False))
INPLACE.append(("logical_not_", [[1.0, 0.0]], "float32", lambda L: (), {}, False))
_IDS = [f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(INPLACE)]


def _run(L, name, data, dtype, args, kwargs):
    x = L.tensor(data, dtype=getattr(L, dtype))
    v0 = x._version
    y = getattr(x, name)(*args(L), **kwargs)
    return y is x, x._version - v0, x


@pytest.mark.parametrize("case", INPLACE, ids=_IDS)
def test_inplace_values_identity_version(case):
    name, data, dtype, args, kwargs, _ = case
    same_t, dv_t, x_t = _run(torch, name, data, dtype, args, kwargs)
    same_p, dv_p, x_p = _run(pyrch, name, data, dtype, args, kwargs)
    assert same_p and same_t
    assert dv_p == dv_t
    _same(x_p, x_t)


@pytest.mark.parametrize("case", [c for c in INPLACE if c[5]], ids=[i for i, c in zip(_IDS, INPLACE) if c[5]])
def test_inplace_autograd(case):
    name, data, dtype, args, kwargs, _ = case

    def grads(L):
        a = L.tensor(data, dtype=L.float64, requires_grad=True)
        extra = [t.detach().requires_grad_() if hasattr(t, "requires_grad") and t.is_floating_point()
                 else t for t in args(L)]
        x = a * 1.5
        y = getattr(x, name)(*extra, **kwargs)
        w = L.arange(1, y.numel() + 1, dtype=L.float64).reshape(y.shape)
        (y * w).sum().backward()
        return [a.grad] + [t.grad for t in extra if hasattr(t, "requires_grad") and t.requires_grad]

    got = grads(pyrch)
    try:
        want = grads(torch)
    except NotImplementedError:     # torch has no in-place acosh_/asinh_/atanh_ derivative
        name = name[:-1]
        want = grads(torch)
    _same(got[0], want[0])
    for g, w in zip(got[1:], want[1:]):
        if w is None or g is None:     # comparisons give torch a zero grad, pyrch none
            assert (g is None or not g.abs().sum().item()) and (w is None or not w.abs().sum().item())
        else:
            _same(g, w)


@pytest.mark.parametrize("case", [c for c in INPLACE if c[5]], ids=[i for i, c in zip(_IDS, INPLACE) if c[5]])
def test_inplace_on_leaf_that_requires_grad(case):
    name, data, dtype, args, kwargs, _ = case
    _both(lambda L: getattr(L.tensor(data, dtype=L.float64, requires_grad=True), name)(
        *args(L), **kwargs))


@pytest.mark.parametrize("name,args,kw", [
    ("addcmul_", lambda L: (L.tensor(Y[0], dtype=L.float64), L.tensor(Z[0], dtype=L.float64)), {}),
    ("gt_", lambda L: (0.5,), {}),
    ("cumsum_", lambda L: (0,), {}),
    ("fill_diagonal_", lambda L: (3.0,), {}),
])
def test_inplace_on_a_view_with_autograd(name, args, kw):
    def grads(L):
        a = L.tensor(SQ, dtype=L.float64, requires_grad=True)
        x = a * 2
        v = x[1] if name != "fill_diagonal_" else x[1:, :2]
        y = getattr(v, name)(*args(L), **kw)
        assert y is v
        (x * L.arange(9, dtype=L.float64).reshape(3, 3)).sum().backward()
        return x.detach(), a.grad

    _same(grads(pyrch), grads(torch))


@pytest.mark.parametrize("fn", [
    lambda L: L.tensor([1.0, 2.0]).float_power_(2),
    lambda L: L.tensor([1, 2]).true_divide_(2),
    lambda L: L.tensor([1, 2]).ldexp_(L.tensor([1, 2])),
    lambda L: L.tensor([1, 2]).cumsum_(0, dtype=L.float32),
    lambda L: L.tensor([1.0, 2.0]).cumprod_(0, dtype=L.float64),
    lambda L: L.tensor([1, 2]).mvlgamma_(1),
    lambda L: L.tensor([1, 2]).polygamma_(1),
    lambda L: L.tensor([1, 2]).arctan2_(L.tensor([1, 2])),
    lambda L: L.ones(3, 3, 2).fill_diagonal_(5),
    lambda L: L.ones(3).fill_diagonal_(5),
    lambda L: L.ones(3, 3, requires_grad=True).fill_diagonal_(1),
    lambda L: L.ones(3, 3, 3).fill_diagonal_(5),
    lambda L: L.ones(7, 3).fill_diagonal_(5),
    lambda L: L.ones(2, 3).fill_diagonal_(5, wrap=True),
], ids=["float_power_", "true_divide_", "ldexp_", "cumsum_", "cumprod_", "mvlgamma_", "polygamma_",
        "arctan2_", "fill-3d-uneven", "fill-1d", "fill-leaf", "fill-3d", "fill-tall", "fill-wide"])
def test_inplace_errors_and_edges(fn):
    _both(fn)


def test_logical_inplace_keeps_history_and_skips_leaf_check():
    for L in (torch, pyrch):
        a = L.tensor([1.0, 0.0], requires_grad=True)
        assert a.logical_not_() is a and a.requires_grad and a.grad_fn is None
        b = L.tensor([1.0, -2.0], requires_grad=True)
        y = b * 2
        fn = y.grad_fn
        y.logical_and_(y)
        assert y.grad_fn is fn
    _same(pyrch.tensor([1.0, 0.0], requires_grad=True).logical_not_(),
          torch.tensor([1.0, 0.0], requires_grad=True).logical_not_())


# -- methods -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [
    lambda L: L.arange(6.0).reshape(2, 3).where(L.arange(6).reshape(2, 3) > 2, L.zeros(1)),
    lambda L: L.arange(6.0).reshape(2, 3).where(L.arange(6).reshape(2, 3) > 2, -1.0),
    lambda L: L.arange(6.0).reshape(2, 3).sum_to_size(1, 3),
    lambda L: L.arange(6.0).reshape(2, 3).sum_to_size((2, 1)),
    lambda L: L.arange(6.0).reshape(2, 3).sum_to_size(3),
    lambda L: L.arange(6.0).reshape(2, 3).sum_to_size(1, 2),
    lambda L: L.arange(6.0).reshape(2, 3).sum_to_size(2, 2, 3),
    lambda L: L.arange(6.0).reshape(2, 3)[:, 1:].storage_offset(),
    lambda L: L.arange(6.0)[3:].storage_offset(),
    lambda L: L.arange(6.0).storage_offset(),
    lambda L: L.tensor(X).prelu(L.tensor([0.1])),
    lambda L: L.tensor(X).hardshrink(0.6),
    lambda L: L.tensor(X).hardshrink(),
    lambda L: L.tensor(POS).polygamma(2),
    lambda L: L.tensor(SQ, dtype=L.float64).qr(),
    lambda L: L.tensor(X, dtype=L.float64).T.qr(some=False),
    lambda L: L.tensor(SQ, dtype=L.float64).lu(),
    lambda L: L.tensor([SQ, [[0.0, 1.0, 2.0], [1.0, 0.0, 0.0], [3.0, 1.0, 1.0]]]).lu(get_infos=True),
    lambda L: L.tensor([[0.0, 0.0], [0.0, 1.0]]).lu(get_infos=True),
    lambda L: L.tensor(X, dtype=L.float64).lu(),
    lambda L: L.tensor(X, dtype=L.float64).T.lu(),
    lambda L: L.tensor(Y, dtype=L.float64).T.lu_solve(*L.tensor(SQ, dtype=L.float64).lu()),
    lambda L: L.tensor([Y, Z], dtype=L.float64).mT.lu_solve(*L.tensor(SQ, dtype=L.float64).lu()),
    lambda L: L.tensor(Y, dtype=L.float64).T.triangular_solve(L.tensor(SQ, dtype=L.float64)),
    lambda L: L.tensor(Y, dtype=L.float64).T.triangular_solve(
        L.tensor(SQ, dtype=L.float64), upper=False, transpose=True, unitriangular=True),
    lambda L: L.tensor(Y, dtype=L.float64).T.cholesky_solve(L.tensor(SQ, dtype=L.float64).tril()),
    lambda L: L.tensor(Y, dtype=L.float64).T.cholesky_solve(L.tensor(SQ, dtype=L.float64).triu(),
                                                           upper=True),
    lambda L: L.tensor(SQ, dtype=L.float64).tril().cholesky_inverse(),
    lambda L: L.tensor(SQ, dtype=L.float64).triu().cholesky_inverse(upper=True),
    lambda L: L.tensor([-1.0, 0.0, 2.0, float("nan"), -float("inf")]).angle(),
    lambda L: L.tensor([-1, 0, 2]).angle(),
    lambda L: L.tensor(X).adjoint(),
    lambda L: L.tensor([1.0]).adjoint(),
    lambda L: L.tensor(X).imag,
], ids=lambda f: None)
def test_methods(fn):
    _both(fn, tol=1e-5)


def test_real_tensor_identities_and_predicates():
    for L in (torch, pyrch):
        x = L.tensor([1.0, -2.0])
        assert x.real is x and x.conj() is x and x.resolve_conj() is x and x.resolve_neg() is x
        assert x.conj_physical() is x
        assert not x.is_conj() and not x.is_neg() and not x.is_inference()
        assert not (x.is_meta or x.is_sparse or x.is_quantized or x.is_nested)
        assert x.output_nr == 0 and (x * 2).output_nr == 0
        assert not x.is_pinned() and x.share_memory_() is x
    assert pyrch.tensor([1.0]).layout is pyrch.strided and repr(pyrch.strided) == "pyrch.strided"
    assert torch.tensor([1.0]).layout is torch.strided
    x = pyrch.tensor([1.0])
    assert x.pin_memory() is x and not x.is_shared()


@pytest.mark.parametrize("src,transpose", [(SQ, False), (X, True), (X, False)],
                         ids=["square", "tall", "wide"])
def test_lu_grad(src, transpose):
    def grads(L):
        a = L.tensor(src, dtype=L.float64, requires_grad=True)
        out = (a.T if transpose else a).lu()[0]
        (out * L.arange(1, out.numel() + 1, dtype=L.float64).reshape(out.shape)).sum().backward()
        return a.grad

    _same(grads(pyrch), grads(torch))


@pytest.mark.parametrize("method", ["lu_solve", "triangular_solve", "cholesky_solve", "cholesky_inverse"])
def test_legacy_solver_grads(method):
    def grads(L):
        m = L.tensor(SQ, dtype=L.float64)
        b = L.tensor(Y, dtype=L.float64).T.detach().requires_grad_()
        if method == "lu_solve":
            lu, piv = m.lu()
            lu.requires_grad_()
            out, leaves = b.lu_solve(lu, piv), (b, lu)
        elif method == "triangular_solve":
            m.requires_grad_()
            out, leaves = b.triangular_solve(m, upper=False)[0], (b, m)
        elif method == "cholesky_solve":
            f = m.tril().requires_grad_()
            out, leaves = b.cholesky_solve(f), (b, f)
        else:
            f = m.triu().requires_grad_()
            out, leaves = f.cholesky_inverse(upper=True), (f,)
        w = L.arange(1, out.numel() + 1, dtype=L.float64).reshape(out.shape)
        (out * w).sum().backward()
        return [t.grad for t in leaves]

    _same(grads(pyrch), grads(torch), tol=1e-6)


@pytest.mark.parametrize("fn", [
    lambda L: L.tensor(X).new(2, 3).shape,
    lambda L: L.tensor(X).new(L.Size([2, 2])).shape,
    lambda L: L.tensor(X).new([1, 2]),
    lambda L: L.tensor(X).new((2, 3)),
    lambda L: L.tensor(X).new(),
    lambda L: L.tensor([1, 2]).new([1.5]),
    lambda L: L.tensor(X).new(L.tensor([1, 2])),
    lambda L: L.tensor(X).new(L.tensor([3.0, 4.0])),
    lambda L: L.tensor(X).new([1, 2], dtype=L.int64),
    lambda L: L.tensor(X).new_empty_strided((2, 3), (1, 2)).stride(),
    lambda L: L.tensor(X, dtype=L.float64).new_empty_strided((2, 3), (3, 1), dtype=L.int32).dtype,
], ids=lambda f: None)
def test_new(fn):
    try:
        want = fn(torch)
    except TypeError as e:
        with pytest.raises(TypeError) as got:
            fn(pyrch)
        if "TensorOptions" in str(e):
            assert str(got.value) == str(e)
        else:
            assert str(got.value).split(" - got")[0] == str(e).split(" - got")[0]
        return
    got = fn(pyrch)
    if hasattr(want, "numpy"):
        _same(got, want)
    else:
        assert tuple(got) == tuple(want) if isinstance(want, tuple) else str(got) == str(want).replace(
            "torch", "pyrch")


def test_new_aliases_same_dtype_tensor():
    x = pyrch.tensor([1.0, 2.0])
    y = x.new(x)
    assert y is not x and y.data_ptr() == x.data_ptr()


def test_resize():
    for L in (torch, pyrch):
        x = L.arange(6.0)
        assert x.resize_(2, 3) is x and x._version == 1 and tuple(x.shape) == (2, 3)
        x.resize_(2, 3)
        assert x._version == 1
        x.resize_(7)
        assert x._version == 2 and x[:6].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        y = L.arange(6.0)
        assert y.resize_as_(L.ones(3, 2)).tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
        v = L.arange(6.0)[1:]
        assert v.resize_(2).tolist() == [1.0, 2.0]
    for make in (lambda L: L.arange(6.0, requires_grad=True),
                 lambda L: L.arange(6.0, requires_grad=True) * 1):
        _both(lambda L: make(L).resize_(2, 3))


@pytest.mark.parametrize("fn", [
    lambda L: L.arange(6.0).apply_(lambda v: v * 2),
    lambda L: L.arange(6).apply_(lambda v: v * 2.5),
    lambda L: L.arange(6.0, requires_grad=True).apply_(lambda v: v * 2),
    lambda L: L.arange(3.0).map_(L.ones(3), lambda a, b: a + b),
    lambda L: L.arange(3.0).map_(L.tensor([2.0]), lambda a, b: a * b),
    lambda L: L.arange(3.0).map_(L.ones(3, requires_grad=True), lambda a, b: a),
    lambda L: L.arange(3.0, requires_grad=True).map_(L.ones(3), lambda a, b: a),
])
def test_apply_map(fn):
    _both(fn)


def test_apply_map_identity_and_version():
    for L in (torch, pyrch):
        x = L.arange(3.0)
        assert x.apply_(lambda v: v + 1) is x and x.map_(x, lambda a, b: a * b) is x
        assert x._version == 0 and x.tolist() == [1.0, 4.0, 9.0]


def test_map_shape_error():
    for other in ([1.0, 1.0], ):
        with pytest.raises(RuntimeError, match=r"The expanded size of the tensor \(3\) must match"):
            pyrch.arange(3.0).map_(pyrch.tensor(other), lambda a, b: a)


def test_post_accumulate_grad_hook():
    def run(L):
        w = L.tensor([1.0, 2.0], requires_grad=True)
        seen = []
        h = w.register_post_accumulate_grad_hook(lambda t: seen.append((t is w, t.grad.tolist())))
        (w * 3).sum().backward()
        (w * w).sum().backward()
        h.remove()
        (w * 3).sum().backward()
        return seen

    assert run(pyrch) == run(torch) == [(True, [3.0, 3.0]), (True, [5.0, 7.0])]
    _both(lambda L: (L.ones(2, requires_grad=True) * 2).register_post_accumulate_grad_hook(print))
    _both(lambda L: L.ones(2).register_post_accumulate_grad_hook(print))


def test_post_accumulate_grad_hook_optimizer_step_in_hook():
    """The use torch documents: an optimizer step per parameter as soon as its grad is in."""
    def run(L):
        w = L.tensor([1.0, -1.0], requires_grad=True)

        def step(p):
            with L.no_grad():
                p.sub_(0.1 * p.grad)
            p.grad = None
        w.register_post_accumulate_grad_hook(step)
        for _ in range(3):
            ((w - 2) ** 2).sum().backward()
        return w.detach()

    _same(run(pyrch), run(torch))


@pytest.mark.parametrize("fn", [
    lambda L: L.tensor([1.0, 2.0]).ger(L.tensor([3.0, 4.0, 5.0])),
    lambda L: L.arange(12.0).reshape(3, 4).narrow_copy(1, 1, 2),
    lambda L: L.arange(12.0).reshape(3, 4).narrow_copy(1, 1, 2).is_contiguous(),
    lambda L: L.tensor(SQ).lu(pivot=False),
])
def test_small_extras(fn):
    _both(fn)


def test_const_data_ptr():
    x = pyrch.arange(4.0)
    assert x.const_data_ptr() == x.data_ptr() and x[1:].const_data_ptr() == x.data_ptr() + 4


def test_new_empty_strided_mismatch():
    _both(lambda L: L.ones(2).new_empty_strided((2, 2), (1,)))
