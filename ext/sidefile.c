/*
** The side file of a `vectors` table.
**
** FILE FORMAT (versions 1 and 2). All integers little-endian.
**
**   offset  size  field
**   0       8     magic "VELESVEC"
**   8       4     format version: 1, or 2 with the binding below
**   12      4     header size in bytes, 4096
**   16      4     dimension (elements per vector; 0 = not fixed yet)
**   20      4     reserved, 0
**   24      16    identifier of the owning table, 16 lowercase hex digits
**                 (the same string as the `ident` row of <table>_config)
**   40      2024  version 2: the binding to the database (vecbind.c says
**                 what it means), first copy; version 1: zero
**   2064    2024  the binding, second copy
**   4088    8     zero
** A copy of the binding, at its offset c:
**   c+0     8     write, counts the writes of the binding
**   c+8     8     commit, the newest commit of the table whose vectors
**                 the file holds
**   c+16    8     floor, the oldest commit whose vectors are all intact
**   c+24    4     n, entries of the ring (1 .. VS_RING_MAX)
**   c+28    4     checksum: FNV-1a over bytes c..c+27 and c+32 to the
**                 ring's end
**   c+32    8     boot: 0 when every byte the file holds was durable
**                 before this copy was written; else the boot of the
**                 machine (vsFileBoot) whose writes may not be durable yet
**   c+40    16*n  ring: (commit, nonce) of the newest n commits, newest
**                 first, each 8+8 bytes; zero to the end of the copy
** Then, after the header:
**   4096    ...   slots: slot i holds dim IEEE-754 binary32 values at
**                 offset 4096 + i * dim * 4. No per-slot header.
**
** Of the two copies of the binding, the valid one (checksum right,
** floor <= commit, the ring's first entry the commit) written last (the
** larger write count) counts. A new binding is written over the other
** copy, so a write torn or garbled by a power cut, or read half-written by
** another process, spoils only a copy that does not count: the one that
** does still binds the file to the database that has not committed.
**
** The header is padded to 4096 bytes so slots start page-aligned and a
** scan can map the file and read the slots as one dense f32 matrix.
**
** WHAT THE BYTES MEAN. The file holds bytes only; which slots are live,
** and for which id, is recorded in the SQLite database (<table>_map), the
** source of truth. A slot's bytes count only while a committed map row
** references it. The caller (vectors.c, vecstate.c) only ever writes
** slots that no committed state references (copy-on-write), so a write can
** never damage what a reader or a crash recovery will look at.
**
** WRITE AND SYNC ORDER.
**   1. During a transaction, vectors go into a write-behind buffer of
**      VS_BUFFER_BYTES that coalesces consecutive slots. When it is full
**      (or a non-adjacent slot comes) it is handed to a background writer
**      (writer.c) that pwrite()s it while a second buffer fills.
**   2. At xSync (before SQLite commits) the buffer is written, a version 2
**      file's binding is written for the new commit (vecbind.c), and the
**      file fdatasync()ed; a newly created file's directory is fsync()ed
**      once.
**   3. Only then does SQLite commit the map rows that reference the slots.
** A crash before 3 leaves written slots unreferenced (garbage that the
** allocator reuses); a crash after 3 finds the data already durable.
** A failed fdatasync fails the commit; it is not retried.
**
** LAZY SYNC (tables with the database's copy, db_copy=on). There the
** database's copy is what must be durable; the side file only has to be
** right whenever it is used. It is, without a sync per commit, as long as
** the machine has not stopped since it was written: until then every
** process reads the writes from the operating system's cache. So step 2
** skips the fdatasync when the binding on disk already carries this
** boot's mark (the boot field, from /proc/sys/kernel/random/boot_id):
**   - a transaction that finds a clean binding writes a marked one and
**     syncs before it writes its first vector (vecbind.c, WRITE ORDER):
**     the mark is durable before any byte a commit will not sync, and
**     that sync has nothing else to write;
**   - commits then write marked bindings and do not sync;
**   - a handle that wrote a marked binding syncs the file when it closes
**     and writes a clean binding (boot 0) over the other copy. It does so
**     holding LOCK_EX (flock, not waiting) on the file, while committers
**     hold LOCK_SH from reading the binding to the end of step 2: no
**     commit falls between its sync and its clean binding. A clean
**     binding is not synced: lost, the marked one counts. (The mark of a
**     writer killed in this boot stays until the next writer closes; it
**     is harmless in this boot and costs a rebuild after the next one.)
** After a power cut or a reboot the boot differs: vecbind.c refuses a
** marked file, which is made again from the database's copy. Where no
** boot id can be read, every commit syncs.
**
** The file only grows: it is never truncated (another process may have
** it mapped, and a shrinking mapping would raise SIGBUS there). A
** compaction writes a new file instead (veccompact.c).
**
** CREATION AND REMOVAL. A new side file takes the permission bits of its
** database file (a private 0600 database gets a private side file), and,
** when run as root, its owner, as SQLite does for journals and WALs. The
** directory is fsync()ed at the first xSync after creation (step 2), and
** right after the file is unlinked (vsFileUnlink), so that neither a
** commit's data nor a committed DROP depends on a later directory sync.
**
** OFFSETS are 64-bit everywhere (off_t: the build defines
** _FILE_OFFSET_BITS=64), so a 32-bit build reads files beyond 2 GiB.
**
** An in-memory side file (temp and :memory: databases) keeps the same
** slot layout in a heap array, with no header and no buffer.
*/
#define _GNU_SOURCE
#include "sidefile.h"
#include "writer.h"
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define VS_MAGIC        "VELESVEC"
#define VS_VERSION_MAX  2       /* the newest format this build writes */
#define VS_BIND_OFFSET  40      /* the first copy of the binding */
#define VS_BIND_BYTES   2024    /* the size of each of its two copies */
#define VS_HEADER_BYTES 4096
#define VS_BUFFER_BYTES (4*1024*1024)

