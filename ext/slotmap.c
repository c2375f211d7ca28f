/*
** Slot bookkeeping for a `vectors` table (in memory, per connection).
**
** aId[] mirrors <table>_map from the other side: for each slot of the
** side file, the id stored there or -1. A scan for nearest neighbours
** walks it beside the dense f32 matrix, with no B-tree lookup per slot.
** It reflects what this connection sees: the committed state plus the
** open transaction's own changes. vecstate.c rebuilds it from the map
** whenever another connection may have committed (PRAGMA data_version).
**
** ALLOCATION. A new vector goes to a free slot (lowest first) or past the
** high-water mark. A free slot is one that no committed state any reader
** may still see references:
**   - slots freed by the open transaction are not reused in it (its
**     rollback must find them intact): they wait in aTxnFreed;
**   - at commit they become free at once in rollback-journal mode (a
**     writer commits only when no reader holds an older snapshot), or
**     "pending" in WAL mode, tagged with a sequence number that vecstate.c
**     takes from the WAL header; vecstate.c releases them once the WAL has
**     been restarted since, which SQLite does only when no reader uses an
**     older snapshot.
**
** REUSE FLOOR. Each free slot was freed by some commit; iFreeCommit is
** the latest such commit of any slot that joined aFree, and bReused says
** a transaction took one. vecbind.c raises the side file's floor to it:
** states older than the commit that freed a reused slot are not intact.
**
** ROLLBACK. Every change to aId is logged (slot, old id). A mark records
** the high-water mark, free-list depth, undo-log length, freed count, the
** caller's iTag and the generation iGen; restoring a mark undoes the
** logged changes in reverse and resets the counters. Within a transaction
** the free list is only popped, never pushed, so its popped entries are
** still in place to be restored. Every commit, rollback and rebuild bumps
** iGen, so a mark of a transaction that has ended is not restored.
**
** COMMIT CANNOT FAIL. SQLite has committed when xCommit runs, so there is
** no one left to tell of an error. vsSlotsFree reserves room in aFree
** and aPend for every slot the transaction has freed, where a failure
** still fails the statement;
** vsSlotsCommit then only moves entries into reserved room.
**
** INVARIANTS (asserted in debug builds, slotsOk()):
**   - aFree is sorted in strictly descending slot order, so popping from
**     the end yields the lowest free slot (consecutive inserts fill
**     consecutive slots, and a scan sees dense runs);
**   - every slot in aFree, aPend and aTxnFreed[0..nTxnFreed) lies below
**     nSlot and has aId == -1: no slot is both free and used;
**   - nSlot <= nAlloc, and aId[s] == -1 for s in nSlot..nAlloc-1;
**   - room: nFreeAlloc >= nFree + nTxnFreed and, inside a transaction,
**     nPendAlloc >= nPend + nTxnFreed (see COMMIT CANNOT FAIL).
*/
#include "slotmap.h"
#include <assert.h>
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

#ifndef NDEBUG
/* The invariants above, checked in O(nSlot): at transaction boundaries. */
static int slotsOk(const VsSlots *p){
  i64 i;
  if( p->nSlot<0 || p->nSlot>p->nAlloc ) return 0;
  for(i=p->nSlot; i<p->nAlloc; i++) if( p->aId[i]!=-1 ) return 0;
  for(i=0; i<p->nFree; i++){
    i64 s = p->aFree[i];
    if( s<0 || s>=p->nSlot || p->aId[s]!=-1 ) return 0;
    if( i>0 && p->aFree[i-1]<=s ) return 0;
  }
  for(i=0; i<p->nPend; i++){
    i64 s = p->aPend[i].iSlot;
    if( s<0 || s>=p->nSlot || p->aId[s]!=-1 ) return 0;
  }
  for(i=0; i<p->nTxnFreed; i++){
    i64 s = p->aTxnFreed[i];
    if( s<0 || s>=p->nSlot || p->aId[s]!=-1 ) return 0;
  }
  if( p->nTxnFreed>0 && (p->nFreeAlloc<p->nFree+p->nTxnFreed
                         || p->nPendAlloc<p->nPend+p->nTxnFreed) ){
    return 0;
  }
  return 1;
}
#endif

