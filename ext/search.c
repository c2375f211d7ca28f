/*
** Exact k-nearest-neighbour search over a `vectors` table's slots.
**
**   SELECT id, distance FROM emb WHERE vec MATCH :q AND k = 10;
**   SELECT veles_threads();        -- scan threads (this connection's)
**   SELECT veles_threads(4);       -- at most 4; 0 = automatic (CPUs)
**
** vecsearch.c parses the query and the constraints, makes the slot array
** current and maps the side file; this file does the rest and knows
** nothing of SQL (but for registering veles_threads()).
**
** HOW THE SCAN WORKS
**
** The side file's slots are a dense row-major f32 matrix, mapped read-only
** (in-memory tables give their heap array). aId[slot] says which slots
** are live (id >= 0) and for which id, so the scan needs no SQLite call
** per row. It walks aId, cuts the live slots (or, with a prefilter, the
** candidate slots) into runs of consecutive slots of at most
** VS_SEARCH_CHUNK rows, and hands each run to vsDistanceBatch() (the SIMD
** kernels of distance.c), which reads the rows front to back into a
** small array of sums on the stack. Each sum becomes a rank score and
** goes through a bounded max-heap of the best nWant rows seen: a row is
** compared with the heap's worst entry and dropped at once when it is
** not better, so the heap costs nothing for most rows (l2 and dot first
** test the whole run in one vectorised pass). Ties are broken by
** id, so that the result is the same whatever the slot order or the
** number of threads. No allocation happens per row: one heap per thread
** per query.
**
** Scores. l2 ranks by the squared distance (the square root is taken for
** the nWant results only); dot ranks by -(q.x); cosine by
** 1 - q.x / (|q| |x|), with the norms |x| taken from a cache (below), so
** cosine reads the same bytes and does the same kernel work as l2. A sum
** that the f32 kernel cannot be trusted with (infinite, or below 1e-30,
** where products lose bits below the smallest normal f32 — see
** distance.c) is recomputed in double for that row, so the result is
** right to f32 rounding over the whole finite f32 range, as
** veles_distance() is; for ordinary data this never happens.
**
** Norm cache (cosine). VsNorms holds one double per slot, NaN when not
** known (a double, as the norm of finite f32 elements may exceed FLT_MAX). A cosine scan computes a missing norm right after the batch
** kernel has read the row (it is still in cache) and stores it, so the
** first cosine search after a bulk load pays about one extra in-cache
** pass and later searches none. The vectors module forgets a slot's
** norm when the slot is written and forgets them all when it rebuilds its
** slot array (another connection committed), so a norm is never stale. Computing the
** norm at write time instead would cost every INSERT a pass (and an
** aligned copy of the blob) for tables that may never be searched.
**
** Threads. A scan of at least VS_SEARCH_THREAD_BYTES bytes of vectors per
** thread is split into equal slot ranges (or candidate ranges), one per
** thread, each with its own heap; the calling thread takes the first
** range, the others run in threads created for the query and joined
** before it returns, and the heaps are merged. Threads only read the
** mapping, aId and the query, and write their own heap and the norm
** entries of their own slots. The number of threads is the setting of
** veles_threads() on the connection (kept in its VsConn, conn.c; the
** caller passes it in VsSearch.nThread): by default the online CPUs (at most
** VS_SEARCH_AUTO_MAX), and never more than one per 4 MiB scanned. A scan
** is limited by memory bandwidth; on the quiet 2-core VM this was built
** on, 2 threads answered queries faster than 1 (docs/search.md,
** "Benchmark", has the figures), while another process kept the second
** core busy they were slower: lower the setting on a loaded machine.
** A thread that cannot be created is run on the calling thread instead.
*/
#include "search.h"
#include "distance.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VS_SEARCH_CHUNK        256              /* rows per kernel call */
#define VS_SEARCH_MAX_THREADS  64               /* veles_threads() limit */
#define VS_SEARCH_AUTO_MAX     8                /* automatic: at most 8 */
#define VS_SEARCH_THREAD_BYTES ((i64)4<<20)     /* bytes per extra thread */

