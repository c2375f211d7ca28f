/*
** The background writer of a side file.
**
** Bulk inserts are dominated by copying vector bytes into the page cache.
** The side file's write-behind buffer is double: when one buffer is full
** it is handed to this writer, whose thread pwrite()s it while the
** connection fills the other. At most one write is in flight; every
** caller that needs the bytes on file (flush, sync, a read of those
** slots, close) waits for it first. A failed write is remembered and
** reported by the next submission or wait, so the transaction fails at
** the latest at xSync; the slots it covered are unreferenced anyway.
**
** STATES (asserted): idle (bBusy==0) -> busy (bBusy==1, a write handed
** over, set only by the connection's thread in vsWriterSubmit) -> idle
** (cleared only by the writer thread when the write is done); bStop is
** set once, by vsWriterFree, while idle, and the thread then ends. The
** thread starts at the first submission; when it cannot be created
** (EAGAIN: out of threads), that write and every later one are done on
** the calling thread instead: slower, never an error of its own.
**
** WRITEBACK. A file that will be synced at the commit (db_copy=off, or no
** boot mark: sidefile.c) asks for each write's writeback to start as soon
** as it is written (Linux sync_file_range, which does not wait), so that
** the commit's fdatasync waits for less. It makes nothing durable by
** itself and is no part of any durability argument.
*/
#define _GNU_SOURCE
#include "writer.h"
#include "veles_int.h"
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

struct VsWriter {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  pthread_t thread;
  int bStarted;           /* the thread runs */
  int bNoThread;          /* it could not be created: write in the caller */
  int bStop;              /* asked to stop */
  int bBusy;              /* a write is in flight */
  int fd;                 /* the write in flight */
  int bWriteback;         /* start its writeback once written */
  const unsigned char *a;
  size_t n;
  off_t iOff;
  int iErrno;             /* errno of a failed write, 0 if none */
};

int vsWriterPwrite(int fd, const void *pBuf, size_t n, off_t iOff){
  const unsigned char *a = pBuf;
  while( n>0 ){
    ssize_t w = pwrite(fd, a, n, iOff);
    if( w<0 && errno==EINTR ) continue;
    if( w<=0 ) return w<0 ? errno : ENOSPC;
    a += w;
    n -= (size_t)w;
    iOff += w;
  }
  return 0;
}

/* Start the writeback of n bytes at iOff of fd (a hint: no error). */
static void startWriteback(int fd, size_t n, off_t iOff){
#if defined(__linux__)
  (void)sync_file_range(fd, iOff, (off_t)n, SYNC_FILE_RANGE_WRITE);
#else
  (void)fd; (void)n; (void)iOff;
#endif
}

static void *writerMain(void *pArg){
  VsWriter *p = (VsWriter*)pArg;
  pthread_mutex_lock(&p->mutex);
  for(;;){
    while( !p->bBusy && !p->bStop ) pthread_cond_wait(&p->cond, &p->mutex);
    if( !p->bBusy && p->bStop ) break;
    assert( p->bBusy );       /* a stop waits for the write in flight */
    {
      const unsigned char *a = p->a;
      size_t n = p->n;
      off_t iOff = p->iOff;
      int fd = p->fd, bWriteback = p->bWriteback, iErr;
      pthread_mutex_unlock(&p->mutex);
      iErr = vsWriterPwrite(fd, a, n, iOff);
      if( iErr==0 && bWriteback ) startWriteback(fd, n, iOff);
      pthread_mutex_lock(&p->mutex);
      assert( p->bBusy );
      if( iErr && p->iErrno==0 ) p->iErrno = iErr;
      p->bBusy = 0;
      pthread_cond_broadcast(&p->cond);
    }
  }
  pthread_mutex_unlock(&p->mutex);
  return 0;
}

VsWriter *vsWriterNew(void){
  VsWriter *p = sqlite3_malloc(sizeof(*p));
  if( p==0 ) return 0;
  memset(p, 0, sizeof(*p));
  pthread_mutex_init(&p->mutex, 0);
  pthread_cond_init(&p->cond, 0);
  return p;
}

int vsWriterWait(VsWriter *p){
  int iErr;
  pthread_mutex_lock(&p->mutex);
  while( p->bBusy ) pthread_cond_wait(&p->cond, &p->mutex);
  iErr = p->iErrno;
  p->iErrno = 0;
  pthread_mutex_unlock(&p->mutex);
  return iErr;
}

int vsWriterSubmit(VsWriter *p, int fd, const void *a, size_t n, off_t iOff,
                   int bWriteback){
  int iErr = vsWriterWait(p);
  if( iErr ) return iErr;
  if( !p->bStarted && !p->bNoThread ){
    if( pthread_create(&p->thread, 0, writerMain, p)==0 ){
      p->bStarted = 1;
    }else{
      p->bNoThread = 1;
    }
  }
  if( p->bNoThread ){
    assert( !p->bStarted && !p->bBusy );
    iErr = vsWriterPwrite(fd, a, n, iOff);
    if( iErr==0 && bWriteback ) startWriteback(fd, n, iOff);
    return iErr;
  }
  pthread_mutex_lock(&p->mutex);
  assert( p->bStarted && !p->bBusy && !p->bStop );
  p->fd = fd;
  p->bWriteback = bWriteback;
  p->a = a;
  p->n = n;
  p->iOff = iOff;
  p->bBusy = 1;
  pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->mutex);
  return 0;
}

void vsWriterFree(VsWriter *p){
  if( p==0 ) return;
  if( p->bStarted ){
    pthread_mutex_lock(&p->mutex);
    assert( !p->bStop );
    p->bStop = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mutex);
    pthread_join(p->thread, 0);
  }
  pthread_cond_destroy(&p->cond);
  pthread_mutex_destroy(&p->mutex);
  sqlite3_free(p);
}
