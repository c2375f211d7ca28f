/*
** SELECT veles_backup('path'[, 'schema']) (ext/backup.c), as a user
** drives it:
**   1.*  a backup while a second connection commits inserts, deletes and
**        overwrites between the backup's steps (a progress handler on the
**        backing-up connection runs them), in WAL and rollback-journal
**        mode; the backup, opened alone, holds exactly one of the states
**        the writer committed (every vector of a db_copy=off table, a
**        db_copy=on table and a payloads table), and a later one than the
**        backup's start is not it; its side files are used as written
**        (no rebuild); it can be written and checked;
**   2.*  errors: the destination exists, NULL or ':memory:', an unknown
**        schema, a transaction that has written;
**   3.*  inside a read transaction: the backup is of its snapshot;
**   4.*  sqlite3_interrupt() at every point of a backup: an error, and no
**        file left behind;
**   5.*  an attached database;
**   6.*  a :memory: database: tables with the copy come along (their side
**        file is made at the first use), one without it is refused;
**   7.*  a table made before the binding (format 1): its side file, as is.
*/
#include "testutil.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NDIM   32
#define NID    12000           /* ids 1..NID; 10000 at the start */
#define NGEN   64              /* writer generations kept in the model */
#define NTOUCH 40              /* ids a writer generation touches */

/* model[g][id]: the generation that wrote id's vector in state g, 0 when
** the id is absent */
static short model[NGEN][NID+1];
static int nGen;               /* states 0..nGen-1 are committed */
static unsigned iRand = 1;

static unsigned rnd(void){
  iRand = iRand*1103515245u + 12345u;
  return (iRand>>8) & 0xffffff;
}

/* Table t's vector for id written by generation g. */
static void vecFor(int t, int id, int g, float *a){
  int i;
  a[0] = (float)id;
  a[1] = (float)g;
  a[2] = (float)t;
  for(i=3; i<NDIM; i++) a[i] = (float)(id%97) + (float)i*0.5f + (float)g;
}

static int stepOk(sqlite3_stmt *p){
  int rc = sqlite3_step(p);
  sqlite3_reset(p);
  return rc==SQLITE_DONE ? SQLITE_OK : rc;
}

/* Write id's rows of generation g in e, f and p (g 0: delete them). */
static int writeId(sqlite3 *db, int id, int g){
  static const char *const azDel[] = {
    "DELETE FROM e WHERE id=?1", "DELETE FROM f WHERE id=?1",
    "DELETE FROM p WHERE id=?1" };
  static const char *const azPut[] = {
    "INSERT OR REPLACE INTO e(id, vec) VALUES (?1, ?2)",
    "INSERT OR REPLACE INTO f(id, vec) VALUES (?1, ?2)",
    "INSERT OR REPLACE INTO p(id, json) VALUES (?1, json_object('g', ?3))" };
  float a[NDIM];
  int t, rc = SQLITE_OK;
  for(t=0; rc==SQLITE_OK && t<3; t++){
    sqlite3_stmt *p = 0;
    rc = sqlite3_prepare_v2(db, g ? azPut[t] : azDel[t], -1, &p, 0);
    if( rc ) break;
    vecFor(t, id, g, a);
    sqlite3_bind_int(p, 1, id);
    if( g ){
      sqlite3_bind_blob(p, 2, a, sizeof(a), SQLITE_TRANSIENT);
      sqlite3_bind_int(p, 3, g);
    }
    rc = stepOk(p);
    sqlite3_finalize(p);
  }
  return rc;
}

/* The first state: ids 1..10000 of generation 1. */
static void firstState(sqlite3 *db){
  int id;
  memset(model, 0, sizeof(model));
  tExec(db, "BEGIN");
  for(id=1; id<=10000; id++){
    if( writeId(db, id, 1) ) break;
    model[0][id] = 1;
  }
  tExec(db, "COMMIT");
  nGen = 1;
}

