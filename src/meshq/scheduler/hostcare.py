"""Looking after a run's hosts: connecting, noticing a host that is down or
lost, reconnecting, probing again, and giving up on one gone too long.

A mixin of :class:`meshq.scheduler.engine.Runner`, which owns the state it
uses; kept apart because host failure is its own concern.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import Coroutine
from typing import Any

from meshq.errors import HostError, NotFound
from meshq.hosts.backend import HostBackend, JobEvent, Liveness
from meshq.hosts.registry import make_backend
from meshq.model import HostStatus, Job, Status
from meshq.scheduler.placement import HostState
from meshq.scheduler.reconcile import parse_log, verdict
from meshq.scheduler.run import Reporter, RunHost
from meshq.store.store import Change, Store

#: how many hosts are being connected to at once. A login costs this
#: machine a key exchange (milliseconds of CPU) and file descriptors: a
#: thousand at once would starve the run loop of the hosts already joined.
#: A hung login holds one place until its own timeout, so a few hung hosts
#: hold up no other
CONNECT_AT_ONCE = 64
#: file descriptors a connected host may take (socket, agent channel, …)
FILES_PER_HOST = 4


def enough_files(hosts: int) -> None:
    """Raise this process's soft limit of open files (often 1,024) towards
    its hard limit, so that ``hosts`` connections fit; best effort."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = FILES_PER_HOST * hosts + 256
    if soft == resource.RLIM_INFINITY or soft >= want:
        return
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


