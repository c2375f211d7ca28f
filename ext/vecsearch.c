/*
** Search through SQL: the `vec MATCH ?` side of a `vectors` table (the
** scan itself is search.c; docs/search.md is the user's view).
**
**   SELECT id, distance FROM emb WHERE vec MATCH ? AND k = 10;
**   SELECT id FROM emb WHERE vec MATCH ? ORDER BY distance LIMIT 5;
**   ... AND id IN (SELECT id FROM meta WHERE lang = 'en')
**
** A MATCH on vec makes xBestIndex plan a search (vsMatchBestIndex): the
** query, then k = ?, LIMIT/OFFSET (when SQLite passes them and the ORDER
** BY is distance or absent), id = ? or id IN (...) (taken all at once
** with sqlite3_vtab_in, so the filter is applied before the top k are
** chosen, never after) and id bounds go to xFilter (vsMatchFilter), which
** makes the slot array current (pending rows written, then the slots
** rebuilt if another connection committed, freed slots treated as
** pending), maps the side file and lets search.c compute the whole
** result; xNext walks it. SQLite 3.40 passes no LIMIT to a table searched
** by MATCH, so "ORDER BY distance LIMIT n" without k streams: the first
** VEC_STREAM_FIRST rows are computed, and more (x VEC_STREAM_GROW) each
** time xNext runs past them. The cosine norms cached by search.c are
** forgotten for a slot when it is written and all at once when the slot
** array is rebuilt.
*/
#include "vectors.h"
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VEC_STREAM_FIRST 256    /* rows a streaming search computes first */
#define VEC_STREAM_GROW  4      /* ... and how much more each time after */
#define VEC_LOOKUP_MAX 64       /* up to this many prefilter ids: lookups */

/* A search with no k, no LIMIT and no ORDER BY distance to stream by. */
static const char zNoRowCount[] = "vectors: MATCH needs a row count: add "
    "k = N, or LIMIT N with ORDER BY distance";

/*
** Narrow [*piLo, *piHi] to the ids for which "id <op> pVal" holds, with
** SQLite's comparison rules (integers sort before text and blobs; NULL
** matches nothing). An empty range comes out as *piLo > *piHi.
*/
static void applyBound(int eOp, sqlite3_value *pVal, i64 *piLo, i64 *piHi){
  const double r2p63 = 9223372036854775808.0;
  int eType = sqlite3_value_numeric_type(pVal);
  int bLower = eOp==VEC_PLAN_GT || eOp==VEC_PLAN_GE;
  int bEmpty = 0;
  i64 iLo = *piLo, iHi = *piHi;
  if( eType==SQLITE_NULL ){
    bEmpty = 1;
  }else if( eType==SQLITE_TEXT || eType==SQLITE_BLOB ){
    bEmpty = bLower;
  }else if( eType==SQLITE_INTEGER ){
    i64 x = sqlite3_value_int64(pVal);
    switch( eOp ){
      case VEC_PLAN_GT: if( x==VS_MAX_ID ) bEmpty = 1;
                        else if( x+1>iLo ) iLo = x+1;
                        break;
      case VEC_PLAN_GE: if( x>iLo ) iLo = x; break;
      case VEC_PLAN_LT: if( x<=0 ) bEmpty = 1;
                        else if( x-1<iHi ) iHi = x-1;
                        break;
      default:          if( x<iHi ) iHi = x; break;
    }
  }else{
    double r = sqlite3_value_double(pVal);
    switch( eOp ){
      case VEC_PLAN_GT: if( r>=r2p63 ) bEmpty = 1;
                        else if( r>=0 && (i64)floor(r)+1>iLo ) iLo = (i64)floor(r)+1;
                        break;
      case VEC_PLAN_GE: if( r>=r2p63 ) bEmpty = 1;
                        else if( r>0 && (i64)ceil(r)>iLo ) iLo = (i64)ceil(r);
                        break;
      case VEC_PLAN_LT: if( r<=0 ) bEmpty = 1;
                        else if( r<r2p63 && (i64)ceil(r)-1<iHi ) iHi = (i64)ceil(r)-1;
                        break;
      default:          if( r<0 ) bEmpty = 1;
                        else if( r<r2p63 && (i64)floor(r)<iHi ) iHi = (i64)floor(r);
                        break;
    }
  }
  if( bEmpty ){
    iLo = 1;
    iHi = 0;
  }
  *piLo = iLo;
  *piHi = iHi;
}