/* One writer transaction on db: NTOUCH ids deleted, overwritten or
** inserted. Returns SQLITE_OK when it committed (the model then has a new
** state), else its error (it is rolled back). */
static int writerStep(sqlite3 *db){
  short *pNew;
  int i, rc, g = nGen+1;
  if( nGen>=NGEN ) return SQLITE_FULL;
  pNew = model[nGen];
  memcpy(pNew, model[nGen-1], sizeof(model[0]));
  rc = sqlite3_exec(db, "BEGIN", 0, 0, 0);
  for(i=0; rc==SQLITE_OK && i<NTOUCH; i++){
    int id = 1 + (int)(rnd()%NID);
    int gNew = pNew[id] && rnd()%2 ? 0 : g;       /* delete or write */
    rc = writeId(db, id, gNew);
    pNew[id] = (short)gNew;
  }
  if( rc==SQLITE_OK ) rc = sqlite3_exec(db, "COMMIT", 0, 0, 0);
  if( rc ){
    sqlite3_exec(db, "ROLLBACK", 0, 0, 0);
    return rc;
  }
  nGen++;
  return SQLITE_OK;
}

/* got[id] = the generation of table t's row (0 absent, -1 a wrong
** vector), from db. Returns 0, or -1 after an error (reported). */
static int readTable(const char *zCase, sqlite3 *db, int t, short *got){
  static const char *const azSql[] = { "SELECT id, vec FROM e",
    "SELECT id, vec FROM f", "SELECT id, json_extract(json, '$.g') FROM p" };
  sqlite3_stmt *p = 0;
  float a[NDIM];
  int rc;
  memset(got, 0, sizeof(short)*(NID+1));
  rc = sqlite3_prepare_v2(db, azSql[t], -1, &p, 0);
  while( rc==SQLITE_OK && (rc = sqlite3_step(p))==SQLITE_ROW ){
    int id = sqlite3_column_int(p, 0), g;
    if( id<1 || id>NID ) continue;
    if( t==2 ){
      got[id] = (short)sqlite3_column_int(p, 1);
    }else{
      const float *v = sqlite3_column_blob(p, 1);
      g = sqlite3_column_bytes(p, 1)==(int)sizeof(a) ? (int)v[1] : -1;
      if( g>0 ) vecFor(t, id, g, a);
      got[id] = (short)(g>0 && memcmp(v, a, sizeof(a))==0 ? g : -1);
    }
    rc = SQLITE_OK;
  }
  if( rc==SQLITE_DONE ) rc = SQLITE_OK;
  if( rc ) tCheck(zCase, 0, sqlite3_errmsg(db));
  sqlite3_finalize(p);
  return rc ? -1 : 0;
}

/* Which committed state do e, f and p of db hold? -1 when none. */
static int whichState(const char *zCase, sqlite3 *db){
  static short got[3][NID+1];
  int t, g, iBest = -1, nBest = NID+1;
  for(t=0; t<3; t++){
    if( readTable(zCase, db, t, got[t]) ) return -1;
  }
  for(g=0; g<nGen; g++){
    int id, nDiff = 0;
    for(t=0; t<3; t++){
      for(id=1; id<=NID; id++) nDiff += got[t][id]!=model[g][id];
    }
    if( nDiff<nBest ){
      nBest = nDiff;
      iBest = g;
    }
  }
  if( nBest ){
    char zWhat[120];
    snprintf(zWhat, sizeof(zWhat), "holds a committed state (nearest: "
             "state %d, %d rows differ)", iBest, nBest);
    tCheck(zCase, 0, zWhat);
    return -1;
  }
  return iBest;
}

/* The sum of the inode numbers of the side files of zDb: a rebuild
** (which renames a new file into place) changes it. */
static long long sideInodes(const char *zDb){
  char zPre[80];
  DIR *d = opendir(".");
  struct dirent *e;
  long long n = 0;
  snprintf(zPre, sizeof(zPre), "%s-vectors-", zDb);
  while( d && (e = readdir(d))!=0 ){
    struct stat st;
    if( strncmp(e->d_name, zPre, strlen(zPre))==0
     && stat(e->d_name, &st)==0 ){
      n += (long long)st.st_ino;
    }
  }
  if( d ) closedir(d);
  return n;
}

