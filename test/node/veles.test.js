'use strict';
/*
 * veles through better-sqlite3 and the bindings/node package, as a
 * Node.js user uses it. better-sqlite3 bundles its own, newer SQLite.
 *
 * Environment: VELES_PATH (the module), NODE_PATH (better-sqlite3),
 * VELES_NODE_SCRATCH (a directory for the databases).
 */
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const veles = require('../../bindings/node');

const ROOT = path.resolve(__dirname, '..', '..');
const MODULE = process.env.VELES_PATH;
const SCRATCH = process.env.VELES_NODE_SCRATCH;
let Database = null;
try { Database = require('better-sqlite3'); } catch { /* skipped below */ }
const skip = Database ? false
  : 'better-sqlite3 is not installed: bash scripts/node-deps.sh';

function headerVersion() {
  const h = fs.readFileSync(path.join(ROOT, 'include', 'veles.h'), 'utf8');
  return /#define VELES_VERSION "([^"]+)"/.exec(h)[1];
}
const f32 = (vec) => Buffer.from(new Float32Array(vec).buffer);

function fresh(name) {
  fs.mkdirSync(SCRATCH, { recursive: true });
  const file = path.join(SCRATCH, name);
  for (const f of fs.readdirSync(SCRATCH)) {
    if (f === name || f.startsWith(name + '-')) fs.rmSync(path.join(SCRATCH, f));
  }
  const db = new Database(file);
  veles.load(db);
  return db;
}

/* Run fn with VELES_PATH set to value (undefined: unset). */
function withEnv(value, fn) {
  const old = process.env.VELES_PATH;
  if (value === undefined) delete process.env.VELES_PATH;
  else process.env.VELES_PATH = value;
  try { return fn(); } finally { process.env.VELES_PATH = old; }
}

// 1. finding the module
test('1.0 VELES_PATH: a file, without its suffix, a directory', () => {
  assert.strictEqual(withEnv(MODULE, veles.getLoadablePath), MODULE);
  assert.strictEqual(withEnv(MODULE.slice(0, -3), veles.getLoadablePath), MODULE);
  assert.strictEqual(withEnv(path.dirname(MODULE), veles.getLoadablePath), MODULE);
});

test('1.1 VELES_PATH wins even when missing', () => {
  const missing = path.join(SCRATCH || '/nonexistent', 'nowhere.so');
  assert.throws(() => withEnv(missing, veles.getLoadablePath), {
    code: 'ENOENT',
    message: `veles: loadable extension not found; looked at VELES_PATH: ${missing}`,
  });
});

test('1.2 then the package directory, then the repository build/', () => {
  const pkg = path.join(ROOT, 'bindings', 'node', 'veles.so');
  const build = path.join(ROOT, 'build', 'veles.so');
  let got;
  try {
    got = withEnv(undefined, veles.getLoadablePath);
  } catch (e) {
    assert.strictEqual(e.message, 'veles: loadable extension not found; ' +
                       `looked at package: ${pkg}; build: ${build}`);
    return;
  }
  assert.strictEqual(got, fs.existsSync(pkg) ? pkg : build);
});

test('1.3 package.json carries the version of include/veles.h', () => {
  const pkg = require('../../bindings/node/package.json');
  assert.strictEqual(pkg.version, headerVersion());
});

// 2. loading into better-sqlite3
test('2.0 versions', { skip }, (t) => {
  const db = fresh('v.db');
  const row = db.prepare('SELECT veles_version() AS veles, sqlite_version() AS sqlite').get();
  t.diagnostic(`better-sqlite3 ${require('better-sqlite3/package.json').version}, ` +
               `SQLite ${row.sqlite}, veles ${row.veles}`);
  assert.strictEqual(row.veles, headerVersion());
  db.close();
});

