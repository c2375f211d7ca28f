/*
** faultfs: power-loss and I/O-error injection for the files under one
** directory. The interface and the model are described in faultfs.h.
**
** HOW IT WORKS. Each interposed call looks up its real function with
** dlsym(RTLD_NEXT) and, when the descriptor or path belongs to the
** tracked directory, keeps books under one mutex (held across the real
** call, so the veles writer thread and the main thread never interleave
** with a power cut):
**   - a record per tracked path: its durable content (a twin file in the
**     shadow directory, or "empty" for a file created since tracking
**     began), and the byte ranges written since its last sync;
**   - at fsync/fdatasync of a file, its current content becomes its
**     durable content (copied to the twin) and its ranges are cleared;
**   - at a power cut every existing tracked file is rewritten to its
**     durable content, then the ranges are torn or garbled if asked, and
**     the process leaves with _exit().
** Descriptors opened before faultfsTrack() are not tracked.
**
** As an LD_PRELOAD module (built with -DFAULTFS_PRELOAD) it reads:
**   FAULTFS_DIR, FAULTFS_SHADOW   the directories (faultfsTrack)
**   FAULTFS_CUT=k FAULTFS_GARBLE=0|1|2 FAULTFS_SEED=n   power cut at sync k
**   FAULTFS_FAIL=ops,k,errno,persist   e.g. "1,3,5,0": 3rd write, EIO, once
**   FAULTFS_FILTER=substring       only files whose name contains it
*/
/* The interposers below define open() and open64() (and so on) as one
** function: the headers must not rename open to open64, which the
** build's _FILE_OFFSET_BITS=64 would do (on 64-bit targets they are the
** same calls anyway). */
#undef _FILE_OFFSET_BITS
#define _GNU_SOURCE
#include "faultfs.h"
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define FF_MAX_FILE 256
#define FF_MAX_FD   4096
#define FF_DIRFD    (-2)          /* aFd[] value of a tracked directory */
#define FF_SECTOR   512

typedef struct FfRange FfRange;
struct FfRange { long long iOff, n; };

typedef struct FfFile FfFile;
struct FfFile {
  char zPath[512];        /* absolute path */
  char zTwin[600];        /* durable copy, valid when bTwin */
  int bTwin;              /* durable content is zTwin (else empty) */
  int bGone;              /* unlinked */
  FfRange *aRange;        /* written since the last sync */
  int nRange, nAlloc;
};

static pthread_mutex_t ffMutex = PTHREAD_MUTEX_INITIALIZER;
static int bTrack = 0;
static char zTrackDir[512];
static char zShadow[512];
static FfFile aFile[FF_MAX_FILE];
static int nFile = 0;
static int aFd[FF_MAX_FD];        /* fd -> file index + 1, FF_DIRFD, 0 */
static int nSync = 0, nOp = 0, nFault = 0;
static int kCut = 0, eCutGarble = 0, iCutExit = 0;
static unsigned cutSeed = 1;
static int eFailOps = 0, kFail = 0, iFailErrno = 0, bFailPersist = 0;
static char zFailFilter[128];
static char zLieFilter[128];      /* syncs of these files make nothing durable */
static char zBootId[64];          /* the boot id while tracking */
static int nBoot = 0;
#define FF_BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

/* ---- the real functions ---------------------------------------------- */
static int (*rOpen)(const char*, int, ...);
static int (*rOpenat)(int, const char*, int, ...);
static int (*rClose)(int);
static ssize_t (*rWrite)(int, const void*, size_t);
static ssize_t (*rPwrite)(int, const void*, size_t, off_t);
static ssize_t (*rPwrite64)(int, const void*, size_t, off_t);
static int (*rFsync)(int);
static int (*rFdatasync)(int);
static int (*rFtruncate)(int, off_t);
static int (*rUnlink)(const char*);
static int (*rRename)(const char*, const char*);

