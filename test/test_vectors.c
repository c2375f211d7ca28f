/*
** The `vectors` table through SQL: options, the VectorStorage trait
** (store, store_batch, retrieve, delete, len, ids), and bad input with
** the exact messages. Transactions, files and concurrency have their own
** test files.
*/
#include "testutil.h"
#include <stdio.h>
#include <string.h>

/* x'...' for a little-endian f32 vector (test machines are LE). */
static void blobHex(char *zOut, const float *a, int n){
  const unsigned char *b = (const unsigned char*)a;
  int i;
  zOut += sprintf(zOut, "x'");
  for(i=0; i<n*4; i++) zOut += sprintf(zOut, "%02x", b[i]);
  sprintf(zOut, "'");
}

static void testOptions(sqlite3 *db){
  tExec(db, "CREATE VIRTUAL TABLE o1 USING vectors(dim=4)");
  tRows("1.0", db, "SELECT k, v FROM o1_config WHERE k NOT IN "
        "('ident', 'nonce') ORDER BY k", "chunk|65536\ncommit|0\ncopy|1\ndim|4\nformat|2\nmetric|l2\nslots|0");
  tRows("1.1", db, "SELECT length(v) FROM o1_config WHERE k='ident'", "16");
  tExec(db, "CREATE VIRTUAL TABLE o2 USING vectors(dim = 8, metric = 'cosine')");
  tRows("1.2", db, "SELECT v FROM o2_config WHERE k IN ('dim','metric') "
        "ORDER BY k", "8\ncosine");
  tExec(db, "CREATE VIRTUAL TABLE o3 USING vectors");
  tRows("1.3", db, "SELECT v FROM o3_config WHERE k='dim'", "0");
  tError("1.4", db, "CREATE VIRTUAL TABLE e1 USING vectors(dim=0)",
         "vectors: dim must be an integer from 1 to 65536, got '0'");
  tError("1.5", db, "CREATE VIRTUAL TABLE e1 USING vectors(dim=65537)",
         "vectors: dim must be an integer from 1 to 65536, got '65537'");
  tError("1.6", db, "CREATE VIRTUAL TABLE e1 USING vectors(dim=abc)",
         "vectors: dim must be an integer from 1 to 65536, got 'abc'");
  tError("1.7", db, "CREATE VIRTUAL TABLE e1 USING vectors(size=3)",
         "vectors: unknown option: expected dim, metric, db_copy, index or "
         "probe, got 'size'");
  tError("1.8", db, "CREATE VIRTUAL TABLE e1 USING vectors(dim)",
         "vectors: malformed option: expected dim=N, metric=l2|cosine|dot, "
         "db_copy=on|off, index=ivf|none or probe=N, got 'dim'");
  tError("1.9", db, "CREATE VIRTUAL TABLE e1 USING vectors(metric=hamming)",
         "vectors: unknown metric: expected l2, cosine or dot, got 'hamming'");
  tRows("1.10", db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'e1%'",
        "0");
  tRows("1.11", db, "SELECT name FROM pragma_table_info('o1')", "id\nvec");
}

