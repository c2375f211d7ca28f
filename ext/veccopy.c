/*
** The database's copy of a `vectors` table's vectors, and the rebuild of
** the side file from it (tables made with db_copy=on, the default).
**
** WHY. Everything SQLite users do to keep a database safe -- .backup,
** VACUUM INTO, copying or moving the file, restoring an older copy, page
** replication -- carries the database file alone. With every vector in
** the database's own pages too, each of them carries the vectors, and the
** side file becomes a working copy that can always be made again.
**
** LAYOUT.
**   <table>_chunks(chunk INTEGER PRIMARY KEY, data BLOB)
** Chunk c holds slots c*C .. c*C+C-1, where C (slots per chunk) is the
** largest power of two with C * dim * 4 <= the table's chunk size (at
** least 1; row 'chunk' of <table>_config: 64 KiB for tables made now,
** 256 KiB for those made before the row, vecconfig.c):
** slot s is at byte (s - c*C) * dim * 4 of chunk s / C, the same bytes the
** side file holds at 4096 + s * dim * 4. A chunk's blob holds a power of
** two of slots (up to C): it grows, doubling, when a slot past its end is
** written, so a small table does not pay for a whole chunk. A chunk never
** written has no row. The bytes of a slot count only while <table>_map
** references it, exactly as in the side file.
**
** WRITING. xUpdate notes each slot it writes (runs of consecutive slots).
** At xSync the noted slots are read back from the side file (after its
** buffer is flushed) and written into their chunks with incremental blob
** I/O (a chunk that must grow is rewritten whole, once per transaction):
** the copy changes in the same SQLite transaction as <table>_map, so it
** commits, rolls back and replicates with it. Blob handles are opened and
** closed within xSync: an open write handle would keep SQLite from
** committing.
**
** REBUILD. When the side file is missing, damaged, truncated, from another
** database or another commit, it is made again from this copy, as this
** connection's snapshot sees it. vecbind.c has taken the lock on the side
** file's directory (flock: one rebuilder at a time, across processes; no
** lock file is left beside the database; readers of a healthy file never
** take it) and looked again (another connection may have replaced the
** file meanwhile); then:
**   1. write "<side file>-rebuild": header, every chunk (the file as long
**      as the one it replaces, row 'slots' of <table>_config), and a
**      binding whose commit and floor are the snapshot's commit;
**   2. fdatasync it, rename it over the side file, fsync the directory.
** A crash leaves the old file or the new one (and a stray "-rebuild" file
** the next rebuild replaces). The chunks are read with an ordinary
** statement, so sqlite3_interrupt() stops a rebuild; nothing has changed
** then. Under a VFS without files (vecconfig.c) the in-memory working
** copy is loaded the same way, without the file steps.
*/
#include "vectors.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

i64 vsCopyChunkSlots(int nDim, int nChunkBytes){
  i64 n = 1;
  assert( nDim>0 );
  assert( vsConfigChunkBytesOk(nChunkBytes) );
  while( n*2*nDim*4<=nChunkBytes ) n *= 2;
  return n;
}

int vsCopyNote(VecState *pS, i64 iSlot){
  VsRun *pLast = pS->nRun ? &pS->aRun[pS->nRun-1] : 0;
  if( !pS->bCopy ) return SQLITE_OK;
  if( pLast && iSlot==pLast->iFirst+pLast->nSlot ){
    pLast->nSlot++;
    return SQLITE_OK;
  }
  if( pS->nRun>=pS->nRunAlloc ){
    int nNew = pS->nRunAlloc ? pS->nRunAlloc*2 : 16;
    VsRun *aNew = sqlite3_realloc64(pS->aRun, sizeof(VsRun)*(u64)nNew);
    if( aNew==0 ) return SQLITE_NOMEM;
    pS->aRun = aNew;
    pS->nRunAlloc = nNew;
  }
  pS->aRun[pS->nRun].iFirst = iSlot;
  pS->aRun[pS->nRun].nSlot = 1;
  pS->nRun++;
  return SQLITE_OK;
}

void vsCopyForget(VecState *pS){
  pS->nRun = 0;
}

static int runCompare(const void *a, const void *b){
  i64 x = ((const VsRun*)a)->iFirst, y = ((const VsRun*)b)->iFirst;
  return x<y ? -1 : x>y;
}

