"""Opening the SQLite file: where it lives, who may read it, how it is
configured, and how its schema is brought up to date.

The store holds every command line and host, so it is private: meshq makes
its data folder 0700 and the store file 0600 when it creates them (SQLite
gives the ``-wal`` and ``-shm`` files the store file's mode), and says so
when an existing store is open to other users. Job files are not meshq's
to guard: they keep the user's umask.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from meshq.errors import StoreError, UsageError, shown_path
from meshq.store.schema import MIGRATIONS, SCHEMA_VERSION

#: how long a writer waits for another writer before giving up (ms)
BUSY_TIMEOUT_MS = 30_000
#: the mode of a data folder meshq creates, and of a store file it creates
FOLDER_MODE = 0o700
STORE_MODE = 0o600
#: the files of one store: the SQLite file and its WAL companions
_SUFFIXES = ("", "-wal", "-shm")


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


def check_named_path(path: Path, given_as: str = "--db or MESHQ_DB") -> None:
    """Refuse a store path the user named (``given_as`` says how) whose
    folder does not exist, or that is a folder itself.

    meshq creates only its own data folder: a folder named by the user that
    is missing is a typo far more often than a wish, and creating it would
    hide the typo and scatter stores.
    """
    where = shown_path(path)
    try:
        _check_named_path(path, where, given_as)
    except OSError as err:  # a name too long, a folder we may not enter
        raise UsageError(
            f"the store {where} ({given_as}) cannot be used: {err.strerror}: give another path"
        ) from None


def _check_named_path(path: Path, where: str, given_as: str) -> None:
    folder = path.parent
    if path.is_dir():
        raise UsageError(
            f"the store {where} ({given_as}) is a folder: give a file in it, such as "
            f"{shown_path(path / 'meshq.db')}"
        )
    if folder.exists() and not folder.is_dir():
        raise UsageError(
            f"the store {where} ({given_as}) is under {shown_path(folder)}, which is not a "
            "folder: give another path"
        )
    if not folder.is_dir():
        command = f"mkdir -p {shlex.quote(str(folder))}"
        fix = f"create it with '{command}'" if shown_path(command) == command else "create it"
        raise UsageError(
            f"the folder of the store {where} ({given_as}) does not exist: {fix}, or give "
            "another path"
        )


def connect(path: Path, *, named: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the store at ``path``.

    ``named``: the user gave the path (``--db``, ``MESHQ_DB``, the API's
    ``db``), and its folder must exist (:func:`check_named_path`); else it
    is the default store, and its data folder is created (0700). A store
    file created here is 0600.

    The connection is in autocommit mode: every write goes through
    :func:`transaction`, which takes the write lock up front (``BEGIN
    IMMEDIATE``) so read-modify-write sequences never interleave.
    """
    if named:
        check_named_path(path)
    try:
        if not named:
            _make_private_folder(path.parent)
        _create_private_file(path)
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    except (OSError, sqlite3.Error) as err:
        raise StoreError(f"cannot open the store {shown_path(path)}: {err}") from None
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL: a commit is durable against a crash of meshq, and an
        # OS crash can lose at most the last commits, never corrupt the file.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # statement journals in memory: a write that fires the count
        # triggers (schema 9) needs one per row, and past 64 KiB SQLite moves
        # it to a temporary file for good; a 100,000-job run then made
        # 400,000 writes to /var/tmp and cost 25% more CPU a job
        conn.execute("PRAGMA temp_store = MEMORY")
        _migrate(conn)
    except sqlite3.DatabaseError as err:
        conn.close()
        raise StoreError(
            f"{shown_path(path)} is not a usable meshq store ({err}): move it away or pass "
            "another --db"
        ) from None
    return conn


def _make_private_folder(folder: Path) -> None:
    """Create meshq's data folder, 0700, unless it exists (then it is left
    as it is: it is the user's). Missing parents get the umask's mode."""
    if folder.is_dir():
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=FOLDER_MODE)
    except FileExistsError:
        return  # another meshq made it at the same moment
    # mkdir's mode passes through the umask, which may take bits we need
    folder.chmod(FOLDER_MODE)


def _create_private_file(path: Path) -> None:
    """Create the store file 0600 if it does not exist, before SQLite opens
    it (SQLite would create it 0644, less the umask). An empty file is a
    valid empty database; O_EXCL leaves a store made meanwhile alone."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, STORE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, STORE_MODE)  # exactly 0600, whatever the umask
    finally:
        os.close(fd)


def exposure(path: Path) -> str | None:
    """A warning, when the store at ``path`` (or its ``-wal``/``-shm``
    file) can be read or written by its group or by other users: what, and
    the ``chmod`` that makes it private. ``None`` when it is private."""
    exposed: list[tuple[Path, int]] = []
    for suffix in _SUFFIXES:
        file = path.with_name(path.name + suffix)
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except OSError:
            continue  # no such file (no -wal yet), or not ours to look at
        if mode & 0o066:  # read or write for the group or for others
            exposed.append((file, mode))
    if not exposed:
        return None
    first, mode = exposed[0]
    files = " ".join(shlex.quote(str(f)) for f, _ in exposed)
    return (
        f"the store {shown_path(first)} can be read or written by other users "
        f"(mode {mode:04o}), and it holds every command and host: make it private "
        f"with 'chmod 600 {files}'"
    )


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
