/*
** The IVF index kept in the database, so that a connection loads it
** instead of building it (ivf.c builds; a load reads the vectors once).
**
**   INSERT INTO emb(emb) VALUES('optimize');   -- build now, and store
**
** 'OPTIMIZE' builds the index afresh over the rows the transaction sees
** (k-means over all of them: the lists fit the data again) in this
** connection, and writes it as one row of <table>_ivf, in the same
** transaction, with one statement: a failed or interrupted optimize, a
** ROLLBACK, a crash leave the row that was there before. Tables made
** before <table>_ivf get it here.
**
** A HINT, NEVER A SOURCE OF ROWS. Which rows a search returns comes from
** the slot array of its snapshot (vecsearch.c); the index only chooses
** which of them are considered. So the stored row need not match the
** table: each slot's entry carries the hash of the vector its list was
** chosen by, and a load (vsIvfAdopt) keeps a slot's list only while its
** vector still has that hash; every other live slot is assigned afresh.
** A stale row costs time at a load, a damaged one is refused whole (the
** index is then built as if there were none), and neither gives a wrong
** row. veles_check reports a damaged row; veles_index() describes it.
**
** FORMAT of the row <table>_ivf(k = 1, v), little-endian as the side file:
**   0   4 bytes  "VLIV"
**   4   u32      version, 1
**   8   u32      dimension (the table's)
**   12  u32      metric (the table's: 0 l2, 1 cosine, 2 dot)
**   16  u32      nList, 1..VS_IVF_LISTS_MAX
**   20  u32      0
**   24  i64      nSlot: slots described
**   32  i64      rows the k-means build covered (growth past twice this
**                rebuilds, ivf.c)
**   40  i64      0
**   48  f32      nList * dimension: the centroids, finite
**   ..  i32      nSlot: each slot's list, -1 for none
**   ..  u64      nSlot: the hash of the vector each listed slot had
** and nothing after.
*/
#include "vectors.h"
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef uint32_t u32;

#define IVF_STORE_HEADER 48
#define IVF_STORE_VERSION 1
static const char aMagic[4] = {'V', 'L', 'I', 'V'};

/* The table a stored row belongs to. */
typedef struct Owner Owner;
struct Owner {
  sqlite3 *db;
  const char *zSchema, *zName;
  int nDim, eMetric;
};

static Owner ownerOf(sqlite3 *db, VecState *pS){
  Owner o;
  o.db = db;
  o.zSchema = pS->sh.zSchema;
  o.zName = pS->sh.zName;
  o.nDim = pS->nDim;
  o.eMetric = pS->eMetric;
  return o;
}

/* A stored index decoded (pointers into the blob's copy). */
typedef struct Stored Stored;
struct Stored {
  int nList;
  i64 nSlot, nBuilt;
  float *aCentroid;
  int *aList;
  u64 *aHash;
  void *pBuf;                   /* owns the three arrays */
};

static u32 getU32(const unsigned char *a){
  u32 x;
  memcpy(&x, a, 4);
  return x;
}
static i64 getI64(const unsigned char *a){
  i64 x;
  memcpy(&x, a, 8);
  return x;
}

/* Check the header of a stored row of nBytes against table pS. */
static int checkHeader(const Owner *pS, const unsigned char *a, i64 nBytes,
                       Stored *pOut, char **pzErr){
  u32 nDim, eMetric, nList;
  i64 nSlot, nBuilt, nWant;
  memset(pOut, 0, sizeof(*pOut));
  if( nBytes<IVF_STORE_HEADER || memcmp(a, aMagic, 4)!=0 ){
    *pzErr = sqlite3_mprintf("expected a row starting with \"VLIV\" of at "
        "least %d bytes, got %lld bytes", IVF_STORE_HEADER, nBytes);
    return SQLITE_CORRUPT_VTAB;
  }
  if( getU32(a+4)!=IVF_STORE_VERSION ){
    *pzErr = sqlite3_mprintf("expected version %d, got %u (made by a "
        "newer veles?)", IVF_STORE_VERSION, getU32(a+4));
    return SQLITE_CORRUPT_VTAB;
  }
  nDim = getU32(a+8);
  eMetric = getU32(a+12);
  nList = getU32(a+16);
  nSlot = getI64(a+24);
  nBuilt = getI64(a+32);
  if( (int)nDim!=pS->nDim || (int)eMetric!=pS->eMetric ){
    *pzErr = sqlite3_mprintf("expected dimension %d and metric %d (the "
        "table's), got %u and %u", pS->nDim, pS->eMetric, nDim, eMetric);
    return SQLITE_CORRUPT_VTAB;
  }
  if( nList<1 || nList>VS_IVF_LISTS_MAX || nSlot<0 || nBuilt<0
   || nSlot>nBytes/12 ){
    *pzErr = sqlite3_mprintf("expected 1 to %d lists and a slot count that "
        "fits the row, got %u lists and %lld slots", VS_IVF_LISTS_MAX, nList,
        nSlot);
    return SQLITE_CORRUPT_VTAB;
  }
  nWant = IVF_STORE_HEADER + (i64)4*nList*nDim + 12*nSlot;
  if( nBytes!=nWant ){
    *pzErr = sqlite3_mprintf("expected %lld bytes for %u lists and %lld "
        "slots, got %lld", nWant, nList, nSlot, nBytes);
    return SQLITE_CORRUPT_VTAB;
  }
  pOut->nList = (int)nList;
  pOut->nSlot = nSlot;
  pOut->nBuilt = nBuilt;
  return SQLITE_OK;
}

