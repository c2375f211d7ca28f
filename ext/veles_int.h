/*
** Internal header shared by the extension's source files.
**
** Every cross-file name is declared here or in the header of the idea it
** belongs to, and carries its file's prefix:
**   vsVector*, vsTypeName
**               vecvalue.c   parse and check f32 vector values; a value's
**                            type for messages
**   vsId*       ids.c        id rules and their messages (both modules)
**   vsJson*, vsField*  payjson.c  JSON grammar, payload validation, the
**                                declared fields of a payloads table
**   vsConn*     conn.c       per-connection state shared by the modules,
**                            and veles_txn, which sees drops commit
**   vsPending*  pending.c    pending inserts (pending.h; both modules)
**   vsVtab*     vtaberr.c    a virtual table's error message
**   vsShadow*   shadow.c     shadow-table statements, rename, drop (shadow.h)
**   vsFile*     sidefile.c   the native side file (sidefile.h)
**   vsWriter*   writer.c     the side file's background writer (writer.h)
**   vsSlots*    slotmap.c    slot allocator, slot -> id array, undo log
**   vsVectors*, vsConfig*, vsState*, vsBind*, vsCopy*, vsCompact*,
**   vsUpgrade*, vsBackup*, vsMatch*
**               vectors.c, vecconfig.c, vecstate.c, vecbind.c,
**               veccopy.c, veccompact.c, vecupgrade.c, backup.c,
**               vecsearch.c: the `vectors` virtual table (vectors.h)
**   vsPayloads* payloads.c   the `payloads` virtual table
**   vsSearch*, vsNorms*
**               search.c     the exact nearest-neighbour scan (search.h)
**   vsDistance* distance.c   SIMD distance kernels (distance.h)
**   vsFunctions* functions.c the veles_* SQL functions
**   vsCheck*    check.c      veles_check() and xIntegrity
** Everything else is static to its file.
*/
#ifndef VELES_INT_H
#define VELES_INT_H

#include "sqlite3ext.h"
#include <stdarg.h>
SQLITE_EXTENSION_INIT3

#include "veles.h"
#include <stdint.h>

typedef sqlite3_int64 i64;
typedef sqlite3_uint64 u64;

/* Largest dimension a vector may have. */
#define VS_MAX_DIM 65536

/* Identifiers are 0 ..= VS_MAX_ID (SQLite's largest positive integer). */
#define VS_MAX_ID ((i64)0x7fffffffffffffffLL)

/* ---- vecvalue.c ------------------------------------------------------ */

/*
** Parse pVal (a BLOB of little-endian f32, or JSON text such as
** '[1, 2.5, -3e-4]') into a new array of floats, *paOut, that the caller
** frees with sqlite3_free(). When nDim > 0 the value must have exactly
** nDim elements. NaN and infinities are refused. On error returns
** SQLITE_ERROR (or SQLITE_NOMEM) and sets *pzErr to a message
** "<zWho>: <problem>: <what was given>" allocated with sqlite3_mprintf().
*/
int vsVectorParse(sqlite3_value *pVal, const char *zWho, int nDim,
                  float **paOut, int *pnOut, char **pzErr);

/*
** The same checks without allocating, for a table whose dimension nDim
** (> 0) is known: *ppVec points at the blob's own bytes (possibly
** unaligned: copy with memcpy) or at aScratch (nDim floats) for JSON.
*/
int vsVectorParseInto(sqlite3_value *pVal, const char *zWho, int nDim,
                      float *aScratch, const void **ppVec, int *pnOut,
                      char **pzErr);

/* A value's type for messages: "an integer", "a real", "text", "a blob",
** "NULL". */
const char *vsTypeName(int eType);

/* Render a vector as JSON text, e.g. "[1.0,-2.5]"; sqlite3_free() it. */
char *vsVectorToJson(const float *a, int n);

/* ---- payjson.c ------------------------------------------------------- */

/* Length of the JSON number (RFC 8259 grammar) at z, 0 when z does not
** start with one. */
int vsJsonNumberLength(const char *z);
/* JSON white space: space, tab, newline, carriage return. */
int vsJsonIsSpace(char c);

/* Field types of a payloads table. */
#define VS_FIELD_TEXT    1
#define VS_FIELD_INTEGER 2
#define VS_FIELD_REAL    3
#define VS_FIELD_BOOLEAN 4

/* Most declared fields per table: columns id, json and 62 fields keep
** one bit each in sqlite3_index_info.colUsed. */
#define VS_MAX_FIELD 62

/* One declared field of a payloads table. */
typedef struct VsField VsField;
struct VsField {
  char *zName;            /* column name as declared, e.g. author.name */
  int eType;              /* VS_FIELD_TEXT, _INTEGER, _REAL, _BOOLEAN */
  int nPath;              /* segments in azPath */
  char **azPath;          /* object keys from the top, e.g. {author, name} */
};

