"""A Slurm cluster as a host, against a real single-node Slurm (slurmctld, slurmd,
munge; ``tests/support/slurm.py``): what the backend contract does not cover — how
Slurm's own word (pending reasons, refused submissions, node failures, its time
limit) becomes meshq's states, batching through arrays, the cluster's job cap, and a
manager killed between sbatch and its record of the job ids.

meshq runs on the login node here (``--login=local``); the contract suite runs the
SSH form as well (``tests/contract``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from meshq import Executor, HostKind, Meshq
from meshq.model import Status
from meshq.service import Service
from tests.support.pyenv import make_pyenv
from tests.support.slurm import GPUS, SlurmCluster

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(180)]

T = TypeVar("T")
HPC = "hpc"


def run(coro: Coroutine[Any, Any, T], timeout: float = 150.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def wait_until(check: Any, timeout: float = 60.0, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def Q() -> str:
    """A queue name of this test alone: Slurm keeps finished jobs (by name) for
    ten minutes, and the cluster is the session's."""
    return f"q{uuid.uuid4().hex[:10]}"


def meshq_for(tmp_path: Path, queue: str, **host: Any) -> Service:
    """A store with the session's cluster as host ``hpc`` and an empty queue."""
    m = Service(tmp_path / "meshq.db")
    m.add_hosts(HPC, kind="slurm", login="local", **host)
    m.create_queue(queue, str(tmp_path / "experiment"))
    return m


@pytest.fixture
def mq(tmp_path: Path, slurm: SlurmCluster, Q: str) -> Iterator[Service]:
    m = meshq_for(tmp_path, Q, max_jobs=1000)
    yield m
    m.close()


def our_jobs(slurm: SlurmCluster, queue: str) -> list[tuple[str, str]]:
    """(job id, state) of every job of ``queue`` in the cluster, finished ones too."""
    out = slurm.run("squeue", "-h", "-r", "-t", "all", "-n", f"meshq-{queue}", "-o", "%i|%T")
    return [tuple(line.split("|", 1)) for line in out.stdout.splitlines()]  # type: ignore[misc]


def run_fifo(mq: Service, queue: str, parallel: int = 100) -> None:
    result = run(mq.run_fifo(queue, max_parallel=parallel, check_interval=0.5))
    assert not result.interrupted


# -- states -----------------------------------------------------------------------


def test_exit_codes_and_slurm_agrees(mq: Service, slurm: SlurmCluster, Q: str) -> None:
    mq.add(Q, "ok", "echo fine", host=HPC)
    mq.add(Q, "bad", "echo no >&2; exit 3", host=HPC)
    run_fifo(mq, Q)
    ok, bad = mq.job(Q, "ok"), mq.job(Q, "bad")
    assert (ok.status, ok.exit_code) == (Status.END, 0)
    assert (bad.status, bad.exit_code, bad.signal) == (Status.FAIL, 3, None)
    # the batch job exits with the command's status: Slurm tells what meshq tells
    states = dict(our_jobs(slurm, Q))
    assert states[ok.remote_id or ""] == "COMPLETED"
    assert states[bad.remote_id or ""] == "FAILED"
    # and the run waited for Slurm's last word, which came after the logs' end lines
    assert (ok.remote_state, bad.remote_state) == ("COMPLETED", "FAILED")


def test_a_refused_submission_fails_to_start_with_slurms_message(mq: Service, Q: str) -> None:
    mq.add(Q, "gpu", "true", host=HPC, gpus=GPUS + 1)  # more than the node has
    run_fifo(mq, Q)
    job = mq.job(Q, "gpu")
    assert job.status is Status.FAIL_START
    assert job.error is not None and "Slurm refused it" in job.error
    assert "Requested node configuration is not available" in job.error, job.error
    # the job's log says so too, for a refresh after a crash
    files = mq.files(job)
    assert files is not None
    assert Path(files.log).read_text().startswith("fail_start 1 ")


