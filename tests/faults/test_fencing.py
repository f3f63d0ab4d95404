"""A launch still on its way when its run dies is never run twice.

The scenario that found it: a host's agent is paused (SIGSTOP) while the
manager sends it launches; the manager is killed; a new run (or a refresh)
starts at once and, finding no trace of those jobs, would launch them again;
then the old agent wakes up and carries out the launches it was sent. Now a
job goes back to ``ready`` only once its attempt is fenced on its host, and a
fenced attempt's wrapper refuses to start (``resources/wrapper.sh``).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.faults.helpers import Cli, assert_each_ran_once, job_command, starts, wait_until
from tests.support.sshd import pid_alive

pytestmark = pytest.mark.timeout(120)

QUEUE = "q"
LATE = ["late1"]


def _agent_of(manager: subprocess.Popen[str]) -> int:
    """The pid of the local host agent a ``meshq queue run`` started."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == manager.pid and b"meshq-agent" in cmdline:
            return int(entry.name)
    raise AssertionError("the run has no local agent")


def _launches_held_in_a_stopped_agent(cli: Cli, tmp_path: Path) -> tuple[int, Path]:
    """A run whose agent is stopped while the launch of ``late1`` is sent to
    it, then killed: the agent's pid, the marker file and the gate of the job
    ``hold``, which keeps running."""
    marker, gate = tmp_path / "marker", tmp_path / "gate"
    cli.ok("queue", "create", QUEUE, f"--experiment={tmp_path / 'exp'}")
    cli.ok(
        "queue",
        "add",
        QUEUE,
        "--name=hold",
        "--host=localhost",
        f"--command={job_command(marker, gate=gate, work='true')}",
    )
    cli.ok(
        "queue",
        "add",
        QUEUE,
        "--name=late1",
        "--host=localhost",
        f"--command={job_command(marker, work='true')}",
    )
    # one at a time: hold runs (its job folder and late1's are made together,
    # ahead); with the agent stopped, hold's end reaches the manager straight
    # from its wrapper, and late1's launch goes into the stopped agent's input
    manager = cli.popen("queue", "run", "fifo", QUEUE, "--max_parallel=1")
    wait_until(lambda: "hold" in starts(marker), 30, "hold to start")
    agent = _agent_of(manager)
    os.kill(agent, signal.SIGSTOP)
    gate.touch()
    wait_until(
        lambda: cli.statuses(QUEUE) == {"hold": "end", "late1": "run"},
        30,
        "late1 to be claimed and sent to the stopped agent",
    )
    manager.send_signal(signal.SIGKILL)
    manager.wait()
    return agent, marker


def _wake(agent: int) -> None:
    """Let the old agent carry out what it was sent, and wait for it to end."""
    os.kill(agent, signal.SIGCONT)
    wait_until(lambda: not pid_alive(agent), 30, "the old agent to end")


def test_a_new_run_fences_launches_a_dead_run_left_on_their_way(cli: Cli, tmp_path: Path) -> None:
    agent, marker = _launches_held_in_a_stopped_agent(cli, tmp_path)
    second = cli.popen("queue", "run", "fifo", QUEUE, "--max_parallel=8")
    wait_until(
        lambda: all(cli.statuses(QUEUE)[n] == "end" for n in LATE),
        30,
        "the new run to run the late jobs",
    )
    _wake(agent)
    code, _, err = cli.finish(second, timeout=60)
    assert code == 0, err
    assert_each_ran_once(marker, ["hold", *LATE])
    for name in LATE:
        job = cli.jobs(QUEUE)[name]
        assert job["attempts"] == 2
        log = (tmp_path / "exp" / QUEUE / name / f"{name}.log").read_text()
        assert "fenced 1 " in log, log


def test_a_refresh_fences_launches_a_dead_run_left_on_their_way(cli: Cli, tmp_path: Path) -> None:
    agent, marker = _launches_held_in_a_stopped_agent(cli, tmp_path)
    cli.ok("queue", "refresh", QUEUE)
    assert all(cli.statuses(QUEUE)[n] == "ready" for n in LATE)
    _wake(agent)
    # the launch the old agent still had was refused: nothing of it ran
    assert not set(LATE) & set(starts(marker))
    cli.ok("queue", "run", "fifo", QUEUE, "--max_parallel=8")
    assert_each_ran_once(marker, ["hold", *LATE])
    assert {cli.statuses(QUEUE)[n] for n in LATE} == {"end"}
