"""Samples for shape and view ops (see tests/opinfo/__init__.py)."""
from . import OpInfo, Sample, add  # noqa: F401


def _m(name, samples, **kw):
    add(OpInfo(name, samples, **kw))


_m("expand", lambda rng: [
    Sample((rng.standard_normal((3, 1)), 3, 4)),
    Sample((rng.standard_normal((4,)), 2, 3, 4)),
    Sample((rng.standard_normal((1, 4)), -1, 4), noncontig=True),
    Sample((rng.standard_normal(()), 2, 2), note="0dim"),
    Sample((rng.standard_normal((0, 1)), 0, 3), note="empty"),
], call=lambda lib, x, *s: x.expand(*s))
_m("reshape", lambda rng: [
    Sample((rng.standard_normal((3, 4)), (2, 6))),
    Sample((rng.standard_normal((3, 4)), (-1,)), noncontig=True),
    Sample((rng.standard_normal(()), (1, 1)), note="0dim"),
    Sample((rng.standard_normal((0, 4)), (2, 0, 4)), note="empty"),
], call=lambda lib, x, s: x.reshape(s))
_m("view", lambda rng: [
    Sample((rng.standard_normal((3, 4)), (4, 3))),
    Sample((rng.standard_normal((2, 3, 4)), (2, -1))),
    Sample((rng.standard_normal((4, 3)), (1, 4, 3, 1)), noncontig=True),
    Sample((rng.standard_normal(()), (1,)), note="0dim"),
], call=lambda lib, x, s: x.view(*s))
_m("permute", lambda rng: [
    Sample((rng.standard_normal((2, 3, 4)), (2, 0, 1))),
    Sample((rng.standard_normal((3, 4)), (1, 0)), noncontig=True),
    Sample((rng.standard_normal(()), ()), note="0dim"),
], call=lambda lib, x, d: x.permute(d))
_m("expand_as", lambda rng: [Sample((rng.standard_normal((3, 1)), rng.standard_normal((2, 3, 4))))],
   call=lambda lib, x, y: x.expand_as(y))
_m("broadcast_to", lambda rng: [Sample((rng.standard_normal((3, 1)), (2, 3, 4)), noncontig=True)])
_m("broadcast_tensors", lambda rng: [
    Sample((rng.standard_normal((3, 1)), rng.standard_normal((4,)))),
], call=lambda lib, *xs: lib.broadcast_tensors(*xs))
_m("view_as", lambda rng: [Sample((rng.standard_normal((3, 4)), rng.standard_normal((2, 6))))],
   call=lambda lib, x, y: x.view_as(y))
_m("reshape_as", lambda rng: [Sample((rng.standard_normal((3, 4)), rng.standard_normal((6, 2))),
                                     noncontig=True)],
   call=lambda lib, x, y: x.reshape_as(y))
_m("contiguous", lambda rng: [Sample((rng.standard_normal((3, 4)),), noncontig=True)],
   call=lambda lib, x: x.contiguous())
_m("flatten", lambda rng: [
    Sample((rng.standard_normal((2, 3, 4)),)),
    Sample((rng.standard_normal((2, 3, 4)), 1)),
    Sample((rng.standard_normal((2, 3, 4)), 0, 1), noncontig=True),
    Sample((rng.standard_normal(()),), note="0dim"),
])
_m("ravel", lambda rng: [Sample((rng.standard_normal((3, 4)),), noncontig=True)])
_m("unflatten", lambda rng: [Sample((rng.standard_normal((2, 12)), 1, (3, -1))),
                             Sample((rng.standard_normal((6, 2)), 0, (2, 3)), noncontig=True)])
_m("squeeze", lambda rng: [
    Sample((rng.standard_normal((1, 3, 1, 2)),)),
    Sample((rng.standard_normal((1, 3, 1, 2)), 2)),
    Sample((rng.standard_normal((1, 3, 1, 2)), 1)),
    Sample((rng.standard_normal((1, 3, 1, 2)), (0, 2))),
    Sample((rng.standard_normal(()),), note="0dim"),
])
_m("unsqueeze", lambda rng: [Sample((rng.standard_normal((3, 4)), 1)),
                             Sample((rng.standard_normal((3, 4)), -1), noncontig=True),
                             Sample((rng.standard_normal(()), 0), note="0dim")])
