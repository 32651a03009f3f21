"""pyrch.onnx gaps: import of the rarer ONNX op forms (checked against onnxruntime on
hand-built models) and export with export_params=False and in training mode."""
import io

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import pyrch  # noqa: E402
import pyrch.onnx  # noqa: E402

RNG = np.random.default_rng(0)


def _graph_model(nodes, inputs, outputs, opset=17, inits=()):
    """A model from nodes; `inputs` name -> array, `outputs` name -> numpy dtype."""
    vi = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
          for k, v in inputs.items()]
    vo = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(np.dtype(d)), None)
          for k, d in outputs.items()]
    g = helper.make_graph(nodes, "g", vi, vo, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    return m


def _check(nodes, inputs, outputs, opset=17, inits=(), rtol=1e-5, atol=1e-6):
    """Run the model in onnxruntime and as a pyrch module; every output must agree."""
    m = _graph_model(nodes, inputs, outputs, opset, inits)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, inputs)
    got = pyrch.onnx.load(m)(*[pyrch.tensor(v) for v in inputs.values()])
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = g if isinstance(g, np.ndarray) else g.numpy()
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        if w.dtype == object:
            assert g.tolist() == w.tolist()
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return want


def _randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# -- Constant --------------------------------------------------------------------------------------
@pytest.mark.parametrize("attr,value,dtype", [
    ("value_float", 2.5, np.float32), ("value_floats", [1.0, -2.0, 0.25], np.float32),
    ("value_int", 3, np.int64), ("value_ints", [4, -1, 7], np.int64)])
def test_constant_number_attributes(attr, value, dtype):
    x = RNG.integers(-5, 5, 3).astype(dtype)
    nodes = [helper.make_node("Constant", [], ["c"], **{attr: value}),
             helper.make_node("Add", ["x", "c"], ["y"]),
             helper.make_node("Shape", ["c"], ["s"])]
    _check(nodes, {"x": x}, {"y": dtype, "s": np.int64})


