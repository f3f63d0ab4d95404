"""The state store: the only code in meshq that runs SQL.

Every status change goes through :meth:`Store.apply`, which checks it
against :data:`meshq.model.TRANSITIONS`, guards the ``UPDATE`` with the
status it read, and appends to the ``events`` history in the same
transaction. A change costs the same with 10 jobs or 1,000,000.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshq.errors import AlreadyExists, NotFound, TransitionError, shown
from meshq.model import (
    FINISHED,
    JOB_FIELDS,
    TRANSITIONS,
    WAITING,
    Event,
    Identity,
    Job,
    JobSpec,
    Queue,
    Status,
    params_to_text,
)
from meshq.names import Expanded, queue_name
from meshq.ordering import SORT_KEYS, Order
from meshq.store.connection import connect, default_db_path, exposure, transaction
from meshq.store.deps import Dependencies
from meshq.store.extras import Extras
from meshq.store.feed import Feed
from meshq.store.hosts import HostInventory
from meshq.store.runs import RunLeases
from meshq.validate import text

#: the columns of a Job, in its fields' order (Job.from_row reads them so)
_JOB_COLUMNS = {"queue": "queues.name", "experiment": "queues.experiment", "index": 'jobs."index"'}
#: the column of each sort key (:mod:`meshq.ordering`): queue order is id order
_ORDER_COLUMNS = {**{k: k for k in SORT_KEYS}, "submitted": "id"}

_JOB_SELECT = (
    "SELECT "
    + ", ".join(f'{_JOB_COLUMNS.get(f, "jobs." + f)} AS "{f}"' for f in JOB_FIELDS)
    + " FROM jobs JOIN queues ON queues.id = jobs.queue_id"
)
#: fields a status change may set besides the status itself
#: a job whose --after jobs all ended well (or that has none)
_DEPS_MET = (
    " AND NOT EXISTS (SELECT 1 FROM deps d JOIN jobs p ON p.id = d.dep_id "
    "WHERE d.job_id = jobs.id AND p.status != 'end')"
)
#: a selection of jobs (``run --name``), as one JSON list of ids: any number
#: of them in one bound value
_ONLY = " AND {table}id IN (SELECT value FROM json_each(?))"
_NOWHERE = Identity(user=None)
_CLAIMABLE = frozenset({Status.READY, Status.UNDEFINED})
#: what ``queue set`` may change on a job, and in which states (not while
#: it runs: its host has it as it was launched)
SETTABLE_FIELDS = frozenset(
    {
        "command",
        "shell",
        "directory",
        "input",
        "output",
        "log",
        "gpu",
        "gpus",
        "pyenv",
        "user",
        "host",
        "placed",
        "timeout",
        "retries",
    }
)
_SETTABLE_STATES = WAITING | FINISHED
_CHANGE_FIELDS = frozenset(
    {
        "exit_code",
        "pid",
        "pstart",
        "attempts",
        "started",
        "ended",
        "error",
        "host",
        "gpu",
        "user",
        "placed",
        "signal",
    }
)


@dataclass(frozen=True, slots=True)
class Change:
    """One requested status change of one job.

    ``attempt``, when given, must match the job's current attempt number, so
    a late report from an earlier attempt can never overwrite a newer one.
    """

    job_id: int
    new: Status
    fields: dict[str, Any] = field(default_factory=dict)
    detail: str | None = None
    attempt: int | None = None


def _identity(where: Mapping[str, Identity] | None, host: str | None) -> Identity:
    """What ``where`` says of ``host``; nothing known when it says nothing."""
    return (where or {}).get(host or "") or _NOWHERE


def _statuses(c: sqlite3.Connection, ids: Sequence[int]) -> dict[int, str]:
    """The status of each job of ``ids`` that exists, in one statement."""
    rows = c.execute(
        "SELECT id, status FROM jobs WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(ids),),
    )
    return {r[0]: r[1] for r in rows}


#: how the statements that write jobs' states resolve a broken constraint.
#: FAIL, not the default ABORT: an ABORT statement must be able to undo its
#: own part alone, so with the count triggers (schema 9) SQLite keeps a
#: statement journal for every row it writes (a copy of each page touched):
#: a third of the cost of a status change. Every such statement runs in a
#: transaction that is rolled back whole on any error, so nothing is lost.
_ON_CONFLICT = "OR FAIL"


def _write_wave(c: sqlite3.Connection, wave: Sequence[tuple[Change, str, int]], now: float) -> None:
    """Write changes of distinct jobs (each with the status and attempt it
    had before): an ``executemany`` per set of fields, then their history."""
    shapes: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for ch, old, _ in wave:
        shapes.setdefault(tuple(ch.fields), []).append(
            (ch.new.value, *ch.fields.values(), ch.job_id, old)
        )
    for names, args in shapes.items():
        sets = "".join(f", {k} = ?" for k in names)
        c.executemany(
            f"UPDATE {_ON_CONFLICT} jobs SET status = ?{sets} WHERE id = ? AND status = ?", args
        )
    c.executemany(
        "INSERT INTO events (job_id, time, old, new, attempt, detail, host, exit_code) "
        "SELECT id, ?, ?, ?, ?, ?, host, exit_code FROM jobs WHERE id = ?",
        [(now, old, ch.new.value, attempts, ch.detail, ch.job_id) for ch, old, attempts in wave],
    )


def _placed(job: Job, host: str | None, by_scheduler: bool) -> bool:
    """Whether ``host`` is one the scheduler chose rather than the user:
    a job keeps a pin the scheduler followed."""
    return by_scheduler and (job.placed or job.host != host)


class Store(HostInventory, RunLeases, Dependencies, Extras, Feed):
    """A meshq state store in one SQLite file. Safe to open from many
    processes at once; one instance belongs to one thread."""

    def __init__(self, path: Path | str | None = None) -> None:
        """Open the store at ``path``, else ``MESHQ_DB``, else the default
        one. A path the user named must be in a folder that exists; the
        default store's folder is created (see :func:`connect`)."""
        named = bool(path) or bool(os.environ.get("MESHQ_DB"))
        self.path = Path(path).expanduser() if path else default_db_path()
        #: a warning when the store is open to other users, else None; read
        #: before SQLite opens it, as the -wal/-shm it makes now go at close
        self.exposure = exposure(self.path)
        self.conn = connect(self.path, named=named)

    def close(self) -> None:
        self.conn.close()

    # -- queues ---------------------------------------------------------------

    def create_queue(
        self,
        name: str,
        experiment: str,
        *,
        timeout: float | None = None,
        retries: int | None = None,
    ) -> Queue:
        """Create queue ``name``; :class:`AlreadyExists` if it exists."""
        now = time.time()
        try:
            with transaction(self.conn) as c:
                c.execute(
                    "INSERT INTO queues (name, experiment, created, default_timeout, "
                    "default_retries) VALUES (?, ?, ?, ?, ?)",
                    (name, experiment, now, timeout, retries),
                )
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"queue {name!r} exists already", kind="queue", name=name) from None
        return self.queue(name)

    def set_queue(self, queue: Queue, **values: object) -> Queue:
        """Change a queue's ``paused``, ``default_timeout``, ``default_retries``
        or ``policy``."""
        allowed = {"paused", "default_timeout", "default_retries", "policy"}
        if not values or set(values) - allowed:
            raise ValueError(f"a queue setting is one of {sorted(allowed)}")
        sets = ", ".join(f"{k} = ?" for k in values)
        with transaction(self.conn) as c:
            c.execute(f"UPDATE queues SET {sets} WHERE id = ?", (*values.values(), queue.id))
        return self.queue(queue.name)

    def queue(self, name: str) -> Queue:
        """The queue called ``name`` (or the seed's ``name-queue.yaml``);
        :class:`NotFound` if there is none."""
        text(name, "the queue name")
        name = queue_name(name)
        row = self.conn.execute("SELECT * FROM queues WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no queue {shown(name)}", kind="queue", name=name, queue=name)
        return Queue.from_row(row)

    def queues(self) -> list[tuple[Queue, dict[Status, int]]]:
        """Every queue, oldest first, with its job count per state."""
        queues = [Queue.from_row(r) for r in self.conn.execute("SELECT * FROM queues ORDER BY id")]
        counts: dict[int, dict[Status, int]] = {q.id: {} for q in queues}
        # kept by triggers on jobs (schema 9): a few rows however many jobs
        for row in self.conn.execute("SELECT queue_id, status, n FROM job_counts WHERE n > 0"):
            counts[row["queue_id"]][Status(row["status"])] = row["n"]
        return [(q, counts[q.id]) for q in queues]

    def delete_queue(self, queue: Queue) -> None:
        """Remove ``queue`` with all its jobs and their history."""
        with transaction(self.conn) as c:
            c.execute(
                "DELETE FROM events WHERE job_id IN (SELECT id FROM jobs WHERE queue_id = ?)",
                (queue.id,),
            )
            c.execute("DELETE FROM jobs WHERE queue_id = ?", (queue.id,))
            c.execute("DELETE FROM queues WHERE id = ?", (queue.id,))

    # -- adding and reading jobs ----------------------------------------------

    def add_jobs(
        self, queue: Queue, names: Sequence[Expanded], spec: JobSpec, status: Status
    ) -> int:
        """Add one job per name, all in one transaction; all or nothing.

        Raises :class:`AlreadyExists` (and adds nothing) when a name is taken.
        """
        return self.add_batches(queue, [(names, spec, status)])

    def add_batches(
        self, queue: Queue, batches: Sequence[tuple[Sequence[Expanded], JobSpec, Status]]
    ) -> int:
        """Add several batches of jobs (a job file) in one transaction; a
        batch may wait for (``after``) jobs of the batches before it."""
        now = time.time()
        total = 0
        with transaction(self.conn) as c:
            for names, spec, status in batches:
                total += self._insert(c, queue, names, spec, status, now)
        return total

    def _insert(
        self,
        c: sqlite3.Connection,
        queue: Queue,
        names: Sequence[Expanded],
        spec: JobSpec,
        status: Status,
        now: float,
    ) -> int:
        rows = [
            (
                queue.id,
                e.name,
                e.index,
                spec.command,
                spec.shell,
                spec.directory,
                spec.input,
                spec.output or f"{e.name}.out",
                spec.log or f"{e.name}.log",
                spec.gpu,
                spec.pyenv,
                spec.user,
                spec.host,
                spec.timeout,
                status.value,
                now,
                spec.gpus,
                spec.retries,
                params_to_text(spec.params),
            )
            for e in names
        ]
        dep_ids = self._dependencies(queue, spec.after, {e.name for e in names})
        first = c.execute("SELECT coalesce(max(id), 0) + 1 FROM jobs").fetchone()[0]
        try:
            c.executemany(
                f'INSERT {_ON_CONFLICT} INTO jobs (queue_id, name, "index", command, shell, '
                "directory, input, output, log, gpu, pyenv, user, host, timeout, status, "
                "submitted, gpus, "
                "retries, params) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except sqlite3.IntegrityError:
            # the rows this statement put in before the clash are still
            # there (it does not undo itself: _ON_CONFLICT): look before them
            taken = self._taken(queue, [e.name for e in names], first)
            raise AlreadyExists(
                f"queue {queue.name!r} has a job named {taken!r} already: choose other "
                "names, or delete it first"
            ) from None
        c.execute(
            "INSERT INTO events (job_id, time, old, new, attempt, detail) "
            "SELECT id, ?, NULL, status, 0, 'added' FROM jobs WHERE id >= ?",
            (now, first),
        )
        for dep in dep_ids:
            c.execute(
                "INSERT INTO deps (job_id, dep_id) SELECT id, ? FROM jobs WHERE id >= ?",
                (dep, first),
            )
        return len(rows)

    def _taken(self, queue: Queue, names: list[str], first: int) -> str:
        """The first of ``names`` that clashes: with a job of ``queue`` that
        was there before (id below ``first``), or with another of ``names``."""
        wanted = set(names)
        seen: set[str] = set()
        for row in self.conn.execute(
            "SELECT name FROM jobs WHERE queue_id = ? AND id < ?", (queue.id, first)
        ):
            if row["name"] in wanted:
                return str(row["name"])
        for n in names:
            if n in seen:
                return n
            seen.add(n)
        return names[0]

    def jobs(
        self,
        queue: Queue,
        *,
        statuses: Iterable[Status] | None = None,
        names: Iterable[str] | None = None,
        match: Callable[[str], bool] | None = None,
        host: str | None = None,
        limit: int | None = None,
        globs: Sequence[str] = (),
        offset: int = 0,
        order: Order | None = None,
    ) -> list[Job]:
        """Jobs of ``queue`` in queue order (or in ``order``, when no
        ``match`` is given), filtered by state, names, a host, and ``match``
        (true for the names wanted: see :mod:`meshq.selection`); the
        ``limit`` of them after the first ``offset`` (a page).

        A job is named when ``names`` holds its name or one of ``globs``
        (``*`` and ``?`` wildcards, as :func:`fnmatch.fnmatchcase` reads
        them: names hold no ``[``) matches it; with neither, every job is.
        """
        sql = [_JOB_SELECT, "WHERE jobs.queue_id = ?"]
        args: list[Any] = [queue.id]
        named: list[str] = []
        if names is not None:
            # looked up by the (queue_id, name) index, one name at a time: a
            # range of 100 names on a 1,000,000-job queue reads 100 rows, not
            # every row (8 s). The unary + keeps the planner off the state
            # index, which it would otherwise pick and then scan.
            named.append("jobs.name IN (SELECT value FROM json_each(?))")
            args.append(json.dumps(list(names)))
        # SQLite's GLOB reads * and ? as fnmatch does; matched in SQL, a glob
        # on a 1,000,000-job queue fetches only the rows it names
        named += ["jobs.name GLOB ?"] * len(globs)
        args += globs
        if named:
            sql.append(f"AND ({' OR '.join(named)})")
        if statuses is not None:
            sts = [s.value for s in statuses]
            unindexed = "+" if named else ""
            sql.append(f"AND {unindexed}jobs.status IN ({','.join('?' * len(sts))})")
            args += sts
        if host is not None:
            sql.append("AND jobs.host = ?")
            args.append(host)
        in_sql = match is None
        if in_sql and order is not None:
            # the column comes from a fixed map, never from the caller's text
            column = _ORDER_COLUMNS[order.key]
            sql.append(f"ORDER BY jobs.{column} {'DESC' if order.descending else 'ASC'}, jobs.id")
        else:
            sql.append("ORDER BY jobs.id")
        if in_sql and (limit is not None or offset):
            sql.append("LIMIT ? OFFSET ?")
            args += [-1 if limit is None else limit, offset]
        skip = 0 if in_sql else offset
        out = []
        for row in self.conn.execute(" ".join(sql), args):
            if match is not None and not match(row["name"]):
                continue
            if skip:
                skip -= 1
                continue
            out.append(Job.from_row(row))
            if limit is not None and len(out) >= limit:
                break
        return out

    def pinned_hosts(
        self, queue: Queue, statuses: Iterable[Status]
    ) -> list[tuple[str, str | None]]:
        """The distinct ``(host, user)`` pairs of ``queue``'s jobs in
        ``statuses`` that have a host (without loading the jobs)."""
        sts = [s.value for s in statuses]
        rows = self.conn.execute(
            f"SELECT DISTINCT host, user FROM jobs WHERE queue_id = ? AND host IS NOT NULL "
            f"AND status IN ({','.join('?' * len(sts))})",
            (queue.id, *sts),
        )
        return [(r["host"], r["user"]) for r in rows]

    def job(self, queue: Queue, name: str) -> Job:
        """The job ``name`` of ``queue``; :class:`NotFound` if there is none."""
        text(name, "the job name")
        row = self.conn.execute(
            f"{_JOB_SELECT} WHERE jobs.queue_id = ? AND jobs.name = ?", (queue.id, name)
        ).fetchone()
        if row is None:
            raise NotFound(
                f"queue {queue.name!r} has no job {shown(name)}",
                kind="job",
                name=name,
                queue=queue.name,
                job=name,
            )
        return Job.from_row(row)

    def job_by_id(self, job_id: int) -> Job:
        row = self.conn.execute(f"{_JOB_SELECT} WHERE jobs.id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"no job with id {job_id}")
        return Job.from_row(row)

    def counts(self, queue: Queue) -> dict[Status, int]:
        """How many jobs of ``queue`` are in each state (states with none left
        out): the counts the store's triggers keep (schema 9), so a read of a
        few rows however big the queue."""
        return {
            Status(r["status"]): r["n"]
            for r in self.conn.execute(
                "SELECT status, n FROM job_counts WHERE queue_id = ? AND n > 0", (queue.id,)
            )
        }

    def count_jobs(self, queue: Queue, statuses: Iterable[Status] | None = None) -> int:
        """How many jobs of ``queue`` are in ``statuses`` (None: in all), from
        the counts the store keeps per state (see :meth:`counts`)."""
        sql = "SELECT coalesce(sum(n), 0) FROM job_counts WHERE queue_id = ?"
        args: list[Any] = [queue.id]
        if statuses is not None:
            sts = [s.value for s in statuses]
            sql += f" AND status IN ({','.join('?' * len(sts))})"
            args += sts
        total: int = self.conn.execute(sql, args).fetchone()[0]
        return total

    def names_by_status(self, queue: Queue) -> dict[Status, list[str]]:
        """The names of ``queue``'s jobs grouped by state (states in the
        order of a job's life, names in queue order)."""
        # one string per state, split in C: on 100,000 jobs this is 30 ms
        # where a row per job took 130. The index (queue_id, status, id)
        # hands each state's names over in queue order; were it not so, only
        # the order in which prefixes are shown would change. Names hold no
        # newline (check_name).
        rows = self.conn.execute(
            "SELECT status, group_concat(name, char(10)) FROM jobs INDEXED BY jobs_by_status "
            "WHERE queue_id = ? GROUP BY status",
            (queue.id,),
        )
        found = {Status(status): names.split("\n") for status, names in rows}
        # in the order of a job's life (Status lists them so), not A to Z
        return {status: found[status] for status in Status if status in found}

    def first_names_by_status(
        self, queue: Queue, limit: int
    ) -> dict[Status, tuple[int, list[str]]]:
        """Each state's job count and the names of its first ``limit`` jobs
        in queue order (states in the order of a job's life).

        Costs the kept counts (:meth:`counts`) and at most ``limit`` rows a
        state from the ``(queue_id, status, id)`` index, where
        :meth:`names_by_status` reads every name.
        """
        counts = self.counts(queue)
        out: dict[Status, tuple[int, list[str]]] = {}
        for status in Status:
            if status not in counts:
                continue
            rows = self.conn.execute(
                "SELECT name FROM jobs INDEXED BY jobs_by_status "
                "WHERE queue_id = ? AND status = ? ORDER BY id LIMIT ?",
                (queue.id, status.value, limit),
            )
            out[status] = (counts[status], [name for (name,) in rows])
        return out

    def events(self, job: Job) -> list[Event]:
        """The job's status history, oldest first."""
        return [
            Event(
                host=r["host"],
                exit_code=r["exit_code"],
                time=r["time"],
                old=Status(r["old"]) if r["old"] else None,
                new=Status(r["new"]),
                attempt=r["attempt"],
                detail=r["detail"],
            )
            for r in self.conn.execute(
                "SELECT * FROM events WHERE job_id = ? ORDER BY id", (job.id,)
            )
        ]

    def attempt_lines(
        self, queue: Queue
    ) -> list[tuple[str, int, str | None, str, float, int | None]]:
        """The start and finish lines of the history of every job of
        ``queue``, oldest first: ``(job, attempt, host, state, time, exit
        code)`` (see :func:`meshq.summary.attempts_from_events`)."""
        states = [Status.START.value, *(s.value for s in FINISHED)]
        rows = self.conn.execute(
            "SELECT jobs.name, events.attempt, events.host, events.new, events.time, "
            "events.exit_code FROM events JOIN jobs ON jobs.id = events.job_id "
            f"WHERE jobs.queue_id = ? AND events.new IN ({','.join('?' * len(states))}) "
            "ORDER BY events.id",
            (queue.id, *states),
        )
        return [tuple(r) for r in rows]

    def last_event_time(self, job: Job) -> float:
        """When the job's state last changed (epoch seconds)."""
        row = self.conn.execute(
            "SELECT max(time) AS t FROM events WHERE job_id = ?", (job.id,)
        ).fetchone()
        return float(row["t"]) if row and row["t"] is not None else job.submitted

    def set_job_fields(self, jobs: Sequence[Job], values: Mapping[str, object]) -> None:
        """Set ``values`` (fields of :data:`SETTABLE_FIELDS`) on ``jobs`` in
        one ``UPDATE`` guarded by their states: every one of them must be
        waiting or finished, else nothing changes and a
        :class:`TransitionError` names what was running."""
        if not values or set(values) - SETTABLE_FIELDS:
            raise ValueError(f"a job setting is one of {sorted(SETTABLE_FIELDS)}")
        if not jobs:
            return
        ids = json.dumps([j.id for j in jobs])
        states = [s.value for s in _SETTABLE_STATES]
        sets = ", ".join(f'"{k}" = ?' for k in values)
        with transaction(self.conn) as c:
            done = c.execute(
                f"UPDATE jobs SET {sets} WHERE id IN (SELECT value FROM json_each(?)) "
                f"AND status IN ({','.join('?' * len(states))})",
                (*values.values(), ids, *states),
            )
            if done.rowcount != len(jobs):
                # one started (or went) since it was read: change none of them
                raise TransitionError(
                    f"{len(jobs) - done.rowcount} of the jobs started or went away meanwhile: "
                    "nothing was changed; try again"
                )

    def delete_jobs(self, jobs: Sequence[Job]) -> int:
        """Remove ``jobs`` and their history; returns how many were removed."""
        ids = [(j.id,) for j in jobs]
        with transaction(self.conn) as c:
            c.executemany("DELETE FROM events WHERE job_id = ?", ids)
            c.executemany("DELETE FROM jobs WHERE id = ?", ids)
        return len(ids)

    # -- status changes -------------------------------------------------------

    def peek(
        self,
        queue: Queue,
        statuses: frozenset[Status],
        limit: int,
        *,
        pinned_only: bool = False,
        only: Collection[int] | None = None,
    ) -> list[Job]:
        """The first ``limit`` jobs of ``queue`` in ``statuses`` (and among
        the ids ``only``, when given), in queue order, without claiming them
        (see :meth:`claim`)."""
        sts = [s.value for s in statuses]
        marks = ",".join("?" * len(sts))
        sql = f"{_JOB_SELECT} WHERE jobs.queue_id = ? AND jobs.status IN ({marks})"
        args: list[Any] = [queue.id, *sts]
        if pinned_only:
            sql += " AND jobs.host IS NOT NULL"
        if only is not None:
            sql += _ONLY.format(table="jobs.")
            args.append(json.dumps(sorted(only)))
        sql += _DEPS_MET
        rows = self.conn.execute(f"{sql} ORDER BY jobs.id LIMIT ?", (*args, limit))
        return [Job.from_row(r) for r in rows]

    def peek_names(
        self,
        queue: Queue,
        statuses: frozenset[Status],
        limit: int,
        host: str | None = None,
        *,
        only: Collection[int] | None = None,
    ) -> list[str]:
        """The names of the first ``limit`` jobs in ``statuses`` (pinned to
        ``host``, when given), in queue order: cheaper than :meth:`peek`."""
        sts = [s.value for s in statuses]
        marks = ",".join("?" * len(sts))
        sql = f"SELECT name FROM jobs WHERE queue_id = ? AND status IN ({marks}){_DEPS_MET}"
        args: list[Any] = [queue.id, *sts]
        if host is not None:
            sql += " AND host = ?"
            args.append(host)
        if only is not None:
            sql += _ONLY.format(table="")
            args.append(json.dumps(sorted(only)))
        rows = self.conn.execute(f"{sql} ORDER BY id LIMIT ?", (*args, limit))
        return [r["name"] for r in rows]

    def claim(
        self,
        placements: Sequence[tuple[Job, str | None, str | None]],
        *,
        placed: bool = False,
        run_id: int | None = None,
        detail: str | None = None,
        limits: Mapping[str, int] | None = None,
        scope: Queue | None = None,
        dead: Collection[int] = (),
        where: Mapping[str, Identity] | None = None,
    ) -> list[Job]:
        """Atomically move each ``(job, host, gpu)`` from waiting to ``run``
        on that host, with those GPUs.

        A job another run claimed meanwhile (no longer waiting) is left out of
        the result, so two runs of one queue never launch the same job. The
        claim is committed before this returns; each claimed job's attempt
        count goes up by one.

        With ``limits`` (slots per host), a placement is also left out when,
        counted inside this transaction, its host has no free slot or its GPUs
        are taken: jobs running there (of ``scope``'s queue, or of any queue)
        count, but for those of the ``dead`` runs. So two runs choosing at the
        same moment cannot both take the last slot.

        ``where`` gives, per host, as whom and where it runs jobs: recorded
        on each job claimed for it, so later operations reach it so again.
        """
        if not placements:
            return []
        now = time.time()
        claimed: list[int] = []
        updates: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        with transaction(self.conn) as c:
            # one statement reads every job's state, one executemany writes
            # them, one more their history: a fill of many jobs is one
            # transaction of a few statements, not three per job
            status_of = _statuses(c, [job.id for job, _, _ in placements])
            hosts = {host for _, host, _ in placements if host is not None}
            usage = self._usage(c, scope, dead, hosts) if limits is not None else None
            for job, host, gpu in placements:
                old = status_of.get(job.id)
                if old is None or Status(old) not in _CLAIMABLE:
                    continue
                if usage is not None and limits is not None and host is not None:
                    used, held = usage[0].get(host, 0), usage[1].setdefault(host, set())
                    # only --gpus=N holds its ids alone; --gpu=IDS may share them
                    wanted = set(gpu.split(",")) if gpu and job.gpus else set()
                    if used >= limits.get(host, used + 1) or wanted & held:
                        continue
                    usage[0][host] = used + 1
                    held.update(wanted)
                ident = _identity(where, host)
                updates.append(
                    (
                        host,
                        gpu,
                        int(_placed(job, host, placed)),
                        run_id,
                        ident.user,
                        ident.address,
                        ident.port,
                        job.id,
                        old,
                    )
                )
                events.append((now, old, detail or f"on {host}", job.id))
                status_of[job.id] = Status.RUN.value  # the same job twice: once
                claimed.append(job.id)
            c.executemany(
                f"UPDATE {_ON_CONFLICT} jobs SET status = 'run', attempts = attempts + 1, "
                "exit_code = NULL, "
                "pid = NULL, pstart = NULL, started = NULL, ended = NULL, error = NULL, "
                "signal = NULL, remote_id = NULL, remote_state = NULL, host = ?, gpu = ?, "
                "placed = ?, run_id = ?, run_user = ?, run_address = ?, run_port = ? "
                "WHERE id = ? AND status = ?",
                updates,
            )
            c.executemany(
                "INSERT INTO events (job_id, time, old, new, attempt, detail, host) "
                "SELECT id, ?, ?, 'run', attempts, ?, host FROM jobs WHERE id = ?",
                events,
            )
        won = set(claimed)
        return [
            job.evolve(
                placed=_placed(job, host, placed),
                run_id=run_id,
                status=Status.RUN,
                attempts=job.attempts + 1,
                host=host,
                gpu=gpu,
                exit_code=None,
                pid=None,
                pstart=None,
                started=None,
                ended=None,
                error=None,
                signal=None,
                remote_id=None,
                remote_state=None,
                run_user=_identity(where, host).user,
                run_address=_identity(where, host).address,
                run_port=_identity(where, host).port,
            )
            for job, host, gpu in placements
            if job.id in won
        ]

    @staticmethod
    def _usage(
        c: sqlite3.Connection, scope: Queue | None, dead: Collection[int], hosts: Collection[str]
    ) -> tuple[dict[str, int], dict[str, set[str]]]:
        """Running jobs on ``hosts`` and the GPU ids they hold, but for those
        of dead runs; of one queue, or of all. Only the hosts claimed for are
        read (through the ``(status, host)`` index): a claim on 3 of 1,000
        busy hosts reads their 48 running jobs, not all 16,000."""
        sql = (
            "SELECT host, gpu, gpus, run_id FROM jobs WHERE status IN ('run', 'start') "
            "AND host IN (SELECT value FROM json_each(?))"
        )
        args: tuple[object, ...] = (json.dumps(sorted(hosts)),)
        if scope is not None:
            sql += " AND queue_id = ?"
            args = (*args, scope.id)
        slots: dict[str, int] = {}
        gpus: dict[str, set[str]] = {}
        for row in c.execute(sql, args):
            if row["run_id"] in dead:
                continue
            slots[row["host"]] = slots.get(row["host"], 0) + 1
            if row["gpu"] and row["gpus"]:  # only --gpus=N holds its ids alone
                gpus.setdefault(row["host"], set()).update(row["gpu"].split(","))
        return slots, gpus

    def apply(self, changes: Sequence[Change], *, strict: bool = False) -> list[bool]:
        """Apply status changes in one transaction, each guarded by the
        transition table (and its attempt number, when given).

        Returns, per change, whether it was applied. A change that does not
        fit the job's current state is skipped, or with ``strict`` raises
        :class:`TransitionError` and rolls back every change.
        """
        for ch in changes:
            bad = set(ch.fields) - _CHANGE_FIELDS
            if bad:
                raise ValueError(f"fields a status change cannot set: {sorted(bad)}")
        now = time.time()
        applied: list[bool] = []
        with transaction(self.conn) as c:
            # each job's state is read once for the whole batch and followed
            # here as the changes apply, in order (a job may start and end in
            # one batch); the writes go in waves, the n-th change of each job
            # in wave n, each wave a few executemany calls
            rows = {
                r[0]: (r[1], r[2])
                for r in c.execute(
                    "SELECT id, status, attempts FROM jobs "
                    "WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps(sorted({ch.job_id for ch in changes})),),
                )
            }
            waves: list[list[tuple[Change, str, int]]] = []
            seen: dict[int, int] = {}
            for ch in changes:
                row = rows.get(ch.job_id)
                ok = (
                    row is not None
                    and ch.new in TRANSITIONS[Status(row[0])]
                    and (ch.attempt is None or ch.attempt == row[1])
                )
                if not ok:
                    if strict:
                        old = row[0] if row else "deleted"
                        raise TransitionError(
                            f"job {ch.job_id} is {old}: it cannot become {ch.new.value}"
                        )
                    applied.append(False)
                    continue
                assert row is not None
                wave = seen.get(ch.job_id, 0)
                seen[ch.job_id] = wave + 1
                if wave == len(waves):
                    waves.append([])
                waves[wave].append((ch, row[0], row[1]))
                rows[ch.job_id] = (ch.new.value, ch.fields.get("attempts", row[1]))
                applied.append(True)
            for wave_ in waves:
                _write_wave(c, wave_, now)
        return applied

    def set_remote(self, notes: Sequence[tuple[int, int, str, str]]) -> None:
        """Record, per ``(job id, attempt, remote id, remote state)``, a job's
        id and state on a host that queues jobs itself (a Slurm cluster).
        Not a status change: a note on the attempt, ignored once the job has
        moved on to another attempt."""
        if not notes:
            return
        with transaction(self.conn) as c:
            c.executemany(
                "UPDATE jobs SET remote_id = ?, remote_state = ? WHERE id = ? AND attempts = ?",
                [(rid, state, job_id, attempt) for job_id, attempt, rid, state in notes],
            )

    def note(self, job_id: int, detail: str, *, attempt: int, host: str | None) -> None:
        """Add a line to a job's history that changes nothing: something
        that happened to an earlier attempt (``attempt``, on ``host``),
        such as a second copy of a job found running after a partition."""
        with transaction(self.conn) as c:
            c.execute(
                "INSERT INTO events (job_id, time, old, new, attempt, detail, host) "
                "SELECT id, ?, status, status, ?, ?, ? FROM jobs WHERE id = ?",
                (time.time(), attempt, detail, host, job_id),
            )

    def active_jobs(
        self, queue: Queue | None = None, *, runs: Collection[int | None] | None = None
    ) -> list[Job]:
        """Jobs in ``run`` or ``start`` (of one queue, or of all); with
        ``runs``, only those whose ``run_id`` is one of them (None: no run)."""
        sql = f"{_JOB_SELECT} WHERE jobs.status IN ('run', 'start')"
        args: list[Any] = []
        if queue is not None:
            sql += " AND jobs.queue_id = ?"
            args.append(queue.id)
        if runs is not None:
            ids = [r for r in runs if r is not None]
            either = [f"jobs.run_id IN ({','.join('?' * len(ids))})"] if ids else []
            if None in runs:
                either.append("jobs.run_id IS NULL")
            sql += f" AND ({' OR '.join(either) or '0'})"
            args += ids
        return [Job.from_row(r) for r in self.conn.execute(sql + " ORDER BY jobs.id", args)]

    def active_runs(self, queue: Queue) -> set[int | None]:
        """The runs (``run_id``; None: none) that ``queue``'s jobs in ``run``
        or ``start`` were launched by: a few ids, where the jobs may be
        thousands (a read asks which of them no live run watches)."""
        return {
            run_id
            for (run_id,) in self.conn.execute(
                "SELECT DISTINCT run_id FROM jobs "
                "WHERE queue_id = ? AND status IN ('run', 'start')",
                (queue.id,),
            )
        }
