"""The run reporter's counting: a retried attempt is not a finished job, a
job is running once however often it starts, the states by their names."""

from __future__ import annotations

from collections import Counter
from typing import Any

from meshq.cli.progress import BarReporter, state_counts
from meshq.model import Job, Status


def job(job_id: int) -> Job:
    fields: dict[str, Any] = dict(
        id=job_id, queue="q", name=f"j{job_id}", index=str(job_id), command="true", shell="bash",
        directory=None, input=None, output="o", log="l", gpu=None, pyenv=None, user=None,
        host="localhost", timeout=None, status=Status.RUN, exit_code=None, pid=None,
        pstart=None, attempts=1, submitted=0.0, started=None, ended=None, error=None)
    return Job(**fields)


def test_state_counts_use_the_state_names_in_life_order() -> None:
    counts = Counter({Status.FAIL: 8, Status.END: 42, Status.TIMEOUT: 1})
    assert state_counts(counts, 3) == "42 end · 8 fail · 1 timeout · 3 running"
    assert "[red]8 fail[/]" in state_counts(counts, 0, markup=True)


def test_a_retried_job_is_running_once_and_finished_once() -> None:
    bar = BarReporter("q")  # never started: nothing is drawn
    bar.set_total(3)
    for j in (1, 2, 3):
        bar.started(job(j))
    bar.started(job(2))  # its first attempt failed and was retried
    assert len(bar.running) == 3
    bar.finished(job(1), Status.END, 0, None)
    bar.finished(job(2), Status.END, 0, None)
    bar.finished(job(3), Status.FAIL, 1, None)
    task = bar.progress.tasks[0]
    assert (task.completed, task.total) == (3, 3)
    assert task.fields["states"] == state_counts(bar.outcomes, 0, markup=True)
    assert len(bar.running) == 0


def test_a_job_finished_without_a_start_here_counts_too() -> None:
    bar = BarReporter()
    bar.set_total(1)
    bar.finished(job(9), Status.SKIP, None, "it waits for a")  # skipped, or adopted
    assert bar.progress.tasks[0].completed == 1 and not bar.running
