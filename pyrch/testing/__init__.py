"""Test helpers, torch.testing-shaped: `assert_close` and `make_tensor`.

>>> import pyrch
>>> from pyrch.testing import assert_close
>>> assert_close(pyrch.tensor([1.0, 2.0]), pyrch.tensor([1.0, 2.0 + 1e-7]))
"""
import math
from collections.abc import Mapping, Sequence

import numpy as np

from .._dtype import as_dtype, float16, float32, float64, get_default_dtype, bool_
from .._tensor import Tensor

# PyTorch's default (rtol, atol) per dtype; integers and bool compare exactly.
_TOLERANCES = {float16: (1e-3, 1e-5), float32: (1.3e-6, 1e-5), float64: (1e-7, 1e-7)}

__all__ = ["assert_close", "make_tensor"]


class _Mismatch(Exception):
    def __init__(self, msg, exc=AssertionError):
        super().__init__(msg)
        self.msg, self.exc = msg, exc


def _tols(*dtypes):
    pairs = [_TOLERANCES.get(d, (0.0, 0.0)) for d in dtypes]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _diff_line(kind, diff, idx, tol, equality):
    line = f"{kind.title()} difference: {diff}" if idx is None else \
        f"Greatest {kind} difference: {diff} at index {idx}"
    return line + ("" if equality else f" (up to {tol} allowed)") + "\n"


def _message(identifier, extra, abs_diff, abs_idx, atol, rel_diff, rel_idx, rtol):
    equality = rtol == 0 and atol == 0
    msg = f"{identifier} are not {'equal' if equality else 'close'}!\n\n{extra.strip()}\n"
    msg += _diff_line("absolute", abs_diff, abs_idx, atol, equality)
    msg += _diff_line("relative", rel_diff, rel_idx, rtol, equality)
    return msg.strip()


def _isclose(a, e, rtol, atol, equal_nan):
    if a.dtype.kind != "f":
        return a == e
    close = a == e
    if equal_nan:
        close |= np.isnan(a) & np.isnan(e)
    fin = np.isfinite(a) & np.isfinite(e)
    tol = a.dtype.type(atol) + a.dtype.type(rtol) * np.abs(e)
    return close | (fin & (np.abs(a - e) <= tol))


def _compare_scalars(a, e, rtol, atol, equal_nan):
    if rtol is None:
        rtol, atol = (1e-7, 1e-7) if isinstance(a, float) or isinstance(e, float) else (0.0, 0.0)
    if a == e or (equal_nan and isinstance(a, float) and isinstance(e, float)
                  and math.isnan(a) and math.isnan(e)):
        return
    if isinstance(a, (float, int)) and isinstance(e, (float, int)) and not isinstance(a, bool) \
            and abs(a - e) <= atol + rtol * abs(e):
        return
    abs_diff = abs(a - e)
    rel_diff = float("inf") if e == 0 else abs_diff / abs(e)
    raise _Mismatch(_message("Scalars", f"Expected {e} but got {a}.", abs_diff, None, atol,
                             rel_diff, None, rtol))


def _compare_tensors(actual, expected, rtol, atol, equal_nan, check_device, check_dtype):
    if actual.shape != expected.shape:
        raise _Mismatch(f"The values for attribute 'shape' do not match: {actual.shape} != {expected.shape}.")
    if check_device and actual.device != expected.device:
        raise _Mismatch(f"The values for attribute 'device' do not match: {actual.device} != {expected.device}.")
    if check_dtype and actual.dtype is not expected.dtype:
        raise _Mismatch(f"The values for attribute 'dtype' do not match: {actual.dtype} != {expected.dtype}.")
    if rtol is None:
        rtol, atol = _tols(actual.dtype, expected.dtype)
    a, e = actual.detach()._host(), expected.detach()._host()
    if a.dtype != e.dtype:
        from .._dtype import promote_types
        common = promote_types(actual.dtype, expected.dtype).np
        a, e = a.astype(common), e.astype(common)
    matches = _isclose(a, e, rtol, atol, equal_nan)
    if matches.all():
        return
    if a.ndim == 0:
        _raise_scalar(a.item(), e.item(), rtol, atol)
    n = matches.size
    bad = n - int(matches.sum())
    extra = f"Mismatched elements: {bad} / {n} ({bad / n:.1%})"
    af, ef, mf = a.reshape(-1), e.reshape(-1), matches.reshape(-1)
    if a.dtype.kind != "f":
        af, ef = af.astype(np.int64), ef.astype(np.int64)
    abs_diff = np.abs(af - ef)
    abs_diff[mf] = 0
    # torch divides integers into the default float dtype
    rel_diff = (abs_diff / np.abs(ef)).astype(get_default_dtype().np) if a.dtype.kind != "f" \
        else abs_diff / np.abs(ef)
    rel_diff[mf] = 0
    ai, ri = _argmax_nan(abs_diff), _argmax_nan(rel_diff)
    shape = matches.shape
    raise _Mismatch(_message("Tensor-likes", extra, abs_diff[ai].item(), _unravel(ai, shape),
                             atol, rel_diff[ri].item(), _unravel(ri, shape), rtol))


def _unravel(flat, shape):
    return tuple(int(i) for i in np.unravel_index(flat, shape))


