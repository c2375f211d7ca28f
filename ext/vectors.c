/*
** The `vectors` virtual table: VelesDB's VectorStorage through SQL.
**
**   CREATE VIRTUAL TABLE emb USING vectors(dim=384, metric=cosine);
**   INSERT OR REPLACE INTO emb(id, vec) VALUES (?, ?);     -- store
**   BEGIN; INSERT ...; INSERT ...; COMMIT;                 -- store_batch
**   SELECT vec FROM emb WHERE id = ?;                      -- retrieve
**   DELETE FROM emb WHERE id = ?;                          -- delete
**   COMMIT;                                                -- flush
**   SELECT count(*) FROM emb;  SELECT id FROM emb;         -- len, ids
**   SELECT id, distance FROM emb WHERE vec MATCH ? AND k = 10; -- search
**
** Columns: id INTEGER (0 ..= 2^63-1, also the rowid) and vec BLOB
** (dim little-endian f32; JSON text such as '[1,2,3]' is accepted on
** input), and two HIDDEN columns a search fills in: distance REAL and
** k INTEGER. Options: dim=N (1..65536; when omitted the first stored
** vector fixes it, persistently) and metric=l2|cosine|dot (used by search).
**
** SEARCH (docs/search.md). A MATCH on vec makes xBestIndex plan a search:
** the query, then k = ?, LIMIT/OFFSET (when SQLite passes them and the
** ORDER BY is distance or absent), id = ? or id IN (...) (taken all at
** once with sqlite3_vtab_in, so the filter is applied before the top k
** are chosen, never after) and id bounds go to xFilter, which makes the
** slot array current (flushPending, then refreshSlots with freed slots
** treated as pending), maps the side file and lets search.c compute the
** whole result; xNext walks it. SQLite 3.40 passes no LIMIT to a table
** searched by MATCH, so "ORDER BY distance LIMIT n" without k streams:
** the first VEC_STREAM_FIRST rows are computed, and more (x4) each time
** xNext runs past them. The cosine norms cached by search.c are forgotten
** for a slot when it is written and all at once when the slot array is
** rebuilt.
**
** STORAGE. The f32 data lives in a side file beside the database, named
** "<database file>-vectors-<identifier>" (format: sidefile.c). Everything
** else lives in two shadow tables, declared through xShadowName:
**   <table>_config(k TEXT PRIMARY KEY, v)   rows: ident, dim, metric, format
**   <table>_map(id INTEGER PRIMARY KEY, slot INTEGER NOT NULL)
** The database is the source of truth: a slot's bytes count only while a
** committed <table>_map row references them. temp and :memory: databases
** keep the slots in memory (conn.c) and create no file.
**
** COMMIT ORDER (why kill -9 at any moment leaves the last committed state):
**   1. xUpdate writes a vector only into a slot no committed row
**      references (a free slot or one past the high-water mark), then
**      inserts/updates its map row. An overwrite is copy-on-write: new
**      slot, map row repointed, old slot freed when the transaction
**      commits.
**   2. xSync, which SQLite runs before committing its own files, writes
**      the buffered vectors and fdatasync()s the side file (skipped with
**      PRAGMA synchronous=OFF). If that fails, the transaction fails.
**   3. SQLite commits the map rows. xCommit does only memory bookkeeping.
** A crash before 3 leaves unreferenced bytes in the side file, which the
** allocator reuses; a crash after 3 finds every referenced byte durable.
** ROLLBACK, ROLLBACK TO and a failed statement just forget: SQLite undoes
** the map rows, slotmap.c undoes the allocator.
**
** SLOT REUSE. Rollback-journal mode: a slot freed by a committed
** transaction is reused by later transactions (a writer commits only when
** no reader holds an older snapshot). WAL mode: a reader may keep an old
** snapshot open, so a freed slot waits until SQLite has restarted the WAL
** after the freeing commit: SQLite restarts it only when every reader
** uses the newest snapshot. The WAL header's checkpoint sequence number
** counts restarts; a freed slot is tagged with the value read after its
** commit and reused once the value differs.
**
** PENDING INSERTS. An INSERT of an id above every id of the table cannot
** conflict, so its map row is not written at once: up to
** VEC_PENDING_ROWS such rows are kept and written with one multi-row
** INSERT (as FTS5 keeps its pending terms). They are written before
** anything reads or changes the map, before a savepoint opens (so they
** belong to the level that wrote them) and in xSync; ROLLBACK and
** ROLLBACK TO drop them with the rest of the level.
**
** OTHER CONNECTIONS. Each connection keeps its own slot array. At the
** start of every write transaction (and before a search) PRAGMA
** data_version tells whether another connection committed; if so the
** array is rebuilt from <table>_map, so no stale state is ever used.
*/
#include "veles_int.h"
#include "sidefile.h"
#include "slotmap.h"
#include "search.h"
#include "distance.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VEC_COLUMN_ID  0
#define VEC_COLUMN_VEC 1
#define VEC_COLUMN_DISTANCE 2   /* HIDDEN: a search's distance */
#define VEC_COLUMN_K   3        /* HIDDEN: a search's k */

#define VEC_FORMAT 1            /* <table>_config 'format' value */
#define VEC_PENDING_ROWS 64     /* map rows written by one statement */

/* Query plans chosen by xBestIndex (idxNum bits) */
#define VEC_PLAN_EQ     0x01    /* id = ?: one lookup */
#define VEC_PLAN_GT     0x02    /* id > ? */
#define VEC_PLAN_GE     0x04    /* id >= ? */
#define VEC_PLAN_LT     0x08    /* id < ? */
#define VEC_PLAN_LE     0x10    /* id <= ? */
#define VEC_PLAN_DESC   0x20    /* ORDER BY id DESC */
#define VEC_PLAN_MATCH  0x40    /* vec MATCH ?: a search (see SEARCH) */
#define VEC_PLAN_K      0x80    /* ... AND k = ? */
#define VEC_PLAN_LIMIT  0x100   /* ... LIMIT ? (ORDER BY distance or none) */
#define VEC_PLAN_OFFSET 0x200   /* ... OFFSET ? */
#define VEC_PLAN_IN     0x400   /* ... AND id IN (...), all values at once */
#define VEC_PLAN_STREAM 0x800   /* ... ORDER BY distance, no row count seen */

#define VEC_STREAM_FIRST 256    /* rows a streaming search computes first */
#define VEC_STREAM_GROW  4      /* ... and how much more each time after */

/* Cached statements on the shadow tables */
enum {
  STMT_LOOKUP,                  /* SELECT slot FROM map WHERE id=? */
  STMT_INSERT,                  /* INSERT INTO map(id, slot) */
  STMT_SETSLOT,                 /* UPDATE map SET slot=? WHERE id=? */
  STMT_MOVE,                    /* UPDATE map SET id=? WHERE id=? */
  STMT_DELETE,                  /* DELETE FROM map WHERE id=? RETURNING slot */
  STMT_MAXID,                   /* SELECT max(id) FROM map */
  STMT_DATAVERSION,             /* PRAGMA data_version */
  STMT_JOURNALMODE,             /* PRAGMA journal_mode */
  STMT_SYNCHRONOUS,             /* PRAGMA synchronous */
  STMT_SETDIM,                  /* UPDATE config SET v=? WHERE k='dim' */
  STMT_INSERT_MANY,             /* INSERT INTO map VALUES (?,?) x VEC_PENDING_ROWS */
  STMT_COUNT
};

typedef struct VecTable VecTable;
typedef struct VecCursor VecCursor;

struct VecTable {
  sqlite3_vtab base;
  sqlite3 *db;
  VsConn *pConn;                /* per-connection state */
  char *zSchema;                /* "main", "temp" or an ATTACH name */
  char *zName;                  /* table name */
  char zIdent[VS_IDENT_LEN+1];  /* identifier: names the side file */
  int nDim;                     /* elements per vector; 0 = not fixed yet */
  int eMetric;                  /* 0 l2, 1 cosine, 2 dot */
  VsFile *pFile;                /* the side file, or 0 when unusable */
  int bMemory;                  /* pFile is an in-memory store (conn.c's) */
  char *zBroken;                /* why pFile is unusable, or 0 */
  VsSlots slots;                /* allocator and slot -> id array */
  int bSlotsValid;              /* slots reflects data_version below */
  int bSlotsAtBegin;            /* ... and was rebuilt by xBegin, not a read */
  int bHeld;                    /* this transaction holds its free slots */
  i64 iDataVersion;             /* PRAGMA data_version slots was built at */
  int bWal;                     /* the open transaction runs in WAL mode */
  int bSync;                    /* fdatasync at xSync (synchronous != OFF) */
  int bCreated;                 /* side file created by an uncommitted CREATE */
  /* Inserts whose map rows are not written yet (see "PENDING INSERTS") */
  i64 aPendId[VEC_PENDING_ROWS];
  i64 aPendSlot[VEC_PENDING_ROWS];
  int nPend;
  int bFlushing;                /* flushPending() is running */
  int nRollback;                /* ROLLBACK and ROLLBACK TO calls so far */
  i64 iMaxId;                   /* largest id in the map and pending */
  int bMaxKnown;                /* iMaxId is known (this transaction) */
  float *aScratch;              /* one vector, for JSON input */
  int nScratch;                 /* floats aScratch holds */
  VsNorms norms;                /* cosine: cached norms per slot (search.c) */
  sqlite3_stmt *aStmt[STMT_COUNT];
};

struct VecCursor {
  sqlite3_vtab_cursor base;
  sqlite3_stmt *pScan;          /* scan plans: SELECT id, slot FROM map */
  int bEof;
  i64 iId;                      /* current row */
  i64 iSlot;
  /* search plans (VEC_PLAN_MATCH): the result, computed by xFilter */
  int bSearch;
  VsSearchHit *aHit;            /* nHit rows, nearest first */
  i64 nHit;
  i64 iHit;                     /* current row of aHit */
  i64 iK;                       /* the k column's value; -1 = NULL */
  /* ... and what it was computed from, for a streaming search's reruns */
  float *aQuery;                /* the query (nDim floats) */
  i64 *aIds;                    /* prefilter ids, ascending, distinct */
  i64 nIds;
  int bFilter;                  /* aIds applies (it may be empty) */
  int bStream;                  /* rerun with a larger nWant when done */
  i64 iMinId, iMaxId;           /* id bounds */
  i64 nWant;                    /* rows asked of the last run */
};

static int flushPending(VecTable *p);
static void searchReset(VecCursor *pCur);

/* Replace the table's error message (printf-style). */
static void setError(VecTable *p, const char *zFormat, ...){
  va_list ap;
  sqlite3_free(p->base.zErrMsg);
  va_start(ap, zFormat);
  p->base.zErrMsg = sqlite3_vmprintf(zFormat, ap);
  va_end(ap);
}

/* Take ownership of zErr (from a lower layer) as the table's error,
** prefixed with "vectors: table <name>: ". */
static int takeError(VecTable *p, int rc, char *zErr){
  if( rc==SQLITE_NOMEM ){
    sqlite3_free(zErr);
    return rc;
  }
  setError(p, "vectors: table %s: %s", p->zName,
           zErr ? zErr : sqlite3_errstr(rc));
  sqlite3_free(zErr);
  return rc;
}

