/*
** Slot bookkeeping for a `vectors` table (in memory, per connection).
**
** aId[] mirrors <table>_map from the other side: for each slot of the
** side file, the id stored there or -1. A scan for nearest neighbours
** walks it beside the dense f32 matrix, with no B-tree lookup per slot.
** It reflects what this connection sees: the committed state plus the
** open transaction's own changes. vectors.c rebuilds it from the map
** whenever another connection may have committed (PRAGMA data_version).
**
** ALLOCATION. A new vector goes to a free slot (lowest first) or past the
** high-water mark. A free slot is one that no committed state any reader
** may still see references:
**   - slots freed by the open transaction are not reused in it (its
**     rollback must find them intact): they wait in aTxnFreed;
**   - at commit they become free at once in rollback-journal mode (a
**     writer commits only when no reader holds an older snapshot), or
**     "pending" in WAL mode, tagged with a sequence number that vectors.c
**     takes from the WAL header; vectors.c releases them once the WAL has
**     been restarted since, which SQLite does only when no reader uses an
**     older snapshot.
**
** A slot array rebuilt in the middle of a transaction (a new instance of
** the table after a schema reset) sees the transaction's own deletions as
** unreferenced slots, yet the committed state may still reference them:
** vsSlotsBegin(p, 1) holds such slots back like slots the transaction
** freed, until it commits.
**
** ROLLBACK. Every change to aId is logged (slot, old id). A mark records
** the high-water mark, free-list depth, undo-log length and freed count;
** restoring a mark undoes the logged changes in reverse and resets the
** counters. Within a transaction the free list is only popped, never
** pushed, so its popped entries are still in place to be restored.
*/
#include "slotmap.h"
#include <stdlib.h>
#include <string.h>

/* Make room for nNeed entries of size nByte in *pa (capacity *pnAlloc). */
static int grow(void **pa, i64 *pnAlloc, i64 nNeed, size_t nByte){
  if( nNeed>*pnAlloc ){
    i64 nNew = *pnAlloc ? *pnAlloc*2 : 64;
    void *aNew;
    while( nNew<nNeed ) nNew *= 2;
    aNew = sqlite3_realloc64(*pa, (u64)nNew*nByte);
    if( aNew==0 ) return SQLITE_NOMEM;
    *pa = aNew;
    *pnAlloc = nNew;
  }
  return SQLITE_OK;
}

void vsSlotsInit(VsSlots *p){
  memset(p, 0, sizeof(*p));
}

void vsSlotsClear(VsSlots *p){
  sqlite3_free(p->aId);
  sqlite3_free(p->aFree);
  sqlite3_free(p->aPend);
  sqlite3_free(p->aTxnFreed);
  sqlite3_free(p->aUndo);
  sqlite3_free(p->aSave);
  vsSlotsInit(p);
}

static int ensureSlots(VsSlots *p, i64 nSlot){
  i64 nOld = p->nAlloc;
  int rc = grow((void**)&p->aId, &p->nAlloc, nSlot, sizeof(i64));
  if( rc==SQLITE_OK && p->nAlloc>nOld ){
    memset(&p->aId[nOld], 0xff, (size_t)(p->nAlloc-nOld)*sizeof(i64));
  }
  return rc;
}

int vsSlotsLoadStart(VsSlots *p, i64 nSlot){
  i64 iTag = p->iTag;
  vsSlotsClear(p);
  p->iTag = iTag;
  p->nSlot = nSlot;
  return ensureSlots(p, nSlot);
}

int vsSlotsLoadRow(VsSlots *p, i64 iSlot, i64 iId){
  if( iSlot<0 || iSlot>=p->nSlot || p->aId[iSlot]>=0 ) return SQLITE_CORRUPT;
  p->aId[iSlot] = iId;
  return SQLITE_OK;
}

static int addFree(VsSlots *p, i64 iSlot){
  int rc = grow((void**)&p->aFree, &p->nFreeAlloc, p->nFree+1, sizeof(i64));
  if( rc==SQLITE_OK ) p->aFree[p->nFree++] = iSlot;
  return rc;
}

static int addPending(VsSlots *p, i64 iSlot, i64 iSeq){
  int rc = grow((void**)&p->aPend, &p->nPendAlloc, p->nPend+1,
                sizeof(VsSlotsPending));
  if( rc==SQLITE_OK ){
    p->aPend[p->nPend].iSlot = iSlot;
    p->aPend[p->nPend].iSeq = iSeq;
    p->nPend++;
  }
  return rc;
}

static int cmpDescending(const void *a, const void *b){
  i64 x = *(const i64*)a, y = *(const i64*)b;
  return x<y ? 1 : (x>y ? -1 : 0);
}

/* Keep aFree sorted so that popping from the end yields the lowest slot:
** consecutive inserts then fill consecutive slots. */
static void sortFree(VsSlots *p){
  if( p->nFree>1 ) qsort(p->aFree, (size_t)p->nFree, sizeof(i64), cmpDescending);
}

int vsSlotsLoadFinish(VsSlots *p, int bDelay, i64 iSeq){
  i64 i;
  int rc = SQLITE_OK;
  for(i=p->nSlot-1; rc==SQLITE_OK && i>=0; i--){
    if( p->aId[i]<0 ){
      rc = bDelay ? addPending(p, i, iSeq) : addFree(p, i);
    }
  }
  return rc;
}

