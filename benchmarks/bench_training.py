"""Training-step speed, pyrch vs PyTorch, in one process on this machine.

    python benchmarks/bench_training.py              # eager and traced pyrch vs torch eager
    python benchmarks/bench_training.py --compile    # also torch.compile (slow to compile)
    python benchmarks/bench_training.py --cases mlp_b16,gpt_b16

Rows: pyrch eager vs torch eager (issue 3's target: <= 1.3x), pyrch traced vs
torch eager (issue 4: MLP b16 and GPT faster than torch eager; issue 5: MLP b16
<= 0.5x, b128 <= 0.9x), pyrch traced vs torch.compile (issue 5: LeNet <= 0.9x of
torch's best, GPT <= 0.8x compiled), and the GPT trace time (issue 4: <= 0.5 s).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import torch  # noqa: E402

import pyrch  # noqa: E402
from harness import compare, report  # noqa: E402
from models import case  # noqa: E402

torch.set_num_threads(2)
CASES = ["mlp_b16", "mlp_b128", "lenet_b64", "gpt_b16"]
NUMBER = {"mlp_b16": 200, "mlp_b128": 100, "lenet_b64": 30, "gpt_b16": 10}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ns = ap.parse_args(argv)
    rows = []
    for name in ns.cases.split(","):
        n = NUMBER[name]
        p_step, px, py = case(pyrch, name)
        t_step, tx, ty = case(torch, name)
        rows.append(compare(f"{name} eager", lambda: p_step(px, py), lambda: t_step(tx, ty),
                            number=n, rounds=ns.rounds))
        q_step, qx, qy = case(pyrch, name)
        traced = pyrch.jit.trace(q_step)
        traced(qx, qy)                       # warm-up (creates optimizer state)
        t0 = time.perf_counter()
        traced(qx, qy)                       # records and optimises the graph
        trace_s = time.perf_counter() - t0
        rows.append(compare(f"{name} traced vs torch eager", lambda: traced(qx, qy),
                            lambda: t_step(tx, ty), number=n, rounds=ns.rounds))
        rows.append((f"{name} trace time (first traced call)", trace_s, float("inf"), float("nan")))
        if ns.compile:
            c_step, cx, cy = case(torch, name)
            compiled = torch.compile(c_step)
            compiled(cx, cy)
            compiled(cx, cy)
            rows.append(compare(f"{name} traced vs torch.compile", lambda: traced(qx, qy),
                                lambda: compiled(cx, cy), number=n, rounds=ns.rounds))
    return report(rows, "training steps (pyrch / PyTorch, lower is better)")


if __name__ == "__main__":
    main()
