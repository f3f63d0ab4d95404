"""The host interface: the one seam between meshq and the machines it uses.

A :class:`Transport` can run a command to completion, stream a command's
output, and start a long-lived process with pipes (the host agent). That is
all the layers above need, so the local machine and an SSH host share every
line of meshq above this interface.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from meshq.hosts.backend import Identity


@dataclass(frozen=True, slots=True)
class Completed:
    """A finished command: its exit status and both outputs, kept apart."""

    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes


class LineReader(Protocol):
    async def readline(self) -> bytes: ...


class ByteWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...


class LongProcess(Protocol):
    """A process with a pipe in and a pipe out, such as the host agent."""

    stdin: ByteWriter
    stdout: LineReader

    def close_stdin(self) -> None:
        """Send end-of-file: the agent exits; jobs it started go on."""

    async def wait(self) -> int:
        """Wait for the process to exit; its status. (Jobs the agent started
        may hold its output open much longer: this does not wait for them.)"""
        ...

    def close(self) -> None:
        """Let go of the pipes (or channel); the jobs run on regardless."""

    def kill(self) -> None:
        """Kill the process and its process group (the login shell of an SSH
        session included), but not the jobs, which have groups of their own:
        for an agent that never became ready (a hung login, say)."""


class Transport(Protocol):
    """How meshq reaches one host."""

    #: the host's name in the inventory (``localhost`` for this machine)
    name: str

    async def run(
        self, argv: list[str], *, timeout: float = 30.0, input: bytes | None = None
    ) -> Completed:
        """Run ``argv`` on the host and wait for it (no shell is involved
        on this machine; on an SSH host the words are quoted for the
        remote shell); ``input`` is its standard input (default: none)."""
        ...

    def stream(self, argv: list[str]) -> AsyncIterator[bytes]:
        """Run ``argv`` on the host and yield its stdout as it comes."""
        ...

    async def start(self, argv: list[str]) -> LongProcess:
        """Start ``argv`` on the host with pipes to and from it."""
        ...

    async def close(self) -> None:
        """Release connections; processes started detached go on."""
        ...

    def identity(self) -> Identity:
        """As whom and where commands run there (for SSH: as resolved by the
        connection, so only once connected)."""
        ...
