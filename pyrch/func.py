"""Function transforms in the style of torch.func, built on pyrch's reverse-mode autograd.

grad / grad_and_value / vjp / jacrev / jacfwd / hessian differentiate with `autograd.grad`
on fresh stand-ins for the differentiated arguments, keeping the graph (create_graph) only
when the result depends on tensors from outside the transform, so transforms compose:
jacrev(jacrev(f)), grad inside grad. jacfwd computes the same Jacobian in reverse mode.
vmap runs the function once per index of the mapped dimension and stacks the results.
Arguments and results may be nested tuples, lists and dicts of tensors.
"""
from ._tensor import Tensor
from .autograd.grad_mode import enable_grad, is_grad_enabled
from .autograd.functional import _grad_some

__all__ = ["functional_call", "grad", "grad_and_value", "vjp", "jacrev", "jacfwd", "hessian", "vmap",
           "stack_module_state"]


# ---- pytrees: a spec is None for a leaf, else (container type, keys, child specs) ----

def _flatten(tree):
    """(leaves in order, spec) of a nested tuple/list/dict."""
    leaves = []

    def go(t):
        if isinstance(t, (tuple, list)):
            return (type(t), None, tuple(go(c) for c in t))
        if isinstance(t, dict):
            keys = tuple(t)
            return (type(t), keys, tuple(go(t[k]) for k in keys))
        leaves.append(t)
        return None
    return leaves, go(tree)


def _unflatten(leaves, spec):
    it = iter(leaves)

    def go(s):
        if s is None:
            return next(it)
        kind, keys, kids = s
        vals = [go(k) for k in kids]
        if keys is not None:
            return kind(zip(keys, vals))
        if kind is tuple or kind is list:
            return kind(vals)
        return kind(*vals)     # a namedtuple
    return go(spec)


def _spec_str(spec):
    if spec is None:
        return "*"
    kind, keys, kids = spec
    if keys is not None:
        return "{" + ", ".join(f"{k!r}: {_spec_str(s)}" for k, s in zip(keys, kids)) + "}"
    inner = ", ".join(_spec_str(s) for s in kids)
    if kind is list:
        return f"[{inner}]"
    return f"({inner},)" if len(kids) == 1 else f"({inner})"


def _leaves_of_prefix(prefix, tree):
    """One value of `prefix` per leaf of `tree`: a prefix leaf (int or None) covers a whole
    subtree. Raises ValueError where the structures disagree."""
    if prefix is None or isinstance(prefix, int):
        return [prefix] * len(_flatten(tree)[0])
    if isinstance(prefix, (tuple, list)) and isinstance(tree, (tuple, list)) and \
            type(prefix) is type(tree) and len(prefix) == len(tree):
        return [d for p, t in zip(prefix, tree) for d in _leaves_of_prefix(p, t)]
    if isinstance(prefix, dict) and isinstance(tree, dict) and set(prefix) == set(tree):
        return [d for k in tree for d in _leaves_of_prefix(prefix[k], tree[k])]
    raise ValueError("structure mismatch")


# ---- shared pieces of the differentiating transforms ----

def _norm_argnums(argnums, n):
    if isinstance(argnums, int) and not isinstance(argnums, bool):
        nums = (argnums,)
    elif isinstance(argnums, tuple) and all(isinstance(a, int) for a in argnums):
        if not argnums:
            raise RuntimeError("argnums must be non-empty")
        if len(set(argnums)) != len(argnums):
            raise RuntimeError(f"argnums elements must be unique, got {argnums}")
        nums = argnums
    else:
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    for a in nums:
        if not -n <= a < n:
            raise RuntimeError(f"Got argnum={a}, but only {n} positional inputs")
    return tuple(a % n for a in nums)


def _stand_in(t):
    """A new tensor object to differentiate with respect to: a view of `t` when `t` is itself
    being differentiated from outside, a detached leaf otherwise."""
    if not isinstance(t, Tensor):
        raise ValueError(f"Thing passed to transform API must be Tensor, got {type(t)}")
    return t.view_as(t) if t.requires_grad else t.detach().requires_grad_()


def _substitute(args, nums):
    """args with the trees at positions `nums` replaced by stand-ins; also those stand-ins
    (flat, in order) and each tree's spec."""
    args = list(args)
    flat, specs = [], []
    for n in nums:
        leaves, spec = _flatten(args[n])
        new = [_stand_in(t) for t in leaves]
        args[n] = _unflatten(new, spec)
        flat.extend(new)
        specs.append((len(new), spec))
    return args, flat, specs


