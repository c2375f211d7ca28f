/*
** I/O errors: the k-th write, sync or truncate (test/faultfs.c) of the
** database, its journal or WAL, or a vectors side file fails with EIO or
** ENOSPC, once or persistently (until cleared), for every k of a
** transaction that writes a `vectors` table, a `payloads` table and a
** plain marker table. Each time:
**
**   1. the statement or COMMIT that met the fault fails with an I/O or
**      disk-full error and a message saying so; the process goes on;
**   2. while a persistent fault lasts, reading and ROLLBACK do not crash;
**   3. once the fault clears, the state is exactly the one before the
**      transaction or the one after it, PRAGMA integrity_check is ok, the
**      transaction can be run again and a further one commits;
**   4. after closing and reopening (hot journal recovery), the same.
**
** Cases: rollback journal (DELETE), WAL and TRUNCATE journal modes; a
** small transaction with every k over every write, sync and truncate of
** every file; a batch of 20000 vectors of dim 128 (10 MB, through the
** side file's background writer) with every k over the side file's
** writes and fdatasync. The big batch's faults on all files run for one k
** in 7 (at most about 60 runs), EIO once, in CI (not under ASan);
** VELES_LONG=1 runs every k, both errors, both durations.
**
** Also (cases writer.x): when no thread can be created (pthread_create,
** interposed here like faultfs's calls, fails with EAGAIN), the side
** file's writer writes each full buffer on the calling thread: a
** transaction of more than one 4 MiB buffer commits, and after reopening
** every vector reads back exactly and veles_check is ok.
*/
#define _GNU_SOURCE                   /* RTLD_NEXT */
#include "testutil.h"
#include "faultfs.h"
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NDIM 128

static char zDataDir[600];
static char zShadowDir[600];
static char zDb[700];
static char zErrMsg[1000];   /* the message of the last failed step */
static int rcErr;            /* its extended result code */

/* ---- the transactions ------------------------------------------------ */

static int step(sqlite3 *db, const char *zSql){
  int rc = sqlite3_exec(db, zSql, 0, 0, 0);
  if( rc!=SQLITE_OK ){
    rcErr = sqlite3_extended_errcode(db);
    snprintf(zErrMsg, sizeof(zErrMsg), "%s", sqlite3_errmsg(db));
  }
  return rc;
}

static int putVecs(sqlite3 *db, int iFirst, int iLast, int t,
                   const char *zVerb){
  static float a[NDIM];
  sqlite3_stmt *p = 0;
  char zSql[100];
  int id, i, rc = SQLITE_OK;
  snprintf(zSql, sizeof(zSql), "%s INTO emb(id, vec) VALUES(?, ?)", zVerb);
  rc = sqlite3_prepare_v2(db, zSql, -1, &p, 0);
  for(id=iFirst; rc==SQLITE_OK && id<=iLast; id++){
    for(i=0; i<NDIM; i++) a[i] = (float)(id*0.5 + t*100 + i);
    sqlite3_bind_int(p, 1, id);
    sqlite3_bind_blob(p, 2, a, NDIM*4, SQLITE_STATIC);
    rc = sqlite3_step(p);
    if( rc==SQLITE_DONE ) rc = SQLITE_OK;
    sqlite3_reset(p);
  }
  if( rc ){
    rcErr = sqlite3_extended_errcode(db);
    snprintf(zErrMsg, sizeof(zErrMsg), "%s", sqlite3_errmsg(db));
  }
  sqlite3_finalize(p);
  return rc;
}

static int putMeta(sqlite3 *db, int iFirst, int iLast, int t){
  char zSql[400];
  snprintf(zSql, sizeof(zSql),
      "WITH RECURSIVE c(i) AS (SELECT %d UNION ALL SELECT i+1 FROM c "
      "WHERE i<%d) INSERT OR REPLACE INTO meta(id, json) "
      "SELECT i, json_object('tag', 't' || (i%%5), 'txn', %d) FROM c",
      iFirst, iLast, t);
  return step(db, zSql);
}