static void ffInit(void){
  if( rOpen ) return;
  rOpenat = dlsym(RTLD_NEXT, "openat");
  rClose = dlsym(RTLD_NEXT, "close");
  rWrite = dlsym(RTLD_NEXT, "write");
  rPwrite = dlsym(RTLD_NEXT, "pwrite");
  rPwrite64 = dlsym(RTLD_NEXT, "pwrite64");
  rFsync = dlsym(RTLD_NEXT, "fsync");
  rFdatasync = dlsym(RTLD_NEXT, "fdatasync");
  rFtruncate = dlsym(RTLD_NEXT, "ftruncate");
  rUnlink = dlsym(RTLD_NEXT, "unlink");
  rRename = dlsym(RTLD_NEXT, "rename");
  rOpen = dlsym(RTLD_NEXT, "open");
}

/* ---- helpers (called with the mutex held) ---------------------------- */

static int ffAbsolute(const char *zPath, char *zOut, size_t n){
  if( zPath[0]=='/' ){
    snprintf(zOut, n, "%s", zPath);
  }else{
    char zCwd[512];
    if( getcwd(zCwd, sizeof(zCwd))==0 ) return 0;
    if( snprintf(zOut, n, "%s/%s", zCwd, zPath)>=(int)n ) return 0;
  }
  return 1;
}

/* 1: a file under the directory, 2: the directory itself, 0: neither */
static int ffTracked(const char *zAbs){
  size_t n = strlen(zTrackDir);
  if( !bTrack || strncmp(zAbs, zTrackDir, n)!=0 ) return 0;
  if( zAbs[n]==0 ) return 2;
  return zAbs[n]=='/' ? 1 : 0;
}

static FfFile *ffFind(const char *zAbs){
  int i;
  for(i=0; i<nFile; i++){
    if( strcmp(aFile[i].zPath, zAbs)==0 ) return &aFile[i];
  }
  return 0;
}

/* Copy file zFrom to zTo (truncating); 0 on success. */
static int ffCopy(const char *zFrom, const char *zTo){
  char aBuf[65536];
  int fdIn = rOpen(zFrom, O_RDONLY|O_CLOEXEC), fdOut;
  off_t iOff = 0;
  if( fdIn<0 ) return -1;
  fdOut = rOpen(zTo, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644);
  if( fdOut<0 ){ rClose(fdIn); return -1; }
  for(;;){
    ssize_t r = pread(fdIn, aBuf, sizeof(aBuf), iOff);
    if( r<=0 ) break;
    if( rPwrite(fdOut, aBuf, (size_t)r, iOff)!=r ) break;
    iOff += r;
  }
  rClose(fdIn);
  rClose(fdOut);
  return 0;
}

static void ffAddRange(FfFile *f, long long iOff, long long n){
  if( n<=0 ) return;
  if( f->nRange>0 ){
    FfRange *p = &f->aRange[f->nRange-1];
    if( p->iOff+p->n==iOff ){ p->n += n; return; }
  }
  if( f->nRange==f->nAlloc ){
    int nNew = f->nAlloc ? f->nAlloc*2 : 16;
    FfRange *aNew = realloc(f->aRange, (size_t)nNew*sizeof(FfRange));
    if( aNew==0 ) abort();
    f->aRange = aNew;
    f->nAlloc = nNew;
  }
  f->aRange[f->nRange].iOff = iOff;
  f->aRange[f->nRange].n = n;
  f->nRange++;
}

