/*
** The inverted-file (IVF) index: a search that scans only the rows near
** its query.
**
**   SELECT id, distance FROM emb
**    WHERE vec MATCH ?1 AND k = 10 AND probe = 16 [AND rescore = 4];
**
** THE INDEX. The table's rows are split among nList centroids (k-means,
** about sqrt(rows) of them); each row belongs to the list of its nearest
** centroid. A search ranks the centroids by their distance to the query
** and scans the rows of the nProbe nearest lists only, by their int8
** codes, which each list keeps contiguous; the nWant * R best are rescored
** from the f32 vectors (quant.c; R is `rescore`, VS_PROBE_RESCORE when not
** given). The rows and distances returned are always exact; which rows
** are considered is approximate, so recall, not correctness, depends on
** the index. "Nearest" is by squared l2 for the
** l2 and dot metrics and by the dot product with unit centroids for
** cosine (spherical k-means).
**
** BUILD. When a search first asks for it (at least VS_IVF_MIN_ROWS rows)
** and there is no stored index to adopt (ivfstore.c), or at 'optimize'
** (vsIvfBuild): a sample of IVF_SAMPLE rows per centroid, spread evenly
** over the slots, IVF_ROUNDS rounds of Lloyd's iteration from centroids
** picked among the sample, then every live slot assigned. Built again
** when the rows assigned since outnumber those of the build (the lists
** would no longer fit the data). ADOPT (vsIvfAdopt): the centroids and
** lists of a stored build, each slot's list kept while its vector has the
** hash stored with it, every other live slot assigned afresh.
**
** DERIVED DATA, per connection and table, under the rule of the codes and
** norms: which slots are live and their ids come from the search's slot
** array, so a search sees exactly the rows of its snapshot, whatever the
** index holds. A written slot is forgotten (its list entry no longer
** counts) and assigned again at the next search. When any slot may have
** changed (the slot array rebuilt after another connection's commit, a
** rebuild, a compaction), every live slot's vector is hashed and compared
** with the hash it was assigned by: only the slots that differ are
** assigned again, so a commit elsewhere costs a read of the vectors, not
** a build.
*/
#include "ivf.h"
#include "quant.h"
#include "distance.h"
#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#define IVF_SAMPLE 24           /* training rows per centroid, at most */
#define IVF_ROUNDS 8            /* Lloyd iterations */
#define IVF_THREAD_WORK ((i64)1<<24)  /* distance terms per extra thread */
#define IVF_POLL_ROWS 16384     /* rows assigned between two xStop calls */

#define LIVE(p, s) ((p)->aId[s]>=0)

/* aListOf values besides a list */
#define IVF_NONE    (-1)        /* in no list (free when last looked at) */
#define IVF_PENDING (-2)        /* written: in aDirty until assigned */

void vsIvfClear(VsIvf *p){
  int i;
  for(i=0; p->aList && i<p->nList; i++){
    sqlite3_free(p->aList[i].aSlot);
    sqlite3_free(p->aList[i].aCode);
    sqlite3_free(p->aList[i].aScale);
    sqlite3_free(p->aList[i].aSq);
  }
  sqlite3_free(p->aList);
  sqlite3_free(p->aCentroid);
  sqlite3_free(p->aCentCode);
  sqlite3_free(p->aCentScale);
  sqlite3_free(p->aCentSq);
  sqlite3_free(p->aListOf);
  sqlite3_free(p->aPos);
  sqlite3_free(p->aHash);
  sqlite3_free(p->aDirty);
  {
    int (*xStop)(void*) = p->xStop;       /* the caller's, kept */
    void *pStopArg = p->pStopArg;
    void (*xProgress)(void*, const char*, i64, i64) = p->xProgress;
    void *pProgressArg = p->pProgressArg;
    memset(p, 0, sizeof(*p));
    p->xStop = xStop;
    p->pStopArg = pStopArg;
    p->xProgress = xProgress;
    p->pProgressArg = pProgressArg;
  }
}

/* Take slot s out of its list, if it is in one: its row there becomes a
** tombstone (slot -1), which scans skip without looking the slot up. */
static void unlist(VsIvf *p, i64 s){
  if( s<p->nAlloc && p->aListOf[s]>=0 ){
    VsIvfList *pL = &p->aList[p->aListOf[s]];
    i64 i = p->aPos[s];
    assert( i>=0 && i<pL->n && pL->aSlot[i]==s );
    pL->aSlot[i] = -1;
    p->aPos[s] = -1;
    p->aListOf[s] = IVF_NONE;
  }
}

/* Note slot s as pending: written, not in a list until a search finds it
** live (it may become live without another write: a rollback restores a
** slot the transaction wrote before its savepoint). */
static void pend(VsIvf *p, i64 s){
  if( s<p->nAlloc ){
    if( p->aListOf[s]==IVF_PENDING ) return;    /* listed already */
    unlist(p, s);
    p->aListOf[s] = IVF_PENDING;
  }
  if( p->nDirty>=p->nDirtyAlloc ){
    i64 nNew = p->nDirtyAlloc ? p->nDirtyAlloc*2 : 256;
    i64 *aNew = sqlite3_realloc64(p->aDirty, sizeof(i64)*(u64)nNew);
    if( aNew==0 ){
      p->bVerify = 1;             /* out of memory: look at every slot */
      return;
    }
    p->aDirty = aNew;
    p->nDirtyAlloc = nNew;
  }
  p->aDirty[p->nDirty++] = s;
}

