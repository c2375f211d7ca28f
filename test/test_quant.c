/*
** Quantized search (ext/quant.c): vec MATCH ? AND k = ? AND rescore = R.
**
**   quant.1.*  recall against the exact scan on clustered data, l2, cosine
**              and dot, with the distances of the rows returned exact (two
**              scan threads; the suite runs this under ThreadSanitizer)
**   quant.2.*  the snapshot rules: a deleted, overwritten, rolled-back row
**              or another connection's write is never answered from
**              stale codes
**   quant.3.*  with id IN (...) and id bounds: only those rows, k of them
**   quant.4.*  refusals
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
    tCheck("quant.put", 0, sqlite3_errmsg(db));
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
    tCheck("quant.search", 0, sqlite3_errmsg(db));
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

/* Recall of rescore = R against the exact scan over NQUERY queries (data
** rows plus noise), and whether every distance returned is the row's
** exact distance (veles_distance of its stored vector). */
static void testRecall(sqlite3 *db, const char *zTab, const char *zMetric,
                       int iCase){
  char zSql[300], zExact[300], zCase[32];
  int nHit = 0, nAll = 0, nWrongDist = 0, qi, i, j;
  snprintf(zExact, sizeof(zExact), "SELECT id, distance FROM %s WHERE vec "
           "MATCH ?1 AND k = %d", zTab, K);
  snprintf(zSql, sizeof(zSql), "SELECT id, distance, veles_distance(vec, ?1, "
           "'%s') FROM %s WHERE vec MATCH ?1 AND k = %d AND rescore = 8",
           zMetric, zTab, K);
  for(qi=0; qi<NQUERY; qi++){
    float q[NDIM];
    long long aE[K], aQ[K];
    double dE[K], dQ[K];
    int nE, nQ;
    sqlite3_stmt *p = 0;
    for(j=0; j<NDIM; j++) q[j] = aData[1+qi*37][j] + (float)(gauss()*0.5);
    nE = search(db, zExact, q, aE, dE);
    nQ = search(db, zSql, q, aQ, dQ);
    if( nE!=K || nQ!=K ){
      tCheck("quant.1", 0, "k rows from both searches");
      return;
    }
    for(i=0; i<K; i++){
      for(j=0; j<K; j++) if( aQ[i]==aE[j] ) nHit++;
    }
    nAll += K;
    /* the distances returned are the exact ones */
    sqlite3_prepare_v2(db, zSql, -1, &p, 0);
    sqlite3_bind_blob(p, 1, q, NDIM*4, SQLITE_STATIC);
    while( sqlite3_step(p)==SQLITE_ROW ){
      double a = sqlite3_column_double(p, 1), b = sqlite3_column_double(p, 2);
      if( fabs(a-b)>1e-6*(1+fabs(b)) ) nWrongDist++;
    }
    sqlite3_finalize(p);
  }
  fprintf(stderr, "  %s: recall@%d at rescore=8: %d/%d\n", zMetric, K, nHit,
          nAll);
  snprintf(zCase, sizeof(zCase), "quant.1.%d", iCase);
  if( !tCheck(zCase, nHit>=nAll*95/100, "recall@10 >= 0.95 at rescore=8") ){
    fprintf(stderr, "  %s: recall %d/%d\n", zMetric, nHit, nAll);
  }
  snprintf(zCase, sizeof(zCase), "quant.1.%d.dist", iCase);
  tCheck(zCase, nWrongDist==0, "every distance exact");
}

/* The nearest row to q in zTab, "id|distance", by rescore = 1: the one
** row whose codes rank first is the one rescored, so a stale code shows
** as a wrong row. */
static char *nearest(sqlite3 *db, const char *zTab, const float *q){
  sqlite3_stmt *p = 0;
  char *zSql = sqlite3_mprintf("SELECT id, round(distance, 4) FROM %s WHERE "
                               "vec MATCH ? AND k = 1 AND rescore = 1", zTab);
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

static void testSnapshot(void){
  sqlite3 *db = tOpen("s.db"), *db2;
  float q[NDIM], far[NDIM];
  int j;
  for(j=0; j<NDIM; j++){
    q[j] = (float)(100 + j);       /* far from every row: a row set to it */
    far[j] = (float)(-100 - j);    /* is the nearest by far */
  }
  tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=%d)", NDIM);
  tExec(db, "BEGIN");
  for(j=1; j<=2000; j++) putVec(db, "e", j, aData[j]);
  tExec(db, "COMMIT");
  /* the codes are made by this search; then rows change under them */
  sameAs("quant.2.0", nearest(db, "e", aData[5]), "5|0.0");
  /* the slots 700 leaves (it moves to a new slot when rewritten): both
  ** have codes, of other vectors than the ones that reuse them */
  tExec(db, "CREATE TEMP TABLE s700 AS SELECT slot FROM e_map WHERE id=700");
  putVec(db, "e", 700, q);
  sameAs("quant.2.1", nearest(db, "e", q), "700|0.0");
  tExec(db, "INSERT INTO s700 SELECT slot FROM e_map WHERE id=700");
  tExec(db, "DELETE FROM e WHERE id=700");
  {
    char *z = nearest(db, "e", q);
    tCheck("quant.2.2", z && strncmp(z, "700|", 4)!=0, "a deleted row is "
           "never returned");
    sqlite3_free(z);
  }
  /* its freed slot reused by another vector: the slot's codes are new */
  putVec(db, "e", 710, far);
  tRows("quant.2.2a", db, "SELECT slot IN (SELECT slot FROM s700) FROM "
        "e_map WHERE id=710", "1");
  sameAs("quant.2.2b", nearest(db, "e", far), "710|0.0");
  {
    char *z = nearest(db, "e", q);
    tCheck("quant.2.2c", z && strncmp(z, "710|", 4)!=0, "a reused slot is "
           "ranked by its new vector");
    sqlite3_free(z);
  }
  tExec(db, "DELETE FROM e WHERE id=710");
  tExec(db, "BEGIN");
  putVec(db, "e", 701, q);
  sameAs("quant.2.3", nearest(db, "e", q), "701|0.0");  /* own write */
  tExec(db, "ROLLBACK");
  {
    char *z = nearest(db, "e", q);
    tCheck("quant.2.4", z && strncmp(z, "701|", 4)!=0, "a rolled-back "
           "write is never returned");
    sqlite3_free(z);
  }
  tExec(db, "BEGIN");
  putVec(db, "e", 702, q);
  tExec(db, "SAVEPOINT s");
  putVec(db, "e", 702, far);
  sameAs("quant.2.5", nearest(db, "e", far), "702|0.0");
  tExec(db, "ROLLBACK TO s");
  sameAs("quant.2.6", nearest(db, "e", q), "702|0.0");
  tExec(db, "COMMIT");
  /* a failed statement: the UPDATE of 703 is undone with it */
  tError("quant.2.7", db, "UPDATE e SET vec = CASE id WHEN 703 THEN "
         "(SELECT vec FROM e WHERE id=702) ELSE x'0000803f' END "
         "WHERE id IN (703, 704)",
         "vectors: dimension mismatch: expected 48, got 1");
  {
    char *z = nearest(db, "e", q);
    sameAs("quant.2.8", z, "702|0.0");
  }
  /* another connection's commit */
  db2 = tOpen("s.db");
  tExec(db2, "DELETE FROM e WHERE id=702");
  putVec(db2, "e", 705, q);
  tClose(db2);
  sameAs("quant.2.9", nearest(db, "e", q), "705|0.0");
  tRows("quant.2.10", db, "SELECT veles_check('e')", "ok");
  tClose(db);
}