/* The SQLite error of a failed shadow-table statement, as the table's. */
static int dbError(VecTable *p, int rc){
  if( rc==SQLITE_NOMEM ) return rc;
  setError(p, "vectors: table %s: %s", p->zName, sqlite3_errmsg(p->db));
  return rc;
}

/* Take over zErr (or leave the message alone when it is 0). */
static int adoptError(VecTable *p, int rc, char *zErr){
  if( zErr ){
    sqlite3_free(p->base.zErrMsg);
    p->base.zErrMsg = zErr;
  }
  return rc;
}

static int prepareStmt(VecTable *p, int eStmt, sqlite3_stmt **ppStmt){
  static const char *const azSql[STMT_COUNT] = {
    "SELECT slot FROM \"%w\".\"%w_map\" WHERE id=?1",
    "INSERT OR FAIL INTO \"%w\".\"%w_map\"(id, slot) VALUES(?1, ?2)",
    "UPDATE \"%w\".\"%w_map\" SET slot=?2 WHERE id=?1",
    "UPDATE \"%w\".\"%w_map\" SET id=?2 WHERE id=?1",
    "DELETE FROM \"%w\".\"%w_map\" WHERE id=?1 RETURNING slot",
    "SELECT max(id) FROM \"%w\".\"%w_map\"",
    "PRAGMA \"%w\".data_version",
    "PRAGMA \"%w\".journal_mode",
    "PRAGMA \"%w\".synchronous",
    "UPDATE \"%w\".\"%w_config\" SET v=?1 WHERE k='dim'",
    0,                          /* built by prepareStmt */
  };
  int rc;
  if( p->aStmt[eStmt]==0 ){
    char *zSql;
    if( eStmt==STMT_INSERT_MANY ){
      sqlite3_str *pStr = sqlite3_str_new(0);
      int i;
      /* OR FAIL: no statement journal, so no nested xSavepoint calls */
      sqlite3_str_appendf(pStr, "INSERT OR FAIL INTO \"%w\".\"%w_map\"(id, slot) "
                          "VALUES(?,?)", p->zSchema, p->zName);
      for(i=1; i<VEC_PENDING_ROWS; i++) sqlite3_str_appendall(pStr, ",(?,?)");
      zSql = sqlite3_str_finish(pStr);
    }else{
      zSql = sqlite3_mprintf(azSql[eStmt], p->zSchema, p->zName);
    }
    if( zSql==0 ) return SQLITE_NOMEM;
    rc = sqlite3_prepare_v3(p->db, zSql, -1, SQLITE_PREPARE_PERSISTENT,
                            &p->aStmt[eStmt], 0);
    sqlite3_free(zSql);
    if( rc ) return dbError(p, rc);
  }
  *ppStmt = p->aStmt[eStmt];
  return SQLITE_OK;
}

static void finalizeStmts(VecTable *p){
  int i;
  for(i=0; i<STMT_COUNT; i++){
    sqlite3_finalize(p->aStmt[i]);
    p->aStmt[i] = 0;
  }
}

/* Run a cached statement that returns at most one integer; *piOut gets
** it (or is left alone when there is no row or it is NULL). */
static int stepInt(VecTable *p, sqlite3_stmt *pStmt, i64 *piOut, int *pbRow){
  int rc = sqlite3_step(pStmt);
  if( pbRow ) *pbRow = 0;
  if( rc==SQLITE_ROW ){
    if( sqlite3_column_type(pStmt, 0)!=SQLITE_NULL ){
      if( piOut ) *piOut = sqlite3_column_int64(pStmt, 0);
      if( pbRow ) *pbRow = 1;
    }
    rc = sqlite3_step(pStmt);
  }
  if( rc==SQLITE_DONE ){
    rc = sqlite3_reset(pStmt);
  }else{
    sqlite3_reset(pStmt);
    rc = dbError(p, rc);
  }
  return rc;
}

static void freeTable(VecTable *p){
  if( p==0 ) return;
  finalizeStmts(p);
  if( !p->bMemory ) vsFileClose(p->pFile);
  vsSlotsClear(&p->slots);
  if( p->pConn ) vsConnUnref(p->pConn);
  sqlite3_free(p->zSchema);
  sqlite3_free(p->zName);
  sqlite3_free(p->zBroken);
  sqlite3_free(p->aScratch);
  vsNormsClear(&p->norms);
  sqlite3_free(p->base.zErrMsg);
  sqlite3_free(p);
}

/* ------------------------------------------------------------------ */
/* Creating and connecting                                            */
/* ------------------------------------------------------------------ */

/* Parse one CREATE argument ("dim=384", "metric=cosine"). */
static int parseOption(const char *zArg, int *pnDim, int *peMetric,
                       char **pzErr){
  const char *zEq = strchr(zArg, '=');
  char *zKey, *zVal;
  int rc = SQLITE_OK;
  if( zEq==0 ){
    *pzErr = sqlite3_mprintf("vectors: malformed option: expected "
        "dim=N or metric=l2|cosine|dot, got '%s'", zArg);
    return SQLITE_ERROR;
  }
  zKey = sqlite3_mprintf("%.*s", (int)(zEq-zArg), zArg);
  zVal = sqlite3_mprintf("%s", zEq+1);
  if( zKey==0 || zVal==0 ){
    rc = SQLITE_NOMEM;
  }else{
    char *z;
    /* trim spaces and one level of quotes around the value */
    for(z=zKey+strlen(zKey); z>zKey && z[-1]==' '; z--) z[-1] = 0;
    while( zKey[0]==' ' ) memmove(zKey, zKey+1, strlen(zKey));
    for(z=zVal+strlen(zVal); z>zVal && z[-1]==' '; z--) z[-1] = 0;
    while( zVal[0]==' ' ) memmove(zVal, zVal+1, strlen(zVal));
    if( (zVal[0]=='\'' || zVal[0]=='"') && strlen(zVal)>=2
     && zVal[strlen(zVal)-1]==zVal[0] ){
      zVal[strlen(zVal)-1] = 0;
      memmove(zVal, zVal+1, strlen(zVal));
    }
    if( sqlite3_stricmp(zKey, "dim")==0 ){
      char *zEnd = 0;
      long n = strtol(zVal, &zEnd, 10);
      if( zVal[0]==0 || *zEnd!=0 || n<1 || n>VS_MAX_DIM ){
        *pzErr = sqlite3_mprintf("vectors: dim must be an integer from 1 "
            "to %d, got '%s'", VS_MAX_DIM, zVal);
        rc = SQLITE_ERROR;
      }else{
        *pnDim = (int)n;
      }
    }else if( sqlite3_stricmp(zKey, "metric")==0 ){
      *peMetric = vsDistanceMetric(zVal);
      if( *peMetric<0 ){
        *pzErr = sqlite3_mprintf("vectors: unknown metric: expected l2, "
            "cosine or dot, got '%s'", zVal);
        rc = SQLITE_ERROR;
      }
    }else{
      *pzErr = sqlite3_mprintf("vectors: unknown option: expected dim or "
          "metric, got '%s'", zKey);
      rc = SQLITE_ERROR;
    }
  }
  sqlite3_free(zKey);
  sqlite3_free(zVal);
  return rc;
}

/* The side file's path, or 0 (with p->bMemory set) for a temp or
** :memory: database. */
static int sideFilePath(VecTable *p, char **pzPath){
  const char *zDb = sqlite3_db_filename(p->db, p->zSchema);
  *pzPath = 0;
  if( zDb==0 || zDb[0]==0 ){
    p->bMemory = 1;
    return SQLITE_OK;
  }
  *pzPath = vsFileName(zDb, p->zIdent);
  return *pzPath ? SQLITE_OK : SQLITE_NOMEM;
}

static int declareTable(sqlite3 *db){
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(id INTEGER, vec BLOB, "
                                "distance REAL HIDDEN, k INTEGER HIDDEN)");
  if( rc==SQLITE_OK ){
    sqlite3_vtab_config(db, SQLITE_VTAB_CONSTRAINT_SUPPORT, 1);
  }
  return rc;
}

static VecTable *newTable(sqlite3 *db, VsConn *pConn, const char *zSchema,
                          const char *zName){
  VecTable *p = sqlite3_malloc(sizeof(*p));
  if( p==0 ) return 0;
  memset(p, 0, sizeof(*p));
  p->db = db;
  p->pConn = pConn;
  vsConnRef(pConn);
  vsSlotsInit(&p->slots);
  p->bSync = 1;
  p->zSchema = sqlite3_mprintf("%s", zSchema);
  p->zName = sqlite3_mprintf("%s", zName);
  if( p->zSchema==0 || p->zName==0 ){
    freeTable(p);
    return 0;
  }
  return p;
}

static int vecCreate(sqlite3 *db, void *pAux, int argc,
                     const char *const *argv, sqlite3_vtab **ppVtab,
                     char **pzErr){
  VecTable *p;
  int nDim = 0, eMetric = 0, i, rc = SQLITE_OK;
  unsigned char aRand[VS_IDENT_LEN/2];
  char *zPath = 0, *zSql, *zErr = 0;
  *ppVtab = 0;
  vsConnSettle((VsConn*)pAux);
  for(i=3; i<argc && rc==SQLITE_OK; i++){
    rc = parseOption(argv[i], &nDim, &eMetric, pzErr);
  }
  if( rc ) return rc;
  p = newTable(db, (VsConn*)pAux, argv[1], argv[2]);
  if( p==0 ) return SQLITE_NOMEM;
  p->nDim = nDim;
  p->eMetric = eMetric;
  sqlite3_randomness(sizeof(aRand), aRand);
  for(i=0; i<(int)sizeof(aRand); i++){
    sqlite3_snprintf(3, &p->zIdent[i*2], "%02x", aRand[i]);
  }
  zSql = sqlite3_mprintf(
      "CREATE TABLE \"%w\".\"%w_config\"(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
      "CREATE TABLE \"%w\".\"%w_map\"(id INTEGER PRIMARY KEY, slot INTEGER NOT NULL);"
      "INSERT INTO \"%w\".\"%w_config\" VALUES('ident', %Q), ('dim', %d), "
      "('metric', %Q), ('format', %d);",
      p->zSchema, p->zName, p->zSchema, p->zName, p->zSchema, p->zName,
      p->zIdent, nDim, vsDistanceMetricName(eMetric), VEC_FORMAT);
  if( zSql==0 ){
    rc = SQLITE_NOMEM;
  }else{
    rc = sqlite3_exec(db, zSql, 0, 0, 0);
    sqlite3_free(zSql);
    if( rc ) *pzErr = sqlite3_mprintf("vectors: cannot create shadow tables "
                                      "of %s: %s", p->zName, sqlite3_errmsg(db));
  }
  if( rc==SQLITE_OK ) rc = sideFilePath(p, &zPath);
  if( rc==SQLITE_OK ){
    rc = vsFileCreate(zPath, nDim, p->zIdent, &p->pFile, &zErr);
    if( rc ){
      *pzErr = sqlite3_mprintf("vectors: table %s: %s", p->zName, zErr);
    }else if( p->bMemory ){
      rc = vsConnAddMemFile(p->pConn, p->zIdent, p->pFile);
      if( rc ){
        vsFileClose(p->pFile);
        p->pFile = 0;
      }
    }
  }
  sqlite3_free(zErr);
  sqlite3_free(zPath);
  if( rc==SQLITE_OK ) rc = declareTable(db);
  if( rc ){
    freeTable(p);
    return rc;
  }
  p->bCreated = 1;
  p->slots.iTag = nDim;
  *ppVtab = &p->base;
  return SQLITE_OK;
}

