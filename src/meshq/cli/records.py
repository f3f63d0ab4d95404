"""Jobs, hosts, queues and events as the CLI prints them: typed records
whose field names are the flags' names (``max_jobs_allowed``, ``gpu``,
``timeout``), and the table columns each command shows, most useful first.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from meshq.cli.render import Column, Seconds, when
from meshq.model import ACTIVE, Event, Host, Identity, Job, Queue, Status
from meshq.paths import JobPaths

if TYPE_CHECKING:
    from meshq.attempts import AttemptRecord

#: ``queue list``: at 60 columns name, status, exit, host, runtime and a cut
#: command; gpu, started, tries and ended join as the terminal widens
JOB_COLUMNS = (
    Column("name", priority=0),
    Column("status", priority=1),
    Column("exit_code", "exit", priority=2, right=True),
    Column("host", priority=3),
    Column("runtime", priority=4, right=True),
    Column("command", priority=5, wide=True),
    Column("gpu", priority=6),
    Column("started", priority=7),
    Column("attempts", "tries", priority=8, right=True),
    Column("ended", priority=9),
)
#: a job on a host that queues jobs itself (a Slurm cluster): its id and
#: state there (``1234_7 PENDING (Priority)``), shown when any job has one
REMOTE_COLUMN = Column("remote", priority=3)

HOST_COLUMNS = (
    Column("name", priority=0),
    Column("kind", priority=4),
    Column("status", priority=1),
    Column("slots_used", "used", priority=2, right=True),
    Column("slots_free", "free", priority=3, right=True),
    Column("gpu_free", "gpus free", priority=4),
    Column("gpu_used", "gpus used", priority=5),
    Column("ip", priority=6),
    Column("user", priority=7),
    Column("last_probe", "probed", priority=8),
    Column("port", priority=9, right=True),
    Column("last_error", "error", priority=10, wide=True),
    Column("info", priority=11, wide=True),
)

EVENT_COLUMNS = (
    Column("time", priority=0),
    Column("new", priority=1),
    Column("old", priority=2),
    Column("attempt", priority=4, right=True),
    Column("host", priority=3),
    Column("exit_code", "exit", priority=5, right=True),
    Column("detail", priority=6, wide=True),
)

#: ``queue show``'s table of a job's attempts (when it has more than one)
ATTEMPT_COLUMNS = (
    Column("attempt", priority=0, right=True),
    Column("status", priority=1),
    Column("exit_code", "exit", priority=2, right=True),
    Column("host", priority=3),
    Column("runtime", priority=4, right=True),
    Column("started", priority=6),
    Column("stdout", priority=5, wide=True),
)

#: fields a person does not need in ``queue show``'s table (JSON has them)
_SHOW_HIDDEN = frozenset({"history", "pstart", "placed", "run_id", "index", "attempt_list"})


def runtime(job: Job, now: float | None = None) -> Seconds | None:
    """How long the job's latest attempt ran (runs, for a running job)."""
    if job.started is None:
        return None
    if job.ended is not None and job.status not in ACTIVE:
        return Seconds(max(job.ended - job.started, 0.0))
    if job.status in ACTIVE:
        return Seconds(max((now or time.time()) - job.started, 0.0))
    return None


def job_record(job: Job, now: float | None = None) -> dict[str, Any]:
    """Every field of a job a user or a script needs, typed: times as
    datetimes, ``timeout`` and ``runtime`` in seconds, ``gpu`` a list of ids."""
    out = job.to_dict()
    out.pop("pstart", None)  # an opaque guard against pid reuse, not a fact
    out["gpu"] = job.gpu.split(",") if job.gpu else None
    out["timeout"] = None if job.timeout is None else Seconds(job.timeout)
    out["runtime"] = runtime(job, now)
    for key in ("submitted", "started", "ended"):
        out[key] = when(getattr(job, key))
    out["remote"] = " ".join(p for p in (job.remote_id, job.remote_state) if p) or None
    return out


def show_record(
    job: Job,
    history: list[Event],
    after: list[tuple[str, Status]],
    files: JobPaths | None = None,
    attempts: Sequence[tuple[AttemptRecord, JobPaths | None]] = (),
) -> dict[str, Any]:
    """``queue show``: the job's record, what it waits for, where its files
    are on its host (``files``: absolute or ``~/…`` there), each attempt
    with where its files are kept, its history."""
    return {
        **job_record(job),
        "after": [{"name": n, "status": s.value} for n, s in after],
        "files": files.to_dict() if files is not None else None,
        "attempt_list": [attempt_record(rec, where) for rec, where in attempts],
        "history": [event_record(e) for e in history],
    }


