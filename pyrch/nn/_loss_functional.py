"""Loss functions for nn.functional (reduction 'none' | 'mean' | 'sum').

Each is written to stay finite wherever torch's is: cross-entropy goes through
the stable log_softmax primitive, BCE-with-logits through softplus of -|x|
style formulas, BCE clamps its logs at -100 as torch does.
"""
import warnings

import numpy as np

import pyrch as _p
from ..ops import nn as _nn

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
           "cosine_embedding_loss", "margin_ranking_loss", "hinge_embedding_loss",
           "soft_margin_loss", "poisson_nll_loss", "gaussian_nll_loss", "triplet_margin_loss"]


def _reduction(size_average, reduce, reduction):
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use "
                  "reduction='mean' instead.", UserWarning, stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _check_same_size(input, target, name):
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size "
                      f"({input.shape}). This will likely lead to incorrect results due to "
                      "broadcasting. Please ensure they have the same size."
                      .replace("pyrch.Size", "torch.Size"), UserWarning, stacklevel=3)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error."""
    _check_same_size(input, target, "mse_loss")
    d = input - target
    loss = d * d
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, _reduction(size_average, reduce, reduction))


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error."""
    _check_same_size(input, target, "l1_loss")
    loss = (input - target).abs()
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, _reduction(size_average, reduce, reduction))


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0,
                   weight=None):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta."""
    _check_same_size(input, target, "smooth_l1_loss")
    d = (input - target).abs()
    if beta == 0.0:
        loss = d
    else:
        loss = _p.where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, _reduction(size_average, reduce, reduction))


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta)."""
    _check_same_size(input, target, "huber_loss")
    d = (input - target).abs()
    loss = _p.where(d < delta, d * d * 0.5, (d - 0.5 * delta) * delta)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _class_last(x):
    """(N, C, d1, ...) -> (N*d1*..., C)."""
    if x.dim() <= 2:
        return x.reshape(-1, x.shape[-1])
    nd = x.dim()
    return x.permute(0, *range(2, nd), 1).reshape(-1, x.shape[1])


def _pick(logp, target):
    """logp (M, C), target (M,) in range -> logp[m, target[m]] via a row gather."""
    m, c = logp.shape
    flat = _p.arange(m, dtype=_p.int64, device=logp.device) * c + target
    return _nn.embedding(logp.reshape(-1, 1), flat).reshape(-1)


