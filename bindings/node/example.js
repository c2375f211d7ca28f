'use strict';
/*
 * veles from Node.js with better-sqlite3: embeddings with payloads,
 * stored atomically, read back and searched. The same story as
 * examples/c/app.c, with the same output after the first line
 * (examples/example.out).
 *
 *   node bindings/node/example.js docs.db
 *
 * Finds the extension with getLoadablePath() ($VELES_PATH, beside the
 * package, or the repository's build/).
 */
const Database = require('better-sqlite3');
const veles = require('./index.js');

const DOCS = [ // id, embedding, payload
  [1, [0.9, 0.1, 0.0, 0.0], '{"title":"Cats","lang":"en"}'],
  [2, [0.8, 0.2, 0.1, 0.0], '{"title":"Chats","lang":"fr"}'],
  [3, [0.0, 1.0, 0.0, 0.1], '{"title":"Dogs","lang":"en"}'],
  [4, [0.1, 0.0, 0.9, 0.2], '{"title":"Birds","lang":"en"}'],
  [5, [0.7, 0.3, 0.0, 0.1], '{"title":"Katzen","lang":"de"}'],
];

/** A vector as veles stores it: a BLOB of f32 (little-endian here). */
function f32(vec) {
  return Buffer.from(new Float32Array(vec).buffer);
}

function show(rows) {
  for (const row of rows) {
    console.log(row.map((v) => (v === null ? 'NULL' : String(v))).join('|'));
  }
}

function main(file) {
  const db = new Database(file);
  veles.load(db);
  const all = (sql, ...args) => db.prepare(sql).raw().all(...args);
  show(all("SELECT 'veles ' || veles_version() || ' on SQLite ' || sqlite_version()"));
  db.exec(`
    DROP TABLE IF EXISTS emb; DROP TABLE IF EXISTS meta;
    CREATE VIRTUAL TABLE emb USING vectors(dim=4, metric=cosine);
    CREATE VIRTUAL TABLE meta USING payloads(lang TEXT);
  `);

  // store_batch: db.transaction() runs the function inside BEGIN/COMMIT,
  // and rolls back if it throws. COMMIT is the durability barrier.
  const putVec = db.prepare('INSERT OR REPLACE INTO emb(id, vec) VALUES (?, ?)');
  const putMeta = db.prepare('INSERT OR REPLACE INTO meta(id, json) VALUES (?, ?)');
  const storeBatch = db.transaction((docs) => {
    for (const [id, vec, json] of docs) {
      putVec.run(id, f32(vec));
      putMeta.run(id, json);
    }
  });
  storeBatch(DOCS);
  const counts = 'SELECT (SELECT count(*) FROM emb), (SELECT count(*) FROM meta)';
  console.log('-- stored');
  show(all(counts));

  // a batch that fails half-way stores nothing
  console.log('-- a batch with a bad vector stores nothing');
  try {
    storeBatch([[6, [0.5, 0.5, 0.5, 0.5], '{"title":"Fish"}'],
                [7, [1, 2, 3], '{"title":"Bad"}']]);
    throw new Error('example: a 3-element vector was accepted');
  } catch (e) {
    if (!(e instanceof Database.SqliteError)) throw e;
    console.log(`error: ${e.message}`);
  }
  show(all(counts));

  console.log('-- retrieve 3');
  show(all('SELECT v.id, veles_json(v.vec), p.json FROM emb v ' +
           'JOIN meta p USING (id) WHERE v.id = 3'));

  // k applies after the payload filter (the id IN list); MATERIALIZED
  // keeps SQLite from merging the search into the join
  console.log('-- the 2 nearest to [1,0,0,0] in English');
  show(all(`
    WITH hit AS MATERIALIZED (
      SELECT id, distance FROM emb WHERE vec MATCH ? AND k = 2
         AND id IN (SELECT id FROM meta WHERE lang = 'en'))
    SELECT hit.id, meta.json ->> '$.title', printf('%.4f', hit.distance)
    FROM hit JOIN meta USING (id) ORDER BY hit.distance`, f32([1, 0, 0, 0])));

  console.log('-- check');
  show(all("SELECT veles_check('emb'), veles_check('meta')"));
  db.close();
}

main(process.argv[2] || 'example.db');
