"""Lazy modules: LazyLinear, LazyConv*d, LazyConvTranspose*d, LazyBatchNorm*d and
LazyInstanceNorm*d, with torch's semantics.

A lazy module holds UninitializedParameter / UninitializedBuffer placeholders
until its first call. That call infers the input-dependent size (in_features,
in_channels or num_features), materializes the placeholders, initializes them
exactly as the eager module's reset_parameters does, and turns the module into
the eager class (`cls_to_become`: LazyLinear becomes Linear).

>>> import pyrch
>>> m = pyrch.nn.LazyLinear(2)
>>> m.weight
<UninitializedParameter>
>>> m(pyrch.ones(3, 4)).shape
pyrch.Size([3, 2])
>>> m
Linear(in_features=4, out_features=2, bias=True)
"""
import itertools
from collections import OrderedDict

import numpy as np

from .._dispatch import refresh_hooks, state
from ..autograd import no_grad
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .linear import Linear
from .norm import BatchNorm1d, BatchNorm2d, BatchNorm3d, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .parameter import UninitializedBuffer, UninitializedParameter, is_lazy

__all__ = ["LazyModuleMixin", "LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d",
           "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d",
           "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyInstanceNorm1d",
           "LazyInstanceNorm2d", "LazyInstanceNorm3d"]


class LazyModuleMixin:
    """Mixin, listed before the eager class, for modules whose parameter shapes come from
    their first input. Subclasses set `cls_to_become` and implement
    `initialize_parameters(*args, **kwargs)`, which materializes the placeholders.

    Before the first call, `parameters()` and `state_dict()` hold the placeholders,
    `.to(dtype/device)` records what they will become, and `load_state_dict` with
    real tensors materializes them with the loaded shapes.
    """
    cls_to_become = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lazy_pending = True        # removed by the first call

    def __call__(self, *args, **kwargs):
        # NOTE: torch infers in a forward pre-hook registered at construction; a hook would
        # make jit.trace warn that the module has hooks, so the inference runs here, first
        # (before any user pre-hook sees the call, as in torch).
        if "_lazy_pending" in self.__dict__:
            self._infer_parameters(self, args, kwargs)
            if not isinstance(self, LazyModuleMixin):      # it became the eager class
                return self(*args, **kwargs)
        return super().__call__(*args, **kwargs)

    def _infer_parameters(self, module, args, kwargs=None):
        """Materialize from the first call's arguments, then become `cls_to_become`."""
        tracer = state.tracer
        if tracer is not None:
            # NOTE: inside a jit.trace recording, initialisation runs eagerly and unrecorded,
            # so replays do not re-initialize; the trace then reads the materialized
            # parameters as state, like any other module's.
            state.tracer = None
            refresh_hooks()
        try:
            module.initialize_parameters(*args, **(kwargs or {}))
        finally:
            if tracer is not None:
                state.tracer = tracer
                refresh_hooks()
        if module.has_uninitialized_params():
            raise RuntimeError(f"module {self._get_name()} has not been fully initialized")
        module.__dict__.pop("_lazy_pending", None)
        if module.cls_to_become is not None:
            module.__class__ = module.cls_to_become

    def initialize_parameters(self, *args, **kwargs):
        """Infer the shapes from the first call's arguments and materialize the placeholders."""
        raise NotImplementedError(
            f"initialize_parameters is not implemented for {type(self).__name__}")

    def has_uninitialized_params(self):
        """True while a parameter or buffer of this module is still a placeholder."""
        return any(is_lazy(t) for t in itertools.chain(self._parameters.values(),
                                                        self._buffers.values()))

    def _materialize(self, shapes):
        """Materialize the placeholders named in `shapes` ({name: shape}), then run
        reset_parameters; tensors that already hold values (from load_state_dict) keep them."""
        with no_grad():
            kept = [(t, t.clone()) for t in itertools.chain(self._parameters.values(),
                                                             self._buffers.values())
                    if t is not None and not is_lazy(t)]
            for name, shape in shapes.items():
                t = getattr(self, name)
                if is_lazy(t):
                    t.materialize(shape)
            self.reset_parameters()
            for t, value in kept:
                t.copy_(value)

    # -- state dicts: placeholders are saved as they are, and loading real tensors into
    # them materializes them with the loaded shapes (torch's lazy load hook)
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        entries = OrderedDict()
        super()._save_to_state_dict(entries, prefix, True)
        for key, t in entries.items():
            destination[key] = t if keep_vars or is_lazy(t) else t.detach()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs, *args, **kwargs):
        both_lazy = set()
        with no_grad():
            for name, t in itertools.chain(self._parameters.items(), self._buffers.items()):
                key = prefix + name
                if t is None or not is_lazy(t) or key not in state_dict or \
                        name in self._non_persistent_buffers_set:
                    continue
                value = state_dict[key]
                if is_lazy(value):
                    both_lazy.add(key)      # nothing to copy: both still unshaped
                else:
                    t.materialize(tuple(np.shape(value)))
        if both_lazy:
            state_dict = {k: v for k, v in state_dict.items() if k not in both_lazy}
        n = len(missing_keys)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs, *args, **kwargs)
        missing_keys[n:] = [k for k in missing_keys[n:] if k not in both_lazy]


