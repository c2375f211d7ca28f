#!/bin/bash
# Runs every benchmark (build/bench_*), prints their tables, and draws
# docs/bench.svg from their ratios. Not part of the test suite: these
# machines are shared and noisy, so figures are reported, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh python3
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
out=build/bench-results.tsv
: > "$out"
for b in build/bench_vectors build/bench_payloads build/bench_search; do
  [ -x "$b" ] || continue
  echo "== $b"
  dir="build/bench-scratch/$(basename "$b")"
  mkdir -p "$dir"
  "$b" build/veles.so "$dir" | tee -a "$out"
done
/usr/bin/python3 scripts/bench_chart.py "$out" docs/bench.svg
echo "chart: docs/bench.svg"