def _regroup(grads, specs, single):
    """Rebuild per-argument trees from flat gradients (a bare tree when argnums was an int)."""
    out, i = [], 0
    for n, spec in specs:
        out.append(_unflatten(grads[i:i + n], spec))
        i += n
    return out[0] if single else tuple(out)


def _depends_on_outside(tensors, own):
    """Does any tensor's graph reach a tensor requiring grad other than the stand-ins `own`?"""
    own = {id(t) for t in own}
    seen = set()
    todo = [t for t in tensors if isinstance(t, Tensor) and t.requires_grad]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, Tensor):
            if e.grad_fn is None:
                if id(e) not in own:
                    return True
                continue
            e = e.grad_fn
        todo.extend(n for n in getattr(e, "edges", ()) if n is not None and id(n) not in seen)
    return False


def _detach_tree(tree, keep):
    if keep:
        return tree
    leaves, spec = _flatten(tree)
    return _unflatten([t.detach() if isinstance(t, Tensor) else t for t in leaves], spec)


def _split_aux(out, has_aux, who):
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(f"{who}: output of function f should be a tuple: (output, aux) if has_aux "
                           "is True")
    for t in _flatten(out[1])[0]:
        if not isinstance(t, Tensor):
            raise RuntimeError(f"Expected tensors, got unsupported type {type(t)}")
    return out


def _zeros_where_none(grads, refs):
    from . import zeros_like
    return [zeros_like(r) if g is None else g for g, r in zip(grads, refs)]


# ---- public transforms ----

def grad_and_value(func, argnums=0, has_aux=False):
    """Like `grad`, but the wrapped function returns (gradient, value), or
    ((gradient, (value, aux)) with has_aux.

    >>> import pyrch
    >>> pyrch.func.grad_and_value(lambda x: (x ** 2).sum())(pyrch.tensor([1., 2.]))
    (tensor([2., 4.]), tensor(5.))
    """
    def wrapper(*args, **kwargs):
        nums = _norm_argnums(argnums, len(args))
        outer = is_grad_enabled()
        with enable_grad():
            args, flat, specs = _substitute(args, nums)
            out, aux = _split_aux(func(*args, **kwargs), has_aux, "grad_and_value(f)(*args)")
            if not isinstance(out, Tensor):
                raise RuntimeError("grad_and_value(f)(*args): Expected f(*args) to return a Tensor, "
                                   f"got {type(out)}")
            if out.dim() != 0:
                raise RuntimeError("grad_and_value(f)(*args): Expected f(*args) to return a scalar "
                                   f"Tensor, got tensor with {out.dim()} dims. Maybe you wanted to use "
                                   "the vjp or jacrev APIs instead?")
            keep = outer and _depends_on_outside([out] + _flatten(aux)[0], flat)
            got = _grad_some((out,), flat, create_graph=keep)
        g = _regroup(_zeros_where_none(got, flat), specs, isinstance(argnums, int))
        value = out if keep else out.detach()
        if has_aux:
            return g, (value, _detach_tree(aux, keep))
        return g, value
    return wrapper


def grad(func, argnums=0, has_aux=False):
    """A function computing the gradient of scalar-valued `func` with respect to argument(s)
    `argnums` (each a tensor or a nested tuple/list/dict of tensors).

    >>> import pyrch
    >>> pyrch.func.grad(lambda x: (x ** 3).sum())(pyrch.tensor([1., 2.]))
    tensor([ 3., 12.])
    """
    gv = grad_and_value(func, argnums, has_aux)

    def wrapper(*args, **kwargs):
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return wrapper


def vjp(func, *primals, has_aux=False):
    """(func(*primals), vjp_fn[, aux]): vjp_fn(cotangents) returns the tuple of vector-Jacobian
    products, one per primal; it may be called more than once.

    >>> import pyrch
    >>> out, fn = pyrch.func.vjp(lambda x: x * x, pyrch.tensor([1., 2.]))
    >>> fn(pyrch.ones(2))
    (tensor([2., 4.]),)
    """
    outer = is_grad_enabled()
    with enable_grad():
        args, flat, specs = _substitute(primals, range(len(primals)))
        out, aux = _split_aux(func(*args), has_aux, "vjp(f, *primals)")
        out_leaves, out_spec = _flatten(out)
        for t in out_leaves:
            if not isinstance(t, Tensor):
                raise RuntimeError("vjp(f, *primals): expected f(*primals) to return only tensors, got "
                                   f"unsupported type {type(t)}")
        keep = outer and _depends_on_outside(out_leaves + _flatten(aux)[0], flat)

    def vjp_fn(cotangents):
        ct, ct_spec = _flatten(cotangents)
        if ct_spec != out_spec:
            raise RuntimeError("Expected pytree structure of cotangents to be the same as pytree "
                               f"structure of outputs to the function. cotangents: {_spec_str(ct_spec)}, "
                               f"primal output: {_spec_str(out_spec)}")
        for t in ct:
            if not isinstance(t, Tensor):
                raise RuntimeError(f"Expected tensors, got unsupported type {type(t)}")
        graph = is_grad_enabled() and (keep or any(t.requires_grad for t in ct))
        got = _grad_some(out_leaves, flat, ct, create_graph=graph, retain_graph=True)
        return _regroup(_zeros_where_none(got, flat), specs, False)

    res = (_detach_tree(out, keep), vjp_fn)
    return res + (_detach_tree(aux, keep),) if has_aux else res


