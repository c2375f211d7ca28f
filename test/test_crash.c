/*
** Crash loop: a writer process commits deterministic batches, each one
** transaction that stores and deletes vectors, stores and deletes their
** payloads, and advances a marker row in a plain table; it is killed
** with SIGKILL at random moments. After
** each kill the database must hold exactly the state after batch b, where
** b is the marker, and b must be the last batch known to be committed
** (acknowledged, or seen by an earlier check) or the one after it
** (committed, killed before it could say so). No partial batch,
** integrity_check ok, and the next writer continues without manual steps.
** Every vector has its payload and no payload is without its vector: the
** two tables commit together or not at all. Every fifth batch also runs
** 'optimize' (the stored IVF index): after each kill veles_check is ok
** and a search by the index returns k rows.
**
** Runs in rollback-journal and WAL mode. VELES_CRASH_ITERATIONS sets the
** kills per mode (default 20; the long run uses 200).
*/
#include "testutil.h"
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NDIM 128
#define NID 30000

static unsigned rngNext(unsigned *s){
  *s ^= *s << 13; *s ^= *s >> 17; *s ^= *s << 5;
  return *s;
}

/* Operations of batch b: nOp pairs (id, bDelete). Every 7th batch is
** large, so its vectors overflow the write-behind buffer. */
static int batchOps(int b, int *aId, int *aDel, int nMax){
  unsigned s = 2654435761u * (unsigned)b + 1;
  int n = (b%7==0) ? 13000 : 50, i;
  if( n>nMax ) n = nMax;
  for(i=0; i<n; i++){
    aId[i] = (int)(rngNext(&s) % NID);
    aDel[i] = (rngNext(&s) % 5)==0;
  }
  return n;
}

static void vectorFor(int id, int b, float *a){
  int i;
  for(i=0; i<NDIM; i++) a[i] = (float)(id*0.25 + b*1000 + i);
}

static int aOpId[20000], aOpDel[20000];

/* The writer: commits batches from b onwards, acknowledging each one. */
static void writer(const char *zDb, const char *zMode, int b, int fdAck){
  sqlite3 *db = tOpen(zDb);
  sqlite3_stmt *pIns = 0, *pDel = 0, *pPut = 0, *pDrop = 0;
  float a[NDIM];
  tExec(db, "PRAGMA journal_mode=%s", zMode);
  tExec(db, "PRAGMA synchronous=FULL");
  sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO emb(id, vec) VALUES (?,?)",
                     -1, &pIns, 0);
  sqlite3_prepare_v2(db, "DELETE FROM emb WHERE id=?", -1, &pDel, 0);
  sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(id, json) "
                     "VALUES (?, json_object('id', ?1, 'batch', ?2))",
                     -1, &pPut, 0);
  sqlite3_prepare_v2(db, "DELETE FROM meta WHERE id=?", -1, &pDrop, 0);
  for(;; b++){
    int n = batchOps(b, aOpId, aOpDel, 20000), i;
    char zAck[32];
    tExec(db, "BEGIN");
    for(i=0; i<n; i++){
      sqlite3_stmt *p = aOpDel[i] ? pDel : pIns;
      sqlite3_bind_int(p, 1, aOpId[i]);
      if( !aOpDel[i] ){
        vectorFor(aOpId[i], b, a);
        sqlite3_bind_blob(p, 2, a, sizeof(a), SQLITE_STATIC);
      }
      if( sqlite3_step(p)!=SQLITE_DONE ){
        fprintf(stderr, "writer: %s\n", sqlite3_errmsg(db));
        _exit(3);
      }
      sqlite3_reset(p);
      p = aOpDel[i] ? pDrop : pPut;
      sqlite3_bind_int(p, 1, aOpId[i]);
      if( !aOpDel[i] ) sqlite3_bind_int(p, 2, b);
      if( sqlite3_step(p)!=SQLITE_DONE ){
        fprintf(stderr, "writer: %s\n", sqlite3_errmsg(db));
        _exit(3);
      }
      sqlite3_reset(p);
    }
    /* every fifth batch stores the IVF index too (ext/ivfstore.c) */
    if( b%5==3 ) tExec(db, "INSERT INTO emb(emb) VALUES('optimize')");
    tExec(db, "UPDATE progress SET b=%d", b);
    if( sqlite3_exec(db, "COMMIT", 0, 0, 0)!=SQLITE_OK ){
      fprintf(stderr, "writer: commit: %s\n", sqlite3_errmsg(db));
      _exit(3);
    }
    snprintf(zAck, sizeof(zAck), "%d\n", b);
    if( write(fdAck, zAck, strlen(zAck))<0 ) _exit(4);
  }
}

