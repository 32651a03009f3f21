"""Gradient clipping: clip_grad_norm_ and clip_grad_value_ (in place, under no_grad)."""
import pyrch as _p
from ...autograd import no_grad
from ..._tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients so their joint norm is at most max_norm; returns the total norm
    (a tensor), computed before clipping.

    >>> import pyrch
    >>> p = pyrch.nn.Parameter(pyrch.ones(4)); p.grad = pyrch.full((4,), 3.0)
    >>> float(pyrch.nn.utils.clip_grad_norm_([p], 1.0))
    6.0
    """
    grads = _grads(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not grads:
        return _p.tensor(0.0)
    with no_grad():
        if norm_type == float("inf"):
            norms = [g.abs().max() for g in grads]
            total = norms[0] if len(norms) == 1 else _p.stack(norms).max()
        else:
            norms = [(g.abs() ** norm_type).sum() if norm_type != 2.0 else (g * g).sum()
                     for g in grads]
            total = norms[0]
            for n in norms[1:]:
                total = total + n
            total = total ** (1.0 / norm_type)
        if error_if_nonfinite and not bool(total.isfinite()):
            raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                               "`parameters` is non-finite, so it cannot be clipped. To disable "
                               "this error and scale the gradients by the non-finite norm "
                               "anyway, set `error_if_nonfinite=False`")
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.to(g.dtype))
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient elementwise into [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    with no_grad():
        for g in _grads(parameters):
            g.copy_(g.clamp(-clip_value, clip_value))


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Deprecated alias of clip_grad_norm_."""
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)
