/*
** The `vectors` virtual table: VelesDB's VectorStorage through SQL.
**
**   CREATE VIRTUAL TABLE emb USING vectors(dim=384, metric=cosine);
**   INSERT OR REPLACE INTO emb(id, vec) VALUES (?, ?);     -- store
**   BEGIN; INSERT ...; INSERT ...; COMMIT;                 -- store_batch
**   SELECT vec FROM emb WHERE id = ?;                      -- retrieve
**   DELETE FROM emb WHERE id = ?;                          -- delete
**   COMMIT;                                                -- flush
**   SELECT count(*) FROM emb;  SELECT id FROM emb;         -- len, ids
**   SELECT id, distance FROM emb WHERE vec MATCH ? AND k = 10; -- search
**
** Columns: id INTEGER (0 ..= 2^63-1, also the rowid) and vec BLOB
** (dim little-endian f32; JSON text such as '[1,2,3]' is accepted on
** input), and two HIDDEN columns a search fills in: distance REAL and
** k INTEGER. The options are vecconfig.c's.
**
** STORAGE. The f32 data lives in a side file beside the database, named
** "<database file>-vectors-<identifier>" (format: sidefile.c). Everything
** else lives in four shadow tables, declared through xShadowName:
**   <table>_config(k TEXT PRIMARY KEY, v)   the settings (vecconfig.c)
**   <table>_map(id INTEGER PRIMARY KEY, slot INTEGER NOT NULL)
**   <table>_chunks(chunk INTEGER PRIMARY KEY, data BLOB)  the copy
**                                           (veccopy.c)
**   <table>_ivf(k INTEGER PRIMARY KEY, v BLOB)  the stored IVF index, a
**                                           hint only (ivfstore.c)
** The database is the source of truth: a slot's bytes count only while a
** committed <table>_map row references them. temp and :memory: databases
** keep the slots in memory (conn.c) and create no file.
**
** This file holds the virtual-table methods: connecting, planning scans
** by id, reading, and writing. What a transaction changes, and the order
** of writes and syncs that makes a commit durable, is vecstate.c; search
** planning and filtering is vecsearch.c.
**
** WRITES (xUpdate). A failure leaves nothing behind: the map writes go
** through SQLite (undone by its statement rollback), and the allocator is
** put back to the mark taken on entry. A conflict is found by the map's
** PRIMARY KEY before anything changes, which is what makes OR IGNORE
** work. An insert of an id above every id waits as a pending map row.
*/
#include "vectors.h"
#include "distance.h"
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

/* Replace the table's error message (printf-style). */
void vsVectorsSetError(VecTable *p, const char *zFormat, ...){
  va_list ap;
  va_start(ap, zFormat);
  vsVtabSetErrorV(&p->base, zFormat, ap);
  va_end(ap);
}

/* Take ownership of zErr (from a lower layer) as the table's error,
** prefixed with "vectors: table <name>: ". */
int vsVectorsTakeError(VecTable *p, int rc, char *zErr){
  if( rc==SQLITE_NOMEM ){
    sqlite3_free(zErr);
    return rc;
  }
  vsVectorsSetError(p, "vectors: table %s: %s", p->zName,
           zErr ? zErr : sqlite3_errstr(rc));
  sqlite3_free(zErr);
  return rc;
}

/* The SQLite error of a failed shadow-table statement, as the table's. */
int vsVectorsDbError(VecTable *p, int rc){
  if( rc==SQLITE_NOMEM ) return rc;
  vsVectorsSetError(p, "vectors: table %s: %s", p->zName,
                    sqlite3_errmsg(p->db));
  return rc;
}

/* Take over zErr (or leave the message alone when it is 0). */
int vsVectorsAdoptError(VecTable *p, int rc, char *zErr){
  return vsVtabAdoptError(&p->base, rc, zErr);
}

static void freeTable(VecTable *p){
  if( p==0 ) return;
  vsStateUnref(p->pS);
  if( p->pConn ) vsConnUnref(p->pConn);
  sqlite3_free(p->zName);
  sqlite3_free(p->aScratch);
  sqlite3_free(p->base.zErrMsg);
  sqlite3_free(p);
}

/* ------------------------------------------------------------------ */
/* Creating and connecting                                            */
/* ------------------------------------------------------------------ */

/* The columns; the last, named like the table, takes commands (as FTS5's
** does), unless the name is one of the others'. */
static int declareTable(sqlite3 *db, const char *zName){
  static const char *const azCol[] = {
    "id", "vec", "distance", "k", "rescore", "probe"
  };
  char *zSql;
  int rc, i, bCmd = 1;
  for(i=0; i<(int)(sizeof(azCol)/sizeof(azCol[0])); i++){
    if( sqlite3_stricmp(zName, azCol[i])==0 ) bCmd = 0;
  }
  zSql = sqlite3_mprintf("CREATE TABLE x(id INTEGER, vec BLOB, "
                         "distance REAL HIDDEN, k INTEGER HIDDEN, "
                         "rescore INTEGER HIDDEN, probe INTEGER HIDDEN%s%w%s)",
                         bCmd ? ", \"" : "", bCmd ? zName : "",
                         bCmd ? "\" HIDDEN" : "");
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_declare_vtab(db, zSql);
  sqlite3_free(zSql);
  if( rc==SQLITE_OK ){
    sqlite3_vtab_config(db, SQLITE_VTAB_CONSTRAINT_SUPPORT, 1);
  }
  return rc;
}