/* Most composite indexes per table (each one costs every write). */
#define VS_MAX_INDEX 16

/* A composite index declared with the table: INDEX(f1, f2, ...). */
typedef struct VsFieldIndex VsFieldIndex;
struct VsFieldIndex {
  int nCol;               /* fields in it, at least 2 */
  int aCol[VS_MAX_FIELD]; /* their positions among the declared fields */
};

/* A field value extracted from a payload, ready to bind. */
typedef struct VsFieldValue VsFieldValue;
struct VsFieldValue {
  int eType;              /* SQLITE_NULL, SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT */
  int nVal;               /* TEXT: bytes, without a terminator */
  i64 iVal;               /* INTEGER; payloads.c keeps here the offset of a
                          ** pending TEXT in its buffer */
  double rVal;            /* FLOAT */
  const char *zVal;       /* TEXT: points into the parsed payload */
};

/* A parsed, valid payload: filled by vsJsonParse, held by the caller,
** released with vsJsonClear. */
typedef struct VsJson VsJson;
struct VsJson {
  const char *z;          /* the text (NUL-terminated), owned by the caller */
  int bNul;               /* it holds a \u0000 escape */
  void *pRoot;            /* cJSON's tree (a cJSON*: payjson.c only) */
};

/*
** Parse the CREATE arguments argv[3..] into *paField, *pnField (0 and 0
** when there are none; free with vsFieldFree). On error *pzErr is
** "payloads: <problem>: <what was given>".
*/
int vsFieldParse(int argc, const char *const*argv, VsField **paField,
                 int *pnField, char **pzErr);
void vsFieldFree(VsField *aField, int nField);
/*
** The composite indexes among the same arguments, INDEX(f1, f2, ...), on
** the fields vsFieldParse gave: *paIndex, *pnIndex (0 and 0 when there
** are none; free with sqlite3_free). Errors as vsFieldParse's.
*/
int vsFieldIndexParse(int argc, const char *const*argv, const VsField *aField,
                      int nField, VsFieldIndex **paIndex, int *pnIndex,
                      char **pzErr);
/* "TEXT", "INTEGER", "REAL" or "BOOLEAN". */
const char *vsFieldTypeName(int eType);

/*
** Validate the JSON text z[0..n) (z[n]==0) into *pJson. SQLITE_OK, or
** SQLITE_ERROR with *pzErr = "payloads: invalid JSON at byte N: ...",
** or SQLITE_NOMEM when memory ran out; *pJson is then clear. Safe to call
** from any thread.
*/
int vsJsonParse(const char *z, int n, VsJson *pJson, char **pzErr);
/*
** The nField declared fields of payload pJson into aVal. TEXT values
** point into pJson: bind them before vsJsonClear. A value of the wrong
** type gives SQLITE_ERROR with *pzErr = "payloads: field <name>: ...".
*/
int vsJsonExtract(const VsJson *pJson, const VsField *aField, int nField,
                  VsFieldValue *aVal, char **pzErr);
/* Free the tree; harmless on a clear or zeroed VsJson. */
void vsJsonClear(VsJson *pJson);

/* ---- ids.c ----------------------------------------------------------- */

/*
** Read an id (0 ..= VS_MAX_ID) from pVal. NULL is refused here: callers
** that assign the next id handle NULL before calling. On error returns
** SQLITE_MISMATCH with *pzErr = "<zWho>: id ...: got ...".
*/
int vsIdFromValue(sqlite3_value *pVal, const char *zWho, i64 *piId,
                  char **pzErr);
/*
** The id a row inserted without one gets: one past iMaxId, the table's
** largest id (-1 when it is empty: then 1). SQLITE_FULL with *pzErr set
** when iMaxId is the largest id there is.
*/
int vsIdNext(i64 iMaxId, const char *zWho, i64 *piId, char **pzErr);
/* The message of an insert whose id is taken, as SQLite words it for a
** rowid table: "UNIQUE constraint failed: <zTable>.id". */
char *vsIdUniqueError(const char *zTable);

/* ---- conn.c ---------------------------------------------------------- */

/*
** State a connection's modules share: tables dropped in a transaction
** whose side files await the outcome, and the in-memory stores of temp
** and :memory: tables. Created by the entry point, freed when the
** connection closes (sqlite3_create_module_v2's destructor).
*/
typedef struct VsConn VsConn;
typedef struct VsFile VsFile;

typedef struct VsPending VsPending;
typedef struct VecState VecState;

VsConn *vsConnNew(sqlite3 *db);
void vsConnRef(VsConn *p);
void vsConnUnref(void *p);
sqlite3 *vsConnDb(VsConn *p);
/* Heads of the connection's lists: owners with pending inserts
** (pending.c) and the shared state of its `vectors` tables (vecstate.c). */
VsPending **vsConnPendingList(VsConn *p);
VecState **vsConnVecStates(VsConn *p);
/* Remember that the side file zPath (0: the in-memory store) of table
** zIdent is being dropped (bCreated: a table created in this
** transaction); it goes when the drop commits, through veles_txn's
** xCommit, or else once settling finds it committed. Called by xDestroy. */
int vsConnDeferUnlink(VsConn *p, const char *zSchema, const char *zIdent,
                      const char *zPath, int bCreated);
