/*
** Vector values: turning what a user passes as `vec` (or a query vector)
** into an array of f32, and back into JSON text.
**
** Accepted forms:
**   BLOB  exactly 4*n bytes, little-endian IEEE-754 binary32, n >= 1
**   TEXT  a JSON array of numbers, e.g. '[0.1, -2, 3e-4]'
** Refused, with a message naming what was expected and what was given:
** NULL, integers, reals, blobs of a length that is not a multiple of 4,
** malformed JSON, non-numeric elements, NaN, +-Inf, values outside the
** f32 range, and a length other than the expected dimension.
**
** JSON numbers are checked against the JSON grammar (vsJsonNumberLength,
** in payjson.c) and converted
** with strtod(), which is correct in the "C" numeric locale that SQLite
** hosts run in.
*/
#include "veles_int.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *vsTypeName(int eType){
  switch( eType ){
    case SQLITE_INTEGER: return "an integer";
    case SQLITE_FLOAT:   return "a real";
    case SQLITE_TEXT:    return "text";
    case SQLITE_BLOB:    return "a blob";
    default:             return "NULL";
  }
}

/* Append x to the growing array *pa (capacity *pnAlloc). */
static int appendFloat(float **pa, int *pn, int *pnAlloc, float x){
  if( *pn>=*pnAlloc ){
    int nNew = *pnAlloc ? *pnAlloc*2 : 16;
    float *aNew = sqlite3_realloc64(*pa, sizeof(float)*(u64)nNew);
    if( aNew==0 ) return SQLITE_NOMEM;
    *pa = aNew;
    *pnAlloc = nNew;
  }
  (*pa)[(*pn)++] = x;
  return SQLITE_OK;
}

/* Parse JSON text z into *paOut and *pnOut. */
static int parseJson(const char *z, const char *zWho,
                     float **paOut, int *pnOut, char **pzErr){
  float *a = 0;
  int n = 0, nAlloc = 0, i = 0, rc = SQLITE_OK;
  while( vsJsonIsSpace(z[i]) ) i++;
  if( z[i]!='[' ){
    *pzErr = sqlite3_mprintf("%s: malformed vector JSON at offset %d: "
        "expected '[', got %s", zWho, i, z[i] ? "other text" : "end of text");
    return SQLITE_ERROR;
  }
  i++;
  while( vsJsonIsSpace(z[i]) ) i++;
  if( z[i]!=']' ){
    for(;;){
      int nNum;
      double d;
      char *zEnd = 0;
      char zNum[400];
      while( vsJsonIsSpace(z[i]) ) i++;
      nNum = vsJsonNumberLength(&z[i]);
      if( nNum==0 ){
        const char *zWhat = "other text";
        if( z[i]==0 ) zWhat = "end of text";
        else if( z[i]=='"' ) zWhat = "a string";
        else if( strncmp(&z[i], "null", 4)==0 ) zWhat = "null";
        else if( strncmp(&z[i], "true", 4)==0 || strncmp(&z[i], "false", 5)==0 ){
          zWhat = "a boolean";
        }
        else if( z[i]=='[' || z[i]=='{' ) zWhat = "a nested value";
        else if( strncmp(&z[i], "NaN", 3)==0 || strncmp(&z[i], "Infinity", 8)==0
              || strncmp(&z[i], "-Infinity", 9)==0 ){
          zWhat = "a non-finite number";
        }
        *pzErr = sqlite3_mprintf("%s: malformed vector JSON at offset %d: "
            "expected a number, got %s", zWho, i, zWhat);
        rc = SQLITE_ERROR;
        break;
      }
      if( nNum>=(int)sizeof(zNum) ){
        *pzErr = sqlite3_mprintf("%s: malformed vector JSON at offset %d: "
            "number too long", zWho, i);
        rc = SQLITE_ERROR;
        break;
      }
      memcpy(zNum, &z[i], (size_t)nNum);
      zNum[nNum] = 0;
      d = strtod(zNum, &zEnd);
      if( zEnd!=&zNum[nNum] ){
        *pzErr = sqlite3_mprintf("%s: malformed vector JSON at offset %d: "
            "number not readable", zWho, i);
        rc = SQLITE_ERROR;
        break;
      }
      /* beyond f32 is what does not round to a finite f32: the largest
      ** f32 printed to 8 digits (3.4028235e+38) is above FLT_MAX */
      if( !isfinite(d) || !isfinite((float)d) ){
        *pzErr = sqlite3_mprintf("%s: vector element %d out of f32 range: "
            "%.*s", zWho, n, nNum, &z[i]);
        rc = SQLITE_ERROR;
        break;
      }
      if( n>=VS_MAX_DIM ){
        *pzErr = sqlite3_mprintf("%s: vector too long: expected at most %d "
            "elements, got more", zWho, VS_MAX_DIM);
        rc = SQLITE_ERROR;
        break;
      }
      rc = appendFloat(&a, &n, &nAlloc, (float)d);
      if( rc ) break;
      i += nNum;
      while( vsJsonIsSpace(z[i]) ) i++;
      if( z[i]==',' ){ i++; continue; }
      if( z[i]==']' ) break;
      *pzErr = sqlite3_mprintf("%s: malformed vector JSON at offset %d: "
          "expected ',' or ']', got %s", zWho, i,
          z[i] ? "other text" : "end of text");
      rc = SQLITE_ERROR;
      break;
    }
  }
  if( rc==SQLITE_OK ){
    i++;
    while( vsJsonIsSpace(z[i]) ) i++;
    if( z[i] ){
      *pzErr = sqlite3_mprintf("%s: malformed vector JSON at offset %d: "
          "expected end of text after ']'", zWho, i);
      rc = SQLITE_ERROR;
    }else if( n==0 ){
      *pzErr = sqlite3_mprintf("%s: empty vector: expected at least 1 "
          "element, got []", zWho);
      rc = SQLITE_ERROR;
    }
  }
  if( rc ){
    sqlite3_free(a);
    return rc;
  }
  *paOut = a;
  *pnOut = n;
  return SQLITE_OK;
}