_Static_assert(40+16*VS_RING_MAX<=VS_BIND_BYTES
               && VS_BIND_OFFSET+2*VS_BIND_BYTES<=VS_HEADER_BYTES,
               "the binding's two copies fit the header");

_Static_assert(sizeof(off_t)==8, "side file offsets need a 64-bit off_t: "
               "build with -D_FILE_OFFSET_BITS=64");

struct VsFile {
  char *zPath;            /* file name; 0 for an in-memory store */
  int fd;                 /* open descriptor, -1 for memory */
  int nDim;               /* elements per slot; 0 = unknown yet */
  int iVersion;           /* the header's format version, 1 or 2 */
  int iBindCopy;          /* the binding copy read or written last ... */
  i64 iBindWrite;         /* ... and its write count */
  i64 nSlotBytes;         /* nDim*4 */
  char zIdent[VS_IDENT_LEN+1];
  int bDirSync;           /* the directory needs one fsync (new file) */
  i64 iBoot;              /* this boot's mark (vsFileBoot), 0: unknown */
  int bMarked;            /* this handle wrote a marked binding: clean it
                          ** at close (LAZY SYNC) */
  int bCommitLock;        /* holds LOCK_SH on fd for a commit */
  int bWriteback;         /* start each write's writeback (writer.c) */
  /* write-behind buffers: aBuf[iBuf] fills with slots iBufFirst ..
  ** iBufFirst+nBufSlot-1; the other may be in flight in pWriter, holding
  ** slots iFlightFirst .. iFlightFirst+nFlightSlot-1 */
  unsigned char *aBuf[2];
  int iBuf;
  i64 iBufFirst;
  i64 nBufSlot;
  VsWriter *pWriter;
  i64 iFlightFirst;
  i64 nFlightSlot;
  /* read-only mapping of the file: nMap bytes are mapped (more than the
  ** file holds, so that it can grow under the mapping), nValid bytes are
  ** known to exist (fstat) and only those are ever touched */
  unsigned char *pMap;
  i64 nMap;
  i64 nValid;
  /* in-memory store */
  unsigned char *aMem;
  i64 nMemSlot;           /* slots written so far (high-water) */
  i64 nMemAlloc;          /* capacity in slots */
  VsBinding *pMemBind;    /* its binding (version 2), 0 until written */
};

/* An I/O failure: the message names the file and errno; a full disk
** (ENOSPC, EDQUOT) is SQLITE_FULL, as SQLite reports it for its files. */
static int ioError(int rc, char **pzErr, const char *zOp, VsFile *p){
  int iErrno = errno;
  *pzErr = sqlite3_mprintf("%s %s: %s", zOp, p->zPath, strerror(iErrno));
  if( (iErrno==ENOSPC || iErrno==EDQUOT) && (rc & 0xff)==SQLITE_IOERR ){
    rc = SQLITE_FULL;
  }
  return rc;
}

static void put32(unsigned char *a, unsigned v){
  a[0] = v & 0xff; a[1] = (v>>8) & 0xff;
  a[2] = (v>>16) & 0xff; a[3] = (v>>24) & 0xff;
}
static unsigned get32(const unsigned char *a){
  return a[0] | (a[1]<<8) | (a[2]<<16) | ((unsigned)a[3]<<24);
}
static void put64(unsigned char *a, i64 v){
  put32(a, (unsigned)((u64)v & 0xffffffff));
  put32(&a[4], (unsigned)((u64)v>>32));
}
static i64 get64(const unsigned char *a){
  return (i64)((u64)get32(a) | ((u64)get32(&a[4])<<32));
}

/* pwrite() all n bytes: 0, or -1 with errno set (writer.c does it). */
static int writeAll(int fd, const void *pBuf, size_t n, off_t iOff){
  int iErr = vsWriterPwrite(fd, pBuf, n, iOff);
  if( iErr==0 ) return 0;
  errno = iErr;
  return -1;
}

/* 0 on success, -1 with errno on error, 1 on a short read (end of file) */
static int readAll(int fd, void *pBuf, size_t n, off_t iOff){
  unsigned char *a = pBuf;
  while( n>0 ){
    ssize_t r = pread(fd, a, n, iOff);
    if( r<0 ){
      if( errno==EINTR ) continue;
      return -1;
    }
    if( r==0 ) return 1;
    a += r;
    n -= (size_t)r;
    iOff += r;
  }
  return 0;
}

static int syncDirectory(VsFile *p, char **pzErr);
static int memWrite(VsFile *p, i64 iSlot, const void *a);

/* The mark of this boot of the machine: a 64-bit FNV-1a hash of the
** kernel's boot id, which changes whenever the machine starts; 0 where it
** cannot be read. Read with open() and read(), so that the test fault
** layer (test/faultfs.c) can stage a reboot. */
static i64 readBootMark(void){
  char a[64];
  u64 h = 14695981039346656037ull;
  ssize_t n, i;
  int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY|O_CLOEXEC);
  if( fd<0 ) return 0;
  n = read(fd, a, sizeof(a));
  close(fd);
  if( n<=0 ) return 0;
  for(i=0; i<n; i++){
    h ^= (unsigned char)a[i];
    h *= 1099511628211ull;
  }
  return h ? (i64)h : 1;
}

