/*
** fuzz_sql: libFuzzer target that drives veles through SQL.
**
** HOW IT WORKS. Each input is a tiny program run against a fresh
** database (a file in a per-process scratch directory, or :memory:):
**
**   byte 0        mode: bit 0 file database, bit 1 WAL, bit 2
**                 synchronous=OFF (else FULL)
**   then ops      each op byte picks an operation; the bytes after it
**                 give the table, ids, vectors and JSON payloads
**
** The tables are vectors v1(dim=4), v2(metric=cosine, dim fixed by the
** first vector), v3(dim=3, metric=dot, index=ivf: its searches without
** a probe use the index), temp.t1(dim=2) and payloads
** p1(lang TEXT, year INTEGER, score REAL, "a.b" BOOLEAN, INDEX(lang, year),
** INDEX(score, "a.b", lang)), p2. Each has a
** model: an ordinary table m_<name>(id INTEGER PRIMARY KEY, vec BLOB |
** json TEXT) in the same database. Every write that succeeds on a veles
** table is repeated on its model in the same transaction (vectors go
** through veles_vec(), so JSON and blobs become the same f32 bytes), so
** BEGIN/COMMIT/ROLLBACK/SAVEPOINT/ROLLBACK TO, failed statements, a
** second connection and reopening the database apply to both alike; a
** compaction or an optimize (INSERT INTO t(t) VALUES('compact'),
** VALUES('optimize')) has nothing to repeat.
**
** WHAT MUST HOLD (abort() otherwise, so libFuzzer keeps the input):
**   - a query returns the same rows from a veles table and its model
**     (scans, id lookups, IN, ranges, DESC, count);
**   - a declared-field filter answered by the index (one field, or two,
**     through a composite index) returns the rows a scan (`+field`)
**     returns;
**   - a search (vec MATCH ? AND k = ?, exact, quantized: rescore = R, or
**     by the IVF index: probe = P, made from 8 rows in this build)
**     returns min(k, rows) distinct rows
**     that exist, by non-decreasing distance, never NaN;
**   - veles_vec(veles_json(x)) = veles_vec(x); veles_dim agrees;
**     veles_distance(x, x) = 0 (l2); no NaN distance;
**   - veles_check() is 'ok' for every table, and PRAGMA integrity_check
**     is 'ok', after each input (and after reopening a file database,
**     also with its side files removed or truncated: the database's copy
**     of the vectors rebuilds them);
**   - no crash, no sanitizer report, no leak.
**
** Run: build-fuzz/fuzz_sql -max_total_time=60 corpus-dir (scripts/fuzz.sh).
*/
#include "fuzz_common.h"
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#define FZ_MAX_OPS 160

/* The tables (vectors first). */
static const struct {
  const char *zName;
  int bVec;           /* a vectors table (else payloads) */
  int bTemp;          /* in the temp schema */
  const char *zArgs;  /* USING <module>(zArgs) */
  const char *zMetric;
} aTab[] = {
  { "v1", 1, 0, "dim=4", "l2" },
  { "v2", 1, 0, "metric=cosine", "cosine" },
  { "v3", 1, 0, "dim = 3, metric='dot', index=ivf", "dot" },
  { "t1", 1, 1, "dim=2", "l2" },
  { "p1", 0, 0, "lang TEXT, year INTEGER, score REAL, \"a.b\" BOOLEAN, "
    "INDEX(lang, year), INDEX(score, \"a.b\", lang)", 0 },
  { "p2", 0, 0, "", 0 },
};
#define FZ_NTAB   ((int)(sizeof(aTab)/sizeof(aTab[0])))
#define FZ_NVEC   4

/* The input being read. */
typedef struct Fz Fz;
struct Fz {
  const uint8_t *a;
  size_t n, i;
  int bFile;           /* a file database (else :memory:) */
  char zDb[600];       /* its path */
  sqlite3 *aDb[2];     /* connection 1, and a second one (file only) */
  int iCur;            /* the connection ops run on */
};

static int next(Fz *f){ return f->i<f->n ? f->a[f->i++] : 0; }

/* One bound value. */
enum { A_NULL, A_INT, A_REAL, A_TEXT, A_BLOB };
typedef struct Arg Arg;
struct Arg {
  int e;
  sqlite3_int64 i;
  double r;
  char *z;             /* text or blob bytes (malloc) */
  int n;
};

static void argFree(Arg *a, int n){
  int i;
  for(i=0; i<n; i++){ free(a[i].z); a[i].z = 0; }
}

static void argText(Arg *p, const char *z, int n){
  p->e = A_TEXT;
  p->n = n<0 ? (int)strlen(z) : n;
  p->z = malloc(p->n+1);
  memcpy(p->z, z, p->n);
  p->z[p->n] = 0;
}

static void argInt(Arg *p, sqlite3_int64 i){ p->e = A_INT; p->i = i; }

/* An id: mostly small, sometimes NULL, huge, negative, text or real. */
static void readId(Fz *f, Arg *p){
  int b = next(f), c = next(f);
  char z[32];
  memset(p, 0, sizeof(*p));
  switch( b%16 ){
    case 10: argInt(p, c); break;
    case 11: p->e = A_NULL; break;
    case 12: argInt(p, (sqlite3_int64)0x7fffffffffffffffLL - c%3); break;
    case 13: argInt(p, -1 - c%2); break;
    case 14: snprintf(z, sizeof(z), "%d", c%12); argText(p, z, -1); break;
    case 15: p->e = A_REAL; p->r = c%12 + ((c&0x80) ? 0.5 : 0.0); break;
    default: argInt(p, c%12); break;
  }
}

/* Text of one JSON vector element chosen by byte c. */
static void elemText(char *z, size_t nz, int c){
  static const char *azSpecial[] = {
    "1e39", "NaN", "-0", "1e-45", "3.4028235e38", "\"x\"", "", "1.5e-40",
    "-3.4028235e38", "1e-50", "0x10", "1.", ".5", "+1", "-", "1e",
  };
  if( c>=0xF0 ){
    snprintf(z, nz, "%s", azSpecial[c-0xF0]);
  }else{
    snprintf(z, nz, "%.9g", (double)(int8_t)c/4.0);
  }
}

