/* Test harness; see testutil.h. */
#define _GNU_SOURCE
#include "testutil.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *zModule = 0;
static int nPass = 0;
static int nFail = 0;
static int bAutoCheck = 0;       /* tAutoCheck() */
static char zLastCase[64] = "start";   /* last case number seen */

static void autoCheck(sqlite3 *db);

void tInit(int argc, char **argv){
  char zCmd[4096];
  if( argc<3 ){
    fprintf(stderr, "usage: %s MODULE SCRATCH_DIR\n", argv[0]);
    exit(2);
  }
  zModule = realpath(argv[1], 0);
  if( zModule==0 ){
    fprintf(stderr, "no module at %s\n", argv[1]);
    exit(2);
  }
  snprintf(zCmd, sizeof(zCmd), "rm -rf '%s' && mkdir -p '%s'",
           argv[2], argv[2]);
  if( system(zCmd)!=0 || chdir(argv[2])!=0 ){
    fprintf(stderr, "cannot prepare scratch directory %s\n", argv[2]);
    exit(2);
  }
}

const char *tModulePath(void){ return zModule; }

sqlite3 *tOpen(const char *zFile){
  sqlite3 *db = 0;
  char *zErr = 0;
  if( sqlite3_open(zFile, &db)!=SQLITE_OK ){
    fprintf(stderr, "cannot open %s: %s\n", zFile, sqlite3_errmsg(db));
    exit(2);
  }
  sqlite3_enable_load_extension(db, 1);
  if( sqlite3_load_extension(db, zModule, "sqlite3_veles_init", &zErr) ){
    fprintf(stderr, "cannot load %s: %s\n", zModule, zErr);
    exit(2);
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

void tClose(sqlite3 *db){
  if( sqlite3_close(db)!=SQLITE_OK ){
    fprintf(stderr, "sqlite3_close failed: %s\n", sqlite3_errmsg(db));
    nFail++;
    sqlite3_close_v2(db);
  }
}

void tShell(const char *zFormat, ...){
  va_list ap;
  char *zCmd;
  va_start(ap, zFormat);
  zCmd = sqlite3_vmprintf(zFormat, ap);
  va_end(ap);
  if( zCmd==0 || system(zCmd)!=0 ){
    fprintf(stderr, "FAIL shell: %s\n", zCmd ? zCmd : "(out of memory)");
    nFail++;
  }
  sqlite3_free(zCmd);
}

void tExec(sqlite3 *db, const char *zFormat, ...){
  va_list ap;
  char *zSql, *zErr = 0;
  va_start(ap, zFormat);
  zSql = sqlite3_vmprintf(zFormat, ap);
  va_end(ap);
  if( sqlite3_exec(db, zSql, 0, 0, &zErr)!=SQLITE_OK ){
    fprintf(stderr, "FAIL exec: %s\n  error: %s\n", zSql, zErr);
    nFail++;
    sqlite3_free(zErr);
  }
  sqlite3_free(zSql);
  autoCheck(db);
}

static void appendValue(sqlite3_str *p, sqlite3_stmt *pStmt, int i){
  switch( sqlite3_column_type(pStmt, i) ){
    case SQLITE_NULL:
      sqlite3_str_appendall(p, "NULL");
      break;
    case SQLITE_BLOB: {
      const unsigned char *a = sqlite3_column_blob(pStmt, i);
      int n = sqlite3_column_bytes(pStmt, i), j;
      sqlite3_str_appendall(p, "x'");
      for(j=0; j<n; j++) sqlite3_str_appendf(p, "%02x", a[j]);
      sqlite3_str_appendall(p, "'");
      break;
    }
    default:
      sqlite3_str_appendall(p, (const char*)sqlite3_column_text(pStmt, i));
  }
}

/* Run zSql; rows into *pzOut, or the error into *pzErr. */
static int runQuery(sqlite3 *db, const char *zSql, char **pzOut,
                    char **pzErr){
  sqlite3_str *p = sqlite3_str_new(0);
  const char *zTail = zSql;
  int rc = SQLITE_OK, nRow = 0;
  *pzErr = 0;
  while( rc==SQLITE_OK && zTail && zTail[0] ){
    sqlite3_stmt *pStmt = 0;
    rc = sqlite3_prepare_v2(db, zTail, -1, &pStmt, &zTail);
    if( rc!=SQLITE_OK || pStmt==0 ) break;
    while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
      int i;
      if( nRow++ ) sqlite3_str_appendchar(p, 1, '\n');
      for(i=0; i<sqlite3_column_count(pStmt); i++){
        if( i ) sqlite3_str_appendchar(p, 1, '|');
        appendValue(p, pStmt, i);
      }
    }
    if( rc==SQLITE_DONE ) rc = SQLITE_OK;
    if( rc ) rc = sqlite3_finalize(pStmt); else sqlite3_finalize(pStmt);
  }
  if( rc ) *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(db));
  *pzOut = sqlite3_str_finish(p);
  if( *pzOut==0 ) *pzOut = sqlite3_mprintf("");
  return rc;
}

