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
**   vectors   <t>_config: ident, dim, metric, format present and valid;
**             the side file: present, header (magic, version, identifier,
**             dimension), length; <t>_map: integer slots, inside the file,
**             none used twice, no negative id; every referenced vector
**             finite (a damaged file shows up as NaN or Inf); SQLite's
**             own integrity_check of the shadow tables.
**   payloads  <t>_fields readable; every payload valid JSON; every
**             declared field column equal to the value extracted from the
**             payload; SQLite's integrity_check of <t>_data and its
**             indexes (the field indexes against the table).
** The free slots of a vectors table are not stored (they are derived from
** <t>_map when a writer starts), so there is no free list to check.
*/
#include "veles_int.h"
#include "sidefile.h"
#include "distance.h"
#include <math.h>
#include <stdarg.h>
#include <string.h>

#define CHECK_MAX_LISTED 5      /* offending ids/slots named per problem */

typedef struct Check Check;
struct Check {
  sqlite3 *db;
  const char *zSchema;
  const char *zTable;
  sqlite3_str *pOut;            /* problems, one per line */
  int nProblem;
  int rc;                       /* an error that stopped the check */
  int bShadow;                  /* also integrity_check the shadow tables */
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

static void checkVectors(Check *c){
  sqlite3_stmt *pStmt;
  char zIdent[VS_IDENT_LEN+1] = {0};
  int nDim = -1, bMetric = 0, iFormat = -1;
  const char *zDb;
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
      bMetric = vsDistanceMetric(zVal)>=0;
    }else if( strcmp(zKey, "format")==0 ){
      iFormat = sqlite3_column_int(pStmt, 1);
    }
  }
  sqlite3_finalize(pStmt);
  if( zIdent[0]==0 ) problem(c, "%s_config: identifier missing or malformed",
                             c->zTable);
  if( nDim<0 || nDim>VS_MAX_DIM ){
    problem(c, "%s_config: dimension missing or out of range", c->zTable);
  }
  if( !bMetric ) problem(c, "%s_config: metric missing or unknown", c->zTable);
  if( iFormat!=1 ) problem(c, "%s_config: format missing or not 1", c->zTable);
  if( c->nProblem ) return;

  /* a scan of the table writes its connection's buffered vectors, so
  ** that the file shows this transaction's own writes too (a damaged
  ** table fails the scan: the checks below say why) */
  pStmt = query(c, "SELECT count(*) FROM \"%w\".\"%w\"", c->zSchema,
                c->zTable);
  if( pStmt ) sqlite3_step(pStmt);
  sqlite3_finalize(pStmt);
  if( c->nProblem || c->rc ) return;

  /* the side file */
  zDb = sqlite3_db_filename(c->db, c->zSchema);
  if( zDb && zDb[0] ){
    char *zPath = vsFileName(zDb, zIdent), *zErr = 0;
    int rc;
    if( zPath==0 ){
      c->rc = SQLITE_NOMEM;
      return;
    }
    rc = vsFileOpen(zPath, nDim, zIdent, &pFile, &zErr);
    if( rc==SQLITE_NOMEM ) c->rc = rc;
    else if( rc ) problem(c, "%s", zErr);
    else if( nDim>0 && vsFileSlotCount(pFile, &nSlotFile, &zErr) ){
      problem(c, "%s", zErr);
    }
    sqlite3_free(zErr);
    sqlite3_free(zPath);
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
  vsFileClose(pFile);
  checkShadow(c, "config");
  checkShadow(c, "map");
}

/* The JSON path of a declared field name: author.name -> $."author"."name" */
static char *fieldPath(const char *zName){
  sqlite3_str *p = sqlite3_str_new(0);
  const char *z = zName;
  sqlite3_str_appendchar(p, 1, '$');
  while( 1 ){
    const char *zDot = strchr(z, '.');
    int n = zDot ? (int)(zDot-z) : (int)strlen(z);
    int i;
    sqlite3_str_appendall(p, ".\"");
    for(i=0; i<n; i++){
      if( z[i]=='"' || z[i]=='\\' ) sqlite3_str_appendchar(p, 1, '\\');
      sqlite3_str_appendchar(p, 1, z[i]);
    }
    sqlite3_str_appendchar(p, 1, '"');
    if( zDot==0 ) break;
    z = zDot+1;
  }
  return sqlite3_str_finish(p);
}