/* A vector value: JSON or f32 blob built from the input, raw bytes, or
** a value of the wrong type. */
static void readVec(Fz *f, Arg *p){
  int form = next(f)%8, nb = next(f), n, i;
  memset(p, 0, sizeof(*p));
  n = nb>=0xF0 ? (nb-0xEF)*64 : 1 + nb%5;
  switch( form ){
    case 0: case 1: {
      size_t nAlloc = 2 + (size_t)n*24, j = 0;
      char *z = malloc(nAlloc);
      z[j++] = '[';
      for(i=0; i<n; i++){
        char zE[32];
        elemText(zE, sizeof(zE), next(f));
        j += (size_t)snprintf(z+j, nAlloc-j, "%s%s", i ? ", " : "", zE);
      }
      z[j++] = ']';
      p->e = A_TEXT; p->z = z; p->n = (int)j;
      break;
    }
    case 2: case 3: {
      float *a = malloc((size_t)n*4);
      for(i=0; i<n; i++) a[i] = (float)((int8_t)next(f))/4.0f;
      p->e = A_BLOB; p->z = (char*)a; p->n = n*4;
      break;
    }
    case 4: {
      p->e = A_BLOB; p->n = n*4; p->z = malloc(p->n);
      for(i=0; i<p->n; i++) p->z[i] = (char)next(f);
      break;
    }
    case 5: {
      int L = nb%40;
      char z[64];
      for(i=0; i<L; i++) z[i] = (char)next(f);
      argText(p, z, L);
      break;
    }
    case 6:
      if( nb%3==0 ) p->e = A_NULL;
      else if( nb%3==1 ) argInt(p, nb);
      else{ p->e = A_REAL; p->r = nb/3.0; }
      break;
    default: {
      p->e = A_BLOB; p->n = nb%9; p->z = malloc(p->n+1);
      for(i=0; i<p->n; i++) p->z[i] = (char)next(f);
      break;
    }
  }
}

/* A JSON payload: a template with the declared fields (present, absent,
** null or of the wrong type), raw bytes, scalars, deep nesting, or a
** value of the wrong type. */
static void readJson(Fz *f, Arg *p){
  static const char *azLang[] = {
    0, "null", "\"en\"", "\"fr\"", "\"\\u00e9t\\u00e9\"", "7", "[\"en\"]",
    "\"\"",
  };
  static const char *azYear[] = {
    0, "null", "2020", "2.02e3", "9007199254740993", "1e30", "20.5",
    "\"2020\"", "-9223372036854775808", "9223372036854775807", "true",
    "18446744073709551615",
  };
  static const char *azScore[] = {
    0, "null", "0.5", "-1e300", "3", "\"s\"", "1e-320", "{}",
  };
  static const char *azB[] = { 0, "null", "true", "false", "1", "\"t\"" };
  static const char *azScalar[] = {
    "1", "\"s\"", "null", "[1,[2,{}]]", "  {}  ", "true", "-0.0e+5",
    "{\"a\":1,\"a\":2}", "\"\\ud800\"", "01", "1.", "{\"a\":}", "[1,]",
    "\"\x01\"", "\xef\xbb\xbf{}", "{\"lang\":\"en\",\"lang\":\"fr\"}",
  };
  int form = next(f)%8, i;
  memset(p, 0, sizeof(*p));
  switch( form ){
    case 0: case 1: case 2: case 7: {
      char z[512];
      int j = 0, bFirst = 1;
      const char *zL = azLang[next(f)%8];
      const char *zY = azYear[next(f)%12];
      const char *zS = azScore[next(f)%8];
      const char *zB = azB[next(f)%6];
      j += snprintf(z+j, sizeof(z)-j, "{");
#define FZ_KEY(K, V) if( V ){ j += snprintf(z+j, sizeof(z)-j, "%s\"%s\": %s", \
                              bFirst ? "" : ", ", K, V); bFirst = 0; }
      FZ_KEY("lang", zL);
      FZ_KEY("year", zY);
      FZ_KEY("score", zS);
      if( zB ){
        j += snprintf(z+j, sizeof(z)-j, "%s\"a\": {\"b\": %s}",
                      bFirst ? "" : ", ", zB);
      }
#undef FZ_KEY
      j += snprintf(z+j, sizeof(z)-j, "}%s", form==7 ? "x" : "");
      argText(p, z, j);
      break;
    }
    case 3: {
      int L = next(f)%48;
      char z[64];
      for(i=0; i<L; i++) z[i] = (char)next(f);
      argText(p, z, L);
      break;
    }
    case 4: {
      int c = next(f);
      argText(p, azScalar[c%16], -1);
      break;
    }
    case 5: {
      int nDepth = 990 + next(f)%20, j = 0;
      char *z = malloc(2*nDepth+1);
      for(i=0; i<nDepth; i++) z[j++] = '[';
      for(i=0; i<nDepth; i++) z[j++] = ']';
      p->e = A_TEXT; p->z = z; p->n = j;
      break;
    }
    default: {
      int c = next(f);
      if( c%3==0 ) p->e = A_NULL;
      else if( c%3==1 ) argInt(p, c);
      else{ p->e = A_BLOB; p->n = 2; p->z = malloc(2); memcpy(p->z, "{}", 2); }
      break;
    }
  }
}

/* Substitute $T (table; m_<table> for the model), $M (always the model)
** and $V (a vector parameter: veles_vec(?) for the model). */
static char *subst(const char *zTmpl, const char *zTab, int bModel){
  sqlite3_str *s = sqlite3_str_new(0);
  const char *z;
  for(z=zTmpl; *z; z++){
    if( z[0]=='$' && z[1]=='T' ){
      sqlite3_str_appendf(s, "%s%s", bModel ? "m_" : "", zTab); z++;
    }else if( z[0]=='$' && z[1]=='M' ){
      sqlite3_str_appendf(s, "m_%s", zTab); z++;
    }else if( z[0]=='$' && z[1]=='V' ){
      sqlite3_str_appendall(s, bModel ? "veles_vec(?)" : "?"); z++;
    }else{
      sqlite3_str_appendchar(s, 1, *z);
    }
  }
  return sqlite3_str_finish(s);
}

