"""Random number generators: `Generator`, the default one, and torch's seeding API.

A pyrch `Generator` wraps ONE numpy `np.random.Generator` (PCG64) for its
whole life. Seeding and `set_state` rewrite that bit generator's state in
place instead of replacing the object, so anything holding on to the numpy
generator -- a random op's recorded input in a traced graph -- keeps drawing
from the stream the user seeded. (See ops/random.py for how random ops
receive it.)

>>> import pyrch
>>> _ = pyrch.manual_seed(0)
>>> a = pyrch.rand(2)
>>> _ = pyrch.manual_seed(0)
>>> bool((pyrch.rand(2) == a).all())
True
"""
import contextlib
import os

import numpy as np

_MASK64 = (1 << 64) - 1
_STATE_BYTES = 16 + 16 + 1 + 4 + 8      # PCG64 state, increment, has_uint32, uinteger, seed


class Generator:
    """A random stream (`pyrch.Generator(device='cpu')`), passed as `generator=`."""

    def __init__(self, device="cpu"):
        from ._backend import device as _device
        self.device = _device(device)
        self._seed = 67280421310721      # torch's default seed for a fresh Generator
        self._np = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed):
        """Reseed from an int (negative ints wrap to 64 bits, as in torch); returns self."""
        seed = int(seed)
        if not -(1 << 63) <= seed <= _MASK64:
            raise RuntimeError(f"Overflow when unpacking long long: seed {seed} does not fit 64 bits")
        self._seed = seed & _MASK64
        self._np.bit_generator.state = np.random.PCG64(self._seed).state
        return self

    def seed(self):
        """Reseed from OS entropy and return the new seed."""
        s = int.from_bytes(os.urandom(8), "little") & ((1 << 63) - 1)
        self.manual_seed(s)
        return s

    def initial_seed(self):
        """The seed this generator was last seeded with."""
        return self._seed

    def get_state(self):
        """The full state as a uint8 tensor (torch's ByteTensor convention)."""
        from ._creation import tensor
        st = self._np.bit_generator.state
        raw = (st["state"]["state"].to_bytes(16, "little") + st["state"]["inc"].to_bytes(16, "little")
               + bytes([st["has_uint32"]]) + int(st["uinteger"]).to_bytes(4, "little")
               + self._seed.to_bytes(8, "little"))
        return tensor(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state):
        """Restore a state from `get_state()`; returns self."""
        arr = np.asarray(new_state._host() if hasattr(new_state, "_host") else new_state)
        if arr.dtype != np.uint8 or arr.ndim != 1:
            raise TypeError("expected a torch.ByteTensor, but got a tensor of another type or shape")
        if arr.size != _STATE_BYTES:
            raise RuntimeError(f"Expected either a PhiloxState of size 16 or a state of size "
                               f"{_STATE_BYTES} but found the input RNG state size to be {arr.size}")
        raw = arr.tobytes()
        self._np.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": int.from_bytes(raw[:16], "little"),
                      "inc": int.from_bytes(raw[16:32], "little")},
            "has_uint32": raw[32], "uinteger": int.from_bytes(raw[33:37], "little")}
        self._seed = int.from_bytes(raw[37:45], "little")
        return self

    def __repr__(self):
        return f"<pyrch.Generator object at {hex(id(self))}>"


default_generator = Generator()
default_generator.seed()     # like torch, an unseeded process draws a fresh stream each run


def _np_gen(generator):
    """The numpy generator that random ops consume (the default one when None)."""
    if generator is None:
        return default_generator._np
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a pyrch.Generator, not {type(generator).__name__}")
    return generator._np


def manual_seed(seed):
    """Seed the default generator; returns it (same as torch.manual_seed)."""
    return default_generator.manual_seed(seed)


def seed():
    """Seed the default generator from OS entropy and return the seed."""
    return default_generator.seed()


def initial_seed():
    """The seed the default generator was last seeded with."""
    return default_generator.initial_seed()


def get_rng_state():
    """The default generator's state as a uint8 tensor."""
    return default_generator.get_state()


def set_rng_state(new_state):
    """Restore the default generator's state from `get_rng_state()`."""
    default_generator.set_state(new_state)


@contextlib.contextmanager
def fork_rng(devices=None, enabled=True, **kwargs):
    """Restore the default generator's state on exit (torch.random.fork_rng)."""
    if not enabled:
        yield
        return
    saved = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(saved)
