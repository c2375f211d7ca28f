'use strict';
/*
 * The SQL scripts sql/tests/NN_name.sql on better-sqlite3's SQLite (3.5x),
 * with the rules test/test_sqlscripts.c applies on the system SQLite
 * (sql/tests/README.md): the same scripts give the same output on both.
 *
 * Environment: VELES_PATH (the module), NODE_PATH (better-sqlite3),
 * VELES_NODE_SCRATCH (a directory for the databases).
 */
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const DIR = path.join(ROOT, 'sql', 'tests');
const SCRATCH = process.env.VELES_NODE_SCRATCH;
let Database = null;
try { Database = require('better-sqlite3'); } catch { /* skipped below */ }
const skip = Database ? false
  : 'better-sqlite3 is not installed: bash scripts/node-deps.sh';

function open(file) {
  const db = new Database(file);
  db.defaultSafeIntegers(true);      // INTEGER -> BigInt, REAL -> number
  db.loadExtension(process.env.VELES_PATH);
  return db;
}

/* A value as test_sqlscripts.c prints it. */
function format(v) {
  if (v === null) return 'NULL';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    const s = String(v);
    return Number.isInteger(v) && Math.abs(v) < 1e21 ? s + '.0' : s;
  }
  if (Buffer.isBuffer(v)) return `X'${v.toString('hex').toUpperCase()}'`;
  return v;
}

function runStatement(db, sql) {
  try {
    const stmt = db.prepare(sql);
    if (!stmt.reader) { stmt.run(); return ''; }
    return stmt.raw().all().map((r) => r.map(format).join('|') + '\n').join('');
  } catch (e) {
    if (!(e instanceof Database.SqliteError)) throw e;
    return `error: ${e.message}\n`;
  }
}

function runScript(name) {
  const file = path.join(SCRATCH, `${name}.db`);
  for (const f of fs.readdirSync(SCRATCH)) {
    if (f === `${name}.db` || f.startsWith(`${name}.db-`)) {
      fs.rmSync(path.join(SCRATCH, f));
    }
  }
  let db = open(file);
  let out = '';
  let stmt = '';
  const lines = fs.readFileSync(path.join(DIR, `${name}.sql`), 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    const t = line.trimEnd();
    if (stmt === '' && t === '') continue;
    if (stmt === '' && t.startsWith('--')) {
      if (/^-- [0-9]/.test(t)) out += t + '\n';
      continue;
    }
    if (stmt === '' && t.startsWith('.')) {
      assert.strictEqual(t, '.reopen', `${name}.sql: unknown command`);
      db.close();
      db = open(file);
      continue;
    }
    stmt += line + '\n';
    if (t.endsWith(';')) {
      out += runStatement(db, stmt);
      stmt = '';
    }
  }
  assert.strictEqual(stmt, '', `${name}.sql: the last statement has no ';'`);
  db.close();
  return out;
}

test('SQLite version', { skip }, (t) => {
  const db = new Database(':memory:');
  const v = db.prepare('SELECT sqlite_version() AS v').get().v;
  db.close();
  t.diagnostic(`better-sqlite3 ${require('better-sqlite3/package.json').version}, SQLite ${v}`);
  const [maj, min] = v.split('.').map(Number);
  assert.ok(maj === 3 && min >= 44, `SQLite ${v}: this test is for 3.44 or newer`);
});

const names = fs.readdirSync(DIR).filter((f) => f.endsWith('.sql'))
  .map((f) => f.slice(0, -4)).sort();
for (const name of names) {
  test(name, { skip }, () => {
    fs.mkdirSync(SCRATCH, { recursive: true });
    const want = fs.readFileSync(path.join(DIR, `${name}.out`), 'utf8');
    assert.strictEqual(runScript(name), want);
  });
}