/* ---- 1: a backup while another connection commits ------------------ */

static sqlite3 *pWriter;       /* the writer the progress handler runs */
static int nCall, nEvery, nOk, nBusy;

static int writeBetween(void *pArg){
  (void)pArg;
  if( ++nCall % nEvery==0 && nGen<NGEN ){
    int rc = writerStep(pWriter);
    if( rc==SQLITE_OK ) nOk++;
    else if( rc==SQLITE_BUSY ) nBusy++;
    else fprintf(stderr, "writer: %s\n", sqlite3_errmsg(pWriter));
  }
  return 0;
}

static void concurrent(const char *zJournal){
  char zCase[64], zDb[64];
  sqlite3 *db, *pB;
  int i, j, bWal = strcmp(zJournal, "wal")==0;
  long long iIno;
  snprintf(zDb, sizeof(zDb), "%s.db", zJournal);
  db = tOpen(zDb);
  tExec(db, "PRAGMA journal_mode=%s; PRAGMA synchronous=OFF", zJournal);
  tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=%d, db_copy=off);"
            "CREATE VIRTUAL TABLE f USING vectors(dim=%d);"
            "CREATE VIRTUAL TABLE p USING payloads", NDIM, NDIM);
  firstState(db);
  pWriter = tOpen(zDb);
  sqlite3_busy_timeout(pWriter, 0);
  /* what is tested is the backup's snapshot, not the writer's syncs */
  tExec(pWriter, "PRAGMA synchronous=OFF");
  /* freed slots, made reusable (the WAL restarted): the writes during
  ** the backup reuse them */
  for(i=0; i<4; i++) writerStep(pWriter);
  if( bWal ) tExec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  for(i=0; i<2; i++) writerStep(pWriter);

  /* 1.0: the backup, with a writer transaction every 6th VM step */
  snprintf(zCase, sizeof(zCase), "1.0.%s", zJournal);
  nCall = nOk = nBusy = 0;
  nEvery = 6;
  sqlite3_progress_handler(db, 1, writeBetween, 0);
  snprintf(zDb, sizeof(zDb), "%s-copy.db", zJournal);
  {
    char *zSql = sqlite3_mprintf("SELECT veles_backup('%q')", zDb);
    tRows(zCase, db, zSql, "2");
    sqlite3_free(zSql);
  }
  sqlite3_progress_handler(db, 0, 0, 0);
  printf("%s: %d VM steps, %d writer commits, %d busy\n", zJournal, nCall,
         nOk, nBusy);
  snprintf(zCase, sizeof(zCase), "1.1.%s", zJournal);
  if( bWal ){
    tCheck(zCase, nOk>=10 && nBusy==0, "the writer went on");
  }else{
    tCheck(zCase, nBusy>=5, "the writer waited for the backup");
  }

  /* 1.2: the backup alone holds one committed state, older than the
  ** writer's last, with its side files as written */
  snprintf(zCase, sizeof(zCase), "1.2.%s", zJournal);
  tClose(pWriter);
  tClose(db);
  tCheck(zCase, tCountFiles(zDb)==3, "the database and two side files");
  iIno = sideInodes(zDb);
  pB = tOpen(zDb);
  j = whichState(zCase, pB);
  printf("%s: the backup holds state %d of %d\n", zJournal, j, nGen-1);
  if( bWal ){
    tCheck(zCase, j>=0 && j<nGen-5, "writes after the snapshot are not in it");
  }else{
    tCheck(zCase, j>=0, "a committed state");
  }
  snprintf(zCase, sizeof(zCase), "1.3.%s", zJournal);
  tRows(zCase, pB, "SELECT veles_check('e'), veles_check('f'), "
        "veles_check('p'), (SELECT * FROM pragma_integrity_check), "
        "(SELECT * FROM pragma_journal_mode)",
        bWal ? "ok|ok|ok|ok|wal" : "ok|ok|ok|ok|delete");
  tCheck(zCase, iIno>0 && iIno==sideInodes(zDb) && tCountFiles(zDb)<=5,
         "the side files were used, not rebuilt");
  /* 1.4: the backup goes on as a database of its own */
  snprintf(zCase, sizeof(zCase), "1.4.%s", zJournal);
  tExec(pB, "DELETE FROM e WHERE id%%3=0; UPDATE f SET vec=vec WHERE id<50;"
            "INSERT INTO e VALUES (20000, '[%s]')",
        "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,"
        "26,27,28,29,30,31,32");
  tRows(zCase, pB, "SELECT veles_check('e'), veles_check('f')", "ok|ok");
  tClose(pB);

  /* 1.5: the source is as the writer left it */
  snprintf(zCase, sizeof(zCase), "1.5.%s", zJournal);
  snprintf(zDb, sizeof(zDb), "%s.db", zJournal);
  db = tOpen(zDb);
  tCheck(zCase, whichState(zCase, db)==nGen-1, "the writer's last state");
  tVelesCheck(zCase, db);
  tClose(db);
}

