"""Real OpenSSH servers on loopback addresses, used as meshq test hosts.

``start_cluster(n, base_dir)`` starts ``n`` genuine ``/usr/sbin/sshd`` processes, one per
host, each listening on its own loopback address (127.0.0.2, 127.0.0.3, ...) and a free
port. Nothing is mocked: the real OpenSSH client (``ssh -F cluster.ssh_config mq1``) and
asyncssh both talk to them over TCP, with real host keys, a real ``known_hosts`` file and
public-key authentication.

Every process that belongs to a test host carries ``MESHQ_TEST_HOST=<name>`` (and
``MESHQ_TEST_CLUSTER=<token>``) in its environment:

* the sshd listener and its per-connection children get it from the environment we start
  the listener with (sshd re-execs itself with ``execv``, which keeps the environment);
* login sessions get it from ``SetEnv`` in sshd_config (sshd builds a fresh environment for
  the session, so the listener's own environment does *not* reach it).

Anything those sessions start (agents, wrappers, ``setsid`` jobs) inherits it, which is how
``SshHost.kill_all()`` finds everything "running on" a host to simulate the host dying.

The host names are the same in every cluster (``mq1`` .. ``mqN``); ``MESHQ_TEST_CLUSTER``
keeps ``kill_all()`` of one cluster's ``mq1`` away from another live cluster's ``mq1``.

Test hosts log in as another user (``TEST_USER``, see ``tests/support/sshd_user.py``), so
that a host is *another machine* as far as meshq can tell. What a host wrote is read back
through ``SshHost.home`` / ``SshHost.local_path()`` (every host is this machine, and root
reads any file), or by running a command there with ``SshHost.ssh()``.

The parts: ``sshd_user`` (the login user), ``sshd_files`` (keys and config texts, the
environment tags, ``SshdError``), ``sshd_procs`` (finding and signalling processes,
waiting, free ports), ``sshd_launch`` (starting one sshd listener); this module sets up
clusters of hosts and starts, stops and kills them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tests.support.sshd_files import (
    CLUSTER_ENV,
    HOST_ENV,
    SshdError,
    known_hosts_line,
    public_key,
    ssh_config_block,
    ssh_keygen,
    sshd_config_text,
)
from tests.support.sshd_launch import launch_sshd, log_tail, sshd_available
from tests.support.sshd_procs import (
    free_port,
    pid_alive,
    poll_until,
    proc_table,
    self_and_ancestors,
    send_signal,
)
from tests.support.sshd_user import TEST_USER, ensure_test_user, passwd_entry

__all__ = [
    "DEFAULT_START_TIMEOUT_S",
    "SHARED_TMP",
    "SSH_TIMEOUT_S",
    "SshCluster",
    "SshHost",
    "SshdError",
    "pid_alive",
    "sshd_available",
    "start_cluster",
]

#: How long a freshly started sshd gets to answer with its SSH banner.
DEFAULT_START_TIMEOUT_S = 15.0
#: Highest usable last octet of a 127.0.0.x address (.255 is the broadcast address).
_MAX_OCTET = 254
#: Where per-cluster folders that the test user must read go (the authorized_keys). Not
#: pytest's tmp dir: that is 0700 and owned by the user running the tests.
SHARED_TMP = Path("/tmp")
#: Upper bound for one command run through ``SshHost.ssh()``.
SSH_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------------------
# one host
# --------------------------------------------------------------------------------------


@dataclass(eq=False)
class SshHost:
    """One real sshd on a loopback address, acting as test host ``name``.

    ``proc`` is the listener (``sshd -D -e -f <workdir>/sshd_config``); its log (sshd's
    stderr) is ``workdir / "sshd.log"``. ``restart()`` replaces ``proc``. Sessions log in
    as ``user``, whose home on the host is ``home``; ``ssh_config`` (the cluster's) makes
    ``ssh -F ssh_config <name>`` reach this host.
    """

    name: str
    address: str
    port: int
    user: str
    home: Path
    proc: subprocess.Popen[bytes]
    workdir: Path
    ssh_config: Path
    cluster_id: str = ""
    start_timeout: float = DEFAULT_START_TIMEOUT_S

    # -- the other machine's files ---------------------------------------------------

    def host_path(self, path: str | os.PathLike[str]) -> str:
        """Return the path meshq uses on this host for ``path``, a path of this machine.

        meshq's rule (README, "Your hosts"): a path under the local home (``Path.home()``)
        is taken relative to the remote home, given here as ``~/rest`` (the home itself:
        ``~``); any other path is used as it is.
        """
        text = os.fspath(path)
        local_home = str(Path.home())
        if text == local_home:
            return "~"
        if text.startswith(local_home.rstrip("/") + "/"):
            return "~/" + text[len(local_home.rstrip("/")) + 1 :]
        return text

    def local_path(self, host_path: str | os.PathLike[str]) -> Path:
        """Return where this test process reads ``host_path`` of this host.

        ``~`` and ``~/rest`` are in ``home``; an absolute path is itself (every test host is
        this machine); a relative path is relative to ``home``, where ssh starts sessions.
        ``~otheruser`` paths raise ``ValueError``. As root, the result can be read directly.
        """
        text = os.fspath(host_path)
        if text == "~":
            return self.home
        if text.startswith("~/"):
            return self.home / text[2:]
        if text.startswith("~"):
            raise ValueError(f"{text!r}: only ~ of the login user {self.user} is known")
        return Path(text) if text.startswith("/") else self.home / text

    def real_path(self, path: str | os.PathLike[str]) -> Path:
        """Return the local file behind ``path`` of this machine as meshq places it here.

        ``local_path(host_path(path))``: for a job's folder as this machine names it
        (``meshq.paths.job_paths(job, local=True).folder``) this is where the host really
        wrote the job's files.
        """
        return self.local_path(self.host_path(path))

    def ssh_argv(self, *command: str) -> list[str]:
        """Return ``["ssh", "-F", <ssh_config>, <name>, *command]`` for the real ssh client.

        ``command`` words are appended as given; ssh joins them with spaces and the remote
        shell parses the result.
        """
        return ["ssh", "-F", str(self.ssh_config), self.name, *command]

    def ssh(
        self, command: str, *, timeout: float = SSH_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` (shell text) on this host as ``user`` through the OpenSSH client.

        Returns the finished process with text stdout/stderr; never raises on a non-zero
        exit (ssh's own failures are status 255), only ``TimeoutExpired`` past ``timeout``.
        """
        return subprocess.run(
            self.ssh_argv(command),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )

    # -- paths ---------------------------------------------------------------------

    @property
    def sshd_config(self) -> Path:
        """This host's sshd_config."""
        return self.workdir / "sshd_config"

    @property
    def host_key(self) -> Path:
        """This host's private ed25519 host key (``.pub`` next to it)."""
        return self.workdir / "ssh_host_ed25519_key"

    @property
    def log_path(self) -> Path:
        """File that receives sshd's stderr (``-e`` sends its log there)."""
        return self.workdir / "sshd.log"

    @property
    def env_tag(self) -> str:
        """The ``MESHQ_TEST_HOST=<name>`` entry every process of this host carries."""
        return f"{HOST_ENV}={self.name}"

    # -- state ---------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        """Whether the sshd listener process is running (says nothing about sessions)."""
        return self.proc.poll() is None

    def accepts_tcp(self, timeout: float = 1.0) -> bool:
        """Return whether a TCP connect to ``address:port`` succeeds right now."""
        try:
            with socket.create_connection((self.address, self.port), timeout=timeout):
                return True
        except OSError:
            return False

    def tagged_pids(self) -> list[int]:
        """Return live pids whose environment marks them as running on this host.

        That is the listener, its per-connection children, and everything sessions
        started (including ``setsid`` jobs), minus this test process and its ancestors.
        """
        protected = self_and_ancestors()
        return sorted(
            pid
            for pid, _ppid, environ in proc_table()
            if pid not in protected and environ is not None and self._is_tagged(environ)
        )

    def _is_tagged(self, environ: frozenset[bytes]) -> bool:
        """Whether an environ carries this host's tag (and not another cluster's token)."""
        if self.env_tag.encode() not in environ:
            return False
        prefix = f"{CLUSTER_ENV}=".encode()
        tokens = [entry[len(prefix) :] for entry in environ if entry.startswith(prefix)]
        # No cluster token: the session scrubbed it, so the host tag alone decides.
        return not tokens or self.cluster_id.encode() in tokens

    # -- lifecycle -----------------------------------------------------------------

    def _spawn(self) -> None:
        """Start a new sshd listener for this host and wait until it speaks SSH."""
        self.proc = launch_sshd(self.name, self.cluster_id, self.sshd_config, self.log_path)
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        """Block until sshd sends its ``SSH-2.0`` banner; raise ``SshdError`` if it never does.

        A banner (not just an accepted TCP connection) proves the listener forked and
        re-executed a connection handler, i.e. the whole sshd path works.
        """
        deadline = time.monotonic() + self.start_timeout
        last_error = "no attempt made"
        while True:
            if self.proc.poll() is not None:
                raise SshdError(
                    f"sshd for {self.name} ({self.address}:{self.port}) exited with "
                    f"status {self.proc.returncode} while starting; its log:\n"
                    f"{log_tail(self.log_path)}"
                )
            if time.monotonic() >= deadline:
                break
            try:
                # Short per-attempt timeouts: if something else holds the port and never
                # speaks, we must still notice sshd exiting ("Address already in use").
                with socket.create_connection((self.address, self.port), timeout=1) as sock:
                    sock.settimeout(1)
                    banner = sock.recv(256)
                if banner.startswith(b"SSH-"):
                    return
                last_error = f"unexpected banner {banner!r}"
            except OSError as exc:
                last_error = repr(exc)
            time.sleep(0.02)
        self._terminate_listener()
        raise SshdError(
            f"sshd for {self.name} did not answer on {self.address}:{self.port} within "
            f"{self.start_timeout:.0f}s (last error: {last_error}); its log:\n"
            f"{log_tail(self.log_path)}"
        )

    def _terminate_listener(self) -> None:
        """SIGTERM the listener, SIGKILL it if it lingers, and reap it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def stop(self) -> None:
        """Terminate the sshd listener (SIGTERM) and wait for it to exit.

        Like stopping sshd on a real machine, sessions that are already open keep
        running; use ``kill_all()`` to take those down too. Idempotent.
        """
        self._terminate_listener()

    def kill_all(self, timeout: float = 5.0) -> list[int]:
        """Simulate this host dying: SIGKILL its sshd and everything running on it.

        Kills the listener, every process descended from it, and every process on this
        machine whose /proc/PID/environ carries ``MESHQ_TEST_HOST=<name>`` (of this
        cluster); pids whose /proc entries cannot be read are skipped, and the test
        process and its ancestors are never touched. Everything found is SIGSTOPped first
        and the scan repeated until it finds nothing new, so no process can fork a child
        we miss; then all get SIGKILL. Returns once each is dead or a zombie (raising
        ``SshdError`` after ``timeout`` s otherwise). Returns the killed pids. Idempotent.
        """
        protected = self_and_ancestors()
        listener = self.proc.pid if self.proc.poll() is None else None
        frozen: set[int] = set()
        for _ in range(100):  # bounded: a fork bomb must not hang the test run
            found: set[int] = set()
            for pid, ppid, environ in proc_table():
                if pid in protected or pid in frozen:
                    continue
                if (
                    pid == listener
                    or ppid in frozen
                    or (environ is not None and self._is_tagged(environ))
                ):
                    found.add(pid)
            if not found:
                break
            for pid in found:
                send_signal(pid, signal.SIGSTOP)
            frozen |= found
        for pid in frozen:
            send_signal(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=timeout)  # reap our own child so it is not a zombie
        try:
            poll_until(
                lambda: not any(pid_alive(pid) for pid in frozen),
                timeout=timeout,
                what=f"processes of {self.name} to die",
            )
        except TimeoutError as exc:
            survivors = sorted(pid for pid in frozen if pid_alive(pid))
            raise SshdError(f"kill_all({self.name}): still alive: {survivors}") from exc
        return sorted(frozen)

    def restart(self) -> None:
        """Start sshd again with the same config, host key and port; wait until it answers.

        A running listener is stopped first. Raises ``SshdError`` (with sshd's log) when
        it does not come back, e.g. because something else took the port meanwhile.
        """
        self._terminate_listener()
        self._spawn()


# --------------------------------------------------------------------------------------
# a cluster of hosts
# --------------------------------------------------------------------------------------


@dataclass(eq=False)
class SshCluster:
    """A set of test hosts sharing one client key, ``known_hosts`` and ``ssh_config``.

    ``ssh -F cluster.ssh_config mq1 CMD`` runs ``CMD`` on host ``mq1`` as ``user`` with
    strict host-key checking; asyncssh can use the same files (see ``env()``). The
    ``authorized_keys`` the hosts accept lives in ``keys_dir`` (readable by every user, as
    sshd reads it with the login user's privileges); ``stop()`` removes that folder.
    """

    hosts: list[SshHost]
    base_dir: Path
    ssh_config: Path
    known_hosts: Path
    client_key: Path
    cluster_id: str
    keys_dir: Path | None = None

    @property
    def authorized_keys(self) -> Path | None:
        """The ``authorized_keys`` file every host of the cluster accepts logins by."""
        return None if self.keys_dir is None else self.keys_dir / "authorized_keys"

    def host(self, name: str) -> SshHost:
        """Return the host called ``name``; ``KeyError`` if there is none."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        """The host aliases, in address order (``["mq1", "mq2", ...]``)."""
        return [host.name for host in self.hosts]

    def ssh_argv(self, host: SshHost | str, *command: str) -> list[str]:
        """Return ``["ssh", "-F", <ssh_config>, <name>, *command]`` for the real ssh client.

        ``command`` words are appended as given; remember ssh joins them with spaces and
        the remote shell parses the result. Same as ``host.ssh_argv(*command)``.
        """
        name = host.name if isinstance(host, SshHost) else self.host(host).name
        return ["ssh", "-F", str(self.ssh_config), name, *command]

    def env(self) -> dict[str, str]:
        """Return a complete environment for a subprocess (``os.environ`` plus ours).

        Added keys: ``MESHQ_SSH_CONFIG`` (the ssh_config path), ``MESHQ_SSH_KNOWN_HOSTS``,
        ``MESHQ_SSH_KEY`` (private client key) and ``MESHQ_TEST_HOSTS`` (comma-separated
        aliases). The result can be passed straight to ``subprocess.run(env=...)``.
        """
        env = dict(os.environ)
        env["MESHQ_SSH_CONFIG"] = str(self.ssh_config)
        env["MESHQ_SSH_KNOWN_HOSTS"] = str(self.known_hosts)
        env["MESHQ_SSH_KEY"] = str(self.client_key)
        env["MESHQ_TEST_HOSTS"] = ",".join(self.names)
        return env

    def stop(self) -> None:
        """Tear the whole cluster down: ``kill_all()`` on every host. Idempotent.

        Kills sessions and jobs too, so a test cannot leak ``sleep 1000`` processes into
        the next one, and removes ``keys_dir`` (it lives outside pytest's tmp dir). Raises
        ``SshdError`` after trying every host if any refused to die.
        """
        errors: list[str] = []
        for host in self.hosts:
            try:
                host.kill_all()
            except SshdError as exc:
                errors.append(str(exc))
        if self.keys_dir is not None:
            shutil.rmtree(self.keys_dir, ignore_errors=True)
        if errors:
            raise SshdError("; ".join(errors))

    def __enter__(self) -> SshCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_cluster(
    n: int,
    base_dir: Path,
    *,
    first_octet: int = 2,
    name_prefix: str = "mq",
    wrong_known_host_for: Collection[str] = (),
    user: str | None = None,
    start_timeout: float = DEFAULT_START_TIMEOUT_S,
    session_env: Mapping[str, str] | None = None,
) -> SshCluster:
    """Start ``n`` real sshd test hosts and return them as an ``SshCluster``.

    Host ``i`` (0-based) is ``f"{name_prefix}{i + 1}"`` on ``127.0.0.{first_octet + i}``
    at a free port, logging in as ``user`` (default: ``TEST_USER``, created by
    ``ensure_test_user()`` when we are root; ``SshdError`` with the fix when it cannot be
    used). ``user`` must exist here: its home is the hosts' ``home``. All files go under
    ``base_dir`` (created if missing), except the ``authorized_keys``, which the login user
    must read: it goes to a fresh 0755 folder under ``SHARED_TMP`` (the cluster's
    ``keys_dir``, removed by ``stop()``). Hosts named in ``wrong_known_host_for`` get
    a known_hosts entry for a *different* ed25519 key, so clients must refuse them. On
    return every sshd has answered with its SSH banner; on failure everything already
    started is killed and ``SshdError`` (with sshd's log) is raised. The caller owns the
    cluster and must ``stop()`` it (or use it as a context manager). ``session_env`` is
    set in every login session (``SetEnv``), as a login node's profile would set it
    (``SLURM_CONF`` for a test Slurm cluster).
    """
    reason = sshd_available()
    if reason is not None:
        raise SshdError(reason)
    if n < 1:
        raise ValueError(f"a cluster needs at least one host, got n={n}")
    if first_octet < 1 or first_octet + n - 1 > _MAX_OCTET:
        raise ValueError(
            f"addresses 127.0.0.{first_octet}..127.0.0.{first_octet + n - 1} are not all "
            f"usable (last octet must stay within 1..{_MAX_OCTET})"
        )
    names = [f"{name_prefix}{i + 1}" for i in range(n)]
    unknown = set(wrong_known_host_for) - set(names)
    if unknown:
        raise ValueError(f"wrong_known_host_for names unknown hosts {sorted(unknown)}")

    # Absolute paths throughout: sshd re-execs with them and ssh_config must not depend
    # on the caller's working directory.
    base_dir = base_dir.resolve()
    base_dir.mkdir(parents=True, exist_ok=True)
    login = user or TEST_USER
    if login == TEST_USER:
        problem = ensure_test_user(login)
        if problem is not None:
            raise SshdError(problem)
    entry = passwd_entry(login)
    if entry is None:
        raise SshdError(f"test hosts cannot log in as {login!r}: no such user here")
    cluster_id = uuid.uuid4().hex[:12]

    client_key = base_dir / "id_ed25519"
    ssh_keygen(client_key, f"meshq-test-client-{cluster_id}")
    known_hosts = base_dir / "known_hosts"
    ssh_config = base_dir / "ssh_config"
    # sshd reads AuthorizedKeysFile with the login user's privileges, and base_dir (pytest's
    # tmp dir) is private to us: the key goes where that user can read it, and nothing else
    # of ours does (the client key and host keys stay private).
    keys_dir = Path(tempfile.mkdtemp(prefix=f"meshq-test-keys-{cluster_id}-", dir=SHARED_TMP))
    keys_dir.chmod(0o755)
    authorized_keys = keys_dir / "authorized_keys"
    authorized_keys.write_text(public_key(client_key.with_suffix(".pub")) + "\n")
    authorized_keys.chmod(0o644)

    hosts: list[SshHost] = []
    try:
        for i, name in enumerate(names):
            address = f"127.0.0.{first_octet + i}"
            workdir = base_dir / name
            workdir.mkdir(parents=True, exist_ok=True)
            port = free_port(address)
            host_key = workdir / "ssh_host_ed25519_key"
            ssh_keygen(host_key, f"{name}-hostkey")
            (workdir / "sshd_config").write_text(
                sshd_config_text(
                    name, address, port, host_key, authorized_keys, cluster_id, session_env
                )
            )
            proc = launch_sshd(name, cluster_id, workdir / "sshd_config", workdir / "sshd.log")
            host = SshHost(
                name=name,
                address=address,
                port=port,
                user=login,
                home=Path(entry.pw_dir),
                proc=proc,
                workdir=workdir,
                ssh_config=ssh_config,
                cluster_id=cluster_id,
                start_timeout=start_timeout,
            )
            # In ``hosts`` before waiting, so a host that never comes up is still cleaned.
            hosts.append(host)
        # Start all listeners first, then wait: their start-up overlaps.
        for host in hosts:
            host._wait_until_ready()

        lines = []
        for host in hosts:
            if host.name in wrong_known_host_for:
                # A real key of the same type the server offers: ssh then reports a
                # changed host key (not merely an unknown one) and refuses.
                decoy = host.workdir / "decoy_host_key"
                ssh_keygen(decoy, f"{host.name}-decoy")
                public = public_key(decoy.with_suffix(".pub"))
            else:
                public = public_key(host.host_key.with_suffix(".pub"))
            lines.append(known_hosts_line(host, public))
        known_hosts.write_text("".join(lines))
        ssh_config.write_text(
            "\n".join(ssh_config_block(h, client_key, known_hosts) for h in hosts)
        )
    except BaseException:
        cleanup = SshCluster(
            hosts, base_dir, ssh_config, known_hosts, client_key, cluster_id, keys_dir
        )
        with contextlib.suppress(SshdError):
            cleanup.stop()
        raise
    return SshCluster(hosts, base_dir, ssh_config, known_hosts, client_key, cluster_id, keys_dir)
