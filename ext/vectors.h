/*
** The `vectors` module's own header: the table, its per-connection state
** and the cursor, and every name its files share:
**   vsVectors*  vectors.c    the virtual-table methods, writes, errors
**   vsConfig*   vecconfig.c  CREATE options and <table>_config
**   vsState*    vecstate.c   a table's state on a connection: slots,
**                            transactions, pending map rows, statements
**   vsBind*     vecbind.c    the side file's binding to its database
**   vsCopy*     veccopy.c    the database's copy of the vectors, and the
**                            side file's rebuild from it
**   vsCompact*  veccompact.c the 'compact' command: the side file rewritten
**                            to the live slots
**   vsUpgrade*  vecupgrade.c a format 1 table made format 2 with the copy
**   vsMatch*    vecsearch.c  search (vec MATCH ?): plan, filter, stream
**   vsBackup*   backup.c     veles_backup(): the database and its side
**                            files, of one snapshot
** The scan itself is search.c; the side file sidefile.c.
*/
#ifndef VECTORS_H
#define VECTORS_H
#include "veles_int.h"
#include "sidefile.h"
#include "slotmap.h"
#include "search.h"
#include "quant.h"
#include "ivf.h"
#include "shadow.h"
#include "pending.h"

#define VEC_COLUMN_ID  0
#define VEC_COLUMN_VEC 1
#define VEC_COLUMN_DISTANCE 2   /* HIDDEN: a search's distance */
#define VEC_COLUMN_K   3        /* HIDDEN: a search's k */
#define VEC_COLUMN_RESCORE 4    /* HIDDEN: a search's rescore factor (quant.c) */
#define VEC_COLUMN_PROBE 5      /* HIDDEN: a search's lists to scan (ivf.c) */
#define VEC_COLUMN_CMD 6        /* HIDDEN, named like the table: commands,
                                ** INSERT INTO t(t) VALUES('compact') */

#define VEC_FORMAT 2            /* the <table>_config 'format' this writes:
                                ** 2 binds the side file (vecbind.c); 1 is
                                ** read as it always was */

/* The database's copy is kept in chunks of at most this many bytes
** (veccopy.c), named by the row 'chunk' of <table>_config; a format 2
** table without that row was made with 256 KiB chunks. */
#define VS_CHUNK_BYTES       (64*1024)
#define VS_CHUNK_BYTES_OLD   (256*1024)
#define VS_CHUNK_BYTES_MIN   4096
#define VS_CHUNK_BYTES_MAX   (1024*1024)

/* Query plans chosen by xBestIndex (idxNum bits) */
#define VEC_PLAN_EQ     0x01    /* id = ?: one lookup */
#define VEC_PLAN_GT     0x02    /* id > ? */
#define VEC_PLAN_GE     0x04    /* id >= ? */
#define VEC_PLAN_LT     0x08    /* id < ? */
#define VEC_PLAN_LE     0x10    /* id <= ? */
#define VEC_PLAN_DESC   0x20    /* ORDER BY id DESC */
#define VEC_PLAN_MATCH  0x40    /* vec MATCH ?: a search (vecsearch.c) */
#define VEC_PLAN_K      0x80    /* ... AND k = ? */
#define VEC_PLAN_LIMIT  0x100   /* ... LIMIT ? (ORDER BY distance or none) */
#define VEC_PLAN_OFFSET 0x200   /* ... OFFSET ? */
#define VEC_PLAN_IN     0x400   /* ... AND id IN (...), all values at once */
#define VEC_PLAN_STREAM 0x800   /* ... ORDER BY distance, no row count seen */
#define VEC_PLAN_RESCORE 0x1000 /* ... AND rescore = ? */
#define VEC_PLAN_PROBE  0x2000  /* ... AND probe = ? */

