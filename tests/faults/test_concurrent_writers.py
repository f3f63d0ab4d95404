"""Guarantee 3: many processes writing to one store at once, while a run of
the queue writes to it too, lose nothing and never see "database is locked".
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.faults.helpers import LOCKED, Cli, job_command, starts, wait_until

pytestmark = [pytest.mark.timeout(120)]

QUEUE = "q"
WRITERS = 8
JOBS_EACH = 1000


def test_eight_writers_adding_1000_jobs_each_during_a_run_lose_nothing_and_never_lock(
    cli: Cli, tmp_path: Path
) -> None:
    gate, marker = tmp_path / "gate", tmp_path / "marker"
    cli.ok("queue", "create", QUEUE, f"--experiment={tmp_path / 'exp'}")
    # the run goes on for as long as the test needs: ``hold`` waits on the gate;
    # the seeds keep it claiming and recording from the start
    cli.ok(
        "queue",
        "add",
        QUEUE,
        "--name=hold",
        f"--command={job_command(marker, gate=gate)}",
        "--host=localhost",
    )
    cli.ok("queue", "add", QUEUE, "--name=seed[1-300]", "--command=true", "--host=localhost")
    run = cli.popen("queue", "run", "fifo", QUEUE, "--max_parallel=4")
    wait_until(lambda: "hold" in starts(marker), 30, "the run to start")

    writers = [
        cli.popen(
            "queue",
            "add",
            QUEUE,
            f"--name=w{k}-[1-{JOBS_EACH}]",
            "--command=true",
            "--host=localhost",
        )
        for k in range(1, WRITERS + 1)
    ]
    results = [cli.finish(w, timeout=90) for w in writers]
    for k, (rc, out, err) in enumerate(results, start=1):
        assert rc == 0, f"writer {k} exited {rc}: {err}"
        assert LOCKED not in out + err, f"writer {k}: {err}"
        assert f"added {JOBS_EACH} job(s)" in out, out
    assert run.poll() is None, "the run ended before the writers did"

    jobs = cli.jobs(QUEUE)
    added = [f"w{k}-{i}" for k in range(1, WRITERS + 1) for i in range(1, JOBS_EACH + 1)]
    missing = sorted(set(added) - set(jobs))
    assert not missing, f"{len(missing)} added jobs are not in the queue: {missing[:10]}…"
    assert len(jobs) == WRITERS * JOBS_EACH + 301
    status = cli.json("queue", "status", QUEUE)
    assert sum(r["count"] for r in status) == WRITERS * JOBS_EACH + 301
    assert {r["status"] for r in status} <= {"ready", "run", "start", "end"}, status
    assert {j["command"] for n, j in jobs.items() if n.startswith("w")} == {"true"}

    # Ctrl-C: the run stops launching; it, too, never met a locked store
    run.send_signal(signal.SIGINT)
    gate.touch()
    rc, _, err = cli.finish(run, timeout=60)
    assert rc in (0, 130), err[-2000:]
    assert LOCKED not in err, err[-3000:]
    bad = {
        n: j["status"]
        for n, j in cli.jobs(QUEUE).items()
        if j["status"] not in ("ready", "run", "start", "end")
    }
    assert not bad, bad
