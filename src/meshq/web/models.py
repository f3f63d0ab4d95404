"""The REST service's request and answer bodies (pydantic), as its OpenAPI
schema shows them. Answers are made from the public records of
:mod:`meshq.results`; requests carry what the service layer's operations
take, and the service checks them as it checks the command line's."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from meshq.hostops import Moved
from meshq.model import HostKind, HostStatus, Status
from meshq.results import HostInfo, JobInfo, QueueSummary, StateChange

#: the longest text a request field takes (names, commands, paths): input
#: longer than this is refused as invalid, before any work
LONG = 100_000


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    # a field the API does not know is a typo the caller must hear about;
    # strict: false is not a number of retries, nor "3" a port
    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorOut(BaseModel):
    """An error: one line for a person, and the fields a program acts on
    (``kind``, ``name``, ``queue``, ``job``, ``host``: those that apply)."""

    model_config = ConfigDict(extra="allow")

    error: str
    type: str | None = Field(None, description="the meshq error's class, such as NotFound")


#: the error answers every route documents
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the body is not JSON"},
    401: {"model": ErrorOut, "description": "no token sent"},
    403: {"model": ErrorOut, "description": "another token sent"},
    404: {"model": ErrorOut, "description": "no such queue, job, host or run"},
    409: {"model": ErrorOut, "description": "a conflict: it exists, or its state forbids it"},
    422: {"model": ErrorOut, "description": "the input is not valid; nothing was changed"},
    502: {"model": ErrorOut, "description": "a host could not be reached"},
    503: {"model": ErrorOut, "description": "the store is busy: try again"},
}


# -- queues -------------------------------------------------------------------


class QueueOut(_Out):
    """A queue, its defaults and its jobs per state."""

    name: str
    experiment: str
    created: datetime
    paused: bool
    timeout: float | None = Field(description="default time limit of its jobs (s)")
    retries: int | None = Field(description="default retries of its jobs")
    policy: str | None = Field(description="the fifo_multi policy its runs use by default")
    counts: dict[Status, int] = Field(description="jobs per state (states with none left out)")
    total: int

    @classmethod
    def of(cls, summary: QueueSummary) -> QueueOut:
        return cls.model_validate(summary)


class QueueCreate(_In):
    """A queue to create (the CLI's ``meshq queue create``)."""

    name: str = Field(max_length=LONG, examples=["sweep"])
    experiment: str = Field(
        "./experiment", max_length=LONG, description="folder its jobs' folders go under"
    )
    timeout: float | str | None = Field(
        None, description="default time limit: seconds or text such as 2h"
    )
    retries: int | None = None


class QueueChange(_In):
    """New defaults of a queue (those given)."""

    timeout: float | str | None = None
    retries: int | None = None
    policy: str | None = Field(None, max_length=LONG)


class Deleted(_Out):
    """How many jobs a delete removed."""

    deleted: int


# -- jobs ---------------------------------------------------------------------


class JobOut(_Out):
    """A job: what it runs, where, and how it went (:class:`meshq.results.JobInfo`)."""

    queue: str
    name: str
    index: str
    command: str
    status: Status
    exit_code: int | None
    signal: int | None
    error: str | None
    host: str | None
    gpu: str | None
    gpus: int | None
    attempts: int
    retries: int | None
    timeout: float | None
    submitted: datetime
    started: datetime | None
    ended: datetime | None
    params: dict[str, str]
    shell: str
    directory: str | None
    pyenv: str | None
    user: str | None
    input: str | None
    output: str
    log: str
    experiment: str
    pid: int | None
    remote_id: str | None = Field(
        None, description="its id on a host that queues jobs itself (Slurm)"
    )
    remote_state: str | None = Field(None, description="that host's word on it, as last seen")

    @classmethod
    def of(cls, record: Any) -> JobOut:
        """From the store's job record (:class:`meshq.model.Job`)."""
        return cls.model_validate(JobInfo.of(record))


class EventOut(_Out):
    """One state change of a job."""

    time: datetime
    old: Status | None
    new: Status
    attempt: int
    detail: str | None
    host: str | None
    exit_code: int | None

    @classmethod
    def of(cls, event: Any) -> EventOut:
        return cls.model_validate(StateChange.of(event))


class JobDetail(JobOut):
    """A job and its history, oldest change first."""

    history: list[EventOut]


class JobPage(BaseModel):
    """One page of a queue's jobs, in queue order."""

    total: int = Field(description="how many jobs the filters select, over all pages")
    offset: int
    limit: int
    jobs: list[JobOut]


class JobsAdd(_In):
    """Jobs to add: one per name the pattern ``name`` expands to (``job[1-100]``),
    all running ``command`` (``$MESHQ_INDEX`` is each one's index)."""

    name: str = Field(max_length=LONG, examples=["job[1-4]"])
    command: str = Field(max_length=LONG, examples=["echo $MESHQ_INDEX"])
    host: str | None = Field(None, max_length=LONG)
    shell: str | None = Field(None, max_length=LONG)
    directory: str | None = Field(None, max_length=LONG)
    input: str | None = Field(None, max_length=LONG)
    output: str | None = Field(None, max_length=LONG)
    log: str | None = Field(None, max_length=LONG)
    gpu: str | None = Field(None, max_length=LONG, description="GPU ids, such as 0,1")
    gpus: int | None = Field(None, description="how many GPUs the scheduler gives it")
    pyenv: str | None = Field(None, max_length=LONG)
    user: str | None = Field(None, max_length=LONG)
    timeout: float | str | None = None
    retries: int | None = None
    after: str | None = Field(None, max_length=LONG, description="jobs it waits for")
    status: Literal["ready", "undefined"] | None = None


class Added(BaseModel):
    """The names of the jobs added."""

    added: list[str]


class Selection(_In):
    """Which jobs of a queue an action takes: ``name`` (names, ranges,
    globs) and/or ``status`` (states, comma separated)."""

    name: str | None = Field(None, max_length=LONG, examples=["job[1-4]"])
    status: str | None = Field(None, max_length=LONG, examples=["fail,kill"])


class MovedOut(_Out):
    """A job an action moved from one state to another."""

    name: str
    old: Status
    new: Status

    @classmethod
    def of(cls, moved: Moved) -> MovedOut:
        return cls(name=moved.name, old=moved.old, new=moved.new)


class Changed(BaseModel):
    """The jobs an action changed."""

    changed: list[MovedOut]


# -- hosts --------------------------------------------------------------------


class HostOut(_Out):
    """A host of the inventory, and the jobs running on it now."""

    name: str
    kind: HostKind
    address: str | None
    user: str | None
    port: int | None
    max_jobs: int
    cpus: int | None
    gpus: list[str]
    pyenv: str | None
    status: HostStatus
    last_probe: datetime | None
    last_error: str | None
    check_host_key: bool
    options: list[tuple[str, str]] = Field(
        default_factory=list, description="settings of its kind (a Slurm cluster's partition, …)"
    )
    info: str | None = Field(None, description="what the host said of itself at its last probe")
    running: int = Field(0, description="jobs running on it now, over all queues")
    gpus_in_use: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, host: Any, running: int = 0, gpus_in_use: list[str] | None = None) -> HostOut:
        """From the store's host record (:class:`meshq.model.Host`)."""
        out = cls.model_validate(HostInfo.of(host))
        return out.model_copy(update={"running": running, "gpus_in_use": gpus_in_use or []})


