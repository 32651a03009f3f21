#!/usr/bin/env bash
# Build pyrch/_C with AddressSanitizer + UBSan in a scratch copy and feed it the
# C VM tests (random programs, malformed programs, lying buffer extents, GEMM
# bounds). Any out-of-bounds access or undefined behaviour aborts the run.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git ls-files -z | xargs -0 -I{} cp --parents {} "$work"
cd "$work"
PYRCH_SANITIZE=1 python pyrch/_C/build.py > build.log 2>&1 || { cat build.log; exit 1; }
asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)
LD_PRELOAD="$asan:$ubsan" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 PYTHONPATH="$work" \
    python - <<'PY'
import os, sys, pyrch._C as c
assert c.available, c.error
assert os.path.dirname(c.__file__).startswith(os.getcwd()), f"not the sanitized build: {c.__file__}"
print("sanitized build:", c._ffi and c.__file__)
PY
LD_PRELOAD="$asan:$ubsan" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 PYTHONPATH="$work" \
    python -m pytest -q -p no:cacheprovider -o addopts="" tests/test_c_vm.py tests/test_jit_segments.py tests/test_attention_fused.py
