/*
** A side file that does not hold its database's committed vectors is
** never read (ext/vecbind.c): a restored older database next to a newer
** side file, the reverse, files of two copies mixed, a damaged binding;
** and the pairs that are right are accepted: a database one commit older
** than its side file (as a crash leaves it), a WAL reader on an older
** snapshot. Every vector that is read is compared with what was stored.
** Each scenario runs twice: with the database's copy of the vectors
** (db_copy=on, the default), where a refused side file is rebuilt from
** the database and every vector comes back right, and without it, where
** the refusal is the error the user sees.
*/
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int gCopy;             /* this round's tables keep the copy */

/* Case name zCase of this round: "on.1.0" or "off.1.0" (rotating static
** buffers, so that a call may use several). */
static const char *C(const char *zCase){
  static char az[4][64];
  static int i;
  i = (i+1)%4;
  snprintf(az[i], sizeof(az[i]), "%s.%s", gCopy ? "on" : "off", zCase);
  return az[i];
}

/* What veles_check says of a refused side file (zWhy, without the
** "vectors: table e: " prefix) this round. */
static char *checkSays(const char *zWhy){
  return sqlite3_mprintf("e: %s%s", zWhy, gCopy ? " (the next use of the "
                         "table rebuilds it from the database's copy)" : "");
}

/* A refused pair (zWhy says why): without the copy every use fails with
** that message; with it, the side file is rebuilt and all is right. */
static void refused(const char *zCase, sqlite3 *db, const char *zWhy,
                    int (*xRight)(sqlite3*)){
  char zSub[40], *zMsg = checkSays(zWhy);
  snprintf(zSub, sizeof(zSub), "%s.check", zCase);
  tRows(C(zSub), db, "SELECT veles_check('e')", zMsg);
  sqlite3_free(zMsg);
  if( gCopy ){
    snprintf(zSub, sizeof(zSub), "%s.rebuilt", zCase);
    tCheck(C(zSub), xRight(db), "every vector right after the rebuild");
    snprintf(zSub, sizeof(zSub), "%s.search", zCase);
    tRows(C(zSub), db, "SELECT id FROM e WHERE vec MATCH "
          "veles_vec(json_array(7, -7, 3.5, 1)) AND k=1", "7");
    snprintf(zSub, sizeof(zSub), "%s.write", zCase);
    tExec(db, "INSERT INTO e VALUES (300, '[300,0,0,0]')");
    tCheck(C(zSub), xRight(db), "every vector right after a write");
    snprintf(zSub, sizeof(zSub), "%s.ok", zCase);
    tRows(C(zSub), db, "SELECT veles_check('e')", "ok");
  }else{
    zMsg = sqlite3_mprintf("vectors: table e: %s (the table keeps no copy "
        "of its vectors in the database, db_copy=off: put back the side "
        "file saved with this database file)", zWhy);
    snprintf(zSub, sizeof(zSub), "%s.read", zCase);
    tError(C(zSub), db, "SELECT count(*) FROM e WHERE id=7 AND vec IS NOT "
           "NULL", zMsg);
    snprintf(zSub, sizeof(zSub), "%s.search", zCase);
    tError(C(zSub), db, "SELECT id FROM e WHERE vec MATCH '[1,1,1,1]' AND "
           "k=3", zMsg);
    snprintf(zSub, sizeof(zSub), "%s.write", zCase);
    tError(C(zSub), db, "INSERT INTO e VALUES (300, '[3,0,0,0]')", zMsg);
    sqlite3_free(zMsg);
  }
}

/* Copy the side files of zDb (zDb-vectors-*) beside database zTo. */
static void copySide(const char *zDb, const char *zTo){
  tShell("for f in %s-vectors-*; do cp \"$f\" \"%s${f#%s}\"; done", zDb,
         zTo, zDb);
}

/* Copy zDb, and its side files when bSide, under the name zTo. */
static void copyPair(const char *zDb, const char *zTo, int bSide){
  tShell("cp %s %s", zDb, zTo);
  if( bSide ) copySide(zDb, zTo);
}

/* The side file of table e in zDb, as veles names it (absolute path). */
static char *sidePath(const char *zDb){
  char zDir[1024], zPrefix[300];
  const char *zFile;
  snprintf(zPrefix, sizeof(zPrefix), "%s-vectors-", zDb);
  zFile = tFindFile(zPrefix);
  if( getcwd(zDir, sizeof(zDir))==0 || zFile==0 ) return sqlite3_mprintf("?");
  return sqlite3_mprintf("%s/%s", zDir, zFile);
}

/* "WITH s(value) AS (...)": the integers iFrom..iTo (static buffer). */
static const char *series(int iFrom, int iTo){
  static char z[200];
  snprintf(z, sizeof(z), "WITH RECURSIVE s(value) AS (SELECT %d UNION ALL "
           "SELECT value+1 FROM s WHERE value<%d)", iFrom, iTo);
  return z;
}

