"""nn.functional: the stateless layer functions, a thin layer over pyrch ops.

Convolutions, pools and interpolation live in `_conv_functional.py`, losses in
`_loss_functional.py`; both are re-exported here, so `F.conv2d` and
`F.cross_entropy` work as in torch.

>>> import pyrch
>>> import pyrch.nn.functional as F
>>> F.relu(pyrch.tensor([-1.0, 2.0]))
tensor([0., 2.])
"""
import math
import warnings

import numpy as np

import pyrch as _p
from .._dtype import TORCH_NAMES
from .._dispatch import state as _dispatch_state
from .._tensor import Tensor
from ..ops.nn import softmax as _softmax_op, log_softmax as _log_softmax_op, \
    embedding as _embedding_op, layer_norm as _layer_norm_op, _linear as _linear_op


# -- activations ----------------------------------------------------------------------

def _inplace(x, y, inplace):
    """Write `y` into `x` when the caller asked for an in-place activation."""
    if inplace:
        return x.copy_(y)
    return y


def relu(input, inplace=False):
    """max(x, 0) elementwise."""
    return _inplace(input, input.relu(), inplace)


def relu6(input, inplace=False):
    """min(max(x, 0), 6) elementwise."""
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x if x > 0 else negative_slope * x."""
    return _p.leaky_relu(input, negative_slope, inplace)


def elu(input, alpha=1.0, inplace=False):
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return _p.elu(input, alpha, inplace)


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    return _inplace(input, _p.where(input > 0, input,
                                    (input.clamp(max=0) / alpha).expm1() * alpha), inplace)


def selu(input, inplace=False):
    """scale * elu(x, alpha) with the self-normalising constants."""
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return _inplace(input, elu(input, alpha) * scale, inplace)


def gelu(input, approximate="none"):
    """x * Phi(x); approximate='tanh' uses the tanh formula."""
    return _p.gelu(input, approximate=approximate)


def sigmoid(input):
    """1 / (1 + exp(-x))."""
    return input.sigmoid()


def tanh(input):
    """Hyperbolic tangent."""
    return input.tanh()


def silu(input, inplace=False):
    """x * sigmoid(x)."""
    return _p.silu(input, inplace)


def mish(input, inplace=False):
    """x * tanh(softplus(x))."""
    return _p.mish(input, inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """clamp(x, min_val, max_val)."""
    return _p.hardtanh(input, min_val, max_val, inplace)


def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6."""
    return _inplace(input, (input + 3.0).clamp(0.0, 6.0) / 6.0, inplace)


