/*
** Concurrency: two writer processes and three reader processes on one
** database, for a bounded time, in WAL and in rollback-journal mode.
**
** Writer w commits transactions n = 0, 1, 2, ...; transaction n inserts
** id (w, n) at version 0, updates id (w, n/2) to version n and deletes id
** (w, n-20), in a `vectors` and a `payloads` table together, then logs
** the acknowledged n. Every vector is self-describing (element 0 = id,
** element 1 = version, element i = id/2 + version + i) and its payload
** names the same version.
**
** Readers, inside one transaction, read everything twice with a pause in
** between: each vector must be self-consistent and match its payload (no
** torn or stale read, no slot reused under a reader), and the two reads
** must be equal (the snapshot holds, also while the side file grows under
** the reader's mapping). Afterwards the database must hold exactly what
** the acknowledged transactions produced: no lost commit.
**
** VELES_CONCURRENCY_SECONDS sets the time per mode (default 3).
**
** threads.x: two threads in one process, each with a connection of its
** own to a database of its own, store payloads at the same time (each
** store parses its JSON with cJSON, whose parser writes a process-global
** error pointer: payjson.c holds a mutex around it). A fixed number of
** stores, with valid and invalid JSON, then the exact rows; under
** ThreadSanitizer the run must be free of reports. Debian's libcjson is
** not instrumented, so in a TSan build payjson.c touches a witness
** variable where cJSON writes its global: without the mutex TSan reports
** a race on it here.
*/
#include "testutil.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NDIM 16
#define ID(w, n) ((w)*1000000 + (n))

static double now(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec*1e-9;
}

static void vectorFor(int id, int version, float *a){
  int i;
  a[0] = (float)id;
  a[1] = (float)version;
  for(i=2; i<NDIM; i++) a[i] = (float)(id/2 + version + i);
}

static void writer(const char *zDb, int w, double tEnd){
  sqlite3 *db = tOpen(zDb);
  char zLog[128];
  FILE *fLog;
  int n;
  float a[NDIM];
  sqlite3_stmt *pIns, *pUpd, *pDel, *pPut, *pPatch, *pDrop;
  snprintf(zLog, sizeof(zLog), "%s.w%d", zDb, w);
  fLog = fopen(zLog, "w");
  sqlite3_busy_timeout(db, 10000);
  sqlite3_prepare_v2(db, "INSERT INTO emb VALUES (?1, ?2)", -1, &pIns, 0);
  sqlite3_prepare_v2(db, "UPDATE emb SET vec=?2 WHERE id=?1", -1, &pUpd, 0);
  sqlite3_prepare_v2(db, "DELETE FROM emb WHERE id=?1", -1, &pDel, 0);
  sqlite3_prepare_v2(db, "INSERT INTO meta(id, json) VALUES "
                     "(?1, json_object('v', ?2))", -1, &pPut, 0);
  sqlite3_prepare_v2(db, "UPDATE meta SET json=json_object('v', ?2) "
                     "WHERE id=?1", -1, &pPatch, 0);
  sqlite3_prepare_v2(db, "DELETE FROM meta WHERE id=?1", -1, &pDrop, 0);
  for(n=0; now()<tEnd; n++){
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0);
    sqlite3_stmt *ap[6];
    int i;
    if( rc ){ fprintf(stderr, "writer %d: %s\n", w, sqlite3_errmsg(db)); _exit(3); }
    vectorFor(ID(w, n), 0, a);
    sqlite3_bind_int(pIns, 1, ID(w, n));
    sqlite3_bind_blob(pIns, 2, a, sizeof(a), SQLITE_TRANSIENT);
    sqlite3_bind_int(pPut, 1, ID(w, n));
    sqlite3_bind_int(pPut, 2, 0);
    vectorFor(ID(w, n/2), n, a);
    sqlite3_bind_int(pUpd, 1, ID(w, n/2));
    sqlite3_bind_blob(pUpd, 2, a, sizeof(a), SQLITE_TRANSIENT);
    sqlite3_bind_int(pPatch, 1, ID(w, n/2));
    sqlite3_bind_int(pPatch, 2, n);
    sqlite3_bind_int(pDel, 1, ID(w, n-20));
    sqlite3_bind_int(pDrop, 1, ID(w, n-20));
    ap[0] = pIns; ap[1] = pPut; ap[2] = pUpd; ap[3] = pPatch;
    ap[4] = n>=20 ? pDel : 0; ap[5] = n>=20 ? pDrop : 0;
    for(i=0; i<6; i++){
      if( ap[i]==0 ) continue;
      if( sqlite3_step(ap[i])!=SQLITE_DONE ){
        fprintf(stderr, "writer %d: %s\n", w, sqlite3_errmsg(db));
        _exit(3);
      }
      sqlite3_reset(ap[i]);
    }
    if( sqlite3_exec(db, "COMMIT", 0, 0, 0) ){
      fprintf(stderr, "writer %d: commit: %s\n", w, sqlite3_errmsg(db));
      _exit(3);
    }
    fprintf(fLog, "%d\n", n);
    fflush(fLog);
    usleep(500);          /* let the other writer have the lock sometimes */
  }
  fclose(fLog);
  sqlite3_finalize(pIns); sqlite3_finalize(pUpd); sqlite3_finalize(pDel);
  sqlite3_finalize(pPut); sqlite3_finalize(pPatch); sqlite3_finalize(pDrop);
  sqlite3_close(db);
  _exit(0);
}

