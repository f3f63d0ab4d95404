"""docs/rules.md, "States": one set of state names in everything meshq
prints, and the older words (the seed's done/failed/submitted, Slurm's,
pueue's) accepted as aliases wherever a state is typed."""

from __future__ import annotations

import subprocess

import pytest

from tests.acceptance.conftest import Meshq


def run_sample(mq: Meshq) -> subprocess.CompletedProcess[str]:
    """Queue q: ok1, ok2 end; bad fails; idle has no host (undefined)."""
    mq.ok("queue", "create", "q")
    mq.add_local("q", "ok[1-2]", "true")
    mq.add_local("q", "bad", "exit 3")
    mq.ok("queue", "add", "q", "--name=idle", "--command=true")
    done = mq("queue", "run", "fifo", "q", "--max_parallel=2")
    assert done.returncode == 1, done.stderr
    return done


@pytest.fixture
def ran(mq: Meshq) -> Meshq:
    run_sample(mq)
    return mq


def test_the_run_summary_uses_the_state_names(mq: Meshq) -> None:
    err = run_sample(mq).stderr
    assert "q: 2 end, 1 fail" in err
    for word in ("done", "failed"):
        assert word not in err.replace("fail_start", "")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("fail", ["bad"]),
        ("failed", ["bad"]),
        ("done", ["ok1", "ok2"]),
        ("completed", ["ok1", "ok2"]),
        ("pending", ["idle"]),
        ("done,failed", ["ok1", "ok2", "bad"]),
        ("END, Fail", ["ok1", "ok2", "bad"]),
    ],
)
def test_aliases_select_the_states_they_stand_for(
    ran: Meshq, typed: str, expected: list[str]
) -> None:
    assert [j["name"] for j in ran.jobs("q", f"--status={typed}")] == expected


def test_status_and_list_print_only_state_names(ran: Meshq) -> None:
    rows = ran.json("queue", "status", "q")
    assert {r["status"] for r in rows} == {"end", "fail", "undefined"}
    assert {j["status"] for j in ran.jobs("q")} == {"end", "fail", "undefined"}


def test_reset_takes_an_alias_and_a_comma_list(ran: Meshq) -> None:
    ran.ok("queue", "reset", "q", "--status=failed,cancelled")
    assert ran.statuses("q") == {"ok1": "end", "ok2": "end", "bad": "ready", "idle": "undefined"}


def test_add_takes_an_alias_of_one_state_only(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    group = mq("queue", "add", "q", "--name=a", "--command=true", "--status=pending")
    assert group.returncode == 2
    assert "several states" in group.stderr and len(group.stderr.splitlines()) == 1
    assert mq.jobs("q") == []


def test_an_unknown_state_names_the_states_and_the_aliases(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    done = mq("queue", "list", "q", "--status=bogus")
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert "unknown state 'bogus'" in line and "fail_start" in line and "done" in line


def test_the_demo_prints_state_names(mq: Meshq) -> None:
    done = mq("demo", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "demo: 19 end, 1 fail" in done.stdout
    assert "ended:" not in done.stdout and "failed:" not in done.stdout
