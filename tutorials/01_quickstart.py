"""pyrch quickstart: tensors and autograd in a few lines.

    python tutorials/01_quickstart.py
"""
import pyrch as torch

x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
w = torch.tensor([0.5, -1.0], requires_grad=True)
y = (x * w).sum()
y.backward()
print("y      =", y)
print("dy/dx  =", x.grad)
print("dy/dw  =", w.grad)
