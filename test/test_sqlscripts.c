/*
** The SQL scripts sql/tests/NN_name.sql on the system SQLite.
**
**   test_sqlscripts MODULE SCRATCH [NAME ...]
**
** Runs every script (or those named) on a fresh database SCRATCH/NAME.db
** with the extension loaded and compares what it prints with NAME.out.
** test/node/sqlscripts.test.js runs the same scripts, with the same rules,
** on better-sqlite3's newer SQLite; sql/tests/README.md states the rules:
**
**   - a statement ends at a line whose last non-blank character is ';'
**     (one statement per such chunk);
**   - a line "-- N.M title" outside a statement is a case label and is
**     printed; other comment lines and blank lines are not;
**   - ".reopen" closes the database and opens it again;
**   - each row prints its values joined by '|': NULL, integers in
**     decimal, reals as the shortest text that reads back the same double
**     (JavaScript's Number#toString, with ".0" added to integral values),
**     text as is, blobs as X'HEX';
**   - a failing statement prints "error: <sqlite3_errmsg()>" and no rows.
**
** With VELES_SQL_UPDATE=1 in the environment the .out files are written
** instead of compared (for writing a new script; read the result).
*/
#include <sqlite3.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

#ifndef VELES_SQL_TESTS_DIR
# error "VELES_SQL_TESTS_DIR must name the sql/tests directory"
#endif

static const char *zModule;     /* the loadable module's path */

/* Read a whole file into memory (sqlite3_free it), 0 if unreadable. */
static char *readFile(const char *zPath){
  FILE *f = fopen(zPath, "rb");
  long n;
  char *z;
  if( f==0 ) return 0;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  z = sqlite3_malloc64(n+1);
  if( z && fread(z, 1, n, f)!=(size_t)n ){ sqlite3_free(z); z = 0; }
  if( z ) z[n] = 0;
  fclose(f);
  return z;
}

/* Open (or reopen) the script's database with the extension loaded. */
static sqlite3 *openDb(const char *zDb){
  sqlite3 *db = 0;
  char *zErr = 0;
  if( sqlite3_open(zDb, &db)!=SQLITE_OK ){
    fprintf(stderr, "cannot open %s: %s\n", zDb, sqlite3_errmsg(db));
    exit(1);
  }
  sqlite3_enable_load_extension(db, 1);
  if( sqlite3_load_extension(db, zModule, 0, &zErr)!=SQLITE_OK ){
    fprintf(stderr, "cannot load %s: %s\n", zModule, zErr);
    exit(1);
  }
  return db;
}

/*
** Append a REAL as JavaScript's Number#toString prints it: the fewest
** significant digits that read back the same double, positional
** notation for decimal exponents -7 < e < 21, else d.ddde+N; then ".0"
** when the value is integral and positional.
*/
static void appendReal(sqlite3_str *pOut, double r){
  char zBuf[64], zDig[32];
  int p, nDig = 0, e, i;
  if( r==0.0 ){ sqlite3_str_appendall(pOut, "0.0"); return; }
  if( isnan(r) ){ sqlite3_str_appendall(pOut, "NaN"); return; }
  if( isinf(r) ){
    sqlite3_str_appendall(pOut, r<0 ? "-Infinity" : "Infinity");
    return;
  }
  if( r<0 ){ sqlite3_str_appendchar(pOut, 1, '-'); r = -r; }
  for(p=1; p<=17; p++){
    snprintf(zBuf, sizeof(zBuf), "%.*e", p-1, r);
    if( strtod(zBuf, 0)==r ) break;
  }
  /* zBuf is d.ddde[+-]XX: collect the digits, trim trailing zeros */
  for(i=0; zBuf[i] && zBuf[i]!='e'; i++){
    if( zBuf[i]!='.' ) zDig[nDig++] = zBuf[i];
  }
  e = atoi(&zBuf[i+1]);
  while( nDig>1 && zDig[nDig-1]=='0' ) nDig--;
  zDig[nDig] = 0;
  if( e>=21 || e<=-7 ){
    sqlite3_str_appendchar(pOut, 1, zDig[0]);
    if( nDig>1 ) sqlite3_str_appendf(pOut, ".%s", &zDig[1]);
    sqlite3_str_appendf(pOut, "e%c%d", e<0 ? '-' : '+', e<0 ? -e : e);
  }else if( e<0 ){
    sqlite3_str_appendall(pOut, "0.");
    sqlite3_str_appendchar(pOut, -e-1, '0');
    sqlite3_str_appendall(pOut, zDig);
  }else if( e+1>=nDig ){
    sqlite3_str_appendall(pOut, zDig);
    sqlite3_str_appendchar(pOut, e+1-nDig, '0');
    sqlite3_str_appendall(pOut, ".0");
  }else{
    sqlite3_str_append(pOut, zDig, e+1);
    sqlite3_str_appendf(pOut, ".%s", &zDig[e+1]);
  }
}

