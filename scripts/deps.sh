#!/bin/bash
# Installs what veles needs to build and test, from Debian's packages.
# Run as root on Debian bookworm; does nothing when all is installed.
set -euo pipefail
packages=(gcc make cmake pkg-config sqlite3 libsqlite3-dev libcjson-dev)
missing=()
for p in "${packages[@]}" "$@"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
