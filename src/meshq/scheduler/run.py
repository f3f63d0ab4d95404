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


class Stoppable(Protocol):
    """A run as a signal handler needs it (:class:`meshq.scheduler.engine.Runner`)."""

    def drain(self) -> None: ...
    def stop(self) -> None: ...


class Reporter(Protocol):
    """Where a run tells a person (or a log) how it goes."""

    def begin(self, total: int) -> None: ...
    def set_total(self, total: int) -> None: ...
    def started(self, job: Job) -> None: ...
    def finished(
        self, job: Job, status: Status, exit_code: int | None, error: str | None
    ) -> None: ...
    def message(self, text: str) -> None: ...
    def phase(self, text: str) -> None:
        """What the run as a whole is doing, when not just running
        (``paused``, ``stopping``); ``""``: running again."""

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
    def phase(self, text: str) -> None: ...
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
    #: stopped early (Ctrl-C: :meth:`Runner.drain`, twice: :meth:`Runner.stop`)
    interrupted: bool = False
    #: jobs left running, unwatched, by a run stopped at once (second Ctrl-C)
    still_running: int = 0
    #: jobs an interrupted run left waiting, never started
    left_waiting: int = 0
    #: failed attempts put back in the queue by --retries
    retried: int = 0
    #: the queue was paused when the run ended (a run waits while its queue
    #: is paused: only an interrupted run ends so)
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


def stop_on_signals(runner: Stoppable, say: Callable[[str], None]) -> None:
    """Ctrl-C (or SIGTERM) once: launch nothing more, and watch the running
    jobs to their end. Twice: quit at once; the jobs run on on their hosts,
    and the next run of the queue (or ``meshq queue refresh``) records how
    they end."""
    loop = asyncio.get_running_loop()

    def again(signum: int) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        say("quitting now: the running jobs go on; 'meshq queue refresh' records them")
        runner.stop()

    def first(signum: int) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, again, sig)
        say(
            "stopping: no new jobs will start; waiting for the running ones to end "
            "(Ctrl-C again to quit at once: they go on)"
        )
        runner.drain()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, first, sig)
