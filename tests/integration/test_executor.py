"""Python functions as jobs: :class:`meshq.Executor` on this machine and on
real sshd hosts that log in as another user, with real processes.

The jobs' Python finds cloudpickle through a ``pyenv`` these tests make (an
activate script putting a copy of this machine's cloudpickle on
``PYTHONPATH``): the test hosts' user has none installed. The functions
travel by value (``by_value``): the hosts cannot import this test module.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import meshq
from meshq import EnvironmentMismatch, Executor, JobFailed, Meshq, Status
from meshq.calls import RemoteTraceback
from tests.support.fixtures import ClusterFactory
from tests.support.pyenv import make_pyenv
from tests.support.sshd import SshCluster

pytestmark = pytest.mark.timeout(120)

THIS = __name__


# -- the calls ------------------------------------------------------------------


def square(x: int) -> int:
    return x * x


def who(x: int) -> tuple[int, str, str]:
    import getpass

    return x, getpass.getuser(), os.environ["MESHQ_JOB"]


def boom(x: int) -> None:
    raise ValueError(f"bad value {x}")


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def flaky(x: int) -> tuple[int, str]:
    # the first attempt fails; a retry (attempt 2) returns
    if os.environ["MESHQ_ATTEMPT"] == "1":
        raise RuntimeError("first attempt fails")
    return x, os.environ["MESHQ_ATTEMPT"]


# -- set-up -----------------------------------------------------------------------


@pytest.fixture
def pyenv(shared_dir: Path) -> str:
    return make_pyenv(shared_dir / "env")


@pytest.fixture
def mq(tmp_path: Path) -> Iterator[Meshq]:
    with Meshq(tmp_path / "meshq.db", warn=lambda text: None) as handle:
        yield handle


def executor(mq: Meshq, tmp_path: Path, pyenv: str, **kw: object) -> Executor:
    options: dict[str, object] = {
        "queue": "feat",
        "mq": mq,
        "experiment": str(tmp_path / "exp"),
        "pyenv": pyenv,
        "by_value": [THIS],
        "max_workers": 4,
    }
    options.update(kw)
    return Executor(**options)  # type: ignore[arg-type]


# -- on this machine --------------------------------------------------------------


def test_map_gives_the_results_in_order_and_each_call_is_a_job(
    mq: Meshq, tmp_path: Path, pyenv: str
) -> None:
    with executor(mq, tmp_path, pyenv) as ex:
        assert list(ex.map(square, range(10))) == [x * x for x in range(10)]
        assert ex.submit(square, 12).result() == 144
    jobs = mq.jobs("feat")
    assert len(jobs) == 11 and {j.status for j in jobs} == {Status.END}
    assert all(j.name.startswith("square-") for j in jobs)
    assert mq.run_fifo_multi("feat", "localhost").ran == 0  # nothing left behind


def test_an_exception_comes_back_with_its_remote_traceback(
    mq: Meshq, tmp_path: Path, pyenv: str
) -> None:
    with executor(mq, tmp_path, pyenv) as ex:
        future = ex.submit(boom, 7)
        with pytest.raises(ValueError, match="bad value 7") as raised:
            future.result(timeout=60)
    cause = raised.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "in boom" in cause.text and "ValueError: bad value 7" in cause.text
    [job] = mq.jobs("feat")
    assert (job.status, job.exit_code) == (Status.FAIL, 1)
    assert "ValueError: bad value 7" in job.stderr()


def test_a_time_limit_ends_a_call_with_job_failed(mq: Meshq, tmp_path: Path, pyenv: str) -> None:
    with executor(mq, tmp_path, pyenv, timeout=1) as ex:
        future = ex.submit(nap, 60)
        with pytest.raises(JobFailed) as failed:
            future.result(timeout=60)
    assert failed.value.status == "timeout"
    assert mq.jobs("feat")[0].status is Status.TIMEOUT


def test_a_retry_runs_a_failed_call_again(mq: Meshq, tmp_path: Path, pyenv: str) -> None:
    with executor(mq, tmp_path, pyenv, retries=1) as ex:
        assert ex.submit(flaky, 5).result(timeout=60) == (5, "2")
    [job] = mq.jobs("feat")
    assert (job.status, job.attempts) == (Status.END, 2)


def test_a_kill_through_the_cli_while_map_waits(mq: Meshq, tmp_path: Path, pyenv: str) -> None:
    db = str(mq._async.service.store.path)

    def kill_the_sleeper() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with Meshq(db) as other:
                running = other.jobs("feat", status="start")
            if running:
                subprocess.run(
                    [sys.executable, "-m", "meshq", "--db", db, "queue", "kill", "feat",
                     f"--name={running[0].name}"],
                    check=True, capture_output=True, timeout=60,
                )
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_the_sleeper)
    with executor(mq, tmp_path, pyenv) as ex:
        results = ex.map(nap, [60, 0])
        killer.start()
        with pytest.raises(JobFailed) as failed:
            list(results)
    killer.join()
    assert failed.value.status == "kill"
    assert "ended kill" in str(failed.value)
    # the other call is not disturbed
    assert [j.status for j in mq.jobs("feat")] == [Status.KILL, Status.END]


def test_another_python_on_the_host_is_a_clear_error(
    mq: Meshq, tmp_path: Path, shared_dir: Path
) -> None:
    fake = make_pyenv(shared_dir / "old", python_version="3.8")
    with executor(mq, tmp_path, fake) as ex:
        future = ex.submit(square, 3)
        with pytest.raises(EnvironmentMismatch) as mismatch:
            future.result(timeout=60)
    here = "{}.{}".format(*sys.version_info[:2])
    assert f"pickled by Python {here}, but this host's python is 3.8.0" in str(mismatch.value)
    assert mismatch.value.host == "localhost"


def test_a_call_that_cannot_be_pickled_fails_at_submit(
    mq: Meshq, tmp_path: Path, pyenv: str
) -> None:
    with executor(mq, tmp_path, pyenv) as ex, pytest.raises(TypeError):
        ex.submit(square, threading.Lock())  # type: ignore[arg-type]
    assert mq.jobs("feat") == []


def test_shutdown_refuses_new_calls(mq: Meshq, tmp_path: Path, pyenv: str) -> None:
    ex = executor(mq, tmp_path, pyenv)
    ex.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(square, 1)


# -- on sshd hosts that log in as another user ---------------------------------------


@pytest.fixture
def two_hosts(make_ssh_cluster: ClusterFactory, monkeypatch: pytest.MonkeyPatch) -> SshCluster:
    cluster = make_ssh_cluster(2)
    monkeypatch.setenv("MESHQ_SSH_CONFIG", str(cluster.ssh_config))
    return cluster


@pytest.mark.ssh
def test_calls_run_on_ssh_hosts_as_their_user(
    two_hosts: SshCluster, mq: Meshq, home_experiment: str, pyenv: str
) -> None:
    mq.add_hosts("mq[1-2]", max_jobs=2)
    with Executor(
        queue="feat", hosts=["mq1", "mq2"], mq=mq, experiment=home_experiment, pyenv=pyenv,
        by_value=[THIS],
    ) as ex:
        results = list(ex.map(who, range(8)))
        failing = ex.submit(boom, 1)
        with pytest.raises(ValueError, match="bad value 1") as raised:
            failing.result(timeout=60)
    assert [r[0] for r in results] == list(range(8))
    assert {r[1] for r in results} == {"meshq-host"}
    jobs = {j.name: j for j in mq.jobs("feat")}
    assert {j.host for j in jobs.values()} == {"mq1", "mq2"}
    assert all(jobs[name].status is Status.END for _, _, name in results)
    assert isinstance(raised.value.__cause__, RemoteTraceback)
    assert "in boom" in raised.value.__cause__.text


@pytest.mark.ssh
def test_another_python_on_an_ssh_host_is_a_clear_error(
    two_hosts: SshCluster, mq: Meshq, home_experiment: str, shared_dir: Path
) -> None:
    fake = make_pyenv(shared_dir / "old", python_version="3.9")
    with Executor(
        queue="feat", hosts="mq1", mq=mq, experiment=home_experiment, pyenv=fake,
        by_value=[THIS],
    ) as ex:
        future = ex.submit(square, 3)
        with pytest.raises(EnvironmentMismatch, match=r"this host.s python is 3\.9\.0") as raised:
            future.result(timeout=60)
    assert raised.value.host == "mq1"
    assert isinstance(raised.value, meshq.MeshqError)


def test_a_call_whose_file_is_gone_says_so(mq: Meshq, tmp_path: Path, pyenv: str) -> None:
    with executor(mq, tmp_path, pyenv) as ex:
        assert ex.submit(square, 4).result(timeout=60) == 16
    [job] = mq.jobs("feat")
    mq.reset("feat", job.name, purge=True)  # removes the job's folder, call.pkl with it
    with executor(mq, tmp_path, pyenv) as ex:  # a run of the queue picks the job up
        ex.submit(square, 5).result(timeout=60)
    again = mq.job("feat", job.name)
    assert again.status is Status.FAIL
    assert "its call" in again.stderr() and "is gone" in again.stderr()
