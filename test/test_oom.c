/*
** Out of memory: SQLite's allocator (and so every allocation of veles,
** which allocates only through sqlite3_malloc) is wrapped with
** sqlite3_config(SQLITE_CONFIG_MALLOC) so that the k-th allocation fails,
** once or persistently (every one from the k-th on, until disarmed).
** For each step of a workload - open and load, CREATE, inserts, updates,
** overwrites, deletes, savepoints, searches and veles_* functions, DROP,
** a compaction, a search that builds the IVF index, its 'optimize',
** another attachment's load of the index it stored, veles_add_field -
** in rollback-journal and WAL mode - and every k:
**
**   1. the step returns SQLITE_NOMEM (or an error saying "out of memory"),
**      or succeeds with exactly the fault-free result (its rows too);
**      no crash;
**   2. the database then holds the state before the step or after it,
**      PRAGMA integrity_check is ok;
**   3. the step and all later steps then run to the fault-free end state;
**   4. after sqlite3_close(), SQLite's memory in use is back to what it
**      was before the connection opened: nothing leaked (LSan checks the
**      same under VELES_SANITIZE).
**
** k runs over every allocation of the step; in CI with a stride that
** keeps the run short (about 60 values of k per step, 15 under the
** sanitizers, whose build the release one already covers with 60); VELES_LONG=1 takes every k.
** cJSON (payload validation) allocates with libc's malloc, which SQLite's
** allocator does not see. Section c.x covers it apart: this program
** defines malloc() itself (forwarding to glibc's __libc_malloc) and fails
** the k-th allocation made from inside libcjson, for every k of a payload
** store; the store must fail with SQLITE_NOMEM ("out of memory", never
** "invalid JSON") and store nothing, then succeed once k is past cJSON's
** last allocation. Skipped under ASan and TSan, which own malloc.
*/
#define _GNU_SOURCE             /* dladdr() */
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the failing allocator ------------------------------------------- */

static sqlite3_mem_methods orig;
static int bArmed = 0;           /* count and fail */
static long nAlloc = 0;          /* allocations since armed */
static long kFail = 0;           /* fail the k-th (0: never) */
static int bPersist = 0;
static long nFault = 0;          /* faults injected, in all */
static long nStepFault = 0;      /* faults injected since armed */

static int failNow(void){
  if( !bArmed ) return 0;
  nAlloc++;
  if( kFail>0 && (nAlloc==kFail || (bPersist && nAlloc>kFail)) ){
    nFault++;
    nStepFault++;
    return 1;
  }
  return 0;
}
static void *oomMalloc(int n){ return failNow() ? 0 : orig.xMalloc(n); }
static void *oomRealloc(void *p, int n){
  return failNow() ? 0 : orig.xRealloc(p, n);
}

static void arm(long k, int bPers){
  nAlloc = 0;
  kFail = k;
  bPersist = bPers;
  nStepFault = 0;
  bArmed = 1;
}
static void disarm(void){ bArmed = 0; }

/* ---- cJSON's allocations (c.x) --------------------------------------- */

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define OOM_CJSON 1
#include <dlfcn.h>
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t m);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

static int bCjsonArmed = 0;      /* count libcjson's mallocs, fail one */
static int bCjsonInside = 0;     /* inside dladdr(): no recursion */
static long nCjsonAlloc = 0;     /* libcjson's mallocs since armed */
static long kCjsonFail = 0;      /* fail the k-th */
static long nCjsonFault = 0;     /* faults injected since armed */

/* 1 when the code at pAddr belongs to libcjson. */
static int inCjson(void *pAddr){
  Dl_info info;
  int bIn;
  bCjsonInside = 1;
  bIn = dladdr(pAddr, &info) && info.dli_fname
     && strstr(info.dli_fname, "libcjson")!=0;
  bCjsonInside = 0;
  return bIn;
}

