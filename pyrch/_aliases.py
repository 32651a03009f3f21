"""torch's top-level spellings of things pyrch has elsewhere: the in-place forms
(`torch.exp_(t)` is `t.exp_()`), the functional ops torch also exports at the top
level (`torch.conv2d`, `torch.layer_norm`, `torch.kl_div`, ... with torch's
top-level signatures: mostly positional, losses take `reduction` as an int, default
none), and
the predicates is_nonzero / is_same_size / is_signed.

>>> import pyrch
>>> t = pyrch.tensor([0.0, 1.0])
>>> pyrch.exp_(t) is t
True
"""
from ._tensor import Tensor
from .nn import functional as F

# torch's top-level in-place functions; each is exposed where Tensor has the method
_INPLACE = (
    "abs_ acos_ acosh_ addmv_ arccos_ arccosh_ arcsin_ arcsinh_ arctan_ arctanh_ asin_ asinh_ atan_ "
    "atanh_ ceil_ clamp_ clamp_max_ clamp_min_ clip_ cos_ cosh_ deg2rad_ detach_ erf_ erfc_ exp2_ "
    "exp_ expm1_ fill_ fix_ floor_ frac_ gcd_ i0_ lcm_ ldexp_ log10_ log1p_ log2_ log_ logit_ "
    "nan_to_num_ neg_ negative_ rad2deg_ reciprocal_ relu_ round_ rsqrt_ sigmoid_ sin_ sinc_ "
    "sinh_ sqrt_ square_ tan_ tanh_ trunc_ xlogy_ zero_").split()
_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}
# NOTE: called without `reduction`, torch 2.13's top-level losses do not reduce (their schema
# says 1, mean, but the result is per element); these aliases do the same.


def _method_caller(name):
    def fn(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"`input.{name}(...)`: in place, returns `input`."
    return fn


def _reduction(r):
    """torch's top-level losses take the reduction as an int (0 none, 1 mean, 2 sum)."""
    return _REDUCTIONS[r] if isinstance(r, int) else r


def is_nonzero(input):
    """True if the single-element `input` is not zero (errors for 0 or several elements)."""
    n = input.numel()
    if n == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(input.item())


def is_same_size(input, other):
    """True if the two tensors have the same shape."""
    return tuple(input.shape) == tuple(other.shape)


def is_signed(input):
    """True if `input`'s dtype is signed (floating point or a signed integer)."""
    return input.dtype.is_signed


# -- torch.<functional op>, with the top-level signatures -------------------------------------

def _same(name):
    """Names whose top-level signature is F's own (positional parameters in the same order)."""
    f = getattr(F, name)

    def fn(*args, **kwargs):
        return f(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.{name}: `nn.functional.{name}`."
    return fn


_SAME = ("conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d adaptive_avg_pool1d "
         "celu pixel_shuffle pixel_unshuffle channel_shuffle cosine_similarity pairwise_distance "
         "prelu bilinear rms_norm").split()


def max_pool1d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    """torch.max_pool1d: the pooled values only (an empty stride means kernel_size)."""
    return F.max_pool1d(input, kernel_size, stride or None, padding, dilation, ceil_mode)


def max_pool2d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    """torch.max_pool2d: the pooled values only (an empty stride means kernel_size)."""
    return F.max_pool2d(input, kernel_size, stride or None, padding, dilation, ceil_mode)


def max_pool3d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    """torch.max_pool3d: the pooled values only (an empty stride means kernel_size)."""
    return F.max_pool3d(input, kernel_size, stride or None, padding, dilation, ceil_mode)


def avg_pool1d(input, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True):
    """torch.avg_pool1d (an empty stride means kernel_size)."""
    return F.avg_pool1d(input, kernel_size, stride or None, padding, ceil_mode, count_include_pad)


def adaptive_max_pool1d(input, output_size):
    """torch.adaptive_max_pool1d: (values, indices)."""
    return F.adaptive_max_pool1d(input, output_size, return_indices=True)


def batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps,
               cudnn_enabled):
    """torch.batch_norm (weight and bias come before the running statistics)."""
    return F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps,
                  cudnn_enabled):
    """torch.instance_norm (weight and bias come before the running statistics)."""
    return F.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats,
                           momentum, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-05, cudnn_enabled=True):
    """torch.group_norm."""
    return F.group_norm(input, num_groups, weight, bias, eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05, cudnn_enable=True):
    """torch.layer_norm."""
    return F.layer_norm(input, normalized_shape, weight, bias, eps)


def dropout(input, p, train):
    """torch.dropout(input, p, train)."""
    return F.dropout(input, p, train)


