/*
** veles: an embedded vector and payload store for SQLite.
**
** Public interface. The extension is usually loaded at run time
** (`.load ./veles` in the shell, sqlite3_load_extension() from C, or a
** binding's loadExtension()). A program that links veles in statically
** registers it for every new connection with
**
**     sqlite3_auto_extension((void (*)(void))sqlite3_veles_init);
**
** What it adds to a connection:
**   CREATE VIRTUAL TABLE emb  USING vectors(dim=384);   -- id, vec (f32 BLOB)
**   CREATE VIRTUAL TABLE meta USING payloads;           -- id, json (TEXT)
** See README.md for the full reference.
*/
#ifndef VELES_H
#define VELES_H

#include <sqlite3.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The one place the version is written; veles_version() returns it. */
#define VELES_VERSION "0.1.0"

/* Entry point: registers the modules and functions on one connection. */
int sqlite3_veles_init(sqlite3 *db, char **pzErrMsg,
                       const sqlite3_api_routines *pApi);

#ifdef __cplusplus
}
#endif

#endif /* VELES_H */
