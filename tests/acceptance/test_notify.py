"""``queue run --notify=COMMAND`` and the config file's ``notify``: a real
command run when a run finishes, the run's counts in its environment (and
only there), a failing one reported in one line without changing the run's
exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.acceptance.conftest import Meshq

pytestmark = pytest.mark.timeout(120)

#: a notify command that writes the variables it was given to a file
DUMP = "env | grep '^MESHQ_' | sort > notified.env; echo to-stdout"


def notified(mq: Meshq) -> dict[str, str]:
    lines = (mq.work / "notified.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def sweep(mq: Meshq, queue: str = "q") -> None:
    """Three jobs; j2 fails."""
    mq.ok("queue", "create", queue)
    mq.add_local(queue, "j[1-3]", '[ "$MESHQ_INDEX" != 2 ]')


def test_notify_gets_the_counts_in_its_environment(mq: Meshq) -> None:
    sweep(mq)
    done = mq("queue", "run", "fifo", "q", "-j", "3", f"--notify={DUMP}", "--format=json")
    assert done.returncode == 1
    # the notify command's output went to stderr: stdout is the run's record
    record = json.loads(done.stdout)
    assert record["finished"] == {"end": 2, "fail": 1}
    assert "to-stdout" in done.stderr
    env = notified(mq)
    assert env["MESHQ_QUEUE"] == "q" and env["MESHQ_EXIT"] == "1"
    assert (env["MESHQ_END"], env["MESHQ_FAIL"], env["MESHQ_FINISHED"]) == ("2", "1", "3")
    for state in ("TIMEOUT", "KILL", "FAIL_START", "CRASH", "SKIP"):
        assert env[f"MESHQ_{state}"] == "0"
    assert (env["MESHQ_INTERRUPTED"], env["MESHQ_PAUSED"], env["MESHQ_RETRIED"]) == ("0", "0", "0")


def test_values_reach_notify_only_through_its_environment(mq: Meshq) -> None:
    # the user's text runs as typed; meshq's values are never put into it
    mq.ok("queue", "create", "q")
    mq.add_local("q", "a", "true")
    text = """printf '%s|%s\\n' "$MESHQ_QUEUE" '$MESHQ_END' > notified.txt"""
    mq.ok("queue", "run", "fifo", "q", f"--notify={text}")
    assert (mq.work / "notified.txt").read_text() == "q|$MESHQ_END\n"


def test_a_failing_notify_is_one_line_and_keeps_the_exit_status(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "a", "true")
    done = mq("queue", "run", "fifo", "q", "--notify=echo oops >&2; exit 3")
    assert done.returncode == 0
    said = [line for line in done.stderr.splitlines() if "--notify" in line]
    assert said == ["meshq: the --notify command exited 3 (the run's exit status is unchanged)"]
    sweep(mq, "r")
    assert mq("queue", "run", "fifo", "r", "--notify=exit 5").returncode == 1


def test_the_config_file_notify_is_the_default_and_empty_turns_it_off(mq: Meshq) -> None:
    config = mq.root / "config.toml"
    config.write_text(f"notify = {json.dumps(DUMP)}\n")
    env = {**mq.env, "MESHQ_CONFIG": str(config)}
    sweep(mq)
    mq.ok("hosts", "add", "localhost", "--max_jobs_allowed=3", env=env)
    mq("queue", "run", "fifo_multi", "q", env=env)
    assert notified(mq)["MESHQ_END"] == "2"
    (mq.work / "notified.env").unlink()
    mq.ok("queue", "reset", "q", env=env)
    mq("queue", "run", "fifo", "q", "--notify=", env=env)
    assert not (mq.work / "notified.env").exists()
    config.write_text("notify = 3\n")
    bad = mq("queues", env=env)
    assert bad.returncode == 2 and "notify" in bad.stderr and len(bad.stderr.splitlines()) == 1


def test_notify_runs_in_the_folder_the_run_was_started_in(mq: Meshq, tmp_path: Path) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "a", "true")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    mq.ok("queue", "run", "fifo", "q", "--notify=pwd > where.txt", cwd=elsewhere)
    assert (elsewhere / "where.txt").read_text() == f"{elsewhere}\n"
