"""`TracedFunction`: the cache of recorded graphs behind `@jit.trace`, and replay.

Per cache key: call 1 runs eagerly (warm-up), call 2 runs eagerly and records,
later calls replay a compiled variant. A key can hold several variants (one per
branch pattern of `bool(tensor)` guards); a replay whose guards fail runs
eagerly and records a new variant.
"""
import functools
import gc
import inspect
import weakref
import sys
import warnings

import numpy as np

from .._config import flags
from .._dispatch import state
from .._tensor import Tensor
from .replay import Fail as _Fail, Variant as _Variant, unflatten  # noqa: F401
from .tracer import (Tracer, TracerWarning, recording, unwrap_hyperparams,  # noqa: F401
                     wrap_hyperparams, _hp_value)

RETRACE_WARN = 8
_MISSING = object()
_DISABLED = [0]


def _run(fn, args, kwargs):
    return fn(*args, **kwargs)


_RUN_CODE = _run.__code__


# -- pytrees --------------------------------------------------------------------------------
def flatten(obj, path, leaves, paths):
    """Append obj's leaves (and their dotted paths); return the tree structure."""
    t = type(obj)
    if t is tuple or t is list:
        return (t, tuple(flatten(x, f"{path}.{i}" if path else str(i), leaves, paths)
                         for i, x in enumerate(obj)))
    if t is dict:
        keys = tuple(obj)
        return (dict, keys, tuple(flatten(obj[k], f"{path}.{k}" if path else str(k), leaves, paths)
                                  for k in keys))
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return (t, tuple(flatten(x, f"{path}.{f}", leaves, paths) for f, x in zip(obj._fields, obj)))
    leaves.append(obj)
    paths.append(path)
    return None


_LEAF_TYPES = (int, float, bool, str, type(None))


def flatten_call(args, kwargs):
    """(tree, leaves) of a call; a flat tuple of tensors/numbers takes a fast path."""
    if not kwargs:
        for a in args:
            if type(a) is not Tensor and type(a) not in _LEAF_TYPES:
                break
        else:
            return ("flat", len(args)), list(args)
    leaves = []
    return flatten((args, kwargs), "", leaves, []), leaves


def call_paths(tree, args, kwargs):
    """The dotted paths ("0.1", "1.lr") of a call's leaves, as flatten() names them."""
    if tree[0] == "flat":
        return [f"0.{i}" for i in range(tree[1])]
    paths = []
    flatten((args, kwargs), "", [], paths)
    return paths


def _is_module(x):
    return hasattr(x, "named_parameters") and hasattr(x, "training") and hasattr(x, "modules")


def _is_optimizer(x):
    return isinstance(getattr(x, "param_groups", None), list) and hasattr(x, "state")


class Stats:
    """Cache statistics of one traced function (`f.stats`)."""

    def __init__(self):
        self.hits = self.misses = self.warmups = self.traces = 0
        self.retraces = []          # reasons, in order

    def __repr__(self):
        return (f"Stats(hits={self.hits}, misses={self.misses}, warmups={self.warmups}, "
                f"traces={self.traces}, retraces={len(self.retraces)})")


