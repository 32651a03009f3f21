"""Vision and sequence primitives: sliding blocks (im2col / col2im, Tensor.unfold)
and the CTC loss.

`im2col` and `col2im` are adjoint linear maps (col2im sums every block back where
im2col read it), so each one's backward is the other; `unfold` and
`unfold_backward` are the same pair along one dimension. The CTC loss runs the
alpha (and, for its gradient, beta) recursion in log space as a loop over time,
vectorised over the batch and the extended label sequence.
"""
import numpy as np

from .registry import op
from .nn import _windows, _c_cols, _c_conv, _as_2d


# -- im2col / col2im (F.unfold / F.fold) -----------------------------------------------

def _blocks(spatial, kernel_size, dilation, padding, stride):
    """Number of sliding blocks per spatial dim; torch's messages for bad geometry."""
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = kernel_size, dilation, padding, stride
    if kh <= 0 or kw <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got kernel_height: {kh} "
                           f"kernel_width: {kw}")
    if dh <= 0 or dw <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got dilation_height: {dh} "
                           f"dilation_width: {dw}")
    if ph < 0 or pw < 0:
        raise RuntimeError(f"padding should be non-negative, but got pad_height: {ph} "
                           f"pad_width: {pw}")
    if sh <= 0 or sw <= 0:
        raise RuntimeError(f"stride should be greater than zero, but got stride_height: {sh} "
                           f"stride_width: {sw}")
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                 for n, k, d, p, s in zip(spatial, kernel_size, dilation, padding, stride))


def _im2col_blocks(shape, kernel_size, dilation, padding, stride):
    if len(shape) != 4 or 0 in shape[1:]:
        raise RuntimeError("Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and "
                           f"other non-zero dimensions for input, but got: {list(shape)}")
    out = _blocks(shape[2:], kernel_size, dilation, padding, stride)
    if any(o < 1 for o in out):
        raise RuntimeError(
            f"Given input with spatial size ({shape[2]}, {shape[3]}), kernel_size="
            f"{tuple(kernel_size)}, dilation={tuple(dilation)}, padding={tuple(padding)}, "
            f"calculated shape of the array of sliding blocks as {out}, but its components "
            "must be at least one.")
    return out


def _col2im_blocks(shape, output_size, kernel_size, dilation, padding, stride):
    if len(shape) != 3 or 0 in shape[1:]:
        raise RuntimeError("Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch "
                           f"size and non-zero dimensions for input, but got: {list(shape)}")
    k = kernel_size[0] * kernel_size[1]
    out = _blocks(output_size, kernel_size, dilation, padding, stride)
    if shape[1] % k:
        raise RuntimeError("Expected size of input's dimension 1 to be divisible by the product of "
                           f"kernel_size, but got input.size(1)={shape[1]} and "
                           f"kernel_size={tuple(kernel_size)}.")
    if any(o < 1 for o in out) or out[0] * out[1] != shape[2]:
        raise RuntimeError(
            f"Given output_size={tuple(output_size)}, kernel_size={tuple(kernel_size)}, "
            f"dilation={tuple(dilation)}, padding={tuple(padding)}, stride={tuple(stride)}, "
            "expected size of input's dimension 2 to match the calculated number of sliding "
            f"blocks {max(out[0], 0)} * {max(out[1], 0)} = {max(out[0], 0) * max(out[1], 0)}, "
            f"but got input.size(2)={shape[2]}.")
    return out


def _float_only(name, dt):
    if np.dtype(dt).kind != "f":
        from .._dtype import NP2DT, TORCH_NAMES
        raise NotImplementedError(f"\"{name}\" not implemented for "
                                  f"'{TORCH_NAMES.get(NP2DT[np.dtype(dt)].name, str(dt))}'")