def test_constant_strings_cast_to_numbers():
    x = _randn(3)
    nodes = [helper.make_node("Constant", [], ["c"], value_strings=["1.5", "-2", "3e1"]),
             helper.make_node("Cast", ["c"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["x", "f"], ["y"]),
             helper.make_node("Constant", [], ["s"], value_string="hello"),
             helper.make_node("Identity", ["c"], ["cs"])]
    _check(nodes, {"x": x}, {"y": np.float32, "s": object, "cs": object})


def test_constant_string_tensor_and_int_parse():
    t = helper.make_tensor("v", TensorProto.STRING, [2, 2], [b"1", b"-7", b"12", b"0"])
    x = RNG.integers(-5, 5, (2, 2)).astype(np.int64)
    nodes = [helper.make_node("Constant", [], ["c"], value=t),
             helper.make_node("Cast", ["c"], ["i"], to=TensorProto.INT64),
             helper.make_node("Add", ["x", "i"], ["y"])]
    _check(nodes, {"x": x}, {"y": np.int64})


@pytest.mark.parametrize("coo", [False, True])
def test_constant_sparse_value(coo):
    dense = np.zeros((3, 4), np.float32)
    pos = [(0, 1), (1, 3), (2, 0)]
    for (i, j), v in zip(pos, (1.5, -2.0, 4.0)):
        dense[i, j] = v
    idx = np.array(pos, np.int64) if coo else np.array([i * 4 + j for i, j in pos], np.int64)
    sp = helper.make_sparse_tensor(numpy_helper.from_array(dense[dense != 0], "vals"),
                                   numpy_helper.from_array(idx, "idx"), [3, 4])
    nodes = [helper.make_node("Constant", [], ["c"], sparse_value=sp),
             helper.make_node("Add", ["x", "c"], ["y"])]
    x = _randn(3, 4)
    _check(nodes, {"x": x}, {"y": np.float32})
    np.testing.assert_allclose(pyrch.onnx.load(_graph_model(
        nodes, {"x": x}, {"y": np.float32}))(pyrch.tensor(x)).numpy(), x + dense)


# -- ScatterElements / ArgMax ---------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
@pytest.mark.parametrize("axis", [0, 1])
def test_scatter_elements_reduction(reduction, axis):
    data = _randn(4, 5)
    upd = _randn(3, 5) if axis == 0 else _randn(4, 3)
    n = data.shape[axis]
    idx = RNG.integers(-n, n, upd.shape).astype(np.int64)
    if reduction == "none":               # duplicates are unordered without a reduction
        idx = np.stack([RNG.permutation(n)[:3] for _ in range(upd.shape[1 - axis])], 1 - axis)
    node = helper.make_node("ScatterElements", ["d", "i", "u"], ["y"], axis=axis,
                            reduction=reduction)
    _check([node], {"d": data, "i": idx, "u": upd}, {"y": np.float32}, opset=18)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("axis,keepdims", [(0, 1), (1, 0), (-1, 1)])
@pytest.mark.parametrize("last", [0, 1])
def test_arg_select_last_index(op, axis, keepdims, last):
    x = RNG.integers(0, 3, (4, 6, 5)).astype(np.float32)     # many ties
    node = helper.make_node(op, ["x"], ["y"], axis=axis, keepdims=keepdims, select_last_index=last)
    _check([node], {"x": x}, {"y": np.int64})


# -- pooling --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw,shape", [
    ({"kernel_shape": [2, 2], "strides": [2, 2]}, (2, 3, 6, 5)),
    ({"kernel_shape": [3, 3], "strides": [2, 1], "pads": [1, 0, 1, 2], "ceil_mode": 1},
     (1, 2, 7, 6)),
    ({"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 1, 1, 1], "dilations": [2, 1]},
     (2, 2, 7, 6)),
    ({"kernel_shape": [3], "strides": [2], "pads": [0, 2], "ceil_mode": 1}, (2, 3, 8)),
    ({"kernel_shape": [2, 2, 2], "strides": [1, 2, 2], "pads": [0, 1, 0, 1, 0, 1]},
     (1, 2, 3, 4, 5)),
    ({"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]}, (1, 2, 6, 5)),
])
@pytest.mark.parametrize("storage_order", [0, 1])
def test_maxpool_indices(kw, shape, storage_order):
    x = _randn(*shape)
    node = helper.make_node("MaxPool", ["x"], ["y", "i"], storage_order=storage_order, **kw)
    y, i = _check([node], {"x": x}, {"y": np.float32, "i": np.int64}, opset=12)
    flat = x if storage_order == 0 else np.swapaxes(x, 2, -1)   # column-major planes
    np.testing.assert_array_equal(flat.reshape(-1)[i.reshape(-1)], y.reshape(-1))


def test_maxpool_indices_pick_the_maxima():
    """The Indices output of an imported MaxPool picks the maxima out of the flat input."""
    x = _randn(2, 3, 5, 4)
    node = helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 3], pads=[0, 1, 1, 0])
    m = pyrch.onnx.load(_graph_model([node], {"x": x}, {"y": np.float32, "i": np.int64}))
    y, i = m(pyrch.tensor(x))
    np.testing.assert_array_equal(x.reshape(-1)[i.numpy().reshape(-1)], y.numpy().reshape(-1))


