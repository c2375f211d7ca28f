/*
** Distance kernels: squared Euclidean distance and dot product over f32
** vectors, one pair at a time or one query against a dense matrix of
** rows (the scan of a side file), plus the metric distances built on
** them. No SQL here; see distance.h for the interface.
**
** HOW IT WORKS
**
** Kernels. Each instruction set has a set of four functions (pair L2
** squared, pair dot, batch L2 squared, batch dot), and the batch dot of
** rows of int8 codes (quant.c), against the f32 query or, where AVX-512
** VNNI runs, against int8 codes of the query (vsDistanceBatchDotI8I8):
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
** (NEON), so any n works and nothing is read past the end.
**
** Batch kernels read the matrix strictly front to back, one row after
** the other. Walking four rows side by side instead (one query load
** serving four rows) was measured 2-2.5x slower on AMD EPYC: four
** interleaved streams defeat the hardware prefetcher, and a scan is
** limited by memory, not by arithmetic. What they save is the work that
** is not a load:
**   - Each row leaves one register of partial sums; those of a group of
**     rows (8 for AVX2, 16 for AVX-512) are reduced together by a
**     transpose: unpack and add pairs of rows, then pairs of pairs, then
**     fold the 128-bit lanes: 16 rows cost 45 shuffles and adds and one
**     store, under 3 operations a row, where a horizontal sum per row
**     took 6 or more. A last partial group is padded with zeros.
**   - When n is a multiple of the register width and at most
**     VS_NVEC_MAX registers (n <= 128 for AVX2, n <= 256 for AVX-512),
**     a copy of the loop specialised for that n is unrolled fully, with
**     two accumulators per row and the query loaded into registers once
**     per call (as many as fit; AVX2's 16 registers spill the rest to
**     the stack, no worse than reading q). Other n take the generic row
**     loop (four accumulators, masked tail), still with the group
**     reduction. For n = 128 this doubled the in-cache speed of the
**     AVX-512 kernel and raised AVX2's by half.
** Software prefetching (one prefetch per cache line, 1-4 KB ahead) was
** tried and measured no faster, usually slower: the hardware prefetcher
** already follows one sequential stream.
**
** The AVX2 and AVX-512 functions mirror each other (rowAvx2/rowAvx512,
** rowBatchAvx2/rowBatchAvx512, batchAvx2/batchAvx512, the reduction
** steps) on purpose, as two plain copies and not one macro template: the
** intrinsics, the tail masks (a mask table, a k-mask) and the group
** reductions (8 rows, 16 rows as four quads) differ, and each copy can
** be read in a debugger, measured and tuned alone. A change to one
** usually belongs in the other.
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
#include <string.h>

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
typedef void (*VsBatchI8I8Fn)(const signed char*, const signed char*, i64,
                              int, int32_t*);
typedef void (*VsBatchI8Fn)(const float*, const signed char*, i64, int,
                            float*);

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

/* rows of int8 codes: aOut[r] = sum q[j] * c_r[j], eight sums */
static void batchDotI8Scalar(const float *q, const signed char *c, i64 nRow,
                             int n, float *aOut){
  i64 r;
  for(r=0; r<nRow; r++, c+=n){
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int j = 0, k;
    for(; j+8<=n; j+=8){
      for(k=0; k<8; k++) s[k] += q[j+k]*(float)c[j+k];
    }
    for(; j<n; j++) s[0] += q[j]*(float)c[j];
    aOut[r] = ((s[0]+s[1]) + (s[2]+s[3])) + ((s[4]+s[5]) + (s[6]+s[7]));
  }
}

/* rows of int8 codes against int8 query codes: aOut[r] = sum q[j] * c_r[j],
** exact in integers */
static void batchDotI8I8Scalar(const signed char *q, const signed char *c,
                               i64 nRow, int n, int32_t *aOut){
  i64 r;
  for(r=0; r<nRow; r++, c+=n){
    int32_t s = 0;
    int j;
    for(j=0; j<n; j++) s += (int32_t)q[j]*(int32_t)c[j];
    aOut[r] = s;
  }
}

/* ---- x86: AVX2+FMA and AVX-512F --------------------------------------- */
#ifdef VS_X86

