/*
** Compaction, INSERT INTO e(e) VALUES('compact') (ext/veccompact.c), with
** the database's copy on and off:
**   compact.size.*   after deleting 90%, the side file shrinks to the live
**                    vectors plus its header, and the copy with it;
**   compact.txn.*    ROLLBACK, ROLLBACK TO before it, writes before and
**                    after it, a failing statement after it;
**   compact.wal.*    a WAL reader on the snapshot before keeps reading the
**                    right vectors, and the next snapshot too;
**   compact.cut.*    a power cut at each sync (faultfs: unsynced writes
**                    dropped; and garbled, with the copy on);
**   compact.eio.*    the k-th write or sync of the side files failing;
**   compact.kill.*   kill -9 at random moments;
**   compact.intr.*   sqlite3_interrupt() at each point of it;
**   compact.left.*   the state a crash between SQLite's commit and the
**                    rename leaves: the next use puts the new file in place;
**   compact.mem.*    in-memory working copies (temp, memdb).
** After each, a fresh connection reads every vector exactly as stored,
** search agrees, veles_check is ok, and one more compaction leaves one
** side file of the compacted size.
*/
#include "testutil.h"
#include "faultfs.h"
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NDIM   64
#define NROW   20000
#define NLIVE  (NROW/10)        /* the ids with id%10==3 stay */
#define CUT_EXIT 77
#define COMPACTED_BYTES (4096 + (long long)NLIVE*NDIM*4)

static char zDataDir[600], zShadowDir[600], zDb[700];
static int bCopy;

/* The side files of t.db (with zSuffix at the end, "" for any). */
static int sideFiles(const char *zSuffix, char *zName, int nName){
  DIR *d = opendir(zDataDir);
  struct dirent *e;
  int n = 0;
  while( d && (e = readdir(d))!=0 ){
    size_t nLen = strlen(e->d_name), nSuf = strlen(zSuffix);
    if( strncmp(e->d_name, "t.db-vectors-", 13)==0 && nLen>=nSuf
     && strcmp(e->d_name+nLen-nSuf, zSuffix)==0 ){
      if( zName ) snprintf(zName, (size_t)nName, "%s/%s", zDataDir, e->d_name);
      n++;
    }
  }
  if( d ) closedir(d);
  return n;
}

static long long sideSize(void){
  char zName[900] = "";
  sideFiles("", zName, sizeof(zName));
  return tFileSize(zName);
}

static void vectorFor(int id, float *a){
  int i;
  for(i=0; i<NDIM; i++) a[i] = (float)(id*0.25 + i);
}

static void insertOne(sqlite3 *db, int id){
  sqlite3_stmt *p;
  float a[NDIM];
  vectorFor(id, a);
  sqlite3_prepare_v2(db, "INSERT INTO e VALUES (?, ?)", -1, &p, 0);
  sqlite3_bind_int(p, 1, id);
  sqlite3_bind_blob(p, 2, a, sizeof(a), SQLITE_STATIC);
  sqlite3_step(p);
  sqlite3_finalize(p);
}

/* saved.db: NROW vectors, then every id but id%10==3 deleted. */
static void makeSaved(void){
  sqlite3 *db;
  int id;
  tShell("rm -f saved.db*");
  db = tOpen("saved.db");
  tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=%d, db_copy=%s)", NDIM,
        bCopy ? "on" : "off");
  tExec(db, "BEGIN");
  for(id=1; id<=NROW; id++) insertOne(db, id);
  tExec(db, "COMMIT");
  tExec(db, "DELETE FROM e WHERE id%%10!=3");
  tClose(db);
}

/* The data directory holds saved.db as t.db, with its side file. */
static void resetDir(void){
  tShell("rm -rf '%s' '%s' && mkdir -p '%s' && cp saved.db '%s' && "
         "cd '%s' && f=$(ls ../saved.db-vectors-*) && "
         "cp \"$f\" \"t.db${f#../saved.db}\"", zDataDir, zShadowDir,
         zDataDir, zDb, zDataDir);
}

