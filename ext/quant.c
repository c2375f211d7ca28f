/*
** Quantized search: a scan of int8 codes, then exact rescoring.
**
**   SELECT id, distance FROM emb
**    WHERE vec MATCH ?1 AND k = 10 AND rescore = 8;
**
** scans one byte per element instead of four and keeps the k * 8 rows of
** the smallest approximate distance, then computes the exact f32 distance
** of those rows only (vsSearchRun over them) and returns the k nearest.
** The rows and distances returned are always exact; only which rows are
** considered is approximate, so recall, not correctness, depends on the
** codes.
**
** CODES. Slot s with the f32 vector x has the scale m / 127, where m is
** the largest |x_j|, and the codes c_j = round(x_j * 127 / m), in
** [-127, 127]; an all-zero vector has scale 0. The decoded vector
** scale * c is within scale / 2 of x in every element. A scale per
** vector needs no training and no global state: a write changes the
** codes of its own slot only. For a query q (kept in f32):
**   l2      |q - x|^2 ~ |x'|^2 - 2 scale (q.c) + |q|^2 (the last term is
**           the same for every row and left out of the ranking)
**   cosine  1 - scale (q.c) / (|q| |x'|), 1 for a zero vector
**   dot     -scale (q.c)
** where x' = scale * c and |x'|^2 is kept per slot (aSq).
**
** DERIVED DATA. The codes live in memory, per connection and table, next
** to the cosine norms and under the same rule: a slot's codes are made
** from the side file when a quantized scan first needs them and forgotten
** whenever the slot is written, all of them when the slot array is
** rebuilt (another connection's commit, a rebuild, a compaction). A stale
** code could only cost recall; forgetting keeps it from doing even that.
** Which slots are live and their ids come from the same slot array as the
** exact scan's, so a quantized search sees exactly the rows of the
** snapshot.
*/
#include "quant.h"
#include "distance.h"
#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define QUANT_BLOCK 256         /* rows per call of the batch kernel */
#define QUANT_THREAD_BYTES (1024*1024)   /* codes per scan thread, at least */

void vsCodesClear(VsCodes *p){
  sqlite3_free(p->aCode);
  sqlite3_free(p->aScale);
  sqlite3_free(p->aSq);
  memset(p, 0, sizeof(*p));
}

void vsCodesForget(VsCodes *p, i64 iSlot){
  if( iSlot>=0 && iSlot<p->nAlloc ) p->aScale[iSlot] = NAN;
}

void vsCodesForgetAll(VsCodes *p){
  i64 i;
  for(i=0; i<p->nAlloc; i++) p->aScale[i] = NAN;
}

/* Room for nSlot slots of nDim codes; new slots are not encoded. */
static int codesReserve(VsCodes *p, i64 nSlot, int nDim){
  i64 n, i;
  if( p->nDim!=nDim ) vsCodesClear(p);
  p->nDim = nDim;
  if( nSlot<=p->nAlloc ) return SQLITE_OK;
  n = p->nAlloc ? p->nAlloc : 1024;
  while( n<nSlot ) n *= 2;
  {
    signed char *aCode = sqlite3_realloc64(p->aCode, (u64)(n*nDim));
    double *aScale, *aSq;
    if( aCode==0 ) return SQLITE_NOMEM;
    p->aCode = aCode;
    aScale = sqlite3_realloc64(p->aScale, sizeof(double)*(u64)n);
    if( aScale==0 ) return SQLITE_NOMEM;
    p->aScale = aScale;
    aSq = sqlite3_realloc64(p->aSq, sizeof(double)*(u64)n);
    if( aSq==0 ) return SQLITE_NOMEM;
    p->aSq = aSq;
  }
  /* the kernel reads the codes of free slots too (their scores are not
  ** used): zeros, not uninitialised bytes */
  memset(p->aCode + p->nAlloc*nDim, 0, (size_t)((n-p->nAlloc)*nDim));
  for(i=p->nAlloc; i<n; i++){
    p->aScale[i] = NAN;
    p->aSq[i] = 0;
  }
  p->nAlloc = n;
  return SQLITE_OK;
}

