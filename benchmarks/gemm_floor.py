"""How much of a traced step its GEMMs take: the plan's recorded GEMMs run alone.

    python benchmarks/gemm_floor.py [gpt_b16] [--compile] [--rounds 5] [--calls]

Replays the traced benchmark step, then runs each GEMM its plan recorded (the same
`pyrch_gemm` struct: the same arrays, layouts, epilogue and thread count) back to back,
and the same products (shapes and transposes) through torch.matmul. With --compile it
also times PyTorch's compiled step, and prints what a step at 0.8x of it (issue 5's GPT
target) would leave for everything that is not a GEMM. Rounds alternate the sides;
each side keeps its best. --calls also times every recorded C call of the plan alone
(GEMMs, fused programs, row kernels, attention), grouped by plan step name: where the
step's time goes without the profiler's per-step Python.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import torch  # noqa: E402  (before pyrch: see RESULTS.md, session 9)

from models import case, recorded, recorded_calls  # noqa: E402

torch.set_num_threads(2)


def _hold_replay_arrays():
    """Keep every slot array of the latest replay alive (until the process ends).
    Arrays made for one replay are freed after it, and a recorded struct run after
    that would write into freed memory."""
    from pyrch.jit import segments as S
    held, run_plan = [], S.Program.run

    def holding(self, v):
        try:
            return run_plan(self, v)
        finally:
            held[:] = list(v)
    S.Program.run = holding


def _gemms(f):
    """The recorded pyrch_gemm structs of traced step f's plan."""
    from pyrch.jit.segments import GEMM
    return [c.struct for c in recorded_calls(f) if c.kind == GEMM]


def _torch_product(g):
    """A function running the product of struct g (its shapes, transposes and bias)
    through torch.matmul."""
    b, m, n, k = int(g.batch), int(g.m), int(g.n), int(g.k)
    a = torch.randn(b, k, m).transpose(1, 2) if g.trans_a else torch.randn(b, m, k)
    w = torch.randn(b, n, k).transpose(1, 2) if g.trans_b else torch.randn(b, k, n)
    if b == 1:
        a, w = a[0], w[0]
    out = torch.empty(a.shape[:-1] + (n,))
    bias = torch.randn(n if g.bias_kind == 1 else m) if g.bias_kind else None

    def run():
        torch.matmul(a, w, out=out)
        if bias is not None:
            out.add_(bias if g.bias_kind == 1 else bias[:, None])
    return run


def _each_call(f, x, y, reps=20):
    """{(kind, step name): [calls, ms alone, ms in order]} over every recorded C call of
    f's plan: each run alone `reps` times (best of 3), and each timed as it ran in plan
    order, once per replay-like pass (the mean of `reps` passes)."""
    from pyrch import _C
    from pyrch.jit import segments as S
    L = _C.lib()
    run = {S.GEMM: L.pyrch_gemm, S.FUSED: L.pyrch_fused_run, S.CALL: L.pyrch_call,
           S.ATTN: L.pyrch_attention}
    names = {S.GEMM: "gemm", S.FUSED: "fused", S.CALL: "call", S.ATTN: "attention"}
    calls = [c for c in recorded_calls(f) if c.kind in run]
    out = {}
    seq = [0.0] * len(calls)
    perf = time.perf_counter
    for _ in range(reps):               # in plan order, once each, as a replay runs them
        f(x, y)
        for i, c in enumerate(calls):
            t0 = perf()
            run[c.kind](c.struct)
            seq[i] += perf() - t0
    for i, c in enumerate(calls):
        f(x, y)                         # live arrays behind the struct's pointers
        fn, st = run[c.kind], c.struct
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(reps):
                fn(st)
            best = min(best, (time.perf_counter() - t0) / reps * 1e3)
        row = out.setdefault((names[c.kind], c.name), [0, 0.0, 0.0])
        row[0] += 1
        row[1] += best
        row[2] += seq[i] / reps * 1e3
    return out


def _best(fn, n, rounds_out, key):
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    rounds_out.setdefault(key, []).append((time.perf_counter() - t0) / n * 1e3)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("name", nargs="?", default="gpt_b16")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", action="store_true")
    ns = ap.parse_args(argv)
    from pyrch import _C
    L = _C.lib()
    _hold_replay_arrays()
    f, x, y = recorded(ns.name)
    structs = _gemms(f)
    if not structs:
        sys.exit("no recorded GEMMs (is the C extension built?)")
    tprods = [_torch_product(g) for g in structs]

    def pyrch_gemms():
        for g in structs:
            L.pyrch_gemm(g)

    def torch_gemms():
        for run in tprods:
            run()
    sides = {"pyrch step (traced)": lambda: f(x, y), "its GEMMs alone": pyrch_gemms,
             "the same GEMMs in torch": torch_gemms}
    if ns.compile:
        t_step, tx, ty = case(torch, ns.name)
        compiled = torch.compile(t_step)
        for _ in range(3):
            compiled(tx, ty)
        sides["torch.compile step"] = lambda: compiled(tx, ty)
    n = 5 if ns.name == "gpt_b16" else 50
    res = {}
    for _ in range(ns.rounds):
        for key, fn in sides.items():
            f(x, y)                     # the GEMM structs point at live arrays again
            _best(fn, n, res, key)
    best = {k: min(v) for k, v in res.items()}
    print(f"{ns.name}: {len(structs)} recorded GEMMs, "
          f"{sum(2 * g.batch * g.m * g.n * g.k for g in structs) / 1e9:.2f} GFLOP")
    for k, v in best.items():
        print(f"  {k:28s} {v:8.2f} ms")
    step, gem = best["pyrch step (traced)"], best["its GEMMs alone"]
    print(f"  GEMMs are {gem / step:.0%} of the pyrch step; the rest {step - gem:.2f} ms")
    if ns.compile:
        target = 0.8 * best["torch.compile step"]
        print(f"  0.8x torch.compile = {target:.2f} ms: {target - gem:.2f} ms left for all "
              f"that is not a GEMM (pyrch's rest now: {step - gem:.2f} ms)")
    if ns.calls:
        rows = sorted(_each_call(f, x, y).items(), key=lambda kv: -kv[1][2])
        hot = sum(v[1] for _, v in rows)
        cold = sum(v[2] for _, v in rows)
        print(f"the recorded calls: {cold:.2f} ms a replay run in plan order once each, "
              f"{hot:.2f} ms each run alone over and over (caches warm)")
        print("  in order    alone")
        for (kind, name), (count, ms, ms_seq) in rows:
            print(f"  {ms_seq:7.3f}  {ms:7.3f} ms  {count:3d}x {kind:9s} {name}")


if __name__ == "__main__":
    main()
