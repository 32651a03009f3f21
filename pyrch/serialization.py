"""pyrch.save / pyrch.load: tensors and nested containers in the safetensors layout.

A file is: 8 bytes (little-endian u64) giving the header length N, N bytes of
JSON header, then the raw little-endian tensor bytes. The header maps each
tensor name to {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}
(offsets relative to the end of the header) and may hold "__metadata__", a
{str: str} dict. That is exactly what the `safetensors` package reads and
writes, so a flat state dict saved here opens there and vice versa.

Nested objects (an optimizer's state dict: dicts with int keys, lists, tuples,
numbers, strings, None) are kept as a JSON description in
`__metadata__["pyrch.tree"]` whose leaves name tensors by dotted key. No
pickle is used, so loading a file never runs code; every header field is
checked against the file before any buffer is touched, and a malformed file
raises `CheckpointError`.

>>> import io, pyrch
>>> buf = io.BytesIO()
>>> pyrch.save({"w": pyrch.ones(2), "step": 3}, buf)
>>> _ = buf.seek(0)
>>> pyrch.load(buf)
{'w': tensor([1., 1.]), 'step': 3}
"""
import io
import json
import math
import os

import numpy as np

from ._backend import CPU, device as _device
from ._tensor import Tensor

__all__ = ["save", "load", "CheckpointError"]

HEADER_LIMIT = 100 * 1024 * 1024     # same cap as the safetensors package
_TREE_KEY = "pyrch.tree"
_MAX_DEPTH = 200                     # nesting limit for the tree description

# safetensors dtype name -> (numpy dtype as stored, numpy dtype pyrch loads it as)
_DTYPES = {
    "F64": ("<f8", "float64"), "F32": ("<f4", "float32"), "F16": ("<f2", "float16"),
    "I64": ("<i8", "int64"), "I32": ("<i4", "int32"), "I16": ("<i2", "int16"),
    "I8": ("i1", "int8"), "U8": ("u1", "uint8"), "BOOL": ("u1", "bool"),
    # pyrch has no bfloat16 / wide unsigned ints: widen exactly on load
    "BF16": ("<u2", "float32"), "U16": ("<u2", "int64"), "U32": ("<u4", "int64"),
}
_NAMES = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64",
          "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}


class CheckpointError(RuntimeError):
    """A checkpoint file is truncated, corrupted or not a pyrch/safetensors file."""


# -- save --------------------------------------------------------------------------

def save(obj, f, **kwargs):
    """Write a tensor, or dicts/lists/tuples of tensors and plain values, to `f` (path or file).

    Tensors that are the same object are stored once and come back as one
    object. Other Python types raise TypeError (pyrch never pickles).
    """
    tensors = {}       # key -> host array (little-endian, contiguous)
    seen = {}          # id(tensor) -> key
    tree = _encode(obj, "", tensors, seen, 0)
    meta = None
    if not _is_flat_state_dict(obj):
        meta = {_TREE_KEY: json.dumps(tree, separators=(",", ":"))}
    blob = _serialize(tensors, meta)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            fh.write(blob)
    else:
        f.write(blob)


def _is_flat_state_dict(obj):
    """A dict of str -> distinct plain CPU tensors needs no tree: the names say it all."""
    if not isinstance(obj, dict) or type(obj) is not dict or not obj:
        return False
    ids = set()
    for k, v in obj.items():
        if not isinstance(k, str) or not isinstance(v, Tensor) or id(v) in ids \
                or k == "__metadata__" or v.requires_grad or v.device is not CPU:
            return False
        ids.add(id(v))
    return True


def _unique_key(base, tensors):
    key = base or "tensor"
    n = 1
    while key in tensors or key == "__metadata__":
        key = f"{base}~{n}"
        n += 1
    return key


