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
*/
#include "writer.h"
#include "veles_int.h"
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

struct VsWriter {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  pthread_t thread;
  int bStarted;           /* the thread runs */
  int bStop;              /* asked to stop */
  int bBusy;              /* a write is in flight */
  int fd;                 /* the write in flight */
  const unsigned char *a;
  size_t n;
  off_t iOff;
  int iErrno;             /* errno of a failed write, 0 if none */
};

static void *writerMain(void *pArg){
  VsWriter *p = (VsWriter*)pArg;
  pthread_mutex_lock(&p->mutex);
  for(;;){
    while( !p->bBusy && !p->bStop ) pthread_cond_wait(&p->cond, &p->mutex);
    if( !p->bBusy && p->bStop ) break;
    {
      const unsigned char *a = p->a;
      size_t n = p->n;
      off_t iOff = p->iOff;
      int fd = p->fd, iErr = 0;
      pthread_mutex_unlock(&p->mutex);
      while( n>0 ){
        ssize_t w = pwrite(fd, a, n, iOff);
        if( w<0 && errno==EINTR ) continue;
        if( w<=0 ){
          iErr = w<0 ? errno : ENOSPC;
          break;
        }
        a += w;
        n -= (size_t)w;
        iOff += w;
      }
      pthread_mutex_lock(&p->mutex);
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

int vsWriterSubmit(VsWriter *p, int fd, const void *a, size_t n, off_t iOff){
  int iErr = vsWriterWait(p);
  if( iErr ) return iErr;
  if( !p->bStarted ){
    iErr = pthread_create(&p->thread, 0, writerMain, p);
    if( iErr ) return iErr;
    p->bStarted = 1;
  }
  pthread_mutex_lock(&p->mutex);
  p->fd = fd;
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
    p->bStop = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mutex);
    pthread_join(p->thread, 0);
  }
  pthread_cond_destroy(&p->cond);
  pthread_mutex_destroy(&p->mutex);
  sqlite3_free(p);
}
