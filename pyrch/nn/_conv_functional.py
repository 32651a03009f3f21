"""Convolutions, pools and interpolation for nn.functional.

All run on the primitives of ops/nn.py: `conv`/`conv_transpose` (GEMM), the
argmax-index primitives of the max pools, and `embedding` as a row gather
(its backward is a scatter-add, so pooled and resized values get exact
gradients). Average pools are a conv with a ones kernel divided by the window
counts; adaptive average pools and linear interpolation are matmuls with
small constant matrices built from the shapes alone.
"""
import math

import numpy as np

import pyrch as _p
from ..ops import nn as _nn

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "max_pool1d", "max_pool2d", "max_pool3d",
           "max_pool1d_with_indices", "max_pool2d_with_indices", "avg_pool1d", "avg_pool2d",
           "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "interpolate",
           "upsample", "upsample_nearest", "upsample_bilinear", "pixel_shuffle",
           "pixel_unshuffle"]


def _tuple(v, n, name="argument"):
    if isinstance(v, (tuple, list)):
        if len(v) == 1 and n > 1:
            return tuple(v) * n
        if len(v) != n:
            raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} "
                               f"values to match the convolution dimensions, but got "
                               f"{name}={list(v)}")
        return tuple(int(x) for x in v)
    return (int(v),) * n


def _batched(input, nsp, name):
    if input.dim() == nsp + 1:
        return input.reshape((1,) + tuple(input.shape)), True
    if input.dim() != nsp + 2:
        raise RuntimeError(f"Expected {nsp + 1}D (unbatched) or {nsp + 2}D (batched) input to "
                           f"{name}, but got input of size: {list(input.shape)}")
    return input, False


def _unbatch(out, was_unbatched):
    return out.reshape(tuple(out.shape[1:])) if was_unbatched else out


def _add_bias(out, bias):
    if bias is None:
        return out
    return out + bias.reshape((1, -1) + (1,) * (out.dim() - 2))