/* Transaction t: 0 creates, 1 is small, 2 is the big batch, 3 follows.
** Returns the first error. */
static int runTxn(sqlite3 *db, int t){
  int rc = step(db, "BEGIN");
  char zSql[64];
  if( rc ) return rc;
  switch( t ){
    case 0:
      rc = step(db, "CREATE TABLE marker(t INTEGER);"
                    "INSERT INTO marker VALUES(0);"
                    "CREATE VIRTUAL TABLE emb USING vectors(dim=128);"
                    "CREATE VIRTUAL TABLE meta USING payloads(tag TEXT)");
      if( rc==SQLITE_OK ) rc = putVecs(db, 1, 50, t, "INSERT");
      if( rc==SQLITE_OK ) rc = putMeta(db, 1, 50, t);
      break;
    case 1:
      rc = putVecs(db, 51, 70, t, "INSERT");
      if( rc==SQLITE_OK ) rc = putVecs(db, 1, 10, t, "INSERT OR REPLACE");
      if( rc==SQLITE_OK ) rc = step(db, "DELETE FROM emb WHERE id BETWEEN "
                                        "20 AND 25");
      if( rc==SQLITE_OK ) rc = putMeta(db, 1, 70, t);
      if( rc==SQLITE_OK ) rc = step(db, "DELETE FROM meta WHERE id BETWEEN "
                                        "20 AND 25");
      break;
    case 2:
      rc = putVecs(db, 100000, 119999, t, "INSERT");
      if( rc==SQLITE_OK ) rc = putVecs(db, 1, 5, t, "INSERT OR REPLACE");
      if( rc==SQLITE_OK ) rc = putMeta(db, 1, 5, t);
      break;
    case 3:
      rc = putVecs(db, 200, 210, t, "INSERT");
      if( rc==SQLITE_OK ) rc = step(db, "DELETE FROM emb WHERE id<5");
      if( rc==SQLITE_OK ) rc = putMeta(db, 200, 210, t);
      break;
  }
  snprintf(zSql, sizeof(zSql), "UPDATE marker SET t=%d", t);
  if( rc==SQLITE_OK ) rc = step(db, zSql);
  if( rc==SQLITE_OK ) rc = step(db, "COMMIT");
  return rc;
}

/* ---- states ---------------------------------------------------------- */

static char *digest(sqlite3 *db){
  sqlite3_str *p = sqlite3_str_new(0);
  sqlite3_str_appendf(p, "t=%lld", tInt(db, "SELECT t FROM marker"));
  tDigestRows(db, "SELECT id, vec FROM emb", p);
  tDigestRows(db, "SELECT id, json FROM meta", p);
  return sqlite3_str_finish(p);
}

/* ---- the loop -------------------------------------------------------- */

static void resetDir(void){
  char zCmd[2000];
  snprintf(zCmd, sizeof(zCmd), "rm -rf '%s' '%s' && mkdir -p '%s'",
           zDataDir, zShadowDir, zDataDir);
  if( system(zCmd)!=0 ) exit(2);
  faultfsTrack(zDataDir, zShadowDir);
}

static sqlite3 *openDb(const char *zMode){
  sqlite3 *db = tOpen(zDb);
  tExec(db, "PRAGMA journal_mode=%s", zMode);
  tExec(db, "PRAGMA synchronous=FULL");
  return db;
}

/* A fresh database after transaction 0 (and 1 when t is 2). */
static sqlite3 *setup(const char *zMode, int t){
  sqlite3 *db;
  resetDir();
  db = openDb(zMode);
  if( runTxn(db, 0) ) fprintf(stderr, "setup: %s\n", zErrMsg);
  if( t==2 && runTxn(db, 1) ) fprintf(stderr, "setup: %s\n", zErrMsg);
  return db;
}

/* Does the error say what happened? */
static int sensible(int rc, const char *zMsg, int iErrno, int eOps){
  int ePrimary = rc & 0xff;
  if( ePrimary!=SQLITE_IOERR && ePrimary!=SQLITE_FULL ) return 0;
  /* a write that found the disk full says so */
  if( iErrno==ENOSPC && eOps==FAULTFS_WRITE && ePrimary!=SQLITE_FULL ){
    return 0;
  }
  if( strstr(zMsg, "disk I/O error") || strstr(zMsg, "disk is full") ){
    return 1;
  }
  return strstr(zMsg, strerror(iErrno))!=0;
}

static int nIter = 0, nFaults = 0, nBefore = 0, nAfter = 0;
#if defined(__SANITIZE_ADDRESS__)
static const int bSanitize = 1;  /* ASan is slow: no all-files big batch */
#else
static const int bSanitize = 0;
#endif

