/*
** Distance kernels: squared Euclidean distance and dot product over f32
** vectors, one pair at a time or one query against a dense matrix of
** rows (the scan of a side file), plus the metric distances built on
** them. No SQL here; see distance.h for the interface.
**
** HOW IT WORKS
**
** Kernels. Each instruction set has a set of four functions (pair L2
** squared, pair dot, batch L2 squared, batch dot):
**   avx512    AVX-512F, 16 floats per register   (x86-64)
**   avx2+fma  AVX2 with FMA, 8 floats per register (x86-64)
**   neon      Advanced SIMD, 4 floats per register (arm64 builds)
**   scalar    portable C, any CPU
** The x86 kernels are compiled with __attribute__((target(...))) in
** this file, not with global -m flags, so the module loads on any x86-64
** and only runs an instruction set the CPU reports. The scalar kernel is
** written with eight independent sums so that the compiler may vectorise
** it with the baseline instruction set; it is correct either way.
**
** Choice. At first use the best kernel the CPU supports
** (__builtin_cpu_supports, which also checks that the OS saves the
** wider registers) is stored in an atomic pointer; concurrent first uses
** compute the same answer and the first store wins. The environment
** variable VELES_KERNEL=scalar|avx2|avx512|neon|auto, read at that first
** use, forces a kernel for tests and benchmarks; a name that is unknown
** or that this CPU cannot run is ignored (the best kernel is used, and
** vsDistanceKernelName() / veles_kernel() say which).
**
** Loops. Pair kernels keep four vector accumulators (independent chains
** hide the FMA latency), then one register at a time, then the last
** n % width floats with a masked load (AVX2/AVX-512) or a scalar loop
** (NEON), so any n works and nothing is read past the end. Batch kernels
** read the matrix strictly front to back, one row after the other (the
** query stays in L1), and reduce the lanes of four rows together with
** one shuffle sequence. Walking four rows side by side instead (one query
** load serving four rows) was measured 2-2.5x slower on AMD EPYC: four
** interleaved streams defeat the hardware prefetcher, and a scan is
** limited by memory, not by arithmetic.
**
** Precision. Sums are f32, which is what a scan wants. The metric
** function vsDistance() checks each f32 sum: when it is not finite
** (overflow beyond FLT_MAX, or +Inf meeting -Inf) or smaller than 1e-30
** (so that products may have lost bits below FLT_MIN, or it is exactly
** zero), it recomputes that sum in double. The answer is then right to
** f32 rounding for any finite f32 input, at no cost for ordinary data.
*/
#include "distance.h"
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
# define VS_X86 1
# include <immintrin.h>
#endif
#if defined(__aarch64__)
# define VS_NEON 1
# include <arm_neon.h>
#endif

typedef float (*VsPairFn)(const float*, const float*, int);
typedef void (*VsBatchFn)(const float*, const float*, i64, int, float*);

/* ---- scalar ----------------------------------------------------------- */

/* (The tail goes to its own sum t: indexing s[] with a variable would
** keep s[] in memory, and reading it back costs more than the loop.) */
static float l2Scalar(const float *a, const float *b, int n){
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float t = 0;
  int i = 0, j;
  for(; i+8<=n; i+=8){
    for(j=0; j<8; j++){
      float d = a[i+j] - b[i+j];
      s[j] += d*d;
    }
  }
  for(; i<n; i++){
    float d = a[i] - b[i];
    t += d*d;
  }
  return (((s[0]+s[1]) + (s[2]+s[3])) + ((s[4]+s[5]) + (s[6]+s[7]))) + t;
}

static float dotScalar(const float *a, const float *b, int n){
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float t = 0;
  int i = 0, j;
  for(; i+8<=n; i+=8){
    for(j=0; j<8; j++) s[j] += a[i+j]*b[i+j];
  }
  for(; i<n; i++) t += a[i]*b[i];
  return (((s[0]+s[1]) + (s[2]+s[3])) + ((s[4]+s[5]) + (s[6]+s[7]))) + t;
}

static void batchL2Scalar(const float *q, const float *m, i64 nRow, int n,
                          float *aOut){
  i64 r;
  for(r=0; r<nRow; r++) aOut[r] = l2Scalar(q, m + r*n, n);
}

