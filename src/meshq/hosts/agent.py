"""The host agent backend: how meshq runs jobs on this machine and on SSH
hosts (``resources/agent.sh``), one implementation over either transport.

One :class:`AgentBackend` per host and run: it starts the agent through the
host's :class:`~meshq.hosts.base.Transport`, sends requests as
NUL-terminated fields (never as shell text), and turns the agent's
tab-separated lines into typed events (:class:`~meshq.hosts.backend.Started`,
:class:`~meshq.hosts.backend.Ended`,
:class:`~meshq.hosts.backend.FailedToStart`) for the run, and into answers
for the checks, kills and removals that asked for them. No wire line leaves
this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib.resources import files
from pathlib import Path

from meshq import paths
from meshq.errors import HostError, UnreadableFile
from meshq.hosts.backend import (
    Ended,
    EventSink,
    FailedToStart,
    Fence,
    Identity,
    JobEvent,
    Liveness,
    LostSink,
    Started,
    ignore_event,
    signal_of,
)
from meshq.hosts.base import LongProcess, Transport
from meshq.model import Job, Status

PROTOCOL = "2"
#: how a host may take to start the agent (login shell, slow network)
READY_TIMEOUT = 30.0
#: the states an E line may carry
_ENDINGS = frozenset({Status.END, Status.FAIL, Status.KILL, Status.TIMEOUT})

# The file readers: a path of the host, absolute or ~/…, arrives as data ($1)
# and only the leading ~ is expanded, by bash, with the host's own $HOME.
_EXPAND = 'f=$1; case $f in "~") f=$HOME ;; "~/"*) f=$HOME/${f#"~/"} ;; esac; '
_READ = _EXPAND + 'exec cat -- "$f"'
# written next to itself, then renamed: a reader sees all of it or nothing
# (the part's name is the writer's own: two may write one file at once)
_WRITE = (
    _EXPAND + 'p=$f.meshq-part.$$; mkdir -p -- "${f%/*}" && cat > "$p" && exec mv -f -- "$p" "$f"'
)
_FOLLOW = _EXPAND + 'exec tail -c +1 -F --pid="$2" -- "$f" 2>/dev/null'


@cache
def resource(name: str) -> str:
    """The text of ``meshq/resources/NAME``."""
    return files("meshq.resources").joinpath(name).read_text()


def agent_script(extension: str = "") -> str:
    """The whole program the agent runs: the job wrapper, a host kind's
    extension (functions ``meshq_op_OP``, see :meth:`AgentBackend.call`),
    then the loop."""
    return "\n".join((resource("wrapper.sh"), extension, resource("agent.sh")))


def _write_whole(path: str, data: bytes) -> None:
    """Write a file of this machine as :data:`_WRITE` writes one on a host."""
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f"{target.name}.meshq-part.{os.getpid()}.{threading.get_ident()}")
    part.write_bytes(data)
    part.replace(target)


def agent_argv(extension: str = "") -> list[str]:
    return ["bash", "--noprofile", "--norc", "-c", agent_script(extension), "meshq-agent"]


@dataclass(frozen=True, slots=True)
class _Line:
    """One line from the agent: its kind letter and its fields."""

    kind: str
    fields: tuple[str, ...]

    @property
    def key(self) -> str:
        return self.fields[0] if self.fields else ""


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


def launch_fields(job: Job, where: paths.JobPaths, gpu: str | None = None) -> list[str]:
    """The 17 fields of a launch, in the order the job wrapper takes its
    arguments (``meshq_wrap`` in ``resources/wrapper.sh``); the last is the
    job's own environment (sweep parameters) as ``NAME=VALUE`` lines."""
    fields = [
        job.id,
        job.attempts,
        where.folder,
        where.workdir,
        job.shell,
        job.command,
        gpu if gpu is not None else job.gpu,
        where.pyenv,
        _fmt_timeout(job.timeout),
        job.queue,
        job.name,
        job.index,
        job.output,
        job.log,
        job.err_file,
        job.input,
        # NAME=VALUE lines (sweep values hold no newline)
        "\n".join(f"{k}={v}" for k, v in job.environment),
    ]
    return ["" if f is None else str(f) for f in fields]


