"""Remote jobs on real SSH hosts: kill and reset, logs (and following them), and the CLI
end to end.

The hosts are real ``sshd`` servers on 127.0.0.x logging in as another user (see
``tests/integration/ssh_helpers.py`` for what the tests can look at, and how they wait).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from meshq import paths
from meshq.errors import UsageError
from meshq.model import Job, Status
from meshq.service import Service
from tests.integration.ssh_helpers import (
    SSH_TEST_MARKS,
    finish,
    gate_wait,
    meshq_cli,
    ok,
    run,
)
from tests.support.scenarios import until
from tests.support.sshd import SshCluster, pid_alive

pytestmark = SSH_TEST_MARKS


# --------------------------------------------------------------------------------------
# 1. kill and reset on a remote host
# --------------------------------------------------------------------------------------


def test_kill_then_reset_a_remote_job(
    cluster3: SshCluster, mq: Service, home_experiment: str
) -> None:
    mq.add_hosts("mq1", max_jobs=2)
    mq.create_queue("placed", home_experiment)
    mq.create_queue("pinned", home_experiment)
    # the command's shell, a background child and the foreground sleep share its group
    cmd = 'cd "$MESHQ_JOB_DIR"; sleep 30 & echo $! > child.pid; echo $$ > shell.pid; sleep 30'
    mq.add("placed", "victim", cmd)  # no host: fifo_multi places it
    mq.add("pinned", "victim", cmd, host="mq1")  # pinned: fifo runs it there
    mq1 = cluster3.host("mq1")

    def pids(job: Job) -> list[int]:
        folder = mq1.local_path(paths.job_paths(job, local=False).folder)  # in mq1's user's home
        assert job.pid is not None
        return [job.pid, *(int((folder / f).read_text()) for f in ("shell.pid", "child.pid"))]

    def running(queue: str) -> bool:
        job = mq.job(queue, "victim")
        folder = mq1.local_path(paths.job_paths(job, local=False).folder)  # in mq1's user's home
        return job.status is Status.START and all(
            (folder / f).exists() and (folder / f).read_text().strip()
            for f in ("shell.pid", "child.pid")
        )

    async def scenario() -> None:
        runs = [
            asyncio.create_task(mq.run_fifo_multi("placed")),
            asyncio.create_task(mq.run_fifo("pinned", max_parallel=1)),
        ]
        for queue in ("placed", "pinned"):
            await until(lambda queue=queue: running(queue), f"{queue}/victim to run")
        jobs = {queue: mq.job(queue, "victim") for queue in ("placed", "pinned")}
        processes = {queue: pids(job) for queue, job in jobs.items()}
        for queue, job in jobs.items():
            assert job.host == "mq1"
            assert all(pid_alive(p) for p in processes[queue])
            # they run under mq1's sshd, not as children of this test
            assert set(processes[queue]) <= set(mq1.tagged_pids())

        other = Service(mq.store.path)  # a second terminal
        try:
            for queue in ("placed", "pinned"):
                moved = await other.kill(queue, "victim")
                assert [(m.name, m.old, m.new) for m in moved] == [
                    ("victim", Status.START, Status.KILL)
                ]
        finally:
            other.close()
        for queue in ("placed", "pinned"):
            assert mq.job(queue, "victim").status is Status.KILL
            await until(
                lambda queue=queue: not any(pid_alive(p) for p in processes[queue]),
                f"{queue}/victim's processes to die",
                timeout=15,
            )
        for task in runs:
            result = await finish(task, "the run")
            assert result.finished == {Status.KILL: 1}, result

        for queue in ("placed", "pinned"):
            folder = mq1.local_path(paths.job_paths(mq.job(queue, "victim"), local=False).folder)
            assert folder.is_dir()
            moved = await mq.reset(queue, "victim", purge=True)
            assert [m.new for m in moved] == [
                Status.UNDEFINED if queue == "placed" else Status.READY
            ]
            assert not folder.exists(), f"reset left {folder} on mq1"

    run(scenario())

    placed = mq.job("placed", "victim")
    assert (placed.status, placed.host, placed.placed) == (Status.UNDEFINED, None, False)
    pinned = mq.job("pinned", "victim")
    assert (pinned.status, pinned.host) == (Status.READY, "mq1")
    assert [e.new for e in mq.history("placed", "victim")] == [
        Status.UNDEFINED,
        Status.RUN,
        Status.START,
        Status.KILL,
        Status.UNDEFINED,
    ]


# --------------------------------------------------------------------------------------
# 2. logs
# --------------------------------------------------------------------------------------


def test_logs_of_remote_jobs_and_follow(
    cluster3: SshCluster, mq: Service, tmp_path: Path, home_experiment: str, shared_dir: Path
) -> None:
    mq.add_hosts("mq3", max_jobs=3)
    mq.create_queue("q", home_experiment)
    gate = shared_dir / "gate"
    mq.add("q", "talk", 'echo "out from $MESHQ_TEST_HOST"; echo "err from $MESHQ_TEST_HOST" >&2')
    slow = f'echo "line1 $MESHQ_JOB"; {gate_wait(gate)}; echo "line2 $MESHQ_JOB"'
    mq.add("q", "slow[1-2]", slow)

    async def read_all(name: str, **kw: Any) -> bytes:
        return b"".join([chunk async for chunk in mq.logs("q", name, **kw)])

    async def scenario() -> None:
        with pytest.raises(UsageError, match="has not run yet"):
            await read_all("talk")
        runner = asyncio.create_task(mq.run_fifo_multi("q"))

        # the API's follow, and the CLI's --follow, of running jobs
        api_seen: list[bytes] = []

        async def api_follow() -> None:
            async for chunk in mq.logs("q", "slow1", follow=True):
                api_seen.append(chunk)

        follower = asyncio.create_task(api_follow())
        cli = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "meshq",
            "--db",
            str(tmp_path / "db"),
            "queue",
            "logs",
            "q",
            "slow2",
            "--follow",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=cluster3.env(),
        )
        assert cli.stdout is not None and cli.stderr is not None
        try:
            first = await asyncio.wait_for(cli.stdout.readline(), 30)
            assert first == b"line1 slow2\n"
            await until(lambda: b"".join(api_seen) == b"line1 slow1\n", "slow1's first line")
            assert mq.job("q", "slow1").status is Status.START
            gate.touch()
            await finish(follower, "the API's follow")
            rest, errors = await asyncio.wait_for(cli.communicate(), 30)
            assert (await cli.wait(), rest) == (0, b"line2 slow2\n"), errors
        finally:
            if cli.returncode is None:
                cli.kill()
                await cli.wait()
        assert b"".join(api_seen) == b"line1 slow1\nline2 slow1\n"
        result = await finish(runner, "the run")
        assert result.ok

        assert await read_all("talk") == b"out from mq3\n"
        assert await read_all("talk", stderr=True) == b"err from mq3\n"
        assert await read_all("slow1") == b"line1 slow1\nline2 slow1\n"
        assert await read_all("slow1", stderr=True) == b""
        # following a job that has ended prints what it wrote and returns
        assert await read_all("talk", follow=True) == b"out from mq3\n"

    run(scenario())
    assert {j.host for j in mq.jobs("q")} == {"mq3"}


# --------------------------------------------------------------------------------------
# 3. the CLI, end to end
# --------------------------------------------------------------------------------------


def test_cli_end_to_end(cluster3: SshCluster, tmp_path: Path, home_experiment: str) -> None:
    db = tmp_path / "db"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return meshq_cli(db, cluster3, *args)

    def listed() -> dict[str, dict[str, Any]]:
        return {r["name"]: r for r in json.loads(ok(cli("hosts", "list", "-o", "json")))}

    def jobs(queue: str) -> dict[str, dict[str, Any]]:
        return {r["name"]: r for r in json.loads(ok(cli("queue", "list", queue, "-o", "json")))}

    assert "added host mq1 (1 slot(s))" in ok(cli("hosts", "add", "mq1"))
    added = ok(cli("hosts", "add", "mq[2-3]", "--max_jobs_allowed=2", "--gpus=0,1"))
    assert "added host mq2 (2 slot(s), GPUs 0,1)" in added and "mq3" in added
    hosts = listed()
    assert list(hosts) == ["mq1", "mq2", "mq3"]
    assert [(h["max_jobs_allowed"], h["gpu"], h["status"]) for h in hosts.values()] == [
        (1, [], "active"),
        (2, ["0", "1"], "active"),
        (2, ["0", "1"], "active"),
    ]
    assert all(h["last_probe"] is None for h in hosts.values())

    assert ok(cli("hosts", "probe")).splitlines() == ["mq1: ok", "mq2: ok", "mq3: ok"]
    assert all(h["last_probe"] is not None for h in listed().values())

    exp = home_experiment
    ok(cli("queue", "create", "Q", "--experiment", exp))
    ok(cli("queue", "add", "Q", "--name=job[1-5]", "--command=echo $MESHQ_TEST_HOST"))
    ok(cli("queue", "run", "fifo_multi", "Q", "--policy=smart"))
    ran = jobs("Q")
    assert all(r["status"] == "end" for r in ran.values()), ran
    # smart, slots 1/2/2 in inventory order: the most free first, ties to the first host
    assert [ran[f"job{i}"]["host"] for i in range(1, 6)] == ["mq2", "mq3", "mq1", "mq2", "mq3"]
    for name, row in ran.items():
        assert ok(cli("queue", "logs", "Q", name)) == f"{row['host']}\n"

    assert "host mq1 disabled" in ok(cli("hosts", "disable", "mq1"))
    assert listed()["mq1"]["status"] == "disabled"
    ok(cli("queue", "create", "Q2", "--experiment", exp))
    ok(cli("queue", "add", "Q2", "--name=job[1-6]", "--command=echo $MESHQ_TEST_HOST"))
    ok(cli("queue", "run", "fifo_multi", "Q2"))
    ran = jobs("Q2")
    assert all(r["status"] == "end" for r in ran.values()), ran
    assert {r["host"] for r in ran.values()} == {"mq2", "mq3"}

    assert "host mq1 enabled" in ok(cli("hosts", "enable", "mq1"))
    assert listed()["mq1"]["status"] == "active"
    assert "host mq3 deleted" in ok(cli("hosts", "delete", "mq3"))
    assert list(listed()) == ["mq1", "mq2"]
    missing = cli("hosts", "delete", "mq3")
    assert missing.returncode != 0 and "no host 'mq3'" in missing.stderr
