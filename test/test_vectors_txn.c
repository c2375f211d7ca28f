/*
** Transactions on `vectors`: ROLLBACK, SAVEPOINT / ROLLBACK TO, failing
** statements inside BEGIN, reopen, copy-on-write slot reuse and bounded
** file growth, CREATE / DROP / RENAME with rollback, when a dropped
** table's side file goes.
*/
#include "testutil.h"
#include <stdio.h>
#include <string.h>

/* Every vector of table zTab, as "id:hex" lines, to compare states. */
static char *snapshot(sqlite3 *db, const char *zTab){
  char *zSql = sqlite3_mprintf("SELECT id, hex(vec) FROM %s", zTab);
  char *z = tQuery(db, zSql);
  sqlite3_free(zSql);
  return z;
}

static void testRollback(sqlite3 *db){
  char *zBefore, *zAfter;
  tExec(db, "CREATE VIRTUAL TABLE t USING vectors(dim=2)");
  tExec(db, "INSERT INTO t VALUES (1,'[1,1]'), (2,'[2,2]'), (3,'[3,3]')");
  zBefore = snapshot(db, "t");
  tExec(db, "BEGIN");
  tExec(db, "INSERT INTO t VALUES (4,'[4,4]')");
  tExec(db, "UPDATE t SET vec='[9,9]' WHERE id=1");
  tExec(db, "DELETE FROM t WHERE id=2");
  tExec(db, "UPDATE t SET id=30 WHERE id=3");
  tRows("1.0", db, "SELECT id, hex(vec) FROM t",
        "1|0000104100001041\n4|0000804000008040\n30|0000404000004040");
  tExec(db, "ROLLBACK");
  zAfter = snapshot(db, "t");
  tCheck("1.1", strcmp(zBefore, zAfter)==0, zAfter);
  sqlite3_free(zAfter);
  /* the rolled-back slots are reused: inserting again fills slot 3 */
  tExec(db, "INSERT INTO t VALUES (5,'[5,5]')");
  tRows("1.2", db, "SELECT slot FROM t_map WHERE id=5", "3");
  tRows("1.3", db, "PRAGMA integrity_check", "ok");
  tExec(db, "DELETE FROM t WHERE id=5");
  sqlite3_free(zBefore);
}

static void testSavepoints(sqlite3 *db){
  tExec(db, "BEGIN");
  tExec(db, "INSERT INTO t VALUES (10,'[10,10]')");
  tExec(db, "SAVEPOINT a");
  tExec(db, "INSERT INTO t VALUES (11,'[11,11]')");
  tExec(db, "UPDATE t SET vec='[0,0]' WHERE id=10");
  tExec(db, "SAVEPOINT b");
  tExec(db, "DELETE FROM t WHERE id=1");
  tExec(db, "INSERT INTO t VALUES (12,'[12,12]')");
  tExec(db, "ROLLBACK TO b");
  tRows("2.0", db, "SELECT id, hex(vec) FROM t WHERE id IN (1,10,11,12)",
        "1|0000803F0000803F\n10|0000000000000000\n11|0000304100003041");
  tExec(db, "ROLLBACK TO a");
  tRows("2.1", db, "SELECT id, hex(vec) FROM t WHERE id >= 10",
        "10|0000204100002041");
  tExec(db, "INSERT INTO t VALUES (13,'[13,13]')");
  tExec(db, "RELEASE a");
  tExec(db, "COMMIT");
  tRows("2.2", db, "SELECT id, hex(vec) FROM t WHERE id >= 10",
        "10|0000204100002041\n13|0000504100005041");
  /* a savepoint opened before the table was written in the transaction */
  tExec(db, "SAVEPOINT outer1");
  tExec(db, "CREATE TABLE plain(x)");
  tExec(db, "SAVEPOINT inner1");
  tExec(db, "INSERT INTO t VALUES (14,'[14,14]')");
  tExec(db, "ROLLBACK TO outer1");
  tExec(db, "RELEASE outer1");
  tRows("2.3", db, "SELECT id FROM t WHERE id >= 10", "10\n13");
  tRows("2.4", db, "SELECT count(*) FROM sqlite_schema WHERE name='plain'", "0");
  tRows("2.5", db, "PRAGMA integrity_check", "ok");
}

