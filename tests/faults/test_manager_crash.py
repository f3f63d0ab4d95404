"""Guarantee 1: a crash of the manager (``meshq queue run``) loses no job and
runs none twice.

A 300-job ``fifo_multi`` run over this machine and two sshd hosts is killed
mid-run: by ``kill -9`` from outside, or by meshq's own fault points
(``MESHQ_FAULT=after-claim``: between the claim and the launch;
``after-launch``: between the launch and its record). Then ``meshq queue
refresh`` must show each job's true state, read from its host, and a new run
must finish the queue. Every job appends its name and ``$MESHQ_ATTEMPT`` to a
marker file when it starts and when it ends: each name must be there exactly
once of each, and no job may be left in ``run`` or ``start``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from tests.faults.helpers import (
    Cli,
    alive,
    assert_each_ran_once,
    ends,
    job_command,
    job_log,
    pgid_of,
    read_marks,
    starts,
    tagged,
    wait_until,
)
from tests.support.fixtures import shared_file
from tests.support.sshd import SshCluster
from tests.support.sshd_files import CLUSTER_ENV

pytestmark = [pytest.mark.ssh, pytest.mark.timeout(150)]

QUEUE = "q"
NAMES = [f"job{i}" for i in range(1, 301)]
#: held on a gate, one per host, so that jobs certainly run when the manager dies
HELD = {"job100": "localhost", "job101": "mq1", "job102": "mq2"}
SLOTS = 4
#: the claim / launch round at which a fault point kills the run: a run of 300
#: jobs on 12 slots needs at least 25 rounds, so the 20th always comes, and
#: leaves at least 60 jobs never claimed
FAULT_AFTER = 20


def _set_up(cli: Cli, experiment: str, gate: Path, marker: Path) -> str:
    cli.ok("hosts", "add", "localhost", f"--max_jobs_allowed={SLOTS}")
    cli.ok("hosts", "add", "mq[1-2]", f"--max_jobs_allowed={SLOTS}")
    cli.ok("queue", "create", QUEUE, f"--experiment={experiment}")
    quick = job_command(marker)
    held = job_command(marker, gate=gate, work="sleep 0.1")
    cli.ok("queue", "add", QUEUE, "--name=job[1-99]", f"--command={quick}")
    for name, host in HELD.items():
        cli.ok("queue", "add", QUEUE, f"--name={name}", f"--command={held}", f"--host={host}")
    cli.ok("queue", "add", QUEUE, "--name=job[103-300]", f"--command={quick}")
    return experiment


def _settled(cli: Cli, cluster: SshCluster, keep_groups: set[int]) -> Callable[[], bool]:
    """Nothing of the dead run is still on its way: every process of this
    test on this machine and on the hosts (sshd listeners aside) has ended,
    but those of the process groups ``keep_groups`` (the held jobs). Then
    every job the dead run launched has written what it will write."""
    listeners = {h.proc.pid for h in cluster.hosts}
    tags = [cli.tag, f"{CLUSTER_ENV}={cluster.cluster_id}"]

    def check() -> bool:
        return not [p for p in tagged(tags) if p not in listeners and pgid_of(p) not in keep_groups]

    return check


def _assert_refresh_tells_the_truth(
    cli: Cli, cluster: SshCluster, experiment: str, running: set[str]
) -> dict[str, dict[str, object]]:
    """After refresh, the store says what each job's host says: ``end`` for
    a job whose log has its end line, ``start`` for one still running (its
    log has a start line and its process is alive), and waiting (``ready``,
    ``undefined``) for a job that never reached its host. The log is looked
    for on every host (this machine and the cluster's), not only where the
    store says the job is."""
    jobs = cli.jobs(QUEUE)
    wrong = {}
    for name, job in jobs.items():
        log = job_log(experiment, QUEUE, name, cluster.hosts)
        mine = [line for line in log if line.split()[1:2] == [str(job["attempts"])]]
        if any(line.startswith("end ") for line in mine):
            expected = {"end"}
        elif any(line.startswith("start ") for line in mine):
            assert name in running, f"{name} started, did not end and is not held: {log}"
            expected = {"start"}
        else:
            expected = {"ready", "undefined"}
        if job["status"] not in expected:
            wrong[name] = (job["status"], sorted(expected), log)
    assert not wrong, f"refresh left jobs in a state their hosts contradict: {wrong}"
    return jobs


def _finish_and_check(cli: Cli, marker: Path, gate: Path) -> None:
    gate.touch()
    cli.ok("queue", "run", "fifo_multi", QUEUE, "--policy=smart")
    jobs = cli.jobs(QUEUE)
    assert sorted(jobs) == sorted(NAMES)
    stuck = {n: j["status"] for n, j in jobs.items() if j["status"] != "end"}
    assert not stuck, f"jobs not ended after the second run: {stuck}"
    assert_each_ran_once(marker, NAMES)
    # the attempt that ran is the one the store recorded
    ran = starts(marker)
    differ = {
        n: (ran[n].attempt, j["attempts"])
        for n, j in jobs.items()
        if ran[n].attempt != j["attempts"]
    }
    assert not differ, f"marker attempt != recorded attempt: {differ}"
    status = {r["status"]: r["count"] for r in cli.json("queue", "status", QUEUE)}
    assert status == {"end": len(NAMES)}
    hosts = {ran[n].host for n in NAMES}
    assert hosts == {"localhost", "mq1", "mq2"}


def test_kill_9_of_the_manager_mid_run_loses_no_job_and_runs_none_twice(
    cli: Cli, cluster: Callable[[int], SshCluster], home_experiment: str, shared_dir: Path
) -> None:
    hosts = cluster(2)
    # the marker is appended to by jobs here (our user) and on the hosts (theirs)
    gate, marker = shared_dir / "gate", shared_file(shared_dir / "marker")
    experiment = _set_up(cli, home_experiment, gate, marker)

    run = cli.popen("queue", "run", "fifo_multi", QUEUE, "--policy=smart")
    # the held jobs are running (one on each host) while the others flow past
    wait_until(lambda: set(HELD) <= set(starts(marker)), 60, "the held jobs to start")
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=10)
    before = read_marks(marker)

    # jobs already running keep running: the held ones are alive right after the kill
    held_pids = {n: starts(marker)[n].pid for n in HELD}
    assert all(pid is not None and alive(pid) for pid in held_pids.values()), held_pids
    on_the_way = {m.job for m in before if m.kind == "start"} - {
        m.job for m in before if m.kind == "end"
    }
    assert set(HELD) <= on_the_way
    assert len({m.job for m in before if m.kind == "start"}) < len(NAMES), "not mid-run"

    keep = {pgid_of(pid) for pid in held_pids.values() if pid is not None}
    wait_until(
        _settled(cli, hosts, {g for g in keep if g is not None}),
        30,
        "the dead run's processes to end (held jobs aside)",
    )
    assert all(pid is not None and alive(pid) for pid in held_pids.values())

    refreshed = cli.ok("queue", "refresh", QUEUE)
    jobs = _assert_refresh_tells_the_truth(cli, hosts, experiment, set(HELD))
    assert {n for n, j in jobs.items() if j["status"] == "start"} == set(HELD)
    assert "new_status:end" in refreshed.stdout

    # the jobs that were running at the kill ran to their end, once, on their first attempt
    done = ends(marker)
    for name in on_the_way - set(HELD):
        assert name in done and done[name].attempt == 1, name
        assert jobs[name]["status"] == "end" and jobs[name]["attempts"] == 1, jobs[name]

    _finish_and_check(cli, marker, gate)
    for name in HELD:
        assert cli.jobs(QUEUE)[name]["attempts"] == 1  # adopted, not run again


@pytest.mark.parametrize("fault", ["after-claim", "after-launch"])
def test_a_crash_at_a_fault_point_loses_no_job_and_runs_none_twice(
    cli: Cli,
    cluster: Callable[[int], SshCluster],
    home_experiment: str,
    shared_dir: Path,
    fault: str,
) -> None:
    hosts = cluster(2)
    # the marker is appended to by jobs here (our user) and on the hosts (theirs)
    gate, marker = shared_dir / "gate", shared_file(shared_dir / "marker")
    gate.touch()  # no job is held here: the fault point picks the moment
    experiment = _set_up(cli, home_experiment, gate, marker)

    run = cli.popen(
        "queue",
        "run",
        "fifo_multi",
        QUEUE,
        "--policy=smart",
        env={"MESHQ_FAULT": fault, "MESHQ_FAULT_AFTER": str(FAULT_AFTER)},
    )
    rc, _, err = cli.finish(run, timeout=90)
    assert rc == -signal.SIGKILL, f"the fault point did not kill the run (rc {rc}): {err[-2000:]}"

    wait_until(_settled(cli, hosts, set()), 30, "the dead run's processes to end")
    before = cli.jobs(QUEUE)
    claimed = {n for n, j in before.items() if j["status"] == "run"}
    # the round the run died in was claimed (committed as run) and not recorded further
    assert claimed, "no job was left in run by the crash"
    assert sum(j["status"] in ("ready", "undefined") for j in before.values()) >= 60
    # in run too may be jobs of an earlier round, launched, whose start the
    # run had not recorded yet when it died: only the last claim's are known
    # never to have left this machine
    last = _last_claim(cli)
    assert last and last <= claimed, (last, claimed)
    if fault == "after-claim":
        # never launched: nothing of them reached their hosts
        assert all(not job_log(experiment, QUEUE, n, hosts.hosts) for n in last)

    cli.ok("queue", "refresh", QUEUE)
    jobs = _assert_refresh_tells_the_truth(cli, hosts, experiment, set())
    assert not [n for n, j in jobs.items() if j["status"] in ("run", "start")]
    if fault == "after-claim":
        assert {jobs[n]["status"] for n in last} == {"ready"}

    _finish_and_check(cli, marker, gate)


def _last_claim(cli: Cli) -> set[str]:
    """The jobs of the run's last claim: one transaction, so one time on
    their history's ``run`` lines (read from the store file, read-only)."""
    with closing(sqlite3.connect(f"file:{cli.db}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT jobs.name FROM events JOIN jobs ON jobs.id = events.job_id "
            "WHERE events.new = 'run' AND events.time = "
            "(SELECT max(time) FROM events WHERE new = 'run')"
        )
        return {name for (name,) in rows}
