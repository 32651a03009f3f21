"""Grad-mode switches: no_grad, enable_grad, set_grad_enabled, inference_mode.

Each works as a context manager and as a decorator.

>>> import pyrch
>>> x = pyrch.ones(2, requires_grad=True)
>>> with pyrch.no_grad():
...     (x * 2).requires_grad
False
"""
import functools

from .._dispatch import state


class _Mode:
    _value = True

    def __enter__(self):
        self._prev = state.grad_enabled
        state.grad_enabled = self._value
        return self

    def __exit__(self, *exc):
        state.grad_enabled = self._prev
        return False

    def __call__(self, fn):
        mode = type(self)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with mode() if mode is not set_grad_enabled else mode(self._value):
                return fn(*args, **kwargs)
        return wrapper

    def clone(self):
        return type(self)()


class no_grad(_Mode):
    """Disable gradient recording inside the block (or the decorated function)."""
    _value = False


class enable_grad(_Mode):
    """Enable gradient recording inside the block, even under no_grad."""
    _value = True


class set_grad_enabled(_Mode):
    """`set_grad_enabled(False)` as a call, a context manager or a decorator."""

    def __init__(self, mode=True):
        self._value = bool(mode)
        self._prev = state.grad_enabled
        state.grad_enabled = self._value   # takes effect as a plain call too

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        state.grad_enabled = self._prev
        return False

    def clone(self):
        return set_grad_enabled(self._value)


class inference_mode(_Mode):
    """Like no_grad (pyrch keeps no extra inference-only tensor state)."""

    def __init__(self, mode=True):
        self._value = not mode

    def __call__(self, fn):
        if not callable(fn):
            return inference_mode(fn)
        value = self._value

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            m = inference_mode()
            m._value = value
            with m:
                return fn(*args, **kwargs)
        return wrapper


def is_grad_enabled():
    """True when ops record autograd graphs."""
    return state.grad_enabled


def is_inference_mode_enabled():
    return not state.grad_enabled
