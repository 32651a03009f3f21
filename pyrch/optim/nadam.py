"""NAdam (Adam with Nesterov momentum and a momentum-decay schedule): torch's update rule.

>>> import pyrch
>>> w = pyrch.tensor([1.0], requires_grad=True)
>>> opt = pyrch.optim.NAdam([w], lr=0.1)
>>> (w * w).sum().backward(); opt.step()
>>> round(w.item(), 4)
0.8944
"""
from .optimizer import (Optimizer, _bias_correction, _bump_step, _check_adam_args, _pyrch,
                        _use_grad)

__all__ = ["NAdam"]


class NAdam(Optimizer):
    """Adam with a Nesterov look-ahead: the step mixes the current gradient and the
    momentum, weighted by the scheduled momentum mu_t and its running product."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False):
        _check_adam_args(lr, eps, betas, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    @_use_grad
    def step(self):
        """One NAdam update of every parameter that has a gradient."""
        pyrch = _pyrch()
        for group in self.param_groups:
            params, grads, states = self._params_with_grad(group)
            for p, s in zip(params, states):
                if "exp_avg" not in s:
                    # torch keeps the step and mu product in float64 only when that is the
                    # default dtype (its _get_scalar_dtype)
                    sdt = pyrch.float64 if pyrch.get_default_dtype() == pyrch.float64 \
                        else pyrch.float32
                    s["step"] = pyrch.zeros((), dtype=sdt, device=p.device)
                    s["mu_product"] = pyrch.ones((), dtype=sdt, device=p.device)
                    s["exp_avg"] = pyrch.zeros_like(p)
                    s["exp_avg_sq"] = pyrch.zeros_like(p)
            beta1, beta2 = group["betas"]
            _nadam_update(params, grads, [s["exp_avg"] for s in states],
                          [s["exp_avg_sq"] for s in states], [s["mu_product"] for s in states],
                          [_bump_step(s, p) for s, p in zip(states, params)],
                          lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                          weight_decay=group["weight_decay"],
                          momentum_decay=group["momentum_decay"], maximize=group["maximize"],
                          decoupled=group["decoupled_weight_decay"])


def _nadam_update(params, grads, exp_avgs, exp_avg_sqs, mu_products, steps, *, lr, beta1,
                  beta2, eps, weight_decay, momentum_decay, maximize, decoupled):
    """NAdam on lists of tensors; `steps` are the already-incremented step tensors and
    `mu_products` the running products of mu_t, updated in place."""
    pyrch = _pyrch()
    for i, p in enumerate(params):
        g = -grads[i] if maximize else grads[i]
        if weight_decay != 0:
            if decoupled:
                p.sub_(p * lr * weight_decay)
            else:
                g = g + p * weight_decay
        step = steps[i].to(pyrch.float64)
        bc2 = _bias_correction(beta2, steps[i])
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
        mu_products[i].mul_(mu)
        mu_prod = mu_products[i].to(pyrch.float64)
        m, v = exp_avgs[i], exp_avg_sqs[i]
        m.add_((g - m) * (1 - beta1))                  # torch's lerp_(g, 1 - beta1)
        v.mul_(beta2).add_(g * g * (1 - beta2))
        denom = (v / bc2).sqrt() + eps
        p.sub_(g / denom * (lr * (1.0 - mu) / (1.0 - mu_prod)))
        p.sub_(m / denom * (lr * mu_next / (1.0 - mu_prod * mu_next)))
