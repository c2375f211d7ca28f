/* PLACEHOLDER: the vectors module is being written. */
#include "veles_int.h"
int vsVectorsRegister(sqlite3 *db, VsConn *pConn){ (void)db; (void)pConn; return SQLITE_OK; }
