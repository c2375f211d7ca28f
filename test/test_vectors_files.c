/*
** Where `vectors` keeps its data, and what happens when the side file is
** damaged: ATTACH, temp and :memory: databases, defensive mode, and a
** side file that is missing, truncated, has a bad header or belongs to
** another table.
*/
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void testAttach(void){
  sqlite3 *db = tOpen("main.db");
  tExec(db, "ATTACH 'other.db' AS aux");
  tExec(db, "CREATE VIRTUAL TABLE aux.emb USING vectors(dim=2)");
  tExec(db, "INSERT INTO aux.emb VALUES (1,'[1,2]')");
  tCheck("1.0", tCountFiles("other.db-vectors-")==1
         && tCountFiles("main.db-vectors-")==0, "side file beside other.db");
  tRows("1.1", db, "SELECT hex(vec) FROM aux.emb", "0000803F00000040");
  tExec(db, "BEGIN; INSERT INTO aux.emb VALUES (2,'[3,4]'); "
            "CREATE VIRTUAL TABLE main.emb USING vectors(dim=1); "
            "INSERT INTO main.emb VALUES (1,'[5]'); COMMIT");
  tClose(db);
  db = tOpen("other.db");
  tRows("1.2", db, "SELECT id FROM emb", "1\n2");
  tClose(db);
  db = tOpen("main.db");
  tRows("1.3", db, "SELECT hex(vec) FROM emb", "0000A040");
  tExec(db, "ATTACH 'other.db' AS aux2");
  tRows("1.4", db, "SELECT count(*) FROM aux2.emb", "2");
  tClose(db);
}

static void testMemoryAndTemp(void){
  sqlite3 *db = tOpen(":memory:");
  tExec(db, "CREATE VIRTUAL TABLE m USING vectors(dim=2)");
  tExec(db, "INSERT INTO m VALUES (1,'[1,2]'), (2,'[3,4]')");
  tExec(db, "BEGIN; INSERT INTO m VALUES (3,'[5,6]'); "
            "UPDATE m SET vec='[0,0]' WHERE id=1; ROLLBACK");
  tRows("2.0", db, "SELECT id, hex(vec) FROM m",
        "1|0000803F00000040\n2|0000404000008040");
  tExec(db, "CREATE VIRTUAL TABLE temp.tv USING vectors");
  tExec(db, "INSERT INTO tv VALUES (7,'[7,7,7]')");
  tRows("2.1", db, "SELECT id, hex(vec) FROM temp.tv",
        "7|0000E0400000E0400000E040");
  tExec(db, "DROP TABLE tv");
  tExec(db, "DROP TABLE m");
  tClose(db);
  tCheck("2.2", tCountFiles(":memory:")==0,
         "no files for memory databases");
  db = tOpen("hasfile.db");
  tExec(db, "CREATE VIRTUAL TABLE temp.t2 USING vectors(dim=1)");
  tExec(db, "INSERT INTO t2 VALUES (1,'[1]')");
  tRows("2.3", db, "SELECT hex(vec) FROM t2", "0000803F");
  tCheck("2.4", tCountFiles("hasfile.db-vectors-")==0,
         "a temp table creates no file");
  tClose(db);
}

static void testDefensive(void){
  sqlite3 *db = tOpen("defensive.db");
  tExec(db, "CREATE VIRTUAL TABLE d USING vectors(dim=1)");
  tExec(db, "INSERT INTO d VALUES (1,'[1]')");
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int*)0);
  tError("3.0", db, "UPDATE d_map SET slot = 5",
         "table d_map may not be modified");
  tError("3.1", db, "DELETE FROM d_config",
         "table d_config may not be modified");
  tRows("3.2", db, "SELECT id, slot FROM d_map", "1|0");
  tClose(db);
}

/* Copy a file byte for byte. */
static void copyFile(const char *zFrom, const char *zTo){
  tShell("cp '%s' '%s'", zFrom, zTo);
}