def test_gpus_come_from_the_cluster(mq: Service, Q: str) -> None:
    # three jobs of two GPUs each on a node of four: Slurm runs two at once, gives
    # each its own GPUs, and starts the third once two are free
    mq.add(Q, "g[1-3]", 'echo "$CUDA_VISIBLE_DEVICES"; sleep 2', host=HPC, gpus=2)
    run_fifo(mq, Q)
    jobs = sorted(mq.jobs(Q), key=lambda j: j.started or 0)
    assert {j.status for j in jobs} == {Status.END}
    seen = []
    for job in jobs:
        files = mq.files(job)
        assert files is not None
        ids = Path(files.stdout).read_text().strip().split(",")
        assert len(ids) == 2 and set(ids) <= {str(i) for i in range(GPUS)}, ids
        seen.append(set(ids))
    assert not seen[0] & seen[1]  # the two that ran together had GPUs of their own
    first_end = min(j.ended or 0 for j in jobs[:2])
    assert (jobs[2].started or 0) >= first_end - 0.5


def test_meshq_timeout_becomes_a_longer_slurm_time_limit(
    mq: Service, slurm: SlurmCluster, Q: str
) -> None:
    mq.add(Q, "t", "sleep 30", host=HPC, timeout=2)

    async def go() -> str:
        runner = asyncio.create_task(mq.run_fifo(Q, max_parallel=1, check_interval=0.5))
        while not (job := mq.job(Q, "t")).remote_id:
            assert job.status in (Status.READY, Status.RUN), job
            await asyncio.sleep(0.05)
        limit = slurm.run("squeue", "-h", "-j", mq.job(Q, "t").remote_id or "", "-o", "%l")
        await runner
        return limit.stdout.strip()

    # 2 s + the wrapper's 5 s grace + a minute, rounded up to minutes
    assert run(go()) == "2:00"
    job = mq.job(Q, "t")
    assert (job.status, job.signal) == (Status.TIMEOUT, signal.SIGTERM)


def test_a_pending_job_shows_its_slurm_id_and_reason_and_can_be_killed(
    tmp_path: Path, slurm: SlurmCluster, Q: str
) -> None:
    mq = meshq_for(tmp_path, Q, sbatch_options=("--begin=now+1hour",))
    mq.add(Q, "later", "true", host=HPC)

    async def go() -> None:
        runner = asyncio.create_task(mq.run_fifo(Q, max_parallel=1, check_interval=0.5))
        while mq.job(Q, "later").remote_state != "PENDING (BeginTime)":
            await asyncio.sleep(0.05)
        job = mq.job(Q, "later")
        assert job.status is Status.RUN and job.remote_id and "_" in job.remote_id
        moved = await mq.kill(Q, "later")
        assert [(m.name, m.new) for m in moved] == [("later", Status.KILL)]
        await runner

    run(go())
    # cancelled while pending: Slurm forgets such an array task at once, or says
    # CANCELLED; either way nothing of the queue waits or runs there any more
    assert {s for _, s in our_jobs(slurm, Q)} <= {"CANCELLED"}
    mq.close()


def test_a_node_going_down_is_a_crash_and_the_retry_runs(
    mq: Service, slurm: SlurmCluster, Q: str
) -> None:
    # the first attempt runs until the node fails under it; the retry just ends
    mq.add(
        Q,
        "j",
        'if [ "$MESHQ_ATTEMPT" = 1 ]; then sleep 60; fi; echo "attempt $MESHQ_ATTEMPT"',
        host=HPC,
        retries=1,
    )

    async def go() -> None:
        runner = asyncio.create_task(mq.run_fifo(Q, max_parallel=1, check_interval=0.5))
        while mq.job(Q, "j").status is not Status.START:
            await asyncio.sleep(0.05)
        slurm.set_node("down", "meshq test: node failure")
        while mq.job(Q, "j").attempts < 2:
            await asyncio.sleep(0.1)
        # the node comes back by itself (ReturnToService=2); make sure of it
        if "down" in slurm.node_state():
            slurm.set_node("resume")
        await runner

    run(go())
    job = mq.job(Q, "j")
    assert (job.status, job.attempts) == (Status.END, 2), job.error
    history = mq.history(Q, "j")
    crash = next(e for e in history if e.new is Status.CRASH)
    assert crash.attempt == 1
    files = mq.files(job)
    assert files is not None and Path(files.stdout).read_text() == "attempt 2\n"
    details = " ".join(e.detail or "" for e in history)
    assert "NODE_FAIL" in details, details


