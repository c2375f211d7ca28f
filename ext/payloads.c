/* PLACEHOLDER: the payloads module is being written. */
#include "veles_int.h"
int vsPayloadsRegister(sqlite3 *db, VsConn *pConn){ (void)db; (void)pConn; return SQLITE_OK; }
