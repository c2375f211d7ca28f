/*
** The approximate searches: the quantized scan (ext/quant.c,
** vec MATCH ? AND k = ? AND rescore = R) and the IVF index (ext/ivf.c,
** ... AND probe = P), each case run for both as quant.* and ivf.*:
**
**   *.1.*  recall against the exact scan on clustered data, l2, cosine
**          and dot, with the distances of the rows returned exact (two
**          scan threads; the suite runs this under ThreadSanitizer)
**   *.2.*  the snapshot rules: a deleted, overwritten, rolled-back row or
**          another connection's write is never answered from stale codes
**          or a stale list; a slot reused by another vector ranks by it
**   *.3.*  with id IN (...) and id bounds: only those rows, k of them;
**          ivf: a prefilter of every selectivity from 0.1% to 100%
**          returns k rows at recall >= 0.95
**   (under ThreadSanitizer only the cases whose code runs threads: *.1
**   and ivf.6)
**   *.4.*  refusals
**   ivf.5  the index follows a table that grows past its build
**   ivf.6  sqlite3_interrupt() stops a build, leaving the table as it was
*/
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NDIM     48
#define NROW     50000          /* 2.4 MB of codes: two scan threads */
#define NCLUSTER 40
#define NQUERY   50
#define K        10

/* The kind of approximate search under test: its name, the clause of the
** recall search, of the snapshot search (one row rescored: a stale code
** or list entry shows as a wrong row) and of the filter search. */
typedef struct Kind Kind;
struct Kind {
  const char *zName;
  const char *zRecall, *zOne, *zFilter;
};
static const Kind aKind[] = {
  { "quant", "rescore = 8", "rescore = 1", "rescore = 2" },
  { "ivf",   "probe = 8",   "probe = 1 AND rescore = 1", "probe = 4" },
};
static const Kind *pKind;

/* The case name zSuffix of the kind under test, e.g. "quant.2.1". */
static const char *kcase(const char *zSuffix){
  static char z[64];
  snprintf(z, sizeof(z), "%s.%s", pKind->zName, zSuffix);
  return z;
}

static unsigned long long rngState = 0x9e3779b97f4a7c15ULL;
static double rnd(void){                       /* uniform [0, 1) */
  rngState ^= rngState<<13;
  rngState ^= rngState>>7;
  rngState ^= rngState<<17;
  return (double)(rngState>>11)/9007199254740992.0;
}
static double gauss(void){
  double u = rnd()+1e-12, v = rnd();
  return sqrt(-2*log(u))*cos(6.283185307179586*v);
}

static float aData[NROW+1][NDIM];   /* id i: aData[i] */
static float aCenter[NCLUSTER][NDIM];

/* Clustered vectors: NCLUSTER centres, each row a centre plus noise. */
static void makeData(void){
  int i, j;
  for(i=0; i<NCLUSTER; i++){
    for(j=0; j<NDIM; j++) aCenter[i][j] = (float)(gauss()*3);
  }
  for(i=1; i<=NROW; i++){
    const float *c = aCenter[(int)(rnd()*NCLUSTER)];
    for(j=0; j<NDIM; j++) aData[i][j] = c[j] + (float)gauss();
  }
}

static void putVec(sqlite3 *db, const char *zTab, int id, const float *a){
  sqlite3_stmt *p = 0;
  char *zSql = sqlite3_mprintf("INSERT OR REPLACE INTO %s(id, vec) "
                               "VALUES (?, ?)", zTab);
  sqlite3_prepare_v2(db, zSql, -1, &p, 0);
  sqlite3_bind_int(p, 1, id);
  sqlite3_bind_blob(p, 2, a, NDIM*4, SQLITE_STATIC);
  if( sqlite3_step(p)!=SQLITE_DONE ){
    tCheck("approx.put", 0, sqlite3_errmsg(db));
  }
  sqlite3_finalize(p);
  sqlite3_free(zSql);
}

