#!/bin/bash
# ctest: run the statically linked example program (examples/c/app.c) on
# a fresh database and compare its output, less the first line (the
# versions), with examples/example.out.
#   test_example.sh APP SCRATCH EXPECTED
set -euo pipefail
app=$1 scratch=$2 expected=$3
rm -rf "$scratch" && mkdir -p "$scratch"
"$app" "$scratch/app.db" > "$scratch/out.txt"
head -n 1 "$scratch/out.txt"
tail -n +2 "$scratch/out.txt" | diff -u "$expected" -
ls "$scratch"/app.db-vectors-* >/dev/null   # the side file is beside it
echo "example: 1 passed, 0 failed"
