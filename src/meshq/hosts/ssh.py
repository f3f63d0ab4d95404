"""Any host ``ssh`` reaches, through asyncssh.

One connection per host is opened on first use and kept for the whole run;
the host agent lives on one channel of it, so sshd's ``MaxSessions`` (10 by
default) and a slow login shell are paid once per run, not per job.

asyncssh reads ``~/.ssh/config`` (HostName, Port, User, IdentityFile,
ProxyJump, UserKnownHostsFile) and uses the ssh agent; ``MESHQ_SSH_CONFIG``
names another config file. Host keys are checked against known_hosts unless
the host was added with ``--no-host-key-check``. Nothing ever prompts: a
connection that cannot be made in ``connect_timeout`` seconds fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shlex
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh

from meshq.errors import HostError
from meshq.hosts.backend import Identity
from meshq.hosts.base import ByteWriter, Completed, LineReader
from meshq.hosts.sshfiles import remember

# asyncssh reads the ssh config and known_hosts for every connection: once
# per file instead (see sshfiles)
remember()

#: ssh's own port, where neither meshq nor the config names one
DEFAULT_PORT = 22
CONNECT_TIMEOUT = 10.0
#: names the ssh config file to read instead of ``~/.ssh/config``
CONFIG_ENV = "MESHQ_SSH_CONFIG"
#: a connection that answers no keepalive for interval × count seconds is dead
KEEPALIVE_INTERVAL = 5.0
KEEPALIVE_COUNT = 3


def _describe(err: BaseException) -> str:
    """One line a person can act on, for an error of connecting or running."""
    if isinstance(err, asyncssh.HostKeyNotVerifiable):
        return (
            f"host key not verifiable ({err.reason}): check known_hosts, or add the host "
            "with --no-host-key-check if you trust the network"
        )
    if isinstance(err, asyncssh.PermissionDenied):
        return "permission denied: check the user and that your key is in the agent or config"
    if isinstance(err, asyncssh.DisconnectError):
        return f"disconnected: {err.reason}"
    if isinstance(err, asyncssh.ChannelOpenError):
        return f"cannot open a channel: {err.reason}"
    if isinstance(err, TimeoutError):
        return "timed out connecting"
    if isinstance(err, socket.gaierror):
        return f"cannot resolve the host name ({err.strerror}): check --ip or ~/.ssh/config"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused (is sshd running there?)"
    if isinstance(err, OSError):
        return err.strerror or str(err)
    return str(err) or type(err).__name__


def _bytes(data: bytes | str | None) -> bytes:
    # with encoding=None asyncssh gives bytes; its types allow str as well
    if data is None:
        return b""
    return data.encode() if isinstance(data, str) else data


class _Reader:
    """The agent's output; a lost connection reads as a ConnectionError,
    like a closed pipe does for a local agent."""

    def __init__(self, stream: asyncssh.SSHReader[bytes]) -> None:
        self._stream = stream

    async def readline(self) -> bytes:
        try:
            return await self._stream.readline()
        except asyncssh.Error as err:
            raise ConnectionError(_describe(err)) from None


class _Writer:
    """The agent's input; a lost connection writes as a ConnectionError."""

    def __init__(self, stream: asyncssh.SSHWriter[bytes]) -> None:
        self._stream = stream

    def write(self, data: bytes) -> None:
        try:
            self._stream.write(data)
        except asyncssh.Error as err:
            raise ConnectionError(_describe(err)) from None

    async def drain(self) -> None:
        try:
            await self._stream.drain()
        except asyncssh.Error as err:
            raise ConnectionError(_describe(err)) from None


class _SshProcess:
    def __init__(self, proc: asyncssh.SSHClientProcess[bytes]) -> None:
        self._proc = proc
        self.stdin: ByteWriter = _Writer(proc.stdin)
        self.stdout: LineReader = _Reader(proc.stdout)

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError, asyncssh.Error):
            self._proc.stdin.write_eof()

    async def wait(self) -> int:
        try:
            done = await self._proc.wait()
        except asyncssh.Error:
            return 255
        return done.exit_status if done.exit_status is not None else 255

    def kill(self) -> None:
        # OpenSSH answers a "signal" channel request with killpg() on the
        # session's process group: a hung login shell and what it started
        with contextlib.suppress(OSError, asyncssh.Error):
            self._proc.kill()

    def close(self) -> None:
        self._proc.close()


