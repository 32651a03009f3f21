"""06 - How fast is a traced step? Eager vs. the reference executor vs. the C executor.

    python tutorials/06_c_executor_speed.py

A traced graph is lowered to a flat plan of steps over numbered buffers. Two
executors run plans: the reference executor (Python over numpy; the oracle)
and the C executor (pyrch/_C, built by `pip install -e .`), which runs fused
elementwise groups in a blockwise C loop and matrix products through BLAS. From
the second replay on, the C executor runs the whole plan in one C call: the native
steps from C structs it recorded, and the steps with no C kernel called back into
Python. `PYRCH_C=0` (or `with pyrch.config(c=False):`) forces the reference executor.
Numbers here are for your machine; benchmarks/ holds the reproducible suite
against PyTorch.
"""
import os
import time

import pyrch as torch
import pyrch._C
import pyrch.nn as nn
import pyrch.nn.functional as F
from pyrch import jit

FAST = os.environ.get("PYRCH_TUTORIAL_FAST") == "1"
REPS = 5 if FAST else 50
torch.manual_seed(0)
print("C extension loaded:", pyrch._C.available)


def make_step():
    """A fresh model/optimizer and an (untraced) training step over them."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(),
                          nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def per_call(fn, x, y):
    for _ in range(3):                       # warm-up, record, first replay
        fn(x, y)
    t = time.perf_counter()
    for _ in range(REPS):
        loss = fn(x, y)
    loss.item()
    return (time.perf_counter() - t) / REPS


x, y = torch.randn(64, 64), torch.randint(0, 10, (64,))
results = {"eager": per_call(make_step(), x, y)}
with torch.config(c=False):
    results["traced, reference executor"] = per_call(jit.trace(make_step()), x, y)
results["traced, default executor"] = per_call(jit.trace(make_step()), x, y)

from rich.console import Console   # noqa: E402
from rich.table import Table        # noqa: E402

table = Table(title=f"Adam step, MLP 64-128-128-10, batch 64, {REPS} reps")
table.add_column("mode")
table.add_column("time / step", justify="right")
table.add_column("vs eager", justify="right")
for name, sec in results.items():
    table.add_row(name, f"{sec * 1e3:.3f} ms", f"{results['eager'] / sec:.2f}x")
Console().print(table)

# The same numbers in the profiler: eager runs are timed per op; traced replays are
# reported by the executor (when it reports its steps) as `jit` events.
traced = jit.trace(make_step())
for _ in range(3):
    traced(x, y)
with torch.profiler.profile() as prof:
    with torch.profiler.record_function("traced_step"):
        traced(x, y)
print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=5))

# The traced and eager steps compute the same losses:
a, b = make_step(), jit.trace(make_step())
la = [a(x, y).item() for _ in range(5)]
lb = [b(x, y).item() for _ in range(5)]
print("eager :", [f"{v:.5f}" for v in la])
print("traced:", [f"{v:.5f}" for v in lb])
assert max(abs(p - q) for p, q in zip(la, lb)) < 1e-4

# A chain that ends in a reduction: the C executor sums in the same pass that computes
# the chain, so the squared differences below are never written to memory (float32).
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)


def mse(a, b):
    return ((a - b) ** 2).mean()


traced_mse = jit.trace(mse)
for _ in range(3):
    traced_mse(a, b)


def per_call2(fn):
    t = time.perf_counter()
    for _ in range(REPS):
        fn(a, b)
    return (time.perf_counter() - t) / REPS


print(f"MSE over 1M values: eager {per_call2(mse) * 1e3:.3f} ms, "
      f"traced {per_call2(traced_mse) * 1e3:.3f} ms, "
      f"same value: {abs(float(mse(a, b)) - float(traced_mse(a, b))) < 1e-5}")
