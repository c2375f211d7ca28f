/*
** Benchmark: the approximate searches -- the quantized scan (rescore = R,
** ext/quant.c) and the IVF index (probe = P, ext/ivf.c) -- against the
** exact scan of the same table, on vectors with exact ground truth made
** by ../shared/data/make_vectors.py (scripts/bench-approx.sh makes them):
**
**   bench_approx MODULE DIR BASE.fvecs QUERY.fvecs GT.ivecs METRIC [ROUNDS]
**                [SQLITE_VECTOR|-] [VECTORLITE]
**
** Loads BASE into CREATE VIRTUAL TABLE v USING vectors(dim=D, metric=M),
** then for every query file row runs
**   SELECT id FROM v WHERE vec MATCH ?1 AND k = 10
**                          [AND probe = P] [AND rescore = R]
** for the exact scan and the settings of aSide (default veles_threads()).
** Prints queries per second, recall@10 against the ground truth and the
** speed-up over the exact scan, each the best of ROUNDS (3) passes, the
** sides alternating. The first pass of the first rescore side also makes
** the codes, and that of the first probe side builds the index: their
** times are printed apart as the cost of building them. Last, 'optimize'
** (the index built and stored) is timed, and a new connection's first
** probe search, which loads the stored index.
**
** SQLITE_VECTOR, sqliteai's sqlite-vector (npm
** @sqliteai/sqlite-vector-linux-x86_64, vector.so): the same data in a
** plain table t(id INTEGER PRIMARY KEY, v BLOB), vector_init() with the
** metric, vector_quantize() and vector_quantize_preload() (timed as its
** build), then SELECT rowid FROM vector_quantize_scan('t', 'v', ?1, 10),
** its recommended search, in the same rounds.
**
** VECTORLITE (npm vectorlite, vectorlite.so: HNSW by hnswlib, not
** transactional): the same data in CREATE VIRTUAL TABLE x USING
** vectorlite(v float32[D] METRIC, hnsw(max_elements=N)) with its default
** graph settings (its insert time printed as its build), then
** SELECT rowid FROM x WHERE knn_search(v, knn_param(?1, 10, EF)) for
** EF = 10 .. 320, in the same rounds.
*/
#include "benchutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define K 10
/* probe, rescore; then {-1, 0}: sqlite-vector, {-2, EF}: vectorlite, each
** when given */
static const int aSide[][2] = {
  {0, 0}, {0, 2}, {0, 8}, {4, 0}, {8, 0}, {16, 0}, {32, 0}, {8, 4},
  {16, 4}, {32, 4}, {64, 4}, {-1, 0},
  {-2, 10}, {-2, 20}, {-2, 40}, {-2, 80}, {-2, 160}, {-2, 320}
};
#define NSIDE ((int)(sizeof(aSide)/sizeof(aSide[0])))

/* Read an fvecs/ivecs file: *pnRow rows of *pnDim 4-byte values. */
static void *readVecs(const char *zPath, int *pnRow, int *pnDim){
  FILE *f = fopen(zPath, "rb");
  long nByte;
  int nDim = 0, nRow, i;
  unsigned char *aIn, *aOut;
  if( f==0 ){ fprintf(stderr, "cannot open %s\n", zPath); exit(2); }
  fseek(f, 0, SEEK_END);
  nByte = ftell(f);
  fseek(f, 0, SEEK_SET);
  if( fread(&nDim, 4, 1, f)!=1 || nDim<=0 ){ exit(2); }
  fseek(f, 0, SEEK_SET);
  nRow = (int)(nByte/(4*(nDim+1)));
  aIn = malloc((size_t)nByte);
  aOut = malloc((size_t)nRow*nDim*4);
  if( aIn==0 || aOut==0 || fread(aIn, 1, (size_t)nByte, f)!=(size_t)nByte ){
    exit(2);
  }
  fclose(f);
  for(i=0; i<nRow; i++){
    memcpy(aOut + (size_t)i*nDim*4, aIn + (size_t)i*(nDim+1)*4 + 4,
           (size_t)nDim*4);
  }
  free(aIn);
  *pnRow = nRow;
  *pnDim = nDim;
  return aOut;
}