/* Check a blob of f32 in place: length, and no NaN or infinity. */
static int checkBlob(const unsigned char *p, int nByte, const char *zWho,
                     char **pzErr){
  int n, i;
  if( nByte==0 || (nByte % 4)!=0 ){
    *pzErr = sqlite3_mprintf("%s: vector blob length must be a positive "
        "multiple of 4 bytes (f32), got %d bytes", zWho, nByte);
    return SQLITE_ERROR;
  }
  n = nByte/4;
  if( n>VS_MAX_DIM ){
    *pzErr = sqlite3_mprintf("%s: vector too long: expected at most %d "
        "elements, got %d", zWho, VS_MAX_DIM, n);
    return SQLITE_ERROR;
  }
  {
    /* all exponent bits set means NaN or an infinity; a branch-free pass
    ** first, the element is found only for the message */
    uint32_t bBad = 0;
    for(i=0; i<n; i++){
      uint32_t u;
      memcpy(&u, &p[4*i], 4);
      bBad |= (u & 0x7f800000u)==0x7f800000u;
    }
    if( !bBad ) return SQLITE_OK;
  }
  for(i=0; i<n; i++){
    float x;
    memcpy(&x, &p[4*i], 4);
    if( !isfinite(x) ){
      *pzErr = sqlite3_mprintf("%s: vector element %d is %s: only finite "
          "numbers are stored", zWho, i,
          isnan(x) ? "NaN" : (x>0 ? "+Inf" : "-Inf"));
      return SQLITE_ERROR;
    }
  }
  return SQLITE_OK;
}

/* Copy a blob of f32 into *paOut, refusing NaN and infinities. */
static int parseBlob(const unsigned char *p, int nByte, const char *zWho,
                     float **paOut, int *pnOut, char **pzErr){
  float *a;
  int rc = checkBlob(p, nByte, zWho, pzErr);
  if( rc ) return rc;
  a = sqlite3_malloc64((u64)nByte);
  if( a==0 ) return SQLITE_NOMEM;
  memcpy(a, p, (size_t)nByte);
  *paOut = a;
  *pnOut = nByte/4;
  return SQLITE_OK;
}

