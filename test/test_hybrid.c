/*
** Hybrid search (ext/hybrid.c) through SQL: veles_hybrid() against a
** reference fused here from the two separate result lists (the FTS5
** query ordered by rank, the vectors search), as an app would write it.
**
**   h.1.*  200 random queries over 3000 documents: the same ids, scores,
**          ranks, text scores and distances as the reference, for the
**          default rrf_k and weights and for other settings and depths
**   h.2.*  an id filter (a list, a subquery on a payloads field, id =):
**          only those ids, and the reference computed with the filter
**   h.3.*  refusals, each naming what was expected and what was given
**   h.4    an attached database's tables ('aux.docs')
*/
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NDOC 3000
#define NDIM 8
#define NWORD 40
#define MAXOUT 400

static unsigned long long rngState = 0x853c49e6748fea9bULL;
static unsigned rnd(unsigned n){
  rngState ^= rngState<<13;
  rngState ^= rngState>>7;
  rngState ^= rngState<<17;
  return (unsigned)((rngState>>11) % n);
}

/* word w of the vocabulary: "w0" .. "w39", the low ones most common */
static void word(char *z, int n){
  snprintf(z, 8, "w%d", n);
}

typedef struct Ref Ref;
struct Ref {
  long long id;
  double score, textScore, vecDist;
  int textRank, vecRank;
};

static int refCompare(const void *a, const void *b){
  const Ref *x = (const Ref*)a, *y = (const Ref*)b;
  if( x->score!=y->score ) return x->score>y->score ? -1 : 1;
  return x->id<y->id ? -1 : x->id>y->id;
}

/* The reference: the two lists (zFilter appended to both), fused. */
static int reference(sqlite3 *db, const char *zText, const char *zVec,
                     int k, double rrfK, double wText, double wVec,
                     int depth, const char *zFilter, Ref *aOut){
  Ref a[2*MAXOUT];
  int n = 0, i, j, side;
  for(side=0; side<2; side++){
    sqlite3_stmt *p = 0;
    char *zSql = side==0
      ? sqlite3_mprintf("SELECT rowid, rank FROM docs WHERE docs MATCH ?1 %s"
                        " ORDER BY rank LIMIT %d",
                        zFilter ? zFilter : "", depth)
      : sqlite3_mprintf("SELECT id, distance FROM emb WHERE vec MATCH ?1 AND "
                        "k = %d %s", depth, zFilter ? zFilter : "");
    int rank = 0;
    sqlite3_prepare_v2(db, zSql, -1, &p, 0);
    sqlite3_bind_text(p, 1, side==0 ? zText : zVec, -1, SQLITE_STATIC);
    while( sqlite3_step(p)==SQLITE_ROW ){
      long long id = sqlite3_column_int64(p, 0);
      rank++;
      for(j=0; j<n && a[j].id!=id; j++){}
      if( j==n ){
        memset(&a[n], 0, sizeof(a[n]));
        a[n++].id = id;
      }
      if( side==0 ){
        a[j].textRank = rank;
        a[j].textScore = sqlite3_column_double(p, 1);
      }else{
        a[j].vecRank = rank;
        a[j].vecDist = sqlite3_column_double(p, 1);
      }
    }
    if( sqlite3_finalize(p) ) tCheck("h.ref", 0, sqlite3_errmsg(db));
    sqlite3_free(zSql);
  }
  for(i=0, j=0; i<n; i++){
    a[i].score = (a[i].textRank ? wText/(rrfK + a[i].textRank) : 0)
               + (a[i].vecRank ? wVec/(rrfK + a[i].vecRank) : 0);
    if( a[i].score>0 ) a[j++] = a[i];
  }
  qsort(a, (size_t)j, sizeof(Ref), refCompare);
  if( j>k ) j = k;
  memcpy(aOut, a, sizeof(Ref)*(size_t)j);
  return j;
}

