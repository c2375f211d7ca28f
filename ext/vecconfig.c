/*
** A `vectors` table's settings: the CREATE arguments, and the shadow
** table that keeps them.
**
**   CREATE VIRTUAL TABLE emb USING vectors(dim=384, metric=cosine);
**
** dim=N (1..65536; when omitted the first stored vector fixes it,
** persistently), metric=l2|cosine|dot (used by search) and
** db_copy=on|off (on by default: every vector is also kept in the
** database, veccopy.c), index=ivf|none (none by default: searches with
** no probe scan exactly, ivf.c) and probe=N (the probe of a search of an
** index=ivf table that gives none; VS_PROBE_DEFAULT when not given).
** Keys are case insensitive; a value may be quoted.
**
**   <table>_config(k TEXT PRIMARY KEY, v) WITHOUT ROWID, rows:
**     ident   16 lowercase hex digits, random at CREATE: names the side
**             file "<database file>-vectors-<ident>"
**     dim     the dimension, 0 until fixed
**     metric  l2, cosine or dot
**     format  2: the side file's format (sidefile.c) and its binding to
**             the database (vecbind.c); 1: tables made before the binding,
**             read as they always were
**     commit  format 2: the number of the table's newest commit
**     nonce   format 2: a random number naming that commit
**     slots   format 2: the side file's length in slots after that
**             commit; a shorter file is truncated (vecbind.c)
**     copy    format 2: 1 when the database keeps a copy of every vector
**             in <table>_chunks (veccopy.c), 0 (or absent) when not
**     chunk   format 2: the most bytes a chunk of that copy holds, a power
**             of two (VS_CHUNK_BYTES when made now); absent: 256 KiB, the
**             size of tables made before the row (smaller chunks journal
**             less when a commit fills the one the last commit began)
**
**     index   'ivf' for a table made with index=ivf (absent: none)
**     probe   with index: the default probe, 1..VS_PROBE_MAX
**
**   <table>_chunks(chunk INTEGER PRIMARY KEY, data BLOB): that copy, made
**             with the table (empty while the copy is off)
**   <table>_ivf(k INTEGER PRIMARY KEY, v BLOB): the IVF index 'optimize'
**             stored (ivfstore.c), made with the table; tables made
**             before it have none until the first 'optimize'
**
** A format 1 table has the rows ident, dim, metric and format (1) only,
** and no <table>_chunks; vecupgrade.c makes it format 2 with the copy on
** (vsConfigUpgrade adds the table and the rows).
**
** The settings are read at every connect and trusted by nothing else, so
** they are checked here: a database is input like any other, and a
** crafted one must not make veles touch a file other than its own side
** file. An identifier of any other form, an unknown format, a dimension
** or metric out of range is damage (SQLITE_CORRUPT_VTAB): the table
** still connects, so that DROP TABLE works, but opens no file, and every
** use of it reports the damage (vectors.c).
*/
#include "vectors.h"
#include "distance.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* Parse one CREATE argument ("dim=384", "metric=cosine"). */
static int parseOption(const char *zArg, int *pnDim, int *peMetric,
                       int *pbCopy, VsIndexOpt *pIdx, char **pzErr){
  const char *zEq = strchr(zArg, '=');
  char *zKey, *zVal;
  int rc = SQLITE_OK;
  if( zEq==0 ){
    *pzErr = sqlite3_mprintf("vectors: malformed option: expected "
        "dim=N, metric=l2|cosine|dot, db_copy=on|off, index=ivf|none or "
        "probe=N, got '%s'", zArg);
    return SQLITE_ERROR;
  }
  zKey = sqlite3_mprintf("%.*s", (int)(zEq-zArg), zArg);
  zVal = sqlite3_mprintf("%s", zEq+1);
  if( zKey==0 || zVal==0 ){
    rc = SQLITE_NOMEM;
  }else{
    char *z;
    /* trim spaces and one level of quotes around the value */
    for(z=zKey+strlen(zKey); z>zKey && z[-1]==' '; z--) z[-1] = 0;
    while( zKey[0]==' ' ) memmove(zKey, zKey+1, strlen(zKey));
    for(z=zVal+strlen(zVal); z>zVal && z[-1]==' '; z--) z[-1] = 0;
    while( zVal[0]==' ' ) memmove(zVal, zVal+1, strlen(zVal));
    if( (zVal[0]=='\'' || zVal[0]=='"') && strlen(zVal)>=2
     && zVal[strlen(zVal)-1]==zVal[0] ){
      zVal[strlen(zVal)-1] = 0;
      memmove(zVal, zVal+1, strlen(zVal));
    }
    if( sqlite3_stricmp(zKey, "dim")==0 ){
      char *zEnd = 0;
      long n = strtol(zVal, &zEnd, 10);
      if( zVal[0]==0 || *zEnd!=0 || n<1 || n>VS_MAX_DIM ){
        *pzErr = sqlite3_mprintf("vectors: dim must be an integer from 1 "
            "to %d, got '%s'", VS_MAX_DIM, zVal);
        rc = SQLITE_ERROR;
      }else{
        *pnDim = (int)n;
      }
    }else if( sqlite3_stricmp(zKey, "metric")==0 ){
      *peMetric = vsDistanceMetric(zVal);
      if( *peMetric<0 ){
        *pzErr = sqlite3_mprintf("vectors: unknown metric: expected l2, "
            "cosine or dot, got '%s'", zVal);
        rc = SQLITE_ERROR;
      }
    }else if( sqlite3_stricmp(zKey, "db_copy")==0 ){
      if( sqlite3_stricmp(zVal, "on")==0 ){
        *pbCopy = 1;
      }else if( sqlite3_stricmp(zVal, "off")==0 ){
        *pbCopy = 0;
      }else{
        *pzErr = sqlite3_mprintf("vectors: db_copy must be on or off, got "
            "'%s'", zVal);
        rc = SQLITE_ERROR;
      }
    }else if( sqlite3_stricmp(zKey, "index")==0 ){
      if( sqlite3_stricmp(zVal, "ivf")==0 ){
        pIdx->eIndex = VS_INDEX_IVF;
      }else if( sqlite3_stricmp(zVal, "none")==0 ){
        pIdx->eIndex = VS_INDEX_NONE;
      }else{
        *pzErr = sqlite3_mprintf("vectors: index must be ivf or none, got "
            "'%s'", zVal);
        rc = SQLITE_ERROR;
      }
    }else if( sqlite3_stricmp(zKey, "probe")==0 ){
      char *zEnd = 0;
      long n = strtol(zVal, &zEnd, 10);
      if( zVal[0]==0 || *zEnd!=0 || n<1 || n>VS_PROBE_MAX ){
        *pzErr = sqlite3_mprintf("vectors: probe must be an integer from 1 "
            "to %d, got '%s'", VS_PROBE_MAX, zVal);
        rc = SQLITE_ERROR;
      }else{
        pIdx->nProbe = (int)n;
      }
    }else{
      *pzErr = sqlite3_mprintf("vectors: unknown option: expected dim, "
          "metric, db_copy, index or probe, got '%s'", zKey);
      rc = SQLITE_ERROR;
    }
  }
  sqlite3_free(zKey);
  sqlite3_free(zVal);
  return rc;
}

