"""pyrch.distributions against torch.distributions: shapes, densities, moments, gradients,
KL divergences, validation errors and seeded reproducibility."""
import math
import re

import numpy as np
import pytest

import pyrch
import pyrch.distributions as pd
from pyrch.distributions import Normal, constraints

torch = pytest.importorskip("torch")
td = torch.distributions

R = np.random.default_rng(1234)


def _pos(*shape, low=0.5, high=3.0):
    return R.uniform(low, high, shape)


def _simplex(*shape):
    p = R.uniform(0.1, 1.0, shape)
    return p / p.sum(-1, keepdims=True)


def _tril(d, batch=()):
    a = R.standard_normal(batch + (d, d)) * 0.3
    a = np.tril(a, -1) + np.eye(d) * R.uniform(0.7, 1.5, batch + (d,))[..., None, :]
    return np.tril(a)


_L3 = _tril(3, (2,))
_COV = _L3 @ np.swapaxes(_L3, -1, -2)
_PREC = np.linalg.inv(_COV)
_LO = R.standard_normal(3)
_UNIFORM_VALUES = R.uniform(0.0, 0.5, (4, 3))

# name -> (builder(D, T) for either library, parameter arrays, values to score)
# D is the distributions module, T(a) makes a tensor of the dtype under test.
CASES = {
    "normal": (lambda D, T, p: D.Normal(T(p[0]), T(p[1])), (R.standard_normal(3), _pos(3)),
               R.standard_normal((4, 3))),
    "normal_scalar": (lambda D, T, p: D.Normal(0.5, 2.0), (), R.standard_normal(5)),
    "uniform": (lambda D, T, p: D.Uniform(T(p[0]), T(p[1])), (_LO, _LO + _pos(3)), _LO + _UNIFORM_VALUES),
    "laplace": (lambda D, T, p: D.Laplace(T(p[0]), T(p[1])), (R.standard_normal(3), _pos(3)),
                R.standard_normal((4, 3))),
    "exponential": (lambda D, T, p: D.Exponential(T(p[0])), (_pos(2, 3),), _pos(2, 3, low=0.1)),
    "gamma": (lambda D, T, p: D.Gamma(T(p[0]), T(p[1])), (_pos(3, low=0.3, high=4.0), _pos(3)),
              _pos(2, 3, low=0.1)),
    "beta": (lambda D, T, p: D.Beta(T(p[0]), T(p[1])), (_pos(3), _pos(3)), R.uniform(0.05, 0.95, (2, 3))),
    "beta_scalar": (lambda D, T, p: D.Beta(2.0, 3.5), (), R.uniform(0.05, 0.95, 4)),
    "dirichlet": (lambda D, T, p: D.Dirichlet(T(p[0])), (_pos(2, 4),), _simplex(3, 2, 4)),
    "lognormal": (lambda D, T, p: D.LogNormal(T(p[0]), T(p[1])), (R.standard_normal(3), _pos(3, high=1.0)),
                  _pos(2, 3, low=0.1)),
    "bernoulli_probs": (lambda D, T, p: D.Bernoulli(probs=T(p[0])), (R.uniform(0.1, 0.9, 4),),
                        (R.random((3, 4)) < 0.5).astype(np.float64)),
    "bernoulli_logits": (lambda D, T, p: D.Bernoulli(logits=T(p[0])), (R.standard_normal(4) * 2,),
                         (R.random((3, 4)) < 0.5).astype(np.float64)),
    "categorical_probs": (lambda D, T, p: D.Categorical(probs=T(p[0])), (_simplex(2, 5),),
                          R.integers(0, 5, (3, 2))),
    "categorical_logits": (lambda D, T, p: D.Categorical(logits=T(p[0])), (R.standard_normal((2, 5)),),
                           R.integers(0, 5, (3, 2))),
    "onehot": (lambda D, T, p: D.OneHotCategorical(probs=T(p[0])), (_simplex(2, 4),),
               np.eye(4)[R.integers(0, 4, (3, 2))]),
    "poisson": (lambda D, T, p: D.Poisson(T(p[0])), (_pos(3, high=6.0),),
                R.integers(0, 8, (2, 3)).astype(np.float64)),
    "mvn_tril": (lambda D, T, p: D.MultivariateNormal(T(p[0]), scale_tril=T(p[1])),
                 (R.standard_normal(3), _L3), R.standard_normal((4, 2, 3))),
    "mvn_cov": (lambda D, T, p: D.MultivariateNormal(T(p[0]), covariance_matrix=T(p[1])),
                (R.standard_normal((2, 3)), _COV), R.standard_normal((4, 2, 3))),
    "mvn_prec": (lambda D, T, p: D.MultivariateNormal(T(p[0]), precision_matrix=T(p[1])),
                 (R.standard_normal(3), _PREC), R.standard_normal((4, 2, 3))),
    "independent": (lambda D, T, p: D.Independent(D.Normal(T(p[0]), T(p[1])), 1),
                    (R.standard_normal((2, 3)), _pos(2, 3)), R.standard_normal((4, 2, 3))),
    "tanh_normal": (lambda D, T, p: D.TransformedDistribution(
        D.Normal(T(p[0]), T(p[1])), [D.transforms.TanhTransform()]),
        (R.standard_normal(3) * 0.5, _pos(3, high=1.0)), R.uniform(-0.9, 0.9, (2, 3))),
    "affine_sigmoid": (lambda D, T, p: D.TransformedDistribution(
        D.Normal(T(p[0]), T(p[1])), [D.transforms.AffineTransform(0.5, T(p[2])),
                                     D.transforms.SigmoidTransform()]),
        (R.standard_normal(3), _pos(3), -_pos(3)), R.uniform(0.05, 0.95, (2, 3))),
    "exp_exponential": (lambda D, T, p: D.TransformedDistribution(
        D.Exponential(T(p[0])), D.transforms.ExpTransform()), (_pos(3, low=4.5, high=6.0),),
        _pos(2, 3, low=1.1)),
}