def _encode(obj, path, tensors, seen, depth):
    """A JSON description of `obj`; tensors are moved into `tensors` under dotted keys."""
    if depth > _MAX_DEPTH:
        raise ValueError(f"pyrch.save: object is nested deeper than {_MAX_DEPTH} levels")
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        obj = float(obj)
        return obj if math.isfinite(obj) else {"float": repr(obj)}
    if isinstance(obj, Tensor):
        hit = seen.get(id(obj))
        if hit is not None:
            return {"tensor": hit}
        key = _unique_key(path, tensors)
        seen[id(obj)] = key
        arr = obj.detach().cpu().numpy()
        little = arr.dtype.newbyteorder("<") if arr.dtype.itemsize > 1 else arr.dtype
        tensors[key] = arr.astype(little, order="C", copy=False)   # (keeps 0-dim shapes)
        node = {"tensor": key}
        if obj.requires_grad:
            node["requires_grad"] = True
        if obj.device is not CPU:
            node["device"] = str(obj.device)
        return node
    sub = (path + ".") if path else ""
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not (k is None or isinstance(k, (str, int, float, bool))):
                raise TypeError(f"pyrch.save: dict keys must be str, int, float, bool or None, "
                                f"got {type(k).__name__}")
            items.append([_encode(k, "", {}, {}, depth + 1),
                          _encode(v, sub + str(k), tensors, seen, depth + 1)])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(v, sub + str(i), tensors, seen, depth + 1) for i, v in enumerate(obj)]}
    from ._dtype import dtype as _dtype_cls
    if isinstance(obj, _dtype_cls):
        return {"dtype": obj.name}
    if isinstance(obj, _device):
        return {"device": str(obj)}
    raise TypeError(f"pyrch.save cannot store an object of type {type(obj).__name__}: only "
                    "tensors, dicts, lists, tuples, str, int, float, bool and None are saved "
                    "(pyrch never pickles)")


def _serialize(tensors, meta):
    # Buffers go largest itemsize first, so each is aligned (the header is padded to 8);
    # header entries keep the caller's order, which is the order load() returns.
    order = sorted(tensors, key=lambda k: -tensors[k].dtype.itemsize)
    offsets = {}
    pos = 0
    for k in order:
        offsets[k] = [pos, pos + tensors[k].nbytes]
        pos += tensors[k].nbytes
    header = {}
    for k, a in tensors.items():
        name = _NAMES.get(a.dtype.name if a.dtype.kind != "b" else "bool")
        if name is None:
            raise TypeError(f"pyrch.save: unsupported dtype {a.dtype}")
        header[k] = {"dtype": name, "shape": list(a.shape), "data_offsets": offsets[k]}
    if meta:
        header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    parts = [len(text).to_bytes(8, "little"), text]
    parts.extend(tensors[k].tobytes() for k in order)
    return b"".join(parts)


# -- load --------------------------------------------------------------------------

def load(f, map_location=None, weights_only=True, **kwargs):
    """Read what `pyrch.save` (or `safetensors` save_file) wrote; never executes code.

    `map_location` may be a device, a string, a {saved: target} dict or a
    callable(tensor, saved_location). `weights_only` is accepted for torch
    compatibility: pyrch files hold only data, so every load is weights-only.
    """
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            return _load_stream(fh, os.fstat(fh.fileno()).st_size, map_location)
    if isinstance(f, (bytes, bytearray, memoryview)):
        return _load_stream(io.BytesIO(f), len(f), map_location)
    size = None
    if hasattr(f, "seek") and hasattr(f, "tell"):
        try:
            here = f.tell()
            size = f.seek(0, io.SEEK_END) - here
            f.seek(here)
        except (OSError, ValueError):
            size = None
    if size is None:
        data = f.read()
        return _load_stream(io.BytesIO(data), len(data), map_location)
    return _load_stream(f, size, map_location)


def _read_exact(fh, n, what):
    buf = bytearray(n)
    got = fh.readinto(buf) if hasattr(fh, "readinto") else None
    if got is None:
        data = fh.read(n)
        got = len(data)
        buf[:got] = data
    if got != n:
        raise CheckpointError(f"checkpoint is truncated: expected {n} bytes of {what}, got {got}")
    return buf


