"""meshq over real SSH hosts: real ``sshd`` servers on 127.0.0.x (see
``tests/support/sshd.py``), reached through meshq's asyncssh transport. Nothing is
mocked.

A test host is another machine as far as meshq can tell: it logs in as another user
(``meshq-host``) with another home, and each queue's experiment lives under the local
home (``home_experiment``), as a user's would, so meshq must place it under the host's
home. Every host is still this machine, so the test can look: a job's files where its
host really wrote them (``SshHost.real_path``), a trace file in ``shared_dir`` (the
stand-in for a shared file system) and the job processes in ``/proc``. Each test sshd
sets ``MESHQ_TEST_HOST`` in its sessions, so a job can say which host ran it.

Waiting is always a bounded poll; where a test needs jobs to overlap, they wait on a
gate file the test creates once it has seen what it needs, never on a sleep.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from meshq import paths
from meshq.errors import UsageError
from meshq.model import HostStatus, Job, Status
from meshq.service import Service
from tests.support import scenarios
from tests.support.fixtures import ClusterFactory
from tests.support.reporting import Messages
from tests.support.scenarios import until
from tests.support.sshd import SshCluster, pid_alive

pytestmark = [
    pytest.mark.ssh,
    pytest.mark.usefixtures("no_unhandled_async_errors"),
    pytest.mark.timeout(90),
]

T = TypeVar("T")

#: the upper bound on any single scenario (a run, a kill, a probe, …)
SCENARIO_TIMEOUT = 60.0
#: how long a job waits for its gate before giving up (and failing with 99)
GATE_TIMEOUT_S = 30


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def run(coro: Coroutine[Any, Any, T], timeout: float = SCENARIO_TIMEOUT) -> T:
    """One scenario, bounded (see tests/support/scenarios.py)."""
    return scenarios.run(coro, timeout)


async def finish(task: Awaitable[T], what: str, timeout: float = 45.0) -> T:
    """Await a background run, bounded."""
    try:
        return await asyncio.wait_for(task, timeout)
    except TimeoutError:
        raise AssertionError(f"{what} did not finish within {timeout:g} s") from None


def q(path: Path) -> str:
    return shlex.quote(str(path))


def gate_wait(gate: Path) -> str:
    """Shell text that waits (bounded) until ``gate`` exists; exit 99 if it never does."""
    return (
        f"for ((i = 0; i < {GATE_TIMEOUT_S * 20}; i++)); do [[ -e {q(gate)} ]] && break; "
        f"sleep 0.05; done; [[ -e {q(gate)} ]] || {{ echo gate never opened >&2; exit 99; }}"
    )


def traced(
    trace: Path, *, gate: Path | None = None, stdout: str = "$MESHQ_TEST_HOST", hold: float = 0.2
) -> str:
    """A job command that appends ``start JOB HOST TIME GPUS`` and ``end JOB HOST TIME``
    lines to ``trace`` around its work, prints ``stdout``, waits for ``gate`` (if any) and
    holds its slot ``hold`` seconds more."""
    stamp = '"$MESHQ_JOB" "$MESHQ_TEST_HOST" "$EPOCHREALTIME"'
    parts = [
        f'printf "start %s %s %s %s\\n" {stamp} "${{CUDA_VISIBLE_DEVICES:--}}" >> {q(trace)}',
        f'echo "{stdout}"',
    ]
    if gate is not None:
        parts.append(gate_wait(gate))
    if hold:
        parts.append(f"sleep {hold}")
    parts.append(f'printf "end %s %s %s\\n" {stamp} >> {q(trace)}')
    return "; ".join(parts)


@dataclass(frozen=True)
class Span:
    """One job's run as its trace lines tell it."""

    job: str
    host: str
    start: float
    end: float
    gpus: frozenset[str]


