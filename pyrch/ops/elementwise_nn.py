"""Activation functions, with torch.nn.functional's signatures (`inplace=` included).

pyrch.nn.functional re-exports these. Hyperparameters such as `negative_slope`
are attributes; the C expression names them and the code generator feeds them
to the fused loop as constants.
"""
import math

import numpy as np

from .._dispatch import dispatch_inplace
from .registry import op
from .elementwise import _CPU_SPECIAL, c_binary, clamp_max, public, special, where, zeros_like
from .elementwise_math import sigmoid

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@op("relu", kind="elementwise", dtype="keep", cexpr="(a <= 0 ? 0 : a)")
def relu(xp, a):
    """max(input, 0); NaN stays NaN.

    >>> import pyrch
    >>> pyrch.relu(pyrch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    if a.dtype == bool:
        raise RuntimeError("Boolean inputs not supported for relu")
    return xp.maximum(a, 0)


@relu.backward
def _(g, out):
    return (relu_backward(g, out),)


# 0 where out <= 0, else g (torch's threshold_backward(g, out, 0)): one op, so eager mode
# runs one C pass (float32) instead of a compare and a select, and a fused program
# reads the forward's output once
@op("relu_backward", kind="elementwise", dtype="keep", method=False, cexpr="(b <= 0 ? 0 : a)")
def relu_backward(xp, g, y):
    """0 where y <= 0, else g, y being relu's output, as torch's threshold_backward: the
    gradient at exactly 0 is 0, a NaN or inf in g there gives 0, and a NaN input (whose
    relu is NaN) passes g through."""
    r = c_binary("relu_backward", g, y, min_size=1024, f64=False)
    if r is not None:
        return r
    return xp.where(y <= 0, g.dtype.type(0), g)


@relu_backward.backward
def _(gg, y, needs):
    # linear in g; piecewise constant in y (its gradient by y is 0 almost everywhere)
    return (relu_backward(gg, y) if needs[0] else None), (zeros_like(y) if needs[1] else None)


@public(relu)
def _relu(input, inplace=False):
    return dispatch_inplace(relu, input, (input,)) if inplace else relu(input)


@op("gelu", kind="elementwise", dtype="float",
    cexpr="0.5 * a * (1 + erf(a * 0.7071067811865476))")
def gelu(xp, a):
    """x * Phi(x) (approximate='none') or its tanh approximation (approximate='tanh')."""
    if a.dtype == np.float32 and type(a) is np.ndarray and a.size >= 4096:
        k = _CPU_SPECIAL._kernel("gelu")       # one vectorised C pass instead of five
        if k is not None:
            out = np.empty(a.shape, np.float32)
            k([a if all(st >= 0 for st in a.strides) else np.ascontiguousarray(a)], [out])
            return out
    out = special(xp).erf(a * a.dtype.type(_INV_SQRT2))
    out = (out + 1) * a * a.dtype.type(0.5)
    return out.astype(a.dtype, copy=False) if out.dtype != a.dtype else out


@gelu.backward
def _(g, a):
    return (gelu_backward(g, a),)


# g * gelu'(a), gelu'(a) = Phi(a) + a * phi(a); one op so that eager mode runs it as
# one C pass (float32) and a fused C program can share its erf with gelu's forward
@op("gelu_backward", kind="elementwise", dtype="float", method=False,
    cexpr="a * ((erf(b * 0.7071067811865476) + 1) * 0.5 + b * (exp(b * b * -0.5) * "
          "0.3989422804014327))")
def gelu_backward(xp, g, a):
    """g * d gelu(a) / da (the exact, erf form)."""
    out = c_binary("gelu_backward", g, a, min_size=4096, f64=False)
    if out is not None:
        return out
    t = a.dtype.type
    cdf = (special(xp).erf(a * t(_INV_SQRT2)) + 1) * t(0.5)
    pdf = xp.exp(a * a * t(-0.5)) * t(_INV_SQRT_2PI)
    out = g * (cdf + a * pdf)
    return out.astype(a.dtype, copy=False) if out.dtype != a.dtype else out


@gelu_backward.backward
def _(gg, g, a, needs):
    # d/dg = gelu'(a); d/da = g * gelu''(a), gelu''(a) = phi(a) * (2 - a^2)
    pdf = (a * a * -0.5).exp() * _INV_SQRT_2PI
    dg = gg * (((a * _INV_SQRT2).erf() + 1) * 0.5 + a * pdf) if needs[0] else None
    da = gg * g * pdf * (2 - a * a) if needs[1] else None
    return dg, da


@public(gelu)
def _gelu(input, approximate="none"):
    if approximate == "none":
        return gelu(input)
    if approximate != "tanh":
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate}")
    # a composite: tracing fuses it from its primitives' C expressions
    inner = (input + input * input * input * 0.044715) * _SQRT_2_OVER_PI
    return input * 0.5 * (inner.tanh() + 1)


@op("silu", kind="elementwise", dtype="float", cexpr="a / (1 + exp(-a))")
def silu(xp, a):
    """input * sigmoid(input) (swish)."""
    return a / (xp.exp(-a) + 1)


@silu.backward
def _(g, a):
    s = sigmoid(a)
    return (g * s * (a * (1 - s) + 1),)


@public(silu)
def _silu(input, inplace=False):
    return dispatch_inplace(silu, input, (input,)) if inplace else silu(input)


@op("mish", kind="elementwise", dtype="float", cexpr="a * tanh(log1p(exp(a)))")
def mish(xp, a):
    """input * tanh(softplus(input))."""
    return a * xp.tanh(xp.log1p(xp.exp(a)))


@mish.backward
def _(g, a):
    t = softplus(a).tanh()
    return (g * (t + a * sigmoid(a) * (1 - t * t)),)


@public(mish)
def _mish(input, inplace=False):
    return dispatch_inplace(mish, input, (input,)) if inplace else mish(input)


@op("softplus", kind="elementwise", dtype="float",
    cexpr="(a * beta > threshold ? a : log1p(exp(a * beta)) / beta)")
def softplus(xp, a, *, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * input)) / beta, linear where beta * input > threshold."""
    z = a * a.dtype.type(beta)
    return xp.where(z > threshold, a, xp.log1p(xp.exp(z)) / a.dtype.type(beta))