def _conv(nsp, input, weight, bias, stride, padding, dilation, groups):
    name = f"conv{nsp}d"
    x, unb = _batched(input, nsp, name)
    if weight.dim() != nsp + 2:
        raise RuntimeError(f"weight should have at least three dimensions" if nsp == 1 else
                           f"Expected {nsp + 2}-dimensional weight for {nsp + 2}-dimensional "
                           f"input {list(x.shape)}, but got {weight.dim()}-dimensional weight "
                           f"of size {list(weight.shape)} instead")
    stride = _tuple(stride, nsp, "stride")
    dilation = _tuple(dilation, nsp, "dilation")
    kernel = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0),) * nsp
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            pads = tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                         for k, d in zip(kernel, dilation))
        else:
            raise ValueError(f"Invalid padding string '{padding}', should be one of "
                             "{'valid', 'same'}")
    else:
        pads = tuple((p, p) for p in _tuple(padding, nsp, "padding"))
    if x.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected "
            f"input{list(x.shape)} to have {weight.shape[1] * groups} channels, but got "
            f"{x.shape[1]} channels instead")
    out = _nn.conv(x, weight, stride=stride, padding=pads, dilation=dilation, groups=groups)
    return _unbatch(_add_bias(out, bias), unb)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d convolution of (N, C, L) input with (O, C/groups, K) weight."""
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d convolution of (N, C, H, W) input with (O, C/groups, kH, kW) weight."""
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-d convolution of (N, C, D, H, W) input."""
    return _conv(3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(nsp, input, weight, bias, stride, padding, output_padding, groups,
                    dilation, output_size=None):
    x, unb = _batched(input, nsp, f"conv_transpose{nsp}d")
    stride = _tuple(stride, nsp, "stride")
    padding = _tuple(padding, nsp, "padding")
    dilation = _tuple(dilation, nsp, "dilation")
    output_padding = _tuple(output_padding, nsp, "output_padding")
    kernel = tuple(weight.shape[2:])
    size = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, s, p, d, k, op in
                 zip(x.shape[2:], stride, padding, dilation, kernel, output_padding))
    if output_size is not None:
        size = tuple(output_size)[-nsp:]
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= s and op >= d:
            raise RuntimeError("output padding must be smaller than either stride or dilation, "
                               f"but got output_padding={list(output_padding)}")
    if x.shape[1] != weight.shape[0]:
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected input"
            f"{list(x.shape)} to have {weight.shape[0]} channels, but got {x.shape[1]} "
            "channels instead")
    out = _nn.conv_transpose(x, weight, size=size, stride=stride,
                             padding=tuple((p, p) for p in padding), dilation=dilation,
                             groups=groups)
    return _unbatch(_add_bias(out, bias), unb)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """1-d transposed convolution (weight (C_in, C_out/groups, K))."""
    return _conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-d transposed convolution (weight (C_in, C_out/groups, kH, kW))."""
    return _conv_transpose(2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """3-d transposed convolution."""
    return _conv_transpose(3, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


# -- pooling ---------------------------------------------------------------------------

def _gather_planes(x, idx):
    """x (N, C, *sp), idx (N, C, *out) of flat indices into each plane -> values."""
    n, c = x.shape[:2]
    plane = 1
    for s in x.shape[2:]:
        plane *= s
    offs = _p.arange(n * c, dtype=_p.int64, device=x.device).reshape(
        (n, c) + (1,) * (idx.dim() - 2)) * plane
    out = _nn.embedding(x.reshape(-1, 1), idx + offs)
    return out.reshape(tuple(idx.shape))


def _max_pool(nsp, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x, unb = _batched(input, nsp, f"max_pool{nsp}d")
    kernel = _tuple(kernel_size, nsp, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else \
        _tuple(stride, nsp, "stride")
    padding = _tuple(padding, nsp, "padding")
    dilation = _tuple(dilation, nsp, "dilation")
    for p, k, d in zip(padding, kernel, dilation):
        if p > (d * (k - 1) + 1) // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got "
                               f"pad={p}, kernel_size={k} and dilation={d}")
    idx = _nn.max_pool_indices(x.detach(), kernel=kernel, stride=stride, padding=padding,
                               dilation=dilation, ceil_mode=bool(ceil_mode))
    out = _unbatch(_gather_planes(x, idx), unb)
    if return_indices:
        return out, _unbatch(idx, unb)
    return out


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over sliding windows of (N, C, L) input."""
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over sliding windows of (N, C, H, W) input."""
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over sliding windows of (N, C, D, H, W) input."""
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=True):
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=True):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _avg_counts(n, k, s, p, out, include_pad):
    o = np.arange(out) * s - p
    end = np.minimum(o + k, n + p)
    if include_pad:
        return (end - o).astype(np.float64)
    return (np.minimum(end, n) - np.maximum(o, 0)).astype(np.float64)


def _avg_pool(nsp, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    x, unb = _batched(input, nsp, f"avg_pool{nsp}d")
    kernel = _tuple(kernel_size, nsp, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else \
        _tuple(stride, nsp, "stride")
    padding = _tuple(padding, nsp, "padding")
    for p, k in zip(padding, kernel):
        if p > k // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got "
                               f"pad={p}, kernel_size={k} and dilation=1")
    sp = tuple(x.shape[2:])
    out = tuple(_nn._pool_out(n, k, s, p, 1, ceil_mode)
                for n, k, s, p in zip(sp, kernel, stride, padding))
    pads = tuple((p, max((o - 1) * s + k - n - p, p))
                 for n, k, s, p, o in zip(sp, kernel, stride, padding, out))
    n, c = x.shape[:2]
    ones = _p.ones((1, 1) + kernel, dtype=x.dtype, device=x.device)
    summed = _nn.conv(x.reshape((n * c, 1) + sp), ones, stride=stride, padding=pads,
                      dilation=(1,) * nsp)
    summed = summed[(slice(None), slice(None)) + tuple(slice(0, o) for o in out)] \
        if tuple(summed.shape[2:]) != out else summed
    summed = summed.reshape((n, c) + out)
    if divisor_override:
        res = summed / float(divisor_override)
    else:
        cnt = np.ones(())
        for i in range(nsp):
            cnt = np.multiply.outer(cnt, _avg_counts(sp[i], kernel[i], stride[i], padding[i],
                                                     out[i], count_include_pad))
        res = summed / _p.tensor(cnt, dtype=x.dtype, device=x.device)
    return _unbatch(res, unb)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Mean over sliding windows of (N, C, L) input."""
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over sliding windows of (N, C, H, W) input."""
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over sliding windows of (N, C, D, H, W) input."""
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _out_size(output_size, sp):
    nsp = len(sp)
    if isinstance(output_size, int):
        output_size = (output_size,) * nsp
    output_size = tuple(output_size)
    if len(output_size) == 1 and nsp > 1:
        output_size = output_size * nsp
    return tuple(n if o is None else int(o) for o, n in zip(output_size, sp))


def _apply_matrices(x, mats):
    """Contract each spatial dim i of x (N, C, *sp) with mats[i] (out_i, in_i)."""
    nd = x.dim()
    for i, m in enumerate(mats):
        if m is None:
            continue
        d = 2 + i
        t = _p.tensor(m, dtype=x.dtype, device=x.device)
        if d == nd - 1:
            x = x.matmul(t.T)
        else:
            perm = list(range(nd))
            perm[d], perm[nd - 1] = perm[nd - 1], perm[d]
            x = x.permute(*perm).matmul(t.T).permute(*perm)
    return x


def _adaptive_avg_matrix(n, out):
    m = np.zeros((out, n))
    for i, (s, e) in enumerate(_nn.adaptive_ranges(n, out)):
        m[i, s:e] = 1.0 / (e - s)
    return m


def _adaptive_avg(nsp, input, output_size):
    x, unb = _batched(input, nsp, f"adaptive_avg_pool{nsp}d")
    sp = tuple(x.shape[2:])
    out = _out_size(output_size, sp)
    if all(o == 1 for o in out):
        res = x.mean(tuple(range(2, 2 + nsp)), keepdim=True)
    else:
        res = _apply_matrices(x, [None if o == n else _adaptive_avg_matrix(n, o)
                                  for n, o in zip(sp, out)])
    return _unbatch(res, unb)


def adaptive_avg_pool1d(input, output_size):
    """Average pool to a fixed output length."""
    return _adaptive_avg(1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """Average pool to a fixed (H, W) output size."""
    return _adaptive_avg(2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    """Average pool to a fixed (D, H, W) output size."""
    return _adaptive_avg(3, input, output_size)


def _adaptive_max(nsp, input, output_size, return_indices):
    x, unb = _batched(input, nsp, f"adaptive_max_pool{nsp}d")
    out = _out_size(output_size, tuple(x.shape[2:]))
    idx = _nn.adaptive_max_pool_indices(x.detach(), output_size=out)
    res = _unbatch(_gather_planes(x, idx), unb)
    return (res, _unbatch(idx, unb)) if return_indices else res


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max pool to a fixed output length."""
    return _adaptive_max(1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pool to a fixed (H, W) output size."""
    return _adaptive_max(2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Max pool to a fixed (D, H, W) output size."""
    return _adaptive_max(3, input, output_size, return_indices)


# -- interpolation -----------------------------------------------------------------------

def _linear_matrix(n, out, align_corners, scale, dtype, cubic=False):
    o = np.arange(out, dtype=dtype)
    if align_corners:
        src = o * dtype((n - 1) / (out - 1) if out > 1 else 0.0)
    else:
        src = dtype(scale) * (o + dtype(0.5)) - dtype(0.5)
        if not cubic:
            src = np.maximum(src, 0)
    m = np.zeros((out, n), dtype=np.float64)
    rows = np.arange(out)
    if cubic:
        i0 = np.floor(src).astype(np.int64)
        t = (src - i0).astype(np.float64)
        a = -0.75
        ws = [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
              ((a + 2) * t - (a + 3)) * t * t + 1,
              ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1]
        ws.append(1.0 - ws[0] - ws[1] - ws[2])
        for j, w in enumerate(ws):
            np.add.at(m, (rows, np.clip(i0 - 1 + j, 0, n - 1)), w)
        return m
    i0 = np.floor(src).astype(np.int64)
    i0 = np.minimum(i0, n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = (src - i0).astype(np.float64)
    np.add.at(m, (rows, i0), 1.0 - lam)
    np.add.at(m, (rows, i1), lam)
    return m


def _aa_filter(mode, x):
    """torch's antialias kernels on |x|: tent, Keys cubic (a = -0.5, as PIL) or Lanczos-3."""
    x = np.abs(x)
    if mode == "bilinear":
        return np.maximum(1.0 - x, 0.0)
    if mode == "bicubic":
        a = -0.5
        near = ((a + 2) * x - (a + 3)) * x * x + 1
        far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
        return np.where(x < 1, near, np.where(x < 2, far, 0.0))
    return np.where(x < 3, np.sinc(x) * np.sinc(x / 3), 0.0)


_AA_MODES = ("bilinear", "bicubic", "lanczos")


def _antialias_matrix(n, out, scale, dtype, mode):
    """(out, n) weights of torch's antialiased resize along one axis: the filter, centred
    on each output pixel, is stretched by the scale when downsampling (scale > 1) and each
    row is normalised to sum 1 (the filter is zero outside its support)."""
    scale = dtype(scale)
    inv = dtype(1) / scale if scale >= 1 else dtype(1)
    center = scale * (np.arange(out, dtype=dtype) + dtype(0.5))
    j = np.arange(n, dtype=dtype)
    w = _aa_filter(mode, ((j - center[:, None] + dtype(0.5)) * inv).astype(np.float64))
    total = w.sum(1, keepdims=True)
    return np.divide(w, total, out=w, where=total != 0)


def _nearest_index(n, out, scale, exact):
    if out == n:
        return np.arange(out)
    s = np.float32(scale)
    o = np.arange(out, dtype=np.float32)
    src = np.floor((o + np.float32(0.5)) * s) if exact else np.floor(o * s)
    return np.minimum(src.astype(np.int64), n - 1)


_LINEAR_MODES = {"linear": 1, "bilinear": 2, "trilinear": 3, "bicubic": 2}


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of (N, C, *sp) input: nearest, nearest-exact, area,
    (bi/tri)linear (align_corners) or bicubic; antialias=True (4-D bilinear, bicubic or
    lanczos) widens the filter by the scale when downsampling, as torch and PIL do."""
    nsp = input.dim() - 2
    sp = tuple(input.shape[2:])
    if mode in ("nearest", "nearest-exact", "area") and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined" if size is not None
                         else "either size or scale_factor should be defined")
    if antialias and not (mode in _AA_MODES and input.dim() == 4):
        raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos modes "
                         "and requires a 4-D tensor as input")
    if mode == "lanczos":
        if input.dim() != 4:
            raise NotImplementedError(f"Got {input.dim()}D input, but lanczos mode needs 4D input")
        if align_corners:
            raise ValueError("Lanczos mode does not support align_corners=True")
        if not antialias:
            raise ValueError("Lanczos mode requires antialias=True")
    if mode in _LINEAR_MODES and _LINEAR_MODES[mode] != nsp:
        raise NotImplementedError(f"Got {input.dim()}D input, but {mode} mode needs "
                                  f"{_LINEAR_MODES[mode] + 2}D input")
    if size is not None:
        out = _tuple(size, nsp, "size")
        scales = [n / o for n, o in zip(sp, out)]
    else:
        sf = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else \
            (scale_factor,) * nsp
        out = tuple(int(math.floor(n * f)) for n, f in zip(sp, sf))
        scales = [n / o for n, o in zip(sp, out)] if recompute_scale_factor else \
            [1.0 / f for f in sf]
    x = input
    dt = np.float64 if input.dtype == _p.float64 else np.float32
    if antialias:
        if align_corners:
            scales = [(n - 1) / (o - 1) if o > 1 else 0.0 for n, o in zip(sp, out)]
        return _apply_matrices(x, [_antialias_matrix(n, o, s, dt, mode)
                                   for n, o, s in zip(sp, out, scales)])
    if mode in ("nearest", "nearest-exact"):
        idx = [_nearest_index(n, o, s, mode == "nearest-exact") for n, o, s in zip(sp, out, scales)]
        flat = np.zeros((), dtype=np.int64)
        for n, ix in zip(sp, idx):
            flat = np.add.outer(flat * n, ix)
        it = _p.tensor(np.broadcast_to(flat, tuple(x.shape[:2]) + out).copy(), device=x.device)
        return _gather_planes(x, it)
    if mode == "area":
        return _adaptive_avg(nsp, input, out)
    if mode in _LINEAR_MODES:
        mats = [None if (o == n and not align_corners and s == 1.0) else
                _linear_matrix(n, o, bool(align_corners), s, dt, mode == "bicubic")
                for n, o, s in zip(sp, out, scales)]
        return _apply_matrices(x, mats)
    raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got "
                              f"{input.dim()}D) for the modes: nearest | linear | bilinear | bicubic "
                              f"| trilinear | lanczos | area | nearest-exact (got {mode})")


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of interpolate."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def pixel_shuffle(input, upscale_factor):
    """(*, C*r^2, H, W) -> (*, C, H*r, W*r)."""
    r = upscale_factor
    *lead, c, h, w = input.shape
    x = input.reshape(tuple(lead) + (c // (r * r), r, r, h, w))
    k = len(lead)
    x = x.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return x.reshape(tuple(lead) + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H*r, W*r) -> (*, C*r^2, H, W)."""
    r = downscale_factor
    *lead, c, h, w = input.shape
    k = len(lead)
    x = input.reshape(tuple(lead) + (c, h // r, r, w // r, r))
    x = x.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return x.reshape(tuple(lead) + (c * r * r, h // r, w // r))
