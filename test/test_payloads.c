/*
** Tests of the `payloads` virtual table, through SQL.
**
**   1.x  store / retrieve / delete / ids / count, conflicts, id rules
**   2.x  JSON validation: what is refused and the exact messages
**   3.x  declared fields: extraction, types, read-only, index use
**   4.x  transactions: ROLLBACK, savepoints, failing multi-row INSERT
**   5.x  reopen, RENAME, DROP, defensive mode, ATTACH, temp, :memory:
**   6.x  pending inserts: visibility, savepoints, failing statements,
**        reopen, two connections, schema reloads, last_insert_rowid
**   7.x  composite indexes, INDEX(f1, f2, ...): created, used for filters
**        and ordering, reopen, RENAME, DROP, the declaration's errors
**   8.x  veles_add_field: back-fill, index, other connections, inside a
**        transaction (with pending rows), ROLLBACK, refusals that leave
**        the table as it was
*/
#include "testutil.h"
#include <stdio.h>
#include <string.h>

static void check(const char *zCase, sqlite3 *db){
  tRows(zCase, db, "PRAGMA integrity_check", "ok");
}

/* Compare the detail column of EXPLAIN QUERY PLAN zSql with zExpect. */
static void tPlan(const char *zCase, sqlite3 *db, const char *zSql,
                  const char *zExpect){
  char *zEqp = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", zSql);
  char *zOut = tQuery(db, zEqp);
  sqlite3_str *pDetail = sqlite3_str_new(0);
  char *zLine, *zSave = 0, *zGot;
  for(zLine=strtok_r(zOut, "\n", &zSave); zLine;
      zLine=strtok_r(0, "\n", &zSave)){
    int nBar = 0;
    char *z = zLine;
    while( *z && nBar<3 ){ if( *z=='|' ) nBar++; z++; }
    if( sqlite3_str_length(pDetail) ) sqlite3_str_appendchar(pDetail, 1, '\n');
    sqlite3_str_appendall(pDetail, nBar==3 ? z : zLine);
  }
  zGot = sqlite3_str_finish(pDetail);
  tCheck(zCase, zGot && strcmp(zGot, zExpect)==0, zGot ? zGot : "(nothing)");
  if( zGot && strcmp(zGot, zExpect)!=0 ){
    fprintf(stderr, "  query:    %s\n  expected: %s\n", zSql, zExpect);
  }
  sqlite3_free(zGot);
  sqlite3_free(zOut);
  sqlite3_free(zEqp);
}

/* 1.x: the trait through SQL, no declared fields. */
static void testBasics(void){
  sqlite3 *db = tOpen("basics.db");
  tExec(db, "CREATE VIRTUAL TABLE meta USING payloads");
  tRows("1.0", db, "SELECT name FROM pragma_table_info('meta')", "id\njson");
  tRows("1.1", db, "SELECT name FROM sqlite_schema WHERE name LIKE 'meta%' "
        "ORDER BY name", "meta\nmeta_data\nmeta_fields");

  /* store and retrieve */
  tExec(db, "INSERT INTO meta(id, json) VALUES (5, '{\"a\":1}'), "
            "(2, '[1,2,3]'), (9, '\"text\"')");
  tRows("1.2", db, "SELECT json FROM meta WHERE id = 2", "[1,2,3]");
  tRows("1.3", db, "SELECT json FROM meta WHERE id = 3", "");
  tRows("1.4", db, "SELECT * FROM meta", "2|[1,2,3]\n5|{\"a\":1}\n9|\"text\"");
  tRows("1.5", db, "SELECT id FROM meta", "2\n5\n9");
  tRows("1.6", db, "SELECT count(*) FROM meta", "3");
  check("1.7", db);

  /* conflicts */
  tError("1.8", db, "INSERT INTO meta(id, json) VALUES (5, '{\"a\":2}')",
         "UNIQUE constraint failed: meta.id");
  tRows("1.9", db, "SELECT json FROM meta WHERE id = 5", "{\"a\":1}");
  tExec(db, "INSERT OR IGNORE INTO meta(id, json) VALUES (5, '{\"a\":3}')");
  tRows("1.10", db, "SELECT json, changes() FROM meta WHERE id = 5",
        "{\"a\":1}|0");
  tExec(db, "INSERT OR REPLACE INTO meta(id, json) VALUES (5, '{\"a\":4}')");
  tRows("1.11", db, "SELECT json FROM meta WHERE id = 5", "{\"a\":4}");
  tExec(db, "REPLACE INTO meta(id, json) VALUES (5, '{\"a\":5}')");
  tRows("1.12", db, "SELECT json FROM meta WHERE id = 5", "{\"a\":5}");
  tExec(db, "UPDATE meta SET json = '{\"a\":6}' WHERE id = 5");
  tRows("1.13", db, "SELECT json FROM meta WHERE id = 5", "{\"a\":6}");
  tRows("1.14", db, "SELECT count(*) FROM meta", "3");
  tError("1.15", db, "INSERT INTO meta VALUES (9, '1'), (10, '2')",
         "UNIQUE constraint failed: meta.id");
  tRows("1.16", db, "SELECT id FROM meta", "2\n5\n9");
  check("1.17", db);

  /* delete: a missing id is a no-op */
  tExec(db, "DELETE FROM meta WHERE id = 2");
  tRows("1.18", db, "SELECT id FROM meta", "5\n9");
  tRows("1.19", db, "DELETE FROM meta WHERE id = 2; SELECT changes()", "0");
  tRows("1.20", db, "SELECT json FROM meta WHERE id = 2", "");

  /* the next id, id rules */
  tExec(db, "INSERT INTO meta(json) VALUES ('1')");
  tExec(db, "INSERT INTO meta(id, json) VALUES (NULL, '2')");
  tRows("1.21", db, "SELECT id, json FROM meta WHERE id > 9", "10|1\n11|2");
  tExec(db, "INSERT INTO meta(rowid, json) VALUES (20, '3')");
  tRows("1.22", db, "SELECT rowid, id FROM meta WHERE rowid = 20", "20|20");
  tExec(db, "INSERT INTO meta(id, json) VALUES ('30', '4'), (31.0, '5')");
  tRows("1.23", db, "SELECT id, typeof(id) FROM meta WHERE id >= 30",
        "30|integer\n31|integer");
  tExec(db, "INSERT INTO meta(id, json) VALUES (0, '0')");
  tRows("1.24", db, "SELECT min(id) FROM meta", "0");
  tError("1.25", db, "INSERT INTO meta(id, json) VALUES (-1, '1')",
         "payloads: id out of range: expected 0 to 9223372036854775807, "
         "got -1");
  tError("1.26", db, "INSERT INTO meta(id, json) VALUES (1.5, '1')",
         "payloads: id must be an integer from 0 to 9223372036854775807, "
         "got 1.5");
  tError("1.27", db, "INSERT INTO meta(id, json) VALUES ('abc', '1')",
         "payloads: id must be an integer from 0 to 9223372036854775807, "
         "got text 'abc'");
  tError("1.28", db, "INSERT INTO meta(id, json) VALUES (x'01', '1')",
         "payloads: id must be an integer from 0 to 9223372036854775807, "
         "got a blob");
  tExec(db, "INSERT INTO meta(id, json) VALUES (9223372036854775807, 'true')");
  tError("1.29", db, "INSERT INTO meta(json) VALUES ('1')",
         "payloads: no id left to assign: the largest id "
         "9223372036854775807 is taken; give an id");
  tExec(db, "DELETE FROM meta WHERE id = 9223372036854775807");
  tRows("1.30", db, "SELECT count(*) FROM meta", "8");
  check("1.31", db);

  /* moving a row with UPDATE ... SET id */
  tExec(db, "UPDATE meta SET id = 100 WHERE id = 5");
  tRows("1.32", db, "SELECT id, json FROM meta WHERE id IN (5, 100)",
        "100|{\"a\":6}");
  tError("1.33", db, "UPDATE meta SET id = 9 WHERE id = 100",
         "UNIQUE constraint failed: meta.id");
  tExec(db, "UPDATE OR IGNORE meta SET id = 9 WHERE id = 100");
  tRows("1.34", db, "SELECT id, json FROM meta WHERE id IN (9, 100)",
        "9|\"text\"\n100|{\"a\":6}");
  tExec(db, "UPDATE OR REPLACE meta SET id = 9 WHERE id = 100");
  tRows("1.35", db, "SELECT id, json FROM meta WHERE id IN (9, 100)",
        "9|{\"a\":6}");
  tExec(db, "UPDATE meta SET id = 101, json = '[101]' WHERE id = 9");
  tRows("1.36", db, "SELECT id, json FROM meta WHERE id IN (9, 101)",
        "101|[101]");
  tError("1.37", db, "UPDATE meta SET id = -5 WHERE id = 101",
         "payloads: id out of range: expected 0 to 9223372036854775807, "
         "got -5");
  tError("1.38", db, "UPDATE meta SET id = NULL WHERE id = 101",
         "payloads: id must be an integer from 0 to 9223372036854775807, "
         "got NULL");
  tExec(db, "UPDATE meta SET rowid = 102 WHERE id = 101");
  tRows("1.39", db, "SELECT id FROM meta WHERE id > 100", "102");
  check("1.40", db);

  /* lookups: id = and id IN are direct, ranges and ORDER BY id pushed down */
  tPlan("1.41", db, "SELECT json FROM meta WHERE id = ?",
        "SCAN meta VIRTUAL TABLE INDEX 1:SELECT id,json FROM "
        "\"main\".\"meta_data\" WHERE id=?1");
  tPlan("1.42", db, "SELECT json FROM meta "
        "WHERE id IN (1, 2, 3)",
        "SCAN meta VIRTUAL TABLE INDEX 1:SELECT id,json FROM "
        "\"main\".\"meta_data\" WHERE id=?1");
  tRows("1.43", db, "SELECT id FROM meta WHERE id IN (102, 11, 7, 0)",
        "0\n11\n102");
  tRows("1.44", db, "SELECT id FROM meta WHERE id BETWEEN 10 AND 30",
        "10\n11\n20\n30");
  tRows("1.45", db, "SELECT id FROM meta ORDER BY id DESC",
        "102\n31\n30\n20\n11\n10\n0");
  tPlan("1.46", db, "SELECT id FROM meta ORDER BY id DESC",
        "SCAN meta VIRTUAL TABLE INDEX 0:SELECT id FROM "
        "\"main\".\"meta_data\" ORDER BY id DESC");

  /* the JSON functions work on the column; text comes back as stored */
  tExec(db, "DELETE FROM meta");
  tExec(db, "INSERT INTO meta VALUES (1, '{\"lang\":\"en\"}'), "
            "(2, '{\"lang\":\"fr\"}'), (3, '{\"lang\":\"en\",\"x\":[1]}')");
  tRows("1.47", db, "SELECT id FROM meta WHERE json_extract(json, '$.lang') "
        "= 'en'", "1\n3");
  tExec(db, "INSERT INTO meta VALUES (4, '{\"n\": 18446744073709551615}'), "
            "(5, ' [ 1.50 , 1e400, -0.0 ] '), (6, '\"caf\xc3\xa9 \\u00e9\"')");
  tRows("1.48", db, "SELECT json FROM meta WHERE id >= 4",
        "{\"n\": 18446744073709551615}\n [ 1.50 , 1e400, -0.0 ] \n"
        "\"caf\xc3\xa9 \\u00e9\"");
  tRows("1.49", db, "SELECT json = '{\"n\": 18446744073709551615}', "
        "length(json) FROM meta WHERE id = 4", "1|27");
  tRows("1.50", db, "SELECT json_extract(json, '$[0]') FROM meta WHERE id = 5",
        "1.5");
  tExec(db, "INSERT INTO meta VALUES (7, 'null'), (8, 'false'), (9, '-12.5e-3'),"
            " (10, '{}'), (11, '[]'), (12, '\"\"')");
  tRows("1.51", db, "SELECT group_concat(json, ' ') FROM meta WHERE id >= 7",
        "null false -12.5e-3 {} [] \"\"");
  check("1.52", db);
  tClose(db);
}

