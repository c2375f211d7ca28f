#!/bin/bash
# ctest: install veles into a scratch prefix and use it as a user would.
#   test_install.sh BUILD_DIR SOURCE_DIR SCRATCH VERSION STATIC CC
# 1. cmake --install BUILD_DIR --prefix SCRATCH/prefix installs the
#    module, veles.h, veles.pc (and libveles.a when STATIC is ON)
# 2. the sqlite3 shell loads the build tree's module (.load ./<build>/veles)
#    and the installed one (.load <prefix>/lib/sqlite3/veles)
# 3. pkg-config finds veles at VERSION and names the installed module
# 4. (STATIC) examples/c/app.c compiles against the installed pkg-config
#    and runs
set -euo pipefail
build=$(cd "$1" && pwd) src=$2 scratch=$3 version=$4 static=$5 cc=$6
prefix=$scratch/prefix
passed=0
ok() { echo "ok $1"; passed=$((passed + 1)); }
expect() {   # expect NAME EXPECTED ACTUAL
  if [ "$2" != "$3" ]; then
    echo "FAIL $1: expected '$2', got '$3'"; echo "$passed passed, 1 failed"
    exit 1
  fi
  ok "$1"
}
rm -rf "$scratch" && mkdir -p "$scratch"

cmake --install "$build" --prefix "$prefix" > "$scratch/install.log"
libdir=$(ls -d "$prefix"/lib*/sqlite3/.. | head -n 1)
libdir=$(cd "$libdir" && pwd)
for f in "$libdir/sqlite3/veles.so" "$prefix/include/veles.h" \
         "$libdir/pkgconfig/veles.pc"; do
  [ -f "$f" ] || { echo "FAIL 1: not installed: $f"; exit 1; }
done
ok "1.0 installed files"
if [ "$static" = ON ]; then
  [ -f "$libdir/libveles.a" ] || { echo "FAIL 1.1: no libveles.a"; exit 1; }
  ok "1.1 installed libveles.a"
fi

# 2: the shell, with the path forms users type (no file suffix)
out=$(cd "$build/.." && sqlite3 :memory: ".load ./$(basename "$build")/veles" \
        "SELECT veles_version()")
expect "2.0 .load ./build/veles" "$version" "$out"
out=$(cd / && sqlite3 :memory: ".load $libdir/sqlite3/veles" \
        "CREATE VIRTUAL TABLE t USING vectors(dim=2)" \
        "INSERT INTO t VALUES (1, '[1,2]')" \
        "SELECT veles_version(), veles_json(vec) FROM t")
expect "2.1 .load of the installed module" "$version|[1.0,2.0]" "$out"

# 3: pkg-config
export PKG_CONFIG_PATH=$libdir/pkgconfig
expect "3.0 pkg-config --modversion" "$version" \
       "$(pkg-config --modversion veles)"
expect "3.1 pkg-config --variable=module" "$libdir/sqlite3/veles.so" \
       "$(pkg-config --variable=module veles)"
out=$(sqlite3 :memory: ".load $(pkg-config --variable=module veles)" \
        "SELECT veles_dim('[1,2,3]')")
expect "3.2 .load of pkg-config's module path" "3" "$out"

# 4: a program built against the installed static library
if [ "$static" = ON ]; then
  # shellcheck disable=SC2046
  "$cc" -Wall -Wextra -Werror ${VELES_EXTRA_CFLAGS:-} -o "$scratch/app" \
     "$src/examples/c/app.c" $(pkg-config --cflags --libs veles)
  ok "4.0 cc app.c \$(pkg-config --cflags --libs veles)"
  "$scratch/app" "$scratch/app.db" > "$scratch/app.txt"
  expect "4.1 app output" "$(cat "$src/examples/example.out")" \
         "$(tail -n +2 "$scratch/app.txt")"
fi
echo "$passed passed, 0 failed"
