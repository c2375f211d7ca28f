/*
** Integrity check of a veles table:
**
**   SELECT veles_check('emb');          -- 'ok', or one problem per line
**   SELECT veles_check('aux.meta');     -- a table in an attached database
**
** It works on every SQLite version and on both modules; on SQLite 3.44
** and newer the modules also hand the same check to PRAGMA
** integrity_check through xIntegrity (vsCheckIntegrity), which skips the
** shadow tables' own integrity_check that the PRAGMA does anyway.
**
** What is checked, reading only (nothing is repaired):
**   vectors   <t>_config: ident, dim, metric, format (1 or 2) present and
**             valid, and for format 2 the commit number and nonce; a
**             format 1 table (made before the binding and the copy) gets
**             a line of its own that says so and names veles_upgrade(),
**             last, so veles_check is not 'ok' until it is upgraded
**             (PRAGMA integrity_check, which means damage, leaves it out);
**             the side file: present, header (magic, version matching the
**             format, identifier, dimension), for format 2 its binding to
**             this database (vecbind.c: the same verdict a read gets),
**             length; <t>_map: integer slots, inside the file,
**             none used twice, no negative id; every referenced vector
**             finite (a damaged file shows up as NaN or Inf); SQLite's
**             own integrity_check of the shadow tables; with the
**             database's copy (db_copy=on), outside an explicit
**             transaction, every referenced vector of the side file
**             equals the copy's; the stored IVF index (<t>_ivf, if any)
**             decodes and fits the table (ivfstore.c). In a transaction that compacted the
**             table, its new file (veccompact.c) is the one checked.
**   payloads  <t>_fields readable, each type that of its column in
**             <t>_data; every payload read as a store reads
**             it (payjson.c's vsJsonParse and vsJsonExtract, not SQLite's
**             json functions, which differ between versions): valid JSON,
**             a value for each declared field, and each field column
**             holding exactly that value (same type, same bytes); SQLite's
**             integrity_check of <t>_data and its indexes (the field
**             indexes against the table).
** The free slots of a vectors table are not stored (they are derived from
** <t>_map when a writer starts), so there is no free list to check.
*/
#include "veles_int.h"
#include "vectors.h"
#include "distance.h"
#include <math.h>
#include <stdarg.h>
#include <string.h>

#define CHECK_MAX_LISTED 5      /* offending ids/slots named per problem */

typedef struct Check Check;
struct Check {
  sqlite3 *db;
  VsConn *pConn;                /* the connection's veles state, or 0 */
  const char *zSchema;
  const char *zTable;
  sqlite3_str *pOut;            /* problems, one per line */
  int nProblem;
  int rc;                       /* an error that stopped the check */
  int bShadow;                  /* also integrity_check the shadow tables */
  int bFormat1;                 /* a vectors table of format 1 */
};

static void problem(Check *c, const char *zFormat, ...){
  va_list ap;
  if( c->nProblem++ ) sqlite3_str_appendchar(c->pOut, 1, '\n');
  sqlite3_str_appendf(c->pOut, "%s: ", c->zTable);
  va_start(ap, zFormat);
  sqlite3_str_vappendf(c->pOut, zFormat, ap);
  va_end(ap);
}

/* Prepare a printf-formatted query; 0 (with the problem noted) on error. */
static sqlite3_stmt *query(Check *c, const char *zFormat, ...){
  va_list ap;
  sqlite3_stmt *pStmt = 0;
  char *zSql;
  va_start(ap, zFormat);
  zSql = sqlite3_vmprintf(zFormat, ap);
  va_end(ap);
  if( zSql==0 ){
    c->rc = SQLITE_NOMEM;
    return 0;
  }
  if( sqlite3_prepare_v2(c->db, zSql, -1, &pStmt, 0)!=SQLITE_OK ){
    if( sqlite3_errcode(c->db)==SQLITE_NOMEM ) c->rc = SQLITE_NOMEM;
    else problem(c, "cannot run a check: %s", sqlite3_errmsg(c->db));
    pStmt = 0;
  }
  sqlite3_free(zSql);
  return pStmt;
}

