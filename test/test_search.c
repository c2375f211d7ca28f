/*
** Nearest-neighbour search on `vectors` tables through SQL: the syntax
** (k = ?, ORDER BY distance LIMIT/OFFSET), the hidden columns, the id
** prefilter (lists, subqueries, ranges), the exact messages of bad
** searches, exactness against a brute-force reference for every metric
** on random and adversarial data, and what a search sees in and out of
** transactions, in memory, and beside other connections in WAL mode.
*/
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers --------------------------------------------------------- */

static unsigned long long rngState = 88172645463325252ULL;
static double rnd(void){                       /* uniform [0, 1) */
  rngState ^= rngState<<13;
  rngState ^= rngState>>7;
  rngState ^= rngState<<17;
  return (double)(rngState>>11)/9007199254740992.0;
}

/* Insert (or replace) row iId of zTable with vector a[0..n-1] as a blob. */
static void putVec(sqlite3 *db, const char *zTable, long long iId,
                   const float *a, int n){
  sqlite3_stmt *p;
  char *zSql = sqlite3_mprintf("INSERT OR REPLACE INTO \"%w\"(id, vec) "
                               "VALUES(?, ?)", zTable);
  if( sqlite3_prepare_v2(db, zSql, -1, &p, 0)!=SQLITE_OK ){
    tCheck("putVec", 0, sqlite3_errmsg(db));
    sqlite3_free(zSql);
    return;
  }
  sqlite3_bind_int64(p, 1, iId);
  sqlite3_bind_blob(p, 2, a, n*4, SQLITE_TRANSIENT);
  if( sqlite3_step(p)!=SQLITE_DONE ) tCheck("putVec", 0, sqlite3_errmsg(db));
  sqlite3_finalize(p);
  sqlite3_free(zSql);
}

/* Run zSql with ?1 = the query blob and ?2 = k (when k > 0); put up to
** nMax (id, distance) rows in aId/aDist. Returns the row count, -1 on
** error. */
static int search(sqlite3 *db, const char *zSql, const float *q, int n,
                  long long k, long long *aId, double *aDist, int nMax){
  sqlite3_stmt *p;
  int nRow = 0, rc;
  if( sqlite3_prepare_v2(db, zSql, -1, &p, 0)!=SQLITE_OK ){
    fprintf(stderr, "  prepare: %s\n  %s\n", zSql, sqlite3_errmsg(db));
    return -1;
  }
  sqlite3_bind_blob(p, 1, q, n*4, SQLITE_TRANSIENT);
  if( k>0 ) sqlite3_bind_int64(p, 2, k);
  while( (rc = sqlite3_step(p))==SQLITE_ROW ){
    if( nRow<nMax ){
      aId[nRow] = sqlite3_column_int64(p, 0);
      aDist[nRow] = sqlite3_column_double(p, 1);
    }
    nRow++;
  }
  if( rc!=SQLITE_DONE ){
    fprintf(stderr, "  step: %s\n", sqlite3_errmsg(db));
    nRow = -1;
  }
  sqlite3_finalize(p);
  return nRow;
}

/* The reference distance in double: l2, cosine (1.0 for a zero vector),
** dot, as docs/functions.md defines them. */
static double refDistance(int eMetric, const float *a, const float *b, int n){
  double s = 0, aa = 0, bb = 0;
  int i;
  for(i=0; i<n; i++){
    if( eMetric==0 ){
      double d = (double)a[i]-b[i];
      s += d*d;
    }else{
      s += (double)a[i]*b[i];
      aa += (double)a[i]*a[i];
      bb += (double)b[i]*b[i];
    }
  }
  if( eMetric==0 ) return sqrt(s);
  if( eMetric==2 ) return s==0 ? 0.0 : -s;
  if( aa==0 || bb==0 ) return 1.0;
  s = s/sqrt(aa*bb);
  if( s>1 ) s = 1;
  if( s<-1 ) s = -1;
  return 1.0-s;
}

typedef struct Ref Ref;
struct Ref { double r; long long id; };
static int cmpRef(const void *a, const void *b){
  const Ref *x = a, *y = b;
  if( x->r<y->r ) return -1;
  if( x->r>y->r ) return 1;
  return x->id<y->id ? -1 : (x->id>y->id);
}

static int near(double a, double b){
  return fabs(a-b)<=2e-5*(1.0+fabs(a)+fabs(b));
}

/*
** Compare a search's result with a brute-force scan of the live rows
** (aLive[i] != 0) of aData (row i = id i): same count, every returned
** distance is its row's true distance, the k-th distances agree position
** by position, and the order is by distance then id.
*/
static int matchesReference(const char *zCase, int eMetric, const float *q,
                            const float *aData, const char *aLive, int nRow,
                            int n, int k, const long long *aId,
                            const double *aDist, int nGot){
  Ref *aRef = malloc(sizeof(Ref)*(size_t)nRow);
  int nRef = 0, i, bOk = 1;
  char zWhy[256] = "";
  for(i=0; i<nRow; i++){
    if( !aLive[i] ) continue;
    aRef[nRef].r = refDistance(eMetric, q, aData+(size_t)i*n, n);
    aRef[nRef].id = i;
    nRef++;
  }
  qsort(aRef, (size_t)nRef, sizeof(Ref), cmpRef);
  if( nGot!=(k<nRef ? k : nRef) ){
    snprintf(zWhy, sizeof(zWhy), "%d rows, expected %d", nGot,
             k<nRef ? k : nRef);
    bOk = 0;
  }
  for(i=0; bOk && i<nGot; i++){
    double rTrue;
    if( aId[i]<0 || aId[i]>=nRow || !aLive[aId[i]] ){
      snprintf(zWhy, sizeof(zWhy), "row %d: id %lld is not live", i, aId[i]);
      bOk = 0;
      break;
    }
    rTrue = refDistance(eMetric, q, aData+(size_t)aId[i]*n, n);
    if( !near(aDist[i], rTrue) || !near(aDist[i], aRef[i].r) ){
      snprintf(zWhy, sizeof(zWhy), "row %d: id %lld distance %.9g, true "
               "%.9g, reference row %.9g (id %lld)", i, aId[i], aDist[i],
               rTrue, aRef[i].r, aRef[i].id);
      bOk = 0;
    }
    if( i>0 && (aDist[i]<aDist[i-1]
                || (aDist[i]==aDist[i-1] && aId[i]<=aId[i-1])) ){
      snprintf(zWhy, sizeof(zWhy), "row %d out of order", i);
      bOk = 0;
    }
  }
  free(aRef);
  return tCheck(zCase, bOk, zWhy);
}