/* Cached statements on the shadow tables (vecstate.c has their SQL) */
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
  STMT_INSERT_MANY,             /* INSERT INTO map VALUES (?,?) x VS_PENDING_MAX */
  STMT_GETCOMMIT,               /* SELECT k, v FROM config: commit, nonce,
                                ** slots */
  STMT_SETCOMMIT,               /* UPDATE config: commit, nonce, slots */
  STMT_CHUNKLEN,                /* SELECT length(data) FROM chunks */
  STMT_CHUNKPUT,                /* INSERT OR REPLACE INTO chunks */
  STMT_COUNT
};

typedef struct VsDbCommit VsDbCommit;
typedef struct VecTable VecTable;
typedef struct VecCursor VecCursor;
typedef struct VsRun VsRun;

/* A table's index options: index=ivf|none, probe=N. */
typedef struct VsIndexOpt VsIndexOpt;
struct VsIndexOpt {
  int eIndex;                   /* VS_INDEX_NONE or VS_INDEX_IVF */
  int nProbe;                   /* with an index: the default probe */
};
#define VS_INDEX_NONE 0
#define VS_INDEX_IVF  1

/* The database's half of a side file's binding, as one snapshot sees it
** in <table>_config (vecbind.c). */
struct VsDbCommit {
  int iFormat;                  /* the table's format (1: no binding) */
  int bCopy;                    /* ... and db_copy */
  int nChunkBytes;              /* ... and the copy's chunk size */
  i64 iCommit;                  /* the table's newest commit */
  i64 iNonce;                   /* the random number naming it */
  i64 nSlot;                    /* slots the side file held after it; a
                                ** file with fewer is truncated (0: not
                                ** checked: db_copy=off, or not recorded) */
};

/* Consecutive slots written by a transaction (veccopy.c). */
struct VsRun {
  i64 iFirst;                   /* the first slot */
  i64 nSlot;                    /* how many */
};

/*
** What a connection knows of one `vectors` table, shared by every
** instance (sqlite3_vtab) SQLite makes of the table on that connection:
** it reconnects a table after a schema change, even in the middle of a
** transaction, and the old instance stays in the transaction until it
** ends. One state means one allocator, one undo log, one set of pending
** rows, whichever instance SQLite calls. Found on the connection's list
** by schema and identifier (vecstate.c).
*/
struct VecState {
  VecState *pNext;              /* next on the connection's list */
  int nRef;                     /* instances using this state */
  VsConn *pConn;                /* per-connection state */
  VsShadow sh;                  /* schema, table name, cached statements */
  char zIdent[VS_IDENT_LEN+1];  /* identifier: names the side file */
  int nDim;                     /* elements per vector; 0 = not fixed yet */
  int eMetric;                  /* 0 l2, 1 cosine, 2 dot */
  VsFile *pFile;                /* the side file, or 0 when unusable */
  int bMemory;                  /* pFile is an in-memory store (conn.c's) */
  char *zBroken;                /* why pFile is unusable, or 0 */
  VsSlots slots;                /* allocator and slot -> id array */
  int bSlotsValid;              /* slots reflects data_version below */
  int bSlotsAtBegin;            /* ... and was rebuilt by xBegin, not a read */
  i64 iDataVersion;             /* PRAGMA data_version slots was built at */
  int bInTxn;                   /* between xBegin and xCommit/xRollback */
  int bListed;                  /* on the connection's list (not damaged) */
  int iFormat;                  /* <table>_config 'format': 1 or 2 */
  int bCopy;                    /* the database keeps a copy (veccopy.c) */
  int nChunkBytes;              /* ... in chunks of at most this many bytes */
  char *zStale;                 /* why the side file cannot be used, until a
                                ** rebuild from the copy (pFile is 0) */
  VsRun *aRun;                  /* slots this transaction wrote, for the */
  int nRun, nRunAlloc;          /* ... copy */
  int bDirty;                   /* this transaction changed the table */
  int bRebuild;                 /* veles_rebuild() asked for a rebuild */
  int bBound;                   /* the side file was checked (vecbind.c) ... */
  unsigned iBindVersion;        /* ... at this SQLITE_FCNTL_DATA_VERSION */
  i64 iCommit, iNonce;          /* the database's commit and nonce, checked */
  i64 iCommitNext, iNonceNext;  /* ... and those xSync wrote */
  int bWal;                     /* the open transaction runs in WAL mode */
  int bSync;                    /* fdatasync at xSync (synchronous != OFF) */
  int bLazySync;                /* ... but not this commit's (vecbind.c) */
  int bWriteReady;              /* this transaction may write the side file: */
  int bReuseReady;              /* ... and into reused slots (vecbind.c) */
  int bCreated;                 /* side file created by an uncommitted CREATE */
  VsPending pending;            /* map rows not written yet (pending.c) */
  i64 aPendSlot[VS_PENDING_MAX];/* ... their slots */
  VsNorms norms;                /* cosine: cached norms per slot (search.c) */
  VsCodes codes;                /* int8 codes per slot, made by quantized
                                ** searches (quant.c) */
  VsIvf ivf;                    /* the IVF index, made by searches with a
                                ** probe (ivf.c) or loaded (ivfstore.c) */
  VsIndexOpt idx;               /* index=, probe= (vecconfig.c) */
  i64 iIvfLoaded;               /* iDataVersion+1 when the stored index
                                ** was last looked for (ivfstore.c) */
  /* a compaction by the open transaction (veccompact.c): pFile and slots
  ** are the compacted ones; these are what they replaced */
  VsFile *pFileBefore;          /* 0: the transaction did not compact */
  VsSlots slotsBefore;
  int nSaveBefore;              /* savepoint levels open when it compacted */
  int nSaveFailed;              /* a compaction failed part-way with these
                                ** levels open (-1: none): its map rows may
                                ** be half moved, so COMMIT is refused until
                                ** a rollback below them */
  int nSaveDropped;             /* DROP TABLE ran in the open transaction
                                ** with these levels open (-1: not dropped):
                                ** an instance SQLite made before the drop
                                ** still gets xSync and xCommit, and must not
                                ** write: the table's names may be a new
                                ** table's by then */
  int nCursor;                  /* open cursors (a compaction moves slots) */
};

