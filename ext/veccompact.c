/*
** Compaction: INSERT INTO t(t) VALUES('compact') rewrites a `vectors`
** table's side file to its live slots, so that the file (and the
** database's copy) shrink after mass deletes.
**
** WHY A NEW FILE. The side file never shrinks in place: another process
** may have it mapped (a mapping cut short raises SIGBUS there), and a WAL
** reader on an older snapshot still reads the slots that snapshot
** references. So the live vectors go, in slot order, into a new file,
** "<side file>-compact"; the old one stays whole, open in every
** connection that uses it, until the last of them lets it go.
**
** IN THE TRANSACTION. The command (xUpdate) flushes the table's pending
** rows and buffer, writes each live vector v at new slot i (the i-th live
** slot counting up: a slot only moves down, so no map row ever names a
** slot another row still holds), repoints the map rows that moved,
** rewrites <table>_chunks from the new file (chunks past the end go), and
** from then on the transaction works on the new file and a slot array of
** the new layout; the old file and array wait in pFileBefore and
** slotsBefore. Later changes in the transaction go to the new file.
**
** COMMIT ORDER (crash at any point leaves correct vectors):
**   1. xSync numbers the commit R + 1 (vecbind.c) with the new file's
**      binding alone: commit and floor R + 1, no older commit in its ring
**      (its slots hold no older state); the config rows say R + 1 and the
**      new length; the new file and its directory entry are synced.
**   2. SQLite commits.
**   3. xCommit renames the new file over the side file and syncs the
**      directory, under the directory lock rebuilders take.
** Before 2, the database is at R and the old file (untouched) binds it; a
** leftover "-compact" file binds only R + 1 with a nonce no committed
** state will have, and the next compaction removes it. Between 2 and 3
** the database is at R + 1 and the old file (at R) is refused; then
** vsCompactFind, which vecbind.c calls for every refused file, finds the
** "-compact" file binding R + 1 and puts it in place, whoever comes
** first: this connection, another, or a process after a crash.
**
** OLDER READERS. A WAL reader on snapshot R keeps the old file it has
** open (vecbind.c reopens the file by its path only when the open one
** does not bind its snapshot): its bytes are never written again. One
** that opens the table for the first time after step 3 with a snapshot
** older than the compaction finds the new file refused: with the copy it
** makes a file for its snapshot (veccopy.c), without it gets an error.
**
** UNDO. ROLLBACK, or ROLLBACK TO a savepoint opened before the command,
** puts the old file and slot array back (SQLite undoes the map and chunk
** rows) and removes the new file. A command that fails part-way puts them
** back too, but its map rows may be half moved when SQLite kept the
** transaction open: COMMIT is then refused until a ROLLBACK (or ROLLBACK
** TO a savepoint from before it). It is refused while a statement of the
** connection reads the table (its rows name slots that move).
** Under a VFS without files the new working copy is in memory and
** replaces the old one at xCommit, with no file steps.
*/
#include "vectors.h"
#include <assert.h>
#include <string.h>

#define VS_COMPACT_BUFFER (1024*1024)   /* bytes copied at a time */

/* The path of the new file beside side file zPath. sqlite3_free() it. */
static char *compactPath(const char *zPath){
  return sqlite3_mprintf("%s-compact", zPath);
}

/* Close the new file p (and remove it, on disk). */
static void dropNew(VecState *pS, VsFile *p){
  char *zPath;
  if( p==0 ) return;
  zPath = pS->bMemory ? 0 : sqlite3_mprintf("%s", vsFilePath(p));
  vsFileDiscard(p);
  vsFileClose(p);
  if( zPath ) vsFileUnlink(zPath);
  sqlite3_free(zPath);
}

/* Create the new file, empty: in memory, or "-compact" beside the side
** file (a leftover of a compaction that never committed is removed). */
static int createNew(VecTable *p, VsFile **ppNew){
  VecState *pS = p->pS;
  const char *zDb = sqlite3_db_filename(p->db, pS->sh.zSchema);
  char *zTemp, *zErr = 0;
  int rc, fdLock = -1;
  if( pS->bMemory ){
    rc = vsFileCreate(0, pS->nDim, pS->zIdent, pS->iFormat, ppNew, &zErr);
    return rc ? vsVectorsTakeError(p, rc, zErr) : SQLITE_OK;
  }
  zTemp = compactPath(vsFilePath(pS->pFile));
  if( zTemp==0 ) return SQLITE_NOMEM;
  rc = vsFileLock(zTemp, &fdLock);
  if( rc==SQLITE_OK ){
    vsFileUnlink(zTemp);
    rc = vsFileCreateAt(zTemp, zDb, pS->nDim, pS->zIdent, pS->iFormat,
                        ppNew, &zErr);
    vsFileUnlock(fdLock);
  }
  sqlite3_free(zTemp);
  return rc ? vsVectorsTakeError(p, rc, zErr) : SQLITE_OK;
}

