"""pyrch.autograd.functional and pyrch.func against torch.autograd.functional / torch.func."""
import numpy as np
import pytest

import pyrch
from pyrch import func as pf
from pyrch.autograd import functional as AF

torch = pytest.importorskip("torch")
TF = torch.autograd.functional

R = np.random.RandomState(0)
X = R.randn(3)
Y = R.randn(3)
V = R.randn(3)


def P(a, rg=False):
    return pyrch.tensor(np.asarray(a, dtype=np.float64), requires_grad=rg)


def T(a, rg=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=rg)


def same(a, b):
    """Equal structure (tuple/list/dict) and values."""
    if isinstance(b, torch.Tensor):
        assert isinstance(a, pyrch.Tensor), type(a)
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    elif isinstance(b, dict):
        assert isinstance(a, dict) and list(a) == list(b)
        for k in b:
            same(a[k], b[k])
    elif isinstance(b, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            same(x, y)
    else:
        assert a == b


def cubic(x):
    return x ** 3 * 2 - x


def two_in_two_out(x, y):
    return (x ** 2 * y, (x * y.exp()).sum())


def scalar(x):
    return (x ** 3).sum() * x.sum()


def scalar2(x, y):
    return (x ** 2 * y.sin()).sum()


# ---- torch.autograd.functional ----

@pytest.mark.parametrize("name", ["vjp", "jvp"])
def test_vjp_jvp_single(name):
    same(getattr(AF, name)(cubic, P(X), P(V)), getattr(TF, name)(cubic, T(X), T(V)))


def test_vjp_jvp_tuples():
    v_out = (P(V), P(1.5))
    same(AF.vjp(two_in_two_out, (P(X), P(Y)), v_out),
         TF.vjp(two_in_two_out, (T(X), T(Y)), (T(V), T(1.5))))
    same(AF.jvp(two_in_two_out, (P(X), P(Y)), (P(V), P(X))),
         TF.jvp(two_in_two_out, (T(X), T(Y)), (T(V), T(X))))
    # a one-element tuple stays a tuple
    same(AF.vjp(lambda x: (x * 2,), (P(X),), (P(V),)), TF.vjp(lambda x: (x * 2,), (T(X),), (T(V),)))


def test_vjp_v_none_and_unused_input():
    same(AF.vjp(lambda x, y: (x ** 2).sum(), (P(X), P(Y))),
         TF.vjp(lambda x, y: (x ** 2).sum(), (T(X), T(Y))))
    same(AF.jvp(lambda x: x ** 3, P(2.0)), TF.jvp(lambda x: x ** 3, T(2.0)))


@pytest.mark.parametrize("kw", [{}, {"vectorize": True}, {"strategy": "forward-mode", "vectorize": True}])
def test_jacobian(kw):
    same(AF.jacobian(cubic, P(X), **kw), TF.jacobian(cubic, T(X), **kw))
    same(AF.jacobian(two_in_two_out, (P(X), P(Y)), **kw), TF.jacobian(two_in_two_out, (T(X), T(Y)), **kw))
    f = lambda x, y: x * y  # noqa: E731  tuple in, single out
    same(AF.jacobian(f, (P(X), P(Y)), **kw), TF.jacobian(f, (T(X), T(Y)), **kw))
    g = lambda x: (x, x.sum())  # noqa: E731  single in, tuple out
    same(AF.jacobian(g, P(X), **kw), TF.jacobian(g, T(X), **kw))


def test_jacobian_create_graph_is_differentiable():
    x = P(X, True)
    j = AF.jacobian(cubic, x, create_graph=True)
    assert j.requires_grad
    (g,) = pyrch.autograd.grad(j.sum(), x)
    xt = T(X, True)
    (gt,) = torch.autograd.grad(TF.jacobian(cubic, xt, create_graph=True).sum(), xt)
    same(g, gt)
    assert not AF.jacobian(cubic, P(X, True)).requires_grad


def test_hessian_vhp_hvp():
    same(AF.hessian(scalar, P(X)), TF.hessian(scalar, T(X)))
    same(AF.hessian(scalar2, (P(X), P(Y))), TF.hessian(scalar2, (T(X), T(Y))))
    for name in ("vhp", "hvp"):
        same(getattr(AF, name)(scalar, P(X), P(V)), getattr(TF, name)(scalar, T(X), T(V)))
        same(getattr(AF, name)(scalar2, (P(X), P(Y)), (P(V), P(Y))),
             getattr(TF, name)(scalar2, (T(X), T(Y)), (T(V), T(Y))))


def test_hvp_create_graph():
    x = P(X, True)
    _, h = AF.hvp(scalar, x, P(V), create_graph=True)
    (g,) = pyrch.autograd.grad(h.sum(), x)
    xt = T(X, True)
    _, ht = TF.hvp(scalar, xt, T(V), create_graph=True)
    (gt,) = torch.autograd.grad(ht.sum(), xt)
    same(g, gt)


def test_unused_input_zeros_and_strict_errors():
    f = lambda x, y: x * 2  # noqa: E731
    same(AF.jacobian(f, (P(X), P(Y))), TF.jacobian(f, (T(X), T(Y))))
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function is independent of "
                                           "input 1. This is not allowed in strict mode."):
        AF.jacobian(f, (P(X), P(Y)), strict=True)
    with pytest.raises(RuntimeError, match="The output of the user-provided function is independent of "
                                           "input 1. This is not allowed in strict mode."):
        AF.vjp(f, (P(X), P(Y)), P(V), strict=True)
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function does not require "
                                           "gradients"):
        AF.vjp(lambda x: pyrch.ones(3, dtype=pyrch.float64), P(X), P(V), strict=True)
    with pytest.raises(RuntimeError, match="While computing the hessian, found that the jacobian"):
        AF.hessian(lambda x: x.sum(), P(X), strict=True)
    for fn in ("vhp", "hvp", "hessian"):
        args = ((P(X), P(Y)), (P(V), P(V))) if fn != "hessian" else ((P(X), P(Y)),)
        targs = ((T(X), T(Y)), (T(V), T(V))) if fn != "hessian" else ((T(X), T(Y)),)
        for f in (lambda x, y: (x ** 2).sum(), lambda x, y: (x ** 3).sum() + y.sum()):
            with pytest.raises(RuntimeError) as mine:
                getattr(AF, fn)(f, *args, strict=True)
            with pytest.raises(RuntimeError) as theirs:
                getattr(TF, fn)(f, *targs, strict=True)
            assert str(mine.value) == str(theirs.value)