int vsSlotsReleasePending(VsSlots *p, int bAll, i64 iSeq){
  i64 i, nKeep = 0;
  int rc = SQLITE_OK, bAdded = 0;
  for(i=0; i<p->nPend; i++){
    VsSlotsPending *e = &p->aPend[i];
    if( rc==SQLITE_OK && (bAll
        || (iSeq!=VS_SEQ_UNKNOWN && e->iSeq!=VS_SEQ_UNKNOWN && e->iSeq!=iSeq))
    ){
      rc = addFree(p, e->iSlot);
      if( rc==SQLITE_OK ){
        bAdded = 1;
        continue;
      }
    }
    if( e->iSeq==VS_SEQ_UNKNOWN ) e->iSeq = iSeq;
    p->aPend[nKeep++] = *e;
  }
  p->nPend = nKeep;
  if( bAdded ) sortFree(p);
  return rc;
}

void vsSlotsMarkGet(VsSlots *p, VsSlotsMark *pMark){
  pMark->nSlot = p->nSlot;
  pMark->nFree = p->nFree;
  pMark->nUndo = p->nUndo;
  pMark->nTxnFreed = p->nTxnFreed;
  pMark->iTag = p->iTag;
}

void vsSlotsMarkRestore(VsSlots *p, const VsSlotsMark *pMark){
  while( p->nUndo>pMark->nUndo ){
    VsSlotsUndo *u = &p->aUndo[--p->nUndo];
    p->aId[u->iSlot] = u->iOldId;
  }
  p->nSlot = pMark->nSlot;
  p->nFree = pMark->nFree;
  p->nTxnFreed = pMark->nTxnFreed;
  p->iTag = pMark->iTag;
}

int vsSlotsBegin(VsSlots *p, int bHoldFree){
  p->nUndo = 0;
  p->nTxnFreed = 0;
  p->nSave = 0;
  if( bHoldFree && p->nFree>0 ){
    /* free until proven otherwise: treat them as freed by this
    ** transaction, reusable once it commits */
    int rc = grow((void**)&p->aTxnFreed, &p->nTxnFreedAlloc, p->nFree,
                  sizeof(i64));
    if( rc ) return rc;
    memcpy(p->aTxnFreed, p->aFree, sizeof(i64)*(size_t)p->nFree);
    p->nTxnFreed = p->nFree;
    p->nFree = 0;
  }
  vsSlotsMarkGet(p, &p->txnStart);
  return SQLITE_OK;
}

int vsSlotsCommit(VsSlots *p, int bDelay, i64 iSeq){
  i64 i;
  int rc = SQLITE_OK;
  for(i=0; rc==SQLITE_OK && i<p->nTxnFreed; i++){
    rc = bDelay ? addPending(p, p->aTxnFreed[i], iSeq)
                : addFree(p, p->aTxnFreed[i]);
  }
  if( !bDelay ) sortFree(p);
  p->nTxnFreed = 0;
  p->nUndo = 0;
  p->nSave = 0;
  vsSlotsMarkGet(p, &p->txnStart);
  return rc;
}

void vsSlotsRollback(VsSlots *p){
  vsSlotsMarkRestore(p, &p->txnStart);
  p->nUndo = 0;
  p->nTxnFreed = 0;
  p->nSave = 0;
}

int vsSlotsSavepoint(VsSlots *p, int iSavepoint){
  i64 nAlloc = p->nSaveAlloc;
  int rc = grow((void**)&p->aSave, &nAlloc, iSavepoint+1, sizeof(VsSlotsMark));
  int i;
  if( rc ) return rc;
  p->nSaveAlloc = (int)nAlloc;
  /* levels skipped over (opened before this table joined) start here too */
  for(i=p->nSave; i<iSavepoint; i++) vsSlotsMarkGet(p, &p->aSave[i]);
  vsSlotsMarkGet(p, &p->aSave[iSavepoint]);
  p->nSave = iSavepoint+1;
  return SQLITE_OK;
}

/* SQLite may pass -1: the level below every savepoint, the start of
** this table's part in the transaction. */
void vsSlotsRelease(VsSlots *p, int iSavepoint){
  if( iSavepoint<0 ) iSavepoint = 0;
  if( iSavepoint<p->nSave ) p->nSave = iSavepoint;
}

void vsSlotsRollbackTo(VsSlots *p, int iSavepoint){
  if( iSavepoint<0 ){
    vsSlotsMarkRestore(p, &p->txnStart);
    p->nSave = 0;
  }else if( iSavepoint<p->nSave ){
    vsSlotsMarkRestore(p, &p->aSave[iSavepoint]);
    p->nSave = iSavepoint+1;
  }
}

int vsSlotsAlloc(VsSlots *p, i64 *piSlot){
  int rc;
  if( p->nFree>0 ){
    *piSlot = p->aFree[--p->nFree];
    return SQLITE_OK;
  }
  rc = ensureSlots(p, p->nSlot+1);
  if( rc ) return rc;
  *piSlot = p->nSlot++;
  return SQLITE_OK;
}

int vsSlotsSet(VsSlots *p, i64 iSlot, i64 iId){
  int rc = grow((void**)&p->aUndo, &p->nUndoAlloc, p->nUndo+1,
                sizeof(VsSlotsUndo));
  if( rc ) return rc;
  p->aUndo[p->nUndo].iSlot = iSlot;
  p->aUndo[p->nUndo].iOldId = p->aId[iSlot];
  p->nUndo++;
  p->aId[iSlot] = iId;
  return SQLITE_OK;
}

int vsSlotsFree(VsSlots *p, i64 iSlot){
  int rc = grow((void**)&p->aTxnFreed, &p->nTxnFreedAlloc, p->nTxnFreed+1,
                sizeof(i64));
  if( rc ) return rc;
  rc = vsSlotsSet(p, iSlot, -1);
  if( rc ) return rc;
  p->aTxnFreed[p->nTxnFreed++] = iSlot;
  return SQLITE_OK;
}
