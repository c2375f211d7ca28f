/*
** An online backup of a database with the side files of its `vectors`
** tables, all of one read snapshot:
**
**   SELECT veles_backup('/backups/app.db');          -- the main database
**   SELECT veles_backup('/backups/aux.db', 'aux');   -- an attached one
**
** It returns the number of side files written beside the destination.
** Writers of other connections and processes go on meanwhile in WAL mode;
** in a rollback-journal mode their COMMIT waits for the backup (or gets
** SQLITE_BUSY), as it waits for any reader.
**
** HOW IT WORKS.
**   1. Refuse a destination that exists, and a connection whose open
**      transaction is a write transaction on the schema (below).
**   2. Take the read snapshot R: a statement on the schema is stepped to
**      its first row and held until the end, so every statement of this
**      connection, and the backup API, reads R (a read transaction that
**      is already open, in BEGIN ... , is R instead).
**   3. For each `vectors` table, read its settings and its half of the
**      binding (commit, nonce, slots) in R, open its side file and check
**      that the file holds R's vectors (vecbind.c's rule, the same a read
**      applies), and that it is long enough for every slot R references.
**   4. Copy the database's pages with SQLite's backup API from this
**      connection into a fresh connection on "<path>-veles-backup".
**   5. For each side file, write "<side file of path>-veles-backup": the
**      header, R's slots copied from the source file, and a binding to R
**      alone; fdatasync, rename into place, fsync the directory.
**   6. Release R; close the destination (its COMMIT synced it), give it
**      its final name with link() (which never replaces a file), unlink
**      the temporary name, fsync the directory.
** Between steps of 4 and 5 a trivial statement runs, so that
** sqlite3_interrupt() and a progress handler can stop the backup there.
** Any failure removes everything written (the temporary files and the
** side files already in place), so a half-done backup never exists under
** the destination's name: its side files are renamed into place before
** the database, and a side file without its database is inert (a crash
** between the two leaves orphans that the next backup to the same name
** replaces).
**
** WHY THE SIDE FILES' BYTES ARE R'S. Writers never write a slot that a
** committed state references (copy-on-write, vecstate.c): a commit after R
** writes only free slots or slots past the end, so every slot R references
** keeps its bytes until it is freed and then reused. Freed by a commit K
** after R, it is reused only when SQLite has restarted the WAL after K
** (WAL mode), which it does only when every reader uses the newest
** snapshot: never while R, older than K, is held. In a rollback-journal
** mode no commit at all happens while R is held. So step 3's check, done
** once under R, holds for the whole copy. Bytes of slots R does not
** reference may change under the copy; they are unreferenced in the
** destination too, garbage as in any side file.
**
** WHY THE DESTINATION'S BINDING IS RIGHT. The destination database is R's
** pages: its <table>_config says commit R, R's nonce, and R's file length
** (row 'slots'). Its side file gets commit = floor = R and a ring of
** (R, nonce) alone, and at least 'slots' slots: exactly what the rule asks
** of a file holding R's vectors (vecbind.c), claiming no other state
** (bytes of other states were not copied). Its first commit is R + 1 with
** a fresh nonce, so the source and the backup, which share R, part ways
** there: a side file of one is refused by the other after that.
**
** INSIDE A TRANSACTION. A read transaction (BEGIN, then reads) already
** holds a snapshot: the backup is of that snapshot. A write transaction
** on the schema (one that has written, or BEGIN IMMEDIATE) is refused:
** SQLite tells no more than that, and the backup API would read its
** uncommitted pages, whose vectors may still be in the write-behind buffer
** and whose commit number is not chosen yet (xSync picks it), and the
** backup would hold a state the database may never commit.
**
** TABLES WITH THE COPY (db_copy=on) get their side file copied too: the
** backup then opens without a rebuild (a restored backup may sit on a
** read-only disk, or be large), for the cost of writing those bytes once
** more. When their source file does not hold R (missing, stale, damaged),
** none is written: the destination rebuilds it from its own copy at the
** first use. A table without the copy needs its side file: a missing or
** stale one fails the backup with the read's message.
**
** NO WRITES OUTSIDE THE VFS. Under a VFS other than SQLite's unix ones,
** or for temp and :memory: databases, a table's vectors live in this
** connection's memory (vecconfig.c). Tables with the copy need nothing
** more than the backup API; a table without it is refused (its vectors
** are in no file and no page). The destination is opened with the default
** VFS; when that is not a unix one, no side file is written beside it
** either (tables without the copy are refused).
*/
#include "vectors.h"
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BK_SUFFIX     "-veles-backup"   /* temporary names: <final>BK_SUFFIX */
#define BK_PAGES      64                /* database pages per backup step */
#define BK_COPY_BYTES (1024*1024)       /* side file bytes per copy step */

