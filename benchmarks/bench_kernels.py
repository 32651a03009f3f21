"""Fused-kernel speed: GELU on 16M float32 values, forward and forward+backward,
pyrch traced (C executor) vs PyTorch eager, numpy, and jax.jit when installed;
the replay overhead of a 50-node graph on 4-element tensors; a loss-like chain
ending in reductions (summed in the elementwise pass); traced MLP inference
(linear layers as GEMMs with a bias/activation epilogue).

    python benchmarks/bench_kernels.py
    python benchmarks/bench_kernels.py --compile    # adds torch.compile
"""
import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import numpy as np  # noqa: E402
import torch  # noqa: E402

import pyrch  # noqa: E402
from harness import compare, report  # noqa: E402

torch.set_num_threads(2)
N = 16 * 1024 * 1024


def gelu_np(x):
    return 0.5 * x * (1 + np.tanh(np.float32(0.7978845608028654) * (x + np.float32(0.044715) * x * x * x)))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--n", type=int, default=N)
    ns = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal(ns.n).astype(np.float32)
    gs = rng.standard_normal(ns.n).astype(np.float32)
    F = pyrch.nn.functional

    @pyrch.jit.trace
    def p_fwd(x):
        return F.gelu(x, approximate="tanh")

    @pyrch.jit.trace
    def p_fwd_bwd(x, g):
        y = F.gelu(x, approximate="tanh")
        (gx,) = pyrch.autograd.grad(y, x, g)
        return y, gx

    px, pg = pyrch.from_numpy(xs), pyrch.from_numpy(gs)
    pxr = pyrch.from_numpy(xs.copy()).requires_grad_()
    tx, tg = torch.from_numpy(xs), torch.from_numpy(gs)
    txr = torch.from_numpy(xs.copy()).requires_grad_()

    def t_fwd():
        return torch.nn.functional.gelu(tx, approximate="tanh")

    def t_fwd_bwd():
        y = torch.nn.functional.gelu(txr, approximate="tanh")
        (gx,) = torch.autograd.grad(y, txr, tg)
        return y, gx

    for _ in range(3):
        p_fwd(px)
        p_fwd_bwd(pxr, pg)
    rows = [compare("GELU-tanh fwd 16M: pyrch traced vs torch eager", lambda: p_fwd(px), t_fwd,
                    number=3, rounds=5),
            compare("GELU-tanh fwd+bwd 16M: pyrch traced vs torch eager",
                    lambda: p_fwd_bwd(pxr, pg), t_fwd_bwd, number=2, rounds=5),
            compare("GELU-tanh fwd 16M: pyrch traced vs numpy", lambda: p_fwd(px),
                    lambda: gelu_np(xs), number=3, rounds=5)]
    try:
        import jax
        import jax.numpy as jnp
        jx, jg = jnp.asarray(xs), jnp.asarray(gs)
        jf = jax.jit(lambda x: jax.nn.gelu(x, approximate=True))

        def jfb(x, g):
            y, vjp = jax.vjp(lambda t: jax.nn.gelu(t, approximate=True), x)
            return y, vjp(g)[0]
        jfb = jax.jit(jfb)
        jf(jx).block_until_ready()
        jfb(jx, jg)[1].block_until_ready()
        rows.append(compare("GELU-tanh fwd 16M: pyrch traced vs jax.jit", lambda: p_fwd(px),
                            lambda: jf(jx).block_until_ready(), number=3, rounds=5))
        rows.append(compare("GELU-tanh fwd+bwd 16M: pyrch traced vs jax.jit",
                            lambda: p_fwd_bwd(pxr, pg),
                            lambda: jfb(jx, jg)[1].block_until_ready(), number=2, rounds=5))
    except ImportError:
        print("jax not installed: skipping the jax.jit comparison")
    if ns.compile:
        cf = torch.compile(t_fwd)
        cf()
        cf()
        rows.append(compare("GELU-tanh fwd 16M: pyrch traced vs torch.compile", lambda: p_fwd(px),
                            cf, number=3, rounds=5))

    # replay overhead: 50 elementwise nodes on 4-element tensors
    @pyrch.jit.trace
    def chain(a, b):
        x = a
        for i in range(25):
            x = x * b + 0.5
        return x
    a4, b4 = pyrch.rand(4), pyrch.rand(4)
    for _ in range(3):
        chain(a4, b4)
    ta, tb = torch.rand(4), torch.rand(4)

    def t_chain():
        x = ta
        for i in range(25):
            x = x * tb + 0.5
        return x
    rows.append(compare("50-node graph on 4 elements: pyrch replay vs torch eager",
                        lambda: chain(a4, b4), t_chain, number=2000, rounds=5))

    # a loss-like chain ending in reductions (2M values): the traced step sums in the
    # elementwise pass and never stores the squared differences
    m2 = 2048 * 1024
    ya, yb = rng.standard_normal(m2).astype(np.float32), rng.standard_normal(m2).astype(np.float32)

    @pyrch.jit.trace
    def losses(a, b):
        d = a - b
        return (d * d).mean(), (d.abs() - 0.5).relu().sum()
    pa, pb = pyrch.from_numpy(ya), pyrch.from_numpy(yb)
    ta2, tb2 = torch.from_numpy(ya), torch.from_numpy(yb)

    def t_losses():
        d = ta2 - tb2
        return (d * d).mean(), (d.abs() - 0.5).relu().sum()
    rows.append(compare("MSE + hinge-sum over 2M values: pyrch traced vs torch eager",
                        lambda: losses(pa, pb), t_losses, number=20, rounds=5))

    # traced inference of an MLP: each linear layer one GEMM with its bias and activation
    nn_p, nn_t = pyrch.nn, torch.nn
    pyrch.manual_seed(0)
    pm = nn_p.Sequential(nn_p.Linear(784, 512), nn_p.ReLU(), nn_p.Linear(512, 256), nn_p.GELU(),
                         nn_p.Linear(256, 10))
    tm = nn_t.Sequential(nn_t.Linear(784, 512), nn_t.ReLU(), nn_t.Linear(512, 256), nn_t.GELU(),
                         nn_t.Linear(256, 10))
    xin = rng.standard_normal((128, 784)).astype(np.float32)
    px_in, tx_in = pyrch.from_numpy(xin), torch.from_numpy(xin)
    ptm = pyrch.jit.trace(pm, (px_in,))

    def p_infer():
        with pyrch.no_grad():       # as torch's side: no saved activations, no backward graph
            return ptm(px_in)
    with torch.no_grad():
        rows.append(compare("MLP 784-512-256-10 inference, batch 128: pyrch traced vs torch eager",
                            p_infer, lambda: tm(tx_in), number=100, rounds=5))
    return report(rows, "kernels (pyrch / other, lower is better)")


if __name__ == "__main__":
    main()
