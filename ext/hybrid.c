/*
** Hybrid search: full-text and vector relevance fused in one call, by
** reciprocal rank fusion (RRF).
**
**   SELECT id, score, text_rank, text_score, vec_rank, vec_distance
**     FROM veles_hybrid('docs', 'emb', :text, :vector, 10)
**    [WHERE id IN (SELECT id FROM meta WHERE lang = 'en')];
**
** veles_hybrid is an eponymous table-valued function. Its arguments (the
** hidden columns fts, vectors, text, vector, k, then optionally rrf_k,
** text_weight, vec_weight and depth, also settable as "AND rrf_k = 30"):
** an FTS5 table whose rowids are the documents' ids, a `vectors` table
** with the same ids, the text query (FTS5 syntax), the query vector, and
** how many rows to return.
**
** HOW. xFilter runs two ordinary queries on the connection:
**   SELECT rowid, rank FROM <fts> WHERE <fts> MATCH :text
**     [AND rowid IN (SELECT value FROM json_each(:ids))]
**     ORDER BY rank LIMIT :depth
**   SELECT id, distance FROM <vectors> WHERE vec MATCH :vector AND k = :depth
**     [AND id IN (SELECT value FROM json_each(:ids))]
** ranks each list from 1, and scores every id found by either side:
**   score = text_weight / (rrf_k + text_rank) + vec_weight / (rrf_k + vec_rank)
** (a side that did not find the id adds nothing). The k best scores come
** out, highest first, ties by id; a row that scores 0 (found only by a
** side of weight 0) does not. depth is max(4 k, 50) by default: RRF needs
** more than k from each side, since a row may rank low on one and high on
** the other. An id filter on the output (id = or id IN, a list or a
** subquery) is pushed into both queries, so k rows come back whenever k
** filtered rows match either side.
**
** The columns: id; score; text_rank and text_score (FTS5's rank, bm25 by
** default: more negative is better), NULL when the text side did not find
** the id; vec_rank and vec_distance, NULL when the vector side did not.
*/
#include "veles_int.h"
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Columns: the results, then the arguments (HIDDEN). */
enum {
  HY_ID, HY_SCORE, HY_TEXT_RANK, HY_TEXT_SCORE, HY_VEC_RANK, HY_VEC_DIST,
  HY_FTS, HY_VECTORS, HY_TEXT, HY_VECTOR, HY_K, HY_RRF_K, HY_TEXT_WEIGHT,
  HY_VEC_WEIGHT, HY_DEPTH, HY_NCOL
};
#define HY_FIRST_ARG HY_FTS
#define HY_NARG (HY_NCOL-HY_FIRST_ARG)
#define HY_NREQUIRED 5                  /* fts, vectors, text, vector, k */
#define HY_PLAN_IDS (1<<HY_NARG)        /* idxNum bit: an id filter ... */
#define HY_PLAN_IN  (2<<HY_NARG)        /* ... that is an IN list */
#define HY_RRF_K_DEFAULT 60.0
#define HY_DEPTH_MIN 50
#define HY_DEPTH_MAX 100000

static const char *const azArg[HY_NARG] = {
  "fts", "vectors", "text", "vector", "k", "rrf_k", "text_weight",
  "vec_weight", "depth"
};

typedef struct HyRow HyRow;
struct HyRow {
  i64 iId;
  double rScore;
  i64 iTextRank, iVecRank;      /* 0: not found by that side */
  double rTextScore, rVecDist;
};

typedef struct HyCursor HyCursor;
struct HyCursor {
  sqlite3_vtab_cursor base;
  HyRow *aRow;
  i64 nRow, iRow;
};

typedef struct HyTable HyTable;
struct HyTable {
  sqlite3_vtab base;
  sqlite3 *db;
};