/* 2.x: invalid payloads and their messages; nothing is stored. */
static void testJson(void){
  sqlite3 *db = tOpen("json.db");
  char zDeep[1100];
  char *zSql;
  int i;
  tExec(db, "CREATE VIRTUAL TABLE meta USING payloads");
  tExec(db, "INSERT INTO meta VALUES (1, '{}')");
  tError("2.0", db, "INSERT INTO meta VALUES (2, NULL)",
         "payloads: json must be text holding a JSON value, got NULL");
  tError("2.1", db, "INSERT INTO meta VALUES (2, 42)",
         "payloads: json must be text holding a JSON value, got an integer");
  tError("2.2", db, "INSERT INTO meta VALUES (2, 4.5)",
         "payloads: json must be text holding a JSON value, got a real");
  tError("2.3", db, "INSERT INTO meta VALUES (2, x'7b7d')",
         "payloads: json must be text holding a JSON value, got a blob");
  tError("2.4", db, "INSERT INTO meta(id) VALUES (2)",
         "payloads: json must be text holding a JSON value, got NULL");
  tError("2.5", db, "INSERT INTO meta VALUES (2, '')",
         "payloads: invalid JSON at byte 0: unexpected end of text");
  tError("2.6", db, "INSERT INTO meta VALUES (2, '   ')",
         "payloads: invalid JSON at byte 3: unexpected end of text");
  tError("2.7", db, "INSERT INTO meta VALUES (2, '{\"a\":1')",
         "payloads: invalid JSON at byte 6: unexpected end of text");
  tError("2.8", db, "INSERT INTO meta VALUES (2, '{\"a\" 1}')",
         "payloads: invalid JSON at byte 5: near '1}'");
  tError("2.9", db, "INSERT INTO meta VALUES (2, '{\"a\":1} x')",
         "payloads: invalid JSON at byte 8: near 'x'");
  tError("2.10", db, "INSERT INTO meta VALUES (2, '{\"a\":+1}')",
         "payloads: invalid JSON at byte 5: malformed number near '+1}'");
  tError("2.11", db, "INSERT INTO meta VALUES (2, '[01]')",
         "payloads: invalid JSON at byte 1: malformed number near '01]'");
  tError("2.12", db, "INSERT INTO meta VALUES (2, '[.5]')",
         "payloads: invalid JSON at byte 1: malformed number near '.5]'");
  tError("2.13", db, "INSERT INTO meta VALUES (2, '[1.]')",
         "payloads: invalid JSON at byte 1: malformed number near '1.]'");
  tError("2.14", db, "INSERT INTO meta VALUES (2, '[NaN]')",
         "payloads: invalid JSON at byte 1: near 'NaN]'");
  tError("2.15", db, "INSERT INTO meta VALUES (2, '{''a'':1}')",
         "payloads: invalid JSON at byte 2: near 'a':1}'");
  tError("2.16", db, "INSERT INTO meta VALUES (2, '\"a\\x\"')",
         "payloads: invalid JSON at byte 2: near '\\x\"'");
  tError("2.17", db, "INSERT INTO meta VALUES (2, '\"a' || char(9) || 'b\"')",
         "payloads: invalid JSON at byte 2: control character in a string "
         "near '\\x09b\"'");
  tError("2.18", db, "INSERT INTO meta VALUES (2, CAST(x'7b7d0020' AS TEXT))",
         "payloads: invalid JSON at byte 2: control character near "
         "'\\x00 '");
  tError("2.19", db, "INSERT INTO meta VALUES (2, CAST(x'efbbbf7b7d' AS TEXT))",
         "payloads: invalid JSON at byte 0: unexpected byte near "
         "'\xef\xbb\xbf{}'");
  tError("2.20", db, "INSERT INTO meta VALUES (2, '[1,2,]')",
         "payloads: invalid JSON at byte 5: near ']'");
  tError("2.21", db, "INSERT INTO meta VALUES (2, 'tru')",
         "payloads: invalid JSON at byte 0: near 'tru'");
  tError("2.22", db, "INSERT INTO meta VALUES (2, '{\"a\":1, \"b\":[true, "
         "false, nul]}')",
         "payloads: invalid JSON at byte 26: near 'nul]}'");
  tError("2.23", db, "INSERT INTO meta VALUES (2, '[\"a long string, longer "
         "than the excerpt\", oops]')",
         "payloads: invalid JSON at byte 43: near 'oops]'");
  tError("2.24", db, "INSERT INTO meta VALUES (2, '{\"k\": @@@@@@@@@@@@@@@"
         "@@@@@@@@@@}')",
         "payloads: invalid JSON at byte 6: near '@@@@@@@@@@@@@@@@...'");
  /* a \u escape takes 4 hex digits (cJSON alone read "\uzzzz" as U+0000,
  ** and a TEXT field stopped there; json_valid refuses it) */
  tError("2.24a", db, "INSERT INTO meta VALUES (2, '\"a\\uzzzzb\"')",
         "payloads: invalid JSON at byte 2: malformed \\u escape near "
         "'\\uzzzzb\"'");
  tError("2.24b", db, "INSERT INTO meta VALUES (2, '{\"k\\u00\":1}')",
         "payloads: invalid JSON at byte 3: malformed \\u escape near "
         "'\\u00\":1}'");
  tError("2.24c", db, "INSERT INTO meta VALUES (2, '[\"\\u12')",
         "payloads: invalid JSON at byte 2: malformed \\u escape near "
         "'\\u12'");
  tExec(db, "INSERT INTO meta VALUES (2, '\"\\u00e9\\u00C9\"')");
  tRows("2.24d", db, "SELECT json_extract(json, '$') FROM meta WHERE id = 2",
        "\xc3\xa9\xc3\x89");
  tExec(db, "DELETE FROM meta WHERE id = 2");
  /* the earlier of a structural and a strict problem is reported */
  tError("2.25", db, "INSERT INTO meta VALUES (2, '{\"a\" 1, \"b\": +1}')",
         "payloads: invalid JSON at byte 5: near '1, \"b\": +1}'");
  for(i=0; i<1001; i++) zDeep[i] = '[';
  zDeep[i] = 0;
  zSql = sqlite3_mprintf("INSERT INTO meta VALUES (2, '%s')", zDeep);
  tError("2.26", db, zSql, "payloads: invalid JSON at byte 1000: nested "
         "deeper than 1000 levels near '['");
  sqlite3_free(zSql);
  /* 1000 levels are fine */
  {
    char zOk[2100];
    for(i=0; i<1000; i++){ zOk[i] = '['; zOk[1000+i] = ']'; }
    zOk[2000] = 0;
    zSql = sqlite3_mprintf("INSERT INTO meta VALUES (3, '%s')", zOk);
    tExec(db, "%s", zSql);
    sqlite3_free(zSql);
    tRows("2.27", db, "SELECT length(json) FROM meta WHERE id = 3", "2000");
  }
  tError("2.28", db, "UPDATE meta SET json = '{' WHERE id = 1",
         "payloads: invalid JSON at byte 1: unexpected end of text");
  tError("2.29", db, "UPDATE meta SET json = NULL WHERE id = 1",
         "payloads: json must be text holding a JSON value, got NULL");
  tRows("2.30", db, "SELECT id, json FROM meta WHERE id < 3", "1|{}");
  tRows("2.31", db, "SELECT count(*) FROM meta", "2");
  /* a JSON string of text that looks like other types is still a string */
  tExec(db, "INSERT INTO meta VALUES (4, '\"\\ud83d\\ude00 \\\"q\\\" \\\\\"')");
  tRows("2.32", db, "SELECT json_extract(json, '$') FROM meta WHERE id = 4",
        "\xf0\x9f\x98\x80 \"q\" \\");
  check("2.33", db);
  tClose(db);
}

