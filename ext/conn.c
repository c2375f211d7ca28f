/*
** Per-connection state shared by the modules of one connection.
**
** 1. Deferred unlinks. DROP TABLE calls xDestroy at once, yet the drop
**    may still be undone: BEGIN ... ROLLBACK, ROLLBACK TO a savepoint
**    older than the DROP, a COMMIT that fails and is followed by
**    ROLLBACK, sqlite3_close() without COMMIT. So xDestroy never deletes
**    a side file: it records it here (vsConnDeferUnlink), and the file
**    (or the in-memory store) goes once the drop has committed.
**
**    SEEING THE COMMIT. SQLite tells a virtual table that its transaction
**    committed through xCommit, called (sqlite3VtabCommit, from
**    vdbeCommit) after the b-tree files have committed, for every table
**    that joined the transaction through xBegin. A destroyed table gets no
**    xCommit (sqlite3VtabCallDestroy clears its pointer), so the record
**    is handed to a table that does: `veles_txn`, an eponymous-only
**    virtual table of this file that holds no rows. vsConnDeferUnlink
**    makes it join the transaction by running "DELETE FROM veles_txn"
**    nested in the DROP: a write to a virtual table starts with OP_VBegin,
**    so SQLite calls its xBegin (once per transaction) and, when levels
**    are open (savepoints, the DROP's statement journal), xSavepoint(N)
**    for the innermost one (sqlite3VtabBegin). The DELETE finds no row:
**    no xUpdate runs and no change is counted. From then on SQLite calls
**    its xSavepoint, xRelease, xRollbackTo and finally xCommit or
**    xRollback, and this file keeps count of the levels open:
**      - a record carries the number of levels open when it was made;
**      - xRelease(N) folds the records above level N into level N;
**      - xRollbackTo(N) forgets the records above N: those tables are
**        back (so a ROLLBACK TO older than the DROP forgets exactly the
**        drops made since);
**      - xCommit removes the file of every record (vsFileUnlink: errors
**        logged, directory synced) or frees the in-memory store, before
**        COMMIT or the autocommit DROP returns;
**      - xRollback forgets them; sqlite3_close() of a connection in a
**        transaction rolls it back through xRollback as well.
**    A table created in the same transaction is the exception: rolling
**    back undoes its CREATE too. A live instance of it removes its file
**    in its own xRollback (vecstate.c); a destroyed one cannot, so
**    xRollback here removes the file of such a record (and so does
**    ROLLBACK TO the savepoint that began the transaction: SQLite passes
**    level -1), while ROLLBACK TO an inner savepoint, which may or may
**    not undo the CREATE, leaves the record to the fallback.
**
**    FALLBACK. The nested DELETE writes to the main database (eponymous
**    tables live there). It is run only when that takes no lock the
**    transaction does not hold already: when main is in a write
**    transaction (always so for a DROP of a main table) or has no file
**    (:memory:). A DROP in temp or an attached database on a connection
**    that has not written main, or a DELETE that fails (out of memory,
**    an authorizer), leaves a record of unknown level. vsConnSettle(),
**    run outside explicit transactions when a vectors table is created,
**    connected or begins a write, and when the connection closes, asks
**    the *committed* database (through a fresh read-only connection;
**    the connection itself for an in-memory store) whether a table with
**    that identifier still exists: if not, the drop committed and the
**    file is unlinked; if it does and we are outside any transaction,
**    the drop was rolled back and the record is forgotten. Settling
**    leaves alone the records veles_txn tracks, except at close.
**
**    WHY THIS WAY. sqlite3_commit_hook() runs before the commit (and may
**    turn it into a rollback) and belongs to the application; the WAL
**    hook fires only in WAL mode; xDestroy cannot unlink, as a ROLLBACK
**    must find the file. A nested write of our own is the one way to be
**    called after the commit. veles_txn is kept out of the way: it reads
**    as an empty table, refuses INSERT and UPDATE ("veles_txn: ..."), a
**    user's DELETE only joins the transaction (harmless with no records),
**    CREATE VIRTUAL TABLE ... USING veles_txn fails (no xCreate), and
**    SQLITE_VTAB_DIRECTONLY keeps it out of triggers and views.
**
** 2. In-memory stores. temp and :memory: tables keep their vectors in
**    memory. SQLite may disconnect and reconnect a virtual table (schema
**    resets), so the store belongs to the connection, found again by the
**    table's identifier, and is freed when its drop commits (as a side
**    file is removed, above) or the connection closes.
**
** 3. Settings: the veles_threads() setting of the connection (search.c).
*/
#include "veles_int.h"
#include "sidefile.h"
#include <assert.h>
#include <string.h>

