/*
** A `vectors` table's state on one connection, and its transactions.
**
** ONE STATE PER TABLE AND CONNECTION. SQLite may make several instances
** (sqlite3_vtab) of one table on a connection: it reconnects a table after
** a schema change, even in the middle of a transaction, and keeps the old
** instance in that transaction until it ends, calling xSync, xCommit,
** xRollback, xSavepoint ... on both. So everything a transaction changes
** lives in one VecState per (schema, identifier), on the connection's
** list, shared by its instances: the allocator and its undo log, the
** pending map rows, the side file handle, the statement cache. Because
** SQLite calls every instance, each transaction step here is idempotent:
** xBegin of a state already in a transaction, xCommit or xRollback of
** one that is not, and xSavepoint of a level the state has opened already
** do nothing.
**
** COMMIT ORDER (why kill -9 at any moment leaves the last committed state):
**   1. xUpdate writes a vector only into a slot no committed row
**      references (a free slot or one past the high-water mark), then
**      inserts/updates its map row. An overwrite is copy-on-write: new
**      slot, map row repointed, old slot freed when the transaction
**      commits.
**   2. xSync, which SQLite runs before committing its own files, writes
**      the buffered vectors, writes the slots the transaction wrote into
**      the database's copy (veccopy.c), numbers the commit in
**      <table>_config and the side file's header (vecbind.c), and
**      fdatasync()s the side file (skipped with PRAGMA synchronous=OFF).
**      If that fails, the transaction fails.
**   3. SQLite commits the map rows. xCommit does only memory bookkeeping
**      (and a compaction's rename, veccompact.c).
** A crash before 3 leaves unreferenced bytes in the side file, which the
** allocator reuses; a crash after 3 finds every referenced byte durable.
** ROLLBACK, ROLLBACK TO and a failed statement just forget: SQLite undoes
** the map rows, slotmap.c undoes the allocator.
**
** SLOT REUSE. Rollback-journal mode: a slot freed by a committed
** transaction is reused by later transactions (a writer commits only when
** no reader holds an older snapshot). WAL mode: a reader may keep an old
** snapshot open, so a freed slot waits until SQLite has restarted the WAL
** after the freeing commit: SQLite restarts it only when every reader
** uses the newest snapshot. The WAL header's checkpoint sequence number
** counts restarts; a freed slot is tagged with the value read after its
** commit and reused once the value differs.
**
** PENDING MAP ROWS. An INSERT of an id above every id of the table cannot
** conflict, so its map row waits (pending.c has the rule and when the rows
** are written); ROLLBACK and ROLLBACK TO drop them with the rest of the
** level.
**
** OTHER CONNECTIONS. Each connection keeps its own slot array. At the
** start of every write transaction (and before a search) PRAGMA
** data_version tells whether another connection committed; if so the
** array is rebuilt from <table>_map, so no stale state is ever used.
*/
#include "vectors.h"
#include <assert.h>
#include <stdio.h>
#include <string.h>

static const char *const azVecShadow[] = {
  "config", "map", "chunks", "ivf", 0
};

/* The SQL of cached statement eStmt (a VsShadowSql). */
static char *stmtSql(void *pCtx, int eStmt, const char *zSchema,
                     const char *zName){
  static const char *const azSql[STMT_COUNT] = {
    "SELECT slot FROM \"%w\".\"%w_map\" WHERE id=?1",
    "INSERT OR FAIL INTO \"%w\".\"%w_map\"(id, slot) VALUES(?1, ?2)",
    "UPDATE \"%w\".\"%w_map\" SET slot=?2 WHERE id=?1",
    "UPDATE \"%w\".\"%w_map\" SET id=?2 WHERE id=?1",
    "DELETE FROM \"%w\".\"%w_map\" WHERE id=?1 RETURNING slot",
    "SELECT max(id) FROM \"%w\".\"%w_map\"",
    "PRAGMA \"%w\".data_version",
    "PRAGMA \"%w\".journal_mode",
    "PRAGMA \"%w\".synchronous",
    "UPDATE \"%w\".\"%w_config\" SET v=?1 WHERE k='dim'",
    0,                          /* built below */
    "SELECT k, v FROM \"%w\".\"%w_config\" "
        "WHERE k IN ('format','copy','chunk','commit','nonce','slots')",
    "UPDATE \"%w\".\"%w_config\" SET v=CASE k WHEN 'commit' THEN ?1 "
        "WHEN 'nonce' THEN ?2 ELSE ?3 END WHERE k IN ('commit','nonce','slots')",
    "SELECT length(data) FROM \"%w\".\"%w_chunks\" WHERE chunk=?1",
    "INSERT OR REPLACE INTO \"%w\".\"%w_chunks\"(chunk, data) VALUES(?1, ?2)",
  };
  (void)pCtx;
  if( eStmt==STMT_INSERT_MANY ){
    /* OR FAIL: no statement journal, so no nested xSavepoint calls */
    sqlite3_str *pStr = sqlite3_str_new(0);
    int i;
    sqlite3_str_appendf(pStr, "INSERT OR FAIL INTO \"%w\".\"%w_map\"(id, slot) "
                        "VALUES(?,?)", zSchema, zName);
    for(i=1; i<VS_PENDING_MAX; i++) sqlite3_str_appendall(pStr, ",(?,?)");
    return sqlite3_str_finish(pStr);
  }
  return sqlite3_mprintf(azSql[eStmt], zSchema, zName);
}

