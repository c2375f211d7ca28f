'use strict';
/*
 * veles for Node.js: find the compiled extension and load it into a
 * better-sqlite3 Database (or a node:sqlite DatabaseSync opened with
 * { allowExtension: true }).
 *
 *   const Database = require('better-sqlite3');
 *   const veles = require('veles');            // this directory
 *   const db = new Database('app.db');
 *   veles.load(db);
 *   db.exec('CREATE VIRTUAL TABLE emb USING vectors(dim=384)');
 */
const fs = require('node:fs');
const path = require('node:path');

/** An explicit path to the module, e.g. /usr/local/lib/sqlite3/veles.so */
const ENV_VAR = 'VELES_PATH';

const SUFFIX = { win32: '.dll', darwin: '.dylib' }[process.platform] || '.so';

/* Where getLoadablePath() looks, in order: [where, path] pairs. */
function candidates() {
  const out = [];
  let env = process.env[ENV_VAR];
  if (env) {
    // A path given on purpose wins over anything found by looking.
    if (fs.existsSync(env) && fs.statSync(env).isDirectory()) {
      env = path.join(env, 'veles' + SUFFIX);
    } else if (!env.endsWith(SUFFIX)) {
      env += SUFFIX;
    }
    out.push([ENV_VAR, env]);
  }
  // Beside this file: a package that ships the module.
  out.push(['package', path.join(__dirname, 'veles' + SUFFIX)]);
  // The repository's build tree: bindings/node -> build/
  out.push(['build', path.resolve(__dirname, '..', '..', 'build',
                                  'veles' + SUFFIX)]);
  return out;
}

/**
 * The full path of the veles loadable extension. Looks, in this order, at
 *   1. $VELES_PATH (a file, with or without its suffix, or a directory
 *      holding veles.so): when set, it is the answer, found or not;
 *   2. veles.so beside this file;
 *   3. build/veles.so of the repository this package sits in.
 * Throws an Error naming every place looked at.
 */
function getLoadablePath() {
  const looked = [];
  for (const [where, file] of candidates()) {
    if (fs.existsSync(file) && fs.statSync(file).isFile()) return file;
    looked.push(`${where}: ${file}`);
    if (where === ENV_VAR) break;
  }
  const err = new Error('veles: loadable extension not found; looked at ' +
                        looked.join('; '));
  err.code = 'ENOENT';
  throw err;
}

/**
 * Load veles into an open database. better-sqlite3: db.loadExtension().
 * node:sqlite: extension loading is enabled for the call only (the
 * database must have been opened with { allowExtension: true }).
 */
function load(db) {
  const file = getLoadablePath();
  if (typeof db.enableLoadExtension === 'function') {
    db.enableLoadExtension(true);
    try {
      db.loadExtension(file);
    } finally {
      db.enableLoadExtension(false);
    }
  } else {
    db.loadExtension(file);
  }
}

module.exports = { ENV_VAR, getLoadablePath, load };
