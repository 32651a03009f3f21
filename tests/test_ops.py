"""Generated op tests: for every OpInfo sample, the shape/dtype rule, forward
and backward against PyTorch, gradcheck and gradgradcheck in float64."""
import numpy as np
import pytest

import pyrch
from pyrch._dispatch import state, refresh_hooks
from pyrch.ops.registry import Meta, infer
from opinfo import SAMPLES, noncontig
from conftest import HAVE_TORCH

CASES = []
for _name, _info in sorted(SAMPLES.items()):
    if not _info.in_process:
        continue
    for _i, _s in enumerate(_info.samples(_info.rng())):
        CASES.append(pytest.param(_info, _s, id=f"{_name}-{_i}{'-' + _s.note if _s.note else ''}"
                                  f"{'-nc' if _s.noncontig else ''}"))


def _differentiable(info, sample):
    return info.grad and sample.grad and any(
        isinstance(y, np.ndarray) and y.dtype.kind == "f" and y.size
        for a in sample.args for y in (a if isinstance(a, list) else [a]))


# Only the applicable combinations are generated (a comparison op has no gradcheck
# case, an op torch lacks no torch case), so every skip left means absent software.
TORCH_CASES = [pytest.param(c.values[0], c.values[1], dt, id=f"{dt}-{c.id}")
               for c in CASES for dt in ("float32", "float64")
               if c.values[0].torch_call is not False and dt in c.values[0].dtypes]
GRAD_CASES = [c for c in CASES if _differentiable(*c.values)]
GRADGRAD_CASES = [c for c in GRAD_CASES if c.values[0].gradgrad]
TORCH_GRAD_CASES = [c for c in GRAD_CASES if c.values[0].torch_call is not False]


def _convert(lib, x, dtype, s, requires_grad=False):
    """numpy sample value -> tensor of `lib` (floats take `dtype`)."""
    if isinstance(x, list) and x and isinstance(x[0], np.ndarray):
        return [_convert(lib, y, dtype, s, requires_grad) for y in x]
    if not isinstance(x, np.ndarray):
        return x
    if x.dtype.kind == "f":
        x = x.astype(dtype)
        if s.noncontig:
            x = noncontig(x)
        t = lib.from_numpy(x) if s.noncontig else lib.tensor(x)
        if requires_grad:
            t.requires_grad_(True)
        return t
    return lib.tensor(x)


def _args(lib, s, dtype, requires_grad=False):
    args = tuple(_convert(lib, a, dtype, s, requires_grad) for a in s.args)
    kwargs = {k: _convert(lib, v, dtype, s, requires_grad) for k, v in s.kwargs.items()}
    return args, kwargs


def _flat(out):
    if isinstance(out, (tuple, list)):
        res = []
        for o in out:
            res.extend(_flat(o))
        return res
    return [out]


def _np(t):
    if hasattr(t, "detach"):
        t = t.detach()
    if hasattr(t, "cpu"):
        t = t.cpu()
    if hasattr(t, "numpy"):
        return np.asarray(t.numpy())
    return np.asarray(t)


class _Probe:
    """A listener that records every dispatched op (what the tracer will see)."""
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


@pytest.mark.parametrize("info,sample,dtype", TORCH_CASES)
def test_forward_matches_torch(info, sample, dtype):
    if not HAVE_TORCH:
        pytest.skip("PyTorch is not installed: the cross-check against it is optional")
    import torch
    a, k = _args(pyrch, sample, dtype)
    ta, tk = _args(torch, sample, dtype)
    out = _flat(info.run(pyrch, a, k))
    ref = _flat(info.run(torch, ta, tk, is_torch=True))
    assert len(out) == len(ref)
    for o, r in zip(out, ref):
        if isinstance(r, torch.Tensor):
            assert isinstance(o, pyrch.Tensor), f"expected a Tensor, got {type(o)}"
            assert tuple(o.shape) == tuple(r.shape)
            assert o.dtype.name == str(r.dtype).replace("torch.", ""), (o.dtype, r.dtype)
            np.testing.assert_allclose(_np(o).astype(np.float64), _np(r).astype(np.float64),
                                       atol=info.atol * (100 if dtype == "float32" else 1),
                                       rtol=max(info.rtol, 1e-5 if dtype == "float32" else 1e-7))
        else:
            assert o == r or np.allclose(o, r)


