/*
** veles: the extension's entry point.
**
** Registers the `vectors` and `payloads` modules and the veles_* SQL
** functions on one connection, and nothing else. Load it with
**   .load ./veles            (sqlite3 shell)
**   sqlite3_load_extension(db, "./veles", 0, &zErr)
*/
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1
#include "veles_int.h"

#ifdef _WIN32
__declspec(dllexport)
#endif
__attribute__((visibility("default")))
int sqlite3_veles_init(sqlite3 *db, char **pzErrMsg,
                       const sqlite3_api_routines *pApi){
  int rc;
  VsConn *pConn;
  SQLITE_EXTENSION_INIT2(pApi);
  if( sqlite3_libversion_number()<3040000 ){
    *pzErrMsg = sqlite3_mprintf("veles: SQLite 3.40.0 or newer is required, "
                                "got %s", sqlite3_libversion());
    return SQLITE_ERROR;
  }
  pConn = vsConnNew(db);
  if( pConn==0 ) return SQLITE_NOMEM;
  rc = vsVectorsRegister(db, pConn);
  if( rc==SQLITE_OK ) rc = vsPayloadsRegister(db, pConn);
  if( rc==SQLITE_OK ) rc = vsFunctionsRegister(db);
  if( rc==SQLITE_OK ) rc = vsCheckRegister(db);
  vsConnUnref(pConn);
  return rc;
}