/* Report the rows of pStmt (first column) as "<zWhat>: a, b, c". */
static void listRows(Check *c, sqlite3_stmt *pStmt, const char *zWhat){
  sqlite3_str *pList;
  int n = 0;
  if( pStmt==0 ) return;
  pList = sqlite3_str_new(0);
  while( sqlite3_step(pStmt)==SQLITE_ROW ){
    if( n<CHECK_MAX_LISTED ){
      sqlite3_str_appendf(pList, "%s%s", n ? ", " : "",
                          (const char*)sqlite3_column_text(pStmt, 0));
    }
    n++;
  }
  sqlite3_finalize(pStmt);
  if( n ){
    char *z = sqlite3_str_finish(pList);
    problem(c, "%s: %s%s", zWhat, z ? z : "", n>CHECK_MAX_LISTED ? ", ..." : "");
    sqlite3_free(z);
  }else{
    sqlite3_free(sqlite3_str_finish(pList));
  }
}

/* SQLite's own integrity_check of one shadow table and its indexes. */
static void checkShadow(Check *c, const char *zShadow){
  sqlite3_stmt *pStmt;
  if( !c->bShadow ) return;     /* PRAGMA integrity_check does it itself */
  pStmt = query(c, "PRAGMA \"%w\".integrity_check(\"%w_%w\")",
                              c->zSchema, c->zTable, zShadow);
  if( pStmt==0 ) return;
  while( sqlite3_step(pStmt)==SQLITE_ROW ){
    const char *z = (const char*)sqlite3_column_text(pStmt, 0);
    if( z && strcmp(z, "ok")!=0 ) problem(c, "%s_%s: %s", c->zTable, zShadow, z);
  }
  sqlite3_finalize(pStmt);
}

/* With the copy on (veccopy.c): every referenced slot of the side file
** equals the database's copy of it (chunks of at most nMaxBytes). */
static void compareCopy(Check *c, VsFile *pFile, int nDim, int nMaxBytes){
  sqlite3_stmt *pMap, *pChunk;
  sqlite3_str *pDiff = sqlite3_str_new(0), *pGone = sqlite3_str_new(0);
  i64 nChunk = vsCopyChunkSlots(nDim, nMaxBytes), iLoaded = -1;
  const unsigned char *aChunk = 0;
  int nChunkBytes = 0, nDiff = 0, nGone = 0;
  float *a = sqlite3_malloc64(sizeof(float)*(u64)nDim);
  pMap = query(c, "SELECT id, slot FROM \"%w\".\"%w_map\" ORDER BY slot",
               c->zSchema, c->zTable);
  pChunk = query(c, "SELECT data FROM \"%w\".\"%w_chunks\" WHERE chunk=?",
                 c->zSchema, c->zTable);
  if( a==0 ) c->rc = SQLITE_NOMEM;
  while( a && pMap && pChunk && sqlite3_step(pMap)==SQLITE_ROW ){
    i64 iId = sqlite3_column_int64(pMap, 0);
    i64 iSlot = sqlite3_column_int64(pMap, 1);
    i64 iOff = (iSlot%nChunk)*nDim*4;
    char *zErr = 0;
    if( iSlot/nChunk!=iLoaded ){
      sqlite3_reset(pChunk);
      sqlite3_bind_int64(pChunk, 1, iSlot/nChunk);
      aChunk = 0;
      nChunkBytes = 0;
      if( sqlite3_step(pChunk)==SQLITE_ROW ){
        aChunk = sqlite3_column_blob(pChunk, 0);
        nChunkBytes = sqlite3_column_bytes(pChunk, 0);
      }
      iLoaded = iSlot/nChunk;
    }
    if( vsFileRead(pFile, iSlot, a, &zErr) ){
      problem(c, "%s", zErr);
      sqlite3_free(zErr);
      break;
    }
    if( aChunk==0 || iOff+nDim*4>nChunkBytes ){
      if( nGone++<CHECK_MAX_LISTED ){
        sqlite3_str_appendf(pGone, "%s%lld", nGone>1 ? ", " : "", iId);
      }
    }else if( memcmp(a, aChunk+iOff, (size_t)nDim*4)!=0 ){
      if( nDiff++<CHECK_MAX_LISTED ){
        sqlite3_str_appendf(pDiff, "%s%lld", nDiff>1 ? ", " : "", iId);
      }
    }
  }
  sqlite3_finalize(pMap);
  sqlite3_finalize(pChunk);
  sqlite3_free(a);
  {
    char *zDiff = sqlite3_str_finish(pDiff), *zGone = sqlite3_str_finish(pGone);
    if( nGone ){
      problem(c, "ids missing from the database's copy in %s_chunks: %s%s",
              c->zTable, zGone ? zGone : "", nGone>CHECK_MAX_LISTED ? ", ..." : "");
    }
    if( nDiff ){
      problem(c, "ids whose vector in the side file differs from the "
              "database's copy (a damaged side file: SELECT "
              "veles_rebuild('%s') makes it again): %s%s", c->zTable,
              zDiff ? zDiff : "", nDiff>CHECK_MAX_LISTED ? ", ..." : "");
    }
    sqlite3_free(zDiff);
    sqlite3_free(zGone);
  }
}

