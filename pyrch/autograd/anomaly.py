"""Anomaly detection: name the backward that produced NaN and show where its forward ran.

In anomaly mode every graph node remembers the user's stack at its forward
call; when a node's backward raises or (with check_nan) returns NaN, pyrch
warns with that stack and raises torch's error,
"Function 'DivBackward0' returned nan values in its 1th output."

>>> import pyrch
>>> x = pyrch.zeros(1, requires_grad=True)
>>> with pyrch.autograd.set_detect_anomaly(True):
...     pyrch.autograd.is_anomaly_enabled()
True
"""
import functools
import os
import traceback
import warnings

from .. import _dispatch
from .._dispatch import state

_check_nan = [True]
_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _set(mode, check_nan):
    state.anomaly = bool(mode)
    _check_nan[0] = bool(check_nan)
    _dispatch.refresh_hooks()    # dispatch records forward stacks only on its slow path


class set_detect_anomaly:
    """Turn anomaly detection on or off: as a plain call, a context manager or a decorator."""

    def __init__(self, mode, check_nan=True):
        self._prev = (state.anomaly, _check_nan[0])
        self._mode, self._nan = bool(mode), check_nan
        _set(mode, check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set(*self._prev)
        return False

    def __call__(self, fn):
        _set(*self._prev)       # decorating must not switch the mode for the whole program
        mode, nan = self._mode, self._nan

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_detect_anomaly(mode, nan):
                return fn(*args, **kwargs)
        return wrapper


class detect_anomaly:
    """Context manager (and decorator) that enables anomaly detection inside its block."""

    def __init__(self, check_nan=True):
        self._nan = check_nan

    def __enter__(self):
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", UserWarning, stacklevel=2)
        self._prev = (state.anomaly, _check_nan[0])
        _set(True, self._nan)
        return self

    def __exit__(self, *exc):
        _set(*self._prev)
        return False

    def __call__(self, fn):
        nan = self._nan

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly(nan):
                return fn(*args, **kwargs)
        return wrapper


def is_anomaly_enabled():
    """True while anomaly detection is on."""
    return state.anomaly


def is_anomaly_check_nan_enabled():
    """True while anomaly detection also checks backward outputs for NaN."""
    return state.anomaly and _check_nan[0]


def record(node):
    """Remember the user's stack (pyrch's own frames dropped) on `node` (anomaly mode only)."""
    if node is None:
        return
    frames = traceback.extract_stack()
    while frames and os.path.abspath(frames[-1].filename).startswith(_PKG):
        frames.pop()
    if node.metadata is None:
        node.metadata = {}
    node.metadata["traceback_"] = traceback.format_list(frames)


def _report(node):
    stack = (node.metadata or {}).get("traceback_")
    if stack:
        warnings.warn(f"Error detected in {node.name()}. Traceback of forward call that caused "
                      "the error:\n" + "".join(stack), UserWarning, stacklevel=4)


def checked_apply(node, g, create_graph):
    """node.apply, but a failure reports the node's forward stack and NaN grads raise."""
    try:
        in_grads = node.apply(g, create_graph)
    except Exception:
        _report(node)
        raise
    if _check_nan[0]:
        for i, ig in enumerate(in_grads):
            d = getattr(ig, "_data", None)
            if d is not None and d.dtype.kind == "f" and bool((d != d).any()):
                _report(node)
                raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th output.")
    return in_grads