/* 3.x: declared fields. */
static void testFields(void){
  sqlite3 *db = tOpen("fields.db");
  tExec(db, "CREATE VIRTUAL TABLE meta USING payloads(lang TEXT, "
            "year INTEGER, score REAL, \"author.name\" TEXT, ok BOOLEAN)");
  tRows("3.0", db, "SELECT name || ' ' || type FROM pragma_table_info('meta')",
        "id INTEGER\njson TEXT\nlang TEXT\nyear INTEGER\nscore REAL\n"
        "author.name TEXT\nok BOOLEAN");
  tRows("3.1", db, "SELECT * FROM meta_fields",
        "0|lang|TEXT|meta_data_f0\n1|year|INTEGER|meta_data_f1\n"
        "2|score|REAL|meta_data_f2\n3|author.name|TEXT|meta_data_f3\n"
        "4|ok|BOOLEAN|meta_data_f4");
  tRows("3.2", db, "SELECT name FROM sqlite_schema WHERE type = 'index' "
        "AND tbl_name = 'meta_data' ORDER BY name",
        "meta_data_f0\nmeta_data_f1\nmeta_data_f2\nmeta_data_f3\n"
        "meta_data_f4");

  tExec(db, "INSERT INTO meta(id, json) VALUES "
      "(1, '{\"lang\":\"en\",\"year\":2021,\"score\":0.5,"
            "\"author\":{\"name\":\"Ann\"},\"ok\":true}'),"
      "(2, '{\"lang\":\"fr\",\"year\":2019,\"score\":3,\"ok\":false}'),"
      "(3, '{\"lang\":null,\"year\":2.02e3,\"author\":\"Bob\"}'),"
      "(4, '[1,2]'),"
      "(5, '{\"\\u006cang\":\"en\",\"year\":9223372036854775807,"
            "\"author\":{\"name\":null}}'),"
      "(6, '{\"year\":-9223372036854775808,\"lang\":\"en\",\"lang\":\"de\"}'),"
      "(7, '{\"year\":9007199254740993, \"score\":1e400}')");
  tRows("3.3", db, "SELECT * FROM meta WHERE id <= 2",
        "1|{\"lang\":\"en\",\"year\":2021,\"score\":0.5,"
        "\"author\":{\"name\":\"Ann\"},\"ok\":true}|en|2021|0.5|Ann|1\n"
        "2|{\"lang\":\"fr\",\"year\":2019,\"score\":3,\"ok\":false}|fr|2019|"
        "3.0|NULL|0");
  tRows("3.4", db, "SELECT id, lang, year, score, \"author.name\", ok FROM meta "
        "WHERE id >= 3",
        "3|NULL|2020|NULL|NULL|NULL\n"
        "4|NULL|NULL|NULL|NULL|NULL\n"
        "5|en|9223372036854775807|NULL|NULL|NULL\n"
        "6|en|-9223372036854775808|NULL|NULL|NULL\n"
        "7|NULL|9007199254740993|Inf|NULL|NULL");
  tRows("3.5", db, "SELECT typeof(lang), typeof(year), typeof(score), "
        "typeof(ok) FROM meta WHERE id = 2", "text|integer|real|integer");

  /* wrong types refuse the store */
  tError("3.6", db, "INSERT INTO meta VALUES (10, '{\"year\":\"2020\"}', NULL, "
         "NULL, NULL, NULL, NULL)",
         "payloads: field year: expected INTEGER, got string");
  tError("3.7", db, "INSERT INTO meta(id, json) VALUES (10, '{\"year\":20.5}')",
         "payloads: field year: expected INTEGER, got number 20.5");
  tError("3.8", db, "INSERT INTO meta(id, json) VALUES (10, '{\"year\":1e19}')",
         "payloads: field year: expected INTEGER, got number outside the "
         "64-bit range");
  tError("3.9", db, "INSERT INTO meta(id, json) VALUES (10, "
         "'{\"year\":9223372036854775808}')",
         "payloads: field year: expected INTEGER, got number outside the "
         "64-bit range");
  tError("3.10", db, "INSERT INTO meta(id, json) VALUES (10, '{\"lang\":1}')",
         "payloads: field lang: expected TEXT, got number");
  tError("3.11", db, "INSERT INTO meta(id, json) VALUES (10, "
         "'{\"lang\":[\"en\"]}')",
         "payloads: field lang: expected TEXT, got array");
  tError("3.12", db, "INSERT INTO meta(id, json) VALUES (10, "
         "'{\"score\":\"high\"}')",
         "payloads: field score: expected REAL, got string");
  tError("3.13", db, "INSERT INTO meta(id, json) VALUES (10, '{\"ok\":1}')",
         "payloads: field ok: expected BOOLEAN, got number");
  tError("3.14", db, "INSERT INTO meta(id, json) VALUES (10, "
         "'{\"author\":{\"name\":{\"first\":\"A\"}}}')",
         "payloads: field author.name: expected TEXT, got object");
  tError("3.15", db, "INSERT INTO meta(id, json) VALUES (10, '{\"year\":true}')",
         "payloads: field year: expected INTEGER, got boolean");
  tError("3.16", db, "UPDATE meta SET json = '{\"year\":\"x\"}' WHERE id = 1",
         "payloads: field year: expected INTEGER, got string");
  tRows("3.17", db, "SELECT count(*), max(id) FROM meta", "7|7");

  /* field columns are read-only */
  tError("3.18", db, "INSERT INTO meta(id, json, lang) VALUES (10, '{}', 'en')",
         "payloads: column lang is read-only: it is extracted from json");
  tError("3.19", db, "UPDATE meta SET lang = 'de' WHERE id = 1",
         "payloads: column lang is read-only: it is extracted from json");
  tError("3.20", db, "UPDATE meta SET \"author.name\" = NULL WHERE id = 1",
         "payloads: column author.name is read-only: it is extracted from "
         "json");
  tExec(db, "INSERT INTO meta VALUES (10, '{\"lang\":\"xx\"}', NULL, NULL, "
            "NULL, NULL, NULL)");
  tRows("3.21", db, "SELECT lang FROM meta WHERE id = 10", "xx");

  /* a new payload refreshes every field; a move keeps them */
  tExec(db, "UPDATE meta SET json = '{\"lang\":\"es\",\"ok\":false}' "
            "WHERE id = 1");
  tRows("3.22", db, "SELECT * FROM meta WHERE id = 1",
        "1|{\"lang\":\"es\",\"ok\":false}|es|NULL|NULL|NULL|0");
  tExec(db, "UPDATE meta SET id = 11 WHERE id = 1");
  tRows("3.23", db, "SELECT * FROM meta WHERE lang = 'es'",
        "11|{\"lang\":\"es\",\"ok\":false}|es|NULL|NULL|NULL|0");
  tExec(db, "INSERT OR REPLACE INTO meta(id, json) VALUES (11, "
            "'{\"lang\":\"pt\"}')");
  tRows("3.24", db, "SELECT id, lang FROM meta WHERE lang IN ('es', 'pt')",
        "11|pt");
  check("3.25", db);

  /* filters: the declared field's index answers them */
  tRows("3.26", db, "SELECT id FROM meta WHERE lang = 'en'", "5\n6");
  tRows("3.27", db, "SELECT id FROM meta WHERE lang = 'en' AND year >= 0",
        "5");
  tRows("3.28", db, "SELECT id FROM meta WHERE year > 2019 AND year <= 2021 "
        "ORDER BY id", "3");
  tRows("3.29", db, "SELECT id FROM meta WHERE year BETWEEN 2000 AND 3000 "
        "ORDER BY year DESC", "3\n2");
  tRows("3.30", db, "SELECT id FROM meta WHERE lang IN ('fr', 'xx') "
        "ORDER BY id", "2\n10");
  tRows("3.31", db, "SELECT id FROM meta WHERE lang LIKE 'E%' ORDER BY id",
        "5\n6");
  tRows("3.32", db, "SELECT id FROM meta WHERE lang = 'EN' COLLATE NOCASE "
        "ORDER BY id", "5\n6");
  tRows("3.33", db, "SELECT id FROM meta WHERE lang IS NULL ORDER BY id",
        "3\n4\n7");
  tRows("3.34", db, "SELECT id FROM meta WHERE year = '2020'", "3");
  tRows("3.35", db, "SELECT id FROM meta WHERE ok = 0", "2");
  tRows("3.36", db, "SELECT id FROM meta WHERE \"author.name\" = 'Ann'", "");
  tPlan("3.37", db, "SELECT id FROM meta WHERE lang = 'en' "
        "AND year >= 2020",
        "SCAN meta VIRTUAL TABLE INDEX 2:SELECT id,\"lang\",\"year\" FROM "
        "\"main\".\"meta_data\" WHERE \"lang\"=?1 AND \"year\">=?2");
  /* an OR is one scan per term, each inside its own index: the fields
  ** the other term names are not read with the row */
  tPlan("3.37a", db, "SELECT id FROM meta WHERE lang = 'en' OR year = 2020",
        "MULTI-INDEX OR\nINDEX 1\nSCAN meta VIRTUAL TABLE INDEX 2:SELECT "
        "id,\"lang\" FROM \"main\".\"meta_data\" WHERE \"lang\"=?1\nINDEX 2\n"
        "SCAN meta VIRTUAL TABLE INDEX 2:SELECT id,\"year\" FROM "
        "\"main\".\"meta_data\" WHERE \"year\"=?1");
  tRows("3.37b", db, "SELECT id FROM meta WHERE lang = 'en' OR year = 2020 "
        "ORDER BY id", "3\n5\n6");
  /* ... and a field read that way is fetched when xColumn asks for it */
  tRows("3.37c", db, "SELECT group_concat(id || ':' || ifnull(year, '-')) "
        "FROM (SELECT id, year FROM meta WHERE lang = 'en')",
        "5:9223372036854775807,6:-9223372036854775808");
  /* ... and the shadow query runs on the index, without a scan */
  tPlan("3.38", db, "SELECT id FROM \"main\".\"meta_data\" "
        "WHERE \"lang\"=?1 AND \"year\">=?2",
        "SEARCH main.meta_data USING INDEX meta_data_f0 (lang=?)");
  tPlan("3.39", db, "SELECT id,\"lang\" FROM "
        "\"main\".\"meta_data\" WHERE \"lang\"=?1",
        "SEARCH main.meta_data USING COVERING INDEX meta_data_f0 (lang=?)");
  tPlan("3.40", db, "SELECT id FROM meta WHERE year > 5",
        "SCAN meta VIRTUAL TABLE INDEX 4:SELECT id,\"year\" FROM "
        "\"main\".\"meta_data\" WHERE \"year\">?1");
  /* an id lookup beats a field filter */
  tPlan("3.41", db, "SELECT id FROM meta WHERE lang = 'en' "
        "AND id = 5",
        "SCAN meta VIRTUAL TABLE INDEX 1:SELECT id,\"lang\" FROM "
        "\"main\".\"meta_data\" WHERE id=?1");
  tRows("3.42", db, "SELECT id FROM meta WHERE lang = 'en' AND id = 5", "5");
  tRows("3.43", db, "SELECT id FROM meta WHERE lang = 'fr' AND id = 5", "");
  /* a collation other than BINARY is left to SQLite */
  tPlan("3.44", db, "SELECT id FROM meta "
        "WHERE lang = 'EN' COLLATE NOCASE",
        "SCAN meta VIRTUAL TABLE INDEX 0:SELECT id,\"lang\" FROM "
        "\"main\".\"meta_data\" ORDER BY id");
  /* a self-join works with two cursors on one table */
  tRows("3.45", db, "SELECT a.id, b.id FROM meta a JOIN meta b "
        "ON a.lang = b.lang AND a.id < b.id", "5|6");

  /* CREATE arguments */
  tError("3.46", db, "CREATE VIRTUAL TABLE m2 USING payloads(lang BLOB)",
         "payloads: unknown type of field lang: expected TEXT, INTEGER, REAL "
         "or BOOLEAN, got 'BLOB'");
  tError("3.47", db, "CREATE VIRTUAL TABLE m2 USING payloads(lang)",
         "payloads: malformed field declaration: expected 'name TYPE', "
         "got 'lang'");
  tError("3.48", db, "CREATE VIRTUAL TABLE m2 USING payloads(lang TEXT "
         "NOT NULL)",
         "payloads: malformed field declaration: expected 'name TYPE', "
         "got 'lang TEXT NOT NULL'");
  tError("3.49", db, "CREATE VIRTUAL TABLE m2 USING payloads(dim=3)",
         "payloads: malformed field declaration: expected 'name TYPE', "
         "got 'dim=3'");
  tError("3.50", db, "CREATE VIRTUAL TABLE m2 USING payloads(a TEXT, A REAL)",
         "payloads: duplicate field: A");
  tError("3.51", db, "CREATE VIRTUAL TABLE m2 USING payloads(ID INTEGER)",
         "payloads: reserved field name: ID");
  tError("3.52", db, "CREATE VIRTUAL TABLE m2 USING payloads(\"a..b\" TEXT)",
         "payloads: malformed field path: 'a..b' (an empty key between dots)");
  tError("3.53", db, "CREATE VIRTUAL TABLE m2 USING payloads(\"\" TEXT)",
         "payloads: malformed field declaration: expected 'name TYPE', "
         "got '\"\" TEXT'");
  {
    sqlite3_str *p = sqlite3_str_new(0);
    char *zSql;
    int i;
    sqlite3_str_appendall(p, "CREATE VIRTUAL TABLE m2 USING payloads(f0 TEXT");
    for(i=1; i<63; i++) sqlite3_str_appendf(p, ", f%d TEXT", i);
    sqlite3_str_appendall(p, ")");
    zSql = sqlite3_str_finish(p);
    tError("3.54", db, zSql, "payloads: too many fields: at most 62, got 63");
    sqlite3_free(zSql);
  }
  tRows("3.55", db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'm2%'",
        "0");
  tExec(db, "CREATE VIRTUAL TABLE m3 USING payloads( `b c` integer , "
            "[d] real)");
  tExec(db, "INSERT INTO m3 VALUES (1, '{\"b c\":7,\"d\":1}', NULL, NULL)");
  tRows("3.56", db, "SELECT * FROM m3", "1|{\"b c\":7,\"d\":1}|7|1.0");
  check("3.57", db);

  /* INTEGER fields: integral numbers in any JSON form, exact to 64 bits */
  tExec(db, "CREATE VIRTUAL TABLE m4 USING payloads(n INTEGER)");
  tExec(db, "INSERT INTO m4(id, json) VALUES "
      "(1, '{\"n\":1e18}'), (2, '{\"n\":9007199254740993.0}'), "
      "(3, '{\"n\":1.5e18}'), (4, '{\"n\":9223372036854775807.0}'), "
      "(5, '{\"n\":-9223372036854775808.00}'), (6, '{\"n\":0.5e1}'), "
      "(7, '{\"n\":12345678901234567.8e1}'), (8, '{\"n\":-0.0}'), "
      "(9, '{\"n\":900719925474099300e-2}')");
  tRows("3.58", db, "SELECT id, n FROM m4",
        "1|1000000000000000000\n2|9007199254740993\n3|1500000000000000000\n"
        "4|9223372036854775807\n5|-9223372036854775808\n6|5\n"
        "7|123456789012345678\n8|0\n9|9007199254740993");
  tError("3.59", db, "INSERT INTO m4(id, json) VALUES (20, "
         "'{\"n\":4503599627370496.5}')",
         "payloads: field n: expected INTEGER, got number 4.5035996273705e+15");
  tError("3.60", db, "INSERT INTO m4(id, json) VALUES (20, "
         "'{\"n\":9223372036854775807.5}')",
         "payloads: field n: expected INTEGER, got number 9.22337203685478e+18");
  tError("3.61", db, "INSERT INTO m4(id, json) VALUES (20, "
         "'{\"n\":9.3e18}')",
         "payloads: field n: expected INTEGER, got number outside the "
         "64-bit range");
  tError("3.62", db, "INSERT INTO m4(id, json) VALUES (20, "
         "'{\"n\":-9223372036854775809}')",
         "payloads: field n: expected INTEGER, got number outside the "
         "64-bit range");
  tError("3.63", db, "INSERT INTO m4(id, json) VALUES (20, "
         "'{\"n\":1e400}')",
         "payloads: field n: expected INTEGER, got number outside the "
         "64-bit range");
  check("3.64", db);

  /* a key compares with its whole length: "n\u0000" is not n (it was
  ** taken for n, and 1e300 refused as outside the 64-bit range) */
  tExec(db, "INSERT INTO m4(id, json) VALUES (30, '{\"n\\u0000\":1e300}'), "
            "(31, '{\"n\\u0000\":2.5, \"n\":7}'), "
            "(32, '{\"n\":8, \"n\\u0000\":\"x\"}'), "
            "(33, '{\"n\\u0000x\":1, \"\\u006e\":9}')");
  tRows("3.65", db, "SELECT id, n FROM m4 WHERE id >= 30",
        "30|NULL\n31|7\n32|8\n33|9");
  /* a TEXT field never holds a NUL: the whole string or nothing (SQLite
  ** 3.40's json_extract stops at the NUL, 3.5x's does not) */
  tError("3.66", db, "INSERT INTO meta(id, json) VALUES (40, "
         "'{\"lang\":\"en\\u0000x\"}')",
         "payloads: field lang: expected TEXT without NUL characters, got a "
         "string holding \\u0000");
  tError("3.67", db, "UPDATE meta SET json = '{\"author\":{\"name\":"
         "\"\\u0000\"}}' WHERE id = 2",
         "payloads: field author.name: expected TEXT without NUL characters, "
         "got a string holding \\u0000");
  tRows("3.68", db, "SELECT count(*) FROM meta WHERE id = 40 OR lang = 'en'",
        "2");
  tExec(db, "INSERT INTO meta(id, json) VALUES (41, '{\"lang\":\"\\\\u0000\","
            "\"note\":\"a\\u0000b\",\"author\":{\"name\\u0000\":\"x\"}}')");
  tRows("3.69", db, "SELECT lang, length(lang), \"author.name\" FROM meta "
        "WHERE id = 41", "\\u0000|6|NULL");
  check("3.70", db);

  /* veles_check reads a payload as a store does: an escaped key (meta 5's
  ** "\u006cang") and integers past 2^53 written as reals (m4 2, 4, 7, 9)
  ** are what was stored, though SQLite 3.40's json_extract sees no $.lang
  ** and reads 9007199254740993.0 through a double; a field edited in the
  ** shadow table is still reported, and so is a payload the field refuses */
  tRows("3.71", db, "SELECT veles_check('meta'), veles_check('m4')", "ok|ok");
  tExec(db, "SAVEPOINT d");
  tExec(db, "UPDATE meta_data SET lang = 'fr' WHERE id = 5");
  tExec(db, "UPDATE m4_data SET n = 9007199254740992 WHERE id = 2");
  tExec(db, "UPDATE m4_data SET n = 5.5 WHERE id = 6");
  tExec(db, "UPDATE m4_data SET json = '{\"n\":\"9\"}' WHERE id = 9");
  tRows("3.72", db, "SELECT veles_check('meta')",
        "meta: ids whose field lang differs from their payload: 5");
  tRows("3.73", db, "SELECT veles_check('m4')",
        "m4: ids whose field n differs from their payload: 2, 6\n"
        "m4: ids whose payload does not fit field n: 9");
  tExec(db, "ROLLBACK TO d");
  tExec(db, "RELEASE d");
  tRows("3.74", db, "SELECT veles_check('meta'), veles_check('m4')", "ok|ok");
  tClose(db);
}

