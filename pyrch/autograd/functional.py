"""Functional higher-order autograd (torch.autograd.functional): vjp, jvp, jacobian, hessian,
vhp, hvp, all built on `autograd.grad`.

Each function calls `func` on fresh tensors that stand for `inputs` (so tensors that `func`
captures are not mistaken for the inputs), differentiates once or twice, and returns plain
tensors, or tuples of them where `inputs` / the outputs of `func` were tuples. Forward-mode
products (jvp, hvp) use the double-backward trick: the vjp is linear in its cotangent, so
differentiating it with respect to the cotangent gives the jvp.
"""
from .engine import grad as _grad
from .grad_mode import enable_grad, set_grad_enabled, is_grad_enabled


def _tupled(x, what, fn):
    """(was it a tuple, x as a tuple), checking that every element is a Tensor."""
    from .._tensor import Tensor
    was = isinstance(x, tuple)
    items = x if was else (x,)
    for i, el in enumerate(items):
        if not isinstance(el, Tensor):
            where = f"value at index {i}" if was else f"given {what}"
            raise TypeError(f"The {what} given to {fn} must be either a Tensor or a tuple of Tensors "
                            f"but the {where} has type {type(el)}.")
    return was, items


def _untuple(res, was):
    """Undo `_tupled`: `was` is one flag, or (outer, inner) for a tuple of tuples."""
    if isinstance(was, tuple):
        outer, inner = was
        if not inner:
            res = tuple(r[0] for r in res)
        return res if outer else res[0]
    return res if was else res[0]


def _stand_ins(inputs, create_graph, need_graph):
    """New tensor objects for `inputs`: differentiable views when the caller wants a graph
    back to inputs that require grad, detached copies (requiring grad if `need_graph`) else."""
    return tuple(t.view_as(t) if create_graph and t.requires_grad
                 else t.detach().requires_grad_(need_graph) for t in inputs)


def _detached(res, create_graph):
    """Detach every tensor of a (nested) tuple unless `create_graph`."""
    if create_graph:
        return res
    return tuple(_detached(r, False) if isinstance(r, tuple) else r.detach() for r in res)


