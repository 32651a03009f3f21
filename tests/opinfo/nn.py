"""Samples for the nn op family (see tests/opinfo/__init__.py).

Primitives of pyrch/ops/nn.py whose internal signature torch lacks
(`conv` with (low, high) padding pairs, `conv_transpose` by output size,
`conv_weight`) are compared with torch through torch's own autograd: the
transposed and weight convolutions are vector-Jacobian products of conv2d.
"""
import numpy as np

from . import OpInfo, Sample, add, away_from  # noqa: F401


def _tpad(F, x, padding):
    flat = []
    for lo, hi in reversed(padding):
        flat += [lo, hi]
    return F.pad(x, flat)


def _tconv(torch, x, w, stride, padding, dilation, groups):
    F = torch.nn.functional
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[w.dim() - 2]
    return fn(_tpad(F, x, padding), w, None, stride, 0, dilation, groups)


def _torch_conv_transpose(torch, g, w, *, size, stride, padding, dilation, groups):
    n = g.shape[0]
    x = torch.zeros((n, w.shape[1] * groups) + tuple(size), dtype=g.dtype, requires_grad=True)
    y = _tconv(torch, x, w, stride, padding, dilation, groups)
    return torch.autograd.grad(y, x, g, create_graph=True)[0]


def _torch_conv_weight(torch, x, g, *, kernel, stride, padding, dilation, groups):
    w = torch.zeros((g.shape[1], x.shape[1] // groups) + tuple(kernel), dtype=x.dtype,
                    requires_grad=True)
    y = _tconv(torch, x, w, stride, padding, dilation, groups)
    return torch.autograd.grad(y, w, g, create_graph=True)[0]


_CONV_CASES = [
    # x shape, w shape, stride, padding, dilation, groups
    ((2, 3, 7), (4, 3, 3), (1,), ((0, 0),), (1,), 1),
    ((1, 4, 8), (4, 2, 2), (2,), ((1, 2),), (2,), 2),
    ((2, 2, 5, 6), (3, 2, 3, 2), (1, 1), ((1, 1), (0, 1)), (1, 1), 1),
    ((1, 4, 6, 5), (4, 1, 2, 3), (2, 1), ((0, 0), (1, 1)), (1, 2), 4),
    ((1, 2, 3, 4, 4), (2, 2, 2, 2, 2), (1, 2, 1), ((0, 0), (1, 0), (0, 0)), (1, 1, 2), 1),
]


def _conv_samples(rng):
    out = []
    for xs, ws, s, p, d, g in _CONV_CASES:
        out.append(Sample((rng.standard_normal(xs), rng.standard_normal(ws)),
                          dict(stride=s, padding=p, dilation=d, groups=g)))
    out[2].noncontig = True
    return out


def _conv_out(xs, ws, s, p, d):
    return tuple((n + lo + hi - dd * (k - 1) - 1) // ss + 1
                 for n, k, ss, (lo, hi), dd in zip(xs[2:], ws[2:], s, p, d))


def _conv_transpose_samples(rng):
    out = []
    for xs, ws, s, p, d, g in _CONV_CASES:
        gs = (xs[0], ws[0]) + _conv_out(xs, ws, s, p, d)
        out.append(Sample((rng.standard_normal(gs), rng.standard_normal(ws)),
                          dict(size=xs[2:], stride=s, padding=p, dilation=d, groups=g)))
    return out


def _conv_weight_samples(rng):
    out = []
    for xs, ws, s, p, d, g in _CONV_CASES:
        gs = (xs[0], ws[0]) + _conv_out(xs, ws, s, p, d)
        out.append(Sample((rng.standard_normal(xs), rng.standard_normal(gs)),
                          dict(kernel=ws[2:], stride=s, padding=p, dilation=d, groups=g)))
    return out


add(OpInfo("conv", _conv_samples, call=lambda lib, x, w, **k: lib.conv(x, w, **k),
           torch_call=lambda torch, x, w, **k: _tconv(torch, x, w, k["stride"], k["padding"],
                                                      k["dilation"], k["groups"]),
           atol=1e-5, grad_atol=1e-5))
add(OpInfo("conv_transpose", _conv_transpose_samples,
           call=lambda lib, g, w, **k: lib.conv_transpose(g, w, **k),
           torch_call=_torch_conv_transpose))
add(OpInfo("conv_weight", _conv_weight_samples,
           call=lambda lib, x, g, **k: lib.conv_weight(x, g, **k),
           torch_call=_torch_conv_weight))


def _distinct(rng, shape):
    """Values with well-separated entries, so a window's max is never a tie."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) * 0.1 - n * 0.05).astype(np.float64)


def _max_pool_indices_samples(rng):
    return [
        Sample((_distinct(rng, (2, 3, 6, 7)),),
               dict(kernel=(2, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1))),
        Sample((_distinct(rng, (1, 2, 9)),),
               dict(kernel=(3,), stride=(2,), padding=(1,), dilation=(2,), ceil_mode=True)),
        Sample((_distinct(rng, (1, 2, 5, 5)),),
               dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), ceil_mode=True)),
    ]


def _torch_max_pool_indices(torch, x, *, kernel, stride, padding, dilation, ceil_mode=False):
    F = torch.nn.functional
    fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[len(kernel)]
    return fn(x, kernel, stride, padding, dilation, ceil_mode=ceil_mode, return_indices=True)[1]


add(OpInfo("max_pool_indices", _max_pool_indices_samples,
           call=lambda lib, x, **k: lib.max_pool_indices(x, **k),
           torch_call=_torch_max_pool_indices, grad=False))


def _torch_adaptive_max_pool_indices(torch, x, *, output_size):
    F = torch.nn.functional
    fn = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d,
          3: F.adaptive_max_pool3d}[len(output_size)]
    return fn(x, output_size, return_indices=True)[1]


add(OpInfo("adaptive_max_pool_indices", lambda rng: [
    Sample((_distinct(rng, (2, 3, 7, 5)),), dict(output_size=(3, 2))),
    Sample((_distinct(rng, (1, 2, 10)),), dict(output_size=(4,))),
    Sample((_distinct(rng, (1, 2, 4, 4)),), dict(output_size=(4, 4))),
], call=lambda lib, x, **k: lib.adaptive_max_pool_indices(x, **k),
    torch_call=_torch_adaptive_max_pool_indices, grad=False))


def _softmax_samples(rng):
    return [
        Sample((rng.standard_normal((3, 5)),), dict(dim=1)),
        Sample((rng.standard_normal((2, 3, 4)),), dict(dim=0), noncontig=True),
        Sample((rng.standard_normal((4,)) * 50,), dict(dim=-1), note="large"),
        Sample((rng.standard_normal(()),), dict(dim=0), note="0dim"),
    ]


# the gradient checks run their backward: softmax_backward without create_graph, the
# differentiable composite with it (second derivatives)
add(OpInfo("softmax", _softmax_samples, covers=("softmax_backward",)))
add(OpInfo("log_softmax", _softmax_samples, covers=("softmax_backward",)))


def _embedding_samples(rng):
    return [
        Sample((rng.standard_normal((6, 3)), rng.integers(0, 6, (2, 4)))),
        Sample((rng.standard_normal((5, 2)), np.array([0, 2, 2, 4, 0])), dict(padding_idx=2),
               grad=False, note="padding_idx gets no grad, by design"),
    ]


add(OpInfo("embedding", _embedding_samples,
           call=lambda lib, w, i, **k: lib.embedding(w, i, **k),
           torch_call=lambda torch, w, i, padding_idx=None: torch.embedding(
               w, i, -1 if padding_idx is None else padding_idx)))


def _embedding_backward_samples(rng):
    return [
        Sample((rng.standard_normal((2, 4, 3)), rng.integers(0, 6, (2, 4))), dict(num_weights=6)),
        Sample((rng.standard_normal((5, 2)), np.array([0, 2, 2, 4, 0])),
               dict(num_weights=5, padding_idx=2)),
    ]


add(OpInfo("embedding_dense_backward", _embedding_backward_samples,
           call=lambda lib, g, i, **k: lib.embedding_dense_backward(g, i, **k),
           torch_call=lambda torch, g, i, num_weights, padding_idx=None:
               torch.ops.aten.embedding_dense_backward(
                   g, i, num_weights, -1 if padding_idx is None else padding_idx, False)))


add(OpInfo("binary_cross_entropy", lambda rng: [
    Sample((rng.uniform(0.05, 0.95, (3, 4)), rng.uniform(0, 1, (3, 4)))),
    Sample((rng.uniform(0.05, 0.95, (5,)), rng.integers(0, 2, (5,)).astype(np.float64))),
], call=lambda lib, x, t: lib.binary_cross_entropy(x, t),
    torch_call=lambda torch, x, t: torch.nn.functional.binary_cross_entropy(x, t, reduction="none")))


def _ce_indices_samples(rng):
    t = rng.integers(0, 5, 6)
    t[3] = -100
    return [
        Sample((rng.standard_normal((4, 5)), rng.integers(0, 5, 4))),
        Sample((rng.standard_normal((6, 5)) * 20, t), dict(reduction="sum"), note="large"),
        Sample((rng.standard_normal((6, 5)), t), dict(reduction="none")),
        Sample((rng.standard_normal((5, 3)), np.array([0, 7, 2, 7, 1])), dict(ignore_index=7),
               noncontig=True),
    ]


# the gradient checks run its backward: cross_entropy_indices_backward without
# create_graph, the differentiable composite with it (second derivatives)
add(OpInfo("cross_entropy_indices", _ce_indices_samples,
           call=lambda lib, x, t, **k: lib.nn.functional.cross_entropy(x, t, **k),
           covers=("cross_entropy_indices_backward",)))


def _layer_norm_samples(rng):
    return [
        Sample((rng.standard_normal((2, 3, 4)) * 2 + 1, rng.standard_normal(4), rng.standard_normal(4))),
        Sample((rng.standard_normal((2, 5, 6)), rng.standard_normal((5, 6)), rng.standard_normal((5, 6)))),
        Sample((rng.standard_normal((3, 8)), rng.standard_normal(8), rng.standard_normal(8)),
               dict(eps=1e-3), noncontig=True),
        Sample((rng.standard_normal((7,)), rng.standard_normal(7), rng.standard_normal(7))),
    ]


# the gradient checks run layer_norm's backward: layer_norm_backward without
# create_graph, the differentiable composite with it (second derivatives)
add(OpInfo("layer_norm", _layer_norm_samples,
           call=lambda lib, x, w, b, eps=1e-5: lib.nn.functional.layer_norm(x, tuple(w.shape), w, b, eps),
           covers=("layer_norm_backward",), grad_atol=1e-4))


def _linear_samples(rng):
    return [
        Sample((rng.standard_normal((3, 5)), rng.standard_normal((4, 5)), rng.standard_normal(4))),
        Sample((rng.standard_normal((2, 3, 6)), rng.standard_normal((5, 6)), rng.standard_normal(5))),
        Sample((rng.standard_normal((4, 7)), rng.standard_normal((3, 7)), rng.standard_normal(3)),
               noncontig=True),
        # big enough for the C GEMM with the bias in its epilogue (values only: a
        # finite-difference gradcheck over 40k inputs would take minutes)
        Sample((rng.standard_normal((2, 48, 128)), rng.standard_normal((200, 128)),
                rng.standard_normal(200)), grad=False, note="gemm"),
    ]


# `_linear` is F.linear's eager form (nn/functional.py); torch's F.linear is the same op
add(OpInfo("_linear", _linear_samples,
           torch_call=lambda torch, x, w, b: torch.nn.functional.linear(x, w, b),
           atol=1e-4, grad_atol=1e-4))


def _adam_scalars_samples(rng):
    import pyrch
    return [Sample((np.array(1.0), 1e-3, 0.9, 0.999), dict(dtype=pyrch.float64)),
            Sample((np.array(7.0), 0.05, 0.8, 0.99), dict(dtype=pyrch.float64)),
            Sample((np.array(1000.0), 1.0, 0.5, 0.999), dict(dtype=pyrch.float32))]


def _torch_adam_scalars(torch, step, lr, beta1, beta2, dtype):
    # torch.optim.Adam's host arithmetic (non-capturable single-tensor path)
    s = step.item()
    dt = getattr(torch, str(dtype).split(".")[-1])
    return (torch.tensor(lr / (1 - beta1 ** s), dtype=dt),
            torch.tensor((1 - beta2 ** s) ** 0.5, dtype=dt))


add(OpInfo("_adam_scalars", _adam_scalars_samples, torch_call=_torch_adam_scalars, grad=False,
           gradgrad=False, atol=0, rtol=0))


# fused attention: the jit's fuse_attention pass makes these ops (pyrch/jit/passes.py);
# samples cover a causal mask, a broadcast random mask, none, division by the scale and
# a fully masked row (NaN, as the ops spelled out give)
def _attention_inputs(rng, lead, t, s, d, dv):
    return (rng.standard_normal(lead + (t, d)), rng.standard_normal(lead + (s, d)),
            rng.standard_normal(lead + (s, dv)))


def _attention_samples(rng):
    causal = np.triu(np.ones((5, 5), bool), 1)
    rand = rng.random((3, 1, 4, 6)) < 0.3
    full = np.zeros((4, 6), bool)
    full[2] = True
    return [Sample(_attention_inputs(rng, (2, 3), 5, 5, 4, 4) + (causal,), dict(scale=0.5)),
            Sample(_attention_inputs(rng, (3, 2), 4, 6, 3, 5) + (rand,), dict(scale=0.7),
                   noncontig=True),
            Sample(_attention_inputs(rng, (2,), 3, 7, 4, 2) + (None,), dict(scale=2.0, divide=True)),
            Sample(_attention_inputs(rng, (1, 2), 4, 6, 5, 3) + (full,), dict(scale=0.3))]


def _attention_call(lib, q, k, v, mask, **kw):
    from pyrch.ops.registry import OPS
    return OPS["_attention"](q, k, v, mask, **kw)


def _torch_attention(torch, q, k, v, mask, scale, divide=False):
    s = q @ k.transpose(-2, -1)
    s = s / scale if divide else s * scale
    if mask is not None:
        s = s.masked_fill(mask, float("-inf"))
    p = torch.softmax(s, -1)
    return p @ v, p


add(OpInfo("_attention", _attention_samples, call=_attention_call, torch_call=_torch_attention,
           grad=False, gradgrad=False, atol=1e-5, rtol=1e-5))


def _attention_backward_samples(rng):
    out = []
    for smp in _attention_samples(rng):
        q, k, v, mask = smp.args
        s = q @ np.swapaxes(k, -1, -2)
        s = s / smp.kwargs["scale"] if smp.kwargs.get("divide") else s * smp.kwargs["scale"]
        if mask is not None:
            s = np.where(mask, -np.inf, s)
        with np.errstate(invalid="ignore"):
            e = np.exp(s - s.max(-1, keepdims=True))
            p = e / e.sum(-1, keepdims=True)
        g = rng.standard_normal(q.shape[:-1] + (v.shape[-1],))
        out.append(Sample((g, q, k, v, p, mask), smp.kwargs, noncontig=smp.noncontig))
    return out


def _attention_backward_call(lib, g, q, k, v, p, mask, **kw):
    from pyrch.ops.registry import OPS
    return OPS["_attention_backward"](g, q, k, v, p, mask, **kw)


def _torch_attention_backward(torch, g, q, k, v, p, mask, scale, divide=False):
    dp = g @ v.transpose(-2, -1)
    ds = p * (dp - (dp * p).sum(-1, keepdim=True))
    if mask is not None:
        ds = ds.masked_fill(mask, 0.0)
    ds = ds / scale if divide else ds * scale
    return ds @ k, ds.transpose(-2, -1) @ q, p.transpose(-2, -1) @ g


add(OpInfo("_attention_backward", _attention_backward_samples, call=_attention_backward_call,
           torch_call=_torch_attention_backward, grad=False, gradgrad=False, atol=1e-5,
           rtol=1e-5))
