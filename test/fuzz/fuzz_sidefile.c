/*
** fuzz_sidefile: libFuzzer target over damaged side-file images.
**
** HOW IT WORKS. Once per process a template database is made with two
** vectors tables without the database's copy of their vectors (db_copy=off:
** the side file is all there is; fuzz_sql damages side files of tables
** with the copy, which rebuilds them): v(dim=4) holding ids 1..8 in slots 0..7, and u (no dim
** option; the first vector fixed dim=2) holding ids 1..5 in slots 0..4.
** Each input copies the template and damages one side file:
**
**   byte 0   bit 0: damage u (else v); bits 1-2: how
**              0  the file becomes exactly the rest of the input
**              1  bytes 1-2 (LE) give an offset; the rest is written there
**              2  byte 1 gives an offset in the header; the rest is
**                 written there
**              3  as 1, then bytes 3-4 (LE) give the length to truncate
**                 or extend the file to
**            bit 3: WAL mode
**          In mode 0, "################" at offset 24 (the identifier)
**          stands for the template's identifier, random per process.
**
** VELES_FUZZ_SEEDS=<dir> writes the seed corpus (test/fuzz/corpus/
** fuzz_sidefile) into <dir> and exits.
**
** then opens the database and reads every vector by id and by scan,
** runs veles_check, a search, an insert, an update and a delete, reads
** again, reopens and reads again.
**
** WHAT MUST HOLD (abort() otherwise):
**   - a vector read without an error is exactly the bytes of its slot in
**     the damaged file, and its slot lies inside the file (never stale,
**     never past the end);
**   - when the checked header fields (magic, version, header size, dim,
**     identifier, and the binding to the database: commit, floor, ring,
**     checksum) are intact and the file holds every slot, every read,
**     the search and the writes succeed, and a vector written reads back
**     exactly;
**   - veles_check is not 'ok' when a checked header field is damaged, the
**     file is too short or a live slot holds NaN or infinity;
**   - the undamaged table reads back exactly and checks 'ok';
**   - no crash, no sanitizer report, no leak.
*/
#include "fuzz_common.h"
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>

#define FZ_HEADER 4096
#define FZ_IDENT_PLACEHOLDER "################"

typedef struct Tab Tab;
struct Tab {
  const char *zName;
  int nDim, nRow;          /* ids 1..nRow in slots 0..nRow-1 */
  char zFile[64];          /* side file name, relative to the db's */
  unsigned char *aImg;     /* the template's side file */
  size_t nImg;
};
static Tab aTab[2] = {
  { "v", 4, 8, "", 0, 0 },
  { "u", 2, 5, "", 0, 0 },
};

/* The template's vector for id i of table t, element j. */
static float tmplValue(int t, int i, int j){
  return (float)(t ? i*10 + j : i + j*0.5) * (j&1 ? -1.0f : 1.0f);
}

static unsigned char *readFile(const char *zPath, size_t *pn){
  FILE *in = fopen(zPath, "rb");
  unsigned char *a;
  long n;
  if( in==0 ) fzFail("cannot open %s", zPath);
  fseek(in, 0, SEEK_END);
  n = ftell(in);
  fseek(in, 0, SEEK_SET);
  a = malloc(n>0 ? n : 1);
  if( fread(a, 1, n, in)!=(size_t)n ) fzFail("cannot read %s", zPath);
  fclose(in);
  *pn = (size_t)n;
  return a;
}

static void writeFile(const char *zPath, const void *a, size_t n){
  int fd = open(zPath, O_WRONLY|O_CREAT|O_TRUNC, 0644);
  if( fd<0 || (n && write(fd, a, n)!=(ssize_t)n) ){
    fzFail("cannot write %s", zPath);
  }
  close(fd);
}

static sqlite3 *openDb(const char *zPath){
  sqlite3 *db = 0;
  if( sqlite3_open(zPath, &db)!=SQLITE_OK ) fzFail("cannot open %s", zPath);
  return db;
}

