"""The backward engine: iterative, dependency-counted reverse traversal.

No recursion anywhere, so a 100,000-op chain backpropagates. Gradients are
accumulated in a dict keyed by node identity; only leaves (and tensors that
asked to `retain_grad()`) get a `.grad`.

With `inputs` (autograd.grad, backward(inputs=...)) only the part of the graph
that leads to those inputs runs: other leaves get nothing and their hooks do
not fire, as in PyTorch.
"""
import numpy as np

from .._dispatch import state
from .node import Node, _T


def _as_tuple(x):
    if x is None:
        return ()
    if isinstance(x, (tuple, list)):
        return tuple(x)
    return (x,)


def _ones(d):
    """A fresh array of ones shaped and typed like `d` (the implicit root gradient)."""
    if type(d) is not np.ndarray:
        r = d.__class__(d.shape, d.dtype)     # cupy: uninitialised memory, so fill it
        r.fill(1)
        return r
    if not d.shape:
        return np.array(1, d.dtype)   # cheaper than ones_like for the usual 0-dim loss
    return np.ones(d.shape, d.dtype)


def _root_grads(tensors, grads, who):
    Tensor = _T[0]
    out = []
    grads = _as_tuple(grads) or (None,) * len(tensors)
    if len(grads) != len(tensors):
        raise RuntimeError(f"{who}: got {len(grads)} gradients for {len(tensors)} tensors")
    for i, (t, g) in enumerate(zip(tensors, grads)):
        if not t._rg:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if t._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = Tensor._wrap(_ones(t._data))
        elif not isinstance(g, Tensor):
            from .. import tensor
            g = tensor(g, dtype=t.dtype)
        elif g.shape != t.shape:
            raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and "
                               f"output[{i}] has a shape of {t.shape}.")
        out.append(g)
    return out


def _prune(starts, deps, targets):
    """Keep only the nodes on a path to a target: returns (their ids, recounted deps)."""
    left = dict(deps)
    order = []
    ready = [e for e in starts if id(e) not in left]
    while ready:           # Kahn's order: every node before the nodes it points at
        e = ready.pop()
        order.append(e)
        if isinstance(e, Node):
            for nxt in e.edges:
                if nxt is not None:
                    k = id(nxt)
                    left[k] -= 1
                    if left[k] == 0:
                        ready.append(nxt)
    needed = set()
    for e in reversed(order):
        if id(e) in targets or (isinstance(e, Node) and
                                any(n is not None and id(n) in needed for n in e.edges)):
            needed.add(id(e))
    deps = {}
    for e in order:
        if id(e) in needed and isinstance(e, Node):
            for nxt in e.edges:
                if nxt is not None and id(nxt) in needed:
                    deps[id(nxt)] = deps.get(id(nxt), 0) + 1
    return needed, deps


_callbacks = []   # one list per running backward (they can nest): run when it finishes


def queue_callback(fn):
    """Run `fn()` once the backward pass now running has finished (torch's
    `Variable._execution_engine.queue_callback`; DDP uses it to wait for its reductions)."""
    if not _callbacks:
        raise RuntimeError("Final callbacks can only be installed during backward pass.")
    _callbacks[-1].append(fn)


def _run_hooks(hooks, g):
    for h in list(hooks):
        r = h(g)
        if r is not None:
            g = r
    return g


def _retain(node, g, create_graph):
    t = node._retain()
    if t is not None and t.grad_fn is node:
        # a copy, so that accumulating into a leaf's .grad later cannot change it
        t._grad = g.clone() if t._grad is None else t._grad + g
        if not create_graph:
            t._grad = t._grad.detach()