static void testTrait(sqlite3 *db){
  char zHex[128], zSql[512];
  float a[3] = {1.0f, -2.5f, 3.25f};
  tExec(db, "CREATE VIRTUAL TABLE emb USING vectors(dim=3)");
  /* store */
  tExec(db, "INSERT INTO emb(id, vec) VALUES (1, '[1, -2.5, 3.25]')");
  blobHex(zHex, a, 3);
  snprintf(zSql, sizeof(zSql), "SELECT vec = %s FROM emb WHERE id=1", zHex);
  tRows("2.0", db, zSql, "1");
  tRows("2.1", db, "SELECT id, vec FROM emb",
        "1|x'0000803f000020c000005040'");
  /* a blob stores as itself */
  snprintf(zSql, sizeof(zSql), "INSERT INTO emb VALUES (2, %s)", zHex);
  tExec(db, "%s", zSql);
  tRows("2.2", db, "SELECT id, hex(vec) FROM emb WHERE id=2",
        "2|0000803F000020C000005040");
  /* plain INSERT of an existing id: UNIQUE error, nothing changes */
  tError("2.3", db, "INSERT INTO emb VALUES (1, '[0,0,0]')",
         "UNIQUE constraint failed: emb.id");
  tRows("2.4", db, "SELECT hex(vec) FROM emb WHERE id=1",
        "0000803F000020C000005040");
  /* OR IGNORE keeps, OR REPLACE overwrites */
  tExec(db, "INSERT OR IGNORE INTO emb VALUES (1, '[9,9,9]')");
  tRows("2.5", db, "SELECT hex(vec) FROM emb WHERE id=1",
        "0000803F000020C000005040");
  tExec(db, "INSERT OR REPLACE INTO emb VALUES (1, '[0,0,1]')");
  tRows("2.6", db, "SELECT hex(vec) FROM emb WHERE id=1",
        "00000000000000000000803F");
  tExec(db, "REPLACE INTO emb(id, vec) VALUES (1, '[0,0,2]')");
  tRows("2.7", db, "SELECT hex(vec) FROM emb WHERE id=1",
        "000000000000000000000040");
  /* UPDATE overwrites the vector, or moves the id */
  tExec(db, "UPDATE emb SET vec = '[1,1,1]' WHERE id = 2");
  tRows("2.8", db, "SELECT hex(vec) FROM emb WHERE id=2",
        "0000803F0000803F0000803F");
  tExec(db, "UPDATE emb SET id = 20 WHERE id = 2");
  tRows("2.9", db, "SELECT id, hex(vec) FROM emb ORDER BY id",
        "1|000000000000000000000040\n20|0000803F0000803F0000803F");
  tError("2.10", db, "UPDATE emb SET id = 1 WHERE id = 20",
         "UNIQUE constraint failed: emb.id");
  tExec(db, "UPDATE OR REPLACE emb SET id = 1 WHERE id = 20");
  tRows("2.11", db, "SELECT id, hex(vec) FROM emb",
        "1|0000803F0000803F0000803F");
  tExec(db, "UPDATE emb SET id = 7, vec = '[7,7,7]' WHERE id = 1");
  tRows("2.12", db, "SELECT id, hex(vec) FROM emb",
        "7|0000E0400000E0400000E040");
  /* NULL or omitted id: the next after the largest */
  tExec(db, "INSERT INTO emb(vec) VALUES ('[1,2,3]')");
  tExec(db, "INSERT INTO emb(id, vec) VALUES (NULL, '[1,2,3]')");
  tRows("2.13", db, "SELECT id FROM emb", "7\n8\n9");
  /* retrieve: present, absent, IN, ranges */
  tRows("2.14", db, "SELECT vec IS NOT NULL FROM emb WHERE id = 8", "1");
  tRows("2.15", db, "SELECT vec FROM emb WHERE id = 12345", "");
  tRows("2.16", db, "SELECT id FROM emb WHERE id IN (9, 7, 100)", "7\n9");
  tRows("2.17", db, "SELECT id FROM emb WHERE id > 7 AND id <= 9", "8\n9");
  tRows("2.18", db, "SELECT id FROM emb ORDER BY id DESC", "9\n8\n7");
  tRows("2.19", db, "SELECT id FROM emb WHERE rowid = 8", "8");
  tRows("2.20", db, "SELECT id FROM emb WHERE id = '8'", "8");
  /* the plans: a direct lookup per id, never a scan */
  {
    char *zPlan = tQuery(db, "EXPLAIN QUERY PLAN "
                         "SELECT vec FROM emb WHERE id IN (1,2,3)");
    tCheck("2.21", strstr(zPlan, "VIRTUAL TABLE INDEX 1:")!=0, zPlan);
    sqlite3_free(zPlan);
  }
  /* delete; a missing id is a no-op */
  tExec(db, "DELETE FROM emb WHERE id = 8");
  tExec(db, "DELETE FROM emb WHERE id = 8");
  tExec(db, "DELETE FROM emb WHERE id = 999");
  tRows("2.22", db, "SELECT id FROM emb", "7\n9");
  /* len / is_empty / ids */
  tRows("2.23", db, "SELECT count(*) FROM emb", "2");
  tExec(db, "DELETE FROM emb");
  tRows("2.24", db, "SELECT count(*), count(*)=0 FROM emb", "0|1");
  /* largest and smallest ids */
  tExec(db, "INSERT INTO emb VALUES (0, '[0,0,0]'), "
            "(9223372036854775807, '[1,1,1]')");
  tRows("2.25", db, "SELECT id FROM emb", "0\n9223372036854775807");
  tError("2.26", db, "INSERT INTO emb(vec) VALUES ('[1,2,3]')",
         "vectors: no id left to assign: the largest id "
         "9223372036854775807 is taken; give an id");
  tRows("2.27", db, "SELECT count(*) FROM emb", "2");
  tRows("2.28", db, "PRAGMA integrity_check", "ok");
}