/* The ids (and distances) zSql returns for query q: up to K rows. */
static int search(sqlite3 *db, const char *zSql, const float *q,
                  long long *aId, double *aDist){
  sqlite3_stmt *p = 0;
  int n = 0;
  if( sqlite3_prepare_v2(db, zSql, -1, &p, 0) ){
    tCheck("approx.search", 0, sqlite3_errmsg(db));
    return -1;
  }
  sqlite3_bind_blob(p, 1, q, NDIM*4, SQLITE_STATIC);
  while( sqlite3_step(p)==SQLITE_ROW && n<K ){
    aId[n] = sqlite3_column_int64(p, 0);
    aDist[n] = sqlite3_column_double(p, 1);
    n++;
  }
  sqlite3_finalize(p);
  return n;
}

/* A query near data row 1 + qi * 37. */
static void makeQuery(int qi, float *q){
  int j;
  for(j=0; j<NDIM; j++) q[j] = aData[1+qi*37][j] + (float)(gauss()*0.5);
}

/* Recall of the kind's search (zClause, with zFilter added to both
** searches when given) against the exact scan over NQUERY queries, into
** *pnHit of *pnAll; counts the rows whose distance is not the exact one
** (veles_distance of the stored vector) and the searches that did not
** return K rows. */
static void measureRecall(sqlite3 *db, const char *zTab, const char *zMetric,
                          const char *zClause, const char *zFilter,
                          int *pnHit, int *pnAll, int *pnWrongDist,
                          int *pnShort){
  char zSql[600], zExact[600];
  int qi, i, j;
  *pnHit = *pnAll = *pnWrongDist = *pnShort = 0;
  snprintf(zExact, sizeof(zExact), "SELECT id, distance FROM %s WHERE vec "
           "MATCH ?1 AND k = %d%s%s", zTab, K, zFilter ? " AND " : "",
           zFilter ? zFilter : "");
  snprintf(zSql, sizeof(zSql), "SELECT id, distance, veles_distance(vec, ?1, "
           "'%s') FROM %s WHERE vec MATCH ?1 AND k = %d AND %s%s%s",
           zMetric, zTab, K, zClause, zFilter ? " AND " : "",
           zFilter ? zFilter : "");
  for(qi=0; qi<NQUERY; qi++){
    float q[NDIM];
    long long aE[K], aQ[K];
    double dE[K], dQ[K];
    int nE, nQ;
    sqlite3_stmt *p = 0;
    makeQuery(qi, q);
    nE = search(db, zExact, q, aE, dE);
    nQ = search(db, zSql, q, aQ, dQ);
    if( nQ!=nE ) (*pnShort)++;
    for(i=0; i<nQ; i++){
      for(j=0; j<nE; j++) if( aQ[i]==aE[j] ) (*pnHit)++;
    }
    *pnAll += nE;
    /* the distances returned are the exact ones */
    sqlite3_prepare_v2(db, zSql, -1, &p, 0);
    sqlite3_bind_blob(p, 1, q, NDIM*4, SQLITE_STATIC);
    while( sqlite3_step(p)==SQLITE_ROW ){
      double a = sqlite3_column_double(p, 1), b = sqlite3_column_double(p, 2);
      if( fabs(a-b)>1e-6*(1+fabs(b)) ) (*pnWrongDist)++;
    }
    sqlite3_finalize(p);
  }
}

static void testRecall(sqlite3 *db, const char *zTab, const char *zMetric,
                       int iCase){
  char zCase[32];
  int nHit, nAll, nWrongDist, nShort;
  measureRecall(db, zTab, zMetric, pKind->zRecall, 0, &nHit, &nAll,
                &nWrongDist, &nShort);
  fprintf(stderr, "  %s %s: recall@%d at %s: %d/%d\n", pKind->zName, zMetric,
          K, pKind->zRecall, nHit, nAll);
  snprintf(zCase, sizeof(zCase), "1.%d", iCase);
  tCheck(kcase(zCase), nShort==0 && nHit>=nAll*95/100,
         "k rows, recall@10 >= 0.95");
  snprintf(zCase, sizeof(zCase), "1.%d.dist", iCase);
  tCheck(kcase(zCase), nWrongDist==0, "every distance exact");
}