/* veles_hybrid's rows for the same arguments (zWhere after them). */
static int hybrid(sqlite3 *db, const char *zArgs, const char *zText,
                  const char *zVec, const char *zWhere, Ref *aOut){
  sqlite3_stmt *p = 0;
  char *zSql = sqlite3_mprintf("SELECT id, score, text_rank, text_score, "
      "vec_rank, vec_distance FROM veles_hybrid(%s) %s", zArgs,
      zWhere ? zWhere : "");
  int n = 0;
  if( sqlite3_prepare_v2(db, zSql, -1, &p, 0) ){
    tCheck("h.prepare", 0, sqlite3_errmsg(db));
    sqlite3_free(zSql);
    return -1;
  }
  sqlite3_bind_text(p, 1, zText, -1, SQLITE_STATIC);
  sqlite3_bind_text(p, 2, zVec, -1, SQLITE_STATIC);
  while( sqlite3_step(p)==SQLITE_ROW && n<MAXOUT ){
    aOut[n].id = sqlite3_column_int64(p, 0);
    aOut[n].score = sqlite3_column_double(p, 1);
    aOut[n].textRank = sqlite3_column_type(p, 2)==SQLITE_NULL ? 0
                     : sqlite3_column_int(p, 2);
    aOut[n].textScore = sqlite3_column_double(p, 3);
    aOut[n].vecRank = sqlite3_column_type(p, 4)==SQLITE_NULL ? 0
                    : sqlite3_column_int(p, 4);
    aOut[n].vecDist = sqlite3_column_double(p, 5);
    if( (aOut[n].textRank==0)!=(sqlite3_column_type(p, 3)==SQLITE_NULL)
     || (aOut[n].vecRank==0)!=(sqlite3_column_type(p, 5)==SQLITE_NULL) ){
      aOut[n].score = -1;       /* a rank without its score: wrong */
    }
    n++;
  }
  if( sqlite3_finalize(p) ){
    tCheck("h.run", 0, sqlite3_errmsg(db));
    n = -1;
  }
  sqlite3_free(zSql);
  return n;
}

/* Whether two result lists are the same rows, in the same order. */
static int same(const Ref *a, int na, const Ref *b, int nb){
  int i;
  if( na!=nb ) return 0;
  for(i=0; i<na; i++){
    if( a[i].id!=b[i].id || a[i].textRank!=b[i].textRank
     || a[i].vecRank!=b[i].vecRank
     || fabs(a[i].score-b[i].score)>1e-12
     || (a[i].textRank && a[i].textScore!=b[i].textScore)
     || (a[i].vecRank && a[i].vecDist!=b[i].vecDist) ){
      return 0;
    }
  }
  return 1;
}

/* A random text query: one or two words, OR'd or AND'ed. */
static void textQuery(char *z){
  char a[8], b[8];
  word(a, (int)rnd(NWORD));
  word(b, (int)rnd(NWORD));
  switch( rnd(3) ){
    case 0: snprintf(z, 40, "%s", a); break;
    case 1: snprintf(z, 40, "%s OR %s", a, b); break;
    default: snprintf(z, 40, "%s %s", a, b); break;
  }
}

static void vecQuery(char *z){
  int j, n = 0;
  n += snprintf(z+n, 200-n, "[");
  for(j=0; j<NDIM; j++){
    n += snprintf(z+n, 200-n, "%s%.3f", j ? "," : "", rnd(2001)/1000.0-1);
  }
  snprintf(z+n, 200-n, "]");
}

