"""Row gather and scatter-add in C: embedding's forward and backward; column sums.
Each is one recordable C call (rows._call), so a traced plan keeps it in C.

>>> import numpy as np
>>> from pyrch._C import rowsel
>>> t = np.arange(6, dtype=np.float32).reshape(3, 2)
>>> r = rowsel.gather_rows(t, np.array([2, 0]))
>>> r is None or r.tolist() == [[4.0, 5.0], [0.0, 1.0]]
True
"""
from math import prod as _prod

import numpy as np

from .rows import GATHER, SCATTER_ADD, SUM_ROWS, _call, _has_call

_OUT_OF_RANGE = "index out of range in self"          # torch's words


def _indices(idx):
    if type(idx) is not np.ndarray or idx.dtype.kind not in "iu":
        return None
    # (ascontiguousarray makes a 0-d array 1-d: one index must give one row, not a batch of 1)
    return np.ascontiguousarray(idx, dtype=np.int64).reshape(idx.shape)


def gather_rows(table, idx):
    """table[idx] for a (V, ...) numpy table and integer indices (checked against V),
    or None when the extension cannot take it."""
    ix = _indices(idx)
    if ix is None or type(table) is not np.ndarray or table.ndim < 1 \
            or table.dtype.itemsize not in (1, 2, 4, 8) or table.dtype.hasobject or not _has_call():
        return None
    t = np.ascontiguousarray(table)
    out = np.empty(ix.shape + t.shape[1:], t.dtype)
    _call(GATHER, "row selection", (t.reshape(-1), ix.reshape(-1)), (out.reshape(-1),),
          (t.itemsize, t.shape[0], _prod(t.shape[1:]), ix.size), index_error=_OUT_OF_RANGE)
    return out


def scatter_add_rows(g, idx, num_rows):
    """A fresh (num_rows, ...) table with each row of `g` (shape idx.shape + row) added
    at its index, or None when the extension cannot take it (not float32/float64)."""
    ix = _indices(idx)
    if ix is None or type(g) is not np.ndarray or g.dtype not in (np.float32, np.float64) \
            or not _has_call():
        return None
    gc = np.ascontiguousarray(g)
    row = gc.shape[ix.ndim:]
    out = np.empty((num_rows,) + row, gc.dtype)
    _call(SCATTER_ADD, "row scatter-add", (gc.reshape(-1), ix.reshape(-1)), (out.reshape(-1),),
          (gc.itemsize, num_rows, _prod(row), ix.size), index_error=_OUT_OF_RANGE)
    return out


def sum_rows(a2, shape=None):
    """The column sums of a contiguous (rows, cols) float32/float64 array, on pyrch's
    threads, in a new array of `shape` (cols elements; default (cols,)), or None when
    the extension cannot take it."""
    if type(a2) is not np.ndarray or a2.ndim != 2 or a2.dtype not in (np.float32, np.float64) \
            or not a2.flags.c_contiguous or not _has_call():
        return None
    out = np.empty((a2.shape[1],) if shape is None else shape, a2.dtype)
    if out.size != a2.shape[1]:
        raise ValueError(f"sum_rows: {a2.shape[1]} column sums do not fill shape {out.shape}")
    _call(SUM_ROWS, "column sums", (a2.reshape(-1),), (out.reshape(-1),),
          (a2.itemsize, a2.shape[0], a2.shape[1]))
    return out