void vsCodesEncode(const float *x, int n, signed char *c, double *pScale,
                   double *pSq){
  float m = 0, rInv;
  double rScale;
  int j, sq = 0;
  assert( n>0 );
  for(j=0; j<n; j++){
    float a = fabsf(x[j]);
    m = a>m ? a : m;                  /* a NaN compares false: skipped */
  }
  if( !(m>0) || !isfinite(m) ){
    memset(c, 0, (size_t)n);
    *pScale = 0;
    *pSq = 0;
    return;
  }
  rScale = m/127.0;
  rInv = (float)(127.0/m);
  for(j=0; j<n; j++){
    /* round half away from zero; clamped first, and a NaN (a damaged
    ** file) made 0, so no conversion is undefined */
    float v = x[j]*rInv;
    int k;
    v = v<-127.0f ? -127.0f : v;
    v = v>127.0f ? 127.0f : v;
    if( !(v>=-127.0f) ) v = 0;
    k = (int)(v + (v<0 ? -0.5f : 0.5f));
    c[j] = (signed char)k;
    sq += k*k;
  }
  *pScale = rScale;
  *pSq = (double)sq*rScale*rScale;
}

/* Encode slot s from its f32 vector x (see CODES above). */
static void encode(VsCodes *p, i64 s, const float *x){
  assert( s>=0 && s<p->nAlloc && p->nDim>0 );
  vsCodesEncode(x, p->nDim, p->aCode + s*p->nDim, &p->aScale[s], &p->aSq[s]);
}

/* The candidates: a max-heap of the nMax smallest scores seen. */
typedef struct Cand Cand;
struct Cand { double rScore; i64 iSlot; };
typedef struct Heap Heap;
struct Heap { Cand *a; i64 n, nMax; };

static void heapOffer(Heap *h, double rScore, i64 iSlot){
  i64 i;
  assert( h->nMax>0 && h->n<=h->nMax );
  if( h->n==h->nMax ){
    if( !(rScore<h->a[0].rScore) ) return;
    /* replace the largest, sift down */
    i = 0;
    for(;;){
      i64 l = 2*i+1, r = l+1, m = i;
      double rM = rScore;
      if( l<h->n && h->a[l].rScore>rM ){ m = l; rM = h->a[l].rScore; }
      if( r<h->n && h->a[r].rScore>rM ){ m = r; }
      if( m==i ) break;
      h->a[i] = h->a[m];
      i = m;
    }
  }else{
    /* append, sift up */
    i = h->n++;
    while( i>0 && h->a[(i-1)/2].rScore<rScore ){
      h->a[i] = h->a[(i-1)/2];
      i = (i-1)/2;
    }
  }
  h->a[i].rScore = rScore;
  h->a[i].iSlot = iSlot;
}

/* The approximate rank score of a row of scale rScale and decoded squared
** norm rSq from q.c (see CODES). */
static double scoreOf(int eMetric, double rScale, double rSq, double rDot,
                      double rQueryNorm){
  switch( eMetric ){
    case VS_METRIC_L2:
      return rSq - 2*rScale*rDot;
    case VS_METRIC_COSINE:
      if( rSq<=0 || rQueryNorm<=0 ) return 1.0;
      return 1.0 - rScale*rDot/(rQueryNorm*sqrt(rSq));
  }
  return -rScale*rDot;
}


/* scoreOf() of n rows at once, the metric chosen once (so that the
** compiler vectorises each loop). */
static void scoreBlock(int eMetric, const double *aScale, const double *aSq,
                       const float *aDot, i64 n, double rQueryNorm,
                       double *aScore){
  i64 k;
  switch( eMetric ){
    case VS_METRIC_L2:
      for(k=0; k<n; k++) aScore[k] = aSq[k] - 2*aScale[k]*aDot[k];
      return;
    case VS_METRIC_COSINE:
      for(k=0; k<n; k++){
        aScore[k] = scoreOf(VS_METRIC_COSINE, aScale[k], aSq[k], aDot[k],
                            rQueryNorm);
      }
      return;
  }
  for(k=0; k<n; k++) aScore[k] = -aScale[k]*aDot[k];
}

static int slotCompare(const void *a, const void *b){
  i64 x = *(const i64*)a, y = *(const i64*)b;
  return x<y ? -1 : x>y;
}

#define WANTED(p, s) ((p)->aId[s]>=(p)->iMinId && (p)->aId[s]<=(p)->iMaxId)

/* One thread's share of the code scan: items iFirst..iEnd-1 (slots, or
** indexes into aCand), its own heap. Threads encode disjoint slots. */
/*
** The query as the code scan compares it with the rows' codes: the f32
** query, or where the CPU has an integer dot product of bytes (AVX-512
** VNNI, vsDistanceDotI8I8Fast) also int8 codes of it, made as the rows'
** are (scale max|q| / 127). Then a row's dot product is that scale times
** the integer one: it is off by the query's rounding (at most scale / 2
** per element), which only ranks candidates; the rows kept are rescored
** exactly.
*/
typedef struct QueryCodes QueryCodes;
struct QueryCodes {
  const float *aQuery;
  int bInt;                     /* use aI8 */
  double rScale;
  signed char *aI8;             /* nDim codes, or 0 */
};

