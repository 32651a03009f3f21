"""Behaviour of views (shared storage, versions), indexing semantics and errors,
and the autograd of writes: what the generated op tests cannot see."""
import numpy as np
import pytest

import pyrch
from pyrch.autograd import gradcheck


def _t(a, **kw):
    return pyrch.tensor(np.asarray(a), **kw)


# -- views share storage --------------------------------------------------------------

def test_basic_index_is_a_view():
    x = pyrch.zeros(3, 4)
    v = x[0]
    v[1] = 5
    assert x[0, 1].item() == 5
    assert v._base is x and v._version == x._version


def test_full_int_key_gives_a_0dim_view():
    x = pyrch.zeros(2, 3)
    s = x[1, 2]
    assert s.shape == () and s._base is x
    s.fill_(7)
    assert x.tolist()[1][2] == 7


def test_view_and_reshape_share_storage():
    x = pyrch.arange(6.0)
    y = x.view(2, 3)
    y[1, 1] = -1
    assert x[4].item() == -1
    z = x.reshape(3, 2)
    z[0, 0] = 9
    assert x[0].item() == 9
    assert y._base is x and z._base is x


def test_reshape_copies_when_layout_forbids_a_view():
    x = pyrch.arange(6.0).reshape(2, 3)
    y = x.t().reshape(-1)
    assert y._base is None
    y[0] = 100
    assert x[0, 0].item() == 0


def test_view_error_names_reshape():
    x = pyrch.zeros(2, 3).t()
    with pytest.raises(RuntimeError, match=r"view size is not compatible with input tensor's "
                                           r"size and stride.*Use \.reshape\(\.\.\.\) instead"):
        x.view(6)


def test_views_of_views_and_versions():
    x = pyrch.zeros(4, 4)
    d = x.diagonal()
    d.fill_(1)
    assert x.sum().item() == 4
    t = x.t()[1:3]
    t[:] = 2
    assert x[:, 1].tolist() == [2, 2, 2, 2]
    assert t._base is x
    before = x._version
    x[0] = 3
    assert x._version == before + 1 == d._version


def test_split_chunk_unbind_are_views():
    x = pyrch.zeros(4, 3)
    a, b = x.split(2)
    b[0, 0] = 1
    c = x.chunk(4, 1)[2]
    c[3, 0] = 2
    r = x.unbind(0)[1]
    r[1] = 3
    assert x.tolist() == [[0, 0, 0], [0, 3, 0], [1, 0, 0], [0, 0, 2]]


def test_squeeze_unsqueeze_transpose_are_views():
    x = pyrch.zeros(1, 2, 3)
    for v in (x.squeeze(), x.squeeze(0), x.unsqueeze(1), x.transpose(1, 2), x.movedim(0, 2),
              x.flatten(), x.permute(2, 0, 1), x.expand(2, 2, 3), x.narrow(2, 1, 1)):
        assert v._base is x


def test_advanced_index_and_flip_copy():
    x = pyrch.zeros(3)
    y = x[[0, 1]]
    y[0] = 1
    f = x.flip(0)
    f[0] = 1
    assert x.tolist() == [0, 0, 0]
    assert y._base is None and f._base is None


def test_contiguous_returns_self_when_contiguous():
    x = pyrch.zeros(2, 3)
    assert x.contiguous() is x
    y = x.t().contiguous()
    assert y.is_contiguous() and y._base is None


def test_write_into_expanded_view_raises():
    x = pyrch.zeros(1, 3).expand(2, 3)
    with pytest.raises(RuntimeError, match="more than one element"):
        x[0, 0] = 1


def test_iteration_and_T():
    x = pyrch.arange(6).reshape(2, 3)
    assert [r.tolist() for r in x] == [[0, 1, 2], [3, 4, 5]]
    assert x.T.shape == (3, 2) and x.mT.shape == (3, 2)


# -- indexing semantics and errors ------------------------------------------------------

def test_index_errors_match_torch():
    x = pyrch.zeros(3)
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 3"):
        x[5]
    with pytest.raises(IndexError, match="index -4 is out of bounds for dimension 0 with size 3"):
        x[-4] = 1
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 3"):
        x[_t([0, 5])]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[::-1]
    with pytest.raises(IndexError, match="too many indices for tensor of dimension 1"):
        x[0, 0]
    with pytest.raises(IndexError, match="invalid index of a 0-dim tensor"):
        pyrch.tensor(1.0)[0]
    with pytest.raises(IndexError, match="tensors used as indices must be long"):
        x[pyrch.tensor([0.0])]
    with pytest.raises(IndexError, match="The shape of the mask"):
        x[_t([True, False])]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., ...]


