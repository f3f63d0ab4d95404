"""Deciding that a launch was lost, safely.

A job in ``run`` whose host has no trace of it may have been launched by a
run that died, with the launch still on its way (in the old agent's input,
say, while that agent was stopped). Putting it back to ``ready`` then would
run it twice. So before that, its attempt is *fenced* on the host: a claim
file that the job's wrapper must create first to start
(``resources/wrapper.sh``). Exactly one side wins; only a job fenced by us
goes back to ``ready``.
"""

from __future__ import annotations

from collections.abc import Sequence

from meshq.hosts.backend import Fence, HostBackend
from meshq.model import Job, Status
from meshq.scheduler.reconcile import verdict
from meshq.store.store import Change


async def fence_unseen(backend: HostBackend, jobs: Sequence[Job]) -> list[Change]:
    """Changes for ``jobs`` (each in ``run``, its host without a trace of
    it): ``ready`` for those now fenced; for those whose wrapper claimed the
    attempt first and is gone, what their log says, else ``crash``; nothing
    for those whose wrapper runs (its start line is on its way)."""
    fences = await backend.fence(jobs)
    gone = [j for j in jobs if fences[j.id] is Fence.GONE]
    again = await backend.check(gone) if gone else {}
    changes: list[Change] = []
    for job in jobs:
        found = fences[job.id]
        if found is Fence.FENCED:
            changes.append(
                Change(
                    job.id,
                    Status.READY,
                    {},
                    "launch lost: it never started, and now never will; back to ready",
                    job.attempts,
                )
            )
        elif found is Fence.GONE:
            change = verdict(job, again[job.id])
            changes.append(
                change
                or Change(
                    job.id,
                    Status.CRASH,
                    {"error": "its wrapper took the attempt, then vanished before the command"},
                    "wrapper vanished",
                    job.attempts,
                )
            )
    return changes