/* The nearest row to q in zTab, "id|distance", by the kind's search that
** rescores one row only: the one whose codes rank first (among the rows
** of the nearest list), so a stale code or list entry shows as a wrong
** row. */
static char *nearest(sqlite3 *db, const char *zTab, const float *q){
  sqlite3_stmt *p = 0;
  char *zSql = sqlite3_mprintf("SELECT id, round(distance, 4) FROM %s WHERE "
                               "vec MATCH ? AND k = 1 AND %s", zTab,
                               pKind->zOne);
  char *zRes = 0;
  sqlite3_prepare_v2(db, zSql, -1, &p, 0);
  sqlite3_bind_blob(p, 1, q, NDIM*4, SQLITE_STATIC);
  if( sqlite3_step(p)==SQLITE_ROW ){
    zRes = sqlite3_mprintf("%lld|%s", sqlite3_column_int64(p, 0),
                           (const char*)sqlite3_column_text(p, 1));
  }else{
    zRes = sqlite3_mprintf("none: %s", sqlite3_errmsg(db));
  }
  sqlite3_finalize(p);
  sqlite3_free(zSql);
  return zRes;
}

static int sameAs(const char *zCase, char *zGot, const char *zWant){
  int bOk = zGot && strcmp(zGot, zWant)==0;
  if( !tCheck(zCase, bOk, zWant) ) fprintf(stderr, "  got %s\n", zGot);
  sqlite3_free(zGot);
  return bOk;
}

static int isNot(const char *zCase, char *zGot, const char *zPrefix,
                 const char *zWhy){
  int bOk = zGot && strncmp(zGot, zPrefix, strlen(zPrefix))!=0;
  if( !tCheck(zCase, bOk, zWhy) ) fprintf(stderr, "  got %s\n", zGot);
  sqlite3_free(zGot);
  return bOk;
}

#define NSNAP 5000      /* rows of the snapshot table: the IVF index is made */