def run_backward(roots, root_grads, retain_graph, create_graph, inputs=None, accumulate=True):
    """Propagate `root_grads` from `roots` back through the graph.

    Without `inputs`, every reached leaf accumulates its gradient into `.grad`.
    With `inputs`, only the graph leading to them runs; their gradients are
    returned as a list (and accumulated into their `.grad` if `accumulate`).
    """
    if inputs is None and len(roots) == 1:
        e = roots[0].grad_fn
        if e is not None and not state.anomaly:
            return _run_one(e, root_grads[0], retain_graph, create_graph)
    grads = {}
    starts = []
    for t, g in zip(roots, root_grads):
        e = t.grad_fn or t
        k = id(e)
        if k in grads:
            grads[k] = grads[k] + g
        else:
            grads[k] = g
            starts.append(e)
    # dependency counts: how many edges point at each node or leaf reachable from the roots
    deps = {}
    seen = set(map(id, starts))
    stack = starts[:]
    while stack:
        e = stack.pop()
        if isinstance(e, Node):
            for nxt in e.edges:
                if nxt is not None:
                    k = id(nxt)
                    if k in deps:
                        deps[k] += 1
                    else:
                        deps[k] = 1
                        if k not in seen:
                            seen.add(k)
                            stack.append(nxt)
    needed = targets = captured = None
    if inputs is not None:
        targets = {id(t.grad_fn or t): t for t in inputs}
        needed, deps = _prune(starts, deps, targets)
        captured = {}
    ready = [e for e in starts if id(e) not in deps]
    # buffers the user handed in never become a .grad without a copy
    stored = {id(root_grads[0]._data)} if len(root_grads) == 1 else {id(g._data) for g in root_grads}
    prev = state.grad_enabled
    state.grad_enabled = bool(create_graph)
    anomaly = state.anomaly
    _callbacks.append([])
    try:
        while ready:
            e = ready.pop()
            k = id(e)
            g = grads.pop(k, None)
            if not isinstance(e, Node):  # a leaf tensor
                if g is None:
                    continue
                if e._hooks:
                    g = _run_hooks(e._hooks, g)
                if targets is not None:
                    captured[k] = g
                    if not accumulate:
                        continue
                _accumulate(e, g, create_graph, stored)
                continue
            in_grads = None
            if g is not None:
                if e._pre_hooks:
                    g = _run_hooks(e._pre_hooks, g)
                if e._retain is not None:
                    _retain(e, g, create_graph)
                if targets is not None:
                    if k in targets:
                        captured[k] = g
                        if accumulate:
                            _accumulate(targets[k], g, create_graph, stored)
                    if not any(n is not None and id(n) in needed for n in e.edges):
                        continue   # nothing further back is wanted
                in_grads = _apply_node(e, g, create_graph, retain_graph, anomaly)
            else:
                # no gradient arrived (every path gave None): still release what waits on us
                in_grads = (None,) * len(e.edges)
            for nxt, ig in zip(e.edges, in_grads):
                if nxt is None:
                    continue
                k2 = id(nxt)
                if needed is not None and k2 not in needed:
                    continue
                if ig is not None:
                    prev_g = grads.get(k2)
                    grads[k2] = ig if prev_g is None else prev_g + ig
                d = deps[k2] - 1
                deps[k2] = d
                if d == 0:
                    ready.append(nxt)
        queued = _callbacks[-1]
        while queued:           # a callback may queue another
            queued.pop(0)()
    finally:
        state.grad_enabled = prev
        _callbacks.pop()
    if inputs is not None:
        return [captured.get(id(t.grad_fn or t)) for t in inputs]
    return None


def _apply_node(e, g, create_graph, retain_graph, anomaly):
    """Run node e's backward on g (checked in anomaly mode), then its post-hooks;
    free its saved values unless the graph is retained. Returns the input grads."""
    if anomaly:
        from .anomaly import checked_apply
        in_grads = checked_apply(e, g, create_graph)
    else:
        in_grads = e.apply(g, create_graph)
    if e._hooks:
        for h in list(e._hooks):
            r = h(tuple(in_grads), (g,))
            if r is not None:
                in_grads = list(r)
    if not retain_graph:
        e.release()
    return in_grads


def _run_one(root, g0, retain_graph, create_graph):
    """run_backward for the common case: one root with a grad_fn, no `inputs`, no anomaly
    mode. Same semantics as the general loop, with its bookkeeping cut to the minimum."""
    # dependency counts: how many edges point at each node or leaf reachable from the root
    deps = {}
    stack = [root]
    pop, push = stack.pop, stack.append
    while stack:
        for nxt in pop().edges:
            if nxt is not None:
                k = id(nxt)
                if k in deps:
                    deps[k] += 1
                else:
                    deps[k] = 1
                    if isinstance(nxt, Node):
                        push(nxt)
    grads = {id(root): g0}
    stored = {id(g0._data)}   # buffers the user handed in never become a .grad without a copy
    ready = [root]
    pop, push = ready.pop, ready.append
    prev = state.grad_enabled
    state.grad_enabled = bool(create_graph)
    queued = []
    _callbacks.append(queued)
    try:
        while ready:
            e = pop()
            g = grads.pop(id(e), None)
            if not isinstance(e, Node):  # a leaf tensor
                if g is not None:
                    if e._hooks:
                        g = _run_hooks(e._hooks, g)
                    old = e._grad
                    if old is not None and not create_graph and not g._rg and not old._rg \
                            and e._extra is None:
                        # the common case of _accumulate, inlined: add into .grad in place
                        od, gd = old._data, g._data
                        if type(od) is _ndarray and od.shape == gd.shape and od.flags.writeable \
                                and not state.hooks:
                            od += gd
                            old._vc[0] += 1
                            continue
                    _accumulate(e, g, create_graph, stored)
                continue
            edges = e.edges
            if g is not None:
                if e._pre_hooks:
                    g = _run_hooks(e._pre_hooks, g)
                if e._retain is not None:
                    _retain(e, g, create_graph)
                in_grads = _apply_node(e, g, create_graph, retain_graph, False)
                for nxt, ig in zip(edges, in_grads):
                    if nxt is None:
                        continue
                    k = id(nxt)
                    if ig is not None:
                        if k in grads:
                            grads[k] = grads[k] + ig
                        else:
                            grads[k] = ig
                    d = deps[k] - 1
                    if d:
                        deps[k] = d
                    else:
                        push(nxt)
            else:
                # no gradient arrived (every path gave None): still release what waits on us
                for nxt in edges:
                    if nxt is not None:
                        k = id(nxt)
                        d = deps[k] - 1
                        if d:
                            deps[k] = d
                        else:
                            push(nxt)
        while queued:           # a callback may queue another
            queued.pop(0)()
    finally:
        state.grad_enabled = prev
        _callbacks.pop()
    return None


