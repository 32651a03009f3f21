"""Samples for pyrch/ops/shape_extra.py (see tests/opinfo/__init__.py)."""
import warnings

import numpy as np

from . import OpInfo, Sample, add  # noqa: F401


def _n(rng, *shape):
    return rng.standard_normal(shape)


def _ix(*a):
    return np.array(a, dtype=np.int64)


def _inplace(name):
    return lambda lib, x, *a, **k: getattr(x * 1, name)(*a, **k)


add(OpInfo("block_diag", lambda rng: [
    Sample((_n(rng, 2, 3), _n(rng, 1, 2))),
    Sample((_n(rng, 3), _n(rng), _n(rng, 2, 2)), note="1d_0d"),
    Sample((_n(rng, 2, 2), _n(rng, 0, 2)), note="empty_block"),
    Sample((_n(rng, 3, 2), rng.integers(-3, 4, (2,))), noncontig=True, note="promote"),
]))
add(OpInfo("cartesian_prod", lambda rng: [
    Sample((_n(rng, 3), _n(rng, 2))),
    Sample((_n(rng, 2), _n(rng, 2), _n(rng, 3)), noncontig=True),
]))
add(OpInfo("combinations", lambda rng: [
    Sample((_n(rng, 4),)),
    Sample((_n(rng, 4), 3)),
    Sample((_n(rng, 3), 2, True), note="replacement"),
    Sample((_n(rng, 2), 3), note="none"),
]))
add(OpInfo("rot90", lambda rng: [
    Sample((_n(rng, 2, 3),)),
    Sample((_n(rng, 2, 3), 2)),
    Sample((_n(rng, 2, 3, 4), -1, (2, 0)), noncontig=True),
    Sample((_n(rng, 2, 3), 4), note="k4"),
    Sample((_n(rng, 3, 2), 3, [1, 0])),
]))
def _vander_ref(lib, x, N=None, increasing=False):
    """torch.vander's own backward fails (an in-place cumprod), so torch's side is x ** k."""
    N = x.shape[0] if N is None else N
    out = x.unsqueeze(-1) ** lib.arange(N)
    return out if increasing else out.flip(-1)


add(OpInfo("vander", lambda rng: [
    Sample((_n(rng, 3),)),
    Sample((_n(rng, 4), 2)),
    Sample((_n(rng, 3), 4, True), noncontig=True),
    Sample((rng.integers(-3, 4, (3,)),), note="int"),
], torch_call=_vander_ref))
add(OpInfo("diag_embed", lambda rng: [
    Sample((_n(rng, 3),)),
    Sample((_n(rng, 2, 3), 1)),
    Sample((_n(rng, 2, 3), -1, 0, 2), noncontig=True),
    Sample((_n(rng, 2, 3), 0, 2, 0), note="swapped"),
]))
add(OpInfo("diagflat", lambda rng: [
    Sample((_n(rng, 3),)),
    Sample((_n(rng, 2, 2), 1), noncontig=True),
    Sample((_n(rng, 3), -2)),
]))
add(OpInfo("hsplit", lambda rng: [
    Sample((_n(rng, 3, 4), 2)),
    Sample((_n(rng, 6), [1, 4]), note="1d"),
    Sample((_n(rng, 2, 5, 2), [2]), noncontig=True),
]))
add(OpInfo("vsplit", lambda rng: [
    Sample((_n(rng, 4, 3), 2)),
    Sample((_n(rng, 5, 2), [1, 3])),
]))
add(OpInfo("dsplit", lambda rng: [
    Sample((_n(rng, 2, 2, 4), 4)),
    Sample((_n(rng, 2, 2, 5), [2, 3]), noncontig=True),
]))
add(OpInfo("split_with_sizes", lambda rng: [
    Sample((_n(rng, 5, 3), [2, 3])),
    Sample((_n(rng, 2, 5), [1, 0, 4], 1), noncontig=True),
]))
add(OpInfo("unsafe_split", lambda rng: [Sample((_n(rng, 5, 3), 2)), Sample((_n(rng, 2, 5), 3, 1))]))
add(OpInfo("unsafe_chunk", lambda rng: [Sample((_n(rng, 5, 3), 2)), Sample((_n(rng, 2, 5), 3, 1))]))

