"""The Python API: every queue operation meshq offers, the ones the CLI
and the REST service call.

Operations that only read or write the store are plain methods; those that
talk to hosts (run, kill, reset, delete, refresh, logs) are coroutines::

    import asyncio
    from meshq import Meshq

    mq = Meshq()                      # the default store; Meshq(db=...) for another
    mq.create_queue("sweep")
    mq.add("sweep", "job[1-10]", "python train.py --seed=$MESHQ_INDEX", host="localhost")
    result = asyncio.run(mq.run_fifo("sweep", max_parallel=4))
    print(result.finished, mq.counts("sweep"))
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from meshq import hostops, names, validate
from meshq.errors import NotFound, UsageError
from meshq.hostops import Moved
from meshq.hosts.base import Transport
from meshq.hosts.registry import transport_for
from meshq.model import ACTIVE, FINISHED, LOCALHOST, Event, Job, Queue, Status
from meshq.scheduler.engine import Reporter, RunHost, Runner, RunResult, stop_on_signals
from meshq.store.store import Change, Store

DEFAULT_EXPERIMENT = "./experiment"


@dataclass(frozen=True, slots=True)
class QueueSummary:
    """A queue and how many of its jobs are in each state."""

    queue: Queue
    counts: dict[Status, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _warn(text: str) -> None:
    print(f"meshq: warning: {text}", file=sys.stderr)


class Meshq:
    """A handle on one meshq store and the hosts its jobs run on."""

    def __init__(self, db: str | Path | None = None, warn: Callable[[str], None] = _warn) -> None:
        self.store = Store(db)
        self.warn = warn

    def close(self) -> None:
        self.store.close()

    def _transport(self, host: str) -> Transport:
        return transport_for(self.store, host)

    # -- queues ---------------------------------------------------------------

    def create_queue(self, name: str, experiment: str = DEFAULT_EXPERIMENT) -> Queue:
        """Create an empty queue whose jobs live under ``experiment``
        (stored as an absolute path)."""
        names.check_name(name, "queue name")
        return self.store.create_queue(name, validate.experiment_path(experiment))

    def queue(self, name: str) -> Queue:
        return self.store.queue(name)

    def queues(self) -> list[QueueSummary]:
        """Every queue with its counts per state."""
        return [QueueSummary(q, c) for q, c in self.store.queues()]

    # -- jobs -----------------------------------------------------------------

    def add(self, queue: str, name: str, command: str, **fields: str | float | None) -> list[str]:
        """Add the jobs that the pattern ``name`` expands to, in one
        transaction; returns their names. ``fields`` are those of
        :func:`meshq.validate.job_spec` (shell, directory, gpu, host, …)."""
        q = self.store.queue(queue)
        spec, first = validate.job_spec(command_text=command, **fields)  # type: ignore[arg-type]
        expanded = names.expand(name)
        self.store.add_jobs(q, expanded, spec, first)
        return [e.name for e in expanded]

    def jobs(
        self, queue: str, *, status: Iterable[Status | str] | None = None, name: str | None = None
    ) -> list[Job]:
        """Jobs of ``queue`` in queue order. ``name`` is a pattern
        (``job[1-5]``), a glob (``job*``) or a part of a name."""
        q = self.store.queue(queue)
        statuses = (
            None
            if status is None
            else [s if isinstance(s, Status) else Status.parse(s) for s in status]
        )
        if name is not None and ("[" in name or "," in name):
            wanted = [e.name for e in names.expand(name)]
            return self.store.jobs(q, statuses=statuses, names=wanted)
        return self.store.jobs(q, statuses=statuses, name_filter=name)

    def job(self, queue: str, name: str) -> Job:
        return self.store.job(self.store.queue(queue), name)

    def history(self, queue: str, name: str) -> list[Event]:
        """The job's state changes, oldest first."""
        return self.store.events(self.job(queue, name))

    def counts(self, queue: str) -> dict[Status, int]:
        return self.store.counts(self.store.queue(queue))

    def by_status(self, queue: str) -> dict[Status, list[str]]:
        """Job names grouped by state, in queue order."""
        return self.store.names_by_status(self.store.queue(queue))

    def select(
        self, queue: str, name: str | None = None, status: str | Status | None = None
    ) -> list[Job]:
        """The jobs a kill/reset/delete names: every name of the pattern must
        exist (a typo is an error, not a no-op)."""
        q = self.store.queue(queue)
        statuses = (
            None
            if status is None
            else [status if isinstance(status, Status) else Status.parse(status)]
        )
        if name is None:
            return self.store.jobs(q, statuses=statuses)
        wanted = [e.name for e in names.expand(name)]
        found = self.store.jobs(q, names=wanted)
        missing = sorted(set(wanted) - {j.name for j in found})
        if missing:
            raise NotFound(
                f"queue {queue!r} has no job {names.collapse(missing)}: see "
                f"'meshq queue list {queue}'"
            )
        if statuses is not None:
            found = [j for j in found if j.status in statuses]
        return found

    # -- running --------------------------------------------------------------

    async def run_fifo(
        self,
        queue: str,
        max_parallel: int,
        *,
        reporter: Reporter | None = None,
        handle_signals: bool = False,
        check_interval: float = 5.0,
    ) -> RunResult:
        """Run the queue's ready jobs in order, each on the host it is pinned
        to, at most ``max_parallel`` at once. Jobs with no host are skipped."""
        if max_parallel < 1:
            raise UsageError(f"--max_parallel must be 1 or more, not {max_parallel}")
        q = self.store.queue(queue)
        pinned = {j.host for j in self.store.jobs(q, statuses=[Status.READY, *ACTIVE])}
        hosts = [
            RunHost(h, self._transport(h), max_parallel) for h in sorted(x for x in pinned if x)
        ]
        runner = Runner(
            self.store,
            q,
            hosts,
            mode="fifo",
            max_parallel=max_parallel,
            reporter=reporter,
            check_interval=check_interval,
        )
        if handle_signals:
            stop_on_signals(runner, self.warn)
        return await runner.run()

    # -- operations on hosts --------------------------------------------------

    async def refresh(self, queue: str) -> list[Moved]:
        """Read the true state of the queue's running (and crashed) jobs from
        their hosts' job logs, and record it."""
        q = self.store.queue(queue)
        jobs = self.store.jobs(q, statuses=[*ACTIVE, Status.CRASH])
        return await hostops.refresh(self.store, jobs, self._transport, self.warn)

    async def kill(self, queue: str, name: str) -> list[Moved]:
        """Kill the named jobs that are running (their whole process groups)."""
        jobs = self.select(queue, name)
        return await hostops.kill(self.store, jobs, self._transport, self.warn)

    async def reset(
        self, queue: str, name: str | None = None, status: str | Status | None = None
    ) -> list[Moved]:
        """Make jobs runnable again: kill them if running, remove their job
        directories, and set them ready (undefined when they have no host).
        With neither ``name`` nor ``status``: every job not in ``end``."""
        jobs = self.select(queue, name, status)
        if name is None and status is None:
            jobs = [j for j in jobs if j.status is not Status.END]
        await hostops.kill(self.store, jobs, self._transport, self.warn, detail="reset")
        await self._remove_dirs(jobs)
        changes = [
            Change(job.id, Status.READY if job.host else Status.UNDEFINED, {}, "reset")
            for job in jobs
        ]
        fresh = {j.id: self.store.job_by_id(j.id) for j in jobs}
        changes = [c for c in changes if fresh[c.job_id].status is not c.new]
        applied = self.store.apply(changes)
        return [
            Moved(fresh[c.job_id].name, fresh[c.job_id].status, c.new)
            for c, ok in zip(changes, applied, strict=True)
            if ok
        ]

    async def delete(self, queue: str, name: str | None = None) -> int:
        """Delete the named jobs (no name: the whole queue), killing those
        that run and removing their directories on their hosts."""
        q = self.store.queue(queue)
        jobs = self.select(queue, name) if name is not None else self.store.jobs(q)
        await hostops.kill(self.store, jobs, self._transport, self.warn, detail="deleted")
        if name is None:
            hosts = {j.host for j in jobs if j.host and j.attempts}
            await hostops.remove(
                {h: [f"{q.experiment}/{q.name}"] for h in hosts}, self._transport, self.warn
            )
            self.store.delete_queue(q)
            return len(jobs)
        await self._remove_dirs(jobs)
        return self.store.delete_jobs(jobs)

    async def _remove_dirs(self, jobs: Iterable[Job]) -> None:
        dirs: dict[str, list[str]] = {}
        for job in jobs:
            if job.host and job.attempts:
                dirs.setdefault(job.host, []).append(job.job_dir)
        if dirs:
            await hostops.remove(dirs, self._transport, self.warn)

    async def logs(
        self,
        queue: str,
        name: str,
        *,
        stderr: bool = False,
        follow: bool = False,
        poll: float = 0.2,
    ) -> AsyncIterator[bytes]:
        """The job's stdout (or stderr) as bytes; with ``follow``, new output
        as it is written, until the job ends."""
        job = self.job(queue, name)
        if follow:
            while job.status in (Status.READY, Status.UNDEFINED, Status.RUN) and job.pid is None:
                await asyncio.sleep(poll)
                job = self.store.job_by_id(job.id)
        if job.host is None or job.attempts == 0:
            raise UsageError(f"job {name!r} has not run yet: it has no output")
        path = f"{job.job_dir}/{job.err_file if stderr else job.output}"
        transport = self._transport(job.host)
        if follow and job.status in ACTIVE and job.pid is not None:
            async for chunk in transport.stream(
                ["tail", "-c", "+1", "-F", f"--pid={job.pid}", "--", path]
            ):
                yield chunk
            return
        done = await transport.run(["cat", "--", path])
        if done.returncode != 0:
            if job.status in FINISHED or job.status in ACTIVE:
                return  # the job wrote nothing (yet)
            raise UsageError(f"cannot read {path} on {job.host}: {done.stderr.decode().strip()}")
        yield done.stdout


__all__ = ["LOCALHOST", "Meshq", "QueueSummary", "RunResult"]
