"""Sliding blocks, spatial transformers, channel shuffle and the CTC loss for
nn.functional.

`unfold`/`fold` call the adjoint primitives `im2col`/`col2im` (ops/vision.py).
`affine_grid` is a matmul with a constant base grid; `grid_sample` is a composite:
the sample points' corner indices (bicubic: the 4x4 taps) are gathered with `embedding`
(whose backward scatter-adds into the input), weighted by interpolation weights computed
from the grid with differentiable ops, so gradients reach both the input and the grid.
`ctc_loss` reduces the per-sample negative log-likelihoods of the
`ctc_neg_log_likelihood` primitive.
"""
import itertools
import warnings

import numpy as np

import pyrch as _p
from .._dtype import TORCH_NAMES
from ..ops import vision as _vision
from ..ops.nn import embedding as _embedding

__all__ = ["unfold", "fold", "affine_grid", "grid_sample", "ctc_loss", "channel_shuffle"]


def _pair(v, name):
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise RuntimeError(f"It is expected {name} equals to 2, but got size {len(v)}")
        return tuple(int(x) for x in v)
    return (int(v), int(v))


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding local blocks of (N, C, H, W) (or unbatched (C, H, W)) input as columns
    (N, C*kh*kw, L) (im2col).

    >>> import pyrch
    >>> import pyrch.nn.functional as F
    >>> F.unfold(pyrch.ones(1, 2, 3, 4), 2).shape
    pyrch.Size([1, 8, 6])
    """
    nd = input.dim()
    if nd < 3:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-max(nd, 1)}, "
                         f"{max(nd, 1) - 1}], but got 2)")
    geo = dict(kernel_size=_pair(kernel_size, "kernel_size"), dilation=_pair(dilation, "dilation"),
               padding=_pair(padding, "padding"), stride=_pair(stride, "stride"))
    if nd == 3 and 0 not in input.shape:
        return _vision.im2col(input.unsqueeze(0), **geo).squeeze(0)
    return _vision.im2col(input, **geo)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum columns (N, C*kh*kw, L) (or unbatched (C*kh*kw, L)) into an (N, C, *output_size)
    image, adding overlapping blocks (col2im; the adjoint of `unfold`).

    >>> import pyrch
    >>> import pyrch.nn.functional as F
    >>> F.fold(pyrch.ones(1, 4, 4), (3, 3), 2)[0, 0]
    tensor([[1., 2., 1.],
            [2., 4., 2.],
            [1., 2., 1.]])
    """
    geo = dict(output_size=_pair(output_size, "output_size"),
               kernel_size=_pair(kernel_size, "kernel_size"), dilation=_pair(dilation, "dilation"),
               padding=_pair(padding, "padding"), stride=_pair(stride, "stride"))
    if input.dim() == 2 and 0 not in input.shape:
        return _vision.col2im(input.unsqueeze(0), **geo).squeeze(0)
    return _vision.col2im(input, **geo)


_ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to align_corners=False "
                  "since 1.3.0. Please specify align_corners=True if the old behavior is desired. "
                  "See the documentation of grid_sample for details.")


def _size_str(shape):
    return f"torch.Size({list(shape)})"


def _base_coords(n, align_corners, dtype):
    """n points spanning [-1, 1] (pixel centres unless align_corners); [0] for n == 1."""
    if n <= 1:
        return np.zeros(max(n, 1), dtype)
    r = np.linspace(-1.0, 1.0, n)
    return (r if align_corners else r * (n - 1) / n).astype(dtype)


def affine_grid(theta, size, align_corners=None):
    """Sampling grid (N, H, W, 2) (or (N, D, H, W, 3)) of the affine maps theta (N, 2, 3)
    (or (N, 3, 4)) applied to the normalised output coordinates, for `grid_sample`.

    >>> import pyrch
    >>> import pyrch.nn.functional as F
    >>> F.affine_grid(pyrch.tensor([[[1.0, 0, 0], [0, 1, 0]]]), (1, 1, 2, 2), False)[0, 0]
    tensor([[-0.5000, -0.5000],
            [ 0.5000, -0.5000]])
    """
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if not theta.dtype.is_floating_point:
        raise ValueError(f"Expected theta to have floating point type, but got torch.{theta.dtype.name}")
    size = tuple(int(s) for s in size)
    if len(size) == 4:
        if theta.dim() != 3 or tuple(theta.shape[-2:]) != (2, 3):
            raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size "
                             f"{size}. Got {_size_str(theta.shape)}.")
    elif len(size) == 5:
        if theta.dim() != 3 or tuple(theta.shape[-2:]) != (3, 4):
            raise ValueError(f"Expected a batch of 3D affine matrices of shape Nx3x4 for size "
                             f"{size}. Got {_size_str(theta.shape)}.")
    else:
        raise NotImplementedError("affine_grid only supports 4D and 5D sizes, for 2D and 3D "
                                  f"affine transforms, respectively. Got size {size}.")
    if min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    sp = size[2:]
    if align_corners and min(sp) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids "
                      "when align_corners=True. This is not an intended use case of affine_grid. "
                      "See the documentation of affine_grid for details.", stacklevel=2)
    n, k = size[0], len(sp)
    if theta.shape[0] != n:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{n}, {k + 1}] but got: [{theta.shape[0]}, {k + 1}].")
    dt = theta.dtype.np
    # base[..., i] is the i-th coordinate (x along the last spatial dim), then a 1
    axes = [_base_coords(s, align_corners, dt) for s in reversed(sp)]
    mesh = np.meshgrid(*reversed(axes), indexing="ij")        # each shaped sp
    base = np.stack(list(reversed(mesh)) + [np.ones(sp, dt)], axis=-1).reshape(-1, k + 1)
    base = _p.tensor(base, dtype=theta.dtype, device=theta.device)
    return base.matmul(theta.transpose(1, 2)).reshape((n,) + sp + (k,))