static void testBadInput(sqlite3 *db){
  tExec(db, "CREATE VIRTUAL TABLE bad USING vectors(dim=3)");
  tExec(db, "INSERT INTO bad VALUES (1, '[1,2,3]')");
  tError("3.0", db, "INSERT INTO bad VALUES (2, '[1,2]')",
         "vectors: dimension mismatch: expected 3, got 2");
  tError("3.1", db, "INSERT INTO bad VALUES (2, x'0000803f0000803f')",
         "vectors: dimension mismatch: expected 3, got 2");
  tError("3.2", db, "INSERT INTO bad VALUES (2, x'0000803f00')",
         "vectors: vector blob length must be a positive multiple of 4 bytes "
         "(f32), got 5 bytes");
  tError("3.3", db, "INSERT INTO bad VALUES (2, x'')",
         "vectors: vector blob length must be a positive multiple of 4 bytes "
         "(f32), got 0 bytes");
  tError("3.4", db, "INSERT INTO bad VALUES (2, x'0000c07f0000803f0000803f')",
         "vectors: vector element 0 is NaN: only finite numbers are stored");
  tError("3.5", db, "INSERT INTO bad VALUES (2, x'0000803f0000807f0000803f')",
         "vectors: vector element 1 is +Inf: only finite numbers are stored");
  tError("3.6", db, "INSERT INTO bad VALUES (2, x'0000803f0000803f000080ff')",
         "vectors: vector element 2 is -Inf: only finite numbers are stored");
  tError("3.7", db, "INSERT INTO bad VALUES (2, '[1,2,3')",
         "vectors: malformed vector JSON at offset 6: expected ',' or ']', "
         "got end of text");
  tError("3.8", db, "INSERT INTO bad VALUES (2, '[1,\"a\",3]')",
         "vectors: malformed vector JSON at offset 3: expected a number, "
         "got a string");
  tError("3.9", db, "INSERT INTO bad VALUES (2, '[1,null,3]')",
         "vectors: malformed vector JSON at offset 3: expected a number, "
         "got null");
  tError("3.10", db, "INSERT INTO bad VALUES (2, '[1,NaN,3]')",
         "vectors: malformed vector JSON at offset 3: expected a number, "
         "got a non-finite number");
  tError("3.11", db, "INSERT INTO bad VALUES (2, '[1,1e39,3]')",
         "vectors: vector element 1 out of f32 range: 1e39");
  tError("3.12", db, "INSERT INTO bad VALUES (2, 'hello')",
         "vectors: malformed vector JSON at offset 0: expected '[', got "
         "other text");
  tError("3.13", db, "INSERT INTO bad VALUES (2, '[]')",
         "vectors: empty vector: expected at least 1 element, got []");
  tError("3.14", db, "INSERT INTO bad VALUES (2, '[1,2,3] x')",
         "vectors: malformed vector JSON at offset 8: expected end of text "
         "after ']'");
  tError("3.15", db, "INSERT INTO bad VALUES (2, '[01,2,3]')",
         "vectors: malformed vector JSON at offset 2: expected ',' or ']', "
         "got other text");
  tError("3.16", db, "INSERT INTO bad VALUES (2, NULL)",
         "vectors: vector must be a blob of f32 or JSON text such as "
         "'[1, 2, 3]', got NULL");
  tError("3.17", db, "INSERT INTO bad VALUES (2, 42)",
         "vectors: vector must be a blob of f32 or JSON text such as "
         "'[1, 2, 3]', got an integer");
  tError("3.18", db, "INSERT INTO bad VALUES (2, 4.5)",
         "vectors: vector must be a blob of f32 or JSON text such as "
         "'[1, 2, 3]', got a real");
  tError("3.19", db, "INSERT INTO bad(id) VALUES (2)",
         "vectors: vector must be a blob of f32 or JSON text such as "
         "'[1, 2, 3]', got NULL");
  tError("3.20", db, "INSERT INTO bad VALUES (-1, '[1,2,3]')",
         "vectors: id out of range: expected 0 to 9223372036854775807, got -1");
  tError("3.21", db, "INSERT INTO bad VALUES (1.5, '[1,2,3]')",
         "vectors: id must be an integer from 0 to 9223372036854775807, "
         "got 1.5");
  tError("3.22", db, "INSERT INTO bad VALUES ('abc', '[1,2,3]')",
         "vectors: id must be an integer from 0 to 9223372036854775807, "
         "got text 'abc'");
  tError("3.23", db, "INSERT INTO bad VALUES (x'01', '[1,2,3]')",
         "vectors: id must be an integer from 0 to 9223372036854775807, "
         "got a blob");
  tError("3.24", db, "INSERT INTO bad VALUES (9223372036854775808, '[1,2,3]')",
         "vectors: id must be an integer from 0 to 9223372036854775807, "
         "got 9.22337203685478e+18");
  tError("3.25", db, "UPDATE bad SET id = NULL WHERE id = 1",
         "vectors: id must be an integer from 0 to 9223372036854775807, "
         "got NULL");
  tError("3.26", db, "UPDATE bad SET vec = '[1]' WHERE id = 1",
         "vectors: dimension mismatch: expected 3, got 1");
  /* accepted spellings */
  tExec(db, "INSERT INTO bad VALUES ('5', ' [ 1 , -0.5e1 , 3E+2 ] ')");
  tExec(db, "INSERT INTO bad VALUES (6.0, '[-0, 0.0, 1e-45]')");
  tRows("3.27", db, "SELECT id, hex(vec) FROM bad",
        "1|0000803F0000004000004040\n5|0000803F0000A0C000009643\n"
        "6|000000800000000001000000");
  /* a failing multi-row statement leaves the table as it was */
  tError("3.28", db, "INSERT INTO bad VALUES (10, '[1,1,1]'), (11, '[2,2,2]'),"
         " (12, '[3,3]')", "vectors: dimension mismatch: expected 3, got 2");
  tRows("3.29", db, "SELECT id FROM bad", "1\n5\n6");
  tError("3.30", db, "INSERT INTO bad VALUES (10, '[1,1,1]'), (1, '[2,2,2]')",
         "UNIQUE constraint failed: bad.id");
  tRows("3.31", db, "SELECT id FROM bad", "1\n5\n6");
  tRows("3.32", db, "PRAGMA integrity_check", "ok");
}

