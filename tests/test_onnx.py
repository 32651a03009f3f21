"""pyrch.onnx: export checked by onnx.checker and ONNX Runtime, import back, import torch exports.

The model zoo is written once against a torch-shaped namespace, so the same
code builds the pyrch model and (with the same weights) its PyTorch twin.
"""
import io

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import pyrch  # noqa: E402
import pyrch.onnx  # noqa: E402


def zoo(torch):
    """name -> (constructor, example-input maker(batch)) written against `torch`."""
    nn, F = torch.nn, torch.nn.functional

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(8, 16), nn.Linear(16, 4)

        def forward(self, x):
            return self.fc2(F.gelu(self.fc1(x)).tanh())

    class CNN(nn.Module):       # digits-style: conv, max pool, avg pool, flatten, linear
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 8, 3)
            self.pool, self.ap = nn.MaxPool2d(2), nn.AvgPool2d(2)
            self.fc = nn.Linear(8, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.c1(x)))
            x = self.ap(F.relu(self.c2(x)))
            return F.log_softmax(self.fc(torch.flatten(x, 1)), dim=1)

    class BNDrop(nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.bn, self.d = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.3)
            self.fc, self.bn1 = nn.Linear(4, 5), nn.BatchNorm1d(5)

        def forward(self, x):
            x = self.d(F.relu(self.bn(self.c(x))))
            return self.bn1(self.fc(x.mean(dim=(2, 3))))

    class LSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.l, self.fc = nn.LSTM(5, 7, num_layers=2, batch_first=True), nn.Linear(7, 3)

        def forward(self, x):
            y, _ = self.l(x)
            return self.fc(y[:, -1])

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.1, batch_first=True)
            kw = {"enable_nested_tensor": False} if torch.__name__ == "torch" else {}
            self.enc = nn.TransformerEncoder(layer, 2, **kw)

        def forward(self, x):
            return self.enc(x)

    class Block(nn.Module):
        def __init__(self, d, h):
            super().__init__()
            self.h = h
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
            att = (q @ k.transpose(-2, -1)) * (1.0 / (C // self.h) ** 0.5)
            mask = torch.tril(torch.ones(T, T)).view(1, 1, T, T)
            att = F.softmax(att.masked_fill(mask == 0, float("-inf")), dim=-1)
            y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
            x = x + self.proj(y)
            return x + self.mlp(self.ln2(x))

    class CharGPT(nn.Module):
        def __init__(self, V=11, d=16, T=8):
            super().__init__()
            self.tok, self.pos = nn.Embedding(V, d), nn.Embedding(T, d)
            self.blocks = nn.Sequential(Block(d, 2), Block(d, 2))
            self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, V)

        def forward(self, idx):
            B, T = idx.shape
            x = self.tok(idx) + self.pos(torch.arange(T))
            return self.head(self.ln(self.blocks(x)))

    return {
        "mlp": (MLP, lambda b: np.random.randn(b, 8)),
        "cnn": (CNN, lambda b: np.random.randn(b, 1, 8, 8)),
        "bn_dropout": (BNDrop, lambda b: np.random.randn(b, 3, 6, 6)),
        "lstm": (LSTM, lambda b: np.random.randn(b, 4, 5)),
        "transformer_encoder": (Encoder, lambda b: np.random.randn(b, 5, 16)),
        "char_gpt": (CharGPT, lambda b: np.random.randint(0, 11, (b, 8))),
    }


ZOO = zoo(pyrch)
NAMES = list(ZOO)


def _input(name, b):
    a = ZOO[name][1](b)
    return a.astype(np.float32) if a.dtype.kind == "f" else a.astype(np.int64)


def _model(name):
    pyrch.manual_seed(0)
    m = ZOO[name][0]()
    for mod in m.modules():          # non-trivial running stats so BatchNorm is really tested
        if hasattr(mod, "running_var") and mod.running_var is not None:
            mod.running_mean.copy_(pyrch.randn(mod.running_mean.shape) * 0.1)
            mod.running_var.copy_(pyrch.rand(mod.running_var.shape) + 0.5)
    return m.eval()


def _run(m, x):
    with pyrch.no_grad():
        return m(pyrch.tensor(x)).numpy()


def _export(m, x, **kw):
    f = io.BytesIO()
    proto = pyrch.onnx.export(m, (pyrch.tensor(x),), f, input_names=["x"], output_names=["y"],
                              **kw)
    return proto, f.getvalue()


@pytest.mark.parametrize("name", NAMES)
def test_export_matches_onnxruntime(name):
    m = _model(name)
    x = _input(name, 2)
    proto, data = _export(m, x, dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape[0] == "batch"
    for b in (2, 5, 1):
        xb = _input(name, b)
        got = sess.run(None, {"x": xb})[0]
        np.testing.assert_allclose(got, _run(m, xb), rtol=1e-4, atol=1e-5)
    assert m.training is False


@pytest.mark.parametrize("name", NAMES)
def test_round_trip(name):
    m = _model(name)
    _, data = _export(m, _input(name, 3), dynamic_axes={"x": {0: "batch"}})
    back = pyrch.onnx.load(data)
    xb = _input(name, 4)
    with pyrch.no_grad():
        got = back(pyrch.tensor(xb)).numpy()
    np.testing.assert_allclose(got, _run(m, xb), rtol=1e-4, atol=1e-5)


def test_static_export_and_names(tmp_path):
    m = _model("mlp")
    m.train()
    path = tmp_path / "mlp.onnx"
    pyrch.onnx.export(m, pyrch.tensor(_input("mlp", 2)), str(path))
    assert m.training is True                      # the mode is restored after export
    model = onnx.load(str(path))
    assert [i.name for i in model.graph.input] == ["x"]
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [2, 8]
    assert {t.name for t in model.graph.initializer} >= {"fc1.weight", "fc2.bias"}
    back = pyrch.onnx.load(str(path))
    assert set(back.state_dict()) == set(m.state_dict())   # parameters keep their dotted names
    x = _input("mlp", 2)
    np.testing.assert_allclose(_run(back, x), _run(m.eval(), x), rtol=1e-5, atol=1e-6)


def test_imported_module_trains_and_traces():
    m = pyrch.onnx.load(_export(_model("cnn"), _input("cnn", 2))[1])
    x = pyrch.tensor(_input("cnn", 2))
    loss = m(x).sum()
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())
    traced = pyrch.jit.trace(m, (x,))
    with pyrch.no_grad():
        np.testing.assert_allclose(traced(x).numpy(), m(x).numpy(), rtol=1e-5, atol=1e-6)


def test_export_function_and_elementwise_ops():
    def f(x, y):
        z = pyrch.where(x > y, x - y, (x * y).exp()).clamp(-2.0, 3.0)
        s = pyrch.softmax(z, dim=-1).sum(dim=0, keepdim=True)
        mx, idx = z.max(dim=1)
        return s * pyrch.sigmoid(z).mean() + z.var(dim=1, keepdim=True)[0], idx, z.flip(0)[1:, ::2]
    x = pyrch.randn(3, 4)
    y = pyrch.randn(3, 4)
    f_ = io.BytesIO()
    proto = pyrch.onnx.export(f, (x, y), f_)
    onnx.checker.check_model(proto)
    sess = ort.InferenceSession(f_.getvalue(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x.numpy(), "y": y.numpy()})
    want = f(x, y)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_exports_and_loads(reduction):
    """A loss over class indices (with an ignored row) runs in onnxruntime as
    SoftmaxCrossEntropyLoss and comes back through pyrch.onnx.load."""
    def f(x, t):
        return pyrch.nn.functional.cross_entropy(x * 2.0, t, reduction=reduction, ignore_index=3)
    x = pyrch.randn(6, 5)
    t = pyrch.tensor([0, 3, 4, 1, 3, 2])
    f_ = io.BytesIO()
    proto = pyrch.onnx.export(f, (x, t), f_)
    onnx.checker.check_model(proto)
    assert any(n.op_type == "SoftmaxCrossEntropyLoss" for n in proto.graph.node)
    sess = ort.InferenceSession(f_.getvalue(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    got = sess.run(None, dict(zip(names, (x.numpy(), t.numpy()))))[0]
    np.testing.assert_allclose(got, f(x, t).numpy(), rtol=1e-5, atol=1e-6)
    back = pyrch.onnx.load(f_.getvalue())
    np.testing.assert_allclose(back(x, t).numpy(), f(x, t).numpy(), rtol=1e-5, atol=1e-6)


def test_weighted_softmax_cross_entropy_loss_imports():
    """An ONNX SoftmaxCrossEntropyLoss with class weights (as other exporters write it)
    loads as F.cross_entropy(weight=...), the same numbers as onnxruntime's."""
    from onnx import helper, TensorProto
    node = helper.make_node("SoftmaxCrossEntropyLoss", ["x", "t", "w"], ["y"], reduction="mean",
                            ignore_index=2)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 4]),
                                        helper.make_tensor_value_info("t", TensorProto.INT64, [5]),
                                        helper.make_tensor_value_info("w", TensorProto.FLOAT, [4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    t = np.array([0, 2, 3, 1, 3])
    w = np.array([0.5, 2.0, 1.0, 3.0], np.float32)
    want = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x, "t": t, "w": w})[0]
    got = pyrch.onnx.load(model)(pyrch.tensor(x), pyrch.tensor(t), pyrch.tensor(w))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


def test_unmapped_op_names_op_and_line():
    def f(x):
        return pyrch.argsort(x, dim=-1)
    with pytest.raises(pyrch.onnx.ExportError, match=r"argsort.*test_onnx\.py:\d+"):
        pyrch.onnx.export(f, (pyrch.randn(3, 4),), io.BytesIO())


def test_baked_batch_size_is_reported():
    def f(x):
        return x * pyrch.arange(x.shape[0] * 4).reshape(x.shape[0], 4).float()
    with pytest.raises(pyrch.onnx.ExportError, match="dynamic"):
        pyrch.onnx.export(f, (pyrch.randn(3, 4),), io.BytesIO(), dynamic_axes={"x": [0]})


def test_load_rejects_unknown_ops():
    from onnx import helper, TensorProto
    node = helper.make_node("NonMaxSuppression", ["a", "b"], ["c"])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1]),
                                        helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("c", TensorProto.INT64, [1])])
    with pytest.raises(pyrch.onnx.OnnxImportError, match="NonMaxSuppression"):
        pyrch.onnx.load(helper.make_model(g))