def test_input_and_v_errors():
    with pytest.raises(TypeError, match="The inputs given to vjp must be either a Tensor or a tuple of "
                                        "Tensors but the given inputs has type <class 'float'>."):
        AF.vjp(cubic, 3.0)
    with pytest.raises(TypeError, match="but the value at index 1 has type <class 'int'>"):
        AF.jacobian(lambda x, y: x, (P(X), 1))
    with pytest.raises(TypeError, match="The outputs of the user-provided function given to jacobian"):
        AF.jacobian(lambda x: 1.0, P(X))
    with pytest.raises(RuntimeError, match="The vector v can only be None if the user-provided function "
                                           "returns a single Tensor with a single element."):
        AF.vjp(cubic, P(X))
    with pytest.raises(RuntimeError, match="The vector v can only be None if the input to the "
                                           "user-provided function is a single Tensor"):
        AF.jvp(cubic, P(X))
    with pytest.raises(RuntimeError, match=r"v has invalid size: should be pyrch.Size\(\[3\]\) but got"):
        AF.vjp(cubic, P(X), P([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="v is a tuple of invalid length: should be 2 but got 1."):
        AF.jvp(two_in_two_out, (P(X), P(Y)), (P(V),))
    with pytest.raises(RuntimeError, match="The given v should contain a single Tensor."):
        AF.vjp(cubic, P(X), (P(V), P(V)))
    with pytest.raises(RuntimeError, match="The function given to hessian should return a single Tensor"):
        AF.hessian(lambda x: (x.sum(), x.sum()), P(X))
    with pytest.raises(RuntimeError, match="The Tensor returned by the function given to vhp should "
                                           "contain a single element"):
        AF.vhp(cubic, P(X), P(V))
    with pytest.raises(AssertionError, match='Expected strategy to be either "forward-mode"'):
        AF.jacobian(cubic, P(X), strategy="sideways")
    with pytest.raises(NotImplementedError, match="only implemented for `vectorize=True`"):
        AF.jacobian(cubic, P(X), strategy="forward-mode")
    with pytest.raises(RuntimeError, match="`strict=True` and `vectorized=True` are not supported"):
        AF.jacobian(cubic, P(X), strict=True, vectorize=True)


def test_outputs_detached_and_grad_mode_respected():
    x = P(X, True)
    out, g = AF.vjp(cubic, x, P(V))
    assert not out.requires_grad and not g.requires_grad
    out, g = AF.vjp(cubic, x, P(V), create_graph=True)
    assert out.requires_grad and g.requires_grad
    with pyrch.no_grad():
        assert AF.jacobian(cubic, P(X)).shape == (3, 3)


# ---- torch.func ----

def test_grad_and_value_argnums_has_aux():
    same(pf.grad(scalar)(P(X)), torch.func.grad(scalar)(T(X)))
    same(pf.grad(scalar2, argnums=1)(P(X), P(Y)), torch.func.grad(scalar2, argnums=1)(T(X), T(Y)))
    same(pf.grad(scalar2, argnums=(0, 1))(P(X), P(Y)), torch.func.grad(scalar2, argnums=(0, 1))(T(X), T(Y)))
    same(pf.grad(scalar2, argnums=-1)(P(X), P(Y)), torch.func.grad(scalar2, argnums=-1)(T(X), T(Y)))
    f = lambda x: (scalar(x), {"sq": x * x})  # noqa: E731
    same(pf.grad(f, has_aux=True)(P(X)), torch.func.grad(f, has_aux=True)(T(X)))
    same(pf.grad_and_value(f, has_aux=True)(P(X)), torch.func.grad_and_value(f, has_aux=True)(T(X)))
    same(pf.grad_and_value(scalar)(P(X)), torch.func.grad_and_value(scalar)(T(X)))


def test_grad_pytree_argument_and_unused():
    def f(d, y):
        return (d["a"] ** 2 * d["b"][0]).sum() + y.sum()
    dp = {"a": P(X), "b": [P(Y), P(V)]}
    dt = {"a": T(X), "b": [T(Y), T(V)]}
    same(pf.grad(f)(dp, P(V)), torch.func.grad(f)(dt, T(V)))
    g = pf.grad(f)(dp, P(V))
    assert not g["a"].requires_grad


def test_grad_errors():
    with pytest.raises(RuntimeError, match=r"grad_and_value\(f\)\(\*args\): Expected f\(\*args\) to return "
                                           r"a scalar Tensor, got tensor with 1 dims. Maybe you wanted to "
                                           r"use the vjp or jacrev APIs instead\?"):
        pf.grad(cubic)(P(X))
    with pytest.raises(RuntimeError, match="Expected f\\(\\*args\\) to return a Tensor, got <class 'float'>"):
        pf.grad(lambda x: 3.0)(P(X))
    with pytest.raises(RuntimeError, match="Got argnum=1, but only 1 positional inputs"):
        pf.grad(scalar, argnums=1)(P(X))
    with pytest.raises(RuntimeError, match="argnums must be non-empty"):
        pf.grad(scalar, argnums=())(P(X))
    with pytest.raises(RuntimeError, match=r"argnums elements must be unique, got \(0, 0\)"):
        pf.grad(scalar, argnums=(0, 0))(P(X))
    with pytest.raises(RuntimeError,
                       match="argnums must be int or Tuple\\[int, ...\\], got: <class 'float'>"):
        pf.grad(scalar, argnums=1.0)(P(X))
    with pytest.raises(ValueError, match="Thing passed to transform API must be Tensor, got <class 'float'>"):
        pf.grad(scalar)(3.0)
    with pytest.raises(RuntimeError, match="output of function f should be a tuple: \\(output, aux\\) if "
                                           "has_aux is True"):
        pf.grad(scalar, has_aux=True)(P(X))
    with pytest.raises(RuntimeError, match="Expected tensors, got unsupported type <class 'float'>"):
        pf.grad(lambda x: (scalar(x), [x, 1.0]), has_aux=True)(P(X))


def test_grad_of_grad_and_outer_autograd():
    f = lambda x: (x ** 4).sum()  # noqa: E731
    gg = pf.grad(lambda x: pf.grad(f)(x).sum())
    same(gg(P(X)), torch.func.grad(lambda x: torch.func.grad(f)(x).sum())(T(X)))
    # a closed-over tensor requiring grad keeps the result differentiable for outer autograd
    w = P(Y, True)
    g = pf.grad(lambda x: (w * x ** 2).sum())(P(X))
    (gw,) = pyrch.autograd.grad(g.sum(), w)
    wt = T(Y, True)
    (gwt,) = torch.autograd.grad(torch.func.grad(lambda x: (wt * x ** 2).sum())(T(X)).sum(), wt)
    same(gw, gwt)


def test_vjp():
    out, fn = pf.vjp(two_in_two_out, P(X), P(Y))
    out_t, fn_t = torch.func.vjp(two_in_two_out, T(X), T(Y))
    same(out, out_t)
    same(fn((P(V), P(2.0))), fn_t((T(V), T(2.0))))
    same(fn((P(Y), P(-1.0))), fn_t((T(Y), T(-1.0))))      # callable twice
    r = pf.vjp(lambda x: (x * x, x.sum()), P(X), has_aux=True)
    rt = torch.func.vjp(lambda x: (x * x, x.sum()), T(X), has_aux=True)
    same(r[0], rt[0])
    same(r[2], rt[2])
    same(r[1](P(V)), rt[1](T(V)))
    _, fn = pf.vjp(lambda x, y: x * 2, P(X), P(Y))
    same(fn(P(V)), torch.func.vjp(lambda x, y: x * 2, T(X), T(Y))[1](T(V)))


def test_vjp_errors():
    _, fn = pf.vjp(two_in_two_out, P(X), P(Y))
    with pytest.raises(RuntimeError, match=r"Expected pytree structure of cotangents to be the same as "
                                           r"pytree structure of outputs to the function. cotangents: "
                                           r"\[\*, \*\], primal output: \(\*, \*\)"):
        fn([P(V), P(1.0)])
    with pytest.raises(RuntimeError, match="vjp\\(f, \\*primals\\): expected f\\(\\*primals\\) to "
                                           "return only tensors, got unsupported type <class 'float'>"):
        pf.vjp(lambda x: 3.0, P(X))
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        pf.vjp(cubic, P(X))[1](P([1.0, 2.0]))


def test_jacrev_jacfwd_hessian():
    for jf, jt in ((pf.jacrev, torch.func.jacrev), (pf.jacfwd, torch.func.jacfwd)):
        same(jf(cubic)(P(X)), jt(cubic)(T(X)))
        same(jf(two_in_two_out, argnums=(0, 1))(P(X), P(Y)), jt(two_in_two_out, argnums=(0, 1))(T(X), T(Y)))
        same(jf(two_in_two_out, argnums=1)(P(X), P(Y)), jt(two_in_two_out, argnums=1)(T(X), T(Y)))
        f = lambda d: {"o": d["a"] * d["b"].sum()}  # noqa: E731
        same(jf(f)({"a": P(X), "b": P(Y)}), jt(f)({"a": T(X), "b": T(Y)}))
        g = lambda x: (x * x, x.sum())  # noqa: E731
        same(jf(g, has_aux=True)(P(X)), jt(g, has_aux=True)(T(X)))
        with pytest.raises(RuntimeError, match="output of function f should be a tuple"):
            jf(cubic, has_aux=True)(P(X))
    same(pf.jacrev(pf.jacrev(cubic))(P(X)), torch.func.jacrev(torch.func.jacrev(cubic))(T(X)))
    same(pf.hessian(scalar)(P(X)), torch.func.hessian(scalar)(T(X)))
    same(pf.hessian(scalar2, argnums=(0, 1))(P(X), P(Y)),
         torch.func.hessian(scalar2, argnums=(0, 1))(T(X), T(Y)))
    lin = lambda x: x * 3  # noqa: E731  a constant Jacobian: zero second derivative
    same(pf.jacrev(pf.jacrev(lin))(P(X)), torch.func.jacrev(torch.func.jacrev(lin))(T(X)))


def test_vmap_basic_in_out_dims():
    A = R.randn(4, 3)
    B = R.randn(3, 4)
    f = lambda a, b: (a * b, (a * b).sum())  # noqa: E731
    same(pf.vmap(f)(P(A), P(B.T)), torch.func.vmap(f)(T(A), T(B.T)))
    same(pf.vmap(f, in_dims=(0, 1))(P(A), P(B)), torch.func.vmap(f, in_dims=(0, 1))(T(A), T(B)))
    same(pf.vmap(f, in_dims=(0, None))(P(A), P(X)), torch.func.vmap(f, in_dims=(0, None))(T(A), T(X)))
    same(pf.vmap(f, in_dims=(1, -1), out_dims=(1, 0))(P(B), P(B)),
         torch.func.vmap(f, in_dims=(1, -1), out_dims=(1, 0))(T(B), T(B)))
    g = lambda d, s: {"y": d["x"][0] * s, "z": [d["x"][1]]}  # noqa: E731
    same(pf.vmap(g, in_dims=({"x": (0, 1)}, None))({"x": (P(A), P(B))}, 2.0),
         torch.func.vmap(g, in_dims=({"x": (0, 1)}, None))({"x": (T(A), T(B))}, 2.0))
    h = lambda a: (a.sum(), 3.0)  # noqa: E731
    same(pf.vmap(h, out_dims=(0, None))(P(A)), torch.func.vmap(h, out_dims=(0, None))(T(A)))
    same(pf.vmap(pf.vmap(lambda a: a * 2))(P(A)), torch.func.vmap(torch.func.vmap(lambda a: a * 2))(T(A)))
    same(pf.vmap(lambda a: a * 2)(P(np.zeros((0, 3)))), torch.func.vmap(lambda a: a * 2)(T(np.zeros((0, 3)))))
    same(pf.vmap(lambda a, k=1: a * k)(P(A), k=3), torch.func.vmap(lambda a, k=1: a * k)(T(A), k=3))


def test_vmap_errors():
    def f(x):
        return x
    A = P(R.randn(4, 3))
    cases = [
        (lambda: pf.vmap(lambda x: 3.0)(A), ValueError, "must only return Tensors, got type <class 'float'>. "
                                                        "Did you mean to set out_dims= to None for output?"),
        (lambda: pf.vmap(f, out_dims=None)(A), ValueError,
         "can not return a BatchedTensor when out_dim is None"),
        (lambda: pf.vmap(f, in_dims=(None,))(A), ValueError,
         "vmap: Expected at least one Tensor to vmap over"),
        (lambda: pf.vmap(f, in_dims=(5,))(A), ValueError,
         r"vmap\(f, in_dims=\(5,\), ...\)\(<inputs>\): Got in_dim=5 for some input, but that input is a "
         r"Tensor of dimensionality 2 so expected in_dim to satisfy -2 <= in_dim < 2."),
        (lambda: pf.vmap(f, in_dims=(0, 0))(A), ValueError, "in_dims is not compatible with the structure of "
                                                            "`inputs`"),
        (lambda: pf.vmap(f, in_dims=[0])(A), ValueError, "expected `in_dims` to be int or a \\(potentially "
                                                         "nested\\) tuple matching the structure of inputs, "
                                                         "got: <class 'list'>."),
        (lambda: pf.vmap(f)(3.0), ValueError, "Got in_dim=0 for an input but the input is of type <class "
                                              "'float'>. We cannot vmap over non-Tensor arguments"),
        (lambda: pf.vmap(lambda x, y: x)(A, P(X)), ValueError,
         r"vmap: Expected all tensors to have the same size in the mapped dimension, got sizes \[4, 3\]"),
        (lambda: pf.vmap(f)(), ValueError, r"vmap\(f\)\(<inputs>\): got no inputs."),
        (lambda: pf.vmap(f, out_dims=(0, 0))(A), ValueError, "out_dims is not compatible with the structure "
                                                             "of `outputs`"),
        (lambda: pf.vmap(f, out_dims=1.0)(A), ValueError, "`out_dims` must be an int, None or a python "
                                                          "collection of ints"),
        (lambda: pf.vmap(f, randomness="foo"), RuntimeError, "Only allowed values for randomness are "
                                                             "'error', 'different', or 'same'. Got foo"),
        (lambda: pf.vmap(f, chunk_size=0), ValueError, r"vmap: chunk_size should be None or greater than 0. "
                                                       r"\(got 0\)"),
        (lambda: pf.vmap(lambda x: x + pyrch.rand(()))(A), RuntimeError,
         "vmap: called random operation while in randomness error mode."),
    ]
    for fn, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            fn()


def test_vmap_randomness_same_and_different():
    A = P(np.zeros((4, 3)))
    same_ = pf.vmap(lambda x: x + pyrch.rand(()), randomness="same")(A)
    assert np.allclose(same_.numpy(), same_.numpy()[0, 0])
    diff = pf.vmap(lambda x: x + pyrch.rand(()), randomness="different")(A)
    assert len(np.unique(diff.numpy())) == 4


def test_per_sample_gradients_linear_model():
    Xs = R.randn(5, 3)
    ys = R.randn(5)
    W = R.randn(3)

    def loss(w, x, y):
        return ((x * w).sum() - y) ** 2

    got = pf.vmap(pf.grad(loss), in_dims=(None, 0, 0))(P(W), P(Xs), P(ys))
    want = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))(T(W), T(Xs), T(ys))
    same(got, want)
    expect = 2 * ((Xs @ W) - ys)[:, None] * Xs
    np.testing.assert_allclose(got.numpy(), expect)


