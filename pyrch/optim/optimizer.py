"""Optimizer: parameter groups, per-parameter state, state_dict, zero_grad.

Each optimizer's update is a pure function over lists of tensors
(`_sgd_update(params, grads, bufs, *, lr, ...)`) that the class calls from
`step()`. The rules that keep a traced training step honest:

- the update runs under `no_grad` with pyrch ops and in-place writes
  (`p.add_`, `buf.mul_`, `copy_`), never `.data` or raw arrays, so a trace of
  the step records it (the eager C path in `_fused.py`, taken only when
  nothing observes ops, writes the same values straight into the arrays);
- hyperparameters (`lr`, betas, ...) are read from `param_groups` on every
  step and passed to the math as arguments, so a scheduler's new `lr`
  reaches the graph as a value, not a constant baked into Python code;
- the step count lives in `state[p]['step']`, a float32 0-dim tensor that
  `_bump_step` increments in place; bias corrections are computed from it by
  ops (Adam's in one, `_adam_scalars`), so a traced step reads the count live.
  That is the one place the count is read.

>>> import pyrch
>>> w = pyrch.tensor([1.0, 2.0], requires_grad=True)
>>> opt = pyrch.optim.SGD([w], lr=0.5)
>>> (w * w).sum().backward()
>>> opt.step()
>>> w
tensor([0., 0.], requires_grad=True)
"""
import copy
import functools
import warnings
from collections import defaultdict

from . import _fused

__all__ = ["Optimizer", "required"]


class _Required:
    """Marks a hyperparameter that has no default (torch's `optim.optimizer.required`)."""

    def __repr__(self):
        return "<required parameter>"


required = _Required()


def _pyrch():
    import pyrch
    return pyrch


def _init_state(state, param, names, step=False):
    """A parameter's first optimizer state, in torch's key order: a float32 0-dim `step`
    first when asked, then a zeros_like(param) buffer under each name."""
    pyrch = _pyrch()
    if step:
        state["step"] = pyrch.zeros((), dtype=pyrch.float32, device=param.device)
    for name in names:
        state[name] = pyrch.zeros_like(param)


def _bump_step(state, param):
    """Increment (creating if needed) this parameter's step count; return it as a tensor.

    NOTE: the count is a float32 0-dim tensor (torch's capturable layout)
    updated in place, so a traced step reads and advances it like any other
    state instead of baking the number in.
    """
    step = state.get("step")
    if step is None:
        step = state["step"] = _pyrch().zeros((), dtype=_pyrch().float32, device=param.device)
    if not _fused.bump(step):
        step.add_(1)
    return step


def _bias_correction(beta, step):
    """1 - beta ** step, as a float64 0-dim tensor computed from the step tensor."""
    return 1 - beta ** step.to(_pyrch().float64)


def _check_adam_args(lr, eps, betas, weight_decay):
    """torch's ValueErrors for the Adam family's hyperparameters."""
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def _use_grad(step):
    """Run an optimizer's `step` under no_grad (the closure, if any, runs with grad)."""
    @functools.wraps(step)
    def wrapper(self, closure=None):
        loss = None
        if closure is not None:
            with _pyrch().enable_grad():
                loss = closure()
        with _pyrch().no_grad():
            step(self)
        for hook in self._post_hooks.values():
            hook(self, (), {})
        return loss
    return wrapper


def _marks_called(step):
    """Wrap a subclass's step so schedulers can tell whether it ever ran."""
    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        self._opt_called = True
        return step(self, *args, **kwargs)
    wrapper._marks_called = True
    return wrapper


