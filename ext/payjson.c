/*
** The JSON side of the `payloads` virtual table: the declared fields and
** every look at a payload's text. This is the only file that includes
** cJSON. It knows nothing of virtual tables or shadow tables.
**
** FIELDS. Each CREATE argument of a payloads table declares a field as
** `name TYPE` (vsFieldParse). The name is an SQL identifier, bare or
** quoted; dots in it make a path through nested objects ("author.name"
** is author -> name). TYPE is TEXT, INTEGER, REAL or BOOLEAN. An argument
** `INDEX(f1, f2, ...)` declares a composite index on two or more of the
** fields instead (vsFieldIndexParse).
**
** JSON GRAMMAR. vsJsonNumberLength() and vsJsonIsSpace() are the RFC 8259
** number and white space, shared with vecvalue.c's vector parser.
**
** HOW IT WORKS
**
** A payload is checked twice (vsJsonParse): jsonScan(), a strict byte
** scan for what cJSON leaves out (control characters, \u escapes without
** 4 hex digits, numbers outside the JSON grammar, stray bytes, nesting
** beyond 1000 levels; it also notes a \u0000 escape), and cJSON's
** parser, which checks the structure and builds the tree the fields are
** read from. The earlier finding of
** the two is reported, with its byte offset: "payloads: invalid JSON at
** byte N: ...".
**
** cJSON allocates with malloc(), so it returns NULL both for invalid text
** and when memory runs out. After a clean scan a NULL is checked once
** more by jsonWellFormed(), a structural check that allocates nothing and
** refuses at least what cJSON refuses: if it finds the text well formed,
** the NULL meant out of memory (SQLITE_NOMEM), not invalid JSON.
**
** cJSON's parser writes a process-global error pointer on every call
** (cJSON_GetErrorPtr, which veles never reads). Connections in different
** threads may store payloads at the same time, so every parse holds one
** process-wide mutex (jsonMutex). cJSON_InitHooks is never called: it
** would change the host process's allocator for every user of cJSON.
**
** FIELD VALUES (vsJsonExtract). Absent or JSON null gives SQL NULL; a
** value of another JSON type than the field's refuses the write. Keys are
** compared on their whole decoded bytes, so "n\u0000" is not n; where
** an object repeats a key the first one wins, as in json_extract. cJSON
** decodes "\u0000" into a NUL that ends its string, so keys are looked
** up in cJSON's tree only when the text holds no "\u0000" escape, and
** otherwise located in the text (jsonLocate) and taken from the tree by
** position. A TEXT field never holds a NUL character: a string with
** "\u0000" in a TEXT field refuses the write, since SQLite's functions
** disagree on such text (json_extract in 3.40 stops at the NUL, 3.5x
** does not) and `WHERE field = ...` must find what json_extract finds.
** INTEGER fields are exact to 64 bits: from 2^52 on the number is read
** again from its digits (jsonExactInteger), not through a double.
*/
#include "veles_int.h"
#include <cjson/cJSON.h>
#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

/* Deepest JSON nesting accepted (cJSON's own limit). */
#define JSON_MAX_DEPTH CJSON_NESTING_LIMIT

/* Longest number cJSON 1.7.15 reads: it copies a number into a 64-byte
** buffer, and a longer one makes its parse fail. */
#define JSON_MAX_NUMBER 63

/* Held around every cJSON parse: cJSON writes a global on each one. */
static pthread_mutex_t jsonMutex = PTHREAD_MUTEX_INITIALIZER;

/*
** A witness of the race jsonMutex prevents, for ThreadSanitizer builds
** only. cJSON writes its global error pointer on every parse, but
** Debian's libcjson is not instrumented, so TSan cannot see those writes
** and would stay silent if the mutex were missing. jsonWitness stands for
** that global: it is read and written where cJSON writes its own, inside
** the locked region, so a parse without the lock is a race TSan reports
** (test_concurrency's threads.x in the TSan stage of scripts/test.sh).
** GCC defines __SANITIZE_THREAD__ under -fsanitize=thread, clang answers
** __has_feature(thread_sanitizer); other builds compile nothing.
*/
#if defined(__SANITIZE_THREAD__)
# define JSON_TSAN 1
#elif defined(__has_feature)
# if __has_feature(thread_sanitizer)
#  define JSON_TSAN 1
# endif
#endif
#ifdef JSON_TSAN
static volatile unsigned int jsonWitness;    /* parses run, as cJSON's global */
# define JSON_WITNESS() (jsonWitness = jsonWitness + 1)
#else
# define JSON_WITNESS() ((void)0)
#endif

/* ---- declared fields ------------------------------------------------- */

const char *vsFieldTypeName(int eType){
  switch( eType ){
    case VS_FIELD_TEXT:    return "TEXT";
    case VS_FIELD_INTEGER: return "INTEGER";
    case VS_FIELD_REAL:    return "REAL";
    default:         return "BOOLEAN";
  }
}


void vsFieldFree(VsField *aField, int nField){
  int i;
  for(i=0; i<nField; i++){
    sqlite3_free(aField[i].zName);
    sqlite3_free(aField[i].azPath);   /* segments share the allocation */
  }
  sqlite3_free(aField);
}