add(OpInfo("select_scatter", lambda rng: [
    Sample((_n(rng, 3, 4), _n(rng, 4), 0, 1)),
    Sample((_n(rng, 3, 4), _n(rng, 3), 1, -1), noncontig=True),
    Sample((_n(rng, 2, 3, 2), _n(rng, 2, 3), 2, 0)),
]))
add(OpInfo("slice_scatter", lambda rng: [
    Sample((_n(rng, 5, 3), _n(rng, 2, 3), 0, 1, 3)),
    Sample((_n(rng, 3, 6), _n(rng, 3, 3), 1, None, None, 2), noncontig=True),
    Sample((_n(rng, 4, 2), _n(rng, 2, 2)), {"start": -2}),
    Sample((_n(rng, 4, 2), _n(rng, 4, 2)), note="whole"),
]))


def _mask(*rows):
    return np.array(rows, dtype=bool)


add(OpInfo("masked_scatter", lambda rng: [
    Sample((_n(rng, 2, 3), _mask([True, False, True], [False, True, True]), _n(rng, 5))),
    Sample((_n(rng, 2, 3), _mask([True, False, False]), _n(rng, 2, 2)), noncontig=True,
           note="broadcast"),
    Sample((_n(rng, 3), _mask(False, False, False), _n(rng, 2)), note="none"),
]))
add(OpInfo("masked_scatter_", lambda rng: [
    Sample((_n(rng, 2, 3), _mask([True, False, True], [False, True, True]), _n(rng, 4))),
], call=_inplace("masked_scatter_"), torch_call=_inplace("masked_scatter_")))


def _index_reduce(rng):
    out = []
    for reduce in ("prod", "mean", "amax", "amin"):
        for include_self in (True, False):
            out.append(Sample((_n(rng, 4, 3), 0, _ix(0, 2, 0), _n(rng, 3, 3), reduce),
                              {"include_self": include_self}, note=f"{reduce}-{include_self}"))
    out.append(Sample((_n(rng, 3, 4), 1, _ix(3, 1), _n(rng, 3, 2), "mean"), noncontig=True))
    return out


def _quiet(name):
    def call(lib, x, *a, **k):
        with warnings.catch_warnings():      # torch: "index_reduce() is in beta"
            warnings.simplefilter("ignore")
            return getattr(x * 1, name)(*a, **k)
    return call


add(OpInfo("index_reduce", _index_reduce, call=_quiet("index_reduce"),
           torch_call=_quiet("index_reduce")))
add(OpInfo("index_reduce_", lambda rng: [
    Sample((_n(rng, 4, 3), 0, _ix(1, 1), _n(rng, 2, 3), "amax")),
    Sample((_n(rng, 4, 3), 0, _ix(3, 0), _n(rng, 2, 3), "prod"), {"include_self": False}),
], call=_quiet("index_reduce_"), torch_call=_quiet("index_reduce_")))
add(OpInfo("put", lambda rng: [
    Sample((_n(rng, 3, 4), _ix(0, 11, 5), _n(rng, 3))),
    Sample((_n(rng, 3, 4), _ix(-1, 2), _n(rng, 2)), noncontig=True, note="negative"),
    Sample((_n(rng, 2, 3), np.array([[0, 4], [4, 1]]), _n(rng, 2, 2), True), note="accumulate"),
    Sample((_n(rng), _ix(0), _n(rng, 1)), note="0dim"),
], call=lambda lib, x, i, s, *a: x.put(i, s, *a), torch_call=lambda lib, x, i, s, *a: x.put(i, s, *a)))
add(OpInfo("put_", lambda rng: [
    Sample((_n(rng, 3, 4), _ix(0, 7), _n(rng, 2))),
    Sample((_n(rng, 2, 3), _ix(5, 5, 0), _n(rng, 3), True), note="accumulate"),
], call=_inplace("put_"), torch_call=_inplace("put_")))
add(OpInfo("as_strided", lambda rng: [
    Sample((_n(rng, 3, 4), (2, 2), (4, 1))),
    Sample((_n(rng, 12), (3, 3), (3, 1), 2), note="offset"),
    Sample((_n(rng, 6), (3, 2), (1, 1)), note="overlap"),
    Sample((_n(rng, 2, 3), (3, 2), (1, 3)), note="transposed"),
]))

add(OpInfo("inner", lambda rng: [
    Sample((_n(rng, 3), _n(rng, 3))),
    Sample((_n(rng, 2, 3), _n(rng, 4, 3)), noncontig=True),
    Sample((_n(rng, 2, 2, 3), _n(rng, 3))),
    Sample((_n(rng), _n(rng, 2, 3)), note="0dim"),
]))
add(OpInfo("vdot", lambda rng: [Sample((_n(rng, 4), _n(rng, 4))),
                                Sample((_n(rng, 3), _n(rng, 3)), noncontig=True)]))
