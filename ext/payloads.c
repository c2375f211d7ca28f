/*
** The `payloads` virtual table: VelesDB's PayloadStorage through SQL.
**
** USAGE
**
**   CREATE VIRTUAL TABLE meta USING payloads;
**   CREATE VIRTUAL TABLE meta USING payloads(lang TEXT, year INTEGER,
**                                            score REAL, "author.name" TEXT);
**
**   INSERT OR REPLACE INTO meta(id, json) VALUES (7, '{"lang":"en"}'); -- store
**   SELECT json FROM meta WHERE id = 7;                                 -- retrieve
**   DELETE FROM meta WHERE id = 7;                                      -- delete
**   SELECT id FROM meta;                                                -- ids
**   COMMIT;                                                             -- flush
**   SELECT id FROM meta WHERE lang = 'en' AND year >= 2020;  -- declared fields
**
** Columns: id INTEGER (the rowid, 0 ..= 2^63-1, NULL or omitted = the
** largest id + 1, or 1 in an empty table), json TEXT (any JSON value,
** stored byte for byte), then one read-only column per declared field.
**
** Each CREATE argument declares a field as `name TYPE`. The name is an
** SQL identifier (quote it to use dots: "author.name" is the path
** author -> name through nested objects); TYPE is TEXT, INTEGER, REAL or
** BOOLEAN. On every write the field's value is taken from the payload
** (payjson.c): absent or JSON null gives SQL NULL, a value of another
** JSON type refuses the write. A field column cannot be written directly.
**
** HOW IT WORKS
**
** Every row lives in the shadow table <t>_data, so SQLite's own journal
** makes writes atomic with the rest of the transaction: statement
** rollback, savepoints, ROLLBACK and DROP ... ROLLBACK undo the shadow
** rows. The only state kept in memory is the pending inserts below.
**
** Writes (xUpdate) first check everything that can fail - the id, the
** JSON and the declared fields (payjson.c validates the text and extracts
** the fields; this file never looks inside a payload) - and only then
** touch the shadow table. A plain
** INSERT of an existing id is an INSERT OR IGNORE into <t>_data that
** changed nothing: xUpdate then returns SQLITE_CONSTRAINT ("UNIQUE
** constraint failed: <t>.id") with nothing written, which is what lets
** SQLite implement INSERT OR IGNORE on top; OR REPLACE overwrites.
**
** PENDING INSERTS. An INSERT of an id above every id of the table cannot
** conflict, so its row waits in memory and is written later with others
** in one multi-row INSERT (pending.c has the rule, shared with vectors,
** and says when pending rows are written and how a failure keeps them).
** Here each pending row's text (json and TEXT field values) is copied
** into one buffer of at most PAY_PENDING_BYTES, unless a single payload
** is larger; the largest id is read once per transaction (pending.c's
** iMaxId) and
** then kept up to date. Writing <t>_data directly with SQL (possible
** without SQLITE_DBCONFIG_DEFENSIVE) inside a transaction that also
** inserts through the table is not supported.
**
** Reads: xBestIndex turns the usable constraints on id and on declared
** fields (=, <, <=, >, >=; IN arrives as a loop of =) and the ORDER BY
** into one SELECT on <t>_data that names only the columns the statement
** uses, and passes that SQL as idxStr. xFilter runs it through a small
** per-table cache of prepared statements, so `WHERE id = ?` is one
** rowid seek and `WHERE lang = ?` one index range (covering when only
** id and the field are read).
**
** SHADOW TABLES (for table <t> in schema <db>)
**
**   <t>_data(id INTEGER PRIMARY KEY, json TEXT NOT NULL, "<f0>" T0, ...)
**       one row per payload; one column per declared field, with the
**       declared type, holding the value extracted from json
**   <t>_data_f<i> ON <t>_data("<fi>")
**       one index per declared field, named when the table is created
**       (<t>_data_f<i>_<k> if that name is taken)
**   <t>_data_c<i> ON <t>_data("<fa>", "<fb>", ...)
**       one per composite index the CREATE arguments declare
**       (INDEX(fa, fb, ...)), named and renamed as the field indexes.
**       SQLite's planner picks it for the queries xBestIndex passes to
**       <t>_data, so nothing else refers to it; the CREATE arguments,
**       which every xConnect reads, are its only record
**   <t>_fields(pos INTEGER PRIMARY KEY, name TEXT NOT NULL,
**              type TEXT NOT NULL, idx TEXT NOT NULL)
**       the declared fields in order with their index names; xConnect
**       checks the CREATE arguments against it
**
** Both tables are declared through xShadowName, so with
** SQLITE_DBCONFIG_DEFENSIVE ordinary SQL cannot write them. RENAME
** renames both tables; the indexes keep their names, because SQLite
** refuses DROP INDEX while the ALTER statement is running. DROP drops
** the tables (and with them the indexes).
*/
#include "veles_int.h"
#include "pending.h"
#include "shadow.h"
#include <assert.h>
#include <stdarg.h>
#include <string.h>

/* Prepared read statements kept per table. */
#define PAY_NCACHE 8

/* The text pending inserts may hold before they are written (a larger
** single payload is allowed). */
#define PAY_PENDING_BYTES (256*1024)

/* Cached statements on <t>_data (stmtSql() has their SQL) */
enum {
  PAY_INSERT,             /* INSERT OR IGNORE INTO data(id,json,f...) */
  PAY_REPLACE,            /* REPLACE INTO data(id,json,f...) */
  PAY_UPDATE,             /* UPDATE data SET id=?1,json=?2,f...=? WHERE id=?N */
  PAY_MOVE,               /* UPDATE data SET id=?1 WHERE id=?2 */
  PAY_DELETE,             /* DELETE FROM data WHERE id=?1 */
  PAY_EXISTS,             /* SELECT 1 FROM data WHERE id=?1 */
  PAY_MAXID,              /* SELECT max(id) FROM data */
  PAY_GETROW,             /* SELECT id,json,f... FROM data WHERE id=?1
                          ** (xColumn's fallback for json) */
  PAY_PUTONE,             /* INSERT OR FAIL INTO data(id,json,f...): one row */
  PAY_PUTMANY,            /* the same with pending.nMax rows */
  PAY_NSTMT
};

static const char *const azPayShadow[] = { "data", "fields", 0 };

typedef struct PayTable PayTable;
typedef struct PayCursor PayCursor;
typedef struct PayStmt PayStmt;
typedef struct PayPend PayPend;
/* A field value, as payloads.c binds it (from payjson.c). A pending
** row's TEXT value is kept in PayTable.aBuf at offset iVal. */
typedef VsFieldValue PayValue;

/* A prepared read on <t>_data and where its columns go. */
struct PayStmt {
  char *zSql;             /* the SQL, also the cache key (= idxStr) */
  sqlite3_stmt *pStmt;    /* prepared statement */
  int *aCol;              /* aCol[vtab column] = statement column or -1 */
};

/* One pending insert (see PENDING INSERTS); its id is in pending.aId. */
struct PayPend {
  i64 iJson;              /* its json: offset in PayTable.aBuf */
  int nJson;              /* bytes of json */
};

struct PayTable {
  sqlite3_vtab base;
  sqlite3 *db;
  VsConn *pConn;          /* per-connection state */
  VsShadow sh;            /* schema, table name, cached statements */
  int nField;             /* declared fields */
  VsField *aField;        /* the fields, in column order */
  int nIndex;             /* composite indexes declared, INDEX(...) */
  VsFieldIndex *aIndex;
  sqlite3_stmt *pFields;  /* SELECT id,NULL,f... FROM data WHERE id=?1:
                          ** xColumn's fallback for fields (getRowSql) */
  i64 iFieldsId;          /* the row pFields stands on, -1: reset */
  int nCache;             /* entries in aCache */
  PayStmt *aCache[PAY_NCACHE];  /* idle read statements, most recent last */
  PayCursor *pSpare;      /* a closed cursor kept for the next xOpen */
  /* Pending inserts (see PENDING INSERTS) */
  VsPending pending;      /* their ids; pending.nMax rows per PAY_PUTMANY */
  PayPend aPend[VS_PENDING_MAX];
  PayValue *aPendVal;     /* nField values per pending row (nMax rows),
                          ** allocated with the first pending row */
  char *aBuf;             /* the pending rows' text */
  i64 nBuf;               /* bytes used in aBuf */
  i64 nBufAlloc;          /* bytes allocated for aBuf */
};