static void fill(sqlite3 *db, const char *zSchema){
  sqlite3_stmt *pDoc = 0, *pVec = 0, *pMeta = 0;
  char zSql[200], zBody[400], zVec[200];
  int i, j;
  tExec(db, "CREATE VIRTUAL TABLE %s.docs USING fts5(body)", zSchema);
  tExec(db, "CREATE VIRTUAL TABLE %s.emb USING vectors(dim=%d)", zSchema,
        NDIM);
  tExec(db, "CREATE VIRTUAL TABLE %s.meta USING payloads(lang TEXT)",
        zSchema);
  tExec(db, "BEGIN");
  snprintf(zSql, sizeof(zSql), "INSERT INTO %s.docs(rowid, body) VALUES "
           "(?, ?)", zSchema);
  sqlite3_prepare_v2(db, zSql, -1, &pDoc, 0);
  snprintf(zSql, sizeof(zSql), "INSERT INTO %s.emb(id, vec) VALUES (?, ?)",
           zSchema);
  sqlite3_prepare_v2(db, zSql, -1, &pVec, 0);
  snprintf(zSql, sizeof(zSql), "INSERT INTO %s.meta(id, json) VALUES (?, "
           "json_object('lang', ?))", zSchema);
  sqlite3_prepare_v2(db, zSql, -1, &pMeta, 0);
  for(i=1; i<=NDOC; i++){
    int n = 0, nWord = 3 + (int)rnd(12);
    for(j=0; j<nWord; j++){
      char w[8];
      word(w, (int)(rnd(NWORD)*rnd(NWORD)/NWORD));  /* skewed */
      n += snprintf(zBody+n, sizeof(zBody)-(size_t)n, "%s ", w);
    }
    vecQuery(zVec);
    sqlite3_bind_int(pDoc, 1, i);
    sqlite3_bind_text(pDoc, 2, zBody, -1, SQLITE_STATIC);
    sqlite3_bind_int(pVec, 1, i);
    sqlite3_bind_text(pVec, 2, zVec, -1, SQLITE_STATIC);
    sqlite3_bind_int(pMeta, 1, i);
    sqlite3_bind_text(pMeta, 2, i%10==0 ? "fr" : "en", -1, SQLITE_STATIC);
    if( sqlite3_step(pDoc)!=SQLITE_DONE || sqlite3_step(pVec)!=SQLITE_DONE
     || sqlite3_step(pMeta)!=SQLITE_DONE ){
      tCheck("h.fill", 0, sqlite3_errmsg(db));
    }
    sqlite3_reset(pDoc);
    sqlite3_reset(pVec);
    sqlite3_reset(pMeta);
  }
  sqlite3_finalize(pDoc);
  sqlite3_finalize(pVec);
  sqlite3_finalize(pMeta);
  tExec(db, "COMMIT");
}

static void testFusion(sqlite3 *db){
  static const struct {
    const char *zArgs;          /* after the query text and vector */
    int k; double rrfK, wText, wVec; int depth;
  } aSet[] = {
    { "10", 10, 60, 1, 1, 50 },
    { "5, 60, 1.0, 1.0, 20", 5, 60, 1, 1, 20 },
    { "20, 10", 20, 10, 1, 1, 80 },
    { "10, 60, 2.5, 0.5", 10, 60, 2.5, 0.5, 50 },
    { "10, 60, 0, 1", 10, 60, 0, 1, 50 },
    { "10, 60, 1, 0", 10, 60, 1, 0, 50 },
    { "100, 0, 1, 1, 300", 100, 0, 1, 1, 300 },
  };
  int q, s, nBad = 0, nRows = 0, nHalf = 0;
  for(q=0; q<200; q++){
    char zText[40], zVec[200], zArgs[120];
    Ref aRef[MAXOUT], aGot[MAXOUT];
    int nRef, nGot, i;
    s = q%(int)(sizeof(aSet)/sizeof(aSet[0]));
    textQuery(zText);
    vecQuery(zVec);
    snprintf(zArgs, sizeof(zArgs), "'docs', 'emb', ?1, ?2, %s",
             aSet[s].zArgs);
    nRef = reference(db, zText, zVec, aSet[s].k, aSet[s].rrfK, aSet[s].wText,
                     aSet[s].wVec, aSet[s].depth, 0, aRef);
    nGot = hybrid(db, zArgs, zText, zVec, 0, aGot);
    if( !same(aRef, nRef, aGot, nGot) ){
      if( nBad++<3 ){
        fprintf(stderr, "  h.1 query %d '%s' (%s): %d rows, reference %d\n",
                q, zText, aSet[s].zArgs, nGot, nRef);
      }
    }
    nRows += nGot;
    for(i=0; i<nGot; i++) nHalf += aGot[i].textRank && aGot[i].vecRank;
  }
  fprintf(stderr, "  h.1: %d rows, %d found by both sides\n", nRows, nHalf);
  tCheck("h.1.1", nBad==0, "every query equals the reference");
  tCheck("h.1.2", nHalf>0 && nRows>nHalf, "rows from one and both sides");
}

