"""The newer seed's files: ``EXPERIMENT/<queue>-queue.yaml`` and
``<cluster>-cluster.yaml``.

The newer seed keeps each as a mapping by name (jobs, or hosts); its
``to_dict`` wraps that in ``config`` (name, experiment, filename) and
``jobs`` or ``hosts``. meshq reads both, and writes a queue file in the
wrapped form, whose ``config`` also carries meshq's queue settings (policy,
timeout, retries, paused), and a cluster file as the bare mapping the seed
saves::

    config: {name: a, experiment: /home/me/proj/experiment,
             filename: /home/me/proj/experiment/a-queue.yaml, policy: smart}
    jobs:
      job1: {name: job1, directory: /home/me/proj/experiment, input: job1/input,
             output: job1.out, log: job1.log, status: ready, gpu: '0',
             arguments: '10', executable: sleep, command: sleep 10, shell: bash,
             host: red, user: pi}

In a queue file a job's ``directory`` is the folder that holds the job
folders (the newer seed runs a job in ``DIRECTORY/NAME``); meshq's working
directory of a job is its own field ``workdir``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from meshq.cloudmesh import files
from meshq.errors import UsageError
from meshq.names import QUEUE_FILE_SUFFIX, queue_name

QUEUE_SUFFIX = QUEUE_FILE_SUFFIX
CLUSTER_SUFFIX = "-cluster.yaml"
_CONFIG = ("name", "experiment", "filename", "policy", "timeout", "retries", "paused")
_SETTINGS = {"timeout": "default_timeout", "retries": "default_retries", "paused": "paused"}
#: fields that tell a host apart from a job in a bare mapping
_HOST_ONLY = frozenset({"max_jobs_allowed", "job_counter", "cores", "threads", "cpus", "cpu_count"})


def looks_like(data: Any, path: str) -> files.Kind | None:
    """``queue`` or ``cluster`` when a parsed document is one of these files
    (by its file name, else by its shape), ``jobs`` for any other mapping
    of names to jobs (the older seed's job spec), else ``None``."""
    base = Path(path).name
    if base.endswith(QUEUE_SUFFIX):
        return "queue"
    if base.endswith(CLUSTER_SUFFIX):
        return "cluster"
    if not isinstance(data, dict) or not data:
        return None
    if "config" in data and ("jobs" in data or "hosts" in data):
        return "cluster" if "hosts" in data else "queue"
    entries = [v for v in data.values() if isinstance(v, dict)]
    if entries and len(entries) == len(data):
        if all(_HOST_ONLY & set(e) for e in entries):
            return "cluster"
        return "jobs"
    return None


def _unwrap(where: str, data: Any, key: str) -> tuple[dict[str, Any], Any]:
    """``(config, entries)`` of a file, wrapped (``config`` + ``key``) or bare."""
    top = files.mapping(where, data, "the file")
    if "config" in top:
        files.check_fields(where, top, ("config", key))
        config = files.mapping(where, top["config"], "config")
        files.check_fields(f"{where}: config", config, _CONFIG)
        return config, top.get(key)
    return {}, top


def read_queue(where: str, path: str, data: Any) -> files.Bundle:
    """The queue and jobs of a parsed ``<queue>-queue.yaml``."""
    config, entries = _unwrap(where, data, "jobs")
    values = {k: files.scalar(where, f"config.{k}", v) for k, v in config.items()}
    name = values.get("name")
    if name is None:
        base = Path(path).name
        name = queue_name(base) if base.endswith(QUEUE_SUFFIX) else files.stem(base)
    bundle = files.Bundle(
        kind="queue",
        name=name,
        # the seed saves EXPERIMENT/<queue>-queue.yaml: a bare file's folder
        # is its experiment
        experiment=values.get("experiment") or str(Path(os.path.abspath(path)).parent),
        policy=files.text_or_none(values.get("policy")),
        jobs=files.read_jobs(where, entries, "queue"),
    )
    for key, setting in _SETTINGS.items():
        if values.get(key) is not None:
            bundle.settings[setting] = values[key]  # type: ignore[assignment]
    if values.get("filename") is not None:
        bundle.extra["filename"] = config["filename"]
    return bundle


def read_cluster(where: str, data: Any) -> files.Bundle:
    """The hosts of a parsed ``<cluster>-cluster.yaml``. Its ``config``, if
    any, names only the file; meshq's inventory is one for every queue."""
    config, entries = _unwrap(where, data, "hosts")
    if not entries:
        raise UsageError(f"{where} has no hosts: add some under their names")
    bundle = files.Bundle(kind="cluster", hosts=files.read_hosts(where, entries))
    if config:
        bundle.extra["config"] = config
    return bundle


def job_entry(
    job: Mapping[str, Any],
    extra: Mapping[str, Any],
    after: list[str],
    *,
    experiment: str,
) -> dict[str, Any]:
    """One job (``Job.to_dict()``) as the newer seed's queue file writes it,
    in meshq's state words, then meshq's fields that are set, then those
    kept from the file it came from."""
    executable, arguments = files.split_command(job["command"], extra)
    out: dict[str, Any] = {
        "name": extra.get("name", job["name"]),
        "directory": extra.get("directory", experiment),
    }
    if job["input"] is not None:
        out["input"] = job["input"]
    out["output"] = job["output"]
    out["log"] = job["log"]
    out["status"] = job["status"]
    out["gpu"] = job["gpu"] if job["gpu"] and job["gpus"] is None else ""
    out["arguments"] = arguments
    out["executable"] = executable
    out["command"] = job["command"]
    out["shell"] = job["shell"]
    if job["host"] is not None:
        out["host"] = job["host"]
        if job["placed"]:
            out["placed"] = "yes"
    if job["user"]:
        out["user"] = job["user"]
    if job["directory"] is not None:
        out["workdir"] = job["directory"]
    for key, value in files.meshq_job_fields(job, after).items():
        if key != "log":
            out[key] = value
    for key, value in extra.items():
        if key not in out and key not in ("executable", "arguments", "directory"):
            out[key] = value
    return out


def queue_document(
    config: Mapping[str, Any], jobs: Sequence[tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    """A whole queue file, ready for :func:`yaml.safe_dump`."""
    return {"config": {k: v for k, v in config.items() if v is not None}, "jobs": dict(jobs)}


def cluster_document(hosts: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """A whole cluster file: the hosts by name, as the seed saves them."""
    return dict(hosts)