struct PayCursor {
  sqlite3_vtab_cursor base;
  PayStmt *pS;            /* the running read, owned by the cursor */
  int bEof;               /* no current row */
  int bRunning;           /* pS->pStmt stepped since its reset, SQLITE_DONE
                          ** included (sqlite3_stmt_busy() is then false,
                          ** yet binding needs a reset) */
};

static int payFlush(PayTable *p);
static char *stmtSql(void*, int, const char*, const char*);
static int writePending(void*, int, int*, char**);
static void shiftPending(void*, int, int);

/* ---- small helpers --------------------------------------------------- */

/* ", "f0" TYPE0, "f1" TYPE1 ...": the declared fields as columns. */
static void appendFieldColumns(sqlite3_str *pStr, const PayTable *p){
  int i;
  for(i=0; i<p->nField; i++){
    sqlite3_str_appendf(pStr, ", \"%w\" %s", p->aField[i].zName,
                        vsFieldTypeName(p->aField[i].eType));
  }
}

/* Take over the connection's message after a failed nested statement. */
static int payDbError(PayTable *p, int rc){
  vsVtabSetError(&p->base, "%s", sqlite3_errmsg(p->db));
  return rc;
}

/* Cached statement eStmt on the shadow tables. */
static int payStmt(PayTable *p, int eStmt, sqlite3_stmt **ppStmt){
  int rc = vsShadowStmt(&p->sh, eStmt, ppStmt);
  return rc ? payDbError(p, rc) : SQLITE_OK;
}

static void payStmtFree(PayStmt *pS){
  if( pS ){
    sqlite3_finalize(pS->pStmt);
    sqlite3_free(pS->zSql);
    sqlite3_free(pS->aCol);
    sqlite3_free(pS);
  }
}

static void payFieldsRelease(PayTable*);
static char *getRowSql(PayTable*, int);

/* Finalize every cached statement (before DROP, RENAME, disconnect). */
static void payFinalizeAll(PayTable *p){
  int i;
  sqlite3_finalize(p->pFields);
  p->pFields = 0;
  p->iFieldsId = -1;
  for(i=0; i<p->nCache; i++) payStmtFree(p->aCache[i]);
  p->nCache = 0;
  if( p->pSpare ){
    payStmtFree(p->pSpare->pS);
    sqlite3_free(p->pSpare);
    p->pSpare = 0;
  }
}

/* Forget the pending rows (ROLLBACK, DROP, disconnect). */
static void payDropPending(PayTable *p){
  vsPendingDrop(&p->pending);
  p->nBuf = 0;
  if( p->nBufAlloc>PAY_PENDING_BYTES ){
    sqlite3_free(p->aBuf);
    p->aBuf = 0;
    p->nBufAlloc = 0;
  }
}

static void payFree(PayTable *p){
  if( p ){
    payDropPending(p);
    payFinalizeAll(p);
    vsShadowClear(&p->sh);
    if( p->pConn ) vsConnUnref(p->pConn);
    sqlite3_free(p->aPendVal);
    sqlite3_free(p->aBuf);
    vsFieldFree(p->aField, p->nField);
    sqlite3_free(p->aIndex);
    sqlite3_free(p->base.zErrMsg);
    sqlite3_free(p);
  }
}

/* ---- xCreate, xConnect ----------------------------------------------- */

/* Run printf-formatted SQL; on failure *pzErr (if given) gets
** "payloads: <SQLite's message>". */
static int payExec(sqlite3 *db, char **pzErr, const char *zFormat, ...){
  va_list ap;
  int rc;
  va_start(ap, zFormat);
  rc = vsShadowExecV(db, zFormat, ap);
  va_end(ap);
  if( rc && rc!=SQLITE_NOMEM && pzErr ){
    *pzErr = sqlite3_mprintf("payloads: %s", sqlite3_errmsg(db));
  }
  return rc;
}

/*
** A name for field i's index (cKind 'f': <t>_data_f<i>) or composite
** index i's ('c': <t>_data_c<i>), or that name with _<k> appended when a
** table renamed earlier still holds it (indexes keep the name they were
** created with).
*/
int vsPayIndexName(sqlite3 *db, const char *zSchema, const char *zTable,
                   char cKind, int i, char **pzIdx){
  sqlite3_stmt *pStmt = 0;
  char *zSql;
  int rc, k;
  zSql = sqlite3_mprintf("SELECT 1 FROM \"%w\".sqlite_schema WHERE name=?1",
                         zSchema);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  for(k=1; rc==SQLITE_OK; k++){
    char *zIdx = k==1 ? sqlite3_mprintf("%s_data_%c%d", zTable, cKind, i)
                      : sqlite3_mprintf("%s_data_%c%d_%d", zTable, cKind, i,
                                        k);
    int bTaken;
    if( zIdx==0 ){ rc = SQLITE_NOMEM; break; }
    sqlite3_bind_text(pStmt, 1, zIdx, -1, SQLITE_STATIC);
    bTaken = sqlite3_step(pStmt)==SQLITE_ROW;
    rc = sqlite3_reset(pStmt);
    if( rc==SQLITE_OK && !bTaken ){
      *pzIdx = zIdx;
      break;
    }
    sqlite3_free(zIdx);
  }
  sqlite3_finalize(pStmt);
  return rc;
}

/* Create the shadow tables and the field indexes. */
static int createShadow(PayTable *p, char **pzErr){
  sqlite3_str *pDdl = sqlite3_str_new(p->db);
  char *zDdl;
  int i, rc;
  sqlite3_str_appendf(pDdl, "CREATE TABLE \"%w\".\"%w_data\"(id INTEGER "
      "PRIMARY KEY, json TEXT NOT NULL", p->sh.zSchema, p->sh.zName);
  appendFieldColumns(pDdl, p);
  sqlite3_str_appendall(pDdl, ")");
  zDdl = sqlite3_str_finish(pDdl);
  if( zDdl==0 ) return SQLITE_NOMEM;
  rc = payExec(p->db, pzErr, "%s", zDdl);
  sqlite3_free(zDdl);
  if( rc==SQLITE_OK ){
    rc = payExec(p->db, pzErr, "CREATE TABLE \"%w\".\"%w_fields\"(pos INTEGER "
        "PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, idx TEXT NOT NULL)",
        p->sh.zSchema, p->sh.zName);
  }
  for(i=0; rc==SQLITE_OK && i<p->nField; i++){
    char *zIdx = 0;
    rc = vsPayIndexName(p->db, p->sh.zSchema, p->sh.zName, 'f', i, &zIdx);
    if( rc==SQLITE_OK ){
      rc = payExec(p->db, pzErr, "INSERT INTO \"%w\".\"%w_fields\" "
          "VALUES(%d, %Q, %Q, %Q)", p->sh.zSchema, p->sh.zName, i, p->aField[i].zName,
          vsFieldTypeName(p->aField[i].eType), zIdx);
    }
    if( rc==SQLITE_OK ){
      rc = payExec(p->db, pzErr, "CREATE INDEX \"%w\".\"%w\" ON "
          "\"%w_data\"(\"%w\")", p->sh.zSchema, zIdx, p->sh.zName,
          p->aField[i].zName);
    }
    sqlite3_free(zIdx);
  }
  for(i=0; rc==SQLITE_OK && i<p->nIndex; i++){
    char *zIdx = 0;
    rc = vsPayIndexName(p->db, p->sh.zSchema, p->sh.zName, 'c', i, &zIdx);
    if( rc==SQLITE_OK ){
      sqlite3_str *pSql = sqlite3_str_new(p->db);
      char *zSql;
      int j;
      sqlite3_str_appendf(pSql, "CREATE INDEX \"%w\".\"%w\" ON \"%w_data\"(",
                          p->sh.zSchema, zIdx, p->sh.zName);
      for(j=0; j<p->aIndex[i].nCol; j++){
        sqlite3_str_appendf(pSql, "%s\"%w\"", j ? "," : "",
                            p->aField[p->aIndex[i].aCol[j]].zName);
      }
      sqlite3_str_appendall(pSql, ")");
      zSql = sqlite3_str_finish(pSql);
      rc = zSql ? payExec(p->db, pzErr, "%s", zSql) : SQLITE_NOMEM;
      sqlite3_free(zSql);
    }
    sqlite3_free(zIdx);
  }
  return rc;
}