int vsConfigParse(int argc, const char *const *argv, int *pnDim,
                  int *peMetric, int *pbCopy, VsIndexOpt *pIdx,
                  char **pzErr){
  int i, rc = SQLITE_OK;
  *pnDim = 0;
  *peMetric = 0;
  *pbCopy = 1;
  pIdx->eIndex = VS_INDEX_NONE;
  pIdx->nProbe = 0;
  for(i=3; i<argc && rc==SQLITE_OK; i++){
    rc = parseOption(argv[i], pnDim, peMetric, pbCopy, pIdx, pzErr);
  }
  if( rc==SQLITE_OK && pIdx->nProbe>0 && pIdx->eIndex==VS_INDEX_NONE ){
    *pzErr = sqlite3_mprintf("vectors: probe=%d needs index=ivf: a table "
        "without an index is scanned exactly unless a search gives a probe",
        pIdx->nProbe);
    rc = SQLITE_ERROR;
  }
  if( pIdx->eIndex==VS_INDEX_IVF && pIdx->nProbe==0 ){
    pIdx->nProbe = VS_PROBE_DEFAULT;
  }
  return rc;
}

/* <table>_chunks, made by CREATE and by the upgrade of a format 1 table */
#define VS_CHUNKS_DDL \
  "CREATE TABLE \"%w\".\"%w_chunks\"(chunk INTEGER PRIMARY KEY, data BLOB);"
/* <table>_ivf, made by CREATE (older tables get it at 'optimize') */
#define VS_IVF_DDL \
  "CREATE TABLE IF NOT EXISTS \"%w\".\"%w_ivf\"(k INTEGER PRIMARY KEY, v BLOB);"