static VecTable *newTable(sqlite3 *db, VsConn *pConn, const char *zName){
  VecTable *p = sqlite3_malloc(sizeof(*p));
  if( p==0 ) return 0;
  memset(p, 0, sizeof(*p));
  p->db = db;
  p->pConn = pConn;
  vsConnRef(pConn);
  p->zName = sqlite3_mprintf("%s", zName);
  if( p->zName==0 ){
    freeTable(p);
    return 0;
  }
  return p;
}

/* xCreate and xConnect: argv[1] the schema, argv[2] the table name. */
static int vecInit(sqlite3 *db, VsConn *pConn, int bCreate, int argc,
                   const char *const *argv, sqlite3_vtab **ppVtab,
                   char **pzErr){
  VecTable *p;
  char zIdent[VS_IDENT_LEN+1];
  char *zBroken = 0;
  int nDim = 0, eMetric = 0, iFormat = VEC_FORMAT, bCopy = 1, rc;
  int nChunkBytes = VS_CHUNK_BYTES;
  VsIndexOpt idx = {VS_INDEX_NONE, 0};
  i64 iNonce = 0;
  *ppVtab = 0;
  vsConnSettle(pConn);
  if( bCreate ){
    unsigned char aRand[VS_IDENT_LEN/2];
    int i;
    rc = vsConfigParse(argc, argv, &nDim, &eMetric, &bCopy, &idx, pzErr);
    if( rc ) return rc;
    sqlite3_randomness(sizeof(aRand), aRand);
    for(i=0; i<(int)sizeof(aRand); i++){
      sqlite3_snprintf(3, &zIdent[i*2], "%02x", aRand[i]);
    }
    sqlite3_randomness(sizeof(iNonce), &iNonce);
    rc = vsConfigCreate(db, argv[1], argv[2], zIdent, nDim, eMetric, bCopy,
                        &idx, iNonce, pzErr);
  }else{
    /* the options were read at CREATE: the stored settings rule */
    rc = vsConfigRead(db, argv[1], argv[2], zIdent, &nDim, &eMetric,
                      &iFormat, &bCopy, &nChunkBytes, &idx, &zBroken);
    if( rc==SQLITE_CORRUPT_VTAB ) rc = SQLITE_OK;   /* see vecconfig.c */
  }
  if( rc ){
    sqlite3_free(zBroken);
    return rc;
  }
  p = newTable(db, pConn, argv[2]);
  if( p==0 ){
    sqlite3_free(zBroken);
    return SQLITE_NOMEM;
  }
  rc = vsStateAcquire(p, argv[1], argv[2], zIdent, nDim<0 ? 0 : nDim,
                      eMetric<0 ? 0 : eMetric, iFormat, bCopy, nChunkBytes,
                      iNonce, bCreate, zBroken, pzErr);
  if( rc==SQLITE_OK ){
    p->pS->idx = idx;
    rc = declareTable(db, argv[2]);
  }
  if( rc ){
    freeTable(p);
    return rc;
  }
  *ppVtab = &p->base;
  return SQLITE_OK;
}

static int vecCreate(sqlite3 *db, void *pAux, int argc,
                     const char *const *argv, sqlite3_vtab **ppVtab,
                     char **pzErr){
  return vecInit(db, (VsConn*)pAux, 1, argc, argv, ppVtab, pzErr);
}

static int vecConnect(sqlite3 *db, void *pAux, int argc,
                      const char *const *argv, sqlite3_vtab **ppVtab,
                      char **pzErr){
  return vecInit(db, (VsConn*)pAux, 0, argc, argv, ppVtab, pzErr);
}

static int vecDisconnect(sqlite3_vtab *pVtab){
  freeTable((VecTable*)pVtab);
  return SQLITE_OK;
}

static int vecDestroy(sqlite3_vtab *pVtab){
  VecTable *p = (VecTable*)pVtab;
  VecState *pS = p->pS;
  char *zPath = 0;
  int rc, bMemory = 0;
  if( pS->pFileBefore ){
    /* a ROLLBACK TO could bring back the compacted map without the file.
    ** SQLite reports no message of xDestroy's: the code says "locked" */
    sqlite3_log(SQLITE_LOCKED, "vectors: table %s: cannot DROP it in the "
                "transaction that compacted it: COMMIT first", p->zName);
    return SQLITE_LOCKED;
  }
  if( pS->pFile && !pS->bMemory ){
    char *zErr = 0;   /* the vectors written so far must be durable: a
                      ** ROLLBACK TO may bring the table back (sidefile.c) */
    rc = vsFileSync(pS->pFile, pS->bSync ? VS_SYNC_FULL : VS_SYNC_OFF, &zErr);
    if( rc ) return vsVectorsTakeError(p, rc, zErr);
  }
  vsPendingDrop(&pS->pending);      /* the map goes: nothing to write */
  if( pS->bInTxn ) pS->nSaveDropped = pS->slots.nSave;
  rc = vsShadowDrop(&pS->sh);
  if( rc ) return vsVectorsDbError(p, rc);
  /* The side file (or in-memory store) goes only once the drop has
  ** committed (conn.c: veles_txn's xCommit); a damaged identifier names
  ** no file of ours. */
  if( pS->zIdent[0]==0 ){
    freeTable(p);
    return SQLITE_OK;
  }
  rc = vsConfigSideFile(p->db, pS->sh.zSchema, pS->zIdent, &zPath, &bMemory);
  if( rc==SQLITE_OK ){
    rc = vsConnDeferUnlink(p->pConn, pS->sh.zSchema, pS->zIdent, zPath,
                           pS->bCreated);
  }
  sqlite3_free(zPath);
  if( rc ) return rc;
  freeTable(p);
  return SQLITE_OK;
}

