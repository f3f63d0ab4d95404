"""Tables for people (columns chosen by priority to fit the terminal, cut
with '…') and data for scripts (typed JSON, RFC 3339 times)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click
import pytest
from click.testing import CliRunner

from meshq.cli.render import Column, Names, Seconds, cell, emit, layout, rfc3339, table, text_cells

COLUMNS = [
    Column("name", priority=0),
    Column("status", priority=1),
    Column("host", priority=3),
    Column("command", priority=5, wide=True),
    Column("started", priority=9),
]


def shown(need: list[int], width: int) -> dict[str, int]:
    return {COLUMNS[i].key: w for i, w in layout(COLUMNS, need, width)}


def test_every_column_gets_what_it_needs_when_it_fits() -> None:
    assert shown([5, 6, 9, 20, 14], 80) == {
        "name": 5, "status": 6, "host": 9, "command": 20, "started": 14}


def test_the_wide_column_gives_way_first() -> None:
    # 5+6+9+14 and four gaps of 2: 42; the command gets the other 38
    assert shown([5, 6, 9, 40, 14], 80) == {
        "name": 5, "status": 6, "host": 9, "command": 38, "started": 14}


def test_a_less_useful_column_is_left_out_before_a_wide_one_is_cut_short() -> None:
    # with started, the command would get 18 cells, less than the 24 it wants
    assert shown([5, 6, 9, 40, 14], 60) == {"name": 5, "status": 6, "host": 9, "command": 34}


def test_then_the_least_useful_columns_are_left_out_not_cut() -> None:
    widths = shown([5, 6, 9, 40, 14], 40)
    assert "started" not in widths
    assert widths["host"] == 9 and widths["name"] == 5  # never 'localho…'
    assert sum(widths.values()) + 2 * (len(widths) - 1) <= 40


def test_a_header_is_never_cut() -> None:
    cols = [Column("name"), Column("command", wide=True, least=3)]
    assert dict(layout(cols, [4, 30], 14)) == {0: 4, 1: 8}
    # no room for the header: the column is left out rather than cut
    assert dict(layout(cols, [4, 30], 12)) == {0: 4}


def test_a_lone_column_too_wide_is_cut() -> None:
    assert layout([Column("name")], [50], 20) == [(0, 20)]


@pytest.mark.parametrize(
    ("text", "width"), [("abc", 3), ("ünï", 3), ("漢字", 4), ("", 0), ("a漢", 3)]
)
def test_cells_counts_wide_characters_twice(text: str, width: int) -> None:
    assert text_cells(text) == width


def _render(records: list[dict[str, object]], columns: list[Column], width: int) -> list[str]:
    @click.command()
    def show() -> None:
        table(records, columns, title="t", width=width)

    result = CliRunner().invoke(show)
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_a_table_is_aligned_with_two_spaces_numbers_right_and_no_trailing_blanks() -> None:
    lines = _render(
        [{"name": "job1", "exit": 0, "command": "true"}, {"name": "job10", "exit": 127}],
        [Column("name"), Column("exit", right=True), Column("command", wide=True)],
        80,
    )
    assert lines[1:] == [
        "name   exit  command",
        "job1      0  true",
        "job10   127",
    ]


def test_a_long_cell_is_cut_with_an_ellipsis_to_fit_wide_characters_included() -> None:
    command = "echo " + "漢" * 300
    lines = _render([{"name": "job1", "command": command}],
                    [Column("name"), Column("command", wide=True)], 80)
    assert lines[2].endswith("…")
    assert text_cells(lines[2]) <= 80


def test_cells_for_people() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 5, 700000, tzinfo=UTC)
    assert cell(None) == ""
    assert cell(Seconds(3725)) == "1h02m"
    assert cell(Names([f"t{i:02d}" for i in range(1, 21)])) == "t[01-20]"
    assert cell(Names(["job1", "job2"], more=1500)) == "job[1-2] and 1,500 more"
    assert cell(["0", "1"]) == "0,1"
    assert cell(moment) == moment.astimezone().strftime("%m-%d %H:%M:%S")


def test_data_for_scripts_is_typed() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 5, 700000, tzinfo=UTC)
    record = {"t": moment, "d": Seconds(90), "f": Seconds(1.25), "n": Names(["a"]), "x": None}

    @click.command()
    def show() -> None:
        emit([record], "json", [])

    out = json.loads(CliRunner().invoke(show).output)
    assert out == [{"t": "2024-05-01T12:00:05Z", "d": 90, "f": 1.25, "n": ["a"], "x": None}]
    assert rfc3339(moment) == "2024-05-01T12:00:05Z"
