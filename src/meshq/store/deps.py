"""Dependencies between jobs (``--after``): which jobs a job waits for,
and which waiting jobs can never run because one of those failed."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from meshq.errors import NotFound, UsageError, shown
from meshq.model import FAILED, Job, Queue, Status


class Dependencies:
    """The ``deps`` table's part of the store."""

    conn: sqlite3.Connection

    def _dependencies(self, queue: Queue, after: Sequence[str], adding: set[str]) -> list[int]:
        """The ids of the jobs named in ``after``. Jobs must exist already:
        so no chain of --after can ever come back to where it began."""
        if not after:
            return []
        own = sorted(set(after) & adding)
        if own:
            raise UsageError(
                f"a job cannot wait for itself: {own[0]!r} is both added and named in --after"
            )
        found = {
            r["name"]: r["id"]
            for r in self.conn.execute(
                f"SELECT id, name FROM jobs WHERE queue_id = ? AND name IN "
                f"({','.join('?' * len(after))})",
                (queue.id, *after),
            )
        }
        missing = [n for n in after if n not in found]
        if missing:
            raise NotFound(
                f"--after names {shown(missing[0])}, which queue {queue.name!r} does not have: "
                "add the jobs a job waits for before it"
            )
        return [found[n] for n in after]

    def dependencies(self, job: Job) -> list[tuple[str, Status]]:
        """The jobs ``job`` waits for, with their states."""
        return [
            (r["name"], Status(r["status"]))
            for r in self.conn.execute(
                "SELECT p.name, p.status FROM deps d JOIN jobs p ON p.id = d.dep_id "
                "WHERE d.job_id = ? ORDER BY p.id",
                (job.id,),
            )
        ]

    def doomed(self, queue: Queue) -> list[tuple[int, str, Status]]:
        """Waiting jobs that depend on a job that finished badly: ``(job id,
        the dependency's name, its state)``, one row per such job."""
        failed = [s.value for s in FAILED]
        rows = self.conn.execute(
            "SELECT j.id AS id, min(p.name) AS dep, p.status AS status FROM jobs p "
            "JOIN deps d ON d.dep_id = p.id JOIN jobs j ON j.id = d.job_id "
            f"WHERE p.queue_id = ? AND p.status IN ({','.join('?' * len(failed))}) "
            "AND j.status IN ('ready', 'undefined') GROUP BY j.id",
            (queue.id, *failed),
        )
        return [(r["id"], r["dep"], Status(r["status"])) for r in rows]
