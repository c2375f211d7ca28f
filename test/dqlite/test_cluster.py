"""veles replicated by dqlite: a leader killed mid-workload loses nothing.

A 3-node cluster (cluster.py) runs a workload of transactions, each
through the leader: a row of the plain table log(txn), four new vectors,
a payload, and, once there are enough, the delete of an older vector
(its slot is reused later), the update of another, and now and then the
delete of a payload. Every acknowledged commit is logged in a model. A
third of the way in, the leader is killed with SIGKILL; the client goes
on, and a transaction whose answer was lost is looked up in log(txn) on
the new leader (applied: into the model; not: tried again). Then:
  - on the new leader, through the client: every commit is there, every
    vector equals the model's, `vec MATCH ... AND k = ...` returns the
    rows and distances of a brute-force search, the payloads and their
    field index agree, veles_check is ok;
  - the same on each live node's own database pages (the shell's .dump),
    opened by this process with veles: the followers hold every vector;
  - the killed node restarts, catches up, and its pages hold the same;
  - a second failover, more writes, the same checks on the new leader;
  - no node wrote a file outside dqlite's VFS (no side file anywhere).
"""
import json
import math
import os
import random
import shutil
import sqlite3
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
import veles    # noqa: E402

DIM = 8
K = 10
LANGS = ["en", "fr", "de"]


def vector(vid, version):
    """Quarter steps: exact in f32 and in JSON."""
    return [((vid * 7 + version * 3 + j * 11) % 97) / 4.0 - 12.0
            for j in range(DIM)]


def hexblob(vec):
    return {"hex": struct.pack(f"<{DIM}f", *vec).hex()}


def unhex(value):
    return list(struct.unpack(f"<{DIM}f", bytes.fromhex(value["hex"])))


class Model:
    """The state every acknowledged commit made."""

    def __init__(self):
        self.txns = []
        self.vectors = {}
        self.payloads = {}

    def statements(self, i):
        """Transaction i's statements, and what it does to the model."""
        st, vec_changes, pay_changes = [], {}, {}
        st.append(("INSERT INTO log(txn) VALUES (?)", [i], False))
        for j in range(4):
            vid = 4 * i + j
            st.append(("INSERT INTO e(id, vec) VALUES (?, ?)",
                       [vid, hexblob(vector(vid, 0))], False))
            vec_changes[vid] = vector(vid, 0)
        doc = json.dumps({"lang": LANGS[i % 3], "txn": i})
        st.append(("INSERT INTO m(id, json) VALUES (?, ?)", [i, doc], False))
        pay_changes[i] = doc
        if i > 3:
            old = 4 * (i - 3)
            st.append(("DELETE FROM e WHERE id = ?", [old], False))
            vec_changes[old] = None
            st.append(("UPDATE e SET vec = ? WHERE id = ?",
                       [hexblob(vector(old + 1, i)), old + 1], False))
            vec_changes[old + 1] = vector(old + 1, i)
        if i > 3 and i % 5 == 0:
            st.append(("DELETE FROM m WHERE id = ?", [i - 3], False))
            pay_changes[i - 3] = None
        return st, vec_changes, pay_changes

    def apply(self, i, vec_changes, pay_changes):
        self.txns.append(i)
        for d, changes in ((self.vectors, vec_changes),
                           (self.payloads, pay_changes)):
            for key, v in changes.items():
                if v is None:
                    d.pop(key, None)
                else:
                    d[key] = v


def run_transactions(client, model, first, last, on_ack=None):
    """Transactions first..last, each until it is known to have committed;
    the seconds from each unacknowledged try to the next acknowledgment."""
    outages = []
    for i in range(first, last + 1):
        st, vec_changes, pay_changes = model.statements(i)
        failed_at = None
        while True:
            r = client.tx(*st)
            if r["ok"]:
                break
            failed_at = failed_at or time.monotonic()
            # the answer was lost or the commit refused: did it commit?
            rows = None
            while rows is None:
                q = client.tx(("SELECT count(*) FROM log WHERE txn = ?",
                               [i], True))
                rows = q["rows"] if q["ok"] else None
            if rows[0][0] == 1:
                break
            assert time.monotonic() - failed_at < 60, r["error"]
        if failed_at:
            outages.append(time.monotonic() - failed_at)
        model.apply(i, vec_changes, pay_changes)
        if on_ack:
            on_ack(i)
    return outages


def brute_force(model, q):
    d = sorted((math.sqrt(sum((a - b) ** 2 for a, b in zip(v, q))), vid)
               for vid, v in model.vectors.items())
    return d[:K]