def read_trace(trace: Path) -> dict[str, Span]:
    starts: dict[str, tuple[str, float, frozenset[str]]] = {}
    ends: dict[str, float] = {}
    for line in trace.read_text().splitlines():
        kind, job, host, stamp, *rest = line.split()
        assert job not in (starts if kind == "start" else ends), f"{job} traced twice: {line}"
        if kind == "start":
            ids = rest[0] if rest and rest[0] != "-" else ""
            starts[job] = (host, float(stamp), frozenset(g for g in ids.split(",") if g))
        else:
            ends[job] = float(stamp)
    assert set(starts) == set(ends), f"unfinished jobs in the trace: {set(starts) ^ set(ends)}"
    return {j: Span(j, h, s, ends[j], g) for j, (h, s, g) in starts.items()}


def peak_per_host(spans: dict[str, Span]) -> Counter[str]:
    """The most jobs each host ran at one moment. At equal times an end counts before a
    start (a job's end line is written before its slot can be handed on)."""
    peak: Counter[str] = Counter()
    for host in {s.host for s in spans.values()}:
        points = sorted(
            [(s.start, 1) for s in spans.values() if s.host == host]
            + [(s.end, -1) for s in spans.values() if s.host == host]
        )
        running = 0
        for _, delta in points:
            running += delta
            peak[host] = max(peak[host], running)
    return peak


def started_lines(trace: Path) -> list[list[str]]:
    if not trace.exists():
        return []
    return [line.split() for line in trace.read_text().splitlines() if line.startswith("start")]


def stdout_of(cluster: SshCluster, job: Job) -> str:
    """What ``job`` printed, read where its host wrote it (in that host's user's home)."""
    assert job.host is not None, job
    return cluster.host(job.host).local_path(paths.job_paths(job, local=False).stdout).read_text()


def hosts_in_order(mq: Service, queue: str) -> list[str | None]:
    return [j.host for j in mq.jobs(queue)]


def assert_ran_where_recorded(cluster: SshCluster, mq: Service, queue: str) -> None:
    """Each job printed $MESHQ_TEST_HOST first: the host the store recorded ran it."""
    for job in mq.jobs(queue):
        assert job.host is not None, job
        out = stdout_of(cluster, job)
        assert out.splitlines()[0] == job.host, (job.name, job.host, out)