void vsIvfForget(VsIvf *p, i64 iSlot){
  if( p->nList==0 || iSlot<0 ) return;          /* not built */
  pend(p, iSlot);
}

void vsIvfForgetAll(VsIvf *p){
  if( p->nList>0 ) p->bVerify = 1;
}

/* A hash of slot s's vector, to tell whether it changed. */
static u64 vectorHash(const VsSearch *p, i64 s){
  const unsigned char *a = (const unsigned char*)(p->aMatrix + s*p->nDim);
  size_t n = (size_t)p->nDim*4, i;
  u64 h = 0x9e3779b97f4a7c15ULL;
  for(i=0; i+8<=n; i+=8){
    u64 w;
    memcpy(&w, a+i, 8);
    h = (h ^ w)*0xff51afd7ed558ccdULL;
    h ^= h>>32;
  }
  for(; i<n; i++) h = (h ^ a[i])*0x100000001b3ULL;
  return h;
}

/* Scratch for one list ranking: nList floats. */
static int nearestList(const VsIvf *pIvf, const float *x, float *aTmp){
  int i, iBest = 0;
  if( pIvf->eMetric==VS_METRIC_COSINE ){
    vsDistanceBatch(VS_BATCH_DOT, x, pIvf->aCentroid, pIvf->nList,
                    pIvf->nDim, aTmp);
    for(i=1; i<pIvf->nList; i++) if( aTmp[i]>aTmp[iBest] ) iBest = i;
  }else{
    vsDistanceBatch(VS_BATCH_L2SQUARED, x, pIvf->aCentroid, pIvf->nList,
                    pIvf->nDim, aTmp);
    for(i=1; i<pIvf->nList; i++) if( aTmp[i]<aTmp[iBest] ) iBest = i;
  }
  return iBest;
}

/* One thread's share of nearestAll(): rows iFirst..iEnd-1. */
typedef struct NearJob NearJob;
struct NearJob {
  const VsIvf *pIvf;
  const VsSearch *p;
  const i64 *aSlot;       /* the rows' slots */
  int *aOut;              /* their nearest lists */
  i64 iFirst, iEnd;
  float *aTmp;            /* nList floats */
  pthread_t tid;
  int bThread;            /* tid is a thread to join */
};

static void *nearJob(void *pArg){
  NearJob *pJob = (NearJob*)pArg;
  i64 i;
  for(i=pJob->iFirst; i<pJob->iEnd; i++){
    pJob->aOut[i] = nearestList(pJob->pIvf,
        pJob->p->aMatrix + pJob->aSlot[i]*pJob->p->nDim, pJob->aTmp);
  }
  return 0;
}

/* nearestAll() of rows 0..n-1, at once. */
static int nearestRun(const VsIvf *pIvf, const VsSearch *p,
                      const i64 *aSlot, i64 n, int *aOut){
  int nJob = vsSearchThreads(p->nThread), j, rc = SQLITE_OK;
  i64 nWork = n*(i64)pIvf->nList*p->nDim;
  NearJob *aJob;
  if( nJob>1 && nWork/IVF_THREAD_WORK<nJob ) nJob = (int)(nWork/IVF_THREAD_WORK);
  if( nJob<1 ) nJob = 1;
  aJob = sqlite3_malloc64(sizeof(NearJob)*(u64)nJob);
  if( aJob==0 ) return SQLITE_NOMEM;
  memset(aJob, 0, sizeof(NearJob)*(size_t)nJob);
  for(j=0; j<nJob; j++){
    aJob[j].pIvf = pIvf;
    aJob[j].p = p;
    aJob[j].aSlot = aSlot;
    aJob[j].aOut = aOut;
    aJob[j].iFirst = n*j/nJob;
    aJob[j].iEnd = n*(j+1)/nJob;
    aJob[j].aTmp = sqlite3_malloc64(sizeof(float)*(u64)pIvf->nList);
    if( aJob[j].aTmp==0 ) rc = SQLITE_NOMEM;
  }
  if( rc==SQLITE_OK ){
    for(j=1; j<nJob; j++){
      aJob[j].bThread = pthread_create(&aJob[j].tid, 0, nearJob, &aJob[j])==0;
    }
    nearJob(&aJob[0]);
    for(j=1; j<nJob; j++){
      if( aJob[j].bThread ) pthread_join(aJob[j].tid, 0);
      else nearJob(&aJob[j]);
    }
  }
  for(j=0; j<nJob; j++) sqlite3_free(aJob[j].aTmp);
  sqlite3_free(aJob);
  return rc;
}

/* Count n more rows of the long work under way (nWorkDone of nWorkTotal)
** and tell the caller's xProgress. */
static void progress(VsIvf *pIvf, i64 n){
  pIvf->nWorkDone += n;
  if( pIvf->nWorkDone>pIvf->nWorkTotal ) pIvf->nWorkTotal = pIvf->nWorkDone;
  if( pIvf->xProgress ){
    pIvf->xProgress(pIvf->pProgressArg, pIvf->zWork, pIvf->nWorkDone,
                    pIvf->nWorkTotal);
  }
}