/* pVal for an error message: 3, 2.5, 'abc', NULL or a blob. */
static char *describeValue(sqlite3_value *pVal){
  switch( sqlite3_value_type(pVal) ){
    case SQLITE_NULL: return sqlite3_mprintf("NULL");
    case SQLITE_BLOB: return sqlite3_mprintf("a blob");
    case SQLITE_TEXT: return sqlite3_mprintf("'%s'", sqlite3_value_text(pVal));
  }
  return sqlite3_mprintf("%s", sqlite3_value_text(pVal));
}

static int cmpI64(const void *a, const void *b){
  i64 x = *(const i64*)a, y = *(const i64*)b;
  return x<y ? -1 : (x>y);
}

/* Append x to the growing array *pa of *pn entries (*pnAlloc room). */
static int appendI64(i64 **pa, i64 *pn, i64 *pnAlloc, i64 x){
  if( *pn>=*pnAlloc ){
    i64 nNew = *pnAlloc ? *pnAlloc*2 : 16;
    i64 *aNew = sqlite3_realloc64(*pa, sizeof(i64)*(u64)nNew);
    if( aNew==0 ) return SQLITE_NOMEM;
    *pa = aNew;
    *pnAlloc = nNew;
  }
  (*pa)[(*pn)++] = x;
  return SQLITE_OK;
}

/*
** The slots of the nIds distinct ids aIds (ascending), ascending, in
** *paSlot. A few ids are looked up in <table>_map; many are found by one
** walk of the slot -> id array with a hash set of the ids.
*/
static int slotsOfIds(VecTable *p, const i64 *aIds, i64 nIds,
                      i64 **paSlot, i64 *pnSlot){
  i64 nAlloc = 0, i;
  int rc = SQLITE_OK;
  *paSlot = 0;
  *pnSlot = 0;
  if( nIds<=VEC_LOOKUP_MAX ){
    for(i=0; i<nIds && rc==SQLITE_OK; i++){
      i64 iSlot = -1;
      int bFound = 0;
      rc = vsStateLookup(p, aIds[i], &iSlot, &bFound);
      if( rc==SQLITE_OK && bFound ){
        if( iSlot<0 || iSlot>=p->pS->slots.nSlot
         || p->pS->slots.aId[iSlot]!=aIds[i] ){
          rc = vsStateMapDamaged(p, aIds[i], iSlot);
        }else{
          rc = appendI64(paSlot, pnSlot, &nAlloc, iSlot);
        }
      }
    }
    if( rc==SQLITE_OK && *pnSlot>1 ){
      qsort(*paSlot, (size_t)*pnSlot, sizeof(i64), cmpI64);
    }
  }else{
    /* open addressing, ids are >= 0 so -1 marks an empty entry */
    i64 nHash = 64, *aHash;
    const i64 *aId = p->pS->slots.aId;
    while( nHash<nIds*2 ) nHash *= 2;
    aHash = sqlite3_malloc64(sizeof(i64)*(u64)nHash);
    if( aHash==0 ) return SQLITE_NOMEM;
    memset(aHash, 0xff, sizeof(i64)*(u64)nHash);
    for(i=0; i<nIds; i++){
      u64 h = ((u64)aIds[i]*0x9E3779B97F4A7C15ULL) & (u64)(nHash-1);
      while( aHash[h]>=0 ) h = (h+1) & (u64)(nHash-1);
      aHash[h] = aIds[i];
    }
    for(i=0; i<p->pS->slots.nSlot && rc==SQLITE_OK; i++){
      u64 h;
      if( aId[i]<0 ) continue;
      h = ((u64)aId[i]*0x9E3779B97F4A7C15ULL) & (u64)(nHash-1);
      while( aHash[h]>=0 && aHash[h]!=aId[i] ) h = (h+1) & (u64)(nHash-1);
      if( aHash[h]==aId[i] ) rc = appendI64(paSlot, pnSlot, &nAlloc, i);
    }
    sqlite3_free(aHash);
  }
  if( rc ){
    sqlite3_free(*paSlot);
    *paSlot = 0;
    *pnSlot = 0;
  }
  return rc;
}