struct VecTable {
  sqlite3_vtab base;
  sqlite3 *db;
  VsConn *pConn;                /* per-connection state */
  VecState *pS;                 /* the table's state on this connection */
  char *zName;                  /* table name, for messages */
  float *aScratch;              /* one vector, for JSON input */
  int nScratch;                 /* floats aScratch holds */
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
  i64 iRescore;                 /* the rescore column's value; -1 = NULL */
  i64 iProbe;                   /* the probe column's value; -1 = NULL */
  /* ... and what it was computed from, for a streaming search's reruns */
  float *aQuery;                /* the query (nDim floats) */
  i64 *aIds;                    /* prefilter ids, ascending, distinct */
  i64 nIds;
  int bFilter;                  /* aIds applies (it may be empty) */
  int bStream;                  /* rerun with a larger nWant when done */
  i64 iMinId, iMaxId;           /* id bounds */
  i64 nWant;                    /* rows asked of the last run */
};

/* ---- vectors.c ------------------------------------------------------- */
/* Errors reported on the table, "vectors: table <name>: ..." */
void vsVectorsSetError(VecTable *p, const char *zFormat, ...);
/* Take over zErr from a lower layer, prefixed with the table's name. */
int vsVectorsTakeError(VecTable *p, int rc, char *zErr);
/* The connection's message after a failed shadow-table statement. */
int vsVectorsDbError(VecTable *p, int rc);
/* Take over zErr as it is (or keep the message when it is 0). */
int vsVectorsAdoptError(VecTable *p, int rc, char *zErr);
/* The integer pVal equals, if any: only then can an id equal pVal. */
int vsVectorsExactInteger(sqlite3_value *pVal, i64 *piOut);
/* The id bounds a plan may carry: idxNum bits and SQL operators. */
typedef struct VecIdBound VecIdBound;
struct VecIdBound { int bit; const char *zOp; };
extern const VecIdBound vsVectorsIdBound[4];
int vsVectorsPlanIdBounds(sqlite3_index_info *pInfo, const int *aRange,
                          int *pnArg, double *prCost, double rDiv);