/* A tracked path is being opened: start its record if needed. */
static int ffOpened(const char *zAbs){
  FfFile *f = ffFind(zAbs);
  struct stat st;
  int bExists = stat(zAbs, &st)==0;
  if( f==0 ){
    const char *zBase = strrchr(zAbs, '/');
    if( nFile>=FF_MAX_FILE ) abort();
    f = &aFile[nFile];
    memset(f, 0, sizeof(*f));
    snprintf(f->zPath, sizeof(f->zPath), "%s", zAbs);
    if( snprintf(f->zTwin, sizeof(f->zTwin), "%s/%d%s", zShadow, nFile,
                 zBase ? zBase+1 : zAbs)>=(int)sizeof(f->zTwin) ) abort();
    nFile++;
    /* a file that existed before is durable as it is */
    if( bExists && ffCopy(zAbs, f->zTwin)==0 ) f->bTwin = 1;
  }else if( f->bGone ){
    f->bGone = 0;
    f->bTwin = 0;
    f->nRange = 0;
  }
  return (int)(f - aFile) + 1;
}

static FfFile *ffFile(int fd){
  if( fd<0 || fd>=FF_MAX_FD || aFd[fd]<=0 ) return 0;
  return &aFile[aFd[fd]-1];
}

static int ffFilterMatch(FfFile *f){
  return zFailFilter[0]==0 || strstr(f->zPath, zFailFilter)!=0;
}

/* Should this operation fail? Counts it when it is of the kinds asked. */
static int ffFault(int eKind, FfFile *f){
  if( (eFailOps & eKind)==0 || f==0 || !ffFilterMatch(f) ) return 0;
  nOp++;
  if( kFail>0 && (nOp==kFail || (bFailPersist && nOp>kFail)) ){
    nFault++;
    errno = iFailErrno;
    return 1;
  }
  return 0;
}

/* The machine loses power now. */
static void ffPowerCut(void){
  unsigned s = cutSeed*2654435761u + 12345;
  int i;
  for(i=0; i<nFile; i++){
    FfFile *f = &aFile[i];
    struct stat st;
    unsigned char *aNew = 0;
    long long nNew = 0;
    int fd, j;
    if( f->bGone || stat(f->zPath, &st)!=0 ) continue;
    if( eCutGarble && f->nRange>0 ){
      /* what the lost writes would have written */
      int fdIn = rOpen(f->zPath, O_RDONLY|O_CLOEXEC);
      nNew = st.st_size;
      aNew = malloc((size_t)nNew + 1);
      if( fdIn<0 || aNew==0 ) abort();
      if( pread(fdIn, aNew, (size_t)nNew, 0)!=nNew ) abort();
      rClose(fdIn);
    }
    if( f->bTwin ){
      ffCopy(f->zTwin, f->zPath);
    }else{
      fd = rOpen(f->zPath, O_WRONLY|O_TRUNC|O_CLOEXEC);
      if( fd>=0 ) rClose(fd);
    }
    if( aNew ){
      fd = rOpen(f->zPath, O_WRONLY|O_CLOEXEC);
      for(j=0; fd>=0 && j<f->nRange; j++){
        long long iOff = f->aRange[j].iOff, iEnd = iOff + f->aRange[j].n;
        while( iOff<iEnd ){
          long long iNext = (iOff/FF_SECTOR + 1)*FF_SECTOR, n;
          unsigned char aSec[FF_SECTOR];
          int eChoice;
          if( iNext>iEnd ) iNext = iEnd;
          n = iNext - iOff;
          s ^= s << 13; s ^= s >> 17; s ^= s << 5;
          eChoice = (int)(s % (eCutGarble==FAULTFS_TORN ? 2 : 3));
          if( eChoice==1 && iOff+n<=nNew ){
            rPwrite(fd, aNew+iOff, (size_t)n, iOff);
          }else if( eChoice==2 ){
            int b;
            for(b=0; b<n; b++){
              s ^= s << 13; s ^= s >> 17; s ^= s << 5;
              aSec[b] = (unsigned char)s;
            }
            rPwrite(fd, aSec, (size_t)n, iOff);
          }
          iOff = iNext;
        }
      }
      if( fd>=0 ) rClose(fd);
      free(aNew);
    }
  }
  _exit(iCutExit);
}

/* ---- control --------------------------------------------------------- */

