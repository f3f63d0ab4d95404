"""Every command line of the newer seed's ``cms queue`` manual
(seeds/001_…txt, "Start of New Documentation": its synopsis and examples),
run with ``meshq`` in place of ``cms`` on this machine and on real sshd
test hosts named as the manual names them (``pi@red``, ``red01``,
``red02``), each checked for its effect. The part of that file before
(the older ``cms job`` README) is covered by test_seed_job_manual.py.

The test hosts log in as the test user, not ``pi``: where a run logs in
(``--hosts=pi@red,…``), ``pi`` is that user. Jobs that the manual has
sleep 10 s sleep less, where a case runs them.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.conftest import Meshq, wait_until
from tests.acceptance.seed_support import Case, Check, Seed, Setup, SshSeed, make_ssh_seed
from tests.support.sshd import SshCluster
from tests.support.sshd_user import TEST_USER

Done = subprocess.CompletedProcess[str]


@pytest.fixture
def seed(mq: Meshq) -> Seed:
    return Seed(mq, mq.work, dict(mq.env))


# -- set-ups -------------------------------------------------------------------------


def queue_a(*jobs: str, host: str = "localhost", command: str = "sleep 10") -> Setup:
    """Queue ``a`` with the jobs ``jobs`` (patterns) pinned to ``host``."""

    def setup(seed: Seed) -> None:
        seed.ok("queue", "create", "a")
        for name in jobs:
            seed.ok("queue", "add", "a", f"--name={name}", f"--command={command}",
                    f"--host={seed.value(host)}")

    return setup


def ran_a(*jobs: str, host: str = "localhost", command: str = "echo $MESHQ_JOB") -> Setup:
    def setup(seed: Seed) -> None:
        queue_a(*jobs, host=host, command=command)(seed)
        seed.ok("queue", "run", "fifo", "a", "--max_parallel=4")
        assert {j["status"] for j in seed.jobs("a").values()} == {"end"}

    return setup


def a_venv(seed: Seed) -> None:
    (seed.cwd / "venv" / "bin").mkdir(parents=True)
    (seed.cwd / "venv" / "bin" / "activate").write_text("export FROM_VENV=yes\n")


def then(*setups: Setup) -> Setup:
    def setup(seed: Seed) -> None:
        for one in setups:
            one(seed)

    return setup


# -- checks --------------------------------------------------------------------------


def check_created(experiment: str) -> Check:
    def check(seed: Seed, done: Done) -> None:
        [queue] = seed.json("queues")
        assert queue["queue"] == "a" and queue["jobs"] == 0
        assert queue["experiment"] == str(seed.cwd / experiment)

    return check


def check_listed(seed: Seed, done: Done) -> None:
    rows = [line.split() for line in done.stdout.splitlines()]
    assert rows[0][:2] == ["name", "status"]
    assert [r[0] for r in rows[1:]] == [f"job{i}" for i in range(1, 11)]
    assert {r[1] for r in rows[1:]} == {"ready"}


def check_refreshed_nothing(seed: Seed, done: Done) -> None:
    assert done.stdout == ""
    assert "up to date" in done.stderr


def check_added_every_option(seed: Seed, done: Done) -> None:
    jobs = seed.jobs("a")
    assert list(jobs) == ["j1", "j2"]
    j1 = seed.show("a", "j1")
    assert (j1["input"], j1["output"], j1["log"], j1["gpu"], j1["user"]) == (
        "in", "out.txt", "j.log", ["0"], "me")
    assert (j1["host"], j1["shell"], j1["status"]) == ("localhost", "bash", "ready")
    assert j1["pyenv"] == str(seed.cwd / "venv")
    seed.ok("queue", "run", "fifo", "a", "--max_parallel=2")
    folder = Path(seed.show("a", "j2")["files"]["folder"])
    assert (folder / "out.txt").read_text() == "hi yes 0\n"
    assert (folder / "j.log").read_text().startswith("start ")


def check_deleted(*gone: str) -> Check:
    def check(seed: Seed, done: Done) -> None:
        names = list(seed.jobs("a"))
        assert not set(gone) & set(names)
        assert len(names) == 10 - len(gone)

    return check


def check_all_end(seed: Seed, done: Done) -> None:
    assert {j["status"] for j in seed.jobs("a").values()} == {"end"}


def check_reset_one(seed: Seed, done: Done) -> None:
    assert done.stdout.strip() == "job1\told_status:end\tnew_status:ready"
    statuses = {n: j["status"] for n, j in seed.jobs("a").items()}
    assert statuses == {"job1": "ready", "job2": "end"}


def check_added_like_the_manual(seed: Seed, done: Done) -> None:
    assert done.stdout.strip() == "added 10 job(s) to a: job[1-10]"
    jobs = seed.jobs("a")
    assert list(jobs) == [f"job{i}" for i in range(1, 11)]
    for job in jobs.values():
        assert (job["status"], job["command"], job["user"], job["host"], job["gpu"]) == (
            "ready", "sleep 10", "pi", "red", ["0"])
        assert job["pyenv"] == "~/ENV3/bin/activate"


def _ran(seed: SshSeed, job: dict[str, Any]) -> tuple[float, float]:
    """When ``job`` ran on red, from the start and end lines of its log there
    (``start ATTEMPT PID PSTART TIME``, ``end ATTEMPT CODE TIME``)."""
    log = seed.host("red").real_path(job["files"]["log"])
    lines = {line.split()[0]: line.split() for line in log.read_text().splitlines()}
    return float(lines["start"][4]), float(lines["end"][3])


def check_fifo_at_most_4(seed: Seed, done: Done) -> None:
    assert isinstance(seed, SshSeed)
    jobs = [seed.show("a", n) for n in seed.jobs("a")]
    assert {j["status"] for j in jobs} == {"end"}
    assert {j["host"] for j in jobs} == {"red"}
    assert {j["run_address"] for j in jobs} == {seed.host("red").address}
    # JSON gives whole seconds (jq's fromdate reads no fraction), and jobs
    # of half a second may start and end in one: the job logs have microseconds
    spans = [_ran(seed, j) for j in jobs]
    assert all(s < e for s, e in spans), spans
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert 1 < most <= 4, most
    red = seed.host("red")
    for job in jobs:
        out = red.local_path(job["files"]["stdout"]).read_text()
        assert out == "0 yes\n"  # CUDA_VISIBLE_DEVICES, and the pyenv was sourced


def check_spread_over_three(seed: Seed, done: Done) -> None:
    assert isinstance(seed, SshSeed)
    jobs = [seed.show("a", n) for n in seed.jobs("a")]
    assert {j["status"] for j in jobs} == {"end"}
    used = {j["run_address"] for j in jobs}
    assert used == {seed.host(h).address for h in ("red", "red01", "red02")}
    assert {j["run_user"] for j in jobs} == {TEST_USER}


def check_pins_kept(seed: Seed, done: Done) -> None:
    """meshq keeps a job pinned (--host=red) to one of the run's hosts on
    that host; the seed's fifo_multi ignored pins (README: "Coming from
    cloudmesh")."""
    assert isinstance(seed, SshSeed)
    jobs = [seed.show("a", n) for n in seed.jobs("a")]
    assert {j["status"] for j in jobs} == {"end"}
    assert {j["run_address"] for j in jobs} == {seed.host("red").address}


