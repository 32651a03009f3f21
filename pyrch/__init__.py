"""pyrch: a PyTorch-shaped deep-learning framework with a tracing JIT.

>>> import pyrch as torch
>>> x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4., 6.])
"""
from ._dtype import (dtype, bool_ as bool, uint8, int8, int16, int32, int64, float16,  # noqa: F401
                     float32, float64, promote_types, result_type, can_cast,
                     get_default_dtype, set_default_dtype, finfo, iinfo)
from ._dtype import float16 as half, float32 as float, float64 as double  # noqa: F401
from ._dtype import int64 as long, int32 as int, int16 as short  # noqa: F401
from ._backend import device  # noqa: F401
from ._config import config  # noqa: F401
from ._dispatch import ShapeError  # noqa: F401
from ._tensor import Tensor, Size  # noqa: F401
from ._creation import (tensor, as_tensor, asarray, from_numpy, from_dlpack, zeros, ones,  # noqa: F401
                        empty, full, zeros_like, ones_like, empty_like, full_like, arange,
                        linspace, logspace, eye, scalar_tensor)
from . import autograd  # noqa: F401
from .autograd import (no_grad, enable_grad, set_grad_enabled, inference_mode,  # noqa: F401
                       is_grad_enabled)
from . import ops as _ops
from . import _functions

_functions.generate(globals(), Tensor)
_functions.generate_operators(globals(), Tensor)
del _functions

__version__ = "0.1.0"
from ._random import (Generator, default_generator, manual_seed, seed, initial_seed,  # noqa: F401,E402
                      get_rng_state, set_rng_state)
from . import _random as random  # noqa: E402  (torch.random: manual_seed, fork_rng, ...)
from ._tensor_str import set_printoptions  # noqa: F401,E402
from . import optim, utils  # noqa: F401,E402
from .serialization import save, load  # noqa: F401,E402
from ._creation import broadcast_shapes  # noqa: F401,E402
from . import nn  # noqa: F401,E402
from . import jit  # noqa: E402,F401
from . import profiler  # noqa: E402,F401
from . import cuda  # noqa: E402,F401
from ._C import set_num_threads, get_num_threads  # noqa: E402,F401
from . import linalg  # noqa: E402,F401
from . import distributions  # noqa: E402,F401
from . import special  # noqa: E402,F401  (torch.special)
from . import func  # noqa: E402,F401  (torch.func)
from math import inf, nan, pi, e  # noqa: E402,F401  (torch.inf, torch.pi, ...)


def is_tensor(obj):
    """True if `obj` is a pyrch Tensor (or a Parameter)."""
    return isinstance(obj, Tensor)


def is_floating_point(input):
    """True if `input`'s dtype is a floating point type."""
    return input.is_floating_point()


def numel(input):
    """The number of elements in `input`."""
    return input.numel()


from . import backends  # noqa: E402,F401
from ._tensor_extra import layout, strided  # noqa: E402,F401  (x.addcdiv_, x.lu(), x.new(...), ...)
from . import _aliases  # noqa: E402  (torch.exp_, torch.conv2d, torch.is_nonzero, ...)
_aliases.install(globals())

_DETERMINISTIC = [False]
_MATMUL_PRECISION = ["highest"]


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Recorded for `are_deterministic_algorithms_enabled()`. pyrch's CPU kernels are
    deterministic for a given thread count already (see the README)."""
    _DETERMINISTIC[0] = mode is True or (mode is not False and mode != 0)   # (`bool` here is the dtype)


def are_deterministic_algorithms_enabled():
    """What `use_deterministic_algorithms` last set."""
    return _DETERMINISTIC[0]


def set_float32_matmul_precision(precision):
    """Recorded only: pyrch's float32 GEMMs always run in full float32 ("highest")."""
    if precision not in ("highest", "high", "medium"):
        raise RuntimeError(f"Invalid precision {precision!r}: expected highest, high or medium")
    _MATMUL_PRECISION[0] = precision


def get_float32_matmul_precision():
    """What `set_float32_matmul_precision` last set."""
    return _MATMUL_PRECISION[0]


def compile(model=None, *, fullgraph=False, dynamic=None, backend=None, mode=None, options=None,
            name=None, disable=False, **kwargs):
    """torch.compile's habit, served by `pyrch.jit.trace`: the function or module is traced
    on its next calls and replayed (guards retrace where shapes or branches change, so a
    replay never differs from eager). The torch-specific options are accepted and unused.

    >>> import pyrch
    >>> f = pyrch.compile(lambda x: (x * 2).sum())
    >>> f(pyrch.ones(3)).item()
    6.0
    """
    if model is None:                       # @pyrch.compile(...) with options
        return lambda m: compile(m, fullgraph=fullgraph, dynamic=dynamic, backend=backend,
                                 mode=mode, options=options, name=name, disable=disable)
    return model if disable else jit.trace(model)


class autocast:
    """torch.autocast's context manager and decorator. pyrch has no mixed-precision
    autocasting: inside the block ops keep their dtypes (results are as precise as
    without it), and a one-time warning says so."""
    _warned = False

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        self.device_type, self.dtype, self.enabled = device_type, dtype, enabled

    def __enter__(self):
        if self.enabled and not autocast._warned:
            import warnings
            warnings.warn("pyrch.autocast: mixed precision is not implemented; ops keep their "
                          "dtypes inside the block", UserWarning, stacklevel=2)
            autocast._warned = True
        return self

    def __exit__(self, *exc):
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return wrapper


def _freeze_import_time_objects():
    """Move every object alive now (modules, functions, classes: pyrch's, numpy's and
    whatever was imported before) out of the cyclic garbage collector's view.

    pyrch allocates many small Python objects per op; each collection used to
    re-scan hundreds of thousands of long-lived import-time objects (a fifth of
    a tiny backward's time with PyTorch also imported). PYRCH_GC_FREEZE=0 keeps
    Python's default.
    """
    import gc
    import os
    if os.environ.get("PYRCH_GC_FREEZE", "1") != "0":
        gc.freeze()


_freeze_import_time_objects()
