"""A job's attempts, read from its history: where each ran, how it ended,
and whether its files were moved aside by a later attempt on that host.
Pure functions over events; no I/O. Where the files are is
:func:`meshq.paths.attempt_paths`'s to say."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from meshq.model import ACTIVE, FINISHED, Event, Status


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt of a job: the ``N`` of ``MESHQ_ATTEMPT`` and ``logs --attempt``."""

    attempt: int
    #: the host it was given (None: it failed to start before it had one)
    host: str | None
    #: its latest state: ``run``/``start`` while it runs, else how it ended
    status: Status
    started: float | None = None
    ended: float | None = None
    exit_code: int | None = None
    #: a later attempt started on the same host, so this one's files were
    #: moved into ``JOB/attempts/N/`` there
    kept: bool = False


def attempts_of(events: Iterable[Event]) -> list[AttemptRecord]:
    """Fold a job's history, oldest first, into its attempts, oldest first.
    An attempt begins with its claim (``run``); what follows under its
    number gives its start and its end (a later correction, a ``crash``
    found to be an ``end``, wins); going back to the queue for a retry or a
    reset is no state of the attempt."""
    found: dict[int, AttemptRecord] = {}
    for e in events:
        if e.attempt < 1 or (e.new not in ACTIVE and e.new not in FINISHED):
            continue
        rec = found.get(e.attempt)
        if rec is None:
            rec = found[e.attempt] = AttemptRecord(e.attempt, e.host, e.new)
        if e.new is Status.START:
            rec = replace(rec, status=e.new, started=e.time, host=e.host or rec.host)
        elif e.new in FINISHED:
            rec = replace(rec, status=e.new, ended=e.time, exit_code=e.exit_code)
        found[e.attempt] = rec
    ordered = [found[n] for n in sorted(found)]
    return [replace(rec, kept=_moved_aside(rec, ordered[i + 1 :])) for i, rec in enumerate(ordered)]


def _moved_aside(rec: AttemptRecord, later: list[AttemptRecord]) -> bool:
    """Whether a later attempt's wrapper ran on ``rec``'s host: it moves the
    files it finds there aside before it starts (``resources/wrapper.sh``)."""
    return any(
        r.host == rec.host and (r.started is not None or r.status is Status.FAIL_START)
        for r in later
    )
