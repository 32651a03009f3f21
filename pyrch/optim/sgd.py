"""SGD with momentum, dampening, Nesterov, weight decay and maximize (torch's update rule).

>>> import pyrch
>>> w = pyrch.tensor([1.0], requires_grad=True)
>>> opt = pyrch.optim.SGD([w], lr=0.1, momentum=0.9)
>>> for _ in range(2):
...     opt.zero_grad(); (w * w).sum().backward(); opt.step()
>>> round(w.item(), 4)
0.46
"""
from . import _fused
from .optimizer import Optimizer, _use_grad, required

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent (optionally with momentum)."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False, foreach=None, differentiable=False, fused=None):
        if lr is not required and lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    @_use_grad
    def step(self):
        """One SGD update of every parameter that has a gradient."""
        for group in self.param_groups:
            params, grads, states = self._params_with_grad(group)
            bufs = [s.get("momentum_buffer") for s in states]
            _sgd_update(params, grads, bufs, lr=group["lr"], momentum=group["momentum"],
                        dampening=group["dampening"], nesterov=group["nesterov"],
                        weight_decay=group["weight_decay"], maximize=group["maximize"])
            if group["momentum"] != 0:
                for s, buf in zip(states, bufs):
                    s["momentum_buffer"] = buf


def _sgd_update(params, grads, bufs, *, lr, momentum, dampening, nesterov, weight_decay,
                maximize):
    """p -= lr * d, d = grad (+ wd * p) through momentum; fills `bufs` entries that are None."""
    for i, p in enumerate(params):
        if momentum != 0 and bufs[i] is not None and _fused.usable((p, grads[i], bufs[i])):
            _fused_sgd(p, grads[i], bufs[i], lr, momentum, dampening, nesterov, weight_decay,
                       maximize)
            continue
        g = -grads[i] if maximize else grads[i]
        if weight_decay != 0:
            g = g + p * weight_decay
        if momentum != 0:
            buf = bufs[i]
            if buf is None:
                buf = bufs[i] = g.clone()
            else:
                buf.mul_(momentum).add_(g * (1 - dampening) if dampening != 0 else g)
            g = g + buf * momentum if nesterov else buf
        p.sub_(g * lr)


def _fused_sgd(p, g, buf, lr, momentum, dampening, nesterov, weight_decay, maximize):
    """The momentum branch above as one C pass (see optim/_fused.py): the same ops in the
    same order, writing buf and p in place."""
    def build(P):
        # ids: 0 p, 1 grad, 2 buf, then the scalars 3 momentum, 4 1-dampening, 5 wd, 6 lr
        d = P("neg", 1) if maximize else 1
        if weight_decay != 0:
            d = P("add", d, P("mul", 0, 5))
        b = P("add", P("mul", 2, 3), P("mul", d, 4) if dampening != 0 else d)
        d = P("add", d, P("mul", b, 3)) if nesterov else b
        return b, P("sub", 0, P("mul", d, 6))
    key = ("sgd", bool(maximize), weight_decay != 0, dampening != 0, bool(nesterov))
    _fused.run(key, build, (p, g, buf), (momentum, 1 - dampening, weight_decay, lr), (buf, p))