static int prepareBind(sqlite3 *db, const char *zSql, Arg *a, int nArg,
                       sqlite3_stmt **ppStmt){
  int rc = sqlite3_prepare_v2(db, zSql, -1, ppStmt, 0), i;
  if( rc!=SQLITE_OK ) return rc;
  for(i=0; i<nArg && i<sqlite3_bind_parameter_count(*ppStmt); i++){
    switch( a[i].e ){
      case A_NULL: sqlite3_bind_null(*ppStmt, i+1); break;
      case A_INT:  sqlite3_bind_int64(*ppStmt, i+1, a[i].i); break;
      case A_REAL: sqlite3_bind_double(*ppStmt, i+1, a[i].r); break;
      case A_TEXT: sqlite3_bind_text(*ppStmt, i+1, a[i].z, a[i].n,
                                     SQLITE_TRANSIENT); break;
      default:     sqlite3_bind_blob(*ppStmt, i+1, a[i].z, a[i].n,
                                     SQLITE_TRANSIENT); break;
    }
  }
  return SQLITE_OK;
}

/* Run a statement to its end; its result code. */
static int run(sqlite3 *db, const char *zSql, Arg *a, int nArg){
  sqlite3_stmt *pStmt = 0;
  int rc = prepareBind(db, zSql, a, nArg, &pStmt);
  if( rc==SQLITE_OK ){
    while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){}
    if( rc==SQLITE_DONE ) rc = SQLITE_OK;
  }
  sqlite3_finalize(pStmt);
  return rc;
}

static int isBusy(int rc){
  return (rc&0xff)==SQLITE_BUSY || (rc&0xff)==SQLITE_LOCKED;
}

/* A write on a veles table, then (when it succeeded) on its model. */
static void writeBoth(Fz *f, const char *zTmpl, int iTab, Arg *a, int nArg){
  sqlite3 *db = f->aDb[f->iCur];
  char *zVt = subst(zTmpl, aTab[iTab].zName, 0);
  char *zMo = subst(zTmpl, aTab[iTab].zName, 1);
  int rc = run(db, zVt, a, nArg);
  if( rc==SQLITE_OK ){
    rc = run(db, zMo, a, nArg);
    if( rc!=SQLITE_OK ){
      fzFail("%s succeeded on the veles table, its model failed: %s: %s",
             zVt, zMo, sqlite3_errmsg(db));
    }
  }
  sqlite3_free(zVt);
  sqlite3_free(zMo);
}

/* Describe a column value for a failure message. */
static void describe(sqlite3_stmt *p, int i, char *z, size_t nz){
  switch( sqlite3_column_type(p, i) ){
    case SQLITE_NULL: snprintf(z, nz, "NULL"); break;
    case SQLITE_BLOB: snprintf(z, nz, "blob of %d bytes",
                               sqlite3_column_bytes(p, i)); break;
    default: snprintf(z, nz, "'%.200s'", sqlite3_column_text(p, i)); break;
  }
}

static int sameValue(sqlite3_stmt *p, sqlite3_stmt *q, int i){
  int e = sqlite3_column_type(p, i), n;
  if( e!=sqlite3_column_type(q, i) ) return 0;
  switch( e ){
    case SQLITE_NULL: return 1;
    case SQLITE_INTEGER:
      return sqlite3_column_int64(p, i)==sqlite3_column_int64(q, i);
    case SQLITE_FLOAT: {
      double a = sqlite3_column_double(p, i), b = sqlite3_column_double(q, i);
      return memcmp(&a, &b, sizeof(a))==0;
    }
    default: {
      const void *za = e==SQLITE_BLOB ? sqlite3_column_blob(p, i)
                                      : (const void*)sqlite3_column_text(p, i);
      const void *zb = e==SQLITE_BLOB ? sqlite3_column_blob(q, i)
                                      : (const void*)sqlite3_column_text(q, i);
      n = sqlite3_column_bytes(p, i);
      return n==sqlite3_column_bytes(q, i) && (n==0 || memcmp(za, zb, n)==0);
    }
  }
}

/*
** Run zVt and zMo (the same query on a veles table and on its model, or
** two plans of one query) and require the same rows. A query that cannot
** run (busy, the table dropped) proves nothing and is skipped.
*/
static void compareSql(sqlite3 *db, const char *zVt, const char *zMo,
                       Arg *a, int nArg){
  sqlite3_stmt *p = 0, *q = 0;
  int rc1, rc2, iRow = 0, i;
  rc1 = prepareBind(db, zVt, a, nArg, &p);
  rc2 = prepareBind(db, zMo, a, nArg, &q);
  if( rc1!=SQLITE_OK || rc2!=SQLITE_OK ) goto done;
  for(;;){
    rc1 = sqlite3_step(p);
    if( rc1!=SQLITE_ROW && rc1!=SQLITE_DONE ) break;
    rc2 = sqlite3_step(q);
    if( rc2!=SQLITE_ROW && rc2!=SQLITE_DONE ) break;
    if( rc1!=rc2 ){
      fzFail("%s and %s differ at row %d: %s", zVt, zMo, iRow,
             rc1==SQLITE_ROW ? "extra row" : "missing row");
    }
    if( rc1==SQLITE_DONE ) break;
    for(i=0; i<sqlite3_column_count(p); i++){
      if( !sameValue(p, q, i) ){
        char z1[256], z2[256];
        describe(p, i, z1, sizeof(z1));
        describe(q, i, z2, sizeof(z2));
        fzFail("%s and %s differ at row %d column %d: %s, %s", zVt, zMo,
               iRow, i, z1, z2);
      }
    }
    iRow++;
  }
  if( rc1!=SQLITE_DONE && rc1!=SQLITE_ROW && !isBusy(rc1) ){
    /* the table was readable a moment ago (it prepared) */
    fzFail("%s failed: %s", zVt, sqlite3_errmsg(db));
  }
done:
  sqlite3_finalize(p);
  sqlite3_finalize(q);
}

