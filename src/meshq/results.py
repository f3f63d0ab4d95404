"""What the public Python API gives back: typed, documented records.

The service layer speaks the internal records of :mod:`meshq.model`
(times as float epochs, store ids); the public API turns them into these:
times are :class:`~datetime.datetime` in UTC (timezone-aware), a queue has
its ``name`` and counts side by side, and a job is a *handle* bound to the
:class:`~meshq.Meshq` (or :class:`~meshq.AsyncMeshq`) it came from, so that
``job.stdout()``, ``job.wait()`` and ``job.history()`` just work::

    job = mq.job("sweep", "job3")
    job.wait()
    print(job.status, job.exit_code, job.runtime, job.stdout())

Every record is frozen: a handle shows the job as it was when read;
:meth:`Job.reload` (or :meth:`Job.wait`) gives a fresh one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Self

from meshq.model import FINISHED, Event, Host, HostKind, HostStatus, Queue, Status, utc_iso
from meshq.model import Job as JobRecord

if TYPE_CHECKING:
    from meshq.aio import AsyncMeshq
    from meshq.api import Meshq


def to_datetime(epoch: float | None) -> datetime | None:
    """``epoch`` seconds as a timezone-aware UTC datetime (``None`` stays)."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _iso(when: datetime | None) -> str | None:
    return None if when is None else utc_iso(when.timestamp())