static void batchDotScalar(const float *q, const float *m, i64 nRow, int n,
                           float *aOut){
  i64 r;
  for(r=0; r<nRow; r++) aOut[r] = dotScalar(q, m + r*n, n);
}

static int scalarSupported(void){ return 1; }

/* ---- x86: AVX2+FMA and AVX-512F --------------------------------------- */
#ifdef VS_X86

#define VS_AVX2   __attribute__((target("avx2,fma")))
#define VS_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define VS_INLINE inline __attribute__((always_inline))

/* aTailMask[8-k .. 15-k] has k leading -1 words: a maskload of k floats */
static const int32_t aTailMask[16] = {
  -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0
};

static int avx2Supported(void){
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int avx512Supported(void){
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && avx2Supported();
}

/* acc + (x-y)^2 or acc + x*y, lane by lane */
VS_AVX2 static VS_INLINE __m256 step256(int bDot, __m256 acc,
                                        __m256 x, __m256 y){
  if( bDot ) return _mm256_fmadd_ps(x, y, acc);
  x = _mm256_sub_ps(x, y);
  return _mm256_fmadd_ps(x, x, acc);
}

VS_AVX2 static VS_INLINE float hsum256(__m256 v){
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v),
                        _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

/* Sums of the lanes of a, b, c and d, as four floats. */
VS_AVX2 static VS_INLINE __m128 hsum256x4(__m256 a, __m256 b,
                                          __m256 c, __m256 d){
  __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/* The lanes of sum (a-b)^2 or sum a*b over n floats, not yet added. */
VS_AVX2 static VS_INLINE __m256 rowAvx2(int bDot, const float *a,
                                        const float *b, int n){
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int i = 0;
  for(; i+32<=n; i+=32){
    s0 = step256(bDot, s0, _mm256_loadu_ps(a+i),    _mm256_loadu_ps(b+i));
    s1 = step256(bDot, s1, _mm256_loadu_ps(a+i+8),  _mm256_loadu_ps(b+i+8));
    s2 = step256(bDot, s2, _mm256_loadu_ps(a+i+16), _mm256_loadu_ps(b+i+16));
    s3 = step256(bDot, s3, _mm256_loadu_ps(a+i+24), _mm256_loadu_ps(b+i+24));
  }
  for(; i+8<=n; i+=8){
    s0 = step256(bDot, s0, _mm256_loadu_ps(a+i), _mm256_loadu_ps(b+i));
  }
  if( i<n ){
    __m256i m = _mm256_loadu_si256((const __m256i*)&aTailMask[8-(n-i)]);
    s1 = step256(bDot, s1, _mm256_maskload_ps(a+i, m),
                 _mm256_maskload_ps(b+i, m));
  }
  return _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
}

VS_AVX2 static VS_INLINE void batchAvx2(int bDot, const float *q,
                                        const float *m, i64 nRow, int n,
                                        float *aOut){
  i64 r = 0;
  for(; r+4<=nRow; r+=4){
    const float *x = m + r*n;
    __m256 s0 = rowAvx2(bDot, x, q, n);
    __m256 s1 = rowAvx2(bDot, x+n, q, n);
    __m256 s2 = rowAvx2(bDot, x+2*n, q, n);
    __m256 s3 = rowAvx2(bDot, x+3*n, q, n);
    _mm_storeu_ps(aOut+r, hsum256x4(s0, s1, s2, s3));
  }
  for(; r<nRow; r++) aOut[r] = hsum256(rowAvx2(bDot, m + r*n, q, n));
}

VS_AVX2 static float l2Avx2(const float *a, const float *b, int n){
  return hsum256(rowAvx2(0, a, b, n));
}
VS_AVX2 static float dotAvx2(const float *a, const float *b, int n){
  return hsum256(rowAvx2(1, a, b, n));
}
VS_AVX2 static void batchL2Avx2(const float *q, const float *m, i64 nRow,
                                int n, float *aOut){
  batchAvx2(0, q, m, nRow, n, aOut);
}
VS_AVX2 static void batchDotAvx2(const float *q, const float *m, i64 nRow,
                                 int n, float *aOut){
  batchAvx2(1, q, m, nRow, n, aOut);
}

VS_AVX512 static VS_INLINE __m512 step512(int bDot, __m512 acc,
                                          __m512 x, __m512 y){
  if( bDot ) return _mm512_fmadd_ps(x, y, acc);
  x = _mm512_sub_ps(x, y);
  return _mm512_fmadd_ps(x, x, acc);
}

/* The upper and lower halves of v added: 16 lanes -> 8 lanes. */
VS_AVX512 static VS_INLINE __m256 fold512(__m512 v){
  __m256 lo = _mm512_castps512_ps256(v);
  __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  return _mm256_add_ps(lo, hi);
}

/* The lanes of sum (a-b)^2 or sum a*b over n floats, not yet added. */
VS_AVX512 static VS_INLINE __m512 rowAvx512(int bDot, const float *a,
                                            const float *b, int n){
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int i = 0;
  for(; i+64<=n; i+=64){
    s0 = step512(bDot, s0, _mm512_loadu_ps(a+i),    _mm512_loadu_ps(b+i));
    s1 = step512(bDot, s1, _mm512_loadu_ps(a+i+16), _mm512_loadu_ps(b+i+16));
    s2 = step512(bDot, s2, _mm512_loadu_ps(a+i+32), _mm512_loadu_ps(b+i+32));
    s3 = step512(bDot, s3, _mm512_loadu_ps(a+i+48), _mm512_loadu_ps(b+i+48));
  }
  for(; i+16<=n; i+=16){
    s0 = step512(bDot, s0, _mm512_loadu_ps(a+i), _mm512_loadu_ps(b+i));
  }
  if( i<n ){
    __mmask16 k = (__mmask16)((1u<<(n-i)) - 1);
    s1 = step512(bDot, s1, _mm512_maskz_loadu_ps(k, a+i),
                 _mm512_maskz_loadu_ps(k, b+i));
  }
  return _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3));
}