/* ---- 1. syntax and hidden columns ------------------------------------ */

static void testSyntax(sqlite3 *db){
  tExec(db, "CREATE VIRTUAL TABLE s1 USING vectors(dim=2);"
            "INSERT INTO s1 VALUES (1,'[0,0]'),(2,'[1,0]'),(3,'[0,2]'),"
            "(4,'[3,3]'),(5,'[1,0]'),(6,'[-1,0]')");
  tRows("1.0", db, "SELECT name FROM pragma_table_xinfo('s1')",
        "id\nvec\ndistance\nk\nrescore\nprobe\ns1");
  tRows("1.1", db, "SELECT * FROM s1 WHERE vec MATCH '[1,0]' AND k=1",
        "2|x'0000803f00000000'");
  tRows("1.2", db, "SELECT id, distance, k FROM s1 WHERE vec MATCH '[1,0]' "
        "AND k = 3", "2|0.0|3\n5|0.0|3\n1|1.0|3");
  tRows("1.3", db, "SELECT id, distance FROM s1 WHERE vec MATCH '[1,0]' "
        "ORDER BY distance LIMIT 2", "2|0.0\n5|0.0");
  tRows("1.4", db, "SELECT id, distance FROM s1 WHERE vec MATCH '[1,0]' "
        "ORDER BY distance LIMIT 2 OFFSET 2", "1|1.0\n6|2.0");
  tRows("1.5", db, "SELECT id FROM s1 WHERE vec MATCH '[1,0]' "
        "ORDER BY distance, id LIMIT 3 OFFSET 1", "5\n1\n6");
  /* k and LIMIT together: the k nearest, then LIMIT/OFFSET over them */
  tRows("1.6", db, "SELECT id FROM s1 WHERE vec MATCH '[1,0]' AND k = 3 "
        "ORDER BY distance LIMIT 5 OFFSET 2", "1");
  tRows("1.7", db, "SELECT id FROM s1 WHERE vec MATCH '[1,0]' AND k = 4 "
        "LIMIT 2", "2\n5");
  /* k larger than the table: every row */
  tRows("1.8", db, "SELECT id, distance FROM s1 WHERE vec MATCH '[1,0]' "
        "AND k = 1000", "2|0.0\n5|0.0\n1|1.0\n6|2.0\n3|2.23606797749979\n"
        "4|3.60555127546399");
  /* ORDER BY distance alone: every row, nearest first */
  tRows("1.9", db, "SELECT id FROM s1 WHERE vec MATCH '[1,0]' "
        "ORDER BY distance", "2\n5\n1\n6\n3\n4");
  /* other orders are SQLite's to sort */
  tRows("1.10", db, "SELECT id FROM s1 WHERE vec MATCH '[1,0]' AND k = 3 "
        "ORDER BY id DESC", "5\n2\n1");
  tRows("1.11", db, "SELECT id FROM s1 WHERE vec MATCH '[1,0]' AND k = 3 "
        "ORDER BY distance DESC, id", "1\n2\n5");
  /* the vec column of a result row; a blob query as well as JSON */
  tRows("1.12", db, "SELECT id, veles_json(vec), distance FROM s1 "
        "WHERE vec MATCH x'000080bf00000000' AND k = 1", "6|[-1.0,0.0]|0.0");
  tRows("1.13", db, "SELECT id FROM s1 WHERE vec MATCH veles_vec('[0,2]') "
        "AND k = 1", "3");
  /* k given as text that is an integer; rowid works as id */
  tRows("1.14", db, "SELECT rowid FROM s1 WHERE vec MATCH '[3,3]' "
        "AND k = '1'", "4");
  /* distance and k are NULL outside a search */
  tRows("1.15", db, "SELECT id, distance, k FROM s1 WHERE id = 2",
        "2|NULL|NULL");
  /* a search in a subquery and a join */
  tRows("1.16", db, "SELECT count(*) FROM (SELECT id FROM s1 "
        "WHERE vec MATCH '[1,0]' AND k = 4)", "4");
  tExec(db, "CREATE TABLE qs(name TEXT, q TEXT);"
            "INSERT INTO qs VALUES ('a','[0,0]'),('b','[3,3]')");
  tRows("1.17", db, "SELECT name, id FROM qs, s1 WHERE s1.vec MATCH qs.q "
        "AND k = 1 ORDER BY name", "a|1\nb|4");
  /* an empty table, and one whose dimension is not fixed yet */
  tExec(db, "CREATE VIRTUAL TABLE s2 USING vectors(dim=2);"
            "CREATE VIRTUAL TABLE s3 USING vectors");
  tRows("1.18", db, "SELECT id FROM s2 WHERE vec MATCH '[1,0]' AND k=3", "");
  tRows("1.19", db, "SELECT id FROM s3 WHERE vec MATCH '[1,0,5]' AND k=3", "");
  /* UPDATE and DELETE driven by a search */
  tExec(db, "UPDATE s1 SET vec = '[9,9]' WHERE id IN "
            "(SELECT id FROM s1 WHERE vec MATCH '[-1,0]' AND k = 1)");
  tRows("1.20", db, "SELECT id, veles_json(vec) FROM s1 WHERE id = 6",
        "6|[9.0,9.0]");
  tExec(db, "DELETE FROM s1 WHERE id IN "
            "(SELECT id FROM s1 WHERE vec MATCH '[9,9]' AND k = 1)");
  tRows("1.21", db, "SELECT count(*) FROM s1", "5");
  tExec(db, "INSERT INTO s1 VALUES (6, '[-1,0]')");
}