static void testSnapshot(void){
  sqlite3 *db, *db2;
  float q[NDIM], far[NDIM];
  char zFile[32];
  int j;
  snprintf(zFile, sizeof(zFile), "s-%s.db", pKind->zName);
  db = tOpen(zFile);
  for(j=0; j<NDIM; j++){
    q[j] = (float)(100 + j);       /* far from every row: a row set to it */
    far[j] = (float)(-100 - j);    /* is the nearest by far */
  }
  tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=%d)", NDIM);
  tExec(db, "BEGIN");
  for(j=1; j<=NSNAP; j++) putVec(db, "e", j, aData[j]);
  tExec(db, "COMMIT");
  /* the codes or the index are made by this search; then rows change */
  sameAs(kcase("2.0"), nearest(db, "e", aData[5]), "5|0.0");
  /* the slots 700 leaves (it moves to a new slot when rewritten): both
  ** have codes, of other vectors than the ones that reuse them */
  tExec(db, "CREATE TEMP TABLE s700 AS SELECT slot FROM e_map WHERE id=700");
  putVec(db, "e", 700, q);
  sameAs(kcase("2.1"), nearest(db, "e", q), "700|0.0");
  tExec(db, "INSERT INTO s700 SELECT slot FROM e_map WHERE id=700");
  tExec(db, "DELETE FROM e WHERE id=700");
  isNot(kcase("2.2"), nearest(db, "e", q), "700|",
        "a deleted row is never returned");
  /* its freed slot reused by another vector: the slot's codes are new */
  putVec(db, "e", 710, far);
  tRows(kcase("2.2a"), db, "SELECT slot IN (SELECT slot FROM s700) FROM "
        "e_map WHERE id=710", "1");
  sameAs(kcase("2.2b"), nearest(db, "e", far), "710|0.0");
  isNot(kcase("2.2c"), nearest(db, "e", q), "710|",
        "a reused slot is ranked by its new vector");
  tExec(db, "DELETE FROM e WHERE id=710");
  /* a slot reused by a vector of the same list: its row there is its
  ** current one only (the row of the vector it held before counts no
  ** more), so no id comes twice */
  tExec(db, "CREATE TEMP TABLE s730 AS SELECT slot FROM e_map WHERE id=730");
  sameAs(kcase("2.2d"), nearest(db, "e", aData[730]), "730|0.0");
  tExec(db, "DELETE FROM e WHERE id=730");
  /* three copies of its vector take the free slots, 730's among them */
  putVec(db, "e", NSNAP+30, aData[730]);
  putVec(db, "e", NSNAP+31, aData[730]);
  putVec(db, "e", NSNAP+32, aData[730]);
  {
    char zSql[300];
    sqlite3_stmt *p = 0;
    snprintf(zSql, sizeof(zSql), "SELECT count(*) FROM e_map WHERE id "
             "BETWEEN %d AND %d AND slot IN (SELECT slot FROM s730)",
             NSNAP+30, NSNAP+32);
    tRows(kcase("2.2e"), db, zSql, "1");
    snprintf(zSql, sizeof(zSql), "SELECT count(*), count(DISTINCT id) FROM "
             "(SELECT id FROM e WHERE vec MATCH ?1 AND k = 5 AND %s)",
             pKind->zRecall);
    sqlite3_prepare_v2(db, zSql, -1, &p, 0);
    sqlite3_bind_blob(p, 1, aData[730], NDIM*4, SQLITE_STATIC);
    tCheck(kcase("2.2f"), sqlite3_step(p)==SQLITE_ROW
           && sqlite3_column_int(p, 0)==5 && sqlite3_column_int(p, 1)==5,
           "5 rows, 5 ids");
    sqlite3_finalize(p);
  }
  tExec(db, "BEGIN");
  putVec(db, "e", 701, q);
  sameAs(kcase("2.3"), nearest(db, "e", q), "701|0.0");  /* own write */
  tExec(db, "ROLLBACK");
  isNot(kcase("2.4"), nearest(db, "e", q), "701|",
        "a rolled-back write is never returned");
  tExec(db, "BEGIN");
  putVec(db, "e", 702, q);
  tExec(db, "SAVEPOINT s");
  putVec(db, "e", 702, far);
  sameAs(kcase("2.5"), nearest(db, "e", far), "702|0.0");
  tExec(db, "ROLLBACK TO s");
  sameAs(kcase("2.6"), nearest(db, "e", q), "702|0.0");
  tExec(db, "COMMIT");
  /* a failed statement: the UPDATE of 703 is undone with it */
  tError(kcase("2.7"), db, "UPDATE e SET vec = CASE id WHEN 703 THEN "
         "(SELECT vec FROM e WHERE id=702) ELSE x'0000803f' END "
         "WHERE id IN (703, 704)",
         "vectors: dimension mismatch: expected 48, got 1");
  sameAs(kcase("2.8"), nearest(db, "e", q), "702|0.0");
  /* another connection's commit */
  db2 = tOpen(zFile);
  tExec(db2, "DELETE FROM e WHERE id=702");
  putVec(db2, "e", 705, q);
  tClose(db2);
  sameAs(kcase("2.9"), nearest(db, "e", q), "705|0.0");
  /* ... in a crowded part of the table: row 5's vector moves to a new
  ** row, whose slot this connection never wrote */
  db2 = tOpen(zFile);
  tExec(db2, "BEGIN");
  putVec(db2, "e", NSNAP+5, aData[5]);
  tExec(db2, "DELETE FROM e WHERE id=5");
  tExec(db2, "COMMIT");
  tClose(db2);
  {
    char zWant[32];
    snprintf(zWant, sizeof(zWant), "%d|0.0", NSNAP+5);
    sameAs(kcase("2.9a"), nearest(db, "e", aData[5]), zWant);
  }
  /* ... of many rows: rows 1..2000 rewritten there (each to a new slot,
  ** its vector moved a little), then the recall of this connection */
  db2 = tOpen(zFile);
  tExec(db2, "BEGIN");
  for(j=1; j<=2000; j++){
    float a[NDIM];
    memcpy(a, aData[j], sizeof(a));
    a[0] += 0.01f;
    if( j!=5 ) putVec(db2, "e", j, a);
  }
  tExec(db2, "COMMIT");
  tClose(db2);
  {
    int nHit, nAll, nWrongDist, nShort;
    measureRecall(db, "e", "l2", pKind->zRecall, 0, &nHit, &nAll,
                  &nWrongDist, &nShort);
    tCheck(kcase("2.9b"), nShort==0 && nWrongDist==0 && nHit>=nAll*95/100,
           "recall after another connection rewrote 2000 rows");
  }
  tRows(kcase("2.10"), db, "SELECT veles_check('e')", "ok");
  tClose(db);
}