static void compareBoth(Fz *f, const char *zTmpl, int iTab, Arg *a, int nArg){
  char *zVt = subst(zTmpl, aTab[iTab].zName, 0);
  char *zMo = subst(zTmpl, aTab[iTab].zName, 1);
  compareSql(f->aDb[f->iCur], zVt, zMo, a, nArg);
  sqlite3_free(zVt);
  sqlite3_free(zMo);
}

static const char *azInsert[] = {
  "INSERT", "INSERT OR REPLACE", "INSERT OR IGNORE", "REPLACE",
  "INSERT OR ABORT", "INSERT OR ROLLBACK",
};
static const char *azUpdate[] = {
  "UPDATE", "UPDATE OR REPLACE", "UPDATE OR IGNORE", "UPDATE OR ROLLBACK",
};

/* Writes on a vectors table. */
static void opVecWrite(Fz *f){
  int iTab = next(f)%FZ_NVEC, kind = next(f)%9, i, nArg = 0;
  Arg a[8];
  char z[256];
  memset(a, 0, sizeof(a));
  switch( kind ){
    case 0: {
      int nRow = 1 + next(f)%3;
      int j = snprintf(z, sizeof(z), "%s INTO $T(id, vec) VALUES ",
                       azInsert[next(f)%6]);
      for(i=0; i<nRow; i++){
        j += snprintf(z+j, sizeof(z)-j, "%s(?, $V)", i ? ", " : "");
        readId(f, &a[nArg++]);
        readVec(f, &a[nArg++]);
      }
      break;
    }
    case 1:
      snprintf(z, sizeof(z), "%s $T SET vec = $V WHERE id = ?",
               azUpdate[next(f)%4]);
      readVec(f, &a[nArg++]);
      readId(f, &a[nArg++]);
      break;
    case 2:
      snprintf(z, sizeof(z), "%s $T SET id = ? WHERE id = ?",
               azUpdate[next(f)%4]);
      readId(f, &a[nArg++]);
      readId(f, &a[nArg++]);
      break;
    case 3:
      snprintf(z, sizeof(z), "DELETE FROM $T WHERE id = ?");
      readId(f, &a[nArg++]);
      break;
    case 4:
      snprintf(z, sizeof(z), "DELETE FROM $T WHERE id > ? AND id <= ?");
      readId(f, &a[nArg++]);
      readId(f, &a[nArg++]);
      break;
    case 5:
      snprintf(z, sizeof(z), "%s INTO $T(id, vec) SELECT id + ?, vec "
               "FROM $M WHERE id < ?", azInsert[next(f)%6]);
      argInt(&a[nArg++], next(f)%16);
      readId(f, &a[nArg++]);
      break;
    case 6:
      snprintf(z, sizeof(z), "UPDATE $T SET vec = $V WHERE id IN (?, ?)");
      readVec(f, &a[nArg++]);
      readId(f, &a[nArg++]);
      readId(f, &a[nArg++]);
      break;
    case 8: {
      /* a compaction or an optimize (by the op's place in the input): the
      ** model has nothing to do; whether it succeeds or fails, the
      ** comparisons that follow see the same rows */
      char *zSql = sqlite3_mprintf("INSERT INTO %s(%s) VALUES('%s')",
                                   aTab[iTab].zName, aTab[iTab].zName,
                                   f->i%2 ? "optimize" : "compact");
      if( zSql ) run(f->aDb[f->iCur], zSql, a, 0);
      sqlite3_free(zSql);
      return;
    }
    default:
      snprintf(z, sizeof(z), "INSERT INTO $T(vec) VALUES ($V)");
      readVec(f, &a[nArg++]);
      break;
  }
  writeBoth(f, z, iTab, a, nArg);
  argFree(a, nArg);
}

/* Writes on a payloads table. */
static void opPayWrite(Fz *f){
  int iTab = FZ_NVEC + next(f)%2, kind = next(f)%6, nArg = 0, i;
  Arg a[8];
  char z[256];
  memset(a, 0, sizeof(a));
  switch( kind ){
    case 0: {
      int nRow = 1 + next(f)%3;
      int j = snprintf(z, sizeof(z), "%s INTO $T(id, json) VALUES ",
                       azInsert[next(f)%6]);
      for(i=0; i<nRow; i++){
        j += snprintf(z+j, sizeof(z)-j, "%s(?, ?)", i ? ", " : "");
        readId(f, &a[nArg++]);
        readJson(f, &a[nArg++]);
      }
      break;
    }
    case 1:
      snprintf(z, sizeof(z), "%s $T SET json = ? WHERE id = ?",
               azUpdate[next(f)%4]);
      readJson(f, &a[nArg++]);
      readId(f, &a[nArg++]);
      break;
    case 2:
      snprintf(z, sizeof(z), "%s $T SET id = ? WHERE id = ?",
               azUpdate[next(f)%4]);
      readId(f, &a[nArg++]);
      readId(f, &a[nArg++]);
      break;
    case 3:
      snprintf(z, sizeof(z), "DELETE FROM $T WHERE id = ?");
      readId(f, &a[nArg++]);
      break;
    case 4:
      snprintf(z, sizeof(z), "DELETE FROM $T WHERE id BETWEEN ? AND ?");
      readId(f, &a[nArg++]);
      readId(f, &a[nArg++]);
      break;
    default:
      snprintf(z, sizeof(z), "INSERT INTO $T(json) VALUES (?)");
      readJson(f, &a[nArg++]);
      break;
  }
  writeBoth(f, z, iTab, a, nArg);
  argFree(a, nArg);
}

