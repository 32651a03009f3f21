"""Comparing a call in pyrch with the same call in torch (tests that need torch import this)."""
import numpy as np
import pytest


def as_float64(t):
    return np.asarray(t.detach().numpy(force=True) if hasattr(t, "detach") else t, dtype=np.float64)


def same(g, w, tol=1e-6):
    """pyrch result g equals torch result w: nested tuples/lists, shapes, dtypes, values."""
    if isinstance(w, (tuple, list)):
        assert len(g) == len(w)
        for a, b in zip(g, w):
            same(a, b, tol)
        return
    if not hasattr(w, "shape"):
        assert g == w
        return
    assert tuple(g.shape) == tuple(w.shape)
    assert g.dtype.name == str(w.dtype).replace("torch.", "")
    np.testing.assert_allclose(as_float64(g), as_float64(w), rtol=tol, atol=tol)


def both(fn, tol=1e-6):
    """fn(lib) in pyrch and torch: the same exception type and message, or equal results."""
    import pyrch
    import torch
    try:
        want = fn(torch)
    except Exception as e:  # noqa: BLE001
        with pytest.raises(type(e)) as got:
            fn(pyrch)
        assert str(got.value) == str(e)
        return
    same(fn(pyrch), want, tol)
