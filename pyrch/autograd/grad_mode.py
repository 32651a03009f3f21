"""Grad-mode switches: no_grad, enable_grad, set_grad_enabled, inference_mode.

Each works as a context manager and as a decorator (with or without parentheses).

>>> import pyrch
>>> x = pyrch.ones(2, requires_grad=True)
>>> with pyrch.no_grad():
...     (x * 2).requires_grad
False
"""
import functools
import inspect

from .._dispatch import state


class _Mode:
    """A switch of (grad_enabled, inference): context manager and decorator."""
    _grad = True          # grad mode inside the block; None leaves it as it is
    _inference = None     # inference flag inside the block; None leaves it as it is

    def __new__(cls, *args, **kwargs):
        if len(args) == 1 and not kwargs and callable(args[0]) and cls is not set_grad_enabled:
            return cls()(args[0])     # bare decorator: @no_grad
        return super().__new__(cls)

    def __enter__(self):
        self._prev = (state.grad_enabled, state.inference)
        if self._grad is not None:
            state.grad_enabled = self._grad
        if self._inference is not None:
            state.inference = self._inference
        return self

    def __exit__(self, *exc):
        state.grad_enabled, state.inference = self._prev
        return False

    def __call__(self, fn):
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen_wrapper(*args, **kwargs):
                # the mode holds while the generator body runs, resume by resume (as torch),
                # and the caller's mode is back at every yield
                gen = fn(*args, **kwargs)
                try:
                    with self.clone():
                        item = next(gen)
                    while True:
                        try:
                            sent = yield item
                        except GeneratorExit:
                            gen.close()
                            raise
                        except BaseException as e:  # noqa: BLE001 - thrown in: to the body
                            with self.clone():
                                item = gen.throw(e)
                        else:
                            with self.clone():
                                item = gen.send(sent)
                except StopIteration as stop:
                    return stop.value
            return gen_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.clone():
                return fn(*args, **kwargs)
        return wrapper

    def clone(self):
        """A fresh switch with the same setting (decorators enter one per call)."""
        return type(self)()


class no_grad(_Mode):
    """Disable gradient recording inside the block (or the decorated function)."""
    _grad = False


class enable_grad(_Mode):
    """Enable gradient recording inside the block, even under no_grad."""
    _grad = True


class set_grad_enabled(_Mode):
    """`set_grad_enabled(False)` as a call, a context manager or a decorator."""

    def __init__(self, mode=True):
        self._grad = bool(mode)
        self._prev = (state.grad_enabled, state.inference)
        state.grad_enabled = self._grad   # takes effect as a plain call too

    def __enter__(self):
        return self

    def __call__(self, fn):
        state.grad_enabled, state.inference = self._prev   # decorating must not switch it for good
        return super().__call__(fn)

    def clone(self):
        return _Switch(self._grad)


class _Switch(_Mode):
    def __init__(self, grad):
        self._grad = grad


class inference_mode(_Mode):
    """Like no_grad, and `is_inference_mode_enabled()` is True (pyrch keeps no
    inference-only tensor state). `inference_mode(False)` changes nothing."""

    def __init__(self, mode=True):
        self._mode = bool(mode)
        self._grad = False if mode else None
        self._inference = True if mode else None

    def clone(self):
        return inference_mode(self._mode)


def is_grad_enabled():
    """True when ops record autograd graphs."""
    return state.grad_enabled


def is_inference_mode_enabled():
    """True inside an `inference_mode()` block."""
    return bool(state.inference)
