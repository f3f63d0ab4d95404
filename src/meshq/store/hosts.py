"""The host inventory's part of the store."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Sequence

from meshq.errors import AlreadyExists, NotFound, shown
from meshq.model import Host, HostStatus
from meshq.store.connection import transaction
from meshq.validate import text


class HostInventory:
    """Host rows: added, listed, probed, enabled, disabled, deleted."""

    conn: sqlite3.Connection

    def add_hosts(self, hosts: Sequence[Host]) -> None:
        """Add hosts, all or none; :class:`AlreadyExists` if a name is taken."""
        try:
            with transaction(self.conn) as c:
                self._insert_hosts(c, hosts)
        except sqlite3.IntegrityError:
            names = {h.name for h in hosts}
            taken = [
                r["name"] for r in self.conn.execute("SELECT name FROM hosts") if r["name"] in names
            ]
            raise AlreadyExists(
                f"host {taken[0] if taken else sorted(names)[0]!r} is in the inventory already: "
                "delete it first, or choose another name"
            ) from None

    def replace_host(self, host: Host) -> None:
        """Store ``host``'s settings (address, user, port, slots, cpus, GPU
        ids, pyenv, host key check) over those of the host of its name;
        its status and last probe stay."""
        with transaction(self.conn) as c:
            done = c.execute(
                "UPDATE hosts SET address = ?, user = ?, port = ?, max_jobs = ?, cpus = ?, "
                "gpus = ?, pyenv = ?, check_host_key = ? WHERE name = ?",
                (
                    host.address,
                    host.user,
                    host.port,
                    host.max_jobs,
                    host.cpus,
                    ",".join(host.gpus) or None,
                    host.pyenv,
                    int(host.check_host_key),
                    host.name,
                ),
            )
            if done.rowcount != 1:
                raise NotFound(
                    f"no host {host.name!r} in the inventory",
                    kind="host",
                    name=host.name,
                    host=host.name,
                )

    @staticmethod
    def _insert_hosts(c: sqlite3.Connection, hosts: Sequence[Host]) -> None:
        """Insert ``hosts`` inside the caller's transaction."""
        c.executemany(
            "INSERT INTO hosts (name, kind, address, user, port, max_jobs, cpus, gpus, "
            "pyenv, status, check_host_key, options) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    h.name,
                    h.kind,
                    h.address,
                    h.user,
                    h.port,
                    h.max_jobs,
                    h.cpus,
                    ",".join(h.gpus) or None,
                    h.pyenv,
                    h.status.value,
                    int(h.check_host_key),
                    json.dumps([list(o) for o in h.options]) if h.options else None,
                )
                for h in hosts
            ],
        )

    def hosts(self) -> list[Host]:
        """The inventory in the order hosts were added."""
        return [Host.from_row(r) for r in self.conn.execute("SELECT * FROM hosts ORDER BY id")]

    def host(self, name: str) -> Host:
        """The host called ``name``; :class:`NotFound` if there is none."""
        text(name, "the host name")
        row = self.conn.execute("SELECT * FROM hosts WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(
                f"no host {shown(name)} in the inventory", kind="host", name=name, host=name
            )
        return Host.from_row(row)

    def find_host(self, name: str) -> Host | None:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            return None
        row = self.conn.execute("SELECT * FROM hosts WHERE name = ?", (name,)).fetchone()
        return Host.from_row(row) if row else None

    def delete_host(self, name: str) -> None:
        self.host(name)
        with transaction(self.conn) as c:
            c.execute("DELETE FROM hosts WHERE name = ?", (name,))

    def set_host_status(
        self, name: str, status: HostStatus, error: str | None = None, probed: bool = False
    ) -> None:
        """Record a host's status (and, after a probe, when and what it said)."""
        with transaction(self.conn) as c:
            if probed:
                c.execute(
                    "UPDATE hosts SET status = ?, last_error = ?, last_probe = ? WHERE name = ?",
                    (status.value, error, time.time(), name),
                )
            else:
                c.execute(
                    "UPDATE hosts SET status = ?, last_error = ? WHERE name = ?",
                    (status.value, error, name),
                )

    def set_host_info(self, name: str, info: str | None) -> None:
        """Record what a host said of itself at a probe (see :attr:`Host.info`)."""
        with transaction(self.conn) as c:
            c.execute("UPDATE hosts SET info = ? WHERE name = ?", (info, name))

    def host_usage(self) -> tuple[Counter[str], dict[str, set[str]]]:
        """Across all queues: running jobs per host, and the GPU ids they hold."""
        slots: Counter[str] = Counter()
        gpus: dict[str, set[str]] = {}
        for row in self.conn.execute(
            "SELECT host, gpu FROM jobs WHERE status IN ('run', 'start') AND host IS NOT NULL"
        ):
            slots[row["host"]] += 1
            if row["gpu"]:
                gpus.setdefault(row["host"], set()).update(row["gpu"].split(","))
        return slots, gpus
