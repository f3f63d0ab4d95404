"""Runs that stop, pause and resume as they say (docs/rules.md, "Stopping
and pausing a run"): ``meshq queue run`` as a subprocess, interrupted with
real signals, in a pipe and in a real terminal."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any

from tests.acceptance.conftest import Meshq, wait_until
from tests.support.procs import alive
from tests.support.terminal import Terminal

INTERRUPTED = 130


def gated(gate: Path) -> str:
    """A command that runs until ``gate`` exists."""
    return f"while [ ! -e {gate} ]; do sleep 0.05; done"


def test_ctrl_c_waits_for_the_running_jobs_and_records_their_end(mq: Meshq) -> None:
    gate = mq.work / "gate"
    mq.ok("queue", "create", "q")
    mq.add_local("q", "job[1-2]", gated(gate))
    mq.add_local("q", "job[3-4]", "true")
    run = mq.popen("queue", "run", "fifo", "q", "-j", "2")
    mq.wait_status("q", ["job1", "job2"], {"start"})
    run.send_signal(signal.SIGINT)
    time.sleep(1.0)
    # still there, watching: nothing new started
    assert run.poll() is None, "the first Ctrl-C quit the run"
    assert mq.statuses("q") == {"job1": "start", "job2": "start", "job3": "ready", "job4": "ready"}
    gate.touch()
    rc, _out, err = mq.finish(run, timeout=30)
    assert rc == INTERRUPTED, err
    assert "waiting for the running ones to end" in err
    # the ends were recorded by the run itself: no refresh needed
    assert mq.statuses("q") == {"job1": "end", "job2": "end", "job3": "ready", "job4": "ready"}
    assert "q: 2 end" in err.splitlines()
    assert "stopped (interrupted): 2 job(s) not started" in err
    # the next run runs the rest
    done = mq("queue", "run", "fifo", "q", "-j", "2")
    assert done.returncode == 0, done.stderr
    assert set(mq.statuses("q").values()) == {"end"}


def test_sigterm_is_a_ctrl_c_and_the_json_says_what_was_left(mq: Meshq) -> None:
    gate = mq.work / "gate"
    mq.ok("queue", "create", "q")
    mq.add_local("q", "job1", gated(gate))
    mq.add_local("q", "job2", "true")
    notified = mq.work / "notified"
    run = mq.popen("queue", "run", "fifo", "q", "--format=json",
                   f"--notify=echo $MESHQ_EXIT $MESHQ_INTERRUPTED $MESHQ_END > {notified}")
    mq.wait_status("q", ["job1"], {"start"})
    run.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    gate.touch()
    rc, out, err = mq.finish(run, timeout=30)
    assert rc == INTERRUPTED, err
    record = json.loads(out)
    assert record["interrupted"] is True and record["ok"] is False
    assert record["finished"] == {"end": 1}
    assert record["left_waiting"] == 1 and record["still_running"] == 0
    # --notify hears the same: exit status 130, interrupted, 1 end
    assert notified.read_text() == "130 1 1\n"


def test_a_second_ctrl_c_quits_at_once_and_the_jobs_run_on(mq: Meshq) -> None:
    gate = mq.work / "gate"
    mq.ok("queue", "create", "q")
    mq.add_local("q", "job[1-2]", gated(gate))
    mq.add_local("q", "job3", "true")
    run = mq.popen("queue", "run", "fifo", "q", "-j", "2")
    started = mq.wait_status("q", ["job1", "job2"], {"start"})
    run.send_signal(signal.SIGINT)
    time.sleep(0.5)
    run.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    rc, _out, err = mq.finish(run, timeout=15)
    assert rc == INTERRUPTED, err
    assert time.monotonic() - t0 < 10, "the second Ctrl-C did not quit at once"
    assert all(alive(j["pid"]) for j in started), "quitting killed the jobs"
    assert "q: no job finished" in err.splitlines()
    assert "stopped (interrupted): 1 job(s) not started, 2 still running, not watched" in err
    assert "meshq queue refresh q" in err
    # consistent: the jobs are recorded as running, and the next run adopts them
    assert mq.statuses("q") == {"job1": "start", "job2": "start", "job3": "ready"}
    gate.touch()
    wait_until(lambda: not any(alive(j["pid"]) for j in started), 15, what="the jobs to end")
    done = mq("queue", "run", "fifo", "q", "-j", "2")
    assert done.returncode == 0, done.stderr
    assert mq.statuses("q") == {"job1": "end", "job2": "end", "job3": "end"}
    assert [j["attempts"] for j in mq.jobs("q")] == [1, 1, 1]


def test_ctrl_c_in_a_terminal_says_stopping_on_the_bar(mq: Meshq) -> None:
    gate = mq.work / "gate"
    mq.ok("queue", "create", "q")
    mq.add_local("q", "job1", gated(gate))
    mq.add_local("q", "job2", "true")
    term = Terminal(("queue", "run", "fifo", "q"), cols=80, rows=24, env=mq.env, cwd=mq.work)
    mq.wait_status("q", ["job1"], {"start"})
    term.wait_for(lambda t: "1 running" in t, 15, "the bar")
    term.type(b"\x03")
    term.wait_for(lambda t: "q stopping" in t, 15, "the bar to say stopping")
    gate.touch()
    run = term.finish(30)
    assert run.returncode == INTERRUPTED, run.text
    assert any("1/2" in line and "1 end" in line for line in run.lines), run.text
    assert "stopped (interrupted): 1 job(s) not started" in run.text


def test_a_paused_queue_s_run_waits_and_resume_lets_it_go_on(mq: Meshq) -> None:
    gate = mq.work / "gate"
    mq.ok("queue", "create", "q")
    mq.add_local("q", "first", gated(gate))
    mq.add_local("q", "rest[1-3]", "true")
    run = mq.popen("queue", "run", "fifo", "q")
    mq.wait_status("q", ["first"], {"start"})
    mq.ok("queue", "pause", "q")
    gate.touch()
    mq.wait_status("q", ["first"], {"end"})
    time.sleep(1.5)
    # the running job ended and was recorded; nothing new started; the run waits
    assert run.poll() is None, "a paused queue's run ended"
    assert mq.statuses("q") == {
        "first": "end",
        "rest1": "ready",
        "rest2": "ready",
        "rest3": "ready",
    }
    mq.ok("queue", "resume", "q")
    rc, _out, err = mq.finish(run, timeout=30)
    assert rc == 0, err
    assert "is paused" in err and "resumed" in err
    assert set(mq.statuses("q").values()) == {"end"}


def test_a_paused_queue_s_bar_says_paused(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "job1", "true")
    mq.ok("queue", "pause", "q")
    term = Terminal(("queue", "run", "fifo", "q"), cols=60, rows=24, env=mq.env, cwd=mq.work)
    term.wait_for(lambda t: "q paused" in t, 15, "the bar to say paused")
    assert mq.statuses("q") == {"job1": "ready"}
    mq.ok("queue", "resume", "q")
    run = term.finish(30)
    assert run.returncode == 0, run.text
    assert mq.statuses("q") == {"job1": "end"}


def abandon(mq: Meshq, queue: str, names: list[str], *, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> list[dict[str, Any]]:
    """Run the queue in the background until ``names`` have started, then
    SIGKILL that meshq: the jobs run on, watched by nobody."""
    run = mq.popen("queue", "run", "fifo", queue, "-j", "8", env=env)
    started = mq.wait_status(queue, names, {"start"})
    run.send_signal(signal.SIGKILL)
    run.wait(10)
    return started


def test_reading_a_queue_reads_again_what_ran_here_unwatched(mq: Meshq) -> None:
    gate = mq.work / "gate"
    mq.ok("queue", "create", "q")
    mq.add_local("q", "job[1-2]", gated(gate))
    started = abandon(mq, "q", ["job1", "job2"])
    # still running: shown as running, and not marked (it was just read here)
    listed = mq.ok("queue", "list", "q")
    assert "start?" not in listed.stdout and "watched by no run" not in listed.stderr
    assert [j["watched"] for j in mq.jobs("q")] == [True, True]
    gate.touch()
    wait_until(lambda: not any(alive(j["pid"]) for j in started), 15, what="the jobs to end")
    # no refresh: every read shows the end the job logs say
    status = mq.ok("queue", "status", "q").stdout
    assert "end" in status and "start" not in status, status
    assert mq.statuses("q") == {"job1": "end", "job2": "end"}
    shown = json.loads(mq.ok("queue", "show", "q", "job1", "--format=json").stdout)
    assert shown["status"] == "end" and shown["exit_code"] == 0 and shown["watched"] is None
    summary = json.loads(mq.ok("queue", "summary", "q", "--format=json").stdout)
    assert summary["counts"] == {"end": 2} and summary["unwatched"] == 0


def test_a_resumed_run_s_bar_counts_only_what_is_left(mq: Meshq) -> None:
    gate = mq.work / "gate"
    mq.ok("queue", "create", "q")
    mq.add_local("q", "job[1-2]", gated(gate))
    mq.add_local("q", "job[3-9]", "sleep 0.3")
    run = mq.popen("queue", "run", "fifo", "q", "-j", "2")
    mq.wait_status("q", ["job1", "job2"], {"start"})
    run.send_signal(signal.SIGINT)
    gate.touch()
    rc, _out, err = mq.finish(run, timeout=30)
    assert rc == INTERRUPTED, err
    term = Terminal(("queue", "run", "fifo", "q", "-j", "2"), cols=120, rows=24, env=mq.env,
                    cwd=mq.work)
    done = term.finish(60)
    assert done.returncode == 0, done.text
    bars = [line for line in done.lines if line.startswith("q ")]
    assert bars and all("/7" in bar for bar in bars), "\n".join(bars)
    # elapsed and remaining in one format, the remaining time 0 at the end
    assert re.search(r"7/7 7 end · 0 running \d+:\d\d:\d\d 0:00:00$", bars[-1]), bars[-1]