static int vecRename(sqlite3_vtab *pVtab, const char *zNew){
  VecTable *p = (VecTable*)pVtab;
  char *zName = sqlite3_mprintf("%s", zNew);
  int rc = zName ? vsStateFlush(p) : SQLITE_NOMEM;
  if( rc==SQLITE_OK ){
    rc = vsShadowRename(&p->pS->sh, zNew);
    if( rc ) rc = vsVectorsDbError(p, rc);
  }
  if( rc ){
    sqlite3_free(zName);
    return rc;
  }
  sqlite3_free(p->zName);
  p->zName = zName;
  return SQLITE_OK;
}

static int vecShadowName(const char *zSuffix){
  return vsStateIsShadowName(zSuffix);
}

/* The id bounds a plan may carry, as idxNum bits and SQL operators. */
const VecIdBound vsVectorsIdBound[4] = {
  {VEC_PLAN_GT, ">"}, {VEC_PLAN_GE, ">="},
  {VEC_PLAN_LT, "<"}, {VEC_PLAN_LE, "<="},
};


/* Set *piOut to the integer pVal equals, if any: only then can an id be
** equal to pVal. */
int vsVectorsExactInteger(sqlite3_value *pVal, i64 *piOut){
  int eType = sqlite3_value_numeric_type(pVal);
  if( eType==SQLITE_INTEGER ){
    *piOut = sqlite3_value_int64(pVal);
    return 1;
  }
  if( eType==SQLITE_FLOAT ){
    double r = sqlite3_value_double(pVal);
    if( r>=-9223372036854775808.0 && r<9223372036854775808.0
     && r==(double)(i64)r ){
      *piOut = (i64)r;
      return 1;
    }
  }
  return 0;
}

/*
** Use the id bounds found by xBestIndex (aRange: the GT, GE, LT, LE
** constraints, -1 when absent; one lower and one upper bound at most):
** give each its argv slot after *pnArg and return their idxNum bits.
** *prCost is divided by rDiv per bound.
*/
int vsVectorsPlanIdBounds(sqlite3_index_info *pInfo, const int *aRange,
                        int *pnArg, double *prCost, double rDiv){
  int idxNum = 0, i;
  for(i=0; i<4; i++){
    if( aRange[i]<0 ) continue;
    if( i==1 && aRange[0]>=0 ) continue;
    if( i==3 && aRange[2]>=0 ) continue;
    idxNum |= vsVectorsIdBound[i].bit;
    pInfo->aConstraintUsage[aRange[i]].argvIndex = ++*pnArg;
    *prCost /= rDiv;
  }
  return idxNum;
}

/* Fix the table's dimension, which the first stored vector decides. */
static int fixDimension(VecTable *p, int nDim){
  char *zErr = 0;
  int rc = vsStateRun(p, STMT_SETDIM, nDim, 0);
  if( rc ) return rc;
  rc = vsFileSetDim(p->pS->pFile, nDim, 1, &zErr);
  if( rc ) return vsVectorsTakeError(p, rc, zErr);
  p->pS->nDim = nDim;
  p->pS->slots.iTag = nDim;
  return SQLITE_OK;
}

/* Store the vector at pVec into a fresh slot; *piSlot gets it. */
static int writeVector(VecTable *p, const void *pVec, i64 iId, i64 *piSlot){
  char *zErr = 0;
  int rc = vsSlotsAlloc(&p->pS->slots, piSlot);
  if( rc ) return rc;
  /* copy-on-write: a slot no state any reader may see references */
  assert( *piSlot>=0 && *piSlot<p->pS->slots.nSlot );
  assert( p->pS->slots.aId[*piSlot]<0 );
  rc = vsBindBeforeWrite(p);
  if( rc ) return rc;
  rc = vsFileWrite(p->pS->pFile, *piSlot, pVec, &zErr);
  if( rc ) return vsVectorsTakeError(p, rc, zErr);
  rc = vsCopyNote(p->pS, *piSlot);
  if( rc ) return rc;
  vsStateForgetSlot(p->pS, *piSlot);
  return vsSlotsSet(&p->pS->slots, *piSlot, iId);
}

/* Remove row iId: its map row goes, its slot is freed at commit. */
static int deleteRow(VecTable *p, i64 iId, int *pbFound){
  sqlite3_stmt *pStmt;
  i64 iSlot = -1;
  int rc = vsStateFlush(p);
  if( rc==SQLITE_OK ) rc = vsStateStmt(p, STMT_DELETE, &pStmt);
  if( rc ) return rc;
  sqlite3_bind_int64(pStmt, 1, iId);
  rc = vsStateStepInt(p, pStmt, &iSlot, pbFound);
  if( rc==SQLITE_OK && *pbFound ){
    if( iSlot<0 || iSlot>=p->pS->slots.nSlot || p->pS->slots.aId[iSlot]!=iId ){
      return vsStateMapDamaged(p, iId, iSlot);
    }
    rc = vsSlotsFree(&p->pS->slots, iSlot);
  }
  return rc;
}