/* ---- 2. errors -------------------------------------------------------- */

static void testErrors(sqlite3 *db){
  tError("2.0", db, "SELECT id FROM s1 WHERE vec MATCH '[1,0,0]' AND k = 1",
         "vectors: dimension mismatch: expected 2, got 3");
  tError("2.1", db, "SELECT id FROM s1 WHERE vec MATCH x'0000c07f00000000' "
         "AND k = 1",
         "vectors: vector element 0 is NaN: only finite numbers are stored");
  tError("2.2", db, "SELECT id FROM s1 WHERE vec MATCH '[1,0]'",
         "vectors: MATCH needs a row count: add k = N, or LIMIT N with "
         "ORDER BY distance");
  tError("2.3", db, "SELECT id FROM s1 WHERE vec MATCH '[1,0]' ORDER BY id "
         "LIMIT 3", "vectors: MATCH needs a row count: add k = N, or LIMIT N "
         "with ORDER BY distance");
  tError("2.4", db, "SELECT id FROM s1 WHERE vec MATCH '[1,0]' AND k = 0",
         "vectors: k must be a positive integer: got 0");
  tError("2.5", db, "SELECT id FROM s1 WHERE vec MATCH '[1,0]' AND k = -2",
         "vectors: k must be a positive integer: got -2");
  tError("2.6", db, "SELECT id FROM s1 WHERE vec MATCH '[1,0]' AND k = 2.5",
         "vectors: k must be a positive integer: got 2.5");
  tError("2.7", db, "SELECT id FROM s1 WHERE vec MATCH '[1,0]' AND k = 'ab'",
         "vectors: k must be a positive integer: got 'ab'");
  tError("2.8", db, "SELECT id FROM s1 WHERE vec MATCH '[1,0]' AND k = NULL",
         "vectors: k must be a positive integer: got NULL");
  tRows("2.8a", db, "SELECT count(*) FROM (SELECT id FROM s1 WHERE "
        "vec MATCH '[1,0]' AND k = 2.0)", "2");
  tError("2.9", db, "SELECT id FROM s1 WHERE k = 3",
         "vectors: k = N needs vec MATCH: no MATCH given");
  tError("2.10", db, "SELECT id FROM s1 WHERE id MATCH 3 AND k = 1",
         "vectors: MATCH searches the vec column only");
  tError("2.11", db, "SELECT id FROM s1 WHERE vec MATCH '[1,0]' OR id = 1",
         "vectors: MATCH needs a row count: add k = N, or LIMIT N with "
         "ORDER BY distance");
  tError("2.20", db, "SELECT id, vec MATCH '[1,0]' FROM s1",
         "vectors: vec MATCH must be a search: WHERE vec MATCH ? AND k = ?, "
         "combined with other terms by AND only");
  tError("2.12", db, "SELECT id FROM s1 WHERE vec MATCH '[1,' AND k = 1",
         "vectors: malformed vector JSON at offset 3: expected a number, "
         "got end of text");
  tError("2.13", db, "SELECT id FROM s1 WHERE vec MATCH NULL AND k = 1",
         "vectors: vector must be a blob of f32 or JSON text such as "
         "'[1, 2, 3]', got NULL");
  tError("2.14", db, "INSERT INTO s1(id, vec, distance) VALUES (50,'[1,1]',1)",
         "vectors: cannot write column distance: it is a search output");
  tError("2.15", db, "INSERT INTO s1(id, vec, k) VALUES (50,'[1,1]',1)",
         "vectors: cannot write column k: it is a search output");
  tRows("2.16", db, "SELECT count(*) FROM s1 WHERE id = 50", "0");
  tError("2.17", db, "SELECT veles_threads(65)",
         "veles_threads: expected 0 (automatic) to 64 threads, got 65");
  tError("2.18", db, "SELECT veles_threads('x')",
         "veles_threads: expected 0 (automatic) to 64 threads, got x");
  /* a huge k is no error: memory follows the rows, not k */
  tRows("2.19", db, "SELECT count(*) FROM s1 WHERE vec MATCH '[1,0]' "
        "AND k = 9223372036854775807", "6");
}

/* ---- 3. prefilter ------------------------------------------------------ */

