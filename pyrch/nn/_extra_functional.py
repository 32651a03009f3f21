"""More of nn.functional: alpha dropout, shrink and randomised activations, in-place
activation variants, embedding_bag, LP / fractional pools and max unpooling, the
margin losses, gumbel_softmax and pdist.

Everything here is a composite of existing pyrch ops, so gradients come from
theirs: bags are a (bags x elements) membership matrix times the gathered rows
(sum / mean) or a gather at each bag's argmax (max); fractional pools gather the
argmax of each window by flat plane index, as max_pool does; max_unpool is a
scatter into zeros.
"""
import math
import warnings

import numpy as np

import pyrch as _p
from ..ops import nn as _nn
from . import functional as F
from ._conv_functional import _batched, _unbatch, _tuple, _gather_planes, _adaptive_max, _max_pool
from ._loss_functional import _reduction, _reduce

__all__ = ["alpha_dropout", "feature_alpha_dropout", "hardshrink", "softshrink", "rrelu",
           "relu_", "elu_", "leaky_relu_", "hardtanh_", "selu_", "celu_", "threshold_", "rrelu_",
           "embedding_bag", "lp_pool1d", "lp_pool2d", "lp_pool3d", "max_unpool1d", "max_unpool2d",
           "max_unpool3d", "fractional_max_pool2d", "fractional_max_pool3d",
           "fractional_max_pool2d_with_indices", "fractional_max_pool3d_with_indices",
           "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
           "adaptive_max_pool3d_with_indices", "max_pool3d_with_indices",
           "multilabel_margin_loss", "multilabel_soft_margin_loss", "multi_margin_loss",
           "triplet_margin_with_distance_loss", "gumbel_softmax", "pdist"]


# -- dropout and activations ------------------------------------------------------------

_SELU_NEG = 1.7580993408473766      # scale * alpha of SELU: the value a dropped unit takes


def _alpha_dropout(input, p, training, inplace, feature):
    F._check_p(p)
    if not training or p == 0.0 or input.numel() == 0:
        return input
    if p == 1.0:
        return F._inplace(input, input * 0.0, inplace)
    if feature:
        if input.dim() < 2:
            raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
        shape = tuple(input.shape[:2]) + (1,) * (input.dim() - 2)
    else:
        shape = tuple(input.shape)
    keep = _p.bernoulli(_p.full(shape, 1.0 - p, dtype=input.dtype, device=input.device))
    # kept units: a*x + c; dropped units: the SELU floor -alpha, moved by the same affine map
    a = 1.0 / math.sqrt((_SELU_NEG * _SELU_NEG * p + 1.0) * (1.0 - p))
    b = (keep - 1.0) * (_SELU_NEG * a) + _SELU_NEG * a * p
    return F._inplace(input, input * (keep * a) + b, inplace)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout that keeps SELU's zero mean and unit variance: dropped units take SELU's
    negative saturation value, then an affine map restores the statistics (training only)."""
    return _alpha_dropout(input, p, training, inplace, False)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """alpha_dropout of whole channels (dim 1) of (N, C, ...) input."""
    return _alpha_dropout(input, p, training, inplace, True)


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0."""
    return _p.where((input > lambd) | (input < -lambd), input, 0.0)


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, else 0."""
    if lambd < 0:
        names = {"float32": ("Float", 3.4028234663852886e38), "float64": ("Double", 1.7976931348623157e308)}
        name, top = names.get(input.dtype.name, (input.dtype.name, float("inf")))
        raise RuntimeError(f"lambda must be in range [0, {top:g}] for input dtype {name}, "
                           f"but found {lambd:g}")
    return _p.where(input > lambd, input - lambd, _p.where(input < -lambd, input + lambd, 0.0))


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Leaky ReLU whose negative slope is drawn from U(lower, upper) per element in training,
    and is (lower + upper) / 2 in evaluation."""
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")
    if not training:
        return F.leaky_relu(input, (lower + upper) / 2.0, inplace)
    slope = _p.rand_like(input) * (upper - lower) + lower
    return F._inplace(input, _p.where(input > 0, input, input * slope), inplace)


def relu_(input):
    """In-place relu."""
    return F.relu(input, inplace=True)


def elu_(input, alpha=1.0):
    """In-place elu."""
    return F.elu(input, alpha, inplace=True)


def leaky_relu_(input, negative_slope=0.01):
    """In-place leaky_relu."""
    return F.leaky_relu(input, negative_slope, inplace=True)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    """In-place hardtanh."""
    return F.hardtanh(input, min_val, max_val, inplace=True)


def selu_(input):
    """In-place selu."""
    return F.selu(input, inplace=True)


def celu_(input, alpha=1.0):
    """In-place celu."""
    return F.celu(input, alpha, inplace=True)


