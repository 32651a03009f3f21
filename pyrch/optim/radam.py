"""RAdam (Adam with a rectified, variance-aware warm-up): torch's update rule.

>>> import pyrch
>>> w = pyrch.tensor([1.0], requires_grad=True)
>>> opt = pyrch.optim.RAdam([w], lr=0.1)
>>> (w * w).sum().backward(); opt.step()
>>> round(w.item(), 4)
0.8
"""
from .optimizer import (Optimizer, _bias_correction, _bump_step, _check_adam_args, _init_state,
                        _pyrch, _use_grad)

__all__ = ["RAdam"]


class RAdam(Optimizer):
    """Adam whose adaptive step is switched on (and rectified) once the second-moment
    estimate's variance is tractable; before that, bias-corrected momentum SGD."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False,
                 capturable=False, differentiable=False):
        _check_adam_args(lr, eps, betas, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    @_use_grad
    def step(self):
        """One RAdam update of every parameter that has a gradient."""
        for group in self.param_groups:
            params, grads, states = self._params_with_grad(group)
            for p, s in zip(params, states):
                if "exp_avg" not in s:
                    _init_state(s, p, ("exp_avg", "exp_avg_sq"), step=True)
            beta1, beta2 = group["betas"]
            _radam_update(params, grads, [s["exp_avg"] for s in states],
                          [s["exp_avg_sq"] for s in states],
                          [_bump_step(s, p) for s, p in zip(states, params)],
                          lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                          weight_decay=group["weight_decay"], maximize=group["maximize"],
                          decoupled=group["decoupled_weight_decay"])


def _radam_update(params, grads, exp_avgs, exp_avg_sqs, steps, *, lr, beta1, beta2, eps,
                  weight_decay, maximize, decoupled):
    """RAdam on lists of tensors; `steps` are the already-incremented step tensors.

    The rectification switch (rho_t > 5) is a `where` on tensors, so the step count
    is never read back into Python.
    """
    pyrch = _pyrch()
    rho_inf = 2 / (1 - beta2) - 1
    for i, p in enumerate(params):
        g = -grads[i] if maximize else grads[i]
        if weight_decay != 0:
            if decoupled:
                p.sub_(p * lr * weight_decay)
            else:
                g = g + p * weight_decay
        m, v = exp_avgs[i], exp_avg_sqs[i]
        m.add_((g - m) * (1 - beta1))                  # torch's lerp_(g, 1 - beta1)
        v.mul_(beta2).add_(g * g * (1 - beta2))
        step = steps[i].to(pyrch.float64)
        bc1 = _bias_correction(beta1, steps[i])
        bc2 = _bias_correction(beta2, steps[i])
        rho_t = rho_inf - 2 * step * beta2 ** step / bc2
        on = rho_t > 5.0
        # off the rectified branch the radicand may be negative: feed it 1 there instead
        safe_rho = pyrch.where(on, rho_t, rho_inf)
        rect = ((safe_rho - 4) * (safe_rho - 2) * rho_inf
                / ((rho_inf - 4) * (rho_inf - 2) * safe_rho)).sqrt()
        adaptive = bc2.sqrt() / (v.sqrt() + eps)
        scale = pyrch.where(on, adaptive * rect, pyrch.ones_like(adaptive))
        p.sub_(m / bc1 * lr * scale)
