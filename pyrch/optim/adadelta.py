"""Adadelta (unit-corrected running averages of squared gradients and updates):
torch's update rule.

>>> import pyrch
>>> w = pyrch.tensor([1.0], requires_grad=True)
>>> opt = pyrch.optim.Adadelta([w], lr=1.0)
>>> (w * w).sum().backward(); opt.step()
>>> round(w.item(), 4)
0.9968
"""
from .optimizer import Optimizer, _bump_step, _init_state, _pyrch, _use_grad

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Step by sqrt(avg delta^2 + eps) / sqrt(avg grad^2 + eps) * grad, scaled by lr."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    @_use_grad
    def step(self):
        """One Adadelta update of every parameter that has a gradient."""
        for group in self.param_groups:
            params, grads, states = self._params_with_grad(group)
            for p, s in zip(params, states):
                if "square_avg" not in s:
                    _init_state(s, p, ("square_avg", "acc_delta"), step=True)
            for s, p in zip(states, params):
                _bump_step(s, p)       # kept for torch's state layout; the rule does not use it
            _adadelta_update(params, grads, [s["square_avg"] for s in states],
                             [s["acc_delta"] for s in states], lr=group["lr"],
                             rho=group["rho"], eps=group["eps"],
                             weight_decay=group["weight_decay"], maximize=group["maximize"])


def _adadelta_update(params, grads, square_avgs, acc_deltas, *, lr, rho, eps, weight_decay,
                     maximize):
    """Adadelta on lists of tensors."""
    for i, p in enumerate(params):
        g = -grads[i] if maximize else grads[i]
        if weight_decay != 0:
            g = g + p * weight_decay
        sq, acc = square_avgs[i], acc_deltas[i]
        sq.mul_(rho).add_(g * g * (1 - rho))
        delta = (acc + eps).sqrt() / (sq + eps).sqrt() * g
        acc.mul_(rho).add_(delta * delta * (1 - rho))
        p.sub_(delta * lr)