static int hyConnect(sqlite3 *db, void *pAux, int argc,
                     const char *const *argv, sqlite3_vtab **ppVtab,
                     char **pzErr){
  HyTable *p;
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(id INTEGER, score REAL, "
      "text_rank INTEGER, text_score REAL, vec_rank INTEGER, "
      "vec_distance REAL, fts HIDDEN, vectors HIDDEN, text HIDDEN, "
      "vector HIDDEN, k HIDDEN, rrf_k HIDDEN, text_weight HIDDEN, "
      "vec_weight HIDDEN, depth HIDDEN)");
  (void)pAux; (void)argc; (void)argv; (void)pzErr;
  if( rc ) return rc;
  p = sqlite3_malloc(sizeof(*p));
  if( p==0 ) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  p->db = db;
  sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
  *ppVtab = &p->base;
  return SQLITE_OK;
}

static int hyDisconnect(sqlite3_vtab *pVtab){
  sqlite3_free(pVtab);
  return SQLITE_OK;
}

/*
** The plan: idxNum bit i for argument i given (=), bit HY_PLAN_IDS for an
** id filter; xFilter's argv holds them in that order. The required
** arguments must be usable, else this plan is refused (SQLITE_CONSTRAINT)
** and SQLite looks for another order of the joins. Missing ones are
** reported by xFilter.
*/
static int hyBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo){
  int aCons[HY_NARG], iIds = -1, i, nArg = 0, idxNum = 0, bUnusable = 0;
  (void)pVtab;
  for(i=0; i<HY_NARG; i++) aCons[i] = -1;
  for(i=0; i<pInfo->nConstraint; i++){
    const struct sqlite3_index_constraint *c = &pInfo->aConstraint[i];
    int iArg = c->iColumn-HY_FIRST_ARG;
    if( c->op!=SQLITE_INDEX_CONSTRAINT_EQ ) continue;
    if( iArg>=0 && iArg<HY_NARG ){
      if( !c->usable ) bUnusable = 1;
      else if( aCons[iArg]<0 ) aCons[iArg] = i;
    }else if( c->iColumn==HY_ID && c->usable && iIds<0 ){
      iIds = i;
    }
  }
  if( bUnusable ){
    for(i=0; i<HY_NREQUIRED; i++) if( aCons[i]<0 ) return SQLITE_CONSTRAINT;
  }
  for(i=0; i<HY_NARG; i++){
    if( aCons[i]<0 ) continue;
    idxNum |= 1<<i;
    pInfo->aConstraintUsage[aCons[i]].argvIndex = ++nArg;
    pInfo->aConstraintUsage[aCons[i]].omit = 1;
  }
  if( iIds>=0 ){
    idxNum |= HY_PLAN_IDS;
    pInfo->aConstraintUsage[iIds].argvIndex = ++nArg;
    pInfo->aConstraintUsage[iIds].omit = 1;
    if( sqlite3_vtab_in(pInfo, iIds, 1) ) idxNum |= HY_PLAN_IN; /* at once */
  }
  pInfo->idxNum = idxNum;
  pInfo->estimatedCost = iIds>=0 ? 100.0 : 1000.0;
  pInfo->estimatedRows = 10;
  return SQLITE_OK;
}

static int hyOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCur){
  HyCursor *pCur = sqlite3_malloc(sizeof(*pCur));
  (void)pVtab;
  if( pCur==0 ) return SQLITE_NOMEM;
  memset(pCur, 0, sizeof(*pCur));
  *ppCur = &pCur->base;
  return SQLITE_OK;
}

static int hyClose(sqlite3_vtab_cursor *pCursor){
  HyCursor *pCur = (HyCursor*)pCursor;
  sqlite3_free(pCur->aRow);
  sqlite3_free(pCur);
  return SQLITE_OK;
}

/* Set the error, printf-style; returns SQLITE_ERROR. */
static int hyError(HyTable *p, const char *zFormat, ...){
  va_list ap;
  va_start(ap, zFormat);
  vsVtabSetErrorV(&p->base, zFormat, ap);
  va_end(ap);
  return SQLITE_ERROR;
}

