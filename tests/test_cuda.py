"""CUDA through cupy: the op samples on the GPU (forward, backward, traced == eager),
device movement and interop, memory stats -- and, on every machine, the CPU-side
behaviour of pyrch.cuda without a GPU and the device-mixing error.

GPU tests skip with "no CUDA GPU / cupy not installed" where either is missing.
"""
import numpy as np
import pytest

import pyrch
from pyrch._tensor import Tensor

HAVE_GPU = pyrch.cuda.is_available()
REASON = "no CUDA GPU / cupy not installed"
gpu = pytest.mark.skipif(not HAVE_GPU, reason=REASON)

# the sample table is only expanded where it will run: thousands of skipped ids cost seconds.
# Only applicable combinations are generated (no backward case for an integer op, no traced
# case for an untraceable one), as in test_ops.py.
CASES = GRAD_CASES = TRACED_CASES = [pytest.param(None, None, id="all-op-samples", marks=gpu)]
if HAVE_GPU:
    from opinfo import SAMPLES
    from test_ops import _args, _flat, _np, _grad_fn, _grad_inputs, _differentiable
    CASES = [pytest.param(_info, _s, id=f"{_name}-{_i}")
             for _name, _info in sorted(SAMPLES.items()) if _info.in_process   # collectives: MPI tests
             for _i, _s in enumerate(_info.samples(_info.rng()))]
    GRAD_CASES = [c for c in CASES if _differentiable(*c.values)]
    TRACED_CASES = [c for c in CASES if c.values[0].traced]


def _to(x, dev):
    if isinstance(x, Tensor):
        return x.to(dev)
    if isinstance(x, (list, tuple)):
        return type(x)(_to(y, dev) for y in x)
    if isinstance(x, dict):
        return {k: _to(v, dev) for k, v in x.items()}
    return x


# -- CPU side: no GPU needed ----------------------------------------------------------------
class _FakeCudaArray:
    """Just enough of a cupy array for dispatch's device check (no GPU involved)."""

    class _Dev:
        id = 0
    device = _Dev()
    shape, ndim, size = (3,), 1, 3
    dtype = np.dtype(np.float32)


def test_device_mixing_raises_torchs_message():
    cpu = pyrch.ones(3)
    fake = Tensor._wrap(_FakeCudaArray())
    msg = ("Expected all tensors to be on the same device, but found at least two devices, "
           "cuda:0 and cpu!")
    with pytest.raises(RuntimeError) as e:
        cpu + fake
    assert str(e.value) == msg
    with pytest.raises(RuntimeError) as e:
        pyrch.mul(fake, cpu)
    assert str(e.value) == msg


@pytest.mark.skipif(HAVE_GPU, reason="checks the behaviour without a GPU")
def test_no_gpu_behaviour():
    assert pyrch.cuda.is_available() is False
    assert pyrch.cuda.device_count() == 0
    pyrch.cuda.empty_cache()        # a no-op, as in torch
    pyrch.cuda.manual_seed(0)       # seeds the shared generator; never needs a GPU
    pyrch.cuda.manual_seed_all(0)
    for fn in (pyrch.cuda.current_device, pyrch.cuda.synchronize, pyrch.cuda.memory_allocated,
               pyrch.cuda.max_memory_allocated, pyrch.cuda.reset_peak_memory_stats):
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            fn()
    with pytest.raises(RuntimeError, match="cupy|CUDA"):
        pyrch.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="cupy|CUDA"):
        pyrch.ones(2).cuda()
    assert pyrch.ones(2).device == pyrch.device("cpu") and not pyrch.ones(2).is_cuda


def test_unchecked_embedding_gives_nan_rows_for_bad_indices():
    # what traced CUDA plans run for embedding (tested with numpy here; on the GPU below)
    from pyrch.ops.nn import embedding_unchecked
    w = np.arange(6.0).reshape(3, 2)
    out = embedding_unchecked(np, w, np.array([[0, 2], [5, -1]]))
    np.testing.assert_array_equal(out[0], w[[0, 2]])
    assert np.isnan(out[1]).all()


def test_cpu_plans_never_take_the_cuda_executor():
    from pyrch.jit.cuda_executor import plan_on_cuda
    from pyrch.jit.executor import Executor
    from pyrch.jit.passes import compile_graph

    @pyrch.jit.trace
    def f(x):
        return (x * 2).exp().sum()
    x = pyrch.ones(4)
    for _ in range(2):
        f(x)
    plan = compile_graph(f.graph_for(x, optimized=False))
    ex = Executor(plan)
    slots = ex.template.copy()
    slots[plan.inputs[0]] = x._data
    assert plan_on_cuda(plan, slots) is False
    ex.run(slots)
    assert ex._cuda is False
    assert float(slots[plan.outputs[0][1]]) == pytest.approx(4 * np.exp(2.0))