class HostsAdd(_In):
    """Hosts to add: one per name the pattern ``name`` expands to (``red,red0[1-3]``)."""

    name: str = Field(max_length=LONG, examples=["red0[1-3]"])
    ip: str | None = Field(None, max_length=LONG)
    user: str | None = Field(None, max_length=LONG)
    port: int | None = None
    max_jobs: int | None = None
    cpus: int | None = None
    gpus: str | None = Field(None, max_length=LONG, description="GPU ids, such as 0,1,2,3")
    pyenv: str | None = Field(None, max_length=LONG)
    check_host_key: bool = True


class ProbeOut(BaseModel):
    """What trying a host found (``error`` None: it answered)."""

    host: HostOut
    error: str | None


# -- runs ---------------------------------------------------------------------


class RunStart(_In):
    """A run to start: ``fifo`` (each job on its pinned host, at most
    ``max_parallel`` at once) or ``fifo_multi`` (over ``hosts`` or the
    inventory, each job where ``policy`` puts it)."""

    queue: str = Field(max_length=LONG)
    mode: Literal["fifo", "fifo_multi"] = "fifo"
    name: str | None = Field(None, max_length=LONG, description="run only the jobs it selects")
    max_parallel: int = Field(1, description="fifo: jobs at once")
    hosts: str | None = Field(
        None, max_length=LONG, description="fifo_multi: pi@red,pi@red01 (a slot per entry)"
    )
    policy: str | None = Field(None, max_length=LONG, description="fifo_multi: how to pick hosts")
    seed: int | None = Field(None, description="fifo_multi: seed of the random policy")
    check_interval: float = Field(5.0, gt=0, le=3600, description="seconds between checks")

    def options(self) -> dict[str, Any]:
        """The keyword arguments of the service's run operation."""
        common = {"name": self.name, "check_interval": self.check_interval}
        if self.mode == "fifo":
            return {**common, "max_parallel": self.max_parallel}
        return {**common, "hosts": self.hosts, "policy": self.policy, "seed": self.seed}


class RunOut(BaseModel):
    """A run this service started, and how it went."""

    id: int
    queue: str
    mode: Literal["fifo", "fifo_multi"]
    options: dict[str, Any]
    state: Literal["running", "done", "stopped", "failed"]
    started: datetime
    ended: datetime | None
    error: str | None
    #: what it did, once it has ended
    finished: dict[Status, int] | None = None
    ok: bool | None = None
    still_running: int | None = None
    retried: int | None = None
    stranded: int | None = None
    stranded_why: str | None = None
