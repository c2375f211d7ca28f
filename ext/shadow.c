/*
** Shadow-table plumbing: one owner for what both modules do with the
** ordinary tables behind a virtual table (as fts5_storage.c does for
** FTS5).
**
** A table <t> of schema <db> keeps its rows in shadow tables named
** "<db>"."<t>_<suffix>", one per suffix the module lists. They are
** declared through xShadowName, so with SQLITE_DBCONFIG_DEFENSIVE
** ordinary SQL cannot write them.
**
** STATEMENTS. A module numbers the statements it runs on its shadow
** tables with an enum and gives their SQL through a callback, so one
** cache serves a fixed statement and one assembled at run time (a
** multi-row INSERT, a field list). Each is prepared on first use with
** SQLITE_PREPARE_PERSISTENT and kept until the table is disconnected,
** renamed or dropped, or the module asks for a fresh start. A user resets
** (and need not unbind) what it steps.
**
** RENAME and DROP. SQLite renames and drops the virtual table itself;
** its shadow tables follow here. The cache is finalized first: SQLite
** refuses to drop or rename a table while a statement on it is running.
*/
#include "shadow.h"
#include <assert.h>
#include <stdarg.h>
#include <string.h>

int vsShadowInit(VsShadow *p, sqlite3 *db, const char *zSchema,
                 const char *zName, const char *const *azSuffix, int nStmt,
                 VsShadowSql xSql, void *pCtx){
  memset(p, 0, sizeof(*p));
  p->db = db;
  p->azSuffix = azSuffix;
  p->xSql = xSql;
  p->pCtx = pCtx;
  p->nStmt = nStmt;
  p->zSchema = sqlite3_mprintf("%s", zSchema);
  p->zName = sqlite3_mprintf("%s", zName);
  p->aStmt = sqlite3_malloc64(sizeof(sqlite3_stmt*)*(u64)nStmt);
  if( p->zSchema==0 || p->zName==0 || p->aStmt==0 ){
    vsShadowClear(p);
    return SQLITE_NOMEM;
  }
  memset(p->aStmt, 0, sizeof(sqlite3_stmt*)*(size_t)nStmt);
  return SQLITE_OK;
}

void vsShadowFinalize(VsShadow *p){
  int i;
  for(i=0; p->aStmt && i<p->nStmt; i++){
    sqlite3_finalize(p->aStmt[i]);
    p->aStmt[i] = 0;
  }
}

void vsShadowClear(VsShadow *p){
  vsShadowFinalize(p);
  sqlite3_free(p->aStmt);
  sqlite3_free(p->zSchema);
  sqlite3_free(p->zName);
  memset(p, 0, sizeof(*p));
}

int vsShadowStmt(VsShadow *p, int eStmt, sqlite3_stmt **ppStmt){
  assert( eStmt>=0 && eStmt<p->nStmt );
  if( p->aStmt[eStmt]==0 ){
    char *zSql = p->xSql(p->pCtx, eStmt, p->zSchema, p->zName);
    int rc;
    if( zSql==0 ) return SQLITE_NOMEM;
    rc = sqlite3_prepare_v3(p->db, zSql, -1, SQLITE_PREPARE_PERSISTENT,
                            &p->aStmt[eStmt], 0);
    sqlite3_free(zSql);
    if( rc ) return rc;
  }
  assert( !sqlite3_stmt_busy(p->aStmt[eStmt]) );  /* its user resets it */
  *ppStmt = p->aStmt[eStmt];
  return SQLITE_OK;
}

int vsShadowExecV(sqlite3 *db, const char *zFormat, va_list ap){
  char *zSql = sqlite3_vmprintf(zFormat, ap);
  int rc;
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_exec(db, zSql, 0, 0, 0);
  sqlite3_free(zSql);
  return rc;
}

int vsShadowExec(sqlite3 *db, const char *zFormat, ...){
  va_list ap;
  int rc;
  va_start(ap, zFormat);
  rc = vsShadowExecV(db, zFormat, ap);
  va_end(ap);
  return rc;
}

/* Whether shadow table <zName>_<zSuffix> exists (a table made by an
** older release may lack one added since): 1, 0, or -1 on an error. */
static int shadowExists(VsShadow *p, const char *zSuffix){
  sqlite3_stmt *pStmt = 0;
  char *zSql = sqlite3_mprintf("SELECT 1 FROM \"%w\".sqlite_master "
      "WHERE type='table' AND name='%q_%q'", p->zSchema, p->zName, zSuffix);
  int rc;
  if( zSql==0 ) return -1;
  rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc==SQLITE_OK ) rc = sqlite3_step(pStmt);
  sqlite3_finalize(pStmt);
  return rc==SQLITE_ROW ? 1 : rc==SQLITE_DONE ? 0 : -1;
}

int vsShadowRename(VsShadow *p, const char *zNew){
  char *zName = sqlite3_mprintf("%s", zNew);
  int i, rc = SQLITE_OK;
  if( zName==0 ) return SQLITE_NOMEM;
  vsShadowFinalize(p);
  for(i=0; rc==SQLITE_OK && p->azSuffix[i]; i++){
    int bExists = shadowExists(p, p->azSuffix[i]);
    if( bExists<0 ){
      rc = sqlite3_errcode(p->db);
      if( rc==SQLITE_OK ) rc = SQLITE_NOMEM;
    }else if( bExists ){
      rc = vsShadowExec(p->db, "ALTER TABLE \"%w\".\"%w_%s\" RENAME TO "
                        "\"%w_%s\"", p->zSchema, p->zName, p->azSuffix[i],
                        zNew, p->azSuffix[i]);
    }
  }
  if( rc ){
    sqlite3_free(zName);      /* SQLite undoes the statement's renames */
    return rc;
  }
  sqlite3_free(p->zName);
  p->zName = zName;
  return SQLITE_OK;
}

int vsShadowDrop(VsShadow *p){
  int i, rc = SQLITE_OK;
  vsShadowFinalize(p);
  for(i=0; rc==SQLITE_OK && p->azSuffix[i]; i++){
    rc = vsShadowExec(p->db, "DROP TABLE IF EXISTS \"%w\".\"%w_%s\"",
                      p->zSchema, p->zName, p->azSuffix[i]);
  }
  return rc;
}

int vsShadowIsName(const char *const *azSuffix, const char *zSuffix){
  int i;
  for(i=0; azSuffix[i]; i++){
    if( sqlite3_stricmp(zSuffix, azSuffix[i])==0 ) return 1;
  }
  return 0;
}
