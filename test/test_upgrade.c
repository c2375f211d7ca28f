/*
** Format 1 tables (made by the release before the binding and the copy)
** and their upgrade: SELECT veles_upgrade('t') (ext/vecupgrade.c).
**
** A format 1 table is made as that release made it: a table created by
** this build, then tToFormat1() (testutil.c) takes away what format 2
** added (the <t>_chunks table; the config rows commit, nonce, slots,
** copy; format 2 -> 1; the side file's header version 2 -> 1 and its
** binding zeroed).
** Checked against the release itself (commit 67727ef, the one before
** format 2): the same statements run by both give the same schema, the
** same config and map rows (values and types) and side files that are
** byte for byte the same but for the random identifier.
**
**   1.x  a format 1 table works: reads, search, writes; veles_check says
**        what it lacks
**   2.x  refusals: inside a transaction, not a vectors table, format 2
**        already; a damaged table is not upgraded and is left as it was
**   3.x  the upgrade: every vector kept, veles_check ok, a version 2 side
**        file, the database alone carries the vectors (cp)
**   4.x  a crash between the commit and the rebuild (the version 1 side
**        file of before beside the format 2 database)
**   5.x  another connection that had the table open as format 1 (rollback
**        journal and WAL)
**   6.x  a format 2 table made before the config row 'chunk' (its copy in
**        chunks of 256 KiB; tables made now: 64 KiB): read, rebuilt and
**        written as it was made; a damaged chunk size is refused
**   kill.*  kill -9 of the upgrading process at random moments
**   cut.*   a power cut at each sync of the upgrade (faultfs)
** After each crash the table is format 1 as it was or format 2 complete,
** every vector right either way.
*/
#include "testutil.h"
#include "faultfs.h"
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define NDIM 32
#define NROW 10000              /* 1.3 MB of vectors */
#define CUT_EXIT 77

static const char *zNote = "format 1 (made by an older veles): no binding to "
  "its side file and no copy of its vectors in the database; SELECT "
  "veles_upgrade('%s') adds them";

static void vectorFor(int id, float *a){
  int i;
  for(i=0; i<NDIM; i++) a[i] = (float)(id*0.5 - i);
}

/* Insert ids iFirst..iLast (vectorFor) into zTab, in one transaction. */
static void insertRange(sqlite3 *db, const char *zTab, int iFirst,
                        int iLast){
  sqlite3_stmt *p = 0;
  char *zSql = sqlite3_mprintf("INSERT INTO %s VALUES (?, ?)", zTab);
  float a[NDIM];
  int id;
  tExec(db, "BEGIN");
  sqlite3_prepare_v2(db, zSql, -1, &p, 0);
  for(id=iFirst; id<=iLast; id++){
    vectorFor(id, a);
    sqlite3_bind_int(p, 1, id);
    sqlite3_bind_blob(p, 2, a, sizeof(a), SQLITE_STATIC);
    sqlite3_step(p);
    sqlite3_reset(p);
  }
  sqlite3_finalize(p);
  sqlite3_free(zSql);
  tExec(db, "COMMIT");
}


/* The side file of table zTab in zDb, in zPath. */
static void sidePath(sqlite3 *db, const char *zDb, const char *zTab,
                     char *zPath, int nPath){
  char zSql[200], *zIdent;
  snprintf(zSql, sizeof(zSql), "SELECT v FROM \"%s_config\" WHERE k='ident'",
           zTab);
  zIdent = tQuery(db, zSql);
  snprintf(zPath, (size_t)nPath, "%s-vectors-%s", zDb, zIdent);
  sqlite3_free(zIdent);
}

/* The side file's header version of table zTab in zDb (-1: none). */
static int headerVersion(sqlite3 *db, const char *zDb, const char *zTab){
  char zPath[1024];
  unsigned char a[4];
  int fd, n;
  sidePath(db, zDb, zTab, zPath, sizeof(zPath));
  fd = open(zPath, O_RDONLY);
  if( fd<0 ) return -1;
  n = (int)pread(fd, a, 4, 8);
  close(fd);
  return n==4 ? a[0] : -1;
}

