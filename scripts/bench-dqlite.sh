#!/bin/bash
# Benchmarks veles through a 3-node dqlite cluster beside a plain table on
# the same cluster (test/replication/bench_dqlite.py), on a Release build
# of the module in build-bench. Not part of the test suite: figures are
# reported, never asserted.   bash scripts/bench-dqlite.sh [N] [DIM] [QUERIES]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh python3 python3-numpy go-dqlite golang-go \
  golang-github-canonical-go-dqlite-dev
b=build-bench
cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$b" -j"$(nproc)" --target veles veles_preload dqlite_client \
  >/dev/null
VELES_PATH="$PWD/$b/veles.so" VELES_PRELOAD="$PWD/$b/veles_preload.so" \
DQLITE_CLIENT="$PWD/$b/dqlite-client" \
VELES_SCRATCH="$PWD/$b/bench-scratch/dqlite" PYTHONPATH="$PWD/bindings/python" \
  /usr/bin/python3 test/replication/bench_dqlite.py "$@"