/* Write pending map rows 0..nRow-1 (a VsPendingWrite). */
static int writePending(void *pOwner, int nRow, int *pnDone, char **pzErr){
  VecState *pS = (VecState*)pOwner;
  sqlite3_stmt *pStmt;
  int rc, i, eStmt = nRow==VS_PENDING_MAX ? STMT_INSERT_MANY : STMT_INSERT;
  *pnDone = 0;
  rc = vsShadowStmt(&pS->sh, eStmt, &pStmt);
  for(i=0; rc==SQLITE_OK && i<nRow; i++){
    int iParam = eStmt==STMT_INSERT ? 1 : 2*i+1;
    assert( i==0 || pS->pending.aId[i]>pS->pending.aId[i-1] );
    assert( pS->aPendSlot[i]>=0 && pS->aPendSlot[i]<pS->slots.nSlot );
    assert( pS->slots.aId[pS->aPendSlot[i]]==pS->pending.aId[i] );
    sqlite3_bind_int64(pStmt, iParam, pS->pending.aId[i]);
    sqlite3_bind_int64(pStmt, iParam+1, pS->aPendSlot[i]);
    if( eStmt==STMT_INSERT || i==nRow-1 ){
      sqlite3_step(pStmt);
      rc = sqlite3_reset(pStmt);          /* the step's error, if any */
      if( rc==SQLITE_OK ) *pnDone = i+1;
    }
  }
  if( rc && rc!=SQLITE_NOMEM ){
    *pzErr = sqlite3_mprintf("vectors: table %s: %s", pS->sh.zName,
                             sqlite3_errmsg(pS->sh.db));
  }
  return rc;
}

/* Move the slots of pending rows nDone.. down (a VsPendingShift). */
static void shiftPending(void *pOwner, int nDone, int nLeft){
  VecState *pS = (VecState*)pOwner;
  memmove(pS->aPendSlot, &pS->aPendSlot[nDone], sizeof(i64)*(size_t)nLeft);
}

int vsStateAddPending(VecTable *p, i64 iId, i64 iSlot){
  int rc = SQLITE_OK;
  assert( p->pS->slots.aId[iSlot]==iId );
  if( vsPendingFull(&p->pS->pending) ) rc = vsStateFlush(p);
  if( rc==SQLITE_OK ){
    p->pS->aPendSlot[vsPendingAdd(&p->pS->pending, iId)] = iSlot;
  }
  return rc;
}

static void freeState(VecState *pS){
  vsCompactUndo(pS);
  vsPendingDrop(&pS->pending);
  vsShadowClear(&pS->sh);
  if( !pS->bMemory ) vsFileClose(pS->pFile);
  vsSlotsClear(&pS->slots);
  vsNormsClear(&pS->norms);
  vsCodesClear(&pS->codes);
  vsIvfClear(&pS->ivf);
  sqlite3_free(pS->zBroken);
  sqlite3_free(pS->zStale);
  sqlite3_free(pS->aRun);
  sqlite3_free(pS);
}

void vsStateUnref(VecState *pS){
  VecState **pp;
  if( pS==0 || --pS->nRef>0 ) return;
  if( pS->bListed ){
    for(pp=vsConnVecStates(pS->pConn); *pp!=pS; pp=&(*pp)->pNext){
      assert( *pp!=0 );
    }
    *pp = pS->pNext;
  }
  /* the last instance goes: no transaction can still use the state */
  assert( !pS->bInTxn || pS->pending.nRow==0 );
  freeState(pS);
}

