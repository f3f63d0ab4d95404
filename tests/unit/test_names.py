"""Name patterns: what python-hostlist gives, the index each name came from,
and the names meshq refuses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshq.errors import UsageError
from meshq.names import check_name, collapse, expand


def pairs(pattern: str) -> list[tuple[str, str]]:
    return [(e.name, e.index) for e in expand(pattern)]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("job[1-3]", [("job1", "1"), ("job2", "2"), ("job3", "3")]),
        ("job[01-03]", [("job01", "01"), ("job02", "02"), ("job03", "03")]),
        ("job[1-2,7]", [("job1", "1"), ("job2", "2"), ("job7", "7")]),
        ("a,b,c", [("a", "a"), ("b", "b"), ("c", "c")]),
        ("red,red0[1-2]", [("red", "red"), ("red01", "1"), ("red02", "2")]),
        ("a[0-1]b[0-1]", [("a0b0", "0,0"), ("a0b1", "0,1"), ("a1b0", "1,0"), ("a1b1", "1,1")]),
        ("x[1-2]y", [("x1y", "1"), ("x2y", "2")]),
        ("job7", [("job7", "job7")]),
    ],
)
def test_expand_gives_names_and_indexes(pattern: str, expected: list[tuple[str, str]]) -> None:
    assert pairs(pattern) == expected


def test_expand_keeps_pattern_order_not_sorted() -> None:
    assert [e.name for e in expand("job[10,2,1]")] == ["job10", "job2", "job1"]


def test_large_range_expands_quickly_to_the_right_size() -> None:
    names = expand("job[1-100000]")
    assert len(names) == 100_000
    assert names[-1].name == "job100000"


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        ("job[5-1]", "job[5-1]"),
        ("job[1-", "unbalanced"),
        ("job]", "unbalanced"),
        ("", "empty"),
        ("job[1-2],job2", "twice"),
        ("a/b", "invalid job name"),
        ("..", "invalid job name"),
        ("a b", "invalid job name"),
        ("a;b", "invalid job name"),
        ("$(x)", "invalid job name"),
        ("-rf", "invalid job name"),
    ],
)
def test_bad_patterns_are_refused_with_a_reason(pattern: str, words: str) -> None:
    with pytest.raises(UsageError) as err:
        expand(pattern)
    assert words in str(err.value)


def test_a_pattern_past_the_limit_is_refused_before_expanding() -> None:
    with pytest.raises(UsageError, match="more than the limit"):
        expand("job[1-10000000]", limit=1_000_000)


def test_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHQ_MAX_NAMES", "5")
    with pytest.raises(UsageError, match="MESHQ_MAX_NAMES"):
        expand("job[1-6]")
    assert len(expand("job[1-5]")) == 5


def test_check_name_accepts_plain_names() -> None:
    assert check_name("train-run_1.a") == "train-run_1.a"


def test_collapse_is_the_inverse_of_expand() -> None:
    names = ["job1", "job2", "job3", "job7"]
    assert collapse(names) == "job[1-3,7]"
    assert [e.name for e in expand(collapse(names))] == names
    assert collapse([]) == ""


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.from_regex(r"[a-c]{0,2}[0-9]{1,3}|[a-c]{1,3}", fullmatch=True),
        min_size=1,
        max_size=30,
        unique=True,
    )
)
def test_collapse_round_trips_through_expand(names: list[str]) -> None:
    assert {e.name for e in expand(collapse(names))} == set(names)


@pytest.mark.parametrize(
    ("names", "pattern"),
    [
        ([f"t{i:02d}" for i in range(1, 21)], "t[01-20]"),
        ([f"t{i}" for i in range(1, 21)], "t[1-20]"),
        ([f"job{i:03d}" for i in range(95, 105)], "job[095-104]"),
        (["t01", "t02", "t10", "t100"], "t[01-02,10,100]"),
    ],
)
def test_collapse_writes_padded_ranges_as_hostlist_does(names: list[str], pattern: str) -> None:
    assert collapse(names) == pattern
    assert [e.name for e in expand(pattern)] == names
