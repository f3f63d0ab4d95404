"""The service layer: every queue operation meshq offers, once. The CLI
calls it directly; the public Python API (:class:`meshq.AsyncMeshq`, and
:class:`meshq.Meshq` over it) and the REST service call it too.

Operations that only read or write the store are plain methods; those that
talk to hosts (run, kill, reset, delete, refresh, logs, probe) are
coroutines. It speaks the internal records of :mod:`meshq.model` (times as
float epochs); the public API turns them into :mod:`meshq.results`.
A :class:`Service` and its store belong to one thread: the sync
:class:`meshq.Meshq` keeps its own on a private event-loop thread.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshq import jobfile, names, paths, selection, validate
from meshq.attemptops import Attempts, on_host
from meshq.changes import Changes
from meshq.errors import HostError, NoHosts, NotFound, UsageError, shown, shown_path
from meshq.interop import Interop, is_meshq_job_list
from meshq.jobsets import Jobsets
from meshq.model import (
    ACTIVE,
    LOCAL_HOST_NAMES,
    LOCALHOST,
    Event,
    Host,
    HostStatus,
    Identity,
    Job,
    JobSpec,
    Queue,
    Status,
    parse_states,
    reset_status,
)
from meshq.store.feed import JobEvent
from meshq.store.store import Change, Store

# What talks to hosts (asyncio, the agent, ssh, the scheduler) is imported
# by the methods that need it: commands that only read the store, such as
# `meshq queues` or `queue status`, start 40 ms sooner without it.
if TYPE_CHECKING:
    from meshq.hostops import Moved
    from meshq.hosts.registry import Target
    from meshq.scheduler.engine import Runner
    from meshq.scheduler.run import Reporter, RunHost, RunResult
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


class Service(Attempts, Changes, Interop, Jobsets):
    """A handle on one meshq store and the hosts its jobs run on. In-place
    changes of jobs and hosts are in :class:`Changes`; the cloudmesh seed's
    files, policies and jobsets in :class:`Interop` and :class:`Jobsets`."""

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

    # -- hosts ----------------------------------------------------------------

    def add_hosts(self, name: str, **fields: Any) -> list[Host]:
        """Add the hosts the pattern ``name`` expands to (``red,red0[1-3]``);
        ``fields`` are those of :func:`meshq.validate.host_fields`."""
        hosts = [validate.host(e.name, **fields) for e in names.expand(name, what="host name")]
        self.store.add_hosts(hosts)
        return hosts

    def hosts(self) -> list[Host]:
        return self.store.hosts()

    def reached_as(self, host: Host) -> Identity | None:
        """The address, user and port a connection to ``host`` uses: what
        the inventory says, the rest as the ssh config (``~/.ssh/config``,
        or ``MESHQ_SSH_CONFIG``) resolves it; ``None`` for this machine.
        No connection is made."""
        from meshq.hosts.registry import reached_as

        return reached_as(host)

    def host_usage(self) -> tuple[Counter[str], dict[str, set[str]]]:
        """Running jobs per host and the GPU ids they hold, over all queues."""
        return self.store.host_usage()

    def set_host_enabled(self, name: str, enabled: bool) -> Host:
        """Let the scheduler use a host again, or stop it from doing so."""
        self.store.host(name)
        status = HostStatus.ACTIVE if enabled else HostStatus.DISABLED
        self.store.set_host_status(name, status)
        return self.store.host(name)

    def delete_host(self, name: str) -> None:
        self.store.delete_host(name)

    async def probe(self, name: str | None = None) -> list[tuple[Host, str | None]]:
        """Try each host (or one): start its agent and stop it again. Records
        the outcome (active, or down with the error) unless it is disabled."""
        import asyncio

        from meshq.hosts.registry import make_backend, target

        targets = [self.store.host(name)] if name else self.store.hosts()
        out: list[tuple[Host, str | None]] = []

        async def one(host: Host) -> tuple[Host, str | None]:
            backend = make_backend(target(self.store, host.name))
            error: str | None = None
            try:
                await backend.start()
            except HostError as err:
                error = err.detail
            finally:
                await backend.close()
            if error is None and backend.info != host.info:
                self.store.set_host_info(host.name, backend.info)
            if host.status is not HostStatus.DISABLED:
                status = HostStatus.DOWN if error else HostStatus.ACTIVE
                self.store.set_host_status(host.name, status, error, probed=True)
            return self.store.host(host.name), error

        out = list(await asyncio.gather(*(one(h) for h in targets)))
        return out

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

    # -- running --------------------------------------------------------------

    def _run_host(self, name: str, slots: int, user: str | None = None) -> RunHost:
        from meshq.hosts.registry import target
        from meshq.scheduler.run import RunHost

        where = target(self.store, name, user=user)
        known = where.host
        cluster = where.kind.cluster
        if cluster and known is not None:
            # a cluster's --max_jobs_allowed caps what is queued there, in
            # fifo too (there --max_parallel is the queue's own cap)
            slots = min(slots, known.max_jobs)
        return RunHost(
            where.name,
            where,
            slots,
            gpus=known.gpus if known else (),
            inventory=known is not None,
            cluster=cluster,
        )

    async def run_fifo(
        self,
        queue: str,
        max_parallel: int,
        *,
        name: str | None = None,
        reporter: Reporter | None = None,
        handle_signals: bool = False,
        check_interval: float = 5.0,
        host_lost_after: float | None = None,
        reprobe_every: float | None = None,
        on_runner: Callable[[Runner], None] | None = None,
    ) -> RunResult:
        """Run the queue's ready jobs in order, each on the host it is pinned
        to, at most ``max_parallel`` at once. Jobs with no host are skipped.
        ``name`` runs only the jobs it selects (as :meth:`select`).
        ``on_runner`` is given the :class:`Runner` once the options are
        checked and before it starts (to :meth:`Runner.stop` it later)."""
        max_parallel = validate.max_parallel(max_parallel)
        q = self.store.queue(queue)
        only = self._selection(queue, name)
        # each pinned host, with the --user its jobs name (the seed's pi@red)
        pinned: dict[str, str | None] = {}
        for host, user in self.store.pinned_hosts(q, [Status.READY, *ACTIVE]):
            if host not in pinned or pinned[host] is None:
                pinned[host] = user
        hosts = [self._run_host(h, max_parallel, pinned[h]) for h in sorted(pinned)]
        runner = _runner(
            self.store,
            q,
            hosts,
            mode="fifo",
            max_parallel=max_parallel,
            only=only,
            reporter=reporter,
            check_interval=check_interval,
            host_lost_after=host_lost_after,
            reprobe_every=reprobe_every,
        )
        return await self._run(runner, handle_signals, on_runner)

    async def run_fifo_multi(
        self,
        queue: str,
        hosts: str | None = None,
        *,
        policy: str | None = None,
        name: str | None = None,
        reporter: Reporter | None = None,
        handle_signals: bool = False,
        check_interval: float = 5.0,
        seed: int | None = None,
        host_lost_after: float | None = None,
        reprobe_every: float | None = None,
        on_runner: Callable[[Runner], None] | None = None,
    ) -> RunResult:
        """Run the queue's ready and undefined jobs in order over many hosts,
        each job on the host ``policy`` picks among those with a free slot
        (and enough free GPUs). ``hosts`` is the seed's list
        (``pi@red,pi@red01``: one slot per entry, repeat one for more);
        without it, the active hosts of the inventory with their
        ``max_jobs`` slots. ``policy`` defaults to the queue's stored one
        (:meth:`set_policy`), else sequential; ``name`` runs only the jobs it
        selects (as :meth:`select`)."""
        import random

        from meshq.scheduler.policies import policy_named

        q = self.store.queue(queue)
        chosen = policy_named(policy or self.policy(queue))
        only = self._selection(queue, name)
        run_hosts = self._hosts_from_list(hosts) if hosts else self._inventory_hosts()
        runner = _runner(
            self.store,
            q,
            run_hosts,
            mode="fifo_multi",
            policy=chosen,
            only=only,
            reporter=reporter,
            check_interval=check_interval,
            rng=random.Random(seed),
            host_lost_after=host_lost_after,
            reprobe_every=reprobe_every,
        )
        return await self._run(runner, handle_signals, on_runner)

    def _selection(self, queue: str, name: str | None) -> frozenset[int] | None:
        """The ids of the jobs ``--name`` selects for a run (None: all)."""
        if name is None:
            return None
        return frozenset(j.id for j in self.select(queue, name, acting=True))

    def _hosts_from_list(self, text: str) -> list[RunHost]:
        slots: Counter[str] = Counter()
        users: dict[str, str | None] = {}
        for entry in (e.strip() for e in text.split(",")):
            if not entry:
                continue
            user, _, name = entry.rpartition("@")
            name = LOCALHOST if name in LOCAL_HOST_NAMES else names.check_name(name, "host name")
            if user:
                validate.user_name(user)
            slots[name] += 1
            users.setdefault(name, user or None)
        if not slots:
            raise UsageError("--hosts is empty: give hosts such as pi@red,pi@red01")
        return [self._run_host(n, slots[n], users[n]) for n in slots]

    def _inventory_hosts(self) -> list[RunHost]:
        usable = [h for h in self.store.hosts() if h.status is not HostStatus.DISABLED]
        if not usable:
            raise NoHosts("no hosts to run on: the inventory has no host that is not disabled")
        return [self._run_host(h.name, h.max_jobs) for h in usable]

    async def _run(
        self,
        runner: Runner,
        handle_signals: bool,
        on_runner: Callable[[Runner], None] | None = None,
    ) -> RunResult:
        from meshq.scheduler.run import stop_on_signals

        if on_runner is not None:
            on_runner(runner)
        if handle_signals:
            # told where the run tells everything: above a progress bar, not through it
            stop_on_signals(runner, runner.reporter.message)
        return await runner.run()

    # -- operations on hosts --------------------------------------------------

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


def _runner(
    *args: Any, host_lost_after: float | None, reprobe_every: float | None, **kw: Any
) -> Runner:
    """A :class:`Runner`; the host timings it is given, else its defaults."""
    from meshq.scheduler.engine import HOST_LOST_AFTER, REPROBE_EVERY, Runner

    return Runner(
        *args,
        **kw,
        host_lost_after=HOST_LOST_AFTER if host_lost_after is None else host_lost_after,
        reprobe_every=REPROBE_EVERY if reprobe_every is None else reprobe_every,
    )


def _reset_change(job: Job) -> Change:
    """Back to waiting: a host the scheduler chose, and GPUs it picked, are
    forgotten; a host the user pinned is kept."""
    fields: dict[str, Any] = {"gpu": None} if job.gpus else {}
    if job.placed:
        fields |= {"host": None, "placed": 0}
    return Change(job.id, reset_status(job.host, job.placed), fields, "reset")


def __getattr__(name: str) -> Any:
    # RunResult lives with the scheduler, which is imported on first use
    if name == "RunResult":
        from meshq.scheduler.run import RunResult

        return RunResult
    raise AttributeError(name)


__all__ = ["LOCALHOST", "QueueCounts", "RunResult", "Service"]