@softplus.backward
def _(g, a, beta, threshold):
    z = a * beta
    return (where(z > threshold, g, g * sigmoid(z)),)


@op("elu", kind="elementwise", dtype="float", cexpr="(a > 0 ? a : alpha * expm1(a))")
def elu(xp, a, *, alpha=1.0):
    """input where positive, alpha * (exp(input) - 1) elsewhere."""
    return xp.where(a > 0, a, xp.expm1(a) * a.dtype.type(alpha))


@elu.backward
def _(g, a, alpha):
    # exp of min(a, 0): the branch where() discards never overflows, so grad-of-grad
    # does not meet 0 * inf
    return (where(a > 0, g, g * clamp_max(a, 0.0).exp() * alpha),)


@public(elu)
def _elu(input, alpha=1.0, inplace=False):
    if inplace:
        return dispatch_inplace(elu, input, (input,), {"alpha": alpha})
    return elu(input, alpha=alpha)


@op("leaky_relu", kind="elementwise", dtype="float",
    cexpr="(a > 0 ? a : a * negative_slope)")
def leaky_relu(xp, a, *, negative_slope=0.01):
    """input where positive, negative_slope * input elsewhere."""
    return xp.where(a > 0, a, a * a.dtype.type(negative_slope))


@leaky_relu.backward
def _(g, a, negative_slope):
    return (where(a > 0, g, g * negative_slope),)   # NOTE: the slope side owns 0, as in torch


@public(leaky_relu)
def _leaky_relu(input, negative_slope=0.01, inplace=False):
    if inplace:
        return dispatch_inplace(leaky_relu, input, (input,), {"negative_slope": negative_slope})
    return leaky_relu(input, negative_slope=negative_slope)


@op("hardtanh", kind="elementwise", dtype="keep",
    cexpr="(a < min_val ? min_val : (a > max_val ? max_val : a))")
def hardtanh(xp, a, *, min_val=-1.0, max_val=1.0):
    """Clamp into [min_val, max_val]; the gradient is 0 at and beyond the bounds."""
    return xp.minimum(xp.maximum(a, a.dtype.type(min_val)), a.dtype.type(max_val))


@hardtanh.backward
def _(g, a, min_val, max_val):
    # NOTE: unlike clamp, torch's hardtanh passes no gradient at the bounds themselves
    return (where((a > min_val) & (a < max_val), g, 0.0),)


@public(hardtanh)
def _hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if inplace:
        return dispatch_inplace(hardtanh, input, (input,), {"min_val": min_val, "max_val": max_val})
    return hardtanh(input, min_val=min_val, max_val=max_val)
