#!/bin/bash
# Installs what the Node.js tests need: node and npm (Debian's, if the
# machine has none) and better-sqlite3 from the npm registry, into
# DIR/node_modules (default build/node/node_modules). Does nothing when
# better-sqlite3 is there and opens a database with this node.
#
# better-sqlite3's install script first asks GitHub for a prebuilt binary;
# where that is unreachable it builds from source with node-gyp, which
# needs g++, make, python3 and node's headers. Those come from Debian
# (/usr/include/node: Debian's libnode-dev, or the nodejs package that
# ships them); npm_config_nodedir points node-gyp there, so it downloads
# nothing. The build takes about a minute on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build/node}

command -v node >/dev/null && command -v npm >/dev/null \
  || bash scripts/deps.sh nodejs npm
bash scripts/deps.sh g++ make python3
if [ ! -f /usr/include/node/node.h ]; then
  bash scripts/deps.sh libnode-dev
fi

probe="new (require('better-sqlite3'))(':memory:').close()"
if NODE_PATH="$dir/node_modules" node -e "$probe" 2>/dev/null; then
  exit 0
fi

# better-sqlite3 12 wants node >= 20; 11 still builds on Debian's node 18.
spec=$(node -p "require('./bindings/node/package.json').devDependencies['better-sqlite3']")
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  spec='^11.10.0'
fi
echo "installing better-sqlite3@$spec into $dir (node $(node --version))"
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{ "private": true }' > "$dir/package.json"
export npm_config_nodedir=/usr npm_config_python=/usr/bin/python3
export JOBS="$(nproc)"
npm install --prefix "$dir" --no-audit --no-fund --foreground-scripts \
    "better-sqlite3@$spec" > "$dir/install.log" 2>&1 \
  || { tail -n 40 "$dir/install.log"; exit 1; }
if ! NODE_PATH="$dir/node_modules" node -e "$probe"; then
  # an npm that skipped the install script: build it now
  npm rebuild --prefix "$dir" --foreground-scripts better-sqlite3 \
      >> "$dir/install.log" 2>&1 || { tail -n 40 "$dir/install.log"; exit 1; }
  NODE_PATH="$dir/node_modules" node -e "$probe"
fi
NODE_PATH="$dir/node_modules" node -e \
  "const D = require('better-sqlite3'); const db = new D(':memory:');
   console.log('better-sqlite3', require('better-sqlite3/package.json').version,
               'with SQLite', db.prepare('SELECT sqlite_version() v').get().v)"