static int isIdentStart(char c){
  return (c>='a' && c<='z') || (c>='A' && c<='Z') || c=='_'
      || (c & 0x80)!=0;
}
static int isIdentChar(char c){
  return isIdentStart(c) || (c>='0' && c<='9') || c=='$';
}
static int isSpace(char c){
  return c==' ' || c=='\t' || c=='\n' || c=='\r' || c=='\f' || c=='\v';
}

/*
** Read an identifier at z[*pi]: bare, "double", `back` or [bracket]
** quoted. Returns a new string (sqlite3_free it), 0 when malformed or
** out of memory (then *pbNoMem is set).
*/
static char *readIdent(const char *z, int *pi, int *pbNoMem){
  int i = *pi, n = 0;
  char *zOut;
  if( z[i]=='"' || z[i]=='`' || z[i]=='[' ){
    char cEnd = z[i]=='[' ? ']' : z[i];
    int j;
    zOut = sqlite3_malloc64(strlen(z)+1);
    if( zOut==0 ){ *pbNoMem = 1; return 0; }
    for(j=i+1; z[j]; j++){
      if( z[j]==cEnd ){
        if( cEnd!=']' && z[j+1]==cEnd ){ zOut[n++] = cEnd; j++; continue; }
        break;
      }
      zOut[n++] = z[j];
    }
    if( z[j]!=cEnd || n==0 ){
      sqlite3_free(zOut);
      return 0;
    }
    zOut[n] = 0;
    *pi = j+1;
    return zOut;
  }
  if( !isIdentStart(z[i]) ) return 0;
  while( isIdentChar(z[i+n]) ) n++;
  zOut = sqlite3_mprintf("%.*s", n, &z[i]);
  if( zOut==0 ) *pbNoMem = 1;
  *pi = i+n;
  return zOut;
}

/* Split pF->zName on '.' into pF->azPath. */
static int splitPath(VsField *pF, char **pzErr){
  int n = 1, i, nName = (int)strlen(pF->zName);
  char *zCopy;
  for(i=0; i<nName; i++) if( pF->zName[i]=='.' ) n++;
  pF->azPath = sqlite3_malloc64(sizeof(char*)*(u64)n + (u64)nName + 1);
  if( pF->azPath==0 ) return SQLITE_NOMEM;
  zCopy = (char*)&pF->azPath[n];
  memcpy(zCopy, pF->zName, (size_t)nName+1);
  pF->nPath = 0;
  pF->azPath[pF->nPath++] = zCopy;
  for(i=0; i<nName; i++){
    if( zCopy[i]=='.' ){
      zCopy[i] = 0;
      pF->azPath[pF->nPath++] = &zCopy[i+1];
    }
  }
  for(i=0; i<pF->nPath; i++){
    if( pF->azPath[i][0]==0 ){
      *pzErr = sqlite3_mprintf("payloads: malformed field path: '%s' "
          "(an empty key between dots)", pF->zName);
      return SQLITE_ERROR;
    }
  }
  return SQLITE_OK;
}

/* Where the field list of an index declaration "INDEX ( ..." starts (just
** after the parenthesis), or 0 when zArg declares a field. A field may be
** called index: "index TEXT" has no parenthesis. */
static const char *indexList(const char *zArg){
  int k = 0;
  while( isSpace(zArg[k]) ) k++;
  if( sqlite3_strnicmp(&zArg[k], "INDEX", 5)!=0 || isIdentChar(zArg[k+5]) ){
    return 0;
  }
  k += 5;
  while( isSpace(zArg[k]) ) k++;
  return zArg[k]=='(' ? &zArg[k+1] : 0;
}

