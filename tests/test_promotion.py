"""dtype promotion and broadcasting against PyTorch's answers.

The tables below were generated ONCE with torch 2.13 (torch.promote_types,
torch.result_type) and pasted here, so this file needs no torch. Rows are
the left operand, columns the right one. "tensor" means a 1-d tensor,
"zero-dim" a 0-dim tensor, "scalar" a Python bool/int/float.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import pyrch

PROMOTE_TYPES = """
        b   u8   i8  i16  i32  i64  f16  f32  f64
   b    b   u8   i8  i16  i32  i64  f16  f32  f64
  u8   u8   u8  i16  i16  i32  i64  f16  f32  f64
  i8   i8  i16   i8  i16  i32  i64  f16  f32  f64
 i16  i16  i16  i16  i16  i32  i64  f16  f32  f64
 i32  i32  i32  i32  i32  i32  i64  f16  f32  f64
 i64  i64  i64  i64  i64  i64  i64  f16  f32  f64
 f16  f16  f16  f16  f16  f16  f16  f16  f32  f64
 f32  f32  f32  f32  f32  f32  f32  f32  f32  f64
 f64  f64  f64  f64  f64  f64  f64  f64  f64  f64
"""

# result_type(1-d tensor of the row dtype, 0-dim tensor of the column dtype)
TENSOR_ZERODIM = """
        b   u8   i8  i16  i32  i64  f16  f32  f64
   b    b   u8   i8  i16  i32  i64  f16  f32  f64
  u8   u8   u8   u8   u8   u8   u8  f16  f32  f64
  i8   i8   i8   i8   i8   i8   i8  f16  f32  f64
 i16  i16  i16  i16  i16  i16  i16  f16  f32  f64
 i32  i32  i32  i32  i32  i32  i32  f16  f32  f64
 i64  i64  i64  i64  i64  i64  i64  f16  f32  f64
 f16  f16  f16  f16  f16  f16  f16  f16  f16  f16
 f32  f32  f32  f32  f32  f32  f32  f32  f32  f32
 f64  f64  f64  f64  f64  f64  f64  f64  f64  f64
"""

# result_type(1-d tensor of the row dtype, Python scalar)
TENSOR_SCALAR = """
     bool  int float
   b    b  i64  f32
  u8   u8   u8  f32
  i8   i8   i8  f32
 i16  i16  i16  f32
 i32  i32  i32  f32
 i64  i64  i64  f32
 f16  f16  f16  f16
 f32  f32  f32  f32
 f64  f64  f64  f64
"""

# result_type(0-dim tensor of the row dtype, Python scalar)
ZERODIM_SCALAR = """
     bool  int float
   b    b  i64  f32
  u8   u8   u8  f32
  i8   i8   i8  f32
 i16  i16  i16  f32
 i32  i32  i32  f32
 i64  i64  i64  f32
 f16  f16  f16  f16
 f32  f32  f32  f32
 f64  f64  f64  f64
