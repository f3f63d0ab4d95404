"""The public Python API as a user meets it: :class:`meshq.Meshq` from a plain
script and from inside a running event loop (a notebook), and
:class:`meshq.AsyncMeshq` in an asyncio program; typed results, errors
with fields and no CLI advice. Real stores, real jobs on this machine."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from meshq import (
    ArgumentError,
    AsyncJob,
    AsyncMeshq,
    Job,
    Meshq,
    MeshqError,
    NotFound,
    QueueSummary,
    Status,
    WaitTimeout,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def mq(tmp_path: Path) -> Iterator[Meshq]:
    with Meshq(tmp_path / "meshq.db", warn=lambda text: None) as handle:
        handle.create_queue("q", str(tmp_path / "exp"))
        yield handle


def test_a_plain_script_needs_no_asyncio(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from meshq import Meshq

        with Meshq(sys.argv[1]) as mq:
            mq.create_queue("sweep", sys.argv[2])
            mq.add("sweep", "job[1-3]", "echo out $MESHQ_INDEX; echo err >&2", host="localhost")
            result = mq.run_fifo("sweep", max_parallel=3)
            job = mq.job("sweep", "job2")
            print(result.ok, job.status, job.stdout().strip(), job.stderr().strip())
            print(type(job.ended).__name__, job.ended.tzinfo)
            print(sorted(s.value for s in mq.counts("sweep")), mq.queues()[0].name)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "db"), str(tmp_path / "exp")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True end out 2 err", "datetime UTC", "['end'] sweep"]
    assert done.stderr == ""


def test_results_are_typed_and_times_are_utc_datetimes(mq: Meshq) -> None:
    mq.add("q", "job[1-2]", "echo hi", host="localhost", timeout="1h", retries=1)
    result = mq.run_fifo("q", max_parallel=2)
    assert result.ok and result.ran == 2 and result.finished == {Status.END: 2}
    [summary] = mq.queues()
    assert isinstance(summary, QueueSummary)
    assert (summary.name, summary.total, summary.counts) == ("q", 2, {Status.END: 2})
    assert isinstance(summary.created, datetime) and summary.created.tzinfo is UTC
    job = mq.job("q", "job1")
    assert isinstance(job, Job)
    assert (job.status, job.exit_code, job.timeout, job.retries) == (Status.END, 0, 3600.0, 1)
    assert job.submitted <= job.started <= job.ended  # type: ignore[operator]
    assert job.ended is not None and job.ended.tzinfo is UTC
    assert job.runtime is not None and job.runtime.total_seconds() >= 0
    assert job.ok and job.done and job.stdout() == "hi\n"
    assert [c.new for c in job.history()] == [Status.READY, Status.RUN, Status.START, Status.END]
    assert job.history()[0].time.tzinfo is UTC
    assert job.to_dict()["ended"].endswith("Z")
    assert [j.name for j in mq.jobs("q", status="end")] == ["job1", "job2"]


def test_a_job_handle_waits_follows_and_kills(mq: Meshq) -> None:
    mq.add("q", "slow", "echo start; sleep 30", host="localhost")
    mq.add("q", "quick", "echo one; echo two", host="localhost")
    runner = threading.Thread(target=mq.run_fifo, args=("q", 2))
    runner.start()
    try:
        assert b"".join(mq.follow("q", "quick")) == b"one\ntwo\n"
        assert mq.job("q", "quick").wait(timeout=10).ok
        with pytest.raises(WaitTimeout) as waited:
            mq.job("q", "slow").wait(timeout=0.5, poll=0.1)
        assert (waited.value.queue, waited.value.job) == ("q", "slow")
        assert isinstance(waited.value, TimeoutError)
        assert mq.job("q", "slow").kill()
        assert mq.wait("q", "slow", timeout=10).status is Status.KILL
    finally:
        runner.join(timeout=20)
    assert not runner.is_alive()


def test_the_sync_api_works_inside_a_running_event_loop(mq: Meshq) -> None:
    """What a notebook does: plain calls from code that runs in a loop."""
    mq.add("q", "job1", "echo inside", host="localhost")

    async def cell() -> tuple[bool, str]:
        result = mq.run_fifo("q")  # no asyncio.run inside the running loop
        await asyncio.sleep(0)  # the caller's loop goes on afterwards
        return result.ok, mq.job("q", "job1").stdout()

    assert asyncio.run(cell()) == (True, "inside\n")


def test_a_meshq_called_from_its_own_loop_says_so(mq: Meshq) -> None:
    async def on_its_loop() -> None:
        mq.counts("q")

    with pytest.raises(MeshqError, match="its own event loop"):
        mq._portal.call(on_its_loop())


def test_a_closed_meshq_says_so(tmp_path: Path) -> None:
    handle = Meshq(tmp_path / "db")
    handle.close()
    handle.close()  # twice is fine
    with pytest.raises(MeshqError, match="closed"):
        handle.queues()


def test_the_async_api(tmp_path: Path) -> None:
    async def main() -> None:
        async with AsyncMeshq(tmp_path / "db", warn=lambda text: None) as amq:
            await amq.create_queue("q", str(tmp_path / "exp"))
            assert await amq.add("q", "a[1-2]", "echo $MESHQ_INDEX", host="localhost") == [
                "a1",
                "a2",
            ]
            run = asyncio.create_task(amq.run_fifo("q", max_parallel=2))
            job = await (await amq.job("q", "a2")).wait(timeout=20, poll=0.05)
            assert isinstance(job, AsyncJob)
            assert (job.status, await job.stdout()) == (Status.END, "2\n")
            assert (await run).ok
            assert [c.new for c in await job.history()][-1] is Status.END
            assert await amq.counts("q") == {Status.END: 2}
            assert [q.name for q in await amq.queues()] == ["q"]

    asyncio.run(main())


def test_a_misspelt_keyword_is_a_meshq_error_naming_the_right_one(mq: Meshq) -> None:
    with pytest.raises(ArgumentError, match=r"add\(\) has no argument 'hots': did you mean 'host'"):
        mq.add("q", "job1", "true", hots="localhost")  # type: ignore[call-arg]
    with pytest.raises(MeshqError, match="did you mean 'timeout'"):
        mq.add("q", "job1", "true", timout=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError):  # an ArgumentError is a TypeError too
        mq.jobs("q", bogus=1)  # type: ignore[call-arg]
    assert mq.jobs("q") == []  # nothing was added

    async def misspelt() -> None:
        async with AsyncMeshq(mq._async.service.store.path) as amq:
            await amq.run_fifo("q", max_paralel=2)  # type: ignore[call-arg]

    with pytest.raises(ArgumentError, match="did you mean 'max_parallel'"):
        asyncio.run(misspelt())


def test_errors_carry_their_data_and_no_command_line_advice(mq: Meshq) -> None:
    with pytest.raises(NotFound) as missing_queue:
        mq.jobs("nope")
    assert (missing_queue.value.kind, missing_queue.value.queue) == ("queue", "nope")
    with pytest.raises(NotFound) as missing_job:
        mq.job("q", "ghost")
    assert (missing_job.value.kind, missing_job.value.queue, missing_job.value.job) == (
        "job",
        "q",
        "ghost",
    )
    with pytest.raises(NotFound) as missing_host:
        mq.host("nohost")
    assert missing_host.value.host == "nohost"
    for err in (missing_queue.value, missing_job.value, missing_host.value):
        assert "meshq " not in str(err) and "see '" not in str(err), str(err)


def test_run_result_ok_says_what_happened(mq: Meshq) -> None:
    nothing = mq.run_fifo("q")
    assert nothing.ok and nothing.ran == 0  # nothing was there: nothing went wrong
    mq.add("q", "bad", "exit 3", host="localhost")
    failed = mq.run_fifo("q")
    assert not failed.ok and failed.finished == {Status.FAIL: 1}
    mq.add("q", "stranded", "true", host="nohost.invalid")
    stuck = mq.run_fifo("q")
    assert not stuck.ok and stuck.ran == 1  # it could not start: fail_start
    assert mq.job("q", "stranded").status is Status.FAIL_START


def test_a_sweep_is_one_call(mq: Meshq) -> None:
    names = mq.sweep(
        "q",
        "echo {lr} {seed} $MESHQ_PARAM_LR $MESHQ_INDEX",
        lr=[0.1, 0.01],
        seed=range(8),
        host="localhost",
        timeout=60,
    )
    assert len(names) == 16 and names[:2] == ["lr0.1-seed0", "lr0.1-seed1"]
    assert mq.run_fifo("q", max_parallel=4).ok
    job = mq.job("q", "lr0.01-seed7")
    assert job.params == {"lr": "0.01", "seed": "7"}
    assert job.stdout() == "0.01 7 0.01 16\n"
    assert job.to_dict()["params"] == {"lr": "0.01", "seed": "7"}
    named = mq.sweep("q", "true", name="run-{index}-{x}", x=["a", "b"], host="localhost")
    assert named == ["run-1-a", "run-2-b"]


def test_a_sweep_catches_a_misspelt_option(mq: Meshq) -> None:
    with pytest.raises(ArgumentError, match=r"parameter 'hots' takes a list.*the option 'host'"):
        mq.sweep("q", "echo {lr}", lr=[1, 2], hots="localhost")
    with pytest.raises(ArgumentError, match=r"'timout' takes a list.*the option 'timeout'"):
        mq.sweep("q", "echo {lr}", lr=[1, 2], timout=5)
    assert mq.jobs("q") == []


def test_a_forked_child_is_told_to_make_its_own_meshq(mq: Meshq) -> None:
    import os

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its Meshq's loop thread is in the parent
        try:
            mq.queues()
            message = b"no error"
        except MeshqError as err:
            message = str(err).encode()
        os.write(write, message)
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as answer:
        assert b"forked process" in answer.read()
    assert [q.name for q in mq.queues()] == ["q"]  # the parent's goes on