def _argmax_nan(x):
    # torch.max propagates NaN: the first NaN wins, else the first maximum
    if x.dtype.kind == "f":
        nan = np.flatnonzero(np.isnan(x))
        if nan.size:
            return int(nan[0])
    return int(np.argmax(x))


def _raise_scalar(a, e, rtol, atol):
    abs_diff = abs(a - e)
    rel_diff = float("inf") if e == 0 else abs_diff / abs(e)
    raise _Mismatch(_message("Scalars", f"Expected {e} but got {a}.", abs_diff, None, atol,
                             rel_diff, None, rtol))


def _is_number(x):
    return isinstance(x, (bool, int, float, np.number, np.bool_))


def _compare(actual, expected, path, rtol, atol, equal_nan, check_device, check_dtype):
    try:
        if isinstance(actual, Tensor) and isinstance(expected, Tensor):
            return _compare_tensors(actual, expected, rtol, atol, equal_nan, check_device, check_dtype)
        if isinstance(actual, np.ndarray) and isinstance(expected, np.ndarray):
            from .._creation import as_tensor
            return _compare_tensors(as_tensor(actual), as_tensor(expected), rtol, atol, equal_nan,
                                    check_device, check_dtype)
        if _is_number(actual) and _is_number(expected):
            a = actual.item() if isinstance(actual, np.generic) else actual
            e = expected.item() if isinstance(expected, np.generic) else expected
            return _compare_scalars(a, e, rtol, atol, equal_nan)
    except _Mismatch as m:
        if path:
            m.msg += "\n\nThe failure occurred for item " + "".join(f"[{p!r}]" for p in path)
        raise
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            missing = sorted(map(repr, set(expected) - set(actual)))
            extra = sorted(map(repr, set(actual) - set(expected)))
            raise _Mismatch("The keys of the mappings do not match:\n"
                            f"Missing keys in the actual mapping: {', '.join(missing)}\n"
                            f"Extra keys in the actual mapping: {', '.join(extra)}")
        for k in expected:
            _compare(actual[k], expected[k], path + [k], rtol, atol, equal_nan, check_device, check_dtype)
        return
    if isinstance(actual, Sequence) and isinstance(expected, Sequence) \
            and not isinstance(actual, str) and not isinstance(expected, str):
        if len(actual) != len(expected):
            raise _Mismatch(f"The length of the sequences mismatch: {len(actual)} != {len(expected)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, path + [i], rtol, atol, equal_nan, check_device, check_dtype)
        return
    raise _Mismatch(f"No comparison pair was able to handle inputs of type {type(actual)} and "
                    f"{type(expected)}.", TypeError)


def assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None, equal_nan=False,
                 check_device=True, check_dtype=True, check_layout=True, check_stride=False, msg=None):
    """Raise AssertionError unless `actual` and `expected` are close (torch.testing.assert_close).

    Tensors (and nested lists/tuples/dicts of them, or numbers) are compared
    elementwise with |actual - expected| <= atol + rtol * |expected|; defaults
    per dtype are PyTorch's (float16 1e-3/1e-5, float32 1.3e-6/1e-5, float64
    1e-7/1e-7, integers and bool exact). `msg` replaces the message, or is
    called with it when callable.
    """
    if (rtol is None) != (atol is None):
        raise ValueError("Both 'rtol' and 'atol' must be either specified or omitted, but got no "
                         f"{'rtol' if rtol is None else 'atol'}.")
    try:
        _compare(actual, expected, [], rtol, atol, equal_nan, check_device, check_dtype)
    except _Mismatch as m:
        text = m.msg
        if m.exc is AssertionError and msg is not None:
            text = msg(text) if callable(msg) else msg
        raise m.exc(text) from None


def make_tensor(*shape, dtype, device=None, low=None, high=None, requires_grad=False,
                noncontiguous=False, exclude_zero=False, memory_format=None):
    """A random tensor for tests: floats uniform in [low, high) (default [-9, 9)),
    integers in [low, high) (default [-9, 10), clipped to the dtype), bools at random."""
    from .._creation import from_numpy, tensor
    from .._random import default_generator
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    dt = as_dtype(dtype)
    rng = default_generator._np
    if dt is bool_:
        arr = rng.integers(0, 2, size=shape).astype(np.bool_)
    elif dt.is_floating_point:
        lo = -9.0 if low is None else float(low)
        hi = 9.0 if high is None else float(high)
        if lo > hi:
            raise ValueError(f"low must be less than or equal to high, but got low={lo} and high={hi}")
        arr = rng.uniform(lo, hi, size=shape).astype(dt.np)
        if exclude_zero:
            arr[arr == 0] = np.finfo(dt.np).tiny
    else:
        info = np.iinfo(dt.np)
        lo = max(-9 if low is None else int(math.ceil(low)), int(info.min))
        hi = min(10 if high is None else int(math.ceil(high)), int(info.max) + 1)
        if lo >= hi:
            raise ValueError(f"low must be less than high, but got low={lo} and high={hi}")
        arr = rng.integers(lo, hi, size=shape).astype(dt.np)
        if exclude_zero:
            arr[arr == 0] = 1
    if noncontiguous and arr.size > 1:
        wide = np.repeat(arr, 2, axis=-1) if arr.ndim else arr
        t = from_numpy(wide[..., ::2])
    else:
        t = tensor(arr)
    if device is not None:
        t = t.to(device)
    if requires_grad:
        t.requires_grad_(True)
    return t