/* Position a search cursor on row iHit of its result. */
static void searchSeek(VecCursor *pCur, i64 iHit){
  pCur->iHit = iHit;
  pCur->bEof = iHit>=pCur->nHit;
  if( !pCur->bEof ){
    pCur->iId = pCur->aHit[iHit].iId;
    pCur->iSlot = pCur->aHit[iHit].iSlot;
  }
}

/* Forget a search cursor's result and parameters. */
void vsMatchReset(VecCursor *pCur){
  sqlite3_free(pCur->aHit);
  sqlite3_free(pCur->aQuery);
  sqlite3_free(pCur->aIds);
  pCur->aHit = 0;
  pCur->aQuery = 0;
  pCur->aIds = 0;
  pCur->nHit = pCur->nIds = 0;
  pCur->bSearch = pCur->bStream = pCur->bFilter = 0;
}

/*
** The approximate search the cursor asks for (probe, rescore), into its
** aHit; none (aHit stays 0) for the exact scan: when it asks for none,
** streams (a stream's later runs must extend the first one's order: only
** the exact scan guarantees that), or when the approximate one found
** fewer rows than wanted (the exact scan finds them whenever they exist).
** A selective prefilter is scanned exactly too (see below).
*/
static int searchApproximate(VecCursor *pCur, const VsSearch *pSearch){
  VecTable *p = (VecTable*)pCur->base.pVtab;
  VecState *pS = p->pS;
  i64 iProbe = pCur->iProbe;
  int rc = SQLITE_OK;
  assert( pCur->aHit==0 );
  if( iProbe<0 && pS->idx.eIndex==VS_INDEX_IVF && pCur->iRescore!=0 ){
    iProbe = pS->idx.nProbe;          /* the table's default */
  }
  if( pCur->bStream || (pCur->iRescore<=0 && iProbe<=0) ){
    return SQLITE_OK;
  }
  if( iProbe>0 ){
    i64 nProbe = iProbe;
    int nRescore = pCur->iRescore>0 ? (int)pCur->iRescore : VS_PROBE_RESCORE;
    if( pSearch->aCand ){
      /* A prefilter keeping a share f of the rows leaves about f of each
      ** list: probing nProbe / f lists finds its nearest rows as well as
      ** nProbe lists find the table's. Scanning the prefilter exactly
      ** costs no more when it holds at most nLive * sqrt(nProbe / lists)
      ** rows. */
      const VsSlots *pSl = &p->pS->slots;
      i64 nLive = pSl->nSlot - pSl->nFree - pSl->nPend;
      double rLists = (double)vsIvfListCount(nLive);
      if( nLive<1 ) nLive = 1;
      if( (double)pSearch->nCand*pSearch->nCand
            <= (double)nProbe*nLive*nLive/rLists ){
        return SQLITE_OK;
      }
      nProbe = nProbe*nLive/(pSearch->nCand>0 ? pSearch->nCand : 1);
      if( nProbe>VS_PROBE_MAX ) nProbe = VS_PROBE_MAX;
    }
    {
      VsIvfWork work;
      vsIvfWorkBegin(p, &work);
      if( pS->ivf.nList==0 && pS->iIvfLoaded!=pS->iDataVersion+1 ){
        /* no index here: the stored one, once per data_version */
        pS->iIvfLoaded = pS->iDataVersion+1;
        rc = vsIvfStoreLoad(p, pSearch);
      }
      if( rc==SQLITE_OK ){
        rc = vsIvfSearch(pSearch, &pS->ivf, (int)nProbe, nRescore,
                         &pCur->aHit, &pCur->nHit);
      }
      vsIvfWorkEnd(&work);
    }
  }else{
    rc = vsQuantSearch(pSearch, &p->pS->codes, (int)pCur->iRescore,
                       &pCur->aHit, &pCur->nHit);
  }
  if( rc==SQLITE_OK && pCur->aHit && pCur->nHit<pSearch->nWant ){
    /* too few rows among those considered */
    sqlite3_free(pCur->aHit);
    pCur->aHit = 0;
    pCur->nHit = 0;
  }
  return rc;
}