/* Every k of the operations of kinds eOps on files matching zFilter during
** transaction t, in journal mode zMode. */
static void faultLoop(const char *zMode, int t, int eOps,
                      const char *zFilter, int iErrno, int bPersist,
                      int nStride){
  static const char *azOp[] = {"", "write", "sync", "", "truncate"};
  char *zBefore, *zAfter, *zFinal;
  sqlite3 *db;
  int nOp, k, nLoopFault = 0, aMsg[2] = {0, 0};
  /* the fault-free run: the states and the number of operations */
  db = setup(zMode, t);
  zBefore = digest(db);
  faultfsFail(eOps, zFilter, 0, 0, 0);
  if( runTxn(db, t) ) fprintf(stderr, "reference: %s\n", zErrMsg);
  nOp = faultfsOpCount();
  zAfter = digest(db);
  if( runTxn(db, 3) ) fprintf(stderr, "reference: %s\n", zErrMsg);
  zFinal = digest(db);
  tClose(db);
  /* a sampled loop stays at about 60 runs: the big batch writes its 10 MB
  ** twice, to the side file and to the database's copy (veccopy.c) */
  if( nStride>1 && nOp/nStride>60 ) nStride = nOp/60;
  for(k=1; k<=nOp; k+=nStride){
    char zCase[120], *zGot;
    int rc, bBefore, bAfter;
    snprintf(zCase, sizeof(zCase), "%s.t%d.%s%s%s.%s.%s.%d", zMode, t,
             azOp[eOps], zFilter ? "." : "", zFilter ? "side" : "",
             iErrno==EIO ? "EIO" : "ENOSPC", bPersist ? "persist" : "once",
             k);
    db = setup(zMode, t);
    faultfsFail(eOps, zFilter, k, iErrno, bPersist);
    rcErr = 0;
    rc = runTxn(db, t);
    nIter++;
    if( faultfsFaultCount()>0 ) nLoopFault++;
    if( rc ){
      /* 1. a sensible error */
      if( !tCheck(zCase, sensible(rcErr, zErrMsg, iErrno, eOps),
                  "the error says what happened") ){
        fprintf(stderr, "  got %d: %s\n", rcErr, zErrMsg);
      }
      aMsg[strstr(zErrMsg, "disk")==0]++;
      if( getenv("VELES_IOERR_VERBOSE") ) printf("  %s: %s\n", zCase, zErrMsg);
      /* 2. a persistent fault: reads and ROLLBACK do not crash */
      if( bPersist ){
        sqlite3_free(tQuery(db, "SELECT count(*), sum(length(vec)) FROM emb"));
        if( !sqlite3_get_autocommit(db) ){
          sqlite3_exec(db, "ROLLBACK", 0, 0, 0);
        }
      }
    }
    /* 3. the fault clears: before or after, and life goes on */
    faultfsClear();
    if( !sqlite3_get_autocommit(db) ) sqlite3_exec(db, "ROLLBACK", 0, 0, 0);
    zGot = digest(db);
    bBefore = strcmp(zGot, zBefore)==0;
    bAfter = strcmp(zGot, zAfter)==0;
    if( !tCheck(zCase, bBefore || bAfter, "state is before or after") ){
      fprintf(stderr, "  rc %d (%s)\n  before %s\n  after  %s\n  got    %s\n",
              rc, rc ? zErrMsg : "", zBefore, zAfter, zGot);
    }
    if( rc==SQLITE_OK && !tCheck(zCase, bAfter, "success means after") ){
      fprintf(stderr, "  got %s\n", zGot);
    }
    if( bBefore ) nBefore++;
    if( bAfter ) nAfter++;
    sqlite3_free(zGot);
    tRows(zCase, db, "PRAGMA integrity_check", "ok");
    if( bBefore && runTxn(db, t) ){
      tCheck(zCase, 0, "the transaction commits once the fault clears");
      fprintf(stderr, "  %s\n", zErrMsg);
    }
    if( runTxn(db, 3) ){
      tCheck(zCase, 0, "a further transaction commits");
      fprintf(stderr, "  %s\n", zErrMsg);
    }
    zGot = digest(db);
    if( !tCheck(zCase, strcmp(zGot, zFinal)==0, "final state") ){
      fprintf(stderr, "  expected %s\n  got      %s\n", zFinal, zGot);
    }
    sqlite3_free(zGot);
    tClose(db);
    /* 4. reopened */
    db = openDb(zMode);
    zGot = digest(db);
    if( !tCheck(zCase, strcmp(zGot, zFinal)==0, "final state, reopened") ){
      fprintf(stderr, "  expected %s\n  got      %s\n", zFinal, zGot);
    }
    sqlite3_free(zGot);
    tRows(zCase, db, "PRAGMA integrity_check", "ok");
    tClose(db);
  }
  nFaults += nLoopFault;
  printf("%s t%d %s%s %s %s: %d operations, k stride %d, %d faults injected,"
         " %d SQLite messages, %d veles messages\n", zMode, t, azOp[eOps],
         zFilter ? " (side file)" : "", iErrno==EIO ? "EIO" : "ENOSPC",
         bPersist ? "persistent" : "once", nOp, nStride, nLoopFault,
         aMsg[0], aMsg[1]);
  sqlite3_free(zBefore);
  sqlite3_free(zAfter);
  sqlite3_free(zFinal);
}