/* A value as a message shows it ("3", "'x'", "NULL"), or 0 on OOM. */
static char *describe(sqlite3_value *pVal){
  switch( sqlite3_value_type(pVal) ){
    case SQLITE_NULL: return sqlite3_mprintf("NULL");
    case SQLITE_BLOB: return sqlite3_mprintf("a blob");
    case SQLITE_TEXT: return sqlite3_mprintf("'%.40s'",
                                             sqlite3_value_text(pVal));
  }
  return sqlite3_mprintf("%s", sqlite3_value_text(pVal));
}

/*
** Check that zArg ("table" or "schema.table") names a virtual table of
** module zModule ("fts5", "vectors"): *pzSchema and *pzName get its
** parts (sqlite3_mprintf).
*/
static int checkTable(HyTable *p, const char *zWhat, const char *zArg,
                      const char *zModule, char **pzSchema, char **pzName){
  const char *zDot = strchr(zArg, '.');
  sqlite3_stmt *pStmt = 0;
  char *zSql;
  int rc, bFound = 0, bModule = 0;
  *pzSchema = zDot ? sqlite3_mprintf("%.*s", (int)(zDot-zArg), zArg)
                   : sqlite3_mprintf("main");
  *pzName = sqlite3_mprintf("%s", zDot ? zDot+1 : zArg);
  if( *pzSchema==0 || *pzName==0 ) return SQLITE_NOMEM;
  zSql = sqlite3_mprintf("SELECT sql LIKE 'CREATE VIRTUAL TABLE%%USING %q%%' "
      "FROM \"%w\".sqlite_schema WHERE type='table' AND name=%Q "
      "COLLATE NOCASE", zModule, *pzSchema, *pzName);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc==SQLITE_OK && sqlite3_step(pStmt)==SQLITE_ROW ){
    bFound = 1;
    bModule = sqlite3_column_int(pStmt, 0);
  }
  if( rc==SQLITE_OK ) rc = sqlite3_finalize(pStmt);
  else sqlite3_finalize(pStmt);
  if( rc==SQLITE_NOMEM ) return rc;
  if( rc ){
    return hyError(p, "veles_hybrid: %s: %s", zWhat, sqlite3_errmsg(p->db));
  }
  if( !bFound ){
    return hyError(p, "veles_hybrid: %s: expected the name of a table, got "
                   "'%s', which does not exist", zWhat, zArg);
  }
  if( !bModule ){
    return hyError(p, "veles_hybrid: %s: expected %s table, got '%s', "
                   "which is not one", zWhat,
                   strcmp(zModule, "fts5")==0 ? "an FTS5" : "a vectors",
                   zArg);
  }
  return SQLITE_OK;
}

/* *pr = pVal as a finite number >= 0, or an error naming zName. */
static int numberArg(HyTable *p, sqlite3_value *pVal, const char *zName,
                     double *pr){
  int e = sqlite3_value_numeric_type(pVal);
  double r = sqlite3_value_double(pVal);
  if( (e==SQLITE_INTEGER || e==SQLITE_FLOAT) && isfinite(r) && r>=0 ){
    *pr = r;
    return SQLITE_OK;
  }else{
    char *z = describe(pVal);
    int rc = hyError(p, "veles_hybrid: %s must be a finite number >= 0: "
                     "got %s", zName, z ? z : "?");
    sqlite3_free(z);
    return rc;
  }
}

/* *pi = pVal as an integer from iMin to iMax, or an error naming zName. */
static int integerArg(HyTable *p, sqlite3_value *pVal, const char *zName,
                      i64 iMin, i64 iMax, i64 *pi){
  int e = sqlite3_value_numeric_type(pVal);
  double r = sqlite3_value_double(pVal);
  if( (e==SQLITE_INTEGER || (e==SQLITE_FLOAT && r==floor(r)))
   && r>=(double)iMin && r<=(double)iMax ){
    *pi = (i64)r;
    return SQLITE_OK;
  }else{
    char *z = describe(pVal);
    int rc = hyError(p, "veles_hybrid: %s must be an integer from %lld to "
                     "%lld: got %s", zName, iMin, iMax, z ? z : "?");
    sqlite3_free(z);
    return rc;
  }
}