/* The template: tmpl.db and its two side files, kept in memory. */
static unsigned char *aTmplDb;
static size_t nTmplDb;

static void makeTemplate(void){
  char zDb[600], zPath[700], zSql[200];
  sqlite3 *db;
  int t, i, j, rc;
  snprintf(zDb, sizeof(zDb), "%s/tmpl.db", fzDir);
  db = openDb(zDb);
  fzExec(db, "CREATE VIRTUAL TABLE v USING vectors(dim=4, db_copy=off);"
             "CREATE VIRTUAL TABLE u USING vectors(db_copy=off);");
  for(t=0; t<2; t++){
    fzExec(db, "BEGIN");
    for(i=1; i<=aTab[t].nRow; i++){
      sqlite3_stmt *p;
      float a[4];
      for(j=0; j<aTab[t].nDim; j++) a[j] = tmplValue(t, i, j);
      snprintf(zSql, sizeof(zSql), "INSERT INTO %s(id, vec) VALUES (?, ?)",
               aTab[t].zName);
      sqlite3_prepare_v2(db, zSql, -1, &p, 0);
      sqlite3_bind_int(p, 1, i);
      sqlite3_bind_blob(p, 2, a, aTab[t].nDim*4, SQLITE_STATIC);
      if( sqlite3_step(p)!=SQLITE_DONE ) fzFail("%s", sqlite3_errmsg(db));
      sqlite3_finalize(p);
    }
    fzExec(db, "COMMIT");
    snprintf(zSql, sizeof(zSql), "SELECT v FROM %s_config WHERE k='ident'",
             aTab[t].zName);
    snprintf(aTab[t].zFile, sizeof(aTab[t].zFile), "-vectors-%s",
             fzText(db, zSql, &rc));
    if( rc ) fzFail("no ident: %s", sqlite3_errmsg(db));
  }
  sqlite3_close(db);
  aTmplDb = readFile(zDb, &nTmplDb);
  for(t=0; t<2; t++){
    snprintf(zPath, sizeof(zPath), "%s%s", zDb, aTab[t].zFile);
    aTab[t].aImg = readFile(zPath, &aTab[t].nImg);
    if( aTab[t].nImg!=FZ_HEADER + (size_t)aTab[t].nRow*aTab[t].nDim*4 ){
      fzFail("template side file of %s has %zu bytes", aTab[t].zName,
             aTab[t].nImg);
    }
  }
  fzClean();
}

static void freeTemplate(void){
  free(aTmplDb);
  free(aTab[0].aImg);
  free(aTab[1].aImg);
}

/* Write one seed: the mode byte, then n bytes of a. */
static void seed(const char *zDir, const char *zName, int mode,
                 const void *a, size_t n){
  char zPath[700];
  unsigned char *b = malloc(n+1);
  b[0] = (unsigned char)mode;
  memcpy(b+1, a, n);
  snprintf(zPath, sizeof(zPath), "%s/%s", zDir, zName);
  writeFile(zPath, b, n+1);
  free(b);
}

