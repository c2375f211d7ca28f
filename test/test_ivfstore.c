/*
** The IVF index as a table option and as stored data (ext/ivfstore.c,
** ext/ivfstatus.c), through SQL:
**
**   s.1.*  index=ivf and probe=N: a search without a probe uses the
**          index, probe = 0 and rescore = 0 scan exactly, a table without
**          the option scans exactly; refusals of bad options
**   s.2.*  'optimize' stores the index; another connection loads it
**          (veles_index says "from":"store") and answers as well; a
**          ROLLBACK takes the stored row back; optimize in a transaction
**          covers its own rows
**   s.3.*  a stale store (10% of rows deleted, then 10% overwritten by
**          another connection, into the slots the delete freed): the load
**          keeps recall (it finds the reused slots by their hash), returns
**          no deleted row
**   s.4.*  damaged stored rows (garbled, truncated, a list out of range, a
**          NaN centroid, another dimension): veles_check names the damage,
**          searches ignore the row and answer correctly
**   s.5.*  a table without <t>_ivf (made before it): searches, RENAME,
**          and optimize, which makes it
**   s.6.*  sqlite3_interrupt() stops optimize, leaving the stored row as
**          it was; another connection sees the work and how far it is
**   s.7.*  a table too small for an index: optimize stores none
*/
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NDIM     16
#define NROW     12000
#define NCLUSTER 30
#define NQUERY   40
#define K        10

static unsigned long long rngState = 0x2545f4914f6cdd1dULL;
static double rnd(void){
  rngState ^= rngState<<13;
  rngState ^= rngState>>7;
  rngState ^= rngState<<17;
  return (double)(rngState>>11)/9007199254740992.0;
}
static double gauss(void){
  double u = rnd()+1e-12, v = rnd();
  return sqrt(-2*log(u))*cos(6.283185307179586*v);
}

static float aData[NROW+1][NDIM];
static float aCenter[NCLUSTER][NDIM];

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

/* Store rows iFirst..iLast (vector aData[i], or aData[NROW+1-i] when
** bOther) into zTab, in one transaction. */
static void fill(sqlite3 *db, const char *zTab, int iFirst, int iLast,
                 int bOther){
  sqlite3_stmt *p = 0;
  char *zSql = sqlite3_mprintf("INSERT OR REPLACE INTO %s(id, vec) "
                               "VALUES (?, ?)", zTab);
  int i;
  tExec(db, "BEGIN");
  sqlite3_prepare_v2(db, zSql, -1, &p, 0);
  for(i=iFirst; i<=iLast; i++){
    sqlite3_bind_int(p, 1, i);
    sqlite3_bind_blob(p, 2, aData[bOther ? NROW+1-i : i], NDIM*4,
                      SQLITE_STATIC);
    if( sqlite3_step(p)!=SQLITE_DONE ) tCheck("s.fill", 0, sqlite3_errmsg(db));
    sqlite3_reset(p);
  }
  sqlite3_finalize(p);
  sqlite3_free(zSql);
  tExec(db, "COMMIT");
}