/* Read the table's settings from <table>_config. */
static int readConfig(VecTable *p, char **pzErr){
  sqlite3_stmt *pStmt = 0;
  char *zSql;
  int rc, bIdent = 0;
  zSql = sqlite3_mprintf("SELECT k, v FROM \"%w\".\"%w_config\"",
                         p->zSchema, p->zName);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc ){
    *pzErr = sqlite3_mprintf("vectors: table %s: cannot read its settings: "
                             "%s", p->zName, sqlite3_errmsg(p->db));
    return rc==SQLITE_ERROR ? SQLITE_CORRUPT_VTAB : rc;
  }
  while( sqlite3_step(pStmt)==SQLITE_ROW ){
    const char *zKey = (const char*)sqlite3_column_text(pStmt, 0);
    const char *zVal = (const char*)sqlite3_column_text(pStmt, 1);
    if( zKey==0 || zVal==0 ) continue;
    if( strcmp(zKey, "ident")==0 && strlen(zVal)==VS_IDENT_LEN ){
      memcpy(p->zIdent, zVal, VS_IDENT_LEN+1);
      bIdent = 1;
    }else if( strcmp(zKey, "dim")==0 ){
      p->nDim = sqlite3_column_int(pStmt, 1);
    }else if( strcmp(zKey, "metric")==0 ){
      p->eMetric = vsDistanceMetric(zVal);
    }
  }
  rc = sqlite3_finalize(pStmt);
  if( rc==SQLITE_OK && (!bIdent || p->nDim<0 || p->nDim>VS_MAX_DIM
                        || p->eMetric<0) ){
    *pzErr = sqlite3_mprintf("vectors: table %s: its settings in %s_config "
                             "are damaged", p->zName, p->zName);
    rc = SQLITE_CORRUPT_VTAB;
  }
  return rc;
}

static int vecConnect(sqlite3 *db, void *pAux, int argc,
                      const char *const *argv, sqlite3_vtab **ppVtab,
                      char **pzErr){
  VecTable *p;
  int rc;
  char *zPath = 0;
  (void)argc;                   /* the options were read at CREATE: the
                                ** stored settings rule */
  *ppVtab = 0;
  vsConnSettle((VsConn*)pAux);
  p = newTable(db, (VsConn*)pAux, argv[1], argv[2]);
  if( p==0 ) return SQLITE_NOMEM;
  rc = readConfig(p, pzErr);
  if( rc==SQLITE_OK ) rc = sideFilePath(p, &zPath);
  if( rc==SQLITE_OK ){
    if( p->bMemory ){
      p->pFile = vsConnMemFile(p->pConn, p->zIdent);
      if( p->pFile==0 ){
        p->zBroken = sqlite3_mprintf("its in-memory vectors are gone");
      }
    }else{
      char *zErr = 0;
      int rcOpen = vsFileOpen(zPath, p->nDim, p->zIdent, &p->pFile, &zErr);
      if( rcOpen==SQLITE_NOMEM ){
        rc = rcOpen;
      }else if( rcOpen ){
        /* Connect anyway, so that DROP TABLE still works; every read and
        ** write of the table reports the problem. */
        p->zBroken = zErr;
        zErr = 0;
      }
      sqlite3_free(zErr);
    }
  }
  sqlite3_free(zPath);
  if( rc==SQLITE_OK ) rc = declareTable(db);
  if( rc ){
    freeTable(p);
    return rc;
  }
  p->slots.iTag = p->nDim;
  *ppVtab = &p->base;
  return SQLITE_OK;
}

static int vecDisconnect(sqlite3_vtab *pVtab){
  freeTable((VecTable*)pVtab);
  return SQLITE_OK;
}

static int vecDestroy(sqlite3_vtab *pVtab){
  VecTable *p = (VecTable*)pVtab;
  int rc;
  char *zSql;
  if( p->pFile && !p->bMemory ){
    char *zErr = 0;   /* the vectors written so far must be durable: a
                      ** ROLLBACK TO may bring the table back (sidefile.c) */
    rc = vsFileSync(p->pFile, p->bSync, &zErr);
    if( rc ) return takeError(p, rc, zErr);
  }
  finalizeStmts(p);
  zSql = sqlite3_mprintf("DROP TABLE IF EXISTS \"%w\".\"%w_map\";"
                         "DROP TABLE IF EXISTS \"%w\".\"%w_config\";",
                         p->zSchema, p->zName, p->zSchema, p->zName);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_exec(p->db, zSql, 0, 0, 0);
  sqlite3_free(zSql);
  if( rc ) return dbError(p, rc);
  /* The side file (or in-memory store) goes only once the drop has
  ** committed (conn.c). */
  {
    char *zPath = 0;
    rc = sideFilePath(p, &zPath);
    if( rc==SQLITE_OK ){
      rc = vsConnDeferUnlink(p->pConn, p->zSchema, p->zIdent, zPath);
    }
    sqlite3_free(zPath);
  }
  if( rc ) return rc;
  freeTable(p);
  return SQLITE_OK;
}

static int vecRename(sqlite3_vtab *pVtab, const char *zNew){
  VecTable *p = (VecTable*)pVtab;
  char *zSql, *zName;
  int rc = flushPending(p);
  if( rc ) return rc;
  finalizeStmts(p);
  zSql = sqlite3_mprintf(
      "ALTER TABLE \"%w\".\"%w_config\" RENAME TO \"%w_config\";"
      "ALTER TABLE \"%w\".\"%w_map\" RENAME TO \"%w_map\";",
      p->zSchema, p->zName, zNew, p->zSchema, p->zName, zNew);
  zName = sqlite3_mprintf("%s", zNew);
  if( zSql==0 || zName==0 ){
    sqlite3_free(zSql);
    sqlite3_free(zName);
    return SQLITE_NOMEM;
  }
  rc = sqlite3_exec(p->db, zSql, 0, 0, 0);
  sqlite3_free(zSql);
  if( rc ){
    sqlite3_free(zName);
    return dbError(p, rc);
  }
  sqlite3_free(p->zName);
  p->zName = zName;
  return SQLITE_OK;
}

static int vecShadowName(const char *zSuffix){
  return sqlite3_stricmp(zSuffix, "config")==0
      || sqlite3_stricmp(zSuffix, "map")==0;
}

/* Set *piOut to the integer pVal equals, if any: only then can an id be
** equal to pVal. */
static int exactInteger(sqlite3_value *pVal, i64 *piOut){
  int eType = sqlite3_value_numeric_type(pVal);
  if( eType==SQLITE_INTEGER ){
    *piOut = sqlite3_value_int64(pVal);
    return 1;
  }
  if( eType==SQLITE_FLOAT ){
    double r = sqlite3_value_double(pVal);
    if( r>=-9223372036854775808.0 && r<9223372036854775808.0
     && r==(double)(i64)r ){
      *piOut = (i64)r;
      return 1;
    }
  }
  return 0;
}

/* The id bounds a plan may carry, as idxNum bits and SQL operators. */
static const struct { int bit; const char *zOp; } aIdBound[4] = {
  {VEC_PLAN_GT, ">"}, {VEC_PLAN_GE, ">="},
  {VEC_PLAN_LT, "<"}, {VEC_PLAN_LE, "<="},
};

/* The error for a map row whose slot does not hold that id. */
static int mapDamaged(VecTable *p, i64 iId, i64 iSlot){
  setError(p, "vectors: table %s: %s_map is damaged: id %lld points to "
           "slot %lld", p->zName, p->zName, iId, iSlot);
  return SQLITE_CORRUPT_VTAB;
}

/* ------------------------------------------------------------------ */
/* Keeping the slot array current                                     */
/* ------------------------------------------------------------------ */

static int checkUsable(VecTable *p){
  if( p->zBroken ){
    setError(p, "vectors: table %s: %s", p->zName, p->zBroken);
    return SQLITE_CORRUPT_VTAB;
  }
  return SQLITE_OK;
}

/*
** The WAL's checkpoint sequence number (header bytes 12..15, big-endian),
** which SQLite increments each time it restarts the WAL; VS_SEQ_UNKNOWN
** when there is no readable WAL header.
*/
static i64 walSequence(VecTable *p){
  sqlite3_file *pWal = 0;
  unsigned char a[16];
  unsigned iMagic;
  if( sqlite3_file_control(p->db, p->zSchema, SQLITE_FCNTL_JOURNAL_POINTER,
                           &pWal)!=SQLITE_OK
   || pWal==0 || pWal->pMethods==0
   || pWal->pMethods->xRead(pWal, a, sizeof(a), 0)!=SQLITE_OK ){
    return VS_SEQ_UNKNOWN;
  }
  iMagic = ((unsigned)a[0]<<24) | (a[1]<<16) | (a[2]<<8) | a[3];
  if( iMagic!=0x377f0682 && iMagic!=0x377f0683 ) return VS_SEQ_UNKNOWN;
  return (i64)(((unsigned)a[12]<<24) | (a[13]<<16) | (a[14]<<8) | a[15]);
}

/* Reread the dimension when another connection may have fixed it. */
static int refreshDim(VecTable *p){
  sqlite3_stmt *pStmt = 0;
  char *zSql;
  int rc;
  i64 nDim = 0;
  if( p->nDim>0 ) return SQLITE_OK;
  zSql = sqlite3_mprintf("SELECT v FROM \"%w\".\"%w_config\" WHERE k='dim'",
                         p->zSchema, p->zName);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc ) return dbError(p, rc);
  rc = stepInt(p, pStmt, &nDim, 0);
  sqlite3_finalize(pStmt);
  if( rc==SQLITE_OK && nDim>0 ){
    char *zErr = 0;
    p->nDim = (int)nDim;
    p->slots.iTag = nDim;
    if( p->pFile ){
      rc = vsFileSetDim(p->pFile, p->nDim, 0, &zErr);
      if( rc ) rc = takeError(p, rc, zErr);
    }
  }
  return rc;
}

