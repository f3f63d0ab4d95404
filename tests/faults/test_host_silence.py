"""Hosts that go silent — frozen, gone, or hanging at login — and what a run
owes its jobs then.

* A run ends only when every job it took is final: a retried job pinned to a
  host that is gone ends ``fail_start`` saying why, never left ``ready``.
* A partition longer than ``host_lost_after``: the host's jobs are declared
  ``crash`` (and retried elsewhere with ``--retries``) while the originals may
  go on. When the host answers again, an attempt that has been superseded is
  stopped and the job's history says that two attempts ran; one still current
  is watched again, and ends as it really ends. A run with nothing else left
  to do lasts until that is done.
* A host whose login hangs holds up no other host, is given up after the
  agent's start timeout, and leaves no hung login behind.

The runs are the Python API's in this process (``host_lost_after`` and
``reprobe_every`` are not options of the CLI).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from meshq.model import HostStatus, Status
from meshq.service import Service
from tests.faults.helpers import (
    GATE_TIMEOUT_S,
    Cli,
    comm_of,
    ends,
    job_command,
    live_pids,
    ppid_of,
    q,
    read_marks,
    starts,
)
from tests.support.fixtures import shared_file
from tests.support.reporting import Messages
from tests.support.scenarios import run, until
from tests.support.sshd import SshCluster, SshHost, pid_alive

pytestmark = [
    pytest.mark.ssh,
    pytest.mark.usefixtures("no_unhandled_async_errors"),
    pytest.mark.timeout(150),
]

QUEUE = "q"


def _hosts_and_queue(cli: Cli, experiment: str, local_slots: int) -> None:
    """Hosts mq1 (2 slots) and localhost, and the queue under the home."""
    cli.ok("hosts", "add", "mq1", "--max_jobs_allowed=2")
    cli.ok("hosts", "add", "localhost", f"--max_jobs_allowed={local_slots}")
    cli.ok("queue", "create", QUEUE, f"--experiment={experiment}")


def _history(api: Service, name: str) -> list[tuple[str, str | None]]:
    return [(e.new.value, e.detail) for e in api.history(QUEUE, name)]


def test_a_run_ends_with_every_job_it_took_final(
    cli: Cli,
    api: Service,
    cluster: Callable[[int], SshCluster],
    home_experiment: str,
    shared_dir: Path,
) -> None:
    [mq1] = cluster(1).hosts
    marker = shared_file(shared_dir / "marker")
    never, keep = shared_dir / "never", shared_dir / "keep"
    _hosts_and_queue(cli, home_experiment, local_slots=1)
    api.add(QUEUE, "p[1-2]", job_command(marker, gate=never), host="mq1", retries=1)
    api.add(QUEUE, "keeper", job_command(marker, gate=keep, work="true"), host="localhost")
    messages = Messages()

    async def scenario() -> object:
        runner = asyncio.create_task(
            api.run_fifo_multi(QUEUE, host_lost_after=2, reprobe_every=60, reporter=messages)
        )
        await until(lambda: {"p1", "p2", "keeper"} <= set(starts(marker)), "all to start")
        await asyncio.to_thread(mq1.kill_all)  # gone for good: sshd too
        try:
            await until(
                lambda: {api.job(QUEUE, n).status for n in ("p1", "p2")} == {Status.FAIL_START},
                "p1 and p2 to end",
                40,
            )
        except AssertionError:
            raise AssertionError(f"{messages.lines} {_history(api, 'p1')}") from None
        keep.touch()
        return await asyncio.wait_for(runner, 30)

    result = run(scenario())
    assert not result.ok  # type: ignore[attr-defined]
    for name in ("p1", "p2"):
        job = api.job(QUEUE, name)
        assert job.status is Status.FAIL_START and job.attempts == 2
        assert job.error and "host mq1 is down" in job.error
        states = [s for s, _ in _history(api, name)]
        assert states[-4:] == ["crash", "ready", "run", "fail_start"], states
    assert api.job(QUEUE, "keeper").status is Status.END
    assert not api.jobs(QUEUE, status=["ready", "undefined", "run", "start"])


def _sshd_pids(host: SshHost) -> list[int]:
    """The host's sshd processes: its listener and the sshd processes below
    it (one pair per connection), not the sessions' shells, agents and jobs.
    Found by ancestry: sshd writes its process title over its environment."""
    found = {host.proc.pid}
    grew = True
    while grew:
        grew = False
        for pid in live_pids():
            if pid not in found and ppid_of(pid) in found and comm_of(pid) == "sshd":
                found.add(pid)
                grew = True
    return sorted(found)


@contextlib.contextmanager
def _frozen(host: SshHost) -> Iterator[None]:
    """``host`` cut off while inside: its sshd processes stopped (SIGSTOP),
    so its connections stay open but answer nothing; resumed on leaving."""
    frozen = _sshd_pids(host)
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)


def _partition_run(api: Service, messages: Messages) -> asyncio.Task[object]:
    """A run that gives a silent host up after 2 s and probes it every second."""
    return asyncio.create_task(
        api.run_fifo_multi(
            QUEUE,
            policy="sequential",
            host_lost_after=2,
            reprobe_every=1,
            check_interval=1,
            reporter=messages,
        )
    )


def test_a_host_back_from_a_partition_is_settled(
    cli: Cli,
    api: Service,
    cluster: Callable[[int], SshCluster],
    home_experiment: str,
    shared_dir: Path,
) -> None:
    [mq1] = cluster(1).hosts
    marker = shared_file(shared_dir / "marker")
    gate, keep = shared_dir / "gate", shared_dir / "keep"
    _hosts_and_queue(cli, home_experiment, local_slots=2)
    # w: pinned to mq1, no retries; v: placed on mq1 first, one retry
    api.add(QUEUE, "w", job_command(marker, gate=gate, work="true"), host="mq1")
    api.add(QUEUE, "v", job_command(marker, gate=gate, work="true"), retries=1)
    api.add(QUEUE, "keeper", job_command(marker, gate=keep, work="true"), host="localhost")
    messages = Messages()

    async def scenario() -> object:
        runner = _partition_run(api, messages)
        await until(lambda: {"w", "v", "keeper"} <= set(starts(marker)), "all to start")
        assert {starts(marker)[n].host for n in ("w", "v")} == {"mq1"}
        with _frozen(mq1):
            # keepalives find the connection dead, then host_lost_after passes
            await until(lambda: api.job(QUEUE, "w").status is Status.CRASH, "w to crash", 60)
            # v is retried on localhost while its first attempt goes on, frozen out
            await until(lambda: api.job(QUEUE, "v").attempts == 2, "v to be retried", 20)
            await until(lambda: api.job(QUEUE, "v").status is Status.START, "v's retry", 20)
        await until(lambda: messages.saw("host mq1 is back"), "mq1 to answer again", 30)
        await until(lambda: api.job(QUEUE, "w").status is Status.START, "w watched again", 15)
        # the superseded attempt is stopped after w is recorded: opening the
        # gate before that would let it end on its own first (a race, not a fault)
        stopped = "v: attempt 1 was still running on mq1"
        await until(lambda: messages.saw(stopped), "v's attempt 1 to be stopped", 30)
        gate.touch()
        await until(lambda: {"w", "v"} <= set(ends(marker)), "w and v to end", 30)
        keep.touch()
        return await asyncio.wait_for(runner, 30)

    result = run(scenario(), timeout=140)
    w, v = api.job(QUEUE, "w"), api.job(QUEUE, "v")
    # w's only attempt kept running through the partition, and ended well
    assert w.status is Status.END and w.attempts == 1
    assert [s for s, _ in _history(api, "w")][-3:] == ["crash", "start", "end"]
    # v's first attempt, superseded by its retry, was stopped once mq1 answered
    assert v.status is Status.END and v.attempts == 2 and v.host == "localhost"
    notes = [d for _, d in _history(api, "v") if d and "attempt 1 was still running" in d]
    assert notes, _history(api, "v")
    marks = [m for m in read_marks(marker) if m.job == "v"]
    [first] = [m for m in marks if m.kind == "start" and m.attempt == 1]
    assert first.host == "mq1" and first.pid is not None and not pid_alive(first.pid)
    # it was stopped, so it never ended on its own: only the retry did
    assert [(m.attempt, m.host) for m in marks if m.kind == "end"] == [(2, "localhost")]
    assert result.ok, messages.lines  # type: ignore[attr-defined]


def test_a_run_ends_only_once_a_returned_host_is_settled(
    cli: Cli,
    api: Service,
    cluster: Callable[[int], SshCluster],
    home_experiment: str,
    shared_dir: Path,
) -> None:
    # v's first attempt, on mq1, outlives mq1's partition; its retry ends on
    # localhost while the run is stopping that first attempt (which ignores
    # TERM, so stopping it takes the kill's whole grace): the run, with
    # nothing else to do, must not end before that is done and noted
    [mq1] = cluster(1).hosts
    marker = shared_file(shared_dir / "marker")
    gate = shared_dir / "gate"  # gate-1 never opens; gate-2 lets the retry end
    wait = (
        f"for ((i = 0; i < {GATE_TIMEOUT_S * 20}; i++)); do "
        f"[[ -e {q(gate)}-$MESHQ_ATTEMPT ]] && break; sleep 0.05; done"
    )
    _hosts_and_queue(cli, home_experiment, local_slots=2)
    api.add(QUEUE, "v", "trap '' TERM; " + job_command(marker, work=wait), retries=1)
    messages = Messages()

    async def scenario() -> object:
        runner = _partition_run(api, messages)
        await until(lambda: "v" in starts(marker), "v to start")
        assert starts(marker)["v"].host == "mq1"
        with _frozen(mq1):
            # keepalives find the connection dead, then host_lost_after passes
            await until(lambda: api.job(QUEUE, "v").attempts == 2, "v to be retried", 60)
            await until(lambda: api.job(QUEUE, "v").status is Status.START, "v's retry", 20)
        await until(lambda: messages.saw("host mq1 is back"), "mq1 to answer again", 30)
        Path(f"{gate}-2").touch()
        await until(lambda: api.job(QUEUE, "v").status is Status.END, "v's retry to end", 10)
        return await asyncio.wait_for(runner, 30)

    result = run(scenario(), timeout=140)
    v = api.job(QUEUE, "v")
    assert v.status is Status.END and v.attempts == 2 and v.host == "localhost"
    notes = [d for _, d in _history(api, "v") if d and "attempt 1 was still running" in d]
    assert notes, (_history(api, "v"), messages.lines)
    [first] = [m for m in read_marks(marker) if m.kind == "start" and m.attempt == 1]
    assert first.host == "mq1" and first.pid is not None and not pid_alive(first.pid)
    assert result.ok, messages.lines  # type: ignore[attr-defined]


def _hang_logins(host: SshHost, script: Path) -> None:
    """Make every login on ``host`` hang: its sessions' shell reads
    ``BASH_ENV`` first (set for them in sshd_config), which sleeps."""
    script.write_text("sleep 120\n")
    script.chmod(0o755)
    lines = host.sshd_config.read_text().splitlines()
    [at] = [i for i, line in enumerate(lines) if line.startswith("SetEnv ")]
    lines[at] += f" BASH_ENV={script}"
    host.sshd_config.write_text("\n".join(lines) + "\n")
    host.restart()


def test_a_host_whose_login_hangs_holds_up_no_other(
    cli: Cli,
    api: Service,
    cluster: Callable[[int], SshCluster],
    home_experiment: str,
    shared_dir: Path,
) -> None:
    [mq1] = cluster(1).hosts
    _hang_logins(mq1, shared_dir / "hang.sh")
    marker = shared_file(shared_dir / "marker")
    _hosts_and_queue(cli, home_experiment, local_slots=2)
    api.add(QUEUE, "j[1-4]", job_command(marker, work="true"))
    messages = Messages()

    async def scenario() -> tuple[object, float]:
        t0 = time.monotonic()
        runner = asyncio.create_task(api.run_fifo_multi(QUEUE, reporter=messages))
        await until(lambda: len(ends(marker)) == 4, "the jobs to run on localhost", 20)
        first = time.monotonic() - t0
        return await asyncio.wait_for(runner, 60), first

    result, first = run(scenario(), timeout=120)
    assert first < 10, f"the jobs waited {first:.1f} s for a host that hangs"
    assert {m.host for m in starts(marker).values()} == {"localhost"}
    assert result.ok, messages.lines  # type: ignore[attr-defined]
    host = {h.name: h for h in api.hosts()}["mq1"]
    assert host.status is HostStatus.DOWN
    assert host.last_error and "did not start" in host.last_error
    # the hung login was stopped there, not left to sleep on
    hung = [p for p in mq1.tagged_pids() if comm_of(p) == "sleep"]
    assert not hung, hung