#define VS_AVX2   __attribute__((target("avx2,fma")))
#define VS_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define VS_INLINE inline __attribute__((always_inline))

/* Batch kernels are specialised for n = 1..VS_NVEC_MAX registers. */
#define VS_NVEC_MAX 16

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

/*
** The reduction of a group of row accumulators ("Batch kernels" at the
** top of the file), 256-bit form:
**   pair256(a, b)    per 128-bit lane [a b a b]: a and b each folded to
**                    2 lanes per 128 bits (unpack low, unpack high, add)
**   quad256(ab, cd)  per 128-bit lane [a b c d]: folded again (64-bit
**                    unpacks, add)
**   half256(q0, q1)  the two 128-bit lanes of each added: 8 row sums in
**                    row order
** Three operations per pair of registers at every step: 21 for 8 rows.
** The 512-bit form does the first two steps the same way on 512-bit
** registers and folds four 512-bit quads with 128-bit lane shuffles.
*/
VS_AVX2 static VS_INLINE __m256 pair256(__m256 a, __m256 b){
  return _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
}
VS_AVX2 static VS_INLINE __m256 quad256(__m256 ab, __m256 cd){
  __m256d x = _mm256_castps_pd(ab), y = _mm256_castps_pd(cd);
  return _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(x, y)),
                       _mm256_castpd_ps(_mm256_unpackhi_pd(x, y)));
}
VS_AVX2 static VS_INLINE __m256 half256(__m256 q0, __m256 q1){
  return _mm256_add_ps(_mm256_permute2f128_ps(q0, q1, 0x20),
                       _mm256_permute2f128_ps(q0, q1, 0x31));
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

/*
** One row of a batch, the lanes of its sum not yet added. nVec is a
** compile-time constant: 0 for any n (rowAvx2, the query read from q),
** else n==8*nVec and aQ[] holds the query, so that the loop unrolls
** fully and the query stays in registers as far as they go.
*/
VS_AVX2 static VS_INLINE __m256 rowBatchAvx2(int bDot, const float *x,
                                             const float *q, const __m256 *aQ,
                                             int n, int nVec){
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
  int i;
  if( nVec==0 ) return rowAvx2(bDot, x, q, n);
  for(i=0; i+2<=nVec; i+=2){
    s0 = step256(bDot, s0, _mm256_loadu_ps(x+8*i), aQ[i]);
    s1 = step256(bDot, s1, _mm256_loadu_ps(x+8*i+8), aQ[i+1]);
  }
  if( i<nVec ) s0 = step256(bDot, s0, _mm256_loadu_ps(x+8*i), aQ[i]);
  return _mm256_add_ps(s0, s1);
}

/* Rows one after another; each group of 8 reduced together. */
VS_AVX2 static VS_INLINE void batchAvx2(int bDot, const float *q,
                                        const float *m, i64 nRow, int n,
                                        float *aOut, int nVec){
  __m256 aQ[VS_NVEC_MAX];
  i64 r = 0;
  int i;
  for(i=0; i<nVec; i++) aQ[i] = _mm256_loadu_ps(q+8*i);
  for(; r+8<=nRow; r+=8){
    const float *x = m + r*n;
    __m256 a, b, ab, cd, q0;
    a = rowBatchAvx2(bDot, x,     q, aQ, n, nVec);
    b = rowBatchAvx2(bDot, x+n,   q, aQ, n, nVec);
    ab = pair256(a, b);
    a = rowBatchAvx2(bDot, x+2*n, q, aQ, n, nVec);
    b = rowBatchAvx2(bDot, x+3*n, q, aQ, n, nVec);
    cd = pair256(a, b);
    q0 = quad256(ab, cd);
    a = rowBatchAvx2(bDot, x+4*n, q, aQ, n, nVec);
    b = rowBatchAvx2(bDot, x+5*n, q, aQ, n, nVec);
    ab = pair256(a, b);
    a = rowBatchAvx2(bDot, x+6*n, q, aQ, n, nVec);
    b = rowBatchAvx2(bDot, x+7*n, q, aQ, n, nVec);
    cd = pair256(a, b);
    _mm256_storeu_ps(aOut+r, half256(q0, quad256(ab, cd)));
  }
  if( r<nRow ){
    /* the last 1..7 rows, with zeros for the missing ones */
    __m256 a[8];
    float aSum[8];
    int nLeft = (int)(nRow-r), j;
    for(j=0; j<8; j++){
      a[j] = j<nLeft ? rowBatchAvx2(bDot, m+(r+j)*n, q, aQ, n, nVec)
                     : _mm256_setzero_ps();
    }
    _mm256_storeu_ps(aSum,
        half256(quad256(pair256(a[0], a[1]), pair256(a[2], a[3])),
                quad256(pair256(a[4], a[5]), pair256(a[6], a[7]))));
    for(j=0; j<nLeft; j++) aOut[r+j] = aSum[j];
  }
}

VS_AVX2 static float l2Avx2(const float *a, const float *b, int n){
  return hsum256(rowAvx2(0, a, b, n));
}
VS_AVX2 static float dotAvx2(const float *a, const float *b, int n){
  return hsum256(rowAvx2(1, a, b, n));
}

/*
** The body of a batch kernel: batchXXX(bDot, ...) specialised for
** n == W*1, W*2, ... W*VS_NVEC_MAX (W floats per register), the generic
** loop for any other n.
*/
#define VS_NVEC_CASE(FN, BDOT, W, K) \
  case K: FN(BDOT, q, m, nRow, (W)*(K), aOut, K); break;
#define VS_BATCH_BODY(FN, BDOT, W)                                       \
  switch( n%(W)==0 && n/(W)<=VS_NVEC_MAX ? n/(W) : 0 ){                  \
    VS_NVEC_CASE(FN, BDOT, W, 1)  VS_NVEC_CASE(FN, BDOT, W, 2)           \
    VS_NVEC_CASE(FN, BDOT, W, 3)  VS_NVEC_CASE(FN, BDOT, W, 4)           \
    VS_NVEC_CASE(FN, BDOT, W, 5)  VS_NVEC_CASE(FN, BDOT, W, 6)           \
    VS_NVEC_CASE(FN, BDOT, W, 7)  VS_NVEC_CASE(FN, BDOT, W, 8)           \
    VS_NVEC_CASE(FN, BDOT, W, 9)  VS_NVEC_CASE(FN, BDOT, W, 10)          \
    VS_NVEC_CASE(FN, BDOT, W, 11) VS_NVEC_CASE(FN, BDOT, W, 12)          \
    VS_NVEC_CASE(FN, BDOT, W, 13) VS_NVEC_CASE(FN, BDOT, W, 14)          \
    VS_NVEC_CASE(FN, BDOT, W, 15) VS_NVEC_CASE(FN, BDOT, W, 16)          \
    default: FN(BDOT, q, m, nRow, n, aOut, 0); break;                    \
  }

VS_AVX2 static void batchL2Avx2(const float *q, const float *m, i64 nRow,
                                int n, float *aOut){
  VS_BATCH_BODY(batchAvx2, 0, 8)
}
VS_AVX2 static void batchDotAvx2(const float *q, const float *m, i64 nRow,
                                 int n, float *aOut){
  VS_BATCH_BODY(batchAvx2, 1, 8)
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

/* The reduction steps of pair256() and quad256() on 512-bit registers. */
VS_AVX512 static VS_INLINE __m512 pair512(__m512 a, __m512 b){
  return _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
}
VS_AVX512 static VS_INLINE __m512 quad512(__m512 ab, __m512 cd){
  __m512d x = _mm512_castps_pd(ab), y = _mm512_castps_pd(cd);
  return _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                       _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
}
/* Four quads (rows 0-3, 4-7, 8-11, 12-15; each 128-bit lane holds a
** part of each of its four rows' sums) -> the 16 sums in row order. */
VS_AVX512 static VS_INLINE __m512 quadsTo16(__m512 q0, __m512 q1,
                                            __m512 q2, __m512 q3){
  /* (macros: the shuffle selector must be a constant even at -O0) */
#define VS_LANES_EVEN _MM_SHUFFLE(2, 0, 2, 0)   /* lanes 0, 2 of each */
#define VS_LANES_ODD  _MM_SHUFFLE(3, 1, 3, 1)   /* lanes 1, 3 of each */
  __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(q0, q1, VS_LANES_EVEN),
                             _mm512_shuffle_f32x4(q0, q1, VS_LANES_ODD));
  __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(q2, q3, VS_LANES_EVEN),
                             _mm512_shuffle_f32x4(q2, q3, VS_LANES_ODD));
  return _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, VS_LANES_EVEN),
                       _mm512_shuffle_f32x4(s01, s23, VS_LANES_ODD));
