"""How a run reports (the :class:`~meshq.scheduler.run.Reporter` of the
CLI): a live progress bar on a terminal, plain log lines everywhere else.

Both count the same way. A job is finished when the run says so
(``finished``: its final state, after any retries); a retried attempt is
not a finished job. A job is running from its first ``started`` to its
``finished``, counted once however many attempts it takes.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import datetime
from typing import Any

from meshq.model import FAILED, Job, Status

#: how the bar colours each final state: ended well, failed, neither
_STYLE = {Status.END: "green", Status.KILL: "yellow", Status.SKIP: "yellow"}


def state_counts(finished: Counter[Status], running: int, markup: bool = False) -> str:
    """``42 end · 8 fail · 3 running``: the final states in the order of a
    job's life, under their own names, then the jobs running now."""
    parts = []
    for status in Status:
        n = finished[status]
        if n:
            style = _STYLE.get(status, "red" if status in FAILED else "")
            parts.append(f"[{style}]{n} {status.value}[/]" if markup and style else f"{n} {status}")
    parts.append(f"{running} running")
    return " · ".join(parts)


class LineReporter:
    """One line per finished job, for logs and pipes."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.total = 0
        self.outcomes: Counter[Status] = Counter()

    def _say(self, text: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        print(f"{stamp} {text}", file=self.stream, flush=True)

    def begin(self, total: int) -> None:
        self.total = total
        self._say(f"running {total} job(s)")

    def set_total(self, total: int) -> None:
        self.total = total

    def started(self, job: Job) -> None:
        return None

    def finished(self, job: Job, status: Status, exit_code: int | None, error: str | None) -> None:
        self.outcomes[status] += 1
        done = sum(self.outcomes.values())
        detail = f"exit {exit_code}" if exit_code is not None else (error or "")
        self._say(f"[{done}/{self.total}] {job.name} {status.value} ({detail}) on {job.host}")

    def message(self, text: str) -> None:
        self._say(text)

    def phase(self, text: str) -> None:
        return None  # the run's message line says it

    def end(self) -> None:
        return None


class BarReporter:
    """A rich progress bar built from rich's own columns: the bar, done/total
    (``MofNCompleteColumn``), the final states and running jobs, elapsed
    and remaining time (``TimeElapsedColumn``, ``TimeRemainingColumn``)."""

    def __init__(self, description: str = "jobs") -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[states]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.description = description
        self.task = self.progress.add_task(description, total=None, states="")
        self.total = 0
        self.outcomes: Counter[Status] = Counter()
        #: the jobs started and not yet finished (a retry starts one again)
        self.running: set[int] = set()

    def _update(self) -> None:
        done = sum(self.outcomes.values())
        self.progress.update(
            self.task,
            total=max(self.total, done),
            completed=done,
            states=state_counts(self.outcomes, len(self.running), markup=True),
        )

    def begin(self, total: int) -> None:
        self.total = total
        self.progress.start()
        self._update()

    def set_total(self, total: int) -> None:
        self.total = total
        self._update()

    def started(self, job: Job) -> None:
        self.running.add(job.id)
        self._update()

    def finished(self, job: Job, status: Status, exit_code: int | None, error: str | None) -> None:
        # a job may finish without a start here: one adopted from an earlier
        # run, or skipped because a job it waits for failed
        self.running.discard(job.id)
        self.outcomes[status] += 1
        if status is not Status.END:
            why = f"exit {exit_code}" if exit_code is not None else (error or "")
            self.progress.console.print(f"[red]{job.name} {status.value}[/] ({why})")
        self._update()

    def message(self, text: str) -> None:
        self.progress.console.print(text, markup=False)

    def phase(self, text: str) -> None:
        """The bar's label says it: ``sweep paused``, ``sweep stopping``."""
        label = f"{self.description} [yellow]{text}[/]" if text else self.description
        self.progress.update(self.task, description=label)

    def end(self) -> None:
        self._update()
        self.progress.stop()


def reporter_for_terminal(description: str = "jobs") -> LineReporter | BarReporter:
    """A bar when stderr is a terminal, log lines otherwise."""
    return BarReporter(description) if sys.stderr.isatty() else LineReporter()