/*
** Compute the cursor's result from its parameters, on the slot array as
** it is (the caller made it current): collect the prefilter's slots, map
** the side file and run the scan (search.c).
*/
static int searchRun(VecCursor *pCur){
  VecTable *p = (VecTable*)pCur->base.pVtab;
  VsSearch s;
  i64 *aCand = 0, nCand = 0, nMap;
  int rc = SQLITE_OK;
  char *zErr = 0;
  sqlite3_free(pCur->aHit);
  pCur->aHit = 0;
  pCur->nHit = 0;
  if( p->pS->nDim<=0 || pCur->iMinId>pCur->iMaxId ) return SQLITE_OK;
  nMap = p->pS->slots.nSlot;
  while( nMap>0 && p->pS->slots.aId[nMap-1]<0 ) nMap--;
  if( pCur->bFilter ){
    rc = slotsOfIds(p, pCur->aIds, pCur->nIds, &aCand, &nCand);
    if( rc==SQLITE_OK && nCand==0 ) nMap = 0;
  }
  assert( nMap>=0 && nMap<=p->pS->slots.nSlot );
  if( rc==SQLITE_OK && nMap>0 ){
    memset(&s, 0, sizeof(s));
    rc = vsFileMap(p->pS->pFile, nMap, &s.aMatrix, &zErr);
    if( rc ){
      rc = vsVectorsTakeError(p, rc, zErr);
    }else{
      s.eMetric = p->pS->eMetric;
      s.nDim = p->pS->nDim;
      s.aQuery = pCur->aQuery;
      s.aId = p->pS->slots.aId;
      s.nSlot = nMap;
      s.aCand = pCur->bFilter ? aCand : 0;
      s.nCand = nCand;
      s.iMinId = pCur->iMinId;
      s.iMaxId = pCur->iMaxId;
      s.nWant = pCur->nWant;
      s.pNorms = &p->pS->norms;
      s.nThread = vsConnThreads(p->pConn);
      rc = searchApproximate(pCur, &s);
      if( rc==SQLITE_OK && pCur->aHit==0 ){
        rc = vsSearchRun(&s, &pCur->aHit, &pCur->nHit);
      }
    }
  }
  sqlite3_free(aCand);
  return rc;
}

/* Make the slot array show this statement's snapshot (and the open
** transaction's own changes). */
static int searchSnapshot(VecTable *p){
  int rc = vsStateUsable(p);
  if( rc==SQLITE_OK ) rc = vsStateFlush(p);
  /* freed slots count as pending: always safe outside a write
  ** transaction, and the WAL header need not be read */
  if( rc==SQLITE_OK ) rc = vsStateRefreshSlots(p, 1, VS_SEQ_UNKNOWN);
  return rc;
}