void *malloc(size_t n){
  if( bCjsonArmed && !bCjsonInside
   && inCjson(__builtin_return_address(0))
   && ++nCjsonAlloc==kCjsonFail ){
    nCjsonFault++;
    return 0;
  }
  return __libc_malloc(n);
}
void *calloc(size_t n, size_t m){ return __libc_calloc(n, m); }
void *realloc(void *p, size_t n){ return __libc_realloc(p, n); }
void free(void *p){ __libc_free(p); }

static void testCjson(void){
  sqlite3 *db = tOpen("cjson.db");
  long k;
  int nFaulted = 0, bDone = 0;
  tExec(db, "CREATE VIRTUAL TABLE meta USING payloads(tag TEXT, n INTEGER)");
  tExec(db, "INSERT INTO meta(id, json) VALUES (1, '{\"tag\":\"a\"}')");
  for(k=1; k<1000 && !bDone; k++){
    char zCase[32], *zSql;
    const char *zMsg;
    int rc;
    zSql = sqlite3_mprintf("INSERT OR REPLACE INTO meta(id, json) VALUES "
        "(2, '{\"tag\":\"t%ld\",\"n\":%ld,\"list\":[1,2.5,\"x\","
        "{\"a\":null}]}')", k, k);
    nCjsonAlloc = 0;
    nCjsonFault = 0;
    kCjsonFail = k;
    bCjsonArmed = 1;
    rc = sqlite3_exec(db, zSql, 0, 0, 0);
    bCjsonArmed = 0;
    zMsg = sqlite3_errmsg(db);
    snprintf(zCase, sizeof(zCase), "c.1 k=%ld", k);
    if( nCjsonFault==0 ){
      /* past cJSON's last allocation: the store goes through */
      tCheck(zCase, rc==SQLITE_OK, zMsg);
      bDone = 1;
    }else{
      nFaulted++;
      if( !tCheck(zCase, rc==SQLITE_NOMEM && strcmp(zMsg, "out of memory")==0,
                  "cJSON out of memory is SQLITE_NOMEM") ){
        fprintf(stderr, "  rc %d: %s\n", rc, zMsg);
      }
      snprintf(zCase, sizeof(zCase), "c.4 k=%ld", k);
      tRows(zCase, db, "SELECT count(*) FROM meta WHERE id=2", "0");
    }
    sqlite3_free(zSql);
  }
  tCheck("c.2", nFaulted>=4, "cJSON's allocations were failed (malloc is "
         "interposed)");
  tRows("c.3", db, "SELECT veles_check('meta'), count(*), max(id) FROM meta",
        "ok|2|2");
  tClose(db);
  printf("cjson: %d stores met a failing cJSON allocation\n", nFaulted);
}
#endif

/* ---- the workload ---------------------------------------------------- */

static const char *zJournal = "delete";

