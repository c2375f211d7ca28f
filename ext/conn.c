/*
** Per-connection state shared by the modules of one connection.
**
** 1. Deferred unlinks. DROP TABLE calls xDestroy at once, yet a DROP
**    inside BEGIN ... ROLLBACK brings the table back, and even an
**    autocommit DROP can fail to commit. So xDestroy never deletes a side
**    file: it records it here. vsConnSettle(), run outside explicit
**    transactions when a vectors table is created, connected or begins a
**    write, and when the connection closes, asks the *committed* database (through a fresh
**    read-only connection) whether a table with that identifier still
**    exists: if not, the drop committed and the file is unlinked; if it
**    does and we are outside any transaction, the drop was rolled back
**    and the record is forgotten.
**
** 2. In-memory stores. temp and :memory: tables keep their vectors in
**    memory. SQLite may disconnect and reconnect a virtual table (schema
**    resets), so the store belongs to the connection, found again by the
**    table's identifier, and is freed when its drop settles or the
**    connection closes.
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

static void settle(VsConn *p, int bClosing){
  DeferredUnlink **pp = &p->pUnlink;
  if( p->bSettling ) return;
  p->bSettling = 1;
  while( *pp ){
    DeferredUnlink *u = *pp;
    int bExists = (bClosing && u->zPath==0) ? 0 : committedTableExists(p, u);
    if( bExists<0 ){
      pp = &u->pNext;
      continue;
    }
    if( !bExists ){
      /* no caller to tell: vsFileUnlink logs a failure (ENOENT is
      ** fine) and syncs the directory */
      if( u->zPath ) vsFileUnlink(u->zPath);
      else vsConnDropMemFile(p, u->zIdent);
    }
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

int vsConnDeferUnlink(VsConn *p, const char *zSchema, const char *zIdent,
                      const char *zPath){
  DeferredUnlink *u = sqlite3_malloc(sizeof(*u));
  const char *zDbFile = sqlite3_db_filename(p->db, zSchema);
  if( u==0 ) return SQLITE_NOMEM;
  memset(u, 0, sizeof(*u));
  u->zDbFile = sqlite3_mprintf("%s", zDbFile ? zDbFile : "");
  u->zSchema = sqlite3_mprintf("%s", zSchema);
  u->zIdent = sqlite3_mprintf("%s", zIdent);
  u->zPath = zPath ? sqlite3_mprintf("%s", zPath) : 0;
  if( !u->zDbFile || !u->zSchema || !u->zIdent || (zPath && !u->zPath) ){
    freeUnlink(u);
    return SQLITE_NOMEM;
  }
  u->pNext = p->pUnlink;
  p->pUnlink = u;
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
  return __atomic_load_n(&p->nThread, __ATOMIC_RELAXED);
}

void vsConnSetThreads(VsConn *p, int nThread){
  __atomic_store_n(&p->nThread, nThread, __ATOMIC_RELAXED);
}
