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
    if _mods is None:
        _load()
    state, C = _mods
    if state.hooks or C.lib() is None or C.stale():
        return False
    first = tensors[0]._data
    if type(first) is not np.ndarray:
        return False
    dt, shape = first.dtype, first.shape
    if dt not in _FLOAT:
        return False
    for t in tensors:
        d = t._data
        if type(d) is not np.ndarray or d.dtype != dt or d.shape != shape:
            return False
        f = d.flags
        if not f.c_contiguous or not f.writeable:
            return False
    return True


def bump(step):
    """step += 1 straight on a CPU 0-dim count when nothing observes ops (what
    `step.add_(1)` would do, less a dispatch per parameter per step); False when
    the op path must run."""
    if _mods is None:
        _load()
    d = step._data
    if _mods[0].hooks or type(d) is not np.ndarray or d.ndim or not d.flags.writeable:
        return False
    d += 1
    step._vc[0] += 1
    return True


_mods = None


def _load():
    global _mods
    from .._dispatch import state
    from .. import _C
    _mods = (state, _C)


def run(key, build, inputs, scalars, targets):
    """Run program `key` (made by `build(Program) -> output ids` on first use).

    inputs: tensors that `usable` accepted; scalars: Python floats, 0-dim tensors or arrays
    (operands after the inputs, as 0-dim arrays); targets: the tensors the outputs
    are written into, in place (their version counters are bumped as an in-place
    op's are).
    """
    first = inputs[0]._data
    dt = first.dtype
    k = _kernels.get((key, dt))
    if k is None:
        from .._C import fused
        prog = Program(len(inputs) + len(scalars))
        outs = build(prog)
        k = _kernels[(key, dt)] = fused.compile_group(prog.n_in, prog.steps, list(outs),
                                                      dt.name)
    arrays = [t._data for t in inputs]
    sdts = []
    for s in scalars:
        if isinstance(s, (int, float)):
            a = _consts.get((s, dt))
            if a is None:
                if len(_consts) > 512:
                    _consts.clear()
                a = _consts[(s, dt)] = np.asarray(s, dtype=dt)
                a.flags.writeable = False
        else:
            a = s if type(s) is np.ndarray else s._data
            if type(a) is not np.ndarray or a.ndim != 0 or a.dtype not in _FLOAT:
                raise TypeError("fused update scalars are Python numbers or 0-dim float tensors")
        arrays.append(a)
        sdts.append(a.dtype.num)
    outs = [t._data for t in targets]
    # every tensor operand is C-contiguous with the first's shape and dtype (`usable`) and
    # the rest are 0-dim, so this names the layout without walking every array's strides
    layout = k.prepare_as(("contig", first.shape, dt.num, tuple(sdts), len(outs)), arrays, outs)
    k.run(layout, arrays, outs)
    for t in targets:
        t._vc[0] += 1


# Python-number hyperparameters as read-only 0-dim arrays of the update's dtype, made
# once per value rather than on every parameter of every step
_consts = {}
