"""Padding modules, CosineSimilarity / PairwiseDistance, pad_sequence and nn.Transformer
against torch."""
import warnings

import numpy as np
import pytest

import pyrch
from pyrch.nn.utils.rnn import pad_sequence

torch = pytest.importorskip("torch")

PAD_KINDS = ["ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad", "CircularPad"]


def _make(lib, kind, nd, padding):
    cls = getattr(lib.nn, f"{kind}{nd}d")
    return cls(padding, 2.5) if kind == "ConstantPad" else cls(padding)


@pytest.mark.parametrize("kind", PAD_KINDS)
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("tuple_pad", [True, False])
def test_padding_modules_match_torch(kind, nd, batched, tuple_pad):
    rng = np.random.default_rng(nd)
    shape = ((2,) if batched else ()) + (3,) + (4,) * nd
    x = rng.standard_normal(shape)
    padding = (1, 2, 0, 3, 2, 1)[:2 * nd] if tuple_pad else 2
    ours, ref = _make(pyrch, kind, nd, padding), _make(torch, kind, nd, padding)
    xp = pyrch.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out, tout = ours(xp), ref(xt)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=0, atol=0)
    g = rng.standard_normal(tuple(tout.shape))
    out.backward(pyrch.tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(xp.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    assert repr(ours) == repr(ref)
    assert ours.padding == ref.padding
    assert list(ours.state_dict()) == []


def test_constant_pad_value_and_repr():
    m, t = pyrch.nn.ConstantPad2d((1, 0, 2, 1), -1.5), torch.nn.ConstantPad2d((1, 0, 2, 1), -1.5)
    assert repr(m) == repr(t) == "ConstantPad2d(padding=(1, 0, 2, 1), value=-1.5)"
    x = np.arange(6.0).reshape(1, 2, 3)
    np.testing.assert_array_equal(m(pyrch.tensor(x)).numpy(), t(torch.tensor(x)).numpy())
    assert m.value == -1.5
    assert repr(pyrch.nn.ZeroPad2d(1)) == "ZeroPad2d((1, 1, 1, 1))"


@pytest.mark.parametrize("dim,shape1,shape2", [(1, (4, 5), (4, 5)), (0, (5,), (5,)),
                                               (-1, (2, 3, 6), (3, 6)), (1, (3, 4, 2), (1, 4, 2))])
def test_cosine_similarity_module(dim, shape1, shape2):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(shape1), rng.standard_normal(shape2)
    ours, ref = pyrch.nn.CosineSimilarity(dim=dim), torch.nn.CosineSimilarity(dim=dim)
    pa, pb = pyrch.tensor(a, requires_grad=True), pyrch.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    out, tout = ours(pa, pb), ref(ta, tb)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(pa.grad.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(pb.grad.numpy(), tb.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert repr(ours) == repr(ref) == "CosineSimilarity()"


def test_cosine_similarity_eps_clamps_small_norms():
    a = np.array([[1e-9, 0.0], [3.0, 4.0]])
    b = np.array([[1.0, 1.0], [4.0, 3.0]])
    for eps in (1e-8, 0.5):
        out = pyrch.nn.CosineSimilarity(1, eps)(pyrch.tensor(a), pyrch.tensor(b))
        tout = torch.nn.CosineSimilarity(1, eps)(torch.tensor(a), torch.tensor(b))
        np.testing.assert_allclose(out.numpy(), tout.numpy(), rtol=1e-12)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape1,shape2", [((4, 5), (4, 5)), ((5,), (5,)), ((4, 5), (5,))])
def test_pairwise_distance_module(p, keepdim, shape1, shape2):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(shape1), rng.standard_normal(shape2)
    ours = pyrch.nn.PairwiseDistance(p=p, eps=1e-3, keepdim=keepdim)
    ref = torch.nn.PairwiseDistance(p=p, eps=1e-3, keepdim=keepdim)
    pa, ta = pyrch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out, tout = ours(pa, pyrch.tensor(b)), ref(ta, torch.tensor(b))
    assert tuple(out.shape) == tuple(tout.shape)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(pa.grad.numpy(), ta.grad.numpy(), rtol=1e-10)
    assert repr(ours) == repr(ref) == "PairwiseDistance()"
    assert (ours.norm, ours.eps, ours.keepdim) == (ref.norm, ref.eps, ref.keepdim)


# -- pad_sequence ------------------------------------------------------------------------

@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("trailing", [(), (3,), (2, 3)])
def test_pad_sequence_matches_torch(batch_first, side, trailing):
    rng = np.random.default_rng(2)
    seqs = [rng.standard_normal((n,) + trailing) for n in (3, 5, 1)]
    ps = [pyrch.tensor(s, requires_grad=True) for s in seqs]
    ts = [torch.tensor(s, requires_grad=True) for s in seqs]
    out = pad_sequence(ps, batch_first=batch_first, padding_value=-7.0, padding_side=side)
    tout = torch.nn.utils.rnn.pad_sequence(ts, batch_first=batch_first, padding_value=-7.0,
                                           padding_side=side)
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    g = rng.standard_normal(tuple(tout.shape))
    out.backward(pyrch.tensor(g))
    tout.backward(torch.tensor(g))
    for p, t in zip(ps, ts):
        np.testing.assert_array_equal(p.grad.numpy(), t.grad.numpy())


def test_pad_sequence_dtype_and_errors():
    seqs = [np.array([1, 2]), np.array([3, 4, 5])]
    out = pyrch.nn.utils.rnn.pad_sequence([pyrch.tensor(s) for s in seqs], padding_value=-1)
    tout = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], padding_value=-1)
    assert out.dtype == pyrch.int64
    np.testing.assert_array_equal(out.numpy(), tout.numpy())
    for args, kw in [([pyrch.ones(2)], dict(padding_side="mid")), ([], {})]:
        with pytest.raises(RuntimeError) as ours:
            pad_sequence(args, **kw)
        with pytest.raises(RuntimeError) as ref:
            torch.nn.utils.rnn.pad_sequence([torch.ones(2)] if args else [], **kw)
        assert str(ours.value) == str(ref.value)


# -- nn.Transformer --------------------------------------------------------------------------

def _copy_weights(ours, ref):
    sd = {k: pyrch.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()}
    assert list(sd) == list(ours.state_dict())
    ours.load_state_dict(sd)


def _torch_transformer(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # torch's nested-tensor note for batch_first=False
        return torch.nn.Transformer(**kw)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_matches_torch(batch_first, norm_first):
    kw = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=3,
              dim_feedforward=16, dropout=0.0, batch_first=batch_first, norm_first=norm_first)
    ref = _torch_transformer(**kw).double()
    ours = pyrch.nn.Transformer(**kw).double()
    _copy_weights(ours, ref)
    rng = np.random.default_rng(3)
    src = rng.standard_normal((2, 5, 8) if batch_first else (5, 2, 8))
    tgt = rng.standard_normal((2, 4, 8) if batch_first else (4, 2, 8))
    pad = np.array([[False] * 5, [False] * 3 + [True] * 2])
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    pmask = pyrch.nn.Transformer.generate_square_subsequent_mask(4, dtype=pyrch.float64)
    ps, pt = pyrch.tensor(src, requires_grad=True), pyrch.tensor(tgt, requires_grad=True)
    ts, tt = torch.tensor(src, requires_grad=True), torch.tensor(tgt, requires_grad=True)
    out = ours(ps, pt, tgt_mask=pmask, src_key_padding_mask=pyrch.tensor(pad),
               memory_key_padding_mask=pyrch.tensor(pad), tgt_is_causal=True)
    tout = ref(ts, tt, tgt_mask=tmask, src_key_padding_mask=torch.tensor(pad),
               memory_key_padding_mask=torch.tensor(pad), tgt_is_causal=True)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-9,
                               atol=1e-11)
    g = rng.standard_normal(tuple(tout.shape))
    out.backward(pyrch.tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(ps.grad.numpy(), ts.grad.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(pt.grad.numpy(), tt.grad.numpy(), rtol=1e-8, atol=1e-10)
    pw = dict(ours.named_parameters())
    for name, tp in ref.named_parameters():
        np.testing.assert_allclose(pw[name].grad.numpy(), tp.grad.numpy(), rtol=1e-8,
                                   atol=1e-10, err_msg=name)


def test_transformer_defaults_and_parameter_names():
    ours = pyrch.nn.Transformer()
    ref = _torch_transformer()
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]
    assert (ours.d_model, ours.nhead, ours.batch_first) == (ref.d_model, ref.nhead,
                                                            ref.batch_first)
    assert len(ours.encoder.layers) == 6 and len(ours.decoder.layers) == 6
    # xavier_uniform_ on every matrix: within its bound and not all equal
    w = ours.encoder.layers[0].linear1.weight.detach().numpy()
    bound = (6.0 / (512 + 2048)) ** 0.5
    assert np.abs(w).max() <= bound and w.std() > bound / 3


def test_transformer_custom_encoder_decoder():
    enc = pyrch.nn.TransformerEncoder(pyrch.nn.TransformerEncoderLayer(8, 2, 16, 0.0), 1)
    dec = pyrch.nn.TransformerDecoder(pyrch.nn.TransformerDecoderLayer(8, 2, 16, 0.0), 1)
    m = pyrch.nn.Transformer(8, 2, custom_encoder=enc, custom_decoder=dec)
    assert m.encoder is enc and m.decoder is dec
    assert m(pyrch.randn(5, 2, 8), pyrch.randn(3, 2, 8)).shape == (3, 2, 8)


def test_transformer_shape_errors_match_torch():
    ours = pyrch.nn.Transformer(8, 2, 1, 1, 16, dropout=0.0)
    ref = _torch_transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                             dim_feedforward=16, dropout=0.0)
    for s, t in [((5, 2, 8), (4, 3, 8)), ((5, 2, 6), (4, 2, 6))]:
        with pytest.raises(RuntimeError) as e1:
            ours(pyrch.randn(*s), pyrch.randn(*t))
        with pytest.raises(RuntimeError) as e2:
            ref(torch.randn(*s), torch.randn(*t))
        assert str(e1.value) == str(e2.value)


@pytest.mark.parametrize("sz", [1, 4])
def test_generate_square_subsequent_mask(sz):
    m = pyrch.nn.Transformer.generate_square_subsequent_mask(sz)
    t = torch.nn.Transformer.generate_square_subsequent_mask(sz)
    assert m.dtype == pyrch.float32
    np.testing.assert_array_equal(m.numpy(), t.numpy())


# -- PackedSequence and the RNNs -----------------------------------------------------------

from pyrch.nn.utils import rnn as prnn  # noqa: E402


def _rnn_pair(kind, **kw):
    ref = getattr(torch.nn, kind)(3, 4, **kw).double()
    ours = getattr(pyrch.nn, kind)(3, 4, **kw).double()
    _copy_weights(ours, ref)
    return ours, ref


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("lengths,enforce_sorted", [([5, 3, 3, 1], True),
                                                    ([2, 5, 1, 3], False),
                                                    ([4, 4, 4, 4], False)])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_hx", [False, True])
def test_rnns_on_packed_sequences_match_torch(kind, lengths, enforce_sorted, bidirectional,
                                              batch_first, with_hx):
    ours, ref = _rnn_pair(kind, num_layers=2, bidirectional=bidirectional,
                          batch_first=batch_first)
    rng = np.random.default_rng(4)
    T, B = max(lengths), len(lengths)
    x = rng.standard_normal((B, T, 3) if batch_first else (T, B, 3))
    px, tx = pyrch.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    pp = prnn.pack_padded_sequence(px, lengths, batch_first=batch_first,
                                   enforce_sorted=enforce_sorted)
    tp = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, batch_first=batch_first,
                                                 enforce_sorted=enforce_sorted)
    np.testing.assert_array_equal(pp.data.detach().numpy(), tp.data.detach().numpy())
    np.testing.assert_array_equal(pp.batch_sizes.numpy(), tp.batch_sizes.numpy())
    for a, b in ((pp.sorted_indices, tp.sorted_indices),
                 (pp.unsorted_indices, tp.unsorted_indices)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    n_states = 2 if kind == "LSTM" else 1
    dirs = 2 if bidirectional else 1
    hs = [rng.standard_normal((2 * dirs, B, 4)) for _ in range(n_states)] if with_hx else None
    p_hx = t_hx = None
    if with_hx:
        p_hx = [pyrch.tensor(h, requires_grad=True) for h in hs]
        t_hx = [torch.tensor(h, requires_grad=True) for h in hs]
    pout, ph = ours(pp, None if p_hx is None else (tuple(p_hx) if kind == "LSTM" else p_hx[0]))
    tout, th = ref(tp, None if t_hx is None else (tuple(t_hx) if kind == "LSTM" else t_hx[0]))
    assert isinstance(pout, prnn.PackedSequence)
    np.testing.assert_allclose(pout.data.detach().numpy(), tout.data.detach().numpy(),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(pout.batch_sizes.numpy(), tout.batch_sizes.numpy())
    ph = ph if kind == "LSTM" else (ph,)
    th = th if kind == "LSTM" else (th,)
    for a, b in zip(ph, th):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
    pad, plen = prnn.pad_packed_sequence(pout, batch_first=batch_first, total_length=T + 2)
    tpad, tlen = torch.nn.utils.rnn.pad_packed_sequence(tout, batch_first=batch_first,
                                                        total_length=T + 2)
    np.testing.assert_allclose(pad.detach().numpy(), tpad.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_array_equal(plen.numpy(), tlen.numpy())
    assert plen.dtype == pyrch.int64
    g = rng.standard_normal(tuple(tpad.shape))
    gh = [rng.standard_normal(tuple(b.shape)) for b in th]
    loss = (pad * pyrch.tensor(g)).sum() + sum((a * pyrch.tensor(w)).sum() for a, w in zip(ph, gh))
    tloss = (tpad * torch.tensor(g)).sum() + sum((b * torch.tensor(w)).sum()
                                                 for b, w in zip(th, gh))
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    if with_hx:
        for a, b in zip(p_hx, t_hx):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12)
    pw = dict(ours.named_parameters())
    for name, tp_ in ref.named_parameters():
        np.testing.assert_allclose(pw[name].grad.numpy(), tp_.grad.numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=name)


def test_pack_sequence_and_unpack():
    rng = np.random.default_rng(5)
    seqs = [rng.standard_normal((n, 2)) for n in (2, 4, 1)]
    pp = prnn.pack_sequence([pyrch.tensor(s) for s in seqs], enforce_sorted=False)
    tp = torch.nn.utils.rnn.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    np.testing.assert_array_equal(pp.data.numpy(), tp.data.numpy())
    np.testing.assert_array_equal(pp.batch_sizes.numpy(), tp.batch_sizes.numpy())
    back = prnn.unpack_sequence(pp)
    assert [tuple(b.shape) for b in back] == [s.shape for s in seqs]
    for b, s in zip(back, seqs):
        np.testing.assert_array_equal(b.numpy(), s)
    padded = pad_sequence([pyrch.tensor(s) for s in seqs])
    for b, s in zip(prnn.unpad_sequence(padded, pyrch.tensor([2, 4, 1])), seqs):
        np.testing.assert_array_equal(b.numpy(), s)


def test_packed_sequence_constructor_and_to():
    ps = prnn.PackedSequence(pyrch.ones(3, 2), pyrch.tensor([2, 1]), pyrch.tensor([1, 0]))
    ts = torch.nn.utils.rnn.PackedSequence(torch.ones(3, 2), torch.tensor([2, 1]),
                                           torch.tensor([1, 0]))
    np.testing.assert_array_equal(ps.unsorted_indices.numpy(), ts.unsorted_indices.numpy())
    assert ps.double().data.dtype == pyrch.float64
    assert ps.to(pyrch.float64).data.dtype == pyrch.float64
    assert isinstance(ps.double(), prnn.PackedSequence) and not ps.is_cuda
    data, sizes, sorted_idx, unsorted_idx = ps
    assert data is ps.data and sizes is ps.batch_sizes


@pytest.mark.parametrize("call", [
    lambda m, x: m.pack_padded_sequence(x(np.zeros((4, 3, 2))), [2, 4, 1]),
    lambda m, x: m.pack_padded_sequence(x(np.zeros((4, 3, 2))), [2, 0, 1],
                                        enforce_sorted=False),
    lambda m, x: m.pad_packed_sequence(
        m.pack_padded_sequence(x(np.zeros((4, 2, 2))), [4, 1]), total_length=2),
])
def test_packing_errors_match_torch(call):
    with pytest.raises((RuntimeError, ValueError)) as ref:
        call(torch.nn.utils.rnn, torch.tensor)
    with pytest.raises(type(ref.value)) as ours:
        call(prnn, pyrch.tensor)
    assert str(ours.value) == str(ref.value)


def test_packed_rnn_bad_hidden_size():
    m = pyrch.nn.GRU(2, 3)
    pp = prnn.pack_padded_sequence(pyrch.zeros(4, 3, 2), [4, 2, 1])
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(1, 3, 3\), got \[1, 2, 3\]"):
        m(pp, pyrch.zeros(1, 2, 3))