/*
** Make p->slots reflect the database as this connection sees it now,
** rebuilding it from <table>_map if another connection committed since
** it was built. When rebuilt, unreferenced slots are free (bDelay==0) or
** pending with WAL sequence iSeq (VS_SEQ_UNKNOWN: the next write
** transaction gives them its own).
*/
static int refreshSlots(VecTable *p, int bDelay, i64 iSeq, int *pbRebuilt){
  sqlite3_stmt *pStmt;
  i64 iVersion = 0, nSlotFile = 0;
  char *zSql, *zErr = 0;
  int rc;
  if( pbRebuilt ) *pbRebuilt = 0;
  rc = prepareStmt(p, STMT_DATAVERSION, &pStmt);
  if( rc==SQLITE_OK ) rc = stepInt(p, pStmt, &iVersion, 0);
  if( rc ) return rc;
  if( p->bSlotsValid && iVersion==p->iDataVersion ) return SQLITE_OK;
  p->bSlotsValid = 0;
  p->bSlotsAtBegin = 0;
  if( pbRebuilt ) *pbRebuilt = 1;
  rc = refreshDim(p);
  if( rc ) return rc;
  if( p->nDim>0 ){
    rc = vsFileSlotCount(p->pFile, &nSlotFile, &zErr);
    if( rc ) return takeError(p, rc, zErr);
  }
  rc = vsSlotsLoadStart(&p->slots, nSlotFile);
  if( rc ) return rc;
  zSql = sqlite3_mprintf("SELECT slot, id FROM \"%w\".\"%w_map\"",
                         p->zSchema, p->zName);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc ) return dbError(p, rc);
  while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
    i64 iSlot = sqlite3_column_int64(pStmt, 0);
    if( vsSlotsLoadRow(&p->slots, iSlot, sqlite3_column_int64(pStmt, 1)) ){
      sqlite3_finalize(pStmt);
      if( iSlot>=0 && iSlot<nSlotFile ){
        setError(p, "vectors: table %s: %s_map is damaged: slot %lld is "
                 "used twice", p->zName, p->zName, iSlot);
      }else{
        setError(p, "vectors: table %s: side file is truncated: slot %lld "
                 "is referenced, the file holds %lld", p->zName, iSlot,
                 nSlotFile);
      }
      return SQLITE_CORRUPT_VTAB;
    }
  }
  sqlite3_finalize(pStmt);
  if( rc!=SQLITE_DONE ) return dbError(p, rc);
  rc = vsSlotsLoadFinish(&p->slots, bDelay, iSeq);
  if( rc ) return rc;
  vsNormsForgetAll(&p->norms);      /* any slot may hold other bytes now */
  p->iDataVersion = iVersion;
  p->bSlotsValid = 1;
  return SQLITE_OK;
}

/* ------------------------------------------------------------------ */
/* Transactions                                                       */
/* ------------------------------------------------------------------ */

static int vecBegin(sqlite3_vtab *pVtab){
  VecTable *p = (VecTable*)pVtab;
  sqlite3_stmt *pStmt;
  i64 iSync = 2, iSeq;
  int rc, bRebuilt = 0;
  vsConnSettle(p->pConn);
  if( p->zBroken ) return SQLITE_OK;     /* writes will report it */
  rc = prepareStmt(p, STMT_JOURNALMODE, &pStmt);
  if( rc ) return rc;
  rc = sqlite3_step(pStmt);
  p->bWal = rc==SQLITE_ROW
         && sqlite3_stricmp((const char*)sqlite3_column_text(pStmt, 0), "wal")==0;
  rc = sqlite3_reset(pStmt);
  if( rc ) return dbError(p, rc);
  rc = prepareStmt(p, STMT_SYNCHRONOUS, &pStmt);
  if( rc==SQLITE_OK ) rc = stepInt(p, pStmt, &iSync, 0);
  if( rc ) return rc;
  p->bSync = iSync!=0;
  iSeq = p->bWal ? walSequence(p) : 0;
  /* the allocator is derived only here: a read rebuilt it for its own
  ** purpose, with freed slots pending, not for writing */
  if( !p->bSlotsAtBegin ) p->bSlotsValid = 0;
  rc = refreshSlots(p, p->bWal, iSeq, &bRebuilt);
  if( rc ) return rc;
  p->bSlotsAtBegin = 1;
  rc = vsSlotsReleasePending(&p->slots, !p->bWal, iSeq);
  if( rc ) return rc;
  /* rebuilt inside an explicit transaction (a new instance of the table
  ** after a schema reset): its own deletions look free, but committed
  ** rows may still reference them (slotmap.c) */
  p->bHeld = bRebuilt && !sqlite3_get_autocommit(p->db);
  rc = vsSlotsBegin(&p->slots, p->bHeld);
  if( rc ) return rc;
  p->nPend = 0;
  p->bMaxKnown = 0;
  return SQLITE_OK;
}

static int vecSync(sqlite3_vtab *pVtab){
  VecTable *p = (VecTable*)pVtab;
  char *zErr = 0;
  int rc;
  if( p->pFile==0 ) return SQLITE_OK;
  /* SQLite lets xSync write (its nested statements do not commit) */
  rc = flushPending(p);
  if( rc ) return rc;
  rc = vsFileSync(p->pFile, p->bSync, &zErr);
  if( rc ) return takeError(p, rc, zErr);
  return SQLITE_OK;
}

static int vecCommit(sqlite3_vtab *pVtab){
  VecTable *p = (VecTable*)pVtab;
  /* Memory bookkeeping only: SQLite has committed already. */
  vsSlotsCommit(&p->slots, p->bWal, p->bWal ? walSequence(p) : 0);
  p->bHeld = 0;
  p->bCreated = 0;
  return SQLITE_OK;
}

/* Put the in-memory dimension back to what the restored state holds. */
static void restoreDim(VecTable *p){
  if( p->nDim!=(int)p->slots.iTag ){
    vsNormsForgetAll(&p->norms);
    p->nDim = (int)p->slots.iTag;
    if( p->pFile ){
      char *zErr = 0;
      vsFileSetDim(p->pFile, p->nDim, 0, &zErr);
      sqlite3_free(zErr);
    }
  }
}

static int vecRollback(sqlite3_vtab *pVtab){
  VecTable *p = (VecTable*)pVtab;
  p->nRollback++;
  p->nPend = 0;
  p->bMaxKnown = 0;
  if( p->pFile ) vsFileDiscard(p->pFile);
  vsSlotsRollback(&p->slots);
  if( p->bHeld ){
    /* the held slots are dropped: find the truly free ones again */
    p->bSlotsValid = 0;
    p->bHeld = 0;
  }
  restoreDim(p);
  if( p->bCreated && p->pFile ){
    /* the CREATE itself is rolled back: its side file must go */
    if( p->bMemory ){
      vsConnDropMemFile(p->pConn, p->zIdent);
    }else{
      char *zPath = sqlite3_mprintf("%s", vsFilePath(p->pFile));
      vsFileClose(p->pFile);
      if( zPath ) vsFileUnlink(zPath);
      sqlite3_free(zPath);
    }
    p->pFile = 0;
    p->zBroken = sqlite3_mprintf("its creation was rolled back");
  }
  return SQLITE_OK;
}

static int vecSavepoint(sqlite3_vtab *pVtab, int iSavepoint){
  VecTable *p = (VecTable*)pVtab;
  /* pending rows belong to the enclosing level: write them first; and
  ** the buffered vectors, so that a new instance of this table (SQLite
  ** reconnects it after a schema change, which runs inside a savepoint)
  ** finds in the file every slot the map references */
  char *zErr = 0;
  int rc = flushPending(p);
  if( rc==SQLITE_OK && p->pFile ){
    rc = vsFileFlush(p->pFile, &zErr);
    if( rc ) return takeError(p, rc, zErr);
  }
  if( rc ) return rc;
  return vsSlotsSavepoint(&p->slots, iSavepoint);
}

static int vecRelease(sqlite3_vtab *pVtab, int iSavepoint){
  VecTable *p = (VecTable*)pVtab;
  vsSlotsRelease(&p->slots, iSavepoint);
  return SQLITE_OK;
}

static int vecRollbackTo(sqlite3_vtab *pVtab, int iSavepoint){
  VecTable *p = (VecTable*)pVtab;
  char *zErr = 0;
  int rc = SQLITE_OK;
  /* Buffered slots from before the savepoint stay referenced: write
  ** them out; those after it are garbage either way. */
  if( p->pFile ) rc = vsFileFlush(p->pFile, &zErr);
  p->nRollback++;
  p->nPend = 0;
  p->bMaxKnown = 0;
  vsSlotsRollbackTo(&p->slots, iSavepoint);
  restoreDim(p);
  if( rc ) return takeError(p, rc, zErr);
  return SQLITE_OK;
}

/* ------------------------------------------------------------------ */
/* Writing                                                            */
/* ------------------------------------------------------------------ */

/* Look up the slot of iId: *pbFound tells whether the id exists. */
static int lookupSlot(VecTable *p, i64 iId, i64 *piSlot, int *pbFound){
  sqlite3_stmt *pStmt;
  int rc = flushPending(p);
  if( rc==SQLITE_OK ) rc = prepareStmt(p, STMT_LOOKUP, &pStmt);
  if( rc ) return rc;
  sqlite3_bind_int64(pStmt, 1, iId);
  rc = sqlite3_step(pStmt);
  *pbFound = rc==SQLITE_ROW;
  if( rc==SQLITE_ROW ) *piSlot = sqlite3_column_int64(pStmt, 0);
  rc = sqlite3_reset(pStmt);       /* a lookup by primary key: one row */
  return rc ? dbError(p, rc) : SQLITE_OK;
}

/* Run a cached write statement with up to two integer parameters. */
static int runWrite(VecTable *p, int eStmt, i64 iA, i64 iB){
  sqlite3_stmt *pStmt;
  int rc = eStmt==STMT_INSERT ? SQLITE_OK : flushPending(p);
  if( rc==SQLITE_OK ) rc = prepareStmt(p, eStmt, &pStmt);
  if( rc ) return rc;
  sqlite3_bind_int64(pStmt, 1, iA);
  if( sqlite3_bind_parameter_count(pStmt)>=2 ) sqlite3_bind_int64(pStmt, 2, iB);
  return stepInt(p, pStmt, 0, 0);
}

/* Write the pending map rows (see PENDING INSERTS). */
static int flushPending(VecTable *p){
  sqlite3_stmt *pStmt;
  int rc = SQLITE_OK, i = 0, n = p->nPend;
  int iRollbacks = p->nRollback;
  i64 iLastRowid;
  if( n==0 || p->bFlushing ) return SQLITE_OK;
  p->bFlushing = 1;
  /* the user's last_insert_rowid() is not ours to change */
  iLastRowid = sqlite3_last_insert_rowid(p->db);
  if( n==VEC_PENDING_ROWS ){
    rc = prepareStmt(p, STMT_INSERT_MANY, &pStmt);
    if( rc==SQLITE_OK ){
      for(i=0; i<n; i++){
        sqlite3_bind_int64(pStmt, 2*i+1, p->aPendId[i]);
        sqlite3_bind_int64(pStmt, 2*i+2, p->aPendSlot[i]);
      }
      rc = stepInt(p, pStmt, 0, 0);
    }
    i = rc==SQLITE_OK ? n : 0;
  }else{
    for(i=0; i<n; i++){
      rc = runWrite(p, STMT_INSERT, p->aPendId[i], p->aPendSlot[i]);
      if( rc ) break;
    }
  }
  if( p->nRollback!=iRollbacks ){
    /* the failure rolled the transaction (or statement) back, from
    ** inside the nested statement: the pending rows went with it */
    p->nPend = 0;
  }else{
    /* rows not written stay pending: a failed write loses nothing */
    if( i>0 && i<n ){
      memmove(p->aPendId, &p->aPendId[i], sizeof(i64)*(size_t)(n-i));
      memmove(p->aPendSlot, &p->aPendSlot[i], sizeof(i64)*(size_t)(n-i));
    }
    p->nPend = n-i;
  }
  sqlite3_set_last_insert_rowid(p->db, iLastRowid);
  p->bFlushing = 0;
  return rc;
}