@pytest.mark.parametrize("info,sample", CASES)
def test_infer_matches_output(info, sample):
    a, k = _args(pyrch, sample, "float32")
    probe = _Probe()
    state.tracer = probe
    refresh_hooks()
    try:
        info.run(pyrch, a, k)
    finally:
        state.tracer = None
        refresh_hooks()
    assert probe.calls, f"{info.name} dispatched no op"
    for op, args, attrs, outs in probe.calls:
        metas = [Meta(x.shape, x.dtype) if isinstance(x, pyrch.Tensor) else x for x in args]
        got = infer(op, metas, attrs)
        got = got if isinstance(got, list) else [got]
        assert len(got) == len(outs), op.name
        for (shape, dt), o in zip(got, outs):
            # None marks a size that depends on the data (nonzero, unique)
            assert len(shape) == len(o.shape) and all(
                s is None or s == r for s, r in zip(shape, o.shape)), \
                f"{op.name}: infer says {shape}, ran {tuple(o.shape)}"
            assert dt is o.dtype, f"{op.name}: infer says {dt}, ran {o.dtype}"


def _grad_fn(info, sample, device=None):
    def fn(*xs):
        it = iter(xs)
        dev = device or (xs[0].device if xs else None)    # integer arguments go where the inputs are
        args = []
        for a in sample.args:
            if isinstance(a, list) and a and isinstance(a[0], np.ndarray):
                args.append([next(it) if y.dtype.kind == "f" else pyrch.tensor(y, device=dev) for y in a])
            elif isinstance(a, np.ndarray):
                args.append(next(it) if a.dtype.kind == "f" else pyrch.tensor(a, device=dev))
            else:
                args.append(a)
        return info.run(pyrch, tuple(args), dict(sample.kwargs))
    return fn


def _grad_inputs(sample):
    xs = []
    for a in sample.args:
        arrs = a if isinstance(a, list) else [a]
        for y in arrs:
            if isinstance(y, np.ndarray) and y.dtype.kind == "f":
                xs.append(pyrch.tensor(y, dtype=pyrch.float64, requires_grad=True))
    return xs


@pytest.mark.parametrize("info,sample", GRAD_CASES)
def test_gradcheck(info, sample):
    assert pyrch.autograd.gradcheck(_grad_fn(info, sample), _grad_inputs(sample),
                                    atol=info.grad_atol, rtol=info.grad_rtol)


@pytest.mark.parametrize("info,sample", GRADGRAD_CASES)
def test_gradgradcheck(info, sample):
    assert pyrch.autograd.gradgradcheck(_grad_fn(info, sample), _grad_inputs(sample),
                                        atol=info.grad_atol * 10, rtol=info.grad_rtol * 10)


@pytest.mark.parametrize("info,sample", TORCH_GRAD_CASES)
def test_backward_matches_torch(info, sample):
    if not HAVE_TORCH:
        pytest.skip("PyTorch is not installed: the cross-check against it is optional")
    import torch
    xs = _grad_inputs(sample)
    txs = [torch.tensor(x.detach().numpy(), requires_grad=True) for x in xs]
    out = [o for o in _flat(_grad_fn(info, sample)(*xs)) if isinstance(o, pyrch.Tensor) and o.requires_grad]
    it = iter(txs)

    def tfn():
        args = []
        for a in sample.args:
            if isinstance(a, list) and a and isinstance(a[0], np.ndarray):
                args.append([next(it) if y.dtype.kind == "f" else torch.tensor(y) for y in a])
            elif isinstance(a, np.ndarray):
                args.append(next(it) if a.dtype.kind == "f" else torch.tensor(a))
            else:
                args.append(a)
        return info.run(torch, tuple(args), dict(sample.kwargs), is_torch=True)
    ref = [o for o in _flat(tfn()) if isinstance(o, torch.Tensor) and o.requires_grad]
    assert len(out) == len(ref)
    if not out:
        return
    rng = np.random.default_rng(1)
    vs = [rng.standard_normal(tuple(o.shape)) for o in out]
    loss = sum((o * pyrch.tensor(v)).sum() for o, v in zip(out, vs))
    tloss = sum((o * torch.tensor(v)).sum() for o, v in zip(ref, vs))
    gs = pyrch.autograd.grad(loss, xs, allow_unused=True)
    tgs = torch.autograd.grad(tloss, txs, allow_unused=True)
    for g, tg in zip(gs, tgs):
        if tg is None:
            assert g is None or np.allclose(g.numpy(), 0)
            continue
        assert g is not None
        np.testing.assert_allclose(g.numpy(), tg.numpy(), atol=1e-6, rtol=1e-6)


