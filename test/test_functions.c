/*
** Tests for the veles_* SQL functions and the distance kernels behind
** them (ext/functions.c, ext/distance.c).
**
** Cases 1-7 run through SQL in this process with the kernel chosen
** automatically. Case 8 runs once per kernel this CPU supports, each in
** a child process started before anything here chose a kernel, with
** VELES_KERNEL set: distances through SQL and the kernels called
** directly (distance.c is compiled into this program for that) are
** compared with a plain double-precision reference on random data of
** every dimension 1..300, on vectors that end at an unmapped page (no
** read past the end; also the int8 code kernel of quant.c), and on
** adversarial data (zeros, huge and tiny
** magnitudes, cancellation).
*/
#include "testutil.h"
#include "veles.h"
#include "../ext/distance.c"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ----------------------------------------------------------- */

static unsigned long long iRand = 0x9e3779b97f4a7c15ULL;

/* xorshift64*: deterministic, so a failure can be replayed */
static unsigned long long randU64(void){
  iRand ^= iRand >> 12;
  iRand ^= iRand << 25;
  iRand ^= iRand >> 27;
  return iRand * 2685821657736338717ULL;
}
/* uniform in [-1, 1) */
static double randUnit(void){
  return (double)(randU64()>>11) / 4503599627370496.0 - 1.0;
}

/* Fill a with n values: 0 uniform in [-1,1), 1 in [0,1), 2 spread over
** magnitudes 1e-3..1e3 with random signs. */
static void randVector(float *a, int n, int eKind){
  int i;
  for(i=0; i<n; i++){
    double x = randUnit();
    if( eKind==1 ) x = fabs(x);
    if( eKind==2 ) x = (x<0 ? -1 : 1) * pow(10.0, 3.0*randUnit());
    a[i] = (float)x;
  }
}

static double refL2Squared(const float *a, const float *b, int n){
  double s = 0;
  int i;
  for(i=0; i<n; i++){
    double d = (double)a[i] - (double)b[i];
    s += d*d;
  }
  return s;
}
static double refDot(const float *a, const float *b, int n){
  double s = 0;
  int i;
  for(i=0; i<n; i++) s += (double)a[i]*(double)b[i];
  return s;
}
/* sum |a_i b_i|: the scale that the rounding error of a.b is relative to */
static double refAbsDot(const float *a, const float *b, int n){
  double s = 0;
  int i;
  for(i=0; i<n; i++) s += fabs((double)a[i]*(double)b[i]);
  return s;
}
static double refCosine(const float *a, const float *b, int n){
  double aa = refDot(a, a, n), bb = refDot(b, b, n), c;
  if( aa==0 || bb==0 ) return 1.0;
  c = refDot(a, b, n)/(sqrt(aa)*sqrt(bb));
  if( c>1 ) c = 1;
  if( c<-1 ) c = -1;
  return 1.0 - c;
}
/* the metric distance of vsDistance(), in double */
static double refDistance(int eMetric, const float *a, const float *b, int n){
  switch( eMetric ){
    case VS_METRIC_L2:     return sqrt(refL2Squared(a, b, n));
    case VS_METRIC_COSINE: return refCosine(a, b, n);
    default:               return -refDot(a, b, n);
  }
}

/* Relative tolerance of an f32 sum of at most a few hundred terms. */
#define TOL 2e-5

/* Is got close enough to the reference for metric eMetric? */
static int closeEnough(int eMetric, double got, const float *a,
                       const float *b, int n){
  double ref = refDistance(eMetric, a, b, n);
  switch( eMetric ){
    case VS_METRIC_L2:
      return fabs(got-ref) <= TOL*ref;
    case VS_METRIC_COSINE:
      return fabs(got-ref) <= TOL && got>=0.0 && got<=2.0;
    default:
      return fabs(got-ref) <= TOL*refAbsDot(a, b, n);
  }
}

