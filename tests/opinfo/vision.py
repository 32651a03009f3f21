"""Samples for the sliding-block and CTC primitives of pyrch/ops/vision.py.

`im2col`/`col2im` are compared with torch's F.unfold/F.fold. The CTC primitive
is compared through a log_softmax: torch's CPU kernel returns the gradient by the
logits (exp(log_probs) plus the true gradient by log_probs), and the two agree
only behind a log_softmax; tests/test_nn_vision.py gradchecks it directly.
"""
import numpy as np

from . import OpInfo, Sample, add

# (x shape, kernel_size, dilation, padding, stride)
_BLOCK_CASES = [
    ((2, 3, 5, 6), (2, 2), (1, 1), (0, 0), (1, 1)),
    ((1, 2, 7, 6), (3, 2), (2, 1), (1, 2), (2, 3)),
    ((2, 1, 4, 4), (4, 4), (1, 1), (1, 1), (3, 3)),
]


def _blocks(shape, k, d, p, s):
    return tuple((n + 2 * pp - dd * (kk - 1) - 1) // ss + 1
                 for n, kk, dd, pp, ss in zip(shape[2:], k, d, p, s))


def _im2col_samples(rng):
    out = [Sample((rng.standard_normal(xs),), dict(kernel_size=k, dilation=d, padding=p, stride=s))
           for xs, k, d, p, s in _BLOCK_CASES]
    out[1].noncontig = True
    return out


def _col2im_samples(rng):
    out = []
    for xs, k, d, p, s in _BLOCK_CASES:
        oh, ow = _blocks(xs, k, d, p, s)
        out.append(Sample((rng.standard_normal((xs[0], xs[1] * k[0] * k[1], oh * ow)),),
                          dict(output_size=xs[2:], kernel_size=k, dilation=d, padding=p, stride=s)))
    out[0].noncontig = True
    return out


add(OpInfo("im2col", _im2col_samples, call=lambda lib, x, **k: lib.im2col(x, **k),
           torch_call=lambda torch, x, **k: torch.nn.functional.unfold(x, **k)))
add(OpInfo("col2im", _col2im_samples, call=lambda lib, c, **k: lib.col2im(c, **k),
           torch_call=lambda torch, c, **k: torch.nn.functional.fold(c, **k)))


_UNFOLD_CASES = [((10,), 0, 3, 2), ((3, 7, 2), 1, 2, 1), ((4, 5), -1, 5, 2), ((3, 4), 0, 2, 3),
                 ((), 0, 1, 1), ((2, 6), 1, 0, 2)]


def _unfold_samples(rng):
    out = [Sample((rng.standard_normal(shape),), dict(dimension=d, size=n, step=s))
           for shape, d, n, s in _UNFOLD_CASES]
    out[1].noncontig = True
    return out


def _unfold_backward_samples(rng):
    out = []
    for shape, d, n, s in _UNFOLD_CASES:
        windows = np.lib.stride_tricks.sliding_window_view(np.zeros(shape or (1,)), n, axis=d)
        gshape = list(windows.shape)
        dd = d % max(len(shape), 1)
        gshape[dd] = (gshape[dd] - 1) // s + 1
        gshape = tuple(gshape) if shape else (1,)
        out.append(Sample((rng.standard_normal(gshape),),
                          dict(input_size=shape, dimension=d, size=n, step=s)))
    return out


add(OpInfo("unfold", _unfold_samples, call=lambda lib, x, **k: x.unfold(k["dimension"], k["size"],
                                                                        k["step"])))
add(OpInfo("unfold_backward", _unfold_backward_samples,
           call=lambda lib, g, **k: lib.unfold_backward(g, **k),
           torch_call=lambda torch, g, **k: torch.ops.aten.unfold_backward(
               g, list(k["input_size"]), k["dimension"], k["size"], k["step"])))


def _ctc_samples(rng):
    T, N, C = 7, 3, 5
    padded = np.array([[1, 2, 2, 0], [3, 3, 0, 0], [4, 1, 4, 2]])
    lens = np.array([3, 2, 4])
    concat = np.concatenate([r[:n] for r, n in zip(padded, lens)])
    return [
        Sample((rng.standard_normal((T, N, C)), padded, np.array([7, 6, 7]), lens)),
        Sample((rng.standard_normal((T, N, C)), concat, np.array([7, 5, 6]), lens),
               note="concatenated"),
        Sample((rng.standard_normal((T, 2, C)), np.array([[0, 1], [2, 2]]), np.array([5, 7]),
                np.array([2, 0])), dict(blank=4), note="blank4"),
        Sample((rng.standard_normal((3, 2, C)), np.array([[1, 1, 1], [2, 3, 0]]), np.array([3, 3]),
                np.array([3, 2])), dict(zero_infinity=True), note="impossible"),
    ]


def _ctc_call(lib, lp, tg, il, tl, blank=0, zero_infinity=False):
    return lib.nn.functional.ctc_loss(lp.log_softmax(2), tg, il, tl, blank=blank,
                                      reduction="none", zero_infinity=zero_infinity)


add(OpInfo("ctc_neg_log_likelihood", _ctc_samples, call=_ctc_call, gradgrad=False,
           covers=("ctc_neg_log_likelihood_backward",), grad_atol=1e-5))
