/* PLACEHOLDER: the veles_* functions are being written. */
#include "veles_int.h"
int vsFunctionsRegister(sqlite3 *db){ (void)db; return SQLITE_OK; }