def _mlp_pair():
    pyrch.manual_seed(0)
    pm = pyrch.nn.Sequential(pyrch.nn.Linear(3, 4), pyrch.nn.Tanh(), pyrch.nn.Linear(4, 2)).double()
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    with torch.no_grad():
        for (n, p), (_, q) in zip(pm.named_parameters(), tm.named_parameters()):
            q.copy_(torch.tensor(p.detach().numpy()))
    return pm, tm


def test_functional_call_mlp_grads_and_restore():
    pm, tm = _mlp_pair()
    Xs = R.randn(6, 3)
    pp = {k: P(R.randn(*v.shape), True) for k, v in pm.named_parameters()}
    tp = {k: T(v.detach().numpy(), True) for k, v in pp.items()}
    out = pf.functional_call(pm, pp, (P(Xs),))
    out_t = torch.func.functional_call(tm, tp, (T(Xs),))
    same(out, out_t)
    gs = pyrch.autograd.grad(out.sum(), list(pp.values()))
    gts = torch.autograd.grad(out_t.sum(), list(tp.values()))
    same(list(gs), list(gts))
    # the module's own parameters are back and untouched
    assert all(isinstance(p, pyrch.nn.Parameter) for p in pm.parameters())
    same(pm(P(Xs)), tm(T(Xs)))
    # grad through functional_call with respect to a dict of parameters
    lossp = lambda p, x: pf.functional_call(pm, p, x).pow(2).sum()  # noqa: E731
    losst = lambda p, x: torch.func.functional_call(tm, p, x).pow(2).sum()  # noqa: E731
    same(pf.grad(lossp)(pp, P(Xs)), torch.func.grad(losst)(tp, T(Xs)))
    # per-sample gradients of the MLP
    same(pf.vmap(pf.grad(lossp), in_dims=(None, 0))(pp, P(Xs)),
         torch.func.vmap(torch.func.grad(losst), in_dims=(None, 0))(tp, T(Xs)))