"""

CODES = {"b": pyrch.bool, "u8": pyrch.uint8, "i8": pyrch.int8, "i16": pyrch.int16,
         "i32": pyrch.int32, "i64": pyrch.int64, "f16": pyrch.float16, "f32": pyrch.float32,
         "f64": pyrch.float64}
DTYPES = list(CODES.values())
SCALARS = {"bool": True, "int": 2, "float": 2.5}


def _table(text):
    lines = text.strip().splitlines()
    cols = lines[0].split()
    out = {}
    for line in lines[1:]:
        row, *vals = line.split()
        for c, v in zip(cols, vals):
            out[(row, c)] = CODES[v]
    return out


def _t(dt, zero_dim=False):
    return pyrch.ones((), dtype=dt) if zero_dim else pyrch.ones(2, dtype=dt)


def _ids(table):
    return [f"{r}-{c}" for r, c in table]


_PT = _table(PROMOTE_TYPES)
_TZ = _table(TENSOR_ZERODIM)
_TS = _table(TENSOR_SCALAR)
_ZS = _table(ZERODIM_SCALAR)


@pytest.mark.parametrize("key", list(_PT), ids=_ids(_PT))
def test_promote_types_table(key):
    a, b = CODES[key[0]], CODES[key[1]]
    want = _PT[key]
    assert pyrch.promote_types(a, b) is want
    assert pyrch.result_type(_t(a), _t(b)) is want
    assert pyrch.result_type(_t(a, True), _t(b, True)) is want
    assert (_t(a) + _t(b)).dtype is want
    assert (_t(a, True) + _t(b, True)).dtype is want


@pytest.mark.parametrize("key", list(_TZ), ids=_ids(_TZ))
def test_tensor_with_zero_dim_table(key):
    a, b = CODES[key[0]], CODES[key[1]]
    want = _TZ[key]
    assert pyrch.result_type(_t(a), _t(b, True)) is want
    assert pyrch.result_type(_t(b, True), _t(a)) is want
    assert (_t(a) + _t(b, True)).dtype is want
    assert (_t(b, True) + _t(a)).dtype is want


@pytest.mark.parametrize("table,zero_dim", [(_TS, False), (_ZS, True)], ids=["tensor", "zero-dim"])
def test_tensor_with_python_scalar_table(table, zero_dim):
    for (row, col), want in table.items():
        x, s = _t(CODES[row], zero_dim), SCALARS[col]
        assert pyrch.result_type(x, s) is want, (row, col)
        assert (x + s).dtype is want, (row, col)
        assert (s + x).dtype is want, (row, col)


def test_scalar_default_dtype_follows_set_default_dtype():
    try:
        pyrch.set_default_dtype(pyrch.float64)
        assert (pyrch.tensor([1, 2]) + 1.5).dtype is pyrch.float64
        assert (pyrch.ones(2, dtype=pyrch.float32) + 1.5).dtype is pyrch.float32
    finally:
        pyrch.set_default_dtype(pyrch.float32)


def test_python_int_wraps_into_small_int_dtypes():
    # regression: numpy refused out-of-range Python ints; torch wraps them
    assert (pyrch.tensor([1], dtype=pyrch.uint8) + 300).tolist() == [45]
    assert (pyrch.tensor([1], dtype=pyrch.int8) + 1000).tolist() == [-23]
    assert (pyrch.tensor([1], dtype=pyrch.uint8) + (-1)).tolist() == [0]
    assert (pyrch.tensor([1.0], dtype=pyrch.float16) + 1e6).tolist() == [float("inf")]


# -- property tests ----------------------------------------------------------------
_dims = st.lists(st.integers(1, 4), min_size=0, max_size=4)


@st.composite
def _broadcastable(draw):
    """A list of shapes that broadcast (each dim either matches the target or is 1/missing)."""
    target = draw(_dims)
    shapes = []
    for _ in range(draw(st.integers(1, 4))):
        k = draw(st.integers(0, len(target)))
        tail = target[len(target) - k:]
        shapes.append(tuple(d if draw(st.booleans()) else 1 for d in tail))
    return shapes


@settings(max_examples=60, deadline=None)
@given(_broadcastable())
def test_broadcast_shapes_matches_numpy(shapes):
    assert tuple(pyrch.broadcast_shapes(*shapes)) == np.broadcast_shapes(*shapes)
    tensors = [pyrch.zeros(s) for s in shapes]
    out = pyrch.broadcast_tensors(*tensors)
    assert all(tuple(o.shape) == np.broadcast_shapes(*shapes) for o in out)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=1, max_size=3), st.lists(st.integers(1, 3), min_size=1, max_size=3))
def test_broadcast_shapes_rejects_what_numpy_rejects(a, b):
    try:
        want = np.broadcast_shapes(tuple(a), tuple(b))
    except ValueError:
        with pytest.raises(RuntimeError):
            pyrch.broadcast_shapes(tuple(a), tuple(b))
        return
    assert tuple(pyrch.broadcast_shapes(tuple(a), tuple(b))) == want


_operand = st.one_of(
    st.tuples(st.sampled_from(DTYPES), st.sampled_from([(), (2,), (3, 1), (1, 2)])),
    st.sampled_from([True, False, 0, 3, -7, 0.5, -2.0]))


def _make(spec):
    if isinstance(spec, tuple):
        dt, shape = spec
        return pyrch.ones(shape, dtype=dt)
    return spec


@settings(max_examples=150, deadline=None)
@given(_operand, _operand)
def test_add_result_dtype_is_result_type(a, b):
    if not isinstance(a, tuple) and not isinstance(b, tuple):
        return  # two Python scalars: not a tensor op
    x, y = _make(a), _make(b)
    out = x + y
    assert out.dtype is pyrch.result_type(x, y)
    assert (y + x).dtype is out.dtype
    assert tuple(out.shape) == np.broadcast_shapes(np.shape(x), np.shape(y))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(DTYPES), st.sampled_from(DTYPES), st.sampled_from(DTYPES))
def test_promote_types_is_commutative_and_associative(a, b, c):
    p = pyrch.promote_types
    assert p(a, b) is p(b, a)
    assert p(p(a, b), c) is p(a, p(b, c))
