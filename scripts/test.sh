#!/bin/bash
# One command for the whole test suite: install, build (warnings are
# errors), run every test with ctest, then again under AddressSanitizer
# and UndefinedBehaviorSanitizer, then the threaded tests under
# ThreadSanitizer, then the fuzzers. .ci/run runs exactly this.
# Besides the build's packages it installs what the bindings' tests use:
# Debian's python3 and python3-pytest, go-dqlite, golang-go and go-dqlite's
# sources for the dqlite cluster test (test/replication), and better-sqlite3
# from npm into build/node (built once, then kept; scripts/node-deps.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
set -e
bash scripts/deps.sh python3 python3-pytest go-dqlite golang-go \
  golang-github-canonical-go-dqlite-dev
bash scripts/node-deps.sh build/node
jobs="$(nproc)"

logs=build-logs
mkdir -p "$logs"
status=0

# ctest's summary "N% tests passed, F tests failed out of T" -> "P F"
counts() {
  sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\).*/\2 \1/p' "$1" |
    tail -1 | awk '{print $1-$2, $2}'
}

echo "== build and test (release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVELES_WERROR=ON \
      -DVELES_STATIC=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs") 2>&1 | tee "$logs/release.log" ||
  status=1

echo "== build and test (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVELES_WERROR=ON \
      -DVELES_SANITIZE=ON -DVELES_STATIC=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j"$jobs") 2>&1 | tee "$logs/asan.log" ||
  status=1

# ThreadSanitizer: only the module and the drivers whose code runs threads
# (test_concurrency: connections in threads and processes; test_search:
# scan threads, and a 12 MB batch through the side file's background
# writer; test_approx: the code scan's threads and the IVF build's), to
# keep the stage short. Debian's libsqlite3 is not instrumented; TSan
# understands its pthread mutexes.
echo "== build and test (TSan)"
tsan_start=$(date +%s)
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DVELES_WERROR=ON \
      -DVELES_TSAN=ON >/dev/null
cmake --build build-tsan -j"$jobs" --target veles test_concurrency \
      test_search test_approx
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
   ctest --output-on-failure -j"$jobs" \
         -R '^(test_concurrency|test_search|test_approx)$') 2>&1 |
  tee "$logs/tsan.log" || status=1
echo "TSan stage: $(( $(date +%s) - tsan_start )) s"

echo "== fuzz (libFuzzer, ASan + UBSan; docs/fuzzing.md)"
bash scripts/fuzz.sh 2>&1 | tee "$logs/fuzz.log" || status=1

# one closing line for the whole suite: the three ctest runs and the fuzzers
read -r p1 f1 <<<"$(counts "$logs/release.log")"
read -r p2 f2 <<<"$(counts "$logs/asan.log")"
read -r p4 f4 <<<"$(counts "$logs/tsan.log")"
read -r p3 f3 <<<"$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' \
                    "$logs/fuzz.log" | tail -1)"
passed=$(( ${p1:-0} + ${p2:-0} + ${p4:-0} + ${p3:-0} ))
failed=$(( ${f1:-1} + ${f2:-1} + ${f4:-1} + ${f3:-1} ))
echo "release ${p1:-?}/${f1:-?}, asan ${p2:-?}/${f2:-?}, tsan ${p4:-?}/${f4:-?}, fuzz ${p3:-?}/${f3:-?} (passed/failed)"
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
