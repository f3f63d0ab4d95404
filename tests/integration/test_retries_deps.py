"""Retries, dependencies, pausing and queue defaults, on real processes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from meshq.errors import NotFound, UsageError
from meshq.model import Status
from meshq.service import Service

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def mq(tmp_path: Path) -> Service:
    m = Service(tmp_path / "meshq.db", warn=lambda text: None)
    m.create_queue("q", str(tmp_path / "exp"))
    return m


def test_retries_rerun_a_failing_job_until_it_succeeds(mq: Service) -> None:
    mq.add("q", "flaky", '[ "$MESHQ_ATTEMPT" -ge 3 ]', host="localhost", retries=2)
    result = asyncio.run(mq.run_fifo("q", max_parallel=1))
    job = mq.job("q", "flaky")
    assert (job.status, job.attempts, job.exit_code) == (Status.END, 3, 0)
    assert result.ok and result.retried == 2
    # each attempt is in the history with its own exit code and host
    ends = [
        (e.attempt, e.new, e.exit_code, e.host)
        for e in mq.history("q", "flaky")
        if e.old is Status.START
    ]
    assert ends == [
        (1, Status.FAIL, 1, "localhost"),
        (2, Status.FAIL, 1, "localhost"),
        (3, Status.END, 0, "localhost"),
    ]


def test_retries_stop_at_their_limit_and_the_queue_default_applies(
    mq: Service, tmp_path: Path
) -> None:
    mq.create_queue("d", str(tmp_path / "exp"), retries=1)
    mq.add("d", "bad", "exit 3", host="localhost")
    mq.add("d", "never", "exit 3", host="localhost", retries=0)
    result = asyncio.run(mq.run_fifo("d", max_parallel=2))
    assert mq.job("d", "bad").attempts == 2 and mq.job("d", "bad").status is Status.FAIL
    assert mq.job("d", "never").attempts == 1
    assert not result.ok and result.retried == 1


def test_a_kill_is_not_retried(mq: Service) -> None:
    mq.add("q", "victim", "sleep 30", host="localhost", retries=3)

    async def go() -> None:
        run = asyncio.create_task(mq.run_fifo("q", max_parallel=1))
        deadline = time.monotonic() + 10
        while mq.job("q", "victim").status is not Status.START and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await mq.kill("q", "victim")
        await asyncio.wait_for(run, 20)

    asyncio.run(go())
    assert mq.job("q", "victim").status is Status.KILL
    assert mq.job("q", "victim").attempts == 1


def test_timeouts_are_retried_and_the_queue_default_time_limit_applies(
    mq: Service, tmp_path: Path
) -> None:
    mq.create_queue("t", str(tmp_path / "exp"), timeout=0.5, retries=1)
    mq.add("t", "slow", "sleep 30", host="localhost")
    t0 = time.monotonic()
    asyncio.run(mq.run_fifo("t", max_parallel=1))
    job = mq.job("t", "slow")
    assert (job.status, job.attempts) == (Status.TIMEOUT, 2)
    assert time.monotonic() - t0 < 20


def test_after_waits_for_its_jobs_to_end_well(mq: Service, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    mq.add("q", "prep[1-2]", f"sleep 0.3; echo $MESHQ_JOB >> {trace}", host="localhost")
    mq.add("q", "train[1-3]", f"echo $MESHQ_JOB >> {trace}", host="localhost", after="prep[1-2]")
    result = asyncio.run(mq.run_fifo("q", max_parallel=4))
    assert result.ok and mq.counts("q") == {Status.END: 5}
    order = trace.read_text().split()
    assert set(order[:2]) == {"prep1", "prep2"} and set(order[2:]) == {"train1", "train2", "train3"}
    assert mq.dependencies("q", "train1") == [("prep1", Status.END), ("prep2", Status.END)]


def test_a_failed_dependency_skips_its_dependents_in_a_chain(mq: Service) -> None:
    mq.add("q", "a", "exit 1", host="localhost")
    mq.add("q", "b", "true", host="localhost", after="a")
    mq.add("q", "c", "true", host="localhost", after="b")
    mq.add("q", "free", "true", host="localhost")
    result = asyncio.run(mq.run_fifo("q", max_parallel=2))
    states = {j.name: j.status for j in mq.jobs("q")}
    assert states == {"a": Status.FAIL, "b": Status.SKIP, "c": Status.SKIP, "free": Status.END}
    assert "waits for a, which ended fail" in (mq.job("q", "b").error or "")
    assert "waits for b, which ended skip" in (mq.job("q", "c").error or "")
    assert not result.ok and result.finished[Status.SKIP] == 2
    # the dependency retried into success: its dependents run after a reset
    asyncio.run(mq.reset("q", "a,b,c"))
    assert mq.job("q", "b").status is Status.READY


def test_a_dependency_that_will_be_retried_does_not_skip_yet(mq: Service) -> None:
    mq.add("q", "a", '[ "$MESHQ_ATTEMPT" -ge 2 ]', host="localhost", retries=1)
    mq.add("q", "b", "true", host="localhost", after="a")
    asyncio.run(mq.run_fifo("q", max_parallel=2))
    assert mq.counts("q") == {Status.END: 2}


def test_after_is_checked_when_adding(mq: Service) -> None:
    mq.add("q", "a", "true")
    with pytest.raises(UsageError, match="cannot wait for itself"):
        mq.add("q", "b[1-2]", "true", after="b1")
    with pytest.raises(NotFound, match="does not have"):
        mq.add("q", "c", "true", after="zzz")
    assert [j.name for j in mq.jobs("q")] == ["a"]


def test_pause_stops_launches_and_resume_lets_the_run_go_on(mq: Service, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    mq.add("q", "first", f"while [ ! -e {gate} ]; do sleep 0.05; done", host="localhost")
    mq.add("q", "rest[1-3]", "true", host="localhost")

    async def go() -> None:
        run = asyncio.create_task(mq.run_fifo("q", max_parallel=1))
        deadline = time.monotonic() + 10
        while mq.job("q", "first").status is not Status.START and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        mq.pause("q")
        gate.touch()
        while mq.job("q", "first").status is not Status.END and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        # paused: the running job finished, nothing new started
        await asyncio.sleep(0.3)
        assert mq.counts("q") == {Status.END: 1, Status.READY: 3}
        # the run waits while the queue is paused, and goes on once resumed
        assert not run.done()
        mq.resume("q")
        result = await asyncio.wait_for(run, 10)
        assert result.ok and not result.paused

    asyncio.run(go())
    assert mq.counts("q") == {Status.END: 4}


def test_a_job_file_adds_all_its_jobs_in_one_go(mq: Service, tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "jobs:\n"
        "  - name: prep\n    command: echo prep\n    host: localhost\n"
        "  - name: train[1-3]\n    command: echo $MESHQ_INDEX\n    host: localhost\n"
        "    after: prep\n    retries: 2\n    timeout: 60\n"
    )
    assert mq.add_file("q", str(path)) == ["prep", "train1", "train2", "train3"]
    train = mq.job("q", "train2")
    assert (train.retries, train.timeout) == (2, 60.0)
    asyncio.run(mq.run_fifo("q", max_parallel=2))
    assert mq.counts("q") == {Status.END: 4}
    # a mistake in the last entry adds nothing of the file
    bad = tmp_path / "bad.yaml"
    bad.write_text("- name: x1\n  command: true\n- name: x2\n  command: true\n  after: nope\n")
    with pytest.raises(NotFound):
        mq.add_file("q", str(bad))
    assert len(mq.jobs("q")) == 4


@pytest.mark.ssh
def test_a_retry_prefers_a_host_where_the_job_has_not_failed(
    make_ssh_cluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
    home_experiment: str,
) -> None:
    cluster = make_ssh_cluster(2)
    monkeypatch.setenv("MESHQ_SSH_CONFIG", str(cluster.ssh_config))
    mq = Service(tmp_path / "db", warn=lambda text: None)
    mq.add_hosts("mq1", max_jobs=2)
    mq.add_hosts("mq2", max_jobs=2)
    # under the local home, as a user's queue: meshq puts it under each host's home
    mq.create_queue("q", home_experiment)
    # works only on mq2; sequential placement tries mq1 first
    mq.add("q", "picky", '[ "$MESHQ_TEST_HOST" = mq2 ]', retries=1)
    result = asyncio.run(mq.run_fifo_multi("q", policy="sequential"))
    job = mq.job("q", "picky")
    assert (job.status, job.host, job.attempts) == (Status.END, "mq2", 2)
    hosts = [e.host for e in mq.history("q", "picky") if e.new is Status.RUN]
    assert hosts == ["mq1", "mq2"]
    assert result.ok and result.retried == 1
