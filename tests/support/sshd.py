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

A test host must be *another machine*, or meshq's confusions of a local path with a remote
one go unseen. So hosts log in as ``TEST_USER`` (``meshq-host``, home ``/home/meshq-host``),
not as the user running the tests: another user, another home, no write access to ours.
``ensure_test_user()`` creates that user when we are root (sshd can only switch to another
user when it runs as root, so the tests need root anyway). What a host wrote is read back
through ``SshHost.home`` / ``SshHost.local_path()`` (every host is this machine, and root
reads any file), or by running a command there with ``SshHost.ssh()``.
"""

from __future__ import annotations

import contextlib
import ctypes
import getpass
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = [
    "CLUSTER_ENV",
    "DEFAULT_START_TIMEOUT_S",
    "HOST_ENV",
    "SSHD",
    "SSH_TIMEOUT_S",
    "TEST_USER",
    "SshCluster",
    "SshHost",
    "SshdError",
    "ensure_test_user",
    "free_port",
    "pid_alive",
    "poll_until",
    "sshd_available",
    "start_cluster",
]

#: The sshd binary. It must be an absolute path: sshd re-execs itself for every
#: connection and refuses to run when started through a relative path.
SSHD = Path("/usr/sbin/sshd")
#: Privilege-separation directory sshd (running as root) insists on.
PRIVSEP_DIR = Path("/run/sshd")
#: Environment variable naming the test host a process belongs to.
HOST_ENV = "MESHQ_TEST_HOST"
#: Environment variable naming the cluster (a random token) a process belongs to.
CLUSTER_ENV = "MESHQ_TEST_CLUSTER"
#: How long a freshly started sshd gets to answer with its SSH banner.
DEFAULT_START_TIMEOUT_S = 15.0
#: Highest usable last octet of a 127.0.0.x address (.255 is the broadcast address).
_MAX_OCTET = 254
#: The user test hosts log in as by default: another user with another home, as on a real
#: remote machine (see the module docstring).
TEST_USER = "meshq-host"
#: Where per-cluster folders that the test user must read go (the authorized_keys). Not
#: pytest's tmp dir: that is 0700 and owned by the user running the tests.
SHARED_TMP = Path("/tmp")
#: Upper bound for one command run through ``SshHost.ssh()``.
SSH_TIMEOUT_S = 30.0


class SshdError(RuntimeError):
    """A test sshd could not be set up, did not come up, or could not be stopped."""


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------


def sshd_available() -> str | None:
    """Return ``None`` when real test hosts can be started here, else why not.

    Checks for ``/usr/sbin/sshd``, ``ssh-keygen`` and the ``ssh`` client (the fixtures'
    ``ssh_argv`` needs the client; all three come from the openssh packages).
    """
    if not (SSHD.is_file() and os.access(SSHD, os.X_OK)):
        return f"{SSHD} not found (install openssh-server)"
    for tool in ("ssh-keygen", "ssh"):
        if shutil.which(tool) is None:
            return f"{tool} not found on PATH (install openssh-client)"
    return None


def _passwd_entry(user: str) -> pwd.struct_passwd | None:
    """Return ``user``'s passwd entry, or ``None`` when there is no such user here."""
    try:
        return pwd.getpwnam(user)
    except KeyError:
        return None


def _password_locked(user: str) -> bool:
    """Whether /etc/shadow marks ``user``'s password as locked (a leading ``!``).

    useradd leaves a new account so, and sshd with ``UsePAM no`` refuses a locked account
    even for key logins. ``*`` (no password can match, but not locked) is what we want.
    Unreadable /etc/shadow (not root) or no entry: not known to be locked, ``False``.
    """
    try:
        lines = Path("/etc/shadow").read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        name, _, rest = line.partition(":")
        if name == user:
            return rest.startswith("!")
    return False


def _how_to_create(user: str) -> str:
    """The commands that make ``user`` usable as the test hosts' login."""
    return f"useradd -m -s /bin/bash {user} && usermod -p '*' {user}"


