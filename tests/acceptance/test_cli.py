"""Acceptance tests: the ``meshq`` command line as a user runs it.

Every test drives the real CLI (``python -m meshq``) in a subprocess, on a
store of its own (``MESHQ_HOME`` in the test's tmp dir), and runs real jobs
on this machine. Nothing is mocked; state is read back through the CLI
(``-o json``) and the files the jobs write.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import signal
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.acceptance.conftest import (
    BASE_QUEUE,
    Meshq,
    alive,
    group_members,
    wait_until,
)
from tests.acceptance.seed_support import jobset, seed_job

JOB_FIELDS = {
    "name",
    "status",
    "host",
    "user",
    "command",
    "exit_code",
    "pid",
    "attempts",
    "submitted",
    "started",
    "ended",
    "error",
    "directory",
}


def job_dir(mq: Meshq, queue: str, name: str) -> Path:
    return mq.experiment() / queue / name


def out_of(mq: Meshq, queue: str, name: str) -> str:
    return (job_dir(mq, queue, name) / f"{name}.out").read_text()


def names_of(jobs: list[dict[str, Any]]) -> list[str]:
    return [j["name"] for j in jobs]


def run_fifo(
    mq: Meshq, queue: str, n: int = 4, *, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    return mq("queue", "run", "fifo", queue, f"--max_parallel={n}", timeout=timeout)


def assert_utc_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), f"{value!r} is not in UTC"
    return parsed


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


# -- queue run fifo -----------------------------------------------------------------


def max_overlap(lines: list[str]) -> int:
    """The most jobs that were between their start and end line at once."""
    events = []
    for line in lines:
        _name, what, stamp = line.split()
        events.append((float(stamp), 0 if what == "end" else 1))
    events.sort()
    now = most = 0
    for _, kind in events:
        now += 1 if kind else -1
        most = max(most, now)
    return most


@pytest.mark.parametrize(("option", "n"), [("--max_parallel", 2), ("--max-parallel", 3)])
def test_run_fifo_runs_at_most_max_parallel_at_once(mq: Meshq, option: str, n: int) -> None:
    spans = mq.work / "spans.txt"
    command = (
        f'echo "$MESHQ_JOB start $(date +%s.%N)" >> {spans}; sleep 0.3; '
        f'echo "$MESHQ_JOB end $(date +%s.%N)" >> {spans}'
    )
    mq.ok("queue", "create", "q")
    mq.add_local("q", "job[1-6]", command)
    done = mq("queue", "run", "fifo", "q", f"{option}={n}", timeout=60)
    assert done.returncode == 0, done.stderr
    lines = spans.read_text().splitlines()
    assert len(lines) == 12
    assert max_overlap(lines) == n
    jobs = mq.jobs("q")
    assert {j["status"] for j in jobs} == {"end"}
    for job in jobs:
        d = job_dir(mq, "q", job["name"])
        for suffix in (".out", ".err", ".log"):
            assert (d / f"{job['name']}{suffix}").is_file()


def test_run_fifo_runs_in_queue_order_one_at_a_time(mq: Meshq) -> None:
    order = mq.work / "order.txt"
    mq.ok("queue", "create", "q")
    mq.add_local("q", "job[1-5]", f'echo "$MESHQ_JOB" >> {order}')
    assert run_fifo(mq, "q", 1).returncode == 0
    assert order.read_text().split() == [f"job{i}" for i in range(1, 6)]


def test_run_fifo_exits_one_when_a_job_fails(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "good", "true")
    mq.add_local("q", "bad", "echo oops >&2; exit 3")
    done = run_fifo(mq, "q")
    assert done.returncode == 1
    jobs = {j["name"]: j for j in mq.jobs("q")}
    assert (jobs["good"]["status"], jobs["good"]["exit_code"]) == ("end", 0)
    assert (jobs["bad"]["status"], jobs["bad"]["exit_code"]) == ("fail", 3)
    assert (job_dir(mq, "q", "bad") / "bad.err").read_text() == "oops\n"


def test_run_fifo_skips_jobs_without_host(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.ok("queue", "add", "q", "--name=loose", "--command=true")
    mq.add_local("q", "pinned", "true")
    done = run_fifo(mq, "q")
    assert "skip" in done.stderr.lower()
    assert mq.statuses("q") == {"loose": "undefined", "pinned": "end"}
    assert not job_dir(mq, "q", "loose").exists()


def test_run_fifo_with_nothing_to_run_exits_zero(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    assert run_fifo(mq, "q").returncode == 0


def test_job_environment_variables(mq: Meshq) -> None:
    mq.ok("queue", "create", "envq")
    cmd = 'echo "$MESHQ_QUEUE|$MESHQ_JOB|$MESHQ_INDEX|$MESHQ_ATTEMPT"'
    mq.add_local("envq", "job[7-8]", cmd)
    mq.add_local("envq", "job[06-07]", cmd)
    assert run_fifo(mq, "envq").returncode == 0
    assert out_of(mq, "envq", "job7") == "envq|job7|7|1\n"
    assert out_of(mq, "envq", "job8") == "envq|job8|8|1\n"
    assert out_of(mq, "envq", "job07") == "envq|job07|07|1\n"
    assert out_of(mq, "envq", "job06") == "envq|job06|06|1\n"
    # a second attempt says so
    mq.ok("queue", "reset", "envq", "--name=job7", "--status=end")
    assert run_fifo(mq, "envq").returncode == 0
    assert out_of(mq, "envq", "job7") == "envq|job7|7|2\n"
    assert mq.job("envq", "job7")["attempts"] == 2


def test_gpu_sets_cuda_variables_only_when_given(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    cmd = 'echo "${CUDA_VISIBLE_DEVICES-unset} ${CUDA_DEVICE_ORDER-unset}"'
    mq.add_local("q", "gpu", cmd, "--gpu=0,1")
    mq.add_local("q", "nogpu", cmd)
    assert "CUDA_VISIBLE_DEVICES" not in mq.env
    assert run_fifo(mq, "q").returncode == 0
    assert out_of(mq, "q", "gpu") == "0,1 PCI_BUS_ID\n"
    assert out_of(mq, "q", "nogpu") == "unset unset\n"


def test_pyenv_is_sourced_before_the_command(mq: Meshq, tmp_path: Path) -> None:
    script = tmp_path / "activate"
    script.write_text('export MESHQ_TEST_ENV="activated"\n')
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text('export MESHQ_TEST_ENV="from-venv"\n')
    mq.ok("queue", "create", "q")
    mq.add_local("q", "script", 'echo "${MESHQ_TEST_ENV-missing}"', f"--pyenv={script}")
    mq.add_local("q", "folder", 'echo "${MESHQ_TEST_ENV-missing}"', f"--pyenv={venv}")
    mq.add_local("q", "none", 'echo "${MESHQ_TEST_ENV-missing}"')
    assert run_fifo(mq, "q").returncode == 0
    assert out_of(mq, "q", "script") == "activated\n"
    assert out_of(mq, "q", "folder") == "from-venv\n"
    assert out_of(mq, "q", "none") == "missing\n"


def test_directory_is_the_working_directory(mq: Meshq, tmp_path: Path) -> None:
    absolute = tmp_path / "absdir"
    absolute.mkdir()
    (mq.work / "reldir").mkdir()
    mq.ok("queue", "create", "q")
    mq.add_local("q", "abs", "pwd", f"--directory={absolute}")
    mq.add_local("q", "rel", "pwd", "--directory=reldir")
    mq.add_local("q", "default", 'pwd; echo "$MESHQ_JOB_DIR"')
    mq.ok("queue", "add", "q", "--name=below", "--command=pwd", "--host=localhost", cwd=absolute)
    assert run_fifo(mq, "q").returncode == 0
    assert out_of(mq, "q", "abs").strip() == str(absolute)
    assert out_of(mq, "q", "rel").strip() == str(mq.work / "reldir")
    # no --directory: where queue add ran, as Slurm, pueue and GNU Parallel
    # run a job; MESHQ_JOB_DIR is still the job's own folder
    assert out_of(mq, "q", "default").split() == [str(mq.work), str(job_dir(mq, "q", "default"))]
    assert out_of(mq, "q", "below").strip() == str(absolute)


def test_job_files_and_job_add_run_where_they_were_added(mq: Meshq) -> None:
    # a job file without directory runs where queue add --file ran; the
    # seed's `job add` likewise, and its `directory: .` is that folder too
    proj = mq.work / "proj"
    proj.mkdir()
    (proj / "jobs.yaml").write_text(
        "jobs:\n  - {name: f1, command: pwd, host: localhost}\n"
        "  - {name: f2, command: pwd, host: localhost, directory: sub}\n"
    )
    (proj / "sub").mkdir()
    mq.ok("queue", "create", "q")
    mq.ok("queue", "add", "q", "--file=jobs.yaml", cwd=proj)
    assert run_fifo(mq, "q").returncode == 0
    assert out_of(mq, "q", "f1") == f"{proj}\n"
    assert out_of(mq, "q", "f2") == f"{proj / 'sub'}\n"
    (proj / "a.yaml").write_text(jobset(seed_job("d1", executable="pwd", arguments="")))
    mq.ok("job", "set", "a.yaml", cwd=proj)
    mq.ok("job", "add", "--name=n1", "--ip=localhost", "--executable=pwd", cwd=proj / "sub")
    jobs = {j["name"]: j for j in mq.jobs("a")}
    assert jobs["d1"]["directory"] == str(proj)
    assert jobs["n1"]["directory"] == str(proj / "sub")


def test_queue_set_directory_moves_where_a_waiting_job_runs(mq: Meshq) -> None:
    proj = mq.work / "proj"
    (proj / "sub").mkdir(parents=True)
    mq.ok("queue", "create", "q")
    mq.ok("queue", "add", "q", "--name=j[1-2]", "--command=pwd", "--host=localhost", cwd=proj)
    # another field set leaves the folder it was added in; --directory is
    # read where queue set runs, as add reads it
    mq.ok("queue", "set", "q", "--name=j1", "--command=pwd; true", cwd=mq.work)
    mq.ok("queue", "set", "q", "--name=j2", "--directory=sub", cwd=proj)
    assert run_fifo(mq, "q").returncode == 0
    assert out_of(mq, "q", "j1") == f"{proj}\n"
    assert out_of(mq, "q", "j2") == f"{proj / 'sub'}\n"


def test_shell_option_picks_the_shell(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "sh", 'echo "$0"', "--shell=sh")
    mq.add_local("q", "default", 'echo "$0"')
    assert run_fifo(mq, "q").returncode == 0
    assert out_of(mq, "q", "sh") == "sh\n"
    assert out_of(mq, "q", "default") == "bash\n"


def test_timeout_ends_a_long_job_quickly(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "slow", "sleep 30", "--timeout=1")
    t0 = time.monotonic()
    done = run_fifo(mq, "q", timeout=25)
    took = time.monotonic() - t0
    assert done.returncode == 1
    job = mq.job("q", "slow")
    assert job["status"] == "timeout"
    assert took < 10, f"a 1 s timeout took {took:.1f} s"
    wait_until(lambda: group_members(job["pid"]) == [], 10, what="the timed-out job to go")


def test_command_with_shell_characters_runs_as_written(mq: Meshq) -> None:
    command = 'echo "a;b" | wc -c'
    mq.ok("queue", "create", "q")
    mq.add_local("q", "j", command)
    assert mq.job("q", "j")["command"] == command
    assert run_fifo(mq, "q").returncode == 0
    assert out_of(mq, "q", "j").strip() == "4"


def test_experiment_with_spaces_unicode_output_and_no_stdin(mq: Meshq) -> None:
    mq.ok("queue", "create", "q", "--experiment=my exp")
    mq.add_local("q", "j", "echo 'héllo wörld' \"$MESHQ_JOB_DIR\"")
    mq.add_local("q", "reads", "cat")  # stdin is not the terminal: no hang
    assert run_fifo(mq, "q", 2, timeout=20).returncode == 0
    d = mq.work / "my exp" / "q" / "j"
    assert (d / "j.out").read_text(encoding="utf-8") == f"héllo wörld {d}\n"
    assert mq.job("q", "reads")["status"] == "end"


def test_two_runs_at_once_run_each_job_once(mq: Meshq) -> None:
    ran = mq.work / "ran.txt"
    mq.ok("queue", "create", "q")
    mq.add_local("q", "job[1-10]", f'echo "$MESHQ_JOB" >> {ran}; sleep 0.2')
    runs = [mq.popen("queue", "run", "fifo", "q", "--max_parallel=3") for _ in range(2)]
    for run in runs:
        rc, _out, err = mq.finish(run)
        # a run that finds the other's jobs just launched must not take them
        # for crashed (the race is hit in about one run of this test in four)
        assert "crash" not in err, err
        assert rc == 0, err
    assert sorted(ran.read_text().split()) == sorted(f"job{i}" for i in range(1, 11))
    assert {j["attempts"] for j in mq.jobs("q")} == {1}
    assert set(mq.statuses("q").values()) == {"end"}


def test_jobs_added_during_a_run_are_run_by_it(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "first", "sleep 3")
    run = mq.popen("queue", "run", "fifo", "q", "--max_parallel=2")
    mq.wait_status("q", ["first"], {"start"})
    mq.add_local("q", "late", "echo late")
    assert mq.job("q", "first")["status"] == "start", "the run ended before the add"
    rc, _out, err = mq.finish(run)
    assert rc == 0, err
    assert mq.statuses("q") == {"first": "end", "late": "end"}
    assert out_of(mq, "q", "late") == "late\n"


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


# -- bad input -----------------------------------------------------------------------


def _add(*extra: str, name: str = "new") -> list[str]:
    return [
        "queue",
        "add",
        BASE_QUEUE,
        f"--name={name}",
        "--command=true",
        "--host=localhost",
        *extra,
    ]


BAD_INPUTS = [
    pytest.param(_add(name="job[5-1]"), id="pattern-reversed-range"),
    pytest.param(_add(name="job[1-"), id="pattern-unclosed"),
    pytest.param(_add(name="job]1["), id="pattern-backwards-brackets"),
    pytest.param(_add(name="job[a-c]"), id="pattern-letters"),
    pytest.param(_add(name="job1"), id="duplicate-name"),
    pytest.param(_add(name="job[3-5]"), id="pattern-overlaps-existing"),
    pytest.param(_add(name="x,y,x"), id="pattern-repeats-a-name"),
    pytest.param(["queue", "add", "nope", "--name=x", "--command=true"], id="add-unknown-queue"),
    pytest.param(_add(name="a/b"), id="name-slash"),
    pytest.param(_add(name=".."), id="name-dotdot"),
    pytest.param(_add(name="../x"), id="name-parent"),
    pytest.param(_add(name="a b"), id="name-space"),
    pytest.param(_add(name="a;b"), id="name-semicolon"),
    pytest.param(_add(name="$(x)"), id="name-command-substitution"),
    pytest.param(_add(name=""), id="name-empty"),
    pytest.param(_add("--status=bogus"), id="add-unknown-state"),
    pytest.param(_add("--status=end"), id="add-state-not-a-first-state"),
    pytest.param(
        ["queue", "add", BASE_QUEUE, "--name=new", "--command=true", "--status=ready"],
        id="add-ready-without-host",
    ),
    pytest.param(["queue", "list", BASE_QUEUE, "--status=bogus"], id="list-unknown-state"),
    pytest.param(["queue", "reset", BASE_QUEUE, "--status=bogus"], id="reset-unknown-state"),
    pytest.param(_add("--bogus"), id="add-unknown-option"),
    pytest.param(["queue", "list", BASE_QUEUE, "--frobnicate=1"], id="list-unknown-option"),
    pytest.param(["queue", "nosuchcommand", BASE_QUEUE], id="unknown-command"),
    pytest.param(["queue", "list", BASE_QUEUE, "--output=xml"], id="unknown-output-format"),
    pytest.param(["queue", "add", BASE_QUEUE, "--command=true"], id="add-without-name"),
    pytest.param(_add("--command="), id="add-empty-command"),
    pytest.param(["queue", "run", "fifo", BASE_QUEUE, "--max_parallel=0"], id="max_parallel-0"),
    pytest.param(["queue", "run", "fifo", BASE_QUEUE, "--max-parallel=0"], id="max-parallel-0"),
    pytest.param(
        ["queue", "run", "fifo", BASE_QUEUE, "--max_parallel=two"], id="max_parallel-not-a-number"
    ),
    pytest.param(["queue", "run", "fifo", "nope", "--max_parallel=1"], id="run-unknown-queue"),
    pytest.param(_add("--gpu=0;1"), id="gpu-semicolon"),
    pytest.param(_add("--gpu=$(x)"), id="gpu-substitution"),
    pytest.param(_add("--gpu="), id="gpu-empty"),
    pytest.param(_add("--timeout=abc"), id="timeout-text"),
    pytest.param(_add("--timeout=0"), id="timeout-zero"),
    pytest.param(_add("--timeout=-5"), id="timeout-negative"),
    pytest.param(_add("--timeout=nan"), id="timeout-nan"),
    pytest.param(_add("--shell=bash;id"), id="shell-semicolon"),
    pytest.param(_add("--user=a b"), id="user-space"),
    pytest.param(_add("--host=a;b"), id="host-semicolon"),
    pytest.param(_add("--output=../x.out"), id="output-path"),
    pytest.param(_add("--experiment=/somewhere/else"), id="add-wrong-experiment"),
    pytest.param(["queue", "create", "z", "--experiment=/tmp/a;b"], id="experiment-semicolon"),
    pytest.param(
        ["queue", "create", "z", "--experiment=$(touch pwned)"], id="experiment-substitution"
    ),
    pytest.param(["queue", "create", "z", "--experiment=a/../b"], id="experiment-dotdot"),
    pytest.param(["queue", "create", BASE_QUEUE], id="create-existing-queue"),
    pytest.param(["queue", "create", "a/b"], id="create-bad-queue-name"),
    pytest.param(["queue", "list", "nope"], id="list-unknown-queue"),
    pytest.param(["queue", "status", "nope"], id="status-unknown-queue"),
    pytest.param(["queue", "delete", "nope"], id="delete-unknown-queue"),
    pytest.param(["queue", "delete", BASE_QUEUE, "--name=job9"], id="delete-unknown-job"),
    pytest.param(
        ["queue", "delete", BASE_QUEUE, "--name=job[7-9]"], id="delete-range-matching-no-job"
    ),
    pytest.param(["queue", "reset", BASE_QUEUE, "--name=nojob*"], id="reset-glob-matching-no-job"),
    pytest.param(["queue", "kill", BASE_QUEUE, "--name=job9"], id="kill-unknown-job"),
    pytest.param(["queue", "reset", BASE_QUEUE, "--name=job9"], id="reset-unknown-job"),
    pytest.param(["queue", "show", BASE_QUEUE, "job9"], id="show-unknown-job"),
    pytest.param(["queue", "logs", BASE_QUEUE, "job9"], id="logs-unknown-job"),
    pytest.param(["queue", "logs", BASE_QUEUE, "job1"], id="logs-job-not-run"),
]


def snapshot(mq: Meshq) -> list[Any]:
    """Every queue and every job, as the CLI reports them (read side by side)."""
    commands = [["queues"], ["queue", "list", BASE_QUEUE]]
    procs = [mq.popen(*c, "--output=json") for c in commands]
    out = []
    for command, proc in zip(commands, procs, strict=True):
        rc, stdout, stderr = mq.finish(proc)
        assert rc == 0, f"{command}: {stderr}"
        out.append(json.loads(stdout))
    return out


@pytest.fixture(scope="session")
def base_snapshot(
    _base_store: Path, tmp_path_factory: pytest.TempPathFactory, pycache: Path
) -> list[Any]:
    root = tmp_path_factory.mktemp("base-snapshot")
    shutil.rmtree(root)
    shutil.copytree(_base_store, root)
    cli = Meshq(root, pycache)
    try:
        return snapshot(cli)
    finally:
        cli.cleanup()


def test_base_store_is_what_the_bad_input_tests_expect(base_snapshot: list[Any]) -> None:
    queues, jobs = base_snapshot
    assert [(q["queue"], q["jobs"], q["ready"], q["undefined"]) for q in queues] == [
        ("q", 3, 3, 0),
        ("other", 1, 0, 1),
    ]
    assert names_of(jobs) == ["job1", "job2", "job3"]
    assert {j["status"] for j in jobs} == {"ready"}


@pytest.mark.parametrize("argv", BAD_INPUTS)
def test_bad_input_one_line_exit_2_nothing_changed(
    base_mq: Meshq, base_snapshot: list[Any], argv: list[str]
) -> None:
    done = base_mq(*argv)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"stderr is not one line: {done.stderr!r}"
    assert snapshot(base_mq) == base_snapshot
    assert list(base_mq.work.iterdir()) == [], "a bad input left files in the cwd"
    assert not list(base_mq.home.glob("**/pwned"))
