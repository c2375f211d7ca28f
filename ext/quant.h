/*
** Quantized search: int8 codes of a table's slots, scanned first, the
** best candidates rescored with the f32 vectors (see quant.c). No SQL
** here; vecsearch.c chooses it for `... AND rescore = R`.
*/
#ifndef QUANT_H
#define QUANT_H
#include "search.h"

/* Per-connection codes of one table's slots, made when a quantized scan
** first needs them and forgotten whenever a slot is written (the same
** rule as VsNorms). */
typedef struct VsCodes VsCodes;
struct VsCodes {
  signed char *aCode;     /* slot s: nDim codes at s * nDim */
  double *aScale;         /* slot s: element j ~ aScale[s] * code j;
                          ** NaN: slot s is not encoded */
  double *aSq;            /* slot s: squared norm of the decoded vector */
  i64 nAlloc;             /* slots the arrays hold */
  int nDim;               /* floats per vector the codes were made for */
};

#define VS_RESCORE_MAX 10000    /* the largest rescore factor accepted */

void vsCodesClear(VsCodes *p);                  /* free everything */
void vsCodesForget(VsCodes *p, i64 iSlot);      /* slot iSlot changed */
void vsCodesForgetAll(VsCodes *p);              /* any slot may have changed */

/*
** The search p (as vsSearchRun takes it; its aCand, if any, ascending)
** by a scan of int8 codes that keeps the nWant * nRescore rows of the
** smallest approximate distance, then vsSearchRun over those rows alone:
** the rows returned and their distances are exact for the candidates,
** and every row is one p allows (live slot, id in range). Fills in the
** codes pCodes lacks. Returns SQLITE_OK or SQLITE_NOMEM.
*/
int vsQuantSearch(const VsSearch *p, VsCodes *pCodes, int nRescore,
                  VsSearchHit **paHit, i64 *pnHit);

/* The codes of vector x (n floats) into c (n bytes), its scale and the
** squared norm of the decoded vector (see CODES in quant.c). */
void vsCodesEncode(const float *x, int n, signed char *c, double *pScale,
                   double *pSq);

/* aScore[i] = the approximate score (smaller is nearer, as the code scan
** ranks: squared l2 less |q|^2, 1 - cosine, -dot) of query q against n
** rows of codes with their scales and squared norms. */
int vsQuantScoreRows(const float *q, int nDim, int eMetric,
                     const signed char *aCode, const double *aScale,
                     const double *aSq, i64 n, double *aScore);

/* Rows of codes kept apart from the table's (an IVF list, ivf.c): row i
** holds slot aSlot[i]'s codes, or is a tombstone (aSlot[i] = -1, skipped);
** every other row is its slot's current one, aListOf[slot] == iList and
** aPos[slot] == i (asserted). */
typedef struct VsCodeBlock VsCodeBlock;
struct VsCodeBlock {
  const signed char *aCode;   /* n rows of nDim codes */
  const double *aScale;       /* per row, as VsCodes */
  const double *aSq;
  const i64 *aSlot;
  i64 n;
  const int *aListOf;         /* slot -> its list, for the assert */
  const i64 *aPos;            /* slot -> its row there, for the assert */
  int iList;
};

/*
** The search p over the rows of aBlock[0..nBlock-1] (among the slots set
** in the bitmap aKeep, when given): a scan of their codes that keeps the
** nWant * nRescore rows of the smallest approximate distance, then
** vsSearchRun over those rows alone, as vsQuantSearch. p->aCand is not
** read. Returns SQLITE_OK or SQLITE_NOMEM.
*/
int vsQuantSearchBlocks(const VsSearch *p, const VsCodeBlock *aBlock,
                        int nBlock, const u64 *aKeep, int nRescore,
                        VsSearchHit **paHit, i64 *pnHit);

#endif /* QUANT_H */
