"""The manager's side of the host agent (``resources/agent.sh``).

One :class:`HostAgent` per host and run: it starts the agent through the
host's :class:`~meshq.hosts.base.Transport`, sends requests as
NUL-terminated fields (never as shell text), and turns the agent's
tab-separated lines into :class:`AgentLine` events. Job events (started,
ended, could not start) go to the callback given; answers to checks, kills
and removals resolve the awaitable that asked for them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from meshq.errors import HostError
from meshq.hosts.base import LongProcess, Transport
from meshq.model import Job

PROTOCOL = "1"
#: how long a host may take to start the agent (login shell, slow network)
READY_TIMEOUT = 30.0


@cache
def agent_script() -> str:
    """The whole program the agent runs: the job wrapper, then the loop."""
    res = files("meshq.resources")
    return res.joinpath("wrapper.sh").read_text() + "\n" + res.joinpath("agent.sh").read_text()


def agent_argv() -> list[str]:
    return ["bash", "--noprofile", "--norc", "-c", agent_script(), "meshq-agent"]


@dataclass(frozen=True, slots=True)
class AgentLine:
    """One line from the agent: its kind letter and its fields."""

    kind: str
    fields: tuple[str, ...]

    @property
    def key(self) -> str:
        return self.fields[0] if self.fields else ""


@dataclass(frozen=True, slots=True)
class Liveness:
    """What a host says of one job attempt: is its process alive, and what
    has its state log recorded for the attempt (lines, oldest first)."""

    alive: bool
    lines: tuple[str, ...]


def _fmt_timeout(seconds: float | None) -> str:
    if not seconds:
        return ""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:.3f}"


def _encode(fields: Iterable[str | int | float | None]) -> bytes:
    out = bytearray()
    for f in fields:
        text = "" if f is None else str(f)
        data = text.encode("utf-8", "surrogateescape")
        if b"\0" in data:
            raise ValueError("a request field holds a NUL byte")
        out += data + b"\0"
    return bytes(out)


class HostAgent:
    """A running agent on one host."""

    def __init__(
        self,
        transport: Transport,
        on_event: Callable[[str, AgentLine], None],
        on_lost: Callable[[str, str], None] | None = None,
        *,
        default_pyenv: str | None = None,
    ) -> None:
        self.transport = transport
        #: the host's --pyenv, for jobs that name none
        self.default_pyenv = default_pyenv
        self.host = transport.name
        self._on_event = on_event
        self._on_lost = on_lost
        self._proc: LongProcess | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[tuple[str, str, str], asyncio.Future[AgentLine]] = {}
        self._ready: asyncio.Future[AgentLine] | None = None
        self._closing = False
        self._serial = 0
        self.hostname = ""

    async def start(self, timeout: float = READY_TIMEOUT) -> None:
        """Start the agent and wait until it says it is ready."""
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._proc = await self.transport.start(agent_argv())
        self._reader = asyncio.create_task(self._read(), name=f"agent-{self.host}")
        try:
            line = await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except TimeoutError:
            await self.close()
            raise HostError(self.host, f"the agent did not start within {timeout:g} s") from None
        if len(line.fields) < 2 or line.fields[0] != PROTOCOL:
            raise HostError(self.host, f"the agent speaks another protocol: {line.fields}")
        self.hostname = line.fields[1]

    @property
    def alive(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def _read(self) -> None:
        assert self._proc is not None
        reason = "the agent exited"
        try:
            while True:
                raw = await self._proc.stdout.readline()
                if not raw:
                    break
                text = raw.decode("utf-8", "surrogateescape").rstrip("\n")
                kind, *rest = text.split("\t")
                line = AgentLine(kind, tuple(rest))
                if kind == "R":
                    if self._ready is not None and not self._ready.done():
                        self._ready.set_result(line)
                elif kind in "SEF":
                    self._on_event(self.host, line)
                else:
                    ident = (kind, line.key, line.fields[1] if kind in "AK" else "")
                    fut = self._waiting.pop(ident, None)
                    if fut is not None and not fut.done():
                        fut.set_result(line)
        except (OSError, asyncio.IncompleteReadError, ValueError) as err:
            # OSError covers ConnectionError, which transports raise for a
            # lost pipe or connection
            reason = f"lost the agent: {err}"
        finally:
            self._fail_waiting(reason)

    def _fail_waiting(self, reason: str) -> None:
        err = HostError(self.host, reason)
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(err)
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(err)
        self._waiting.clear()
        if not self._closing and self._on_lost is not None:
            self._on_lost(self.host, reason)

    def _send(self, data: bytes) -> None:
        if self._proc is None or not self.alive:
            raise HostError(self.host, "the agent is not running")
        try:
            self._proc.stdin.write(data)
        except OSError as err:
            raise HostError(self.host, f"cannot reach the agent: {err}") from None

    async def drain(self) -> None:
        """Wait until what was sent has been handed to the host."""
        if self._proc is not None:
            try:
                await self._proc.stdin.drain()
            except (ConnectionError, OSError) as err:
                raise HostError(self.host, f"cannot reach the agent: {err}") from None

    def launch(self, job: Job, gpu: str | None = None) -> None:
        """Send the launch of ``job``'s current attempt (no wait for an answer:
        its S/E/F events arrive through the callback)."""
        self._send(
            b"L\0"
            + _encode(
                [
                    job.id,
                    job.attempts,
                    self._dir(job),
                    job.directory,
                    job.shell,
                    job.command,
                    gpu if gpu is not None else job.gpu,
                    job.pyenv or self.default_pyenv,
                    _fmt_timeout(job.timeout),
                    job.queue,
                    job.name,
                    job.index,
                    job.output,
                    job.log,
                    job.err_file,
                    job.input,
                ]
            )
        )

    def _dir(self, job: Job) -> str:
        return self.transport.remote_path(job.job_dir)

    def _request(self, kind: str, key: str, attempt: str, data: bytes) -> asyncio.Future[AgentLine]:
        """Send one request; the future its answer will resolve."""
        fut: asyncio.Future[AgentLine] = asyncio.get_running_loop().create_future()
        self._waiting[(kind, key, attempt)] = fut
        self._send(data)
        return fut

    async def _answers(self, futures: list[asyncio.Future[AgentLine]]) -> list[AgentLine]:
        await self.drain()
        return list(await asyncio.gather(*futures))

    def _key(self) -> str:
        self._serial += 1
        return f"r{self._serial}"

    async def check(self, jobs: Sequence[Job]) -> dict[int, Liveness]:
        """Ask whether each job's process is alive and what its log says."""
        answers = await self._answers(
            [
                self._request(
                    "A",
                    str(j.id),
                    str(j.attempts),
                    b"A\0" + _encode([j.id, j.attempts, j.pid, j.pstart, self._dir(j), j.log]),
                )
                for j in jobs
            ]
        )
        out = {}
        for job, line in zip(jobs, answers, strict=True):
            lines = tuple(x for x in line.fields[3].split("|") if x) if len(line.fields) > 3 else ()
            out[job.id] = Liveness(alive=line.fields[2] == "1", lines=lines)
        return out

    async def kill(self, jobs: Sequence[Job], grace: float = 5.0) -> dict[int, str]:
        """Kill each job's process group (TERM, then KILL after ``grace``)."""
        answers = await self._answers(
            [
                self._request(
                    "K",
                    str(j.id),
                    str(j.attempts),
                    b"K\0"
                    + _encode([j.id, j.attempts, j.pid, j.pstart, self._dir(j), j.log, int(grace)]),
                )
                for j in jobs
            ]
        )
        return {j.id: a.fields[2] for j, a in zip(jobs, answers, strict=True)}

    async def remove(self, directories: Sequence[str]) -> dict[str, str]:
        """Remove directories on the host; ``ok`` or the error, per directory."""
        keys = [self._key() for _ in directories]
        answers = await self._answers(
            [
                self._request("D", k, "", b"D\0" + _encode([k, d]))
                for k, d in zip(keys, map(self.transport.remote_path, directories), strict=True)
            ]
        )
        return {d: a.fields[1] for d, a in zip(directories, answers, strict=True)}

    async def make_dirs(self, directories: Sequence[str]) -> None:
        """Create ``directories`` (and their parents) with one ``mkdir`` on
        the host; :class:`HostError` if it fails."""
        key = self._key()
        remote = [self.transport.remote_path(d) for d in directories]
        data = b"M\0" + _encode([key, len(remote), *remote])
        [answer] = await self._answers([self._request("M", key, "", data)])
        if answer.fields[1:2] != ("ok",):
            raise HostError(self.host, f"cannot make job directories: {answer.fields[1:]}")

    async def close(self) -> None:
        """Stop the agent; the jobs it started go on running."""
        self._closing = True
        if self._proc is not None:
            self._proc.close_stdin()
            # the agent exits at once on end-of-file; do not wait for the
            # jobs, which keep its output open until they end
            with contextlib.suppress(TimeoutError, OSError):
                await asyncio.wait_for(self._proc.wait(), 1.0)
            self._proc.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, HostError):
                await self._reader
