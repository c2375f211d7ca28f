"""A 3-node dqlite cluster on loopback with veles in every node.

The nodes are Debian's dqlite-demo (go-dqlite: bootstrap + join, leader
failover), each started with examples/dqlite/veles_preload.so, which
registers veles at the first sqlite3_open_v2. Clients are
examples/dqlite/client (go-dqlite's database/sql driver, a transaction per
request) and Debian's `dqlite` shell for .leader, .cluster and .dump.

Used by test_cluster.py (the test) and bench_dqlite.py (the benchmark).
Environment: VELES_PATH (veles.so), VELES_PRELOAD (veles_preload.so),
DQLITE_CLIENT (the client's binary), VELES_SCRATCH (a directory).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

DEMO = shutil.which("dqlite-demo")
SHELL = shutil.which("dqlite")
DATABASE = "app"


def free_ports(n):
    """n loopback TCP ports nobody listens on now."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Node:
    def __init__(self, index, scratch, db_port, api_port):
        self.index = index
        self.address = f"127.0.0.1:{db_port}"
        self.api = f"127.0.0.1:{api_port}"
        self.dir = os.path.join(scratch, f"node{index}")
        self.log = os.path.join(scratch, f"node{index}.log")
        self.proc = None

    def start(self, join=None):
        os.makedirs(self.dir, exist_ok=True)
        env = dict(os.environ, LD_PRELOAD=os.environ["VELES_PRELOAD"],
                   VELES_MODULE=os.environ["VELES_PATH"])
        argv = [DEMO, "--api", self.api, "--db", self.address,
                "--dir", self.dir]
        if join:
            argv += ["--join", join]
        with open(self.log, "ab") as log:
            # the node's working directory is its data directory: a file
            # veles wrote beside a database outside the VFS would land here
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log,
                                         cwd=self.dir, env=env)

    def kill(self):
        """SIGKILL, as a crash or a power cut of this node would."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None


class Client:
    """examples/dqlite/client, one process for many transactions."""

    def __init__(self, addresses):
        self.proc = subprocess.Popen(
            [os.environ["DQLITE_CLIENT"], ",".join(addresses), DATABASE],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def tx(self, *statements):
        """Runs (sql, args, query) statements in one transaction: the
        client's answer, {"ok": ..., "rows": ..., "error": ...}."""
        req = {"tx": [{"sql": s, "args": list(a), "query": q}
                      for s, a, q in statements]}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the dqlite client exited"
        return json.loads(line)

    def query(self, sql, *args):
        """The rows of one query; fails the test on an error."""
        r = self.tx((sql, args, True))
        assert r["ok"], f"{sql}: {r.get('error')}"
        return r.get("rows", [])

    def exec(self, sql, *args):
        r = self.tx((sql, args, False))
        assert r["ok"], f"{sql}: {r.get('error')}"

    def transfer(self, node):
        """Hands the cluster's leadership to node."""
        self.proc.stdin.write(json.dumps({"transfer": node.address}) + "\n")
        self.proc.stdin.flush()
        r = json.loads(self.proc.stdout.readline())
        assert r["ok"], f"transfer to node {node.index}: {r.get('error')}"

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class Cluster:
    def __init__(self, scratch):
        self.scratch = scratch
        ports = free_ports(6)
        self.nodes = [Node(i, scratch, ports[i], ports[3 + i])
                      for i in range(3)]

    def addresses(self):
        return [n.address for n in self.nodes]

    def shell(self, command, cwd=None, timeout=30):
        """Debian's dqlite shell: its output, or None when it fails."""
        live = [n.address for n in self.nodes if n.proc]
        r = subprocess.run([SHELL, "-s", ",".join(live), DATABASE, command],
                           capture_output=True, text=True, cwd=cwd,
                           timeout=timeout)
        return r.stdout.strip() if r.returncode == 0 else None

    def start(self):
        """Bootstrap node 0, join 1 and 2; wait for three voters."""
        self.nodes[0].start()
        wait_for(lambda: self.shell(".leader"), "node 0 to lead")
        for n in self.nodes[1:]:
            n.start(join=self.nodes[0].address)

        def three_voters():
            out = self.shell(".cluster") or ""
            return out.count("|voter") == 3
        wait_for(three_voters, "three voters")

    def leader(self):
        """The node that leads now (waits for an election)."""
        def find():
            out = self.shell(".leader")
            return next((n for n in self.nodes
                         if n.proc and n.address == out), None)
        return wait_for(find, "a leader")

    def dump(self, node, into):
        """The database files node holds (its replicated pages), copied
        into the directory `into`; the database's path."""
        os.makedirs(into, exist_ok=True)
        for f in os.listdir(into):
            os.unlink(os.path.join(into, f))
        out = self.shell(f".dump {node.address} {DATABASE}", cwd=into)
        return os.path.join(into, DATABASE) if out == "OK" else None

    def stop(self):
        for n in self.nodes:
            n.stop()


def wait_for(probe, what, timeout=60):
    """probe()'s first true value, polling; fails after timeout seconds."""
    end = time.monotonic() + timeout
    while True:
        v = probe()
        if v:
            return v
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.2)