/* Start counting long work zWork of nTotal row steps. */
static void progressStart(VsIvf *pIvf, const char *zWork, i64 nTotal){
  pIvf->zWork = zWork;
  pIvf->nWorkDone = 0;
  pIvf->nWorkTotal = nTotal;
  if( pIvf->xProgress ) pIvf->xProgress(pIvf->pProgressArg, zWork, 0, nTotal);
}

/* aOut[i] = the nearest list of slot aSlot[i], for i < n, on the scan
** threads the search may use (veles_threads) when the work is large. The
** threads only read the index and the vectors and write their own part of
** aOut. Every IVF_POLL_ROWS rows the caller's xStop is asked whether to
** stop (sqlite3_interrupt): SQLITE_INTERRUPT then. */
static int nearestAll(VsIvf *pIvf, const VsSearch *p,
                      const i64 *aSlot, i64 n, int *aOut){
  i64 i;
  int rc = SQLITE_OK;
  for(i=0; rc==SQLITE_OK && i<n; i+=IVF_POLL_ROWS){
    i64 m = n-i<IVF_POLL_ROWS ? n-i : IVF_POLL_ROWS;
    rc = nearestRun(pIvf, p, aSlot+i, m, aOut+i);
    progress(pIvf, m);
    if( rc==SQLITE_OK && pIvf->xStop && pIvf->xStop(pIvf->pStopArg) ){
      rc = SQLITE_INTERRUPT;
    }
  }
  return rc;
}

/* Room for slots 0..nSlot-1 in aListOf and aHash (new ones unassigned). */
static int reserveSlots(VsIvf *p, i64 nSlot){
  i64 n = p->nAlloc ? p->nAlloc : 1024, i;
  int *aListOf;
  i64 *aPos;
  u64 *aHash;
  if( nSlot<=p->nAlloc ) return SQLITE_OK;
  while( n<nSlot ) n *= 2;
  aListOf = sqlite3_realloc64(p->aListOf, sizeof(int)*(u64)n);
  if( aListOf==0 ) return SQLITE_NOMEM;
  p->aListOf = aListOf;
  aPos = sqlite3_realloc64(p->aPos, sizeof(i64)*(u64)n);
  if( aPos==0 ) return SQLITE_NOMEM;
  p->aPos = aPos;
  aHash = sqlite3_realloc64(p->aHash, sizeof(u64)*(u64)n);
  if( aHash==0 ) return SQLITE_NOMEM;
  p->aHash = aHash;
  for(i=p->nAlloc; i<n; i++){
    p->aListOf[i] = IVF_NONE;
    p->aPos[i] = -1;
  }
  p->nAlloc = n;
  return SQLITE_OK;
}

/* Room for one more row in list pL. */
static int listGrow(VsIvfList *pL, int nDim){
  i64 nNew = pL->nAlloc ? pL->nAlloc*2 : 64;
  i64 *aSlot;
  signed char *aCode;
  double *aScale, *aSq;
  if( pL->n<pL->nAlloc ) return SQLITE_OK;
  aSlot = sqlite3_realloc64(pL->aSlot, sizeof(i64)*(u64)nNew);
  if( aSlot==0 ) return SQLITE_NOMEM;
  pL->aSlot = aSlot;
  aCode = sqlite3_realloc64(pL->aCode, (u64)nNew*(u64)nDim);
  if( aCode==0 ) return SQLITE_NOMEM;
  pL->aCode = aCode;
  aScale = sqlite3_realloc64(pL->aScale, sizeof(double)*(u64)nNew);
  if( aScale==0 ) return SQLITE_NOMEM;
  pL->aScale = aScale;
  aSq = sqlite3_realloc64(pL->aSq, sizeof(double)*(u64)nNew);
  if( aSq==0 ) return SQLITE_NOMEM;
  pL->aSq = aSq;
  pL->nAlloc = nNew;
  return SQLITE_OK;
}

/* Put live slot s into list c, with its codes; h is the hash of its
** vector (vectorHash). */
static int assignHashed(VsIvf *pIvf, const VsSearch *p, i64 s, int c, u64 h){
  const float *x = p->aMatrix + s*p->nDim;
  VsIvfList *pL = &pIvf->aList[c];
  int rc = listGrow(pL, p->nDim);
  assert( s>=0 && s<pIvf->nAlloc && LIVE(p, s) );
  if( rc ) return rc;
  unlist(pIvf, s);                  /* a row it had before is dead now */
  vsCodesEncode(x, p->nDim, pL->aCode + pL->n*p->nDim, &pL->aScale[pL->n],
                &pL->aSq[pL->n]);
  pIvf->aPos[s] = pL->n;
  pL->aSlot[pL->n++] = s;
  pIvf->aListOf[s] = c;
  pIvf->aHash[s] = h;
  return SQLITE_OK;
}

static int assignTo(VsIvf *pIvf, const VsSearch *p, i64 s, int c){
  return assignHashed(pIvf, p, s, c, vectorHash(p, s));
}

/* One thread's share of work over slots iFirst..iEnd-1. */
typedef struct Part Part;
struct Part {
  VsIvf *pIvf;
  const VsSearch *p;
  i64 iFirst, iEnd;
  int bHash;              /* encodePart: compute the hashes too */
  pthread_t tid;
  int bThread;            /* tid is a thread to join */
};

