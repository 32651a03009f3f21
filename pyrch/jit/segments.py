"""A traced plan replayed as one C call (pyrch/_C/steps.c).

A GEMM or fused step costs its C work plus 5-15 us of Python on every replay: reading
operand layouts, filling in a C struct, taking a lock. In a small training step (an MLP
on 16 samples) that Python was a third of the step. So the executor's second run
records: each step whose only work is one C call (its closure says so with `c_only`:
GEMMs, fused programs, and the row kernels rows.py calls through `pyrch_call`, such as
layer norm and softmax) has that call's C struct copied, and every pointer in the copy
traced back to the slot array it points into. Consecutive recorded steps form a
segment. The plan then runs as a `Program`: one `pyrch_run_steps` call over the
segments' copied structs, in which each run of the other steps between two segments is
one PYRCH_STEP_PYTHON entry that C calls back (`pyrch_py_step`, a cffi def_extern).

What a pointer points into decides what a replay does with it:

- a planned buffer (the executor's own, allocated once): nothing, the address is fixed;
- an array from outside the segment (an input, a parameter, an earlier step's result):
  the replay compares the slot's array with the recorded one by identity, and where it
  is a new array of the same shape, strides and dtype (a new batch), rewrites the
  pointers into it at their recorded offsets; any other change re-records (the
  callback before that segment runs its steps one by one this time and skips their
  structs);
- a fresh array a step returned that the replay may hand out (a gradient handed to
  the user as `.grad`, an output, or a view of one): a new array of its shape is made
  on each replay and the pointers into it rewritten;
- a fresh array a step returned that nothing outside the replay can see (`_may_escape`
  says which): the recorded one is kept and reused, like a planned buffer.

A recorded call must write every output of its step: a forward that touched its
result after the call (or made it another way) stays in Python.

The first segment's pointers are set before the C call; a later one's by the callback
just before it, once the Python steps it may read from have run.

A step is recorded only if every pointer of its one C call lies in one of these, so a
temporary copy made inside a step (a layout the C side could not take) keeps that step
in Python. View steps (permute, reshape, ...) between native ones join the segment;
their results are recomputed only when their input array changed. So does a step
whose closure says it is `settled` (a cat whose parts the segment's products all
wrote in place, executor._compile_cat): a replay runs nothing for it. A Python step
that reads nothing the open segment makes and has no side effects runs ahead of the
segment instead of splitting it.
Every struct is checked by the C side on every run (extents against buffer sizes), as
a lone call is; a refused one stops the run, and the step's own closure runs to raise
the error the step-by-step replay would (else a RuntimeError names the step). An
exception in a called-back step stops the C run and is raised when it returns.
"""
import itertools
import operator
import weakref
from collections import namedtuple

import numpy as np

from .._C import attn as _attn, fused as _fused
from .._C.gemm import ACTS as _ACTS
from ..ops.registry import OPS

# how often one executor may record before it stays on step-by-step replay
MAX_RECORDS = 4

# pyrch_step_t kinds (steps.h)
GEMM, FUSED, PYTHON, CALL, ATTN = 1, 2, 3, 4, 5
_GELU_D = _ACTS["gelu_d"]       # the GEMM epilogue that writes its aux matrix

# a recorded native step: its kind and copied struct, what keeps the arrays the struct
# points to alive, the plan step's name (errors) and closure (a refused step runs it)
Call = namedtuple("Call", "kind struct keep name fn")


def _span(a):
    """(lowest, one past the highest) byte address a can reach."""
    lo = hi = a.ctypes.data
    for n, st in zip(a.shape, a.strides):
        if n > 1:
            if st < 0:
                lo += (n - 1) * st
            else:
                hi += (n - 1) * st
    return lo, hi + a.itemsize


