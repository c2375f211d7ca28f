#!/bin/bash
# Benchmarks the approximate searches (rescore = R, probe = P) against the
# exact scan on vectors with exact ground truth from
# ../shared/data/make_vectors.py (clustered, and Gaussian: the worst
# case), on a Release build in
# build-bench. Not part of the test suite: figures are reported, never
# asserted. N (default 100000) sets the rows of each data set. The peers,
# sqliteai's sqlite-vector (its quantized scan) and vectorlite (HNSW by
# hnswlib), come from npm (@sqliteai/sqlite-vector-linux-x86_64,
# vectorlite) into build-bench/bench-deps. VECTORLITE=0 leaves vectorlite
# out (its build takes minutes at a million rows).
#   bash scripts/bench-approx.sh           N=1000000 bash scripts/bench-approx.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh python3 python3-numpy
n="${N:-100000}"
gen=../shared/data/make_vectors.py
b=build-bench
cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$b" -j"$(nproc)" --target veles bench_approx >/dev/null
peer_version=1.1.2
peer="$b/bench-deps/node_modules/@sqliteai/sqlite-vector-linux-x86_64/vector.so"
if [ ! -f "$peer" ]; then
  command -v npm >/dev/null || bash scripts/deps.sh nodejs npm
  npm install --silent --no-audit --no-fund --prefix "$b/bench-deps" \
      "@sqliteai/sqlite-vector-linux-x86_64@$peer_version" >&2
fi
lite_version=0.2.0
lite="$b/bench-deps/node_modules/@1yefuwang1/vectorlite-linux-x64/src/vectorlite.so"
if [ "${VECTORLITE:-1}" != 0 ] && [ ! -f "$lite" ]; then
  npm install --silent --no-audit --no-fund --prefix "$b/bench-deps" \
      "vectorlite@$lite_version" >&2
fi
data="$b/bench-scratch/quant-data"
work="$b/bench-scratch/quant"
mkdir -p "$data" "$work"
lite_arg=""
[ "${VECTORLITE:-1}" != 0 ] && lite_arg="$(realpath "$lite")"
run(){   # name dim metric kind
  local out="$data/$1-$n"
  if [ ! -f "$out.gt.ivecs" ]; then
    /usr/bin/python3 "$gen" "$out" --n "$n" --dim "$2" --queries 200 \
        --k 10 --metric "$3" --kind "$4" >/dev/null
  fi
  echo "== $1: $n x $2, $3, $4"
  "$b/bench_approx" "$b/veles.so" "$work" "$out.base.fvecs" \
      "$out.query.fvecs" "$out.gt.ivecs" "$3" 3 "$(realpath "$peer")" \
      ${lite_arg:+"$lite_arg"}
}
run clustered128 128 l2 clustered
run gaussian128 128 l2 gaussian
run clustered768 768 cosine clustered