_m("atleast_1d", lambda rng: [Sample((rng.standard_normal(()),))])
_m("atleast_2d", lambda rng: [Sample((rng.standard_normal((3,)),)), Sample((rng.standard_normal(()),))])
_m("atleast_3d", lambda rng: [Sample((rng.standard_normal((3,)),)),
                              Sample((rng.standard_normal((2, 3)),))])
_m("transpose", lambda rng: [Sample((rng.standard_normal((2, 3, 4)), 0, 2)),
                             Sample((rng.standard_normal((3, 4)), -1, 0), noncontig=True)])
_m("swapaxes", lambda rng: [Sample((rng.standard_normal((2, 3, 4)), 1, 2))])
_m("swapdims", lambda rng: [Sample((rng.standard_normal((2, 3, 4)), 0, 1))])
_m("t", lambda rng: [Sample((rng.standard_normal((3, 4)),), noncontig=True),
                     Sample((rng.standard_normal((3,)),))])
_m("movedim", lambda rng: [Sample((rng.standard_normal((2, 3, 4)), 0, -1)),
                           Sample((rng.standard_normal((2, 3, 4)), (0, 1), (2, 0)))])
_m("moveaxis", lambda rng: [Sample((rng.standard_normal((2, 3, 4)), 2, 0))])
_m("repeat", lambda rng: [
    Sample((rng.standard_normal((2, 3)), 2, 1)),
    Sample((rng.standard_normal((3,)), 2, 2)),
    Sample((rng.standard_normal((2, 3)), 1, 2), noncontig=True),
    Sample((rng.standard_normal(()), 3), note="0dim"),
    Sample((rng.standard_normal((2,)), 0), note="empty"),
], call=lambda lib, x, *s: x.repeat(*s))
_m("tile", lambda rng: [Sample((rng.standard_normal((2, 3)), (2,))),
                        Sample((rng.standard_normal((3,)), (2, 2)))])
_m("narrow", lambda rng: [Sample((rng.standard_normal((4, 5)), 1, 1, 3)),
                          Sample((rng.standard_normal((4, 5)), 0, -2, 2), noncontig=True),
                          Sample((rng.standard_normal((4, 5)), 0, 4, 0), note="empty")])
_m("select", lambda rng: [Sample((rng.standard_normal((4, 5)), 1, -1)),
                          Sample((rng.standard_normal((4, 5)), 0, 2), noncontig=True)])
_m("split", lambda rng: [Sample((rng.standard_normal((5, 4)), 2)),
                         Sample((rng.standard_normal((5, 4)), [1, 3], 1)),
                         Sample((rng.standard_normal((5, 4)), [2, 3]), noncontig=True)])
_m("chunk", lambda rng: [Sample((rng.standard_normal((5, 4)), 2)),
                         Sample((rng.standard_normal((5, 4)), 3, 1))])
_m("tensor_split", lambda rng: [Sample((rng.standard_normal((7, 2)), 3)),
                                Sample((rng.standard_normal((7, 2)), [1, 5]))])
_m("unbind", lambda rng: [Sample((rng.standard_normal((3, 4)),)),
                          Sample((rng.standard_normal((3, 4)), 1), noncontig=True)])


def _cat(rng):
    return [
        Sample(([rng.standard_normal((2, 3)), rng.standard_normal((1, 3))],)),
        Sample(([rng.standard_normal((2, 3)), rng.standard_normal((2, 2))], 1)),
        Sample(([rng.standard_normal((2, 3)), rng.standard_normal((2, 3))], -1), noncontig=True),
        Sample(([rng.standard_normal((0, 3)), rng.standard_normal((2, 3))],), note="empty"),
        Sample(([rng.standard_normal((2, 3)), rng.standard_normal((0,))],), note="legacy_empty"),
    ]


_m("cat", _cat)
_m("concat", lambda rng: [Sample(([rng.standard_normal((2, 3)), rng.standard_normal((2, 1))], 1))])
_m("concatenate", lambda rng: [Sample(([rng.standard_normal((1, 3)), rng.standard_normal((2, 3))],))])
_m("stack", lambda rng: [Sample(([rng.standard_normal((2, 3)), rng.standard_normal((2, 3))],)),
                         Sample(([rng.standard_normal((2, 3)), rng.standard_normal((2, 3))], 2)),
                         Sample(([rng.standard_normal(()), rng.standard_normal(())],), note="0dim")])
