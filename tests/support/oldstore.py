"""A store file as an older meshq left it, for migration tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from meshq.store.connection import _statements
from meshq.store.schema import MIGRATIONS


def store_at_schema(path: Path, version: int) -> sqlite3.Connection:
    """Create ``path`` with migrations 1 to ``version`` only, as that meshq
    made it; an open connection (autocommit) to fill it the way it was used."""
    conn = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:version], start=1):
        for statement in _statements(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    return conn