def _load_stream(fh, size, map_location):
    if size < 8:
        raise CheckpointError(f"checkpoint is truncated: {size} bytes is too short for a header "
                              "(a safetensors file starts with an 8-byte header length)")
    n = int.from_bytes(_read_exact(fh, 8, "header length"), "little")
    if n > HEADER_LIMIT:
        raise CheckpointError(f"checkpoint header claims {n} bytes, above the {HEADER_LIMIT} byte "
                              "limit: the file is corrupted or not a safetensors file")
    if n > size - 8:
        raise CheckpointError(f"checkpoint header claims {n} bytes but the file has only "
                              f"{size - 8} after the length: the file is truncated or corrupted")
    raw = _read_exact(fh, n, "header")
    entries, meta = _parse_header(raw, size - 8 - n)
    data_len = max((e[3] for e in entries.values()), default=0)
    data = _read_exact(fh, data_len, "tensor data")
    arrays = {k: _array(data, e) for k, e in entries.items()}
    tree = meta.get(_TREE_KEY) if meta else None
    if tree is None:
        return {k: _to_tensor(arrays[k], None, map_location) for k in entries}
    try:
        desc = json.loads(tree)
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"checkpoint structure (__metadata__[{_TREE_KEY!r}]) is not valid "
                              f"JSON: {e}") from None
    return _Decoder(arrays, map_location).decode(desc)