@op("im2col", kind="opaque", dtype="keep", method=False)
def im2col(xp, x, *, kernel_size, dilation, padding, stride):
    """Sliding blocks of x (N, C, H, W) as columns (N, C*kh*kw, L): F.unfold."""
    _float_only("im2col_out_cpu", x.dtype)
    out = _im2col_blocks(x.shape, kernel_size, dilation, padding, stride)
    n, c = x.shape[:2]
    pads = tuple((p, p) for p in padding)
    if n:
        cols = _c_cols(x, kernel_size, stride, pads, dilation, 1, out)    # (1, C*K, N, L) or None
        if cols is not None:
            return np.ascontiguousarray(cols[0].transpose(1, 0, 2))
    w = _windows(xp, x, kernel_size, stride, pads, dilation)            # (N, C, oh, ow, kh, kw)
    return w.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kernel_size[0] * kernel_size[1],
                                                 out[0] * out[1])


@im2col.infer
def _(x, *, kernel_size, dilation, padding, stride):
    _float_only("im2col_out_cpu", x.dtype.np)
    out = _im2col_blocks(x.shape, kernel_size, dilation, padding, stride)
    return (x.shape[0], x.shape[1] * kernel_size[0] * kernel_size[1], out[0] * out[1]), x.dtype


@im2col.backward
def _(g, meta, kernel_size, dilation, padding, stride):
    return (col2im(g, output_size=tuple(meta.shapes[0][2:]), kernel_size=kernel_size,
                   dilation=dilation, padding=padding, stride=stride),)


@op("col2im", kind="opaque", dtype="keep", method=False)
def col2im(xp, cols, *, output_size, kernel_size, dilation, padding, stride):
    """Sum columns (N, C*kh*kw, L) back into an (N, C, *output_size) image: F.fold."""
    _float_only("col2im_out_cpu", cols.dtype)
    oh, ow = _col2im_blocks(cols.shape, output_size, kernel_size, dilation, padding, stride)
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = kernel_size, dilation, padding, stride
    n, ck, _ = cols.shape
    c = ck // (kh * kw)
    h, w = output_size
    if n and xp is np:
        img = _c_conv().col2im(np.ascontiguousarray(cols.transpose(1, 0, 2)), (n, c, h, w),
                               *_as_2d(kernel_size, stride, tuple((p, p) for p in padding),
                                       dilation, (oh, ow)))
        if img is not None:
            return img
    img = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    blocks = cols.reshape(n, c, kh, kw, oh, ow)
    for i in range(kh):            # one vectorised add per kernel offset
        for j in range(kw):
            img[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                j * dw:j * dw + sw * (ow - 1) + 1:sw] += blocks[:, :, i, j]
    return xp.ascontiguousarray(img[:, :, ph:ph + h, pw:pw + w])


@col2im.infer
def _(cols, *, output_size, kernel_size, dilation, padding, stride):
    _float_only("col2im_out_cpu", cols.dtype.np)
    _col2im_blocks(cols.shape, output_size, kernel_size, dilation, padding, stride)
    c = cols.shape[1] // (kernel_size[0] * kernel_size[1])
    return (cols.shape[0], c) + tuple(output_size), cols.dtype


@col2im.backward
def _(g, kernel_size, dilation, padding, stride):
    return (im2col(g, kernel_size=kernel_size, dilation=dilation, padding=padding,
                   stride=stride),)


# -- Tensor.unfold ------------------------------------------------------------------------

def _unfold_geometry(shape, dimension, size, step):
    """(normalised dim, number of windows) of unfolding `shape`; torch's messages."""
    nd = max(len(shape), 1)
    if not -nd <= dimension < nd:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], "
                         f"but got {dimension})")
    d = dimension % nd
    n = shape[d] if shape else 1
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    return d, (n - size) // step + 1