_m("hstack", lambda rng: [Sample(([rng.standard_normal((3,)), rng.standard_normal((2,))],)),
                          Sample(([rng.standard_normal((2, 1)), rng.standard_normal((2, 3))],))])
_m("vstack", lambda rng: [Sample(([rng.standard_normal((3,)), rng.standard_normal((3,))],)),
                          Sample(([rng.standard_normal((1, 3)), rng.standard_normal((2, 3))],))])
_m("row_stack", lambda rng: [Sample(([rng.standard_normal((3,)), rng.standard_normal((2, 3))],))])
_m("dstack", lambda rng: [Sample(([rng.standard_normal((3,)), rng.standard_normal((3,))],))])
_m("column_stack", lambda rng: [Sample(([rng.standard_normal((3,)), rng.standard_normal((3, 2))],))])
_m("flip", lambda rng: [Sample((rng.standard_normal((3, 4)), 0)),
                        Sample((rng.standard_normal((2, 3, 4)), (0, 2))),
                        Sample((rng.standard_normal((3, 4)), (-1,)), noncontig=True),
                        Sample((rng.standard_normal(()), ()), note="0dim")],
   call=lambda lib, x, d: x.flip(d))
_m("fliplr", lambda rng: [Sample((rng.standard_normal((3, 4)),))])
_m("flipud", lambda rng: [Sample((rng.standard_normal((3, 4)),), noncontig=True)])
_m("roll", lambda rng: [Sample((rng.standard_normal((3, 4)), 1)),
                        Sample((rng.standard_normal((3, 4)), 1, 0)),
                        Sample((rng.standard_normal((3, 4)), (2, -1), (1, 0)), noncontig=True)])
_m("diagonal", lambda rng: [Sample((rng.standard_normal((3, 4)),)),
                            Sample((rng.standard_normal((3, 4)), 1)),
                            Sample((rng.standard_normal((2, 3, 4)), -1, 2, 1), noncontig=True),
                            Sample((rng.standard_normal((2, 3)), 5), note="empty")])
_m("diagonal_scatter", lambda rng: [Sample((rng.standard_normal((3, 4)), rng.standard_normal((3,)))),
                                    Sample((rng.standard_normal((3, 4)), rng.standard_normal((2,)), -1)),
                                    Sample((rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3)),
                                            0, 1, 2))])


def _pad(rng):
    return [
        Sample((rng.standard_normal((2, 3)), (1, 2))),
        Sample((rng.standard_normal((2, 3, 4)), (1, 0, 2, 1)), {"value": 1.5}, noncontig=True),
        Sample((rng.standard_normal((2, 5)), (-1, 2))),
        Sample((rng.standard_normal((1, 2, 4)), (2, 3)), {"mode": "reflect"}),
        Sample((rng.standard_normal((1, 3, 4)), (1, 2, 2, 1)), {"mode": "reflect"}),
        Sample((rng.standard_normal((1, 2, 3)), (2, 1)), {"mode": "replicate"}),
        Sample((rng.standard_normal((1, 2, 3, 3)), (1, 1, 2, 0)), {"mode": "replicate"}),
        Sample((rng.standard_normal((1, 2, 4)), (2, 1)), {"mode": "circular"}),
    ]


_m("pad", _pad, covers=("constant_pad_nd",),
   torch_call=lambda lib, x, p, **k: lib.nn.functional.pad(x, p, **k))
_m("view_dtype", lambda rng: [
    Sample((rng.standard_normal((3, 4)), "int")),            # same element size
    Sample((rng.standard_normal((3, 4)), "half")),           # smaller: the last dim doubles
    Sample((rng.standard_normal((2, 4)), "long"), note="wider"),
], call=lambda lib, x, d: x.view(_VIEW_DTYPES[d](lib, x.dtype)), grad=False, gradgrad=False)


def _same_size(lib, dt, kind):
    """The integer/float dtype of `kind` whose element size matches `dt`'s."""
    return {("int", 4): lib.int32, ("int", 8): lib.int64, ("half", 4): lib.float16,
            ("half", 8): lib.float32, ("long", 4): lib.float64, ("long", 8): lib.float64}[
        (kind, 4 if dt == lib.float32 else 8)]


_VIEW_DTYPES = {k: (lambda lib, dt, k=k: _same_size(lib, dt, k)) for k in ("int", "half", "long")}

