/*
** The side file's rebuild from the database's copy (ext/veccopy.c), under
** every fault a rebuild can meet:
**   rebuild.cut.*    a power cut at each sync of the rebuild (faultfs:
**                    unsynced writes dropped, torn or garbled);
**   rebuild.eio.*    the k-th write or sync of the side files failing;
**   rebuild.kill.*   kill -9 of the rebuilding process at random moments;
**   rebuild.intr.*   sqlite3_interrupt() (a progress handler) at each point
**                    of the rebuild;
**   rebuild.two.*    two processes that find the same stale file at once:
**                    both read right, and the file is rebuilt once.
** After each, a fresh connection reads every vector exactly as stored,
** search agrees, and veles_check is ok. Two starting points: the side
** file missing (a database copied alone), and a stale side file of an
** older moment (a database restored beside today's file).
*/
#include "testutil.h"
#include "faultfs.h"
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NDIM   64
#define NROW   20000           /* 5 MB of vectors */
#define CUT_EXIT 77

static char zDataDir[600], zShadowDir[600], zDb[700];

/* The side files of t.db in the data directory (and the name of one). */
static int sideFiles(char *zName, int nName){
  DIR *d = opendir(zDataDir);
  struct dirent *e;
  int n = 0;
  while( d && (e = readdir(d))!=0 ){
    if( strncmp(e->d_name, "t.db-vectors-", 13)==0 ){
      if( zName && strlen(zDataDir)+strlen(e->d_name)+2<=(size_t)nName ){
        strcpy(zName, zDataDir);
        strcat(zName, "/");
        strcat(zName, e->d_name);
      }
      n++;
    }
  }
  if( d ) closedir(d);
  return n;
}

static void vectorFor(int id, float *a){
  int i;
  for(i=0; i<NDIM; i++) a[i] = (float)(id*0.25 + i);
}

/* Insert ids iFirst..iLast (vectorFor) into e, in one transaction. */
static void insertRange(sqlite3 *db, int iFirst, int iLast){
  sqlite3_stmt *p;
  float a[NDIM];
  int id;
  tExec(db, "BEGIN");
  sqlite3_prepare_v2(db, "INSERT INTO e VALUES (?, ?)", -1, &p, 0);
  for(id=iFirst; id<=iLast; id++){
    vectorFor(id, a);
    sqlite3_bind_int(p, 1, id);
    sqlite3_bind_blob(p, 2, a, sizeof(a), SQLITE_STATIC);
    sqlite3_step(p);
    sqlite3_reset(p);
  }
  sqlite3_finalize(p);
  tExec(db, "COMMIT");
}

/* saved.db: NROW vectors, then 10% deleted and 10% more inserted (so the
** copy has holes and reused slots); stale.side: its side file from before
** the last two commits. */
static void makeSaved(void){
  sqlite3 *db;
  tShell("rm -f saved.db* stale.side");
  db = tOpen("saved.db");
  tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=%d)", NDIM);
  insertRange(db, 1, NROW);
  tClose(db);
  tShell("cp saved.db-vectors-* stale.side");
  db = tOpen("saved.db");
  tExec(db, "DELETE FROM e WHERE id%%10=3");
  insertRange(db, NROW+1, NROW+NROW/10);
  tClose(db);
}

/* The data directory holds saved.db as t.db, with no side file (bStale
** 0) or the stale one. */
static void resetDir(int bStale){
  tShell("rm -rf '%s' '%s' && mkdir -p '%s' && cp saved.db '%s'", zDataDir,
         zShadowDir, zDataDir, zDb);
  if( bStale ){
    tShell("cd '%s' && f=$(ls ../saved.db-vectors-*) && cp ../stale.side "
           "\"t.db${f#../saved.db}\"", zDataDir);
  }
}