static int queryCodesInit(QueryCodes *pQ, const float *q, int nDim){
  double rSq;
  memset(pQ, 0, sizeof(*pQ));
  pQ->aQuery = q;
  if( !vsDistanceDotI8I8Fast() ) return SQLITE_OK;
  pQ->aI8 = sqlite3_malloc64((u64)nDim);
  if( pQ->aI8==0 ) return SQLITE_NOMEM;
  vsCodesEncode(q, nDim, pQ->aI8, &pQ->rScale, &rSq);
  pQ->bInt = pQ->rScale>0;
  return SQLITE_OK;
}

static void queryCodesClear(QueryCodes *pQ){
  sqlite3_free(pQ->aI8);
  memset(pQ, 0, sizeof(*pQ));
}

/* aDot[i] = the query's dot product with rows 0..n-1 of aCode. */
static void queryDot(const QueryCodes *pQ, const signed char *aCode, i64 n,
                     int nDim, float *aDot){
  if( pQ->bInt ){
    int32_t aSum[QUANT_BLOCK];
    i64 k;
    assert( n<=QUANT_BLOCK );
    vsDistanceBatchDotI8I8(pQ->aI8, aCode, n, nDim, aSum);
    for(k=0; k<n; k++) aDot[k] = (float)(pQ->rScale*aSum[k]);
  }else{
    vsDistanceBatchDotI8(pQ->aQuery, aCode, n, nDim, aDot);
  }
}

int vsQuantScoreRows(const float *q, int nDim, int eMetric,
                     const signed char *aCode, const double *aScale,
                     const double *aSq, i64 n, double *aScore){
  float aDot[QUANT_BLOCK];
  double rQueryNorm = 0;
  QueryCodes qc;
  i64 i;
  int j, rc = queryCodesInit(&qc, q, nDim);
  if( rc ) return rc;
  for(j=0; j<nDim; j++) rQueryNorm += (double)q[j]*(double)q[j];
  rQueryNorm = sqrt(rQueryNorm);
  for(i=0; i<n; i+=QUANT_BLOCK){
    i64 m = n-i<QUANT_BLOCK ? n-i : QUANT_BLOCK;
    queryDot(&qc, aCode + i*nDim, m, nDim, aDot);
    scoreBlock(eMetric, aScale+i, aSq+i, aDot, m, rQueryNorm, aScore+i);
  }
  queryCodesClear(&qc);
  return SQLITE_OK;
}

typedef struct QJob QJob;
struct QJob {
  const VsSearch *p;
  VsCodes *pCodes;
  const QueryCodes *pQ;
  double rQueryNorm;
  i64 iFirst, iEnd;
  Heap h;
  pthread_t tid;
  int bThread;            /* tid is a thread to join */
};

static void *scanCodes(void *pArg){
  QJob *pJob = (QJob*)pArg;
  const VsSearch *p = pJob->p;
  VsCodes *pCodes = pJob->pCodes;
  float aDot[QUANT_BLOCK];
  double aScore[QUANT_BLOCK];
  i64 i;
  for(i=pJob->iFirst; i<pJob->iEnd; ){
    /* a block of consecutive slots (one slot when filtered) */
    i64 iFirst = p->aCand ? p->aCand[i] : i, n = 1, k;
    if( p->aCand==0 ){
      n = pJob->iEnd-i<QUANT_BLOCK ? pJob->iEnd-i : QUANT_BLOCK;
    }
    assert( iFirst>=0 && iFirst+n<=p->nSlot && iFirst+n<=pCodes->nAlloc );
    for(k=iFirst; k<iFirst+n; k++){
      if( WANTED(p, k) && isnan(pCodes->aScale[k]) ){
        encode(pCodes, k, p->aMatrix + k*p->nDim);
      }
    }
    queryDot(pJob->pQ, pCodes->aCode + iFirst*p->nDim, n, p->nDim, aDot);
    scoreBlock(p->eMetric, pCodes->aScale+iFirst, pCodes->aSq+iFirst, aDot,
               n, pJob->rQueryNorm, aScore);
    for(k=0; k<n; k++){
      /* a free slot's NaN score never beats the bar */
      Heap *h = &pJob->h;
      if( h->n==h->nMax && !(aScore[k]<h->a[0].rScore) ) continue;
      if( WANTED(p, iFirst+k) ) heapOffer(h, aScore[k], iFirst+k);
    }
    i += n;
  }
  return 0;
}

