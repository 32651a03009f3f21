"""pyrch.profiler: where does the time go? Per-op timings of eager (and traced) runs.

    with pyrch.profiler.profile() as prof:
        with pyrch.profiler.record_function("train_step"):
            loss = model(x).sum(); loss.backward()
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))
    prof.export_chrome_trace("trace.json")      # open in chrome://tracing or Perfetto

Each op that goes through dispatch is timed around its forward (array) call,
so the numbers are the op's own compute; Python overhead between ops shows up
only in `record_function` ranges. Traced replays run no dispatch: the jit
executor reports its steps through `active()` / `record(name, seconds)`.
While no profiler is active, dispatch does not time anything.

>>> import pyrch
>>> from pyrch import profiler
>>> with profiler.profile() as prof:
...     with profiler.record_function("step"):
...         y = (pyrch.ones(3) * 2).exp()
>>> sorted(e.key for e in prof.key_averages())
['exp', 'mul', 'step']
>>> prof.key_averages().table(row_limit=2).count("\\n") > 3
True
"""
import functools
import os
import threading
import time

from .. import _dispatch
from .events import Event, EventList, FunctionEventAvg  # noqa: F401

__all__ = ["profile", "record_function", "ProfilerActivity", "active", "record", "schedule",
           "ProfilerAction", "EventList"]

_now = time.perf_counter_ns
_EMPTY = {}


class ProfilerActivity:
    """What to profile (torch's names): CPU always; CUDA synchronizes the device per op."""
    CPU = "CPU"
    CUDA = "CUDA"


class ProfilerAction:
    """Phases of a `schedule` (torch's names)."""
    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait, warmup, active, repeat=0, skip_first=0):
    """A step -> ProfilerAction function for `profile(schedule=...)`, as in torch.

    >>> s = schedule(wait=1, warmup=1, active=2)
    >>> [s(i) for i in range(5)]
    [0, 1, 2, 3, 0]
    """
    cycle = wait + warmup + active

    def fn(step):
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if repeat and step >= cycle * repeat:
            return ProfilerAction.NONE
        k = step % cycle
        if k < wait:
            return ProfilerAction.NONE
        if k < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD_AND_SAVE if k == cycle - 1 else ProfilerAction.RECORD
    return fn


class _Frame:
    __slots__ = ("name", "start", "child")

    def __init__(self, name, start):
        self.name, self.start, self.child = name, start, 0