/* 4.x: transactions. */
static void testTransactions(void){
  sqlite3 *db = tOpen("txn.db");
  tExec(db, "CREATE VIRTUAL TABLE meta USING payloads(lang TEXT)");
  tExec(db, "INSERT INTO meta VALUES (1, '{\"lang\":\"en\"}', NULL)");
  tExec(db, "BEGIN; INSERT INTO meta(id, json) VALUES (2, '{\"lang\":\"fr\"}');"
            " UPDATE meta SET json = '{\"lang\":\"de\"}' WHERE id = 1;"
            " ROLLBACK");
  tRows("4.0", db, "SELECT id, lang FROM meta", "1|en");
  tExec(db, "BEGIN; INSERT INTO meta(id, json) VALUES (2, '{\"lang\":\"fr\"}');"
            " SAVEPOINT s1; INSERT INTO meta(id, json) VALUES (3, '{}');"
            " DELETE FROM meta WHERE id = 1; ROLLBACK TO s1;"
            " INSERT INTO meta(id, json) VALUES (4, '{}'); RELEASE s1; COMMIT");
  tRows("4.1", db, "SELECT id, lang FROM meta", "1|en\n2|fr\n4|NULL");
  check("4.2", db);

  /* a failing multi-row INSERT undoes exactly its own rows */
  tExec(db, "BEGIN; INSERT INTO meta(id, json) VALUES (5, '{}')");
  tError("4.3", db, "INSERT INTO meta(id, json) VALUES (6, '{}'), "
         "(7, '{\"lang\":\"it\"}'), (8, '{\"lang\":8}')",
         "payloads: field lang: expected TEXT, got number");
  tError("4.4", db, "INSERT INTO meta(id, json) VALUES (9, '{}'), "
         "(10, '{}'), (1, '{}')", "UNIQUE constraint failed: meta.id");
  tError("4.5", db, "INSERT INTO meta(json) VALUES ('{}'), ('{}'), ('{')",
         "payloads: invalid JSON at byte 1: unexpected end of text");
  tError("4.6", db, "UPDATE meta SET json = CASE id WHEN 4 THEN 'x' "
         "ELSE '{\"lang\":\"zz\"}' END",
         "payloads: invalid JSON at byte 0: near 'x'");
  tRows("4.7", db, "SELECT id, lang FROM meta", "1|en\n2|fr\n4|NULL\n5|NULL");
  tExec(db, "INSERT OR IGNORE INTO meta(id, json) VALUES (1, '{}'), "
            "(6, '{\"lang\":\"nl\"}'), (2, '{}')");
  tExec(db, "COMMIT");
  tRows("4.8", db, "SELECT id, lang FROM meta",
        "1|en\n2|fr\n4|NULL\n5|NULL\n6|nl");
  tRows("4.9", db, "SELECT id FROM meta WHERE lang = 'zz'", "");
  check("4.10", db);

  /* outside BEGIN the same statements change nothing */
  tError("4.11", db, "INSERT INTO meta(id, json) VALUES (7, '{}'), (8, 1)",
         "payloads: json must be text holding a JSON value, got an integer");
  tRows("4.12", db, "SELECT count(*) FROM meta", "5");
  /* INSERT ... SELECT from the table itself */
  tExec(db, "INSERT INTO meta(id, json) SELECT id + 100, json FROM meta");
  tRows("4.13", db, "SELECT count(*), count(lang) FROM meta", "10|6");
  /* DELETE with a subquery on the same table */
  tExec(db, "DELETE FROM meta WHERE id IN (SELECT id FROM meta WHERE id > 100)");
  tRows("4.14", db, "SELECT count(*) FROM meta", "5");
  check("4.15", db);
  tClose(db);
}

