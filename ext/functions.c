/*
** The veles_* SQL functions: vector values and distances without a
** table. Prefixed so that veles loads beside sqlite-vec.
**
**   veles_vec(x)                 JSON text or f32 BLOB -> checked f32 BLOB
**   veles_json(x)                f32 BLOB or JSON text -> JSON text
**   veles_dim(x)                 number of elements
**   veles_normalize(x)           x / |x| as an f32 BLOB
**   veles_distance(a, b)         Euclidean distance
**   veles_distance(a, b, metric) metric 'l2', 'cosine' or 'dot' (any case)
**   veles_version()              the extension's version, e.g. '0.1.0'
**   veles_kernel()               the distance kernel this CPU runs
**
** Vector arguments are read by vsVectorParse(): a BLOB of little-endian
** f32 or JSON text such as '[1, 2.5, -3e-4]', 1 ..= 65536 finite
** elements. Anything else is an error naming the function, the problem
** and what was given.
**
** NULL: as in SQL's own functions, a NULL vector argument gives NULL
** (so `veles_distance(vec, :q)` over rows with a NULL vec yields NULL
** for those rows, not an error). A NULL metric is an error: the metric
** is a setting, and a missing one is a mistake in the query. Wrong
** argument counts are refused by SQLite when the statement is prepared.
**
** Distances follow vsDistance() in distance.c: l2 = sqrt(sum (a-b)^2),
** cosine = 1 - a.b/(|a||b|) in [0, 2] and 1.0 when either vector is all
** zeros, dot = -(a.b). Smaller is nearer for every metric. A constant
** vector argument (the query in ORDER BY veles_distance(vec, :q)) is
** parsed on the first row only and kept by SQLite for the statement
** (sqlite3_set_auxdata); a JSON query of 128 numbers cost 20x the
** distance itself when it was parsed on every row.
*/
#include "veles_int.h"
#include "distance.h"
#include <math.h>
#include <string.h>

/* What an SQL value is, for error messages. */
static const char *valueKind(sqlite3_value *pVal){
  switch( sqlite3_value_type(pVal) ){
    case SQLITE_INTEGER: return "an integer";
    case SQLITE_FLOAT:   return "a real";
    case SQLITE_TEXT:    return "text";
    case SQLITE_BLOB:    return "a blob";
    default:             return "NULL";
  }
}

/* Report rc/zErr from vsVectorParse() as the function's error. */
static void resultParseError(sqlite3_context *ctx, int rc, char *zErr){
  if( rc==SQLITE_NOMEM || zErr==0 ){
    sqlite3_result_error_nomem(ctx);
  }else{
    sqlite3_result_error(ctx, zErr, -1);
  }
  sqlite3_free(zErr);
}

/*
** Parse argument pVal of function zWho into *pa and *pn (nDim as for
** vsVectorParse). Returns SQLITE_OK, or reports the error on ctx.
*/
static int vectorArg(sqlite3_context *ctx, sqlite3_value *pVal,
                     const char *zWho, int nDim, float **pa, int *pn){
  char *zErr = 0;
  int rc = vsVectorParse(pVal, zWho, nDim, pa, pn, &zErr);
  if( rc!=SQLITE_OK ) resultParseError(ctx, rc, zErr);
  return rc;
}

/* Hand a vector to SQLite as the BLOB result (ownership passes). */
static void resultVector(sqlite3_context *ctx, float *a, int n){
  sqlite3_result_blob64(ctx, a, sizeof(float)*(u64)n, sqlite3_free);
}

/* veles_vec(x): x as a checked f32 BLOB. */
static void vecFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  float *a = 0;
  int n = 0;
  (void)argc;
  if( sqlite3_value_type(argv[0])==SQLITE_NULL ) return;
  if( vectorArg(ctx, argv[0], "veles_vec", 0, &a, &n)==SQLITE_OK ){
    resultVector(ctx, a, n);
  }
}

/* veles_json(x): x as JSON text, e.g. '[1.0,-2.5]'. */
static void jsonFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  float *a = 0;
  int n = 0;
  (void)argc;
  if( sqlite3_value_type(argv[0])==SQLITE_NULL ) return;
  if( vectorArg(ctx, argv[0], "veles_json", 0, &a, &n)==SQLITE_OK ){
    char *z = vsVectorToJson(a, n);
    sqlite3_free(a);
    if( z==0 ){
      sqlite3_result_error_nomem(ctx);
    }else{
      sqlite3_result_text(ctx, z, -1, sqlite3_free);
    }
  }
}

/* veles_dim(x): the number of elements of x. */
static void dimFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  float *a = 0;
  int n = 0;
  (void)argc;
  if( sqlite3_value_type(argv[0])==SQLITE_NULL ) return;
  if( vectorArg(ctx, argv[0], "veles_dim", 0, &a, &n)==SQLITE_OK ){
    sqlite3_free(a);
    sqlite3_result_int(ctx, n);
  }
}