class Optimizer:
    """Base class: holds `param_groups` (dicts of hyperparameters) and `state[param]`."""

    _opt_called = False     # set by the first step(); a scheduler stepping first warns

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_marks_called", False):
            cls.step = _marks_called(step)

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        self._post_hooks = {}
        Tensor = _pyrch().Tensor
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, param_group):
        """Add a group of parameters (a dict with 'params' and optional hyperparameters)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        Tensor = _pyrch().Tensor
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        params = list(params)
        names = None
        if params and isinstance(params[0], tuple):          # named_parameters()
            names = [n for n, _ in params]
            params = [p for _, p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        group = dict(param_group)
        group["params"] = params
        if names is not None:
            group["param_names"] = names
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            group.setdefault(name, default)
        if len({id(p) for p in params}) != len(params):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in "
                          "future, this will cause an error; see "
                          "github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Reset every parameter's gradient: to None (default) or to zeros."""
        zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure=None):
        """Update every parameter that has a gradient (subclasses implement the math)."""
        raise NotImplementedError

    def register_step_post_hook(self, hook):
        """hook(optimizer, args, kwargs) runs after each step; returns a removable handle."""
        key = object()
        self._post_hooks[key] = hook
        return _Handle(self._post_hooks, key)

    # -- (de)serialization ---------------------------------------------------------------
    def state_dict(self):
        """{'state': {param index: state dict}, 'param_groups': [group with 'params': indices]}.

        Indices number the parameters across groups in order, as in torch, so a
        state dict from one model loads into an identically built one.
        """
        index = {}
        groups = []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            ids = []
            for p in g["params"]:
                if id(p) not in index:
                    index[id(p)] = len(index)
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                if p in self.state:
                    state[index[id(p)]] = self.state[p]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a state dict from `state_dict()`; tensors are copied to each parameter's device/dtype."""
        saved = copy.deepcopy(state_dict["param_groups"])
        if len(saved) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for ours, theirs in zip(self.param_groups, saved):
            if len(ours["params"]) != len(theirs["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group")
        by_index = {}
        for ours, theirs in zip(self.param_groups, saved):
            for i, p in zip(theirs["params"], ours["params"]):
                by_index[i] = p
        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            p = by_index.get(int(k))
            if p is None:
                continue
            state[p] = {name: _cast_state(p, name, value) for name, value in v.items()}
        new_groups = []
        for ours, theirs in zip(self.param_groups, saved):
            theirs["params"] = ours["params"]
            if "param_names" in ours and "param_names" not in theirs:
                theirs["param_names"] = ours["param_names"]
            for name, default in self.defaults.items():     # files from older versions
                theirs.setdefault(name, default)
            new_groups.append(theirs)
        self.state = state
        self.param_groups = new_groups

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.setdefault("_post_hooks", {})

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)

    def _repr_html_(self):
        from .._display import optimizer_html
        return optimizer_html(self)

    def _params_with_grad(self, group):
        """The group's parameters that have a gradient, with their grads and state dicts."""
        params, grads, states = [], [], []
        for p in group["params"]:
            if p.grad is not None:
                params.append(p)
                grads.append(p.grad)
                states.append(self.state[p])
        return params, grads, states


def zero_grads(params, set_to_none=True):
    """torch's zero_grad rule (Module.zero_grad and Optimizer.zero_grad share it): each
    .grad becomes None, or a detached grad zeroed in place."""
    for p in params:
        g = p.grad
        if g is None:
            continue
        if set_to_none:
            p.grad = None
            continue
        if g.grad_fn is not None:
            g.detach_()
        else:
            g.requires_grad_(False)
        g.zero_()


def _cast_state(param, name, value):
    """A private copy of a loaded state value, on the parameter's device (and dtype for floats)."""
    Tensor = _pyrch().Tensor
    if isinstance(value, Tensor):
        if name == "step":
            return value.to(dtype=_pyrch().float32, device=param.device).clone()
        if value.is_floating_point():
            return value.to(dtype=param.dtype, device=param.device).clone()
        return value.to(device=param.device).clone()
    if isinstance(value, dict):
        return {k: _cast_state(param, k, v) for k, v in value.items()}
    return copy.deepcopy(value)


class _Handle:
    def __init__(self, table, key):
        self.table, self.key = table, key

    def remove(self):
        self.table.pop(self.key, None)
