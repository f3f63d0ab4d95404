"""What every seed file is read into and written from: plain records of a
queue's jobs and of hosts, with the fields meshq keeps without using them.

Reading is strict in one way and lenient in another: a field neither the
seed nor meshq knows is refused (one line naming it, with the closest known
field), never dropped; a field the seed knows but meshq does not use
(``submitted_to_ip``, ``job_counter``, ``scriptname``, …) is kept in the
record's ``extra`` and written back on export, unchanged.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from meshq.errors import UsageError, shown
from meshq.model import LOCAL_HOST_NAMES

Kind = Literal["jobset", "jobs", "queue", "cluster"]

#: job fields meshq adds to either format: written when set, read back
MESHQ_JOB_FIELDS = (
    "index",
    "pyenv",
    "log",
    "timeout",
    "retries",
    "gpus",
    "after",
    "exit_code",
    "error",
)
#: host fields meshq adds to either format
MESHQ_HOST_FIELDS = ("cpus", "port", "pyenv", "host_key_check")

#: the hosts of a jobset (older and newer seed) and of a cluster file
HOST_FIELDS = frozenset(
    {
        "name",
        "user",
        "ip",
        "status",
        "job_counter",
        "max_jobs_allowed",
        "cpu_count",
        "cores",
        "threads",
        "gpus",
        "probe_status",
        "probe_time",
        "ping_status",
        "ping_time",
        *MESHQ_HOST_FIELDS,
    }
)
#: host fields kept as written (meshq has its own view of them). Not
#: ``job_counter``: like a job's status it is state, the number of jobs
#: running there, which meshq counts itself and writes on export
HOST_KEPT = frozenset(
    {
        "status",
        "cpu_count",
        "cores",
        "threads",
        "probe_status",
        "probe_time",
        "ping_status",
        "ping_time",
    }
)
#: host states of the seed that take a host out of use
HOST_OFF = frozenset({"inactive", "disabled"})


@dataclass(slots=True)
class HostRecord:
    """A host as a seed file describes it (values as the text written)."""

    name: str
    ip: str | None = None
    user: str | None = None
    port: str | None = None
    max_jobs: str | None = None
    cpus: str | None = None
    gpus: str | None = None
    pyenv: str | None = None
    check_host_key: bool = True
    disabled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class JobRecord:
    """A job as a seed file describes it (values as the text written).

    ``fields`` are :func:`meshq.validate.job_spec`'s (shell, directory,
    input, output, log, gpu, pyenv, user, timeout, retries, gpus, after);
    ``ip`` is the older seed's wish of a host, ``host`` the newer seed's.
    """

    name: str
    command: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    ip: str | None = None
    host: str | None = None
    status: str | None = None
    index: str | None = None
    exit_code: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: ``host`` is where the scheduler put the job, not where it asked to run
    placed: bool = False
    #: no working directory given where none means the job's own folder (a
    #: newer seed's queue file); elsewhere none means where it is added
    in_job_folder: bool = False


@dataclass(slots=True)
class Bundle:
    """What one seed file holds: a queue's settings, hosts and jobs."""

    kind: Kind
    #: the queue's name as the file records it (None: take it from the file name)
    name: str | None = None
    experiment: str | None = None
    policy: str | None = None
    #: default_timeout, default_retries, paused (meshq's, as text)
    settings: dict[str, str] = field(default_factory=dict)
    #: queue-level fields kept as written (the jobset's default user, …)
    extra: dict[str, Any] = field(default_factory=dict)
    hosts: list[HostRecord] = field(default_factory=list)
    jobs: list[JobRecord] = field(default_factory=list)


def stem(path: str) -> str:
    """The part of a file name before its first dot, as the seed names a
    jobset after its file (``spec.yaml`` → ``spec``)."""
    return Path(path).name.split(".")[0]


def check_fields(where: str, entry: Mapping[str, Any], known: Iterable[str]) -> None:
    """Refuse a field of ``entry`` not in ``known``, naming the closest one."""
    allowed = sorted(set(known))
    for key in entry:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(
                f"{where}: unknown field {shown(key)}{hint}: meshq knows "
                f"{', '.join(allowed)}; remove or rename it"
            )


