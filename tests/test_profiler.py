"""pyrch.profiler: per-op timing in eager runs, ranges, tables, Chrome traces, schedules."""
import json

import numpy as np
import pytest

import pyrch
from pyrch import profiler
from pyrch._dispatch import state


def _names(prof):
    return [e.name for e in prof.events()]


def test_counts_ops_and_restores_fast_path():
    assert state.profiler is None and not state.hooks
    x = pyrch.ones(3)
    with profiler.profile() as p:
        assert state.hooks and profiler.active() is p
        for _ in range(4):
            x = x * 2
        y = x.exp()
    assert state.profiler is None and not state.hooks
    avg = {e.key: e for e in p.key_averages()}
    assert avg["mul"].count == 4 and avg["exp"].count == 1
    assert all(e.cpu_time_total >= 0 for e in avg.values())
    np.testing.assert_allclose(y.numpy(), np.exp(np.full(3, 16.0, np.float32)))


def test_results_unchanged_and_backward_ops_recorded():
    a = pyrch.randn(5, 4, requires_grad=True)
    ref = (a.relu() * 3).sum()
    ref.backward()
    g0 = a.grad.clone()
    a.grad = None
    with profiler.profile() as p:
        out = (a.relu() * 3).sum()
        out.backward()
    assert out.item() == ref.item()
    np.testing.assert_array_equal(a.grad.numpy(), g0.numpy())
    assert len(p.events()) > 3      # forward + backward ops


def test_record_function_nesting_and_self_time():
    with profiler.profile() as p:
        with profiler.record_function("outer"):
            with profiler.record_function("inner"):
                pyrch.ones(100, 100).exp()
            pyrch.ones(10).sum()
    ev = {e.name: e for e in p.events()}
    assert {"outer", "inner", "exp", "sum"} <= set(ev)
    outer, inner = ev["outer"], ev["inner"]
    assert outer.dur_ns >= inner.dur_ns >= ev["exp"].dur_ns
    assert inner.self_ns == pytest.approx(inner.dur_ns - ev["exp"].dur_ns)
    assert outer.self_ns == pytest.approx(outer.dur_ns - inner.dur_ns - ev["sum"].dur_ns)
    assert outer.cat == "user_annotation" and ev["exp"].cat == "cpu_op"


def test_record_function_decorator_and_exceptions():
    @profiler.record_function("my_fn")
    def f(x):
        return x + 1

    with pytest.raises(ValueError):
        with profiler.profile() as p:
            f(pyrch.ones(2))
            raise ValueError("boom")
    assert state.profiler is None and not state.hooks
    assert _names(p) == ["add", "my_fn"]
    assert f(pyrch.ones(1)).item() == 2.0     # works without a profiler, records nothing


def test_nested_profilers_restore_outer():
    with profiler.profile() as outer:
        pyrch.ones(2).exp()
        with profiler.profile() as inner:
            pyrch.ones(2).sin()
        assert profiler.active() is outer
        pyrch.ones(2).cos()
    assert _names(inner) == ["sin"]
    assert _names(outer) == ["exp", "cos"]


def test_table_sorted_limited_and_torch_columns():
    with profiler.profile() as p:
        x = pyrch.ones(300, 300)
        for _ in range(3):
            x @ x
        x.neg()
        x.abs()
    t = p.key_averages().table(sort_by="cpu_time_total", row_limit=2)
    lines = t.splitlines()
    assert "Name" in lines[0] and "# of Calls" in lines[0] and "Self CPU %" in lines[0]
    rows = [line.split()[0] for line in lines[2:]
            if line.strip() and not line.startswith(("Self", " ─", "─"))]
    order = sorted(p.key_averages(), key=lambda e: e.cpu_time_total, reverse=True)
    assert rows == [e.key for e in order[:2]]
    assert lines[-1].startswith("Self CPU time total:")
    with pytest.raises(ValueError, match="sort_by"):
        p.key_averages().table(sort_by="bogus")


def test_record_shapes_groups_by_input_shape():
    with profiler.profile(record_shapes=True) as p:
        pyrch.ones(2, 3).sum()
        pyrch.ones(4).sum()
        pyrch.ones(4).sum()
    by = {(e.key, repr(e.input_shapes)): e.count for e in p.key_averages(group_by_input_shape=True)}
    assert by == {("sum", "[[2, 3]]"): 1, ("sum", "[[4]]"): 2}
    assert "Input Shapes" in p.key_averages(group_by_input_shape=True).table()


def test_chrome_trace_is_valid_json(tmp_path):
    with profiler.profile(record_shapes=True) as p:
        with profiler.record_function("step"):
            (pyrch.ones(4, 4) @ pyrch.ones(4, 4)).sum()
        profiler.record("jit_replay_step", 2e-6)
    path = tmp_path / "trace.json"
    p.export_chrome_trace(str(path))
    doc = json.loads(path.read_text())
    evs = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert {e["name"] for e in evs} == {"step", "matmul", "sum", "jit_replay_step"}
    for e in evs:
        assert {"name", "cat", "ph", "ts", "dur", "pid", "tid"} <= set(e)
        assert e["dur"] >= 0 and isinstance(e["ts"], float)
    ts = [e["ts"] for e in evs]
    assert ts == sorted(ts)
    step = next(e for e in evs if e["name"] == "step")
    mm = next(e for e in evs if e["name"] == "matmul")
    assert step["ts"] <= mm["ts"] and mm["ts"] + mm["dur"] <= step["ts"] + step["dur"] + 1e-3
    assert mm["args"]["Input Dims"] == [[4, 4], [4, 4]]
    jit = next(e for e in evs if e["name"] == "jit_replay_step")
    assert jit["cat"] == "jit" and jit["dur"] == pytest.approx(2.0)


def test_active_and_record_without_profiler_are_noops():
    assert profiler.active() is None
    profiler.record("nothing", 1.0)      # must not raise


def test_schedule_records_only_active_steps():
    ready = []
    sched = profiler.schedule(wait=1, warmup=1, active=2, repeat=1)
    with profiler.profile(schedule=sched, on_trace_ready=lambda pr: ready.append(len(pr.events()))) as p:
        for i in range(6):
            with profiler.record_function(f"it{i}"):
                pyrch.ones(2).exp()
            p.step()
    assert [n for n in _names(p) if n.startswith("it")] == ["it2", "it3"]
    assert ready == [4]


def test_profiling_a_traced_function():
    from pyrch import jit

    @jit.trace
    def f(x):
        return (x * 2).exp().sum()

    x = pyrch.ones(8)
    with profiler.profile() as p:
        vals = [f(x).item() for _ in range(4)]
    assert vals == pytest.approx([vals[0]] * 4, rel=1e-6)   # replays may use the C executor
    assert "exp" in _names(p)     # eager warm-up and recording runs are timed per op


def test_disabled_profile_records_nothing():
    with profiler.profile(enabled=False) as p:
        pyrch.ones(2).exp()
        assert profiler.active() is None
    assert len(p.events()) == 0


def test_traced_replays_report_each_step_to_the_profiler():
    import pyrch
    from pyrch import jit

    @jit.trace
    def f(x, w):
        return (x @ w).relu().sum()
    x, w = pyrch.randn(4, 3), pyrch.randn(3, 2)
    for _ in range(3):
        f(x, w)
    with pyrch.profiler.profile() as prof:
        f(x, w)
    names = {e.name for e in prof.events()}
    assert "matmul" in names, names
    assert any(n.startswith("fused[") or n in ("relu", "sum") for n in names), names