/* Read every vector and a search; 0 when all is right (the NLIVE ids),
** else SQLite's code (zErr says what). */
static int readAll(sqlite3 *db, char *zErr, int nErr){
  sqlite3_stmt *p = 0;
  float a[NDIM];
  int rc, n = 0, nBad = 0;
  zErr[0] = 0;
  rc = sqlite3_prepare_v2(db, "SELECT id, vec FROM e", -1, &p, 0);
  while( rc==SQLITE_OK && (rc = sqlite3_step(p))==SQLITE_ROW ){
    int id = sqlite3_column_int(p, 0);
    vectorFor(id, a);
    if( id%10!=3 || sqlite3_column_bytes(p, 1)!=(int)sizeof(a)
     || memcmp(sqlite3_column_blob(p, 1), a, sizeof(a))!=0 ) nBad++;
    n++;
    rc = SQLITE_OK;
  }
  if( rc==SQLITE_DONE ) rc = SQLITE_OK;
  if( rc ) snprintf(zErr, (size_t)nErr, "%s", sqlite3_errmsg(db));
  sqlite3_finalize(p);
  if( rc==SQLITE_OK && (nBad || n!=NLIVE) ){
    snprintf(zErr, (size_t)nErr, "%d rows, %d wrong", n, nBad);
    return SQLITE_CORRUPT;
  }
  if( rc==SQLITE_OK ){
    vectorFor(773, a);
    sqlite3_prepare_v2(db, "SELECT id FROM e WHERE vec MATCH ? AND k=1", -1,
                       &p, 0);
    sqlite3_bind_blob(p, 1, a, sizeof(a), SQLITE_STATIC);
    rc = sqlite3_step(p);
    if( rc!=SQLITE_ROW || sqlite3_column_int(p, 0)!=773 ){
      snprintf(zErr, (size_t)nErr, "search: %s", sqlite3_errmsg(db));
      rc = rc==SQLITE_ROW ? SQLITE_CORRUPT : rc;
    }else{
      rc = SQLITE_OK;
    }
    sqlite3_finalize(p);
  }
  return rc;
}

static int compact(sqlite3 *db){
  return sqlite3_exec(db, "INSERT INTO e(e) VALUES('compact')", 0, 0, 0);
}

/* After the fault: a fresh connection reads it all right, check ok; one
** more compaction leaves one file of the compacted size. */
static void verify(const char *zCase){
  char zErr[300];
  sqlite3 *db = tOpen(zDb);
  if( !tCheck(zCase, readAll(db, zErr, sizeof(zErr))==SQLITE_OK,
              "every vector right afterwards") ){
    fprintf(stderr, "  %s\n", zErr);
  }
  tRows(zCase, db, "SELECT veles_check('e')", "ok");
  tCheck(zCase, compact(db)==SQLITE_OK, "compacts again");
  tRows(zCase, db, "SELECT veles_check('e')", "ok");
  tClose(db);
  tCheck(zCase, sideFiles("", 0, 0)==1, "one side file, no leftover");
  if( !tCheck(zCase, sideSize()==COMPACTED_BYTES, "the compacted size") ){
    fprintf(stderr, "  %lld bytes, expected %lld\n", sideSize(),
            COMPACTED_BYTES);
  }
}

