/*
** Benchmark of the batch distance kernel (vsDistanceBatch), the loop a
** scan of a side file runs: one query against every row of a dense
** row-major f32 matrix.
**
**   build-dir/bench_kernels [nRow [msPerCase]]     (defaults 100000, 400)
**
** For dimensions 128 and 768 it reports, for each kernel this CPU runs
** and for both L2 squared and dot product, the bytes of matrix scanned
** per second and the ratio to a plain read of the same bytes (a SIMD sum
** of all the floats, with the widest instruction set available: the
** speed of memory for one core). Also shown: the same scan done with one
** pair-kernel call per row, to show what the batch kernel saves, and all
** of it again over the first 256 KB of the matrix, which stays in cache:
** there the kernels' arithmetic, not memory, sets the pace (what a scan
** split over several threads would see once memory is no longer the
** limit of one core).
**
** Each figure is the best of repeated passes over the matrix (at least 5,
** and for at least msPerCase milliseconds), to see through the noise of
** a shared machine; the passes of each kernel alternate with passes of
** the plain read, and the ratio compares the two. The matrices (51 MB and 307 MB at 100000 rows) are
** larger than the caches of most machines, so this measures memory
** bandwidth, not cache. distance.c is compiled in, so kernels can be
** switched with vsDistanceSetKernel().
*/
#include "../ext/distance.c"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void){
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9*(double)t.tv_nsec;
}

static volatile float fSink;   /* keeps results alive */

/* ---- the plain read ---------------------------------------------------- */

static float sumScalar(const float *a, size_t n){
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  int j;
  for(; i+8<=n; i+=8) for(j=0; j<8; j++) s[j] += a[i+j];
  for(; i<n; i++) s[0] += a[i];
  return s[0]+s[1]+s[2]+s[3]+s[4]+s[5]+s[6]+s[7];
}

#ifdef VS_X86
VS_AVX2 static float sumAvx2(const float *a, size_t n){
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  float t = 0;
  size_t i = 0;
  for(; i+32<=n; i+=32){
    s0 = _mm256_add_ps(s0, _mm256_loadu_ps(a+i));
    s1 = _mm256_add_ps(s1, _mm256_loadu_ps(a+i+8));
    s2 = _mm256_add_ps(s2, _mm256_loadu_ps(a+i+16));
    s3 = _mm256_add_ps(s3, _mm256_loadu_ps(a+i+24));
  }
  for(; i<n; i++) t += a[i];
  return hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)))
       + t;
}
VS_AVX512 static float sumAvx512(const float *a, size_t n){
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  float t = 0;
  size_t i = 0;
  for(; i+64<=n; i+=64){
    s0 = _mm512_add_ps(s0, _mm512_loadu_ps(a+i));
    s1 = _mm512_add_ps(s1, _mm512_loadu_ps(a+i+16));
    s2 = _mm512_add_ps(s2, _mm512_loadu_ps(a+i+32));
    s3 = _mm512_add_ps(s3, _mm512_loadu_ps(a+i+48));
  }
  for(; i<n; i++) t += a[i];
  return hsum256(fold512(_mm512_add_ps(_mm512_add_ps(s0, s1),
                                       _mm512_add_ps(s2, s3)))) + t;
}
#endif

/* (The SIMD sums end with their own scalar loop, not a call: a call
** made with the upper halves of the vector registers dirty would slow
** the SSE code that runs after it.) */

/* Sum of n floats with the widest instructions there are; *pzHow names them. */
static float sumFloats(const float *a, size_t n, const char **pzHow){
#ifdef VS_X86
  if( avx512Supported() ){ *pzHow = "avx512"; return sumAvx512(a, n); }
  if( avx2Supported() ){ *pzHow = "avx2"; return sumAvx2(a, n); }
#endif
  *pzHow = "scalar";
  return sumScalar(a, n);
}

/* ---- timing ------------------------------------------------------------ */

/* What to time: 0 plain read, 1 batch kernel, 2 one pair call per row. */
typedef struct Job Job;
struct Job {
  int eWhat;
  int eKind;              /* VS_BATCH_L2SQUARED or VS_BATCH_DOT */
  const float *q, *m;
  i64 nRow;
  int n;
  float *aOut;
  const char *zHow;       /* set by the plain read */
};