static void writeSeeds(const char *zDir){
  int t;
  for(t=0; t<2; t++){
    size_t n = aTab[t].nImg;
    unsigned char *a = malloc(n+8);
    char zName[64];
    float r;
    /* the intact image, with the placeholder identifier */
    memcpy(a, aTab[t].aImg, n);
    memcpy(a+24, FZ_IDENT_PLACEHOLDER, 16);
    snprintf(zName, sizeof(zName), "%s-intact", aTab[t].zName);
    seed(zDir, zName, t, a, n);
    /* truncated in the middle of the last slot, and the header only */
    snprintf(zName, sizeof(zName), "%s-truncated", aTab[t].zName);
    seed(zDir, zName, t, a, n-6);
    snprintf(zName, sizeof(zName), "%s-header-only", aTab[t].zName);
    seed(zDir, zName, t, a, FZ_HEADER);
    /* a NaN in slot 1, an infinity in slot 2 (offset writes) */
    r = NAN;
    a[0] = (FZ_HEADER + aTab[t].nDim*4) & 0xff;
    a[1] = (FZ_HEADER + aTab[t].nDim*4) >> 8;
    memcpy(a+2, &r, 4);
    snprintf(zName, sizeof(zName), "%s-nan", aTab[t].zName);
    seed(zDir, zName, t|2, a, 6);
    r = INFINITY;
    a[0] = (FZ_HEADER + 2*aTab[t].nDim*4 + 4) & 0xff;
    a[1] = (FZ_HEADER + 2*aTab[t].nDim*4 + 4) >> 8;
    memcpy(a+2, &r, 4);
    snprintf(zName, sizeof(zName), "%s-inf-wal", aTab[t].zName);
    seed(zDir, zName, t|2|8, a, 6);
    /* header fields: magic, version, header size, dim, identifier */
    a[0] = 0; memcpy(a+1, "VELESVEX", 8);
    snprintf(zName, sizeof(zName), "%s-magic", aTab[t].zName);
    seed(zDir, zName, t|4, a, 9);
    a[0] = 8; a[1] = 2;
    snprintf(zName, sizeof(zName), "%s-version", aTab[t].zName);
    seed(zDir, zName, t|4, a, 2);
    a[0] = 12; a[1] = 0; a[2] = 0x20;
    snprintf(zName, sizeof(zName), "%s-header-size", aTab[t].zName);
    seed(zDir, zName, t|4, a, 3);
    a[0] = 16; a[1] = 3;
    snprintf(zName, sizeof(zName), "%s-dim", aTab[t].zName);
    seed(zDir, zName, t|4, a, 2);
    a[0] = 20; a[1] = 1;
    snprintf(zName, sizeof(zName), "%s-reserved", aTab[t].zName);
    seed(zDir, zName, t|4, a, 2);
    a[0] = 30; a[1] = 'z';
    snprintf(zName, sizeof(zName), "%s-ident", aTab[t].zName);
    seed(zDir, zName, t|4, a, 2);
    /* shortened to 2 slots and extended by 64 bytes */
    a[0] = 0; a[1] = 0; a[2] = 0;
    a[3] = (FZ_HEADER + 2*aTab[t].nDim*4) & 0xff;
    a[4] = (FZ_HEADER + 2*aTab[t].nDim*4) >> 8;
    snprintf(zName, sizeof(zName), "%s-two-slots", aTab[t].zName);
    seed(zDir, zName, t|6, a+1, 4);
    a[3] = (n+40) & 0xff;
    a[4] = (n+40) >> 8;
    snprintf(zName, sizeof(zName), "%s-extended", aTab[t].zName);
    seed(zDir, zName, t|6, a+1, 4);
    free(a);
  }
}

int LLVMFuzzerInitialize(int *pArgc, char ***pArgv){
  const char *zSeeds = getenv("VELES_FUZZ_SEEDS");
  (void)pArgc; (void)pArgv;
  fzSetup();
  makeTemplate();
  atexit(freeTemplate);
  if( zSeeds ){
    writeSeeds(zSeeds);
    exit(0);
  }
  return 0;
}

/* The damaged side file of the input. */
typedef struct Dmg Dmg;
struct Dmg {
  int t;                  /* the damaged table */
  unsigned char *a;       /* its new image */
  size_t n;
  int bHeaderOk;          /* checked header fields intact */
  int bHealthy;           /* ... and every slot in the file, all finite */
};

static int slotInFile(const Dmg *d, int t, int iSlot){
  size_t n = t==d->t ? d->n : aTab[t].nImg;
  return FZ_HEADER + (size_t)(iSlot+1)*aTab[t].nDim*4 <= n;
}
static const unsigned char *slotBytes(const Dmg *d, int t, int iSlot){
  return (t==d->t ? d->a : aTab[t].aImg) + FZ_HEADER
         + (size_t)iSlot*aTab[t].nDim*4;
}