int vsFieldParse(int argc, const char *const*argv,
                       VsField **paField, int *pnField, char **pzErr){
  int nField = 0, i, j, rc = SQLITE_OK;
  VsField *aField;
  *paField = 0;
  *pnField = 0;
  for(i=3; i<argc; i++) if( indexList(argv[i])==0 ) nField++;
  if( nField<=0 ) return SQLITE_OK;
  if( nField>VS_MAX_FIELD ){
    *pzErr = sqlite3_mprintf("payloads: too many fields: at most %d, got %d",
                             VS_MAX_FIELD, nField);
    return SQLITE_ERROR;
  }
  aField = sqlite3_malloc64(sizeof(VsField)*(u64)nField);
  if( aField==0 ) return SQLITE_NOMEM;
  memset(aField, 0, sizeof(VsField)*(u64)nField);
  for(i=0, j=3; rc==SQLITE_OK && i<nField; i++, j++){
    const char *zArg;
    VsField *pF = &aField[i];
    char *zType = 0;
    int k = 0, bNoMem = 0;
    while( indexList(argv[j]) ) j++;     /* vsFieldIndexParse's */
    zArg = argv[j];
    while( isSpace(zArg[k]) ) k++;
    pF->zName = readIdent(zArg, &k, &bNoMem);
    if( pF->zName ){
      int k0;
      while( isSpace(zArg[k]) ) k++;
      k0 = k;
      while( isIdentChar(zArg[k]) ) k++;
      if( k>k0 ){
        zType = sqlite3_mprintf("%.*s", k-k0, &zArg[k0]);
        if( zType==0 ) bNoMem = 1;
      }
      while( isSpace(zArg[k]) ) k++;
    }
    if( bNoMem ){
      rc = SQLITE_NOMEM;
    }else if( pF->zName==0 || zType==0 || zArg[k]!=0 ){
      *pzErr = sqlite3_mprintf("payloads: malformed field declaration: "
          "expected 'name TYPE', got '%s'", zArg);
      rc = SQLITE_ERROR;
    }else if( sqlite3_stricmp(zType, "TEXT")==0 ){
      pF->eType = VS_FIELD_TEXT;
    }else if( sqlite3_stricmp(zType, "INTEGER")==0 ){
      pF->eType = VS_FIELD_INTEGER;
    }else if( sqlite3_stricmp(zType, "REAL")==0 ){
      pF->eType = VS_FIELD_REAL;
    }else if( sqlite3_stricmp(zType, "BOOLEAN")==0 ){
      pF->eType = VS_FIELD_BOOLEAN;
    }else{
      *pzErr = sqlite3_mprintf("payloads: unknown type of field %s: expected "
          "TEXT, INTEGER, REAL or BOOLEAN, got '%s'", pF->zName, zType);
      rc = SQLITE_ERROR;
    }
    sqlite3_free(zType);
    if( rc==SQLITE_OK ){
      if( sqlite3_stricmp(pF->zName, "id")==0
       || sqlite3_stricmp(pF->zName, "json")==0
       || sqlite3_stricmp(pF->zName, "rowid")==0 ){
        *pzErr = sqlite3_mprintf("payloads: reserved field name: %s",
                                 pF->zName);
        rc = SQLITE_ERROR;
      }
    }
    for(k=0; rc==SQLITE_OK && k<i; k++){
      if( sqlite3_stricmp(aField[k].zName, pF->zName)==0 ){
        *pzErr = sqlite3_mprintf("payloads: duplicate field: %s", pF->zName);
        rc = SQLITE_ERROR;
      }
    }
    if( rc==SQLITE_OK ) rc = splitPath(pF, pzErr);
  }
  if( rc ){
    vsFieldFree(aField, nField);
    return rc;
  }
  *paField = aField;
  *pnField = nField;
  return SQLITE_OK;
}

/* Read the list of index declaration zArg (z: after its parenthesis)
** into *pI. */
static int readIndex(const char *zArg, const char *z, const VsField *aField,
                     int nField, VsFieldIndex *pI, char **pzErr){
  int k = 0, i, j, bNoMem = 0;
  memset(pI, 0, sizeof(*pI));
  for(;;){
    char *zName;
    while( isSpace(z[k]) ) k++;
    zName = readIdent(z, &k, &bNoMem);
    if( bNoMem ) return SQLITE_NOMEM;
    if( zName==0 ) break;                       /* malformed */
    char *zErr = 0;
    for(i=0; i<nField && sqlite3_stricmp(aField[i].zName, zName); i++){}
    if( i==nField ){
      zErr = sqlite3_mprintf("payloads: index on an undeclared field %s: "
          "expected declared fields, got '%s'", zName, zArg);
    }
    for(j=0; i<nField && j<pI->nCol; j++){
      if( pI->aCol[j]==i ){
        zErr = sqlite3_mprintf("payloads: field %s twice in one index: "
                               "got '%s'", zName, zArg);
        break;
      }
    }
    sqlite3_free(zName);
    if( i==nField || j<pI->nCol ){
      *pzErr = zErr;
      return zErr ? SQLITE_ERROR : SQLITE_NOMEM;
    }
    assert( pI->nCol<nField );
    pI->aCol[pI->nCol++] = i;
    while( isSpace(z[k]) ) k++;
    if( z[k]==',' ){ k++; continue; }
    if( z[k]!=')' ) break;                      /* malformed */
    for(k++; isSpace(z[k]); k++){}
    if( z[k] ) break;                           /* malformed */
    if( pI->nCol<2 ){
      *pzErr = sqlite3_mprintf("payloads: index on one field: every field "
          "has its own index already; list two or more, got '%s'", zArg);
      return SQLITE_ERROR;
    }
    return SQLITE_OK;
  }
  *pzErr = sqlite3_mprintf("payloads: malformed index declaration: expected "
      "'INDEX(field, field, ...)', got '%s'", zArg);
  return SQLITE_ERROR;
}

