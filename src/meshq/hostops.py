"""Operations on jobs that need their hosts: refresh, kill, remove.

Each groups the jobs by host and talks to each host once, through one
agent, whatever the number of jobs there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from meshq.errors import HostError
from meshq.hosts.agent import HostAgent, Liveness
from meshq.hosts.base import Transport
from meshq.model import ACTIVE, Job, Status
from meshq.scheduler.reconcile import verdict
from meshq.store.store import Change, Store

#: how long launches a dead run left in its agent's input take to show (s)
SETTLE = 2.0

TransportFor = Callable[[str], Transport]


@dataclass(frozen=True, slots=True)
class Moved:
    """A job whose state an operation changed."""

    name: str
    old: Status
    new: Status


def _ignore(host: str, line: object) -> None:
    return None


@asynccontextmanager
async def agents(
    hosts: set[str], transport_for: TransportFor
) -> AsyncIterator[dict[str, HostAgent | HostError]]:
    """Agents on ``hosts``, started side by side; a host that cannot be
    reached maps to its :class:`HostError`."""
    started: dict[str, HostAgent | HostError] = {}

    async def start(name: str) -> None:
        try:
            agent = HostAgent(transport_for(name), _ignore)
            await agent.start()
            started[name] = agent
        except HostError as err:
            started[name] = err

    await asyncio.gather(*(start(h) for h in sorted(hosts)))
    try:
        yield started
    finally:
        await asyncio.gather(*(a.close() for a in started.values() if isinstance(a, HostAgent)))


def _by_host(jobs: Sequence[Job]) -> dict[str, list[Job]]:
    out: dict[str, list[Job]] = {}
    for job in jobs:
        if job.host is not None:
            out.setdefault(job.host, []).append(job)
    return out


def _moves(store: Store, jobs: dict[int, Job], changes: list[Change]) -> list[Moved]:
    """Apply ``changes``, then report each job whose state is now other than
    it was: a run of the queue may have recorded the same news first."""
    store.apply(changes)
    moved = []
    for change in changes:
        before = jobs[change.job_id]
        now = store.job_by_id(change.job_id).status
        if now is not before.status:
            moved.append(Moved(before.name, before.status, now))
    return moved


async def refresh(
    store: Store, jobs: Sequence[Job], transport_for: TransportFor, warn: Callable[[str], None]
) -> list[Moved]:
    """Bring ``jobs`` (those in run, start or crash) in line with what their
    hosts' job logs and processes say; a job claimed but never launched goes
    back to ready."""
    groups = _by_host(jobs)
    changes: list[Change] = []
    async with agents(set(groups), transport_for) as live:
        for host, host_jobs in groups.items():
            agent = live[host]
            if isinstance(agent, HostError):
                warn(f"cannot refresh {len(host_jobs)} job(s) on {host}: {agent.detail}")
                continue
            answers = await agent.check(host_jobs)
            unlaunched = [j for j in host_jobs if _never_launched(store, j, answers[j.id])]
            if unlaunched:
                # a run killed a moment ago may have left launches in its
                # agent's input, which that agent still carries out: look again
                await asyncio.sleep(SETTLE)
                answers.update(await agent.check(unlaunched))
            for job in host_jobs:
                change = verdict(job, answers[job.id])
                if change is None and _never_launched(store, job, answers[job.id]):
                    change = Change(
                        job.id, Status.READY, {}, "never started: back to ready", job.attempts
                    )
                if change is not None:
                    changes.append(change)
    return _moves(store, {j.id: j for j in jobs}, changes)


def _never_launched(store: Store, job: Job, live: Liveness) -> bool:
    """A job claimed by a run that is gone, without a trace on its host: that
    run died between the claim and the launch."""
    if job.status is not Status.RUN or live.lines:
        return False
    return not store.run_alive(job.run_id)


async def kill(
    store: Store,
    jobs: Sequence[Job],
    transport_for: TransportFor,
    warn: Callable[[str], None],
    *,
    detail: str = "killed on request",
    grace: float = 5.0,
) -> list[Moved]:
    """Kill the running ones among ``jobs`` (their whole process groups)
    and record them as ``kill``; a job that turns out to have ended is
    recorded as it ended."""
    running = [j for j in jobs if j.status in ACTIVE]
    groups = _by_host(running)
    changes: list[Change] = []
    async with agents(set(groups), transport_for) as live:
        for host, host_jobs in groups.items():
            agent = live[host]
            if isinstance(agent, HostError):
                warn(f"cannot kill {len(host_jobs)} job(s) on {host}: {agent.detail}")
                continue
            # a job still recorded as run may have started: the agent finds
            # its pid in the job log
            await agent.kill(host_jobs, grace)
            answers = await agent.check(host_jobs)
            for job in host_jobs:
                change = verdict(job, answers[job.id])
                if change is None or change.new in ACTIVE:
                    # not started yet, or did not die: record the request
                    change = Change(
                        job.id, Status.KILL, {"ended": time.time()}, detail, job.attempts
                    )
                changes.append(change)
    return _moves(store, {j.id: j for j in jobs}, changes)


async def remove(
    directories: dict[str, list[str]], transport_for: TransportFor, warn: Callable[[str], None]
) -> None:
    """Remove folders, given per host."""
    async with agents(set(directories), transport_for) as live:
        for host, dirs in directories.items():
            agent = live[host]
            if isinstance(agent, HostError):
                warn(f"cannot remove {len(dirs)} folder(s) on {host}: {agent.detail}")
                continue
            for folder, result in (await agent.remove(dirs)).items():
                if result != "ok":
                    warn(f"{host}: cannot remove {folder}: {result}")
