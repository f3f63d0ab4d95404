"""Tests of the real-sshd test hosts themselves (tests/support/sshd.py and fixtures.py).

Everything here talks to genuine OpenSSH servers over TCP with the genuine OpenSSH client
or asyncssh. Waiting is always a bounded poll (``poll_until``), never a fixed sleep.

A test host must be another machine: these tests also prove that it logs in as another
user (``TEST_USER``) with another home, cannot touch ours, and that the path helpers find
its files where it really wrote them.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shlex
import stat
import subprocess
import uuid
from pathlib import Path

import asyncssh
import pytest

from tests.support.fixtures import HOME_TESTS_DIR, ClusterFactory, shared_file
from tests.support.sshd import SshCluster, SshHost, pid_alive, sshd_available
from tests.support.sshd_files import HOST_ENV
from tests.support.sshd_procs import poll_until
from tests.support.sshd_user import TEST_USER, ensure_test_user

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


def uid_of(pid: int) -> int:
    """Return the real uid of ``pid`` (from /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


def test_sshd_is_available_here() -> None:
    # The fixtures would have skipped otherwise; this states the precondition plainly.
    assert sshd_available() is None


def test_the_test_user_is_usable_here() -> None:
    # Idem for the hosts' login user: it exists, has its own home, and is not us.
    assert ensure_test_user() is None
    entry = pwd.getpwnam(TEST_USER)
    assert entry.pw_uid != os.getuid()
    assert entry.pw_shell == "/bin/bash"
    assert Path(entry.pw_dir) != Path.home() and Path(entry.pw_dir).is_dir()
    if os.geteuid() == 0:
        # useradd's locked "!" would make sshd (UsePAM no) refuse even key logins
        shadow = [line.split(":") for line in Path("/etc/shadow").read_text().splitlines()]
        assert [fields[1] for fields in shadow if fields[0] == TEST_USER] == ["*"]


def test_hosts_log_in_as_another_user_with_another_home(
    ssh_cluster3: SshCluster, tmp_path: Path
) -> None:
    home = Path(pwd.getpwnam(TEST_USER).pw_dir)
    assert home == Path("/home") / TEST_USER
    assert f"    User {TEST_USER}" in ssh_cluster3.ssh_config.read_text().splitlines()
    for host in ssh_cluster3.hosts:
        assert (host.user, host.home) == (TEST_USER, home)
        result = host.ssh('whoami; echo "$HOME"; pwd; id -u')
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            TEST_USER,
            str(home),
            str(home),
            str(home.stat().st_uid),
        ]
        assert int(result.stdout.split()[-1]) != os.getuid()


def test_a_host_cannot_touch_our_files(ssh_cluster3: SshCluster, tmp_path: Path) -> None:
    host = ssh_cluster3.host("mq1")
    ours = Path.home() / f"meshq-probe-{uuid.uuid4().hex}"
    (tmp_path / "secret").write_text("ours\n")
    # our home: not writable there
    written = host.ssh(f"echo x > {shlex.quote(str(ours))}")
    assert written.returncode != 0 and "Permission denied" in written.stderr, written
    assert not ours.exists()
    # pytest's tmp dir (0700, ours): not even readable
    for command in (f"ls {shlex.quote(str(tmp_path))}", f"cat {shlex.quote(str(tmp_path))}/secret"):
        refused = host.ssh(command)
        assert refused.returncode != 0 and "Permission denied" in refused.stderr, refused