def check_state(run_query, model, where):
    """Compares a node's answers with the model. run_query(sql, *args)
    returns rows with BLOBs as {"hex": ...}."""
    txns = [r[0] for r in run_query("SELECT txn FROM log ORDER BY txn")]
    assert txns == model.txns, f"{where}: commits {txns} != {model.txns}"
    rows = run_query("SELECT id, vec FROM e ORDER BY id")
    got = {r[0]: unhex(r[1]) for r in rows}
    wrong = [vid for vid in model.vectors if got.get(vid) != model.vectors[vid]]
    extra = sorted(set(got) - set(model.vectors))
    assert not wrong and not extra, \
        f"{where}: {len(wrong)} wrong or lost vectors {wrong[:5]}, extra {extra[:5]}"
    rng = random.Random(len(model.txns))
    for _ in range(5):
        q = [rng.uniform(-12, 12) for _ in range(DIM)]
        rows = run_query("SELECT id, distance FROM e WHERE vec MATCH ? "
                         "AND k = ? ORDER BY distance", hexblob(q), K)
        want = brute_force(model, q)
        assert len(rows) == len(want), f"{where}: {len(rows)} rows"
        for (vid, dist), (wdist, _) in zip(rows, want):
            assert abs(dist - wdist) <= 1e-4 * max(1.0, wdist), \
                f"{where}: search returned {rows}, brute force {want}"
            exact = math.sqrt(sum((a - b) ** 2
                                  for a, b in zip(model.vectors[vid], q)))
            assert abs(dist - exact) <= 1e-4 * max(1.0, exact), \
                f"{where}: id {vid} at distance {dist}, really {exact}"
    rows = run_query("SELECT id, json FROM m ORDER BY id")
    assert {r[0]: r[1] for r in rows} == model.payloads, f"{where}: payloads"
    rows = run_query("SELECT id FROM m WHERE lang = 'fr' ORDER BY id")
    want = sorted(k for k, v in model.payloads.items()
                  if json.loads(v)["lang"] == "fr")
    assert [r[0] for r in rows] == want, f"{where}: lang index"
    checks = run_query("SELECT veles_check('e'), veles_check('m')")
    assert checks == [["ok", "ok"]], f"{where}: veles_check {checks}"


def check_node(cl, node, model, scratch):
    """The database pages node holds, opened here with veles, once they
    hold the model's last commit (a follower applies it a little later)."""
    cluster.wait_for(lambda: caught_up(cl, node, model, scratch),
                     f"node {node.index} to catch up")
    path = cl.dump(node, os.path.join(scratch, f"dump{node.index}"))
    assert path, f"node {node.index} gives no dump"
    conn = sqlite3.connect(path, isolation_level=None)
    veles.load(conn)

    def run_query(sql, *args):
        args = [bytes.fromhex(a["hex"]) if isinstance(a, dict) else a
                for a in args]
        return [[{"hex": v.hex()} if isinstance(v, bytes) else v for v in r]
                for r in conn.execute(sql, args)]
    check_state(run_query, model, f"node {node.index}'s pages")
    conn.close()


def files_outside_vfs(scratch):
    """Side files anywhere under scratch but in the dumps' directories."""
    found = []
    for root, _, files in os.walk(scratch):
        if os.path.basename(root).startswith("dump"):
            continue
        found += [os.path.join(root, f) for f in files if "-vectors-" in f]
    return found


def main():
    scratch = os.environ["VELES_SCRATCH"]
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    cl = cluster.Cluster(scratch)
    client = None
    try:
        cl.start()
        client = cluster.Client(cl.addresses())
        client.exec("CREATE TABLE log(txn INTEGER PRIMARY KEY)")
        client.exec(f"CREATE VIRTUAL TABLE e USING vectors(dim={DIM})")
        client.exec("CREATE VIRTUAL TABLE m USING payloads(lang TEXT)")
        model = Model()
        # the killer runs beside the workload, so the kill lands in the
        # middle of a transaction, or between two
        victim = {}
        acks = {}

        def killer():
            cluster.wait_for(lambda: len(model.txns) >= 40, "40 commits")
            victim["node"] = cl.leader()
            victim["node"].kill()
            victim["at"] = time.monotonic()
            victim["after"] = len(model.txns)
        thread = threading.Thread(target=killer)
        thread.start()
        outages = run_transactions(
            client, model, 1, 120,
            lambda i: acks.setdefault(i, time.monotonic()))
        thread.join()
        failover = min(t for t in acks.values() if t > victim["at"]) \
            - victim["at"]
        print(f"killed the leader, node {victim['node'].index}, after "
              f"commit {victim['after']}; the next commit came "
              f"{failover:.2f} s later; 120 commits, {len(outages)} "
              f"retried or looked up", flush=True)
        assert victim, "no leader was killed"
        check_state(client.query, model, "the new leader")
        for n in cl.nodes:
            if n.proc:
                check_node(cl, n, model, scratch)
        # the killed node restarts and catches up
        dead = victim["node"]
        dead.start()

        check_node(cl, dead, model, scratch)
        print(f"node {dead.index} restarted and caught up", flush=True)
        # a second failover, then more writes
        second = cl.leader()
        second.kill()
        outages = run_transactions(client, model, 121, 140)
        print(f"killed node {second.index}; 20 more commits, "
              f"{len(outages)} waited for the new leader", flush=True)
        check_state(client.query, model, "the third leader")
        second.start()
        for n in cl.nodes:
            check_node(cl, n, model, scratch)
        stray = files_outside_vfs(scratch)
        assert not stray, f"written outside dqlite's VFS: {stray}"
        print("ok: every acknowledged commit on every node, every vector "
              "equal, searches exact, veles_check ok", flush=True)
    finally:
        if client:
            client.close()
        cl.stop()


def caught_up(cl, node, model, scratch):
    """Whether node's pages hold every commit of the model."""
    path = cl.dump(node, os.path.join(scratch, "probe"))
    if path is None:
        return False
    c = sqlite3.connect(path)
    try:
        return c.execute("SELECT count(*) FROM log").fetchone()[0] \
            == len(model.txns)
    except sqlite3.Error:
        return False
    finally:
        c.close()


if __name__ == "__main__":
    main()