static VsFile *newFile(const char *zPath, int nDim, const char *zIdent){
  VsFile *p = sqlite3_malloc(sizeof(*p));
  if( p==0 ) return 0;
  memset(p, 0, sizeof(*p));
  p->fd = -1;
  if( zPath ) p->iBoot = readBootMark();
  p->nDim = nDim;
  p->nSlotBytes = (i64)nDim*4;
  memcpy(p->zIdent, zIdent, VS_IDENT_LEN);
  if( zPath ){
    p->zPath = sqlite3_mprintf("%s", zPath);
    if( p->zPath==0 ){
      sqlite3_free(p);
      return 0;
    }
  }
  return p;
}

static void encodeHeader(VsFile *p, unsigned char *a){
  memset(a, 0, VS_HEADER_BYTES);
  memcpy(a, VS_MAGIC, 8);
  put32(&a[8], (unsigned)p->iVersion);
  put32(&a[12], VS_HEADER_BYTES);
  put32(&a[16], (unsigned)p->nDim);
  memcpy(&a[24], p->zIdent, VS_IDENT_LEN);
}

/*
** Give the new side file fd the permission bits of its database file
** zDbFile, whatever the umask, and its owner when run as root; as SQLite's
** unix VFS does for a journal or WAL. When the database file cannot be
** found it keeps the 0644 it was created with.
*/
static int copyDbMode(int fd, const char *zDbFile){
  struct stat st;
  if( stat(zDbFile, &st) ) return 0;
  if( geteuid()==0 && fchown(fd, st.st_uid, st.st_gid) ){
    /* not fatal: the file stays root's, as SQLite leaves a journal */
  }
  return fchmod(fd, st.st_mode & 0777);
}

int vsFileCreate(const char *zDbFile, int nDim, const char *zIdent,
                 int iVersion, VsFile **pp, char **pzErr){
  char *zPath;
  int rc;
  if( zDbFile==0 ) return vsFileCreateAt(0, 0, nDim, zIdent, iVersion, pp,
                                         pzErr);
  zPath = vsFileName(zDbFile, zIdent);
  if( zPath==0 ) return SQLITE_NOMEM;
  rc = vsFileCreateAt(zPath, zDbFile, nDim, zIdent, iVersion, pp, pzErr);
  sqlite3_free(zPath);
  return rc;
}

int vsFileCreateAt(const char *zPath, const char *zDbFile, int nDim,
                   const char *zIdent, int iVersion, VsFile **pp,
                   char **pzErr){
  VsFile *p = newFile(zPath, nDim, zIdent);
  unsigned char *aHdr;
  int rc = SQLITE_OK;
  *pp = 0;
  if( p==0 ) return SQLITE_NOMEM;
  assert( iVersion>=1 && iVersion<=VS_VERSION_MAX );
  p->iVersion = iVersion;
  if( zPath==0 ){
    *pp = p;
    return SQLITE_OK;
  }
  p->fd = open(p->zPath, O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0644);
  if( p->fd<0 ){
    rc = ioError(SQLITE_CANTOPEN, pzErr, "cannot create side file", p);
    vsFileClose(p);
    return rc;
  }
  if( copyDbMode(p->fd, zDbFile) ){
    rc = ioError(SQLITE_IOERR, pzErr, "cannot set the mode of", p);
  }else if( (aHdr = sqlite3_malloc(VS_HEADER_BYTES))==0 ){
    rc = SQLITE_NOMEM;
  }else{
    encodeHeader(p, aHdr);
    if( writeAll(p->fd, aHdr, VS_HEADER_BYTES, 0) ){
      rc = ioError(SQLITE_IOERR_WRITE, pzErr, "cannot write", p);
    }
    sqlite3_free(aHdr);
  }
  if( rc ){
    vsFileUnlink(p->zPath);
    vsFileClose(p);
    return rc;
  }
  p->bDirSync = 1;
  *pp = p;
  return SQLITE_OK;
}

int vsFileInstall(VsFile *p, const char *zFinal, char **pzErr){
  char *zNew;
  int rc;
  assert( p->fd>=0 );
  rc = vsFileFlush(p, pzErr);
  if( rc ) return rc;
  if( fdatasync(p->fd) ) return ioError(SQLITE_IOERR_FSYNC, pzErr,
                                        "cannot sync", p);
  zNew = sqlite3_mprintf("%s", zFinal);
  if( zNew==0 ) return SQLITE_NOMEM;
  if( rename(p->zPath, zFinal) ){
    sqlite3_free(zNew);
    return ioError(SQLITE_IOERR, pzErr, "cannot rename into place", p);
  }
  sqlite3_free(p->zPath);
  p->zPath = zNew;
  p->bDirSync = 1;
  rc = syncDirectory(p, pzErr);
  if( rc==SQLITE_OK ) p->bDirSync = 0;
  return rc;
}

int vsFileIsAt(VsFile *p, const char *zPath){
  struct stat a, b;
  if( p->fd<0 ) return 1;
  if( stat(zPath, &a) || fstat(p->fd, &b) ) return 0;
  return a.st_dev==b.st_dev && a.st_ino==b.st_ino;
}

int vsFileLock(const char *zPath, int *pFd){
  char *zDir = sqlite3_mprintf("%s", zPath);
  int fd;
  *pFd = -1;
  if( zDir==0 ) return SQLITE_NOMEM;
  /* The directory, not a lock file: nothing is left beside the database.
  ** Where it cannot be locked (flock emulated where a directory cannot
  ** be write-locked) the rebuild goes on unlocked: still right, only
  ** perhaps done twice. */
  fd = open(dirname(zDir), O_RDONLY|O_CLOEXEC);
  sqlite3_free(zDir);
  if( fd<0 ) return SQLITE_OK;
  while( flock(fd, LOCK_EX) ){
    if( errno!=EINTR ){
      sqlite3_log(SQLITE_OK, "vectors: cannot lock the directory of %s: %s",
                  zPath, strerror(errno));
      close(fd);
      return SQLITE_OK;
    }
  }
  *pFd = fd;
  return SQLITE_OK;
}