@op("unfold", kind="movement", dtype="keep", view=True)
def unfold(xp, a, *, dimension, size, step):
    """Every `size`-long slice of `dimension` taken `step` apart: that dimension becomes
    the window index and a last dimension of length `size` is added (a view).

    >>> import pyrch
    >>> pyrch.arange(5.).unfold(0, 2, 2)
    tensor([[0., 1.],
            [2., 3.]])
    """
    d, n = _unfold_geometry(a.shape, dimension, size, step)
    if a.ndim == 0:
        return a.reshape(1)
    st = a.strides
    return xp.lib.stride_tricks.as_strided(
        a, a.shape[:d] + (n,) + a.shape[d + 1:] + (size,),
        st[:d] + (st[d] * step,) + st[d + 1:] + (st[d],))


@unfold.infer
def _(a, *, dimension, size, step):
    d, n = _unfold_geometry(a.shape, dimension, size, step)
    if not a.shape:
        return (1,), a.dtype
    return tuple(a.shape[:d]) + (n,) + tuple(a.shape[d + 1:]) + (size,), a.dtype


@unfold.backward
def _(g, meta, dimension, size, step):
    return (unfold_backward(g, input_size=tuple(meta.shapes[0]), dimension=dimension, size=size,
                            step=step),)


@op("unfold_backward", kind="opaque", dtype="keep", method=False)
def unfold_backward(xp, g, *, input_size, dimension, size, step):
    """Sum the windows `g` of `a.unfold(dimension, size, step)` back into a's shape."""
    if len(input_size) == 0:
        return g.reshape(())
    d, n = _unfold_geometry(input_size, dimension, size, step)
    out = xp.zeros(input_size, dtype=g.dtype)
    o = xp.moveaxis(out, d, -1)                 # a view: (..., len)
    gm = xp.moveaxis(g, d, -2)                  # (..., n, size)
    if size <= n:
        for k in range(size):
            o[..., k:k + step * (n - 1) + 1:step] += gm[..., :, k]
    else:
        for w in range(n):
            o[..., w * step:w * step + size] += gm[..., w, :]
    return out


@unfold_backward.infer
def _(g, *, input_size, dimension, size, step):
    return tuple(input_size), g.dtype


@unfold_backward.backward
def _(gg, dimension, size, step):
    return (unfold(gg, dimension=dimension, size=size, step=step),)


# -- CTC loss ------------------------------------------------------------------------------

def _lse3(xp, a, b, c):
    """log(exp(a) + exp(b) + exp(c)) elementwise, -inf where all three are -inf."""
    m = xp.maximum(xp.maximum(a, b), c)
    m = xp.where(xp.isfinite(m), m, 0)
    s = xp.exp(a - m) + xp.exp(b - m) + xp.exp(c - m)
    pos = s > 0
    return xp.where(pos, m + xp.log(xp.where(pos, s, 1)), -xp.inf)


def _shift(xp, a, k):
    """a moved k places right (k > 0) or left (k < 0) along the last axis, -inf filled."""
    pad = xp.full(a.shape[:-1] + (abs(k),), -xp.inf, dtype=a.dtype)
    if k > 0:
        return xp.concatenate([pad, a[..., :-k]], axis=-1)
    return xp.concatenate([a[..., -k:], pad], axis=-1)