static const char *azVecQuery[] = {
  "SELECT id, vec FROM $T ORDER BY id",
  "SELECT id, vec FROM $T WHERE id = ?",
  "SELECT id, vec FROM $T WHERE id IN (?, ?, ?) ORDER BY id",
  "SELECT id, vec FROM $T WHERE id > ? AND id <= ? ORDER BY id",
  "SELECT id FROM $T ORDER BY id DESC",
  "SELECT count(*) FROM $T",
  "SELECT id, vec FROM $T WHERE id >= ? ORDER BY id DESC LIMIT 3",
  "SELECT id, veles_json(vec) FROM $T WHERE id < ? ORDER BY id",
};
static const char *azPayQuery[] = {
  "SELECT id, json FROM $T ORDER BY id",
  "SELECT id, json FROM $T WHERE id = ?",
  "SELECT id, json FROM $T WHERE id IN (?, ?, ?) ORDER BY id",
  "SELECT id, json FROM $T WHERE id BETWEEN ? AND ? ORDER BY id",
  "SELECT id FROM $T ORDER BY id DESC",
  "SELECT count(*) FROM $T",
  "SELECT id FROM $T WHERE json_extract(json, '$.lang') = ? ORDER BY id",
  "SELECT id, json FROM $T WHERE id >= ? ORDER BY id DESC LIMIT 3",
};

/* A query on a table and its model. */
static void opCompare(Fz *f){
  int iTab = next(f)%FZ_NTAB, q = next(f)%8, i;
  Arg a[3];
  for(i=0; i<3; i++) readId(f, &a[i]);
  if( q==6 && !aTab[iTab].bVec ){
    argFree(a, 1);
    argText(&a[0], (next(f)&1) ? "en" : "fr", 2);
  }
  compareBoth(f, aTab[iTab].bVec ? azVecQuery[q] : azPayQuery[q], iTab, a, 3);
  argFree(a, 3);
}

/* A declared-field filter through the index against the same filter
** evaluated by SQLite over a scan (+field is not offered to the index). */
static void opFields(Fz *f){
  static const char *azField[] = { "lang", "year", "score", "\"a.b\"" };
  static const char *azOp[] = { "=", "<", "<=", ">", ">=" };
  int iField = next(f)%4, iOp = next(f)%5, c = next(f);
  char zVt[200], zMo[200];
  Arg a[1];
  memset(a, 0, sizeof(a));
  switch( iField ){
    case 0: argText(&a[0], (c&1) ? "en" : (c&2) ? "fr" : "\xc3\xa9t\xc3\xa9",
                    -1); break;
    case 1: argInt(&a[0], (c&1) ? 2020 : c); break;
    case 2: a[0].e = A_REAL; a[0].r = (c-128)/64.0; break;
    default: argInt(&a[0], c&1); break;
  }
  if( c&0x80 ) a[0].e = a[0].e==A_INT ? A_REAL : a[0].e, a[0].r = (double)a[0].i;
  /* with bit 6, a second field first: the composite indexes' prefixes */
  snprintf(zVt, sizeof(zVt), "SELECT id FROM p1 WHERE %s%s %s ? ORDER BY id",
           (c&0x40)==0 ? "" : iField==1 ? "lang = 'en' AND "
           : "score > 0 AND ", azField[iField], azOp[iOp]);
  snprintf(zMo, sizeof(zMo), "SELECT id FROM p1 WHERE %s+%s %s ? ORDER BY id",
           (c&0x40)==0 ? "" : iField==1 ? "+lang = 'en' AND "
           : "+score > 0 AND ", azField[iField], azOp[iOp]);
  compareSql(f->aDb[f->iCur], zVt, zMo, a, 1);
  argFree(a, 1);
}

/* A k-NN search: min(k, rows) distinct existing rows by distance. */
static void opSearch(Fz *f){
  static const char *azFilter[] = {
    "", " AND id > ?3", " AND id IN (?3, ?4, ?5)", " AND id <= ?3",
  };
  static const char *azModel[] = {
    "", " WHERE id > ?3", " WHERE id IN (?3, ?4, ?5)", " WHERE id <= ?3",
  };
  int iTab = next(f)%FZ_NVEC, iFilter = next(f)%4, k = next(f)%12, i;
  int bLimit = next(f)%4==0;
  /* a third of the k searches quantized (quant.c), chosen without reading
  ** input, so that older inputs keep their meaning */
  int iRescore = (k + iFilter)%3;
  int iProbe = (k + iFilter)/3%3;     /* the IVF index: 8 rows make one */
  sqlite3 *db = f->aDb[f->iCur];
  sqlite3_stmt *pStmt = 0;
  char *zSql, *zCount;
  Arg a[5];
  sqlite3_int64 aId[16], nModel = -1;
  double rPrev = -INFINITY;
  int nRow = 0, rc;
  memset(a, 0, sizeof(a));
  readVec(f, &a[0]);
  argInt(&a[1], k);
  for(i=2; i<5; i++) readId(f, &a[i]);
  if( bLimit ){
    zSql = sqlite3_mprintf("SELECT id, distance FROM %s WHERE vec MATCH ?1"
                           "%s ORDER BY distance LIMIT ?2",
                           aTab[iTab].zName, azFilter[iFilter]);
  }else{
    zSql = sqlite3_mprintf("SELECT id, distance FROM %s WHERE vec MATCH ?1"
                           " AND k = ?2%s%s%s", aTab[iTab].zName,
                           azFilter[iFilter],
                           iRescore==1 ? " AND rescore = 1" :
                           iRescore==2 ? " AND rescore = 3" : "",
                           iProbe==1 ? " AND probe = 1" :
                           iProbe==2 ? " AND probe = 3" : "");
  }
  zCount = sqlite3_mprintf("SELECT count(*), ?1 IS ?1, ?2 IS ?2 FROM m_%s%s",
                           aTab[iTab].zName, azModel[iFilter]);
  rc = prepareBind(db, zSql, a, 5, &pStmt);
  if( rc==SQLITE_OK ){
    while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
      double r = sqlite3_column_double(pStmt, 1);
      if( nRow<16 ) aId[nRow] = sqlite3_column_int64(pStmt, 0);
      if( isnan(r) || sqlite3_column_type(pStmt, 1)!=SQLITE_FLOAT ){
        fzFail("%s: distance of id %lld is %s", zSql,
               sqlite3_column_int64(pStmt, 0),
               sqlite3_column_type(pStmt, 1)==SQLITE_FLOAT ? "NaN" : "not a real");
      }
      if( r<rPrev ) fzFail("%s: distances out of order at row %d", zSql, nRow);
      rPrev = r;
      nRow++;
    }
  }
  sqlite3_finalize(pStmt);
  pStmt = 0;
  if( rc==SQLITE_DONE && prepareBind(db, zCount, a, 5, &pStmt)==SQLITE_OK
   && sqlite3_step(pStmt)==SQLITE_ROW ){
    nModel = sqlite3_column_int64(pStmt, 0);
  }
  sqlite3_finalize(pStmt);
  if( nModel>=0 ){
    sqlite3_int64 nWant = nModel<k ? nModel : k;
    if( nRow!=nWant ){
      fzFail("%s (k=%d): %d rows, expected %lld", zSql, k, nRow, nWant);
    }
    for(i=0; i<nRow; i++){
      int j, bFound = 0;
      for(j=0; j<i; j++){
        if( aId[j]==aId[i] ) fzFail("%s: id %lld twice", zSql, aId[i]);
      }
      pStmt = 0;
      {
        char *zOne = sqlite3_mprintf("SELECT 1, ?1 IS ?1, ?2 IS ?2 FROM m_%s"
                                     "%s%s id = %lld", aTab[iTab].zName,
                                     azModel[iFilter],
                                     iFilter ? " AND" : " WHERE", aId[i]);
        if( prepareBind(db, zOne, a, 5, &pStmt)==SQLITE_OK ){
          bFound = sqlite3_step(pStmt)==SQLITE_ROW;
        }
        sqlite3_finalize(pStmt);
        if( !bFound ) fzFail("%s: id %lld is not a row (model: %s)", zSql,
                             aId[i], zOne);
        sqlite3_free(zOne);
      }
    }
  }
  sqlite3_free(zSql);
  sqlite3_free(zCount);
  argFree(a, 5);
}

