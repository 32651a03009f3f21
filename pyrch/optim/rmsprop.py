"""RMSprop (optionally centered, with momentum): torch's update rule.

>>> import pyrch
>>> w = pyrch.tensor([1.0], requires_grad=True)
>>> opt = pyrch.optim.RMSprop([w], lr=0.01)
>>> (w * w).sum().backward(); opt.step()
>>> round(w.item(), 4)
0.9
"""
from .optimizer import Optimizer, _bump_step, _pyrch, _use_grad

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """Divide the gradient by a running root-mean-square of recent gradients."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    @_use_grad
    def step(self):
        """One RMSprop update of every parameter that has a gradient."""
        pyrch = _pyrch()
        for group in self.param_groups:
            params, grads, states = self._params_with_grad(group)
            for p, s in zip(params, states):
                if "square_avg" not in s:
                    s["square_avg"] = pyrch.zeros_like(p)
                    if group["momentum"] > 0:
                        s["momentum_buffer"] = pyrch.zeros_like(p)
                    if group["centered"]:
                        s["grad_avg"] = pyrch.zeros_like(p)
            for s, p in zip(states, params):
                _bump_step(s, p)       # kept for torch's state layout; the rule does not use it
            _rmsprop_update(params, grads, [s["square_avg"] for s in states],
                            [s.get("grad_avg") for s in states],
                            [s.get("momentum_buffer") for s in states],
                            lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                            weight_decay=group["weight_decay"], momentum=group["momentum"],
                            centered=group["centered"], maximize=group["maximize"])


def _rmsprop_update(params, grads, square_avgs, grad_avgs, bufs, *, lr, alpha, eps,
                    weight_decay, momentum, centered, maximize):
    """RMSprop on lists of tensors (grad_avgs / bufs entries are None when unused)."""
    for i, p in enumerate(params):
        g = -grads[i] if maximize else grads[i]
        if weight_decay != 0:
            g = g + p * weight_decay
        sq = square_avgs[i]
        sq.mul_(alpha).add_(g * g * (1 - alpha))
        if centered:
            ga = grad_avgs[i]
            ga.add_((g - ga) * (1 - alpha))             # torch's lerp_(g, 1 - alpha)
            avg = (sq - ga * ga).sqrt() + eps
        else:
            avg = sq.sqrt() + eps
        if momentum > 0:
            buf = bufs[i]
            buf.mul_(momentum).add_(g / avg)
            p.sub_(buf * lr)
        else:
            p.sub_(g * lr / avg)