def _as_root(argv: list[str]) -> str | None:
    """Run an account command (useradd, usermod); ``None`` on success, else its complaint."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{argv[0]} failed: {exc}"
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["(no message)"])[0]
        return f"{' '.join(argv)} exited {done.returncode}: {first}"
    return None


def ensure_test_user(user: str = TEST_USER) -> str | None:
    """Make sure test hosts can log in as ``user``; ``None`` when they can, else why not.

    As root: creates ``user`` when missing (``useradd -m -s /bin/bash``), sets a locked
    password field to ``*`` (see ``_password_locked``) and creates a missing home (0755,
    owned by the user). Not root: a missing user, or any user other than our own, is
    reported, because an sshd not running as root cannot switch to another user. The
    reason is one line that says what is missing and how to fix it. Safe to call from
    several test sessions at once: a user another session created meanwhile is taken.
    """
    if user == getpass.getuser():
        return None  # no user switch: any sshd can log us in as ourselves
    entry = _passwd_entry(user)
    if os.geteuid() != 0:
        if entry is None:
            return (
                f"test host user {user!r} does not exist; create it as root with: "
                f"{_how_to_create(user)} (scripts/test does this when run as root)"
            )
        return (
            f"test hosts log in as {user!r}, and only an sshd run as root can switch to "
            f"another user: run the tests as root"
        )
    if entry is None:
        failed = _as_root(["useradd", "-m", "-s", "/bin/bash", user])
        entry = _passwd_entry(user)
        if entry is None:  # not created by a concurrent session either
            return f"could not create test host user {user!r}: {failed}"
    if _password_locked(user):
        failed = _as_root(["usermod", "-p", "*", user])
        if failed is not None and _password_locked(user):
            return f"test host user {user!r} is locked and could not be unlocked: {failed}"
    home = Path(entry.pw_dir)
    if not home.is_dir():
        # sshd would start sessions in / instead, and ~ paths would point nowhere.
        home.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chown(home, entry.pw_uid, entry.pw_gid)
    return None


def poll_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.02,
) -> None:
    """Call ``predicate`` until it returns true; raise ``TimeoutError`` after ``timeout`` s.

    Tests use this instead of fixed sleeps: it returns as soon as the condition holds
    and fails with ``what`` in the message when it never does.
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def free_port(address: str) -> int:
    """Return a TCP port that is free on ``address`` right now.

    Found by binding port 0 on that very address, so the kernel picks one that nothing
    listens on there. There is a small window before sshd binds it; loopback test hosts
    accept that race.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def pid_alive(pid: int) -> bool:
    """Return whether ``pid`` is a live process (zombies count as dead).

    A killed process whose parent has not reaped it yet stays in /proc as a zombie; for
    "did the job die?" questions that is dead.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The command name (field 2) may contain spaces and parentheses; the state is the
    # first field after the *last* ')'.
    state = stat.rpartition(")")[2].split()[0]
    return state not in ("Z", "X")


def _ssh_keygen(path: Path, comment: str) -> None:
    """Create an ed25519 key pair ``path`` / ``path.pub`` with no passphrase."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )


def _public_key(path: Path) -> str:
    """Return "<type> <base64>" from an OpenSSH ``.pub`` file, without its comment."""
    key_type, blob, *_ = path.read_text().split()
    return f"{key_type} {blob}"


def _quote(path: Path) -> str:
    """Quote a path for ssh_config / sshd_config (both accept double quotes)."""
    text = str(path)
    if '"' in text:
        raise SshdError(f"path {text!r} contains a double quote; ssh configs cannot hold it")
    return f'"{text}"'


def _ensure_privsep_dir() -> None:
    """Create /run/sshd when running as root; sshd refuses to start without it.

    As non-root sshd skips its privilege-separation chroot and does not need it.
    """
    if os.geteuid() != 0:
        return
    PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)


def _die_with_parent() -> None:
    """In the sshd child before exec: get SIGTERM when the test process dies.

    Without this a test run killed with SIGKILL leaves sshd listeners behind. The death
    signal survives execve and sshd -D does not fork the listener, so it sticks.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def _in_main_thread() -> bool:
    """Whether the caller runs on the interpreter's main thread."""
    return threading.current_thread() is threading.main_thread()


