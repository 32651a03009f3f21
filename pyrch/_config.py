"""Environment flags, read once, and the `pyrch.config(...)` override scope.

PYRCH_DEBUG (0-3), PYRCH_JIT (0 disables tracing), PYRCH_C (0 forces the
reference executor), PYRCH_CHECK (eager cross-check of the first N replays),
PYRCH_CUDA_GRAPHS (0: traced CUDA plans launch kernel by kernel, never as a
captured CUDA graph).

>>> import pyrch
>>> with pyrch.config(debug=0):
...     pass
"""
import contextlib
import os


class _Flags:
    def __init__(self):
        self.debug = int(os.environ.get("PYRCH_DEBUG", "0") or 0)
        self.jit = os.environ.get("PYRCH_JIT", "1") != "0"
        self.c = os.environ.get("PYRCH_C", "1") != "0"
        self.check = int(os.environ.get("PYRCH_CHECK", "0") or 0)
        self.cuda_graphs = os.environ.get("PYRCH_CUDA_GRAPHS", "1") != "0"


flags = _Flags()


@contextlib.contextmanager
def config(**overrides):
    """Override flags (`debug`, `jit`, `c`, `check`, `cuda_graphs`) inside a `with` block."""
    old = {}
    for k, v in overrides.items():
        if not hasattr(flags, k):
            raise TypeError(f"config() got an unknown flag {k!r}; known: debug, jit, c, check, cuda_graphs")
        old[k] = getattr(flags, k)
        setattr(flags, k, v)
    from . import _dispatch
    _dispatch.refresh_hooks()
    try:
        yield flags
    finally:
        for k, v in old.items():
            setattr(flags, k, v)
        _dispatch.refresh_hooks()
