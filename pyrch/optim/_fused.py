"""Eager optimizer updates as one C program per parameter.

Optimizers write their update with pyrch ops, so a traced training step
records those ops and fuses them. Run eagerly, the same ops are separate
numpy passes with a temporary each: SGD with momentum reads and writes a
large weight four times (1.3 ms for the 535k weights of the benchmark MLP,
against 0.3 ms for torch's foreach kernels).

Here an update is spelled as the *same* op sequence, in the same order, as
a small program for the C VM that traced steps use (`pyrch._C.fused`), and
runs in one pass per parameter. Hyperparameters enter as 0-dim operands in
the parameter's dtype, which is how numpy rounds a Python float against a
float32 array, so a new learning rate needs no new program. Every op in
these programs is exactly rounded (add, sub, mul, div, sqrt, neg, maximum),
so float64 results are bitwise those of the op path.

The op path still runs whenever something observes ops (a tracer, the
profiler, anomaly mode), when the extension is missing or stale, or when
the operands are not plain contiguous numpy arrays of one float dtype.

>>> import pyrch
>>> w = pyrch.tensor([1.0, 2.0], requires_grad=True)
>>> opt = pyrch.optim.SGD([w], lr=0.5, momentum=0.9)
>>> for _ in range(2):
...     opt.zero_grad(); (w * w).sum().backward(); opt.step()
>>> w
tensor([-0.9000, -1.8000], requires_grad=True)
"""
import numpy as np

_FLOAT = (np.dtype(np.float32), np.dtype(np.float64))
_kernels = {}


class Program:
    """Steps over value ids: ids 0..n_in-1 are inputs, each step defines the next id."""

    def __init__(self, n_in):
        self.n_in, self.steps = n_in, []

    def __call__(self, op, *operands):
        self.steps.append((op, operands, {}))
        return self.n_in + len(self.steps) - 1


def usable(tensors):
    """True when the eager C path may run the update over these tensors."""
    from .._dispatch import state
    if state.hooks:
        return False
    from .. import _C
    if _C.lib() is None or _C.stale():
        return False
    first = tensors[0]._data
    if type(first) is not np.ndarray or first.dtype not in _FLOAT:
        return False
    for t in tensors:
        d = t._data
        if type(d) is not np.ndarray or d.dtype != first.dtype or d.shape != first.shape \
                or not d.flags.c_contiguous or not d.flags.writeable:
            return False
    return True


def run(key, build, inputs, scalars, targets):
    """Run program `key` (made by `build(Program) -> output ids` on first use).

    inputs: tensors; scalars: Python floats or 0-dim tensors (operands after the
    inputs, as 0-dim arrays); targets: the tensors the outputs are written
    into, in place (their version counters are bumped as an in-place op's are).
    """
    dt = inputs[0]._data.dtype
    k = _kernels.get((key, dt))
    if k is None:
        from .._C import fused
        prog = Program(len(inputs) + len(scalars))
        outs = build(prog)
        k = _kernels[(key, dt)] = fused.compile_group(prog.n_in, prog.steps, list(outs),
                                                      dt.name)
    arrays = [t._data for t in inputs]
    for s in scalars:
        if isinstance(s, (int, float)):
            arrays.append(np.asarray(s, dtype=dt))
        else:
            a = s._data
            if type(a) is not np.ndarray or a.ndim != 0 or a.dtype not in _FLOAT:
                raise TypeError("fused update scalars are Python numbers or 0-dim float tensors")
            arrays.append(a)
    k(arrays, [t._data for t in targets])
    for t in targets:
        t._vc[0] += 1