VS_AVX512 static VS_INLINE void batchAvx512(int bDot, const float *q,
                                            const float *m, i64 nRow, int n,
                                            float *aOut){
  i64 r = 0;
  for(; r+4<=nRow; r+=4){
    const float *x = m + r*n;
    __m512 s0 = rowAvx512(bDot, x, q, n);
    __m512 s1 = rowAvx512(bDot, x+n, q, n);
    __m512 s2 = rowAvx512(bDot, x+2*n, q, n);
    __m512 s3 = rowAvx512(bDot, x+3*n, q, n);
    _mm_storeu_ps(aOut+r, hsum256x4(fold512(s0), fold512(s1),
                                    fold512(s2), fold512(s3)));
  }
  for(; r<nRow; r++){
    aOut[r] = hsum256(fold512(rowAvx512(bDot, m + r*n, q, n)));
  }
}

VS_AVX512 static float l2Avx512(const float *a, const float *b, int n){
  return hsum256(fold512(rowAvx512(0, a, b, n)));
}
VS_AVX512 static float dotAvx512(const float *a, const float *b, int n){
  return hsum256(fold512(rowAvx512(1, a, b, n)));
}
VS_AVX512 static void batchL2Avx512(const float *q, const float *m, i64 nRow,
                                    int n, float *aOut){
  batchAvx512(0, q, m, nRow, n, aOut);
}
VS_AVX512 static void batchDotAvx512(const float *q, const float *m,
                                     i64 nRow, int n, float *aOut){
  batchAvx512(1, q, m, nRow, n, aOut);
}

#endif /* VS_X86 */

/* ---- arm64: NEON ------------------------------------------------------ */
#ifdef VS_NEON

static inline float32x4_t stepNeon(int bDot, float32x4_t acc,
                                   float32x4_t x, float32x4_t y){
  if( bDot ) return vfmaq_f32(acc, x, y);
  x = vsubq_f32(x, y);
  return vfmaq_f32(acc, x, x);
}

