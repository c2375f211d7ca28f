"""Page-level replication (Litestream, LiteFS, sqld style) carries every
vector: a replica made of the database's pages alone, shipped while the
writer runs, answers exactly as the primary did at a commit.

A writer thread runs workload.py's transactions on a WAL-mode database.
Meanwhile, round after round, the replicator ships its pages the way those
tools do: it holds a read transaction on the primary (so no checkpoint
overwrites pages past its snapshot and the WAL does not restart), copies
the database file and the WAL into the replica's directory, ends the read
transaction, and now and then checkpoints the primary. Only the
database's files are shipped: the replica's directory keeps the side file
its last opening made, from an older commit. Each round opens the replica
with veles and checks it against the model at the replica's newest
commit (workload.check_state): at least the read snapshot's commit, every
vector equal, searches exact, veles_check ok -- so the old side file was
found stale and rebuilt, never read. A db_copy=off table, whose vectors
live in the side file alone, gives an error that names its side file.
"""
import os
import shutil
import sqlite3
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import veles    # noqa: E402
from workload import (DIM, SCHEMA, LocalClient, Model, check_state,  # noqa: E402
                      hexblob, local_query, model_at, run_transactions,
                      vector)

TXNS = 400
MIN_ROUNDS = 5


def connect(path):
    conn = sqlite3.connect(path, isolation_level=None,
                           check_same_thread=False)
    veles.load(conn)
    return conn


def ship(reader, primary, replica):
    """Copies the primary's database file and WAL to the replica under a
    read snapshot of the primary; the snapshot's commit."""
    reader.execute("BEGIN")
    snapshot = reader.execute("SELECT count(*) FROM log").fetchone()[0]
    for suffix in ("", "-wal"):
        if os.path.exists(primary + suffix):
            shutil.copyfile(primary + suffix, replica + suffix)
    reader.execute("COMMIT")
    if os.path.exists(replica + "-shm"):
        os.unlink(replica + "-shm")
    return snapshot


def check_replica(replica, snapshot, where):
    """Opens the replica with veles and checks it against the model at its
    newest commit: that commit, and the inode of its side file."""
    rep = connect(replica)
    n = rep.execute("SELECT count(*) FROM log").fetchone()[0]
    assert n >= snapshot, f"{where}: replica at {n} < {snapshot}"
    check_state(local_query(rep), model_at(n), where)
    try:
        rep.execute("SELECT id FROM f WHERE vec MATCH ? AND k = 1",
                    [bytes(4 * DIM)]).fetchall()
        raise AssertionError("a db_copy=off table answered without its "
                             "side file")
    except sqlite3.Error as e:
        assert "side file" in str(e), str(e)
    rep.close()
    directory = os.path.dirname(replica)
    side = [f for f in os.listdir(directory) if "-vectors-" in f]
    assert len(side) == 1, side
    return n, os.stat(os.path.join(directory, side[0])).st_ino


def main():
    scratch = os.environ["VELES_SCRATCH"]
    shutil.rmtree(scratch, ignore_errors=True)
    primary_dir = os.path.join(scratch, "primary")
    replica_dir = os.path.join(scratch, "replica")
    os.makedirs(primary_dir)
    os.makedirs(replica_dir)
    primary = os.path.join(primary_dir, "app.db")
    replica = os.path.join(replica_dir, "app.db")

    conn = connect(primary)
    conn.execute("PRAGMA journal_mode=WAL")
    for sql in SCHEMA:
        conn.execute(sql)
    conn.execute(f"CREATE VIRTUAL TABLE f USING vectors(dim={DIM}, "
                 "db_copy=off)")
    conn.execute("INSERT INTO f(id, vec) VALUES (1, ?)",
                 [bytes.fromhex(hexblob(vector(1, 0))["hex"])])
    model = Model()
    failure = []

    def writer():
        try:
            run_transactions(LocalClient(conn), model, 1, TXNS)
        except BaseException as e:  # noqa: BLE001 -- reported below
            failure.append(e)
    thread = threading.Thread(target=writer)
    thread.start()

    reader = sqlite3.connect(primary, isolation_level=None)
    shipped, inodes = [], []

    def round_(where):
        snapshot = ship(reader, primary, replica)
        if len(shipped) % 3 == 2:
            reader.execute("PRAGMA wal_checkpoint(PASSIVE)")
        n, inode = check_replica(replica, snapshot, where)
        # a replica of a newer commit got a new side file (a rebuild
        # renames one into place): the old one was not read as it was
        if shipped and n != shipped[-1]:
            assert inode != inodes[-1], f"{where}: the stale side file kept"
        shipped.append(n)
        inodes.append(inode)
        return n
    while thread.is_alive():
        round_(f"replica round {len(shipped)}")
    thread.join()
    assert not failure, failure
    assert round_("the last replica") == TXNS
    middle = [n for n in shipped if 0 < n < TXNS]
    assert len(middle) >= MIN_ROUNDS, \
        f"too few rounds in the middle of the workload: {shipped}"
    reader.close()
    conn.close()
    print(f"ok: {len(shipped)} replicas at commits {shipped}, each exact")


if __name__ == "__main__":
    main()
