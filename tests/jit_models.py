"""Small models shared by the jit tests (a GPT-style transformer training step)."""
import math

import pyrch
from pyrch import nn
import pyrch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // self.h))
        mask = pyrch.tril(pyrch.ones(T, T)).view(1, 1, T, T)
        att = self.drop(F.softmax(att.masked_fill(mask == 0, float("-inf")), dim=-1))
        x = x + self.proj((att @ v).transpose(1, 2).reshape(B, T, C))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, vocab=64, d=32, heads=4, layers=2, ctx=16):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(pyrch.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x))


def training_step(model, opt, loss_fn):
    """The usual step: zero the grads, loss_fn(model(x), y), backward, optimizer step;
    returns the loss (untraced)."""
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def gpt_step(seed=0, dtype=None, **size):
    """A GPT model (of `size`: GPT's keywords) and its AdamW training step function
    (untraced)."""
    pyrch.manual_seed(seed)
    m = GPT(**size)
    if dtype is not None:
        m = m.to(dtype)
    opt = pyrch.optim.AdamW(m.parameters(), lr=1e-3)
    return m, training_step(m, opt, lambda logits, tgt: F.cross_entropy(
        logits.view(-1, logits.size(-1)), tgt.view(-1)))