/* A vector read for id iId (slot iSlot) must be the slot's bytes. */
static void checkVec(const Dmg *d, int t, int iSlot, const void *pBlob,
                     int nBlob, const char *zWhat){
  if( !slotInFile(d, t, iSlot) ){
    fzFail("%s: table %s: slot %d is past the end of the side file (%zu "
           "bytes) but was read", zWhat, aTab[t].zName, iSlot, d->n);
  }
  if( nBlob!=aTab[t].nDim*4 || memcmp(pBlob, slotBytes(d, t, iSlot), nBlob) ){
    const unsigned char *x = pBlob, *y = slotBytes(d, t, iSlot);
    fzFail("%s: table %s: slot %d read back wrong (%d bytes %02x%02x%02x%02x"
           ", expected %02x%02x%02x%02x)", zWhat, aTab[t].zName, iSlot, nBlob,
           x[0], x[1], x[2], x[3], y[0], y[1], y[2], y[3]);
  }
}

/* Is table t expected to work fully? */
static int healthy(const Dmg *d, int t){ return t!=d->t || d->bHealthy; }

/* Read ids 1..nRow one by one and by a scan. */
static void readAll(sqlite3 *db, const Dmg *d, int t, int iSkip,
                    const char *zWhen){
  char zSql[100];
  sqlite3_stmt *p = 0;
  int i, rc;
  snprintf(zSql, sizeof(zSql), "SELECT vec FROM %s WHERE id = ?",
           aTab[t].zName);
  sqlite3_prepare_v2(db, zSql, -1, &p, 0);
  for(i=1; i<=aTab[t].nRow; i++){
    if( i==iSkip || i==2 ) continue;     /* rewritten / deleted */
    sqlite3_bind_int(p, 1, i);
    rc = sqlite3_step(p);
    if( rc==SQLITE_ROW ){
      checkVec(d, t, i-1, sqlite3_column_blob(p, 0),
               sqlite3_column_bytes(p, 0), zWhen);
    }else if( healthy(d, t) ){
      fzFail("%s: table %s: id %d: %s", zWhen, aTab[t].zName, i,
             rc==SQLITE_DONE ? "no row" : sqlite3_errmsg(db));
    }
    sqlite3_reset(p);
  }
  sqlite3_finalize(p);
  snprintf(zSql, sizeof(zSql), "SELECT id, vec FROM %s ORDER BY id",
           aTab[t].zName);
  sqlite3_prepare_v2(db, zSql, -1, &p, 0);
  while( (rc = sqlite3_step(p))==SQLITE_ROW ){
    int iId = sqlite3_column_int(p, 0);
    if( iId>=1 && iId<=aTab[t].nRow && iId!=iSkip ){
      checkVec(d, t, iId-1, sqlite3_column_blob(p, 1),
               sqlite3_column_bytes(p, 1), zWhen);
    }
  }
  if( rc!=SQLITE_DONE && healthy(d, t) ){
    fzFail("%s: scan of %s: %s", zWhen, aTab[t].zName, sqlite3_errmsg(db));
  }
  sqlite3_finalize(p);
}

static void checkTable(sqlite3 *db, const Dmg *d, int t, int bFirst,
                       const char *zWhen){
  char zSql[100];
  int rc;
  const char *z;
  snprintf(zSql, sizeof(zSql), "SELECT veles_check('%s')", aTab[t].zName);
  z = fzText(db, zSql, &rc);
  if( rc!=SQLITE_OK ) fzFail("%s: %s: %s", zWhen, zSql, z);
  if( healthy(d, t) && strcmp(z, "ok")!=0 ){
    fzFail("%s: %s on a healthy table: %s", zWhen, zSql, z);
  }
  if( t==d->t && !d->bHeaderOk && strcmp(z, "ok")==0 ){
    fzFail("%s: %s is 'ok' with a damaged header", zWhen, zSql);
  }
  if( bFirst && !healthy(d, t) && strcmp(z, "ok")==0 ){
    fzFail("%s: %s is 'ok' with a short file or a non-finite vector",
           zWhen, zSql);
  }
}