static void testFailingStatements(sqlite3 *db){
  char *zBefore, *zAfter;
  zBefore = snapshot(db, "t");
  tExec(db, "BEGIN");
  tExec(db, "INSERT INTO t VALUES (20,'[20,20]')");
  /* the third row is bad: the first two of this statement are undone */
  tError("3.0", db, "INSERT INTO t VALUES (21,'[21,21]'), (22,'[22,22]'), "
         "(23,'[23]')", "vectors: dimension mismatch: expected 2, got 1");
  tRows("3.1", db, "SELECT id FROM t WHERE id >= 20", "20");
  tError("3.2", db, "WITH RECURSIVE s(value) AS (SELECT 1 UNION ALL "
         "SELECT value+1 FROM s WHERE value<5) INSERT INTO t "
         "SELECT value+100, '[1,1]' FROM s UNION ALL SELECT 1, '[1,1]'",
         "UNIQUE constraint failed: t.id");
  tRows("3.3", db, "SELECT id FROM t WHERE id >= 20", "20");
  /* an UPDATE that fails halfway */
  tError("3.4", db, "UPDATE t SET vec = CASE WHEN id=13 THEN '[1]' "
         "ELSE '[7,7]' END", "vectors: dimension mismatch: expected 2, got 1");
  tRows("3.5", db, "SELECT count(*) FROM t WHERE vec = veles_vec('[7,7]')",
        "0");
  tExec(db, "INSERT INTO t VALUES (24,'[24,24]')");
  tExec(db, "COMMIT");
  tRows("3.6", db, "SELECT id FROM t WHERE id >= 20", "20\n24");
  tExec(db, "DELETE FROM t WHERE id IN (20, 24)");
  zAfter = snapshot(db, "t");
  tCheck("3.7", strcmp(zBefore, zAfter)==0, zAfter);
  sqlite3_free(zBefore);
  sqlite3_free(zAfter);
  /* OR IGNORE inside a multi-row statement skips only the conflict */
  tExec(db, "INSERT OR IGNORE INTO t VALUES (1,'[0,0]'), (25,'[25,25]')");
  tRows("3.8", db, "SELECT id, hex(vec) FROM t WHERE id IN (1,25)",
        "1|0000803F0000803F\n25|0000C8410000C841");
  tRows("3.9", db, "PRAGMA integrity_check", "ok");
}

static void testReopen(void){
  sqlite3 *db = tOpen("reopen.db");
  tExec(db, "CREATE VIRTUAL TABLE r USING vectors");
  tExec(db, "INSERT INTO r VALUES (1,'[1,2,3]'), (2,'[4,5,6]')");
  tExec(db, "BEGIN; INSERT INTO r VALUES (3,'[7,8,9]'); ROLLBACK");
  tClose(db);
  db = tOpen("reopen.db");
  tRows("4.0", db, "SELECT id, vec = veles_vec('[4,5,6]') FROM r", "1|0\n2|1");
  tRows("4.1", db, "SELECT v FROM r_config WHERE k='dim'", "3");
  tExec(db, "INSERT INTO r VALUES (3,'[7,8,9]')");
  tRows("4.2", db, "SELECT slot FROM r_map ORDER BY id", "0\n1\n2");
  tClose(db);
}

