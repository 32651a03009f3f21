"""The autograd engine and its user features, checked against PyTorch where it has an answer."""
import gc
import sys
import warnings

import numpy as np
import pytest

import pyrch
from pyrch.autograd import Function


def _t(values, rg=True, dtype=None):
    return pyrch.tensor(values, dtype=dtype or pyrch.float64, requires_grad=rg)


def _np(t):
    return None if t is None else t.detach().numpy()


# -- backward basics -------------------------------------------------------------------------
def test_backward_with_gradient_argument(torch_or_skip):
    torch = torch_or_skip
    v = [[1.0, -2.0], [0.5, 3.0]]
    x = _t([[1.0, 2.0], [3.0, 4.0]])
    (x * x * 3).backward(pyrch.tensor(v, dtype=pyrch.float64))
    tx = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64, requires_grad=True)
    (tx * tx * 3).backward(torch.tensor(v, dtype=torch.float64))
    np.testing.assert_allclose(_np(x.grad), tx.grad.numpy())


def test_backward_non_scalar_without_gradient_raises():
    x = _t([1.0, 2.0])
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()


def test_backward_gradient_shape_mismatch_raises():
    x = _t([1.0, 2.0])
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(pyrch.ones(3, dtype=pyrch.float64))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        pyrch.ones(2).sum().backward()


def test_grad_accumulates_across_backwards():
    x = _t([1.0, 2.0])
    (x * x).sum().backward()
    first = x.grad
    (x * 3).sum().backward()
    np.testing.assert_allclose(_np(x.grad), [5.0, 7.0])
    assert x.grad is first        # accumulated in place, like torch


def test_user_gradient_buffer_is_not_stolen():
    x, y = _t([1.0, 2.0]), _t([3.0, 4.0])
    v = pyrch.tensor([1.0, 1.0], dtype=pyrch.float64)
    (x + y).backward(v)
    (x + y).backward(v)
    np.testing.assert_allclose(_np(v), [1.0, 1.0])
    np.testing.assert_allclose(_np(x.grad), [2.0, 2.0])


def test_shared_gradient_buffers_are_not_aliased_between_leaves():
    x, y = _t([1.0, 2.0]), _t([3.0, 4.0])
    (x + y).sum().backward()
    assert x.grad is not y.grad
    assert not np.shares_memory(x.grad.numpy(), y.grad.numpy())
    (x * 2 + y).sum().backward()       # in-place accumulation into x.grad must not touch y.grad
    np.testing.assert_allclose(_np(x.grad), [3.0, 3.0])
    np.testing.assert_allclose(_np(y.grad), [2.0, 2.0])


def test_add_of_two_leaves_with_explicit_gradient_not_aliased():
    x, y = _t([1.0, 2.0]), _t([3.0, 4.0])
    (x + y).backward(pyrch.tensor([1.0, 2.0], dtype=pyrch.float64))
    x.grad.add_(10)
    np.testing.assert_allclose(_np(y.grad), [1.0, 2.0])


