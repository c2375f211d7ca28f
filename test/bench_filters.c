/*
** Benchmark: filters on the declared fields of a `payloads` table against
** what an experienced SQLite user builds without veles, on the same data
** in one run:
**
**   t(id INTEGER PRIMARY KEY, json TEXT CHECK (json_valid(json)),
**     lang TEXT AS (json->>'lang'), year INTEGER AS (json->>'year'),
**     score REAL AS (json->>'score'))      + one index per generated column
**   p USING payloads(lang TEXT, year INTEGER, score REAL)
**
**   bench_filters MODULE DIR [N] [ROUNDS]       (100000, 3)
**
** Every filter shape issue 13 names (equality, range, IN with AND, AND of
** fields, OR, IS NULL, ORDER BY a field LIMIT n, count(*) with a filter)
** and retrieve by id; then, on a second pair of tables that also have
** an index on (lang, year) (INDEX(lang, year) for payloads), a filter
** and an ordering that index serves. Each query runs REPS times per round; the sides
** alternate for ROUNDS rounds and each query's best time is kept. Both
** sides must return the same rows (compared by count, sum of ids and, for
** the ordered query, the scores in order), or the program fails. Prints
** the ratio plain / veles: above 1.0 means veles is faster; the target is
** 1.2 for every shape and 1.0 for retrieve.
*/
#include "benchutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int N = 100000;
static const char *zModule;

static unsigned int uRand = 4711;
static unsigned int rnd(void){
  uRand = uRand*1103515245u + 12345u;
  return (uRand>>8) & 0xffffff;
}

/* 40% en, 10% each fr, de, es, 5% each of six more; a score in [0,1) on
** 95% of the rows (the rest have none); years 1990..2024. */
static char **azJson;
static void makeData(void){
  static const char *azLang[20] = {
    "en","en","en","en","en","en","en","en","fr","fr",
    "de","de","es","es","ja","zh","pt","it","ru","ko"
  };
  int i;
  azJson = malloc(sizeof(char*)*(size_t)N);
  for(i=0; i<N; i++){
    char zScore[32] = "", zBuf[256];
    unsigned s = rnd();
    if( s%20 ) snprintf(zScore, sizeof(zScore), ",\"score\":0.%04u", s%10000);
    snprintf(zBuf, sizeof(zBuf), "{\"lang\":\"%s\",\"year\":%u%s,"
             "\"title\":\"document %d\",\"tags\":[\"t%u\"]}",
             azLang[rnd()%20], 1990+rnd()%35, zScore, i+1, rnd()%50);
    azJson[i] = strdup(zBuf);
  }
}

typedef struct Shape Shape;
struct Shape {
  const char *zName;
  const char *zSql;         /* %s: the table */
  int nRep;                 /* runs per round */
  int bComposite;           /* on the tables with INDEX(lang, year) too */
};
static const Shape aShape[] = {
  { "lang = 'en' (40%)", "SELECT id FROM %s WHERE lang = 'en'", 5, 0 },
  { "lang = 'ja' (5%)", "SELECT id FROM %s WHERE lang = 'ja'", 20, 0 },
  { "score < 0.01 (range, 1%)", "SELECT id FROM %s WHERE score < 0.01",
    50, 0 },
  { "lang = 'ja' OR year = 1995",
    "SELECT id FROM %s WHERE lang = 'ja' OR year = 1995", 10, 0 },
  { "count(*) year BETWEEN 2000 AND 2004",
    "SELECT count(*) FROM %s WHERE year BETWEEN 2000 AND 2004", 20, 0 },
  { "ORDER BY score DESC LIMIT 10",
    "SELECT id, score FROM %s ORDER BY score DESC LIMIT 10", 500, 0 },
  { "lang = 'en' AND year >= 2020",
    "SELECT id FROM %s WHERE lang = 'en' AND year >= 2020", 20, 0 },
  { "lang IN ('en','fr') AND score > 0.99",
    "SELECT id FROM %s WHERE lang IN ('en','fr') AND score > 0.99", 50, 0 },
  { "score IS NULL AND year = 2001",
    "SELECT id FROM %s WHERE score IS NULL AND year = 2001", 50, 0 },
  { "lang = 'en' AND year >= 2020, INDEX(lang, year)",
    "SELECT id FROM %s WHERE lang = 'en' AND year >= 2020", 50, 1 },
  { "lang = 'ja' ORDER BY year DESC LIMIT 10, INDEX(lang, year)",
    "SELECT id, year FROM %s WHERE lang = 'ja' ORDER BY year DESC LIMIT 10",
    500, 1 },
};
#define NSHAPE ((int)(sizeof(aShape)/sizeof(aShape[0])))
#define NOP (NSHAPE+1)                    /* ... and retrieve by id */