int vsFieldIndexParse(int argc, const char *const*argv, const VsField *aField,
                      int nField, VsFieldIndex **paIndex, int *pnIndex,
                      char **pzErr){
  VsFieldIndex *aIndex = 0;
  int nIndex = 0, i, j, rc = SQLITE_OK;
  *paIndex = 0;
  *pnIndex = 0;
  for(i=3; i<argc; i++) if( indexList(argv[i]) ) nIndex++;
  if( nIndex==0 ) return SQLITE_OK;
  if( nIndex>VS_MAX_INDEX ){
    *pzErr = sqlite3_mprintf("payloads: too many indexes: at most %d, got %d",
                             VS_MAX_INDEX, nIndex);
    return SQLITE_ERROR;
  }
  aIndex = sqlite3_malloc64(sizeof(VsFieldIndex)*(u64)nIndex);
  if( aIndex==0 ) return SQLITE_NOMEM;
  for(i=3, nIndex=0; rc==SQLITE_OK && i<argc; i++){
    const char *z = indexList(argv[i]);
    if( z==0 ) continue;
    rc = readIndex(argv[i], z, aField, nField, &aIndex[nIndex], pzErr);
    for(j=0; rc==SQLITE_OK && j<nIndex; j++){
      if( aIndex[j].nCol==aIndex[nIndex].nCol
       && memcmp(aIndex[j].aCol, aIndex[nIndex].aCol,
                 sizeof(int)*(size_t)aIndex[j].nCol)==0 ){
        *pzErr = sqlite3_mprintf("payloads: duplicate index: '%s'", argv[i]);
        rc = SQLITE_ERROR;
      }
    }
    nIndex++;
  }
  if( rc ){
    sqlite3_free(aIndex);
    return rc;
  }
  *paIndex = aIndex;
  *pnIndex = nIndex;
  return SQLITE_OK;
}

/* ---- JSON grammar (shared with vecvalue.c) ------------------------- */

int vsJsonNumberLength(const char *z){
  int i = 0;
  if( z[i]=='-' ) i++;
  if( z[i]=='0' ){
    i++;
  }else if( z[i]>='1' && z[i]<='9' ){
    while( z[i]>='0' && z[i]<='9' ) i++;
  }else{
    return 0;
  }
  if( z[i]=='.' ){
    i++;
    if( z[i]<'0' || z[i]>'9' ) return 0;
    while( z[i]>='0' && z[i]<='9' ) i++;
  }
  if( z[i]=='e' || z[i]=='E' ){
    i++;
    if( z[i]=='+' || z[i]=='-' ) i++;
    if( z[i]<'0' || z[i]>'9' ) return 0;
    while( z[i]>='0' && z[i]<='9' ) i++;
  }
  return i;
}

int vsJsonIsSpace(char c){
  return c==' ' || c=='\t' || c=='\n' || c=='\r';
}

/* ---- validation ---------------------------------------------------- */

static int isNumberChar(char c){
  return (c>='0' && c<='9') || c=='-' || c=='+' || c=='.' || c=='e'
      || c=='E';
}

/* The value of the 4 hex digits at z, or -1 (stops at z's terminator). */
static int jsonHex4(const char *z){
  int u = 0, k;
  for(k=0; k<4; k++){
    char h = z[k];
    if( h>='0' && h<='9' ) u = u*16 + (h-'0');
    else if( h>='a' && h<='f' ) u = u*16 + (h-'a'+10);
    else if( h>='A' && h<='F' ) u = u*16 + (h-'A'+10);
    else return -1;
  }
  return u;
}

/*
** The strict checks cJSON leaves out: control characters (inside strings
** or between tokens), a \u escape without 4 hex digits (cJSON reads
** "\uzzzz" as U+0000), numbers outside the JSON grammar (+1, .5, 01, 1.),
** bytes that cannot start a token (such as a byte order mark) and nesting
** beyond JSON_MAX_DEPTH. Returns the offset of the first problem, or -1,
** and a short reason in *pzWhy. *pbNul is set when a string holds the
** escape \u0000 (a NUL that declared fields must see, vsJsonExtract).
*/
static int jsonScan(const char *z, int n, const char **pzWhy, int *pbNul){
  /* What a byte between tokens is: 0 nothing to check (white space,
  ** punctuation, the letters of true/false/null), 1 '"', 2 '{' or '[',
  ** 3 '}' or ']', 4 may start a number, 5 control, 6 >= 0x80. A byte
  ** inside a string needs a look when aStr[] is set: '"', '\\', control. */
  static const unsigned char aTok[256] = {
    5,5,5,5,5,5,5,5,5,0,0,5,5,0,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,
    0,0,1,0,0,0,0,0,0,0,0,4,0,4,4,0,4,4,4,4,4,4,4,4,4,4,0,0,0,0,0,0,
    0,0,0,0,0,4,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2,0,3,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2,0,3,0,0,
    6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,
    6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,
    6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,
    6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,
  };
  static const unsigned char aStr[256] = {
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  };
  int i = 0, nDepth = 0;
  while( i<n ){
    unsigned char c = (unsigned char)z[i];
    switch( aTok[c] ){
      case 0:
        i++;
        break;
      case 1:
        for(i++; i<n; i++){
          unsigned char d = (unsigned char)z[i];
          if( !aStr[d] ) continue;
          if( d=='"' ) break;
          if( d<0x20 ){
            *pzWhy = "control character in a string";
            return i;
          }
          /* a backslash: skip what it escapes, once \u has its digits
          ** (z[n]==0 stops jsonHex4 at the end) */
          if( i+1<n && z[i+1]=='u' ){
            int u = jsonHex4(&z[i+2]);
            if( u<0 ){
              *pzWhy = "malformed \\u escape";
              return i;
            }
            if( u==0 ) *pbNul = 1;
          }
          if( i+1<n ) i++;
        }
        i++;
        break;
      case 2:
        if( ++nDepth>JSON_MAX_DEPTH ){
          *pzWhy = "nested deeper than 1000 levels";
          return i;
        }
        i++;
        break;
      case 3:
        nDepth--;
        i++;
        break;
      case 4: {
        int nRun = 0, nNum = vsJsonNumberLength(&z[i]);
        while( i+nRun<n && isNumberChar(z[i+nRun]) ) nRun++;
        if( nNum!=nRun ){
          *pzWhy = "malformed number";
          return i;
        }
        i += nRun;
        break;
      }
      case 5:
        *pzWhy = "control character";
        return i;
      default:
        *pzWhy = "unexpected byte";
        return i;
    }
  }
  return -1;
}