/* Make iMaxId known: the largest id of the table, or -1 when empty. */
static int knowMaxId(VecTable *p){
  sqlite3_stmt *pStmt;
  int rc, bRow = 0;
  if( p->bMaxKnown ) return SQLITE_OK;
  rc = flushPending(p);
  if( rc==SQLITE_OK ) rc = prepareStmt(p, STMT_MAXID, &pStmt);
  p->iMaxId = -1;
  if( rc==SQLITE_OK ) rc = stepInt(p, pStmt, &p->iMaxId, &bRow);
  if( rc==SQLITE_OK ) p->bMaxKnown = 1;
  return rc;
}

/* Fix the table's dimension, which the first stored vector decides. */
static int fixDimension(VecTable *p, int nDim){
  char *zErr = 0;
  int rc = runWrite(p, STMT_SETDIM, nDim, 0);
  if( rc ) return rc;
  rc = vsFileSetDim(p->pFile, nDim, 1, &zErr);
  if( rc ) return takeError(p, rc, zErr);
  p->nDim = nDim;
  p->slots.iTag = nDim;
  return SQLITE_OK;
}

/* Store the vector at pVec into a fresh slot; *piSlot gets it. */
static int writeVector(VecTable *p, const void *pVec, i64 iId, i64 *piSlot){
  char *zErr = 0;
  int rc = vsSlotsAlloc(&p->slots, piSlot);
  if( rc ) return rc;
  rc = vsFileWrite(p->pFile, *piSlot, pVec, &zErr);
  if( rc ) return takeError(p, rc, zErr);
  vsNormsForget(&p->norms, *piSlot);
  return vsSlotsSet(&p->slots, *piSlot, iId);
}

/* Remove row iId: its map row goes, its slot is freed at commit. */
static int deleteRow(VecTable *p, i64 iId, int *pbFound){
  sqlite3_stmt *pStmt;
  i64 iSlot = -1;
  int rc = flushPending(p);
  if( rc==SQLITE_OK ) rc = prepareStmt(p, STMT_DELETE, &pStmt);
  if( rc ) return rc;
  sqlite3_bind_int64(pStmt, 1, iId);
  rc = stepInt(p, pStmt, &iSlot, pbFound);
  if( rc==SQLITE_OK && *pbFound ){
    if( iSlot<0 || iSlot>=p->slots.nSlot || p->slots.aId[iSlot]!=iId ){
      return mapDamaged(p, iId, iSlot);
    }
    rc = vsSlotsFree(&p->slots, iSlot);
  }
  return rc;
}

/* Point row iId at a copy of pVec in a new slot (copy-on-write). */
static int replaceVector(VecTable *p, i64 iId, const void *pVec){
  i64 iOldSlot = -1, iSlot = -1;
  int bFound = 0;
  int rc = lookupSlot(p, iId, &iOldSlot, &bFound);
  if( rc==SQLITE_OK && !bFound ){
    setError(p, "vectors: table %s: row %lld vanished", p->zName, iId);
    rc = SQLITE_CORRUPT_VTAB;
  }
  if( rc==SQLITE_OK ) rc = writeVector(p, pVec, iId, &iSlot);
  if( rc==SQLITE_OK ) rc = runWrite(p, STMT_SETSLOT, iId, iSlot);
  if( rc==SQLITE_OK ) rc = vsSlotsFree(&p->slots, iOldSlot);
  return rc;
}

static int uniqueError(VecTable *p){
  setError(p, "UNIQUE constraint failed: %s.id", p->zName);
  return SQLITE_CONSTRAINT;
}

/* The next id for an insert without one: one past the largest. */
static int nextId(VecTable *p, i64 *piId){
  int rc = knowMaxId(p);
  if( rc ) return rc;
  if( p->iMaxId<0 ){
    *piId = 1;
  }else if( p->iMaxId==VS_MAX_ID ){
    setError(p, "vectors: no id left to assign: the largest id "
             "9223372036854775807 is taken");
    return SQLITE_FULL;
  }else{
    *piId = p->iMaxId+1;
  }
  return SQLITE_OK;
}

/* Work out the id a written row gets (see vecUpdate). */
static int newRowId(VecTable *p, sqlite3_value **argv, i64 iOld, i64 *piNew){
  char *zErr = 0;
  int rc;
  sqlite3_value *pId = argv[2+VEC_COLUMN_ID];
  if( sqlite3_value_type(pId)==SQLITE_NULL
   && sqlite3_value_type(argv[1])!=SQLITE_NULL
   && (iOld<0 || sqlite3_value_int64(argv[1])!=iOld) ){
    pId = argv[1];                    /* an explicit rowid */
  }
  if( sqlite3_value_type(pId)==SQLITE_NULL && iOld<0 ){
    return nextId(p, piNew);
  }
  rc = vsIdFromValue(pId, "vectors", piNew, &zErr);
  return rc ? adoptError(p, rc, zErr) : SQLITE_OK;
}

/*
** The vector argument of an INSERT or UPDATE: *ppVec points at it (the
** value's own blob, p->aScratch, or *paOwned while the dimension is not
** fixed; the caller frees *paOwned), *pnVec gets its length.
*/
static int vectorArg(VecTable *p, sqlite3_value *pVal, const void **ppVec,
                     int *pnVec, float **paOwned){
  char *zErr = 0;
  int rc;
  if( p->nDim==0 ){
    rc = vsVectorParse(pVal, "vectors", 0, paOwned, pnVec, &zErr);
    *ppVec = *paOwned;
    return adoptError(p, rc, zErr);
  }
  if( p->nScratch<p->nDim ){
    sqlite3_free(p->aScratch);
    p->aScratch = sqlite3_malloc64(sizeof(float)*(u64)p->nDim);
    p->nScratch = p->aScratch ? p->nDim : 0;
    if( p->aScratch==0 ) return SQLITE_NOMEM;
  }
  rc = vsVectorParseInto(pVal, "vectors", p->nDim, p->aScratch, ppVec, pnVec,
                         &zErr);
  return adoptError(p, rc, zErr);
}

/* INSERT of row iNew (OR REPLACE when the conflict mode says so). */
static int insertRow(VecTable *p, i64 iNew, const void *pVec,
                     const VsSlotsMark *pMark){
  i64 iSlot = -1;
  int rc = knowMaxId(p);
  if( rc ) return rc;
  if( iNew>p->iMaxId ){
    /* above every id: no conflict possible, the map row can wait */
    if( p->nPend==VEC_PENDING_ROWS ) rc = flushPending(p);
    if( rc==SQLITE_OK ) rc = writeVector(p, pVec, iNew, &iSlot);
    if( rc==SQLITE_OK ){
      p->aPendId[p->nPend] = iNew;
      p->aPendSlot[p->nPend] = iSlot;
      p->nPend++;
      p->iMaxId = iNew;
    }
    return rc;
  }
  rc = flushPending(p);
  if( rc==SQLITE_OK ) rc = writeVector(p, pVec, iNew, &iSlot);
  if( rc==SQLITE_OK ) rc = runWrite(p, STMT_INSERT, iNew, iSlot);
  if( (rc & 0xff)==SQLITE_CONSTRAINT ){
    /* the id exists: nothing was changed, so OR IGNORE can skip it */
    vsSlotsMarkRestore(&p->slots, pMark);
    if( sqlite3_vtab_on_conflict(p->db)!=SQLITE_REPLACE ) return uniqueError(p);
    rc = replaceVector(p, iNew, pVec);
  }
  return rc;
}

/* UPDATE of row iOld: to id iNew, and to vector pVec unless it is 0. */
static int updateRow(VecTable *p, i64 iOld, i64 iNew, const void *pVec){
  i64 iSlot = -1;
  int rc = SQLITE_OK, bFound = 0;
  if( iNew!=iOld ){
    rc = lookupSlot(p, iNew, &iSlot, &bFound);
    if( rc==SQLITE_OK && bFound ){
      if( sqlite3_vtab_on_conflict(p->db)!=SQLITE_REPLACE ){
        return uniqueError(p);
      }
      rc = deleteRow(p, iNew, &bFound);               /* OR REPLACE */
    }
    if( rc==SQLITE_OK ) rc = lookupSlot(p, iOld, &iSlot, &bFound);
    if( rc==SQLITE_OK ) rc = runWrite(p, STMT_MOVE, iOld, iNew);
    if( rc==SQLITE_OK && iNew>p->iMaxId ) p->iMaxId = iNew;
    if( rc==SQLITE_OK && bFound ) rc = vsSlotsSet(&p->slots, iSlot, iNew);
  }
  if( rc==SQLITE_OK && pVec ) rc = replaceVector(p, iNew, pVec);
  return rc;
}

/*
** INSERT, UPDATE and DELETE. A failure leaves nothing behind: the map
** writes go through SQLite (undone by its statement rollback), and the
** allocator is put back to the mark taken on entry. A conflict is found
** by the map's PRIMARY KEY before anything changes, which is what makes
** OR IGNORE work.
*/
static int vecUpdate(sqlite3_vtab *pVtab, int argc, sqlite3_value **argv,
                     sqlite3_int64 *pRowid){
  VecTable *p = (VecTable*)pVtab;
  VsSlotsMark mark;
  float *aOwned = 0;
  const void *pVec = 0;
  int rc, bFound = 0, nVec = 0, i;
  i64 iOld = -1, iNew = -1;

  rc = checkUsable(p);
  if( rc ) return rc;
  if( argc==1 ){                                      /* DELETE */
    return deleteRow(p, sqlite3_value_int64(argv[0]), &bFound);
  }
  for(i=VEC_COLUMN_DISTANCE; i<=VEC_COLUMN_K; i++){
    if( sqlite3_value_type(argv[2+i])!=SQLITE_NULL
     && !sqlite3_value_nochange(argv[2+i]) ){
      setError(p, "vectors: cannot write column %s: it is a search output",
               i==VEC_COLUMN_K ? "k" : "distance");
      return SQLITE_ERROR;
    }
  }
  if( sqlite3_value_type(argv[0])!=SQLITE_NULL ){
    iOld = sqlite3_value_int64(argv[0]);
  }
  rc = newRowId(p, argv, iOld, &iNew);
  /* the vector, unless an UPDATE leaves it as it is */
  if( rc==SQLITE_OK
   && (iOld<0 || !sqlite3_value_nochange(argv[2+VEC_COLUMN_VEC])) ){
    rc = vectorArg(p, argv[2+VEC_COLUMN_VEC], &pVec, &nVec, &aOwned);
  }
  if( rc ) return rc;

  vsSlotsMarkGet(&p->slots, &mark);
  if( pVec && p->nDim==0 ) rc = fixDimension(p, nVec);
  if( rc==SQLITE_OK ){
    rc = iOld<0 ? insertRow(p, iNew, pVec, &mark)
                : updateRow(p, iOld, iNew, pVec);
  }
  sqlite3_free(aOwned);
  if( rc ){
    vsSlotsMarkRestore(&p->slots, &mark);
    restoreDim(p);
    return rc;
  }
  *pRowid = iNew;
  return SQLITE_OK;
}

