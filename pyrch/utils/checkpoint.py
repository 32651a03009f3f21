"""Activation checkpointing: trade compute for memory.

`checkpoint(fn, *args)` runs `fn` without recording its graph, so none of its
intermediate activations are kept; the output gets one graph node that holds only
the inputs. Backward runs `fn` again with grad enabled (with the RNG state of the
first run, so dropout draws the same mask) and backpropagates through the fresh
graph: the inputs get their gradients from the node, parameters used inside `fn`
accumulate theirs into `.grad` during that nested backward.

NOTE: both `use_reentrant` variants work this way here (torch's reentrant design);
with use_reentrant=False the node is recorded even when no input requires grad, so
a checkpointed first layer still trains its parameters. As with torch's reentrant
variant, `autograd.grad` cannot return gradients of tensors used only inside `fn`
(they go to `.grad`), and double backward through a checkpoint is not supported.

>>> import pyrch
>>> from pyrch.utils.checkpoint import checkpoint
>>> x = pyrch.tensor([1.0, 2.0], requires_grad=True)
>>> checkpoint(lambda t: (t * t).sin(), x, use_reentrant=False).sum().backward()
>>> [round(v, 4) for v in x.grad.tolist()]
[1.0806, -2.6146]
"""
import warnings

from .._dispatch import state
from .._tensor import Tensor
from .._random import get_rng_state, set_rng_state
from ..autograd.function import Function

__all__ = ["checkpoint", "checkpoint_sequential"]


def _detached(args):
    """The tensor args detached (keeping requires_grad), other args as they are."""
    out = []
    for a in args:
        if isinstance(a, Tensor):
            d = a.detach()
            d.requires_grad_(a.requires_grad)
            out.append(d)
        else:
            out.append(a)
    return out


class _CheckpointFunction(Function):
    """forward(ctx, run, meta, *args): run the function under no_grad; backward replays it.
    `meta` holds what is not an input: the RNG state, kwargs, the non-tensor args and the
    number of trailing placeholder tensors (the always-on input of use_reentrant=False)."""

    @staticmethod
    def forward(ctx, run, meta, *args):
        ctx.run, ctx.meta = run, meta
        n_real = len(args) - meta["n_dummy"]
        ctx.save_for_backward(*[a for a in args[:n_real] if isinstance(a, Tensor)])
        ctx.others = [None if isinstance(a, Tensor) else a for a in args[:n_real]]
        if meta["rng"] is not None:
            meta["rng_state"] = get_rng_state()
        return run(*args[:n_real], **meta["kwargs"])

    @staticmethod
    def backward(ctx, *grads):
        from ..autograd import backward as _backward
        saved = iter(ctx.saved_tensors)
        args = [next(saved) if a is None else a for a in ctx.others]
        inputs = _detached(args)
        meta = ctx.meta
        prev = state.grad_enabled
        state.grad_enabled = True
        try:
            if meta["rng"] is not None:
                outer = get_rng_state()
                set_rng_state(meta["rng_state"])
                try:
                    outs = ctx.run(*inputs, **meta["kwargs"])
                finally:
                    set_rng_state(outer)
            else:
                outs = ctx.run(*inputs, **meta["kwargs"])
        finally:
            state.grad_enabled = prev
        outs = outs if isinstance(outs, tuple) else (outs,)
        roots, root_grads = [], []
        for o, g in zip(outs, grads):
            if isinstance(o, Tensor) and o.requires_grad and g is not None:
                roots.append(o)
                root_grads.append(g)
        if not roots:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is "
                               "not necessary")
        _backward(tuple(roots), tuple(root_grads))
        res = [None, None]
        for a in inputs:
            res.append(a.grad if isinstance(a, Tensor) else None)
        return tuple(res) + (None,) * meta["n_dummy"]


def checkpoint(function, *args, use_reentrant=None, context_fn=None, determinism_check="default",
               debug=False, preserve_rng_state=True, **kwargs):
    """Call `function(*args, **kwargs)` keeping no intermediate activations; backward
    recomputes them. Pass `use_reentrant` explicitly (leaving it out warns, as in torch)."""
    if use_reentrant is None:
        warnings.warn(
            "pyrch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. "
            "use_reentrant=False is recommended, but if you need to preserve the current "
            "default behavior, you can pass use_reentrant=True. Refer to docs for more "
            "details on the differences between the two variants.", stacklevel=2)
        use_reentrant = False
    if use_reentrant:
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
        if state.grad_enabled and not any(isinstance(a, Tensor) and a.requires_grad
                                          for a in args):
            warnings.warn("None of the inputs have requires_grad=True. Gradients will be None",
                          stacklevel=2)
    meta = {"rng": True if preserve_rng_state else None, "kwargs": kwargs,
            "n_dummy": 0 if use_reentrant else 1}
    extra = ()
    if not use_reentrant and state.grad_enabled:
        # a placeholder that requires grad, so the node exists for parameters used inside
        from .._creation import zeros
        extra = (zeros(()).requires_grad_(),)
    elif not use_reentrant:
        meta["n_dummy"] = 0
    return _CheckpointFunction.apply(function, meta, *args, *extra)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Run a Sequential (or list of modules/functions) in `segments` chunks, each but the
    last checkpointed; returns the output of the whole chain."""
    if use_reentrant is None:
        warnings.warn(
            "pyrch.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should be "
            "passed explicitly. use_reentrant=False is recommended, but if you need to preserve "
            "the current default behavior, you can pass use_reentrant=True. Refer to docs for "
            "more details on the differences between the two variants.", stacklevel=2)
        use_reentrant = False
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    from ..nn import Sequential
    if isinstance(functions, Sequential):
        functions = list(functions.children())
    functions = list(functions)

    def run_range(start, end):
        def run(x):
            for j in range(start, end + 1):
                x = functions[j](x)
            return x
        return run

    size = len(functions) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run_range(start, end), input, use_reentrant=use_reentrant,
                           preserve_rng_state=preserve)
    return run_range(end + 1, len(functions) - 1)(input)
