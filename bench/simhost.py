"""Simulated hosts, for measuring the manager alone (benchmark only).

A :class:`SimBackend` is a :class:`~meshq.hosts.backend.HostBackend` whose
host forks nothing and writes no file: a launch is answered with
``Started`` after ``latency`` seconds and ``Ended`` ``duration`` seconds
later, through the same event sink a real agent uses; ``check``, ``kill``,
``fence`` and ``note_crash`` answer from what it launched, in the state-log
lines the wrapper writes (``start A PID PSTART TIME``, ``end A CODE TIME``),
so the scheduler's reconciling code reads them as it reads a real host's.

It is never offered to users: there is no :class:`~meshq.model.HostKind`
for it. A benchmark builds its :class:`~meshq.scheduler.run.RunHost`
entries with ``maker=SimHosts(...).maker`` and drives a ``Runner`` itself.

Its own cost is kept small on purpose, since it runs in the manager's
process and counts in its CPU: every host shares one :class:`SimHosts`
clock, which keeps the pending starts in a FIFO deque (the latency is the
same for every job, so their due times come in order) and the pending ends
in a heap, and wakes once per due batch instead of arming a timer per event.

A job runs ``duration`` × 0.5 … 1.5, spread by its id (the same for the
same id): ends arrive as real jobs' do, a few at a time, not all the jobs
of one launch round in the same instant.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from meshq.errors import HostError
from meshq.hosts.backend import (
    Ended,
    EventSink,
    Fence,
    HostBackend,
    JobEvent,
    Liveness,
    LostSink,
    Started,
)
from meshq.hosts.registry import Target
from meshq.model import Identity, Job, Status

#: how many ended attempts each host remembers for ``check``. A run asks
#: only about jobs in flight, whose end it has not recorded yet: at the
#: 5-6 jobs a second a host ends in the million-job run, 128 is over 20 s
#: of them. A real host keeps its jobs' records on the host; this is the
#: benchmark's own memory in the manager's process, and was 4,096 a host:
#: all 1,000,000 attempts kept, a third of the run's peak RSS and, through
#: the garbage collector's passes over them, most of its per-job CPU growth
REMEMBER_ENDED = 128


@dataclass(slots=True)
class _Attempt:
    attempt: int
    pid: int
    started: float | None = None
    code: int | None = None
    ended: float | None = None
    killed: bool = False
    fenced: bool = False
    note: str | None = None

    def lines(self) -> tuple[str, ...]:
        out: list[str] = []
        if self.started is not None:
            out.append(f"start {self.attempt} {self.pid} sim {self.started:.6f}")
        if self.killed:
            out.append(f"kill {self.attempt}")
        if self.code is not None and self.ended is not None:
            out.append(f"end {self.attempt} {self.code} {self.ended:.6f}")
        if self.note is not None:
            out.append(f"crash {self.attempt} {self.note}")
        return tuple(out)


class SimHosts:
    """The clock every simulated host of one run shares, and their maker.

    ``latency``: seconds from a launch to its ``Started`` (a network round
    trip); ``duration``: seconds a job "runs"; ``fail_every``: every n-th
    job id exits 1 (0: none), so a queue has failures to list.
    """

    def __init__(self, *, latency: float = 0.001, duration: float = 1.0, fail_every: int = 0):
        self.latency = latency
        self.duration = duration
        self.fail_every = fail_every
        #: (due, backend, job id, attempt), in due order
        self._starts: deque[tuple[float, SimBackend, int, int]] = deque()
        self._ends: list[tuple[float, int, int, SimBackend]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._next_pid = 1000

    def maker(self, where: Target, on_event: EventSink, on_lost: LostSink | None) -> HostBackend:
        """A new simulated backend for ``where`` (a ``RunHost.maker``)."""
        return SimBackend(where.name, on_event, self)

    def pid(self) -> int:
        self._next_pid += 1
        return self._next_pid

    def launched(self, backend: SimBackend, job_id: int, attempt: int) -> None:
        self._starts.append((time.monotonic() + self.latency, backend, job_id, attempt))
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            return
        heads = [
            t
            for t in (
                self._starts[0][0] if self._starts else None,
                self._ends[0][0] if self._ends else None,
            )
            if t is not None
        ]
        if heads:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(
                loop.time() + max(min(heads) - time.monotonic(), 0), self._fire
            )

    def _fire(self) -> None:
        self._timer = None
        now = time.monotonic()
        wall = time.time()
        while self._starts and self._starts[0][0] <= now:
            _, backend, job_id, attempt = self._starts.popleft()
            if backend.started(job_id, attempt, wall):
                spread = 0.5 + (job_id * 2654435761 % 1000) / 1000
                heapq.heappush(self._ends, (now + self.duration * spread, job_id, attempt, backend))
        while self._ends and self._ends[0][0] <= now:
            _, job_id, attempt, backend = heapq.heappop(self._ends)
            code = 1 if self.fail_every and job_id % self.fail_every == 0 else 0
            backend.ended(job_id, attempt, code, wall)
        self._arm()


class SimBackend:
    """One simulated host (see the module's doc): it answers at once."""

    local = False

    def __init__(self, name: str, on_event: EventSink, hosts: SimHosts) -> None:
        self.name = name
        self._on_event = on_event
        self._hosts = hosts
        self._jobs: dict[int, _Attempt] = {}
        self._ended: OrderedDict[int, None] = OrderedDict()
        self._open = False

    @property
    def identity(self) -> Identity | None:
        return (
            Identity(user="sim", address=self.name, port=None, home="/sim") if self._open else None
        )

    async def start(self) -> None:
        await asyncio.sleep(self._hosts.latency)
        self._open = True

    async def close(self) -> None:
        self._open = False

    def launch(self, job: Job, gpu: str | None = None) -> None:
        if not self._open:
            raise HostError(self.name, "not connected")
        known = self._jobs.get(job.id)
        if known is not None and known.attempt == job.attempts and known.fenced:
            return  # fenced: this attempt never starts (as the wrapper does)
        self._jobs[job.id] = _Attempt(job.attempts, self._hosts.pid())
        self._hosts.launched(self, job.id, job.attempts)

    def started(self, job_id: int, attempt: int, wall: float) -> bool:
        """The clock says ``attempt`` starts now; whether it did."""
        a = self._jobs.get(job_id)
        if a is None or a.attempt != attempt or a.fenced or a.killed:
            return False
        a.started = wall
        self._tell(Started(job_id, attempt, a.pid, "sim", wall))
        return True

    def ended(self, job_id: int, attempt: int, code: int, wall: float) -> None:
        """The clock says ``attempt`` exits with ``code`` now."""
        a = self._jobs.get(job_id)
        if a is None or a.attempt != attempt or a.code is not None:
            return
        a.code, a.ended = code, wall
        self._forget_later(job_id)
        status = Status.END if code == 0 else Status.FAIL
        self._tell(Ended(job_id, attempt, status, code, None, wall))

    def _tell(self, event: JobEvent) -> None:
        self._on_event(self.name, event)

    def _forget_later(self, job_id: int) -> None:
        self._ended[job_id] = None
        while len(self._ended) > REMEMBER_ENDED:
            old, _ = self._ended.popitem(last=False)
            self._jobs.pop(old, None)

    async def drain(self) -> None:
        return None

    def _mine(self, job: Job) -> _Attempt | None:
        a = self._jobs.get(job.id)
        return a if a is not None and a.attempt == job.attempts else None

    async def check(self, jobs: Sequence[Job]) -> dict[int, Liveness]:
        out: dict[int, Liveness] = {}
        for job in jobs:
            a = self._mine(job)
            if a is None:
                out[job.id] = Liveness(False, ())
            else:
                alive = a.started is not None and a.code is None
                out[job.id] = Liveness(alive, a.lines())
        return out

    async def kill(self, jobs: Sequence[Job], grace: float = 5.0) -> dict[int, str]:
        out: dict[int, str] = {}
        wall = time.time()
        for job in jobs:
            a = self._mine(job)
            if a is None or a.code is not None or a.started is None:
                out[job.id] = "gone"
                continue
            a.killed, a.code, a.ended = True, 143, wall
            self._forget_later(job.id)
            self._tell(Ended(job.id, a.attempt, Status.KILL, 143, 15, wall))
            out[job.id] = "killed"
        return out

    async def fence(self, jobs: Sequence[Job]) -> dict[int, Fence]:
        out: dict[int, Fence] = {}
        for job in jobs:
            a = self._mine(job)
            if a is None:
                self._jobs[job.id] = _Attempt(job.attempts, 0, fenced=True)
                out[job.id] = Fence.FENCED
            elif a.fenced:
                out[job.id] = Fence.FENCED
            elif a.started is None:  # still on its way: fenced before it starts
                a.fenced = True
                out[job.id] = Fence.FENCED
            else:
                out[job.id] = Fence.STARTED if a.code is None else Fence.GONE
        return out

    async def note_crash(self, jobs: Sequence[Job], reason: str) -> None:
        for job in jobs:
            a = self._mine(job)
            if a is not None:
                a.note = reason

    async def remove(self, folders: Sequence[str]) -> dict[str, str]:
        return dict.fromkeys(folders, "ok")

    async def make_dirs(self, folders: Sequence[str]) -> None:
        return None

    async def read(self, path: str) -> bytes:
        raise HostError(self.name, f"{path}: a simulated host keeps no files")

    async def follow(self, path: str, pid: int) -> AsyncIterator[bytes]:
        raise HostError(self.name, f"{path}: a simulated host keeps no files")
        yield b""  # pragma: no cover - makes this an async generator
