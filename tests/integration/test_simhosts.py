"""The benchmark's simulated hosts (``bench/simhost.py``) keep the parts
of the host-backend contract that do not need files or processes: events
for each launch, ``check`` in the wrapper's log lines, ``kill``, ``fence``;
and a real run over them ends every job once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.simhost import SimBackend, SimHosts

from meshq.hosts.backend import Ended, Fence, JobEvent, Started
from meshq.hosts.registry import Target
from meshq.model import HostKind, Job, JobSpec, Status
from meshq.names import expand
from meshq.scheduler.engine import Runner
from meshq.scheduler.policies import smart
from meshq.scheduler.reconcile import verdict
from meshq.scheduler.run import RunHost, RunResult
from meshq.store.store import Store


def make_job(job_id: int) -> Job:
    """A job in ``run``, first attempt, as a claim leaves it."""
    return Job(
        id=job_id,
        queue="q",
        name=f"j{job_id}",
        index=str(job_id),
        command="true",
        shell="bash",
        directory=None,
        input=None,
        output="o",
        log="l",
        gpu=None,
        pyenv=None,
        user=None,
        host="s1",
        timeout=None,
        status=Status.RUN,
        exit_code=None,
        pid=None,
        pstart=None,
        attempts=1,
        submitted=0.0,
        started=None,
        ended=None,
        error=None,
    )


def _backend(hosts: SimHosts, events: list[JobEvent]) -> SimBackend:
    backend = hosts.maker(Target("s1", HostKind.SSH), lambda _, e: events.append(e), None)
    assert isinstance(backend, SimBackend)
    return backend


def test_a_launch_starts_and_ends_and_check_reads_as_a_real_log() -> None:
    async def go() -> None:
        events: list[JobEvent] = []
        backend = _backend(SimHosts(latency=0.001, duration=0.05), events)
        await backend.start()
        job = make_job(1)
        backend.launch(job)
        while not events:
            await asyncio.sleep(0.005)
        started = events[0]
        assert isinstance(started, Started) and started.attempt == 1
        live = (await backend.check([job]))[job.id]
        assert live.alive
        assert verdict(job, live) is not None  # run -> start, from the log lines
        while len(events) < 2:
            await asyncio.sleep(0.01)
        ended = events[1]
        assert isinstance(ended, Ended) and ended.status is Status.END and ended.code == 0
        running = job.evolve(status=Status.START, pid=started.pid, pstart="sim")
        change = verdict(running, (await backend.check([job]))[job.id])
        assert change is not None and change.new is Status.END

    asyncio.run(go())


def test_kill_and_fence() -> None:
    async def go() -> None:
        events: list[JobEvent] = []
        backend = _backend(SimHosts(latency=0.001, duration=60), events)
        await backend.start()
        a = make_job(1)
        backend.launch(a)
        while not events:
            await asyncio.sleep(0.005)
        assert await backend.kill([a]) == {a.id: "killed"}
        assert isinstance(events[-1], Ended) and events[-1].status is Status.KILL
        b = make_job(2)
        assert await backend.fence([b]) == {b.id: Fence.FENCED}
        backend.launch(b)  # the fenced attempt's launch arrives late: it never starts
        await asyncio.sleep(0.05)
        assert all(e.job_id != b.id for e in events)

    asyncio.run(go())


def test_a_run_over_simulated_hosts_ends_every_job_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "meshq.db")
    queue = store.create_queue("q", str(tmp_path / "exp"))
    store.add_jobs(queue, expand("j[1-500]"), JobSpec("true"), Status.UNDEFINED)
    sim = SimHosts(latency=0.001, duration=0.02, fail_every=0)
    hosts = [RunHost(f"s{i}", Target(f"s{i}", HostKind.SSH), 4, maker=sim.maker) for i in range(20)]
    result = asyncio.run(Runner(store, queue, hosts, mode="fifo_multi", policy=smart).run())
    assert result.ok and result.finished[Status.END] == 500
    jobs: list[Job] = store.jobs(queue)
    assert {j.status for j in jobs} == {Status.END} and {j.attempts for j in jobs} == {1}
    assert len({j.host for j in jobs}) == 20
    store.close()


def test_two_runs_started_together_with_hosts_of_their_own_share_the_queue(
    tmp_path: Path,
) -> None:
    """Each run in a thread of its own, with its own store connection and
    hosts: they peek the same first jobs, one claim wins them, and the
    other peeks again instead of ending with the queue still waiting."""
    import threading

    path = tmp_path / "meshq.db"
    setup = Store(path)
    queue = setup.create_queue("q", str(tmp_path / "exp"))
    setup.add_jobs(queue, expand("j[1-4000]"), JobSpec("true"), Status.UNDEFINED)
    start = threading.Barrier(2)
    results: dict[str, object] = {}

    def run(prefix: str) -> None:
        store = Store(path)
        sim = SimHosts(latency=0.001, duration=0.2, fail_every=0)
        hosts = [
            RunHost(f"{prefix}{i}", Target(f"{prefix}{i}", HostKind.SSH), 50, maker=sim.maker)
            for i in range(10)
        ]
        runner = Runner(store, store.queue("q"), hosts, mode="fifo_multi", policy=smart)
        start.wait()
        try:
            results[prefix] = asyncio.run(runner.run())
        finally:
            store.close()

    threads = [threading.Thread(target=run, args=(p,)) for p in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    a, b = results["a"], results["b"]
    assert isinstance(a, RunResult) and isinstance(b, RunResult)
    # both ran jobs, and together every job exactly once
    ran = {p: r.finished.get(Status.END, 0) for p, r in (("a", a), ("b", b))}
    assert ran["a"] > 0 and ran["b"] > 0 and sum(ran.values()) == 4000, ran
    jobs = setup.jobs(queue)
    assert {j.status for j in jobs} == {Status.END} and {j.attempts for j in jobs} == {1}
    ((launches,),) = setup.conn.execute("SELECT count(*) FROM events WHERE new = 'run'")
    assert launches == 4000
    setup.close()