/* Decode a whole stored row into *pOut (freed with storedFree). */
static int decode(const Owner *pS, const unsigned char *a, i64 nBytes,
                  Stored *pOut, char **pzErr){
  i64 nCent, i;
  unsigned char *pBuf;
  int rc = checkHeader(pS, a, nBytes, pOut, pzErr);
  if( rc ) return rc;
  nCent = (i64)pOut->nList*pS->nDim;
  /* aligned copies: hashes, then lists, then centroids */
  pBuf = sqlite3_malloc64((u64)pOut->nSlot*12 + (u64)nCent*4 + 8);
  if( pBuf==0 ) return SQLITE_NOMEM;
  pOut->pBuf = pBuf;
  pOut->aHash = (u64*)pBuf;
  pOut->aList = (int*)(pBuf + pOut->nSlot*8);
  pOut->aCentroid = (float*)(pBuf + pOut->nSlot*12);
  memcpy(pOut->aCentroid, a+IVF_STORE_HEADER, (size_t)nCent*4);
  memcpy(pOut->aList, a+IVF_STORE_HEADER+nCent*4, (size_t)pOut->nSlot*4);
  memcpy(pOut->aHash, a+IVF_STORE_HEADER+nCent*4+pOut->nSlot*4,
         (size_t)pOut->nSlot*8);
  for(i=0; i<nCent; i++){
    if( !isfinite(pOut->aCentroid[i]) ){
      *pzErr = sqlite3_mprintf("expected finite centroids, got %g in list "
          "%lld", (double)pOut->aCentroid[i], i/pS->nDim);
      return SQLITE_CORRUPT_VTAB;
    }
  }
  for(i=0; i<pOut->nSlot; i++){
    if( pOut->aList[i]<-1 || pOut->aList[i]>=pOut->nList ){
      *pzErr = sqlite3_mprintf("expected each slot's list from -1 to %d, "
          "got %d at slot %lld", pOut->nList-1, pOut->aList[i], i);
      return SQLITE_CORRUPT_VTAB;
    }
  }
  return SQLITE_OK;
}

static void storedFree(Stored *p){
  sqlite3_free(p->pBuf);
  memset(p, 0, sizeof(*p));
}

/* Prepare zSql (printf-formatted with the schema and table name twice)
** on the stored row; *ppStmt is 0 when the table has no <table>_ivf. */
static int prepareRow(const Owner *pS, const char *zFormat,
                      sqlite3_stmt **ppStmt){
  sqlite3 *db = pS->db;
  char *zSql = sqlite3_mprintf(zFormat, pS->zSchema, pS->zName);
  int rc;
  *ppStmt = 0;
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(db, zSql, -1, ppStmt, 0);
  sqlite3_free(zSql);
  if( rc==SQLITE_ERROR ){
    /* no such table (made before <table>_ivf): nothing stored */
    sqlite3_finalize(*ppStmt);
    *ppStmt = 0;
    rc = SQLITE_OK;
  }
  return rc;
}