/* Point row iId at a copy of pVec in a new slot (copy-on-write). */
static int replaceVector(VecTable *p, i64 iId, const void *pVec){
  i64 iOldSlot = -1, iSlot = -1;
  int bFound = 0;
  int rc = vsStateLookup(p, iId, &iOldSlot, &bFound);
  if( rc==SQLITE_OK && !bFound ){
    vsVectorsSetError(p, "vectors: table %s: row %lld vanished", p->zName, iId);
    rc = SQLITE_CORRUPT_VTAB;
  }
  if( rc==SQLITE_OK ) rc = writeVector(p, pVec, iId, &iSlot);
  if( rc==SQLITE_OK ) rc = vsStateRun(p, STMT_SETSLOT, iId, iSlot);
  if( rc==SQLITE_OK ) rc = vsSlotsFree(&p->pS->slots, iOldSlot);
  return rc;
}

/* The error of an insert whose id is taken (ids.c words it). */
static int uniqueError(VecTable *p){
  return vsVectorsAdoptError(p, SQLITE_CONSTRAINT, vsIdUniqueError(p->zName));
}

/* The next id for an insert without one: one past the largest. */
static int nextId(VecTable *p, i64 *piId){
  char *zErr = 0;
  int rc = vsStateKnowMaxId(p);
  if( rc==SQLITE_OK ){
    rc = vsIdNext(p->pS->pending.iMaxId, "vectors", piId, &zErr);
  }
  return rc ? vsVectorsAdoptError(p, rc, zErr) : SQLITE_OK;
}

/* Work out the id a written row gets (see vecUpdate). */
static int newRowId(VecTable *p, sqlite3_value **argv, i64 iOld, i64 *piNew){
  char *zErr = 0;
  int rc;
  sqlite3_value *pId = argv[2+VEC_COLUMN_ID];
  if( sqlite3_value_type(pId)==SQLITE_NULL
   && sqlite3_value_type(argv[1])!=SQLITE_NULL
   && (iOld<0 || sqlite3_value_int64(argv[1])!=iOld) ){
    pId = argv[1];                    /* an explicit rowid */
  }
  if( sqlite3_value_type(pId)==SQLITE_NULL && iOld<0 ){
    return nextId(p, piNew);
  }
  rc = vsIdFromValue(pId, "vectors", piNew, &zErr);
  return rc ? vsVectorsAdoptError(p, rc, zErr) : SQLITE_OK;
}

/*
** The vector argument of an INSERT or UPDATE: *ppVec points at it (the
** value's own blob, p->aScratch, or *paOwned while the dimension is not
** fixed; the caller frees *paOwned), *pnVec gets its length.
*/
static int vectorArg(VecTable *p, sqlite3_value *pVal, const void **ppVec,
                     int *pnVec, float **paOwned){
  char *zErr = 0;
  int rc;
  if( p->pS->nDim==0 ){
    rc = vsVectorParse(pVal, "vectors", 0, paOwned, pnVec, &zErr);
    *ppVec = *paOwned;
    return vsVectorsAdoptError(p, rc, zErr);
  }
  if( p->nScratch<p->pS->nDim ){
    sqlite3_free(p->aScratch);
    p->aScratch = sqlite3_malloc64(sizeof(float)*(u64)p->pS->nDim);
    p->nScratch = p->aScratch ? p->pS->nDim : 0;
    if( p->aScratch==0 ) return SQLITE_NOMEM;
  }
  rc = vsVectorParseInto(pVal, "vectors", p->pS->nDim, p->aScratch, ppVec,
                         pnVec, &zErr);
  return vsVectorsAdoptError(p, rc, zErr);
}

/* INSERT of row iNew (OR REPLACE when the conflict mode says so). */
static int insertRow(VecTable *p, i64 iNew, const void *pVec,
                     const VsSlotsMark *pMark){
  i64 iSlot = -1;
  int rc = vsStateKnowMaxId(p);
  if( rc ) return rc;
  if( iNew>p->pS->pending.iMaxId ){
    /* above every id: no conflict possible, the map row can wait */
    rc = writeVector(p, pVec, iNew, &iSlot);
    if( rc==SQLITE_OK ) rc = vsStateAddPending(p, iNew, iSlot);
    return rc;
  }
  rc = vsStateFlush(p);
  if( rc==SQLITE_OK ) rc = writeVector(p, pVec, iNew, &iSlot);
  if( rc==SQLITE_OK ) rc = vsStateRun(p, STMT_INSERT, iNew, iSlot);
  if( (rc & 0xff)==SQLITE_CONSTRAINT ){
    /* the id exists: nothing was changed, so OR IGNORE can skip it */
    vsSlotsMarkRestore(&p->pS->slots, pMark);
    if( sqlite3_vtab_on_conflict(p->db)!=SQLITE_REPLACE ) return uniqueError(p);
    rc = replaceVector(p, iNew, pVec);
  }
  return rc;
}

/* UPDATE of row iOld: to id iNew, and to vector pVec unless it is 0. */
static int updateRow(VecTable *p, i64 iOld, i64 iNew, const void *pVec){
  i64 iSlot = -1;
  int rc = SQLITE_OK, bFound = 0;
  if( iNew!=iOld ){
    rc = vsStateLookup(p, iNew, &iSlot, &bFound);
    if( rc==SQLITE_OK && bFound ){
      if( sqlite3_vtab_on_conflict(p->db)!=SQLITE_REPLACE ){
        return uniqueError(p);
      }
      rc = deleteRow(p, iNew, &bFound);               /* OR REPLACE */
    }
    if( rc==SQLITE_OK ) rc = vsStateLookup(p, iOld, &iSlot, &bFound);
    if( rc==SQLITE_OK ) rc = vsStateRun(p, STMT_MOVE, iOld, iNew);
    if( rc==SQLITE_OK ) vsPendingSawId(&p->pS->pending, iNew);
    if( rc==SQLITE_OK && bFound ) rc = vsSlotsSet(&p->pS->slots, iSlot, iNew);
  }
  if( rc==SQLITE_OK && pVec ) rc = replaceVector(p, iNew, pVec);
  return rc;
}