/*
** xFilter of a search plan (see searchBestIndex for argv): read the row
** count, the prefilter and the bounds, make the slot array current,
** parse the query and compute the result; xNext walks it (a streaming
** search computes more when it runs out).
*/
int vsMatchFilter(VecCursor *pCur, int idxNum, sqlite3_value **argv){
  VecTable *p = (VecTable*)pCur->base.pVtab;
  i64 nWant = -1, nAlloc = 0, i;
  int rc = SQLITE_OK, iArg = 1, nVec = 0;
  char *zErr = 0;

  pCur->bSearch = 1;
  pCur->iK = -1;
  pCur->iMinId = 0;
  pCur->iMaxId = VS_MAX_ID;

  /* how many rows: k, LIMIT + OFFSET, the smaller of the two, or as many
  ** as SQLite reads (streaming) */
  if( idxNum & VEC_PLAN_K ){
    sqlite3_value *pK = argv[iArg++];
    /* a whole-number real (bindings such as better-sqlite3 bind numbers
    ** as reals) counts as an integer, as it does for ids */
    if( !vsVectorsExactInteger(pK, &pCur->iK) || pCur->iK<1 ){
      char *z = describeValue(pK);
      vsVectorsSetError(p, "vectors: k must be a positive integer: got %s",
               z ? z : "?");
      sqlite3_free(z);
      pCur->iK = -1;
      return SQLITE_ERROR;
    }
    nWant = pCur->iK;
  }
  pCur->iRescore = -1;
  if( idxNum & VEC_PLAN_RESCORE ){
    sqlite3_value *pR = argv[iArg++];
    if( !vsVectorsExactInteger(pR, &pCur->iRescore) || pCur->iRescore<0
     || pCur->iRescore>VS_RESCORE_MAX ){
      char *z = describeValue(pR);
      vsVectorsSetError(p, "vectors: rescore must be an integer from 0 (the "
          "exact scan) to %d: got %s", VS_RESCORE_MAX, z ? z : "?");
      sqlite3_free(z);
      pCur->iRescore = -1;
      return SQLITE_ERROR;
    }
  }
  pCur->iProbe = -1;
  if( idxNum & VEC_PLAN_PROBE ){
    sqlite3_value *pP = argv[iArg++];
    if( !vsVectorsExactInteger(pP, &pCur->iProbe) || pCur->iProbe<0
     || pCur->iProbe>VS_PROBE_MAX ){
      char *z = describeValue(pP);
      vsVectorsSetError(p, "vectors: probe must be an integer from 0 (the "
          "exact scan) to %d: got %s", VS_PROBE_MAX, z ? z : "?");
      sqlite3_free(z);
      pCur->iProbe = -1;
      return SQLITE_ERROR;
    }
  }
  if( idxNum & VEC_PLAN_LIMIT ){
    i64 nLimit = sqlite3_value_int64(argv[iArg++]);
    i64 nOffset = 0;
    if( idxNum & VEC_PLAN_OFFSET ) nOffset = sqlite3_value_int64(argv[iArg++]);
    if( nOffset<0 ) nOffset = 0;
    if( nLimit>=0 ){                          /* a negative LIMIT: none */
      i64 n = nLimit>VS_MAX_ID-nOffset ? VS_MAX_ID : nLimit+nOffset;
      if( nWant<0 || n<nWant ) nWant = n;
    }
  }
  if( nWant<0 ){
    if( (idxNum & VEC_PLAN_STREAM)==0 ){
      vsVectorsSetError(p, "%s", zNoRowCount);
      return SQLITE_ERROR;
    }
    pCur->bStream = 1;
    nWant = VEC_STREAM_FIRST;
  }
  pCur->nWant = nWant;

  /* the prefilter and the id bounds */
  if( idxNum & (VEC_PLAN_EQ|VEC_PLAN_IN) ){
    sqlite3_value *pList = argv[iArg++];
    i64 x;
    pCur->bFilter = 1;
    if( idxNum & VEC_PLAN_IN ){
      sqlite3_value *pVal = 0;
      for(rc=sqlite3_vtab_in_first(pList, &pVal); rc==SQLITE_OK;
          rc=sqlite3_vtab_in_next(pList, &pVal)){
        if( vsVectorsExactInteger(pVal, &x) && x>=0 ){
          rc = appendI64(&pCur->aIds, &pCur->nIds, &nAlloc, x);
          if( rc ) break;
        }
      }
      if( rc==SQLITE_DONE ) rc = SQLITE_OK;
      if( rc && rc!=SQLITE_NOMEM ) rc = vsVectorsDbError(p, rc);
    }else if( vsVectorsExactInteger(pList, &x) && x>=0 ){
      rc = appendI64(&pCur->aIds, &pCur->nIds, &nAlloc, x);
    }
  }
  for(i=0; i<4; i++){
    if( idxNum & vsVectorsIdBound[i].bit ){
      applyBound(vsVectorsIdBound[i].bit, argv[iArg++], &pCur->iMinId,
                 &pCur->iMaxId);
    }
  }
  if( rc==SQLITE_OK && pCur->nIds>0 ){
    /* ascending, distinct, within the bounds */
    i64 j = 0;
    if( pCur->nIds>1 ){
      qsort(pCur->aIds, (size_t)pCur->nIds, sizeof(i64), cmpI64);
    }
    for(i=0; i<pCur->nIds; i++){
      i64 x = pCur->aIds[i];
      if( (j==0 || x!=pCur->aIds[j-1]) && x>=pCur->iMinId && x<=pCur->iMaxId ){
        pCur->aIds[j++] = x;
      }
    }
    pCur->nIds = j;
  }

  /* the snapshot this statement sees, then the query */
  if( rc==SQLITE_OK ) rc = searchSnapshot(p);
  if( rc==SQLITE_OK ){
    if( p->pS->nDim>0 ){
      const void *pVec = 0;
      pCur->aQuery = sqlite3_malloc64(sizeof(float)*(u64)p->pS->nDim);
      if( pCur->aQuery==0 ){
        rc = SQLITE_NOMEM;
      }else{
        rc = vsVectorParseInto(argv[0], "vectors", p->pS->nDim, pCur->aQuery,
                               &pVec, &nVec, &zErr);
        if( rc==SQLITE_OK && pVec!=(const void*)pCur->aQuery ){
          memcpy(pCur->aQuery, pVec, sizeof(float)*(size_t)p->pS->nDim);
        }
      }
    }else{
      /* no vector stored yet: check the query, find nothing */
      rc = vsVectorParse(argv[0], "vectors", 0, &pCur->aQuery, &nVec, &zErr);
    }
    if( rc ) rc = vsVectorsAdoptError(p, rc, zErr);
  }
  if( rc==SQLITE_OK ) rc = searchRun(pCur);
  if( rc==SQLITE_OK ) searchSeek(pCur, 0);
  return rc;
}