def threshold_(input, threshold, value):
    """In-place threshold."""
    return F.threshold(input, threshold, value, inplace=True)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    """In-place rrelu."""
    return rrelu(input, lower, upper, training, inplace=True)


# -- embedding_bag ----------------------------------------------------------------------

def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,
                  mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False,
                  padding_idx=None):
    """Sum, mean or max of the `weight` rows each bag names. A bag is a row of 2-D `input`,
    or a run of 1-D `input` starting at each of `offsets`; padding_idx entries are left out
    (an empty bag gives zeros); per_sample_weights scale the rows of a 'sum'."""
    if per_sample_weights is not None and tuple(input.shape) != tuple(per_sample_weights.shape):
        raise ValueError(f"embedding_bag: If per_sample_weights ({per_sample_weights.shape}) is not "
                         f"None, then it must have the same shape as the input ({input.shape})"
                         .replace("pyrch.Size", "torch.Size"))
    if weight.dim() != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.dim()}")
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a "
                             "mini-batch of fixed length sequences. However, found offsets of type "
                             f"{type(offsets)}".replace("pyrch._tensor.Tensor", "torch.Tensor"))
        offsets = _p.arange(0, input.numel(), input.shape[1], dtype=_p.int64, device=input.device)
        input = input.reshape(-1)
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
    elif input.dim() == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.dim() != 1:
            raise ValueError("offsets has to be a 1D Tensor")
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.dim()}")
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError("embedding_bag: per_sample_weights was not None. per_sample_weights "
                                  f"is only supported for mode='sum' (got mode='{mode}'). Please open "
                                  "a feature request on GitHub.")
    from .._dispatch import state
    if state.tracer is None and offsets.numel() and int(offsets[0]) != 0:   # eager only
        raise RuntimeError("offsets[0] has to be 0, i.e., the first sequence in the mini-batch has "
                           f"to start from position 0. However, got {int(offsets[0])}")
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise AssertionError("padding_idx must be within num_embeddings")
        padding_idx %= num
    if max_norm is not None:
        F._embedding_renorm_(weight, input, max_norm, norm_type)
    n = input.shape[0]
    bags = offsets.shape[0] - (1 if include_last_offset else 0)
    dev = weight.device
    pos = _p.arange(n, dtype=_p.int64, device=dev)
    # with include_last_offset torch's last bag still runs to the end of `input`
    bag_of = _p.searchsorted(offsets[:bags].to(_p.int64), pos, right=True) - 1       # (n,)
    member = bag_of.reshape(1, n) == _p.arange(bags, dtype=_p.int64, device=dev).reshape(bags, 1)
    if padding_idx is not None:
        member = member & (input != padding_idx).reshape(1, n)
    rows = _nn.embedding(weight, input)                                       # (n, D)
    if mode == "max":
        if n == 0:
            return _p.zeros((bags, weight.shape[1]), dtype=weight.dtype, device=dev)
        vals = _p.where(member.unsqueeze(-1), rows.detach().unsqueeze(0), float("-inf"))
        best = vals.argmax(1)                                                 # (bags, D)
        out = rows.gather(0, best)
        return _p.where(member.any(1, keepdim=True), out, 0.0)
    m = member.to(weight.dtype)
    if per_sample_weights is not None:
        m = m * per_sample_weights.reshape(1, n)
    out = m.matmul(rows)
    if mode == "mean":
        out = out / member.sum(1, keepdim=True).clamp(min=1).to(weight.dtype)
    return out


# -- pools --------------------------------------------------------------------------------

