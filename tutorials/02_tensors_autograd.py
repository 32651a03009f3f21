"""02 - Tensors and autograd: everything you know from PyTorch, eagerly, line by line.

    python tutorials/02_tensors_autograd.py

pyrch tensors hold a numpy (or, on GPU, cupy) array plus dtype, device and
autograd information. Every operation runs immediately; when an input
requires grad, the operation is also recorded so `.backward()` can walk the
graph in reverse.
"""
import os

import pyrch as torch

FAST = os.environ.get("PYRCH_TUTORIAL_FAST") == "1"
torch.manual_seed(0)

# -- 1. Creating tensors -------------------------------------------------------------------
a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])      # from Python data: float32 by default
b = torch.arange(6).reshape(2, 3)                # int64, like torch
c = torch.randn(2, 3)                            # seeded by manual_seed above
print("a =", a)
print("b.dtype:", b.dtype, " c.shape:", c.shape, " device:", c.device)

# -- 2. Type promotion and broadcasting follow PyTorch's rules ------------------------------
print("int64 + float32 ->", (b + c).dtype)       # float32
print("int64 * 2.5     ->", (b * 2.5).dtype)     # float32 (the default float dtype)
print("broadcast (2,3) + (3,):", (c + torch.tensor([10.0, 20.0, 30.0])).shape)

# -- 3. Views share memory, in-place ops bump a version counter ------------------------------
v = b.view(3, 2)
v[0, 0] = 100
print("b after writing through a view:", b.tolist()[0])

# -- 4. Autograd ---------------------------------------------------------------------------
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = (x ** 2 * torch.tensor([1.0, 0.5, 2.0])).sum()
y.backward()
print("dy/dx =", x.grad)                         # 2 * x * w = [2, 2, 12]

# Higher-order gradients work because backward rules are themselves pyrch ops.
x = torch.tensor(2.0, requires_grad=True)
(dy,) = torch.autograd.grad(x ** 3, x, create_graph=True)
(d2y,) = torch.autograd.grad(dy, x)
print(f"d/dx x^3 at 2 = {dy.item():.1f}, second derivative = {d2y.item():.1f}")   # 12, 12

# no_grad: nothing recorded, results do not require grad (use it for evaluation).
with torch.no_grad():
    z = x * 2
print("under no_grad, requires_grad =", z.requires_grad)

# -- 5. A tiny fit: linear regression by hand ------------------------------------------------
n = 64 if FAST else 256
X = torch.randn(n, 3)
true_w = torch.tensor([2.0, -1.0, 0.5])
Y = X @ true_w + 0.01 * torch.randn(n)
w = torch.zeros(3, requires_grad=True)
for step in range(50 if FAST else 200):
    loss = ((X @ w - Y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        w -= 0.1 * w.grad
    w.grad = None
print("fitted w:", [round(v, 2) for v in w.tolist()], " loss:", f"{loss.item():.5f}")
assert (w - true_w).abs().max().item() < 0.05

# -- 6. Where did the time go? -------------------------------------------------------------
with torch.profiler.profile() as prof:
    loss = ((X @ w - Y) ** 2).mean()
    loss.backward()
print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=5))
# In Jupyter, evaluating a tensor shows a table (shape, dtype, grad_fn, min/max/mean):
# try `w` in a notebook cell.