#: how many fields a launch has (see launch_fields)
LAUNCH_FIELDS = 17


def parse_event(line: _Line) -> JobEvent | None:
    """The job event an S, E or F line reports; ``None`` for a torn line."""
    f = line.fields
    try:
        job_id, attempt = int(f[0]), int(f[1])
        if line.kind == "S" and len(f) >= 5:
            return Started(job_id, attempt, int(f[2]), f[3], float(f[4]))
        if line.kind == "E" and len(f) >= 5:
            status, code = Status(f[2]), int(f[3])
            if status not in _ENDINGS:
                return None
            signal = signal_of(code)
            note = f[5] if len(f) > 5 and f[5] else None
            return Ended(job_id, attempt, status, code, signal, float(f[4]), note)
        if line.kind == "F":
            message = f[2] if len(f) > 2 and f[2] else "the job could not be started"
            return FailedToStart(job_id, attempt, message)
    except (IndexError, ValueError):
        return None
    return None


class AgentBackend:
    """A host reached through a :class:`Transport`, running the agent."""

    def __init__(
        self,
        transport: Transport,
        on_event: EventSink = ignore_event,
        on_lost: LostSink | None = None,
        *,
        local: bool = False,
        default_pyenv: str | None = None,
        extension: str = "",
    ) -> None:
        self.transport = transport
        self.name = transport.name
        self.local = local
        #: the host's --pyenv, for jobs that name none
        self.default_pyenv = default_pyenv
        #: bash functions meshq_op_OP that extend the agent (see call)
        self.extension = extension
        self._on_event = on_event
        self._on_lost = on_lost
        self._proc: LongProcess | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[tuple[str, str, str], asyncio.Future[_Line]] = {}
        self._ready: asyncio.Future[_Line] | None = None
        self._closing = False
        self._serial = 0
        self._identity: Identity | None = None
        self.hostname = ""
        self.info: str | None = None

    @property
    def identity(self) -> Identity | None:
        return self._identity

    async def start(self, timeout: float = READY_TIMEOUT) -> None:
        """Start the agent and wait until it says it is ready."""
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        # once we stop waiting, a late failure must not be reported as a
        # "Future exception was never retrieved"
        self._ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._proc = await self.transport.start(agent_argv(self.extension))
        self._reader = asyncio.create_task(self._read(), name=f"agent-{self.name}")
        try:
            line = await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except TimeoutError:
            # a login that hangs (a .bashrc waiting on something) must not be
            # left running there, once per attempt
            self._proc.kill()
            await self.close()
            raise HostError(
                self.name,
                f"the agent did not start within {timeout:g} s: does a login there "
                "hang (.bashrc, .profile)?",
            ) from None
        if len(line.fields) < 4 or line.fields[0] != PROTOCOL:
            raise HostError(self.name, f"the agent speaks another protocol: {line.fields}")
        self.hostname = line.fields[1]
        self._identity = replace(self.transport.identity(), home=line.fields[3] or None)

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
                line = _Line(kind, tuple(rest))
                if kind == "R":
                    if self._ready is not None and not self._ready.done():
                        self._ready.set_result(line)
                elif kind in "SEF":
                    event = parse_event(line)
                    if event is not None:
                        self._on_event(self.name, event)
                else:
                    ident = (kind, line.key, line.fields[1] if kind in "AKCX" else "")
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
        err = HostError(self.name, reason)
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(err)
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(err)
        self._waiting.clear()
        if not self._closing and self._on_lost is not None:
            self._on_lost(self.name, reason)

    def _send(self, data: bytes) -> None:
        if self._proc is None or not self.alive:
            raise HostError(self.name, "the agent is not running")
        try:
            self._proc.stdin.write(data)
        except OSError as err:
            raise HostError(self.name, f"cannot reach the agent: {err}") from None

    async def drain(self) -> None:
        """Wait until what was sent has been handed to the host."""
        if self._proc is not None:
            try:
                await self._proc.stdin.drain()
            except (ConnectionError, OSError) as err:
                raise HostError(self.name, f"cannot reach the agent: {err}") from None

    def _paths(self, job: Job) -> paths.JobPaths:
        return paths.job_paths(job, local=self.local, default_pyenv=self.default_pyenv)

    def launch(self, job: Job, gpu: str | None = None) -> None:
        """Send the launch of ``job``'s current attempt (no wait for an answer:
        its events arrive through the callback)."""
        self._send(b"L\0" + _encode(launch_fields(job, self._paths(job), gpu)))

    def _request(self, kind: str, key: str, attempt: str, data: bytes) -> asyncio.Future[_Line]:
        """Send one request; the future its answer will resolve. The same
        question about one job's attempt already on its way (two parts of a
        run asking at once: a host's join and the periodic check) is not
        asked again: its answer serves both. A second request would replace
        the first's future, whose caller would then wait for ever."""
        ident = (kind, key, attempt)
        pending = self._waiting.get(ident)
        if pending is not None and not pending.done():
            return pending
        fut: asyncio.Future[_Line] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = fut
        self._send(data)
        return fut

    async def _answers(self, futures: list[asyncio.Future[_Line]]) -> list[_Line]:
        await self.drain()
        return list(await asyncio.gather(*futures))

    def _key(self) -> str:
        self._serial += 1
        return f"r{self._serial}"

    async def check(self, jobs: Sequence[Job]) -> dict[int, Liveness]:
        """Ask whether each job's process is alive and what its log says."""
        requests = []
        for j in jobs:
            where = self._paths(j)
            data = b"A\0" + _encode([j.id, j.attempts, j.pid, j.pstart, where.folder, j.log])
            requests.append(self._request("A", str(j.id), str(j.attempts), data))
        answers = await self._answers(requests)
        out = {}
        for job, line in zip(jobs, answers, strict=True):
            lines = tuple(x for x in line.fields[3].split("|") if x) if len(line.fields) > 3 else ()
            out[job.id] = Liveness(alive=line.fields[2] == "1", lines=lines)
        return out

    async def kill(self, jobs: Sequence[Job], grace: float = 5.0) -> dict[int, str]:
        """Kill each job's process group (TERM, then KILL after ``grace``)."""
        requests = []
        for j in jobs:
            fields = [j.id, j.attempts, j.pid, j.pstart, self._paths(j).folder, j.log, int(grace)]
            data = b"K\0" + _encode(fields)
            requests.append(self._request("K", str(j.id), str(j.attempts), data))
        answers = await self._answers(requests)
        return {j.id: a.fields[2] for j, a in zip(jobs, answers, strict=True)}

    async def fence(self, jobs: Sequence[Job]) -> dict[int, Fence]:
        """Fence each job's current attempt (agent op X, see wrapper.sh)."""
        requests = [
            self._request(
                "X",
                str(j.id),
                str(j.attempts),
                b"X\0" + _encode([j.id, j.attempts, self._paths(j).folder]),
            )
            for j in jobs
        ]
        out: dict[int, Fence] = {}
        for job, line in zip(jobs, await self._answers(requests), strict=True):
            result = line.fields[2:4]
            if result[:1] == ("fenced",):
                out[job.id] = Fence.FENCED
            elif result[:1] == ("taken",):
                out[job.id] = Fence.STARTED if result[1:] == ("1",) else Fence.GONE
            else:
                out[job.id] = Fence.UNKNOWN
        return out

    async def note_crash(self, jobs: Sequence[Job], reason: str) -> None:
        """Append ``crash ATTEMPT TIME REASON`` to each job's state log."""
        requests = [
            self._request(
                "C",
                str(j.id),
                str(j.attempts),
                b"C\0" + _encode([j.id, j.attempts, self._paths(j).log, reason]),
            )
            for j in jobs
        ]
        with contextlib.suppress(HostError):
            await self._answers(requests)

    async def remove(self, folders: Sequence[str]) -> dict[str, str]:
        """Remove folders on the host; ``ok`` or the error, per folder."""
        keys = [self._key() for _ in folders]
        answers = await self._answers(
            [
                self._request("D", k, "", b"D\0" + _encode([k, d]))
                for k, d in zip(keys, folders, strict=True)
            ]
        )
        return {d: a.fields[1] for d, a in zip(folders, answers, strict=True)}

    async def make_dirs(self, folders: Sequence[str]) -> None:
        """Create ``folders`` (and their parents) with one ``mkdir`` on
        the host; :class:`HostError` if it fails."""
        key = self._key()
        data = b"M\0" + _encode([key, len(folders), *folders])
        [answer] = await self._answers([self._request("M", key, "", data)])
        if answer.fields[1:2] != ("ok",):
            raise HostError(self.name, f"cannot make job directories: {answer.fields[1:]}")

    async def call(self, op: str, fields: Sequence[str | int | float | None]) -> tuple[str, ...]:
        """Run the extension operation ``op`` (the bash function
        ``meshq_op_OP`` of :attr:`extension`, which gets a key and
        ``fields`` as its arguments and answers with one ``Y KEY …`` line
        through ``meshq_notify``); the fields of its answer after the key.
        Fields travel as NUL-terminated data, never as shell text."""
        return (await self.calls([(op, fields)]))[0]

    async def calls(
        self, requests: Sequence[tuple[str, Sequence[str | int | float | None]]]
    ) -> list[tuple[str, ...]]:
        """Several :meth:`call` requests, sent together (one round trip)."""
        futures = []
        for op, fields in requests:
            key = self._key()
            data = op.encode() + b"\0" + _encode([key, len(fields), *fields])
            futures.append(self._request("Y", key, "", data))
        return [line.fields[1:] for line in await self._answers(futures)]

    async def read(self, path: str) -> bytes:
        if self.local:
            # this machine: no process to start for a file of ours (a bash
            # and a cat cost an Executor's loop more than the rest of a call);
            # in a thread, as a big log must not hold the loop up
            return await asyncio.to_thread(self._read_here, path)
        done = await self.transport.run(["bash", "--norc", "-c", _READ, "meshq-read", path])
        if done.returncode != 0:
            why = done.stderr.decode("utf-8", "replace").strip().splitlines()
            detail = why[-1] if why else f"exit status {done.returncode}"
            raise UnreadableFile(self.name, f"cannot read {path}: {detail.removeprefix('cat: ')}")
        return done.stdout

    def _read_here(self, path: str) -> bytes:
        """Read a file of this machine, failing as :data:`_READ` does."""
        where = str(Path(path).expanduser()) if path == "~" or path.startswith("~/") else path
        try:
            return Path(where).read_bytes()
        except OSError as err:
            why = err.strerror or type(err).__name__
            raise UnreadableFile(self.name, f"cannot read {path}: {where}: {why}") from None

    async def put(self, path: str, data: bytes) -> None:
        if self.local:
            # this machine: no process to start for a file of ours; in a
            # thread, so that an Executor's many puts overlap their disk waits
            try:
                await asyncio.to_thread(_write_whole, path, data)
            except OSError as err:
                raise HostError(self.name, f"cannot write {path}: {err.strerror}") from None
            return
        argv = ["bash", "--norc", "-c", _WRITE, "meshq-write", path]
        done = await self.transport.run(argv, input=data, timeout=120.0)
        if done.returncode != 0:
            why = done.stderr.decode("utf-8", "replace").strip().splitlines()
            detail = why[-1] if why else f"exit status {done.returncode}"
            raise HostError(self.name, f"cannot write {path}: {detail}")

    async def follow(self, path: str, pid: int) -> AsyncIterator[bytes]:
        argv = ["bash", "--norc", "-c", _FOLLOW, "meshq-follow", path, str(pid)]
        async for chunk in self.transport.stream(argv):
            yield chunk

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
        await self.transport.close()