def test_functional_call_dicts_ties_strict():
    pm, tm = _mlp_pair()
    x = R.randn(3)
    w = {"0.weight": P(R.randn(4, 3))}
    b = {"2.bias": P(R.randn(2))}
    same(pf.functional_call(pm, (w, b), P(x)),
         torch.func.functional_call(tm, ({k: T(v.numpy()) for k, v in w.items()},
                                         {k: T(v.numpy()) for k, v in b.items()}), T(x)))
    with pytest.raises(ValueError, match=r"\['0.weight'\] appeared in multiple dictionaries; behavior of "
                                         r"functional call is ambiguous"):
        pf.functional_call(pm, (w, w), P(x))
    with pytest.raises(ValueError, match="Expected parameter_and_buffer_dicts to be a dict, or a list/tuple "
                                         "of dicts, but got <class 'int'>"):
        pf.functional_call(pm, 3, P(x))
    with pytest.raises(RuntimeError, match="Error\\(s\\) in reparametrizing for Sequential:\n\tUnexpected "
                                           "key\\(s\\): 'foo', 'zz'.\n\tMissing key\\(s\\): '0.bias', "
                                           "'2.bias', '2.weight'."):
        pf.functional_call(pm, {"0.weight": w["0.weight"], "zz": P(x), "foo": P(x)}, P(x), strict=True)
    with pytest.raises(ValueError,
                       match="Expected all elements of parameter_and_buffer_dicts to be dictionaries"):
        pf.functional_call(pm, [w, 3], P(x))
    pf.functional_call(pm, {"foo": P(x)}, P(x))
    assert not hasattr(pm, "foo")

    class Tied(pyrch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = pyrch.nn.Linear(2, 2, bias=False).double()
            self.b = pyrch.nn.Linear(2, 2, bias=False).double()
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))
    m = Tied()
    W = R.randn(2, 2)
    v = R.randn(2)
    out = pf.functional_call(m, {"a.weight": P(W)}, P(v))
    np.testing.assert_allclose(out.detach().numpy(), W @ (W @ v))
    out = pf.functional_call(m, {"a.weight": P(W)}, P(v), tie_weights=False)
    np.testing.assert_allclose(out.detach().numpy(), m.a.weight.detach().numpy() @ (W @ v))
    with pytest.raises(ValueError, match=r"functional_call got multiple values for keys \['a.weight', "
                                         r"'b.weight'\], which are tied. Consider using tie_weights=False"):
        pf.functional_call(m, {"a.weight": P(W), "b.weight": P(W)}, P(v))


