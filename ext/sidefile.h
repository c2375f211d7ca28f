/*
** The side file: where a `vectors` table keeps its f32 data. See the
** format and the write/sync order at the top of sidefile.c. This layer
** knows slots and bytes, nothing of virtual tables or SQL.
*/
#ifndef SIDEFILE_H
#define SIDEFILE_H
#include "veles_int.h"

#define VS_IDENT_LEN 16            /* identifier: 16 lowercase hex digits */

/* The side file's name for a table with identifier zIdent in database
** file zDbFile: "<zDbFile>-vectors-<zIdent>". sqlite3_free() it. */
char *vsFileName(const char *zDbFile, const char *zIdent);

/* Create the side file of database file zDbFile (0: an in-memory store)
** for a table with identifier zIdent and dimension nDim (0 = not yet
** known), in format version iVersion (1, or 2: bound to its database, see
** vecbind.c); it takes the database file's permission bits. */
int vsFileCreate(const char *zDbFile, int nDim, const char *zIdent,
                 int iVersion, VsFile **pp, char **pzErr);

/* The same, at path zPath (0: an in-memory store), taking the mode of
** database file zDbFile. */
int vsFileCreateAt(const char *zPath, const char *zDbFile, int nDim,
                   const char *zIdent, int iVersion, VsFile **pp,
                   char **pzErr);
/* Make the new file p durable and rename it to zFinal (replacing the file
** there), then sync the directory: a crash leaves the old or the new. */
int vsFileInstall(VsFile *p, const char *zFinal, char **pzErr);
/* Does zPath still name the file p has open (not replaced, not gone)? */
int vsFileIsAt(VsFile *p, const char *zPath);
/* Wait for the exclusive lock (flock) on the directory of zPath, which
** rebuilders of side files there take; *pFd holds it until vsFileUnlock
** (-1: none could be had, go on without). */
int vsFileLock(const char *zPath, int *pFd);
void vsFileUnlock(int fd);

/* What binds a version 2 side file to its database (vecbind.c). */
#define VS_RING_MAX 124
typedef struct VsBinding VsBinding;
struct VsBinding {
  i64 iCommit;            /* the newest commit whose vectors it holds */
  i64 iFloor;             /* the oldest commit whose vectors are intact */
  i64 iBoot;              /* 0: the file was durable when this was written;
                          ** else the boot whose writes may not be yet */
  int nRing;              /* entries of aRing, 1..VS_RING_MAX */
  struct VsRingEntry {
    i64 iCommit;          /* a commit ... */
    i64 iNonce;           /* ... and the random number that names it */
  } aRing[VS_RING_MAX];   /* newest first: aRing[0].iCommit == iCommit */
};
/* Read the binding from the header (read again while a writer of another
** process is rewriting it); SQLITE_CORRUPT_VTAB when it is damaged. */
int vsFileReadBinding(VsFile *p, VsBinding *pB, char **pzErr);
/* Write the binding into the header, over the copy that does not count
** (sidefile.c); vsFileSync makes it durable. */
int vsFileWriteBinding(VsFile *p, const VsBinding *pB, char **pzErr);
/* The mark of the machine's boot this handle runs in (the binding's boot
** field), 0 where it cannot be known or for an in-memory store. */
i64 vsFileBoot(VsFile *p);
/* Whether each buffer written from now on starts its writeback at once:
** for a file the commit will sync (writer.c, WRITEBACK). */
void vsFileSetWriteback(VsFile *p, int bWriteback);
/* Hold a shared lock on the file from reading the binding of a commit to
** the end of its vsFileSync, which releases it (LAZY SYNC, sidefile.c). */
int vsFileCommitLock(VsFile *p, char **pzErr);
void vsFileCommitUnlock(VsFile *p);
/* Open an existing side file, checking its header against the
** identifier, dimension and format version the table's settings record. */
int vsFileOpen(const char *zPath, int nDim, const char *zIdent,
               int iVersion, VsFile **pp, char **pzErr);
/* Close; buffered slots are written and synced first (a failure goes
** to sqlite3_log(): see the comment inside). */
void vsFileClose(VsFile *p);
/* Remove the side file zPath and fsync its directory. A file already
** gone is fine. Failures are reported to sqlite3_log() (the callers have
** no caller to tell) and returned. */
int vsFileUnlink(const char *zPath);
/* fsync() the directory of zPath: 0, or the errno (ENOMEM: no memory). */
int vsFileSyncDir(const char *zPath);
const char *vsFilePath(VsFile *p);

/* Set the dimension (once the first vector fixes it, or back to 0 when
** that is rolled back); bWrite also records it in the header. */
int vsFileSetDim(VsFile *p, int nDim, int bWrite, char **pzErr);

/* Write one vector into slot iSlot (through the write-behind buffer). */
int vsFileWrite(VsFile *p, i64 iSlot, const void *a, char **pzErr);
/* Read slot iSlot into a (dim floats); SQLITE_CORRUPT_VTAB past the end. */
int vsFileRead(VsFile *p, i64 iSlot, float *a, char **pzErr);
/* Flush the buffer and return a pointer to nSlot contiguous slots
** starting at slot 0, valid until the next call on p. */
int vsFileMap(VsFile *p, i64 nSlot, const float **paOut, char **pzErr);
/* Write nSlot consecutive slots from iSlot at once, past the buffer. */
int vsFileWriteSlots(VsFile *p, i64 iSlot, i64 nSlot, const void *a,
                     char **pzErr);
/* Read nSlot consecutive slots from iSlot; zeros past the end. */
int vsFileReadSlots(VsFile *p, i64 iSlot, i64 nSlot, void *a, char **pzErr);
/* Empty an in-memory store and forget its binding (before a reload). */
void vsFileMemClear(VsFile *p);
/* Hand the buffered writes to the operating system. */
int vsFileFlush(VsFile *p, char **pzErr);
/* Flush, then make the data durable (fdatasync): VS_SYNC_FULL always,
** VS_SYNC_LAZY only for a new file (its binding carries this boot's mark
** on disk already: LAZY SYNC in sidefile.c), VS_SYNC_OFF never
** (synchronous=OFF). Releases the commit lock. */
#define VS_SYNC_OFF  0
#define VS_SYNC_FULL 1
#define VS_SYNC_LAZY 2
int vsFileSync(VsFile *p, int eSync, char **pzErr);
/* Forget buffered writes that were not flushed yet. */
void vsFileDiscard(VsFile *p);
/* Number of whole slots the file holds now (flushed data only). */
int vsFileSlotCount(VsFile *p, i64 *pnSlot, char **pzErr);

#endif
