/*
** A declared field added to an existing `payloads` table, back-filled from
** every payload it holds, in one transaction:
**
**   SELECT veles_add_field('meta', '"author.name" TEXT'); -- rows with one
**   SELECT veles_add_field('aux.meta', 'year INTEGER');   -- attached db
**
** It returns how many payloads hold a value for the new field.
**
** WHAT IT DOES, inside SAVEPOINT veles_add_field (in autocommit mode that
** is a transaction of its own; inside the caller's transaction a part of
** it), so that any failure leaves the table as it was:
**   1. the table's fields from <t>_fields and the new declaration go
**      through the CREATE arguments' parser (payjson.c): a malformed
**      declaration, an unknown type, a reserved or taken name, or a 63rd
**      field is refused;
**   2. every payload is read and the new field extracted from it, as a
**      write would: a value of another type than the field's refuses the
**      addition, naming the row, before anything is written;
**   3. ALTER TABLE <t>_data ADD COLUMN, one UPDATE per payload that holds
**      a value, the field's index (<t>_data_f<i>), its <t>_fields row;
**   4. RELEASE.
** The connection's pending payload inserts are written first, so the
** back-fill sees every row of the transaction.
**
** HOW THE TABLE SEES IT. The CREATE arguments name a table's first fields;
** xConnect appends those <t>_fields lists after them (payloads.c). The
** ALTER changes the schema, so every connection connects the table again
** (SQLite calls xConnect) before its next statement on it, and finds the
** new column. A DIRECTONLY function, as veles_upgrade: it changes the
** schema, which a write to the table itself (xUpdate) should not.
*/
#include "veles_int.h"
#include "pending.h"
#include <stdarg.h>
#include <string.h>

/* What one addition works on. */
typedef struct AddField AddField;
struct AddField {
  sqlite3 *db;
  const char *zSchema, *zTable;
  VsField *aField;          /* the table's fields, the new one last */
  int nField;
  char *zErr;               /* the refusal, "veles_add_field: ..." */
  i64 nFilled;              /* payloads holding a value for it */
};

/* Run printf-formatted SQL; a failure's message goes to p->zErr. */
static int addExec(AddField *p, const char *zFormat, ...){
  va_list ap;
  char *zSql;
  int rc;
  va_start(ap, zFormat);
  zSql = sqlite3_vmprintf(zFormat, ap);
  va_end(ap);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_exec(p->db, zSql, 0, 0, 0);
  sqlite3_free(zSql);
  if( rc && rc!=SQLITE_NOMEM && p->zErr==0 ){
    p->zErr = sqlite3_mprintf("veles_add_field: %s", sqlite3_errmsg(p->db));
  }
  return rc;
}

/* Step 1: the fields of <t>_fields and zDecl, parsed into p->aField. */
static int readFields(AddField *p, const char *zDecl){
  sqlite3_stmt *pStmt = 0;
  const char **azArg = 0;
  char *zSql, *zErr = 0;
  int rc, nArg = 3, i;
  zSql = sqlite3_mprintf("SELECT name, type FROM \"%w\".\"%w_fields\" "
                         "ORDER BY pos", p->zSchema, p->zTable);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  while( rc==SQLITE_OK && sqlite3_step(pStmt)==SQLITE_ROW ){
    const char *zName = (const char*)sqlite3_column_text(pStmt, 0);
    const char *zType = (const char*)sqlite3_column_text(pStmt, 1);
    const char **aNew = sqlite3_realloc64(azArg, sizeof(char*)*(u64)(nArg+2));
    if( aNew==0 ){
      rc = SQLITE_NOMEM;
      break;
    }
    azArg = aNew;
    azArg[0] = azArg[1] = azArg[2] = "";
    azArg[nArg] = sqlite3_mprintf("\"%w\" %s", zName ? zName : "",
                                  zType ? zType : "");
    if( azArg[nArg]==0 ){
      rc = SQLITE_NOMEM;
      break;
    }
    nArg++;
  }
  if( rc==SQLITE_OK ) rc = sqlite3_finalize(pStmt);
  else sqlite3_finalize(pStmt);
  if( rc==SQLITE_OK && azArg==0 ){
    azArg = sqlite3_malloc64(sizeof(char*)*4);
    if( azArg==0 ) rc = SQLITE_NOMEM;
    else azArg[0] = azArg[1] = azArg[2] = "";
  }
  if( rc==SQLITE_OK ){
    azArg[nArg] = zDecl;
    rc = vsFieldParse(nArg+1, azArg, &p->aField, &p->nField, &zErr);
    if( rc && rc!=SQLITE_NOMEM ){
      /* "payloads: <problem>" from the parser */
      p->zErr = sqlite3_mprintf("veles_add_field: cannot add '%s' to %s: %s",
                                zDecl, p->zTable, zErr ? zErr+10 : "");
    }else if( rc==SQLITE_OK && p->nField!=nArg-2 ){
      /* the parser took zDecl for an INDEX(...) declaration */
      p->zErr = sqlite3_mprintf("veles_add_field: cannot add '%s' to %s: "
          "expected one field, 'name TYPE' (composite indexes are declared "
          "with the table)", zDecl, p->zTable);
      rc = SQLITE_ERROR;
    }
    sqlite3_free(zErr);
  }else if( rc!=SQLITE_NOMEM ){
    p->zErr = sqlite3_mprintf("veles_add_field: %s", sqlite3_errmsg(p->db));
  }
  for(i=3; i<nArg; i++) sqlite3_free((char*)azArg[i]);
  sqlite3_free(azArg);
  return rc;
}