/* ---- norm cache ----------------------------------------------------- */

void vsNormsClear(VsNorms *p){
  sqlite3_free(p->aNorm);
  p->aNorm = 0;
  p->nAlloc = 0;
}

void vsNormsForget(VsNorms *p, i64 iSlot){
  if( iSlot>=0 && iSlot<p->nAlloc ) p->aNorm[iSlot] = NAN;
}

void vsNormsForgetAll(VsNorms *p){
  i64 i;
  for(i=0; i<p->nAlloc; i++) p->aNorm[i] = NAN;
}

/* Make room for nSlot entries; new ones are unknown. */
static int normsReserve(VsNorms *p, i64 nSlot){
  if( nSlot>p->nAlloc ){
    i64 nNew = p->nAlloc ? p->nAlloc : 1024, i;
    double *aNew;
    while( nNew<nSlot ) nNew *= 2;
    aNew = sqlite3_realloc64(p->aNorm, sizeof(double)*(u64)nNew);
    if( aNew==0 ) return SQLITE_NOMEM;
    for(i=p->nAlloc; i<nNew; i++) aNew[i] = NAN;
    p->aNorm = aNew;
    p->nAlloc = nNew;
  }
  return SQLITE_OK;
}

/* ---- bounded heap ---------------------------------------------------- */

/* The best nMax rows seen so far; a[0] is the worst of them. */
typedef struct Heap Heap;
struct Heap {
  VsSearchHit *a;
  i64 n, nMax;
};

/* x ranks after y: larger score, or the same score and a larger id. */
static int hitAfter(const VsSearchHit *x, const VsSearchHit *y){
  return x->rDist>y->rDist || (x->rDist==y->rDist && x->iId>y->iId);
}

static void heapPush(Heap *h, double rScore, i64 iId, i64 iSlot){
  VsSearchHit e;
  i64 i;
  e.rDist = rScore;
  e.iId = iId;
  e.iSlot = iSlot;
  if( h->n<h->nMax ){
    /* sift up */
    i = h->n++;
    while( i>0 ){
      i64 iParent = (i-1)/2;
      if( !hitAfter(&e, &h->a[iParent]) ) break;
      h->a[i] = h->a[iParent];
      i = iParent;
    }
    h->a[i] = e;
    return;
  }
  if( !hitAfter(&h->a[0], &e) ) return;
  /* replace the worst, sift down */
  i = 0;
  for(;;){
    i64 c = 2*i+1;
    if( c>=h->n ) break;
    if( c+1<h->n && hitAfter(&h->a[c+1], &h->a[c]) ) c++;
    if( !hitAfter(&h->a[c], &e) ) break;
    h->a[i] = h->a[c];
    i = c;
  }
  h->a[i] = e;
}

/* ---- scoring --------------------------------------------------------- */

/* One thread's share of a search. */
typedef struct Job Job;
struct Job {
  const VsSearch *p;
  double rQueryNorm;      /* cosine: |q| */
  i64 iFirst, iEnd;       /* slots (full scan) or aCand indexes */
  Heap heap;
  pthread_t tid;
  int bThread;            /* tid was started */
};

/* The score a row must beat to enter h: its worst, or +Inf if not full. */
static double heapBar(const Heap *h){
  return h->n==h->nMax ? h->a[0].rDist : HUGE_VAL;
}

/*
** 1 when no row of a run can enter the heap, so that the usual case costs
** a few passes the compiler vectorises instead of a branch per row:
** every sum is sound (finite, not tiny) and ranks beyond the bar (l2: sum
** above it; dot, ranked by -sum: -sum above it).
*/
static int runBeatsNothing(const float *aSum, i64 n, double rBar, int bDot){
  float mn = INFINITY, mx = -INFINITY, mnAbs = INFINITY;
  int bNan = 0;
  i64 i;
  for(i=0; i<n; i++){
    float x = aSum[i];
    mn = x<mn ? x : mn;
    mx = x>mx ? x : mx;
    mnAbs = fabsf(x)<mnAbs ? fabsf(x) : mnAbs;
    bNan |= x!=x;
  }
  if( bNan || !isfinite(mn) || !isfinite(mx) || !(mnAbs>=1e-30f) ) return 0;
  return bDot ? -(double)mx>rBar : (double)mn>rBar;
}

