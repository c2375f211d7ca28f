/* Benchmark helpers; see benchutil.h. */
#define _GNU_SOURCE
#include "benchutil.h"
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

double benchNow(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec*1e-9;
}

void benchCheck(sqlite3 *db, int rc, const char *zWhat){
  if( rc!=SQLITE_OK && rc!=SQLITE_DONE && rc!=SQLITE_ROW ){
    fprintf(stderr, "%s: %s\n", zWhat, db ? sqlite3_errmsg(db)
                                          : sqlite3_errstr(rc));
    exit(1);
  }
}

void benchExec(sqlite3 *db, const char *zSql){
  benchCheck(db, sqlite3_exec(db, zSql, 0, 0, 0), zSql);
}

char *benchModule(const char *zArg){
  char *zPath = realpath(zArg, 0);
  if( zPath==0 ){
    fprintf(stderr, "no module at %s\n", zArg);
    exit(2);
  }
  return zPath;
}

int benchLoad(sqlite3 *db, const char *zPath, char **pzErr){
  sqlite3_enable_load_extension(db, 1);
  return sqlite3_load_extension(db, zPath, 0, pzErr);
}

void benchMustLoad(sqlite3 *db, const char *zPath){
  char *zErr = 0;
  if( benchLoad(db, zPath, &zErr) ){
    fprintf(stderr, "load %s: %s\n", zPath, zErr);
    exit(1);
  }
}

void benchRemoveDb(const char *zFile){
  static const char *azSuffix[] = { "", "-journal", "-wal", "-shm" };
  char zPath[1024];
  glob_t g;
  size_t i;
  for(i=0; i<sizeof(azSuffix)/sizeof(azSuffix[0]); i++){
    snprintf(zPath, sizeof(zPath), "%s%s", zFile, azSuffix[i]);
    unlink(zPath);
  }
  snprintf(zPath, sizeof(zPath), "%s-vectors-*", zFile);
  if( glob(zPath, 0, 0, &g)==0 ){
    for(i=0; i<g.gl_pathc; i++) unlink(g.gl_pathv[i]);
    globfree(&g);
  }
}

sqlite3 *benchOpen(const char *zFile, const char *zExt){
  sqlite3 *db = 0;
  benchRemoveDb(zFile);
  if( sqlite3_open(zFile, &db)!=SQLITE_OK ){
    fprintf(stderr, "open %s: %s\n", zFile, sqlite3_errmsg(db));
    exit(1);
  }
  if( zExt ) benchMustLoad(db, zExt);
  return db;
}
