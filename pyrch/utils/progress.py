"""`pyrch.utils.progress`: a rich progress bar for training loops, with live metrics.

    bar = progress(loader, desc="epoch 1")
    for x, y in bar:
        loss = step(x, y)
        bar.set(loss=loss)            # floats or 0-dim tensors; shown as `loss=0.4321`

Samples per second are counted from the batches themselves (the length of the
first tensor in each item). In a terminal (or Jupyter with ipywidgets) the bar
is drawn live by rich; otherwise (logs, pipes, CI) it stays quiet and prints
one summary line when done (`leave=False`: nothing). Nested bars share one
display.

>>> import io
>>> out = io.StringIO()
>>> bar = progress(range(3), desc="demo", file=out)
>>> for i in bar:
...     bar.set(loss=1.0 / (i + 1))
>>> line = out.getvalue()
>>> line.startswith("demo: 3/3") and "loss=0.3333" in line
True
"""
import sys
import time

_live = {"progress": None, "users": 0}


def _number(v):
    if hasattr(v, "item") and callable(v.item):
        return v.item()
    return v


def _fmt(v):
    v = _number(v)
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) >= 1e4 or (v != 0 and abs(v) < 1e-3) else f"{v:.4f}"
    return str(v)


def _batch_len(item):
    from .._tensor import Tensor
    if isinstance(item, (tuple, list)) and item:
        item = item[0]
    elif isinstance(item, dict) and item:
        item = next(iter(item.values()))
    if isinstance(item, Tensor) and item.ndim:
        return item.shape[0]
    return None


def _can_draw(file):
    if file is not None and file is not sys.stdout:
        return False
    from rich.console import Console
    c = Console()
    if c.is_jupyter:
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            return False
        return True
    return c.is_terminal and not c.is_dumb_terminal


class Progress:
    """An iterable progress bar; see `progress` (the function that makes one)."""

    def __init__(self, iterable=None, desc=None, total=None, *, leave=True, disable=False,
                 file=None, **metrics):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable, self.desc, self.total, self.leave = iterable, desc or "", total, leave
        self.file = file
        self.metrics = dict(metrics)
        self.n = 0
        self.samples = 0
        self.start = time.perf_counter()
        self._last_push = 0.0
        self._closed = False
        self._task = None
        self.disable = disable
        if not disable and _can_draw(file):
            self._open_live()

    # -- the live (rich) display, shared by nested bars -----------------------------------
    def _open_live(self):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress,
                                   TextColumn, TimeElapsedColumn, TimeRemainingColumn)
        if _live["progress"] is None:
            p = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(),
                             MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("<"),
                             TimeRemainingColumn(), TextColumn("{task.fields[metrics]}"),
                             refresh_per_second=8)
            p.start()
            _live["progress"] = p
        _live["users"] += 1
        self._task = _live["progress"].add_task(self.desc, total=self.total, metrics="")

    def _push(self, force=False):
        now = time.perf_counter()
        if self._task is None or (not force and now - self._last_push < 0.1):
            return
        self._last_push = now
        _live["progress"].update(self._task, completed=self.n, metrics=self.metrics_text())

    # -- public API -------------------------------------------------------------------------
    def metrics_text(self):
        """The metrics as shown on the bar: `loss=0.1234 acc=0.9000 1234 samples/s`.

        >>> p = Progress(total=1, file=open(__import__("os").devnull, "w"), loss=0.5)
        >>> p.metrics_text()
        'loss=0.5000'
        """
        parts = [f"{k}={_fmt(v)}" for k, v in self.metrics.items()]
        el = time.perf_counter() - self.start
        if self.samples and el > 0:
            parts.append(f"{self.samples / el:,.0f} samples/s")
        return " ".join(parts)

    def set(self, **metrics):
        """Update the shown metrics (loss=..., acc=...); tensors are read with `.item()`.

        >>> p = Progress(total=2, disable=True)
        >>> p.set(loss=0.25); p.metrics["loss"]
        0.25
        """
        self.metrics.update(metrics)
        self._push()

    set_postfix = set

    def update(self, n=1, samples=None):
        """Advance by `n` steps (and `samples` samples, for samples/s) by hand.

        >>> p = Progress(total=4, disable=True)
        >>> p.update(2, samples=64); (p.n, p.samples)
        (2, 64)
        """
        self.n += n
        if samples:
            self.samples += samples
        self._push()

    def __iter__(self):
        if self.iterable is None:
            raise TypeError("progress(): nothing to iterate; pass an iterable or call .update()")
        try:
            for item in self.iterable:
                b = _batch_len(item)
                yield item
                self.n += 1
                if b:
                    self.samples += b
                if self._task is not None:
                    self._push()
        finally:
            self.close()

    def __len__(self):
        return self.total if self.total is not None else len(self.iterable)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Finish the bar: remove it (leave=False) or keep it / print the summary line."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._push(force=True)
            p = _live["progress"]
            if not self.leave:
                p.remove_task(self._task)
            _live["users"] -= 1
            if _live["users"] == 0:
                p.stop()
                _live["progress"] = None
            return
        if self.disable or not self.leave:
            return
        el = time.perf_counter() - self.start
        total = f"/{self.total}" if self.total is not None else ""
        m = self.metrics_text()
        head = f"{self.desc}: " if self.desc else ""
        line = f"{head}{self.n}{total} [{el:.1f}s]" + (f" {m}" if m else "")
        print(line, file=self.file or sys.stdout, flush=True)

    def __repr__(self):
        return f"<progress {self.desc!r} {self.n}/{self.total}>"


def progress(iterable=None, desc=None, total=None, **metrics):
    """Wrap `iterable` in a progress bar showing `desc`, steps, time left and metrics.

    Keyword options: `leave=True` (keep the finished bar / summary line),
    `disable=False`, `file=` (a stream other than stdout: plain summary only);
    any other keyword is an initial metric. Update metrics with `bar.set(...)`.

    >>> import os
    >>> bar = progress([1, 2], desc="x", file=open(os.devnull, "w"), lr=0.1)
    >>> list(bar), bar.n, bar.metrics
    ([1, 2], 2, {'lr': 0.1})
    """
    opts = {k: metrics.pop(k) for k in ("leave", "disable", "file") if k in metrics}
    return Progress(iterable, desc, total, **opts, **metrics)
