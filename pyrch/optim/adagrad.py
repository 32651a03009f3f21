"""Adagrad with learning-rate decay and weight decay: torch's update rule.

>>> import pyrch
>>> w = pyrch.tensor([1.0], requires_grad=True)
>>> opt = pyrch.optim.Adagrad([w], lr=0.1)
>>> (w * w).sum().backward(); opt.step()
>>> round(w.item(), 4)
0.9
"""
from .optimizer import Optimizer, _bump_step, _pyrch, _use_grad

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Scale each coordinate's step by the root of its summed squared gradients."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        for group in self.param_groups:           # torch creates Adagrad's state up front
            self._init_state(group, group["params"])

    def _init_state(self, group, params):
        pyrch = _pyrch()
        for p in params:
            s = self.state[p]
            if "sum" not in s:
                s["step"] = pyrch.zeros((), dtype=pyrch.float32, device=p.device)
                s["sum"] = pyrch.full_like(p, group["initial_accumulator_value"])

    @_use_grad
    def step(self):
        """One Adagrad update of every parameter that has a gradient."""
        for group in self.param_groups:
            params, grads, states = self._params_with_grad(group)
            self._init_state(group, params)       # groups added after construction
            _adagrad_update(params, grads, [s["sum"] for s in states],
                            [_bump_step(s, p) for s, p in zip(states, params)],
                            lr=group["lr"], lr_decay=group["lr_decay"], eps=group["eps"],
                            weight_decay=group["weight_decay"], maximize=group["maximize"])


def _adagrad_update(params, grads, sums, steps, *, lr, lr_decay, eps, weight_decay, maximize):
    """Adagrad on lists of tensors; `steps` are the already-incremented step tensors."""
    pyrch = _pyrch()
    for i, p in enumerate(params):
        g = -grads[i] if maximize else grads[i]
        if weight_decay != 0:
            g = g + p * weight_decay
        clr = lr / ((steps[i].to(pyrch.float64) - 1) * lr_decay + 1)
        sums[i].add_(g * g)
        p.sub_(g * clr / (sums[i].sqrt() + eps))
