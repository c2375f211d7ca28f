/*
** Exact nearest-neighbour search over the slots of a `vectors` table:
** the scan, the bounded top-k heap, the cosine norm cache and the scan
** threads. No SQL here (vecsearch.c holds the glue); see search.c.
*/
#ifndef SEARCH_H
#define SEARCH_H
#include "veles_int.h"

/* One result row: its final distance, id and slot. */
typedef struct VsSearchHit VsSearchHit;
struct VsSearchHit {
  double rDist;           /* while scanning: the rank score; then the distance */
  i64 iId;
  i64 iSlot;
};

/*
** Cached Euclidean norms of the slots of a cosine table, aNorm[slot],
** NaN when not known (doubles: a norm may exceed the f32 range). Filled in by the scans that need them; a slot's
** entry is forgotten whenever the slot is written, all of them when the
** slot array is rebuilt from the database.
*/
typedef struct VsNorms VsNorms;
struct VsNorms {
  double *aNorm;
  i64 nAlloc;             /* entries of aNorm */
};

void vsNormsClear(VsNorms *p);                  /* free everything */
void vsNormsForget(VsNorms *p, i64 iSlot);      /* slot iSlot changed */
void vsNormsForgetAll(VsNorms *p);              /* any slot may have changed */

/* What to search. */
typedef struct VsSearch VsSearch;
struct VsSearch {
  int eMetric;            /* VS_METRIC_* (distance.h) */
  int nDim;               /* floats per vector, >= 1 */
  const float *aQuery;    /* the query, nDim floats (4-byte aligned) */
  const float *aMatrix;   /* slot 0 of the mapped slots; slot s at s*nDim */
  const i64 *aId;         /* aId[slot]: id or -1 (free) */
  i64 nSlot;              /* slots of aId/aMatrix that may be read */
  const i64 *aCand;       /* candidate slots, ascending; 0 = every slot */
  i64 nCand;
  i64 iMinId, iMaxId;     /* only rows whose id lies in this range */
  i64 nWant;              /* rows wanted (k), >= 1 */
  VsNorms *pNorms;        /* cosine only: the table's norm cache */
  int nThread;            /* scan threads: the connection's veles_threads()
                          ** setting (vsConnThreads), 0 = automatic */
};

/*
** Run the search. On success *paHit (free with sqlite3_free) holds the
** min(nWant, rows searched) nearest rows, by distance ascending then id
** ascending, with final distances (l2: Euclidean; cosine: 1 - cos, 1.0
** for a zero vector; dot: -(a.b)). Returns SQLITE_OK or SQLITE_NOMEM.
*/
int vsSearchRun(const VsSearch *p, VsSearchHit **paHit, i64 *pnHit);

/* Threads a scan may use for the setting nSetting (0 = automatic: the
** online CPUs, at most 8). */
int vsSearchThreads(int nSetting);
/* Register veles_threads() on db; it reads and sets pConn's setting. */
int vsSearchRegister(sqlite3 *db, VsConn *pConn, int bRemove);

#endif /* SEARCH_H */