/* Hash the live slots iFirst..iEnd-1 into pIvf->aHash. */
static void *hashPart(void *pArg){
  Part *pPart = (Part*)pArg;
  i64 s;
  for(s=pPart->iFirst; s<pPart->iEnd; s++){
    if( LIVE(pPart->p, s) ) pPart->pIvf->aHash[s] = vectorHash(pPart->p, s);
  }
  return 0;
}

/* Encode the rows of slots iFirst..iEnd-1 that fillLists placed, in slot
** order (the vectors are read front to back; each code goes to its
** list's row). Each slot has one row, so the threads write disjoint
** rows and hashes. */
static void *encodePart(void *pArg){
  Part *pPart = (Part*)pArg;
  const VsSearch *p = pPart->p;
  VsIvf *pIvf = pPart->pIvf;
  i64 s;
  for(s=pPart->iFirst; s<pPart->iEnd; s++){
    VsIvfList *pL;
    i64 i;
    if( !LIVE(p, s) || pIvf->aListOf[s]<0 ) continue;
    pL = &pIvf->aList[pIvf->aListOf[s]];
    i = pIvf->aPos[s];
    assert( i>=0 && i<pL->n && pL->aSlot[i]==s );
    vsCodesEncode(p->aMatrix + s*p->nDim, p->nDim, pL->aCode + i*p->nDim,
                  &pL->aScale[i], &pL->aSq[i]);
    if( pPart->bHash ) pIvf->aHash[s] = vectorHash(p, s);
  }
  return 0;
}

/* Run xPart over slots 0..n-1, in shares on up to the search's scan
** threads (nWork: the work, to decide whether threads pay). */
static int runParts(VsIvf *pIvf, const VsSearch *p, i64 n, i64 nWork,
                    int bHash, void *(*xPart)(void*)){
  int nJob = vsSearchThreads(p->nThread), j;
  Part *aPart;
  if( nJob>1 && nWork/IVF_THREAD_WORK<nJob ) nJob = (int)(nWork/IVF_THREAD_WORK);
  if( nJob<1 ) nJob = 1;
  aPart = sqlite3_malloc64(sizeof(Part)*(u64)nJob);
  if( aPart==0 ) return SQLITE_NOMEM;
  memset(aPart, 0, sizeof(Part)*(size_t)nJob);
  for(j=0; j<nJob; j++){
    aPart[j].pIvf = pIvf;
    aPart[j].p = p;
    aPart[j].iFirst = n*j/nJob;
    aPart[j].iEnd = n*(j+1)/nJob;
    aPart[j].bHash = bHash;
  }
  for(j=1; j<nJob; j++){
    aPart[j].bThread = pthread_create(&aPart[j].tid, 0, xPart, &aPart[j])==0;
  }
  xPart(&aPart[0]);
  for(j=1; j<nJob; j++){
    if( aPart[j].bThread ) pthread_join(aPart[j].tid, 0);
    else xPart(&aPart[j]);
  }
  sqlite3_free(aPart);
  return SQLITE_OK;
}

/* Put the live slots aSlot[0..n-1] into the (empty) lists aList[i], each
** list sized once, and encode them on the threads. The hashes are
** computed too unless bHashed (aHash holds them already). */
static int fillLists(VsIvf *pIvf, const VsSearch *p, const i64 *aSlot,
                     const int *aList, i64 n, int bHashed){
  i64 *aCount = sqlite3_malloc64(sizeof(i64)*(u64)pIvf->nList), i;
  int c, rc = SQLITE_OK;
  if( aCount==0 ) return SQLITE_NOMEM;
  memset(aCount, 0, sizeof(i64)*(size_t)pIvf->nList);
  for(i=0; i<n; i++) aCount[aList[i]]++;
  for(c=0; rc==SQLITE_OK && c<pIvf->nList; c++){
    VsIvfList *pL = &pIvf->aList[c];
    i64 m = aCount[c]>0 ? aCount[c] : 1;
    assert( pL->n==0 && pL->nAlloc==0 );
    pL->aSlot = sqlite3_malloc64(sizeof(i64)*(u64)m);
    pL->aCode = sqlite3_malloc64((u64)m*(u64)p->nDim);
    pL->aScale = sqlite3_malloc64(sizeof(double)*(u64)m);
    pL->aSq = sqlite3_malloc64(sizeof(double)*(u64)m);
    if( pL->aSlot==0 || pL->aCode==0 || pL->aScale==0 || pL->aSq==0 ){
      rc = SQLITE_NOMEM;        /* vsIvfClear frees what was made */
    }
    pL->nAlloc = m;
  }
  sqlite3_free(aCount);
  if( rc ) return rc;
  for(i=0; i<n; i++){
    i64 s = aSlot[i];
    VsIvfList *pL = &pIvf->aList[aList[i]];
    assert( s>=0 && s<pIvf->nAlloc && LIVE(p, s) );
    pIvf->aPos[s] = pL->n;
    pIvf->aListOf[s] = aList[i];
    pL->aSlot[pL->n++] = s;
  }
  rc = runParts(pIvf, p, p->nSlot, n*(i64)p->nDim, !bHashed, encodePart);
  if( rc==SQLITE_OK ) progress(pIvf, n);
  return rc;
}