def test_stack_module_state_and_ensembling():
    pyrch.manual_seed(1)
    models = [pyrch.nn.Linear(3, 2).double() for _ in range(4)]
    params, buffers = pf.stack_module_state(models)
    assert params["weight"].shape == (4, 2, 3) and params["weight"].requires_grad
    assert params["weight"].is_leaf and buffers == {}
    x = P(R.randn(5, 3))
    base = models[0]

    def run(p, b, x):
        return pf.functional_call(base, (p, b), (x,))
    out = pf.vmap(run, in_dims=(0, 0, None))(params, buffers, x)
    want = np.stack([m(x).detach().numpy() for m in models])
    np.testing.assert_allclose(out.detach().numpy(), want)
    with pytest.raises(RuntimeError, match="stack_module_state: Expected at least one model, got 0."):
        pf.stack_module_state([])
    with pytest.raises(RuntimeError, match="Expected all models to have the same training/eval mode."):
        pf.stack_module_state([models[0], pyrch.nn.Linear(3, 2).eval()])
    with pytest.raises(RuntimeError, match="Expected all models to be of the same class."):
        pf.stack_module_state([models[0], pyrch.nn.Tanh()])
    odd = pyrch.nn.Linear(3, 2).double()
    odd.bias.requires_grad_(False)
    with pytest.raises(RuntimeError, match="Expected bias from each model to have the same .requires_grad"):
        pf.stack_module_state([models[0], odd])