/* ---- vecconfig.c ----------------------------------------------------- */
/* Parse the CREATE arguments argv[3..] (dim=N, metric=...). */
int vsConfigParse(int argc, const char *const *argv, int *pnDim,
                  int *peMetric, int *pbCopy, VsIndexOpt *pIdx,
                  char **pzErr);
/* Create the shadow tables of a new table and record its settings. */
int vsConfigCreate(sqlite3 *db, const char *zSchema, const char *zName,
                   const char *zIdent, int nDim, int eMetric, int bCopy,
                   const VsIndexOpt *pIdx, i64 iNonce, char **pzErr);
/* Read and check the settings of an existing table from <table>_config.
** SQLITE_CORRUPT_VTAB: *pzErr says what is damaged, without the
** "vectors: table <name>: " prefix; zIdent is "" unless it is valid. */
int vsConfigRead(sqlite3 *db, const char *zSchema, const char *zName,
                 char *zIdent, int *pnDim, int *peMetric, int *piFormat,
                 int *pbCopy, int *pnChunkBytes, VsIndexOpt *pIdx,
                 char **pzErr);
/* Whether n is a chunk size <table>_config may name (a power of two from
** VS_CHUNK_BYTES_MIN to VS_CHUNK_BYTES_MAX). */
int vsConfigChunkBytesOk(i64 n);
/* Make a format 1 table format 2 with the copy on (vecupgrade.c): create
** <table>_chunks, add the rows commit (0), nonce (iNonce), slots (nSlot)
** and copy (1), set format. In the caller's transaction. */
int vsConfigUpgrade(sqlite3 *db, const char *zSchema, const char *zName,
                    i64 iNonce, i64 nSlot, char **pzErr);
/* The side file's path for identifier zIdent, or 0 with *pbMemory set
** when the database has no file (temp, :memory:). */
int vsConfigSideFile(sqlite3 *db, const char *zSchema, const char *zIdent,
                     char **pzPath, int *pbMemory);

/* ---- vecstate.c ------------------------------------------------------ */
/* The state of table zName (identifier zIdent) of zSchema: found on the
** connection or made (bCreate: by xCreate, which creates the side file;
** else the side file is opened). p->pS gets it. A table whose settings
** are damaged gets a state of its own, with no file: zBroken says why
** (this takes it over). */
int vsStateAcquire(VecTable *p, const char *zSchema, const char *zName,
                   const char *zIdent, int nDim, int eMetric, int iFormat,
                   int bCopy, int nChunkBytes, i64 iNonce, int bCreate,
                   char *zBroken, char **pzErr);
/* Check the side file against this snapshot, once per data_version. */
int vsStateBind(VecTable *p);
void vsStateUnref(VecState *pS);
/* xShadowName: config and map. */
/* The VecState of zSchema.zName on this connection, connected by
** preparing *ppCount (SELECT count(*) FROM the table); *ppS is 0 when it is
** not a vectors table. Returns the prepare's code (no such table ...). */
int vsStateFind(sqlite3 *db, VsConn *pConn, const char *zSchema,
                const char *zName, sqlite3_stmt **ppCount, VecState **ppS);
