"""A job's attempts folded from its history (meshq.attempts), and where
their files are (meshq.paths.attempt_paths)."""

from __future__ import annotations

from meshq import paths
from meshq.attempts import attempts_of
from meshq.model import Event, Status
from tests.support.jobs import make_job


def ev(t: float, new: Status, attempt: int, host: str | None, code: int | None = None) -> Event:
    return Event(time=t, old=None, new=new, attempt=attempt, detail=None, host=host,
                 exit_code=code)


def test_a_retried_job_has_one_record_per_attempt_with_its_host_and_end() -> None:
    history = [
        ev(0, Status.READY, 0, None),
        ev(1, Status.RUN, 1, "h1"),
        ev(2, Status.START, 1, "h1"),
        ev(3, Status.FAIL, 1, "h1", 2),
        ev(3, Status.UNDEFINED, 1, None),  # back to the queue: no state of the attempt
        ev(4, Status.RUN, 2, "h2"),
        ev(5, Status.START, 2, "h2"),
        ev(7, Status.END, 2, "h2", 0),
    ]
    first, second = attempts_of(history)
    assert (first.attempt, first.host, first.status, first.exit_code) == (1, "h1", Status.FAIL, 2)
    assert (first.started, first.ended) == (2, 3)
    assert (second.attempt, second.host, second.status) == (2, "h2", Status.END)
    # no later attempt ran on h1: attempt 1's files were not moved aside there
    assert not first.kept and not second.kept


def test_an_attempt_is_kept_aside_once_a_later_one_started_on_its_host() -> None:
    history = [
        ev(1, Status.RUN, 1, "h1"),
        ev(2, Status.START, 1, "h1"),
        ev(3, Status.CRASH, 1, "h1"),
        ev(4, Status.END, 1, "h1", 0),  # a refresh corrects the crash: the last word wins
        ev(5, Status.RUN, 2, "h1"),
        ev(6, Status.START, 2, "h1"),
    ]
    first, second = attempts_of(history)
    assert first.status is Status.END and first.kept
    assert second.status is Status.START and not second.kept


def test_an_attempt_s_kept_files_are_in_attempts_n_by_their_own_names() -> None:
    job = make_job(name="j7", queue="q", experiment="/x/exp", output="output/j7.out")
    now = paths.job_paths(job, local=True)
    kept = paths.attempt_paths(job, 3, local=True, kept=True)
    assert kept.folder == "/x/exp/q/j7/attempts/3"
    assert (kept.stdout, kept.stderr, kept.log) == (
        "/x/exp/q/j7/attempts/3/j7.out",
        "/x/exp/q/j7/attempts/3/j7.err",
        f"/x/exp/q/j7/attempts/3/{now.log.rpartition('/')[2]}",
    )
    assert paths.attempt_paths(job, 3, local=True, kept=False) == now
