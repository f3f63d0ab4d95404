"""Guarantee 4: a host lost mid-run costs only the jobs that ran there, within
a bounded time; the host is used again once it answers; and a network drop
shorter than ``host_lost_after`` costs nothing.

The runs are the service layer's (``Service.run_fifo_multi``) in this process:
its ``host_lost_after`` and ``reprobe_every`` keep these tests short (the
CLI waits the default 20 s and 30 s).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from meshq.model import HostStatus, Status
from meshq.service import Service
from tests.faults.helpers import (
    Cli,
    alive,
    assert_each_ran_once,
    comm_of,
    ends,
    job_command,
    live_pids,
    ppid_of,
    read_marks,
    starts,
)
from tests.support import scenarios
from tests.support.fixtures import shared_file
from tests.support.reporting import Messages
from tests.support.scenarios import until
from tests.support.sshd import SshCluster, SshHost

pytestmark = [
    pytest.mark.ssh,
    pytest.mark.usefixtures("no_unhandled_async_errors"),
    pytest.mark.timeout(120),
]

T = TypeVar("T")
QUEUE = "q"
#: the bound on one scenario
SCENARIO_TIMEOUT = 90.0


def run(coro: Coroutine[Any, Any, T], timeout: float = SCENARIO_TIMEOUT) -> T:
    """One scenario, bounded (see tests/support/scenarios.py)."""
    return scenarios.run(coro, timeout)


def host_status(api: Service, name: str) -> HostStatus:
    return {h.name: h.status for h in api.hosts()}[name]


def test_a_lost_host_crashes_only_its_jobs_in_bounded_time_and_is_used_again_once_back(
    cli: Cli,
    api: Service,
    cluster: Callable[[int], SshCluster],
    home_experiment: str,
    shared_dir: Path,
) -> None:
    victim = cluster(2).host("mq2")
    for name, slots in (("localhost", 1), ("mq1", 2), ("mq2", 2)):
        cli.ok("hosts", "add", name, f"--max_jobs_allowed={slots}")
    cli.ok("queue", "create", QUEUE, f"--experiment={home_experiment}")
    # appended to by jobs here (our user) and on the hosts (theirs)
    marker = shared_file(shared_dir / "marker")
    never, first, second = shared_dir / "never", shared_dir / "gate1", shared_dir / "gate2"
    # v1, v2 run on mq2 until it dies; w* and then x* wait for their gates
    api.add(QUEUE, "v[1-2]", job_command(marker, gate=never), host="mq2")
    api.add(QUEUE, "w[1-8]", job_command(marker, gate=first, work="sleep 0.05"))
    api.add(QUEUE, "x[1-6]", job_command(marker, gate=second, work="sleep 0.05"))
    lost_after = 3.0
    messages = Messages()

    def on(host: str) -> set[str]:
        return {m.job for m in starts(marker).values() if m.host == host}

    def status(name: str) -> Status:
        return api.job(QUEUE, name).status

    async def scenario() -> tuple[Any, float, float]:
        runner = asyncio.create_task(
            api.run_fifo_multi(
                QUEUE, host_lost_after=lost_after, reprobe_every=1.0, reporter=messages
            )
        )
        # sequential: v1, v2 on mq2 (pinned), w1 on localhost, w2, w3 on mq1
        await until(lambda: len(starts(marker)) == 5, "five jobs to start")
        assert on("mq2") == {"v1", "v2"}
        await until(lambda: {status("v1"), status("v2")} == {Status.START}, "v1, v2 recorded")
        pids = [starts(marker)[n].pid for n in ("v1", "v2")]
        killed_at = time.time()
        killed = await asyncio.to_thread(victim.kill_all)
        assert set(pids) <= set(killed)

        await until(
            lambda: {status("v1"), status("v2")} == {Status.CRASH},
            "v1, v2 to crash",
            lost_after + 15,
        )
        crashed_at = time.time()
        assert host_status(api, "mq2") is HostStatus.DOWN
        # the rest of the queue goes on without mq2
        first.touch()
        await until(lambda: {f"w{i}" for i in range(1, 9)} <= set(ends(marker)), "w* to end")
        await until(lambda: len(on("localhost") | on("mq1")) == 11, "x1-x3 to fill the others")
        assert on("mq2") == {"v1", "v2"}
        assert [status(f"x{i}") for i in (4, 5, 6)] == [Status.UNDEFINED] * 3

        # back: probed again within about reprobe_every, it takes the next jobs
        await asyncio.to_thread(victim.restart)
        await until(lambda: on("mq2") == {"v1", "v2", "x4", "x5"}, "mq2 to take x4, x5", 20)
        assert host_status(api, "mq2") is HostStatus.ACTIVE
        second.touch()
        result = await asyncio.wait_for(runner, 60)
        return result, killed_at, crashed_at

    result, killed_at, crashed_at = run(scenario())

    # v1 and v2 are crash; when mq2 answers again their logs are read back,
    # and one whose wrapper wrote an end before it died is recorded so
    assert result.finished[Status.END] == 14, (result, messages.lines)
    assert sum(result.finished.values()) == 16, (result, messages.lines)
    assert messages.saw("lost host mq2"), messages.lines
    for name in ("v1", "v2"):
        job = api.job(QUEUE, name)
        states = [e.new for e in api.history(QUEUE, name)]
        assert Status.CRASH in states and job.host == "mq2", states
        # a crash, or what its log says it was once the host answered again
        assert job.status is Status.CRASH or (
            job.status is Status.FAIL and job.signal is not None
        ), job
        assert job.error and "unreachable" in job.error
        assert job.ended is not None
        if job.status is Status.CRASH:
            # given its grace, and not much more
            assert lost_after <= job.ended - killed_at <= lost_after + 10, job.ended - killed_at
    assert crashed_at - killed_at <= lost_after + 15
    others = [j for j in api.jobs(QUEUE) if not j.name.startswith("v")]
    assert all(j.status is Status.END for j in others), others
    assert {j.host for j in others if j.name.startswith("w")} <= {"localhost", "mq1"}
    # each started once (the crashed ones too: a crash is not run again by itself)
    started = Counter(m.job for m in read_marks(marker) if m.kind == "start")
    assert started == Counter({j.name: 1 for j in api.jobs(QUEUE)}), started
    assert set(ends(marker)) == {j.name for j in others}

    # and a probe says so too
    [(host, error)] = run(api.probe("mq2"))
    assert error is None and host.status is HostStatus.ACTIVE and host.last_error is None


def _sshd_processes(host: SshHost) -> set[int]:
    """The host's sshd processes: its listener and the sshd processes under it
    (one or two per connection), found by ancestry (sshd rewrites its
    command line over its environment, so no tag can be read there)."""
    found = {host.proc.pid}
    for _ in range(5):
        for pid in live_pids():
            if comm_of(pid).startswith("sshd") and ppid_of(pid) in found:
                found.add(pid)
    return found


def _drop_connections(host: SshHost) -> list[int]:
    """The network to ``host`` drops: its sshd listener stops and its
    established sshd connection processes die; what the sessions started
    (the agent, the wrappers, the jobs) is left alone."""
    connections = _sshd_processes(host) - {host.proc.pid}
    host.stop()
    for pid in connections:
        os.kill(pid, signal.SIGKILL)
    return sorted(connections)


def test_a_network_drop_shorter_than_host_lost_after_crashes_no_running_job(
    cli: Cli,
    api: Service,
    cluster: Callable[[int], SshCluster],
    home_experiment: str,
    shared_dir: Path,
) -> None:
    hosts = cluster(1)
    host = hosts.host("mq1")
    cli.ok("hosts", "add", "localhost", "--max_jobs_allowed=1")
    cli.ok("hosts", "add", "mq1", "--max_jobs_allowed=2")
    cli.ok("queue", "create", QUEUE, f"--experiment={home_experiment}")
    # appended to by jobs here (our user) and on the host (theirs)
    marker, gate = shared_file(shared_dir / "marker"), shared_dir / "gate"
    command = job_command(marker, gate=gate, work="sleep 0.05")
    api.add(QUEUE, "d[1-2]", command, host="mq1")
    api.add(QUEUE, "here", command, host="localhost")
    messages = Messages()
    names = ["d1", "d2", "here"]

    async def scenario() -> Any:
        runner = asyncio.create_task(
            api.run_fifo_multi(QUEUE, host_lost_after=15, check_interval=1.0, reporter=messages)
        )
        # a claimed, launched job is `run`; `start` once the run has recorded
        # its wrapper's start line, which the command's own mark can overtake
        await until(lambda: set(names) <= set(starts(marker)), "the three jobs to start")
        await until(
            lambda: {j.status for j in api.jobs(QUEUE)} == {Status.START},
            "the run to record the three starts",
        )
        pids = {n: starts(marker)[n].pid for n in names}
        killed = await asyncio.to_thread(_drop_connections, host)
        assert killed, "no sshd connection process found for mq1"
        await until(lambda: messages.saw("lost host mq1"), "the run to notice the drop")
        assert all(p is not None and alive(p) for p in pids.values()), pids
        await asyncio.to_thread(host.restart)
        await until(
            lambda: any("answers again" in m for m in messages.lines), "the run to reconnect", 20
        )
        assert {j.status for j in api.jobs(QUEUE)} == {Status.START}
        assert all(p is not None and alive(p) for p in pids.values()), pids
        gate.touch()
        return await asyncio.wait_for(runner, 60)

    result = run(scenario())

    # the ends on mq1 were told to the old connection: the checks find them
    assert result.ok and result.finished == {Status.END: 3}, (result, messages.lines)
    for job in api.jobs(QUEUE):
        assert (job.status, job.exit_code, job.attempts) == (Status.END, 0, 1), job
        assert Status.CRASH not in [e.new for e in api.history(QUEUE, job.name)]
    assert_each_ran_once(marker, names)
    assert host_status(api, "mq1") is HostStatus.ACTIVE
