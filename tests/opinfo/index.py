"""Samples for indexing, gather/scatter, masks, sorting and search (see tests/opinfo/__init__.py).

`x[key]` and `x[key] = v` samples carry their key as a function `k` in
kwargs, so index arrays stay positional and reach pyrch and torch as tensors.
"""
import numpy as np

from . import OpInfo, Sample, add  # noqa: F401


def _ix(*a):
    return np.array(a, dtype=np.int64)


def _call(lib, *a, k):
    return k(*a)


def _setitem(lib, x, v, *idx, k):
    y = x * 1          # a non-leaf copy, so autograd can write into it
    k(y, v, *idx)
    return y


def _getitem(rng):
    x = rng.standard_normal((4, 5))
    return [
        Sample((x,), {"k": lambda t: t[1]}),
        Sample((x,), {"k": lambda t: t[-1, 2]}, note="0dim_out"),
        Sample((x,), {"k": lambda t: t[1:3, ::2]}, noncontig=True),
        Sample((x,), {"k": lambda t: t[None, ..., 1:]}),
        Sample((x,), {"k": lambda t: t[:, None, -2]}),
        Sample((x,), {"k": lambda t: t[5:, 1]}, note="empty"),
        Sample((rng.standard_normal(()),), {"k": lambda t: t[...]}, note="0dim"),
        Sample((rng.standard_normal(()),), {"k": lambda t: t[None]}, note="0dim_none"),
        Sample((rng.standard_normal((2, 3, 4)),), {"k": lambda t: t[..., 1, :2]}),
    ]


def _index(rng):
    x = rng.standard_normal((4, 5))
    return [
        Sample((x, _ix(0, 2, 2)), {"k": lambda t, i: t[i]}, note="repeat"),
        Sample((x, _ix(-1, 1)), {"k": lambda t, i: t[:, i]}, noncontig=True),
        Sample((x, _ix(0, 3), _ix(4, 1)), {"k": lambda t, i, j: t[i, j]}),
        Sample((rng.standard_normal((2, 3, 4)), _ix(0, 1), _ix(1, 3)),
               {"k": lambda t, i, j: t[i, :, j]}, note="split_adv"),
        Sample((rng.standard_normal((2, 3, 4)), _ix(0, 2)), {"k": lambda t, i: t[1, :, i]}),
        Sample((x, x > 0.3), {"k": lambda t, m: t[m]}, note="mask"),
        Sample((x, np.array([True, False, True, True])), {"k": lambda t, m: t[m, 1:]}, note="mask1"),
        Sample((x,), {"k": lambda t: t[[1, 0], [2, 2]]}, note="lists"),
        Sample((x, np.zeros((0,), np.int64)), {"k": lambda t, i: t[i]}, note="empty"),
        Sample((x, np.array([[0, 1], [2, 3]])), {"k": lambda t, i: t[i, None]}, note="2d_index"),
        Sample((rng.standard_normal((3,)),), {"k": lambda t: t[True]}, note="bool_scalar"),
    ]


def _setitem_samples(rng):
    x = rng.standard_normal((4, 5))
    return [
        Sample((x, rng.standard_normal((5,))), {"k": lambda t, v: t.__setitem__(1, v)}),
        Sample((x, rng.standard_normal((2, 1))), {"k": lambda t, v: t.__setitem__((slice(1, 3), slice(None, None, 2)), v)}),
        Sample((x, 2.5), {"k": lambda t, v: t.__setitem__((Ellipsis, 0), v)}, note="scalar"),
        Sample((x, rng.standard_normal(())), {"k": lambda t, v: t.__setitem__((0, 0), v)}, note="0dim"),
        Sample((x, rng.standard_normal((2,)), _ix(3, 0)), {"k": lambda t, v, i: t.__setitem__((i, 2), v)}),
        Sample((x, rng.standard_normal((2, 5)), _ix(2, 0)), {"k": lambda t, v, i: t.__setitem__(i, v)},
               noncontig=True),
        Sample((x, rng.standard_normal(()), x > 0.5), {"k": lambda t, v, m: t.__setitem__(m, v)}, note="mask"),
        Sample((x, rng.standard_normal((5,)), np.array([True, False, False, True])),
               {"k": lambda t, v, m: t.__setitem__(m, v)}, note="rowmask"),
    ]