# -- models exported by PyTorch ------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_import_torch_export(name, torch_or_skip):
    torch = torch_or_skip
    import warnings
    pm = _model(name)
    tm = zoo(torch)[name][0]()
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in pm.state_dict().items()})
    tm.eval()
    x = _input(name, 2)
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(tm, (torch.from_numpy(x),), f, dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    m = pyrch.onnx.load(f.getvalue())
    bs = (2,) if name == "lstm" else (2, 3)     # torch's LSTM export bakes the batch into h0
    for b in bs:
        xb = _input(name, b)
        with torch.no_grad():
            want = tm(torch.from_numpy(xb)).numpy()
        np.testing.assert_allclose(_run(m, xb), want, rtol=1e-4, atol=1e-5)


# -- more layers, both directions ----------------------------------------------------------------
def layers(torch):
    """name -> (module maker, input shape) for single-layer checks, written against `torch`."""
    nn, F = torch.nn, torch.nn.functional

    class Wrap(nn.Module):
        def __init__(self, f, *mods):
            super().__init__()
            self.f, self.m = f, nn.ModuleList(mods)

        def forward(self, x):
            return self.f(self, x)

    return {
        "conv_transpose": (lambda: Wrap(lambda s, x: s.m[0](x), nn.ConvTranspose2d(
            3, 4, 3, stride=2, padding=1, output_padding=1)), (2, 3, 5, 5)),
        "conv1d_dilated": (lambda: Wrap(lambda s, x: s.m[0](x), nn.Conv1d(
            3, 4, 3, stride=2, padding=2, dilation=2)), (2, 3, 9)),
        "pools": (lambda: Wrap(lambda s, x: torch.cat([
            F.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True, count_include_pad=False).flatten(1),
            F.adaptive_avg_pool2d(x, (3, 2)).flatten(1), F.adaptive_max_pool2d(x, 1).flatten(1),
            F.max_pool2d(x, 3, 2, padding=1).flatten(1)], 1)), (2, 3, 6, 4)),
        "gru_bidirectional": (lambda: Wrap(lambda s, x: s.m[0](x)[0], nn.GRU(
            5, 6, batch_first=True, bidirectional=True)), (2, 4, 5)),
        "multihead_attention": (lambda: Wrap(lambda s, x: s.m[0](x, x, x)[0], nn.MultiheadAttention(
            8, 2, batch_first=True)), (2, 3, 8)),
        "activations": (lambda: Wrap(lambda s, x: torch.cat([
            F.softplus(x, beta=2), F.elu(x), F.leaky_relu(x, 0.2), F.hardtanh(x), F.silu(x),
            F.gelu(x, approximate="tanh"), x.cumsum(1), x.flip(1), torch.clamp(x, -0.5, 0.5),
            F.pad(x, (1, 2)), torch.logsumexp(x, 1, keepdim=True), x.std(1, keepdim=True)], 1)),
            (3, 5)),
    }


LAYERS = layers(pyrch)


@pytest.mark.parametrize("name", list(LAYERS))
def test_layers_export(name):
    pyrch.manual_seed(0)
    m = LAYERS[name][0]().eval()
    shape = LAYERS[name][1]
    x = np.random.randn(*shape).astype(np.float32)
    proto, data = _export(m, x, dynamic_axes={"x": {0: "batch"}})
    onnx.checker.check_model(proto)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    back = pyrch.onnx.load(data)
    x3 = np.random.randn(3, *shape[1:]).astype(np.float32)
    want = _run(m, x3)
    np.testing.assert_allclose(sess.run(None, {"x": x3})[0], want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_run(back, x3), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list(LAYERS))
def test_layers_import_torch(name, torch_or_skip):
    torch = torch_or_skip
    import warnings
    torch.manual_seed(0)
    tm = layers(torch)[name][0]().eval()
    x = np.random.randn(*LAYERS[name][1]).astype(np.float32)
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(tm, (torch.from_numpy(x),), f, dynamo=False, opset_version=17,
                          input_names=["x"])
    with torch.no_grad():
        want = tm(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(_run(pyrch.onnx.load(f.getvalue()), x), want, rtol=1e-4, atol=1e-5)