/* The first n ids and distances zSql (with ?1 the query) returns. */
static int run(sqlite3 *db, const char *zSql, const float *q,
               long long *aId, double *aDist){
  sqlite3_stmt *p = 0;
  int n = 0;
  if( sqlite3_prepare_v2(db, zSql, -1, &p, 0) ){
    tCheck("s.run", 0, sqlite3_errmsg(db));
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

/* Recall of "vec MATCH ?1 AND k = K <zClause>" on zTab against the exact
** scan (probe = 0), over NQUERY queries; every row's distance must be its
** exact one and every search return K rows: *pnBad counts what is not. */
static double recall(sqlite3 *db, const char *zTab, const char *zClause,
                     int *pnBad){
  char zSql[300], zExact[300];
  int qi, i, j, nHit = 0, nAll = 0;
  *pnBad = 0;
  snprintf(zSql, sizeof(zSql), "SELECT id, distance FROM %s WHERE vec "
           "MATCH ?1 AND k = %d %s", zTab, K, zClause);
  snprintf(zExact, sizeof(zExact), "SELECT id, distance FROM %s WHERE vec "
           "MATCH ?1 AND k = %d AND probe = 0", zTab, K);
  for(qi=0; qi<NQUERY; qi++){
    float q[NDIM];
    long long aA[K], aE[K];
    double dA[K], dE[K];
    int nA, nE;
    for(j=0; j<NDIM; j++) q[j] = aData[1+qi*97][j] + (float)(gauss()*0.5);
    nA = run(db, zSql, q, aA, dA);
    nE = run(db, zExact, q, aE, dE);
    if( nA!=nE ) (*pnBad)++;
    for(i=0; i<nA; i++){
      int bHit = 0;
      for(j=0; j<nE; j++){
        if( aA[i]==aE[j] ){
          bHit = 1;
          if( fabs(dA[i]-dE[j])>1e-9*(1+dE[j]) ) (*pnBad)++;
        }
      }
      nHit += bHit;
    }
    nAll += nE;
  }
  return nAll ? (double)nHit/nAll : 0;
}

/* A field of veles_index(zTab), as text ("" when absent). */
static char *status(sqlite3 *db, const char *zTab, const char *zPath){
  char *zSql = sqlite3_mprintf("SELECT coalesce(json_extract(veles_index("
                               "'%q'), '%q'), '')", zTab, zPath);
  char *z = tQuery(db, zSql);
  sqlite3_free(zSql);
  return z;
}

static int statusIs(const char *zCase, sqlite3 *db, const char *zTab,
                    const char *zPath, const char *zWant){
  char *z = status(db, zTab, zPath);
  int bOk = z && strcmp(z, zWant)==0;
  if( !bOk ) fprintf(stderr, "  %s: %s is '%s', expected '%s'\n", zCase,
                     zPath, z ? z : "(null)", zWant);
  tCheck(zCase, bOk, zPath);
  sqlite3_free(z);
  return bOk;
}

static void testOption(void){
  sqlite3 *db = tOpen("opt.db");
  int nBad;
  double r;
  tRows("s.1.0", db, "SELECT veles_threads(2)", "2");
  tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=%d, index=ivf)", NDIM);
  tExec(db, "CREATE VIRTUAL TABLE p3 USING vectors(dim=%d, index=ivf, "
        "probe=3)", NDIM);
  tExec(db, "CREATE VIRTUAL TABLE n USING vectors(dim=%d, index=none)",
        NDIM);
  tRows("s.1.1", db, "SELECT k, v FROM e_config WHERE k IN ('index', "
        "'probe') ORDER BY k", "index|ivf\nprobe|8");
  statusIs("s.1.2", db, "p3", "$.probe", "3");
  statusIs("s.1.3", db, "n", "$.index", "none");
  fill(db, "e", 1, NROW, 0);
  fill(db, "n", 1, NROW, 0);
  statusIs("s.1.4", db, "e", "$.lists", "0");
  /* a search without a probe builds and uses the index */
  r = recall(db, "e", "", &nBad);
  fprintf(stderr, "  default probe: recall %.3f\n", r);
  tCheck("s.1.5", r>=0.95 && nBad==0, "recall >= 0.95 at the default "
         "probe, exact distances, k rows");
  statusIs("s.1.6", db, "e", "$.from", "build");
  statusIs("s.1.7", db, "e", "$.pending", "0");
  /* probe = 0 and rescore = 0 are the exact scan: the same rows as the
  ** table without an index */
  tRows("s.1.8", db, "SELECT count(*) FROM (SELECT id, distance FROM e "
        "WHERE vec MATCH (SELECT vec FROM e WHERE id=5) AND k=20 AND probe=0 "
        "EXCEPT SELECT id, distance FROM n WHERE vec MATCH (SELECT vec FROM "
        "n WHERE id=5) AND k=20)", "0");
  tRows("s.1.9", db, "SELECT count(*) FROM (SELECT id, distance FROM e "
        "WHERE vec MATCH (SELECT vec FROM e WHERE id=5) AND k=20 AND "
        "rescore=0 EXCEPT SELECT id, distance FROM n WHERE vec MATCH (SELECT "
        "vec FROM n WHERE id=5) AND k=20)", "0");
  /* no option: no index unless a search asks for one */
  tRows("s.1.10", db, "SELECT count(*) FROM n WHERE vec MATCH (SELECT vec "
        "FROM n WHERE id=5) AND k=3", "3");
  statusIs("s.1.11", db, "n", "$.lists", "0");
  /* refusals */
  tError("s.1.12", db, "CREATE VIRTUAL TABLE b USING vectors(dim=4, probe=3)",
         "vectors: probe=3 needs index=ivf: a table without an index is "
         "scanned exactly unless a search gives a probe");
  tError("s.1.13", db, "CREATE VIRTUAL TABLE b USING vectors(dim=4, "
         "index=hnsw)", "vectors: index must be ivf or none, got 'hnsw'");
  tError("s.1.14", db, "CREATE VIRTUAL TABLE b USING vectors(dim=4, "
         "index=ivf, probe=0)", "vectors: probe must be an integer from 1 "
         "to 65536, got '0'");
  tError("s.1.15", db, "CREATE VIRTUAL TABLE b USING vectors(dim=4, "
         "index=ivf, probe=65537)", "vectors: probe must be an integer from "
         "1 to 65536, got '65537'");
  tError("s.1.16", db, "SELECT veles_index('sqlite_schema')",
         "veles_index: expected the name of a vectors table, got "
         "'sqlite_schema'");
  tError("s.1.17", db, "INSERT INTO e(e) VALUES('optimise')",
         "vectors: table e: expected the command 'compact' or 'optimize' "
         "alone in column e, got 'optimise'");
  /* a damaged setting is damage, reported on use */
  tExec(db, "UPDATE p3_config SET v='hnsw' WHERE k='index'");
  tClose(db);
  db = tOpen("opt.db");
  tError("s.1.18", db, "SELECT count(*) FROM p3",
         "vectors: table p3: its index setting in p3_config is damaged: "
         "expected 'ivf', got 'hnsw'");
  tExec(db, "DROP TABLE p3");
  tClose(db);
}

static void testStore(void){
  sqlite3 *db = tOpen("st.db"), *db2;
  int nBad;
  double r;
  char zWant[64];
  tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=%d, index=ivf)", NDIM);
  fill(db, "e", 1, NROW, 0);
  statusIs("s.2.0", db, "e", "$.stored", "");
  /* rolled back: nothing stored */
  tExec(db, "BEGIN; INSERT INTO e(e) VALUES('optimize'); ROLLBACK");
  statusIs("s.2.1", db, "e", "$.stored", "");
  tRows("s.2.2", db, "SELECT count(*) FROM e_ivf", "0");
  tExec(db, "INSERT INTO e(e) VALUES('optimize')");
  snprintf(zWant, sizeof(zWant), "%d", NROW);
  statusIs("s.2.3", db, "e", "$.stored.rows", zWant);
  statusIs("s.2.4", db, "e", "$.from", "build");
  tRows("s.2.5", db, "SELECT veles_check('e')", "ok");
  /* another connection loads it */
  db2 = tOpen("st.db");
  tRows("s.2.6", db2, "SELECT veles_threads(2)", "2");
  statusIs("s.2.7", db2, "e", "$.lists", "0");
  r = recall(db2, "e", "", &nBad);
  fprintf(stderr, "  loaded: recall %.3f\n", r);
  tCheck("s.2.8", r>=0.95 && nBad==0, "recall >= 0.95 from the loaded index");
  statusIs("s.2.9", db2, "e", "$.from", "store");
  statusIs("s.2.10", db2, "e", "$.indexed", zWant);
  /* optimize in a transaction covers the transaction's rows; ROLLBACK TO
  ** takes them and the stored row back */
  tExec(db, "BEGIN");
  tExec(db, "INSERT INTO e(id, vec) SELECT id+%d, vec FROM e WHERE id<=100",
        NROW);
  tExec(db, "SAVEPOINT a; INSERT INTO e(e) VALUES('optimize')");
  snprintf(zWant, sizeof(zWant), "%d", NROW+100);
  statusIs("s.2.11", db, "e", "$.stored.rows", zWant);
  tExec(db, "ROLLBACK TO a");
  snprintf(zWant, sizeof(zWant), "%d", NROW);
  statusIs("s.2.12", db, "e", "$.stored.rows", zWant);
  tExec(db, "INSERT INTO e(e) VALUES('optimize'); COMMIT");
  snprintf(zWant, sizeof(zWant), "%d", NROW+100);
  statusIs("s.2.13", db, "e", "$.stored.rows", zWant);
  tExec(db, "DELETE FROM e WHERE id>%d", NROW);
  tClose(db2);

  /* s.3: stale store: 10% overwritten, 10% deleted, by another connection;
  ** then a third connection loads the old store */
  db2 = tOpen("st.db");
  tExec(db2, "DELETE FROM e WHERE id>%d AND id<=%d", NROW/10, NROW/5);
  fill(db2, "e", 1, NROW/10, 1);      /* into the slots the delete freed */
  tClose(db2);
  db2 = tOpen("st.db");
  r = recall(db2, "e", "", &nBad);
  fprintf(stderr, "  stale store: recall %.3f\n", r);
  tCheck("s.3.1", r>=0.95 && nBad==0, "recall >= 0.95 from a stale store");
  statusIs("s.3.2", db2, "e", "$.from", "store");
  statusIs("s.3.3", db2, "e", "$.pending", "0");
  tRows("s.3.4", db2, "SELECT count(*) FROM (SELECT id FROM e WHERE vec "
        "MATCH (SELECT vec FROM e WHERE id=3000) AND k=500) WHERE id>1200 "
        "AND id<=2400", "0");
  /* the first connection's own index follows the other's writes too */
  r = recall(db, "e", "", &nBad);
  tCheck("s.3.5", r>=0.95 && nBad==0, "recall >= 0.95 after the writes");
  tClose(db2);
  tClose(db);
}

