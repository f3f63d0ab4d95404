"""A run reporter for tests: keeps the run's messages to look at."""

from __future__ import annotations

from meshq.model import Job, Status


class Messages:
    """A reporter that keeps the run's messages."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def begin(self, total: int) -> None: ...
    def set_total(self, total: int) -> None: ...
    def started(self, job: Job) -> None: ...
    def finished(
        self, job: Job, status: Status, exit_code: int | None, error: str | None
    ) -> None: ...
    def message(self, text: str) -> None:
        self.lines.append(text)

    def phase(self, text: str) -> None:
        self.lines.append(f"phase: {text}")

    def end(self) -> None: ...

    def saw(self, prefix: str) -> bool:
        """Whether some message starts with ``prefix``."""
        return any(line.startswith(prefix) for line in self.lines)