/* What a query returned, to compare the sides. */
typedef struct Answer Answer;
struct Answer { long long nRow, nSum; double rScores; };

static double runShape(sqlite3 *db, const Shape *s, const char *zTab,
                       Answer *pA){
  sqlite3_stmt *pStmt;
  char zSql[300];
  double t0;
  int i;
  char zTable[8];
  snprintf(zTable, sizeof(zTable), "%s%s", zTab, s->bComposite ? "2" : "");
  snprintf(zSql, sizeof(zSql), s->zSql, zTable);
  benchCheck(db, sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0), zSql);
  t0 = benchNow();
  for(i=0; i<s->nRep; i++){
    memset(pA, 0, sizeof(*pA));
    while( sqlite3_step(pStmt)==SQLITE_ROW ){
      pA->nRow++;
      pA->nSum += sqlite3_column_int64(pStmt, 0);
      if( sqlite3_column_count(pStmt)>1 ){
        pA->rScores = pA->rScores*3 + sqlite3_column_double(pStmt, 1);
      }
    }
    benchCheck(db, sqlite3_reset(pStmt), zSql);
  }
  t0 = benchNow()-t0;
  sqlite3_finalize(pStmt);
  /* the ordered query's ties may come in any order: only scores count */
  if( sqlite3_strglob("*ORDER BY*", s->zSql)==0 ) pA->nSum = 0;
  return t0;
}

static double retrieve(sqlite3 *db, const char *zTab, Answer *pA){
  sqlite3_stmt *pStmt;
  char zSql[100];
  double t0;
  int i;
  snprintf(zSql, sizeof(zSql), "SELECT json FROM %s WHERE id = ?", zTab);
  benchCheck(db, sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0), zSql);
  memset(pA, 0, sizeof(*pA));
  t0 = benchNow();
  for(i=0; i<N; i++){
    sqlite3_bind_int(pStmt, 1, (int)(1 + (unsigned)i*7919u % (unsigned)N));
    if( sqlite3_step(pStmt)==SQLITE_ROW ){
      pA->nRow++;
      pA->nSum += sqlite3_column_bytes(pStmt, 0);
    }
    sqlite3_reset(pStmt);
  }
  t0 = benchNow()-t0;
  sqlite3_finalize(pStmt);
  return t0;
}

static void load(sqlite3 *db, const char *zTab){
  sqlite3_stmt *pStmt;
  char zSql[100];
  int i;
  snprintf(zSql, sizeof(zSql), "INSERT INTO %s(id, json) VALUES (?, ?)", zTab);
  benchCheck(db, sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0), zSql);
  benchExec(db, "BEGIN");
  for(i=0; i<N; i++){
    sqlite3_bind_int(pStmt, 1, i+1);
    sqlite3_bind_text(pStmt, 2, azJson[i], -1, SQLITE_STATIC);
    benchCheck(db, sqlite3_step(pStmt), "insert");
    sqlite3_reset(pStmt);
  }
  benchExec(db, "COMMIT");
  sqlite3_finalize(pStmt);
}

/* The two databases, made once: the queries only read. */
static sqlite3 *openPlain(void){
  sqlite3 *db = benchOpen("plain.db", 0);
  benchExec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, "
            "json TEXT CHECK (json_valid(json)), "
            "lang TEXT AS (json->>'lang'), year INTEGER AS (json->>'year'), "
            "score REAL AS (json->>'score'))");
  load(db, "t");
  benchExec(db, "CREATE INDEX t_lang ON t(lang); "
            "CREATE INDEX t_year ON t(year); "
            "CREATE INDEX t_score ON t(score)");
  benchExec(db, "CREATE TABLE t2(id INTEGER PRIMARY KEY, "
            "json TEXT CHECK (json_valid(json)), "
            "lang TEXT AS (json->>'lang'), year INTEGER AS (json->>'year'), "
            "score REAL AS (json->>'score'))");
  load(db, "t2");
  benchExec(db, "CREATE INDEX t2_lang ON t2(lang); "
            "CREATE INDEX t2_year ON t2(year); "
            "CREATE INDEX t2_score ON t2(score); "
            "CREATE INDEX t2_lang_year ON t2(lang, year); ANALYZE");
  return db;
}
static sqlite3 *openVeles(void){
  sqlite3 *db = benchOpen("veles.db", zModule);
  benchExec(db, "CREATE VIRTUAL TABLE p USING payloads(lang TEXT, "
            "year INTEGER, score REAL)");
  load(db, "p");
  benchExec(db, "CREATE VIRTUAL TABLE p2 USING payloads(lang TEXT, "
            "year INTEGER, score REAL, INDEX(lang, year))");
  load(db, "p2");
  return db;
}