/* Run a one-value query; returns 1 with *pOut (a copy) on success. */
static int one(sqlite3 *db, const char *zSql, Arg *a, int nArg,
               Arg *pOut){
  sqlite3_stmt *p = 0;
  int bOk = 0;
  memset(pOut, 0, sizeof(*pOut));
  if( prepareBind(db, zSql, a, nArg, &p)==SQLITE_OK
   && sqlite3_step(p)==SQLITE_ROW ){
    switch( sqlite3_column_type(p, 0) ){
      case SQLITE_NULL: pOut->e = A_NULL; break;
      case SQLITE_INTEGER: argInt(pOut, sqlite3_column_int64(p, 0)); break;
      case SQLITE_FLOAT: pOut->e = A_REAL;
                         pOut->r = sqlite3_column_double(p, 0); break;
      case SQLITE_TEXT:
        argText(pOut, (const char*)sqlite3_column_text(p, 0),
                sqlite3_column_bytes(p, 0));
        break;
      default:
        pOut->e = A_BLOB;
        pOut->n = sqlite3_column_bytes(p, 0);
        pOut->z = malloc(pOut->n+1);
        if( pOut->n ) memcpy(pOut->z, sqlite3_column_blob(p, 0), pOut->n);
        break;
    }
    bOk = 1;
  }
  sqlite3_finalize(p);
  return bOk;
}

/* The veles_* functions on fuzzed values, with their round-trip laws. */
static void opFunctions(Fz *f){
  static const char *azMetric[] = {
    "l2", "cosine", "dot", "COSINE", "foo", "", "L2 ",
  };
  sqlite3 *db = f->aDb[f->iCur];
  Arg a[3], r, s;
  int kind = next(f)%4, iMetric = next(f)%8;
  memset(a, 0, sizeof(a));
  readVec(f, &a[0]);
  readVec(f, &a[1]);
  if( iMetric<7 ) argText(&a[2], azMetric[iMetric], -1);
  else a[2].e = A_NULL;
  switch( kind ){
    case 0:
      if( one(db, "SELECT veles_vec(?1)", a, 1, &r) && r.e==A_BLOB ){
        if( !one(db, "SELECT veles_vec(veles_json(?1))", a, 1, &s)
         || s.e!=A_BLOB || s.n!=r.n || memcmp(s.z, r.z, r.n)!=0 ){
          fzFail("veles_vec(veles_json(x)) differs from veles_vec(x)");
        }
        argFree(&s, 1);
        if( !one(db, "SELECT veles_dim(?1)", a, 1, &s) || s.e!=A_INT
         || s.i*4!=r.n ){
          fzFail("veles_dim(x) is not the length of veles_vec(x) / 4");
        }
        if( one(db, "SELECT veles_distance(?1, ?1)", a, 1, &s)
         && !(s.e==A_REAL && s.r==0.0) ){
          fzFail("veles_distance(x, x) is not 0");
        }
      }
      argFree(&r, 1);
      break;
    case 1:
      if( one(db, "SELECT veles_normalize(?1)", a, 1, &r) && r.e==A_BLOB ){
        if( !one(db, "SELECT veles_dim(?1)", a, 1, &s) || s.e!=A_INT
         || s.i*4!=r.n ){
          fzFail("veles_normalize(x) has another dimension than x");
        }
        argFree(&s, 1);
      }
      argFree(&r, 1);
      break;
    default:
      if( one(db, "SELECT veles_distance(?1, ?2, ?3)", a, 3, &r)
       && r.e==A_REAL ){
        if( isnan(r.r) ) fzFail("veles_distance gave NaN");
        if( iMetric==0 && r.r<0 ) fzFail("l2 distance below 0");
        if( (iMetric==1 || iMetric==3) && (r.r<0 || r.r>2) ){
          fzFail("cosine distance %g outside [0, 2]", r.r);
        }
      }
      argFree(&r, 1);
      break;
  }
  argFree(a, 3);
}

