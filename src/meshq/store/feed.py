"""What a live view reads: the status history of every job after a cursor.

The events table is append-only and its ids only grow, so "what changed
since event N" is one range read on the primary key, however many jobs the
store holds: the dashboard's live stream asks it every second or so.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from meshq.model import Event, Status


@dataclass(frozen=True, slots=True)
class JobEvent:
    """A line of some job's history, with the job and queue it belongs to;
    ``id`` is the cursor to ask for the lines after it."""

    id: int
    queue: str
    job: str
    event: Event


class Feed:
    """Reads of the events table by cursor."""

    conn: sqlite3.Connection

    def last_event_id(self) -> int:
        """The id of the newest history line (0 when there is none)."""
        row = self.conn.execute("SELECT max(id) FROM events").fetchone()
        return int(row[0] or 0)

    def events_after(self, after: int, limit: int) -> list[JobEvent]:
        """Up to ``limit`` history lines of any job with an id above
        ``after``, oldest first (the lines of deleted jobs are gone)."""
        rows = self.conn.execute(
            "SELECT events.*, jobs.name AS job, queues.name AS queue FROM events "
            "JOIN jobs ON jobs.id = events.job_id JOIN queues ON queues.id = jobs.queue_id "
            "WHERE events.id > ? ORDER BY events.id LIMIT ?",
            (after, limit),
        )
        return [
            JobEvent(
                r["id"],
                r["queue"],
                r["job"],
                Event(
                    time=r["time"],
                    old=Status(r["old"]) if r["old"] else None,
                    new=Status(r["new"]),
                    attempt=r["attempt"],
                    detail=r["detail"],
                    host=r["host"],
                    exit_code=r["exit_code"],
                ),
            )
            for r in rows
        ]
