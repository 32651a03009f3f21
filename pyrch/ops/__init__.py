"""The op registry and every op module. Importing this package fills `OPS`."""
from .registry import OPS, COMPOSITES, Op, op, composite, Meta, broadcast_shapes  # noqa: F401
from . import core, elementwise, reduce, movement, index, linalg, random, nn  # noqa: F401
