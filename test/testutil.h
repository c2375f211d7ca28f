/*
** A small harness for test drivers that talk to veles through SQL, the
** way a user does. Cases are numbered ("1.0", "1.1", ...) and print one
** line each when they fail; tDone() prints "N passed, N failed".
**
**   tRows("1.0", db, "SELECT id FROM emb", "1\n2\n3");
**   tError("1.1", db, "INSERT INTO emb VALUES(1, 'x')",
**          "vectors: malformed vector JSON at offset 0: ...");
**
** Row text: columns joined by '|', rows by '\n'; NULL is "NULL", a
** blob is x'hex', numbers and text as sqlite3_column_text() gives them.
*/
#ifndef TESTUTIL_H
#define TESTUTIL_H
#include <sqlite3.h>

/* Reads argv: argv[1] the module path, argv[2] a scratch directory that
** is emptied and made the current directory. */
void tInit(int argc, char **argv);
const char *tModulePath(void);

/* Open zFile (relative to the scratch directory, or ":memory:") with the
** extension loaded; aborts the test on failure. */
sqlite3 *tOpen(const char *zFile);
void tClose(sqlite3 *db);

/* Run a shell command (printf-style) that must succeed, e.g. to copy or
** damage a file; a failure counts as a failed case. */
void tShell(const char *zFormat, ...);
/* Run SQL that must succeed (several statements allowed). */
void tExec(sqlite3 *db, const char *zFormat, ...);
/* Query rows and compare them with zExpect. Returns 1 on a match. */
int tRows(const char *zCase, sqlite3 *db, const char *zSql,
          const char *zExpect);
/* Run SQL that must fail with exactly the message zExpect. */
int tError(const char *zCase, sqlite3 *db, const char *zSql,
           const char *zExpect);
/* veles_check() on every vectors and payloads table of every schema of
** db; each must give 'ok'. A failure is reported as case "<zCase>
** veles_check". Returns 1 when all are ok. */
int tVelesCheck(const char *zCase, sqlite3 *db);
/* bOn=1: from now on tExec() and tError() run tVelesCheck() after their
** SQL whenever the connection is back in autocommit mode (so after every
** mutating step that completed a transaction), labelled with the case
** number last seen ("after 3.21"). */
void tAutoCheck(int bOn);
/* Record a check made in C. */
int tCheck(const char *zCase, int bOk, const char *zWhat);
/* Rows of zSql as text, as tRows formats them; free with sqlite3_free. */
char *tQuery(sqlite3 *db, const char *zSql);
/* First column of the first row as an integer (-1 on error/no row). */
long long tInt(sqlite3 *db, const char *zSql);

/* Append " <rows>:<hash>" for the rows of zSql to pStr: a 64-bit FNV-1a
** hash of every column's bytes, so two states compare by their digests.
** On an error, " ERROR: <message>" instead, and returns 0. */
int tDigestRows(sqlite3 *db, const char *zSql, sqlite3_str *pStr);
/* The last integer in the file zLog (a writer's log of acknowledged
** commits), or iNone when the file is missing or holds none. */
int tLastLogged(const char *zLog, int iNone);
/* VELES_LONG set to a positive number: run every variant. */
int tLong(void);

/* Size in bytes of a file in the scratch directory, -1 when absent. */
long long tFileSize(const char *zPath);
/* Number of files whose name starts with zPrefix in the scratch dir. */
int tCountFiles(const char *zPrefix);
/* Make vectors table zTab of database file zDb (closed) format 1, as the
** previous release wrote it: no binding, no copy (test_upgrade.c). */
void tToFormat1(const char *zDb, const char *zTab);
/* Name of the first file starting with zPrefix (static buffer) or 0. */
const char *tFindFile(const char *zPrefix);

int tDone(void);
#endif
