"""veles through Python's sqlite3 module and the bindings/python package.

Run by ctest (test/tests.cmake) as
    VELES_PATH=<build>/veles.so PYTHONPATH=bindings/python \
        /usr/bin/python3 -m pytest -q test/python
Debian's /usr/bin/python3 is used because its sqlite3 module can load
extensions.
"""
import os
import re
import sqlite3
import struct
import subprocess
import sys

import pytest

import veles

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODULE = os.environ["VELES_PATH"]


def header_version():
    with open(os.path.join(ROOT, "include", "veles.h")) as f:
        return re.search(r'#define VELES_VERSION "([^"]+)"', f.read())[1]


def f32(vec):
    return struct.pack(f"<{len(vec)}f", *vec)


@pytest.fixture
def conn(tmp_path):
    c = sqlite3.connect(tmp_path / "t.db")
    veles.load(c)
    yield c
    c.close()


# 1. finding the module
def test_1_0_env_var_file(monkeypatch):
    monkeypatch.setenv("VELES_PATH", MODULE)
    assert veles.loadable_path() == MODULE


def test_1_1_env_var_without_suffix_or_directory(monkeypatch):
    monkeypatch.setenv("VELES_PATH", MODULE[: -len(".so")])
    assert veles.loadable_path() == MODULE
    monkeypatch.setenv("VELES_PATH", os.path.dirname(MODULE))
    assert veles.loadable_path() == MODULE


def test_1_2_env_var_wins_even_when_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("VELES_PATH", str(tmp_path / "nowhere.so"))
    with pytest.raises(FileNotFoundError,
                       match=r"veles: loadable extension not found; "
                             r"looked at VELES_PATH: .*nowhere\.so$"):
        veles.loadable_path()


def test_1_3_package_then_build(monkeypatch, tmp_path):
    monkeypatch.delenv("VELES_PATH")
    pkg = os.path.join(os.path.dirname(veles.__file__), "veles.so")
    build = os.path.join(ROOT, "build", "veles.so")
    try:
        path = veles.loadable_path()
        assert path == (pkg if os.path.isfile(pkg) else build)
    except FileNotFoundError as e:
        assert str(e) == ("veles: loadable extension not found; looked at "
                          f"package: {pkg}; build: {build}")


# 2. loading
def test_2_0_version_is_the_headers(conn):
    assert conn.execute("SELECT veles_version()").fetchone() == \
        (header_version(),)


def test_2_1_loading_is_disabled_again(conn):
    with pytest.raises(sqlite3.OperationalError, match="not authorized"):
        conn.execute("SELECT load_extension(?)", (MODULE,)).fetchall()


def test_2_2_python_without_extension_loading():
    class NoLoad:  # what pyenv's sqlite3.Connection looks like
        pass
    with pytest.raises(RuntimeError, match="cannot load extensions"):
        veles.load(NoLoad())


def test_2_3_load_twice(conn):
    veles.load(conn)
    assert conn.execute("SELECT veles_dim('[1,2]')").fetchone() == (2,)


# 3. vectors and payloads
def test_3_0_store_and_retrieve(conn):
    conn.execute("CREATE VIRTUAL TABLE emb USING vectors(dim=3)")
    conn.execute("CREATE VIRTUAL TABLE meta USING payloads")
    with conn:
        conn.execute("INSERT INTO emb(id, vec) VALUES (?, ?)",
                     (1, f32([0.5, -1, 2])))
        conn.execute("INSERT INTO emb(id, vec) VALUES (?, ?)",
                     (2, "[1, 2, 3]"))
        conn.execute("INSERT INTO meta(id, json) VALUES (1, ?)",
                     ('{"tag": "x"}',))
    assert conn.execute("SELECT vec FROM emb WHERE id = 1").fetchone() == \
        (f32([0.5, -1, 2]),)
    assert conn.execute("SELECT veles_json(vec) FROM emb WHERE id = 2"
                        ).fetchone() == ("[1.0,2.0,3.0]",)
    assert conn.execute("SELECT json ->> '$.tag' FROM meta WHERE id = 1"
                        ).fetchone() == ("x",)
    assert conn.execute("SELECT id FROM emb ORDER BY id").fetchall() == \
        [(1,), (2,)]