@pytest.mark.parametrize("kw,shape", [
    ({"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 1, 2, 0]}, (2, 3, 7, 6)),
    ({"kernel_shape": [3, 2], "strides": [2, 1], "pads": [1, 0, 2, 1], "ceil_mode": 1},
     (1, 2, 6, 5)),
    ({"kernel_shape": [3], "strides": [2], "pads": [0, 2], "ceil_mode": 1}, (2, 1, 4)),
    ({"kernel_shape": [3], "strides": [2], "pads": [1, 2], "ceil_mode": 1}, (2, 1, 4)),
    ({"kernel_shape": [2, 2, 3], "strides": [1, 2, 2], "pads": [1, 0, 0, 0, 1, 2]},
     (1, 2, 3, 4, 5)),
    ({"kernel_shape": [2, 2], "auto_pad": "SAME_LOWER"}, (1, 2, 5, 5)),
])
@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_avgpool_asymmetric_pads(kw, shape, count_include_pad):
    x = _randn(*shape)
    node = helper.make_node("AveragePool", ["x"], ["y"], count_include_pad=count_include_pad,
                            **kw)
    _check([node], {"x": x}, {"y": np.float32})


@pytest.mark.parametrize("kw,shape", [
    ({"kernel_shape": [2, 2], "dilations": [2, 1], "strides": [1, 2]}, (2, 3, 7, 6)),
    ({"kernel_shape": [3, 2], "dilations": [2, 2], "strides": [2, 1], "pads": [1, 0, 2, 1],
      "ceil_mode": 1}, (1, 2, 8, 6)),
    ({"kernel_shape": [3], "dilations": [3], "strides": [2], "pads": [1, 2], "ceil_mode": 1},
     (2, 2, 9)),
])
@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_avgpool_dilations(kw, shape, count_include_pad):
    x = _randn(*shape)
    node = helper.make_node("AveragePool", ["x"], ["y"], count_include_pad=count_include_pad,
                            **kw)
    _check([node], {"x": x}, {"y": np.float32}, opset=19)


def test_cast_to_string():
    x = np.array([1.5, 0.1, 1e-7, 123456789.0, -0.0, np.inf, -np.inf, np.nan, 3.0, 1 / 3],
                 np.float32)
    nodes = [helper.make_node("Cast", ["x"], ["s"], to=TensorProto.STRING),
             helper.make_node("Cast", ["i"], ["si"], to=TensorProto.STRING),
             helper.make_node("Cast", ["s"], ["back"], to=TensorProto.FLOAT)]
    i = np.array([3, -7, 0], np.int64)
    out = _check(nodes, {"x": x, "i": i}, {"s": object, "si": object, "back": np.float32},
                 rtol=1e-6)
    assert out[0][1] == "0.1" and out[1].tolist() == ["3", "-7", "0"]


# -- recurrent ------------------------------------------------------------------------------------
def _rnn_model(op, direction, H, I, seq, batch, lens=None, clip=None, peep=False,
               input_forget=0, layout=0, h0=True, lbr=0):
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[op]
    nd = 2 if direction == "bidirectional" else 1
    inputs = {"X": _randn(batch, seq, I) if layout else _randn(seq, batch, I),
              "W": _randn(nd, gates * H, I) * 0.6, "R": _randn(nd, gates * H, H) * 0.6,
              "B": _randn(nd, 2 * gates * H) * 0.3}
    names = ["X", "W", "R", "B"]
    if lens is not None:
        inputs["L"] = np.asarray(lens, np.int32)
    names.append("L" if lens is not None else "")
    hshape = (batch, nd, H) if layout else (nd, batch, H)
    if h0:
        inputs["H0"] = _randn(*hshape)
    names.append("H0" if h0 else "")
    if op == "LSTM":
        if h0:
            inputs["C0"] = _randn(*hshape)
        names.append("C0" if h0 else "")
        if peep:
            inputs["P"] = _randn(nd, 3 * H)
        names.append("P" if peep else "")
    while names[-1] == "":
        names.pop()
    kw = {"hidden_size": H, "direction": direction, "layout": layout}
    if clip is not None:
        kw["clip"] = clip
    if op == "LSTM" and input_forget:
        kw["input_forget"] = input_forget
    if op == "GRU":
        kw["linear_before_reset"] = lbr
    outs = ["Y", "Yh", "Yc"] if op == "LSTM" else ["Y", "Yh"]
    node = helper.make_node(op, names, outs, **kw)
    return [node], inputs, {o: np.float32 for o in outs}


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_recurrent_sequence_lens(op, direction):
    nodes, inputs, outs = _rnn_model(op, direction, H=4, I=3, seq=5, batch=5,
                                     lens=[5, 2, 3, 1, 0], lbr=1)
    out = _check(nodes, inputs, outs, opset=14, rtol=1e-4, atol=1e-5)
    y = out[0]                                                 # (seq, dirs, batch, H)
    assert np.all(y[2:, :, 1] == 0) and np.all(y[1:, :, 3] == 0) and np.any(y[:, :, 0] != 0)
    assert all(np.all(o[:, 4] == 0) for o in out[1:])          # an empty sequence ends in zeros


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_recurrent_sequence_lens_batch_first(op):
    """layout=1 (onnxruntime's CPU kernels refuse it): the layout-0 model's results, transposed."""
    nodes, inputs, outs = _rnn_model(op, "bidirectional", H=4, I=3, seq=5, batch=3,
                                     lens=[2, 5, 4], layout=1, clip=1.5)
    m = pyrch.onnx.load(_graph_model(nodes, inputs, outs, opset=14))
    got = m(*[pyrch.tensor(v) for v in inputs.values()])
    flat = {k: (v.transpose(1, 0, 2) if k in ("X", "H0", "C0") else v) for k, v in inputs.items()}
    for a in nodes[0].attribute:
        if a.name == "layout":
            a.i = 0
    m0 = _graph_model(nodes, flat, outs, opset=14)
    sess = ort.InferenceSession(m0.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, flat)
    np.testing.assert_allclose(got[0].numpy(), want[0].transpose(2, 0, 1, 3), rtol=1e-4, atol=1e-5)
    for g, w in zip(got[1:], want[1:]):
        np.testing.assert_allclose(g.numpy(), w.transpose(1, 0, 2), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_recurrent_clip(op, direction):
    nodes, inputs, outs = _rnn_model(op, direction, H=5, I=4, seq=4, batch=3, clip=0.4,
                                     lens=[4, 3, 4])
    for k in ("W", "R"):
        inputs[k] = inputs[k] * 3             # pre-activations well past the clip
    _check(nodes, inputs, outs, opset=14, rtol=1e-4, atol=1e-5)


def test_recurrent_clip_changes_result():
    nodes, inputs, outs = _rnn_model("GRU", "forward", H=5, I=4, seq=4, batch=3, clip=0.1)
    m = pyrch.onnx.load(_graph_model(nodes, inputs, outs))
    nodes[0].attribute.pop([a.name for a in nodes[0].attribute].index("clip"))
    m2 = pyrch.onnx.load(_graph_model(nodes, inputs, outs))
    args = [pyrch.tensor(v) for v in inputs.values()]
    assert not np.allclose(m(*args)[0].numpy(), m2(*args)[0].numpy())


@pytest.mark.parametrize("peep,input_forget", [(True, 0), (False, 1), (True, 1)])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_lstm_peepholes_input_forget(peep, input_forget, direction):
    nodes, inputs, outs = _rnn_model("LSTM", direction, H=4, I=3, seq=5, batch=3, peep=peep,
                                     input_forget=input_forget, lens=[5, 3, 4], clip=2.0)
    _check(nodes, inputs, outs, opset=14, rtol=1e-4, atol=1e-5)


def test_lstm_peepholes_without_initial_state_and_gradients():
    nodes, inputs, outs = _rnn_model("LSTM", "forward", H=3, I=2, seq=4, batch=2, peep=True,
                                     h0=False, lens=[4, 2])
    _check(nodes, inputs, outs, opset=14, rtol=1e-4, atol=1e-5)
    m = pyrch.onnx.load(_graph_model(nodes, inputs, outs))
    X = pyrch.tensor(inputs["X"], requires_grad=True)
    P = pyrch.tensor(inputs["P"], requires_grad=True)
    args = [pyrch.tensor(v) for v in inputs.values()]
    args[0], args[-1] = X, P
    y, yh, yc = m(*args)
    (y.sum() + yc.sum()).backward()
    assert np.all(X.grad.numpy()[2:, 1] == 0)        # steps past the length do not matter
    assert np.any(P.grad.numpy() != 0)


def test_torch_rnn_export_imports(torch_or_skip):
    torch = torch_or_skip
    import warnings
    torch.manual_seed(0)
    tm = torch.nn.RNN(3, 4, num_layers=2, batch_first=True, bidirectional=True).eval()
    x = torch.randn(2, 5, 3)
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(tm, (x,), f, dynamo=False, opset_version=17, input_names=["x"])
    with torch.no_grad():
        want = tm(x)
    with pyrch.no_grad():
        got = pyrch.onnx.load(f.getvalue())(pyrch.tensor(x.numpy()))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-4, atol=1e-5)


# -- import of training-mode and random ops -----------------------------------------------------
def test_batch_norm_training_mode_import():
    x = _randn(4, 3, 5)
    c = {k: _randn(3) for k in ("s", "b", "m")}
    c["v"] = np.abs(_randn(3)) + 0.5
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "rm", "rv"],
                            training_mode=1, momentum=0.7, epsilon=1e-3)
    _check([node], {"x": x, **c}, {"y": np.float32, "rm": np.float32, "rv": np.float32},
           opset=15, rtol=1e-4, atol=1e-5)


