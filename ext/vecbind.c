/*
** Binding a side file to its database, so that a side file that does not
** hold the database's committed vectors is detected before any byte of it
** is used (format 2 tables; format 1 tables have no binding).
**
** WHAT IS KEPT. Every commit that changes a table is numbered: the
** database keeps the number of its newest commit and a random nonce for
** it in <table>_config (rows 'commit' and 'nonce'); the side file's
** header keeps the newest commit whose vectors it holds (S), a floor F,
** and a ring of the (commit, nonce) pairs of its newest commits
** (sidefile.c has the layout). CREATE writes commit 0 to both.
**
** THE RULE. A connection whose snapshot of the database is at commit R,
** with nonce N, may use a side file iff
**     F <= R <= S   and   (R, N) is in the ring,
** and, for a table with the database's copy, the file holds at least the
** slots it held after commit R (row 'slots': between compactions the file
** only grows, and a compaction writes a new file with its own commit, so
** a shorter one was truncated; without the copy a read past the end
** reports it, and the slots before stay readable).
**
** WHY IT IS SAFE. The slot rules (vecstate.c) give two facts:
**   - copy-on-write: a commit writes only slots that no committed state
**     references, so the bytes every slot referenced at commit R holds
**     stay as they were through later commits, until a slot is reused;
**   - a slot freed by commit K is referenced by the states before K only,
**     and a commit that reuses it raises the floor to at least K (the
**     latest freeing commit of any slot in the free list, slotmap.c).
** So the file's bytes are exactly those of every state from F to S, which
** is what F <= R <= S says. The nonce tells a commit R of this history
** from a commit R of another one (a copy of the pair that went on
** elsewhere, a file from another machine): those differ in the nonce.
**
** WHAT IT ACCEPTS. A crash after the side file's sync but before SQLite's
** commit leaves S = R + 1 with the floor at most R: accepted, and right
** (the lost commit wrote only slots R does not reference). A restored
** database copy one commit older than its side file looks the same, and
** is right for the same reason: the newer commit could not have
** overwritten anything the older state references. A copy two or more
** commits old is accepted only while no slot it references has been
** reused since (the floor says so), which is again exactly when it is
** right. A WAL reader on an older snapshot R: in WAL mode a freed slot is
** reused only after SQLite restarted the WAL, which it does only when
** every reader has the newest snapshot, so every live reader is at or
** above the floor; its R is in the ring while it is one of the newest
** VS_RING_MAX commits (an older reader gets an error and may retry).
** Another process's newer commit: the database and the file move together
** (the file first, then the database), so a reader sees R <= S.
**
** WHAT IT REFUSES. An older database with a newer side file whose commits
** reused a slot (R < F); a newer database with an older side file, or a
** side file synced late (R > S); a pair from two copies that went separate
** ways, or two machines (nonce); a damaged header (checksum); a file
** marked as not durable by another boot of the machine, or by another
** machine (LAZY SYNC in sidefile.c: its bytes may not be the ones
** written, whatever its binding says).
**
** WHAT HAPPENS THEN. A table that keeps a copy of its vectors in the
** database (db_copy=on, veccopy.c) makes the side file again from that
** copy, for the snapshot that refused it, and goes on; one without a copy
** reports why and what to do. A file that does not bind the snapshot and
** is no longer the one its path names (another connection's rebuild or
** compaction replaced it) is reopened by its path first; a committed
** compaction's file not yet in place is put there (veccompact.c). An
** in-memory working copy (no database file, or a VFS other than unix)
** carries the same binding in memory: one that another connection's
** commit made stale is loaded again from the copy.
**
** WRITE ORDER (vsBindBeforeWrite, before a transaction's first write of
** a slot, and before its first write of a reused one):
**   - a reused slot holds bytes that the states before the commit that
**     freed it reference. The floor goes up to that commit in the file
**     before the slot is written, not at xSync: a transaction that then
**     rolls back, or dies, has changed those bytes all the same, and a
**     restored copy of the database from before that commit must be
**     refused. Synced first where commits sync the file, so that a power
**     cut cannot keep the new bytes and lose the floor;
**   - LAZY SYNC (sidefile.c): the boot's mark goes on, and is synced,
**     before the first byte a commit will not sync. That sync finds
**     nothing else to write; at xSync a marked file then needs none, so
**     a commit's vectors are never synced twice. After a power cut the
**     durable mark refuses the file whatever else reached the disk, which
**     also covers the floor.
** Either write goes over the copy of the binding that does not count,
** under the commit lock (a closing handle's clean binding cannot slip in
** between the read and the write and carry an old floor). A floor raised
** by a transaction that rolls back stays: the slots it reused were written.
**
** COMMIT ORDER (in xSync, before SQLite commits): the new commit R + 1
** and a fresh nonce go into <table>_config (in the transaction), then the
** header (commit R + 1, floor, ring with (R + 1, nonce) in front and any
** entries >= R + 1 of a lost history dropped) is written, then the side
** file is synced with the vectors. A crash anywhere leaves either the old
** database with a file at R or R + 1, or the new database with its file.
*/
#include "vectors.h"
#include <assert.h>
#include <string.h>