/* Read and decode the stored row: *pOut->nList is 0 when there is none.
** SQLITE_CORRUPT_VTAB with *pzErr for a damaged one. */
static int readStored(const Owner *pS, Stored *pOut, char **pzErr){
  sqlite3 *db = pS->db;
  sqlite3_stmt *pStmt = 0;
  int rc = prepareRow(pS,
      "SELECT v FROM \"%w\".\"%w_ivf\" WHERE k=1", &pStmt);
  memset(pOut, 0, sizeof(*pOut));
  if( rc || pStmt==0 ) return rc;
  if( sqlite3_step(pStmt)==SQLITE_ROW ){
    const unsigned char *a = sqlite3_column_blob(pStmt, 0);
    i64 n = sqlite3_column_bytes(pStmt, 0);
    if( a==0 && sqlite3_errcode(db)==SQLITE_NOMEM ){
      rc = SQLITE_NOMEM;
    }else{
      rc = decode(pS, a ? a : (const unsigned char*)"", n, pOut, pzErr);
    }
    if( rc ) storedFree(pOut);
  }
  if( rc==SQLITE_OK ){
    rc = sqlite3_finalize(pStmt);
    if( rc && rc!=SQLITE_NOMEM ){
      *pzErr = sqlite3_mprintf("cannot read %s_ivf: %s", pS->zName,
                               sqlite3_errmsg(db));
    }
  }else{
    sqlite3_finalize(pStmt);
  }
  return rc;
}

int vsIvfStoreInfo(sqlite3 *db, VecState *pTable, VsIvfStoreInfo *pInfo,
                   char **pzErr){
  Owner o = ownerOf(db, pTable), *pS = &o;
  sqlite3_stmt *pStmt = 0;
  Stored st;
  int rc = prepareRow(pS, "SELECT length(v), substr(v, 1, 48) "
                      "FROM \"%w\".\"%w_ivf\" WHERE k=1", &pStmt);
  memset(pInfo, 0, sizeof(*pInfo));
  if( rc || pStmt==0 ) return rc;
  if( sqlite3_step(pStmt)==SQLITE_ROW ){
    const unsigned char *a = sqlite3_column_blob(pStmt, 1);
    i64 nBytes = sqlite3_column_int64(pStmt, 0);
    unsigned char aHdr[IVF_STORE_HEADER];
    memset(aHdr, 0, sizeof(aHdr));
    if( a ){
      int n = sqlite3_column_bytes(pStmt, 1);
      memcpy(aHdr, a, n<IVF_STORE_HEADER ? (size_t)n : sizeof(aHdr));
    }
    rc = checkHeader(pS, aHdr, nBytes, &st, pzErr);
    if( rc==SQLITE_OK ){
      pInfo->nList = st.nList;
      pInfo->nSlot = st.nSlot;
      pInfo->nBuilt = st.nBuilt;
      pInfo->nBytes = nBytes;
    }
  }
  if( rc==SQLITE_OK ){
    rc = sqlite3_finalize(pStmt);
  }else{
    sqlite3_finalize(pStmt);
  }
  return rc;
}

int vsIvfStoreCheck(sqlite3 *db, const char *zSchema, const char *zName,
                    int nDim, int eMetric, char **pzErr){
  Owner o;
  Stored st;
  int rc;
  o.db = db;
  o.zSchema = zSchema;
  o.zName = zName;
  o.nDim = nDim;
  o.eMetric = eMetric;
  rc = readStored(&o, &st, pzErr);
  storedFree(&st);
  return rc;
}

int vsIvfStoreLoad(VecTable *p, const VsSearch *pSearch){
  VecState *pS = p->pS;
  Owner o = ownerOf(p->db, pS);
  Stored st;
  char *zErr = 0;
  int rc = readStored(&o, &st, &zErr);
  if( rc==SQLITE_CORRUPT_VTAB ){
    /* refused whole: built as if there were none */
    sqlite3_log(SQLITE_CORRUPT_VTAB, "vectors: table %s: the stored index "
                "is damaged and is not used: %s", pS->sh.zName,
                zErr ? zErr : "");
    rc = SQLITE_OK;
  }else if( rc==SQLITE_OK && st.nList>0 ){
    rc = vsIvfAdopt(pSearch, &pS->ivf, st.nList, st.aCentroid, st.nBuilt,
                    st.nSlot, st.aList, st.aHash);
  }else if( rc && rc!=SQLITE_NOMEM ){
    rc = vsVectorsTakeError(p, rc, zErr);
    zErr = 0;
  }
  sqlite3_free(zErr);
  storedFree(&st);
  return rc;
}