/* Steps 1.. run SQL on an open connection; step 0 opens it. */
static const char *azStep[] = {
  /* 0: open, load veles (done in C) */
  "",
  /* 1: create */
  "BEGIN;"
  "CREATE TABLE marker(t INTEGER); INSERT INTO marker VALUES(1);"
  "CREATE VIRTUAL TABLE emb USING vectors(dim=8);"
  "CREATE VIRTUAL TABLE meta USING payloads(tag TEXT, n INTEGER);"
  "CREATE VIRTUAL TABLE tmp USING vectors;"
  "COMMIT",
  /* 2: insert both tables in one transaction (JSON and blob input) */
  "BEGIN;"
  "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<40)"
  " INSERT INTO emb(id, vec) SELECT i, json_array(i, i+1, i+2, i+3, -i, 0,"
  " i*0.5, 1) FROM c;"
  "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<40)"
  " INSERT INTO meta(id, json) SELECT i, json_object('tag', 't' || (i%4),"
  " 'n', i, 'pad', printf('%.*c', i, 'x')) FROM c;"
  "INSERT INTO tmp(id, vec) VALUES(1, veles_vec('[1,2,3]'));"
  "UPDATE marker SET t=2;"
  "COMMIT",
  /* 3: overwrite and update */
  "BEGIN;"
  "UPDATE emb SET vec = veles_normalize(vec) WHERE id % 3 = 0;"
  "INSERT OR REPLACE INTO emb(id, vec) SELECT id + 1000, vec FROM emb"
  " WHERE id < 10;"
  "UPDATE meta SET json = json_set(json, '$.tag', 'u') WHERE id % 2 = 0;"
  "INSERT OR REPLACE INTO meta(id, json) VALUES(7, '{\"tag\":\"r\",\"n\":7}');"
  "UPDATE emb SET id = 500 WHERE id = 5;"
  "UPDATE marker SET t=3;"
  "COMMIT",
  /* 4, 5: deletes, autocommit statements (one per step: a step must be
  ** atomic for "before or after" to mean something) */
  "DELETE FROM emb WHERE id % 4 = 0",
  "DELETE FROM meta WHERE id % 5 = 0",
  /* 6: savepoints; a failing statement inside the transaction */
  "BEGIN;"
  "SAVEPOINT a;"
  "INSERT INTO emb(id, vec) VALUES(2000, '[1,1,1,1,1,1,1,1]');"
  "INSERT INTO meta(id, json) VALUES(2000, '{\"tag\":\"s\"}');"
  "ROLLBACK TO a; RELEASE a;"
  "INSERT OR IGNORE INTO emb(id, vec) VALUES(1, '[9,9,9,9,9,9,9,9]'),"
  " (3000, '[3,3,3,3,3,3,3,3]');"
  "INSERT INTO meta(id, json) VALUES(3000, '{\"tag\":\"s\",\"n\":3}');"
  "UPDATE marker SET t=5;"
  "COMMIT",
  /* 7: reads: lookups, scans, search, the veles_* functions */
  "SELECT id, veles_json(vec), veles_dim(vec) FROM emb WHERE id IN (1,2,3);"
  "SELECT count(*), sum(veles_distance(vec, '[0,0,0,0,0,0,0,0]')) FROM emb;"
  "SELECT id FROM emb WHERE id > 10 AND id <= 20 ORDER BY id DESC;"
  "SELECT id, round(distance, 3) FROM emb WHERE vec MATCH "
  " '[1,2,3,4,-1,0,0.5,1]' AND k = 5;"
  "SELECT group_concat(id) FROM meta WHERE tag = 't1';"
  "SELECT json FROM meta WHERE id = 3;"
  "SELECT veles_json(veles_normalize('[3,4]')),"
  " veles_distance('[1,0]', '[0,1]', 'cosine'), veles_version() IS NOT NULL;"
  "SELECT v.id, p.n FROM emb v JOIN meta p USING(id) WHERE p.tag='t3'",
  /* 8: drop a table */
  "DROP TABLE tmp",
  /* 9: later commits still work */
  "BEGIN;"
  "INSERT INTO emb(id, vec) VALUES(4000, '[4,4,4,4,4,4,4,4]');"
  "INSERT INTO meta(id, json) VALUES(4000, '{\"tag\":\"z\"}');"
  "UPDATE marker SET t=7;"
  "COMMIT",
  /* 10: a field added to meta, back-filled (its own transaction) */
  "SELECT veles_add_field('meta', 'pad TEXT')",
  /* 11: a compaction after deletes, in their transaction */
  "BEGIN;"
  "DELETE FROM emb WHERE id%3=0;"
  "INSERT INTO emb(emb) VALUES('compact');"
  "UPDATE marker SET t=8;"
  "COMMIT",
  /* 12, 13: a table large enough for the IVF index (last: the earlier
  ** steps' runs do not replay it), then the search that builds it */
  "BEGIN;"
  "CREATE VIRTUAL TABLE big USING vectors(dim=4);"
  "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<4200)"
  " INSERT INTO big(id, vec) SELECT i, json_array(i%7, i%11, i%13, i%17)"
  " FROM c;"
  "COMMIT",
  "SELECT id, round(distance, 3) FROM big WHERE vec MATCH '[1,2,3,4]'"
  " AND k = 5 AND probe = 2",
  /* 14, 15: 'optimize' stores the index; a second attachment of the same
  ** file (a state of its own) loads it */
  "BEGIN;"
  "INSERT INTO big(big) VALUES('optimize');"
  "UPDATE marker SET t=9;"
  "COMMIT",
  "ATTACH (SELECT file FROM pragma_database_list WHERE name='main') AS again;"
  "SELECT id, round(distance, 3) FROM again.big WHERE vec MATCH '[1,2,3,4]'"
  " AND k = 5 AND probe = 2;"
  "DETACH again",
};
#define NSTEP ((int)(sizeof(azStep)/sizeof(azStep[0])))
#define STEP_ADDFIELD 10        /* veles_add_field */
#define STEP_IVF 12             /* the first step of the IVF index */