/*
** Check the declared fields against <t>_fields, and append those added
** since the table was made (veles_add_field, payfield.c), which follow
** the CREATE arguments' there. argv: the CREATE arguments.
*/
static int checkShadow(PayTable *p, int argc, const char *const*argv,
                       char **pzErr){
  sqlite3_stmt *pStmt = 0;
  const char **azArg = 0;
  char *zSql;
  int rc, n = 0, bMatch = 1, nArg = argc, i;
  zSql = sqlite3_mprintf("SELECT name, type FROM \"%w\".\"%w_fields\" "
                         "ORDER BY pos", p->sh.zSchema, p->sh.zName);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc ){
    *pzErr = sqlite3_mprintf("payloads: cannot read shadow table %s_fields: "
                             "%s", p->sh.zName, sqlite3_errmsg(p->db));
    return rc;
  }
  while( rc==SQLITE_OK && sqlite3_step(pStmt)==SQLITE_ROW ){
    const char *zName = (const char*)sqlite3_column_text(pStmt, 0);
    const char *zType = (const char*)sqlite3_column_text(pStmt, 1);
    if( zName==0 || zType==0 ){
      bMatch = 0;
    }else if( n<p->nField ){
      if( strcmp(zName, p->aField[n].zName)!=0
       || strcmp(zType, vsFieldTypeName(p->aField[n].eType))!=0 ){
        bMatch = 0;
      }
    }else{
      /* an added field: one more argument "name" TYPE */
      const char **aNew = sqlite3_realloc64(azArg,
                                            sizeof(char*)*(u64)(nArg+1));
      if( aNew==0 ){
        rc = SQLITE_NOMEM;
        break;
      }
      if( azArg==0 ) memcpy(aNew, argv, sizeof(char*)*(size_t)argc);
      azArg = aNew;
      azArg[nArg] = sqlite3_mprintf("\"%w\" %s", zName, zType);
      if( azArg[nArg]==0 ){
        rc = SQLITE_NOMEM;
        break;
      }
      nArg++;
    }
    n++;
  }
  if( rc==SQLITE_OK ) rc = sqlite3_finalize(pStmt);
  else sqlite3_finalize(pStmt);
  if( rc && rc!=SQLITE_NOMEM ){
    *pzErr = sqlite3_mprintf("payloads: cannot read shadow table %s_fields: "
                             "%s", p->sh.zName, sqlite3_errmsg(p->db));
  }else if( rc==SQLITE_OK && (!bMatch || n<p->nField) ){
    *pzErr = sqlite3_mprintf("payloads: declared fields of %s do not match "
        "its shadow table %s_fields", p->sh.zName, p->sh.zName);
    rc = SQLITE_CORRUPT_VTAB;
  }else if( rc==SQLITE_OK && azArg ){
    VsField *aField = 0;
    int nField = 0;
    rc = vsFieldParse(nArg, azArg, &aField, &nField, pzErr);
    if( rc==SQLITE_OK ){
      vsFieldFree(p->aField, p->nField);
      p->aField = aField;
      p->nField = nField;
    }
  }
  for(i=argc; i<nArg; i++) sqlite3_free((char*)azArg[i]);
  sqlite3_free(azArg);
  return rc;
}

static int payInit(sqlite3 *db, void *pAux, int argc,
                   const char *const*argv, sqlite3_vtab **ppVtab,
                   char **pzErr, int bCreate){
  PayTable *p;
  sqlite3_str *pDecl;
  char *zDecl;
  int rc;
  *ppVtab = 0;
  p = sqlite3_malloc(sizeof(*p));
  if( p==0 ) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  p->iFieldsId = -1;
  p->db = db;
  p->pConn = (VsConn*)pAux;
  vsConnRef(p->pConn);
  rc = vsShadowInit(&p->sh, db, argv[1], argv[2], azPayShadow, PAY_NSTMT,
                    stmtSql, p);
  if( rc ){
    payFree(p);
    return rc;
  }
  rc = vsFieldParse(argc, argv, &p->aField, &p->nField, pzErr);
  if( rc==SQLITE_OK ){
    rc = vsFieldIndexParse(argc, argv, p->aField, p->nField, &p->aIndex,
                           &p->nIndex, pzErr);
  }
  /* the fields added since the CREATE come after its arguments' */
  if( rc==SQLITE_OK && !bCreate ) rc = checkShadow(p, argc, argv, pzErr);
  if( rc==SQLITE_OK ){
    pDecl = sqlite3_str_new(db);
    sqlite3_str_appendall(pDecl, "CREATE TABLE x(id INTEGER, json TEXT");
    appendFieldColumns(pDecl, p);
    sqlite3_str_appendall(pDecl, ")");
    zDecl = sqlite3_str_finish(pDecl);
    if( zDecl==0 ){
      rc = SQLITE_NOMEM;
    }else{
      rc = sqlite3_declare_vtab(db, zDecl);
      sqlite3_free(zDecl);
      if( rc ){
        *pzErr = sqlite3_mprintf("payloads: %s", sqlite3_errmsg(db));
      }
    }
  }
  if( rc==SQLITE_OK ){
    if( bCreate ) rc = createShadow(p, pzErr);
  }
  if( rc==SQLITE_OK ){
    /* rows per multi-row INSERT: within the bound-parameter limit */
    int nVar = sqlite3_limit(db, SQLITE_LIMIT_VARIABLE_NUMBER, -1);
    int nMax = nVar/(2+p->nField);
    if( nMax>VS_PENDING_MAX ) nMax = VS_PENDING_MAX;
    if( nMax<1 ) nMax = 1;
    vsPendingInit(&p->pending, p->pConn, nMax, p, writePending,
                  shiftPending);
    sqlite3_vtab_config(db, SQLITE_VTAB_CONSTRAINT_SUPPORT, 1);
    sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
    *ppVtab = &p->base;
  }else{
    payFree(p);
  }
  return rc;
}

static int payCreate(sqlite3 *db, void *pAux, int argc,
                     const char *const*argv, sqlite3_vtab **ppVtab,
                     char **pzErr){
  return payInit(db, pAux, argc, argv, ppVtab, pzErr, 1);
}

static int payConnect(sqlite3 *db, void *pAux, int argc,
                      const char *const*argv, sqlite3_vtab **ppVtab,
                      char **pzErr){
  return payInit(db, pAux, argc, argv, ppVtab, pzErr, 0);
}

static int payDisconnect(sqlite3_vtab *pVtab){
  payFree((PayTable*)pVtab);
  return SQLITE_OK;
}

static int payDestroy(sqlite3_vtab *pVtab){
  PayTable *p = (PayTable*)pVtab;
  /* written first: a statement rollback of the DROP must find them */
  int rc = payFlush(p);
  if( rc ) return rc;
  payFinalizeAll(p);
  rc = vsShadowDrop(&p->sh);
  if( rc ) return payDbError(p, rc);
  payFree(p);
  return SQLITE_OK;
}

static int payRename(sqlite3_vtab *pVtab, const char *zNew){
  PayTable *p = (PayTable*)pVtab;
  int rc = payFlush(p);
  if( rc ) return rc;
  payFinalizeAll(p);
  /* The indexes keep their names: DROP INDEX is refused while the
  ** ALTER statement runs, and nothing depends on those names. */
  rc = vsShadowRename(&p->sh, zNew);
  return rc ? payDbError(p, rc) : SQLITE_OK;
}

static int payShadowName(const char *zSuffix){
  return vsShadowIsName(azPayShadow, zSuffix);
}

/* ---- xBestIndex ------------------------------------------------------ */

/* Rough row counts behind the cost estimates (the table size is not
** known here; only the order between the plans matters). */
#define PAY_ROWS_ALL     1000000.0
#define PAY_ROWS_EQ           10.0
#define PAY_ROWS_RANGE2     5000.0
#define PAY_ROWS_RANGE1   250000.0

/* SQL operator for a constraint op, or 0 when it is not passed down. */
static const char *opSql(unsigned char op){
  switch( op ){
    case SQLITE_INDEX_CONSTRAINT_EQ: return "=";
    case SQLITE_INDEX_CONSTRAINT_GT: return ">";
    case SQLITE_INDEX_CONSTRAINT_GE: return ">=";
    case SQLITE_INDEX_CONSTRAINT_LT: return "<";
    case SQLITE_INDEX_CONSTRAINT_LE: return "<=";
    default: return 0;
  }
}

