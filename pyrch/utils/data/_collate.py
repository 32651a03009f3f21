"""default_collate / default_convert: turn a list of samples into a batch.

Tensors and numpy arrays are stacked along a new first dimension; Python
floats become a float64 tensor and ints an int64 one (as in torch); strings
stay a list; dicts, tuples, lists and namedtuples are collated field by field.

>>> import pyrch
>>> from pyrch.utils.data import default_collate
>>> default_collate([(1, 2.0, "a"), (3, 4.0, "b")])
[tensor([1, 3]), tensor([2., 4.], dtype=pyrch.float64), ('a', 'b')]
"""
import collections.abc
import numbers

import numpy as np

__all__ = ["default_collate", "default_convert"]

_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        "found {}")


def _stack(tensors):
    import pyrch
    return pyrch.stack(tensors, 0)


def _is_str_array(a):
    return a.dtype.kind in "SUaO"


def default_collate(batch):
    """Collate a list of samples into a batch (see the module docstring)."""
    import pyrch
    elem = batch[0]
    if isinstance(elem, pyrch.Tensor):
        return _stack(batch)
    if isinstance(elem, np.ndarray):
        if _is_str_array(elem):
            raise TypeError(_ERR.format(elem.dtype))
        return _stack([pyrch.as_tensor(np.asarray(b)) for b in batch])
    if isinstance(elem, np.generic) and not isinstance(elem, (np.str_, np.bytes_)):
        return pyrch.as_tensor(np.array(batch))
    if isinstance(elem, bool):
        return pyrch.tensor(batch)
    if isinstance(elem, float):
        return pyrch.tensor(batch, dtype=pyrch.float64)
    if isinstance(elem, numbers.Integral):
        return pyrch.tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        fields = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(fields)
        except TypeError:
            return fields
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):       # namedtuple
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(s) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return columns          # NOTE: torch returns a list for tuples too
        try:
            return type(elem)(columns)
        except TypeError:
            return columns
    raise TypeError(_ERR.format(type(elem)))


def default_convert(data):
    """Convert numpy arrays (and containers of them) to tensors, without batching."""
    import pyrch
    if isinstance(data, pyrch.Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if _is_str_array(data) else pyrch.as_tensor(data)
    if isinstance(data, np.generic) and not isinstance(data, (np.str_, np.bytes_)):
        return pyrch.as_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        out = {k: default_convert(v) for k, v in data.items()}
        try:
            return type(data)(out)
        except TypeError:
            return out
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
