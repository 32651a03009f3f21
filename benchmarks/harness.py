"""Side-by-side timing: pyrch and PyTorch in the same process, interleaved.

Each case runs both libraries in alternating rounds and keeps the best
(minimum) per-call time of each, so background noise on a shared machine
hurts both sides alike. Ratios are pyrch / PyTorch: below 1.0 pyrch is faster.
"""
import time


def best_time(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


# NOTE: idle BLAS/OpenMP worker threads spin for a while after their last task
# (OpenBLAS's up to ~0.1 s by default), and a spinning thread holds a core the
# other library's next round wants. Both libraries live in one process here, so
# each round starts after a pause long enough for the other side's workers to
# go to sleep; without it each side's figures include the other's spinning.
SETTLE = 0.25


def compare(name, pyrch_fn, torch_fn, number=1000, rounds=7, warmup=3):
    """Return (name, pyrch seconds/call, torch seconds/call, ratio)."""
    for _ in range(warmup):
        pyrch_fn()
        if torch_fn is not None:
            torch_fn()
    p = t = float("inf")
    for _ in range(rounds):
        time.sleep(SETTLE)
        p = min(p, best_time(pyrch_fn, number))
        if torch_fn is not None:
            time.sleep(SETTLE)
            t = min(t, best_time(torch_fn, number))
    return name, p, t, (p / t if torch_fn is not None else float("nan"))


def timed_steps(fn, x, y, n):
    """ms per call of fn(x, y) over n calls, after a short pause (a training step)."""
    time.sleep(0.05)
    t0 = time.perf_counter()
    for _ in range(n):
        fn(x, y)
    return (time.perf_counter() - t0) / n * 1e3


def alternate(name, sides, n, rounds):
    """Run each side's (fn, x, y) for n calls per round, the sides' rounds alternated;
    print best / first quartile / median per side (ms) and return each side's best."""
    res = {k: [] for k in sides}
    for _ in range(rounds):
        for k, (fn, x, y) in sides.items():
            res[k].append(timed_steps(fn, x, y, n))
    width = max(len(k) for k in sides)
    for k, v in res.items():
        v.sort()
        print(f"{name} {k:{width}s} {v[0]:.3f} / {v[len(v) // 4]:.3f} / {v[len(v) // 2]:.3f} ms")
    return {k: v[0] for k, v in res.items()}


def _fmt(s):
    if s == float("inf"):
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.2f} us"
    return f"{s * 1e3:.3f} ms"


def _ratio(r):
    return "-" if r != r else f"{r:.2f}x"      # NaN: a row with nothing to compare against


def report(rows, title):
    """Print a table (rich when available) and return it as Markdown lines."""
    md = [f"| case | pyrch | PyTorch | ratio |", "|---|---|---|---|"]
    for name, p, t, r in rows:
        md.append(f"| {name} | {_fmt(p)} | {_fmt(t)} | {_ratio(r)} |")
    try:
        from rich.console import Console
        from rich.table import Table
        tab = Table(title=title)
        for c in ("case", "pyrch", "PyTorch", "pyrch/PyTorch"):
            tab.add_column(c)
        for name, p, t, r in rows:
            tab.add_row(name, _fmt(p), _fmt(t), _ratio(r))
        Console().print(tab)
    except ImportError:  # pragma: no cover
        print("\n".join(md))
    return md
