"""Opening the SQLite file: where it lives, how it is configured, and how
its schema is brought up to date.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from meshq.errors import StoreError
from meshq.store.schema import MIGRATIONS, SCHEMA_VERSION

#: how long a writer waits for another writer before giving up (ms)
BUSY_TIMEOUT_MS = 30_000


def data_home() -> Path:
    """meshq's own folder: ``$MESHQ_HOME``, else ``$XDG_DATA_HOME/meshq``,
    else ``~/.local/share/meshq``."""
    if home := os.environ.get("MESHQ_HOME"):
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg).expanduser() / "meshq"


def default_db_path() -> Path:
    """The store file used when neither ``--db`` nor ``MESHQ_DB`` names one."""
    if db := os.environ.get("MESHQ_DB"):
        return Path(db).expanduser()
    return data_home() / "meshq.db"


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the store at ``path``.

    The connection is in autocommit mode: every write goes through
    :func:`transaction`, which takes the write lock up front (``BEGIN
    IMMEDIATE``) so read-modify-write sequences never interleave.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    except (OSError, sqlite3.Error) as err:
        raise StoreError(f"cannot open the store {path}: {err}") from None
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL: a commit is durable against a crash of meshq, and an
        # OS crash can lose at most the last commits, never corrupt the file.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        _migrate(conn)
    except sqlite3.DatabaseError as err:
        conn.close()
        raise StoreError(
            f"{path} is not a usable meshq store ({err}): move it away or pass another --db"
        ) from None
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the store has schema version {version}, newer than this meshq "
            f"understands ({SCHEMA_VERSION}): upgrade meshq"
        )
    if version == SCHEMA_VERSION:
        return
    with transaction(conn):
        # re-read under the write lock: another process may have migrated
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _statements(MIGRATIONS[number - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")


def _statements(script: str) -> Iterator[str]:
    # executescript() would COMMIT our transaction; run statement by statement.
    buf = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf
            buf = ""


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: ``BEGIN IMMEDIATE`` … ``COMMIT`` (rollback on error)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as err:
        raise StoreError(f"the store is busy ({err}): try again") from None
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