/* The database's half of the binding in this connection's snapshot. */
static int readDbCommit(VecTable *p, VsDbCommit *pC){
  sqlite3_stmt *pStmt;
  int rc = vsStateStmt(p, STMT_GETCOMMIT, &pStmt);
  int nFound = 0;
  int bChunkOk = 1;
  memset(pC, 0, sizeof(*pC));
  pC->iCommit = -1;
  pC->nChunkBytes = VS_CHUNK_BYTES_OLD;
  if( rc ) return rc;
  while( sqlite3_step(pStmt)==SQLITE_ROW ){
    const char *zKey = (const char*)sqlite3_column_text(pStmt, 0);
    if( zKey && strcmp(zKey, "commit")==0 ){
      pC->iCommit = sqlite3_column_int64(pStmt, 1);
      nFound++;
    }else if( zKey && strcmp(zKey, "nonce")==0 ){
      pC->iNonce = sqlite3_column_int64(pStmt, 1);
      nFound++;
    }else if( zKey && strcmp(zKey, "slots")==0 ){
      pC->nSlot = sqlite3_column_int64(pStmt, 1);
    }else if( zKey && strcmp(zKey, "format")==0 ){
      pC->iFormat = sqlite3_column_int(pStmt, 1);
    }else if( zKey && strcmp(zKey, "copy")==0 ){
      pC->bCopy = sqlite3_column_int(pStmt, 1)==1;
    }else if( zKey && strcmp(zKey, "chunk")==0 ){
      i64 n = sqlite3_column_int64(pStmt, 1);
      bChunkOk = sqlite3_column_type(pStmt, 1)==SQLITE_INTEGER
              && vsConfigChunkBytesOk(n);
      if( bChunkOk ) pC->nChunkBytes = (int)n;
    }
  }
  rc = sqlite3_reset(pStmt);
  if( rc ) return vsVectorsDbError(p, rc);
  /* a short file is repaired from the copy; without one, a read of a
  ** slot past its end reports it (sidefile.c) and the rest stays readable */
  if( !pC->bCopy || pC->nSlot<0 ) pC->nSlot = 0;
  if( pC->iFormat<2 ) return SQLITE_OK;           /* no binding */
  if( !bChunkOk ){
    vsVectorsSetError(p, "vectors: table %s: its chunk size in %s_config "
                      "is damaged", p->zName, p->pS->sh.zName);
    return SQLITE_CORRUPT_VTAB;
  }
  if( nFound!=2 || pC->iCommit<0 ){
    vsVectorsSetError(p, "vectors: table %s: its commit number in %s_config "
                      "is damaged", p->zName, p->pS->sh.zName);
    return SQLITE_CORRUPT_VTAB;
  }
  return SQLITE_OK;
}

/* Is (iCommit, iNonce) in the ring of pB? */
static int inRing(const VsBinding *pB, i64 iCommit, i64 iNonce){
  int i;
  for(i=0; i<pB->nRing; i++){
    if( pB->aRing[i].iCommit==iCommit ) return pB->aRing[i].iNonce==iNonce;
  }
  return 0;
}

