"""meshq: a job queue and scheduler for shell jobs on this machine and on
any host that ssh reaches. See :class:`meshq.api.Meshq` for the Python API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Job", "Meshq", "MeshqError", "RunResult", "Status"]

if TYPE_CHECKING:
    from meshq.api import Meshq, RunResult
    from meshq.errors import MeshqError
    from meshq.model import Job, Status


def __getattr__(name: str) -> Any:
    # imported on first use, so that ``import meshq`` (and the CLI) stay light
    if name in ("Meshq", "RunResult"):
        from meshq import api

        return getattr(api, name)
    if name == "MeshqError":
        from meshq.errors import MeshqError

        return MeshqError
    if name in ("Job", "Status"):
        from meshq import model

        return getattr(model, name)
    raise AttributeError(name)