/* Fill e(dim=4) with ids 1..100, vector of id i = [i, -i, i/2, 1]. */
static void fill(sqlite3 *db){
  int i;
  tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=4, db_copy=%s)",
        gCopy ? "on" : "off");
  tExec(db, "BEGIN");
  for(i=1; i<=100; i++){
    tExec(db, "INSERT INTO e VALUES (%d, '[%d, %d, %g, 1]')", i, i, -i,
          i/2.0);
  }
  tExec(db, "COMMIT");
}

/* The yesterday/today scenario: 50 deletes and 50 inserts after the copy,
** whose slots reuse the freed ones; the copy is two commits old. In WAL
** mode a freed slot is reused only after the WAL restarted: a checkpoint
** and one more commit (id 500) come between. */
static void churn(sqlite3 *db, int bWal){
  int i;
  tExec(db, "DELETE FROM e WHERE id>50");
  if( bWal ){
    tExec(db, "PRAGMA wal_checkpoint(RESTART)");
    tExec(db, "INSERT INTO e VALUES (500, '[500, 0, 0, 0]')");
  }
  tExec(db, "BEGIN");
  for(i=201; i<=250; i++){
    tExec(db, "INSERT INTO e VALUES (%d, '[%d, 0, 0, 0]')", i, i);
  }
  tExec(db, "COMMIT");
}

/* Every row of e equals what fill() and churn() stored for its id. */
static int allRight(sqlite3 *db){
  return tInt(db, "SELECT count(*) FROM e WHERE vec != CASE WHEN id<=100 "
              "THEN veles_vec(json_array(id, -id, id/2.0, 1)) "
              "ELSE veles_vec(json_array(id, 0, 0, 0)) END")==0;
}

/* ... and the table holds exactly what fill() stored (with 300). */
static int asFilled(sqlite3 *db){
  return allRight(db) && tInt(db, "SELECT count(*) FROM e WHERE id<=100")
      ==100;
}
/* ... what fill() and churn() stored (with 300). */
static int asChurned(sqlite3 *db){
  return allRight(db) && tInt(db, "SELECT count(*) FROM e WHERE id<=100 "
                              "OR id BETWEEN 201 AND 250")==100;
}

static void testRestoredOlderDatabase(const char *zMode){
  char zDb[64], zBak[64], zCase[16], *zSide, *zExpect;
  int bWal = strcmp(zMode, "wal")==0;
  sqlite3 *db;
  snprintf(zDb, sizeof(zDb), "old-%s.db", zMode);
  snprintf(zBak, sizeof(zBak), "old-%s.bak", zMode);
  db = tOpen(zDb);
  tExec(db, "PRAGMA journal_mode=%s", zMode);
  fill(db);
  tClose(db);
  copyPair(zDb, zBak, 0);                     /* cp app.db app.db.bak */
  db = tOpen(zDb);
  churn(db, bWal);
  snprintf(zCase, sizeof(zCase), "1.%s.0", zMode);
  tCheck(C(zCase), allRight(db), "all vectors right before the restore");
  tClose(db);
  copyPair(zBak, zDb, 0);                     /* cp app.db.bak app.db */
  db = tOpen(zDb);
  zSide = sidePath(zDb);
  zExpect = sqlite3_mprintf("side file %s is newer than the database "
      "(database at commit 1, side file intact from commit 2 to %d): the "
      "database was restored without its side file", zSide, bWal ? 4 : 3);
  snprintf(zCase, sizeof(zCase), "1.%s", zMode);
  refused(zCase, db, zExpect, asFilled);
  sqlite3_free(zExpect);
  sqlite3_free(zSide);
  tClose(db);
}

static void testRestoredOlderSideFile(void){
  sqlite3 *db = tOpen("side.db");
  char *zSide, *zExpect;
  fill(db);
  tClose(db);
  copyPair("side.db", "side.bak", 1);
  db = tOpen("side.db");
  churn(db, 0);
  tClose(db);
  /* today's database, yesterday's side file */
  copySide("side.bak", "side.db");
  db = tOpen("side.db");
  zSide = sidePath("side.db");
  zExpect = sqlite3_mprintf("side file %s is older than the database "
      "(database at commit 3, side file at commit 1): it was not saved with "
      "this database file", zSide);
  refused("2", db, zExpect, asChurned);
  sqlite3_free(zExpect);
  sqlite3_free(zSide);
  tClose(db);
}