_DT = {"float64": (pyrch.float64, torch.float64), "float32": (pyrch.float32, torch.float32)}


def _build(name, dtype, grad=False):
    builder, params, values = CASES[name]
    pdt, tdt = _DT[dtype]
    pp = [pyrch.tensor(a, dtype=pdt, requires_grad=grad) for a in params]
    tp = [torch.tensor(a, dtype=tdt, requires_grad=grad) for a in params]
    pit, tit = iter(pp), iter(tp)
    d_p = builder(pd, lambda a: next(pit), params)
    d_t = builder(td, lambda a: next(tit), params)
    if values is not None:
        is_int = values.dtype.kind == "i"
        vp = pyrch.tensor(values) if is_int else pyrch.tensor(values, dtype=pdt)
        vt = torch.tensor(values) if is_int else torch.tensor(values, dtype=tdt)
    else:
        vp = vt = None
    return d_p, d_t, pp, tp, vp, vt


def _close(a, b, dtype, rtol=None, atol=None):
    assert isinstance(a, pyrch.Tensor), type(a)
    assert tuple(a.shape) == tuple(b.shape), (a.shape, b.shape)
    rtol = rtol if rtol is not None else (1e-9 if dtype == "float64" else 2e-5)
    atol = atol if atol is not None else (1e-10 if dtype == "float64" else 2e-5)
    np.testing.assert_allclose(a.detach().numpy().astype(np.float64),
                               b.detach().numpy().astype(np.float64), rtol=rtol, atol=atol,
                               equal_nan=True)