static void sizes(void){
  char zCase[64];
  long long nBefore;
  sqlite3 *db;
  snprintf(zCase, sizeof(zCase), "compact.size.%d", bCopy);
  resetDir();
  nBefore = sideSize();
  db = tOpen(zDb);
  tCheck(zCase, compact(db)==SQLITE_OK, sqlite3_errmsg(db));
  if( !tCheck(zCase, sideSize()==COMPACTED_BYTES, "live vectors + header") ){
    fprintf(stderr, "  %lld bytes before, %lld after, expected %lld\n",
            nBefore, sideSize(), COMPACTED_BYTES);
  }
  if( bCopy ){
    /* chunks hold a power of two of slots: at most twice the vectors */
    long long n = tInt(db, "SELECT sum(length(data)) FROM e_chunks");
    tCheck(zCase, n>=(long long)NLIVE*NDIM*4 && n<2LL*NLIVE*NDIM*4,
           "the copy shrinks too");
  }
  tClose(db);
  verify(zCase);
  /* a table with no vector, and one never given a dimension */
  db = tOpen(zDb);
  tExec(db, "CREATE VIRTUAL TABLE z USING vectors(dim=4)");
  tExec(db, "CREATE VIRTUAL TABLE y USING vectors");
  tExec(db, "INSERT INTO z(z) VALUES('compact'); "
            "INSERT INTO y(y) VALUES('compact')");
  tRows(zCase, db, "SELECT count(*) FROM z", "0");
  tError(zCase, db, "INSERT INTO z(z) VALUES('vacuum')",
         "vectors: table z: expected the command 'compact' or 'optimize' "
         "alone in column z, got 'vacuum'");
  tError(zCase, db, "INSERT INTO z(id, z) VALUES(1, 'compact')",
         "vectors: table z: expected the command 'compact' or 'optimize' "
         "alone in column z, got 'compact' with an id or a vector");
  tExec(db, "INSERT INTO z VALUES(1, '[1,2,3,4]')");
  tError(zCase, db, "UPDATE z SET z='compact'", "vectors: table z: column "
         "z takes commands: INSERT INTO z(z) VALUES('compact'), not an "
         "UPDATE");
  tRows(zCase, db, "SELECT id, hex(vec) FROM z",
        "1|0000803F000000400000404000008040");
  tExec(db, "DROP TABLE z; DROP TABLE y");
  tClose(db);
}

static void transactions(void){
  char zCase[64], zErr[300];
  long long nBefore;
  sqlite3 *db;
  snprintf(zCase, sizeof(zCase), "compact.txn.%d", bCopy);
  resetDir();
  nBefore = sideSize();
  db = tOpen(zDb);
  /* ROLLBACK: nothing happened, with writes before and after it */
  tExec(db, "BEGIN");
  insertOne(db, NROW+1);
  tExec(db, "DELETE FROM e WHERE id=3");
  tCheck(zCase, compact(db)==SQLITE_OK, sqlite3_errmsg(db));
  insertOne(db, NROW+2);
  tExec(db, "DELETE FROM e WHERE id=13");
  tExec(db, "ROLLBACK");
  tCheck(zCase, readAll(db, zErr, sizeof(zErr))==SQLITE_OK, zErr);
  tCheck(zCase, sideSize()==nBefore && sideFiles("", 0, 0)==1,
         "rolled back: the old file, no other");
  /* ROLLBACK TO a savepoint before it */
  tExec(db, "BEGIN; SAVEPOINT a");
  tCheck(zCase, compact(db)==SQLITE_OK, sqlite3_errmsg(db));
  tExec(db, "ROLLBACK TO a; COMMIT");
  tCheck(zCase, readAll(db, zErr, sizeof(zErr))==SQLITE_OK, zErr);
  tCheck(zCase, sideSize()==nBefore, "rolled back to before it");
  /* writes around it, a savepoint after it rolled back, a failing
  ** statement after it: the compaction stays */
  tExec(db, "BEGIN");
  tExec(db, "DELETE FROM e WHERE id=13");
  tCheck(zCase, compact(db)==SQLITE_OK, sqlite3_errmsg(db));
  insertOne(db, 13);
  tExec(db, "SAVEPOINT b");
  insertOne(db, NROW+3);
  tExec(db, "ROLLBACK TO b");
  tError(zCase, db, "INSERT INTO e VALUES (23, zeroblob(8))",
         "vectors: dimension mismatch: expected 64, got 2");
  tCheck(zCase, readAll(db, zErr, sizeof(zErr))==SQLITE_OK, zErr);
  /* veles_check in the transaction reads the new file, with the writes
  ** after the compaction */
  tRows(zCase, db, "SELECT veles_check('e')", "ok");
  tExec(db, "COMMIT");
  tCheck(zCase, readAll(db, zErr, sizeof(zErr))==SQLITE_OK, zErr);
  if( !tCheck(zCase, sideSize()<=COMPACTED_BYTES+NDIM*4, "compacted") ){
    fprintf(stderr, "  %lld bytes\n", sideSize());
  }
  tRows(zCase, db, "SELECT veles_check('e')", "ok");
  /* no DROP in the transaction that compacted (a ROLLBACK TO could bring
  ** the compacted rows back without their file) */
  tExec(db, "BEGIN");
  tCheck(zCase, compact(db)==SQLITE_OK, sqlite3_errmsg(db));
  tError(zCase, db, "DROP TABLE e", "database table is locked");
  tExec(db, "COMMIT");
  tCheck(zCase, readAll(db, zErr, sizeof(zErr))==SQLITE_OK, zErr);
  /* not while a statement of the connection reads it */
  {
    sqlite3_stmt *pRead = 0;
    sqlite3_prepare_v2(db, "SELECT id FROM e", -1, &pRead, 0);
    tCheck(zCase, sqlite3_step(pRead)==SQLITE_ROW, "reads");
    tError(zCase, db, "INSERT INTO e(e) VALUES('compact')", "vectors: table "
           "e: cannot compact it while a statement of this connection reads "
           "it: finish or reset that statement first");
    sqlite3_finalize(pRead);
  }
  /* an empty table compacted, then written, in one transaction:
  ** veles_check read the old (empty) file (a fuzz_sql find) */
  tExec(db, "CREATE VIRTUAL TABLE f USING vectors(dim=2, db_copy=%s)",
        bCopy ? "on" : "off");
  tExec(db, "BEGIN");
  tExec(db, "INSERT INTO f(f) VALUES('compact')");
  tExec(db, "INSERT INTO f VALUES (1, '[1, 2]'), (2, '[3, 4]')");
  tRows(zCase, db, "SELECT veles_check('f')", "ok");
  tExec(db, "COMMIT");
  tRows(zCase, db, "SELECT id, veles_json(vec) FROM f",
        "1|[1.0,2.0]\n2|[3.0,4.0]");
  tRows(zCase, db, "SELECT veles_check('f')", "ok");
  tExec(db, "DROP TABLE f");
  tClose(db);
  verify(zCase);
}

