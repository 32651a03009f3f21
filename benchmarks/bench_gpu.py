"""GPU benchmarks: pyrch on CUDA (eager and @jit.trace) side by side with PyTorch CUDA.

    python benchmarks/bench_gpu.py [--out results.md] [--quick]

Cases: an MLP training step (batch 128), LeNet-5 (batch 64), a 2-layer d=128
GPT training step, and GELU forward+backward on 16M and 64M float32 elements.
The same model code runs in both libraries (`lib` is pyrch or torch). Every
timing synchronises the device before the clock stops; each number is the
best of several rounds of several calls (ms per call). PyTorch is run
eagerly (its eager CUDA path is what a user compares against); a case that
fails prints its error instead of a number, and the rest still run.
"""
import argparse
import math
import platform
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 2)[0])
import pyrch  # noqa: E402

try:
    import torch
    HAVE_TORCH_CUDA = torch.cuda.is_available()
except ImportError:
    torch = None
    HAVE_TORCH_CUDA = False


DEVICE = "cuda"


def _sync(lib):
    if DEVICE == "cpu":
        return
    if lib is pyrch:
        pyrch.cuda.synchronize()
    else:
        torch.cuda.synchronize()


def timeit(fn, lib, number, rounds=5, warmup=3):
    """Best ms per call over `rounds` rounds of `number` calls (device synchronised)."""
    for _ in range(warmup):
        fn()
    _sync(lib)
    best = math.inf
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        _sync(lib)
        best = min(best, (time.perf_counter() - t0) / number)
    return best * 1e3


# -- models: the same MLP, LeNet and GPT as the CPU benchmarks (benchmarks/models.py) --------
import os  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import gpt, lenet, mlp  # noqa: E402,F401


def _state_to(src, dst):
    """Copy pyrch parameters into the torch model so both start equal."""
    with torch.no_grad():
        for p, q in zip(src.parameters(), dst.parameters()):
            q.copy_(torch.from_numpy(p.detach().cpu().numpy()))


def cuda_executors(traced):
    """The CudaExecutors behind a traced function."""
    return [e.cuda for e in traced.executors() if e.cuda is not None]


def step_profile(traced, lib, top=12):
    """Per-step device time of one replay (synchronising after each step), biggest first."""
    ex = cuda_executors(traced)
    if DEVICE == "cpu" or not ex:
        return ""
    lines = []
    for e in ex:
        lines.append(f"executor: {len(e.steps)} steps, stats {e.stats}")
        times = {}
        orig = e.steps
        saved = e._graph, e._graph_ok
        e._graph, e._graph_ok = None, False       # time the steps one by one, not the graph

        def timed(step, label):
            def run(v):
                pyrch.cuda.synchronize()
                t0 = time.perf_counter()
                step(v)
                pyrch.cuda.synchronize()
                times[label] = times.get(label, 0.0) + time.perf_counter() - t0
            return run
        e.steps = [timed(s, lab) for s, lab in zip(orig, e.labels)]
        try:
            traced()
        finally:
            e.steps = orig
            e._graph, e._graph_ok = saved
        total = sum(times.values())
        lines.append(f"  synchronised per-step total {total * 1e3:.3f} ms")
        for lab, t in sorted(times.items(), key=lambda kv: -kv[1])[:top]:
            lines.append(f"  {t * 1e3:8.3f} ms  {lab}")
    return "\n".join(lines)


def train_step_case(name, build, make_batch, loss_fn, number):
    rows = []
    results = {}
    for lib in (pyrch, torch):
        if lib is None or (lib is torch and not HAVE_TORCH_CUDA):
            continue
        lib.manual_seed(0)
        model = build(lib).to(DEVICE)
        if lib is torch:
            _state_to(pmodel, model)
        else:
            pmodel = model
        opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        batch = make_batch(lib)

        def step():
            opt.zero_grad()
            loss = loss_fn(lib, model(*batch[:-1]), batch[-1])
            loss.backward()
            opt.step()
            return loss
        results[(lib.__name__, "eager")] = timeit(step, lib, number)
        if lib is pyrch:
            traced = pyrch.jit.trace(step)
            results[("pyrch", "traced")] = timeit(traced, lib, number)
            a, b = float(step()), float(traced())
            results["loss_check"] = f"consecutive losses: eager {a:.4f}, traced {b:.4f}"
            if DEVICE != "cpu":
                with pyrch.config(cuda_graphs=False):
                    plain = pyrch.jit.trace(step)
                    t = timeit(plain, lib, number)
                results["loss_check"] += f"; traced without CUDA graphs {t:.3f} ms"
            prof = step_profile(traced, lib)
            if prof:
                print(f"[bench_gpu] {name} traced step profile\n{prof}", flush=True)
                import cProfile
                import io
                import pstats
                pr = cProfile.Profile()
                pr.enable()
                for _ in range(3):
                    traced()
                _sync(lib)
                pr.disable()
                buf = io.StringIO()
                pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(18)
                print(f"[bench_gpu] {name} host profile of 3 replays\n{buf.getvalue()}", flush=True)
    rows.append((name, results))
    return rows


def ce(lib, logits, y):
    return lib.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def case_mlp(number):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((128, 784)).astype(np.float32), rng.integers(0, 10, 128)
    return train_step_case("MLP 784-512-256-10, batch 128, SGD step", mlp,
                           lambda lib: (lib.tensor(x, device=DEVICE), lib.tensor(y, device=DEVICE)), ce, number)


