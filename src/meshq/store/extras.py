"""What the cloudmesh seed's files need from the store: store-wide settings
(the current jobset), the fields of those files meshq keeps without using
them (``extra``, a JSON object per queue, job and host, written back on
export), and adding a whole file's queue, hosts and jobs in one transaction.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshq.errors import AlreadyExists
from meshq.model import Host, JobSpec, Queue, Status
from meshq.names import Expanded
from meshq.store.connection import transaction

if TYPE_CHECKING:
    from meshq.store.store import Store


@dataclass(frozen=True, slots=True)
class NewJob:
    """One job as a file describes it: what ``queue add`` would store, its
    state (a file may record one that ended), its outcome, and the file's
    fields meshq keeps without using."""

    name: Expanded
    spec: JobSpec
    status: Status
    extra: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None
    error: str | None = None
    #: its host is the scheduler's choice (a reset forgets it)
    placed: bool = False


def _dump(extra: Mapping[str, Any] | None) -> str | None:
    return json.dumps(dict(extra), ensure_ascii=False) if extra else None


def _load(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


class Extras:
    """Settings, kept fields, and whole-file imports."""

    conn: sqlite3.Connection

    # -- settings -------------------------------------------------------------

    def setting(self, name: str) -> str | None:
        """The store-wide setting ``name`` (``None`` when unset)."""
        row = self.conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row["value"])

    def set_setting(self, name: str, value: str | None) -> None:
        """Set (or with ``None`` clear) the store-wide setting ``name``."""
        with transaction(self.conn) as c:
            if value is None:
                c.execute("DELETE FROM settings WHERE name = ?", (name,))
            else:
                c.execute(
                    "INSERT INTO settings (name, value) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (name, value),
                )

    # -- kept fields ----------------------------------------------------------

    def queue_extra(self, queue: Queue) -> dict[str, Any]:
        row = self.conn.execute("SELECT extra FROM queues WHERE id = ?", (queue.id,)).fetchone()
        return _load(row["extra"] if row else None)

    def set_queue_extra(self, queue: Queue, extra: Mapping[str, Any]) -> None:
        with transaction(self.conn) as c:
            c.execute("UPDATE queues SET extra = ? WHERE id = ?", (_dump(extra), queue.id))

    def write_beside(
        self, queue: Queue, key: str, produce: Callable[[], tuple[str, dict[str, Any]]]
    ) -> None:
        """Run ``produce`` (which reads the store and writes a file, returning
        its path and what to remember of it) under the store's write lock,
        and remember that as ``key`` of the queue's kept fields: so two
        processes writing the same file record what is really in it."""
        with transaction(self.conn) as c:
            path, value = produce()
            row = c.execute("SELECT extra FROM queues WHERE id = ?", (queue.id,)).fetchone()
            extra = _load(row["extra"] if row else None)
            extra[key] = {"file": path, **value}
            c.execute("UPDATE queues SET extra = ? WHERE id = ?", (_dump(extra), queue.id))

    def job_extras(self, queue: Queue) -> dict[int, dict[str, Any]]:
        """The kept fields of ``queue``'s jobs that have any, by job id."""
        return {
            r["id"]: _load(r["extra"])
            for r in self.conn.execute(
                "SELECT id, extra FROM jobs WHERE queue_id = ? AND extra IS NOT NULL", (queue.id,)
            )
        }

    def host_extras(self) -> dict[str, dict[str, Any]]:
        """The kept fields of the inventory's hosts that have any, by name."""
        return {
            r["name"]: _load(r["extra"])
            for r in self.conn.execute("SELECT name, extra FROM hosts WHERE extra IS NOT NULL")
        }

    def set_host_extra(self, name: str, extra: Mapping[str, Any]) -> None:
        with transaction(self.conn) as c:
            c.execute("UPDATE hosts SET extra = ? WHERE name = ?", (_dump(extra), name))

    def count_in(self, queue: Queue, statuses: Collection[Status], ids: Collection[int]) -> int:
        """How many of the jobs ``ids`` of ``queue`` are in ``statuses``."""
        sts = [s.value for s in statuses]
        row = self.conn.execute(
            "SELECT count(*) FROM jobs WHERE queue_id = ? AND id IN (SELECT value FROM "
            f"json_each(?)) AND status IN ({','.join('?' * len(sts))})",
            (queue.id, json.dumps(sorted(ids)), *sts),
        ).fetchone()
        return int(row[0])

    # -- whole files ----------------------------------------------------------

    def add_records(
        self,
        queue: Queue,
        records: Sequence[NewJob],
        hosts: Sequence[tuple[Host, Mapping[str, Any]]] = (),
    ) -> int:
        """Add ``hosts`` (new to the inventory) and ``records`` to ``queue``,
        all in one transaction: all or nothing."""
        with transaction(self.conn) as c:
            self._add_hosts_in(c, hosts)
            return self._add_jobs_in(c, queue, records)

    def import_hosts(self, hosts: Sequence[tuple[Host, Mapping[str, Any]]]) -> None:
        """Add ``hosts`` (new to the inventory) with their kept fields, all or none."""
        with transaction(self.conn) as c:
            self._add_hosts_in(c, hosts)

    def import_queue(
        self,
        queue: Mapping[str, Any],
        records: Sequence[NewJob],
        hosts: Sequence[tuple[Host, Mapping[str, Any]]] = (),
    ) -> Queue:
        """Create the queue ``queue`` describes (name, experiment and any of
        default_timeout, default_retries, paused, policy, extra) with its
        hosts and jobs, in one transaction; :class:`AlreadyExists` if a queue
        of that name exists."""
        name = queue["name"]
        with transaction(self.conn) as c:
            try:
                c.execute(
                    "INSERT INTO queues (name, experiment, created, default_timeout, "
                    "default_retries, paused, policy, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        queue["experiment"],
                        time.time(),
                        queue.get("default_timeout"),
                        queue.get("default_retries"),
                        int(bool(queue.get("paused"))),
                        queue.get("policy"),
                        _dump(queue.get("extra")),
                    ),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(
                    f"queue {name!r} exists already", kind="queue", name=name
                ) from None
            self._add_hosts_in(c, hosts)
            created = self._queue_in(c, name)
            self._add_jobs_in(c, created, records)
        return created

    def _queue_in(self, c: sqlite3.Connection, name: str) -> Queue:
        return Queue.from_row(c.execute("SELECT * FROM queues WHERE name = ?", (name,)).fetchone())

    def _add_hosts_in(
        self, c: sqlite3.Connection, hosts: Sequence[tuple[Host, Mapping[str, Any]]]
    ) -> None:
        store: Store = self  # type: ignore[assignment]
        store._insert_hosts(c, [h for h, _ in hosts])
        c.executemany(
            "UPDATE hosts SET extra = ? WHERE name = ?",
            [(_dump(extra), h.name) for h, extra in hosts if extra],
        )

    def _add_jobs_in(self, c: sqlite3.Connection, queue: Queue, records: Sequence[NewJob]) -> int:
        store: Store = self  # type: ignore[assignment]
        now = time.time()
        seen: set[str] = set()
        for record in records:
            if record.name.name in seen:
                raise AlreadyExists(f"the job {record.name.name!r} is given twice: give it once")
            seen.add(record.name.name)
            store._insert(c, queue, [record.name], record.spec, record.status, now)
            if record.extra or record.placed or record.exit_code is not None or record.error:
                c.execute(
                    "UPDATE jobs SET extra = ?, exit_code = ?, error = ?, placed = ? "
                    "WHERE queue_id = ? AND name = ?",
                    (
                        _dump(record.extra),
                        record.exit_code,
                        record.error,
                        int(record.placed),
                        queue.id,
                        record.name.name,
                    ),
                )
        return len(records)
