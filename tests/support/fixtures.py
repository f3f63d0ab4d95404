"""pytest fixtures that hand tests real sshd test hosts (see ``tests/support/sshd.py``).

Loaded for the whole suite through ``pytest_plugins`` in ``tests/conftest.py``.

* ``make_ssh_cluster(n, **kw)`` -- function-scoped factory; every cluster it made is torn
  down (sshd, sessions and jobs killed) when the test ends.
* ``ssh_cluster3`` -- a module-scoped cluster of three hosts ``mq1``..``mq3``, shared by the
  tests of one module. Tests that kill or restart hosts should make their own cluster.

Without sshd the fixtures skip the test, except under CI (``CI`` set and not "false"/"0"),
where they fail it: CI must never pass by silently skipping the ssh tests.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Protocol

import pytest

from tests.support.sshd import SshCluster, sshd_available, start_cluster

__all__ = ["ClusterFactory", "make_ssh_cluster", "require_sshd", "ssh_cluster3"]

#: First and last last-octet handed out; 127.0.0.1 stays free for ordinary loopback use.
_FIRST_OCTET = 2
_LAST_OCTET = 254
_next_octet = _FIRST_OCTET


def _allocate_octets(n: int) -> int:
    """Return the first last-octet of a fresh 127.0.0.x range of ``n`` addresses.

    Each cluster of the session gets its own addresses, so a test that sees an address
    knows which cluster it belongs to, even while a module-scoped cluster is alive next to
    a function-scoped one. Wraps around after .254 (old clusters are long gone by then).
    """
    global _next_octet
    if n > _LAST_OCTET - _FIRST_OCTET + 1:
        raise ValueError(f"at most {_LAST_OCTET - _FIRST_OCTET + 1} hosts per cluster")
    if _next_octet + n - 1 > _LAST_OCTET:
        _next_octet = _FIRST_OCTET
    first = _next_octet
    _next_octet += n
    return first


def _ci() -> bool:
    """Whether we run under CI, where skipping the ssh tests is not acceptable."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_sshd() -> None:
    """Skip the current test when real sshd hosts cannot run here; fail it under CI."""
    reason = sshd_available()
    if reason is None:
        return
    if _ci():
        pytest.fail(
            f"real sshd test hosts are required under CI but unavailable: {reason}",
            pytrace=False,
        )
    pytest.skip(f"real sshd test hosts unavailable: {reason}")


class ClusterFactory(Protocol):
    """Signature of the ``make_ssh_cluster`` fixture's value."""

    def __call__(
        self,
        n: int,
        *,
        first_octet: int | None = None,
        name_prefix: str = "mq",
        wrong_known_host_for: Collection[str] = (),
        user: str | None = None,
    ) -> SshCluster:
        """Start ``n`` hosts (see ``start_cluster``); the fixture stops them at teardown."""
        ...


@pytest.fixture
def make_ssh_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterFactory]:
    """Factory fixture: ``make_ssh_cluster(n, **kw)`` starts a fresh cluster of ``n`` hosts.

    Keyword arguments go to ``start_cluster``; ``first_octet`` defaults to a range no
    other cluster of this session uses. Every cluster made is stopped (sshd, sessions and
    the jobs they started all killed) at the end of the test, even when it failed.
    """
    require_sshd()
    made: list[SshCluster] = []

    def factory(
        n: int,
        *,
        first_octet: int | None = None,
        name_prefix: str = "mq",
        wrong_known_host_for: Collection[str] = (),
        user: str | None = None,
    ) -> SshCluster:
        cluster = start_cluster(
            n,
            tmp_path_factory.mktemp("sshd"),
            first_octet=_allocate_octets(n) if first_octet is None else first_octet,
            name_prefix=name_prefix,
            wrong_known_host_for=wrong_known_host_for,
            user=user,
        )
        made.append(cluster)
        return cluster

    yield factory
    # Newest first, and every cluster even if one fails to stop: never leak hosts.
    errors: list[BaseException] = []
    for cluster in reversed(made):
        try:
            cluster.stop()
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture(scope="module")
def ssh_cluster3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshCluster]:
    """Three healthy hosts ``mq1``..``mq3`` shared by one test module, stopped after it.

    Do not kill, stop or restart these hosts in a test (other tests of the module use
    them); take a ``make_ssh_cluster`` cluster for that.
    """
    require_sshd()
    cluster = start_cluster(
        3, Path(tmp_path_factory.mktemp("sshd3")), first_octet=_allocate_octets(3)
    )
    try:
        yield cluster
    finally:
        cluster.stop()