// 3. vectors and payloads
test('3.0 store and retrieve', { skip }, () => {
  const db = fresh('t.db');
  db.exec('CREATE VIRTUAL TABLE emb USING vectors(dim=3);' +
          'CREATE VIRTUAL TABLE meta USING payloads(tag TEXT)');
  db.prepare('INSERT INTO emb(id, vec) VALUES (?, ?)').run(1, f32([0.5, -1, 2]));
  db.prepare('INSERT INTO emb(id, vec) VALUES (?, ?)').run(2, '[1, 2, 3]');
  db.prepare('INSERT INTO meta(id, json) VALUES (?, ?)').run(1, '{"tag": "x"}');
  const { vec } = db.prepare('SELECT vec FROM emb WHERE id = 1').get();
  assert.deepStrictEqual(vec, f32([0.5, -1, 2]));
  assert.deepStrictEqual(Array.from(new Float32Array(vec.buffer, vec.byteOffset, 3)),
                         [0.5, -1, 2]);
  assert.strictEqual(db.prepare('SELECT veles_json(vec) AS j FROM emb WHERE id = 2').get().j,
                     '[1.0,2.0,3.0]');
  assert.strictEqual(db.prepare("SELECT id FROM meta WHERE tag = 'x'").pluck().get(), 1);
  assert.deepStrictEqual(db.prepare('SELECT id FROM emb').pluck().all(), [1, 2]);
  db.close();
});

test('3.1 db.transaction() stores a batch atomically', { skip }, () => {
  const db = fresh('a.db');
  db.exec('CREATE VIRTUAL TABLE emb USING vectors(dim=2);' +
          'CREATE VIRTUAL TABLE meta USING payloads');
  const put = db.prepare('INSERT INTO emb(id, vec) VALUES (?, ?)');
  const meta = db.prepare('INSERT INTO meta(id, json) VALUES (?, ?)');
  const batch = db.transaction((rows) => {
    for (const [id, v] of rows) { put.run(id, f32(v)); meta.run(id, '{}'); }
  });
  batch([[1, [1, 1]], [2, [2, 2]]]);
  assert.throws(() => batch([[3, [3, 3]], [4, [4, 4, 4]]]), {
    name: 'SqliteError',
    message: 'vectors: dimension mismatch: expected 2, got 3',
  });
  assert.deepStrictEqual(
    db.prepare('SELECT (SELECT count(*) FROM emb), (SELECT count(*) FROM meta)').raw().get(),
    [2, 2]);
  assert.strictEqual(db.prepare("SELECT veles_check('emb')").pluck().get(), 'ok');
  db.close();
});

test('3.2 errors', { skip }, () => {
  const db = fresh('e.db');
  db.exec('CREATE VIRTUAL TABLE emb USING vectors(dim=2);' +
          'CREATE VIRTUAL TABLE meta USING payloads');
  db.exec("INSERT INTO emb(id, vec) VALUES (1, '[1,2]')");
  assert.throws(() => db.exec("INSERT INTO emb(id, vec) VALUES (1, '[1,2]')"), {
    code: /^SQLITE_CONSTRAINT/, message: 'UNIQUE constraint failed: emb.id',
  });
  assert.throws(() => db.exec(`INSERT INTO meta(id, json) VALUES (1, '{"a":')`), {
    message: 'payloads: invalid JSON at byte 5: unexpected end of text',
  });
  db.close();
});

test('3.3 durable across connections; PRAGMA integrity_check', { skip }, () => {
  let db = fresh('d.db');
  db.exec('CREATE VIRTUAL TABLE emb USING vectors(dim=2)');
  const put = db.prepare('INSERT INTO emb(id, vec) VALUES (?, ?)');
  db.transaction(() => { for (let i = 0; i < 100; i++) put.run(i, f32([i, -i])); })();
  db.close();
  assert.ok(fs.readdirSync(SCRATCH).some((f) => f.startsWith('d.db-vectors-')));
  db = new Database(path.join(SCRATCH, 'd.db'));
  veles.load(db);
  assert.deepStrictEqual(db.prepare('SELECT count(*), sum(id) FROM emb').raw().get(),
                         [100, 4950]);
  assert.deepStrictEqual(db.prepare('SELECT vec FROM emb WHERE id = 42').pluck().get(),
                         f32([42, -42]));
  // on 3.44+ the modules take part in integrity_check (xIntegrity)
  assert.deepStrictEqual(db.prepare('PRAGMA integrity_check').pluck().all(), ['ok']);
  db.close();
});

