"""``meshq queue status QUEUE --watch`` in a real terminal (60 and 120
columns): it redraws counts, running jobs and hosts while a run goes on,
ends by itself when the queue is done, and Ctrl-C leaves it cleanly (the
cursor back, exit 0, the jobs running on)."""

from __future__ import annotations

import time

import pytest

from tests.acceptance.conftest import Meshq, alive
from tests.support.terminal import Terminal

SHOW_CURSOR = "\x1b[?25h"


def watch(mq: Meshq, queue: str, cols: int) -> Terminal:
    return Terminal(("queue", "status", queue, "--watch", "--interval=0.2"), cols=cols, rows=24,
                    env=mq.env, cwd=mq.work)


@pytest.mark.parametrize("cols", [60, 120])
def test_watch_follows_a_run_to_its_end(mq: Meshq, cols: int) -> None:
    mq.ok("queue", "create", "w")
    mq.add_local("w", "job[1-6]", "sleep 0.8")
    run = mq.popen("queue", "run", "fifo", "w", "-j", "3")
    view = watch(mq, "w", cols)
    view.wait_for(lambda text: "job1" in text and "localhost" in text, 20, "running jobs")
    result = view.finish(timeout=30)
    assert mq.finish(run)[0] == 0
    assert result.returncode == 0
    lines = result.lines
    assert all(len(line) <= cols for line in lines), "\n".join(lines)
    assert lines[-1] == "w: 6 job(s) · 6 end · 0 running · 0 waiting · done"
    assert any(line.split()[:3] == ["running", "host", "gpu"] for line in lines)
    assert any(line.split()[:2] == ["localhost", "3"] for line in lines), "\n".join(lines)
    assert result.raw.rstrip().endswith(SHOW_CURSOR)


def test_ctrl_c_leaves_the_view_cleanly_and_the_jobs_running(mq: Meshq) -> None:
    mq.ok("queue", "create", "w")
    mq.add_local("w", "long[1-2]", "sleep 30")
    run = mq.popen("queue", "run", "fifo", "w", "-j", "2")
    started = mq.wait_status("w", ["long1", "long2"], {"start"})
    view = watch(mq, "w", 80)
    view.wait_for(lambda text: "long2" in text, 20, "the running jobs")
    view.type(b"\x03")
    t0 = time.monotonic()
    result = view.finish(timeout=10)
    assert time.monotonic() - t0 < 3
    assert result.returncode == 0, result.text
    assert result.lines[-1] == "stopped watching w; its jobs go on", repr(result.raw[-400:])
    assert SHOW_CURSOR in result.raw.split("stopped watching")[0][-20:]
    assert all(alive(j["pid"]) for j in started)
    assert mq.statuses("w") == {"long1": "start", "long2": "start"}
    run.kill()


def test_a_queue_that_is_done_is_drawn_once(mq: Meshq) -> None:
    mq.ok("queue", "create", "w")
    mq.add_local("w", "j", "true")
    mq.ok("queue", "run", "fifo", "w")
    result = watch(mq, "w", 60).finish(timeout=20)
    assert result.returncode == 0
    assert result.lines == ["w: 1 job(s) · 1 end · 0 running · 0 waiting · done"]


@pytest.mark.parametrize("argv", [["queue", "status", "w", "--watch", "--format=json"],
                                  ["queue", "status", "nope", "--watch"],
                                  ["queue", "status", "w", "--watch", "--interval=0"]])
def test_watch_refuses_bad_input_in_one_line(mq: Meshq, argv: list[str]) -> None:
    mq.ok("queue", "create", "w")
    done = mq(*argv)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