/* Check the database holds exactly the state after batch b. */
static int verify(sqlite3 *db, int b, int *aTag){
  sqlite3_stmt *p = 0;
  int nRow = 0, nExpect = 0, i, bOk = 1;
  float a[NDIM];
  for(i=0; i<NID; i++) if( aTag[i]>0 ) nExpect++;
  sqlite3_prepare_v2(db, "SELECT id, vec FROM emb", -1, &p, 0);
  while( sqlite3_step(p)==SQLITE_ROW ){
    int id = sqlite3_column_int(p, 0);
    nRow++;
    if( id<0 || id>=NID || aTag[id]<=0
     || sqlite3_column_bytes(p, 1)!=(int)sizeof(a) ){
      bOk = 0;
      break;
    }
    vectorFor(id, aTag[id], a);
    if( memcmp(a, sqlite3_column_blob(p, 1), sizeof(a))!=0 ){
      fprintf(stderr, "id %d: wrong vector after batch %d\n", id, b);
      bOk = 0;
      break;
    }
  }
  if( sqlite3_finalize(p)!=SQLITE_OK ) bOk = 0;
  if( nRow!=nExpect ) bOk = 0;
  /* the payloads: the same ids, each naming the batch of its vector */
  nRow = 0;
  sqlite3_prepare_v2(db, "SELECT id, json->>'$.batch' FROM meta", -1, &p, 0);
  while( bOk && sqlite3_step(p)==SQLITE_ROW ){
    int id = sqlite3_column_int(p, 0);
    nRow++;
    if( id<0 || id>=NID || aTag[id]!=sqlite3_column_int(p, 1) ){
      fprintf(stderr, "id %d: payload does not match its vector\n", id);
      bOk = 0;
    }
  }
  if( sqlite3_finalize(p)!=SQLITE_OK ) bOk = 0;
  if( nRow!=nExpect ) bOk = 0;
  return bOk;
}

static void crashLoop(const char *zMode, int nIter, unsigned seed){
  char zDb[64], zLog[64], zCase[32];
  static int aTag[NID];
  int iter, bModel = 0, nFailBefore, nStall = 0, bAck0 = 0;
  sqlite3 *db;
  snprintf(zDb, sizeof(zDb), "crash-%s.db", zMode);
  snprintf(zLog, sizeof(zLog), "crash-%s.log", zMode);
  memset(aTag, 0, sizeof(aTag));
  db = tOpen(zDb);
  tExec(db, "PRAGMA journal_mode=%s", zMode);
  tExec(db, "CREATE VIRTUAL TABLE emb USING vectors(dim=%d)", NDIM);
  tExec(db, "CREATE VIRTUAL TABLE meta USING payloads");
  tExec(db, "CREATE TABLE progress(b INTEGER); INSERT INTO progress VALUES(0)");
  tClose(db);
  srand(seed);
  for(iter=0; iter<nIter; iter++){
    int fdAck, status, bAck, bDb, bOk, bKnown;
    pid_t pid;
    fdAck = open(zLog, O_WRONLY|O_CREAT|O_APPEND, 0644);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if( pid==0 ) writer(zDb, zMode, bModel+1, fdAck);
    close(fdAck);
    /* a kill lands 1-300 ms in; after kills without progress (a large
    ** batch takes longer than that with fsyncs) the window widens */
    usleep(1000 + (unsigned)(rand() % (300000*(1 + nStall))));
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    bAck = tLastLogged(zLog, 0);
    db = tOpen(zDb);
    bDb = (int)tInt(db, "SELECT b FROM progress");
    snprintf(zCase, sizeof(zCase), "%s.%d", zMode, iter);
    /* the writer began at bModel+1: the database is at the last batch
    ** known committed (acknowledged, or found by the previous check
    ** though never acknowledged) or at the one after it */
    bKnown = bAck>bModel ? bAck : bModel;
    bOk = bDb==bKnown || bDb==bKnown+1;
    /* bring the model to batch bDb */
    while( bOk && bModel<bDb ){
      int n, i;
      bModel++;
      n = batchOps(bModel, aOpId, aOpDel, 20000);
      for(i=0; i<n; i++) aTag[aOpId[i]] = aOpDel[i] ? 0 : bModel;
    }
    nStall = bDb>bAck0 ? 0 : nStall+1;
    bAck0 = bDb;
    nFailBefore = 0;
    if( bOk ) bOk = verify(db, bDb, aTag);
    if( !tCheck(zCase, bOk, "state equals the last committed batch") ){
      fprintf(stderr, "  acknowledged %d, database at %d\n", bAck, bDb);
      nFailBefore = 1;
    }
    tRows(zCase, db, "PRAGMA integrity_check", "ok");
    /* the stored index (whichever batch stored it) is whole, and a search
    ** by it (loaded from it) returns k rows */
    tRows(zCase, db, "SELECT veles_check('emb')", "ok");
    tRows(zCase, db, "SELECT count(*) = min(10, (SELECT count(*) FROM emb)) "
          "FROM emb WHERE vec MATCH (SELECT vec FROM emb LIMIT 1) AND k=10 "
          "AND probe=4", "1");
    tClose(db);
    if( nFailBefore ) break;
  }
  printf("%s: %d kills, reached batch %d\n", zMode, iter, bModel);
}

int main(int argc, char **argv){
  const char *zIter = getenv("VELES_CRASH_ITERATIONS");
  int nIter = zIter ? atoi(zIter) : 20;
  tInit(argc, argv);
  crashLoop("delete", nIter, 1);
  crashLoop("wal", nIter, 2);
  return tDone();
}
