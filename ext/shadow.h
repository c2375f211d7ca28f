/*
** Shadow-table plumbing shared by the `vectors` and `payloads` modules,
** in the manner of fts5_storage.c: the statements a table runs on its
** shadow tables, prepared once and cached by an enum the module defines;
** renaming and dropping the shadow tables; xShadowName. See shadow.c.
*/
#ifndef SHADOW_H
#define SHADOW_H
#include "veles_int.h"
#include <stdarg.h>

/* The SQL of statement eStmt for table zName of schema zSchema,
** allocated with sqlite3_mprintf (0 on OOM). */
typedef char *(*VsShadowSql)(void *pCtx, int eStmt, const char *zSchema,
                             const char *zName);

typedef struct VsShadow VsShadow;
struct VsShadow {
  sqlite3 *db;
  char *zSchema;                /* "main", "temp" or an ATTACH name */
  char *zName;                  /* the virtual table's name */
  const char *const *azSuffix;  /* shadow tables <zName>_<suffix>, 0-ended */
  VsShadowSql xSql;             /* the module's statements */
  void *pCtx;                   /* xSql's first argument */
  int nStmt;                    /* entries of aStmt */
  sqlite3_stmt **aStmt;         /* aStmt[eStmt], prepared on first use */
};

/* Set up p; SQLITE_NOMEM leaves it cleared. */
int vsShadowInit(VsShadow *p, sqlite3 *db, const char *zSchema,
                 const char *zName, const char *const *azSuffix, int nStmt,
                 VsShadowSql xSql, void *pCtx);
/* Finalize the statements and free everything (a cleared p is fine). */
void vsShadowClear(VsShadow *p);
/* Finalize the cached statements (before DROP, RENAME, a schema change). */
void vsShadowFinalize(VsShadow *p);
/* The cached statement eStmt, reset by its last user (each user binds
** every parameter it uses). On an error the message is
** sqlite3_errmsg(db). */
int vsShadowStmt(VsShadow *p, int eStmt, sqlite3_stmt **ppStmt);
/* Rename every shadow table that exists to <zNew>_<suffix>; p->zName
** follows. */
int vsShadowRename(VsShadow *p, const char *zNew);
/* Drop every shadow table (their indexes go with them). */
int vsShadowDrop(VsShadow *p);
/* xShadowName: is zSuffix one of azSuffix? */
int vsShadowIsName(const char *const *azSuffix, const char *zSuffix);
/* Run printf-formatted SQL (several statements allowed). */
int vsShadowExec(sqlite3 *db, const char *zFormat, ...);
int vsShadowExecV(sqlite3 *db, const char *zFormat, va_list ap);

#endif /* SHADOW_H */