/* A transaction that reused freed slots and did not commit (ROLLBACK
** here; kill -9 or a power cut leave the same bytes) has overwritten
** slots that only states before the freeing commit reference: a restored
** copy from before it must be refused, although no commit raised the
** floor. */
static void testRolledBackReuse(void){
  sqlite3 *db = tOpen("reuse.db");
  char *zSide, *zExpect;
  int i;
  fill(db);
  tClose(db);
  copyPair("reuse.db", "reuse.bak", 0);       /* the copy: commit 1 */
  db = tOpen("reuse.db");
  tExec(db, "DELETE FROM e WHERE id>50");     /* commit 2 frees 50 slots */
  tExec(db, "BEGIN");
  for(i=201; i<=250; i++){                    /* ... which these reuse */
    tExec(db, "INSERT INTO e VALUES (%d, '[%d, 0, 0, 0]')", i, i);
  }
  /* a read inside the transaction writes its vectors into the file */
  tRows(C("2r.0"), db, "SELECT count(*) FROM e WHERE vec IS NOT NULL", "100");
  tExec(db, "ROLLBACK");
  tRows(C("2r.1"), db, "SELECT count(*), sum(id) FROM e", "50|1275");
  tClose(db);
  copyPair("reuse.bak", "reuse.db", 0);       /* restore the copy */
  db = tOpen("reuse.db");
  zSide = sidePath("reuse.db");
  zExpect = sqlite3_mprintf("side file %s is newer than the database "
      "(database at commit 1, side file intact from commit 2 to 2): the "
      "database was restored without its side file", zSide);
  refused("2r", db, zExpect, asFilled);
  sqlite3_free(zExpect);
  sqlite3_free(zSide);
  tClose(db);
}

/* One commit older than its side file: what a crash between the side
** file's sync and SQLite's commit leaves, and right. */
static void testOneCommitOlder(void){
  sqlite3 *db = tOpen("one.db");
  fill(db);
  tExec(db, "DELETE FROM e WHERE id>50");     /* commit 2 frees 50 slots */
  tClose(db);
  copyPair("one.db", "one.bak", 0);
  db = tOpen("one.db");
  tExec(db, "BEGIN");                         /* commit 3 reuses them */
  tExec(db, "%s INSERT INTO e SELECT value, json_array(value, 0, 0, 0) "
            "FROM s", series(201, 250));
  tExec(db, "COMMIT");
  tRows(C("3.0"), db, "SELECT count(*) FROM e_map WHERE slot<100", "100");
  tClose(db);
  copyPair("one.bak", "one.db", 0);
  db = tOpen("one.db");
  tCheck(C("3.1"), allRight(db), "every vector right");
  tRows(C("3.2"), db, "SELECT count(*), sum(id) FROM e", "50|1275");
  tRows(C("3.3"), db, "SELECT veles_check('e')", "ok");
  /* and writing goes on from there */
  tExec(db, "INSERT INTO e VALUES (400, '[400, 0, 0, 0]')");
  tRows(C("3.4"), db, "SELECT veles_json(vec) FROM e WHERE id=400",
        "[400.0,0.0,0.0,0.0]");
  tCheck(C("3.5"), allRight(db), "every vector right");
  tRows(C("3.6"), db, "SELECT veles_check('e')", "ok");
  tClose(db);
}

/* a.db's rows: fill()'s, with id 1 at [9,9,9,9] (and 300). */
static int aCopyRight(sqlite3 *db){
  return tInt(db, "SELECT count(*) FROM e WHERE vec != CASE WHEN id=1 THEN "
              "veles_vec('[9,9,9,9]') WHEN id<=100 THEN veles_vec(json_array("
              "id, -id, id/2.0, 1)) ELSE veles_vec(json_array(id, 0, 0, 0)) "
              "END")==0;
}

/* Two copies of one pair that went separate ways. */
static void testTwoCopies(void){
  sqlite3 *db = tOpen("a.db");
  char *zSide, *zExpect;
  fill(db);
  tClose(db);
  copyPair("a.db", "b.db", 1);
  db = tOpen("a.db");
  tExec(db, "UPDATE e SET vec='[9,9,9,9]' WHERE id=1");
  tClose(db);
  db = tOpen("b.db");
  tExec(db, "UPDATE e SET vec='[8,8,8,8]' WHERE id=2");
  tClose(db);
  /* a.db with b's side file: both at commit 2, of different histories */
  copySide("b.db", "a.db");
  db = tOpen("a.db");
  zSide = sidePath("a.db");
  zExpect = sqlite3_mprintf("side file %s belongs to another copy of this "
      "table (commit 2 of the database is not one of its commits): the "
      "database and the side file come from different copies", zSide);
  refused("4", db, zExpect, aCopyRight);
  if( gCopy ){
    tRows(C("4.a"), db, "SELECT veles_json(vec) FROM e WHERE id IN (1,2)",
          "[9.0,9.0,9.0,9.0]\n[2.0,-2.0,1.0,1.0]");
  }
  sqlite3_free(zExpect);
  sqlite3_free(zSide);
  tClose(db);
}