/* The id filter (the values of pList, an IN list or one value) as JSON. */
static int idsJson(HyTable *p, int bIn, sqlite3_value *pList, char **pz){
  sqlite3_str *pStr = sqlite3_str_new(p->db);
  int rc = SQLITE_OK, n = 0;
  sqlite3_str_appendchar(pStr, 1, '[');
  if( bIn ){
    sqlite3_value *pVal = 0;
    for(rc=sqlite3_vtab_in_first(pList, &pVal); rc==SQLITE_OK;
        rc=sqlite3_vtab_in_next(pList, &pVal)){
      if( sqlite3_value_numeric_type(pVal)==SQLITE_INTEGER ){
        sqlite3_str_appendf(pStr, "%s%lld", n++ ? "," : "",
                            sqlite3_value_int64(pVal));
      }
    }
    if( rc==SQLITE_DONE ) rc = SQLITE_OK;
  }else if( sqlite3_value_numeric_type(pList)==SQLITE_INTEGER ){
    sqlite3_str_appendf(pStr, "%lld", sqlite3_value_int64(pList));
  }
  sqlite3_str_appendchar(pStr, 1, ']');
  *pz = sqlite3_str_finish(pStr);
  if( rc==SQLITE_OK && *pz==0 ) rc = SQLITE_NOMEM;
  if( rc && rc!=SQLITE_NOMEM ){
    rc = hyError(p, "veles_hybrid: id filter: %s", sqlite3_errmsg(p->db));
  }
  return rc;
}

static int rowIdCompare(const void *a, const void *b){
  i64 x = ((const HyRow*)a)->iId, y = ((const HyRow*)b)->iId;
  return x<y ? -1 : x>y;
}

static int rowScoreCompare(const void *a, const void *b){
  const HyRow *x = (const HyRow*)a, *y = (const HyRow*)b;
  if( x->rScore!=y->rScore ) return x->rScore>y->rScore ? -1 : 1;
  return x->iId<y->iId ? -1 : x->iId>y->iId;
}

/* Run one side's query (bound by the caller) and append its rows to
** *paRow, ranked from 1 (bText: the text side's fields). */
static int runSide(HyTable *p, sqlite3_stmt *pStmt, int bText,
                   HyRow **paRow, i64 *pnRow, i64 *pnAlloc){
  i64 iRank = 0;
  int rc;
  while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
    HyRow *pRow;
    if( *pnRow>=*pnAlloc ){
      i64 nNew = *pnAlloc ? *pnAlloc*2 : 64;
      HyRow *aNew = sqlite3_realloc64(*paRow, sizeof(HyRow)*(u64)nNew);
      if( aNew==0 ) return SQLITE_NOMEM;
      *paRow = aNew;
      *pnAlloc = nNew;
    }
    pRow = &(*paRow)[(*pnRow)++];
    memset(pRow, 0, sizeof(*pRow));
    pRow->iId = sqlite3_column_int64(pStmt, 0);
    if( bText ){
      pRow->iTextRank = ++iRank;
      pRow->rTextScore = sqlite3_column_double(pStmt, 1);
    }else{
      pRow->iVecRank = ++iRank;
      pRow->rVecDist = sqlite3_column_double(pStmt, 1);
    }
  }
  if( rc==SQLITE_DONE ) return SQLITE_OK;
  rc = sqlite3_reset(pStmt);
  if( rc==SQLITE_NOMEM ) return rc;
  return hyError(p, "veles_hybrid: %s side: %s", bText ? "text" : "vector",
                 sqlite3_errmsg(p->db));
}