/* Steady delete+insert churn must not grow the side file without bound. */
static void testChurn(const char *zMode){
  sqlite3 *db;
  char zName[64];
  long long nFirst, nLast;
  int round, i;
  snprintf(zName, sizeof(zName), "churn-%s.db", zMode);
  db = tOpen(zName);
  tExec(db, "PRAGMA journal_mode=%s", zMode);
  tExec(db, "CREATE VIRTUAL TABLE c USING vectors(dim=16)");
  tExec(db, "WITH RECURSIVE s(value) AS (SELECT 1 UNION ALL "
            "SELECT value+1 FROM s WHERE value<1000) "
            "INSERT INTO c SELECT value, veles_vec(json_array("
            "value,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15)) FROM s");
  snprintf(zName, sizeof(zName), "churn-%s.db-vectors-", zMode);
  nFirst = 0;
  for(round=0; round<80; round++){
    int iBase = 1 + (round*100) % 1000;
    tExec(db, "BEGIN");
    tExec(db, "DELETE FROM c WHERE id BETWEEN %d AND %d", iBase, iBase+99);
    for(i=iBase; i<iBase+100; i++){
      tExec(db, "INSERT INTO c VALUES (%d, veles_vec(json_array(%d,"
                "1,2,3,4,5,6,7,8,9,10,11,12,13,14,%d)))", i, i, round);
    }
    tExec(db, "COMMIT");
    if( (round % 10)==9 ) tExec(db, "PRAGMA wal_checkpoint");
    if( round==29 ) nFirst = tFileSize(tFindFile(zName));
  }
  nLast = tFileSize(tFindFile(zName));
  {
    char zMsg[128];
    snprintf(zMsg, sizeof(zMsg), "%s: side file grew from %lld to %lld "
             "bytes between rounds 30 and 80", zMode, nFirst, nLast);
    /* steady state: the same churn reuses the same slots */
    tCheck(strcmp(zMode, "wal")==0 ? "5.1" : "5.0",
           nFirst>0 && nLast <= nFirst + 200*64, zMsg);
  }
  tRows(strcmp(zMode, "wal")==0 ? "5.3" : "5.2", db,
        "SELECT count(*), sum(vec = veles_vec(json_array(id,1,2,3,4,5,6,7,8,9,"
        "10,11,12,13,14,79))) FROM c", "1000|100");
  tClose(db);
}

static void testCreateDropRename(void){
  sqlite3 *db = tOpen("ddl.db");
  /* a rolled-back CREATE leaves no table and no file */
  tExec(db, "BEGIN; CREATE VIRTUAL TABLE gone USING vectors(dim=2); "
            "INSERT INTO gone VALUES (1,'[1,1]'); ROLLBACK");
  tRows("6.0", db, "SELECT count(*) FROM sqlite_schema", "0");
  tCheck("6.1", tCountFiles("ddl.db-vectors-")==0, "no side file left");
  /* DROP inside BEGIN ... ROLLBACK keeps everything readable */
  tExec(db, "CREATE VIRTUAL TABLE d USING vectors(dim=2)");
  tExec(db, "INSERT INTO d VALUES (1,'[1,1]'), (2,'[2,2]')");
  tExec(db, "BEGIN; DROP TABLE d; ROLLBACK");
  tRows("6.2", db, "SELECT id, hex(vec) FROM d",
        "1|0000803F0000803F\n2|0000004000000040");
  tCheck("6.3", tCountFiles("ddl.db-vectors-")==1, "side file kept");
  tExec(db, "INSERT INTO d VALUES (3,'[3,3]')");
  /* RENAME keeps the data, also across reopen */
  tExec(db, "ALTER TABLE d RENAME TO d2");
  tRows("6.4", db, "SELECT id FROM d2", "1\n2\n3");
  tRows("6.5", db, "SELECT name FROM sqlite_schema WHERE name LIKE 'd%' "
        "ORDER BY name", "d2\nd2_chunks\nd2_config\nd2_ivf\nd2_map");
  tClose(db);
  db = tOpen("ddl.db");
  tRows("6.6", db, "SELECT id, hex(vec) FROM d2 WHERE id=3",
        "3|0000404000004040");
  /* DROP removes the side file once it commits */
  tExec(db, "DROP TABLE d2");
  tRows("6.7", db, "SELECT count(*) FROM sqlite_schema", "0");
  tExec(db, "CREATE VIRTUAL TABLE other USING vectors(dim=1)");
  tCheck("6.8", tCountFiles("ddl.db-vectors-")==1,
         "dropped table's side file removed");
  /* a DROP committed inside BEGIN, then the connection closes */
  tExec(db, "BEGIN; DROP TABLE other; COMMIT");
  tClose(db);
  tCheck("6.9", tCountFiles("ddl.db-vectors-")==0,
         "side file removed by close");
  /* CREATE and DROP in one transaction */
  db = tOpen("ddl.db");
  tExec(db, "BEGIN; CREATE VIRTUAL TABLE x USING vectors(dim=1); "
            "INSERT INTO x VALUES (1,'[1]'); DROP TABLE x; COMMIT");
  tClose(db);
  tCheck("6.10", tCountFiles("ddl.db-vectors-")==0, "no side file");
}

