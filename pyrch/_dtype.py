"""dtypes and PyTorch's type-promotion rules, implemented here (numpy's differ).

>>> import pyrch
>>> pyrch.result_type(pyrch.tensor([1, 2]), 1.5)
pyrch.float32
"""
import builtins
import numpy as np


class dtype:
    """A tensor element type; `pyrch.float32` and friends are the instances."""
    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_cat", "_rank")

    def __init__(self, name, np_type, cat, rank):
        self.name = name
        self.np = np.dtype(np_type)
        self._cat = cat                      # 0 bool, 1 integer, 2 floating
        self._rank = rank
        self.is_floating_point = cat == 2
        self.is_signed = name not in ("bool", "uint8")
        self.itemsize = self.np.itemsize

    @property
    def is_complex(self):
        return False

    def __repr__(self):
        return "pyrch." + self.name

    def __reduce__(self):
        return (_by_name, (self.name,))

    def to_numpy(self):
        return self.np


bool_ = dtype("bool", np.bool_, 0, 0)
uint8 = dtype("uint8", np.uint8, 1, 1)
int8 = dtype("int8", np.int8, 1, 2)
int16 = dtype("int16", np.int16, 1, 3)
int32 = dtype("int32", np.int32, 1, 4)
int64 = dtype("int64", np.int64, 1, 5)
float16 = dtype("float16", np.float16, 2, 6)
float32 = dtype("float32", np.float32, 2, 7)
float64 = dtype("float64", np.float64, 2, 8)

# torch's ScalarType names, for error messages in torch's words ("Got: Long")
TORCH_NAMES = {"bool": "Bool", "uint8": "Byte", "int8": "Char", "int16": "Short", "int32": "Int",
               "int64": "Long", "float16": "Half", "float32": "Float", "float64": "Double"}

ALL = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)
ALIASES = {"half": float16, "float": float32, "double": float64, "long": int64,
           "int": int32, "short": int16, "bool": bool_}
_NAMES = {d.name: d for d in ALL}
_NAMES.update(ALIASES)
# numpy dtype -> pyrch dtype; looked up on every Tensor.dtype access.
NP2DT = {d.np: d for d in ALL}
for _t, _d in ((np.bool_, bool_), (np.uint8, uint8), (np.int8, int8), (np.int16, int16),
               (np.int32, int32), (np.int64, int64), (np.float16, float16),
               (np.float32, float32), (np.float64, float64)):
    NP2DT[_t] = _d


def _by_name(name):
    return _NAMES[name]


def _promote_pair(a, b):
    if a is b:
        return a
    if a._cat != b._cat:
        hi, lo = (a, b) if a._cat > b._cat else (b, a)
        return hi
    if a._cat == 2:
        return a if a._rank > b._rank else b
    return NP2DT[np.promote_types(a.np, b.np)]


_TABLE = {(a, b): _promote_pair(a, b) for a in ALL for b in ALL}


def promote_types(a, b):
    """The smallest dtype both `a` and `b` convert to, by PyTorch's table."""
    return _TABLE[(a, b)]


class _Default:
    float = float32


_default = _Default()


def get_default_dtype():
    """The dtype Python floats and `pyrch.tensor([1.0])` become (float32 unless set)."""
    return _default.float


def set_default_dtype(d):
    """Set the default floating dtype (float16, float32 or float64), as torch does."""
    d = as_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default.float = d


def as_dtype(d):
    """Accept a pyrch dtype, a numpy dtype, a name, or a Python type."""
    if isinstance(d, dtype):
        return d
    if d is builtins.float:
        return float64          # as torch: Python's float is double precision
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool_
    if isinstance(d, str):
        if d in _NAMES:
            return _NAMES[d]
        raise TypeError(f"unknown dtype name {d!r}")
    try:
        return NP2DT[np.dtype(d)]
    except (TypeError, KeyError):
        raise TypeError(f"pyrch has no dtype for {d!r}") from None


def scalar_dtype(v):
    """The dtype a Python scalar takes when it is wrapped (torch's 'wrapped number')."""
    if isinstance(v, builtins.bool):
        return bool_
    if isinstance(v, builtins.int):
        return int64
    if isinstance(v, builtins.float):
        return _default.float
    if isinstance(v, np.generic):
        return NP2DT[v.dtype]
    raise TypeError(f"expected a Tensor or a Python number, got {type(v).__name__}")


def _combine(higher, lower):
    # higher-priority group wins unless a lower one is of a higher category
    if higher is None:
        return lower
    if lower is None or higher._cat == 2:
        return higher
    if higher._cat == 0 or lower._cat == 2:
        return _TABLE[(higher, lower)]
    return higher


def result_type_of(dims, zero_dims, scalars):
    """Combine the three priority groups the way c10's ResultTypeState does."""
    return _combine(dims, _combine(zero_dims, scalars))


def result_type(*operands):
    """The dtype an elementwise op over `operands` computes in, by torch's rules."""
    dims = zero = wrapped = None
    for o in operands:
        d = getattr(o, "_data", None)
        if d is not None:
            t = NP2DT[d.dtype]
            if d.ndim:
                dims = t if dims is None else _TABLE[(dims, t)]
            else:
                zero = t if zero is None else _TABLE[(zero, t)]
        elif isinstance(o, dtype):
            dims = o if dims is None else _TABLE[(dims, o)]
        else:
            t = scalar_dtype(o)
            wrapped = t if wrapped is None else _TABLE[(wrapped, t)]
    return result_type_of(dims, zero, wrapped)


def can_cast(from_, to):
    """torch.can_cast: False only when the cast lowers the category."""
    return as_dtype(from_)._cat <= as_dtype(to)._cat


class finfo:
    """Machine limits of a floating dtype (`pyrch.finfo(pyrch.float32).eps`)."""
    def __init__(self, d=None):
        d = _default.float if d is None else as_dtype(d)
        f = np.finfo(d.np)
        self.bits, self.eps, self.max, self.min = f.bits, float(f.eps), float(f.max), float(f.min)
        self.tiny = self.smallest_normal = float(f.tiny)
        self.resolution, self.dtype = float(f.resolution), d.name


class iinfo:
    """Machine limits of an integer dtype."""
    def __init__(self, d):
        d = as_dtype(d)
        f = np.iinfo(d.np)
        self.bits, self.max, self.min, self.dtype = f.bits, int(f.max), int(f.min), d.name