typedef struct DeferredUnlink DeferredUnlink;
struct DeferredUnlink {
  char *zDbFile;          /* database file holding the table; "" = memory */
  char *zSchema;          /* schema name at drop time (memory tables) */
  char *zIdent;           /* the table's identifier */
  char *zPath;            /* side file to unlink; 0 for memory tables */
  int iLevel;             /* levels open at the drop, as veles_txn counts
                          ** them; -1: not tracked, settling decides */
  int bCreated;           /* the table was created in this transaction */
  DeferredUnlink *pNext;
};

typedef struct MemStore MemStore;
struct MemStore {
  char *zIdent;           /* identifier of the owning table */
  VsFile *pFile;          /* the in-memory side file */
  MemStore *pNext;
};

struct VsConn {
  sqlite3 *db;            /* the connection */
  int nRef;               /* references: the entry point and each module */
  int bSettling;          /* guard against re-entry */
  int bTxn;               /* veles_txn is in the open transaction */
  int nLevel;             /* ... and the levels open (savepoints) */
  DeferredUnlink *pUnlink;/* drops awaiting their outcome */
  MemStore *pMem;         /* in-memory stores of temp/:memory: tables */
  VsPending *pPending;    /* owners with pending inserts (pending.c) */
  VecState *pVecState;    /* `vectors` tables' shared state (vecstate.c) */
  int nThread;            /* veles_threads(): 0 = automatic */
};

VsConn *vsConnNew(sqlite3 *db){
  VsConn *p = sqlite3_malloc(sizeof(*p));
  if( p ){
    memset(p, 0, sizeof(*p));
    p->db = db;
    p->nRef = 1;
  }
  return p;
}

void vsConnRef(VsConn *p){ p->nRef++; }

sqlite3 *vsConnDb(VsConn *p){ return p->db; }
VsPending **vsConnPendingList(VsConn *p){ return &p->pPending; }
VecState **vsConnVecStates(VsConn *p){ return &p->pVecState; }

static void freeUnlink(DeferredUnlink *u){
  sqlite3_free(u->zDbFile);
  sqlite3_free(u->zSchema);
  sqlite3_free(u->zIdent);
  sqlite3_free(u->zPath);
  sqlite3_free(u);
}

/*
** 1 if some `vectors` table of database zSchema on db has identifier
** zIdent, 0 if none has, -1 if that cannot be told now.
*/
static int identExists(sqlite3 *db, const char *zSchema, const char *zIdent){
  sqlite3_stmt *pList = 0;
  char *zSql;
  int rc, bFound = 0;
  zSql = sqlite3_mprintf("SELECT name FROM \"%w\".sqlite_schema "
      "WHERE type='table' AND name LIKE '%%\\_config' ESCAPE '\\'", zSchema);
  if( zSql==0 ) return -1;
  rc = sqlite3_prepare_v2(db, zSql, -1, &pList, 0);
  sqlite3_free(zSql);
  if( rc ) return -1;
  while( !bFound && (rc = sqlite3_step(pList))==SQLITE_ROW ){
    sqlite3_stmt *pGet = 0;
    zSql = sqlite3_mprintf("SELECT 1 FROM \"%w\".\"%w\" "
        "WHERE k='ident' AND v=?", zSchema, sqlite3_column_text(pList, 0));
    if( zSql && sqlite3_prepare_v2(db, zSql, -1, &pGet, 0)==SQLITE_OK ){
      sqlite3_bind_text(pGet, 1, zIdent, -1, SQLITE_STATIC);
      if( sqlite3_step(pGet)==SQLITE_ROW ) bFound = 1;
    }
    sqlite3_finalize(pGet);
    sqlite3_free(zSql);
  }
  if( rc!=SQLITE_ROW && rc!=SQLITE_DONE ) bFound = -1;
  sqlite3_finalize(pList);
  return bFound;
}