/* "payloads: invalid JSON at byte N: <why>" with an excerpt of z. */
static char *jsonErrorMessage(const char *z, int n, int iOff,
                              const char *zWhy){
  sqlite3_str *pStr = sqlite3_str_new(0);
  int i, nShow = 0;
  sqlite3_str_appendf(pStr, "payloads: invalid JSON at byte %d: ", iOff);
  if( iOff>=n ){
    sqlite3_str_appendall(pStr, zWhy ? zWhy : "unexpected end of text");
    return sqlite3_str_finish(pStr);
  }
  if( zWhy ) sqlite3_str_appendf(pStr, "%s ", zWhy);
  sqlite3_str_appendall(pStr, "near '");
  for(i=iOff; i<n; i++){
    unsigned char c = (unsigned char)z[i];
    if( nShow>=16 && (c & 0xc0)!=0x80 ){   /* stop on a character edge */
      sqlite3_str_appendall(pStr, "...");
      break;
    }
    if( c<0x20 ){
      sqlite3_str_appendf(pStr, "\\x%02x", c);
    }else{
      sqlite3_str_appendchar(pStr, 1, (char)c);
    }
    nShow++;
  }
  sqlite3_str_appendall(pStr, "'");
  return sqlite3_str_finish(pStr);
}

/*
** The end of the string literal at z[i] (its opening quote), just past
** the closing quote, or -1 when cJSON would refuse it: an escape other
** than \" \\ \/ \b \f \n \r \t \uXXXX, a low surrogate alone, a high
** surrogate not followed by a low one, a control character, no end.
** z[n]==0.
*/
static int jsonStringEnd(const char *z, int n, int i){
  for(i++; i<n; i++){
    unsigned char c = (unsigned char)z[i];
    int u;
    if( c=='"' ) return i+1;
    if( c<0x20 ) return -1;
    if( c!='\\' ) continue;
    c = (unsigned char)z[++i];
    if( c=='"' || c=='\\' || c=='/' || c=='b' || c=='f' || c=='n'
     || c=='r' || c=='t' ){
      continue;
    }
    if( c!='u' || (u = jsonHex4(&z[i+1]))<0 ) return -1;
    i += 4;
    if( u>=0xdc00 && u<0xe000 ) return -1;
    if( u>=0xd800 && u<0xdc00 ){
      if( z[i+1]!='\\' || z[i+2]!='u' ) return -1;
      u = jsonHex4(&z[i+3]);
      if( u<0xdc00 || u>=0xe000 ) return -1;
      i += 6;
    }
  }
  return -1;
}

/*
** 1 when z[0..n), which passed jsonScan(), is one well formed JSON value,
** refusing at least everything cJSON refuses (numbers of more than
** JSON_MAX_NUMBER characters included). Allocates nothing: it tells out
** of memory from invalid text after cJSON returned NULL.
*/
static int jsonWellFormed(const char *z, int n){
  char aOpen[JSON_MAX_DEPTH+1];   /* '{' or '[' for each open level */
  int nDepth = 0, i = 0;
  for(;;){
    /* a value at i */
    while( i<n && vsJsonIsSpace(z[i]) ) i++;
    if( i>=n ) return 0;
    if( z[i]=='{' || z[i]=='[' ){
      if( nDepth>=JSON_MAX_DEPTH ) return 0;
      aOpen[nDepth++] = z[i++];
      while( i<n && vsJsonIsSpace(z[i]) ) i++;
      if( i<n && z[i]==(aOpen[nDepth-1]=='{' ? '}' : ']') ){
        nDepth--;
        i++;
      }else{
        if( aOpen[nDepth-1]=='{' ){
          if( i>=n || z[i]!='"' || (i = jsonStringEnd(z, n, i))<0 ) return 0;
          while( i<n && vsJsonIsSpace(z[i]) ) i++;
          if( i>=n || z[i]!=':' ) return 0;
          i++;
        }
        continue;
      }
    }else if( z[i]=='"' ){
      if( (i = jsonStringEnd(z, n, i))<0 ) return 0;
    }else if( strncmp(&z[i], "true", 4)==0 || strncmp(&z[i], "null", 4)==0 ){
      i += 4;
    }else if( strncmp(&z[i], "false", 5)==0 ){
      i += 5;
    }else{
      int nNum = vsJsonNumberLength(&z[i]);
      if( nNum==0 || nNum>JSON_MAX_NUMBER ) return 0;
      i += nNum;
    }
    /* after a value: close containers, or a comma and the next value */
    for(;;){
      while( i<n && vsJsonIsSpace(z[i]) ) i++;
      if( nDepth==0 ) return i==n;
      if( i<n && z[i]==(aOpen[nDepth-1]=='{' ? '}' : ']') ){
        nDepth--;
        i++;
        continue;
      }
      if( i>=n || z[i]!=',' ) return 0;
      i++;
      if( aOpen[nDepth-1]=='{' ){
        while( i<n && vsJsonIsSpace(z[i]) ) i++;
        if( i>=n || z[i]!='"' || (i = jsonStringEnd(z, n, i))<0 ) return 0;
        while( i<n && vsJsonIsSpace(z[i]) ) i++;
        if( i>=n || z[i]!=':' ) return 0;
        i++;
      }
      break;
    }
  }
}

