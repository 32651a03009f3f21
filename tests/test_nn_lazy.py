"""Lazy modules and the UninitializedParameter / UninitializedBuffer placeholders:
materialization on the first call, initialisation equal to the eager module's,
state dicts, dtype moves, optimizers, jit.trace, and torch's behaviour and errors."""
import copy
import pickle
import re

import numpy as np
import pytest

import pyrch
import pyrch.nn as nn
from pyrch import jit
from pyrch.nn.lazy import LazyModuleMixin
from pyrch.nn.parameter import UninitializedBuffer, UninitializedParameter, is_lazy


def arr(t):
    return t.detach().numpy().copy()


def _err(fn):
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value), str(info.value)


def _no_func(msg):
    """torch's placeholder message without the name of the function that used it."""
    return re.sub(r" in <.*?>\. This error", " in <f>. This error", msg).replace("torch.", "")


# -- the placeholders -----------------------------------------------------------------------
def test_uninitialized_parameter_is_a_data_less_parameter():
    p = UninitializedParameter()
    assert isinstance(p, nn.Parameter) and is_lazy(p) and not is_lazy(nn.Parameter(pyrch.ones(1)))
    assert repr(p) == str(p) == "<UninitializedParameter>"
    assert p.dtype == pyrch.float32 and str(p.device) == "cpu" and p.requires_grad and p.is_leaf
    assert p.is_floating_point() and p.grad is None
    q = UninitializedParameter(requires_grad=False, dtype=pyrch.float64)
    assert q.dtype == pyrch.float64 and not q.requires_grad
    p.materialize((2, 3))
    assert type(p) is nn.Parameter and p.shape == (2, 3) and p.requires_grad
    assert p.dtype == pyrch.float32 and not is_lazy(p)
    q.materialize((4,), dtype=pyrch.float32)
    assert q.dtype == pyrch.float32 and q.shape == (4,) and not q.requires_grad


def test_uninitialized_buffer_materializes_to_a_tensor_and_moves_as_a_placeholder():
    b = UninitializedBuffer()
    assert repr(b) == "<UninitializedBuffer>" and not b.requires_grad and b.persistent
    d = b.to(pyrch.float64)
    assert type(d) is UninitializedBuffer and d.dtype == pyrch.float64
    assert b.to(pyrch.float32) is b
    d.materialize((3,))
    assert type(d) is pyrch.Tensor and d.dtype == pyrch.float64 and d.shape == (3,)


def test_parameter_to_gives_a_plain_empty_tensor_as_torch_does():
    p = UninitializedParameter()
    out = p.double()
    assert type(out) is pyrch.Tensor and out.dtype == pyrch.float64 and out.shape == (0,)
    assert p.size() == (0,) and p.data.shape == (0,)     # torch answers these from empty data


