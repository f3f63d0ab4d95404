"""The per-state job counts the store keeps with triggers (schema 9) always
equal a count of the jobs themselves: after adding, running (real processes),
failing, retrying, resetting, deleting jobs and queues, and after a
migration from a schema-8 store that already held jobs."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from meshq.model import JobSpec, Status
from meshq.names import expand
from meshq.service import Service
from meshq.store import Store
from tests.support.oldstore import store_at_schema

pytestmark = pytest.mark.timeout(120)


def counted(conn: sqlite3.Connection) -> dict[tuple[int, str], int]:
    """What the kept table says, states with no job left out."""
    return {
        (q, s): n for q, s, n in conn.execute("SELECT queue_id, status, n FROM job_counts") if n
    }


def recounted(conn: sqlite3.Connection) -> dict[tuple[int, str], int]:
    """The same, counted from the jobs."""
    return {
        (q, s): n
        for q, s, n in conn.execute(
            "SELECT queue_id, status, count(*) FROM jobs GROUP BY queue_id, status"
        )
    }


def assert_kept(store: Store) -> None:
    assert counted(store.conn) == recounted(store.conn)
    assert not store.conn.execute("SELECT 1 FROM job_counts WHERE n < 0").fetchall()


def test_counts_follow_every_change_a_queue_goes_through(tmp_path: Path) -> None:
    mq = Service(tmp_path / "meshq.db")
    store = mq.store
    mq.create_queue("q", str(tmp_path / "exp"))
    mq.create_queue("other", str(tmp_path / "exp2"))
    mq.add("q", "ok[1-6]", "true", host="localhost")
    mq.add("q", "bad[1-3]", "exit 3", host="localhost", retries="1")
    mq.add("q", "nowhere[1-2]", "true")  # no host: undefined
    mq.add("other", "x[1-4]", "true", host="localhost")
    assert_kept(store)
    assert mq.counts("q") == {Status.READY: 9, Status.UNDEFINED: 2}

    result = asyncio.run(mq.run_fifo("q", max_parallel=3))
    assert result.finished == {Status.END: 6, Status.FAIL: 3}
    assert mq.counts("q") == {Status.END: 6, Status.FAIL: 3, Status.UNDEFINED: 2}
    assert_kept(store)

    asyncio.run(mq.reset("q", status="fail"))
    assert mq.counts("q")[Status.READY] == 3
    assert_kept(store)
    assert asyncio.run(mq.delete("q", name="ok[1-2]")) == 2
    assert_kept(store)
    # a write no meshq command makes (a user's own SQL) is counted too
    store.conn.execute("UPDATE jobs SET status = 'ready' WHERE status = 'undefined'")
    assert mq.counts("q") == {Status.END: 4, Status.READY: 5}
    assert_kept(store)
    assert store.count_jobs(store.queue("q")) == 9
    assert store.count_jobs(store.queue("q"), [Status.READY, Status.END]) == 9
    assert store.count_jobs(store.queue("q"), [Status.FAIL]) == 0

    gone = store.queue("q").id
    asyncio.run(mq.delete("q"))  # the whole queue
    store.delete_jobs(store.jobs(store.queue("other"), names=["x1"]))
    assert mq.counts("other") == {Status.READY: 3}
    assert_kept(store)
    assert not store.conn.execute("SELECT 1 FROM job_counts WHERE queue_id = ?", (gone,)).fetchall()
    assert [(q.name, counts) for q, counts in store.queues()] == [("other", {Status.READY: 3})]
    mq.close()


def test_a_schema_8_store_with_jobs_gets_its_counts_when_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = store_at_schema(path, 8)
    conn.execute("INSERT INTO queues (id, name, experiment, created) VALUES (1, 'a', '/e', 0)")
    conn.execute("INSERT INTO queues (id, name, experiment, created) VALUES (2, 'b', '/e', 0)")
    rows = [(1, f"j{i}", "end" if i % 3 else "fail") for i in range(30)]
    rows += [(2, f"k{i}", "ready") for i in range(7)]
    conn.executemany(
        'INSERT INTO jobs (queue_id, name, status, "index", command, shell, output, log, '
        "submitted) VALUES (?, ?, ?, '', 'true', 'bash', 'o', 'l', 0)",
        rows,
    )
    conn.close()

    store = Store(path)
    assert_kept(store)
    assert store.counts(store.queue("a")) == {Status.END: 20, Status.FAIL: 10}
    assert store.counts(store.queue("b")) == {Status.READY: 7}
    # and they are kept from then on
    store.add_jobs(store.queue("b"), expand("m[1-5]"), JobSpec(command="true"), Status.READY)
    assert store.counts(store.queue("b")) == {Status.READY: 12}
    assert_kept(store)
    store.close()