def meshq_cli(
    db: Path, cluster: SshCluster, *args: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """``python -m meshq --db DB ARGS`` as a subprocess, reaching the test hosts."""
    return subprocess.run(
        [sys.executable, "-m", "meshq", "--db", str(db), *args],
        capture_output=True,
        text=True,
        env=cluster.env(),
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.args, done.returncode, done.stdout, done.stderr)
    return done.stdout


@pytest.fixture
def mq(tmp_path: Path) -> Iterator[Service]:
    handle = Service(tmp_path / "db", warn=lambda text: None)
    yield handle
    handle.close()


@pytest.fixture
def cluster3(ssh_cluster3: SshCluster, monkeypatch: pytest.MonkeyPatch) -> SshCluster:
    """The module's shared three hosts, with meshq's transport pointed at them."""
    monkeypatch.setenv("MESHQ_SSH_CONFIG", str(ssh_cluster3.ssh_config))
    return ssh_cluster3


@pytest.fixture
def own_cluster(
    make_ssh_cluster: ClusterFactory, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., SshCluster]:
    """A fresh cluster for a test that kills or breaks hosts."""

    def make(n: int, **kw: Any) -> SshCluster:
        cluster = make_ssh_cluster(n, **kw)
        monkeypatch.setenv("MESHQ_SSH_CONFIG", str(cluster.ssh_config))
        return cluster

    return make


# --------------------------------------------------------------------------------------
# 1. fifo_multi over hosts with different slot counts
# --------------------------------------------------------------------------------------


def test_fifo_multi_fills_every_host_to_its_slots_and_no_further(
    cluster3: SshCluster, mq: Service, home_experiment: str, shared_dir: Path
) -> None:
    slots = {"mq1": 1, "mq2": 2, "mq3": 3}
    for name, n in slots.items():
        mq.add_hosts(name, max_jobs=n)
    mq.create_queue("q", home_experiment)
    trace, gate = shared_dir / "trace", shared_dir / "gate"
    mq.add("q", "job[1-12]", traced(trace, gate=gate))

    async def scenario() -> Any:
        runner = asyncio.create_task(mq.run_fifo_multi("q"))
        # the first wave fills every slot of every host, and no more: then the gate opens
        await until(lambda: len(started_lines(trace)) >= 6, "6 jobs to start")
        first_wave = Counter(line[2] for line in started_lines(trace))
        assert first_wave == slots
        assert Counter(j.host for j in mq.jobs("q", status=["run", "start"])) == slots
        gate.touch()
        return await finish(runner, "the run")

    result = run(scenario())

    assert result.ok and result.finished == {Status.END: 12}
    assert mq.counts("q") == {Status.END: 12}
    assert_ran_where_recorded(cluster3, mq, "q")
    spans = read_trace(trace)
    assert len(spans) == 12
    for job in mq.jobs("q"):
        assert spans[job.name].host == job.host
    assert peak_per_host(spans) == slots
    assert mq.jobs("q")[0].placed


def test_one_host_runs_more_jobs_at_once_than_sshd_has_sessions(
    cluster3: SshCluster, mq: Service, home_experiment: str, shared_dir: Path
) -> None:
    # sshd's default MaxSessions is 10 channels per connection: meshq's one
    # agent channel per host must not make that a limit on jobs
    mq.add_hosts("mq1", max_jobs=14)
    mq.create_queue("q", home_experiment)
    trace, gate = shared_dir / "trace", shared_dir / "gate"
    mq.add("q", "job[1-14]", traced(trace, gate=gate))

    async def scenario() -> Any:
        runner = asyncio.create_task(mq.run_fifo_multi("q"))
        await until(lambda: len(started_lines(trace)) >= 14, "14 jobs running at once")
        gate.touch()
        return await finish(runner, "the run")

    result = run(scenario())
    assert result.ok and result.finished == {Status.END: 14}
    assert peak_per_host(read_trace(trace)) == {"mq1": 14}


# --------------------------------------------------------------------------------------
# 2. the placement policies
# --------------------------------------------------------------------------------------


def test_each_policy_places_jobs_its_own_way(
    cluster3: SshCluster, mq: Service, home_experiment: str
) -> None:
    # Inventory order mq2 (2 slots), mq3 (3), mq1 (1): every policy then differs.
    for name, n in (("mq2", 2), ("mq3", 3), ("mq1", 1)):
        mq.add_hosts(name, max_jobs=n)
    # Six jobs for six slots: the run places all of them at once, in queue order, so
    # the placements are the policy's choices against the loads it saw.
    expected = {
        "sequential": ["mq2", "mq2", "mq3", "mq3", "mq3", "mq1"],
        "smart": ["mq3", "mq2", "mq3", "mq2", "mq3", "mq1"],
        "frugal": ["mq1", "mq2", "mq2", "mq3", "mq3", "mq3"],
    }

    async def place(queue: str, **kw: Any) -> list[str | None]:
        mq.create_queue(queue, home_experiment)
        mq.add(queue, "job[1-6]", 'echo "$MESHQ_TEST_HOST"')
        result = await mq.run_fifo_multi(queue, **kw)
        assert result.ok and result.finished == {Status.END: 6}, (queue, result)
        assert_ran_where_recorded(cluster3, mq, queue)
        return hosts_in_order(mq, queue)

    async def scenario() -> dict[str, list[str | None]]:
        seen = {policy: await place(policy, policy=policy) for policy in expected}
        for seed in (1, 2, 3):
            seen[f"random{seed}"] = await place(f"random{seed}", policy="random", seed=seed)
        seen["random1again"] = await place("random1again", policy="random", seed=1)
        return seen

    seen = run(scenario())

    for policy, hosts in expected.items():
        assert seen[policy] == hosts, policy
    # with one job: sequential takes the first host, smart the emptiest, frugal the fullest
    assert (seen["sequential"][0], seen["smart"][0], seen["frugal"][0]) == ("mq2", "mq3", "mq1")
    randoms = [seen[f"random{seed}"] for seed in (1, 2, 3)]
    for hosts in randoms:
        # only hosts with a free slot: six jobs on six slots fill each host exactly
        assert Counter(hosts) == {"mq1": 1, "mq2": 2, "mq3": 3}, hosts
    assert len({tuple(h) for h in randoms}) > 1, "random placed the same way for every seed"
    assert seen["random1again"] == seen["random1"], "the same seed must place the same way"


def test_hosts_list_form_repeats_for_slots_and_uses_the_user(
    cluster3: SshCluster, mq: Service, home_experiment: str
) -> None:
    user = cluster3.host("mq1").user
    mq.create_queue("q", home_experiment)
    mq.add("q", "job[1-4]", 'echo "$MESHQ_TEST_HOST"')
    messages = Messages()

    # No inventory: the list is the whole truth. mq1 twice = two slots; mq3's user
    # does not exist there, so mq3 cannot be logged into.
    result = run(
        mq.run_fifo_multi("q", hosts=f"{user}@mq1,mq1,mq2,nosuchuser@mq3", reporter=messages)
    )

    assert result.ok and result.finished == {Status.END: 4}
    placed = hosts_in_order(mq, "q")
    # the first three are placed at once: both slots of mq1, then mq2's one
    assert placed[:3] == ["mq1", "mq1", "mq2"]
    assert placed[3] in ("mq1", "mq2")
    assert_ran_where_recorded(cluster3, mq, "q")
    down = [m for m in messages.lines if m.startswith("host mq3 is down")]
    assert down and "permission denied" in down[0], messages.lines
    assert mq.hosts() == []  # a run from a list records nothing in the inventory


# --------------------------------------------------------------------------------------
# 3. GPUs
# --------------------------------------------------------------------------------------


def test_gpu_jobs_get_distinct_free_ids_of_their_host(
    cluster3: SshCluster, mq: Service, tmp_path: Path, home_experiment: str, shared_dir: Path
) -> None:
    mq.add_hosts("mq1", max_jobs=4, gpus="0,1")
    mq.add_hosts("mq2", max_jobs=4, gpus="0,1,2,3")
    mq.add_hosts("mq3", max_jobs=3)  # no GPUs: never a GPU job's host
    declared = {"mq1": {"0", "1"}, "mq2": {"0", "1", "2", "3"}}
    mq.create_queue("q", home_experiment)
    trace, gate = shared_dir / "trace", shared_dir / "gate"
    cmd = traced(trace, gate=gate, stdout="$CUDA_VISIBLE_DEVICES")
    mq.add("q", "two[1-4]", cmd, gpus=2)
    mq.add("q", "huge", cmd, gpus=5)
    mq.add("q", "one[1-6]", cmd, gpus=1)
    wanted = {j.name: j.gpus for j in mq.jobs("q")}

    async def scenario() -> tuple[Any, list[dict[str, Any]]]:
        runner = asyncio.create_task(mq.run_fifo_multi("q"))
        # first wave (sequential): two1 takes mq1's 0,1; two2 and two3 take mq2's four
        # GPUs; then every GPU is held and nothing else fits until the gate opens
        await until(lambda: len(started_lines(trace)) >= 3, "3 GPU jobs to start")
        await until(lambda: mq.job("q", "huge").status is Status.FAIL_START, "huge to fail")
        listed = await asyncio.to_thread(
            meshq_cli, tmp_path / "db", cluster3, "hosts", "list", "-o", "json"
        )
        assert {line[1] for line in started_lines(trace)} == {"two1", "two2", "two3"}
        gate.touch()
        return await finish(runner, "the run"), json.loads(ok(listed))

    result, listed = run(scenario())

    by_name = {row["name"]: row for row in listed}
    assert by_name["mq1"]["gpu_used"] == ["0", "1"] and by_name["mq1"]["gpu_free"] == []
    assert by_name["mq2"]["gpu_used"] == ["0", "1", "2", "3"] and by_name["mq2"]["gpu_free"] == []
    assert (by_name["mq1"]["slots_used"], by_name["mq2"]["slots_used"]) == (1, 2)
    assert by_name["mq3"]["gpu_used"] == [] and by_name["mq3"]["slots_used"] == 0

    assert result.finished == {Status.END: 10, Status.FAIL_START: 1}
    huge = mq.job("q", "huge")
    assert huge.status is Status.FAIL_START
    assert huge.error is not None and "5 GPU" in huge.error and "more than 4" in huge.error

    spans = read_trace(trace)
    jobs = [j for j in mq.jobs("q") if j.name != "huge"]
    assert len(spans) == len(jobs) == 10
    for job in jobs:
        assert job.status is Status.END, job
        assert job.host in declared, job  # mq3 has no GPUs
        assert job.gpu is not None
        ids = job.gpu.split(",")
        assert len(ids) == len(set(ids)) == wanted[job.name]
        assert set(ids) <= declared[job.host]
        # what the job saw is what the store recorded
        assert stdout_of(cluster3, job).splitlines()[0] == job.gpu
        assert spans[job.name].gpus == set(ids) and spans[job.name].host == job.host
    # at no moment do two jobs on one host hold the same GPU
    for a in spans.values():
        for b in spans.values():
            if a.job < b.job and a.host == b.host and a.start < b.end and b.start < a.end:
                assert not a.gpus & b.gpus, (a, b)


# --------------------------------------------------------------------------------------
# 4. kill and reset on a remote host
# --------------------------------------------------------------------------------------


def test_kill_then_reset_a_remote_job(
    cluster3: SshCluster, mq: Service, home_experiment: str
) -> None:
    mq.add_hosts("mq1", max_jobs=2)
    mq.create_queue("placed", home_experiment)
    mq.create_queue("pinned", home_experiment)
    # the command's shell, a background child and the foreground sleep share its group
    cmd = 'cd "$MESHQ_JOB_DIR"; sleep 30 & echo $! > child.pid; echo $$ > shell.pid; sleep 30'
    mq.add("placed", "victim", cmd)  # no host: fifo_multi places it
    mq.add("pinned", "victim", cmd, host="mq1")  # pinned: fifo runs it there
    mq1 = cluster3.host("mq1")

    def pids(job: Job) -> list[int]:
        folder = mq1.local_path(paths.job_paths(job, local=False).folder)  # in mq1's user's home
        assert job.pid is not None
        return [job.pid, *(int((folder / f).read_text()) for f in ("shell.pid", "child.pid"))]

    def running(queue: str) -> bool:
        job = mq.job(queue, "victim")
        folder = mq1.local_path(paths.job_paths(job, local=False).folder)  # in mq1's user's home
        return job.status is Status.START and all(
            (folder / f).exists() and (folder / f).read_text().strip()
            for f in ("shell.pid", "child.pid")
        )

    async def scenario() -> None:
        runs = [
            asyncio.create_task(mq.run_fifo_multi("placed")),
            asyncio.create_task(mq.run_fifo("pinned", max_parallel=1)),
        ]
        for queue in ("placed", "pinned"):
            await until(lambda queue=queue: running(queue), f"{queue}/victim to run")
        jobs = {queue: mq.job(queue, "victim") for queue in ("placed", "pinned")}
        processes = {queue: pids(job) for queue, job in jobs.items()}
        for queue, job in jobs.items():
            assert job.host == "mq1"
            assert all(pid_alive(p) for p in processes[queue])
            # they run under mq1's sshd, not as children of this test
            assert set(processes[queue]) <= set(mq1.tagged_pids())

        other = Service(mq.store.path)  # a second terminal
        try:
            for queue in ("placed", "pinned"):
                moved = await other.kill(queue, "victim")
                assert [(m.name, m.old, m.new) for m in moved] == [
                    ("victim", Status.START, Status.KILL)
                ]
        finally:
            other.close()
        for queue in ("placed", "pinned"):
            assert mq.job(queue, "victim").status is Status.KILL
            await until(
                lambda queue=queue: not any(pid_alive(p) for p in processes[queue]),
                f"{queue}/victim's processes to die",
                timeout=15,
            )
        for task in runs:
            result = await finish(task, "the run")
            assert result.finished == {Status.KILL: 1}, result

        for queue in ("placed", "pinned"):
            folder = mq1.local_path(paths.job_paths(mq.job(queue, "victim"), local=False).folder)
            assert folder.is_dir()
            moved = await mq.reset(queue, "victim", purge=True)
            assert [m.new for m in moved] == [
                Status.UNDEFINED if queue == "placed" else Status.READY
            ]
            assert not folder.exists(), f"reset left {folder} on mq1"

    run(scenario())

    placed = mq.job("placed", "victim")
    assert (placed.status, placed.host, placed.placed) == (Status.UNDEFINED, None, False)
    pinned = mq.job("pinned", "victim")
    assert (pinned.status, pinned.host) == (Status.READY, "mq1")
    assert [e.new for e in mq.history("placed", "victim")] == [
        Status.UNDEFINED,
        Status.RUN,
        Status.START,
        Status.KILL,
        Status.UNDEFINED,
    ]


# --------------------------------------------------------------------------------------
# 5. logs
# --------------------------------------------------------------------------------------


def test_logs_of_remote_jobs_and_follow(
    cluster3: SshCluster, mq: Service, tmp_path: Path, home_experiment: str, shared_dir: Path
) -> None:
    mq.add_hosts("mq3", max_jobs=3)
    mq.create_queue("q", home_experiment)
    gate = shared_dir / "gate"
    mq.add("q", "talk", 'echo "out from $MESHQ_TEST_HOST"; echo "err from $MESHQ_TEST_HOST" >&2')
    slow = f'echo "line1 $MESHQ_JOB"; {gate_wait(gate)}; echo "line2 $MESHQ_JOB"'
    mq.add("q", "slow[1-2]", slow)

    async def read_all(name: str, **kw: Any) -> bytes:
        return b"".join([chunk async for chunk in mq.logs("q", name, **kw)])

    async def scenario() -> None:
        with pytest.raises(UsageError, match="has not run yet"):
            await read_all("talk")
        runner = asyncio.create_task(mq.run_fifo_multi("q"))

        # the API's follow, and the CLI's --follow, of running jobs
        api_seen: list[bytes] = []

        async def api_follow() -> None:
            async for chunk in mq.logs("q", "slow1", follow=True):
                api_seen.append(chunk)

        follower = asyncio.create_task(api_follow())
        cli = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "meshq",
            "--db",
            str(tmp_path / "db"),
            "queue",
            "logs",
            "q",
            "slow2",
            "--follow",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=cluster3.env(),
        )
        assert cli.stdout is not None and cli.stderr is not None
        try:
            first = await asyncio.wait_for(cli.stdout.readline(), 30)
            assert first == b"line1 slow2\n"
            await until(lambda: b"".join(api_seen) == b"line1 slow1\n", "slow1's first line")
            assert mq.job("q", "slow1").status is Status.START
            gate.touch()
            await finish(follower, "the API's follow")
            rest, errors = await asyncio.wait_for(cli.communicate(), 30)
            assert (await cli.wait(), rest) == (0, b"line2 slow2\n"), errors
        finally:
            if cli.returncode is None:
                cli.kill()
                await cli.wait()
        assert b"".join(api_seen) == b"line1 slow1\nline2 slow1\n"
        result = await finish(runner, "the run")
        assert result.ok

        assert await read_all("talk") == b"out from mq3\n"
        assert await read_all("talk", stderr=True) == b"err from mq3\n"
        assert await read_all("slow1") == b"line1 slow1\nline2 slow1\n"
        assert await read_all("slow1", stderr=True) == b""
        # following a job that has ended prints what it wrote and returns
        assert await read_all("talk", follow=True) == b"out from mq3\n"

    run(scenario())
    assert {j.host for j in mq.jobs("q")} == {"mq3"}


