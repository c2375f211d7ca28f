/*
** Benchmark: the `payloads` table beside a plain SQLite table
** t(id INTEGER PRIMARY KEY, json TEXT CHECK (json_valid(json))) doing the
** same work, in one run.
**
**   bench_payloads MODULE DIR [N] [ROUNDS]    (100000, 3)
**
** Payloads are ~130-byte JSON objects; field "lang" takes 100 values, so
** each value matches 1% of the rows. Measured:
**   store            N inserts in one transaction (no declared fields)
**   store + fields   the same into payloads(lang TEXT, year INTEGER,
**                    score REAL), three indexes to maintain
**   retrieve         SELECT json ... WHERE id = ?, every id, random order
**   filter 1%        SELECT id ... WHERE lang = ?, 20 values: the declared
**                    field against json_extract(json, '$.lang') = ?
**   delete 10%       DELETE ... WHERE id = ?, one transaction (no fields)
** Prints each time and the ratio plain/veles (above 1.0 = veles faster),
** with the targets: store >= 0.8, retrieve >= 1.0, filter >= 20.
** Both sides get the same payloads, load the extension, and use the
** default journal mode and synchronous=FULL. The sides alternate for
** ROUNDS rounds (plain, veles, plain, veles...) with fresh database files
** each time, and each operation's best time is kept: the machines are
** shared, and noise only ever adds time.
*/
#define _GNU_SOURCE
#include "benchutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int N = 100000;
static const char *zModule;
static char **azJson;     /* the N payloads */
static int *aOrder;       /* a random permutation of 1..N */

/* A fresh database with veles loaded (both sides load it). */
static sqlite3 *openDb(const char *zFile){
  sqlite3 *db = benchOpen(zFile, zModule);
  benchExec(db, "PRAGMA synchronous=FULL");
  return db;
}

static unsigned int uRand = 12345;
static unsigned int rnd(void){
  uRand = uRand*1103515245u + 12345u;
  return (uRand>>8) & 0xffffff;
}

static void makeData(void){
  int i;
  azJson = malloc(sizeof(char*)*(size_t)N);
  aOrder = malloc(sizeof(int)*(size_t)N);
  for(i=0; i<N; i++){
    char zBuf[256];
    snprintf(zBuf, sizeof(zBuf),
        "{\"lang\":\"l%02u\",\"year\":%u,\"score\":%u.%03u,"
        "\"title\":\"document number %d of the benchmark\","
        "\"tags\":[\"t%u\",\"t%u\"]}",
        rnd()%100, 1990+rnd()%35, rnd()%10, rnd()%1000, i, rnd()%50,
        rnd()%50);
    azJson[i] = strdup(zBuf);
    aOrder[i] = i+1;
  }
  for(i=N-1; i>0; i--){
    int j = (int)(rnd() % (unsigned)(i+1)), t = aOrder[i];
    aOrder[i] = aOrder[j];
    aOrder[j] = t;
  }
}

static double store(sqlite3 *db, const char *zTab){
  sqlite3_stmt *pStmt;
  char zSql[100];
  double t0 = benchNow();
  int i;
  snprintf(zSql, sizeof(zSql), "INSERT INTO %s(id, json) VALUES (?, ?)", zTab);
  benchCheck(db, sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0), zSql);
  benchExec(db, "BEGIN");
  for(i=0; i<N; i++){
    sqlite3_bind_int(pStmt, 1, i+1);
    sqlite3_bind_text(pStmt, 2, azJson[i], -1, SQLITE_STATIC);
    benchCheck(db, sqlite3_step(pStmt), "store");
    sqlite3_reset(pStmt);
  }
  benchExec(db, "COMMIT");
  sqlite3_finalize(pStmt);
  return benchNow()-t0;
}

static double retrieve(sqlite3 *db, const char *zTab){
  sqlite3_stmt *pStmt;
  char zSql[100];
  double t0 = benchNow();
  long long nByte = 0;
  int i;
  snprintf(zSql, sizeof(zSql), "SELECT json FROM %s WHERE id = ?", zTab);
  benchCheck(db, sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0), zSql);
  for(i=0; i<N; i++){
    sqlite3_bind_int(pStmt, 1, aOrder[i]);
    if( sqlite3_step(pStmt)!=SQLITE_ROW ){
      fprintf(stderr, "retrieve: id %d missing in %s\n", aOrder[i], zTab);
      exit(1);
    }
    nByte += sqlite3_column_bytes(pStmt, 0);
    sqlite3_reset(pStmt);
  }
  sqlite3_finalize(pStmt);
  if( nByte==0 ) exit(1);
  return benchNow()-t0;
}

/* Run zSql for 20 lang values; returns seconds, *pnRow the rows seen. */
static double filter(sqlite3 *db, const char *zSql, long long *pnRow){
  sqlite3_stmt *pStmt;
  double t0 = benchNow();
  int i;
  *pnRow = 0;
  benchCheck(db, sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0), zSql);
  for(i=0; i<20; i++){
    char zLang[8];
    snprintf(zLang, sizeof(zLang), "l%02d", i*5);
    sqlite3_bind_text(pStmt, 1, zLang, -1, SQLITE_TRANSIENT);
    while( sqlite3_step(pStmt)==SQLITE_ROW ) (*pnRow)++;
    sqlite3_reset(pStmt);
  }
  sqlite3_finalize(pStmt);
  return benchNow()-t0;
}

