-- Transactions: the batch and the durability barrier.
CREATE VIRTUAL TABLE emb USING vectors(dim=2);
CREATE VIRTUAL TABLE meta USING payloads;

-- 3.0 a committed batch: vectors and payloads together
BEGIN;
INSERT INTO emb(id, vec) VALUES (1, '[1,1]'), (2, '[2,2]');
INSERT INTO meta(id, json) VALUES (1, '{"a":1}'), (2, '{"a":2}');
COMMIT;
SELECT (SELECT count(*) FROM emb), (SELECT count(*) FROM meta);

-- 3.1 a rolled-back batch leaves no trace, in either table
BEGIN;
INSERT INTO emb(id, vec) VALUES (3, '[3,3]');
INSERT INTO meta(id, json) VALUES (3, '{"a":3}');
DELETE FROM emb WHERE id = 1;
UPDATE emb SET vec = '[9,9]' WHERE id = 2;
ROLLBACK;
SELECT id, veles_json(vec) FROM emb ORDER BY id;
SELECT group_concat(id, ',') FROM meta;

-- 3.2 a failing statement inside a transaction undoes only itself
BEGIN;
INSERT INTO emb(id, vec) VALUES (4, '[4,4]');
INSERT INTO emb(id, vec) VALUES (5, '[5,5]'), (6, '[6,6,6]');
INSERT INTO meta(id, json) VALUES (4, '{}'), (5, '{');
COMMIT;
SELECT group_concat(id, ',') FROM emb;
SELECT group_concat(id, ',') FROM meta;

-- 3.3 savepoints
BEGIN;
INSERT INTO emb(id, vec) VALUES (7, '[7,7]');
SAVEPOINT a;
INSERT INTO emb(id, vec) VALUES (8, '[8,8]');
INSERT INTO meta(id, json) VALUES (8, '{}');
ROLLBACK TO a;
INSERT INTO emb(id, vec) VALUES (9, '[9,9]');
RELEASE a;
COMMIT;
SELECT group_concat(id, ',') FROM emb;
SELECT count(*) FROM meta WHERE id = 8;

-- 3.4 an overwrite rolled back keeps the old vector
BEGIN;
INSERT OR REPLACE INTO emb(id, vec) VALUES (1, '[-1,-1]');
SELECT veles_json(vec) FROM emb WHERE id = 1;
ROLLBACK;
SELECT veles_json(vec) FROM emb WHERE id = 1;

-- 3.5 DROP TABLE rolled back brings the table back
BEGIN;
DROP TABLE emb;
ROLLBACK;
SELECT count(*) FROM emb;

-- 3.6 committed state survives closing the database
.reopen
SELECT id, veles_json(vec) FROM emb ORDER BY id;
SELECT veles_check('emb'), veles_check('meta');

-- 3.7 WAL mode
PRAGMA journal_mode = WAL;
BEGIN;
INSERT INTO emb(id, vec) VALUES (10, '[10,10]');
DELETE FROM emb WHERE id = 9;
COMMIT;
.reopen
SELECT group_concat(id, ',') FROM emb;
PRAGMA integrity_check;