static void testFilters(sqlite3 *db){
  char zSql[400];
  char *zExact = tQuery(db, "SELECT group_concat(id) FROM (SELECT id FROM c "
      "WHERE vec MATCH (SELECT vec FROM c WHERE id=9) AND k=3 AND id IN (9, "
      "100, 200, 300, 400, 500, 600, 700))");
  snprintf(zSql, sizeof(zSql), "SELECT group_concat(id) FROM (SELECT id FROM "
           "c WHERE vec MATCH (SELECT vec FROM c WHERE id=9) AND k=3 AND %s "
           "AND id IN (9, 100, 200, 300, 400, 500, 600, 700))",
           pKind->zFilter);
  tRows(kcase("3.1"), db, zSql, zExact);
  sqlite3_free(zExact);
  snprintf(zSql, sizeof(zSql), "SELECT count(*), min(id)>=5000, max(id)<6000 "
           "FROM (SELECT id FROM c WHERE vec MATCH (SELECT vec FROM c WHERE "
           "id=9) AND k=10 AND %s AND id>=5000 AND id<6000)", pKind->zFilter);
  tRows(kcase("3.2"), db, zSql, "10|1|1");
  /* fewer rows than k * rescore: the exact scan of them */
  snprintf(zSql, sizeof(zSql), "SELECT count(*) FROM (SELECT id FROM c WHERE "
           "vec MATCH (SELECT vec FROM c WHERE id=9) AND k=10 AND %s AND "
           "rescore=100 AND id IN (1, 2, 3, 4, 5))",
           strcmp(pKind->zName, "ivf")==0 ? "probe=2" : "1");
  tRows(kcase("3.3"), db, zSql, "5");
  /* 0 is the exact scan; the hidden columns read back */
  tRows(kcase("3.4"), db, "SELECT group_concat(rescore || '/' || probe) FROM "
        "(SELECT rescore, probe FROM c WHERE vec MATCH (SELECT vec FROM c "
        "WHERE id=9) AND k=2 AND rescore=0 AND probe=0)", "0/0,0/0");
  if( strcmp(pKind->zName, "ivf")==0 ){
    /* a prefilter of every selectivity, as a list of ids (a subquery on
    ** a payloads field reaches the search the same way): k rows whenever
    ** k match, recall >= 0.95 */
    static const int aPerMille[] = { 1, 10, 100, 1000 };
    int i;
    for(i=0; i<(int)(sizeof(aPerMille)/sizeof(aPerMille[0])); i++){
      char zFilter[120], zCase[32];
      int nHit, nAll, nWrongDist, nShort;
      snprintf(zFilter, sizeof(zFilter), "id IN (SELECT id FROM c_ids WHERE "
               "id %% 1000 < %d)", aPerMille[i]);
      measureRecall(db, "c", "l2", "probe = 8", zFilter, &nHit, &nAll,
                    &nWrongDist, &nShort);
      fprintf(stderr, "  ivf filter %d/1000: recall %d/%d\n", aPerMille[i],
              nHit, nAll);
      snprintf(zCase, sizeof(zCase), "3.5.%d", aPerMille[i]);
      tCheck(kcase(zCase), nShort==0 && nWrongDist==0
             && nHit>=nAll*95/100, "k rows, recall >= 0.95, exact distances");
    }
  }
}

