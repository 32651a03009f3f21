"""A/B of the executor's segments (pyrch/jit/segments.py) in one process.

    python benchmarks/ab_segments.py mlp_b16 [number] [rounds]

Two traced copies of the same training step; in the second, every executor replays
step by step (its segments switched off). Rounds of the two and of PyTorch's eager
step alternate; prints best / first quartile / median per side (ms), and the ratios
of the bests to PyTorch's.
"""
import gc
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import torch  # noqa: E402  (before pyrch: see RESULTS.md, session 9)

from harness import alternate  # noqa: E402
from models import case, executors, recorded  # noqa: E402

torch.set_num_threads(2)
NUMBER = {"mlp_b16": 200, "mlp_b128": 100, "lenet_b64": 30, "gpt_b16": 10}


def traced(name):
    """A traced step past its segment recording, and the executors it created."""
    f, x, y = recorded(name, warm=4)
    return f, x, y, executors(f)


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "mlp_b16"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else NUMBER[name]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    on = traced(name)
    off = traced(name)
    for ex in off[3]:
        ex._units = False
    gc.collect()
    best = alternate(name, {"segments": on[:3], "step by step": off[:3],
                            "torch eager": case(torch, name)}, n, rounds)
    t = best["torch eager"]
    print(f"ratios to torch eager (bests): segments {best['segments'] / t:.2f}x, "
          f"step by step {best['step by step'] / t:.2f}x")


if __name__ == "__main__":
    main()
