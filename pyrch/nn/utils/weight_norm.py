"""Weight normalization through a forward pre-hook (the older torch.nn.utils.weight_norm):
`weight` is replaced by parameters `weight_g` (magnitude) and `weight_v` (direction) and
recomputed as `weight_v * weight_g / ||weight_v||` before every forward.

>>> import pyrch
>>> m = pyrch.nn.utils.weight_norm(pyrch.nn.Linear(3, 4))
>>> [n for n, _ in m.named_parameters()], tuple(m.weight_g.shape)
(['bias', 'weight_g', 'weight_v'], (4, 1))
"""
from ... import linalg
from ...autograd import no_grad
from ..parameter import Parameter

__all__ = ["weight_norm", "remove_weight_norm", "WeightNorm"]


def _norm_except_dim(v, dim):
    """The 2-norm of v over every dim but `dim`, kept as size-1 dims; dim=-1: the whole
    tensor's norm (0-dim), as in torch."""
    if dim == -1:
        return linalg.vector_norm(v)
    dim %= v.dim()
    others = tuple(d for d in range(v.dim()) if d != dim)
    if not others:
        return v.abs()
    return linalg.vector_norm(v, 2, dim=others, keepdim=True)


def _weight_norm(v, g, dim):
    """v * (g / ||v||), the norm taken over every dim but `dim` (see _norm_except_dim)."""
    return v * (g / _norm_except_dim(v, dim))


class WeightNorm:
    """The forward pre-hook that recomputes `module.<name>` from `<name>_g` and `<name>_v`."""

    def __init__(self, name, dim):
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module):
        return _weight_norm(getattr(module, self.name + "_v"), getattr(module, self.name + "_g"),
                            self.dim)

    @staticmethod
    def apply(module, name, dim):
        for hook, _ in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same "
                                   f"parameter {name}")
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        del module._parameters[name]
        with no_grad():
            g = _norm_except_dim(weight, fn.dim)
        module.register_parameter(name + "_g", Parameter(g.detach()))
        module.register_parameter(name + "_v", Parameter(weight.detach()))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module):
        with no_grad():
            weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    """Reparametrize `module.<name>` as g * v / ||v|| (norm over every dim but `dim`;
    dim=None: over the whole tensor) with parameters `<name>_g`, `<name>_v`. Returns module."""
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name="weight"):
    """Undo weight_norm: `<name>` becomes a plain parameter holding the current weight."""
    return _remove_hook(module, name, WeightNorm, "weight_norm")


def _remove_hook(module, name, kind, what):
    """Remove the `kind` pre-hook reparametrizing `<name>` (weight_norm, spectral_norm)."""
    for k, (hook, _) in list(module._forward_pre_hooks.items()):
        if isinstance(hook, kind) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"{what} of '{name}' not found in {module}")