def _grid_checks(input, grid, mode):
    ishape, gshape = list(input.shape), list(grid.shape)
    if grid.dim() == 0 or input.dim() == 0 or input.shape[0] != grid.shape[0]:
        raise RuntimeError("grid_sampler(): expected grid and input to have same batch size, but "
                           f"got input with sizes {ishape} and grid with sizes {gshape}")
    if grid.shape[-1] != input.dim() - 2:
        raise RuntimeError(f"grid_sampler(): expected grid to have size {input.dim() - 2} in last "
                           f"dimension, but got grid with sizes {gshape}")
    for i in range(2, input.dim()):
        if input.shape[i] == 0:
            raise RuntimeError("grid_sampler(): expected input to have non-empty spatial "
                               f"dimensions, but input has sizes {ishape} with dimension {i} "
                               "being empty")
    nd = 4 if input.dim() == 4 else 5
    if mode == "bicubic" and input.dim() != 4:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    if input.dim() != nd or grid.dim() != nd:
        raise RuntimeError(f"grid_sampler(): expected {nd}D input and grid with same number of "
                           f"dimensions, but got input with sizes {ishape} and grid with sizes "
                           f"{gshape}")
    if input.dtype is not grid.dtype:
        raise RuntimeError(f"expected scalar type {TORCH_NAMES.get(input.dtype.name)} but found "
                           f"{TORCH_NAMES.get(grid.dtype.name)}")


def _unnormalize(c, size, align_corners):
    """Normalised coordinates c ([-1, 1] spans the image) -> pixel coordinates in an axis of
    `size`, unclipped."""
    if align_corners:
        return (c + 1) * ((size - 1) / 2)
    return ((c + 1) * size - 1) / 2


def _pad_coord(c, size, padding_mode, align_corners):
    """Pixel coordinates c moved into [0, size - 1] as `padding_mode` says: clipped ('border'),
    reflected about the image's edges then clipped ('reflection'), or kept ('zeros')."""
    if padding_mode == "border":
        c = c.clamp(0, size - 1)
    elif padding_mode == "reflection":
        lo, hi = (0.0, float(size - 1)) if align_corners else (-0.5, size - 0.5)
        if hi == lo:
            c = c * 0
        else:
            span = hi - lo
            d = (c - lo).abs()
            flips = (d / span).floor().detach()
            extra = d - flips * span
            odd = (flips.remainder(2) == 1)
            c = _p.where(odd, (span - extra) + lo, extra + lo).clamp(0, size - 1)
    return c


def _source_coord(c, size, padding_mode, align_corners):
    """Normalised coordinates c in [-1, 1] -> padded pixel coordinates in an axis of `size`."""
    return _pad_coord(_unnormalize(c, size, align_corners), size, padding_mode, align_corners)


_CUBIC_A = -0.75