static void testDimensionFromFirstVector(sqlite3 *db){
  tExec(db, "CREATE VIRTUAL TABLE free USING vectors");
  tExec(db, "BEGIN; INSERT INTO free VALUES (1, '[1,2]'); ROLLBACK");
  tRows("4.0", db, "SELECT v FROM free_config WHERE k='dim'", "0");
  tExec(db, "INSERT INTO free VALUES (1, '[1,2,3,4]')");
  tRows("4.1", db, "SELECT v FROM free_config WHERE k='dim'", "4");
  tError("4.2", db, "INSERT INTO free VALUES (2, '[1,2]')",
         "vectors: dimension mismatch: expected 4, got 2");
  tExec(db, "DELETE FROM free");
  tError("4.3", db, "INSERT INTO free VALUES (2, '[1,2]')",
         "vectors: dimension mismatch: expected 4, got 2");
  tRows("4.4", db, "SELECT count(*) FROM free", "0");
}

static void testSlotLayout(sqlite3 *db){
  int i;
  tExec(db, "CREATE VIRTUAL TABLE lay USING vectors(dim=2)");
  tExec(db, "BEGIN");
  for(i=1; i<=100; i++){
    tExec(db, "INSERT INTO lay VALUES (%d, '[%d, %d]')", i, i, -i);
  }
  tExec(db, "COMMIT");
  tRows("5.0", db, "SELECT count(*) FROM lay_map WHERE slot = id - 1", "100");
  /* the side file holds slot i at 4096 + i*dim*4, raw f32 */
  {
    const char *zFile = tFindFile("layout.db-vectors-");
    FILE *f = zFile ? fopen(zFile, "rb") : 0;
    float a[200];
    int bOk = f!=0 && tFileSize(zFile)==4096+100*8
           && fseek(f, 4096, SEEK_SET)==0 && fread(a, 8, 100, f)==100;
    for(i=0; bOk && i<100; i++){
      bOk = a[2*i]==(float)(i+1) && a[2*i+1]==-(float)(i+1);
    }
    if( f ) fclose(f);
    tCheck("5.1", bOk, "slots 0..99 hold ids 1..100 in order");
  }
}

int main(int argc, char **argv){
  sqlite3 *db;
  tInit(argc, argv);
  tAutoCheck(1);      /* veles_check (side file = database copy) after each commit */
  db = tOpen("vectors.db");
  testOptions(db);
  testTrait(db);
  testBadInput(db);
  testDimensionFromFirstVector(db);
  tClose(db);
  db = tOpen("layout.db");
  testSlotLayout(db);
  tClose(db);
  return tDone();
}