/* n floats placed so that the last one ends where an unmapped page
** begins: a read past the end faults. Free with guardFree(). */
static float *guardAlloc(int n, void **ppMap, size_t *pnMap){
  long nPage = sysconf(_SC_PAGESIZE);
  size_t nByte = sizeof(float)*(size_t)n;
  size_t nData = (nByte + (size_t)nPage - 1) / (size_t)nPage * (size_t)nPage;
  char *p = mmap(0, nData + (size_t)nPage, PROT_READ|PROT_WRITE,
                 MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
  if( p==MAP_FAILED ){
    perror("mmap");
    exit(2);
  }
  mprotect(p + nData, (size_t)nPage, PROT_NONE);
  *ppMap = p;
  *pnMap = nData + (size_t)nPage;
  return (float*)(p + nData - nByte);
}
static void guardFree(void *pMap, size_t nMap){ munmap(pMap, nMap); }

/* ---- 8: one kernel, in a child process --------------------------------- */

/* 8.1: distances through SQL on random data, dims 1..300 */
static void testRandomSql(sqlite3 *db){
  sqlite3_stmt *pStmt = 0;
  float a[300], b[300];
  int n, k, nBad = 0;
  char zMsg[200] = "";
  sqlite3_prepare_v2(db, "SELECT veles_distance(?1, ?2), "
      "veles_distance(?1, ?2, 'cosine'), veles_distance(?1, ?2, 'dot')",
      -1, &pStmt, 0);
  for(n=1; n<=300; n++){
    for(k=0; k<3; k++){
      int e;
      randVector(a, n, k);
      randVector(b, n, k);
      sqlite3_bind_blob(pStmt, 1, a, (int)sizeof(float)*n, SQLITE_STATIC);
      sqlite3_bind_blob(pStmt, 2, b, (int)sizeof(float)*n, SQLITE_STATIC);
      if( sqlite3_step(pStmt)!=SQLITE_ROW ){
        nBad++;
        snprintf(zMsg, sizeof(zMsg), "n=%d: %s", n, sqlite3_errmsg(db));
      }else{
        for(e=0; e<3; e++){
          double got = sqlite3_column_double(pStmt, e);
          if( !closeEnough(e, got, a, b, n) ){
            nBad++;
            snprintf(zMsg, sizeof(zMsg), "n=%d kind=%d metric=%s: got %.9g,"
                     " expected %.9g", n, k, vsDistanceMetricName(e), got,
                     refDistance(e, a, b, n));
          }
        }
      }
      sqlite3_reset(pStmt);
    }
  }
  sqlite3_finalize(pStmt);
  tCheck("8.1", nBad==0, zMsg);
}

/* 8.2: the pair and batch kernels called directly, with every vector
** ending at an unmapped page, unaligned rows, and row counts that reach
** the kernels' 8- and 16-row groups and their partial last group */
static void testKernelsDirect(void){
  int n, nBad = 0;
  char zMsg[200] = "";
  for(n=1; n<=300; n++){
    /* 1..11 rows (every remainder of 4), and for every third n 33..40
    ** rows, which reach the 8- and 16-row groups of the batch kernels */
    int nRow = (n%3)==0 ? 33 + n%8 : 1 + (n*7) % 11;
    void *pMapQ, *pMapM;
    size_t nMapQ, nMapM;
    float *q = guardAlloc(n, &pMapQ, &nMapQ);
    float *m = guardAlloc(n*nRow, &pMapM, &nMapM);
    float aOut[41];
    int r;
    randVector(q, n, n%3);
    randVector(m, n*nRow, n%3);
    aOut[nRow] = 12345.0f;
    vsDistanceBatch(VS_BATCH_L2SQUARED, q, m, nRow, n, aOut);
    for(r=0; r<nRow; r++){
      const float *x = m + (i64)r*n;
      double ref = refL2Squared(q, x, n);
      float pair = vsDistanceL2Squared(x, q, n);
      if( fabs(aOut[r]-ref) > TOL*ref || fabs(pair-ref) > TOL*ref ){
        nBad++;
        snprintf(zMsg, sizeof(zMsg), "l2 n=%d row %d: batch %.9g, pair %.9g,"
                 " expected %.9g", n, r, aOut[r], pair, ref);
      }
    }
    vsDistanceBatch(VS_BATCH_DOT, q, m, nRow, n, aOut);
    for(r=0; r<nRow; r++){
      const float *x = m + (i64)r*n;
      double ref = refDot(q, x, n), tol = TOL*refAbsDot(q, x, n);
      float pair = vsDistanceDotProduct(x, q, n);
      if( fabs(aOut[r]-ref) > tol || fabs(pair-ref) > tol ){
        nBad++;
        snprintf(zMsg, sizeof(zMsg), "dot n=%d row %d: batch %.9g, pair "
                 "%.9g, expected %.9g", n, r, aOut[r], pair, ref);
      }
    }
    if( aOut[nRow]!=12345.0f ){
      nBad++;
      snprintf(zMsg, sizeof(zMsg), "n=%d: wrote past aOut[%d]", n, nRow-1);
    }
    /* a row starting one float in: unaligned loads */
    if( nRow>1 ){
      vsDistanceBatch(VS_BATCH_L2SQUARED, q, m+1, 1, n, aOut);
      if( fabs(aOut[0]-refL2Squared(q, m+1, n)) > TOL*refL2Squared(q, m+1, n) ){
        nBad++;
        snprintf(zMsg, sizeof(zMsg), "n=%d: unaligned row", n);
      }
    }
    {
      /* rows of int8 codes (quant.c), the last ending at an unmapped page */
      int nF = (n*nRow+3)/4, i;
      void *pMapC;
      size_t nMapC;
      signed char *c = (signed char*)guardAlloc(nF, &pMapC, &nMapC)
                     + (size_t)nF*4 - (size_t)n*nRow;
      for(i=0; i<n*nRow; i++) c[i] = (signed char)((int)((randUnit()+1)*127) - 127);
      aOut[nRow] = 12345.0f;
      vsDistanceBatchDotI8(q, c, nRow, n, aOut);
      for(r=0; r<nRow; r++){
        double ref = 0, tol = 0;
        for(i=0; i<n; i++){
          ref += (double)q[i]*c[r*n+i];
          tol += fabs((double)q[i]*c[r*n+i]);
        }
        if( fabs(aOut[r]-ref) > TOL*tol ){
          nBad++;
          snprintf(zMsg, sizeof(zMsg), "int8 dot n=%d row %d: %.9g, "
                   "expected %.9g", n, r, aOut[r], ref);
        }
      }
      if( aOut[nRow]!=12345.0f ){
        nBad++;
        snprintf(zMsg, sizeof(zMsg), "int8 n=%d: wrote past aOut[%d]", n,
                 nRow-1);
      }
      {
        /* the same rows against int8 query codes, exact; the query ends
        ** at an unmapped page too */
        void *pMapU;
        size_t nMapU;
        int nQF = (n+3)/4;
        signed char *qi = (signed char*)guardAlloc(nQF, &pMapU, &nMapU)
                        + (size_t)nQF*4 - (size_t)n;
        int32_t aSum[65];
        for(i=0; i<n; i++) qi[i] = (signed char)((int)((randUnit()+1)*127) - 127);
        aSum[nRow] = 12345;
        vsDistanceBatchDotI8I8(qi, c, nRow, n, aSum);
        for(r=0; r<nRow; r++){
          int32_t ref = 0;
          for(i=0; i<n; i++) ref += (int32_t)qi[i]*c[r*n+i];
          if( aSum[r]!=ref ){
            nBad++;
            snprintf(zMsg, sizeof(zMsg), "int8 query dot n=%d row %d: %d, "
                     "expected %d", n, r, (int)aSum[r], (int)ref);
          }
        }
        if( aSum[nRow]!=12345 ){
          nBad++;
          snprintf(zMsg, sizeof(zMsg), "int8 query n=%d: wrote past "
                   "aOut[%d]", n, nRow-1);
        }
        guardFree(pMapU, nMapU);
      }
      guardFree(pMapC, nMapC);
    }
    {
      double ref = sqrt(refDot(q, q, n));
      if( fabs(vsDistanceNorm(q, n)-ref) > TOL*ref ){
        nBad++;
        snprintf(zMsg, sizeof(zMsg), "norm n=%d: got %.9g, expected %.9g",
                 n, vsDistanceNorm(q, n), ref);
      }
    }
    guardFree(pMapQ, nMapQ);
    guardFree(pMapM, nMapM);
  }
  vsDistanceBatch(VS_BATCH_DOT, 0, 0, 0, 4, 0);   /* nRow 0: touches nothing */
  tCheck("8.2", nBad==0, zMsg);
  tCheck("8.3", vsDistanceL2Squared(0, 0, 0)==0.0f
             && vsDistanceDotProduct(0, 0, 0)==0.0f, "n=0 is 0");
}

/* 8.4: vsDistance() on huge, tiny and mixed magnitudes, any length */
static void testMagnitudes(void){
  static const double aScale[] = { 1e-40, 1e-30, 1e-20, 1e-10, 1e10, 1e18,
                                   1e25, 1e30, 1e35 };
  float a[300], b[300];
  int n, s, e, nBad = 0;
  char zMsg[200] = "";
  for(s=0; s<(int)(sizeof(aScale)/sizeof(aScale[0])); s++){
    for(n=1; n<=300; n+=(n<20 ? 1 : 13)){
      int i;
      randVector(a, n, 0);
      randVector(b, n, 0);
      for(i=0; i<n; i++){
        a[i] = (float)(a[i]*aScale[s]);
        b[i] = (float)(b[i]*aScale[s]);
      }
      for(e=0; e<3; e++){
        double got = vsDistance(e, a, b, n), ref = refDistance(e, a, b, n);
        /* subnormal inputs carry few bits: compare with what they hold */
        if( !isfinite(got) || !closeEnough(e, got, a, b, n) ){
          nBad++;
          snprintf(zMsg, sizeof(zMsg), "scale %g n=%d metric=%s: got %.9g, "
                   "expected %.9g", aScale[s], n, vsDistanceMetricName(e),
                   got, ref);
        }
      }
    }
  }
  tCheck("8.4", nBad==0, zMsg);
}

/* 8.5..: adversarial values through SQL, exact answers */
static void testAdversarialSql(sqlite3 *db){
  /* zeros */
  tRows("8.5", db, "SELECT veles_distance('[0,0,0]', '[0,0,0]'), "
        "veles_distance('[0,0,0]', '[0,0,0]', 'cosine'), "
        "veles_distance('[0,0,0]', '[1,2,3]', 'cosine'), "
        "veles_distance('[0,0,0]', '[1,2,3]', 'dot')", "0.0|1.0|1.0|0.0");
  /* squares beyond FLT_MAX: the f32 sum overflows, the answer does not */
  tRows("8.6", db, "SELECT printf('%.6e', veles_distance('[3e38]', '[-3e38]')),"
        " printf('%.6e', veles_distance('[1e30,1e30]', '[-1e30,-1e30]')),"
        " printf('%.6e', veles_distance('[1e30,1e30]', '[2e30,3e30]', 'dot'))",
        "6.000000e+38|2.828427e+30|-5.000000e+60");
  /* +Inf meets -Inf in f32: the product is exactly 0 */
  tRows("8.7", db, "SELECT veles_distance('[1e30,1e30]', '[1e30,-1e30]', "
        "'dot'), veles_distance('[1e30,1e30]', '[1e30,-1e30]', 'cosine'), "
        "printf('%.9f', veles_distance('[1e30,1e30]', '[2e30,2e30]', 'cosine')), "
        "veles_distance('[1e30,1e30]', '[-2e30,-2e30]', 'cosine')",
        "0.0|1.0|0.000000000|2.0");
  /* squares below FLT_MIN */
  tRows("8.8", db, "SELECT printf('%.6e', veles_distance('[1e-30]', '[0]')),"
        " printf('%.6e', veles_distance('[1e-40,0]', '[0,0]')),"
        " veles_distance('[1e-30,1e-30]', '[1e-30,-1e-30]', 'cosine'),"
        " veles_distance('[1e-30,1e-30]', '[3e-30,3e-30]', 'cosine'),"
        " printf('%.6e', veles_distance('[1e-30,1e-30]', '[2e-30,3e-30]', 'dot'))",
        "1.000000e-30|9.999946e-41|1.0|0.0|-5.000000e-60");
  /* the largest vector: 65536 zeros */
  tRows("8.9", db, "SELECT veles_distance(zeroblob(262144), zeroblob(262144)),"
        " veles_distance(zeroblob(262144), zeroblob(262144), 'cosine')",
        "0.0|1.0");
}

/* Run case 8 for one kernel; the exit status says whether all passed. */
static int runKernel(const char *zEnv, const char *zExpect){
  sqlite3 *db;
  char *zName;
  setenv("VELES_KERNEL", zEnv, 1);
  printf("kernel %s (VELES_KERNEL=%s)\n", zExpect, zEnv);
  fflush(stdout);
  db = tOpen(":memory:");
  zName = sqlite3_mprintf("%s", zExpect);
  tRows("8.0", db, "SELECT veles_kernel()", zName);
  tCheck("8.0b", strcmp(vsDistanceKernelName(), zExpect)==0,
         "the compiled-in copy runs the same kernel");
  sqlite3_free(zName);
  testRandomSql(db);
  testKernelsDirect();
  testMagnitudes();
  testAdversarialSql(db);
  tClose(db);
  return tDone();
}

/* Fork a child that runs case 8 with VELES_KERNEL=zEnv; true if all
** its cases passed. */
static int forkKernel(const char *zEnv, const char *zExpect){
  int status = 0;
  pid_t pid;
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  if( pid<0 ){
    perror("fork");
    exit(2);
  }
  if( pid==0 ){
    int rc = runKernel(zEnv, zExpect);
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
  }
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status)==0;
}

