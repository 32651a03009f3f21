"""Adam and AdamW (decoupled weight decay), with amsgrad and maximize: torch's update rule.

>>> import pyrch
>>> w = pyrch.tensor([1.0, -1.0], requires_grad=True)
>>> opt = pyrch.optim.Adam([w], lr=0.1)
>>> (w * w).sum().backward(); opt.step()
>>> w
tensor([ 0.9000, -0.9000], requires_grad=True)
"""
import numpy as np

from . import _fused
from ..ops.nn import _adam_scalars as _ADAM_SCALARS
from .optimizer import (Optimizer, _bump_step, _check_adam_args, _init_state,
                        _pyrch, _use_grad)

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam: per-coordinate steps from bias-corrected first and second moment estimates."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        _check_adam_args(lr, eps, betas, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    @_use_grad
    def step(self):
        """One Adam update of every parameter that has a gradient."""
        for group in self.param_groups:
            params, grads, states = self._params_with_grad(group)
            for p, s in zip(params, states):
                if "exp_avg" not in s:
                    _init_state(s, p, ("exp_avg", "exp_avg_sq") +
                                (("max_exp_avg_sq",) if group["amsgrad"] else ()))
            beta1, beta2 = group["betas"]
            _adam_update(params, grads, [s["exp_avg"] for s in states],
                         [s["exp_avg_sq"] for s in states],
                         [s.get("max_exp_avg_sq") for s in states],
                         [_bump_step(s, p) for s, p in zip(states, params)],
                         lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                         weight_decay=group["weight_decay"], amsgrad=group["amsgrad"],
                         maximize=group["maximize"],
                         decoupled=group["decoupled_weight_decay"])


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam step."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused, decoupled_weight_decay=True)


def _adam_update(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, lr, beta1,
                 beta2, eps, weight_decay, amsgrad, maximize, decoupled):
    """Adam(W) on lists of tensors; `steps` are the already-incremented step tensors."""
    pyrch = _pyrch()
    for i, p in enumerate(params):
        state = (p, grads[i], exp_avgs[i], exp_avg_sqs[i]) + ((max_exp_avg_sqs[i],) if amsgrad else ())
        if _fused.usable(state) and type(steps[i]._data) is np.ndarray:
            # (the op's function called directly: nothing observes ops on this path)
            step_size, bc2_sqrt = _ADAM_SCALARS.forward(np, steps[i]._data, lr, beta1, beta2,
                                                       dtype=p.dtype)
            _fused_adam(state, step_size, bc2_sqrt, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                        decoupled=decoupled)
            continue
        step_size, bc2_sqrt = pyrch._adam_scalars(steps[i], lr, beta1, beta2, dtype=p.dtype)
        g = -grads[i] if maximize else grads[i]
        if weight_decay != 0 and not decoupled:
            g = g + p * weight_decay
        m, v = exp_avgs[i], exp_avg_sqs[i]
        m.add_((g - m) * (1 - beta1))                  # torch's lerp_(g, 1 - beta1)
        v.mul_(beta2).add_(g * g * (1 - beta2))
        if weight_decay != 0 and decoupled:
            # torch's p.mul_(1 - lr * wd), written so lr reaches an op (a live graph
            # input when traced) instead of Python arithmetic (which would retrace).
            # torch does it first; it touches only p, so after the moments is the same
            # result, and a traced step then fuses this parameter's update into one loop
            p.sub_(p * lr * weight_decay)
        if amsgrad:
            max_v = max_exp_avg_sqs[i]
            max_v.copy_(pyrch.maximum(max_v, v))
            v = max_v
        denom = v.sqrt() / bc2_sqrt + eps
        p.sub_(m * step_size / denom)


def _fused_adam(state, step_size, bc2_sqrt, *, lr, beta1, beta2, eps, weight_decay, amsgrad,
                maximize, decoupled):
    """The loop body above as one C pass (see optim/_fused.py): the same ops in the same
    order, writing p, exp_avg, exp_avg_sq (and max_exp_avg_sq) in place."""
    def build(P):
        # ids: 0 p, 1 grad, 2 exp_avg, 3 exp_avg_sq, [4 max_exp_avg_sq], then the scalars
        k = 5 if amsgrad else 4
        s_lr, s_wd, s_b1c, s_b2, s_b2c, s_eps, s_ss, s_bc2 = range(k, k + 8)
        p, g, m, v = 0, ("neg", 1), 2, 3
        g = P(*g) if maximize else 1
        if weight_decay != 0 and not decoupled:
            g = P("add", g, P("mul", 0, s_wd))
        m = P("add", 2, P("mul", P("sub", g, 2), s_b1c))
        v = P("add", P("mul", 3, s_b2), P("mul", P("mul", g, g), s_b2c))
        if weight_decay != 0 and decoupled:
            p = P("sub", 0, P("mul", P("mul", 0, s_lr), s_wd))
        outs = [m, v]
        vv = v
        if amsgrad:
            vv = P("maximum", 4, v)
            outs.append(vv)
        denom = P("add", P("div", P("sqrt", vv), s_bc2), s_eps)
        p = P("sub", p, P("div", P("mul", m, s_ss), denom))
        return [p] + outs
    key = ("adam", bool(maximize), weight_decay != 0, bool(decoupled), bool(amsgrad))
    p, g, m, v = state[:4]
    targets = (p, m, v) + ((state[4],) if amsgrad else ())
    _fused.run(key, build, state,
               (lr, weight_decay, 1 - beta1, beta2, 1 - beta2, eps, step_size, bc2_sqrt), targets)
