-- Errors: each names the module, the problem and what was given.
-- 4.0 options
CREATE VIRTUAL TABLE a USING vectors(dim=0);
CREATE VIRTUAL TABLE a USING vectors(size=3);
CREATE VIRTUAL TABLE a USING vectors(dim);
CREATE VIRTUAL TABLE a USING vectors(metric=hamming);

-- 4.1 vector values
CREATE VIRTUAL TABLE emb USING vectors(dim=2);
INSERT INTO emb(id, vec) VALUES (1, '[1,2,3]');
INSERT INTO emb(id, vec) VALUES (1, x'0000803f00');
INSERT INTO emb(id, vec) VALUES (1, x'0000c07f0000803f');
INSERT INTO emb(id, vec) VALUES (1, '[1, 1e39]');
INSERT INTO emb(id, vec) VALUES (1, '[1, 2');
INSERT INTO emb(id, vec) VALUES (1, '[1, "x"]');
INSERT INTO emb(id, vec) VALUES (1, '[]');
INSERT INTO emb(id, vec) VALUES (1, NULL);
INSERT INTO emb(id, vec) VALUES (1, 42);

-- 4.2 ids
INSERT INTO emb(id, vec) VALUES (-1, '[1,2]');
INSERT INTO emb(id, vec) VALUES (1.5, '[1,2]');
INSERT INTO emb(id, vec) VALUES ('abc', '[1,2]');
SELECT count(*) FROM emb;

-- 4.3 functions
SELECT veles_distance('[1,2,3]', '[1,2,3,4]');
SELECT veles_distance('[1]', '[2]', 'foo');
SELECT veles_normalize('[0,0,0]');
SELECT veles_vec(42);

-- 4.4 payloads
CREATE VIRTUAL TABLE meta USING payloads;
INSERT INTO meta(id, json) VALUES (1, 'nope');
INSERT INTO meta(id, json) VALUES (-5, '{}');
SELECT count(*) FROM meta;