int vsStateIsShadowName(const char *zSuffix);
int vsStateStmt(VecTable *p, int eStmt, sqlite3_stmt **ppStmt);
int vsStateStepInt(VecTable *p, sqlite3_stmt *pStmt, i64 *piOut, int *pbRow);
int vsStateRun(VecTable *p, int eStmt, i64 iA, i64 iB);
int vsStateUsable(VecTable *p);
int vsStateRefreshDim(VecTable *p);
int vsStateRefreshSlots(VecTable *p, int bDelay, i64 iSeq);
int vsStateFlush(VecTable *p);
int vsStateKnowMaxId(VecTable *p);
int vsStateLookup(VecTable *p, i64 iId, i64 *piSlot, int *pbFound);
int vsStateMapDamaged(VecTable *p, i64 iId, i64 iSlot);
/* Slot iSlot (every slot) may hold other bytes now: forget what the
** norms, codes and IVF index derived from them. */
void vsStateForgetSlot(VecState *pS, i64 iSlot);
void vsStateForgetSlots(VecState *pS);
void vsStateRestoreDim(VecState *pS);
int vsStateBegin(VecTable *p);
int vsStateSync(VecTable *p);
int vsStateCommit(VecTable *p);
int vsStateRollback(VecTable *p);
int vsStateSavepoint(VecTable *p, int iSavepoint);
int vsStateReleaseSavepoint(VecTable *p, int iSavepoint);
int vsStateRollbackTo(VecTable *p, int iSavepoint);
/* Keep the map row (iId, iSlot) for later: iId is above every id. */
int vsStateAddPending(VecTable *p, i64 iId, i64 iSlot);

/* ---- vecbind.c ------------------------------------------------------- */
/* Is the side file right for this connection's snapshot? */
int vsBindCheck(VecTable *p);
/* The side file open here was replaced (a rebuild or compaction by
** another connection) or removed: open what its path names now. *pzWhy
** says why there is none (pS->pFile is 0 then). */
int vsBindReopen(VecTable *p, char **pzWhy);
/* May a snapshot whose database says pC use the side file pFile?
** SQLITE_OK, or SQLITE_CORRUPT_VTAB (an I/O error, NOMEM) with *pzErr
** saying why (no "vectors: table" prefix). */
int vsBindVerify(VsFile *pFile, const VsDbCommit *pC, char **pzErr);
/* Before a slot of the side file is written: the binding first gets the
** boot's mark (LAZY SYNC) and, for a reused slot, the raised floor
** (WRITE ORDER in vecbind.c). Cheap once done in a transaction. */
int vsBindBeforeWrite(VecTable *p);
/* xSync of a transaction that changed the table: a new commit. */
int vsBindCommit(VecTable *p);
/* The binding of a new side file: commit 0, named iNonce. */
int vsBindCreate(VsFile *pFile, i64 iNonce, i64 iBoot, char **pzErr);

/* ---- veccopy.c ------------------------------------------------------ */
/* Slots per chunk of the copy for dimension nDim. */
i64 vsCopyChunkSlots(int nDim, int nChunkBytes);
/* Note that slot iSlot was written by this transaction. */
int vsCopyNote(VecState *pS, i64 iSlot);
/* xSync: write the noted slots into the copy. */
int vsCopySync(VecTable *p);
/* xCommit, xRollback: forget the noted slots. */
void vsCopyForget(VecState *pS);
/* The copy made again from slots 0..nSlot-1 of the side file alone (a
** compaction's new file: every row of <table>_chunks is replaced). */
int vsCopyRewrite(VecTable *p, i64 nSlot);
/* Make side file zPath again from the database's copy, for this
** connection's snapshot, whose database says pC; *ppNew is it, open. The
** caller holds the directory lock (vsFileLock). */
int vsCopyRebuildFile(VecTable *p, const VsDbCommit *pC, const char *zPath,
                      VsFile **ppNew);
/* The same for an in-memory working copy (pS->pFile, loaded in place). */
int vsCopyLoadMemory(VecTable *p, const VsDbCommit *pC);
/* SELECT veles_rebuild('table'): make the side file again from the copy
** (after veles_check found it damaged); returns the vectors it holds. */
void vsCopyRebuildFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv);

/* ---- veccompact.c --------------------------------------------------- */
/* INSERT INTO t(t) VALUES('compact'): rewrite the side file to the live
** slots, in the open transaction. */
int vsCompactRun(VecTable *p);
/* xCommit of a transaction that compacted: the new file takes the old
** one's place. Cannot fail (a failure leaves it for vsCompactFind). */
void vsCompactCommit(VecState *pS);
/* ROLLBACK, or ROLLBACK TO a level opened before the compaction: back to
** the file and slots it replaced. */
void vsCompactUndo(VecState *pS);
/* Side file zPath was refused for a snapshot whose database says pC: put
** in its place the file a committed compaction left beside it, if there is
** one (*ppNew, open; else 0). The caller holds the directory lock. */
int vsCompactFind(VecTable *p, const char *zPath, const VsDbCommit *pC,
                  VsFile **ppNew);