/* Transaction control; any error is fine. */
static void opTxn(Fz *f){
  static const char *azTxn[] = {
    "BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK",
    "SAVEPOINT s%d", "RELEASE s%d", "ROLLBACK TO s%d", "SAVEPOINT s%d",
  };
  int kind = next(f)%8, c = next(f)%3;
  char z[64];
  snprintf(z, sizeof(z), azTxn[kind], c);
  run(f->aDb[f->iCur], z, 0, 0);
}

/* veles_check must be 'ok' (a table that is missing or busy excepted). */
static void checkTable(sqlite3 *db, const char *zName){
  char zSql[100];
  int rc;
  const char *z;
  snprintf(zSql, sizeof(zSql), "SELECT veles_check('%s')", zName);
  z = fzText(db, zSql, &rc);
  if( rc!=SQLITE_OK ) return;
  if( strcmp(z, "ok")!=0 && !strstr(z, "locked") && !strstr(z, "busy") ){
    fzFail("veles_check('%s'): %s", zName, z);
  }
  if( zName[0]=='v' ){
    /* the index state of a vectors table is JSON */
    snprintf(zSql, sizeof(zSql), "SELECT json_valid(veles_index('%s'))",
             zName);
    z = fzText(db, zSql, &rc);
    if( rc==SQLITE_OK && strcmp(z, "1")!=0 ){
      fzFail("veles_index('%s') is not JSON", zName);
    }
  }
}

static void integrityCheck(sqlite3 *db){
  int rc;
  const char *z = fzText(db, "PRAGMA integrity_check", &rc);
  if( rc==SQLITE_OK && strcmp(z, "ok")!=0 ){
    fzFail("PRAGMA integrity_check: %s", z);
  }
}

static void opCheck(Fz *f){
  int c = next(f);
  if( c%8==7 ) integrityCheck(f->aDb[f->iCur]);
  else checkTable(f->aDb[f->iCur], aTab[c%FZ_NTAB].zName);
}

/* Create table iTab and its model (in the caller's transaction). */
static int createTable(sqlite3 *db, int iTab){
  char *z = sqlite3_mprintf(
      "CREATE VIRTUAL TABLE %s%s USING %s(%s);"
      "CREATE %sTABLE m_%s(id INTEGER PRIMARY KEY, %s);",
      aTab[iTab].bTemp ? "temp." : "", aTab[iTab].zName,
      aTab[iTab].bVec ? "vectors" : "payloads", aTab[iTab].zArgs,
      aTab[iTab].bTemp ? "TEMP " : "", aTab[iTab].zName,
      aTab[iTab].bVec ? "vec BLOB" : "json TEXT NOT NULL");
  int rc = sqlite3_exec(db, z, 0, 0, 0);
  sqlite3_free(z);
  return rc;
}

/* Drop and create a table again, or rename it there and back, all in
** one savepoint that is rolled back if any step fails. */
static void opSchema(Fz *f){
  int iTab = next(f)%FZ_NTAB, kind = next(f)%3, rc;
  sqlite3 *db = f->aDb[f->iCur];
  const char *zN = aTab[iTab].zName;
  char *z;
  if( sqlite3_exec(db, "SAVEPOINT schema", 0, 0, 0) ) return;
  if( kind==0 ){
    z = sqlite3_mprintf("DROP TABLE IF EXISTS %s; DROP TABLE IF EXISTS m_%s;",
                        zN, zN);
    rc = sqlite3_exec(db, z, 0, 0, 0);
    if( rc==SQLITE_OK ) rc = createTable(db, iTab);
  }else if( kind==1 ){
    z = sqlite3_mprintf("ALTER TABLE %s RENAME TO %s_x;"
                        "ALTER TABLE %s_x RENAME TO %s;", zN, zN, zN, zN);
    rc = sqlite3_exec(db, z, 0, 0, 0);
  }else{
    /* dropped and rolled back: everything must still be there */
    z = sqlite3_mprintf("DROP TABLE %s; DROP TABLE m_%s;", zN, zN);
    sqlite3_exec(db, z, 0, 0, 0);
    rc = SQLITE_ERROR;
  }
  sqlite3_free(z);
  if( rc!=SQLITE_OK ) sqlite3_exec(db, "ROLLBACK TO schema", 0, 0, 0);
  if( sqlite3_exec(db, "RELEASE schema", 0, 0, 0)!=SQLITE_OK ){
    sqlite3_exec(db, "ROLLBACK", 0, 0, 0);
  }
}

/* VELES_FUZZ_TRACE=1: print each statement (with its values) and its
** outcome, to turn a crashing input into SQL. */
static int traceStmt(unsigned eType, void *pCtx, void *p, void *x){
  (void)pCtx; (void)x;
  if( eType==SQLITE_TRACE_STMT && sqlite3_stmt_isexplain((sqlite3_stmt*)p)==0 ){
    char *z = sqlite3_expanded_sql((sqlite3_stmt*)p);
    if( z && strstr(z, "_map")==0 && strstr(z, "_config")==0
     && strstr(z, "_data")==0 && strstr(z, "PRAGMA")==0 ){
      fprintf(stderr, "%s;\n", z);
    }
    sqlite3_free(z);
  }
  return 0;
}

static sqlite3 *openDb(Fz *f){
  sqlite3 *db = 0;
  if( sqlite3_open_v2(f->zDb, &db, SQLITE_OPEN_READWRITE|SQLITE_OPEN_CREATE,
                      0)!=SQLITE_OK ){
    fzFail("cannot open %s: %s", f->zDb, sqlite3_errmsg(db));
  }
  sqlite3_extended_result_codes(db, 1);
  if( getenv("VELES_FUZZ_TRACE") ){
    fprintf(stderr, "-- open %s\n", f->zDb);
    sqlite3_trace_v2(db, SQLITE_TRACE_STMT, traceStmt, 0);
  }
  return db;
}