static inline float pairNeon(int bDot, const float *a, const float *b, int n){
  float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
  float t = 0;
  int i = 0;
  for(; i+16<=n; i+=16){
    s0 = stepNeon(bDot, s0, vld1q_f32(a+i),    vld1q_f32(b+i));
    s1 = stepNeon(bDot, s1, vld1q_f32(a+i+4),  vld1q_f32(b+i+4));
    s2 = stepNeon(bDot, s2, vld1q_f32(a+i+8),  vld1q_f32(b+i+8));
    s3 = stepNeon(bDot, s3, vld1q_f32(a+i+12), vld1q_f32(b+i+12));
  }
  for(; i+4<=n; i+=4){
    s0 = stepNeon(bDot, s0, vld1q_f32(a+i), vld1q_f32(b+i));
  }
  for(; i<n; i++){
    if( bDot ){
      t += a[i]*b[i];
    }else{
      float d = a[i] - b[i];
      t += d*d;
    }
  }
  return vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3))) + t;
}

static float l2Neon(const float *a, const float *b, int n){
  return pairNeon(0, a, b, n);
}
static float dotNeon(const float *a, const float *b, int n){
  return pairNeon(1, a, b, n);
}
static void batchL2Neon(const float *q, const float *m, i64 nRow, int n,
                        float *aOut){
  i64 r;
  for(r=0; r<nRow; r++) aOut[r] = pairNeon(0, m + r*n, q, n);
}
static void batchDotNeon(const float *q, const float *m, i64 nRow, int n,
                         float *aOut){
  i64 r;
  for(r=0; r<nRow; r++) aOut[r] = pairNeon(1, m + r*n, q, n);
}
static int neonSupported(void){ return 1; }

#endif /* VS_NEON */

/* ---- dispatch --------------------------------------------------------- */

typedef struct VsKernel VsKernel;
struct VsKernel {
  const char *zName;          /* as vsDistanceKernelName() reports it */
  const char *zShort;         /* other name accepted by VELES_KERNEL */
  int (*xSupported)(void);    /* true if this CPU runs it */
  VsPairFn xL2;               /* pair: sum (a-b)^2 */
  VsPairFn xDot;              /* pair: sum a*b */
  VsBatchFn xBatchL2;         /* rows: sum (q-x)^2 */
  VsBatchFn xBatchDot;        /* rows: sum q*x */
};

/* Best first: the first supported entry is the default. */
static const VsKernel aKernel[] = {
#ifdef VS_X86
  { "avx512", "avx512f", avx512Supported,
    l2Avx512, dotAvx512, batchL2Avx512, batchDotAvx512 },
  { "avx2+fma", "avx2", avx2Supported,
    l2Avx2, dotAvx2, batchL2Avx2, batchDotAvx2 },
#endif
#ifdef VS_NEON
  { "neon", "neon", neonSupported,
    l2Neon, dotNeon, batchL2Neon, batchDotNeon },
#endif
  { "scalar", "scalar", scalarSupported,
    l2Scalar, dotScalar, batchL2Scalar, batchDotScalar },
};
#define VS_NKERNEL ((int)(sizeof(aKernel)/sizeof(aKernel[0])))

/* The kernel in use; 0 until the first call chooses. */
static const VsKernel *pCurrent = 0;

/* ASCII case-insensitive equality. */
static int nameEqual(const char *a, const char *b){
  for(;; a++, b++){
    char x = *a, y = *b;
    if( x>='A' && x<='Z' ) x += 'a' - 'A';
    if( y>='A' && y<='Z' ) y += 'a' - 'A';
    if( x!=y ) return 0;
    if( x==0 ) return 1;
  }
}

static const VsKernel *kernelBest(void){
  int i;
  for(i=0; i<VS_NKERNEL-1; i++){
    if( aKernel[i].xSupported() ) return &aKernel[i];
  }
  return &aKernel[VS_NKERNEL-1];
}

/* The kernel called zName if this CPU runs it, else 0. */
static const VsKernel *kernelNamed(const char *zName){
  int i;
  if( zName==0 || zName[0]==0 || nameEqual(zName, "auto") ){
    return kernelBest();
  }
  for(i=0; i<VS_NKERNEL; i++){
    if( (nameEqual(zName, aKernel[i].zName)
         || nameEqual(zName, aKernel[i].zShort))
     && aKernel[i].xSupported() ){
      return &aKernel[i];
    }
  }
  return 0;
}