/*
** INSERT, UPDATE and DELETE. A failure leaves nothing behind: the map
** writes go through SQLite (undone by its statement rollback), and the
** allocator is put back to the mark taken on entry. A conflict is found
** by the map's PRIMARY KEY before anything changes, which is what makes
** OR IGNORE work.
*/
/* INSERT INTO t(t) VALUES('<command>'). */
static int runCommand(VecTable *p, sqlite3_value **argv){
  const char *zCmd = (const char*)sqlite3_value_text(argv[2+VEC_COLUMN_CMD]);
  if( sqlite3_value_type(argv[0])!=SQLITE_NULL ){
    vsVectorsSetError(p, "vectors: table %s: column %s takes commands: "
        "INSERT INTO %s(%s) VALUES('compact'), not an UPDATE", p->zName,
        p->zName, p->zName, p->zName);
    return SQLITE_ERROR;
  }
  int bKnown = zCmd && (strcmp(zCmd, "compact")==0
                        || strcmp(zCmd, "optimize")==0);
  if( bKnown
   && sqlite3_value_type(argv[2+VEC_COLUMN_ID])==SQLITE_NULL
   && sqlite3_value_type(argv[2+VEC_COLUMN_VEC])==SQLITE_NULL ){
    return zCmd[0]=='c' ? vsCompactRun(p) : vsIvfOptimize(p);
  }
  vsVectorsSetError(p, "vectors: table %s: expected the command 'compact' "
      "or 'optimize' alone in column %s, got '%.40s'%s", p->zName, p->zName,
      zCmd ? zCmd : "", bKnown ? " with an id or a vector" : "");
  return SQLITE_ERROR;
}

static int vecUpdate(sqlite3_vtab *pVtab, int argc, sqlite3_value **argv,
                     sqlite3_int64 *pRowid){
  VecTable *p = (VecTable*)pVtab;
  VsSlotsMark mark;
  float *aOwned = 0;
  const void *pVec = 0;
  int rc, bFound = 0, nVec = 0, i;
  i64 iOld = -1, iNew = -1;

  rc = vsStateUsable(p);
  if( rc ) return rc;
  if( argc==1 ){                                      /* DELETE */
    rc = deleteRow(p, sqlite3_value_int64(argv[0]), &bFound);
    if( rc==SQLITE_OK ) p->pS->bDirty = 1;
    return rc;
  }
  if( argc>2+VEC_COLUMN_CMD
   && sqlite3_value_type(argv[2+VEC_COLUMN_CMD])!=SQLITE_NULL
   && !sqlite3_value_nochange(argv[2+VEC_COLUMN_CMD]) ){
    return runCommand(p, argv);
  }
  for(i=VEC_COLUMN_DISTANCE; i<=VEC_COLUMN_PROBE; i++){
    static const char *const azName[] = {
      "distance", "k", "rescore", "probe"
    };
    if( sqlite3_value_type(argv[2+i])!=SQLITE_NULL
     && !sqlite3_value_nochange(argv[2+i]) ){
      vsVectorsSetError(p, "vectors: cannot write column %s: it is a search "
                        "%s", azName[i-VEC_COLUMN_DISTANCE],
                        i>=VEC_COLUMN_RESCORE ? "parameter" : "output");
      return SQLITE_ERROR;
    }
  }
  if( sqlite3_value_type(argv[0])!=SQLITE_NULL ){
    iOld = sqlite3_value_int64(argv[0]);
  }
  rc = newRowId(p, argv, iOld, &iNew);
  /* the vector, unless an UPDATE leaves it as it is */
  if( rc==SQLITE_OK
   && (iOld<0 || !sqlite3_value_nochange(argv[2+VEC_COLUMN_VEC])) ){
    rc = vectorArg(p, argv[2+VEC_COLUMN_VEC], &pVec, &nVec, &aOwned);
  }
  if( rc ) return rc;

  vsSlotsMarkGet(&p->pS->slots, &mark);
  if( pVec && p->pS->nDim==0 ) rc = fixDimension(p, nVec);
  if( rc==SQLITE_OK ){
    rc = iOld<0 ? insertRow(p, iNew, pVec, &mark)
                : updateRow(p, iOld, iNew, pVec);
  }
  sqlite3_free(aOwned);
  if( rc ){
    vsSlotsMarkRestore(&p->pS->slots, &mark);
    vsStateRestoreDim(p->pS);
    return rc;
  }
  p->pS->bDirty = 1;
  *pRowid = iNew;
  return SQLITE_OK;
}