def test_outer_autograd_and_no_grad_like_torch():
    def props(lib, F):
        x = lib.tensor(X, requires_grad=True)
        y = lib.tensor(X)
        f = lambda x: (x ** 3).sum()  # noqa: E731
        r = [F.grad(f)(x).requires_grad, F.grad_and_value(f)(x)[1].requires_grad,
             F.vjp(lambda x: x ** 3, x)[0].requires_grad, F.jacrev(lambda x: x ** 3)(x).requires_grad,
             F.grad(f)(y).requires_grad, F.jacrev(lambda x: x ** 3)(y).requires_grad]
        with lib.no_grad():
            g = F.grad(f)(x)
            r += [g.requires_grad, g.detach().numpy().tolist()]
        ct = lib.tensor(V, requires_grad=True)
        g = F.vjp(lambda a: a ** 3, y)[1](ct)[0]
        r += [g.requires_grad, lib.autograd.grad(g.sum(), ct)[0].detach().numpy().tolist()]
        return r
    assert props(pyrch, pf) == props(torch, torch.func)


def test_functional_call_buffers_updated_in_place_like_torch():
    x = R.randn(5, 3)
    res = []
    for lib, F in ((pyrch, pf), (torch, torch.func)):
        m = lib.nn.BatchNorm1d(3).double()
        b = {"running_mean": lib.zeros(3, dtype=lib.float64), "running_var": lib.ones(3, dtype=lib.float64)}
        out = F.functional_call(m, b, (lib.tensor(x),))
        res.append([out.detach().numpy(), b["running_mean"].numpy(), b["running_var"].numpy(),
                    m.running_mean.numpy()])
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("modname", ["pyrch.func", "pyrch.autograd.functional"])
def test_doctests(modname):
    import doctest
    import importlib
    res = doctest.testmod(importlib.import_module(modname),
                          optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0