char *tQuery(sqlite3 *db, const char *zSql){
  char *zOut, *zErr;
  if( runQuery(db, zSql, &zOut, &zErr) ){
    sqlite3_free(zOut);
    zOut = sqlite3_mprintf("ERROR: %s", zErr);
  }
  sqlite3_free(zErr);
  return zOut;
}

long long tInt(sqlite3 *db, const char *zSql){
  sqlite3_stmt *pStmt = 0;
  long long v = -1;
  if( sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0)==SQLITE_OK
   && sqlite3_step(pStmt)==SQLITE_ROW ){
    v = sqlite3_column_int64(pStmt, 0);
  }
  sqlite3_finalize(pStmt);
  return v;
}

int tRows(const char *zCase, sqlite3 *db, const char *zSql,
          const char *zExpect){
  snprintf(zLastCase, sizeof(zLastCase), "%s", zCase);
  char *zOut, *zErr;
  int rc = runQuery(db, zSql, &zOut, &zErr);
  int bOk = rc==SQLITE_OK && strcmp(zOut, zExpect)==0;
  if( bOk ){
    nPass++;
  }else{
    nFail++;
    fprintf(stderr, "FAIL %s: %s\n  expected: %s\n  got:      %s\n", zCase,
            zSql, zExpect, rc ? zErr : zOut);
  }
  sqlite3_free(zOut);
  sqlite3_free(zErr);
  return bOk;
}

int tError(const char *zCase, sqlite3 *db, const char *zSql,
           const char *zExpect){
  char *zOut, *zErr;
  int rc = runQuery(db, zSql, &zOut, &zErr);
  int bOk = rc!=SQLITE_OK && strcmp(zErr, zExpect)==0;
  if( bOk ){
    nPass++;
  }else{
    nFail++;
    fprintf(stderr, "FAIL %s: %s\n  expected error: %s\n  got:            %s\n",
            zCase, zSql, zExpect, rc ? zErr : "(no error)");
  }
  sqlite3_free(zOut);
  sqlite3_free(zErr);
  snprintf(zLastCase, sizeof(zLastCase), "%s", zCase);
  autoCheck(db);
  return bOk;
}

int tCheck(const char *zCase, int bOk, const char *zWhat){
  if( bOk ){
    nPass++;
  }else{
    nFail++;
    fprintf(stderr, "FAIL %s: %s\n", zCase, zWhat);
  }
  return bOk;
}

static uint64_t fnv(uint64_t h, const void *p, int n){
  const unsigned char *a = p;
  int i;
  for(i=0; i<n; i++){ h ^= a[i]; h *= 1099511628211ull; }
  return h;
}

int tDigestRows(sqlite3 *db, const char *zSql, sqlite3_str *pStr){
  sqlite3_stmt *p = 0;
  uint64_t h = 14695981039346656037ull;
  int n = 0, rc;
  if( sqlite3_prepare_v2(db, zSql, -1, &p, 0) ){
    sqlite3_str_appendf(pStr, " ERROR: %s", sqlite3_errmsg(db));
    return 0;
  }
  while( (rc = sqlite3_step(p))==SQLITE_ROW ){
    int c;
    for(c=0; c<sqlite3_column_count(p); c++){
      h = fnv(h, sqlite3_column_blob(p, c), sqlite3_column_bytes(p, c));
      h = fnv(h, "|", 1);
    }
    n++;
  }
  if( rc!=SQLITE_DONE ){
    sqlite3_str_appendf(pStr, " ERROR: %s", sqlite3_errmsg(db));
  }else{
    sqlite3_str_appendf(pStr, " %d:%016llx", n, (unsigned long long)h);
  }
  sqlite3_finalize(p);
  return rc==SQLITE_DONE;
}

int tLastLogged(const char *zLog, int iNone){
  FILE *f = fopen(zLog, "r");
  int v = iNone, x;
  if( f==0 ) return iNone;
  while( fscanf(f, "%d", &x)==1 ) v = x;
  fclose(f);
  return v;
}

int tLong(void){
  const char *z = getenv("VELES_LONG");
  return z!=0 && atoi(z)>0;
}

long long tFileSize(const char *zPath){
  struct stat st;
  if( stat(zPath, &st) ) return -1;
  return (long long)st.st_size;
}

static char zFound[1024];

static int scanFiles(const char *zPrefix, int bFirst){
  DIR *d = opendir(".");
  struct dirent *e;
  int n = 0;
  size_t nPrefix = strlen(zPrefix);
  if( d==0 ) return 0;
  while( (e = readdir(d))!=0 ){
    if( strncmp(e->d_name, zPrefix, nPrefix)==0 ){
      if( n==0 && bFirst ){
        snprintf(zFound, sizeof(zFound), "%s", e->d_name);
      }
      n++;
    }
  }
  closedir(d);
  return n;
}

