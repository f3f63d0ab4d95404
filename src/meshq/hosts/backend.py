"""The seam between meshq and a kind of host.

Everything above the hosts layer (the scheduler, the host operations, the
API) talks to a host through one :class:`HostBackend` and hears back typed
:data:`JobEvent` values; none of it sees how a host kind is reached or what
it says on the wire. A host kind is a :class:`HostKind` member and one
module implementing :class:`HostBackend`; :mod:`meshq.hosts.registry` maps
the one to the other.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from meshq.model import HostKind, Identity, Job, Status


@dataclass(frozen=True, slots=True)
class Started:
    """The job's command started: its process and when."""

    job_id: int
    attempt: int
    pid: int
    #: an opaque token of the process's start time (guards against pid reuse)
    pstart: str
    time: float


@dataclass(frozen=True, slots=True)
class Ended:
    """The job's command is over. ``status`` is ``end``, ``fail``, ``kill``
    or ``timeout``; ``code`` its exit status as the shell reports it, and
    ``signal`` the signal that ended it, when one did."""

    job_id: int
    attempt: int
    status: Status
    code: int | None
    signal: int | None
    time: float
    #: what went wrong around the command, though it ran (its log could
    #: not be written at the end, say)
    note: str | None = None


@dataclass(frozen=True, slots=True)
class FailedToStart:
    """The job could not be started; ``message`` says why."""

    job_id: int
    attempt: int
    message: str


@dataclass(frozen=True, slots=True)
class Queued:
    """A host that queues jobs itself (a Slurm cluster) holds the job: its id
    there and its state there (``PENDING (Priority)``, ``RUNNING``), sent
    when the host takes the job and again whenever that state changes. It
    changes no status: the job stays ``run`` until it starts."""

    job_id: int
    attempt: int
    remote_id: str
    state: str


JobEvent = Started | Ended | FailedToStart | Queued

#: an exit status above this is how bash says "ended by signal (status - 128)"
SIGNALLED = 128


def signal_of(code: int | None) -> int | None:
    """The signal that ended a command whose shell reported exit status
    ``code``, when it says one did (``143`` → 15). An exit status the
    command chose itself above 128 reads the same: the shell cannot tell."""
    if code is not None and SIGNALLED < code < SIGNALLED + 65:
        return code - SIGNALLED
    return None


__all__ = [
    "Ended",
    "EventSink",
    "FailedToStart",
    "Fence",
    "HostBackend",
    "HostKind",
    "Identity",
    "JobEvent",
    "Liveness",
    "LostSink",
    "Queued",
    "Started",
    "ignore_event",
    "signal_of",
]
#: how a backend tells its run about a job: (host name, event)
EventSink = Callable[[str, JobEvent], None]
#: how a backend tells its run that it lost the host: (host name, reason)
LostSink = Callable[[str, str], None]


def ignore_event(host: str, event: JobEvent) -> None:
    """An :data:`EventSink` for those who only check, kill or read."""
    return None


class Fence(enum.StrEnum):
    """What fencing an attempt found (:meth:`HostBackend.fence`)."""

    #: the attempt can never start now: it may be launched again safely
    FENCED = "fenced"
    #: its wrapper claimed it first and is running (or, on a cluster, the
    #: attempt waits in the cluster's queue: it will run, and must not be
    #: launched again)
    STARTED = "started"
    #: its wrapper claimed it first and is gone
    GONE = "gone"
    #: the host could not say (the job folder cannot be written, say)
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Liveness:
    """What a host says of one job attempt: is its process alive, and what
    has its state log recorded for the attempt (lines, oldest first)."""

    alive: bool
    lines: tuple[str, ...]
    #: the host's own word that the attempt is over without having run to
    #: its end, and why: a cluster that lost the job's node, preempted it,
    #: or saw it cancelled from outside meshq (see reconcile.verdict)
    lost: str | None = None


class HostBackend(Protocol):
    """One host, as a run or a host operation uses it.

    Paths given to and taken by a backend are as the host sees them (see
    :mod:`meshq.paths`); ``local`` says which form that is. ``read`` and
    ``put`` (files to and from the host: a Python call and its result, see
    :mod:`meshq.calls`) work without :meth:`start`.
    """

    #: the host's name in the inventory (``localhost`` for this machine)
    name: str
    #: jobs run on this machine: paths are this machine's own
    local: bool
    #: what the host said of itself when it started (a cluster's partitions,
    #: nodes and GPUs), for ``hosts probe``; ``None`` when it says nothing
    info: str | None

    @property
    def identity(self) -> Identity | None:
        """Where and as whom jobs run there; known once started."""
        ...

    async def start(self) -> None:
        """Reach the host and make it ready for requests;
        :class:`~meshq.errors.HostError` when it cannot be reached."""
        ...

    async def close(self) -> None:
        """Let go of the host; jobs it started go on running."""
        ...

    def launch(self, job: Job, gpu: str | None = None) -> None:
        """Send the launch of ``job``'s current attempt, with ``gpu`` as its
        ``CUDA_VISIBLE_DEVICES`` when given. Returns at once; what happens
        arrives as events."""
        ...

    async def drain(self) -> None:
        """Wait until what was sent has been handed to the host."""
        ...

    async def check(self, jobs: Sequence[Job]) -> dict[int, Liveness]:
        """Whether each job's process is alive, and what its log says."""
        ...

    async def kill(self, jobs: Sequence[Job], grace: float = 5.0) -> dict[int, str]:
        """Stop each job's whole process tree (TERM, then KILL after
        ``grace`` s); ``killed`` or ``gone`` per job id."""
        ...

    async def fence(self, jobs: Sequence[Job]) -> dict[int, Fence]:
        """Make sure each job's current attempt, whose launch may still be
        on its way, never starts if it has not started yet; per job id, what
        was found. A job whose attempt is fenced can be launched again."""
        ...

    async def note_crash(self, jobs: Sequence[Job], reason: str) -> None:
        """Add a ``crash`` line to each job's state log (best effort)."""
        ...

    async def remove(self, folders: Sequence[str]) -> dict[str, str]:
        """Remove folders; ``ok`` or the error, per folder."""
        ...

    async def make_dirs(self, folders: Sequence[str]) -> None:
        """Prepare job ``folders`` ahead of their launches (best effort: a
        job's wrapper makes its own folder if missing): create them and
        their parents, or, where making each ahead would cost more than it
        saves (a cluster), their parents only."""
        ...

    async def read(self, path: str) -> bytes:
        """The whole file ``path``; :class:`~meshq.errors.HostError` saying
        why when it cannot be read."""
        ...

    async def put(self, path: str, data: bytes) -> None:
        """Write ``data`` to the file ``path`` (its folders made first),
        whole or not at all: a reader never sees half of it;
        :class:`~meshq.errors.HostError` saying why when it cannot."""
        ...

    def follow(self, path: str, pid: int) -> AsyncIterator[bytes]:
        """``path`` from its start, then what is written to it, until the
        process ``pid`` is gone."""
        ...
