"""A job's log and files that cannot be written: never a job stuck in
``start``, never a quiet ``end`` or an unexplained ``fail``.

The job log is the truth about a job on its host. When it is missing or
cannot be written (removed, replaced, a full disk — ``/dev/full`` stands in
for one), meshq uses what the store knows (the process and its start time)
and says what happened; when the job's folder or output file cannot be
written, the job never starts and says why.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.faults.helpers import Cli, job_command, starts, wait_until
from tests.support.fixtures import ClusterFactory
from tests.support.sshd import pid_alive

pytestmark = pytest.mark.timeout(120)

QUEUE = "q"


def _folder(tmp_path: Path, name: str) -> Path:
    return tmp_path / "exp" / QUEUE / name


def _create(cli: Cli, tmp_path: Path) -> None:
    cli.ok("queue", "create", QUEUE, f"--experiment={tmp_path / 'exp'}")


def test_a_started_job_whose_log_is_gone_after_a_manager_crash_is_a_crash(
    cli: Cli, tmp_path: Path
) -> None:
    marker, gate = tmp_path / "marker", tmp_path / "gate"
    _create(cli, tmp_path)
    cli.ok(
        "queue",
        "add",
        QUEUE,
        "--name=lost",
        "--host=localhost",
        f"--command={job_command(marker, gate=gate, work='true')}",
    )
    cli.ok("queue", "add", QUEUE, "--name=next", "--host=localhost", "--command=true")
    manager = cli.popen("queue", "run", "fifo", QUEUE, "--max_parallel=1")
    wait_until(lambda: cli.statuses(QUEUE)["lost"] == "start", 30, "lost to start")
    manager.send_signal(signal.SIGKILL)
    manager.wait()
    # the log goes, and its name can no longer be written: the end line is lost
    log = _folder(tmp_path, "lost") / "lost.log"
    log.unlink()
    log.mkdir()
    pid = cli.jobs(QUEUE)["lost"]["pid"]
    gate.touch()
    wait_until(lambda: not pid_alive(pid), 30, "the job to end")
    # the next run must neither wait forever for it nor lose its slot to it
    again = cli.popen("queue", "run", "fifo", QUEUE, "--max_parallel=1")
    code, _, err = cli.finish(again, timeout=60)
    assert code == 1, err
    jobs = cli.jobs(QUEUE)
    assert jobs["lost"]["status"] == "crash"
    assert "log records nothing" in jobs["lost"]["error"]
    assert jobs["next"]["status"] == "end"


def test_a_full_disk_at_the_start_is_a_fail_start_saying_so(cli: Cli, tmp_path: Path) -> None:
    _create(cli, tmp_path)
    cli.ok("queue", "add", QUEUE, "--name=full", "--host=localhost", "--command=echo hi")
    folder = _folder(tmp_path, "full")
    folder.mkdir(parents=True)
    (folder / "full.log").symlink_to("/dev/full")
    done = cli("queue", "run", "fifo", QUEUE, "--max_parallel=1")
    assert done.returncode == 1
    job = cli.jobs(QUEUE)["full"]
    assert job["status"] == "fail_start"
    assert "cannot write the job log" in job["error"] and "disk full" in job["error"]
    assert not (folder / "full.out").read_text(), "the command must not have run"


def test_a_full_disk_at_the_end_is_a_failure_saying_so(cli: Cli, tmp_path: Path) -> None:
    marker, gate = tmp_path / "marker", tmp_path / "gate"
    _create(cli, tmp_path)
    cli.ok(
        "queue",
        "add",
        QUEUE,
        "--name=fills",
        "--host=localhost",
        f"--command={job_command(marker, gate=gate, work='true')}",
    )
    run = cli.popen("queue", "run", "fifo", QUEUE, "--max_parallel=1")
    wait_until(lambda: "fills" in starts(marker), 30, "the job to start")
    log = _folder(tmp_path, "fills") / "fills.log"
    log.unlink()
    log.symlink_to("/dev/full")
    gate.touch()
    code, _, err = cli.finish(run, timeout=60)
    assert code == 1, err
    job = cli.jobs(QUEUE)["fills"]
    assert job["status"] == "fail" and job["exit_code"] == 0
    assert "could not be written at the end" in job["error"]


def test_an_output_file_that_cannot_be_written_is_a_fail_start(cli: Cli, tmp_path: Path) -> None:
    _create(cli, tmp_path)
    cli.ok("queue", "add", QUEUE, "--name=blocked", "--host=localhost", "--command=echo hi")
    folder = _folder(tmp_path, "blocked")
    (folder / "blocked.out").mkdir(parents=True)  # a folder where the file should be
    done = cli("queue", "run", "fifo", QUEUE, "--max_parallel=1")
    assert done.returncode == 1
    job = cli.jobs(QUEUE)["blocked"]
    assert job["status"] == "fail_start"
    assert "cannot write the output file" in job["error"] and "blocked.out" in job["error"]


@pytest.mark.ssh
def test_a_job_folder_its_user_cannot_write_is_a_fail_start(
    cli: Cli, make_ssh_cluster: ClusterFactory, home_experiment: str
) -> None:
    cluster = make_ssh_cluster(1)
    cli.use(cluster.ssh_config)
    [host] = cluster.hosts
    cli.ok("queue", "create", QUEUE, f"--experiment={home_experiment}")
    cli.ok("queue", "add", QUEUE, "--name=ro", f"--host={host.name}", "--command=echo hi")
    # the job's folder exists there, but belongs to someone else (root)
    rel = Path(home_experiment).relative_to(Path.home())
    folder = host.home / rel / QUEUE / "ro"
    folder.mkdir(parents=True)
    made = folder
    while made != host.home:  # each folder made here: root's, readable by all
        made.chmod(0o755)
        made = made.parent
    done = cli("queue", "run", "fifo", QUEUE, "--max_parallel=1")
    assert done.returncode == 1
    job = cli.jobs(QUEUE)["ro"]
    assert job["status"] == "fail_start", job
    assert "cannot write in the job directory" in job["error"]
    assert job["exit_code"] is None
