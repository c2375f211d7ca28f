"""veles for Python's sqlite3 module.

    import sqlite3, veles
    conn = sqlite3.connect("app.db")
    veles.load(conn)
    conn.execute("CREATE VIRTUAL TABLE emb USING vectors(dim=384)")

``loadable_path()`` finds the compiled extension (veles.so) and ``load()``
loads it into a connection. The sqlite3 module must allow extensions:
Debian's /usr/bin/python3 does; Pythons built without
--enable-loadable-sqlite-extensions (pyenv's and python.org's defaults)
do not, and ``load()`` then says so.
"""
import os
import sqlite3
import sys

__all__ = ["loadable_path", "load", "ENV_VAR"]

# An explicit path to the module, e.g. /usr/local/lib/sqlite3/veles.so
ENV_VAR = "VELES_PATH"

_SUFFIX = {"win32": ".dll", "darwin": ".dylib"}.get(sys.platform, ".so")
_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    """Where loadable_path() looks, in order, as (where, path) pairs."""
    env = os.environ.get(ENV_VAR)
    if env:
        # A path given on purpose wins over anything found by looking.
        if os.path.isdir(env):
            env = os.path.join(env, "veles" + _SUFFIX)
        elif not env.endswith(_SUFFIX):
            env += _SUFFIX
        yield ENV_VAR, env
    # Beside this file: a package that ships the module (copied or
    # installed next to __init__.py).
    yield "package", os.path.join(_HERE, "veles" + _SUFFIX)
    # The repository's build tree: bindings/python/veles -> build/
    yield "build", os.path.normpath(
        os.path.join(_HERE, "..", "..", "..", "build", "veles" + _SUFFIX))


def loadable_path():
    """The full path of the veles loadable extension.

    Looks, in this order, at
      1. $VELES_PATH (a file, with or without its suffix, or a directory
         holding veles.so): when set, it is the answer, found or not;
      2. veles.so beside this package's __init__.py;
      3. build/veles.so of the repository this package sits in.
    Raises FileNotFoundError naming every place looked at.
    """
    looked = []
    for where, path in _candidates():
        if os.path.isfile(path):
            return path
        looked.append(f"{where}: {path}")
        if where == ENV_VAR:
            break
    raise FileNotFoundError(
        "veles: loadable extension not found; looked at " + "; ".join(looked))


def load(conn):
    """Load veles into an open sqlite3.Connection.

    Extension loading is enabled only for the call and disabled again
    afterwards, so SQL run later on the connection cannot load_extension().
    """
    if not hasattr(conn, "enable_load_extension"):
        raise RuntimeError(
            "veles: this Python's sqlite3 module cannot load extensions "
            "(built without --enable-loadable-sqlite-extensions); use one "
            "that can, e.g. Debian's /usr/bin/python3")
    path = loadable_path()
    conn.enable_load_extension(True)
    try:
        conn.load_extension(path)
    finally:
        conn.enable_load_extension(False)
