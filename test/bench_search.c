/*
** Benchmark: exact k-nearest-neighbour search, in one run on the same
** data, by
**   veles      CREATE VIRTUAL TABLE v USING vectors(dim=D)
**              SELECT id, distance FROM v WHERE vec MATCH ?1 AND k = ?2
**              (with veles_threads(1) and veles_threads(2); the default
**              veles_threads() is printed too)
**   sqlite-vec CREATE VIRTUAL TABLE v USING vec0(embedding float[D])
**              SELECT rowid, distance FROM v WHERE embedding MATCH ?1 AND k = ?2
**   plain      CREATE TABLE t(id INTEGER PRIMARY KEY, vec BLOB)
**              SELECT id, veles_distance(vec, ?1) AS d FROM t ORDER BY d LIMIT ?2
** and a plain sequential read of the same bytes from memory (a SIMD sum of
** the floats, on 1 thread and on as many threads as the search uses; of
** both the heap array the data was generated in and the side file mapped
** read-only, the faster).
**
**   bench_search MODULE DIR [N] [ROUNDS] [NQUERY] [NPLAIN] [VEC0]
**     MODULE  veles.so;  DIR  scratch directory for the databases
**     N       rows (100000); each of dim 128 and 768 is run
**     ROUNDS  rounds (3): every side once per round, in turn; best kept
**     NQUERY  queries per pass (100); NPLAIN: for the plain table (10)
**     VEC0    sqlite-vec's vec0.so; by default
**             <dir of MODULE>/bench-deps/node_modules/sqlite-vec-linux-x64/
**             vec0.so, installed there by scripts/bench-search-deps.sh
**             (npm) when missing
**
** Prints queries per second, the scan rate (bytes of vectors a search
** reads per second: N*D*4*queries/time) and the ratios veles/sqlite-vec
** and scan rate / plain read. All metrics are l2 (vec0's default); k=10.
** The top-10 ids of veles and sqlite-vec are compared for every query.
*/
#define _GNU_SOURCE
#include "benchutil.h"
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/mman.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__)
# include <immintrin.h>
#endif

#define K 10

static int N = 100000;
static int NROUND = 3;
static int NQUERY = 100;
static int NPLAIN = 10;
static const char *zModule;
static char *zVec0;
static char zKernel[32] = "?";

/* A fresh database zFile with veles and/or sqlite-vec loaded. */
static sqlite3 *openDb(const char *zFile, int bVeles, int bVec0){
  sqlite3 *db = benchOpen(zFile, bVeles ? zModule : 0);
  if( bVec0 ) benchMustLoad(db, zVec0);
  benchExec(db, "PRAGMA synchronous=OFF");
  benchExec(db, "PRAGMA cache_size=-1048576");   /* 1 GiB: the plain table fits */
  return db;
}

/* ---- data ------------------------------------------------------------- */

static unsigned long long rng = 0x9E3779B97F4A7C15ULL;
static float rndf(void){                 /* uniform [-0.5, 0.5) */
  rng ^= rng<<13;
  rng ^= rng>>7;
  rng ^= rng<<17;
  return (float)((double)(rng>>11)/9007199254740992.0 - 0.5);
}

static void insertAll(sqlite3 *db, const char *zSql, const float *aData,
                      int nDim){
  sqlite3_stmt *p;
  int i;
  benchCheck(db, sqlite3_prepare_v2(db, zSql, -1, &p, 0), zSql);
  benchExec(db, "BEGIN");
  for(i=0; i<N; i++){
    sqlite3_bind_int(p, 1, i+1);
    sqlite3_bind_blob(p, 2, &aData[(size_t)i*nDim], nDim*4, SQLITE_STATIC);
    benchCheck(db, sqlite3_step(p), zSql);
    sqlite3_reset(p);
  }
  benchExec(db, "COMMIT");
  sqlite3_finalize(p);
}

/* ---- the plain read ---------------------------------------------------- */

static float sumScalar(const float *a, size_t n){
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  int j;
  for(; i+8<=n; i+=8) for(j=0; j<8; j++) s[j] += a[i+j];
  for(; i<n; i++) s[0] += a[i];
  return s[0]+s[1]+s[2]+s[3]+s[4]+s[5]+s[6]+s[7];
}

