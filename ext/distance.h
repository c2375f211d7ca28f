/*
** Distance kernels: the arithmetic a search and the veles_distance()
** SQL function share. See the top of distance.c for how the kernel is
** chosen at run time and how the precision of f32 sums is handled.
**
** This header and distance.c use no SQLite API (only the i64 type), so
** test and benchmark programs may compile distance.c in directly.
**
** Thread safety: every function here may be called from any number of
** threads at once.
*/
#ifndef DISTANCE_H
#define DISTANCE_H

#include <stdint.h>
#ifndef VELES_INT_H
# include <sqlite3.h>
typedef sqlite3_int64 i64;      /* as in veles_int.h (C11 allows both) */
#endif

/* Metrics, as stored in a table's settings. Smaller is nearer for all. */
#define VS_METRIC_L2     0   /* Euclidean distance: sqrt(sum (a-b)^2) */
#define VS_METRIC_COSINE 1   /* 1 - a.b/(|a||b|), in [0, 2]; 1 if |a| or |b| is 0 */
#define VS_METRIC_DOT    2   /* -(a.b) */

/* What vsDistanceBatch() computes per row. */
#define VS_BATCH_L2SQUARED 0 /* sum (q-x)^2, no square root */
#define VS_BATCH_DOT       1 /* q.x (not negated) */

/* "l2", "cosine" or "dot" (any case) -> VS_METRIC_*, or -1 if unknown. */
int vsDistanceMetric(const char *zName);
/* VS_METRIC_* -> "l2", "cosine", "dot" ("unknown" otherwise). */
const char *vsDistanceMetricName(int eMetric);

/*
** The dispatched f32 kernels, n >= 0 (n==0 gives 0). Sums are kept in
** f32: a result beyond FLT_MAX is +Inf (or NaN when +Inf and -Inf
** partial sums meet in a dot product), products below FLT_MIN lose
** precision. Data of ordinary magnitude (|x| < 1e15 or so) is exact to
** f32 rounding. vsDistance() below guards against both ends.
*/
float vsDistanceL2Squared(const float *a, const float *b, int n);
float vsDistanceDotProduct(const float *a, const float *b, int n);

/*
** Batch kernel for scans. aMatrix holds nRow rows of n floats each,
** contiguous and row-major (no alignment needed). For each row i:
**   eKind==VS_BATCH_L2SQUARED  aOut[i] = sum_j (q[j] - row_i[j])^2
**   eKind==VS_BATCH_DOT        aOut[i] = sum_j  q[j] * row_i[j]
** The same f32 arithmetic and caveats as the single-pair kernels (the
** values may differ from them in the last bits: the order of additions
** differs). Reads the matrix once, front to back; allocates nothing.
*/
void vsDistanceBatch(int eKind, const float *q, const float *aMatrix,
                     i64 nRow, int n, float *aOut);

/*
** The same for rows of int8 codes (quant.c): aCode holds nRow rows of n
** signed bytes, and aOut[i] = sum_j q[j] * code_i[j] in f32 (no alignment
** needed; the NEON build uses the scalar loop).
*/
void vsDistanceBatchDotI8(const float *q, const signed char *aCode, i64 nRow,
                          int n, float *aOut);

/*
** The same rows of int8 codes against a query given as int8 codes too:
** aOut[i] = sum_j q[j] * code_i[j], exact in int32 (n <= 65536 keeps it
** well inside). Fast where vsDistanceDotI8I8Fast() says so (AVX-512
** VNNI); elsewhere a scalar loop, which the code scan then does not use.
*/
int vsDistanceDotI8I8Fast(void);
void vsDistanceBatchDotI8I8(const signed char *q, const signed char *aCode,
                            i64 nRow, int n, int32_t *aOut);

/*
** Full metric distance between two vectors of n floats (n >= 1):
**   VS_METRIC_L2      sqrt(sum (a-b)^2)
**   VS_METRIC_COSINE  1 - a.b/(|a||b|), clamped to [0, 2]; 1.0 when
**                     either vector is all zeros (no direction, so
**                     treated as orthogonal to everything)
**   VS_METRIC_DOT     -(a.b)  (0.0, never -0.0, for a zero product)
** Computed with the f32 kernels; when a sum overflows, underflows or is
** zero it is recomputed in double, so the result is right (to f32
** rounding) over the whole finite f32 range. Unknown eMetric: NaN.
*/
double vsDistance(int eMetric, const float *a, const float *b, int n);

/* Euclidean norm of a, in the same way. A double: the norm of finite f32
** elements may exceed FLT_MAX (up to 256 * FLT_MAX at n = 65536). */
double vsDistanceNorm(const float *a, int n);

/* The kernel in use: "avx512", "avx2+fma", "neon" or "scalar". */
const char *vsDistanceKernelName(void);

/*
** Force a kernel for the whole process, by the name vsDistanceKernelName
** reports or its short form ("avx512", "avx2" or "avx2+fma", "neon",
** "scalar"), or 0/"auto" for the best this CPU runs. Returns 0, or -1
** (and changes nothing) when the name is unknown or the CPU cannot run
** it. For tests and benchmarks; the environment variable VELES_KERNEL,
** read at first use, does the same without code.
*/
int vsDistanceSetKernel(const char *zName);

/* Sums the f32 kernels cannot be trusted with (not finite, or below
** 1e-30 in magnitude) are recomputed in double with these. */
int vsDistanceSumIsSound(float r);
double vsDistanceL2SquaredDouble(const float *a, const float *b, int n);
double vsDistanceDotDouble(const float *a, const float *b, int n);

#endif /* DISTANCE_H */