/* Without the database's copy (db_copy=off) a damaged or missing side
** file is reported, never misread. */
static void testDamage(void){
  sqlite3 *db = tOpen("dmg.db");
  char zFile[256], zSql[512], zSaved[300];
  tExec(db, "CREATE VIRTUAL TABLE a USING vectors(dim=4, db_copy=off)");
  tExec(db, "INSERT INTO a VALUES (1,'[1,1,1,1]'), (2,'[2,2,2,2]')");
  tClose(db);
  snprintf(zFile, sizeof(zFile), "%s", tFindFile("dmg.db-vectors-"));
  snprintf(zSaved, sizeof(zSaved), "%s.saved", zFile);
  copyFile(zFile, zSaved);

  /* missing: reads and writes fail, DROP still works */
  unlink(zFile);
  db = tOpen("dmg.db");
  snprintf(zSql, sizeof(zSql), "vectors: table a: side file %s/%s is missing (the table keeps no copy of its vectors in the database, db_copy=off: put back the side file saved with this database file)",
           getcwd(zSql+400, 100), zFile);
  tError("4.0", db, "SELECT * FROM a", zSql);
  tError("4.1", db, "INSERT INTO a VALUES (3,'[3,3,3,3]')", zSql);
  tClose(db);

  /* truncated: the slot past the end is reported, never misread */
  copyFile(zSaved, zFile);
  tShell("truncate -s 4112 dmg.db-vectors-*");
  db = tOpen("dmg.db");
  tRows("4.2", db, "SELECT hex(vec) FROM a WHERE id=1",
        "0000803F0000803F0000803F0000803F");
  {
    char *z = tQuery(db, "SELECT hex(vec) FROM a WHERE id=2");
    tCheck("4.3", strstr(z, "ERROR: vectors: table a: side file")!=0
           && strstr(z, "is truncated: slot 1 is past its end")!=0, z);
    sqlite3_free(z);
  }
  {
    char *z = tQuery(db, "INSERT INTO a VALUES (3,'[3,3,3,3]')");
    tCheck("4.4", strstr(z, "side file is truncated: slot 1 is referenced, "
                         "the file holds 1")!=0, z);
    sqlite3_free(z);
  }
  tClose(db);

  /* a bad header */
  copyFile(zSaved, zFile);
  tShell("printf 'XXXX' | dd of=$(ls dmg.db-vectors-* | grep -v saved) "
         "bs=1 seek=0 conv=notrunc status=none");
  db = tOpen("dmg.db");
  {
    char *z = tQuery(db, "SELECT count(*) FROM a");
    tCheck("4.5", strstr(z, "has no valid header")!=0, z);
    sqlite3_free(z);
  }
  tClose(db);

  /* a side file of another table put in its place */
  db = tOpen("dmg2.db");
  tExec(db, "CREATE VIRTUAL TABLE a USING vectors(dim=4, db_copy=off)");
  tExec(db, "INSERT INTO a VALUES (1,'[9,9,9,9]'), (2,'[8,8,8,8]')");
  tClose(db);
  snprintf(zSql, sizeof(zSql), "cp dmg2.db-vectors-* '%s'", zFile);
  tShell("%s", zSql);
  db = tOpen("dmg.db");
  {
    char *z = tQuery(db, "SELECT hex(vec) FROM a");
    tCheck("4.6", strstr(z, "belongs to another table")!=0, z);
    sqlite3_free(z);
  }
  tExec(db, "DROP TABLE a");
  tRows("4.7", db, "SELECT count(*) FROM sqlite_schema", "0");
  tClose(db);

  /* a database copied without its side file */
  db = tOpen("dmg2.db");
  tExec(db, "VACUUM INTO 'copy.db'");
  tClose(db);
  db = tOpen("copy.db");
  {
    char *z = tQuery(db, "SELECT vec FROM a");
    tCheck("4.8", strstr(z, "is missing")!=0, z);
    sqlite3_free(z);
  }
  tClose(db);
}

