/*
** The upgrade of a format 1 `vectors` table (made by veles before the
** binding and the database's copy) to format 2 with the copy on:
**
**   SELECT veles_upgrade('emb');       -- returns the vectors it holds
**   SELECT veles_upgrade('aux.emb');   -- a table of an attached database
**
** FORMAT 1, as the release before the binding wrote it: <t>_config rows
** ident, dim, metric and format = 1 (an integer), no other rows; <t>_map
** as today; no <t>_chunks; a side file whose header says version 1 and
** holds zeros where version 2 keeps the binding (sidefile.c). Such a
** table keeps working as it always did: no binding, no copy.
**
** WHAT THE UPGRADE DOES, in one SQLite transaction of its own (BEGIN
** IMMEDIATE ... COMMIT, so it refuses to run inside one):
**   1. veles_check's checks (check.c): a side file that is missing,
**      damaged or holds a vector that is not finite is refused, since the
**      copy made from it becomes the table's source of truth;
**   2. create <t>_chunks and add the rows commit (0), nonce (random),
**      slots (the side file's length in slots) and copy (1) to <t>_config,
**      and set format to 2 (vecconfig.c's vsConfigUpgrade);
**   3. write every slot <t>_map references into <t>_chunks with the copy's
**      own writers (veccopy.c: the slots noted with vsCopyNote, written by
**      vsCopySync, the chunk layout theirs), read from the side file;
**   4. COMMIT.
** The side file is not written at all: after the commit the table is
** format 2 with a side file of version 1, which vsFileOpen refuses (its
** version is not the table's format) like any stale side file, so the
** table's next use rebuilds it from the copy (veccopy.c: temp file, sync,
** rename, directory sync) with a binding for commit 0. veles_upgrade()
** makes that next use itself, right after its commit, and returns the
** count it reads.
**
** WHY A CRASH LEAVES ONE OF THE TWO, NOTHING IN BETWEEN. Everything the
** upgrade changes before its commit is in SQLite's transaction; the side
** file is only read. kill -9 or a power cut before the commit leaves
** SQLite's journal (or an uncommitted WAL tail) to roll it back: format 1
** as it was, with its untouched side file. After the commit the table is
** format 2 and the copy holds every referenced slot (written from the
** side file, whose referenced slots were durable since the commits that
** made them, in the same transaction that changes the format): whatever
** the side file is then (version 1, a half-written "-rebuild" file, the
** rebuilt one), the binding check and the rebuild make it right from the
** copy. There is no moment at which a version 2 side file meets a format
** 1 database, so format 1's code needs no change to read one; the cost
** is the copy's write and one rebuild.
**
** OTHER CONNECTIONS. BEGIN IMMEDIATE takes the write lock, so no other
** writer is inside a transaction while the copy is written, and its
** referenced slots cannot change. A connection that has the table open
** as format 1 finds the upgrade at its next use: the binding check
** (vecbind.c), which reads the format with the commit number whenever a
** commit happened since it last looked (the pager's data version), has
** vsUpgradeFollow make the state format 2 with no side file open, and
** then rebuilds it, or finds it rebuilt. A WAL
** reader on a snapshot from before the upgrade goes on reading its open
** version 1 file (the rename leaves its inode alive), right for that
** snapshot.
**
** WHY A FUNCTION, not a command like 'compact' (INSERT INTO emb(emb)
** VALUES('upgrade')): the upgrade creates a shadow table, which a write to
** the virtual table itself (xUpdate, inside SQLite's statement on it)
** should not do. A function beside veles_rebuild and veles_check,
** DIRECTONLY like them, does not.
*/
#include "vectors.h"
#include <assert.h>
#include <string.h>

void vsUpgradeFollow(VecState *pS, const VsDbCommit *pC){
  assert( pS->iFormat<2 && pC->iFormat>=2 );
  assert( pS->pending.nRow==0 && !pS->bDirty );
  vsFileClose(pS->pFile);
  pS->pFile = 0;
  pS->iFormat = pC->iFormat;
  pS->bCopy = pC->bCopy;
  pS->nChunkBytes = pC->nChunkBytes;
  sqlite3_free(pS->zStale);
  pS->zStale = sqlite3_mprintf("its side file is of format 1 (the table "
                               "was upgraded to format %d)", pC->iFormat);
  pS->bSlotsValid = 0;
  vsStateForgetSlots(pS);
}