/* One round on one side: a[] gets the times, aA[] the answers. */
static void runSide(sqlite3 *db, const char *zTab, double *a, Answer *aA){
  int i;
  for(i=0; i<NSHAPE; i++) a[i] = runShape(db, &aShape[i], zTab, &aA[i]);
  a[NSHAPE] = retrieve(db, zTab, &aA[NSHAPE]);
}

int main(int argc, char **argv){
  double aPlain[NOP], aVeles[NOP], aRound[NOP];
  Answer aP[NOP], aV[NOP];
  sqlite3 *dbP, *dbV;
  int i, iRound, nRound = 3, nMiss = 0;
  if( argc<3 ){
    fprintf(stderr, "usage: %s MODULE DIR [N] [ROUNDS]\n", argv[0]);
    return 2;
  }
  zModule = benchModule(argv[1]);
  if( argc>3 ) N = atoi(argv[3]);
  if( argc>4 ) nRound = atoi(argv[4]);
  if( N<100 || nRound<1 ){
    fprintf(stderr, "N must be at least 100 and ROUNDS at least 1\n");
    return 2;
  }
  mkdir(argv[2], 0755);
  if( chdir(argv[2]) ) return 2;
  makeData();
  dbP = openPlain();
  dbV = openVeles();
  for(i=0; i<NOP; i++) aPlain[i] = aVeles[i] = 1e9;
  for(iRound=0; iRound<nRound; iRound++){
    runSide(dbP, "t", aRound, aP);
    for(i=0; i<NOP; i++) if( aRound[i]<aPlain[i] ) aPlain[i] = aRound[i];
    runSide(dbV, "p", aRound, aV);
    for(i=0; i<NOP; i++) if( aRound[i]<aVeles[i] ) aVeles[i] = aRound[i];
    for(i=0; i<NOP; i++){
      if( aP[i].nRow!=aV[i].nRow || aP[i].nSum!=aV[i].nSum
       || aP[i].rScores!=aV[i].rScores ){
        fprintf(stderr, "%s: plain gave %lld rows (sum %lld), payloads "
                "%lld (sum %lld)\n", i<NSHAPE ? aShape[i].zName : "retrieve",
                aP[i].nRow, aP[i].nSum, aV[i].nRow, aV[i].nSum);
        return 1;
      }
    }
  }
  printf("filters benchmark: N=%d, SQLite %s, best of %d rounds; plain: "
         "generated columns with an index each\n", N, sqlite3_libversion(),
         nRound);
  printf("%-62s %6s %10s %10s %9s %7s\n", "query (runs per round)", "rows",
         "plain (s)", "veles (s)", "ratio", "target");
  for(i=0; i<NOP; i++){
    double r = aPlain[i]/aVeles[i], rTarget = i<NSHAPE ? 1.2 : 1.0;
    char zName[96];
    snprintf(zName, sizeof(zName), "%s (%d)",
             i<NSHAPE ? aShape[i].zName : "retrieve by id",
             i<NSHAPE ? aShape[i].nRep : 1);
    if( r<rTarget ) nMiss++;
    printf("%-62s %6lld %10.4f %10.4f %8.2fx %4.1f %s\n", zName,
           aV[i].nRow, aPlain[i], aVeles[i], r, rTarget,
           r>=rTarget ? "ok" : "MISS");
  }
  printf("%s\n", nMiss ? "some targets missed" : "all targets met");
  for(i=0; i<NOP; i++){
    printf("ratio\tfilters N=%d\t%s\t%.3f\t%.2f\n", N,
           i<NSHAPE ? aShape[i].zName : "retrieve by id",
           aPlain[i]/aVeles[i], i<NSHAPE ? 1.2 : 1.0);
  }
  sqlite3_close(dbP);
  sqlite3_close(dbV);
  benchRemoveDb("plain.db");
  benchRemoveDb("veles.db");
  for(i=0; i<N; i++) free(azJson[i]);
  free(azJson);
  return 0;
}