def jacrev(func, argnums=0, has_aux=False, *, chunk_size=None, _preallocate_and_copy=False):
    """A function computing the Jacobian of `func` with respect to argument(s) `argnums`, one
    output element at a time: for output leaf o and input leaf x the block has shape
    o.shape + x.shape, nested as the outputs, then as the differentiated arguments.

    >>> import pyrch
    >>> pyrch.func.jacrev(lambda x: x ** 2)(pyrch.tensor([1., 2.]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")

    def wrapper(*args, **kwargs):
        from . import stack, zeros_like
        nums = _norm_argnums(argnums, len(args))
        outer = is_grad_enabled()
        with enable_grad():
            args, flat, specs = _substitute(args, nums)
            out, aux = _split_aux(func(*args, **kwargs), has_aux, "vjp(f, *primals)")
            out_leaves, out_spec = _flatten(out)
            for t in out_leaves:
                if not isinstance(t, Tensor):
                    raise RuntimeError("vjp(f, *primals): expected f(*primals) to return only tensors, "
                                       f"got unsupported type {type(t)}")
            keep = outer and _depends_on_outside(out_leaves + _flatten(aux)[0], flat)
            blocks = []
            for o in out_leaves:
                rows = [[] for _ in flat]
                o_flat = o.reshape(-1)
                for k in range(o.nelement()):
                    got = _grad_some((o_flat[k],), flat, create_graph=keep, retain_graph=True)
                    for r, g in zip(rows, _zeros_where_none(got, flat)):
                        r.append(g)
                jac = [(stack(r) if r else zeros_like(x).reshape(0, *x.shape)).reshape(*o.shape, *x.shape)
                       for r, x in zip(rows, flat)]
                blocks.append(_regroup(jac, specs, isinstance(argnums, int)))
        res = _unflatten(blocks, out_spec)
        return (res, _detach_tree(aux, keep)) if has_aux else res
    return wrapper


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """The Jacobian with torch.func.jacfwd's interface and result; computed in reverse mode.

    >>> import pyrch
    >>> pyrch.func.jacfwd(lambda x: x.sum() * x)(pyrch.tensor([1., 2.]))
    tensor([[4., 1.],
            [2., 5.]])
    """
    if randomness not in ("error", "different", "same"):
        raise RuntimeError("Only allowed values for randomness are 'error', 'different', or 'same'. "
                           f"Got {randomness}")
    return jacrev(func, argnums, has_aux)


def hessian(func, argnums=0):
    """The Hessian of scalar-valued `func`: the Jacobian of its gradient.

    >>> import pyrch
    >>> pyrch.func.hessian(lambda x: (x ** 3).sum())(pyrch.tensor([1., 2.]))
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    return jacfwd(jacrev(func, argnums), argnums)


# ---- vmap ----

def _fn_name(func):
    return getattr(func, "__name__", repr(func))


