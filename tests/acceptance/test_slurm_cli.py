"""A Slurm cluster through the ``meshq`` CLI, as a user meets it: adding it, probing
it, running a queue there, seeing a waiting job's Slurm id and reason, killing it, and
bad input that changes nothing. A real single-node Slurm (``tests/support/slurm.py``),
meshq on its login node (``--login=local``)."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.acceptance.conftest import Meshq, wait_until
from tests.support.slurm import SlurmCluster

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(120)]


def test_add_probe_and_list_a_cluster(mq: Meshq, slurm: SlurmCluster) -> None:
    added = mq.ok("hosts", "add", "hpc", "--kind=slurm", "--login=local", "--max_jobs_allowed=50")
    assert "added Slurm cluster hpc (login node this machine, up to 50 job(s)" in added.stdout
    probed = mq.ok("hosts", "probe")
    assert probed.stdout.startswith(
        "hpc: ok (debug*: 1 node(s) (0 alloc, 1 idle, 0 other), 4 GPU(s); short: "
    )
    [host] = mq.json("hosts", "list")
    assert (host["kind"], host["status"], host["max_jobs_allowed"]) == ("slurm", "active", 50)
    assert host["info"].startswith("debug*: 1 node(s)")
    table = mq.ok("hosts", "list").stdout
    assert "slurm" in table and "debug*" in table


def test_a_partition_the_cluster_lacks_is_down_saying_so(mq: Meshq, slurm: SlurmCluster) -> None:
    mq.ok("hosts", "add", "hpc", "--kind=slurm", "--login=local", "--partition=gpu")
    probed = mq("hosts", "probe", "hpc")
    assert probed.returncode == 1
    assert "hpc: down: no partition 'gpu' there (it has: debug, short): fix --partition" in (
        probed.stdout
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--kind=slurm",), "a Slurm cluster needs --login"),
        (("--kind=slurm", "--login=me@host;rm"), "invalid --login"),
        (("--kind=slurm", "--login=local", "--sbatch-option=--output=/tmp/x"), "--output"),
        (("--kind=slurm", "--login=local", "--sbatch-option=--wrap=id"), "--wrap"),
        (("--kind=slurm", "--login=local", "--partition=$(id)"), "invalid --partition"),
        (("--kind=slurm", "--login=local", "--gpus=0,1"), "gives out GPUs itself"),
        (("--partition=debug",), "--partition is for a Slurm cluster: add --kind=slurm"),
        (("--kind=pbs",), "unknown host kind"),
    ],
)
def test_bad_cluster_input_is_one_line_exit_2_and_changes_nothing(
    mq: Meshq, args: tuple[str, ...], says: str
) -> None:
    done = mq("hosts", "add", "hpc", *args)
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], done.stderr
    assert mq.json("hosts", "list") == []


def test_a_queue_on_the_cluster_shows_slurm_ids_and_reasons(mq: Meshq, slurm: SlurmCluster) -> None:
    queue = f"q{uuid.uuid4().hex[:8]}"
    mq.ok("hosts", "add", "hpc", "--kind=slurm", "--login=local")
    mq.ok(
        "hosts",
        "add",
        "later",
        "--kind=slurm",
        "--login=local",
        "--sbatch-option=--begin=now+1hour",
    )
    mq.ok("queue", "create", queue)
    mq.ok("queue", "add", queue, "--name=now[1-3]", "--command=echo $MESHQ_JOB", "--host=hpc")
    mq.ok("queue", "add", queue, "--name=wait", "--command=true", "--host=later")
    runner = mq.popen("queue", "run", "fifo", queue, "--max_parallel=10")
    wait_until(
        lambda: mq.job(queue, "wait")["remote_state"] == "PENDING (BeginTime)",
        timeout=30,
        what="the waiting job's reason",
    )
    mq.wait_status(queue, ["now1", "now2", "now3"], {"end"}, timeout=30)
    table = mq.ok("queue", "list", queue).stdout
    assert "remote" in table and "PENDING (BeginTime)" in table
    record = mq.job(queue, "wait")
    assert record["status"] == "run" and record["remote_id"].endswith("_0")
    # a job's end line can reach meshq while Slurm still says RUNNING or
    # COMPLETING (its epilog): the run follows it until Slurm's final word
    wait_until(
        lambda: {mq.job(queue, f"now{i}")["remote_state"] for i in (1, 2, 3)} == {"COMPLETED"},
        timeout=30,
        what="Slurm's final state of the ended jobs",
    )
    shown = mq.ok("queue", "show", queue, "wait").stdout
    assert f"remote_id     {record['remote_id']}" in shown
    killed = mq.ok("queue", "kill", queue, "--name=wait")
    assert "wait" in killed.stdout
    code, _, _ = mq.finish(runner, timeout=60)
    assert code == 1  # a job it was there to run was killed
    assert mq.job(queue, "wait")["status"] == "kill"
    logs = mq.ok("queue", "logs", queue, "now2").stdout
    assert logs == "now2\n"
    shown = json.loads(mq.ok("queue", "show", queue, "now2", "--format=json").stdout)
    assert shown["files"]["log"].endswith("now2/now2.log")
