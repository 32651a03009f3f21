"""pyrch quickstart: train a small CNN on handwritten digits, eagerly and then
with the whole training step traced by `@jit.trace`, and compare.

    python tutorials/01_quickstart.py            # about a minute on 2 cores
    PYRCH_TUTORIAL_FAST=1 python tutorials/01_quickstart.py   # a few seconds (CI)

The data (8x8 UCI digits, 1,797 images) ships inside pyrch: no download.
Everything below is plain PyTorch code with `import pyrch as torch`.
"""
import os
import time

import pyrch as torch
import pyrch.nn as nn
import pyrch.nn.functional as F
from pyrch import jit
from pyrch.datasets import load_digits, train_test_split
from pyrch.utils import progress

FAST = os.environ.get("PYRCH_TUTORIAL_FAST") == "1"
EPOCHS = 2 if FAST else 12
BATCH = 32


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 2 * 2, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)      # 16 x 4 x 4
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)      # 32 x 2 x 2
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    model.train()
    return acc


def train(mode, x_train, y_train, x_test, y_test):
    torch.manual_seed(0)
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    if mode == "traced":
        step = jit.trace(step)           # forward + backward + Adam update: one graph
    n = (len(y_train) // BATCH) * BATCH  # full batches only: one graph signature
    gen = torch.Generator().manual_seed(1)
    seen, t_train = 0, 0.0
    for epoch in range(EPOCHS):
        perm = torch.randperm(len(y_train), generator=gen)[:n].reshape(-1, BATCH)
        bar = progress(perm, desc=f"{mode:>6} epoch {epoch + 1}/{EPOCHS}")
        t0 = time.perf_counter()
        for idx in bar:
            loss = step(x_train[idx], y_train[idx])
            bar.set(loss=loss)
        t_train += time.perf_counter() - t0
        seen += n
    return {"accuracy": accuracy(model, x_test, y_test), "samples/s": seen / t_train,
            "time": t_train, "stats": getattr(step, "stats", None)}


def main():
    x, y = load_digits()
    x_train, y_train, x_test, y_test = train_test_split(x, y, test_fraction=0.2, seed=0)
    print(f"digits: {len(y_train)} training and {len(y_test)} test images of 8x8 pixels")
    eager = train("eager", x_train, y_train, x_test, y_test)
    traced = train("traced", x_train, y_train, x_test, y_test)
    try:
        from rich.console import Console
        from rich.table import Table
        t = Table(title="DigitsCNN, Adam, batch 32")
        for c in ("", "test accuracy", "samples/s", "train time"):
            t.add_column(c, justify="right")
        for name, r in (("eager", eager), ("@jit.trace", traced)):
            t.add_row(name, f"{r['accuracy']:.2%}", f"{r['samples/s']:,.0f}", f"{r['time']:.1f} s")
        Console().print(t)
    except ImportError:  # pragma: no cover
        for name, r in (("eager", eager), ("traced", traced)):
            print(name, r["accuracy"], r["samples/s"])
    print(f"traced training step: {traced['samples/s'] / eager['samples/s']:.1f}x the eager speed "
          f"({traced['stats']})")
    if not FAST:
        assert traced["accuracy"] >= 0.97, "expected >= 97% test accuracy"


if __name__ == "__main__":
    main()