/* ---- 2, 3: errors, and a read transaction -------------------------- */

static void errorsAndTransactions(void){
  sqlite3 *db = tOpen("a.db"), *pW;
  tExec(db, "PRAGMA journal_mode=wal;"
            "CREATE VIRTUAL TABLE e USING vectors(dim=2, db_copy=off);"
            "INSERT INTO e VALUES (1, '[1,1]'), (2, '[2,2]')");
  tShell("touch exists.db");
  tError("2.0", db, "SELECT veles_backup('exists.db')",
         "veles_backup: the destination already exists: exists.db (remove "
         "it or give a new name)");
  tError("2.1", db, "SELECT veles_backup(NULL)",
         "veles_backup: expected the name of a new file, got NULL");
  tError("2.2", db, "SELECT veles_backup(':memory:')",
         "veles_backup: expected the name of a new file, got ':memory:'");
  tError("2.3", db, "SELECT veles_backup('x.db', 'nope')",
         "veles_backup: no such database: nope");
  tExec(db, "BEGIN; INSERT INTO e VALUES (3, '[3,3]')");
  tError("2.4", db, "SELECT veles_backup('x.db')",
         "veles_backup: the open transaction is writing to main: commit or "
         "roll back first");
  tExec(db, "ROLLBACK");
  tExec(db, "CREATE VIEW v AS SELECT veles_backup('x.db')");
  tError("2.6", db, "SELECT * FROM v",
         "unsafe use of veles_backup()");
  tCheck("2.7", tCountFiles("x.db")==0, "nothing written");

  /* 3.0: in a read transaction, the transaction's snapshot */
  pW = tOpen("a.db");
  tExec(db, "BEGIN; SELECT count(*) FROM e");
  tExec(pW, "INSERT INTO e VALUES (3, '[3,3]'); DELETE FROM e WHERE id=1");
  tRows("3.0", db, "SELECT veles_backup('r.db')", "1");
  tExec(db, "COMMIT");
  tClose(pW);
  tClose(db);
  db = tOpen("r.db");
  tRows("3.1", db, "SELECT id, veles_json(vec) FROM e",
        "1|[1.0,1.0]\n2|[2.0,2.0]");
  tVelesCheck("3.2", db);
  tClose(db);
}

/* ---- 4: interrupted at every point --------------------------------- */

static int nStop;

static int interruptAt(void *pArg){
  if( ++nCall==nStop ) sqlite3_interrupt((sqlite3*)pArg);
  return 0;
}