def test_3_1_batch_is_atomic(conn):
    conn.execute("CREATE VIRTUAL TABLE emb USING vectors(dim=2)")
    conn.execute("CREATE VIRTUAL TABLE meta USING payloads")
    with pytest.raises(sqlite3.OperationalError,
                       match="^vectors: dimension mismatch: "
                             "expected 2, got 3$"):
        with conn:  # commits on success, rolls back on an exception
            conn.executemany("INSERT INTO emb(id, vec) VALUES (?, ?)",
                             [(1, "[1,2]"), (2, "[3,4]")])
            conn.execute("INSERT INTO meta(id, json) VALUES (1, '{}')")
            conn.execute("INSERT INTO emb(id, vec) VALUES (3, '[1,2,3]')")
    assert conn.execute("SELECT (SELECT count(*) FROM emb), "
                        "(SELECT count(*) FROM meta)").fetchone() == (0, 0)
    assert conn.execute("SELECT veles_check('emb')").fetchone() == ("ok",)


def test_3_2_errors(conn):
    conn.execute("CREATE VIRTUAL TABLE emb USING vectors(dim=2)")
    conn.execute("CREATE VIRTUAL TABLE meta USING payloads")
    conn.execute("INSERT INTO emb(id, vec) VALUES (1, '[1,2]')")
    with pytest.raises(sqlite3.IntegrityError,
                       match=r"^UNIQUE constraint failed: emb\.id$"):
        conn.execute("INSERT INTO emb(id, vec) VALUES (1, '[1,2]')")
    with pytest.raises(sqlite3.OperationalError,
                       match=r"^payloads: invalid JSON at byte 5: "
                             r"unexpected end of text$"):
        conn.execute("""INSERT INTO meta(id, json) VALUES (1, '{"a":')""")
    conn.rollback()


def test_3_3_durable_across_connections(tmp_path):
    path = tmp_path / "d.db"
    c = sqlite3.connect(path)
    veles.load(c)
    with c:
        c.execute("CREATE VIRTUAL TABLE emb USING vectors(dim=2)")
        c.executemany("INSERT INTO emb(id, vec) VALUES (?, ?)",
                      [(i, f32([i, -i])) for i in range(100)])
    c.close()
    assert [p.name for p in tmp_path.iterdir()
            if p.name.startswith("d.db-vectors-")] != []
    c = sqlite3.connect(path)
    veles.load(c)
    assert c.execute("SELECT count(*), sum(id) FROM emb").fetchone() == \
        (100, 4950)
    assert c.execute("SELECT vec FROM emb WHERE id = 42").fetchone() == \
        (f32([42, -42]),)
    c.close()


# 4. search
def test_4_0_search(conn):
    conn.execute("CREATE VIRTUAL TABLE emb USING vectors(dim=2)")
    conn.executemany("INSERT INTO emb(id, vec) VALUES (?, ?)",
                     [(i, f32([i, 0])) for i in range(10)])
    rows = conn.execute("SELECT id, distance FROM emb "
                        "WHERE vec MATCH ? AND k = ?",
                        (f32([3.2, 0]), 3)).fetchall()
    assert [r[0] for r in rows] == [3, 4, 2]
    assert rows[0][1] == pytest.approx(0.2, abs=1e-6)


# 5. the example
def test_5_0_example(tmp_path):
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bindings", "python",
                                      "example.py"), str(tmp_path / "x.db")],
        check=True, capture_output=True, text=True).stdout
    first, rest = out.split("\n", 1)
    assert re.fullmatch(r"veles \S+ on SQLite 3\.\d+\.\d+", first)
    with open(os.path.join(ROOT, "examples", "example.out")) as f:
        assert rest == f.read()
