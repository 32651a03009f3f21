"""The single choke point: every tensor operation runs through `dispatch`.

dispatch(op, args, attrs) normalises inputs (wraps scalars, promotes dtypes,
checks devices), runs `op.forward` on the arrays, attaches an autograd node
when grad mode is on and an input requires grad, and notifies the tracer (and
the debug log and profiler) when one is listening. The common case -- no
tracer, no debugging, inputs already of one dtype -- is kept to a few
attribute reads; the listeners sit behind one flag, `state.hooks`.
"""
import numpy as np

from . import _config
from ._dtype import NP2DT, _TABLE, _default, bool_, result_type_of, scalar_dtype, can_cast

# NOTE: like PyTorch, 1/0 gives inf without a warning. numpy only stays quiet
# if its error state says so; a per-call errstate costs more than the add it
# guards, so pyrch sets it once, at import, for the process.
np.seterr(divide="ignore", invalid="ignore", over="ignore", under="ignore")

Tensor = None   # set by _tensor.py (import cycle)
ndarray = np.ndarray


class _State:
    __slots__ = ("grad_enabled", "hooks", "tracer", "profiler", "anomaly", "inference")

    def __init__(self):
        self.grad_enabled = True
        self.hooks = False
        self.tracer = None
        self.profiler = None
        self.anomaly = False
        self.inference = False


state = _State()

from .autograd.node import Node  # noqa: E402  (autograd imports `state` above)


def refresh_hooks():
    """Recompute the one flag that sends dispatch down its slow path."""
    state.hooks = bool(state.tracer is not None or state.profiler is not None
                       or state.anomaly or _config.flags.debug >= 3)


class ShapeError(ValueError):
    """An op got shapes it cannot work with; the message names op and shapes."""


def _is_cuda(arr):
    return type(arr) is not np.ndarray


def _xp_for(arrays):
    from ._backend import cupy, device_of
    arrays = [a for a in arrays if hasattr(a, "shape") and not isinstance(a, np.generic)]
    devs = {str(device_of(a)) for a in arrays if _is_cuda(a) or a.ndim}
    if len(devs) > 1:
        a, b = sorted(devs, reverse=True)[:2]
        raise RuntimeError("Expected all tensors to be on the same device, but found at least "
                           f"two devices, {a} and {b}!")
    if any(_is_cuda(a) for a in arrays):
        return cupy()
    return np


def _describe(args):
    parts = []
    for a in args:
        d = getattr(a, "_data", None)
        if d is not None:
            parts.append(f"{NP2DT[d.dtype].name}{list(d.shape)}")
        else:
            parts.append(repr(a))
    return ", ".join(parts)


def _fail(op, args, arrays, attrs, err):
    """Turn an array-level failure into a pyrch error naming the op and shapes."""
    if isinstance(err, (ShapeError, RuntimeError, TypeError, IndexError)) and "pyrch" in type(err).__module__:
        raise err
    from .ops.registry import Meta, broadcast_shapes
    if op.kind == "elementwise":
        shapes = [np.shape(a) for a in arrays if hasattr(a, "shape")]
        try:
            broadcast_shapes(*shapes)
        except ValueError as e:
            raise RuntimeError(str(e)) from None
    if op.infer_fn is not None:
        metas = [Meta(a.shape, NP2DT[a.dtype]) if hasattr(a, "dtype") and hasattr(a, "shape")
                 else a for a in arrays]
        try:
            op.infer_fn(*metas, **(attrs or {}))
        except (ShapeError, ValueError, IndexError, TypeError, RuntimeError) as e:
            raise type(e)(str(e)) from None
    if isinstance(err, (IndexError, TypeError, RuntimeError)) and not isinstance(err, np.exceptions.AxisError):
        msg = f"{op.name}({_describe(args)}): {err}"
        try:
            again = type(err)(msg)
        except Exception:  # noqa: BLE001 - a type that takes other arguments (cupy's CUDA errors)
            again = RuntimeError(msg)
        raise again from None
    if isinstance(err, np.exceptions.AxisError):
        raise IndexError(f"{op.name}: Dimension out of range ({err})") from None
    raise RuntimeError(f"{op.name}({_describe(args)}) failed: {err}") from None