/* Sort the runs and merge those that overlap or touch. */
static void mergeRuns(VecState *pS){
  int i, n = 0;
  qsort(pS->aRun, (size_t)pS->nRun, sizeof(VsRun), runCompare);
  for(i=0; i<pS->nRun; i++){
    VsRun *pPrev = n ? &pS->aRun[n-1] : 0;
    if( pPrev && pS->aRun[i].iFirst<=pPrev->iFirst+pPrev->nSlot ){
      i64 iEnd = pS->aRun[i].iFirst+pS->aRun[i].nSlot;
      if( iEnd>pPrev->iFirst+pPrev->nSlot ) pPrev->nSlot = iEnd-pPrev->iFirst;
    }else{
      pS->aRun[n++] = pS->aRun[i];
    }
  }
  pS->nRun = n;
}

/* The error for a chunk whose blob is not what this layout makes. */
static int chunkDamaged(VecTable *p, i64 iChunk, i64 nByte, i64 nMax){
  vsVectorsSetError(p, "vectors: table %s: %s_chunks is damaged: chunk %lld "
      "holds %lld bytes, expected a whole number of %d-byte vectors, at "
      "most %lld bytes", p->zName, p->pS->sh.zName, iChunk, nByte,
      p->pS->nDim*4, nMax);
  return SQLITE_CORRUPT_VTAB;
}

/* The slots chunk iChunk holds now: *pnSlot, -1 when it has no row. */
static int chunkLength(VecTable *p, i64 iChunk, i64 nChunk, i64 *pnSlot){
  sqlite3_stmt *pStmt;
  i64 nByte = -1, nSlotBytes = (i64)p->pS->nDim*4;
  int rc = vsStateStmt(p, STMT_CHUNKLEN, &pStmt);
  if( rc ) return rc;
  sqlite3_bind_int64(pStmt, 1, iChunk);
  rc = vsStateStepInt(p, pStmt, &nByte, 0);
  if( rc ) return rc;
  if( nByte>=0 && (nByte%nSlotBytes || nByte>nChunk*nSlotBytes) ){
    return chunkDamaged(p, iChunk, nByte, nChunk*nSlotBytes);
  }
  *pnSlot = nByte<0 ? -1 : nByte/nSlotBytes;
  return SQLITE_OK;
}

/* Write chunk iChunk whole: slots iChunk*nChunk .. +nSlot-1 read from the
** side file (aBuf holds a whole chunk). */
static int putChunk(VecTable *p, i64 iChunk, i64 nChunk, i64 nSlot,
                    unsigned char *aBuf){
  VecState *pS = p->pS;
  sqlite3_stmt *pStmt;
  char *zErr = 0;
  int rc = vsFileReadSlots(pS->pFile, iChunk*nChunk, nSlot, aBuf, &zErr);
  if( rc ) return vsVectorsTakeError(p, rc, zErr);
  rc = vsStateStmt(p, STMT_CHUNKPUT, &pStmt);
  if( rc ) return rc;
  sqlite3_bind_int64(pStmt, 1, iChunk);
  sqlite3_bind_blob64(pStmt, 2, aBuf, (u64)(nSlot*pS->nDim*4), SQLITE_STATIC);
  rc = vsStateStepInt(p, pStmt, 0, 0);
  sqlite3_clear_bindings(pStmt);
  return rc;
}

/* Write slots iFirst .. iFirst+nSlot-1, all in chunk iChunk, into its
** blob, which is long enough. */
static int patchChunk(VecTable *p, sqlite3_blob **ppBlob, i64 iChunk,
                      i64 nChunk, i64 iFirst, i64 nSlot, unsigned char *aBuf){
  VecState *pS = p->pS;
  int nSlotBytes = pS->nDim*4;
  char *zErr = 0, *zTable;
  int rc = vsFileReadSlots(pS->pFile, iFirst, nSlot, aBuf, &zErr);
  if( rc ) return vsVectorsTakeError(p, rc, zErr);
  if( *ppBlob==0 ){
    zTable = sqlite3_mprintf("%s_chunks", pS->sh.zName);
    if( zTable==0 ) return SQLITE_NOMEM;
    rc = sqlite3_blob_open(p->db, pS->sh.zSchema, zTable, "data", iChunk, 1,
                           ppBlob);
    sqlite3_free(zTable);
  }else{
    rc = sqlite3_blob_reopen(*ppBlob, iChunk);
  }
  if( rc==SQLITE_OK ){
    rc = sqlite3_blob_write(*ppBlob, aBuf, (int)(nSlot*nSlotBytes),
                            (int)((iFirst-iChunk*nChunk)*nSlotBytes));
  }
  return rc ? vsVectorsDbError(p, rc) : SQLITE_OK;
}