/* Read everything; 0 if a row is inconsistent. *pzRows gets the rows. */
static int readAll(sqlite3 *db, char **pzRows){
  sqlite3_stmt *p;
  int bOk = 1;
  float a[NDIM];
  sqlite3_str *pOut = sqlite3_str_new(0);
  sqlite3_prepare_v2(db, "SELECT v.id, v.vec, p.json->>'$.v' FROM emb v "
                     "LEFT JOIN meta p USING (id)", -1, &p, 0);
  while( sqlite3_step(p)==SQLITE_ROW ){
    int id = sqlite3_column_int(p, 0);
    int version;
    if( sqlite3_column_bytes(p, 1)!=(int)sizeof(a) ){ bOk = 0; break; }
    memcpy(a, sqlite3_column_blob(p, 1), sizeof(a));
    version = (int)a[1];
    vectorFor(id, version, a);
    if( memcmp(a, sqlite3_column_blob(p, 1), sizeof(a))!=0
     || sqlite3_column_type(p, 2)==SQLITE_NULL
     || sqlite3_column_int(p, 2)!=version ){
      fprintf(stderr, "reader: id %d inconsistent\n", id);
      bOk = 0;
      break;
    }
    sqlite3_str_appendf(pOut, "%d:%d ", id, version);
  }
  if( sqlite3_finalize(p)!=SQLITE_OK ){
    fprintf(stderr, "reader: %s\n", sqlite3_errmsg(db));
    bOk = 0;
  }
  *pzRows = sqlite3_str_finish(pOut);
  return bOk;
}

static void reader(const char *zDb, double tEnd){
  sqlite3 *db = tOpen(zDb);
  int nRound = 0;
  sqlite3_busy_timeout(db, 10000);
  while( now()<tEnd ){
    char *z1 = 0, *z2 = 0;
    int bOk;
    if( sqlite3_exec(db, "BEGIN", 0, 0, 0) ) _exit(3);
    bOk = readAll(db, &z1);
    usleep(20000);
    bOk = bOk && readAll(db, &z2);
    if( bOk && strcmp(z1 ? z1 : "", z2 ? z2 : "")!=0 ){
      fprintf(stderr, "reader: snapshot changed within a transaction\n");
      bOk = 0;
    }
    sqlite3_free(z1);
    sqlite3_free(z2);
    sqlite3_exec(db, "COMMIT", 0, 0, 0);
    if( !bOk ) _exit(4);
    nRound++;
  }
  sqlite3_close(db);
  _exit(nRound>0 ? 0 : 5);
}

/* The number of acknowledged transactions of writer w. */
static int acked(const char *zDb, int w){
  char zLog[128];
  snprintf(zLog, sizeof(zLog), "%s.w%d", zDb, w);
  return tLastLogged(zLog, -1) + 1;
}

