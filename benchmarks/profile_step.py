"""Where a traced training step's time goes, plan step by plan step, with shapes.

    python benchmarks/profile_step.py gpt_b16 [replays] [rows]

Traces the benchmark step, then replays it step by step under `pyrch.profiler` (the
profiled replay runs each plan step's closure, not the recorded C call, so the total
is a little above the real step's) and prints each step's time per replay, grouped
by name and, for products, the operands' shapes and strides.
"""
import collections
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import torch  # noqa: E402,F401  (before pyrch: see RESULTS.md, session 9)

from pyrch import profiler  # noqa: E402
from pyrch.jit import executor as _executor  # noqa: E402
from harness import timed_steps  # noqa: E402
from models import recorded  # noqa: E402


def _operand(slots, arg):
    kind, k = arg
    if kind != "s":
        return "lit"
    a = slots[k]
    return tuple(getattr(a, "shape", ())) + (tuple(getattr(a, "strides", ())),)


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "gpt_b16"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    traced, x, y = recorded(name)
    print(f"{name}: traced step {timed_steps(traced, x, y, n):.3f} ms (one C call)")

    stats = collections.defaultdict(lambda: [0, 0.0])

    def run_profiled(self, slots, prof):
        clock = time.perf_counter
        for fn, st in zip(self.steps, self.plan.steps):
            t = clock()
            fn(slots)
            dt = clock() - t
            key = (st.name, tuple(_operand(slots, a) for a in st.args)) \
                if st.kind == "call" and st.op == "matmul" else (st.name,)
            stats[key][0] += 1
            stats[key][1] += dt
        return slots

    saved = _executor.Executor._run_profiled
    _executor.Executor._run_profiled = run_profiled
    try:
        with profiler.profile():
            for _ in range(n):
                traced(x, y)
    finally:
        _executor.Executor._run_profiled = saved
    total = sum(v[1] for v in stats.values()) / n
    print(f"step by step under the profiler: {total * 1e3:.3f} ms")
    for key, (count, secs) in sorted(stats.items(), key=lambda kv: -kv[1][1])[:rows]:
        print(f"{secs / n * 1e3:8.3f} ms {count // n:3d}x  {key[0]} {key[1] if len(key) > 1 else ''}")


if __name__ == "__main__":
    main()