int main(int argc, char **argv){
  const char *zModule;
  float *aBase, *aQuery;
  int *aGt;
  int nBase, nDim, nQuery, nQDim, nGt, nK, nRound = 3, r, s, q, i;
  double aBest[NSIDE], aRecall[NSIDE], rCodes = 0, rIndex = 0;
  sqlite3 *db, *pPeer = 0, *pLite = 0;
  sqlite3_stmt *pIns, *apSearch[NSIDE];
  char zSql[200];
  double rPeerBuild = 0, rLiteBuild = 0;
  int nSide = NSIDE;
  if( argc<7 ){
    fprintf(stderr, "usage: %s MODULE DIR BASE QUERY GT METRIC [ROUNDS]\n",
            argv[0]);
    return 2;
  }
  zModule = benchModule(argv[1]);
  aBase = readVecs(argv[3], &nBase, &nDim);
  aQuery = readVecs(argv[4], &nQuery, &nQDim);
  aGt = readVecs(argv[5], &nGt, &nK);
  if( argc>7 ) nRound = atoi(argv[7]);
  if( nQDim!=nDim || nGt!=nQuery || nK<K ){
    fprintf(stderr, "query, ground truth and base do not match\n");
    return 2;
  }
  if( chdir(argv[2]) ) return 2;
  db = benchOpen("quant.db", zModule);
  snprintf(zSql, sizeof(zSql), "CREATE VIRTUAL TABLE v USING vectors(dim=%d, "
           "metric=%s)", nDim, argv[6]);
  benchExec(db, zSql);
  benchCheck(db, sqlite3_prepare_v2(db, "INSERT INTO v(id, vec) VALUES (?, ?)",
                                    -1, &pIns, 0), "insert");
  benchExec(db, "BEGIN");
  for(i=0; i<nBase; i++){
    sqlite3_bind_int(pIns, 1, i);              /* id = position in BASE */
    sqlite3_bind_blob(pIns, 2, aBase + (size_t)i*nDim, nDim*4, SQLITE_STATIC);
    benchCheck(db, sqlite3_step(pIns), "insert");
    sqlite3_reset(pIns);
  }
  benchExec(db, "COMMIT");
  sqlite3_finalize(pIns);
  if( argc>8 && strcmp(argv[8], "-")!=0 ){
    /* the peer: sqlite-vector over a plain table */
    double t0;
    pPeer = benchOpen("peer.db", 0);
    benchMustLoad(pPeer, argv[8]);
    benchExec(pPeer, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
    benchCheck(pPeer, sqlite3_prepare_v2(pPeer, "INSERT INTO t VALUES (?, ?)",
                                         -1, &pIns, 0), "peer insert");
    benchExec(pPeer, "BEGIN");
    for(i=0; i<nBase; i++){
      sqlite3_bind_int(pIns, 1, i);
      sqlite3_bind_blob(pIns, 2, aBase + (size_t)i*nDim, nDim*4,
                        SQLITE_STATIC);
      benchCheck(pPeer, sqlite3_step(pIns), "peer insert");
      sqlite3_reset(pIns);
    }
    benchExec(pPeer, "COMMIT");
    sqlite3_finalize(pIns);
    snprintf(zSql, sizeof(zSql), "SELECT vector_init('t', 'v', "
             "'type=FLOAT32,dimension=%d,distance=%s')", nDim,
             strcmp(argv[6], "cosine")==0 ? "COSINE" :
             strcmp(argv[6], "dot")==0 ? "DOT" : "L2");
    benchExec(pPeer, zSql);
    t0 = benchNow();
    benchExec(pPeer, "SELECT vector_quantize('t', 'v')");
    benchExec(pPeer, "SELECT vector_quantize_preload('t', 'v')");
    rPeerBuild = benchNow()-t0;
  }
  if( argc>9 ){
    /* the peer: vectorlite's HNSW */
    double t0 = benchNow();
    pLite = benchOpen("lite.db", 0);
    benchMustLoad(pLite, argv[9]);
    snprintf(zSql, sizeof(zSql), "CREATE VIRTUAL TABLE x USING vectorlite("
             "v float32[%d] %s, hnsw(max_elements=%d))", nDim,
             strcmp(argv[6], "cosine")==0 ? "cosine" :
             strcmp(argv[6], "dot")==0 ? "ip" : "l2", nBase);
    benchExec(pLite, zSql);
    benchCheck(pLite, sqlite3_prepare_v2(pLite, "INSERT INTO x(rowid, v) "
                                         "VALUES (?, ?)", -1, &pIns, 0),
               "vectorlite insert");
    benchExec(pLite, "BEGIN");
    for(i=0; i<nBase; i++){
      sqlite3_bind_int(pIns, 1, i);
      sqlite3_bind_blob(pIns, 2, aBase + (size_t)i*nDim, nDim*4,
                        SQLITE_STATIC);
      benchCheck(pLite, sqlite3_step(pIns), "vectorlite insert");
      sqlite3_reset(pIns);
    }
    benchExec(pLite, "COMMIT");
    sqlite3_finalize(pIns);
    rLiteBuild = benchNow()-t0;
  }
  for(s=0; s<nSide; s++){
    apSearch[s] = 0;
    aBest[s] = 1e9;
    if( (aSide[s][0]==-1 && pPeer==0) || (aSide[s][0]==-2 && pLite==0) ){
      continue;                               /* a peer not given */
    }
    if( aSide[s][0]==-2 ){
      snprintf(zSql, sizeof(zSql), "SELECT rowid FROM x WHERE knn_search(v, "
               "knn_param(?1, %d, %d))", K, aSide[s][1]);
      benchCheck(pLite, sqlite3_prepare_v2(pLite, zSql, -1, &apSearch[s], 0),
                 zSql);
      continue;
    }
    if( aSide[s][0]<0 ){
      snprintf(zSql, sizeof(zSql), "SELECT rowid FROM vector_quantize_scan("
               "'t', 'v', ?1, %d)", K);
      benchCheck(pPeer, sqlite3_prepare_v2(pPeer, zSql, -1, &apSearch[s], 0),
                 zSql);
      aBest[s] = 1e9;
      continue;
    }
    snprintf(zSql, sizeof(zSql), "SELECT id FROM v WHERE vec MATCH ?1 AND "
             "k = %d AND probe = %d AND rescore = %d", K, aSide[s][0],
             aSide[s][1]);
    benchCheck(db, sqlite3_prepare_v2(db, zSql, -1, &apSearch[s], 0), zSql);
    aBest[s] = 1e9;
  }
  for(r=0; r<nRound; r++){
    for(s=0; s<nSide; s++){
      double t0 = benchNow(), t;
      int nHit = 0;
      if( apSearch[s]==0 ) continue;
      for(q=0; q<nQuery; q++){
        sqlite3_stmt *p = apSearch[s];
        int n = 0;
        sqlite3_bind_blob(p, 1, aQuery + (size_t)q*nDim, nDim*4,
                          SQLITE_STATIC);
        while( sqlite3_step(p)==SQLITE_ROW && n<K ){
          int id = sqlite3_column_int(p, 0), j;
          for(j=0; j<K; j++) if( aGt[(size_t)q*nK+j]==id ) nHit++;
          n++;
        }
        sqlite3_reset(p);
      }
      t = benchNow()-t0;
      /* the first pass of the first side of each kind builds */
      if( r==0 && s==1 ) rCodes = t;
      if( r==0 && s==3 ) rIndex = t;
      if( t<aBest[s] ) aBest[s] = t;
      aRecall[s] = (double)nHit/((double)nQuery*K);
    }
  }
  printf("approximate search: %d x %d %s, %d queries, k=%d, SQLite %s, best "
         "of %d rounds\n", nBase, nDim, argv[6], nQuery, K,
         sqlite3_libversion(), nRound);
  printf("  %-26s %12s %10s %12s\n", "side", "queries/s", "recall@10",
         "vs exact");
  for(s=0; s<nSide; s++){
    char zName[32];
    if( apSearch[s]==0 ) continue;
    if( aSide[s][0]==-2 ){
      snprintf(zName, sizeof(zName), "vectorlite ef = %d", aSide[s][1]);
    }else if( aSide[s][0]<0 ) snprintf(zName, sizeof(zName), "sqlite-vector");
    else if( aSide[s][0] && aSide[s][1] ){
      snprintf(zName, sizeof(zName), "probe = %d, rescore = %d", aSide[s][0],
               aSide[s][1]);
    }else if( aSide[s][0] ){
      snprintf(zName, sizeof(zName), "probe = %d", aSide[s][0]);
    }else if( aSide[s][1] ){
      snprintf(zName, sizeof(zName), "rescore = %d", aSide[s][1]);
    }else snprintf(zName, sizeof(zName), "exact scan");
    printf("  %-26s %12.1f %10.4f %11.2fx\n", zName, nQuery/aBest[s],
           aRecall[s], aBest[0]/aBest[s]);
  }
  printf("  first quantized pass (makes the codes): %.3f s, best %.3f s\n",
         rCodes, aBest[1]);
  printf("  first probe pass (builds the index): %.3f s, best %.3f s: "
         "%.0f rows/s\n", rIndex, aBest[3], nBase/(rIndex-aBest[3]));
  if( pPeer ){
    printf("  sqlite-vector's build (vector_quantize + preload): %.3f s\n",
           rPeerBuild);
  }
  if( pLite ){
    printf("  vectorlite's build (its inserts, one transaction): %.3f s, "
           "%.0f rows/s\n", rLiteBuild, nBase/rLiteBuild);
  }
  for(s=0; s<nSide; s++) sqlite3_finalize(apSearch[s]);
  {
    /* 'optimize' stores the index; a new connection's first probe search
    ** loads it instead of building it */
    sqlite3 *db2;
    sqlite3_stmt *pOne = 0;
    double t0 = benchNow(), rOptimize, rLoad;
    sqlite3_int64 nStored;
    benchExec(db, "INSERT INTO v(v) VALUES('optimize')");
    rOptimize = benchNow()-t0;
    benchCheck(db, sqlite3_prepare_v2(db, "SELECT length(v) FROM v_ivf", -1,
                                      &pOne, 0), "stored");
    nStored = sqlite3_step(pOne)==SQLITE_ROW ? sqlite3_column_int64(pOne, 0)
                                             : 0;
    sqlite3_finalize(pOne);
    pOne = 0;
    if( sqlite3_open("quant.db", &db2)!=SQLITE_OK ) return 1;
    benchMustLoad(db2, zModule);
    snprintf(zSql, sizeof(zSql), "SELECT id FROM v WHERE vec MATCH ?1 AND "
             "k = %d AND probe = 8", K);
    benchCheck(db2, sqlite3_prepare_v2(db2, zSql, -1, &pOne, 0), "search");
    sqlite3_bind_blob(pOne, 1, aQuery, nDim*4, SQLITE_STATIC);
    t0 = benchNow();
    while( sqlite3_step(pOne)==SQLITE_ROW ){}
    rLoad = benchNow()-t0;
    sqlite3_finalize(pOne);
    printf("  'optimize' (build and store): %.3f s, %.0f rows/s, %lld bytes "
           "stored (%.3f of the f32 data); a new connection's first probe "
           "search (loads it): %.3f s\n", rOptimize, nBase/rOptimize,
           (long long)nStored, nStored/(4.0*nDim*nBase), rLoad);
    sqlite3_close(db2);
  }
  sqlite3_close(db);
  benchRemoveDb("quant.db");
  if( pPeer ){
    sqlite3_close(pPeer);
    benchRemoveDb("peer.db");
  }
  if( pLite ){
    sqlite3_close(pLite);
    benchRemoveDb("lite.db");
  }
  return 0;
}