/*
** A table dropped inside a transaction is closed at once, yet ROLLBACK TO
** can bring it back and COMMIT then commits map rows that reference the
** vectors it wrote: the DROP makes them durable first. A failed sync of
** the side file there once went unnoticed (the close swallowed it); now
** the DROP fails with it and the table stays (cases drop.x).
*/
static void testDropSync(void){
  sqlite3 *db;
  int rc;
  resetDir();
  db = openDb("delete");
  tExec(db, "CREATE VIRTUAL TABLE d USING vectors(dim=2)");
  tExec(db, "BEGIN; INSERT INTO d VALUES (1,'[1,1]'), (2,'[2,2]')");
  tExec(db, "SAVEPOINT s");
  faultfsFail(FAULTFS_SYNC, "-vectors-", 1, EIO, 1);
  rc = sqlite3_exec(db, "DROP TABLE d", 0, 0, 0);
  faultfsClear();
  /* an I/O error: SQLite rolls the whole transaction back */
  if( !tCheck("drop.0", rc==SQLITE_IOERR
              && sqlite3_extended_errcode(db)==SQLITE_IOERR_FSYNC
              && sqlite3_get_autocommit(db),
              "the DROP fails with the failed sync") ){
    fprintf(stderr, "  rc %d, extended %d, %s\n", rc,
            sqlite3_extended_errcode(db), sqlite3_errmsg(db));
  }
  tRows("drop.1", db, "SELECT count(*) FROM d", "0");
  tExec(db, "BEGIN; INSERT INTO d VALUES (1,'[1,1]'), (2,'[2,2]');"
            "SAVEPOINT s; DROP TABLE d; ROLLBACK TO s; RELEASE s; COMMIT");
  tRows("drop.2", db, "SELECT id, hex(vec) FROM d",
        "1|0000803F0000803F\n2|0000004000000040");
  tRows("drop.3", db, "SELECT veles_check('d')", "ok");
  tClose(db);
}

/* ---- no threads ------------------------------------------------------ */

static int bRefuseThreads = 0;   /* pthread_create fails with EAGAIN */
static int nRefusedThreads = 0;  /* calls it refused */

/* Exported (ENABLE_EXPORTS), so veles.so's calls come here too. */
int pthread_create(pthread_t *pThread, const pthread_attr_t *pAttr,
                   void *(*xMain)(void*), void *pArg){
  static int (*xReal)(pthread_t*, const pthread_attr_t*, void *(*)(void*),
                      void*) = 0;
  if( bRefuseThreads ){
    nRefusedThreads++;
    return EAGAIN;
  }
  if( xReal==0 ) xReal = dlsym(RTLD_NEXT, "pthread_create");
  return xReal(pThread, pAttr, xMain, pArg);
}

#define WRITER_DIM  1024         /* 4 KiB a vector */
#define WRITER_ROWS 1500         /* 6 MiB: more than one 4 MiB buffer */

static void writerVector(int id, float *a){
  int i;
  for(i=0; i<WRITER_DIM; i++) a[i] = (float)id + (float)i/1024.0f;
}