#undef VS_LANES_EVEN
#undef VS_LANES_ODD
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

/* As rowBatchAvx2(), 16 floats per register. */
VS_AVX512 static VS_INLINE __m512 rowBatchAvx512(int bDot, const float *x,
                                                 const float *q,
                                                 const __m512 *aQ,
                                                 int n, int nVec){
  __m512 s0 = _mm512_setzero_ps(), s1 = s0;
  int i;
  if( nVec==0 ) return rowAvx512(bDot, x, q, n);
  for(i=0; i+2<=nVec; i+=2){
    s0 = step512(bDot, s0, _mm512_loadu_ps(x+16*i), aQ[i]);
    s1 = step512(bDot, s1, _mm512_loadu_ps(x+16*i+16), aQ[i+1]);
  }
  if( i<nVec ) s0 = step512(bDot, s0, _mm512_loadu_ps(x+16*i), aQ[i]);
  return _mm512_add_ps(s0, s1);
}

/* Four consecutive rows from x, reduced to a quad (see quadsTo16). */
VS_AVX512 static VS_INLINE __m512 quadAvx512(int bDot, const float *x,
                                             const float *q, const __m512 *aQ,
                                             int n, int nVec){
  __m512 a, b, ab;
  a = rowBatchAvx512(bDot, x,     q, aQ, n, nVec);
  b = rowBatchAvx512(bDot, x+n,   q, aQ, n, nVec);
  ab = pair512(a, b);
  a = rowBatchAvx512(bDot, x+2*n, q, aQ, n, nVec);
  b = rowBatchAvx512(bDot, x+3*n, q, aQ, n, nVec);
  return quad512(ab, pair512(a, b));
}

