"""Helpers shared by the distributions: broadcasting parameters, probs <-> logits."""
import numbers

import pyrch
from .._tensor import Tensor, Size


def broadcast_all(*values):
    """Numbers and tensors broadcast to one shape; numbers become tensors of the tensors'
    dtype (the default dtype when there are none)."""
    if not all(isinstance(v, (Tensor, numbers.Number)) for v in values):
        raise ValueError("Input arguments must all be instances of numbers.Number, "
                         "torch.Tensor or objects implementing __torch_function__.")
    ref = next((v for v in values if isinstance(v, Tensor)), None)
    if ref is None:
        dtype, device = pyrch.get_default_dtype(), None
    else:
        dtype, device = ref.dtype, ref.device
    values = [v if isinstance(v, Tensor) else pyrch.tensor(float(v), dtype=dtype, device=device)
              for v in values]
    return pyrch.broadcast_tensors(*values)


def is_number(x):
    return isinstance(x, numbers.Number)


def sum_rightmost(value, dim):
    """Sum out the `dim` rightmost dimensions of `value`."""
    if dim == 0:
        return value
    return value.reshape(tuple(value.shape[:-dim]) + (-1,)).sum(-1)


def clamp_probs(probs):
    """probs clamped into [eps, 1 - eps] of their dtype."""
    eps = pyrch.finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs, is_binary=False):
    """Log-odds (binary) or log-probabilities (categorical) from probabilities."""
    ps = clamp_probs(probs)
    return ps.log() - (-ps).log1p() if is_binary else ps.log()


def logits_to_probs(logits, is_binary=False):
    """Probabilities from log-odds (binary: sigmoid) or unnormalised logits (softmax)."""
    return logits.sigmoid() if is_binary else logits.softmax(-1)


def short(t):
    """A one-element parameter as its value, a larger one as its shape (as torch's reprs print them)."""
    return t if t.numel() == 1 else t.size()


def as_size(shape):
    return Size(shape if isinstance(shape, (tuple, list, Size)) else (shape,))


class lazy_property:
    """A property computed on first access and then stored on the instance."""

    def __init__(self, fn):
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = self.fn(instance)
        instance.__dict__[self.fn.__name__] = value
        return value


def one_hot(index, num_classes, dtype):
    """index (int64, any shape, 0-dim included) as one-hot vectors of `dtype` along a new
    last dim (F.one_hot in the distribution's dtype)."""
    return pyrch.nn.functional.one_hot(index, num_classes).to(dtype)