/*
** The background writer's fallback (ext/writer.c): pthread_create fails,
** so every full buffer of the side file is written on the calling thread.
*/
static void testWriterNoThread(void){
  static float a[WRITER_DIM];
  sqlite3 *db;
  sqlite3_stmt *p = 0;
  int id, rc, nRow = 0, nBad = 0;
  resetDir();
  db = openDb("delete");
  tExec(db, "CREATE VIRTUAL TABLE w USING vectors(dim=%d)", WRITER_DIM);
  bRefuseThreads = 1;
  nRefusedThreads = 0;
  tExec(db, "BEGIN");
  rc = sqlite3_prepare_v2(db, "INSERT INTO w(id, vec) VALUES(?, ?)", -1, &p,
                          0);
  for(id=1; rc==SQLITE_OK && id<=WRITER_ROWS; id++){
    writerVector(id, a);
    sqlite3_bind_int(p, 1, id);
    sqlite3_bind_blob(p, 2, a, (int)sizeof(a), SQLITE_STATIC);
    if( sqlite3_step(p)!=SQLITE_DONE ) rc = SQLITE_ERROR;
    sqlite3_reset(p);
  }
  sqlite3_finalize(p);
  if( !tCheck("writer.0", rc==SQLITE_OK, "every insert succeeds") ){
    fprintf(stderr, "  at id %d: %s\n", id-1, sqlite3_errmsg(db));
  }
  tExec(db, "COMMIT");
  bRefuseThreads = 0;
  tCheck("writer.1", nRefusedThreads>0,
         "the writer asked for a thread and was refused");
  tClose(db);

  db = openDb("delete");
  rc = sqlite3_prepare_v2(db, "SELECT id, vec FROM w ORDER BY id", -1, &p, 0);
  while( rc==SQLITE_OK && sqlite3_step(p)==SQLITE_ROW ){
    id = sqlite3_column_int(p, 0);
    writerVector(id, a);
    if( id!=nRow+1 || sqlite3_column_bytes(p, 1)!=(int)sizeof(a)
     || memcmp(sqlite3_column_blob(p, 1), a, sizeof(a))!=0 ){
      nBad++;
    }
    nRow++;
  }
  sqlite3_finalize(p);
  if( !tCheck("writer.2", rc==SQLITE_OK && nRow==WRITER_ROWS && nBad==0,
              "every vector reads back exactly after reopening") ){
    fprintf(stderr, "  %d rows, %d wrong\n", nRow, nBad);
  }
  tRows("writer.3", db, "SELECT veles_check('w')", "ok");
  tClose(db);
}

int main(int argc, char **argv){
  int bLong = tLong();
  static const char *azMode[] = {"delete", "wal", "truncate"};
  static const int aErrno[] = {EIO, ENOSPC};
  char zCwd[512];
  int m, e, bPersist;
  tInit(argc, argv);
  if( getcwd(zCwd, sizeof(zCwd))==0 ) return 2;
  snprintf(zDataDir, sizeof(zDataDir), "%s/data", zCwd);
  snprintf(zShadowDir, sizeof(zShadowDir), "%s/shadow", zCwd);
  snprintf(zDb, sizeof(zDb), "%s/t.db", zDataDir);
  testDropSync();
  testWriterNoThread();
  for(m=0; m<3; m++){
    for(e=0; e<2; e++){
      for(bPersist=0; bPersist<2; bPersist++){
        const char *zMode = azMode[m];
        int iErr = aErrno[e];
        if( m<2 ){
          faultLoop(zMode, 1, FAULTFS_WRITE, 0, iErr, bPersist, 1);
          faultLoop(zMode, 1, FAULTFS_SYNC, 0, iErr, bPersist, 1);
          faultLoop(zMode, 2, FAULTFS_WRITE, "-vectors-", iErr, bPersist, 1);
          faultLoop(zMode, 2, FAULTFS_SYNC, "-vectors-", iErr, bPersist, 1);
          if( bLong ){
            faultLoop(zMode, 2, FAULTFS_WRITE, 0, iErr, bPersist, 1);
          }else if( bPersist==0 && iErr==EIO && !bSanitize ){
            faultLoop(zMode, 2, FAULTFS_WRITE, 0, iErr, bPersist, 7);
          }
        }
        faultLoop(zMode, 1, FAULTFS_TRUNCATE, 0, iErr, bPersist, 1);
      }
    }
  }
  printf("%d runs, %d with a fault injected; state before %d, after %d\n",
         nIter, nFaults, nBefore, nAfter);
  return tDone();
}