/* Rows one after another; each group of 16 reduced together. */
VS_AVX512 static VS_INLINE void batchAvx512(int bDot, const float *q,
                                            const float *m, i64 nRow, int n,
                                            float *aOut, int nVec){
  __m512 aQ[VS_NVEC_MAX];
  i64 r = 0;
  int i;
  for(i=0; i<nVec; i++) aQ[i] = _mm512_loadu_ps(q+16*i);
  for(; r+16<=nRow; r+=16){
    const float *x = m + r*n;
    __m512 q0, q1, q2;
    q0 = quadAvx512(bDot, x,      q, aQ, n, nVec);
    q1 = quadAvx512(bDot, x+4*n,  q, aQ, n, nVec);
    q2 = quadAvx512(bDot, x+8*n,  q, aQ, n, nVec);
    _mm512_storeu_ps(aOut+r,
        quadsTo16(q0, q1, q2, quadAvx512(bDot, x+12*n, q, aQ, n, nVec)));
  }
  if( r<nRow ){
    /* the last 1..15 rows, with zeros for the missing ones */
    __m512 a[16];
    int nLeft = (int)(nRow-r), j;
    for(j=0; j<16; j++){
      a[j] = j<nLeft ? rowBatchAvx512(bDot, m+(r+j)*n, q, aQ, n, nVec)
                     : _mm512_setzero_ps();
    }
    _mm512_mask_storeu_ps(aOut+r, (__mmask16)((1u<<nLeft) - 1),
        quadsTo16(quad512(pair512(a[0], a[1]), pair512(a[2], a[3])),
                  quad512(pair512(a[4], a[5]), pair512(a[6], a[7])),
                  quad512(pair512(a[8], a[9]), pair512(a[10], a[11])),
                  quad512(pair512(a[12], a[13]), pair512(a[14], a[15]))));
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
  VS_BATCH_BODY(batchAvx512, 0, 16)
}
VS_AVX512 static void batchDotAvx512(const float *q, const float *m,
                                     i64 nRow, int n, float *aOut){
  VS_BATCH_BODY(batchAvx512, 1, 16)
}

/* Rows of int8 codes (quant.c): each step widens 8 (AVX2) or 16
** (AVX-512) codes to f32 and adds their products with the query; a scan
** of codes reads a quarter of the bytes of the f32 rows. */
VS_AVX2 static void batchDotI8Avx2(const float *q, const signed char *c,
                                   i64 nRow, int n, float *aOut){
  i64 r;
  for(r=0; r<nRow; r++, c+=n){
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    float t = 0;
    int j = 0;
    for(; j+16<=n; j+=16){
      __m128i x = _mm_loadu_si128((const __m128i*)(c+j));
      s0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(x)),
                           _mm256_loadu_ps(q+j), s0);
      s1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                               _mm_srli_si128(x, 8))),
                           _mm256_loadu_ps(q+j+8), s1);
    }
    for(; j<n; j++) t += q[j]*(float)c[j];
    aOut[r] = hsum256(_mm256_add_ps(s0, s1)) + t;
  }
}
VS_AVX512 static void batchDotI8Avx512(const float *q, const signed char *c,
                                       i64 nRow, int n, float *aOut){
  i64 r;
  for(r=0; r<nRow; r++, c+=n){
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int j = 0;
    for(; j+32<=n; j+=32){
      s0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                 _mm_loadu_si128((const __m128i*)(c+j)))),
             _mm512_loadu_ps(q+j), s0);
      s1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                 _mm_loadu_si128((const __m128i*)(c+j+16)))),
             _mm512_loadu_ps(q+j+16), s1);
    }
    for(; j<n; j+=16){
      /* the last 1..31 codes, 16 at a time, masked */
      int nLeft = n-j<16 ? n-j : 16;
      __mmask16 m = (__mmask16)((1u<<nLeft) - 1);
      signed char aTail[16] = {0};
      __m128i x;
      memcpy(aTail, c+j, (size_t)nLeft);   /* AVX-512F has no byte mask */
      x = _mm_loadu_si128((const __m128i*)aTail);
      s0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(x)),
                           _mm512_maskz_loadu_ps(m, q+j), s0);
    }
    aOut[r] = hsum256(fold512(_mm512_add_ps(s0, s1)));
  }
}