/* Remove (bRemove) or cut to nKeep bytes every side file of the fuzz
** database: what a copy without its side files, or a damaged disk,
** leaves. The database's copy of the vectors makes them again. */
static void damageSideFiles(Fz *f, int bRemove, long nKeep){
  DIR *d = opendir(fzDir);
  struct dirent *e;
  char zPath[1200];
  while( d && (e = readdir(d))!=0 ){
    if( strncmp(e->d_name, "fuzz.db-vectors-", 16)!=0 ) continue;
    snprintf(zPath, sizeof(zPath), "%s/%s", fzDir, e->d_name);
    if( bRemove ){
      unlink(zPath);
    }else{
      struct stat st;
      if( stat(zPath, &st)==0 && st.st_size>nKeep ){
        if( truncate(zPath, nKeep) ) fzFail("truncate %s", zPath);
      }
    }
  }
  if( d ) closedir(d);
  (void)f;
}

/* Second connection, reopening, damaged side files (file databases
** only). */
static void opConn(Fz *f){
  int kind = next(f)%6;
  if( !f->bFile ) return;
  switch( kind ){
    case 0: f->iCur = 0; break;
    case 1:
      if( f->aDb[1]==0 ) f->aDb[1] = openDb(f);
      f->iCur = 1;
      break;
    case 2:
      /* close everything (rolling back what is open) and reopen */
      sqlite3_close(f->aDb[1]);
      f->aDb[1] = 0;
      sqlite3_close(f->aDb[0]);
      f->aDb[0] = openDb(f);
      f->iCur = 0;
      break;
    case 4: case 5: {
      /* close everything, damage the side files, reopen: every later
      ** read must still equal the model */
      int c = next(f);
      sqlite3_close(f->aDb[1]);
      f->aDb[1] = 0;
      sqlite3_close(f->aDb[0]);
      damageSideFiles(f, c%3==0, c%3==1 ? 4096 : 4096+(c>>2)*16);
      f->aDb[0] = openDb(f);
      f->iCur = 0;
      /* use every table as a user would: a read of each vector finds a
      ** truncated file (reading past its end from the copy), the next
      ** statement rebuilds it */
      {
        int i;
        for(i=0; i<FZ_NTAB; i++){
          char zSql[100];
          if( !aTab[i].bVec || aTab[i].bTemp ) continue;
          snprintf(zSql, sizeof(zSql), "SELECT count(vec) FROM %s; "
                   "SELECT count(*) FROM %s", aTab[i].zName, aTab[i].zName);
          if( sqlite3_exec(f->aDb[0], zSql, 0, 0, 0)!=SQLITE_OK ){
            fzFail("after damaged side files: %s: %s", zSql,
                   sqlite3_errmsg(f->aDb[0]));
          }
        }
      }
      break;
    }
    default:
      sqlite3_close(f->aDb[1]);
      f->aDb[1] = 0;
      f->iCur = 0;
      break;
  }
}

/* Every table against its model, veles_check and integrity_check. */
static void finalChecks(Fz *f){
  sqlite3 *db = f->aDb[0];
  int i;
  f->iCur = 0;
  for(i=0; i<FZ_NTAB; i++){
    compareBoth(f, aTab[i].bVec ? azVecQuery[0] : azPayQuery[0], i, 0, 0);
    checkTable(db, aTab[i].zName);
  }
  integrityCheck(db);
}

int LLVMFuzzerInitialize(int *pArgc, char ***pArgv){
  (void)pArgc; (void)pArgv;
  fzSetup();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *aData, size_t nData){
  Fz f;
  int mode, nOp = 0, i;
  memset(&f, 0, sizeof(f));
  f.a = aData;
  f.n = nData;
  mode = next(&f);
  f.bFile = mode&1;
  if( f.bFile ){
    snprintf(f.zDb, sizeof(f.zDb), "%s/fuzz.db", fzDir);
  }else{
    snprintf(f.zDb, sizeof(f.zDb), ":memory:");
  }
  f.aDb[0] = openDb(&f);
  if( f.bFile && (mode&2) ) fzExec(f.aDb[0], "PRAGMA journal_mode=WAL");
  fzExec(f.aDb[0], (mode&4) ? "PRAGMA synchronous=OFF"
                            : "PRAGMA synchronous=FULL");
  fzExec(f.aDb[0], "BEGIN");
  for(i=0; i<FZ_NTAB; i++){
    if( createTable(f.aDb[0], i)!=SQLITE_OK ){
      fzFail("cannot create %s: %s", aTab[i].zName,
             sqlite3_errmsg(f.aDb[0]));
    }
  }
  fzExec(f.aDb[0], "COMMIT");

  while( f.i<f.n && nOp++<FZ_MAX_OPS ){
    switch( next(&f)%16 ){
      case 0: case 1: case 2: opVecWrite(&f); break;
      case 3: case 4: opPayWrite(&f); break;
      case 5: case 6: opCompare(&f); break;
      case 7: opFields(&f); break;
      case 8: opSearch(&f); break;
      case 9: opFunctions(&f); break;
      case 10: case 11: opTxn(&f); break;
      case 12: opCheck(&f); break;
      case 13: opConn(&f); break;
      case 14: opSchema(&f); break;
      default: opCompare(&f); break;
    }
  }

  /* end any transaction (COMMIT, or ROLLBACK when that fails) */
  sqlite3_close(f.aDb[1]);
  f.aDb[1] = 0;
  if( !sqlite3_get_autocommit(f.aDb[0])
   && sqlite3_exec(f.aDb[0], "COMMIT", 0, 0, 0)!=SQLITE_OK ){
    sqlite3_exec(f.aDb[0], "ROLLBACK", 0, 0, 0);
  }
  finalChecks(&f);
  if( f.bFile ){
    /* what was committed is what a new connection finds */
    sqlite3_close(f.aDb[0]);
    f.aDb[0] = openDb(&f);
    finalChecks(&f);
  }
  if( sqlite3_close(f.aDb[0])!=SQLITE_OK ){
    fzFail("sqlite3_close: %s", sqlite3_errmsg(f.aDb[0]));
  }
  fzClean();
  return 0;
}