/* Open (or create) the side file of a new state; iNonce names the
** first commit of a new one (vecbind.c). */
static int openFile(VecState *pS, sqlite3 *db, int bCreate, i64 iNonce,
                    char **pzErr){
  char *zPath = 0, *zErr = 0;
  int rc = vsConfigSideFile(db, pS->sh.zSchema, pS->zIdent, &zPath,
                            &pS->bMemory);
  if( rc ) return rc;
  if( bCreate ){
    const char *zDbFile = sqlite3_db_filename(db, pS->sh.zSchema);
    rc = vsFileCreate(pS->bMemory ? 0 : zDbFile, pS->nDim, pS->zIdent,
                      pS->iFormat, &pS->pFile, &zErr);
    if( rc==SQLITE_OK ){
      /* a new file is synced at its first commit: it may carry the mark
      ** of LAZY SYNC (sidefile.c) from the start */
      rc = vsBindCreate(pS->pFile, iNonce,
                        pS->bCopy ? vsFileBoot(pS->pFile) : 0, &zErr);
      if( rc ){
        vsFileClose(pS->pFile);
        pS->pFile = 0;
        if( zPath ) vsFileUnlink(zPath);
      }
    }
    if( rc==SQLITE_OK && pS->bMemory ){
      rc = vsConnAddMemFile(pS->pConn, pS->zIdent, pS->pFile);
      if( rc ){
        vsFileClose(pS->pFile);
        pS->pFile = 0;
      }
    }
    if( zErr ){
      *pzErr = sqlite3_mprintf("vectors: table %s: %s", pS->sh.zName, zErr);
    }
  }else if( pS->bMemory ){
    pS->pFile = vsConnMemFile(pS->pConn, pS->zIdent);
    if( pS->pFile==0 && pS->bCopy ){
      /* another connection's (memdb), or a restored database: an empty
      ** store, loaded from the copy at the first use (vecbind.c) */
      rc = vsFileCreate(0, pS->nDim, pS->zIdent, pS->iFormat, &pS->pFile,
                        &zErr);
      if( rc==SQLITE_OK ){
        rc = vsConnAddMemFile(pS->pConn, pS->zIdent, pS->pFile);
        if( rc ){
          vsFileClose(pS->pFile);
          pS->pFile = 0;
        }
      }
    }else if( pS->pFile==0 ){
      pS->zBroken = sqlite3_mprintf("its in-memory vectors are gone (the "
          "table keeps no copy of them in the database: db_copy=off)");
      if( pS->zBroken==0 ) rc = SQLITE_NOMEM;
    }
  }else{
    rc = vsFileOpen(zPath, pS->nDim, pS->zIdent, pS->iFormat, &pS->pFile,
                    &zErr);
    if( rc==SQLITE_CORRUPT_VTAB && pS->iFormat>=2 ){
      /* missing or damaged: rebuilt from the copy at the first use, or
      ** reported with what to do (vecbind.c) */
      pS->zStale = zErr;
      zErr = 0;
      rc = SQLITE_OK;
    }else if( rc && rc!=SQLITE_NOMEM ){
      /* Connect anyway, so that DROP TABLE still works; every read and
      ** write of the table reports the problem. */
      pS->zBroken = zErr;
      zErr = 0;
      rc = SQLITE_OK;
    }
  }
  sqlite3_free(zErr);
  sqlite3_free(zPath);
  return rc;
}

int vsStateAcquire(VecTable *p, const char *zSchema, const char *zName,
                   const char *zIdent, int nDim, int eMetric, int iFormat,
                   int bCopy, int nChunkBytes, i64 iNonce, int bCreate,
                   char *zBroken, char **pzErr){
  VecState *pS;
  int rc;
  assert( p->pS==0 );
  assert( zBroken==0 || !bCreate );
  for(pS=*vsConnVecStates(p->pConn); zBroken==0 && pS; pS=pS->pNext){
    if( strcmp(pS->zIdent, zIdent)==0
     && sqlite3_stricmp(pS->sh.zSchema, zSchema)==0 ){
      assert( !bCreate );
      if( strcmp(pS->sh.zName, zName)!=0 ){
        /* a RENAME that was rolled back: the state took the new name,
        ** the schema is back to the old one */
        char *zNew = sqlite3_mprintf("%s", zName);
        if( zNew==0 ) return SQLITE_NOMEM;
        vsShadowFinalize(&pS->sh);
        sqlite3_free(pS->sh.zName);
        pS->sh.zName = zNew;
      }
      pS->nRef++;
      p->pS = pS;
      return SQLITE_OK;
    }
  }
  pS = sqlite3_malloc(sizeof(*pS));
  if( pS==0 ){
    sqlite3_free(zBroken);
    return SQLITE_NOMEM;
  }
  memset(pS, 0, sizeof(*pS));
  pS->nSaveFailed = -1;
  pS->nSaveDropped = -1;
  pS->zBroken = zBroken;
  pS->pConn = p->pConn;
  pS->nRef = 1;
  pS->bSync = 1;
  pS->nDim = nDim;
  pS->eMetric = eMetric;
  pS->iFormat = iFormat;
  pS->bCopy = bCopy;
  pS->nChunkBytes = nChunkBytes;
  memcpy(pS->zIdent, zIdent, VS_IDENT_LEN+1);
  vsSlotsInit(&pS->slots);
  pS->slots.iTag = nDim;
  vsPendingInit(&pS->pending, p->pConn, VS_PENDING_MAX, pS, writePending,
                shiftPending);
  rc = vsShadowInit(&pS->sh, p->db, zSchema, zName, azVecShadow, STMT_COUNT,
                    stmtSql, 0);
  if( rc==SQLITE_OK && zBroken==0 ){
    rc = openFile(pS, p->db, bCreate, iNonce, pzErr);
  }
  if( rc ){
    freeState(pS);
    return rc;
  }
  pS->bCreated = bCreate;
  if( zBroken==0 ){
    pS->bListed = 1;
    pS->pNext = *vsConnVecStates(p->pConn);
    *vsConnVecStates(p->pConn) = pS;
  }
  p->pS = pS;
  return SQLITE_OK;
}