/* k-means over the sample aSample[0..nSample-1] (slots): pIvf->aCentroid. */
static int train(VsIvf *pIvf, const VsSearch *p, const i64 *aSample,
                 i64 nSample){
  int nList = pIvf->nList, nDim = p->nDim, r, c, j, rc = SQLITE_OK;
  double *aSum = sqlite3_malloc64(sizeof(double)*(u64)nList*(u64)nDim);
  i64 *aCount = sqlite3_malloc64(sizeof(i64)*(u64)nList), i;
  int *aNear = sqlite3_malloc64(sizeof(int)*(u64)nSample);
  if( aSum==0 || aCount==0 || aNear==0 ){
    sqlite3_free(aSum);
    sqlite3_free(aCount);
    sqlite3_free(aNear);
    return SQLITE_NOMEM;
  }
  for(c=0; c<nList; c++){
    memcpy(&pIvf->aCentroid[(i64)c*nDim],
           p->aMatrix + aSample[(i64)c*nSample/nList]*nDim,
           sizeof(float)*(size_t)nDim);
  }
  for(r=0; r<=IVF_ROUNDS; r++){
    /* normalise (cosine), then one round: assign the sample, take means */
    if( pIvf->eMetric==VS_METRIC_COSINE ){
      for(c=0; c<nList; c++){
        float *a = &pIvf->aCentroid[(i64)c*nDim];
        double rNorm = vsDistanceNorm(a, nDim);
        if( rNorm>0 ) for(j=0; j<nDim; j++) a[j] = (float)(a[j]/rNorm);
      }
    }
    if( r==IVF_ROUNDS ) break;
    memset(aSum, 0, sizeof(double)*(size_t)nList*(size_t)nDim);
    memset(aCount, 0, sizeof(i64)*(size_t)nList);
    rc = nearestAll(pIvf, p, aSample, nSample, aNear);
    if( rc ) break;
    for(i=0; i<nSample; i++){
      const float *x = p->aMatrix + aSample[i]*nDim;
      double *pSum;
      c = aNear[i];
      pSum = &aSum[(i64)c*nDim];
      for(j=0; j<nDim; j++) pSum[j] += x[j];
      aCount[c]++;
    }
    for(c=0; c<nList; c++){
      float *a = &pIvf->aCentroid[(i64)c*nDim];
      if( aCount[c]==0 ){
        /* an empty list restarts at a sample row */
        memcpy(a, p->aMatrix + aSample[((i64)c*7919 + r)%nSample]*nDim,
               sizeof(float)*(size_t)nDim);
        continue;
      }
      for(j=0; j<nDim; j++) a[j] = (float)(aSum[(i64)c*nDim+j]/aCount[c]);
    }
  }
  sqlite3_free(aSum);
  sqlite3_free(aCount);
  sqlite3_free(aNear);
  return rc;
}

int vsIvfListCount(i64 nLive){
  double r = sqrt((double)(nLive>0 ? nLive : 0));
  return r<16 ? 16 : r>VS_IVF_LISTS_MAX ? VS_IVF_LISTS_MAX : (int)r;
}

/* Build the index over the live slots of p. */
static int build(VsIvf *pIvf, const VsSearch *p, i64 nLive){
  i64 nSample, i, s, k;
  i64 *aSample, *aLive = 0;
  int *aNear = 0;
  int nList = vsIvfListCount(nLive), rc = SQLITE_OK;
  vsIvfClear(pIvf);
  nSample = (i64)nList*IVF_SAMPLE;
  if( nSample>nLive ) nSample = nLive;
  progressStart(pIvf, "build", nSample*IVF_ROUNDS + 2*nLive);
  pIvf->nDim = p->nDim;
  pIvf->eMetric = p->eMetric;
  pIvf->nList = nList;
  pIvf->aCentroid = sqlite3_malloc64(sizeof(float)*(u64)nList*(u64)p->nDim);
  pIvf->aList = sqlite3_malloc64(sizeof(VsIvfList)*(u64)nList);
  aSample = sqlite3_malloc64(sizeof(i64)*(u64)nSample);
  if( pIvf->aList ) memset(pIvf->aList, 0, sizeof(VsIvfList)*(size_t)nList);
  if( pIvf->aCentroid==0 || pIvf->aList==0 || aSample==0 ){
    rc = SQLITE_NOMEM;
  }else{
    rc = reserveSlots(pIvf, p->nSlot);
  }
  if( rc==SQLITE_OK ){
    /* every (nLive / nSample)-th live slot */
    for(s=0, i=0, k=0; s<p->nSlot && k<nSample; s++){
      if( !LIVE(p, s) ) continue;
      if( i*nSample/nLive==k ) aSample[k++] = s;
      i++;
    }
    nSample = k;
    assert( nSample>0 );
    rc = train(pIvf, p, aSample, nSample);
  }
  if( rc==SQLITE_OK ){
    /* every live slot: the nearest lists on the threads, then in order */
    aLive = sqlite3_malloc64(sizeof(i64)*(u64)nLive);
    aNear = sqlite3_malloc64(sizeof(int)*(u64)nLive);
    if( aLive==0 || aNear==0 ) rc = SQLITE_NOMEM;
  }
  if( rc==SQLITE_OK ){
    for(s=0, k=0; s<p->nSlot && k<nLive; s++){
      if( LIVE(p, s) ) aLive[k++] = s;
    }
    assert( k==nLive );
    rc = nearestAll(pIvf, p, aLive, nLive, aNear);
  }
  if( rc==SQLITE_OK ) rc = fillLists(pIvf, p, aLive, aNear, nLive, 0);
  sqlite3_free(aSample);
  sqlite3_free(aLive);
  sqlite3_free(aNear);
  if( rc ){
    vsIvfClear(pIvf);
    return rc;
  }
  pIvf->nBuilt = nLive;
  return SQLITE_OK;
}