class profile:
    """Context manager that records per-op times and call counts (torch.profiler.profile).

    `record_shapes=True` keeps input shapes (see `key_averages(group_by_input_shape=True)`).
    With a `schedule`, call `prof.step()` once per iteration; `on_trace_ready(prof)` runs
    at the end of each active window.

    >>> import pyrch
    >>> with profile(record_shapes=True) as p:
    ...     _ = pyrch.ones(2, 3).sum()
    >>> [(e.key, e.count, e.input_shapes) for e in p.key_averages(group_by_input_shape=True)]
    [('sum', 1, [[2, 3]])]
    """

    def __init__(self, activities=None, *, schedule=None, on_trace_ready=None, record_shapes=False,
                 profile_memory=False, with_stack=False, with_flops=False, with_modules=False,
                 enabled=True, use_cuda=None):
        acts = set(activities or (ProfilerActivity.CPU,))
        self.sync_cuda = ProfilerActivity.CUDA in acts or bool(use_cuda)
        self.record_shapes = record_shapes
        self.enabled = enabled
        self.schedule = schedule
        self.on_trace_ready = on_trace_ready
        self.step_num = 0
        self._events = []           # Event records, in completion order
        self._local = threading.local()
        self._prev = None
        self._recording = schedule is None
        self._t0 = _now()

    # -- entering / leaving -----------------------------------------------------------
    def start(self):
        """Begin recording (what `with profile():` does on entry)."""
        if not self.enabled:
            return self
        self._prev = _dispatch.state.profiler
        self._t0 = _now()
        if self.schedule is not None:
            self._recording = self.schedule(self.step_num) >= ProfilerAction.RECORD
        _dispatch.state.profiler = self
        _dispatch.refresh_hooks()
        return self

    def stop(self):
        """Stop recording and restore whatever profiler was active before."""
        if not self.enabled:
            return
        _dispatch.state.profiler = self._prev
        self._prev = None
        _dispatch.refresh_hooks()
        if self.schedule is not None and self._recording and self.on_trace_ready is not None:
            self.on_trace_ready(self)
        elif self.schedule is None and self.on_trace_ready is not None:
            self.on_trace_ready(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def step(self):
        """Mark the end of one iteration (drives `schedule`)."""
        if self.schedule is None:
            self.step_num += 1
            return
        was = self.schedule(self.step_num)
        self.step_num += 1
        if was == ProfilerAction.RECORD_AND_SAVE and self.on_trace_ready is not None:
            self.on_trace_ready(self)
        self._recording = self.schedule(self.step_num) >= ProfilerAction.RECORD

    # -- recording (called by dispatch, record_function and the jit executor) -----------
    def _stack(self):
        st = getattr(self._local, "stack", None)
        if st is None:
            st = self._local.stack = []
        return st

    def run_op(self, op, xp, arrays, attrs):
        """Run `op.forward` and record its time (dispatch calls this while profiling)."""
        if not self._recording:
            return op.forward(xp, *arrays, **(attrs or _EMPTY))
        t = _now()
        out = op.forward(xp, *arrays, **(attrs or _EMPTY))
        if self.sync_cuda and xp.__name__ == "cupy":
            xp.cuda.get_current_stream().synchronize()
        shapes = None
        if self.record_shapes:
            shapes = [list(a.shape) if hasattr(a, "shape") else [] for a in arrays]
        self._close(op.name, "cpu_op", t, _now(), 0, shapes)
        return out

    def _close(self, name, cat, start, end, child, shapes=None):
        dur = end - start
        st = self._stack()
        if st:
            st[-1].child += dur
        self._events.append(Event(name, cat, start - self._t0, dur, dur - child,
                                  threading.get_ident(), shapes))

    def _open(self, name):
        fr = _Frame(name, _now())
        self._stack().append(fr)
        return fr

    def _end(self, fr):
        st = self._stack()
        while st and st[-1] is not fr:     # ranges closed out of order: close inner ones too
            inner = st.pop()
            self._close(inner.name, "user_annotation", inner.start, _now(), inner.child)
        if st:
            st.pop()
        self._close(fr.name, "user_annotation", fr.start, _now(), fr.child)

    def record(self, name, seconds, cat="jit"):
        """Record an event that just finished and took `seconds` (for executors)."""
        if self._recording:
            end = _now()
            self._close(name, cat, end - int(seconds * 1e9), end, 0)

    # -- results ------------------------------------------------------------------------
    def events(self):
        """Every recorded event, in the order they finished.

        >>> import pyrch
        >>> with profile() as p:
        ...     _ = pyrch.ones(2) + 1
        >>> [e.name for e in p.events()]
        ['add']
        """
        return EventList(self._events)

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0):
        """Events grouped by name (and input shapes): counts and total/self/avg times."""
        return self.events().key_averages(group_by_input_shape)

    def export_chrome_trace(self, path):
        """Write the events as Chrome trace JSON (chrome://tracing, Perfetto)."""
        self.events().export_chrome_trace(path)

    def table(self, **kw):
        """Shorthand for `key_averages().table(**kw)`."""
        return self.key_averages().table(**kw)


def active():
    """The profiler recording right now, or None (for executors that time their own steps).

    >>> active() is None
    True
    """
    return _dispatch.state.profiler


def record(name, seconds, cat="jit"):
    """Report that `name` just ran for `seconds` to the active profiler (no-op without one).

    >>> with profile() as p:
    ...     record("fused_add_exp", 1e-6)
    >>> p.events()[0].name, p.events()[0].cat
    ('fused_add_exp', 'jit')
    """
    p = _dispatch.state.profiler
    if p is not None:
        p.record(name, seconds, cat)


class record_function:
    """Label a region (context manager or decorator); it shows as its own row and range.

    >>> with profile() as p:
    ...     with record_function("forward"):
    ...         pass
    >>> p.events()[0].name
    'forward'
    """

    def __init__(self, name, args=None):
        self.name = name
        self._frame = self._prof = None

    def __enter__(self):
        p = _dispatch.state.profiler
        if p is not None and p._recording:
            self._prof, self._frame = p, p._open(self.name)
        return self

    def __exit__(self, *exc):
        if self._prof is not None:
            self._prof._end(self._frame)
            self._prof = self._frame = None

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with record_function(self.name):
                return fn(*args, **kwargs)
        return wrapper


def tensorboard_trace_handler(dir_name, worker_name=None):
    """An `on_trace_ready` handler that writes one Chrome trace JSON per window into `dir_name`.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> with profile(on_trace_ready=tensorboard_trace_handler(d)):
    ...     pass
    >>> len(os.listdir(d))
    1
    """
    def handler(prof):
        os.makedirs(dir_name, exist_ok=True)
        name = worker_name or f"{os.getpid()}"
        fname = f"{name}.{prof.step_num}.{_now()}.pt.trace.json"
        prof.export_chrome_trace(os.path.join(dir_name, fname))
    return handler
