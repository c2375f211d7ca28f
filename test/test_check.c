/*
** veles_check(): 'ok' for healthy tables of both modules, and each kind
** of damage named: shadow rows edited with defensive mode off, a side file
** that is missing, has a bad header or holds non-finite values, payloads
** that are not JSON or whose declared fields disagree with them.
*/
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static void testHealthy(sqlite3 *db){
  tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=2)");
  tExec(db, "INSERT INTO e VALUES (1,'[1,2]'), (2,'[3,4]'), (3,'[5,6]')");
  tExec(db, "DELETE FROM e WHERE id=2");
  tExec(db, "CREATE VIRTUAL TABLE m USING payloads(lang TEXT, \"a.b\" INTEGER,"
            " ok BOOLEAN, score REAL)");
  tExec(db, "INSERT INTO m(id, json) VALUES (1, '{\"lang\":\"en\",\"a\":{\"b\":"
            "9007199254740993},\"ok\":true,\"score\":0.5}'), (2, '[1,2]'), "
            "(3, 'null')");
  tExec(db, "CREATE VIRTUAL TABLE free USING vectors");
  tExec(db, "ATTACH 'aux.db' AS aux");
  tExec(db, "CREATE VIRTUAL TABLE aux.e2 USING vectors(dim=1)");
  tExec(db, "INSERT INTO aux.e2 VALUES (1,'[1]')");
  /* inside a transaction: its own buffered vectors count */
  tExec(db, "BEGIN; INSERT INTO e VALUES (10,'[9,9]'), (11,'[8,8]')");
  tRows("1.0a", db, "SELECT veles_check('e')", "ok");
  tExec(db, "ROLLBACK");
  tRows("1.0", db, "SELECT veles_check('e'), veles_check('m'), "
        "veles_check('free'), veles_check('aux.e2'), veles_check('main.e')",
        "ok|ok|ok|ok|ok");
  tError("1.1", db, "SELECT veles_check('nosuch')",
         "veles_check: expected the name of a vectors or payloads table, "
         "got 'nosuch'");
  tError("1.2", db, "SELECT veles_check(NULL)",
         "veles_check: expected a table name, got NULL");
  tExec(db, "CREATE TABLE plain(x)");
  tError("1.3", db, "SELECT veles_check('plain')",
         "veles_check: expected the name of a vectors or payloads table, "
         "got 'plain'");
}

static void testDamagedShadows(sqlite3 *db){
  /* edit shadow rows as an application with defensive mode off could */
  tExec(db, "SAVEPOINT d");
  tExec(db, "UPDATE e_map SET slot = 40 WHERE id = 3");
  tRows("2.0", db, "SELECT veles_check('e')",
        "e: slots past the end of the side file (4 slots): 40");
  tExec(db, "UPDATE e_map SET slot = 0 WHERE id = 3");
  tRows("2.1", db, "SELECT veles_check('e')",
        "e: slots used by more than one id: 0");
  tExec(db, "UPDATE e_map SET slot = 'x' WHERE id = 3");
  tRows("2.2", db, "SELECT veles_check('e')",
        "e: rows with an invalid id or slot: 3");
  tExec(db, "ROLLBACK TO d");
  tExec(db, "DELETE FROM e_config WHERE k='ident'");
  tRows("2.3", db, "SELECT veles_check('e')",
        "e: e_config: identifier missing or malformed");
  tExec(db, "ROLLBACK TO d");
  tExec(db, "UPDATE m_data SET lang = 'fr' WHERE id = 1");
  tExec(db, "UPDATE m_data SET json = '{bad' WHERE id = 2");
  tRows("2.4", db, "SELECT veles_check('m')",
        "m: ids whose payload is not valid JSON: 2\n"
        "m: ids whose field lang differs from their payload: 1");
  tExec(db, "ROLLBACK TO d");
  tExec(db, "UPDATE m_data SET \"a.b\" = 9007199254740992 WHERE id = 1");
  tRows("2.5", db, "SELECT veles_check('m')",
        "m: ids whose field a.b differs from their payload: 1");
  tExec(db, "ROLLBACK TO d");
  tExec(db, "RELEASE d");
  tRows("2.6", db, "SELECT veles_check('e') || veles_check('m')", "okok");
}

static void testDamagedFile(void){
  sqlite3 *db = tOpen("file.db");
  char zCmd[512];
  const char *zFile;
  tExec(db, "CREATE VIRTUAL TABLE v USING vectors(dim=2)");
  tExec(db, "INSERT INTO v VALUES (1,'[1,2]'), (2,'[3,4]')");
  tClose(db);
  zFile = tFindFile("file.db-vectors-");
  /* a NaN written over slot 1 */
  snprintf(zCmd, sizeof(zCmd), "printf '\\000\\000\\300\\177' | dd of=%s "
           "bs=1 seek=%d conv=notrunc status=none", zFile, 4096+8);
  tShell("%s", zCmd);
  db = tOpen("file.db");
  tRows("3.0", db, "SELECT veles_check('v')",
        "v: ids whose vector is not finite (damaged side file): 2");
  tClose(db);
  /* a bad header */
  snprintf(zCmd, sizeof(zCmd), "printf 'XXXX' | dd of=%s bs=1 seek=0 "
           "conv=notrunc status=none", zFile);
  tShell("%s", zCmd);
  db = tOpen("file.db");
  {
    char *z = tQuery(db, "SELECT veles_check('v')");
    tCheck("3.1", strncmp(z, "v: side file ", 13)==0
           && strstr(z, "has no valid header")!=0, z);
    sqlite3_free(z);
  }
  tClose(db);
  /* missing */
  unlink(zFile);
  db = tOpen("file.db");
  {
    char *z = tQuery(db, "SELECT veles_check('v')");
    tCheck("3.2", strstr(z, "is missing")!=0, z);
    sqlite3_free(z);
  }
  tClose(db);
}

int main(int argc, char **argv){
  sqlite3 *db;
  tInit(argc, argv);
  db = tOpen("check.db");
  testHealthy(db);
  testDamagedShadows(db);
  tClose(db);
  testDamagedFile();
  return tDone();
}