int vsStateFind(sqlite3 *db, VsConn *pConn, const char *zSchema,
                const char *zName, sqlite3_stmt **ppCount, VecState **ppS){
  char *zSql = sqlite3_mprintf("SELECT count(*) FROM \"%w\".\"%w\"",
                               zSchema, zName);
  VecState *pS;
  int rc;
  *ppS = 0;
  if( zSql==0 ) return SQLITE_NOMEM;
  /* preparing the count connects the table: its state is then listed */
  rc = sqlite3_prepare_v2(db, zSql, -1, ppCount, 0);
  sqlite3_free(zSql);
  for(pS=*vsConnVecStates(pConn); rc==SQLITE_OK && pS; pS=pS->pNext){
    if( sqlite3_stricmp(pS->sh.zSchema, zSchema)==0
     && sqlite3_stricmp(pS->sh.zName, zName)==0 ){
      *ppS = pS;
      break;
    }
  }
  return rc;
}

int vsStateIsShadowName(const char *zSuffix){
  return vsShadowIsName(azVecShadow, zSuffix);
}

int vsStateStmt(VecTable *p, int eStmt, sqlite3_stmt **ppStmt){
  int rc = vsShadowStmt(&p->pS->sh, eStmt, ppStmt);
  return rc ? vsVectorsDbError(p, rc) : SQLITE_OK;
}
/* Run a cached statement that returns at most one integer; *piOut gets
** it (or is left alone when there is no row or it is NULL). */
int vsStateStepInt(VecTable *p, sqlite3_stmt *pStmt, i64 *piOut, int *pbRow){
  int rc = sqlite3_step(pStmt);
  if( pbRow ) *pbRow = 0;
  if( rc==SQLITE_ROW ){
    if( sqlite3_column_type(pStmt, 0)!=SQLITE_NULL ){
      if( piOut ) *piOut = sqlite3_column_int64(pStmt, 0);
      if( pbRow ) *pbRow = 1;
    }
    rc = sqlite3_step(pStmt);
  }
  if( rc==SQLITE_DONE ){
    rc = sqlite3_reset(pStmt);
  }else{
    sqlite3_reset(pStmt);
    rc = vsVectorsDbError(p, rc);
  }
  return rc;
}

/*
** The WAL's checkpoint sequence number (header bytes 12..15, big-endian),
** which SQLite increments each time it restarts the WAL; VS_SEQ_UNKNOWN
** when there is no readable WAL header. The header is read whole, as
** SQLite reads it: a VFS may serve a WAL file only in the pieces SQLite
** asks for (dqlite's aborts on a shorter read of the header).
*/
static i64 walSequence(VecTable *p){
  sqlite3_file *pWal = 0;
  unsigned char a[32];          /* the WAL header (WAL_HDRSIZE) */
  unsigned iMagic;
  if( sqlite3_file_control(p->db, p->pS->sh.zSchema,
                           SQLITE_FCNTL_JOURNAL_POINTER, &pWal)!=SQLITE_OK
   || pWal==0 || pWal->pMethods==0
   || pWal->pMethods->xRead(pWal, a, sizeof(a), 0)!=SQLITE_OK ){
    return VS_SEQ_UNKNOWN;
  }
  iMagic = ((unsigned)a[0]<<24) | (a[1]<<16) | (a[2]<<8) | a[3];
  if( iMagic!=0x377f0682 && iMagic!=0x377f0683 ) return VS_SEQ_UNKNOWN;
  return (i64)(((unsigned)a[12]<<24) | (a[13]<<16) | (a[14]<<8) | a[15]);
}