static int vecBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo){
  VecTable *p = (VecTable*)pVtab;
  int i, iEq = -1, nArg = 0, idxNum = 0;
  int iMatch = -1, iK = -1, iLimit = -1, iOffset = -1, bKUnusable = 0;
  int iRescore = -1, bRescoreUnusable = 0, iProbe = -1, bProbeUnusable = 0;
  int aRange[4] = {-1, -1, -1, -1};     /* GT, GE, LT, LE constraint index */
  double rCost = 1e6;
  for(i=0; i<pInfo->nConstraint; i++){
    const struct sqlite3_index_constraint *c = &pInfo->aConstraint[i];
    switch( c->op ){
      case SQLITE_INDEX_CONSTRAINT_MATCH:
        if( c->iColumn!=VEC_COLUMN_VEC ){
          vsVectorsSetError(p, "vectors: MATCH searches the vec column only");
          return SQLITE_ERROR;
        }
        /* a search whose query is not known yet is no plan at all */
        if( !c->usable ) return SQLITE_CONSTRAINT;
        if( iMatch<0 ) iMatch = i;
        continue;
      case SQLITE_INDEX_CONSTRAINT_LIMIT:
        if( c->usable ) iLimit = i;
        continue;
      case SQLITE_INDEX_CONSTRAINT_OFFSET:
        if( c->usable ) iOffset = i;
        continue;
    }
    if( c->iColumn==VEC_COLUMN_K && c->op==SQLITE_INDEX_CONSTRAINT_EQ ){
      if( !c->usable ) bKUnusable = 1;
      else if( iK<0 ) iK = i;
      continue;
    }
    if( c->iColumn==VEC_COLUMN_RESCORE && c->op==SQLITE_INDEX_CONSTRAINT_EQ ){
      if( !c->usable ) bRescoreUnusable = 1;
      else if( iRescore<0 ) iRescore = i;
      continue;
    }
    if( c->iColumn==VEC_COLUMN_PROBE && c->op==SQLITE_INDEX_CONSTRAINT_EQ ){
      if( !c->usable ) bProbeUnusable = 1;
      else if( iProbe<0 ) iProbe = i;
      continue;
    }
    if( !c->usable ) continue;
    if( c->iColumn!=VEC_COLUMN_ID && c->iColumn!=-1 ) continue;
    switch( c->op ){
      case SQLITE_INDEX_CONSTRAINT_EQ: if( iEq<0 ) iEq = i; break;
      case SQLITE_INDEX_CONSTRAINT_GT: aRange[0] = i; break;
      case SQLITE_INDEX_CONSTRAINT_GE: aRange[1] = i; break;
      case SQLITE_INDEX_CONSTRAINT_LT: aRange[2] = i; break;
      case SQLITE_INDEX_CONSTRAINT_LE: aRange[3] = i; break;
    }
  }
  if( iMatch>=0 ){
    if( bKUnusable && iK<0 ) return SQLITE_CONSTRAINT;
    if( bRescoreUnusable && iRescore<0 ) return SQLITE_CONSTRAINT;
    if( bProbeUnusable && iProbe<0 ) return SQLITE_CONSTRAINT;
    return vsMatchBestIndex(p, pInfo, iMatch, iK, iRescore, iProbe, iLimit,
                            iOffset, iEq, aRange);
  }
  if( iK>=0 || bKUnusable ){
    vsVectorsSetError(p, "vectors: k = N needs vec MATCH: no MATCH given");
    return SQLITE_ERROR;
  }
  if( iRescore>=0 || bRescoreUnusable ){
    vsVectorsSetError(p, "vectors: rescore = N needs vec MATCH: no MATCH "
                      "given");
    return SQLITE_ERROR;
  }
  if( iProbe>=0 || bProbeUnusable ){
    vsVectorsSetError(p, "vectors: probe = N needs vec MATCH: no MATCH "
                      "given");
    return SQLITE_ERROR;
  }
  if( iEq>=0 ){
    idxNum = VEC_PLAN_EQ;
    pInfo->aConstraintUsage[iEq].argvIndex = ++nArg;
    pInfo->aConstraintUsage[iEq].omit = 1;
    pInfo->estimatedRows = 1;
    pInfo->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
    rCost = 10;
  }else{
    idxNum = vsVectorsPlanIdBounds(pInfo, aRange, &nArg, &rCost, 4);
    pInfo->estimatedRows = (sqlite3_int64)rCost;
  }
  if( pInfo->nOrderBy==1
   && (pInfo->aOrderBy[0].iColumn==VEC_COLUMN_ID
       || pInfo->aOrderBy[0].iColumn==-1) ){
    if( pInfo->aOrderBy[0].desc ) idxNum |= VEC_PLAN_DESC;
    pInfo->orderByConsumed = 1;
  }
  pInfo->idxNum = idxNum;
  pInfo->estimatedCost = rCost;
  return SQLITE_OK;
}

static int vecOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCursor){
  VecCursor *pCur = sqlite3_malloc(sizeof(*pCur));
  if( pCur==0 ) return SQLITE_NOMEM;
  memset(pCur, 0, sizeof(*pCur));
  pCur->bEof = 1;
  ((VecTable*)pVtab)->pS->nCursor++;
  *ppCursor = &pCur->base;
  return SQLITE_OK;
}

static int vecClose(sqlite3_vtab_cursor *pCursor){
  VecCursor *pCur = (VecCursor*)pCursor;
  ((VecTable*)pCursor->pVtab)->pS->nCursor--;
  sqlite3_finalize(pCur->pScan);
  vsMatchReset(pCur);
  sqlite3_free(pCur);
  return SQLITE_OK;
}

