"""11 - The same code on a GPU: devices, a training step eager and traced, CUDA graphs.

    python tutorials/11_cuda.py

pyrch runs on NVIDIA GPUs through cupy (`pip install -e ".[cuda]"`). The habits
are PyTorch's: pick a device, move the model and each batch there, and the same
code runs on it. On a machine without a GPU (or without cupy) this script says
so and runs everything on the CPU.

A traced step on the GPU runs each fused elementwise group as one generated
kernel. From its third call on, it is replayed as a CUDA graph: one launch per
segment between matrix products, where a kernel-by-kernel replay would make
hundreds of launches. `PYRCH_CUDA_GRAPHS=0` turns graphs off, to compare.
"""
import os
import time

import pyrch as torch
import pyrch.nn as nn
import pyrch.nn.functional as F
from pyrch import jit

FAST = os.environ.get("PYRCH_TUTORIAL_FAST") == "1"
REPS = 5 if FAST else 50

# -- 1. Pick a device ---------------------------------------------------------------------------
device = "cuda" if torch.cuda.is_available() else "cpu"
print("device:", device, "-", torch.cuda.get_device_name() if device == "cuda" else "no CUDA GPU")
torch.manual_seed(0)
x = torch.randn(256, 64, device=device)
print("x lives on", x.device, "| x.cpu() on", x.cpu().device)

# -- 2. A model and its batches on the device ---------------------------------------------------
model = nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.LayerNorm(256), nn.Linear(256, 10)).to(device)
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
y = torch.randint(0, 10, (256,)).to(device)
print("parameters on", {str(p.device) for p in model.parameters()})


def step(x, y):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def sync():
    if device == "cuda":
        torch.cuda.synchronize()     # GPU work is asynchronous: wait before reading the clock


def per_call(fn):
    for _ in range(3):               # the first call records, the third is captured on a GPU
        fn(x, y)
    sync()
    t = time.perf_counter()
    for _ in range(REPS):
        loss = fn(x, y)
    sync()
    return (time.perf_counter() - t) / REPS * 1e3, loss.item()


# -- 3. Eager, then the whole step traced ------------------------------------------------------
eager_ms, eager_loss = per_call(step)
traced_step = jit.trace(step)
traced_ms, traced_loss = per_call(traced_step)
print(f"eager  {eager_ms:7.3f} ms/step   loss {eager_loss:.4f}")
print(f"traced {traced_ms:7.3f} ms/step   loss {traced_loss:.4f}")

# -- 4. What the traced step runs as ----------------------------------------------------------
for ex in traced_step.executors():
    if ex.cuda is not None:
        s = ex.cuda.stats
        print(f"generated kernels: {s['fused_kernels']}, graph launches: {s['graph_launches']}, "
              f"graph segments: {s.get('graph_segments', 0)}")
if device == "cpu":
    print("(on a GPU, the traced step's fused groups become generated CUDA kernels, replayed "
          "as CUDA graphs)")

# -- 5. Memory ---------------------------------------------------------------------------------
if device == "cuda":
    print(f"memory allocated: {torch.cuda.memory_allocated() / 2**20:.1f} MiB, "
          f"peak {torch.cuda.max_memory_allocated() / 2**20:.1f} MiB")