def _promote(op, args):
    """Compute dtype by torch's three-priority rule (tensors, 0-dim tensors, scalars)."""
    T = Tensor
    dims = zero = wrapped = None
    pos = op.promote_positions
    for i, a in enumerate(args):
        if pos is not None and i not in pos:
            continue
        if isinstance(a, T):
            t = NP2DT[a._data.dtype]
            if a._data.ndim:
                dims = t if dims is None else _TABLE[(dims, t)]
            else:
                zero = t if zero is None else _TABLE[(zero, t)]
        elif a is not None:
            t = scalar_dtype(a)
            wrapped = t if wrapped is None else _TABLE[(wrapped, t)]
    cdt = result_type_of(dims, zero, wrapped)
    if op.dtype == "float" and cdt is not None and cdt._cat != 2:
        cdt = _default.float
    return cdt


def _cast_inputs(op, args, arrays, cdt):
    npdt = cdt.np
    pos = op.promote_positions
    for i, x in enumerate(arrays):
        if x is None or (pos is not None and i not in pos):
            continue
        if isinstance(x, np.generic) or not hasattr(x, "dtype"):
            try:
                arrays[i] = npdt.type(x)
            except OverflowError:
                # NOTE: torch wraps an out-of-range Python int (uint8 + 300 -> 45); numpy refuses
                arrays[i] = np.array(x, dtype=np.int64).astype(npdt)
        elif x.dtype != npdt:
            arrays[i] = x.astype(npdt)


def dispatch(op, args, attrs=None):
    """Run `op` on `args` (Tensors or Python scalars) with keyword `attrs`."""
    T = Tensor
    arrays = []
    rg = False
    first = None
    mixed = False
    foreign = False
    for a in args:
        if isinstance(a, T):
            d = a._data
            if a._rg:
                rg = True
            dt = d.dtype
            if first is None:
                first = dt
            elif dt is not first and dt != first:
                mixed = True
            if type(d) is not ndarray:
                foreign = True
            arrays.append(d)
        else:
            arrays.append(a)
            mixed = True
    if op.promotes:
        if mixed:
            _cast_inputs(op, args, arrays, _promote(op, args))
        elif op.floaty and first is not None and first.kind != "f":
            _cast_inputs(op, args, arrays, _default.float)
    xp = np
    if foreign:
        xp = _xp_for(arrays)
        if xp is not np:
            # a 0-dim CPU tensor may join CUDA ones (as in torch); cupy takes it as a scalar
            for i, x in enumerate(arrays):
                if type(x) is ndarray:
                    arrays[i] = x[()]
    try:
        if state.hooks and state.profiler is not None:
            out = state.profiler.run_op(op, xp, arrays, attrs)   # times the forward
        else:
            out = op.forward(xp, *arrays, **attrs) if attrs else op.forward(xp, *arrays)
    except Exception as err:  # noqa: BLE001 - re-raised with the op's name and shapes
        _fail(op, args, arrays, attrs, err)
    if op.n_outputs == 1:
        if type(out) is not ndarray and not hasattr(out, "__cuda_array_interface__"):
            out = np.asarray(out)       # a numpy scalar (not a cupy array: to_device makes those from CPU input)
        res = T._wrap(out)
        if op.view:
            base = args[0]
            res._vc = base._vc
            res._base = base if base._base is None else base._base
        if rg and op.differentiable and state.grad_enabled and out.dtype.kind == "f":
            res._rg = True      # (only floating point results take gradients, as in torch)
            res.grad_fn = Node(op, args, attrs, out, res._vc)
        if state.hooks:
            _notify(op, args, attrs, (res,))
        return res
    outs = tuple(T._wrap(o if type(o) is ndarray or hasattr(o, "__cuda_array_interface__") else np.asarray(o))
                 for o in out)
    if op.view:
        base = args[0]
        for r in outs:
            r._vc = base._vc
            r._base = base if base._base is None else base._base
    if rg and op.differentiable and state.grad_enabled and outs[0]._data.dtype.kind == "f":
        outs[0]._rg = True
        outs[0].grad_fn = Node(op, args, attrs, outs[0]._data, outs[0]._vc)
    if state.hooks:
        _notify(op, args, attrs, outs)
    return outs


