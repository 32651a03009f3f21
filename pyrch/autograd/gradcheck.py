"""Numerical gradient checks for users and for the op test-suite.

gradcheck compares the analytical gradient (autograd) with central finite
differences in float64. With at most `full_jacobian_max` input elements it
compares whole Jacobians; above that, a directional derivative along a random
unit vector (the cheap check torch calls fast mode).

>>> import pyrch
>>> x = pyrch.tensor([0.5, 1.5], dtype=pyrch.float64, requires_grad=True)
>>> pyrch.autograd.gradcheck(lambda t: (t * t).sin(), (x,)) if hasattr(pyrch, "sin") else True
True
"""
import numpy as np


class GradcheckError(RuntimeError):
    """The analytical and numerical gradients disagree."""


def _outputs(fn, inputs):
    out = fn(*inputs)
    if not isinstance(out, (tuple, list)):
        out = (out,)
    from .._tensor import Tensor
    return [o for o in out if isinstance(o, Tensor) and o.dtype.is_floating_point]


def _flat_eval(fn, inputs, with_grad):
    from .grad_mode import no_grad, enable_grad
    ctx = enable_grad() if with_grad else no_grad()
    with ctx:
        return _outputs(fn, inputs)


def _check_dtypes(inputs):
    for t in inputs:
        if t.requires_grad and t.dtype.name != "float64":
            import warnings
            warnings.warn(f"gradcheck input of dtype {t.dtype} is not float64; finite differences "
                          "will be imprecise", UserWarning, stacklevel=3)


def _perturbed(fn, inputs, idx, flat_pos, delta):
    x = inputs[idx]
    arr = x._data
    old = arr.reshape(-1)[flat_pos].item() if arr.flags.c_contiguous else None
    if old is None:
        raise GradcheckError("gradcheck needs contiguous inputs")
    arr.reshape(-1)[flat_pos] = old + delta
    try:
        outs = _flat_eval(fn, inputs, False)
        vals = [o._host().astype(np.float64).copy() for o in outs]
    finally:
        arr.reshape(-1)[flat_pos] = old
    return vals


def gradcheck(fn, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              full_jacobian_max=32, seed=0, nondet_tol=0.0, fast_mode=None):
    """Check autograd's gradients of `fn` at `inputs` against finite differences."""
    from .._tensor import Tensor
    from .engine import grad as _grad
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    inputs = tuple(t.detach().contiguous().requires_grad_(t.requires_grad)
                   if isinstance(t, Tensor) and not t._data.flags.c_contiguous else t for t in inputs)
    _check_dtypes([t for t in inputs if isinstance(t, Tensor)])
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError("gradcheck expects at least one input tensor to require gradient")
    outs = _flat_eval(fn, inputs, True)
    outs_req = [o for o in outs if o.requires_grad]
    n_in = sum(inputs[i]._data.size for i in diff)
    rng = np.random.default_rng(seed)
    try:
        if fast_mode is False or (fast_mode is None and n_in <= full_jacobian_max):
            _full(fn, inputs, diff, outs, outs_req, eps, atol, rtol, _grad)
        else:
            _directional(fn, inputs, diff, outs, outs_req, eps, atol, rtol, rng, _grad)
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def _vjp(outs_req, inputs, diff, vs, _grad):
    from .._creation import tensor
    if not outs_req:
        return [np.zeros(inputs[i]._data.shape) for i in diff]
    gs = [tensor(v, dtype=o.dtype, device=o.device) for v, o in zip(vs, outs_req)]
    res = _grad(outs_req, [inputs[i] for i in diff], gs, retain_graph=True, allow_unused=True)
    return [np.zeros(inputs[i]._data.shape) if r is None else r._host().astype(np.float64)
            for r, i in zip(res, diff)]