static void checkVectors(Check *c){
  sqlite3_stmt *pStmt;
  char zIdent[VS_IDENT_LEN+1] = {0};
  int nDim = -1, bMetric = 0, eMetric = -1, iFormat = -1, nCommit = 0;
  VsDbCommit dbc = { .iCommit = -1 };  /* <t>_config's half of the binding */
  int bCopy = 0, nChunkBytes = VS_CHUNK_BYTES_OLD, bChunkOk = 1;
  i64 nSlotFile = -1;
  VsFile *pFile = 0;

  pStmt = query(c, "SELECT k, v FROM \"%w\".\"%w_config\"", c->zSchema,
                c->zTable);
  if( pStmt==0 ) return;
  while( sqlite3_step(pStmt)==SQLITE_ROW ){
    const char *zKey = (const char*)sqlite3_column_text(pStmt, 0);
    const char *zVal = (const char*)sqlite3_column_text(pStmt, 1);
    if( zKey==0 || zVal==0 ) continue;
    if( strcmp(zKey, "ident")==0 && strlen(zVal)==VS_IDENT_LEN
     && strspn(zVal, "0123456789abcdef")==VS_IDENT_LEN ){
      memcpy(zIdent, zVal, VS_IDENT_LEN);
    }else if( strcmp(zKey, "dim")==0
           && sqlite3_column_type(pStmt, 1)==SQLITE_INTEGER ){
      nDim = sqlite3_column_int(pStmt, 1);
    }else if( strcmp(zKey, "metric")==0 ){
      eMetric = vsDistanceMetric(zVal);
      bMetric = eMetric>=0;
    }else if( strcmp(zKey, "format")==0 ){
      iFormat = sqlite3_column_int(pStmt, 1);
    }else if( strcmp(zKey, "commit")==0
           && sqlite3_column_type(pStmt, 1)==SQLITE_INTEGER ){
      dbc.iCommit = sqlite3_column_int64(pStmt, 1);
      nCommit++;
    }else if( strcmp(zKey, "nonce")==0
           && sqlite3_column_type(pStmt, 1)==SQLITE_INTEGER ){
      dbc.iNonce = sqlite3_column_int64(pStmt, 1);
      nCommit++;
    }else if( strcmp(zKey, "copy")==0 ){
      bCopy = sqlite3_column_int(pStmt, 1)==1;
    }else if( strcmp(zKey, "chunk")==0 ){
      bChunkOk = sqlite3_column_type(pStmt, 1)==SQLITE_INTEGER
              && vsConfigChunkBytesOk(sqlite3_column_int64(pStmt, 1));
      if( bChunkOk ) nChunkBytes = sqlite3_column_int(pStmt, 1);
    }else if( strcmp(zKey, "slots")==0 ){
      dbc.nSlot = sqlite3_column_int64(pStmt, 1);
    }
  }
  sqlite3_finalize(pStmt);
  if( zIdent[0]==0 ) problem(c, "%s_config: identifier missing or malformed",
                             c->zTable);
  if( nDim<0 || nDim>VS_MAX_DIM ){
    problem(c, "%s_config: dimension missing or out of range", c->zTable);
  }
  if( !bChunkOk ){
    problem(c, "%s_config: chunk size is not a power of two from %d to %d",
            c->zTable, VS_CHUNK_BYTES_MIN, VS_CHUNK_BYTES_MAX);
  }
  if( !bMetric ) problem(c, "%s_config: metric missing or unknown", c->zTable);
  if( iFormat!=1 && iFormat!=2 ){
    problem(c, "%s_config: format missing or not 1 or 2", c->zTable);
  }
  c->bFormat1 = iFormat==1;
  if( iFormat==2 && (nCommit!=2 || dbc.iCommit<0) ){
    problem(c, "%s_config: commit number missing or damaged", c->zTable);
  }
  if( c->nProblem ) return;
  if( !bCopy || dbc.nSlot<0 ) dbc.nSlot = 0;   /* as vecbind.c reads it */

  /* the side file first: the scan below would rebuild a stale one from
  ** the database's copy, and this check only reads */
  {
    char *zPath = 0, *zErr = 0;
    int rc, bMemory = 0;
    rc = vsConfigSideFile(c->db, c->zSchema, zIdent, &zPath, &bMemory);
    if( rc==SQLITE_OK && !bMemory ){
      rc = vsFileOpen(zPath, nDim, zIdent, iFormat, &pFile, &zErr);
      /* the pair must be one (vecbind.c): no vector is checked else */
      if( rc==SQLITE_OK && iFormat==2 ){
        rc = vsBindVerify(pFile, &dbc, &zErr);
      }
    }
    if( rc==SQLITE_NOMEM ) c->rc = rc;
    else if( rc ){
      problem(c, "%s%s", zErr, bCopy ? " (the next use of the table "
              "rebuilds it from the database's copy)" : "");
    }
    sqlite3_free(zErr);
    sqlite3_free(zPath);
    if( c->nProblem || c->rc ){
      vsFileClose(pFile);
      return;
    }
  }

  /* a scan of the table writes its connection's buffered vectors, so
  ** that the file shows this transaction's own writes too (a damaged
  ** table fails the scan: the checks below say why) */
  pStmt = query(c, "SELECT count(*) FROM \"%w\".\"%w\"", c->zSchema,
                c->zTable);
  if( pStmt ) sqlite3_step(pStmt);
  sqlite3_finalize(pStmt);
  /* a compaction in this connection's transaction moved the rows into its
  ** new file, which the commit binds and puts in place: read that one */
  if( pFile && c->pConn && c->nProblem==0 && c->rc==SQLITE_OK ){
    const char *zNew = vsCompactNewPath(c->pConn, c->zSchema, c->zTable);
    if( zNew ){
      char *zErr = 0;
      int rc;
      vsFileClose(pFile);
      pFile = 0;
      rc = vsFileOpen(zNew, nDim, zIdent, iFormat, &pFile, &zErr);
      if( rc==SQLITE_NOMEM ) c->rc = rc;
      else if( rc ) problem(c, "%s", zErr);
      sqlite3_free(zErr);
    }
  }
  if( pFile && c->nProblem==0 && c->rc==SQLITE_OK && nDim>0 ){
    char *zErr = 0;
    if( vsFileSlotCount(pFile, &nSlotFile, &zErr) ) problem(c, "%s", zErr);
    sqlite3_free(zErr);
  }
  if( c->nProblem || c->rc ){
    vsFileClose(pFile);
    return;
  }

  /* the map */
  listRows(c, query(c, "SELECT id FROM \"%w\".\"%w_map\" "
                    "WHERE typeof(slot)!='integer' OR slot<0 OR id<0",
                    c->zSchema, c->zTable),
           "rows with an invalid id or slot");
  if( nSlotFile>=0 ){
    char *zWhat = sqlite3_mprintf("slots past the end of the side file "
                                  "(%lld slots)", nSlotFile);
    listRows(c, query(c, "SELECT slot FROM \"%w\".\"%w_map\" "
                      "WHERE typeof(slot)='integer' AND slot>=%lld",
                      c->zSchema, c->zTable, nSlotFile),
             zWhat ? zWhat : "slots past the end of the side file");
    sqlite3_free(zWhat);
  }
  listRows(c, query(c, "SELECT slot FROM \"%w\".\"%w_map\" GROUP BY slot "
                    "HAVING count(*)>1", c->zSchema, c->zTable),
           "slots used by more than one id");

  /* every referenced vector is finite */
  if( pFile && nDim>0 && c->nProblem==0 ){
    float *a = sqlite3_malloc64(sizeof(float)*(u64)nDim);
    sqlite3_str *pBad = sqlite3_str_new(0);
    int nBad = 0;
    if( a==0 ){
      c->rc = SQLITE_NOMEM;
    }else if( (pStmt = query(c, "SELECT id, slot FROM \"%w\".\"%w_map\"",
                             c->zSchema, c->zTable))!=0 ){
      while( sqlite3_step(pStmt)==SQLITE_ROW ){
        char *zErr = 0;
        int i;
        if( vsFileRead(pFile, sqlite3_column_int64(pStmt, 1), a, &zErr) ){
          problem(c, "%s", zErr);
          sqlite3_free(zErr);
          break;
        }
        for(i=0; i<nDim && isfinite(a[i]); i++){}
        if( i<nDim ){
          if( nBad<CHECK_MAX_LISTED ){
            sqlite3_str_appendf(pBad, "%s%lld", nBad ? ", " : "",
                                sqlite3_column_int64(pStmt, 0));
          }
          nBad++;
        }
      }
      sqlite3_finalize(pStmt);
    }
    if( nBad ){
      char *z = sqlite3_str_finish(pBad);
      problem(c, "ids whose vector is not finite (damaged side file): %s%s",
              z ? z : "", nBad>CHECK_MAX_LISTED ? ", ..." : "");
      sqlite3_free(z);
    }else{
      sqlite3_free(sqlite3_str_finish(pBad));
    }
    sqlite3_free(a);
  }
  /* inside an explicit transaction the copy has not been written yet (it
  ** is, at COMMIT: veccopy.c) */
  if( bCopy && pFile && nDim>0 && c->nProblem==0 && c->rc==SQLITE_OK
   && sqlite3_get_autocommit(c->db) ){
    compareCopy(c, pFile, nDim, nChunkBytes);
  }
  vsFileClose(pFile);
  if( nDim>0 && bMetric && c->rc==SQLITE_OK ){
    /* the stored IVF index: a hint, but a damaged one is reported */
    char *zErr = 0;
    int rc = vsIvfStoreCheck(c->db, c->zSchema, c->zTable, nDim, eMetric,
                             &zErr);
    if( rc==SQLITE_CORRUPT_VTAB ){
      problem(c, "%s_ivf: the stored index is damaged (searches ignore it; "
              "INSERT INTO %s(%s) VALUES('optimize') stores it again): %s",
              c->zTable, c->zTable, c->zTable, zErr ? zErr : "");
    }else if( rc==SQLITE_NOMEM ){
      c->rc = rc;
    }else if( rc ){
      problem(c, "%s_ivf: cannot be read: %s", c->zTable,
              zErr ? zErr : sqlite3_errstr(rc));
    }
    sqlite3_free(zErr);
  }
  checkShadow(c, "config");
  checkShadow(c, "map");
  if( bCopy ) checkShadow(c, "chunks");
}