def check_reset_end(seed: Seed, done: Done) -> None:
    assert isinstance(seed, SshSeed)
    lines = done.stdout.strip().splitlines()
    assert lines == [f"job{i}\told_status:end\tnew_status:ready" for i in (1, 2, 3)]
    assert {j["status"] for j in seed.jobs("a").values()} == {"ready"}
    # the seed removed the job folder; meshq keeps the attempt's files
    # (README "Coming from cloudmesh"), and reset --purge removes them
    folder = seed.host("red").real_path(seed.cwd / "experiment" / "a" / "job1")
    assert (folder / "job1.out").exists()
    seed.ok("queue", "reset", "a", "--name=job1", "--purge")
    assert not folder.exists()


def check_refresh_after_crash(seed: Seed, done: Done) -> None:
    lines = sorted(done.stdout.strip().splitlines())
    assert lines == [f"job{i}\told_status:start\tnew_status:end" for i in (1, 2, 3)]
    assert {j["status"] for j in seed.jobs("a").values()} == {"end"}


def check_deleted_on_host(seed: Seed, done: Done) -> None:
    assert isinstance(seed, SshSeed)
    assert list(seed.jobs("a")) == [f"job{i}" for i in range(1, 9)]
    folder = seed.host("red").real_path(seed.cwd / "experiment" / "a")
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"job{i}" for i in range(1, 9))


