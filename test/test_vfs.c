/*
** veles under a VFS that is not one of the unix ones and reads files only
** the way SQLite itself does: the "strict" VFS below, a shim over the
** default VFS, refuses (and counts) a read of a WAL file's header that is
** not the whole 32-byte header, as dqlite's VFS does (it aborts: assert in
** vfsWalRead). Before this test, veles read 16 bytes of it for the WAL's
** checkpoint sequence and brought a dqlite node down at its first INSERT.
**
**   vfs.1.*  a vectors and a payloads table in WAL mode: writes, deletes
**            and reuse of freed slots across WAL restarts, search, reads
**            back exact, veles_check ok, no refused read
**   vfs.2.*  nothing written outside the VFS: the directory holds the
**            database, its WAL and shm only (no side file); reopened, the
**            in-memory working copy is built from the database's copy
*/
#include "testutil.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NDIM 8
#define WAL_HEADER 32

typedef struct StrictFile StrictFile;
struct StrictFile {
  sqlite3_file base;
  int bWal;                     /* opened as a WAL file */
  sqlite3_file *pReal;          /* the default VFS's file, after this */
};

static sqlite3_vfs *pDefault;
static int nRefused;            /* partial WAL header reads refused */

#define REAL(f) (((StrictFile*)(f))->pReal)