static void interrupts(void){
  sqlite3 *db = tOpen("delete.db");     /* the model's last database */
  int k, nIntr = 0, bDone = 0;
  for(k=1; !bDone && k<1000000; k+=k/5+1){
    char zCase[64];
    int rc;
    snprintf(zCase, sizeof(zCase), "4.%d", k);
    nCall = 0;
    nStop = k;
    sqlite3_progress_handler(db, 1, interruptAt, db);
    rc = sqlite3_exec(db, "SELECT veles_backup('i.db')", 0, 0, 0);
    sqlite3_progress_handler(db, 0, 0, 0);
    if( rc ){
      nIntr++;
      tCheck(zCase, rc==SQLITE_INTERRUPT, sqlite3_errmsg(db));
      tCheck(zCase, tCountFiles("i.db")==0, "nothing left behind");
    }else{
      bDone = 1;
      tCheck(zCase, tCountFiles("i.db")==3, "a whole backup");
    }
  }
  printf("backup interrupted at %d points\n", nIntr);
  tCheck("4.0", bDone && nIntr>10, "interrupted, then not");
  tClose(db);
  db = tOpen("i.db");
  tCheck("4.1", whichState("4.1", db)==nGen-1, "the whole state");
  tClose(db);
}

/* ---- 5, 6: an attached database; :memory: -------------------------- */

static void attachedAndMemory(void){
  sqlite3 *db = tOpen("m.db");
  tExec(db, "ATTACH 'aux.db' AS aux;"
            "CREATE VIRTUAL TABLE aux.e USING vectors(dim=2, db_copy=off);"
            "INSERT INTO aux.e VALUES (7, '[7,7]')");
  tRows("5.0", db, "SELECT veles_backup('aux-copy.db', 'aux')", "1");
  tClose(db);
  db = tOpen("aux-copy.db");
  tRows("5.1", db, "SELECT id, veles_json(vec) FROM e", "7|[7.0,7.0]");
  tVelesCheck("5.2", db);
  tClose(db);

  db = tOpen(":memory:");
  tExec(db, "CREATE VIRTUAL TABLE f USING vectors(dim=2);"
            "INSERT INTO f VALUES (1, '[1,2]'), (2, '[3,4]')");
  tRows("6.0", db, "SELECT veles_backup('mem-copy.db')", "0");
  tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=2, db_copy=off)");
  tError("6.1", db, "SELECT veles_backup('mem-copy2.db')",
         "veles_backup: table e keeps its vectors in this connection's "
         "memory only (db_copy=off, and a temp or in-memory database or a "
         "VFS without files): they cannot be backed up; make the table with "
         "db_copy=on");
  tCheck("6.2", tCountFiles("mem-copy2.db")==0, "nothing written");
  tClose(db);
  db = tOpen("mem-copy.db");
  tRows("6.3", db, "SELECT id, veles_json(vec) FROM f",
        "1|[1.0,2.0]\n2|[3.0,4.0]");
  tVelesCheck("6.4", db);
  tCheck("6.5", tCountFiles("mem-copy.db-vectors-")==1,
         "its side file made at the first use");
  tClose(db);
}

/* ---- 7: a table made before the binding (format 1) ---------------- */

static void formatOne(void){
  sqlite3 *db = tOpen("f1.db");
  tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=2);"
            "INSERT INTO e VALUES (1, '[1,1]'), (2, '[2,2]'), (3, '[3,3]');"
            "DELETE FROM e WHERE id=2;");
  tClose(db);
  tToFormat1("f1.db", "e");
  db = tOpen("f1.db");
  tRows("7.0", db, "SELECT veles_backup('f1-copy.db')", "1");
  tClose(db);
  db = tOpen("f1-copy.db");
  tRows("7.1", db, "SELECT id, veles_json(vec) FROM e",
        "1|[1.0,1.0]\n3|[3.0,3.0]");
  tRows("7.2", db, "SELECT veles_check('e')", "e: format 1 (made by an "
        "older veles): no binding to its side file and no copy of its vectors "
        "in the database; SELECT veles_upgrade('e') adds them");
  tClose(db);
}

int main(int argc, char **argv){
  tInit(argc, argv);
  concurrent("wal");
  concurrent("delete");
  errorsAndTransactions();
  interrupts();
  attachedAndMemory();
  formatOne();
  return tDone();
}
