"""This machine as a host: commands run as subprocesses, no shell between."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import signal
from collections.abc import AsyncIterator

from meshq.errors import HostError
from meshq.hosts.backend import Identity
from meshq.hosts.base import ByteWriter, Completed, LineReader
from meshq.model import LOCALHOST


class _LocalProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self._proc = proc
        self.stdin: ByteWriter = proc.stdin
        self.stdout: LineReader = proc.stdout

    def close_stdin(self) -> None:
        assert self._proc.stdin is not None
        with contextlib.suppress(OSError):
            self._proc.stdin.close()

    async def wait(self) -> int:
        # Process.wait() would also wait for the agent's stdout to close, and
        # the jobs' wrappers keep it open until they end: watch the exit alone
        while self._proc.returncode is None:
            await asyncio.sleep(0.02)
        return self._proc.returncode

    def kill(self) -> None:
        # the agent leads its own session and group (start_new_session)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)

    def close(self) -> None:
        # close our ends of the pipes now, inside the event loop; left to the
        # garbage collector they would be closed after the loop is gone
        transport = getattr(self._proc, "_transport", None)
        if transport is not None:
            transport.close()


class LocalTransport:
    """Run on this machine."""

    def __init__(self, name: str = LOCALHOST) -> None:
        self.name = name

    async def run(
        self, argv: list[str], *, timeout: float = 30.0, input: bytes | None = None
    ) -> Completed:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL if input is None else asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as err:
            raise HostError(self.name, f"cannot run {argv[0]}: {err}") from None
        try:
            out, errout = await asyncio.wait_for(proc.communicate(input), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise HostError(self.name, f"{argv[0]} did not finish in {timeout:g} s") from None
        return Completed(tuple(argv), proc.returncode or 0, out, errout)

    async def stream(self, argv: list[str]) -> AsyncIterator[bytes]:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        try:
            while chunk := await proc.stdout.read(65536):
                yield chunk
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await proc.wait()

    async def start(self, argv: list[str]) -> _LocalProcess:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                # its own session: a Ctrl-C meant for meshq must not reach
                # the agent or the jobs it starts
                start_new_session=True,
                limit=1 << 20,
            )
        except OSError as err:
            raise HostError(self.name, f"cannot start {argv[0]}: {err}") from None
        return _LocalProcess(proc)

    async def close(self) -> None:
        return None

    def identity(self) -> Identity:
        return Identity(user=getpass.getuser())