int vsJsonParse(const char *z, int n, VsJson *pJson, char **pzErr){
  const char *zEnd = 0;
  const char *zWhy = 0;
  int bNul = 0;
  int iScan = jsonScan(z, n, &zWhy, &bNul);
  int iParse = -1;
  cJSON *pRoot;
  assert( z[n]==0 );
  memset(pJson, 0, sizeof(*pJson));
  /* n+1: cJSON wants the terminator inside the buffer it checks */
  pthread_mutex_lock(&jsonMutex);
  JSON_WITNESS();                     /* cJSON clears its global here... */
  pRoot = cJSON_ParseWithLengthOpts(z, (size_t)n+1, &zEnd, 1);
  JSON_WITNESS();                     /* ...and sets it on a failure */
  pthread_mutex_unlock(&jsonMutex);
  if( pRoot==0 ){
    if( iScan<0 && jsonWellFormed(z, n) ) return SQLITE_NOMEM;
    iParse = zEnd ? (int)(zEnd - z) : 0;
  }else if( zEnd!=z+n ){
    iParse = (int)(zEnd - z);           /* stopped at a NUL inside z */
  }
  if( iScan<0 && iParse<0 ){
    pJson->z = z;
    pJson->bNul = bNul;
    pJson->pRoot = pRoot;
    return SQLITE_OK;
  }
  cJSON_Delete(pRoot);
  /* the earlier finding wins; the scan's, which names the problem, on a
  ** tie */
  if( iScan>=0 && (iParse<0 || iScan<=iParse) ){
    *pzErr = jsonErrorMessage(z, n, iScan, zWhy);
  }else{
    *pzErr = jsonErrorMessage(z, n, iParse>n ? n : iParse, 0);
  }
  return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
}

void vsJsonClear(VsJson *pJson){
  cJSON_Delete((cJSON*)pJson->pRoot);
  memset(pJson, 0, sizeof(*pJson));
}

/* ---- field extraction ------------------------------------------------ */

/* Skip the JSON value at z[i] (text known valid); returns its end. */
static int jsonSkip(const char *z, int i){
  int nDepth = 0;
  do{
    while( vsJsonIsSpace(z[i]) ) i++;
    if( z[i]=='"' ){
      for(i++; z[i]!='"'; i++){ if( z[i]=='\\' ) i++; }
      i++;
    }else if( z[i]=='{' || z[i]=='[' ){
      nDepth++;
      i++;
    }else if( z[i]=='}' || z[i]==']' ){
      nDepth--;
      i++;
    }else if( z[i]==',' || z[i]==':' ){
      i++;
    }else{
      while( z[i] && z[i]!=',' && z[i]!='}' && z[i]!=']'
          && !vsJsonIsSpace(z[i]) ) i++;
    }
  }while( nDepth>0 );
  return i;
}

/* Compare the JSON string literal at z[i] (opening quote) with zKey,
** decoding escapes, over the whole length of both (zKey holds no NUL;
** the literal may: "n\u0000" is not "n"). Returns 1 when equal. */
static int jsonKeyEquals(const char *z, int i, const char *zKey){
  int k = 0;
  for(i++; z[i]!='"'; i++){
    unsigned int c = (unsigned char)z[i];
    char aBuf[4];
    int nBuf = 0, m;
    if( c=='\\' ){
      i++;
      switch( z[i] ){
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
          c = (unsigned int)jsonHex4(&z[i+1]);    /* valid: 4 hex digits */
          i += 4;
          if( c>=0xd800 && c<0xdc00 && z[i+1]=='\\' && z[i+2]=='u' ){
            unsigned int c2 = (unsigned int)jsonHex4(&z[i+3]);
            if( c2>=0xdc00 && c2<0xe000 ){
              c = 0x10000 + ((c-0xd800)<<10) + (c2-0xdc00);
              i += 6;
            }
          }
          break;
        }
        default: c = (unsigned char)z[i]; break;
      }
      if( c<0x80 ){
        aBuf[nBuf++] = (char)c;
      }else if( c<0x800 ){
        aBuf[nBuf++] = (char)(0xc0 | (c>>6));
        aBuf[nBuf++] = (char)(0x80 | (c & 0x3f));
      }else if( c<0x10000 ){
        aBuf[nBuf++] = (char)(0xe0 | (c>>12));
        aBuf[nBuf++] = (char)(0x80 | ((c>>6) & 0x3f));
        aBuf[nBuf++] = (char)(0x80 | (c & 0x3f));
      }else{
        aBuf[nBuf++] = (char)(0xf0 | (c>>18));
        aBuf[nBuf++] = (char)(0x80 | ((c>>12) & 0x3f));
        aBuf[nBuf++] = (char)(0x80 | ((c>>6) & 0x3f));
        aBuf[nBuf++] = (char)(0x80 | (c & 0x3f));
      }
    }else{
      aBuf[nBuf++] = (char)c;
    }
    for(m=0; m<nBuf; m++){
      /* the key ends first: not equal (a decoded NUL is not its end) */
      if( zKey[k]==0 || zKey[k]!=aBuf[m] ) return 0;
      k++;
    }
  }
  return zKey[k]==0;
}

