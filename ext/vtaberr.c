/*
** The error message of a virtual table (sqlite3_vtab.zErrMsg), for both
** modules: set it printf-style, or take over one a lower layer made.
*/
#include "veles_int.h"

void vsVtabSetErrorV(sqlite3_vtab *pVtab, const char *zFormat, va_list ap){
  sqlite3_free(pVtab->zErrMsg);
  pVtab->zErrMsg = sqlite3_vmprintf(zFormat, ap);
}

void vsVtabSetError(sqlite3_vtab *pVtab, const char *zFormat, ...){
  va_list ap;
  va_start(ap, zFormat);
  vsVtabSetErrorV(pVtab, zFormat, ap);
  va_end(ap);
}

int vsVtabAdoptError(sqlite3_vtab *pVtab, int rc, char *zErr){
  if( zErr ){
    sqlite3_free(pVtab->zErrMsg);
    pVtab->zErrMsg = zErr;
  }
  return rc;
}