/* ------------------------------------------------------------------ */
/* Reading                                                            */
/* ------------------------------------------------------------------ */

/*
** Use the id bounds found by xBestIndex (aRange: the GT, GE, LT, LE
** constraints, -1 when absent; one lower and one upper bound at most):
** give each its argv slot after *pnArg and return their idxNum bits.
** *prCost is divided by rDiv per bound.
*/
static int planIdBounds(sqlite3_index_info *pInfo, const int *aRange,
                        int *pnArg, double *prCost, double rDiv){
  int idxNum = 0, i;
  for(i=0; i<4; i++){
    if( aRange[i]<0 ) continue;
    if( i==1 && aRange[0]>=0 ) continue;
    if( i==3 && aRange[2]>=0 ) continue;
    idxNum |= aIdBound[i].bit;
    pInfo->aConstraintUsage[aRange[i]].argvIndex = ++*pnArg;
    *prCost /= rDiv;
  }
  return idxNum;
}

/* True when the ORDER BY, if any, is "distance" or "distance, id": the
** order a search returns, so that LIMIT can serve as its k. */
static int orderIsDistance(const sqlite3_index_info *pInfo){
  const struct sqlite3_index_orderby *a = pInfo->aOrderBy;
  if( pInfo->nOrderBy==0 ) return 1;
  if( pInfo->nOrderBy>2 || a[0].iColumn!=VEC_COLUMN_DISTANCE || a[0].desc ){
    return 0;
  }
  return pInfo->nOrderBy==1
      || ((a[1].iColumn==VEC_COLUMN_ID || a[1].iColumn==-1) && !a[1].desc);
}

/*
** The plan of a search (vec MATCH ?). xFilter receives, in this order:
** the query, k, LIMIT, OFFSET, id = / id IN, then the id bounds. LIMIT
** and OFFSET are only read (SQLite still applies them to the rows), so
** a search returns min(k, LIMIT + OFFSET) rows and SQLite skips the
** OFFSET first ones. The id bounds are applied by the scan and checked
** again by SQLite.
*/
static int searchBestIndex(VecTable *p, sqlite3_index_info *pInfo,
                           int iMatch, int iK, int iLimit, int iOffset,
                           int iEq, const int *aRange){
  int idxNum = VEC_PLAN_MATCH, nArg = 0;
  int bOrder = orderIsDistance(pInfo);
  double rCost = 1e5;
  pInfo->aConstraintUsage[iMatch].argvIndex = ++nArg;
  pInfo->aConstraintUsage[iMatch].omit = 1;
  if( iK>=0 ){
    idxNum |= VEC_PLAN_K;
    pInfo->aConstraintUsage[iK].argvIndex = ++nArg;
    pInfo->aConstraintUsage[iK].omit = 1;
  }
  if( iLimit>=0 && bOrder ){
    idxNum |= VEC_PLAN_LIMIT;
    pInfo->aConstraintUsage[iLimit].argvIndex = ++nArg;
    if( iOffset>=0 ){
      idxNum |= VEC_PLAN_OFFSET;
      pInfo->aConstraintUsage[iOffset].argvIndex = ++nArg;
    }
  }
  if( (idxNum & VEC_PLAN_K)==0 && bOrder && pInfo->nOrderBy>0 ){
    /* ORDER BY distance without k: when no LIMIT is known (SQLite 3.40
    ** shows none to a table searched by MATCH; LIMIT -1 means none) rows
    ** stream in distance order and SQLite stops reading at its LIMIT */
    idxNum |= VEC_PLAN_STREAM;
  }
  if( (idxNum & (VEC_PLAN_K|VEC_PLAN_LIMIT|VEC_PLAN_STREAM))==0 ){
    setError(p, "vectors: MATCH needs a row count: add k = N, or LIMIT N "
             "with ORDER BY distance");
    return SQLITE_ERROR;
  }
  /* id = ? or id IN (...): only the rows with those ids are searched. An
  ** IN list must come all at once (one xFilter), or not at all. */
  if( iEq>=0 && (!sqlite3_vtab_in(pInfo, iEq, -1)
                 || sqlite3_vtab_in(pInfo, iEq, 1)) ){
    idxNum |= sqlite3_vtab_in(pInfo, iEq, -1) ? VEC_PLAN_IN : VEC_PLAN_EQ;
    pInfo->aConstraintUsage[iEq].argvIndex = ++nArg;
    pInfo->aConstraintUsage[iEq].omit = 1;
    rCost = (idxNum & VEC_PLAN_IN) ? 100 : 10;
  }
  idxNum |= planIdBounds(pInfo, aRange, &nArg, &rCost, 2);
  pInfo->orderByConsumed = bOrder && pInfo->nOrderBy>0;
  pInfo->idxNum = idxNum;
  pInfo->estimatedCost = rCost;
  pInfo->estimatedRows = 10;
  return SQLITE_OK;
}

static int vecBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo){
  VecTable *p = (VecTable*)pVtab;
  int i, iEq = -1, nArg = 0, idxNum = 0;
  int iMatch = -1, iK = -1, iLimit = -1, iOffset = -1, bKUnusable = 0;
  int aRange[4] = {-1, -1, -1, -1};     /* GT, GE, LT, LE constraint index */
  double rCost = 1e6;
  for(i=0; i<pInfo->nConstraint; i++){
    const struct sqlite3_index_constraint *c = &pInfo->aConstraint[i];
    switch( c->op ){
      case SQLITE_INDEX_CONSTRAINT_MATCH:
        if( c->iColumn!=VEC_COLUMN_VEC ){
          setError(p, "vectors: MATCH searches the vec column only");
          return SQLITE_ERROR;
        }
        /* a search whose query is not known yet is no plan at all */
        if( !c->usable ) return SQLITE_CONSTRAINT;
        if( iMatch<0 ) iMatch = i;
        continue;
      case SQLITE_INDEX_CONSTRAINT_LIMIT:
        if( c->usable ) iLimit = i;
        continue;
      case SQLITE_INDEX_CONSTRAINT_OFFSET:
        if( c->usable ) iOffset = i;
        continue;
    }
    if( c->iColumn==VEC_COLUMN_K && c->op==SQLITE_INDEX_CONSTRAINT_EQ ){
      if( !c->usable ) bKUnusable = 1;
      else if( iK<0 ) iK = i;
      continue;
    }
    if( !c->usable ) continue;
    if( c->iColumn!=VEC_COLUMN_ID && c->iColumn!=-1 ) continue;
    switch( c->op ){
      case SQLITE_INDEX_CONSTRAINT_EQ: if( iEq<0 ) iEq = i; break;
      case SQLITE_INDEX_CONSTRAINT_GT: aRange[0] = i; break;
      case SQLITE_INDEX_CONSTRAINT_GE: aRange[1] = i; break;
      case SQLITE_INDEX_CONSTRAINT_LT: aRange[2] = i; break;
      case SQLITE_INDEX_CONSTRAINT_LE: aRange[3] = i; break;
    }
  }
  if( iMatch>=0 ){
    if( bKUnusable && iK<0 ) return SQLITE_CONSTRAINT;
    return searchBestIndex(p, pInfo, iMatch, iK, iLimit, iOffset, iEq, aRange);
  }
  if( iK>=0 || bKUnusable ){
    setError(p, "vectors: k = N needs vec MATCH: no MATCH given");
    return SQLITE_ERROR;
  }
  if( iEq>=0 ){
    idxNum = VEC_PLAN_EQ;
    pInfo->aConstraintUsage[iEq].argvIndex = ++nArg;
    pInfo->aConstraintUsage[iEq].omit = 1;
    pInfo->estimatedRows = 1;
    pInfo->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
    rCost = 10;
  }else{
    idxNum = planIdBounds(pInfo, aRange, &nArg, &rCost, 4);
    pInfo->estimatedRows = (sqlite3_int64)rCost;
  }
  if( pInfo->nOrderBy==1
   && (pInfo->aOrderBy[0].iColumn==VEC_COLUMN_ID
       || pInfo->aOrderBy[0].iColumn==-1) ){
    if( pInfo->aOrderBy[0].desc ) idxNum |= VEC_PLAN_DESC;
    pInfo->orderByConsumed = 1;
  }
  pInfo->idxNum = idxNum;
  pInfo->estimatedCost = rCost;
  return SQLITE_OK;
}

static int vecOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCursor){
  VecCursor *pCur = sqlite3_malloc(sizeof(*pCur));
  (void)pVtab;
  if( pCur==0 ) return SQLITE_NOMEM;
  memset(pCur, 0, sizeof(*pCur));
  pCur->bEof = 1;
  *ppCursor = &pCur->base;
  return SQLITE_OK;
}

static int vecClose(sqlite3_vtab_cursor *pCursor){
  VecCursor *pCur = (VecCursor*)pCursor;
  sqlite3_finalize(pCur->pScan);
  searchReset(pCur);
  sqlite3_free(pCur);
  return SQLITE_OK;
}

static int scanStep(VecCursor *pCur){
  VecTable *p = (VecTable*)pCur->base.pVtab;
  int rc = sqlite3_step(pCur->pScan);
  if( rc==SQLITE_ROW ){
    pCur->iId = sqlite3_column_int64(pCur->pScan, 0);
    pCur->iSlot = sqlite3_column_int64(pCur->pScan, 1);
    return SQLITE_OK;
  }
  pCur->bEof = 1;
  if( rc==SQLITE_DONE ) return SQLITE_OK;
  return dbError(p, rc);
}

/* ------------------------------------------------------------------ */
/* Searching: the SQL side (the scan itself is in search.c)           */
/* ------------------------------------------------------------------ */

#define VEC_LOOKUP_MAX 64       /* up to this many prefilter ids: lookups */