class TracedFunction:
    """A function whose calls are recorded once per signature and replayed after."""

    def __init__(self, fn, *, allow_scalars=False, check=0, warmup=True, name=None):
        self.fn = fn
        self.allow_scalars = allow_scalars
        self.check = int(check or flags.check)
        self.warmup = warmup
        self.name = name or getattr(fn, "__name__", "traced")
        self.stats = Stats()
        self._cache = {}
        self._scan = None
        self._warned = False
        self._arg_names = _arg_names(fn)
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn

    # -- the call path ----------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if not flags.jit or _DISABLED[0] or state.tracer is not None:
            return self.fn(*args, **kwargs)     # disabled, or nested: inline into the outer trace
        tree, leaves = flatten_call(args, kwargs)
        scan = self._scanned(leaves)
        key = self._key(tree, leaves, scan)
        entry = self._cache.get(key)
        if entry is None:
            self.stats.misses += 1
            paths = call_paths(tree, args, kwargs)
            if self._cache:
                self._note_retrace(f"new signature: {self._describe_key(key, paths)}")
            entry = self._cache[key] = _Entry(paths)
        if not entry.variants:
            if entry.calls == 0 and self.warmup:
                entry.calls += 1
                self.stats.warmups += 1
                return self.fn(*args, **kwargs)
            return self._record(entry, args, kwargs, leaves, entry.paths, scan)
        reason = None
        for var in entry.variants:
            if self.check > 0:
                self.check -= 1
                res = self._checked(var, args, kwargs, leaves, scan)
            else:
                res = var.replay(leaves)
            if not isinstance(res, _Fail):
                self.stats.hits += 1
                return res
            reason = res.reason
        self._note_retrace(reason)
        return self._record(entry, args, kwargs, leaves, entry.paths, scan)

    def _note_retrace(self, reason):
        self.stats.retraces.append(reason)
        if flags.debug >= 1:
            print(f"[pyrch.jit] {self.name}: retrace ({reason})", file=sys.stderr)
        if len(self.stats.retraces) >= RETRACE_WARN and not self._warned:
            self._warned = True
            warnings.warn(f"pyrch.jit: {self.name} was retraced {len(self.stats.retraces)} times; "
                          f"what varies: {self._varying()}. Each retrace records and compiles "
                          "again; keep shapes and Python arguments fixed (pad batches, pass "
                          "changing numbers as tensors).", TracerWarning, stacklevel=3)

    def _varying(self):
        keys = list(self._cache)
        entries = list(self._cache.values())
        if not keys:
            return "nothing"
        parts = []
        n = min(len(k[1]) for k in keys)
        for i in range(n):
            vals = {k[1][i] for k in keys}
            if len(vals) > 1:
                name = self._input_name(entries[0].paths[i]) if i < len(entries[0].paths) else f"leaf {i}"
                shown = sorted({_describe_leaf(v) for v in vals})[:6]
                parts.append(f"{name} ({', '.join(shown)})")
        if len({k[0] for k in keys}) > 1:
            parts.append("argument structure")
        if len({k[2] for k in keys}) > 1:
            parts.append("grad mode")
        if len({k[3] for k in keys}) > 1:
            parts.append("module train/eval flags or parameters")
        if not parts:
            parts.append("branch guards (bool(tensor) took different values)")
        return "; ".join(parts)

    # -- the cache key ------------------------------------------------------------------
    def _key(self, tree, leaves, scan):
        sig = []
        seen = {}
        for i, x in enumerate(leaves):
            if isinstance(x, Tensor):
                d = x._data
                j = seen.setdefault(id(x), i)
                sig.append((d.shape, d.dtype, type(d), x._rg, j))
            elif x is None or type(x) in (int, float, bool, str):
                sig.append((type(x), x))
            elif _is_module(x) or _is_optimizer(x):
                sig.append(("obj", id(x)))
            else:
                try:
                    hash(x)
                    sig.append((type(x), x))
                except TypeError:
                    sig.append(("id", id(x)))
        return (tree, tuple(sig), state.grad_enabled, _module_sig(scan))

    def _describe_key(self, key, paths):
        return ", ".join(f"{p or 'arg'}: {_describe_leaf(s)}" for p, s in zip(paths, key[1])) or "()"

    # -- discovering modules and optimizers --------------------------------------------
    def _scanned(self, leaves):
        scan = self._scan
        if scan is not None:
            stale = scan.stale()
            if stale is None:
                extra = [x for x in leaves if type(x) is not Tensor and not isinstance(x, Tensor)
                         and (_is_module(x) or _is_optimizer(x))]
                if not extra or all(any(x is y for y in scan.objects) for x in extra):
                    return scan
            else:
                # a global or closure variable the code reads now names another object:
                # every recorded graph may refer to the old one
                self._cache.clear()
                self._note_retrace(f"{stale} was rebound")
        self._scan = scan = _Scan(self.fn, leaves, self._arg_names)
        return scan

    # -- recording ---------------------------------------------------------------------
    def _record(self, entry, args, kwargs, leaves, paths, scan):
        scan.refresh()
        tr = Tracer(self.name, self.allow_scalars, scan.names, scan.grad_owner, _RUN_CODE,
                    scan.scopes)
        input_leaf = []
        for i, (x, p) in enumerate(zip(leaves, paths)):
            if isinstance(x, Tensor) and id(x) not in tr.vals:
                tr.add_input(x, self._input_name(p))
                input_leaf.append(i)
        for m in scan.modules:
            _warn_hooks(m)
        undo = wrap_hyperparams(scan.optimizers, tr)
        # NOTE: recording allocates many small objects that all stay alive until the
        # graph is built; the cyclic GC would rescan them repeatedly for nothing.
        gc_on = gc.isenabled()
        gc.disable()
        try:
            with recording(tr):
                out = _run(self.fn, args, kwargs)
            unwrap_hyperparams(undo)
            undo = ()
            lazy = scan.created_during(tr.born)
            if lazy:
                # state (optimizer moments, lazily built buffers) appeared during this
                # run: it was recorded as constants. Treat the run as the warm-up.
                entry.calls += 1
                self.stats.warmups += 1
                return out
            out_leaves = []
            out_tree = flatten(out, "", out_leaves, [])
            graph = tr.finish(out_leaves)
            var = _Variant(self, graph, tr, input_leaf, leaves, out_leaves, out_tree)
        finally:
            unwrap_hyperparams(undo)
            if gc_on:
                gc.enable()
        entry.variants.insert(0, var)
        self.stats.traces += 1
        if flags.debug >= 1:
            print(f"[pyrch.jit] traced {self.name}: {len(graph.nodes)} ops, "
                  f"{len(var.plan.steps)} steps after passes", file=sys.stderr)
        return out

    def _input_name(self, path):
        head, _, rest = path.partition(".")   # "0.2.x" -> args[2] -> its parameter name
        if head == "0":
            i, _, rest2 = rest.partition(".")
            name = self._arg_names[int(i)] if i.isdigit() and int(i) < len(self._arg_names) else f"arg{i}"
            return name + ("." + rest2 if rest2 else "")
        if head == "1":
            return rest
        return path or "x"

    # -- checking ---------------------------------------------------------------------
    def _checked(self, var, args, kwargs, leaves, scan):
        from .check import checked_replay
        return checked_replay(self, var, args, kwargs, leaves, scan)

    # -- introspection ----------------------------------------------------------------
    def graph_for(self, *args, optimized=True, **kwargs):
        """The IR this function replays for these arguments (None before it is traced)."""
        tree, leaves = flatten_call(args, kwargs)
        entry = self._cache.get(self._key(tree, leaves, self._scanned(leaves)))
        if entry is None or not entry.variants:
            return None
        v = entry.variants[0]
        return v.opt if optimized else v.graph

    def executors(self):
        """The executors of every compiled variant, forward and derived backward (for
        profiles and tests: `ex.cuda` is the CudaExecutor of a plan that ran on a GPU)."""
        out = []
        for entry in self._cache.values():
            for v in entry.variants:
                out.append(v.executor)
                if getattr(v, "bwd", None) is not None:
                    out.append(v.bwd.executor)
        return out

    def __get__(self, obj, objtype=None):
        """`@jit.trace` on a method: one traced function (and cache) per instance."""
        if obj is None:
            return self
        bound = self.__dict__.get("_bound")
        if bound is None:
            bound = self.__dict__["_bound"] = weakref.WeakKeyDictionary()
        try:
            tf = bound.get(obj)
        except TypeError:          # not weak-referenceable: trace per call site instead
            return functools.partial(self, obj)
        if tf is None:
            tf = bound[obj] = TracedFunction(functools.partial(self.fn, obj),
                                             allow_scalars=self.allow_scalars, check=self.check,
                                             warmup=self.warmup, name=self.name)
            tf._arg_names = self._arg_names[1:]
        return tf

    def __repr__(self):
        return f"<traced function {self.name} ({self.stats})>"