def _lp_pool(nsp, input, norm_type, kernel_size, stride, ceil_mode):
    pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[nsp - 1]
    size = math.prod(_tuple(kernel_size, nsp, "kernel_size"))
    x = input.pow(norm_type)
    if stride is not None:
        out = pool(x, kernel_size, stride, 0, ceil_mode)
    else:
        out = pool(x, kernel_size, padding=0, ceil_mode=ceil_mode)
    return (out.sign() * out.abs().relu() * size).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over each window of x^p)^(1/p) over (N, C, L) input."""
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over each window of x^p)^(1/p) over (N, C, H, W) input."""
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over each window of x^p)^(1/p) over (N, C, D, H, W) input."""
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)


def _unpool_size(nsp, x, kernel, stride, padding, output_size):
    default = tuple((x.shape[-nsp + d] - 1) * stride[d] - 2 * padding[d] + kernel[d]
                    for d in range(nsp))
    if output_size is None:
        return default
    size = tuple(int(s) for s in output_size)
    if len(size) == nsp + 2:
        size = size[2:]
    if len(size) != nsp:
        raise ValueError(f"output_size should be a sequence containing {nsp} or {nsp + 2} "
                         f"elements, but it has a length of '{len(size)}'")
    for d in range(nsp):
        lo, hi = default[d] - stride[d], default[d] + stride[d]
        if not lo < size[d] < hi:
            raise ValueError(f'invalid output_size "{size}" (dim {d} must be between {lo} and {hi})')
    return size


def _max_unpool(nsp, input, indices, kernel_size, stride, padding, output_size):
    kernel = _tuple(kernel_size, nsp, "kernel_size")
    stride = kernel if stride is None else _tuple(stride, nsp, "stride")
    padding = _tuple(padding, nsp, "padding")
    size = _unpool_size(nsp, input, kernel, stride, padding, output_size)
    x, unb = _batched(input, nsp, f"max_unpool{nsp}d")
    idx = indices.reshape(tuple(x.shape))
    n, c = x.shape[:2]
    plane = math.prod(size)
    from .._dispatch import state
    d = idx._data
    if state.tracer is None and type(d) is np.ndarray and d.size and (d.min() < 0 or d.max() >= plane):
        bad = int(d.max() if d.max() >= plane else d.min())
        shown = "x".join(map(str, size if nsp > 1 else size + (1,)))
        raise RuntimeError(f"Found an invalid max index: {bad} (output volumes are of size {shown})")
    out = _p.zeros((n, c, plane), dtype=x.dtype, device=x.device)
    out = out.scatter(2, idx.reshape(n, c, -1), x.reshape(n, c, -1))
    return _unbatch(out.reshape((n, c) + tuple(size)), unb)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool1d: put each value at its index, zeros elsewhere."""
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool2d: put each value at its flat (h * W + w) index, zeros elsewhere."""
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool3d: put each value at its flat index, zeros elsewhere."""
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size)


def _fractional_starts(u, n, out, k):
    """Window starts (..., out) in a dim of size n for samples u (...): torch's rule
    trunc((i + u) * alpha) - trunc(u * alpha), alpha = (n - k) / (out - 1), the last at n - k."""
    last = _p.full(tuple(u.shape) + (1,), float(n - k), dtype=u.dtype, device=u.device)
    if out == 1:
        return last.to(_p.int64)
    alpha = _p.full((), float(n - k), dtype=u.dtype, device=u.device) / float(out - 1)
    i = _p.arange(out - 1, dtype=u.dtype, device=u.device)
    u = u.unsqueeze(-1)
    s = ((i + u) * alpha).trunc() - (u * alpha).trunc()
    return _p.cat([s, last], -1).to(_p.int64)


_FRAC_DIMS = {2: ("height", "width"), 3: ("time", "height", "width")}


