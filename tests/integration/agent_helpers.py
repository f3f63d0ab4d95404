"""What the agent tests share: jobs claimed for this machine, a local agent
started on them, and its events waited for with a deadline."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from meshq import paths
from meshq.hosts.agent import AgentBackend
from meshq.hosts.backend import Ended, FailedToStart, JobEvent, Started
from meshq.hosts.local import LocalTransport
from meshq.model import Job, Queue
from meshq.store import Store

E = TypeVar("E", Started, Ended, FailedToStart)


def claimed(
    store: Store,
    make_queue: Callable[..., Queue],
    pattern: str = "job1",
    command: str = "true",
    **spec: object,
) -> list[Job]:
    """The jobs of a new queue (``make_queue``'s arguments), claimed for this machine."""
    q = make_queue(pattern=pattern, command=command, **spec)
    return store.claim([(j, "localhost", j.gpu) for j in store.jobs(q)])


def folder(job: Job) -> Path:
    """The job's folder on this machine (where the local backend puts it)."""
    return Path(paths.job_paths(job, local=True).folder)


class Events:
    """Collects the backend's job events, and waits for them with a deadline."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []
        self.changed = asyncio.Event()

    def __call__(self, host: str, event: JobEvent) -> None:
        self.events.append(event)
        self.changed.set()

    async def until(self, kind: type[E], count: int = 1, timeout: float = 20) -> list[E]:
        deadline = time.monotonic() + timeout
        while True:
            got = [x for x in self.events if isinstance(x, kind)]
            if len(got) >= count:
                return got
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), max(deadline - time.monotonic(), 0.01))


async def started_agent(events: Events, *launch: Job) -> AgentBackend:
    """A local agent, started, that has been given ``launch`` to run."""
    agent = AgentBackend(LocalTransport(), events, local=True)
    await agent.start()
    for job in launch:
        agent.launch(job)
    return agent


def alive(pid: int) -> bool:
    """Is ``pid`` a live process (a zombie nobody reaped is not)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def ended_on_an_agent(*jobs: Job) -> list[Ended]:
    """Run ``jobs`` on a fresh local agent; their ends, once all have come."""

    async def go() -> list[Ended]:
        events = Events()
        agent = await started_agent(events, *jobs)
        ended = await events.until(Ended, len(jobs))
        await agent.close()
        return ended

    return asyncio.run(go())