/* Bind value pV as parameter i of pStmt. */
static void bindValue(sqlite3_stmt *pStmt, int i, const VsFieldValue *pV){
  switch( pV->eType ){
    case SQLITE_INTEGER: sqlite3_bind_int64(pStmt, i, pV->iVal); break;
    case SQLITE_FLOAT:   sqlite3_bind_double(pStmt, i, pV->rVal); break;
    case SQLITE_TEXT:
      sqlite3_bind_text(pStmt, i, pV->zVal, pV->nVal, SQLITE_TRANSIENT);
      break;
    default:             sqlite3_bind_null(pStmt, i); break;
  }
}

/* Steps 2 and 3's back-fill: every payload's value of the new field,
** checked (bWrite 0) or written (bWrite 1). */
static int fillField(AddField *p, int bWrite){
  const VsField *pF = &p->aField[p->nField-1];
  sqlite3_stmt *pRead = 0, *pWrite = 0;
  char *zSql;
  int rc;
  p->nFilled = 0;
  zSql = sqlite3_mprintf("SELECT id, json FROM \"%w\".\"%w_data\"",
                         p->zSchema, p->zTable);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(p->db, zSql, -1, &pRead, 0);
  sqlite3_free(zSql);
  if( rc==SQLITE_OK && bWrite ){
    zSql = sqlite3_mprintf("UPDATE \"%w\".\"%w_data\" SET \"%w\"=?1 "
                           "WHERE id=?2", p->zSchema, p->zTable, pF->zName);
    rc = zSql ? sqlite3_prepare_v2(p->db, zSql, -1, &pWrite, 0)
              : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  /* every step may be interrupted (sqlite3_interrupt): the savepoint
  ** then rolls everything back */
  while( rc==SQLITE_OK && (rc = sqlite3_step(pRead))==SQLITE_ROW ){
    i64 iId = sqlite3_column_int64(pRead, 0);
    const char *z = (const char*)sqlite3_column_text(pRead, 1);
    int n = sqlite3_column_bytes(pRead, 1);
    VsJson doc;
    VsFieldValue v;
    char *zErr = 0;
    rc = SQLITE_OK;
    if( z==0 ){
      rc = SQLITE_NOMEM;
      break;
    }
    rc = vsJsonParse(z, n, &doc, &zErr);
    if( rc==SQLITE_OK ){
      rc = vsJsonExtract(&doc, pF, 1, &v, &zErr);
      if( rc==SQLITE_OK && v.eType!=SQLITE_NULL ){
        p->nFilled++;
        if( bWrite ){
          bindValue(pWrite, 1, &v);
          sqlite3_bind_int64(pWrite, 2, iId);
          sqlite3_step(pWrite);
          rc = sqlite3_reset(pWrite);
        }
      }
      vsJsonClear(&doc);
    }
    if( zErr ){
      /* "payloads: ..." from the parser or the extraction */
      p->zErr = sqlite3_mprintf("veles_add_field: cannot add field %s to "
          "%s: row %lld: %s", pF->zName, p->zTable, iId, zErr+10);
      sqlite3_free(zErr);
      if( rc==SQLITE_OK ) rc = SQLITE_ERROR;
    }
  }
  if( rc==SQLITE_DONE ) rc = SQLITE_OK;
  if( rc && rc!=SQLITE_NOMEM && p->zErr==0 ){
    p->zErr = sqlite3_mprintf("veles_add_field: %s", sqlite3_errmsg(p->db));
  }
  sqlite3_finalize(pRead);
  sqlite3_finalize(pWrite);
  return rc;
}

/* Step 3. */
static int addColumn(AddField *p){
  const VsField *pF = &p->aField[p->nField-1];
  const char *zType = vsFieldTypeName(pF->eType);
  char *zIdx = 0;
  /* the column's declared type is the field's, as the CREATE makes it */
  int rc = addExec(p, "ALTER TABLE \"%w\".\"%w_data\" ADD COLUMN \"%w\" %s",
                   p->zSchema, p->zTable, pF->zName, zType);
  if( rc==SQLITE_OK ) rc = fillField(p, 1);
  if( rc==SQLITE_OK ){
    rc = vsPayIndexName(p->db, p->zSchema, p->zTable, 'f', p->nField-1,
                        &zIdx);
  }
  if( rc==SQLITE_OK ){
    rc = addExec(p, "CREATE INDEX \"%w\".\"%w\" ON \"%w_data\"(\"%w\")",
                 p->zSchema, zIdx, p->zTable, pF->zName);
  }
  if( rc==SQLITE_OK ){
    rc = addExec(p, "INSERT INTO \"%w\".\"%w_fields\" VALUES(%d, %Q, %Q, %Q)",
                 p->zSchema, p->zTable, p->nField-1, pF->zName, zType, zIdx);
  }
  sqlite3_free(zIdx);
  return rc;
}

void vsAddFieldFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  VsConn *pConn = (VsConn*)sqlite3_user_data(ctx);
  const char *zArg = (const char*)sqlite3_value_text(argv[0]);
  const char *zDecl = (const char*)sqlite3_value_text(argv[1]);
  char *zSchema = 0, *zErr = 0;
  sqlite3_stmt *pUndo = 0, *pRelease = 0, *pRollback = 0;
  AddField a;
  int rc, bAuto;
  (void)argc;
  memset(&a, 0, sizeof(a));
  a.db = sqlite3_context_db_handle(ctx);
  if( zArg==0 || zDecl==0 ){
    sqlite3_result_error(ctx, "veles_add_field: expected a table name and a "
                         "field declaration 'name TYPE', got NULL", -1);
    return;
  }
  rc = vsSplitTableName(zArg, &zSchema, &a.zTable);
  if( rc ){
    sqlite3_result_error_nomem(ctx);
    return;
  }
  a.zSchema = zSchema;
  if( !vsSchemaModule(a.db, zSchema, a.zTable, "payloads") ){
    a.zErr = sqlite3_mprintf("veles_add_field: expected the name of a "
                             "payloads table, got '%s'", zArg);
    rc = a.zErr ? SQLITE_ERROR : SQLITE_NOMEM;
    goto done;
  }
  /* the rows this transaction has not written yet go in first */
  rc = vsPendingFlushAll(pConn, &zErr);
  if( rc ){
    a.zErr = sqlite3_mprintf("veles_add_field: %s",
                             zErr ? zErr : sqlite3_errstr(rc));
    sqlite3_free(zErr);
    goto done;
  }
  rc = readFields(&a, zDecl);
  if( rc ) goto done;
  /* the way back, prepared before anything changes: a failure to prepare
  ** it later (out of memory) must not leave half an addition */
  bAuto = sqlite3_get_autocommit(a.db);
  rc = sqlite3_prepare_v2(a.db, "ROLLBACK TO veles_add_field", -1, &pUndo, 0);
  if( rc==SQLITE_OK ){
    rc = sqlite3_prepare_v2(a.db, "RELEASE veles_add_field", -1, &pRelease, 0);
  }
  if( rc==SQLITE_OK && bAuto ){
    rc = sqlite3_prepare_v2(a.db, "ROLLBACK", -1, &pRollback, 0);
  }
  if( rc==SQLITE_OK ){
    rc = sqlite3_exec(a.db, "SAVEPOINT veles_add_field", 0, 0, 0);
  }
  if( rc ){
    if( rc!=SQLITE_NOMEM ){
      a.zErr = sqlite3_mprintf("veles_add_field: %s", sqlite3_errmsg(a.db));
    }
    goto done;
  }
  rc = fillField(&a, 0);
  if( rc==SQLITE_OK ) rc = addColumn(&a);
  if( rc==SQLITE_OK ){
    sqlite3_step(pRelease);
    rc = sqlite3_reset(pRelease);
    if( rc && a.zErr==0 ){
      a.zErr = sqlite3_mprintf("veles_add_field: %s", sqlite3_errmsg(a.db));
    }
  }
  if( rc ){
    /* leaves the table as it was (a failed RELEASE of the outermost
    ** savepoint, a COMMIT, too); if even that fails, a transaction of
    ** its own is rolled back whole */
    sqlite3_step(pUndo);
    if( sqlite3_reset(pUndo)==SQLITE_OK ){
      sqlite3_step(pRelease);
      sqlite3_reset(pRelease);
    }else if( pRollback ){
      sqlite3_step(pRollback);
      sqlite3_reset(pRollback);
    }
  }
done:
  sqlite3_finalize(pUndo);
  sqlite3_finalize(pRelease);
  sqlite3_finalize(pRollback);
  if( rc==SQLITE_OK ){
    sqlite3_result_int64(ctx, a.nFilled);
  }else if( rc==SQLITE_NOMEM || a.zErr==0 ){
    sqlite3_result_error_nomem(ctx);
  }else{
    sqlite3_result_error(ctx, a.zErr, -1);
    sqlite3_result_error_code(ctx, rc);
  }
  vsFieldFree(a.aField, a.nField);
  sqlite3_free(a.zErr);
  sqlite3_free(zSchema);
}