/* Run one statement, appending its rows (or its error) to pOut. */
static void runStatement(sqlite3 *db, const char *zSql, sqlite3_str *pOut,
                         const char *zWhere){
  sqlite3_stmt *pStmt = 0;
  const char *zTail = 0;
  sqlite3_str *pRows = sqlite3_str_new(db);
  int rc, i;
  rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, &zTail);
  if( rc==SQLITE_OK && zTail && zTail[strspn(zTail, " \t\r\n;")] ){
    fprintf(stderr, "%s: one statement per chunk, got more: %s\n",
            zWhere, zSql);
    exit(1);
  }
  while( rc==SQLITE_OK && pStmt ){
    if( (rc = sqlite3_step(pStmt))!=SQLITE_ROW ) break;
    rc = SQLITE_OK;
    for(i=0; i<sqlite3_column_count(pStmt); i++){
      if( i ) sqlite3_str_appendchar(pRows, 1, '|');
      switch( sqlite3_column_type(pStmt, i) ){
        case SQLITE_NULL:
          sqlite3_str_appendall(pRows, "NULL");
          break;
        case SQLITE_INTEGER:
          sqlite3_str_appendf(pRows, "%lld", sqlite3_column_int64(pStmt, i));
          break;
        case SQLITE_FLOAT:
          appendReal(pRows, sqlite3_column_double(pStmt, i));
          break;
        case SQLITE_TEXT:
          sqlite3_str_appendall(pRows,
                                (const char*)sqlite3_column_text(pStmt, i));
          break;
        default: {
          const unsigned char *a = sqlite3_column_blob(pStmt, i);
          int j, n = sqlite3_column_bytes(pStmt, i);
          sqlite3_str_appendall(pRows, "X'");
          for(j=0; j<n; j++) sqlite3_str_appendf(pRows, "%02X", a[j]);
          sqlite3_str_appendchar(pRows, 1, '\'');
          break;
        }
      }
    }
    sqlite3_str_appendchar(pRows, 1, '\n');
  }
  if( rc==SQLITE_OK || rc==SQLITE_DONE ){
    char *z = sqlite3_str_finish(pRows);
    if( z ) sqlite3_str_appendall(pOut, z);
    sqlite3_free(z);
  }else{
    sqlite3_free(sqlite3_str_finish(pRows));
    sqlite3_str_appendf(pOut, "error: %s\n", sqlite3_errmsg(db));
  }
  sqlite3_finalize(pStmt);
}

/* Is zLine (n bytes) a case label "-- N..."? */
static int isCaseLabel(const char *zLine, int n){
  return n>3 && strncmp(zLine, "-- ", 3)==0 && zLine[3]>='0' && zLine[3]<='9';
}

