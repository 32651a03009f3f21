"""Dispatch and autograd overhead on tiny tensors, pyrch vs PyTorch.

    python benchmarks/bench_core.py

Targets (issue: foundation): 4-element `a + b` <= 1.5x PyTorch's time; the
tiny `((a*b).sum()).backward()` <= 1.0x PyTorch's.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import numpy as np  # noqa: E402
import torch  # noqa: E402

import pyrch  # noqa: E402
from harness import compare, report  # noqa: E402

torch.set_num_threads(2)


def main():
    x = np.random.default_rng(0).standard_normal(4).astype(np.float32)
    pa, pb = pyrch.tensor(x), pyrch.tensor(x[::-1].copy())
    ta, tb = torch.tensor(x), torch.tensor(x[::-1].copy())
    rows = [compare("add, 4 elements, no grad", lambda: pa + pb, lambda: ta + tb, number=20000)]
    ga, gb = pa.clone().requires_grad_(), pb.clone().requires_grad_()
    tga, tgb = ta.clone().requires_grad_(), tb.clone().requires_grad_()

    def p_bwd():
        ((ga * gb).sum()).backward()

    def t_bwd():
        ((tga * tgb).sum()).backward()
    rows.append(compare("((a*b).sum()).backward(), 4 elements", p_bwd, t_bwd, number=3000))
    return report(rows, "core overhead (lower ratio is better)")


if __name__ == "__main__":
    main()