/* 5.x: the table's life: reopen, rename, drop, defensive, attach, temp. */
static void testLife(void){
  sqlite3 *db = tOpen("life.db");
  int bOn = -1;
  tExec(db, "CREATE VIRTUAL TABLE meta USING payloads(lang TEXT, "
            "\"a.b\" INTEGER)");
  tExec(db, "INSERT INTO meta(id, json) VALUES (1, '{\"lang\":\"en\","
            "\"a\":{\"b\":3}}'), (2, '{\"lang\":\"fr\"}')");
  tClose(db);
  db = tOpen("life.db");
  tRows("5.0", db, "SELECT * FROM meta",
        "1|{\"lang\":\"en\",\"a\":{\"b\":3}}|en|3\n2|{\"lang\":\"fr\"}|fr|NULL");
  tRows("5.1", db, "SELECT id FROM meta WHERE \"a.b\" = 3", "1");

  /* RENAME moves the shadow tables and their indexes */
  tExec(db, "ALTER TABLE meta RENAME TO docs");
  tRows("5.2", db, "SELECT type, name FROM sqlite_schema ORDER BY name",
        "table|docs\ntable|docs_data\ntable|docs_fields\n"
        "index|meta_data_f0\nindex|meta_data_f1");
  tRows("5.3", db, "SELECT id FROM docs WHERE lang = 'fr'", "2");
  tExec(db, "INSERT INTO docs(id, json) VALUES (3, '{\"lang\":\"fr\"}')");
  tError("5.4", db, "INSERT INTO docs(id, json) VALUES (3, '{}')",
         "UNIQUE constraint failed: docs.id");
  tExec(db, "CREATE VIRTUAL TABLE meta USING payloads(lang TEXT)");
  tExec(db, "INSERT INTO meta(id, json) VALUES (1, '{\"lang\":\"sv\"}')");
  tClose(db);
  db = tOpen("life.db");
  tRows("5.5", db, "SELECT id, lang FROM docs WHERE lang = 'fr'", "2|fr\n3|fr");
  tRows("5.6", db, "SELECT id, lang FROM meta", "1|sv");
  check("5.7", db);

  /* DROP inside BEGIN ... ROLLBACK: the table and its rows come back */
  tExec(db, "BEGIN; DROP TABLE docs; ROLLBACK");
  tRows("5.8", db, "SELECT id, lang FROM docs", "1|en\n2|fr\n3|fr");
  tExec(db, "BEGIN; INSERT INTO docs(id, json) VALUES (4, '{}'); "
            "DROP TABLE docs; ROLLBACK");
  tRows("5.9", db, "SELECT count(*) FROM docs", "3");
  tExec(db, "DROP TABLE docs");
  tRows("5.10", db, "SELECT name FROM sqlite_schema ORDER BY name",
        "meta\nmeta_data\nmeta_data_f0_2\nmeta_fields");
  tRows("5.11", db, "SELECT name, idx FROM meta_fields", "lang|meta_data_f0_2");
  check("5.11a", db);

  /* defensive mode: the shadow tables cannot be written by SQL */
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, &bOn);
  tCheck("5.12", bOn==1, "defensive mode on");
  tError("5.13", db, "INSERT INTO meta_data(id, json) VALUES (9, '{}')",
         "table meta_data may not be modified");
  tError("5.14", db, "UPDATE meta_fields SET type = 'REAL'",
         "table meta_fields may not be modified");
  tError("5.15", db, "DROP TABLE meta_data",
         "table meta_data may not be dropped");
  tExec(db, "INSERT INTO meta(id, json) VALUES (2, '{\"lang\":\"no\"}')");
  tExec(db, "ALTER TABLE meta RENAME TO meta2; ALTER TABLE meta2 RENAME TO meta");
  tRows("5.16", db, "SELECT id, lang FROM meta", "1|sv\n2|no");
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 0, &bOn);

  /* a damaged settings table is noticed at connect, and by veles_check
  ** (the automatic one would report the damage made on purpose) */
  tAutoCheck(0);
  tExec(db, "UPDATE meta_fields SET type = 'REAL'");
  tClose(db);
  db = tOpen("life.db");
  tError("5.17", db, "SELECT * FROM meta",
         "payloads: declared fields of meta do not match its shadow table "
         "meta_fields");
  tRows("5.17a", db, "SELECT veles_check('meta')",
        "meta: meta_fields: fields whose type is not that of their column "
        "in meta_data: lang");
  tAutoCheck(1);
  tExec(db, "UPDATE meta_fields SET type = 'TEXT'");
  tClose(db);
  db = tOpen("life.db");
  tRows("5.18", db, "SELECT id FROM meta", "1\n2");

  /* ATTACHed database */
  tExec(db, "ATTACH 'aux.db' AS aux");
  tExec(db, "CREATE VIRTUAL TABLE aux.meta USING payloads(lang TEXT)");
  tExec(db, "INSERT INTO aux.meta(id, json) VALUES (7, '{\"lang\":\"fi\"}')");
  tRows("5.19", db, "SELECT id, lang FROM aux.meta WHERE lang = 'fi'", "7|fi");
  tRows("5.20", db, "SELECT id, lang FROM main.meta", "1|sv\n2|no");
  tRows("5.21", db, "SELECT name FROM aux.sqlite_schema ORDER BY name",
        "meta\nmeta_data\nmeta_data_f0\nmeta_fields");
  tExec(db, "BEGIN; INSERT INTO aux.meta(id, json) VALUES (8, '{}'); "
            "INSERT INTO main.meta(id, json) VALUES (8, '{}'); COMMIT");
  tExec(db, "ALTER TABLE aux.meta RENAME TO m2");
  tRows("5.22", db, "SELECT id FROM aux.m2", "7\n8");
  tRows("5.23", db, "PRAGMA aux.integrity_check", "ok");
  tExec(db, "DETACH aux");

  /* temp tables */
  tExec(db, "CREATE VIRTUAL TABLE temp.scratch USING payloads(lang TEXT)");
  tExec(db, "INSERT INTO scratch(json) VALUES ('{\"lang\":\"la\"}')");
  tRows("5.24", db, "SELECT id, lang FROM scratch WHERE lang = 'la'", "1|la");
  tRows("5.25", db, "SELECT name FROM temp.sqlite_schema ORDER BY name",
        "scratch\nscratch_data\nscratch_data_f0\nscratch_fields");
  tExec(db, "BEGIN; INSERT INTO scratch(json) VALUES ('{}'); ROLLBACK");
  tRows("5.26", db, "SELECT count(*) FROM scratch", "1");
  tExec(db, "DROP TABLE scratch");
  tRows("5.27", db, "SELECT count(*) FROM temp.sqlite_schema", "0");
  check("5.28", db);
  tClose(db);

  db = tOpen("aux.db");
  tRows("5.29", db, "SELECT id, lang FROM m2", "7|fi\n8|NULL");
  tClose(db);

  /* :memory: */
  db = tOpen(":memory:");
  tExec(db, "CREATE VIRTUAL TABLE m USING payloads(n INTEGER)");
  tExec(db, "INSERT INTO m(json) VALUES ('{\"n\":1}'), ('{\"n\":2}')");
  tRows("5.30", db, "SELECT id, n FROM m WHERE n >= 2", "2|2");
  tClose(db);
}