static char zErr[1000];
static char *zOut = 0;           /* rows a read step returned */

/* Run step i; 0 or the error (message in zErr). *ppDb for step 0. */
static int runStep(int i, sqlite3 **ppDb){
  sqlite3 *db = *ppDb;
  const char *zTail = azStep[i];
  int rc = SQLITE_OK;
  zErr[0] = 0;
  if( i==0 ){
    char *zMsg = 0;
    rc = sqlite3_open_v2("oom.db", ppDb, SQLITE_OPEN_READWRITE
                         |SQLITE_OPEN_CREATE, 0);
    if( rc==SQLITE_OK ){
      sqlite3_enable_load_extension(*ppDb, 1);
      rc = sqlite3_load_extension(*ppDb, tModulePath(), 0, &zMsg);
    }
    if( rc ){
      /* with memory gone for good SQLite cannot allocate the message */
      snprintf(zErr, sizeof(zErr), "%s", zMsg ? zMsg
               : (*ppDb ? "error during initialization (no message: out "
                          "of memory)" : "no connection"));
      sqlite3_free(zMsg);
      sqlite3_close(*ppDb);
      *ppDb = 0;
    }
    return rc;
  }
  sqlite3_free(zOut);
  zOut = 0;
  {
    sqlite3_str *pOut = sqlite3_str_new(0);
    while( rc==SQLITE_OK && zTail && zTail[0] ){
      sqlite3_stmt *p = 0;
      rc = sqlite3_prepare_v2(db, zTail, -1, &p, &zTail);
      if( rc || p==0 ) break;
      while( (rc = sqlite3_step(p))==SQLITE_ROW ){
        int c;
        for(c=0; c<sqlite3_column_count(p); c++){
          const unsigned char *z = sqlite3_column_text(p, c);
          sqlite3_str_appendf(pOut, "%s%s", c ? "|" : "", z ? (char*)z
                              : "NULL");
        }
        sqlite3_str_appendchar(pOut, 1, '\n');
      }
      if( rc==SQLITE_DONE ) rc = SQLITE_OK;
      if( rc ){
        rc = sqlite3_extended_errcode(db);
        snprintf(zErr, sizeof(zErr), "%s", sqlite3_errmsg(db));
      }
      sqlite3_finalize(p);
    }
    if( rc && zErr[0]==0 ){
      snprintf(zErr, sizeof(zErr), "%s", sqlite3_errmsg(db));
    }
    if( rc==SQLITE_OK && sqlite3_str_errcode(pOut) ){
      /* the harness's own buffer ran out of memory */
      rc = SQLITE_NOMEM;
      snprintf(zErr, sizeof(zErr), "out of memory (test harness)");
    }
    zOut = sqlite3_str_finish(pOut);
    if( zOut==0 ) zOut = sqlite3_mprintf("");
  }
  return rc;
}

