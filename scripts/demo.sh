#!/bin/bash
# One command for a new user: install, build, and run the demo in the
# sqlite3 shell (sql/demo.sql on a fresh database build/demo.db). The
# build keeps build/'s configuration (scripts/test.sh's, if it ran), so it
# rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
rm -f build/demo.db build/demo.db-*
sqlite3 build/demo.db < sql/demo.sql