typedef struct BkTable BkTable;
typedef struct Backup Backup;

/* One `vectors` table of the schema, as snapshot R sees it. */
struct BkTable {
  char *zName;                  /* table name */
  char zIdent[VS_IDENT_LEN+1];  /* identifier: names its side files */
  int nDim;                     /* elements per vector, 0 = not fixed */
  int iFormat;                  /* 1, or 2 with the binding */
  int bCopy;                    /* db_copy=on */
  VsDbCommit c;                 /* R's commit, nonce, slots ('slots' < 0:
                                ** not recorded) */
  i64 nSlot;                    /* slots the destination file holds: R's
                                ** length */
  VsFile *pSrc;                 /* source side file; 0: none is copied */
  char *zDest;                  /* destination side file, final name */
  char *zTemp;                  /* ... and its temporary name */
  int bPlaced;                  /* zDest was written (removed on failure) */
};

struct Backup {
  sqlite3 *db;                  /* the source connection */
  const char *zSchema;          /* the schema backed up */
  const char *zPath;            /* the destination, as given */
  sqlite3_stmt *pSnap;          /* held at its first row: snapshot R */
  sqlite3_stmt *pTick;          /* SELECT 1, run between steps */
  BkTable *aTab;                /* the vectors tables */
  int nTab;
  char *zTemp;                  /* the destination's temporary name */
  char *zFinal;                 /* its full final name, as SQLite sees it */
  sqlite3 *pDest;               /* connection on zTemp */
  int bDestFiles;               /* side files may be written beside it */
  int nWritten;                 /* side files written */
  int rc;
  char *zErr;                   /* "veles_backup: ..." */
};

/* Record the first error; returns rc. */
static int bkError(Backup *p, int rc, const char *zFormat, ...){
  va_list ap;
  assert( rc!=SQLITE_OK );
  if( p->rc==SQLITE_OK ){
    char *z;
    va_start(ap, zFormat);
    z = sqlite3_vmprintf(zFormat, ap);
    va_end(ap);
    p->zErr = z ? sqlite3_mprintf("veles_backup: %z", z) : 0;
    p->rc = p->zErr ? rc : SQLITE_NOMEM;
  }
  return p->rc;
}

/* Take over zErr of a lower layer (sidefile.c, vecbind.c). */
static int bkTake(Backup *p, int rc, const char *zTable, char *zErr){
  if( zErr==0 ){
    bkError(p, rc, "table %s: %s", zTable, sqlite3_errstr(rc));
  }else{
    bkError(p, rc, "table %s: %s", zTable, zErr);
  }
  sqlite3_free(zErr);
  return p->rc;
}

/* The source connection's error after a failed statement. */
static int bkDbError(Backup *p, int rc){
  if( rc==SQLITE_NOMEM ) return bkError(p, rc, "out of memory");
  return bkError(p, rc, "%s", sqlite3_errmsg(p->db));
}

/* Run SELECT 1 on the source connection: sqlite3_interrupt() and a
** progress handler stop the backup here. */
static int bkTick(Backup *p){
  int rc = sqlite3_step(p->pTick);
  sqlite3_reset(p->pTick);
  if( rc==SQLITE_ROW ) return SQLITE_OK;
  if( rc==SQLITE_INTERRUPT ) return bkError(p, rc, "interrupted");
  return bkDbError(p, rc);
}