/* Name of the best kernel, as auto-selection should report it. */
static const char *bestKernel(int *pbAvx2, int *pbAvx512){
  *pbAvx2 = *pbAvx512 = 0;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  *pbAvx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  *pbAvx512 = *pbAvx2 && __builtin_cpu_supports("avx512f");
  return *pbAvx512 ? "avx512" : *pbAvx2 ? "avx2+fma" : "scalar";
#elif defined(__aarch64__)
  return "neon";
#else
  return "scalar";
#endif
}

/* ---- main --------------------------------------------------------------- */

int main(int argc, char **argv){
  sqlite3 *db;
  int bAvx2, bAvx512;
  int b8[6] = {1, 1, 1, 1, 1, 1};
  const char *zBest;
  char *z;

  tInit(argc, argv);
  unsetenv("VELES_KERNEL");
  zBest = bestKernel(&bAvx2, &bAvx512);

  /* 8: every kernel, before this process chooses one; the children
  ** report their own cases, and their outcome is checked below */
  b8[0] = forkKernel("scalar", "scalar");
  b8[1] = !bAvx2 || forkKernel("avx2", "avx2+fma");
  b8[2] = !bAvx512 || forkKernel("AVX512", "avx512");
#if defined(__aarch64__)
  b8[3] = forkKernel("neon", "neon");
#endif
  /* unknown names, and kernels the CPU cannot run, fall back to the best */
  b8[4] = forkKernel("sse9", zBest);
  b8[5] = bAvx512 || forkKernel("avx512", zBest);
  printf("this process: kernel %s\n", zBest);

  db = tOpen(":memory:");

  /* 1: veles_vec */
  tRows("1.0", db, "SELECT hex(veles_vec('[1, -2, 0.5]'))",
        "0000803F000000C00000003F");
  tRows("1.1", db, "SELECT hex(veles_vec(x'0000803f000000c0')), "
        "typeof(veles_vec('[1]'))", "0000803F000000C0|blob");
  tRows("1.2", db, "SELECT veles_vec(NULL) IS NULL", "1");
  tRows("1.3", db, "SELECT veles_json(veles_vec(' [ 1e-3 ,2 ] '))",
        "[0.001,2.0]");
  tError("1.4", db, "SELECT veles_vec('[1, 2')",
         "veles_vec: malformed vector JSON at offset 5: expected ',' or ']', "
         "got end of text");
  tError("1.5", db, "SELECT veles_vec('[]')",
         "veles_vec: empty vector: expected at least 1 element, got []");
  tError("1.6", db, "SELECT veles_vec(x'0000803f00')",
         "veles_vec: vector blob length must be a positive multiple of 4 "
         "bytes (f32), got 5 bytes");
  tError("1.7", db, "SELECT veles_vec(x'0000c07f')",
         "veles_vec: vector element 0 is NaN: only finite numbers are stored");
  tError("1.8", db, "SELECT veles_vec(42)",
         "veles_vec: vector must be a blob of f32 or JSON text such as "
         "'[1, 2, 3]', got an integer");
  tError("1.9", db, "SELECT veles_vec('[1, \"a\"]')",
         "veles_vec: malformed vector JSON at offset 4: expected a number, "
         "got a string");
  tError("1.10", db, "SELECT veles_vec('[1e39]')",
         "veles_vec: vector element 0 out of f32 range: 1e39");
  tError("1.11", db, "SELECT veles_vec()",
         "wrong number of arguments to function veles_vec()");
  tError("1.12", db, "SELECT veles_vec(zeroblob(262148))",
         "veles_vec: vector too long: expected at most 65536 elements, "
         "got 65537");

  /* 2: veles_json */
  tRows("2.0", db, "SELECT veles_json(x'0000803f000000c00000003f')",
        "[1.0,-2.0,0.5]");
  tRows("2.1", db, "SELECT veles_json('[1,2.5,-3e-4]')",
        "[1.0,2.5,-0.0003]");
  tRows("2.2", db, "SELECT veles_json(veles_vec('[3.4028234e38, 1e-45]'))",
        "[3.4028235e+38,1.4013e-45]");
  /* what veles_json prints, veles_vec reads back: also the largest f32 */
  tRows("2.2a", db, "SELECT veles_vec(veles_json(veles_vec('[3.4028234e38, "
        "-3.4028234e38]'))) = veles_vec('[3.4028234e38, -3.4028234e38]')",
        "1");
  tRows("2.3", db, "SELECT veles_json(NULL) IS NULL, "
        "veles_vec(veles_json(x'cdcccc3d'))=x'cdcccc3d'", "1|1");
  tError("2.4", db, "SELECT veles_json(x'0000807f')",
         "veles_json: vector element 0 is +Inf: only finite numbers are "
         "stored");
  tError("2.5", db, "SELECT veles_json(1.5)",
         "veles_json: vector must be a blob of f32 or JSON text such as "
         "'[1, 2, 3]', got a real");

  /* 3: veles_dim */
  tRows("3.0", db, "SELECT veles_dim('[1,2,3]'), veles_dim(x'00000000'), "
        "veles_dim(zeroblob(262144)), veles_dim(NULL) IS NULL",
        "3|1|65536|1");
  tError("3.1", db, "SELECT veles_dim(x'')",
         "veles_dim: vector blob length must be a positive multiple of 4 "
         "bytes (f32), got 0 bytes");
  tError("3.2", db, "SELECT veles_dim('[null]')",
         "veles_dim: malformed vector JSON at offset 1: expected a number, "
         "got null");

  /* 4: veles_normalize */
  tRows("4.0", db, "SELECT veles_json(veles_normalize('[3,4]'))",
        "[0.6,0.8]");
  tRows("4.1", db, "SELECT veles_json(veles_normalize('[3e38,-3e38]')), "
        "veles_json(veles_normalize('[1e-45,0]')), "
        "veles_json(veles_normalize('[0,0,-7]'))",
        "[0.70710677,-0.70710677]|[1.0,0.0]|[0.0,0.0,-1.0]");
  tRows("4.3", db, "SELECT typeof(veles_normalize('[2]')), "
        "veles_normalize(NULL) IS NULL", "blob|1");
  tError("4.4", db, "SELECT veles_normalize('[0,0,0]')",
         "veles_normalize: cannot normalize a zero vector: got all "
         "elements 0");
  tError("4.5", db, "SELECT veles_normalize('[1,NaN]')",
         "veles_normalize: malformed vector JSON at offset 3: expected a "
         "number, got a non-finite number");
  /* the result has length 1, to f32 rounding */
  tRows("4.6", db, "SELECT abs(veles_distance(veles_normalize("
        "'[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]'), "
        "veles_vec(zeroblob(68))) - 1.0) < 1e-6", "1");

  /* 5: veles_distance */
  tRows("5.0", db, "SELECT veles_distance('[0,0]', '[3,4]'), "
        "veles_distance('[0,0]', '[3,4]', 'l2'), "
        "veles_distance('[1,2,3]', '[4,5,6]', 'dot'), "
        "veles_distance('[1,0]', '[0,1]', 'cosine')",
        "5.0|5.0|-32.0|1.0");
  tRows("5.1", db, "SELECT veles_distance('[1,2,3]', '[2,4,6]', 'COSINE'), "
        "veles_distance('[1,1]', '[-1,-1]', 'Cosine'), "
        "veles_distance(x'0000803f', '[1]', 'DOT'), "
        "veles_distance('[1,2]', '[1,2]')", "0.0|2.0|-1.0|0.0");
  tRows("5.15", db, "SELECT veles_distance('[1,2]', '[1,2]', 'cosine'), "
        "veles_distance('[0.1,0.7,-3]', '[0.1,0.7,-3]', 'cosine'), "
        "veles_distance('[0.1,0.7,-3]', '[0.2,1.4,-6]', 'cosine')",
        "0.0|0.0|0.0");
  tRows("5.2", db, "SELECT printf('%.7f', veles_distance('[1,2]', '[2,1]', "
        "'cosine')), printf('%.7f', veles_distance('[0.1]', '[0.3]'))",
        "0.2000000|0.2000000");
  tRows("5.3", db, "SELECT veles_distance(NULL, '[1]') IS NULL, "
        "veles_distance('[1]', NULL, 'dot') IS NULL, "
        "veles_distance(NULL, 'not json') IS NULL", "1|1|1");
  tError("5.4", db, "SELECT veles_distance('[1,2,3]', '[1,2,3,4]')",
         "veles_distance: dimension mismatch: expected 3, got 4");
  tError("5.5", db, "SELECT veles_distance('[1,2,3]', '[1,2,3]', 'foo')",
         "veles_distance: unknown metric: expected l2, cosine or dot, "
         "got 'foo'");
  tError("5.6", db, "SELECT veles_distance('[1]', '[1]', NULL)",
         "veles_distance: unknown metric: expected l2, cosine or dot, "
         "got NULL");
  tError("5.7", db, "SELECT veles_distance('[1]', '[1]', 2)",
         "veles_distance: unknown metric: expected l2, cosine or dot, "
         "got an integer");
  /* the metric is checked even when a vector is NULL */
  tError("5.8", db, "SELECT veles_distance(NULL, '[1]', 'euclid')",
         "veles_distance: unknown metric: expected l2, cosine or dot, "
         "got 'euclid'");
  tError("5.9", db, "SELECT veles_distance('[1,2]', 7)",
         "veles_distance: vector must be a blob of f32 or JSON text such as "
         "'[1, 2, 3]', got an integer");
  tError("5.10", db, "SELECT veles_distance('[1,2', '[1,2]')",
         "veles_distance: malformed vector JSON at offset 4: expected ',' "
         "or ']', got end of text");
  tError("5.11", db, "SELECT veles_distance('[1]', x'0000c0ff')",
         "veles_distance: vector element 0 is NaN: only finite numbers are "
         "stored");
  tError("5.12", db, "SELECT veles_distance('[1]')",
         "wrong number of arguments to function veles_distance()");
  tError("5.13", db, "SELECT veles_distance('[1]', '[1]', 'l2', 'l2')",
         "wrong number of arguments to function veles_distance()");
  tError("5.14", db, "SELECT veles_distance(x'0000803f', x'0000803f0000803f')",
         "veles_distance: dimension mismatch: expected 1, got 2");

  /* 6: veles_version, veles_kernel */
  z = sqlite3_mprintf("%s|text", VELES_VERSION);
  tRows("6.0", db, "SELECT veles_version(), typeof(veles_version())", z);
  sqlite3_free(z);
  z = sqlite3_mprintf("%s", zBest);
  tRows("6.1", db, "SELECT veles_kernel()", z);
  sqlite3_free(z);
  tError("6.2", db, "SELECT veles_version(1)",
         "wrong number of arguments to function veles_version()");

  /* 7: in tables, as a user would */
  tExec(db, "CREATE TABLE doc(id INTEGER PRIMARY KEY, v BLOB);"
        "INSERT INTO doc VALUES(1, veles_vec('[0,0]')), (2, veles_vec('[1,0]')),"
        " (3, veles_vec('[0,1]')), (4, veles_vec('[3,4]')), (5, NULL),"
        " (6, veles_vec('[-1,0]'));");
  /* ties (2, 3 and 6 are all at distance 1) broken by id */
  tRows("7.0", db, "SELECT id, veles_distance(v, '[0,0]') AS d FROM doc "
        "WHERE v IS NOT NULL ORDER BY d, id LIMIT 4",
        "1|0.0\n2|1.0\n3|1.0\n6|1.0");
  tRows("7.1", db, "SELECT id FROM doc WHERE v IS NOT NULL "
        "ORDER BY veles_distance(v, '[1,0.1]', 'cosine'), id",
        "2\n4\n3\n1\n6");
  tRows("7.2", db, "SELECT id FROM doc "
        "ORDER BY veles_distance(v, '[1,1]', 'dot'), id",
        "5\n4\n2\n3\n1\n6");
  /* deterministic: allowed in an index on an expression */
  tExec(db, "CREATE INDEX doc_dim ON doc(veles_dim(v))");
  tRows("7.3", db, "SELECT count(*) FROM doc WHERE veles_dim(v)=2", "5");
  /* innocuous: usable from the schema with trusted_schema off */
  tExec(db, "PRAGMA trusted_schema=OFF;"
        "CREATE VIEW near AS SELECT id, veles_distance(v, '[3,4]') AS d,"
        " veles_json(v) AS j FROM doc WHERE v IS NOT NULL");
  tRows("7.4", db, "SELECT id, d, j FROM near ORDER BY d, id LIMIT 2",
        "4|0.0|[3.0,4.0]\n3|4.24264068711928|[0.0,1.0]");
  tRows("7.5", db, "PRAGMA integrity_check", "ok");
  /* a constant argument is parsed once per statement; arguments that
  ** change from row to row are read on every row */
  tRows("7.6", db, "SELECT a.id, b.id, veles_distance(a.v, b.v), "
        "veles_distance(a.v, '[3,4]'), veles_distance('[0,1]', b.v, 'dot') "
        "FROM doc a JOIN doc b ON b.id = a.id + 1 "
        "WHERE a.v IS NOT NULL AND b.v IS NOT NULL ORDER BY a.id",
        "1|2|1.0|5.0|0.0\n2|3|1.4142135623731|4.47213595499958|-1.0\n"
        "3|4|4.24264068711928|4.24264068711928|-4.0");
  tExec(db, "CREATE TABLE mix(id INTEGER PRIMARY KEY, v);"
        "INSERT INTO mix VALUES (1, '[1,2]'), (2, '[1,2,3]')");
  tError("7.7", db, "SELECT veles_distance(v, '[0,0]') FROM mix ORDER BY id",
         "veles_distance: dimension mismatch: expected 3, got 2");
  tError("7.8", db, "SELECT veles_distance('[0,0]', v) FROM mix ORDER BY id",
         "veles_distance: dimension mismatch: expected 2, got 3");
  tRows("7.9", db, "SELECT id, veles_distance(v, veles_vec('[1,2]')) "
        "FROM mix WHERE id = 1", "1|0.0");

  tCheck("8.scalar", b8[0], "kernel scalar failed (see above)");
  tCheck("8.avx2", b8[1], "kernel avx2+fma failed (see above)");
  tCheck("8.avx512", b8[2], "kernel avx512 failed (see above)");
  tCheck("8.neon", b8[3], "kernel neon failed (see above)");
  tCheck("8.auto", b8[4] && b8[5], "kernel fallback failed (see above)");
  tClose(db);
  return tDone();
}
