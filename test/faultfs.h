/*
** faultfs: a file-system fault layer for tests (test/faultfs.c).
**
** It interposes open/openat/close/write/pwrite/pwrite64/fsync/fdatasync/
** ftruncate/unlink/rename for every file under one directory, for SQLite
** and veles alike (one mechanism for the database, its journal or WAL and
** the vectors side file). Two uses:
**
**   POWER LOSS. faultfsPowerCut(k, eGarble, seed, code): the k-th sync
**   (fsync or fdatasync of a tracked file or of the directory) never
**   happens: every tracked file goes back to its content at its own last
**   successful sync (its "durable" content), the ranges written since
**   are dropped, torn (each 512-byte sector old or new) or garbled (each
**   sector old, new or random), and the process _exit(code)s, as if the
**   machine lost power. Model: content is durable only at a sync of that
**   file; creating and unlinking a file are durable at once (as on ext4,
**   whose journal commits every earlier metadata change at any fsync); a
**   created file that was never synced is empty.
**
**   I/O ERRORS. faultfsFail(ops, filter, k, errno, persistent): the k-th
**   operation of the kinds in ops (FAULTFS_WRITE, FAULTFS_SYNC,
**   FAULTFS_TRUNCATE) on a tracked file whose name contains filter (any
**   when 0) fails with errno, having done nothing; persistent: every later
**   one fails too until faultfsClear().
**
**   REBOOTS. While tracking, the kernel's boot id
**   (/proc/sys/kernel/random/boot_id) reads as faultfs's own, a new one at
**   every faultfsTrack(): each tracking session is a boot of its own, as
**   the checks after a power cut must be (veles trusts unsynced side-file
**   writes only within the boot that made them: sidefile.c, LAZY SYNC).
**
** Linked into a test driver (exported with ENABLE_EXPORTS) it takes over
** these calls for the whole process, libsqlite3 and veles.so included;
** built as the faultfs.so module it is an LD_PRELOAD shim configured by
** environment variables (see faultfs.c).
*/
#ifndef FAULTFS_H
#define FAULTFS_H

#define FAULTFS_WRITE    1
#define FAULTFS_SYNC     2
#define FAULTFS_TRUNCATE 4

#define FAULTFS_DROP   0      /* unsynced writes vanish */
#define FAULTFS_TORN   1      /* each unsynced sector: old or new */
#define FAULTFS_GARBLE 2      /* each unsynced sector: old, new or random */

/* Track every file under the absolute directory zDir; durable copies go
** to zShadowDir (outside zDir). Files already there count as durable. */
void faultfsTrack(const char *zDir, const char *zShadowDir);
/* Stop tracking, fault nothing (calls pass straight through). */
void faultfsUntrack(void);

void faultfsPowerCut(int k, int eGarble, unsigned seed, int exitCode);
void faultfsFail(int eOps, const char *zFilter, int k, int iErrno,
                 int bPersist);
void faultfsClear(void);
/* A lying disk, for negative controls: syncs of files whose name contains
** zFilter succeed but make nothing durable (0 or "" to stop). */
void faultfsLie(const char *zFilter);

/* Counters since faultfsTrack(): syncs, and operations of the kinds in
** eOps matching the current filter, and faults injected. */
int faultfsSyncCount(void);
int faultfsOpCount(void);
int faultfsFaultCount(void);
#endif
