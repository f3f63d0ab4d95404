"""The SQLite state store (see :mod:`meshq.store.store`)."""

from meshq.store.connection import data_home, default_db_path
from meshq.store.store import Change, Store

__all__ = ["Change", "Store", "data_home", "default_db_path"]
