"""The host-backend contract: one class of tests that every kind of host
must pass, run against each (huey runs one storage suite against every
storage the same way).

Each subclass says how to get a host of its kind (:class:`HostUnderTest`);
the tests then use meshq as the interfaces do — through the service layer
(:class:`meshq.service.Service`),
with the queue's experiment under the *local* home — and look at the
host's side of things where that host really keeps them. The SSH host logs
in as another user with another home (``tests/support/sshd.py``), so a
path, a user or a file that only works because both sides share it fails
here. The Slurm host kind is one more subclass, in both its forms: meshq on the
cluster's login node (``--login=local``), and the login node reached over SSH as
another user.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from meshq import paths
from meshq.errors import UnreadableFile
from meshq.model import LOCALHOST, Status
from meshq.paths import JobPaths
from meshq.service import Service
from tests.support.fixtures import ClusterFactory
from tests.support.slurm import SlurmCluster
from tests.support.sshd import pid_alive

pytestmark = pytest.mark.timeout(120)

T = TypeVar("T")
QUEUE = "c"


@dataclass
class HostUnderTest:
    """A host of one kind, as the contract tests see it."""

    #: what a user gives to --host
    name: str
    #: the user jobs run as there
    user: str
    #: what ``~`` means there, as a folder this test process can read
    home: Path
    #: the environment a ``meshq`` subprocess needs to reach it
    env: dict[str, str]
    #: how to add it to a store's inventory (``Meshq.add_hosts`` keywords), for a
    #: kind that must be added before use (a Slurm cluster)
    inventory: dict[str, Any] | None = None

    def local(self, host_path: str) -> Path:
        """Where this test reads ``host_path`` (absolute or ``~/…``) of the host."""
        if host_path == "~":
            return self.home
        if host_path.startswith("~/"):
            return self.home / host_path[2:]
        assert host_path.startswith("/"), f"a host path is absolute or ~/…: {host_path!r}"
        return Path(host_path)

    def make_dir(self, path: Path) -> Path:
        """A folder on the host, owned (with each parent it makes) by the
        user jobs run as there."""
        top = path
        while not top.parent.exists():
            top = top.parent
        path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0 and top.exists():
            subprocess.run(["chown", "-R", f"{self.user}:", str(top)], check=True)
        return path


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def wait_until(check: Callable[[], T], timeout: float = 20.0, what: str = "it") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class BackendContract:
    """What every host kind does. Subclasses provide the ``host`` fixture."""

    @pytest.fixture
    def mq(
        self,
        tmp_path: Path,
        home_experiment: str,
        host: HostUnderTest,
        monkeypatch: pytest.MonkeyPatch,
    ) -> Iterator[Service]:
        for key, value in host.env.items():
            monkeypatch.setenv(key, value)
        m = Service(tmp_path / "meshq.db")
        if host.inventory is not None:
            m.add_hosts(host.name, **host.inventory)
        m.create_queue(QUEUE, home_experiment)
        yield m
        m.close()

    # -- helpers --------------------------------------------------------------

    def add(self, mq: Service, host: HostUnderTest, name: str, command: str, **kw: Any) -> None:
        mq.add(QUEUE, name, command, host=host.name, **kw)

    def files(self, mq: Service, name: str) -> JobPaths:
        files = mq.files(mq.job(QUEUE, name))
        assert files is not None
        return files

    def out(self, mq: Service, host: HostUnderTest, name: str) -> str:
        return host.local(self.files(mq, name).stdout).read_text()

    def run_all(self, mq: Service, parallel: int = 4) -> None:
        result = run(mq.run_fifo(QUEUE, max_parallel=parallel, check_interval=0.5))
        assert not result.interrupted

    # -- launching, and where a job runs ---------------------------------------

    def test_a_job_runs_and_records_where_and_as_whom(
        self, mq: Service, host: HostUnderTest
    ) -> None:
        self.add(mq, host, "j1", 'echo "hi $MESHQ_JOB"; echo oops >&2; whoami')
        self.run_all(mq)
        job = mq.job(QUEUE, "j1")
        assert job.status is Status.END, job.error
        assert job.run_user == host.user
        assert self.out(mq, host, "j1") == f"hi j1\n{host.user}\n"
        assert host.local(self.files(mq, "j1").stderr).read_text() == "oops\n"
        log = host.local(self.files(mq, "j1").log).read_text()
        assert log.startswith("start 1 ") and "\nend 1 0 " in log

    def test_every_path_is_absolute_or_under_the_hosts_home(
        self, mq: Service, host: HostUnderTest
    ) -> None:
        self.add(mq, host, "j1", "true")
        for path in self.files(mq, "j1").to_dict().values():
            assert path is None or path.startswith(("/", "~/"))

    @pytest.fixture
    def project(self, home_experiment: str, monkeypatch: pytest.MonkeyPatch) -> Path:
        """The user's project folder, ``~/meshq-tests/<id>/proj``: the
        folder the test is in when it adds its jobs."""
        here = Path(home_experiment).parent / "proj"
        here.mkdir()
        monkeypatch.chdir(here)
        return here

    def test_the_default_working_directory_is_where_it_was_added(
        self, mq: Service, host: HostUnderTest, project: Path
    ) -> None:
        # the user adds a job without --directory: it runs in the project
        # folder, or in the same folder under the host's home (GNU
        # Parallel's --wd .); MESHQ_JOB_DIR is its own folder
        self.add(mq, host, "j1", 'pwd; echo "$MESHQ_JOB_DIR"')
        there = host.make_dir(host.local(f"~/{project.relative_to(Path.home())}"))
        self.run_all(mq)
        assert mq.job(QUEUE, "j1").status is Status.END, mq.job(QUEUE, "j1").error
        folder = host.local(self.files(mq, "j1").folder)
        assert self.out(mq, host, "j1") == f"{there}\n{folder}\n"

    def test_a_default_directory_the_host_lacks_fails_the_start_naming_directory(
        self, mq: Service, host: HostUnderTest, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # added in a folder that is gone by the time the job starts (on a
        # host with another home it was never there)
        self.add(mq, host, "j1", "true")
        monkeypatch.chdir(project.parent)
        project.rmdir()
        remote = host.local(f"~/{project.relative_to(Path.home())}")
        assert not remote.exists()
        self.run_all(mq)
        job = mq.job(QUEUE, "j1")
        assert job.status is Status.FAIL_START
        assert job.error is not None and "\n" not in job.error
        assert f"{remote} does not exist on this host" in job.error
        assert "--directory" in job.error

    def test_an_absolute_directory(self, mq: Service, host: HostUnderTest) -> None:
        self.add(mq, host, "j1", "pwd", directory="/tmp")
        self.run_all(mq)
        assert self.out(mq, host, "j1") == "/tmp\n"

    def test_a_directory_under_the_home(self, mq: Service, host: HostUnderTest) -> None:
        name = f"meshq-tests/wd-{uuid.uuid4().hex}"
        target = host.make_dir(host.home / name)
        try:
            self.add(mq, host, "j1", "pwd", directory=f"~/{name}")
            self.run_all(mq)
            assert self.out(mq, host, "j1") == f"{target}\n"
        finally:
            subprocess.run(["rm", "-rf", str(target)], check=False)

    def test_a_relative_directory_is_the_folder_it_was_added_in(
        self,
        mq: Service,
        host: HostUnderTest,
        home_experiment: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # the user is in ~/meshq-tests/<id> and types --directory=data; on another
        # host that is ~/meshq-tests/<id>/data there, as GNU Parallel's --wd does
        here = Path(home_experiment).parent
        monkeypatch.chdir(here)
        self.add(mq, host, "j1", "pwd", directory="data")
        there = host.make_dir(host.local(f"~/{here.relative_to(Path.home())}") / "data")
        self.run_all(mq)
        job = mq.job(QUEUE, "j1")
        assert job.status is Status.END, job.error
        assert self.out(mq, host, "j1") == f"{there}\n"

    def test_a_missing_directory_fails_the_start_saying_so(
        self, mq: Service, host: HostUnderTest
    ) -> None:
        self.add(mq, host, "j1", "true", directory="~/no-such-folder-here")
        self.run_all(mq)
        job = mq.job(QUEUE, "j1")
        assert job.status is Status.FAIL_START
        assert job.error is not None and "no-such-folder-here does not exist" in job.error

    def test_pyenv_under_the_home(self, mq: Service, host: HostUnderTest) -> None:
        name = f"meshq-tests/venv-{uuid.uuid4().hex}"
        venv = host.make_dir(host.home / name / "bin")
        (venv / "activate").write_text("export FROM_PYENV=yes-$(id -un)\n")
        try:
            self.add(mq, host, "j1", 'echo "$FROM_PYENV"', pyenv=f"~/{name}")
            self.run_all(mq)
            assert self.out(mq, host, "j1") == f"yes-{host.user}\n"
        finally:
            subprocess.run(["rm", "-rf", str(venv.parent)], check=False)

    def test_gpu_ids_reach_the_command(self, mq: Service, host: HostUnderTest) -> None:
        self.add(mq, host, "j1", 'echo "$CUDA_VISIBLE_DEVICES $CUDA_DEVICE_ORDER"', gpu="1,3")
        self.add(mq, host, "j2", 'echo "${CUDA_VISIBLE_DEVICES-unset}"')
        self.run_all(mq)
        assert self.out(mq, host, "j1") == "1,3 PCI_BUS_ID\n"
        assert self.out(mq, host, "j2") == "unset\n"

    def test_jobs_naming_one_gpu_id_share_it(self, mq: Service, host: HostUnderTest) -> None:
        # --gpu=IDS is the seed's: it sets CUDA_VISIBLE_DEVICES and holds nothing
        self.add(mq, host, "g[1-3]", "sleep 0.5", gpu="0")
        self.run_all(mq, parallel=3)
        jobs = mq.jobs(QUEUE)
        assert {j.status for j in jobs} == {Status.END}
        assert max(j.started or 0 for j in jobs) < min(j.ended or 0 for j in jobs)

    # -- output ---------------------------------------------------------------

    def test_logs_and_follow(self, mq: Service, host: HostUnderTest) -> None:
        self.add(mq, host, "j1", "for i in 1 2 3; do echo line$i; sleep 0.3; done; echo e >&2")

        async def go() -> bytes:
            runner = asyncio.create_task(mq.run_fifo(QUEUE, max_parallel=1))
            chunks = [c async for c in mq.logs(QUEUE, "j1", follow=True, poll=0.05)]
            await runner
            return b"".join(chunks)

        assert run(go()) == b"line1\nline2\nline3\n"

        async def read(stderr: bool) -> bytes:
            return b"".join([c async for c in mq.logs(QUEUE, "j1", stderr=stderr)])

        assert run(read(False)) == b"line1\nline2\nline3\n"
        assert run(read(True)) == b"e\n"

    def test_files_put_on_the_host_read_back_whole(
        self, mq: Service, host: HostUnderTest, home_experiment: str
    ) -> None:
        from meshq.hosts.registry import make_backend, target

        backend = make_backend(target(mq.store, host.name))
        folder = paths.on_host(f"{home_experiment}/put/a/b", local=backend.local)
        data = bytes(range(256)) * 1000  # every byte value, NUL and newlines too

        async def go() -> bytes:
            try:
                await backend.put(f"{folder}/data.bin", data)
                await backend.put(f"{folder}/data.bin", data[:10])  # replaced whole
                return await backend.read(f"{folder}/data.bin")
            finally:
                await backend.close()

        assert run(go()) == data[:10]
        made = host.local(f"{folder}/data.bin")
        assert made.read_bytes() == data[:10]
        assert [p.name for p in made.parent.iterdir()] == ["data.bin"]  # no part left

    def test_sweep_values_reach_the_command_as_data(
        self, mq: Service, host: HostUnderTest
    ) -> None:
        mq.sweep(QUEUE, "printf '%s|' {v} \"$MESHQ_PARAM_V\"", {"v": ["a b; $(id)"]},
                 name="s{index}", host=host.name)
        self.run_all(mq)
        assert self.out(mq, host, "s1") == "a b; $(id)|a b; $(id)|"

    def test_logs_of_a_job_that_wrote_nothing_is_empty(
        self, mq: Service, host: HostUnderTest
    ) -> None:
        self.add(mq, host, "j1", "true")
        self.run_all(mq)

        async def read() -> bytes:
            return b"".join([c async for c in mq.logs(QUEUE, "j1")])

        assert run(read()) == b""

    def test_logs_of_a_file_that_cannot_be_read_says_why(
        self, mq: Service, host: HostUnderTest
    ) -> None:
        self.add(mq, host, "j1", "echo hi")
        self.run_all(mq)
        stdout = self.files(mq, "j1").stdout
        host.local(stdout).unlink()

        async def read() -> bytes:
            return b"".join([c async for c in mq.logs(QUEUE, "j1")])

        with pytest.raises(UnreadableFile) as err:
            run(read())
        assert err.value.host == host.name
        assert stdout in str(err.value) and "No such file" in str(err.value)

    # -- stopping jobs --------------------------------------------------------

    def test_kill_stops_the_job_and_its_children(self, mq: Service, host: HostUnderTest) -> None:
        self.add(mq, host, "j1", 'sleep 60 & echo $! > "$MESHQ_JOB_DIR/child.pid"; wait')

        async def go() -> None:
            runner = asyncio.create_task(mq.run_fifo(QUEUE, max_parallel=1, check_interval=0.5))
            while mq.job(QUEUE, "j1").status is not Status.START:
                await asyncio.sleep(0.05)
            pidfile = host.local(self.files(mq, "j1").folder) / "child.pid"
            while not pidfile.exists() or not pidfile.read_text().strip():
                await asyncio.sleep(0.05)
            moved = await mq.kill(QUEUE, "j1")
            assert [(m.name, m.new) for m in moved] == [("j1", Status.KILL)]
            await runner
            assert not pid_alive(int(pidfile.read_text()))

        run(go())
        assert mq.job(QUEUE, "j1").status is Status.KILL

    def test_a_time_limit_stops_the_job(self, mq: Service, host: HostUnderTest) -> None:
        self.add(mq, host, "j1", "sleep 60", timeout=1)
        t0 = time.monotonic()
        self.run_all(mq)
        job = mq.job(QUEUE, "j1")
        assert job.status is Status.TIMEOUT
        assert job.signal == signal.SIGTERM
        assert time.monotonic() - t0 < 30

    # -- cleaning up ----------------------------------------------------------

    def test_reset_keeps_attempts_purge_and_delete_remove_the_job_folder(
        self, mq: Service, host: HostUnderTest
    ) -> None:
        self.add(mq, host, "j[1-2]", 'echo "hi $MESHQ_ATTEMPT"')
        self.run_all(mq)
        folders = {n: host.local(self.files(mq, n).folder) for n in ("j1", "j2")}
        assert all(f.is_dir() for f in folders.values())
        moved = run(mq.reset(QUEUE, "j1"))
        assert [(m.name, m.new) for m in moved] == [("j1", Status.READY)]
        # reset keeps the evidence: the next attempt moves it into attempts/1/
        self.run_all(mq)
        assert (folders["j1"] / "attempts" / "1" / "j1.out").read_text() == "hi 1\n"
        assert (folders["j1"] / "j1.out").read_text() == "hi 2\n"

        async def read(attempt: int) -> bytes:
            return b"".join([c async for c in mq.logs(QUEUE, "j1", attempt=attempt)])

        assert run(read(1)) == b"hi 1\n"
        assert run(read(2)) == b"hi 2\n"
        run(mq.reset(QUEUE, "j1", purge=True))
        assert not folders["j1"].exists() and folders["j2"].is_dir()
        assert run(mq.delete(QUEUE, "j2")) == 1
        assert not folders["j2"].exists()
        self.run_all(mq)
        assert folders["j1"].is_dir()
        queue_folder = folders["j1"].parent
        run(mq.delete(QUEUE))
        assert not queue_folder.exists()

    # -- a manager that crashed -----------------------------------------------

    def test_refresh_after_a_manager_crash(
        self, mq: Service, host: HostUnderTest, tmp_path: Path
    ) -> None:
        self.add(mq, host, "j[1-2]", "sleep 1.5; echo done")
        env = {**os.environ, **host.env}
        manager = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "meshq",
                "--db",
                str(tmp_path / "meshq.db"),
                "queue",
                "run",
                "fifo",
                QUEUE,
                "--max_parallel=2",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: mq.counts(QUEUE).get(Status.START) == 2, what="both jobs to start")
        finally:
            manager.send_signal(signal.SIGKILL)
            manager.wait()
        assert mq.counts(QUEUE) == {Status.START: 2}
        wait_until(
            lambda: all(
                "end 1 0" in host.local(self.files(mq, n).log).read_text() for n in ("j1", "j2")
            ),
            what="the jobs to end on their own",
        )
        moved = run(mq.refresh(QUEUE))
        assert sorted((m.name, m.new) for m in moved) == [("j1", Status.END), ("j2", Status.END)]
        assert self.out(mq, host, "j1") == "done\n"


class TestLocalBackend(BackendContract):
    """This machine, as ``localhost``."""

    @pytest.fixture
    def host(self) -> HostUnderTest:
        import getpass

        return HostUnderTest(LOCALHOST, getpass.getuser(), Path.home(), {})


class TestSshBackend(BackendContract):
    """A real sshd on a loopback address that logs in as another user."""

    pytestmark = pytest.mark.ssh

    @pytest.fixture
    def host(self, make_ssh_cluster: ClusterFactory) -> HostUnderTest:
        cluster = make_ssh_cluster(1)
        [h] = cluster.hosts
        assert h.home != Path.home(), "a test host must have another home"
        return HostUnderTest(h.name, h.user, h.home, {"MESHQ_SSH_CONFIG": str(cluster.ssh_config)})


@pytest.mark.slurm
class TestSlurmBackend(BackendContract):
    """A real single-node Slurm cluster, meshq running on its login node."""

    @pytest.fixture
    def host(self, slurm: SlurmCluster) -> HostUnderTest:
        import getpass

        return HostUnderTest(
            "hpc", getpass.getuser(), Path.home(), {}, {"kind": "slurm", "login": "local"}
        )


@pytest.mark.slurm
@pytest.mark.ssh
class TestSlurmSshBackend(BackendContract):
    """The same cluster, its login node an sshd test host: jobs are submitted, and
    run, as that host's user, with that user's home."""

    @pytest.fixture
    def host(self, slurm: SlurmCluster, make_ssh_cluster: ClusterFactory) -> HostUnderTest:
        cluster = make_ssh_cluster(1, session_env=slurm.env)
        [h] = cluster.hosts
        return HostUnderTest(
            "hpc",
            h.user,
            h.home,
            {"MESHQ_SSH_CONFIG": str(cluster.ssh_config)},
            {"kind": "slurm", "login": h.name},
        )
