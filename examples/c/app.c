/*
** A program that links veles in statically.
**
** Build (from the build tree, or against an installed veles with
** pkg-config; see docs/bindings.md):
**
**   cc app.c $(pkg-config --cflags --libs veles) -o app
**   ./app docs.db
**
** sqlite3_auto_extension() registers veles for every connection the
** program opens afterwards, so there is no .load and no loadable file.
** The program then does what an application does with veles: store a
** batch of embeddings with their payloads in one transaction, see a
** failing batch store nothing, read one back, search the nearest ones among those whose payload matches a
** filter, and check the tables. It prints what it found and exits 0, or prints the error and
** exits 1.
*/
#include <stdio.h>
#include <stdlib.h>
#include <sqlite3.h>
#include "veles.h"

/* The documents: an id, a 4-dimensional embedding and a JSON payload. */
static const struct {
  int id;
  float aVec[4];
  const char *zJson;
} aDoc[] = {
  { 1, { 0.9f, 0.1f, 0.0f, 0.0f }, "{\"title\":\"Cats\",\"lang\":\"en\"}" },
  { 2, { 0.8f, 0.2f, 0.1f, 0.0f }, "{\"title\":\"Chats\",\"lang\":\"fr\"}" },
  { 3, { 0.0f, 1.0f, 0.0f, 0.1f }, "{\"title\":\"Dogs\",\"lang\":\"en\"}" },
  { 4, { 0.1f, 0.0f, 0.9f, 0.2f }, "{\"title\":\"Birds\",\"lang\":\"en\"}" },
  { 5, { 0.7f, 0.3f, 0.0f, 0.1f }, "{\"title\":\"Katzen\",\"lang\":\"de\"}" },
};
#define N_DOC ((int)(sizeof(aDoc)/sizeof(aDoc[0])))

/* Print the error of the last call on db and exit. */
static void fail(sqlite3 *db, const char *zWhat){
  fprintf(stderr, "app: %s: %s\n", zWhat, sqlite3_errmsg(db));
  sqlite3_close(db);
  exit(1);
}

/* Run SQL that returns no rows. */
static void execOrFail(sqlite3 *db, const char *zSql){
  char *zErr = 0;
  if( sqlite3_exec(db, zSql, 0, 0, &zErr)!=SQLITE_OK ){
    fprintf(stderr, "app: %s: %s\n", zSql, zErr);
    sqlite3_free(zErr);
    sqlite3_close(db);
    exit(1);
  }
}

/* store_batch: every vector and its payload in one transaction. A
** vector is bound as a BLOB of f32 (native order, little-endian here). */
static void storeBatch(sqlite3 *db){
  sqlite3_stmt *pVec = 0, *pMeta = 0;
  int i;
  execOrFail(db, "BEGIN");
  if( sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO emb(id, vec) "
                         "VALUES (?, ?)", -1, &pVec, 0)
   || sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(id, json) "
                         "VALUES (?, ?)", -1, &pMeta, 0) ){
    fail(db, "prepare");
  }
  for(i=0; i<N_DOC; i++){
    sqlite3_bind_int(pVec, 1, aDoc[i].id);
    sqlite3_bind_blob(pVec, 2, aDoc[i].aVec, sizeof(aDoc[i].aVec),
                      SQLITE_STATIC);
    if( sqlite3_step(pVec)!=SQLITE_DONE ) fail(db, "insert vector");
    sqlite3_reset(pVec);
    sqlite3_bind_int(pMeta, 1, aDoc[i].id);
    sqlite3_bind_text(pMeta, 2, aDoc[i].zJson, -1, SQLITE_STATIC);
    if( sqlite3_step(pMeta)!=SQLITE_DONE ) fail(db, "insert payload");
    sqlite3_reset(pMeta);
  }
  sqlite3_finalize(pVec);
  sqlite3_finalize(pMeta);
  execOrFail(db, "COMMIT");                      /* flush: durable */
}

