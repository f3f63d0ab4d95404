"""docs/rules.md, "Output": typed JSON with the flags' field names and
RFC 3339 UTC times (jq's fromdate reads them), a machine-readable form of
every command, hostlist-style name ranges, and tables in local time that
fit the terminal by leaving out the least useful columns (checked in a real
pseudo-terminal at 60 and 120 columns)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import yaml

from tests.acceptance.conftest import Meshq
from tests.support.terminal import run_in_terminal

RFC3339 = "%Y-%m-%dT%H:%M:%SZ"


@pytest.fixture
def sample(mq: Meshq) -> Meshq:
    """Queue q: t01..t20 end on localhost (t01 with GPU ids 0,1 and a 1h30m
    limit), bad fails, idle has no host."""
    mq.ok("queue", "create", "q")
    mq.add_local("q", "t01", "echo hi", "--gpu=0,1", "--timeout=1h30m")
    mq.add_local("q", "t[02-20]", "true")
    mq.add_local("q", "bad", "exit 3")
    mq.ok("queue", "add", "q", "--name=idle", "--command=true")
    mq("queue", "run", "fifo", "q", "-j", "8")
    return mq


def test_job_json_is_typed(sample: Meshq) -> None:
    jobs = {j["name"]: j for j in sample.jobs("q")}
    t01, idle = jobs["t01"], jobs["idle"]
    assert t01["gpu"] == ["0", "1"] and jobs["t02"]["gpu"] is None
    assert t01["timeout"] == 5400 and isinstance(t01["timeout"], int)
    assert t01["exit_code"] == 0 and jobs["bad"]["exit_code"] == 3
    assert isinstance(t01["runtime"], float | int) and t01["runtime"] >= 0
    assert idle["runtime"] is None and idle["input"] is None and idle["host"] is None
    assert isinstance(t01["pid"], int) and t01["attempts"] == 1
    for key in ("submitted", "started", "ended"):
        datetime.strptime(t01[key], RFC3339)
    assert idle["started"] is None


def test_jq_fromdate_reads_every_time(sample: Meshq) -> None:
    out = sample.ok("queue", "list", "q", "--name=t01", "--format=json").stdout
    done = subprocess.run(
        ["jq", "-r", ".[0] | [.submitted, .started, .ended] | map(fromdate) | @csv"],
        input=out,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    epochs = [int(x) for x in done.stdout.strip().split(",")]
    assert epochs == sorted(epochs)


def test_show_is_one_object_with_its_history(sample: Meshq) -> None:
    record = sample.json("queue", "show", "q", "t01")
    assert isinstance(record, dict) and record["name"] == "t01"
    assert [h["new"] for h in record["history"]] == ["ready", "run", "start", "end"]
    assert record["after"] == []
    for h in record["history"]:
        datetime.strptime(h["time"], RFC3339)


def test_yaml_and_csv_hold_the_same_data(sample: Meshq) -> None:
    jobs = sample.jobs("q")
    assert yaml.safe_load(sample.ok("queue", "list", "q", "--format=yaml").stdout) == jobs
    rows = list(csv.DictReader(io.StringIO(sample.ok("queue", "list", "q", "--format=csv").stdout)))
    assert [r["name"] for r in rows] == [j["name"] for j in jobs]
    assert rows[0]["gpu"] == "0,1" and rows[0]["started"] == jobs[0]["started"]
    assert rows[-1]["host"] == ""


def test_status_json_lists_names_and_the_table_collapses_them(sample: Meshq) -> None:
    rows = {r["status"]: r for r in sample.json("queue", "status", "q")}
    assert rows["end"]["jobs"] == [f"t{i:02d}" for i in range(1, 21)]
    assert rows["end"]["count"] == 20
    table = sample.ok("queue", "status", "q").stdout
    assert "t[01-20]" in table


def test_host_json_uses_the_flags_names(mq: Meshq) -> None:
    mq.ok(
        "hosts",
        "add",
        "gpu1",
        "--ip=10.0.0.20",
        "--user=me",
        "--max_jobs_allowed=8",
        "--gpu=0,1,2,3",
        "--cpus=16",
    )
    (host,) = mq.json("hosts", "list")
    assert host["max_jobs_allowed"] == 8 and "max_jobs" not in host
    assert host["ip"] == "10.0.0.20" and host["user"] == "me" and host["cpus"] == 16
    assert host["gpu"] == ["0", "1", "2", "3"] and host["gpus"] == 4
    assert host["gpu_used"] == [] and host["gpu_free"] == ["0", "1", "2", "3"]
    assert host["slots_used"] == 0 and host["slots_free"] == 8
    assert host["last_probe"] is None and host["host_key_check"] is True


def js(mq: Meshq, *argv: str) -> Any:
    return json.loads(mq.ok(*argv, "--format=json").stdout)


def test_every_command_has_a_machine_readable_form(mq: Meshq) -> None:
    q = js(mq, "queue", "create", "q", "--timeout=1h")
    assert q["queue"] == "q" and q["timeout"] == 3600 and q["paused"] is False
    assert js(mq, "queue", "set", "q", "--retries=2")["retries"] == 2
    added = js(mq, "queue", "add", "q", "--name=j[1-3]", "--command=sleep 0.2", "--host=localhost")
    assert added == {"queue": "q", "added": ["j1", "j2", "j3"]}
    assert js(mq, "queue", "pause", "q")["paused"] is True
    assert js(mq, "queue", "resume", "q")["paused"] is False
    ran = js(mq, "queue", "run", "fifo", "q", "-j", "3")
    assert ran["ok"] is True and ran["finished"] == {"end": 3} and ran["interrupted"] is False
    assert js(mq, "queue", "reset", "q", "--name=j1", "--status=end") == [
        {"name": "j1", "old": "end", "new": "ready"}
    ]
    assert js(mq, "queue", "kill", "q", "--name=j2") == []
    assert js(mq, "queue", "refresh", "q") == []
    assert js(mq, "queue", "delete", "q", "--name=j3") == {
        "queue": "q",
        "deleted": 1,
        "whole_queue": False,
    }
    (host,) = js(mq, "hosts", "add", "localhost", "--max_jobs_allowed=2")
    assert host["name"] == "localhost" and host["max_jobs_allowed"] == 2
    assert js(mq, "hosts", "probe") == [
        {"name": "localhost", "ok": True, "error": None, "info": None}
    ]
    assert js(mq, "hosts", "disable", "localhost")["status"] == "disabled"
    assert js(mq, "hosts", "enable", "localhost")["status"] == "active"
    assert js(mq, "hosts", "delete", "localhost") == {"deleted": "localhost"}


# -- tables in a terminal -----------------------------------------------------

#: UTC+05:30, with no tz database needed: local time is visibly not UTC
TZ = "IST-05:30"


def terminal_table(mq: Meshq, cols: int, *argv: str) -> list[str]:
    run = run_in_terminal(argv, cols=cols, env={**mq.env, "TZ": TZ}, cwd=mq.work)
    assert run.returncode == 0, run.text
    return run.lines


def header_words(lines: list[str]) -> list[str]:
    return lines[0].split()


@pytest.mark.parametrize("cols", [60, 120])
def test_queue_list_fits_the_terminal(sample: Meshq, cols: int) -> None:
    sample.add_local("q", "long", "echo " + "x" * 200)
    lines = terminal_table(sample, cols, "queue", "list", "q")
    assert all(len(line) <= cols for line in lines), "\n".join(lines)
    words = header_words(lines)
    assert words[:6] == ["name", "status", "exit", "host", "runtime", "command"]
    # cells of the host column are never cut, headers never split
    assert any(line.split()[3:4] == ["localhost"] for line in lines[1:])
    assert "localho…" not in "\n".join(lines)
    assert lines[-1].startswith("long") and "xxx…" in lines[-1]
    if cols == 60:
        # the least useful columns are left out, not squeezed
        assert "started" not in words and "tries" not in words and "ended" not in words
    else:
        assert words == [
            "name",
            "status",
            "exit",
            "host",
            "runtime",
            "command",
            "gpu",
            "started",
            "tries",
            "ended",
        ]
        assert any("0,1" in line for line in lines)


@pytest.mark.parametrize("cols", [60, 120])
def test_hosts_and_queues_fit_the_terminal(mq: Meshq, cols: int) -> None:
    mq.ok("hosts", "add", "red0[1-3]", "--ip=10.0.0.11", "--user=pi", "--gpu=0,1")
    mq.ok("queue", "create", "q", "--experiment=" + "a-long-experiment-folder/" * 4)
    for argv in (("hosts", "list"), ("queues",)):
        lines = terminal_table(mq, cols, *argv)
        assert all(len(line) <= cols for line in lines), "\n".join(lines)
        assert header_words(lines)[0] in ("name", "queue")


def test_tables_show_local_time(sample: Meshq) -> None:
    started = sample.job("q", "t01")["started"]
    utc = datetime.strptime(started, RFC3339).replace(tzinfo=UTC)
    local = utc.astimezone(timezone(timedelta(hours=5, minutes=30))).strftime("%m-%d %H:%M:%S")
    lines = terminal_table(sample, 120, "queue", "list", "q", "--name=t01")
    assert local in lines[1], (local, lines)