static void testErrors(sqlite3 *db){
  static const char *azBad[] = { "-1", "1.5", "'x'", "NULL" };
  static const char *const azParam[] = { "rescore", "probe" };
  static const int aMax[] = { 10000, 65536 };
  int i, k = strcmp(pKind->zName, "ivf")==0;
  char zSql[200], zWant[200], zCase[32];
  for(i=0; i<5; i++){
    char zTooBig[16];
    const char *zBad = i<4 ? azBad[i] : zTooBig;
    snprintf(zTooBig, sizeof(zTooBig), "%d", aMax[k]+1);
    snprintf(zCase, sizeof(zCase), "4.%d", i+1);
    snprintf(zSql, sizeof(zSql), "SELECT id FROM c WHERE vec MATCH (SELECT "
             "vec FROM c WHERE id=1) AND k=1 AND %s=%s", azParam[k], zBad);
    snprintf(zWant, sizeof(zWant), "vectors: %s must be an integer "
             "from 0 (the exact scan) to %d: got %s", azParam[k], aMax[k],
             zBad);
    tError(kcase(zCase), db, zSql, zWant);
  }
  snprintf(zSql, sizeof(zSql), "SELECT id FROM c WHERE %s=3", azParam[k]);
  snprintf(zWant, sizeof(zWant), "vectors: %s = N needs vec MATCH: no MATCH "
           "given", azParam[k]);
  tError(kcase("4.6"), db, zSql, zWant);
  snprintf(zSql, sizeof(zSql), "INSERT INTO c(id, vec, %s) VALUES (1, "
           "zeroblob(192), 2)", azParam[k]);
  snprintf(zWant, sizeof(zWant), "vectors: cannot write column %s: it is "
           "a search parameter", azParam[k]);
  tError(kcase("4.7"), db, zSql, zWant);
}

/* The IVF index of a table that grows to three times its build (built
** again), then shrinks to a third: recall stays. */
#define NGROW (NROW/2)
static void testGrowth(void){
  sqlite3 *db = tOpen("g.db");
  int i, nHit, nAll, nWrongDist, nShort;
  tExec(db, "CREATE VIRTUAL TABLE g USING vectors(dim=%d)", NDIM);
  tExec(db, "BEGIN");
  for(i=1; i<=NGROW/3; i++) putVec(db, "g", i, aData[i]);
  tExec(db, "COMMIT");
  measureRecall(db, "g", "l2", "probe = 8", 0, &nHit, &nAll, &nWrongDist,
                &nShort);
  tCheck("ivf.5.1", nShort==0 && nHit>=nAll*95/100, "recall at the build");
  tExec(db, "BEGIN");
  for(i=NGROW/3+1; i<=NGROW; i++) putVec(db, "g", i, aData[i]);
  tExec(db, "COMMIT");
  measureRecall(db, "g", "l2", "probe = 8", 0, &nHit, &nAll, &nWrongDist,
                &nShort);
  fprintf(stderr, "  ivf grown: recall %d/%d\n", nHit, nAll);
  tCheck("ivf.5.2", nShort==0 && nWrongDist==0 && nHit>=nAll*95/100,
         "recall after growing past the build");
  tExec(db, "DELETE FROM g WHERE id %% 3 <> 0");
  measureRecall(db, "g", "l2", "probe = 8", 0, &nHit, &nAll, &nWrongDist,
                &nShort);
  fprintf(stderr, "  ivf shrunk: recall %d/%d\n", nHit, nAll);
  tCheck("ivf.5.3", nShort==0 && nWrongDist==0 && nHit>=nAll*95/100,
         "recall after deleting two thirds");
  tClose(db);
}

