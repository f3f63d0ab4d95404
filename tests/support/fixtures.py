"""pytest fixtures that hand tests real sshd test hosts (see ``tests/support/sshd.py``).

Loaded for the whole suite through ``pytest_plugins`` in ``tests/conftest.py``.

* ``make_ssh_cluster(n, **kw)`` -- function-scoped factory; every cluster it made is torn
  down (sshd, sessions and jobs killed) when the test ends.
* ``ssh_cluster3`` -- a module-scoped cluster of three hosts ``mq1``..``mq3``, shared by the
  tests of one module. Tests that kill or restart hosts should make their own cluster.
* ``home_experiment`` -- a fresh experiment path under the *local* home, where a user's
  queue would be; removed at teardown on both sides (here and in the test user's home).
* ``shared_dir`` -- a fresh folder that this process, local jobs and the test hosts' user can
  all write: it stands in for a file system shared by all machines (traces, gates).

The hosts log in as ``TEST_USER`` (``meshq-host``), another user with another home (see
``tests/support/sshd.py``); as root the fixtures create that user when it is missing.

Without sshd, or without a usable test user, the fixtures skip the test, except under CI
(``CI`` set and not "false"/"0"), where they fail it: CI must never pass by silently
skipping the ssh tests.
"""

from __future__ import annotations

import contextlib
import pwd
import shutil
import tempfile
import time
import uuid
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Protocol

import pytest

from tests.support.ci import unavailable, under_ci
from tests.support.sshd import SHARED_TMP, SshCluster, sshd_available, start_cluster
from tests.support.sshd_user import TEST_USER, ensure_test_user

__all__ = [
    "HOME_TESTS_DIR",
    "ClusterFactory",
    "home_experiment",
    "make_ssh_cluster",
    "require_sshd",
    "require_test_user",
    "shared_dir",
    "shared_file",
    "ssh_cluster3",
]

#: The folder, relative to a home, that holds ``home_experiment``'s per-test folders, on
#: this machine and in the test hosts' home alike.
HOME_TESTS_DIR = "meshq-tests"

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


_ci = under_ci  # the name the other support modules import


def _unavailable(reason: str) -> None:
    """Skip the current test because real test hosts cannot run here; fail it under CI."""
    unavailable(f"real sshd test hosts: {reason}")


def require_sshd() -> None:
    """Skip the current test when real sshd hosts cannot run here; fail it under CI."""
    reason = sshd_available()
    if reason is not None:
        _unavailable(reason)


def require_test_user() -> None:
    """Make the hosts' login user ``TEST_USER`` usable, or skip the test (fail under CI).

    As root a missing user is created (``ensure_test_user``); otherwise the one-line reason
    says what is missing and how to create it.
    """
    reason = ensure_test_user(TEST_USER)
    if reason is not None:
        _unavailable(reason)


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
        session_env: Mapping[str, str] | None = None,
    ) -> SshCluster:
        """Start ``n`` hosts (see ``start_cluster``; ``user`` defaults to ``TEST_USER``);
        the fixture stops them at teardown."""
        ...


@pytest.fixture
def make_ssh_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterFactory]:
    """Factory fixture: ``make_ssh_cluster(n, **kw)`` starts a fresh cluster of ``n`` hosts.

    Keyword arguments go to ``start_cluster``; ``first_octet`` defaults to a range no
    other cluster of this session uses, ``user`` to ``TEST_USER`` (made usable first, or
    the test is skipped / failed under CI). Every cluster made is stopped (sshd, sessions
    and the jobs they started all killed) at the end of the test, even when it failed.
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
        session_env: Mapping[str, str] | None = None,
    ) -> SshCluster:
        if user is None or user == TEST_USER:
            require_test_user()
        cluster = start_cluster(
            n,
            tmp_path_factory.mktemp("sshd"),
            first_octet=_allocate_octets(n) if first_octet is None else first_octet,
            name_prefix=name_prefix,
            wrong_known_host_for=wrong_known_host_for,
            user=user,
            session_env=session_env,
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
    require_test_user()
    cluster = start_cluster(
        3, Path(tmp_path_factory.mktemp("sshd3")), first_octet=_allocate_octets(3)
    )
    try:
        yield cluster
    finally:
        cluster.stop()


def _remove_tree(path: Path) -> None:
    """Remove ``path`` and everything under it; a missing ``path`` is fine.

    A job of a failed test may still write there while we remove it (the module's cluster
    outlives the test), which makes one ``rmtree`` fail: try a few times, then leave what
    is left rather than fail the teardown of a test that already reported its failure.
    """
    for _ in range(5):
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def home_experiment() -> Iterator[str]:
    """A fresh experiment path under the local home: ``~/meshq-tests/<uuid>/experiment``.

    Returned as an absolute ``str``, as a user would pass it to ``create_queue`` or
    ``--experiment``. Only ``~/meshq-tests/<uuid>`` is created, not the experiment folder:
    meshq must make its folders itself, here and on each host. On an SSH test host meshq
    puts it at the same path relative to the test user's home
    (``/home/meshq-host/meshq-tests/<uuid>/experiment``; ``SshHost.real_path`` finds it).
    At teardown ``<uuid>`` is removed on both sides; ``meshq-tests`` itself stays, since
    other test sessions may be using it.
    """
    name = uuid.uuid4().hex
    sides = [Path.home() / HOME_TESTS_DIR / name]
    with contextlib.suppress(KeyError):
        # The host side exists only once meshq made it; without the user there is none.
        remote_home = Path(pwd.getpwnam(TEST_USER).pw_dir)
        if remote_home != Path.home():
            sides.append(remote_home / HOME_TESTS_DIR / name)
    sides[0].mkdir(parents=True)
    try:
        yield str(sides[0] / "experiment")
    finally:
        for side in sides:
            _remove_tree(side)


@pytest.fixture(autouse=True)
def submit_folder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test runs in a fresh folder of its own (mode 0777, under
    ``SHARED_TMP``), as a user runs meshq in a project folder.

    A job added without ``--directory`` runs in the folder it was added in
    (on another host: the same path, this one being outside any home). The
    checkout the tests run from may be under a home another test user
    cannot see, or hold files a job must not touch: so no test adds jobs
    there. A test that wants another folder ``chdir``s itself."""
    path = Path(tempfile.mkdtemp(prefix="meshq-test-cwd-", dir=SHARED_TMP))
    path.chmod(0o777)
    monkeypatch.chdir(path)
    try:
        yield path
    finally:
        _remove_tree(path)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A fresh folder (mode 0777, under ``SHARED_TMP``) every user of this machine can use.

    All test hosts are this machine, but their jobs run as ``TEST_USER``, who cannot enter
    pytest's tmp dir (0700): trace files, gates and marker files that jobs on several
    hosts write and the test reads go here instead. It is the test's stand-in for a file
    system all machines share. A file that jobs of *different* users append to must exist
    first and be writable by all: make it with ``shared_file``. Removed at teardown.
    """
    path = Path(tempfile.mkdtemp(prefix="meshq-test-shared-", dir=SHARED_TMP))
    # mkdtemp makes it 0700; chmod, not the umask, decides the final mode.
    path.chmod(0o777)
    try:
        yield path
    finally:
        _remove_tree(path)


def shared_file(path: Path) -> Path:
    """Create ``path`` as an empty file every user can append to (0666); return it.

    For a marker file that jobs running as ``TEST_USER`` and as the user running the tests
    both append to: whichever created it first would otherwise own it with the umask's
    0644, and the other user's ``>>`` would fail.
    """
    path.touch()
    path.chmod(0o666)
    return path