add(OpInfo("addmv", lambda rng: [
    Sample((_n(rng, 2), _n(rng, 2, 3), _n(rng, 3))),
    Sample((_n(rng, 1), _n(rng, 3, 3), _n(rng, 3)), {"beta": 0.5, "alpha": 2.0}, noncontig=True),
]))
add(OpInfo("addr", lambda rng: [
    Sample((_n(rng, 2, 3), _n(rng, 2), _n(rng, 3))),
    Sample((_n(rng, 3), _n(rng, 2), _n(rng, 3)), {"beta": 2.0, "alpha": -1.0}, note="broadcast"),
]))
add(OpInfo("addbmm", lambda rng: [
    Sample((_n(rng, 2, 4), _n(rng, 3, 2, 3), _n(rng, 3, 3, 4))),
    Sample((_n(rng, 4), _n(rng, 2, 2, 3), _n(rng, 2, 3, 4)), {"beta": 0.5, "alpha": 2.0}),
]))
add(OpInfo("addmv_", lambda rng: [Sample((_n(rng, 2), _n(rng, 2, 3), _n(rng, 3)), {"alpha": 2.0})],
           call=_inplace("addmv_"), torch_call=_inplace("addmv_")))
add(OpInfo("addr_", lambda rng: [Sample((_n(rng, 2, 3), _n(rng, 2), _n(rng, 3)), {"beta": 0.5})],
           call=_inplace("addr_"), torch_call=_inplace("addr_")))
add(OpInfo("addbmm_", lambda rng: [Sample((_n(rng, 2, 4), _n(rng, 3, 2, 3), _n(rng, 3, 3, 4)))],
           call=_inplace("addbmm_"), torch_call=_inplace("addbmm_")))


def _chain(lib, *ms):
    with warnings.catch_warnings():          # both warn that chain_matmul is deprecated
        warnings.simplefilter("ignore")
        return lib.chain_matmul(*ms)


add(OpInfo("chain_matmul", lambda rng: [
    Sample((_n(rng, 2, 3), _n(rng, 3, 4), _n(rng, 4, 2))),
    Sample((_n(rng, 2, 3),), note="one"),
    Sample((_n(rng, 3, 3), _n(rng, 3, 2)), noncontig=True),
], call=_chain))


def _trap(rng):
    return [
        Sample((_n(rng, 5),)),
        Sample((_n(rng, 3, 4),), {"dx": 0.5, "dim": 0}),
        Sample((_n(rng, 3, 4), np.sort(_n(rng, 4)))),
        Sample((_n(rng, 3, 4), _n(rng, 3, 4)), {"dim": 0}, noncontig=True, note="x_nd"),
        Sample((_n(rng, 1, 3),), {"dim": 0}, note="one_point"),
        Sample((rng.integers(-3, 4, (4,)),), note="int"),
    ]


add(OpInfo("trapezoid", _trap))
add(OpInfo("trapz", lambda rng: [Sample((_n(rng, 5),)), Sample((_n(rng, 3, 4), np.sort(_n(rng, 4)))),
                                 Sample((_n(rng, 3, 4),), {"dx": 2.0, "dim": 0})]))
add(OpInfo("cumulative_trapezoid", lambda rng: [
    Sample((_n(rng, 5),)),
    Sample((_n(rng, 3, 4),), {"dx": 0.5, "dim": 0}),
    Sample((_n(rng, 3, 4), np.sort(_n(rng, 4))), noncontig=True),
    Sample((_n(rng, 3, 4), _n(rng, 3, 4)), {"dim": 0}, note="x_nd"),
]))


def _windows(rng):
    return [Sample((2,)), Sample((6,)), Sample((7, False)),
            Sample((5,), {"dtype": "float64"}, note="f64")]


def _window_call(name):
    def call(lib, n, *a, dtype=None):
        dt = getattr(lib, dtype) if dtype else None
        return getattr(lib, name)(n, *a, dtype=dt)
    return call


for _w in ("hann_window", "blackman_window", "bartlett_window"):
    add(OpInfo(_w, _windows, call=_window_call(_w)))
add(OpInfo("hamming_window", lambda rng: _windows(rng) + [Sample((6, True, 0.5, 0.5), note="alpha")],
           call=_window_call("hamming_window")))
add(OpInfo("kaiser_window", lambda rng: _windows(rng) + [Sample((8, True, 5.0), note="beta"),
                                                         Sample((9, False, 0.5), note="small_beta")],
           call=_window_call("kaiser_window")))