_HOST_RESULTS = {"rand", "randn", "randint", "randperm", "normal", "to_device"}


# -- GPU: the op samples -----------------------------------------------------------------------
@gpu
@pytest.mark.parametrize("info,sample", CASES)
def test_forward_cuda_matches_cpu(info, sample):
    dtype = "float32" if "float32" in info.dtypes else info.dtypes[0]
    a, k = _args(pyrch, sample, dtype)
    ref = _flat(info.run(pyrch, a, k))
    out = _flat(info.run(pyrch, _to(a, "cuda"), _to(k, "cuda")))
    # creation samples use their tensor for its shape only, and to_device's go to the cpu
    on_gpu = info.name not in _HOST_RESULTS and any(
        isinstance(x, Tensor) for x in _flat((list(a), list(k.values()))))
    assert len(out) == len(ref)
    for o, r in zip(out, ref):
        if isinstance(r, Tensor):
            assert o.is_cuda or not on_gpu, f"{info.name} returned a {o.device} tensor for CUDA inputs"
            assert o.dtype is r.dtype and tuple(o.shape) == tuple(r.shape)
            np.testing.assert_allclose(_np(o).astype(np.float64), _np(r).astype(np.float64),
                                       atol=info.atol * 100, rtol=1e-4, equal_nan=True)
        else:
            assert o == r or np.allclose(o, r)


@gpu
@pytest.mark.parametrize("info,sample", GRAD_CASES)
def test_backward_cuda_matches_cpu(info, sample):
    grads = []
    for dev in ("cpu", "cuda"):
        xs = [x.detach().to(dev).requires_grad_(True) for x in _grad_inputs(sample)]
        out = [o for o in _flat(_grad_fn(info, sample, dev)(*xs)) if isinstance(o, Tensor) and o.requires_grad]
        if not out:                     # (an integer result): the GPU must agree, as below
            grads.append(None)
            continue
        rng = np.random.default_rng(1)
        loss = sum((o * pyrch.tensor(rng.standard_normal(tuple(o.shape)), device=o.device)).sum().to(dev)
                   for o in out)
        loss.backward()
        grads.append([None if x.grad is None else _np(x.grad) for x in xs])
    assert (grads[0] is None) == (grads[1] is None), "CPU and GPU disagree on differentiability"
    if grads[0] is None:
        return
    for gc, gg in zip(*grads):
        assert (gc is None) == (gg is None)
        if gc is not None:
            np.testing.assert_allclose(gg, gc, atol=1e-8, rtol=1e-6)


@gpu
@pytest.mark.parametrize("info,sample", TRACED_CASES)
def test_traced_matches_eager_cuda(info, sample):
    xs = [x.detach().to("cuda", pyrch.float32) for x in _grad_inputs(sample)]
    fn = _grad_fn(info, sample, "cuda")
    with pyrch.no_grad():
        want = [_np(o) for o in _flat(fn(*xs)) if isinstance(o, Tensor)]
        f = pyrch.jit.trace(fn)
        for _ in range(3):
            got = [o for o in _flat(f(*xs)) if isinstance(o, Tensor)]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.is_cuda
        np.testing.assert_allclose(_np(g), w, rtol=1e-5, atol=1e-6, equal_nan=True)


# -- GPU: movement, interop, memory --------------------------------------------------------
@gpu
def test_to_cuda_and_back():
    x = pyrch.arange(6.0).reshape(2, 3)
    c = x.cuda()
    assert c.is_cuda and c.device == pyrch.device("cuda:0") and str(c.device) == "cuda:0"
    assert c.to("cuda") is c
    np.testing.assert_array_equal(c.cpu().numpy(), x.numpy())
    y = (c * 2 + 1).exp().sum(1)
    np.testing.assert_allclose(y.cpu().numpy(), (x * 2 + 1).exp().sum(1).numpy(), rtol=1e-6)
    z = pyrch.zeros(3, device="cuda")
    assert z.is_cuda
    s = c + pyrch.tensor(2.0)      # a 0-dim CPU tensor may join, as in torch
    assert s.is_cuda


@gpu
def test_device_mixing_on_gpu():
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, but "
                                           "found at least two devices, cuda:0 and cpu!"):
        pyrch.ones(3).cuda() + pyrch.ones(3)