/* Reread the dimension when another connection may have fixed it. */
int vsStateRefreshDim(VecTable *p){
  sqlite3_stmt *pStmt = 0;
  char *zSql;
  int rc;
  i64 nDim = 0;
  if( p->pS->nDim>0 ) return SQLITE_OK;
  zSql = sqlite3_mprintf("SELECT v FROM \"%w\".\"%w_config\" WHERE k='dim'",
                         p->pS->sh.zSchema, p->pS->sh.zName);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc ) return vsVectorsDbError(p, rc);
  rc = vsStateStepInt(p, pStmt, &nDim, 0);
  sqlite3_finalize(pStmt);
  if( rc==SQLITE_OK && nDim>0 ){
    char *zErr = 0;
    p->pS->nDim = (int)nDim;
    p->pS->slots.iTag = nDim;
    if( p->pS->pFile ){
      rc = vsFileSetDim(p->pS->pFile, p->pS->nDim, 0, &zErr);
      if( rc ) rc = vsVectorsTakeError(p, rc, zErr);
    }
  }
  return rc;
}

/* The pager's change counter (SQLITE_FCNTL_DATA_VERSION, SQLite 3.26+):
** it moves with every commit, this connection's too, and costs no
** statement, so a lookup can afford it. */
static unsigned pagerVersion(VecTable *p){
  unsigned v = 0;
  sqlite3_file_control(p->db, p->pS->sh.zSchema, SQLITE_FCNTL_DATA_VERSION,
                       &v);
  return v;
}

/* Check the side file's binding unless done since the last commit. */
int vsStateBind(VecTable *p){
  VecState *pS = p->pS;
  unsigned v;
  int rc;
  if( pS->zBroken ) return SQLITE_OK;
  v = pagerVersion(p);
  if( pS->pFile && pS->bBound && pS->iBindVersion==v && !pS->bRebuild ){
    return SQLITE_OK;
  }
  rc = vsBindCheck(p);
  if( rc==SQLITE_OK ){
    pS->bBound = 1;
    pS->iBindVersion = v;
  }
  return rc;
}

/*
** Make p->pS->slots reflect the database as this connection sees it now,
** rebuilding it from <table>_map if another connection committed since
** it was built. When rebuilt, unreferenced slots are free (bDelay==0) or
** pending with WAL sequence iSeq (VS_SEQ_UNKNOWN: the next write
** transaction gives them its own).
*/
int vsStateRefreshSlots(VecTable *p, int bDelay, i64 iSeq){
  sqlite3_stmt *pStmt;
  i64 iVersion = 0, nSlotFile = 0;
  char *zSql, *zErr = 0;
  int rc;
  /* no byte of the side file is used before it is known to be right
  ** (a rebuild from the copy makes the slots invalid) */
  rc = vsStateBind(p);
  if( rc ) return rc;
  rc = vsStateStmt(p, STMT_DATAVERSION, &pStmt);
  if( rc==SQLITE_OK ) rc = vsStateStepInt(p, pStmt, &iVersion, 0);
  if( rc ) return rc;
  if( p->pS->bSlotsValid && iVersion==p->pS->iDataVersion ) return SQLITE_OK;
  p->pS->bSlotsValid = 0;
  p->pS->bSlotsAtBegin = 0;
  rc = vsStateRefreshDim(p);
  if( rc ) return rc;
  if( p->pS->nDim>0 ){
    rc = vsFileSlotCount(p->pS->pFile, &nSlotFile, &zErr);
    if( rc ) return vsVectorsTakeError(p, rc, zErr);
  }
  rc = vsSlotsLoadStart(&p->pS->slots, nSlotFile);
  if( rc ) return rc;
  zSql = sqlite3_mprintf("SELECT slot, id FROM \"%w\".\"%w_map\"",
                         p->pS->sh.zSchema, p->pS->sh.zName);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc ) return vsVectorsDbError(p, rc);
  while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
    i64 iSlot = sqlite3_column_int64(pStmt, 0);
    if( vsSlotsLoadRow(&p->pS->slots, iSlot, sqlite3_column_int64(pStmt, 1)) ){
      sqlite3_finalize(pStmt);
      if( iSlot>=0 && iSlot<nSlotFile ){
        vsVectorsSetError(p, "vectors: table %s: %s_map is damaged: slot "
                          "%lld is used twice", p->zName, p->zName, iSlot);
      }else{
        vsVectorsSetError(p, "vectors: table %s: side file is truncated: "
                          "slot %lld is referenced, the file holds %lld",
                          p->zName, iSlot, nSlotFile);
      }
      return SQLITE_CORRUPT_VTAB;
    }
  }
  sqlite3_finalize(pStmt);
  if( rc!=SQLITE_DONE ) return vsVectorsDbError(p, rc);
  rc = vsSlotsLoadFinish(&p->pS->slots, bDelay, iSeq, p->pS->iCommit);
  if( rc ) return rc;
  vsStateForgetSlots(p->pS);      /* any slot may hold other bytes now */
  p->pS->iDataVersion = iVersion;
  p->pS->bSlotsValid = 1;
  return SQLITE_OK;
}

