"""SSH hosts for the benchmarks: real sshd servers on 127.0.0.x, in two
kinds whose login shell costs a known amount.

The hosts come from ``tests/support/sshd.py`` (the test suite's hosts): one
cluster ``mq1..mqN`` whose login shell starts at once, and one ``slow1..slowN``
whose login shell takes :data:`LOGIN_DELAY` seconds to start.

What makes a login slow, checked on Debian 12 (bash 5.2, OpenSSH 9.2): for
``ssh host CMD`` sshd runs the user's shell as ``bash -c CMD``. Debian's bash
is built with ``SSH_SOURCE_BASHRC``, so that non-interactive shell, seeing
``SSH_CLIENT`` and a shell level below 2, reads ``/etc/bash.bashrc`` and
``~/.bashrc`` (and *not* ``$BASH_ENV``: ``SetEnv BASH_ENV=…`` in sshd_config
does nothing to it, but slows every *other* non-interactive bash, the jobs
included). So each host's sessions get a home of their own
(``SetEnv HOME=…`` in its sshd_config; sshd applies SetEnv after setting
HOME from the password file, and bash finds ``~/.bashrc`` through ``$HOME``),
whose ``.bashrc`` runs ``sleep 0.1`` on a slow host and nothing on a fast
one; both count the login shells they start in ``~/.logins``.

The own home also keeps the machine's real ``~/.bashrc`` out: here root's
runs ``pyenv init``, which costs every ``ssh host true`` about 100 ms, and
would make the "fast" hosts slow ones.
"""

from __future__ import annotations

import contextlib
import getpass
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.sshd import SshCluster, SshdError, sshd_available, start_cluster

#: what a slow host's login shell spends starting (s)
LOGIN_DELAY = 0.1

_BASHRC = """\
# written by bench/hosts.py: the login shell of a meshq benchmark host
echo "$$" >> "$HOME/.logins"
"""


@dataclass
class HostGroup:
    """The hosts of one kind, and the home their sessions share."""

    cluster: SshCluster
    home: Path

    @property
    def names(self) -> list[str]:
        """The host aliases (``mq1``, …)."""
        return self.cluster.names

    def logins(self) -> int:
        """How many login shells the group's hosts have started so far."""
        try:
            return len((self.home / ".logins").read_text().splitlines())
        except FileNotFoundError:
            return 0


@dataclass
class BenchHosts:
    """A fast and a slow group of hosts, reachable through one ssh_config."""

    fast: HostGroup
    slow: HostGroup
    ssh_config: Path

    def env(self) -> dict[str, str]:
        """What meshq needs in its environment to reach the hosts."""
        return {"MESHQ_SSH_CONFIG": str(self.ssh_config)}

    def ssh_wall(self, host: str, times: int = 10) -> float:
        """Median wall of ``ssh HOST true`` with OpenSSH's client (s)."""
        walls = []
        for _ in range(times):
            start = time.perf_counter()
            subprocess.run(
                ["ssh", "-F", str(self.ssh_config), host, "true"],
                check=True,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
            )
            walls.append(time.perf_counter() - start)
        walls.sort()
        return walls[len(walls) // 2]

    def stop(self) -> None:
        """Stop every host and whatever runs on it."""
        errors = []
        for group in (self.fast, self.slow):
            try:
                group.cluster.stop()
            except SshdError as err:
                errors.append(str(err))
        if errors:
            raise SshdError("; ".join(errors))


def _own_home(cluster: SshCluster, home: Path, delay: float) -> None:
    """Give every session of ``cluster`` the home ``home``, whose .bashrc
    sleeps ``delay`` seconds, and restart the hosts to take it."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".bashrc").write_text(_BASHRC + (f"sleep {delay}\n" if delay else ""))
    for host in cluster.hosts:
        lines = host.sshd_config.read_text().splitlines()
        setenv = [i for i, line in enumerate(lines) if line.startswith("SetEnv ")]
        if len(setenv) != 1:
            raise SshdError(f"{host.sshd_config}: expected one SetEnv line, found {len(setenv)}")
        # sshd takes the first SetEnv line only: add to it
        lines[setenv[0]] += f" HOME={home}"
        host.sshd_config.write_text("\n".join(lines) + "\n")
        host.restart()


def start_bench_hosts(base: Path, n: int) -> BenchHosts:
    """Start ``n`` fast hosts (``mq1..``) and ``n`` slow ones (``slow1..``)."""
    reason = sshd_available()
    if reason is not None:
        raise SshdError(reason)
    # the benchmark gives each session a scratch home of its own (below), which
    # only the user running it can write: log in as that user
    me = getpass.getuser()
    fast = start_cluster(n, base / "fast", first_octet=2, name_prefix="mq", user=me)
    try:
        slow = start_cluster(n, base / "slow", first_octet=2 + n, name_prefix="slow", user=me)
    except BaseException:
        with contextlib.suppress(SshdError):
            fast.stop()
        raise
    hosts = BenchHosts(
        HostGroup(fast, base / "home-fast"),
        HostGroup(slow, base / "home-slow"),
        base / "ssh_config",
    )
    try:
        _own_home(fast, hosts.fast.home, 0.0)
        _own_home(slow, hosts.slow.home, LOGIN_DELAY)
        hosts.ssh_config.write_text(fast.ssh_config.read_text() + slow.ssh_config.read_text())
    except BaseException:
        with contextlib.suppress(SshdError):
            hosts.stop()
        raise
    return hosts
