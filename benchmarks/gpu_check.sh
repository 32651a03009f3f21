#!/usr/bin/env bash
# One short GPU check (< 8 minutes; GPU_CHECK_TOTAL_S sets the limit): the CUDA tests, then benchmarks/bench_gpu.py.
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
export CUPY_CACHE_DIR="${CUPY_CACHE_DIR:-/tmp/pyrch_cupy_cache}"   # many small files: keep out of $OUT
PY="${PYTHON:-$(command -v python3 || command -v python)}"
TEST_S="${GPU_CHECK_TEST_S:-270}"        # the test stage's limit (seconds)
TOTAL_S="${GPU_CHECK_TOTAL_S:-470}"      # tests + benchmarks
export PYTHONUNBUFFERED=1
START=$(date +%s)

{
  echo "# pyrch GPU check ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo '```'
  (nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi not found") | head -4
  "$PY" - <<'PY' 2>&1
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

if ! "$PY" -c "import pyrch, sys; sys.exit(0 if pyrch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "no CUDA GPU / cupy not installed: skipping the GPU tests and benchmarks" | tee -a "$RESULTS"
  exit 0
fi

# 1. tests: codegen (nvcc) + the CUDA suite, spread over the cores where pytest-xdist is
#    installed (each worker compiles kernels into the shared cupy cache)
echo "[gpu_check] tests (limit ${TEST_S}s)..."
XDIST=()
"$PY" -c "import xdist" 2>/dev/null && XDIST=(-n "${GPU_CHECK_WORKERS:-12}")
TMO=()
"$PY" -c "import pytest_timeout" 2>/dev/null && TMO=(--timeout 120)
timeout -s INT -k 20 "$TEST_S" "$PY" -m pytest -v -p no:cacheprovider -o addopts="" --maxfail=400 -rfE --tb=short \
    "${XDIST[@]}" "${TMO[@]}" tests/test_cuda_codegen.py tests/test_cuda.py > "$LOGDIR/gpu_tests.log" 2>&1
RC=$?
{
  echo
  echo "## CUDA tests (exit $RC$([ $RC = 124 ] || [ $RC = 2 ] && echo ": stopped at $TEST_S s or interrupted, partial"))"
  echo
  echo '```'
  grep -E "^(FAILED|ERROR)" "$LOGDIR/gpu_tests.log" | cut -c1-300 | head -80
  tail -3 "$LOGDIR/gpu_tests.log"
  echo '```'
} >> "$RESULTS"

# 2. benchmarks in what is left of the 8 minutes
LEFT=$(( TOTAL_S - ($(date +%s) - START) ))
[ $LEFT -lt 60 ] && LEFT=60
echo "[gpu_check] benchmarks (limit ${LEFT}s)..."
echo >> "$RESULTS"
timeout "$LEFT" "$PY" benchmarks/bench_gpu.py --out "$RESULTS" > "$LOGDIR/gpu_bench.log" 2>&1
BRC=$?
if [ $BRC != 0 ]; then
  { echo; echo "bench_gpu.py exit $BRC (124 = timed out); log tail:"; echo '```'; tail -30 "$LOGDIR/gpu_bench.log"; echo '```'; } >> "$RESULTS"
fi
echo "[gpu_check] done in $(( $(date +%s) - START ))s -> $RESULTS"