/* Assign the pending slots that are live now; those that are not stay
** pending. After vsIvfForgetAll, every live slot whose vector is not the
** one it was assigned by. */
static int refresh(VsIvf *pIvf, const VsSearch *p){
  i64 *aTodo, nTodo = 0, i, s, nKeep = 0;
  int *aNear;
  int rc = reserveSlots(pIvf, p->nSlot);
  if( rc ) return rc;
  if( pIvf->nDirty==0 && !pIvf->bVerify ) return SQLITE_OK;
  for(i=0; i<pIvf->nDirty; i++){
    /* mark what the list holds (entries past the arrays were not) */
    s = pIvf->aDirty[i];
    if( s<pIvf->nAlloc && pIvf->aListOf[s]<0 ) pIvf->aListOf[s] = IVF_PENDING;
  }
  aTodo = sqlite3_malloc64(sizeof(i64)*(u64)(pIvf->bVerify ? p->nSlot+1
                                                           : pIvf->nDirty));
  if( aTodo==0 ) return SQLITE_NOMEM;
  if( pIvf->bVerify ){
    /* the pending slots past the slots searched stay; the others are
    ** looked at here, with every slot */
    for(i=0; i<pIvf->nDirty; i++){
      if( pIvf->aDirty[i]>=p->nSlot ) pIvf->aDirty[nKeep++] = pIvf->aDirty[i];
    }
    pIvf->nDirty = nKeep;
    for(s=0; s<p->nSlot; s++){
      if( !LIVE(p, s) ){
        if( pIvf->aListOf[s]==IVF_PENDING ){
          pIvf->aListOf[s] = IVF_NONE;
          pend(pIvf, s);
        }else{
          unlist(pIvf, s);      /* freed elsewhere: a tombstone too */
        }
      }else if( pIvf->aListOf[s]<0 || pIvf->aHash[s]!=vectorHash(p, s) ){
        aTodo[nTodo++] = s;
      }
    }
  }else{
    for(i=0; i<pIvf->nDirty; i++){
      s = pIvf->aDirty[i];
      if( s>=p->nSlot || !LIVE(p, s) ){
        pIvf->aDirty[nKeep++] = s;              /* still pending */
      }else if( pIvf->aListOf[s]==IVF_PENDING ){
        pIvf->aListOf[s] = IVF_NONE;            /* taken once */
        aTodo[nTodo++] = s;
      }
    }
    pIvf->nDirty = nKeep;
  }
  aNear = sqlite3_malloc64(sizeof(int)*(u64)(nTodo ? nTodo : 1));
  if( aNear==0 ) rc = SQLITE_NOMEM;
  if( nTodo>0 ) progressStart(pIvf, "refresh", nTodo);
  if( rc==SQLITE_OK ) rc = nearestAll(pIvf, p, aTodo, nTodo, aNear);
  for(i=0; rc==SQLITE_OK && i<nTodo; i++){
    rc = assignTo(pIvf, p, aTodo[i], aNear[i]);
  }
  if( rc ){
    /* what is not assigned yet: every slot is looked at next time */
    pIvf->bVerify = 1;
  }else{
    pIvf->bVerify = 0;
    pIvf->nAdded += nTodo;
  }
  sqlite3_free(aTodo);
  sqlite3_free(aNear);
  return rc;
}

/* aOut[0..nPick-1] = the nPick of items aItem[0..n-1] (0..n-1 when aItem
** is 0) with the smallest aScore[item], nearest first (insertion: nPick
** is small beside n). Returns how many were picked. */
static int pickSmallest(const double *aScore, const int *aItem, int n,
                        int nPick, int *aOut){
  int i, j, m = 0;
  for(i=0; i<n; i++){
    int c = aItem ? aItem[i] : i;
    if( m==nPick && !(aScore[c]<aScore[aOut[m-1]]) ) continue;
    j = m<nPick ? m++ : m-1;
    while( j>0 && aScore[aOut[j-1]]>aScore[c] ){
      aOut[j] = aOut[j-1];
      j--;
    }
    aOut[j] = c;
  }
  return m;
}

/* The int8 codes of the centroids, made once per build or load. */
static int centroidCodes(VsIvf *pIvf){
  int c, nDim = pIvf->nDim;
  if( pIvf->aCentCode ) return SQLITE_OK;
  pIvf->aCentCode = sqlite3_malloc64((u64)pIvf->nList*(u64)nDim);
  pIvf->aCentScale = sqlite3_malloc64(sizeof(double)*(u64)pIvf->nList);
  pIvf->aCentSq = sqlite3_malloc64(sizeof(double)*(u64)pIvf->nList);
  if( pIvf->aCentCode==0 || pIvf->aCentScale==0 || pIvf->aCentSq==0 ){
    sqlite3_free(pIvf->aCentCode);
    sqlite3_free(pIvf->aCentScale);
    sqlite3_free(pIvf->aCentSq);
    pIvf->aCentCode = 0;
    pIvf->aCentScale = pIvf->aCentSq = 0;
    return SQLITE_NOMEM;
  }
  for(c=0; c<pIvf->nList; c++){
    vsCodesEncode(&pIvf->aCentroid[(i64)c*nDim], nDim,
                  &pIvf->aCentCode[(i64)c*nDim], &pIvf->aCentScale[c],
                  &pIvf->aCentSq[c]);
  }
  return SQLITE_OK;
}