/* The rule, for binding pB of the side file zPath: 0 when a snapshot at
** commit iCommit (nonce iNonce) may use the file, else why not. */
static char *verdict(const VsBinding *pB, const char *zPath, i64 iBoot,
                     i64 iCommit, i64 iNonce, int *pbOk){
  *pbOk = 0;
  if( pB->iBoot!=0 && pB->iBoot!=iBoot ){
    return sqlite3_mprintf("side file %s was written without a sync before "
        "the machine stopped or restarted (or on another machine): its "
        "newest writes may be lost", zPath);
  }
  if( iCommit>pB->iCommit ){
    return sqlite3_mprintf("side file %s is older than the database "
        "(database at commit %lld, side file at commit %lld): it was not "
        "saved with this database file", zPath, iCommit, pB->iCommit);
  }
  if( iCommit<pB->iFloor ){
    return sqlite3_mprintf("side file %s is newer than the database "
        "(database at commit %lld, side file intact from commit %lld to "
        "%lld): the database was restored without its side file", zPath,
        iCommit, pB->iFloor, pB->iCommit);
  }
  if( !inRing(pB, iCommit, iNonce) ){
    return sqlite3_mprintf("side file %s belongs to another copy of this "
        "table (commit %lld of the database is not one of its commits): the "
        "database and the side file come from different copies", zPath,
        iCommit);
  }
  *pbOk = 1;
  return 0;
}

int vsBindVerify(VsFile *pFile, const VsDbCommit *pC, char **pzErr){
  VsBinding *pB = sqlite3_malloc(sizeof(*pB));
  i64 nSlot = 0;
  int rc, bOk = 0;
  if( pB==0 ) return SQLITE_NOMEM;
  rc = vsFileReadBinding(pFile, pB, pzErr);
  if( rc==SQLITE_OK ){
    *pzErr = verdict(pB, vsFilePath(pFile), vsFileBoot(pFile), pC->iCommit,
                     pC->iNonce, &bOk);
    rc = bOk ? SQLITE_OK : *pzErr ? SQLITE_CORRUPT_VTAB : SQLITE_NOMEM;
  }
  sqlite3_free(pB);
  if( rc==SQLITE_OK && pC->nSlot>0 ){
    rc = vsFileSlotCount(pFile, &nSlot, pzErr);
    if( rc==SQLITE_OK && nSlot<pC->nSlot ){
      *pzErr = sqlite3_mprintf("side file %s is truncated: it holds %lld "
          "slots, commit %lld of the database left %lld", vsFilePath(pFile),
          nSlot, pC->iCommit, pC->nSlot);
      rc = *pzErr ? SQLITE_CORRUPT_VTAB : SQLITE_NOMEM;
    }
  }
  return rc;
}

int vsBindReopen(VecTable *p, char **pzWhy){
  VecState *pS = p->pS;
  char *zPath = sqlite3_mprintf("%s", vsFilePath(pS->pFile));
  int rc;
  if( zPath==0 ) return SQLITE_NOMEM;
  assert( pS->pending.nRow==0 );
  vsFileClose(pS->pFile);
  pS->pFile = 0;
  pS->bSlotsValid = 0;
  vsStateForgetSlots(pS);
  rc = vsFileOpen(zPath, pS->nDim, pS->zIdent, pS->iFormat, &pS->pFile,
                  pzWhy);
  sqlite3_free(zPath);
  return rc==SQLITE_CORRUPT_VTAB ? SQLITE_OK : rc;
}

/* The error for a refused side file of a table without the copy. */
static int noCopy(VecTable *p, char *zWhy){
  char *zMsg = sqlite3_mprintf("%s (the table keeps no copy of its vectors "
      "in the database, db_copy=off: put back the side file saved with this "
      "database file)", zWhy);
  sqlite3_free(zWhy);
  return vsVectorsTakeError(p, zMsg ? SQLITE_CORRUPT_VTAB : SQLITE_NOMEM,
                            zMsg);
}

