/*
** A vector and its payload commit together: one transaction that writes
** a `vectors` and a `payloads` table commits both or neither, through
** COMMIT, ROLLBACK, ROLLBACK TO, a failing statement, a failing COMMIT
** and reopen. (The kill -9 variant is in test_crash.c.) Also the JOIN of
** the two tables on id, and that it uses id lookups.
*/
#include "testutil.h"
#include <stdio.h>
#include <string.h>

static const char *zState =
  "SELECT (SELECT group_concat(id) FROM emb), "
  "(SELECT group_concat(id) FROM meta)";

static void testTogether(sqlite3 *db){
  tExec(db, "CREATE VIRTUAL TABLE emb USING vectors(dim=2)");
  tExec(db, "CREATE VIRTUAL TABLE meta USING payloads(lang TEXT)");
  /* commit */
  tExec(db, "BEGIN; INSERT INTO emb VALUES (1,'[1,1]'), (2,'[2,2]'); "
            "INSERT INTO meta(id, json) VALUES (1,'{\"lang\":\"en\"}'), "
            "(2,'{\"lang\":\"fr\"}'); COMMIT");
  tRows("1.0", db, zState, "1,2|1,2");
  /* rollback */
  tExec(db, "BEGIN; INSERT INTO emb VALUES (3,'[3,3]'); "
            "INSERT INTO meta(id, json) VALUES (3,'{}'); DELETE FROM emb WHERE id=1; "
            "DELETE FROM meta WHERE id=1; ROLLBACK");
  tRows("1.1", db, zState, "1,2|1,2");
  /* rollback to a savepoint */
  tExec(db, "BEGIN; INSERT INTO emb VALUES (3,'[3,3]'); "
            "INSERT INTO meta(id, json) VALUES (3,'{}'); SAVEPOINT s; "
            "INSERT INTO emb VALUES (4,'[4,4]'); "
            "INSERT INTO meta(id, json) VALUES (4,'{}'); ROLLBACK TO s; COMMIT");
  tRows("1.2", db, zState, "1,2,3|1,2,3");
  /* a failing payload statement inside the batch: the application rolls
  ** back, and the vector written before it goes too */
  tExec(db, "BEGIN; INSERT INTO emb VALUES (5,'[5,5]')");
  tError("1.3", db, "INSERT INTO meta(id, json) VALUES (5,'{\"lang\": 7}')",
         "payloads: field lang: expected TEXT, got number");
  tExec(db, "ROLLBACK");
  tRows("1.4", db, zState, "1,2,3|1,2,3");
  /* delete both in one transaction (SQLite allows no triggers on
  ** virtual tables) */
  tExec(db, "BEGIN; DELETE FROM emb WHERE id = 2; "
            "DELETE FROM meta WHERE id = 2; COMMIT");
  tRows("1.5", db, zState, "1,3|1,3");
  tRows("1.6", db, "PRAGMA integrity_check", "ok");
}

static void testJoin(sqlite3 *db){
  char *zPlan;
  tRows("2.0", db, "SELECT v.id, hex(v.vec), p.json FROM emb v "
        "JOIN meta p USING (id) ORDER BY v.id",
        "1|0000803F0000803F|{\"lang\":\"en\"}\n3|0000404000004040|{}");
  tRows("2.1", db, "SELECT v.id FROM emb v JOIN meta p USING (id) "
        "WHERE p.lang = 'en'", "1");
  zPlan = tQuery(db, "EXPLAIN QUERY PLAN SELECT v.id, v.vec, p.json "
                 "FROM emb v JOIN meta p USING (id)");
  /* the inner table is reached by id, not scanned per outer row */
  tCheck("2.2", strstr(zPlan, "VIRTUAL TABLE INDEX 1:")!=0
         || strstr(zPlan, "id=?")!=0, zPlan);
  sqlite3_free(zPlan);
}

/* A COMMIT that fails (here: the database is locked by another writer)
** keeps the transaction open; retried, it commits both tables. */
static void testBusyCommit(void){
  sqlite3 *a = tOpen("busy.db"), *b;
  tExec(a, "CREATE VIRTUAL TABLE emb USING vectors(dim=2)");
  tExec(a, "CREATE VIRTUAL TABLE meta USING payloads");
  b = tOpen("busy.db");
  sqlite3_busy_timeout(a, 0);
  tExec(a, "BEGIN; INSERT INTO emb VALUES (1,'[1,1]'); "
           "INSERT INTO meta(id, json) VALUES (1,'{}')");
  tExec(b, "BEGIN; SELECT count(*) FROM emb");     /* b holds a read lock */
  tError("3.0", a, "COMMIT", "database is locked");
  tExec(b, "COMMIT");
  tExec(a, "COMMIT");
  tRows("3.1", b, zState, "1|1");
  tClose(a);
  tClose(b);
  a = tOpen("busy.db");
  tRows("3.2", a, zState, "1|1");
  tClose(a);
}

int main(int argc, char **argv){
  sqlite3 *db;
  tInit(argc, argv);
  db = tOpen("atomic.db");
  testTogether(db);
  testJoin(db);
  tClose(db);
  db = tOpen("atomic.db");
  tRows("4.0", db, zState, "1,3|1,3");
  tClose(db);
  testBusyCommit();
  return tDone();
}
