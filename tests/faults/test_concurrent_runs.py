"""Guarantee 2: two runs of one queue at once launch no job twice, and
together keep to each host's slots.

Each job appends ``start JOB ATTEMPT HOST TIME`` and ``end …`` lines to a
marker file: a name started twice is a double launch, and the most jobs
between a start and an end at one moment on one host must not exceed that
host's slots (the command's span lies inside the span its slot is held, so
the count can only be lower than the truth, never higher).

For both runs to take part for certain, the second starts while the first
holds slots it cannot fill more of (all jobs wait on a gate); neither a sleep
nor luck decides who runs what. The jobs then end on the same 0.1 s ticks of
the clock, so both runs look for free slots at the same moments, wave after
wave: a slot check that is not atomic with the claim shows up as an overlap.
A third test stops one of the two runs (Ctrl-C, which leaves its jobs
running) and checks that the other still counts those jobs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.helpers import (
    TICK_SLEEP,
    Cli,
    alive,
    assert_each_ran_once,
    ends,
    job_command,
    peak_overlap,
    starts,
    summary_counts,
    wait_until,
)
from tests.support.fixtures import shared_file
from tests.support.sshd import SshCluster

pytestmark = [pytest.mark.timeout(120)]

QUEUE = "q"


def _runs_of(cli: Cli) -> dict[str, int]:
    """Job name -> the run that claimed it, from ``queue list``."""
    return {n: j["run_id"] for n, j in cli.jobs(QUEUE).items()}


@pytest.mark.ssh
def test_two_fifo_multi_runs_at_once_launch_no_job_twice_and_keep_each_hosts_slots(
    cli: Cli, cluster: Callable[[int], SshCluster], home_experiment: str, shared_dir: Path
) -> None:
    cluster(2)
    slots = {"localhost": 2, "mq1": 2, "mq2": 2}
    for name, n in slots.items():
        cli.ok("hosts", "add", name, f"--max_jobs_allowed={n}")
    cli.ok("queue", "create", QUEUE, f"--experiment={home_experiment}")
    # the marker is appended to by jobs here (our user) and on the hosts (theirs)
    gate, marker = shared_dir / "gate", shared_file(shared_dir / "marker")
    names = [f"job{i}" for i in range(1, 241)]
    cli.ok(
        "queue",
        "add",
        QUEUE,
        "--name=job[1-240]",
        f"--command={job_command(marker, gate=gate, work=TICK_SLEEP)}",
    )

    # the first run starts without mq2: it fills localhost and mq1, then waits
    cli.ok("hosts", "disable", "mq2")
    first = cli.popen("queue", "run", "fifo_multi", QUEUE, "--policy=random")
    wait_until(lambda: len(starts(marker)) == 4, 60, "the first run to fill its 4 slots")
    # the second, with mq2 back, can only take mq2's slots: the others are the first's
    cli.ok("hosts", "enable", "mq2")
    second = cli.popen("queue", "run", "fifo_multi", QUEUE, "--policy=random")
    wait_until(lambda: len(starts(marker)) == 6, 60, "the second run to fill mq2")
    assert {m.host for m in starts(marker).values()} == set(slots)
    assert first.poll() is None and second.poll() is None
    # from here both compete for every free slot of localhost and mq1
    gate.touch()

    rc1, _, err1 = cli.finish(first)
    rc2, _, err2 = cli.finish(second)
    assert (rc1, rc2) == (0, 0), (err1[-2000:], err2[-2000:])

    assert_each_ran_once(marker, names)
    assert set(cli.statuses(QUEUE).values()) == {"end"}
    done1, done2 = summary_counts(err1, QUEUE), summary_counts(err2, QUEUE)
    assert done1["end"] > 0 and done2["end"] > 0, (done1, done2)
    assert done1["end"] + done2["end"] == len(names), (done1, done2)
    assert len(set(_runs_of(cli).values())) == 2
    peak = peak_overlap(marker)
    over = {h: (peak[h], n) for h, n in slots.items() if peak[h] > n}
    assert not over, f"more jobs at once than slots (peak, slots) per host: {over}"


def _stop_idle(proc: subprocess.Popen[str], db: Path) -> None:
    """SIGSTOP a run, making sure it does not hold the store's write lock
    (it would stall every other writer): if it does, let it go on a moment
    and try again."""
    deadline = time.monotonic() + 30
    while True:
        os.kill(proc.pid, signal.SIGSTOP)
        wait_until(
            lambda: (
                Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                in ("T", "t")
            ),
            5,
            "the run to stop",
        )
        conn = sqlite3.connect(db, timeout=0, isolation_level=None)
        try:
            with contextlib.suppress(sqlite3.OperationalError):
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
                return
        finally:
            conn.close()
        os.kill(proc.pid, signal.SIGCONT)
        assert time.monotonic() < deadline, "the run never let go of the write lock"
        time.sleep(0.05)


def test_two_fifo_runs_at_once_launch_no_job_twice_and_keep_max_parallel_in_total(
    cli: Cli, tmp_path: Path
) -> None:
    n = 3
    cli.ok("queue", "create", QUEUE, f"--experiment={tmp_path / 'exp'}")
    gate, marker = tmp_path / "gate", tmp_path / "marker"
    gated = job_command(marker, gate=gate, work=TICK_SLEEP)
    quick = job_command(marker, work=TICK_SLEEP)
    cli.ok("queue", "add", QUEUE, "--name=a[1-2]", f"--command={gated}", "--host=localhost")

    # the first run takes both jobs: one of its slots stays free, with nothing to fill it
    first = cli.popen("queue", "run", "fifo", QUEUE, f"--max_parallel={n}")
    wait_until(lambda: set(starts(marker)) == {"a1", "a2"}, 30, "a1 and a2 to start")
    # held still while the second run starts, the first cannot take the next job
    _stop_idle(first, cli.db)
    cli.ok("queue", "add", QUEUE, "--name=b1", f"--command={gated}", "--host=localhost")
    second = cli.popen("queue", "run", "fifo", QUEUE, f"--max_parallel={n}")
    wait_until(lambda: "b1" in starts(marker), 30, "the second run to start b1")
    assert second.poll() is None
    os.kill(first.pid, signal.SIGCONT)
    # both runs now hold slots, and compete for each one that frees up
    cli.ok("queue", "add", QUEUE, "--name=c[1-120]", f"--command={quick}", "--host=localhost")
    gate.touch()

    rc1, _, err1 = cli.finish(first)
    rc2, _, err2 = cli.finish(second)
    assert (rc1, rc2) == (0, 0), (err1[-2000:], err2[-2000:])

    names = ["a1", "a2", "b1"] + [f"c{i}" for i in range(1, 121)]
    assert_each_ran_once(marker, names)
    assert set(cli.statuses(QUEUE).values()) == {"end"}
    done1, done2 = summary_counts(err1, QUEUE), summary_counts(err2, QUEUE)
    assert done1["end"] >= 2 and done2["end"] >= 1, (done1, done2)
    assert done1["end"] + done2["end"] == len(names), (done1, done2)
    runs = _runs_of(cli)
    assert runs["a1"] == runs["a2"] != runs["b1"]
    peak = peak_overlap(marker, key=lambda m: "all")["all"]
    assert peak <= n, f"{peak} jobs ran at once with --max_parallel={n} for both runs"


def test_jobs_a_stopped_run_left_running_still_hold_their_slots_in_the_other_run(
    cli: Cli, tmp_path: Path
) -> None:
    n = 2
    cli.ok("queue", "create", QUEUE, f"--experiment={tmp_path / 'exp'}")
    marker, gate_a, gate_b = tmp_path / "marker", tmp_path / "gate_a", tmp_path / "gate_b"
    cli.ok(
        "queue",
        "add",
        QUEUE,
        "--name=a1",
        "--host=localhost",
        f"--command={job_command(marker, gate=gate_a, work='sleep 0.05')}",
    )
    first = cli.popen("queue", "run", "fifo", QUEUE, f"--max_parallel={n}")
    wait_until(lambda: "a1" in starts(marker), 30, "a1 to start")
    _stop_idle(first, cli.db)
    cli.ok(
        "queue",
        "add",
        QUEUE,
        "--name=b1",
        "--host=localhost",
        f"--command={job_command(marker, gate=gate_b, work='sleep 0.05')}",
    )
    second = cli.popen("queue", "run", "fifo", QUEUE, f"--max_parallel={n}")
    wait_until(lambda: "b1" in starts(marker), 30, "the second run to start b1")
    os.kill(first.pid, signal.SIGCONT)

    # Ctrl-C twice: the first run stops launching, then quits leaving a1 running
    first.send_signal(signal.SIGINT)
    time.sleep(0.5)
    first.send_signal(signal.SIGINT)
    rc, _, err = cli.finish(first)
    assert rc == 130 and "1 still running" in err, err[-2000:]
    assert alive(starts(marker)["a1"].pid or 0)

    # a1 still holds one of the queue's n slots: when b1 ends, one c job may start, not two
    cli.ok(
        "queue",
        "add",
        QUEUE,
        "--name=c[1-3]",
        "--host=localhost",
        f"--command={job_command(marker, work='sleep 0.3')}",
    )
    gate_b.touch()
    wait_until(lambda: {"c1", "c2", "c3"} <= set(ends(marker)), 30, "c1-c3 to end")
    gate_a.touch()
    rc, _, err = cli.finish(second)
    assert rc == 0, err[-2000:]
    cli.ok("queue", "refresh", QUEUE)

    assert_each_ran_once(marker, ["a1", "b1", "c1", "c2", "c3"])
    assert set(cli.statuses(QUEUE).values()) == {"end"}
    peak = peak_overlap(marker, key=lambda m: "all")["all"]
    assert peak <= n, (
        f"{peak} jobs ran at once with --max_parallel={n}: the live run did not count "
        "the job the stopped run left running"
    )