static int hyFilter(sqlite3_vtab_cursor *pCursor, int idxNum,
                    const char *idxStr, int argc, sqlite3_value **argv){
  HyCursor *pCur = (HyCursor*)pCursor;
  HyTable *p = (HyTable*)pCursor->pVtab;
  sqlite3_value *apArg[HY_NARG];
  char *zFtsSchema = 0, *zFts = 0, *zVecSchema = 0, *zVec = 0, *zIds = 0;
  char *zSql = 0;
  sqlite3_stmt *pStmt = 0;
  double rRrfK = HY_RRF_K_DEFAULT, rTextW = 1.0, rVecW = 1.0;
  i64 nK = 0, nDepth = 0, nAlloc = 0, i, j;
  const char *zText;
  int rc = SQLITE_OK, iArg = 0, n;
  (void)idxStr; (void)argc;
  sqlite3_free(pCur->aRow);
  pCur->aRow = 0;
  pCur->nRow = pCur->iRow = 0;
  for(i=0; i<HY_NARG; i++){
    apArg[i] = (idxNum & (1<<i)) ? argv[iArg++] : 0;
  }
  for(i=0; i<HY_NREQUIRED; i++){
    if( apArg[i]==0 ){
      return hyError(p, "veles_hybrid: expected the arguments (fts, vectors, "
                     "text, vector, k [, rrf_k, text_weight, vec_weight, "
                     "depth]): %s is missing", azArg[i]);
    }
  }
  for(i=0; i<2; i++){
    if( sqlite3_value_type(apArg[i])!=SQLITE_TEXT ){
      char *z = describe(apArg[i]);
      rc = hyError(p, "veles_hybrid: %s: expected a table name, got %s",
                   azArg[i], z ? z : "?");
      sqlite3_free(z);
      return rc;
    }
  }
  zText = (const char*)sqlite3_value_text(apArg[HY_TEXT-HY_FIRST_ARG]);
  if( sqlite3_value_type(apArg[HY_TEXT-HY_FIRST_ARG])!=SQLITE_TEXT
   || zText==0 || zText[strspn(zText, " \t\r\n")]==0 ){
    char *z = describe(apArg[HY_TEXT-HY_FIRST_ARG]);
    rc = hyError(p, "veles_hybrid: text: expected a full-text query, got %s",
                 z ? z : "?");
    sqlite3_free(z);
    return rc;
  }
  rc = integerArg(p, apArg[HY_K-HY_FIRST_ARG], "k", 1, HY_DEPTH_MAX, &nK);
  if( rc==SQLITE_OK && apArg[HY_RRF_K-HY_FIRST_ARG] ){
    rc = numberArg(p, apArg[HY_RRF_K-HY_FIRST_ARG], "rrf_k", &rRrfK);
  }
  if( rc==SQLITE_OK && apArg[HY_TEXT_WEIGHT-HY_FIRST_ARG] ){
    rc = numberArg(p, apArg[HY_TEXT_WEIGHT-HY_FIRST_ARG], "text_weight",
                   &rTextW);
  }
  if( rc==SQLITE_OK && apArg[HY_VEC_WEIGHT-HY_FIRST_ARG] ){
    rc = numberArg(p, apArg[HY_VEC_WEIGHT-HY_FIRST_ARG], "vec_weight",
                   &rVecW);
  }
  if( rc==SQLITE_OK && rTextW==0 && rVecW==0 ){
    rc = hyError(p, "veles_hybrid: text_weight and vec_weight are both 0: "
                 "no row would score");
  }
  nDepth = nK*4>HY_DEPTH_MIN ? nK*4 : HY_DEPTH_MIN;
  if( nDepth>HY_DEPTH_MAX ) nDepth = HY_DEPTH_MAX;
  if( rc==SQLITE_OK && apArg[HY_DEPTH-HY_FIRST_ARG] ){
    rc = integerArg(p, apArg[HY_DEPTH-HY_FIRST_ARG], "depth", nK,
                    HY_DEPTH_MAX, &nDepth);
  }
  if( rc ) return rc;
  rc = checkTable(p, "fts",
                  (const char*)sqlite3_value_text(apArg[0]), "fts5",
                  &zFtsSchema, &zFts);
  if( rc==SQLITE_OK ){
    rc = checkTable(p, "vectors", (const char*)sqlite3_value_text(apArg[1]),
                    "vectors", &zVecSchema, &zVec);
  }
  if( rc==SQLITE_OK && (idxNum & HY_PLAN_IDS) ){
    rc = idsJson(p, (idxNum & HY_PLAN_IN)!=0, argv[iArg], &zIds);
  }

  /* the text side */
  if( rc==SQLITE_OK ){
    zSql = sqlite3_mprintf("SELECT rowid, rank FROM \"%w\".\"%w\" WHERE "
        "\"%w\" MATCH ?1%s ORDER BY rank LIMIT ?2", zFtsSchema, zFts, zFts,
        zIds ? " AND rowid IN (SELECT value FROM json_each(?3))" : "");
    rc = zSql ? sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0) : SQLITE_NOMEM;
    sqlite3_free(zSql);
    if( rc && rc!=SQLITE_NOMEM ){
      rc = hyError(p, "veles_hybrid: text side: %s", sqlite3_errmsg(p->db));
    }
  }
  if( rc==SQLITE_OK ){
    sqlite3_bind_value(pStmt, 1, apArg[HY_TEXT-HY_FIRST_ARG]);
    sqlite3_bind_int64(pStmt, 2, nDepth);
    if( zIds ) sqlite3_bind_text(pStmt, 3, zIds, -1, SQLITE_STATIC);
    rc = runSide(p, pStmt, 1, &pCur->aRow, &pCur->nRow, &nAlloc);
  }
  sqlite3_finalize(pStmt);
  pStmt = 0;

  /* the vector side */
  if( rc==SQLITE_OK ){
    zSql = sqlite3_mprintf("SELECT id, distance FROM \"%w\".\"%w\" WHERE "
        "vec MATCH ?1 AND k = ?2%s", zVecSchema, zVec,
        zIds ? " AND id IN (SELECT value FROM json_each(?3))" : "");
    rc = zSql ? sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0) : SQLITE_NOMEM;
    sqlite3_free(zSql);
    if( rc && rc!=SQLITE_NOMEM ){
      rc = hyError(p, "veles_hybrid: vector side: %s", sqlite3_errmsg(p->db));
    }
  }
  if( rc==SQLITE_OK ){
    sqlite3_bind_value(pStmt, 1, apArg[HY_VECTOR-HY_FIRST_ARG]);
    sqlite3_bind_int64(pStmt, 2, nDepth);
    if( zIds ) sqlite3_bind_text(pStmt, 3, zIds, -1, SQLITE_STATIC);
    rc = runSide(p, pStmt, 0, &pCur->aRow, &pCur->nRow, &nAlloc);
  }
  sqlite3_finalize(pStmt);

  /* fuse: merge each id's two entries, score, keep the k best */
  if( rc==SQLITE_OK && pCur->nRow>0 ){
    HyRow *a = pCur->aRow;
    qsort(a, (size_t)pCur->nRow, sizeof(HyRow), rowIdCompare);
    for(i=0, j=0; i<pCur->nRow; i++){
      if( j>0 && a[j-1].iId==a[i].iId ){
        if( a[i].iTextRank ){
          a[j-1].iTextRank = a[i].iTextRank;
          a[j-1].rTextScore = a[i].rTextScore;
        }
        if( a[i].iVecRank ){
          a[j-1].iVecRank = a[i].iVecRank;
          a[j-1].rVecDist = a[i].rVecDist;
        }
      }else{
        a[j++] = a[i];
      }
    }
    for(i=0, n=0; i<j; i++){
      double r = 0;
      if( a[i].iTextRank ) r += rTextW/(rRrfK + (double)a[i].iTextRank);
      if( a[i].iVecRank ) r += rVecW/(rRrfK + (double)a[i].iVecRank);
      if( r>0 ){
        a[n] = a[i];
        a[n++].rScore = r;
      }
    }
    qsort(a, (size_t)n, sizeof(HyRow), rowScoreCompare);
    pCur->nRow = n<nK ? n : nK;
  }
  if( rc ){
    sqlite3_free(pCur->aRow);
    pCur->aRow = 0;
    pCur->nRow = 0;
  }
  sqlite3_free(zFtsSchema);
  sqlite3_free(zFts);
  sqlite3_free(zVecSchema);
  sqlite3_free(zVec);
  sqlite3_free(zIds);
  return rc;
}