/* Run a write; when it succeeds, the written vector must read back. */
static void writeAndRead(sqlite3 *db, const Dmg *d, int t, const char *zSql,
                         int iId, const char *zWhen){
  float a[4];
  int j, rc;
  sqlite3_stmt *p = 0;
  char zRead[100];
  for(j=0; j<aTab[t].nDim; j++) a[j] = (float)(j+0.25)*(float)iId;
  sqlite3_prepare_v2(db, zSql, -1, &p, 0);
  sqlite3_bind_blob(p, 1, a, aTab[t].nDim*4, SQLITE_STATIC);
  sqlite3_bind_int(p, 2, iId);
  rc = sqlite3_step(p);
  sqlite3_finalize(p);
  if( rc!=SQLITE_DONE ){
    if( healthy(d, t) ){
      fzFail("%s: %s (id %d): %s", zWhen, zSql, iId, sqlite3_errmsg(db));
    }
    return;
  }
  snprintf(zRead, sizeof(zRead), "SELECT vec FROM %s WHERE id = %d",
           aTab[t].zName, iId);
  sqlite3_prepare_v2(db, zRead, -1, &p, 0);
  rc = sqlite3_step(p);
  if( rc==SQLITE_ROW ){
    if( sqlite3_column_bytes(p, 0)!=aTab[t].nDim*4
     || memcmp(sqlite3_column_blob(p, 0), a, aTab[t].nDim*4) ){
      fzFail("%s: %s: id %d reads back wrong", zWhen, aTab[t].zName, iId);
    }
  }else if( healthy(d, t) ){
    fzFail("%s: %s: %s", zWhen, zRead, sqlite3_errmsg(db));
  }
  sqlite3_finalize(p);
}

