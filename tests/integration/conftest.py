"""Fixtures for the integration tier: a real SQLite file in a temp dir, and for the SSH
host kind's tests (``test_ssh_*.py``) a service on it and real sshd test hosts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from meshq.model import JobSpec, Queue, Status
from meshq.names import expand
from meshq.service import Service
from meshq.store import Store
from tests.support.fixtures import ClusterFactory
from tests.support.sshd import SshCluster


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


@pytest.fixture
def mq(tmp_path: Path) -> Iterator[Service]:
    """The service layer on a fresh store of the test's own (modules may define their own)."""
    handle = Service(tmp_path / "db", warn=lambda text: None)
    yield handle
    handle.close()


@pytest.fixture
def cluster3(ssh_cluster3: SshCluster, monkeypatch: pytest.MonkeyPatch) -> SshCluster:
    """The module's shared three hosts, with meshq's transport pointed at them."""
    monkeypatch.setenv("MESHQ_SSH_CONFIG", str(ssh_cluster3.ssh_config))
    return ssh_cluster3


@pytest.fixture
def own_cluster(
    make_ssh_cluster: ClusterFactory, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., SshCluster]:
    """A fresh cluster for a test that kills or breaks hosts."""

    def make(n: int, **kw: Any) -> SshCluster:
        cluster = make_ssh_cluster(n, **kw)
        monkeypatch.setenv("MESHQ_SSH_CONFIG", str(cluster.ssh_config))
        return cluster

    return make
