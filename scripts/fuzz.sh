#!/bin/bash
# Builds the libFuzzer targets (test/fuzz/, clang, ASan + UBSan) in
# build-fuzz and runs each for FUZZ_SECONDS seconds (default 45) on a copy
# of its committed seed corpus (test/fuzz/corpus/<target>/). A target
# passes when it ends without a crash, sanitizer report or leak; the
# crashing input is left in build-fuzz/fuzz-out/<target>/ (add it to the
# corpus once the defect is fixed). Long runs: docs/fuzzing.md.
#   FUZZ_SECONDS=3600 FUZZ_JOBS=2 bash scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh clang libclang-rt-14-dev
seconds="${FUZZ_SECONDS:-45}"
jobs="${FUZZ_JOBS:-1}"
targets=(fuzz_sql fuzz_sidefile)

echo "== build fuzz targets (clang, libFuzzer, ASan + UBSan)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DVELES_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}"

passed=0
failed=0
for t in "${targets[@]}"; do
  out="build-fuzz/fuzz-out/$t"
  rm -rf "$out"
  mkdir -p "$out/corpus"
  cp test/fuzz/corpus/"$t"/* "$out/corpus/"
  echo "== $t: ${seconds}s, $jobs job(s), $(ls "$out/corpus" | wc -l) seeds"
  args=(-max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096
        -print_final_stats=1 -artifact_prefix="$out/")
  if [ "$jobs" -gt 1 ]; then
    args+=(-jobs="$jobs" -workers="$jobs")
  fi
  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     "build-fuzz/$t" "${args[@]}" "$out/corpus" >"$out/log" 2>&1; then
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)|cov:" \
         "$out/log" | tail -3 || true
    echo "ok: $t"
    passed=$((passed+1))
  else
    tail -40 "$out/log"
    ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* \
       2>/dev/null || true
    echo "FAILED: $t (log: $out/log)"
    failed=$((failed+1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