def attempt_record(rec: AttemptRecord, where: JobPaths | None) -> dict[str, Any]:
    """One attempt of a job: where and how it ran, and where its files are."""
    ran = None
    if rec.started is not None and rec.ended is not None:
        ran = Seconds(max(rec.ended - rec.started, 0.0))
    return {
        "attempt": rec.attempt,
        "host": rec.host,
        "status": rec.status.value,
        "exit_code": rec.exit_code,
        "started": when(rec.started),
        "ended": when(rec.ended),
        "runtime": ran,
        "stdout": where.stdout if where else None,
        "stderr": where.stderr if where else None,
        "log": where.log if where else None,
    }


def show_lines(record: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The fields ``queue show`` lists for people, in record order."""
    out: list[tuple[str, Any]] = []
    for key, value in record.items():
        if key in _SHOW_HIDDEN:
            continue
        if key == "files":
            # one line per file, named as the JSON names it
            out += [(part, path) for part, path in (value or {}).items() if path is not None]
        elif key == "after":
            out.append((key, ", ".join(f"{a['name']} ({a['status']})" for a in value)))
        else:
            out.append((key, value))
    return out


def event_record(event: Event) -> dict[str, Any]:
    return {**event.to_dict(), "time": when(event.time)}


def host_record(
    host: Host, slots_used: int | None = None, gpus_held: set[str] | None = None
) -> dict[str, Any]:
    """A host as ``hosts add`` names its flags: ``ip``, ``max_jobs_allowed``,
    ``gpu`` (the ids), ``gpus`` (how many); with usage, when given."""
    out: dict[str, Any] = {
        "name": host.name,
        "kind": host.kind,
        "status": host.status.value,
        "ip": host.address,
        "user": host.user,
        "port": host.port,
        "max_jobs_allowed": host.max_jobs,
        "cpus": host.cpus,
        "gpu": list(host.gpus),
        "gpus": len(host.gpus),
        "pyenv": host.pyenv,
        "host_key_check": host.check_host_key,
        "last_probe": when(host.last_probe),
        "last_error": host.last_error,
        "info": host.info,
    }
    if host.kind.cluster:
        out["options"] = [list(o) for o in host.options]
    if slots_used is not None:
        held = gpus_held or set()
        out.update(
            slots_used=slots_used,
            slots_free=max(host.max_jobs - slots_used, 0),
            gpu_used=[g for g in host.gpus if g in held],
            gpu_free=[g for g in host.gpus if g not in held],
        )
    return out


#: the note under ``hosts list`` when a value shown came from the ssh config
RESOLVED_NOTE = "* not given to meshq: as ssh's config resolves it"


def with_reached(record: dict[str, Any], reached: Identity | None) -> dict[str, Any]:
    """``record`` (a :func:`host_record`) with ``resolved``: the ``ip``,
    ``user`` and ``port`` a connection uses (``None`` for this machine)."""
    record["resolved"] = (
        None
        if reached is None
        else {"ip": reached.address, "user": reached.user, "port": reached.port}
    )
    return record


def reached_cells(record: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """A host's row for the table: ``ip``, ``user`` and ``port`` as a
    connection uses them, those meshq was not given marked ``*``; and the
    keys of those marked."""
    resolved = record.get("resolved") or {}
    row, marked = dict(record), set()
    for key in resolved:
        value = resolved[key]
        if value is not None and value != record[key]:
            row[key] = f"{value}*"
            marked.add(key)
    return row, marked


def queue_record(queue: Queue, counts: Mapping[Status, int] | None = None) -> dict[str, Any]:
    """A queue, its defaults under the flags' names, and (when given) how
    many of its jobs are in each state."""
    out: dict[str, Any] = {"queue": queue.name}
    if counts is not None:
        out["jobs"] = sum(counts.values())
        out.update({s.value: counts.get(s, 0) for s in Status})
    out.update(
        experiment=queue.experiment,
        paused=queue.paused,
        timeout=None if queue.default_timeout is None else Seconds(queue.default_timeout),
        retries=queue.default_retries,
        policy=queue.policy,
        created=when(queue.created),
    )
    return out
