/*
** What the benchmark programs (test/bench_*.c) share: a clock, SQL that
** must succeed, and fresh databases with an extension loaded. A failure
** prints what failed and exits 1: a benchmark whose setup failed has
** nothing to report.
**
**   zModule = benchModule(argv[1]);
**   db = benchOpen("b.db", zModule);       (a fresh b.db, veles loaded)
**   t0 = benchNow(); benchExec(db, "..."); t = benchNow()-t0;
*/
#ifndef BENCHUTIL_H
#define BENCHUTIL_H
#include <sqlite3.h>

/* Seconds on the monotonic clock. */
double benchNow(void);
/* Exit unless rc is SQLITE_OK, SQLITE_ROW or SQLITE_DONE. */
void benchCheck(sqlite3 *db, int rc, const char *zWhat);
/* Run SQL that must succeed. */
void benchExec(sqlite3 *db, const char *zSql);

/* The absolute path of the module named on the command line (exits 2
** when there is none). */
char *benchModule(const char *zArg);
/* Load the extension zPath into db; SQLite's result code, the message in
** *pzErr (free with sqlite3_free). */
int benchLoad(sqlite3 *db, const char *zPath, char **pzErr);
/* Load zPath into db or exit. */
void benchMustLoad(sqlite3 *db, const char *zPath);
/* Remove zFile, its journal, WAL, shared memory and vectors side files. */
void benchRemoveDb(const char *zFile);
/* A fresh database zFile (removed first), with zExt loaded unless 0. */
sqlite3 *benchOpen(const char *zFile, const char *zExt);
#endif
