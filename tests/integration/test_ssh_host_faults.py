"""Real SSH hosts that fail: down from the start, lost mid-run (for long or briefly), and
one whose host key does not match.

Each test starts hosts of its own (``own_cluster``), since it kills or breaks them; see
``tests/integration/ssh_helpers.py`` for what the tests can look at, and how they wait.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meshq.model import HostStatus, Status
from meshq.service import Service
from tests.integration.ssh_helpers import (
    SSH_TEST_MARKS,
    assert_ran_where_recorded,
    finish,
    gate_wait,
    meshq_cli,
    run,
    started_lines,
    stdout_of,
    traced,
)
from tests.support.reporting import Messages
from tests.support.scenarios import until
from tests.support.sshd import SshCluster, pid_alive

pytestmark = SSH_TEST_MARKS


# --------------------------------------------------------------------------------------
# 1. a host that is down from the start
# --------------------------------------------------------------------------------------


def test_a_host_down_from_the_start(
    own_cluster: Callable[..., SshCluster], mq: Service, home_experiment: str
) -> None:
    cluster = own_cluster(3)
    cluster.host("mq3").kill_all()  # its sshd is gone before anything starts
    for name, n in (("mq1", 1), ("mq2", 1), ("mq3", 2)):
        mq.add_hosts(name, max_jobs=n)
    mq.create_queue("q", home_experiment)
    mq.add("q", "job[1-6]", 'echo "$MESHQ_TEST_HOST"')
    mq.create_queue("pinned", home_experiment)
    mq.add("pinned", "there", "true", host="mq3")
    mq.add("pinned", "here", 'echo "$MESHQ_TEST_HOST"', host="mq1")

    multi = run(mq.run_fifo_multi("q"))

    assert multi.ok and multi.finished == {Status.END: 6}
    assert {j.host for j in mq.jobs("q")} == {"mq1", "mq2"}
    assert_ran_where_recorded(cluster, mq, "q")
    hosts = {h.name: h for h in mq.hosts()}
    assert hosts["mq3"].status is HostStatus.DOWN
    assert hosts["mq3"].last_error and "connection refused" in hosts["mq3"].last_error
    assert hosts["mq3"].last_probe is not None
    for name in ("mq1", "mq2"):
        assert (hosts[name].status, hosts[name].last_error) == (HostStatus.ACTIVE, None)

    fifo = run(mq.run_fifo("pinned", max_parallel=2))

    assert fifo.finished == {Status.END: 1, Status.FAIL_START: 1}
    there, here = mq.job("pinned", "there"), mq.job("pinned", "here")
    assert (here.status, stdout_of(cluster, here)) == (Status.END, "mq1\n")
    assert there.status is Status.FAIL_START and there.host == "mq3"
    assert there.error and "mq3 is down" in there.error and "connection refused" in there.error


def test_a_down_host_is_probed_again_and_used_once_back(
    own_cluster: Callable[..., SshCluster], mq: Service, home_experiment: str, shared_dir: Path
) -> None:
    cluster = own_cluster(2)
    late = cluster.host("mq2")
    late.kill_all()
    mq.add_hosts("mq1", max_jobs=1)
    mq.add_hosts("mq2", max_jobs=2)
    mq.create_queue("q", home_experiment)
    trace, gate = shared_dir / "trace", shared_dir / "gate"
    mq.add("q", "job[1-4]", traced(trace, gate=gate, hold=0))
    messages = Messages()

    def on(host: str) -> list[str]:
        return [line[1] for line in started_lines(trace) if line[2] == host]

    async def scenario() -> Any:
        runner = asyncio.create_task(mq.run_fifo_multi("q", reprobe_every=1.0, reporter=messages))
        await until(lambda: on("mq1") == ["job1"], "job1 to start on mq1")
        await until(
            lambda: {h.name: h.status for h in mq.hosts()}["mq2"] is HostStatus.DOWN,
            "mq2 to be recorded down",
        )
        assert mq.counts("q")[Status.UNDEFINED] == 3  # mq1 is full, mq2 is down: they wait
        await asyncio.to_thread(late.restart)
        # probed again within about reprobe_every: mq2 takes the next two jobs
        await until(lambda: sorted(on("mq2")) == ["job2", "job3"], "mq2 to take jobs", 15)
        assert {h.name: h.status for h in mq.hosts()}["mq2"] is HostStatus.ACTIVE
        gate.touch()
        return await finish(runner, "the run")

    result = run(scenario())

    assert result.ok and result.finished == {Status.END: 4}
    assert [mq.job("q", f"job{i}").host for i in (1, 2, 3)] == ["mq1", "mq2", "mq2"]
    assert_ran_where_recorded(cluster, mq, "q")
    assert any(m.startswith("host mq2 is down") for m in messages.lines), messages.lines
    assert "host mq2 is back" in messages.lines
    mq2 = {h.name: h for h in mq.hosts()}["mq2"]
    assert (mq2.status, mq2.last_error) == (HostStatus.ACTIVE, None)


# --------------------------------------------------------------------------------------
# 2. a host lost mid-run
# --------------------------------------------------------------------------------------


def test_a_host_lost_mid_run(
    own_cluster: Callable[..., SshCluster], mq: Service, home_experiment: str
) -> None:
    cluster = own_cluster(2)
    victim = cluster.host("mq2")
    mq.add_hosts("mq1", max_jobs=1)
    mq.add_hosts("mq2", max_jobs=2)
    mq.create_queue("q", home_experiment)
    # on mq2 the first attempt sleeps long (until the host dies); everywhere else, and
    # on later attempts, a job is quick
    mq.add(
        "q",
        "job[1-8]",
        'echo "$MESHQ_TEST_HOST"; if [[ $MESHQ_TEST_HOST == mq2 && $MESHQ_ATTEMPT == 1 ]]; '
        "then sleep 60; fi",
    )
    lost_after = 3.0
    messages = Messages()

    async def scenario() -> tuple[Any, float, float]:
        runner = asyncio.create_task(
            mq.run_fifo_multi("q", host_lost_after=lost_after, reporter=messages)
        )
        # sequential: job1 on mq1, job2 and job3 fill mq2 and sleep there
        await until(
            lambda: [mq.job("q", n).status for n in ("job2", "job3")] == [Status.START] * 2,
            "job2 and job3 to start on mq2",
        )
        assert [mq.job("q", n).host for n in ("job2", "job3")] == ["mq2", "mq2"]
        pids = [mq.job("q", n).pid for n in ("job2", "job3")]
        kill_started = time.time()
        killed = await asyncio.to_thread(victim.kill_all)
        assert set(pids) <= set(killed)
        return await finish(runner, "the run"), kill_started, time.time()

    result, kill_started, killed_at = run(scenario())

    assert result.finished == {Status.END: 6, Status.CRASH: 2}, result
    assert any(m.startswith("lost host mq2") for m in messages.lines), messages.lines
    for name in ("job2", "job3"):
        job = mq.job("q", name)
        assert job.status is Status.CRASH
        assert job.error and "mq2 unreachable for over 3 s" in job.error
        # given its grace, but not much more
        assert job.ended is not None
        assert lost_after <= job.ended - kill_started and job.ended - killed_at < lost_after + 10
    rest = [j for j in mq.jobs("q") if j.name not in ("job2", "job3")]
    assert all(j.status is Status.END and j.host == "mq1" for j in rest), rest
    assert_ran_where_recorded(cluster, mq, "q")
    mq2 = {h.name: h for h in mq.hosts()}["mq2"]
    assert mq2.status is HostStatus.DOWN and mq2.last_error

    victim.restart()
    [(host, error)] = run(mq.probe("mq2"))
    assert error is None
    assert (host.status, host.last_error) == (HostStatus.ACTIVE, None)

    # back in use: the crashed jobs run again, and one of them lands on mq2
    assert {m.new for m in run(mq.reset("q", status="crash"))} == {Status.UNDEFINED}
    again = run(mq.run_fifo_multi("q"))
    assert again.ok and again.finished == {Status.END: 2}
    assert sorted(mq.job("q", n).host or "" for n in ("job2", "job3")) == ["mq1", "mq2"]
    assert_ran_where_recorded(cluster, mq, "q")


def test_a_short_drop_within_host_lost_after_costs_nothing(
    own_cluster: Callable[..., SshCluster], mq: Service, home_experiment: str, shared_dir: Path
) -> None:
    cluster = own_cluster(1)
    host = cluster.host("mq1")
    mq.add_hosts("mq1", max_jobs=2)
    mq.create_queue("q", home_experiment)
    gate = shared_dir / "gate"
    mq.add("q", "job[1-2]", f'echo "$MESHQ_TEST_HOST"; {gate_wait(gate)}')
    messages = Messages()

    def sshd_pids() -> set[int]:
        """The host's sshd processes: the listener and the sshd processes under it (one
        per connection), not what the sessions run."""
        found = {host.proc.pid}
        for _ in range(5):
            for entry in Path("/proc").iterdir():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                name, _, rest = stat.partition(" (")[2].rpartition(") ")
                if name.startswith("sshd") and int(rest.split()[1]) in found:
                    found.add(int(entry.name))
        return found

    async def scenario() -> Any:
        runner = asyncio.create_task(
            mq.run_fifo_multi("q", host_lost_after=20, check_interval=1.0, reporter=messages)
        )
        await until(
            lambda: {j.status for j in mq.jobs("q")} == {Status.START}, "both jobs to start"
        )
        job_pids = [j.pid for j in mq.jobs("q")]
        # the network drops: sshd and its connections die, the jobs do not
        for pid in sshd_pids():
            os.kill(pid, signal.SIGKILL)
        await until(lambda: any(m.startswith("lost host mq1") for m in messages.lines), "loss")
        assert all(p is not None and pid_alive(p) for p in job_pids)
        await asyncio.to_thread(host.restart)
        await until(lambda: any("answers again" in m for m in messages.lines), "reconnect", 15)
        assert {j.status for j in mq.jobs("q")} == {Status.START}
        gate.touch()
        return await finish(runner, "the run")

    result = run(scenario())

    # the jobs' own end lines were lost with the old connection: the checks find them
    assert result.ok and result.finished == {Status.END: 2}, (result, messages.lines)
    for job in mq.jobs("q"):
        assert (job.status, job.host, job.exit_code) == (Status.END, "mq1", 0)
        assert Status.CRASH not in [e.new for e in mq.history("q", job.name)]
    assert {h.name: h.status for h in mq.hosts()} == {"mq1": HostStatus.ACTIVE}


# --------------------------------------------------------------------------------------
# 3. a host key that does not match
# --------------------------------------------------------------------------------------


def test_a_host_with_the_wrong_host_key_is_not_used(
    own_cluster: Callable[..., SshCluster], mq: Service, tmp_path: Path, home_experiment: str
) -> None:
    cluster = own_cluster(2, wrong_known_host_for={"mq2"})
    mq.add_hosts("mq1", max_jobs=1)
    mq.add_hosts("mq2", max_jobs=4)

    # the CLI says so, and exits 1
    probe = meshq_cli(tmp_path / "db", cluster, "hosts", "probe")
    assert probe.returncode == 1, (probe.stdout, probe.stderr)
    lines = probe.stdout.splitlines()
    assert lines[0] == "mq1: ok"
    assert lines[1].startswith("mq2: down: ") and "host key" in lines[1].lower()

    probed = {host.name: (host, error) for host, error in run(mq.probe())}

    assert probed["mq1"][1] is None and probed["mq1"][0].status is HostStatus.ACTIVE
    host, error = probed["mq2"]
    assert error is not None and "host key" in error.lower()
    assert host.status is HostStatus.DOWN and host.last_error == error

    mq.create_queue("q", home_experiment)
    mq.add("q", "job[1-3]", 'echo "$MESHQ_TEST_HOST"')
    result = run(mq.run_fifo_multi("q", policy="smart"))  # smart would prefer mq2's 4 slots
    assert result.ok and result.finished == {Status.END: 3}
    assert {j.host for j in mq.jobs("q")} == {"mq1"}
    assert_ran_where_recorded(cluster, mq, "q")
    mq2 = {h.name: h for h in mq.hosts()}["mq2"]
    assert mq2.status is HostStatus.DOWN and "host key" in (mq2.last_error or "").lower()
