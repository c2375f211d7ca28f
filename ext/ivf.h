/*
** The inverted-file index of a table's slots (see ivf.c): centroids, each
** slot's list, and the candidates a search by `probe = P` scans. No SQL
** here; vecsearch.c chooses it.
*/
#ifndef IVF_H
#define IVF_H
#include "search.h"

/* The rows assigned to one centroid: each a slot and the int8 codes of the
** vector it was assigned by (quant.c), contiguous so that a search reads
** a list front to back. A row whose slot was written since is a
** tombstone, aSlot[i] = -1, so that every other row is its slot's current
** one: aListOf[aSlot[i]] is this list and aPos[aSlot[i]] == i (a slot
** written and assigned to the same list again has one live row there). */
typedef struct VsIvfList VsIvfList;
struct VsIvfList {
  i64 *aSlot;
  signed char *aCode;     /* n rows of nDim codes */
  double *aScale, *aSq;   /* per row, as VsCodes */
  i64 n, nAlloc;
};

/* Per-connection index of one table, made when a search first asks for
** it, kept up to date as slots are written (the same rule as VsCodes). */
typedef struct VsIvf VsIvf;
struct VsIvf {
  int nDim, eMetric;      /* what it was built for */
  int nList;              /* centroids; 0: not built */
  float *aCentroid;       /* nList rows of nDim floats */
  signed char *aCentCode; /* their int8 codes, made by the first search */
  double *aCentScale, *aCentSq; /* ... as VsCodes */
  VsIvfList *aList;       /* nList member lists */
  int *aListOf;           /* slot -> its list, or IVF_NONE, IVF_PENDING */
  i64 *aPos;              /* slot -> its row in that list */
  u64 *aHash;             /* slot -> hash of the vector it was assigned by */
  i64 nAlloc;             /* slots aListOf and aHash hold */
  i64 nBuilt;             /* rows assigned by the build */
  int bAdopted;           /* made from a stored index (vsIvfAdopt) */
  i64 nAdded;             /* rows assigned since */
  i64 *aDirty;            /* slots written since the last search */
  i64 nDirty, nDirtyAlloc;
  int bVerify;            /* any slot may have changed: check every hash */
  /* set by the caller of vsIvfSearch: asked now and then during long
  ** work (a build, a large refresh) whether to stop, nonzero to stop */
  int (*xStop)(void*);
  void *pStopArg;
  /* set by the caller: told how far long work (a build, a load, a
  ** refresh) has come, in rows (nDone of nTotal) */
  void (*xProgress)(void*, const char *zWork, i64 nDone, i64 nTotal);
  void *pProgressArg;
  const char *zWork;          /* "build", "load" or "refresh" */
  i64 nWorkDone, nWorkTotal;  /* that count */
};

#define VS_PROBE_MAX 65536      /* the largest probe accepted */
#define VS_IVF_LISTS_MAX 16384  /* the most lists an index has */
#define VS_PROBE_RESCORE 4      /* rescore factor of a probe without one */
#define VS_PROBE_DEFAULT 8      /* probe of an index=ivf table by default */
#ifndef VS_IVF_MIN_ROWS         /* the fuzzers make it 8 (fuzz.cmake) */
# define VS_IVF_MIN_ROWS 4096   /* smaller tables are scanned exactly */
#endif

/* The lists an index over nLive rows has. */
int vsIvfListCount(i64 nLive);
void vsIvfClear(VsIvf *p);                      /* free everything */
void vsIvfForget(VsIvf *p, i64 iSlot);          /* slot iSlot changed */
void vsIvfForgetAll(VsIvf *p);                  /* any slot may have changed */

/*
** Search p (as vsSearchRun takes it; among its aCand, ascending, when it
** has them) over the rows of the nProbe lists whose centroids are nearest
** its query, by their codes, the nWant * nRescore best rescored exactly
** (vsQuantSearchBlocks). *paHit is left 0 when the index does not apply
** (fewer than VS_IVF_MIN_ROWS rows): the caller scans as it would without
** it. Builds the index, or brings it up to date with the slots written
** since, first. Returns SQLITE_OK, SQLITE_NOMEM, or SQLITE_INTERRUPT when
** pIvf->xStop asked to stop (an unfinished build leaves no index; an
** unfinished refresh leaves every slot to be looked at next time).
*/
int vsIvfSearch(const VsSearch *p, VsIvf *pIvf, int nProbe, int nRescore,
                VsSearchHit **paHit, i64 *pnHit);

/* Build pIvf afresh over the live slots of p (no query needed); fewer than
** VS_IVF_MIN_ROWS leave it unbuilt (nList 0). Codes as vsIvfSearch's. */
int vsIvfBuild(const VsSearch *p, VsIvf *pIvf);

/* Make pIvf the index stored by an earlier build (ivfstore.c): nList
** centroids, and for slots below nStored the list each was assigned to
** (-1: none) and the hash of the vector it was assigned by. A live slot
** whose vector still has that hash takes that list; every other live slot
** is assigned to its nearest centroid, so a stale or partial store costs
** time, never a wrong row. nBuilt: the rows that build covered (growth
** past it rebuilds, as for an index built here). The caller checked every
** value against nList. */
int vsIvfAdopt(const VsSearch *p, VsIvf *pIvf, int nList,
               const float *aCentroid, i64 nBuilt, i64 nStored,
               const int *aStoredList, const u64 *aStoredHash);

#endif /* IVF_H */
