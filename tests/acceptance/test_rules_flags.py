"""docs/rules.md, "Flags": the seed's flags keep the seed's meaning
(``queue add --output`` is the stdout file), the print format is
``--format`` (``--output``/``-o`` still work where they can mean nothing
else), ``--gpu`` is ids and ``--gpus`` a count on every command, ``-j`` is
``--max_parallel``, and every duration flag and job-file field reads the same
forms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.acceptance.conftest import Meshq


def one_line_exit_2(mq: Meshq, *argv: str) -> str:
    done = mq(*argv)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    (line,) = done.stderr.splitlines()
    return line


@pytest.mark.parametrize("fmt", ["json", "JSON", "yaml", "csv", "table"])
def test_queue_add_output_is_the_stdout_file_and_a_format_name_is_refused(
    mq: Meshq, fmt: str
) -> None:
    mq.ok("queue", "create", "q")
    line = one_line_exit_2(mq, "queue", "add", "q", "--name=j", "--command=true", f"--output={fmt}")
    assert f"--format={fmt.lower()}" in line and "stdout file" in line
    assert mq.jobs("q") == []


def test_queue_add_prints_json_with_format(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    done = mq.ok("queue", "add", "q", "--name=j[1-2]", "--command=echo hi", "--host=localhost",
                 "--output=hi.txt", "--format=json")
    assert json.loads(done.stdout)["added"] == ["j1", "j2"]
    assert {j["output"] for j in mq.jobs("q")} == {"hi.txt"}


@pytest.mark.parametrize("spelling", [["--format=json"], ["--output=json"], ["-o", "json"],
                                      ["--format", "JSON"]])
def test_the_old_spellings_of_format_still_work_where_unambiguous(
    mq: Meshq, spelling: list[str]
) -> None:
    mq.ok("queue", "create", "q")
    mq.ok("queue", "add", "q", "--name=j", "--command=true")
    for argv in (["queue", "list", "q"], ["queues"], ["hosts", "list"]):
        assert isinstance(json.loads(mq.ok(*argv, *spelling).stdout), list), argv


def test_format_and_output_that_disagree_are_refused(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    line = one_line_exit_2(mq, "queue", "list", "q", "--format=json", "--output=csv")
    assert "--format" in line


@pytest.mark.parametrize(
    ("typed", "seconds"),
    [("90", 90), ("90s", 90), ("30m", 1800), ("1h", 3600), ("1h30m", 5400),
     ("01:00:00", 3600), ("45:00", 2700), ("1-00:00:00", 86400)],
)
def test_timeout_reads_every_duration_form(mq: Meshq, typed: str, seconds: int) -> None:
    mq.ok("queue", "create", "q", f"--timeout={typed}")
    mq.ok("queue", "add", "q", "--name=j", "--command=true", f"--timeout={typed}")
    assert mq.job("q", "j")["timeout"] == seconds
    mq.ok("queue", "set", "q", f"--timeout={typed}")


def test_job_files_read_durations_the_same_way(mq: Meshq, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("- name: a\n  command: 'true'\n  timeout: 1h30m\n"
                    "- name: b\n  command: 'true'\n  timeout: '01:00:00'\n"
                    "- name: c\n  command: 'true'\n  timeout: 90\n")
    mq.ok("queue", "create", "q")
    mq.ok("queue", "add", "q", f"--file={jobs}")
    assert {j["name"]: j["timeout"] for j in mq.jobs("q")} == {"a": 5400, "b": 3600, "c": 90}


@pytest.mark.parametrize("typed", ["1x", "1h1d", "1:60", "-1", "0", "soon"])
def test_a_bad_duration_is_one_line_naming_the_forms(mq: Meshq, typed: str) -> None:
    mq.ok("queue", "create", "q")
    line = one_line_exit_2(mq, "queue", "add", "q", "--name=j", "--command=true",
                           f"--timeout={typed}")
    assert "--timeout" in line
    assert mq.jobs("q") == []


def test_dash_j_is_max_parallel(mq: Meshq) -> None:
    spans = mq.work / "spans.txt"
    mq.ok("queue", "create", "q")
    mq.add_local("q", "job[1-4]", f'echo "$MESHQ_JOB start" >> {spans}; sleep 0.4; '
                 f'echo "$MESHQ_JOB end" >> {spans}')
    mq.ok("queue", "run", "fifo", "q", "-j", "2", timeout=60)
    running = most = 0
    for line in spans.read_text().splitlines():
        running += 1 if line.endswith("start") else -1
        most = max(most, running)
    assert most == 2


def hosts_gpus(mq: Meshq) -> dict[str, list[str]]:
    return {h["name"]: h["gpu"] for h in mq.json("hosts", "list")}


def test_gpu_is_ids_and_gpus_a_count_on_hosts_too(mq: Meshq) -> None:
    mq.ok("hosts", "add", "counted", "--gpus=4")
    mq.ok("hosts", "add", "named", "--gpu=0,2")
    mq.ok("hosts", "add", "old-form", "--gpus=1,3")   # ids, as --gpus took before
    mq.ok("hosts", "add", "none")
    assert hosts_gpus(mq) == {"counted": ["0", "1", "2", "3"], "named": ["0", "2"],
                              "old-form": ["1", "3"], "none": []}
    assert [h["gpus"] for h in mq.json("hosts", "list")] == [4, 2, 2, 0]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["hosts", "add", "h", "--gpus=0"], "--gpu="),
        (["hosts", "add", "h", "--gpus=two"], "how many"),
        (["hosts", "add", "h", "--gpu=0", "--gpus=2"], "not both"),
        (["queue", "add", "q", "--name=j", "--command=true", "--gpus=0,1"], "--gpu=0,1"),
        (["queue", "add", "q", "--name=j", "--command=true", "--gpu=0", "--gpus=1"], "not both"),
    ],
)
def test_gpu_flags_that_cannot_be_read_are_refused(mq: Meshq, argv: list[str], says: str) -> None:
    mq.ok("queue", "create", "q")
    assert says in one_line_exit_2(mq, *argv)
    assert mq.json("hosts", "list") == [] and mq.jobs("q") == []