/* A search must not crash; on a healthy table it returns 3 rows. */
static void search(sqlite3 *db, const Dmg *d, int t){
  char zSql[120];
  sqlite3_stmt *p = 0;
  int rc, n = 0;
  snprintf(zSql, sizeof(zSql), "SELECT id, distance FROM %s WHERE vec MATCH "
           "'%s' AND k = 3", aTab[t].zName, t ? "[1, -1]" : "[1, -1, 2, 0]");
  if( sqlite3_prepare_v2(db, zSql, -1, &p, 0)!=SQLITE_OK ){
    fzFail("%s: %s", zSql, sqlite3_errmsg(db));
  }
  while( (rc = sqlite3_step(p))==SQLITE_ROW ) n++;
  if( healthy(d, t) && (rc!=SQLITE_DONE || n!=3) ){
    fzFail("%s: %d rows, %s", zSql, n, sqlite3_errmsg(db));
  }
  sqlite3_finalize(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *aData, size_t nData){
  char zDb[600], zSide[700], zSql[120];
  Dmg d;
  sqlite3 *db;
  int mode, how, t, i;
  size_t iOff = 0, nBody;
  const uint8_t *aBody;
  if( nData<1 ) return 0;
  memset(&d, 0, sizeof(d));
  mode = aData[0];
  d.t = mode&1;
  how = (mode>>1)&3;
  snprintf(zDb, sizeof(zDb), "%s/work.db", fzDir);
  writeFile(zDb, aTmplDb, nTmplDb);
  for(t=0; t<2; t++){
    snprintf(zSide, sizeof(zSide), "%s%s", zDb, aTab[t].zFile);
    writeFile(zSide, aTab[t].aImg, aTab[t].nImg);
  }

  /* damage the side file of table d.t */
  if( how==0 ){
    d.n = nData-1;
    d.a = malloc(d.n+1);
    memcpy(d.a, aData+1, d.n);
    /* the identifier is random per process: a placeholder stands for it */
    if( d.n>=40 && memcmp(d.a+24, FZ_IDENT_PLACEHOLDER, 16)==0 ){
      memcpy(d.a+24, aTab[d.t].aImg+24, 16);
    }
  }else{
    size_t nHdr = how==2 ? 2 : how==1 ? 3 : 5, nNew;
    if( nData<nHdr ) return 0;
    if( how==2 ) iOff = aData[1]%64;
    else iOff = (aData[1] | (aData[2]<<8)) % (aTab[d.t].nImg+64);
    aBody = aData+nHdr;
    nBody = nData-nHdr;
    nNew = iOff+nBody > aTab[d.t].nImg ? iOff+nBody : aTab[d.t].nImg;
    if( how==3 ){
      size_t nTrunc = (aData[3] | (aData[4]<<8)) % (aTab[d.t].nImg+64);
      d.a = calloc(1, (nNew>nTrunc ? nNew : nTrunc)+1);
      memcpy(d.a, aTab[d.t].aImg, aTab[d.t].nImg);
      memcpy(d.a+iOff, aBody, nBody);
      d.n = nTrunc;   /* what lies past nTrunc is cut off; extension: 0s */
    }else{
      d.a = calloc(1, nNew+1);
      memcpy(d.a, aTab[d.t].aImg, aTab[d.t].nImg);
      memcpy(d.a+iOff, aBody, nBody);
      d.n = nNew;
    }
  }
  snprintf(zSide, sizeof(zSide), "%s%s", zDb, aTab[d.t].zFile);
  writeFile(zSide, d.a, d.n);
  {
    /* version 2: the binding (write count, commit, floor, ring, checksum)
    ** is checked too: of its two copies (at 40 and 2064), the one written
    ** last counts, bytes c .. c + 40 + 16 * ring entries (the boot mark
    ** at c + 32, the ring from c + 40) */
    const unsigned char *h = aTab[d.t].aImg;
    size_t c = 40, nBind;
    if( h[2064+24]!=0 && (h[40+24]==0 || h[2064]>h[40]) ){
      c = 2064;      /* write counts are small: the low byte orders them */
    }
    nBind = 40 + 16*(size_t)(h[c+24] | (h[c+25]<<8));
    d.bHeaderOk = d.n>=c+nBind && memcmp(d.a, h, 20)==0
               && memcmp(d.a+24, h+24, 16)==0
               && memcmp(d.a+c, h+c, nBind)==0;
  }
  d.bHealthy = d.bHeaderOk;
  for(i=0; i<aTab[d.t].nRow && d.bHealthy; i++){
    int j;
    if( !slotInFile(&d, d.t, i) ){ d.bHealthy = 0; break; }
    for(j=0; j<aTab[d.t].nDim; j++){
      float r;
      memcpy(&r, slotBytes(&d, d.t, i) + j*4, 4);
      if( !isfinite(r) ) d.bHealthy = 0;
    }
  }

  db = openDb(zDb);
  if( mode&8 ) sqlite3_exec(db, "PRAGMA journal_mode=WAL", 0, 0, 0);
  for(t=0; t<2; t++){
    readAll(db, &d, t, 0, "first read");
    checkTable(db, &d, t, 1, "first check");
    search(db, &d, t);
    snprintf(zSql, sizeof(zSql), "INSERT INTO %s(vec, id) VALUES (?, ?)",
             aTab[t].zName);
    writeAndRead(db, &d, t, zSql, 100, "insert");
    snprintf(zSql, sizeof(zSql), "UPDATE %s SET vec = ? WHERE id = ?",
             aTab[t].zName);
    writeAndRead(db, &d, t, zSql, 1, "update");
    snprintf(zSql, sizeof(zSql), "DELETE FROM %s WHERE id = 2",
             aTab[t].zName);
    if( sqlite3_exec(db, zSql, 0, 0, 0)!=SQLITE_OK && healthy(&d, t) ){
      fzFail("%s: %s", zSql, sqlite3_errmsg(db));
    }
    readAll(db, &d, t, 1, "read after writes");
    checkTable(db, &d, t, 0, "check after writes");
  }
  sqlite3_close(db);
  db = openDb(zDb);
  for(t=0; t<2; t++) readAll(db, &d, t, 1, "read after reopening");
  if( sqlite3_close(db)!=SQLITE_OK ) fzFail("sqlite3_close failed");
  free(d.a);
  fzClean();
  return 0;
}
