"""Tests of the real-sshd test hosts themselves (tests/support/sshd.py and fixtures.py).

Everything here talks to genuine OpenSSH servers over TCP with the genuine OpenSSH client
or asyncssh. Waiting is always a bounded poll (``poll_until``), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import asyncssh
import pytest

from tests.support.fixtures import ClusterFactory
from tests.support.sshd import (
    HOST_ENV,
    SshCluster,
    SshHost,
    pid_alive,
    poll_until,
    sshd_available,
)

pytestmark = pytest.mark.ssh

#: Upper bound for any single ssh command in these tests.
SSH_TIMEOUT_S = 30.0
#: Starts a job that leaves the ssh session behind: own session, stdio detached.
DETACHED_SLEEP = "setsid sleep 1000 </dev/null >/dev/null 2>&1 &"


def run_ssh(
    cluster: SshCluster, host: SshHost | str, command: str
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` on ``host`` through the real OpenSSH client; never raise on failure."""
    return subprocess.run(
        cluster.ssh_argv(host, command),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=SSH_TIMEOUT_S,
    )


async def asyncssh_run(cluster: SshCluster, host: SshHost, command: str, **options: object) -> str:
    """Run ``command`` on ``host`` with asyncssh (explicit address/port/key/known_hosts)."""
    async with asyncssh.connect(
        host.address,
        port=host.port,
        username=host.user,
        client_keys=[str(cluster.client_key)],
        known_hosts=str(cluster.known_hosts),
        connect_timeout=SSH_TIMEOUT_S,
        **options,
    ) as conn:
        result = await conn.run(command, check=True, timeout=SSH_TIMEOUT_S)
        assert isinstance(result.stdout, str)
        return result.stdout


def cmdline(pid: int) -> list[str]:
    """Return the argv of ``pid`` ([] when it is gone or unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1]


def wait_for_tagged(host: SshHost, argv: list[str]) -> int:
    """Wait (bounded) until a process running ``argv`` carries ``host``'s tag; its pid."""
    found: list[int] = []

    def look() -> bool:
        found[:] = [pid for pid in host.tagged_pids() if cmdline(pid) == argv]
        return bool(found)

    poll_until(look, timeout=SSH_TIMEOUT_S, what=f"{argv} on {host.name}")
    assert len(found) == 1, f"expected one {argv} on {host.name}, got {found}"
    return found[0]


def test_sshd_is_available_here() -> None:
    # The fixtures would have skipped otherwise; this states the precondition plainly.
    assert sshd_available() is None


def test_sshd_runs_with_openssh_defaults(ssh_cluster3: SshCluster) -> None:
    host = ssh_cluster3.host("mq1")
    # `sshd -T` prints the effective configuration: what the servers really run with.
    effective = subprocess.run(
        ["/usr/sbin/sshd", "-T", "-f", str(host.sshd_config)],
        capture_output=True,
        text=True,
        check=True,
        timeout=SSH_TIMEOUT_S,
    ).stdout.splitlines()
    assert "maxsessions 10" in effective
    assert "maxstartups 10:30:100" in effective
    assert "passwordauthentication no" in effective
    assert "usepam no" in effective
    assert any(line.startswith("setenv MESHQ_TEST_HOST=mq1") for line in effective)
    assert f"listenaddress {host.address}:{host.port}" in effective


def test_openssh_client_reaches_every_host(ssh_cluster3: SshCluster) -> None:
    assert ssh_cluster3.names == ["mq1", "mq2", "mq3"]
    addresses = {host.address for host in ssh_cluster3.hosts}
    assert len(addresses) == 3 and all(a.startswith("127.0.0.") for a in addresses)
    for host in ssh_cluster3.hosts:
        assert host.alive
        result = run_ssh(ssh_cluster3, host, f'echo hi; echo "${HOST_ENV}"')
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"hi\n{host.name}\n"


def test_session_lands_on_the_right_server(ssh_cluster3: SshCluster) -> None:
    for host in ssh_cluster3.hosts:
        # SSH_CONNECTION is "client_ip client_port server_ip server_port".
        result = run_ssh(ssh_cluster3, host, 'echo "$SSH_CONNECTION"; id -un')
        assert result.returncode == 0, result.stderr
        connection, user = result.stdout.splitlines()
        assert connection.split()[2:] == [host.address, str(host.port)]
        assert user == host.user


def test_asyncssh_with_explicit_arguments(ssh_cluster3: SshCluster) -> None:
    for host in ssh_cluster3.hosts:
        assert asyncio.run(asyncssh_run(ssh_cluster3, host, "echo ok")) == "ok\n"


def test_asyncssh_with_the_ssh_config(ssh_cluster3: SshCluster) -> None:
    async def through_config(name: str) -> str:
        async with asyncssh.connect(name, config=[str(ssh_cluster3.ssh_config)]) as conn:
            result = await conn.run(f'echo "${HOST_ENV}"', check=True, timeout=SSH_TIMEOUT_S)
            assert isinstance(result.stdout, str)
            return result.stdout

    for name in ssh_cluster3.names:
        assert asyncio.run(through_config(name)) == f"{name}\n"


