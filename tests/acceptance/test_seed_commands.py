"""meshq's side of the seed's vocabulary, from the command line: runs of a
selection (``queue run … --name``), a stored policy (``queue set
--policy``), ``queue import``/``export`` and ``hosts export``, the seed's
files taken by ``queue add --file``, and bad input to all of them: one
line, exit status 2, nothing changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.acceptance.conftest import Meshq
from tests.acceptance.seed_support import README_TEMPLATE, jobset, one_line_error, seed_job


def statuses(mq: Meshq, queue: str) -> dict[str, str]:
    return {j["name"]: j["status"] for j in mq.jobs(queue)}


@pytest.mark.parametrize("scheduler", ["fifo", "fifo_multi"])
def test_run_runs_only_the_jobs_name_selects(mq: Meshq, scheduler: str) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "job[1-5]", "true")
    extra = ["--max_parallel=2"] if scheduler == "fifo" else ["--hosts=localhost,localhost"]
    done = mq("queue", "run", scheduler, "q", "--name=job[2-3]", *extra)
    assert done.returncode == 0, done.stderr  # the others are not "left waiting"
    assert statuses(mq, "q") == {
        "job1": "ready", "job2": "end", "job3": "end", "job4": "ready", "job5": "ready"}
    mq.ok("queue", "run", scheduler, "q", "--name=job*", *extra)
    assert set(statuses(mq, "q").values()) == {"end"}


def test_a_stored_policy_is_shown_exported_and_used(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    done = mq.ok("queue", "set", "q", "--policy=frugal")
    assert "policy frugal" in done.stdout
    config = yaml.safe_load(mq.ok("queue", "export", "q").stdout)["config"]
    assert config["policy"] == "frugal"
    mq.add_local("q", "a", "true")
    mq.ok("hosts", "add", "localhost")
    mq.ok("queue", "run", "fifo_multi", "q")  # no --policy: the stored one (and it runs)
    assert statuses(mq, "q") == {"a": "end"}


def test_import_export_from_the_command_line(mq: Meshq) -> None:
    (mq.work / "spec.yaml").write_text(README_TEMPLATE)
    done = mq.ok("queue", "import", "spec.yaml")
    assert "imported queue spec (1 job(s)" in done.stdout and "juliet" in done.stdout
    text = mq.ok("queue", "export", "spec", "--format=jobset").stdout
    mq.ok("queue", "export", "spec", "--format=jobset", "--file=again.yaml")
    assert (mq.work / "again.yaml").read_text() == text
    mq.ok("queue", "import", "again.yaml", "--name=copy")
    assert mq.ok("queue", "export", "copy", "--format=jobset").stdout == text.replace(
        "queue: spec", "queue: copy")
    cluster = mq.ok("hosts", "export").stdout
    assert set(yaml.safe_load(cluster)) == {"localhost", "juliet"}
    mq.ok("hosts", "export", "--file=all-cluster.yaml")
    assert (mq.work / "all-cluster.yaml").read_text() == cluster


def test_queue_add_file_takes_the_seeds_files(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    (mq.work / "template.yaml").write_text(jobset(seed_job("ls_j")))
    (mq.work / "spec.yaml").write_text(seed_job("other", executable="echo", arguments="hi"))
    mq.ok("queue", "add", "q", "--file=template.yaml")
    mq.ok("queue", "add", "q", "--file=spec.yaml")
    jobs = {j["name"]: j for j in mq.jobs("q")}
    assert (jobs["ls_j"]["command"], jobs["other"]["command"]) == ("ls -a", "echo hi")
    assert jobs["ls_j"]["host"] == "localhost"
    mq.ok("queue", "run", "fifo", "q", "--max_parallel=2")
    assert set(statuses(mq, "q").values()) == {"end"}


def test_a_hand_edited_jobset_is_never_overwritten(mq: Meshq) -> None:
    (mq.work / "a.yaml").write_text(jobset(seed_job("ls_j")))
    mq.ok("job", "set", "a.yaml")
    edited = (mq.work / "a.yaml").read_text().replace("ls_j:", "ls_k:", 1)
    (mq.work / "a.yaml").write_text(edited)
    line = one_line_error(mq("job", "add", "--name=x"))
    assert "changed outside meshq" in line and "meshq queue export a" in line
    assert (mq.work / "a.yaml").read_text() == edited
    listed = mq("job", "list")
    assert listed.returncode == 0 and "changed outside meshq" in listed.stderr
    # keep the store's, as the line says
    mq.ok("queue", "export", "a", "--format=jobset", "--file=a.yaml")
    mq.ok("job", "add", "--name=x")
    assert list(yaml.safe_load((mq.work / "a.yaml").read_text())["cloudmesh"]["jobset"][
        "jobs"]) == ["ls_j", "x"]


# -- bad input -----------------------------------------------------------------------

BAD = [
    pytest.param(["job", "add", "--name=z[0-2]", "--ip=123,345"], id="ip-count"),
    pytest.param(["job", "add", "--name=z[0-1]", "--output=a,b,c"], id="output-count"),
    pytest.param(["job", "add", "--name=x", "--output=../x"], id="output-leaves-folder"),
    pytest.param(["job", "add", "--name=x", "--status=done"], id="add-not-a-first-state"),
    pytest.param(["job", "add", "--name=ls_j"], id="add-existing-job"),
    pytest.param(["job", "add", "--name=x", "--ip=a;b"], id="ip-shell"),
    pytest.param(["job", "add"], id="add-nothing"),
    pytest.param(["job", "add", "jobs.yaml", "--name=x"], id="add-file-and-name"),
    pytest.param(["job", "add", "running.yaml"], id="add-submitted-job"),
    pytest.param(["job", "add", "typo.yaml"], id="add-unknown-field"),
    pytest.param(["job", "scheduler", "--policy=fastest"], id="policy-unknown"),
    pytest.param(["job", "scheduler"], id="scheduler-nothing"),
    pytest.param(["job", "set", "bad name.yaml"], id="set-bad-file-name"),
    pytest.param(["job", "hosts", "add", "--hostname=h", "--ip=a;b", "--cpus=1"], id="host-ip"),
    pytest.param(["job", "hosts", "add", "--hostname=h", "--ip=1.2.3.4", "--cpus=1",
                  "--job_counter=2"], id="host-job-counter"),
    pytest.param(["job", "hosts", "add", "--hostname=localhost", "--ip=localhost", "--cpus=1"],
                 id="host-exists"),
    pytest.param(["job", "list", "--status=sleeping"], id="list-unknown-state"),
    pytest.param(["job", "kill", "--name=nosuch"], id="kill-unknown-job"),
    pytest.param(["job", "run", "--name=nosuch"], id="run-unknown-job"),
    pytest.param(["job", "--service", "stop"], id="service-unknown-action"),
    pytest.param(["set", "nosuch=1"], id="set-unknown-variable"),
    pytest.param(["set", "jobset="], id="set-empty-jobset"),
    pytest.param(["queue", "set", "a", "--policy=fastest"], id="queue-policy-unknown"),
    pytest.param(["queue", "import", "missing.yaml"], id="import-missing"),
    pytest.param(["queue", "import", "typo.yaml"], id="import-unknown-field"),
    pytest.param(["queue", "import", "a.yaml"], id="import-existing-queue"),
    pytest.param(["queue", "export", "a", "--format=xml"], id="export-format"),
    pytest.param(["queue", "export", "nosuch"], id="export-unknown-queue"),
    pytest.param(["queue", "run", "fifo", "a", "--name=nosuch"], id="run-fifo-unknown-job"),
    pytest.param(["queue", "run", "fifo_multi", "a", "--name=x*"], id="run-multi-no-match"),
    pytest.param(["queue", "create", "a-queue.yaml"], id="create-existing-by-file-name"),
]


def snapshot(mq: Meshq) -> list[Any]:
    return [
        json.loads(mq.ok("queues", "--output=json").stdout),
        json.loads(mq.ok("queue", "list", "a", "--output=json").stdout),
        json.loads(mq.ok("hosts", "list", "--output=json").stdout),
        (mq.work / "a.yaml").read_text(),
    ]


@pytest.mark.parametrize("argv", BAD)
def test_bad_input_one_line_exit_2_nothing_changed(mq: Meshq, argv: list[str]) -> None:
    (mq.work / "a.yaml").write_text(jobset(seed_job("ls_j")))
    mq.ok("job", "set", "a.yaml")
    (mq.work / "jobs.yaml").write_text(seed_job("j1"))
    (mq.work / "running.yaml").write_text(seed_job("r1", status="submitted"))
    (mq.work / "typo.yaml").write_text(seed_job("t1").replace("executable:", "executible:"))
    before = snapshot(mq)
    files = sorted(p.name for p in mq.work.iterdir())
    done = mq(*argv)
    one_line_error(done)
    assert snapshot(mq) == before
    assert sorted(p.name for p in mq.work.iterdir()) == files
    assert not Path(mq.work / "experiment").exists()