/* Name of vtab column iCol (-1 = rowid) in <t>_data, quoted. */
static void appendColumn(sqlite3_str *pStr, PayTable *p, int iCol){
  if( iCol<=0 ){
    sqlite3_str_appendall(pStr, "id");
  }else if( iCol==1 ){
    sqlite3_str_appendall(pStr, "json");
  }else{
    sqlite3_str_appendf(pStr, "\"%w\"", p->aField[iCol-2].zName);
  }
}

/* The colUsed bit of vtab column iCol (-1, the rowid, is column 0). */
static sqlite3_uint64 colBit(int iCol){
  if( iCol<0 ) iCol = 0;
  return (sqlite3_uint64)1 << (iCol<63 ? iCol : 63);
}

/*
** idxNum: 1 id =, 2 field =, 3 range on id, 4 range on a field, 0 scan.
** idxStr: the SELECT on <t>_data that xFilter runs, with ?1, ?2... in
** argvIndex order.
*/
static int payBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo){
  PayTable *p = (PayTable*)pVtab;
  int nCol = 2 + p->nField;
  int i, nArg = 0;
  int bIdEq = 0, bFieldEq = 0, nIdRange = 0, nFieldRange = 0;
  int bOrder = 0;
  sqlite3_uint64 mPushed = 0;   /* fields of the constraints passed down */
  sqlite3_uint64 mTested = 0;   /* columns of those SQLite tests itself */
  sqlite3_uint64 mRead;         /* columns the statement reads */
  sqlite3_str *pSql = sqlite3_str_new(p->db);
  sqlite3_str *pWhere = sqlite3_str_new(p->db);
  char *zWhere;
  double nRow;

  /* Constraints passed down: =, <, <=, >, >= on id and on fields, with
  ** the default (BINARY) collation so that <t>_data compares the same
  ** way SQLite would. Pass the id = constraint alone when there is one. */
  for(i=0; i<pInfo->nConstraint; i++){
    const struct sqlite3_index_constraint *pC = &pInfo->aConstraint[i];
    if( pC->usable && pC->op==SQLITE_INDEX_CONSTRAINT_EQ
     && (pC->iColumn==0 || pC->iColumn==-1) ){
      bIdEq = 1;
      nArg = 1;
      pInfo->aConstraintUsage[i].argvIndex = 1;
      pInfo->aConstraintUsage[i].omit = 1;
      sqlite3_str_appendall(pWhere, "id=?1");
      break;
    }
  }
  for(i=0; !bIdEq && i<pInfo->nConstraint; i++){
    const struct sqlite3_index_constraint *pC = &pInfo->aConstraint[i];
    const char *zOp = opSql(pC->op);
    const char *zColl;
    if( !pC->usable || zOp==0 || pC->iColumn==1 || pC->iColumn>=nCol ){
      continue;
    }
    if( pC->iColumn>=2 ){
      zColl = sqlite3_vtab_collation(pInfo, i);
      if( zColl && sqlite3_stricmp(zColl, "BINARY")!=0 ) continue;
    }
    if( pC->iColumn<=0 ){
      nIdRange++;
    }else if( pC->op==SQLITE_INDEX_CONSTRAINT_EQ ){
      bFieldEq = 1;
    }else{
      nFieldRange++;
    }
    nArg++;
    pInfo->aConstraintUsage[i].argvIndex = nArg;
    pInfo->aConstraintUsage[i].omit = 1;
    if( pC->iColumn>=2 ) mPushed |= colBit(pC->iColumn);
    if( nArg>1 ) sqlite3_str_appendall(pWhere, " AND ");
    appendColumn(pWhere, p, pC->iColumn);
    sqlite3_str_appendf(pWhere, "%s?%d", zOp, nArg);
  }
  if( sqlite3_str_errcode(pWhere) ){
    sqlite3_free(sqlite3_str_finish(pWhere));
    sqlite3_free(sqlite3_str_finish(pSql));
    return SQLITE_NOMEM;
  }
  zWhere = sqlite3_str_finish(pWhere);   /* 0 when empty */

  /* Columns read with the row: id always (it is the rowid), the others
  ** when used, except one case. When the plan is one field's index and
  ** json is not read, a used field that no constraint of this call names
  ** is left to xColumn (payColumnFallback), so that the scan stays inside
  ** the index: in a multi-index OR SQLite plans each term's scan with the
  ** colUsed of the whole WHERE (every field of every term) and reads only
  ** its own term's field. A column SQLite tests itself (a constraint not
  ** passed down, e.g. IS NULL) is read with the row. */
  for(i=0; i<pInfo->nConstraint; i++){
    if( pInfo->aConstraintUsage[i].argvIndex==0 ){
      mTested |= colBit(pInfo->aConstraint[i].iColumn);
    }
  }
  mRead = pInfo->colUsed;
  if( (mPushed & (mPushed-1))==0 && mPushed!=0 && !(mRead & colBit(1))
   && pInfo->nOrderBy==0 ){
    mRead &= mPushed | mTested;
  }
  sqlite3_str_appendall(pSql, "SELECT id");
  for(i=1; i<nCol; i++){
    if( mRead & colBit(i) ){
      sqlite3_str_appendall(pSql, ",");
      appendColumn(pSql, p, i);
    }
  }
  sqlite3_str_appendf(pSql, " FROM \"%w\".\"%w_data\"", p->sh.zSchema,
                      p->sh.zName);
  if( zWhere ) sqlite3_str_appendf(pSql, " WHERE %s", zWhere);
  sqlite3_free(zWhere);

  /* ORDER BY on any of the columns is done by <t>_data's query. */
  if( pInfo->nOrderBy>0 ){
    bOrder = 1;
    for(i=0; i<pInfo->nOrderBy; i++){
      if( pInfo->aOrderBy[i].iColumn>=nCol ) bOrder = 0;
    }
  }
  if( bOrder ){
    sqlite3_str_appendall(pSql, " ORDER BY ");
    for(i=0; i<pInfo->nOrderBy; i++){
      if( i ) sqlite3_str_appendall(pSql, ",");
      appendColumn(pSql, p, pInfo->aOrderBy[i].iColumn);
      if( pInfo->aOrderBy[i].desc ) sqlite3_str_appendall(pSql, " DESC");
    }
    pInfo->orderByConsumed = 1;
  }else if( !bIdEq && !bFieldEq && nFieldRange==0 ){
    /* A scan returns ids ascending, whatever index looks cheaper. */
    sqlite3_str_appendall(pSql, " ORDER BY id");
  }

  if( bIdEq ){
    pInfo->idxNum = 1;
    nRow = 1.0;
    pInfo->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
  }else if( bFieldEq ){
    pInfo->idxNum = 2;
    nRow = PAY_ROWS_EQ;
  }else if( nIdRange ){
    pInfo->idxNum = 3;
    nRow = nIdRange>1 ? PAY_ROWS_RANGE2/10 : PAY_ROWS_RANGE1/10;
  }else if( nFieldRange ){
    pInfo->idxNum = 4;
    nRow = nFieldRange>1 ? PAY_ROWS_RANGE2 : PAY_ROWS_RANGE1;
  }else{
    pInfo->idxNum = 0;
    nRow = PAY_ROWS_ALL;
  }
  pInfo->estimatedRows = (sqlite3_int64)nRow;
  /* a field match costs an index probe plus a row fetch */
  pInfo->estimatedCost = (pInfo->idxNum==2 || pInfo->idxNum==4) ? 2*nRow
                                                                 : nRow;
  pInfo->idxStr = sqlite3_str_finish(pSql);
  if( pInfo->idxStr==0 ) return SQLITE_NOMEM;
  pInfo->needToFreeIdxStr = 1;
  return SQLITE_OK;
}

/* ---- cursors --------------------------------------------------------- */

/* Return a read statement to the table's cache. */
static void payStmtRelease(PayTable *p, PayStmt *pS){
  if( pS==0 ) return;
  sqlite3_reset(pS->pStmt);
  if( p->nCache==PAY_NCACHE ){
    payStmtFree(p->aCache[0]);
    memmove(&p->aCache[0], &p->aCache[1], sizeof(PayStmt*)*(PAY_NCACHE-1));
    p->nCache--;
  }
  p->aCache[p->nCache++] = pS;
}

