"""Fixtures for the acceptance tier: the real ``meshq`` CLI, run as a
subprocess against a store of its own (``MESHQ_HOME`` in a per-test tmp
dir), with real jobs on this machine. Nothing is mocked.

Every process a test starts carries that test's ``MESHQ_HOME`` in its
environment (meshq passes its environment on to the host agent and the
jobs), so the teardown finds and kills, by pid, whatever a test left
running, and only that.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.cli import MESHQ, TRACEBACK, require_success, run_meshq
from tests.support.procs import alive as alive
from tests.support.procs import group_members as group_members

#: what Python prints for an unhandled (or ignored) exception: never meshq's output
#: no single meshq command of these tests may take longer than this (s)
CALL_TIMEOUT = 60.0

T = TypeVar("T")


def wait_until(
    check: Callable[[], T], timeout: float = 15.0, interval: float = 0.05, what: str = "condition"
) -> T:
    """Poll ``check`` until it returns something truthy, and return that;
    fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what} (last value: {value!r})"
            )
        time.sleep(interval)
        value = check()
    return value


def processes_with_env(entry: bytes) -> list[int]:
    """Pids of the processes whose environment holds ``entry`` exactly."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if entry in environ.split(b"\0"):
            out.append(int(proc.name))
    return out


class Meshq:
    """The ``meshq`` CLI bound to one test's store and working directory."""

    def __init__(self, root: Path, pycache: Path | None = None) -> None:
        self.root = root
        self.home = root / "home"
        self.work = root / "work"
        self.home.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("MESHQ_") and k not in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")
        }
        env["MESHQ_HOME"] = str(self.home)
        # a config file of the person running the tests must not change them
        env["MESHQ_CONFIG"] = str(root / "no-config.toml")
        env["PYTHONUNBUFFERED"] = "1"
        if pycache is not None:
            # hundreds of meshq starts: let them share compiled bytecode
            # (kept out of the source tree)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(pycache)
        self.env = env
        self.started: list[subprocess.Popen[str]] = []

    # -- running the CLI ------------------------------------------------------

    def __call__(
        self,
        *args: str,
        timeout: float = CALL_TIMEOUT,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``meshq ARGS`` to its end; the result, whatever its status."""
        return run_meshq(args, cwd=cwd or self.work, env=env or self.env, timeout=timeout)

    def ok(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run ``meshq ARGS`` and insist that it exits 0."""
        done = self(*args, **kw)
        require_success(done, args)
        return done

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``meshq ARGS`` in the background (stopped at teardown)."""
        proc = subprocess.Popen(
            [*MESHQ, *args],
            cwd=self.work,
            env=env or self.env,
            text=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.started.append(proc)
        return proc

    @staticmethod
    def finish(proc: subprocess.Popen[str], timeout: float = 30.0) -> tuple[int, str, str]:
        """Wait for a background meshq to end: its status, stdout, stderr."""
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(
                f"{proc.args} still running after {timeout} s: stdout={out!r} stderr={err!r}"
            ) from None
        assert TRACEBACK not in err, f"{proc.args}:\n{err}"
        return proc.returncode, out, err

    # -- reading state --------------------------------------------------------

    def json(self, *args: str) -> Any:
        done = self.ok(*args, "--output=json")
        return json.loads(done.stdout)

    def jobs(self, queue: str, *args: str) -> list[dict[str, Any]]:
        """``meshq queue list QUEUE -o json``."""
        return self.json("queue", "list", queue, *args)  # type: ignore[no-any-return]

    def job(self, queue: str, name: str) -> dict[str, Any]:
        """One job's record from ``queue list``."""
        found = [j for j in self.jobs(queue) if j["name"] == name]
        assert len(found) == 1, f"no single job {name!r} in {queue}: {found}"
        return found[0]

    def statuses(self, queue: str) -> dict[str, str]:
        return {j["name"]: j["status"] for j in self.jobs(queue)}

    def queues(self) -> list[dict[str, Any]]:
        return self.json("queues")  # type: ignore[no-any-return]

    def wait_status(
        self, queue: str, names: list[str], wanted: set[str], timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        """Poll until every job of ``names`` is in one of ``wanted``; their records."""

        def check() -> list[dict[str, Any]] | None:
            jobs = {j["name"]: j for j in self.jobs(queue)}
            picked = [jobs[n] for n in names]
            return picked if all(j["status"] in wanted for j in picked) else None

        return wait_until(check, timeout, 0.1, f"{names} to reach {sorted(wanted)}")

    def add_local(self, queue: str, name: str, command: str, *extra: str) -> None:
        self.ok(
            "queue",
            "add",
            queue,
            f"--name={name}",
            f"--command={command}",
            "--host=localhost",
            *extra,
        )

    def experiment(self) -> Path:
        return self.work / "experiment"

    # -- teardown -------------------------------------------------------------

    def cleanup(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(Exception):
                proc.communicate(timeout=10)
        entry = f"MESHQ_HOME={self.home}".encode()
        for _ in range(3):
            pids = processes_with_env(entry)
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)


@pytest.fixture(scope="session")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the meshq subprocesses keep their bytecode."""
    return tmp_path_factory.mktemp("pycache")


@pytest.fixture
def mq(tmp_path: Path, pycache: Path) -> Iterator[Meshq]:
    """The meshq CLI on a fresh, empty store of this test's own."""
    cli = Meshq(tmp_path, pycache)
    try:
        yield cli
    finally:
        cli.cleanup()


#: the queue and jobs every bad-input test starts from
BASE_QUEUE = "q"
BASE_JOBS = "job[1-3]"


@pytest.fixture(scope="session")
def _base_store(tmp_path_factory: pytest.TempPathFactory, pycache: Path) -> Path:
    """A store with queue ``q`` (jobs job1..job3 ready on localhost) and
    queue ``other`` (one undefined job), made once and copied per test."""
    root = tmp_path_factory.mktemp("base")
    cli = Meshq(root, pycache)
    try:
        cli.ok("queue", "create", BASE_QUEUE)
        cli.add_local(BASE_QUEUE, BASE_JOBS, "true")
        cli.ok("queue", "create", "other", "--experiment=elsewhere")
        cli.ok("queue", "add", "other", "--name=lonely", "--command=true")
    finally:
        cli.cleanup()
    return root


@pytest.fixture
def base_mq(_base_store: Path, tmp_path: Path, pycache: Path) -> Iterator[Meshq]:
    """meshq on a private copy of the base store (see ``_base_store``)."""
    root = tmp_path / "copy"
    shutil.copytree(_base_store, root)
    cli = Meshq(root, pycache)
    try:
        yield cli
    finally:
        cli.cleanup()