class _Recorder:
    """Copies the C struct of every native call made while it is installed."""

    def __init__(self, ffi):
        self.ffi = ffi
        self.calls = []

    def gemm(self, g):
        F = self.ffi
        c = F.new("pyrch_gemm_t *")
        F.memmove(c, g, F.sizeof("pyrch_gemm_t"))
        # (where the pointer is stored, its value, whether the call writes through it)
        # (aux: written by the GELU-derivative epilogue, read by the multiplying one)
        fields = [(c, name, int(F.cast("uintptr_t", getattr(c, name))),
                   name == "c" or (name == "aux" and c.act == _GELU_D))
                  for name in ("a", "b", "c", "bias", "aux") if getattr(c, name) != F.NULL]
        self.calls.append((GEMM, c, fields, None))

    def fused(self, layout, n_in, n_out):
        F = self.ffi
        s, in_ptr, out_ptr = layout[0], layout[1], layout[2]
        c = F.new("pyrch_fused_t *")
        F.memmove(c, s, F.sizeof("pyrch_fused_t"))
        ins = F.new("char *[]", max(n_in, 1))
        outs = F.new("char *[]", max(n_out, 1))
        for i in range(n_in):
            ins[i] = in_ptr[i]
        for i in range(n_out):
            outs[i] = out_ptr[i]
        c.in_ptr, c.out_ptr = ins, outs
        fields = [(ins, i, int(F.cast("uintptr_t", ins[i])), False) for i in range(n_in)] + \
                 [(outs, i, int(F.cast("uintptr_t", outs[i])), True) for i in range(n_out)]
        # the layout keeps the shape/stride arrays the copy points to alive
        self.calls.append((FUSED, c, fields, (layout, ins, outs)))

    def call(self, c, n_in, n_out):
        F = self.ffi
        k = F.new("pyrch_call_t *")
        F.memmove(k, c, F.sizeof("pyrch_call_t"))
        src, dst = k.src, k.dst
        fields = [(src, i, int(F.cast("uintptr_t", src[i])), False) for i in range(n_in)] + \
                 [(dst, i, int(F.cast("uintptr_t", dst[i])), True) for i in range(n_out)]
        self.calls.append((CALL, k, fields, None))

    def attn(self, c):
        F = self.ffi
        k = F.new("pyrch_attn_t *")
        F.memmove(k, c, F.sizeof("pyrch_attn_t"))
        out = _attn.OUTPUTS[bool(k.backward)]
        fields = [(k.x[i], "ptr", int(F.cast("uintptr_t", k.x[i].ptr)), i in out)
                  for i in range(_attn.NARGS) if k.x[i].ptr != F.NULL]
        self.calls.append((ATTN, k, fields, None))


def _ptr(F, a):
    """a's data pointer as a `char *` (from_buffer where a is C-contiguous: cheaper)."""
    if a.flags.c_contiguous:
        return F.from_buffer(a)
    return F.cast("char *", a.ctypes.data)


def _setter(key):
    """How a pointer is stored: a struct field by name, a pointer array's entry by index."""
    return setattr if type(key) is str else operator.setitem


class Segment:
    """Consecutive native plan steps, run without returning to Python (`calls`: their
    recorded structs; `fns`: their closures, for a replay that must run them one by
    one)."""

    def __init__(self, ffi):
        self.F = ffi
        self.fns = []
        self.calls = []          # Call records
        self.ext = {}            # slot -> [array, written?, [(target, key, offset)]]
        self.fresh = {}          # slot -> (shape, dtype, [(target, key, offset)])
        self.fixed = []          # (slot, array) set after each run
        self.alias = []          # (slot, ext slot): the step wrote into that array
        self.views = []          # [in slot, out slot, step, in array, out array]

    def finish(self):
        for e in self.ext.values():
            e[2] = [(_setter(key), target, key, off) for target, key, off in e[2]]
        self._ext = list(self.ext.items())
        self._fresh = [(k, shape, dt, [(_setter(key), target, key, off) for target, key, off in fields])
                       for k, (shape, dt, fields) in self.fresh.items()]

    def prepare(self, v):
        """Point the structs at this replay's arrays and set the slots the segment's
        views and fixed buffers fill; False (nothing done) when an array from outside
        changed layout, so the caller runs the steps one by one and records again."""
        F = self.F
        for k, e in self._ext:
            a = v[k]
            old = e[0]
            if a is old:
                continue
            if type(a) is not np.ndarray or a.shape != old.shape or a.strides != old.strides \
                    or a.dtype != old.dtype or (e[1] and not a.flags.writeable):
                return False
            base = _ptr(F, a)
            for put, target, key, off in e[2]:
                put(target, key, base + off)
            e[0] = a
        for k, shape, dt, fields in self._fresh:
            a = np.empty(shape, dt)
            base = F.from_buffer(a)
            for put, target, key, off in fields:
                put(target, key, base + off)
            v[k] = a
        for k, a in self.fixed:
            v[k] = a
        for k, src in self.alias:
            v[k] = v[src]
        for view in self.views:
            if v[view[0]] is view[3]:
                v[view[1]] = view[4]
            else:
                view[2](v)
                view[3], view[4] = v[view[0]], v[view[1]]
        return True


