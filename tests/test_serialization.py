"""pyrch.save / pyrch.load: round trips, safetensors interop, and hostile files."""
import io
import json
import random
import struct
import time

import numpy as np
import pytest

import pyrch
from pyrch.serialization import CheckpointError


def _roundtrip(obj, **kw):
    buf = io.BytesIO()
    pyrch.save(obj, buf)
    buf.seek(0)
    return pyrch.load(buf, **kw)


def _same(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, pyrch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


DTYPES = ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_tensor_round_trip_every_dtype(dtype):
    a = (np.arange(12).reshape(3, 4) % 5).astype(dtype)
    for t in (pyrch.tensor(a), pyrch.tensor(a[0, 0]), pyrch.tensor(a[:0])):
        _same(_roundtrip(t), t)


def test_nested_structure_round_trip(tmp_path):
    obj = {"model": {"fc.weight": pyrch.randn(3, 2), "fc.bias": pyrch.zeros(3)},
           "epoch": 7, "lr": 0.125, "name": "run-1", "done": False, "none": None,
           "hist": [1.5, float("inf"), float("-inf"), float("nan")],
           "shape": (2, (3, [4])), 5: "int key", 2.5: "float key", None: [], "empty": {},
           "dtype": pyrch.float16, "big": 2 ** 70}
    _same(_roundtrip(obj), obj)
    path = tmp_path / "ckpt.pt"
    pyrch.save(obj, path)
    _same(pyrch.load(str(path)), obj)


def test_requires_grad_and_shared_tensors_kept():
    w = pyrch.randn(2, 2, requires_grad=True)
    out = _roundtrip({"a": w, "b": w, "c": [w]})
    assert out["a"].requires_grad and out["a"] is out["b"] is out["c"][0]
    np.testing.assert_array_equal(out["a"].detach().numpy(), w.detach().numpy())


def test_loaded_tensors_are_writable():
    t = _roundtrip({"x": pyrch.ones(3)})["x"]
    t.add_(1)
    assert t.tolist() == [2.0, 2.0, 2.0]


def test_unsupported_objects_raise_type_error():
    with pytest.raises(TypeError, match="never pickles"):
        _roundtrip({"f": lambda: 0})
    with pytest.raises(TypeError, match="dict keys"):
        _roundtrip({(1, 2): 3})


def test_optimizer_state_dict_round_trip():
    w = pyrch.randn(4, 3, requires_grad=True)
    b = pyrch.randn(3, requires_grad=True)
    opt = pyrch.optim.Adam([{"params": [w]}, {"params": [b], "lr": 0.1}], amsgrad=True)
    for _ in range(3):
        opt.zero_grad()
        ((w * w).sum() + (b * 3).sum()).backward()
        opt.step()
    sd = opt.state_dict()
    back = _roundtrip(sd)
    _same(back, sd)
    assert isinstance(next(iter(back["state"])), int)
    opt2 = pyrch.optim.Adam([{"params": [w]}, {"params": [b], "lr": 0.1}], amsgrad=True)
    opt2.load_state_dict(back)
    assert opt2.param_groups[1]["lr"] == 0.1 and opt2.state[w]["step"].item() == 3.0


def test_flat_state_dict_opens_with_safetensors(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    sd = {"layer.weight": pyrch.randn(3, 4), "layer.bias": pyrch.randn(4).to(pyrch.float64),
          "idx": pyrch.arange(5), "mask": pyrch.tensor([True, False]), "scalar": pyrch.tensor(2.5)}
    path = str(tmp_path / "model.safetensors")
    pyrch.save(sd, path)
    loaded = safetensors_numpy.load_file(path)
    assert sorted(loaded) == sorted(sd)
    for k, v in sd.items():
        np.testing.assert_array_equal(loaded[k], v.numpy())
        assert loaded[k].dtype == v.numpy().dtype
    _same(pyrch.load(path), sd)


def test_file_from_safetensors_torch_loads(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    ref = {"a": torch.randn(2, 3), "b": torch.arange(4, dtype=torch.int16),
           "c": torch.tensor([True, False, True]), "d": torch.randn(5, dtype=torch.float64),
           "e": torch.tensor([1.5, -2.25]).to(torch.bfloat16), "f": torch.zeros(0, 3)}
    path = str(tmp_path / "ref.safetensors")
    st.save_file(ref, path, metadata={"format": "pt"})
    out = pyrch.load(path)
    assert sorted(out) == sorted(ref)
    for k, v in ref.items():
        want = v.float().numpy() if v.dtype == torch.bfloat16 else v.numpy()
        np.testing.assert_array_equal(out[k].numpy(), want)
        assert out[k].numpy().dtype == want.dtype
    # and safetensors.torch reads what pyrch writes
    pyrch.save({"w": pyrch.randn(2, 2)}, path)
    assert st.load_file(path)["w"].shape == (2, 2)


def test_map_location_variants():
    sd = {"w": pyrch.ones(2)}
    for loc in ("cpu", pyrch.device("cpu"), {"cpu": "cpu"}):
        assert _roundtrip(sd, map_location=loc)["w"].device == pyrch.device("cpu")
    seen = []
    out = _roundtrip(sd, map_location=lambda t, where: seen.append(where) or t)
    assert seen == ["cpu"] and out["w"].tolist() == [1.0, 1.0]


# -- hostile files --------------------------------------------------------------

def _blob(header, data=b"", pad=True):
    text = json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def _load_bytes(b):
    return pyrch.load(io.BytesIO(b))


@pytest.mark.parametrize("blob,match", [
    (b"", "too short"),
    (b"\x01\x02", "too short"),
    (struct.pack("<Q", 2 ** 63), "limit"),
    (struct.pack("<Q", 1000) + b"{}", "truncated"),
    (struct.pack("<Q", 4) + b"\xff\xfe{}", "UTF-8 JSON"),
    (struct.pack("<Q", 2) + b"[]", "JSON object"),
    (_blob({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4), "outside"),
    (_blob({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8), "needs 12"),
    (_blob({"x": {"dtype": "Q9", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8), "dtype"),
    (_blob({"x": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8), "shape"),
    (_blob({"x": {"dtype": "F32", "shape": [2 ** 40, 2 ** 40], "data_offsets": [0, 8]}},
           b"\0" * 8), "needs"),
    (_blob({"x": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, b"\0" * 8), "outside"),
    (_blob({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12),
     "overlapping"),
    (_blob({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "extra": 1}},
           b"\0" * 4), "exactly"),
    (_blob({"__metadata__": {"pyrch.tree": "{\"tensor\": \"nope\"}"}}), "does not list"),
    (_blob({"__metadata__": {"pyrch.tree": "[" * 100000}}), "not valid JSON"),
    (_blob({"__metadata__": {"pyrch.tree": "{\"list\":[" * 300 + "]}" * 300}}),
     "nested deeper"),
    (_blob({"__metadata__": {"pyrch.tree": "{\"pickle\": \"os.system\"}"}}), "unexpected"),
    (_blob({"__metadata__": {"pyrch.tree": 5}}), "object of strings"),
], ids=[f"case{i}" for i in range(19)])
def test_malformed_files_raise_checkpoint_error(blob, match):
    with pytest.raises(CheckpointError, match=match):
        _load_bytes(blob)


def test_fuzzed_files_never_crash_or_misbehave():
    good = io.BytesIO()
    pyrch.save({"w": pyrch.randn(4, 3), "b": pyrch.arange(5), "m": pyrch.tensor([True]),
                "step": 3, "opt": {0: {"exp_avg": pyrch.ones(2)}, "betas": (0.9, 0.99)}}, good)
    good = good.getvalue()
    n_header = struct.unpack("<Q", good[:8])[0]
    rng = random.Random(1234)
    ok = bad = 0
    start = time.perf_counter()
    for i in range(3000):
        b = bytearray(good)
        kind = i % 4
        if kind == 0:                      # byte flips anywhere
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif kind == 1:                    # truncation
            b = b[:rng.randrange(len(b))]
        elif kind == 2:                    # edits inside the header text
            pos = 8 + rng.randrange(n_header)
            b[pos] = ord(rng.choice('0123456789[]{}",:-eE.ntfx '))
        else:                              # header length field edits
            b[:8] = struct.pack("<Q", max(0, n_header + rng.randint(-16, 16)))
        try:
            out = _load_bytes(bytes(b))
        except CheckpointError:
            bad += 1
        else:
            ok += 1
            assert isinstance(out, dict)
    assert bad > 1000 and ok + bad == 3000
    assert time.perf_counter() - start < 5.0