/* The refusal of a vector of n elements where nDim are expected. */
static int dimensionMismatch(const char *zWho, int nDim, int n, char **pzErr){
  *pzErr = sqlite3_mprintf("%s: dimension mismatch: expected %d, got %d",
                           zWho, nDim, n);
  return SQLITE_ERROR;
}

int vsVectorParse(sqlite3_value *pVal, const char *zWho, int nDim,
                  float **paOut, int *pnOut, char **pzErr){
  int eType = sqlite3_value_type(pVal);
  int rc;
  float *a = 0;
  int n = 0;
  *paOut = 0;
  *pnOut = 0;
  if( eType==SQLITE_BLOB ){
    rc = parseBlob(sqlite3_value_blob(pVal), sqlite3_value_bytes(pVal),
                   zWho, &a, &n, pzErr);
  }else if( eType==SQLITE_TEXT ){
    const char *z = (const char*)sqlite3_value_text(pVal);
    if( z==0 ) return SQLITE_NOMEM;
    rc = parseJson(z, zWho, &a, &n, pzErr);
  }else{
    *pzErr = sqlite3_mprintf("%s: vector must be a blob of f32 or JSON text "
        "such as '[1, 2, 3]', got %s", zWho, vsTypeName(eType));
    return SQLITE_ERROR;
  }
  if( rc ) return rc;
  if( nDim>0 && n!=nDim ){
    sqlite3_free(a);
    return dimensionMismatch(zWho, nDim, n, pzErr);
  }
  *paOut = a;
  *pnOut = n;
  return SQLITE_OK;
}

/* The shortest %g text that reads back as exactly x (as an f32). */
static void shortestFloat(char *zOut, int nOut, float x){
  int nDigit;
  if( x==0.0f ){
    sqlite3_snprintf(nOut, zOut, "%s", signbit(x) ? "-0.0" : "0.0");
    return;
  }
  for(nDigit=6; nDigit<9; nDigit++){
    sqlite3_snprintf(nOut, zOut, "%.*g", nDigit, (double)x);
    if( strtof(zOut, 0)==x ) return;
  }
  sqlite3_snprintf(nOut, zOut, "%.9g", (double)x);   /* always exact */
}

char *vsVectorToJson(const float *a, int n){
  sqlite3_str *p = sqlite3_str_new(0);
  int i;
  sqlite3_str_appendchar(p, 1, '[');
  for(i=0; i<n; i++){
    char zNum[32];
    shortestFloat(zNum, sizeof(zNum), a[i]);
    if( i ) sqlite3_str_appendchar(p, 1, ',');
    sqlite3_str_appendall(p, zNum);
    /* keep a '.0' so that the text reads as a real */
    if( strpbrk(zNum, ".eEn")==0 ) sqlite3_str_appendall(p, ".0");
  }
  sqlite3_str_appendchar(p, 1, ']');
  return sqlite3_str_finish(p);
}

int vsVectorParseInto(sqlite3_value *pVal, const char *zWho, int nDim,
                      float *aScratch, const void **ppVec, int *pnOut,
                      char **pzErr){
  int rc;
  *ppVec = 0;
  if( sqlite3_value_type(pVal)==SQLITE_BLOB ){
    const unsigned char *p = sqlite3_value_blob(pVal);
    int nByte = sqlite3_value_bytes(pVal);
    rc = checkBlob(p, nByte, zWho, pzErr);
    if( rc==SQLITE_OK && nByte!=nDim*4 ){
      rc = dimensionMismatch(zWho, nDim, nByte/4, pzErr);
    }
    if( rc==SQLITE_OK ){
      *ppVec = p;
      *pnOut = nByte/4;
    }
  }else{
    float *a = 0;
    int n = 0;
    rc = vsVectorParse(pVal, zWho, nDim, &a, &n, pzErr);
    if( rc==SQLITE_OK ){
      memcpy(aScratch, a, sizeof(float)*(size_t)n);
      *ppVec = aScratch;
      *pnOut = n;
    }
    sqlite3_free(a);
  }
  return rc;
}