/* 6.x: a larger table: counts, order, lookups, field filters agree with
** json_extract. */
static void testVolume(void){
  sqlite3 *db = tOpen("volume.db");
  static const char *azLang[] = {"en", "fr", "de", "xx"};
  sqlite3_stmt *pStmt = 0;
  int i;
  tExec(db, "CREATE VIRTUAL TABLE meta USING payloads(lang TEXT, n INTEGER)");
  tExec(db, "BEGIN");
  sqlite3_prepare_v2(db, "INSERT INTO meta(id, json) VALUES (?, ?)", -1,
                     &pStmt, 0);
  for(i=0; i<5000; i++){
    char zJson[100];
    int id = (i*7919) % 5000;
    snprintf(zJson, sizeof(zJson), "{\"lang\":\"%s\",\"n\":%d}",
             azLang[id%4], id);
    sqlite3_bind_int(pStmt, 1, id);
    sqlite3_bind_text(pStmt, 2, zJson, -1, SQLITE_TRANSIENT);
    sqlite3_step(pStmt);
    sqlite3_reset(pStmt);
  }
  sqlite3_finalize(pStmt);
  tExec(db, "COMMIT");
  tRows("6.0", db, "SELECT count(*), min(id), max(id), sum(n) FROM meta",
        "5000|0|4999|12497500");
  tRows("6.1", db, "SELECT count(*) FROM (SELECT id, lag(id) OVER () AS p "
        "FROM meta) WHERE p IS NOT NULL AND p >= id", "0");
  tRows("6.2", db, "SELECT (SELECT group_concat(id) FROM meta WHERE lang = 'xx'"
        " AND n < 40) = (SELECT group_concat(id) FROM meta WHERE "
        "json_extract(json, '$.lang') = 'xx' AND id < 40)", "1");
  tRows("6.3", db, "SELECT count(*) FROM meta WHERE lang = 'de' AND "
        "n BETWEEN 1000 AND 1999", "250");
  tExec(db, "DELETE FROM meta WHERE lang = 'en'");
  tRows("6.4", db, "SELECT count(*), count(DISTINCT lang) FROM meta",
        "3750|3");
  check("6.5", db);
  tClose(db);
}

/* INSERT ids lo..hi with json {"n":<id>,"lang":"l<id%3>"} in one statement. */
static void insertRange(sqlite3 *db, const char *zTab, int lo, int hi){
  tExec(db, "INSERT INTO %s(id, json) WITH RECURSIVE c(x) AS (SELECT %d "
            "UNION ALL SELECT x+1 FROM c WHERE x<%d) SELECT x, "
            "json_object('n', x, 'lang', 'l' || (x%%3)) FROM c",
            zTab, lo, hi);
}

/* INSERT ids lo..hi one statement per row (the bulk-load pattern). */
static void insertEach(sqlite3 *db, const char *zTab, int lo, int hi){
  int i;
  for(i=lo; i<=hi; i++){
    tExec(db, "INSERT INTO %s(id, json) VALUES (%d, "
              "'{\"n\":%d,\"lang\":\"l%d\"}')", zTab, i, i, i%3);
  }
}

/* 6.x: inserts of new largest ids are written 64 rows per statement;
** whatever happens, they must behave as if written at once. */
static void testPending(void){
  sqlite3 *db = tOpen("pending.db"), *db2;
  tExec(db, "CREATE VIRTUAL TABLE meta USING payloads");
  tExec(db, "CREATE VIRTUAL TABLE doc USING payloads(lang TEXT, n INTEGER)");
  tExec(db, "CREATE TABLE t(x)");

  /* visible to every read of the same transaction */
  tExec(db, "BEGIN");
  insertEach(db, "meta", 1, 100);
  tRows("6.0", db, "SELECT count(*), min(id), max(id) FROM meta", "100|1|100");
  insertEach(db, "meta", 101, 110);
  tRows("6.1", db, "SELECT json FROM meta WHERE id = 110",
        "{\"n\":110,\"lang\":\"l2\"}");
  insertEach(db, "meta", 111, 120);
  tRows("6.2", db, "SELECT id FROM meta WHERE id IN (3, 120, 121)", "3\n120");
  insertEach(db, "meta", 121, 130);
  tRows("6.3", db, "SELECT count(*) FROM meta "
        "WHERE json_extract(json, '$.n') = id", "130");
  insertEach(db, "meta", 131, 135);
  tExec(db, "INSERT INTO meta(json) VALUES ('\"next\"')");
  tRows("6.4", db, "SELECT id, json FROM meta WHERE id > 134",
        "135|{\"n\":135,\"lang\":\"l0\"}\n136|\"next\"");
  insertEach(db, "meta", 137, 140);
  tError("6.5", db, "INSERT INTO meta(id, json) VALUES (138, '1')",
         "UNIQUE constraint failed: meta.id");
  tExec(db, "INSERT OR REPLACE INTO meta(id, json) VALUES (139, '\"r\"')");
  tExec(db, "INSERT OR IGNORE INTO meta(id, json) VALUES (140, '\"i\"')");
  insertEach(db, "meta", 141, 142);
  tExec(db, "UPDATE meta SET json = '\"u\"' WHERE id = 142");
  insertEach(db, "meta", 143, 144);
  tExec(db, "DELETE FROM meta WHERE id = 144");
  tExec(db, "INSERT INTO meta(json) VALUES ('\"after delete\"')");
  insertEach(db, "meta", 145, 146);
  tExec(db, "UPDATE meta SET id = 200 WHERE id = 146");
  tExec(db, "INSERT INTO meta(json) VALUES ('\"after move\"')");
  tExec(db, "COMMIT");
  tRows("6.6", db, "SELECT id, json FROM meta WHERE id >= 138",
        "138|{\"n\":138,\"lang\":\"l0\"}\n139|\"r\"\n"
        "140|{\"n\":140,\"lang\":\"l2\"}\n141|{\"n\":141,\"lang\":\"l0\"}\n"
        "142|\"u\"\n143|{\"n\":143,\"lang\":\"l2\"}\n144|\"after delete\"\n"
        "145|{\"n\":145,\"lang\":\"l1\"}\n200|{\"n\":146,\"lang\":\"l2\"}\n"
        "201|\"after move\"");
  tRows("6.7", db, "SELECT count(*) FROM meta", "147");
  check("6.8", db);

  /* savepoints drop exactly the rows inserted after them */
  tExec(db, "DELETE FROM meta");
  tExec(db, "BEGIN");
  insertEach(db, "meta", 1, 10);
  tExec(db, "SAVEPOINT a");
  insertEach(db, "meta", 11, 80);
  tExec(db, "SAVEPOINT b");
  insertEach(db, "meta", 81, 90);
  tExec(db, "ROLLBACK TO b");
  tRows("6.9", db, "SELECT count(*), max(id) FROM meta", "80|80");
  tExec(db, "INSERT INTO meta(json) VALUES ('\"b again\"')");
  tRows("6.10", db, "SELECT id, json FROM meta WHERE id > 79",
        "80|{\"n\":80,\"lang\":\"l2\"}\n81|\"b again\"");
  tExec(db, "RELEASE b");
  tExec(db, "ROLLBACK TO a");
  tRows("6.11", db, "SELECT count(*), max(id) FROM meta", "10|10");
  insertEach(db, "meta", 11, 12);
  tExec(db, "RELEASE a");
  tExec(db, "SAVEPOINT c");
  insertEach(db, "meta", 13, 13);
  tExec(db, "RELEASE c");
  tExec(db, "COMMIT");
  tRows("6.12", db, "SELECT count(*), max(id), sum(json_extract(json, '$.n')) "
        "FROM meta", "13|13|91");
  check("6.13", db);

  /* a failing statement after single-row inserts, inside BEGIN: the
  ** earlier rows stay, the statement's own (64 already written) go */
  tExec(db, "BEGIN");
  insertEach(db, "meta", 14, 20);
  tError("6.14", db, "INSERT INTO meta(id, json) WITH RECURSIVE c(x) AS "
         "(SELECT 21 UNION ALL SELECT x+1 FROM c WHERE x<120) SELECT x, "
         "CASE WHEN x=120 THEN '{' ELSE '{}' END FROM c",
         "payloads: invalid JSON at byte 1: unexpected end of text");
  tRows("6.15", db, "SELECT count(*), max(id) FROM meta", "20|20");
  tError("6.16", db, "INSERT INTO meta(id, json) VALUES (21, '1'), "
         "(22, '2'), (5, '3')", "UNIQUE constraint failed: meta.id");
  tRows("6.17", db, "SELECT count(*), max(id) FROM meta", "20|20");
  insertEach(db, "meta", 21, 21);
  tExec(db, "COMMIT");
  tRows("6.18", db, "SELECT count(*), max(id) FROM meta", "21|21");
  /* the same outside BEGIN: nothing of the statement stays */
  tError("6.19", db, "INSERT INTO meta(id, json) WITH RECURSIVE c(x) AS "
         "(SELECT 22 UNION ALL SELECT x+1 FROM c WHERE x<200) SELECT x, "
         "CASE WHEN x=200 THEN 'nul' ELSE '{}' END FROM c",
         "payloads: invalid JSON at byte 0: near 'nul'");
  tRows("6.20", db, "SELECT count(*), max(id) FROM meta", "21|21");
  insertRange(db, "meta", 22, 200);
  tRows("6.21", db, "SELECT count(*), max(id) FROM meta", "200|200");
  check("6.22", db);

  /* declared fields travel with pending rows; large payloads */
  tExec(db, "BEGIN");
  insertEach(db, "doc", 1, 70);
  tRows("6.23", db, "SELECT count(*) FROM doc WHERE lang = 'l1'", "24");
  insertEach(db, "doc", 71, 75);
  tExec(db, "INSERT INTO doc(json) SELECT json_object('lang', 'big', 'pad', "
            "printf('%%.400000c', 'x'))");
  insertEach(db, "doc", 77, 80);
  tRows("6.24", db, "SELECT id, n, length(json) FROM doc "
        "WHERE lang IN ('big', 'l2') AND id > 73 ORDER BY id",
        "74|74|20\n76|NULL|400023\n77|77|20\n80|80|20");
  tExec(db, "COMMIT");
  tRows("6.25", db, "SELECT count(*), count(n), sum(lang = 'l0') FROM doc",
        "80|79|26");
  check("6.26", db);

  /* rows pending in two tables; one read writes both */
  tExec(db, "BEGIN");
  insertEach(db, "meta", 201, 203);
  insertEach(db, "doc", 81, 83);
  tRows("6.27", db, "SELECT count(*) FROM meta", "203");
  tExec(db, "ROLLBACK");
  tRows("6.28", db, "SELECT count(*) FROM meta UNION ALL "
        "SELECT count(*) FROM doc", "200\n80");

  /* last_insert_rowid() is the caller's, not the flush's */
  tExec(db, "BEGIN");
  insertEach(db, "meta", 201, 202);
  tExec(db, "INSERT INTO t VALUES ('x')");
  tRows("6.29", db, "SELECT last_insert_rowid()", "1");
  tRows("6.30", db, "SELECT count(*), last_insert_rowid() FROM meta", "202|1");
  insertEach(db, "meta", 203, 203);
  tExec(db, "INSERT INTO t VALUES ('y')");
  tExec(db, "COMMIT");                  /* writes row 203 */
  tRows("6.31", db, "SELECT last_insert_rowid(), max(id) FROM meta", "2|203");

  /* the table object replaced by a schema reload inside a transaction */
  tExec(db, "BEGIN");
  insertEach(db, "meta", 204, 205);
  tExec(db, "ALTER TABLE t RENAME TO t2");
  tRows("6.32", db, "SELECT count(*), max(id) FROM meta", "205|205");
  tExec(db, "INSERT INTO meta(json) VALUES ('\"new object\"')");
  insertEach(db, "meta", 207, 208);
  tExec(db, "ALTER TABLE t2 RENAME TO t");
  tExec(db, "COMMIT");
  tRows("6.33", db, "SELECT id, json FROM meta WHERE id > 204",
        "205|{\"n\":205,\"lang\":\"l1\"}\n206|\"new object\"\n"
        "207|{\"n\":207,\"lang\":\"l0\"}\n208|{\"n\":208,\"lang\":\"l1\"}");

  /* DROP inside a savepoint, rolled back: the pending rows stay */
  tExec(db, "BEGIN");
  insertEach(db, "meta", 209, 210);
  tExec(db, "SAVEPOINT s; DROP TABLE meta; ROLLBACK TO s; RELEASE s");
  tExec(db, "COMMIT");
  tRows("6.34", db, "SELECT count(*), max(id) FROM meta", "210|210");
  check("6.35", db);

  /* reopen after commit */
  tExec(db, "BEGIN");
  insertEach(db, "meta", 211, 300);
  tExec(db, "COMMIT");
  tClose(db);
  db = tOpen("pending.db");
  tRows("6.36", db, "SELECT count(*), max(id), "
        "sum(json_extract(json, '$.n') = id) FROM meta", "300|300|299");
  tRows("6.37", db, "SELECT json FROM meta WHERE id = 300",
        "{\"n\":300,\"lang\":\"l0\"}");
  check("6.38", db);

  /* two connections: the writer holds the write lock while rows are
  ** pending; the other sees nothing until COMMIT, then everything */
  db2 = tOpen("pending.db");
  tExec(db, "BEGIN");
  insertEach(db, "meta", 301, 310);
  tRows("6.39", db2, "SELECT count(*) FROM meta", "300");
  tError("6.40", db2, "INSERT INTO meta(json) VALUES ('2')",
         "database is locked");
  tExec(db, "COMMIT");
  tRows("6.41", db2, "SELECT count(*), max(id) FROM meta", "310|310");
  insertEach(db2, "meta", 311, 311);
  tExec(db, "INSERT INTO meta(json) VALUES ('\"after the other\"')");
  tRows("6.42", db2, "SELECT id, json FROM meta WHERE id > 310",
        "311|{\"n\":311,\"lang\":\"l2\"}\n312|\"after the other\"");
  /* the same in WAL mode */
  tExec(db, "PRAGMA journal_mode=WAL");
  tExec(db, "BEGIN");
  insertEach(db, "meta", 313, 390);
  tRows("6.43", db2, "SELECT count(*) FROM meta", "312");
  tError("6.44", db2, "INSERT INTO meta(json) VALUES ('2')",
         "database is locked");
  tExec(db, "COMMIT");
  tExec(db2, "BEGIN; INSERT INTO meta(json) VALUES ('\"b\"'); COMMIT");
  tExec(db, "BEGIN; INSERT INTO meta(json) VALUES ('\"a\"'); COMMIT");
  tRows("6.45", db, "SELECT id, json FROM meta WHERE id > 389",
        "390|{\"n\":390,\"lang\":\"l0\"}\n391|\"b\"\n392|\"a\"");
  check("6.46", db2);
  tClose(db2);
  tClose(db);
}