/* Take snapshot R (step 2). */
static int bkSnapshot(Backup *p){
  char *zSql = sqlite3_mprintf("SELECT count(*) FROM \"%w\".sqlite_schema",
                               p->zSchema);
  int rc;
  if( zSql==0 ) return bkError(p, SQLITE_NOMEM, "out of memory");
  rc = sqlite3_prepare_v2(p->db, zSql, -1, &p->pSnap, 0);
  sqlite3_free(zSql);
  if( rc==SQLITE_OK ) rc = sqlite3_prepare_v2(p->db, "SELECT 1", -1,
                                              &p->pTick, 0);
  if( rc==SQLITE_OK ){
    rc = sqlite3_step(p->pSnap);
    if( rc==SQLITE_ROW ) return SQLITE_OK;
    if( rc==SQLITE_INTERRUPT ) return bkError(p, rc, "interrupted");
  }
  return bkDbError(p, rc);
}

/* An integer-valued query on the source with one text parameter (or
** none); *piOut is left alone when it gives no row or NULL. */
static int bkInt(Backup *p, const char *zSql, i64 *piOut){
  sqlite3_stmt *pStmt = 0;
  int rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
  if( rc==SQLITE_OK ){
    rc = sqlite3_step(pStmt);
    if( rc==SQLITE_ROW ){
      if( sqlite3_column_type(pStmt, 0)!=SQLITE_NULL ){
        *piOut = sqlite3_column_int64(pStmt, 0);
      }
      rc = SQLITE_OK;
    }else if( rc==SQLITE_DONE ){
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(pStmt);
  return rc ? bkDbError(p, rc) : SQLITE_OK;
}

/* R's half of the binding of table t (format 2). */
static int bkReadCommit(Backup *p, BkTable *t){
  static const char *const azKey[] = { "commit", "nonce", "slots" };
  i64 *aOut[3];
  int i;
  aOut[0] = &t->c.iCommit;
  aOut[1] = &t->c.iNonce;
  aOut[2] = &t->c.nSlot;
  for(i=0; i<3; i++){
    char *zSql = sqlite3_mprintf("SELECT v FROM \"%w\".\"%w_config\" "
                                 "WHERE k='%s'", p->zSchema, t->zName,
                                 azKey[i]);
    if( zSql==0 ) return bkError(p, SQLITE_NOMEM, "out of memory");
    bkInt(p, zSql, aOut[i]);
    sqlite3_free(zSql);
    if( p->rc ) return p->rc;
  }
  if( t->c.iCommit<0 ){
    return bkError(p, SQLITE_CORRUPT_VTAB, "table %s: its commit number in "
                   "%s_config is damaged", t->zName, t->zName);
  }
  return SQLITE_OK;
}

/* Open table t's side file and check that it holds R's vectors (step 3).
** A file that does not is left out for a table with the copy (the
** destination rebuilds it) and fails the backup for one without. */
static int bkOpenSource(Backup *p, BkTable *t, const char *zPath){
  i64 iMax = -1, nFile = 0;
  char *zWhy = 0;
  int rc;
  rc = vsFileOpen(zPath, t->nDim, t->zIdent, t->iFormat, &t->pSrc, &zWhy);
  if( rc==SQLITE_OK && t->iFormat>=2 ){
    VsDbCommit c = t->c;
    /* as vecbind.c reads it: the length is checked with the copy only */
    if( !t->bCopy || c.nSlot<0 ) c.nSlot = 0;
    rc = vsBindVerify(t->pSrc, &c, &zWhy);
  }
  if( rc==SQLITE_OK ) rc = vsFileSlotCount(t->pSrc, &nFile, &zWhy);
  if( rc==SQLITE_OK && (t->c.nSlot<0 || nFile<t->c.nSlot) ){
    /* shorter than R left it (db_copy=off), or R's length not recorded
    ** (a table older than the row): is every slot R references there? */
    char *zSql = sqlite3_mprintf("SELECT max(slot) FROM \"%w\".\"%w_map\"",
                                 p->zSchema, t->zName);
    if( zSql==0 ){
      vsFileClose(t->pSrc);
      t->pSrc = 0;
      return bkError(p, SQLITE_NOMEM, "out of memory");
    }
    bkInt(p, zSql, &iMax);
    sqlite3_free(zSql);
    if( p->rc ){
      vsFileClose(t->pSrc);
      t->pSrc = 0;
      return p->rc;
    }
    if( nFile<=iMax ){
      zWhy = sqlite3_mprintf("side file %s is truncated: it holds %lld "
                             "slots, slot %lld is referenced", zPath, nFile,
                             iMax);
      rc = zWhy ? SQLITE_CORRUPT_VTAB : SQLITE_NOMEM;
    }
  }
  if( rc==SQLITE_OK ){
    /* R's length: every slot R references, and what 'slots' says; a
    ** longer file holds what later commits wrote */
    t->nSlot = t->c.nSlot>iMax+1 ? t->c.nSlot : iMax+1;
    return SQLITE_OK;
  }
  vsFileClose(t->pSrc);
  t->pSrc = 0;
  if( rc==SQLITE_CORRUPT_VTAB && t->bCopy ){
    sqlite3_free(zWhy);       /* the destination rebuilds it from its copy */
    return SQLITE_OK;
  }
  if( rc==SQLITE_CORRUPT_VTAB ){
    bkError(p, rc, "table %s: %s (the table keeps no copy of its vectors in "
            "the database, db_copy=off: put back the side file saved with "
            "this database file)", t->zName, zWhy ? zWhy : "");
    sqlite3_free(zWhy);
    return p->rc;
  }
  return bkTake(p, rc, t->zName, zWhy);
}

/* Find the schema's vectors tables and their side files (step 3). */
static int bkTables(Backup *p){
  sqlite3_stmt *pStmt = 0;
  char *zSql;
  int rc;
  zSql = sqlite3_mprintf("SELECT name, sql FROM \"%w\".sqlite_schema "
                         "WHERE type='table' ORDER BY name", p->zSchema);
  if( zSql==0 ) return bkError(p, SQLITE_NOMEM, "out of memory");
  rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc ) return bkDbError(p, rc);
  while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
    const char *zName = (const char*)sqlite3_column_text(pStmt, 0);
    const char *zCreate = (const char*)sqlite3_column_text(pStmt, 1);
    BkTable *aNew;
    /* as veles_check tells the module (check.c) */
    if( zName==0 || zCreate==0
     || sqlite3_strlike("%using vectors%", zCreate, 0)!=0 ){
      continue;
    }
    aNew = sqlite3_realloc64(p->aTab, sizeof(BkTable)*(u64)(p->nTab+1));
    if( aNew==0 ){
      rc = SQLITE_NOMEM;
      break;
    }
    p->aTab = aNew;
    memset(&p->aTab[p->nTab], 0, sizeof(BkTable));
    p->aTab[p->nTab].zName = sqlite3_mprintf("%s", zName);
    if( p->aTab[p->nTab++].zName==0 ){
      rc = SQLITE_NOMEM;
      break;
    }
  }
  if( rc==SQLITE_DONE ) rc = SQLITE_OK;
  if( rc ) bkDbError(p, rc);
  sqlite3_finalize(pStmt);
  return p->rc;
}

