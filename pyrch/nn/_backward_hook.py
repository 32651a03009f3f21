"""Module full backward hooks, built from tensor hooks on identity views.

The module's tensor inputs and outputs are passed through a reshape to their
own shape (a view with its own autograd node); hooks on those nodes see the
gradients w.r.t. the outputs (grad_output) and then the inputs (grad_input),
and the module hooks run once all input gradients have arrived.
"""
from .._tensor import Tensor
from .._dispatch import state


class BackwardHook:
    """Collects grad_output/grad_input for one forward call and runs the module hooks."""

    def __init__(self, module, hooks):
        self.module, self.hooks = module, hooks
        self.grad_inputs = self.grad_outputs = None
        self.in_pending = self.out_pending = 0
        self.n_in = 0

    def setup_inputs(self, args):
        self.n_in = len(args)
        self.grad_inputs = [None] * len(args)
        if not state.grad_enabled:
            return args
        new = list(args)
        for i, a in enumerate(args):
            if isinstance(a, Tensor) and a.requires_grad:
                b = a.reshape(tuple(a.shape))
                b.register_hook(self._input_hook(i))
                new[i] = b
                self.in_pending += 1
        return tuple(new)

    def _input_hook(self, i):
        def hook(g):
            self.grad_inputs[i] = g
            self.in_pending -= 1
            if self.in_pending == 0:
                res = self._run()
                if res is not None:
                    return res[i]
            return None
        return hook

    def _run(self):
        gi = tuple(self.grad_inputs)
        go = tuple(self.grad_outputs or ())
        for h in self.hooks:
            r = h(self.module, gi, go)
            if r is not None:
                r = tuple(r) if isinstance(r, (tuple, list)) else (r,)
                if len(r) != len(gi):
                    raise RuntimeError(f"Backward hook returned an invalid number of grad_input, "
                                       f"got {len(r)}, but expected {len(gi)}")
                gi = r
        return gi

    def setup_outputs(self, out):
        if not state.grad_enabled:
            return out
        single = isinstance(out, Tensor)
        outs = [out] if single else list(out) if isinstance(out, (tuple, list)) else None
        if outs is None:
            return out
        self.grad_outputs = [None] * len(outs)
        for i, o in enumerate(outs):
            if isinstance(o, Tensor) and o.requires_grad:
                v = o.reshape(tuple(o.shape))
                v.register_hook(self._output_hook(i))
                outs[i] = v
                self.out_pending += 1
        if single:
            return outs[0]
        return type(out)(outs) if isinstance(out, tuple) and type(out) is tuple else \
            (type(out)(*outs) if isinstance(out, tuple) else outs)

    def _output_hook(self, i):
        def hook(g):
            self.grad_outputs[i] = g
            self.out_pending -= 1
            if self.out_pending == 0 and self.in_pending == 0:
                # no input needs a gradient: torch still calls the hook, with None inputs
                self._run()
            return None
        return hook