/* AVX-512 VNNI: vpdpbusd multiplies 64 unsigned by 64 signed bytes and
** adds them in fours into 16 int32 sums. A row's codes xor 0x80 are its
** codes plus 128 as unsigned bytes, so its sum with the (signed) query
** codes is the dot product plus 128 times the sum of the query's codes,
** taken off at the end. The tail is a masked load (zero query bytes add
** nothing). Rows go in fours, their 16-lane sums reduced together. */
#define VS_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni,avx2,fma")))

static int vnniSupported(void){
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512vnni")
      && __builtin_cpu_supports("avx512bw") && avx512Supported();
}

/* the 16-lane sum of one row's codes (plus 128) with the query's */
VS_VNNI static VS_INLINE __m512i rowVnni(const signed char *q,
                                         const signed char *c, int n){
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  __m512i s = _mm512_setzero_si512();
  int j = 0;
  for(; j+64<=n; j+=64){
    __m512i u = _mm512_xor_si512(_mm512_loadu_si512((const void*)(c+j)),
                                 flip);
    s = _mm512_dpbusd_epi32(s, u, _mm512_loadu_si512((const void*)(q+j)));
  }
  if( j<n ){
    __mmask64 m = (__mmask64)(~0ULL >> (64-(n-j)));
    __m512i u = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, c+j), flip);
    s = _mm512_dpbusd_epi32(s, u, _mm512_maskz_loadu_epi8(m, q+j));
  }
  return s;
}