/* Copy the live slots of pS->slots, in order, into pNew, repointing the
** map rows that move; pNewSlots gets the new layout. The buffer gathers
** runs of live slots (one read each) and goes out in one write. */
static int copyLive(VecTable *p, VsFile *pNew, VsSlots *pNewSlots){
  VecState *pS = p->pS;
  VsSlots *pOld = &pS->slots;
  i64 nBuf = VS_COMPACT_BUFFER/(pS->nDim*4), nLive = 0, nIn = 0, s, i;
  unsigned char *aBuf;
  char *zErr = 0;
  int rc = SQLITE_OK;
  if( nBuf<1 ) nBuf = 1;
  for(s=0; s<pOld->nSlot; s++) if( pOld->aId[s]>=0 ) nLive++;
  aBuf = sqlite3_malloc64((u64)(nBuf*pS->nDim*4));
  if( aBuf==0 ) return SQLITE_NOMEM;
  rc = vsSlotsLoadStart(pNewSlots, nLive);
  /* i: the new slot of the next live one; aBuf holds the nIn before it */
  for(s=0, i=0; rc==SQLITE_OK && s<pOld->nSlot; ){
    i64 n = 0, k;
    if( pOld->aId[s]<0 ){
      s++;
      continue;
    }
    while( s+n<pOld->nSlot && nIn+n<nBuf && pOld->aId[s+n]>=0 ) n++;
    rc = vsFileReadSlots(pS->pFile, s, n, aBuf+nIn*pS->nDim*4, &zErr);
    for(k=0; rc==SQLITE_OK && k<n; k++){
      i64 iId = pOld->aId[s+k];
      assert( i+k<=s+k );
      rc = vsSlotsLoadRow(pNewSlots, i+k, iId);
      if( rc==SQLITE_OK && i+k!=s+k ){
        rc = vsStateRun(p, STMT_SETSLOT, iId, i+k);
      }
    }
    s += n;
    i += n;
    nIn += n;
    if( rc==SQLITE_OK && nIn==nBuf ){
      rc = vsFileWriteSlots(pNew, i-nIn, nIn, aBuf, &zErr);
      nIn = 0;
    }
  }
  if( rc==SQLITE_OK && nIn>0 ){
    rc = vsFileWriteSlots(pNew, i-nIn, nIn, aBuf, &zErr);
    nIn = 0;
  }
  if( zErr ) rc = vsVectorsTakeError(p, rc, zErr);
  sqlite3_free(aBuf);
  if( rc==SQLITE_OK ){
    assert( i==nLive && nIn==0 );
    rc = vsSlotsLoadFinish(pNewSlots, 0, 0, pS->iCommit);
  }
  return rc;
}

/* The command failed after its first write of map or chunk rows: unless
** a nested statement's failure rolled the transaction back already
** (xRollback ran under the command), COMMIT must wait for a rollback. */
static void failedPartWay(VecState *pS){
  if( pS->bInTxn ) pS->nSaveFailed = pS->slots.nSave;
}

int vsCompactRun(VecTable *p){
  VecState *pS = p->pS;
  VsFile *pNew = 0;
  VsSlots newSlots;
  char *zErr = 0;
  int rc;
  if( pS->iFormat<2 ){
    vsVectorsSetError(p, "vectors: table %s: 'compact' needs a table of "
        "format 2, got format %d (made by an older veles): SELECT "
        "veles_upgrade('%s') first", p->zName, pS->iFormat, p->zName);
    return SQLITE_ERROR;
  }
  if( pS->nCursor>0 ){
    /* their rows name slots the compaction moves */
    vsVectorsSetError(p, "vectors: table %s: cannot compact it while a "
        "statement of this connection reads it: finish or reset that "
        "statement first", p->zName);
    return SQLITE_ERROR;
  }
  if( pS->pFileBefore ) return SQLITE_OK;   /* compacted already */
  if( pS->nDim==0 || pS->pFile==0 ) return SQLITE_OK;  /* never a vector */
  rc = vsStateFlush(p);
  if( rc==SQLITE_OK ) rc = vsFileFlush(pS->pFile, &zErr);
  if( rc ) return zErr ? vsVectorsTakeError(p, rc, zErr) : rc;
  /* no live slot lies past the end of a truncated file (whose lost slots
  ** would be read as zeros): xBegin's slot array refuses such a map */
  rc = createNew(p, &pNew);
  if( rc ) return rc;
  vsSlotsInit(&newSlots);
  newSlots.iTag = pS->nDim;
  newSlots.iGen = pS->slots.iGen+1;     /* no mark of the old one applies */
  rc = copyLive(p, pNew, &newSlots);
  if( rc ){
    vsSlotsClear(&newSlots);
    dropNew(pS, pNew);
    failedPartWay(pS);
    return rc;
  }
  /* from here on the transaction works on the new file */
  pS->nSaveBefore = pS->slots.nSave;
  pS->slotsBefore = pS->slots;
  pS->slots = newSlots;
  vsSlotsBegin(&pS->slots);
  pS->pFileBefore = pS->pFile;
  pS->pFile = pNew;
  pS->bSlotsValid = 1;
  vsStateForgetSlots(pS);
  rc = vsCopyRewrite(p, newSlots.nSlot);
  if( rc ){
    vsCompactUndo(pS);
    failedPartWay(pS);
    return rc;
  }
  pS->bDirty = 1;
  return SQLITE_OK;
}