def _ctc_setup(xp, lp, targets, il, tl, blank):
    """Check the arguments (torch's messages); build the extended labels (blank between
    and around the targets), where a skip over a blank is allowed, and the emissions."""
    T, N, C = lp.shape
    il = il.astype(xp.int64).reshape(-1)
    tl = tl.astype(xp.int64).reshape(-1)
    if not 0 <= blank < C:
        raise RuntimeError("blank must be in label range")
    if il.shape[0] != N:
        raise RuntimeError("input_lengths must be of size batch_size")
    if tl.shape[0] != N:
        raise RuntimeError("target_lengths must be of size batch_size")
    for name, v in (("input_lengths", il), ("target_lengths", tl)):
        if N and int(v.min()) < 0:
            raise RuntimeError(f"Expected {name} to have value at least 0, but got value "
                               f"{int(v.min())} (while checking arguments for "
                               "ctc_loss_allocate_outputs)")
    if N and int(il.max()) > T:
        raise RuntimeError(f"Expected input_lengths to have value at most {T}, but got value "
                           f"{int(il.max())} (while checking arguments for "
                           "ctc_loss_allocate_outputs)")
    smax = int(tl.max()) if N else 0
    targets = targets.astype(xp.int64)
    why = "(while checking arguments for ctc_loss_allocate_outputs)"
    pos = xp.arange(smax)
    if targets.ndim == 2:
        if targets.shape[0] != N:
            raise RuntimeError(f"Expected tensor to have size {N} at dimension 0, but got size "
                               f"{targets.shape[0]} for argument #2 'targets' {why}")
        if targets.shape[1] < smax:
            raise RuntimeError(f"Expected tensor to have size at least {smax} at dimension 1, "
                               f"but got size {targets.shape[1]} for argument #2 'targets' {why}")
        lab = targets[:, :smax]
    else:
        total = int(tl.sum())
        if targets.shape[0] != total:
            raise RuntimeError(f"Expected tensor to have size {total} at dimension 0, but got "
                               f"size {targets.shape[0]} for argument #2 'targets' {why}")
        start = xp.cumsum(tl) - tl
        lab = targets[xp.minimum(start[:, None] + pos[None, :], max(total - 1, 0))] if total \
            else xp.zeros((N, smax), dtype=xp.int64)
    lab = xp.where(pos[None, :] < tl[:, None], lab, blank)
    ext = xp.full((N, 2 * smax + 1), blank, dtype=xp.int64)
    ext[:, 1::2] = lab
    skip = xp.zeros(ext.shape, dtype=bool)
    skip[:, 3::2] = lab[:, 1:] != lab[:, :-1]
    em = xp.take_along_axis(lp, xp.broadcast_to(ext[None], (T,) + ext.shape), axis=2)
    return il, tl, ext, skip, em


def _ctc_alpha(xp, em, il, tl, skip):
    """log alpha (T, N, S') (-inf past each input's length) and each sample's log p."""
    T, N, S = em.shape
    s = xp.arange(S)[None, :]
    la = xp.full((N, S), -xp.inf, dtype=em.dtype)
    la[:, 0] = 0                       # an empty input emits the empty label sequence
    alphas = xp.full((T, N, S), -xp.inf, dtype=em.dtype)
    for t in range(T):
        if t == 0:
            new = xp.where(s < 2, em[0], -xp.inf)
        else:
            new = _lse3(xp, la, _shift(xp, la, 1), xp.where(skip, _shift(xp, la, 2), -xp.inf)) + em[t]
        active = (t < il)[:, None]
        la = xp.where(active, new, la)
        alphas[t] = xp.where(active, new, -xp.inf)
    end = xp.take_along_axis(la, (2 * tl)[:, None], axis=1)[:, 0]
    before = xp.take_along_axis(la, xp.maximum(2 * tl - 1, 0)[:, None], axis=1)[:, 0]
    before = xp.where(tl > 0, before, -xp.inf)
    m = xp.maximum(end, before)
    m = xp.where(xp.isfinite(m), m, 0)
    tot = xp.exp(end - m) + xp.exp(before - m)
    logp = xp.where(tot > 0, m + xp.log(xp.where(tot > 0, tot, 1)), -xp.inf)
    return alphas, logp


def _ctc_beta(xp, em, il, tl, skip):
    """log beta (T, N, S'): the log probability of finishing from (t, s), emissions at t
    included (-inf from each input's length on)."""
    T, N, S = em.shape
    s = xp.arange(S)[None, :]
    last = ((s == 2 * tl[:, None]) | ((s == 2 * tl[:, None] - 1) & (tl[:, None] > 0)))
    skip_next = xp.concatenate([skip[:, 2:], xp.zeros((N, 2), dtype=bool)], axis=1)
    lb = xp.full((N, S), -xp.inf, dtype=em.dtype)
    betas = xp.full((T, N, S), -xp.inf, dtype=em.dtype)
    for t in range(T - 1, -1, -1):
        new = _lse3(xp, lb, _shift(xp, lb, -1), xp.where(skip_next, _shift(xp, lb, -2), -xp.inf))
        init = xp.where(last, em[t], -xp.inf)
        lb = xp.where((t == il - 1)[:, None], init,
                      xp.where((t < il - 1)[:, None], new + em[t], -xp.inf))
        betas[t] = lb
    return betas


