"""Helpers shared by the SSH host kind's integration tests (``test_ssh_*.py``).

Those tests run meshq over real SSH hosts: real ``sshd`` servers on 127.0.0.x (see
``tests/support/sshd.py``), reached through meshq's asyncssh transport. Nothing is
mocked. Their fixtures (``mq``, ``cluster3``, ``own_cluster``) are in this package's
``conftest.py``.

A test host is another machine as far as meshq can tell: it logs in as another user
(``meshq-host``) with another home, and each queue's experiment lives under the local
home (``home_experiment``), as a user's would, so meshq must place it under the host's
home. Every host is still this machine, so the test can look: a job's files where its
host really wrote them (``SshHost.real_path``), a trace file in ``shared_dir`` (the
stand-in for a shared file system) and the job processes in ``/proc``. Each test sshd
sets ``MESHQ_TEST_HOST`` in its sessions, so a job can say which host ran it.

Waiting is always a bounded poll; where a test needs jobs to overlap, they wait on a
gate file the test creates once it has seen what it needs, never on a sleep.
"""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from meshq import paths
from meshq.model import Job
from meshq.service import Service
from tests.support import scenarios
from tests.support.sshd import SshCluster

T = TypeVar("T")

#: every SSH test module's marks (``pytestmark = SSH_TEST_MARKS``): the ``ssh`` tier, no
#: unhandled asyncio errors, and a 90 s bound per test
SSH_TEST_MARKS = [
    pytest.mark.ssh,
    pytest.mark.usefixtures("no_unhandled_async_errors"),
    pytest.mark.timeout(90),
]

#: the upper bound on any single scenario (a run, a kill, a probe, …)
SCENARIO_TIMEOUT = 60.0
#: how long a job waits for its gate before giving up (and failing with 99)
GATE_TIMEOUT_S = 30


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def run(coro: Coroutine[Any, Any, T], timeout: float = SCENARIO_TIMEOUT) -> T:
    """One scenario, bounded (see tests/support/scenarios.py)."""
    return scenarios.run(coro, timeout)


async def finish(task: Awaitable[T], what: str, timeout: float = 45.0) -> T:
    """Await a background run, bounded."""
    try:
        return await asyncio.wait_for(task, timeout)
    except TimeoutError:
        raise AssertionError(f"{what} did not finish within {timeout:g} s") from None


def q(path: Path) -> str:
    return shlex.quote(str(path))


def gate_wait(gate: Path) -> str:
    """Shell text that waits (bounded) until ``gate`` exists; exit 99 if it never does."""
    return (
        f"for ((i = 0; i < {GATE_TIMEOUT_S * 20}; i++)); do [[ -e {q(gate)} ]] && break; "
        f"sleep 0.05; done; [[ -e {q(gate)} ]] || {{ echo gate never opened >&2; exit 99; }}"
    )


def traced(
    trace: Path, *, gate: Path | None = None, stdout: str = "$MESHQ_TEST_HOST", hold: float = 0.2
) -> str:
    """A job command that appends ``start JOB HOST TIME GPUS`` and ``end JOB HOST TIME``
    lines to ``trace`` around its work, prints ``stdout``, waits for ``gate`` (if any) and
    holds its slot ``hold`` seconds more."""
    stamp = '"$MESHQ_JOB" "$MESHQ_TEST_HOST" "$EPOCHREALTIME"'
    parts = [
        f'printf "start %s %s %s %s\\n" {stamp} "${{CUDA_VISIBLE_DEVICES:--}}" >> {q(trace)}',
        f'echo "{stdout}"',
    ]
    if gate is not None:
        parts.append(gate_wait(gate))
    if hold:
        parts.append(f"sleep {hold}")
    parts.append(f'printf "end %s %s %s\\n" {stamp} >> {q(trace)}')
    return "; ".join(parts)


@dataclass(frozen=True)
class Span:
    """One job's run as its trace lines tell it."""

    job: str
    host: str
    start: float
    end: float
    gpus: frozenset[str]


def read_trace(trace: Path) -> dict[str, Span]:
    starts: dict[str, tuple[str, float, frozenset[str]]] = {}
    ends: dict[str, float] = {}
    for line in trace.read_text().splitlines():
        kind, job, host, stamp, *rest = line.split()
        assert job not in (starts if kind == "start" else ends), f"{job} traced twice: {line}"
        if kind == "start":
            ids = rest[0] if rest and rest[0] != "-" else ""
            starts[job] = (host, float(stamp), frozenset(g for g in ids.split(",") if g))
        else:
            ends[job] = float(stamp)
    assert set(starts) == set(ends), f"unfinished jobs in the trace: {set(starts) ^ set(ends)}"
    return {j: Span(j, h, s, ends[j], g) for j, (h, s, g) in starts.items()}


def peak_per_host(spans: dict[str, Span]) -> Counter[str]:
    """The most jobs each host ran at one moment. At equal times an end counts before a
    start (a job's end line is written before its slot can be handed on)."""
    peak: Counter[str] = Counter()
    for host in {s.host for s in spans.values()}:
        points = sorted(
            [(s.start, 1) for s in spans.values() if s.host == host]
            + [(s.end, -1) for s in spans.values() if s.host == host]
        )
        running = 0
        for _, delta in points:
            running += delta
            peak[host] = max(peak[host], running)
    return peak


def started_lines(trace: Path) -> list[list[str]]:
    if not trace.exists():
        return []
    return [line.split() for line in trace.read_text().splitlines() if line.startswith("start")]


def stdout_of(cluster: SshCluster, job: Job) -> str:
    """What ``job`` printed, read where its host wrote it (in that host's user's home)."""
    assert job.host is not None, job
    return cluster.host(job.host).local_path(paths.job_paths(job, local=False).stdout).read_text()


def hosts_in_order(mq: Service, queue: str) -> list[str | None]:
    return [j.host for j in mq.jobs(queue)]


def assert_ran_where_recorded(cluster: SshCluster, mq: Service, queue: str) -> None:
    """Each job printed $MESHQ_TEST_HOST first: the host the store recorded ran it."""
    for job in mq.jobs(queue):
        assert job.host is not None, job
        out = stdout_of(cluster, job)
        assert out.splitlines()[0] == job.host, (job.name, job.host, out)


def meshq_cli(
    db: Path, cluster: SshCluster, *args: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """``python -m meshq --db DB ARGS`` as a subprocess, reaching the test hosts."""
    return subprocess.run(
        [sys.executable, "-m", "meshq", "--db", str(db), *args],
        capture_output=True,
        text=True,
        env=cluster.env(),
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.args, done.returncode, done.stdout, done.stderr)
    return done.stdout