/* Whether the committed database still holds the table of u. */
static int committedTableExists(VsConn *p, DeferredUnlink *u){
  sqlite3 *pFresh = 0;
  int r;
  if( u->zPath==0 ){
    return identExists(p->db, u->zSchema, u->zIdent);
  }
  if( sqlite3_open_v2(u->zDbFile, &pFresh, SQLITE_OPEN_READONLY, 0) ){
    sqlite3_close(pFresh);
    return -1;
  }
  r = identExists(pFresh, "main", u->zIdent);
  sqlite3_close(pFresh);
  return r;
}

/* The drop of u has committed: remove its side file or in-memory store. */
static void removeStore(VsConn *p, DeferredUnlink *u){
  /* no caller to tell: vsFileUnlink logs a failure (ENOENT is fine) and
  ** syncs the directory */
  if( u->zPath ) vsFileUnlink(u->zPath);
  else vsConnDropMemFile(p, u->zIdent);
}

static void settle(VsConn *p, int bClosing){
  DeferredUnlink **pp = &p->pUnlink;
  if( p->bSettling ) return;
  p->bSettling = 1;
  while( *pp ){
    DeferredUnlink *u = *pp;
    int bExists;
    if( u->iLevel>=0 && !bClosing ){
      pp = &u->pNext;             /* veles_txn's xCommit or xRollback */
      continue;
    }
    bExists = (bClosing && u->zPath==0) ? 0 : committedTableExists(p, u);
    if( bExists<0 ){
      pp = &u->pNext;
      continue;
    }
    if( !bExists ) removeStore(p, u);
    *pp = u->pNext;
    freeUnlink(u);
  }
  p->bSettling = 0;
}

void vsConnSettle(VsConn *p){
  if( p->pUnlink==0 || !sqlite3_get_autocommit(p->db) ) return;
  settle(p, 0);
}

void vsConnUnref(void *pArg){
  VsConn *p = (VsConn*)pArg;
  if( p==0 || --p->nRef>0 ) return;
  /* SQLite disconnects every table before it destroys the modules */
  assert( p->pPending==0 && p->pVecState==0 );
  settle(p, 1);
  while( p->pUnlink ){
    DeferredUnlink *u = p->pUnlink;
    p->pUnlink = u->pNext;
    freeUnlink(u);
  }
  while( p->pMem ){
    MemStore *m = p->pMem;
    p->pMem = m->pNext;
    vsFileClose(m->pFile);
    sqlite3_free(m->zIdent);
    sqlite3_free(m);
  }
  sqlite3_free(p);
}

/*
** Whether veles_txn may join the open transaction: its DELETE writes to
** main, which must not cost a lock the transaction does not hold (see
** FALLBACK above).
*/
static int canJoin(VsConn *p){
  const char *zMain = sqlite3_db_filename(p->db, "main");
  return sqlite3_txn_state(p->db, "main")==SQLITE_TXN_WRITE
      || zMain==0 || zMain[0]==0;
}