def test_known_hosts_alias_entries(ssh_cluster3: SshCluster) -> None:
    # With HostKeyAlias, clients look the key up under the alias instead of [addr]:port.
    host = ssh_cluster3.host("mq2")
    argv = ["ssh", "-F", str(ssh_cluster3.ssh_config), "-o", "HostKeyAlias=mq2", "mq2", "echo ok"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=SSH_TIMEOUT_S)
    assert (result.returncode, result.stdout) == (0, "ok\n"), result.stderr
    assert asyncio.run(asyncssh_run(ssh_cluster3, host, "echo ok", host_key_alias="mq2")) == "ok\n"


def test_sftp_subsystem_for_scp(ssh_cluster3: SshCluster, tmp_path: Path) -> None:
    source = tmp_path / "payload.txt"
    source.write_text("payload\n")
    target = tmp_path / "copied.txt"  # same machine, so the copy is visible locally
    result = subprocess.run(
        ["scp", "-F", str(ssh_cluster3.ssh_config), str(source), f"mq3:{target}"],
        capture_output=True,
        text=True,
        timeout=SSH_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "payload\n"


def test_wrong_host_key_is_refused(make_ssh_cluster: ClusterFactory) -> None:
    cluster = make_ssh_cluster(2, wrong_known_host_for={"mq2"})
    good, bad = cluster.host("mq1"), cluster.host("mq2")
    # The server itself is fine: the refusal below is the client's host-key check.
    assert bad.alive and bad.accepts_tcp()

    assert run_ssh(cluster, good, "echo ok").stdout == "ok\n"
    refused = run_ssh(cluster, bad, "echo ok")
    assert refused.returncode == 255
    assert refused.stdout == ""
    assert "Host key verification failed" in refused.stderr

    assert asyncio.run(asyncssh_run(cluster, good, "echo ok")) == "ok\n"
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        asyncio.run(asyncssh_run(cluster, bad, "echo ok"))


def test_kill_all_takes_the_host_down_and_restart_brings_it_back(
    make_ssh_cluster: ClusterFactory,
) -> None:
    cluster = make_ssh_cluster(2)
    victim, bystander = cluster.host("mq1"), cluster.host("mq2")
    port = victim.port

    # A detached job (own session, reparented away from sshd) on each host ...
    for host in (victim, bystander):
        started = run_ssh(cluster, host, DETACHED_SLEEP)
        assert started.returncode == 0, started.stderr
    job = wait_for_tagged(victim, ["sleep", "1000"])
    other_job = wait_for_tagged(bystander, ["sleep", "1000"])
    # ... and an interactive session that stays connected.
    session = subprocess.Popen(
        cluster.ssh_argv(victim, "exec sleep 1001"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_tagged(victim, ["sleep", "1001"])

        killed = victim.kill_all()

        assert job in killed
        assert not victim.alive
        assert not pid_alive(job)
        assert victim.tagged_pids() == []
        poll_until(lambda: not victim.accepts_tcp(), timeout=10, what="port to refuse")
        # The open session's connection died with the host.
        assert session.wait(timeout=SSH_TIMEOUT_S) == 255
        down = run_ssh(cluster, victim, "true")
        assert down.returncode == 255
        assert "Connection refused" in down.stderr
        # The other host and its job are untouched.
        assert pid_alive(other_job)
        assert run_ssh(cluster, bystander, "echo ok").stdout == "ok\n"
    finally:
        if session.poll() is None:
            session.kill()
        session.wait(timeout=SSH_TIMEOUT_S)
        assert session.stderr is not None
        session.stderr.close()

    victim.restart()

    assert victim.alive and victim.port == port
    back = run_ssh(cluster, victim, f'echo "${HOST_ENV}"')
    assert (back.returncode, back.stdout) == (0, "mq1\n"), back.stderr
    assert asyncio.run(asyncssh_run(cluster, victim, "echo ok")) == "ok\n"
    assert victim.kill_all() != []  # idempotent use after restart: the new listener dies
    assert victim.kill_all() == []


def test_stop_leaves_nothing_behind(make_ssh_cluster: ClusterFactory) -> None:
    cluster = make_ssh_cluster(2)
    jobs = []
    for host in cluster.hosts:
        assert run_ssh(cluster, host, DETACHED_SLEEP).returncode == 0
        jobs.append(wait_for_tagged(host, ["sleep", "1000"]))

    cluster.stop()

    for host in cluster.hosts:
        assert not host.alive
        assert not host.accepts_tcp()
        assert host.tagged_pids() == []
    assert not any(pid_alive(pid) for pid in jobs)
    cluster.stop()  # idempotent: the fixture's teardown calls it again


def test_host_stop_then_restart(make_ssh_cluster: ClusterFactory) -> None:
    cluster = make_ssh_cluster(1)
    host = cluster.hosts[0]
    host.stop()
    assert not host.alive
    assert run_ssh(cluster, host, "true").returncode == 255
    host.restart()
    assert run_ssh(cluster, host, "echo ok").stdout == "ok\n"


def test_clusters_get_distinct_addresses(
    ssh_cluster3: SshCluster, make_ssh_cluster: ClusterFactory
) -> None:
    extra = make_ssh_cluster(2)
    shared = {h.address for h in ssh_cluster3.hosts} & {h.address for h in extra.hosts}
    assert shared == set()
    # Same alias in both clusters, yet kill_all stays within its own cluster.
    assert extra.names == ["mq1", "mq2"]
    extra.host("mq1").kill_all()
    assert ssh_cluster3.host("mq1").alive
    assert run_ssh(ssh_cluster3, "mq1", "echo ok").stdout == "ok\n"