# the gradient checks run getitem's backward: getitem_backward without create_graph,
# setitem into zeros with it (second derivatives)
add(OpInfo("getitem", _getitem, call=_call, covers=("getitem_backward",)))
add(OpInfo("index", _index, call=_call, covers=("nonzero",)))
add(OpInfo("setitem", _setitem_samples, call=_setitem))

add(OpInfo("index_select", lambda rng: [
    Sample((rng.standard_normal((4, 5)), 1, _ix(4, 0, 0))),
    Sample((rng.standard_normal((4, 5)), 0, _ix(2)), noncontig=True),
    Sample((rng.standard_normal((4, 5)), 0, np.zeros(0, np.int64)), note="empty"),
]))
add(OpInfo("take", lambda rng: [
    Sample((rng.standard_normal((3, 4)), np.array([[0, 11], [5, 5]]))),
    Sample((rng.standard_normal((3, 4)), _ix(-1, 2)), noncontig=True),
]))


def _put(inplace):
    def call(lib, x, v, *idx, accumulate=False):
        if inplace:
            return (x * 1).index_put_(tuple(idx), v, accumulate=accumulate)
        return lib.index_put(x, tuple(idx), v, accumulate=accumulate)
    return call


def _put_samples(rng):
    return [
        Sample((rng.standard_normal((4, 3)), rng.standard_normal((3, 3)), _ix(0, 2, 0)), {"accumulate": True}),
        Sample((rng.standard_normal((4, 3)), rng.standard_normal((2,)), _ix(0, 2), _ix(1, 1))),
        Sample((rng.standard_normal((4, 3)), rng.standard_normal(()), _ix(2, 1)), note="0dim_value"),
        Sample((rng.standard_normal((4, 3)), rng.standard_normal((1,)), np.array([True, False, True, False])),
               {"accumulate": True}, note="mask"),
    ]


add(OpInfo("index_put", _put_samples, call=_put(False)))
add(OpInfo("index_put_", _put_samples, call=_put(True), torch_call=_put(True)))


def _along_samples(rng):
    return [
        Sample((rng.standard_normal((4, 3)), 0, _ix(0, 3, 0), rng.standard_normal((3, 3)))),
        Sample((rng.standard_normal((4, 3)), 1, _ix(2), rng.standard_normal((4, 1))), noncontig=True),
    ]


def _inplace(name):
    return lambda lib, x, *a, **k: getattr(x * 1, name)(*a, **k)


add(OpInfo("index_add", lambda rng: _along_samples(rng) + [
    Sample((rng.standard_normal((4, 3)), 0, _ix(1, 1), rng.standard_normal((2, 3))), {"alpha": 2.0})]))
add(OpInfo("index_add_", _along_samples, call=_inplace("index_add_"), torch_call=_inplace("index_add_")))
add(OpInfo("index_copy", lambda rng: [
    Sample((rng.standard_normal((4, 3)), 0, _ix(3, 1), rng.standard_normal((2, 3)))),
    Sample((rng.standard_normal((4, 3)), 1, _ix(0), rng.standard_normal((4, 1))))]))
add(OpInfo("index_copy_", lambda rng: [Sample((rng.standard_normal((4, 3)), 0, _ix(2), rng.standard_normal((1, 3))))],
           call=_inplace("index_copy_"), torch_call=_inplace("index_copy_")))
add(OpInfo("index_fill", lambda rng: [
    Sample((rng.standard_normal((4, 3)), 1, _ix(0, 2), -1.5)),
    Sample((rng.standard_normal((4, 3)), 0, _ix(1), rng.standard_normal(())), note="tensor_value")]))
