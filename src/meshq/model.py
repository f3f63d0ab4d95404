"""The domain model: job states, the one table of allowed transitions, and
plain records for queues, jobs and hosts. No I/O happens here.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Self

from meshq.errors import TransitionError, UsageError, shown


class Status(enum.StrEnum):
    """Where a job is in its life. The names are the seed's, plus
    ``fail`` and ``timeout``. A ``str``: ``Status.END == "end"``.

    Example: ``mq.jobs("sweep", status=[Status.FAIL, Status.TIMEOUT])``
    """

    #: created, no host assigned yet
    UNDEFINED = "undefined"
    #: has a host (or may be given one by the scheduler) and waits to run
    READY = "ready"
    #: claimed by a run and its launch sent; the job has not reported yet
    RUN = "run"
    #: the job's wrapper wrote that the command started
    START = "start"
    #: the command exited with status 0
    END = "end"
    #: the command exited with a non-zero status (kept in ``exit_code``)
    FAIL = "fail"
    #: killed on request (``meshq queue kill`` / reset / delete)
    KILL = "kill"
    #: ran past its time limit and was killed
    TIMEOUT = "timeout"
    #: the launch itself failed (host unreachable, wrapper refused)
    FAIL_START = "fail_start"
    #: the job started but its process vanished, or its host died
    CRASH = "crash"
    #: never run: a job it depends on (``--after``) ended badly for good
    SKIP = "skip"

    @classmethod
    def parse(cls, text: str) -> Status:
        """The one state ``text`` names: a state's name or an alias of one
        state (:data:`STATUS_ALIASES`); a :class:`UsageError` otherwise."""
        states = parse_states(text)
        if len(states) != 1:
            named = ", ".join(s.value for s in states)
            raise UsageError(
                f"{shown(text.strip())} means several states ({named}): give one of them"
            )
        return states[0]


WAITING = frozenset({Status.UNDEFINED, Status.READY})
ACTIVE = frozenset({Status.RUN, Status.START})
FINISHED = frozenset(
    {
        Status.END,
        Status.FAIL,
        Status.KILL,
        Status.TIMEOUT,
        Status.FAIL_START,
        Status.CRASH,
        Status.SKIP,
    }
)
#: finished, but not well: what retries rerun and what makes dependents skip
FAILED = FINISHED - {Status.END}
#: what retries rerun (a kill was asked for; a skip never ran)
RETRIABLE = frozenset({Status.FAIL, Status.CRASH, Status.FAIL_START, Status.TIMEOUT})
#: states a job can still leave only through a host (kill, refresh)
RUNNING = ACTIVE

#: Words other tools use for states, accepted wherever a state is typed
#: (``--status``, job files); meshq itself prints only :class:`Status` names.
#: The seed's job manual (done, failed, submitted, timeout), Slurm's job
#: states (PENDING, RUNNING, COMPLETED, CANCELLED, NODE_FAIL) and pueue's
#: (queued, success, killed). A word for a group selects every state in it.
STATUS_ALIASES: dict[str, tuple[Status, ...]] = {
    "done": (Status.END,),
    "completed": (Status.END,),
    "success": (Status.END,),
    "failed": (Status.FAIL,),
    "submitted": (Status.RUN,),
    "running": (Status.RUN, Status.START),
    "pending": (Status.UNDEFINED, Status.READY),
    "queued": (Status.UNDEFINED, Status.READY),
    "cancelled": (Status.KILL,),
    "canceled": (Status.KILL,),
    "killed": (Status.KILL,),
    "crashed": (Status.CRASH,),
    "node_fail": (Status.CRASH,),
    "skipped": (Status.SKIP,),
}


def parse_states(text: str) -> list[Status]:
    """The states a comma list names (``fail,kill``; aliases allowed), each
    once, in the order given; a :class:`UsageError` for an unknown word."""
    out: list[Status] = []
    words = [w.strip().lower() for w in text.split(",")]
    if not any(words):
        raise UsageError("no state given: name one, such as --status=fail")
    for word in filter(None, words):
        try:
            found: tuple[Status, ...] = (Status(word),)
        except ValueError:
            found = STATUS_ALIASES.get(word.replace("-", "_"), ())
        if not found:
            valid = ", ".join(s.value for s in Status)
            raise UsageError(
                f"unknown state {word!r}: use one of {valid} (or an alias such as done, failed)"
            )
        out += [s for s in found if s not in out]
    return out


_ANY_REST = frozenset(WAITING | FINISHED)

#: Every allowed status change, and nothing else. ``run → ready`` puts back a
#: job whose launch was lost before it started; ``crash → start/end/fail/…``
#: lets a run or a refresh correct a host that was only unreachable for a
#: while (its job still runs, or ended meanwhile); a finished
#: or waiting job may go back to waiting (reset); a waiting job is skipped when
#: a job it depends on failed for good.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.UNDEFINED: frozenset({Status.READY, Status.RUN, Status.SKIP}),
    Status.READY: frozenset({Status.UNDEFINED, Status.RUN, Status.SKIP}),
    Status.RUN: frozenset(
        {
            Status.START,
            Status.END,
            Status.FAIL,
            Status.KILL,
            Status.TIMEOUT,
            Status.FAIL_START,
            Status.CRASH,
            Status.READY,
        }
    ),
    Status.START: frozenset({Status.END, Status.FAIL, Status.KILL, Status.TIMEOUT, Status.CRASH}),
    Status.END: frozenset(WAITING),
    Status.FAIL: frozenset(WAITING),
    Status.KILL: frozenset(WAITING),
    Status.TIMEOUT: frozenset(WAITING),
    Status.FAIL_START: frozenset(WAITING),
    Status.CRASH: frozenset(
        WAITING | {Status.START, Status.END, Status.FAIL, Status.KILL, Status.TIMEOUT}
    ),
    Status.SKIP: frozenset(WAITING),
}


def sources_of(target: Status) -> frozenset[Status]:
    """All states from which ``target`` may be reached."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)


