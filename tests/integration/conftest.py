"""Fixtures for the integration tier: a real SQLite file in a temp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from meshq.model import JobSpec, Queue, Status
from meshq.names import expand
from meshq.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "meshq.db")
    yield s
    s.close()


@pytest.fixture
def make_queue(store: Store, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A factory: a queue with jobs named by a pattern, all running one command."""

    def make(
        name: str = "q",
        pattern: str = "job[1-3]",
        command: str = "true",
        host: str | None = "localhost",
        **spec: object,
    ) -> Queue:
        q = store.create_queue(name, str(tmp_path / "exp"))
        status = Status.READY if host else Status.UNDEFINED
        store.add_jobs(q, expand(pattern), JobSpec(command=command, host=host, **spec), status)  # type: ignore[arg-type]
        return q

    return make