add(OpInfo("index_fill_", lambda rng: [Sample((rng.standard_normal((4, 3)), 0, _ix(3, 0), 2.0))],
           call=_inplace("index_fill_"), torch_call=_inplace("index_fill_")))

add(OpInfo("masked_fill", lambda rng: [
    Sample((rng.standard_normal((3, 4)), rng.standard_normal((3, 4)) > 0, -2.0)),
    Sample((rng.standard_normal((3, 4)), rng.standard_normal((4,)) > 0, rng.standard_normal(())),
           noncontig=True, note="tensor_value"),
    Sample((rng.standard_normal((4,)), rng.standard_normal((3, 4)) > 0, 1.0), note="broadcast_self"),
    Sample((rng.standard_normal(()), np.array(True), 3.0), note="0dim"),
]))
add(OpInfo("masked_select", lambda rng: [
    Sample((rng.standard_normal((3, 4)), rng.standard_normal((3, 4)) > 0)),
    Sample((rng.standard_normal((3, 4)), rng.standard_normal((4,)) > 0), noncontig=True),
    Sample((rng.standard_normal(()), np.array(True)), note="0dim"),
]))
add(OpInfo("nonzero", lambda rng: [
    Sample((rng.standard_normal((3, 4)) > 0,)),
    Sample((np.array([0, 2, 0, 3], np.int64),), {"as_tuple": True}),
    Sample((np.array(5, np.int64),), note="0dim"),
    Sample((np.zeros((2, 0)) > 0,), note="empty"),
], grad=False))
add(OpInfo("argwhere", lambda rng: [Sample((rng.standard_normal((3, 4)),))], grad=False))


def _gather(rng):
    return [
        Sample((rng.standard_normal((3, 4)), 1, np.array([[0, 0], [1, 3], [2, 2]]))),
        Sample((rng.standard_normal((3, 4)), 0, np.array([[0, 2, 1, 1], [2, 2, 0, 0]])), noncontig=True),
        Sample((rng.standard_normal((3, 4)), -1, np.array([[3], [1]])), note="smaller"),
        Sample((rng.standard_normal(()), 0, np.array(0)), note="0dim"),
    ]


add(OpInfo("gather", _gather))
add(OpInfo("take_along_dim", lambda rng: [
    Sample((rng.standard_normal((3, 4)), np.array([[0], [3], [1]]), 1)),
    Sample((rng.standard_normal((3, 4)), np.array([0, 7, 11])), note="flat"),
]))


def _scatter(rng):
    return [
        Sample((rng.standard_normal((3, 4)), 0, np.array([[0, 1, 2, 0], [2, 0, 1, 1]]),
                rng.standard_normal((2, 4)))),
        Sample((rng.standard_normal((3, 4)), 1, np.array([[3, 0], [1, 2]]), rng.standard_normal((3, 3))),
               noncontig=True, grad=False, note="bigger_src"),
        Sample((rng.standard_normal((3, 4)), 1, np.array([[3, 0], [1, 2]]), 1.5), note="value"),
    ]


add(OpInfo("scatter", _scatter))
add(OpInfo("scatter_", lambda rng: _scatter(rng) + [
    Sample((rng.standard_normal((3, 4)), 1, np.array([[3, 3], [1, 2]]), rng.standard_normal((2, 2))),
           {"reduce": "add"}, grad=False),
    Sample((rng.standard_normal((3, 4)), 0, np.array([[0, 0], [1, 2]]), rng.standard_normal((2, 2))),
           {"reduce": "multiply"}, grad=False),
], call=_inplace("scatter_"), torch_call=_inplace("scatter_")))