def test_retain_graph_second_backward():
    x = _t([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(_np(x.grad), [4.0, 8.0])
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()


def test_graph_without_saved_values_can_run_twice(torch_or_skip):
    # torch only refuses when saved tensors were freed: z = (x + 1).sum() saves none
    x = _t([1.0, 2.0])
    z = (x + 1).sum()
    z.backward()
    z.backward()
    np.testing.assert_allclose(_np(x.grad), [2.0, 2.0])


def test_create_graph_higher_order():
    x = _t([1.0, 2.0, -1.5])
    y = (x * x * x).sum()
    (g,) = pyrch.autograd.grad(y, x, create_graph=True)
    np.testing.assert_allclose(_np(g), 3 * np.array([1.0, 2.0, -1.5]) ** 2)
    (g2,) = pyrch.autograd.grad(g.sum(), x, create_graph=True)
    np.testing.assert_allclose(_np(g2), 6 * np.array([1.0, 2.0, -1.5]))
    (g3,) = pyrch.autograd.grad(g2.sum(), x)
    np.testing.assert_allclose(_np(g3), [6.0, 6.0, 6.0])


def test_backward_create_graph_then_backward_of_grad():
    x = _t([2.0])
    (x * x * x).backward(create_graph=True)
    assert x.grad.requires_grad
    gx = x.grad
    x.grad = None
    gx.backward()
    np.testing.assert_allclose(_np(x.grad), [12.0])


def test_backward_inputs_only_fills_those():
    x, y = _t([1.0, 2.0]), _t([3.0, 4.0])
    h = x * y
    h.retain_grad()
    (h * 2).sum().backward(inputs=[x])
    np.testing.assert_allclose(_np(x.grad), [6.0, 8.0])
    assert y.grad is None
    np.testing.assert_allclose(_np(h.grad), [2.0, 2.0])   # h lies on the path to x (as in torch)


def test_backward_inputs_non_leaf(torch_or_skip):
    torch = torch_or_skip
    x = _t([1.0, 2.0])
    h = x * 3
    (h * h).sum().backward(inputs=[h])
    tx = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    th = tx * 3
    (th * th).sum().backward(inputs=[th])
    np.testing.assert_allclose(_np(h.grad), th.grad.numpy())
    assert x.grad is None and tx.grad is None


def test_none_gradient_path_does_not_block_other_paths(torch_or_skip):
    class Stop(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1

        @staticmethod
        def backward(ctx, g):
            return None

    x = _t([1.0, 2.0])
    (Stop.apply(x * 3) + x).sum().backward()     # x*3's node receives no gradient at all
    np.testing.assert_allclose(_np(x.grad), [1.0, 1.0])


def test_long_chain_has_no_recursion_limit():
    x = _t([1.0, 2.0])
    y = x
    n = 100_000
    assert n > sys.getrecursionlimit()
    for _ in range(n):
        y = -y
    y.sum().backward()
    np.testing.assert_allclose(_np(x.grad), [1.0, 1.0])
    del y
    gc.collect()


# -- autograd.grad ---------------------------------------------------------------------------
def test_grad_does_not_touch_dot_grad():
    x = _t([1.0, 2.0])
    (g,) = pyrch.autograd.grad((x * x).sum(), x)
    np.testing.assert_allclose(_np(g), [2.0, 4.0])
    assert x.grad is None


def test_grad_allow_unused():
    x, y = _t([1.0]), _t([2.0])
    out = (x * 2).sum()
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        pyrch.autograd.grad(out, (x, y), retain_graph=True)
    gx, gy = pyrch.autograd.grad(out, (x, y), allow_unused=True, retain_graph=True)
    assert gy is None
    np.testing.assert_allclose(_np(gx), [2.0])
    gx, gy = pyrch.autograd.grad(out, (x, y), materialize_grads=True)
    np.testing.assert_allclose(_np(gy), [0.0])


def test_grad_outputs(torch_or_skip):
    torch = torch_or_skip
    x = _t([1.0, 2.0, 3.0])
    v = [0.5, -1.0, 2.0]
    (g,) = pyrch.autograd.grad(x * x, x, grad_outputs=pyrch.tensor(v, dtype=pyrch.float64))
    tx = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    (tg,) = torch.autograd.grad(tx * tx, tx, grad_outputs=torch.tensor(v, dtype=torch.float64))
    np.testing.assert_allclose(_np(g), tg.numpy())


def test_grad_several_outputs_and_inputs():
    x, y = _t([1.0, 2.0]), _t([3.0, 4.0])
    gx, gy = pyrch.autograd.grad([(x * y).sum(), (x * x).sum()], [x, y])
    np.testing.assert_allclose(_np(gx), [3.0 + 2.0, 4.0 + 4.0])
    np.testing.assert_allclose(_np(gy), [1.0, 2.0])


def test_grad_non_leaf_input(torch_or_skip):
    torch = torch_or_skip
    x = _t([1.0, 2.0])
    h = x * x
    (g,) = pyrch.autograd.grad((h * 3).sum(), h)
    np.testing.assert_allclose(_np(g), [3.0, 3.0])
    # a hook on a non-leaf input applies before the gradient is captured, as in torch
    x = _t([1.0, 2.0])
    h = x * x
    h.register_hook(lambda g: g * 10)
    (g,) = pyrch.autograd.grad((h * 3).sum(), h)
    tx = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    th = tx * tx
    th.register_hook(lambda g: g * 10)
    (tg,) = torch.autograd.grad((th * 3).sum(), th)
    np.testing.assert_allclose(_np(g), tg.numpy())


def test_grad_runs_only_the_needed_part_of_the_graph():
    x, w = _t([1.0, 2.0]), _t([3.0, 4.0])
    fired = []
    w.register_hook(lambda g: fired.append("w"))
    h = x * 2
    (g,) = pyrch.autograd.grad((h * w).sum(), h)
    np.testing.assert_allclose(_np(g), [3.0, 4.0])
    assert fired == []              # w is not an input: its hook does not fire


def test_grad_input_not_requiring_grad_raises():
    x = _t([1.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        pyrch.autograd.grad((x * 2).sum(), pyrch.ones(1))


# -- grad modes ------------------------------------------------------------------------------
def test_grad_modes_as_context_managers():
    x = _t([1.0])
    with pyrch.no_grad():
        assert not (x * 2).requires_grad
        with pyrch.enable_grad():
            assert (x * 2).requires_grad
        assert not pyrch.is_grad_enabled()
    assert pyrch.is_grad_enabled()
    with pyrch.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert pyrch.is_grad_enabled()
    with pyrch.inference_mode():
        assert not (x * 2).requires_grad
        assert pyrch.autograd.is_inference_mode_enabled()
    assert not pyrch.autograd.is_inference_mode_enabled()
    with pyrch.inference_mode(False):
        assert (x * 2).requires_grad


def test_grad_modes_restore_after_exception():
    with pytest.raises(ValueError):
        with pyrch.no_grad():
            raise ValueError
    assert pyrch.is_grad_enabled()


def test_grad_modes_as_decorators():
    x = _t([1.0])

    @pyrch.no_grad()
    def f():
        return x * 2

    @pyrch.no_grad
    def f_bare():
        return x * 2

    @pyrch.enable_grad()
    def g():
        return x * 2

    @pyrch.set_grad_enabled(False)
    def h():
        return x * 2

    @pyrch.inference_mode()
    def i():
        return x * 2

    @pyrch.inference_mode
    def i_bare():
        return x * 2

    assert pyrch.is_grad_enabled()     # decorating with set_grad_enabled(False) changed nothing
    assert not f().requires_grad and not f_bare().requires_grad
    assert not h().requires_grad and not i().requires_grad and not i_bare().requires_grad
    with pyrch.no_grad():
        assert g().requires_grad
    assert pyrch.is_grad_enabled()
    assert f.__name__ == "f"


def test_set_grad_enabled_as_plain_call():
    try:
        pyrch.set_grad_enabled(False)
        assert not pyrch.is_grad_enabled()
    finally:
        pyrch.set_grad_enabled(True)
    assert pyrch.is_grad_enabled()


# -- detach, requires_grad, leaves -----------------------------------------------------------
def test_detach_shares_storage():
    x = _t([1.0, 2.0])
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    d.add_(1)
    np.testing.assert_allclose(_np(y), [3.0, 5.0])
    assert y._version == d._version


def test_detach_in_place():
    x = _t([1.0, 2.0])
    y = x * 2
    assert y.detach_() is y
    assert y.is_leaf and not y.requires_grad and y.grad_fn is None


def test_requires_grad_rules():
    x = pyrch.ones(2)
    assert x.requires_grad_() is x and x.requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        pyrch.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="floating point"):
        pyrch.tensor([1, 2], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf variables"):
        y.requires_grad_(False)


def test_is_leaf_rules():
    a = pyrch.ones(2)
    x = _t([1.0, 2.0])
    assert a.is_leaf and x.is_leaf
    assert (a * 2).is_leaf                       # no input requires grad
    assert not (x * 2).is_leaf
    with pyrch.no_grad():
        assert (x * 2).is_leaf
    assert x.detach().is_leaf


def test_non_leaf_grad_is_none_without_retain_grad():
    x = _t([1.0, 2.0])
    y = x * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (y * y).sum().backward()
        assert y.grad is None
    assert x.grad is not None


def test_retain_grad(torch_or_skip):
    torch = torch_or_skip
    x = _t([1.0, 2.0])
    y = x * 2
    y.retain_grad()
    assert y.retains_grad
    (y * y).sum().backward(retain_graph=True)
    (y * 3).sum().backward()       # retained grads accumulate like torch's
    tx = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    ty = tx * 2
    ty.retain_grad()
    (ty * ty).sum().backward(retain_graph=True)
    (ty * 3).sum().backward()
    np.testing.assert_allclose(_np(y.grad), ty.grad.numpy())
    np.testing.assert_allclose(_np(x.grad), tx.grad.numpy())


def test_retained_grad_is_not_aliased_with_leaf_grad():
    x = _t([1.0, 2.0])
    y = x + 0.0
    y.retain_grad()
    z = y + x
    z.backward(pyrch.ones(2, dtype=pyrch.float64))
    x.grad.add_(100)
    np.testing.assert_allclose(_np(y.grad), [1.0, 1.0])


# -- hooks -----------------------------------------------------------------------------------
def test_hooks_modify_gradients(torch_or_skip):
    torch = torch_or_skip

    def run(lib, dtype):
        x = lib.tensor([1.0, 2.0], dtype=dtype, requires_grad=True)
        x.register_hook(lambda g: g * 2)
        y = x * x
        y.register_hook(lambda g: g + 1)
        (y * 3).sum().backward()
        return x.grad

    np.testing.assert_allclose(_np(run(pyrch, pyrch.float64)),
                               run(torch, torch.float64).numpy())


def test_hook_handle_remove():
    x = _t([1.0, 2.0])
    calls = []
    h = x.register_hook(lambda g: calls.append(1))
    y = x * 2
    hy = y.register_hook(lambda g: g * 0)
    hy.remove()
    h.remove()
    y.sum().backward()
    assert calls == []
    np.testing.assert_allclose(_np(x.grad), [2.0, 2.0])


def test_hook_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        pyrch.ones(2).register_hook(lambda g: g)


def test_node_post_hook_can_replace_grads():
    x = _t([1.0, 2.0])
    y = x * 2
    seen = []

    def hook(grad_inputs, grad_outputs):
        seen.append(len(grad_inputs))
        return tuple(None if g is None else g * 0 for g in grad_inputs)

    y.grad_fn.register_hook(hook)
    y.sum().backward()
    assert seen == [2]
    np.testing.assert_allclose(_np(x.grad), [0.0, 0.0])


def test_queue_callback_runs_after_backward():
    from pyrch.autograd import engine
    x = _t([1.0, 2.0])
    order = []

    def hook(g):
        engine.queue_callback(lambda: order.append(("callback", x.grad is not None)))
        order.append("hook")
        return g

    x.register_hook(hook)
    (x * 2).sum().backward()
    assert order == ["hook", ("callback", True)]
    with pytest.raises(RuntimeError, match="during backward pass"):
        engine.queue_callback(lambda: None)


# -- graph introspection ---------------------------------------------------------------------
def test_grad_fn_names_and_next_functions():
    x, y = _t([1.0, 2.0]), _t([3.0, 4.0])
    c = pyrch.ones(2, dtype=pyrch.float64)
    z = (x * y + c).exp()
    assert z.grad_fn.name() == "ExpBackward0"
    (add, _), = z.grad_fn.next_functions
    assert add.name() == "AddBackward0"
    (mul, _), (none, _) = add.next_functions
    assert mul.name() == "MulBackward0" and none is None
    (ax, _), (ay, _) = mul.next_functions
    assert ax.name() == "AccumulateGrad" and ax.variable is x and ay.variable is y
    assert "ExpBackward0" in repr(z.grad_fn)


# -- version counters and in-place ops -------------------------------------------------------
def test_modified_saved_output_raises_naming_the_op():
    x = _t([1.0, 2.0])
    y = x.exp()
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*ExpBackward0.*"
                                           "is at version 1; expected version 0"):
        y.sum().backward()


def test_modified_saved_input_raises_naming_the_op():
    x = _t([1.0, 2.0])
    w = pyrch.tensor([3.0, 4.0], dtype=pyrch.float64)
    y = x * w
    w.add_(1)
    with pytest.raises(RuntimeError, match="MulBackward0"):
        y.sum().backward()


def test_in_place_on_leaf_requiring_grad_raises():
    x = _t([1.0, 2.0])
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in "
                                           "an in-place operation."):
        x.add_(1)
    with pyrch.no_grad():
        x.add_(1)                    # allowed under no_grad, like an optimizer step
    np.testing.assert_allclose(_np(x), [2.0, 3.0])
    assert x._version == 1


def test_in_place_on_non_leaf_matches_torch(torch_or_skip):
    torch = torch_or_skip

    def run(lib, dtype):
        x = lib.tensor([0.5, -1.0, 2.0], dtype=dtype, requires_grad=True)
        w = lib.tensor([1.5, 2.0, -0.5], dtype=dtype, requires_grad=True)
        y = x * 2
        y.mul_(w)
        y.add_(x)
        y.exp_()
        y.sum().backward()
        return y.detach(), x.grad, w.grad

    for a, b in zip(run(pyrch, pyrch.float64), run(torch, torch.float64)):
        np.testing.assert_allclose(_np(a), b.numpy(), rtol=1e-12)


def test_in_place_into_tensor_without_grad_matches_torch(torch_or_skip):
    torch = torch_or_skip

    def run(lib, dtype):
        x = lib.tensor([0.5, -1.0], dtype=dtype, requires_grad=True)
        w = lib.tensor([3.0, 4.0], dtype=dtype)
        w.mul_(x)                     # w becomes part of the graph
        (w * w).sum().backward()
        return w.requires_grad, x.grad

    (ra, ga), (rb, gb) = run(pyrch, pyrch.float64), run(torch, torch.float64)
    assert ra == rb
    np.testing.assert_allclose(_np(ga), gb.numpy())


# -- custom Function -------------------------------------------------------------------------
class _Cube(Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x * x * x * scale

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x * x * ctx.scale, None


def test_function_basic_and_grad_fn():
    x = _t([1.0, 2.0])
    y = _Cube.apply(x, 2.0)
    assert y.grad_fn.name() == "_CubeBackward"
    assert type(y.grad_fn).__name__ == "_CubeBackward"
    assert y.grad_fn.next_functions[0][0].variable is x
    y.sum().backward()
    np.testing.assert_allclose(_np(x.grad), [6.0, 24.0])
    assert x.is_leaf


def test_function_forward_runs_without_grad_and_no_node_without_grad_inputs():
    seen = []

    class F(Function):
        @staticmethod
        def forward(ctx, x):
            seen.append(pyrch.is_grad_enabled())
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    y = F.apply(pyrch.ones(2))
    assert seen == [False] and not y.requires_grad and y.grad_fn is None
    with pyrch.no_grad():
        assert F.apply(_t([1.0])).grad_fn is None


def test_function_higher_order_grads():
    x = _t([1.0, 2.0, 3.0])
    y = _Cube.apply(x, 1.0).sum()
    (g,) = pyrch.autograd.grad(y, x, create_graph=True)
    (g2,) = pyrch.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(_np(g2), [6.0, 12.0, 18.0])


def test_function_gradcheck():
    x = _t([0.3, -1.2, 2.0])
    assert pyrch.autograd.gradcheck(lambda t: _Cube.apply(t, 0.5), (x,))
    assert pyrch.autograd.gradgradcheck(lambda t: _Cube.apply(t, 0.5), (x,))


def test_function_needs_input_grad_and_non_tensor_args():
    got = []

    class F(Function):
        @staticmethod
        def forward(ctx, a, k, b):
            got.append(ctx.needs_input_grad)
            return a * k + b

        @staticmethod
        def backward(ctx, g):
            got.append(ctx.needs_input_grad)
            return (g * 2 if ctx.needs_input_grad[0] else None), None, (g if ctx.needs_input_grad[2] else None)

    a, b = _t([1.0]), pyrch.tensor([2.0], dtype=pyrch.float64)
    F.apply(a, 2, b).sum().backward()
    assert got == [(True, False, False)] * 2
    np.testing.assert_allclose(_np(a.grad), [2.0])


def test_function_multiple_outputs(torch_or_skip):
    torch = torch_or_skip

    def make(lib):
        class Two(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * 2, x * x

            @staticmethod
            def backward(ctx, ga, gb):
                (x,) = ctx.saved_tensors
                return ga * 2 + gb * 2 * x
        return Two

    for use_both in (True, False):
        res = []
        for lib, dt in ((pyrch, pyrch.float64), (torch, torch.float64)):
            x = lib.tensor([1.0, -3.0], dtype=dt, requires_grad=True)
            a, b = make(lib).apply(x)
            loss = (a * 3).sum() + (b.sum() if use_both else 0)
            loss.backward()
            res.append(x.grad)
        np.testing.assert_allclose(_np(res[0]), res[1].numpy())
    a, b = make(pyrch).apply(_t([1.0]))
    assert a.grad_fn.name() == b.grad_fn.name() == "TwoBackward"


def test_function_materialize_grads():
    got = []

    def make(materialize):
        class F(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(materialize)
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, ga, gb):
                got.append(gb)
                return ga * 2
        return F

    a, _ = make(True).apply(_t([1.0]))
    a.sum().backward()
    np.testing.assert_allclose(_np(got[-1]), [0.0])
    a, _ = make(False).apply(_t([1.0]))
    a.sum().backward()
    assert got[-1] is None


def test_function_mark_non_differentiable():
    class SortIdx(Function):
        @staticmethod
        def forward(ctx, x):
            idx = pyrch.tensor(np.argsort(x.detach().numpy()))
            out = x * 1
            ctx.mark_non_differentiable(idx)
            return out, idx

        @staticmethod
        def backward(ctx, g, gidx):
            return g

    out, idx = SortIdx.apply(_t([3.0, 1.0]))
    assert out.requires_grad and not idx.requires_grad


def test_function_mark_dirty():
    class AddOne(Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    a = _t([1.0, 2.0])
    h = a * 2
    out = AddOne.apply(h)
    assert out is h and h.grad_fn.name() == "AddOneBackward"
    (out * out).sum().backward()
    np.testing.assert_allclose(_np(a.grad), 2 * 2 * (np.array([2.0, 4.0]) + 1))
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        AddOne.apply(_t([1.0]))


def test_function_returning_input_keeps_it_a_leaf():
    class Ident(Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 5

    x = _t([1.0])
    y = Ident.apply(x)
    assert y is not x and x.is_leaf and x.grad_fn is None
    y.sum().backward()
    np.testing.assert_allclose(_np(x.grad), [5.0])


def test_function_setup_context_style():
    class Mul(Function):
        @staticmethod
        def forward(a, b):
            return a * b

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(*inputs)

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * b, g * a

    a, b = _t([2.0]), _t([5.0])
    Mul.apply(a, b).sum().backward()
    np.testing.assert_allclose(_np(a.grad), [5.0])
    np.testing.assert_allclose(_np(b.grad), [2.0])


def test_function_saved_tensor_version_check_and_freeing():
    x = _t([1.0, 2.0])
    h = x * 1
    y = _Cube.apply(h, 1.0)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*_CubeBackward"):
        y.sum().backward()
    y = _Cube.apply(x, 1.0)
    y.sum().backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.sum().backward()


def test_function_backward_result_checks():
    def make(result):
        class Bad(Function):
            @staticmethod
            def forward(ctx, x, k):
                return x * k

            @staticmethod
            def backward(ctx, g):
                return result(g)
        return Bad

    x = _t([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(RuntimeError, match=r"returned an incorrect number of gradients \(expected 2, got 1\)"):
        make(lambda g: g).apply(x, 2).sum().backward()
    with pytest.raises(RuntimeError, match="gradient different than None at position 2"):
        make(lambda g: (g, g)).apply(x, 2).sum().backward()
    with pytest.raises(RuntimeError, match=r"invalid gradient at index 0 - got \[3\] but expected "
                                           r"shape compatible with \[2, 2\]"):
        make(lambda g: (pyrch.ones(3, dtype=pyrch.float64), None)).apply(x, 2).sum().backward()
    # extra trailing Nones are fine, and a broadcastable gradient is summed down
    make(lambda g: (pyrch.ones(3, 2, 2, dtype=pyrch.float32), None, None)).apply(x, 2).sum().backward()
    np.testing.assert_allclose(_np(x.grad), np.full((2, 2), 3.0))
    assert x.grad.dtype == pyrch.float64


def test_function_once_differentiable():
    from pyrch.autograd import once_differentiable

    class F(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            assert not pyrch.is_grad_enabled()
            return g * 2

    x = _t([1.0])
    (g,) = pyrch.autograd.grad(F.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(_np(g), [2.0])
    assert not g.requires_grad


def test_function_hooks_on_outputs():
    x = _t([1.0, 2.0])
    y = _Cube.apply(x, 1.0)
    y.register_hook(lambda g: g * 0)
    y.sum().backward()
    np.testing.assert_allclose(_np(x.grad), [0.0, 0.0])


# -- anomaly mode ----------------------------------------------------------------------------
def test_anomaly_names_the_backward_that_made_nan(torch_or_skip):
    torch = torch_or_skip
    a = pyrch.zeros(1, requires_grad=True)
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        with pyrch.autograd.detect_anomaly():
            b = a / a                    # 0/0 forward; its backward gives nan for the divisor
            with pytest.warns(UserWarning, match="(?s)Error detected in DivBackward0.*test_autograd.py"):
                with pytest.raises(RuntimeError) as err:
                    b.backward()
    assert not pyrch.autograd.is_anomaly_enabled()
    ta = torch.zeros(1, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.autograd.detect_anomaly():
            with pytest.raises(RuntimeError) as terr:
                (ta / ta).backward()
    assert str(err.value) == str(terr.value) == \
        "Function 'DivBackward0' returned nan values in its 1th output."


def test_anomaly_0th_output_and_set_detect_anomaly():
    a, b = pyrch.zeros(1, requires_grad=True), pyrch.zeros(1, requires_grad=True)
    with pyrch.autograd.set_detect_anomaly(True):
        assert pyrch.autograd.is_anomaly_enabled()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(RuntimeError, match=r"Function 'DivBackward0' returned nan values "
                                                   r"in its 0th output\."):
                (a / b).backward(pyrch.zeros(1))
    assert not pyrch.autograd.is_anomaly_enabled()
    pyrch.autograd.set_detect_anomaly(True)
    try:
        assert pyrch.autograd.is_anomaly_enabled()
    finally:
        pyrch.autograd.set_detect_anomaly(False)
    assert not pyrch.autograd.is_anomaly_enabled()


def test_anomaly_allows_inf_and_non_finite_forward_and_check_nan_off():
    b = pyrch.zeros(1, requires_grad=True)
    with pyrch.autograd.set_detect_anomaly(True):
        with warnings.catch_warnings():
            warnings.simplefilter("error")      # a -inf mask in forward is normal: no warning
            m = pyrch.tensor([0.0, float("-inf")])
            (b + m).exp().sum().backward()
            (1 / b).backward()                  # inf, not nan: torch lets it through
    assert np.isinf(_np(b.grad)).all()
    a = pyrch.zeros(1, requires_grad=True)
    with pyrch.autograd.set_detect_anomaly(True, check_nan=False):
        (a / a).backward()
    assert np.isnan(_np(a.grad)).all()


def test_anomaly_in_custom_function():
    class NanBack(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g * float("nan")

    x = _t([1.0])
    with pyrch.autograd.set_detect_anomaly(True):
        y = NanBack.apply(x)
        with pytest.warns(UserWarning, match="NanBackBackward"):
            with pytest.raises(RuntimeError, match="Function 'NanBackBackward' returned nan values"):
                y.sum().backward()


# -- in-place ops on views of tensors that take part in autograd (torch's CopySlices) --------
def _views_case(lib, name, x, w):
    if name == "row_iadd":
        y = x * 2
        y[0] += 1
        return y
    if name == "column_imul":
        y = x * w
        y[:, 1] *= w[:, 2]
        return y
    if name == "transposed_row":
        y = x * 3
        y.t()[1].mul_(w[1, :3])
        return y
    if name == "zero_tail":
        y = x * 1.5
        y[1:].zero_()
        return y
    if name == "view_then_reuse":
        y = x * 2
        v = y[:, :2]
        v.mul_(w[:, :2])
        return v.sum() * y
    if name == "flat_window":
        y = (x + w).clone()
        y.view(-1)[3:7].add_(x.view(-1)[:4] * 2)
        return y
    if name == "element_of_a_view":
        y = x * 2
        z = y[0]
        z += w[0]
        return z * y[0]
    raise KeyError(name)


@pytest.mark.parametrize("name", ["row_iadd", "column_imul", "transposed_row", "zero_tail",
                                  "view_then_reuse", "flat_window", "element_of_a_view"])
def test_inplace_on_a_view_matches_torch(name):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: optional cross-check")
    res = []
    for lib in (pyrch, torch):
        x = lib.tensor(np.arange(12, dtype=np.float64).reshape(3, 4) / 7, requires_grad=True)
        w = lib.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
        y = _views_case(lib, name, x, w)
        weights = lib.tensor(np.arange(1, 1 + y.numel(), dtype=np.float64).reshape(tuple(y.shape)))
        (y * weights).sum().backward()
        res.append([y.detach().numpy().copy()] +
                   [None if t.grad is None else t.grad.numpy().copy() for t in (x, w)])
    for a, b in zip(*res):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_inplace_on_a_view_keeps_torchs_errors():
    x = pyrch.randn(3, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        x[0].add_(1)
    y = x.exp()                                  # exp saves its output
    y[0].mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    z = (x * 2)[0].expand(3, 4)                  # overlapping elements: not a region
    with pytest.raises(RuntimeError, match="in-place"):
        z.add_(1)
    r = (x * 2).expand(2, 3, 4)[0]               # a region of an expanded view: fine
    r.add_(1)
    r.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.0)
