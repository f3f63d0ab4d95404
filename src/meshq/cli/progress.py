"""How a run reports: a live progress bar on a terminal, plain log lines
everywhere else."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import Any

from meshq.model import Job, Status


class LineReporter:
    """One line per event, for logs and pipes."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.total = 0
        self.done = 0
        self.failed = 0

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
        self.done += 1
        if status is not Status.END:
            self.failed += 1
        detail = f"exit {exit_code}" if exit_code is not None else (error or "")
        self._say(f"[{self.done}/{self.total}] {job.name} {status.value} ({detail}) on {job.host}")

    def message(self, text: str) -> None:
        self._say(text)

    def end(self) -> None:
        return None


class BarReporter:
    """A rich progress bar: done / failed / running / left, elapsed, ETA."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[summary]}"),
            TimeElapsedColumn(),
            TextColumn("eta {task.fields[eta]}"),
            console=self.console,
            transient=False,
        )
        self.task = self.progress.add_task("jobs", total=0, summary="", eta="-")
        self.total = 0
        self.done = 0
        self.failed = 0
        self.running = 0
        self.t0 = time.monotonic()

    def _update(self) -> None:
        left = max(self.total - self.done - self.running, 0)
        elapsed = time.monotonic() - self.t0
        eta = "-"
        if self.done and self.total > self.done:
            seconds = elapsed / self.done * (self.total - self.done)
            eta = time.strftime("%H:%M:%S", time.gmtime(seconds))
        summary = (
            f"[green]{self.done - self.failed} end[/] · [red]{self.failed} not end[/] · "
            f"{self.running} running · {left} left"
        )
        self.progress.update(
            self.task, total=self.total, completed=self.done, summary=summary, eta=eta
        )

    def begin(self, total: int) -> None:
        self.total = total
        self.progress.start()
        self._update()

    def set_total(self, total: int) -> None:
        self.total = total
        self._update()

    def started(self, job: Job) -> None:
        self.running += 1
        self._update()

    def finished(self, job: Job, status: Status, exit_code: int | None, error: str | None) -> None:
        self.done += 1
        self.running = max(self.running - 1, 0)
        if status is not Status.END:
            self.failed += 1
            why = f"exit {exit_code}" if exit_code is not None else (error or "")
            self.progress.console.print(f"[red]{job.name} {status.value}[/] ({why})")
        self._update()

    def message(self, text: str) -> None:
        self.progress.console.print(text)

    def end(self) -> None:
        self._update()
        self.progress.stop()


def reporter_for_terminal() -> LineReporter | BarReporter:
    return BarReporter() if sys.stderr.isatty() else LineReporter()