void faultfsTrack(const char *zDir, const char *zShadowDir){
  ffInit();
  pthread_mutex_lock(&ffMutex);
  snprintf(zTrackDir, sizeof(zTrackDir), "%s", zDir);
  snprintf(zShadow, sizeof(zShadow), "%s", zShadowDir);
  mkdir(zShadow, 0755);
  while( nFile>0 ){
    nFile--;
    free(aFile[nFile].aRange);
    aFile[nFile].aRange = 0;
  }
  memset(aFd, 0, sizeof(aFd));
  nSync = nOp = nFault = 0;
  kCut = 0;
  eFailOps = kFail = 0;
  zFailFilter[0] = 0;
  zLieFilter[0] = 0;
  /* a boot of its own: the pid tells it from the parent's or a child's */
  snprintf(zBootId, sizeof(zBootId), "faultfs-%d-%d\n", (int)getpid(),
           ++nBoot);
  bTrack = 1;
  pthread_mutex_unlock(&ffMutex);
}

void faultfsUntrack(void){
  pthread_mutex_lock(&ffMutex);
  bTrack = 0;
  kCut = 0;
  eFailOps = kFail = 0;
  pthread_mutex_unlock(&ffMutex);
}

void faultfsPowerCut(int k, int eGarble, unsigned seed, int exitCode){
  pthread_mutex_lock(&ffMutex);
  kCut = k;
  eCutGarble = eGarble;
  cutSeed = seed;
  iCutExit = exitCode;
  pthread_mutex_unlock(&ffMutex);
}

void faultfsFail(int eOps, const char *zFilter, int k, int iErrno,
                 int bPersist){
  pthread_mutex_lock(&ffMutex);
  eFailOps = eOps;
  kFail = k;
  iFailErrno = iErrno;
  bFailPersist = bPersist;
  snprintf(zFailFilter, sizeof(zFailFilter), "%s", zFilter ? zFilter : "");
  nOp = 0;
  pthread_mutex_unlock(&ffMutex);
}

void faultfsLie(const char *zFilter){
  pthread_mutex_lock(&ffMutex);
  snprintf(zLieFilter, sizeof(zLieFilter), "%s", zFilter ? zFilter : "");
  pthread_mutex_unlock(&ffMutex);
}

void faultfsClear(void){
  pthread_mutex_lock(&ffMutex);
  kFail = 0;
  pthread_mutex_unlock(&ffMutex);
}

int faultfsSyncCount(void){ return nSync; }
int faultfsOpCount(void){ return nOp; }
int faultfsFaultCount(void){ return nFault; }

/* ---- the interposed calls -------------------------------------------- */

static int ffOpenCommon(int fd, const char *zPath){
  char zAbs[512];
  int e;
  if( fd<0 || fd>=FF_MAX_FD || !bTrack ) return fd;
  if( !ffAbsolute(zPath, zAbs, sizeof(zAbs)) ) return fd;
  e = ffTracked(zAbs);
  if( e==2 ) aFd[fd] = FF_DIRFD;
  return fd;
}

static int ffOpenPre(const char *zPath){
  char zAbs[512];
  if( !bTrack || !ffAbsolute(zPath, zAbs, sizeof(zAbs)) ) return 0;
  if( ffTracked(zAbs)!=1 ) return 0;
  return ffOpened(zAbs);
}

/* While tracking, the boot id is this tracking session's (faultfs.h). */
static int ffOpenBootId(void){
  char zId[64];
  int fd;
  pthread_mutex_lock(&ffMutex);
  memcpy(zId, zBootId, sizeof(zId));
  pthread_mutex_unlock(&ffMutex);
  fd = memfd_create("boot_id", MFD_CLOEXEC);
  if( fd<0 ) return fd;
  if( rWrite(fd, zId, strlen(zId))!=(ssize_t)strlen(zId)
   || lseek(fd, 0, SEEK_SET)!=0 ){
    rClose(fd);
    return -1;
  }
  return fd;
}