def dropout_(input, p, train):
    """torch.dropout_: dropout in place."""
    return F.dropout(input, p, train, inplace=True)


def selu(input):
    """torch.selu."""
    return F.selu(input)


def selu_(input):
    """torch.selu_: selu in place."""
    return F.selu(input, inplace=True)


def celu_(input, alpha=1.0):
    """torch.celu_: celu in place."""
    return F.celu(input, alpha, inplace=True)


def threshold(input, threshold, value):
    """torch.threshold: `value` where input <= threshold, input elsewhere."""
    return F.threshold(input, threshold, value)


def threshold_(input, threshold, value):
    """torch.threshold_: threshold in place."""
    return F.threshold(input, threshold, value, inplace=True)


def kl_div(input, target, reduction=0, *, log_target=False):
    """torch.kl_div (reduction as an int: 0 none, 1 mean, 2 sum)."""
    reduction = _reduction(reduction)
    if reduction == "mean":     # F warns about 'mean'; torch's top-level kl_div does not
        return F.kl_div(input, target, reduction="none", log_target=log_target).mean()
    return F.kl_div(input, target, reduction=reduction, log_target=log_target)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction=0):
    """torch.cosine_embedding_loss (reduction as an int)."""
    return F.cosine_embedding_loss(input1, input2, target, margin, reduction=_reduction(reduction))


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction=0):
    """torch.margin_ranking_loss (reduction as an int)."""
    return F.margin_ranking_loss(input1, input2, target, margin, reduction=_reduction(reduction))


def hinge_embedding_loss(input, target, margin=1.0, reduction=0):
    """torch.hinge_embedding_loss (reduction as an int)."""
    return F.hinge_embedding_loss(input, target, margin, reduction=_reduction(reduction))


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-06, swap=False,
                        reduction=0):
    """torch.triplet_margin_loss (reduction as an int)."""
    return F.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap,
                                 reduction=_reduction(reduction))


def poisson_nll_loss(input, target, log_input, full, eps, reduction):
    """torch.poisson_nll_loss (every argument given; reduction as an int)."""
    return F.poisson_nll_loss(input, target, log_input, full, eps=eps,
                              reduction=_reduction(reduction))


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None, reduction=0):
    """torch.binary_cross_entropy_with_logits (pos_weight positional; reduction as an int)."""
    return F.binary_cross_entropy_with_logits(input, target, weight, reduction=_reduction(reduction),
                                              pos_weight=pos_weight)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction=0,
             zero_infinity=False):
    """torch.ctc_loss (reduction as an int)."""
    return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank,
                      _reduction(reduction), zero_infinity)


def alpha_dropout(input, p, train):
    """torch.alpha_dropout(input, p, train)."""
    return F.alpha_dropout(input, p, train)


def feature_alpha_dropout(input, p, train):
    """torch.feature_alpha_dropout(input, p, train)."""
    return F.feature_alpha_dropout(input, p, train)


_EXPLICIT = {f.__name__: f for f in (
    max_pool1d, max_pool2d, max_pool3d, avg_pool1d, adaptive_max_pool1d, batch_norm, instance_norm,
    group_norm, layer_norm, dropout, dropout_, selu, selu_, celu_, threshold, threshold_, kl_div,
    cosine_embedding_loss, margin_ranking_loss, hinge_embedding_loss, triplet_margin_loss,
    poisson_nll_loss, binary_cross_entropy_with_logits, ctc_loss, alpha_dropout,
    feature_alpha_dropout)}
# the F function each explicit alias calls
_NEEDS = {"dropout_": "dropout", "selu_": "selu", "celu_": "celu", "threshold_": "threshold"}


def install(namespace):
    """Add to `namespace` (the pyrch module dict) every alias whose target exists and that
    `namespace` does not have yet; add the Tensor predicates torch has as methods."""
    for name in _INPLACE:
        if name not in namespace and hasattr(Tensor, name):
            namespace[name] = _method_caller(name)
    for name in _SAME:
        if name not in namespace and hasattr(F, name):
            namespace[name] = _same(name)
    for name, fn in _EXPLICIT.items():
        # pyrch.layer_norm was the bare op (x, w, b, n=, eps=): torch's signature replaces it
        if (name not in namespace or name == "layer_norm") and hasattr(F, _NEEDS.get(name, name)):
            namespace[name] = fn
    for fn in (is_nonzero, is_same_size, is_signed):
        namespace.setdefault(fn.__name__, fn)
        if fn.__name__ not in Tensor.__dict__:
            setattr(Tensor, fn.__name__, fn)
