"""A job record for tests of pure logic (placement, reconciling, the slot
index): every field a plain default, the ones a test cares about given."""

from __future__ import annotations

from typing import Any

from meshq.model import Job, Status

#: the fields every test job shares unless a test says otherwise
_DEFAULTS: dict[str, Any] = {
    "id": 1,
    "queue": "q",
    "name": "j",
    "index": "1",
    "command": "true",
    "shell": "bash",
    "directory": None,
    "input": None,
    "output": "j.out",
    "log": "j.log",
    "gpu": None,
    "pyenv": None,
    "user": None,
    "host": None,
    "timeout": None,
    "status": Status.READY,
    "exit_code": None,
    "pid": None,
    "pstart": None,
    "attempts": 0,
    "submitted": 0.0,
    "started": None,
    "ended": None,
    "error": None,
}


def make_job(**fields: Any) -> Job:
    """A :class:`Job` with ``fields`` over plain defaults."""
    return Job(**{**_DEFAULTS, **fields})