/*
** A file that binds snapshot pC, in the place of the refused one (zWhy
** says why it was refused; this frees it). Under the directory lock that
** rebuilders take: the file the path names now, if another connection
** replaced it meanwhile; else the file a committed compaction left beside
** it (veccompact.c); else one made from the database's copy (veccopy.c).
** Without the copy, an error that says what to do.
*/
static int replaceRefused(VecTable *p, const VsDbCommit *pC, char *zWhy){
  VecState *pS = p->pS;
  VsFile *pNew = 0;
  char *zPath = 0, *zErr = 0;
  int rc, bMemory = 0, fdLock = -1;
  if( pS->bMemory ){
    if( !pS->bCopy ) return noCopy(p, zWhy);
    sqlite3_free(zWhy);
    rc = vsCopyLoadMemory(p, pC);
    if( rc==SQLITE_OK ) pNew = pS->pFile;     /* loaded in place */
  }else{
    rc = vsConfigSideFile(p->db, pS->sh.zSchema, pS->zIdent, &zPath,
                          &bMemory);
    assert( rc || !bMemory );
    if( rc==SQLITE_OK ) rc = vsFileLock(zPath, &fdLock);
    if( rc==SQLITE_OK && !pS->bRebuild ){
      if( vsFileOpen(zPath, pS->nDim, pS->zIdent, pS->iFormat, &pNew,
                     &zErr)!=SQLITE_OK
       || vsBindVerify(pNew, pC, &zErr)!=SQLITE_OK ){
        vsFileClose(pNew);
        pNew = 0;
        rc = vsCompactFind(p, zPath, pC, &pNew);
      }
      sqlite3_free(zErr);
    }
    if( rc==SQLITE_OK && pNew==0 && pS->bCopy ){
      rc = vsCopyRebuildFile(p, pC, zPath, &pNew);
    }
    vsFileUnlock(fdLock);
    sqlite3_free(zPath);
    if( rc==SQLITE_OK && pNew==0 ){
      rc = noCopy(p, zWhy);
    }else{
      sqlite3_free(zWhy);
    }
    if( pNew ){
      vsFileClose(pS->pFile);
      pS->pFile = pNew;
    }
  }
  if( pNew ){
    /* every slot may hold other bytes now */
    pS->bSlotsValid = 0;
    vsStateForgetSlots(pS);
    sqlite3_free(pS->zStale);
    pS->zStale = 0;
  }
  pS->bRebuild = 0;
  return rc;
}

int vsBindCheck(VecTable *p){
  VecState *pS = p->pS;
  VsDbCommit c;
  char *zWhy = 0;
  int rc;
  if( pS->zBroken ) return SQLITE_OK;
  /* a format 1 table has no binding; but a commit may have upgraded it */
  rc = readDbCommit(p, &c);
  if( rc==SQLITE_OK && c.iFormat<2 ) return SQLITE_OK;
  if( rc==SQLITE_OK && pS->iFormat<2 ) vsUpgradeFollow(pS, &c);
  /* the file's slot count needs the dimension another connection may
  ** have fixed */
  if( rc==SQLITE_OK ) rc = vsStateRefreshDim(p);
  if( rc ) return rc;                   /* the message is set */
  if( pS->bRebuild ){
    zWhy = sqlite3_mprintf("a rebuild was asked for");
    if( zWhy==0 ) return SQLITE_NOMEM;
  }else{
    /* the file open here, while it binds this snapshot (a WAL reader on
    ** an older one keeps a file compacted or rebuilt since); else the one
    ** the path names now */
    if( pS->pFile ) rc = vsBindVerify(pS->pFile, &c, &zWhy);
    if( rc==SQLITE_CORRUPT_VTAB && !pS->bMemory
     && !vsFileIsAt(pS->pFile, vsFilePath(pS->pFile)) ){
      sqlite3_free(zWhy);
      zWhy = 0;
      rc = vsBindReopen(p, &zWhy);
      if( rc ) return vsVectorsTakeError(p, rc, zWhy);
      if( pS->pFile ) rc = vsBindVerify(pS->pFile, &c, &zWhy);
    }
    if( rc!=SQLITE_CORRUPT_VTAB && rc!=SQLITE_OK ){
      return vsVectorsTakeError(p, rc, zWhy);   /* I/O error, NOMEM */
    }
    if( pS->pFile==0 && zWhy==0 ){
      zWhy = sqlite3_mprintf("%s", pS->zStale ? pS->zStale
                                              : "its side file is missing");
      if( zWhy==0 ) return SQLITE_NOMEM;
    }
  }
  if( zWhy ){
    rc = replaceRefused(p, &c, zWhy);
    if( rc ) return rc;
  }
  pS->iCommit = c.iCommit;
  pS->iNonce = c.iNonce;
  return SQLITE_OK;
}