int vsConfigCreate(sqlite3 *db, const char *zSchema, const char *zName,
                   const char *zIdent, int nDim, int eMetric, int bCopy,
                   const VsIndexOpt *pIdx, i64 iNonce, char **pzErr){
  int rc = vsShadowExec(db,
      "CREATE TABLE \"%w\".\"%w_config\"(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
      "CREATE TABLE \"%w\".\"%w_map\"(id INTEGER PRIMARY KEY, slot INTEGER NOT NULL);"
      VS_CHUNKS_DDL VS_IVF_DDL
      "INSERT INTO \"%w\".\"%w_config\" VALUES('ident', %Q), ('dim', %d), "
      "('metric', %Q), ('format', %d), ('commit', 0), ('nonce', %lld), "
      "('slots', 0), ('copy', %d), ('chunk', %d);",
      zSchema, zName, zSchema, zName, zSchema, zName, zSchema, zName,
      zSchema, zName,
      zIdent, nDim, vsDistanceMetricName(eMetric), VEC_FORMAT, iNonce, bCopy,
      VS_CHUNK_BYTES);
  if( rc==SQLITE_OK && pIdx->eIndex==VS_INDEX_IVF ){
    rc = vsShadowExec(db, "INSERT INTO \"%w\".\"%w_config\" "
        "VALUES('index', 'ivf'), ('probe', %d);", zSchema, zName,
        pIdx->nProbe);
  }
  if( rc && rc!=SQLITE_NOMEM ){
    *pzErr = sqlite3_mprintf("vectors: cannot create shadow tables of %s: "
                             "%s", zName, sqlite3_errmsg(db));
  }
  return rc;
}

int vsConfigUpgrade(sqlite3 *db, const char *zSchema, const char *zName,
                    i64 iNonce, i64 nSlot, char **pzErr){
  int rc = vsShadowExec(db,
      VS_CHUNKS_DDL
      "INSERT INTO \"%w\".\"%w_config\" VALUES('commit', 0), "
      "('nonce', %lld), ('slots', %lld), ('copy', 1), ('chunk', %d);"
      "UPDATE \"%w\".\"%w_config\" SET v=%d WHERE k='format';",
      zSchema, zName, zSchema, zName, iNonce, nSlot, VS_CHUNK_BYTES, zSchema,
      zName, VEC_FORMAT);
  if( rc && rc!=SQLITE_NOMEM ){
    *pzErr = sqlite3_mprintf("cannot add the shadow rows of format %d: %s",
                             VEC_FORMAT, sqlite3_errmsg(db));
  }
  return rc;
}

/* An identifier veles made: VS_IDENT_LEN lowercase hex digits. */
static int isIdent(const char *z){
  int i;
  for(i=0; i<VS_IDENT_LEN; i++){
    if( !((z[i]>='0' && z[i]<='9') || (z[i]>='a' && z[i]<='f')) ) return 0;
  }
  return z[VS_IDENT_LEN]==0;
}

int vsConfigChunkBytesOk(i64 n){
  return n>=VS_CHUNK_BYTES_MIN && n<=VS_CHUNK_BYTES_MAX && (n & (n-1))==0;
}