void vsFileUnlock(int fd){
  if( fd>=0 ) close(fd);      /* closing the descriptor drops the lock */
}

int vsFileWriteSlots(VsFile *p, i64 iSlot, i64 nSlot, const void *a,
                     char **pzErr){
  int rc;
  assert( iSlot>=0 && nSlot>=0 && p->nSlotBytes>0 );
  if( nSlot==0 ) return SQLITE_OK;
  if( p->fd<0 ){
    /* grow once, then copy the whole run */
    rc = memWrite(p, iSlot+nSlot-1,
                  (const unsigned char*)a + (nSlot-1)*p->nSlotBytes);
    if( rc ) return rc;
    memcpy(p->aMem + iSlot*p->nSlotBytes, a, (size_t)(nSlot*p->nSlotBytes));
    return SQLITE_OK;
  }
  rc = vsFileFlush(p, pzErr);
  if( rc ) return rc;
  if( writeAll(p->fd, a, (size_t)(nSlot*p->nSlotBytes),
               VS_HEADER_BYTES + iSlot*p->nSlotBytes) ){
    return ioError(SQLITE_IOERR_WRITE, pzErr, "cannot write", p);
  }
  return SQLITE_OK;
}

int vsFileReadSlots(VsFile *p, i64 iSlot, i64 nSlot, void *a, char **pzErr){
  size_t nByte = (size_t)(nSlot*p->nSlotBytes);
  int r;
  assert( iSlot>=0 && nSlot>=0 );
  memset(a, 0, nByte);
  if( p->fd<0 ){
    i64 nHave = p->nMemSlot - iSlot;
    if( nHave>nSlot ) nHave = nSlot;
    if( nHave>0 ){
      memcpy(a, p->aMem + iSlot*p->nSlotBytes, (size_t)(nHave*p->nSlotBytes));
    }
    return SQLITE_OK;
  }
  r = vsFileFlush(p, pzErr);
  if( r ) return r;
  r = readAll(p->fd, a, nByte, VS_HEADER_BYTES + iSlot*p->nSlotBytes);
  if( r<0 ) return ioError(SQLITE_IOERR_READ, pzErr, "cannot read", p);
  return SQLITE_OK;       /* a short read leaves zeros past the end */
}

void vsFileMemClear(VsFile *p){
  assert( p->fd<0 );
  p->nMemSlot = 0;
  sqlite3_free(p->pMemBind);
  p->pMemBind = 0;
}

int vsFileOpen(const char *zPath, int nDim, const char *zIdent,
               int iVersion, VsFile **pp, char **pzErr){
  VsFile *p = newFile(zPath, nDim, zIdent);
  unsigned char aHdr[40];
  int r;
  *pp = 0;
  if( p==0 ) return SQLITE_NOMEM;
  p->fd = open(zPath, O_RDWR|O_CLOEXEC);
  if( p->fd<0 ){
    int rc = errno==ENOENT ? SQLITE_CORRUPT_VTAB : SQLITE_CANTOPEN;
    *pzErr = sqlite3_mprintf("side file %s %s", zPath,
        errno==ENOENT ? "is missing" : strerror(errno));
    vsFileClose(p);
    return rc;
  }
  r = readAll(p->fd, aHdr, sizeof(aHdr), 0);
  if( r<0 ){
    int rc = ioError(SQLITE_IOERR_READ, pzErr, "cannot read", p);
    vsFileClose(p);
    return rc;
  }
  if( r>0 || memcmp(aHdr, VS_MAGIC, 8)!=0 ){
    *pzErr = sqlite3_mprintf("side file %s has no valid header", zPath);
  }else if( get32(&aHdr[8])!=(unsigned)iVersion ){
    *pzErr = sqlite3_mprintf("side file %s has format version %u, its "
        "table format %d", zPath, get32(&aHdr[8]), iVersion);
  }else if( get32(&aHdr[12])!=VS_HEADER_BYTES ){
    *pzErr = sqlite3_mprintf("side file %s has a header size of %u, "
        "expected %d", zPath, get32(&aHdr[12]), VS_HEADER_BYTES);
  }else if( memcmp(&aHdr[24], zIdent, VS_IDENT_LEN)!=0 ){
    *pzErr = sqlite3_mprintf("side file %s belongs to another table: "
        "expected identifier %s, got %.16s", zPath, zIdent, &aHdr[24]);
  }else if( nDim>0 && get32(&aHdr[16])!=(unsigned)nDim ){
    *pzErr = sqlite3_mprintf("side file %s records dimension %u, "
        "the table has %d", zPath, get32(&aHdr[16]), nDim);
  }else{
    p->iVersion = iVersion;
    *pp = p;
    return SQLITE_OK;
  }
  vsFileClose(p);
  return SQLITE_CORRUPT_VTAB;
}

/* FNV-1a over n bytes, continuing from h. */
static unsigned fnv1a(unsigned h, const unsigned char *a, size_t n){
  size_t i;
  for(i=0; i<n; i++){
    h ^= a[i];
    h *= 16777619u;
  }
  return h;
}

/* The checksum of an encoded binding a (its own field not counted). */
static unsigned bindingSum(const unsigned char *a, int nRing){
  unsigned h = fnv1a(2166136261u, a, 28);
  return fnv1a(h, &a[32], 8+(size_t)nRing*16);
}

/* Is the encoded binding copy a a valid one (its checksum right, its
** fields consistent)? */
static int bindingValid(const unsigned char *a){
  unsigned n = get32(&a[24]);
  return n>=1 && n<=VS_RING_MAX && get32(&a[28])==bindingSum(a, (int)n)
      && get64(&a[16])<=get64(&a[8]) && get64(&a[40])==get64(&a[8]);
}