/* Damage the stored row of table e by zSet (an UPDATE's SET clause), then
** check that veles_check names it, that veles_index reports it and that
** a new connection's searches answer correctly. */
static void damage(const char *zCase, const char *zSet, const char *zWhy,
                   int bHeader){
  sqlite3 *db = tOpen("st.db");
  char zName[32], *z;
  int nBad;
  double r;
  tExec(db, "UPDATE e_ivf SET %s WHERE k=1", zSet);
  snprintf(zName, sizeof(zName), "%s.1", zCase);
  z = tQuery(db, "SELECT veles_check('e')");
  tCheck(zName, z && strstr(z, "e_ivf: the stored index is damaged")!=0
         && strstr(z, zWhy)!=0, z ? z : "no check");
  if( z && strstr(z, zWhy)==0 ) fprintf(stderr, "  got: %s\n", z);
  sqlite3_free(z);
  snprintf(zName, sizeof(zName), "%s.2", zCase);
  z = status(db, "e", "$.stored.error");
  if( bHeader ){
    tCheck(zName, z && strstr(z, zWhy)!=0, "veles_index reports the damage");
  }else{
    tCheck(zName, z && z[0]==0, "veles_index reads the header only");
  }
  sqlite3_free(z);
  tClose(db);
  db = tOpen("st.db");
  r = recall(db, "e", "", &nBad);
  snprintf(zName, sizeof(zName), "%s.3", zCase);
  tCheck(zName, r>=0.95 && nBad==0, "searches ignore it and answer");
  snprintf(zName, sizeof(zName), "%s.4", zCase);
  statusIs(zName, db, "e", "$.from", "build");
  /* optimize stores it again */
  tExec(db, "INSERT INTO e(e) VALUES('optimize')");
  snprintf(zName, sizeof(zName), "%s.5", zCase);
  tRows(zName, db, "SELECT veles_check('e')", "ok");
  tClose(db);
}

