"""What a queue's history adds up to: how long its jobs ran and where they
failed (``meshq queue summary``). Pure functions over jobs and attempts; no
I/O.

A job's runtime is that of its latest attempt (a retried job counts once);
a host's failures count every attempt that failed there, retried or not.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from meshq.model import ACTIVE, FINISHED, RETRIABLE, Job, Status


@dataclass(frozen=True, slots=True)
class Attempt:
    """One finished attempt of a job, read from its history."""

    job: str
    attempt: int
    host: str | None
    status: Status
    #: when the job's wrapper reported the start (None: it never started)
    started: float | None
    ended: float
    exit_code: int | None

    @property
    def runtime(self) -> float | None:
        return None if self.started is None else max(self.ended - self.started, 0.0)


def attempts_from_events(
    rows: Iterable[tuple[str, int, str | None, str, float, int | None]],
) -> list[Attempt]:
    """Fold history lines ``(job, attempt, host, state, time, exit code)``,
    oldest first, into finished attempts: an attempt's start line gives its
    start, its last finished state its outcome (a refresh may correct a
    ``crash`` to ``end`` later)."""
    starts: dict[tuple[str, int], float] = {}
    ends: dict[tuple[str, int], Attempt] = {}
    for job, attempt, host, state, when, code in rows:
        key = (job, attempt)
        status = Status(state)
        if status is Status.START:
            starts[key] = when
        elif status in FINISHED and status is not Status.SKIP:
            ends[key] = Attempt(job, attempt, host, status, starts.get(key), when, code)
    return list(ends.values())


@dataclass(frozen=True, slots=True)
class RuntimeStats:
    """Runtimes of the jobs that ran to an end, in seconds."""

    jobs: int
    mean: float | None = None
    median: float | None = None
    max: float | None = None
    min: float | None = None


@dataclass(slots=True)
class HostStats:
    """What one host did with the attempts it was given."""

    host: str
    attempts: int = 0
    end: int = 0
    #: attempts that ended fail, timeout, crash or fail_start
    failed: int = 0
    by_status: Counter[Status] = field(default_factory=Counter)
    runtimes: list[float] = field(default_factory=list)

    @property
    def mean_runtime(self) -> float | None:
        return statistics.fmean(self.runtimes) if self.runtimes else None


@dataclass(frozen=True, slots=True)
class Summary:
    """A queue's counts, its jobs' runtimes, and its hosts' record."""

    queue: str
    counts: dict[Status, int]
    runtime: RuntimeStats
    hosts: list[HostStats]

    @property
    def jobs(self) -> int:
        return sum(self.counts.values())


def job_runtime(job: Job) -> float | None:
    """The latest attempt's runtime of a job that started and ended."""
    if job.started is None or job.ended is None or job.status in ACTIVE:
        return None
    return max(job.ended - job.started, 0.0)


def runtime_stats(runtimes: Sequence[float]) -> RuntimeStats:
    if not runtimes:
        return RuntimeStats(0)
    return RuntimeStats(
        jobs=len(runtimes),
        mean=statistics.fmean(runtimes),
        median=statistics.median(runtimes),
        max=max(runtimes),
        min=min(runtimes),
    )


def summarize(queue: str, jobs: Sequence[Job], attempts: Iterable[Attempt]) -> Summary:
    """The summary of ``queue`` from its jobs and their finished attempts."""
    counts = Counter(job.status for job in jobs)
    runtimes = [r for r in (job_runtime(j) for j in jobs if j.status in FINISHED) if r is not None]
    hosts: dict[str, HostStats] = {}
    for attempt in attempts:
        if attempt.host is None:
            continue
        stats = hosts.setdefault(attempt.host, HostStats(attempt.host))
        stats.attempts += 1
        stats.by_status[attempt.status] += 1
        if attempt.status is Status.END:
            stats.end += 1
        elif attempt.status in RETRIABLE:
            stats.failed += 1
        if attempt.runtime is not None:
            stats.runtimes.append(attempt.runtime)
    ordered = {s: counts[s] for s in Status if counts[s]}
    return Summary(queue, ordered, runtime_stats(runtimes), sorted(hosts.values(), key=_worst))


def _worst(stats: HostStats) -> tuple[int, str]:
    """Hosts with the most failures first, then by name."""
    return (-stats.failed, stats.host)