def mapping(where: str, value: Any, what: str) -> dict[str, Any]:
    """``value`` if it is a mapping with text keys; a :class:`UsageError`
    saying what was expected otherwise. An empty value is an empty mapping."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"{where}: {what} must be a mapping of names to fields")
    for key in value:
        if not isinstance(key, str):
            raise UsageError(f"{where}: {what} has the key {shown(key)}, which is not text")
    return value


def scalar(where: str, key: str, value: Any) -> str | None:
    """A field's value as text (``None`` when empty); lists and mappings
    are refused. Numbers arrive as text already (the text loader); an
    explicitly tagged one is turned back into its text."""
    if value is None:
        return None
    if isinstance(value, dict | list):
        raise UsageError(f"{where}: {key} must be a single value, not a list or mapping")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def text_or_none(value: str | None) -> str | None:
    """``None`` for a value that is only blanks (the seed writes ``gpu: ' '``)."""
    return None if value is None or not value.strip() else value


def kept(entry: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The fields of ``entry`` among ``keys``, as written (for ``extra``)."""
    wanted = set(keys)
    return {k: v for k, v in entry.items() if k in wanted}


def read_host(where: str, key: str, entry: Mapping[str, Any]) -> HostRecord:
    """A host of a jobset or cluster file, named ``key`` in it."""
    entry = mapping(where, entry, f"host {key!r}")
    here = f"{where}: host {shown(key)}"
    check_fields(here, entry, HOST_FIELDS)
    values = {k: scalar(here, k, v) for k, v in entry.items()}
    extra = kept(entry, HOST_KEPT)
    if values.get("name") not in (None, key):
        extra["name"] = entry["name"]
    if key in LOCAL_HOST_NAMES and values.get("ip"):
        # this machine has no address in meshq; keep the one written
        extra["ip"] = entry["ip"]
    status = (values.get("status") or "").strip().lower()
    check = (values.get("host_key_check") or "yes").strip().lower()
    if check not in ("yes", "no", "true", "false"):
        raise UsageError(f"{here}: host_key_check must be yes or no")
    return HostRecord(
        name=key,
        ip=text_or_none(values.get("ip")),
        user=text_or_none(values.get("user")),
        port=text_or_none(values.get("port")),
        max_jobs=text_or_none(values.get("max_jobs_allowed")),
        # the older seed's code wrote cpu_count, its manual cpus
        cpus=text_or_none(values.get("cpus") or values.get("cpu_count")),
        gpus=text_or_none(values.get("gpus")),
        pyenv=text_or_none(values.get("pyenv")),
        check_host_key=check in ("yes", "true"),
        disabled=status in HOST_OFF,
        extra=extra,
    )


def read_hosts(where: str, value: Any) -> list[HostRecord]:
    """The hosts of a name-keyed mapping of hosts."""
    return [read_host(where, k, v) for k, v in mapping(where, value, "hosts").items()]