def _cubic_weights(t):
    """The four weights of the cubic convolution kernel (A = -0.75) for the taps at offsets
    -1, 0, 1, 2 from floor(x), where t = x - floor(x) in [0, 1)."""
    a = _CUBIC_A

    def near(d):           # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):            # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _gather(rows, flat, n, plane):
    """rows (N*P, C) picked at per-sample flat spatial indices flat (N, *out) -> (N, *out, C)."""
    offs = _p.arange(n, dtype=_p.int64, device=flat.device).reshape((n,) + (1,) * (flat.dim() - 1))
    return _embedding(rows, flat + offs * plane)


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Sample input (N, C, H, W) (or (N, C, D, H, W)) at the normalised points grid
    (N, Ho, Wo, 2) (or (N, Do, Ho, Wo, 3); x first), bilinearly, at the nearest pixel, or
    (4-D input only) bicubically; outside points read zeros, the border, or the reflected image.

    'bicubic' weights the 4x4 pixels around the unclipped source point with the cubic
    convolution kernel (A = -0.75); with 'border' or 'reflection' padding each of those 16
    pixel indices is clipped or reflected on its own (the point itself is not), with 'zeros'
    the pixels outside the image read 0.

    >>> import pyrch
    >>> import pyrch.nn.functional as F
    >>> x = pyrch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    >>> F.grid_sample(x, pyrch.zeros(1, 1, 1, 2), align_corners=True)
    tensor([[[[1.5000]]]])
    """
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError("nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' "
                         f"or 'bicubic', but got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', "
                         f"'border', or 'reflection', but got: '{padding_mode}'")
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    _grid_checks(input, grid, mode)
    n, c = input.shape[:2]
    sp = tuple(input.shape[2:])
    k = len(sp)
    out_sp = tuple(grid.shape[1:-1])
    plane = int(np.prod(sp))
    rows = input.reshape(n, c, plane).transpose(1, 2).reshape(n * plane, c)
    # coordinate i of the grid indexes spatial dim k-1-i (x is the last, width)
    sizes = [sp[k - 1 - i] for i in range(k)]
    strides = [int(np.prod(sp[k - i:])) for i in range(k)]       # element stride of coord i
    if mode == "bicubic":
        # per axis: the four tap indices (padded one by one, detached) and their weights
        axes = []
        for i, s in enumerate(sizes):
            x = _unnormalize(grid[..., i], s, align_corners)
            lo = x.detach().floor()
            taps = [_pad_coord(lo + (j - 1), s, padding_mode, align_corners) for j in range(4)]
            axes.append(list(zip(taps, _cubic_weights(x - lo))))
        corners = []
        for per_axis in itertools.product(*axes):
            w = None
            for _, t in per_axis:
                w = t if w is None else w * t
            corners.append(([x for x, _ in per_axis], w))
    else:
        coords = [_source_coord(grid[..., i], s, padding_mode, align_corners)
                  for i, s in enumerate(sizes)]
        if mode == "nearest":
            idx = [x.detach().round() for x in coords]        # round half to even, as torch
            corners = [(idx, None)]
        else:
            lo = [x.detach().floor() for x in coords]
            frac = [x - f for x, f in zip(coords, lo)]
            corners = []
            for bits in itertools.product((0, 1), repeat=k):
                w = None
                for b, f in zip(bits, frac):
                    t = f if b else 1 - f
                    w = t if w is None else w * t
                corners.append(([f + b for f, b in zip(lo, bits)], w))
    out = None
    for idx, w in corners:
        valid = None
        flat = 0
        for x, s, st in zip(idx, sizes, strides):
            ok = (x >= 0) & (x <= s - 1)
            valid = ok if valid is None else valid & ok
            flat = flat + x.clamp(0, s - 1).to(_p.int64) * st
        mask = valid.to(grid.dtype)
        w = mask if w is None else w * mask
        v = _gather(rows, flat, n, plane) * w.unsqueeze(-1)
        out = v if out is None else out + v
    return out.reshape((n, -1, c)).transpose(1, 2).reshape((n, c) + out_sp)


def _lengths(v, name, device):
    if isinstance(v, _p.Tensor):
        if v.dtype.is_floating_point or v.dtype is _p.bool:
            raise RuntimeError(f"{name} must be integral")
        return v.reshape(-1).to(_p.int64)
    if isinstance(v, int):
        v = [v]
    return _p.tensor([int(x) for x in v], dtype=_p.int64, device=device)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    """Connectionist Temporal Classification loss of log_probs (T, N, C) (or unbatched
    (T, C)) against targets padded (N, S) or concatenated (sum(target_lengths),).

    'mean' divides each sample's loss by its target length, then averages the batch.

    >>> import pyrch
    >>> import pyrch.nn.functional as F
    >>> lp = pyrch.zeros(2, 1, 2).log_softmax(2)
    >>> F.ctc_loss(lp, pyrch.tensor([[1]]), [2], [1], reduction="sum")
    tensor(0.2877)
    """
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    unbatched = log_probs.dim() != 3           # (T, C); like torch, other ranks fail below
    if unbatched:
        log_probs = log_probs.unsqueeze(1)
        targets = targets.unsqueeze(0)
    il = _lengths(input_lengths, "input_lengths", log_probs.device)
    tl = _lengths(target_lengths, "target_lengths", log_probs.device)
    nll = _vision.ctc_neg_log_likelihood(log_probs, targets, il, tl, blank=int(blank),
                                         zero_infinity=bool(zero_infinity))
    if reduction == "none":
        return nll.squeeze(0) if unbatched else nll
    if reduction == "sum":
        return nll.sum()
    return (nll / tl.clamp(min=1).to(nll.dtype)).mean()


def channel_shuffle(input, groups):
    """Rearrange the C channels of (N, C, *) input as (groups, C/groups) -> (C/groups, groups).

    >>> import pyrch
    >>> import pyrch.nn.functional as F
    >>> F.channel_shuffle(pyrch.arange(4.).reshape(1, 4, 1), 2).flatten()
    tensor([0., 2., 1., 3.])
    """
    if input.dim() <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with sizes "
                           f"{list(input.shape)}")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of "
                           f"groups:{groups}")
    c = input.shape[1]
    if c % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels and "
                           f"{groups} groups.")
    n, rest = input.shape[0], tuple(input.shape[2:])
    return input.reshape((n, groups, c // groups) + rest).transpose(1, 2).reshape(
        tuple(input.shape))
