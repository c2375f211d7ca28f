-- veles demo: run with   sqlite3 demo.db < sql/demo.sql
-- (scripts/demo.sh builds the extension and does exactly that)
.bail on
.load ./build/veles
.headers on
.mode box

-- 1. Two tables: 4-dimensional vectors (kept in a side file beside
--    demo.db, contiguous f32) and JSON payloads with a declared field
--    that gets an index.
CREATE VIRTUAL TABLE emb  USING vectors(dim=4, metric=cosine);
CREATE VIRTUAL TABLE meta USING payloads(lang TEXT);

-- 2. store_batch: one transaction stores five vectors with their
--    payloads. COMMIT is the durability barrier (flush): when it
--    returns, vectors and payloads are on disk together.
BEGIN;
INSERT INTO emb(id, vec) VALUES
  (1, '[0.9, 0.1, 0.0, 0.0]'),
  (2, '[0.8, 0.2, 0.1, 0.0]'),
  (3, '[0.0, 1.0, 0.0, 0.1]'),
  (4, '[0.1, 0.0, 0.9, 0.2]'),
  (5, '[0.7, 0.3, 0.0, 0.1]');
INSERT INTO meta(id, json) VALUES
  (1, '{"title": "Cats",            "lang": "en"}'),
  (2, '{"title": "Chats",           "lang": "fr"}'),
  (3, '{"title": "Dogs",            "lang": "en"}'),
  (4, '{"title": "Birds",           "lang": "en"}'),
  (5, '{"title": "Katzen",          "lang": "de"}');
COMMIT;

-- 3. A batch that fails stores nothing: neither vectors nor payloads.
BEGIN;
INSERT INTO emb(id, vec) VALUES (6, '[0.5, 0.5, 0.5, 0.5]');
INSERT INTO meta(id, json) VALUES (6, '{"title": "Fish"}');
ROLLBACK;
SELECT (SELECT count(*) FROM emb) AS vectors, (SELECT count(*) FROM meta) AS payloads;

-- 4. retrieve: a vector by id (veles_json shows the f32 blob as JSON),
--    and a vector with its payload through a join on id.
SELECT id, veles_json(vec) AS vec FROM emb WHERE id = 3;
SELECT v.id, veles_json(v.vec) AS vec, p.json ->> '$.title' AS title
  FROM emb v JOIN meta p USING (id) ORDER BY v.id;

-- 5. store of an existing id overwrites with OR REPLACE; a plain INSERT
--    of an existing id is refused and changes nothing.
INSERT OR REPLACE INTO emb(id, vec) VALUES (3, '[0.0, 0.9, 0.1, 0.1]');
SELECT id, veles_json(vec) AS vec FROM emb WHERE id = 3;

-- 6. Filter payloads through the declared field's index.
SELECT id, json ->> '$.title' AS title FROM meta WHERE lang = 'en';

-- 7. Search: the 3 nearest neighbours of a query vector (exact, cosine
--    distance), then the same search restricted to English payloads: the
--    filter is applied before ranking, so k rows come back whenever k
--    rows match it.
SELECT e.id, round(e.distance, 4) AS distance, p.json ->> '$.title' AS title
  FROM emb e JOIN meta p USING (id)
 WHERE e.vec MATCH '[1, 0, 0, 0]' AND e.k = 3
 ORDER BY e.distance;
SELECT e.id, round(e.distance, 4) AS distance, p.json ->> '$.title' AS title
  FROM emb e JOIN meta p USING (id)
 WHERE e.vec MATCH '[1, 0, 0, 0]' AND e.k = 2
   AND e.id IN (SELECT id FROM meta WHERE lang = 'en')
 ORDER BY e.distance;

-- 7a. Hybrid search: the titles in an FTS5 table (SQLite's own full-text
--     index, same ids), and one call that fuses keyword and vector
--     relevance by reciprocal rank: each side ranks its best rows, and a
--     row scores 1/(60 + rank) from each side that found it.
CREATE VIRTUAL TABLE titles USING fts5(title);
INSERT INTO titles(rowid, title) SELECT id, json ->> '$.title' FROM meta;
SELECT h.id, round(h.score, 4) AS score, h.text_rank, h.vec_rank,
       p.json ->> '$.title' AS title
  FROM veles_hybrid('titles', 'emb', 'cats OR dogs', '[1, 0, 0, 0]', 3) h
  JOIN meta p USING (id)
 ORDER BY h.score DESC;

-- 8. delete: a missing id is a no-op. len and ids:
DELETE FROM emb WHERE id = 4;
DELETE FROM meta WHERE id = 4;
DELETE FROM emb WHERE id = 42;
SELECT count(*) AS len, group_concat(id) AS ids FROM emb;

-- 9. Check both tables: header, slot map, side file, JSON, field index.
SELECT veles_check('emb') AS emb, veles_check('meta') AS meta;

-- 10. Where the data lives: shadow tables in the database, and the
--     vectors in the side file demo.db-vectors-<identifier> beside it.
SELECT name AS shadow_table FROM sqlite_schema
 WHERE name LIKE 'emb_%' OR name LIKE 'meta_%' ORDER BY name;