def write_host(host: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """A host of the inventory (``Host.to_dict()`` plus ``slots_used``), as
    the seed's files write one: its own fields first, then meshq's, then
    those kept from the file it came from."""
    local = host["kind"] == "local"
    if host["status"] == "disabled":
        status = "inactive"
    elif host["status"] == "down":
        status = "down"
    else:
        status = extra.get("status") or "free"
    out: dict[str, Any] = {
        "name": extra.get("name", host["name"]),
        "ip": host["address"] or (extra.get("ip") if local else None) or host["name"],
        "status": status,
        "job_counter": str(host.get("slots_used", 0)),
        "max_jobs_allowed": str(host["max_jobs"]),
    }
    if host["user"]:
        out["user"] = host["user"]
    if host["gpus"]:
        out["gpus"] = host["gpus"]
    if host["cpus"] is not None:
        out["cpus"] = str(host["cpus"])
    if host["port"] is not None:
        out["port"] = str(host["port"])
    if host["pyenv"]:
        out["pyenv"] = host["pyenv"]
    if not host["check_host_key"]:
        out["host_key_check"] = "no"
    for key, value in extra.items():
        if key not in out and key not in ("name", "ip"):
            out[key] = value
    return out


#: job fields of the seed's files: the older ``job`` spec and the newer
#: ``queue`` Job (a jobset written by the newer seed holds those too)
SEED_JOB_FIELDS = frozenset(
    {
        "name",
        "directory",
        "ip",
        "input",
        "output",
        "status",
        "gpu",
        "user",
        "arguments",
        "executable",
        "shell",
        "submitted_to_ip",
        "id",
        "experiment",
        "log",
        "command",
        "shell_path",
        "scriptname",
        "remote_command",
        "nohup_command",
        "pid",
        "host",
    }
)
#: what ``directory`` means: the job's working directory in a jobset (the
#: older seed runs ``cd DIRECTORY`` before the command), the folder that
#: holds the job folders in a queue file (the newer seed runs in
#: ``DIRECTORY/NAME``; meshq's working directory is then ``workdir``)
_WORKDIR_KEY: dict[Kind, str] = {"jobset": "directory", "jobs": "directory", "queue": "workdir"}
#: fields read into meshq's job spec, as the same name
_SPEC_KEYS = (
    "input",
    "output",
    "log",
    "gpu",
    "user",
    "shell",
    "pyenv",
    "timeout",
    "retries",
    "gpus",
    "after",
)
#: seed fields meshq keeps as written: it derives its own (its scripts,
#: pid and experiment) or they only record what happened elsewhere
_JOB_KEPT = frozenset(
    {
        "submitted_to_ip",
        "id",
        "experiment",
        "shell_path",
        "scriptname",
        "remote_command",
        "nohup_command",
        "pid",
        "executable",
        "arguments",
        "ip",
    }
)


def job_fields(kind: Kind) -> frozenset[str]:
    """Every field a job of a ``kind`` file may have (a queue file also says
    whether its ``host`` was the scheduler's choice: ``placed``)."""
    own = {"workdir", "placed"} if kind == "queue" else set()
    return SEED_JOB_FIELDS | set(MESHQ_JOB_FIELDS) | {_WORKDIR_KEY[kind]} | own


def read_job(where: str, key: str, entry: Any, kind: Kind) -> JobRecord:
    """A job of a jobset, job spec or queue file, named ``key`` in it."""
    here = f"{where}: job {shown(key)}"
    entry = mapping(where, entry, f"job {key!r}")
    check_fields(here, entry, job_fields(kind))
    values = {k: scalar(here, k, v) for k, v in entry.items()}
    extra = kept(entry, _JOB_KEPT)
    if kind == "queue" and "directory" in entry:
        extra["directory"] = entry["directory"]
    if values.get("name") not in (None, key):
        extra["name"] = entry["name"]
    command = text_or_none(values.get("command"))
    if command is None:
        executable = text_or_none(values.get("executable"))
        if executable is None:
            raise UsageError(f"{here} has no command: give executable (and arguments) or command")
        arguments = text_or_none(values.get("arguments"))
        command = f"{executable.strip()} {arguments.strip()}" if arguments else executable.strip()
    spec = {k: v for k in _SPEC_KEYS if (v := text_or_none(values.get(k))) is not None}
    workdir = text_or_none(values.get(_WORKDIR_KEY[kind]))
    if workdir is not None:
        spec["directory"] = workdir
    return JobRecord(
        name=key,
        command=command,
        fields=spec,
        ip=text_or_none(values.get("ip")),
        host=text_or_none(values.get("host")),
        status=text_or_none(values.get("status")),
        index=text_or_none(values.get("index")),
        exit_code=text_or_none(values.get("exit_code")),
        error=values.get("error"),
        extra=extra,
        placed=(values.get("placed") or "no").strip().lower() in ("yes", "true"),
        in_job_folder=kind == "queue" and workdir is None,
    )


def read_jobs(where: str, value: Any, kind: Kind) -> list[JobRecord]:
    """The jobs of a name-keyed mapping of jobs."""
    return [read_job(where, k, v, kind) for k, v in mapping(where, value, "jobs").items()]


def split_command(command: str, extra: Mapping[str, Any]) -> tuple[str, str]:
    """The seed's ``executable`` and ``arguments`` of a job's command: those
    the job came with when they still make its command, else the whole
    command as the executable (a shell line cannot be split reliably)."""
    executable, arguments = extra.get("executable"), extra.get("arguments")
    if isinstance(executable, str):
        joined = f"{executable.strip()} {arguments.strip()}" if arguments else executable.strip()
        if isinstance(arguments, str | None) and joined == command:
            return executable, arguments or ""
    return command, ""


def meshq_job_fields(job: Mapping[str, Any], after: list[str]) -> dict[str, Any]:
    """meshq's own fields of a job (``Job.to_dict()``), those that are set."""
    out: dict[str, Any] = {}
    if job["index"] != job["name"]:
        out["index"] = job["index"]
    if job["pyenv"]:
        out["pyenv"] = job["pyenv"]
    if job["log"] != f"{job['name']}.log":
        out["log"] = job["log"]
    for key in ("timeout", "retries", "gpus"):
        if job[key] is not None:
            out[key] = number_text(job[key])
    if after:
        out["after"] = ",".join(after)
    if job["exit_code"] is not None:
        out["exit_code"] = str(job["exit_code"])
    if job["error"]:
        out["error"] = job["error"]
    return out


def number_text(value: float | int) -> str:
    """A number as text, without a trailing ``.0``."""
    return str(int(value)) if float(value).is_integer() else str(value)