@pytest.mark.timeout(240)
def test_slurms_own_time_limit_is_a_crash_saying_so(
    tmp_path: Path, slurm: SlurmCluster, Q: str
) -> None:
    # the 'short' partition allows one minute; Slurm ends the job 61-90 s in
    mq = meshq_for(tmp_path, Q, partition="short")
    mq.add(Q, "long", "sleep 300", host=HPC)
    result = run(mq.run_fifo(Q, max_parallel=1, check_interval=1.0), timeout=200)
    assert not result.interrupted
    job = mq.job(Q, "long")
    assert job.status is Status.CRASH
    assert job.error is not None and "TIMEOUT" in job.error and "time limit" in job.error
    mq.close()


# -- many jobs --------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_a_thousand_jobs_go_through_one_array(mq: Service, slurm: SlurmCluster, Q: str) -> None:
    mq.add(Q, "j[1-1000]", "true", host=HPC)
    t0 = time.monotonic()
    result = run(mq.run_fifo_multi(Q, check_interval=5.0), timeout=280)
    took = time.monotonic() - t0
    assert result.ok, result
    assert mq.counts(Q) == {Status.END: 1000}
    arrays = {rid.split("_")[0] for rid, _ in our_jobs(slurm, Q)}
    # one claim takes them all, and MaxArraySize (1001) lets one array hold them
    assert len(arrays) == 1, arrays
    assert len(our_jobs(slurm, Q)) == 1000
    print(f"1,000 jobs through Slurm in {took:.1f} s")


def test_max_jobs_allowed_caps_what_is_queued_in_the_cluster(
    tmp_path: Path, slurm: SlurmCluster, Q: str
) -> None:
    mq = meshq_for(tmp_path, Q, max_jobs=3)
    mq.add(Q, "j[1-9]", "sleep 0.5", host=HPC)
    most = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal most
        while not done.is_set():
            out = slurm.run("squeue", "-h", "-r", "-n", f"meshq-{Q}", "-o", "%i", check=False)
            most = max(most, len(out.stdout.split()))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        # fifo's --max_parallel is the queue's cap; the cluster's is lower
        run(mq.run_fifo(Q, max_parallel=9, check_interval=0.5))
    finally:
        done.set()
        watcher.join()
    assert mq.counts(Q) == {Status.END: 9}
    assert 1 <= most <= 3, most
    mq.close()


# -- a manager that crashed -------------------------------------------------------


