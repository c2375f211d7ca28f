/*
** Identifier rules shared by the `vectors` and `payloads` modules.
**
** An id is an integer from 0 to 9223372036854775807. Text or reals that
** SQLite would read as such an integer ('42', 42.0) are accepted, the way
** an INTEGER PRIMARY KEY accepts them; anything else is refused with a
** message naming what was given.
*/
#include "veles_int.h"
#include <assert.h>
#include <math.h>

int vsIdFromValue(sqlite3_value *pVal, const char *zWho, i64 *piId,
                  char **pzErr){
  int eType = sqlite3_value_numeric_type(pVal);
  if( eType==SQLITE_INTEGER ){
    i64 iId = sqlite3_value_int64(pVal);
    if( iId>=0 ){
      *piId = iId;
      return SQLITE_OK;
    }
    *pzErr = sqlite3_mprintf("%s: id out of range: expected 0 to "
        "9223372036854775807, got %lld", zWho, iId);
    return SQLITE_MISMATCH;
  }
  if( eType==SQLITE_FLOAT ){
    double r = sqlite3_value_double(pVal);
    if( r>=0.0 && r<9223372036854775807.0 && floor(r)==r ){
      *piId = (i64)r;
      return SQLITE_OK;
    }
    *pzErr = sqlite3_mprintf("%s: id must be an integer from 0 to "
        "9223372036854775807, got %!.15g", zWho, r);
    return SQLITE_MISMATCH;
  }
  if( eType==SQLITE_TEXT ){
    *pzErr = sqlite3_mprintf("%s: id must be an integer from 0 to "
        "9223372036854775807, got text '%.40s'", zWho,
        (const char*)sqlite3_value_text(pVal));
  }else if( eType==SQLITE_BLOB ){
    *pzErr = sqlite3_mprintf("%s: id must be an integer from 0 to "
        "9223372036854775807, got a blob", zWho);
  }else{
    *pzErr = sqlite3_mprintf("%s: id must be an integer from 0 to "
        "9223372036854775807, got NULL", zWho);
  }
  return SQLITE_MISMATCH;
}

int vsIdNext(i64 iMaxId, const char *zWho, i64 *piId, char **pzErr){
  assert( iMaxId>=-1 );
  if( iMaxId==VS_MAX_ID ){
    *pzErr = sqlite3_mprintf("%s: no id left to assign: the largest id "
        "9223372036854775807 is taken; give an id", zWho);
    return SQLITE_FULL;
  }
  *piId = iMaxId<0 ? 1 : iMaxId+1;
  return SQLITE_OK;
}

char *vsIdUniqueError(const char *zTable){
  return sqlite3_mprintf("UNIQUE constraint failed: %s.id", zTable);
}
