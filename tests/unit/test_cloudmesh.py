"""The seed's vocabulary as pure functions: the old-state table, per-job
values of ``job add``, the ``-queue.yaml`` fold, output paths, and the
split of a command into the seed's executable and arguments."""

from __future__ import annotations

import pytest

from meshq.cloudmesh import files, perjob, states
from meshq.errors import UsageError
from meshq.model import Status
from meshq.names import queue_name
from meshq.validate import output_file


def test_every_state_has_one_old_word_and_the_words_cover_the_manual() -> None:
    assert set(states.OLD_WORD) == set(Status)
    assert {"done", "ready", "failed", "timeout", "submitted"} <= set(states.OLD_WORDS)
    assert states.old_word(Status.END) == "done"
    assert states.old_word(Status.CRASH) == "failed"
    assert states.old_word(Status.START) == "submitted"


@pytest.mark.parametrize(
    ("word", "covered"),
    [
        ("ready", {Status.READY, Status.UNDEFINED}),
        ("submitted", {Status.RUN, Status.START}),
        ("failed", {Status.FAIL, Status.FAIL_START, Status.CRASH, Status.SKIP}),
        ("done", {Status.END}),
        ("killed", {Status.KILL}),
        ("open", {Status.READY, Status.UNDEFINED, Status.RUN, Status.START}),
        ("end", {Status.END}),
        ("DONE", {Status.END}),
    ],
)
def test_an_old_word_names_the_states_it_covers(word: str, covered: set[Status]) -> None:
    assert states.covered(word) == covered


def test_a_status_list_and_a_bad_word() -> None:
    assert states.selected("done,killed") == {Status.END, Status.KILL}
    with pytest.raises(UsageError, match="unknown state 'sleeping'"):
        states.selected("sleeping")


def test_a_file_may_record_an_outcome_but_not_a_running_job() -> None:
    assert states.from_file("done", "f") is Status.END
    assert states.from_file("failed", "f") is Status.FAIL
    assert states.from_file("crash", "f") is Status.CRASH
    with pytest.raises(UsageError, match="cannot follow a job it did not start"):
        states.from_file("submitted", "f: job x")


def test_regroup_orders_names_by_old_word() -> None:
    grouped = states.regroup(
        {Status.UNDEFINED: ["u"], Status.READY: ["r"], Status.END: ["e"], Status.CRASH: ["c"]}
    )
    assert grouped == {"ready": ["u", "r"], "done": ["e"], "failed": ["c"]}


@pytest.mark.parametrize(
    ("option", "text", "count", "expected"),
    [
        ("ip", "123,345", 2, ["123", "345"]),
        ("output", "a,b", 2, ["a", "b"]),
        ("output", "out[0-1]", 2, ["out0", "out1"]),
        ("input", "../data", 3, ["../data"] * 3),
        ("input", "..\\data", 2, ["..\\data"] * 2),
        ("arguments", "-a", 2, ["-a", "-a"]),
        ("arguments", "a,b", 1, ["a,b"]),  # one job takes the value whole
        ("gpu", "0,1", 2, ["0", "1"]),
        ("gpu", "0,1", 3, ["0,1"] * 3),  # a GPU list for every job
        ("gpu", "0,1", 1, ["0,1"]),
        ("ip", None, 2, [None, None]),
    ],
)
def test_per_job_values(option: str, text: str | None, count: int, expected: list[str]) -> None:
    assert perjob.spread(option, text, count) == expected


def test_a_list_of_the_wrong_length_is_an_error() -> None:
    with pytest.raises(UsageError, match="gives 2 values for 3 jobs"):
        perjob.spread("ip", "123,345", 3)


@pytest.mark.parametrize(
    ("given", "queue"),
    [("a-queue.yaml", "a"), ("a", "a"), ("-queue.yaml", "-queue.yaml"), ("a.yaml", "a.yaml")],
)
def test_the_seeds_queue_file_name_folds_to_the_queue(given: str, queue: str) -> None:
    assert queue_name(given) == queue


@pytest.mark.parametrize("ok", ["a", "./output/ls_j", "out/run.txt", "a.b-c_d"])
def test_output_paths_inside_the_job_folder(ok: str) -> None:
    assert output_file(ok) == ok


@pytest.mark.parametrize("bad", ["/etc/passwd", "../x", "a/../../b", "a b", "a;b", "out/", "."])
def test_output_paths_that_would_leave_the_job_folder(bad: str) -> None:
    with pytest.raises(UsageError, match="invalid output file"):
        output_file(bad)


def test_a_command_splits_into_the_seeds_fields_only_when_it_still_matches() -> None:
    extra = {"executable": "python test.py", "arguments": "-n 3"}
    assert files.split_command("python test.py -n 3", extra) == ("python test.py", "-n 3")
    assert files.split_command("other", extra) == ("other", "")
    assert files.split_command("ls | wc -l", {}) == ("ls | wc -l", "")
