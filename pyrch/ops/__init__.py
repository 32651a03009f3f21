"""The op registry and every op module. Importing this package fills `OPS`."""
from .registry import OPS, COMPOSITES, Op, op, composite, Meta, broadcast_shapes  # noqa: F401
from . import core, elementwise, elementwise_math, elementwise_nn, elementwise_logic  # noqa: F401
from . import elementwise_alias  # noqa: F401
from . import reduce, movement, index, linalg, svd, random, nn, comm  # noqa: F401
from . import vision  # noqa: F401
from . import special_dist  # noqa: F401
from . import linalg_decomp  # noqa: F401
from . import shape_extra  # noqa: F401
from . import math_extra  # noqa: F401
