"""pytest fixtures that hand tests a real Slurm cluster (see ``tests/support/slurm.py``).

Loaded for the whole suite through ``pytest_plugins`` in ``tests/conftest.py``.

* ``slurm_cluster`` -- session-scoped: the daemons start once per test session (a second
  or so) and stop at its end; ``SLURM_CONF`` points at it for the whole session.
* ``slurm`` -- the same cluster for one test: its node takes jobs when the test starts,
  and every job left in it is cancelled when the test ends.

Without Slurm (Debian's ``slurm-wlm`` and ``munge``) or root, the fixtures skip the
test, except under CI (``CI`` set and not "false"/"0"), where they fail it with the fix:
CI must never pass by silently skipping the Slurm tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.ci import unavailable
from tests.support.slurm import SlurmCluster, slurm_available, start_slurm

__all__ = ["slurm", "slurm_cluster"]


def require_slurm() -> None:
    """Skip the current test when a test Slurm cluster cannot run here; fail it under CI."""
    reason = slurm_available()
    if reason is None:
        return
    unavailable(f"a real Slurm: {reason}")


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """One real single-node Slurm cluster for the whole session (see the module doc)."""
    require_slurm()
    cluster = start_slurm()
    before = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before
        cluster.stop()


@pytest.fixture
def slurm(slurm_cluster: SlurmCluster) -> Iterator[SlurmCluster]:
    """The session's cluster, its node taking jobs; its jobs cancelled afterwards."""
    if slurm_cluster.node_state().rstrip("*~#") in ("down", "drained", "draining"):
        slurm_cluster.set_node("resume")
    slurm_cluster.wait_idle()
    try:
        yield slurm_cluster
    finally:
        slurm_cluster.cancel_all()