class _Entry:
    __slots__ = ("calls", "variants", "paths")

    def __init__(self, paths):
        self.calls, self.variants, self.paths = 0, [], paths


def _describe_leaf(s):
    if isinstance(s, tuple) and len(s) == 5 and isinstance(s[0], tuple):
        dt = np.dtype(s[1]).name
        return f"{dt}{list(s[0])}" + (" requires_grad" if s[3] else "")
    if isinstance(s, tuple) and len(s) == 2 and s[0] in ("obj", "id"):
        return "object"
    if isinstance(s, tuple) and len(s) == 2:
        return repr(s[1])
    return repr(s)


def _arg_names(fn):
    try:
        return [p.name for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []


def _warn_hooks(m):
    for sub in m.modules():
        d = sub.__dict__
        if d.get("_forward_hooks") or d.get("_forward_pre_hooks") or d.get("_backward_hooks"):
            warnings.warn(f"pyrch.jit: module {type(sub).__name__} has hooks registered; hooks are "
                          "Python code and run only while tracing, not on replay",
                          TracerWarning, stacklevel=5)
            return


def _module_sig(scan):
    """Train/eval flags and parameter/buffer/submodule identity of every reachable module,
    plus optimizer group identity: part of the cache key, so mutating a model retraces."""
    if not scan.modules and not scan.optimizers:
        return ()
    out = []
    add, add_all = out.append, out.extend
    # (runs on every call of a traced function: bound methods and no per-module
    # generator: 9.5 -> 2.8 us for the MLP benchmark's six modules)
    for m in scan.modules:
        stack = [m]
        pop, push = stack.pop, stack.extend
        while stack:
            mod = pop()
            if mod is None:                 # a submodule slot set to None
                add(0)
                continue
            d = mod.__dict__
            ps, bs, ms = d.get("_parameters"), d.get("_buffers"), d.get("_modules")
            if ps is None or bs is None or ms is None:      # not a pyrch.nn.Module: public API
                add(tuple(s.training for s in mod.modules()))
                add_all(map(id, mod.parameters()))
                add_all(map(id, mod.buffers()))
                continue
            add(d.get("training"))
            if ps:
                add_all(map(id, ps.values()))
            add(None)
            if bs:
                add_all(map(id, bs.values()))
            add(len(ms))
            if ms:
                push(ms.values())
    for o in scan.optimizers:
        out.append(id(o.state))
        for g in o.param_groups:
            out.append(id(g))
            out.append(len(g["params"]))
    return tuple(out)


class _Scan:
    """Modules and optimizers a function can reach: through its arguments, `self`,
    closure cells and the globals its code names (one attribute level deep)."""

    def __init__(self, fn, leaves, arg_names):
        self.globals_used, self.cells = [], []
        found = []
        seen = set()

        tensors = []

        def visit(x, name, depth):
            if isinstance(x, Tensor):
                tensors.append((x, name))
                return
            if id(x) in seen or isinstance(x, (int, float, str, bytes, type(None))):
                return
            seen.add(id(x))
            if _is_module(x) or _is_optimizer(x):
                found.append((x, name))
                return
            if depth > 0:
                if inspect.isfunction(x):
                    scan_code(x, depth - 1)
                elif isinstance(x, (list, tuple)):
                    for i, y in enumerate(x[:64]):
                        visit(y, f"{name}.{i}", depth - 1)
                elif isinstance(x, dict) and len(x) <= 64:
                    for k, y in x.items():
                        visit(y, f"{name}.{k}", depth - 1)
                elif hasattr(x, "__dict__") and not inspect.ismodule(x) and not isinstance(x, type):
                    for k, y in list(vars(x).items())[:64]:
                        visit(y, k, depth - 1)

        def scan_code(f, depth):
            f = inspect.unwrap(f) if inspect.isfunction(f) else f
            if hasattr(f, "__self__"):
                visit(f.__self__, "self", depth + 1)
            code = getattr(f, "__code__", None)
            if code is None:
                return
            g = getattr(f, "__globals__", {})
            codes = [code]
            while codes:
                c = codes.pop()
                for nm in c.co_names:
                    if nm in g:
                        obj = g[nm]
                        if not inspect.ismodule(obj) and not isinstance(obj, type):
                            self.globals_used.append((g, nm, obj))
                            visit(obj, nm, depth)
                codes.extend(k for k in c.co_consts if hasattr(k, "co_names"))
            names = code.co_freevars
            for nm, cell in zip(names, f.__closure__ or ()):
                try:
                    obj = cell.cell_contents
                except ValueError:
                    continue
                self.cells.append((cell, obj))
                visit(obj, nm, depth)

        target = fn
        while isinstance(target, functools.partial):
            for a in target.args:
                visit(a, "self", 2)
            target = target.func
        for i, x in enumerate(leaves):
            visit(x, arg_names[i] if i < len(arg_names) else f"arg{i}", 1)
        scan_code(target, 2)
        self.objects = [x for x, _ in found]
        self.tensors = tensors
        self.modules = [x for x, _ in found if _is_module(x)]
        self.optimizers = [x for x, _ in found if _is_optimizer(x)]
        self._mod_names = [n for x, n in found if _is_module(x)]
        self.names, self.grad_owner, self.scopes = {}, {}, {}

    def created_during(self, born):
        """True if a module buffer/parameter or optimizer state tensor was created in the run."""
        for m in self.modules:
            for t in m.parameters():
                if id(t) in born:
                    return True
            for t in m.buffers():
                if id(t) in born:
                    return True
        for o in self.optimizers:
            for st in o.state.values():
                if isinstance(st, dict):
                    for t in st.values():
                        if isinstance(t, Tensor) and id(t) in born:
                            return True
        return False

    def stale(self):
        """The name of a global or closure variable rebound since the scan, else None."""
        for g, nm, obj in self.globals_used:
            if g.get(nm, _MISSING) is not obj:
                return f"global {nm!r}"
        for cell, obj in self.cells:
            try:
                if cell.cell_contents is not obj:
                    return "a closure variable"
            except ValueError:
                return "a closure variable"
        return None

    def refresh(self):
        """Names, scopes and grad owners as they are now (called before recording)."""
        names, owner, scopes = {}, {}, {}
        multi = len(self.modules) > 1
        params = []
        for m, mname in zip(self.modules, self._mod_names):
            prefix = mname + "." if multi else ""
            for path, sub in m.named_modules():
                scopes.setdefault(id(sub), prefix + path if path else (mname if multi else ""))
            for pn, p in m.named_parameters():
                names.setdefault(id(p), prefix + pn)
                params.append(p)
            for bn, b in m.named_buffers():
                names.setdefault(id(b), prefix + bn)
        for k, o in enumerate(self.optimizers):
            for gi, group in enumerate(o.param_groups):
                for pi, p in enumerate(group["params"]):
                    names.setdefault(id(p), f"opt{k}.p{gi}_{pi}" if len(self.optimizers) > 1
                                     else f"p{gi}_{pi}")
                    params.append(p)
            for p, st in o.state.items():
                if isinstance(st, dict):
                    for sk, sv in st.items():
                        if isinstance(sv, Tensor):
                            names.setdefault(id(sv), f"{names.get(id(p), 'p')}.{sk}")
        for t, tname in self.tensors:
            names.setdefault(id(t), tname)
            params.append(t)
        for p in params:
            if isinstance(p, Tensor) and p._grad is not None:
                owner[id(p._grad)] = p
        self.names, self.grad_owner, self.scopes = names, owner, scopes
