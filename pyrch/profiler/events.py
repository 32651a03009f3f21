"""Profiler results: events, per-name averages, the rich table and Chrome trace export.

Times on the objects are in microseconds, as in torch (`cpu_time_total`,
`self_cpu_time_total`, `cpu_time` = average per call).

>>> ev = EventList([Event("mul", "cpu_op", 0, 2000, 2000, 1, None),
...                 Event("mul", "cpu_op", 5000, 4000, 4000, 1, None)])
>>> avg = ev.key_averages()[0]
>>> avg.key, avg.count, avg.cpu_time_total, avg.cpu_time
('mul', 2, 6.0, 3.0)
"""
import json
import os


class Event:
    """One finished event: times in nanoseconds since the profiler started."""
    __slots__ = ("name", "cat", "start_ns", "dur_ns", "self_ns", "tid", "input_shapes")

    def __init__(self, name, cat, start_ns, dur_ns, self_ns, tid, input_shapes):
        self.name, self.cat, self.start_ns, self.dur_ns = name, cat, start_ns, dur_ns
        self.self_ns, self.tid, self.input_shapes = self_ns, tid, input_shapes

    key = property(lambda self: self.name)
    count = property(lambda self: 1)
    cpu_time_total = property(lambda self: self.dur_ns / 1e3)
    self_cpu_time_total = property(lambda self: self.self_ns / 1e3)
    cpu_time = cpu_time_total

    def __repr__(self):
        return f"<Event {self.name} {self.cat} {_fmt_us(self.dur_ns / 1e3)}>"


class FunctionEventAvg:
    """All events of one name (and input shapes): count, total, self and average times (us)."""

    def __init__(self, key, input_shapes=None):
        self.key, self.input_shapes = key, input_shapes
        self.count = 0
        self.cpu_time_total = self.self_cpu_time_total = 0.0
        self.cat = None

    def add(self, e):
        self.count += 1
        self.cpu_time_total += e.dur_ns / 1e3
        self.self_cpu_time_total += e.self_ns / 1e3
        self.cat = self.cat or e.cat

    @property
    def cpu_time(self):
        return self.cpu_time_total / max(self.count, 1)

    @property
    def self_cpu_time(self):
        return self.self_cpu_time_total / max(self.count, 1)

    # torch's CUDA columns: pyrch times device work inside the op (see ProfilerActivity.CUDA)
    cuda_time_total = self_cuda_time_total = device_time_total = property(lambda self: 0.0)

    def __repr__(self):
        return (f"<FunctionEventAvg key={self.key} count={self.count} "
                f"cpu_time_total={_fmt_us(self.cpu_time_total)}>")


_SORT_KEYS = {"cpu_time_total", "self_cpu_time_total", "cpu_time", "self_cpu_time", "count",
              "cuda_time_total", "self_cuda_time_total", "device_time_total"}