int vsStateUsable(VecTable *p){
  if( p->pS->zBroken ){
    vsVectorsSetError(p, "vectors: table %s: %s", p->zName, p->pS->zBroken);
    return SQLITE_CORRUPT_VTAB;
  }
  return SQLITE_OK;
}

void vsStateForgetSlot(VecState *pS, i64 iSlot){
  vsNormsForget(&pS->norms, iSlot);
  vsCodesForget(&pS->codes, iSlot);
  vsIvfForget(&pS->ivf, iSlot);
}

void vsStateForgetSlots(VecState *pS){
  pS->bWriteReady = pS->bReuseReady = 0;    /* the file may be another */
  vsNormsForgetAll(&pS->norms);
  vsCodesForgetAll(&pS->codes);
  vsIvfForgetAll(&pS->ivf);
}

/* The error for a map row whose slot does not hold that id. */
int vsStateMapDamaged(VecTable *p, i64 iId, i64 iSlot){
  vsVectorsSetError(p, "vectors: table %s: %s_map is damaged: id %lld "
                    "points to slot %lld", p->zName, p->zName, iId, iSlot);
  return SQLITE_CORRUPT_VTAB;
}

/* ------------------------------------------------------------------ */
/* Transactions (each step idempotent: see ONE STATE)                 */
/* ------------------------------------------------------------------ */

int vsStateBegin(VecTable *p){
  VecState *pS = p->pS;
  sqlite3_stmt *pStmt;
  i64 iSync = 2, iSeq;
  int rc;
  vsConnSettle(p->pConn);
  if( pS->bInTxn ) return SQLITE_OK;      /* another instance began it */
  if( pS->zBroken ) return SQLITE_OK;     /* writes will report it */
  assert( pS->pending.nRow==0 );
  rc = vsStateStmt(p, STMT_JOURNALMODE, &pStmt);
  if( rc ) return rc;
  rc = sqlite3_step(pStmt);
  pS->bWal = rc==SQLITE_ROW
      && sqlite3_stricmp((const char*)sqlite3_column_text(pStmt, 0), "wal")==0;
  rc = sqlite3_reset(pStmt);
  if( rc ) return vsVectorsDbError(p, rc);
  rc = vsStateStmt(p, STMT_SYNCHRONOUS, &pStmt);
  if( rc==SQLITE_OK ) rc = vsStateStepInt(p, pStmt, &iSync, 0);
  if( rc ) return rc;
  pS->bSync = iSync!=0;
  if( pS->pFile ){
    /* the commit syncs the file unless LAZY SYNC applies (sidefile.c) */
    vsFileSetWriteback(pS->pFile, pS->bSync
                       && (!pS->bCopy || vsFileBoot(pS->pFile)==0));
  }
  iSeq = pS->bWal ? walSequence(p) : 0;
  /* a file another connection rebuilt (or someone removed) is no longer
  ** the one open here: check the binding again, which reopens it */
  if( pS->pFile && !pS->bMemory && pS->iFormat>=2
   && !vsFileIsAt(pS->pFile, vsFilePath(pS->pFile)) ){
    char *zWhy = 0;
    rc = vsBindReopen(p, &zWhy);
    if( rc ) return vsVectorsTakeError(p, rc, zWhy);
    sqlite3_free(pS->zStale);
    pS->zStale = zWhy;
    pS->bBound = 0;
  }
  /* the allocator is derived only here: a read rebuilt it for its own
  ** purpose, with freed slots pending, not for writing */
  if( !pS->bSlotsAtBegin ) pS->bSlotsValid = 0;
  rc = vsStateRefreshSlots(p, pS->bWal, iSeq);
  if( rc ) return rc;
  pS->bSlotsAtBegin = 1;
  rc = vsSlotsReleasePending(&pS->slots, !pS->bWal, iSeq);
  if( rc ) return rc;
  /* Even inside an explicit transaction the map read here is the
  ** committed one: this table's first write of the transaction is what
  ** calls xBegin, and every instance shares this state (ONE STATE), so
  ** no deletion of this transaction can pass for a free slot. */
  vsSlotsBegin(&pS->slots);
  vsPendingForgetMax(&pS->pending);   /* others may have written */
  pS->bInTxn = 1;
  return SQLITE_OK;
}