def test_select_narrow_errors():
    x = pyrch.zeros(3, 4)
    with pytest.raises(IndexError, match=r"select\(\): index 5 out of range"):
        x.select(1, 5)
    with pytest.raises(RuntimeError, match=r"start \(3\) \+ length \(2\) exceeds dimension size \(4\)"):
        x.narrow(1, 3, 2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.unsqueeze(3)


def test_shape_errors():
    x = pyrch.zeros(2, 3)
    with pytest.raises(RuntimeError, match=r"shape '\[4, 2\]' is invalid for input of size 6"):
        x.reshape(4, 2)
    with pytest.raises(RuntimeError, match="only one dimension can be inferred"):
        x.view(-1, -1)
    with pytest.raises(RuntimeError, match="Sizes of tensors must match except in dimension 0"):
        pyrch.cat([x, pyrch.zeros(2, 2)])
    with pytest.raises(RuntimeError, match="zero-dimensional tensor"):
        pyrch.cat([pyrch.tensor(1.0)])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        pyrch.stack([x, pyrch.zeros(3, 2)])
    with pytest.raises(RuntimeError, match="split_with_sizes expects split_sizes to sum exactly to 2"):
        x.split([1, 2])
    with pytest.raises(RuntimeError, match="t\\(\\) expects a tensor with <= 2 dimensions"):
        pyrch.zeros(1, 2, 3).t()
    with pytest.raises(RuntimeError, match="The expanded size of the tensor"):
        x.expand(3, 3)


def test_mixed_index_shapes_match_torch(torch_or_skip):
    torch = torch_or_skip
    a = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    x, tx = pyrch.tensor(a), torch.tensor(a)
    i, j = np.array([0, 1, 1]), np.array([2, 0, 3])
    keys = [
        lambda m, i, j: m[1, :, i],
        lambda m, i, j: m[i, 1, j],
        lambda m, i, j: m[:, i, :, j],
        lambda m, i, j: m[..., i, None],
        lambda m, i, j: m[None, 0, i, 1:3],
        lambda m, i, j: m[i[:, None], :, j[None, :] % 2],
        lambda m, i, j: m[m > 100],
        lambda m, i, j: m[0, m[0] > 50],
        lambda m, i, j: m[[0, 1], [1, 2]],
        lambda m, i, j: m[True, 1],
    ]
    for k in keys:
        out = k(x, pyrch.tensor(i), pyrch.tensor(j))
        ref = k(tx, torch.tensor(i), torch.tensor(j))
        assert tuple(out.shape) == tuple(ref.shape)
        np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_setitem_forms_match_torch(torch_or_skip):
    torch = torch_or_skip
    for k, v in [((1, slice(None)), 5.0), ((Ellipsis, 0), [1.0, 2.0, 3.0]),
                 ((slice(None), [0, 2]), -1.0), (([0, 2], [1, 3]), [7.0, 8.0]),
                 ("mask", 0.0), ((0, slice(1, None, 2)), 4.5)]:
        x = pyrch.arange(12.0).reshape(3, 4)
        tx = torch.arange(12.0).reshape(3, 4)
        if k == "mask":
            x[x > 5] = v
            tx[tx > 5] = v
        else:
            x[k] = pyrch.tensor(v) if isinstance(v, list) else v
            tx[k] = torch.tensor(v) if isinstance(v, list) else v
        np.testing.assert_array_equal(x.numpy(), tx.numpy())


def test_setitem_casts_and_broadcasts():
    x = pyrch.zeros(2, 3, dtype=pyrch.int64)
    x[0] = 2.7
    x[1] = pyrch.tensor([1.0, 2.0, 3.0])
    assert x.tolist() == [[2, 2, 2], [1, 2, 3]] and x.dtype == pyrch.int64
    with pytest.raises(RuntimeError):
        x[0] = pyrch.zeros(2)


def test_0dim_int_tensor_index_acts_as_int():
    x = pyrch.arange(5.0)
    v = x[pyrch.tensor(2)]
    assert v.shape == () and v._base is x


# -- autograd through reads and writes ------------------------------------------------

def test_getitem_backward_scatters_and_accumulates():
    x = pyrch.arange(4.0).requires_grad_()
    y = x[[0, 0, 2]].sum() + x[1:].sum()
    y.backward()
    assert x.grad.tolist() == [2, 1, 2, 1]


def test_setitem_grads_for_target_and_value(torch_or_skip):
    torch = torch_or_skip
    a, b = np.random.default_rng(0).standard_normal((2, 3, 4))
    res = []
    for lib in (pyrch, torch):
        x = lib.tensor(a, requires_grad=True)
        v = lib.tensor(b[0, :2], requires_grad=True)
        y = x * 2
        y[1, 1:3] = v * 3
        y[0] = y[0] + 5
        y[2, [0, 0]] = 1.0
        (y * lib.tensor(b)).sum().backward()
        res.append((y.detach().numpy(), x.grad.numpy(), v.grad.numpy()))
    for p, q in zip(*res):
        np.testing.assert_allclose(p, q, rtol=1e-12)


def test_setitem_value_requiring_grad_into_plain_buffer():
    w = pyrch.tensor([1.0, 2.0], requires_grad=True)
    buf = pyrch.zeros(4)
    buf[1:3] = w * w
    assert buf.requires_grad
    buf.sum().backward()
    assert w.grad.tolist() == [2.0, 4.0]


def test_setitem_on_leaf_requiring_grad_raises():
    x = pyrch.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x[0] = 1.0
    with pyrch.no_grad():
        x[0] = 1.0
    assert x.tolist() == [1.0, 0.0, 0.0]


def test_setitem_gradcheck_double():
    a = pyrch.tensor(np.random.default_rng(1).standard_normal((3, 4)), dtype=pyrch.float64,
                     requires_grad=True)
    v = pyrch.tensor(np.random.default_rng(2).standard_normal((2, 4)), dtype=pyrch.float64,
                     requires_grad=True)

    def f(a, v):
        y = a * 2
        y[_t([2, 0])] = v * v
        return y * a
    assert gradcheck(f, (a, v))
    assert pyrch.autograd.gradgradcheck(f, (a, v))


def test_scatter_family_gradcheck_with_larger_src():
    rng = np.random.default_rng(3)
    x = pyrch.tensor(rng.standard_normal((3, 4)), dtype=pyrch.float64, requires_grad=True)
    src = pyrch.tensor(rng.standard_normal((3, 3)), dtype=pyrch.float64, requires_grad=True)
    idx = _t([[3, 0], [1, 2]])
    assert gradcheck(lambda x, s: x.scatter(1, idx, s), (x, src))
    assert gradcheck(lambda x, s: x.scatter_add(1, idx, s), (x, src))
    assert gradcheck(lambda x, s: x.scatter_reduce(1, idx, s, "mean", include_self=False), (x, src))
    idx2 = _t([[3, 3], [1, 2]])
    assert gradcheck(lambda x, s: (x * 1).scatter_(1, idx2, s, reduce="add"), (x, src))
    assert gradcheck(lambda x, s: (x * 1).scatter_(1, idx2, s, reduce="multiply"), (x, src))


def test_scatter_reduce_amax_ties_match_torch(torch_or_skip):
    torch = torch_or_skip
    a = np.array([[1.0, 2.0], [3.0, 0.0]])
    s = np.array([[1.0, 2.0], [1.0, 5.0], [0.5, 5.0]])
    idx = np.array([[0, 0], [0, 1], [1, 1]])
    for inc in (True, False):
        grads = []
        for lib in (pyrch, torch):
            x = lib.tensor(a, requires_grad=True)
            y = lib.tensor(s, requires_grad=True)
            out = x.scatter_reduce(0, lib.tensor(idx), y, "amax", include_self=inc)
            (out * lib.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
            grads.append((out.detach().numpy(), x.grad.numpy(), y.grad.numpy()))
        for p, q in zip(*grads):
            np.testing.assert_allclose(p, q)


def test_masked_fill_value_tensor_grad_and_inplace():
    x = pyrch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = pyrch.tensor(5.0, requires_grad=True)
    m = pyrch.tensor([True, False, True])
    y = x.masked_fill(m, v)
    assert y.tolist() == [5.0, 2.0, 5.0]
    (y * pyrch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [0.0, 2.0, 0.0] and v.grad.item() == 4.0
    z = pyrch.zeros(2, 3)
    z.masked_fill_(pyrch.tensor([True, False, True]), 1.0)
    assert z.tolist() == [[1, 0, 1], [1, 0, 1]]
    with pytest.raises(RuntimeError, match="only supports boolean masks"):
        z.masked_fill(pyrch.tensor([1, 0, 1]), 1.0)


def test_index_put_accumulates_duplicates():
    x = pyrch.zeros(3)
    x.index_put_((_t([0, 0, 2]),), pyrch.tensor([1.0, 2.0, 3.0]), accumulate=True)
    assert x.tolist() == [3.0, 0.0, 3.0]
    y = pyrch.zeros(2, 2).index_add(0, _t([1, 1]), pyrch.ones(2, 2), alpha=2)
    assert y.tolist() == [[0, 0], [4, 4]]


# -- sorting, unique, search, padding ---------------------------------------------------

def test_sort_stable_descending_ties(torch_or_skip):
    torch = torch_or_skip
    a = np.array([2.0, 1.0, 2.0, float("nan"), 1.0, 3.0])
    for desc in (False, True):
        v, i = pyrch.tensor(a).sort(descending=desc, stable=True)
        tv, ti = torch.tensor(a).sort(descending=desc, stable=True)
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())


def test_topk_unique_nonzero_searchsorted():
    x = pyrch.tensor([3.0, 1.0, 4.0, 1.5])
    v, i = x.topk(2)
    assert v.tolist() == [4.0, 3.0] and i.tolist() == [2, 0]
    assert x.topk(2, largest=False).indices.tolist() == [1, 3]
    u, inv, cnt = pyrch.unique(pyrch.tensor([2, 1, 2]), return_inverse=True, return_counts=True)
    assert (u.tolist(), inv.tolist(), cnt.tolist()) == ([1, 2], [1, 0, 1], [1, 2])
    r, c = pyrch.tensor([[0, 1], [1, 0]]).nonzero(as_tuple=True)
    assert r.tolist() == [0, 1] and c.tolist() == [1, 0]
    s = pyrch.searchsorted(pyrch.tensor([1.0, 2.0, 3.0]), pyrch.tensor([2.0, 2.5]), right=True)
    assert s.tolist() == [2, 2] and s.dtype == pyrch.int64
    assert x.kthvalue(2).values.item() == 1.5


def test_pad_modes_match_torch(torch_or_skip):
    torch = torch_or_skip
    a = np.random.default_rng(4).standard_normal((1, 2, 4, 5))
    for mode, p in [("reflect", (1, 2, 3, 1)), ("replicate", (2, 0, 1, 3)),
                    ("circular", (1, 2, 2, 1)), ("constant", (1, -1, 2, 0))]:
        out = pyrch.pad(pyrch.tensor(a), p, mode=mode)
        ref = torch.nn.functional.pad(torch.tensor(a), p, mode=mode)
        np.testing.assert_allclose(out.numpy(), ref.numpy())
    with pytest.raises(RuntimeError, match="Padding size should be less than"):
        pyrch.pad(pyrch.zeros(1, 2, 3), (3, 0), mode="reflect")
    with pytest.raises(RuntimeError, match="Padding length must be divisible by 2"):
        pyrch.pad(pyrch.zeros(2), (1,))


def test_misc_shapes():
    x = pyrch.zeros(2, 1, 3, 1)
    assert x.squeeze((1, 3)).shape == (2, 3)
    assert x.squeeze(0).shape == (2, 1, 3, 1)
    assert x.unflatten(2, (3, 1)).shape == (2, 1, 3, 1, 1)
    assert x.repeat(1, 2, 1, 1, 2).shape == (1, 4, 1, 3, 2)
    assert pyrch.zeros(3).tile((2, 1)).shape == (2, 3)
    assert pyrch.hstack([pyrch.zeros(2), pyrch.zeros(3)]).shape == (5,)
    assert pyrch.vstack([pyrch.zeros(3), pyrch.zeros(2, 3)]).shape == (3, 3)
    assert pyrch.cat([pyrch.zeros(2, 3), pyrch.zeros(0)]).shape == (2, 3)
    assert pyrch.broadcast_to(pyrch.zeros(3), (2, 3)).shape == (2, 3)
    assert [t.shape[0] for t in pyrch.zeros(5).chunk(3)] == [2, 2, 1]
    assert pyrch.zeros(2, 3, 4).diagonal(0, 1, 2).shape == (2, 3)
    assert pyrch.tensor([1, 2, 3]).roll(1).tolist() == [3, 1, 2]


def test_in_place_shape_ops_match_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: optional cross-check")
    res = []
    for lib in (pyrch, torch):
        x = lib.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
        y = x * 2
        y.t_()
        y.unsqueeze_(0)
        y.transpose_(1, 2)
        y.squeeze_(0)
        y.swapdims_(0, 1)
        (y * lib.tensor(np.arange(6.0).reshape(tuple(y.shape)))).sum().backward()
        res.append((tuple(y.shape), y.detach().numpy().tolist(), x.grad.numpy().tolist()))
    assert res[0] == res[1]
    leaf = pyrch.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        leaf.unsqueeze_(0)