/*
** Score nRow consecutive slots from iSlot (all live, all wanted) and
** offer them to the heap. A sum the f32 kernel cannot be trusted with is
** recomputed in double for its row. A score above the heap's worst is
** dropped at once (one compare with a value held in a register);
** heapPush() would drop it too, and makes the same choice for the rest.
*/
static void scoreRun(Job *pJob, i64 iSlot, i64 nRow){
  const VsSearch *p = pJob->p;
  const int n = p->nDim;
  const float *q = p->aQuery;
  const float *aRow = p->aMatrix + iSlot*(i64)n;
  const i64 *aId = p->aId + iSlot;
  float aSum[VS_SEARCH_CHUNK];
  i64 i;
  Heap *h = &pJob->heap;
  double rBar = heapBar(h);
  if( p->eMetric==VS_METRIC_COSINE ){
    /* every row is visited: a missing norm is computed while the row is
    ** still in cache */
    double *aNorm = p->pNorms->aNorm + iSlot;
    double rQ = pJob->rQueryNorm;
    vsDistanceBatch(VS_BATCH_DOT, q, aRow, nRow, n, aSum);
    for(i=0; i<nRow; i++){
      double r;
      if( isnan(aNorm[i]) ) aNorm[i] = vsDistanceNorm(aRow+i*n, n);
      if( rQ==0.0 || aNorm[i]==0.0 ){
        r = 1.0;                                 /* no direction */
      }else{
        double c = aSum[i];
        if( !vsDistanceSumIsSound(aSum[i]) ){
          c = vsDistanceDotDouble(q, aRow+i*n, n);
        }
        c = c / (rQ*aNorm[i]);
        if( c>1.0 ) c = 1.0;
        if( c<-1.0 ) c = -1.0;
        r = 1.0 - c;
      }
      if( r>rBar ) continue;
      heapPush(h, r, aId[i], iSlot+i);
      rBar = heapBar(h);
    }
  }else{
    /* l2 ranks by the squared sum, dot by -(q.x) */
    const int bDot = p->eMetric==VS_METRIC_DOT;
    vsDistanceBatch(bDot ? VS_BATCH_DOT : VS_BATCH_L2SQUARED, q, aRow, nRow,
                    n, aSum);
    if( runBeatsNothing(aSum, nRow, rBar, bDot) ) return;
    for(i=0; i<nRow; i++){
      double r = aSum[i];
      if( !vsDistanceSumIsSound(aSum[i]) ){
        r = bDot ? vsDistanceDotDouble(q, aRow+i*n, n)
                 : vsDistanceL2SquaredDouble(q, aRow+i*n, n);
      }
      if( bDot ) r = r==0.0 ? 0.0 : -r;          /* 0.0, never -0.0 */
      if( r>rBar ) continue;
      heapPush(h, r, aId[i], iSlot+i);
      rBar = heapBar(h);
    }
  }
}

/* Is slot s live with an id in range? */
#define WANTED(p, s) ((p)->aId[s]>=(p)->iMinId && (p)->aId[s]<=(p)->iMaxId)

/* Candidate rows whose vectors are prefetched before they are scored. */
#define VS_PREFETCH_ROWS 256