class SshTransport:
    """Reach one host over SSH."""

    def __init__(
        self,
        name: str,
        *,
        address: str | None = None,
        user: str | None = None,
        port: int | None = None,
        check_host_key: bool = True,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.name = name
        self.address = address or name
        self.user = user
        self.port = port
        self.check_host_key = check_host_key
        self.connect_timeout = connect_timeout
        self._conn: asyncssh.SSHClientConnection | None = None
        self._lock = asyncio.Lock()

    def _options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {
            # AES-GCM first: with AES-NI it costs a fraction of ChaCha20 in
            # asyncssh, and every job event is a packet (the rest of the
            # default list follows, so any server still finds a match)
            "encryption_algs": "^aes128-gcm@openssh.com,aes256-gcm@openssh.com",
            "connect_timeout": self.connect_timeout,
            "keepalive_interval": KEEPALIVE_INTERVAL,
            "keepalive_count_max": KEEPALIVE_COUNT,
        }
        if config := os.environ.get(CONFIG_ENV):
            opts["config"] = [config]
        if self.user:
            opts["username"] = self.user
        if self.port:
            opts["port"] = self.port
        if not self.check_host_key:
            opts["known_hosts"] = None
        return opts

    async def connect(self) -> asyncssh.SSHClientConnection:
        """The open connection, opened (again) if needed."""
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return self._conn
            try:
                self._conn = await asyncio.wait_for(
                    asyncssh.connect(self.address, **self._options()),
                    self.connect_timeout + 5,
                )
            except (OSError, TimeoutError, asyncssh.Error) as err:
                raise HostError(self.name, _describe(err)) from None
            return self._conn

    def identity(self) -> Identity:
        """The user the connection logged in as and the address and port it
        reached (as ``~/.ssh/config`` resolved them); before connecting,
        what this transport was told."""
        conn = self._conn
        if conn is None:
            return Identity(user=self.user, port=self.port)
        user = conn.get_extra_info("username") or self.user
        peer = conn.get_extra_info("peername")
        address, port = (str(peer[0]), int(peer[1])) if peer else (None, self.port)
        return Identity(user=user, address=address, port=port)

    def resolve(self) -> Identity:
        """Where a connection would go, without making one: the address
        (``HostName``), user and port that asyncssh resolves from the ssh
        config file it reads (``~/.ssh/config``, or ``MESHQ_SSH_CONFIG``)
        under what this transport was told, by asyncssh's own parser with
        the arguments :meth:`connect` gives it. What was told, where that
        file cannot be read."""
        from asyncssh.config import SSHClientConfig

        told = Identity(user=self.user, address=self.address, port=self.port)
        if named := os.environ.get(CONFIG_ENV):
            paths = [Path(named)]
        else:
            default = Path("~", ".ssh", "config").expanduser()
            paths = [default] if os.access(default, os.R_OK) else []
        try:
            local_user = getpass.getuser()
            config = SSHClientConfig.load(
                None, paths, False, False, False, local_user,
                self.user or (), self.address, self.port or (),
            )  # fmt: skip
        except (OSError, KeyError, ValueError, asyncssh.Error):
            return told
        host = config.get("Hostname", self.address)
        port = self.port or config.get("Port", DEFAULT_PORT)
        user = self.user or config.get("User", local_user)
        return Identity(
            user=str(user),
            address=str(host),
            port=int(port) if isinstance(port, int | str) else told.port,
        )

    async def run(
        self, argv: list[str], *, timeout: float = 30.0, input: bytes | None = None
    ) -> Completed:
        conn = await self.connect()
        try:
            done = await conn.run(
                shlex.join(argv), check=False, encoding=None, timeout=timeout, input=input
            )
        except asyncssh.TimeoutError:
            raise HostError(self.name, f"{argv[0]} did not finish in {timeout:g} s") from None
        except (OSError, asyncssh.Error) as err:
            raise HostError(self.name, _describe(err)) from None
        code = done.exit_status if done.exit_status is not None else 255
        return Completed(tuple(argv), code, _bytes(done.stdout), _bytes(done.stderr))

    async def stream(self, argv: list[str]) -> AsyncIterator[bytes]:
        conn = await self.connect()
        try:
            proc = await conn.create_process(shlex.join(argv), encoding=None)
        except (OSError, asyncssh.Error) as err:
            raise HostError(self.name, _describe(err)) from None
        try:
            while chunk := await proc.stdout.read(65536):
                yield chunk
        except asyncssh.Error as err:
            raise HostError(self.name, _describe(err)) from None
        finally:
            proc.close()

    async def start(self, argv: list[str]) -> _SshProcess:
        conn = await self.connect()
        try:
            proc = await conn.create_process(shlex.join(argv), encoding=None)
        except (OSError, asyncssh.Error) as err:
            raise HostError(self.name, _describe(err)) from None
        return _SshProcess(proc)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            # closing is best effort: the connection may be gone already
            with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):
                await asyncio.wait_for(self._conn.wait_closed(), 5)
            self._conn = None