class EventList(list):
    """A list of events (or averages) with `key_averages`, `table` and `export_chrome_trace`."""

    def key_averages(self, group_by_input_shape=False):
        """Group by name (and input shapes when asked), in order of first appearance."""
        groups = {}
        for e in self:
            shp = e.input_shapes if group_by_input_shape else None
            k = (e.name, repr(shp))
            g = groups.get(k)
            if g is None:
                g = groups[k] = FunctionEventAvg(e.name, shp)
            g.add(e)
        return EventList(groups.values())

    @property
    def self_cpu_time_total(self):
        """Sum of self times (us) over these events: the total time they account for."""
        return sum(e.self_cpu_time_total for e in self)

    def table(self, sort_by=None, row_limit=100, max_name_column_width=55, header=None,
              top_level_events_only=False, width=None):
        """The events as a table (a string drawn with rich), sorted by `sort_by` descending.

        >>> ev = EventList([Event("exp", "cpu_op", 0, 3000, 3000, 1, None)]).key_averages()
        >>> t = ev.table(sort_by="cpu_time_total")
        >>> print(" ".join(t.splitlines()[0].split()))
        Name Self CPU % Self CPU CPU total % CPU total CPU time avg # of Calls
        >>> print(t.splitlines()[2].split())
        ['exp', '100.00%', '3.000us', '100.00%', '3.000us', '3.000us', '1']
        >>> print(t.splitlines()[-1])
        Self CPU time total: 3.000us
        """
        from rich.console import Console
        rows = self._rows(sort_by, row_limit)
        c = Console(width=width or 160, record=True, force_terminal=False, color_system=None,
                    file=open(os.devnull, "w"), force_jupyter=False)
        c.print(self._rich_table(rows, max_name_column_width, header), crop=False)
        text = c.export_text(styles=False).strip("\n")
        c.file.close()
        body = "\n".join(line.rstrip() for line in text.splitlines()).strip("\n")
        return body + f"\nSelf CPU time total: {_fmt_us(self.self_cpu_time_total)}"

    def _rows(self, sort_by, row_limit):
        items = list(self)
        if sort_by is not None:
            if sort_by not in _SORT_KEYS:
                raise ValueError(f"sort_by must be one of {sorted(_SORT_KEYS)}, got {sort_by!r}")
            items.sort(key=lambda e: getattr(e, sort_by), reverse=True)
        return items[:row_limit] if row_limit is not None and row_limit >= 0 else items

    def _rich_table(self, rows, name_width=55, header=None):
        from rich import box
        from rich.table import Table
        total_self = self.self_cpu_time_total or 1.0
        total = total_self
        shapes = any(getattr(e, "input_shapes", None) is not None for e in rows)
        t = Table(title=header, box=box.SIMPLE_HEAD, show_edge=True, pad_edge=True)
        t.add_column("Name", max_width=name_width, overflow="ellipsis", no_wrap=True)
        for col in ("Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg",
                    "# of Calls"):
            t.add_column(col, justify="right", no_wrap=True)
        if shapes:
            t.add_column("Input Shapes", no_wrap=True)
        for e in rows:
            cells = [e.key, f"{100 * e.self_cpu_time_total / total_self:.2f}%",
                     _fmt_us(e.self_cpu_time_total), f"{100 * e.cpu_time_total / total:.2f}%",
                     _fmt_us(e.cpu_time_total), _fmt_us(e.cpu_time), str(e.count)]
            if shapes:
                cells.append(str(e.input_shapes if e.input_shapes is not None else ""))
            t.add_row(*cells)
        return t

    def __rich__(self):
        return self._rich_table(self._rows(None, None))

    def _repr_html_(self):
        from .._display import rich_to_html
        return rich_to_html(self.__rich__())

    def export_chrome_trace(self, path):
        """Write Chrome trace JSON: {"traceEvents": [{"ph": "X", "ts", "dur" (us), ...}]}.

        >>> import json, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "t.json")
        >>> EventList([Event("exp", "cpu_op", 0, 3000, 3000, 1, [[2]])]).export_chrome_trace(p)
        >>> json.load(open(p))["traceEvents"][0]["dur"]
        3.0
        """
        pid = os.getpid()
        tids = {}
        evs = []
        for e in self:
            if not hasattr(e, "start_ns"):
                raise TypeError("export_chrome_trace needs raw events, not key_averages()")
            tid = tids.setdefault(e.tid, len(tids))
            d = {"name": e.name, "cat": e.cat, "ph": "X", "ts": e.start_ns / 1e3,
                 "dur": e.dur_ns / 1e3, "pid": pid, "tid": tid}
            if e.input_shapes is not None:
                d["args"] = {"Input Dims": e.input_shapes}
            evs.append(d)
        evs.sort(key=lambda d: (d["ts"], -d["dur"]))
        meta = [{"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                 "args": {"name": "pyrch"}}]
        with open(path, "w") as f:
            json.dump({"traceEvents": evs + meta, "displayTimeUnit": "ms"}, f)


def _fmt_us(us):
    """Format a time in microseconds the way torch's table does (`1.234ms`)."""
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"