void vsCompactUndo(VecState *pS){
  if( pS->pFileBefore==0 ) return;
  dropNew(pS, pS->pFile);
  pS->pFile = pS->pFileBefore;
  pS->pFileBefore = 0;
  vsSlotsClear(&pS->slots);
  pS->slots = pS->slotsBefore;
  memset(&pS->slotsBefore, 0, sizeof(pS->slotsBefore));
  vsStateForgetSlots(pS);
}

void vsCompactCommit(VecState *pS){
  VsFile *pOld = pS->pFileBefore;
  if( pOld==0 ) return;
  if( pS->bMemory ){
    pOld = vsConnSwapMemFile(pS->pConn, pS->zIdent, pS->pFile);
    assert( pOld==pS->pFileBefore );
    vsFileClose(pOld);
  }else{
    char *zErr = 0;
    int fdLock = -1, bDone = 0;
    /* a failure leaves the new file beside the old one, for
    ** vsCompactFind: the old one no longer binds the database */
    if( vsFileLock(vsFilePath(pOld), &fdLock)==SQLITE_OK ){
      if( vsFileIsAt(pOld, vsFilePath(pOld)) ){
        bDone = vsFileInstall(pS->pFile, vsFilePath(pOld), &zErr)==SQLITE_OK;
      }
      vsFileUnlock(fdLock);
    }
    if( zErr ) sqlite3_log(SQLITE_IOERR, "veles: %s", zErr);
    sqlite3_free(zErr);
    if( !bDone ){
      /* put in place by another connection, or left for one: the next
      ** use finds it by the side file's path (vecbind.c) */
      vsFileClose(pS->pFile);           /* kept on disk: it is the data */
      pS->pFile = 0;
      sqlite3_free(pS->zStale);
      pS->zStale = sqlite3_mprintf("its compacted side file is not in "
                                   "place yet");
      pS->bBound = 0;
      pS->bSlotsValid = 0;
    }
    vsFileClose(pOld);
  }
  pS->pFileBefore = 0;
  vsSlotsClear(&pS->slotsBefore);
  memset(&pS->slotsBefore, 0, sizeof(pS->slotsBefore));
}

int vsCompactFind(VecTable *p, const char *zPath, const VsDbCommit *pC,
                  VsFile **ppNew){
  VecState *pS = p->pS;
  char *zTemp, *zErr = 0;
  VsFile *pNew = 0;
  int rc = SQLITE_OK;
  *ppNew = 0;
  if( pS->pFileBefore ) return SQLITE_OK;   /* this one is compacting */
  zTemp = compactPath(zPath);
  if( zTemp==0 ) return SQLITE_NOMEM;
  if( vsFileOpen(zTemp, pS->nDim, pS->zIdent, pS->iFormat, &pNew,
                 &zErr)==SQLITE_OK
   && vsBindVerify(pNew, pC, &zErr)==SQLITE_OK ){
    rc = vsFileInstall(pNew, zPath, &zErr);
    if( rc==SQLITE_OK ){
      *ppNew = pNew;
      pNew = 0;
    }
  }
  vsFileClose(pNew);
  sqlite3_free(zTemp);
  if( rc ) return vsVectorsTakeError(p, rc, zErr);
  sqlite3_free(zErr);
  return SQLITE_OK;
}

const char *vsCompactNewPath(VsConn *pConn, const char *zSchema,
                             const char *zName){
  VecState *pS;
  for(pS=*vsConnVecStates(pConn); pS; pS=pS->pNext){
    if( sqlite3_stricmp(pS->sh.zSchema, zSchema)==0
     && sqlite3_stricmp(pS->sh.zName, zName)==0 ){
      if( pS->pFileBefore==0 || pS->bMemory ) return 0;
      assert( pS->pFile!=0 );
      return vsFilePath(pS->pFile);
    }
  }
  return 0;
}