def _proc_table() -> Iterator[tuple[int, int, frozenset[bytes] | None]]:
    """Yield ``(pid, ppid, environ entries or None)`` for every process we can see.

    Processes that vanish while we look, or whose stat we cannot read, are skipped;
    an unreadable environ gives ``None`` (the process may still match by ancestry).
    """
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        try:
            ppid = int(stat.rpartition(")")[2].split()[1])
        except (IndexError, ValueError):
            continue
        environ: frozenset[bytes] | None
        try:
            environ = frozenset(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"))
        except OSError:
            environ = None
        yield pid, ppid, environ


def _self_and_ancestors() -> set[int]:
    """Return this process's pid and all its ancestors' pids: never ours to kill."""
    pids = {os.getpid()}
    pid = os.getpid()
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            break
        pids.add(pid)
    return pids


def _signal(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to ``pid``, ignoring processes that are already gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _log_tail(path: Path, limit: int = 4000) -> str:
    """Return the last ``limit`` characters of sshd's log, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "<no sshd log>"
    return text[-limit:] or "<sshd log is empty>"


def _launch_sshd(
    name: str, cluster_id: str, config: Path, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start ``sshd -D -e -f config`` (not waiting for it) with its log going to ``log_path``."""
    _ensure_privsep_dir()
    env = dict(os.environ)
    # The listener's own environment is inherited by its per-connection children (not by
    # sessions), which lets kill_all() find those by tag even after the listener is gone.
    env[HOST_ENV] = name
    env[CLUSTER_ENV] = cluster_id
    with open(log_path, "ab") as log:
        # Log to a file, not a pipe: nobody drains a pipe, and a full one blocks sshd.
        return subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            # PR_SET_PDEATHSIG fires when the *thread* that forked exits, so only tie
            # sshd's life to ours when we start it from the main thread.
            preexec_fn=_die_with_parent if _in_main_thread() else None,
        )


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
        protected = _self_and_ancestors()
        return sorted(
            pid
            for pid, _ppid, environ in _proc_table()
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
        self.proc = _launch_sshd(self.name, self.cluster_id, self.sshd_config, self.log_path)
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
                    f"{_log_tail(self.log_path)}"
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
            f"{_log_tail(self.log_path)}"
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
        protected = _self_and_ancestors()
        listener = self.proc.pid if self.proc.poll() is None else None
        frozen: set[int] = set()
        for _ in range(100):  # bounded: a fork bomb must not hang the test run
            found: set[int] = set()
            for pid, ppid, environ in _proc_table():
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
                _signal(pid, signal.SIGSTOP)
            frozen |= found
        for pid in frozen:
            _signal(pid, signal.SIGKILL)
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


def _sshd_config_text(
    host_name: str,
    address: str,
    port: int,
    host_key: Path,
    authorized_keys: Path,
    cluster_id: str,
    session_env: Mapping[str, str] | None = None,
) -> str:
    """Return the sshd_config for one test host (OpenSSH defaults for everything else);
    ``session_env`` is added to the environment of its login sessions."""
    extra = "".join(f' {key}="{value}"' for key, value in (session_env or {}).items())
    # Deliberately absent: MaxSessions / MaxStartups (tests must meet the real defaults,
    # 10 and 10:30:100) and any Include of /etc/ssh (the machine's config must not leak in).
    return "\n".join(
        [
            f"# test host {host_name}, written by tests/support/sshd.py",
            f"ListenAddress {address}:{port}",
            f"HostKey {_quote(host_key)}",
            f"AuthorizedKeysFile {_quote(authorized_keys)}",
            "PidFile none",
            # The files live under /tmp, whose permissions StrictModes would reject.
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            # Sessions get a fresh environment; this is how jobs learn which host they
            # are on (and how kill_all() finds them).
            f"SetEnv {HOST_ENV}={host_name} {CLUSTER_ENV}={cluster_id}{extra}",
            # Compiled-in default has no subsystems; real hosts (Debian's stock config)
            # offer sftp, which scp (SFTP protocol since OpenSSH 9.0) and asyncssh use.
            "Subsystem sftp internal-sftp",
            "",
        ]
    )


def _ssh_config_block(host: SshHost, client_key: Path, known_hosts: Path) -> str:
    """Return the ``Host <alias>`` block that makes ``ssh -F cfg <alias>`` reach ``host``."""
    return "\n".join(
        [
            f"Host {host.name}",
            f"    HostName {host.address}",
            f"    Port {host.port}",
            f"    User {host.user}",
            f"    IdentityFile {_quote(client_key)}",
            "    IdentitiesOnly yes",
            f"    UserKnownHostsFile {_quote(known_hosts)}",
            # Keep the machine's /etc/ssh/ssh_known_hosts out of the picture.
            "    GlobalKnownHostsFile /dev/null",
            "    StrictHostKeyChecking yes",
            "    BatchMode yes",
            # known_hosts is ours and must stay exactly as written (no key rotation adds).
            "    UpdateHostKeys no",
            # A dead test host must fail fast, never hang a test.
            "    ConnectTimeout 10",
            "",
        ]
    )


def _known_hosts_line(host: SshHost, public_key: str) -> str:
    """Return the known_hosts line for ``host`` trusting ``public_key``.

    With ``HostName`` + a non-22 ``Port`` both OpenSSH and asyncssh look the host up
    as ``[address]:port``. The alias patterns serve ``HostKeyAlias mqN``: OpenSSH then
    looks up the bare alias (no port), asyncssh ``[mqN]:port`` and then the bare alias.
    """
    patterns = f"[{host.address}]:{host.port},[{host.name}]:{host.port},{host.name}"
    return f"{patterns} {public_key}\n"


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
    entry = _passwd_entry(login)
    if entry is None:
        raise SshdError(f"test hosts cannot log in as {login!r}: no such user here")
    cluster_id = uuid.uuid4().hex[:12]

    client_key = base_dir / "id_ed25519"
    _ssh_keygen(client_key, f"meshq-test-client-{cluster_id}")
    known_hosts = base_dir / "known_hosts"
    ssh_config = base_dir / "ssh_config"
    # sshd reads AuthorizedKeysFile with the login user's privileges, and base_dir (pytest's
    # tmp dir) is private to us: the key goes where that user can read it, and nothing else
    # of ours does (the client key and host keys stay private).
    keys_dir = Path(tempfile.mkdtemp(prefix=f"meshq-test-keys-{cluster_id}-", dir=SHARED_TMP))
    keys_dir.chmod(0o755)
    authorized_keys = keys_dir / "authorized_keys"
    authorized_keys.write_text(_public_key(client_key.with_suffix(".pub")) + "\n")
    authorized_keys.chmod(0o644)

    hosts: list[SshHost] = []
    try:
        for i, name in enumerate(names):
            address = f"127.0.0.{first_octet + i}"
            workdir = base_dir / name
            workdir.mkdir(parents=True, exist_ok=True)
            port = free_port(address)
            host_key = workdir / "ssh_host_ed25519_key"
            _ssh_keygen(host_key, f"{name}-hostkey")
            (workdir / "sshd_config").write_text(
                _sshd_config_text(
                    name, address, port, host_key, authorized_keys, cluster_id, session_env
                )
            )
            proc = _launch_sshd(name, cluster_id, workdir / "sshd_config", workdir / "sshd.log")
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
                _ssh_keygen(decoy, f"{host.name}-decoy")
                public = _public_key(decoy.with_suffix(".pub"))
            else:
                public = _public_key(host.host_key.with_suffix(".pub"))
            lines.append(_known_hosts_line(host, public))
        known_hosts.write_text("".join(lines))
        ssh_config.write_text(
            "\n".join(_ssh_config_block(h, client_key, known_hosts) for h in hosts)
        )
    except BaseException:
        cleanup = SshCluster(
            hosts, base_dir, ssh_config, known_hosts, client_key, cluster_id, keys_dir
        )
        with contextlib.suppress(SshdError):
            cleanup.stop()
        raise
    return SshCluster(hosts, base_dir, ssh_config, known_hosts, client_key, cluster_id, keys_dir)