static void runMode(const char *zMode, double nSecond){
  char zDb[64], zCase[32];
  pid_t aPid[5];
  int i, status, bAllOk = 1, w;
  sqlite3 *db;
  double tEnd;
  snprintf(zDb, sizeof(zDb), "conc-%s.db", zMode);
  db = tOpen(zDb);
  tExec(db, "PRAGMA journal_mode=%s", zMode);
  tExec(db, "CREATE VIRTUAL TABLE emb USING vectors(dim=%d)", NDIM);
  tExec(db, "CREATE VIRTUAL TABLE meta USING payloads");
  tClose(db);
  tEnd = now() + nSecond;
  fflush(stdout);
  fflush(stderr);
  for(i=0; i<5; i++){
    aPid[i] = fork();
    if( aPid[i]==0 ){
      if( i<2 ) writer(zDb, i+1, tEnd);
      reader(zDb, tEnd);
    }
  }
  for(i=0; i<5; i++){
    waitpid(aPid[i], &status, 0);
    snprintf(zCase, sizeof(zCase), "%s.%s%d", zMode, i<2 ? "writer" : "reader",
             i);
    bAllOk &= tCheck(zCase, WIFEXITED(status) && WEXITSTATUS(status)==0,
                     "process ran clean (no inconsistent read, no crash)");
  }
  /* exactly what the acknowledged transactions produced */
  db = tOpen(zDb);
  for(w=1; w<=2; w++){
    int nAck = acked(zDb, w), n, k;
    int *aVersion = calloc((size_t)nAck+1, sizeof(int));
    char *zGot, *zSql;
    sqlite3_str *pWant = sqlite3_str_new(0);
    for(n=0; n<nAck; n++){
      aVersion[n] = 0;                                 /* insert */
      if( aVersion[n/2]>=0 ) aVersion[n/2] = n;        /* update, if there */
      if( n>=20 ) aVersion[n-20] = -1;                 /* delete */
    }
    for(k=0; k<nAck; k++){
      if( aVersion[k]>=0 ) sqlite3_str_appendf(pWant, "%d:%d ", ID(w,k),
                                               aVersion[k]);
    }
    zSql = sqlite3_mprintf("SELECT group_concat(id || ':' || "
        "CAST(veles_json(vec)->>'$[1]' AS INTEGER), ' ') || ' ' FROM "
        "(SELECT * FROM emb WHERE id BETWEEN %d AND %d ORDER BY id)",
        ID(w,0), ID(w,999999));
    zGot = tQuery(db, zSql);
    {
      char *zWant = sqlite3_str_finish(pWant);
      snprintf(zCase, sizeof(zCase), "%s.final%d", zMode, w);
      tCheck(zCase, nAck>0 && strcmp(zGot, zWant ? zWant : "")==0,
             "database holds exactly the acknowledged commits");
      if( strcmp(zGot, zWant ? zWant : "") ){
        fprintf(stderr, "  want %.200s\n  got  %.200s\n", zWant, zGot);
      }
      printf("%s: writer %d committed %d transactions\n", zMode, w, nAck);
      sqlite3_free(zWant);
    }
    sqlite3_free(zGot);
    sqlite3_free(zSql);
    free(aVersion);
  }
  snprintf(zCase, sizeof(zCase), "%s.check", zMode);
  tRows(zCase, db, "SELECT veles_check('emb'), veles_check('meta'), "
        "(SELECT count(*) FROM emb) = (SELECT count(*) FROM meta)",
        "ok|ok|1");
  tRows(zCase, db, "PRAGMA integrity_check", "ok");
  tClose(db);
  (void)bAllOk;
}

/* ---- threads.x: payloads stored from two threads ---------------------- */

#define THREAD_ROWS 400

typedef struct PayThread PayThread;
struct PayThread {
  int iThread;            /* 0 or 1 */
  int nStored;            /* rows stored */
  int nRefused;           /* invalid payloads refused as expected */
  char zErr[200];         /* first unexpected error, or "" */
};

