"""The orders a list of jobs can be shown in (the REST API's ``sort``, the
dashboard's sortable columns): one key, ascending or descending, ties in
queue order. The store sorts in SQL; a selection by name pattern, which the
store cannot express, is sorted here the same way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from meshq.errors import UsageError
from meshq.model import Job

#: the keys jobs sort by; ``submitted`` is queue order
SORT_KEYS = ("submitted", "name", "status", "host", "started", "ended")


@dataclass(frozen=True, slots=True)
class Order:
    """Sort by ``key``; ``descending`` puts the largest first (and a job
    without the value last, as SQLite does)."""

    key: str
    descending: bool = False


def parse_order(text: str | None) -> Order | None:
    """``name``, ``-started`` (a leading ``-``: descending) as an
    :class:`Order`; None or empty: queue order (None)."""
    if not text:
        return None
    key = text.removeprefix("-")
    if key not in SORT_KEYS:
        raise UsageError(
            f"cannot sort jobs by {text!r}: give one of {', '.join(SORT_KEYS)} "
            "(a leading - sorts descending)"
        )
    return Order(key, text.startswith("-"))


def sort_jobs(jobs: Sequence[Job], order: Order | None) -> list[Job]:
    """``jobs`` (in queue order) in ``order``; ties keep queue order."""
    if order is None or (order.key == "submitted" and not order.descending):
        return list(jobs)

    def value(job: Job) -> tuple[bool, Any]:
        v = job.id if order.key == "submitted" else getattr(job, order.key)
        return (v is not None, v if v is not None else 0)

    return sorted(jobs, key=value, reverse=order.descending)
