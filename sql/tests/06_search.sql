-- Exact nearest-neighbour search.
CREATE VIRTUAL TABLE emb USING vectors(dim=2);
INSERT INTO emb(id, vec) VALUES (1, '[1,0]'), (2, '[2,0]'), (3, '[3,0]'),
  (4, '[4,0]'), (5, '[5,0]');
CREATE VIRTUAL TABLE meta USING payloads(kind TEXT);
INSERT INTO meta(id, json) VALUES (1, '{"kind":"odd"}'), (2, '{"kind":"even"}'),
  (3, '{"kind":"odd"}'), (4, '{"kind":"even"}'), (5, '{"kind":"odd"}');

-- 6.0 k nearest, nearest first
SELECT id, distance FROM emb WHERE vec MATCH '[3.25,0]' AND k = 3;

-- 6.1 LIMIT as k, with ORDER BY distance
SELECT id, distance FROM emb WHERE vec MATCH '[0,0]' ORDER BY distance LIMIT 2;

-- 6.2 a payload filter before k: the id IN list
SELECT id FROM emb WHERE vec MATCH '[3.25,0]' AND k = 2
  AND id IN (SELECT id FROM meta WHERE kind = 'even');

-- 6.3 k larger than the table
SELECT count(*) FROM emb WHERE vec MATCH '[0,0]' AND k = 100;

-- 6.3a LIMIT -1 is no limit: every row, in distance order
SELECT id FROM emb WHERE vec MATCH '[2.25,0]' ORDER BY distance LIMIT -1;

-- 6.4 no row count
SELECT id FROM emb WHERE vec MATCH '[0,0]';

-- 6.5 deleted rows are not found; inside a transaction the search sees it
BEGIN;
DELETE FROM emb WHERE id = 3;
INSERT INTO emb(id, vec) VALUES (6, '[3.3,0]');
SELECT id FROM emb WHERE vec MATCH '[3.25,0]' AND k = 2;
ROLLBACK;
SELECT id FROM emb WHERE vec MATCH '[3.25,0]' AND k = 2;
