-- Hybrid search: an FTS5 table and a vectors table, fused by rank.
-- 7.0 the tables: a document's id is its FTS5 rowid and its vector's id
CREATE VIRTUAL TABLE docs USING fts5(body);
CREATE VIRTUAL TABLE emb USING vectors(dim=2);
CREATE VIRTUAL TABLE meta USING payloads(lang TEXT);
INSERT INTO docs(rowid, body) VALUES
  (1, 'sqlite stores data in one file'),
  (2, 'vectors and embeddings for search'),
  (3, 'full text search with sqlite fts5'),
  (4, 'a recipe for bread'),
  (5, 'search engines rank documents');
INSERT INTO emb(id, vec) VALUES
  (1, '[1,0]'), (2, '[0,1]'), (3, '[0.8,0.6]'), (4, '[-1,0]'), (5, '[0.6,0.8]');
INSERT INTO meta(id, json) VALUES
  (1, '{"lang":"en"}'), (2, '{"lang":"fr"}'), (3, '{"lang":"en"}'),
  (4, '{"lang":"fr"}'), (5, '{"lang":"en"}');

-- 7.1 ranks on both sides, fused: 1/(60+rank) summed
SELECT id, text_rank, vec_rank, round(score, 6), round(vec_distance, 4)
  FROM veles_hybrid('docs', 'emb', 'search', '[0,1]', 3);

-- 7.2 weights: the vector side counts twice
SELECT id, round(score, 6)
  FROM veles_hybrid('docs', 'emb', 'search', '[0,1]', 3, 60, 1, 2);

-- 7.3 a side of weight 0 ranks alone; rows only it found do not come
SELECT id FROM veles_hybrid('docs', 'emb', 'sqlite', '[0,1]', 5, 60, 1, 0);

-- 7.4 an id filter from a payloads field, in both sides
SELECT id, text_rank, vec_rank
  FROM veles_hybrid('docs', 'emb', 'search OR sqlite', '[0,1]', 5)
 WHERE id IN (SELECT id FROM meta WHERE lang = 'en');

-- 7.5 refusals
SELECT * FROM veles_hybrid('docs', 'emb', '', '[0,1]', 3);
SELECT * FROM veles_hybrid('emb', 'emb', 'search', '[0,1]', 3);
SELECT * FROM veles_hybrid('docs', 'meta', 'search', '[0,1]', 3);
SELECT * FROM veles_hybrid('docs', 'emb', 'search', '[0,1]', 3, 60, 0, 0);