int vsFileReadBinding(VsFile *p, VsBinding *pB, char **pzErr){
  unsigned char a[2*VS_BIND_BYTES];
  const unsigned char *x;
  int r, k = -1, i;
  assert( p->iVersion==2 );
  if( p->fd<0 ){
    if( p->pMemBind==0 ){
      *pzErr = sqlite3_mprintf("its in-memory vectors are not loaded");
      return SQLITE_CORRUPT_VTAB;
    }
    memcpy(pB, p->pMemBind, sizeof(*pB));
    return SQLITE_OK;
  }
  r = readAll(p->fd, a, sizeof(a), VS_BIND_OFFSET);
  if( r<0 ) return ioError(SQLITE_IOERR_READ, pzErr, "cannot read", p);
  /* A writer (of any process) writes only the copy that does not count,
  ** so the one that does is stable: a copy torn by a concurrent write
  ** fails its checksum and is not the one wanted anyway. */
  if( r==0 && bindingValid(a) ) k = 0;
  if( r==0 && bindingValid(&a[VS_BIND_BYTES])
   && (k<0 || get64(&a[VS_BIND_BYTES])>get64(a)) ){
    k = 1;
  }
  if( k<0 ){
    *pzErr = sqlite3_mprintf("side file %s has a damaged header (its "
                             "binding to the database)", p->zPath);
    return SQLITE_CORRUPT_VTAB;
  }
  x = &a[k*VS_BIND_BYTES];
  p->iBindCopy = k;
  p->iBindWrite = get64(x);
  pB->iCommit = get64(&x[8]);
  pB->iFloor = get64(&x[16]);
  pB->nRing = (int)get32(&x[24]);
  pB->iBoot = get64(&x[32]);
  for(i=0; i<pB->nRing; i++){
    pB->aRing[i].iCommit = get64(&x[40+16*i]);
    pB->aRing[i].iNonce = get64(&x[48+16*i]);
  }
  return SQLITE_OK;
}

int vsFileWriteBinding(VsFile *p, const VsBinding *pB, char **pzErr){
  unsigned char a[VS_BIND_BYTES];
  int i, k = 1-p->iBindCopy;          /* never over the newest copy */
  assert( p->iVersion==2 );
  assert( pB->nRing>=1 && pB->nRing<=VS_RING_MAX );
  assert( pB->iFloor<=pB->iCommit && pB->aRing[0].iCommit==pB->iCommit );
  if( p->fd<0 ){
    if( p->pMemBind==0 ){
      p->pMemBind = sqlite3_malloc(sizeof(VsBinding));
      if( p->pMemBind==0 ) return SQLITE_NOMEM;
    }
    memcpy(p->pMemBind, pB, sizeof(*pB));
    return SQLITE_OK;
  }
  memset(a, 0, sizeof(a));
  put64(a, p->iBindWrite+1);
  put64(&a[8], pB->iCommit);
  put64(&a[16], pB->iFloor);
  put32(&a[24], (unsigned)pB->nRing);
  put64(&a[32], pB->iBoot);
  for(i=0; i<pB->nRing; i++){
    put64(&a[40+16*i], pB->aRing[i].iCommit);
    put64(&a[48+16*i], pB->aRing[i].iNonce);
  }
  put32(&a[28], bindingSum(a, pB->nRing));
  if( writeAll(p->fd, a, sizeof(a), VS_BIND_OFFSET+k*VS_BIND_BYTES) ){
    return ioError(SQLITE_IOERR_WRITE, pzErr, "cannot write", p);
  }
  p->iBindCopy = k;
  p->iBindWrite++;
  p->bMarked = pB->iBoot!=0;
  return SQLITE_OK;
}

i64 vsFileBoot(VsFile *p){ return p->iBoot; }

void vsFileSetWriteback(VsFile *p, int bWriteback){
  p->bWriteback = bWriteback;
}

int vsFileCommitLock(VsFile *p, char **pzErr){
  if( p->fd<0 || p->bCommitLock ) return SQLITE_OK;
  while( flock(p->fd, LOCK_SH) ){
    if( errno!=EINTR ){
      return ioError(SQLITE_IOERR_LOCK, pzErr, "cannot lock", p);
    }
  }
  p->bCommitLock = 1;
  return SQLITE_OK;
}

void vsFileCommitUnlock(VsFile *p){
  if( p->bCommitLock ){
    flock(p->fd, LOCK_UN);
    p->bCommitLock = 0;
  }
}

/* LAZY SYNC's last step, when the last handle closes: sync the file and
** write a clean binding, unless a committer of another handle holds the
** commit lock (that one cleans when it closes) or the file is no longer
** the one its path names. Failures leave the mark, which is safe. */
static void cleanAtClose(VsFile *p){
  VsBinding *pB;
  char *zErr = 0;
  int rc = SQLITE_OK;
  assert( p->fd>=0 && p->iVersion==2 && !p->bCommitLock );
  if( !vsFileIsAt(p, p->zPath) || flock(p->fd, LOCK_EX|LOCK_NB) ) return;
  pB = sqlite3_malloc(sizeof(*pB));
  if( pB==0 ){
    rc = SQLITE_NOMEM;
  }else if( fdatasync(p->fd) ){
    rc = ioError(SQLITE_IOERR_FSYNC, &zErr, "cannot sync", p);
  }else{
    rc = vsFileReadBinding(p, pB, &zErr);
    if( rc==SQLITE_OK && pB->iBoot==p->iBoot ){
      pB->iBoot = 0;
      rc = vsFileWriteBinding(p, pB, &zErr);
    }
  }
  if( rc ){
    sqlite3_log(rc, "vectors: closing side file: %s",
                zErr ? zErr : sqlite3_errstr(rc));
  }
  sqlite3_free(zErr);
  sqlite3_free(pB);
  flock(p->fd, LOCK_UN);
}