def _notify(op, args, attrs, outs):
    tr = state.tracer
    if tr is not None:
        tr.record(op, args, attrs, outs)
    if state.anomaly:
        # NOTE: like torch, anomaly mode does not flag non-finite forward values (-inf
        # attention masks are normal); it keeps the forward stack for backward errors.
        from .autograd.anomaly import record
        record(outs[0].grad_fn)
    if _config.flags.debug >= 3:
        import sys
        print(f"[pyrch] {op.name}({_describe(args)}) -> {_describe(outs)}", file=sys.stderr)


_ufunc_of = [None]


def _inplace_ufunc(op, target, args, attrs):
    """Fast path of dispatch_inplace: compute straight into target's buffer with the
    op's numpy ufunc (no temporary, no copy back). False when it does not apply."""
    t = target._data
    if type(t) is not ndarray or not t.flags.writeable:
        return False
    if _ufunc_of[0] is None:
        from .ops.registry import ufunc_of
        _ufunc_of[0] = ufunc_of
    arrays, metas = [], []
    for a in args:
        if isinstance(a, Tensor):
            d = a._data
            if type(d) is not ndarray:
                return False
            arrays.append(d)
            metas.append((d.shape, d.dtype))
        else:
            arrays.append(a)
            metas.append(a)
    if op.promotes:
        cdt = _promote(op, args)
        if cdt is None or cdt.np != t.dtype or op.dtype == "bool":
            return False
        _cast_inputs(op, args, arrays, cdt)
    elif any(m[1] != t.dtype for m in metas if isinstance(m, tuple)):
        return False
    try:
        uf = _ufunc_of[0](op, attrs or {}, tuple(metas))
    except TypeError:
        return False
    if uf is None:
        return False
    try:
        uf(*arrays, out=t)
    except (ValueError, TypeError):
        return False          # e.g. the result would broadcast beyond target: slow path explains
    target._vc[0] += 1
    return True