static void testDamage(void){
  sqlite3 *db = tOpen("st.db");
  char *zLists = status(db, "e", "$.stored.lists");
  int nList = zLists ? atoi(zLists) : 0;
  char zSet[300];
  long long iList = 48 + 4LL*nList*NDIM;  /* the first slot's list */
  sqlite3_free(zLists);
  tClose(db);
  tCheck("s.4.0", nList>0, "an index is stored");
  /* (|| makes text of blobs: CAST makes a blob of the bytes again) */
  damage("s.4.1", "v=x'00'", "expected a row starting with", 1);
  damage("s.4.2", "v=substr(v, 1, length(v)-1)", "bytes for", 1);
  snprintf(zSet, sizeof(zSet), "v=CAST(substr(v, 1, %lld) || x'07000100' "
           "|| substr(v, %lld) AS BLOB)", iList, iList+5);
  damage("s.4.3", zSet, "expected each slot's list from -1", 0);
  damage("s.4.4", "v=CAST(substr(v, 1, 48) || x'0000c07f' || substr(v, 53) "
         "AS BLOB)", "expected finite centroids", 0);
  damage("s.4.5", "v=CAST(substr(v, 1, 8) || x'11000000' || substr(v, 13) "
         "AS BLOB)", "expected dimension 16", 1);
  damage("s.4.6", "v=CAST(substr(v, 1, 4) || x'02000000' || substr(v, 9) "
         "AS BLOB)", "expected version 1", 1);
}

