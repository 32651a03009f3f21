"""Tensor repr in PyTorch's exact format: `tensor([1., 2.], grad_fn=<MulBackward0>)`.

The rules follow torch's printer: one formatter per tensor picks integer mode
(whole floats print as `1.`), fixed-point with `precision` decimals, or
scientific mode (when max/min of the non-zero finite magnitudes exceeds 1000,
the max exceeds 1e8, or the min is below 1e-4); every element is padded to
the widest; rows wrap at `linewidth`; tensors over `threshold` elements are
summarised with `...` keeping `edgeitems` at each end.

>>> import pyrch
>>> pyrch.tensor([[1.0, 2.5], [3.0, 4.0]])
tensor([[1.0000, 2.5000],
        [3.0000, 4.0000]])
>>> pyrch.tensor(3.0)
tensor(3.)
"""
import math

import numpy as np

from ._dtype import get_default_dtype, int64, bool_


class _PrintOptions:
    precision = 4
    threshold = 1000
    edgeitems = 3
    linewidth = 80
    sci_mode = None


PRINT_OPTS = _PrintOptions()

_PROFILES = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80), "full": (4, math.inf, 3, 80)}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None,
                     sci_mode=None):
    """Set how tensors print (torch.set_printoptions): decimals, summarising, line width."""
    if profile is not None:
        (PRINT_OPTS.precision, PRINT_OPTS.threshold, PRINT_OPTS.edgeitems,
         PRINT_OPTS.linewidth) = _PROFILES[profile]
    if precision is not None:
        PRINT_OPTS.precision = precision
    if threshold is not None:
        PRINT_OPTS.threshold = threshold
    if edgeitems is not None:
        PRINT_OPTS.edgeitems = edgeitems
    if linewidth is not None:
        PRINT_OPTS.linewidth = linewidth
    PRINT_OPTS.sci_mode = sci_mode


class _Formatter:
    """Picks one number format (int / fixed / scientific) and width for a whole tensor."""

    def __init__(self, arr):
        self.floating = arr.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        flat = arr.reshape(-1)
        if not self.floating:
            if flat.size:
                self.max_width = max(len(str(v)) for v in flat.tolist())
            return
        vals = flat[np.isfinite(flat) & (flat != 0)]
        if vals.size == 0:
            return
        mags = np.abs(vals.astype(np.float64))
        lo, hi = float(mags.min()), float(mags.max())
        p = PRINT_OPTS.precision
        self.int_mode = bool((vals == np.ceil(vals)).all())
        self.sci_mode = (hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
                         if PRINT_OPTS.sci_mode is None else PRINT_OPTS.sci_mode)
        if self.sci_mode:
            self.max_width = max(len(f"{v:.{p}e}") for v in vals.tolist())
        elif self.int_mode:
            self.max_width = max(len(f"{v:.0f}") + 1 for v in vals.tolist())
        else:
            self.max_width = max(len(f"{v:.{p}f}") for v in vals.tolist())

    def format(self, value):
        p = PRINT_OPTS.precision
        if not self.floating:
            s = str(value)
        elif self.sci_mode:
            s = f"{value:{self.max_width}.{p}e}"
        elif self.int_mode:
            s = f"{value:.0f}"
            if not (math.isinf(value) or math.isnan(value)):
                s += "."
        else:
            s = f"{value:.{p}f}"
        return " " * (self.max_width - len(s)) + s


def _summarized(arr):
    """Only the edge items along each dimension (what the formatter looks at)."""
    e = PRINT_OPTS.edgeitems
    if arr.ndim == 0:
        return arr
    if arr.ndim == 1:
        return np.concatenate((arr[:e], arr[-e:])) if arr.shape[0] > 2 * e else arr
    if not e:
        return arr.reshape((0,) * arr.ndim)
    rows = list(range(e)) + list(range(arr.shape[0] - e, arr.shape[0])) \
        if arr.shape[0] > 2 * e else range(arr.shape[0])
    return np.stack([_summarized(arr[i]) for i in rows])


def _vector_str(arr, indent, summarize, fmt):
    per_line = max(1, int(math.floor((PRINT_OPTS.linewidth - indent) / (fmt.max_width + 2))))
    e = PRINT_OPTS.edgeitems
    if summarize and not e:
        data = ["..."]
    elif summarize and arr.shape[0] > 2 * e:
        data = ([fmt.format(v) for v in arr[:e].tolist()] + [" ..."]
                + [fmt.format(v) for v in arr[-e:].tolist()])
    else:
        data = [fmt.format(v) for v in arr.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested_str(arr, indent, summarize, fmt):
    if arr.ndim == 0:
        return fmt.format(arr.item())
    if arr.ndim == 1:
        return _vector_str(arr, indent, summarize, fmt)
    e = PRINT_OPTS.edgeitems
    n = arr.shape[0]
    if summarize and n > 2 * e:
        slices = ([_nested_str(arr[i], indent + 1, summarize, fmt) for i in range(e)] + ["..."]
                  + [_nested_str(arr[i], indent + 1, summarize, fmt) for i in range(n - e, n)])
    else:
        slices = [_nested_str(arr[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (arr.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def _contents(arr, indent):
    if arr.size == 0:
        return "[]"
    summarize = arr.size > PRINT_OPTS.threshold
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)    # exact; formats like torch, which prints half as float
    fmt = _Formatter(_summarized(arr) if summarize else arr)
    return _nested_str(arr, indent, summarize, fmt)


def _add_suffixes(text, suffixes, indent):
    parts = [text]
    last_len = len(text) - text.rfind("\n") + 1     # (sic) torch's arithmetic, kept for identical wrapping
    for s in suffixes:
        if last_len + len(s) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + s)
            last_len = indent + len(s)
        else:
            parts.append(", " + s)
            last_len += len(s) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(t):
    """`repr(t)` exactly as PyTorch prints it (with `pyrch.` for `torch.`)."""
    name = type(t).__name__
    prefix = "tensor(" if name in ("Tensor", "Parameter") else name + "("
    indent = len(prefix)
    arr = t._host()
    dt = t.dtype
    suffixes = []
    if t.is_cuda:
        suffixes.append(f"device='{t.device}'")
    if arr.size == 0:
        if arr.ndim != 1:
            suffixes.append(f"size={tuple(arr.shape)}")
        if dt is not get_default_dtype():
            suffixes.append(f"dtype={dt}")
        body = "[]"
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append(f"size={tuple(arr.shape)}")
        if dt is not get_default_dtype() and dt is not int64 and dt is not bool_:
            suffixes.append(f"dtype={dt}")
        body = _contents(arr, indent)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, indent)