/* A reader on an older WAL snapshot keeps reading its own vectors while a
** writer commits deletes and inserts. */
static void testWalReader(void){
  sqlite3 *dbW = tOpen("wal.db"), *dbR;
  int i;
  tExec(dbW, "PRAGMA journal_mode=WAL");
  fill(dbW);
  dbR = tOpen("wal.db");
  tExec(dbR, "BEGIN");
  tRows(C("5.0"), dbR, "SELECT veles_json(vec) FROM e WHERE id=60",
        "[60.0,-60.0,30.0,1.0]");
  for(i=0; i<5; i++){
    tExec(dbW, "DELETE FROM e WHERE id>50 AND id<=100");
    tExec(dbW, "%s INSERT INTO e SELECT value, json_array(value, 0, 0, 0) "
               "FROM s", series(1000+i*100, 1049+i*100));
    tExec(dbW, "%s INSERT INTO e SELECT value, json_array(value, -value, "
               "value/2.0, 1) FROM s", series(51, 100));
  }
  tCheck(C("5.1"), allRight(dbR), "the old snapshot reads right");
  tRows(C("5.2"), dbR, "SELECT count(*) FROM e", "100");
  tRows(C("5.3"), dbR, "SELECT id FROM e WHERE vec MATCH '[60,-60,30,1]' "
        "AND k=1", "60");
  tExec(dbR, "COMMIT");
  tRows(C("5.4"), dbR, "SELECT count(*) FROM e", "350");
  tRows(C("5.5"), dbR, "SELECT veles_check('e')", "ok");
  tClose(dbR);
  tClose(dbW);
}

/* A garbled binding is damage: refused, and veles_check says so. */
static void testDamagedBinding(void){
  sqlite3 *db = tOpen("dmg.db");
  char zCmd[512], *zSide, *zExpect;
  fill(db);
  tClose(db);
  zSide = sidePath("dmg.db");
  /* both copies of the binding (at 40 and 2064: sidefile.c) */
  snprintf(zCmd, sizeof(zCmd), "printf 'XY' | dd of=%s bs=1 seek=70 "
           "conv=notrunc status=none && printf 'XY' | dd of=%s bs=1 "
           "seek=2094 conv=notrunc status=none", zSide, zSide);
  tShell("%s", zCmd);
  db = tOpen("dmg.db");
  zExpect = sqlite3_mprintf("side file %s has a damaged header (its "
      "binding to the database)", zSide);
  refused("6", db, zExpect, asFilled);
  sqlite3_free(zExpect);
  sqlite3_free(zSide);
  tClose(db);
}

/* The larger write count of the binding's two copies (sidefile.c). */
static long long bindingWrites(const char *zDb){
  char *zSide = sidePath(zDb);
  unsigned char a[8];
  long long n = -1;
  int k, i;
  FILE *f = fopen(zSide, "rb");
  for(k=0; f && k<2; k++){
    long long x = 0;
    if( fseek(f, 40+k*2024, SEEK_SET) || fread(a, 1, 8, f)!=8 ) break;
    for(i=7; i>=0; i--) x = (x<<8) | a[i];
    if( x>n ) n = x;
  }
  if( f ) fclose(f);
  sqlite3_free(zSide);
  return n;
}

/* A commit numbers itself once, though SQLite calls xSync on each of the
** two instances a schema change in the transaction leaves. */
static void testTwoInstances(void){
  sqlite3 *db = tOpen("inst.db");
  long long nBefore;
  fill(db);
  tExec(db, "CREATE TABLE other(x)");
  nBefore = bindingWrites("inst.db");
  tExec(db, "BEGIN; INSERT INTO e VALUES (101, '[101, 0, 0, 0]');"
            "ALTER TABLE other RENAME TO other2;"
            "INSERT INTO e VALUES (102, '[102, 0, 0, 0]'); COMMIT");
  tRows(C("7.0"), db, "SELECT v FROM e_config WHERE k='commit'", "2");
  tCheck(C("7.1"), bindingWrites("inst.db")==nBefore+1,
         "one binding write for one commit");
  tRows(C("7.2"), db, "SELECT veles_check('e')", "ok");
  tClose(db);
}

int main(int argc, char **argv){
  tInit(argc, argv);
  for(gCopy=1; gCopy>=0; gCopy--){
    tShell("rm -f *.db *.bak *-vectors-*");
    testRestoredOlderDatabase("delete");
    testRestoredOlderDatabase("wal");
    testRestoredOlderSideFile();
    testRolledBackReuse();
    testOneCommitOlder();
    testTwoCopies();
    testWalReader();
    testDamagedBinding();
    testTwoInstances();
  }
  return tDone();
}