/*
** Narrow [*piLo, *piHi] to the ids for which "id <op> pVal" holds, with
** SQLite's comparison rules (integers sort before text and blobs; NULL
** matches nothing). An empty range comes out as *piLo > *piHi.
*/
static void applyBound(int eOp, sqlite3_value *pVal, i64 *piLo, i64 *piHi){
  const double r2p63 = 9223372036854775808.0;
  int eType = sqlite3_value_numeric_type(pVal);
  int bLower = eOp==VEC_PLAN_GT || eOp==VEC_PLAN_GE;
  int bEmpty = 0;
  i64 iLo = *piLo, iHi = *piHi;
  if( eType==SQLITE_NULL ){
    bEmpty = 1;
  }else if( eType==SQLITE_TEXT || eType==SQLITE_BLOB ){
    bEmpty = bLower;
  }else if( eType==SQLITE_INTEGER ){
    i64 x = sqlite3_value_int64(pVal);
    switch( eOp ){
      case VEC_PLAN_GT: if( x==VS_MAX_ID ) bEmpty = 1;
                        else if( x+1>iLo ) iLo = x+1;
                        break;
      case VEC_PLAN_GE: if( x>iLo ) iLo = x; break;
      case VEC_PLAN_LT: if( x<=0 ) bEmpty = 1;
                        else if( x-1<iHi ) iHi = x-1;
                        break;
      default:          if( x<iHi ) iHi = x; break;
    }
  }else{
    double r = sqlite3_value_double(pVal);
    switch( eOp ){
      case VEC_PLAN_GT: if( r>=r2p63 ) bEmpty = 1;
                        else if( r>=0 && (i64)floor(r)+1>iLo ) iLo = (i64)floor(r)+1;
                        break;
      case VEC_PLAN_GE: if( r>=r2p63 ) bEmpty = 1;
                        else if( r>0 && (i64)ceil(r)>iLo ) iLo = (i64)ceil(r);
                        break;
      case VEC_PLAN_LT: if( r<=0 ) bEmpty = 1;
                        else if( r<r2p63 && (i64)ceil(r)-1<iHi ) iHi = (i64)ceil(r)-1;
                        break;
      default:          if( r<0 ) bEmpty = 1;
                        else if( r<r2p63 && (i64)floor(r)<iHi ) iHi = (i64)floor(r);
                        break;
    }
  }
  if( bEmpty ){
    iLo = 1;
    iHi = 0;
  }
  *piLo = iLo;
  *piHi = iHi;
}

/* pVal for an error message: 3, 2.5, 'abc', NULL or a blob. */
static char *describeValue(sqlite3_value *pVal){
  switch( sqlite3_value_type(pVal) ){
    case SQLITE_NULL: return sqlite3_mprintf("NULL");
    case SQLITE_BLOB: return sqlite3_mprintf("a blob");
    case SQLITE_TEXT: return sqlite3_mprintf("'%s'", sqlite3_value_text(pVal));
  }
  return sqlite3_mprintf("%s", sqlite3_value_text(pVal));
}

static int cmpI64(const void *a, const void *b){
  i64 x = *(const i64*)a, y = *(const i64*)b;
  return x<y ? -1 : (x>y);
}

/* Append x to the growing array *pa of *pn entries (*pnAlloc room). */
static int appendI64(i64 **pa, i64 *pn, i64 *pnAlloc, i64 x){
  if( *pn>=*pnAlloc ){
    i64 nNew = *pnAlloc ? *pnAlloc*2 : 16;
    i64 *aNew = sqlite3_realloc64(*pa, sizeof(i64)*(u64)nNew);
    if( aNew==0 ) return SQLITE_NOMEM;
    *pa = aNew;
    *pnAlloc = nNew;
  }
  (*pa)[(*pn)++] = x;
  return SQLITE_OK;
}

/*
** The slots of the nIds distinct ids aIds (ascending), ascending, in
** *paSlot. A few ids are looked up in <table>_map; many are found by one
** walk of the slot -> id array with a hash set of the ids.
*/
static int slotsOfIds(VecTable *p, const i64 *aIds, i64 nIds,
                      i64 **paSlot, i64 *pnSlot){
  i64 nAlloc = 0, i;
  int rc = SQLITE_OK;
  *paSlot = 0;
  *pnSlot = 0;
  if( nIds<=VEC_LOOKUP_MAX ){
    for(i=0; i<nIds && rc==SQLITE_OK; i++){
      i64 iSlot = -1;
      int bFound = 0;
      rc = lookupSlot(p, aIds[i], &iSlot, &bFound);
      if( rc==SQLITE_OK && bFound ){
        if( iSlot<0 || iSlot>=p->slots.nSlot || p->slots.aId[iSlot]!=aIds[i] ){
          rc = mapDamaged(p, aIds[i], iSlot);
        }else{
          rc = appendI64(paSlot, pnSlot, &nAlloc, iSlot);
        }
      }
    }
    if( rc==SQLITE_OK && *pnSlot>1 ){
      qsort(*paSlot, (size_t)*pnSlot, sizeof(i64), cmpI64);
    }
  }else{
    /* open addressing, ids are >= 0 so -1 marks an empty entry */
    i64 nHash = 64, *aHash;
    const i64 *aId = p->slots.aId;
    while( nHash<nIds*2 ) nHash *= 2;
    aHash = sqlite3_malloc64(sizeof(i64)*(u64)nHash);
    if( aHash==0 ) return SQLITE_NOMEM;
    memset(aHash, 0xff, sizeof(i64)*(u64)nHash);
    for(i=0; i<nIds; i++){
      u64 h = ((u64)aIds[i]*0x9E3779B97F4A7C15ULL) & (u64)(nHash-1);
      while( aHash[h]>=0 ) h = (h+1) & (u64)(nHash-1);
      aHash[h] = aIds[i];
    }
    for(i=0; i<p->slots.nSlot && rc==SQLITE_OK; i++){
      u64 h;
      if( aId[i]<0 ) continue;
      h = ((u64)aId[i]*0x9E3779B97F4A7C15ULL) & (u64)(nHash-1);
      while( aHash[h]>=0 && aHash[h]!=aId[i] ) h = (h+1) & (u64)(nHash-1);
      if( aHash[h]==aId[i] ) rc = appendI64(paSlot, pnSlot, &nAlloc, i);
    }
    sqlite3_free(aHash);
  }
  if( rc ){
    sqlite3_free(*paSlot);
    *paSlot = 0;
    *pnSlot = 0;
  }
  return rc;
}

/* Position a search cursor on row iHit of its result. */
static void searchSeek(VecCursor *pCur, i64 iHit){
  pCur->iHit = iHit;
  pCur->bEof = iHit>=pCur->nHit;
  if( !pCur->bEof ){
    pCur->iId = pCur->aHit[iHit].iId;
    pCur->iSlot = pCur->aHit[iHit].iSlot;
  }
}

/* Forget a search cursor's result and parameters. */
static void searchReset(VecCursor *pCur){
  sqlite3_free(pCur->aHit);
  sqlite3_free(pCur->aQuery);
  sqlite3_free(pCur->aIds);
  pCur->aHit = 0;
  pCur->aQuery = 0;
  pCur->aIds = 0;
  pCur->nHit = pCur->nIds = 0;
  pCur->bSearch = pCur->bStream = pCur->bFilter = 0;
}

/*
** Compute the cursor's result from its parameters, on the slot array as
** it is (the caller made it current): collect the prefilter's slots, map
** the side file and run the scan (search.c).
*/
static int searchRun(VecCursor *pCur){
  VecTable *p = (VecTable*)pCur->base.pVtab;
  VsSearch s;
  i64 *aCand = 0, nCand = 0, nMap;
  int rc = SQLITE_OK;
  char *zErr = 0;
  sqlite3_free(pCur->aHit);
  pCur->aHit = 0;
  pCur->nHit = 0;
  if( p->nDim<=0 || pCur->iMinId>pCur->iMaxId ) return SQLITE_OK;
  nMap = p->slots.nSlot;
  while( nMap>0 && p->slots.aId[nMap-1]<0 ) nMap--;
  if( pCur->bFilter ){
    rc = slotsOfIds(p, pCur->aIds, pCur->nIds, &aCand, &nCand);
    if( rc==SQLITE_OK && nCand==0 ) nMap = 0;
  }
  if( rc==SQLITE_OK && nMap>0 ){
    memset(&s, 0, sizeof(s));
    rc = vsFileMap(p->pFile, nMap, &s.aMatrix, &zErr);
    if( rc ){
      rc = takeError(p, rc, zErr);
    }else{
      s.eMetric = p->eMetric;
      s.nDim = p->nDim;
      s.aQuery = pCur->aQuery;
      s.aId = p->slots.aId;
      s.nSlot = nMap;
      s.aCand = pCur->bFilter ? aCand : 0;
      s.nCand = nCand;
      s.iMinId = pCur->iMinId;
      s.iMaxId = pCur->iMaxId;
      s.nWant = pCur->nWant;
      s.pNorms = &p->norms;
      s.nThread = vsConnThreads(p->pConn);
      rc = vsSearchRun(&s, &pCur->aHit, &pCur->nHit);
    }
  }
  sqlite3_free(aCand);
  return rc;
}

/* Make the slot array show this statement's snapshot (and the open
** transaction's own changes). */
static int searchSnapshot(VecTable *p){
  int rc = checkUsable(p);
  if( rc==SQLITE_OK ) rc = flushPending(p);
  /* freed slots count as pending: always safe outside a write
  ** transaction, and the WAL header need not be read */
  if( rc==SQLITE_OK ) rc = refreshSlots(p, 1, VS_SEQ_UNKNOWN, 0);
  return rc;
}

