"""docs/rules.md, "Selection": ``--name`` picks jobs by one rule on every
command (names, hostlist patterns, globs; no substring; a plain name must
exist), and ``--status`` takes a comma list on every command that has it."""

from __future__ import annotations

import pytest

from tests.acceptance.conftest import Meshq

NAMES = [f"job{i}" for i in range(1, 13)]


@pytest.fixture
def twelve(mq: Meshq) -> Meshq:
    """Queue q with job1..job12, ready on this machine: names a substring
    rule would mix up (job1 is in job10)."""
    mq.ok("queue", "create", "q")
    mq.ok("queue", "add", "q", "--name=job[1-12]", "--command=true", "--host=localhost")
    return mq


def listed(mq: Meshq, *args: str) -> list[str]:
    return [j["name"] for j in mq.jobs("q", *args)]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("job1", ["job1"]),
        ("job[1-3]", ["job1", "job2", "job3"]),
        ("job1*", ["job1", "job10", "job11", "job12"]),
        ("job?", [f"job{i}" for i in range(1, 10)]),
        ("job2,job1?", ["job2", "job10", "job11", "job12"]),
        ("*", NAMES),
        ("nomatch*", []),
    ],
)
def test_list_name_is_a_name_a_pattern_or_a_glob(
    twelve: Meshq, typed: str, expected: list[str]
) -> None:
    assert listed(twelve, f"--name={typed}") == expected


def test_every_command_selects_the_same_jobs(twelve: Meshq) -> None:
    mq = twelve
    # job1 is job1, not job10-12, on reset, delete, show and logs too
    mq.ok("queue", "run", "fifo", "q", "--max_parallel=4")
    out = mq.ok("queue", "reset", "q", "--name=job1").stdout
    assert [line.split()[0] for line in out.splitlines()] == ["job1"]
    assert mq.statuses("q")["job10"] == "end"
    out = mq.ok("queue", "reset", "q", "--name=job1?").stdout
    assert [line.split()[0] for line in out.splitlines()] == ["job10", "job11", "job12"]
    shown = mq.json("queue", "show", "q", "job1")
    assert (shown[0] if isinstance(shown, list) else shown)["name"] == "job1"
    assert mq.ok("queue", "logs", "q", "job2").stdout == ""
    mq.ok("queue", "delete", "q", "--name=job1")
    assert listed(mq) == NAMES[1:]
    mq.ok("queue", "delete", "q", "--name=job1*")
    assert listed(mq) == NAMES[1:9]


@pytest.mark.parametrize(
    "argv",
    [
        ["queue", "list", "q", "--name=job13"],
        ["queue", "reset", "q", "--name=job13"],
        ["queue", "kill", "q", "--name=job13"],
        ["queue", "delete", "q", "--name=job12,job13"],
        ["queue", "show", "q", "job13"],
        ["queue", "logs", "q", "job13"],
    ],
    ids=lambda a: a[1],
)
def test_a_plain_name_that_is_no_job_is_an_error_everywhere(twelve: Meshq, argv: list[str]) -> None:
    done = twelve(*argv)
    assert done.returncode == 2, done
    (line,) = done.stderr.splitlines()
    assert "no job 'job13'" in line or "no job job13" in line, line
    assert listed(twelve) == NAMES


def test_a_range_or_glob_selects_what_it_matches(twelve: Meshq) -> None:
    # list shows what matched, even nothing
    assert twelve.ok("queue", "list", "q", "--name=zz*", "--format=json").stdout.strip() == "[]"
    # the commands that act refuse a selection that matches no job at all
    for argv in (["reset", "q", "--name=zz*"], ["delete", "q", "--name=job[20-30]"]):
        done = twelve("queue", *argv)
        assert done.returncode == 2, done
        (line,) = done.stderr.splitlines()
        assert "matches no job" in line
    assert listed(twelve) == NAMES
    # a range reaching past the queue's jobs takes those it has
    twelve.ok("queue", "delete", "q", "--name=job[12-20]")
    assert listed(twelve) == NAMES[:-1]


@pytest.mark.parametrize("argv", [["queue", "show", "q", "job1*"], ["queue", "logs", "q", "*"]])
def test_show_and_logs_take_exactly_one_job(twelve: Meshq, argv: list[str]) -> None:
    done = twelve(*argv)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert "name one job" in line


def test_status_takes_a_comma_list_on_every_command(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "ok", "true")
    mq.add_local("q", "bad", "exit 1")
    mq.add_local("q", "slow", "sleep 0.5; exit 2", "--timeout=0.2")
    mq.ok("queue", "add", "q", "--name=idle", "--command=true")
    mq("queue", "run", "fifo", "q", "--max_parallel=3")
    assert mq.statuses("q") == {"ok": "end", "bad": "fail", "slow": "timeout", "idle": "undefined"}
    assert listed(mq, "--status=fail,timeout") == ["bad", "slow"]
    out = mq.ok("queue", "reset", "q", "--status=fail,timeout").stdout
    assert sorted(line.split()[0] for line in out.splitlines()) == ["bad", "slow"]
    mq.ok("queue", "kill", "q", "--status=run,start")
    mq.ok("queue", "delete", "q", "--status=ready,undefined")
    assert listed(mq) == ["ok"]


def test_kill_needs_a_selection(twelve: Meshq) -> None:
    done = twelve("queue", "kill", "q")
    assert done.returncode == 2
    assert "--name" in done.stderr and len(done.stderr.splitlines()) == 1