@op("ctc_neg_log_likelihood", kind="opaque", dtype="keep", method=False)
def ctc_neg_log_likelihood(xp, log_probs, targets, input_lengths, target_lengths, *, blank=0,
                           zero_infinity=False):
    """-log p(target | log_probs) per sample (N,) by CTC's alpha recursion (log space);
    log_probs (T, N, C), targets padded (N, S) or concatenated; an impossible alignment
    gives inf (0 with zero_infinity)."""
    il, tl, ext, skip, em = _ctc_setup(xp, log_probs, targets, input_lengths, target_lengths,
                                       blank)
    _, logp = _ctc_alpha(xp, em, il, tl, skip)
    nll = -logp
    if zero_infinity:
        nll = xp.where(xp.isinf(nll), 0, nll)
    return nll.astype(log_probs.dtype)


@ctc_neg_log_likelihood.infer
def _(log_probs, targets, input_lengths, target_lengths, *, blank=0, zero_infinity=False):
    if len(log_probs.shape) != 3:
        raise RuntimeError(f"Expected 3-dimensional tensor, but got {len(log_probs.shape)}-"
                           "dimensional tensor for argument #1 'log_probs' (while checking "
                           "arguments for ctc_loss_allocate_outputs)")
    return (log_probs.shape[1],), log_probs.dtype


@ctc_neg_log_likelihood.backward
def _(g, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
    # NOTE: the true gradient by log_probs. torch's CPU kernel returns exp(log_probs) plus
    # this (the gradient by the logits, assuming log_probs came from log_softmax); through a
    # log_softmax both give the same gradient, but only this one passes gradcheck.
    return (ctc_neg_log_likelihood_backward(g, log_probs, targets, input_lengths,
                                            target_lengths, blank=blank,
                                            zero_infinity=zero_infinity), None, None, None)


@op("ctc_neg_log_likelihood_backward", kind="opaque", dtype="keep", method=False,
    differentiable=False)
def ctc_neg_log_likelihood_backward(xp, g, log_probs, targets, input_lengths, target_lengths, *,
                                    blank=0, zero_infinity=False):
    """The gradient (T, N, C) of `ctc_neg_log_likelihood` by log_probs, given g (N,):
    -g * sum over the extended-label positions s carrying class c of
    alpha_t(s) beta_t(s) / (y_t(s) p). NaN for an impossible alignment (0 with
    zero_infinity)."""
    il, tl, ext, skip, em = _ctc_setup(xp, log_probs, targets, input_lengths, target_lengths,
                                       blank)
    alphas, logp = _ctc_alpha(xp, em, il, tl, skip)
    betas = _ctc_beta(xp, em, il, tl, skip)
    ok = xp.isfinite(logp)
    w = xp.exp(alphas + betas - em - xp.where(ok, logp, 0)[None, :, None])    # (T, N, S')
    onehot = (ext[:, :, None] == xp.arange(log_probs.shape[2])[None, None, :]).astype(w.dtype)
    grad = -xp.einsum("tns,nsc->tnc", w, onehot) * g.reshape(1, -1, 1)
    bad = 0 if zero_infinity else xp.nan
    live = (xp.arange(log_probs.shape[0])[:, None] < il[None, :])[:, :, None]
    grad = xp.where(ok[None, :, None], grad, xp.where(live, bad, 0))
    return grad.astype(log_probs.dtype)


@ctc_neg_log_likelihood_backward.infer
def _(g, log_probs, targets, input_lengths, target_lengths, *, blank=0, zero_infinity=False):
    return tuple(log_probs.shape), log_probs.dtype