void vsSlotsInit(VsSlots *p){
  memset(p, 0, sizeof(*p));
}

void vsSlotsClear(VsSlots *p){
  i64 iGen = p->iGen;
  sqlite3_free(p->aId);
  sqlite3_free(p->aFree);
  sqlite3_free(p->aPend);
  sqlite3_free(p->aTxnFreed);
  sqlite3_free(p->aUndo);
  sqlite3_free(p->aSave);
  vsSlotsInit(p);
  p->iGen = iGen+1;
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
  assert( iId>=0 );
  p->aId[iSlot] = iId;
  return SQLITE_OK;
}

/* Note that a slot freed by commit iCommit joins the free list. */
static void freedBy(VsSlots *p, i64 iCommit){
  if( iCommit>p->iFreeCommit ) p->iFreeCommit = iCommit;
}

static int addFree(VsSlots *p, i64 iSlot, i64 iCommit){
  assert( iSlot>=0 && iSlot<p->nSlot && p->aId[iSlot]==-1 );
  int rc = grow((void**)&p->aFree, &p->nFreeAlloc, p->nFree+1, sizeof(i64));
  if( rc==SQLITE_OK ){
    p->aFree[p->nFree++] = iSlot;
    freedBy(p, iCommit);
  }
  return rc;
}

