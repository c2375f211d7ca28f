"""veles from Python: embeddings with payloads, stored atomically, read
back and searched. The same story as examples/c/app.c, with the same
output after the first line (examples/example.out).

    /usr/bin/python3 bindings/python/example.py docs.db

Finds the extension with veles.loadable_path() ($VELES_PATH, beside the
package, or the repository's build/).
"""
import os
import sqlite3
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import veles  # noqa: E402  (bindings/python/veles)

DOCS = [  # id, embedding, payload
    (1, [0.9, 0.1, 0.0, 0.0], '{"title":"Cats","lang":"en"}'),
    (2, [0.8, 0.2, 0.1, 0.0], '{"title":"Chats","lang":"fr"}'),
    (3, [0.0, 1.0, 0.0, 0.1], '{"title":"Dogs","lang":"en"}'),
    (4, [0.1, 0.0, 0.9, 0.2], '{"title":"Birds","lang":"en"}'),
    (5, [0.7, 0.3, 0.0, 0.1], '{"title":"Katzen","lang":"de"}'),
]


def f32(vec):
    """A vector as veles stores it: a BLOB of little-endian f32."""
    return struct.pack(f"<{len(vec)}f", *vec)


def show(rows):
    for row in rows:
        print("|".join("NULL" if v is None else str(v) for v in row))


def main(path):
    # isolation_level=None: transactions are the SQL's own BEGIN/COMMIT
    conn = sqlite3.connect(path, isolation_level=None)
    veles.load(conn)
    show(conn.execute("SELECT 'veles ' || veles_version() || "
                      "' on SQLite ' || sqlite_version()"))
    conn.executescript("""
        DROP TABLE IF EXISTS emb; DROP TABLE IF EXISTS meta;
        CREATE VIRTUAL TABLE emb USING vectors(dim=4, metric=cosine);
        CREATE VIRTUAL TABLE meta USING payloads(lang TEXT);
    """)

    # store_batch: vectors and payloads in one transaction; COMMIT is the
    # durability barrier for both
    conn.execute("BEGIN")
    conn.executemany("INSERT OR REPLACE INTO emb(id, vec) VALUES (?, ?)",
                     [(i, f32(v)) for i, v, _ in DOCS])
    conn.executemany("INSERT OR REPLACE INTO meta(id, json) VALUES (?, ?)",
                     [(i, p) for i, _, p in DOCS])
    conn.execute("COMMIT")
    counts = "SELECT (SELECT count(*) FROM emb), (SELECT count(*) FROM meta)"
    print("-- stored")
    show(conn.execute(counts))

    # a batch that fails half-way stores nothing
    print("-- a batch with a bad vector stores nothing")
    conn.execute("BEGIN")
    conn.execute("INSERT INTO emb(id, vec) VALUES (6, '[0.5, 0.5, 0.5, 0.5]')")
    conn.execute("""INSERT INTO meta(id, json) VALUES (6, '{"title":"Fish"}')""")
    try:
        conn.execute("INSERT INTO emb(id, vec) VALUES (7, '[1, 2, 3]')")
        sys.exit("example: a 3-element vector was accepted")
    except sqlite3.Error as e:
        print(f"error: {e}")
        conn.execute("ROLLBACK")
    show(conn.execute(counts))

    print("-- retrieve 3")
    show(conn.execute("SELECT v.id, veles_json(v.vec), p.json FROM emb v "
                      "JOIN meta p USING (id) WHERE v.id = 3"))

    # k applies after the payload filter (the id IN list); MATERIALIZED
    # keeps SQLite from merging the search into the join
    print("-- the 2 nearest to [1,0,0,0] in English")
    show(conn.execute("""
        WITH hit AS MATERIALIZED (
          SELECT id, distance FROM emb WHERE vec MATCH ? AND k = 2
             AND id IN (SELECT id FROM meta WHERE lang = 'en'))
        SELECT hit.id, meta.json ->> '$.title', printf('%.4f', hit.distance)
        FROM hit JOIN meta USING (id) ORDER BY hit.distance""",
        (f32([1, 0, 0, 0]),)))

    print("-- check")
    show(conn.execute("SELECT veles_check('emb'), veles_check('meta')"))
    conn.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "example.db")