_ndarray = np.ndarray


def _root(d):
    """The array that owns `d`'s memory."""
    while getattr(d, "base", None) is not None:
        d = d.base
    return d


def _private(d):
    """True when array `d` can become a `.grad` without a copy: contiguous, writeable,
    and its memory belongs to an array the engine made (owning its data)."""
    if type(d) is not np.ndarray:
        return d.base is None
    return d.flags.c_contiguous and d.flags.writeable and isinstance(_root(d), np.ndarray) \
        and _root(d).flags.owndata


def _accumulate(leaf, g, create_graph, stored):
    if not create_graph:
        g = g.detach() if g._rg else g
    old = leaf._grad
    if old is None:
        # NOTE: the first gradient is stored without a copy (it is accumulated into
        # in place later) unless its memory may be shared: another leaf already holds
        # the same buffer (add's backward hands `g` to both inputs), or it is not a
        # plain contiguous array the engine made (a broadcast view, a strided view).
        # A contiguous view of a fresh buffer (a weight gradient transposed back) is kept.
        d = g._data
        root = id(_root(d))
        if root in stored or not _private(d):
            g = g.clone()
            d = g._data
            root = id(d)
        stored.add(root)
        leaf.grad = g if g._base is None else g.detach()
    elif create_graph or old._rg:
        leaf.grad = old + g
    elif not state.hooks and old._data.shape == g._data.shape and \
            (old._data.flags.writeable if type(old._data) is _ndarray else True):
        old._data += g._data      # the common case: plain in-place accumulation
        old._vc[0] += 1
    else:
        old.add_(g)
    if leaf._extra is not None:      # register_post_accumulate_grad_hook's hooks
        for h in list(leaf._extra.get("post_accumulate_grad_hooks", ())):
            h(leaf)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's `.grad` (only `inputs`' if given).

    >>> import pyrch
    >>> x = pyrch.tensor([1.0, 2.0], requires_grad=True)
    >>> pyrch.autograd.backward((x * x).sum())
    >>> x.grad
    tensor([2., 4.])
    """
    if grad_tensors is None and inputs is None and type(tensors) is tuple and len(tensors) == 1:
        t = tensors[0]    # the common `loss.backward()`: skip the general set-up
        e = t.grad_fn
        if e is not None and t._rg and not state.anomaly:
            d = t._data
            if d.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            _run_one(e, _T[0]._wrap(_ones(d)), create_graph if retain_graph is None else retain_graph,
                     create_graph)
            return
    tensors = _as_tuple(tensors)
    grads = _root_grads(tensors, grad_tensors, "backward")
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None:
        inputs = _as_tuple(inputs)
        if not inputs:
            raise RuntimeError("backward() received an empty list of inputs")
        for t in inputs:
            if not t._rg:
                raise RuntimeError("One of the differentiated Tensors does not require grad")
    run_backward(tensors, grads, retain_graph, create_graph, inputs)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """Return d(outputs)/d(inputs) without touching any `.grad`.

    >>> import pyrch
    >>> x = pyrch.tensor(3.0, requires_grad=True)
    >>> pyrch.autograd.grad(x * x, x)
    (tensor(6.),)
    """
    from .. import zeros_like
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when "
                         "materialize_grads=True, but got: allow_unused=False.")
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    for t in inputs:
        if not t._rg:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    grads = _root_grads(outputs, grad_outputs, "grad")
    if retain_graph is None:
        retain_graph = create_graph
    got = run_backward(outputs, grads, retain_graph, create_graph, inputs, accumulate=False)
    res = []
    for t, g in zip(inputs, got):
        if g is None:
            if materialize_grads:
                g = zeros_like(t)
            elif not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been "
                                   "used in the graph. Set allow_unused=True if this is the "
                                   "desired behavior.")
        elif not create_graph and g._rg:
            g = g.detach()
        res.append(g)
    return tuple(res)
