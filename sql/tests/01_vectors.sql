-- The vectors table: VectorStorage's methods as SQL.
-- 1.0 create; an empty table
CREATE VIRTUAL TABLE emb USING vectors(dim=3);
SELECT count(*) FROM emb;

-- 1.1 store as JSON text and as an f32 blob; retrieve
INSERT INTO emb(id, vec) VALUES (1, '[0.5, -1, 2]');
INSERT INTO emb(id, vec) VALUES (2, x'0000803f0000004000004040');
SELECT id, veles_json(vec), length(vec) FROM emb ORDER BY id;
SELECT vec FROM emb WHERE id = 1;

-- 1.2 ids ascending, len
INSERT INTO emb(id, vec) VALUES (10, '[0,0,1]'), (5, '[0,1,0]');
SELECT group_concat(id, ',') FROM emb;
SELECT count(*) FROM emb;

-- 1.3 store of an existing id: refused by plain INSERT, overwrites with OR REPLACE
INSERT INTO emb(id, vec) VALUES (1, '[9,9,9]');
INSERT OR REPLACE INTO emb(id, vec) VALUES (1, '[7,8,9]');
SELECT veles_json(vec) FROM emb WHERE id = 1;
INSERT OR IGNORE INTO emb(id, vec) VALUES (1, '[0,0,0]'), (11, '[1,1,1]');
SELECT id, veles_json(vec) FROM emb WHERE id IN (1, 11) ORDER BY id;

-- 1.4 UPDATE of the vector and of the id
UPDATE emb SET vec = '[3,2,1]' WHERE id = 2;
UPDATE emb SET id = 20 WHERE id = 10;
SELECT id, veles_json(vec) FROM emb WHERE id IN (2, 10, 20) ORDER BY id;

-- 1.5 delete; a missing id is a no-op; retrieve after delete finds nothing
DELETE FROM emb WHERE id = 5;
DELETE FROM emb WHERE id = 12345;
SELECT count(*) FROM emb WHERE id = 5;
SELECT group_concat(id, ',') FROM emb;

-- 1.6 a NULL id takes the next one; rowid is the id
INSERT INTO emb(id, vec) VALUES (NULL, '[1,0,0]');
SELECT max(id), max(rowid) FROM emb;

-- 1.7 range scans by id
SELECT group_concat(id, ',') FROM emb WHERE id > 2 AND id <= 20;
SELECT group_concat(id, ',') FROM (SELECT id FROM emb ORDER BY id DESC);

-- 1.8 the dimension fixed by the first vector, persistently
CREATE VIRTUAL TABLE free USING vectors;
INSERT INTO free(id, vec) VALUES (1, '[1,2]');
INSERT INTO free(id, vec) VALUES (2, '[1,2,3]');
.reopen
INSERT INTO free(id, vec) VALUES (3, '[1]');
SELECT veles_dim(vec) FROM free;

-- 1.9 after reopening, everything is there and checks out
SELECT count(*), sum(id) FROM emb;
SELECT veles_check('emb'), veles_check('free');
PRAGMA integrity_check;
