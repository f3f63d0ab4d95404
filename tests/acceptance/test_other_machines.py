"""SSH hosts as users have them: another machine, another user, another
home; the queue made in a folder under the local home, as the README's own
flow does (``cd ~/proj && meshq queue create sweep``). Each test here is a
defect users met that the tests did not see while every test host shared
this machine's user and paths.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.conftest import Meshq, wait_until
from tests.support.fixtures import ClusterFactory
from tests.support.sshd import SshCluster, SshHost
from tests.support.sshd_procs import free_port

pytestmark = [pytest.mark.ssh, pytest.mark.timeout(120)]


@pytest.fixture
def cluster(make_ssh_cluster: ClusterFactory) -> SshCluster:
    return make_ssh_cluster(1)


@pytest.fixture
def proj(home_experiment: str) -> Path:
    """The user's project folder, under the local home."""
    return Path(home_experiment).parent


def env_for(mq: Meshq, cluster: SshCluster) -> dict[str, str]:
    return {**mq.env, "MESHQ_SSH_CONFIG": str(cluster.ssh_config)}


def add_jobs(mq: Meshq, env: dict[str, str], proj: Path, queue: str, *options: str) -> None:
    """``cd ~/proj && meshq queue create QUEUE && meshq queue add QUEUE OPTIONS``."""
    mq.ok("queue", "create", queue, env=env, cwd=proj)
    mq.ok("queue", "add", queue, *options, env=env, cwd=proj)


def show(mq: Meshq, env: dict[str, str], queue: str, job: str) -> dict[str, Any]:
    done = mq.ok("queue", "show", queue, job, "--output=json", env=env)
    record = json.loads(done.stdout)
    return record[0] if isinstance(record, list) else record  # type: ignore[no-any-return]


def test_the_readme_flow_runs_on_another_machine(
    mq: Meshq, cluster: SshCluster, proj: Path
) -> None:
    env = env_for(mq, cluster)
    [host] = cluster.hosts
    add_jobs(
        mq,
        env,
        proj,
        "sweep",
        "--name=s[1-3]",
        f"--host={host.name}",
        "--command=echo out-$MESHQ_INDEX; echo err >&2",
    )
    mq.ok("queue", "run", "fifo", "sweep", "--max_parallel=3", env=env, cwd=proj)
    record = show(mq, env, "sweep", "s2")
    assert record["status"] == "end", record["error"]
    # where the files are, as the host sees them: under ITS home
    rel = (proj / "experiment").relative_to(Path.home())
    assert record["files"]["folder"] == f"~/{rel}/sweep/s2"
    assert (host.home / rel / "sweep" / "s2" / "s2.out").read_text() == "out-2\n"
    assert not (proj / "experiment").exists(), "nothing is written on this machine"
    # logs read the host's file (before: nothing, exit 0)
    assert mq.ok("queue", "logs", "sweep", "s2", env=env).stdout == "out-2\n"
    assert mq.ok("queue", "logs", "sweep", "s2", "--stderr", env=env).stdout == "err\n"