static int hyNext(sqlite3_vtab_cursor *pCursor){
  ((HyCursor*)pCursor)->iRow++;
  return SQLITE_OK;
}

static int hyEof(sqlite3_vtab_cursor *pCursor){
  HyCursor *pCur = (HyCursor*)pCursor;
  return pCur->iRow>=pCur->nRow;
}

static int hyColumn(sqlite3_vtab_cursor *pCursor, sqlite3_context *ctx,
                    int iCol){
  HyCursor *pCur = (HyCursor*)pCursor;
  const HyRow *pRow = &pCur->aRow[pCur->iRow];
  assert( pCur->iRow<pCur->nRow );
  switch( iCol ){
    case HY_ID:         sqlite3_result_int64(ctx, pRow->iId); break;
    case HY_SCORE:      sqlite3_result_double(ctx, pRow->rScore); break;
    case HY_TEXT_RANK:
      if( pRow->iTextRank ) sqlite3_result_int64(ctx, pRow->iTextRank);
      break;
    case HY_TEXT_SCORE:
      if( pRow->iTextRank ) sqlite3_result_double(ctx, pRow->rTextScore);
      break;
    case HY_VEC_RANK:
      if( pRow->iVecRank ) sqlite3_result_int64(ctx, pRow->iVecRank);
      break;
    case HY_VEC_DIST:
      if( pRow->iVecRank ) sqlite3_result_double(ctx, pRow->rVecDist);
      break;
    default: break;             /* the arguments: NULL */
  }
  return SQLITE_OK;
}

