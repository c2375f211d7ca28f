/*
** Registers veles in every SQLite connection of a process that does not
** know about it -- a dqlite node such as Debian's dqlite-demo -- without
** changing that program:
**
**   VELES_MODULE=/usr/lib/x86_64-linux-gnu/sqlite3/veles.so \
**   LD_PRELOAD=/path/to/veles_preload.so dqlite-demo ...
**
** It wraps sqlite3_open_v2(): the first call loads the module named by
** VELES_MODULE and hands its entry point to sqlite3_auto_extension(),
** then every open goes on to SQLite's own function. Registration waits
** for the first open, not for a constructor, because a dqlite node
** configures SQLite (sqlite3_config) before it opens anything, and
** sqlite3_auto_extension() initializes SQLite, after which sqlite3_config
** fails. A host program of your own calls sqlite3_auto_extension() itself
** instead (docs/replication.md). A module that cannot be loaded aborts the
** process: a node without veles would serve tables it cannot read.
*/
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

typedef int (*OpenFunc)(const char*, sqlite3**, int, const char*);

static pthread_once_t registered = PTHREAD_ONCE_INIT;
static OpenFunc xSqliteOpen;

static void registerVeles(void){
  const char *zModule = getenv("VELES_MODULE");
  void *pLib = zModule ? dlopen(zModule, RTLD_NOW|RTLD_LOCAL) : 0;
  void *pInit = pLib ? dlsym(pLib, "sqlite3_veles_init") : 0;
  if( pInit==0 ){
    fprintf(stderr, "veles_preload: cannot load veles from VELES_MODULE=%s: "
            "%s\n", zModule ? zModule : "(unset)",
            zModule ? dlerror() : "set it to the path of veles.so");
    abort();
  }
  sqlite3_auto_extension((void(*)(void))pInit);
  xSqliteOpen = (OpenFunc)dlsym(RTLD_NEXT, "sqlite3_open_v2");
  if( xSqliteOpen==0 ){
    fprintf(stderr, "veles_preload: no sqlite3_open_v2 after this library\n");
    abort();
  }
}

int sqlite3_open_v2(const char *zFile, sqlite3 **pDb, int flags,
                    const char *zVfs){
  pthread_once(&registered, registerVeles);
  return xSqliteOpen(zFile, pDb, flags, zVfs);
}
