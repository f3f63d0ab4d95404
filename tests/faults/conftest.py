"""Fixtures for the fault-injection tier: meshq crashed, raced, overloaded and
cut off from its hosts, with real processes and real ``sshd`` test hosts.

* ``cli`` -- the ``meshq`` CLI on a fresh store of the test's own
  (``MESHQ_HOME`` under its tmp dir); whatever it left running on this
  machine is killed at teardown.
* ``cluster(n)`` -- ``n`` fresh sshd test hosts ``mq1``..``mqN`` (killed at
  teardown), which ``cli`` and the Python API (``MESHQ_SSH_CONFIG``) reach.
* ``api`` -- the service layer (:class:`meshq.service.Service`) on the same store as
  ``cli``, for scenarios that need the run in this process (``host_lost_after``
  and ``reprobe_every`` are not options of the CLI).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from meshq.service import Service
from tests.faults.helpers import Cli, kill_tagged
from tests.support.fixtures import ClusterFactory
from tests.support.sshd import SshCluster


@pytest.fixture(scope="session")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the meshq subprocesses keep their bytecode (kept out of the tree)."""
    return tmp_path_factory.mktemp("pycache")


@pytest.fixture
def cli(
    tmp_path: Path, pycache: Path, monkeypatch: pytest.MonkeyPatch, submit_folder: Path
) -> Iterator[Cli]:
    handle = Cli(tmp_path, work=submit_folder)
    # dozens of meshq starts: let them share compiled bytecode
    handle.env.pop("PYTHONDONTWRITEBYTECODE", None)
    handle.env["PYTHONPYCACHEPREFIX"] = str(pycache)
    # the API (``api``) uses the same store, and so do the agents it starts here
    monkeypatch.setenv("MESHQ_HOME", str(handle.home))
    for name in ("MESHQ_DB", "MESHQ_FAULT", "MESHQ_FAULT_AFTER", "MESHQ_SSH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield handle
    finally:
        handle.cleanup()


@pytest.fixture
def cluster(
    make_ssh_cluster: ClusterFactory, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> Callable[[int], SshCluster]:
    """A factory: ``cluster(n)`` starts ``n`` fresh sshd hosts and points the
    CLI and the API at them."""

    def make(n: int) -> SshCluster:
        made = make_ssh_cluster(n)
        cli.use(made.ssh_config)
        monkeypatch.setenv("MESHQ_SSH_CONFIG", str(made.ssh_config))
        return made

    return make


@pytest.fixture
def api(cli: Cli) -> Iterator[Service]:
    handle = Service(cli.db, warn=lambda text: None)
    try:
        yield handle
    finally:
        handle.close()
        # the local agent and jobs of an in-process run carry MESHQ_HOME too
        assert os.environ["MESHQ_HOME"] == str(cli.home)
        kill_tagged([cli.tag])
