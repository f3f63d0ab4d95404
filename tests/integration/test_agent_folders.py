"""Who makes a job's folder on a host: the agent's one perl for all of them
where perl is, each job's wrapper where it is not or once perl is gone.

A ``mkdir`` first on PATH that notes each call tells the two apart: the
agent's maker never runs it, a wrapper does."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from meshq.hosts.agent import AgentBackend
from meshq.hosts.backend import Ended, FailedToStart
from meshq.model import Job, JobSpec, Status
from meshq.names import expand
from meshq.store import Store
from tests.integration.agent_helpers import Events, alive, claimed, folder, started_agent

pytestmark = pytest.mark.timeout(60)

#: what a job and its wrapper run besides bash (and mkdir, which is noted)
PROGRAMS = ("bash", "sleep", "cat", "mv", "rm", "uname", "ps", "true")


def noted_mkdir(bin_dir: Path, calls: Path) -> None:
    """Put in ``bin_dir`` a ``mkdir`` that notes its arguments in ``calls``."""
    bin_dir.mkdir(exist_ok=True)
    real = shutil.which("mkdir")
    script = bin_dir / "mkdir"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{calls}"\nexec {real} "$@"\n')
    script.chmod(0o755)


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where a noting ``mkdir``, first on this test's PATH, notes its calls."""
    found = tmp_path / "mkdir-calls"
    noted_mkdir(tmp_path / "bin", found)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    return found


def noted(calls: Path) -> list[str]:
    return calls.read_text().splitlines() if calls.exists() else []


def children(pid: int) -> dict[int, str]:
    """The live processes whose parent is ``pid``, with their program
    names (an earlier test's agent not yet reaped is a zombie: left out)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name, rest = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        state, parent = rest.split()[:2]
        if int(parent) == pid and state != "Z":
            found[int(entry.name)] = name.split("(", 1)[1]
    return found


def agent_and_maker() -> tuple[int, int | None]:
    """This test's agent (the one bash this process started) and its perl."""
    [agent] = [p for p, name in children(os.getpid()).items() if name == "bash"]
    makers = [p for p, name in children(agent).items() if name == "perl"]
    return agent, makers[0] if makers else None


def gone_soon(pid: int, timeout: float = 10) -> bool:
    """Has ``pid`` ended (or become a zombie) within ``timeout`` seconds?"""
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


async def ended_all(events: Events, count: int) -> list[Ended]:
    """Wait for ``count`` ends, every one a success."""
    ended = await events.until(Ended, count)
    assert all(e.status == "end" for e in ended), ended
    return ended


async def ran_with_maker(events: Events, *jobs: Job) -> tuple[AgentBackend, int, int]:
    """A local agent that has run ``jobs``: it, its pid, and its perl's."""
    agent = await started_agent(events, *jobs)
    await ended_all(events, len(jobs))
    pid, maker = agent_and_maker()
    assert maker is not None
    return agent, pid, maker


def test_the_agents_perl_makes_every_job_folder_and_ends_with_the_agent(  # type: ignore[no-untyped-def]
    store: Store, make_queue, calls: Path
) -> None:
    jobs = claimed(store, make_queue, pattern="job[1-5]", command="pwd")

    async def go() -> int:
        agent, _, maker = await ran_with_maker(Events(), *jobs)
        await agent.close()
        return maker

    maker = asyncio.run(go())
    for job in jobs:
        assert Path(folder(job), job.output).read_text() == f"{folder(job)}\n"
    assert noted(calls) == []  # no wrapper needed a mkdir of its own
    assert gone_soon(maker)


def test_the_maker_ends_when_the_agent_is_killed(store: Store, make_queue) -> None:  # type: ignore[no-untyped-def]
    # only the agent holds the maker's pipe: killed, it leaves no perl behind
    [job] = claimed(store, make_queue)

    async def go() -> int:
        agent, pid, maker = await ran_with_maker(Events(), job)
        os.kill(pid, signal.SIGKILL)
        await agent.close()
        return maker

    assert gone_soon(asyncio.run(go()))


def test_the_maker_killed_leaves_each_wrapper_to_make_its_folder(  # type: ignore[no-untyped-def]
    store: Store, make_queue, calls: Path
) -> None:
    [first] = claimed(store, make_queue, name="q1", pattern="first")
    after = claimed(store, make_queue, name="q2", pattern="after[1-3]")

    async def go() -> None:
        events = Events()
        agent, _, maker = await ran_with_maker(events, first)
        os.kill(maker, signal.SIGKILL)
        for job in after:
            agent.launch(job)
        await ended_all(events, 1 + len(after))
        await agent.close()

    asyncio.run(go())
    assert sorted(noted(calls)) == sorted(f"-p -- {folder(job)}" for job in after)


def test_without_perl_each_wrapper_makes_its_folder(  # type: ignore[no-untyped-def]
    store: Store, make_queue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a host with bash and the basic programs, and no perl
    bin_dir = tmp_path / "bin"
    calls = tmp_path / "mkdir-calls"
    noted_mkdir(bin_dir, calls)
    for program in PROGRAMS:
        found = shutil.which(program)
        assert found, program
        (bin_dir / program).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))
    jobs = claimed(store, make_queue, pattern="job[1-3]", command="sleep 0")

    async def go() -> None:
        events = Events()
        agent = await started_agent(events, *jobs)
        await ended_all(events, len(jobs))
        assert agent_and_maker()[1] is None
        await agent.close()

    asyncio.run(go())
    assert sorted(noted(calls)) == sorted(f"-p -- {folder(job)}" for job in jobs)


def test_a_folder_no_one_can_make_fails_its_job_and_the_next_runs(  # type: ignore[no-untyped-def]
    store: Store, make_queue, tmp_path: Path
) -> None:
    # the experiment folder's place is taken by a file: neither the maker
    # nor the wrapper can make a job folder under it
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    bad = store.create_queue("bad", str(blocker / "exp"))
    store.add_jobs(bad, expand("job1"), JobSpec(command="true", host="localhost"), Status.READY)
    [doomed] = store.claim([(j, "localhost", None) for j in store.jobs(bad)])
    [fine] = claimed(store, make_queue, pattern="fine")

    async def go() -> tuple[FailedToStart, Ended]:
        events = Events()
        agent = await started_agent(events, doomed, fine)
        [fail] = await events.until(FailedToStart)
        [end] = await events.until(Ended)
        await agent.close()
        return fail, end

    fail, end = asyncio.run(go())
    assert fail.job_id == doomed.id
    assert f"cannot create or enter the job directory {folder(doomed)}" in fail.message
    assert (end.job_id, end.status) == (fine.id, "end")


def test_no_job_holds_the_makers_pipes(store: Store, make_queue) -> None:  # type: ignore[no-untyped-def]
    # a wrapper lives as long as its job: one that held the maker's pipes
    # would keep perl alive past its agent. bash closes a coprocess's pipes
    # in every process it forks; the command's parent is its wrapper
    [job] = claimed(store, make_queue, command="ls -l /proc/$PPID/fd")

    async def go() -> None:
        agent, _, _ = await ran_with_maker(Events(), job)
        await agent.close()

    asyncio.run(go())
    listing = Path(folder(job), job.output).read_text()
    pipes = {line.rsplit("-> ", 1)[1] for line in listing.splitlines() if "-> pipe:" in line}
    # one pipe only: the wrapper's reports to the manager (its stdout and fd 3)
    assert len(pipes) == 1, listing