def _parse_header(raw, data_size):
    """Validate the JSON header; return {name: (stored_dtype, load_dtype, begin, end, shape)}."""
    try:
        header = json.loads(bytes(raw).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(f"checkpoint header is not valid UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise CheckpointError("checkpoint header must be a JSON object, got "
                              f"{type(header).__name__}")
    meta = header.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict)
                                 and all(isinstance(v, str) for v in meta.values())):
        raise CheckpointError("checkpoint __metadata__ must be an object of strings")
    entries = {}
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise CheckpointError(f"tensor {name!r}: header entry must have exactly dtype, shape "
                                  f"and data_offsets, got {info!r:.200}")
        dt = info["dtype"]
        if not isinstance(dt, str) or dt not in _DTYPES:
            raise CheckpointError(f"tensor {name!r}: unknown or unsupported dtype {dt!r:.40} "
                                  f"(pyrch reads {', '.join(_DTYPES)})")
        shape, offs = info["shape"], info["data_offsets"]
        if not isinstance(shape, list) or len(shape) > 64 or not all(
                type(s) is int and s >= 0 for s in shape):
            raise CheckpointError(f"tensor {name!r}: shape must be a list of non-negative ints, "
                                  f"got {shape!r:.200}")
        if not isinstance(offs, list) or len(offs) != 2 or not all(type(o) is int for o in offs):
            raise CheckpointError(f"tensor {name!r}: data_offsets must be two ints, got {offs!r:.200}")
        begin, end = offs
        if not 0 <= begin <= end <= data_size:
            raise CheckpointError(f"tensor {name!r}: data_offsets [{begin}, {end}] fall outside the "
                                  f"{data_size} bytes of data in the file (truncated or corrupted)")
        stored = np.dtype(_DTYPES[dt][0])
        count = math.prod(shape)
        if count * stored.itemsize != end - begin:
            raise CheckpointError(f"tensor {name!r}: shape {shape} of {dt} needs "
                                  f"{count * stored.itemsize} bytes but data_offsets span "
                                  f"{end - begin}")
        entries[name] = (stored, _DTYPES[dt][1], begin, end, tuple(shape), dt)
    spans = sorted((e[2], e[3], k) for k, e in entries.items() if e[3] > e[2])
    for (b0, e0, k0), (b1, e1, k1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise CheckpointError(f"tensors {k0!r} and {k1!r} have overlapping data "
                                  f"([{b0}, {e0}] and [{b1}, {e1}])")
    return entries, meta


def _array(data, entry):
    stored, target, begin, end, shape, name = entry
    a = np.frombuffer(data, dtype=stored, count=(end - begin) // stored.itemsize, offset=begin) \
        if end > begin else np.zeros(0, stored)
    if name == "BF16":                 # bfloat16 is the top half of a float32
        a = (a.astype("<u4") << 16).view("<f4")
    elif name == "BOOL":
        a = a != 0                     # any non-zero byte is True; never a malformed bool
    a = a.reshape(shape)
    out = np.dtype(target)
    if a.dtype != out or (begin % max(out.itemsize, 1)):
        a = a.astype(out)              # widen, go native-endian, or realign (copies)
    return a


def _to_tensor(arr, node, map_location):
    t = Tensor._wrap(arr)
    saved = node.get("device", "cpu") if node else "cpu"
    target = saved
    if map_location is not None:
        if callable(map_location) and not isinstance(map_location, (str, _device)):
            r = map_location(t, saved)
            t = r if isinstance(r, Tensor) else t
            target = None
        elif isinstance(map_location, dict):
            target = map_location.get(saved, saved)
        else:
            target = map_location
    if target is not None and _device(target) is not CPU:
        t = t.to(target)
    if node and node.get("requires_grad") and t.is_floating_point():
        t.requires_grad_(True)
    return t


class _Decoder:
    """Rebuild the saved object from its JSON description; reject anything unexpected."""

    def __init__(self, arrays, map_location):
        self.arrays, self.map_location, self.made = arrays, map_location, {}

    def decode(self, node, depth=0):
        if depth > _MAX_DEPTH:
            raise CheckpointError(f"checkpoint structure is nested deeper than {_MAX_DEPTH} levels")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or len(node) == 0:
            raise CheckpointError(f"checkpoint structure has an unexpected entry {node!r:.100}")
        if "tensor" in node:
            return self._tensor(node)
        if len(node) != 1:
            raise CheckpointError(f"checkpoint structure has an unexpected entry {node!r:.100}")
        (kind, val), = node.items()
        if kind in ("list", "tuple") and isinstance(val, list):
            items = [self.decode(v, depth + 1) for v in val]
            return items if kind == "list" else tuple(items)
        if kind == "dict" and isinstance(val, list):
            out = {}
            for pair in val:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise CheckpointError("checkpoint structure: a dict item is not a [key, value] pair")
                key = self.decode(pair[0], depth + 1)
                if not (key is None or isinstance(key, (str, int, float, bool))):
                    raise CheckpointError(f"checkpoint structure: unhashable dict key {key!r:.100}")
                out[key] = self.decode(pair[1], depth + 1)
            return out
        if kind == "float" and val in ("inf", "-inf", "nan"):
            return float(val)
        if kind == "dtype" and isinstance(val, str):
            from ._dtype import as_dtype
            try:
                return as_dtype(val)
            except (TypeError, ValueError, KeyError):
                raise CheckpointError(f"checkpoint structure names an unknown dtype {val!r:.40}") from None
        if kind == "device" and isinstance(val, str):
            try:
                return _device(val)
            except (RuntimeError, ValueError):
                raise CheckpointError(f"checkpoint structure names a bad device {val!r:.40}") from None
        raise CheckpointError(f"checkpoint structure has an unexpected entry {node!r:.100}")

    def _tensor(self, node):
        key = node["tensor"]
        if not isinstance(key, str) or not set(node) <= {"tensor", "requires_grad", "device"}:
            raise CheckpointError(f"checkpoint structure has a bad tensor entry {node!r:.100}")
        if key in self.made:
            return self.made[key]
        if key not in self.arrays:
            raise CheckpointError(f"checkpoint structure refers to tensor {key!r:.100}, which the "
                                  "header does not list")
        dev = node.get("device", "cpu")
        if not isinstance(dev, str) or not isinstance(node.get("requires_grad", False), bool):
            raise CheckpointError(f"checkpoint structure has a bad tensor entry {node!r:.100}")
        try:
            _device(dev)
        except (RuntimeError, ValueError):
            raise CheckpointError(f"checkpoint structure names a bad device {dev!r:.40}") from None
        t = _to_tensor(self.arrays[key], node, self.map_location)
        self.made[key] = t
        return t