/* The database's state as text (0 connection: "closed"). */
static char *digest(sqlite3 *db){
  sqlite3_str *p;
  if( db==0 ) return sqlite3_mprintf("closed");
  p = sqlite3_str_new(0);
  tDigestRows(db, "SELECT type, name, sql FROM sqlite_schema ORDER BY name", p);
  tDigestRows(db, "SELECT t FROM marker", p);
  tDigestRows(db, "SELECT id, vec FROM emb", p);
  tDigestRows(db, "SELECT id, json FROM meta", p);
  /* the fields' columns and their list (veles_add_field back-fills) */
  tDigestRows(db, "SELECT * FROM meta_data", p);
  tDigestRows(db, "SELECT * FROM meta_fields", p);
  tDigestRows(db, "SELECT id, vec FROM tmp", p);
  return sqlite3_str_finish(p);
}

static void removeFiles(void){
  char zCmd[64];
  snprintf(zCmd, sizeof(zCmd), "rm -f oom.db*");
  if( system(zCmd)!=0 ) exit(2);
}

static sqlite3 *setJournal(sqlite3 *db){
  if( db ){
    sqlite3_exec(db, "PRAGMA synchronous=OFF", 0, 0, 0);
    if( strcmp(zJournal, "wal")==0 ){
      sqlite3_exec(db, "PRAGMA journal_mode=wal", 0, 0, 0);
    }
  }
  return db;
}

/* ---- the loop -------------------------------------------------------- */

static char *azRef[NSTEP];       /* state after each step */
static char *azRefRows[NSTEP];   /* rows each step returns */
static long anAlloc[NSTEP];      /* allocations each step makes */
static sqlite3_int64 iBaseMem;   /* memory in use with no connection */
static int nIter = 0, nNomem = 0, nOk = 0, nBefore = 0;
#if defined(__SANITIZE_ADDRESS__)
static const int bSanitize = 1;  /* ASan is slow: fewer values of k */
#else
static const int bSanitize = 0;
#endif

static void reference(void){
  sqlite3 *db = 0;
  int i;
  removeFiles();
  for(i=0; i<NSTEP; i++){
    arm(0, 0);
    if( runStep(i, &db) ) fprintf(stderr, "reference step %d: %s\n", i, zErr);
    anAlloc[i] = nAlloc;
    disarm();
    if( i==0 ) setJournal(db);
    azRefRows[i] = sqlite3_mprintf("%s", i ? zOut : "");
    azRef[i] = digest(db);
  }
  tClose(db);
}