static void testIndexes(void){
  sqlite3 *db = tOpen("indexes.db");
  char *zExpect;
  int i;
  tExec(db, "CREATE VIRTUAL TABLE m USING payloads(lang TEXT, year INTEGER, "
            "INDEX(lang, year), \"author.name\" TEXT, "
            "index ( year , [author.name] ))");
  tRows("7.0", db, "SELECT name, sql FROM sqlite_schema WHERE name LIKE "
        "'m_data_c%' ORDER BY name",
        "m_data_c0|CREATE INDEX \"m_data_c0\" ON \"m_data\"(\"lang\",\"year\")\n"
        "m_data_c1|CREATE INDEX \"m_data_c1\" ON \"m_data\"(\"year\","
        "\"author.name\")");
  tExec(db, "BEGIN");
  for(i=1; i<=60; i++){
    tExec(db, "INSERT INTO m(id, json) VALUES (%d, '{\"lang\":\"%s\","
              "\"year\":%d,\"author\":{\"name\":\"a%02d\"}}')", i,
              i%3==0 ? "fr" : "en", 2000+i%7, 60-i);
  }
  tExec(db, "COMMIT");
  /* the shadow query of a two-field filter runs inside the composite */
  tPlan("7.1", db, "SELECT id FROM m WHERE lang = 'fr' AND year >= 2005",
        "SCAN m VIRTUAL TABLE INDEX 2:SELECT id,\"lang\",\"year\" FROM "
        "\"main\".\"m_data\" WHERE \"lang\"=?1 AND \"year\">=?2");
  tPlan("7.2", db, "SELECT id,\"lang\",\"year\" FROM \"main\".\"m_data\" "
        "WHERE \"lang\"=?1 AND \"year\">=?2",
        "SEARCH main.m_data USING COVERING INDEX m_data_c0 (lang=? AND "
        "year>?)");
  tRows("7.3", db, "SELECT group_concat(id) FROM (SELECT id FROM m WHERE "
        "lang = 'fr' AND year >= 2005 ORDER BY id)", "6,12,27,33,48,54");
  /* ... and so does a filter with the order of the next field */
  tPlan("7.4", db, "SELECT id,\"year\",\"author.name\" FROM "
        "\"main\".\"m_data\" WHERE \"year\"=?1 ORDER BY \"author.name\"",
        "SEARCH main.m_data USING COVERING INDEX m_data_c1 (year=?)");
  tRows("7.5", db, "SELECT id, \"author.name\" FROM m WHERE year = 2003 "
        "ORDER BY \"author.name\" DESC LIMIT 3", "3|a57\n10|a50\n17|a43");
  zExpect = tQuery(db, "SELECT count(*) FROM m_data WHERE "
                   "json->>'lang' = 'en' AND json->>'year' BETWEEN 2001 AND 2002");
  tRows("7.6", db, "SELECT count(*) FROM m WHERE lang = 'en' AND year "
        "BETWEEN 2001 AND 2002", zExpect);
  sqlite3_free(zExpect);
  tClose(db);
  /* another connection reads the declaration from the schema */
  db = tOpen("indexes.db");
  tRows("7.7", db, "SELECT id FROM m WHERE lang = 'fr' AND year = 2006 "
        "ORDER BY id", "6\n27\n48");
  tExec(db, "ALTER TABLE m RENAME TO m2");
  tExec(db, "CREATE VIRTUAL TABLE m USING payloads(lang TEXT, year INTEGER, "
            "INDEX(year, lang))");
  tRows("7.8", db, "SELECT name FROM sqlite_schema WHERE name LIKE "
        "'m%data_c%' ORDER BY name", "m_data_c0\nm_data_c0_2\nm_data_c1");
  tRows("7.9", db, "SELECT tbl_name FROM sqlite_schema WHERE name = "
        "'m_data_c0_2'", "m_data");
  tExec(db, "DROP TABLE m2");
  tExec(db, "DROP TABLE m");
  tRows("7.10", db, "SELECT count(*) FROM sqlite_schema", "0");
  /* a field may be called index */
  tExec(db, "CREATE VIRTUAL TABLE x USING payloads(index TEXT, b INTEGER, "
            "INDEX(index, b))");
  tExec(db, "INSERT INTO x(id, json) VALUES (1, '{\"index\":\"i\",\"b\":2}')");
  tRows("7.11", db, "SELECT id FROM x WHERE \"index\" = 'i' AND b = 2", "1");
  tExec(db, "DROP TABLE x");
  /* the declaration's errors */
  tError("7.12", db, "CREATE VIRTUAL TABLE e USING payloads(a TEXT, INDEX(a))",
         "payloads: index on one field: every field has its own index "
         "already; list two or more, got 'INDEX(a)'");
  tError("7.13", db, "CREATE VIRTUAL TABLE e USING payloads(a TEXT, b TEXT, "
         "INDEX(a, c))", "payloads: index on an undeclared field c: expected "
         "declared fields, got 'INDEX(a, c)'");
  tError("7.14", db, "CREATE VIRTUAL TABLE e USING payloads(a TEXT, b TEXT, "
         "INDEX(a, A))", "payloads: field A twice in one index: got "
         "'INDEX(a, A)'");
  tError("7.15", db, "CREATE VIRTUAL TABLE e USING payloads(a TEXT, "
         "INDEX())", "payloads: malformed index declaration: expected "
         "'INDEX(field, field, ...)', got 'INDEX()'");
  tError("7.16", db, "CREATE VIRTUAL TABLE e USING payloads(a TEXT, b TEXT, "
         "INDEX(a b))", "payloads: malformed index declaration: expected "
         "'INDEX(field, field, ...)', got 'INDEX(a b)'");
  tError("7.17", db, "CREATE VIRTUAL TABLE e USING payloads(a TEXT, b TEXT, "
         "INDEX(a, b) x)", "payloads: malformed index declaration: expected "
         "'INDEX(field, field, ...)', got 'INDEX(a, b) x'");
  tError("7.18", db, "CREATE VIRTUAL TABLE e USING payloads(a TEXT, b TEXT, "
         "INDEX(a, b), INDEX(a,b))", "payloads: duplicate index: "
         "'INDEX(a,b)'");
  tError("7.19", db, "CREATE VIRTUAL TABLE e USING payloads(a TEXT, b TEXT, "
         "INDEX(a,b),INDEX(b,a),INDEX(a,b,a))", "payloads: field a twice in "
         "one index: got 'INDEX(a,b,a)'");
  {
    sqlite3_str *pSql = sqlite3_str_new(0);
    char *zSql;
    sqlite3_str_appendall(pSql, "CREATE VIRTUAL TABLE e USING payloads("
                          "a TEXT, b TEXT, c TEXT, d TEXT, e TEXT");
    for(i=0; i<17; i++){
      static const char *az[] = {"a","b","c","d","e"};
      sqlite3_str_appendf(pSql, ", INDEX(%s, %s, %s)", az[i%5],
                          az[(i/5+1+i%5)%5], az[(i/5+3+i%5)%5]);
    }
    sqlite3_str_appendall(pSql, ")");
    zSql = sqlite3_str_finish(pSql);
    tError("7.20", db, zSql, "payloads: too many indexes: at most 16, got 17");
    sqlite3_free(zSql);
  }
  tRows("7.21", db, "SELECT count(*) FROM sqlite_schema", "0");
  tClose(db);
}