/* Read every vector and a search; 0 when all is right, else SQLite's code
** (zErr gets the message). */
static int readAll(sqlite3 *db, char *zErr, int nErr){
  sqlite3_stmt *p = 0;
  float a[NDIM];
  int rc, n = 0, nBad = 0;
  zErr[0] = 0;
  rc = sqlite3_prepare_v2(db, "SELECT id, vec FROM e", -1, &p, 0);
  while( rc==SQLITE_OK && (rc = sqlite3_step(p))==SQLITE_ROW ){
    int id = sqlite3_column_int(p, 0);
    vectorFor(id, a);
    if( sqlite3_column_bytes(p, 1)!=(int)sizeof(a)
     || memcmp(sqlite3_column_blob(p, 1), a, sizeof(a))!=0 ) nBad++;
    n++;
    rc = SQLITE_OK;
  }
  if( rc==SQLITE_DONE ) rc = SQLITE_OK;
  if( rc ) snprintf(zErr, (size_t)nErr, "%s", sqlite3_errmsg(db));
  sqlite3_finalize(p);
  if( rc==SQLITE_OK && (nBad || n!=NROW) ){
    snprintf(zErr, (size_t)nErr, "%d rows, %d wrong", n, nBad);
    return SQLITE_CORRUPT;
  }
  if( rc==SQLITE_OK ){
    vectorFor(777, a);
    sqlite3_prepare_v2(db, "SELECT id FROM e WHERE vec MATCH ? AND k=1", -1,
                       &p, 0);
    sqlite3_bind_blob(p, 1, a, sizeof(a), SQLITE_STATIC);
    rc = sqlite3_step(p);
    if( rc!=SQLITE_ROW || sqlite3_column_int(p, 0)!=777 ){
      snprintf(zErr, (size_t)nErr, "search: %s", sqlite3_errmsg(db));
      rc = rc==SQLITE_ROW ? SQLITE_CORRUPT : rc;
    }else{
      rc = SQLITE_OK;
    }
    sqlite3_finalize(p);
  }
  return rc;
}

/* After the fault: a fresh connection reads it all right, check ok. */
static void verify(const char *zCase){
  char zErr[300];
  sqlite3 *db = tOpen(zDb);
  if( !tCheck(zCase, readAll(db, zErr, sizeof(zErr))==SQLITE_OK,
              "every vector right afterwards") ){
    fprintf(stderr, "  %s\n", zErr);
  }
  tRows(zCase, db, "SELECT veles_check('e')", "ok");
  tClose(db);
  tCheck(zCase, sideFiles(0, 0)==1, "one side file, no leftover");
}

static void powerCuts(int bStale, int eGarble){
  int k;
  for(k=1; k<50; k++){
    char zCase[64];
    int status;
    pid_t pid;
    snprintf(zCase, sizeof(zCase), "rebuild.cut.%s.%d.%d",
             bStale ? "stale" : "missing", eGarble, k);
    resetDir(bStale);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if( pid==0 ){
      char zErr[300];
      sqlite3 *db;
      faultfsTrack(zDataDir, zShadowDir);
      faultfsPowerCut(k, eGarble, (unsigned)k, CUT_EXIT);
      db = tOpen(zDb);
      _exit(readAll(db, zErr, sizeof(zErr))==SQLITE_OK ? 0 : 1);
    }
    waitpid(pid, &status, 0);
    if( WIFEXITED(status) && WEXITSTATUS(status)==0 ){
      verify(zCase);
      break;                          /* no sync left to cut */
    }
    tCheck(zCase, WIFEXITED(status) && WEXITSTATUS(status)==CUT_EXIT,
           "the rebuild reads right or the power goes");
    verify(zCase);
  }
  tCheck("rebuild.cut", k>1 && k<50, "the rebuild syncs");
}

static void ioErrors(int bStale){
  int k, nOp = 0;
  for(k=1; ; k++){
    char zCase[64], zErr[300];
    sqlite3 *db;
    int rc;
    snprintf(zCase, sizeof(zCase), "rebuild.eio.%s.%d",
             bStale ? "stale" : "missing", k);
    resetDir(bStale);
    faultfsTrack(zDataDir, zShadowDir);
    faultfsFail(FAULTFS_WRITE|FAULTFS_SYNC, "-vectors-", k, EIO, 0);
    db = tOpen(zDb);
    rc = readAll(db, zErr, sizeof(zErr));
    nOp = faultfsOpCount();
    faultfsClear();
    faultfsUntrack();
    if( rc ){
      if( !tCheck(zCase, (rc & 0xff)==SQLITE_IOERR
                  && strstr(zErr, "Input/output error")!=0,
                  "the read fails with the I/O error") ){
        fprintf(stderr, "  got %d: %s\n", rc, zErr);
      }
      /* and the same connection reads right once the fault is gone */
      rc = readAll(db, zErr, sizeof(zErr));
      if( !tCheck(zCase, rc==SQLITE_OK, "right after the fault") ){
        fprintf(stderr, "  %s\n", zErr);
      }
    }
    tClose(db);
    verify(zCase);
    if( k>nOp ) break;
  }
  tCheck("rebuild.eio", nOp>3, "the rebuild writes and syncs");
}