/* Ids collected for one problem: the first CHECK_MAX_LISTED, and a count. */
typedef struct IdList IdList;
struct IdList {
  sqlite3_str *pStr;            /* "1, 5, 9" */
  int n;                        /* ids seen, listed or not */
};

static void idAdd(IdList *p, i64 iId){
  if( p->n++<CHECK_MAX_LISTED ){
    sqlite3_str_appendf(p->pStr, "%s%lld", p->n>1 ? ", " : "", iId);
  }
}

/* Report the list as "<zWhat>: a, b, c" when it holds any id, and free
** it. */
static void idReport(Check *c, IdList *p, const char *zWhat){
  char *z = sqlite3_str_finish(p->pStr);
  p->pStr = 0;
  if( p->n ){
    if( z==0 ) c->rc = SQLITE_NOMEM;
    else problem(c, "%s: %s%s", zWhat, z, p->n>CHECK_MAX_LISTED ? ", ..." : "");
  }
  sqlite3_free(z);
}

/*
** The declared fields as <t>_fields lists them, read with the module's
** own parser: each row (name, type) is the CREATE argument "name" TYPE.
** Problems are noted; *paField is 0 and *pnField 0 when there are none
** or the rows are unreadable.
*/
static void readFields(Check *c, VsField **paField, int *pnField){
  sqlite3_stmt *pStmt;
  const char **azArg = 0;
  int nArg = 3, nAlloc = 0, i;
  char *zErr = 0;
  *paField = 0;
  *pnField = 0;
  pStmt = query(c, "SELECT name, type FROM \"%w\".\"%w_fields\" ORDER BY pos",
                c->zSchema, c->zTable);
  while( pStmt && c->rc==SQLITE_OK && sqlite3_step(pStmt)==SQLITE_ROW ){
    const char *zName = (const char*)sqlite3_column_text(pStmt, 0);
    const char *zType = (const char*)sqlite3_column_text(pStmt, 1);
    if( zName==0 || zType==0 ){
      problem(c, "%s_fields: a field without a name or type", c->zTable);
      break;
    }
    if( nArg>=nAlloc ){
      const char **aNew;
      nAlloc = nAlloc ? nAlloc*2 : 16;
      aNew = sqlite3_realloc64(azArg, sizeof(char*)*(u64)nAlloc);
      if( aNew==0 ){
        c->rc = SQLITE_NOMEM;
        break;
      }
      azArg = aNew;
      if( nArg==3 ) azArg[0] = azArg[1] = azArg[2] = "";
    }
    azArg[nArg] = sqlite3_mprintf("\"%w\" %s", zName, zType);
    if( azArg[nArg]==0 ){
      c->rc = SQLITE_NOMEM;
      break;
    }
    nArg++;
  }
  sqlite3_finalize(pStmt);
  /* each field's type is its column's declared type in <t>_data */
  if( pStmt && c->rc==SQLITE_OK && c->nProblem==0 ){
    char *zData = sqlite3_mprintf("%s_data", c->zTable);
    char *zWhat = sqlite3_mprintf("%s_fields: fields whose type is not that "
                                  "of their column in %s", c->zTable, zData);
    if( zData==0 || zWhat==0 ){
      c->rc = SQLITE_NOMEM;
    }else{
      listRows(c, query(c, "SELECT f.name FROM \"%w\".\"%w_fields\" f "
                        "LEFT JOIN pragma_table_info(%Q, %Q) d "
                        "ON d.name=f.name WHERE d.type IS NOT f.type "
                        "ORDER BY f.pos", c->zSchema, c->zTable, zData,
                        c->zSchema), zWhat);
    }
    sqlite3_free(zData);
    sqlite3_free(zWhat);
  }
  if( pStmt && c->rc==SQLITE_OK && c->nProblem==0 ){
    int rc = vsFieldParse(nArg, azArg, paField, pnField, &zErr);
    if( rc==SQLITE_NOMEM ) c->rc = rc;
    else if( rc ) problem(c, "%s_fields: %s", c->zTable, zErr);
    sqlite3_free(zErr);
  }
  for(i=3; i<nArg; i++) sqlite3_free((char*)azArg[i]);
  sqlite3_free(azArg);
}