def _full(fn, inputs, diff, outs, outs_req, eps, atol, rtol, _grad):
    out_sizes = [o._data.size for o in outs]
    n_out = sum(out_sizes)
    # numerical Jacobian: one column per input element
    num = []
    for i in diff:
        for p in range(inputs[i]._data.size):
            plus = _perturbed(fn, inputs, i, p, eps)
            minus = _perturbed(fn, inputs, i, p, -eps)
            num.append(np.concatenate([((a - b) / (2 * eps)).ravel() for a, b in zip(plus, minus)])
                       if plus else np.zeros(0))
    num = np.stack(num, axis=1) if num else np.zeros((n_out, 0))
    # analytical Jacobian: one row per output element, via vector-Jacobian products
    req_ids = {id(o) for o in outs_req}
    rows = []
    for k, o in enumerate(outs):
        for p in range(o._data.size):
            if id(o) not in req_ids:
                rows.append(np.zeros(num.shape[1]))
                continue
            vs = []
            for o2 in outs_req:
                v = np.zeros(o2._data.shape)
                if o2 is o:
                    v.reshape(-1)[p] = 1.0
                vs.append(v)
            g = _vjp(outs_req, inputs, diff, vs, _grad)
            rows.append(np.concatenate([x.ravel() for x in g]))
    ana = np.stack(rows, axis=0) if rows else np.zeros((0, num.shape[1]))
    if not np.allclose(ana, num, atol=atol, rtol=rtol):
        bad = np.unravel_index(np.argmax(np.abs(ana - num)), ana.shape)
        raise GradcheckError(
            "Jacobian mismatch for output element %d with respect to input element %d,\n"
            "numerical:%s\nanalytical:%s\n" % (bad[0], bad[1], num[bad], ana[bad]))


def _directional(fn, inputs, diff, outs, outs_req, eps, atol, rtol, rng, _grad):
    us = [rng.standard_normal(inputs[i]._data.shape) for i in diff]
    norm = np.sqrt(sum((u * u).sum() for u in us)) or 1.0
    us = [u / norm for u in us]
    vs = [rng.standard_normal(o._data.shape) for o in outs]
    # numerical: v . (f(x + eps u) - f(x - eps u)) / 2 eps
    olds = [inputs[i]._data.copy() for i in diff]

    def shifted(sign):
        for u, i, old in zip(us, diff, olds):
            inputs[i]._data[...] = old + sign * eps * u
        try:
            return [o._host().astype(np.float64) for o in _flat_eval(fn, inputs, False)]
        finally:
            for i, old in zip(diff, olds):
                inputs[i]._data[...] = old
    plus, minus = shifted(1.0), shifted(-1.0)
    num = sum(float((v * (a - b)).sum()) for v, a, b in zip(vs, plus, minus)) / (2 * eps)
    req_ids = {id(o) for o in outs_req}
    vreq = [v for v, o in zip(vs, outs) if id(o) in req_ids]
    g = _vjp(outs_req, inputs, diff, vreq, _grad)
    ana = sum(float((x * u).sum()) for x, u in zip(g, us))
    if not abs(ana - num) <= atol + rtol * abs(num):
        raise GradcheckError(f"Directional derivative mismatch: numerical {num!r}, analytical {ana!r}")


def gradgradcheck(fn, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True, seed=0, full_jacobian_max=32, fast_mode=None):
    """Check second derivatives: gradcheck of the function x -> vjp(fn, x, v)."""
    from .._creation import tensor
    from .engine import grad as _grad
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    rng = np.random.default_rng(seed + 1)
    outs = _flat_eval(fn, inputs, True)
    outs_req = [o for o in outs if o.requires_grad]
    if grad_outputs is None:
        grad_outputs = [tensor(rng.standard_normal(o._data.shape), dtype=o.dtype) for o in outs_req]
    diff = [i for i, t in enumerate(inputs) if hasattr(t, "requires_grad") and t.requires_grad]

    from .grad_mode import enable_grad

    def vjp_fn(*xs):
        with enable_grad():
            os_ = [o for o in _outputs(fn, xs) if o.requires_grad]
            if not os_:
                return ()
            gs = _grad(os_, [xs[i] for i in diff], list(grad_outputs), create_graph=True,
                       allow_unused=True)
        return tuple(g for g in gs if g is not None)
    return gradcheck(vjp_fn, inputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, seed=seed,
                     full_jacobian_max=full_jacobian_max, fast_mode=fast_mode)