int vsCopySync(VecTable *p){
  VecState *pS = p->pS;
  sqlite3_blob *pBlob = 0;
  unsigned char *aBuf;
  i64 nChunk;
  int rc = SQLITE_OK, i = 0;
  if( !pS->bCopy || pS->nRun==0 || pS->pFile==0 ) return SQLITE_OK;
  if( pS->nDim==0 ){
    /* the statement that fixed the dimension was rolled back (ROLLBACK
    ** TO): no vector of this transaction is left */
    vsCopyForget(pS);
    return SQLITE_OK;
  }
  mergeRuns(pS);
  nChunk = vsCopyChunkSlots(pS->nDim, pS->nChunkBytes);
  aBuf = sqlite3_malloc64((u64)(nChunk*pS->nDim*4));
  if( aBuf==0 ) return SQLITE_NOMEM;
  while( rc==SQLITE_OK && i<pS->nRun ){
    /* the runs (or parts of runs) in chunk c: i .. j-1, the last ending at
    ** iEnd (a run that goes on into the next chunk is cut there) */
    i64 c = pS->aRun[i].iFirst / nChunk, iLo = c*nChunk, iHi = iLo+nChunk;
    i64 iEnd = 0, nHave = -1;
    int j;
    for(j=i; j<pS->nRun && pS->aRun[j].iFirst<iHi; j++){
      iEnd = pS->aRun[j].iFirst+pS->aRun[j].nSlot;
    }
    if( iEnd>iHi ) iEnd = iHi;
    rc = chunkLength(p, c, nChunk, &nHave);
    if( rc ) break;
    if( nHave<iEnd-iLo ){
      /* grow it (a power of two of slots, at least doubling) and write it
      ** whole: a new write handle would see the old length */
      i64 nNew = 1;
      while( nNew<iEnd-iLo || nNew<2*nHave ) nNew *= 2;
      if( nNew>nChunk ) nNew = nChunk;
      if( pBlob ){
        sqlite3_blob_close(pBlob);
        pBlob = 0;
      }
      rc = putChunk(p, c, nChunk, nNew, aBuf);
    }else{
      int k;
      for(k=i; rc==SQLITE_OK && k<j; k++){
        i64 iFirst = pS->aRun[k].iFirst;
        i64 iLast = iFirst+pS->aRun[k].nSlot;
        if( iLast>iHi ) iLast = iHi;
        rc = patchChunk(p, &pBlob, c, nChunk, iFirst, iLast-iFirst, aBuf);
      }
    }
    /* the last run may go on into the next chunk */
    if( pS->aRun[j-1].iFirst+pS->aRun[j-1].nSlot>iHi ){
      pS->aRun[j-1].nSlot -= iHi-pS->aRun[j-1].iFirst;
      pS->aRun[j-1].iFirst = iHi;
      i = j-1;
    }else{
      i = j;
    }
  }
  if( pBlob ){
    int rc2 = sqlite3_blob_close(pBlob);
    if( rc==SQLITE_OK && rc2 ) rc = vsVectorsDbError(p, rc2);
  }
  sqlite3_free(aBuf);
  /* the runs stay (merged) until xCommit or xRollback: a retried xSync
  ** writes the same bytes again */
  return rc;
}

int vsCopyRewrite(VecTable *p, i64 nSlot){
  VecState *pS = p->pS;
  char *zSql;
  int rc;
  if( !pS->bCopy ) return SQLITE_OK;
  zSql = sqlite3_mprintf("DELETE FROM \"%w\".\"%w_chunks\"", pS->sh.zSchema,
                         pS->sh.zName);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_exec(p->db, zSql, 0, 0, 0);
  sqlite3_free(zSql);
  if( rc ) return vsVectorsDbError(p, rc);
  vsCopyForget(pS);
  if( nSlot==0 ) return SQLITE_OK;
  rc = vsCopyNote(pS, 0);
  if( rc==SQLITE_OK ){
    pS->aRun[0].nSlot = nSlot;        /* one run: every slot */
    rc = vsCopySync(p);
  }
  vsCopyForget(pS);
  return rc;
}

