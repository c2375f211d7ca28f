#!/bin/bash
# Installs sqlite-vec's loadable extension (vec0.so) for test/bench_search.c:
#   scripts/bench-search-deps.sh BUILD_DIR
# puts it at BUILD_DIR/bench-deps/node_modules/sqlite-vec-linux-x64/vec0.so,
# from the npm package sqlite-vec-linux-x64 (the build sqlite-vec publishes
# for Linux x86-64). Does nothing when it is there already.
set -euo pipefail
version=0.1.9
dir="${1:?usage: $0 BUILD_DIR}/bench-deps"
so="$dir/node_modules/sqlite-vec-linux-x64/vec0.so"
if [ -f "$so" ]; then
  echo "$so"
  exit 0
fi
if ! npm view "sqlite-vec-linux-x64@$version" version >/dev/null 2>&1; then
  echo "npm has no sqlite-vec-linux-x64@$version (or npm is unreachable)" >&2
  exit 1
fi
mkdir -p "$dir"
npm install --silent --no-audit --no-fund --prefix "$dir" \
    "sqlite-vec-linux-x64@$version" >&2
test -f "$so"
echo "$so"