static void oomLoop(int iStep, int bPers, int nStride){
  long k;
  int nLoopFault = 0;
  for(k=1; k<=anAlloc[iStep]+1; k+=nStride){
    sqlite3 *db = 0;
    char zCase[80], *zBefore, *zGot;
    int i, rc;
    snprintf(zCase, sizeof(zCase), "%s.step%d.%s.%ld", zJournal, iStep,
             bPers ? "persist" : "once", k);
    removeFiles();
    for(i=0; i<iStep; i++){
      if( runStep(i, &db) ) fprintf(stderr, "setup %d: %s\n", i, zErr);
      if( i==0 ) setJournal(db);
    }
    zBefore = digest(db);
    arm(k, bPers);
    rc = runStep(iStep, &db);
    disarm();
    nIter++;
    if( nStepFault ) nLoopFault++;
    if( iStep==0 && db ) setJournal(db);
    /* 1. out of memory, or the right answer */
    if( rc ){
      nNomem++;
      /* sqlite3_load_extension() turns any failure of the entry point
      ** into SQLITE_ERROR "error during initialization: <message>" */
      if( !tCheck(zCase, (rc & 0xff)==SQLITE_NOMEM
                         || strstr(zErr, "out of memory")!=0
                         || (iStep==0 && strncmp(zErr, "error during "
                                         "initialization", 26)==0),
                  "fails with SQLITE_NOMEM") ){
        fprintf(stderr, "  got %d: %s\n", rc, zErr);
      }
      if( db && !sqlite3_get_autocommit(db) ){
        sqlite3_exec(db, "ROLLBACK", 0, 0, 0);
      }
    }else{
      nOk++;
      /* no rows: zOut may be 0 (the harness's "" was not allocated) */
      const char *zRows = zOut ? zOut : "";
      if( iStep>0
       && !tCheck(zCase, strcmp(zRows, azRefRows[iStep])==0, "the same rows") ){
        fprintf(stderr, "  expected %s\n  got      %s\n", azRefRows[iStep],
                zRows);
      }
    }
    /* 2. before or after */
    zGot = digest(db);
    if( strcmp(zGot, zBefore)==0 && strcmp(zGot, azRef[iStep])!=0 ){
      nBefore++;
      if( !tCheck(zCase, rc!=SQLITE_OK, "success changes the state") ){
        fprintf(stderr, "  got %s\n", zGot);
      }
      if( db==0 ){
        rc = runStep(0, &db);
        setJournal(db);
      }else{
        rc = runStep(iStep, &db);
      }
      if( !tCheck(zCase, rc==SQLITE_OK, "the step succeeds afterwards") ){
        fprintf(stderr, "  %s\n", zErr);
      }
    }else if( !tCheck(zCase, strcmp(zGot, azRef[iStep])==0,
                      "state is before or after") ){
      fprintf(stderr, "  rc %d %s\n  before %s\n  after  %s\n  got    %s\n",
              rc, zErr, zBefore, azRef[iStep], zGot);
    }
    sqlite3_free(zGot);
    sqlite3_free(zBefore);
    if( db ) tRows(zCase, db, "PRAGMA integrity_check", "ok");
    /* 3. and on to the end */
    for(i=iStep+1; db && i<NSTEP; i++){
      if( runStep(i, &db) ){
        tCheck(zCase, 0, "later steps succeed");
        fprintf(stderr, "  step %d: %s\n", i, zErr);
        break;
      }
    }
    zGot = digest(db);
    if( !tCheck(zCase, strcmp(zGot, azRef[NSTEP-1])==0, "end state") ){
      fprintf(stderr, "  expected %s\n  got      %s\n", azRef[NSTEP-1], zGot);
    }
    sqlite3_free(zGot);
    if( db ) tRows(zCase, db, "PRAGMA integrity_check", "ok");
    tClose(db);
    /* 4. nothing leaked */
    sqlite3_free(zOut);
    zOut = 0;
    if( !tCheck(zCase, sqlite3_memory_used()==iBaseMem,
                "memory in use is back to the baseline") ){
      fprintf(stderr, "  %lld bytes, baseline %lld\n", sqlite3_memory_used(),
              iBaseMem);
      iBaseMem = sqlite3_memory_used();
    }
  }
  printf("%s step %d %s: %ld allocations, k stride %d, %d runs with a "
         "fault\n", zJournal, iStep, bPers ? "persistent" : "once",
         anAlloc[iStep], nStride, nLoopFault);
}