/* The stored row of index pIvf over the first nSlot slots (aId). */
static unsigned char *encode(const VsIvf *pIvf, const i64 *aId, i64 nSlot,
                             i64 *pnBytes){
  i64 nCent = (i64)pIvf->nList*pIvf->nDim, s;
  i64 nBytes = IVF_STORE_HEADER + nCent*4 + nSlot*12;
  unsigned char *a = sqlite3_malloc64((u64)nBytes);
  unsigned char *aList, *aHash;
  u32 x;
  i64 y;
  if( a==0 ) return 0;
  memset(a, 0, IVF_STORE_HEADER);
  memcpy(a, aMagic, 4);
  x = IVF_STORE_VERSION;  memcpy(a+4, &x, 4);
  x = (u32)pIvf->nDim;    memcpy(a+8, &x, 4);
  x = (u32)pIvf->eMetric; memcpy(a+12, &x, 4);
  x = (u32)pIvf->nList;   memcpy(a+16, &x, 4);
  memcpy(a+24, &nSlot, 8);
  y = pIvf->nBuilt;       memcpy(a+32, &y, 8);
  memcpy(a+IVF_STORE_HEADER, pIvf->aCentroid, (size_t)nCent*4);
  aList = a + IVF_STORE_HEADER + nCent*4;
  aHash = aList + nSlot*4;
  for(s=0; s<nSlot; s++){
    int c = -1;
    u64 h = 0;
    if( s<pIvf->nAlloc && pIvf->aListOf[s]>=0 && aId[s]>=0 ){
      c = pIvf->aListOf[s];
      h = pIvf->aHash[s];
    }
    memcpy(aList + s*4, &c, 4);
    memcpy(aHash + s*8, &h, 8);
  }
  *pnBytes = nBytes;
  return a;
}

int vsIvfOptimize(VecTable *p){
  VecState *pS = p->pS;
  VsSearch s;
  VsIvfWork work;
  unsigned char *aRow = 0;
  i64 nBytes = 0, nMap;
  char *zErr = 0;
  int rc;
  if( pS->nDim==0 || pS->pFile==0 ) return SQLITE_OK;  /* never a vector */
  rc = vsStateFlush(p);
  if( rc ) return rc;
  nMap = pS->slots.nSlot;
  while( nMap>0 && pS->slots.aId[nMap-1]<0 ) nMap--;
  memset(&s, 0, sizeof(s));
  if( nMap>0 ){
    rc = vsFileMap(pS->pFile, nMap, &s.aMatrix, &zErr);
    if( rc ) return vsVectorsTakeError(p, rc, zErr);
  }
  s.eMetric = pS->eMetric;
  s.nDim = pS->nDim;
  s.aId = pS->slots.aId;
  s.nSlot = nMap;
  s.nWant = 1;
  s.pNorms = &pS->norms;
  s.nThread = vsConnThreads(p->pConn);
  vsIvfWorkBegin(p, &work);
  rc = nMap>0 ? vsIvfBuild(&s, &pS->ivf) : SQLITE_OK;
  vsIvfWorkEnd(&work);
  if( rc==SQLITE_INTERRUPT ){
    vsVectorsSetError(p, "vectors: table %s: 'optimize' was interrupted: "
        "the stored index is as it was", p->zName);
    return rc;
  }
  if( rc ) return rc;
  if( pS->ivf.nList>0 ){
    aRow = encode(&pS->ivf, pS->slots.aId, nMap, &nBytes);
    if( aRow==0 ) return SQLITE_NOMEM;
  }
  rc = vsShadowExec(p->db, "CREATE TABLE IF NOT EXISTS \"%w\".\"%w_ivf\"("
                    "k INTEGER PRIMARY KEY, v BLOB)", pS->sh.zSchema,
                    pS->sh.zName);
  if( rc==SQLITE_OK ){
    sqlite3_stmt *pStmt = 0;
    char *zSql = aRow
        ? sqlite3_mprintf("INSERT OR REPLACE INTO \"%w\".\"%w_ivf\"(k, v) "
                          "VALUES(1, ?1)", pS->sh.zSchema, pS->sh.zName)
        : sqlite3_mprintf("DELETE FROM \"%w\".\"%w_ivf\"", pS->sh.zSchema,
                          pS->sh.zName);
    if( zSql==0 ){
      rc = SQLITE_NOMEM;
    }else{
      rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
      sqlite3_free(zSql);
    }
    if( rc==SQLITE_OK && aRow ){
      rc = sqlite3_bind_blob64(pStmt, 1, aRow, (u64)nBytes, SQLITE_STATIC);
    }
    if( rc==SQLITE_OK && sqlite3_step(pStmt)!=SQLITE_DONE ){
      rc = sqlite3_errcode(p->db);
      if( rc==SQLITE_OK ) rc = SQLITE_ERROR;
    }
    sqlite3_finalize(pStmt);
  }
  sqlite3_free(aRow);
  if( rc && rc!=SQLITE_NOMEM ){
    vsVectorsSetError(p, "vectors: table %s: cannot store the index in "
        "%s_ivf: %s", p->zName, pS->sh.zName, sqlite3_errmsg(p->db));
  }
  return rc;
}
