"""Adamax (Adam with an infinity-norm second moment): torch's update rule.

>>> import pyrch
>>> w = pyrch.tensor([1.0], requires_grad=True)
>>> opt = pyrch.optim.Adamax([w], lr=0.1)
>>> (w * w).sum().backward(); opt.step()
>>> round(w.item(), 4)
0.9
"""
from .optimizer import (Optimizer, _bias_correction, _bump_step, _check_adam_args, _init_state,
                        _pyrch, _use_grad)

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """Adam whose denominator is a decaying running max of |grad| (the infinity norm)."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 foreach=None, *, maximize=False, differentiable=False, capturable=False):
        _check_adam_args(lr, eps, betas, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)
        super().__init__(params, defaults)

    @_use_grad
    def step(self):
        """One Adamax update of every parameter that has a gradient."""
        for group in self.param_groups:
            params, grads, states = self._params_with_grad(group)
            for p, s in zip(params, states):
                if "exp_avg" not in s:
                    _init_state(s, p, ("exp_avg", "exp_inf"))
            beta1, beta2 = group["betas"]
            _adamax_update(params, grads, [s["exp_avg"] for s in states],
                           [s["exp_inf"] for s in states],
                           [_bump_step(s, p) for s, p in zip(states, params)],
                           lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                           weight_decay=group["weight_decay"], maximize=group["maximize"])


def _adamax_update(params, grads, exp_avgs, exp_infs, steps, *, lr, beta1, beta2, eps,
                   weight_decay, maximize):
    """Adamax on lists of tensors; `steps` are the already-incremented step tensors."""
    pyrch = _pyrch()
    for i, p in enumerate(params):
        g = -grads[i] if maximize else grads[i]
        if weight_decay != 0:
            g = g + p * weight_decay
        m, u = exp_avgs[i], exp_infs[i]
        m.add_((g - m) * (1 - beta1))                  # torch's lerp_(g, 1 - beta1)
        u.copy_(pyrch.maximum(u * beta2, g.abs() + eps))
        clr = lr / _bias_correction(beta1, steps[i])
        p.sub_(m / u * clr)