/* Two rows of vectors, as "id|hex" lines. */
#define DROP_ROWS "1|0000803F0000803F\n2|0000004000000040"

/* A table zName of two rows in db. */
static void dropTable(sqlite3 *db, const char *zName){
  tExec(db, "CREATE VIRTUAL TABLE %s USING vectors(dim=2)", zName);
  tExec(db, "INSERT INTO %s VALUES (1,'[1,1]'), (2,'[2,2]')", zName);
}

/* Whether table zName still holds its two rows and checks ok. */
static void dropIntact(const char *zCase, sqlite3 *db, const char *zName){
  char *zSql = sqlite3_mprintf("SELECT id, hex(vec) FROM %s", zName);
  char zCheck[32];
  tRows(zCase, db, zSql, DROP_ROWS);
  sqlite3_free(zSql);
  snprintf(zCheck, sizeof(zCheck), "%s veles_check", zCase);
  tVelesCheck(zCheck, db);
}

/*
** DROP TABLE removes the side file as soon as the drop commits, with no
** further statement on the connection; a rolled-back drop (ROLLBACK,
** ROLLBACK TO, a failed COMMIT, a close without COMMIT) keeps the file
** and the vectors.
*/
static void testDropCommits(void){
  sqlite3 *db = tOpen("drop.db");
  sqlite3 *pReader;
  const char *zFiles = "drop.db-vectors-";
  /* an autocommit DROP: gone when sqlite3_exec returns */
  dropTable(db, "a");
  tCheck("9.0", tCountFiles(zFiles)==1, "side file made");
  tExec(db, "DROP TABLE a");
  tCheck("9.1", tCountFiles(zFiles)==0, "side file removed by autocommit DROP");
  /* BEGIN; DROP: kept until COMMIT, gone when COMMIT returns */
  dropTable(db, "b");
  tExec(db, "BEGIN; DROP TABLE b");
  tCheck("9.2", tCountFiles(zFiles)==1, "side file kept before COMMIT");
  tExec(db, "COMMIT");
  tCheck("9.3", tCountFiles(zFiles)==0, "side file removed by COMMIT");
  /* BEGIN; DROP; ROLLBACK: everything readable */
  dropTable(db, "c");
  tExec(db, "BEGIN; DROP TABLE c; ROLLBACK");
  tCheck("9.4", tCountFiles(zFiles)==1, "side file kept by ROLLBACK");
  dropIntact("9.5", db, "c");
  /* ROLLBACK TO a savepoint older than the DROP */
  tExec(db, "BEGIN; SAVEPOINT a; DROP TABLE c; ROLLBACK TO a; RELEASE a; "
            "COMMIT");
  tCheck("9.6", tCountFiles(zFiles)==1, "side file kept by ROLLBACK TO");
  dropIntact("9.7", db, "c");
  /* ... the savepoint being the transaction itself */
  tExec(db, "SAVEPOINT a; DROP TABLE c; ROLLBACK TO a; RELEASE a");
  tCheck("9.8", tCountFiles(zFiles)==1, "side file kept by ROLLBACK TO");
  dropIntact("9.9", db, "c");
  /* ... a level released into an outer one that is rolled back */
  tExec(db, "BEGIN; SAVEPOINT a; SAVEPOINT b; DROP TABLE c; RELEASE b; "
            "ROLLBACK TO a; COMMIT");
  tCheck("9.10", tCountFiles(zFiles)==1, "side file kept by ROLLBACK TO");
  dropIntact("9.11", db, "c");
  /* a savepoint opened after the DROP and rolled back keeps the DROP */
  tExec(db, "BEGIN; DROP TABLE c; SAVEPOINT s; CREATE TABLE t1(x); "
            "ROLLBACK TO s; RELEASE s");
  tCheck("9.12", tCountFiles(zFiles)==1, "side file kept before COMMIT");
  tExec(db, "COMMIT");
  tCheck("9.13", tCountFiles(zFiles)==0, "side file removed by COMMIT");
  /* two tables in one transaction, one of them dropped inside a
  ** savepoint that is rolled back: exactly that one stays */
  dropTable(db, "d1");
  dropTable(db, "d2");
  dropTable(db, "d3");
  tExec(db, "BEGIN; DROP TABLE d1; SAVEPOINT s; DROP TABLE d2; ROLLBACK TO s;"
            "DROP TABLE d3");
  tCheck("9.14", tCountFiles(zFiles)==3, "side files kept before COMMIT");
  tExec(db, "COMMIT");
  tCheck("9.15", tCountFiles(zFiles)==1, "two side files removed by COMMIT");
  dropIntact("9.16", db, "d2");
  tExec(db, "BEGIN; SAVEPOINT a; DROP TABLE d2; RELEASE a; COMMIT");
  tCheck("9.17", tCountFiles(zFiles)==0, "side file removed by COMMIT");
  /* a savepoint that began the transaction, released: that commits */
  dropTable(db, "d4");
  tExec(db, "SAVEPOINT a; DROP TABLE d4; RELEASE a");
  tCheck("9.17a", tCountFiles(zFiles)==0, "side file removed by RELEASE");
  /* two tables dropped in one transaction */
  dropTable(db, "e1");
  dropTable(db, "e2");
  tExec(db, "BEGIN; DROP TABLE e1; DROP TABLE e2; COMMIT");
  tCheck("9.18", tCountFiles(zFiles)==0, "both side files removed by COMMIT");
  /* a table created and dropped in a transaction that is rolled back */
  tExec(db, "BEGIN; CREATE VIRTUAL TABLE f USING vectors(dim=1); "
            "INSERT INTO f VALUES (1,'[1]'); DROP TABLE f; ROLLBACK");
  tCheck("9.19", tCountFiles(zFiles)==0, "created and dropped: no file");
  tRows("9.20", db, "SELECT count(*) FROM sqlite_schema", "0");
  /* a COMMIT that fails (a reader holds its lock) commits nothing: the
  ** file stays until a COMMIT succeeds, or for good after ROLLBACK */
  dropTable(db, "g");
  pReader = tOpen("drop.db");
  tAutoCheck(0);          /* the reader's lock would fail veles_check too */
  sqlite3_busy_timeout(db, 0);
  tExec(pReader, "BEGIN; SELECT count(*) FROM g_map");
  tExec(db, "BEGIN; DROP TABLE g");
  tError("9.21", db, "COMMIT", "database is locked");
  tCheck("9.22", tCountFiles(zFiles)==1, "side file kept by a failed COMMIT");
  tExec(db, "ROLLBACK");
  tCheck("9.23", tCountFiles(zFiles)==1, "side file kept by ROLLBACK");
  dropIntact("9.24", db, "g");
  tExec(db, "BEGIN; DROP TABLE g");
  tError("9.25", db, "COMMIT", "database is locked");
  tExec(pReader, "COMMIT");
  tExec(db, "COMMIT");
  tCheck("9.26", tCountFiles(zFiles)==0, "side file removed by COMMIT");
  tClose(pReader);
  tAutoCheck(1);
  sqlite3_busy_timeout(db, 5000);
  /* a DROP in a transaction, then the connection closes: rolled back */
  dropTable(db, "h");
  tExec(db, "BEGIN; DROP TABLE h");
  tClose(db);
  tCheck("9.27", tCountFiles(zFiles)==1, "side file kept by close");
  db = tOpen("drop.db");
  dropIntact("9.28", db, "h");
  tExec(db, "DROP TABLE h");
  tCheck("9.29", tCountFiles(zFiles)==0, "side file removed by DROP");
  /* temp tables: a rolled-back DROP keeps the in-memory vectors */
  tExec(db, "CREATE VIRTUAL TABLE temp.m USING vectors(dim=2); "
            "INSERT INTO m VALUES (1,'[1,1]'), (2,'[2,2]')");
  tExec(db, "BEGIN; DROP TABLE m; ROLLBACK");
  dropIntact("9.30", db, "m");
  tExec(db, "BEGIN; SAVEPOINT a; DROP TABLE m; ROLLBACK TO a; COMMIT");
  dropIntact("9.31", db, "m");
  tExec(db, "DROP TABLE m");
  tRows("9.32", db, "SELECT count(*) FROM temp.sqlite_schema", "0");
  tCheck("9.33", tCountFiles(zFiles)==0, "no side file for temp tables");
  tClose(db);

  /* WAL mode */
  db = tOpen("dropwal.db");
  zFiles = "dropwal.db-vectors-";
  tRows("9.40", db, "PRAGMA journal_mode=WAL", "wal");
  dropTable(db, "w1");
  dropTable(db, "w2");
  tExec(db, "DROP TABLE w1");
  tCheck("9.41", tCountFiles(zFiles)==1, "side file removed by DROP (WAL)");
  tExec(db, "BEGIN; DROP TABLE w2; ROLLBACK");
  tCheck("9.42", tCountFiles(zFiles)==1, "side file kept by ROLLBACK (WAL)");
  dropIntact("9.43", db, "w2");
  tExec(db, "BEGIN; DROP TABLE w2; COMMIT");
  tCheck("9.44", tCountFiles(zFiles)==0, "side file removed by COMMIT (WAL)");
  tClose(db);

  /* an attached database's table, main not written: the fallback removes
  ** the file at the connection's next operation; with main written in
  ** the same transaction, at COMMIT */
  db = tOpen("dropmain.db");
  zFiles = "dropaux.db-vectors-";
  tExec(db, "ATTACH 'dropaux.db' AS aux; CREATE TABLE plain(x)");
  tExec(db, "CREATE VIRTUAL TABLE aux.x1 USING vectors(dim=2); "
            "CREATE VIRTUAL TABLE aux.x2 USING vectors(dim=2)");
  tExec(db, "DROP TABLE aux.x1");
  tCheck("9.50", tCountFiles(zFiles)==2, "fallback: side file kept for now");
  tExec(db, "CREATE VIRTUAL TABLE aux.x3 USING vectors(dim=2)");
  tCheck("9.51", tCountFiles(zFiles)==2, "fallback: side file removed");
  tExec(db, "BEGIN; INSERT INTO plain VALUES (1); DROP TABLE aux.x2; COMMIT");
  tCheck("9.52", tCountFiles(zFiles)==1, "side file removed by COMMIT");
  tClose(db);

  /* veles_txn, the internal table that sees the commit */
  db = tOpen(":memory:");
  tRows("9.60", db, "SELECT count(*) FROM veles_txn", "0");
  tError("9.61", db, "INSERT INTO veles_txn VALUES (1)",
         "veles_txn: read-only: it is internal to veles");
  tExec(db, "DELETE FROM veles_txn");
  tError("9.62", db, "CREATE VIRTUAL TABLE v USING veles_txn",
         "no such module: veles_txn");
  tClose(db);
}