static int candCompare(const void *a, const void *b){
  double x = ((const Cand*)a)->rScore, y = ((const Cand*)b)->rScore;
  return x<y ? -1 : x>y;
}

int vsQuantSearch(const VsSearch *p, VsCodes *pCodes, int nRescore,
                  VsSearchHit **paHit, i64 *pnHit){
  i64 nItem = p->aCand ? p->nCand : p->nSlot, nMax, nAll = 0, i;
  i64 nBytes = nItem*(i64)p->nDim;        /* of codes scanned */
  i64 *aSlot = 0;
  Cand *aAll = 0;
  QJob *aJob = 0;
  double rQueryNorm = 0;
  VsSearch s;
  QueryCodes qc;
  int nJob = vsSearchThreads(p->nThread), rc, j;
  assert( nRescore>=1 && nRescore<=VS_RESCORE_MAX && p->nWant>=1 );
  if( p->nWant>nItem/nRescore ){
    /* as many candidates as rows: the exact scan is the same work */
    return vsSearchRun(p, paHit, pnHit);
  }
  nMax = p->nWant*nRescore;
  rc = codesReserve(pCodes, p->nSlot, p->nDim);
  if( rc ) return rc;
  for(j=0; j<p->nDim; j++){
    rQueryNorm += (double)p->aQuery[j]*(double)p->aQuery[j];
  }
  rQueryNorm = sqrt(rQueryNorm);
  /* threads as the exact scan has them, per QUANT_THREAD_BYTES of codes */
  if( nJob>1 && nBytes/QUANT_THREAD_BYTES<nJob ){
    nJob = (int)(nBytes/QUANT_THREAD_BYTES);
  }
  if( nJob<1 ) nJob = 1;
  rc = queryCodesInit(&qc, p->aQuery, p->nDim);
  if( rc ) return rc;
  aJob = sqlite3_malloc64(sizeof(QJob)*(u64)nJob);
  if( aJob==0 ){
    queryCodesClear(&qc);
    return SQLITE_NOMEM;
  }
  memset(aJob, 0, sizeof(QJob)*(u64)nJob);
  for(j=0; j<nJob && rc==SQLITE_OK; j++){
    aJob[j].p = p;
    aJob[j].pCodes = pCodes;
    aJob[j].pQ = &qc;
    aJob[j].rQueryNorm = rQueryNorm;
    aJob[j].iFirst = nItem*j/nJob;
    aJob[j].iEnd = nItem*(j+1)/nJob;
    aJob[j].h.nMax = nMax;
    aJob[j].h.a = sqlite3_malloc64(sizeof(Cand)*(u64)nMax);
    if( aJob[j].h.a==0 ) rc = SQLITE_NOMEM;
  }
  if( rc==SQLITE_OK ){
    for(j=1; j<nJob; j++){
      aJob[j].bThread = pthread_create(&aJob[j].tid, 0, scanCodes,
                                       &aJob[j])==0;
    }
    scanCodes(&aJob[0]);
    for(j=1; j<nJob; j++){
      if( aJob[j].bThread ) pthread_join(aJob[j].tid, 0);
      else scanCodes(&aJob[j]);
    }
    for(j=0; j<nJob; j++) nAll += aJob[j].h.n;
    aAll = sqlite3_malloc64(sizeof(Cand)*(u64)(nAll ? nAll : 1));
    aSlot = sqlite3_malloc64(sizeof(i64)*(u64)(nAll ? nAll : 1));
    if( aAll==0 || aSlot==0 ) rc = SQLITE_NOMEM;
  }
  if( rc==SQLITE_OK ){
    /* the nMax best of every thread's best */
    nAll = 0;
    for(j=0; j<nJob; j++){
      memcpy(&aAll[nAll], aJob[j].h.a, sizeof(Cand)*(size_t)aJob[j].h.n);
      nAll += aJob[j].h.n;
    }
    if( nAll>nMax ){
      qsort(aAll, (size_t)nAll, sizeof(Cand), candCompare);
      nAll = nMax;
    }
    for(i=0; i<nAll; i++) aSlot[i] = aAll[i].iSlot;
    qsort(aSlot, (size_t)nAll, sizeof(i64), slotCompare);
    /* rescoring: the exact search over the candidates */
    s = *p;
    s.aCand = aSlot;
    s.nCand = nAll;
    rc = vsSearchRun(&s, paHit, pnHit);
  }
  for(j=0; j<nJob; j++) sqlite3_free(aJob[j].h.a);
  sqlite3_free(aJob);
  sqlite3_free(aAll);
  sqlite3_free(aSlot);
  queryCodesClear(&qc);
  return rc;
}