# Programs by token, for the callback (a token C hands back that names no live program
# is refused, never trusted)
_PROGRAMS = weakref.WeakValueDictionary()
_TOKENS = itertools.count(1)
_ATTACHED = [None]          # the ffi whose pyrch_py_step is _py_step


def attach(ffi):
    """Make _py_step the extension's pyrch_py_step (once per loaded extension)."""
    if _ATTACHED[0] is not ffi:
        ffi.def_extern(name="pyrch_py_step")(_py_step)
        _ATTACHED[0] = ffi


def _py_step(token, i):
    """pyrch_py_step: run group i of program `token`'s Python steps (called by
    pyrch_run_steps). 0 refuses (the exception is kept for Program.run to raise), else
    1 + the number of following native steps Python ran in their place."""
    prog = _PROGRAMS.get(token)
    if prog is None or prog._v is None:
        return 0
    try:
        return prog._callback(i)
    except BaseException as e:          # KeyboardInterrupt too: raised once C returns
        prog._error = e
        return 0


class Program:
    """A whole plan as one `pyrch_run_steps` call: the segments' native steps, and
    between them each run of Python steps as one callback (PYRCH_STEP_PYTHON), which
    also points the next segment's structs at this replay's arrays. (The first
    segment's are pointed before the call.) `units` is the plan in order: Python step
    closures and Segments."""

    def __init__(self, units, ffi, lib):
        self.F, self.L = ffi, lib
        self.units = units
        groups = []
        for u in units:
            if isinstance(u, Segment):
                groups.append(u)
            elif groups and type(groups[-1]) is list:
                groups[-1].append(u)
            else:
                groups.append([u])
        self.token = next(_TOKENS)
        _PROGRAMS[self.token] = self
        self._first = groups[0] if isinstance(groups[0], Segment) else None
        self._cb = []           # group id -> (closures, the segment after them, its steps)
        entries = []            # (kind, struct, name, closure or None)
        for gi, g in enumerate(groups):
            if isinstance(g, Segment):
                entries.extend((c.kind, c.struct, c.name, c.fn) for c in g.calls)
                continue
            nxt = groups[gi + 1] if gi + 1 < len(groups) else None
            d = ffi.new("pyrch_pystep_t *")
            d.token, d.id = self.token, len(self._cb)
            self._cb.append((g, nxt, len(nxt.calls) if nxt is not None else 0))
            entries.append((PYTHON, d, "Python", None))
        self._entries = entries
        self._n = len(entries)
        self._steps = ffi.new("pyrch_step_t[]", self._n)
        for i, (kind, c, _, _) in enumerate(entries):
            self._steps[i].kind = kind
            self._steps[i].desc = c
        self._failed = ffi.new("int32_t *")
        self._v = None
        self._error = None
        self._stale = False

    @property
    def segments(self):
        return [u for u in self.units if isinstance(u, Segment)]

    def _callback(self, i):
        fns, nxt, n = self._cb[i]
        v = self._v
        for fn in fns:
            fn(v)
        if nxt is not None and not nxt.prepare(v):
            for fn in nxt.fns:          # a new layout: this segment's steps one by one
                fn(v)
            self._stale = True
            return 1 + n
        return 1

    def run(self, v):
        """Run the plan on this replay's slots (the caller holds the executor's lock).
        True: done; False: done, but an array from outside a later segment changed
        layout, so record again; None: nothing run (the first segment's outside array
        changed layout): the caller runs the steps one by one."""
        if self._first is not None and not self._first.prepare(v):
            return None
        self._v, self._stale, self._error = v, False, None
        try:
            rc = self.L.pyrch_run_steps(self._steps, self._n, self._failed)
        finally:
            self._v = None
        if self._error is not None:
            e, self._error = self._error, None
            raise e
        if rc != 0:
            from .._C.fused import _ERRORS
            i = self._failed[0]
            _, _, name, fn = self._entries[i] if 0 <= i < self._n else (0, 0, "?", None)
            if fn is not None:
                # the step's own closure raises what the step-by-step replay would (a
                # target out of range: IndexError); if it runs, the struct was bad
                fn(v)
            raise RuntimeError(f"pyrch/_C rejected the plan's {name} step: {_ERRORS.get(rc, rc)}")
        return not self._stale