static double deleteTenth(sqlite3 *db, const char *zTab){
  sqlite3_stmt *pStmt;
  char zSql[100];
  double t0 = benchNow();
  int i;
  snprintf(zSql, sizeof(zSql), "DELETE FROM %s WHERE id = ?", zTab);
  benchCheck(db, sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0), zSql);
  benchExec(db, "BEGIN");
  for(i=0; i<N/10; i++){
    sqlite3_bind_int(pStmt, 1, aOrder[i]);
    benchCheck(db, sqlite3_step(pStmt), "delete");
    sqlite3_reset(pStmt);
  }
  benchExec(db, "COMMIT");
  sqlite3_finalize(pStmt);
  return benchNow()-t0;
}

#define NOP 5

/* One round on the plain table: a[] gets the times, *pnRow the rows the
** filter saw. Plain stores have no fields: a[1] repeats a[0]. */
static void runPlain(double *a, long long *pnRow){
  sqlite3 *db = openDb("plain.db");
  benchExec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, "
           "json TEXT CHECK (json_valid(json)))");
  a[0] = store(db, "t");
  a[1] = a[0];
  a[2] = retrieve(db, "t");
  a[3] = filter(db, "SELECT id FROM t WHERE "
                "json_extract(json, '$.lang') = ?", pnRow);
  a[4] = deleteTenth(db, "t");
  sqlite3_close(db);
  benchRemoveDb("plain.db");
}

/* One round on payloads tables, without and with declared fields. */
static void runVeles(double *a, long long *pnRow){
  sqlite3 *db = openDb("veles.db");
  benchExec(db, "CREATE VIRTUAL TABLE meta USING payloads");
  a[0] = store(db, "meta");
  a[2] = retrieve(db, "meta");
  a[4] = deleteTenth(db, "meta");
  sqlite3_close(db);
  benchRemoveDb("veles.db");

  db = openDb("veles2.db");
  benchExec(db, "CREATE VIRTUAL TABLE meta USING payloads(lang TEXT, "
           "year INTEGER, score REAL)");
  a[1] = store(db, "meta");
  a[3] = filter(db, "SELECT id FROM meta WHERE lang = ?", pnRow);
  sqlite3_close(db);
  benchRemoveDb("veles2.db");
}

int main(int argc, char **argv){
  static const char *azName[NOP] = {
    "store (1 txn)", "store + 3 fields (1 txn)", "retrieve by id",
    "filter 1% x20", "delete 10% (1 txn)"
  };
  static const double aTarget[NOP] = { 0.8, 0, 1.0, 20.0, 0 };
  double aPlain[NOP], aVeles[NOP], aRound[NOP];
  long long nPlainRow = 0, nVelesRow = 0;
  int i, iRound, nRound = 3, nMiss = 0;
  if( argc<3 ){
    fprintf(stderr, "usage: %s MODULE DIR [N] [ROUNDS]\n", argv[0]);
    return 2;
  }
  zModule = benchModule(argv[1]);
  if( argc>3 ) N = atoi(argv[3]);
  if( argc>4 ) nRound = atoi(argv[4]);
  if( N<10 || nRound<1 ){
    fprintf(stderr, "N must be at least 10 and ROUNDS at least 1\n");
    return 2;
  }
  mkdir(argv[2], 0755);
  if( chdir(argv[2]) ) return 2;
  makeData();

  for(i=0; i<NOP; i++) aPlain[i] = aVeles[i] = 1e9;
  for(iRound=0; iRound<nRound; iRound++){
    runPlain(aRound, &nPlainRow);
    for(i=0; i<NOP; i++) if( aRound[i]<aPlain[i] ) aPlain[i] = aRound[i];
    runVeles(aRound, &nVelesRow);
    for(i=0; i<NOP; i++) if( aRound[i]<aVeles[i] ) aVeles[i] = aRound[i];
    if( nPlainRow!=nVelesRow ){
      fprintf(stderr, "filter: plain found %lld rows, payloads %lld\n",
              nPlainRow, nVelesRow);
      return 1;
    }
  }

  printf("payloads benchmark: N=%d, SQLite %s, filter rows %lld, "
         "best of %d rounds\n", N, sqlite3_libversion(), nVelesRow, nRound);
  printf("%-28s %11s %11s %12s %8s\n", "operation", "plain (s)", "veles (s)",
         "plain/veles", "target");
  for(i=0; i<NOP; i++){
    double r = aPlain[i]/aVeles[i];
    char zTarget[24] = "";
    if( aTarget[i]>0 ){
      snprintf(zTarget, sizeof(zTarget), ">=%.1f %s", aTarget[i],
               r>=aTarget[i] ? "ok" : "MISS");
      if( r<aTarget[i] ) nMiss++;
    }
    printf("%-28s %11.4f %11.4f %11.2fx %8s\n", azName[i], aPlain[i],
           aVeles[i], r, zTarget);
  }
  printf("%s\n", nMiss ? "some targets missed" : "all targets met");
  /* machine-readable lines for scripts/bench.sh and its chart */
  for(i=0; i<NOP; i++){
    printf("ratio\tpayloads N=%d\t%s\t%.3f\t%.2f\n", N, azName[i],
           aPlain[i]/aVeles[i], aTarget[i]>0 ? aTarget[i] : 0.0);
  }
  for(i=0; i<N; i++) free(azJson[i]);
  free(azJson);
  free(aOrder);
  return 0;
}