def _rng_state():
    from . import get_rng_state
    return get_rng_state()


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """Map `func` over dimension `in_dims` of its inputs, stacking results along `out_dims`.

    Runs `func` once per index of the mapped dimension (so any function of one example works,
    including other transforms). randomness="error" raises if `func` draws from the default
    generator, "same" replays one random state for every example, "different" does not.

    >>> import pyrch
    >>> pyrch.func.vmap(lambda x: x.sum())(pyrch.ones(3, 2))
    tensor([2., 2., 2.])
    """
    if randomness not in ("error", "different", "same"):
        raise RuntimeError("Only allowed values for randomness are 'error', 'different', or 'same'. "
                           f"Got {randomness}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")
    name = _fn_name(func)

    def wrapped(*args, **kwargs):
        from . import set_rng_state
        if not args:
            raise ValueError(f"vmap({name})(<inputs>): got no inputs. Maybe you forgot to add inputs, or "
                             "you are trying to vmap over a function with no inputs. The latter is "
                             "unsupported.")
        head = f"vmap({name}, in_dims={in_dims}, ...)(<inputs>)"
        if isinstance(in_dims, bool) or not isinstance(in_dims, (int, tuple)):
            raise ValueError(f"{head}: expected `in_dims` to be int or a (potentially nested) tuple "
                             f"matching the structure of inputs, got: {type(in_dims)}.")
        leaves, spec = _flatten(args)
        try:
            dims = _leaves_of_prefix(in_dims, args)
        except ValueError:
            raise ValueError(f"{head}: in_dims is not compatible with the structure of `inputs`. in_dims "
                             f"has structure {_spec_str(_flatten(in_dims)[1])} but inputs has structure "
                             f"{_spec_str(spec)}.") from None
        sizes, where = [], []
        for i, (t, d) in enumerate(zip(leaves, dims)):
            if d is None:
                continue
            if not isinstance(t, Tensor):
                raise ValueError(f"{head}: Got in_dim={d} for an input but the input is of type {type(t)}. "
                                 "We cannot vmap over non-Tensor arguments, please use None as the "
                                 "respective in_dim")
            nd = t.dim()
            if not -nd <= d < nd:
                raise ValueError(f"{head}: Got in_dim={d} for some input, but that input is a Tensor of "
                                 f"dimensionality {nd} so expected in_dim to satisfy -{nd} <= in_dim < {nd}.")
            d %= nd
            sizes.append(t.shape[d])
            where.append((i, d))
        if not where:
            raise ValueError("vmap: Expected at least one Tensor to vmap over")
        if len(set(sizes)) != 1:
            raise ValueError("vmap: Expected all tensors to have the same size in the mapped dimension, "
                             f"got sizes {sizes} for the mapped dimension")
        n = sizes[0]
        start = _rng_state() if randomness != "different" else None
        results = []
        for b in range(max(n, 1)):
            cur = list(leaves)
            for i, d in where:
                t = leaves[i]
                if n:
                    cur[i] = t.select(d, b)
                else:     # an empty batch: run once on zeros to learn the outputs' shapes
                    from . import zeros
                    cur[i] = zeros(*(s for k, s in enumerate(t.shape) if k != d), dtype=t.dtype,
                                   device=t.device)
            if randomness == "same":
                set_rng_state(start)
            results.append(func(*_unflatten(cur, spec), **kwargs))
            if randomness == "error":
                now = _rng_state()
                if not bool((now == start).all()):
                    raise RuntimeError("vmap: called random operation while in randomness error mode. "
                                       "Please either use the 'same' or 'different' randomness flags on "
                                       "vmap or perform the randomness operation out of vmap")
        return _stack_outputs(results, n, out_dims, name)
    return wrapped


def _stack_outputs(results, n, out_dims, name):
    from . import stack, equal
    if not (out_dims is None or isinstance(out_dims, (int, tuple, list))) or isinstance(out_dims, bool):
        raise ValueError(f"vmap({name}, ..., out_dims={out_dims}): `out_dims` must be an int, None or a "
                         "python collection of ints representing where in the outputs the vmapped "
                         "dimension should appear.")
    per_call = [_flatten(r) for r in results]
    leaves0, spec = per_call[0]
    try:
        dims = _leaves_of_prefix(out_dims, results[0])
    except ValueError:
        raise ValueError(f"vmap({name}, ..., out_dims={out_dims})(<inputs>): out_dims is not compatible "
                         f"with the structure of `outputs`. out_dims has structure "
                         f"{_spec_str(_flatten(out_dims)[1])} but outputs has structure "
                         f"{_spec_str(spec)}.") from None
    out = []
    for j, d in enumerate(dims):
        vals = [leaves[j] for leaves, _ in per_call]
        if d is None:
            if isinstance(vals[0], Tensor) and any(not equal(v, vals[0]) for v in vals[1:]):
                raise ValueError(f"vmap({name}, ...): `{name}` can not return a BatchedTensor when out_dim "
                                 "is None")
            out.append(vals[0])
            continue
        if not isinstance(vals[0], Tensor):
            raise ValueError(f"vmap({name}, ...): `{name}` must only return Tensors, got type "
                             f"{type(vals[0])}. Did you mean to set out_dims= to None for output?")
        if n == 0:
            v = vals[0]
            nd = v.dim() + 1
            if not -nd <= d < nd:
                raise IndexError(f"Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], "
                                 f"but got {d})")
            shape = list(v.shape)
            shape.insert(d % nd, 0)
            out.append(v.new_zeros(shape))
        else:
            out.append(stack(vals, dim=d))
    return _unflatten(out, spec)


