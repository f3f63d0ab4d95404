"""What each part of :class:`meshq.scheduler.engine.Runner` may use of the whole.

The runner is one class built from mixins, one module per concern: looking
after hosts (:mod:`.hostcare`), choosing and launching jobs
(:mod:`.launching`) and recording what the hosts report (:mod:`.recording`).
A part uses the state the runner's constructor makes, and methods that
another part or the runner itself defines; this base declares them once,
for the type checker only: at run time it holds no method, so it changes
nothing of how a call is resolved."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from meshq.model import Job, Queue, Status

if TYPE_CHECKING:
    from meshq.hosts.backend import HostBackend, JobEvent
    from meshq.scheduler.freeslots import FreeSlots
    from meshq.scheduler.placement import HostState
    from meshq.scheduler.policies import Policy
    from meshq.scheduler.run import Reporter, RunHost, RunResult
    from meshq.store.store import Store

Mode = Literal["fifo", "fifo_multi"]


@dataclass(slots=True)
class InFlight:
    """A job the run watches, as last recorded, and when it was launched
    (monotonic; 0.0 for one adopted from a run that is gone)."""

    job: Job
    launched: float


class RunnerPart:
    """The base of every mixin of :class:`meshq.scheduler.engine.Runner`
    that uses the runner's state or its other parts' methods (the runner's
    constructor says what each attribute is)."""

    store: Store
    queue: Queue
    only: frozenset[int] | None
    hosts: dict[str, RunHost]
    mode: Mode
    cap: int
    policy: Policy
    reporter: Reporter
    check_interval: float
    rng: random.Random
    result: RunResult
    run_id: int
    _state: dict[str, HostState]
    _free: FreeSlots
    _took: set[int]
    _backends: dict[str, HostBackend]
    _made: dict[str, set[str]]
    _down: dict[str, tuple[str, float]]
    _inflight: dict[int, InFlight]
    _dead: set[int]
    _avoid: dict[int, set[str]]
    _skip_check: bool
    _events: asyncio.Queue[tuple[str, JobEvent] | None]
    _done: int
    _counted: dict[int, Status]
    _next_total: float
    _others_read: float
    _others_wall: float
    _others_stale: bool

    if TYPE_CHECKING:
        # the runner's own (engine.py): the run's waiting jobs and its state
        @property
        def _halted(self) -> bool: ...
        def _waiting_statuses(self) -> frozenset[Status]: ...
        def _waiting_count(self) -> int: ...
        def _total(self) -> int: ...
        def _adopt(self) -> None: ...

        # choosing and launching (launching.py)
        def _touch(self, host: str | None) -> None: ...
        def _refuse(self, refuse: list[tuple[Job, str | None, str]]) -> None: ...

        # recording (recording.py)
        def _skip_doomed(self) -> None: ...