def hardswish(input, inplace=False):
    """x * relu6(x + 3) / 6."""
    return _inplace(input, input * (input + 3.0).clamp(0.0, 6.0) / 6.0, inplace)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * x)) / beta, linear above `threshold` (stable for large x)."""
    return _p.softplus(input, beta, threshold)


def logsigmoid(input):
    """log(sigmoid(x)), computed stably as -softplus(-x)."""
    return -softplus(-input)


def softsign(input):
    """x / (1 + |x|)."""
    return input / (input.abs() + 1.0)


def tanhshrink(input):
    """x - tanh(x)."""
    return input - input.tanh()


def threshold(input, threshold, value, inplace=False):
    """x if x > threshold else value."""
    return _inplace(input, _p.where(input > threshold, input, value), inplace)


def prelu(input, weight):
    """x if x > 0 else weight * x (weight per channel, dim 1)."""
    w = weight
    if input.dim() >= 2 and weight.numel() > 1:
        w = weight.reshape((-1,) + (1,) * (input.dim() - 2))
    return _p.where(input > 0, input, input * w)


def glu(input, dim=-1):
    """a * sigmoid(b) where a, b are the halves of `input` along `dim`."""
    a, b = input.chunk(2, dim)
    return a * b.sigmoid()


def _softmax_dim(ndim):
    warnings.warn("Implicit dimension choice for softmax has been deprecated. Change the call "
                  "to include dim=X as an argument.", UserWarning, stacklevel=4)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(x) / sum(exp(x)) along `dim` (a stable primitive); torch's implicit dim (with its
    warning) when `dim` is None."""
    return _softmax_op.public_fn(input, _softmax_dim(input.dim()) if dim is None else dim, dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-x) along `dim`."""
    return softmax(-input, dim, dtype=dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """log(softmax(x)) along `dim` (a stable primitive)."""
    return _log_softmax_op.public_fn(input, _softmax_dim(input.dim()) if dim is None else dim, dtype)


# -- linear layers, dropout, embedding --------------------------------------------------

def linear(input, weight, bias=None):
    """input @ weight.T + bias.

    Eagerly on the CPU, with a bias and one float dtype throughout, this is one op
    (`_linear`: one GEMM with the bias added in its epilogue, one autograd node). While
    a tracer (or profiler) listens, it is matmul and add, the ops the jit's passes fuse
    with their neighbours; the values are the same bits either way.
    """
    if bias is not None and not _dispatch_state.hooks and _linear_fits(input, weight, bias):
        return _linear_op(input, weight, bias)
    out = input.matmul(weight.T) if weight.dim() == 2 else input.matmul(weight)
    if bias is not None:
        out = out + bias
    return out


def _linear_fits(x, w, b):
    """Whether `_linear` takes F.linear(x, w, b): CPU tensors of one float dtype, x at
    least 2-D with w's input size, w 2-D and row-major, b w's output size (anything
    else, errors included, goes through matmul and add)."""
    if not (isinstance(x, Tensor) and isinstance(w, Tensor) and isinstance(b, Tensor)):
        return False
    xd, wd, bd = x._data, w._data, b._data
    return type(xd) is np.ndarray and type(wd) is np.ndarray and type(bd) is np.ndarray \
        and xd.dtype is wd.dtype and wd.dtype is bd.dtype and xd.dtype.kind == "f" \
        and wd.ndim == 2 and xd.ndim >= 2 and bd.ndim == 1 \
        and xd.shape[-1] == wd.shape[1] and bd.shape[0] == wd.shape[0] \
        and wd.flags.c_contiguous      # (matmul's rule takes another product for others)


def bilinear(input1, input2, weight, bias=None):
    """y_k = x1^T W_k x2 + b_k over the last dimension."""
    k, i, j = weight.shape
    lead = tuple(input1.shape[:-1])
    a = input1.reshape(-1, i).matmul(weight.permute(1, 0, 2).reshape(i, k * j))
    out = (a.reshape(-1, k, j) * input2.reshape(-1, 1, j)).sum(-1)
    if bias is not None:
        out = out + bias
    return out.reshape(lead + (k,))


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1-p) (training only)."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return _inplace(input, input * 0.0, inplace)
    mask = _p.bernoulli(_p.full_like(input, 1.0 - p))
    return _inplace(input, input * mask * (1.0 / (1.0 - p)), inplace)


def _feature_dropout(input, p, training, inplace, nsp):
    _check_p(p)
    if not training or p == 0.0:
        return input
    batched = input.dim() == nsp + 2
    shape = tuple(input.shape[:2]) if batched else tuple(input.shape[:1])
    shape = shape + (1,) * nsp
    if p == 1.0:
        return _inplace(input, input * 0.0, inplace)
    mask = _p.bernoulli(_p.full(shape, 1.0 - p, dtype=input.dtype, device=input.device))
    return _inplace(input, input * mask * (1.0 / (1.0 - p)), inplace)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) input with probability p."""
    return _feature_dropout(input, p, training, inplace, 1)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) input with probability p."""
    return _feature_dropout(input, p, training, inplace, 2)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, D, H, W) input with probability p."""
    return _feature_dropout(input, p, training, inplace, 3)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of `weight` at integer `input`; the padding_idx row gets no gradient."""
    if padding_idx is not None:
        n = weight.shape[0]
        if not -n <= padding_idx < n:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx %= n
    if max_norm is not None:
        _embedding_renorm_(weight, input, max_norm, norm_type)
    return _embedding_op(weight, input, padding_idx=padding_idx)


def _embedding_renorm_(weight, input, max_norm, norm_type):
    """torch's max_norm rule: before the lookup, each row `input` names whose norm exceeds
    `max_norm` is scaled in place to max_norm / (norm + 1e-7) of itself (no gradient)."""
    with _p.no_grad():
        rows = _p.unique(input.reshape(-1))
        w = weight[rows]
        norms = w.norm(p=norm_type, dim=1, keepdim=True)
        scale = _p.where(norms > max_norm, max_norm / (norms + 1e-7), _p.ones_like(norms))
        weight[rows] = w * scale


def one_hot(tensor, num_classes=-1):
    """(..., ) int64 -> (..., num_classes) int64 with a 1 at each index."""
    from .._dispatch import state
    if tensor.dtype is not _p.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes < 0:
        num_classes = int(tensor.max().item()) + 1
    d = tensor._data
    if state.tracer is None and type(d) is np.ndarray and d.size:    # eager: torch's errors
        if d.min() < 0:
            raise RuntimeError("Class values must be non-negative.")
        if d.max() >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    eye = _p.eye(num_classes, dtype=_p.int64, device=tensor.device)
    return _embedding_op(eye, tensor)


def pad(input, pad, mode="constant", value=None):
    """Pad the last len(pad)//2 dimensions (pad lists (left, right) from the last dim)."""
    return _p.pad(input, pad, mode, value)


