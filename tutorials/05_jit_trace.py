"""05 - @jit.trace: record once, replay fast. Reading graphs, guards, retraces, footguns.

    python tutorials/05_jit_trace.py

`@jit.trace` records what a function does with tensors into a graph, optimises
it (dead code, common subexpressions, elementwise fusion, buffer reuse) and
replays the graph on later calls without running your Python code.
"""
import os

import pyrch as torch
import pyrch.nn as nn
import pyrch.nn.functional as F
from pyrch import jit

FAST = os.environ.get("PYRCH_TUTORIAL_FAST") == "1"
torch.manual_seed(0)


# -- 1. Trace a function and read its graph -------------------------------------------------
@jit.trace
def gelu_ish(x, w):
    h = x @ w
    return h * torch.sigmoid(1.702 * h)


x, w = torch.randn(4, 3), torch.randn(3, 5)
for _ in range(3):          # call 1: eager warm-up, call 2: eager + record, call 3: replay
    out = gelu_ish(x, w)
print(gelu_ish.stats)       # hits=1: the third call replayed the graph
print(gelu_ish.graph_for(x, w))
# Each line is one value: `%name: dtype[shape] = op(inputs)  # your file:line`.
# `fused(...) { ... }` is a group of elementwise ops run as one loop, without
# temporaries. In Jupyter, evaluating `gelu_ish.graph_for(x, w)` shows a table
# with the fused groups highlighted.

# -- 2. Guards: `if` on a tensor is recorded, and checked on every replay --------------------
@jit.trace
def leaky(x):
    if x.sum() > 0:          # becomes `guard bool(...) == True` in the graph
        return x * 2
    return x * 0.1


pos, neg = torch.ones(3), -torch.ones(3)
for _ in range(3):
    leaky(pos)
print("leaky(neg) =", leaky(neg).tolist())   # the guard fails: eager run + new variant
print("retraces:", leaky.stats.retraces)

# -- 3. Retraces: a new shape, dtype or Python argument is a new signature ---------------------
for n in (4, 8, 8, 8):
    gelu_ish(torch.randn(n, 3), w)
print(gelu_ish.stats, "->", gelu_ish.stats.retraces[-1])
# After 8 retraces pyrch warns and names the dimension that keeps changing.

# -- 4. Footguns ------------------------------------------------------------------------------
# (a) Python side effects happen only while tracing, never on replays.
calls = []


@jit.trace
def noisy(x):
    calls.append("ran")      # runs on calls 1 and 2 only
    return x + 1


for _ in range(5):
    noisy(x)
print("python body ran", len(calls), "times for 5 calls")

# (b) Reading a tensor's value into Python (.item(), float(), .tolist()) is refused,
#     because the graph would silently bake the value in. The error shows the fix.
@jit.trace
def bad(x):
    return x.sum().item() * 2


bad(x)                       # warm-up runs eagerly: fine
try:
    bad(x)
except jit.TraceError as e:
    print("TraceError:", str(e).splitlines()[0])
# Fix: return the tensor and call .item() outside, or @jit.trace(allow_scalars=True).

# -- 5. A whole training step: forward, backward and optimizer update in one graph ------------
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


@jit.trace
def train_step(xb, yb):
    opt.zero_grad()
    loss = F.cross_entropy(model(xb), yb)
    loss.backward()
    opt.step()
    return loss


xb, yb = torch.randn(32, 16), torch.randint(0, 4, (32,))
losses = [train_step(xb, yb).item() for _ in range(10 if FAST else 50)]
print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; {train_step.stats}")
assert losses[-1] < losses[0]
opt.param_groups[0]["lr"] = 0.01              # hyperparameters are graph inputs: no retrace
train_step(xb, yb)
print("after changing lr:", train_step.stats)

# `@jit.trace(check=2)` runs eager side by side with the first 2 replays and raises at the
# first graph value that differs. PYRCH_JIT=0 (or `with jit.disabled():`) runs everything
# eagerly, to tell a jit problem from a model problem.
checked = jit.trace(lambda a: (a * 3).tanh(), check=2)
for _ in range(4):
    checked(x)
print("checked replays passed:", checked.stats)
