"""A/B of two checkouts of pyrch: training-step time, pyrch only, old and new
alternated in fresh processes (each process keeps its best round).

    python benchmarks/ab.py OLD_CHECKOUT NEW_CHECKOUT [--cases mlp_b16,gpt_b16] [--reps 2]

A checkout is a directory with `pyrch/` built in place (`python setup.py
build_ext --inplace`), e.g. from `git worktree add /tmp/old <commit>`. The
machine is shared and noisy: compare the alternated runs, not single figures.
"""
import argparse
import os
import subprocess
import sys

CASES = ["mlp_b16", "mlp_b128", "lenet_b64", "gpt_b16"]
NUMBER = {"mlp_b16": 100, "mlp_b128": 50, "lenet_b64": 15, "gpt_b16": 4}

_CHILD = r"""
import sys, time
sys.path.insert(0, {bench!r})
import pyrch
from models import case
name, mode = {name!r}, {mode!r}
step, x, y = case(pyrch, name)
f = pyrch.jit.trace(step) if mode == "traced" else step
for _ in range(5):
    f(x, y)
best = 1e9
for _ in range({rounds}):
    t0 = time.perf_counter()
    for _ in range({number}):
        f(x, y)
    best = min(best, (time.perf_counter() - t0) / {number})
print(best * 1e3)
"""


def run(checkout, name, mode, rounds):
    code = _CHILD.format(bench=os.path.join(os.path.dirname(os.path.abspath(__file__))),
                         name=name, mode=mode, rounds=rounds, number=NUMBER[name])
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=os.path.abspath(checkout))
    if out.returncode != 0:
        raise SystemExit(f"{checkout}: {name} {mode} failed:\n{out.stderr}")
    return float(out.stdout.split()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--modes", default="traced,eager")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=8)
    a = ap.parse_args()
    for name in a.cases.split(","):
        for mode in a.modes.split(","):
            old, new = [], []
            for _ in range(a.reps):
                old.append(run(a.old, name, mode, a.rounds))
                new.append(run(a.new, name, mode, a.rounds))
            print(f"{name:10s} {mode:6s}  old " + ", ".join(f"{v:.2f}" for v in old) +
                  " ms   new " + ", ".join(f"{v:.2f}" for v in new) + " ms")


if __name__ == "__main__":
    main()