/* Step 3: every slot <t>_map references, into <t>_chunks. p is the
** function's stand-in for a table instance (for the writers' messages). */
static int fillCopy(VecTable *p, i64 nSlot){
  VecState *pS = p->pS;
  sqlite3_stmt *pStmt = 0;
  char *zSql;
  int rc;
  if( pS->nDim==0 ) return SQLITE_OK;       /* no vector stored yet */
  zSql = sqlite3_mprintf("SELECT slot FROM \"%w\".\"%w_map\" ORDER BY slot",
                         pS->sh.zSchema, pS->sh.zName);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc ) return vsVectorsDbError(p, rc);
  assert( pS->nRun==0 && !pS->bCopy );
  pS->bCopy = 1;                /* vsCopyNote and vsCopySync want it */
  pS->nChunkBytes = VS_CHUNK_BYTES;    /* what vsConfigUpgrade wrote */
  while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
    i64 iSlot = sqlite3_column_int64(pStmt, 0);
    /* veles_check found none of these; the map is read again here */
    if( iSlot<0 || iSlot>=nSlot ){
      vsVectorsSetError(p, "vectors: table %s: side file is truncated: slot "
                        "%lld is referenced, the file holds %lld", p->zName,
                        iSlot, nSlot);
      rc = SQLITE_CORRUPT_VTAB;
      break;
    }
    rc = vsCopyNote(pS, iSlot);
    if( rc ) break;
  }
  if( rc==SQLITE_DONE ){
    rc = vsCopySync(p);
  }else if( rc==SQLITE_ROW || (rc!=SQLITE_CORRUPT_VTAB && rc!=SQLITE_NOMEM) ){
    rc = vsVectorsDbError(p, rc);
  }
  sqlite3_finalize(pStmt);
  vsCopyForget(pS);
  pS->bCopy = 0;                /* until the commit: vsUpgradeFollow */
  return rc;
}

/* Steps 1-3, inside the function's transaction; a message in p. */
static int upgradeTable(VecTable *p){
  VecState *pS = p->pS;
  char zIdent[VS_IDENT_LEN+1];
  char *zErr = 0, *zReport = 0;
  int nDim, eMetric, iFormat, bCopy, nChunkBytes, rc;
  i64 nSlot = 0, iNonce;
  /* 1. sound, as veles_check sees it (this also connects the table's
  ** state to this transaction's snapshot: vsStateBind) */
  rc = vsCheckTable(p->db, pS->pConn, pS->sh.zSchema, pS->sh.zName, 0,
                    &zReport);
  if( rc==SQLITE_OK && zReport ){
    vsVectorsSetError(p, "veles_check finds it damaged: %s", zReport);
    sqlite3_free(zReport);
    return SQLITE_CORRUPT_VTAB;
  }
  if( rc ) return rc==SQLITE_NOTFOUND ? SQLITE_ERROR : rc;
  rc = vsConfigRead(p->db, pS->sh.zSchema, pS->sh.zName, zIdent, &nDim,
                    &eMetric, &iFormat, &bCopy, &nChunkBytes, 0, &zErr);
  if( rc ) return vsVectorsTakeError(p, rc, zErr);
  if( iFormat>=2 ){
    /* another connection upgraded it before this one's transaction */
    vsVectorsSetError(p, "another connection made it format %d already",
                      iFormat);
    return SQLITE_ERROR;
  }
  if( pS->iFormat>=2 || pS->pFile==0 || pS->nDim!=nDim ){
    vsVectorsSetError(p, "its state on this connection is not that of "
                      "%s_config", pS->sh.zName);
    return SQLITE_ERROR;
  }
  if( nDim>0 ){
    rc = vsFileSlotCount(pS->pFile, &nSlot, &zErr);
    if( rc ) return vsVectorsTakeError(p, rc, zErr);
  }
  /* 2. the rows and the table of format 2 */
  sqlite3_randomness(sizeof(iNonce), &iNonce);
  rc = vsConfigUpgrade(p->db, pS->sh.zSchema, pS->sh.zName, iNonce, nSlot,
                       &zErr);
  if( rc ) return vsVectorsTakeError(p, rc, zErr);
  /* 3. the copy */
  return fillCopy(p, nSlot);
}

void vsUpgradeFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  VsConn *pConn = (VsConn*)sqlite3_user_data(ctx);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *zArg = (const char*)sqlite3_value_text(argv[0]);
  const char *zName;
  sqlite3_stmt *pCount = 0;
  char *zSchema = 0, *zErr = 0;
  VecState *pS = 0;
  VecTable t;
  int rc, rcErr = 0;            /* rcErr: the error code zErr goes with */
  (void)argc;
  memset(&t, 0, sizeof(t));
  if( zArg==0 ){
    sqlite3_result_error(ctx, "veles_upgrade: expected a table name, got "
                         "NULL", -1);
    return;
  }
  if( vsSplitTableName(zArg, &zSchema, &zName) ){
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if( !sqlite3_get_autocommit(db) ){
    zErr = sqlite3_mprintf("veles_upgrade: cannot upgrade table %s inside a "
        "transaction (the upgrade commits one of its own): commit or roll "
        "back first", zArg);
    rcErr = SQLITE_ERROR;
    goto done;
  }
  rc = vsStateFind(db, pConn, zSchema, zName, &pCount, &pS);
  if( rc==SQLITE_NOMEM ) goto fail;   /* else no such table: pS is 0 */
  rcErr = SQLITE_ERROR;         /* unless none of these refusals holds */
  if( pS==0 ){
    zErr = sqlite3_mprintf("veles_upgrade: expected the name of a vectors "
                           "table, got '%s'", zArg);
  }else if( pS->zBroken ){
    zErr = sqlite3_mprintf("veles_upgrade: table %s cannot be upgraded: %s",
                           zArg, pS->zBroken);
  }else if( pS->iFormat>=2 ){
    zErr = sqlite3_mprintf("veles_upgrade: table %s is format %d already: "
                           "there is nothing to upgrade", zArg, pS->iFormat);
  }else if( pS->bMemory ){
    zErr = sqlite3_mprintf("veles_upgrade: table %s keeps its vectors in "
        "memory (no database file): there is nothing to upgrade", zArg);
  }else{
    rcErr = SQLITE_OK;
  }
  if( rcErr ) goto done;

  rc = sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0);
  if( rc ) goto fail;
  t.db = db;
  t.pConn = pConn;
  t.pS = pS;
  t.zName = pS->sh.zName;
  rc = upgradeTable(&t);
  if( rc==SQLITE_OK ) rc = sqlite3_exec(db, "COMMIT", 0, 0, 0);
  if( rc ){
    /* leaves the table as it was; a failed COMMIT too */
    if( t.base.zErrMsg==0 && rc!=SQLITE_NOMEM ){
      t.base.zErrMsg = sqlite3_mprintf("%s", sqlite3_errmsg(db));
    }
    sqlite3_exec(db, "ROLLBACK", 0, 0, 0);
  }
  /* the schema changed (or went back): the cached statements go */
  vsShadowFinalize(&pS->sh);
  if( rc ){
    if( rc==SQLITE_NOMEM ) goto fail;
    zErr = sqlite3_mprintf("veles_upgrade: table %s is not upgraded: %s",
                           zArg, t.base.zErrMsg ? t.base.zErrMsg : "");
    rcErr = rc;
    goto done;
  }
  /* committed: the count's scan finds the state format 1 after a commit,
  ** follows the upgrade (vsUpgradeFollow) and rebuilds the side file */
  pS->bBound = 0;
  rc = sqlite3_step(pCount);
  if( rc==SQLITE_ROW ){
    sqlite3_result_int64(ctx, sqlite3_column_int64(pCount, 0));
  }else{
    rc = sqlite3_reset(pCount);
    zErr = sqlite3_mprintf("veles_upgrade: table %s is upgraded, but its "
        "side file is not made again yet (the next use of the table tries "
        "again): %s", zArg, sqlite3_errmsg(db));
    rcErr = rc ? rc : SQLITE_ERROR;
  }
  goto done;

fail:
  if( rc==SQLITE_NOMEM ){
    sqlite3_result_error_nomem(ctx);
  }else{
    zErr = sqlite3_mprintf("veles_upgrade: %s", sqlite3_errmsg(db));
    rcErr = rc;
  }
done:
  if( zErr ){
    sqlite3_result_error(ctx, zErr, -1);
    sqlite3_result_error_code(ctx, rcErr);
  }else if( rcErr ){
    sqlite3_result_error_nomem(ctx);        /* the message's own */
  }
  sqlite3_free(zErr);
  sqlite3_free(t.base.zErrMsg);
  sqlite3_finalize(pCount);
  sqlite3_free(zSchema);
}