# the strided-region ops behind in-place ops on views (`y[0] += 1` under autograd);
# torch spells them as_strided / as_strided_scatter
_GEOMS = [((2, 2), (4, 1), 1), ((3,), (4,), 2), ((2, 3), (1, 4), 0)]
_m("copy_slices", lambda rng: [
    Sample((rng.standard_normal((3, 4)), rng.standard_normal(s)),
           {"shape": s, "strides": st, "offset": o}) for s, st, o in _GEOMS],
   # NOTE: torch's as_strided_scatter gets the input's gradient wrong (it keeps the region,
   # not the rest); clone + as_strided(...).copy_ goes through torch's CopySlices instead
   torch_call=lambda lib, x, src, shape, strides, offset: _scatter_via_view(x, src, shape, strides,
                                                                           offset))


def _scatter_via_view(x, src, shape, strides, offset):
    y = x.clone()
    y.as_strided(shape, strides, offset).copy_(src)
    return y
_m("strided_take", lambda rng: [
    Sample((rng.standard_normal((3, 4)),), {"shape": s, "strides": st, "offset": o})
    for s, st, o in _GEOMS],
   torch_call=lambda lib, x, shape, strides, offset: lib.as_strided(x, shape, strides, offset).clone())
_m("as_strided_view", lambda rng: [
    Sample((rng.standard_normal((3, 4)),), {"shape": s, "strides": st, "offset": o})
    for s, st, o in _GEOMS],
   torch_call=lambda lib, x, shape, strides, offset: lib.as_strided(x, shape, strides, offset))


def _ints(rng, shape, low=-3, high=4):
    import numpy as np
    return rng.integers(low, high, size=shape).astype(np.int64)


_m("repeat_interleave", lambda rng: [
    Sample((rng.standard_normal((2, 3)), 2), note="flat"),
    Sample((rng.standard_normal((2, 3)), 3), {"dim": 1}),
    Sample((rng.standard_normal((2, 3, 2)), 2), {"dim": -2}, note="neg", noncontig=True),
    Sample((rng.standard_normal((2, 3)), 0), {"dim": 0}, note="zero"),
    Sample((rng.standard_normal(()), 3), note="0dim"),
    Sample((rng.standard_normal((0, 3)), 2), {"dim": 1}, note="empty"),
    Sample((_ints(rng, (2, 3)), 2), {"dim": 0, "output_size": 4}, note="int"),
])   # tensor repeats give a data-dependent size, so no trace: tests/test_new_funcs.py


_m("diff", lambda rng: [
    Sample((rng.standard_normal((5,)),)),
    Sample((rng.standard_normal((3, 5)),), {"n": 2}, note="n2"),
    Sample((rng.standard_normal((4, 3)), 1, 0), note="dim0", noncontig=True),
    Sample((rng.standard_normal((2, 4, 3)),), {"dim": -2, "n": 3}, note="neg"),
    Sample((rng.standard_normal((3, 4)), 1, -1, rng.standard_normal((3, 2)),
            rng.standard_normal((3, 1))), note="pre-app"),
    Sample((rng.standard_normal((2, 3)), 2, 0, rng.standard_normal((1, 3))), note="pre"),
    Sample((rng.standard_normal((3,)),), {"n": 5}, note="n-large"),
    Sample((rng.standard_normal((3,)),), {"n": 0}, note="n0"),
    Sample((_ints(rng, (3, 4)),), {"dim": 0}, note="int"),
    Sample((_ints(rng, (5,)) > 0,), note="bool"),
])


_m("meshgrid", lambda rng: [
    Sample((rng.standard_normal((2,)), rng.standard_normal((3,))), {"indexing": "ij"}),
    Sample((rng.standard_normal((2,)), rng.standard_normal((3,)), rng.standard_normal((4,))),
           {"indexing": "xy"}, note="xy3"),
    Sample((rng.standard_normal(()), rng.standard_normal((3,))), {"indexing": "xy"}, note="0dim"),
    Sample((rng.standard_normal((4,)),), {"indexing": "ij"}, note="one"),
    Sample((_ints(rng, (2,)), _ints(rng, (0,))), {"indexing": "ij"}, note="int-empty"),
], call=lambda lib, *ts, **k: lib.meshgrid(*ts, **k))