/* Read table t's settings and open its side file (step 3). */
static int bkTable(Backup *p, BkTable *t){
  char *zErr = 0, *zPath = 0;
  int eMetric = 0, bMemory = 0, nChunkBytes, rc;
  rc = vsConfigRead(p->db, p->zSchema, t->zName, t->zIdent, &t->nDim,
                    &eMetric, &t->iFormat, &t->bCopy, &nChunkBytes, 0,
                    &zErr);
  if( rc ){
    if( zErr ) return bkTake(p, rc, t->zName, zErr);
    return bkDbError(p, rc);
  }
  t->c.iCommit = -1;
  t->c.nSlot = -1;          /* format 1, or a table made before the row */
  if( t->iFormat>=2 && bkReadCommit(p, t) ) return p->rc;
  rc = vsConfigSideFile(p->db, p->zSchema, t->zIdent, &zPath, &bMemory);
  if( rc ) return bkError(p, rc, "out of memory");
  if( bMemory && !t->bCopy ){
    return bkError(p, SQLITE_ERROR, "table %s keeps its vectors in this "
        "connection's memory only (db_copy=off, and a temp or in-memory "
        "database or a VFS without files): they cannot be backed up; "
        "make the table with db_copy=on", t->zName);
  }
  if( !bMemory ){
    rc = bkOpenSource(p, t, zPath);
  }
  sqlite3_free(zPath);
  return rc;
}

