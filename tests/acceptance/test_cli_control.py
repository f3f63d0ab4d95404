"""Acceptance tests: the ``meshq`` commands that act on jobs that run or
ran, as a user runs them: ``queue refresh``, ``kill``, ``reset``, ``delete``.

As in ``test_cli.py``, every test drives the real CLI (``python -m meshq``)
in a subprocess, on a store of its own, and runs real jobs on this machine.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from tests.acceptance.cli_support import job_dir, names_of, run_fifo
from tests.acceptance.conftest import Meshq, alive, group_members, wait_until

# -- detached jobs, refresh -------------------------------------------------------


def test_jobs_survive_a_killed_manager_and_refresh_records_them(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "job[1-3]", "sleep 3")
    run = mq.popen("queue", "run", "fifo", "q", "--max_parallel=2")
    started = mq.wait_status("q", ["job1", "job2"], {"start"})
    pids = [j["pid"] for j in started]
    assert all(isinstance(p, int) for p in pids)
    run.send_signal(signal.SIGKILL)
    run.wait(10)
    time.sleep(0.2)  # room for any (wrong) kill of the jobs to land before we look
    assert all(alive(p) for p in pids), "killing meshq killed its jobs"
    assert mq.statuses("q") == {"job1": "start", "job2": "start", "job3": "ready"}

    wait_until(lambda: not any(alive(p) for p in pids), 15, what="the jobs to finish")
    done = mq.ok("queue", "refresh", "q")
    moves = sorted(line.split() for line in done.stdout.splitlines())
    assert [m[0] for m in moves] == ["job1", "job2"], done.stdout
    assert all("start" in m[1] and "end" in m[2] for m in moves), done.stdout
    assert mq.statuses("q") == {"job1": "end", "job2": "end", "job3": "ready"}
    assert mq.job("q", "job1")["exit_code"] == 0

    done = run_fifo(mq, "q", 2)
    assert done.returncode == 0, done.stderr
    assert mq.statuses("q") == {"job1": "end", "job2": "end", "job3": "end"}
    assert mq.job("q", "job1")["attempts"] == 1


def test_refresh_with_nothing_running_changes_nothing(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "j", "true")
    run_fifo(mq, "q")
    before = mq.jobs("q")
    mq.ok("queue", "refresh", "q")
    assert mq.jobs("q") == before


# -- kill, reset, delete ------------------------------------------------------------


def start_and_abandon(mq: Meshq, queue: str, names: list[str]) -> list[dict[str, Any]]:
    """Run the queue in the background until ``names`` have started, then
    SIGKILL that meshq (the jobs run on); the started jobs' records."""
    run = mq.popen("queue", "run", "fifo", queue, "--max_parallel=8")
    started = mq.wait_status(queue, names, {"start"})
    run.send_signal(signal.SIGKILL)
    run.wait(10)
    return started


def test_kill_stops_the_job_and_every_process_it_started(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "victim", "sleep 30 & sleep 30; wait")
    mq.add_local("q", "quick", "true")
    run = mq.popen("queue", "run", "fifo", "q", "--max_parallel=2")
    (job,) = mq.wait_status("q", ["victim"], {"start"})
    pid = job["pid"]

    def sleeps() -> list[int]:
        return [
            p for p in group_members(pid) if Path(f"/proc/{p}/comm").read_text().strip() == "sleep"
        ]

    wait_until(lambda: len(sleeps()) == 2, 10, what="both sleeps of the job")
    members = group_members(pid)

    done = mq.ok("queue", "kill", "q", "--name=victim")
    assert "victim" in done.stdout and "kill" in done.stdout
    assert mq.job("q", "victim")["status"] == "kill"
    wait_until(lambda: not any(alive(p) for p in members), 10, what="the job's processes to go")
    assert group_members(pid) == []

    rc, _out, err = mq.finish(run)
    assert rc == 1, err
    assert mq.statuses("q") == {"victim": "kill", "quick": "end"}

    # killing a job that is not running changes nothing
    mq.ok("queue", "kill", "q", "--name=quick")
    assert mq.job("q", "quick")["status"] == "end"