def test_dropout_training_mode_import():
    x = np.ones((200, 50), np.float32)
    nodes = [helper.make_node("Constant", [], ["r"], value_float=0.25),
             helper.make_node("Constant", [], ["t"], value=numpy_helper.from_array(
                 np.array(True), "t")),
             helper.make_node("Dropout", ["x", "r", "t"], ["y", "mask"])]
    m = pyrch.onnx.load(_graph_model(nodes, {"x": x}, {"y": np.float32, "mask": np.bool_}))
    y, mask = m(pyrch.tensor(x))
    y, mask = y.numpy(), mask.numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    np.testing.assert_array_equal(y != 0, mask)
    assert 0.22 < 1 - mask.mean() < 0.28
    nodes[1] = helper.make_node("Constant", [], ["t"], value=numpy_helper.from_array(
        np.array(False), "t"))
    _check(nodes, {"x": _randn(3, 4)}, {"y": np.float32, "mask": np.bool_})


def test_random_ops_import():
    nodes = [helper.make_node("RandomUniformLike", ["x"], ["u"], low=-2.0, high=3.0),
             helper.make_node("RandomNormal", [], ["n"], shape=[300, 40], mean=1.0, scale=2.0,
                              dtype=TensorProto.DOUBLE),
             helper.make_node("Bernoulli", ["p"], ["b"], dtype=TensorProto.INT64)]
    x, p = _randn(300, 40), np.full((300, 40), 0.3, np.float32)
    m = pyrch.onnx.load(_graph_model(nodes, {"x": x, "p": p},
                                     {"u": np.float32, "n": np.float64, "b": np.int64}))
    u, n, b = (t.numpy() for t in m(pyrch.tensor(x), pyrch.tensor(p)))
    assert u.dtype == np.float32 and -2 <= u.min() and u.max() < 3 and abs(u.mean() - 0.5) < 0.1
    assert n.dtype == np.float64 and abs(n.mean() - 1) < 0.1 and abs(n.std() - 2) < 0.1
    assert b.dtype == np.int64 and set(np.unique(b)) <= {0, 1} and abs(b.mean() - 0.3) < 0.03