static int scanStep(VecCursor *pCur){
  VecTable *p = (VecTable*)pCur->base.pVtab;
  int rc = sqlite3_step(pCur->pScan);
  if( rc==SQLITE_ROW ){
    pCur->iId = sqlite3_column_int64(pCur->pScan, 0);
    pCur->iSlot = sqlite3_column_int64(pCur->pScan, 1);
    return SQLITE_OK;
  }
  pCur->bEof = 1;
  if( rc==SQLITE_DONE ) return SQLITE_OK;
  return vsVectorsDbError(p, rc);
}

static int vecFilter(sqlite3_vtab_cursor *pCursor, int idxNum,
                     const char *idxStr, int argc, sqlite3_value **argv){
  VecCursor *pCur = (VecCursor*)pCursor;
  VecTable *p = (VecTable*)pCursor->pVtab;
  int rc, iArg = 0;
  (void)idxStr;
  (void)argc;
  sqlite3_finalize(pCur->pScan);
  pCur->pScan = 0;
  pCur->bEof = 1;
  vsMatchReset(pCur);
  if( idxNum & VEC_PLAN_MATCH ) return vsMatchFilter(pCur, idxNum, argv);
  rc = vsStateUsable(p);
  if( rc==SQLITE_OK ) rc = vsStateFlush(p);
  /* the side file must hold this snapshot's vectors (vecbind.c) */
  if( rc==SQLITE_OK ) rc = vsStateBind(p);
  /* another connection may have stored the first vector */
  if( rc==SQLITE_OK && p->pS->nDim==0 ) rc = vsStateRefreshDim(p);
  if( rc ) return rc;
  if( idxNum & VEC_PLAN_EQ ){
    int bFound = 0;
    if( vsVectorsExactInteger(argv[0], &pCur->iId) ){
      rc = vsStateLookup(p, pCur->iId, &pCur->iSlot, &bFound);
      pCur->bEof = !bFound;
    }
    return rc;
  }else{
    sqlite3_str *pSql;
    const char *zSep = " WHERE";
    char *zSql = 0;
    int i;
    /* a full scan writes this connection's buffered vectors to the file,
    ** so that veles_check, which reads the file through its own handle,
    ** sees this transaction's writes too */
    if( p->pS->pFile ){
      rc = vsFileFlush(p->pS->pFile, &zSql);
      if( rc ) return vsVectorsTakeError(p, rc, zSql);
    }
    pSql = sqlite3_str_new(p->db);
    sqlite3_str_appendf(pSql, "SELECT id, slot FROM \"%w\".\"%w_map\"",
                        p->pS->sh.zSchema, p->zName);
    for(i=0; i<4; i++){
      if( idxNum & vsVectorsIdBound[i].bit ){
        sqlite3_str_appendf(pSql, "%s id %s ?%d", zSep, vsVectorsIdBound[i].zOp,
                            ++iArg);
        zSep = " AND";
      }
    }
    sqlite3_str_appendf(pSql, " ORDER BY id%s",
                        (idxNum & VEC_PLAN_DESC) ? " DESC" : "");
    zSql = sqlite3_str_finish(pSql);
    if( zSql==0 ) return SQLITE_NOMEM;
    rc = sqlite3_prepare_v2(p->db, zSql, -1, &pCur->pScan, 0);
    sqlite3_free(zSql);
    if( rc ) return vsVectorsDbError(p, rc);
    for(i=0; i<iArg; i++) sqlite3_bind_value(pCur->pScan, i+1, argv[i]);
    pCur->bEof = 0;
    return scanStep(pCur);
  }
}

static int vecNext(sqlite3_vtab_cursor *pCursor){
  VecCursor *pCur = (VecCursor*)pCursor;
  if( pCur->bSearch ) return vsMatchNext(pCur);
  if( pCur->pScan==0 ){
    pCur->bEof = 1;
    return SQLITE_OK;
  }
  return scanStep(pCur);
}

static int vecEof(sqlite3_vtab_cursor *pCursor){
  return ((VecCursor*)pCursor)->bEof;
}

static int vecColumn(sqlite3_vtab_cursor *pCursor, sqlite3_context *ctx,
                     int iCol){
  VecCursor *pCur = (VecCursor*)pCursor;
  VecTable *p = (VecTable*)pCursor->pVtab;
  if( iCol==VEC_COLUMN_ID ){
    sqlite3_result_int64(ctx, pCur->iId);
  }else if( iCol==VEC_COLUMN_VEC ){
    char *zErr = 0;
    float *aVec;
    int rc;
    if( sqlite3_vtab_nochange(ctx) ) return SQLITE_OK;
    /* read straight into the result's own memory: one copy */
    aVec = sqlite3_malloc64(sizeof(float)*(u64)p->pS->nDim);
    if( aVec==0 ) return SQLITE_NOMEM;
    rc = vsFileRead(p->pS->pFile, pCur->iSlot, aVec, &zErr);
    if( rc ){
      sqlite3_free(aVec);
      return vsVectorsTakeError(p, rc, zErr);
    }
    sqlite3_result_blob(ctx, aVec, p->pS->nDim*4, sqlite3_free);
  }else if( sqlite3_vtab_nochange(ctx) ){
    /* an UPDATE leaves the search columns alone */
  }else if( iCol==VEC_COLUMN_DISTANCE ){
    if( pCur->bSearch ) sqlite3_result_double(ctx, pCur->aHit[pCur->iHit].rDist);
  }else if( iCol==VEC_COLUMN_K ){
    if( pCur->bSearch && pCur->iK>=0 ) sqlite3_result_int64(ctx, pCur->iK);
  }else if( iCol==VEC_COLUMN_RESCORE ){
    if( pCur->bSearch && pCur->iRescore>=0 ){
      sqlite3_result_int64(ctx, pCur->iRescore);
    }
  }else if( iCol==VEC_COLUMN_PROBE ){
    if( pCur->bSearch && pCur->iProbe>=0 ){
      sqlite3_result_int64(ctx, pCur->iProbe);
    }
  }
  return SQLITE_OK;
}