static void testFilter(sqlite3 *db){
  static const char *azWhere[] = {
    "WHERE id IN (SELECT id FROM meta WHERE lang = 'fr')",
    "WHERE id IN (3, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 2999)",
    "WHERE id = 30",
  };
  static const char *azRef[] = {
    "AND %s IN (SELECT id FROM meta WHERE lang = 'fr')",
    "AND %s IN (3, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 2999)",
    "AND %s = 30",
  };
  int f, q, nBad = 0, nOutside = 0, nRows = 0;
  for(f=0; f<3; f++){
    for(q=0; q<30; q++){
      char zText[40], zVec[200];
      Ref aRef[MAXOUT], aGot[MAXOUT];
      int nRef, nGot, i;
      textQuery(zText);
      vecQuery(zVec);
      {
        /* the reference: each side filtered by its own id column */
        Ref a[2*MAXOUT];
        int n = 0, side, j;
        for(side=0; side<2; side++){
          sqlite3_stmt *p = 0;
          char zCol[8], zF[120];
          char *zSql;
          int rank = 0;
          snprintf(zCol, sizeof(zCol), side==0 ? "rowid" : "id");
          snprintf(zF, sizeof(zF), azRef[f], zCol);
          zSql = side==0
            ? sqlite3_mprintf("SELECT rowid, rank FROM docs WHERE docs MATCH "
                              "?1 %s ORDER BY rank LIMIT 50", zF)
            : sqlite3_mprintf("SELECT id, distance FROM emb WHERE vec MATCH "
                              "?1 AND k = 50 %s", zF);
          sqlite3_prepare_v2(db, zSql, -1, &p, 0);
          sqlite3_bind_text(p, 1, side==0 ? zText : zVec, -1, SQLITE_STATIC);
          while( sqlite3_step(p)==SQLITE_ROW ){
            long long id = sqlite3_column_int64(p, 0);
            rank++;
            for(j=0; j<n && a[j].id!=id; j++){}
            if( j==n ){
              memset(&a[n], 0, sizeof(a[n]));
              a[n++].id = id;
            }
            if( side==0 ){
              a[j].textRank = rank;
              a[j].textScore = sqlite3_column_double(p, 1);
            }else{
              a[j].vecRank = rank;
              a[j].vecDist = sqlite3_column_double(p, 1);
            }
          }
          sqlite3_finalize(p);
          sqlite3_free(zSql);
        }
        for(i=0; i<n; i++){
          a[i].score = (a[i].textRank ? 1/(60.0 + a[i].textRank) : 0)
                     + (a[i].vecRank ? 1/(60.0 + a[i].vecRank) : 0);
        }
        qsort(a, (size_t)n, sizeof(Ref), refCompare);
        nRef = n<10 ? n : 10;
        memcpy(aRef, a, sizeof(Ref)*(size_t)nRef);
      }
      nGot = hybrid(db, "'docs', 'emb', ?1, ?2, 10", zText, zVec,
                    azWhere[f], aGot);
      if( !same(aRef, nRef, aGot, nGot) ) nBad++;
      for(i=0; i<nGot; i++){
        long long id = aGot[i].id;
        if( (f==0 && id%10!=0) || (f==1 && !(id==3 || id==2999
              || (id%10==0 && id<=100))) || (f==2 && id!=30) ){
          nOutside++;
        }
      }
      nRows += nGot;
    }
  }
  fprintf(stderr, "  h.2: %d rows\n", nRows);
  tCheck("h.2.1", nBad==0, "filtered queries equal the filtered reference");
  tCheck("h.2.2", nOutside==0, "no row outside the filter");
  tCheck("h.2.3", nRows>0, "rows came back");
}