static void *payThread(void *pArg){
  PayThread *pT = (PayThread*)pArg;
  char zDb[32];
  sqlite3 *db = 0;
  int i;
  snprintf(zDb, sizeof(zDb), "threads-%d.db", pT->iThread);
  if( sqlite3_open(zDb, &db)!=SQLITE_OK ){
    snprintf(pT->zErr, sizeof(pT->zErr), "open: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    return 0;
  }
  sqlite3_enable_load_extension(db, 1);
  if( sqlite3_load_extension(db, tModulePath(), "sqlite3_veles_init", 0)
   || sqlite3_exec(db, "CREATE VIRTUAL TABLE meta USING payloads(lang TEXT, "
                   "n INTEGER); BEGIN", 0, 0, 0) ){
    snprintf(pT->zErr, sizeof(pT->zErr), "setup: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    return 0;
  }
  for(i=1; i<=THREAD_ROWS && pT->zErr[0]==0; i++){
    /* every fourth payload is invalid (cJSON fails; its error global is
    ** written), the others valid */
    char *zSql = sqlite3_mprintf("INSERT INTO meta(id, json) VALUES (%d, "
        "'{\"lang\":\"l%d\",\"n\":%d,\"pad\":[%d,%d,{\"x\":%s}]}')",
        i, pT->iThread, i, i, i*2, (i%4)==0 ? "}" : "null");
    int rc = sqlite3_exec(db, zSql, 0, 0, 0);
    if( rc==SQLITE_OK && (i%4)!=0 ){
      pT->nStored++;
    }else if( rc==SQLITE_ERROR && (i%4)==0
           && strncmp(sqlite3_errmsg(db), "payloads: invalid JSON", 22)==0 ){
      pT->nRefused++;
    }else{
      snprintf(pT->zErr, sizeof(pT->zErr), "row %d: rc %d: %s", i, rc,
               sqlite3_errmsg(db));
    }
    sqlite3_free(zSql);
  }
  if( pT->zErr[0]==0 && sqlite3_exec(db, "COMMIT", 0, 0, 0) ){
    snprintf(pT->zErr, sizeof(pT->zErr), "commit: %s", sqlite3_errmsg(db));
  }
  sqlite3_close(db);
  return 0;
}

static void testThreads(void){
  PayThread aT[2];
  pthread_t aTid[2];
  int i;
  char zCase[32];
  /* veles is loaded once before the threads start, as an application
  ** does at start-up: its entry point then has nothing left to store */
  sqlite3 *dbFirst = tOpen(":memory:");
  memset(aT, 0, sizeof(aT));
  for(i=0; i<2; i++){
    aT[i].iThread = i;
    if( pthread_create(&aTid[i], 0, payThread, &aT[i])!=0 ){
      tCheck("threads.0", 0, "pthread_create");
      tClose(dbFirst);
      return;
    }
  }
  for(i=0; i<2; i++) pthread_join(aTid[i], 0);
  tClose(dbFirst);
  for(i=0; i<2; i++){
    sqlite3 *db;
    char *zSql;
    snprintf(zCase, sizeof(zCase), "threads.%d", i+1);
    if( !tCheck(zCase, aT[i].zErr[0]==0 && aT[i].nStored==THREAD_ROWS*3/4
                && aT[i].nRefused==THREAD_ROWS/4,
                "every valid payload stored, every invalid one refused") ){
      fprintf(stderr, "  thread %d: %d stored, %d refused, %s\n", i,
              aT[i].nStored, aT[i].nRefused, aT[i].zErr);
    }
    snprintf(zCase, sizeof(zCase), "threads.%d", i+3);
    zSql = sqlite3_mprintf("threads-%d.db", i);
    db = tOpen(zSql);
    sqlite3_free(zSql);
    zSql = sqlite3_mprintf("l%d|300|1|399|ok", i);
    tRows(zCase, db, "SELECT lang, count(*), min(n), max(n), "
          "veles_check('meta') FROM meta GROUP BY lang", zSql);
    sqlite3_free(zSql);
    tClose(db);
  }
}

int main(int argc, char **argv){
  const char *z = getenv("VELES_CONCURRENCY_SECONDS");
  double nSecond = z ? atof(z) : 3.0;
  tInit(argc, argv);
  testThreads();
  runMode("wal", nSecond);
  runMode("delete", nSecond);
  return tDone();
}