/* Run a script; returns what it printed (sqlite3_free it). */
static char *runScript(const char *zName, const char *zScript){
  char *zDb = sqlite3_mprintf("%s.db", zName);
  sqlite3 *db = openDb(zDb);
  sqlite3_str *pOut = sqlite3_str_new(0);
  sqlite3_str *pStmt = sqlite3_str_new(0);
  const char *z = zScript;
  int iLine = 0, iFirst = 0;
  while( *z ){
    const char *zEnd = strchr(z, '\n');
    int n = zEnd ? (int)(zEnd - z) : (int)strlen(z);
    int m = n, inStmt = sqlite3_str_length(pStmt)>0;
    iLine++;
    while( m>0 && (z[m-1]==' ' || z[m-1]=='\t' || z[m-1]=='\r') ) m--;
    if( !inStmt && m==0 ){
      /* blank line */
    }else if( !inStmt && strncmp(z, "--", 2)==0 ){
      if( isCaseLabel(z, m) ){
        sqlite3_str_append(pOut, z, m);
        sqlite3_str_appendchar(pOut, 1, '\n');
      }
    }else if( !inStmt && z[0]=='.' ){
      if( m==7 && strncmp(z, ".reopen", 7)==0 ){
        sqlite3_close(db);
        db = openDb(zDb);
      }else{
        fprintf(stderr, "%s.sql:%d: unknown command: %.*s\n",
                zName, iLine, m, z);
        exit(1);
      }
    }else{
      if( !inStmt ) iFirst = iLine;
      sqlite3_str_append(pStmt, z, n);
      sqlite3_str_appendchar(pStmt, 1, '\n');
      if( m>0 && z[m-1]==';' ){
        char *zSql = sqlite3_str_finish(pStmt);
        char *zWhere = sqlite3_mprintf("%s.sql:%d", zName, iFirst);
        runStatement(db, zSql, pOut, zWhere);
        sqlite3_free(zWhere);
        sqlite3_free(zSql);
        pStmt = sqlite3_str_new(0);
      }
    }
    z += n + (zEnd ? 1 : 0);
  }
  if( sqlite3_str_length(pStmt)>0 ){
    fprintf(stderr, "%s.sql: the last statement has no ';'\n", zName);
    exit(1);
  }
  sqlite3_free(sqlite3_str_finish(pStmt));
  sqlite3_close(db);
  sqlite3_free(zDb);
  return sqlite3_str_finish(pOut);
}

/* Print the first line where zWant and zGot differ. */
static void showDiff(const char *zName, const char *zWant, const char *zGot){
  int iLine = 1;
  while( *zWant && *zWant==*zGot ){
    if( *zWant=='\n' ) iLine++;
    zWant++; zGot++;
  }
  while( iLine>1 && zWant[-1]!='\n' ){ zWant--; zGot--; }
  printf("FAIL %s.out line %d:\n  expected: %.*s\n  got:      %.*s\n",
         zName, iLine, (int)strcspn(zWant, "\n"), zWant,
         (int)strcspn(zGot, "\n"), zGot);
}

static int isScript(const struct dirent *p){
  size_t n = strlen(p->d_name);
  return n>4 && strcmp(&p->d_name[n-4], ".sql")==0;
}

int main(int argc, char **argv){
  struct dirent **aEnt = 0;
  int nEnt, i, nPass = 0, nFail = 0;
  int bUpdate = getenv("VELES_SQL_UPDATE")!=0;
  tInit(argc, argv);             /* an empty SCRATCH is the current dir */
  zModule = tModulePath();
  printf("SQLite %s\n", sqlite3_libversion());
  nEnt = scandir(VELES_SQL_TESTS_DIR, &aEnt, isScript, alphasort);
  if( nEnt<=0 ){
    fprintf(stderr, "no scripts in %s\n", VELES_SQL_TESTS_DIR);
    return 1;
  }
  for(i=0; i<nEnt; i++){
    char zName[256];
    char *zPath, *zScript, *zWant, *zGot;
    int j, bSelected = argc==3;
    snprintf(zName, sizeof(zName), "%.*s",
             (int)strlen(aEnt[i]->d_name)-4, aEnt[i]->d_name);
    for(j=3; j<argc; j++) bSelected |= strcmp(argv[j], zName)==0;
    if( bSelected ){
      zPath = sqlite3_mprintf("%s/%s.sql", VELES_SQL_TESTS_DIR, zName);
      zScript = readFile(zPath);
      sqlite3_free(zPath);
      zGot = runScript(zName, zScript ? zScript : "");
      zPath = sqlite3_mprintf("%s/%s.out", VELES_SQL_TESTS_DIR, zName);
      if( bUpdate ){
        FILE *f = fopen(zPath, "wb");
        if( f ){ fputs(zGot ? zGot : "", f); fclose(f); }
        printf("wrote %s\n", zPath);
        nPass++;
      }else{
        zWant = readFile(zPath);
        if( zWant && strcmp(zWant, zGot ? zGot : "")==0 ){
          printf("ok %s\n", zName);
          nPass++;
        }else{
          if( zWant ) showDiff(zName, zWant, zGot ? zGot : "");
          else printf("FAIL %s: no %s\n", zName, zPath);
          nFail++;
        }
        sqlite3_free(zWant);
      }
      sqlite3_free(zPath);
      sqlite3_free(zGot);
      sqlite3_free(zScript);
    }
    free(aEnt[i]);
  }
  free(aEnt);
  printf("%d passed, %d failed\n", nPass, nFail);
  return nFail>0 || nPass==0;
}
