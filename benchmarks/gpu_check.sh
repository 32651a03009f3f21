#!/usr/bin/env bash
# One short GPU check (< 8 minutes): the CUDA tests, then benchmarks/bench_gpu.py.
#
#   benchmarks/gpu_check.sh [results.md]      (default: $OUT/gpu_results.md, else ./gpu_results.md)
#
# Installs nothing. Works without pyrch's C extension (pyrch falls back to its
# reference executor on the CPU side; the GPU path never uses _C). Writes the
# environment, the test summary and the benchmark table to the results file,
# and the full logs next to it.
set -u
cd "$(dirname "$0")/.."
RESULTS="${1:-${OUT:-.}/gpu_results.md}"
LOGDIR="$(dirname "$RESULTS")"
mkdir -p "$LOGDIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export CUPY_CACHE_DIR="${CUPY_CACHE_DIR:-$LOGDIR/.cupy_cache}"
START=$(date +%s)

{
  echo "# pyrch GPU check ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo '```'
  (nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi not found") | head -4
  python - <<'PY' 2>&1
import importlib, pyrch
for m in ("numpy", "cupy", "torch"):
    try:
        print(m, importlib.import_module(m).__version__)
    except Exception as e:
        print(m, "unavailable:", type(e).__name__, e)
from pyrch import _C
print("pyrch._C built:", _C.available, "" if _C.available else f"({_C.error}; CPU plans use the reference executor)")
print("pyrch.cuda.is_available():", pyrch.cuda.is_available(), "devices:", pyrch.cuda.device_count())
PY
  echo '```'
} > "$RESULTS"

if ! python -c "import pyrch, sys; sys.exit(0 if pyrch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "no CUDA GPU / cupy not installed: skipping the GPU tests and benchmarks" | tee -a "$RESULTS"
  exit 0
fi

# 1. tests: codegen (nvcc) + the CUDA suite; at most ~4.5 minutes
echo "[gpu_check] tests..."
timeout 270 python -m pytest -q -p no:cacheprovider -o addopts="" --maxfail=200 -rf \
    tests/test_cuda_codegen.py tests/test_cuda.py > "$LOGDIR/gpu_tests.log" 2>&1
RC=$?
{
  echo
  echo "## CUDA tests (exit $RC$([ $RC = 124 ] && echo ': timed out at 270 s, partial'))"
  echo
  echo '```'
  grep -E "^(FAILED|ERROR)" "$LOGDIR/gpu_tests.log" | head -60
  tail -3 "$LOGDIR/gpu_tests.log"
  echo '```'
} >> "$RESULTS"

# 2. benchmarks in what is left of the 8 minutes
LEFT=$(( 470 - ($(date +%s) - START) ))
[ $LEFT -lt 60 ] && LEFT=60
echo "[gpu_check] benchmarks (limit ${LEFT}s)..."
echo >> "$RESULTS"
timeout "$LEFT" python benchmarks/bench_gpu.py --out "$RESULTS" > "$LOGDIR/gpu_bench.log" 2>&1
BRC=$?
if [ $BRC != 0 ]; then
  { echo; echo "bench_gpu.py exit $BRC (124 = timed out); log tail:"; echo '```'; tail -30 "$LOGDIR/gpu_bench.log"; echo '```'; } >> "$RESULTS"
fi
echo "[gpu_check] done in $(( $(date +%s) - START ))s -> $RESULTS"