#if defined(__x86_64__)
__attribute__((target("avx2")))
static float sumAvx2(const float *a, size_t n){
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  float t[8], r = 0;
  size_t i = 0;
  int j;
  for(; i+32<=n; i+=32){
    s0 = _mm256_add_ps(s0, _mm256_loadu_ps(a+i));
    s1 = _mm256_add_ps(s1, _mm256_loadu_ps(a+i+8));
    s2 = _mm256_add_ps(s2, _mm256_loadu_ps(a+i+16));
    s3 = _mm256_add_ps(s3, _mm256_loadu_ps(a+i+24));
  }
  _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(s0, s1),
                                    _mm256_add_ps(s2, s3)));
  for(; i<n; i++) r += a[i];
  for(j=0; j<8; j++) r += t[j];
  return r;
}
#endif

static float sumFloats(const float *a, size_t n){
#if defined(__x86_64__)
  if( __builtin_cpu_supports("avx2") ) return sumAvx2(a, n);
#endif
  return sumScalar(a, n);
}

typedef struct ReadJob ReadJob;
struct ReadJob { const float *a; size_t n; float r; };

static void *readJob(void *p){
  ReadJob *j = p;
  j->r = sumFloats(j->a, j->n);
  return 0;
}

static volatile float fSink;

/* Seconds for one read of n floats split over nThread threads. */
static double plainRead(const float *a, size_t n, int nThread){
  ReadJob aJob[64];
  pthread_t aTid[64];
  double t0 = benchNow();
  int i;
  for(i=0; i<nThread; i++){
    aJob[i].a = a + n*i/nThread;
    aJob[i].n = n*(i+1)/nThread - n*i/nThread;
    if( i>0 ) pthread_create(&aTid[i], 0, readJob, &aJob[i]);
  }
  readJob(&aJob[0]);
  for(i=1; i<nThread; i++) pthread_join(aTid[i], 0);
  t0 = benchNow()-t0;
  for(i=0; i<nThread; i++) fSink += aJob[i].r;
  return t0;
}

/* Map the side file of veles-<nDim>.db read-only: its slots (after the
** 4096-byte header) are the same bytes in the page cache that a search
** reads. Returns 0 when not found. */
static const float *mapSideFile(const char *zDir, int nDim, size_t nFloat){
  char zPrefix[64], zPath[1024];
  DIR *d = opendir(zDir);
  struct dirent *e;
  const float *a = 0;
  snprintf(zPrefix, sizeof(zPrefix), "veles-%d.db-vectors-", nDim);
  while( d && (e = readdir(d))!=0 ){
    if( strncmp(e->d_name, zPrefix, strlen(zPrefix))==0 ){
      int fd;
      void *p;
      snprintf(zPath, sizeof(zPath), "%s/%s", zDir, e->d_name);
      fd = open(zPath, O_RDONLY);
      p = mmap(0, 4096+nFloat*4, PROT_READ, MAP_SHARED, fd, 0);
      close(fd);
      if( p!=MAP_FAILED ) a = (const float*)((char*)p+4096);
      break;
    }
  }
  if( d ) closedir(d);
  return a;
}

/* ---- queries ------------------------------------------------------------ */

/* Run nQuery queries; the ids of query q go to aIds[q*K..]. */
static double runQueries(sqlite3 *db, sqlite3_stmt *p, const float *aQuery,
                         int nDim, int nQuery, long long *aIds){
  double t0 = benchNow();
  int q;
  for(q=0; q<nQuery; q++){
    int i = 0, rc;
    sqlite3_bind_blob(p, 1, &aQuery[(size_t)q*nDim], nDim*4, SQLITE_STATIC);
    sqlite3_bind_int(p, 2, K);
    while( (rc = sqlite3_step(p))==SQLITE_ROW ){
      if( i<K && aIds ) aIds[q*K+i] = sqlite3_column_int64(p, 0);
      i++;
    }
    benchCheck(db, rc, "query");
    sqlite3_reset(p);
  }
  return benchNow()-t0;
}