VS_VNNI static void batchDotI8I8Vnni(const signed char *q,
                                     const signed char *c, i64 nRow, int n,
                                     int32_t *aOut){
  int32_t nBias = 0;
  i64 r = 0;
  int j;
  for(j=0; j<n; j++) nBias += 128*(int32_t)q[j];
  for(; r+4<=nRow; r+=4, c+=4*n){
    __m512i r0 = rowVnni(q, c, n), r1 = rowVnni(q, c+n, n);
    __m512i r2 = rowVnni(q, c+2*n, n), r3 = rowVnni(q, c+3*n, n);
    /* per 128-bit lane: [r0, r1, r2, r3] partial sums, then the lanes */
    __m512i t01 = _mm512_add_epi32(_mm512_unpacklo_epi32(r0, r1),
                                   _mm512_unpackhi_epi32(r0, r1));
    __m512i t23 = _mm512_add_epi32(_mm512_unpacklo_epi32(r2, r3),
                                   _mm512_unpackhi_epi32(r2, r3));
    __m512i u = _mm512_add_epi32(_mm512_unpacklo_epi64(t01, t23),
                                 _mm512_unpackhi_epi64(t01, t23));
    __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(u),
                                 _mm512_extracti64x4_epi64(u, 1));
    __m128i x = _mm_add_epi32(_mm256_castsi256_si128(h),
                              _mm256_extracti128_si256(h, 1));
    x = _mm_sub_epi32(x, _mm_set1_epi32(nBias));
    _mm_storeu_si128((__m128i*)(aOut+r), x);
  }
  for(; r<nRow; r++, c+=n){
    aOut[r] = _mm512_reduce_add_epi32(rowVnni(q, c, n)) - nBias;
  }
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
  VsBatchI8Fn xBatchDotI8;    /* rows of int8 codes: sum q*c */
  VsBatchI8I8Fn xBatchDotI8I8;/* ... against int8 query codes, or 0 */
  int (*xI8I8Supported)(void);/* true if this CPU runs xBatchDotI8I8 */
};

/* Best first: the first supported entry is the default. */
static const VsKernel aKernel[] = {
#ifdef VS_X86
  { "avx512", "avx512f", avx512Supported,
    l2Avx512, dotAvx512, batchL2Avx512, batchDotAvx512, batchDotI8Avx512,
    batchDotI8I8Vnni, vnniSupported },
  { "avx2+fma", "avx2", avx2Supported,
    l2Avx2, dotAvx2, batchL2Avx2, batchDotAvx2, batchDotI8Avx2, 0, 0 },
#endif
#ifdef VS_NEON
  { "neon", "neon", neonSupported,
    l2Neon, dotNeon, batchL2Neon, batchDotNeon, batchDotI8Scalar, 0, 0 },
#endif
  { "scalar", "scalar", scalarSupported,
    l2Scalar, dotScalar, batchL2Scalar, batchDotScalar, batchDotI8Scalar,
    0, 0 },
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

void vsDistanceBatchDotI8(const float *q, const signed char *aCode, i64 nRow,
                          int n, float *aOut){
  if( nRow>0 ) kernel()->xBatchDotI8(q, aCode, nRow, n, aOut);
}

int vsDistanceDotI8I8Fast(void){
  const VsKernel *p = kernel();
  return p->xBatchDotI8I8!=0 && p->xI8I8Supported();
}

void vsDistanceBatchDotI8I8(const signed char *q, const signed char *aCode,
                            i64 nRow, int n, int32_t *aOut){
  const VsKernel *p = kernel();
  if( nRow<=0 ) return;
  if( p->xBatchDotI8I8 && p->xI8I8Supported() ){
    p->xBatchDotI8I8(q, aCode, nRow, n, aOut);
  }else{
    batchDotI8I8Scalar(q, aCode, nRow, n, aOut);
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
int vsDistanceSumIsSound(float r){
  return isfinite(r) && fabsf(r)>=1e-30f;
}

double vsDistanceL2SquaredDouble(const float *a, const float *b, int n){
  double s = 0;
  int i;
  for(i=0; i<n; i++){
    double d = (double)a[i] - (double)b[i];
    s += d*d;
  }
  return s;
}

double vsDistanceDotDouble(const float *a, const float *b, int n){
  double s = 0;
  int i;
  for(i=0; i<n; i++) s += (double)a[i]*(double)b[i];
  return s;
}

/* sum (a-b)^2, or a.b, as f32 when sound, else in double. */
static double sumL2(const VsKernel *p, const float *a, const float *b, int n){
  float r = p->xL2(a, b, n);
  return vsDistanceSumIsSound(r) ? (double)r
                                 : vsDistanceL2SquaredDouble(a, b, n);
}
static double sumDot(const VsKernel *p, const float *a, const float *b, int n){
  float r = p->xDot(a, b, n);
  return vsDistanceSumIsSound(r) ? (double)r : vsDistanceDotDouble(a, b, n);
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

double vsDistanceNorm(const float *a, int n){
  return sqrt(sumDot(kernel(), a, a, n));
}