/* Load every chunk of the database's copy into pFile (empty, of the
** table's dimension). */
static int loadChunks(VecTable *p, VsFile *pFile){
  VecState *pS = p->pS;
  sqlite3_stmt *pStmt = 0;
  i64 nChunk = pS->nDim>0 ? vsCopyChunkSlots(pS->nDim, pS->nChunkBytes)
                          : 0;
  char *zSql, *zErr = 0;
  int rc, bOwn = 0;         /* bOwn: the error is this loop's, not a step's */
  zSql = sqlite3_mprintf("SELECT chunk, data FROM \"%w\".\"%w_chunks\"",
                         pS->sh.zSchema, pS->sh.zName);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc ) return vsVectorsDbError(p, rc);
  /* every step may be interrupted (sqlite3_interrupt): nothing is in
  ** place yet then */
  while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
    i64 iChunk = sqlite3_column_int64(pStmt, 0);
    const void *a = sqlite3_column_blob(pStmt, 1);
    i64 nByte = sqlite3_column_bytes(pStmt, 1);
    bOwn = 1;
    if( a==0 && nByte>0 ){
      rc = SQLITE_NOMEM;
      break;
    }
    if( nChunk==0 || iChunk<0 || iChunk>((i64)1<<40)/nChunk
     || sqlite3_column_type(pStmt, 1)!=SQLITE_BLOB ){
      vsVectorsSetError(p, "vectors: table %s: %s_chunks is damaged: row "
          "%lld is not a chunk of %d-dimensional vectors", p->zName,
          pS->sh.zName, iChunk, pS->nDim);
      rc = SQLITE_CORRUPT_VTAB;
      break;
    }
    if( nByte%(pS->nDim*4) || nByte>nChunk*pS->nDim*4 ){
      rc = chunkDamaged(p, iChunk, nByte, nChunk*pS->nDim*4);
      break;
    }
    rc = vsFileWriteSlots(pFile, iChunk*nChunk, nByte/(pS->nDim*4), a, &zErr);
    if( rc ){
      rc = vsVectorsTakeError(p, rc, zErr);
      break;
    }
    bOwn = 0;
  }
  if( rc==SQLITE_DONE ){
    rc = SQLITE_OK;
  }else if( !bOwn ){
    rc = vsVectorsDbError(p, rc);      /* interrupted, I/O error ... */
  }
  sqlite3_finalize(pStmt);
  return rc;
}

/* Fill pFile (empty, of the table's dimension) from the copy, as long as
** the file it replaces was (pC->nSlot: the tail past the copy's last
** chunk is slots no row references), and bind it to commit pC->iCommit
** alone: intact from that commit only. */
static int fillFrom(VecTable *p, VsFile *pFile, const VsDbCommit *pC){
  VsBinding b;
  char *zErr = 0;
  i64 nSlot = 0;
  int rc = loadChunks(p, pFile);
  if( rc ) return rc;
  if( pC->nSlot>0 ){
    rc = vsFileSlotCount(pFile, &nSlot, &zErr);
    if( rc==SQLITE_OK && nSlot<pC->nSlot ){
      float *aZero = sqlite3_malloc64(sizeof(float)*(u64)p->pS->nDim);
      if( aZero==0 ) return SQLITE_NOMEM;
      memset(aZero, 0, sizeof(float)*(size_t)p->pS->nDim);
      rc = vsFileWriteSlots(pFile, pC->nSlot-1, 1, aZero, &zErr);
      sqlite3_free(aZero);
    }
    if( rc ) return vsVectorsTakeError(p, rc, zErr);
  }
  memset(&b, 0, sizeof(b));
  b.iCommit = b.iFloor = pC->iCommit;
  b.nRing = 1;
  b.aRing[0].iCommit = pC->iCommit;
  b.aRing[0].iNonce = pC->iNonce;
  rc = vsFileWriteBinding(pFile, &b, &zErr);
  return rc ? vsVectorsTakeError(p, rc, zErr) : SQLITE_OK;
}