/* A schema change inside a transaction makes SQLite reconnect the table:
** the new instance must not take the transaction's own deletions for free
** slots (committed rows still reference them). */
static void testReconnectInTransaction(void){
  sqlite3 *db = tOpen("reconnect.db");
  tExec(db, "CREATE VIRTUAL TABLE v USING vectors(dim=2);"
            "CREATE VIRTUAL TABLE p USING payloads;"
            "INSERT INTO v VALUES (1,'[1,1]'), (2,'[2,2]'), (3,'[3,3]')");
  tExec(db, "BEGIN; DELETE FROM v WHERE id=2; ALTER TABLE p RENAME TO p2;"
            "INSERT INTO v VALUES (9,'[9,9]'); SELECT count(*) FROM v");
  tExec(db, "ROLLBACK");
  tRows("8.0", db, "SELECT id, hex(vec) FROM v",
        "1|0000803F0000803F\n2|0000004000000040\n3|0000404000004040");
  tExec(db, "BEGIN; DELETE FROM v WHERE id=2; ALTER TABLE p RENAME TO p2;"
            "INSERT INTO v VALUES (9,'[9,9]'); COMMIT");
  tRows("8.1", db, "SELECT id, hex(vec) FROM v",
        "1|0000803F0000803F\n3|0000404000004040\n9|0000104100001041");
  /* after the commit, the held slot is free again */
  tExec(db, "INSERT INTO v VALUES (10,'[10,10]')");
  tRows("8.2", db, "SELECT slot FROM v_map WHERE id=10", "1");
  tRows("8.3", db, "SELECT veles_check('v')", "ok");
  /* ROLLBACK TO a savepoint older than the reconnect, then COMMIT: both
  ** instances must share one allocator, so the deletion the savepoint
  ** undid does not leave slot 2 (id 3's) free for the next insert */
  tExec(db, "BEGIN; SAVEPOINT s; DELETE FROM v WHERE id=3;"
            "ALTER TABLE p2 RENAME TO p3; INSERT INTO v VALUES (11,'[11,11]');"
            "ROLLBACK TO s; COMMIT");
  tRows("8.4", db, "SELECT id, hex(vec) FROM v",
        "1|0000803F0000803F\n3|0000404000004040\n9|0000104100001041\n"
        "10|0000204100002041");
  tExec(db, "INSERT INTO v VALUES (12,'[12,12]'), (13,'[13,13]')");
  tRows("8.5", db, "SELECT id, hex(vec) FROM v WHERE id IN (3, 12, 13)",
        "3|0000404000004040\n12|0000404100004041\n13|0000504100005041");
  tRows("8.6", db, "SELECT veles_check('v')", "ok");
  /* written, reconnected (a rolled-back DROP of another table resets the
  ** schema), then dropped and made again under the same name: the
  ** instance from before the reconnect still gets xSync and must not
  ** number the new table's commit (a fuzz_sql find: the new table's side
  ** file was refused as older than the database) */
  tExec(db, "BEGIN; INSERT INTO v VALUES (14,'[14,14]');"
            "SAVEPOINT a; DROP TABLE p2; ROLLBACK TO a; RELEASE a;"
            "DROP TABLE v; CREATE VIRTUAL TABLE v USING vectors(dim=2);"
            "COMMIT");
  tRows("8.7", db, "SELECT veles_check('v')", "ok");
  tExec(db, "INSERT INTO v VALUES (1,'[5,5]')");
  tRows("8.8", db, "SELECT id, hex(vec) FROM v", "1|0000A0400000A040");
  tRows("8.9", db, "SELECT count(*) FROM pragma_table_list "
        "WHERE name LIKE 'v%'", "5");
  /* the same, with the DROP rolled back: the old table and its rows */
  tExec(db, "BEGIN; INSERT INTO v VALUES (2,'[6,6]');"
            "SAVEPOINT a; DROP TABLE p2; ROLLBACK TO a; RELEASE a;"
            "SAVEPOINT b; DROP TABLE v; ROLLBACK TO b; RELEASE b;"
            "INSERT INTO v VALUES (3,'[7,7]'); COMMIT");
  tRows("8.10", db, "SELECT id, hex(vec) FROM v",
        "1|0000A0400000A040\n2|0000C0400000C040\n3|0000E0400000E040");
  tRows("8.11", db, "SELECT veles_check('v')", "ok");
  tClose(db);
  tCheck("8.12", tCountFiles("reconnect.db-vectors-")==1,
         "one side file: the dropped table's went at COMMIT");
}

static void testSynchronousOff(void){
  sqlite3 *db = tOpen("nosync.db");
  tExec(db, "PRAGMA synchronous=OFF");
  tExec(db, "CREATE VIRTUAL TABLE s USING vectors(dim=2)");
  tExec(db, "INSERT INTO s VALUES (1,'[1,2]')");
  tClose(db);
  db = tOpen("nosync.db");
  tRows("7.0", db, "SELECT hex(vec) FROM s", "0000803F00000040");
  tClose(db);
}

int main(int argc, char **argv){
  sqlite3 *db;
  tInit(argc, argv);
  tAutoCheck(1);      /* veles_check (side file = database copy) after each commit */
  db = tOpen("txn.db");
  testRollback(db);
  testSavepoints(db);
  testFailingStatements(db);
  tClose(db);
  testReopen();
  testChurn("delete");
  testChurn("wal");
  testCreateDropRename();
  testSynchronousOff();
  testReconnectInTransaction();
  testDropCommits();
  return tDone();
}