int vsStateSync(VecTable *p){
  char *zErr = 0;
  int rc;
  if( p->pS->nSaveFailed>=0 ){
    vsVectorsSetError(p, "vectors: table %s: a compaction failed part-way "
                      "in this transaction: ROLLBACK it", p->zName);
    return SQLITE_ERROR;
  }
  if( p->pS->pFile==0 || p->pS->nSaveDropped>=0 ) return SQLITE_OK;
  /* SQLite lets xSync write (its nested statements do not commit) */
  rc = vsStateFlush(p);
  if( rc==SQLITE_OK && p->pS->bDirty ) rc = vsCopySync(p);
  if( rc==SQLITE_OK ) rc = vsBindCommit(p);
  if( rc ) return rc;
  rc = vsFileSync(p->pS->pFile, !p->pS->bSync ? VS_SYNC_OFF
                  : p->pS->bLazySync ? VS_SYNC_LAZY : VS_SYNC_FULL, &zErr);
  if( rc ) return vsVectorsTakeError(p, rc, zErr);
  return SQLITE_OK;
}

int vsStateCommit(VecTable *p){
  VecState *pS = p->pS;
  /* Memory bookkeeping only (and a compaction's rename, which cannot
  ** fail): SQLite has committed already. A table created in this
  ** transaction had no xBegin, yet its slots commit. */
  assert( pS->pending.nRow==0 );          /* xSync wrote them */
  if( pS->bDirty && pS->iFormat>=2 && pS->iCommitNext>0 ){
    /* the commit vecbind.c numbered in xSync has happened */
    pS->iCommit = pS->iCommitNext;
    pS->iNonce = pS->iNonceNext;
  }
  vsSlotsCommit(&pS->slots, pS->bWal, pS->bWal ? walSequence(p) : 0,
                pS->iCommit);
  vsCompactCommit(pS);
  pS->nSaveDropped = -1;
  /* the pair is this commit's: both halves were written by it */
  if( pS->bBound ) pS->iBindVersion = pagerVersion(p);
  pS->bDirty = 0;
  pS->iCommitNext = 0;
  pS->bLazySync = 0;
  pS->bWriteReady = pS->bReuseReady = 0;
  pS->bCreated = 0;
  pS->bInTxn = 0;
  vsCopyForget(pS);
  return SQLITE_OK;
}

/* Put the in-memory dimension back to what the restored state holds. */
void vsStateRestoreDim(VecState *pS){
  if( pS->nDim!=(int)pS->slots.iTag ){
    vsStateForgetSlots(pS);
    pS->nDim = (int)pS->slots.iTag;
    if( pS->pFile ){
      char *zErr = 0;
      vsFileSetDim(pS->pFile, pS->nDim, 0, &zErr);
      sqlite3_free(zErr);
    }
  }
}

int vsStateRollback(VecTable *p){
  VecState *pS = p->pS;
  vsCompactUndo(pS);
  pS->nSaveFailed = -1;
  pS->nSaveDropped = -1;
  vsPendingDrop(&pS->pending);
  pS->bInTxn = 0;
  pS->bDirty = 0;
  pS->iCommitNext = 0;
  pS->bLazySync = 0;
  pS->bWriteReady = pS->bReuseReady = 0;
  pS->bBound = 0;           /* check again: xSync may have moved the file */
  vsCopyForget(pS);
  if( pS->pFile ) vsFileDiscard(pS->pFile);
  vsSlotsRollback(&pS->slots);
  vsStateRestoreDim(pS);
  if( pS->bCreated && pS->pFile ){
    /* the CREATE itself is rolled back: its side file must go */
    if( pS->bMemory ){
      vsConnDropMemFile(p->pConn, pS->zIdent);
    }else{
      char *zPath = sqlite3_mprintf("%s", vsFilePath(pS->pFile));
      vsFileClose(pS->pFile);
      if( zPath ) vsFileUnlink(zPath);
      sqlite3_free(zPath);
    }
    pS->pFile = 0;
    sqlite3_free(pS->zBroken);
    pS->zBroken = sqlite3_mprintf("its creation was rolled back");
  }
  return SQLITE_OK;
}

int vsStateSavepoint(VecTable *p, int iSavepoint){
  VecState *pS = p->pS;
  /* pending rows belong to the enclosing level: write them first; and
  ** the buffered vectors, so that the side file holds every slot the map
  ** references whatever reads it next */
  char *zErr = 0;
  int rc = vsStateFlush(p);
  if( rc==SQLITE_OK && pS->pFile ){
    rc = vsFileFlush(pS->pFile, &zErr);
    if( rc ) return vsVectorsTakeError(p, rc, zErr);
  }
  /* ... and the database's copy of the slots written so far: a DROP
  ** TABLE in this level ends this state, and a ROLLBACK TO that brings
  ** the table back must find them in the copy */
  if( rc==SQLITE_OK && pS->nRun>0 ){
    rc = vsCopySync(p);
    if( rc==SQLITE_OK ) vsCopyForget(pS);
  }
  if( rc ) return rc;
  /* an instance that joins late is told of the level open already */
  if( iSavepoint<pS->slots.nSave ) return SQLITE_OK;
  return vsSlotsSavepoint(&pS->slots, iSavepoint);
}