int vsCopyRebuildFile(VecTable *p, const VsDbCommit *pC, const char *zPath,
                      VsFile **ppNew){
  VecState *pS = p->pS;
  const char *zDb = sqlite3_db_filename(p->db, pS->sh.zSchema);
  char *zTemp, *zErr = 0;
  VsFile *pNew = 0;
  int rc;
  assert( pS->bCopy && pS->iFormat>=2 && !pS->bMemory );
  assert( pS->pending.nRow==0 && (pS->pFile==0 || !pS->bInTxn || !pS->bDirty) );
  *ppNew = 0;
  zTemp = sqlite3_mprintf("%s-rebuild", zPath);
  if( zTemp==0 ) return SQLITE_NOMEM;
  vsFileUnlink(zTemp);              /* left by a rebuild that crashed */
  rc = vsFileCreateAt(zTemp, zDb, pS->nDim, pS->zIdent, pS->iFormat, &pNew,
                      &zErr);
  if( rc==SQLITE_OK ) rc = fillFrom(p, pNew, pC);
  /* durable, then in place */
  if( rc==SQLITE_OK ) rc = vsFileInstall(pNew, zPath, &zErr);
  if( rc && pNew ){
    vsFileClose(pNew);
    pNew = 0;
    vsFileUnlink(zTemp);
  }
  sqlite3_free(zTemp);
  *ppNew = pNew;
  if( rc && zErr ) return vsVectorsTakeError(p, rc, zErr);
  sqlite3_free(zErr);
  return rc;
}

int vsCopyLoadMemory(VecTable *p, const VsDbCommit *pC){
  VecState *pS = p->pS;
  VsFile *pFile = pS->pFile;
  char *zErr = 0;
  int rc;
  assert( pS->bCopy && pS->bMemory && pFile );
  vsFileMemClear(pFile);
  rc = vsFileSetDim(pFile, pS->nDim, 0, &zErr);
  if( rc ) return vsVectorsTakeError(p, rc, zErr);
  /* a failed load leaves no binding: the next use loads again */
  rc = fillFrom(p, pFile, pC);
  if( rc ) vsFileMemClear(pFile);
  return rc;
}

void vsCopyRebuildFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  VsConn *pConn = (VsConn*)sqlite3_user_data(ctx);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *zArg = (const char*)sqlite3_value_text(argv[0]);
  const char *zName;
  char *zSchema;
  sqlite3_stmt *pStmt = 0;
  VecState *pS = 0;
  int rc;
  (void)argc;
  if( zArg==0 ){
    sqlite3_result_error(ctx, "veles_rebuild: expected a table name, got "
                         "NULL", -1);
    return;
  }
  if( vsSplitTableName(zArg, &zSchema, &zName) ){
    sqlite3_result_error_nomem(ctx);
    return;
  }
  rc = vsStateFind(db, pConn, zSchema, zName, &pStmt, &pS);
  if( rc==SQLITE_OK && pS==0 ){
    char *zErr = sqlite3_mprintf("veles_rebuild: expected the name of a "
        "vectors table, got '%s'", zArg);
    sqlite3_result_error(ctx, zErr, -1);
    sqlite3_free(zErr);
  }else if( rc==SQLITE_OK && !pS->bCopy ){
    char *zErr = sqlite3_mprintf("veles_rebuild: table %s keeps no copy of "
        "its vectors in the database (db_copy=off): there is nothing to "
        "rebuild its side file from", zArg);
    sqlite3_result_error(ctx, zErr, -1);
    sqlite3_free(zErr);
  }else if( rc==SQLITE_OK && pS->bDirty ){
    char *zErr = sqlite3_mprintf("veles_rebuild: table %s was changed by the "
        "open transaction: commit or roll back first", zArg);
    sqlite3_result_error(ctx, zErr, -1);
    sqlite3_free(zErr);
  }else if( rc==SQLITE_OK ){
    /* the scan checks the binding, which rebuilds when asked to */
    pS->bRebuild = 1;
    rc = sqlite3_step(pStmt);
    pS->bRebuild = 0;
    if( rc==SQLITE_ROW ){
      sqlite3_result_int64(ctx, sqlite3_column_int64(pStmt, 0));
      rc = SQLITE_OK;
    }
  }
  if( rc ){
    sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
    sqlite3_result_error_code(ctx, rc);
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zSchema);
}