/* With the copy off, a truncated side file is refused, not compacted
** into zeros. */
static void truncated(void){
  char zSide[900] = "";
  sqlite3 *db;
  if( bCopy ) return;
  resetDir();
  sideFiles("", zSide, sizeof(zSide));
  tShell("truncate -s %d '%s'", 4096 + 100*NDIM*4, zSide);
  db = tOpen(zDb);
  tError("compact.trunc", db, "INSERT INTO e(e) VALUES('compact')",
         "vectors: table e: side file is truncated: slot 102 is referenced, "
         "the file holds 100");
  tClose(db);
  tCheck("compact.trunc", tFileSize(zSide)==4096 + 100*NDIM*4
         && sideFiles("", 0, 0)==1, "nothing written");
}

/* A WAL reader holding the snapshot before the compaction reads the old
** file; its next snapshot, the new one. */
static void walReader(void){
  char zCase[64], zErr[300];
  sqlite3 *db, *r;
  snprintf(zCase, sizeof(zCase), "compact.wal.%d", bCopy);
  resetDir();
  db = tOpen(zDb);
  tExec(db, "PRAGMA journal_mode=WAL");
  r = tOpen(zDb);
  tExec(r, "BEGIN");
  tCheck(zCase, readAll(r, zErr, sizeof(zErr))==SQLITE_OK, zErr);
  tCheck(zCase, compact(db)==SQLITE_OK, sqlite3_errmsg(db));
  insertOne(db, NROW+1);                 /* into the new file */
  tCheck(zCase, readAll(r, zErr, sizeof(zErr))==SQLITE_OK, zErr);
  tExec(r, "COMMIT");
  tExec(db, "DELETE FROM e WHERE id=%d", NROW+1);
  tCheck(zCase, readAll(r, zErr, sizeof(zErr))==SQLITE_OK, zErr);
  tCheck(zCase, readAll(db, zErr, sizeof(zErr))==SQLITE_OK, zErr);
  tClose(r);
  tClose(db);
  verify(zCase);
}