def _both(fn_p, fn_t):
    """Both results, or (None, None) where torch has no implementation either."""
    try:
        b = fn_t()
    except NotImplementedError:
        with pytest.raises(NotImplementedError):
            fn_p()
        return None, None
    return fn_p(), b


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name, dtype):
    d_p, d_t, _, _, vp, vt = _build(name, dtype)
    assert d_p.batch_shape == tuple(d_t.batch_shape)
    assert d_p.event_shape == tuple(d_t.event_shape)
    assert d_p.has_rsample == d_t.has_rsample
    tol = {} if dtype == "float64" else {"rtol": 1e-4, "atol": 1e-4}
    _close(d_p.log_prob(vp), d_t.log_prob(vt), dtype, **tol)
    for stat in ("mean", "variance", "stddev", "mode"):
        a, b = _both(lambda: getattr(d_p, stat), lambda: getattr(d_t, stat))
        if b is not None:
            _close(a, b, dtype, **tol)
    a, b = _both(d_p.entropy, d_t.entropy)
    if b is not None:
        _close(a, b, dtype, **tol)
    if name not in ("onehot", "dirichlet", "mvn_tril", "mvn_cov", "mvn_prec", "independent",
                    "bernoulli_probs", "bernoulli_logits", "categorical_probs", "categorical_logits",
                    "poisson", "gamma", "beta", "beta_scalar"):
        _close(d_p.cdf(vp), d_t.cdf(vt), dtype, **tol)
        u = d_t.cdf(vt)
        _close(d_p.icdf(pyrch.tensor(u.numpy())), d_t.icdf(u), dtype,
               **({"rtol": 1e-8, "atol": 1e-8} if dtype == "float64" else {"rtol": 1e-3, "atol": 1e-3}))
    for shape in [(), (5,), (2, 3)]:
        assert d_p.sample(shape).shape == tuple(d_t.sample(shape).shape)
        if d_p.has_rsample:
            assert d_p.rsample(shape).shape == tuple(d_t.rsample(shape).shape)
    if d_t.has_enumerate_support:
        _close(d_p.enumerate_support().to(pyrch.float64), d_t.enumerate_support().double(), "float64")
        _close(d_p.enumerate_support(expand=False).to(pyrch.float64),
               d_t.enumerate_support(expand=False).double(), "float64")
    batch = tuple(vp.shape[:vp.dim() - len(d_p.event_shape)])      # values carry a leading dim
    expanded = d_p.expand(batch)
    assert expanded.batch_shape == batch and expanded.event_shape == d_p.event_shape
    _close(expanded.log_prob(vp), d_t.expand(batch).log_prob(vt), dtype, **tol)
    assert expanded.sample((2,)).shape == (2,) + batch + tuple(d_p.event_shape)


@pytest.mark.parametrize("name", sorted(n for n in CASES if CASES[n][1]))
def test_log_prob_and_entropy_gradients_match_torch(name):
    d_p, d_t, pp, tp, vp, vt = _build(name, "float64", grad=True)
    lp, lt = d_p.log_prob(vp).sum(), d_t.log_prob(vt).sum()
    try:
        lt = lt + d_t.entropy().sum()
        lp = lp + d_p.entropy().sum()
    except NotImplementedError:
        pass
    lp.backward()
    lt.backward()
    for a, b in zip(pp, tp):
        _close(a.grad, b.grad, "float64", rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ["gamma", "beta", "dirichlet", "poisson", "categorical_logits"])
def test_log_prob_gradcheck(name):
    d_p, _, pp, _, vp, _ = _build(name, "float64", grad=True)
    builder, params, _ = CASES[name]

    def f(*ps):
        it = iter(ps)
        return builder(pd, lambda a: next(it), params).log_prob(vp)
    assert pyrch.autograd.gradcheck(f, tuple(pp))


def _moment_check(samples, mean, var, k=5.0):
    """Sample mean within k standard errors of `mean`, sample variance within k of `var`."""
    x = samples.to(pyrch.float64).numpy()
    n = x.shape[0]
    m, v = np.broadcast_to(mean, x.shape[1:]), np.broadcast_to(var, x.shape[1:])
    se_mean = np.sqrt(v / n)
    assert (np.abs(x.mean(0) - m) <= k * se_mean + 1e-12).all(), (x.mean(0), m)
    fourth = ((x - x.mean(0)) ** 4).mean(0)
    se_var = np.sqrt(np.maximum(fourth - v ** 2, 0) / n)
    assert (np.abs(x.var(0) - v) <= k * se_var + 1e-12).all(), (x.var(0), v)