/* "<rows>:<hash>" of every (id, vec) of zTab; sqlite3_free it. */
static char *digest(sqlite3 *db, const char *zTab){
  sqlite3_str *pStr = sqlite3_str_new(0);
  char *zSql = sqlite3_mprintf("SELECT id, vec FROM %s ORDER BY id", zTab);
  tDigestRows(db, zSql, pStr);
  sqlite3_free(zSql);
  return sqlite3_str_finish(pStr);
}

/* The table's rows in <t>_config and <t>_map and the schema, and the
** side file's bytes: a failed upgrade must leave all of it as it was. */
static char *snapshot(sqlite3 *db, const char *zDb){
  sqlite3_str *pStr = sqlite3_str_new(0);
  char zCmd[1200];
  FILE *f;
  tDigestRows(db, "SELECT k, v, typeof(v) FROM e_config ORDER BY k", pStr);
  tDigestRows(db, "SELECT id, slot FROM e_map ORDER BY id", pStr);
  tDigestRows(db, "SELECT type, name, sql FROM sqlite_schema ORDER BY name",
              pStr);
  snprintf(zCmd, sizeof(zCmd), "cat %s-vectors-* | cksum", zDb);
  f = popen(zCmd, "r");
  if( f ){
    char zLine[100];
    if( fgets(zLine, sizeof(zLine), f) ){
      sqlite3_str_appendf(pStr, " %s", zLine);
    }
    pclose(f);
  }
  return sqlite3_str_finish(pStr);
}

static int sameText(const char *zCase, const char *zA, const char *zB,
                    const char *zWhat){
  int bOk = zA && zB && strcmp(zA, zB)==0;
  if( !tCheck(zCase, bOk, zWhat) ){
    fprintf(stderr, "  before: %s\n  after:  %s\n", zA ? zA : "(null)",
            zB ? zB : "(null)");
  }
  return bOk;
}

/* f1.db: table e of format 1, NROW vectors with holes and reused slots;
** its digest in *pzDigest. */
static void makeTemplate(char **pzDigest){
  sqlite3 *db;
  tShell("rm -f f1.db*");
  db = tOpen("f1.db");
  tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=%d)", NDIM);
  insertRange(db, "e", 1, NROW);
  tExec(db, "DELETE FROM e WHERE id%%10=3");
  insertRange(db, "e", NROW+1, NROW+NROW/20);
  *pzDigest = digest(db, "e");
  tClose(db);
  tToFormat1("f1.db", "e");
}