test('3.4 PRAGMA integrity_check reports damage through xIntegrity', { skip }, () => {
  const db = fresh('i.db');
  db.exec(`CREATE VIRTUAL TABLE emb USING vectors(dim=2);
           INSERT INTO emb VALUES (1, '[1,2]'), (2, '[3,4]');
           CREATE VIRTUAL TABLE meta USING payloads(lang TEXT);
           INSERT INTO meta(id, json) VALUES (1, '{"lang":"en"}');`);
  assert.deepStrictEqual(db.prepare('PRAGMA integrity_check').pluck().all(), ['ok']);
  // edit shadow rows as an application with defensive mode off could
  db.unsafeMode(true);
  db.exec(`UPDATE emb_map SET slot = 9 WHERE id = 2;
           UPDATE meta_data SET lang = 'fr' WHERE id = 1;`);
  const report = db.prepare('PRAGMA integrity_check').pluck().all().join('\n');
  assert.match(report, /emb: slots past the end of the side file \(2 slots\): 9/);
  assert.match(report, /meta: ids whose field lang differs from their payload: 1/);
  db.close();
});

test('3.5 DROP TABLE removes the side file when the drop commits', { skip }, () => {
  const db = fresh('drop.db');
  const files = () => fs.readdirSync(SCRATCH)
    .filter((f) => f.startsWith('drop.db-vectors-')).length;
  db.exec(`CREATE VIRTUAL TABLE a USING vectors(dim=2);
           CREATE VIRTUAL TABLE b USING vectors(dim=2);
           INSERT INTO b VALUES (1, '[1,2]');`);
  assert.strictEqual(files(), 2);
  db.exec('DROP TABLE a');                      // autocommit
  assert.strictEqual(files(), 1);
  db.exec('BEGIN; DROP TABLE b; ROLLBACK');
  db.exec('SAVEPOINT s; DROP TABLE b; ROLLBACK TO s; RELEASE s');
  assert.strictEqual(files(), 1);
  assert.deepStrictEqual(db.prepare('SELECT vec FROM b').pluck().get(), f32([1, 2]));
  db.exec('BEGIN; DROP TABLE b');
  assert.strictEqual(files(), 1);
  db.exec('COMMIT');
  assert.strictEqual(files(), 0);
  db.close();
});

// 4. search
test('4.0 search', { skip }, () => {
  const db = fresh('s.db');
  db.exec('CREATE VIRTUAL TABLE emb USING vectors(dim=2)');
  const put = db.prepare('INSERT INTO emb(id, vec) VALUES (?, ?)');
  for (let i = 0; i < 10; i++) put.run(i, f32([i, 0]));
  // k as a BigInt: better-sqlite3 binds a JS number as a REAL (3.0),
  // and the search wants an INTEGER k
  const rows = db.prepare('SELECT id, distance FROM emb WHERE vec MATCH ? AND k = ?')
    .all(f32([3.2, 0]), 3n);
  assert.deepStrictEqual(rows.map((r) => r.id), [3, 4, 2]);
  assert.ok(Math.abs(rows[0].distance - 0.2) < 1e-6);
  db.close();
});

// 5. the example
test('5.0 example.js prints examples/example.out', { skip }, () => {
  fs.mkdirSync(SCRATCH, { recursive: true });
  const file = path.join(SCRATCH, 'example.db');
  const out = execFileSync(process.execPath,
    [path.join(ROOT, 'bindings', 'node', 'example.js'), file], { encoding: 'utf8' });
  const nl = out.indexOf('\n');
  assert.match(out.slice(0, nl), /^veles \S+ on SQLite 3\.\d+\.\d+$/);
  assert.strictEqual(out.slice(nl + 1),
                     fs.readFileSync(path.join(ROOT, 'examples', 'example.out'), 'utf8'));
});

// 6. node:sqlite (node 22.13 and newer), when this node has it
let nodeSqlite = null;
try { nodeSqlite = require('node:sqlite'); } catch { /* older node */ }
test('6.0 node:sqlite', (t) => {
  if (!nodeSqlite) {           // not a skip: ctest would skip the whole test
    t.diagnostic(`node ${process.version} has no node:sqlite: not tried`);
    return;
  }
  const db = new nodeSqlite.DatabaseSync(':memory:', { allowExtension: true });
  veles.load(db);
  assert.strictEqual(db.prepare('SELECT veles_version() AS v').get().v, headerVersion());
  db.close();
});
