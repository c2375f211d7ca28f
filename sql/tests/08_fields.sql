-- Composite indexes and fields added later (payloads.md, "Declared fields").
-- 8.0 a composite index declared with the table
CREATE VIRTUAL TABLE meta USING payloads(lang TEXT, year INTEGER,
  INDEX(lang, year));
INSERT INTO meta(id, json) VALUES
  (1, '{"lang": "en", "year": 2021, "author": {"name": "Ann"}}'),
  (2, '{"lang": "en", "year": 2019}'),
  (3, '{"lang": "fr", "year": 2023, "author": {"name": "Bo"}}'),
  (4, '{"lang": "en", "year": 2024, "author": {"name": "Cy"}}');
SELECT name FROM sqlite_schema WHERE name LIKE 'meta_data_c%';

-- 8.1 a filter on both fields and an ordering it serves
SELECT group_concat(id, ',') FROM meta WHERE lang = 'en' AND year >= 2020;
SELECT id, year FROM meta WHERE lang = 'en' ORDER BY year DESC LIMIT 2;

-- 8.2 a field added later, back-filled and indexed
SELECT veles_add_field('meta', '"author.name" TEXT');
SELECT id, "author.name" FROM meta ORDER BY id;
SELECT id FROM meta WHERE "author.name" >= 'B' ORDER BY id;

-- 8.3 after reopening, and for new rows
.reopen
INSERT INTO meta(id, json) VALUES (5, '{"author": {"name": "Di"}}');
SELECT id, lang, year, "author.name" FROM meta WHERE id >= 4 ORDER BY id;

-- 8.4 refusals leave the table as it was
SELECT veles_add_field('meta', 'lang REAL');
INSERT INTO meta(id, json) VALUES (6, '{"n": "six"}');
SELECT veles_add_field('meta', 'n INTEGER');
SELECT count(*) FROM pragma_table_info('meta');
CREATE VIRTUAL TABLE bad USING payloads(lang TEXT, INDEX(lang));