@pytest.mark.parametrize("name", sorted(set(CASES) - {"categorical_probs", "categorical_logits"}))
def test_sample_moments(name):
    pyrch.manual_seed(7)
    d_p, d_t, *_ = _build(name, "float64")
    n = 20000
    draws = [d_p.sample((n,))]
    if d_p.has_rsample:
        draws.append(d_p.rsample((n,)).detach())
    if name in ("tanh_normal", "affine_sigmoid", "exp_exponential"):
        # no closed-form moments: compare with torch's own sample moments instead
        ref = d_t.sample((200000,))
        mean, var = ref.mean(0).numpy(), ref.var(0).numpy()
    else:
        mean, var = d_t.mean.numpy(), d_t.variance.numpy()
    for x in draws:
        _moment_check(x, mean, var)


def test_categorical_sample_frequencies():
    pyrch.manual_seed(3)
    probs = _simplex(2, 5)
    x = pd.Categorical(pyrch.tensor(probs)).sample((20000,)).numpy()
    assert x.dtype == np.int64
    freq = np.stack([(x == k).mean(0) for k in range(5)], -1)
    se = np.sqrt(probs * (1 - probs) / 20000)
    assert (np.abs(freq - probs) <= 5 * se).all()


# -- reparameterised gradients -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["normal", "uniform", "laplace", "exponential", "lognormal",
                                  "tanh_normal", "affine_sigmoid"])
def test_rsample_gradient_matches_torch_on_the_same_noise(name):
    """Recover each draw's CDF value u, rebuild the draw in torch as icdf(u) and compare the
    pathwise gradients of a loss with torch's (these rsample as a monotone map of u)."""
    pyrch.manual_seed(0)
    d_p, d_t, pp, tp, _, _ = _build(name, "float64", grad=True)
    x = d_p.rsample((50,))
    (x.sin() * x).sum().backward()
    with torch.no_grad():
        u = d_t.cdf(torch.tensor(x.detach().numpy()))
    xt = d_t.icdf(u)
    np.testing.assert_allclose(xt.detach().numpy(), x.detach().numpy(), rtol=1e-8, atol=1e-10)
    (xt.sin() * xt).sum().backward()
    for a, b in zip(pp, tp):
        _close(a.grad, b.grad, "float64", rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["mvn_tril", "mvn_cov", "mvn_prec"])
def test_mvn_rsample_gradient_matches_torch_on_the_same_noise(name):
    pyrch.manual_seed(1)
    d_p, d_t, pp, tp, _, _ = _build(name, "float64", grad=True)
    x = d_p.rsample((7,))
    (x.cos() * x).sum().backward()
    lt = d_t.scale_tril.detach().numpy()
    diff = x.detach().numpy() - d_t.loc.detach().numpy()
    eps = np.linalg.solve(lt, diff[..., None])[..., 0]
    xt = d_t.loc + (d_t.scale_tril @ torch.tensor(eps).unsqueeze(-1)).squeeze(-1)
    np.testing.assert_allclose(xt.detach().numpy(), x.detach().numpy(), rtol=1e-8, atol=1e-10)
    (xt.cos() * xt).sum().backward()
    for a, b in zip(pp, tp):
        _close(a.grad, b.grad, "float64", rtol=1e-6, atol=1e-8)


def test_gamma_rsample_gradient_matches_torch_kernel():
    pyrch.manual_seed(2)
    conc = np.array([0.3, 1.0, 2.5, 9.0])
    rate = np.array([1.0, 2.0, 0.5, 3.0])
    c = pyrch.tensor(conc, requires_grad=True)
    r = pyrch.tensor(rate, requires_grad=True)
    x = pd.Gamma(c, r).rsample((100,))
    (x * x).sum().backward()
    xn = x.detach().numpy()
    g = xn * rate      # the standard Gamma draws
    dg = torch._standard_gamma_grad(torch.tensor(conc).expand(100, 4), torch.tensor(g)).numpy()
    np.testing.assert_allclose(c.grad.numpy(), (2 * xn * dg / rate).sum(0), rtol=5e-4)
    np.testing.assert_allclose(r.grad.numpy(), (2 * xn * -xn / rate).sum(0), rtol=1e-10)