static void setThreads(sqlite3 *db, int n){
  char zSql[64];
  snprintf(zSql, sizeof(zSql), "SELECT veles_threads(%d)", n);
  benchExec(db, zSql);
}

static int intOf(sqlite3 *db, const char *zSql){
  sqlite3_stmt *p;
  int r = -1;
  benchCheck(db, sqlite3_prepare_v2(db, zSql, -1, &p, 0), zSql);
  if( sqlite3_step(p)==SQLITE_ROW ) r = sqlite3_column_int(p, 0);
  sqlite3_finalize(p);
  return r;
}

static void runDim(const char *zDir, int nDim, int bVec0){
  size_t nFloat = (size_t)N*nDim;
  float *aData = malloc(sizeof(float)*nFloat);
  float *aQuery = malloc(sizeof(float)*(size_t)NQUERY*nDim);
  long long *aIdVeles = malloc(sizeof(long long)*NQUERY*K);
  long long *aIdVec0 = malloc(sizeof(long long)*NQUERY*K);
  double bytes = (double)nFloat*4;
  double tVeles = 1e99, tVeles1 = 1e99, tVec0 = 1e99, tPlain = 1e99;
  double tRead1 = 1e99, tReadT = 1e99;
  const float *aMapped;
  sqlite3 *dbV, *dbS = 0, *dbP;
  sqlite3_stmt *pV, *pS = 0, *pP;
  char zFile[512], zSql[256];
  int nThread, nAuto, r, i, nSame = 0;
  size_t j;

  for(j=0; j<nFloat; j++) aData[j] = rndf();
  for(j=0; j<(size_t)NQUERY*nDim; j++) aQuery[j] = rndf();

  /* the three databases, same rows */
  snprintf(zFile, sizeof(zFile), "%s/veles-%d.db", zDir, nDim);
  dbV = openDb(zFile, 1, 0);
  snprintf(zSql, sizeof(zSql), "CREATE VIRTUAL TABLE v USING vectors(dim=%d)",
           nDim);
  benchExec(dbV, zSql);
  insertAll(dbV, "INSERT INTO v(id, vec) VALUES (?, ?)", aData, nDim);
  if( bVec0 ){
    snprintf(zFile, sizeof(zFile), "%s/vec0-%d.db", zDir, nDim);
    dbS = openDb(zFile, 0, 1);
    snprintf(zSql, sizeof(zSql), "CREATE VIRTUAL TABLE v USING "
             "vec0(embedding float[%d])", nDim);
    benchExec(dbS, zSql);
    insertAll(dbS, "INSERT INTO v(rowid, embedding) VALUES (?, ?)", aData,
              nDim);
    benchCheck(dbS, sqlite3_prepare_v2(dbS, "SELECT rowid, distance FROM v WHERE "
          "embedding MATCH ?1 AND k = ?2", -1, &pS, 0), "vec0 query");
  }
  snprintf(zFile, sizeof(zFile), "%s/plain-%d.db", zDir, nDim);
  dbP = openDb(zFile, 1, 0);
  benchExec(dbP, "CREATE TABLE t(id INTEGER PRIMARY KEY, vec BLOB)");
  insertAll(dbP, "INSERT INTO t(id, vec) VALUES (?, ?)", aData, nDim);
  benchCheck(dbV, sqlite3_prepare_v2(dbV, "SELECT id, distance FROM v WHERE "
        "vec MATCH ?1 AND k = ?2", -1, &pV, 0), "veles query");
  benchCheck(dbP, sqlite3_prepare_v2(dbP, "SELECT id, veles_distance(vec, ?1) AS d "
        "FROM t ORDER BY d LIMIT ?2", -1, &pP, 0), "plain query");

  aMapped = mapSideFile(zDir, nDim, nFloat);
  if( aMapped==0 ){
    fprintf(stderr, "cannot map the side file of veles-%d.db\n", nDim);
    exit(1);
  }
  setThreads(dbV, 0);
  nAuto = intOf(dbV, "SELECT veles_threads()");
  nThread = 2;              /* the second veles side: veles_threads(2) */

  for(r=0; r<NROUND; r++){
    double t;
    setThreads(dbV, nThread);
    t = runQueries(dbV, pV, aQuery, nDim, NQUERY, aIdVeles);
    if( t<tVeles ) tVeles = t;
    if( bVec0 ){
      t = runQueries(dbS, pS, aQuery, nDim, NQUERY, aIdVec0);
      if( t<tVec0 ) tVec0 = t;
    }
    setThreads(dbV, 1);
    t = runQueries(dbV, pV, aQuery, nDim, NQUERY, 0);
    if( t<tVeles1 ) tVeles1 = t;
    t = runQueries(dbP, pP, aQuery, nDim, NPLAIN, 0);
    if( t<tPlain ) tPlain = t;
    /* the heap copy and the mapped file: the faster counts */
    for(i=0; i<10; i++){
      const float *a = (i&1) ? aMapped : aData;
      t = plainRead(a, nFloat, 1);
      if( t<tRead1 ) tRead1 = t;
      t = plainRead(a, nFloat, nThread);
      if( t<tReadT ) tReadT = t;
    }
  }
  setThreads(dbV, 0);
  if( bVec0 ){
    for(i=0; i<NQUERY*K; i++) nSame += aIdVeles[i]==aIdVec0[i];
  }

  printf("\n%d x %d (%.1f MB of vectors), k=%d, %d queries (plain table: %d), "
         "best of %d rounds, kernel %s\n", N, nDim, bytes/1e6, K, NQUERY,
         NPLAIN, NROUND, zKernel);
  printf("  %-34s %10s %12s\n", "side", "queries/s", "scan GB/s");
  printf("  %-34s %10.1f %12.2f\n", "veles MATCH, veles_threads(1)",
         NQUERY/tVeles1, bytes*NQUERY/tVeles1/1e9);
  printf("  %-34s %10.1f %12.2f\n", "veles MATCH, veles_threads(2)",
         NQUERY/tVeles, bytes*NQUERY/tVeles/1e9);
  if( bVec0 ){
    printf("  %-34s %10.1f %12.2f\n", "sqlite-vec 0.1.9 vec0",
           NQUERY/tVec0, bytes*NQUERY/tVec0/1e9);
  }else{
    printf("  %-34s %10s\n", "sqlite-vec 0.1.9 vec0", "(not loaded)");
  }
  printf("  %-34s %10.2f %12.2f\n", "plain table + veles_distance",
         NPLAIN/tPlain, bytes*NPLAIN/tPlain/1e9);
  printf("  %-34s %10s %12.2f\n", "plain read (sum), 1 thread", "",
         bytes/tRead1/1e9);
  printf("  %-34s %10s %12.2f\n", "plain read (sum), 2 threads", "",
         bytes/tReadT/1e9);
  printf("  default veles_threads() here: %d\n", nAuto);
  if( bVec0 ){
    printf("  veles / sqlite-vec queries/s:          %6.2f  (2 threads: %.2f)\n",
           tVec0/tVeles1, tVec0/tVeles);
    printf("  top-%d ids equal to sqlite-vec's:      %d of %d\n", K, nSame,
           NQUERY*K);
  }
  printf("  veles / plain table queries/s:         %6.1f\n",
         (NQUERY/tVeles1)/(NPLAIN/tPlain));
  printf("  scan rate / plain read, 1 thread:      %6.2f  (2 threads: %.2f)\n",
         tRead1/tVeles1*NQUERY, tReadT/tVeles*NQUERY);
  /* machine-readable lines for scripts/bench.sh and its chart */
  if( bVec0 ){
    printf("ratio\tsearch %dx%d k=%d\tqueries/s vs sqlite-vec\t%.3f\t3\n",
           N, nDim, K, tVec0/tVeles1);
  }
  printf("ratio\tsearch %dx%d k=%d\tqueries/s vs plain table\t%.3f\t0\n",
         N, nDim, K, (NQUERY/tVeles1)/(NPLAIN/tPlain));
  printf("ratio\tsearch %dx%d k=%d\tscan rate / plain read\t%.3f\t0.7\n",
         N, nDim, K, tRead1/tVeles1*NQUERY);
  fflush(stdout);

  munmap((char*)aMapped-4096, 4096+nFloat*4);
  sqlite3_finalize(pV);
  sqlite3_finalize(pS);
  sqlite3_finalize(pP);
  sqlite3_close(dbV);
  if( dbS ) sqlite3_close(dbS);
  sqlite3_close(dbP);
  free(aData);
  free(aQuery);
  free(aIdVeles);
  free(aIdVec0);
}

