/*
** The IVF index's long work (a build, a load, a refresh of many rows) as
** an app sees it: stopped by sqlite3_interrupt(), and reported, so that
** an app can show a progress bar, by
**
**   SELECT veles_index('emb');   -- JSON, see docs/search.md
**
** STOPPING. SQLite 3.40 has no sqlite3_is_interrupted(), but a statement
** stepped after sqlite3_interrupt() fails with SQLITE_INTERRUPT: the work
** steps a "SELECT 1" of its connection every IVF_POLL_ROWS rows (ivf.c
** asks xStop).
**
** PROGRESS. Work under way is listed process-wide (a mutex guards the
** list) under the key "<database file name>\n<table identifier>", so any
** connection of the process to the same database sees it: the app runs
** 'optimize' on one connection and asks veles_index() on another. Work in
** another process is not seen.
*/
#include "vectors.h"
#include <assert.h>
#include <pthread.h>
#include <string.h>

typedef struct WorkEntry WorkEntry;
struct WorkEntry {
  WorkEntry *pNext;
  char *zKey;
  const char *zWork;            /* "build", "load" or "refresh" */
  i64 nDone, nTotal;
};

static pthread_mutex_t workMutex = PTHREAD_MUTEX_INITIALIZER;
static WorkEntry *pWorkList = 0;

/* The key of table pS's work (sqlite3_mprintf; 0 on OOM). */
static char *workKey(sqlite3 *db, VecState *pS){
  const char *zFile = sqlite3_db_filename(db, pS->sh.zSchema);
  return sqlite3_mprintf("%s\n%s", zFile ? zFile : "", pS->zIdent);
}

static int workStop(void *pArg){
  VsIvfWork *w = (VsIvfWork*)pArg;
  int rc;
  if( w->pPoll==0
   && sqlite3_prepare_v2(w->db, "SELECT 1", -1, &w->pPoll, 0) ){
    return 0;                     /* cannot tell: go on */
  }
  rc = sqlite3_step(w->pPoll);
  sqlite3_reset(w->pPoll);
  return rc==SQLITE_INTERRUPT;
}

/* The first report of long work lists it (a search that has no such work
** costs no allocation and no lock); later ones update it. */
static void workProgress(void *pArg, const char *zWork, i64 nDone,
                         i64 nTotal){
  VsIvfWork *w = (VsIvfWork*)pArg;
  WorkEntry *pE = (WorkEntry*)w->pEntry;
  if( pE==0 ){
    if( nTotal<=0 ) return;
    pE = sqlite3_malloc(sizeof(*pE));
    if( pE==0 ) return;           /* out of memory: work goes unreported */
    memset(pE, 0, sizeof(*pE));
    pE->zKey = workKey(w->db, w->pS);
    if( pE->zKey==0 ){
      sqlite3_free(pE);
      return;
    }
    pthread_mutex_lock(&workMutex);
    pE->pNext = pWorkList;
    pWorkList = pE;
    pthread_mutex_unlock(&workMutex);
    w->pEntry = pE;
  }
  pthread_mutex_lock(&workMutex);
  pE->zWork = zWork;
  pE->nDone = nDone;
  pE->nTotal = nTotal;
  pthread_mutex_unlock(&workMutex);
}

void vsIvfWorkBegin(VecTable *p, VsIvfWork *w){
  memset(w, 0, sizeof(*w));
  w->db = p->db;
  w->pS = p->pS;
  w->pIvf = &p->pS->ivf;
  w->pIvf->xStop = workStop;
  w->pIvf->pStopArg = w;
  w->pIvf->xProgress = workProgress;
  w->pIvf->pProgressArg = w;
}

void vsIvfWorkEnd(VsIvfWork *w){
  WorkEntry *pE = (WorkEntry*)w->pEntry;
  if( pE ){
    WorkEntry **pp;
    pthread_mutex_lock(&workMutex);
    for(pp=&pWorkList; *pp && *pp!=pE; pp=&(*pp)->pNext){}
    assert( *pp==pE );
    if( *pp ) *pp = pE->pNext;
    pthread_mutex_unlock(&workMutex);
    sqlite3_free(pE->zKey);
    sqlite3_free(pE);
  }
  w->pIvf->xStop = 0;
  w->pIvf->pStopArg = 0;
  w->pIvf->xProgress = 0;
  w->pIvf->pProgressArg = 0;
  sqlite3_finalize(w->pPoll);
  memset(w, 0, sizeof(*w));
}

/* Append z as a JSON string. */
static void appendJsonString(sqlite3_str *pOut, const char *z){
  sqlite3_str_appendchar(pOut, 1, '"');
  for(; *z; z++){
    unsigned char c = (unsigned char)*z;
    if( c=='"' || c=='\\' ){
      sqlite3_str_appendchar(pOut, 1, '\\');
      sqlite3_str_appendchar(pOut, 1, (char)c);
    }else if( c<0x20 ){
      sqlite3_str_appendf(pOut, "\\u%04x", c);
    }else{
      sqlite3_str_appendchar(pOut, 1, (char)c);
    }
  }
  sqlite3_str_appendchar(pOut, 1, '"');
}