int tCountFiles(const char *zPrefix){ return scanFiles(zPrefix, 0); }

const char *tFindFile(const char *zPrefix){
  return scanFiles(zPrefix, 1) ? zFound : 0;
}

int tDone(void){
  printf("%d passed, %d failed\n", nPass, nFail);
  return nFail ? 1 : 0;
}

int tVelesCheck(const char *zCase, sqlite3 *db){
  sqlite3_stmt *pList = 0;
  int bOk = 1;
  /* every virtual table of the veles modules, in every schema */
  {
    sqlite3_str *pSql = sqlite3_str_new(0);
    sqlite3_stmt *pDb = 0;
    char *zSql;
    int n = 0;
    sqlite3_prepare_v2(db, "SELECT name FROM pragma_database_list", -1, &pDb,
                       0);
    while( pDb && sqlite3_step(pDb)==SQLITE_ROW ){
      const char *zDb = (const char*)sqlite3_column_text(pDb, 0);
      sqlite3_str_appendf(pSql, "%sSELECT %Q || '.' || name FROM \"%w\".sqlite_schema "
          "WHERE type='table' AND (sql LIKE 'CREATE VIRTUAL TABLE%%USING "
          "vectors%%' OR sql LIKE 'CREATE VIRTUAL TABLE%%USING payloads%%')",
          n++ ? " UNION ALL " : "", zDb, zDb);
    }
    sqlite3_finalize(pDb);
    zSql = sqlite3_str_finish(pSql);
    if( zSql ){
      sqlite3_prepare_v2(db, zSql, -1, &pList, 0);
      sqlite3_free(zSql);
    }
  }
  if( pList==0 ){
    bOk = 0;                    /* checked nothing: no pass */
    fprintf(stderr, "FAIL %s veles_check: cannot list the tables: %s\n",
            zCase, sqlite3_errmsg(db));
  }
  while( pList && sqlite3_step(pList)==SQLITE_ROW ){
    const char *zTab = (const char*)sqlite3_column_text(pList, 0);
    char *zCheck = sqlite3_mprintf("SELECT veles_check(%Q)", zTab);
    char *zOut = 0, *zErr = 0;
    runQuery(db, zCheck, &zOut, &zErr);
    if( zOut==0 || strcmp(zOut, "ok")!=0 ){
      bOk = 0;
      fprintf(stderr, "FAIL %s veles_check: %s\n  got: %s\n", zCase, zTab,
              zOut && zOut[0] ? zOut : (zErr ? zErr : "(nothing)"));
    }
    sqlite3_free(zOut);
    sqlite3_free(zErr);
    sqlite3_free(zCheck);
  }
  sqlite3_finalize(pList);
  if( bOk ) nPass++; else nFail++;
  return bOk;
}

void tAutoCheck(int bOn){ bAutoCheck = bOn; }

static void autoCheck(sqlite3 *db){
  char zCase[80];
  if( !bAutoCheck || !sqlite3_get_autocommit(db) ) return;
  snprintf(zCase, sizeof(zCase), "after %s", zLastCase);
  tVelesCheck(zCase, db);
}

/* Make table zTab of the database zDb (closed) format 1, as the release
** wrote it (test_upgrade.c says how that was checked). */
void tToFormat1(const char *zDb, const char *zTab){
  sqlite3 *db = 0;
  sqlite3_stmt *p = 0;
  char *zSql, zPath[1024];
  unsigned char aZero[4096-40], aOne[4] = {1, 0, 0, 0};
  int fd;
  if( sqlite3_open(zDb, &db) ) exit(2);      /* without veles */
  zSql = sqlite3_mprintf(
      "DROP TABLE \"%w_chunks\";"
      "DELETE FROM \"%w_config\" WHERE k IN ('commit','nonce','slots','copy',"
      "'chunk');"
      "UPDATE \"%w_config\" SET v=1 WHERE k='format';", zTab, zTab, zTab);
  if( sqlite3_exec(db, zSql, 0, 0, 0) ) exit(2);
  sqlite3_free(zSql);
  zSql = sqlite3_mprintf("SELECT v FROM \"%w_config\" WHERE k='ident'", zTab);
  if( sqlite3_prepare_v2(db, zSql, -1, &p, 0) || sqlite3_step(p)!=SQLITE_ROW ){
    exit(2);
  }
  snprintf(zPath, sizeof(zPath), "%s-vectors-%s", zDb,
           (const char*)sqlite3_column_text(p, 0));
  sqlite3_finalize(p);
  sqlite3_free(zSql);
  if( sqlite3_exec(db, "VACUUM", 0, 0, 0) ) exit(2);
  sqlite3_close(db);
  memset(aZero, 0, sizeof(aZero));
  fd = open(zPath, O_RDWR);
  if( fd<0 || pwrite(fd, aOne, 4, 8)!=4
   || pwrite(fd, aZero, sizeof(aZero), 40)!=(ssize_t)sizeof(aZero) ){
    exit(2);
  }
  close(fd);
}