/* With the copy (the default) every damage is repaired from the database:
** the vectors read back are the ones stored. */
static void testRepair(void){
  sqlite3 *db = tOpen("rep.db");
  char zFile[256], zSaved[300];
  const char *zRight = "1|0000803F0000803F0000803F0000803F\n"
                       "2|00000040000000400000004000000040";
  tExec(db, "CREATE VIRTUAL TABLE a USING vectors(dim=4)");
  tExec(db, "INSERT INTO a VALUES (1,'[1,1,1,1]'), (2,'[2,2,2,2]')");
  tClose(db);
  snprintf(zFile, sizeof(zFile), "%s", tFindFile("rep.db-vectors-"));
  snprintf(zSaved, sizeof(zSaved), "%s.saved", zFile);
  copyFile(zFile, zSaved);

  /* missing */
  unlink(zFile);
  db = tOpen("rep.db");
  tRows("7.0", db, "SELECT id, hex(vec) FROM a", zRight);
  tExec(db, "INSERT INTO a VALUES (3,'[3,3,3,3]')");
  tRows("7.1", db, "SELECT id FROM a WHERE vec MATCH '[3,3,3,3]' AND k=1",
        "3");
  tExec(db, "DELETE FROM a WHERE id=3");
  tRows("7.2", db, "SELECT veles_check('a')", "ok");
  tClose(db);
  tCheck("7.3", tFileSize(zFile)>=4096+2*16, "rebuilt in place");

  /* truncated */
  tShell("truncate -s 4112 %s", zFile);
  db = tOpen("rep.db");
  tRows("7.4", db, "SELECT id, hex(vec) FROM a", zRight);
  tClose(db);

  /* a bad header */
  tShell("printf 'XXXX' | dd of=%s bs=1 seek=0 conv=notrunc status=none",
         zFile);
  db = tOpen("rep.db");
  tRows("7.5", db, "SELECT id, hex(vec) FROM a WHERE vec MATCH "
        "'[2,2,2,2]' AND k=2", "2|00000040000000400000004000000040\n"
        "1|0000803F0000803F0000803F0000803F");
  tClose(db);

  /* another table's side file in its place */
  db = tOpen("rep2.db");
  tExec(db, "CREATE VIRTUAL TABLE a USING vectors(dim=4)");
  tExec(db, "INSERT INTO a VALUES (1,'[9,9,9,9]'), (2,'[8,8,8,8]')");
  tClose(db);
  tShell("cp rep2.db-vectors-* '%s'", zFile);
  db = tOpen("rep.db");
  tRows("7.6", db, "SELECT id, hex(vec) FROM a", zRight);
  tClose(db);

  /* garbled vector bytes: veles_check finds them, veles_rebuild repairs */
  tShell("printf '\\001\\002\\003\\004' | dd of=%s bs=1 seek=%d "
         "conv=notrunc status=none", zFile, 4096+16);
  db = tOpen("rep.db");
  tRows("7.7", db, "SELECT veles_check('a')", "a: ids whose vector in the "
        "side file differs from the database's copy (a damaged side file: "
        "SELECT veles_rebuild('a') makes it again): 2");
  tRows("7.8", db, "SELECT veles_rebuild('a')", "2");
  tRows("7.9", db, "SELECT veles_check('a')", "ok");
  tRows("7.10", db, "SELECT id, hex(vec) FROM a", zRight);
  tError("7.11", db, "SELECT veles_rebuild('nope')", "no such table: main.nope");
  tClose(db);

  /* a database copied without its side file */
  db = tOpen("rep.db");
  tExec(db, "VACUUM INTO 'repcopy.db'");
  tClose(db);
  db = tOpen("repcopy.db");
  tRows("7.12", db, "SELECT id, hex(vec) FROM a", zRight);
  tRows("7.13", db, "SELECT veles_check('a')", "ok");
  tClose(db);
  db = tOpen("rep2.db");
  tExec(db, "CREATE VIRTUAL TABLE off USING vectors(dim=1, db_copy=off)");
  tError("7.14", db, "SELECT veles_rebuild('off')", "veles_rebuild: table "
         "off keeps no copy of its vectors in the database (db_copy=off): "
         "there is nothing to rebuild its side file from");
  tClose(db);
}

