"""What a traced step's one C call spends back in Python, per replay.

    python benchmarks/callbacks.py gpt_b16 [replays]

A recorded plan (pyrch/jit/segments.py) runs as one `pyrch_run_steps` call; each run
of steps it cannot keep in C is a callback into Python, after which the next
segment's pointers are set to this replay's arrays. This prints the step time, then
each callback group's time per replay: its steps (by op) and, apart, the setting of
the next segment's pointers ("prep").
"""
import collections
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import torch  # noqa: E402,F401  (before pyrch: see RESULTS.md, session 9)

from harness import timed_steps  # noqa: E402
from models import executors, recorded  # noqa: E402


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "gpt_b16"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    f, x, y = recorded(name)
    print(f"{name}: traced step {timed_steps(f, x, y, n):.3f} ms")
    spent = collections.defaultdict(float)
    names = {}
    for ex in executors(f):
        prog = ex._units
        if not prog:
            continue
        op_of = {id(fn): st.name for fn, st in zip(ex.steps, ex.plan.steps)}
        for i, (fns, _, _) in enumerate(prog._cb):
            names[(id(prog), i)] = [op_of.get(id(fn), "?") for fn in fns]

        def callback(i, prog=prog):
            fns, nxt, _ = prog._cb[i]
            v = prog._v
            t = time.perf_counter()
            for fn in fns:
                fn(v)
            t1 = time.perf_counter()
            ok = nxt is None or nxt.prepare(v)
            t2 = time.perf_counter()
            spent[(id(prog), i, "steps")] += t1 - t
            spent[(id(prog), i, "prep")] += t2 - t1
            if not ok:                  # a layout changed: as Program._callback does
                for fn in nxt.fns:
                    fn(v)
                prog._stale = True
                return 1 + len(nxt.calls)
            return 1
        prog._callback = callback
    for _ in range(n):
        f(x, y)
    total = sum(spent.values()) / n
    print(f"{len(names)} callback groups, {total * 1e3:.3f} ms a replay")
    for key, secs in sorted(spent.items(), key=lambda kv: -kv[1])[:20]:
        ops = collections.Counter(names[key[:2]])
        print(f"{secs / n * 1e3:8.3f} ms  {key[2]:5s} " + ", ".join(f"{c}x {o}" for o, c in ops.items()))


if __name__ == "__main__":
    main()