/* xNext of a search: the next row, computing more when a streaming
** search has handed out all it computed. */
int vsMatchNext(VecCursor *pCur){
  int rc;
  if( pCur->iHit+1<pCur->nHit || !pCur->bStream
   || pCur->nHit<pCur->nWant ){
    searchSeek(pCur, pCur->iHit+1);
    return SQLITE_OK;
  }
  /* the first nHit rows of a larger run are the same rows: (distance,
  ** id) orders them totally */
  pCur->nWant = pCur->nWant>VS_MAX_ID/VEC_STREAM_GROW
              ? VS_MAX_ID : pCur->nWant*VEC_STREAM_GROW;
  rc = searchSnapshot((VecTable*)pCur->base.pVtab);
  if( rc==SQLITE_OK ) rc = searchRun(pCur);
  if( rc==SQLITE_OK ) searchSeek(pCur, pCur->iHit+1);
  return rc;
}

/* True when the ORDER BY, if any, is "distance" or "distance, id": the
** order a search returns, so that LIMIT can serve as its k. */
static int orderIsDistance(const sqlite3_index_info *pInfo){
  const struct sqlite3_index_orderby *a = pInfo->aOrderBy;
  if( pInfo->nOrderBy==0 ) return 1;
  if( pInfo->nOrderBy>2 || a[0].iColumn!=VEC_COLUMN_DISTANCE || a[0].desc ){
    return 0;
  }
  return pInfo->nOrderBy==1
      || ((a[1].iColumn==VEC_COLUMN_ID || a[1].iColumn==-1) && !a[1].desc);
}