/* 1 when column iCol of pStmt holds exactly the extracted value pV. */
static int sameValue(sqlite3_stmt *pStmt, int iCol, const VsFieldValue *pV){
  if( sqlite3_column_type(pStmt, iCol)!=pV->eType ) return 0;
  switch( pV->eType ){
    case SQLITE_INTEGER:
      return sqlite3_column_int64(pStmt, iCol)==pV->iVal;
    case SQLITE_FLOAT:
      return sqlite3_column_double(pStmt, iCol)==pV->rVal;
    case SQLITE_TEXT: {
      const unsigned char *z = sqlite3_column_text(pStmt, iCol);
      return z && sqlite3_column_bytes(pStmt, iCol)==pV->nVal
          && memcmp(z, pV->zVal, (size_t)pV->nVal)==0;
    }
    default:
      return 1;
  }
}

/*
** Every payload is read as a store reads it (vsJsonParse, then
** vsJsonExtract for each field), so a problem means the stored row
** differs from what the module would store for its payload: not valid
** JSON, a field value the payload does not give, or a payload the
** declared field refuses. SQLite's json functions are not used: they
** differ between versions from the module (json_extract in 3.40 does not
** decode escaped keys and reads 9007199254740993.0 through a double).
*/
static void checkPayloads(Check *c){
  VsField *aField = 0;
  int nField = 0, i;
  IdList bad;                   /* payloads that are not valid JSON */
  IdList *aDiff = 0;            /* per field: differs, then refused */
  sqlite3_stmt *pStmt = 0;
  sqlite3_str *pSql;
  char *zSql;

  readFields(c, &aField, &nField);
  if( c->rc || c->nProblem ) goto done;
  memset(&bad, 0, sizeof(bad));
  bad.pStr = sqlite3_str_new(0);
  aDiff = sqlite3_malloc64(sizeof(IdList)*2*(u64)(nField+1));
  if( aDiff==0 ){
    c->rc = SQLITE_NOMEM;
    sqlite3_free(sqlite3_str_finish(bad.pStr));
    goto done;
  }
  for(i=0; i<2*nField; i++){
    aDiff[i].pStr = sqlite3_str_new(0);
    aDiff[i].n = 0;
  }

  pSql = sqlite3_str_new(0);
  sqlite3_str_appendall(pSql, "SELECT id, json");
  for(i=0; i<nField; i++){
    sqlite3_str_appendf(pSql, ", \"%w\"", aField[i].zName);
  }
  sqlite3_str_appendf(pSql, " FROM \"%w\".\"%w_data\"", c->zSchema,
                      c->zTable);
  zSql = sqlite3_str_finish(pSql);
  if( zSql==0 ) c->rc = SQLITE_NOMEM;
  else pStmt = query(c, "%s", zSql);
  sqlite3_free(zSql);
  while( pStmt && c->rc==SQLITE_OK && sqlite3_step(pStmt)==SQLITE_ROW ){
    i64 iId = sqlite3_column_int64(pStmt, 0);
    const char *zJson;
    VsJson doc;
    char *zErr = 0;
    int rc;
    if( sqlite3_column_type(pStmt, 1)!=SQLITE_TEXT ){
      idAdd(&bad, iId);
      continue;
    }
    zJson = (const char*)sqlite3_column_text(pStmt, 1);
    if( zJson==0 ){
      c->rc = SQLITE_NOMEM;
      break;
    }
    rc = vsJsonParse(zJson, sqlite3_column_bytes(pStmt, 1), &doc, &zErr);
    sqlite3_free(zErr);
    if( rc==SQLITE_NOMEM ){
      c->rc = rc;
      break;
    }
    if( rc ){
      idAdd(&bad, iId);
      continue;
    }
    for(i=0; i<nField; i++){
      VsFieldValue v;
      zErr = 0;
      /* one field at a time: a field the payload cannot give does not
      ** hide the others */
      rc = vsJsonExtract(&doc, &aField[i], 1, &v, &zErr);
      sqlite3_free(zErr);
      if( rc ) idAdd(&aDiff[2*i+1], iId);
      else if( !sameValue(pStmt, 2+i, &v) ) idAdd(&aDiff[2*i], iId);
    }
    vsJsonClear(&doc);
  }
  sqlite3_finalize(pStmt);

  idReport(c, &bad, "ids whose payload is not valid JSON");
  for(i=0; i<nField; i++){
    char *zWhat = sqlite3_mprintf("ids whose field %s differs from their "
                                  "payload", aField[i].zName);
    if( zWhat==0 ) c->rc = SQLITE_NOMEM;
    else idReport(c, &aDiff[2*i], zWhat);
    sqlite3_free(zWhat);
    zWhat = sqlite3_mprintf("ids whose payload does not fit field %s",
                            aField[i].zName);
    if( zWhat==0 ) c->rc = SQLITE_NOMEM;
    else idReport(c, &aDiff[2*i+1], zWhat);
    sqlite3_free(zWhat);
  }

done:
  for(i=0; aDiff && i<2*nField; i++){
    sqlite3_free(sqlite3_str_finish(aDiff[i].pStr));
  }
  sqlite3_free(aDiff);
  vsFieldFree(aField, nField);
  checkShadow(c, "data");
  checkShadow(c, "fields");
}