/*
** In the object at z[i] (after white space), the offset of the value of
** the first member named zKey (first key wins, as in json_extract), or
** -1, also when z[i] is not an object. *piMember gets the member's
** position. z is valid JSON.
*/
static int jsonMember(const char *z, int i, const char *zKey, int *piMember){
  int iMember = 0;
  while( vsJsonIsSpace(z[i]) ) i++;
  if( z[i]!='{' ) return -1;
  i++;
  for(;;){
    int iKey;
    while( vsJsonIsSpace(z[i]) || z[i]==',' ) i++;
    if( z[i]=='}' ) return -1;
    iKey = i;
    i = jsonSkip(z, i);
    while( z[i]!=':' ) i++;
    i++;
    while( vsJsonIsSpace(z[i]) ) i++;
    if( jsonKeyEquals(z, iKey, zKey) ){
      *piMember = iMember;
      return i;
    }
    i = jsonSkip(z, i);
    iMember++;
  }
}

/* Offset in z of the value the field's path names, or -1. */
static int jsonLocate(const char *z, const VsField *pF){
  int i = 0, s, iMember;
  for(s=0; s<pF->nPath && i>=0; s++){
    i = jsonMember(z, i, pF->azPath[s], &iMember);
  }
  return i;
}

/*
** The JSON number at z (valid grammar) as an exact 64-bit integer.
** Returns 0 and sets *piVal when its value is an integer in range, 1
** when it has a fractional part, 2 when it is outside the 64-bit range.
** Works on the digits, so 9007199254740993.0, 1.5e18 and
** 9223372036854775807 are read exactly.
*/
static int jsonExactInteger(const char *z, i64 *piVal){
  u64 u = 0;
  int bNeg = 0, bOver = 0, bAny = 0, bFrac = 0;
  int nZero = 0;          /* zeros seen but not yet multiplied in */
  i64 iExp = 0, iExp10 = 0;
  int i = 0;
  if( z[i]=='-' ){ bNeg = 1; i++; }
  for(; (z[i]>='0' && z[i]<='9') || (z[i]=='.' && !bFrac); i++){
    unsigned int dgt;
    if( z[i]=='.' ){ bFrac = 1; continue; }
    if( bFrac ) iExp--;
    dgt = (unsigned int)(z[i]-'0');
    if( dgt==0 ){ nZero++; continue; }
    /* a nonzero digit: u = u*10^(nZero+1) + dgt */
    for(nZero++; nZero>0 && !bOver; nZero--){
      if( u > 0xffffffffffffffffULL/10 ) bOver = 1; else u *= 10;
    }
    nZero = 0;
    if( !bOver && u > 0xffffffffffffffffULL - dgt ) bOver = 1;
    u += dgt;
    bAny = 1;
  }
  if( z[i]=='e' || z[i]=='E' ){
    int bNegExp = 0;
    i++;
    if( z[i]=='+' || z[i]=='-' ){ bNegExp = z[i]=='-'; i++; }
    for(; z[i]>='0' && z[i]<='9'; i++){
      if( iExp10<100000 ) iExp10 = iExp10*10 + (z[i]-'0');
    }
    iExp += bNegExp ? -iExp10 : iExp10;
  }
  if( !bAny ){ *piVal = 0; return 0; }
  iExp += nZero;          /* u has no trailing zeros: its last digit is not 0 */
  if( iExp<0 ) return 1;
  if( bOver || iExp>19 ) return 2;
  for(; iExp>0; iExp--){
    if( u > 0xffffffffffffffffULL/10 ) return 2;
    u *= 10;
  }
  if( bNeg ? u>(u64)VS_MAX_ID+1 : u>(u64)VS_MAX_ID ) return 2;
  *piVal = bNeg ? (i64)(0 - u) : (i64)u;
  return 0;
}