static void powerCuts(int eGarble){
  int k;
  for(k=1; k<50; k++){
    char zCase[64];
    int status;
    pid_t pid;
    snprintf(zCase, sizeof(zCase), "compact.cut.%d.%d.%d", bCopy, eGarble, k);
    resetDir();
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if( pid==0 ){
      char zErr[300];
      sqlite3 *db;
      faultfsTrack(zDataDir, zShadowDir);
      faultfsPowerCut(k, eGarble, (unsigned)k, CUT_EXIT);
      db = tOpen(zDb);
      if( compact(db) ) _exit(1);
      _exit(readAll(db, zErr, sizeof(zErr))==SQLITE_OK ? 0 : 1);
    }
    waitpid(pid, &status, 0);
    if( WIFEXITED(status) && WEXITSTATUS(status)==0 ){
      verify(zCase);
      break;                          /* no sync left to cut */
    }
    tCheck(zCase, WIFEXITED(status) && WEXITSTATUS(status)==CUT_EXIT,
           "the compaction succeeds or the power goes");
    verify(zCase);
  }
  tCheck("compact.cut", k>2 && k<50, "the compaction syncs");
}

/* Every write and sync up to the 8th, then every few more (the writes
** number about one per megabyte moved, and the syncs a handful). */
static void ioErrors(void){
  int k, nOp = 0;
  for(k=1; ; k+=k<8 ? 1 : k/4){
    char zCase[64], zErr[300];
    sqlite3 *db;
    int rc;
    snprintf(zCase, sizeof(zCase), "compact.eio.%d.%d", bCopy, k);
    resetDir();
    faultfsTrack(zDataDir, zShadowDir);
    faultfsFail(FAULTFS_WRITE|FAULTFS_SYNC, "-vectors-", k, EIO, 0);
    db = tOpen(zDb);
    rc = compact(db);
    nOp = faultfsOpCount();
    faultfsClear();
    faultfsUntrack();
    if( rc ){
      if( !tCheck(zCase, (rc & 0xff)==SQLITE_IOERR
                  && strstr(sqlite3_errmsg(db), "Input/output error")!=0,
                  "the compaction fails with the I/O error") ){
        fprintf(stderr, "  got %d: %s\n", rc, sqlite3_errmsg(db));
      }
    }
    rc = readAll(db, zErr, sizeof(zErr));
    if( !tCheck(zCase, rc==SQLITE_OK, "right after the fault") ){
      fprintf(stderr, "  %s\n", zErr);
    }
    tClose(db);
    verify(zCase);
    if( k>nOp ) break;
  }
  tCheck("compact.eio", nOp>3, "the compaction writes and syncs");
}

static void kills(void){
  int i;
  srand(11);
  for(i=0; i<8; i++){
    char zCase[64];
    int status;
    pid_t pid;
    snprintf(zCase, sizeof(zCase), "compact.kill.%d.%d", bCopy, i);
    resetDir();
    pid = fork();
    if( pid==0 ){
      sqlite3 *db = tOpen(zDb);
      _exit(compact(db)==SQLITE_OK ? 0 : 1);
    }
    usleep((useconds_t)(1000 + rand()%20000));
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    verify(zCase);
  }
}

static int nProgress, nStop;
static int stopAt(void *p){
  (void)p;
  return ++nProgress>=nStop;
}

static void interrupts(void){
  int k, bDone = 0, nIntr = 0;
  for(k=1; !bDone && k<1000000; k+=k/2+1){
    char zCase[64], zErr[300];
    sqlite3 *db;
    int rc;
    snprintf(zCase, sizeof(zCase), "compact.intr.%d.%d", bCopy, k);
    resetDir();
    db = tOpen(zDb);
    if( k%2 ) tExec(db, "BEGIN");
    nProgress = 0;
    nStop = k;
    sqlite3_progress_handler(db, 1, stopAt, 0);
    rc = compact(db);
    sqlite3_progress_handler(db, 0, 0, 0);
    if( rc ){
      nIntr++;
      tCheck(zCase, rc==SQLITE_INTERRUPT, sqlite3_errmsg(db));
      tCheck(zCase, sideFiles("-compact", 0, 0)==0, "no leftover");
    }else{
      bDone = 1;
    }
    rc = readAll(db, zErr, sizeof(zErr));
    if( !tCheck(zCase, rc==SQLITE_OK, "right in the transaction") ){
      fprintf(stderr, "  %s\n", zErr);
    }
    if( !sqlite3_get_autocommit(db) ) tExec(db, "COMMIT");
    tClose(db);
    verify(zCase);
  }
  printf("compaction interrupted at %d points\n", nIntr);
  tCheck("compact.intr", bDone && nIntr>3, "interrupted, then not");
}