@gpu
def test_module_to_cuda_and_training_step():
    nn = pyrch.nn
    pyrch.manual_seed(0)
    m = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    m_cpu = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    m_cpu.load_state_dict(m.state_dict())
    m.to("cuda")
    assert all(p.is_cuda for p in m.parameters())
    x, y = pyrch.randn(4, 8), pyrch.tensor([0, 1, 1, 0])
    for model, dev in ((m, "cuda"), (m_cpu, "cpu")):
        opt = pyrch.optim.SGD(model.parameters(), lr=0.1)
        loss = nn.functional.cross_entropy(model(x.to(dev)), y.to(dev))
        loss.backward()
        opt.step()
    for p, q in zip(m.parameters(), m_cpu.parameters()):
        np.testing.assert_allclose(p.detach().cpu().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)


@gpu
def test_dataloader_batches_to_cuda():
    from pyrch.utils.data import DataLoader, TensorDataset
    ds = TensorDataset(pyrch.randn(10, 3), pyrch.arange(10))
    for xb, yb in DataLoader(ds, batch_size=4):
        xb, yb = xb.to("cuda"), yb.to("cuda")
        assert xb.is_cuda and yb.is_cuda and yb.dtype is pyrch.int64


@gpu
def test_dlpack_and_cuda_array_interface_share_memory():
    import cupy
    a = cupy.arange(5, dtype=cupy.float32)
    t = pyrch.from_dlpack(a)
    assert t.is_cuda and t._data.data.ptr == a.data.ptr
    b = cupy.from_dlpack(t)
    assert b.data.ptr == a.data.ptr
    cai = t.__cuda_array_interface__
    assert cai["data"][0] == a.data.ptr and tuple(cai["shape"]) == (5,)
    assert cupy.asarray(t).data.ptr == a.data.ptr


@gpu
def test_memory_stats():
    pyrch.cuda.synchronize()
    pyrch.cuda.reset_peak_memory_stats()
    base = pyrch.cuda.memory_allocated()
    x = pyrch.empty(1 << 20, device="cuda")            # 4 MiB
    assert pyrch.cuda.memory_allocated() >= base + (4 << 20)
    del x
    assert pyrch.cuda.memory_allocated() == base
    assert pyrch.cuda.max_memory_allocated() >= base + (4 << 20)
    pyrch.cuda.empty_cache()
    assert pyrch.cuda.memory_reserved() >= pyrch.cuda.memory_allocated()


@gpu
def test_streams_and_events():
    s = pyrch.cuda.Stream()
    start, end = pyrch.cuda.Event(enable_timing=True), pyrch.cuda.Event(enable_timing=True)
    with pyrch.cuda.stream(s):
        start.record(s)
        y = pyrch.ones(1000, device="cuda") * 2
        end.record(s)
    end.synchronize()
    assert end.query() and start.elapsed_time(end) >= 0
    pyrch.cuda.synchronize()
    assert float(y.sum()) == 2000.0
    assert isinstance(pyrch.cuda.get_device_name(), str)


# -- GPU: traced graphs as generated kernels -----------------------------------------------
def _executors(f):
    return [e.cuda for e in f.executors() if e.cuda is not None]


@gpu
def test_traced_gelu_is_one_generated_kernel():
    from pyrch.jit.cuda_executor import kernel_cache_size

    @pyrch.jit.trace
    def f(x, w, b):
        return pyrch.nn.functional.gelu(x * w + b)
    x, w, b = (pyrch.randn(64, 32, device="cuda"), pyrch.randn(64, 32, device="cuda"),
               pyrch.randn(32, device="cuda"))
    want = pyrch.nn.functional.gelu(x * w + b)
    before = kernel_cache_size()
    for _ in range(3):
        got = f(x, w, b)
    assert got.is_cuda
    np.testing.assert_allclose(got.cpu().numpy(), want.cpu().numpy(), rtol=1e-5, atol=1e-6)
    ex = _executors(f)
    assert ex and ex[0].stats["fused_kernels"] >= 1 and ex[0].stats["fallback_groups"] == 0
    assert kernel_cache_size() >= before


@gpu
def test_traced_fused_reduction():
    @pyrch.jit.trace
    def f(x, y):
        return ((x - y) * (x - y)).mean()
    x, y = pyrch.randn(128, 64, device="cuda"), pyrch.randn(128, 64, device="cuda")
    for _ in range(3):
        got = f(x, y)
    want = ((x - y) * (x - y)).mean()
    np.testing.assert_allclose(float(got), float(want), rtol=1e-5)
    ex = _executors(f)
    assert ex and ex[0].stats["fused_reductions"] == 1


