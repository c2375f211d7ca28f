#!/bin/bash
# One command for the whole test suite: install, build (warnings are
# errors), run every test with ctest, then again under AddressSanitizer
# and UndefinedBehaviorSanitizer. .ci/run runs exactly this.
# Besides the build's packages it installs what the bindings' tests use:
# Debian's python3 and python3-pytest, and better-sqlite3 from npm into
# build/node (built once, then kept; scripts/node-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh python3 python3-pytest
bash scripts/node-deps.sh build/node
jobs="$(nproc)"

echo "== build and test (release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVELES_WERROR=ON \
      -DVELES_STATIC=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== build and test (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVELES_WERROR=ON \
      -DVELES_SANITIZE=ON -DVELES_STATIC=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j"$jobs")

echo "== fuzz (libFuzzer, ASan + UBSan; docs/fuzzing.md)"
bash scripts/fuzz.sh