static void *runJob(void *pArg){
  Job *pJob = (Job*)pArg;
  const VsSearch *p = pJob->p;
  i64 i = pJob->iFirst, iEnd = pJob->iEnd;
  if( p->aCand==0 ){
    /* every slot: runs of consecutive wanted slots */
    while( i<iEnd ){
      i64 j;
      while( i<iEnd && !WANTED(p, i) ) i++;
      for(j=i; j<iEnd && j-i<VS_SEARCH_CHUNK && WANTED(p, j); j++){}
      if( j>i ) scoreRun(pJob, i, j-i);
      i = j;
    }
  }else{
    /* candidate slots (the rescoring of an approximate search: a few
    ** rows scattered over the file, each a cache and TLB miss): every
    ** line of the first VS_PREFETCH_ROWS is asked for at once, so the
    ** misses overlap instead of coming one after the other */
    i64 nPre = iEnd-i<VS_PREFETCH_ROWS ? iEnd-i : VS_PREFETCH_ROWS, k;
    const char *aBase = (const char*)p->aMatrix;
    const i64 nRowBytes = (i64)p->nDim*4;
    for(k=0; k<nPre; k++){
      const char *a = aBase + p->aCand[i+k]*nRowBytes;
      i64 o;
      for(o=0; o<nRowBytes; o+=64) __builtin_prefetch(a+o);
    }
    while( i<iEnd ){
      i64 j = i+1;
      if( !WANTED(p, p->aCand[i]) ){
        i++;
        continue;
      }
      while( j<iEnd && j-i<VS_SEARCH_CHUNK && p->aCand[j]==p->aCand[j-1]+1
          && WANTED(p, p->aCand[j]) ){
        j++;
      }
      scoreRun(pJob, p->aCand[i], j-i);
      i = j;
    }
  }
  return 0;
}

/* ---- threads setting ------------------------------------------------- */

/* The online CPUs (see "Threads" above), 1 to VS_SEARCH_AUTO_MAX. */
static int autoThreads(void){
  /* sysconf() reads /sys on every call (three system calls, several us
  ** on a VM: the fixed cost of an indexed search); the count is read
  ** again every 4096 calls, so a CPU brought online is seen soon */
  static int nOnline = 0;
  static unsigned nCall = 0;
  int n = __atomic_load_n(&nOnline, __ATOMIC_RELAXED);
  if( n==0 || (__atomic_fetch_add(&nCall, 1, __ATOMIC_RELAXED) & 4095)==0 ){
    long m = sysconf(_SC_NPROCESSORS_ONLN);
    if( m<1 ) m = 1;
    if( m>VS_SEARCH_AUTO_MAX ) m = VS_SEARCH_AUTO_MAX;
    n = (int)m;
    __atomic_store_n(&nOnline, n, __ATOMIC_RELAXED);
  }
  return n;
}

int vsSearchThreads(int nSetting){
  return nSetting>0 ? nSetting : autoThreads();
}

/* veles_threads() / veles_threads(n): see the top of the file. */
static void threadsFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  VsConn *pConn = (VsConn*)sqlite3_user_data(ctx);
  if( argc==1 ){
    i64 n = sqlite3_value_int64(argv[0]);
    if( sqlite3_value_numeric_type(argv[0])!=SQLITE_INTEGER
     || n<0 || n>VS_SEARCH_MAX_THREADS ){
      char *z = sqlite3_mprintf("veles_threads: expected 0 (automatic) to %d "
                                "threads, got %s", VS_SEARCH_MAX_THREADS,
                                sqlite3_value_type(argv[0])==SQLITE_NULL
                                  ? "NULL" : (const char*)sqlite3_value_text(argv[0]));
      sqlite3_result_error(ctx, z ? z : "veles_threads: out of memory", -1);
      sqlite3_free(z);
      return;
    }
    vsConnSetThreads(pConn, (int)n);
  }
  sqlite3_result_int(ctx, vsSearchThreads(vsConnThreads(pConn)));
}

/* Each registration holds a reference to pConn (freed by SQLite through
** vsConnUnref, also when the registration fails). */
int vsSearchRegister(sqlite3 *db, VsConn *pConn, int bRemove){
  int rc = SQLITE_OK, nArg;
  for(nArg=0; nArg<2 && (rc==SQLITE_OK || bRemove); nArg++){
    if( bRemove ){
      rc = sqlite3_create_function(db, "veles_threads", nArg,
          SQLITE_UTF8|SQLITE_DIRECTONLY, 0, 0, 0, 0);
    }else{
      vsConnRef(pConn);
      rc = sqlite3_create_function_v2(db, "veles_threads", nArg,
          SQLITE_UTF8|SQLITE_DIRECTONLY, pConn, threadsFunc, 0, 0,
          vsConnUnref);
    }
  }
  return rc;
}