/* Find vec0.so, installing it with scripts/bench-search-deps.sh if need be. */
static int findVec0(const char *zArg){
  char *zDup, zCmd[2048], *zSrc;
  sqlite3 *db;
  char *zErr = 0;
  int rc;
  if( zArg ){
    zVec0 = strdup(zArg);
  }else{
    zDup = strdup(zModule);
    zVec0 = malloc(strlen(zDup)+128);
    sprintf(zVec0, "%s/bench-deps/node_modules/sqlite-vec-linux-x64/vec0.so",
            dirname(zDup));
    if( access(zVec0, R_OK)!=0 ){
      zSrc = strdup(__FILE__);
      snprintf(zCmd, sizeof(zCmd), "'%s/../scripts/bench-search-deps.sh' '%s'"
               " >/dev/null", dirname(zSrc), dirname(strdup(zModule)));
      printf("installing sqlite-vec: %s\n", zCmd);
      if( system(zCmd)!=0 ) printf("  (failed)\n");
      free(zSrc);
    }
    free(zDup);
  }
  if( access(zVec0, R_OK)!=0 ){
    printf("sqlite-vec: no %s; its side is skipped\n", zVec0);
    return 0;
  }
  sqlite3_open(":memory:", &db);
  rc = benchLoad(db, zVec0, &zErr);
  if( rc ){
    printf("sqlite-vec: %s does not load into SQLite %s: %s; its side is "
           "skipped\n", zVec0, sqlite3_libversion(), zErr);
  }else{
    sqlite3_stmt *p;
    sqlite3_prepare_v2(db, "SELECT vec_version()", -1, &p, 0);
    if( sqlite3_step(p)==SQLITE_ROW ){
      printf("sqlite-vec %s from %s\n", sqlite3_column_text(p, 0), zVec0);
    }
    sqlite3_finalize(p);
  }
  sqlite3_free(zErr);
  sqlite3_close(db);
  return rc==SQLITE_OK;
}