def test_logs_of_a_missing_file_say_why(mq: Meshq, cluster: SshCluster, proj: Path) -> None:
    env = env_for(mq, cluster)
    [host] = cluster.hosts
    add_jobs(mq, env, proj, "q", "--name=j", f"--host={host.name}", "--command=echo hi")
    mq.ok("queue", "run", "fifo", "q", "--max_parallel=1", env=env, cwd=proj)
    stdout = show(mq, env, "q", "j")["files"]["stdout"]
    host.local_path(stdout).unlink()
    done = mq("queue", "logs", "q", "j", env=env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert host.name in lines[0] and stdout in lines[0] and "No such file" in lines[0]


def test_jobs_are_reset_and_deleted_as_the_user_they_ran_as(
    mq: Meshq, cluster: SshCluster, proj: Path
) -> None:
    # the seed's --user=pi names a user this host does not have; the run says
    # who to log in as (user@host), and kill/reset/delete must use that
    env = env_for(mq, cluster)
    [host] = cluster.hosts
    mq.ok("queue", "create", "q", env=env, cwd=proj)
    mq.ok("queue", "add", "q", "--name=j[1-2]", "--user=pi", "--command=echo hi", env=env, cwd=proj)
    mq.ok("queue", "run", "fifo_multi", "q", f"--hosts={host.user}@{host.name}", env=env, cwd=proj)
    record = show(mq, env, "q", "j1")
    assert record["status"] == "end" and record["run_user"] == host.user
    folder = host.local_path(record["files"]["folder"])
    assert folder.is_dir()
    done = mq.ok("queue", "reset", "q", "--name=j1", "--purge", env=env)
    assert "permission denied" not in done.stderr.lower(), done.stderr
    assert not folder.exists()
    queue_folder = folder.parent
    done = mq.ok("queue", "delete", "q", "--yes", env=env)
    assert "cannot" not in done.stderr, done.stderr
    assert not queue_folder.exists()


def test_explicit_gpu_ids_do_not_serialise_jobs(mq: Meshq, cluster: SshCluster, proj: Path) -> None:
    # the seed's own example: --gpu names what CUDA_VISIBLE_DEVICES says;
    # four jobs on GPU 0 with --max_parallel=4 run at once
    env = env_for(mq, cluster)
    [host] = cluster.hosts
    add_jobs(
        mq,
        env,
        proj,
        "q",
        "--name=g[1-4]",
        f"--host={host.name}",
        "--gpu=0",
        "--command=sleep 1; echo $CUDA_VISIBLE_DEVICES",
    )
    mq.ok("queue", "run", "fifo", "q", "--max_parallel=4", env=env, cwd=proj)
    jobs = mq.jobs("q")
    assert {j["status"] for j in jobs} == {"end"}
    # every job started before any ended: they ran side by side
    assert max(j["started"] for j in jobs) < min(j["ended"] for j in jobs)
    assert mq.ok("queue", "logs", "q", "g3", env=env).stdout == "0\n"


def test_a_run_where_no_job_could_start_fails(mq: Meshq, proj: Path) -> None:
    dead_port = free_port("127.0.0.1")
    mq.ok("hosts", "add", "dead", "--ip=127.0.0.1", f"--port={dead_port}", "--no-host-key-check")
    mq.ok("queue", "create", "q", cwd=proj)
    mq.ok("queue", "add", "q", "--name=j[1-2]", "--command=true", cwd=proj)
    done = mq("queue", "run", "fifo_multi", "q", cwd=proj)
    assert done.returncode == 1, done.stderr
    assert "2 job(s) could not start: every host of this run is down" in done.stderr
    assert "connection refused" in done.stderr


def test_a_job_whose_process_vanished_says_so_in_its_log(
    mq: Meshq, cluster: SshCluster, proj: Path
) -> None:
    env = env_for(mq, cluster)
    [host] = cluster.hosts
    add_jobs(mq, env, proj, "q", "--name=v", f"--host={host.name}", "--command=sleep 30")
    run = mq.popen("queue", "run", "fifo", "q", "--max_parallel=1", env=env)
    mq.wait_status("q", ["v"], {"start"})
    record = show(mq, env, "q", "v")
    # the job's wrapper dies without a word (OOM killer, kill -9 from outside)
    os.kill(record["pid"], signal.SIGKILL)
    code, _, err = mq.finish(run, timeout=60)
    assert "crash" in err
    assert code == 1
    assert mq.job("q", "v")["status"] == "crash"
    log = _log(host, record)
    assert wait_until(lambda: "crash 1 " in log.read_text(), 10, 0.1, "the crash line")


def _log(host: SshHost, record: dict[str, Any]) -> Path:
    return host.local_path(record["files"]["log"])


def test_show_says_where_the_files_are_on_this_machine(mq: Meshq, proj: Path) -> None:
    mq.ok("queue", "create", "q", cwd=proj)
    mq.add_local("q", "j", "true")
    mq.ok("queue", "run", "fifo", "q", "--max_parallel=1")
    files = show(mq, mq.env, "q", "j")["files"]
    assert files["folder"] == str(proj / "experiment" / "q" / "j")
    assert Path(files["log"]).read_text().startswith("start 1 ")


#: fails its first attempt (exit 2, "bad" on stderr), ends well on its second
FLAKY = 'echo "out $MESHQ_ATTEMPT"; [ "$MESHQ_ATTEMPT" = 2 ] || { echo bad >&2; exit 2; }'


@pytest.fixture
def two(make_ssh_cluster: ClusterFactory) -> SshCluster:
    return make_ssh_cluster(2)


def test_a_retry_goes_to_the_other_free_host_and_each_attempt_keeps_its_output(
    mq: Meshq, two: SshCluster, proj: Path
) -> None:
    env = env_for(mq, two)
    h1, h2 = two.hosts
    add_jobs(
        mq,
        env,
        proj,
        "q",
        "--name=flaky",
        "--retries=1",
        "--command=" + FLAKY,
    )
    hosts = f"--hosts={h1.user}@{h1.name},{h2.user}@{h2.name}"
    done = mq.ok("queue", "run", "fifo_multi", "q", hosts, "--policy=sequential", env=env, cwd=proj)
    assert (
        f"flaky: attempt 1 ended fail on {h1.name} (exit 2); it will be retried (1 retry left)"
        in done.stderr
    ), done.stderr
    record = show(mq, env, "q", "flaky")
    assert record["status"] == "end" and record["host"] == h2.name
    tries = record["attempt_list"]
    assert [(a["attempt"], a["host"], a["status"], a["exit_code"]) for a in tries] == [
        (1, h1.name, "fail", 2),
        (2, h2.name, "end", 0),
    ]
    # attempt 1's files are on h1, where show says, or, as these test hosts
    # share one home (as hosts on NFS do), moved into attempts/1/ by attempt 2
    said = h1.local_path(tries[0]["stderr"])
    kept = said.parent / "attempts" / "1" / said.name
    assert "bad\n" in (said.read_text(), kept.read_text() if kept.exists() else None)
    logs = ("queue", "logs", "q", "flaky")
    assert mq.ok(*logs, "--attempt=1", "--stderr", env=env).stdout == "bad\n"
    assert mq.ok(*logs, "--attempt=1", env=env).stdout == "out 1\n"
    assert mq.ok(*logs, "--attempt=2", env=env).stdout == "out 2\n"
    assert mq.ok(*logs, env=env).stdout == "out 2\n"
    # --purge removes the job's files on both hosts
    folders = [h1.local_path(tries[0]["log"]).parent, h2.local_path(tries[1]["log"]).parent]
    assert all(f.is_dir() for f in folders)
    mq.ok("queue", "reset", "q", "--name=flaky", "--status=end", "--purge", env=env)
    assert not any(f.exists() for f in folders)
    gone = mq("queue", "logs", "q", "flaky", "--attempt=1", env=env)
    assert gone.returncode == 2 and "are gone from" in gone.stderr, gone.stderr


def test_a_retry_on_the_same_other_machine_keeps_the_first_attempt_aside(
    mq: Meshq, cluster: SshCluster, proj: Path
) -> None:
    env = env_for(mq, cluster)
    [host] = cluster.hosts
    add_jobs(
        mq,
        env,
        proj,
        "q",
        "--name=j",
        f"--host={host.name}",
        "--retries=1",
        '--command=echo "out $MESHQ_ATTEMPT"; [ "$MESHQ_ATTEMPT" = 2 ]',
    )
    mq.ok("queue", "run", "fifo", "q", env=env, cwd=proj)
    record = show(mq, env, "q", "j")
    first, second = record["attempt_list"]
    assert first["stdout"].endswith("/q/j/attempts/1/j.out"), first
    assert second["stdout"] == record["files"]["stdout"]
    assert host.local_path(first["stdout"]).read_text() == "out 1\n"
    assert host.local_path(second["stdout"]).read_text() == "out 2\n"
    assert mq.ok("queue", "logs", "q", "j", "--attempt=1", env=env).stdout == "out 1\n"


def test_a_job_on_another_machine_watched_by_no_run_is_marked_until_refreshed(
    mq: Meshq, cluster: SshCluster, proj: Path
) -> None:
    env = env_for(mq, cluster)
    [host] = cluster.hosts
    add_jobs(mq, env, proj, "q", "--name=j", f"--host={host.name}", "--command=sleep 1")
    run = mq.popen("queue", "run", "fifo", "q", env=env)
    mq.wait_status("q", ["j"], {"start"})
    # a live run watches it: no mark
    assert "start?" not in mq.ok("queue", "list", "q", env=env).stdout
    run.send_signal(signal.SIGKILL)
    run.wait(10)
    listed = mq.ok("queue", "list", "q", env=env)
    assert "start?" in listed.stdout, listed.stdout
    assert "watched by no run" in listed.stderr and "meshq queue refresh q" in listed.stderr
    status = mq.ok("queue", "status", "q", env=env)
    assert "start?" in status.stdout and "meshq queue refresh q" in status.stderr
    [record] = json.loads(mq.ok("queue", "list", "q", "--format=json", env=env).stdout)
    assert record["status"] == "start" and record["watched"] is False
    rows = json.loads(mq.ok("queue", "status", "q", "--format=json", env=env).stdout)
    assert rows == [{"status": "start", "count": 1, "jobs": ["j"], "watched": False}]
    wait_until(
        lambda: "end" in mq.ok("queue", "refresh", "q", env=env).stdout, 20, what="the job's end"
    )
    listed = mq.ok("queue", "list", "q", env=env)
    assert "start?" not in listed.stdout and "watched by no run" not in listed.stderr
    assert mq.statuses("q") == {"j": "end"}