def test_a_manager_killed_right_after_sbatch_submits_nothing_twice(
    mq: Service, slurm: SlurmCluster, tmp_path: Path, Q: str
) -> None:
    mq.add(Q, "j[1-5]", "sleep 1; echo done", host=HPC)
    args = [sys.executable, "-m", "meshq", "--db", str(tmp_path / "meshq.db")]
    crashed = subprocess.run(
        [*args, "queue", "run", "fifo", Q, "--max_parallel=5"],
        env={**os.environ, "MESHQ_FAULT": "slurm-after-sbatch"},
        capture_output=True,
        timeout=60,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    # Slurm took the jobs; the store never heard their ids
    assert len(our_jobs(slurm, Q)) == 5
    assert {(j.status, j.remote_id) for j in mq.jobs(Q)} == {(Status.RUN, None)}
    # the next run finds each job's id in its folder, and adopts it
    result = run(mq.run_fifo(Q, max_parallel=5, check_interval=0.5))
    assert result.ok, result
    jobs = mq.jobs(Q)
    assert {(j.status, j.attempts) for j in jobs} == {(Status.END, 1)}
    assert all(j.remote_id for j in jobs)
    assert len(our_jobs(slurm, Q)) == 5  # nothing was submitted again
    for job in jobs:
        files = mq.files(job)
        assert files is not None and Path(files.stdout).read_text() == "done\n"


def test_a_manager_killed_before_sbatch_leaves_jobs_to_submit_once(
    mq: Service, slurm: SlurmCluster, tmp_path: Path, Q: str
) -> None:
    mq.add(Q, "j[1-3]", "echo done", host=HPC)
    args = [sys.executable, "-m", "meshq", "--db", str(tmp_path / "meshq.db")]
    crashed = subprocess.run(
        [*args, "queue", "run", "fifo", Q, "--max_parallel=3"],
        env={**os.environ, "MESHQ_FAULT": "after-claim"},
        capture_output=True,
        timeout=60,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert our_jobs(slurm, Q) == []  # claimed, never submitted
    # the next run finds no trace of them in the cluster, fences each attempt
    # (so no late launch of it can ever start), and submits them again
    result = run(mq.run_fifo(Q, max_parallel=3, check_interval=0.5))
    assert result.ok, result
    assert {(j.status, j.attempts) for j in mq.jobs(Q)} == {(Status.END, 2)}
    assert len(our_jobs(slurm, Q)) == 3


def test_refresh_reads_back_jobs_that_ended_while_meshq_was_away(
    mq: Service, slurm: SlurmCluster, tmp_path: Path, Q: str
) -> None:
    mq.add(Q, "ok", "sleep 1", host=HPC)
    mq.add(Q, "bad", "sleep 1; exit 4", host=HPC)
    args = [sys.executable, "-m", "meshq", "--db", str(tmp_path / "meshq.db")]
    manager = subprocess.Popen(
        [*args, "queue", "run", "fifo", Q, "--max_parallel=2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: all(j.remote_id for j in mq.jobs(Q)), what="the submission")
    finally:
        manager.send_signal(signal.SIGKILL)
        manager.wait()
    wait_until(
        lambda: {s for _, s in our_jobs(slurm, Q)} <= {"COMPLETED", "FAILED"},
        what="the jobs to end in the cluster",
    )
    moved = run(mq.refresh(Q))
    assert sorted((m.name, m.new) for m in moved) == [("bad", Status.FAIL), ("ok", Status.END)]
    assert mq.job(Q, "bad").exit_code == 4


# -- sweeps and Python calls ----------------------------------------------------------


def test_each_array_task_of_a_sweep_sees_its_own_parameters(
    mq: Service, slurm: SlurmCluster, Q: str
) -> None:
    # four jobs in one sbatch array: each task reads its own launch fields
    # from the batch file (17 a job, the last its MESHQ_PARAM_* lines)
    values = ["0.1", "a b; $(id)", "x'y", ""]
    mq.sweep(
        Q,
        'printf "%s|%s|%s" "$MESHQ_PARAM_LR" "$MESHQ_PARAM_SEED" "$MESHQ_INDEX"',
        {"lr": values, "seed": [7]},
        name="s{index}",
        host=HPC,
    )
    run_fifo(mq, Q)
    jobs = sorted(mq.jobs(Q), key=lambda j: j.name)
    assert {j.status for j in jobs} == {Status.END}, [j.error for j in jobs]
    arrays = {(j.remote_id or "").split("_")[0] for j in jobs}
    assert len(arrays) == 1, arrays  # one submission
    for job in jobs:
        files = mq.files(job)
        assert files is not None
        lr = dict(job.params)["lr"]
        assert Path(files.stdout).read_text() == f"{lr}|7|{job.index}"
    assert sorted(dict(j.params)["lr"] for j in jobs) == sorted(values)


def where_it_ran(x: int) -> tuple[int, str, str]:
    return x * x, os.environ.get("SLURM_ARRAY_JOB_ID", ""), os.environ["MESHQ_JOB"]


def test_the_executor_runs_python_calls_as_slurm_jobs(
    tmp_path: Path, slurm: SlurmCluster, Q: str
) -> None:
    # the call file goes to the job folder through the login node (put), the
    # result comes back from it (read); Slurm runs the call
    with Meshq(tmp_path / "meshq.db", warn=lambda text: None) as api:
        api.add_hosts(HPC, kind=HostKind.SLURM, login="local", max_jobs=1000)
        with Executor(
            queue=Q,
            hosts=[HPC],
            mq=api,
            experiment=str(tmp_path / "exp"),
            pyenv=make_pyenv(tmp_path / "env"),
            by_value=[__name__],
        ) as ex:
            got = list(ex.map(where_it_ran, range(4), timeout=150))
        assert [x for x, _, _ in got] == [0, 1, 4, 9]
        assert all(array.isdigit() for _, array, _ in got), got
        jobs = api.jobs(Q)
        assert {j.status for j in jobs} == {Status.END}
        assert sorted(name for _, _, name in got) == sorted(j.name for j in jobs)
        assert all(j.host == HPC and j.remote_id for j in jobs)
        assert {(j.remote_id or "").split("_")[0] for j in jobs} == {got[0][1]}