static void runOnce(Job *p){
  if( p->eWhat==0 ){
    fSink = sumFloats(p->m, (size_t)p->nRow*(size_t)p->n, &p->zHow);
  }else if( p->eWhat==1 ){
    vsDistanceBatch(p->eKind, p->q, p->m, p->nRow, p->n, p->aOut);
    fSink = p->aOut[p->nRow-1];
  }else{
    i64 r;
    for(r=0; r<p->nRow; r++){
      p->aOut[r] = p->eKind==VS_BATCH_DOT
          ? vsDistanceDotProduct(p->q, p->m + r*p->n, p->n)
          : vsDistanceL2Squared(p->q, p->m + r*p->n, p->n);
    }
    fSink = p->aOut[p->nRow-1];
  }
}

/*
** Best seconds per pass of job p and of the plain read pRead, their
** passes alternating (at least 5 each, for at least msMin): the two
** figures see the same moments of a noisy machine.
*/
static void timeJobs(Job *p, Job *pRead, double msMin,
                     double *pBest, double *pBestRead){
  double t0 = now();
  int nPass = 0;
  *pBest = *pBestRead = 1e30;
  runOnce(p);   /* warm up */
  while( nPass<5 || (now()-t0)*1e3 < msMin ){
    double t = now(), dt;
    runOnce(p);
    dt = now() - t;
    if( dt<*pBest ) *pBest = dt;
    t = now();
    runOnce(pRead);
    dt = now() - t;
    if( dt<*pBestRead ) *pBestRead = dt;
    nPass++;
  }
}

int main(int argc, char **argv){
  static const int aDim[] = { 128, 768 };
  static const char *azKernel[] = { "scalar", "avx2", "avx512", "neon" };
  i64 nRow = argc>1 ? atoll(argv[1]) : 100000;
  double msMin = argc>2 ? atof(argv[2]) : 400;
  int d;
  unsigned int seed = 1;
  if( nRow<1 ) nRow = 1;
  printf("veles kernel benchmark: %lld rows, best of >= 5 passes and "
         ">= %.0f ms per case\n", (long long)nRow, msMin);
  printf("default kernel on this CPU: %s\n", vsDistanceKernelName());
  for(d=0; d<(int)(sizeof(aDim)/sizeof(aDim[0])); d++){
    int n = aDim[d], k, e, h;
    size_t nFloat = (size_t)nRow*(size_t)n, i;
    float *m = malloc(nFloat*sizeof(float));
    float *q = malloc((size_t)n*sizeof(float));
    float *aOut = malloc((size_t)nRow*sizeof(float));
    Job job, read;
    if( m==0 || q==0 || aOut==0 ){
      fprintf(stderr, "out of memory\n");
      return 1;
    }
    for(i=0; i<nFloat; i++){
      seed = seed*1103515245u + 12345u;
      m[i] = (float)((seed>>8) & 0xffff)/65536.0f - 0.5f;
    }
    for(i=0; i<(size_t)n; i++) q[i] = m[i*7 % nFloat];
    memset(&job, 0, sizeof(job));
    job.q = q; job.m = m; job.n = n; job.aOut = aOut;
    read = job;
    read.eWhat = 0;

    for(h=0; h<2; h++){
      /* h==0: the whole matrix, from memory; h==1: its first 256 KB,
      ** from cache, where arithmetic, not memory, sets the pace */
      i64 nScan = h ? (256*1024)/(i64)(n*sizeof(float)) : nRow;
      double nScanByte;
      if( nScan>nRow ) nScan = nRow;
      nScanByte = (double)nScan*n*sizeof(float);
      job.nRow = read.nRow = nScan;
      runOnce(&read);
      printf("\n%lld x %d (%.2f MB, %s); plain read = %s sum\n",
             (long long)nScan, n, nScanByte/1e6,
             h ? "in cache" : "from memory", read.zHow);
      for(k=0; k<(int)(sizeof(azKernel)/sizeof(azKernel[0])); k++){
        if( vsDistanceSetKernel(azKernel[k]) ) continue;
        for(e=0; e<3; e++){
          char zLabel[64];
          double t, tRead;
          job.eWhat = e<2 ? 1 : 2;
          job.eKind = e==1 ? VS_BATCH_DOT : VS_BATCH_L2SQUARED;
          timeJobs(&job, &read, msMin, &t, &tRead);
          snprintf(zLabel, sizeof(zLabel), "%s %s", vsDistanceKernelName(),
                   e==0 ? "batch l2sq" : e==1 ? "batch dot" : "pair/row l2sq");
          printf("  %-24s %7.2f GB/s  %6.1f M rows/s   plain read %7.2f GB/s"
                 "   ratio %.2f\n", zLabel, nScanByte/t/1e9,
                 (double)nScan/t/1e6, nScanByte/tRead/1e9, tRead/t);
        }
      }
    }
    vsDistanceSetKernel("auto");
    free(m);
    free(q);
    free(aOut);
  }
  return 0;
}
