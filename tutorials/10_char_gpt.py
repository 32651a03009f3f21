"""10 - A character-level GPT trained on Python's own standard library.

    python tutorials/10_char_gpt.py            # a few minutes on 2 cores
    PYRCH_TUTORIAL_FAST=1 python tutorials/10_char_gpt.py   # seconds (CI)

The text is the source of a handful of standard-library modules, which every
Python install has: no download. A 2-layer transformer learns to predict the
next character; its validation loss is compared with the unigram baseline
(predicting characters by their frequency alone), then it writes some Python.
The whole training step (forward, backward, AdamW) runs as one traced graph.
"""
import math
import os
import time

import numpy as np

import pyrch as torch
import pyrch.nn as nn
import pyrch.nn.functional as F
from pyrch import jit

FAST = os.environ.get("PYRCH_TUTORIAL_FAST") == "1"
STEPS = 60 if FAST else 800
CTX, D, HEADS, LAYERS, BATCH = 64, 128, 4, 2, 32
torch.manual_seed(0)

# -- data: standard-library source, as characters --------------------------------------------
src_dir = os.path.dirname(os.__file__)
files = ["textwrap.py", "string.py", "shlex.py", "fnmatch.py", "glob.py", "bisect.py",
         "heapq.py", "queue.py", "functools.py", "contextlib.py"]
text = "".join(open(os.path.join(src_dir, f), encoding="utf-8").read() for f in files
               if os.path.exists(os.path.join(src_dir, f)))
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = np.array([stoi[c] for c in text], dtype=np.int64)
split = int(len(data) * 0.9)
train, val = data[:split], data[split:]
counts = np.bincount(train, minlength=len(chars)) + 1
unigram = float(-(np.log(counts / counts.sum())[val]).mean())
print(f"{len(text):,} characters, vocabulary {len(chars)}; unigram baseline loss {unigram:.3f}")
rng = np.random.default_rng(0)


def batch(arr):
    ix = rng.integers(0, len(arr) - CTX - 1, BATCH)
    x = np.stack([arr[i:i + CTX] for i in ix])
    y = np.stack([arr[i + 1:i + CTX + 1] for i in ix])
    return torch.from_numpy(x), torch.from_numpy(y)


# -- model -----------------------------------------------------------------------------------
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.attn = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.attn(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, HEADS, C // HEADS).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp(self.ln2(x))


class CharGPT(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, D), nn.Embedding(CTX, D)
        self.blocks = nn.Sequential(*[Block() for _ in range(LAYERS)])
        self.ln, self.head = nn.LayerNorm(D), nn.Linear(D, vocab)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        return self.head(self.ln(self.blocks(x)))


model = CharGPT(len(chars))
opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, STEPS)


@jit.trace
def step(x, y):
    opt.zero_grad()
    loss = F.cross_entropy(model(x).view(-1, len(chars)), y.view(-1))
    loss.backward()
    opt.step()
    return loss


def val_loss(n=4):
    model.eval()
    with torch.no_grad():
        losses = [F.cross_entropy(model(x).view(-1, len(chars)), y.view(-1)).item()
                  for x, y in (batch(val) for _ in range(n))]
    model.train()
    return sum(losses) / len(losses)


t0 = time.perf_counter()
for i in range(STEPS):
    loss = step(*batch(train))
    sched.step()                 # a new learning rate each step: no retrace (it is a graph input)
    if i % max(STEPS // 10, 1) == 0 or i == STEPS - 1:
        print(f"step {i:5d}  train loss {loss.item():.3f}")
v = val_loss()
print(f"validation loss {v:.3f} vs unigram baseline {unigram:.3f} "
      f"({time.perf_counter() - t0:.0f} s, {step.stats})")

# -- generate ---------------------------------------------------------------------------------
model.eval()
idx = torch.tensor([[stoi[c] for c in "def "]])
with torch.no_grad():
    for _ in range(200 if not FAST else 40):
        logits = model(idx[:, -CTX:])[:, -1] / 0.8
        probs = F.softmax(logits, dim=-1)
        idx = torch.cat([idx, torch.multinomial(probs, 1)], dim=1)
print("".join(chars[i] for i in idx[0].tolist()))
if not FAST:
    assert v < unigram - 1.0, "the model should beat the unigram baseline by a wide margin"