static void testFilters(sqlite3 *db){
  char *zExact = tQuery(db, "SELECT group_concat(id) FROM (SELECT id FROM c "
      "WHERE vec MATCH (SELECT vec FROM c WHERE id=9) AND k=3 AND id IN (9, "
      "100, 200, 300, 400, 500, 600, 700))");
  tRows("quant.3.1", db, "SELECT group_concat(id) FROM (SELECT id FROM c "
        "WHERE vec MATCH (SELECT vec FROM c WHERE id=9) AND k=3 AND "
        "rescore=2 AND id IN (9, 100, 200, 300, 400, 500, 600, 700))",
        zExact);
  sqlite3_free(zExact);
  tRows("quant.3.2", db, "SELECT count(*), min(id)>=5000, max(id)<6000 FROM "
        "(SELECT id FROM c WHERE vec MATCH (SELECT vec FROM c WHERE id=9) "
        "AND k=10 AND rescore=3 AND id>=5000 AND id<6000)", "10|1|1");
  /* fewer rows than k * rescore: the exact scan of them */
  tRows("quant.3.3", db, "SELECT count(*) FROM (SELECT id FROM c WHERE vec "
        "MATCH (SELECT vec FROM c WHERE id=9) AND k=10 AND rescore=100 AND "
        "id IN (1, 2, 3, 4, 5))", "5");
  /* rescore = 0 is the exact scan; the hidden column reads back */
  tRows("quant.3.4", db, "SELECT group_concat(rescore) FROM (SELECT rescore "
        "FROM c WHERE vec MATCH (SELECT vec FROM c WHERE id=9) AND k=2 AND "
        "rescore=0)", "0,0");
}

static void testErrors(sqlite3 *db){
  static const char *azBad[] = { "-1", "10001", "1.5", "'x'", "NULL" };
  static const char *azGot[] = { "-1", "10001", "1.5", "'x'", "NULL" };
  int i;
  for(i=0; i<5; i++){
    char zSql[200], zWant[200], zCase[32];
    snprintf(zCase, sizeof(zCase), "quant.4.%d", i+1);
    snprintf(zSql, sizeof(zSql), "SELECT id FROM c WHERE vec MATCH (SELECT "
             "vec FROM c WHERE id=1) AND k=1 AND rescore=%s", azBad[i]);
    snprintf(zWant, sizeof(zWant), "vectors: rescore must be an integer "
             "from 0 (the exact scan) to 10000: got %s", azGot[i]);
    tError(zCase, db, zSql, zWant);
  }
  tError("quant.4.6", db, "SELECT id FROM c WHERE rescore=3",
         "vectors: rescore = N needs vec MATCH: no MATCH given");
  tError("quant.4.7", db, "INSERT INTO c(id, vec, rescore) VALUES (1, "
         "zeroblob(192), 2)", "vectors: cannot write column rescore: it is "
         "a search parameter");
}

int main(int argc, char **argv){
  static const char *azMetric[] = { "l2", "cosine", "dot" };
  sqlite3 *db;
  int m, i;
  tInit(argc, argv);
  makeData();
  db = tOpen("q.db");
  tRows("quant.0", db, "SELECT veles_threads(2)", "2");
  for(m=0; m<3; m++){
    char zTab[8];
    snprintf(zTab, sizeof(zTab), "%c", "cgd"[m]);
    tExec(db, "CREATE VIRTUAL TABLE %s USING vectors(dim=%d, metric=%s)",
          zTab, NDIM, azMetric[m]);
    tExec(db, "BEGIN");
    for(i=1; i<=NROW; i++) putVec(db, zTab, i, aData[i]);
    tExec(db, "COMMIT");
    testRecall(db, zTab, azMetric[m], m+1);
  }
  testFilters(db);
  testErrors(db);
  tClose(db);
  testSnapshot();
  return tDone();
}
