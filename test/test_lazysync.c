/*
** LAZY SYNC (ext/sidefile.c): with the database's copy of the vectors
** (db_copy=on), commits do not sync the side file; the
** binding carries the mark of the machine's boot instead, and a marked
** file is trusted only within that boot. faultfs (test/faultfs.c) makes
** each tracking session a boot of its own and fails syncs on demand.
**   1.*  copy on: with every sync of the side file failing, later commits
**        still succeed; the binding is marked; the vectors are right.
**   2.*  the close that cannot sync leaves the mark; the same boot trusts
**        the file as it is (no rebuild); a close that can sync leaves a
**        clean binding, marked (and synced) again before the next
**        transaction's first vector is written.
**   3.*  a process that wrote lazily and died (as kill -9): the same boot
**        goes on with its file; another boot refuses it (veles_check says
**        why) and rebuilds it from the database's copy, every vector right.
**   4.*  copy off: never marked, every commit syncs (a failing sync fails
**        the commit, and the table is as before).
**   5.*  a crafted binding marked by another boot: refused, with the copy
**        rebuilt; without it an error that says what to do.
*/
#include "testutil.h"
#include "faultfs.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char zDataDir[600], zShadowDir[600];

/* The side file of d/l.db (static buffer; "d/missing" when none). */
static const char *sidePath(void){
  static char z[900];
  DIR *d = opendir("d");
  struct dirent *e;
  snprintf(z, sizeof(z), "d/missing");
  while( d && (e = readdir(d))!=0 ){
    if( strncmp(e->d_name, "l.db-vectors-", 13)==0
     && strchr(e->d_name+13, '-')==0 ){
      snprintf(z, sizeof(z), "d/%s", e->d_name);
    }
  }
  if( d ) closedir(d);
  return z;
}

static long long get64(const unsigned char *a){
  unsigned long long x = 0;
  int i;
  for(i=7; i>=0; i--) x = (x<<8) | a[i];
  return (long long)x;
}

/* The boot field of the binding copy that counts (the larger write
** count: sidefile.c), or -1 when unreadable. */
static long long bindingBoot(void){
  unsigned char a[2][48];
  FILE *f = fopen(sidePath(), "rb");
  int k;
  if( f==0 ) return -1;
  for(k=0; k<2; k++){
    if( fseek(f, 40+k*2024, SEEK_SET) || fread(a[k], 1, 48, f)!=48 ){
      fclose(f);
      return -1;
    }
  }
  fclose(f);
  k = get64(a[1])>get64(a[0]);
  return get64(&a[k][32]);
}

static long long sideInode(void){
  struct stat st;
  return stat(sidePath(), &st) ? -1 : (long long)st.st_ino;
}

/* Rows 1..n hold [id, -id, id/2, 1]. */
static void insertRows(sqlite3 *db, int iFirst, int iLast){
  int id;
  for(id=iFirst; id<=iLast; id++){
    tExec(db, "INSERT INTO e VALUES (%d, '[%d, %d, %d.5, 1]')", id, id, -id,
          id/2);
  }
}

static int allRight(sqlite3 *db, int n){
  char zSql[300];
  snprintf(zSql, sizeof(zSql), "SELECT count(*) FROM e WHERE id BETWEEN 1 "
           "AND %d AND vec = veles_vec(json_array(id, -id, id/2 + 0.5, 1))",
           n);
  return tInt(db, zSql)==n && tInt(db, "SELECT count(*) FROM e")==n;
}

static sqlite3 *openTable(int bCreate, const char *zCopy){
  sqlite3 *db = tOpen("d/l.db");
  if( bCreate ){
    tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=4, db_copy=%s)",
          zCopy);
  }
  return db;
}