static int vecRowid(sqlite3_vtab_cursor *pCursor, sqlite3_int64 *pRowid){
  *pRowid = ((VecCursor*)pCursor)->iId;
  return SQLITE_OK;
}

/* match(), where a MATCH was not made into a search (e.g. under OR). */
static void matchFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  (void)argv;
  sqlite3_result_error(ctx, "vectors: vec MATCH must be a search: WHERE "
      "vec MATCH ? AND k = ?, combined with other terms by AND only", -1);
}

static int vecFindFunction(sqlite3_vtab *pVtab, int nArg, const char *zName,
                           void (**pxFunc)(sqlite3_context*, int,
                                           sqlite3_value**),
                           void **ppArg){
  (void)pVtab;
  if( nArg==2 && sqlite3_stricmp(zName, "match")==0 ){
    *pxFunc = matchFunc;
    *ppArg = 0;
    return 1;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Transactions: vecstate.c keeps the state they change               */
/* ------------------------------------------------------------------ */

static int vecBegin(sqlite3_vtab *pVtab){
  return vsStateBegin((VecTable*)pVtab);
}
static int vecSync(sqlite3_vtab *pVtab){
  return vsStateSync((VecTable*)pVtab);
}
static int vecCommit(sqlite3_vtab *pVtab){
  return vsStateCommit((VecTable*)pVtab);
}
static int vecRollback(sqlite3_vtab *pVtab){
  return vsStateRollback((VecTable*)pVtab);
}
static int vecSavepoint(sqlite3_vtab *pVtab, int iSavepoint){
  return vsStateSavepoint((VecTable*)pVtab, iSavepoint);
}
static int vecRelease(sqlite3_vtab *pVtab, int iSavepoint){
  return vsStateReleaseSavepoint((VecTable*)pVtab, iSavepoint);
}
static int vecRollbackTo(sqlite3_vtab *pVtab, int iSavepoint){
  return vsStateRollbackTo((VecTable*)pVtab, iSavepoint);
}

static int vecIntegrity(sqlite3_vtab *pVtab, const char *zSchema,
                        const char *zTabName, int mFlags, char **pzErr){
  (void)mFlags;
  VecTable *p = (VecTable*)pVtab;
  return vsCheckIntegrity(p->db, p->pConn, zSchema, zTabName, pzErr);
}

static VsModule vectorsModule = {
  {
    /* iVersion    */ 4,
    /* xCreate     */ vecCreate,
    /* xConnect    */ vecConnect,
    /* xBestIndex  */ vecBestIndex,
    /* xDisconnect */ vecDisconnect,
    /* xDestroy    */ vecDestroy,
    /* xOpen       */ vecOpen,
    /* xClose      */ vecClose,
    /* xFilter     */ vecFilter,
    /* xNext       */ vecNext,
    /* xEof        */ vecEof,
    /* xColumn     */ vecColumn,
    /* xRowid      */ vecRowid,
    /* xUpdate     */ vecUpdate,
    /* xBegin      */ vecBegin,
    /* xSync       */ vecSync,
    /* xCommit     */ vecCommit,
    /* xRollback   */ vecRollback,
    /* xFindFunction */ vecFindFunction,
    /* xRename     */ vecRename,
    /* xSavepoint  */ vecSavepoint,
    /* xRelease    */ vecRelease,
    /* xRollbackTo */ vecRollbackTo,
    /* xShadowName */ vecShadowName,
  },
  /* xIntegrity (3.44+) */ vecIntegrity,
};

int vsVectorsRegister(sqlite3 *db, VsConn *pConn){
  int rc;
  vsConnRef(pConn);
  rc = sqlite3_create_module_v2(db, "vectors", &vectorsModule.base, pConn,
                                vsConnUnref);
  if( rc==SQLITE_OK ) rc = vsSearchRegister(db, pConn, 0);
  if( rc==SQLITE_OK ){
    rc = sqlite3_create_function(db, "veles_rebuild", 1,
                                 SQLITE_UTF8|SQLITE_DIRECTONLY, pConn,
                                 vsCopyRebuildFunc, 0, 0);
  }
  if( rc==SQLITE_OK ){
    rc = sqlite3_create_function(db, "veles_backup", 1,
                                 SQLITE_UTF8|SQLITE_DIRECTONLY, pConn,
                                 vsBackupFunc, 0, 0);
  }
  if( rc==SQLITE_OK ){
    rc = sqlite3_create_function(db, "veles_backup", 2,
                                 SQLITE_UTF8|SQLITE_DIRECTONLY, pConn,
                                 vsBackupFunc, 0, 0);
  }
  if( rc==SQLITE_OK ){
    rc = sqlite3_create_function(db, "veles_index", 1,
                                 SQLITE_UTF8|SQLITE_DIRECTONLY, pConn,
                                 vsIvfStatusFunc, 0, 0);
  }
  if( rc==SQLITE_OK ){
    rc = sqlite3_create_function(db, "veles_upgrade", 1,
                                 SQLITE_UTF8|SQLITE_DIRECTONLY, pConn,
                                 vsUpgradeFunc, 0, 0);
  }
  return rc;
}
