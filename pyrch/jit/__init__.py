"""pyrch.jit: trace a function, a Module or a whole training step into an optimised graph.

    @jit.trace
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

How it runs. For each new *signature* (argument structure; each tensor's shape,
dtype, device and requires_grad; the values of non-tensor arguments; module
train/eval flags and parameter identity; grad mode):

1. the first call runs eagerly (a warm-up, so lazily created state such as
   optimizer moments exists);
2. the second call runs eagerly *and* records every op into a graph, which is
   optimised (dead code, common subexpressions, constants, algebraic
   identities, elementwise fusion, buffer reuse);
3. later calls replay the graph without running your Python code.

What that means for you:

- **Python side effects run only while tracing.** `print`, appending to a
  list, counters, logging: they happen on calls 1 and 2, never on replays.
  Return what you want to observe.
- **State is read by reference.** Parameters, buffers, `.grad` fields,
  optimizer moments, tensors in closures or globals: every replay reads their
  current values, and in-place updates to them (optimizer steps, running
  stats, `.grad` accumulation, `zero_grad`) are committed when a replay ends,
  exactly as eager mode would leave them.
- **Hyperparameters are live.** Floats in an optimizer's `param_groups` (lr,
  momentum, betas...) are graph inputs when an op consumes them directly, so a
  scheduler's new learning rate takes effect without a retrace. If Python
  arithmetic or a comparison consumed one first (`if momentum != 0`,
  `1 - dampening`), changing it retraces instead. Values read through
  `math.*` functions are baked in: pass hyperparameters to tensor ops.
- **Branches on tensors are guarded.** `if loss > 0:` records which way the
  branch went; a replay that would go the other way runs eagerly and records
  a second variant. `.item()`, `float()`, `.tolist()`, `.numpy()` raise
  `TraceError` showing your line and the fix; `@jit.trace(allow_scalars=True)`
  turns them into guards too. Iterating over a tensor is fine (it depends on
  the shape only), and printing a tensor shows its value at trace time.
- **Randomness is fresh.** Random ops draw from the live generator on every
  replay, in the same order as eager code, so `manual_seed` gives the same
  stream traced or not.
- **Outputs are fresh** tensors on every replay (nothing returned earlier is
  overwritten). Non-tensor outputs are those of the traced run.
- **Gradients flow through traced functions**: called on tensors that require
  grad, a replay returns outputs whose backward runs a derived, optimised
  backward graph (double backward through a traced function is not supported).
- **Modules**: `jit.trace(model, example_inputs)` returns a module-like object
  that uses the model's own parameters. Forward/backward hooks are Python and
  do not run on replay (a TracerWarning says so). Adding or replacing a
  parameter, buffer or submodule changes the signature, so the next call
  retraces; it never replays a stale graph.
- **In-place writes through views are recorded.** `y[0].mul_(5)`, `y[:, 1] += b`,
  `buf[1].add_(x)` become a write of the view's region into its base
  (`copy_slices`) followed by the view re-read from the new base, so replays
  and gradients match eager. Views taken earlier are re-read from the updated
  base, as the shared storage makes them in eager mode. A write through a view
  whose elements overlap (an expanded tensor) or through a view of a
  non-contiguous base raises `TraceError`, and so does reading such a view
  after its base changed.
- **On CUDA, replays become CUDA graphs** from the third call on: one
  launch per graph segment instead of one per kernel (cuBLAS calls run
  between segments). Data-dependent checks that need the host are not made
  inside a traced CUDA step: `embedding` with an out-of-range index gives a
  row of NaN there, where eager code raises (CPU replays still raise).
- Nested traced functions inline into the outer trace.

Escape hatches: `PYRCH_JIT=0` or `with jit.disabled():` run everything eagerly;
`f.graph_for(*args)` shows the graph; `f.stats` counts hits, misses and
retraces (with reasons); `@jit.trace(check=3)` runs eager alongside the first 3
replays and raises on the first graph node whose value diverges.
`jit.save(f, path)` / `jit.load(path)` store a traced graph (JSON + raw
buffers, no pickle) that runs without the original source.

>>> import pyrch
>>> from pyrch import jit
>>> @jit.trace
... def f(x):
...     return (x * 2).exp()
>>> x = pyrch.zeros(3)
>>> [f(x).tolist() for _ in range(3)][-1]
[1.0, 1.0, 1.0]
>>> f.stats.hits
1
"""
import contextlib

from .function import TracedFunction, Stats  # noqa: F401
from .ir import Graph, Node, Value, verify  # noqa: F401
from .module import TracedModule
from .serialize import save, load  # noqa: F401
from .tracer import TraceError, TracerWarning  # noqa: F401
from . import function as _function

__all__ = ["trace", "TraceError", "TracerWarning", "disabled", "disable", "save", "load",
           "TracedFunction", "TracedModule", "Graph", "verify"]


def trace(fn=None, example_inputs=None, *, allow_scalars=False, check=0, warmup=None):
    """Trace `fn` (a function or Module): decorator `@jit.trace` / `@jit.trace(check=2)`,
    or `jit.trace(fn_or_module, example_inputs)` to record right away (no warm-up)."""
    if fn is None:
        return lambda f: trace(f, example_inputs, allow_scalars=allow_scalars, check=check,
                               warmup=warmup)
    if warmup is None:
        warmup = example_inputs is None
    if isinstance(fn, (TracedFunction, TracedModule)):
        return fn
    kw = dict(allow_scalars=allow_scalars, check=check, warmup=warmup)
    if _function._is_module(fn):
        t = TracedModule(fn, **kw)
    else:
        t = TracedFunction(fn, **kw)
    if example_inputs is not None:
        args = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
        t(*args)
    return t


@contextlib.contextmanager
def disabled():
    """Run traced functions eagerly inside this block (like PYRCH_JIT=0)."""
    _function._DISABLED[0] += 1
    try:
        yield
    finally:
        _function._DISABLED[0] -= 1


disable = disabled
