"""A/B of one jit graph pass (pyrch/jit/passes.py PIPELINE) in one process.

    python benchmarks/ab_passes.py gpt_b16 fuse_attention [number] [rounds] [--module]

Two traced copies of the same training step; the second is traced with the named pass
left out of the pipeline. With --module only the model is traced (jit.trace(model),
its backward derived) and the step around it runs eagerly. Rounds of the two and of PyTorch's eager step alternate;
prints best / first quartile / median per side (ms), and the ratios of the bests to
PyTorch's.
"""
import gc
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import torch  # noqa: E402  (before pyrch: see RESULTS.md, session 9)

import pyrch  # noqa: E402
from pyrch.jit import passes  # noqa: E402
from harness import alternate  # noqa: E402
from models import case  # noqa: E402

torch.set_num_threads(2)
NUMBER = {"mlp_b16": 200, "mlp_b128": 100, "lenet_b64": 30, "gpt_b16": 10}


def traced(name, without=None, module=False):
    """A traced step past its segment recording, traced without pass `without`."""
    full = list(passes.PIPELINE)
    if without is not None:
        if not any(p.__name__ == without for p in full):
            raise SystemExit(f"no pass {without!r} in {[p.__name__ for p in full]}")
        passes.PIPELINE[:] = [p for p in full if p.__name__ != without]
    try:
        step, x, y = case(pyrch, name, trace_model=module)
        f = step if module else pyrch.jit.trace(step)
        for _ in range(4):       # warm-up, recording, first replay, segment recording
            f(x, y)
    finally:
        passes.PIPELINE[:] = full
    return f, x, y


def main():
    module = "--module" in sys.argv
    sys.argv = [a for a in sys.argv if a != "--module"]
    name = sys.argv[1] if len(sys.argv) > 1 else "gpt_b16"
    without = sys.argv[2] if len(sys.argv) > 2 else "fuse_attention"
    n = int(sys.argv[3]) if len(sys.argv) > 3 else NUMBER[name]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 9
    on = traced(name, module=module)
    off = traced(name, without, module)
    gc.collect()
    keys = ("with it", f"without {without}", "torch eager")
    best = alternate(name, dict(zip(keys, (on, off, case(torch, name)))), n, rounds)
    t = best["torch eager"]
    print(f"ratios to torch eager (bests): with {best[keys[0]] / t:.2f}x, "
          f"without {best[keys[1]] / t:.2f}x")


if __name__ == "__main__":
    main()
