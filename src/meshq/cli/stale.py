"""Reading a queue never shows an old state silently (docs/rules.md,
"Reading a queue"): before ``list``, ``status``, ``show``, ``summary`` and
each redraw of ``status --watch``, the running jobs no live run watches are
read again when they are on this machine; those on other hosts keep the
state last recorded, shown with a ``?`` (``start?``) and a hint to refresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click

from meshq.cli.main import run_async
from meshq.model import ACTIVE, Job

#: what follows a state that may be old (``start?``)
MARK = "?"


@dataclass(frozen=True, slots=True)
class Unwatched:
    """The running jobs of a queue that no run watches and that were not read again."""

    queue: str
    ids: frozenset[int]
    #: when the oldest of those states was recorded (epoch seconds)
    since: float | None

    def marked(self, job: Job, status: str) -> str:
        """``status`` as a table shows it for ``job``."""
        return status + MARK if job.id in self.ids else status

    def hint(self) -> None:
        """One line on stderr when some state may be old: which, since when, the fix."""
        if not self.ids:
            return
        when = datetime.fromtimestamp(self.since or 0).strftime("%m-%d %H:%M:%S")
        click.echo(
            f"{len(self.ids)} running job(s) of {self.queue} (marked {MARK}) are watched by no "
            f"run: their state may be old (recorded since {when}); "
            f"'meshq queue refresh {self.queue}' reads their hosts",
            err=True,
        )


def settle(mq: Any, queue_name: str) -> Unwatched:
    """Refresh what is cheap to refresh; what is left to mark."""
    left: list[Job] = run_async(mq.settle(queue_name))
    since = min((j.started or j.submitted for j in left), default=None)
    return Unwatched(queue_name, frozenset(j.id for j in left), since)


def mark(record: Mapping[str, Any], job: Job, unwatched: Unwatched) -> dict[str, Any]:
    """A job's record for a table: its state marked when it may be old."""
    return {**record, "status": unwatched.marked(job, str(record["status"]))}


def watched(job: Job, unwatched: Unwatched) -> bool | None:
    """For JSON: whether a running job's state is up to date (a live run
    watches it, or it was just read); None for a job that does not run."""
    if job.status not in ACTIVE:
        return None
    return job.id not in unwatched.ids
