"""The job states and the one table of allowed transitions."""

from __future__ import annotations

import pytest

from meshq.errors import TransitionError, UsageError
from meshq.model import (
    ACTIVE,
    FINISHED,
    STATUS_ALIASES,
    TRANSITIONS,
    WAITING,
    Status,
    check_transition,
    killable,
    parse_states,
    reset_status,
    sources_of,
)


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


@pytest.mark.parametrize(
    ("word", "states"),
    [
        ("done", [Status.END]),
        ("failed", [Status.FAIL]),
        ("submitted", [Status.RUN]),
        ("COMPLETED", [Status.END]),
        ("cancelled", [Status.KILL]),
        ("node-fail", [Status.CRASH]),
        ("running", [Status.RUN, Status.START]),
        ("pending", [Status.UNDEFINED, Status.READY]),
        ("fail,kill", [Status.FAIL, Status.KILL]),
        ("fail, failed ,kill", [Status.FAIL, Status.KILL]),
    ],
)
def test_parse_states_reads_comma_lists_and_the_alias_table(
    word: str, states: list[Status]
) -> None:
    assert parse_states(word) == states


def test_every_alias_names_real_states_and_no_alias_shadows_a_state() -> None:
    assert not set(STATUS_ALIASES) & {s.value for s in Status}
    for word, states in STATUS_ALIASES.items():
        assert states and all(isinstance(s, Status) for s in states), word


def test_parse_takes_an_alias_of_one_state_and_refuses_a_group() -> None:
    assert Status.parse("done") is Status.END
    with pytest.raises(UsageError, match="several states"):
        Status.parse("running")


@pytest.mark.parametrize("text", ["", " , ", "fail,bogus"])
def test_parse_states_refuses_empty_lists_and_unknown_words(text: str) -> None:
    with pytest.raises(UsageError):
        parse_states(text)


@pytest.mark.parametrize("status", list(Status))
def test_only_a_running_job_is_killable(status: Status) -> None:
    assert killable(status) is (status in ACTIVE)


@pytest.mark.parametrize(
    ("host", "placed", "after"),
    [
        ("red", False, Status.READY),  # pinned by the user: kept, ready
        ("red", True, Status.UNDEFINED),  # chosen by the scheduler: forgotten
        (None, False, Status.UNDEFINED),
    ],
)
def test_reset_status_keeps_only_a_pinned_host(
    host: str | None, placed: bool, after: Status
) -> None:
    assert reset_status(host, placed) is after
    # the table allows it from every state a reset moves (a running job is killed first)
    assert all(after in TRANSITIONS[s] for s in Status if s not in ACTIVE and s is not after)