int main(int argc, char **argv){
  sqlite3 *db;
  char *zErr = 0;
  int bVec0;
  if( argc<3 ){
    fprintf(stderr, "usage: %s MODULE DIR [N] [ROUNDS] [NQUERY] [NPLAIN] "
            "[VEC0]\n", argv[0]);
    return 2;
  }
  zModule = benchModule(argv[1]);
  if( argc>3 ) N = atoi(argv[3]);
  if( argc>4 ) NROUND = atoi(argv[4]);
  if( argc>5 ) NQUERY = atoi(argv[5]);
  if( argc>6 ) NPLAIN = atoi(argv[6]);
  bVec0 = findVec0(argc>7 ? argv[7] : 0);
  sqlite3_open(":memory:", &db);
  if( benchLoad(db, zModule, &zErr)==SQLITE_OK ){
    sqlite3_stmt *p;
    sqlite3_prepare_v2(db, "SELECT veles_version(), veles_kernel(), "
                       "veles_threads()", -1, &p, 0);
    if( sqlite3_step(p)==SQLITE_ROW ){
      snprintf(zKernel, sizeof(zKernel), "%s", sqlite3_column_text(p, 1));
      printf("veles %s, kernel %s, veles_threads() %s, SQLite %s\n",
             sqlite3_column_text(p, 0), sqlite3_column_text(p, 1),
             sqlite3_column_text(p, 2), sqlite3_libversion());
    }
    sqlite3_finalize(p);
  }
  sqlite3_close(db);
  runDim(argv[2], 128, bVec0);
  runDim(argv[2], 768, bVec0);
  return 0;
}