/* A read statement for zSql: from the cache, or newly prepared. */
static int payStmtAcquire(PayTable *p, const char *zSql, PayStmt **ppS){
  int i, j, rc, nCol = 2 + p->nField;
  PayStmt *pS;
  for(i=p->nCache-1; i>=0; i--){
    if( strcmp(p->aCache[i]->zSql, zSql)==0 ){
      *ppS = p->aCache[i];
      p->nCache--;
      memmove(&p->aCache[i], &p->aCache[i+1],
              sizeof(PayStmt*)*(size_t)(p->nCache-i));
      return SQLITE_OK;
    }
  }
  pS = sqlite3_malloc(sizeof(*pS));
  if( pS==0 ) return SQLITE_NOMEM;
  memset(pS, 0, sizeof(*pS));
  pS->zSql = sqlite3_mprintf("%s", zSql);
  pS->aCol = sqlite3_malloc64(sizeof(int)*(u64)nCol);
  if( pS->zSql==0 || pS->aCol==0 ){
    payStmtFree(pS);
    return SQLITE_NOMEM;
  }
  rc = sqlite3_prepare_v3(p->db, zSql, -1, SQLITE_PREPARE_PERSISTENT,
                          &pS->pStmt, 0);
  if( rc ){
    payDbError(p, rc);
    payStmtFree(pS);
    return rc;
  }
  /* Map the statement's columns, by name, onto the table's. */
  for(i=0; i<nCol; i++) pS->aCol[i] = -1;
  for(j=0; j<sqlite3_column_count(pS->pStmt); j++){
    const char *zName = sqlite3_column_name(pS->pStmt, j);
    if( strcmp(zName, "id")==0 ){
      pS->aCol[0] = j;
    }else if( strcmp(zName, "json")==0 ){
      pS->aCol[1] = j;
    }else{
      for(i=0; i<p->nField; i++){
        if( strcmp(zName, p->aField[i].zName)==0 ) pS->aCol[i+2] = j;
      }
    }
  }
  *ppS = pS;
  return SQLITE_OK;
}

/* A cursor: the table's spare one (with the statement it last ran, so
** that a repeated lookup reuses it as it is), or a new one. */
static int payOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCur){
  PayTable *p = (PayTable*)pVtab;
  PayCursor *pCur = p->pSpare;
  if( pCur ){
    p->pSpare = 0;
  }else{
    pCur = sqlite3_malloc(sizeof(*pCur));
    if( pCur==0 ) return SQLITE_NOMEM;
    memset(pCur, 0, sizeof(*pCur));
  }
  pCur->bEof = 1;
  *ppCur = &pCur->base;
  return SQLITE_OK;
}

static int payClose(sqlite3_vtab_cursor *pBase){
  PayCursor *pCur = (PayCursor*)pBase;
  PayTable *p = (PayTable*)pBase->pVtab;
  payFieldsRelease(p);            /* a statement left open would keep a
                                  ** transaction from committing */
  if( pCur->bRunning ){
    sqlite3_reset(pCur->pS->pStmt);     /* ends its read */
    pCur->bRunning = 0;
  }
  if( p->pSpare==0 ){
    p->pSpare = pCur;
  }else{
    payStmtRelease(p, pCur->pS);
    sqlite3_free(pCur);
  }
  return SQLITE_OK;
}

static int payNext(sqlite3_vtab_cursor *pBase){
  PayCursor *pCur = (PayCursor*)pBase;
  int rc = sqlite3_step(pCur->pS->pStmt);
  if( rc==SQLITE_ROW ) return SQLITE_OK;
  pCur->bEof = 1;
  if( rc==SQLITE_DONE ) return SQLITE_OK;
  rc = sqlite3_reset(pCur->pS->pStmt);
  return payDbError((PayTable*)pBase->pVtab, rc);
}

static int payFilter(sqlite3_vtab_cursor *pBase, int idxNum,
                     const char *idxStr, int argc, sqlite3_value **argv){
  PayCursor *pCur = (PayCursor*)pBase;
  PayTable *p = (PayTable*)pBase->pVtab;
  int i, rc;
  (void)idxNum;
  pCur->bEof = 1;
  if( idxStr==0 ) return SQLITE_ERROR;
  rc = payFlush(p);                     /* pending rows must be seen */
  if( rc ) return rc;
  if( pCur->bRunning ){
    sqlite3_reset(pCur->pS->pStmt);
    pCur->bRunning = 0;
  }
  if( pCur->pS==0 || strcmp(pCur->pS->zSql, idxStr)!=0 ){
    payStmtRelease(p, pCur->pS);
    pCur->pS = 0;
    rc = payStmtAcquire(p, idxStr, &pCur->pS);
    if( rc ) return rc;
  }
  for(i=0; i<argc; i++){
    rc = sqlite3_bind_value(pCur->pS->pStmt, i+1, argv[i]);
    if( rc ) return payDbError(p, rc);
  }
  pCur->bEof = 0;
  pCur->bRunning = 1;
  return payNext(pBase);
}

static int payEof(sqlite3_vtab_cursor *pBase){
  return ((PayCursor*)pBase)->bEof;
}

/* Let pFields go off its row: a cursor closes, or the statements go. */
static void payFieldsRelease(PayTable *p){
  if( p->iFieldsId<0 ) return;
  p->iFieldsId = -1;
  sqlite3_reset(p->pFields);
}

/* Column iCol of the row with id iId, read on its own: when SQLite asks
** for a column its plan did not list (payBestIndex leaves fields out of
** a scan on another field's index). A field comes from pFields,
** which stays on the row until another row is asked for or the cursor
** closes, so a row's fields cost one lookup and json is not read. */
static int payColumnFallback(PayTable *p, i64 iId, int iCol,
                             sqlite3_context *ctx){
  sqlite3_stmt *pStmt;
  int rc;
  if( iCol==1 ){
    rc = payStmt(p, PAY_GETROW, &pStmt);
    if( rc ) return rc;
    sqlite3_bind_int64(pStmt, 1, iId);
    if( sqlite3_step(pStmt)==SQLITE_ROW ){
      sqlite3_result_value(ctx, sqlite3_column_value(pStmt, iCol));
    }
    rc = sqlite3_reset(pStmt);
    if( rc ) payDbError(p, rc);
    return rc;
  }
  if( p->pFields==0 ){
    char *zSql = getRowSql(p, 0);
    if( zSql==0 ) return SQLITE_NOMEM;
    rc = sqlite3_prepare_v3(p->db, zSql, -1, SQLITE_PREPARE_PERSISTENT,
                            &p->pFields, 0);
    sqlite3_free(zSql);
    if( rc ) return payDbError(p, rc);
  }
  pStmt = p->pFields;
  if( p->iFieldsId!=iId ){
    payFieldsRelease(p);
    sqlite3_bind_int64(pStmt, 1, iId);
    rc = sqlite3_step(pStmt);
    if( rc!=SQLITE_ROW ){
      rc = sqlite3_reset(pStmt);
      return rc ? payDbError(p, rc) : SQLITE_OK;    /* no row: NULL */
    }
    p->iFieldsId = iId;
  }
  sqlite3_result_value(ctx, sqlite3_column_value(pStmt, iCol));
  return SQLITE_OK;
}

static int payColumn(sqlite3_vtab_cursor *pBase, sqlite3_context *ctx,
                     int iCol){
  PayCursor *pCur = (PayCursor*)pBase;
  sqlite3_stmt *pStmt = pCur->pS->pStmt;
  int j;
  /* UPDATE: columns not being set are passed back as "unchanged". */
  if( iCol>0 && sqlite3_vtab_nochange(ctx) ) return SQLITE_OK;
  j = pCur->pS->aCol[iCol];
  if( j<0 ){
    return payColumnFallback((PayTable*)pBase->pVtab,
                             sqlite3_column_int64(pStmt, 0), iCol, ctx);
  }
  if( iCol==1 ){
    /* json: TEXT NOT NULL; one copy, into SQLite's result */
    const unsigned char *z = sqlite3_column_text(pStmt, j);
    if( z==0 ){
      return sqlite3_column_type(pStmt, j)==SQLITE_NULL ? SQLITE_OK
                                                        : SQLITE_NOMEM;
    }
    sqlite3_result_text(ctx, (const char*)z, sqlite3_column_bytes(pStmt, j),
                        SQLITE_TRANSIENT);
  }else{
    sqlite3_result_value(ctx, sqlite3_column_value(pStmt, j));
  }
  return SQLITE_OK;
}

