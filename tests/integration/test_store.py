"""The state store against a real SQLite file."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest

from meshq.errors import AlreadyExists, NotFound, StoreError, TransitionError
from meshq.model import JobSpec, Status
from meshq.names import expand
from meshq.store import Change, Store
from meshq.store.schema import SCHEMA_VERSION
from tests.support.oldstore import store_at_schema


def test_store_is_wal_with_a_busy_timeout_and_the_current_schema(store: Store) -> None:
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_reopening_keeps_data_and_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    s = Store(path)
    s.create_queue("q", "/tmp/x")
    s.close()
    s = Store(path)
    assert s.queue("q").experiment == "/tmp/x"
    s.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    s.close()
    with pytest.raises(StoreError, match="upgrade meshq"):
        Store(path)


def test_a_schema_7_store_is_migrated_to_8_sweep_params_beside_slurm_ids(tmp_path: Path) -> None:
    # schema 7 is what main shipped (Slurm ids); 8 adds jobs.params
    assert SCHEMA_VERSION >= 8
    path = tmp_path / "old.db"
    conn = store_at_schema(path, 7)
    conn.close()
    s = Store(path)
    q = s.create_queue("q", "/e")
    s.add_jobs(q, expand("a"), JobSpec(command="true"), Status.READY)
    s.add_jobs(q, expand("b"), JobSpec(command="true", params=(("lr", "0.1"),)), Status.READY)
    s.conn.execute("UPDATE jobs SET remote_id = '12_0' WHERE name = 'a'")
    s.close()
    s = Store(path)
    assert s.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    a, b = s.job(q, "a"), s.job(q, "b")
    assert (a.remote_id, a.params) == ("12_0", ())
    assert (b.remote_id, b.params) == (None, (("lr", "0.1"),))
    s.close()


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable meshq store"):
        Store(path)


def test_queue_names_are_unique_and_unknown_ones_are_named(store: Store) -> None:
    store.create_queue("q", "/e")
    with pytest.raises(AlreadyExists) as twice:
        store.create_queue("q", "/e")
    assert (twice.value.kind, twice.value.name) == ("queue", "q")
    with pytest.raises(NotFound, match="no queue 'nope'") as missing:
        store.queue("nope")
    assert (missing.value.kind, missing.value.queue) == ("queue", "nope")


def test_add_is_all_or_nothing(store: Store, make_queue) -> None:  # type: ignore[no-untyped-def]
    q = make_queue(pattern="job[1-3]")
    with pytest.raises(AlreadyExists, match="job3"):
        store.add_jobs(q, expand("job[3-5]"), JobSpec(command="true"), Status.UNDEFINED)
    assert [j.name for j in store.jobs(q)] == ["job1", "job2", "job3"]
    # a clash after some rows went in (the statement itself does not undo
    # them, see store.jobrows.ON_CONFLICT): the transaction takes them back
    counts = store.counts(q)
    with pytest.raises(AlreadyExists, match="job1"):
        store.add_jobs(q, expand("job[0-5]"), JobSpec(command="true"), Status.UNDEFINED)
    assert [j.name for j in store.jobs(q)] == ["job1", "job2", "job3"]
    assert store.counts(q) == counts


def test_adding_100k_jobs_is_one_transaction(store: Store) -> None:
    q = store.create_queue("big", "/e")
    before = store.conn.total_changes
    t0 = time.perf_counter()
    store.add_jobs(q, expand("job[1-100000]"), JobSpec(command="true"), Status.UNDEFINED)
    elapsed = time.perf_counter() - t0
    assert store.counts(q) == {Status.UNDEFINED: 100_000}
    # one row per job, one history line per job, and (SQLite counts what
    # triggers write too) the kept count per job: nothing else was written
    assert store.conn.total_changes - before == 300_000
    assert elapsed < 30  # a sanity bound, not a benchmark (see bench/)


def test_each_job_records_its_creation_in_the_history(store: Store, make_queue) -> None:  # type: ignore[no-untyped-def]
    q = make_queue()
    events = store.events(store.job(q, "job2"))
    assert [(e.old, e.new, e.detail) for e in events] == [(None, Status.READY, "added")]


def test_apply_follows_the_transition_table(store: Store, make_queue) -> None:  # type: ignore[no-untyped-def]
    q = make_queue()
    job = store.job(q, "job1")
    assert store.apply([Change(job.id, Status.END)]) == [False]  # ready → end is not allowed
    with pytest.raises(TransitionError, match="cannot become end"):
        store.apply([Change(job.id, Status.END)], strict=True)
    [claimed] = store.claim([(job, "localhost", None)])
    assert claimed.status is Status.RUN and claimed.attempts == 1
    ok = store.apply(
        [
            Change(job.id, Status.START, {"pid": 42, "started": 1.0}, attempt=1),
            Change(job.id, Status.END, {"exit_code": 0, "ended": 2.0}, attempt=1),
        ]
    )
    assert ok == [True, True]
    done = store.job(q, "job1")
    assert (done.status, done.pid, done.exit_code) == (Status.END, 42, 0)
    history = [(e.old, e.new) for e in store.events(done)]
    assert history[-3:] == [
        (Status.READY, Status.RUN),
        (Status.RUN, Status.START),
        (Status.START, Status.END),
    ]


def test_a_late_report_from_an_old_attempt_is_ignored(store: Store, make_queue) -> None:  # type: ignore[no-untyped-def]
    q = make_queue()
    job = store.job(q, "job1")
    store.claim([(job, "localhost", None)])
    store.apply([Change(job.id, Status.FAIL_START, {"error": "x"}, attempt=1)])
    store.apply([Change(job.id, Status.READY)])
    store.claim([(store.job(q, "job1"), "localhost", None)])
    assert store.apply([Change(job.id, Status.START, {"pid": 1}, attempt=1)]) == [False]
    assert store.apply([Change(job.id, Status.START, {"pid": 2}, attempt=2)]) == [True]


def test_change_fields_are_limited(store: Store, make_queue) -> None:  # type: ignore[no-untyped-def]
    q = make_queue()
    with pytest.raises(ValueError, match="cannot set"):
        store.apply([Change(store.job(q, "job1").id, Status.RUN, {"command": "rm -rf /"})])


def _claim_all(path: str, queue: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    s = Store(path)
    q = s.queue(queue)
    mine = []
    while True:
        batch = s.peek(q, frozenset({Status.READY}), 5)
        if not batch:
            break
        mine += [j.name for j in s.claim([(j, "localhost", None) for j in batch])]
    out.put(mine)


def test_two_processes_claiming_one_queue_never_take_the_same_job(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    s = Store(path)
    q = s.create_queue("q", "/e")
    s.add_jobs(q, expand("job[1-400]"), JobSpec(command="true", host="localhost"), Status.READY)
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_claim_all, args=(str(path), "q", out)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    claimed = [n for r in results for n in r]
    assert len(claimed) == 400 and len(set(claimed)) == 400
    assert s.counts(q) == {Status.RUN: 400}


def test_list_filters(store: Store, make_queue) -> None:  # type: ignore[no-untyped-def]
    q = make_queue(pattern="job[1-12]")
    tens = ["job1", "job10", "job11", "job12"]
    assert [j.name for j in store.jobs(q, match=lambda n: n.startswith("job1"))] == tens
    assert [j.name for j in store.jobs(q, names=["job3", "job2"])] == ["job2", "job3"]
    assert store.jobs(q, statuses=[Status.END]) == []
    assert len(store.jobs(q, limit=5)) == 5


def test_delete_queue_removes_jobs_and_history(store: Store, make_queue) -> None:  # type: ignore[no-untyped-def]
    q = make_queue()
    store.delete_queue(q)
    assert store.queues() == []
    left = store.conn.execute("SELECT count(*) FROM events").fetchone()[0]
    assert left == 0


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute(
            'INSERT INTO jobs (queue_id, name, "index", command, shell, output, log, status,'
            " submitted) VALUES (999, 'x', 'x', 'true', 'bash', 'o', 'l', 'ready', 0)"
        )


def test_set_job_fields_is_one_update_guarded_by_the_states(store: Store) -> None:
    q = store.create_queue("q", "/e")
    store.add_jobs(q, expand("j[1-3]"), JobSpec(command="true", host="localhost"), Status.READY)
    jobs = store.jobs(q)
    store.set_job_fields(jobs, {"command": "echo new", "timeout": 60.0})
    assert {(j.command, j.timeout) for j in store.jobs(q)} == {("echo new", 60.0)}
    # a job that started since it was read: nothing changes, for any of them
    j2 = store.jobs(q)[1]
    assert store.apply([Change(j2.id, Status.RUN), Change(j2.id, Status.START)]) == [True, True]
    with pytest.raises(TransitionError, match="nothing was changed"):
        store.set_job_fields(jobs, {"command": "echo newer"})
    assert {j.command for j in store.jobs(q)} == {"echo new"}
    with pytest.raises(ValueError, match="job setting"):
        store.set_job_fields(jobs, {"status": "end"})


def _mark(store: Store, queue_id: int, status: str, where: str) -> None:
    """Put the jobs of a queue that ``where`` picks in ``status``, in SQL:
    the tests using it are about reads, not how jobs got to a state."""
    with store.conn:
        store.conn.execute(
            f"UPDATE jobs SET status = ? WHERE queue_id = ? AND {where}", (status, queue_id)
        )


def test_first_names_by_status_counts_every_job_and_names_the_first_few(
    store: Store,
    make_queue,  # type: ignore[no-untyped-def]
) -> None:
    q = make_queue(pattern="job[1-30]")
    other = make_queue(name="other", pattern="job[1-50]")
    _mark(store, q.id, "end", "name IN ('job3', 'job7', 'job8', 'job9', 'job20', 'job21', 'job22')")
    _mark(store, q.id, "run", "name = 'job30'")
    _mark(store, other.id, "fail", "1")
    got = store.first_names_by_status(q, 3)
    # states in the order of a job's life, counts whole, names the first in queue order
    assert list(got) == [Status.READY, Status.RUN, Status.END]
    assert got[Status.READY] == (22, ["job1", "job2", "job4"])
    assert got[Status.RUN] == (1, ["job30"])
    assert got[Status.END] == (7, ["job3", "job7", "job8"])
    # with room for every name, it is names_by_status with counts
    whole = store.first_names_by_status(q, 1000)
    assert {s: names for s, (_, names) in whole.items()} == store.names_by_status(q)
    assert all(n == len(names) for n, names in whole.values())
    assert store.first_names_by_status(other, 1) == {Status.FAIL: (50, ["job1"])}


def test_jobs_by_name_are_looked_up_in_the_index_with_states_and_a_limit(
    store: Store,
    make_queue,  # type: ignore[no-untyped-def]
) -> None:
    q = make_queue(pattern="job[1-2000]")
    make_queue(name="other", pattern="job[1-10],x1")
    _mark(store, q.id, "end", "id % 2 = 0")
    wanted = ["job1500", "job7", "job8", "x1", "nope", "job7"]
    # queue order, each once, only this queue's, unknown names left out
    assert [j.name for j in store.jobs(q, names=wanted)] == ["job7", "job8", "job1500"]
    ended = store.jobs(q, names=wanted, statuses=[Status.END])
    assert [(j.name, j.status) for j in ended] == [("job8", Status.END), ("job1500", Status.END)]
    assert [j.name for j in store.jobs(q, names=wanted, limit=1)] == ["job7"]
    # the lookup is by the (queue_id, name) index, not a scan of the queue
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)  # the SQL with its values bound
    store.jobs(q, names=["job7"], statuses=[Status.END])
    store.conn.set_trace_callback(None)
    (query,) = [sql for sql in statements if "json_each" in sql]
    plan = store.conn.execute(f"EXPLAIN QUERY PLAN {query}").fetchall()
    assert any("(queue_id=? AND name=?)" in row[-1] for row in plan), plan


def test_globs_are_matched_in_sql_as_fnmatch_reads_them(
    store: Store,
    make_queue,  # type: ignore[no-untyped-def]
) -> None:
    import fnmatch

    q = make_queue(pattern="job[1-120],run.a_1,run-b,Job7")
    make_queue(name="other", pattern="job[1-5]")
    names = [j.name for j in store.jobs(q)]
    for globs in (["job1*"], ["job?"], ["*_1", "run-?"], ["j*7"], ["*"], ["nothing*"]):
        want = [n for n in names if any(fnmatch.fnmatchcase(n, g) for g in globs)]
        assert [j.name for j in store.jobs(q, globs=globs)] == want, globs
    # a name or a glob: either selects the job; states still filter
    got = store.jobs(q, names=["job50", "Job7"], globs=["job11?"])
    assert [j.name for j in got] == [
        "job50",
        "job110",
        *(f"job11{i}" for i in range(1, 10)),
        "Job7",
    ]
    _mark(store, q.id, "end", "name = 'job115'")
    ended = store.jobs(q, names=["job50"], globs=["job11?"], statuses=[Status.END])
    assert [j.name for j in ended] == ["job115"]