def _check_v(v, ref, ref_is_tuple):
    if len(v) != len(ref):
        if ref_is_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(ref)} but got {len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for i, (a, b) in enumerate(zip(v, ref)):
        if a.shape != b.shape:
            pre = f"Entry {i} in " if ref_is_tuple else ""
            raise RuntimeError(f"{pre}v has invalid size: should be {b.shape} but got {a.shape}.")


_NEEDS_GRAD = {
    "outputs": "Output {i} of the user-provided function does not require gradients. The outputs "
               "must be computed in a differentiable manner from the input when running in strict mode.",
    "grad_inputs": "The gradient with respect to input {i} is independent of the inputs of the "
                   "user-provided function. This is not allowed in strict mode.",
    "jacobian": "While computing the hessian, found that the jacobian of the user-provided function "
                "with respect to input {i} is independent of the input. This is not allowed in strict "
                "mode. You should ensure that your function is twice differentiable and that the "
                "jacobian depends on the inputs (this would be violated by a linear function for "
                "example).",
    "hessian": "The hessian of the user-provided function with respect to input {i} is independent "
               "of the input. This is not allowed in strict mode. You should ensure that your "
               "function is thrice differentiable and that the hessian depends on the inputs.",
}


def _strict_requires_grad(tensors, kind, strict):
    """In strict mode, raise unless every tensor exists and requires grad."""
    if not strict:
        return
    for i, t in enumerate(tensors):
        if t is None:
            raise RuntimeError(f"The output of the user-provided function is independent of input {i}."
                               " This is not allowed in strict mode.")
        if not t.requires_grad:
            raise RuntimeError(_NEEDS_GRAD[kind].format(i=i))


def _grad_some(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None):
    """autograd.grad over the outputs that require grad (None for an unreached input)."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    keep = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not keep:
        return (None,) * len(inputs)
    outs, gos = zip(*keep)
    gos = None if all(g is None for g in gos) else gos
    return _grad(outs, inputs, gos, retain_graph=retain_graph, create_graph=create_graph,
                 allow_unused=True)


_ZERO_MSG = {
    "back": "The output of the user-provided function is independent of input {i}. "
            "This is not allowed in strict mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the "
                  "grad_outputs when using the double backward trick to compute forward mode "
                  "gradients. This is not allowed in strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. "
                   "This is not allowed in strict mode.",
    "double_back_trick": "The hessian of the user-provided function is independent of entry {i} in "
                         "the grad_jacobian. This is not allowed in strict mode as it prevents from "
                         "using the double backward trick to replace forward mode AD.",
}


def _zeros_for_none(grads, refs, strict, create_graph, stage):
    """Replace a None gradient by zeros shaped like its reference (an error in strict mode)."""
    from .. import zeros_like
    out = []
    for i, (g, ref) in enumerate(zip(grads, refs)):
        if g is None:
            if strict:
                raise RuntimeError(_ZERO_MSG[stage].format(i=i))
            g = zeros_like(ref)
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if stage.startswith("double") else "jacobian"
            raise RuntimeError(f"The {what} of the user-provided function is independent of input {i}."
                               " This is not allowed in strict mode when create_graph=True.")
        out.append(g)
    return tuple(out)


def _prepare_v(v, ref, ref_is_tuple, fn, create_graph, none_msg):
    if v is None:
        if len(ref) != 1 or ref[0].nelement() != 1:
            raise RuntimeError(none_msg)
        return None
    _, v = _tupled(v, "v", fn)
    v = _stand_ins(v, create_graph, need_graph=False)
    _check_v(v, ref, ref_is_tuple)
    return v


_V_NONE_OUT = ("The vector v can only be None if the user-provided function returns a single Tensor "
               "with a single element.")
_V_NONE_IN = ("The vector v can only be None if the input to the user-provided function is a single "
              "Tensor with a single element.")


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): the vector-Jacobian product of `func` at `inputs`.

    >>> import pyrch
    >>> pyrch.autograd.functional.vjp(lambda x: x * x, pyrch.tensor([1., 2.]), pyrch.ones(2))
    (tensor([1., 4.]), tensor([2., 4.]))
    """
    with enable_grad():
        in_tuple, inputs = _tupled(inputs, "inputs", "vjp")
        inputs = _stand_ins(inputs, create_graph, need_graph=True)
        out_tuple, outputs = _tupled(func(*inputs), "outputs of the user-provided function", "vjp")
        _strict_requires_grad(outputs, "outputs", strict)
        v = _prepare_v(v, outputs, out_tuple, "vjp", create_graph, _V_NONE_OUT)
    with set_grad_enabled(create_graph or is_grad_enabled()):
        res = _grad_some(outputs, inputs, v, create_graph=create_graph)
        res = _zeros_for_none(res, inputs, strict, create_graph, "back")
    return (_untuple(_detached(outputs, create_graph), out_tuple),
            _untuple(_detached(res, create_graph), in_tuple))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v): the Jacobian-vector product, by differentiating a vjp with respect
    to its cotangent.

    >>> import pyrch
    >>> pyrch.autograd.functional.jvp(lambda x: x * x, pyrch.tensor([1., 2.]), pyrch.ones(2))
    (tensor([1., 4.]), tensor([2., 4.]))
    """
    from .. import zeros_like
    with enable_grad():
        in_tuple, inputs = _tupled(inputs, "inputs", "jvp")
        inputs = _stand_ins(inputs, create_graph, need_graph=True)
        v = _prepare_v(v, inputs, in_tuple, "jvp", create_graph, _V_NONE_IN)
        out_tuple, outputs = _tupled(func(*inputs), "outputs of the user-provided function", "jvp")
        _strict_requires_grad(outputs, "outputs", strict)
        # any finite cotangent does: the vjp is linear in it, so it leaves no trace in J v
        cot = tuple(zeros_like(o, requires_grad=True) for o in outputs)
        vj = _grad_some(outputs, inputs, cot, create_graph=True)
        _strict_requires_grad(vj, "grad_inputs", strict)
    with set_grad_enabled(create_graph or is_grad_enabled()):
        res = _grad_some(vj, cot, v, create_graph=create_graph)
        res = _zeros_for_none(res, outputs, strict, create_graph, "back_trick")
    return (_untuple(_detached(outputs, create_graph), out_tuple),
            _untuple(_detached(res, create_graph), out_tuple))


def _check_strategy(strategy, create_graph, strict, vectorize):
    if strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode". Hint: '
                             'If your function has more outputs than inputs, "forward-mode" tends to '
                             'be more performant. Otherwise, prefer to use "reverse-mode".')
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError(
                'torch.autograd.functional.jacobian: `create_graph=True` and `strategy="forward-mode"`'
                ' are not supported together (yet). Please either set `create_graph=False` or '
                '`strategy="reverse-mode"`.')
        if strict:
            raise RuntimeError(
                'torch.autograd.functional.jacobian: `strict=True` and `strategy="forward-mode"` are '
                'not supported together (yet). Please either set `strict=False` or '
                '`strategy="reverse-mode"`.')
        if not vectorize:
            raise NotImplementedError("Computing Jacobian using forward-AD or forward-over-reverse "
                                      "Hessian isonly implemented for `vectorize=True`.")


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """The Jacobian of `func` at `inputs`: entry [i][j] has shape outputs[i].shape + inputs[j].shape.

    Computed one output element at a time in reverse mode; `vectorize` and
    strategy="forward-mode" give the same values (they only select torch's faster paths).

    >>> import pyrch
    >>> pyrch.autograd.functional.jacobian(lambda x: x * x, pyrch.tensor([1., 2.]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    from .. import stack, zeros_like
    _check_strategy(strategy, create_graph, strict, vectorize)
    with enable_grad():
        in_tuple, inputs = _tupled(inputs, "inputs", "jacobian")
        inputs = _stand_ins(inputs, create_graph, need_graph=True)
        out_tuple, outputs = _tupled(func(*inputs), "outputs of the user-provided function",
                                     "jacobian")
        _strict_requires_grad(outputs, "outputs", strict)
        if vectorize and strict:
            raise RuntimeError("torch.autograd.functional.jacobian: `strict=True` and `vectorized=True`"
                               " are not supported together. Please either set `strict=False` or "
                               "`vectorize=False`.")
        jac = []
        for i, out in enumerate(outputs):
            rows = [[] for _ in inputs]
            flat = out.reshape(-1)
            for k in range(out.nelement()):
                got = _grad_some((flat[k],), inputs, retain_graph=True, create_graph=create_graph)
                for j, (g, inp) in enumerate(zip(got, inputs)):
                    if g is None:
                        if strict:
                            raise RuntimeError(f"Output {i} of the user-provided function is independent "
                                               f"of input {j}. This is not allowed in strict mode.")
                        g = zeros_like(inp)
                    elif strict and create_graph and not g.requires_grad:
                        raise RuntimeError(f"The jacobian of the user-provided function is independent of "
                                           f"input {i}. This is not allowed in strict mode when "
                                           "create_graph=True.")
                    rows[j].append(g)
            jac.append(tuple(
                (stack(r) if r else zeros_like(inp).reshape(0, *inp.shape)).reshape(*out.shape, *inp.shape)
                for r, inp in zip(rows, inputs)))
        jac = _detached(tuple(jac), create_graph)
        if strategy == "forward-mode":      # torch's forward-mode path gives lists
            jac = [list(r) for r in jac]
        return _untuple(jac, (out_tuple, in_tuple))


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar function: the Jacobian of its gradient.

    >>> import pyrch
    >>> pyrch.autograd.functional.hessian(lambda x: (x ** 3).sum(), pyrch.tensor([1., 2.]))
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    in_tuple, inputs = _tupled(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')

    def scalar_func(*inp):
        out = func(*inp)
        out_tuple, outs = _tupled(out, "outputs of the user-provided function", "hessian")
        _strict_requires_grad(outs, "outputs", strict)
        if out_tuple:
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.nelement() != 1:
            raise RuntimeError("The Tensor returned by the function given to hessian should contain a "
                               "single element")
        return out.squeeze()

    def gradient(*inp):
        g = jacobian(scalar_func, inp, create_graph=True)
        _strict_requires_grad(g, "jacobian", strict)
        return g

    res = jacobian(gradient, inputs, create_graph=create_graph, strict=strict, vectorize=vectorize,
                   strategy=outer_jacobian_strategy)
    return _untuple(res, (in_tuple, in_tuple))


def _scalar_and_gradient(func, inputs, v, create_graph, strict, fn):
    """Shared start of vhp/hvp: stand-ins, checked v, the scalar output and its gradient."""
    in_tuple, inputs = _tupled(inputs, "inputs", fn)
    inputs = _stand_ins(inputs, create_graph, need_graph=True)
    v = _prepare_v(v, inputs, in_tuple, fn, create_graph, _V_NONE_IN)
    out_tuple, outputs = _tupled(func(*inputs), "outputs of the user-provided function", fn)
    _strict_requires_grad(outputs, "outputs", strict)
    if out_tuple:
        raise RuntimeError(f"The function given to {fn} should return a single Tensor")
    if outputs[0].nelement() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn} should contain a single "
                           "element")
    g = _grad_some(outputs, inputs, create_graph=True)
    _strict_requires_grad(g, "jacobian", strict)
    return in_tuple, out_tuple, inputs, v, outputs, g


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H): a vector-Hessian product of a scalar function.

    >>> import pyrch
    >>> pyrch.autograd.functional.vhp(lambda x: (x ** 3).sum(), pyrch.tensor([1., 2.]), pyrch.ones(2))
    (tensor(9.), tensor([ 6., 12.]))
    """
    with enable_grad():
        in_tuple, out_tuple, inputs, v, outputs, g = _scalar_and_gradient(
            func, inputs, v, create_graph, strict, "vhp")
    with set_grad_enabled(create_graph or is_grad_enabled()):
        res = _grad_some(g, inputs, v, create_graph=create_graph)
        res = _zeros_for_none(res, inputs, strict, create_graph, "double_back")
    return (_untuple(_detached(outputs, create_graph), out_tuple),
            _untuple(_detached(res, create_graph), in_tuple))


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v): a Hessian-vector product of a scalar function, by the double-backward
    trick (equal to vhp for twice continuously differentiable functions).

    >>> import pyrch
    >>> pyrch.autograd.functional.hvp(lambda x: (x ** 3).sum(), pyrch.tensor([1., 2.]), pyrch.ones(2))
    (tensor(9.), tensor([ 6., 12.]))
    """
    from .. import zeros_like
    with enable_grad():
        in_tuple, out_tuple, inputs, v, outputs, g = _scalar_and_gradient(
            func, inputs, v, create_graph, strict, "hvp")
        cot = tuple(zeros_like(t, requires_grad=True) for t in inputs)
        gg = _grad_some(g, inputs, cot, create_graph=True)
        _strict_requires_grad(g, "hessian", strict)
    with set_grad_enabled(create_graph or is_grad_enabled()):
        res = _grad_some(gg, cot, v, create_graph=create_graph)
        res = _zeros_for_none(res, inputs, strict, create_graph, "double_back_trick")
    return (_untuple(_detached(outputs, create_graph), out_tuple),
            _untuple(_detached(res, create_graph), in_tuple))