/* Append the work under way on table pS, as JSON, or null. */
static void appendWork(sqlite3_str *pOut, sqlite3 *db, VecState *pS){
  char *zKey = workKey(db, pS);
  WorkEntry *pE;
  int bFound = 0;
  if( zKey==0 ){
    sqlite3_str_appendall(pOut, "null");
    return;
  }
  pthread_mutex_lock(&workMutex);
  for(pE=pWorkList; pE; pE=pE->pNext){
    if( strcmp(pE->zKey, zKey)==0 ){
      sqlite3_str_appendf(pOut, "{\"work\":\"%s\",\"done\":%lld,"
          "\"total\":%lld}", pE->zWork, pE->nDone, pE->nTotal);
      bFound = 1;
      break;
    }
  }
  pthread_mutex_unlock(&workMutex);
  if( !bFound ) sqlite3_str_appendall(pOut, "null");
  sqlite3_free(zKey);
}

/*
** veles_index('t'): the index state of vectors table t on this
** connection, as JSON. See docs/search.md for its fields.
*/
void vsIvfStatusFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  VsConn *pConn = (VsConn*)sqlite3_user_data(ctx);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *zArg = (const char*)sqlite3_value_text(argv[0]);
  const char *zName;
  sqlite3_stmt *pCount = 0;
  sqlite3_str *pOut = 0;
  char *zSchema = 0, *zStoreErr = 0;
  VecState *pS = 0;
  VsIvfStoreInfo info;
  i64 nRows = 0, nIndexed = 0, s;
  int rc;
  (void)argc;
  if( zArg==0 ){
    sqlite3_result_error(ctx, "veles_index: expected a table name, got NULL",
                         -1);
    return;
  }
  if( vsSplitTableName(zArg, &zSchema, &zName) ){
    sqlite3_result_error_nomem(ctx);
    return;
  }
  rc = vsStateFind(db, pConn, zSchema, zName, &pCount, &pS);
  if( rc==SQLITE_NOMEM ) goto nomem;
  if( pS==0 ){
    char *zErr = sqlite3_mprintf("veles_index: expected the name of a "
                                 "vectors table, got '%s'", zArg);
    sqlite3_result_error(ctx, zErr ? zErr : "veles_index: no such table", -1);
    sqlite3_free(zErr);
    goto done;
  }
  /* the count makes the slot array this snapshot's */
  rc = sqlite3_step(pCount);
  if( rc==SQLITE_ROW ){
    nRows = sqlite3_column_int64(pCount, 0);
  }else{
    rc = sqlite3_reset(pCount);
    if( rc==SQLITE_NOMEM ) goto nomem;
    sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
    sqlite3_result_error_code(ctx, rc ? rc : SQLITE_ERROR);
    goto done;
  }
  for(s=0; s<pS->ivf.nAlloc && pS->ivf.nList>0; s++){
    nIndexed += pS->ivf.aListOf[s]>=0 && s<pS->slots.nSlot
             && pS->slots.aId[s]>=0;
  }
  rc = vsIvfStoreInfo(db, pS, &info, &zStoreErr);
  if( rc==SQLITE_NOMEM ) goto nomem;
  pOut = sqlite3_str_new(db);
  sqlite3_str_appendall(pOut, "{\"table\":");
  appendJsonString(pOut, pS->sh.zName);
  sqlite3_str_appendf(pOut, ",\"index\":\"%s\","
      "\"probe\":%d,\"rows\":%lld,\"lists\":%d,\"from\":%s,"
      "\"indexed\":%lld,\"pending\":%lld,\"stored\":",
      pS->idx.eIndex==VS_INDEX_IVF ? "ivf" : "none", pS->idx.nProbe, nRows,
      pS->ivf.nList, pS->ivf.nList==0 ? "null"
                     : pS->ivf.bAdopted ? "\"store\"" : "\"build\"",
      nIndexed, nRows-nIndexed>0 ? nRows-nIndexed : 0);
  if( zStoreErr ){
    sqlite3_str_appendall(pOut, "{\"error\":");
    appendJsonString(pOut, zStoreErr);
    sqlite3_str_appendchar(pOut, 1, '}');
  }else if( info.nList>0 ){
    sqlite3_str_appendf(pOut, "{\"lists\":%d,\"slots\":%lld,\"rows\":%lld,"
        "\"bytes\":%lld}", info.nList, info.nSlot, info.nBuilt, info.nBytes);
  }else{
    sqlite3_str_appendall(pOut, "null");
  }
  sqlite3_str_appendall(pOut, ",\"work\":");
  appendWork(pOut, db, pS);
  sqlite3_str_appendchar(pOut, 1, '}');
  if( sqlite3_str_errcode(pOut) ) goto nomem;
  sqlite3_result_text(ctx, sqlite3_str_finish(pOut), -1, sqlite3_free);
  pOut = 0;
  goto done;

nomem:
  sqlite3_result_error_nomem(ctx);
done:
  if( pOut ) sqlite3_free(sqlite3_str_finish(pOut));
  sqlite3_free(zStoreErr);
  sqlite3_finalize(pCount);
  sqlite3_free(zSchema);
}