static void kills(void){
  int i;
  srand(7);
  for(i=0; i<8; i++){
    char zCase[64];
    int status;
    pid_t pid;
    snprintf(zCase, sizeof(zCase), "rebuild.kill.%d", i);
    resetDir(i%2);
    pid = fork();
    if( pid==0 ){
      char zErr[300];
      sqlite3 *db = tOpen(zDb);
      _exit(readAll(db, zErr, sizeof(zErr))==SQLITE_OK ? 0 : 1);
    }
    usleep((useconds_t)(1000 + rand()%20000));
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    verify(zCase);
  }
}

static int nProgress, nStop;
static int stopAt(void *p){
  (void)p;
  return ++nProgress>=nStop;
}

/* A point read rebuilds the file; the progress handler interrupts the
** k-th virtual machine step of it (the rebuild reads the copy with a
** statement of its own, which the handler covers too). */
static void interrupts(void){
  int k, bDone = 0, nIntr = 0;
  for(k=1; !bDone && k<100000; k+=k/4+1){
    char zCase[64], zErr[300];
    sqlite3 *db;
    int rc;
    snprintf(zCase, sizeof(zCase), "rebuild.intr.%d", k);
    resetDir(k%2);
    db = tOpen(zDb);
    nProgress = 0;
    nStop = k;
    sqlite3_progress_handler(db, 1, stopAt, 0);
    rc = sqlite3_exec(db, "SELECT vec FROM e WHERE id=5", 0, 0, 0);
    sqlite3_progress_handler(db, 0, 0, 0);
    if( rc ){
      nIntr++;
      tCheck(zCase, rc==SQLITE_INTERRUPT, sqlite3_errmsg(db));
      tCheck(zCase, sideFiles(0, 0)<=1, "no leftover");
    }else{
      bDone = 1;
    }
    rc = readAll(db, zErr, sizeof(zErr));
    if( !tCheck(zCase, rc==SQLITE_OK, "right once not interrupted") ){
      fprintf(stderr, "  %s\n", zErr);
    }
    tClose(db);
    verify(zCase);
  }
  printf("rebuild interrupted at %d points\n", nIntr);
  tCheck("rebuild.intr", bDone && nIntr>3, "interrupted, then not");
}

static void twoProcesses(void){
  int r;
  for(r=0; r<4; r++){
    char zCase[64];
    int aFd[2], i, nOk = 0;
    long long aIno[2] = {0, 0};
    snprintf(zCase, sizeof(zCase), "rebuild.two.%d", r);
    resetDir(r%2);
    if( pipe(aFd) ) exit(2);
    for(i=0; i<2; i++){
      if( fork()==0 ){
        char zErr[300], zSide[800] = "?";
        struct stat st;
        long long ino = -1;
        sqlite3 *db = tOpen(zDb);
        int rc = readAll(db, zErr, sizeof(zErr));
        sideFiles(zSide, sizeof(zSide));
        if( rc==SQLITE_OK && stat(zSide, &st)==0 ) ino = (long long)st.st_ino;
        if( write(aFd[1], &ino, sizeof(ino))!=sizeof(ino) ) _exit(2);
        _exit(rc==SQLITE_OK ? 0 : 1);
      }
    }
    close(aFd[1]);
    for(i=0; i<2; i++){
      int status;
      wait(&status);
      if( WIFEXITED(status) && WEXITSTATUS(status)==0 ) nOk++;
      if( read(aFd[0], &aIno[i], sizeof(aIno[i]))!=sizeof(aIno[i]) ){
        aIno[i] = -2;
      }
    }
    close(aFd[0]);
    tCheck(zCase, nOk==2, "both processes read every vector right");
    tCheck(zCase, aIno[0]>0 && aIno[0]==aIno[1], "one rebuild: both see "
           "the same file");
    verify(zCase);
  }
}

int main(int argc, char **argv){
  char zCwd[512];
  tInit(argc, argv);
  if( getcwd(zCwd, sizeof(zCwd))==0 ) return 2;
  snprintf(zDataDir, sizeof(zDataDir), "%s/data", zCwd);
  snprintf(zShadowDir, sizeof(zShadowDir), "%s/shadow", zCwd);
  snprintf(zDb, sizeof(zDb), "%s/t.db", zDataDir);
  makeSaved();
  powerCuts(0, FAULTFS_DROP);
  powerCuts(1, FAULTFS_DROP);
  powerCuts(1, FAULTFS_TORN);
  powerCuts(1, FAULTFS_GARBLE);
  ioErrors(0);
  ioErrors(1);
  kills();
  interrupts();
  twoProcesses();
  return tDone();
}
