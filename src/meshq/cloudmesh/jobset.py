"""The older seed's jobset file, and its job spec files (``job add FILE``).

A jobset, as ``cms job template`` writes one::

    cloudmesh:
      default:
        user: username
      jobset:
        hosts:
          localhost: {name: localhost, ip: localhost, cpus: '2', status: free,
                      job_counter: '0', max_jobs_allowed: '1'}
        scheduler:
          policy: sequential
        jobs:
          ls_j: {name: ls_j, directory: ., ip: localhost, input: ./data,
                 output: ./output/ls_j, status: ready, gpu: ' ', user: username,
                 arguments: -lisa, executable: ls, shell: bash}

meshq adds ``cloudmesh.jobset.meshq`` (the queue's name, experiment folder,
default timeout and retries, paused) and, per job, its own fields when set
(``timeout``, ``retries``, ``after``, …): the seed ignores keys it does not
read, and meshq reads them back. A job spec file is the ``jobs`` mapping
alone (or a whole jobset).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from meshq.cloudmesh import files
from meshq.errors import UsageError

_TOP = ("cloudmesh",)
_CLOUDMESH = ("default", "jobset")
_DEFAULT = ("user",)
_JOBSET = ("hosts", "scheduler", "jobs", "meshq")
_SCHEDULER = ("policy",)
#: meshq's queue settings in a jobset, and the queue fields they are
_MESHQ = {
    "queue": None,
    "experiment": None,
    "timeout": "default_timeout",
    "retries": "default_retries",
    "paused": "paused",
}


def is_jobset(data: Any) -> bool:
    """Whether a parsed YAML document is a jobset (``cloudmesh:`` at its top)."""
    return isinstance(data, dict) and "cloudmesh" in data


def read(where: str, data: Any) -> files.Bundle:
    """The queue, hosts and jobs of a parsed jobset document."""
    top = files.mapping(where, data, "the file")
    files.check_fields(where, top, _TOP)
    cloudmesh = files.mapping(where, top.get("cloudmesh"), "cloudmesh")
    files.check_fields(f"{where}: cloudmesh", cloudmesh, _CLOUDMESH)
    default = files.mapping(where, cloudmesh.get("default"), "cloudmesh.default")
    files.check_fields(f"{where}: cloudmesh.default", default, _DEFAULT)
    jobset = files.mapping(where, cloudmesh.get("jobset"), "cloudmesh.jobset")
    files.check_fields(f"{where}: cloudmesh.jobset", jobset, _JOBSET)
    scheduler = files.mapping(where, jobset.get("scheduler"), "cloudmesh.jobset.scheduler")
    files.check_fields(f"{where}: cloudmesh.jobset.scheduler", scheduler, _SCHEDULER)
    meshq = files.mapping(where, jobset.get("meshq"), "cloudmesh.jobset.meshq")
    files.check_fields(f"{where}: cloudmesh.jobset.meshq", meshq, _MESHQ)
    bundle = files.Bundle(
        kind="jobset",
        name=files.scalar(where, "meshq.queue", meshq.get("queue")),
        experiment=files.scalar(where, "meshq.experiment", meshq.get("experiment")),
        policy=files.text_or_none(files.scalar(where, "policy", scheduler.get("policy"))),
        hosts=files.read_hosts(f"{where}: cloudmesh.jobset.hosts", jobset.get("hosts")),
        jobs=files.read_jobs(where, jobset.get("jobs"), "jobset"),
    )
    for key, setting in _MESHQ.items():
        value = files.scalar(where, f"meshq.{key}", meshq.get(key))
        if setting is not None and value is not None:
            bundle.settings[setting] = value
    user = files.scalar(where, "cloudmesh.default.user", default.get("user"))
    if user is not None:
        bundle.extra["default_user"] = user
    return bundle


def read_spec(where: str, data: Any) -> files.Bundle:
    """The jobs of a job spec file (``job add FILE``): a name-keyed mapping
    of jobs, or a whole jobset."""
    if is_jobset(data):
        return read(where, data)
    if not isinstance(data, dict) or not data:
        raise UsageError(
            f"{where}: expected jobs by name (ls_j: {{executable: ls, ...}}) or a jobset "
            "(cloudmesh: jobset: ...)"
        )
    return files.Bundle(kind="jobs", jobs=files.read_jobs(where, data, "jobs"))


def job_entry(
    job: Mapping[str, Any],
    extra: Mapping[str, Any],
    after: list[str],
    *,
    ip: str | None,
    submitted_to: str | None,
    status: str,
) -> dict[str, Any]:
    """One job (``Job.to_dict()``) as a jobset writes it: the seed's fields
    in its order, with ``status`` in its words, then meshq's that are set,
    then the fields kept from the file it came from."""
    executable, arguments = files.split_command(job["command"], extra)
    out: dict[str, Any] = {"name": extra.get("name", job["name"])}
    if job["directory"] is not None:
        out["directory"] = job["directory"]
    if ip is not None:
        out["ip"] = ip
    if job["input"] is not None:
        out["input"] = job["input"]
    out["output"] = job["output"]
    out["status"] = status
    out["gpu"] = job["gpu"] if job["gpu"] and job["gpus"] is None else ""
    if job["user"]:
        out["user"] = job["user"]
    out["arguments"] = arguments
    out["executable"] = executable
    out["shell"] = job["shell"]
    if submitted_to is not None:
        out["submitted_to_ip"] = submitted_to
    out.update(files.meshq_job_fields(job, after))
    for key, value in extra.items():
        if key not in out and key not in ("executable", "arguments", "ip", "submitted_to_ip"):
            out[key] = value
    return out


def document(
    *,
    default_user: str | None,
    hosts: Sequence[tuple[str, dict[str, Any]]],
    policy: str,
    jobs: Sequence[tuple[str, dict[str, Any]]],
    meshq: Mapping[str, Any],
) -> dict[str, Any]:
    """A whole jobset document, ready for :func:`yaml.safe_dump`."""
    jobset: dict[str, Any] = {
        "hosts": dict(hosts),
        "scheduler": {"policy": policy},
        "jobs": dict(jobs),
        "meshq": {k: v for k, v in meshq.items() if v is not None},
    }
    cloudmesh: dict[str, Any] = {}
    if default_user is not None:
        cloudmesh["default"] = {"user": default_user}
    cloudmesh["jobset"] = jobset
    return {"cloudmesh": cloudmesh}
