"""Tensor repr in PyTorch's format: `tensor([1., 2.], grad_fn=<MulBackward0>)`."""
import numpy as np

from ._dtype import get_default_dtype, int64, bool_


def tensor_repr(t):
    arr = t._host()
    with np.printoptions(precision=4, threshold=1000, edgeitems=3, linewidth=80, suppress=False):
        body = np.array2string(arr, separator=", ", prefix="tensor(")
    extras = []
    dt = t.dtype
    if dt is not get_default_dtype() and dt is not int64 and dt is not bool_ or arr.size == 0:
        if arr.size == 0 or dt is not get_default_dtype():
            extras.append(f"dtype={dt}")
    if arr.size == 0 and arr.ndim != 1:
        extras.append(f"size={tuple(arr.shape)}")
    if t.is_cuda:
        extras.insert(0, f"device='{t.device}'")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t._rg:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"