# NOTE: torch's own backward rejects a src larger than index (and scatter_ with reduce):
# those samples skip the gradient checks here; tests/test_views_indexing.py gradchecks them.
def _scatter_add(rng):
    return [
        Sample((rng.standard_normal((3, 4)), 0, np.array([[0, 1, 2, 0], [0, 0, 1, 1]]),
                rng.standard_normal((2, 4)))),
        Sample((rng.standard_normal((3, 4)), 1, np.array([[3, 3], [1, 2]]), rng.standard_normal((3, 3))),
               noncontig=True, grad=False, note="bigger_src"),
        Sample((rng.standard_normal((3, 4)), 1, np.zeros((3, 0), np.int64), rng.standard_normal((3, 0))),
               note="empty"),
    ]


add(OpInfo("scatter_add", _scatter_add))
add(OpInfo("scatter_add_", _scatter_add, call=_inplace("scatter_add_"), torch_call=_inplace("scatter_add_")))


def _scatter_reduce(rng):
    out = []
    idx = np.array([[0, 1, 2, 0], [0, 2, 2, 1]])
    for red in ("sum", "prod", "mean", "amax", "amin"):
        for inc in (True, False):
            x = rng.uniform(0.5, 2.0, (3, 4)) * rng.choice([-1, 1], (3, 4))
            src = rng.uniform(0.5, 2.0, (2, 4)) * rng.choice([-1, 1], (2, 4))
            out.append(Sample((x, 0, idx, src, red), {"include_self": inc}, note=f"{red}_{inc}"))
    out.append(Sample((rng.standard_normal((3, 4)), 1, np.array([[0, 0], [3, 1]]),
                       rng.standard_normal((2, 3)), "sum"), noncontig=True, grad=False, note="bigger_src"))
    return out


add(OpInfo("scatter_reduce", _scatter_reduce))
add(OpInfo("scatter_reduce_", lambda rng: [
    Sample((rng.standard_normal((3, 4)), 0, np.array([[0, 1, 2, 0]]), rng.standard_normal((1, 4)), "amax"))],
    call=_inplace("scatter_reduce_"), torch_call=_inplace("scatter_reduce_")))


def _sortable(rng, shape):
    """Distinct values, so that sort/topk indices are unambiguous."""
    n = int(np.prod(shape))
    return np.asarray((rng.permutation(n) + rng.uniform(0.1, 0.9, n)).reshape(shape) / n)


add(OpInfo("argsort", lambda rng: [
    Sample((_sortable(rng, (3, 4)),)),
    Sample((_sortable(rng, (3, 4)), 0, True), noncontig=True),
    Sample((np.array([2, 1, 2, 0, 1], np.int64),), {"stable": True}, note="ties"),
    Sample((np.array([2, 1, 2, 0, 1], np.int64),), {"stable": True, "descending": True}, note="ties_desc"),
    Sample((_sortable(rng, ()),), note="0dim"),
], grad=False))
add(OpInfo("sort", lambda rng: [
    Sample((_sortable(rng, (3, 4)),)),
    Sample((_sortable(rng, (3, 4)), 0, True), noncontig=True),
    Sample((_sortable(rng, (5,)),), {"descending": True, "stable": True}),
    Sample((np.array([3, 1, 3, 0], np.int64),), {"stable": True}, note="int_ties"),
    Sample((_sortable(rng, ()),), note="0dim"),
    Sample((np.zeros((0, 3)),), note="empty"),
]))
add(OpInfo("msort", lambda rng: [Sample((_sortable(rng, (3, 4)),))]))
add(OpInfo("topk", lambda rng: [
    Sample((_sortable(rng, (3, 5)), 2)),
    Sample((_sortable(rng, (3, 5)), 2, 0, False), noncontig=True),
    Sample((_sortable(rng, (6,)), 3), {"largest": True, "sorted": True}),
    Sample((_sortable(rng, (4,)), 0), note="empty"),
]))
add(OpInfo("kthvalue", lambda rng: [
    Sample((_sortable(rng, (3, 5)), 2)),
    Sample((_sortable(rng, (3, 5)), 3, 0, True), noncontig=True),
]))
add(OpInfo("unique", lambda rng: [
    Sample((np.array([3, 1, 3, 2, 1], np.int64),)),
    Sample((np.array([[3, 1], [3, 2]], np.int64),), {"return_inverse": True, "return_counts": True}),
    Sample((np.array([[1, 2], [0, 1], [1, 2]], np.int64),), {"dim": 0, "return_inverse": True,
                                                          "return_counts": True}),
    Sample((np.array([0.5, -1.0, 0.5]),), {"return_counts": True}, note="float"),
    Sample((np.zeros(0),), note="empty"),
], grad=False))
add(OpInfo("searchsorted", lambda rng: [
    Sample((np.array([1.0, 2.0, 4.0, 8.0]), np.array([[0.5, 2.0], [4.0, 9.0]]))),
    Sample((np.array([1.0, 2.0, 4.0, 8.0]), np.array([2.0, 3.0])), {"right": True}),
    Sample((np.array([[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]]), np.array([[3.0, 6.0], [1.0, 4.0]])),
           {"side": "right"}, note="2d"),
    Sample((np.array([1, 3, 5], np.int64), 4), {"out_int32": True}, note="scalar"),
], grad=False))
add(OpInfo("bucketize", lambda rng: [
    Sample((np.array([[0.5, 2.0], [4.0, 9.0]]), np.array([1.0, 2.0, 4.0, 8.0]))),
    Sample((np.array([2.0, 3.0]), np.array([1.0, 2.0, 4.0])), {"right": True}),
], grad=False))