/* Settle the deferred unlinks veles_txn does not track, if the
** connection is outside a transaction. */
void vsConnSettle(VsConn *p);
/* The in-memory store of a temp/:memory: table, kept across reconnects. */
VsFile *vsConnMemFile(VsConn *p, const char *zIdent);
int vsConnAddMemFile(VsConn *p, const char *zIdent, VsFile *pFile);
void vsConnDropMemFile(VsConn *p, const char *zIdent);
/* Put pFile in the place of the store of table zIdent; returns the one it
** replaces (the caller closes it), 0 when there was none. */
VsFile *vsConnSwapMemFile(VsConn *p, const char *zIdent, VsFile *pFile);
/* The connection's veles_threads() setting: 0 (automatic) to 64, read
** and set on the connection's own thread. */
int vsConnThreads(VsConn *p);
void vsConnSetThreads(VsConn *p, int nThread);

/* ---- vtaberr.c ------------------------------------------------------- */
/* Replace the table's error message (printf style). */
void vsVtabSetError(sqlite3_vtab *pVtab, const char *zFormat, ...);
void vsVtabSetErrorV(sqlite3_vtab *pVtab, const char *zFormat, va_list ap);
/* Take over zErr (from a lower layer) as the table's message; a 0 zErr
** leaves the message as it is. Returns rc. */
int vsVtabAdoptError(sqlite3_vtab *pVtab, int rc, char *zErr);

/* ---- check.c --------------------------------------------------------- */

/*
** Check table zTable of schema zSchema (either module). *pzReport gets 0
** when all is well, else the problems, one per line (sqlite3_free it).
** SQLITE_NOTFOUND when it is not a veles table. pConn is the connection's
** veles state (its open transaction may have compacted the table).
*/
int vsCheckTable(sqlite3 *db, VsConn *pConn, const char *zSchema,
                 const char *zTable, int bShadow, char **pzReport);
int vsCheckRegister(sqlite3 *db, VsConn *pConn, int bRemove);

/* ---- hybrid.c -------------------------------------------------------- */
/* The table-valued function veles_hybrid (full-text and vector search
** fused by reciprocal rank); bRemove takes it back. */
int vsHybridRegister(sqlite3 *db, int bRemove);

/*
** SQLite 3.44 added xIntegrity after xShadowName (module iVersion 4), and
** PRAGMA integrity_check calls it. The headers this builds with may be
** older, so a module is declared as this struct: the same layout with the
** one more member. Older SQLite reads only the members it knows.
*/
typedef struct VsModule VsModule;
struct VsModule {
  sqlite3_module base;
  int (*xIntegrity)(sqlite3_vtab *pVtab, const char *zSchema,
                    const char *zTabName, int mFlags, char **pzErr);
};
/* xIntegrity for either module, given the table's connection. */
int vsCheckIntegrity(sqlite3 *db, VsConn *pConn, const char *zSchema,
                     const char *zTable, char **pzErr);

/* ---- registration ----------------------------------------------------
** Functions are registered with bRemove==0, and removed again (bRemove=1)
** when loading fails halfway: nothing may point into a library that
** SQLite unloads after a failed sqlite3_veles_init(). */
int vsVectorsRegister(sqlite3 *db, VsConn *pConn);
/* The internal eponymous table veles_txn (conn.c); bRemove=1 takes it
** back. */
int vsConnRegister(sqlite3 *db, VsConn *pConn, int bRemove);
int vsPayloadsRegister(sqlite3 *db, VsConn *pConn);
/* A free name for index i of payloads table zTable: <t>_data_f<i> for
** field i (cKind 'f'), <t>_data_c<i> for composite index i ('c'), or
** that name with _<k> appended when a renamed table holds it. */
int vsPayIndexName(sqlite3 *db, const char *zSchema, const char *zTable,
                   char cKind, int i, char **pzIdx);
/* veles_add_field(table, 'name TYPE') (payfield.c). */
void vsAddFieldFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv);
/* 'schema.table' or 'table' (schema main): *pzSchema (sqlite3_free it)
** and *pzTable, which points into zArg. SQLITE_NOMEM or SQLITE_OK. */
int vsSplitTableName(const char *zArg, char **pzSchema, const char **pzTable);
/* 1 when zTable of zSchema is a virtual table of module zModule (names
** compared as SQLite does, without regard to case). */
int vsSchemaModule(sqlite3 *db, const char *zSchema, const char *zTable,
                   const char *zModule);
int vsFunctionsRegister(sqlite3 *db, int bRemove);

#endif /* VELES_INT_H */