def test_standard_gamma_grad_is_the_implicit_derivative():
    """dx/dalpha at a fixed CDF value, against scipy's inverse incomplete gamma."""
    sp = pytest.importorskip("scipy.special")
    a = np.array([0.05, 0.3, 1.0, 4.0, 30.0, 300.0])
    x = np.array([1e-9, 0.2, 1.3, 2.0, 33.0, 280.0])
    u = sp.gammainc(a, x)
    h = 1e-5 * a
    ref = (sp.gammaincinv(a + h, u) - sp.gammaincinv(a - h, u)) / (2 * h)
    got = pyrch._standard_gamma_grad(pyrch.tensor(a), pyrch.tensor(x)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5)


@pytest.mark.parametrize("name", ["gamma", "beta", "dirichlet"])
def test_implicit_rsample_gradient_of_the_mean(name):
    """d E[x] / d params by the pathwise estimator over 20k draws agrees with the gradient of the
    closed-form mean within a few standard errors."""
    pyrch.manual_seed(5)
    d_p, d_t, pp, tp, _, _ = _build(name, "float64", grad=True)
    n = 20000
    x = d_p.rsample((n,))
    flat = x.reshape(n, -1)
    w = R.standard_normal(flat.shape[1])
    per_draw = (flat * pyrch.tensor(w)).sum(-1)
    per_draw.sum().backward()
    (d_t.mean.reshape(-1) * torch.tensor(w)).sum().backward()
    for a, b in zip(pp, tp):
        np.testing.assert_allclose(a.grad.numpy() / n, b.grad.numpy(), rtol=0.05, atol=0.01)


def test_implicit_gradient_is_unbiased_per_parameter():
    """Gamma(alpha, 1): E[dx/dalpha] = 1 and E[d x^2/dalpha] = 2 alpha + 1."""
    pyrch.manual_seed(11)
    for alpha in (0.4, 1.7, 12.0):
        a = pyrch.tensor([alpha] * 20000, dtype=pyrch.float64, requires_grad=True)
        x = pd.Gamma(a, 1.0).rsample()
        (gx,) = pyrch.autograd.grad(x.sum(), [a], retain_graph=True)
        (gx2,) = pyrch.autograd.grad((x * x).sum(), [a])
        for g, want in ((gx.numpy(), 1.0), (gx2.numpy(), 2 * alpha + 1)):
            assert abs(g.mean() - want) <= 5 * g.std() / math.sqrt(g.size), (alpha, g.mean(), want)


def test_has_rsample_flags():
    assert pd.Gamma(1.0, 1.0).has_rsample and pd.Beta(1.0, 2.0).has_rsample
    assert pd.Dirichlet(pyrch.ones(3)).has_rsample
    assert not pd.Bernoulli(0.3).has_rsample and not pd.Categorical(pyrch.ones(3)).has_rsample
    assert not pd.Poisson(2.0).has_rsample
    with pytest.raises(NotImplementedError):
        pd.Bernoulli(0.3).rsample()


# -- KL divergence ------------------------------------------------------------------------------
KL_CASES = {
    "normal": ("Normal", lambda: (R.standard_normal(3), _pos(3))),
    "bernoulli": ("Bernoulli", lambda: (R.uniform(0.05, 0.95, 3),)),
    "categorical": ("Categorical", lambda: (_simplex(2, 4),)),
    "uniform": ("Uniform", None),
    "beta": ("Beta", lambda: (_pos(3), _pos(3))),
    "gamma": ("Gamma", lambda: (_pos(3), _pos(3))),
    "exponential": ("Exponential", lambda: (_pos(3),)),
    "laplace": ("Laplace", lambda: (R.standard_normal(3), _pos(3))),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(KL_CASES))
