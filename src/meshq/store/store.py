"""The state store: the only code in meshq that runs SQL.

Every status change goes through :meth:`Store.apply`, which checks it
against :data:`meshq.model.TRANSITIONS`, guards the ``UPDATE`` with the
status it read, and appends to the ``events`` history in the same
transaction. A change costs the same with 10 jobs or 1,000,000.

:class:`Store` is one class built from mixins, a module each: hosts
(:mod:`~meshq.store.hosts`), runs (:mod:`~meshq.store.runs`), ``--after``
(:mod:`~meshq.store.deps`), the seed's files (:mod:`~meshq.store.extras`),
the feed (:mod:`~meshq.store.feed`) and status changes
(:mod:`~meshq.store.transitions`). This module holds queues, and adding
and reading jobs.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from meshq.errors import AlreadyExists, NotFound, TransitionError, shown
from meshq.model import (
    FINISHED,
    WAITING,
    Event,
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
from meshq.store.jobrows import JOB_SELECT, ON_CONFLICT
from meshq.store.runs import RunLeases

# Change is imported from here (meshq.store.store) throughout meshq
from meshq.store.transitions import Change as Change
from meshq.store.transitions import StatusChanges
from meshq.validate import text

#: the column of each sort key (:mod:`meshq.ordering`): queue order is id order
_ORDER_COLUMNS = {**{k: k for k in SORT_KEYS}, "submitted": "id"}

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


class Store(HostInventory, RunLeases, Dependencies, Extras, Feed, StatusChanges):
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
                f'INSERT {ON_CONFLICT} INTO jobs (queue_id, name, "index", command, shell, '
                "directory, input, output, log, gpu, pyenv, user, host, timeout, status, "
                "submitted, gpus, "
                "retries, params) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except sqlite3.IntegrityError:
            # the rows this statement put in before the clash are still
            # there (it does not undo itself: ON_CONFLICT): look before them
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
        sql = [JOB_SELECT, "WHERE jobs.queue_id = ?"]
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
            f"{JOB_SELECT} WHERE jobs.queue_id = ? AND jobs.name = ?", (queue.id, name)
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
        row = self.conn.execute(f"{JOB_SELECT} WHERE jobs.id = ?", (job_id,)).fetchone()
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