static void testPrefilter(sqlite3 *db){
  int i;
  tExec(db, "CREATE VIRTUAL TABLE p1 USING vectors(dim=1)");
  tExec(db, "BEGIN");
  for(i=1; i<=200; i++) tExec(db, "INSERT INTO p1 VALUES (%d, '[%d]')", i, i);
  tExec(db, "COMMIT");
  tExec(db, "CREATE TABLE meta(id INTEGER PRIMARY KEY, lang TEXT);"
            "CREATE VIRTUAL TABLE pm USING payloads(lang TEXT)");
  tExec(db, "BEGIN");
  for(i=1; i<=200; i++){
    const char *zLang = (i%10==0) ? "en" : "fr";
    tExec(db, "INSERT INTO meta VALUES (%d, '%s')", i, zLang);
  }
  tExec(db, "COMMIT");
  tExec(db, "INSERT INTO pm(id, json) SELECT id, json_object('lang', lang) "
            "FROM meta WHERE id <= 60");
  /* nearest to 0 are 1, 2, 3...; the filter keeps k rows of its own */
  tRows("3.0", db, "SELECT id FROM p1 WHERE vec MATCH '[0]' AND k = 3 "
        "AND id IN (150, 7, 99, 3, 120)", "3\n7\n99");
  tRows("3.1", db, "SELECT id, distance FROM p1 WHERE vec MATCH '[0]' "
        "AND k = 3 AND id IN (SELECT id FROM meta WHERE lang = 'en')",
        "10|10.0\n20|20.0\n30|30.0");
  tRows("3.2", db, "SELECT id FROM p1 WHERE vec MATCH '[0]' AND k = 4 "
        "AND id IN (SELECT id FROM pm WHERE lang = 'en')", "10\n20\n30\n40");
  tRows("3.3", db, "SELECT id FROM p1 WHERE vec MATCH '[205]' AND k = 2 "
        "AND id IN (SELECT id FROM meta WHERE lang = 'en')", "200\n190");
  /* more ids than k, fewer than k, none, missing ids, duplicates */
  tRows("3.4", db, "SELECT id FROM p1 WHERE vec MATCH '[0]' AND k = 10 "
        "AND id IN (5, 5, 6, 9999, 6)", "5\n6");
  tRows("3.5", db, "SELECT id FROM p1 WHERE vec MATCH '[0]' AND k = 10 "
        "AND id IN (9999, -1, 'x', 2.5)", "");
  tRows("3.6", db, "SELECT id FROM p1 WHERE vec MATCH '[0]' AND k = 10 "
        "AND id IN (SELECT id FROM meta WHERE lang = 'de')", "");
  /* id = ?, and ranges */
  tRows("3.7", db, "SELECT id, distance FROM p1 WHERE vec MATCH '[0]' "
        "AND k = 5 AND id = 42", "42|42.0");
  tRows("3.8", db, "SELECT id FROM p1 WHERE vec MATCH '[0]' AND k = 3 "
        "AND id > 100", "101\n102\n103");
  tRows("3.9", db, "SELECT id FROM p1 WHERE vec MATCH '[0]' AND k = 3 "
        "AND id >= 100.5 AND id < 103", "101\n102");
  tRows("3.10", db, "SELECT id FROM p1 WHERE vec MATCH '[300]' AND k = 2 "
        "AND id <= 50", "50\n49");
  tRows("3.11", db, "SELECT id FROM p1 WHERE vec MATCH '[0]' AND k = 2 "
        "AND id BETWEEN 20 AND 30 AND id IN (SELECT id FROM meta "
        "WHERE lang = 'en')", "20\n30");
  tRows("3.12", db, "SELECT id FROM p1 WHERE vec MATCH '[0]' AND k = 2 "
        "AND id > 'abc'", "");
  tRows("3.13", db, "SELECT id FROM p1 WHERE vec MATCH '[0]' AND k = 2 "
        "AND id < 'abc'", "1\n2");
  /* many ids (found by one walk of the slot array, not lookups) */
  tRows("3.14", db, "SELECT id FROM p1 WHERE vec MATCH '[0]' AND k = 3 "
        "AND id IN (SELECT id FROM meta WHERE id > 50)", "51\n52\n53");
  tRows("3.15", db, "SELECT count(*) FROM p1 WHERE vec MATCH '[0]' "
        "AND k = 1000 AND id IN (SELECT id FROM meta WHERE id % 2 = 0)", "100");
  /* ORDER BY distance LIMIT with a prefilter */
  tRows("3.16", db, "SELECT id FROM p1 WHERE vec MATCH '[0]' AND id IN "
        "(SELECT id FROM meta WHERE lang = 'en') ORDER BY distance LIMIT 2",
        "10\n20");
  /* a join the other way round: each meta row's own distance */
  tRows("3.17", db, "SELECT m.id, p1.distance FROM meta m JOIN p1 ON "
        "p1.id = m.id WHERE m.id IN (3, 4) AND p1.vec MATCH '[0]' "
        "AND p1.k = 5 ORDER BY m.id", "3|3.0\n4|4.0");
}

/* ---- 4. adversarial data ---------------------------------------------- */