int open(const char *zPath, int flags, ...){
  mode_t mode = 0;
  int fd, iFile;
  ffInit();
  if( bTrack && strcmp(zPath, FF_BOOT_ID_PATH)==0 ) return ffOpenBootId();
  if( flags & (O_CREAT|O_TMPFILE) ){
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  pthread_mutex_lock(&ffMutex);
  iFile = ffOpenPre(zPath);
  fd = rOpen(zPath, flags, mode);
  if( fd>=0 && fd<FF_MAX_FD ) aFd[fd] = iFile;
  fd = ffOpenCommon(fd, zPath);
  pthread_mutex_unlock(&ffMutex);
  return fd;
}
int open64(const char *zPath, int flags, ...) __attribute__((alias("open")));

int openat(int dirfd, const char *zPath, int flags, ...){
  mode_t mode = 0;
  int fd, iFile = 0, bAbs = zPath[0]=='/' || dirfd==AT_FDCWD;
  ffInit();
  if( flags & (O_CREAT|O_TMPFILE) ){
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  pthread_mutex_lock(&ffMutex);
  if( bAbs ) iFile = ffOpenPre(zPath);
  fd = rOpenat(dirfd, zPath, flags, mode);
  if( fd>=0 && fd<FF_MAX_FD ) aFd[fd] = iFile;
  if( bAbs ) fd = ffOpenCommon(fd, zPath);
  pthread_mutex_unlock(&ffMutex);
  return fd;
}
int openat64(int dirfd, const char *zPath, int flags, ...)
  __attribute__((alias("openat")));

int close(int fd){
  ffInit();
  pthread_mutex_lock(&ffMutex);
  if( fd>=0 && fd<FF_MAX_FD ) aFd[fd] = 0;
  pthread_mutex_unlock(&ffMutex);
  return rClose(fd);
}

static ssize_t ffPwrite(ssize_t (*xReal)(int, const void*, size_t, off_t),
                        int fd, const void *a, size_t n, off_t iOff){
  FfFile *f;
  ssize_t w;
  ffInit();
  pthread_mutex_lock(&ffMutex);
  f = ffFile(fd);
  if( f && ffFault(FAULTFS_WRITE, f) ){
    pthread_mutex_unlock(&ffMutex);
    return -1;
  }
  w = xReal(fd, a, n, iOff);
  if( f && w>0 ) ffAddRange(f, (long long)iOff, (long long)w);
  pthread_mutex_unlock(&ffMutex);
  return w;
}

ssize_t pwrite(int fd, const void *a, size_t n, off_t iOff){
  ffInit();
  return ffPwrite(rPwrite, fd, a, n, iOff);
}
ssize_t pwrite64(int fd, const void *a, size_t n, off_t iOff){
  ffInit();
  return ffPwrite(rPwrite64, fd, a, n, iOff);
}

ssize_t write(int fd, const void *a, size_t n){
  FfFile *f;
  ssize_t w;
  off_t iOff = 0;
  ffInit();
  pthread_mutex_lock(&ffMutex);
  f = ffFile(fd);
  if( f && ffFault(FAULTFS_WRITE, f) ){
    pthread_mutex_unlock(&ffMutex);
    return -1;
  }
  if( f ) iOff = lseek(fd, 0, SEEK_CUR);
  w = rWrite(fd, a, n);
  if( f && w>0 ) ffAddRange(f, (long long)iOff, (long long)w);
  pthread_mutex_unlock(&ffMutex);
  return w;
}

static int ffSync(int (*xReal)(int), int fd){
  FfFile *f;
  int rc, bDir;
  ffInit();
  pthread_mutex_lock(&ffMutex);
  f = ffFile(fd);
  bDir = fd>=0 && fd<FF_MAX_FD && aFd[fd]==FF_DIRFD;
  if( f || bDir ){
    nSync++;
    if( kCut>0 && nSync==kCut ) ffPowerCut();
  }
  if( f && ffFault(FAULTFS_SYNC, f) ){
    pthread_mutex_unlock(&ffMutex);
    return -1;
  }
  /* a tracked file's durability is simulated: no need to wait for disks */
  rc = (f || bDir) ? 0 : xReal(fd);
  if( f && rc==0 && (zLieFilter[0]==0 || strstr(f->zPath, zLieFilter)==0) ){
    if( ffCopy(f->zPath, f->zTwin)==0 ) f->bTwin = 1;
    f->nRange = 0;
  }
  pthread_mutex_unlock(&ffMutex);
  return rc;
}
int fsync(int fd){ ffInit(); return ffSync(rFsync, fd); }
int fdatasync(int fd){ ffInit(); return ffSync(rFdatasync, fd); }

int ftruncate(int fd, off_t n){
  FfFile *f;
  int rc;
  ffInit();
  pthread_mutex_lock(&ffMutex);
  f = ffFile(fd);
  if( f && ffFault(FAULTFS_TRUNCATE, f) ){
    pthread_mutex_unlock(&ffMutex);
    return -1;
  }
  rc = rFtruncate(fd, n);
  pthread_mutex_unlock(&ffMutex);
  return rc;
}
int ftruncate64(int fd, off_t n) __attribute__((alias("ftruncate")));

int unlink(const char *zPath){
  char zAbs[512];
  int rc;
  ffInit();
  pthread_mutex_lock(&ffMutex);
  rc = rUnlink(zPath);
  if( rc==0 && bTrack && ffAbsolute(zPath, zAbs, sizeof(zAbs)) ){
    FfFile *f = ffFind(zAbs);
    if( f ){
      f->bGone = 1;
      f->bTwin = 0;
      f->nRange = 0;
    }
  }
  pthread_mutex_unlock(&ffMutex);
  return rc;
}

int rename(const char *zOld, const char *zNew){
  char zA[512], zB[512];
  int rc;
  ffInit();
  pthread_mutex_lock(&ffMutex);
  rc = rRename(zOld, zNew);
  if( rc==0 && bTrack && ffAbsolute(zOld, zA, sizeof(zA))
   && ffAbsolute(zNew, zB, sizeof(zB)) ){
    FfFile *fOld = ffFind(zA), *fNew = ffFind(zB);
    if( fNew ){ fNew->bGone = 1; fNew->bTwin = 0; fNew->nRange = 0; }
    if( fOld ) snprintf(fOld->zPath, sizeof(fOld->zPath), "%s", zB);
  }
  pthread_mutex_unlock(&ffMutex);
  return rc;
}

#ifdef FAULTFS_PRELOAD
static int envInt(const char *zName, int iDefault){
  const char *z = getenv(zName);
  return z ? atoi(z) : iDefault;
}

__attribute__((constructor)) static void ffFromEnvironment(void){
  const char *zDir = getenv("FAULTFS_DIR");
  const char *zFail = getenv("FAULTFS_FAIL");
  if( zDir==0 ) return;
  faultfsTrack(zDir, getenv("FAULTFS_SHADOW") ? getenv("FAULTFS_SHADOW")
                                               : "/tmp/faultfs-shadow");
  if( envInt("FAULTFS_CUT", 0)>0 ){
    faultfsPowerCut(envInt("FAULTFS_CUT", 0), envInt("FAULTFS_GARBLE", 0),
                    (unsigned)envInt("FAULTFS_SEED", 1), 99);
  }
  if( zFail ){
    int eOps = 0, k = 0, iErr = EIO, bPersist = 0;
    sscanf(zFail, "%d,%d,%d,%d", &eOps, &k, &iErr, &bPersist);
    faultfsFail(eOps, getenv("FAULTFS_FILTER"), k, iErr, bPersist);
  }
}
#endif