/*
** The plan of a search (vec MATCH ?). xFilter receives, in this order:
** the query, k, rescore, probe, LIMIT, OFFSET, id = / id IN, then the id
** bounds. LIMIT
** and OFFSET are only read (SQLite still applies them to the rows), so
** a search returns min(k, LIMIT + OFFSET) rows and SQLite skips the
** OFFSET first ones. The id bounds are applied by the scan and checked
** again by SQLite.
*/
int vsMatchBestIndex(VecTable *p, sqlite3_index_info *pInfo,
                           int iMatch, int iK, int iRescore, int iProbe,
                           int iLimit, int iOffset, int iEq,
                           const int *aRange){
  int idxNum = VEC_PLAN_MATCH, nArg = 0;
  int bOrder = orderIsDistance(pInfo);
  double rCost = 1e5;
  pInfo->aConstraintUsage[iMatch].argvIndex = ++nArg;
  pInfo->aConstraintUsage[iMatch].omit = 1;
  if( iK>=0 ){
    idxNum |= VEC_PLAN_K;
    pInfo->aConstraintUsage[iK].argvIndex = ++nArg;
    pInfo->aConstraintUsage[iK].omit = 1;
  }
  if( iRescore>=0 ){
    idxNum |= VEC_PLAN_RESCORE;
    pInfo->aConstraintUsage[iRescore].argvIndex = ++nArg;
    pInfo->aConstraintUsage[iRescore].omit = 1;
  }
  if( iProbe>=0 ){
    idxNum |= VEC_PLAN_PROBE;
    pInfo->aConstraintUsage[iProbe].argvIndex = ++nArg;
    pInfo->aConstraintUsage[iProbe].omit = 1;
  }
  if( iLimit>=0 && bOrder ){
    idxNum |= VEC_PLAN_LIMIT;
    pInfo->aConstraintUsage[iLimit].argvIndex = ++nArg;
    if( iOffset>=0 ){
      idxNum |= VEC_PLAN_OFFSET;
      pInfo->aConstraintUsage[iOffset].argvIndex = ++nArg;
    }
  }
  if( (idxNum & VEC_PLAN_K)==0 && bOrder && pInfo->nOrderBy>0 ){
    /* ORDER BY distance without k: when no LIMIT is known (SQLite 3.40
    ** shows none to a table searched by MATCH; LIMIT -1 means none) rows
    ** stream in distance order and SQLite stops reading at its LIMIT */
    idxNum |= VEC_PLAN_STREAM;
  }
  if( (idxNum & (VEC_PLAN_K|VEC_PLAN_LIMIT|VEC_PLAN_STREAM))==0 ){
    vsVectorsSetError(p, "%s", zNoRowCount);
    return SQLITE_ERROR;
  }
  /* id = ? or id IN (...): only the rows with those ids are searched. An
  ** IN list must come all at once (one xFilter), or not at all. */
  if( iEq>=0 && (!sqlite3_vtab_in(pInfo, iEq, -1)
                 || sqlite3_vtab_in(pInfo, iEq, 1)) ){
    idxNum |= sqlite3_vtab_in(pInfo, iEq, -1) ? VEC_PLAN_IN : VEC_PLAN_EQ;
    pInfo->aConstraintUsage[iEq].argvIndex = ++nArg;
    pInfo->aConstraintUsage[iEq].omit = 1;
    rCost = (idxNum & VEC_PLAN_IN) ? 100 : 10;
  }
  idxNum |= vsVectorsPlanIdBounds(pInfo, aRange, &nArg, &rCost, 2);
  pInfo->orderByConsumed = bOrder && pInfo->nOrderBy>0;
  pInfo->idxNum = idxNum;
  pInfo->estimatedCost = rCost;
  pInfo->estimatedRows = 10;
  return SQLITE_OK;
}
