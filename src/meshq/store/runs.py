"""Runs and their leases: which process is running a queue right now."""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections import Counter

from meshq.model import Queue
from meshq.store.connection import transaction

#: a run that has not renewed its lease for this long is taken as dead (s)
LEASE = 15.0


class RunLeases:
    """Run rows: started, renewed, ended, and asked whether still alive."""

    conn: sqlite3.Connection

    def start_run(self, queue: Queue) -> int:
        """Record a run of ``queue`` by this process; its id."""
        now = time.time()
        with transaction(self.conn) as c:
            cur = c.execute(
                "INSERT INTO runs (queue_id, pid, hostname, started, heartbeat) "
                "VALUES (?, ?, ?, ?, ?)",
                (queue.id, os.getpid(), socket.gethostname(), now, now),
            )
        return int(cur.lastrowid or 0)

    def renew_run(self, run_id: int) -> None:
        with transaction(self.conn) as c:
            c.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (time.time(), run_id))

    def end_run(self, run_id: int) -> None:
        with transaction(self.conn) as c:
            c.execute("UPDATE runs SET ended = ? WHERE id = ?", (time.time(), run_id))

    def other_live_runs(self, queue: Queue, run_id: int) -> int:
        """How many runs of ``queue`` other than ``run_id`` are alive."""
        rows = self.conn.execute(
            "SELECT id FROM runs WHERE queue_id = ? AND id != ? AND ended IS NULL",
            (queue.id, run_id),
        ).fetchall()
        return sum(1 for r in rows if self.run_alive(r["id"]))

    def run_alive(self, run_id: int | None) -> bool:
        """Whether run ``run_id`` may still be launching and watching jobs:
        not ended, lease renewed lately, and (on this machine) its process
        still there."""
        if run_id is None:
            return False
        row = self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None or row["ended"] is not None:
            return False
        if time.time() - row["heartbeat"] > LEASE:
            return False
        if row["hostname"] == socket.gethostname():
            return pid_alive(row["pid"])
        return True

    def other_runs_since(self, run_id: int, since: float, dead: set[int]) -> tuple[bool, set[int]]:
        """Whether the slots other runs hold may have changed since ``since``
        (wall time): another run is alive, or ended (or was found dead) since
        then; and the runs found dead now that ``dead`` did not hold yet.

        Reads the runs table only (a few rows), so a run can skip reading
        every running job when it is the only one."""
        rows = self.conn.execute(
            "SELECT id, ended FROM runs WHERE id != ? AND (ended IS NULL OR ended >= ?)",
            (run_id, since),
        ).fetchall()
        changed = False
        found: set[int] = set()
        for row in rows:
            if row["id"] in dead:
                continue
            changed = True
            if row["ended"] is None and not self.run_alive(row["id"]):
                found.add(row["id"])
        return changed, found

    def others_by_host(
        self, run_id: int, queue: Queue | None = None, dead: set[int] | None = None
    ) -> tuple[Counter[str], dict[str, set[str]], set[int]]:
        """Jobs that other live runs (of ``queue``, or of any queue) have
        running, per host, the GPU ids they hold, and the runs found dead
        (``dead`` is what the caller knows already: a dead run stays dead)."""
        slots: Counter[str] = Counter()
        gpus: dict[str, set[str]] = {}
        dead = set(dead or ())
        alive: set[int | None] = set()
        sql = (
            "SELECT host, gpu, gpus, run_id FROM jobs WHERE status IN ('run', 'start') "
            "AND host IS NOT NULL AND (run_id IS NULL OR run_id != ?)"
        )
        args: tuple[int, ...] = (run_id,)
        if queue is not None:
            sql += " AND queue_id = ?"
            args = (run_id, queue.id)
        for row in self.conn.execute(sql, args):
            owner = row["run_id"]
            if owner in dead:
                continue
            if owner not in alive:
                if not self.run_alive(owner):
                    if owner is not None:
                        dead.add(owner)
                    continue
                alive.add(owner)
            slots[row["host"]] += 1
            if row["gpu"] and row["gpus"]:  # only --gpus=N holds its ids alone
                gpus.setdefault(row["host"], set()).update(row["gpu"].split(","))
        return slots, gpus, dead

    def adopt(self, job_ids: list[int], run_id: int) -> None:
        """Make ``run_id`` the run of these jobs (left by a run that died)."""
        with transaction(self.conn) as c:
            c.executemany("UPDATE jobs SET run_id = ? WHERE id = ?", [(run_id, i) for i in job_ids])


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
