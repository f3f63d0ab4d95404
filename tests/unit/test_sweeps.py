"""Sweeps as pure functions: combinations, names, quoting, the command
line's value syntax."""

from __future__ import annotations

import pytest

from meshq.errors import UsageError
from meshq.sweeps import parse_grid, parse_values, points


def test_one_point_per_combination_in_product_order() -> None:
    made = points("train --lr={lr} --seed={seed}", {"lr": [0.1, 0.01], "seed": range(2)})
    assert [(p.name, p.index, p.command) for p in made] == [
        ("lr0.1-seed0", "1", "train --lr=0.1 --seed=0"),
        ("lr0.1-seed1", "2", "train --lr=0.1 --seed=1"),
        ("lr0.01-seed0", "3", "train --lr=0.01 --seed=0"),
        ("lr0.01-seed1", "4", "train --lr=0.01 --seed=1"),
    ]
    assert made[3].params == (("lr", "0.01"), ("seed", "1"))


def test_values_reach_the_command_quoted_never_as_shell_text() -> None:
    [p] = points("echo {x} ${{HOME}}", {"x": ["a b; rm -rf ~ $(id)"]})
    assert p.command == "echo 'a b; rm -rf ~ $(id)' ${HOME}"
    [q] = points("echo {x}", {"x": ["it's"]})
    assert q.command == "echo 'it'\"'\"'s'"


def test_names_from_a_template_a_prefix_or_the_values() -> None:
    assert [p.name for p in points("x", {"lr": [1, 2]}, "run-{index}-{lr}")] == [
        "run-1-1",
        "run-2-2",
    ]
    assert [p.name for p in points("x", {"lr": [1e-3]}, "lr-sweep")] == ["lr-sweep-lr0.001"]
    assert [p.name for p in points("x {v}", {"v": ["a/b"]})] == ["va_b"]
    assert points("x {lr:.0e}", {"lr": [0.001]})[0].command == "x 1e-03"


@pytest.mark.parametrize(
    ("command", "params", "name", "words"),
    [
        ("x {nope}", {"lr": [1]}, None, "names {nope}, which is no sweep parameter"),
        ("x {lr", {"lr": [1]}, None, "cannot be read"),
        ("x", {"lr": []}, None, "has no values"),
        ("x", {}, None, "at least one parameter"),
        ("x", {"bad-name": [1]}, None, "invalid sweep parameter name"),
        ("x", {"lr": [1], "LR": [2]}, None, "upper case"),
        ("x", {"v": ["a b", "a_b"]}, None, "names two jobs 'va_b'"),
        ("x", {"v": ["line\nbreak"]}, None, "line break"),
        ("x", {"v": [1]}, "bad name", "invalid sweep name prefix"),
    ],
)
def test_bad_sweeps_say_what_to_fix(
    command: str, params: dict[str, list[object]], name: str | None, words: str
) -> None:
    with pytest.raises(UsageError, match=words.replace("{", r"\{").replace("(", r"\(")):
        points(command, params, name)


def test_the_command_lines_values() -> None:
    assert parse_values("0.1,0.01") == ["0.1", "0.01"]
    assert parse_values("1-3,7") == ["1", "2", "3", "7"]
    assert parse_values("-2-0") == ["-2", "-1", "0"]
    assert parse_values("a-b") == ["a-b"]
    assert parse_grid(["lr=0.1,0.01", "seed=1-8"]) == {
        "lr": ["0.1", "0.01"],
        "seed": [str(n) for n in range(1, 9)],
    }
    for bad in (["lr"], ["=1"], ["a=1", "a=2"]):
        with pytest.raises(UsageError):
            parse_grid(bad)
    with pytest.raises(UsageError, match="goes down"):
        parse_values("8-1")