/* s.5: a table made before <t>_ivf */
static void testOldTable(void){
  sqlite3 *db = tOpen("old.db");
  tExec(db, "CREATE VIRTUAL TABLE o USING vectors(dim=%d)", NDIM);
  fill(db, "o", 1, 5000, 0);
  tExec(db, "DROP TABLE o_ivf");
  tClose(db);
  db = tOpen("old.db");
  tRows("s.5.1", db, "SELECT count(*) FROM o WHERE vec MATCH (SELECT vec "
        "FROM o WHERE id=9) AND k=4 AND probe=4", "4");
  statusIs("s.5.2", db, "o", "$.stored", "");
  tExec(db, "ALTER TABLE o RENAME TO o2");
  tRows("s.5.3", db, "SELECT count(*) FROM o2", "5000");
  tExec(db, "INSERT INTO o2(o2) VALUES('optimize')");
  statusIs("s.5.4", db, "o2", "$.stored.rows", "5000");
  tRows("s.5.5", db, "SELECT count(*) FROM sqlite_schema WHERE "
        "name='o2_ivf'", "1");
  tRows("s.5.6", db, "SELECT veles_check('o2')", "ok");
  tClose(db);
}

/* A progress handler that interrupts the "SELECT 1" the index work steps
** to learn whether sqlite3_interrupt() was called. */
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

/* A progress handler of the optimizing connection that, while the work
** polls, asks another connection (pSeen->db) for the work it sees. */
typedef struct Seen Seen;
struct Seen { sqlite3 *db, *dbWork; char *zWork; int nPoll; };
static int watchPoll(void *pArg){
  Seen *p = (Seen*)pArg;
  if( interruptPoll(p->dbWork) && p->zWork==0 ){
    p->zWork = tQuery(p->db, "SELECT json_extract(veles_index('e'), "
                      "'$.work.work') || ' ' || (json_extract(veles_index("
                      "'e'), '$.work.done') <= json_extract(veles_index("
                      "'e'), '$.work.total')) || ' ' || (json_extract("
                      "veles_index('e'), '$.work.total') > 0)");
  }
  p->nPoll++;
  return 0;
}

static void testWork(void){
  sqlite3 *db = tOpen("st.db"), *db2 = tOpen("st.db");
  char *zBefore = tQuery(db, "SELECT hex(v) FROM e_ivf");
  char *zAfter;
  Seen seen;
  int rc;
  sqlite3_progress_handler(db, 1, interruptPoll, db);
  rc = sqlite3_exec(db, "INSERT INTO e(e) VALUES('optimize')", 0, 0, 0);
  tCheck("s.6.1", rc==SQLITE_INTERRUPT, "optimize is interrupted");
  tCheck("s.6.2", strstr(sqlite3_errmsg(db), "'optimize' was interrupted")
         !=0, sqlite3_errmsg(db));
  sqlite3_progress_handler(db, 0, 0, 0);
  zAfter = tQuery(db, "SELECT hex(v) FROM e_ivf");
  tCheck("s.6.3", zBefore && zAfter && strcmp(zBefore, zAfter)==0,
         "the stored index is as it was");
  tRows("s.6.4", db, "SELECT veles_check('e')", "ok");
  statusIs("s.6.5", db2, "e", "$.work", "");
  memset(&seen, 0, sizeof(seen));
  seen.db = db2;
  seen.dbWork = db;
  sqlite3_progress_handler(db, 1, watchPoll, &seen);
  tExec(db, "INSERT INTO e(e) VALUES('optimize')");
  sqlite3_progress_handler(db, 0, 0, 0);
  tCheck("s.6.6", seen.zWork && strcmp(seen.zWork, "build 1 1")==0,
         seen.zWork ? seen.zWork : "no work seen");
  statusIs("s.6.7", db2, "e", "$.work", "");
  sqlite3_free(seen.zWork);
  sqlite3_free(zBefore);
  sqlite3_free(zAfter);
  tClose(db2);
  tClose(db);
}

/* s.7: too few rows for an index */
static void testSmall(void){
  sqlite3 *db = tOpen("small.db");
  tExec(db, "CREATE VIRTUAL TABLE m USING vectors(dim=%d, index=ivf)", NDIM);
  fill(db, "m", 1, 100, 0);
  tExec(db, "INSERT INTO m(m) VALUES('optimize')");
  statusIs("s.7.1", db, "m", "$.stored", "");
  tRows("s.7.2", db, "SELECT count(*) FROM m WHERE vec MATCH (SELECT vec "
        "FROM m WHERE id=9) AND k=100", "100");
  tExec(db, "CREATE VIRTUAL TABLE m0 USING vectors(index=ivf)");
  tExec(db, "INSERT INTO m0(m0) VALUES('optimize')");
  statusIs("s.7.3", db, "m0", "$.rows", "0");
  tClose(db);
}

int main(int argc, char **argv){
  tInit(argc, argv);
  makeData();
  testOption();
  testStore();
  testDamage();
  testOldTable();
  testWork();
  testSmall();
  return tDone();
}