/* A batch that fails half-way stores nothing: the transaction is rolled
** back, the vector and the payload already inserted with it too. */
static void failedBatch(sqlite3 *db){
  char *zErr = 0;
  printf("-- a batch with a bad vector stores nothing\n");
  execOrFail(db, "BEGIN");
  execOrFail(db, "INSERT INTO emb(id, vec) VALUES (6, '[0.5, 0.5, 0.5, 0.5]');"
                 "INSERT INTO meta(id, json) VALUES (6, '{\"title\":\"Fish\"}')");
  if( sqlite3_exec(db, "INSERT INTO emb(id, vec) VALUES (7, '[1, 2, 3]')",
                   0, 0, &zErr)==SQLITE_OK ){
    fprintf(stderr, "app: a 3-element vector was accepted\n");
    exit(1);
  }
  printf("error: %s\n", zErr);
  sqlite3_free(zErr);
  execOrFail(db, "ROLLBACK");
}

/* Print every row of a query with one optional text parameter. */
static void printRows(sqlite3 *db, const char *zSql, const char *zArg){
  sqlite3_stmt *pStmt = 0;
  int rc, i;
  if( sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0) ) fail(db, zSql);
  if( zArg ) sqlite3_bind_text(pStmt, 1, zArg, -1, SQLITE_STATIC);
  while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
    for(i=0; i<sqlite3_column_count(pStmt); i++){
      const char *z = (const char*)sqlite3_column_text(pStmt, i);
      printf("%s%s", i ? "|" : "", z ? z : "NULL");
    }
    printf("\n");
  }
  if( rc!=SQLITE_DONE ) fail(db, zSql);
  sqlite3_finalize(pStmt);
}

int main(int argc, char **argv){
  const char *zDb = argc>1 ? argv[1] : "app.db";
  sqlite3 *db = 0;

  /* Register veles for every connection opened from now on. */
  if( sqlite3_auto_extension((void(*)(void))sqlite3_veles_init) ){
    fprintf(stderr, "app: sqlite3_auto_extension failed\n");
    return 1;
  }
  if( sqlite3_open(zDb, &db)!=SQLITE_OK ) fail(db, "open");

  printRows(db, "SELECT 'veles ' || veles_version() || ' on SQLite ' "
                "|| sqlite_version()", 0);
  execOrFail(db,
    "DROP TABLE IF EXISTS emb; DROP TABLE IF EXISTS meta;"
    "CREATE VIRTUAL TABLE emb USING vectors(dim=4, metric=cosine);"
    "CREATE VIRTUAL TABLE meta USING payloads(lang TEXT);");
  storeBatch(db);

  printf("-- stored\n");
  printRows(db, "SELECT (SELECT count(*) FROM emb), (SELECT count(*) FROM meta)",
            0);
  failedBatch(db);
  printRows(db, "SELECT (SELECT count(*) FROM emb), (SELECT count(*) FROM meta)",
            0);
  printf("-- retrieve 3\n");
  printRows(db, "SELECT v.id, veles_json(v.vec), p.json FROM emb v "
                "JOIN meta p USING (id) WHERE v.id = 3", 0);
  /* k applies after the payload filter (the id IN list); MATERIALIZED
  ** keeps SQLite from merging the search into the join, which would run
  ** one search per payload row. */
  printf("-- the 2 nearest to [1,0,0,0] in English\n");
  printRows(db, "WITH hit AS MATERIALIZED ("
                "  SELECT id, distance FROM emb WHERE vec MATCH ? AND k = 2"
                "     AND id IN (SELECT id FROM meta WHERE lang = 'en'))"
                "SELECT hit.id, meta.json ->> '$.title', "
                "       printf('%.4f', hit.distance) "
                "FROM hit JOIN meta USING (id) ORDER BY hit.distance",
                "[1, 0, 0, 0]");
  printf("-- check\n");
  printRows(db, "SELECT veles_check('emb'), veles_check('meta')", 0);

  if( sqlite3_close(db)!=SQLITE_OK ) fail(db, "close");
  return 0;
}