static void testCopyOn(void){
  sqlite3 *db;
  char *zExpect;
  long long ino;
  int i;
  tShell("rm -rf d && mkdir d");
  faultfsTrack(zDataDir, zShadowDir);                 /* boot A */
  db = openTable(1, "on");
  insertRows(db, 1, 10);                              /* each autocommit */
  tCheck("1.0", bindingBoot()!=0, "the binding carries the boot's mark");
  /* from here no sync of the side file can succeed */
  faultfsFail(FAULTFS_SYNC, "-vectors-", 1, EIO, 1);
  for(i=0; i<5; i++){
    tExec(db, "BEGIN; INSERT INTO e VALUES (%d, '[%d, %d, %d.5, 1]');"
              "COMMIT", 11+i, 11+i, -11-i, (11+i)/2);
  }
  tCheck("1.1", faultfsFaultCount()==0, "no commit synced the side file");
  tCheck("1.2", allRight(db, 15), "every vector right");
  tRows("1.3", db, "SELECT veles_check('e')", "ok");
  /* 2: the close cannot sync: the mark stays, and this boot trusts it */
  ino = sideInode();
  tClose(db);
  tCheck("2.0", faultfsFaultCount()==1, "the close tried to sync");
  tCheck("2.1", bindingBoot()!=0, "a close that cannot sync leaves the mark");
  faultfsClear();
  db = openTable(0, 0);
  tCheck("2.2", allRight(db, 15), "every vector right in the same boot");
  tCheck("2.3", sideInode()==ino, "the file was not rebuilt");
  insertRows(db, 16, 20);
  tClose(db);
  tCheck("2.4", bindingBoot()==0, "a close that syncs leaves it clean");
  faultfsTrack(zDataDir, zShadowDir);                 /* boot B */
  db = openTable(0, 0);
  tCheck("2.5", allRight(db, 20) && sideInode()==ino,
         "a clean file is trusted in another boot");
  /* 2.6-: a clean file is marked, and synced, before the first vector of
  ** a transaction is written: a failing sync fails that INSERT (not the
  ** COMMIT), and the mark is on disk while the transaction is open */
  faultfsFail(FAULTFS_SYNC, "-vectors-", 1, EIO, 1);
  zExpect = sqlite3_mprintf("vectors: table e: cannot sync %s/%s: "
      "Input/output error", zDataDir, strrchr(sidePath(), '/')+1);
  tError("2.6", db, "INSERT INTO e VALUES (21, '[21, -21, 10.5, 1]')",
         zExpect);
  sqlite3_free(zExpect);
  faultfsClear();
  tCheck("2.7", allRight(db, 20), "the table is as before the failure");
  tExec(db, "BEGIN");
  insertRows(db, 21, 22);
  tCheck("2.8", bindingBoot()!=0, "the mark precedes the vectors");
  tExec(db, "COMMIT");
  tCheck("2.9", allRight(db, 22), "every vector right");
  tClose(db);
  faultfsUntrack();
}

/* A child writes rows n+1..n+5 lazily and leaves without closing;
** bTrack: in a boot of its own (else in the parent's). */
static void diedWriting(int n, int bTrack){
  pid_t pid;
  int status;
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  if( pid==0 ){
    sqlite3 *db;
    if( bTrack ) faultfsTrack(zDataDir, zShadowDir);
    db = openTable(0, 0);
    insertRows(db, n+1, n+5);
    _exit(tDone()==0 ? 0 : 3);      /* no close: as kill -9 */
  }
  waitpid(pid, &status, 0);
  tCheck("3.child", WIFEXITED(status) && WEXITSTATUS(status)==0,
         "the writer ran");
}

static void testDied(void){
  sqlite3 *db;
  long long ino;
  char *zExpect;
  tShell("rm -rf d && mkdir d");
  db = openTable(1, "on");
  insertRows(db, 1, 10);
  tClose(db);
  ino = sideInode();
  diedWriting(10, 0);                         /* this boot */
  tCheck("3.0", bindingBoot()!=0, "the dead writer's mark is there");
  db = openTable(0, 0);
  tRows("3.1", db, "SELECT veles_check('e')", "ok");
  tCheck("3.2", allRight(db, 15) && sideInode()==ino,
         "the same boot goes on with the file as it is");
  tClose(db);
  /* a boot of its own: it rebuilds the file this boot marked, writes */
  diedWriting(15, 1);
  ino = sideInode();
  db = openTable(0, 0);
  zExpect = sqlite3_mprintf("e: side file %s/%s was written without a "
      "sync before the machine stopped or restarted (or on another "
      "machine): its newest writes may be lost (the next use of the table "
      "rebuilds it from the database's copy)", zDataDir,
      strrchr(sidePath(), '/')+1);
  tRows("3.3", db, "SELECT veles_check('e')", zExpect);
  sqlite3_free(zExpect);
  tCheck("3.4", allRight(db, 20), "every vector right after the rebuild");
  tCheck("3.5", sideInode()!=ino, "the file was made again");
  tCheck("3.6", bindingBoot()==0, "the rebuilt file is clean");
  tRows("3.7", db, "SELECT veles_check('e')", "ok");
  tClose(db);
}

