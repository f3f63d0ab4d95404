"""The service layer: every queue operation meshq offers, once. The CLI
calls it directly; the public Python API (:class:`meshq.AsyncMeshq`, and
:class:`meshq.Meshq` over it) and the REST service call it too.

Operations that only read or write the store are plain methods; those that
talk to hosts (run, kill, reset, delete, refresh, logs, probe) are
coroutines. It speaks the internal records of :mod:`meshq.model` (times as
float epochs); the public API turns them into :mod:`meshq.results`.
A :class:`Service` and its store belong to one thread: the sync
:class:`meshq.Meshq` keeps its own on a private event-loop thread.

This module holds the queues and the jobs in them; the other resources are
mixins in modules of their own, one each: the inventory
(:mod:`meshq.inventory`), runs (:mod:`meshq.runs`), operations on jobs'
hosts (:mod:`meshq.control`), attempts (:mod:`meshq.attemptops`), in-place
changes (:mod:`meshq.changes`), the seed's files and jobsets
(:mod:`meshq.interop`, :mod:`meshq.jobsets`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshq import jobfile, names, paths, selection, validate
from meshq.attemptops import Attempts
from meshq.changes import Changes
from meshq.control import Control
from meshq.errors import NotFound, UsageError, shown, shown_path
from meshq.interop import Interop, is_meshq_job_list
from meshq.inventory import Inventory
from meshq.jobsets import Jobsets
from meshq.model import (
    LOCAL_HOST_NAMES,
    LOCALHOST,
    Event,
    Job,
    JobSpec,
    Queue,
    Status,
    parse_states,
)
from meshq.runs import Runs
from meshq.store.feed import JobEvent
from meshq.store.store import Store

# What talks to hosts (asyncio, the agent, ssh, the scheduler) is imported
# by the methods that need it: commands that only read the store, such as
# `meshq queues` or `queue status`, start 40 ms sooner without it.
if TYPE_CHECKING:
    from meshq.hosts.registry import Target
    from meshq.scheduler.run import RunResult
    from meshq.summary import Summary

DEFAULT_EXPERIMENT = "./experiment"


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """A queue and how many of its jobs are in each state."""

    queue: Queue
    counts: dict[Status, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _warn(text: str) -> None:
    print(f"meshq: warning: {text}", file=sys.stderr)


class Service(Attempts, Changes, Control, Interop, Inventory, Jobsets, Runs):
    """A handle on one meshq store and the hosts its jobs run on. In-place
    changes of jobs and hosts are in :class:`Changes`; the cloudmesh seed's
    files, policies and jobsets in :class:`Interop` and :class:`Jobsets`.
    The inventory is in :class:`Inventory`, runs in :class:`Runs`, and the
    operations that talk to jobs' hosts in :class:`Control`."""

    def __init__(self, db: str | Path | None = None, warn: Callable[[str], None] = _warn) -> None:
        self.store = Store(db)
        self.warn = warn
        if self.store.exposure:
            warn(self.store.exposure)

    def close(self) -> None:
        self.store.close()

    def _target_for(self, job: Job) -> Target:
        """How to reach the host ``job`` ran on: as the user and port its
        current attempt ran as, when recorded; else as the job names
        (``--user``), the inventory or the ssh config say."""
        from meshq.hosts.registry import target

        assert job.host is not None
        return target(self.store, job.host, user=job.run_user or job.user, port=job.run_port)

    def _is_local(self, host: str) -> bool:
        """Whether jobs on ``host`` run on this machine (paths are ours)."""
        if host in LOCAL_HOST_NAMES:
            return True
        known = self.store.find_host(host)
        return known is not None and known.paths_are_local

    def files(self, job: Job) -> paths.JobPaths | None:
        """Where ``job``'s folder and files are on its host (``None`` while
        it has no host)."""
        if job.host is None:
            return None
        pyenv = None
        if job.pyenv is None and (known := self.store.find_host(job.host)) is not None:
            pyenv = known.pyenv
        return paths.job_paths(job, local=self._is_local(job.host), default_pyenv=pyenv)

    # -- queues ---------------------------------------------------------------

    def create_queue(
        self,
        name: str,
        experiment: str = DEFAULT_EXPERIMENT,
        *,
        timeout: float | str | None = None,
        retries: int | str | None = None,
    ) -> Queue:
        """Create an empty queue whose jobs live under ``experiment``
        (stored as an absolute path); ``timeout`` and ``retries`` are the
        defaults for its jobs. The seed's ``a-queue.yaml`` creates queue ``a``."""
        name = names.queue_name(name)
        names.check_name(name, "queue name")
        defaults = validate.queue_defaults(timeout, retries)
        return self.store.create_queue(
            name,
            validate.experiment_path(experiment),
            timeout=defaults["default_timeout"],
            retries=defaults["default_retries"],  # type: ignore[arg-type]
        )

    def set_defaults(
        self,
        queue: str,
        *,
        timeout: float | str | None = None,
        retries: int | str | None = None,
        policy: str | None = None,
    ) -> Queue:
        """Set the queue's default time limit, retries and ``fifo_multi``
        policy (those given)."""
        from meshq.interop import policy_checked

        q = self.store.queue(queue)
        defaults = validate.queue_defaults(timeout, retries)
        given: dict[str, object] = {
            k: v
            for (k, v), raw in zip(defaults.items(), (timeout, retries), strict=True)
            if raw is not None
        }
        if policy is not None:
            given["policy"] = policy_checked(policy)
        if not given:
            raise UsageError("nothing to set: give --timeout, --retries and/or --policy")
        return self.store.set_queue(q, **given)

    def pause(self, queue: str) -> Queue:
        """Launch no new job of the queue (running ones go on); see :meth:`resume`."""
        return self.store.set_queue(self.store.queue(queue), paused=1)

    def resume(self, queue: str) -> Queue:
        """Let a paused queue's jobs be launched again."""
        return self.store.set_queue(self.store.queue(queue), paused=0)

    def queue(self, name: str) -> Queue:
        return self.store.queue(name)

    def queues(self) -> list[QueueCounts]:
        """Every queue with its counts per state."""
        return [QueueCounts(q, c) for q, c in self.store.queues()]

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

    def sweep(
        self,
        queue: str,
        command: str,
        params: Mapping[str, Iterable[Any]],
        *,
        name: str | None = None,
        **fields: str | float | None,
    ) -> list[str]:
        """Add one job per combination of ``params``' values (see
        :mod:`meshq.sweeps`), in one transaction; their names. ``command``
        and ``name`` are templates; ``fields`` are :meth:`add`'s."""
        q = self.store.queue(queue)
        batches = self._sweep_batches(command, params, name, fields)
        self.store.add_batches(q, batches)
        return [e.name for names_, _, _ in batches for e in names_]

    def _sweep_batches(
        self,
        command: str,
        params: Mapping[str, Iterable[Any]],
        name: str | None,
        fields: Mapping[str, Any],
    ) -> list[tuple[list[names.Expanded], JobSpec, Status]]:
        """A batch per point of a sweep: its name, and the spec it shares
        with the other points but for its command and parameters."""
        from dataclasses import replace

        from meshq import sweeps

        spec, first = validate.job_spec(command_text=command, **fields)
        return [
            (
                [names.Expanded(p.name, p.index)],
                replace(spec, command=validate.command(p.command), params=p.params),
                first,
            )
            for p in sweeps.points(command, params, name)
        ]

    def add_file(self, queue: str, path: str) -> list[str]:
        """Add the jobs of a YAML job file (see :mod:`meshq.jobfile`), all in
        one transaction; returns their names. The seed's files (a jobset, jobs
        by name) are read as :meth:`add_seed_file` reads them."""
        q = self.store.queue(queue)
        where = shown_path(path)
        document = jobfile.read_document(path)
        if not is_meshq_job_list(document, path):
            return self.add_seed_file(queue, path, document)
        batches = []
        added: list[str] = []
        seen: set[str] = set()
        for entry in jobfile.entries(where, document):
            name, command = entry.pop("name", None), entry.pop("command")
            grid = entry.pop("grid", None)
            try:
                if grid is not None:
                    made = self._sweep_batches(command, grid, name, entry)
                else:
                    spec, first = validate.job_spec(command_text=command, **entry)
                    made = [(names.expand(name), spec, first)]
            except UsageError as err:
                raise UsageError(f"{where}: job {shown(name or command)}: {err}") from None
            expanded = [e for batch in made for e in batch[0]]
            twice = next((e.name for e in expanded if e.name in seen), None)
            if twice is not None:
                raise UsageError(f"{where} names the job {twice!r} twice: give each job once")
            seen.update(e.name for e in expanded)
            batches += made
            added += [e.name for e in expanded]
        try:
            self.store.add_batches(q, batches)
        except UsageError as err:
            raise type(err)(f"{where}: {err}") from None
        return added

    def dependencies(self, queue: str, name: str) -> list[tuple[str, Status]]:
        """The jobs that job ``name`` waits for (``--after``), with their states."""
        return self.store.dependencies(self.job(queue, name))

    def jobs(
        self,
        queue: str,
        *,
        status: str | Iterable[Status | str] | None = None,
        name: str | None = None,
    ) -> list[Job]:
        """Jobs of ``queue`` in queue order, selected as :meth:`select` says."""
        return self.select(queue, name, status)

    def page(
        self,
        queue: str,
        *,
        status: str | Iterable[Status | str] | None = None,
        name: str | None = None,
        offset: int = 0,
        limit: int = 100,
        sort: str | None = None,
    ) -> tuple[list[Job], int]:
        """One page of the jobs :meth:`select` picks (``limit`` after the
        first ``offset``, in queue order or as ``sort`` says: ``name``,
        ``-started``, see :mod:`meshq.ordering`) and how many it picks in
        all. Without ``name`` the store pages and counts (fast on any queue)."""
        from meshq.ordering import parse_order, sort_jobs

        if offset < 0 or limit < 0:
            raise UsageError(f"offset {offset} and limit {limit} must be 0 or more")
        order = parse_order(sort)
        if name is not None:
            found = sort_jobs(self.select(queue, name, status), order)
            return found[offset : offset + limit], len(found)
        q = self.store.queue(queue)
        statuses = _states(status)
        page = self.store.jobs(q, statuses=statuses, limit=limit, offset=offset, order=order)
        return page, self.store.count_jobs(q, statuses)

    def job(self, queue: str, name: str) -> Job:
        return self.store.job(self.store.queue(queue), name)

    def history(self, queue: str, name: str) -> list[Event]:
        """The job's state changes, oldest first."""
        return self.store.events(self.job(queue, name))

    def state_changes(
        self, after: int | None = None, limit: int = 500
    ) -> tuple[list[JobEvent], int]:
        """The history lines of every job after the cursor ``after`` (None:
        from now on, so none), oldest first, at most ``limit``; and the
        cursor to ask with next time."""
        if after is None:
            return [], self.store.last_event_id()
        found = self.store.events_after(after, limit)
        return found, found[-1].id if found else after

    def summary(self, queue: str) -> Summary:
        """How long the queue's jobs ran and how each host fared (every
        attempt, retried ones too): see :mod:`meshq.summary`."""
        from meshq.summary import attempts_from_events, summarize

        q = self.store.queue(queue)
        attempts = attempts_from_events(self.store.attempt_lines(q))
        return summarize(q.name, self.store.jobs(q), attempts)

    def counts(self, queue: str) -> dict[Status, int]:
        return self.store.counts(self.store.queue(queue))

    def by_status(self, queue: str) -> dict[Status, list[str]]:
        """Job names grouped by state, in queue order."""
        return self.store.names_by_status(self.store.queue(queue))

    def first_by_status(self, queue: str, limit: int) -> dict[Status, tuple[int, list[str]]]:
        """Each state's job count and the names of its first ``limit`` jobs,
        in queue order: what a person's view of a large queue needs, at a
        cost that does not grow with the queue's names."""
        return self.store.first_names_by_status(self.store.queue(queue), limit)

    def select(
        self,
        queue: str,
        name: str | None = None,
        status: str | Iterable[Status | str] | None = None,
        *,
        acting: bool = False,
    ) -> list[Job]:
        """The jobs of ``queue`` that ``name`` and ``status`` select, in queue
        order; every command that takes ``--name``/``--status`` asks here.

        ``name`` is a comma list of names, ranges (``job[1-5]``) and globs
        (``job*``), read by :mod:`meshq.selection`: a name typed as it is
        must be a job of the queue (a typo is a :class:`NotFound`, not a
        no-op); a range or a glob selects the jobs it matches. With
        ``acting`` (kill, reset, delete, set), a ``name`` that matches no job
        at all is a :class:`NotFound` too. ``status`` is a comma list of
        states or their aliases (``fail,kill``, ``failed``), or a list."""
        q = self.store.queue(queue)
        statuses = _states(status)
        if name is None:
            return self.store.jobs(q, statuses=statuses)
        chosen = selection.parse(name)
        if chosen.required:
            have = {j.name for j in self.store.jobs(q, names=chosen.required)}
            missing = [n for n in chosen.required if n not in have]
            if missing:
                raise NotFound(
                    f"queue {shown(queue)} has no job {shown(names.collapse(missing))}",
                    kind="job",
                    name=names.collapse(missing),
                    queue=q.name,
                    job=missing[0],
                )
        found = self.store.jobs(q, names=chosen.names, globs=chosen.globs)
        if acting and not found:
            raise NotFound(
                f"{shown(name)} matches no job of queue {shown(queue)}",
                kind="job",
                name=name,
                queue=q.name,
            )
        return [j for j in found if statuses is None or j.status in statuses]

    def one(self, queue: str, name: str) -> Job:
        """The one job ``name`` selects (a name, or a pattern or glob that
        matches exactly one job): what ``show`` and ``logs`` take."""
        found = self.select(queue, name)
        if len(found) != 1:
            what = (
                "no job"
                if not found
                else f"{len(found)} jobs ({names.collapse([j.name for j in found])})"
            )
            raise UsageError(f"{shown(name)} selects {what} of queue {shown(queue)}: name one job")
        return found[0]


def _states(status: str | Iterable[Status | str] | None) -> list[Status] | None:
    """The states a ``status`` argument names (None: any state)."""
    if status is None:
        return None
    words = [status] if isinstance(status, str) else list(status)
    out: list[Status] = []
    for word in words:
        for s in [word] if isinstance(word, Status) else parse_states(word):
            if s not in out:
                out.append(s)
    return out


def __getattr__(name: str) -> Any:
    # RunResult lives with the scheduler, which is imported on first use
    if name == "RunResult":
        from meshq.scheduler.run import RunResult

        return RunResult
    raise AttributeError(name)


__all__ = ["LOCALHOST", "QueueCounts", "RunResult", "Service"]
