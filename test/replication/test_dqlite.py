"""veles replicated by dqlite: a leader killed mid-workload loses nothing.

A 3-node cluster (cluster.py) runs the workload of workload.py, each
transaction through the leader; every acknowledged commit goes into the
model. A third of the way in, the leader is killed with SIGKILL; the client goes
on, and a transaction whose answer was lost is looked up in log(txn) on
the new leader (applied: into the model; not: tried again). Then:
  - on the new leader, through the client: every commit is there, every
    vector equals the model's, `vec MATCH ... AND k = ...` returns the
    rows and distances of a brute-force search, the payloads and their
    field index agree, veles_check is ok;
  - the same on each live node's own database pages (the shell's .dump),
    opened by this process with veles: the followers hold every vector;
  - the killed node restarts, catches up, and its pages hold the same;
    handed the leadership, it answers the same through the client;
  - a second failover, more writes, the same checks on the new leader;
  - no node wrote a file outside dqlite's VFS (no side file anywhere).
"""
import os
import shutil
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
import veles    # noqa: E402
from workload import (SCHEMA, Model, check_state, local_query,  # noqa: E402
                      run_transactions)


def check_node(cl, node, model, scratch):
    """The database pages node holds, opened here with veles, once they
    hold the model's last commit (a follower applies it a little later)."""
    cluster.wait_for(lambda: caught_up(cl, node, model, scratch),
                     f"node {node.index} to catch up")
    path = cl.dump(node, os.path.join(scratch, f"dump{node.index}"))
    assert path, f"node {node.index} gives no dump"
    conn = sqlite3.connect(path, isolation_level=None)
    veles.load(conn)
    check_state(local_query(conn), model, f"node {node.index}'s pages")
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
        for sql in SCHEMA:
            client.exec(sql)
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
        # and answers the same once it leads (only the leader runs SQL)
        client.transfer(dead)
        assert cl.leader() is dead
        check_state(client.query, model, f"node {dead.index}, leading again")
        print(f"node {dead.index} restarted, caught up, and answered the "
              f"same as the leader", flush=True)
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