int vsCheckTable(sqlite3 *db, VsConn *pConn, const char *zSchema,
                 const char *zTable, int bShadow, char **pzReport){
  Check c;
  int eModule = 0;
  memset(&c, 0, sizeof(c));
  c.db = db;
  c.pConn = pConn;
  c.zSchema = zSchema;
  c.zTable = zTable;
  c.bShadow = bShadow;
  *pzReport = 0;
  if( vsSchemaModule(db, zSchema, zTable, "vectors") ) eModule = 1;
  else if( vsSchemaModule(db, zSchema, zTable, "payloads") ) eModule = 2;
  if( eModule==0 ) return SQLITE_NOTFOUND;
  c.pOut = sqlite3_str_new(0);
  if( eModule==1 ) checkVectors(&c);
  else checkPayloads(&c);
  if( c.bFormat1 && bShadow ){
    /* not damage (xIntegrity leaves it out), but what it lacks */
    problem(&c, "format 1 (made by an older veles): no binding to its side "
            "file and no copy of its vectors in the database; SELECT "
            "veles_upgrade('%s%s%s') adds them",
            sqlite3_stricmp(zSchema, "main") ? zSchema : "",
            sqlite3_stricmp(zSchema, "main") ? "." : "", zTable);
  }
  if( c.rc ){
    sqlite3_free(sqlite3_str_finish(c.pOut));
    return c.rc;
  }
  if( c.nProblem==0 ){
    sqlite3_free(sqlite3_str_finish(c.pOut));
    *pzReport = 0;
  }else{
    *pzReport = sqlite3_str_finish(c.pOut);
    if( *pzReport==0 ) return SQLITE_NOMEM;
  }
  return SQLITE_OK;
}