static void testAddField(void){
  sqlite3 *db = tOpen("addfield.db"), *db2;
  char *zSql;
  int i;
  tExec(db, "CREATE VIRTUAL TABLE m USING payloads(lang TEXT)");
  tExec(db, "INSERT INTO m(id, json) VALUES (1, '{\"lang\":\"en\","
            "\"year\":2021}'), (2, '{\"lang\":\"fr\"}'), (3, '{\"year\":1999,"
            "\"author\":{\"name\":\"Ann\"}}'), (4, '[1, 2]')");
  db2 = tOpen("addfield.db");
  tRows("8.0", db2, "SELECT count(*) FROM m", "4");    /* connected */
  tRows("8.1", db, "SELECT veles_add_field('m', 'year INTEGER')", "2");
  tRows("8.2", db, "SELECT id, lang, year FROM m ORDER BY id",
        "1|en|2021\n2|fr|NULL\n3|NULL|1999\n4|NULL|NULL");
  tPlan("8.3", db, "SELECT id FROM m WHERE year > 2000",
        "SCAN m VIRTUAL TABLE INDEX 4:SELECT id,\"year\" FROM "
        "\"main\".\"m_data\" WHERE \"year\">?1");
  tRows("8.4", db, "SELECT name, sql FROM sqlite_schema WHERE name = "
        "'m_data_f1'", "m_data_f1|CREATE INDEX \"m_data_f1\" ON "
        "\"m_data\"(\"year\")");
  /* the other connection, connected before, finds the column */
  tRows("8.5", db2, "SELECT id FROM m WHERE year < 2000", "3");
  tExec(db2, "INSERT INTO m(id, json) VALUES (5, '{\"year\":2030}')");
  tRows("8.6", db, "SELECT year FROM m WHERE id = 5", "2030");
  /* a value of another type refuses the addition, naming the row, and
  ** leaves the table as it was */
  tError("8.7", db, "SELECT veles_add_field('m', '\"author.name\" INTEGER')",
         "veles_add_field: cannot add field author.name to m: row 3: field "
         "author.name: expected INTEGER, got string");
  tExec(db, "INSERT INTO m(id, json) VALUES (6, '{\"n\":\"x\"}')");
  tError("8.8", db, "SELECT veles_add_field('m', 'n REAL')",
         "veles_add_field: cannot add field n to m: row 6: field n: "
         "expected REAL, got string");
  tRows("8.9", db, "SELECT count(*) FROM pragma_table_info('m')", "4");
  tRows("8.10", db, "SELECT count(*) FROM m_fields", "2");
  /* inside a transaction, pending inserts included; ROLLBACK undoes it */
  tExec(db, "BEGIN");
  tExec(db, "INSERT INTO m(id, json) VALUES (7, '{\"score\":0.5}')");
  tRows("8.11", db, "SELECT veles_add_field('m', 'score REAL')", "1");
  tRows("8.12", db, "SELECT id, score FROM m WHERE score > 0", "7|0.5");
  tExec(db, "ROLLBACK");
  tRows("8.13", db, "SELECT count(*) FROM pragma_table_info('m')", "4");
  tRows("8.14", db, "SELECT count(*) FROM m", "6");
  tExec(db, "BEGIN");
  tExec(db, "INSERT INTO m(id, json) VALUES (7, '{\"score\":0.5}')");
  tRows("8.15", db, "SELECT veles_add_field('m', 'score REAL')", "1");
  tExec(db, "COMMIT");
  tRows("8.16", db2, "SELECT id, score FROM m WHERE score > 0", "7|0.5");
  /* RENAME and reopening keep the added fields; DROP takes them */
  tExec(db, "ALTER TABLE m RENAME TO m2");
  tClose(db);
  db = tOpen("addfield.db");
  tRows("8.17", db, "SELECT id, lang, year, score FROM m2 WHERE year >= 2021 "
        "ORDER BY id", "1|en|2021|NULL\n5|NULL|2030|NULL");
  /* refusals */
  tError("8.18", db, "SELECT veles_add_field('m2', 'year TEXT')",
         "veles_add_field: cannot add 'year TEXT' to m2: duplicate field: "
         "year");
  tError("8.19", db, "SELECT veles_add_field('m2', 'id INTEGER')",
         "veles_add_field: cannot add 'id INTEGER' to m2: reserved field "
         "name: id");
  tError("8.20", db, "SELECT veles_add_field('m2', 'x')",
         "veles_add_field: cannot add 'x' to m2: malformed field "
         "declaration: expected 'name TYPE', got 'x'");
  tError("8.21", db, "SELECT veles_add_field('m2', 'x BLOB')",
         "veles_add_field: cannot add 'x BLOB' to m2: unknown type of field "
         "x: expected TEXT, INTEGER, REAL or BOOLEAN, got 'BLOB'");
  tError("8.22", db, "SELECT veles_add_field('nope', 'x TEXT')",
         "veles_add_field: expected the name of a payloads table, got "
         "'nope'");
  tError("8.23", db, "SELECT veles_add_field('m2_data', 'x TEXT')",
         "veles_add_field: expected the name of a payloads table, got "
         "'m2_data'");
  tError("8.24", db, "SELECT veles_add_field('m2', NULL)",
         "veles_add_field: expected a table name and a field declaration "
         "'name TYPE', got NULL");
  tError("8.24a", db, "SELECT veles_add_field('m2', 'INDEX(lang, year)')",
         "veles_add_field: cannot add 'INDEX(lang, year)' to m2: expected one "
         "field, 'name TYPE' (composite indexes are declared with the table)");
  tExec(db, "CREATE VIRTUAL TABLE e0 USING payloads");
  tError("8.24b", db, "SELECT veles_add_field('e0', 'INDEX(a, b)')",
         "veles_add_field: cannot add 'INDEX(a, b)' to e0: expected one "
         "field, 'name TYPE' (composite indexes are declared with the table)");
  tExec(db, "DROP TABLE e0");
  /* the module is found however the CREATE was written */
  tExec(db, "CREATE VIRTUAL TABLE \"Odd USING x\" USING\n  \"PAYLOADS\"(a TEXT)");
  tRows("8.24c", db, "SELECT veles_add_field('odd using X', 'b INTEGER')", "0");
  tRows("8.24d", db, "SELECT veles_check('ODD USING X')", "ok");
  tExec(db, "DROP TABLE \"Odd USING x\"");
  tRows("8.25", db2, "SELECT count(*) FROM pragma_table_info('m2')", "5");
  tExec(db, "DROP TABLE m2");
  tRows("8.26", db, "SELECT count(*) FROM sqlite_schema", "0");
  /* at most 62 fields, added ones included */
  {
    sqlite3_str *pSql = sqlite3_str_new(0);
    sqlite3_str_appendall(pSql, "CREATE VIRTUAL TABLE w USING payloads(f0 "
                          "INTEGER");
    for(i=1; i<62; i++) sqlite3_str_appendf(pSql, ", f%d INTEGER", i);
    sqlite3_str_appendall(pSql, ")");
    zSql = sqlite3_str_finish(pSql);
    tExec(db, "%s", zSql);
    sqlite3_free(zSql);
  }
  tError("8.27", db, "SELECT veles_add_field('w', 'g TEXT')",
         "veles_add_field: cannot add 'g TEXT' to w: too many fields: at most "
         "62, got 63");
  tExec(db, "DROP TABLE w");
  tExec(db, "CREATE VIRTUAL TABLE aux_ok USING payloads");
  tExec(db, "ATTACH 'addfield2.db' AS aux");
  tExec(db, "CREATE VIRTUAL TABLE aux.t USING payloads");
  tExec(db, "INSERT INTO aux.t(id, json) VALUES (1, '{\"ok\":true}')");
  tRows("8.28", db, "SELECT veles_add_field('aux.t', 'ok BOOLEAN')", "1");
  tRows("8.29", db, "SELECT ok FROM aux.t", "1");
  tClose(db2);
  tClose(db);
}

int main(int argc, char **argv){
  tInit(argc, argv);
  tAutoCheck(1);          /* veles_check after every completed write */
  testBasics();
  testJson();
  testFields();
  testTransactions();
  testLife();
  testVolume();
  testPending();
  testIndexes();
  testAddField();
  return tDone();
}