static void testFormat1(void){
  sqlite3 *db;
  char zNoteE[400], *zA, *zB;
  long long iSlot5;
  tShell("rm -f a.db*");
  db = tOpen("a.db");
  tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=3)");
  tExec(db, "INSERT INTO e VALUES (1,'[1,2,3]'), (2,'[4,5,6]'), "
            "(3,'[7,8,9]')");
  tExec(db, "DELETE FROM e WHERE id=2");
  tExec(db, "INSERT INTO e VALUES (4,'[0,0,1]')");
  tExec(db, "CREATE VIRTUAL TABLE f USING vectors(dim=3)");
  tExec(db, "CREATE TABLE plain(x)");
  tClose(db);
  tToFormat1("a.db", "e");
  db = tOpen("a.db");
  snprintf(zNoteE, sizeof(zNoteE), zNote, "e");
  tRows("1.0", db, "SELECT k, v, typeof(v) FROM e_config WHERE k!='ident' "
        "ORDER BY k", "dim|3|integer\nformat|1|integer\nmetric|l2|text");
  tRows("1.1", db, "SELECT count(*) FROM sqlite_schema WHERE name='e_chunks'",
        "0");
  tRows("1.2", db, "SELECT id, veles_json(vec) FROM e",
        "1|[1.0,2.0,3.0]\n3|[7.0,8.0,9.0]\n4|[0.0,0.0,1.0]");
  tRows("1.3", db, "SELECT id FROM e WHERE vec MATCH '[1,2,2]' AND k=2",
        "1\n4");
  tExec(db, "INSERT INTO e VALUES (5,'[5,5,5]'); DELETE FROM e WHERE id=1;"
            "UPDATE e SET vec='[9,9,9]' WHERE id=3");
  tRows("1.4", db, "SELECT id, veles_json(vec) FROM e",
        "3|[9.0,9.0,9.0]\n4|[0.0,0.0,1.0]\n5|[5.0,5.0,5.0]");
  {
    char zExpect[500];
    snprintf(zExpect, sizeof(zExpect), "e: %s", zNoteE);
    tRows("1.5", db, "SELECT veles_check('e')", zExpect);
  }
  tRows("1.6", db, "SELECT veles_check('f'), "
        "(SELECT group_concat(integrity_check) FROM pragma_integrity_check)",
        "ok|ok");
  tRows("1.7", db, "SELECT count(*) FROM sqlite_schema WHERE name='e_chunks'",
        "0");
  tRows("1.8", db, "SELECT v FROM e_config WHERE k='format'", "1");
  tCheck("1.9", headerVersion(db, "a.db", "e")==1, "a version 1 side file");

  /* 2.x refusals */
  tError("2.0", db, "SELECT veles_upgrade('nosuch')",
         "veles_upgrade: expected the name of a vectors table, got 'nosuch'");
  tError("2.1", db, "SELECT veles_upgrade('plain')",
         "veles_upgrade: expected the name of a vectors table, got 'plain'");
  tError("2.2", db, "SELECT veles_upgrade(NULL)",
         "veles_upgrade: expected a table name, got NULL");
  tError("2.3", db, "SELECT veles_upgrade('f')",
         "veles_upgrade: table f is format 2 already: there is nothing to "
         "upgrade");
  zA = snapshot(db, "a.db");
  tExec(db, "BEGIN");
  tError("2.4", db, "SELECT veles_upgrade('e')",
         "veles_upgrade: cannot upgrade table e inside a transaction (the "
         "upgrade commits one of its own): commit or roll back first");
  tExec(db, "ROLLBACK");
  tExec(db, "SAVEPOINT s");
  tError("2.5", db, "SELECT veles_upgrade('e')",
         "veles_upgrade: cannot upgrade table e inside a transaction (the "
         "upgrade commits one of its own): commit or roll back first");
  tExec(db, "RELEASE s");
  /* a damaged table: not upgraded, left exactly as it was */
  iSlot5 = tInt(db, "SELECT slot FROM e_map WHERE id=5");
  tExec(db, "UPDATE e_map SET slot=99 WHERE id=5");
  zA = (sqlite3_free(zA), snapshot(db, "a.db"));
  tError("2.6", db, "SELECT veles_upgrade('e')",
         "veles_upgrade: table e is not upgraded: veles_check finds it "
         "damaged: e: slots past the end of the side file (4 slots): 99");
  zB = snapshot(db, "a.db");
  sameText("2.7", zA, zB, "the failed upgrade changed nothing");
  sqlite3_free(zB);
  tExec(db, "UPDATE e_map SET slot=%lld WHERE id=5", iSlot5);
  /* a vector that is not finite (a garbled side file) */
  {
    char zPath[1024];
    long long iSlot = tInt(db, "SELECT slot FROM e_map WHERE id=3");
    sidePath(db, "a.db", "e", zPath, sizeof(zPath));
    tClose(db);
    tShell("printf '\\000\\000\\300\\177' | dd of=%s bs=1 seek=%lld "
           "conv=notrunc status=none", zPath, 4096+iSlot*12+4);
  }
  db = tOpen("a.db");
  sqlite3_free(zA);
  zA = snapshot(db, "a.db");
  tError("2.8", db, "SELECT veles_upgrade('e')",
         "veles_upgrade: table e is not upgraded: veles_check finds it "
         "damaged: e: ids whose vector is not finite (damaged side file): 3");
  zB = snapshot(db, "a.db");
  sameText("2.9", zA, zB, "the failed upgrade changed nothing");
  sqlite3_free(zB);
  sqlite3_free(zA);
  tClose(db);
}

