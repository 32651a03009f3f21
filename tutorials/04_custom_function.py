"""04 - Custom autograd Functions: your own forward and backward.

    python tutorials/04_custom_function.py

Subclass `pyrch.autograd.Function` with static `forward(ctx, ...)` and
`backward(ctx, *grads)`, exactly as in PyTorch, and call it with `.apply`.
Write backward with pyrch ops (not numpy): then gradients of gradients and
tracing work too. `gradcheck` compares your backward with finite differences.
"""
import pyrch as torch
from pyrch.autograd import Function, gradcheck

torch.manual_seed(0)


class SoftClampedExp(Function):
    """exp(x) for x <= c, and a linear continuation above c (no overflow, smooth slope)."""

    @staticmethod
    def forward(ctx, x, c):
        ec = torch.exp(torch.tensor(c, dtype=x.dtype))
        out = torch.where(x <= c, torch.exp(torch.clamp(x, max=c)), ec * (1 + x - c))
        ctx.save_for_backward(x)
        ctx.c = c
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        slope = torch.exp(torch.clamp(x, max=ctx.c))       # exp(x) below c, exp(c) above
        return grad_out * slope, None                      # no gradient for the float c


x = torch.tensor([-1.0, 0.0, 2.0, 50.0], requires_grad=True)
y = SoftClampedExp.apply(x, 3.0)
y.sum().backward()
print("y      =", y)
print("grad   =", x.grad)
print("grad_fn:", type(y.grad_fn).__name__)

# Check the backward numerically (float64, small inputs):
xd = torch.randn(5, dtype=torch.float64, requires_grad=True)
print("gradcheck:", gradcheck(lambda t: SoftClampedExp.apply(t, 0.5), (xd,)))


class StraightThroughRound(Function):
    """round() in forward, identity in backward: the classic quantisation trick."""

    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, g):
        return g


w = torch.tensor([0.2, 1.7, -2.4], requires_grad=True)
q = StraightThroughRound.apply(w * 2)
(q * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
print("rounded:", q.tolist(), " grad flows through:", w.grad.tolist())
assert w.grad.tolist() == [2.0, 4.0, 6.0]