def test_placeholder_copies_keep_dtype_and_requires_grad():
    p = UninitializedParameter(requires_grad=False, dtype=pyrch.float64)
    for q in (copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert type(q) is UninitializedParameter and q.dtype == pyrch.float64 and not q.requires_grad
    b = UninitializedBuffer(dtype=pyrch.float64, persistent=False)
    for c in (copy.deepcopy(b), pickle.loads(pickle.dumps(b))):
        assert type(c) is UninitializedBuffer and c.dtype == pyrch.float64 and not c.persistent


def test_placeholder_misuse_raises_torchs_errors(torch_or_skip):
    torch = torch_or_skip
    tp = torch.nn.UninitializedParameter()
    p = UninitializedParameter()
    cases = [lambda t: t.shape, lambda t: t + 1, lambda t: t.sum(), lambda t: t.dim(),
             lambda t: t.numel(), lambda t: len(t), lambda t: t.requires_grad_(False),
             lambda t: t.detach(), lambda t: f"{t}", lambda t: t.tolist()]
    for case in cases:
        want, got = _err(lambda: case(tp)), _err(lambda: case(p))
        assert want[0] is got[0]
        assert _no_func(want[1]) == _no_func(got[1])
    tb, b = torch.nn.UninitializedBuffer(), UninitializedBuffer()
    assert _no_func(_err(lambda: tb * 2)[1]) == _no_func(_err(lambda: b * 2)[1])
    assert _err(lambda: tp.share_memory_()) == _err(lambda: p.share_memory_())


def test_placeholder_error_names_the_op_or_function():
    p = UninitializedParameter()
    with pytest.raises(ValueError, match=r"in <op 'add'>\. This error happens"):
        p + 1
    with pytest.raises(ValueError, match=r"in <function (Tensor\.)?dim>\. "):
        p.dim()
    with pytest.raises(ValueError, match="torch.nn.parameter.UninitializedBuffer"):
        UninitializedBuffer().exp()


def test_requires_grad_attribute_may_be_set_before_materialization():
    p = UninitializedParameter()
    p.requires_grad = False                 # torch allows this, but not requires_grad_()
    p.materialize((2,))
    assert not p.requires_grad
    with pytest.raises(TypeError, match="must be bool"):
        UninitializedParameter(pyrch.ones(2))


# -- lazy modules against torch -------------------------------------------------------------
LAZY = [
    ("LazyLinear", (4,), {}, (3, 5)),
    ("LazyLinear", (4,), {"bias": False}, (2, 3, 6)),
    ("LazyConv1d", (4, 3), {"padding": 1}, (2, 3, 7)),
    ("LazyConv2d", (4, 3), {"stride": 2, "groups": 2}, (2, 6, 7, 7)),
    ("LazyConv2d", (4, 3), {"padding": "same", "padding_mode": "reflect"}, (1, 2, 6, 6)),
    ("LazyConv3d", (2, 2), {"bias": False}, (1, 3, 4, 4, 4)),
    ("LazyConvTranspose1d", (4, 3), {"stride": 2, "output_padding": 1}, (2, 3, 5)),
    ("LazyConvTranspose2d", (4, 3), {"groups": 2}, (1, 4, 5, 5)),
    ("LazyConvTranspose3d", (2, 2), {}, (1, 3, 3, 3, 3)),
    ("LazyBatchNorm1d", (), {}, (6, 3)),
    ("LazyBatchNorm2d", (), {"affine": False}, (4, 3, 5, 5)),
    ("LazyBatchNorm3d", (), {"bias": False}, (2, 3, 2, 2, 2)),
    ("LazyBatchNorm1d", (), {"track_running_stats": False}, (4, 3, 5)),
    ("LazyInstanceNorm1d", (), {"track_running_stats": False}, (2, 3, 6)),
    ("LazyInstanceNorm2d", (), {"track_running_stats": False, "affine": False}, (2, 3, 4, 4)),
]


@pytest.mark.filterwarnings("ignore:input's size at dim")     # torch's, for num_features=0
@pytest.mark.parametrize("name,args,kw,shape", LAZY, ids=[f"{c[0]}-{i}" for i, c in enumerate(LAZY)])
def test_lazy_module_matches_torch(torch_or_skip, name, args, kw, shape):
    torch = torch_or_skip
    pm, tm = getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(pm) == repr(tm)
    assert list(pm.state_dict()) == list(tm.state_dict())
    assert all(repr(a) == repr(b) for a, b in zip(pm.state_dict().values(),
                                                   tm.state_dict().values())
               if is_lazy(a) or torch.nn.parameter.is_lazy(b))
    assert pm.has_uninitialized_params() == tm.has_uninitialized_params()
    assert len(list(pm.parameters())) == len(list(tm.parameters()))
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    pm(pyrch.tensor(x))
    tm(torch.tensor(x))
    assert type(pm).__name__ == type(tm).__name__ == name[4:]
    assert not hasattr(pm, "has_uninitialized_params")     # a plain eager module now
    assert not any(is_lazy(t) for t in pm.state_dict().values())
    if not pm.state_dict():
        # NOTE: with nothing to materialize torch leaves num_features at 0 (and then warns
        # that the input does not match it); pyrch records the input's channels
        assert tm.num_features == 0 and pm.num_features == shape[1]
        tm.num_features = shape[1]
    assert repr(pm) == repr(tm)
    assert {k: tuple(v.shape) for k, v in pm.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in tm.state_dict().items()}
    # same weights -> same output (training mode: batch statistics and running stats too)
    with torch.no_grad():
        for k, v in pm.state_dict().items():
            tm.state_dict()[k].copy_(torch.tensor(v.numpy()))
    np.testing.assert_allclose(arr(pm(pyrch.tensor(x))), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)
    for k, v in pm.state_dict().items():
        np.testing.assert_allclose(v.numpy(), tm.state_dict()[k].numpy(), rtol=1e-5, atol=1e-6)


EAGER = [
    (lambda: nn.LazyLinear(5), lambda: nn.Linear(3, 5), (2, 3)),
    (lambda: nn.LazyConv2d(4, 3, groups=2), lambda: nn.Conv2d(6, 4, 3, groups=2), (1, 6, 5, 5)),
    (lambda: nn.LazyConvTranspose1d(4, 3), lambda: nn.ConvTranspose1d(3, 4, 3), (2, 3, 5)),
    (lambda: nn.LazyBatchNorm2d(), lambda: nn.BatchNorm2d(3), (2, 3, 4, 4)),
]


@pytest.mark.parametrize("lazy,eager,shape", EAGER)
def test_materialized_values_equal_the_eager_initialisation(lazy, eager, shape):
    x = pyrch.randn(*shape)
    pyrch.manual_seed(7)
    m = lazy()
    m(x)
    pyrch.manual_seed(7)
    e = eager()
    assert type(m) is type(e)
    for (k, a), (k2, b) in zip(m.state_dict().items(), e.state_dict().items()):
        assert k == k2
        if k != "num_batches_tracked" and not k.startswith("running"):
            np.testing.assert_array_equal(arr(a), arr(b))
    np.testing.assert_array_equal(arr(m(x)), arr(e(x)))


def test_parameters_are_materialized_in_place_and_an_earlier_optimizer_works():
    pyrch.manual_seed(0)
    m = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.LazyLinear(1))
    before = list(m.parameters())
    assert all(type(p) is UninitializedParameter for p in before)
    opt = pyrch.optim.Adam(m.parameters(), lr=0.01)       # built on the placeholders
    x, y = pyrch.randn(8, 3), pyrch.randn(8, 1)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = ((m(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert [id(p) for p in m.parameters()] == [id(p) for p in before]
    assert all(type(p) is nn.Parameter for p in before) and losses[-1] < losses[0]


def test_optimizer_built_after_a_dry_run_trains_like_eager_layers():
    x, y = pyrch.randn(8, 3), pyrch.randn(8, 2)

    def run(make):
        pyrch.manual_seed(1)
        m = make()
        m(x)                                       # the dry run materializes lazy layers
        opt = pyrch.optim.Adam(m.parameters(), lr=0.01)
        for _ in range(4):
            opt.zero_grad()
            ((m(x) - y) ** 2).mean().backward()
            opt.step()
        return [arr(p) for p in m.parameters()]
    got = run(lambda: nn.Sequential(nn.LazyLinear(4), nn.Tanh(), nn.LazyLinear(2)))
    want = run(lambda: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)))
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_to_dtype_before_materialization_sets_the_dtype():
    m = nn.Sequential(nn.LazyLinear(4), nn.LazyBatchNorm1d()).double()
    assert m[0].weight.dtype == pyrch.float64 and is_lazy(m[0].weight)
    assert type(m[1].running_mean) is UninitializedBuffer
    assert m[1].running_mean.dtype == pyrch.float64
    out = m(pyrch.randn(5, 3, dtype=pyrch.float64))
    assert out.dtype == pyrch.float64
    assert all(t.dtype == pyrch.float64 for k, t in m.state_dict().items()
               if not k.endswith("num_batches_tracked"))
    m = nn.LazyLinear(2, dtype=pyrch.float64)
    assert m(pyrch.ones(1, 3, dtype=pyrch.float64)).dtype == pyrch.float64


def test_forward_pre_hooks_see_the_module_already_materialized():
    m = nn.LazyLinear(3)
    seen = []
    m.register_forward_pre_hook(lambda mod, args: seen.append((type(mod).__name__,
                                                               tuple(mod.weight.shape))))
    m(pyrch.ones(1, 2))
    m(pyrch.ones(1, 2))
    assert seen == [("Linear", (3, 2))] * 2


def test_unbatched_input_infers_channels():
    c = nn.LazyConv2d(4, 3)
    assert c(pyrch.ones(2, 5, 5)).shape == (4, 3, 3) and c.in_channels == 2
    i = nn.LazyInstanceNorm1d(track_running_stats=False)
    assert i(pyrch.randn(3, 6)).shape == (3, 6) and i.num_features == 3


# -- state dicts ----------------------------------------------------------------------------
def test_load_state_dict_materializes_with_the_loaded_shapes(torch_or_skip):
    torch = torch_or_skip
    src = nn.Linear(3, 2)
    m = nn.LazyLinear(2)
    assert m.load_state_dict(src.state_dict()) == ([], [])
    assert type(m) is nn.LazyLinear and not m.has_uninitialized_params()
    np.testing.assert_array_equal(arr(m.weight), arr(src.weight))
    x = pyrch.randn(4, 3)
    np.testing.assert_array_equal(arr(m(x)), arr(src(x)))
    assert type(m) is nn.Linear and m.in_features == 3
    # a mismatching first input is reported as torch does
    tm = torch.nn.LazyLinear(2)
    tm.load_state_dict(torch.nn.Linear(3, 2).state_dict())
    m = nn.LazyLinear(2)
    m.load_state_dict(src.state_dict())
    assert _err(lambda: m(pyrch.ones(1, 4))) == _err(lambda: tm(torch.ones(1, 4)))


def test_loaded_batchnorm_and_conv_know_their_sizes():
    bn = nn.BatchNorm1d(3)
    with pyrch.no_grad():
        bn.running_mean.fill_(0.5)
    lazy = nn.LazyBatchNorm1d()
    lazy.load_state_dict(bn.state_dict())
    lazy.eval()(pyrch.randn(2, 3))
    assert lazy.num_features == 3 and arr(lazy.running_mean).tolist() == [0.5] * 3
    c = nn.LazyConvTranspose2d(4, 3, groups=2)
    c.load_state_dict(nn.ConvTranspose2d(6, 4, 3, groups=2).state_dict())
    c(pyrch.randn(1, 6, 4, 4))
    assert c.in_channels == 6 and repr(c).startswith("ConvTranspose2d(6, 4")


def test_partial_load_keeps_loaded_values_and_initializes_the_rest_as_eager():
    weight = pyrch.randn(5, 3)
    pyrch.manual_seed(3)
    e = nn.Linear(3, 5)
    e.load_state_dict({"weight": weight}, strict=False)
    m = nn.LazyLinear(5)
    res = m.load_state_dict({"weight": weight}, strict=False)
    assert res.missing_keys == ["bias"] and is_lazy(m.bias) and not is_lazy(m.weight)
    pyrch.manual_seed(3)
    m(pyrch.ones(1, 3))
    np.testing.assert_array_equal(arr(m.weight), arr(weight))
    np.testing.assert_array_equal(arr(m.bias), arr(e.bias))


def test_lazy_state_dict_into_lazy_and_into_eager_modules(torch_or_skip):
    torch = torch_or_skip
    m = nn.LazyBatchNorm1d()
    assert m.load_state_dict(nn.LazyBatchNorm1d().state_dict()) == ([], [])
    assert m.has_uninitialized_params()
    with pytest.raises(RuntimeError, match="Missing key"):
        nn.LazyLinear(2).load_state_dict({"weight": pyrch.ones(2, 3)})
    want = _err(lambda: torch.nn.Linear(3, 2).load_state_dict(torch.nn.LazyLinear(2).state_dict()))
    got = _err(lambda: nn.Linear(3, 2).load_state_dict(nn.LazyLinear(2).state_dict()))
    assert want == got


def test_state_dict_holds_placeholders_then_detached_tensors():
    m = nn.LazyLinear(2)
    sd = m.state_dict()
    assert sd["weight"] is m.weight and m.state_dict(keep_vars=True)["bias"] is m.bias
    m(pyrch.ones(1, 3))
    assert not m.state_dict()["weight"].requires_grad
    c = copy.deepcopy(nn.LazyLinear(2))
    assert is_lazy(c.weight) and c(pyrch.ones(1, 4)).shape == (1, 2)


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("make,x", [
    ("lambda nn: nn.LazyConv2d(4, 3)", (3, 3)),
    ("lambda nn: nn.LazyConv1d(4, 3, groups=2)", (1, 3, 5)),
    ("lambda nn: nn.LazyLinear(4)", ()),
    ("lambda nn: nn.LazyBatchNorm2d()", (2, 3)),
    ("lambda nn: nn.LazyBatchNorm1d()", (2,)),
    ("lambda nn: nn.LazyConvTranspose2d(4, 3, padding_mode='reflect')", None),
    ("lambda nn: nn.LazyConv2d(4, 3, padding='same', stride=2)", None),
])
def test_misuse_raises_as_torch(torch_or_skip, make, x):
    torch = torch_or_skip
    make = eval(make)
    if x is None:
        assert _err(lambda: make(nn)) == _err(lambda: make(torch.nn))
    else:
        x = np.ones(x, dtype=np.float32)
        assert _err(lambda: make(nn)(pyrch.tensor(x))) == _err(lambda: make(torch.nn)(torch.tensor(x)))


def test_custom_lazy_modules():
    class Bare(LazyModuleMixin, nn.Module):
        pass
    with pytest.raises(NotImplementedError, match="initialize_parameters is not implemented for Bare"):
        Bare()(pyrch.ones(1))

    class Half(LazyModuleMixin, nn.Module):
        def __init__(self):
            super().__init__()
            self.a = UninitializedParameter()
            self.b = UninitializedParameter()

        def initialize_parameters(self, x):
            self.a.materialize(x.shape)

    with pytest.raises(RuntimeError, match="module Half has not been fully initialized"):
        Half()(pyrch.ones(2))

    class Scale(LazyModuleMixin, nn.Module):        # no cls_to_become: stays itself
        calls = 0

        def __init__(self):
            super().__init__()
            self.w = UninitializedParameter()

        def initialize_parameters(self, x):
            Scale.calls += 1
            with pyrch.no_grad():
                self.w.materialize(x.shape[-1:])
                self.w.fill_(2.0)

        def forward(self, x):
            return x * self.w

    s = Scale()
    for _ in range(3):
        out = s(pyrch.ones(2, 3))
    assert type(s) is Scale and Scale.calls == 1 and arr(out).tolist() == [[2.0] * 3] * 2


# -- jit.trace ------------------------------------------------------------------------------
def _model(lazy):
    pyrch.manual_seed(0)
    if lazy:
        m = nn.Sequential(nn.LazyLinear(8), nn.Tanh(), nn.LazyLinear(1))
        return m.double()
    f64 = pyrch.float64         # drawn in float64, as the lazy layers are after .double()
    return nn.Sequential(nn.Linear(5, 8, dtype=f64), nn.Tanh(), nn.Linear(8, 1, dtype=f64))


@pytest.mark.parametrize("warmup", [True, False])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_traced_training_step_with_lazy_linear_matches_eager(warmup, momentum):
    rng = np.random.default_rng(1)
    x, y = pyrch.tensor(rng.standard_normal((16, 5))), pyrch.tensor(rng.standard_normal((16, 1)))

    def run(lazy, traced):
        m = _model(lazy)
        opt = pyrch.optim.SGD(m.parameters(), lr=0.05, momentum=momentum)

        def step(x, y):
            opt.zero_grad()
            loss = ((m(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        if traced:
            step = jit.trace(step, warmup=warmup)
        losses = [float(step(x, y)) for _ in range(12)]
        return m, losses, step
    m0, l0, _ = run(False, False)             # eager Linear layers, same seed
    m1, l1, _ = run(True, False)
    m2, l2, step = run(True, True)
    # recording on the first call (warmup=False) may retrace once, as it does for eager
    # layers: .grad was None there, or the optimizer's momentum did not exist yet
    assert step.stats.traces <= 2 and step.stats.hits >= 8
    assert l0 == l1 == l2 and l2[-1] < l2[0]
    for a, b, c in zip(m0.parameters(), m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(arr(a), arr(b))
        np.testing.assert_array_equal(arr(b), arr(c))
        np.testing.assert_array_equal(arr(b.grad), arr(c.grad))


def test_trace_recorded_on_the_materializing_call_reads_the_real_parameters():
    m = _model(True)
    x = pyrch.randn(3, 5, dtype=pyrch.float64)
    tm = jit.trace(m, (x,))                   # records at once, materializing inside
    assert type(m[0]) is nn.Linear and tm.stats.traces == 1
    graph = str(tm.graph_for(x))
    assert "params(%0.weight: f64[8,5], %0.bias: f64[8], %2.weight: f64[1,8]" in graph
    assert "uniform" not in graph             # initialisation is not replayed
    np.testing.assert_array_equal(arr(tm(x)), arr(m(x)))
    with pyrch.no_grad():
        m[2].weight.mul_(0.5)
    np.testing.assert_array_equal(arr(tm(x)), arr(m(x)))
    assert tm.stats.hits == 2


def test_notebook_views_of_a_lazy_model_before_its_first_call():
    model = nn.Sequential(nn.LazyLinear(4), nn.ReLU())
    html = model._repr_html_()          # the placeholders have no size yet: counted as none
    assert "LazyLinear" in html
    opt = pyrch.optim.SGD(model.parameters(), lr=0.1)
    assert "2 tensors, 0 elements" in opt._repr_html_()
    model(pyrch.randn(2, 3))
    assert "2 tensors, 16 elements" in opt._repr_html_()


def test_lazy_instance_norm_with_torchs_defaults_tracks_running_stats():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4, 4)).astype(np.float32)
    m, t = nn.LazyInstanceNorm3d(), torch.nn.LazyInstanceNorm3d()
    np.testing.assert_allclose(m(pyrch.tensor(x)).detach().numpy(),
                               t(torch.tensor(x)).detach().numpy(), atol=1e-5)
    assert type(m) is nn.InstanceNorm3d and m.track_running_stats
    np.testing.assert_allclose(m.running_var.numpy(), t.running_var.numpy(), rtol=1e-5)
