"""Operations on jobs that need their hosts: refresh, kill, remove.

Each groups the jobs by host and talks to each host once, through one
agent, whatever the number of jobs there.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from meshq.errors import HostError, UsageError
from meshq.hosts.backend import HostBackend, Liveness
from meshq.hosts.registry import Target, make_backend
from meshq.model import ACTIVE, Job, Status, killable
from meshq.paths import JobPaths
from meshq.scheduler.fencing import fence_unseen
from meshq.scheduler.reconcile import verdict
from meshq.store.store import Change, Store

#: how to reach the host a job ran on, as its record says (see service.Service)
TargetFor = Callable[[Job], Target]


@dataclass(frozen=True, slots=True)
class Moved:
    """A job whose state an operation changed."""

    name: str
    old: Status
    new: Status


@asynccontextmanager
async def backends(
    targets: Sequence[Target],
) -> AsyncIterator[dict[Target, HostBackend | HostError]]:
    """Backends for ``targets``, started side by side; a host that cannot be
    reached maps to its :class:`HostError`."""
    started: dict[Target, HostBackend | HostError] = {}

    async def start(where: Target) -> None:
        backend = make_backend(where)
        try:
            await backend.start()
            started[where] = backend
        except HostError as err:
            await backend.close()
            started[where] = err

    await asyncio.gather(*(start(t) for t in dict.fromkeys(targets)))
    try:
        yield started
    finally:
        await asyncio.gather(
            *(b.close() for b in started.values() if not isinstance(b, HostError)),
            return_exceptions=True,
        )


def by_target(jobs: Sequence[Job], target_for: TargetFor) -> dict[Target, list[Job]]:
    """``jobs`` that have a host, grouped by how to reach it: two attempts
    that ran there as two users are reached as each."""
    out: dict[Target, list[Job]] = {}
    for job in jobs:
        if job.host is not None:
            out.setdefault(target_for(job), []).append(job)
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
    store: Store, jobs: Sequence[Job], target_for: TargetFor, warn: Callable[[str], None]
) -> list[Moved]:
    """Bring ``jobs`` (those in run, start or crash) in line with what their
    hosts' job logs and processes say; a job claimed but never launched goes
    back to ready."""
    groups = by_target(jobs, target_for)
    changes: list[Change] = []
    async with backends(list(groups)) as live:
        for where, host_jobs in groups.items():
            agent = live[where]
            if isinstance(agent, HostError):
                warn(f"cannot refresh {len(host_jobs)} job(s) on {where.name}: {agent.detail}")
                continue
            answers = await agent.check(host_jobs)
            unseen: list[Job] = []
            for job in host_jobs:
                change = verdict(job, answers[job.id])
                if change is not None:
                    changes.append(change)
                elif _never_launched(store, job, answers[job.id]):
                    unseen.append(job)
            if unseen:
                # a run killed a moment ago may have left launches in its
                # agent's input, which that agent may still carry out: fence
                changes += await fence_unseen(agent, unseen)
            was = {j.id: j.status for j in host_jobs}
            crashed = [
                j
                for j in host_jobs
                if any(c.job_id == j.id and c.new is Status.CRASH for c in changes)
                and was[j.id] is not Status.CRASH
            ]
            if crashed:
                await agent.note_crash(crashed, "the process is gone (found by refresh)")
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
    target_for: TargetFor,
    warn: Callable[[str], None],
    *,
    detail: str = "killed on request",
    grace: float = 5.0,
) -> list[Moved]:
    """Kill the running ones among ``jobs`` (their whole process groups)
    and record them as ``kill``; a job that turns out to have ended is
    recorded as it ended."""
    running = [j for j in jobs if killable(j.status)]
    groups = by_target(running, target_for)
    changes: list[Change] = []
    async with backends(list(groups)) as live:
        for where, host_jobs in groups.items():
            agent = live[where]
            if isinstance(agent, HostError):
                warn(f"cannot kill {len(host_jobs)} job(s) on {where.name}: {agent.detail}")
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


async def remove(folders: dict[Target, list[str]], warn: Callable[[str], None]) -> None:
    """Remove folders (as each host sees them), given per host."""
    async with backends(list(folders)) as live:
        for where, dirs in folders.items():
            agent = live[where]
            if isinstance(agent, HostError):
                warn(f"cannot remove {len(dirs)} folder(s) on {where.name}: {agent.detail}")
                continue
            for folder, result in (await agent.remove(dirs)).items():
                if result != "ok":
                    warn(f"{where.name}: cannot remove {folder}: {result}")


async def read_attempt(
    where: Target, attempt: int, kept: JobPaths, now: JobPaths, stderr: bool
) -> bytes:
    """The stdout (or stderr) of an earlier attempt, on the host it ran on:
    in its ``attempts/N/`` folder (``kept``) once a later attempt moved it
    there, else where the latest files are (``now``), if the log there is
    that attempt's (its first line names it). :class:`UsageError` when
    neither has it (removed by ``reset --purge``, say)."""
    backend = make_backend(where)
    try:
        with contextlib.suppress(HostError):
            return await backend.read(kept.stderr if stderr else kept.stdout)
        with contextlib.suppress(HostError):
            first = (await backend.read(now.log)).split(b"\n", 1)[0].split()
            if len(first) > 1 and first[1] == str(attempt).encode():
                return await backend.read(now.stderr if stderr else now.stdout)
    finally:
        await backend.close()
    raise UsageError(
        f"the files of attempt {attempt} are gone from {where.name} (removed by "
        f"'reset --purge', or by hand): looked in {kept.folder} and {now.folder}"
    )


async def settle(
    store: Store,
    jobs: Sequence[Job],
    target_for: TargetFor,
    is_local: Callable[[str], bool],
    warn: Callable[[str], None],
) -> list[Job]:
    """What a read of a queue does first, so that it never shows an old
    state silently: of ``jobs`` (in ``run``/``start``, and watched by no
    live run: the caller picks them, see ``Control.settle``), those that
    started on this machine are read again from their job logs and
    processes (cheap: no login), as ``meshq queue refresh`` does. The others
    are returned, for the reader to mark: those on other hosts, and those in
    ``run`` (claimed, never heard of: settling them means fencing their
    launch on the host, which is refresh's to do, not a read's)."""
    here = [j for j in jobs if j.status is Status.START and j.host is not None and is_local(j.host)]
    if here:
        await refresh(store, here, target_for, warn)
    read = {j.id for j in here}
    return [j for j in jobs if j.id not in read]