# --------------------------------------------------------------------------------------
# 6. a host that is down from the start
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
# 7. a host lost mid-run
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
# 8. a host key that does not match
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


# --------------------------------------------------------------------------------------
# 9. the CLI, end to end
# --------------------------------------------------------------------------------------


def test_cli_end_to_end(cluster3: SshCluster, tmp_path: Path, home_experiment: str) -> None:
    db = tmp_path / "db"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return meshq_cli(db, cluster3, *args)

    def listed() -> dict[str, dict[str, Any]]:
        return {r["name"]: r for r in json.loads(ok(cli("hosts", "list", "-o", "json")))}

    def jobs(queue: str) -> dict[str, dict[str, Any]]:
        return {r["name"]: r for r in json.loads(ok(cli("queue", "list", queue, "-o", "json")))}

    assert "added host mq1 (1 slot(s))" in ok(cli("hosts", "add", "mq1"))
    added = ok(cli("hosts", "add", "mq[2-3]", "--max_jobs_allowed=2", "--gpus=0,1"))
    assert "added host mq2 (2 slot(s), GPUs 0,1)" in added and "mq3" in added
    hosts = listed()
    assert list(hosts) == ["mq1", "mq2", "mq3"]
    assert [(h["max_jobs_allowed"], h["gpu"], h["status"]) for h in hosts.values()] == [
        (1, [], "active"),
        (2, ["0", "1"], "active"),
        (2, ["0", "1"], "active"),
    ]
    assert all(h["last_probe"] is None for h in hosts.values())

    assert ok(cli("hosts", "probe")).splitlines() == ["mq1: ok", "mq2: ok", "mq3: ok"]
    assert all(h["last_probe"] is not None for h in listed().values())

    exp = home_experiment
    ok(cli("queue", "create", "Q", "--experiment", exp))
    ok(cli("queue", "add", "Q", "--name=job[1-5]", "--command=echo $MESHQ_TEST_HOST"))
    ok(cli("queue", "run", "fifo_multi", "Q", "--policy=smart"))
    ran = jobs("Q")
    assert all(r["status"] == "end" for r in ran.values()), ran
    # smart, slots 1/2/2 in inventory order: the most free first, ties to the first host
    assert [ran[f"job{i}"]["host"] for i in range(1, 6)] == ["mq2", "mq3", "mq1", "mq2", "mq3"]
    for name, row in ran.items():
        assert ok(cli("queue", "logs", "Q", name)) == f"{row['host']}\n"

    assert "host mq1 disabled" in ok(cli("hosts", "disable", "mq1"))
    assert listed()["mq1"]["status"] == "disabled"
    ok(cli("queue", "create", "Q2", "--experiment", exp))
    ok(cli("queue", "add", "Q2", "--name=job[1-6]", "--command=echo $MESHQ_TEST_HOST"))
    ok(cli("queue", "run", "fifo_multi", "Q2"))
    ran = jobs("Q2")
    assert all(r["status"] == "end" for r in ran.values()), ran
    assert {r["host"] for r in ran.values()} == {"mq2", "mq3"}

    assert "host mq1 enabled" in ok(cli("hosts", "enable", "mq1"))
    assert listed()["mq1"]["status"] == "active"
    assert "host mq3 deleted" in ok(cli("hosts", "delete", "mq3"))
    assert list(listed()) == ["mq1", "mq2"]
    missing = cli("hosts", "delete", "mq3")
    assert missing.returncode != 0 and "no host 'mq3'" in missing.stderr