/* A crafted database must not make veles touch a file other than its own
** side file: an identifier edited into a path, an unknown format. */
static void testCraftedSettings(void){
  sqlite3 *db = tOpen("craft.db");
  tExec(db, "CREATE VIRTUAL TABLE c USING vectors(dim=2);"
            "INSERT INTO c VALUES (1,'[1,2]');"
            "CREATE VIRTUAL TABLE f USING vectors(dim=2);"
            "INSERT INTO f VALUES (1,'[1,2]')");
  tExec(db, "UPDATE c_config SET v='/../precious' WHERE k='ident';"
            "UPDATE f_config SET v='3' WHERE k='format'");
  tClose(db);
  tShell("mkdir -p craft.db-vectors- && echo keep > precious");
  db = tOpen("craft.db");
  tError("6.0", db, "SELECT * FROM c",
         "vectors: table c: its identifier in c_config is damaged: expected "
         "16 lowercase hex digits, got '/../precious'");
  tError("6.1", db, "INSERT INTO c VALUES (2,'[3,4]')",
         "vectors: table c: its identifier in c_config is damaged: expected "
         "16 lowercase hex digits, got '/../precious'");
  tError("6.2", db, "SELECT id FROM f",
         "vectors: table f: unknown format in f_config: expected 1 or 2, got "
         "'3' (made by a newer veles?)");
  /* DROP still works, and deletes no file but the table's own */
  tExec(db, "DROP TABLE c");
  tCheck("6.3", tFileSize("precious")==5, "precious is kept");
  tExec(db, "DROP TABLE f");
  tRows("6.4", db, "SELECT count(*) FROM sqlite_schema", "0");
  tClose(db);
  tCheck("6.5", tFileSize("precious")==5, "precious is kept");
  /* the directory and c's own side file, which its damaged identifier no
  ** longer names; f's is gone */
  tCheck("6.6", tCountFiles("craft.db-vectors-")==2,
         "f's side file is removed, nothing else");
}

/* A side file takes its database file's permission bits: a private
** database keeps its vectors private, whatever the umask. */
static void testPermissions(void){
  /* 0660: the umask (022 here) would take the group's write bit, so
  ** only the copied mode gives it */
  static const int aMode[] = {0600, 0640, 0660};
  int i;
  for(i=0; i<3; i++){
    char zDb[32], zCase[8];
    struct stat st;
    sqlite3 *db;
    const char *zSide;
    snprintf(zDb, sizeof(zDb), "mode%o.db", aMode[i]);
    db = tOpen(zDb);
    tExec(db, "CREATE TABLE t(x)");         /* the file exists now */
    chmod(zDb, (mode_t)aMode[i]);
    tExec(db, "CREATE VIRTUAL TABLE e USING vectors(dim=1)");
    tClose(db);
    snprintf(zDb, sizeof(zDb), "mode%o.db-vectors-", aMode[i]);
    zSide = tFindFile(zDb);
    snprintf(zCase, sizeof(zCase), "5.%d", i);
    if( !tCheck(zCase, zSide && stat(zSide, &st)==0
                && (st.st_mode & 0777)==(mode_t)aMode[i],
                "side file mode is the database's") ){
      fprintf(stderr, "  expected %o, got %o\n", aMode[i],
              zSide ? (unsigned)(st.st_mode & 0777) : 0);
    }
  }
}

int main(int argc, char **argv){
  tInit(argc, argv);
  testAttach();
  testMemoryAndTemp();
  testDefensive();
  testDamage();
  testRepair();
  testCraftedSettings();
  testPermissions();
  return tDone();
}