/*
** xFilter of a search plan (see searchBestIndex for argv): read the row
** count, the prefilter and the bounds, make the slot array current,
** parse the query and compute the result; xNext walks it (a streaming
** search computes more when it runs out).
*/
static int searchFilter(VecCursor *pCur, int idxNum, sqlite3_value **argv){
  VecTable *p = (VecTable*)pCur->base.pVtab;
  i64 nWant = -1, nAlloc = 0, i;
  int rc = SQLITE_OK, iArg = 1, nVec = 0;
  char *zErr = 0;

  pCur->bSearch = 1;
  pCur->iK = -1;
  pCur->iMinId = 0;
  pCur->iMaxId = VS_MAX_ID;

  /* how many rows: k, LIMIT + OFFSET, the smaller of the two, or as many
  ** as SQLite reads (streaming) */
  if( idxNum & VEC_PLAN_K ){
    sqlite3_value *pK = argv[iArg++];
    /* a whole-number real (bindings such as better-sqlite3 bind numbers
    ** as reals) counts as an integer, as it does for ids */
    if( !exactInteger(pK, &pCur->iK) || pCur->iK<1 ){
      char *z = describeValue(pK);
      setError(p, "vectors: k must be a positive integer: got %s",
               z ? z : "?");
      sqlite3_free(z);
      pCur->iK = -1;
      return SQLITE_ERROR;
    }
    nWant = pCur->iK;
  }
  if( idxNum & VEC_PLAN_LIMIT ){
    i64 nLimit = sqlite3_value_int64(argv[iArg++]);
    i64 nOffset = 0;
    if( idxNum & VEC_PLAN_OFFSET ) nOffset = sqlite3_value_int64(argv[iArg++]);
    if( nOffset<0 ) nOffset = 0;
    if( nLimit>=0 ){                          /* a negative LIMIT: none */
      i64 n = nLimit>VS_MAX_ID-nOffset ? VS_MAX_ID : nLimit+nOffset;
      if( nWant<0 || n<nWant ) nWant = n;
    }
  }
  if( nWant<0 ){
    if( (idxNum & VEC_PLAN_STREAM)==0 ){
      setError(p, "vectors: MATCH needs a row count: add k = N, or LIMIT N "
               "with ORDER BY distance");
      return SQLITE_ERROR;
    }
    pCur->bStream = 1;
    nWant = VEC_STREAM_FIRST;
  }
  pCur->nWant = nWant;

  /* the prefilter and the id bounds */
  if( idxNum & (VEC_PLAN_EQ|VEC_PLAN_IN) ){
    sqlite3_value *pList = argv[iArg++];
    i64 x;
    pCur->bFilter = 1;
    if( idxNum & VEC_PLAN_IN ){
      sqlite3_value *pVal = 0;
      for(rc=sqlite3_vtab_in_first(pList, &pVal); rc==SQLITE_OK;
          rc=sqlite3_vtab_in_next(pList, &pVal)){
        if( exactInteger(pVal, &x) && x>=0 ){
          rc = appendI64(&pCur->aIds, &pCur->nIds, &nAlloc, x);
          if( rc ) break;
        }
      }
      if( rc==SQLITE_DONE ) rc = SQLITE_OK;
      if( rc && rc!=SQLITE_NOMEM ) rc = dbError(p, rc);
    }else if( exactInteger(pList, &x) && x>=0 ){
      rc = appendI64(&pCur->aIds, &pCur->nIds, &nAlloc, x);
    }
  }
  for(i=0; i<4; i++){
    if( idxNum & aIdBound[i].bit ){
      applyBound(aIdBound[i].bit, argv[iArg++], &pCur->iMinId, &pCur->iMaxId);
    }
  }
  if( rc==SQLITE_OK && pCur->nIds>0 ){
    /* ascending, distinct, within the bounds */
    i64 j = 0;
    if( pCur->nIds>1 ){
      qsort(pCur->aIds, (size_t)pCur->nIds, sizeof(i64), cmpI64);
    }
    for(i=0; i<pCur->nIds; i++){
      i64 x = pCur->aIds[i];
      if( (j==0 || x!=pCur->aIds[j-1]) && x>=pCur->iMinId && x<=pCur->iMaxId ){
        pCur->aIds[j++] = x;
      }
    }
    pCur->nIds = j;
  }

  /* the snapshot this statement sees, then the query */
  if( rc==SQLITE_OK ) rc = searchSnapshot(p);
  if( rc==SQLITE_OK ){
    if( p->nDim>0 ){
      const void *pVec = 0;
      pCur->aQuery = sqlite3_malloc64(sizeof(float)*(u64)p->nDim);
      if( pCur->aQuery==0 ){
        rc = SQLITE_NOMEM;
      }else{
        rc = vsVectorParseInto(argv[0], "vectors", p->nDim, pCur->aQuery,
                               &pVec, &nVec, &zErr);
        if( rc==SQLITE_OK && pVec!=(const void*)pCur->aQuery ){
          memcpy(pCur->aQuery, pVec, sizeof(float)*(size_t)p->nDim);
        }
      }
    }else{
      /* no vector stored yet: check the query, find nothing */
      rc = vsVectorParse(argv[0], "vectors", 0, &pCur->aQuery, &nVec, &zErr);
    }
    if( rc ) rc = adoptError(p, rc, zErr);
  }
  if( rc==SQLITE_OK ) rc = searchRun(pCur);
  if( rc==SQLITE_OK ) searchSeek(pCur, 0);
  return rc;
}

/* xNext of a search: the next row, computing more when a streaming
** search has handed out all it computed. */
static int searchNext(VecCursor *pCur){
  int rc;
  if( pCur->iHit+1<pCur->nHit || !pCur->bStream
   || pCur->nHit<pCur->nWant ){
    searchSeek(pCur, pCur->iHit+1);
    return SQLITE_OK;
  }
  /* the first nHit rows of a larger run are the same rows: (distance,
  ** id) orders them totally */
  pCur->nWant = pCur->nWant>VS_MAX_ID/VEC_STREAM_GROW
              ? VS_MAX_ID : pCur->nWant*VEC_STREAM_GROW;
  rc = searchSnapshot((VecTable*)pCur->base.pVtab);
  if( rc==SQLITE_OK ) rc = searchRun(pCur);
  if( rc==SQLITE_OK ) searchSeek(pCur, pCur->iHit+1);
  return rc;
}

static int vecFilter(sqlite3_vtab_cursor *pCursor, int idxNum,
                     const char *idxStr, int argc, sqlite3_value **argv){
  VecCursor *pCur = (VecCursor*)pCursor;
  VecTable *p = (VecTable*)pCursor->pVtab;
  int rc, iArg = 0;
  (void)idxStr;
  (void)argc;
  sqlite3_finalize(pCur->pScan);
  pCur->pScan = 0;
  pCur->bEof = 1;
  searchReset(pCur);
  if( idxNum & VEC_PLAN_MATCH ) return searchFilter(pCur, idxNum, argv);
  rc = checkUsable(p);
  if( rc==SQLITE_OK ) rc = flushPending(p);
  /* another connection may have stored the first vector */
  if( rc==SQLITE_OK && p->nDim==0 ) rc = refreshDim(p);
  if( rc ) return rc;
  if( idxNum & VEC_PLAN_EQ ){
    int bFound = 0;
    if( exactInteger(argv[0], &pCur->iId) ){
      rc = lookupSlot(p, pCur->iId, &pCur->iSlot, &bFound);
      pCur->bEof = !bFound;
    }
    return rc;
  }else{
    sqlite3_str *pSql;
    const char *zSep = " WHERE";
    char *zSql = 0;
    int i;
    /* a full scan writes this connection's buffered vectors to the file,
    ** so that veles_check, which reads the file through its own handle,
    ** sees this transaction's writes too */
    if( p->pFile ){
      rc = vsFileFlush(p->pFile, &zSql);
      if( rc ) return takeError(p, rc, zSql);
    }
    pSql = sqlite3_str_new(p->db);
    sqlite3_str_appendf(pSql, "SELECT id, slot FROM \"%w\".\"%w_map\"",
                        p->zSchema, p->zName);
    for(i=0; i<4; i++){
      if( idxNum & aIdBound[i].bit ){
        sqlite3_str_appendf(pSql, "%s id %s ?%d", zSep, aIdBound[i].zOp,
                            ++iArg);
        zSep = " AND";
      }
    }
    sqlite3_str_appendf(pSql, " ORDER BY id%s",
                        (idxNum & VEC_PLAN_DESC) ? " DESC" : "");
    zSql = sqlite3_str_finish(pSql);
    if( zSql==0 ) return SQLITE_NOMEM;
    rc = sqlite3_prepare_v2(p->db, zSql, -1, &pCur->pScan, 0);
    sqlite3_free(zSql);
    if( rc ) return dbError(p, rc);
    for(i=0; i<iArg; i++) sqlite3_bind_value(pCur->pScan, i+1, argv[i]);
    pCur->bEof = 0;
    return scanStep(pCur);
  }
}

static int vecNext(sqlite3_vtab_cursor *pCursor){
  VecCursor *pCur = (VecCursor*)pCursor;
  if( pCur->bSearch ) return searchNext(pCur);
  if( pCur->pScan==0 ){
    pCur->bEof = 1;
    return SQLITE_OK;
  }
  return scanStep(pCur);
}

static int vecEof(sqlite3_vtab_cursor *pCursor){
  return ((VecCursor*)pCursor)->bEof;
}

static int vecColumn(sqlite3_vtab_cursor *pCursor, sqlite3_context *ctx,
                     int iCol){
  VecCursor *pCur = (VecCursor*)pCursor;
  VecTable *p = (VecTable*)pCursor->pVtab;
  if( iCol==VEC_COLUMN_ID ){
    sqlite3_result_int64(ctx, pCur->iId);
  }else if( iCol==VEC_COLUMN_VEC ){
    char *zErr = 0;
    float *aVec;
    int rc;
    if( sqlite3_vtab_nochange(ctx) ) return SQLITE_OK;
    /* read straight into the result's own memory: one copy */
    aVec = sqlite3_malloc64(sizeof(float)*(u64)p->nDim);
    if( aVec==0 ) return SQLITE_NOMEM;
    rc = vsFileRead(p->pFile, pCur->iSlot, aVec, &zErr);
    if( rc ){
      sqlite3_free(aVec);
      return takeError(p, rc, zErr);
    }
    sqlite3_result_blob(ctx, aVec, p->nDim*4, sqlite3_free);
  }else if( sqlite3_vtab_nochange(ctx) ){
    /* an UPDATE leaves the search columns alone */
  }else if( iCol==VEC_COLUMN_DISTANCE ){
    if( pCur->bSearch ) sqlite3_result_double(ctx, pCur->aHit[pCur->iHit].rDist);
  }else if( iCol==VEC_COLUMN_K ){
    if( pCur->bSearch && pCur->iK>=0 ) sqlite3_result_int64(ctx, pCur->iK);
  }
  return SQLITE_OK;
}

static int vecRowid(sqlite3_vtab_cursor *pCursor, sqlite3_int64 *pRowid){
  *pRowid = ((VecCursor*)pCursor)->iId;
  return SQLITE_OK;
}

/* match(), where a MATCH was not made into a search (e.g. under OR). */
static void matchFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  (void)argv;
  sqlite3_result_error(ctx, "vectors: vec MATCH must be a search: WHERE "
      "vec MATCH ? AND k = ?, combined with other terms by AND only", -1);
}

static int vecFindFunction(sqlite3_vtab *pVtab, int nArg, const char *zName,
                           void (**pxFunc)(sqlite3_context*, int,
                                           sqlite3_value**),
                           void **ppArg){
  (void)pVtab;
  if( nArg==2 && sqlite3_stricmp(zName, "match")==0 ){
    *pxFunc = matchFunc;
    *ppArg = 0;
    return 1;
  }
  return 0;
}

static int vecIntegrity(sqlite3_vtab *pVtab, const char *zSchema,
                        const char *zTabName, int mFlags, char **pzErr){
  (void)mFlags;
  return vsCheckIntegrity(((VecTable*)pVtab)->db, zSchema, zTabName, pzErr);
}

static VsModule vectorsModule = {
  {
    /* iVersion    */ 4,
    /* xCreate     */ vecCreate,
    /* xConnect    */ vecConnect,
    /* xBestIndex  */ vecBestIndex,
    /* xDisconnect */ vecDisconnect,
    /* xDestroy    */ vecDestroy,
    /* xOpen       */ vecOpen,
    /* xClose      */ vecClose,
    /* xFilter     */ vecFilter,
    /* xNext       */ vecNext,
    /* xEof        */ vecEof,
    /* xColumn     */ vecColumn,
    /* xRowid      */ vecRowid,
    /* xUpdate     */ vecUpdate,
    /* xBegin      */ vecBegin,
    /* xSync       */ vecSync,
    /* xCommit     */ vecCommit,
    /* xRollback   */ vecRollback,
    /* xFindFunction */ vecFindFunction,
    /* xRename     */ vecRename,
    /* xSavepoint  */ vecSavepoint,
    /* xRelease    */ vecRelease,
    /* xRollbackTo */ vecRollbackTo,
    /* xShadowName */ vecShadowName,
  },
  /* xIntegrity (3.44+) */ vecIntegrity,
};

int vsVectorsRegister(sqlite3 *db, VsConn *pConn){
  int rc;
  vsConnRef(pConn);
  rc = sqlite3_create_module_v2(db, "vectors", &vectorsModule.base, pConn,
                                vsConnUnref);
  if( rc==SQLITE_OK ) rc = vsSearchRegister(db, pConn, 0);
  return rc;
}