static void testAdversarial(sqlite3 *db){
  int i;
  /* duplicates: ties by id ascending, whatever the insertion order */
  tExec(db, "CREATE VIRTUAL TABLE a1 USING vectors(dim=3)");
  tExec(db, "INSERT INTO a1 VALUES (9,'[1,1,1]'),(3,'[1,1,1]'),(7,'[0,0,0]'),"
            "(5,'[1,1,1]'),(1,'[2,2,2]'),(8,'[1,1,1]')");
  tRows("4.0", db, "SELECT id, distance FROM a1 WHERE vec MATCH '[1,1,1]' "
        "AND k = 5", "3|0.0\n5|0.0\n8|0.0\n9|0.0\n1|1.73205080756888");
  tRows("4.1", db, "SELECT id FROM a1 WHERE vec MATCH '[1,1,1]' "
        "ORDER BY distance LIMIT 3", "3\n5\n8");
  /* cosine: zero vectors are 1.0 from everything, a zero query too */
  tExec(db, "CREATE VIRTUAL TABLE a2 USING vectors(dim=2, metric=cosine)");
  tExec(db, "INSERT INTO a2 VALUES (1,'[0,0]'),(2,'[1,0]'),(3,'[0,1]'),"
            "(4,'[-1,0]'),(5,'[0,0]'),(6,'[2,0]')");
  tRows("4.2", db, "SELECT id, distance FROM a2 WHERE vec MATCH '[3,0]' "
        "AND k = 6", "2|0.0\n6|0.0\n1|1.0\n3|1.0\n5|1.0\n4|2.0");
  tRows("4.3", db, "SELECT id, distance FROM a2 WHERE vec MATCH '[0,0]' "
        "AND k = 3", "1|1.0\n2|1.0\n3|1.0");
  tRows("4.4", db, "SELECT id, distance = veles_distance(vec, '[3,4]', "
        "'cosine') FROM a2 WHERE vec MATCH '[3,4]' AND k = 6 AND id < 4",
        "3|1\n2|1\n1|1");
  /* dot: -(a.b), 0.0 for orthogonal (never -0.0) */
  tExec(db, "CREATE VIRTUAL TABLE a3 USING vectors(dim=2, metric=dot)");
  tExec(db, "INSERT INTO a3 VALUES (1,'[1,0]'),(2,'[0,1]'),(3,'[2,0]'),"
            "(4,'[-1,0]')");
  tRows("4.5", db, "SELECT id, distance FROM a3 WHERE vec MATCH '[1,0]' "
        "AND k = 4", "3|-2.0\n1|-1.0\n2|0.0\n4|1.0");
  /* all rows equal: k rows by id */
  tExec(db, "CREATE VIRTUAL TABLE a4 USING vectors(dim=4)");
  tExec(db, "BEGIN");
  for(i=300; i>=1; i--) tExec(db, "INSERT INTO a4 VALUES (%d, '[1,2,3,4]')", i);
  tExec(db, "COMMIT");
  tRows("4.6", db, "SELECT group_concat(id) FROM (SELECT id FROM a4 "
        "WHERE vec MATCH '[0,0,0,0]' AND k = 5)", "1,2,3,4,5");
  tRows("4.7", db, "SELECT count(DISTINCT distance), min(id), max(id) FROM "
        "(SELECT id, distance FROM a4 WHERE vec MATCH '[1,2,3,4]' "
        "ORDER BY distance LIMIT 290)", "1|1|290");
  /* extreme magnitudes: exact beyond the f32 range of a sum */
  tExec(db, "CREATE VIRTUAL TABLE a5 USING vectors(dim=2)");
  tExec(db, "INSERT INTO a5 VALUES (1,'[3e38,3e38]'),(2,'[-3e38,-3e38]'),"
            "(3,'[1e-40,0]'),(4,'[0,0]')");
  tRows("4.8", db, "SELECT id, printf('%.6e', distance) FROM a5 WHERE "
        "vec MATCH '[-3e38,3e38]' AND k = 4",
        "3|4.242641e+38\n4|4.242641e+38\n1|6.000000e+38\n2|6.000000e+38");
  tRows("4.9", db, "SELECT id, printf('%.3e', distance) FROM a5 WHERE "
        "vec MATCH '[0,0]' AND k = 2", "4|0.000e+00\n3|1.000e-40");
  /* cosine: a norm beyond the f32 range (|[3e38,3e38]| = 4.2e38), of a
  ** row or of the query, is still a norm, not +Inf */
  tExec(db, "CREATE VIRTUAL TABLE a6 USING vectors(dim=2, metric=cosine)");
  tExec(db, "INSERT INTO a6 VALUES (1,'[3e38,3e38]'),(2,'[1,0]'),"
            "(3,'[1e-30,1e-30]'),(4,'[-3e38,3e38]')");
  tRows("4.10", db, "SELECT id, printf('%.6f', distance) FROM (SELECT id, "
        "distance FROM a6 WHERE vec MATCH '[1,1]' AND k = 4) ORDER BY id",
        "1|0.000000\n2|0.292893\n3|0.000000\n4|1.000000");
  tRows("4.11", db, "SELECT id, printf('%.6f', distance) FROM (SELECT id, "
        "distance FROM a6 WHERE vec MATCH '[3e38,3e38]' AND k = 4) "
        "ORDER BY id", "1|0.000000\n2|0.292893\n3|0.000000\n4|1.000000");
  /* dot: a product beyond the f32 range, +Inf meeting -Inf, tiny
  ** products, and zero (0.0, never -0.0) */
  tExec(db, "CREATE VIRTUAL TABLE a7 USING vectors(dim=2, metric=dot)");
  tExec(db, "INSERT INTO a7 VALUES (1,'[1e30,1e30]'),(2,'[1e30,-1e30]'),"
            "(3,'[-1e30,-1e30]'),(4,'[1e-30,1e-30]'),(5,'[0,0]')");
  tRows("4.12", db, "SELECT id, printf('%.6e', distance) FROM a7 WHERE "
        "vec MATCH '[1e30,1e30]' AND k = 5",
        "1|-2.000000e+60\n4|-2.000000e+00\n2|0.000000e+00\n5|0.000000e+00\n"
        "3|2.000000e+60");
  tRows("4.13", db, "SELECT id, distance FROM a7 WHERE "
        "vec MATCH '[1e-30,-1e-30]' AND k = 5",
        "2|-2.0\n1|0.0\n3|0.0\n4|0.0\n5|0.0");
}

/* ---- 5. brute-force reference ---------------------------------------- */