def _fractional(nsp, input, kernel_size, output_size, output_ratio, return_indices, samples):
    name = f"fractional_max_pool{nsp}d"
    if output_size is None and output_ratio is None:
        raise ValueError(f"{name} requires specifying either an output_size or an output_ratio")
    x, unb = _batched(input, nsp, name)
    n, c = x.shape[:2]
    sp = tuple(x.shape[2:])
    kernel = _tuple(kernel_size, nsp, "kernel_size")
    if output_size is None:
        ratio = tuple(output_ratio) if isinstance(output_ratio, (tuple, list)) else (output_ratio,) * nsp
        out = tuple(int(s * r) for s, r in zip(sp, ratio))
    else:
        out = _tuple(output_size, nsp, "output_size")
    for d in range(nsp):
        if out[d] + kernel[d] - 1 > sp[d]:
            suffix = "" if nsp == 2 else "_out"
            dn = _FRAC_DIMS[nsp][d]
            raise RuntimeError(f"{name}{suffix}(): pool {dn} {kernel[d]} too large relative to "
                               f"input {dn} {sp[d]}")
    if samples is None:
        samples = _p.rand(n, c, nsp, dtype=x.dtype, device=x.device)
    # torch draws (w, h) for 2-D pools and (t, h, w) for 3-D ones
    which = (1, 0) if nsp == 2 else (0, 1, 2)
    flat = 0
    for d in range(nsp):
        starts = _fractional_starts(samples[:, :, which[d]], sp[d], out[d], kernel[d])
        pos = starts.unsqueeze(-1) + _p.arange(kernel[d], dtype=_p.int64, device=x.device)
        shape = [n, c] + [1] * (2 * nsp)
        shape[2 + d], shape[2 + nsp + d] = out[d], kernel[d]
        flat = flat + pos.reshape(tuple(shape)) * math.prod(sp[d + 1:])
    cand = flat.expand((n, c) + out + kernel).reshape((n, c) + out + (-1,))
    best = _gather_planes(x.detach(), cand).argmax(-1, keepdim=True)
    idx = cand.gather(-1, best).squeeze(-1)
    res = _unbatch(_gather_planes(x, idx), unb)
    return (res, _unbatch(idx, unb)) if return_indices else res


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    """Max over pseudo-random (N, C)-wise windows that take (H, W) to output_size (or
    output_ratio of it); _random_samples (N, C, 2) in [0, 1) fix the windows."""
    return _fractional(2, input, kernel_size, output_size, output_ratio, return_indices,
                       _random_samples)


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    """The 3-D fractional max pool; _random_samples has shape (N, C, 3)."""
    return _fractional(3, input, kernel_size, output_size, output_ratio, return_indices,
                       _random_samples)


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    return _fractional(2, input, kernel_size, output_size, output_ratio, True, _random_samples)


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    return _fractional(3, input, kernel_size, output_size, output_ratio, True, _random_samples)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    return _adaptive_max(1, input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    return _adaptive_max(2, input, output_size, True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    return _adaptive_max(3, input, output_size, True)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, True)


# -- losses -------------------------------------------------------------------------------

def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """sum over targets j and non-targets i of max(0, 1 - (x[y_j] - x[i])) / C; each row of
    `target` lists class indices up to its first -1."""
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(input.shape) != tuple(target.shape) and not (input.dim() <= 1 and target.numel() ==
                                                          input.numel()):
        raise RuntimeError(f"inconsistent target size: {list(target.shape)} for input of size: "
                           f"{list(input.shape)}")
    x = input.reshape(-1, input.shape[-1] if input.dim() else 1)
    t = target.reshape(tuple(x.shape))
    c = x.shape[1]
    valid = (t == -1).to(_p.int64).cumsum(1) == 0                 # entries before the first -1
    tc = _p.where(valid, t, 0)
    is_target = (F.one_hot(tc, c) * valid.unsqueeze(-1).to(_p.int64)).sum(1) > 0
    xy = x.gather(1, tc)
    z = (1.0 - xy.unsqueeze(2) + x.unsqueeze(1)).clamp(min=0.0)   # (N, target j, class i)
    keep = valid.unsqueeze(2) & (~is_target).unsqueeze(1)
    loss = _p.where(keep, z, 0.0).sum((1, 2)) / c
    if input.dim() <= 1:
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """Mean over classes of the binary logistic loss of each class."""
    reduction = _reduction(size_average, reduce, reduction)
    loss = -(target * F.logsigmoid(input) + (1 - target) * F.logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    dim = input.dim() - 1
    loss = loss.sum(dim) / input.shape[dim]
    return _reduce(loss, reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """sum over i != y of max(0, margin - x[y] + x[i])^p / C, times weight[y]."""
    reduction = _reduction(size_average, reduce, reduction)
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.dim() != 1:
        raise ValueError("weight must be one-dimensional")
    x = input.reshape(-1, input.shape[-1] if input.dim() else 1)
    t = target.reshape(-1, 1)
    if t.shape[0] != x.shape[0]:
        raise RuntimeError(f"inconsistent target size, expected {x.shape[0]} but got "
                           f"{list(target.shape)}")
    c = x.shape[1]
    z = (margin - x.gather(1, t) + x).clamp(min=0.0)
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * weight[t.reshape(-1)].reshape(-1, 1)
    is_y = _p.arange(c, dtype=_p.int64, device=x.device).reshape(1, c) == t
    loss = _p.where(is_y, 0.0, z).sum(1) / c
    if input.dim() <= 1:
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin=1.0, swap=False, reduction="mean"):
    """max(d(a, p) - d(a, n) + margin, 0) for any distance function (default pairwise_distance);
    swap uses min(d(a, n), d(p, n))."""
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    dims = (anchor.dim(), positive.dim(), negative.dim())
    if len(set(dims)) != 1:
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the "
                           f"same number of dimensions, but got: anchor {dims[0]}D, positive "
                           f"{dims[1]}D, and negative {dims[2]}D inputs")
    dist = F.pairwise_distance if distance_function is None else distance_function
    dp = dist(anchor, positive)
    dn = dist(anchor, negative)
    if swap:
        dn = _p.minimum(dn, dist(positive, negative))
    loss = (margin + dp - dn).clamp(min=0.0)
    return _reduce(loss, reduction)


# -- sampling and distances ----------------------------------------------------------------

def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """softmax((logits + Gumbel noise) / tau); hard=True returns the one-hot argmax whose
    gradient is the soft sample's (straight-through)."""
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", UserWarning, stacklevel=2)
    gumbels = -_p.empty_like(logits).exponential_().log()
    y = F.softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y
    one = _p.zeros_like(logits).scatter(dim, y.argmax(dim, keepdim=True), 1.0)
    return one - y.detach() + y


def pdist(input, p=2):
    """p-norm distances between the rows of (N, M) input, for each pair i < j in row-major
    order (N * (N - 1) / 2 values)."""
    if input.dim() != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.dim()}D")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    n = input.shape[0]
    i, j = _p.triu_indices(n, n, 1, device=input.device)
    return (input[i] - input[j]).norm(p, dim=1)