/*
** Slots freed by a transaction become free at its commit, when no error
** can be reported any more. An allocation failure there once lost them for
** the connection's life: the next inserts grew the file instead of
** reusing them. For every k: 64 rows of 100 deleted in one statement with
** the k-th allocation failing; the DELETE fails or succeeds; either way,
** once it is done, 64 new rows fill the freed slots 0..63, and no slot
** past 99 is used (case oom.commit.<k>).
*/
static void testCommitSlots(void){
  long k, nRef = 0;
  int bDone = 0;
  for(k=1; !bDone; k++){
    sqlite3 *db = tOpen("commit.db");
    char zCase[64];
    int rc;
    snprintf(zCase, sizeof(zCase), "oom.commit.%ld", k);
    tExec(db, "DROP TABLE IF EXISTS c; CREATE VIRTUAL TABLE c USING "
              "vectors(dim=2);"
              "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n "
              "WHERE i<100) INSERT INTO c SELECT i, json_array(i, i) FROM n");
    arm(k, 0);
    rc = sqlite3_exec(db, "DELETE FROM c WHERE id<=64", 0, 0, 0);
    disarm();
    if( nStepFault==0 ){
      bDone = 1;                   /* k is past the step's allocations */
      nRef = nAlloc;
    }
    if( rc ) tExec(db, "DELETE FROM c WHERE id<=64");
    tExec(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n "
              "WHERE i<64) INSERT INTO c SELECT i+1000, json_array(i, i) "
              "FROM n");
    if( !tRows(zCase, db, "SELECT count(*), max(slot) FROM c_map", "100|99") ){
      fprintf(stderr, "  the DELETE returned %d\n", rc);
    }
    tClose(db);
  }
  printf("commit after freeing slots: %ld allocations, each failed once\n",
         nRef);
}

int main(int argc, char **argv){
  int bLong = tLong();
  static sqlite3_mem_methods wrap;
  /* Step 0 (open and load): an allocation failure inside
  ** sqlite3_veles_init() once made sqlite3_load_extension() unload
  ** veles.so while the connection still held its modules (SIGSEGV at
  ** close); the entry point now takes them back. VELES_OOM_LOAD=0 skips
  ** the step. */
  int bLoad = getenv("VELES_OOM_LOAD")==0 || atoi(getenv("VELES_OOM_LOAD"))>0;
  int m, i;
  sqlite3_config(SQLITE_CONFIG_GETMALLOC, &orig);
  wrap = orig;
  wrap.xMalloc = oomMalloc;
  wrap.xRealloc = oomRealloc;
  if( sqlite3_config(SQLITE_CONFIG_MALLOC, &wrap)!=SQLITE_OK ){
    fprintf(stderr, "cannot install the allocator\n");
    return 2;
  }
  tInit(argc, argv);
#ifdef OOM_CJSON
  testCjson();
#else
  printf("skipped: c.x (cJSON out of memory; a sanitizer owns malloc)\n");
#endif
  if( !bLoad ){
    printf("skipped: step 0 (load under OOM; VELES_OOM_LOAD=0)\n");
  }
  testCommitSlots();
  for(m=0; m<2; m++){
    zJournal = m ? "wal" : "delete";
    /* a first round loads the module and SQLite's global state */
    reference();
    for(i=0; i<NSTEP; i++){
      sqlite3_free(azRef[i]);
      sqlite3_free(azRefRows[i]);
    }
    sqlite3_free(zOut);
    zOut = 0;
    reference();
    sqlite3_free(zOut);
    zOut = 0;
    /* in use from now on: the reference digests and rows */
    iBaseMem = sqlite3_memory_used();
    for(i=bLoad ? 0 : 1; i<NSTEP; i++){
      /* the IVF steps replay a 4200-row insert in every run, and most of
      ** the add-field step's allocations are SQLite's schema reloads:
      ** fewer k */
      int nK = i>=STEP_IVF ? (bSanitize ? 6 : 15)
             : i==STEP_ADDFIELD ? (bSanitize ? 10 : 30)
             : (bSanitize ? 15 : 60);
      int nStride = bLong ? 1 : (int)(anAlloc[i]/nK + 1);
      oomLoop(i, 0, nStride);
      oomLoop(i, 1, nStride*4);
    }
    for(i=0; i<NSTEP; i++){
      sqlite3_free(azRef[i]);
      sqlite3_free(azRefRows[i]);
    }
    sqlite3_free(zOut);
    zOut = 0;
  }
  printf("%d runs, %ld faults injected: %d steps failed with NOMEM, "
         "%d succeeded; state before %d\n", nIter, nFault, nNomem, nOk,
         nBefore);
  return tDone();
}