# -- Linear ---------------------------------------------------------------------------------
class LazyLinear(LazyModuleMixin, Linear):
    """A Linear whose in_features is inferred from the first input (its last dimension).

    >>> import pyrch
    >>> m = pyrch.nn.LazyLinear(3)
    >>> _ = m(pyrch.ones(2, 5))
    >>> m.weight.shape
    pyrch.Size([3, 5])
    """
    cls_to_become = Linear

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        super().__init__(0, out_features, bias, device, dtype)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input):
        """Set in_features from `input` and materialize weight and bias."""
        in_features = input.shape[-1]
        if not is_lazy(self.weight) and self.weight.shape[-1] != in_features:   # loaded
            raise AssertionError(f"The in_features inferred from input: {in_features} is not "
                                 "equal to in_features from self.weight: "
                                 f"{self.weight.shape[-1]}")
        self.in_features = in_features
        if self.has_uninitialized_params():
            self._materialize({"weight": (self.out_features, in_features),
                               "bias": (self.out_features,)})


# -- convolutions -------------------------------------------------------------------------
class _LazyConvXdMixin(LazyModuleMixin):
    def _placeholders(self, bias, device, dtype):
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def _get_in_channels(self, input):
        n = self._nsp
        if input.dim() not in (n + 1, n + 2):
            raise RuntimeError(f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to "
                               f"{type(self).__name__}, but got input of size: {input.shape}"
                               .replace("pyrch.Size", "torch.Size"))
        return input.shape[1] if input.dim() == n + 2 else input.shape[0]

    def initialize_parameters(self, input, *args, **kwargs):
        """Set in_channels from `input` (dim 1, or dim 0 unbatched); materialize weight, bias."""
        w = self.weight
        if is_lazy(w):
            self.in_channels = self._get_in_channels(input)
            if self.in_channels % self.groups != 0:
                raise ValueError("in_channels must be divisible by groups")
        else:       # weight loaded from a state_dict: it knows in_channels
            self.in_channels = w.shape[0] if self.transposed else w.shape[1] * self.groups
        if not self.has_uninitialized_params():
            return
        cin, cout, g = self.in_channels, self.out_channels, self.groups
        shape = (cin, cout // g) if self.transposed else (cout, cin // g)
        self._materialize({"weight": shape + tuple(self.kernel_size), "bias": (cout,)})


class _LazyConv(_LazyConvXdMixin):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(0, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)
        self._placeholders(bias, device, dtype)


class _LazyConvTranspose(_LazyConvXdMixin):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(0, out_channels, kernel_size, stride, padding, output_padding, groups,
                         bias, dilation, padding_mode, device, dtype)
        self._placeholders(bias, device, dtype)


class LazyConv1d(_LazyConv, Conv1d):
    """A Conv1d whose in_channels is inferred from the first input."""
    cls_to_become = Conv1d


class LazyConv2d(_LazyConv, Conv2d):
    """A Conv2d whose in_channels is inferred from the first input.

    >>> import pyrch
    >>> m = pyrch.nn.LazyConv2d(8, 3)
    >>> _ = m(pyrch.ones(1, 3, 5, 5))
    >>> m
    Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))
    """
    cls_to_become = Conv2d


class LazyConv3d(_LazyConv, Conv3d):
    """A Conv3d whose in_channels is inferred from the first input."""
    cls_to_become = Conv3d


class LazyConvTranspose1d(_LazyConvTranspose, ConvTranspose1d):
    """A ConvTranspose1d whose in_channels is inferred from the first input."""
    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvTranspose, ConvTranspose2d):
    """A ConvTranspose2d whose in_channels is inferred from the first input."""
    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyConvTranspose, ConvTranspose3d):
    """A ConvTranspose3d whose in_channels is inferred from the first input."""
    cls_to_become = ConvTranspose3d