TRACED_CASES = [c for c in CASES if c.values[0].traced]


@pytest.mark.parametrize("executor", ["c", "reference"])
@pytest.mark.parametrize("info,sample", TRACED_CASES)
def test_traced_matches_eager(info, sample, executor):
    """Every op sample, traced (warm-up, record, replay) equals eager, on both executors."""
    a, k = _args(pyrch, sample, "float32")
    want = _flat(info.run(pyrch, a, k))
    fn = pyrch.jit.trace(lambda *xs: info.run(pyrch, xs, k))
    with pyrch.config(c=executor == "c"):
        for _ in range(3):
            got = _flat(fn(*a))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if isinstance(w, pyrch.Tensor):
            assert isinstance(g, pyrch.Tensor) and g.dtype is w.dtype and g.shape == w.shape
            np.testing.assert_allclose(_np(g).astype(np.float64), _np(w).astype(np.float64),
                                       rtol=2e-6, atol=1e-6, equal_nan=True)
        else:
            assert g == w


# -- ops declared new_memory (the jit's memory plan trusts the declaration) --------------------

def test_ops_declared_new_memory_never_return_their_inputs_memory():
    """Every op with `new_memory` in the registry, run on the samples (forward and, where
    differentiable, backward, which reaches the backward ops), returns arrays that share
    no memory with its inputs wherever the declaration says so."""
    from pyrch.ops.registry import OPS
    declared = {n: o for n, o in OPS.items() if o.new_memory}
    seen, originals, shared = set(), {}, []

    def checked(name, o, f):
        def fwd(xp, *args, **kw):
            out = f(xp, *args, **kw)
            arrays = [a for a in args if isinstance(a, np.ndarray)]
            arrays += [x for a in args if isinstance(a, (list, tuple)) for x in a
                       if isinstance(x, np.ndarray)]
            outs = out if isinstance(out, tuple) else (out,)
            nm = o.new_memory
            attrs = dict(o.attrs, **kw)
            if nm is True or nm([tuple(np.shape(a)) if isinstance(a, np.ndarray) else None
                                 for a in args], [tuple(np.shape(x)) for x in outs], attrs):
                seen.add(name)
                # (recorded, not raised: dispatch would wrap it, and a failing sample is
                # skipped below)
                shared.extend(name for x in outs for a in arrays if np.shares_memory(x, a))
            return out
        return fwd

    for name, o in declared.items():
        originals[name] = o.forward
        o.forward = checked(name, o, o.forward)
    try:
        for info in SAMPLES.values():
            if not info.in_process or "float32" not in info.dtypes:
                continue
            for s in info.samples(info.rng())[:3]:
                args, kwargs = _args(pyrch, s, "float32", requires_grad=info.grad and s.grad)
                try:
                    out = info.run(pyrch, args, kwargs)
                except Exception:       # noqa: BLE001 - error samples are tested elsewhere
                    continue
                outs = [t for t in _flat(out) if isinstance(t, pyrch.Tensor) and t.requires_grad]
                if outs:
                    sum(t.float().sum() for t in outs).backward()
    finally:
        for name, f in originals.items():
            declared[name].forward = f
    assert not shared, f"declared new_memory, returned an input's memory: {sorted(set(shared))}"
    assert seen == set(declared), f"declared new_memory but never run: {set(declared) - seen}"