# -- export: export_params=False -------------------------------------------------------------------
class _Net(pyrch.nn.Module):
    def __init__(self):
        super().__init__()
        nn = pyrch.nn
        self.c, self.bn = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.fc, self.head = nn.Linear(4, 6), nn.Linear(6, 2)
        self.unused = nn.Linear(2, 2)
        with pyrch.no_grad():
            self.bn.running_mean.copy_(pyrch.randn(4) * 0.1)
            self.bn.running_var.copy_(pyrch.rand(4) + 0.5)
            self.bn.weight.copy_(pyrch.randn(4))

    def forward(self, x):
        x = pyrch.relu(self.bn(self.c(x)))
        return self.head(pyrch.tanh(self.fc(x.mean(dim=(2, 3)))))


def _state_feeds(sess, model):
    sd = model.state_dict()
    return {i.name: sd[i.name].numpy() for i in sess.get_inputs() if i.name in sd}


def test_export_params_false_makes_parameters_inputs():
    pyrch.manual_seed(0)
    m = _Net().eval()
    x = pyrch.randn(2, 3, 5, 5)
    f = io.BytesIO()
    proto = pyrch.onnx.export(m, (x,), f, input_names=["x"], output_names=["y"],
                              export_params=False, dynamic_axes={"x": {0: "b"}, "y": {0: "b"}})
    onnx.checker.check_model(proto, full_check=True)
    names = [i.name for i in proto.graph.input]
    used = [k for k in m.state_dict() if not k.startswith("unused") and "num_batches" not in k]
    assert names == ["x"] + used                     # state_dict order, only what is read
    assert not {t.name for t in proto.graph.initializer} & set(m.state_dict())
    sess = ort.InferenceSession(f.getvalue(), providers=["CPUExecutionProvider"])
    other = _Net().eval()                            # other weights, fed at run time
    for b, net in ((2, m), (5, other)):
        xb = pyrch.randn(b, 3, 5, 5)
        got = sess.run(None, {"x": xb.numpy(), **_state_feeds(sess, net)})[0]
        with pyrch.no_grad():
            np.testing.assert_allclose(got, net(xb).numpy(), rtol=1e-4, atol=1e-5)
    back = pyrch.onnx.load(f.getvalue())
    assert back.input_names == names
    sd = other.state_dict()
    with pyrch.no_grad():
        got = back(x, *[sd[k] for k in names[1:]])
        np.testing.assert_allclose(got.numpy(), other(x).numpy(), rtol=1e-4, atol=1e-5)