# -- normalisation --------------------------------------------------------------------------
_NORM_TENSORS = ("weight", "bias", "running_mean", "running_var")


class _LazyNormBase(LazyModuleMixin):
    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None, *, bias=True):
        # the eager constructor validates the options and makes num_batches_tracked
        super().__init__(0, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        if affine:
            self.weight = UninitializedParameter(device=device, dtype=dtype)
            if bias:
                self.bias = UninitializedParameter(device=device, dtype=dtype)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(device=device, dtype=dtype)
            self.running_var = UninitializedBuffer(device=device, dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def _channels(self, input):
        return input.shape[1]

    def initialize_parameters(self, input):
        """Set num_features from `input`'s channel dimension and materialize the weight,
        bias and running statistics."""
        loaded = [getattr(self, n) for n in _NORM_TENSORS]
        loaded = [t for t in loaded if t is not None and not is_lazy(t)]
        self.num_features = loaded[0].shape[0] if loaded else self._channels(input)
        if self.has_uninitialized_params():
            self._materialize({n: (self.num_features,) for n in _NORM_TENSORS})


class LazyBatchNorm1d(_LazyNormBase, BatchNorm1d):
    """A BatchNorm1d whose num_features is inferred from the first input (dim 1)."""
    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyNormBase, BatchNorm2d):
    """A BatchNorm2d whose num_features is inferred from the first input (dim 1).

    >>> import pyrch
    >>> m = pyrch.nn.LazyBatchNorm2d()
    >>> _ = m(pyrch.ones(2, 3, 4, 4))
    >>> m.running_mean.shape
    pyrch.Size([3])
    """
    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyNormBase, BatchNorm3d):
    """A BatchNorm3d whose num_features is inferred from the first input (dim 1)."""
    cls_to_become = BatchNorm3d


class _LazyInstanceNorm(_LazyNormBase):
    def _channels(self, input):
        # NOTE: torch reads dim 1 even for unbatched input (then fails); the channels of an
        # unbatched input are dim 0
        return input.shape[0] if input.dim() == self._expected[0] else input.shape[1]


class LazyInstanceNorm1d(_LazyInstanceNorm, InstanceNorm1d):
    """An InstanceNorm1d whose num_features is inferred from the first input (torch's
    defaults: affine=True, track_running_stats=True)."""
    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyInstanceNorm, InstanceNorm2d):
    """An InstanceNorm2d whose num_features is inferred from the first input (torch's
    defaults: affine=True, track_running_stats=True)."""
    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyInstanceNorm, InstanceNorm3d):
    """An InstanceNorm3d whose num_features is inferred from the first input (torch's
    defaults: affine=True, track_running_stats=True)."""
    cls_to_become = InstanceNorm3d
