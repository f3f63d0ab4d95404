"""What a run is given and what it gives back: the hosts it may use, the
reporter it tells, the result it returns, and Ctrl-C handling."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from meshq.model import Job, Status

if TYPE_CHECKING:
    from meshq.hosts.backend import EventSink, HostBackend, LostSink
    from meshq.hosts.registry import Target

    #: builds the backend of one host: (target, event sink, lost sink)
    BackendMaker = Callable[[Target, EventSink, LostSink | None], HostBackend]
    from meshq.scheduler.engine import Runner


class Reporter(Protocol):
    """Where a run tells a person (or a log) how it goes."""

    def begin(self, total: int) -> None: ...
    def set_total(self, total: int) -> None: ...
    def started(self, job: Job) -> None: ...
    def finished(
        self, job: Job, status: Status, exit_code: int | None, error: str | None
    ) -> None: ...
    def message(self, text: str) -> None: ...
    def end(self) -> None: ...


class SilentReporter:
    """A reporter that tells nobody (the Python API's default)."""

    def begin(self, total: int) -> None: ...
    def set_total(self, total: int) -> None: ...
    def started(self, job: Job) -> None: ...
    def finished(
        self, job: Job, status: Status, exit_code: int | None, error: str | None
    ) -> None: ...
    def message(self, text: str) -> None: ...
    def end(self) -> None: ...


@dataclass(slots=True)
class RunHost:
    """A host a run may use, and what it offers."""

    name: str
    #: how to reach it (kind, inventory entry, user@ override)
    target: Target
    slots: int
    gpus: tuple[str, ...] = ()
    #: the host is in the inventory: record its status there
    inventory: bool = False
    #: a cluster that gives out GPUs itself (see HostKind.cluster)
    cluster: bool = False
    #: builds its backend; None: the registry's maker for the target's kind.
    #: Only code that drives a Runner itself passes one (the benchmark's
    #: simulated hosts): users reach hosts through the registry alone
    maker: BackendMaker | None = None


@dataclass(slots=True)
class RunResult:
    """What a run did.

    Example::

        result = mq.run_fifo("sweep", max_parallel=4)
        if not result.ok:
            print(result.finished, result.stranded_why)
    """

    #: how many jobs ended in each final state during this run
    finished: Counter[Status] = field(default_factory=Counter)
    #: jobs this run left alone, and why (told, not counted as failures)
    skipped: dict[str, str] = field(default_factory=dict)
    #: stopped early (Ctrl-C / :meth:`Runner.stop`); the jobs in flight run on
    interrupted: bool = False
    still_running: int = 0
    #: failed attempts put back in the queue by --retries
    retried: int = 0
    #: the queue was paused when the run ended
    paused: bool = False
    #: jobs this run was there to run but left waiting (no host could take
    #: them: every host of the run down, say), and why
    stranded: int = 0
    stranded_why: str | None = None
    #: jobs left waiting for another run of the queue, which holds the slots
    left_to_others: int = 0

    @property
    def ok(self) -> bool:
        """Every job this run was there to run ended with exit code 0: none
        failed, none was left waiting because no host could take it, and the
        run was not stopped. A run that found nothing to run is ok (and
        :attr:`ran` is 0); one whose jobs could not start is not (they end
        ``fail_start``, or are counted in :attr:`stranded`)."""
        bad = sum(n for s, n in self.finished.items() if s is not Status.END)
        return bad == 0 and not self.interrupted and not self.stranded

    @property
    def ran(self) -> int:
        """How many jobs this run saw to a final state (well or not)."""
        return sum(self.finished.values())


def stop_on_signals(runner: Runner, say: Callable[[str], None]) -> None:
    """Make Ctrl-C (and SIGTERM) stop launching, leaving running jobs
    running. The handler removes itself, so a second Ctrl-C quits at once."""
    loop = asyncio.get_running_loop()

    def handler(signum: int) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        say("stopping: no new jobs will start; running jobs go on (Ctrl-C again to quit at once)")
        runner.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, handler, sig)