/* Levels iSavepoint.. are released: what happened with n levels open
** (a compaction, a failed one) now belongs to the level below. */
static int levelsAfterRelease(int n, int iSavepoint){
  if( iSavepoint<0 ) iSavepoint = 0;
  return n>iSavepoint ? iSavepoint : n;
}

int vsStateReleaseSavepoint(VecTable *p, int iSavepoint){
  VecState *pS = p->pS;
  pS->nSaveBefore = levelsAfterRelease(pS->nSaveBefore, iSavepoint);
  pS->nSaveFailed = levelsAfterRelease(pS->nSaveFailed, iSavepoint);
  pS->nSaveDropped = levelsAfterRelease(pS->nSaveDropped, iSavepoint);
  vsSlotsRelease(&pS->slots, iSavepoint);
  return SQLITE_OK;
}

int vsStateRollbackTo(VecTable *p, int iSavepoint){
  VecState *pS = p->pS;
  char *zErr = 0;
  int rc = SQLITE_OK;
  /* Buffered slots from before the savepoint stay referenced: write
  ** them out; those after it are garbage either way. */
  if( pS->pFile ) rc = vsFileFlush(pS->pFile, &zErr);
  /* every pending row was added after the innermost savepoint opened */
  vsPendingDrop(&pS->pending);
  if( iSavepoint<pS->nSaveFailed ) pS->nSaveFailed = -1;
  if( iSavepoint<pS->nSaveDropped ) pS->nSaveDropped = -1;   /* back */
  /* a level opened before the compaction goes back to before it */
  if( pS->pFileBefore && iSavepoint<pS->nSaveBefore ){
    if( pS->pFile ) vsFileDiscard(pS->pFile);
    vsCompactUndo(pS);
  }
  vsSlotsRollbackTo(&pS->slots, iSavepoint);
  vsStateRestoreDim(pS);
  if( rc ) return vsVectorsTakeError(p, rc, zErr);
  return SQLITE_OK;
}

/* ------------------------------------------------------------------ */
/* The map                                                            */
/* ------------------------------------------------------------------ */

/* Look up the slot of iId: *pbFound tells whether the id exists. */
int vsStateLookup(VecTable *p, i64 iId, i64 *piSlot, int *pbFound){
  sqlite3_stmt *pStmt;
  int rc = vsStateFlush(p);
  if( rc==SQLITE_OK ) rc = vsStateStmt(p, STMT_LOOKUP, &pStmt);
  if( rc ) return rc;
  sqlite3_bind_int64(pStmt, 1, iId);
  rc = sqlite3_step(pStmt);
  *pbFound = rc==SQLITE_ROW;
  if( rc==SQLITE_ROW ) *piSlot = sqlite3_column_int64(pStmt, 0);
  rc = sqlite3_reset(pStmt);       /* a lookup by primary key: one row */
  return rc ? vsVectorsDbError(p, rc) : SQLITE_OK;
}

/* Run a cached write statement with up to two integer parameters. */
int vsStateRun(VecTable *p, int eStmt, i64 iA, i64 iB){
  sqlite3_stmt *pStmt;
  int rc = vsStateFlush(p);
  if( rc==SQLITE_OK ) rc = vsStateStmt(p, eStmt, &pStmt);
  if( rc ) return rc;
  sqlite3_bind_int64(pStmt, 1, iA);
  if( sqlite3_bind_parameter_count(pStmt)>=2 ) sqlite3_bind_int64(pStmt, 2, iB);
  return vsStateStepInt(p, pStmt, 0, 0);
}

/* Write the connection's pending rows (pending.c). */
int vsStateFlush(VecTable *p){
  char *zErr = 0;
  int rc = vsPendingFlushAll(p->pConn, &zErr);
  if( rc ) return vsVectorsAdoptError(p, rc, zErr);
  return SQLITE_OK;
}

/* Make pending.iMaxId known: the largest id of the table (pending.c). */
int vsStateKnowMaxId(VecTable *p){
  sqlite3_stmt *pStmt;
  char *zErr = 0;
  int rc;
  if( p->pS->pending.bMaxKnown ) return SQLITE_OK;
  rc = vsStateStmt(p, STMT_MAXID, &pStmt);
  if( rc ) return rc;
  rc = vsPendingKnowMaxId(&p->pS->pending, pStmt, &zErr);
  if( rc ) return zErr ? vsVectorsAdoptError(p, rc, zErr) : vsVectorsDbError(p, rc);
  return SQLITE_OK;
}