static int payRowid(sqlite3_vtab_cursor *pBase, sqlite3_int64 *pRowid){
  PayCursor *pCur = (PayCursor*)pBase;
  *pRowid = sqlite3_column_int64(pCur->pS->pStmt, 0);
  return SQLITE_OK;
}

/* ---- xUpdate --------------------------------------------------------- */

/* Bind the field values at parameters iFirst, iFirst+1... A TEXT value
** is at zVal, or for a pending row (aBuf!=0) at offset iVal of aBuf. */
static void bindFields(sqlite3_stmt *pStmt, int iFirst, const PayValue *aVal,
                       int nField, const char *aBuf){
  int i;
  for(i=0; i<nField; i++){
    const PayValue *pV = &aVal[i];
    switch( pV->eType ){
      case SQLITE_INTEGER:
        sqlite3_bind_int64(pStmt, iFirst+i, pV->iVal);
        break;
      case SQLITE_FLOAT:
        sqlite3_bind_double(pStmt, iFirst+i, pV->rVal);
        break;
      case SQLITE_TEXT:
        sqlite3_bind_text(pStmt, iFirst+i, aBuf ? &aBuf[pV->iVal] : pV->zVal,
                          pV->nVal, SQLITE_STATIC);
        break;
      default:
        sqlite3_bind_null(pStmt, iFirst+i);
        break;
    }
  }
}

/* Step a write statement once and reset it. */
static int stepWrite(PayTable *p, sqlite3_stmt *pStmt){
  int rc = sqlite3_step(pStmt);
  if( rc==SQLITE_DONE || rc==SQLITE_ROW ){
    return sqlite3_reset(pStmt);
  }
  rc = sqlite3_reset(pStmt);
  return payDbError(p, rc);
}

/* 1 if a row with id iId exists, 0 if not, <0 (minus rc) on error. */
static int rowExists(PayTable *p, i64 iId){
  sqlite3_stmt *pStmt;
  int rc = payStmt(p, PAY_EXISTS, &pStmt);
  int bFound;
  if( rc ) return -rc;
  sqlite3_bind_int64(pStmt, 1, iId);
  bFound = sqlite3_step(pStmt)==SQLITE_ROW;
  rc = sqlite3_reset(pStmt);
  if( rc ){
    payDbError(p, rc);
    return -rc;
  }
  return bFound;
}

/* Delete the row with id iId (none is fine). */
static int deleteRow(PayTable *p, i64 iId){
  sqlite3_stmt *pStmt;
  int rc = payStmt(p, PAY_DELETE, &pStmt);
  if( rc ) return rc;
  sqlite3_bind_int64(pStmt, 1, iId);
  return stepWrite(p, pStmt);
}

/* The error of an insert whose id is taken (ids.c words it). */
static int uniqueError(PayTable *p){
  return vsVtabAdoptError(&p->base, SQLITE_CONSTRAINT, vsIdUniqueError(p->sh.zName));
}

/* Make pending.iMaxId known: the largest id of the table (pending.c). */
static int knowMaxId(PayTable *p){
  sqlite3_stmt *pStmt;
  char *zErr = 0;
  int rc;
  if( p->pending.bMaxKnown ) return SQLITE_OK;
  rc = payStmt(p, PAY_MAXID, &pStmt);
  if( rc ) return rc;
  rc = vsPendingKnowMaxId(&p->pending, pStmt, &zErr);
  if( rc ) return zErr ? vsVtabAdoptError(&p->base, rc, zErr) : payDbError(p, rc);
  return SQLITE_OK;
}

/* The next id: the largest + 1, or 1 in an empty table. */
static int nextId(PayTable *p, i64 *piId){
  char *zErr = 0;
  int rc = knowMaxId(p);
  if( rc==SQLITE_OK ) rc = vsIdNext(p->pending.iMaxId, "payloads", piId, &zErr);
  return vsVtabAdoptError(&p->base, rc, zErr);
}

/* "<verb> INTO data(id,json,"f0",...) VALUES(?1,?2,...)" with nRow rows
** of parameters, numbered on from row to row. */
static char *insertSql(PayTable *p, const char *zVerb, int nRow){
  sqlite3_str *pStr = sqlite3_str_new(p->db);
  int i, r, nCol = 2 + p->nField;
  sqlite3_str_appendf(pStr, "%s INTO \"%w\".\"%w_data\"(id,json", zVerb,
                      p->sh.zSchema, p->sh.zName);
  for(i=0; i<p->nField; i++){
    sqlite3_str_appendf(pStr, ",\"%w\"", p->aField[i].zName);
  }
  sqlite3_str_appendall(pStr, ") VALUES");
  for(r=0; r<nRow; r++){
    for(i=0; i<nCol; i++){
      sqlite3_str_appendf(pStr, "%s?%d", i==0 ? (r ? ",(" : "(") : ",",
                          r*nCol+i+1);
    }
    sqlite3_str_appendall(pStr, ")");
  }
  return sqlite3_str_finish(pStr);
}

/* ---- pending inserts (see PENDING INSERTS) --------------------------- */

#ifndef NDEBUG
/*
** The pending rows' invariants, for assert(): ids above none but iMaxId
** (while it is known), every text within the nBuf bytes used of aBuf.
** pending.c checks the count and the order of the ids.
*/
static int payPendingOk(const PayTable *p){
  int i, j;
  if( p->nBuf<0 || p->nBuf>p->nBufAlloc ) return 0;
  for(i=0; i<p->pending.nRow; i++){
    const PayPend *pP = &p->aPend[i];
    i64 iId = p->pending.aId[i];
    if( iId<0 || (p->pending.bMaxKnown && iId>p->pending.iMaxId) ) return 0;
    if( pP->iJson<0 || pP->nJson<0 || pP->iJson+pP->nJson>p->nBuf ) return 0;
    for(j=0; j<p->nField; j++){
      const PayValue *pV = &p->aPendVal[i*p->nField+j];
      if( pV->eType==SQLITE_TEXT
       && (pV->iVal<0 || pV->nVal<0 || pV->iVal+pV->nVal>p->nBuf) ){
        return 0;
      }
    }
  }
  return 1;
}
#endif

/* Bind pending row iRow at parameters iFirst, iFirst+1... */
static void bindPending(PayTable *p, sqlite3_stmt *pStmt, int iFirst,
                        int iRow){
  const PayPend *pP = &p->aPend[iRow];
  assert( iRow>=0 && iRow<p->pending.nRow );
  assert( pP->iJson>=0 && pP->iJson+pP->nJson<=p->nBuf );
  sqlite3_bind_int64(pStmt, iFirst, p->pending.aId[iRow]);
  sqlite3_bind_text(pStmt, iFirst+1, &p->aBuf[pP->iJson], pP->nJson,
                    SQLITE_STATIC);
  if( p->nField ){
    bindFields(pStmt, iFirst+2, &p->aPendVal[iRow*p->nField], p->nField,
               p->aBuf);
  }
}

/*
** Write pending rows 0..nRow-1 (a VsPendingWrite): a full set with one
** statement, fewer one by one; *pnDone gets how many were written.
*/
static int writePending(void *pOwner, int nRow, int *pnDone, char **pzErr){
  PayTable *p = (PayTable*)pOwner;
  sqlite3_stmt *pStmt;
  int rc, i, nCol = 2 + p->nField;
  int bMany = nRow==p->pending.nMax && nRow>1;
  assert( payPendingOk(p) );
  *pnDone = 0;
  rc = vsShadowStmt(&p->sh, bMany ? PAY_PUTMANY : PAY_PUTONE, &pStmt);
  if( rc==SQLITE_OK && bMany ){
    for(i=0; i<nRow; i++) bindPending(p, pStmt, i*nCol+1, i);
    sqlite3_step(pStmt);
    rc = sqlite3_reset(pStmt);          /* the step's error, if any */
    if( rc==SQLITE_OK ) *pnDone = nRow;
  }
  for(i=0; rc==SQLITE_OK && !bMany && i<nRow; i++){
    bindPending(p, pStmt, 1, i);
    sqlite3_step(pStmt);
    rc = sqlite3_reset(pStmt);
    if( rc==SQLITE_OK ) *pnDone = i+1;
  }
  if( rc && rc!=SQLITE_NOMEM ){
    *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(p->db));
  }
  return rc;
}