/* Step 1: the destination must be a new file. */
static int bkCheckNew(Backup *p, const char *zPath){
  struct stat st;
  if( lstat(zPath, &st)==0 ){
    return bkError(p, SQLITE_CANTOPEN, "the destination already exists: "
                   "%s (remove it or give a new name)", zPath);
  }
  return SQLITE_OK;
}

/* Remove a file and SQLite's files beside it, if any. */
static void bkRemoveDb(const char *zPath){
  static const char *const azSuffix[] = { "", "-journal", "-wal", "-shm" };
  int i;
  for(i=0; i<4; i++){
    char *z = sqlite3_mprintf("%s%s", zPath, azSuffix[i]);
    if( z ) unlink(z);
    sqlite3_free(z);
  }
}

/* Step 4: open the destination under its temporary name and copy the
** pages of snapshot R into it. */
static int bkCopyPages(Backup *p){
  const char *zSrcDb = sqlite3_db_filename(p->db, p->zSchema);
  const char *zName;
  sqlite3_backup *pBk;
  struct stat st;
  size_t n;
  int rc;
  p->zTemp = sqlite3_mprintf("%s" BK_SUFFIX, p->zPath);
  if( p->zTemp==0 ) return bkError(p, SQLITE_NOMEM, "out of memory");
  bkRemoveDb(p->zTemp);                 /* left by a backup that crashed */
  rc = sqlite3_open_v2(p->zTemp, &p->pDest,
                       SQLITE_OPEN_READWRITE|SQLITE_OPEN_CREATE, 0);
  if( rc ){
    return bkError(p, rc, "cannot create %s: %s", p->zTemp,
                   p->pDest ? sqlite3_errmsg(p->pDest) : sqlite3_errstr(rc));
  }
  /* its COMMIT (the backup's last step) syncs it, whatever the build's
  ** default */
  sqlite3_exec(p->pDest, "PRAGMA synchronous=FULL", 0, 0, 0);
  /* the backup takes the permission bits of its database, as its side
  ** files do (sidefile.c) */
  if( zSrcDb && zSrcDb[0] && stat(zSrcDb, &st)==0 ){
    chmod(p->zTemp, st.st_mode & 0777);
  }
  zName = sqlite3_db_filename(p->pDest, "main");
  n = zName ? strlen(zName) : 0;
  if( n<=strlen(BK_SUFFIX) || strcmp(zName+n-strlen(BK_SUFFIX), BK_SUFFIX) ){
    /* a VFS that names files its own way keeps no side files beside them */
    p->bDestFiles = 0;
  }else{
    char *zPath = 0;
    p->zFinal = sqlite3_mprintf("%.*s", (int)(n-strlen(BK_SUFFIX)), zName);
    if( p->zFinal==0 ) return bkError(p, SQLITE_NOMEM, "out of memory");
    /* the test vecconfig.c makes for every table of the destination */
    rc = vsConfigSideFile(p->pDest, "main", "0000000000000000", &zPath,
                          &p->bDestFiles);
    if( rc ) return bkError(p, rc, "out of memory");
    p->bDestFiles = !p->bDestFiles;
    sqlite3_free(zPath);
  }
  pBk = sqlite3_backup_init(p->pDest, "main", p->db, p->zSchema);
  if( pBk==0 ){
    return bkError(p, sqlite3_errcode(p->pDest), "cannot write %s: %s",
                   p->zTemp, sqlite3_errmsg(p->pDest));
  }
  do{
    rc = sqlite3_backup_step(pBk, BK_PAGES);
    if( rc==SQLITE_OK && bkTick(p) ) break;
  }while( rc==SQLITE_OK );
  if( rc==SQLITE_DONE ) rc = SQLITE_OK;
  if( p->rc ){
    sqlite3_backup_finish(pBk);
    return p->rc;
  }
  if( rc ){
    sqlite3_backup_finish(pBk);
    return bkError(p, rc, "cannot copy the database to %s: %s", p->zTemp,
                   sqlite3_errstr(rc));
  }
  rc = sqlite3_backup_finish(pBk);
  if( rc ){
    return bkError(p, rc, "cannot copy the database to %s: %s", p->zTemp,
                   sqlite3_errmsg(p->pDest));
  }
  return SQLITE_OK;
}