class _Builder:
    """Classifies one recorded step after another into segments."""

    def __init__(self, executor, ffi, nothing, escape):
        self.ex = executor
        # slots whose arrays may leave the replay (_may_escape); a native step's new
        # array in any other slot is kept, as a fixed buffer, from one replay to the next
        self.escape = escape
        self.kept = []           # spans of those kept arrays
        self.F = ffi
        self.nothing = nothing   # the closure of a step another step's closure ran
        self.seg = None
        self.units = []          # callables, in plan order: steps and segments
        self.pending = []        # the open segment's closures, for a short one
        self.hoisted = []        # Python steps moved ahead of the open segment
        self.made = set()        # slots the open segment's steps produce
        self.rng = set(executor.plan.rng)
        self.prov = {}           # slot -> ("fixed",) | ("ext", slot) | ("fresh", slot) | ("view", slot)
        self.spans = {}          # slot -> (lo, hi) of its array when it was classified

    def _buffer_spans(self):
        """The executor's own arrays (planned buffers, a cat's output) and the new arrays
        kept from the recording run: fixed addresses."""
        return [_span(b) for b in self.ex.buffers + self.ex.private if b is not None and b.size] + \
            self.kept

    def _close(self):
        self.units.extend(self.hoisted)
        seg = self.seg
        if seg is not None:
            # one call is worth it too: a 50-node graph fused into one program replays in
            # 7.3-9.3 us as a segment against 9.8-11.4 us through its closure (best of 9)
            if seg.calls:
                seg.fns = self.pending
                seg.finish()
                self.units.append(seg)
            else:
                self.units.extend(self.pending)
        self.seg, self.pending, self.prov, self.spans = None, [], {}, {}
        self.hoisted, self.made = [], set()

    def python(self, fn):
        self._close()
        self.units.append(fn)

    def _root(self, s, v):
        """(kind, slot) of the array slot s's memory belongs to within the open segment,
        adding s as an outside array when the segment has not seen it."""
        p = self.prov.get(s)
        if p is None:
            a = v[s]
            if type(a) is not np.ndarray or a.size == 0:
                return None
            self.prov[s] = p = ("ext", s)
            self.spans[s] = _span(a)
        while p[0] == "view":
            p = self.prov[p[1]]
        return p

    def _resolve(self, ptr, slots, v):
        """(kind, root slot) of the operand slot whose array holds address ptr; None
        where no operand's does (a temporary) or two disagree, unless exactly one of
        those starts at ptr (attention's q, k and v: three views into one projection,
        each from outside the segment, each the pointer to its own first element)."""
        found, starts = [], []
        for s in slots:
            if s not in self.spans:
                continue
            lo, hi = self.spans[s]
            if lo <= ptr < hi:
                r = self.prov[s]
                while r[0] == "view":
                    r = self.prov[r[1]]
                found.append(r)
                if v[s].ctypes.data == ptr:
                    starts.append(r)
        if not found:
            return None
        if all(r == found[0] for r in found):
            return found[0]
        return starts[0] if len(set(starts)) == 1 else None

    def step(self, st, fn, v, before, calls, absorbed=()):
        """Classify plan step st (closure fn) from what its run did. absorbed: the
        plan steps after it that its closure also ran (their closures do nothing)."""
        changed = [k for k in range(len(v)) if v[k] is not before[k]]
        own = {k for s2 in (st,) + tuple(absorbed) for k in s2.outs}
        reads = list(dict.fromkeys(k for s2 in (st,) + tuple(absorbed) for kind, k in s2.args
                                   if kind == "s" and k not in own))
        if fn is self.nothing:
            (self.units if self.seg is None else self.pending).append(fn)
            return
        if self._settled(fn, v, reads, changed, calls):
            self.pending.append(fn)
            self.made.update(changed)
            return
        view = (not calls and st.kind == "call" and OPS[st.op].view and len(changed) == 1
                and reads and type(v[reads[0]]) is np.ndarray and type(v[changed[0]]) is np.ndarray)
        c_only = getattr(fn, "c_only", False) and len(calls) == 1 and \
            not (hasattr(fn, "slow") and fn.slow[0] is not None)
        if not view and not c_only:
            if self.seg is not None and self._hoistable(st, reads, calls):
                self.hoisted.append(fn)
            else:
                self.python(fn)
            return
        if self.seg is None:
            self.seg = Segment(self.F)
        prov, spans = dict(self.prov), dict(self.spans)     # restored if the step is refused
        if not self._take(st, fn, v, reads, changed, calls, view):
            self.prov, self.spans = prov, spans
            self._close()
            self.units.append(fn)
            return
        self.pending.append(fn)
        self.made.update(changed)

    def _settled(self, fn, v, reads, changed, calls):
        """Whether step fn's last run only set its output slot to an array of the
        executor's own whose contents the open segment's steps wrote (fn.settled: a cat
        whose parts were all written in place, executor._compile_cat): the step then
        joins the segment as that fixed array and a replay runs nothing for it."""
        if self.seg is None or calls or not getattr(fn, "settled", False) or \
                len(changed) != 1 or not reads or any(k not in self.made for k in reads):
            return False
        o = changed[0]
        a = v[o]
        if type(a) is not np.ndarray or a.size == 0:
            return False
        sp = _span(a)
        if not any(lo <= sp[0] and sp[1] <= hi for lo, hi in self._buffer_spans()):
            return False
        self.seg.fixed.append((o, a))
        self.prov[o] = ("fixed",)
        self.spans[o] = sp
        return True

    def _hoistable(self, st, reads, calls):
        """Whether Python step st may run before the open segment instead of splitting
        it (Adam's per-parameter step scalars between the parameters' updates): it reads
        nothing the segment makes, draws no random numbers, has no side effects and no
        planned buffer (so it cannot overwrite memory the segment reads)."""
        o = OPS.get(st.op) if st.kind == "call" else None
        return o is not None and not o.effectful and not calls and \
            all(b < 0 for b in st.bufs) and not any(k in self.made or k in self.rng for k in reads)

    def _take(self, st, fn, v, reads, changed, calls, view):
        seg = self.seg
        for s in reads:
            if self._root(s, v) is None:
                return False
        if view:
            (o,) = changed
            src = reads[0]
            lo, hi = _span(v[o]) if v[o].size else (None, None)
            slo, shi = self.spans[src]
            if lo is None or not (slo <= lo and hi <= shi):
                return False            # not a view of its input after all
            self.prov[o] = ("view", src)
            self.spans[o] = (lo, hi)
            seg.views.append([src, o, fn, v[src], v[o]])
            return True
        bufs = self._buffer_spans()
        new = {}
        for o in changed:
            a = v[o]
            if type(a) is not np.ndarray or a.size == 0:
                return False
            sp = _span(a)
            ext = [k for k, p in self.prov.items() if p == ("ext", k) and v[k] is a]
            if ext:
                new[o] = ("alias", ext[0], sp)
            elif any(lo <= sp[0] and sp[1] <= hi for lo, hi in bufs):
                new[o] = ("fixed", a, sp)
            elif a.flags.c_contiguous and a.base is None:
                new[o] = ("fresh" if o in self.escape else "kept", a, sp)
            else:
                return False
        kind, c, fields, keep = calls[0]
        # every output must be memory the call writes: a forward that changed its result
        # after the call (or made it some other way) would not be replayed by the struct
        written = [ptr for _, _, ptr, w in fields if w]
        if any(not any(sp[0] <= p < sp[1] for p in written) for _, _, sp in new.values()):
            return False
        kept = []
        for o, (k2, x, sp) in list(new.items()):
            if k2 == "kept":            # one of the fixed arrays, if the step is taken
                kept.append(sp)
                new[o] = ("fixed", x, sp)
        bufs = bufs + kept
        for o, (kind2, x, sp) in new.items():
            self.spans[o] = sp
            if kind2 == "alias":
                self.prov[o] = ("ext", x)
            elif kind2 == "fixed":
                self.prov[o] = ("fixed",)
            else:
                self.prov[o] = ("fresh", o)
        patches = []
        for target, key, ptr, written in fields:
            r = self._resolve(ptr, reads + changed, v)
            if r is None:
                return False
            if r[0] == "fixed":
                if not any(lo <= ptr < hi for lo, hi in bufs):
                    return False
                continue
            patches.append((r, target, key, ptr, written))
        for (rk, root), target, key, ptr, written in patches:
            base = v[root].ctypes.data
            if rk == "ext":
                e = seg.ext.setdefault(root, [v[root], False, []])
                e[1] = e[1] or written          # a new array there must be writeable
                e[2].append((target, key, ptr - base))
            else:
                a = v[root]
                f = seg.fresh.setdefault(root, (a.shape, a.dtype, []))
                f[2].append((target, key, ptr - base))
        for o, (k2, x, _) in new.items():
            if k2 == "alias":
                seg.alias.append((o, x))
                e = seg.ext.setdefault(x, [v[x], False, []])
                e[1] = True
            elif k2 == "fixed":
                seg.fixed.append((o, x))
        self.kept.extend(kept)          # (seg.fixed keeps those arrays alive)
        seg.calls.append(Call(kind, c, keep, st.name, fn))
        return True