def test_kl_divergence_matches_torch(name, dtype):
    cls, gen = KL_CASES[name]
    pdt, tdt = _DT[dtype]
    if name == "uniform":
        lo = R.standard_normal(4)
        pa = (lo, lo + 1.0)
        qa = (lo - np.array([0.5, 0.0, -0.2, 0.1]), lo + np.array([2.0, 1.5, 2.0, 0.8]))
    else:
        pa, qa = gen(), gen()
    grads_p = [pyrch.tensor(a, dtype=pdt, requires_grad=True) for a in pa + qa]
    grads_t = [torch.tensor(a, dtype=tdt, requires_grad=True) for a in pa + qa]
    k = len(pa)
    kp = pd.kl_divergence(getattr(pd, cls)(*grads_p[:k]), getattr(pd, cls)(*grads_p[k:]))
    kt = td.kl_divergence(getattr(td, cls)(*grads_t[:k]), getattr(td, cls)(*grads_t[k:]))
    tol = {} if dtype == "float64" else {"rtol": 1e-4, "atol": 1e-5}
    _close(kp, kt, dtype, **tol)
    finite = torch.isfinite(kt)
    kp.masked_fill(pyrch.tensor(~finite.numpy()), 0.0).sum().backward()
    kt.masked_fill(~finite, 0.0).sum().backward()
    for a, b in zip(grads_p, grads_t):
        _close(a.grad, b.grad, dtype, **({"rtol": 1e-7, "atol": 1e-9} if dtype == "float64"
                                         else {"rtol": 1e-3, "atol": 1e-4}))


def test_kl_edge_values_and_independent():
    p, q = pd.Bernoulli(pyrch.tensor([0.0, 1.0, 0.3])), pd.Bernoulli(pyrch.tensor([0.5, 1.0, 0.0]))
    tp, tq = td.Bernoulli(torch.tensor([0.0, 1.0, 0.3])), td.Bernoulli(torch.tensor([0.5, 1.0, 0.0]))
    _close(pd.kl_divergence(p, q), td.kl_divergence(tp, tq), "float32")
    c1, c2 = np.array([[0.0, 0.5, 0.5], [0.2, 0.3, 0.5]]), np.array([[0.1, 0.0, 0.9], [0.3, 0.3, 0.4]])
    _close(pd.kl_divergence(pd.Categorical(pyrch.tensor(c1)), pd.Categorical(pyrch.tensor(c2))),
           td.kl_divergence(td.Categorical(torch.tensor(c1)), td.Categorical(torch.tensor(c2))), "float64")
    a, b = R.standard_normal((2, 3)), _pos(2, 3)
    ip = pd.Independent(pd.Normal(pyrch.tensor(a), pyrch.tensor(b)), 1)
    iq = pd.Independent(pd.Normal(pyrch.tensor(b), pyrch.tensor(a * a + 1)), 1)
    it = td.kl_divergence(td.Independent(td.Normal(torch.tensor(a), torch.tensor(b)), 1),
                          td.Independent(td.Normal(torch.tensor(b), torch.tensor(a * a + 1)), 1))
    _close(pd.kl_divergence(ip, iq), it, "float64")
    with pytest.raises(NotImplementedError, match="No KL"):
        pd.kl_divergence(pd.Normal(0.0, 1.0), pd.Gamma(1.0, 1.0))


def test_register_kl_picks_the_most_specific_pair():
    class MyNormal(pd.Normal):
        pass

    @pd.register_kl(MyNormal, pd.Normal)
    def _kl(p, q):
        return pyrch.tensor(42.0)
    assert pd.kl_divergence(MyNormal(0.0, 1.0), pd.Normal(1.0, 1.0)).item() == 42.0
    assert pd.kl_divergence(pd.Normal(0.0, 1.0), MyNormal(0.0, 1.0)).item() == 0.0
    with pytest.raises(TypeError):
        pd.register_kl(1, pd.Normal)


# -- validation ---------------------------------------------------------------------------------
def _message(fn):
    with pytest.raises(ValueError) as e:
        fn()
    return str(e.value)