/*
** An INTEGER field's value. Below 2^52 in magnitude a double holds every
** integer and nothing between two of them rounds onto one, so the double
** cJSON read decides; from 2^52 on the number is read again from the
** text (digits beyond a double's precision are not looked at below 2^52).
*/
static int integerField(const char *z, const VsField *pF, const cJSON *pItem,
                        VsFieldValue *pV, char **pzErr){
  double d = pItem->valuedouble;
  int eKind = floor(d)==d ? 0 : 1;
  if( eKind==0 && !(fabs(d)<4503599627370496.0) ){
    int i = jsonLocate(z, pF);
    eKind = i<0 ? 2 : jsonExactInteger(&z[i], &pV->iVal);
  }else if( eKind==0 ){
    pV->iVal = (i64)d;
  }
  if( eKind==0 ){
    pV->eType = SQLITE_INTEGER;
    return SQLITE_OK;
  }
  if( eKind==1 ){
    *pzErr = sqlite3_mprintf("payloads: field %s: expected INTEGER, got "
                             "number %!.15g", pF->zName, d);
  }else{
    *pzErr = sqlite3_mprintf("payloads: field %s: expected INTEGER, got "
        "number outside the 64-bit range", pF->zName);
  }
  return SQLITE_ERROR;
}

static const char *jsonTypeName(const cJSON *pItem){
  if( cJSON_IsString(pItem) ) return "string";
  if( cJSON_IsNumber(pItem) ) return "number";
  if( cJSON_IsBool(pItem) ) return "boolean";
  if( cJSON_IsArray(pItem) ) return "array";
  return "object";
}

/*
** The item the field's path names in the tree, or 0. Without a "\u0000"
** in the text cJSON's keys are whole and its lookup (first key wins) is
** used; otherwise the member is located in the text, where keys compare
** over their whole length, and taken from the tree by position.
*/
static const cJSON *fieldItem(const VsJson *pJson, const VsField *pF,
                              int *piText){
  const cJSON *pItem = (const cJSON*)pJson->pRoot;
  int s;
  *piText = -1;
  if( !pJson->bNul ){
    for(s=0; s<pF->nPath && pItem; s++){
      pItem = cJSON_IsObject(pItem) ?
          cJSON_GetObjectItemCaseSensitive(pItem, pF->azPath[s]) : 0;
    }
  }else{
    int i = 0, iMember = 0;
    for(s=0; s<pF->nPath && pItem; s++){
      i = jsonMember(pJson->z, i, pF->azPath[s], &iMember);
      if( i<0 ) return 0;
      assert( cJSON_IsObject(pItem) );
      pItem = cJSON_GetArrayItem(pItem, iMember);
      assert( pItem!=0 );
    }
    *piText = i;
  }
  return pItem;
}

/* 1 when the string literal at z[i] holds a \u0000 escape. */
static int jsonStringHasNul(const char *z, int i){
  for(i++; z[i]!='"'; i++){
    if( z[i]=='\\' ){
      i++;
      if( z[i]=='u' && strncmp(&z[i+1], "0000", 4)==0 ) return 1;
    }
  }
  return 0;
}

int vsJsonExtract(const VsJson *pJson, const VsField *aField, int nField,
                  VsFieldValue *aVal, char **pzErr){
  const char *z = pJson->z;
  int i;
  assert( pJson->pRoot!=0 );
  for(i=0; i<nField; i++){
    const VsField *pF = &aField[i];
    int iText;
    const cJSON *pItem = fieldItem(pJson, pF, &iText);
    VsFieldValue *pV = &aVal[i];
    pV->eType = SQLITE_NULL;
    if( pItem==0 || cJSON_IsNull(pItem) ) continue;
    switch( pF->eType ){
      case VS_FIELD_TEXT:
        if( cJSON_IsString(pItem) ){
          if( pJson->bNul ){
            assert( iText>=0 && z[iText]=='"' );
            if( jsonStringHasNul(z, iText) ){
              *pzErr = sqlite3_mprintf("payloads: field %s: expected TEXT "
                  "without NUL characters, got a string holding \\u0000",
                  pF->zName);
              return SQLITE_ERROR;
            }
          }
          pV->eType = SQLITE_TEXT;
          pV->zVal = pItem->valuestring;
          pV->nVal = (int)strlen(pItem->valuestring);
          continue;
        }
        break;
      case VS_FIELD_INTEGER:
        if( cJSON_IsNumber(pItem) ){
          int rc = integerField(z, pF, pItem, pV, pzErr);
          if( rc ) return rc;
          continue;
        }
        break;
      case VS_FIELD_REAL:
        if( cJSON_IsNumber(pItem) ){
          pV->eType = SQLITE_FLOAT;
          pV->rVal = pItem->valuedouble;
          continue;
        }
        break;
      default:
        if( cJSON_IsBool(pItem) ){
          pV->eType = SQLITE_INTEGER;
          pV->iVal = cJSON_IsTrue(pItem) ? 1 : 0;
          continue;
        }
        break;
    }
    *pzErr = sqlite3_mprintf("payloads: field %s: expected %s, got %s",
        pF->zName, vsFieldTypeName(pF->eType), jsonTypeName(pItem));
    return SQLITE_ERROR;
  }
  return SQLITE_OK;
}
