"""Row gather and scatter-add in C: embedding's forward and backward.

>>> import numpy as np
>>> from pyrch._C import rowsel
>>> t = np.arange(6, dtype=np.float32).reshape(3, 2)
>>> r = rowsel.gather_rows(t, np.array([2, 0]))
>>> r is None or r.tolist() == [[4.0, 5.0], [0.0, 1.0]]
True
"""
from math import prod as _prod

import numpy as np

from .fused import _ERRORS, E_INDEX


def _entry(name):
    from . import lib
    L = lib()
    return getattr(L, name, None) if L is not None else None    # None: an older build


def _check(rc):
    if rc == E_INDEX:
        raise IndexError("index out of range in self")          # torch's words
    if rc != 0:
        raise RuntimeError(f"pyrch/_C rejected the row selection: {_ERRORS.get(rc, rc)}")


def _indices(idx):
    if type(idx) is not np.ndarray or idx.dtype.kind not in "iu":
        return None
    # (ascontiguousarray makes a 0-d array 1-d: one index must give one row, not a batch of 1)
    return np.ascontiguousarray(idx, dtype=np.int64).reshape(idx.shape)


def gather_rows(table, idx):
    """table[idx] for a (V, ...) numpy table and integer indices (checked against V),
    or None when the extension cannot take it."""
    f = _entry("pyrch_gather_rows")
    ix = _indices(idx)
    if f is None or ix is None or type(table) is not np.ndarray or table.ndim < 1 \
            or table.dtype.itemsize not in (1, 2, 4, 8) or table.dtype.hasobject:
        return None
    t = np.ascontiguousarray(table)
    out = np.empty(ix.shape + t.shape[1:], t.dtype)
    from . import ffi
    F = ffi()
    width = _prod(t.shape[1:])
    _check(f(t.itemsize, F.from_buffer("char[]", t), t.nbytes, t.shape[0], width,
             F.from_buffer("int64_t[]", ix), ix.nbytes, ix.size,
             F.from_buffer("char[]", out, require_writable=True), out.nbytes))
    return out


def scatter_add_rows(g, idx, num_rows):
    """A fresh (num_rows, ...) table with each row of `g` (shape idx.shape + row) added
    at its index, or None when the extension cannot take it (not float32/float64)."""
    f = _entry("pyrch_scatter_add_rows")
    ix = _indices(idx)
    if f is None or ix is None or type(g) is not np.ndarray or g.dtype not in (np.float32, np.float64):
        return None
    gc = np.ascontiguousarray(g)
    row = gc.shape[ix.ndim:]
    out = np.empty((num_rows,) + row, gc.dtype)
    from . import ffi
    F = ffi()
    width = _prod(row)
    _check(f(gc.itemsize, F.from_buffer("char[]", out, require_writable=True), out.nbytes,
             num_rows, width, F.from_buffer("int64_t[]", ix), ix.nbytes, ix.size,
             F.from_buffer("char[]", gc), gc.nbytes))
    return out


def sum_rows(a2):
    """The column sums of a contiguous (rows, cols) float32/float64 array, on pyrch's
    threads, or None when the extension cannot take it."""
    f = _entry("pyrch_sum_rows")
    if f is None or type(a2) is not np.ndarray or a2.ndim != 2 or a2.dtype not in (np.float32, np.float64) \
            or not a2.flags.c_contiguous:
        return None
    from . import ffi, get_num_threads
    F = ffi()
    out = np.empty(a2.shape[1], a2.dtype)
    _check(f(a2.itemsize, F.from_buffer("char[]", a2), a2.nbytes, a2.shape[0], a2.shape[1],
             F.from_buffer("char[]", out, require_writable=True), out.nbytes, get_num_threads()))
    return out
