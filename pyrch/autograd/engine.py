"""The backward engine: iterative, dependency-counted reverse traversal.

No recursion anywhere, so a 100,000-op chain backpropagates. Gradients are
accumulated in a dict keyed by node identity; only leaves (and tensors that
asked to `retain_grad()`) get a `.grad`.
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


def _root_grads(tensors, grads, who):
    Tensor = _T[0]
    out = []
    grads = _as_tuple(grads) or (None,) * len(tensors)
    if len(grads) != len(tensors):
        raise RuntimeError(f"{who}: got {len(grads)} gradients for {len(tensors)} tensors")
    for t, g in zip(tensors, grads):
        if not t._rg:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if t._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            d = t._data
            g = Tensor._wrap(np.ones_like(d) if type(d) is np.ndarray else d.__class__(d.shape, d.dtype) + 1)
        elif not isinstance(g, Tensor):
            from .. import tensor
            g = tensor(g, dtype=t.dtype)
        elif g.shape != t.shape:
            raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of {g.shape} and "
                               f"output[0] has a shape of {t.shape}.")
        out.append(g)
    return out


def run_backward(roots, root_grads, retain_graph, create_graph, capture=None, accumulate=True):
    """Propagate `root_grads` from `roots` back through the graph.

    capture: ids of leaves/nodes whose total incoming gradient should be
    returned (for autograd.grad) instead of (or besides) accumulated.
    """
    deps = {}
    stack = []
    seen = set()
    grads = {}
    order = []
    for t, g in zip(roots, root_grads):
        e = t.grad_fn or t
        k = id(e)
        grads[k] = grads[k] + g if k in grads else g
        if k not in seen:
            seen.add(k)
            stack.append(e)
            order.append(e)
    # dependency counts: how many edges point at each node/leaf
    while stack:
        e = stack.pop()
        if type(e) is Node:
            for nxt in e.edges:
                if nxt is None:
                    continue
                k = id(nxt)
                deps[k] = deps.get(k, 0) + 1
                if k not in seen:
                    seen.add(k)
                    stack.append(nxt)
    ready = [e for e in order if deps.get(id(e), 0) == 0]
    captured = {}
    stored = set()
    prev = state.grad_enabled
    state.grad_enabled = bool(create_graph)
    anomaly = state.anomaly
    try:
        while ready:
            e = ready.pop()
            k = id(e)
            g = grads.pop(k, None)
            if g is None:
                continue
            if type(e) is not Node:  # a leaf tensor
                hooks = e._hooks
                if hooks:
                    for h in list(hooks):
                        r = h(g)
                        if r is not None:
                            g = r
                if capture is not None and k in capture:
                    captured[k] = g
                if accumulate:
                    _accumulate(e, g, create_graph, stored)
                continue
            if e._pre_hooks:
                for h in list(e._pre_hooks):
                    r = h(g)
                    if r is not None:
                        g = r
            if e._retain is not None:
                t = e._retain()
                if t is not None and t.grad_fn is e:
                    t._grad = g if create_graph else g.detach()
            if capture is not None and k in capture:
                captured[k] = g
                if capture.get("_only"):
                    # autograd.grad: still walk on in case other inputs lie further back
                    pass
            in_grads = e.apply(g, create_graph)
            if anomaly:
                _check_anomaly(e, in_grads)
            if e._hooks:
                for h in list(e._hooks):
                    h(tuple(in_grads), (g,))
            if not retain_graph:
                e.release()
            for nxt, ig in zip(e.edges, in_grads):
                if nxt is None:
                    continue
                k2 = id(nxt)
                if ig is not None:
                    prev_g = grads.get(k2)
                    grads[k2] = ig if prev_g is None else prev_g + ig
                d = deps[k2] - 1
                deps[k2] = d
                if d == 0:
                    ready.append(nxt)
    finally:
        state.grad_enabled = prev
    return captured


def _check_anomaly(node, in_grads):
    import numpy as np
    for i, ig in enumerate(in_grads):
        if ig is not None and ig._data.dtype.kind == "f":
            d = ig._data
            if not bool(np.isfinite(d).all() if type(d) is np.ndarray else d.all()):
                raise RuntimeError(f"Function '{node.op.node_name}' returned nan values in its "
                                   f"{i}th output.")


def _accumulate(leaf, g, create_graph, stored):
    if not create_graph:
        g = g.detach() if g._rg else g
    old = leaf._grad
    if old is None:
        # NOTE: the first gradient is stored without a copy unless another leaf
        # already holds the same buffer (add's backward hands `g` to both
        # inputs) or it is a view: `.grad` is later accumulated in place.
        d = g._data
        if g._base is not None or id(d) in stored or not d.flags.writeable or d.base is not None:
            g = g.clone()
            d = g._data
        stored.add(id(d))
        leaf.grad = g
    elif create_graph or old._rg:
        leaf.grad = old + g
    elif not state.hooks and old._data.shape == g._data.shape and old._data.flags.writeable:
        old._data += g._data      # the common case: plain in-place accumulation
        old._vc[0] += 1
    else:
        old.add_(g)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's `.grad`."""
    tensors = _as_tuple(tensors)
    grads = _root_grads(tensors, grad_tensors, "backward")
    if retain_graph is None:
        retain_graph = create_graph
    capture = None
    if inputs is not None:
        inputs = _as_tuple(inputs)
        capture = {id(t.grad_fn or t): True for t in inputs}
        capture["_only"] = True
        got = run_backward(tensors, grads, retain_graph, create_graph, capture, accumulate=False)
        for t in inputs:
            g = got.get(id(t.grad_fn or t))
            if g is not None:
                _accumulate(t, g, create_graph, set())
        return
    run_backward(tensors, grads, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """Return d(outputs)/d(inputs) without touching `.grad`."""
    from .. import zeros_like
    outputs = _as_tuple(outputs)
    single = not isinstance(inputs, (tuple, list))
    inputs = _as_tuple(inputs)
    for t in inputs:
        if not t._rg:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    grads = _root_grads(outputs, grad_outputs, "grad")
    if retain_graph is None:
        retain_graph = create_graph
    capture = {id(t.grad_fn or t): True for t in inputs}
    capture["_only"] = True
    got = run_backward(outputs, grads, retain_graph, create_graph, capture, accumulate=False)
    res = []
    for t in inputs:
        g = got.get(id(t.grad_fn or t))
        if g is None:
            if materialize_grads:
                g = zeros_like(t)
            elif not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been "
                                   "used in the graph. Set allow_unused=True if this is the "
                                   "desired behavior.")
        res.append(g)
    return tuple(res)