# -- on this machine -----------------------------------------------------------------

NEWER_QUEUE_MANUAL = [
    Case("queue create a --experiment=exp", check_created("exp"),
         source="queue create QUEUE [--experiment=EXPERIMENT]").param("create-experiment"),
    Case("queue create a", check_created("experiment")).param("create"),
    # "If you do not include the string -queue.yaml in your QUEUE argument, it
    # will be automatically added for you": both name queue a
    Case("queue create a-queue.yaml", check_created("experiment")).param("create-queue-yaml"),
    Case("queue list a --experiment=./experiment", check_listed, queue_a("job[1-10]"),
         source="queue list QUEUE [--experiment=EXPERIMENT]").param("list-experiment"),
    Case("cms queue list a", check_listed, queue_a("job[1-10]")).param("list"),
    Case("queue list a-queue.yaml", check_listed, queue_a("job[1-10]")).param(
        "list-queue-yaml"),
    Case("queue refresh a --experiment=./experiment", check_refreshed_nothing,
         ran_a("job[1-2]"), source="queue refresh QUEUE [--experiment=EXPERIMENT]").param(
        "refresh-experiment"),
    Case("queue add a --experiment=./experiment --name=j[1-2] "
         "--command='echo hi $FROM_VENV $CUDA_VISIBLE_DEVICES' --input=in --output=out.txt "
         "--status=ready --gpu=0 --user=me --host=localhost --shell=bash --log=j.log "
         "--pyenv=./venv", check_added_every_option, then(queue_a(), a_venv),
         source="queue add QUEUE [--experiment=EXPERIMENT] --name=NAME --command=COMMAND "
                "[--input=INPUT] [--output=OUTPUT] [--status=STATUS] [--gpu=GPU] "
                "[--user=USER] [--host=HOST] [--shell=SHELL] [--log=LOG] [--pyenv=PYENV]",
         ).param("add-every-option"),
    Case("queue delete a --experiment=./experiment --name=job1", check_deleted("job1"),
         queue_a("job[1-10]"),
         source="queue delete QUEUE [--experiment=EXPERIMENT] --name=NAME").param(
        "delete-experiment"),
    Case("cms queue delete a --name=job[9-10]", check_deleted("job9", "job10"),
         queue_a("job[1-10]")).param("delete"),
    Case("queue run fifo a --experiment=./experiment --max_parallel=2", check_all_end,
         queue_a("job[1-4]", command="true"),
         source="queue run fifo QUEUE [--experiment=EXPERIMENT] --max_parallel=MAX_PARALLEL",
         ).param("run-fifo-experiment"),
    Case("queue run fifo_multi a --experiment=./experiment --hosts=localhost,localhost",
         check_all_end, queue_a("job[1-4]", command="true"),
         source="queue run fifo_multi QUEUE [--experiment=EXPERIMENT] --hosts=HOSTS").param(
        "run-fifo-multi-experiment"),
    Case("queue reset a --experiment=./experiment --name=job1 --status=end", check_reset_one,
         ran_a("job[1-2]"),
         source="queue reset QUEUE [--experiment=EXPERIMENT] [--name=NAME] [--status=STATUS]",
         ).param("reset-experiment"),
    Case("cms queue add a --name=job[1-10] --command=\"'sleep 10'\" --user=pi --host=red "
         "--gpu=0 --pyenv=~/ENV3/bin/activate", check_added_like_the_manual,
         queue_a()).param("add-seed-quoting"),
    Case("queue add a --name=job[1-10] --command='sleep 10' --user=pi --host=red --gpu=0 "
         "--pyenv=~/ENV3/bin/activate", check_added_like_the_manual, queue_a()).param(
        "add-plain-quoting"),
]


@pytest.mark.parametrize("case", NEWER_QUEUE_MANUAL)
def test_newer_queue_manual_line(seed: Seed, case: Case) -> None:
    case.setup(seed)
    done = seed.run(case)
    assert done.returncode == case.rc, (seed.argv(case), done.stdout, done.stderr)
    case.check(seed, done)


# -- on real sshd test hosts named as the manual names them ------------------------------


