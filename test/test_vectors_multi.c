/*
** Several connections and processes on one database: each sees the
** others' commits (no stale cache), and in WAL mode a reader keeps
** exactly its snapshot while another connection deletes, overwrites and
** inserts, however long the churn and however many checkpoints run.
*/
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *rows(sqlite3 *db, const char *zSql){ return tQuery(db, zSql); }

static void testTwoConnections(const char *zMode){
  char zName[64];
  sqlite3 *a, *b;
  snprintf(zName, sizeof(zName), "two-%s.db", zMode);
  a = tOpen(zName);
  tExec(a, "PRAGMA journal_mode=%s", zMode);
  tExec(a, "CREATE VIRTUAL TABLE v USING vectors");
  b = tOpen(zName);
  /* b sees a's table, and a's first vector fixes the dimension for b */
  tExec(a, "INSERT INTO v VALUES (1,'[1,1]')");
  tRows("1.0", b, "SELECT id, hex(vec) FROM v", "1|0000803F0000803F");
  tError("1.1", b, "INSERT INTO v VALUES (2,'[1,1,1]')",
         "vectors: dimension mismatch: expected 2, got 3");
  /* alternate writers: each must see the other's slots as taken */
  tExec(b, "INSERT INTO v VALUES (2,'[2,2]')");
  tExec(a, "INSERT INTO v VALUES (3,'[3,3]')");
  tExec(b, "DELETE FROM v WHERE id=1");
  tExec(a, "INSERT INTO v VALUES (4,'[4,4]')");
  tExec(b, "UPDATE v SET vec='[5,5]' WHERE id=2");
  tExec(a, "INSERT INTO v VALUES (6,'[6,6]')");
  tExec(b, "INSERT INTO v VALUES (7,'[7,7]')");
  tRows(strcmp(zMode, "wal") ? "1.2" : "1.3", a,
        "SELECT id, hex(vec) FROM v",
        "2|0000A0400000A040\n3|0000404000004040\n4|0000804000008040\n"
        "6|0000C0400000C040\n7|0000E0400000E040");
  tRows(strcmp(zMode, "wal") ? "1.4" : "1.5", b,
        "SELECT count(DISTINCT slot), count(*) FROM v_map", "5|5");
  /* a table without dim: the other connection's first vector fixes it,
  ** and this one reads it at once */
  tExec(a, "CREATE VIRTUAL TABLE nodim USING vectors");
  tExec(b, "INSERT INTO nodim VALUES (1,'[1,2,3]')");
  tRows(strcmp(zMode, "wal") ? "1.6" : "1.7", a,
        "SELECT id, hex(vec) FROM nodim", "1|0000803F0000004000004040");
  tClose(a);
  tClose(b);
}

/* Run churn rounds on connection w: delete, overwrite, insert. */
static void churn(sqlite3 *w, int nRound, int iSeed){
  int r;
  for(r=0; r<nRound; r++){
    int k = iSeed*1000 + r;
    tExec(w, "BEGIN");
    tExec(w, "DELETE FROM s WHERE id %% 7 = %d", r % 7);
    tExec(w, "UPDATE s SET vec = veles_vec(json_array(id, %d, 0, 0)) "
             "WHERE id %% 5 = %d", k, r % 5);
    tExec(w, "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n "
             "WHERE i<49) INSERT OR REPLACE INTO s "
             "SELECT (i*13 + %d) %% 300, veles_vec(json_array(i, %d, 1, 1)) "
             "FROM n", r, k);
    tExec(w, "COMMIT");
    if( r%3==0 ) tExec(w, "PRAGMA wal_checkpoint(PASSIVE)");
  }
}

static void testWalSnapshot(void){
  sqlite3 *r, *w;
  char *zSnap, *zAgain;
  r = tOpen("snap.db");
  tExec(r, "PRAGMA journal_mode=wal");
  tExec(r, "CREATE VIRTUAL TABLE s USING vectors(dim=4)");
  tExec(r, "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n "
           "WHERE i<299) INSERT INTO s SELECT i, veles_vec(json_array(i,0,0,0))"
           " FROM n");
  w = tOpen("snap.db");
  /* the reader opens a snapshot */
  tExec(r, "BEGIN");
  zSnap = rows(r, "SELECT id, hex(vec) FROM s");
  churn(w, 40, 1);
  zAgain = rows(r, "SELECT id, hex(vec) FROM s");
  tCheck("2.0", strcmp(zSnap, zAgain)==0, "reader sees its snapshot");
  sqlite3_free(zAgain);
  /* also through a fresh statement and a point lookup */
  tRows("2.1", r, "SELECT hex(vec) FROM s WHERE id = 150",
        "00001643000000000000000000000000");
  tExec(r, "COMMIT");
  /* after the snapshot ends, the reader sees the newest state */
  zAgain = rows(r, "SELECT id, hex(vec) FROM s");
  {
    char *zW = rows(w, "SELECT id, hex(vec) FROM s");
    tCheck("2.2", strcmp(zW, zAgain)==0, "reader caught up");
    sqlite3_free(zW);
  }
  sqlite3_free(zAgain);
  sqlite3_free(zSnap);
  /* freed slots are reused once no reader holds an old snapshot */
  {
    long long nBefore, nAfter;
    churn(w, 30, 2);
    nBefore = tInt(w, "SELECT max(slot) FROM s_map");
    churn(w, 60, 3);
    nAfter = tInt(w, "SELECT max(slot) FROM s_map");
    tCheck("2.3", nAfter <= nBefore + 200, "slots reused in WAL mode");
  }
  tRows("2.4", w, "PRAGMA integrity_check", "ok");
  tClose(r);
  tClose(w);
}

/* Another process commits; this one must see it at once. */
static void testProcesses(void){
  sqlite3 *db = tOpen("proc.db");
  int i, status = 0;
  pid_t pid;
  tExec(db, "PRAGMA journal_mode=wal");
  tExec(db, "CREATE VIRTUAL TABLE p USING vectors(dim=2)");
  tExec(db, "INSERT INTO p VALUES (0,'[0,0]')");
  for(i=1; i<=20; i++){
    fflush(stdout);
    pid = fork();
    if( pid==0 ){
      sqlite3 *c = tOpen("proc.db");
      tExec(c, "INSERT INTO p VALUES (%d, '[%d,%d]')", i, i, i);
      tExec(c, "UPDATE p SET vec='[%d,0]' WHERE id=0", i);
      sqlite3_close(c);
      _exit(0);
    }
    waitpid(pid, &status, 0);
    /* this connection's last write was before the child's */
    tExec(db, "INSERT INTO p VALUES (%d, '[-1,-1]')", 1000+i);
  }
  tRows("3.0", db, "SELECT count(*), count(DISTINCT slot) FROM p_map",
        "41|41");
  tRows("3.1", db, "SELECT hex(vec) FROM p WHERE id=0", "0000A04100000000");
  tRows("3.2", db, "SELECT hex(vec) FROM p WHERE id=20", "0000A0410000A041");
  tClose(db);
}

int main(int argc, char **argv){
  tInit(argc, argv);
  tAutoCheck(1);      /* veles_check (side file = database copy) after each commit */
  testTwoConnections("delete");
  testTwoConnections("wal");
  testWalSnapshot();
  testProcesses();
  return tDone();
}
