"""The job states and the one table of allowed transitions."""

from __future__ import annotations

import pytest

from meshq.errors import TransitionError, UsageError
from meshq.model import ACTIVE, FINISHED, TRANSITIONS, WAITING, Status, check_transition, sources_of


def test_every_state_has_a_row_and_the_groups_cover_all_states() -> None:
    assert set(TRANSITIONS) == set(Status)
    assert set(Status) == WAITING | ACTIVE | FINISHED
    assert not (WAITING & ACTIVE) and not (ACTIVE & FINISHED) and not (WAITING & FINISHED)


def test_the_seed_states_are_all_there() -> None:
    seed = {"undefined", "ready", "run", "start", "end", "kill", "fail_start", "crash"}
    assert seed | {"fail", "timeout", "skip"} == {s.value for s in Status}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (Status.READY, Status.RUN),
        (Status.RUN, Status.START),
        (Status.START, Status.END),
        (Status.START, Status.FAIL),
        (Status.START, Status.TIMEOUT),
        (Status.START, Status.KILL),
        (Status.RUN, Status.FAIL_START),
        (Status.START, Status.CRASH),
        (Status.END, Status.READY),
        (Status.CRASH, Status.END),
        (Status.RUN, Status.READY),
        (Status.UNDEFINED, Status.RUN),
    ],
)
def test_allowed(old: Status, new: Status) -> None:
    check_transition(old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (Status.READY, Status.END),
        (Status.END, Status.START),
        (Status.START, Status.READY),
        (Status.UNDEFINED, Status.START),
        (Status.END, Status.FAIL),
        (Status.KILL, Status.END),
        (Status.START, Status.RUN),
    ],
)
def test_refused(old: Status, new: Status) -> None:
    with pytest.raises(TransitionError):
        check_transition(old, new)


def test_no_finished_state_goes_back_to_running_directly() -> None:
    # but a crash declared while a host was silent: its job may still be running
    for s in FINISHED - {Status.CRASH}:
        assert not (TRANSITIONS[s] & ACTIVE), s
    assert TRANSITIONS[Status.CRASH] & ACTIVE == {Status.START}


def test_sources_of_start() -> None:
    assert sources_of(Status.START) == {Status.RUN, Status.CRASH}


def test_parse_is_forgiving_of_case_and_strict_about_names() -> None:
    assert Status.parse(" FAIL ") is Status.FAIL
    with pytest.raises(UsageError, match="unknown state 'bogus'"):
        Status.parse("bogus")