def test_reset(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "good", "true")
    mq.add_local("q", "bad", "exit 1")
    mq.ok("queue", "add", "q", "--name=loose", "--command=true")
    run_fifo(mq, "q")
    assert mq.statuses("q") == {"good": "end", "bad": "fail", "loose": "undefined"}
    assert job_dir(mq, "q", "good").is_dir() and job_dir(mq, "q", "bad").is_dir()

    # no option: every job not in end
    done = mq.ok("queue", "reset", "q")
    assert "bad" in done.stdout and "good" not in done.stdout
    assert mq.statuses("q") == {"good": "end", "bad": "ready", "loose": "undefined"}
    # the failed attempt's files stay (the next attempt keeps them in attempts/1/)
    assert (job_dir(mq, "q", "bad") / "bad.log").is_file()
    mq.ok("queue", "reset", "q", "--name=bad", "--purge")
    assert not job_dir(mq, "q", "bad").exists()
    assert job_dir(mq, "q", "good").is_dir()

    # --status picks the jobs
    mq.ok("queue", "reset", "q", "--status=end")
    assert mq.statuses("q") == {"good": "ready", "bad": "ready", "loose": "undefined"}
    assert (job_dir(mq, "q", "good") / "good.log").is_file()

    # a running job is killed first
    # (only its first attempt runs long)
    mq.add_local("q", "long", 'if [ "$MESHQ_ATTEMPT" = 1 ]; then sleep 30 & sleep 30; wait; fi')
    (job,) = start_and_abandon(mq, "q", ["long"])
    mq.wait_status("q", ["good", "bad"], {"end", "fail"})
    assert alive(job["pid"])
    mq.ok("queue", "reset", "q", "--name=long")
    assert mq.job("q", "long")["status"] == "ready"
    wait_until(lambda: group_members(job["pid"]) == [], 10, what="the reset job to die")
    assert (job_dir(mq, "q", "long") / "long.log").is_file()

    # --name with a pattern, narrowed by --status (this run runs only "long",
    # which ends well: good and bad ended in the abandoned run; the loose job
    # is skipped, which is told, not a failure)
    assert run_fifo(mq, "q").returncode == 0
    assert mq.statuses("q") == {"good": "end", "bad": "fail", "loose": "undefined", "long": "end"}
    # the killed first attempt's log was kept aside by the second
    kept = (job_dir(mq, "q", "long") / "attempts" / "1" / "long.log").read_text()
    assert kept.startswith("start 1 ") and "\nkill 1 " in kept, kept
    mq.ok("queue", "reset", "q", "--name=good,bad", "--status=fail")
    assert mq.statuses("q") == {"good": "end", "bad": "ready", "loose": "undefined", "long": "end"}
    mq.ok("queue", "reset", "q", "--name=good,long")
    assert mq.statuses("q") == {
        "good": "ready",
        "bad": "ready",
        "loose": "undefined",
        "long": "ready",
    }


def test_delete_jobs_and_queue(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.ok("queue", "create", "keep")
    mq.add_local("q", "job[1-3]", "true")
    run_fifo(mq, "q")
    mq.ok("queue", "delete", "q", "--name=job2")
    assert names_of(mq.jobs("q")) == ["job1", "job3"]
    assert not job_dir(mq, "q", "job2").exists()
    assert job_dir(mq, "q", "job1").is_dir()

    # deleting a running job kills it
    mq.add_local("q", "long", "sleep 30")
    (job,) = start_and_abandon(mq, "q", ["long"])
    mq.ok("queue", "delete", "q", "--name=long")
    assert names_of(mq.jobs("q")) == ["job1", "job3"]
    wait_until(lambda: group_members(job["pid"]) == [], 10, what="the deleted job to die")

    mq.ok("queue", "delete", "q", "--yes")
    assert [q["queue"] for q in mq.queues()] == ["keep"]
    assert not (mq.experiment() / "q").exists()
    gone = mq("queue", "list", "q")
    assert gone.returncode == 2
