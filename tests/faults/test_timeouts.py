"""Guarantee 5: ``--timeout=SECONDS`` kills a job's whole process group, on
this machine and on an SSH host, and records it as ``timeout``.

The job starts children in the background, one of them deaf to SIGTERM (only
the SIGKILL meshq sends the group once the command is gone can end it), and
a grandchild; it writes their pids to a file, then waits for them. Zombies
count as dead: PID 1 here reaps nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest

from tests.faults.helpers import Cli, alive, group_members, pgid_of, q, wait_until
from tests.support.sshd import SshCluster

pytestmark = [pytest.mark.ssh, pytest.mark.timeout(90)]

QUEUE = "q"
LIMIT = 3  # s: the children are checked alive well before it fires
#: the job's own shell, a child, a child deaf to SIGTERM, a child shell and its child
PIDS_PER_JOB = 5


def _command(pids: Path) -> str:
    out = q(pids)
    return "; ".join(
        [
            f"echo $$ >> {out}",
            f"sleep 60 & echo $! >> {out}",
            f"(trap '' TERM; exec sleep 61) & echo $! >> {out}",
            f"bash -c 'sleep 62 & echo $! >> {out}; wait' & echo $! >> {out}",
            "wait",
        ]
    )


def _pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _all_started(path: Path) -> bool:
    return len(_pids(path)) == PIDS_PER_JOB


def test_timeout_kills_the_whole_process_group_on_local_and_ssh_hosts(
    cli: Cli, cluster: Callable[[int], SshCluster], home_experiment: str, shared_dir: Path
) -> None:
    hosts = cluster(1)
    cli.ok("hosts", "add", "localhost", "--max_jobs_allowed=1")
    cli.ok("hosts", "add", "mq1", "--max_jobs_allowed=1")
    cli.ok("queue", "create", QUEUE, f"--experiment={home_experiment}")
    # where each job's files really are: here, or in mq1's user's home
    experiment = {
        "localhost": Path(home_experiment),
        "mq1": hosts.host("mq1").real_path(home_experiment),
    }
    where = {"here": "localhost", "there": "mq1"}
    for name, host in where.items():
        cli.ok(
            "queue",
            "add",
            QUEUE,
            f"--name={name}",
            f"--host={host}",
            f"--command={_command(shared_dir / name)}",
            f"--timeout={LIMIT}",
        )

    run = cli.popen("queue", "run", "fifo_multi", QUEUE)
    groups: dict[str, int] = {}
    for name in where:
        path = shared_dir / name
        wait_until(partial(_all_started, path), 30, f"{name}'s processes to start")
        pids = _pids(path)
        assert all(alive(p) for p in pids), (name, pids)
        [pgid] = {pgid_of(p) for p in pids}  # all in one group: the job's
        assert pgid is not None
        groups[name] = pgid

    rc, _, err = cli.finish(run, timeout=60)
    assert rc == 1, err[-2000:]  # a job that timed out did not end well

    jobs = cli.jobs(QUEUE)
    for name, host in where.items():
        job = jobs[name]
        assert (job["status"], job["host"]) == ("timeout", host), job
        assert job["pid"] == groups[name], "the recorded pid leads the job's group"
        took = datetime.fromisoformat(job["ended"]) - datetime.fromisoformat(job["started"])
        assert LIMIT <= took.total_seconds() <= LIMIT + 5, (name, took)
        left = [p for p in _pids(shared_dir / name) if alive(p)]
        assert not left, f"{name} on {host}: processes left after the timeout: {left}"
        assert not group_members(groups[name]), f"{name}: its process group lives on"
        log = (experiment[host] / QUEUE / name / f"{name}.log").read_text().split("\n")
        assert any(line.startswith("timeout 1 ") for line in log), log
