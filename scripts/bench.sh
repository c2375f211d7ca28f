#!/bin/bash
# Runs every benchmark on a Release build of its own (build-bench/bench_*,
# so that build/ keeps the test script's configuration), prints their
# tables, and draws docs/bench.svg from their ratios. Not part of the test
# suite: these machines are shared and noisy, so figures are reported,
# never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh python3
b=build-bench
cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$b" -j"$(nproc)" --target veles bench_vectors bench_payloads \
      bench_filters bench_search >/dev/null
out="$b/bench-results.tsv"
: > "$out"
for p in bench_vectors bench_payloads bench_filters bench_search; do
  echo "== $b/$p"
  dir="$b/bench-scratch/$p"
  mkdir -p "$dir"
  "$b/$p" "$b/veles.so" "$dir" | tee -a "$out"
done
/usr/bin/python3 scripts/bench_chart.py "$out" docs/bench.svg
echo "chart: docs/bench.svg"