/* Rows 0..nDone-1 were written: move the rest down (a VsPendingShift). */
static void shiftPending(void *pOwner, int nDone, int nLeft){
  PayTable *p = (PayTable*)pOwner;
  memmove(&p->aPend[0], &p->aPend[nDone], sizeof(PayPend)*(size_t)nLeft);
  if( p->nField ){
    memmove(&p->aPendVal[0], &p->aPendVal[nDone*p->nField],
            sizeof(PayValue)*(size_t)(nLeft*p->nField));
  }
}

/*
** Write the pending rows of every table of the connection (they must be
** visible to whatever runs next). An error is reported on p.
*/
static int payFlush(PayTable *p){
  char *zErr = 0;
  int rc = vsPendingFlushAll(p->pConn, &zErr);
  return vsVtabAdoptError(&p->base, rc, zErr);
}

/* Keep an INSERT of a new largest id for later (the caller checked that
** iId is above iMaxId). aVal: the field values, pointing into the
** parsed payload. */
static int addPending(PayTable *p, i64 iId, const char *zJson, int nJson,
                      const PayValue *aVal){
  i64 nNeed = nJson;
  PayPend *pP;
  PayValue *aDst;
  int i, iRow, rc;
  /* a new largest id: above every row, pending ones included */
  assert( payPendingOk(p) );
  for(i=0; i<p->nField; i++){
    if( aVal[i].eType==SQLITE_TEXT ) nNeed += aVal[i].nVal;
  }
  if( p->nField && p->aPendVal==0 ){
    /* first pending row of this table: not at connect, which many
    ** read-only connections do */
    p->aPendVal = sqlite3_malloc64(sizeof(PayValue)*(u64)p->pending.nMax
                                   *(u64)p->nField);
    if( p->aPendVal==0 ) return SQLITE_NOMEM;
  }
  if( vsPendingFull(&p->pending)
   || (p->pending.nRow>0 && p->nBuf+nNeed>PAY_PENDING_BYTES) ){
    rc = payFlush(p);
    if( rc ) return rc;
  }
  if( p->pending.nRow==0 ) p->nBuf = 0;   /* every row written */
  if( p->nBuf+nNeed>p->nBufAlloc ){
    i64 nNew = p->nBufAlloc ? 2*p->nBufAlloc : 16384;
    char *aNew;
    while( nNew<p->nBuf+nNeed ) nNew *= 2;
    aNew = sqlite3_realloc64(p->aBuf, (u64)nNew);
    if( aNew==0 ) return SQLITE_NOMEM;
    p->aBuf = aNew;
    p->nBufAlloc = nNew;
  }
  assert( p->nBuf+nNeed<=p->nBufAlloc );
  iRow = vsPendingAdd(&p->pending, iId);
  pP = &p->aPend[iRow];
  pP->iJson = p->nBuf;
  pP->nJson = nJson;
  memcpy(&p->aBuf[p->nBuf], zJson, (size_t)nJson);
  p->nBuf += nJson;
  aDst = p->nField ? &p->aPendVal[iRow*p->nField] : 0;
  for(i=0; i<p->nField; i++){
    aDst[i] = aVal[i];
    if( aVal[i].eType==SQLITE_TEXT ){
      size_t n = (size_t)aVal[i].nVal;
      memcpy(&p->aBuf[p->nBuf], aVal[i].zVal, n);
      aDst[i].iVal = p->nBuf;
      aDst[i].zVal = 0;
      p->nBuf += (i64)n;
    }
  }
  assert( payPendingOk(p) );
  return SQLITE_OK;
}

/* SELECT id,json,f... FROM data WHERE id=?1 (bJson 0: NULL for json):
** the columns in the table's order, named, so that another column of
** <t>_data cannot shift them. */
static char *getRowSql(PayTable *p, int bJson){
  sqlite3_str *pStr = sqlite3_str_new(p->db);
  int i;
  sqlite3_str_appendall(pStr, bJson ? "SELECT id,json" : "SELECT id,NULL");
  for(i=0; i<p->nField; i++){
    sqlite3_str_appendf(pStr, ",\"%w\"", p->aField[i].zName);
  }
  sqlite3_str_appendf(pStr, " FROM \"%w\".\"%w_data\" WHERE id=?1",
                      p->sh.zSchema, p->sh.zName);
  return sqlite3_str_finish(pStr);
}

static char *updateSql(PayTable *p){
  sqlite3_str *pStr = sqlite3_str_new(p->db);
  int i;
  sqlite3_str_appendf(pStr, "UPDATE \"%w\".\"%w_data\" SET id=?1,json=?2",
                      p->sh.zSchema, p->sh.zName);
  for(i=0; i<p->nField; i++){
    sqlite3_str_appendf(pStr, ",\"%w\"=?%d", p->aField[i].zName, i+3);
  }
  sqlite3_str_appendf(pStr, " WHERE id=?%d", p->nField+3);
  return sqlite3_str_finish(pStr);
}

/* The SQL of cached statement eStmt (a VsShadowSql). */
static char *stmtSql(void *pCtx, int eStmt, const char *zSchema,
                     const char *zName){
  PayTable *p = (PayTable*)pCtx;
  assert( strcmp(zSchema, p->sh.zSchema)==0 && strcmp(zName, p->sh.zName)==0 );
  switch( eStmt ){
    case PAY_INSERT:  return insertSql(p, "INSERT OR IGNORE", 1);
    case PAY_REPLACE: return insertSql(p, "REPLACE", 1);
    case PAY_UPDATE:  return updateSql(p);
    case PAY_PUTONE:  return insertSql(p, "INSERT OR FAIL", 1);
    case PAY_PUTMANY: return insertSql(p, "INSERT OR FAIL", p->pending.nMax);
    case PAY_MOVE:
      return sqlite3_mprintf("UPDATE \"%w\".\"%w_data\" SET id=?1 WHERE "
                             "id=?2", zSchema, zName);
    case PAY_DELETE:
      return sqlite3_mprintf("DELETE FROM \"%w\".\"%w_data\" WHERE id=?1",
                             zSchema, zName);
    case PAY_EXISTS:
      return sqlite3_mprintf("SELECT 1 FROM \"%w\".\"%w_data\" WHERE id=?1",
                             zSchema, zName);
    case PAY_MAXID:
      return sqlite3_mprintf("SELECT max(id) FROM \"%w\".\"%w_data\"",
                             zSchema, zName);
    default:
      assert( eStmt==PAY_GETROW );
      return getRowSql(p, 1);
  }
}