/*
** aPick[0..nProbe-1] = the lists whose centroids are nearest the query,
** nearest first (squared l2; for cosine the largest dot product with the
** unit centroids). With many lists the centroids are ranked by their
** codes first, as rows are, and only the IVF_RANK_SHORT(nProbe) best of
** that ranking by the f32 centroids: the int8 ranking errs by far less
** than the gap that many places make, and it reads a quarter of the
** bytes (with VNNI, a fraction of the work).
*/
#define IVF_RANK_SHORT(n) (2*(n)+16)
static int pickLists(VsIvf *pIvf, const VsSearch *p, int nProbe,
                     int *aPick){
  int nList = pIvf->nList, nShort = IVF_RANK_SHORT(nProbe), c, i, rc;
  int eRank = pIvf->eMetric==VS_METRIC_COSINE ? VS_METRIC_COSINE
                                                : VS_METRIC_L2;
  double *aScore = sqlite3_malloc64(sizeof(double)*(u64)nList);
  int *aShort = 0;
  if( aScore==0 ) return SQLITE_NOMEM;
  if( 2*nShort<nList && centroidCodes(pIvf)==SQLITE_OK
   && (aShort = sqlite3_malloc64(sizeof(int)*(u64)nShort))!=0 ){
    rc = vsQuantScoreRows(p->aQuery, p->nDim, eRank, pIvf->aCentCode,
                          pIvf->aCentScale, pIvf->aCentSq, nList, aScore);
    if( rc==SQLITE_OK ){
      nShort = pickSmallest(aScore, 0, nList, nShort, aShort);
      for(i=0; i<nShort; i++){
        const float *x = &pIvf->aCentroid[(i64)aShort[i]*p->nDim];
        c = aShort[i];
        aScore[c] = eRank==VS_METRIC_COSINE
                  ? -(double)vsDistanceDotProduct(p->aQuery, x, p->nDim)
                  : (double)vsDistanceL2Squared(p->aQuery, x, p->nDim);
      }
      pickSmallest(aScore, aShort, nShort, nProbe, aPick);
    }
    sqlite3_free(aShort);
    sqlite3_free(aScore);
    return rc;
  }
  {
    /* few lists (or no memory for the codes): every centroid exactly */
    float *aTmp = sqlite3_malloc64(sizeof(float)*(u64)nList);
    if( aTmp==0 ){
      sqlite3_free(aScore);
      return SQLITE_NOMEM;
    }
    vsDistanceBatch(eRank==VS_METRIC_COSINE ? VS_BATCH_DOT
                                            : VS_BATCH_L2SQUARED,
                    p->aQuery, pIvf->aCentroid, nList, p->nDim, aTmp);
    for(c=0; c<nList; c++){
      aScore[c] = eRank==VS_METRIC_COSINE ? -(double)aTmp[c] : aTmp[c];
    }
    sqlite3_free(aTmp);
  }
  c = pickSmallest(aScore, 0, nList, nProbe, aPick);
  assert( c==nProbe );
  sqlite3_free(aScore);
  return SQLITE_OK;
}

int vsIvfBuild(const VsSearch *p, VsIvf *pIvf){
  i64 nLive = 0, s;
  vsIvfClear(pIvf);
  for(s=0; s<p->nSlot; s++) nLive += LIVE(p, s);
  if( nLive<VS_IVF_MIN_ROWS ) return SQLITE_OK;
  return build(pIvf, p, nLive);
}