static int hyRowid(sqlite3_vtab_cursor *pCursor, sqlite3_int64 *pRowid){
  HyCursor *pCur = (HyCursor*)pCursor;
  *pRowid = pCur->aRow[pCur->iRow].iId;
  return SQLITE_OK;
}

static sqlite3_module hyModule = {
  /* iVersion    */ 0,
  /* xCreate     */ 0,
  /* xConnect    */ hyConnect,
  /* xBestIndex  */ hyBestIndex,
  /* xDisconnect */ hyDisconnect,
  /* xDestroy    */ 0,
  /* xOpen       */ hyOpen,
  /* xClose      */ hyClose,
  /* xFilter     */ hyFilter,
  /* xNext       */ hyNext,
  /* xEof        */ hyEof,
  /* xColumn     */ hyColumn,
  /* xRowid      */ hyRowid,
  /* xUpdate     */ 0,
  /* xBegin      */ 0,
  /* xSync       */ 0,
  /* xCommit     */ 0,
  /* xRollback   */ 0,
  /* xFindFunction */ 0,
  /* xRename     */ 0,
  /* xSavepoint  */ 0,
  /* xRelease    */ 0,
  /* xRollbackTo */ 0,
  /* xShadowName */ 0,
};

int vsHybridRegister(sqlite3 *db, int bRemove){
  return sqlite3_create_module(db, "veles_hybrid", bRemove ? 0 : &hyModule,
                               0);
}