@dataclass(frozen=True, slots=True)
class JobInfo:
    """One job as the store holds it: what it runs, where, and how it went.

    Example::

        for job in mq.jobs("sweep", status="fail"):
            print(job.name, job.exit_code, job.error, job.ended)
    """

    #: the queue it belongs to
    queue: str
    #: its name, unique in its queue
    name: str
    #: what its name pattern gave it (``07`` for ``job07``); ``MESHQ_INDEX``
    index: str
    #: the shell command, as given
    command: str
    #: where it is in its life (see :class:`~meshq.Status`)
    status: Status
    #: the command's exit status, once it ended
    exit_code: int | None
    #: the signal that ended the command, when one did
    signal: int | None
    #: why it failed to start, crashed or was skipped (None: no such trouble)
    error: str | None
    #: the host it runs on (pinned, or chosen by the scheduler); None: not yet
    host: str | None
    #: its ``CUDA_VISIBLE_DEVICES`` (given, or picked for ``gpus``)
    gpu: str | None
    #: how many GPUs it asked for
    gpus: int | None
    #: how many times it was launched (1 for the first run)
    attempts: int
    #: reruns allowed after a failed attempt (None: the queue's default)
    retries: int | None
    #: its time limit in seconds (None: the queue's default, or none)
    timeout: float | None
    #: when it was added
    submitted: datetime
    #: when its current attempt's command started
    started: datetime | None
    #: when its current attempt ended
    ended: datetime | None
    #: the sweep parameters it was made with (``MESHQ_PARAM_*``), as text
    params: dict[str, str]
    shell: str
    #: its working directory as stored (None: its own job folder)
    directory: str | None
    #: the Python environment sourced first
    pyenv: str | None
    #: the user it runs as, when it names one
    user: str | None
    input: str | None
    #: file names in its job folder: stdout, and the state log
    output: str
    log: str
    #: the folder holding its queue's job folders, on this machine
    experiment: str
    #: the process id of its current attempt on its host
    pid: int | None
    #: as whom, at which address and port, its current attempt ran
    run_user: str | None
    run_address: str | None
    run_port: int | None
    #: its id on a host that queues jobs itself (a Slurm job id such as
    #: ``1234_7``), for its current attempt
    remote_id: str | None
    #: that host's word on it, as last seen (``PENDING (Priority)``)
    remote_state: str | None

    @classmethod
    def _values(cls, record: JobRecord) -> dict[str, Any]:
        """The fields of a public job made from the store's ``record``."""
        return {
            f.name: _public_value(f.name, getattr(record, f.name))
            for f in fields(JobInfo)
            if f.name != "params"
        } | {"params": dict(getattr(record, "params", ()))}

    @property
    def done(self) -> bool:
        """It is finished (well or not) and no run will start it again by
        itself (a retry puts a failed job back to waiting first)."""
        return self.status in FINISHED

    @property
    def ok(self) -> bool:
        """It ended with exit status 0."""
        return self.status is Status.END

    @property
    def runtime(self) -> timedelta | None:
        """How long its current attempt ran (so far, while it runs)."""
        if self.started is None:
            return None
        end = self.ended or datetime.now(UTC)
        return max(end - self.started, timedelta(0))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (times as ISO 8601 strings in UTC, ``Z``).
        Example: ``json.dumps([j.to_dict() for j in mq.jobs("sweep")])``"""
        out: dict[str, Any] = {}
        for f in fields(JobInfo):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = _iso(value)
            elif isinstance(value, Status):
                value = value.value
            out[f.name] = value
        return out


def _public_value(name: str, value: Any) -> Any:
    if name in ("submitted", "started", "ended"):
        return to_datetime(value)
    return value


@dataclass(frozen=True, slots=True)
class Job(JobInfo):
    """A job, bound to the :class:`~meshq.Meshq` it came from: its fields
    (:class:`JobInfo`) and what you do with one job.

    Example::

        job = mq.job("sweep", "job3").wait(timeout=600)
        if not job.ok:
            print(job.status, job.exit_code, job.stderr())
    """

    _mq: Meshq = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    @classmethod
    def bound(cls, record: JobRecord, mq: Meshq) -> Self:
        """The public handle of ``record``, bound to ``mq``."""
        return cls(**cls._values(record), _mq=mq)

    def stdout(self) -> str:
        """What the job wrote to standard output, read on its host (UTF-8;
        undecodable bytes replaced). Example: ``print(job.stdout())``."""
        return self._mq.logs(self.queue, self.name).decode("utf-8", "replace")

    def stderr(self) -> str:
        """What the job wrote to standard error, read on its host.
        Example: ``print(job.stderr()[-2000:])``"""
        return self._mq.logs(self.queue, self.name, stderr=True).decode("utf-8", "replace")

    def wait(self, timeout: float | None = None, *, poll: float = 0.5) -> Job:
        """Wait until the job is finished (:attr:`done`) and return it
        fresh; a :class:`~meshq.errors.WaitTimeout` after ``timeout``
        seconds. Something must run it: a run of its queue (here, in a
        thread, or in another process such as ``meshq queue run``).
        Example: ``job = job.wait(timeout=3600)``"""
        return self._mq.wait(self.queue, self.name, timeout=timeout, poll=poll)

    def reload(self) -> Job:
        """The job as the store holds it now. Example: ``job = job.reload()``"""
        return self._mq.job(self.queue, self.name)

    def history(self) -> list[StateChange]:
        """Its state changes, oldest first. Example::

        for change in job.history():
            print(change.time, change.old, "->", change.new, change.detail)
        """
        return self._mq.history(self.queue, self.name)

    def kill(self) -> bool:
        """Kill it if it runs (its whole process group); whether it did.
        Example: ``if job.runtime > timedelta(hours=2): job.kill()``"""
        return bool(self._mq.kill(self.queue, self.name))


@dataclass(frozen=True, slots=True)
class AsyncJob(JobInfo):
    """A job bound to the :class:`~meshq.AsyncMeshq` it came from: the
    methods of :class:`Job`, as coroutines.

    Example::

        job = await (await amq.job("sweep", "job3")).wait()
        print(await job.stdout())
    """

    _mq: AsyncMeshq = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    @classmethod
    def bound(cls, record: JobRecord, mq: AsyncMeshq) -> Self:
        """The public handle of ``record``, bound to ``mq``."""
        return cls(**cls._values(record), _mq=mq)

    async def stdout(self) -> str:
        """What the job wrote to standard output (see :meth:`Job.stdout`).
        Example: ``print(await job.stdout())``"""
        return (await self._mq.logs(self.queue, self.name)).decode("utf-8", "replace")

    async def stderr(self) -> str:
        """What the job wrote to standard error. Example: ``await job.stderr()``"""
        data = await self._mq.logs(self.queue, self.name, stderr=True)
        return data.decode("utf-8", "replace")

    async def wait(self, timeout: float | None = None, *, poll: float = 0.5) -> AsyncJob:
        """Wait until the job is finished (see :meth:`Job.wait`).
        Example: ``job = await job.wait(timeout=3600)``"""
        return await self._mq.wait(self.queue, self.name, timeout=timeout, poll=poll)

    async def reload(self) -> AsyncJob:
        """The job as the store holds it now. Example: ``job = await job.reload()``"""
        return await self._mq.job(self.queue, self.name)

    async def history(self) -> list[StateChange]:
        """Its state changes, oldest first. Example: ``await job.history()``"""
        return await self._mq.history(self.queue, self.name)

    async def kill(self) -> bool:
        """Kill it if it runs; whether it did. Example: ``await job.kill()``"""
        return bool(await self._mq.kill(self.queue, self.name))


@dataclass(frozen=True, slots=True)
class StateChange:
    """One line of a job's history: a change of state, when and why.

    Example: ``[(c.new, c.time) for c in mq.history("sweep", "job3")]``
    """

    time: datetime
    #: the state it left (None: the job was just added)
    old: Status | None
    new: Status
    #: which attempt the change belongs to (0: before the first launch)
    attempt: int
    #: why, in words (``added``, ``reset``, the error of a failed start, …)
    detail: str | None
    #: the host of the attempt it closes, and its exit status
    host: str | None = None
    exit_code: int | None = None

    @classmethod
    def of(cls, event: Event) -> Self:
        when = to_datetime(event.time)
        assert when is not None
        return cls(
            when, event.old, event.new, event.attempt, event.detail, event.host, event.exit_code
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, as ``meshq queue show --format=json`` has it."""
        return {
            "time": _iso(self.time),
            "old": self.old.value if self.old else None,
            "new": self.new.value,
            "attempt": self.attempt,
            "host": self.host,
            "exit_code": self.exit_code,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class QueueSummary:
    """A queue, its settings, and how many of its jobs are in each state.

    Example::

        for q in mq.queues():
            print(q.name, q.total, q.counts.get(Status.FAIL, 0))
    """

    name: str
    #: the folder under which its jobs get their folders (absolute, here)
    experiment: str
    created: datetime
    #: no new job of it starts (running ones go on)
    paused: bool
    #: the defaults for its jobs that set none: time limit (s) and retries
    timeout: float | None
    retries: int | None
    #: the ``fifo_multi`` policy its runs use when they name none
    policy: str | None
    #: jobs per state (a state with none is left out)
    counts: dict[Status, int]

    @classmethod
    def of(cls, queue: Queue, counts: Mapping[Status, int]) -> Self:
        created = to_datetime(queue.created)
        assert created is not None
        return cls(
            queue.name,
            queue.experiment,
            created,
            queue.paused,
            queue.default_timeout,
            queue.default_retries,
            queue.policy,
            {s: n for s, n in counts.items() if n},
        )

    @property
    def total(self) -> int:
        """How many jobs it has."""
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class HostInfo:
    """A host of the inventory: how it is reached and what it offers.

    Example: ``[h.name for h in mq.hosts() if h.status is HostStatus.DOWN]``
    """

    name: str
    #: ``local`` (this machine), ``ssh`` or ``slurm`` (a cluster reached
    #: through its login node)
    kind: HostKind
    address: str | None
    user: str | None
    port: int | None
    #: how many jobs it runs at once
    max_jobs: int
    cpus: int | None
    #: the GPU ids jobs may be given
    gpus: tuple[str, ...]
    #: the Python environment its jobs source when they name none
    pyenv: str | None
    status: HostStatus
    #: when it was last tried, and the error then (None: it answered)
    last_probe: datetime | None
    last_error: str | None
    check_host_key: bool
    #: settings of its kind, as (key, value) pairs in the order given (a
    #: Slurm cluster's partition, account, qos and sbatch options)
    options: tuple[tuple[str, str], ...]
    #: what the host said of itself at its last probe (a cluster's
    #: partitions, nodes and GPUs)
    info: str | None

    @classmethod
    def of(cls, host: Host) -> Self:
        return cls(
            **{f.name: getattr(host, f.name) for f in fields(cls) if f.name != "last_probe"},
            last_probe=to_datetime(host.last_probe),
        )


@dataclass(frozen=True, slots=True)
class Probe:
    """What trying a host found: the host as recorded, and the error that
    kept it from answering (None: it answered).

    Example: ``[p.host.name for p in mq.probe() if not p.ok]``
    """

    host: HostInfo
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None