static void unmap(VsFile *p){
  if( p->pMap ){
    munmap(p->pMap, (size_t)p->nMap);
    p->pMap = 0;
    p->nMap = 0;
  }
  p->nValid = 0;
}

void vsFileClose(VsFile *p){
  if( p==0 ) return;
  if( p->fd>=0 && (p->nBufSlot>0 || p->nFlightSlot>0) ){
    /* Buffered slots at close belong to a transaction that is still open
    ** and may yet commit map rows that reference them. A rolled-back
    ** transaction discarded its buffer already. Write them and make them
    ** durable now: the table's next instance has nothing to flush or sync
    ** at xSync.
    **
    ** A failure here cannot fail anything (xDisconnect has no error to
    ** give), so it goes to sqlite3_log(). Why nothing committed depends
    ** on it: SQLite keeps a table that is part of a transaction connected
    ** until the transaction ends (after xSync wrote and synced its buffer,
    ** or xRollback discarded it), and xSavepoint, which runs before every
    ** statement that can change the schema inside a transaction, writes
    ** the buffer out; the one table closed inside a transaction is a
    ** dropped one, and xDestroy syncs its file (reporting any failure)
    ** before the DROP goes on. This branch is a last line of defence. */
    char *zErr = 0;
    int rc = vsFileFlush(p, &zErr);
    if( rc==SQLITE_OK && fdatasync(p->fd) ){
      rc = ioError(SQLITE_IOERR_FSYNC, &zErr, "cannot sync", p);
    }
    if( rc ){
      sqlite3_log(rc, "vectors: closing side file: %s",
                  zErr ? zErr : sqlite3_errstr(rc));
    }
    sqlite3_free(zErr);
  }
  vsFileCommitUnlock(p);
  if( p->bMarked && p->fd>=0 ) cleanAtClose(p);
  unmap(p);
  vsWriterFree(p->pWriter);
  if( p->fd>=0 ) close(p->fd);
  sqlite3_free(p->aBuf[0]);
  sqlite3_free(p->aBuf[1]);
  sqlite3_free(p->aMem);
  sqlite3_free(p->pMemBind);
  sqlite3_free(p->zPath);
  sqlite3_free(p);
}

/* fsync() the directory holding zPath; 0, an errno, or -1 when out of
** memory. */
int vsFileSyncDir(const char *zPath){
  char *zDir = sqlite3_mprintf("%s", zPath);
  int fd, iErr = 0;
  if( zDir==0 ) return ENOMEM;
  fd = open(dirname(zDir), O_RDONLY|O_CLOEXEC);
  if( fd<0 || fsync(fd) ) iErr = errno;
  if( fd>=0 ) close(fd);
  sqlite3_free(zDir);
  return iErr;
}

int vsFileUnlink(const char *zPath){
  int iErr = 0;
  if( unlink(zPath) ){
    if( errno==ENOENT ) return SQLITE_OK;
    iErr = errno;
    sqlite3_log(SQLITE_IOERR_DELETE, "vectors: cannot remove side file "
                "%s: %s", zPath, strerror(iErr));
    return SQLITE_IOERR_DELETE;
  }
  iErr = vsFileSyncDir(zPath);
  if( iErr ){
    sqlite3_log(SQLITE_IOERR_DIR_FSYNC, "vectors: cannot sync directory of "
                "%s: %s", zPath, strerror(iErr));
    return SQLITE_IOERR_DIR_FSYNC;
  }
  return SQLITE_OK;
}

char *vsFileName(const char *zDbFile, const char *zIdent){
  return sqlite3_mprintf("%s-vectors-%s", zDbFile, zIdent);
}

const char *vsFilePath(VsFile *p){ return p->zPath; }

int vsFileSetDim(VsFile *p, int nDim, int bWrite, char **pzErr){
  unsigned char a[4];
  if( nDim!=p->nDim ){
    /* No committed vector exists while the dimension can change, so
    ** whatever was written at the old size is garbage. */
    vsFileDiscard(p);
    unmap(p);
    sqlite3_free(p->aMem);
    p->aMem = 0;
    p->nMemSlot = 0;
    p->nMemAlloc = 0;
  }
  p->nDim = nDim;
  p->nSlotBytes = (i64)nDim*4;
  if( p->fd<0 || !bWrite ) return SQLITE_OK;
  put32(a, (unsigned)nDim);
  if( writeAll(p->fd, a, 4, 16) ){
    return ioError(SQLITE_IOERR_WRITE, pzErr, "cannot write", p);
  }
  return SQLITE_OK;
}

/* Wait for the buffer in flight, if any, and report its failure. */
static int waitFlight(VsFile *p, char **pzErr){
  int iErr;
  if( p->nFlightSlot==0 ) return SQLITE_OK;
  iErr = vsWriterWait(p->pWriter);
  p->nFlightSlot = 0;
  if( iErr ){
    errno = iErr;
    return ioError(SQLITE_IOERR_WRITE, pzErr, "cannot write", p);
  }
  return SQLITE_OK;
}