def _view_geometry(view, base):
    """(shape, element strides, element offset) of `view` inside C-contiguous `base`,
    or None when it is not such a plain non-overlapping region of it."""
    v, b = view._data, base._data
    if type(v) is not ndarray or type(b) is not ndarray or not b.flags.c_contiguous or \
            v.dtype != b.dtype:
        return None
    isz = b.itemsize
    off = v.__array_interface__["data"][0] - b.__array_interface__["data"][0]
    if off < 0 or off % isz or any(st < 0 or st % isz for st in v.strides):
        return None
    strides = tuple(st // isz for st in v.strides)
    last = off // isz + sum((n - 1) * st for n, st in zip(v.shape, strides))
    if v.size and last >= b.size:
        return None
    # no element twice (an expanded view): sorted extents must not overlap
    dims = sorted((st, n) for st, n in zip(strides, v.shape) if n > 1)
    reach = 1
    for st, n in dims:
        if st < reach:
            return None
        reach = st * (n - 1) + reach
    return tuple(v.shape), strides, off // isz


def _inplace_on_view(op, target, args, attrs, call):
    """x.add_(y) where x is a view of a base that takes part in autograd (`y[0] += 1`).

    The op runs out of place on the view; the base then becomes `copy_slices(base,
    result)` (its old history outside the region, the result's inside), and the
    view becomes a view of that new base, as torch's CopySlices does.
    """
    from .ops.movement import as_strided_view, copy_slices
    base = target._base
    if base._rg and base.grad_fn is None and state.grad_enabled:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                           "in-place operation.")
    geo = _view_geometry(target, base)
    if geo is None:
        raise RuntimeError(
            f"{op.name}_: in-place modification of this view that takes part in autograd is "
            "not supported (a view whose elements overlap, or whose base is not "
            "contiguous); write `y = y.clone()` first or use the out-of-place op")
    shape, strides, offset = geo
    if op.saves_inputs or call is not None:
        args = tuple(target._snapshot() if a is target else a for a in args)
    out = dispatch(op, args, attrs) if call is None else call(*args, **(attrs or {}))
    d = out._data
    if d.shape != target._data.shape:
        raise RuntimeError(f"output with shape {list(target._data.shape)} doesn't match the "
                           f"broadcast shape {list(d.shape)}")
    if d.dtype != target._data.dtype:
        out = out.to(target.dtype)
    geo_attrs = {"shape": shape, "strides": strides, "offset": offset}
    new_base = dispatch(copy_slices, (base, out), geo_attrs)
    base._data[...] = new_base._data          # the view sees it: same memory
    base._vc[0] += 1
    tracer = state.tracer if state.hooks else None
    if tracer is not None:
        tracer.record_inplace(base, new_base)   # the base's value is now copy_slices(...)
    if new_base._rg:
        base._rg = True
        base.grad_fn = new_base.grad_fn
    again = dispatch(as_strided_view, (base,), geo_attrs)
    if new_base._rg:
        target._rg, target.grad_fn = True, again.grad_fn
    if tracer is not None:
        tracer._write(target, tracer.value_of(again))   # and the view reads the new base
    return target


def dispatch_inplace(op, target, args, attrs=None, call=None):
    """Run `op` out of place, then write its result into `target` (x.add_(y), x[i] = v).

    `call`, when given, is the op's public function (x.clamp_(min=0) goes
    through clamp's torch signature); it is called instead of `op` itself.

    The write keeps `target`'s storage (so views see it), bumps the version
    counter shared with its views, and rebinds `target.grad_fn` to the new
    node. The tracer is told the write happened so it can commit it at the end
    of a replay.
    """
    if state.grad_enabled and target._rg and target.grad_fn is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    grad_on = state.grad_enabled and (target._rg or any(isinstance(a, Tensor) and a._rg for a in args))
    if not grad_on and not state.hooks and call is None and op.kind == "elementwise" and \
            _inplace_ufunc(op, target, args, attrs):
        return target
    if grad_on and target._base is not None:
        return _inplace_on_view(op, target, args, attrs, call)
    if grad_on and (op.saves_inputs or call is not None):
        # backward needs target's old value (w.mul_(x) too, where only x requires grad):
        # give the node a snapshot, not the buffer we overwrite
        args = tuple(target._snapshot() if a is target else a for a in args)
    out = dispatch(op, args, attrs) if call is None else call(*args, **(attrs or {}))
    d = out._data
    tdt = target._data.dtype
    if d.dtype != tdt:
        if not can_cast(NP2DT[d.dtype], NP2DT[tdt]):
            from ._tensor import _TYPE_NAMES   # torch's names: Float, Long, ...
            raise RuntimeError(f"result type {_TYPE_NAMES[NP2DT[d.dtype].name][:-6]} can't be cast "
                               f"to the desired output type {_TYPE_NAMES[NP2DT[tdt].name][:-6]}")
    if d.shape != target._data.shape:
        raise RuntimeError(f"output with shape {list(target._data.shape)} doesn't match the "
                           f"broadcast shape {list(d.shape)}")
    try:
        target._data[...] = d
    except ValueError as e:
        raise RuntimeError(f"{op.name}_: cannot write into this tensor ({e}); it may be an "
                           "expanded view where several elements share one memory location") from None
    target._vc[0] += 1
    if out._rg:
        target._rg = True
        target.grad_fn = out.grad_fn
        out.grad_fn._inplace_of = target
    if state.hooks and state.tracer is not None:
        state.tracer.record_inplace(target, out)
    return target