static int payUpdate(sqlite3_vtab *pVtab, int argc, sqlite3_value **argv,
                     sqlite3_int64 *pRowid){
  PayTable *p = (PayTable*)pVtab;
  int rc = SQLITE_OK, i;
  int bInsert, bJson;
  i64 iOld = 0, iNew = 0;
  const char *zJson = 0;
  int nJson = 0;
  VsJson doc;            /* the parsed payload */
  PayValue aVal[VS_MAX_FIELD];
  char *zErr = 0;

  memset(&doc, 0, sizeof(doc));
  /* DELETE */
  if( argc==1 ){
    i64 iId = sqlite3_value_int64(argv[0]);
    rc = payFlush(p);
    if( rc ) return rc;
    if( iId>=p->pending.iMaxId ) vsPendingForgetMax(&p->pending);
    return deleteRow(p, iId);
  }

  bInsert = sqlite3_value_type(argv[0])==SQLITE_NULL;

  /* The id: the id column, else the rowid, else the next free id. */
  if( bInsert ){
    if( sqlite3_value_type(argv[2])!=SQLITE_NULL ){
      rc = vsIdFromValue(argv[2], "payloads", &iNew, &zErr);
    }else if( sqlite3_value_type(argv[1])!=SQLITE_NULL ){
      rc = vsIdFromValue(argv[1], "payloads", &iNew, &zErr);
    }else{
      rc = nextId(p, &iNew);
      if( rc ) return rc;
    }
  }else{
    iOld = sqlite3_value_int64(argv[0]);
    rc = vsIdFromValue(argv[2], "payloads", &iNew, &zErr);
    if( rc==SQLITE_OK && iNew==iOld
     && sqlite3_value_type(argv[1])!=SQLITE_NULL ){
      /* SET rowid = ? leaves the id column as it was */
      rc = vsIdFromValue(argv[1], "payloads", &iNew, &zErr);
    }
  }
  if( rc ) return vsVtabAdoptError(&p->base, SQLITE_MISMATCH, zErr);

  /* Field columns are read-only. */
  for(i=0; i<p->nField; i++){
    sqlite3_value *pVal = argv[4+i];
    if( bInsert ? sqlite3_value_type(pVal)!=SQLITE_NULL
                : !sqlite3_value_nochange(pVal) ){
      vsVtabSetError(&p->base, "payloads: column %s is read-only: it is extracted "
                  "from json", p->aField[i].zName);
      return SQLITE_ERROR;
    }
  }

  /* The payload: JSON text, validated, fields extracted. */
  bJson = bInsert || !sqlite3_value_nochange(argv[3]);
  if( bJson ){
    int eType = sqlite3_value_type(argv[3]);
    if( eType!=SQLITE_TEXT ){
      vsVtabSetError(&p->base, "payloads: json must be text holding a JSON value, "
                  "got %s", vsTypeName(eType));
      return SQLITE_MISMATCH;
    }
    zJson = (const char*)sqlite3_value_text(argv[3]);
    nJson = sqlite3_value_bytes(argv[3]);
    if( zJson==0 ) return SQLITE_NOMEM;
    rc = vsJsonParse(zJson, nJson, &doc, &zErr);
    if( rc==SQLITE_OK ){
      rc = vsJsonExtract(&doc, p->aField, p->nField, aVal, &zErr);
    }
    if( rc ){
      vsJsonClear(&doc);
      return vsVtabAdoptError(&p->base, rc, zErr);
    }
  }

  if( bInsert ){
    int bReplace = sqlite3_vtab_on_conflict(p->db)==SQLITE_REPLACE;
    sqlite3_stmt *pStmt = 0;
    /* A new largest id cannot conflict: keep the row for later. */
    rc = knowMaxId(p);
    if( rc==SQLITE_OK && iNew>p->pending.iMaxId ){
      rc = addPending(p, iNew, zJson, nJson, aVal);
      vsJsonClear(&doc);
      *pRowid = iNew;
      return rc;
    }
    if( rc==SQLITE_OK ) rc = payFlush(p);
    if( rc==SQLITE_OK ){
      rc = payStmt(p, bReplace ? PAY_REPLACE : PAY_INSERT, &pStmt);
    }
    if( rc==SQLITE_OK ){
      sqlite3_bind_int64(pStmt, 1, iNew);
      sqlite3_bind_text(pStmt, 2, zJson, nJson, SQLITE_STATIC);
      bindFields(pStmt, 3, aVal, p->nField, 0);
      rc = stepWrite(p, pStmt);
      /* OR IGNORE skipped the row: the id exists, nothing was written */
      if( rc==SQLITE_OK && !bReplace && sqlite3_changes(p->db)==0 ){
        rc = uniqueError(p);
      }
    }
    *pRowid = iNew;
  }else{
    /* UPDATE: a new id must be free, unless OR REPLACE frees it. */
    rc = payFlush(p);
    if( rc==SQLITE_OK && iNew!=iOld ){
      int bFound = rowExists(p, iNew);
      vsPendingForgetMax(&p->pending);      /* the largest id may move */
      if( bFound<0 ){
        rc = -bFound;
      }else if( bFound ){
        if( sqlite3_vtab_on_conflict(p->db)!=SQLITE_REPLACE ){
          rc = uniqueError(p);
        }else{
          rc = deleteRow(p, iNew);
        }
      }
    }
    if( rc==SQLITE_OK && bJson ){
      sqlite3_stmt *pStmt;
      rc = payStmt(p, PAY_UPDATE, &pStmt);
      if( rc==SQLITE_OK ){
        sqlite3_bind_int64(pStmt, 1, iNew);
        sqlite3_bind_text(pStmt, 2, zJson, nJson, SQLITE_STATIC);
        bindFields(pStmt, 3, aVal, p->nField, 0);
        sqlite3_bind_int64(pStmt, p->nField+3, iOld);
        rc = stepWrite(p, pStmt);
      }
    }else if( rc==SQLITE_OK && iNew!=iOld ){
      sqlite3_stmt *pStmt;
      rc = payStmt(p, PAY_MOVE, &pStmt);
      if( rc==SQLITE_OK ){
        sqlite3_bind_int64(pStmt, 1, iNew);
        sqlite3_bind_int64(pStmt, 2, iOld);
        rc = stepWrite(p, pStmt);
      }
    }
  }
  vsJsonClear(&doc);
  return rc;
}

/* ---- transactions (see PENDING INSERTS) ------------------------------ */

static int payBegin(sqlite3_vtab *pVtab){
  PayTable *p = (PayTable*)pVtab;
  vsPendingForgetMax(&p->pending);  /* others may have written */
  return SQLITE_OK;
}

static int paySync(sqlite3_vtab *pVtab){
  /* SQLite lets xSync write: the nested INSERT does not commit */
  return payFlush((PayTable*)pVtab);
}

static int payCommit(sqlite3_vtab *pVtab){
  PayTable *p = (PayTable*)pVtab;
  payDropPending(p);      /* none left after xSync; memory only */
  return SQLITE_OK;
}

static int payRollback(sqlite3_vtab *pVtab){
  PayTable *p = (PayTable*)pVtab;
  payDropPending(p);
  return SQLITE_OK;
}

static int paySavepoint(sqlite3_vtab *pVtab, int iSavepoint){
  /* pending rows belong to the enclosing level: write them first */
  (void)iSavepoint;
  return payFlush((PayTable*)pVtab);
}

static int payRelease(sqlite3_vtab *pVtab, int iSavepoint){
  (void)pVtab;
  (void)iSavepoint;
  return SQLITE_OK;
}

static int payRollbackTo(sqlite3_vtab *pVtab, int iSavepoint){
  PayTable *p = (PayTable*)pVtab;
  /* every pending row was inserted after the innermost savepoint */
  (void)iSavepoint;
  payDropPending(p);
  return SQLITE_OK;
}

/* ---- registration ---------------------------------------------------- */

static int payIntegrity(sqlite3_vtab *pVtab, const char *zSchema,
                        const char *zTabName, int mFlags, char **pzErr){
  (void)mFlags;
  PayTable *p = (PayTable*)pVtab;
  return vsCheckIntegrity(p->db, p->pConn, zSchema, zTabName, pzErr);
}

static VsModule payModule = {
  {
    /* iVersion    */ 4,
    /* xCreate     */ payCreate,
    /* xConnect    */ payConnect,
    /* xBestIndex  */ payBestIndex,
    /* xDisconnect */ payDisconnect,
    /* xDestroy    */ payDestroy,
    /* xOpen       */ payOpen,
    /* xClose      */ payClose,
    /* xFilter     */ payFilter,
    /* xNext       */ payNext,
    /* xEof        */ payEof,
    /* xColumn     */ payColumn,
    /* xRowid      */ payRowid,
    /* xUpdate     */ payUpdate,
    /* xBegin      */ payBegin,
    /* xSync       */ paySync,
    /* xCommit     */ payCommit,
    /* xRollback   */ payRollback,
    /* xFindMethod */ 0,
    /* xRename     */ payRename,
    /* xSavepoint  */ paySavepoint,
    /* xRelease    */ payRelease,
    /* xRollbackTo */ payRollbackTo,
    /* xShadowName */ payShadowName,
  },
  /* xIntegrity (3.44+) */ payIntegrity,
};

int vsPayloadsRegister(sqlite3 *db, VsConn *pConn){
  int rc = sqlite3_create_function(db, "veles_add_field", 2,
                                   SQLITE_UTF8|SQLITE_DIRECTONLY, pConn,
                                   vsAddFieldFunc, 0, 0);
  if( rc ) return rc;
  vsConnRef(pConn);
  return sqlite3_create_module_v2(db, "payloads", &payModule.base, pConn,
                                  vsConnUnref);
}