@gpu
def test_traced_training_step_matches_eager_cuda():
    nn = pyrch.nn
    pyrch.manual_seed(0)
    models = [nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 4)).to("cuda") for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    opts = [pyrch.optim.Adam(m.parameters(), lr=1e-2) for m in models]
    x = pyrch.randn(8, 16, device="cuda")
    y = pyrch.randint(0, 4, (8,)).cuda()

    def step(m, opt):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss
    traced = pyrch.jit.trace(lambda: step(models[0], opts[0]))
    for _ in range(5):
        lt = traced()
        le = step(models[1], opts[1])
        np.testing.assert_allclose(float(lt), float(le), rtol=1e-5)
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        assert p.is_cuda
        np.testing.assert_allclose(p.detach().cpu().numpy(), q.detach().cpu().numpy(), rtol=1e-4, atol=1e-6)


@gpu
def test_cuda_graph_replays_match_eager_and_return_fresh_outputs():
    nn = pyrch.nn
    pyrch.manual_seed(0)
    models = [nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.LayerNorm(32), nn.Linear(32, 4)).to("cuda")
              for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    opts = [pyrch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9) for m in models]
    emb = [nn.Embedding(10, 16).to("cuda") for _ in range(2)]
    emb[1].load_state_dict(emb[0].state_dict())

    def step(i, x, y):
        opts[i].zero_grad()
        loss = nn.functional.cross_entropy(models[i](emb[i](x).mean(1)), y)
        loss.backward()
        opts[i].step()
        return loss
    traced = pyrch.jit.trace(lambda x, y: step(0, x, y))
    losses = []
    for k in range(8):
        x = pyrch.randint(0, 10, (8, 3)).cuda()
        y = pyrch.randint(0, 4, (8,)).cuda()
        lt = traced(x, y)
        losses.append(lt)
        le = step(1, x, y)
        np.testing.assert_allclose(float(lt), float(le), rtol=1e-5)
    # each replay returned its own loss: the graph's memory was copied out
    assert len({float(v) for v in losses}) > 1
    ex = _executors(traced)
    assert any(e.stats["graph_launches"] >= 4 for e in ex), [e.stats for e in ex]
    # a parameter whose memory moves is copied into the graph from then on
    with pyrch.no_grad():
        for m in models:
            m[0].weight.data = m[0].weight.data * 0.5
    x, y = pyrch.randint(0, 10, (8, 3)).cuda(), pyrch.randint(0, 4, (8,)).cuda()
    for _ in range(3):
        np.testing.assert_allclose(float(traced(x, y)), float(step(1, x, y)), rtol=1e-5)
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        np.testing.assert_allclose(p.detach().cpu().numpy(), q.detach().cpu().numpy(), rtol=1e-4, atol=1e-6)


@gpu
def test_cuda_graphs_off_and_random_plans_run_kernel_by_kernel():
    x = pyrch.randn(64, 32, device="cuda")
    with pyrch.config(cuda_graphs=False):
        f = pyrch.jit.trace(lambda x: (x * 2).exp().sum(1))
        for _ in range(4):
            f(x)
    assert all(e.stats["graph_launches"] == 0 for e in _executors(f))
    drop = pyrch.nn.Dropout(0.5)
    g = pyrch.jit.trace(lambda x: drop(x) * 3)
    outs = [g(x) for _ in range(4)]
    assert all(e.stats["graph_launches"] == 0 for e in _executors(g))
    assert not np.array_equal(outs[2].cpu().numpy(), outs[3].cpu().numpy())   # fresh masks


@gpu
def test_traced_embedding_out_of_range_gives_nan_rows():
    w = pyrch.randn(5, 3, device="cuda")
    f = pyrch.jit.trace(lambda i: pyrch.nn.functional.embedding(i, w) * 1)
    good = pyrch.tensor([0, 4]).cuda()
    for _ in range(3):
        np.testing.assert_allclose(f(good).cpu().numpy(), w.cpu().numpy()[[0, 4]])
    out = f(pyrch.tensor([1, 7]).cuda()).cpu().numpy()
    np.testing.assert_allclose(out[0], w.cpu().numpy()[1])
    assert np.isnan(out[1]).all()
    with pytest.raises(IndexError, match="index out of range in self"):
        pyrch.nn.functional.embedding(pyrch.tensor([1, 7]).cuda(), w)   # eager checks