/* 3.x, 4.x: the upgrade of the template, and a crash before its rebuild. */
static void testUpgrade(const char *zDigest){
  sqlite3 *db;
  char *zD;
  tShell("rm -rf b.db* up1.side && cp f1.db b.db && "
         "for f in f1.db-vectors-*; do cp $f b.db${f#f1.db}; "
         "cp $f up1.side; done");
  db = tOpen("b.db");
  tRows("3.0", db, "SELECT veles_upgrade('e')", "9500");
  tRows("3.1", db, "SELECT k, v FROM e_config WHERE k IN ('format', 'copy', "
        "'commit', 'slots') ORDER BY k",
        "commit|0\ncopy|1\nformat|2\nslots|10000");
  tRows("3.2", db, "SELECT veles_check('e')", "ok");
  zD = digest(db, "e");
  sameText("3.3", zDigest, zD, "every vector kept");
  sqlite3_free(zD);
  tCheck("3.4", headerVersion(db, "b.db", "e")==2, "a version 2 side file");
  tRows("3.5", db, "SELECT count(*), sum(length(data))/(4*32) "
        "FROM e_chunks", "20|10240");
  tError("3.6", db, "SELECT veles_upgrade('e')",
         "veles_upgrade: table e is format 2 already: there is nothing to "
         "upgrade");
  tExec(db, "INSERT INTO e VALUES (99999, veles_vec('[%s]'))",
        "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,"
        "25,26,27,28,29,30,31,32");
  tExec(db, "DELETE FROM e WHERE id=99999");
  tRows("3.7", db, "SELECT veles_check('e')", "ok");
  tClose(db);
  /* the database alone carries the vectors now */
  tShell("rm -f c.db* && cp b.db c.db");
  db = tOpen("c.db");
  zD = digest(db, "e");
  sameText("3.8", zDigest, zD, "the database alone carries every vector");
  sqlite3_free(zD);
  tRows("3.9", db, "SELECT veles_check('e')", "ok");
  tCheck("3.10", tCountFiles("c.db-vectors-")==1, "its side file rebuilt");
  tClose(db);

  /* 4.x the commit happened, the rebuild did not: the side file is the
  ** version 1 one of before */
  tShell("for f in b.db-vectors-*; do cp up1.side $f; done");
  db = tOpen("b.db");
  {
    char *z = tQuery(db, "SELECT veles_check('e')");
    tCheck("4.0", strstr(z, "has format version 1, its table format 2 (the "
           "next use of the table rebuilds it from the database's copy)")!=0,
           z);
    sqlite3_free(z);
  }
  zD = digest(db, "e");
  sameText("4.1", zDigest, zD, "every vector, from the rebuilt file");
  sqlite3_free(zD);
  tRows("4.2", db, "SELECT veles_check('e')", "ok");
  tCheck("4.3", headerVersion(db, "b.db", "e")==2, "a version 2 side file");
  tClose(db);
}

/* 5.x: a connection that used the table as format 1 while another one
** upgraded it writes into the copy afterwards. */
static void testOtherConnection(const char *zMode){
  sqlite3 *db1, *db2;
  char *zD, zCase[32];
  int i;
  tShell("rm -rf o.db* && cp f1.db o.db && "
         "for f in f1.db-vectors-*; do cp $f o.db${f#f1.db}; done");
  db1 = tOpen("o.db");
  db2 = tOpen("o.db");
  tExec(db1, "PRAGMA journal_mode=%s", zMode);
  /* db2 knows the table as format 1: it reads and writes it */
  snprintf(zCase, sizeof(zCase), "5.%s.0", zMode);
  tRows(zCase, db2, "SELECT count(*) FROM e WHERE id<=100", "90");
  tExec(db2, "INSERT INTO e VALUES (100001, veles_vec(zeroblob(128)))");
  tExec(db2, "DELETE FROM e WHERE id=100001");
  snprintf(zCase, sizeof(zCase), "5.%s.1", zMode);
  tRows(zCase, db1, "SELECT veles_upgrade('e')", "9500");
  /* db2 writes: new slots and reused ones, which must reach the copy */
  tExec(db2, "DELETE FROM e WHERE id<=10");
  insertRange(db2, "e", 1, 10);
  insertRange(db2, "e", 200001, 200100);
  tExec(db2, "DELETE FROM e WHERE id>200000");
  for(i=0; i<2; i++){
    snprintf(zCase, sizeof(zCase), "5.%s.%d", zMode, 2+i);
    tRows(zCase, i ? db1 : db2, "SELECT veles_check('e')", "ok");
  }
  zD = digest(db2, "e");
  tClose(db1);
  tClose(db2);
  /* the copy alone gives the same vectors */
  tShell("rm -f o.db-vectors-*");
  db1 = tOpen("o.db");
  {
    char *zD2 = digest(db1, "e");
    snprintf(zCase, sizeof(zCase), "5.%s.4", zMode);
    sameText(zCase, zD, zD2, "the copy holds the other connection's writes");
    sqlite3_free(zD2);
  }
  snprintf(zCase, sizeof(zCase), "5.%s.5", zMode);
  tRows(zCase, db1, "SELECT veles_check('e')", "ok");
  tClose(db1);
  sqlite3_free(zD);
}