/* ---- the search ------------------------------------------------------ */

static int cmpHit(const void *a, const void *b){
  const VsSearchHit *x = a, *y = b;
  if( x->rDist<y->rDist ) return -1;
  if( x->rDist>y->rDist ) return 1;
  return x->iId<y->iId ? -1 : (x->iId>y->iId);
}

int vsSearchRun(const VsSearch *p, VsSearchHit **paHit, i64 *pnHit){
  Job *aJob = 0;
  VsSearchHit *aAll = 0;
  i64 nItem = p->aCand ? p->nCand : p->nSlot;
  i64 nBytes = nItem*(i64)p->nDim*4, nAll = 0, i;
  int nJob = vsSearchThreads(p->nThread), j, rc = SQLITE_OK;
  double rQueryNorm = 0;

  *paHit = 0;
  *pnHit = 0;
  if( nItem<=0 || p->nWant<=0 ) return SQLITE_OK;
  if( p->eMetric==VS_METRIC_COSINE ){
    rc = normsReserve(p->pNorms, p->nSlot);
    if( rc ) return rc;
    rQueryNorm = vsDistanceNorm(p->aQuery, p->nDim);
  }
  if( nJob>1 && nBytes/VS_SEARCH_THREAD_BYTES<nJob ){
    nJob = (int)(nBytes/VS_SEARCH_THREAD_BYTES);
  }
  if( nJob<1 ) nJob = 1;
  aJob = sqlite3_malloc64(sizeof(Job)*(u64)nJob);
  if( aJob==0 ) return SQLITE_NOMEM;
  memset(aJob, 0, sizeof(Job)*(u64)nJob);
  for(j=0; j<nJob && rc==SQLITE_OK; j++){
    Job *pJob = &aJob[j];
    pJob->p = p;
    pJob->rQueryNorm = rQueryNorm;
    pJob->iFirst = nItem*j/nJob;
    pJob->iEnd = nItem*(j+1)/nJob;
    pJob->heap.nMax = p->nWant<pJob->iEnd-pJob->iFirst
                    ? p->nWant : pJob->iEnd-pJob->iFirst;
    pJob->heap.a = sqlite3_malloc64(sizeof(VsSearchHit)
                                    *(u64)(pJob->heap.nMax+1));
    if( pJob->heap.a==0 ) rc = SQLITE_NOMEM;
  }
  if( rc==SQLITE_OK ){
    for(j=1; j<nJob; j++){
      aJob[j].bThread = pthread_create(&aJob[j].tid, 0, runJob, &aJob[j])==0;
    }
    runJob(&aJob[0]);
    for(j=1; j<nJob; j++){
      if( aJob[j].bThread ){
        pthread_join(aJob[j].tid, 0);
      }else{
        runJob(&aJob[j]);
      }
    }
    /* merge the heaps */
    for(j=0; j<nJob; j++) nAll += aJob[j].heap.n;
    aAll = sqlite3_malloc64(sizeof(VsSearchHit)*(u64)(nAll+1));
    if( aAll==0 ) rc = SQLITE_NOMEM;
  }
  if( rc==SQLITE_OK ){
    nAll = 0;
    for(j=0; j<nJob; j++){
      memcpy(&aAll[nAll], aJob[j].heap.a, sizeof(VsSearchHit)*aJob[j].heap.n);
      nAll += aJob[j].heap.n;
    }
    qsort(aAll, (size_t)nAll, sizeof(VsSearchHit), cmpHit);
    if( nAll>p->nWant ) nAll = p->nWant;
    if( p->eMetric==VS_METRIC_L2 ){
      for(i=0; i<nAll; i++) aAll[i].rDist = sqrt(aAll[i].rDist);
    }
    *paHit = aAll;
    *pnHit = nAll;
  }
  for(j=0; j<nJob; j++) sqlite3_free(aJob[j].heap.a);
  sqlite3_free(aJob);
  return rc;
}