int vsCheckIntegrity(sqlite3 *db, VsConn *pConn, const char *zSchema,
                     const char *zTable, char **pzErr){
  char *zReport = 0;
  int rc = vsCheckTable(db, pConn, zSchema, zTable, 0, &zReport);
  if( rc==SQLITE_NOTFOUND ) rc = SQLITE_OK;
  *pzErr = zReport;
  return rc;
}

/* veles_check('table') or veles_check('schema.table') */
static void checkFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const char *zArg = (const char*)sqlite3_value_text(argv[0]);
  const char *zName;
  char *zSchema, *zReport = 0;
  int rc;
  (void)argc;
  if( zArg==0 ){
    sqlite3_result_error(ctx, "veles_check: expected a table name, got NULL",
                         -1);
    return;
  }
  if( vsSplitTableName(zArg, &zSchema, &zName) ){
    sqlite3_result_error_nomem(ctx);
    return;
  }
  rc = vsCheckTable(sqlite3_context_db_handle(ctx),
                    (VsConn*)sqlite3_user_data(ctx), zSchema, zName, 1,
                    &zReport);
  if( rc==SQLITE_NOTFOUND ){
    char *zErr = sqlite3_mprintf("veles_check: expected the name of a "
        "vectors or payloads table, got '%s'", zArg);
    sqlite3_result_error(ctx, zErr, -1);
    sqlite3_free(zErr);
  }else if( rc ){
    sqlite3_result_error_code(ctx, rc);
  }else if( zReport ){
    sqlite3_result_text(ctx, zReport, -1, sqlite3_free);
  }else{
    sqlite3_result_text(ctx, "ok", 2, SQLITE_STATIC);
  }
  sqlite3_free(zSchema);
}

/* pConn lives as long as the connection: the modules hold it */
int vsCheckRegister(sqlite3 *db, VsConn *pConn, int bRemove){
  return sqlite3_create_function(db, "veles_check", 1,
                                 SQLITE_UTF8|SQLITE_DIRECTONLY, pConn,
                                 bRemove ? 0 : checkFunc, 0, 0);
}