@pytest.mark.parametrize("build", [
    lambda D, T: D.Normal(0.0, -1.0),
    lambda D, T: D.Normal(T([0.0, 1.0]), T([1.0, -1.0])),
    lambda D, T: D.Uniform(1.0, 0.0),
    lambda D, T: D.Bernoulli(probs=1.5),
    lambda D, T: D.Bernoulli(),
    lambda D, T: D.Bernoulli(probs=0.3, logits=0.1),
    lambda D, T: D.Categorical(probs=T(0.5)),
    lambda D, T: D.Categorical(probs=T([0.5, -0.1])),
    lambda D, T: D.Normal(0.0, 1.0).log_prob(1.0),
    lambda D, T: D.Normal(T([0.0, 0.0]), 1.0).log_prob(T([0.0, 0.0, 0.0])),
    lambda D, T: D.Bernoulli(0.3).log_prob(T(0.5)),
    lambda D, T: D.Exponential(1.0).log_prob(T(-1.0)),
    lambda D, T: D.Dirichlet(T([1.0, 2.0])).log_prob(T([1.0, 2.0, 3.0])),
    lambda D, T: D.Independent(D.Normal(0.0, 1.0), 1),
    lambda D, T: D.Dirichlet(T([1.0, -1.0])),
    lambda D, T: D.Beta(1.0, -1.0),
    lambda D, T: D.Gamma(T([1.0]), T([0.0])),
    lambda D, T: D.Poisson(-1.0),
    lambda D, T: D.Exponential(0.0),
    lambda D, T: D.Laplace(0.0, 0.0),
    lambda D, T: D.MultivariateNormal(T([0.0, 0.0])),
    lambda D, T: D.MultivariateNormal(T(0.0), scale_tril=T([[1.0]])),
    lambda D, T: D.MultivariateNormal(T([0.0, 0.0]), scale_tril=T([[1.0, 0.0], [0.0, -1.0]])),
])
def test_validation_errors_match_torch(build):
    got = _message(lambda: build(pd, pyrch.tensor))
    want = _message(lambda: build(td, torch.tensor))
    assert got == want.replace("torch.", "pyrch.")


def test_validate_args_switches():
    Normal(0.0, -1.0, validate_args=False)          # no error
    pd.Distribution.set_default_validate_args(False)
    try:
        d = Normal(0.0, -1.0)
        assert math.isnan(d.log_prob(pyrch.tensor(0.0)).item())
        Normal(0.0, 1.0).log_prob(pyrch.tensor([1.0, 2.0]))
    finally:
        pd.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError, match=re.escape("Expected parameter scale")):
        Normal(0.0, -1.0)
    with pytest.raises(ValueError):
        pd.Distribution.set_default_validate_args(3)


def test_constraints():
    x = pyrch.tensor([-1.0, 0.0, 0.5, 1.0, 2.0])
    assert constraints.positive.check(x).tolist() == [False, False, True, True, True]
    assert constraints.nonnegative.check(x).tolist() == [False, True, True, True, True]
    assert constraints.unit_interval.check(x).tolist() == [False, True, True, True, False]
    assert constraints.interval(-1.0, 0.5).check(x).tolist() == [True, True, True, False, False]
    assert constraints.boolean.check(x).tolist() == [False, True, False, True, False]
    assert constraints.nonnegative_integer.check(x).tolist() == [False, True, False, True, True]
    assert constraints.real.check(pyrch.tensor([1.0, float("nan")])).tolist() == [True, False]
    assert constraints.simplex.check(pyrch.tensor([[0.2, 0.8], [0.5, 0.6]])).tolist() == [True, False]
    assert repr(constraints.positive) == repr(td.constraints.positive)
    assert repr(constraints.interval(0.0, 1.0)) == repr(td.constraints.interval(0.0, 1.0))