/* After a crash in d/t.db: format 1 as it was, or format 2 with every
** vector in the copy. Returns the format found. */
static int verifyCrash(const char *zCase, const char *zDb,
                       const char *zDigest){
  sqlite3 *db = tOpen(zDb);
  char *zD, *z, zExpect[500], zCmd[1200];
  int iFormat = (int)tInt(db, "SELECT v FROM e_config WHERE k='format'");
  zD = digest(db, "e");
  sameText(zCase, zDigest, zD, "every vector right");
  sqlite3_free(zD);
  z = tQuery(db, "SELECT veles_check('e')");
  if( iFormat==1 ){
    snprintf(zExpect, sizeof(zExpect), "e: ");
    snprintf(zExpect+3, sizeof(zExpect)-3, zNote, "e");
    tCheck(zCase, strcmp(z, zExpect)==0, z);
    tRows(zCase, db, "SELECT count(*) FROM sqlite_schema WHERE "
          "name='e_chunks'", "0");
  }else{
    tCheck(zCase, iFormat==2 && strcmp(z, "ok")==0, z);
  }
  sqlite3_free(z);
  tClose(db);
  if( iFormat==2 ){
    /* the copy alone */
    snprintf(zCmd, sizeof(zCmd), "rm -f %s-vectors-*", zDb);
    tShell("%s", zCmd);
    db = tOpen(zDb);
    zD = digest(db, "e");
    sameText(zCase, zDigest, zD, "every vector from the copy");
    sqlite3_free(zD);
    tClose(db);
  }else{
    /* the upgrade runs to its end after the crash */
    db = tOpen(zDb);
    tRows(zCase, db, "SELECT veles_upgrade('e')", "9500");
    tRows(zCase, db, "SELECT veles_check('e')", "ok");
    tClose(db);
  }
  return iFormat;
}

static char zDataDir[600], zShadowDir[600], zDb[700];

static void resetDir(void){
  tShell("rm -rf '%s' '%s' && mkdir -p '%s' && cp f1.db '%s' && "
         "for f in f1.db-vectors-*; do cp $f '%s'${f#f1.db}; done",
         zDataDir, zShadowDir, zDataDir, zDb, zDb);
}

static void kills(const char *zDigest){
  struct timeval t0, t1;
  sqlite3 *db;
  long nUs;
  int i, an[3] = {0, 0, 0};
  /* how long an upgrade takes here */
  resetDir();
  gettimeofday(&t0, 0);
  db = tOpen(zDb);
  tRows("kill.time", db, "SELECT veles_upgrade('e')", "9500");
  tClose(db);
  gettimeofday(&t1, 0);
  nUs = (t1.tv_sec-t0.tv_sec)*1000000L + (t1.tv_usec-t0.tv_usec);
  srand(11);
  for(i=0; i<12; i++){
    char zCase[64];
    int status;
    pid_t pid;
    snprintf(zCase, sizeof(zCase), "kill.%d", i);
    resetDir();
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if( pid==0 ){
      sqlite3 *dbc = tOpen(zDb);
      int rc = sqlite3_exec(dbc, "SELECT veles_upgrade('e')", 0, 0, 0);
      _exit(rc==SQLITE_OK ? 0 : 1);
    }
    usleep((useconds_t)(rand() % (2*nUs + 1)));
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    an[verifyCrash(zCase, zDb, zDigest)==2]++;
  }
  printf("kill: an upgrade takes %ld us; after 12 kills: format 1 %d times, "
         "format 2 %d times\n", nUs, an[0], an[1]);
}