/* The path of the new file while the open transaction of pConn has
** compacted table zSchema.zName (on disk; its rows name that file's
** slots until the commit puts it in place), else 0. */
const char *vsCompactNewPath(VsConn *pConn, const char *zSchema,
                             const char *zName);

/* ---- backup.c -------------------------------------------------------- */
/* SELECT veles_backup('path'[, 'schema']): an online backup of the
** database with its side files, of one read snapshot. */
void vsBackupFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv);
/* ---- ivfstore.c ----------------------------------------------------- */
/* INSERT INTO t(t) VALUES('optimize'): build the IVF index afresh and
** store it in <table>_ivf, in the transaction. */
int vsIvfOptimize(VecTable *p);
/* Make pS->ivf the stored index, when there is one that is not damaged
** (a damaged one is logged and ignored); pSearch as for a search. */
int vsIvfStoreLoad(VecTable *p, const VsSearch *pSearch);
/* The header of the stored index (nList 0: none), checked against the
** table; SQLITE_CORRUPT_VTAB with *pzErr when it is damaged. */
typedef struct VsIvfStoreInfo VsIvfStoreInfo;
struct VsIvfStoreInfo {
  int nList;
  i64 nSlot, nBuilt, nBytes;
};
int vsIvfStoreInfo(sqlite3 *db, VecState *pS, VsIvfStoreInfo *pInfo,
                   char **pzErr);
/* The whole stored index checked (veles_check): SQLITE_CORRUPT_VTAB with
** *pzErr when it is damaged. */
int vsIvfStoreCheck(sqlite3 *db, const char *zSchema, const char *zName,
                    int nDim, int eMetric, char **pzErr);

/* ---- ivfstatus.c ---------------------------------------------------- */
/* Long work on the IVF index of p's table, between Begin and End: stopped
** by sqlite3_interrupt() (SQLITE_INTERRUPT from ivf.c) and reported to
** veles_index() on every connection of the process. */
typedef struct VsIvfWork VsIvfWork;
struct VsIvfWork {
  sqlite3 *db;
  VsIvf *pIvf;
  sqlite3_stmt *pPoll;          /* SELECT 1, prepared at the first poll */
  VecState *pS;                 /* the table, keying the report */
  void *pEntry;                 /* the process-wide report, once listed */
};
void vsIvfWorkBegin(VecTable *p, VsIvfWork *pWork);
void vsIvfWorkEnd(VsIvfWork *pWork);
/* SELECT veles_index('table'): its index state, as JSON. */
void vsIvfStatusFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv);

/* ---- vecupgrade.c ---------------------------------------------------- */
/* SELECT veles_upgrade('table'): a format 1 table becomes format 2 with
** the database's copy; returns the vectors the table holds. */
void vsUpgradeFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv);
/* A format 1 state whose database now says pC (format 2): follow the
** upgrade another statement or connection committed (the side file open
** here is of version 1: the binding check rebuilds it, or finds it
** rebuilt). */
void vsUpgradeFollow(VecState *pS, const VsDbCommit *pC);

/* ---- vecsearch.c ----------------------------------------------------- */
int vsMatchBestIndex(VecTable *p, sqlite3_index_info *pInfo, int iMatch,
                     int iK, int iRescore, int iProbe, int iLimit,
                     int iOffset, int iEq, const int *aRange);
int vsMatchFilter(VecCursor *pCur, int idxNum, sqlite3_value **argv);
int vsMatchNext(VecCursor *pCur);
void vsMatchReset(VecCursor *pCur);

#endif /* VECTORS_H */