static int stClose(sqlite3_file *f){
  return REAL(f)->pMethods->xClose(REAL(f));
}
static int stRead(sqlite3_file *f, void *a, int n, sqlite3_int64 iOff){
  if( ((StrictFile*)f)->bWal && iOff<WAL_HEADER
   && (iOff!=0 || n!=WAL_HEADER) ){
    nRefused++;
    return SQLITE_IOERR_READ;
  }
  return REAL(f)->pMethods->xRead(REAL(f), a, n, iOff);
}
static int stWrite(sqlite3_file *f, const void *a, int n, sqlite3_int64 o){
  return REAL(f)->pMethods->xWrite(REAL(f), a, n, o);
}
static int stTruncate(sqlite3_file *f, sqlite3_int64 n){
  return REAL(f)->pMethods->xTruncate(REAL(f), n);
}
static int stSync(sqlite3_file *f, int flags){
  return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int stFileSize(sqlite3_file *f, sqlite3_int64 *pn){
  return REAL(f)->pMethods->xFileSize(REAL(f), pn);
}
static int stLock(sqlite3_file *f, int e){
  return REAL(f)->pMethods->xLock(REAL(f), e);
}
static int stUnlock(sqlite3_file *f, int e){
  return REAL(f)->pMethods->xUnlock(REAL(f), e);
}
static int stCheckLock(sqlite3_file *f, int *pb){
  return REAL(f)->pMethods->xCheckReservedLock(REAL(f), pb);
}
static int stFileControl(sqlite3_file *f, int op, void *pArg){
  if( op==SQLITE_FCNTL_VFSNAME ){
    *(char**)pArg = sqlite3_mprintf("strict");
    return SQLITE_OK;
  }
  return REAL(f)->pMethods->xFileControl(REAL(f), op, pArg);
}
static int stSectorSize(sqlite3_file *f){
  return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int stDevChar(sqlite3_file *f){
  return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int stShmMap(sqlite3_file *f, int i, int n, int b, void volatile **pp){
  return REAL(f)->pMethods->xShmMap(REAL(f), i, n, b, pp);
}
static int stShmLock(sqlite3_file *f, int o, int n, int flags){
  return REAL(f)->pMethods->xShmLock(REAL(f), o, n, flags);
}
static void stShmBarrier(sqlite3_file *f){
  REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int stShmUnmap(sqlite3_file *f, int bDelete){
  return REAL(f)->pMethods->xShmUnmap(REAL(f), bDelete);
}

/* version 2: no memory-mapped I/O, as a VFS that keeps no plain file */
static const sqlite3_io_methods stMethods = {
  2, stClose, stRead, stWrite, stTruncate, stSync, stFileSize, stLock,
  stUnlock, stCheckLock, stFileControl, stSectorSize, stDevChar, stShmMap,
  stShmLock, stShmBarrier, stShmUnmap, 0, 0
};

static int stOpen(sqlite3_vfs *pVfs, const char *zName, sqlite3_file *f,
                  int flags, int *pOutFlags){
  StrictFile *p = (StrictFile*)f;
  int rc;
  (void)pVfs;
  p->pReal = (sqlite3_file*)&p[1];
  p->bWal = (flags & SQLITE_OPEN_WAL)!=0;
  rc = pDefault->xOpen(pDefault, zName, p->pReal, flags, pOutFlags);
  p->base.pMethods = p->pReal->pMethods ? &stMethods : 0;
  return rc;
}
static int stDelete(sqlite3_vfs *v, const char *z, int bSync){
  (void)v;
  return pDefault->xDelete(pDefault, z, bSync);
}
static int stAccess(sqlite3_vfs *v, const char *z, int flags, int *pRes){
  (void)v;
  return pDefault->xAccess(pDefault, z, flags, pRes);
}
static int stFullPath(sqlite3_vfs *v, const char *z, int n, char *zOut){
  (void)v;
  return pDefault->xFullPathname(pDefault, z, n, zOut);
}
static int stRandom(sqlite3_vfs *v, int n, char *z){
  (void)v;
  return pDefault->xRandomness(pDefault, n, z);
}
static int stSleep(sqlite3_vfs *v, int n){
  (void)v;
  return pDefault->xSleep(pDefault, n);
}
static int stTime(sqlite3_vfs *v, sqlite3_int64 *p){
  (void)v;
  return pDefault->xCurrentTimeInt64(pDefault, p);
}

static void *stDlOpen(sqlite3_vfs *v, const char *z){
  (void)v;
  return pDefault->xDlOpen(pDefault, z);
}
static void stDlError(sqlite3_vfs *v, int n, char *z){
  (void)v;
  pDefault->xDlError(pDefault, n, z);
}
static void (*stDlSym(sqlite3_vfs *v, void *p, const char *z))(void){
  (void)v;
  return pDefault->xDlSym(pDefault, p, z);
}
static void stDlClose(sqlite3_vfs *v, void *p){
  (void)v;
  pDefault->xDlClose(pDefault, p);
}
static int stCurrentTime(sqlite3_vfs *v, double *p){
  (void)v;
  return pDefault->xCurrentTime(pDefault, p);
}
static int stLastError(sqlite3_vfs *v, int n, char *z){
  (void)v;
  return pDefault->xGetLastError(pDefault, n, z);
}

static sqlite3_vfs stVfs = {
  2, 0, 0, 0, "strict", 0, stOpen, stDelete, stAccess, stFullPath,
  stDlOpen, stDlError, stDlSym, stDlClose, stRandom, stSleep,
  stCurrentTime, stLastError, stTime, 0, 0, 0
};

static void vectorFor(int id, float *a){
  int i;
  for(i=0; i<NDIM; i++) a[i] = (float)(id*0.25 - i);
}

/* Insert (or replace) ids iFirst..iLast with vectorFor(id + iShift) and a
** payload each, in one transaction. */
static void writeRange(sqlite3 *db, int iFirst, int iLast, int iShift){
  sqlite3_stmt *pV = 0, *pP = 0;
  float a[NDIM];
  int id;
  tExec(db, "BEGIN");
  sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO e(id, vec) VALUES (?, ?)",
                     -1, &pV, 0);
  sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO m(id, json) VALUES (?, ?)",
                     -1, &pP, 0);
  for(id=iFirst; id<=iLast; id++){
    char zJson[64];
    vectorFor(id+iShift, a);
    sqlite3_bind_int(pV, 1, id);
    sqlite3_bind_blob(pV, 2, a, sizeof(a), SQLITE_STATIC);
    if( sqlite3_step(pV)!=SQLITE_DONE ){
      tCheck("vfs.write", 0, sqlite3_errmsg(db));
    }
    sqlite3_reset(pV);
    snprintf(zJson, sizeof(zJson), "{\"lang\":\"l%d\"}", (id+iShift)%5);
    sqlite3_bind_int(pP, 1, id);
    sqlite3_bind_text(pP, 2, zJson, -1, SQLITE_TRANSIENT);
    if( sqlite3_step(pP)!=SQLITE_DONE ){
      tCheck("vfs.write", 0, sqlite3_errmsg(db));
    }
    sqlite3_reset(pP);
  }
  sqlite3_finalize(pV);
  sqlite3_finalize(pP);
  tExec(db, "COMMIT");
}

/* Every id of e in 1..nId reads back as vectorFor(id + aShift[id]) (or is
** absent when aShift[id] < 0). Returns the number of wrong rows. */
static int wrongRows(sqlite3 *db, int nId, const int *aShift){
  sqlite3_stmt *p = 0;
  int id, nWrong = 0;
  sqlite3_prepare_v2(db, "SELECT vec FROM e WHERE id=?", -1, &p, 0);
  for(id=1; id<=nId; id++){
    float a[NDIM];
    int rc;
    sqlite3_bind_int(p, 1, id);
    rc = sqlite3_step(p);
    if( aShift[id]<0 ){
      if( rc!=SQLITE_DONE ) nWrong++;
    }else{
      vectorFor(id+aShift[id], a);
      if( rc!=SQLITE_ROW || sqlite3_column_bytes(p, 0)!=(int)sizeof(a)
       || memcmp(sqlite3_column_blob(p, 0), a, sizeof(a))!=0 ){
        nWrong++;
      }
    }
    sqlite3_reset(p);
  }
  sqlite3_finalize(p);
  return nWrong;
}

/* Files in the scratch directory, but t.db, t.db-wal and t.db-shm. */
static int otherFiles(void){
  DIR *d = opendir(".");
  struct dirent *e;
  int n = 0;
  while( d && (e = readdir(d))!=0 ){
    if( e->d_name[0]=='.' ) continue;
    if( strcmp(e->d_name, "t.db") && strcmp(e->d_name, "t.db-wal")
     && strcmp(e->d_name, "t.db-shm") ){
      fprintf(stderr, "  unexpected file: %s\n", e->d_name);
      n++;
    }
  }
  if( d ) closedir(d);
  return n;
}

int main(int argc, char **argv){
  static int aShift[2001];
  sqlite3 *db, *pReader;
  int i, r;
  tInit(argc, argv);
  pDefault = sqlite3_vfs_find(0);
  stVfs.szOsFile = (int)sizeof(StrictFile) + pDefault->szOsFile;
  stVfs.mxPathname = pDefault->mxPathname;
  if( sqlite3_vfs_register(&stVfs, 0) ) return 2;

  db = tOpen("file:t.db?vfs=strict");
  tRows("vfs.1.0", db, "PRAGMA journal_mode=WAL", "wal");
  tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=%d)", NDIM);
  tExec(db, "CREATE VIRTUAL TABLE m USING payloads(lang TEXT)");
  writeRange(db, 1, 2000, 0);
  for(i=1; i<=2000; i++) aShift[i] = 0;
  /* deletes and rewrites over several WAL restarts: freed slots are
  ** reused once the WAL's checkpoint sequence moves (read from its
  ** header) */
  for(r=1; r<=4; r++){
    tExec(db, "DELETE FROM e WHERE id%%4=%d", r%4);
    tExec(db, "DELETE FROM m WHERE id%%4=%d", r%4);
    for(i=1; i<=2000; i++) if( i%4==r%4 ) aShift[i] = -1;
    tExec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    writeRange(db, 1+r*100, 400+r*100, r);
    for(i=1+r*100; i<=400+r*100; i++) aShift[i] = r;
  }
  /* a reader on an older snapshot while the writer goes on */
  pReader = tOpen("file:t.db?vfs=strict");
  tExec(pReader, "BEGIN; SELECT count(*) FROM e");
  tExec(db, "DELETE FROM e WHERE id BETWEEN 1500 AND 1600");
  {
    char zWant[16];
    int n = 0;
    for(i=1500; i<=1600; i++) n += aShift[i]>=0;
    snprintf(zWant, sizeof(zWant), "%d", n);
    tRows("vfs.1.1", pReader, "SELECT count(*) FROM e WHERE id BETWEEN "
          "1500 AND 1600", zWant);
  }
  tExec(pReader, "COMMIT");
  tClose(pReader);
  for(i=1500; i<=1600; i++) aShift[i] = -1;
  writeRange(db, 1, 50, 7);
  for(i=1; i<=50; i++) aShift[i] = 7;
  tCheck("vfs.1.2", wrongRows(db, 2000, aShift)==0, "every vector exact");
  {
    /* the nearest to vectorFor(49): the one row that holds it */
    char zWant[16] = "none";
    for(i=1; i<=2000; i++){
      if( aShift[i]>=0 && i+aShift[i]==49 ) snprintf(zWant, 16, "%d", i);
    }
    tRows("vfs.1.3", db, "SELECT id FROM e WHERE vec MATCH veles_vec("
          "'[12.25, 11.25, 10.25, 9.25, 8.25, 7.25, 6.25, 5.25]') AND k=1",
          zWant);
  }
  tRows("vfs.1.4", db, "SELECT veles_check('e'), veles_check('m')", "ok|ok");
  {
    char *zWant = tQuery(db, "SELECT count(*) FROM m WHERE "
                         "json_extract(json, '$.lang')='l3'");
    tRows("vfs.1.5", db, "SELECT count(*) FROM m WHERE lang='l3'", zWant);
    sqlite3_free(zWant);
  }
  tCheck("vfs.1.6", nRefused==0, "no partial read of a WAL header");
  tClose(db);

  tCheck("vfs.2.1", otherFiles()==0, "nothing written outside the VFS");
  db = tOpen("file:t.db?vfs=strict");
  tCheck("vfs.2.2", wrongRows(db, 2000, aShift)==0,
         "every vector exact, from the database's copy");
  tRows("vfs.2.3", db, "SELECT veles_check('e')", "ok");
  tClose(db);
  tCheck("vfs.2.4", otherFiles()==0 && nRefused==0, "still nothing outside");
  sqlite3_vfs_unregister(&stVfs);
  return tDone();
}