static void powerCuts(const char *zDigest, int eGarble){
  int k, an[2] = {0, 0};
  for(k=1; k<60; k++){
    char zCase[64];
    int status;
    pid_t pid;
    snprintf(zCase, sizeof(zCase), "cut.%d.%d", eGarble, k);
    resetDir();
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if( pid==0 ){
      sqlite3 *db;
      int rc;
      faultfsTrack(zDataDir, zShadowDir);
      faultfsPowerCut(k, eGarble, (unsigned)k, CUT_EXIT);
      db = tOpen(zDb);
      rc = sqlite3_exec(db, "SELECT veles_upgrade('e')", 0, 0, 0);
      _exit(rc==SQLITE_OK ? 0 : 1);
    }
    waitpid(pid, &status, 0);
    if( WIFEXITED(status) && WEXITSTATUS(status)==0 ){
      tCheck(zCase, verifyCrash(zCase, zDb, zDigest)==2, "upgraded");
      break;                          /* no sync left to cut */
    }
    tCheck(zCase, WIFEXITED(status) && WEXITSTATUS(status)==CUT_EXIT,
           "the upgrade ends or the power goes");
    an[verifyCrash(zCase, zDb, zDigest)==2]++;
  }
  tCheck("cut", k>2 && k<60, "the upgrade syncs");
  printf("cut.%d: %d syncs; format 1 after %d cuts, format 2 after %d\n",
         eGarble, k-1, an[0], an[1]);
}

/* Make the copy of table e in zFile (closed) one of a table made before
** the config row 'chunk': the same slots in chunks of 256 KiB, no row. */
static void toOldChunks(const char *zFile, int nDim){
  sqlite3 *db = 0;
  sqlite3_stmt *pGet = 0, *pPut = 0;
  long long nNew = 1, nOld = 1, nSlotBytes = 4LL*nDim;
  unsigned char *aOld = 0;
  long long iOld = -1, nOldLen = 0;
  while( nNew*2*nSlotBytes<=64*1024 ) nNew *= 2;
  while( nOld*2*nSlotBytes<=256*1024 ) nOld *= 2;
  aOld = calloc(1, (size_t)(nOld*nSlotBytes));
  if( sqlite3_open(zFile, &db) || aOld==0 ) exit(2);  /* without veles */
  tExec(db, "BEGIN; CREATE TEMP TABLE old(chunk INTEGER PRIMARY KEY, "
            "data BLOB)");
  sqlite3_prepare_v2(db, "SELECT chunk, data FROM e_chunks ORDER BY chunk",
                     -1, &pGet, 0);
  sqlite3_prepare_v2(db, "INSERT INTO temp.old VALUES(?, ?)", -1, &pPut, 0);
  for(;;){
    int bRow = sqlite3_step(pGet)==SQLITE_ROW;
    long long iFirst = bRow ? sqlite3_column_int64(pGet, 0)*nNew : 0;
    if( iOld>=0 && (!bRow || iFirst/nOld!=iOld) ){
      sqlite3_bind_int64(pPut, 1, iOld);
      sqlite3_bind_blob64(pPut, 2, aOld, (sqlite3_uint64)nOldLen,
                          SQLITE_STATIC);
      if( sqlite3_step(pPut)!=SQLITE_DONE ) exit(2);
      sqlite3_reset(pPut);
      memset(aOld, 0, (size_t)(nOld*nSlotBytes));
      nOldLen = 0;
    }
    if( !bRow ) break;
    iOld = iFirst/nOld;
    {
      long long iOff = (iFirst%nOld)*nSlotBytes;
      int n = sqlite3_column_bytes(pGet, 1);
      memcpy(aOld+iOff, sqlite3_column_blob(pGet, 1), (size_t)n);
      if( iOff+n>nOldLen ) nOldLen = iOff+n;
    }
  }
  sqlite3_finalize(pGet);
  sqlite3_finalize(pPut);
  tExec(db, "DELETE FROM e_chunks; INSERT INTO e_chunks SELECT * FROM "
            "temp.old; DELETE FROM e_config WHERE k='chunk'; COMMIT");
  sqlite3_close(db);
  free(aOld);
}