def _check_targets(t, c, ignore_index):
    """torch's IndexError for a class index outside [0, C) that is not ignore_index.

    NOTE: checked on the eager path only: inside a trace the check would become a
    guard on the data of every batch; a traced step trusts its targets.
    """
    from .._dispatch import state
    d = t._data
    if state.tracer is not None or type(d) is not np.ndarray or d.size == 0:
        return
    bad = (d != ignore_index) & ((d < 0) | (d >= c))
    if bad.any():
        raise IndexError(f"Target {int(d[bad.argmax()])} is out of bounds.")


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """-input[n, target[n]] (input holds log-probabilities), weighted, ignoring ignore_index."""
    reduction = _reduction(size_average, reduce, reduction)
    if input.dim() == 1:
        input = input.reshape(1, -1)
        target = target.reshape(1)
    if target.dtype.is_floating_point:
        raise RuntimeError(f"expected scalar type Long but found {target.dtype.name.capitalize()}")
    if target.dtype not in (_p.int64, _p.uint8):
        from .._dtype import TORCH_NAMES
        raise RuntimeError("expected target dtype to be Long or Byte, but got "
                           f"{TORCH_NAMES.get(target.dtype.name, target.dtype.name)}")
    if input.dim() >= 2 and (input.shape[0] != target.shape[0] or
                             tuple(input.shape[2:]) != tuple(target.shape[1:])):
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target "
                         f"batch_size ({target.shape[0]}).")
    lp = _class_last(input)
    t = target.reshape(-1)
    _check_targets(t, lp.shape[-1], ignore_index)
    keep = t != ignore_index
    safe = _p.where(keep, t, 0)
    picked = _pick(lp, safe)
    w = keep.to(input.dtype)
    if weight is not None:
        w = w * _nn.embedding(weight.reshape(-1, 1), safe).reshape(-1)
    loss = -(picked * w)
    if reduction == "none":
        return loss.reshape(tuple(target.shape))
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / w.sum()
    raise ValueError(f"{reduction} is not a valid value for reduction")


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """log_softmax over dim 1 then NLL; target is class indices or class probabilities."""
    reduction = _reduction(size_average, reduce, reduction)
    if input.dim() == 2 and target.dim() == 1 and target.dtype is _p.int64 and \
            weight is None and label_smoothing <= 0 and input.dtype.is_floating_point and \
            reduction in ("mean", "sum", "none") and input.shape[0] == target.shape[0]:
        # the common case (a batch of logits, class indices) as one op
        return _p.cross_entropy_indices(input, target, ignore_index=ignore_index,
                                        reduction=reduction)
    cdim = 0 if input.dim() == 1 else 1
    logp = _nn.log_softmax(input, dim=cdim)
    c = input.shape[cdim]
    wshape = (-1,) + (1,) * (input.dim() - cdim - 1)
    if target.dtype.is_floating_point:
        if tuple(target.shape) != tuple(input.shape):
            raise RuntimeError("Expected floating point type target to have the same shape as "
                               f"input, got {list(target.shape)} and {list(input.shape)}")
        if label_smoothing > 0:
            target = target * (1.0 - label_smoothing) + label_smoothing / c
        prod = logp * target
        if weight is not None:
            prod = prod * weight.reshape(wshape)
        loss = -prod.sum(cdim)
        if reduction == "mean":
            return loss.sum() / (input.numel() // c) if input.numel() else loss.sum() / 0.0
        return _reduce(loss, reduction)
    nll = nll_loss(logp, target, weight, None, ignore_index, None, reduction)
    if label_smoothing <= 0:
        return nll
    keep = (target != ignore_index)
    lp = logp * weight.reshape(wshape) if weight is not None else logp
    smooth = -lp.sum(cdim) * keep.to(logp.dtype)
    if reduction == "mean":
        if weight is not None:
            safe = _p.where(keep, target, 0).reshape(-1)
            wsum = (_nn.embedding(weight.reshape(-1, 1), safe).reshape(-1) *
                    keep.reshape(-1).to(weight.dtype)).sum()
            ret = smooth.sum() / wsum
        else:
            ret = smooth.sum() / keep.sum()
    elif reduction == "sum":
        ret = smooth.sum()
    else:
        ret = smooth
    return nll * (1.0 - label_smoothing) + ret * (label_smoothing / c)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """-(t log x + (1-t) log(1-x)), logs clamped at -100 like torch."""
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input "
                         f"size ({input.shape}) is deprecated. Please ensure they have the same "
                         "size.".replace("pyrch.Size", "torch.Size"))
    loss = _nn.binary_cross_entropy(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """BCE of sigmoid(input), computed stably from logits; pos_weight scales positives."""
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size "
                         f"({input.shape})".replace("pyrch.Size", "torch.Size"))
    if not target.is_floating_point():
        # torch's kernel works in the target's dtype (so integer and bool targets fail)
        if target.dtype is _p.bool:
            raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not "
                               "supported. Use the `^` or `logical_xor()` operator instead.")
        from .._dtype import TORCH_NAMES
        names = {"float32": "Float", "float64": "Double", "float16": "Half"}
        src = names.get(input.dtype.name, TORCH_NAMES.get(input.dtype.name, input.dtype.name))
        dst = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char",
               "uint8": "Byte"}.get(target.dtype.name, target.dtype.name)
        raise RuntimeError(f"result type {src} can't be cast to the desired output type {dst}")
    from .functional import softplus
    sp = softplus(-input)          # = -log(sigmoid(x)), finite for every x
    if pos_weight is not None:
        loss = (1.0 - target) * input + (1.0 + (pos_weight - 1.0) * target) * sp
    else:
        loss = (1.0 - target) * input + sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Pointwise KL divergence target * (log target - input); input holds log-probabilities."""
    reduction = _reduction(size_average, reduce, reduction)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        pos = target > 0
        loss = _p.where(pos, target * _p.where(pos, target, 1.0).log(), 0.0) - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.dim() else loss.sum()
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.", UserWarning, stacklevel=2)
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(x1, x2) for target 1, max(0, cos - margin) for target -1."""
    reduction = _reduction(size_average, reduce, reduction)
    eps = 1e-12
    dim = input1.dim() - 1
    prod = (input1 * input2).sum(dim)
    m1 = (input1 * input1).sum(dim) + eps
    m2 = (input2 * input2).sum(dim) + eps
    cos = prod / (m1 * m2).sqrt()
    pos = 1.0 - cos
    neg = (cos - margin).clamp(min=0.0)
    loss = _p.where(target == 1, pos, 0.0) + _p.where(target == -1, neg, 0.0)
    return _reduce(loss, reduction)


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                        reduction="mean"):
    """max(0, -target * (x1 - x2) + margin)."""
    reduction = _reduction(size_average, reduce, reduction)
    loss = (-target * (input1 - input2) + margin).clamp(min=0.0)
    return _reduce(loss, reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """x for target 1, max(0, margin - x) for target -1."""
    reduction = _reduction(size_average, reduce, reduction)
    loss = _p.where(target == 1, input, 0.0) + \
        _p.where(target == -1, (margin - input).clamp(min=0.0), 0.0)
    return _reduce(loss, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-target * input))."""
    from .functional import softplus
    return _reduce(softplus(-target * input), _reduction(size_average, reduce, reduction))


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """Negative log likelihood of a Poisson target."""
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        import math
        approx = target * target.clamp(min=1.0).log() - target + \
            (target.clamp(min=1.0) * (2 * math.pi)).log() * 0.5
        loss = loss + _p.where(target > 1, approx, 0.0)
    return _reduce(loss, _reduction(size_average, reduce, reduction))


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """0.5 (log var + (input - target)^2 / var), var clamped at eps."""
    import math
    if var.dim() == input.dim() - 1:
        var = var.unsqueeze(-1)
    var = var.clamp(min=eps)
    d = input - target
    loss = (var.log() + d * d / var) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """max(d(a, p) - d(a, n) + margin, 0) with pairwise p-norm distances."""
    from .functional import pairwise_distance
    dp = pairwise_distance(anchor, positive, p, eps)
    dn = pairwise_distance(anchor, negative, p, eps)
    if swap:
        dn = _p.minimum(dn, pairwise_distance(positive, negative, p, eps))
    loss = (dp - dn + margin).clamp(min=0.0)
    return _reduce(loss, _reduction(size_average, reduce, reduction))