static const VsKernel *kernel(void){
  const VsKernel *p = __atomic_load_n(&pCurrent, __ATOMIC_ACQUIRE);
  if( p==0 ){
    const VsKernel *pExpect = 0;
    p = kernelNamed(getenv("VELES_KERNEL"));
    if( p==0 ) p = kernelBest();
    if( !__atomic_compare_exchange_n(&pCurrent, &pExpect, p, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ){
      p = pExpect;   /* another thread chose first */
    }
  }
  return p;
}

int vsDistanceSetKernel(const char *zName){
  const VsKernel *p = kernelNamed(zName);
  if( p==0 ) return -1;
  __atomic_store_n(&pCurrent, p, __ATOMIC_RELEASE);
  return 0;
}

const char *vsDistanceKernelName(void){
  return kernel()->zName;
}

/* ---- public kernels --------------------------------------------------- */

float vsDistanceL2Squared(const float *a, const float *b, int n){
  return kernel()->xL2(a, b, n);
}

float vsDistanceDotProduct(const float *a, const float *b, int n){
  return kernel()->xDot(a, b, n);
}

void vsDistanceBatch(int eKind, const float *q, const float *aMatrix,
                     i64 nRow, int n, float *aOut){
  const VsKernel *p = kernel();
  if( nRow<=0 ) return;
  if( eKind==VS_BATCH_DOT ){
    p->xBatchDot(q, aMatrix, nRow, n, aOut);
  }else{
    p->xBatchL2(q, aMatrix, nRow, n, aOut);
  }
}

/* ---- metrics ---------------------------------------------------------- */

int vsDistanceMetric(const char *zName){
  if( zName==0 ) return -1;
  if( nameEqual(zName, "l2") ) return VS_METRIC_L2;
  if( nameEqual(zName, "cosine") ) return VS_METRIC_COSINE;
  if( nameEqual(zName, "dot") ) return VS_METRIC_DOT;
  return -1;
}

const char *vsDistanceMetricName(int eMetric){
  switch( eMetric ){
    case VS_METRIC_L2:     return "l2";
    case VS_METRIC_COSINE: return "cosine";
    case VS_METRIC_DOT:    return "dot";
  }
  return "unknown";
}

/* True when an f32 sum can be trusted (see "Precision" above). */
static int sumIsSound(float r){
  return isfinite(r) && fabsf(r)>=1e-30f;
}

static double l2SquaredDouble(const float *a, const float *b, int n){
  double s = 0;
  int i;
  for(i=0; i<n; i++){
    double d = (double)a[i] - (double)b[i];
    s += d*d;
  }
  return s;
}

static double dotDouble(const float *a, const float *b, int n){
  double s = 0;
  int i;
  for(i=0; i<n; i++) s += (double)a[i]*(double)b[i];
  return s;
}

/* sum (a-b)^2, or a.b, as f32 when sound, else in double. */
static double sumL2(const VsKernel *p, const float *a, const float *b, int n){
  float r = p->xL2(a, b, n);
  return sumIsSound(r) ? (double)r : l2SquaredDouble(a, b, n);
}
static double sumDot(const VsKernel *p, const float *a, const float *b, int n){
  float r = p->xDot(a, b, n);
  return sumIsSound(r) ? (double)r : dotDouble(a, b, n);
}

double vsDistance(int eMetric, const float *a, const float *b, int n){
  const VsKernel *p = kernel();
  switch( eMetric ){
    case VS_METRIC_L2:
      return sqrt(sumL2(p, a, b, n));
    case VS_METRIC_DOT: {
      double r = sumDot(p, a, b, n);
      return r==0.0 ? 0.0 : -r;
    }
    case VS_METRIC_COSINE: {
      double aa = sumDot(p, a, a, n);
      double bb = sumDot(p, b, b, n);
      double c;
      if( aa==0.0 || bb==0.0 ) return 1.0;
      /* aa*bb cannot overflow or underflow a double (each is at most
      ** 65536*FLT_MAX^2 and at least the square of the smallest f32),
      ** and sqrt of the product keeps a vector's distance to itself 0 */
      c = sumDot(p, a, b, n) / sqrt(aa*bb);
      if( c>1.0 ) c = 1.0;
      if( c<-1.0 ) c = -1.0;
      return 1.0 - c;
    }
  }
  return NAN;
}

float vsDistanceNorm(const float *a, int n){
  return (float)sqrt(sumDot(kernel(), a, a, n));
}
