/*
** Pending inserts: the one owner of the rule both modules follow, as
** FTS5 keeps its pending terms.
**
** An INSERT of an id above every id of its table cannot conflict, so its
** shadow row need not be written at once: up to nMax such rows are kept
** here (their ids; the owning module keeps the rest of each row, indexed
** by the same row number) and written with one multi-row INSERT. The
** statement that inserts holds the database's write lock, so no other
** connection can commit in between. The rule needs the table's largest
** id: read once per transaction (vsPendingKnowMaxId) and kept up to date
** here.
**
** WHEN THEY ARE WRITTEN. Every owner with rows is on its connection's
** list, and a flush writes every owner's rows, so that anything the
** connection reads next sees them, whichever table (or whichever
** instance of a table, after SQLite reconnected it in a transaction)
** holds them. The modules flush:
**   - before anything reads, updates or deletes their shadow tables, and
**     before an insert that may conflict;
**   - in xSavepoint, before the new level opens: the rows then belong to
**     the level that wrote them, so ROLLBACK TO drops exactly the rows
**     written after the savepoint (vsPendingDrop);
**   - in xSync, before SQLite commits (it lets xSync write: the nested
**     statement does not commit, as FTS5 relies on).
**
** FAILURES. A failed write keeps the rows it did not store: nothing is
** lost silently, the next flush retries, and a failure in xSync fails
** the COMMIT. A failure that rolls the transaction (or statement) back
** from inside the nested INSERT calls the owner's xRollback/xRollbackTo,
** which drops the rows: the flush sees iDropped change and keeps none.
** last_insert_rowid() belongs to the user and is restored.
*/
#include "pending.h"
#include <assert.h>
#include <string.h>

void vsPendingInit(VsPending *p, VsConn *pConn, int nMax, void *pOwner,
                   VsPendingWrite xWrite, VsPendingShift xShift){
  assert( nMax>=1 && nMax<=VS_PENDING_MAX );
  memset(p, 0, sizeof(*p));
  p->pConn = pConn;
  p->nMax = nMax;
  p->pOwner = pOwner;
  p->xWrite = xWrite;
  p->xShift = xShift;
}

/* Take p off its connection's list of owners with rows. */
static void unlist(VsPending *p){
  VsPending **pp;
  for(pp=vsConnPendingList(p->pConn); *pp; pp=&(*pp)->pNext){
    if( *pp==p ){
      *pp = p->pNext;
      p->pNext = 0;
      return;
    }
  }
  assert( 0 );                  /* an owner with rows is listed */
}

void vsPendingDrop(VsPending *p){
  if( p->pConn==0 ) return;     /* never initialised */
  if( p->nRow>0 ) unlist(p);
  p->nRow = 0;
  p->iDropped++;
  p->bMaxKnown = 0;
}

int vsPendingFull(const VsPending *p){
  return p->nRow>=p->nMax;
}

int vsPendingAdd(VsPending *p, i64 iId){
  assert( !p->bFlushing );
  assert( p->nRow<p->nMax );
  assert( p->nRow==0 || iId>p->aId[p->nRow-1] );
  assert( p->bMaxKnown && iId>p->iMaxId );
  if( p->nRow==0 ){
    VsPending **pp = vsConnPendingList(p->pConn);
    p->pNext = *pp;
    *pp = p;
  }
  p->aId[p->nRow] = iId;
  p->iMaxId = iId;
  return p->nRow++;
}

int vsPendingKnowMaxId(VsPending *p, sqlite3_stmt *pMax, char **pzErr){
  int rc;
  *pzErr = 0;
  if( p->bMaxKnown ) return SQLITE_OK;
  rc = vsPendingFlushAll(p->pConn, pzErr);
  if( rc ) return rc;
  p->iMaxId = -1;
  if( sqlite3_step(pMax)==SQLITE_ROW
   && sqlite3_column_type(pMax, 0)!=SQLITE_NULL ){
    p->iMaxId = sqlite3_column_int64(pMax, 0);
  }
  rc = sqlite3_reset(pMax);
  if( rc==SQLITE_OK ) p->bMaxKnown = 1;
  return rc;
}

void vsPendingSawId(VsPending *p, i64 iId){
  if( p->bMaxKnown && iId>p->iMaxId ) p->iMaxId = iId;
}

void vsPendingForgetMax(VsPending *p){
  p->bMaxKnown = 0;
}

/* Write p's rows; see FAILURES. */
static int flushOwner(VsPending *p, char **pzErr){
  sqlite3 *db = vsConnDb(p->pConn);
  i64 iLastRowid = sqlite3_last_insert_rowid(db);
  unsigned iDropped = p->iDropped;
  int nRow = p->nRow, nDone = 0, rc;
  assert( !p->bFlushing );      /* the nested INSERT never flushes */
  assert( nRow>0 && nRow<=p->nMax );
  p->bFlushing = 1;
  rc = p->xWrite(p->pOwner, nRow, &nDone, pzErr);
  p->bFlushing = 0;
  sqlite3_set_last_insert_rowid(db, iLastRowid);
  assert( rc!=SQLITE_OK || nDone==nRow );
  assert( nDone>=0 && nDone<=nRow );
  if( p->iDropped!=iDropped ) return rc;    /* rolled back: rows gone */
  if( nDone==nRow ){
    unlist(p);
    p->nRow = 0;
  }else if( nDone>0 ){
    memmove(p->aId, &p->aId[nDone], sizeof(i64)*(size_t)(nRow-nDone));
    p->xShift(p->pOwner, nDone, nRow-nDone);
    p->nRow = nRow-nDone;
  }
  return rc;
}

int vsPendingFlushAll(VsConn *pConn, char **pzErr){
  VsPending **pp = vsConnPendingList(pConn);
  int rc = SQLITE_OK;
  *pzErr = 0;
  while( rc==SQLITE_OK && *pp ){
    VsPending *p = *pp;
    assert( !p->bFlushing );                /* see flushOwner */
    if( p->bFlushing ) return SQLITE_OK;
    rc = flushOwner(p, pzErr);
    if( rc==SQLITE_OK ) assert( *pp!=p );   /* it left the list */
  }
  return rc;
}
