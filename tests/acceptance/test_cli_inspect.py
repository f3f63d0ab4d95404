"""Acceptance tests: the ``meshq`` commands that read, as a user runs them:
``queue logs``, ``queue show``, ``queues``; ``demo`` and every ``--help``.

As in ``test_cli.py``, every test drives the real CLI (``python -m meshq``)
in a subprocess, on a store of its own, and runs real jobs on this machine.
"""

from __future__ import annotations

import pytest

from tests.acceptance.cli_support import JOB_FIELDS, assert_utc_iso, run_fifo
from tests.acceptance.conftest import Meshq

# -- logs, show, queues ---------------------------------------------------------------


def test_logs_stdout_and_stderr(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "j", "echo to-out; echo to-err >&2")
    run_fifo(mq, "q")
    assert mq.ok("queue", "logs", "q", "j").stdout == "to-out\n"
    assert mq.ok("queue", "logs", "q", "j", "--stderr").stdout == "to-err\n"
    # following a job that has ended prints its output and returns
    assert mq.ok("queue", "logs", "q", "j", "--follow", timeout=15).stdout == "to-out\n"


def test_logs_follow_ends_with_the_job(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "ticker", "for i in 1 2 3 4 5; do echo line$i; sleep 0.2; done")
    run = mq.popen("queue", "run", "fifo", "q")
    # started at once: it waits for the job to start, then follows it to its end
    follow = mq.popen("queue", "logs", "q", "ticker", "--follow")
    rc, out, err = mq.finish(follow, timeout=20)
    assert rc == 0, err
    assert out.split() == [f"line{i}" for i in range(1, 6)]
    assert mq.finish(run)[0] == 0


def test_show_fields_and_history(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "j", "echo hi", "--gpu=3")
    run_fifo(mq, "q")
    record = mq.json("queue", "show", "q", "j")
    assert set(record) >= JOB_FIELDS
    assert record["name"] == "j" and record["status"] == "end" and record["gpu"] == ["3"]
    history = record["history"]
    assert [h["new"] for h in history] == ["ready", "run", "start", "end"]
    assert [h["old"] for h in history[1:]] == ["ready", "run", "start"]
    times = [assert_utc_iso(h["time"]) for h in history]
    assert times == sorted(times)

    table = mq.ok("queue", "show", "q", "j").stdout
    assert "echo hi" in table and "history" in table
    for state in ("ready", "run", "start", "end"):
        assert state in table


def test_queues_lists_every_queue_with_counts(mq: Meshq) -> None:
    assert mq.queues() == []
    mq.ok("queue", "create", "a")
    mq.ok("queue", "create", "b", "--experiment=bexp")
    mq.add_local("a", "ok[1-2]", "true")
    mq.add_local("a", "bad", "false")
    mq.ok("queue", "add", "b", "--name=x[1-4]", "--command=true")
    run_fifo(mq, "a")
    queues = {q["queue"]: q for q in mq.queues()}
    assert set(queues) == {"a", "b"}
    assert queues["a"]["jobs"] == 3
    assert queues["a"]["end"] == 2 and queues["a"]["fail"] == 1
    assert queues["b"]["jobs"] == 4 and queues["b"]["undefined"] == 4
    assert queues["b"]["experiment"] == str(mq.work / "bexp")
    table = mq.ok("queues").stdout
    assert "a" in table and "b" in table and str(mq.work / "bexp") in table


def test_demo(mq: Meshq) -> None:
    done = mq("demo", timeout=60)
    assert done.returncode == 0, done.stderr
    counts = {r["status"]: r["count"] for r in mq.json("queue", "status", "demo")}
    assert counts == {"end": 19, "fail": 1}


HELP_COMMANDS = [
    [],
    ["queue"],
    ["queues"],
    ["demo"],
    ["queue", "run"],
    ["queue", "run", "fifo"],
    *[
        ["queue", c]
        for c in (
            "create",
            "add",
            "list",
            "status",
            "show",
            "kill",
            "reset",
            "delete",
            "refresh",
            "logs",
        )
    ],
]


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=lambda c: " ".join(c) or "meshq")
def test_help(mq: Meshq, command: list[str]) -> None:
    done = mq(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout
    assert done.stderr == ""
