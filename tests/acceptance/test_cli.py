"""Acceptance tests: the ``meshq`` command line as a user runs it: ``queue
create``, ``queue add``, ``queue list`` and ``queue status``.

Every test drives the real CLI (``python -m meshq``) in a subprocess, on a
store of its own (``MESHQ_HOME`` in the test's tmp dir), and runs real jobs
on this machine. Nothing is mocked; state is read back through the CLI
(``-o json``) and the files the jobs write. The other commands are in
``test_cli_run.py``, ``test_cli_control.py``, ``test_cli_inspect.py``;
refusals of bad input in ``test_cli_bad_input.py``.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.acceptance.cli_support import JOB_FIELDS, assert_utc_iso, job_dir, names_of, run_fifo
from tests.acceptance.conftest import Meshq

# -- queue create ---------------------------------------------------------------


def test_create_defaults_to_experiment_under_cwd_stored_absolute(mq: Meshq) -> None:
    done = mq.ok("queue", "create", "a")
    assert "a" in done.stdout
    queues = {q["queue"]: q for q in mq.queues()}
    assert set(queues) == {"a"}
    assert queues["a"]["experiment"] == str(mq.work / "experiment")
    assert queues["a"]["jobs"] == 0

    mq.ok("queue", "add", "a", "--name=j", "--command=true")
    (job,) = mq.jobs("a")
    assert job["experiment"] == str(mq.work / "experiment")


def test_create_relative_and_absolute_experiment(mq: Meshq, tmp_path: Path) -> None:
    sub = mq.work / "sub"
    sub.mkdir()
    mq.ok("queue", "create", "rel", "--experiment=runs/exp", cwd=sub)
    mq.ok("queue", "create", "abs", f"--experiment={tmp_path / 'absolute'}")
    mq.ok("queue", "create", "def", cwd=sub)
    queues = {q["queue"]: q["experiment"] for q in mq.queues()}
    assert queues == {
        "rel": str(sub / "runs" / "exp"),
        "abs": str(tmp_path / "absolute"),
        "def": str(sub / "experiment"),
    }
    # the stored folder is the one the queue's jobs keep their files under
    mq.add_local("rel", "j1", 'echo "$MESHQ_JOB_DIR"')
    assert run_fifo(mq, "rel").returncode == 0
    assert (sub / "runs" / "exp" / "rel" / "j1" / "j1.out").read_text().strip() == str(
        sub / "runs" / "exp" / "rel" / "j1"
    )
    # other commands accept the queue's own experiment, from any cwd
    mq.ok("queue", "list", "rel", f"--experiment={sub / 'runs' / 'exp'}")


# -- queue add --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("job[1-10]", [f"job{i}" for i in range(1, 11)]),
        ("job[01-04]", ["job01", "job02", "job03", "job04"]),
        ("job[1-3,7]", ["job1", "job2", "job3", "job7"]),
        ("a,b,c", ["a", "b", "c"]),
        ("single", ["single"]),
    ],
)
def test_add_expands_name_patterns(mq: Meshq, pattern: str, expected: list[str]) -> None:
    mq.ok("queue", "create", "q")
    mq.ok("queue", "add", "q", f"--name={pattern}", "--command=true")
    jobs = mq.jobs("q")
    assert names_of(jobs) == expected
    assert {j["command"] for j in jobs} == {"true"}


def test_add_first_state_depends_on_host(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.ok("queue", "add", "q", "--name=nohost", "--command=true")
    mq.ok("queue", "add", "q", "--name=lh", "--command=true", "--host=localhost")
    mq.ok("queue", "add", "q", "--name=lo", "--command=true", "--host=local")
    mq.ok(
        "queue",
        "add",
        "q",
        "--name=held",
        "--command=true",
        "--host=localhost",
        "--status=undefined",
    )
    mq.ok(
        "queue",
        "add",
        "q",
        "--name=explicit",
        "--command=true",
        "--host=localhost",
        "--status=ready",
    )
    jobs = {j["name"]: j for j in mq.jobs("q")}
    assert {n: j["status"] for n, j in jobs.items()} == {
        "nohost": "undefined",
        "lh": "ready",
        "lo": "ready",
        "held": "undefined",
        "explicit": "ready",
    }
    assert jobs["nohost"]["host"] is None
    assert jobs["lh"]["host"] in ("localhost", "local")
    assert jobs["lo"]["host"] in ("localhost", "local")


def test_add_stores_every_field(mq: Meshq, tmp_path: Path) -> None:
    mq.ok("queue", "create", "q")
    wd = tmp_path / "wd"
    wd.mkdir()
    mq.ok(
        "queue",
        "add",
        "q",
        "--name=j",
        "--command=python train.py",
        "--input=./data",
        "--output=res.txt",
        "--gpu=0,1",
        "--user=pi",
        "--host=localhost",
        "--shell=sh",
        "--log=state.log",
        "--pyenv=~/ENV3/bin/activate",
        f"--directory={wd}",
        "--timeout=90",
    )
    (job,) = mq.jobs("q")
    assert set(job) >= JOB_FIELDS
    assert job["command"] == "python train.py"
    assert job["input"] == "./data"
    assert job["output"] == "res.txt"
    assert job["gpu"] == ["0", "1"]
    assert job["user"] == "pi"
    assert job["shell"] == "sh"
    assert job["log"] == "state.log"
    assert job["pyenv"] == "~/ENV3/bin/activate"
    assert job["directory"] == str(wd)
    assert float(job["timeout"]) == 90
    assert job["status"] == "ready"
    assert job["attempts"] == 0
    assert job["exit_code"] is None and job["pid"] is None
    assert job["started"] is None and job["ended"] is None
    assert job["error"] is None
    assert_utc_iso(job["submitted"])


@pytest.mark.parametrize("given", ["'sleep 0.1'", "sleep 0.1"], ids=["seed-quoted", "plain"])
def test_command_quoting_forms_store_and_run_the_same(mq: Meshq, given: str) -> None:
    mq.ok("queue", "create", "q")
    mq.ok("queue", "add", "q", "--name=j", f"--command={given}", "--host=localhost")
    assert mq.job("q", "j")["command"] == "sleep 0.1"
    done = run_fifo(mq, "q")
    assert done.returncode == 0, done.stderr
    job = mq.job("q", "j")
    assert job["status"] == "end" and job["exit_code"] == 0
    assert (job_dir(mq, "q", "j") / "j.err").read_text() == ""


def test_output_log_and_input_options_are_used(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local(
        "q",
        "j",
        'echo "in=$MESHQ_INPUT"',
        "--output=result.txt",
        "--log=state.log",
        "--input=/data/set1",
    )
    assert run_fifo(mq, "q").returncode == 0
    d = job_dir(mq, "q", "j")
    assert (d / "result.txt").read_text() == "in=/data/set1\n"
    log = (d / "state.log").read_text().split("\n")
    assert log[0].startswith("start ")
    assert any(line.startswith("end ") for line in log)
    assert mq.ok("queue", "logs", "q", "j").stdout == "in=/data/set1\n"


def test_jobs_that_cannot_start_are_fail_start(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "nodir", "true", "--directory=/nonexistent/meshq-dir")
    mq.add_local("q", "nopyenv", "true", "--pyenv=/nonexistent/activate")
    mq.add_local("q", "noshell", "true", "--shell=no-such-shell-meshq")
    mq.add_local("q", "fine", "true")
    done = run_fifo(mq, "q")
    assert done.returncode == 1
    jobs = {j["name"]: j for j in mq.jobs("q")}
    for name in ("nodir", "nopyenv", "noshell"):
        assert jobs[name]["status"] == "fail_start", jobs[name]
        assert jobs[name]["error"]
    assert jobs["fine"]["status"] == "end"


def test_a_default_folder_gone_by_the_start_is_one_line_naming_directory(mq: Meshq) -> None:
    # no --directory: the job runs where it was added, which the user then removed
    mq.ok("queue", "create", "q")
    gone = mq.work / "gone"
    gone.mkdir()
    mq.ok("queue", "add", "q", "--name=j", "--command=true", "--host=localhost", cwd=gone)
    gone.rmdir()
    assert run_fifo(mq, "q").returncode == 1
    said = (
        f"the working directory {gone} does not exist on this host: create it there, "
        "or give the job another with --directory"
    )
    assert mq.job("q", "j")["error"] == said
    log = (job_dir(mq, "q", "j") / "j.log").read_text().splitlines()
    assert len(log) == 1 and log[0].startswith("fail_start 1 ") and log[0].endswith(said)
    shown = mq.ok("queue", "show", "q", "j", env={**mq.env, "COLUMNS": "200"}).stdout
    assert said in shown


# -- queue list / status ----------------------------------------------------------


def test_list_formats_and_filters(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "ok[1-2]", "true")
    mq.add_local("q", "bad", "exit 3")
    mq.ok("queue", "add", "q", "--name=idle", "--command=true")
    run_fifo(mq, "q")

    jobs = mq.jobs("q")
    assert names_of(jobs) == ["ok1", "ok2", "bad", "idle"]
    for job in jobs:
        assert set(job) >= JOB_FIELDS, JOB_FIELDS - set(job)
        assert_utc_iso(job["submitted"])
    by = {j["name"]: j for j in jobs}
    assert by["ok1"]["status"] == "end" and by["ok1"]["exit_code"] == 0
    assert by["bad"]["status"] == "fail" and by["bad"]["exit_code"] == 3
    assert by["idle"]["status"] == "undefined"
    started = assert_utc_iso(by["ok1"]["started"])
    ended = assert_utc_iso(by["ok1"]["ended"])
    assert started <= ended
    assert abs((ended - datetime.now(ended.tzinfo)).total_seconds()) < 300
    assert by["ok1"]["attempts"] == 1 and isinstance(by["ok1"]["pid"], int)
    # no --directory given: the job runs in the folder it was added in,
    # stored with it, and show tells it
    assert by["ok1"]["directory"] == str(mq.work)
    shown = mq.json("queue", "show", "q", "ok1")
    assert shown["files"]["workdir"] == str(mq.work)
    assert shown["files"]["folder"] == str(job_dir(mq, "q", "ok1"))

    as_yaml = yaml.safe_load(mq.ok("queue", "list", "q", "--output=yaml").stdout)
    assert as_yaml == jobs
    rows = list(csv.DictReader(io.StringIO(mq.ok("queue", "list", "q", "-o", "csv").stdout)))
    assert [r["name"] for r in rows] == names_of(jobs)
    assert [r["status"] for r in rows] == [j["status"] for j in jobs]
    assert set(rows[0]) >= JOB_FIELDS
    table = mq.ok("queue", "list", "q").stdout
    for name in ("ok1", "ok2", "bad", "idle", "undefined", "fail"):
        assert name in table

    assert names_of(mq.jobs("q", "--status=end")) == ["ok1", "ok2"]
    assert names_of(mq.jobs("q", "--status=fail,undefined")) == ["bad", "idle"]
    assert names_of(mq.jobs("q", "--name=ok[2]")) == ["ok2"]
    assert names_of(mq.jobs("q", "--name=ok*")) == ["ok1", "ok2"]
    assert names_of(mq.jobs("q", "--name=ok[1-2]", "--status=end")) == ["ok1", "ok2"]
    assert mq.jobs("q", "--status=kill") == []


def test_list_empty_queue_in_every_format(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    assert mq.jobs("q") == []
    assert yaml.safe_load(mq.ok("queue", "list", "q", "-o", "yaml").stdout) in ([], None)
    mq.ok("queue", "list", "q", "-o", "csv")
    mq.ok("queue", "list", "q")


def test_status_counts_and_groups_names(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "job[1-3]", "true")
    mq.add_local("q", "job4", "exit 1")
    mq.ok("queue", "add", "q", "--name=job[5-6]", "--command=true")
    run_fifo(mq, "q")
    rows = mq.json("queue", "status", "q")
    got = {r["status"]: (r["count"], r["jobs"]) for r in rows}
    assert got == {
        "end": (3, ["job1", "job2", "job3"]),
        "fail": (1, ["job4"]),
        "undefined": (2, ["job5", "job6"]),
    }
    table = mq.ok("queue", "status", "q").stdout
    assert "end" in table and "fail" in table and "undefined" in table
    assert "job[1-3]" in table


def test_a_status_table_names_the_first_of_each_state_and_all_names_every_one(
    mq: Meshq,
) -> None:
    from meshq.cli.inspect import SHOWN_NAMES

    jobs = SHOWN_NAMES + 500
    mq.ok("queue", "create", "q")
    mq.ok("queue", "add", "q", f"--name=job[1-{jobs}]", "--command=true")
    table = mq.ok("queue", "status", "q").stdout
    assert f"job[1-{SHOWN_NAMES}] and 500 more" in table
    assert f"{jobs}" in table  # the count is every job's
    assert f"job[1-{jobs}]" in mq.ok("queue", "status", "q", "--all").stdout
    (row,) = mq.json("queue", "status", "q")
    assert row["count"] == jobs and len(row["jobs"]) == jobs  # JSON names every job
