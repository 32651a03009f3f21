"""Micro-benchmarks behind the "what each change bought" rows of RESULTS.md.

    python benchmarks/bench_micro.py

Each row times one pyrch kernel against PyTorch (and numpy where that is the
baseline the change replaced), in one process, alternating rounds.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import torch  # noqa: E402

import pyrch  # noqa: E402
from harness import compare, report  # noqa: E402
from models import case  # noqa: E402

torch.set_num_threads(2)


def _vm_row(op, n=16384):
    """Time per million elements of one VM instruction: (8-instruction chain - 1) / 7."""
    from pyrch._C import fused
    a = (np.random.default_rng(0).random(n, dtype=np.float32) + 0.5)
    o = np.empty_like(a)

    def kernel(k):
        steps, cur = [], 0
        for i in range(k):
            steps.append((op, (cur,), {}))
            cur = 1 + i
        return fused.compile_group(1, steps, [cur], "float32")
    k1, k8 = kernel(1), kernel(8)
    _, t8, t1, _ = compare(op, lambda: k8([a], [o]), lambda: k1([a], [o]), number=2000, rounds=5)
    return (f"C VM {op}: one instruction over 1M float32 (L2-resident blocks)",
            (t8 - t1) / 7 / n * 1e6, float("inf"), float("nan"))


def main():
    rows = []
    for op in ("exp", "log", "tanh", "erf", "gelu"):
        rows.append(_vm_row(op))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 4, 64, 64)).astype(np.float32)
    mask = np.triu(np.ones((64, 64), bool), 1)
    xm = np.where(mask, -np.inf, x).astype(np.float32)
    for name, arr in (("softmax (16,4,64,64)", x), ("softmax, causal -inf mask", xm)):
        p, t = pyrch.tensor(arr), torch.tensor(arr)
        rows.append(compare(f"{name}: pyrch vs torch", lambda: p.softmax(-1), lambda: t.softmax(-1),
                            number=50, rounds=5))

        def np_softmax(a=arr):
            e = np.exp(a - a.max(-1, keepdims=True))
            e /= e.sum(-1, keepdims=True)
            return e
        rows.append(compare(f"{name}: pyrch vs numpy", lambda: p.softmax(-1), np_softmax,
                            number=50, rounds=5))
    xs = rng.standard_normal((16, 784)).astype(np.float32)
    w = rng.standard_normal((512, 784)).astype(np.float32)
    px, pw, tx, tw = pyrch.tensor(xs), pyrch.tensor(w), torch.tensor(xs), torch.tensor(w)
    rows.append(compare("linear 16x784 @ 784x512: pyrch vs torch", lambda: px @ pw.T,
                        lambda: tx @ tw.T, number=300, rounds=5))
    rows.append(compare("linear 16x784 @ 784x512: pyrch vs plain numpy x @ W.T", lambda: px @ pw.T,
                        lambda: xs @ w.T, number=300, rounds=5))
    gb = rng.standard_normal((16, 64, 512)).astype(np.float32)
    pg, tg = pyrch.tensor(gb), torch.tensor(gb)
    rows.append(compare("bias gradient: sum (16,64,512) over dims 0,1: pyrch sum_to vs torch",
                        lambda: pyrch.ops.core.sum_to(pg, shape=(512,)),
                        lambda: tg.sum((0, 1)), number=200, rounds=5))
    rows.append(compare("bias gradient: pyrch sum_to vs numpy .sum(axis=(0, 1))",
                        lambda: pyrch.ops.core.sum_to(pg, shape=(512,)),
                        lambda: gb.sum(axis=(0, 1)), number=200, rounds=5))
    steps = []
    for lib in (pyrch, torch):
        step, bx, by = case(lib, "mlp_b16")
        for _ in range(3):
            step(bx, by)
        opt = next(c.cell_contents for c in step.__closure__
                   if type(c.cell_contents).__name__ == "SGD")
        steps.append(opt.step)
    rows.append(compare("MLP b16 SGD-momentum optimizer.step(), eager: pyrch vs torch",
                        steps[0], steps[1], number=200, rounds=5))
    return report(rows, "micro-benchmarks (pyrch / other, lower is better)")


if __name__ == "__main__":
    main()
