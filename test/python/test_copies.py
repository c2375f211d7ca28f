"""Every way a SQLite user copies, backs up, moves or restores a database,
with and without the database's copy of the vectors (db_copy).

The matrix: copy method x journal mode x db_copy x writes after the copy.
Each copy is compared vector by vector with the state it must hold:
with the copy on, 0 wrong and 0 lost; with it off, a clear error that
names the side file (or, where the pair is still consistent, the right
vectors) and never a wrong one; veles_backup(), which copies the side
files too, gives 0 wrong and 0 lost with the copy off as well.
"""
import os
import random
import shutil
import sqlite3
import struct
import subprocess

import pytest

import veles

DIM = 8
SHELL = shutil.which("sqlite3")


def f32(vec):
    return struct.pack(f"<{DIM}f", *vec)


def connect(path):
    c = sqlite3.connect(path, isolation_level=None)
    veles.load(c)
    return c


def vector(rng):
    return [round(rng.uniform(-1, 1), 3) for _ in range(DIM)]


def write(c, state, rng, first, n):
    """One transaction: n inserts from id `first`, 20% of the older rows
    deleted, 10% overwritten (so slots are freed and reused)."""
    c.execute("BEGIN")
    old = sorted(state)
    for i in rng.sample(old, len(old) // 5):
        c.execute("DELETE FROM e WHERE id=?", (i,))
        del state[i]
    for i in rng.sample(sorted(state), len(state) // 10):
        v = vector(rng)
        c.execute("UPDATE e SET vec=? WHERE id=?", (f32(v), i))
        state[i] = v
    for i in range(first, first + n):
        v = vector(rng)
        c.execute("INSERT INTO e VALUES (?, ?)", (i, f32(v)))
        state[i] = v
    c.execute("COMMIT")


def side_files(path):
    d, base = os.path.split(str(path))
    return [os.path.join(d, f) for f in os.listdir(d)
            if f.startswith(base + "-vectors-")
            and not f.endswith("-rebuild")]


def read_all(path):
    """(rows {id: vector}, veles_check, top-3 ids for a query) or the
    error message."""
    c = connect(path)
    try:
        rows = {i: list(struct.unpack(f"<{DIM}f", v))
                for i, v in c.execute("SELECT id, vec FROM e")}
        q = f32([0.5] * DIM)
        top = [i for i, in c.execute(
            "SELECT id FROM e WHERE vec MATCH ? AND k=3", (q,))]
        check = c.execute("SELECT veles_check('e')").fetchone()[0]
        return rows, check, top
    except sqlite3.Error as e:
        return str(e)
    finally:
        c.close()


def expect_state(got, state):
    rows, check, top = got
    f32state = {i: list(struct.unpack(f"<{DIM}f", f32(v)))
                for i, v in state.items()}
    wrong = [i for i in rows if i in f32state and rows[i] != f32state[i]]
    lost = [i for i in f32state if i not in rows]
    extra = [i for i in rows if i not in f32state]
    assert (wrong, lost, extra) == ([], [], [])
    assert check == "ok"
    def dist(v):
        return sum((x - 0.5) ** 2 for x in v)
    best = sorted(f32state, key=lambda i: (dist(f32state[i]), i))[:3]
    assert [round(dist(f32state[i]), 4) for i in top] == \
           [round(dist(f32state[i]), 4) for i in best]


METHODS = ["shell_backup", "python_backup", "vacuum_into", "cp_db", "mv_db",
           "restore_older_db", "restore_older_side_file", "veles_backup"]


@pytest.mark.parametrize("later", [False, True], ids=["now", "later"])
@pytest.mark.parametrize("copy", ["on", "off"])
@pytest.mark.parametrize("journal", ["delete", "wal"])
@pytest.mark.parametrize("method", METHODS)
def test_copy(tmp_path, method, journal, copy, later):
    if method == "shell_backup" and SHELL is None:
        pytest.skip("no sqlite3 shell")
    rng = random.Random(f"{method}{journal}{copy}{later}")
    app = tmp_path / "app.db"
    dst = tmp_path / "copy.db"
    state = {}
    c = connect(app)
    c.execute(f"PRAGMA journal_mode={journal}")
    c.execute(f"CREATE VIRTUAL TABLE e USING vectors(dim={DIM}, "
              f"db_copy={copy})")
    write(c, state, rng, 1, 300)
    write(c, state, rng, 1000, 100)
    at_copy = dict(state)
    saved = {}
    if method == "shell_backup":
        subprocess.run([SHELL, str(app), f".backup '{dst}'"], check=True)
    elif method == "python_backup":
        d = sqlite3.connect(dst)
        c.backup(d)
        d.close()
    elif method == "vacuum_into":
        c.execute("VACUUM INTO ?", (str(dst),))
    elif method == "veles_backup":
        assert c.execute("SELECT veles_backup(?)", (str(dst),)
                         ).fetchone() == (1,)
    elif method in ("cp_db", "restore_older_db"):
        c.close()                       # the WAL is checkpointed and gone
        shutil.copy(app, dst)
        c = connect(app)
    elif method == "restore_older_side_file":
        for f in side_files(app):
            saved[f] = open(f, "rb").read()
    # more writes to the original after the copy was made
    if later:
        if journal == "wal":
            c.execute("PRAGMA wal_checkpoint(RESTART)")
        write(c, state, rng, 2000, 100)
        write(c, state, rng, 3000, 100)
    c.close()
    if method == "mv_db":
        os.rename(app, dst)
        at_copy = state
    elif method == "restore_older_db":
        shutil.copy(dst, app)           # yesterday's database, today's side
        os.unlink(dst)
        dst = app
    elif method == "restore_older_side_file":
        for f, data in saved.items():
            with open(f, "wb") as out:
                out.write(data)
        dst = app
        at_copy = state
    got = read_all(dst)
    if copy == "on":
        assert not isinstance(got, str), got
        expect_state(got, at_copy)
        # and the copy has a working side file of its own now
        assert side_files(dst)
        return
    if method == "veles_backup":
        assert not isinstance(got, str), got
        expect_state(got, at_copy)
        return
    # db_copy=off: a clear error, or (a pair still consistent) right rows
    if isinstance(got, str):
        assert "side file" in got and "db_copy=off" in got, got
    else:
        expect_state(got, at_copy)
    if method in ("shell_backup", "python_backup", "vacuum_into", "cp_db",
                  "mv_db"):
        assert isinstance(got, str) and "is missing" in got, got


def test_copy_after_a_rolled_back_write(tmp_path):
    """The copy holds committed vectors only."""
    c = connect(tmp_path / "a.db")
    c.execute("CREATE VIRTUAL TABLE e USING vectors(dim=8)")
    c.execute("INSERT INTO e VALUES (1, ?)", (f32([1] * DIM),))
    c.execute("BEGIN")
    c.execute("UPDATE e SET vec=? WHERE id=1", (f32([2] * DIM),))
    c.execute("INSERT INTO e VALUES (2, ?)", (f32([3] * DIM),))
    c.execute("ROLLBACK")
    c.execute("VACUUM INTO ?", (str(tmp_path / "b.db"),))
    c.close()
    got = read_all(tmp_path / "b.db")
    expect_state(got, {1: [1] * DIM})


def test_memdb_writes_no_file(tmp_path):
    """Under the memdb VFS the working copy lives in memory: nothing is
    written outside it, and a second connection sees the vectors."""
    name = f"/veles-memdb-{os.getpid()}.db"
    uri = f"file:{name}?vfs=memdb"
    a = sqlite3.connect(uri, uri=True, isolation_level=None)
    b = sqlite3.connect(uri, uri=True, isolation_level=None)
    veles.load(a)
    veles.load(b)
    a.execute("CREATE VIRTUAL TABLE e USING vectors(dim=2)")
    a.execute("INSERT INTO e VALUES (1, '[1,2]'), (2, '[3,4]')")
    assert b.execute("SELECT id, veles_json(vec) FROM e").fetchall() == \
        [(1, "[1.0,2.0]"), (2, "[3.0,4.0]")]
    b.execute("INSERT INTO e VALUES (3, '[5,6]')")
    assert a.execute("SELECT id FROM e WHERE vec MATCH '[5,6]' AND k=1"
                     ).fetchall() == [(3,)]
    assert a.execute("SELECT veles_check('e')").fetchone()[0] == "ok"
    assert not [f for f in os.listdir("/") if f.startswith(name[1:])]
    d = sqlite3.connect(tmp_path / "disk.db")
    a.backup(d)
    d.close()
    a.close()
    b.close()
    d = connect(tmp_path / "disk.db")
    assert d.execute("SELECT id, veles_json(vec) FROM e").fetchall() == \
        [(1, "[1.0,2.0]"), (2, "[3.0,4.0]"), (3, "[5.0,6.0]")]
    assert d.execute("SELECT veles_check('e')").fetchone()[0] == "ok"
    d.close()


def test_veles_backup_memdb(tmp_path):
    """Under the memdb VFS veles_backup() writes nothing beside the source:
    tables with the copy come along in the database's pages (their side
    file is made at the first use), one without it is refused."""
    uri = f"file:/veles-backup-{os.getpid()}.db?vfs=memdb"
    a = sqlite3.connect(uri, uri=True, isolation_level=None)
    veles.load(a)
    a.execute("CREATE VIRTUAL TABLE e USING vectors(dim=2)")
    a.execute("INSERT INTO e VALUES (1, '[1,2]'), (2, '[3,4]')")
    assert a.execute("SELECT veles_backup(?)",
                     (str(tmp_path / "m.db"),)).fetchone() == (0,)
    a.execute("CREATE VIRTUAL TABLE f USING vectors(dim=2, db_copy=off)")
    with pytest.raises(sqlite3.OperationalError, match="cannot be backed up"):
        a.execute("SELECT veles_backup(?)", (str(tmp_path / "n.db"),))
    a.close()
    assert sorted(os.listdir(tmp_path)) == ["m.db"]
    d = connect(tmp_path / "m.db")
    assert d.execute("SELECT id, veles_json(vec) FROM e").fetchall() == \
        [(1, "[1.0,2.0]"), (2, "[3.0,4.0]")]
    assert d.execute("SELECT veles_check('e')").fetchone()[0] == "ok"
    d.close()