static void testReference(sqlite3 *db){
  static const char *azMetric[] = {"l2", "cosine", "dot"};
  static const int aDim[] = {1, 7, 128};
  int eMetric, iDim;
  for(eMetric=0; eMetric<3; eMetric++){
    for(iDim=0; iDim<3; iDim++){
      int n = aDim[iDim], nRow = 3000, i, j, iQ;
      float *aData = malloc(sizeof(float)*(size_t)nRow*n);
      char *aLive = calloc((size_t)nRow, 1);
      float *q = malloc(sizeof(float)*(size_t)n);
      long long aId[200];
      double aDist[200];
      char zCase[32], zTable[32];
      snprintf(zTable, sizeof(zTable), "r_%s_%d", azMetric[eMetric], n);
      tExec(db, "CREATE VIRTUAL TABLE %s USING vectors(dim=%d, metric=%s)",
            zTable, n, azMetric[eMetric]);
      tExec(db, "BEGIN");
      for(i=0; i<nRow; i++){
        for(j=0; j<n; j++) aData[(size_t)i*n+j] = (float)(rnd()*2-1);
        if( i%97==0 ) memset(&aData[(size_t)i*n], 0, sizeof(float)*n);
        if( i%89==1 && i>1 ) memcpy(&aData[(size_t)i*n], &aData[(size_t)(i-1)*n],
                                    sizeof(float)*n);
        putVec(db, zTable, i, &aData[(size_t)i*n], n);
        aLive[i] = 1;
      }
      tExec(db, "COMMIT");
      /* free slots in the middle: delete every 7th row */
      tExec(db, "DELETE FROM %s WHERE id %% 7 = 3", zTable);
      for(i=3; i<nRow; i+=7) aLive[i] = 0;
      for(iQ=0; iQ<4; iQ++){
        int k = iQ==3 ? 200 : 10;
        int nGot;
        for(j=0; j<n; j++) q[j] = (float)(rnd()*2-1);
        if( iQ==1 ) memcpy(q, &aData[(size_t)5*n], sizeof(float)*n);
        char *zSql = sqlite3_mprintf("SELECT id, distance FROM %s WHERE vec "
                                     "MATCH ?1 AND k = ?2", zTable);
        nGot = search(db, zSql, q, n, k, aId, aDist, 200);
        snprintf(zCase, sizeof(zCase), "5.%d.%d.%d", eMetric, n, iQ);
        matchesReference(zCase, eMetric, q, aData, aLive, nRow, n, k,
                         aId, aDist, nGot);
        sqlite3_free(zSql);
        /* the same through ORDER BY distance LIMIT */
        zSql = sqlite3_mprintf("SELECT id, distance FROM %s WHERE vec "
                               "MATCH ?1 ORDER BY distance LIMIT ?2", zTable);
        nGot = search(db, zSql, q, n, k, aId, aDist, 200);
        snprintf(zCase, sizeof(zCase), "5.%d.%d.%d.limit", eMetric, n, iQ);
        matchesReference(zCase, eMetric, q, aData, aLive, nRow, n, k,
                         aId, aDist, nGot);
        sqlite3_free(zSql);
      }
      free(aData);
      free(aLive);
      free(q);
    }
  }
  /* integer data with many ties: exactly the ids of veles_distance's
  ** ORDER BY d, id (sums of small integers are exact in f32) */
  {
    int i;
    tExec(db, "CREATE VIRTUAL TABLE ties USING vectors(dim=4);"
              "CREATE VIRTUAL TABLE tiesd USING vectors(dim=4, metric=dot);"
              "CREATE TABLE plain(id INTEGER PRIMARY KEY, vec BLOB)");
    tExec(db, "BEGIN");
    for(i=0; i<2000; i++){
      float a[4];
      int j;
      for(j=0; j<4; j++) a[j] = (float)((int)(rnd()*5)-2);
      putVec(db, "ties", i, a, 4);
      putVec(db, "tiesd", i, a, 4);
      putVec(db, "plain", i, a, 4);
    }
    tExec(db, "COMMIT");
    for(i=0; i<3; i++){
      const char *zQ = i==0 ? "[0,0,0,0]" : i==1 ? "[1,-1,2,0]" : "[2,2,2,2]";
      char *zA = sqlite3_mprintf("SELECT group_concat(id) FROM (SELECT id FROM "
          "ties WHERE vec MATCH '%s' AND k = 50)", zQ);
      char *zB = sqlite3_mprintf("SELECT group_concat(id) FROM (SELECT id FROM "
          "plain ORDER BY veles_distance(vec, '%s'), id LIMIT 50)", zQ);
      char *zC = sqlite3_mprintf("SELECT group_concat(id) FROM (SELECT id FROM "
          "tiesd WHERE vec MATCH '%s' AND k = 50)", zQ);
      char *zD = sqlite3_mprintf("SELECT group_concat(id) FROM (SELECT id FROM "
          "plain ORDER BY veles_distance(vec, '%s', 'dot'), id LIMIT 50)", zQ);
      char *zExpect = tQuery(db, zB), *zExpectD = tQuery(db, zD);
      char zCase[16];
      snprintf(zCase, sizeof(zCase), "5.9.%d", i);
      tRows(zCase, db, zA, zExpect);
      snprintf(zCase, sizeof(zCase), "5.10.%d", i);
      tRows(zCase, db, zC, zExpectD);
      sqlite3_free(zA); sqlite3_free(zB); sqlite3_free(zC); sqlite3_free(zD);
      sqlite3_free(zExpect); sqlite3_free(zExpectD);
    }
  }
}

/* ---- 6. transactions, memory, other connections ----------------------- */