int vsConnDeferUnlink(VsConn *p, const char *zSchema, const char *zIdent,
                      const char *zPath, int bCreated){
  DeferredUnlink *u = sqlite3_malloc(sizeof(*u));
  const char *zDbFile = sqlite3_db_filename(p->db, zSchema);
  if( u==0 ) return SQLITE_NOMEM;
  memset(u, 0, sizeof(*u));
  u->zDbFile = sqlite3_mprintf("%s", zDbFile ? zDbFile : "");
  u->zSchema = sqlite3_mprintf("%s", zSchema);
  u->zIdent = sqlite3_mprintf("%s", zIdent);
  u->zPath = zPath ? sqlite3_mprintf("%s", zPath) : 0;
  u->iLevel = -1;
  u->bCreated = bCreated;
  if( !u->zDbFile || !u->zSchema || !u->zIdent || (zPath && !u->zPath) ){
    freeUnlink(u);
    return SQLITE_NOMEM;
  }
  u->pNext = p->pUnlink;
  p->pUnlink = u;
  /* Join the transaction through veles_txn unless it has joined already.
  ** WHERE 0: should a table of the user's shadow the name, nothing of
  ** it is touched (and bTxn stays 0: the fallback settles the record).
  ** A failure leaves the record to the fallback too; the DROP goes on. */
  if( !p->bTxn && canJoin(p) ){
    sqlite3_exec(p->db, "DELETE FROM main.veles_txn WHERE 0", 0, 0, 0);
  }
  if( p->bTxn ) u->iLevel = p->nLevel;
  return SQLITE_OK;
}

VsFile *vsConnMemFile(VsConn *p, const char *zIdent){
  MemStore *m;
  for(m=p->pMem; m; m=m->pNext){
    if( strcmp(m->zIdent, zIdent)==0 ) return m->pFile;
  }
  return 0;
}

int vsConnAddMemFile(VsConn *p, const char *zIdent, VsFile *pFile){
  MemStore *m = sqlite3_malloc(sizeof(*m));
  if( m==0 ) return SQLITE_NOMEM;
  m->zIdent = sqlite3_mprintf("%s", zIdent);
  if( m->zIdent==0 ){
    sqlite3_free(m);
    return SQLITE_NOMEM;
  }
  m->pFile = pFile;
  m->pNext = p->pMem;
  p->pMem = m;
  return SQLITE_OK;
}

VsFile *vsConnSwapMemFile(VsConn *p, const char *zIdent, VsFile *pFile){
  MemStore *m;
  for(m=p->pMem; m; m=m->pNext){
    if( strcmp(m->zIdent, zIdent)==0 ){
      VsFile *pOld = m->pFile;
      m->pFile = pFile;
      return pOld;
    }
  }
  return 0;
}

void vsConnDropMemFile(VsConn *p, const char *zIdent){
  MemStore **pp;
  for(pp=&p->pMem; *pp; pp=&(*pp)->pNext){
    MemStore *m = *pp;
    if( strcmp(m->zIdent, zIdent)==0 ){
      *pp = m->pNext;
      vsFileClose(m->pFile);
      sqlite3_free(m->zIdent);
      sqlite3_free(m);
      return;
    }
  }
}

int vsConnThreads(VsConn *p){
  return p->nThread;
}

void vsConnSetThreads(VsConn *p, int nThread){
  p->nThread = nThread;
}

/* ------------------------------------------------------------------ */
/* veles_txn: an empty table that joins transactions (see SEEING THE   */
/* COMMIT above)                                                       */
/* ------------------------------------------------------------------ */

typedef struct TxnTable TxnTable;
struct TxnTable {
  sqlite3_vtab base;
  VsConn *pConn;          /* the connection's state (the module's aux) */
};

static int txnConnect(sqlite3 *db, void *pAux, int argc,
                      const char *const *argv, sqlite3_vtab **ppVtab,
                      char **pzErr){
  TxnTable *p;
  int rc;
  (void)argc; (void)argv; (void)pzErr;
  *ppVtab = 0;
  rc = sqlite3_declare_vtab(db, "CREATE TABLE x(x)");
  if( rc ) return rc;
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  p = sqlite3_malloc(sizeof(*p));
  if( p==0 ) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  p->pConn = (VsConn*)pAux;
  *ppVtab = &p->base;
  return SQLITE_OK;
}