# ---- modules as functions ----

def _owner(module, name):
    """(submodule, attribute name) for a dotted name."""
    *path, attr = name.split(".")
    for p in path:
        module = getattr(module, p)
    return module, attr


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True,
                    strict=False):
    """Call `module` with the given tensors in place of its parameters and buffers (by dotted
    name), restoring them afterwards; gradients flow to the given tensors.

    >>> import pyrch
    >>> lin = pyrch.nn.Linear(2, 1)
    >>> w = {"weight": pyrch.ones(1, 2), "bias": pyrch.zeros(1)}
    >>> pyrch.func.functional_call(lin, w, (pyrch.tensor([1., 2.]),))
    tensor([3.])
    """
    dicts = parameter_and_buffer_dicts
    if isinstance(dicts, dict):
        given = dict(dicts)
    elif isinstance(dicts, (list, tuple)):
        if not all(isinstance(d, dict) for d in dicts):
            raise ValueError("Expected all elements of parameter_and_buffer_dicts to be dictionaries")
        given = {}
        seen = set()
        dup = []
        for d in dicts:
            dup.extend(k for k in d if k in seen)
            seen.update(d)
            given.update(d)
        if dup:
            raise ValueError(f"{sorted(set(dup))} appeared in multiple dictionaries; behavior of "
                             "functional call is ambiguous")
    else:
        raise ValueError("Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but "
                         f"got {type(dicts)}")
    own = list(module.named_parameters(remove_duplicate=False)) + \
        list(module.named_buffers(remove_duplicate=False))
    if tie_weights:
        groups = {}
        for k, t in own:
            groups.setdefault(id(t), []).append(k)
        for names in groups.values():
            if len(names) < 2:
                continue
            have = [k for k in names if k in given]
            if not have:
                continue
            if any(given[k] is not given[have[0]] for k in have[1:]):
                raise ValueError(f"functional_call got multiple values for keys {sorted(have)}, which are "
                                 "tied. Consider using tie_weights=False")
            for k in names:
                given.setdefault(k, given[have[0]])
    if strict:
        names = {k for k, _ in own}
        unexpected = sorted(k for k in given if k not in names)
        missing = sorted(names - set(given))
        if unexpected or missing:
            msg = f"Error(s) in reparametrizing for {module._get_name()}:\n"
            if unexpected:
                msg += "\tUnexpected key(s): " + ", ".join(repr(k) for k in unexpected) + ".\n"
            if missing:
                msg += "\tMissing key(s): " + ", ".join(repr(k) for k in missing) + ".\n"
            raise RuntimeError(msg.rstrip("\n"))
    saved = []
    _nothing = object()
    try:
        for name, t in given.items():
            sub, attr = _owner(module, name)
            for store in (sub._parameters, sub._buffers, sub.__dict__):
                if attr in store:
                    saved.append((store, attr, store[attr]))
                    store[attr] = t
                    break
            else:
                saved.append((sub.__dict__, attr, _nothing))
                sub.__dict__[attr] = t
        if kwargs is None:
            kwargs = {}
        if not isinstance(args, tuple):
            args = (args,)
        return module(*args, **kwargs)
    finally:
        for store, attr, old in reversed(saved):
            if old is _nothing:
                del store[attr]
            else:
                store[attr] = old


def stack_module_state(models):
    """(params, buffers): each model's parameters and buffers stacked along a new leading dim,
    by name; stacked parameters are new leaves that require grad (as the originals do).

    >>> import pyrch
    >>> params, _ = pyrch.func.stack_module_state([pyrch.nn.Linear(2, 3) for _ in range(4)])
    >>> params["weight"].shape
    pyrch.Size([4, 3, 2])
    """
    from . import stack
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if any(m.training != models[0].training for m in models):
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")
    if any(type(m) is not type(models[0]) for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    all_params = [dict(m.named_parameters()) for m in models]
    params = {}
    for k in all_params[0]:
        ts = [p[k] for p in all_params]
        rg = [t.requires_grad for t in ts]
        if any(rg) and not all(rg):
            raise RuntimeError(f"Expected {k} from each model to have the same .requires_grad")
        params[k] = stack([t.detach() for t in ts]).requires_grad_(all(rg))
    all_bufs = [dict(m.named_buffers()) for m in models]
    buffers = {k: stack([b[k] for b in all_bufs]) for k in all_bufs[0]}
    return params, buffers