/* Step 5: write table t's side file beside the destination. */
static int bkCopySide(Backup *p, BkTable *t){
  const char *zSrcDb = sqlite3_db_filename(p->db, p->zSchema);
  VsFile *pNew = 0;
  void *aBuf = 0;
  char *zErr = 0;
  i64 nHave = 0, nPer, i;
  int rc;
  if( !p->bDestFiles ){
    if( t->bCopy ) return SQLITE_OK;    /* rebuilt from the copy */
    return bkError(p, SQLITE_ERROR, "table %s keeps no copy of its vectors "
        "in the database (db_copy=off), and the destination's VFS keeps "
        "no side files", t->zName);
  }
  t->zDest = vsFileName(p->zFinal, t->zIdent);
  t->zTemp = t->zDest ? sqlite3_mprintf("%s" BK_SUFFIX, t->zDest) : 0;
  if( t->zTemp==0 ) return bkError(p, SQLITE_NOMEM, "out of memory");
  unlink(t->zTemp);                     /* left by a backup that crashed */
  rc = vsFileCreateAt(t->zTemp, zSrcDb, t->nDim, t->zIdent, t->iFormat,
                      &pNew, &zErr);
  if( rc ) return bkTake(p, rc, t->zName, zErr);
  if( t->nDim>0 ){
    rc = vsFileSlotCount(t->pSrc, &nHave, &zErr);
    if( nHave>t->nSlot ) nHave = t->nSlot;
    nPer = BK_COPY_BYTES / ((i64)t->nDim*4);
    if( nPer<1 ) nPer = 1;
    if( rc==SQLITE_OK ){
      aBuf = sqlite3_malloc64((u64)(nPer*t->nDim*4));
      if( aBuf==0 ) rc = SQLITE_NOMEM;
    }
    for(i=0; rc==SQLITE_OK && i<nHave; i+=nPer){
      i64 n = nHave-i<nPer ? nHave-i : nPer;
      rc = vsFileReadSlots(t->pSrc, i, n, aBuf, &zErr);
      if( rc==SQLITE_OK ) rc = vsFileWriteSlots(pNew, i, n, aBuf, &zErr);
      if( rc==SQLITE_OK && bkTick(p) ) goto failed;
    }
    if( rc==SQLITE_OK && nHave<t->nSlot ){
      /* slots past the source file's end are referenced by no row: as
      ** long as 'slots' says, in zeros */
      memset(aBuf, 0, (size_t)t->nDim*4);
      rc = vsFileWriteSlots(pNew, t->nSlot-1, 1, aBuf, &zErr);
    }
  }
  if( rc==SQLITE_OK && t->iFormat>=2 ){
    VsBinding *pB = sqlite3_malloc(sizeof(*pB));
    if( pB==0 ){
      rc = SQLITE_NOMEM;
    }else{
      memset(pB, 0, sizeof(*pB));
      pB->iCommit = pB->iFloor = t->c.iCommit;
      pB->nRing = 1;
      pB->aRing[0].iCommit = t->c.iCommit;
      pB->aRing[0].iNonce = t->c.iNonce;
      rc = vsFileWriteBinding(pNew, pB, &zErr);
      sqlite3_free(pB);
    }
  }
  if( rc==SQLITE_OK ){
    t->bPlaced = 1;       /* from here on the final name may hold it */
    rc = vsFileInstall(pNew, t->zDest, &zErr);
  }
  if( rc ) bkTake(p, rc, t->zName, zErr);
  zErr = 0;
failed:
  sqlite3_free(zErr);
  sqlite3_free(aBuf);
  vsFileClose(pNew);
  if( p->rc==SQLITE_OK ) p->nWritten++;
  return p->rc;
}