# -- seeding, tracing, misc ---------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_manual_seed_reproduces_samples(name):
    d_p = _build(name, "float32")[0]
    pyrch.manual_seed(123)
    a = d_p.sample((4,))
    pyrch.manual_seed(123)
    b = d_p.sample((4,))
    c = d_p.sample((4,))
    assert np.array_equal(a.numpy(), b.numpy())
    if d_p.has_rsample:
        pyrch.manual_seed(9)
        r1 = d_p.rsample((3,))
        pyrch.manual_seed(9)
        assert np.array_equal(r1.detach().numpy(), d_p.rsample((3,)).detach().numpy())
    if name not in ("bernoulli_probs", "bernoulli_logits", "categorical_probs", "categorical_logits",
                    "onehot", "poisson"):
        assert not np.array_equal(b.numpy(), c.numpy())


def test_generator_stream_shared_with_randn():
    pyrch.manual_seed(0)
    x = Normal(pyrch.zeros(4), pyrch.ones(4)).rsample()
    pyrch.manual_seed(0)
    assert np.allclose(x.numpy(), pyrch.randn(4).numpy())


def test_traced_log_prob_and_rsample():
    @pyrch.jit.trace
    def f(loc, scale, x):
        d = Normal(loc, scale)
        return d.log_prob(x) + pd.kl_divergence(d, Normal(0.0, 1.0)), d.rsample()

    loc, scale = pyrch.tensor([0.1, -0.3]), pyrch.tensor([1.5, 0.7])
    want = Normal(loc, scale).log_prob(pyrch.tensor([0.2, 0.4])) + \
        pd.kl_divergence(Normal(loc, scale), Normal(0.0, 1.0))
    draws = []
    for _ in range(4):
        out, s = f(loc, scale, pyrch.tensor([0.2, 0.4]))
        np.testing.assert_allclose(out.numpy(), want.numpy(), rtol=1e-6)
        draws.append(s.numpy())
    assert not np.array_equal(draws[-1], draws[-2])     # replays draw fresh numbers


def test_vae_style_training_step_reduces_loss():
    """A reparameterised ELBO-like objective optimised with Adam moves its parameters."""
    pyrch.manual_seed(0)
    mu = pyrch.zeros(3, requires_grad=True)
    log_s = pyrch.zeros(3, requires_grad=True)
    opt = pyrch.optim.Adam([mu, log_s], lr=0.05)
    target = Normal(pyrch.tensor([1.0, -1.0, 2.0]), pyrch.tensor([0.5, 0.5, 0.5]))
    for _ in range(300):
        q = Normal(mu, log_s.exp())
        z = q.rsample((64,))
        loss = (q.log_prob(z) - target.log_prob(z)).mean(0).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(mu.detach().numpy(), [1.0, -1.0, 2.0], atol=0.15)
    np.testing.assert_allclose(log_s.exp().detach().numpy(), [0.5] * 3, atol=0.1)


def test_repr_and_properties():
    assert repr(Normal(0.0, 1.0)) == "Normal(loc: 0.0, scale: 1.0)"
    assert repr(Normal(pyrch.zeros(2), 1.0)) == "Normal(loc: pyrch.Size([2]), scale: pyrch.Size([2]))"
    b = pd.Bernoulli(logits=pyrch.tensor([0.0, 2.0]))
    np.testing.assert_allclose(b.probs.numpy(), [0.5, 1 / (1 + math.exp(-2))], rtol=1e-6)
    c = pd.Categorical(logits=pyrch.tensor([0.0, math.log(3.0)]))
    np.testing.assert_allclose(c.probs.numpy(), [0.25, 0.75], rtol=1e-6)
    m = pd.MultivariateNormal(pyrch.zeros(2), covariance_matrix=pyrch.tensor([[2.0, 0.5], [0.5, 1.0]]))
    np.testing.assert_allclose(m.covariance_matrix.numpy(), [[2.0, 0.5], [0.5, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(m.precision_matrix.numpy(), np.linalg.inv([[2.0, 0.5], [0.5, 1.0]]),
                               rtol=1e-5)
    from pyrch.distributions import Normal as N2      # noqa: F401
    assert pyrch.distributions.Normal is Normal
    t = pd.transforms.AffineTransform(1.0, 2.0)
    assert t.inv(t(pyrch.tensor(3.0))).item() == 3.0