static void testCopyOff(void){
  sqlite3 *db;
  char *zExpect;
  tShell("rm -rf d && mkdir d");
  faultfsTrack(zDataDir, zShadowDir);
  db = openTable(1, "off");
  insertRows(db, 1, 10);
  tCheck("4.0", bindingBoot()==0, "without the copy, never marked");
  faultfsFail(FAULTFS_SYNC, "-vectors-", 1, EIO, 1);
  zExpect = sqlite3_mprintf("vectors: table e: cannot sync %s/%s: "
      "Input/output error", zDataDir, strrchr(sidePath(), '/')+1);
  tError("4.1", db, "INSERT INTO e VALUES (11, '[11, -11, 5.5, 1]')",
         zExpect);
  sqlite3_free(zExpect);
  faultfsClear();
  tCheck("4.2", allRight(db, 10), "the table is as before the failure");
  tClose(db);
  faultfsUntrack();
}

/* Give both copies of the binding another boot's mark, their checksums
** made again as sidefile.c makes them: a file as another machine (or the
** boot before a power cut) leaves it. */
static unsigned fnv(unsigned h, const unsigned char *a, size_t n){
  size_t i;
  for(i=0; i<n; i++){ h ^= a[i]; h *= 16777619u; }
  return h;
}

static void markForeign(void){
  unsigned char a[2024];
  FILE *f = fopen(sidePath(), "r+b");
  unsigned n, h;
  int k, i;
  for(k=0; f && k<2; k++){
    if( fseek(f, 40+k*2024, SEEK_SET) || fread(a, 1, sizeof(a), f)!=sizeof(a) ){
      break;
    }
    for(i=0; i<8; i++) a[32+i] = (unsigned char)(0x5a+i);   /* a boot */
    n = a[24] | (a[25]<<8) | (a[26]<<16) | ((unsigned)a[27]<<24);
    if( n<1 || n>124 ) continue;                 /* a copy never written */
    h = fnv(fnv(2166136261u, a, 28), &a[32], 8+(size_t)n*16);
    for(i=0; i<4; i++) a[28+i] = (unsigned char)(h>>(8*i));
    if( fseek(f, 40+k*2024, SEEK_SET) || fwrite(a, 1, sizeof(a), f)!=sizeof(a) ){
      break;
    }
  }
  if( f ) fclose(f);
}

static void testForeignMark(const char *zCopy){
  sqlite3 *db;
  char zCase[16];
  int bOn = strcmp(zCopy, "on")==0;
  tShell("rm -rf d && mkdir d");
  db = openTable(1, zCopy);
  insertRows(db, 1, 10);
  tClose(db);
  markForeign();
  db = openTable(0, 0);
  snprintf(zCase, sizeof(zCase), "5.%s", zCopy);
  if( bOn ){
    tCheck(zCase, allRight(db, 10), "rebuilt, every vector right");
  }else{
    char *zExpect = sqlite3_mprintf("vectors: table e: side file %s/%s was "
        "written without a sync before the machine stopped or restarted (or "
        "on another machine): its newest writes may be lost (the table "
        "keeps no copy of its vectors in the database, db_copy=off: put "
        "back the side file saved with this database file)", zDataDir,
        strrchr(sidePath(), '/')+1);
    tError(zCase, db, "SELECT count(*) FROM e WHERE vec IS NOT NULL",
           zExpect);
    sqlite3_free(zExpect);
  }
  tClose(db);
}

int main(int argc, char **argv){
  char zCwd[512];
  tInit(argc, argv);
  if( getcwd(zCwd, sizeof(zCwd))==0 ) return 1;
  snprintf(zDataDir, sizeof(zDataDir), "%s/d", zCwd);
  snprintf(zShadowDir, sizeof(zShadowDir), "%s/shadow", zCwd);
  testCopyOn();
  testDied();
  testCopyOff();
  testForeignMark("on");
  testForeignMark("off");
  return tDone();
}