def test_export_params_false_matches_torch_input_names(torch_or_skip):
    torch = torch_or_skip
    import warnings

    def mlp(nn):
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    pm, tm = mlp(pyrch.nn).eval(), mlp(torch.nn).eval()
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(tm, (torch.randn(2, 4),), f, dynamo=False, export_params=False,
                          input_names=["x"], do_constant_folding=False)
    want = [i.name for i in onnx.load_from_string(f.getvalue()).graph.input]
    proto = pyrch.onnx.export(pm, (pyrch.randn(2, 4),), None, input_names=["x"],
                              export_params=False)
    assert [i.name for i in proto.graph.input] == want
    assert not proto.graph.initializer


def test_export_params_false_errors_and_functions():
    m = pyrch.nn.Linear(3, 2)
    with pytest.raises(ValueError, match="weight"):
        pyrch.onnx.export(m, (pyrch.randn(1, 3),), None, input_names=["weight"],
                          export_params=False)
    w = pyrch.randn(3, 2)
    proto = pyrch.onnx.export(lambda x: x @ w, (pyrch.randn(1, 3),), None, export_params=False)
    assert len(proto.graph.input) == 1 and len(proto.graph.initializer) == 1   # a constant


# -- export: training modes -----------------------------------------------------------------------
def _ops(proto):
    return [n.op_type for n in proto.graph.node]


def _bn_net():
    nn = pyrch.nn
    pyrch.manual_seed(1)
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                      nn.Linear(64, 5), nn.BatchNorm1d(5))
    with pyrch.no_grad():
        for bn in (m[1], m[5]):
            bn.weight.copy_(pyrch.randn(bn.weight.shape))
            bn.bias.copy_(pyrch.randn(bn.bias.shape))
    return m