def _i(rng, shape, low=-3, high=4):
    return rng.integers(low, high, size=shape).astype(np.int64)


add(OpInfo("isin", lambda rng: [
    Sample((_i(rng, (3, 4)), _i(rng, (5,)))),
    Sample((_i(rng, (3, 4)), _i(rng, (2, 2))), {"invert": True}, note="invert"),
    Sample((np.round(rng.standard_normal((3, 4))), np.array([0.0, 1.0, -1.0])), note="float"),
    Sample((_i(rng, (3,)), _i(rng, (0,))), note="empty-test"),
    Sample((_i(rng, (0, 2)), _i(rng, (3,))), note="empty"),
    Sample((_i(rng, (3, 4)), 2), note="scalar-test"),
    Sample((_i(rng, ()), _i(rng, (4,))), note="0dim"),
], grad=False))


def _runs(rng, shape):
    return np.repeat(_i(rng, shape), 2, axis=-1)


add(OpInfo("unique_consecutive", lambda rng: [
    Sample((_runs(rng, (6,)),)),
    Sample((_runs(rng, (2, 4)),), {"return_inverse": True, "return_counts": True}, note="all"),
    Sample((np.round(rng.standard_normal((8,))),), {"return_counts": True}, note="float"),
    Sample((np.repeat(_i(rng, (3, 2), 0, 2), 2, axis=0),), {"dim": 0, "return_inverse": True,
                                                          "return_counts": True}, note="dim0"),
    Sample((np.repeat(_i(rng, (2, 3), 0, 2), 2, axis=1),), {"dim": -1, "return_counts": True},
           note="dim-neg"),
    Sample((_i(rng, ()),), {"return_inverse": True, "return_counts": True}, note="0dim"),
    Sample((_i(rng, (0,)),), {"return_inverse": True, "return_counts": True}, note="empty"),
], grad=False))
add(OpInfo("tril_indices", lambda rng: [
    Sample((3, 4)), Sample((4, 3, -1), note="neg"), Sample((3, 3), {"offset": 2}, note="off"),
    Sample((0, 3), note="empty"), Sample((3, 5, 10), note="all"),
], grad=False, traced=False))
add(OpInfo("triu_indices", lambda rng: [
    Sample((3, 4)), Sample((4, 3, -1), note="neg"), Sample((3, 3), {"offset": 2}, note="off"),
    Sample((0, 3), note="empty"), Sample((3, 5, -10), note="all"),
], grad=False, traced=False))
