/*
** veles: the extension's entry point.
**
** Registers the `vectors` and `payloads` modules, the veles_* SQL
** functions, the table-valued function veles_hybrid (hybrid.c) and the
** internal table veles_txn (conn.c: it sees a DROP commit) on one
** connection, and nothing else. Load it with
**   .load ./veles            (sqlite3 shell)
**   sqlite3_load_extension(db, "./veles", 0, &zErr)
*/
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1
#include "veles_int.h"
#include "search.h"

#ifdef _WIN32
__declspec(dllexport)
#endif
__attribute__((visibility("default")))
int sqlite3_veles_init(sqlite3 *db, char **pzErrMsg,
                       const sqlite3_api_routines *pApi){
  int rc;
  VsConn *pConn;
#ifndef SQLITE_CORE
  /* SQLITE_EXTENSION_INIT2, but stored only when it changes: every
  ** connection that loads veles hands the same routines, and connections
  ** of other threads read the pointer meanwhile (ThreadSanitizer reports
  ** the store of an equal value as a race) */
  if( sqlite3_api!=pApi ) sqlite3_api = pApi;
#else
  (void)pApi;
#endif
  if( sqlite3_libversion_number()<3040000 ){
    *pzErrMsg = sqlite3_mprintf("veles: SQLite 3.40.0 or newer is required, "
                                "got %s", sqlite3_libversion());
    return SQLITE_ERROR;
  }
  pConn = vsConnNew(db);
  if( pConn==0 ) return SQLITE_NOMEM;
  rc = vsConnRegister(db, pConn, 0);
  if( rc==SQLITE_OK ) rc = vsVectorsRegister(db, pConn);
  if( rc==SQLITE_OK ) rc = vsPayloadsRegister(db, pConn);
  if( rc==SQLITE_OK ) rc = vsFunctionsRegister(db, 0);
  if( rc==SQLITE_OK ) rc = vsCheckRegister(db, pConn, 0);
  if( rc==SQLITE_OK ) rc = vsHybridRegister(db, 0);
  if( rc ){
    /* SQLite unloads the library after a failure: take back every
    ** module and function that points into it */
    sqlite3_create_module_v2(db, "vectors", 0, 0, 0);
    sqlite3_create_module_v2(db, "payloads", 0, 0, 0);
    vsHybridRegister(db, 1);
    vsConnRegister(db, 0, 1);
    vsFunctionsRegister(db, 1);
    vsCheckRegister(db, 0, 1);
    vsSearchRegister(db, 0, 1);
    *pzErrMsg = sqlite3_mprintf("veles: cannot register its modules and "
                                "functions: %s", sqlite3_errstr(rc));
  }
  vsConnUnref(pConn);
  return rc;
}