/*
** veles_normalize(x): x scaled to Euclidean length 1, as an f32 BLOB.
** The norm and the quotients are computed in double, so vectors of any
** finite magnitude (1e-45 .. 3e38 elements) normalise correctly. A zero
** vector has no direction: that is an error, not a silent zero.
*/
static void normalizeFunc(sqlite3_context *ctx, int argc,
                          sqlite3_value **argv){
  float *a = 0;
  int n = 0, i;
  double s = 0, mx = 0;
  (void)argc;
  if( sqlite3_value_type(argv[0])==SQLITE_NULL ) return;
  if( vectorArg(ctx, argv[0], "veles_normalize", 0, &a, &n) ) return;
  /* scale by the largest magnitude first: no overflow or underflow */
  for(i=0; i<n; i++){
    double x = fabs((double)a[i]);
    if( x>mx ) mx = x;
  }
  if( mx==0.0 ){
    sqlite3_free(a);
    sqlite3_result_error(ctx, "veles_normalize: cannot normalize a zero "
        "vector: got all elements 0", -1);
    return;
  }
  for(i=0; i<n; i++){
    double x = (double)a[i]/mx;
    s += x*x;
  }
  s = sqrt(s);
  for(i=0; i<n; i++) a[i] = (float)(((double)a[i]/mx)/s);
  resultVector(ctx, a, n);
}

/*
** A parsed vector argument of veles_distance(), handed to SQLite with
** sqlite3_set_auxdata(): SQLite keeps it for the next rows of the
** statement when the argument is a constant (ORDER BY
** veles_distance(vec, :q) parses :q once, not once per row) and frees it
** at once otherwise.
*/
typedef struct FuncVector FuncVector;
struct FuncVector {
  float *a;               /* n floats */
  int n;
};

static void funcVectorFree(void *p){
  if( p ){
    sqlite3_free(((FuncVector*)p)->a);
    sqlite3_free(p);
  }
}

/* veles_distance(a, b [, metric]): the distance from a to b. */
static void distanceFunc(sqlite3_context *ctx, int argc,
                         sqlite3_value **argv){
  int eMetric = VS_METRIC_L2;
  FuncVector *apVec[2] = {0, 0};
  int bNew[2] = {0, 0};
  int i;
  if( argc==3 ){
    const char *zName = 0;
    if( sqlite3_value_type(argv[2])==SQLITE_TEXT ){
      zName = (const char*)sqlite3_value_text(argv[2]);
      if( zName==0 ){
        sqlite3_result_error_nomem(ctx);
        return;
      }
      eMetric = vsDistanceMetric(zName);
    }else{
      eMetric = -1;
    }
    if( eMetric<0 ){
      char *zErr;
      if( zName ){
        zErr = sqlite3_mprintf("veles_distance: unknown metric: expected "
            "l2, cosine or dot, got '%s'", zName);
      }else{
        zErr = sqlite3_mprintf("veles_distance: unknown metric: expected "
            "l2, cosine or dot, got %s", valueKind(argv[2]));
      }
      resultParseError(ctx, SQLITE_ERROR, zErr);
      return;
    }
  }
  if( sqlite3_value_type(argv[0])==SQLITE_NULL
   || sqlite3_value_type(argv[1])==SQLITE_NULL ){
    return;
  }
  /* a, then b, which must have as many elements as a */
  for(i=0; i<2; i++){
    int nDim = i ? apVec[0]->n : 0;
    apVec[i] = (FuncVector*)sqlite3_get_auxdata(ctx, i);
    if( apVec[i]==0 ){
      apVec[i] = sqlite3_malloc(sizeof(FuncVector));
      if( apVec[i]==0 ){
        sqlite3_result_error_nomem(ctx);
        break;
      }
      bNew[i] = 1;
      if( vectorArg(ctx, argv[i], "veles_distance", nDim,
                    &apVec[i]->a, &apVec[i]->n) ){
        sqlite3_free(apVec[i]);
        apVec[i] = 0;
        break;
      }
    }else if( nDim>0 && apVec[i]->n!=nDim ){
      /* the message vsVectorParse() gives when it parses b */
      char *zErr = sqlite3_mprintf("veles_distance: dimension mismatch: "
          "expected %d, got %d", nDim, apVec[i]->n);
      resultParseError(ctx, SQLITE_ERROR, zErr);
      apVec[i] = 0;
      break;
    }
  }
  if( i==2 ){
    sqlite3_result_double(ctx, vsDistance(eMetric, apVec[0]->a, apVec[1]->a,
                                          apVec[0]->n));
  }
  /* last, as SQLite may free what it is given at once */
  for(i=0; i<2; i++){
    if( bNew[i] && apVec[i] ){
      sqlite3_set_auxdata(ctx, i, apVec[i], funcVectorFree);
    }
  }
}