static void testOldChunks(void){
  sqlite3 *db, *pRef;
  char *zWant, *zGot;
  tShell("rm -f c2.db* ref.db*");
  db = tOpen("c2.db");
  pRef = tOpen("ref.db");
  tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=%d)", NDIM);
  tExec(pRef, "CREATE VIRTUAL TABLE e USING vectors(dim=%d)", NDIM);
  tRows("6.1", db, "SELECT v FROM e_config WHERE k='chunk'", "65536");
  insertRange(db, "e", 1, NROW);
  insertRange(pRef, "e", 1, NROW);
  tRows("6.2", db, "SELECT count(*), max(length(data)) FROM e_chunks",
        "20|65536");
  tClose(db);
  toOldChunks("c2.db", NDIM);
  tShell("rm -f c2.db-vectors-*");           /* read back from the copy */
  db = tOpen("c2.db");
  tRows("6.3", db, "SELECT count(*), max(length(data)), (SELECT count(*) "
        "FROM e_config WHERE k='chunk') FROM e_chunks", "5|262144|0");
  zWant = digest(pRef, "e");
  zGot = digest(db, "e");
  sameText("6.4", zWant, zGot, "every vector read from 256 KiB chunks");
  sqlite3_free(zGot);
  tRows("6.5", db, "SELECT veles_check('e')", "ok");
  /* writes land in the old layout: overwrite, delete, reuse, append */
  tExec(db, "DELETE FROM e WHERE id%%7=2");
  tExec(pRef, "DELETE FROM e WHERE id%%7=2");
  insertRange(db, "e", NROW+1, NROW+3000);
  insertRange(pRef, "e", NROW+1, NROW+3000);
  tExec(db, "UPDATE e SET vec=(SELECT vec FROM e WHERE id=1) WHERE id%%5=1");
  tExec(pRef, "UPDATE e SET vec=(SELECT vec FROM e WHERE id=1) WHERE "
        "id%%5=1");
  tRows("6.6", db, "SELECT veles_check('e')", "ok");
  tRows("6.7", db, "SELECT max(length(data))>65536, (SELECT count(*) FROM "
        "e_config WHERE k='chunk') FROM e_chunks", "1|0");
  tClose(db);
  tShell("rm -f c2.db-vectors-*");
  db = tOpen("c2.db");
  sqlite3_free(zWant);
  zWant = digest(pRef, "e");
  zGot = digest(db, "e");
  sameText("6.8", zWant, zGot, "every write kept, rebuilt from the copy");
  sqlite3_free(zGot);
  tRows("6.9", db, "SELECT veles_check('e')", "ok");
  tClose(db);
  sqlite3_free(zWant);
  /* a chunk size that is not one veles makes: damage, reported */
  db = tOpen("ref.db");
  tExec(db, "UPDATE e_config SET v=100000 WHERE k='chunk'");
  tClose(db);
  db = tOpen("ref.db");
  tError("6.10", db, "SELECT count(*) FROM e", "vectors: table e: its chunk "
         "size in e_config is damaged: expected a power of two from 4096 "
         "to 1048576 bytes, got '100000'");
  tRows("6.11", db, "SELECT veles_check('e') LIKE '%chunk size is not a "
        "power of two from 4096 to 1048576%'", "1");
  tClose(db);
  tClose(pRef);
}

int main(int argc, char **argv){
  char zCwd[512], *zDigest = 0;
  tInit(argc, argv);
  if( getcwd(zCwd, sizeof(zCwd))==0 ) return 2;
  snprintf(zDataDir, sizeof(zDataDir), "%s/data", zCwd);
  snprintf(zShadowDir, sizeof(zShadowDir), "%s/shadow", zCwd);
  snprintf(zDb, sizeof(zDb), "%s/t.db", zDataDir);
  testFormat1();
  makeTemplate(&zDigest);
  testUpgrade(zDigest);
  testOtherConnection("delete");
  testOtherConnection("wal");
  testOldChunks();
  kills(zDigest);
  powerCuts(zDigest, FAULTFS_DROP);
  powerCuts(zDigest, FAULTFS_TORN);
  sqlite3_free(zDigest);
  return tDone();
}