static int txnDisconnect(sqlite3_vtab *pVtab){
  sqlite3_free(pVtab);
  return SQLITE_OK;
}

static int txnBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo){
  (void)pVtab;
  pInfo->estimatedCost = 1.0;
  pInfo->estimatedRows = 1;
  return SQLITE_OK;
}

static int txnOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCur){
  sqlite3_vtab_cursor *pCur = sqlite3_malloc(sizeof(*pCur));
  (void)pVtab;
  if( pCur==0 ) return SQLITE_NOMEM;
  memset(pCur, 0, sizeof(*pCur));
  *ppCur = pCur;
  return SQLITE_OK;
}

static int txnClose(sqlite3_vtab_cursor *pCur){
  sqlite3_free(pCur);
  return SQLITE_OK;
}

/* No rows: every scan is at its end at once. */
static int txnFilter(sqlite3_vtab_cursor *pCur, int idxNum,
                     const char *idxStr, int argc, sqlite3_value **argv){
  (void)pCur; (void)idxNum; (void)idxStr; (void)argc; (void)argv;
  return SQLITE_OK;
}
static int txnNext(sqlite3_vtab_cursor *pCur){ (void)pCur; return SQLITE_OK; }
static int txnEof(sqlite3_vtab_cursor *pCur){ (void)pCur; return 1; }
static int txnColumn(sqlite3_vtab_cursor *pCur, sqlite3_context *pCtx,
                     int iCol){
  (void)pCur; (void)pCtx; (void)iCol;
  return SQLITE_OK;
}
static int txnRowid(sqlite3_vtab_cursor *pCur, sqlite3_int64 *piRowid){
  (void)pCur;
  *piRowid = 0;
  return SQLITE_OK;
}

/* INSERT and UPDATE are refused (a DELETE finds no row to pass here). */
static int txnUpdate(sqlite3_vtab *pVtab, int argc, sqlite3_value **argv,
                     sqlite3_int64 *piRowid){
  (void)argc; (void)argv; (void)piRowid;
  sqlite3_free(pVtab->zErrMsg);
  pVtab->zErrMsg = sqlite3_mprintf("veles_txn: read-only: it is internal "
                                   "to veles");
  return SQLITE_READONLY;
}

static int txnBegin(sqlite3_vtab *pVtab){
  VsConn *p = ((TxnTable*)pVtab)->pConn;
#ifndef NDEBUG
  DeferredUnlink *u;
  for(u=p->pUnlink; u; u=u->pNext) assert( u->iLevel<0 );
#endif
  assert( !p->bTxn );
  p->bTxn = 1;
  p->nLevel = 0;
  return SQLITE_OK;
}

static int txnSync(sqlite3_vtab *pVtab){ (void)pVtab; return SQLITE_OK; }

/* The transaction has committed: so have the drops it tracks. */
static int txnCommit(sqlite3_vtab *pVtab){
  VsConn *p = ((TxnTable*)pVtab)->pConn;
  DeferredUnlink **pp = &p->pUnlink;
  while( *pp ){
    DeferredUnlink *u = *pp;
    if( u->iLevel<0 ){
      pp = &u->pNext;
      continue;
    }
    removeStore(p, u);
    *pp = u->pNext;
    freeUnlink(u);
  }
  p->bTxn = 0;
  p->nLevel = 0;
  return SQLITE_OK;
}

