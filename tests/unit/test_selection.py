"""The one rule by which ``--name`` selects jobs: names, hostlist patterns
and globs, never a substring."""

from __future__ import annotations

import pytest

from meshq.errors import UsageError
from meshq.selection import parse

QUEUE = [f"job{i}" for i in range(1, 20)] + ["t01", "t02", "train-a", "x"]


def picked(text: str) -> list[str]:
    chosen = parse(text)
    return [n for n in QUEUE if chosen.matches(n)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("job1", ["job1"]),
        ("job[1-3]", ["job1", "job2", "job3"]),
        ("job1*", ["job1"] + [f"job{i}" for i in range(10, 20)]),
        ("job?", [f"job{i}" for i in range(1, 10)]),
        ("t[01-02]", ["t01", "t02"]),
        ("x,train-*", ["train-a", "x"]),
        ("*", QUEUE),
    ],
)
def test_names_patterns_and_globs(text: str, expected: list[str]) -> None:
    assert picked(text) == expected


def test_a_plain_name_is_never_a_substring() -> None:
    assert picked("job1") == ["job1"]
    assert picked("rain") == []


def test_brackets_are_ranges_even_inside_a_glob() -> None:
    chosen = parse("job[1-2]*")
    assert chosen.globs == ("job1*", "job2*")
    assert chosen.names == ()


def test_plain_names_are_kept_apart_from_globs_in_order() -> None:
    chosen = parse("job3,job*,job1")
    assert chosen.names == ("job3", "job1")
    assert chosen.globs == ("job*",)


@pytest.mark.parametrize("text", ["job[5-1]", "a/b", "", "job[1-", "a;b*"])
def test_malformed_selections_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        parse(text)
