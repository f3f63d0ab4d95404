"""Operations on jobs that talk to their hosts (``meshq queue refresh /
kill / reset / delete / logs``): the part of :class:`meshq.service.Service`
that reads or changes what is on the hosts as well as in the store. Each
groups the jobs by host through :mod:`meshq.hostops` (imported on first
use), which talks to each host once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from meshq import paths
from meshq.attemptops import on_host
from meshq.errors import UsageError
from meshq.model import ACTIVE, Job, Status, reset_status
from meshq.servicepart import ServicePart
from meshq.store.store import Change

if TYPE_CHECKING:
    from meshq.attempts import AttemptRecord
    from meshq.hostops import Moved


class Control(ServicePart):
    """Refresh, kill, reset, delete and read the output of jobs; mixed into
    :class:`meshq.service.Service`."""

    if TYPE_CHECKING:
        # Attempts', beside which this class is mixed in: earlier attempts

        def attempts(self, job: Job) -> list[AttemptRecord]: ...
        async def _earlier_output(self, job: Job, attempt: int, stderr: bool) -> bytes: ...

    async def refresh(self, queue: str) -> list[Moved]:
        """Read the true state of the queue's running (and crashed) jobs from
        their hosts' job logs, and record it."""
        from meshq import hostops

        q = self.store.queue(queue)
        jobs = self.store.jobs(q, statuses=[*ACTIVE, Status.CRASH])
        return await hostops.refresh(self.store, jobs, self._target_for, self.warn)

    async def settle(self, queue: str) -> list[Job]:
        """Before a read: the queue's running jobs that no live run watches
        are refreshed when on this machine; those on other hosts, which only
        ``refresh`` may read, are returned (see :func:`hostops.settle`)."""
        from meshq import hostops

        q = self.store.queue(queue)
        # only the jobs of runs that are not alive: a queue that a run is
        # working through may have thousands running, all of them watched
        dead = [r for r in self.store.active_runs(q) if r is None or not self.store.run_alive(r)]
        if not dead:
            return []
        jobs = self.store.active_jobs(q, runs=dead)
        return await hostops.settle(self.store, jobs, self._target_for, self._is_local, self.warn)

    async def kill(
        self,
        queue: str,
        name: str | None = None,
        status: str | Iterable[Status | str] | None = None,
    ) -> list[Moved]:
        """Kill the selected jobs (:meth:`select`) that are running (their
        whole process groups)."""
        from meshq import hostops

        jobs = self.select(queue, name, status, acting=True)
        return await hostops.kill(self.store, jobs, self._target_for, self.warn)

    async def reset(
        self,
        queue: str,
        name: str | None = None,
        status: str | Iterable[Status | str] | None = None,
        *,
        purge: bool = False,
    ) -> list[Moved]:
        """Make jobs runnable again: kill them if running and set them ready
        (undefined when they have no host). Their files stay: the next
        attempt moves them into ``attempts/N/`` (see :mod:`meshq.paths`);
        ``purge`` removes the job folders, every attempt's files, on every
        host they ran on. With neither ``name`` nor ``status``: every job
        not in ``end``."""
        from meshq import hostops

        jobs = self.select(queue, name, status, acting=True)
        if name is None and status is None:
            jobs = [j for j in jobs if j.status is not Status.END]
        await hostops.kill(self.store, jobs, self._target_for, self.warn, detail="reset")
        if purge:
            await self._remove_dirs(
                [
                    on_host(j, h)
                    for j in jobs
                    for h in dict.fromkeys([j.host, *(r.host for r in self.attempts(j))])
                    if h is not None
                ]
            )
        changes = [_reset_change(job) for job in jobs]
        fresh = {j.id: self.store.job_by_id(j.id) for j in jobs}
        changes = [c for c in changes if fresh[c.job_id].status is not c.new]
        applied = self.store.apply(changes)
        return [
            hostops.Moved(fresh[c.job_id].name, fresh[c.job_id].status, c.new)
            for c, ok in zip(changes, applied, strict=True)
            if ok
        ]

    async def delete(
        self,
        queue: str,
        name: str | None = None,
        status: str | Iterable[Status | str] | None = None,
    ) -> int:
        """Delete the selected jobs (:meth:`select`; neither ``name`` nor
        ``status``: the whole queue), killing those that run and removing
        their directories on their hosts."""
        from meshq import hostops

        q = self.store.queue(queue)
        whole = name is None and status is None
        jobs = self.select(queue, name, status, acting=True)
        await hostops.kill(self.store, jobs, self._target_for, self.warn, detail="deleted")
        if whole:
            ran = [j for j in jobs if j.host and j.attempts]
            folders = {
                where: [paths.queue_folder(q, local=self._is_local(where.name))]
                for where in hostops.by_target(ran, self._target_for)
            }
            await hostops.remove(folders, self.warn)
            self.store.delete_queue(q)
            return len(jobs)
        await self._remove_dirs(jobs)
        return self.store.delete_jobs(jobs)

    async def _remove_dirs(self, jobs: Sequence[Job]) -> None:
        from meshq import hostops

        ran = [j for j in jobs if j.host and j.attempts]
        folders = {
            where: [f.folder for j in group if (f := self.files(j)) is not None]
            for where, group in hostops.by_target(ran, self._target_for).items()
        }
        if folders:
            await hostops.remove(folders, self.warn)

    async def logs(
        self,
        queue: str,
        name: str,
        *,
        stderr: bool = False,
        follow: bool = False,
        poll: float = 0.2,
        attempt: int | None = None,
    ) -> AsyncIterator[bytes]:
        """The job's stdout (or stderr) as bytes; with ``follow``, new output
        as it is written, until the job ends. ``attempt``: that attempt's
        (an earlier one's files are kept, see :mod:`meshq.paths`). A file
        that cannot be read is a :class:`HostError` saying which, where and
        why: nothing comes back only when the job really wrote nothing."""
        import asyncio

        from meshq.hosts.registry import make_backend

        job = self.job(queue, name)
        if attempt is not None and attempt != job.attempts:
            yield await self._earlier_output(job, attempt, stderr)
            return
        if follow:
            while job.status in (Status.READY, Status.UNDEFINED, Status.RUN) and job.pid is None:
                await asyncio.sleep(poll)
                job = self.store.job_by_id(job.id)
        where = self.files(job)
        if where is None or job.attempts == 0:
            raise UsageError(f"job {name!r} has not run yet: it has no output")
        if job.status is Status.RUN and job.pid is None:
            raise UsageError(f"job {name!r} has not started yet: it has no output")
        path = where.stderr if stderr else where.stdout
        backend = make_backend(self._target_for(job))
        try:
            if follow and job.status in ACTIVE and job.pid is not None:
                async for chunk in backend.follow(path, job.pid):
                    yield chunk
                return
            yield await backend.read(path)
        finally:
            await backend.close()


def _reset_change(job: Job) -> Change:
    """Back to waiting: a host the scheduler chose, and GPUs it picked, are
    forgotten; a host the user pinned is kept."""
    fields: dict[str, Any] = {"gpu": None} if job.gpus else {}
    if job.placed:
        fields |= {"host": None, "placed": 0}
    return Change(job.id, reset_status(job.host, job.placed), fields, "reset")