/* A progress handler that interrupts the statement "SELECT 1" the IVF
** build steps to learn whether sqlite3_interrupt() was called: as if it had
** been called during the build. */
static int interruptPoll(void *pArg){
  sqlite3 *db = (sqlite3*)pArg;
  sqlite3_stmt *p;
  for(p=sqlite3_next_stmt(db, 0); p; p=sqlite3_next_stmt(db, p)){
    if( sqlite3_stmt_busy(p) && strcmp(sqlite3_sql(p), "SELECT 1")==0 ){
      return 1;
    }
  }
  return 0;
}

/* sqlite3_interrupt() during the build: the search fails with
** SQLITE_INTERRUPT, the table is as it was, and the next search builds
** the index and answers. */
static void testInterrupt(void){
  sqlite3 *db = tOpen("q.db");
  char zSql[200], *zWant;
  snprintf(zSql, sizeof(zSql), "SELECT group_concat(id) FROM (SELECT id FROM "
           "c WHERE vec MATCH (SELECT vec FROM c WHERE id=77) AND k=5 AND "
           "probe=8)");
  zWant = tQuery(db, "SELECT group_concat(id) FROM (SELECT id FROM c WHERE "
                 "vec MATCH (SELECT vec FROM c WHERE id=77) AND k=5)");
  sqlite3_progress_handler(db, 1, interruptPoll, db);
  {
    sqlite3_stmt *p = 0;
    int rc = sqlite3_prepare_v2(db, zSql, -1, &p, 0);
    if( rc==SQLITE_OK ) rc = sqlite3_step(p);
    tCheck("ivf.6.1", rc==SQLITE_INTERRUPT, "the build stops: interrupted");
    sqlite3_finalize(p);
  }
  sqlite3_progress_handler(db, 0, 0, 0);
  tRows("ivf.6.2", db, "SELECT count(*) FROM c", "50000");
  tRows("ivf.6.3", db, zSql, zWant);
  tRows("ivf.6.4", db, "SELECT veles_check('c')", "ok");
  sqlite3_free(zWant);
  tClose(db);
}

#if defined(__SANITIZE_THREAD__)
/* ThreadSanitizer runs the cases whose code runs threads only: the recall
** searches (the code scan's threads; the IVF build's) and the interrupt */
static const int bThreadsOnly = 1;
#else
static const int bThreadsOnly = 0;
#endif

int main(int argc, char **argv){
  static const char *azMetric[] = { "l2", "cosine", "dot" };
  sqlite3 *db;
  int m, i, k;
  tInit(argc, argv);
  makeData();
  db = tOpen("q.db");
  tRows("approx.0", db, "SELECT veles_threads(2)", "2");
  for(m=0; m<3; m++){
    char zTab[8];
    snprintf(zTab, sizeof(zTab), "%c", "cgd"[m]);
    tExec(db, "CREATE VIRTUAL TABLE %s USING vectors(dim=%d, metric=%s)",
          zTab, NDIM, azMetric[m]);
    tExec(db, "BEGIN");
    for(i=1; i<=NROW; i++) putVec(db, zTab, i, aData[i]);
    tExec(db, "COMMIT");
  }
  tExec(db, "CREATE TABLE c_ids AS SELECT id FROM c");
  for(k=0; k<2; k++){
    pKind = &aKind[k];
    for(m=0; m<3; m++) testRecall(db, (const char*)"c\0g\0d"+2*m,
                                  azMetric[m], m+1);
    if( bThreadsOnly ) continue;
    testFilters(db);
    testErrors(db);
    testSnapshot();
  }
  tClose(db);
  if( !bThreadsOnly ) testGrowth();
  testInterrupt();
  return tDone();
}