def test_path_helpers_find_what_a_host_wrote(
    ssh_cluster3: SshCluster, home_experiment: str
) -> None:
    host = ssh_cluster3.host("mq2")
    experiment = Path(home_experiment)
    # the experiment is under our home: meshq takes it relative to the host's home
    assert experiment.is_relative_to(Path.home() / HOME_TESTS_DIR)
    assert experiment.parent.is_dir() and not experiment.exists()
    rest = experiment.relative_to(Path.home())
    assert host.host_path(experiment) == f"~/{rest}"
    assert host.host_path(Path.home()) == "~"
    assert host.host_path("/srv/elsewhere") == "/srv/elsewhere"
    assert host.local_path(f"~/{rest}") == host.home / rest == host.real_path(experiment)
    assert host.local_path("~") == host.home
    assert host.local_path(str(rest)) == host.home / rest  # ssh starts in the home
    assert host.local_path("/srv/elsewhere") == Path("/srv/elsewhere")
    with pytest.raises(ValueError):
        host.local_path("~root/x")

    # what the host writes at that path lands in its home, not in ours, owned by its user
    there = f'"$HOME"/{shlex.quote(str(rest))}'
    made = host.ssh(f'mkdir -p {there} && echo "${HOST_ENV}" > {there}/note')
    assert made.returncode == 0, made.stderr
    note = host.real_path(experiment / "note")
    assert note.read_text() == "mq2\n"
    assert note.stat().st_uid == pwd.getpwnam(TEST_USER).pw_uid
    assert not experiment.exists()


def test_shared_dir_is_writable_by_both_users(ssh_cluster3: SshCluster, shared_dir: Path) -> None:
    host = ssh_cluster3.host("mq3")
    marker = shared_file(shared_dir / "marker")
    assert stat.S_IMODE(marker.stat().st_mode) == 0o666
    with marker.open("a") as out:
        out.write("here\n")
    appended = host.ssh(f'echo "${HOST_ENV}" >> {shlex.quote(str(marker))}')
    assert appended.returncode == 0, appended.stderr
    created = host.ssh(f"echo new > {shlex.quote(str(shared_dir / 'theirs'))}")
    assert created.returncode == 0, created.stderr
    assert marker.read_text() == "here\nmq3\n"
    assert (shared_dir / "theirs").read_text() == "new\n"


def test_authorized_keys_are_readable_by_the_login_user_only_as_needed(
    make_ssh_cluster: ClusterFactory,
) -> None:
    cluster = make_ssh_cluster(1)
    assert cluster.keys_dir is not None and cluster.authorized_keys is not None
    # outside pytest's private tmp dir, readable (not writable) by the login user
    assert not cluster.keys_dir.is_relative_to(cluster.base_dir)
    assert stat.S_IMODE(cluster.keys_dir.stat().st_mode) == 0o755
    assert stat.S_IMODE(cluster.authorized_keys.stat().st_mode) == 0o644
    # only the public key travels there; the private keys stay private
    assert [p.name for p in cluster.keys_dir.iterdir()] == ["authorized_keys"]
    assert stat.S_IMODE(cluster.client_key.stat().st_mode) == 0o600
    cluster.stop()
    assert not cluster.keys_dir.exists()


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
        assert user == host.user == TEST_USER


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


def test_sftp_subsystem_for_scp(
    ssh_cluster3: SshCluster, tmp_path: Path, home_experiment: str
) -> None:
    host = ssh_cluster3.host("mq3")
    source = tmp_path / "payload.txt"
    source.write_text("payload\n")
    # a relative remote path is in the host's home; we read it there (same machine)
    folder = Path(home_experiment).parent.relative_to(Path.home())
    assert host.ssh(f'mkdir -p "$HOME"/{shlex.quote(str(folder))}').returncode == 0
    result = subprocess.run(
        ["scp", "-F", str(ssh_cluster3.ssh_config), str(source), f"mq3:{folder}/copied.txt"],
        capture_output=True,
        text=True,
        timeout=SSH_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr
    copied = host.home / folder / "copied.txt"
    assert copied.read_text() == "payload\n"
    assert copied.stat().st_uid == pwd.getpwnam(TEST_USER).pw_uid


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
    # they run as the hosts' user, not as us: kill_all must find and kill those too
    assert uid_of(job) == uid_of(other_job) == pwd.getpwnam(TEST_USER).pw_uid != os.getuid()
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
    assert cluster.keys_dir is not None and not cluster.keys_dir.exists()
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