static void testErrors(sqlite3 *db){
  tExec(db, "CREATE TABLE plain(x)");
  tError("h.3.1", db, "SELECT * FROM veles_hybrid('docs', 'emb', '', "
         "'[0,0,0,0,0,0,0,0]', 3)", "veles_hybrid: text: expected a "
         "full-text query, got ''");
  tError("h.3.2", db, "SELECT * FROM veles_hybrid('docs', 'emb', NULL, "
         "'[0,0,0,0,0,0,0,0]', 3)", "veles_hybrid: text: expected a "
         "full-text query, got NULL");
  tError("h.3.3", db, "SELECT * FROM veles_hybrid('nope', 'emb', 'w1', "
         "'[0,0,0,0,0,0,0,0]', 3)", "veles_hybrid: fts: expected the name "
         "of a table, got 'nope', which does not exist");
  tError("h.3.4", db, "SELECT * FROM veles_hybrid('plain', 'emb', 'w1', "
         "'[0,0,0,0,0,0,0,0]', 3)", "veles_hybrid: fts: expected an FTS5 "
         "table, got 'plain', which is not one");
  tError("h.3.5", db, "SELECT * FROM veles_hybrid('docs', 'meta', 'w1', "
         "'[0,0,0,0,0,0,0,0]', 3)", "veles_hybrid: vectors: expected a "
         "vectors table, got 'meta', which is not one");
  tError("h.3.6", db, "SELECT * FROM veles_hybrid('docs', 'emb', 'w1', "
         "'[0,0]', 3)", "veles_hybrid: vector side: vectors: dimension "
         "mismatch: expected 8, got 2");
  tError("h.3.7", db, "SELECT * FROM veles_hybrid('docs', 'emb', 'w1 AND', "
         "'[0,0,0,0,0,0,0,0]', 3)", "veles_hybrid: text side: fts5: syntax "
         "error near \"\"");
  tError("h.3.8", db, "SELECT * FROM veles_hybrid('docs', 'emb', 'w1', "
         "'[0,0,0,0,0,0,0,0]', 0)", "veles_hybrid: k must be an integer "
         "from 1 to 100000: got 0");
  tError("h.3.9", db, "SELECT * FROM veles_hybrid('docs', 'emb', 'w1', "
         "'[0,0,0,0,0,0,0,0]', 3, -1)", "veles_hybrid: rrf_k must be a "
         "finite number >= 0: got -1");
  tError("h.3.10", db, "SELECT * FROM veles_hybrid('docs', 'emb', 'w1', "
         "'[0,0,0,0,0,0,0,0]', 3, 60, 'x')", "veles_hybrid: text_weight "
         "must be a finite number >= 0: got 'x'");
  tError("h.3.11", db, "SELECT * FROM veles_hybrid('docs', 'emb', 'w1', "
         "'[0,0,0,0,0,0,0,0]', 3, 60, 0, 0)", "veles_hybrid: text_weight "
         "and vec_weight are both 0: no row would score");
  tError("h.3.12", db, "SELECT * FROM veles_hybrid('docs', 'emb', 'w1', "
         "'[0,0,0,0,0,0,0,0]')", "veles_hybrid: expected the arguments "
         "(fts, vectors, text, vector, k [, rrf_k, text_weight, vec_weight, "
         "depth]): k is missing");
  tError("h.3.13", db, "SELECT * FROM veles_hybrid('docs', 'emb', 'w1', "
         "'[0,0,0,0,0,0,0,0]', 10, 60, 1, 1, 5)", "veles_hybrid: depth must "
         "be an integer from 10 to 100000: got 5");
  tError("h.3.14", db, "SELECT * FROM veles_hybrid(1, 'emb', 'w1', "
         "'[0,0,0,0,0,0,0,0]', 3)", "veles_hybrid: fts: expected a table "
         "name, got 1");
  tError("h.3.15", db, "SELECT * FROM veles_hybrid('docs', 'emb', 'w1', "
         "'[0,0,0,0,0,0,0,0]', 3, 60, 1, -0.5)", "veles_hybrid: vec_weight "
         "must be a finite number >= 0: got -0.5");
  /* the named form of an optional argument */
  tRows("h.3.16", db, "SELECT count(*) FROM veles_hybrid('docs', 'emb', "
        "'w1', '[0,0,0,0,0,0,0,0]', 7) WHERE rrf_k = 1 AND vec_weight = 2",
        "7");
}

int main(int argc, char **argv){
  sqlite3 *db;
  tInit(argc, argv);
  db = tOpen("hybrid.db");
  fill(db, "main");
  testFusion(db);
  testFilter(db);
  testErrors(db);
  /* h.4: tables of an attached database */
  tExec(db, "ATTACH 'hybrid-aux.db' AS aux");
  fill(db, "aux");
  tRows("h.4", db, "SELECT count(*) FROM veles_hybrid('aux.docs', 'aux.emb', "
        "'w1 OR w2', '[0,0,0,0,0,0,0,0]', 10)", "10");
  tClose(db);
  return tDone();
}
