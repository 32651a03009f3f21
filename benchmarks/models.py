"""The benchmark models, written once against the torch API: `lib` is pyrch or torch."""
import math


def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def lenet(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


def gpt(lib, vocab=65, d=128, heads=4, layers=2, ctx=64):
    nn, F = lib.nn, lib.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, heads, C // heads).transpose(1, 2) for t in (q, k, v))
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // heads))
            mask = lib.tril(lib.ones(T, T, device=x.device)).view(1, 1, T, T)
            att = F.softmax(att.masked_fill(mask == 0, float("-inf")), dim=-1)
            x = x + self.proj((att @ v).transpose(1, 2).reshape(B, T, C))
            return x + self.out(F.gelu(self.fc(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
            self.blocks = nn.ModuleList([Block() for _ in range(layers)])
            self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab)

        def forward(self, idx):
            x = self.tok(idx) + self.pos(lib.arange(idx.shape[1], device=idx.device))
            for b in self.blocks:
                x = b(x)
            return self.head(self.ln(x))
    return GPT()


def training_step(lib, model, opt):
    F = lib.nn.functional

    def step(x, y):
        opt.zero_grad()
        out = model(x)
        loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        loss.backward()
        opt.step()
        return loss
    return step


def case(lib, name, seed=0, trace_model=False):
    """(step function, x, y) for one benchmark case on library `lib`; with trace_model,
    the step calls the model through `lib.jit.trace(model)` (a traced Module, its
    backward derived) instead of being traced whole by the caller."""
    model, opt, x, y = parts(lib, name, seed)
    if trace_model:
        model = lib.jit.trace(model)
    return training_step(lib, model, opt), x, y


def recorded(name, warm=5):
    """(traced step, x, y) for a pyrch case, called `warm` times: past its warm-up,
    trace, first replay and the recording of its plan as one C call."""
    import pyrch
    step, x, y = case(pyrch, name)
    f = pyrch.jit.trace(step)
    for _ in range(warm):
        f(x, y)
    return f, x, y


def executors(f):
    """The executors a traced function's plans run on."""
    return [var.executor for entry in f._cache.values() for var in entry.variants]


def recorded_calls(f):
    """Every C call the plans of traced f recorded (pyrch/jit/segments.py Call), in
    plan order."""
    return [c for ex in executors(f) if ex._units for seg in ex._units.segments
            for c in seg.calls]


def parts(lib, name, seed=0):
    """(model, optimizer, x, y) for one benchmark case on library `lib`."""
    import numpy as np
    lib.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if name.startswith("mlp"):
        b = int(name[len("mlp_b"):])
        model = mlp(lib)
        opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = lib.tensor(rng.standard_normal((b, 784)).astype(np.float32))
        y = lib.tensor(rng.integers(0, 10, b))
    elif name == "lenet_b64":
        model = lenet(lib)
        opt = lib.optim.Adam(model.parameters(), lr=1e-3)
        x = lib.tensor(rng.standard_normal((64, 1, 28, 28)).astype(np.float32))
        y = lib.tensor(rng.integers(0, 10, 64))
    elif name == "gpt_b16":
        model = gpt(lib)
        opt = lib.optim.AdamW(model.parameters(), lr=1e-3)
        x = lib.tensor(rng.integers(0, 65, (16, 64)))
        y = lib.tensor(rng.integers(0, 65, (16, 64)))
    else:
        raise ValueError(name)
    return model, opt, x, y