def _may_escape(plan):
    """Slots whose memory a replay may hand out: outputs, state writes, guarded values,
    and every input of a step that may return (a view of) it whose output may escape.
    A new array a native step returned into any other slot is seen by nothing after the
    replay, so a recorded plan keeps the one it saw (segments' `fixed`) instead of
    allocating (and re-pointing at) a new one each replay."""
    from .plan import new_memory
    esc = set(plan.escaping())
    # (lower() makes one step per node of the plan's graph, in order)
    for st, n in zip(reversed(plan.steps), reversed(plan.graph.nodes), strict=True):
        if any(o in esc for o in st.outs) and not new_memory(n):
            esc.update(k for kind, k in st.args if kind == "s")
    return esc


def record(executor, slots, nothing):
    """Run executor's steps on `slots` (a real replay) while recording; returns the
    list of units (plan steps and Segments) later replays run instead, or None when
    no segment formed or the extension cannot run them. nothing: the executor's
    closure for a step another step's closure ran."""
    from .. import _C
    L, F = _C.lib(), _C.ffi()
    if L is None or not hasattr(L, "pyrch_py_step"):
        for step in executor.steps:
            step(slots)
        return None
    b = _Builder(executor, F, nothing, _may_escape(executor.plan))
    rec = _Recorder(F)
    steps, fns = executor.plan.steps, executor.steps
    for idx, (st, fn) in enumerate(zip(steps, fns)):
        before = list(slots)
        rec.calls = []
        _fused.RECORDER[0] = rec
        try:
            fn(slots)
        finally:
            _fused.RECORDER[0] = None
        j = idx + 1
        while j < len(fns) and fns[j] is nothing:
            j += 1
        b.step(st, fn, slots, before, rec.calls, steps[idx + 1:j])
    b._close()
    if not any(isinstance(u, Segment) for u in b.units):
        return None
    attach(F)
    return Program([u for u in b.units if u is not nothing], F, L)