int vsQuantSearchBlocks(const VsSearch *p, const VsCodeBlock *aBlock,
                        int nBlock, const u64 *aKeep, int nRescore,
                        VsSearchHit **paHit, i64 *pnHit){
  Heap h;
  i64 *aSlot = 0, i, nMax;
  double rQueryNorm = 0;
  float aDot[QUANT_BLOCK];
  double aScore[QUANT_BLOCK];
  VsSearch s;
  QueryCodes qc;
  int rc = SQLITE_OK, b, j;
  /* without id bounds a slot is wanted when live, which almost every
  ** listed one is: looked up for the candidates only, after the scan
  ** (each lookup misses the cache) */
  int bLate = p->iMinId==0 && p->iMaxId==VS_MAX_ID;
  assert( nRescore>=1 && nRescore<=VS_RESCORE_MAX && p->nWant>=1 );
  nMax = p->nWant*nRescore;
  h.n = 0;
  h.nMax = nMax;
  rc = queryCodesInit(&qc, p->aQuery, p->nDim);
  if( rc ) return rc;
  h.a = sqlite3_malloc64(sizeof(Cand)*(u64)nMax);
  if( h.a==0 ){
    queryCodesClear(&qc);
    return SQLITE_NOMEM;
  }
  for(j=0; j<p->nDim; j++){
    rQueryNorm += (double)p->aQuery[j]*(double)p->aQuery[j];
  }
  rQueryNorm = sqrt(rQueryNorm);
  for(b=0; b<nBlock; b++){
    const VsCodeBlock *pB = &aBlock[b];
    for(i=0; i<pB->n; i+=QUANT_BLOCK){
      i64 n = pB->n-i<QUANT_BLOCK ? pB->n-i : QUANT_BLOCK, k;
      queryDot(&qc, pB->aCode + i*p->nDim, n, p->nDim, aDot);
      scoreBlock(p->eMetric, pB->aScale+i, pB->aSq+i, aDot, n, rQueryNorm,
                 aScore);
      for(k=0; k<n; k++){
        double r = aScore[k];
        i64 iSlot = pB->aSlot[i+k];
        /* a row that could enter the heap counts unless it is a tombstone
        ** (ivf.c: every other row is its slot's current one), while the
        ** slot is live and wanted, and kept by the prefilter: looked up
        ** only then (the lookups miss the cache) */
        if( h.n==h.nMax && !(r<h.a[0].rScore) ) continue;
        if( iSlot<0 || iSlot>=p->nSlot || (!bLate && !WANTED(p, iSlot))
         || (aKeep && (aKeep[iSlot/64] & ((u64)1<<(iSlot%64)))==0) ){
          continue;
        }
        assert( pB->aListOf[iSlot]==pB->iList && pB->aPos[iSlot]==i+k );
        heapOffer(&h, r, iSlot);
      }
    }
  }
  if( bLate ){
    /* the candidates whose slot is not live (freed since it was listed,
    ** which a refresh makes a tombstone) go now */
    i64 n = 0;
    for(i=0; i<h.n; i++) if( WANTED(p, h.a[i].iSlot) ) h.a[n++] = h.a[i];
    h.n = n;
  }
  aSlot = sqlite3_malloc64(sizeof(i64)*(u64)(h.n ? h.n : 1));
  if( aSlot==0 ) rc = SQLITE_NOMEM;
  if( rc==SQLITE_OK ){
    /* rescoring: the exact search over the candidates (each slot is
    ** current in one list only, so none comes twice) */
    for(i=0; i<h.n; i++) aSlot[i] = h.a[i].iSlot;
    qsort(aSlot, (size_t)h.n, sizeof(i64), slotCompare);
    for(i=1; i<h.n; i++) assert( aSlot[i]>aSlot[i-1] );
    s = *p;
    s.aCand = aSlot;
    s.nCand = h.n;
    rc = vsSearchRun(&s, paHit, pnHit);
  }
  sqlite3_free(h.a);
  sqlite3_free(aSlot);
  queryCodesClear(&qc);
  return rc;
}
