/*
** The slot allocator of a `vectors` table and its slot -> id array,
** with the undo log that makes ROLLBACK and ROLLBACK TO exact.
** Pure in-memory bookkeeping: no SQL, no I/O. See slotmap.c.
*/
#ifndef SLOTMAP_H
#define SLOTMAP_H
#include "veles_int.h"

typedef struct VsSlots VsSlots;
typedef struct VsSlotsMark VsSlotsMark;
typedef struct VsSlotsUndo VsSlotsUndo;
typedef struct VsSlotsPending VsSlotsPending;

/* A point the state can be restored to (a savepoint, or a statement's
** start). iTag is a caller value saved and restored with it. */
struct VsSlotsMark {
  i64 nSlot, nFree, nUndo, nTxnFreed, iTag;
  i64 iGen;               /* VsSlots.iGen when taken */
};

struct VsSlotsUndo { i64 iSlot, iOldId; };
struct VsSlotsPending {
  i64 iSlot;
  i64 iSeq;               /* WAL checkpoint sequence number after the free */
  i64 iCommit;            /* the commit that freed it (vecbind.c) */
};

struct VsSlots {
  i64 *aId;               /* aId[slot]: id stored there, or -1 if none */
  i64 nSlot;              /* slots in use or known: the high-water mark */
  i64 nAlloc;             /* allocated entries of aId */
  i64 *aFree;             /* slots safe to write now; popped from the end */
  i64 nFree, nFreeAlloc;
  VsSlotsPending *aPend;  /* freed slots waiting until no reader sees them */
  i64 nPend, nPendAlloc;
  i64 *aTxnFreed;         /* slots freed by the open transaction */
  i64 nTxnFreed, nTxnFreedAlloc;
  VsSlotsUndo *aUndo;     /* changes to aId made by the open transaction */
  i64 nUndo, nUndoAlloc;
  VsSlotsMark *aSave;     /* aSave[i]: state at savepoint i */
  int nSave, nSaveAlloc;
  VsSlotsMark txnStart;   /* state at the start of the transaction */
  i64 iTag;               /* caller value (vecstate.c: the dimension) */
  i64 iGen;               /* bumped by every commit, rollback and rebuild:
                          ** a mark of an older generation is stale */
  i64 iFreeCommit;        /* the latest commit that freed a slot which
                          ** joined aFree (vecbind.c: the reuse floor) */
  int bReused;            /* a slot was taken from aFree since Begin */
};

#define VS_SEQ_UNKNOWN (-1)

void vsSlotsInit(VsSlots *p);
void vsSlotsClear(VsSlots *p);

/* Rebuild from the committed map: nSlot slots, then one call per row. */
int vsSlotsLoadStart(VsSlots *p, i64 nSlot);
/* Returns SQLITE_CORRUPT when iSlot is out of range or already used. */
int vsSlotsLoadRow(VsSlots *p, i64 iSlot, i64 iId);
/* Unreferenced slots become free now (bDelay==0) or pending with iSeq;
** iCommit: the commit the map was read at (they were freed by it or
** earlier). */
int vsSlotsLoadFinish(VsSlots *p, int bDelay, i64 iSeq, i64 iCommit);

/* Move pending slots whose sequence differs from iSeq to the free list
** (all of them when bAll); give unknown sequences the value iSeq. */
int vsSlotsReleasePending(VsSlots *p, int bAll, i64 iSeq);

/* Transactions. */
/* Start a transaction. */
void vsSlotsBegin(VsSlots *p);
/* Freed slots become free (bDelay==0) or pending with iSeq; iCommit
** numbers the commit that freed them. Cannot fail: vsSlotsFree reserved
** the room. */
void vsSlotsCommit(VsSlots *p, int bDelay, i64 iSeq, i64 iCommit);
void vsSlotsRollback(VsSlots *p);
int vsSlotsSavepoint(VsSlots *p, int iSavepoint);
void vsSlotsRelease(VsSlots *p, int iSavepoint);
void vsSlotsRollbackTo(VsSlots *p, int iSavepoint);
void vsSlotsMarkGet(VsSlots *p, VsSlotsMark *pMark);
/* Restore a mark; a stale one (the transaction it was taken in has ended
** since, e.g. a nested statement's failure rolled it back) is ignored. */
void vsSlotsMarkRestore(VsSlots *p, const VsSlotsMark *pMark);

/* Changes within a transaction. */
int vsSlotsAlloc(VsSlots *p, i64 *piSlot);
int vsSlotsSet(VsSlots *p, i64 iSlot, i64 iId);
int vsSlotsFree(VsSlots *p, i64 iSlot);

#endif
