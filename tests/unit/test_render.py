"""Tables for people: column widths that fit the terminal, cut with '…'."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from meshq.cli.render import cells, fit_widths, table


def test_columns_keep_what_they_need_when_it_fits() -> None:
    assert fit_widths([4, 9, 30], [False, False, True], 80) == [4, 9, 30]


def test_wide_columns_give_way_first_and_share_what_is_left() -> None:
    # 80 - 2 gaps of 2 - 10 = 66 cells for two wide columns that want 100
    # and 20: the short one keeps its 20, the long one gets the other 46
    assert fit_widths([10, 100, 20], [False, True, True], 80) == [10, 46, 20]


def test_then_narrow_columns_give_way_down_to_eight_cells() -> None:
    widths = fit_widths([30, 30, 30], [False, False, True], 40)
    assert widths[2] == 8
    assert all(w >= 8 for w in widths)
    assert sum(widths) + 4 <= 40


def test_a_terminal_too_narrow_for_anything_still_gets_every_column() -> None:
    widths = fit_widths([20, 20, 20, 20], [False, False, False, True], 10)
    assert widths == [8, 8, 8, 8]


@pytest.mark.parametrize(
    ("text", "width"), [("abc", 3), ("ünï", 3), ("漢字", 4), ("", 0), ("a漢", 3)]
)
def test_cells_counts_wide_characters_twice(text: str, width: int) -> None:
    assert cells(text) == width


def _render(records: list[dict[str, object]], columns: list[str], width: int) -> list[str]:
    @click.command()
    def show() -> None:
        table(records, columns, title="t")

    # not a terminal: the table is 200 cells wide, plain text
    result = CliRunner().invoke(show, env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_a_table_is_aligned_with_two_spaces_and_no_trailing_blanks() -> None:
    lines = _render(
        [{"name": "job1", "status": "end", "command": "true"}, {"name": "job10", "status": "x"}],
        ["name", "status", "command"],
        80,
    )
    assert lines[1:] == [
        "name   status  command",
        "job1   end     true",
        "job10  x",
    ]


def test_a_long_cell_is_cut_with_an_ellipsis_to_fit_wide_characters_included() -> None:
    command = "echo " + "漢" * 300
    lines = _render([{"name": "job1", "command": command}], ["name", "command"], 80)
    row = lines[2]
    assert row.endswith("…")
    assert cells(row) <= 200