/* The boot's mark this table's commits carry (LAZY SYNC in sidefile.c):
** where the database's copy holds the vectors and commits sync; not for
** a compaction's new file, which is synced whole. 0: commits sync. */
static i64 lazyBoot(VecState *pS){
  return pS->bCopy && pS->bSync && !pS->pFileBefore ? vsFileBoot(pS->pFile)
                                                     : 0;
}

/* vsBindBeforeWrite's work (WRITE ORDER at the top). */
static int prepareWrite(VecTable *p, int bReuse){
  VecState *pS = p->pS;
  VsBinding *pB;
  i64 iBoot = lazyBoot(pS);
  char *zErr = 0;
  int rc, bWrite = 0, bSync = 0;
  pB = sqlite3_malloc(sizeof(*pB));
  if( pB==0 ) return SQLITE_NOMEM;
  rc = vsFileCommitLock(pS->pFile, &zErr);
  if( rc==SQLITE_OK ) rc = vsFileReadBinding(pS->pFile, pB, &zErr);
  if( rc==SQLITE_OK ){
    if( iBoot!=0 && pB->iBoot!=iBoot ){
      pB->iBoot = iBoot;
      bWrite = bSync = 1;
    }
    if( bReuse && pS->slots.iFreeCommit>pB->iFloor ){
      /* the freeing commit is committed: in this snapshot, so in the file */
      assert( pS->slots.iFreeCommit<=pB->iCommit );
      pB->iFloor = pS->slots.iFreeCommit;
      bWrite = 1;
      if( iBoot==0 && pS->bSync ) bSync = 1;
    }
    if( bWrite ) rc = vsFileWriteBinding(pS->pFile, pB, &zErr);
  }
  /* unlocks; the buffered slots it writes out are unreferenced ones */
  if( rc==SQLITE_OK ){
    rc = vsFileSync(pS->pFile, bSync ? VS_SYNC_FULL : VS_SYNC_OFF, &zErr);
  }else{
    vsFileCommitUnlock(pS->pFile);
  }
  sqlite3_free(pB);
  if( rc ) return vsVectorsTakeError(p, rc, zErr);
  pS->bWriteReady = 1;
  if( bReuse ) pS->bReuseReady = 1;
  return SQLITE_OK;
}

int vsBindBeforeWrite(VecTable *p){
  VecState *pS = p->pS;
  int bReuse = pS->slots.bReused;
  if( pS->bWriteReady && (pS->bReuseReady || !bReuse) ) return SQLITE_OK;
  if( pS->iFormat<2 || pS->pFile==0 || pS->pFileBefore ){
    /* unbound, or a compaction's new file: it holds this commit alone */
    return SQLITE_OK;
  }
  return prepareWrite(p, bReuse);
}

