-- The payloads table: PayloadStorage's methods as SQL.
-- 2.0 create with a declared field
CREATE VIRTUAL TABLE meta USING payloads(lang TEXT);
INSERT INTO meta(id, json) VALUES
  (1, '{"title": "Cats", "lang": "en"}'),
  (2, '{"title": "Chats", "lang": "fr"}'),
  (3, '{"title": "Dogs", "lang": "en", "n": 3}');
SELECT id, json, lang FROM meta ORDER BY id;

-- 2.1 the declared field answers a filter
SELECT group_concat(id, ',') FROM meta WHERE lang = 'en';
SELECT json ->> '$.title' FROM meta WHERE lang = 'fr';

-- 2.2 any JSON value is a payload; the field is NULL when absent
INSERT INTO meta(id, json) VALUES (4, '[1, 2]'), (5, '"text"'), (6, 'null');
SELECT id, json, lang FROM meta WHERE id >= 4 ORDER BY id;

-- 2.3 overwrite with OR REPLACE, delete, missing ids
INSERT OR REPLACE INTO meta(id, json) VALUES (2, '{"lang": "de"}');
SELECT lang FROM meta WHERE id = 2;
DELETE FROM meta WHERE id = 5;
DELETE FROM meta WHERE id = 99;
SELECT group_concat(id, ',') FROM meta;
SELECT count(*) FROM meta WHERE id = 5;

-- 2.4 errors
INSERT INTO meta(id, json) VALUES (7, '{"a":');
INSERT INTO meta(id, json) VALUES (1, '{}');
SELECT count(*) FROM meta;

-- 2.5 joined with vectors on id
CREATE VIRTUAL TABLE emb USING vectors(dim=2);
INSERT INTO emb(id, vec) VALUES (1, '[1,0]'), (3, '[0,1]');
SELECT e.id, veles_json(e.vec), m.lang FROM emb e JOIN meta m USING (id) ORDER BY e.id;
SELECT veles_check('meta');
