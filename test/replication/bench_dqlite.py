"""Benchmark: veles through a 3-node dqlite cluster, beside a plain table
t(id INTEGER PRIMARY KEY, vec BLOB) searched with ORDER BY
veles_distance(...), on the same cluster, in one run.

    bench_dqlite.py [N] [DIM] [QUERIES]        (100000, 128, 50)

Measures, through examples/dqlite/client (each request a transaction on
the leader, replicated by Raft before it is acknowledged):
  - insert: N vectors in transactions of 1000 rows (multi-row INSERTs of
    100 rows), each side;
  - search: QUERIES top-10 queries, each side;
  - failover: the leader killed, the time until the new leader answers
    its first search (the working copy is built from the replicated
    pages then), and its next searches;
  - a second client's first search, and its first after a commit of the
    first client.
Prints times and ratios plain/veles (above 1.0: veles is faster). Figures,
not a test: these machines are shared and noisy. Environment as for
cluster.py; run by scripts/bench-dqlite.sh.
"""
import os
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
DIM = int(sys.argv[2]) if len(sys.argv) > 2 else 128
QUERIES = int(sys.argv[3]) if len(sys.argv) > 3 else 50
ROWS_PER_STATEMENT = 100
ROWS_PER_TXN = 1000


def blob(v):
    return {"hex": v.astype("<f4").tobytes().hex()}


def insert(client, table, data):
    values = ",".join(["(?, ?)"] * ROWS_PER_STATEMENT)
    sql = f"INSERT INTO {table}(id, vec) VALUES {values}"
    t0 = time.monotonic()
    for first in range(0, len(data), ROWS_PER_TXN):
        statements = []
        for s in range(first, min(first + ROWS_PER_TXN, len(data)),
                       ROWS_PER_STATEMENT):
            args = []
            for i in range(s, s + ROWS_PER_STATEMENT):
                args += [i + 1, blob(data[i])]
            statements.append((sql, args, False))
        r = client.tx(*statements)
        assert r["ok"], r.get("error")
    return time.monotonic() - t0


VELES_SEARCH = ("SELECT id, distance FROM e WHERE vec MATCH ? AND k = 10 "
                "ORDER BY distance")
PLAIN_SEARCH = ("SELECT id, veles_distance(vec, ?) AS d FROM t "
                "ORDER BY d LIMIT 10")


def search(client, sql, queries):
    """Seconds per query, and the ids each found."""
    found = []
    t0 = time.monotonic()
    for q in queries:
        found.append([r[0] for r in client.query(sql, blob(q))])
    return (time.monotonic() - t0) / len(queries), found


def timed_query(client, sql, q):
    t0 = time.monotonic()
    client.query(sql, blob(q))
    return time.monotonic() - t0


def main():
    scratch = os.environ["VELES_SCRATCH"]
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    rng = np.random.default_rng(42)
    data = rng.standard_normal((N, DIM), dtype=np.float32)
    queries = rng.standard_normal((QUERIES, DIM), dtype=np.float32)
    cl = cluster.Cluster(scratch)
    clients = []
    try:
        cl.start()
        client = cluster.Client(cl.addresses())
        clients.append(client)
        client.exec(f"CREATE VIRTUAL TABLE e USING vectors(dim={DIM})")
        client.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, vec BLOB)")
        print(f"dqlite benchmark: 3 nodes, N={N} dim={DIM}, "
              f"{QUERIES} queries, one run", flush=True)
        t_plain = insert(client, "t", data)
        t_veles = insert(client, "e", data)
        print(f"insert ({ROWS_PER_TXN} rows/commit)  plain {t_plain:8.2f} s"
              f"  veles {t_veles:8.2f} s  ratio {t_plain / t_veles:.2f}x",
              flush=True)
        search(client, VELES_SEARCH, queries[:2])          # warm both
        search(client, PLAIN_SEARCH, queries[:2])
        s_plain, ids_plain = search(client, PLAIN_SEARCH, queries)
        s_veles, ids_veles = search(client, VELES_SEARCH, queries)
        same = sum(a == b for a, b in zip(ids_plain, ids_veles))
        print(f"search (k=10)             plain {s_plain * 1e3:8.2f} ms"
              f" veles {s_veles * 1e3:8.2f} ms ratio {s_plain / s_veles:.1f}x"
              f"  (same ids: {same}/{QUERIES})", flush=True)

        # a second client: its first search, then its first after a commit
        # of the first client
        other = cluster.Client(cl.addresses())
        clients.append(other)
        first = timed_query(other, VELES_SEARCH, queries[0])
        again = timed_query(other, VELES_SEARCH, queries[1])
        client.exec("INSERT INTO e(id, vec) VALUES (?, ?)", N + 1,
                    blob(queries[0]))
        after = timed_query(other, VELES_SEARCH, queries[2])
        print(f"second client: first search {first * 1e3:.1f} ms, next "
              f"{again * 1e3:.1f} ms, first after another client's commit "
              f"{after * 1e3:.1f} ms", flush=True)

        leader = cl.leader()
        leader.kill()
        t0 = time.monotonic()
        new = cl.leader()
        elected = time.monotonic() - t0
        t1 = time.monotonic()
        client.query(VELES_SEARCH, blob(queries[3]))
        first = time.monotonic() - t1
        s_after, _ = search(client, VELES_SEARCH, queries[4:14])
        print(f"failover: node {leader.index} killed, node {new.index} "
              f"leads after {elected:.1f} s; its first search "
              f"{first:.2f} s (the working copy built from the replicated "
              f"pages, {N * DIM * 4 / 1e6:.0f} MB), then "
              f"{s_after * 1e3:.2f} ms per search", flush=True)
    finally:
        for c in clients:
            c.close()
        cl.stop()


if __name__ == "__main__":
    main()
