"""A queue's summary (runtimes, failures per host) and its GNU Parallel
joblog, from jobs and history lines: pure functions, no store."""

from __future__ import annotations

from typing import Any

import pytest

from meshq import joblog
from meshq.model import Job, Status
from meshq.summary import attempts_from_events, summarize


def job(name: str, status: Status, started: float | None, ended: float | None,
        exit_code: int | None = None, host: str | None = "localhost", **kw: Any) -> Job:
    fields: dict[str, Any] = dict(
        id=0, queue="q", name=name, index=name, command="true", shell="bash", directory=None,
        input=None, output=f"{name}.out", log=f"{name}.log", gpu=None, pyenv=None, user=None,
        host=host, timeout=None, status=status, exit_code=exit_code, pid=None, pstart=None,
        attempts=1, submitted=0.0, started=started, ended=ended, error=None)
    fields.update(kw)
    return Job(**fields)


def test_attempts_fold_start_and_final_lines_per_attempt() -> None:
    rows = [
        ("a", 1, "h1", "start", 10.0, None), ("a", 1, "h1", "fail", 12.0, 3),
        ("a", 2, "h2", "start", 13.0, None), ("a", 2, "h2", "end", 14.5, 0),
        ("b", 1, "h1", "start", 10.0, None), ("b", 1, None, "crash", 20.0, None),
        ("b", 1, "h1", "end", 21.0, 0),  # a refresh corrected the crash
        ("c", 1, "h1", "fail_start", 9.0, None),
        ("d", 0, None, "skip", 9.0, None),
    ]
    attempts = {(a.job, a.attempt): a for a in attempts_from_events(rows)}
    assert set(attempts) == {("a", 1), ("a", 2), ("b", 1), ("c", 1)}
    assert attempts[("a", 1)].runtime == 2.0 and attempts[("a", 1)].status is Status.FAIL
    assert attempts[("b", 1)].status is Status.END and attempts[("b", 1)].runtime == 11.0
    assert attempts[("c", 1)].runtime is None


def test_summary_counts_jobs_once_and_host_failures_per_attempt() -> None:
    jobs = [job("a", Status.END, 13.0, 14.5, 0), job("b", Status.END, 10.0, 14.0, 0),
            job("c", Status.FAIL, 10.0, 19.0, 1), job("d", Status.READY, None, None)]
    rows = [
        ("a", 1, "h1", "start", 10.0, None), ("a", 1, "h1", "fail", 12.0, 3),
        ("a", 2, "h2", "start", 13.0, None), ("a", 2, "h2", "end", 14.5, 0),
        ("b", 1, "h2", "start", 10.0, None), ("b", 1, "h2", "end", 14.0, 0),
        ("c", 1, "h1", "start", 10.0, None), ("c", 1, "h1", "fail", 19.0, 1),
    ]
    s = summarize("q", jobs, attempts_from_events(rows))
    assert s.counts == {Status.READY: 1, Status.END: 2, Status.FAIL: 1} and s.jobs == 4
    assert (s.runtime.jobs, s.runtime.max, s.runtime.min) == (3, 9.0, 1.5)
    assert s.runtime.median == 4.0 and s.runtime.mean == pytest.approx(14.5 / 3)
    h1, h2 = s.hosts  # the host with the most failures first
    assert (h1.host, h1.attempts, h1.end, h1.failed) == ("h1", 2, 0, 2)
    assert (h2.host, h2.attempts, h2.end, h2.failed) == ("h2", 2, 2, 0)
    assert h2.mean_runtime == 2.75


def test_an_empty_queue_sums_to_nothing() -> None:
    s = summarize("q", [], [])
    assert s.jobs == 0 and s.runtime.jobs == 0 and s.runtime.mean is None and s.hosts == []


def test_joblog_has_parallels_columns_and_outcomes() -> None:
    jobs = [
        (1, job("ok", Status.END, 100.0, 100.25, 0)),
        (2, job("bad", Status.FAIL, 100.0, 101.0, 3, host="red", user="pi")),
        (3, job("slow", Status.TIMEOUT, 100.0, 160.0, 143, host="red")),
        (4, job("waiting", Status.READY, None, None)),
        (5, job("multi", Status.END, 100.0, 100.0, 0, command="echo a\n\techo b")),
    ]
    out = joblog.lines(jobs)
    assert out[0] == "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand"
    assert out[1:] == [
        "1\t:\t100.000\t     0.250\t0\t0\t0\t0\ttrue",
        "2\tpi@red\t100.000\t     1.000\t0\t0\t3\t0\ttrue",
        "3\tred\t100.000\t    60.000\t0\t0\t-1\t15\ttrue",
        "5\t:\t100.000\t     0.000\t0\t0\t0\t0\techo a  echo b",
    ]