int vsSplitTableName(const char *zArg, char **pzSchema, const char **pzTable){
  const char *zDot = strchr(zArg, '.');
  *pzSchema = zDot ? sqlite3_mprintf("%.*s", (int)(zDot-zArg), zArg)
                   : sqlite3_mprintf("main");
  *pzTable = zDot ? zDot+1 : zArg;
  return *pzSchema ? SQLITE_OK : SQLITE_NOMEM;
}

/* The length of the identifier at z (bare or quoted), 0 when none. */
static int identLength(const char *z){
  int i = 0;
  if( z[0]=='"' || z[0]=='`' || z[0]=='[' || z[0]=='\'' ){
    char cEnd = z[0]=='[' ? ']' : z[0];
    for(i=1; z[i] && z[i]!=cEnd; i++){}
    return z[i] ? i+1 : 0;
  }
  while( z[i]=='_' || z[i]=='$' || (z[i] & 0x80) || (z[i]>='0' && z[i]<='9')
      || ((z[i]|0x20)>='a' && (z[i]|0x20)<='z') ){
    i++;
  }
  return i;
}

int vsSchemaModule(sqlite3 *db, const char *zSchema, const char *zTable,
                   const char *zModule){
  sqlite3_stmt *pStmt = 0;
  char *zSql = sqlite3_mprintf("SELECT sql FROM \"%w\".sqlite_schema WHERE "
                               "type='table' AND name=?1 COLLATE NOCASE",
                               zSchema);
  int bYes = 0, i = 0, n;
  if( zSql && sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0)==SQLITE_OK ){
    sqlite3_bind_text(pStmt, 1, zTable, -1, SQLITE_STATIC);
    if( sqlite3_step(pStmt)==SQLITE_ROW ){
      /* CREATE VIRTUAL TABLE <name> USING <module>(...): the tokens up to
      ** the first USING outside the name's quotes, then the module's */
      const char *z = (const char*)sqlite3_column_text(pStmt, 0);
      while( z && z[i] && !bYes ){
        n = identLength(&z[i]);
        if( n==0 ){ i++; continue; }
        if( n==5 && sqlite3_strnicmp(&z[i], "USING", 5)==0 ){
          const char *zMod;
          int nMod;
          for(i+=5; z[i]==' ' || (z[i]>='\t' && z[i]<='\r'); i++){}
          zMod = &z[i];
          nMod = identLength(zMod);
          if( nMod>=2 && (zMod[0]=='"' || zMod[0]=='`' || zMod[0]=='['
                          || zMod[0]=='\'') ){
            zMod++;
            nMod -= 2;
          }
          bYes = nMod==(int)strlen(zModule)
              && sqlite3_strnicmp(zMod, zModule, nMod)==0;
          break;
        }
        i += n;
      }
    }
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zSql);
  return bYes;
}

/* veles_version(): VELES_VERSION from veles.h. */
static void versionFunc(sqlite3_context *ctx, int argc,
                        sqlite3_value **argv){
  (void)argc;
  (void)argv;
  sqlite3_result_text(ctx, VELES_VERSION, -1, SQLITE_STATIC);
}

/* veles_kernel(): "avx512", "avx2+fma", "neon" or "scalar". */
static void kernelFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  (void)argv;
  sqlite3_result_text(ctx, vsDistanceKernelName(), -1, SQLITE_STATIC);
}

int vsFunctionsRegister(sqlite3 *db, int bRemove){
  static const struct {
    const char *zName;
    int nArg;
    int bDeterministic;
    void (*xFunc)(sqlite3_context*, int, sqlite3_value**);
  } aFunc[] = {
    { "veles_vec",       1, 1, vecFunc },
    { "veles_json",      1, 1, jsonFunc },
    { "veles_dim",       1, 1, dimFunc },
    { "veles_normalize", 1, 1, normalizeFunc },
    { "veles_distance",  2, 1, distanceFunc },
    { "veles_distance",  3, 1, distanceFunc },
    { "veles_version",   0, 1, versionFunc },
    /* the same all along unless a test forces a kernel: not flagged */
    { "veles_kernel",    0, 0, kernelFunc },
  };
  int rc = SQLITE_OK;
  int i;
  for(i=0; rc==SQLITE_OK && i<(int)(sizeof(aFunc)/sizeof(aFunc[0])); i++){
    int eFlags = SQLITE_UTF8 | SQLITE_INNOCUOUS;
    if( aFunc[i].bDeterministic ) eFlags |= SQLITE_DETERMINISTIC;
    rc = sqlite3_create_function(db, aFunc[i].zName, aFunc[i].nArg, eFlags,
                                 0, bRemove ? 0 : aFunc[i].xFunc, 0, 0);
    if( bRemove ) rc = SQLITE_OK;   /* remove all, whatever happens */
  }
  return rc;
}