def check_transition(old: Status, new: Status) -> None:
    """Raise :class:`TransitionError` unless ``old → new`` is in the table."""
    if new not in TRANSITIONS[old]:
        raise TransitionError(f"a job in state {old} cannot become {new}")


def utc_iso(epoch: float | None) -> str | None:
    """``epoch`` seconds as RFC 3339 in UTC, whole seconds, ``Z``
    (``2024-05-01T12:00:05Z``: what jq's ``fromdate`` reads); ``None``
    stays ``None``."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


LOCAL_HOST_NAMES = frozenset({"localhost", "local"})
#: the name under which this machine is stored as a host
LOCALHOST = "localhost"


@dataclass(frozen=True, slots=True)
class Queue:
    """A named, ordered set of jobs and the folder their directories live in."""

    id: int
    name: str
    experiment: str
    created: float
    #: launch nothing new (running jobs go on)
    paused: bool = False
    #: for jobs that set none themselves
    default_timeout: float | None = None
    default_retries: int | None = None
    #: the policy ``fifo_multi`` uses when a run names none (None: sequential)
    policy: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> Self:
        values = {f.name: row[f.name] for f in fields(cls)}
        values["paused"] = bool(values["paused"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a user asks for when adding a job; everything but the name is
    shared by every job a name pattern expands to."""

    command: str
    shell: str = "bash"
    directory: str | None = None
    input: str | None = None
    output: str | None = None
    log: str | None = None
    gpu: str | None = None
    pyenv: str | None = None
    user: str | None = None
    host: str | None = None
    timeout: float | None = None
    status: Status | None = None
    #: how many GPUs the scheduler should give the job (``--gpus=N``)
    gpus: int | None = None
    #: how many times to rerun a failed attempt
    retries: int | None = None
    #: names of jobs of the queue that must end well first (``--after``)
    after: tuple[str, ...] = ()
    #: the sweep parameters of the job, (name, value text) in order
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Job:
    """One job as the store holds it."""

    id: int
    queue: str
    name: str
    #: what the name pattern gave this job (``07`` for ``job07``)
    index: str
    command: str
    shell: str
    directory: str | None
    input: str | None
    output: str
    log: str
    gpu: str | None
    pyenv: str | None
    user: str | None
    host: str | None
    timeout: float | None
    status: Status
    exit_code: int | None
    pid: int | None
    #: an opaque token of the job process's start time: guards against pid reuse
    pstart: str | None
    attempts: int
    submitted: float
    started: float | None
    ended: float | None
    error: str | None
    experiment: str = field(default="")
    #: how many GPUs the job asked for; the scheduler picks their ids
    gpus: int | None = None
    #: the scheduler chose ``host`` (fifo_multi); a reset forgets it
    placed: bool = False
    #: the run that claimed the job's current attempt
    run_id: int | None = None
    #: how many times a failed attempt is rerun (None: the queue's default)
    retries: int | None = None
    #: as whom, and at which address and port, the current attempt ran (as
    #: resolved when its host was reached): kill, logs, reset and delete
    #: reach the host so again
    run_user: str | None = None
    run_address: str | None = None
    run_port: int | None = None
    #: the signal that ended the command, when one did
    signal: int | None = None
    #: the job's id on a host that queues jobs itself (a Slurm job id such as
    #: ``1234_7``), for the current attempt
    remote_id: str | None = None
    #: that host's word on the job, as last seen (``PENDING (Priority)``)
    remote_state: str | None = None
    #: the sweep parameters it was made with, (name, value text) in order;
    #: its command sees each as ``MESHQ_PARAM_<NAME>``
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_row(cls, row: Any) -> Self:
        """A job from a row whose columns are :data:`JOB_FIELDS`, in that
        order (positional: a scheduler reads a few rows per job it runs,
        and this is twice as fast as by name)."""
        values = list(row)
        values[_STATUS_AT] = Status(values[_STATUS_AT])
        values[_PLACED_AT] = bool(values[_PLACED_AT])
        values[_PARAMS_AT] = params_from_text(values[_PARAMS_AT])
        return cls(*values)

    def evolve(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (a :class:`TypeError` names a
        field a job does not have)."""
        # dataclasses.replace checks every field's kind on each call: a run
        # evolves each job twice, and this is twice as fast
        values = [changes.pop(n) if n in changes else getattr(self, n) for n in JOB_FIELDS]
        if changes:
            raise TypeError(f"a job has no field(s) {sorted(changes)}")
        return type(self)(*values)

    @property
    def is_local(self) -> bool:
        return self.host in LOCAL_HOST_NAMES

    @property
    def err_file(self) -> str:
        return f"{self.name}.err"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view: times as ISO 8601 strings in UTC."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["status"] = self.status.value
        for key in ("submitted", "started", "ended"):
            out[key] = utc_iso(out[key])
        out["params"] = dict(self.params)
        out.pop("id")
        return out

    @property
    def environment(self) -> tuple[tuple[str, str], ...]:
        """What its command sees beside meshq's own variables: each sweep
        parameter as ``MESHQ_PARAM_<NAME>`` (the name in upper case)."""
        return tuple((param_variable(name), value) for name, value in self.params)


def param_variable(name: str) -> str:
    """The environment variable a sweep parameter reaches its command as."""
    return f"MESHQ_PARAM_{name.upper()}"


def params_to_text(params: tuple[tuple[str, str], ...]) -> str | None:
    """Sweep parameters as the store keeps them: a JSON object, in order."""
    import json

    return json.dumps(dict(params), ensure_ascii=False) if params else None


def params_from_text(text: str | None) -> tuple[tuple[str, str], ...]:
    """The sweep parameters the store kept (see :func:`params_to_text`)."""
    if not text:
        return ()
    import json

    value = json.loads(text)
    return tuple((str(k), str(v)) for k, v in value.items()) if isinstance(value, dict) else ()


#: a job's fields, in the order :meth:`Job.from_row` reads them
JOB_FIELDS = tuple(f.name for f in fields(Job))
_STATUS_AT = JOB_FIELDS.index("status")
_PLACED_AT = JOB_FIELDS.index("placed")
_PARAMS_AT = JOB_FIELDS.index("params")


class HostKind(enum.StrEnum):
    """How meshq reaches a host. A ``str``: ``HostKind.SLURM == "slurm"``.

    Example: ``mq.add_hosts("hpc", kind=HostKind.SLURM, login="me@login1")``
    """

    #: this machine: jobs are subprocesses
    LOCAL = "local"
    #: any host ``ssh`` reaches
    SSH = "ssh"
    #: a Slurm cluster: jobs are submitted with ``sbatch`` on its login node
    SLURM = "slurm"

    @property
    def cluster(self) -> bool:
        """The host is a cluster with a scheduler of its own: it gives out
        GPUs itself (``--gpus=N`` asks it for N; no ids are held by meshq),
        and its ``--max_jobs_allowed`` caps the jobs queued there in every
        run, ``fifo`` included."""
        return self is HostKind.SLURM

    @classmethod
    def parse(cls, text: str) -> HostKind:
        """The kind called ``text``; a :class:`UsageError` naming the kinds
        otherwise (an unknown kind is never taken for SSH)."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            kinds = ", ".join(k.value for k in cls)
            raise UsageError(f"unknown host kind {text!r}: use one of {kinds}") from None


class HostStatus(enum.StrEnum):
    """Whether the scheduler may use a host.

    Example: ``[h.name for h in mq.hosts() if h.status is HostStatus.DOWN]``
    """

    #: in use
    ACTIVE = "active"
    #: could not be reached at its last probe; probed again now and then
    DOWN = "down"
    #: taken out of use by the user (``meshq hosts disable``)
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class Host:
    """A host of the inventory: where it is, and what it offers."""

    name: str
    kind: HostKind
    address: str | None
    user: str | None
    port: int | None
    max_jobs: int
    cpus: int | None
    #: the GPU ids jobs may be given, in order (empty: none declared)
    gpus: tuple[str, ...]
    pyenv: str | None
    status: HostStatus
    last_probe: float | None
    last_error: str | None
    check_host_key: bool = True
    #: settings of its kind, as (key, value) pairs in the order given (a
    #: Slurm cluster's partition, account, qos and sbatch options)
    options: tuple[tuple[str, str], ...] = ()
    #: what the host said of itself at its last probe (a cluster's
    #: partitions, nodes and GPUs)
    info: str | None = None

    @property
    def paths_are_local(self) -> bool:
        """Jobs there see this machine's paths: this machine itself, or a
        cluster whose login node it is (``--login=local``, no address)."""
        return self.kind is HostKind.LOCAL or (self.kind.cluster and self.address is None)

    def option(self, key: str) -> str | None:
        """The last value given for ``key`` among :attr:`options`."""
        found = [v for k, v in self.options if k == key]
        return found[-1] if found else None

    def options_of(self, key: str) -> tuple[str, ...]:
        """Every value given for ``key``, in order."""
        return tuple(v for k, v in self.options if k == key)

    @classmethod
    def from_row(cls, row: Any) -> Self:
        options = json.loads(row["options"]) if row["options"] else []
        return cls(
            name=row["name"],
            kind=HostKind.parse(row["kind"]),
            address=row["address"],
            user=row["user"],
            port=row["port"],
            max_jobs=row["max_jobs"],
            cpus=row["cpus"],
            gpus=tuple(g for g in (row["gpus"] or "").split(",") if g),
            pyenv=row["pyenv"],
            status=HostStatus(row["status"]),
            last_probe=row["last_probe"],
            last_error=row["last_error"],
            check_host_key=bool(row["check_host_key"]),
            options=tuple((str(k), str(v)) for k, v in options),
            info=row["info"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "address": self.address,
            "user": self.user,
            "port": self.port,
            "max_jobs": self.max_jobs,
            "cpus": self.cpus,
            "gpus": ",".join(self.gpus),
            "pyenv": self.pyenv,
            "status": self.status.value,
            "last_probe": utc_iso(self.last_probe),
            "last_error": self.last_error,
            "check_host_key": self.check_host_key,
            "options": " ".join(f"{k}={v}" for k, v in self.options) or None,
            "info": self.info,
        }


@dataclass(frozen=True, slots=True)
class Identity:
    """Where and as whom a host runs jobs, as resolved when it was reached:
    what a later kill, logs, reset or delete of those jobs must use."""

    user: str | None
    #: the address it answered on (display only: hosts are reached by name)
    address: str | None = None
    port: int | None = None
    #: the host's home folder, which ``~/…`` paths mean there
    home: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One line of a job's append-only history."""

    time: float
    old: Status | None
    new: Status
    attempt: int
    detail: str | None
    host: str | None = None
    exit_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": utc_iso(self.time),
            "old": self.old.value if self.old else None,
            "new": self.new.value,
            "attempt": self.attempt,
            "host": self.host,
            "exit_code": self.exit_code,
            "detail": self.detail,
        }
