"""What the CLI acceptance tests (``test_cli*.py``) share: the fields of a
job as ``-o json`` shows it, where a job's files are, and a ``queue run
fifo`` with a time limit."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.acceptance.conftest import Meshq

JOB_FIELDS = {
    "name",
    "status",
    "host",
    "user",
    "command",
    "exit_code",
    "pid",
    "attempts",
    "submitted",
    "started",
    "ended",
    "error",
    "directory",
}


def job_dir(mq: Meshq, queue: str, name: str) -> Path:
    return mq.experiment() / queue / name


def out_of(mq: Meshq, queue: str, name: str) -> str:
    return (job_dir(mq, queue, name) / f"{name}.out").read_text()


def names_of(jobs: list[dict[str, Any]]) -> list[str]:
    return [j["name"] for j in jobs]


def run_fifo(
    mq: Meshq, queue: str, n: int = 4, *, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    return mq("queue", "run", "fifo", queue, f"--max_parallel={n}", timeout=timeout)


def assert_utc_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), f"{value!r} is not in UTC"
    return parsed