/* Hand the filling buffer to the background writer and switch buffers
** (written here instead when no writer can be had). */
static int submitBuffer(VsFile *p, char **pzErr){
  int rc = waitFlight(p, pzErr), iErr;
  if( rc ) return rc;
  assert( p->nFlightSlot==0 && p->nBufSlot>0 );
  assert( p->nBufSlot*p->nSlotBytes<=VS_BUFFER_BYTES );
  if( p->pWriter==0 ) p->pWriter = vsWriterNew();
  if( p->pWriter==0 ) return vsFileFlush(p, pzErr);
  iErr = vsWriterSubmit(p->pWriter, p->fd, p->aBuf[p->iBuf],
                        (size_t)(p->nBufSlot*p->nSlotBytes),
                        VS_HEADER_BYTES + p->iBufFirst*p->nSlotBytes,
                        p->bWriteback);
  if( iErr ){
    errno = iErr;
    return ioError(SQLITE_IOERR_WRITE, pzErr, "cannot write", p);
  }
  p->iFlightFirst = p->iBufFirst;
  p->nFlightSlot = p->nBufSlot;
  p->iBuf ^= 1;
  p->nBufSlot = 0;
  return SQLITE_OK;
}

int vsFileFlush(VsFile *p, char **pzErr){
  int rc = waitFlight(p, pzErr);
  if( rc || p->nBufSlot==0 ) return rc;
  assert( p->fd>=0 && p->aBuf[p->iBuf]!=0 );
  assert( p->nBufSlot*p->nSlotBytes<=VS_BUFFER_BYTES );
  if( writeAll(p->fd, p->aBuf[p->iBuf], (size_t)(p->nBufSlot*p->nSlotBytes),
               VS_HEADER_BYTES + p->iBufFirst*p->nSlotBytes) ){
    return ioError(SQLITE_IOERR_WRITE, pzErr, "cannot write", p);
  }
  p->nBufSlot = 0;
  return SQLITE_OK;
}

void vsFileDiscard(VsFile *p){
  char *zErr = 0;
  /* a failed write of slots being forgotten does not matter */
  waitFlight(p, &zErr);
  sqlite3_free(zErr);
  p->nBufSlot = 0;
}

static int memWrite(VsFile *p, i64 iSlot, const void *a){
  assert( p->nMemSlot<=p->nMemAlloc );
  if( iSlot>=p->nMemAlloc ){
    i64 nNew = p->nMemAlloc ? p->nMemAlloc*2 : 64;
    unsigned char *aNew;
    while( nNew<=iSlot ) nNew *= 2;
    aNew = sqlite3_realloc64(p->aMem, (u64)(nNew*p->nSlotBytes));
    if( aNew==0 ) return SQLITE_NOMEM;
    p->aMem = aNew;
    p->nMemAlloc = nNew;
  }
  memcpy(p->aMem + iSlot*p->nSlotBytes, a, (size_t)p->nSlotBytes);
  if( iSlot>=p->nMemSlot ){
    /* slots skipped over hold zeros until written */
    memset(p->aMem + p->nMemSlot*p->nSlotBytes, 0,
           (size_t)((iSlot-p->nMemSlot)*p->nSlotBytes));
    p->nMemSlot = iSlot+1;
  }
  return SQLITE_OK;
}

int vsFileWrite(VsFile *p, i64 iSlot, const void *a, char **pzErr){
  i64 nCap;
  assert( iSlot>=0 && p->nDim>0 && p->nSlotBytes==(i64)p->nDim*4 );
  if( p->fd<0 ) return memWrite(p, iSlot, a);
  nCap = VS_BUFFER_BYTES / p->nSlotBytes;
  if( nCap<1 ){
    /* a slot larger than the buffer goes straight to the file */
    int rc = vsFileFlush(p, pzErr);
    if( rc ) return rc;
    if( writeAll(p->fd, a, (size_t)p->nSlotBytes,
                 VS_HEADER_BYTES + iSlot*p->nSlotBytes) ){
      return ioError(SQLITE_IOERR_WRITE, pzErr, "cannot write", p);
    }
    return SQLITE_OK;
  }
  if( p->nBufSlot>0
   && (iSlot!=p->iBufFirst+p->nBufSlot || p->nBufSlot>=nCap) ){
    int rc = submitBuffer(p, pzErr);
    if( rc ) return rc;
  }
  if( p->aBuf[p->iBuf]==0 ){
    p->aBuf[p->iBuf] = sqlite3_malloc64(VS_BUFFER_BYTES);
    if( p->aBuf[p->iBuf]==0 ) return SQLITE_NOMEM;
  }
  if( p->nBufSlot==0 ) p->iBufFirst = iSlot;
  /* the buffer holds consecutive slots and never more than it can hold
  ** (a slot in flight may be written again: the buffer lands after the
  ** flight, which every flush and submission waits for first) */
  assert( iSlot==p->iBufFirst+p->nBufSlot );
  assert( (p->nBufSlot+1)*p->nSlotBytes<=VS_BUFFER_BYTES );
  memcpy(p->aBuf[p->iBuf] + p->nBufSlot*p->nSlotBytes, a,
         (size_t)p->nSlotBytes);
  p->nBufSlot++;
  return SQLITE_OK;
}

/*
** Make the first nEnd bytes of the file readable through pMap. Returns
** SQLITE_CORRUPT_VTAB (message left to the caller) when the file is
** shorter than that.
*/
static int mapTo(VsFile *p, i64 nEnd, char **pzErr){
  if( nEnd>p->nValid ){
    struct stat st;
    if( fstat(p->fd, &st) ) return ioError(SQLITE_IOERR_FSTAT, pzErr,
                                           "cannot stat", p);
    if( st.st_size<nEnd ) return SQLITE_CORRUPT_VTAB;
    if( st.st_size>p->nMap ){
      /* map twice what is there (at least 64 MiB): growth needs no remap */
      i64 nNew = st.st_size*2;
      void *pNew;
      if( nNew<((i64)64<<20) ) nNew = (i64)64<<20;
      /* a 32-bit address space: map what is there, if it fits at all */
      if( (u64)nNew>(u64)SIZE_MAX ) nNew = st.st_size;
      if( (u64)nNew>(u64)SIZE_MAX ){
        errno = EFBIG;
        return ioError(SQLITE_IOERR_MMAP, pzErr, "cannot map", p);
      }
      unmap(p);
      pNew = mmap(0, (size_t)nNew, PROT_READ, MAP_SHARED, p->fd, 0);
      if( pNew==MAP_FAILED ){
        return ioError(SQLITE_IOERR_MMAP, pzErr, "cannot map", p);
      }
      p->pMap = pNew;
      p->nMap = nNew;
    }
    p->nValid = st.st_size;
  }
  return SQLITE_OK;
}