def case_lenet(number):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 64)
    return train_step_case("LeNet-5, batch 64, SGD step", lenet,
                           lambda lib: (lib.tensor(x, device=DEVICE), lib.tensor(y, device=DEVICE)), ce, number)


def case_gpt(number):
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 65, (16, 64))
    return train_step_case("GPT 2 layers d=128, batch 16 x 64 tokens, SGD step", gpt,
                           lambda lib: (lib.tensor(idx, device=DEVICE),
                                        lib.tensor(np.roll(idx, -1, 1), device=DEVICE)), ce, number)


def case_gelu(n, number):
    results = {}
    rng = np.random.default_rng(0)
    xs = rng.standard_normal(n).astype(np.float32)
    gs = rng.standard_normal(n).astype(np.float32)
    for lib in (pyrch, torch):
        if lib is None or (lib is torch and not HAVE_TORCH_CUDA):
            continue
        x = lib.tensor(xs, device=DEVICE, requires_grad=True)
        g = lib.tensor(gs, device=DEVICE)

        def fwd_bwd(x, g):
            y = lib.nn.functional.gelu(x)
            return y, lib.autograd.grad(y, x, g)[0]
        results[(lib.__name__, "eager")] = timeit(lambda: fwd_bwd(x, g), lib, number)
        if lib is pyrch:
            traced = pyrch.jit.trace(fwd_bwd)
            results[("pyrch", "traced")] = timeit(lambda: traced(x, g), lib, number)
            ye, ge = fwd_bwd(x, g)
            yt, gt = traced(x, g)
            err = max(float((ye - yt).abs().max()), float((ge - gt).abs().max()))
            # x and g read, y and dx written: 16 bytes per element at the least
            gbs = 16 * n / (results[("pyrch", "traced")] * 1e-3) / 1e9
            results["loss_check"] = (f"max /eager - traced/ = {err:.2e}; traced moves {gbs:.0f} GB/s"
                                     + (f" = {100 * gbs / COPY_GBS:.0f}% of a device copy's {COPY_GBS:.0f} GB/s"
                                        if COPY_GBS else ""))
    return [(f"GELU fwd+bwd, {n >> 20}M float32", results)]


COPY_GBS = None


def copy_bandwidth():
    """GB/s of a 256 MiB device-to-device copy (bytes read + written): the bandwidth yardstick."""
    global COPY_GBS
    if DEVICE == "cpu":
        return
    import cupy
    a = cupy.ones(64 << 20, dtype=cupy.float32)
    b = cupy.empty_like(a)
    t = timeit(lambda: cupy.copyto(b, a), pyrch, 10)
    COPY_GBS = 2 * a.nbytes / (t * 1e-3) / 1e9


def markdown(rows, header):
    lines = [header, "",
             "| case | pyrch eager (ms) | pyrch traced (ms) | torch eager (ms) | eager ratio | traced ratio | check |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows:
        if "error" in r:
            lines.append(f"| {name} | error: {r['error']} | | | | | |")
            continue
        pe, pt, te = r.get(("pyrch", "eager")), r.get(("pyrch", "traced")), r.get(("torch", "eager"))

        def f(v):
            return "n/a" if v is None else f"{v:.3f}"

        def ratio(a, b):
            return "n/a" if a is None or b is None else f"{a / b:.2f}x"
        lines.append(f"| {name} | {f(pe)} | {f(pt)} | {f(te)} | {ratio(pe, te)} | {ratio(pt, te)} | "
                     f"{r.get('loss_check', '')} |")
    lines.append("")
    lines.append("Ratios are pyrch / PyTorch time (below 1.0x pyrch is faster).")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--quick", action="store_true", help="fewer calls per round")
    ap.add_argument("--device", default="cuda", help="cpu: a smoke run of this script, no GPU")
    args = ap.parse_args()
    global DEVICE, HAVE_TORCH_CUDA
    DEVICE = args.device
    if DEVICE == "cpu":
        HAVE_TORCH_CUDA = torch is not None
    elif not pyrch.cuda.is_available():
        print("no CUDA GPU / cupy not installed: nothing to benchmark")
        return 0
    k = 1 if args.quick else 3
    cases = [lambda: case_mlp(10 * k), lambda: case_lenet(5 * k), lambda: case_gpt(3 * k),
             lambda: case_gelu(16 << 20, 3 * k), lambda: case_gelu(64 << 20, k)]
    names = ["MLP", "LeNet", "GPT", "GELU 16M", "GELU 64M"]
    copy_bandwidth()
    rows = []
    for name, c in zip(names, cases):
        t0 = time.time()
        try:
            rows.extend(c())
        except Exception as e:  # noqa: BLE001 - report and go on with the other cases
            traceback.print_exc()
            rows.append((name, {"error": f"{type(e).__name__}: {str(e)[:200]}".replace("|", "/")}))
        print(f"[bench_gpu] {name}: {time.time() - t0:.1f}s", flush=True)
    if DEVICE == "cpu":
        dev, cpv = "CPU smoke run", "n/a"
    else:
        import cupy
        dev, cpv = pyrch.cuda.get_device_name(), cupy.__version__
    header = (f"## pyrch on {DEVICE} vs PyTorch ({dev})\n\n"
              f"cupy {cpv}, torch {getattr(torch, '__version__', 'not installed')} "
              f"(CUDA {'yes' if HAVE_TORCH_CUDA and DEVICE != 'cpu' else 'no'}), python {platform.python_version()}, "
              f"command: `python benchmarks/bench_gpu.py`"
              + (f"; a device copy moves {COPY_GBS:.0f} GB/s" if COPY_GBS else ""))
    text = markdown(rows, header)
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
