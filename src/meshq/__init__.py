"""meshq: a job queue and scheduler for shell jobs on this machine and on
any host that ssh reaches.

The Python API: :class:`Meshq` (plain calls) and :class:`AsyncMeshq` (the
same methods as coroutines), the records they give back
(:mod:`meshq.results`), and the errors they raise (:mod:`meshq.errors`).
Names are imported on first use, so that ``import meshq`` (and the CLI)
stay light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshq.aio import AsyncMeshq
    from meshq.api import Meshq
    from meshq.errors import (
        ArgumentError,
        EnvironmentMismatch,
        HostError,
        JobFailed,
        MeshqError,
        NotFound,
        UsageError,
        WaitTimeout,
    )
    from meshq.executor import Executor
    from meshq.model import HostKind, HostStatus, Status
    from meshq.results import (
        AsyncJob,
        HostInfo,
        Job,
        JobInfo,
        Probe,
        QueueSummary,
        StateChange,
    )
    from meshq.scheduler.run import RunResult

#: each public name and the module it lives in
_HOMES = {
    "Meshq": "meshq.api",
    "AsyncMeshq": "meshq.aio",
    "Job": "meshq.results",
    "AsyncJob": "meshq.results",
    "JobInfo": "meshq.results",
    "QueueSummary": "meshq.results",
    "HostInfo": "meshq.results",
    "StateChange": "meshq.results",
    "Probe": "meshq.results",
    "RunResult": "meshq.scheduler.run",
    "Status": "meshq.model",
    "HostStatus": "meshq.model",
    "HostKind": "meshq.model",
    "MeshqError": "meshq.errors",
    "UsageError": "meshq.errors",
    "ArgumentError": "meshq.errors",
    "NotFound": "meshq.errors",
    "HostError": "meshq.errors",
    "WaitTimeout": "meshq.errors",
    "JobFailed": "meshq.errors",
    "EnvironmentMismatch": "meshq.errors",
    "Executor": "meshq.executor",
}

__all__ = [
    "ArgumentError",
    "AsyncJob",
    "AsyncMeshq",
    "EnvironmentMismatch",
    "Executor",
    "HostError",
    "HostInfo",
    "HostKind",
    "HostStatus",
    "Job",
    "JobFailed",
    "JobInfo",
    "Meshq",
    "MeshqError",
    "NotFound",
    "Probe",
    "QueueSummary",
    "RunResult",
    "StateChange",
    "Status",
    "UsageError",
    "WaitTimeout",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'meshq' has no attribute {name!r}")
    return getattr(import_module(home), name)