/* Step 6: the destination database under its final name. */
static int bkInstall(Backup *p){
  int rc = sqlite3_close(p->pDest), iErr;
  if( rc ){
    return bkError(p, rc, "cannot close %s: %s", p->zTemp,
                   sqlite3_errmsg(p->pDest));
  }
  p->pDest = 0;
  /* link() never replaces a file: a destination made meanwhile stays */
  if( link(p->zTemp, p->zPath) ){
    iErr = errno;
    if( iErr==EEXIST ){
      return bkError(p, SQLITE_CANTOPEN, "the destination already exists: "
                     "%s (remove it or give a new name)", p->zPath);
    }
    /* a file system without hard links */
    if( access(p->zPath, F_OK)==0 ){
      return bkError(p, SQLITE_CANTOPEN, "the destination already exists: "
                     "%s (remove it or give a new name)", p->zPath);
    }
    if( rename(p->zTemp, p->zPath) ){
      return bkError(p, SQLITE_IOERR, "cannot rename %s to %s: %s",
                     p->zTemp, p->zPath, strerror(errno));
    }
  }else{
    unlink(p->zTemp);
  }
  iErr = vsFileSyncDir(p->zPath);
  if( iErr ){
    unlink(p->zPath);
    return bkError(p, SQLITE_IOERR_DIR_FSYNC, "cannot sync the directory of "
                   "%s: %s", p->zPath, strerror(iErr));
  }
  return SQLITE_OK;
}

/* Release everything; on failure remove every file written. */
static void bkFree(Backup *p){
  int i;
  sqlite3_finalize(p->pSnap);
  sqlite3_finalize(p->pTick);
  if( p->pDest ) sqlite3_close(p->pDest);
  if( p->rc && p->zTemp ) bkRemoveDb(p->zTemp);
  for(i=0; i<p->nTab; i++){
    BkTable *t = &p->aTab[i];
    if( p->rc && t->zTemp ) vsFileUnlink(t->zTemp);
    if( p->rc && t->bPlaced ) vsFileUnlink(t->zDest);
    vsFileClose(t->pSrc);
    sqlite3_free(t->zName);
    sqlite3_free(t->zDest);
    sqlite3_free(t->zTemp);
  }
  sqlite3_free(p->aTab);
  sqlite3_free(p->zTemp);
  sqlite3_free(p->zFinal);
  sqlite3_free(p->zErr);
}

void vsBackupFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  Backup b;
  int i;
  memset(&b, 0, sizeof(b));
  b.db = sqlite3_context_db_handle(ctx);
  b.zPath = (const char*)sqlite3_value_text(argv[0]);
  b.zSchema = argc>1 ? (const char*)sqlite3_value_text(argv[1]) : "main";
  if( b.zPath==0 || b.zPath[0]==0 || strcmp(b.zPath, ":memory:")==0 ){
    bkError(&b, SQLITE_MISUSE, "expected the name of a new file, got %s%s%s",
            b.zPath ? "'" : "", b.zPath ? b.zPath : "NULL",
            b.zPath ? "'" : "");
  }else if( b.zSchema==0 || sqlite3_txn_state(b.db, b.zSchema)<0 ){
    bkError(&b, SQLITE_ERROR, "no such database: %s",
            b.zSchema ? b.zSchema : "NULL");
  }else if( sqlite3_txn_state(b.db, b.zSchema)==SQLITE_TXN_WRITE ){
    bkError(&b, SQLITE_ERROR, "the open transaction is writing to %s: "
            "commit or roll back first", b.zSchema);
  }else if( bkCheckNew(&b, b.zPath)==SQLITE_OK
         && bkSnapshot(&b)==SQLITE_OK
         && bkTables(&b)==SQLITE_OK ){
    for(i=0; i<b.nTab && bkTable(&b, &b.aTab[i])==SQLITE_OK; i++){}
    if( b.rc==SQLITE_OK ) bkCopyPages(&b);
    for(i=0; b.rc==SQLITE_OK && i<b.nTab; i++){
      if( b.aTab[i].pSrc ) bkCopySide(&b, &b.aTab[i]);
    }
    /* every byte of R is read: let writers restart the WAL */
    sqlite3_finalize(b.pSnap);
    b.pSnap = 0;
    if( b.rc==SQLITE_OK ) bkInstall(&b);
  }
  if( b.rc ){
    sqlite3_result_error(ctx, b.zErr ? b.zErr : "veles_backup: out of memory",
                         -1);
    sqlite3_result_error_code(ctx, b.rc);
  }else{
    sqlite3_result_int(ctx, b.nWritten);
  }
  bkFree(&b);
}
