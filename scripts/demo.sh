#!/bin/bash
# One command for a new user: install, build, and run the demo in the
# sqlite3 shell (sql/demo.sql on a fresh database build/demo.db).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
rm -f build/demo.db build/demo.db-*
sqlite3 build/demo.db < sql/demo.sql
