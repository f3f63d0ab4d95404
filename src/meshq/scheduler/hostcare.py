"""Looking after a run's hosts: connecting, noticing a host that is down or
lost, reconnecting, probing again, and giving up on one gone too long.

A mixin of :class:`meshq.scheduler.engine.Runner`, which owns the state it
uses; kept apart because host failure is its own concern.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from typing import Any

from meshq.errors import HostError
from meshq.hosts.backend import HostBackend, JobEvent
from meshq.hosts.registry import make_backend
from meshq.model import HostStatus, Job, Status
from meshq.scheduler.placement import HostState
from meshq.scheduler.run import Reporter, RunHost
from meshq.store.store import Change, Store


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
    #: job id -> the run's record of the job in flight (engine._InFlight)
    _inflight: dict[int, Any]
    #: per host, jobs declared crashed while it could not be reached: their
    #: state logs get the crash line once it answers again
    _crash_notes: dict[str, list[tuple[Job, str]]]
    #: backends of lost hosts, closed when the host is reconnected
    _stale: dict[str, HostBackend]

    def _on_event(self, host: str, event: JobEvent) -> None:
        raise NotImplementedError

    async def _check(self, force: bool = False, only: str | None = None) -> None:
        raise NotImplementedError

    def _commit(self, changes: list[Change]) -> None:
        raise NotImplementedError

    async def _connect_all(self) -> None:
        await asyncio.gather(*(self._connect(name) for name in self.hosts))

    async def _connect(self, name: str) -> bool:
        """Start the agent on ``name``; on failure the host is down."""
        backend = make_backend(self.hosts[name].target, self._on_event, self._on_lost)
        try:
            await backend.start()
        except HostError as err:
            await backend.close()
            self._mark_down(name, err.detail)
            return False
        self._backends[name] = backend
        self._state[name].usable = True
        if name in self._down:
            del self._down[name]
            self.reporter.message(f"host {name} is back")
        if self.hosts[name].inventory:
            self.store.set_host_status(name, HostStatus.ACTIVE, probed=True)
        notes = self._crash_notes.pop(name, [])
        for reason in dict.fromkeys(r for _, r in notes):
            await backend.note_crash([j for j, r in notes if r == reason], reason)
        return True

    def _mark_down(self, name: str, error: str) -> None:
        if name not in self._down:
            self.reporter.message(f"host {name} is down: {error}")
        self._down[name] = (error, time.monotonic() + self.reprobe_every)
        self._state[name].usable = False
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
        """Nothing runs and nothing could be placed: wait only if a lost host
        may still come back with jobs to report."""
        return bool(self._lost)