static void testTransactions(sqlite3 *db){
  tExec(db, "CREATE VIRTUAL TABLE t1 USING vectors(dim=1, metric=cosine)");
  tExec(db, "CREATE VIRTUAL TABLE t2 USING vectors(dim=1)");
  tExec(db, "INSERT INTO t2 VALUES (1,'[1]'),(2,'[2]'),(3,'[3]')");
  tExec(db, "BEGIN");
  tExec(db, "INSERT INTO t2 VALUES (4,'[0.5]')");
  tExec(db, "DELETE FROM t2 WHERE id = 1");
  tRows("6.0", db, "SELECT id FROM t2 WHERE vec MATCH '[0]' AND k = 2",
        "4\n2");
  tExec(db, "UPDATE t2 SET vec = '[0.1]' WHERE id = 3");
  tRows("6.1", db, "SELECT id, printf('%.6f', distance) FROM t2 "
        "WHERE vec MATCH '[0]' AND k = 2", "3|0.100000\n4|0.500000");
  tExec(db, "SAVEPOINT s");
  tExec(db, "INSERT INTO t2 VALUES (5,'[0]')");
  tRows("6.2", db, "SELECT id FROM t2 WHERE vec MATCH '[0]' AND k = 1", "5");
  tExec(db, "ROLLBACK TO s");
  tRows("6.3", db, "SELECT id FROM t2 WHERE vec MATCH '[0]' AND k = 1", "3");
  tExec(db, "ROLLBACK");
  tRows("6.4", db, "SELECT id FROM t2 WHERE vec MATCH '[0]' AND k = 3",
        "1\n2\n3");
  /* pending inserts (not yet in the map) are searched too */
  tExec(db, "BEGIN");
  tExec(db, "INSERT INTO t2 VALUES (10,'[-0.1]'),(11,'[-0.2]')");
  tRows("6.5", db, "SELECT id FROM t2 WHERE vec MATCH '[-1]' AND k = 2",
        "11\n10");
  tExec(db, "COMMIT");
  tRows("6.6", db, "SELECT count(*) FROM t2 WHERE vec MATCH '[-1]' "
        "AND k = 100", "5");
  /* the cosine norm cache follows rewritten slots */
  tExec(db, "INSERT INTO t1 VALUES (1,'[1]'),(2,'[-1]')");
  tRows("6.7", db, "SELECT id, distance FROM t1 WHERE vec MATCH '[1]' "
        "AND k = 2", "1|0.0\n2|2.0");
  tExec(db, "DELETE FROM t1 WHERE id = 2");
  tExec(db, "INSERT INTO t1 VALUES (3,'[5]')");   /* reuses the freed slot */
  tRows("6.8", db, "SELECT id, distance FROM t1 WHERE vec MATCH '[1]' "
        "AND k = 2", "1|0.0\n3|0.0");
  tExec(db, "UPDATE t1 SET vec = '[-2]' WHERE id = 1");
  tRows("6.9", db, "SELECT id, distance FROM t1 WHERE vec MATCH '[1]' "
        "AND k = 2", "3|0.0\n1|2.0");
}

static void testMemory(void){
  sqlite3 *db = tOpen(":memory:");
  tExec(db, "CREATE VIRTUAL TABLE m USING vectors(dim=2, metric=cosine);"
            "INSERT INTO m VALUES (1,'[1,0]'),(2,'[0,1]'),(3,'[1,1]')");
  tRows("6.10", db, "SELECT id, printf('%.6f', distance) FROM m "
        "WHERE vec MATCH '[1,0.9]' AND k = 2", "3|0.001382\n1|0.256706");
  tExec(db, "CREATE VIRTUAL TABLE temp.tm USING vectors(dim=1);"
            "INSERT INTO tm VALUES (1,'[1]'),(2,'[2]')");
  tExec(db, "BEGIN; INSERT INTO tm VALUES (3,'[1.9]');");
  tRows("6.11", db, "SELECT id FROM tm WHERE vec MATCH '[2]' AND k = 2",
        "2\n3");
  tExec(db, "ROLLBACK");
  tRows("6.12", db, "SELECT id FROM tm WHERE vec MATCH '[2]' AND k = 2",
        "2\n1");
  tClose(db);
}

static void testOtherConnections(void){
  sqlite3 *a = tOpen("wal.db"), *b;
  tExec(a, "PRAGMA journal_mode=WAL");
  tExec(a, "CREATE VIRTUAL TABLE w USING vectors(dim=1, metric=cosine);"
           "CREATE VIRTUAL TABLE w2 USING vectors(dim=1);"
           "INSERT INTO w VALUES (1,'[1]'),(2,'[-1]');"
           "INSERT INTO w2 VALUES (1,'[1]'),(2,'[2]')");
  b = tOpen("wal.db");
  tRows("7.0", a, "SELECT id FROM w2 WHERE vec MATCH '[0]' AND k = 1", "1");
  tRows("7.1", a, "SELECT id, distance FROM w WHERE vec MATCH '[1]' AND k = 1",
        "1|0.0");
  tExec(b, "INSERT INTO w2 VALUES (3,'[0.5]')");
  tRows("7.2", a, "SELECT id FROM w2 WHERE vec MATCH '[0]' AND k = 1", "3");
  /* a read transaction keeps its snapshot */
  tExec(a, "BEGIN");
  tRows("7.3", a, "SELECT id FROM w2 WHERE vec MATCH '[0]' AND k = 3",
        "3\n1\n2");
  tExec(b, "DELETE FROM w2 WHERE id = 3; INSERT INTO w2 VALUES (4,'[0.1]')");
  tRows("7.4", a, "SELECT id FROM w2 WHERE vec MATCH '[0]' AND k = 3",
        "3\n1\n2");
  tExec(a, "COMMIT");
  tRows("7.5", a, "SELECT id FROM w2 WHERE vec MATCH '[0]' AND k = 3",
        "4\n1\n2");
  /* another connection rewrites a vector: the norm cache must not lie */
  tExec(b, "UPDATE w SET vec = '[-3]' WHERE id = 1");
  tRows("7.6", a, "SELECT id, distance FROM w WHERE vec MATCH '[1]' AND k = 2",
        "1|2.0\n2|2.0");
  tExec(b, "PRAGMA wal_checkpoint(TRUNCATE)");
  tExec(b, "DELETE FROM w WHERE id = 2");
  tExec(b, "INSERT INTO w VALUES (5, '[7]')");
  tRows("7.7", a, "SELECT id, distance FROM w WHERE vec MATCH '[1]' AND k = 2",
        "5|0.0\n1|2.0");
  tClose(b);
  tClose(a);

  /* rollback-journal mode: freed slots are reused at once */
  a = tOpen("rj.db");
  tExec(a, "CREATE VIRTUAL TABLE r USING vectors(dim=1, metric=cosine);"
           "INSERT INTO r VALUES (1,'[1]'),(2,'[-1]')");
  b = tOpen("rj.db");
  tRows("7.8", a, "SELECT id, distance FROM r WHERE vec MATCH '[1]' AND k = 2",
        "1|0.0\n2|2.0");
  tExec(b, "DELETE FROM r WHERE id = 2");
  tExec(b, "INSERT INTO r VALUES (3, '[4]')");
  tRows("7.9", a, "SELECT id, distance FROM r WHERE vec MATCH '[1]' AND k = 2",
        "1|0.0\n3|0.0");
  tClose(b);
  tClose(a);
}

