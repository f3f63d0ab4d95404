"""A fifo run over real processes on this machine, through the service layer."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from meshq.hosts.backend import HostKind
from meshq.hosts.local import LocalTransport
from meshq.hosts.registry import Target
from meshq.model import Status
from meshq.scheduler.engine import Runner
from meshq.scheduler.run import RunHost, RunResult
from meshq.service import Service

pytestmark = pytest.mark.timeout(90)
LOCAL = Target("localhost", HostKind.LOCAL)


@pytest.fixture
def mq(tmp_path: Path) -> Service:
    m = Service(tmp_path / "meshq.db")
    m.create_queue("q", str(tmp_path / "exp"))
    return m


def overlap(path: Path) -> int:
    """The most jobs that were running at one moment, from start/end lines."""
    points = []
    for line in path.read_text().splitlines():
        kind, stamp = line.split()
        points.append((float(stamp), 1 if kind == "start" else -1))
    running = peak = 0
    for _, delta in sorted(points, key=lambda p: (p[0], p[1])):
        running += delta
        peak = max(peak, running)
    return peak


def test_fifo_runs_every_ready_job_at_most_n_at_once(mq: Service, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    cmd = f"echo start $(date +%s.%N) >> {trace}; sleep 0.3; echo end $(date +%s.%N) >> {trace}"
    mq.add("q", "job[1-12]", cmd, host="localhost")
    result = asyncio.run(mq.run_fifo("q", max_parallel=3))
    assert result.ok and result.finished == {Status.END: 12}
    assert mq.counts("q") == {Status.END: 12}
    assert overlap(trace) == 3


def test_failures_are_kept_apart_from_successes(mq: Service) -> None:
    mq.add("q", "job[1-4]", 'exit "$((MESHQ_INDEX % 2))"', host="localhost")
    result = asyncio.run(mq.run_fifo("q", max_parallel=4))
    assert not result.ok
    assert {j.name: (j.status, j.exit_code) for j in mq.jobs("q")} == {
        "job1": (Status.FAIL, 1),
        "job2": (Status.END, 0),
        "job3": (Status.FAIL, 1),
        "job4": (Status.END, 0),
    }


def test_jobs_with_no_host_are_skipped_by_fifo(mq: Service) -> None:
    mq.add("q", "loose", "true")
    mq.add("q", "pinned", "true", host="localhost")
    result = asyncio.run(mq.run_fifo("q", max_parallel=2))
    assert result.skipped == {"loose": "no host"}
    assert mq.job("q", "loose").status is Status.UNDEFINED
    assert mq.job("q", "pinned").status is Status.END


def test_jobs_added_during_a_run_are_run_by_it(mq: Service) -> None:
    mq.add("q", "first", "sleep 0.5", host="localhost")

    async def go() -> None:
        run = asyncio.create_task(mq.run_fifo("q", max_parallel=2))
        await asyncio.sleep(0.2)
        other = Service(mq.store.path)  # a second terminal
        other.add("q", "late[1-3]", "true", host="localhost")
        result = await run
        assert result.finished == {Status.END: 4}

    asyncio.run(go())
    assert mq.counts("q") == {Status.END: 4}


def test_completion_is_recorded_as_it_happens(mq: Service) -> None:
    mq.add("q", "job[1-5]", "sleep 0.2", host="localhost")
    asyncio.run(mq.run_fifo("q", max_parallel=5, check_interval=30))
    for job in mq.jobs("q"):
        recorded = mq.store.last_event_time(job)
        assert job.ended is not None
        # no polling interval stands between the exit and the record
        assert recorded - job.ended < 2.0


def test_a_run_adopts_jobs_left_running_and_requeues_lost_launches(mq: Service) -> None:
    mq.add("q", "survivor", "sleep 0.5", host="localhost")
    mq.add("q", "lost", "true", host="localhost")

    async def crashed_run() -> None:
        # a run that launched one job, claimed another, then died
        q = mq.queue("q")
        survivor, lost = mq.store.jobs(q)
        [survivor] = mq.store.claim([(survivor, "localhost", None)])
        mq.store.claim([(lost, "localhost", None)])
        from meshq.hosts.agent import AgentBackend

        agent = AgentBackend(LocalTransport(), local=True)
        await agent.start()
        agent.launch(survivor)
        await agent.drain()
        await agent.close()

    asyncio.run(crashed_run())
    result = asyncio.run(mq.run_fifo("q", max_parallel=2, check_interval=0.2))
    assert mq.counts("q") == {Status.END: 2}
    lost = mq.history("q", "lost")
    assert [e.new for e in lost][-4:] == [Status.READY, Status.RUN, Status.START, Status.END]
    assert result.finished[Status.END] == 2


def test_stop_leaves_running_jobs_running(mq: Service, tmp_path: Path) -> None:
    mq.add("q", "job[1-4]", "sleep 1", host="localhost")

    async def go() -> RunResult:
        q = mq.queue("q")
        runner = Runner(mq.store, q, [RunHost("localhost", LOCAL, 2)], mode="fifo", max_parallel=2)
        task = asyncio.create_task(runner.run())
        deadline = time.monotonic() + 10
        while mq.counts("q").get(Status.START, 0) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        runner.stop()
        return await task

    result = asyncio.run(go())
    assert result.interrupted and result.still_running == 2
    assert mq.counts("q") == {Status.START: 2, Status.READY: 2}
    # the jobs finish on their own; a refresh records it
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        asyncio.run(mq.refresh("q"))
        if mq.counts("q").get(Status.END) == 2:
            break
        time.sleep(0.1)
    assert mq.counts("q") == {Status.END: 2, Status.READY: 2}


def folder(mq: Service, name: str) -> str:
    files = mq.files(mq.job("q", name))
    assert files is not None
    return files.folder


def test_kill_reset_and_delete(mq: Service, tmp_path: Path) -> None:
    mq.add("q", "job[1-2]", "sleep 30", host="localhost")

    async def go() -> None:
        q = mq.queue("q")
        runner = Runner(mq.store, q, [RunHost("localhost", LOCAL, 2)], mode="fifo", max_parallel=2)
        task = asyncio.create_task(runner.run())
        deadline = time.monotonic() + 10
        while mq.counts("q").get(Status.START, 0) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        moved = await mq.kill("q", "job1")
        assert [(m.name, m.new) for m in moved] == [("job1", Status.KILL)]
        await mq.reset("q", "job2", purge=True)
        await asyncio.wait_for(task, 20)

    asyncio.run(go())
    assert mq.job("q", "job1").status is Status.KILL
    assert mq.job("q", "job2").status is Status.READY
    assert not Path(folder(mq, "job2")).exists()
    job1_dir = Path(folder(mq, "job1"))
    asyncio.run(mq.delete("q", "job1"))
    assert [j.name for j in mq.jobs("q")] == ["job2"]
    assert not job1_dir.exists()
    asyncio.run(mq.delete("q"))
    assert mq.queues() == []