class HostCare:
    """Host connection and failure handling for a run."""

    store: Store
    reporter: Reporter
    hosts: dict[str, RunHost]
    host_lost_after: float
    reprobe_every: float
    _state: dict[str, HostState]
    _backends: dict[str, HostBackend]
    _down: dict[str, tuple[str, float]]
    _lost: dict[str, float]
    _tasks: dict[str, asyncio.Task[None]]
    _stopping: asyncio.Event
    #: job id -> the run's record of the job in flight (runnerpart.InFlight)
    _inflight: dict[int, Any]
    #: per host, jobs declared crashed while it could not be reached: their
    #: state logs get the crash line once it answers again
    _crash_notes: dict[str, list[tuple[Job, str]]]
    #: backends of lost hosts, closed when the host is reconnected
    _stale: dict[str, HostBackend]
    #: hosts whose first connection is still being made
    _joining: set[str]
    #: hosts that answered again and whose jobs are being settled
    _settling: set[str]
    #: bounds the logins under way (:data:`CONNECT_AT_ONCE`)
    _connecting: asyncio.Semaphore

    def _on_event(self, host: str, event: JobEvent) -> None:
        raise NotImplementedError

    async def _check(self, force: bool = False, only: str | None = None) -> None:
        raise NotImplementedError

    def _commit(self, changes: list[Change]) -> None:
        raise NotImplementedError

    def _watch(self, job: Job) -> None:
        """Watch ``job`` (running on one of our hosts) as one of this run's."""
        raise NotImplementedError

    def _wake(self) -> None:
        """Have the run's loop look again now."""
        raise NotImplementedError

    def _recount(self, job_id: int, status: Status) -> None:
        """Count ``job_id`` as ended ``status``, not as what this run counted."""
        raise NotImplementedError

    def _touch(self, host: str | None) -> None:
        """``host``'s usability or load changed: placement must know."""
        raise NotImplementedError

    def _connect_all(self) -> None:
        """Start connecting to every host at once; each joins the run when
        it is ready, so a slow or hung login holds up no other host
        (:data:`CONNECT_AT_ONCE` of them under way at a time)."""
        enough_files(len(self.hosts))
        for name in self.hosts:
            self._joining.add(name)
            self._background(name, self._join(name))

    async def _join(self, name: str) -> None:
        try:
            if await self._connect(name):
                # jobs adopted from a dead run: what has become of them there
                await self._check(force=True, only=name)
        finally:
            self._joining.discard(name)
            self._wake()

    async def _connect(self, name: str) -> bool:
        """Start the backend of ``name``; on failure the host is down."""
        host = self.hosts[name]
        maker = host.maker or make_backend
        backend = maker(host.target, self._on_event, self._on_lost)
        try:
            async with self._connecting:
                await backend.start()
        except HostError as err:
            await backend.close()
            self._mark_down(name, err.detail)
            return False
        self._backends[name] = backend
        self._state[name].usable = True
        self._touch(name)
        if name in self._down:
            del self._down[name]
            self.reporter.message(f"host {name} is back")
        if self.hosts[name].inventory:
            self.store.set_host_status(name, HostStatus.ACTIVE, probed=True)
        notes = self._crash_notes.pop(name, [])
        if notes:
            # the run lasts until this is done (see _worth_waiting): cut
            # short, an attempt that a retry superseded would run on unnoted
            self._settling.add(name)
            try:
                with contextlib.suppress(HostError):
                    await self._after_silence(name, backend, notes)
            finally:
                self._settling.discard(name)
        self._wake()
        return True

    async def _after_silence(
        self, name: str, backend: HostBackend, notes: list[tuple[Job, str]]
    ) -> None:
        """A host this run gave up on answers again: settle the jobs it
        declared crashed there. An attempt that has since been superseded (a
        retry elsewhere, a reset) is stopped if it still runs, and its history
        says that two attempts ran; one still current is watched again if it
        runs, or recorded as it ended; one that is gone gets its crash line."""
        jobs = [j for j, _ in notes]
        answers = await backend.check(jobs)
        changes: list[Change] = []
        superseded: list[Job] = []
        gone: dict[str, list[Job]] = {}
        for (job, reason), now in zip(notes, map(self._current, jobs), strict=True):
            live = answers[job.id]
            if now is None or now.attempts != job.attempts or now.status is not Status.CRASH:
                superseded.append(job)
                continue
            change = verdict(now, live)
            if change is None or change.new is Status.CRASH:
                if not any(line.startswith("crash ") for line in live.lines):
                    gone.setdefault(reason, []).append(job)
            elif change.new is Status.START:
                self._watch(now.evolve(**change.fields, status=Status.START))
                changes.append(change)
                self.reporter.message(f"{job.name} still runs on {name}: watched again")
            else:
                changes.append(change)
        self._commit(changes)
        for change in changes:
            if change.new is not Status.START:
                self._recount(change.job_id, change.new)
        for reason, lost in gone.items():
            await backend.note_crash(lost, reason)
        await self._stop_superseded(name, backend, superseded, answers)

    async def _stop_superseded(
        self,
        name: str,
        backend: HostBackend,
        jobs: list[Job],
        answers: dict[int, Liveness],
    ) -> None:
        running = [j for j in jobs if answers[j.id].alive]
        if running:
            await backend.kill(running)
        for job in jobs:
            if answers[job.id].alive:
                detail = (
                    f"attempt {job.attempts} was still running on {name} when the host "
                    "answered again, after a later attempt had started: stopped it"
                )
            else:
                facts = parse_log(answers[job.id].lines)
                if facts.exit_code is None:
                    continue
                detail = (
                    f"attempt {job.attempts} also ran to its end on {name} (exit "
                    f"{facts.exit_code}) while the host could not be reached"
                )
            self.store.note(job.id, detail, attempt=job.attempts, host=name)
            self.reporter.message(f"{job.name}: {detail}")

    def _current(self, job: Job) -> Job | None:
        try:
            return self.store.job_by_id(job.id)
        except NotFound:
            return None

    def _mark_down(self, name: str, error: str) -> None:
        if name not in self._down:
            self.reporter.message(f"host {name} is down: {error}")
        self._down[name] = (error, time.monotonic() + self.reprobe_every)
        self._state[name].usable = False
        self._touch(name)
        if self.hosts[name].inventory:
            self.store.set_host_status(name, HostStatus.DOWN, error, probed=True)

    def _on_lost(self, host: str, reason: str) -> None:
        lost = self._backends.pop(host, None)
        if lost is not None:
            self._stale[host] = lost
        if self._stopping.is_set() or host in self._lost:
            return
        self._lost[host] = time.monotonic()
        self._state[host].usable = False
        self._touch(host)
        self.reporter.message(
            f"lost host {host} ({reason}); its jobs run on, and are given "
            f"{self.host_lost_after:g} s to be heard from again"
        )

    def _look_after_hosts(self, now: float) -> None:
        """Reconnect lost hosts, give up on those lost too long, probe down ones."""
        if self._stopping.is_set():
            return
        for name, since in list(self._lost.items()):
            if now - since > self.host_lost_after:
                del self._lost[name]
                self._crash_jobs_on(
                    name, f"host {name} unreachable for over {self.host_lost_after:g} s"
                )
                self._mark_down(name, "connection lost")
            elif name not in self._tasks:
                self._background(name, self._reconnect(name))
        for name, (_, when) in list(self._down.items()):
            if now >= when and name not in self._tasks and name not in self._lost:
                self._down[name] = (self._down[name][0], now + self.reprobe_every)
                self._background(name, self._connect(name))

    def _background(self, name: str, work: Coroutine[Any, Any, object]) -> None:
        async def wrapped() -> None:
            try:
                await work
            finally:
                self._tasks.pop(name, None)

        self._tasks[name] = asyncio.create_task(wrapped())

    async def _reconnect(self, name: str) -> None:
        stale = self._stale.pop(name, None)
        if stale is not None:
            with contextlib.suppress(HostError, OSError):
                await stale.close()
        if await self._connect(name) and name in self._lost:
            del self._lost[name]
            self.reporter.message(f"host {name} answers again; checking its jobs")
            await self._check(force=True, only=name)

    def _crash_jobs_on(self, host: str, error: str) -> None:
        jobs = [f.job for f in self._inflight.values() if f.job.host == host]
        changes = [
            Change(j.id, Status.CRASH, {"error": error, "ended": time.time()}, error, j.attempts)
            for j in jobs
        ]
        self._commit(changes)
        self._crash_notes.setdefault(host, []).extend((j, error) for j in jobs)

    def _worth_waiting(self) -> bool:
        """Nothing runs and nothing could be placed: wait only if a host is
        still joining, a lost one may still come back with jobs to report,
        or one that answered again is still settling its jobs."""
        return bool(self._lost) or bool(self._joining) or bool(self._settling)