int vsConfigRead(sqlite3 *db, const char *zSchema, const char *zName,
                 char *zIdent, int *pnDim, int *peMetric, int *piFormat,
                 int *pbCopy, int *pnChunkBytes, VsIndexOpt *pIdx,
                 char **pzErr){
  sqlite3_stmt *pStmt = 0;
  char *zSql;
  int rc, bIdent = 0, bFormat = 0;
  VsIndexOpt idx = {VS_INDEX_NONE, 0};
  *pnDim = -1;
  *peMetric = -1;
  *piFormat = 0;
  *pbCopy = 0;
  *pnChunkBytes = VS_CHUNK_BYTES_OLD;
  zIdent[0] = 0;
  zSql = sqlite3_mprintf("SELECT k, v FROM \"%w\".\"%w_config\"",
                         zSchema, zName);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc ){
    if( rc==SQLITE_NOMEM ) return rc;
    *pzErr = sqlite3_mprintf("cannot read its settings: %s",
                             sqlite3_errmsg(db));
    return rc==SQLITE_ERROR ? SQLITE_CORRUPT_VTAB : rc;
  }
  while( sqlite3_step(pStmt)==SQLITE_ROW ){
    const char *zKey = (const char*)sqlite3_column_text(pStmt, 0);
    const char *zVal = (const char*)sqlite3_column_text(pStmt, 1);
    if( zKey==0 || zVal==0 ) continue;
    if( strcmp(zKey, "ident")==0 ){
      if( !isIdent(zVal) ){
        sqlite3_free(*pzErr);     /* the identifier's damage matters most */
        *pzErr = sqlite3_mprintf("its identifier in %s_config is damaged: "
            "expected %d lowercase hex digits, got '%.40s'", zName,
            VS_IDENT_LEN, zVal);
        rc = SQLITE_CORRUPT_VTAB;
      }else{
        memcpy(zIdent, zVal, VS_IDENT_LEN+1);
        bIdent = 1;
      }
    }else if( strcmp(zKey, "dim")==0 ){
      i64 n = sqlite3_column_int64(pStmt, 1);
      *pnDim = n>=0 && n<=VS_MAX_DIM ? (int)n : -1;
    }else if( strcmp(zKey, "metric")==0 ){
      *peMetric = vsDistanceMetric(zVal);
    }else if( strcmp(zKey, "format")==0 ){
      if( strcmp(zVal, "1")==0 || strcmp(zVal, "2")==0 ){
        *piFormat = zVal[0]-'0';
      }else if( rc==SQLITE_OK ){
        *pzErr = sqlite3_mprintf("unknown format in %s_config: expected 1 "
            "or 2, got '%.40s' (made by a newer veles?)", zName, zVal);
        rc = SQLITE_CORRUPT_VTAB;
      }
      bFormat = 1;
    }else if( strcmp(zKey, "copy")==0 ){
      if( strcmp(zVal, "0")==0 || strcmp(zVal, "1")==0 ){
        *pbCopy = zVal[0]=='1';
      }else if( rc==SQLITE_OK ){
        *pzErr = sqlite3_mprintf("its copy setting in %s_config is damaged: "
            "expected 0 or 1, got '%.40s'", zName, zVal);
        rc = SQLITE_CORRUPT_VTAB;
      }
    }else if( strcmp(zKey, "chunk")==0 ){
      i64 n = sqlite3_column_int64(pStmt, 1);
      if( sqlite3_column_type(pStmt, 1)==SQLITE_INTEGER
       && vsConfigChunkBytesOk(n) ){
        *pnChunkBytes = (int)n;
      }else if( rc==SQLITE_OK ){
        *pzErr = sqlite3_mprintf("its chunk size in %s_config is damaged: "
            "expected a power of two from %d to %d bytes, got '%.40s'",
            zName, VS_CHUNK_BYTES_MIN, VS_CHUNK_BYTES_MAX, zVal);
        rc = SQLITE_CORRUPT_VTAB;
      }
    }else if( strcmp(zKey, "index")==0 ){
      if( strcmp(zVal, "ivf")==0 ){
        idx.eIndex = VS_INDEX_IVF;
      }else if( rc==SQLITE_OK ){
        *pzErr = sqlite3_mprintf("its index setting in %s_config is "
            "damaged: expected 'ivf', got '%.40s'", zName, zVal);
        rc = SQLITE_CORRUPT_VTAB;
      }
    }else if( strcmp(zKey, "probe")==0 ){
      i64 n = sqlite3_column_int64(pStmt, 1);
      if( sqlite3_column_type(pStmt, 1)==SQLITE_INTEGER
       && n>=1 && n<=VS_PROBE_MAX ){
        idx.nProbe = (int)n;
      }else if( rc==SQLITE_OK ){
        *pzErr = sqlite3_mprintf("its probe setting in %s_config is "
            "damaged: expected an integer from 1 to %d, got '%.40s'", zName,
            VS_PROBE_MAX, zVal);
        rc = SQLITE_CORRUPT_VTAB;
      }
    }
  }
  if( rc==SQLITE_OK && idx.eIndex==VS_INDEX_IVF && idx.nProbe==0 ){
    idx.nProbe = VS_PROBE_DEFAULT;
  }
  if( rc==SQLITE_OK && idx.eIndex==VS_INDEX_NONE ) idx.nProbe = 0;
  if( pIdx ) *pIdx = idx;
  if( rc ){
    sqlite3_finalize(pStmt);
    return rc;
  }
  rc = sqlite3_finalize(pStmt);
  if( rc==SQLITE_OK && *piFormat<2 ) *pbCopy = 0;
  if( rc==SQLITE_OK && (!bIdent || !bFormat || *pnDim<0 || *peMetric<0) ){
    *pzErr = sqlite3_mprintf("its settings in %s_config are damaged",
                             zName);
    rc = SQLITE_CORRUPT_VTAB;
  }
  return rc;
}

int vsConfigSideFile(sqlite3 *db, const char *zSchema, const char *zIdent,
                     char **pzPath, int *pbMemory){
  const char *zDb = sqlite3_db_filename(db, zSchema);
  sqlite3_vfs *pVfs = 0;
  *pzPath = 0;
  *pbMemory = 0;
  /* Only the unix VFSes keep the database in a file of this name: under
  ** any other (memdb, an encrypting or replicated VFS) nothing may be
  ** written outside the VFS, so the working copy lives in memory. */
  sqlite3_file_control(db, zSchema, SQLITE_FCNTL_VFS_POINTER, &pVfs);
  if( zDb==0 || zDb[0]==0 || pVfs==0 || pVfs->zName==0
   || strncmp(pVfs->zName, "unix", 4)!=0 ){
    *pbMemory = 1;
    return SQLITE_OK;
  }
  assert( strlen(zIdent)==VS_IDENT_LEN );
  *pzPath = vsFileName(zDb, zIdent);
  return *pzPath ? SQLITE_OK : SQLITE_NOMEM;
}
