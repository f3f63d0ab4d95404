"""Status changes: the store's part that moves jobs from state to state.

Every status change goes through :meth:`StatusChanges.apply` (or, from
waiting to ``run``, :meth:`StatusChanges.claim`), which checks it against
:data:`meshq.model.TRANSITIONS`, guards the ``UPDATE`` with the status it
read, and appends to the ``events`` history in the same transaction. A
change costs the same with 10 jobs or 1,000,000. Here too: the reads of
the jobs a run is about to claim or is running.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from meshq.errors import TransitionError
from meshq.model import TRANSITIONS, Identity, Job, Queue, Status
from meshq.store.connection import transaction
from meshq.store.jobrows import JOB_SELECT, ON_CONFLICT

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
#: fields a status change may set besides the status itself
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
            f"UPDATE {ON_CONFLICT} jobs SET status = ?{sets} WHERE id = ? AND status = ?", args
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


class StatusChanges:
    """Job rows moving from state to state: peeked at, claimed, changed,
    noted, and read while they run."""

    conn: sqlite3.Connection

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
        sql = f"{JOB_SELECT} WHERE jobs.queue_id = ? AND jobs.status IN ({marks})"
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
                f"UPDATE {ON_CONFLICT} jobs SET status = 'run', attempts = attempts + 1, "
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
        sql = f"{JOB_SELECT} WHERE jobs.status IN ('run', 'start')"
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