static void checkPayloads(Check *c){
  sqlite3_stmt *pStmt;
  listRows(c, query(c, "SELECT id FROM \"%w\".\"%w_data\" "
                    "WHERE typeof(json)!='text' OR NOT json_valid(json)",
                    c->zSchema, c->zTable),
           "ids whose payload is not valid JSON");
  pStmt = query(c, "SELECT name, type FROM \"%w\".\"%w_fields\" ORDER BY pos",
                c->zSchema, c->zTable);
  while( pStmt && sqlite3_step(pStmt)==SQLITE_ROW ){
    const char *zName = (const char*)sqlite3_column_text(pStmt, 0);
    const char *zType = (const char*)sqlite3_column_text(pStmt, 1);
    char *zPath, *zWhat;
    if( zName==0 || zType==0 ) continue;
    zPath = fieldPath(zName);
    zWhat = sqlite3_mprintf("ids whose field %s differs from their payload",
                            zName);
    if( zPath && zWhat ){
      /* json_extract gives 1/0 for true/false, as BOOLEAN fields store */
      listRows(c, query(c, "SELECT id FROM \"%w\".\"%w_data\" "
                        "WHERE json_valid(json) AND \"%w\" IS NOT "
                        "json_extract(json, %Q)",
                        c->zSchema, c->zTable, zName, zPath), zWhat);
    }else{
      c->rc = SQLITE_NOMEM;
    }
    sqlite3_free(zPath);
    sqlite3_free(zWhat);
  }
  sqlite3_finalize(pStmt);
  checkShadow(c, "data");
  checkShadow(c, "fields");
}

int vsCheckTable(sqlite3 *db, const char *zSchema, const char *zTable,
                 int bShadow, char **pzReport){
  Check c;
  sqlite3_stmt *pStmt = 0;
  char *zSql;
  int eModule = 0;
  memset(&c, 0, sizeof(c));
  c.db = db;
  c.zSchema = zSchema;
  c.zTable = zTable;
  c.bShadow = bShadow;
  *pzReport = 0;
  zSql = sqlite3_mprintf("SELECT sql FROM \"%w\".sqlite_schema "
                         "WHERE type='table' AND name=?", zSchema);
  if( zSql==0 ) return SQLITE_NOMEM;
  if( sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0)==SQLITE_OK ){
    sqlite3_bind_text(pStmt, 1, zTable, -1, SQLITE_STATIC);
    if( sqlite3_step(pStmt)==SQLITE_ROW ){
      const char *zCreate = (const char*)sqlite3_column_text(pStmt, 0);
      if( zCreate && sqlite3_strlike("%using vectors%", zCreate, 0)==0 ){
        eModule = 1;
      }else if( zCreate && sqlite3_strlike("%using payloads%", zCreate, 0)==0 ){
        eModule = 2;
      }
    }
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zSql);
  if( eModule==0 ) return SQLITE_NOTFOUND;
  c.pOut = sqlite3_str_new(0);
  if( eModule==1 ) checkVectors(&c);
  else checkPayloads(&c);
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

int vsCheckIntegrity(sqlite3 *db, const char *zSchema, const char *zTable,
                     char **pzErr){
  char *zReport = 0;
  int rc = vsCheckTable(db, zSchema, zTable, 0, &zReport);
  if( rc==SQLITE_NOTFOUND ) rc = SQLITE_OK;
  *pzErr = zReport;
  return rc;
}

/* veles_check('table') or veles_check('schema.table') */
static void checkFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const char *zArg = (const char*)sqlite3_value_text(argv[0]);
  const char *zDot;
  char *zSchema, *zReport = 0;
  int rc;
  (void)argc;
  if( zArg==0 ){
    sqlite3_result_error(ctx, "veles_check: expected a table name, got NULL",
                         -1);
    return;
  }
  zDot = strchr(zArg, '.');
  zSchema = zDot ? sqlite3_mprintf("%.*s", (int)(zDot-zArg), zArg)
                 : sqlite3_mprintf("main");
  if( zSchema==0 ){
    sqlite3_result_error_nomem(ctx);
    return;
  }
  rc = vsCheckTable(sqlite3_context_db_handle(ctx), zSchema,
                    zDot ? zDot+1 : zArg, 1, &zReport);
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

int vsCheckRegister(sqlite3 *db, int bRemove){
  return sqlite3_create_function(db, "veles_check", 1,
                                 SQLITE_UTF8|SQLITE_DIRECTONLY, 0,
                                 bRemove ? 0 : checkFunc, 0, 0);
}
