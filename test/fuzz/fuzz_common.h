/*
** Shared by the libFuzzer targets (test/fuzz/fuzz_*.c): the extension is
** linked into the fuzzer binary and registered as an auto extension, a
** scratch directory per process, and abort() with a message for every
** broken promise so that libFuzzer keeps the input.
*/
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H
#define _GNU_SOURCE
#include <sqlite3.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sqlite3_veles_init(sqlite3 *db, char **pzErrMsg,
                       const sqlite3_api_routines *pApi);
int LLVMFuzzerInitialize(int *pArgc, char ***pArgv);
int LLVMFuzzerTestOneInput(const uint8_t *aData, size_t nData);

static char fzDir[512];           /* this process's scratch directory */

/* Report a broken promise and stop: libFuzzer saves the input. */
static void fzFail(const char *zFormat, ...){
  va_list ap;
  fprintf(stderr, "FUZZ FAILURE: ");
  va_start(ap, zFormat);
  vfprintf(stderr, zFormat, ap);
  va_end(ap);
  fprintf(stderr, "\n");
  abort();
}

/* Remove every file of the scratch directory. */
static void fzClean(void){
  DIR *d = opendir(fzDir);
  struct dirent *e;
  char zPath[1024];
  if( d==0 ) return;
  while( (e = readdir(d))!=0 ){
    if( e->d_name[0]=='.' ) continue;
    snprintf(zPath, sizeof(zPath), "%s/%s", fzDir, e->d_name);
    unlink(zPath);
  }
  closedir(d);
}

static void fzRemoveDir(void){
  fzClean();
  rmdir(fzDir);
}

/* Register the extension and make a scratch directory on a tmpfs when
** there is one ($VELES_FUZZ_DIR, /dev/shm, else $TMPDIR or /tmp). */
static void fzSetup(void){
  const char *zBase = getenv("VELES_FUZZ_DIR");
  if( zBase==0 ) zBase = access("/dev/shm", W_OK)==0 ? "/dev/shm" : 0;
  if( zBase==0 ) zBase = getenv("TMPDIR");
  if( zBase==0 ) zBase = "/tmp";
  snprintf(fzDir, sizeof(fzDir), "%s/veles-fuzz-XXXXXX", zBase);
  if( mkdtemp(fzDir)==0 ) fzFail("cannot make a directory in %s", zBase);
  atexit(fzRemoveDir);
  sqlite3_auto_extension((void(*)(void))sqlite3_veles_init);
}

/* Run SQL that must succeed. */
static void fzExec(sqlite3 *db, const char *zSql){
  char *zErr = 0;
  if( sqlite3_exec(db, zSql, 0, 0, &zErr)!=SQLITE_OK ){
    fzFail("%s: %s", zSql, zErr);
  }
}

/* The single text value of zSql (static buffer), or an error message. */
static const char *fzText(sqlite3 *db, const char *zSql, int *pRc){
  static char zOut[4096];
  sqlite3_stmt *pStmt = 0;
  int rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);
  zOut[0] = 0;
  if( rc==SQLITE_OK ){
    rc = sqlite3_step(pStmt);
    if( rc==SQLITE_ROW ){
      const char *z = (const char*)sqlite3_column_text(pStmt, 0);
      snprintf(zOut, sizeof(zOut), "%s", z ? z : "NULL");
      rc = SQLITE_OK;
    }else if( rc==SQLITE_DONE ){
      rc = SQLITE_OK;
    }
  }
  if( rc!=SQLITE_OK ) snprintf(zOut, sizeof(zOut), "%s", sqlite3_errmsg(db));
  sqlite3_finalize(pStmt);
  if( pRc ) *pRc = rc;
  return zOut;
}

#endif