int vsIvfAdopt(const VsSearch *p, VsIvf *pIvf, int nList,
               const float *aCentroid, i64 nBuilt, i64 nStored,
               const int *aStoredList, const u64 *aStoredHash){
  i64 *aLive = 0, *aTodo = 0, nLive = 0, nTodo = 0, s, i;
  int *aList = 0, *aNear = 0;
  int rc = SQLITE_OK;
  assert( nList>=1 && nList<=VS_IVF_LISTS_MAX );
  vsIvfClear(pIvf);
  pIvf->nDim = p->nDim;
  pIvf->eMetric = p->eMetric;
  pIvf->nList = nList;
  for(s=0; s<p->nSlot; s++) nLive += LIVE(p, s);
  pIvf->aCentroid = sqlite3_malloc64(sizeof(float)*(u64)nList*(u64)p->nDim);
  pIvf->aList = sqlite3_malloc64(sizeof(VsIvfList)*(u64)nList);
  aLive = sqlite3_malloc64(sizeof(i64)*(u64)(nLive+1));
  aTodo = sqlite3_malloc64(sizeof(i64)*(u64)(nLive+1));
  aList = sqlite3_malloc64(sizeof(int)*(u64)(nLive+1));
  aNear = sqlite3_malloc64(sizeof(int)*(u64)(nLive+1));
  if( pIvf->aList ) memset(pIvf->aList, 0, sizeof(VsIvfList)*(size_t)nList);
  if( pIvf->aCentroid==0 || pIvf->aList==0 || aLive==0 || aTodo==0
   || aList==0 || aNear==0 ){
    rc = SQLITE_NOMEM;
  }else{
    memcpy(pIvf->aCentroid, aCentroid,
           sizeof(float)*(size_t)nList*(size_t)p->nDim);
    rc = reserveSlots(pIvf, p->nSlot);
  }
  progressStart(pIvf, "load", 2*nLive);
  /* every live slot's hash, on the threads; a slot whose vector is the
  ** one its stored list was chosen by keeps that list, the others are
  ** assigned afresh */
  if( rc==SQLITE_OK ){
    rc = runParts(pIvf, p, p->nSlot, p->nSlot*(i64)p->nDim, 0, hashPart);
  }
  if( rc==SQLITE_OK ){
    progress(pIvf, nLive/2);
    if( pIvf->xStop && pIvf->xStop(pIvf->pStopArg) ) rc = SQLITE_INTERRUPT;
  }
  for(s=0, i=0; rc==SQLITE_OK && s<p->nSlot; s++){
    int c;
    if( !LIVE(p, s) ) continue;
    c = s<nStored ? aStoredList[s] : -1;
    aLive[i] = s;
    if( c>=0 && c<nList && aStoredHash[s]==pIvf->aHash[s] ){
      aList[i] = c;
    }else{
      aList[i] = -1;
      aTodo[nTodo++] = s;
    }
    i++;
  }
  if( rc==SQLITE_OK ){
    assert( i==nLive );
    progress(pIvf, nLive/2-nTodo);
    rc = nearestAll(pIvf, p, aTodo, nTodo, aNear);
  }
  if( rc==SQLITE_OK ){
    for(s=0, i=0; i<nLive; i++){
      if( aList[i]<0 ) aList[i] = aNear[s++];
    }
    assert( s==nTodo );
    rc = fillLists(pIvf, p, aLive, aList, nLive, 1);
  }
  sqlite3_free(aLive);
  sqlite3_free(aTodo);
  sqlite3_free(aList);
  sqlite3_free(aNear);
  if( rc ){
    vsIvfClear(pIvf);
    return rc;
  }
  pIvf->nBuilt = nBuilt>0 ? nBuilt : 1;
  pIvf->nAdded = nTodo;
  pIvf->bAdopted = 1;
  return SQLITE_OK;
}

int vsIvfSearch(const VsSearch *p, VsIvf *pIvf, int nProbe, int nRescore,
                VsSearchHit **paHit, i64 *pnHit){
  int *aPick = 0;
  u64 *aKeep = 0;
  VsCodeBlock *aBlock = 0;
  i64 nLive = 0, i, s;
  int rc = SQLITE_OK, j;
  assert( nProbe>=1 && nProbe<=VS_PROBE_MAX );
  *paHit = 0;
  *pnHit = 0;
  if( pIvf->nList>0
   && (pIvf->nDim!=p->nDim || pIvf->eMetric!=p->eMetric) ){
    vsIvfClear(pIvf);                     /* no longer fits: build again */
  }
  if( pIvf->nList==0 ){
    for(s=0; s<p->nSlot; s++) nLive += LIVE(p, s);
    if( nLive<VS_IVF_MIN_ROWS ) return SQLITE_OK;
    rc = build(pIvf, p, nLive);
    if( rc ) return rc;
  }
  rc = refresh(pIvf, p);
  if( rc ) return rc;
  if( pIvf->nAdded>pIvf->nBuilt ){
    /* grown past the build: build again over everything */
    vsIvfClear(pIvf);
    return vsIvfSearch(p, pIvf, nProbe, nRescore, paHit, pnHit);
  }
  if( nProbe>pIvf->nList ) nProbe = pIvf->nList;
  aPick = sqlite3_malloc64(sizeof(int)*(u64)nProbe);
  aBlock = sqlite3_malloc64(sizeof(VsCodeBlock)*(u64)nProbe);
  if( rc==SQLITE_OK && (aPick==0 || aBlock==0) ) rc = SQLITE_NOMEM;
  if( rc==SQLITE_OK && p->aCand ){
    /* the prefilter's slots, as a bitmap */
    aKeep = sqlite3_malloc64(sizeof(u64)*(u64)((p->nSlot+63)/64 + 1));
    if( aKeep==0 ){
      rc = SQLITE_NOMEM;
    }else{
      memset(aKeep, 0, sizeof(u64)*(size_t)((p->nSlot+63)/64 + 1));
      for(i=0; i<p->nCand; i++){
        s = p->aCand[i];
        if( s>=0 && s<p->nSlot ) aKeep[s/64] |= (u64)1<<(s%64);
      }
    }
  }
  if( rc==SQLITE_OK ) rc = pickLists(pIvf, p, nProbe, aPick);
  if( rc==SQLITE_OK ){
    for(j=0; j<nProbe; j++){
      const VsIvfList *pL = &pIvf->aList[aPick[j]];
      aBlock[j].aCode = pL->aCode;
      aBlock[j].aScale = pL->aScale;
      aBlock[j].aSq = pL->aSq;
      aBlock[j].aSlot = pL->aSlot;
      aBlock[j].n = pL->n;
      aBlock[j].aListOf = pIvf->aListOf;
      aBlock[j].aPos = pIvf->aPos;
      aBlock[j].iList = aPick[j];
    }
    rc = vsQuantSearchBlocks(p, aBlock, nProbe, aKeep, nRescore, paHit,
                             pnHit);
  }
  sqlite3_free(aPick);
  sqlite3_free(aBlock);
  sqlite3_free(aKeep);
  return rc;
}