# -- normalisation -----------------------------------------------------------------------

def _channel_shape(x):
    return (1, -1) + (1,) * (x.dim() - 2)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalise over all dims but channel (dim 1); in training, update running stats
    in place (under no_grad, with pyrch ops)."""
    shape = _channel_shape(input)
    if training:
        dims = (0,) + tuple(range(2, input.dim()))
        n = input.numel() // input.shape[1]
        if n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input "
                             f"size {input.shape}".replace("pyrch.Size", "torch.Size"))
        mean = input.mean(dims, keepdim=True)
        d = input - mean
        var = (d * d).mean(dims, keepdim=True)
        if running_mean is not None:
            with _p.no_grad():
                m = 0.1 if momentum is None else momentum
                running_mean.mul_(1.0 - m).add_(mean.reshape(-1) * m)
                running_var.mul_(1.0 - m).add_(var.reshape(-1) * (m * n / (n - 1)))
        out = d * (var + eps).rsqrt()
    else:
        out = (input - running_mean.reshape(shape)) * (running_var.reshape(shape) + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalise each (sample, channel) plane over its spatial dims. With use_input_stats
    each plane uses its own statistics, and given running stats move (in place, under
    no_grad) by `momentum` toward the batch mean of the plane means and unbiased variances;
    without it the running stats normalise."""
    if use_input_stats and math.prod(input.shape[2:]) == 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size "
                         f"{input.shape}".replace("pyrch.Size", "torch.Size"))
    if not use_input_stats and (running_mean is None or running_var is None):
        raise RuntimeError("Expected running_mean and running_var to be defined when "
                           "use_input_stats is false")
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must either both be None or neither be None")
    n, c = input.shape[:2]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is not None and t.numel() != c:
            raise RuntimeError(f"{name} should contain {n * c} elements not {n * t.numel()}")
    shape = _channel_shape(input)
    if use_input_stats:
        dims = tuple(range(2, input.dim()))
        mean = input.mean(dims, keepdim=True)
        d = input - mean
        var = (d * d).mean(dims, keepdim=True)
        if running_mean is not None:
            k = math.prod(input.shape[2:])
            with _p.no_grad():
                m = float(momentum)
                running_mean.mul_(1.0 - m).add_(mean.reshape(n, c).mean(0) * m)
                running_var.mul_(1.0 - m).add_(var.reshape(n, c).mean(0) * (m * k / (k - 1)))
        out = d * (var + eps).rsqrt()
    else:
        out = (input - running_mean.reshape(shape)) * (running_var.reshape(shape) + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last len(normalized_shape) dims, then scale and shift."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    k = len(normalized_shape)
    if tuple(input.shape[input.dim() - k:]) != tuple(normalized_shape):
        raise RuntimeError(
            f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
            f"[*, {', '.join(map(str, normalized_shape))}], but got input of size"
            f"{list(input.shape)}")
    if not input.dtype.is_floating_point:
        # torch's exception type and words for integer input
        raise NotImplementedError(f'"LayerNormKernelImpl" not implemented for '
                                  f"'{TORCH_NAMES.get(input.dtype.name, input.dtype.name)}'")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != tuple(normalized_shape):
            raise RuntimeError(f"Expected {name} to be of same shape as normalized_shape, but got "
                               f"{name} of shape {list(p.shape)} and normalized_shape = "
                               f"{list(normalized_shape)}")
    # the `layer_norm` op is the one description of the arithmetic; a missing weight or
    # bias is a constant one or zero
    if weight is None:
        weight = _p.ones(tuple(normalized_shape), dtype=input.dtype, device=input.device)
    if bias is None:
        bias = _p.zeros(tuple(normalized_shape), dtype=input.dtype, device=input.device)
    return _layer_norm_op(input, weight, bias, n=k, eps=float(eps))


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x^2) + eps) over the last dims, times weight."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    if eps is None:
        eps = _p.finfo(input.dtype).eps
    dims = tuple(range(input.dim() - len(normalized_shape), input.dim()))
    out = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    if weight is not None:
        out = out * weight
    return out


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise channels in `num_groups` groups over (group channels, spatial)."""
    n, c = input.shape[:2]
    if c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by "
                           f"num_groups, but got input of shape {list(input.shape)} and "
                           f"num_groups={num_groups}")
    x = input.reshape(n, num_groups, -1)
    mean = x.mean(-1, keepdim=True)
    d = x - mean
    out = (d * ((d * d).mean(-1, keepdim=True) + eps).rsqrt()).reshape(tuple(input.shape))
    shape = _channel_shape(input)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """x / (k + alpha * mean of x^2 over `size` neighbouring channels) ** beta (torch's
    definition: the window is centred, zero-padded, and averaged over `size`)."""
    dim = input.dim()
    if dim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {dim} dimensions)")
    if input.numel() == 0:
        return input
    sq = (input * input).unsqueeze(1)                      # (N, 1, C, ...)
    if dim == 3:
        div = avg_pool2d(pad(sq, (0, 0, size // 2, (size - 1) // 2)), (size, 1), stride=1)
    else:
        n, c = input.shape[:2]
        sq = sq.reshape(n, 1, c, input.shape[2], -1)
        div = avg_pool3d(pad(sq, (0, 0, 0, 0, size // 2, (size - 1) // 2)), (size, 1, 1),
                         stride=1)
    div = div.squeeze(1).reshape(tuple(input.shape))
    return input / (div * alpha + k) ** beta


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """x / max(||x||_p, eps) along `dim`."""
    if p == 2.0:
        norm = (input * input).sum(dim, keepdim=True).sqrt()
    else:
        norm = (input.abs() ** p).sum(dim, keepdim=True) ** (1.0 / p)
    return input / norm.clamp(min=eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """<x1, x2> / max(||x1|| * ||x2||, eps) along `dim` (torch's formula)."""
    w12 = (x1 * x2).sum(dim)
    n1 = (x1 * x1).sum(dim).sqrt().clamp(min=eps)
    n2 = (x2 * x2).sum(dim).sqrt().clamp(min=eps)
    return w12 / (n1 * n2)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim."""
    d = (x1 - x2 + eps).abs()
    if p == 2.0:
        return (d * d).sum(-1, keepdim=keepdim).sqrt()
    return (d ** p).sum(-1, keepdim=keepdim) ** (1.0 / p)


# -- attention ------------------------------------------------------------------------------

def _causal_mask(L, S, device):
    import numpy as np
    return _p.tensor(np.tril(np.ones((L, S), dtype=bool)), device=device)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """softmax(q @ k^T * scale + mask) @ v; a bool mask keeps True positions."""
    L, S = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if enable_gqa and key.shape[-3] != query.shape[-3]:
        rep = query.shape[-3] // key.shape[-3]
        key = key.repeat_interleave(rep, -3)
        value = value.repeat_interleave(rep, -3)
    scores = query.matmul(key.transpose(-2, -1)) * scale
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be "
                               "set when is_causal=True")
        scores = scores.masked_fill(~_causal_mask(L, S, query.device), float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == _p.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    attn = softmax(scores, -1)
    if dropout_p > 0.0:
        attn = dropout(attn, dropout_p, True)
    return attn.matmul(value)


from ._conv_functional import *  # noqa: E402,F401,F403
from ._loss_functional import *  # noqa: E402,F401,F403
from ._vision_functional import *  # noqa: E402,F401,F403
from ._extra_functional import *  # noqa: E402,F401,F403
