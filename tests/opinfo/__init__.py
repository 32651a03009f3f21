"""The op sample table: every registered op (primitive or composite) has an
OpInfo here, and tests/test_ops.py generates its tests from it.

One module per op family registers its entries with `add(OpInfo(...))`.
Samples are built from numpy float64 arrays (cast to the dtype under test)
and integer/bool arrays (kept as they are), so the same sample feeds pyrch,
PyTorch and gradcheck.
"""
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

SAMPLES = {}


@dataclass
class Sample:
    """One call: positional args (arrays, scalars, lists of arrays) and kwargs.

    noncontig=True turns every float array into a non-contiguous view with
    the same values; grad=False skips the gradient checks for this sample
    (e.g. at a kink); note is shown in the test id.
    """
    args: tuple
    kwargs: dict = field(default_factory=dict)
    noncontig: bool = False
    grad: bool = True
    note: str = ""


@dataclass
class OpInfo:
    """How to test one op.

    call(lib, *args, **kwargs) calls it in pyrch or torch (default
    `getattr(lib, name)`); torch_call overrides that for torch alone; set
    torch_call=False where torch has no equivalent. covers names registry
    entries (usually primitives behind a composite) that these samples
    exercise, so they count as sampled too.
    """
    name: str
    samples: Callable[[np.random.Generator], list]
    call: Optional[Callable] = None
    torch_call: Any = None
    grad: bool = True
    gradgrad: bool = True
    dtypes: tuple = ("float32", "float64")
    atol: float = 1e-5
    rtol: float = 1.3e-6
    grad_atol: float = 1e-5
    grad_rtol: float = 1e-3
    covers: tuple = ()
    traced: bool = True
    in_process: bool = True     # False: exercised elsewhere (collectives: on 2 MPI ranks)

    def run(self, lib, args, kwargs, is_torch=False):
        if is_torch and self.torch_call is not None:
            return self.torch_call(lib, *args, **kwargs)
        if self.call is not None:
            return self.call(lib, *args, **kwargs)
        return getattr(lib, self.name)(*args, **kwargs)

    def rng(self):
        return np.random.default_rng(zlib.crc32(self.name.encode()))


def add(info):
    if info.name in SAMPLES:
        raise ValueError(f"two OpInfo entries for {info.name}")
    SAMPLES[info.name] = info
    return info


def noncontig(arr):
    """The same values as `arr` in a non-contiguous layout."""
    arr = np.asarray(arr)
    if arr.ndim >= 2:
        return np.ascontiguousarray(arr.swapaxes(-1, -2)).swapaxes(-1, -2)
    if arr.ndim == 1:
        return np.repeat(arr, 2)[::2]
    return arr


def positive(rng, *shape, low=0.5, high=2.0):
    return rng.uniform(low, high, size=shape)


def away_from(rng, shape, points=(0.0,), margin=0.1, scale=1.0):
    """Random normals nudged at least `margin` away from kinks (relu at 0, ...)."""
    x = rng.standard_normal(shape) * scale
    for p in points:
        close = np.abs(x - p) < margin
        x = np.where(close, p + np.sign(x - p + 1e-12) * margin * 2, x)
    return x


from . import elementwise, reduce, movement, index, linalg, creation, nn, comm  # noqa: E402,F401
from . import vision  # noqa: E402,F401
from . import special_dist  # noqa: E402,F401
from . import shape_extra  # noqa: E402,F401
from . import math_extra  # noqa: E402,F401
