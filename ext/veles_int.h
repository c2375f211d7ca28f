/*
** Internal header shared by the extension's source files.
**
** Every cross-file name is declared here or in the header of the idea it
** belongs to, and carries its file's prefix:
**   vsVector*   vecvalue.c   parse and check f32 vector values
**   vsId*       ids.c        id rules and their messages (both modules)
**   vsConn*     conn.c       per-connection state shared by the modules
**   vsPending*  pending.c    pending inserts (pending.h; both modules)
**   vsShadow*   shadow.c     shadow-table statements, rename, drop (shadow.h)
**   vsFile*     sidefile.c   the native side file (sidefile.h), with its
**   vsWriter*   writer.c     background writer (writer.h)
**   vsSlots*    slotmap.c    slot allocator, slot -> id array, undo log
**   vsVectors*, vsConfig*, vsState*, vsMatch*
**               vectors.c, vecconfig.c, vecstate.c, vecsearch.c: the
**               `vectors` virtual table (vectors.h)
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

/* Length of the JSON number (RFC 8259 grammar) at z, 0 when z does not
** start with one. */
int vsJsonNumberLength(const char *z);
/* JSON white space: space, tab, newline, carriage return. */
int vsJsonIsSpace(char c);
/* A value's type for messages: "an integer", "a real", "text", "a blob",
** "NULL". */
const char *vsTypeName(int eType);

/* Render a vector as JSON text, e.g. "[1.0,-2.5]"; sqlite3_free() it. */
char *vsVectorToJson(const float *a, int n);

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
** zIdent is being dropped; it goes once the drop is known to have
** committed. */
int vsConnDeferUnlink(VsConn *p, const char *zSchema, const char *zIdent,
                      const char *zPath);
/* Settle deferred unlinks if the connection is outside a transaction. */
void vsConnSettle(VsConn *p);
/* The in-memory store of a temp/:memory: table, kept across reconnects. */
VsFile *vsConnMemFile(VsConn *p, const char *zIdent);
int vsConnAddMemFile(VsConn *p, const char *zIdent, VsFile *pFile);
void vsConnDropMemFile(VsConn *p, const char *zIdent);
/* The connection's veles_threads() setting: 0 (automatic) to 64. Read and
** set on the connection's own thread; relaxed atomics all the same. */
int vsConnThreads(VsConn *p);
void vsConnSetThreads(VsConn *p, int nThread);

/* ---- check.c --------------------------------------------------------- */

/*
** Check table zTable of schema zSchema (either module). *pzReport gets 0
** when all is well, else the problems, one per line (sqlite3_free it).
** SQLITE_NOTFOUND when it is not a veles table.
*/
int vsCheckTable(sqlite3 *db, const char *zSchema, const char *zTable,
                 int bShadow, char **pzReport);
int vsCheckRegister(sqlite3 *db, int bRemove);

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
int vsCheckIntegrity(sqlite3 *db, const char *zSchema, const char *zTable,
                     char **pzErr);

/* ---- registration ----------------------------------------------------
** Functions are registered with bRemove==0, and removed again (bRemove=1)
** when loading fails halfway: nothing may point into a library that
** SQLite unloads after a failed sqlite3_veles_init(). */
int vsVectorsRegister(sqlite3 *db, VsConn *pConn);
int vsPayloadsRegister(sqlite3 *db, VsConn *pConn);
int vsFunctionsRegister(sqlite3 *db, int bRemove);

#endif /* VELES_INT_H */