static int addPending(VsSlots *p, i64 iSlot, i64 iSeq, i64 iCommit){
  assert( iSlot>=0 && iSlot<p->nSlot && p->aId[iSlot]==-1 );
  int rc = grow((void**)&p->aPend, &p->nPendAlloc, p->nPend+1,
                sizeof(VsSlotsPending));
  if( rc==SQLITE_OK ){
    p->aPend[p->nPend].iSlot = iSlot;
    p->aPend[p->nPend].iSeq = iSeq;
    p->aPend[p->nPend].iCommit = iCommit;
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

int vsSlotsLoadFinish(VsSlots *p, int bDelay, i64 iSeq, i64 iCommit){
  i64 i;
  int rc = SQLITE_OK;
  for(i=p->nSlot-1; rc==SQLITE_OK && i>=0; i--){
    if( p->aId[i]<0 ){
      rc = bDelay ? addPending(p, i, iSeq, iCommit) : addFree(p, i, iCommit);
    }
  }
  /* added from the highest slot down: descending already */
  assert( rc!=SQLITE_OK || slotsOk(p) );
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
      rc = addFree(p, e->iSlot, e->iCommit);
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
  assert( slotsOk(p) );
  return rc;
}

void vsSlotsMarkGet(VsSlots *p, VsSlotsMark *pMark){
  pMark->nSlot = p->nSlot;
  pMark->nFree = p->nFree;
  pMark->nUndo = p->nUndo;
  pMark->nTxnFreed = p->nTxnFreed;
  pMark->iTag = p->iTag;
  pMark->iGen = p->iGen;
}

void vsSlotsMarkRestore(VsSlots *p, const VsSlotsMark *pMark){
  /* A mark of an ended transaction (vecUpdate's, when a nested
  ** statement's failure rolled the transaction back under it) would bring
  ** back undone changes: its slots freed by the rollback, its aTxnFreed
  ** entries. There is nothing left to restore. */
  if( pMark->iGen!=p->iGen ) return;
  /* a mark is an earlier state of this transaction: the free list was
  ** only popped since, the logs only grew */
  assert( pMark->nUndo<=p->nUndo && pMark->nFree<=p->nFreeAlloc );
  while( p->nUndo>pMark->nUndo ){
    VsSlotsUndo *u = &p->aUndo[--p->nUndo];
    p->aId[u->iSlot] = u->iOldId;
  }
  p->nSlot = pMark->nSlot;
  p->nFree = pMark->nFree;
  p->nTxnFreed = pMark->nTxnFreed;
  p->iTag = pMark->iTag;
}

void vsSlotsBegin(VsSlots *p){
  p->bReused = 0;
  p->nUndo = 0;
  p->nTxnFreed = 0;
  p->nSave = 0;
  vsSlotsMarkGet(p, &p->txnStart);
  assert( slotsOk(p) );
}

void vsSlotsCommit(VsSlots *p, int bDelay, i64 iSeq, i64 iCommit){
  i64 i;
  assert( slotsOk(p) );
  /* room was reserved as the slots were freed: nothing here can fail */
  assert( p->nFree+p->nTxnFreed<=p->nFreeAlloc );
  assert( p->nPend+p->nTxnFreed<=p->nPendAlloc || p->nTxnFreed==0 );
  for(i=0; i<p->nTxnFreed; i++){
    i64 iSlot = p->aTxnFreed[i];
    assert( iSlot>=0 && iSlot<p->nSlot && p->aId[iSlot]==-1 );
    if( bDelay ){
      p->aPend[p->nPend].iSlot = iSlot;
      p->aPend[p->nPend].iSeq = iSeq;
      p->aPend[p->nPend].iCommit = iCommit;
      p->nPend++;
    }else{
      p->aFree[p->nFree++] = iSlot;
      freedBy(p, iCommit);
    }
  }
  if( !bDelay ) sortFree(p);
  p->nTxnFreed = 0;
  p->nUndo = 0;
  p->nSave = 0;
  p->iGen++;
  vsSlotsMarkGet(p, &p->txnStart);
  assert( slotsOk(p) );
}

void vsSlotsRollback(VsSlots *p){
  vsSlotsMarkRestore(p, &p->txnStart);
  p->nUndo = 0;
  p->nTxnFreed = 0;
  p->nSave = 0;
  p->iGen++;
  vsSlotsMarkGet(p, &p->txnStart);
  assert( slotsOk(p) );
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
    p->bReused = 1;
    /* the lowest free slot, not in use */
    assert( *piSlot>=0 && *piSlot<p->nSlot && p->aId[*piSlot]==-1 );
    assert( p->nFree==0 || p->aFree[p->nFree-1]>*piSlot );
    return SQLITE_OK;
  }
  assert( p->nSlot>=p->nAlloc || p->aId[p->nSlot]==-1 );
  rc = ensureSlots(p, p->nSlot+1);
  if( rc ) return rc;
  *piSlot = p->nSlot++;
  return SQLITE_OK;
}

int vsSlotsSet(VsSlots *p, i64 iSlot, i64 iId){
  int rc;
  /* a slot is given an id, loses it, or (UPDATE of the id) changes it:
  ** never freed twice */
  assert( iSlot>=0 && iSlot<p->nSlot && iId>=-1 );
  assert( iId>=0 || p->aId[iSlot]>=0 );
  rc = grow((void**)&p->aUndo, &p->nUndoAlloc, p->nUndo+1,
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
  /* room for the commit to make it free or pending (COMMIT CANNOT FAIL) */
  if( rc==SQLITE_OK ){
    rc = grow((void**)&p->aFree, &p->nFreeAlloc, p->nFree+p->nTxnFreed+1,
              sizeof(i64));
  }
  if( rc==SQLITE_OK ){
    rc = grow((void**)&p->aPend, &p->nPendAlloc, p->nPend+p->nTxnFreed+1,
              sizeof(VsSlotsPending));
  }
  if( rc ) return rc;
  rc = vsSlotsSet(p, iSlot, -1);
  if( rc ) return rc;
  p->aTxnFreed[p->nTxnFreed++] = iSlot;
  return SQLITE_OK;
}