int vsBindCommit(VecTable *p){
  VecState *pS = p->pS;
  VsBinding *pB;
  sqlite3_stmt *pStmt;
  i64 iNew, iNonce, iBoot, nSlot = 0;
  char *zErr = 0;
  int rc, i, n;
  /* nothing changed; or another instance of the table numbered this
  ** commit already (SQLite calls xSync on each: vecstate.c) */
  if( pS->iFormat<2 || pS->pFile==0 || !pS->bDirty || pS->iCommitNext>0 ){
    return SQLITE_OK;
  }
  pB = sqlite3_malloc(sizeof(*pB));
  if( pB==0 ) return SQLITE_NOMEM;
  /* LAZY SYNC (sidefile.c): this commit's binding carries the boot's mark
  ** where the database's copy holds the vectors (a compaction's new file
  ** is synced whole) */
  iBoot = lazyBoot(pS);
  pS->bLazySync = 0;
  rc = vsFileCommitLock(pS->pFile, &zErr);
  if( rc ){
    sqlite3_free(pB);
    return vsVectorsTakeError(p, rc, zErr);
  }
  if( pS->pFileBefore ){
    /* a compacted file holds this commit alone (veccompact.c) */
    memset(pB, 0, sizeof(*pB));
  }else{
    rc = vsFileReadBinding(pS->pFile, pB, &zErr);
    if( rc ){
      vsFileCommitUnlock(pS->pFile);
      sqlite3_free(pB);
      return vsVectorsTakeError(p, rc, zErr);
    }
    /* the mark is on disk already: no sync needed for this commit */
    pS->bLazySync = iBoot!=0 && pB->iBoot==iBoot;
    /* xBegin checked the pair: the file holds this transaction's start */
    assert( pB->iFloor<=pS->iCommit && pS->iCommit<=pB->iCommit );
  }
  iNew = pS->iCommit+1;
  sqlite3_randomness(sizeof(iNonce), &iNonce);
  /* the file's length once this commit's vectors are in it */
  rc = vsFileFlush(pS->pFile, &zErr);
  if( rc==SQLITE_OK ) rc = vsFileSlotCount(pS->pFile, &nSlot, &zErr);
  if( rc ) rc = vsVectorsTakeError(p, rc, zErr);
  if( rc==SQLITE_OK ) rc = vsStateStmt(p, STMT_SETCOMMIT, &pStmt);
  if( rc==SQLITE_OK ){
    sqlite3_bind_int64(pStmt, 1, iNew);
    sqlite3_bind_int64(pStmt, 2, iNonce);
    sqlite3_bind_int64(pStmt, 3, nSlot);
    rc = vsStateStepInt(p, pStmt, 0, 0);
  }
  if( rc==SQLITE_OK ){
    /* entries >= iNew belong to a commit that never happened */
    for(i=n=0; i<pB->nRing; i++){
      if( pB->aRing[i].iCommit<iNew ) pB->aRing[n++] = pB->aRing[i];
    }
    if( n==VS_RING_MAX ) n--;
    memmove(&pB->aRing[1], &pB->aRing[0], sizeof(pB->aRing[0])*(size_t)n);
    pB->aRing[0].iCommit = iNew;
    pB->aRing[0].iNonce = iNonce;
    pB->nRing = n+1;
    pB->iCommit = iNew;
    /* a reused slot was freed by commit iFreeCommit at the latest */
    if( pS->slots.bReused && pS->slots.iFreeCommit>pB->iFloor ){
      pB->iFloor = pS->slots.iFreeCommit;
    }
    assert( pB->iFloor<=pS->iCommit || pS->pFileBefore );
    if( pS->pFileBefore ) pB->iFloor = iNew;
    pB->iBoot = iBoot;
    rc = vsFileWriteBinding(pS->pFile, pB, &zErr);
    if( rc ) rc = vsVectorsTakeError(p, rc, zErr);
  }
  sqlite3_free(pB);
  if( rc ){
    vsFileCommitUnlock(pS->pFile);
    pS->bLazySync = 0;
  }else{
    pS->iCommitNext = iNew;
    pS->iNonceNext = iNonce;
  }
  return rc;
}

int vsBindCreate(VsFile *pFile, i64 iNonce, i64 iBoot, char **pzErr){
  VsBinding b;
  memset(&b, 0, sizeof(b));
  b.iBoot = iBoot;
  b.nRing = 1;
  b.aRing[0].iNonce = iNonce;
  return vsFileWriteBinding(pFile, &b, pzErr);
}
