"""The progress bar of ``queue run`` in a real terminal (60 and 120
columns): rich's own columns (done/total, elapsed and remaining time in one
format), the states under their own names, and counts that stay right with
retries (a retried job is not finished, and is counted running once)."""

from __future__ import annotations

import re

import pytest

from tests.acceptance.conftest import Meshq
from tests.support.terminal import run_in_terminal

CLOCK = r"\d+:\d\d:\d\d"


@pytest.mark.parametrize("cols", [60, 120])
def test_the_bar_counts_retries_right_and_fits(mq: Meshq, cols: int) -> None:
    mq.ok("queue", "create", "b")
    # j5 fails its first attempt and is retried; bad fails for good
    mq.add_local(
        "b",
        "j[1-12]",
        'sleep 0.2; [ "$MESHQ_INDEX" != 5 ] || [ "$MESHQ_ATTEMPT" = 2 ]',
        "--retries=1",
    )
    mq.add_local("b", "bad", "exit 3")
    run = run_in_terminal(
        ("queue", "run", "fifo", "b", "-j", "4"), cols=cols, env=mq.env, cwd=mq.work
    )
    assert run.returncode == 1, run.text
    lines = run.lines
    assert all(len(line) <= cols for line in lines), "\n".join(lines)
    bars = [line for line in lines if line.startswith("b ") and "/13" in line]
    assert bars, run.text
    last = bars[-1]
    assert re.search(rf"13/13 12 end · 1 fail · 0 running {CLOCK} {CLOCK}$", last), last
    # while it ran: never more running than -j, never more finished than jobs
    for bar in bars:
        done = int(re.search(r"(\d+)/13", bar).group(1))  # type: ignore[union-attr]
        running = int(re.search(r"(\d+) running", bar).group(1))  # type: ignore[union-attr]
        assert done <= 13 and running <= 4 and done + running <= 13, bar
    text = "\n".join(lines)
    for word in ("done", "failed", "eta"):
        assert word not in text, word
    # the bar counts no "left" of its own (a retry's line says retries left)
    assert not any(" left" in bar for bar in bars), bars
    # (the line wraps at the terminal's width)
    said = "j5: attempt 1 ended fail on localhost (exit 1); it will be retried (1 retry left)"
    assert said in " ".join(text.split()), text
    assert "bad fail (exit 3)" in text
    assert lines[-2:] == ["b: 12 end, 1 fail", "1 attempt(s) retried (--retries)"]


def test_a_pipe_gets_one_line_per_finished_job(mq: Meshq) -> None:
    mq.ok("queue", "create", "b")
    mq.add_local("b", "j1", '[ "$MESHQ_ATTEMPT" = 2 ]', "--retries=1")
    mq.add_local("b", "j2", "true")
    done = mq("queue", "run", "fifo", "b")
    assert done.returncode == 0, done.stderr
    finished = [line.split()[1:4] for line in done.stderr.splitlines() if "] j" in line]
    # j1's failed first attempt is no finished job: two lines, counted 1 and 2
    assert [f[0] for f in finished] == ["[1/2]", "[2/2]"]
    assert sorted((f[1], f[2]) for f in finished) == [("j1", "end"), ("j2", "end")]