/* ---- 8. threads and streaming ----------------------------------------- */

static void testThreadsAndStreaming(sqlite3 *db){
  static const char *azMetric[] = {"l2", "cosine", "dot"};
  int n = 256, nRow = 12000, i, j, m, t;
  float *aData = malloc(sizeof(float)*(size_t)nRow*n);
  char *aLive = malloc((size_t)nRow);
  float q[256];
  long long *aId = malloc(sizeof(long long)*1000);
  double *aDist = malloc(sizeof(double)*1000);
  char zCase[32];
  int nGot;
  tRows("8.0", db, "SELECT veles_threads(0) >= 1", "1");
  tRows("8.1", db, "SELECT veles_threads(3), veles_threads()", "3|3");
  for(i=0; i<nRow; i++){
    for(j=0; j<n; j++) aData[(size_t)i*n+j] = (float)(rnd()-0.5);
    aLive[i] = 1;
  }
  for(m=0; m<3; m++){
    char zTable[16];
    snprintf(zTable, sizeof(zTable), "big_%s", azMetric[m]);
    tExec(db, "CREATE VIRTUAL TABLE %s USING vectors(dim=256, metric=%s)",
          zTable, azMetric[m]);
    tExec(db, "BEGIN");
    for(i=0; i<nRow; i++) putVec(db, zTable, i, &aData[(size_t)i*n], n);
    tExec(db, "COMMIT");
    for(j=0; j<n; j++) q[j] = (float)(rnd()-0.5);
    /* 12 MB of vectors: 3 threads at most with veles_threads(3), 1 with 1 */
    for(t=1; t<=3; t+=2){
      char *zSql = sqlite3_mprintf("SELECT id, distance FROM %s WHERE vec "
                                   "MATCH ?1 AND k = ?2", zTable);
      char *zSet = sqlite3_mprintf("SELECT veles_threads(%d)", t);
      sqlite3_free(tQuery(db, zSet));
      nGot = search(db, zSql, q, n, 100, aId, aDist, 1000);
      snprintf(zCase, sizeof(zCase), "8.2.%s.%d", azMetric[m], t);
      matchesReference(zCase, m, q, aData, aLive, nRow, n, 100, aId, aDist,
                       nGot);
      sqlite3_free(zSql);
      /* ORDER BY distance LIMIT 1000 streams: 256 rows, then 1024 */
      zSql = sqlite3_mprintf("SELECT id, distance FROM %s WHERE vec "
                             "MATCH ?1 ORDER BY distance LIMIT ?2", zTable);
      nGot = search(db, zSql, q, n, 1000, aId, aDist, 1000);
      snprintf(zCase, sizeof(zCase), "8.3.%s.%d", azMetric[m], t);
      matchesReference(zCase, m, q, aData, aLive, nRow, n, 1000, aId, aDist,
                       nGot);
      sqlite3_free(zSql);
      sqlite3_free(zSet);
    }
  }
  sqlite3_free(tQuery(db, "SELECT veles_threads(0)"));
  free(aData);
  free(aLive);
  free(aId);
  free(aDist);
}

/* veles_threads() belongs to its connection: setting it on one changes
** no other (it was process-wide once). */
static void testThreadsPerConnection(void){
  sqlite3 *a = tOpen("threads.db"), *b = tOpen("threads.db");
  int nAuto = (int)tInt(b, "SELECT veles_threads()");
  tRows("8.4", a, "SELECT veles_threads(3), veles_threads()", "3|3");
  tCheck("8.5", tInt(b, "SELECT veles_threads()")==nAuto,
         "the other connection keeps its automatic setting");
  tRows("8.6", b, "SELECT veles_threads(1)", "1");
  tRows("8.7", a, "SELECT veles_threads()", "3");
  tRows("8.8", b, "SELECT veles_threads()", "1");
  tClose(a);
  tRows("8.9", b, "SELECT veles_threads()", "1");
  tClose(b);
}

int main(int argc, char **argv){
  sqlite3 *db;
  tInit(argc, argv);
  tAutoCheck(1);          /* veles_check after every completed write */
  db = tOpen("search.db");
  testSyntax(db);
  testErrors(db);
  testPrefilter(db);
  testAdversarial(db);
  testReference(db);
  testTransactions(db);
  tClose(db);
  testMemory();
  testOtherConnections();
  db = tOpen("threads.db");
  testThreadsAndStreaming(db);
  tClose(db);
  testThreadsPerConnection();
  return tDone();
}