@pytest.fixture
def env3(ssh_cluster3: SshCluster) -> Iterator[None]:
    """The manual's ``--pyenv=~/ENV3/bin/activate``, on each test host (the
    hosts share the test user's home); removed after, if made here."""
    home = ssh_cluster3.hosts[0].home
    folder = home / "ENV3"
    made = not folder.exists()
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    activate = folder / "bin" / "activate"
    if made:
        activate.write_text("export FROM_ENV3=yes\n")
        for path in (folder, folder / "bin", activate):
            os.chmod(path, 0o755)
    try:
        yield
    finally:
        if made:
            activate.unlink(missing_ok=True)
            (folder / "bin").rmdir()
            folder.rmdir()


@pytest.fixture
def ssh_seed(mq: Meshq, ssh_cluster3: SshCluster, home_experiment: str, env3: None) -> SshSeed:
    return make_ssh_seed(mq, ssh_cluster3, Path(home_experiment).parent)


def on_red(count: int, command: str, *, pinned: bool = True) -> Setup:
    """Queue ``a`` with ``job[1-count]`` as the manual adds them, on red as
    the test user (the manual's pi), with less sleep; or, not ``pinned``,
    with no host ("jobs are not required to be assigned a host or user")."""

    def setup(seed: Seed) -> None:
        seed.ok("queue", "create", "a")
        where = [f"--user={TEST_USER}", "--host=red"] if pinned else []
        seed.ok("queue", "add", "a", f"--name=job[1-{count}]", f"--command={command}",
                *where, "--gpu=0", "--pyenv=~/ENV3/bin/activate")

    return setup


def ran_on_red(count: int) -> Setup:
    def setup(seed: Seed) -> None:
        on_red(count, "echo $MESHQ_JOB")(seed)
        seed.ok("queue", "run", "fifo", "a", "--max_parallel=4")
        assert isinstance(seed, SshSeed)
        assert seed.host("red").real_path(seed.cwd / "experiment" / "a" / "job1").exists()

    return setup


def crashed_manager(seed: Seed) -> None:
    """The manual's refresh scene: the manager dies while jobs run on red."""
    on_red(3, "sleep 3")(seed)
    run = seed.popen("queue", "run", "fifo", "a", "--max_parallel=4")
    wait_until(lambda: {j["status"] for j in seed.jobs("a").values()} == {"start"}, 30, 0.1,
               "the jobs to start on red")
    os.kill(run.pid, signal.SIGKILL)
    run.wait(10)
    assert isinstance(seed, SshSeed)
    logs = [seed.host("red").real_path(seed.cwd / "experiment" / "a" / f"job{i}" /
                                       f"job{i}.log") for i in (1, 2, 3)]
    wait_until(lambda: all("end " in p.read_text() for p in logs), 30, 0.2,
               "the jobs to end on red with their manager gone")


ON_TEST_HOSTS = [
    Case("cms queue run fifo a --max_parallel=4", check_fifo_at_most_4,
         on_red(8, "sleep 0.5; echo $CUDA_VISIBLE_DEVICES $FROM_ENV3")).param("run-fifo"),
    Case("cms queue run fifo_multi a --hosts=pi@red,pi@red01,pi@red02",
         check_spread_over_three, on_red(6, "sleep 1", pinned=False),
         fill={"pi@red,pi@red01,pi@red02": f"{TEST_USER}@red,{TEST_USER}@red01,"
                                           f"{TEST_USER}@red02"}).param("run-fifo-multi"),
    Case("cms queue run fifo_multi a --hosts=pi@red,pi@red01,pi@red02",
         check_pins_kept, on_red(3, "true"),
         fill={"pi@red,pi@red01,pi@red02": f"{TEST_USER}@red,{TEST_USER}@red01,"
                                           f"{TEST_USER}@red02"}).param(
        "run-fifo-multi-pinned-jobs"),
    Case("cms queue reset a --status=end", check_reset_end, ran_on_red(3)).param("reset-end"),
    Case("cms queue refresh a", check_refresh_after_crash, crashed_manager).param("refresh"),
    Case("cms queue delete a --name=job[9-10]", check_deleted_on_host, ran_on_red(10)).param(
        "delete-on-host"),
]


@pytest.mark.ssh
@pytest.mark.timeout(180)
@pytest.mark.parametrize("case", ON_TEST_HOSTS)
def test_newer_queue_manual_line_on_test_hosts(ssh_seed: SshSeed, case: Case) -> None:
    case.setup(ssh_seed)
    done = ssh_seed.run(case)
    assert done.returncode == case.rc, (ssh_seed.argv(case), done.stdout, done.stderr)
    case.check(ssh_seed, done)
