/*
** Pending inserts, shared by the `vectors` and `payloads` modules: rows
** whose id is above every id of their table, kept in memory and written
** later with one multi-row INSERT. See pending.c.
*/
#ifndef PENDING_H
#define PENDING_H
#include "veles_int.h"

/* Most rows one owner keeps pending (and writes with one statement). */
#define VS_PENDING_MAX 64

typedef struct VsPending VsPending;

/*
** Write rows 0 .. nRow-1 (ids aId[0..nRow-1]) to the shadow table;
** *pnDone gets how many were written before an error, which is returned
** with its message in *pzErr (sqlite3_mprintf, may stay 0).
*/
typedef int (*VsPendingWrite)(void *pOwner, int nRow, int *pnDone,
                              char **pzErr);
/* Rows 0 .. nDone-1 were written: move the owner's per-row data of rows
** nDone .. nDone+nLeft-1 down to 0 .. nLeft-1. */
typedef void (*VsPendingShift)(void *pOwner, int nDone, int nLeft);

struct VsPending {
  VsConn *pConn;          /* the connection whose list holds this owner */
  VsPendingWrite xWrite;  /* writes the rows (the owner's statement) */
  VsPendingShift xShift;  /* moves the owner's row data after a write */
  void *pOwner;           /* first argument of both */
  int nMax;               /* rows before a write is due, <= VS_PENDING_MAX */
  int nRow;               /* rows pending */
  i64 aId[VS_PENDING_MAX];/* their ids, strictly ascending */
  int bFlushing;          /* a write of these rows is running */
  i64 iMaxId;             /* the table's largest id, pending rows
                          ** included (-1: empty), while bMaxKnown */
  int bMaxKnown;          /* iMaxId was read in this transaction */
  unsigned iDropped;      /* counts vsPendingDrop() calls */
  VsPending *pNext;       /* next owner with rows, on pConn's list */
};

/* Set up p (zeroed memory or a cleared owner) for owner pOwner. */
void vsPendingInit(VsPending *p, VsConn *pConn, int nMax, void *pOwner,
                   VsPendingWrite xWrite, VsPendingShift xShift);
/* Forget the rows, and the largest id, and leave the connection's list
** (ROLLBACK, ROLLBACK TO, close). */
void vsPendingDrop(VsPending *p);
/* 1 when no row can be added before a flush. */
int vsPendingFull(const VsPending *p);
/* Append a row for iId (above the table's largest id, known; the caller
** flushed a full owner first); returns its row number for the owner's
** per-row data. */
int vsPendingAdd(VsPending *p, i64 iId);
/* Make p->iMaxId known: unless it is, write every pending row and read it
** with pMax (SELECT max(id) FROM the shadow table). On an error *pzErr
** gets the flush's message, or stays 0 when pMax failed (the connection's
** message says why). */
int vsPendingKnowMaxId(VsPending *p, sqlite3_stmt *pMax, char **pzErr);
/* Row iId was written directly: the largest id is at least iId. */
void vsPendingSawId(VsPending *p, i64 iId);
/* The largest id may have moved (a new transaction, a delete of it, an id
** changed): read it again when it is next needed. */
void vsPendingForgetMax(VsPending *p);
/* Write the pending rows of every owner of the connection (whatever
** reads or changes a table must see them). On an error, the rows not
** written stay pending and *pzErr gets the message. */
int vsPendingFlushAll(VsConn *pConn, char **pzErr);

#endif /* PENDING_H */