@pytest.mark.parametrize("opset", [13, 17])
def test_training_export_batch_norm_uses_batch_statistics(opset):
    m = _bn_net().eval()
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    x = pyrch.randn(3, 3, 6, 6)
    f = io.BytesIO()
    proto = pyrch.onnx.export(m, (x,), f, input_names=["x"], opset_version=opset,
                              training=pyrch.onnx.TrainingMode.TRAINING, do_constant_folding=False,
                              dynamic_axes={"x": {0: "batch"}})
    onnx.checker.check_model(proto, full_check=True)
    assert m.training is False                         # the mode and the running stats are kept
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    # batch statistics, spelled out (no BatchNormalization: see export._rewrite's note)
    assert "BatchNormalization" not in _ops(proto) and "ReduceMean" in _ops(proto)
    sess = ort.InferenceSession(f.getvalue(), providers=["CPUExecutionProvider"])
    back = pyrch.onnx.load(f.getvalue())
    m.train()
    for b in (3, 6):
        xb = pyrch.randn(b, 3, 6, 6)
        with pyrch.no_grad():
            want = m(xb).numpy()
            np.testing.assert_allclose(back(xb).numpy(), want, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(sess.run(None, {"x": xb.numpy()})[0], want, rtol=1e-4,
                                   atol=1e-4)


def test_training_export_dropout():
    nn = pyrch.nn

    class Drop(nn.Module):
        def __init__(self):
            super().__init__()
            self.d, self.d2 = nn.Dropout(0.25), nn.Dropout2d(0.5)

        def forward(self, x, z):
            return self.d(x), self.d2(z)
    m = Drop()
    f = io.BytesIO()
    proto = pyrch.onnx.export(m, (pyrch.ones(4, 50), pyrch.ones(2, 30, 2, 2)), f,
                              input_names=["x", "z"], training=True, do_constant_folding=False,
                              dynamic_axes={"x": {0: "n"}, "z": {0: "m"}})
    onnx.checker.check_model(proto, full_check=True)
    drop = [n for n in proto.graph.node if n.op_type == "Dropout"]
    assert len(drop) == 1
    inits = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    assert inits[drop[0].input[2]] == np.array(True)
    np.testing.assert_allclose(inits[drop[0].input[1]], 0.25)
    sess = ort.InferenceSession(f.getvalue(), providers=["CPUExecutionProvider"])
    back = pyrch.onnx.load(f.getvalue())
    x, z = np.ones((400, 50), np.float32), np.ones((40, 30, 2, 2), np.float32)
    with pyrch.no_grad():
        ours = [t.numpy() for t in back(pyrch.tensor(x), pyrch.tensor(z))]
    runs = [sess.run(None, {"x": x, "z": z}) for _ in range(2)] + [ours]
    for y, w in runs:
        assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)} and 0.23 < (y == 0).mean() < 0.27
        planes = w.reshape(40, 30, 4)
        assert np.all(planes == planes[:, :, :1])                # whole channels dropped
        assert set(np.unique(w)) <= {0.0, 2.0} and 0.4 < (w == 0).mean() < 0.6
    assert not np.array_equal(runs[0][0], runs[1][0])


def test_preserve_and_eval_modes():
    nn = pyrch.nn
    pyrch.manual_seed(2)
    m = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Dropout(0.5))
    with pyrch.no_grad():
        m[1].running_mean.copy_(pyrch.randn(8))
    m.train()
    m[1].eval()                                        # batch norm on running stats, dropout on
    x = pyrch.randn(50, 6)
    f = io.BytesIO()
    proto = pyrch.onnx.export(m, (x,), f, input_names=["x"], do_constant_folding=False,
                              training=pyrch.onnx.TrainingMode.PRESERVE)
    assert "Dropout" in _ops(proto) and "BatchNormalization" not in _ops(proto)
    assert m.training and not m[1].training
    got = ort.InferenceSession(f.getvalue(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x.numpy()})[0]
    with pyrch.no_grad():
        want = m[1](m[0](x)).numpy() * 2
    kept = got != 0
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(got[kept], want[kept], rtol=1e-5, atol=1e-5)
    proto = pyrch.onnx.export(m, (x,), None, training=pyrch.onnx.TrainingMode.EVAL)
    assert "Dropout" not in _ops(proto) and not any(o.startswith("Random") for o in _ops(proto))
    assert m.training


def test_training_mode_arguments(torch_or_skip):
    torch = torch_or_skip
    m = pyrch.nn.Sequential(pyrch.nn.Linear(3, 3), pyrch.nn.Dropout(0.5)).eval()
    x = pyrch.randn(2, 3)
    with pytest.warns(UserWarning, match="constant folding"):
        proto = pyrch.onnx.export(m, (x,), None, training=torch.onnx.TrainingMode.TRAINING)
    assert "Dropout" in _ops(proto) and not m.training
    with pytest.raises(ValueError, match="TrainingMode"):
        pyrch.onnx.export(m, (x,), None, training="train")


def test_torch_training_export_imports(torch_or_skip):
    torch = torch_or_skip
    import warnings
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    x = torch.randn(3, 3, 5, 5)
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(tm, (x,), f, dynamo=False, opset_version=17, do_constant_folding=False,
                          training=torch.onnx.TrainingMode.TRAINING, input_names=["x"])
    with torch.no_grad():
        want = tm.train()(x).numpy()
    with pyrch.no_grad():
        got = pyrch.onnx.load(f.getvalue())(pyrch.tensor(x.numpy())).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
