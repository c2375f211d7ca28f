"""The workload both replication tests run, its model, and the checks.

Transaction i writes a row of the plain table log(txn), four new vectors
of `e` (a `vectors` table), a payload of `m` (a `payloads` table), and,
once there are enough, deletes an older vector (its slot is reused
later), updates another, and now and then deletes a payload: all in one
transaction, so a vector and its payload commit together. The model
holds the state the committed transactions made; check_state() compares
a database's answers with it (vector by vector, a brute-force search,
payloads and their field index, veles_check).
"""
import json
import math
import random
import struct
import time

DIM = 8
K = 10
LANGS = ["en", "fr", "de"]
SCHEMA = ["CREATE TABLE log(txn INTEGER PRIMARY KEY)",
          f"CREATE VIRTUAL TABLE e USING vectors(dim={DIM})",
          "CREATE VIRTUAL TABLE m USING payloads(lang TEXT)"]


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


def local_query(conn):
    """check_state()'s run_query for a sqlite3 connection of this process:
    BLOBs in and out as {"hex": ...}, as the dqlite client gives them."""
    def run_query(sql, *args):
        args = [bytes.fromhex(a["hex"]) if isinstance(a, dict) else a
                for a in args]
        return [[{"hex": v.hex()} if isinstance(v, bytes) else v for v in r]
                for r in conn.execute(sql, args)]
    return run_query


class LocalClient:
    """run_transactions()'s client for a sqlite3 connection of this
    process (opened with isolation_level=None), answering as the dqlite
    client does."""

    def __init__(self, conn):
        self.conn = conn
        self.query_rows = local_query(conn)

    def tx(self, *statements):
        rows = []
        try:
            self.conn.execute("BEGIN")
            for sql, args, query in statements:
                r = self.query_rows(sql, *args)
                if query:
                    rows = r
            self.conn.execute("COMMIT")
        except Exception as e:  # noqa: BLE001 -- answered, as the client does
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            return {"ok": False, "error": str(e)}
        return {"ok": True, "rows": rows}


def model_at(n):
    """The model after transactions 1..n."""
    m = Model()
    for i in range(1, n + 1):
        _, vec_changes, pay_changes = m.statements(i)
        m.apply(i, vec_changes, pay_changes)
    return m