/* The state a crash between SQLite's commit and the rename leaves: the
** database compacted, the old file in place, the new one beside it. */
static void leftInPlace(void){
  char zCase[64], zSide[900] = "", zErr[300];
  sqlite3 *db;
  snprintf(zCase, sizeof(zCase), "compact.left.%d", bCopy);
  resetDir();
  sideFiles("", zSide, sizeof(zSide));
  tShell("cp '%s' '%s/old.side'", zSide, zDataDir);
  db = tOpen(zDb);
  tCheck(zCase, compact(db)==SQLITE_OK, sqlite3_errmsg(db));
  tClose(db);
  tShell("mv '%s' '%s-compact' && mv '%s/old.side' '%s'", zSide, zSide,
         zDataDir, zSide);
  db = tOpen(zDb);
  if( !tCheck(zCase, readAll(db, zErr, sizeof(zErr))==SQLITE_OK,
              "the new file put in place") ){
    fprintf(stderr, "  %s\n", zErr);
  }
  tClose(db);
  tCheck(zCase, sideFiles("-compact", 0, 0)==0
         && sideSize()==COMPACTED_BYTES, "the compacted file in place");
  verify(zCase);
}

/* A temp database's and a memdb database's in-memory working copy, with
** the copy on and off: compacted and rolled back in memory. */
static void inMemory(void){
  static const char *const azDb[] = { ":memory:", "file:/c.db?vfs=memdb" };
  int i;
  for(i=0; i<2; i++){
    char zCase[64], zErr[300];
    sqlite3 *db;
    int id;
    snprintf(zCase, sizeof(zCase), "compact.mem.%d.%d", bCopy, i);
    if( sqlite3_open_v2(azDb[i], &db, SQLITE_OPEN_READWRITE
                        |SQLITE_OPEN_CREATE|SQLITE_OPEN_URI, 0)!=SQLITE_OK ){
      tCheck(zCase, 0, "opens");
      sqlite3_close(db);
      continue;
    }
    sqlite3_enable_load_extension(db, 1);
    if( sqlite3_load_extension(db, tModulePath(), 0, 0)!=SQLITE_OK ){
      tCheck(zCase, 0, "loads veles");
      sqlite3_close(db);
      continue;
    }
    tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=%d, db_copy=%s)",
          NDIM, bCopy ? "on" : "off");
    tExec(db, "BEGIN");
    for(id=1; id<=NROW; id++) insertOne(db, id);
    tExec(db, "COMMIT");
    tExec(db, "DELETE FROM e WHERE id%%10!=3");
    tExec(db, "BEGIN");
    tCheck(zCase, compact(db)==SQLITE_OK, sqlite3_errmsg(db));
    tExec(db, "ROLLBACK");
    tCheck(zCase, readAll(db, zErr, sizeof(zErr))==SQLITE_OK, zErr);
    tRows(zCase, db, "SELECT max(slot) FROM e_map", "19992");
    tCheck(zCase, compact(db)==SQLITE_OK, sqlite3_errmsg(db));
    tCheck(zCase, readAll(db, zErr, sizeof(zErr))==SQLITE_OK, zErr);
    tRows(zCase, db, "SELECT max(slot) FROM e_map", "1999");
    tRows(zCase, db, "SELECT veles_check('e')", "ok");
    tExec(db, "DROP TABLE e");
    tClose(db);
  }
}

int main(int argc, char **argv){
  char zCwd[512];
  tInit(argc, argv);
  if( getcwd(zCwd, sizeof(zCwd))==0 ) return 2;
  snprintf(zDataDir, sizeof(zDataDir), "%s/data", zCwd);
  snprintf(zShadowDir, sizeof(zShadowDir), "%s/shadow", zCwd);
  snprintf(zDb, sizeof(zDb), "%s/t.db", zDataDir);
  for(bCopy=1; bCopy>=0; bCopy--){
    makeSaved();
    sizes();
    transactions();
    walReader();
    leftInPlace();
    inMemory();
    truncated();
    powerCuts(FAULTFS_DROP);
    if( bCopy ) powerCuts(FAULTFS_GARBLE);
    ioErrors();
    kills();
    interrupts();
  }
  return tDone();
}