int vsFileRead(VsFile *p, i64 iSlot, float *a, char **pzErr){
  int r;
  assert( iSlot>=0 && p->nSlotBytes==(i64)p->nDim*4 );
  if( p->fd<0 ){
    if( iSlot<0 || iSlot>=p->nMemSlot ){
      *pzErr = sqlite3_mprintf("slot %lld is beyond the in-memory store",
                               iSlot);
      return SQLITE_CORRUPT_VTAB;
    }
    memcpy(a, p->aMem + iSlot*p->nSlotBytes, (size_t)p->nSlotBytes);
    return SQLITE_OK;
  }
  if( p->nBufSlot && iSlot>=p->iBufFirst && iSlot<p->iBufFirst+p->nBufSlot ){
    memcpy(a, p->aBuf[p->iBuf] + (iSlot-p->iBufFirst)*p->nSlotBytes,
           (size_t)p->nSlotBytes);
    return SQLITE_OK;
  }
  if( p->nFlightSlot && iSlot>=p->iFlightFirst
   && iSlot<p->iFlightFirst+p->nFlightSlot ){
    int rc = waitFlight(p, pzErr);
    if( rc ) return rc;
  }
  r = mapTo(p, VS_HEADER_BYTES + (iSlot+1)*p->nSlotBytes, pzErr);
  if( r==SQLITE_CORRUPT_VTAB ){
    *pzErr = sqlite3_mprintf("side file %s is truncated: slot %lld is "
                             "past its end", p->zPath, iSlot);
  }
  if( r ) return r;
  assert( VS_HEADER_BYTES + (iSlot+1)*p->nSlotBytes<=p->nValid );
  assert( p->nValid<=p->nMap );
  memcpy(a, p->pMap + VS_HEADER_BYTES + iSlot*p->nSlotBytes,
         (size_t)p->nSlotBytes);
  return SQLITE_OK;
}

int vsFileSlotCount(VsFile *p, i64 *pnSlot, char **pzErr){
  struct stat st;
  if( p->fd<0 ){
    *pnSlot = p->nMemSlot;
    return SQLITE_OK;
  }
  {
    int rc = waitFlight(p, pzErr);
    if( rc ) return rc;
  }
  if( fstat(p->fd, &st) ) return ioError(SQLITE_IOERR_FSTAT, pzErr,
                                         "cannot stat", p);
  if( p->nSlotBytes==0 || st.st_size<=VS_HEADER_BYTES ){
    *pnSlot = 0;
  }else{
    *pnSlot = (st.st_size - VS_HEADER_BYTES) / p->nSlotBytes;
  }
  return SQLITE_OK;
}

int vsFileMap(VsFile *p, i64 nSlot, const float **paOut, char **pzErr){
  i64 nNeed = VS_HEADER_BYTES + nSlot*p->nSlotBytes;
  int rc;
  *paOut = 0;
  if( p->fd<0 ){
    if( nSlot>p->nMemSlot ){
      *pzErr = sqlite3_mprintf("slot %lld is beyond the in-memory store",
                               nSlot-1);
      return SQLITE_CORRUPT_VTAB;
    }
    *paOut = (const float*)p->aMem;
    return SQLITE_OK;
  }
  rc = vsFileFlush(p, pzErr);
  if( rc ) return rc;
  if( nSlot==0 ) return SQLITE_OK;
  rc = mapTo(p, nNeed, pzErr);
  if( rc==SQLITE_CORRUPT_VTAB ){
    *pzErr = sqlite3_mprintf("side file %s is truncated: %lld slots "
                             "expected", p->zPath, nSlot);
  }
  if( rc ) return rc;
  assert( nNeed<=p->nValid && p->nValid<=p->nMap );
  *paOut = (const float*)(p->pMap + VS_HEADER_BYTES);
  return SQLITE_OK;
}

static int syncDirectory(VsFile *p, char **pzErr){
  int iErr = vsFileSyncDir(p->zPath);
  if( iErr==ENOMEM ) return SQLITE_NOMEM;
  if( iErr ){
    errno = iErr;
    return ioError(SQLITE_IOERR_DIR_FSYNC, pzErr, "cannot sync directory of",
                   p);
  }
  return SQLITE_OK;
}

int vsFileSync(VsFile *p, int eSync, char **pzErr){
  int rc;
  if( p->fd<0 ) return SQLITE_OK;
  rc = vsFileFlush(p, pzErr);
  /* a new file is made durable once, whatever the mode */
  if( eSync==VS_SYNC_LAZY && !p->bDirSync ) eSync = VS_SYNC_OFF;
  if( rc==SQLITE_OK && eSync!=VS_SYNC_OFF ){
    if( fdatasync(p->fd) ){
      rc = ioError(SQLITE_IOERR_FSYNC, pzErr, "cannot sync", p);
    }else if( p->bDirSync ){
      rc = syncDirectory(p, pzErr);
      if( rc==SQLITE_OK ) p->bDirSync = 0;
    }
  }
  vsFileCommitUnlock(p);
  return rc;
}