/*
** Undo the tracked drops above level iAbove (-1: the whole transaction,
** by ROLLBACK or ROLLBACK TO the savepoint that began it).
** A table created in this transaction may be undone as well: at a full
** rollback certainly, so its file goes now (an in-memory store is left
** to settling: a live instance of the table may still use it until its
** own xRollback, which then frees it); at a ROLLBACK TO maybe, so
** settling decides.
*/
static void undoAbove(VsConn *p, int iAbove){
  DeferredUnlink **pp = &p->pUnlink;
  while( *pp ){
    DeferredUnlink *u = *pp;
    if( u->iLevel<=iAbove ){
      pp = &u->pNext;
      continue;
    }
    if( u->bCreated && (iAbove>=0 || u->zPath==0) ){
      u->iLevel = -1;
      pp = &u->pNext;
      continue;
    }
    if( u->bCreated ) vsFileUnlink(u->zPath);
    *pp = u->pNext;
    freeUnlink(u);
  }
}

static int txnRollback(sqlite3_vtab *pVtab){
  VsConn *p = ((TxnTable*)pVtab)->pConn;
  undoAbove(p, -1);
  p->bTxn = 0;
  p->nLevel = 0;
  return SQLITE_OK;
}

static int txnSavepoint(sqlite3_vtab *pVtab, int iSavepoint){
  VsConn *p = ((TxnTable*)pVtab)->pConn;
  assert( p->bTxn && iSavepoint>=0 );
  p->nLevel = iSavepoint+1;
  return SQLITE_OK;
}

static int txnRelease(sqlite3_vtab *pVtab, int iSavepoint){
  VsConn *p = ((TxnTable*)pVtab)->pConn;
  DeferredUnlink *u;
  assert( p->bTxn && iSavepoint>=-1 );
  /* -1: the savepoint that began the transaction; its drops belong to the
  ** transaction (level 0), not to "untracked" (-1) */
  if( iSavepoint<0 ) iSavepoint = 0;
  for(u=p->pUnlink; u; u=u->pNext){
    if( u->iLevel>iSavepoint ) u->iLevel = iSavepoint;
  }
  if( p->nLevel>iSavepoint ) p->nLevel = iSavepoint;
  return SQLITE_OK;
}

/* iSavepoint is -1 for ROLLBACK TO the savepoint that began the
** transaction: everything is undone, as by xRollback. */
static int txnRollbackTo(sqlite3_vtab *pVtab, int iSavepoint){
  VsConn *p = ((TxnTable*)pVtab)->pConn;
  assert( p->bTxn && iSavepoint>=-1 );
  undoAbove(p, iSavepoint);
  p->nLevel = iSavepoint+1;
  return SQLITE_OK;
}

static sqlite3_module txnModule = {
  /* iVersion    */ 2,
  /* xCreate     */ 0,            /* eponymous only */
  /* xConnect    */ txnConnect,
  /* xBestIndex  */ txnBestIndex,
  /* xDisconnect */ txnDisconnect,
  /* xDestroy    */ 0,
  /* xOpen       */ txnOpen,
  /* xClose      */ txnClose,
  /* xFilter     */ txnFilter,
  /* xNext       */ txnNext,
  /* xEof        */ txnEof,
  /* xColumn     */ txnColumn,
  /* xRowid      */ txnRowid,
  /* xUpdate     */ txnUpdate,
  /* xBegin      */ txnBegin,
  /* xSync       */ txnSync,
  /* xCommit     */ txnCommit,
  /* xRollback   */ txnRollback,
  /* xFindFunction */ 0,
  /* xRename     */ 0,
  /* xSavepoint  */ txnSavepoint,
  /* xRelease    */ txnRelease,
  /* xRollbackTo */ txnRollbackTo,
  /* xShadowName */ 0,
};

int vsConnRegister(sqlite3 *db, VsConn *pConn, int bRemove){
  if( bRemove ) return sqlite3_create_module_v2(db, "veles_txn", 0, 0, 0);
  vsConnRef(pConn);
  return sqlite3_create_module_v2(db, "veles_txn", &txnModule, pConn,
                                  vsConnUnref);
}
