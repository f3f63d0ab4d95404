"""Showing records to people (tables that fit the terminal) and to scripts
(JSON, YAML, CSV), by the rules of docs/rules.md, "Output".

Records hold typed values and each format decides how to write them:

- a time is a :class:`~datetime.datetime` in UTC: RFC 3339 with ``Z`` and
  whole seconds for scripts (``2024-05-01T12:00:05Z``, which jq's
  ``fromdate`` reads), local time for people;
- a duration is :class:`Seconds`: a number for scripts, ``1h02m`` for people;
- a list is a JSON list (``names`` collapse to ``job[1-5]`` in a table);
- nothing is ``null`` (an empty cell, an empty CSV field).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click

from meshq.durations import format_seconds


class Seconds(float):
    """A duration in seconds: a number in JSON, ``1m30s`` in a table."""


class Names(list[str]):
    """Job names: a list in JSON, a pattern (``job[1-5]``) in a table.

    ``more`` counts the names of the same group left out of the list; a
    table says so after the pattern (``job[1-1000] and 9,000 more``). Only
    tables leave names out: JSON, YAML and CSV get whole lists.
    """

    def __init__(self, names: Iterable[str] = (), more: int = 0) -> None:
        super().__init__(names)
        self.more = more


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table: which field, its header, and how it behaves
    when the terminal is too narrow for every column."""

    key: str
    header: str = ""
    #: lower is more useful: the highest go first when space runs out
    priority: int = 5
    #: long text that may be cut with '…' (down to ``least`` cells) before
    #: any column is dropped; less useful columns are left out while it has
    #: fewer than ``want`` cells
    wide: bool = False
    least: int = 12
    want: int = 24
    #: numbers line up on the right
    right: bool = False

    @property
    def label(self) -> str:
        return self.header or self.key


def when(epoch: float | None) -> datetime | None:
    """An epoch time as the aware UTC datetime records hold."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def emit(
    records: Sequence[Mapping[str, Any]],
    fmt: str,
    columns: Sequence[Column],
    *,
    title: str | None = None,
) -> None:
    """Print ``records``: as a table of ``columns``, or whole as JSON, YAML
    or CSV (every field, typed)."""
    if fmt == "table":
        table(records, columns, title=title)
    else:
        emit_data(list(records), fmt)


def say(fmt: str, data: Any, text: str) -> None:
    """One result of a command: ``text`` for people, ``data`` for scripts."""
    if fmt == "table":
        click.echo(text)
    else:
        emit_data(data, fmt)


def emit_data(data: Any, fmt: str) -> None:
    """Print one record, or a list of them, as JSON, YAML or CSV."""
    plain = _plain(data)
    if fmt == "json":
        click.echo(json.dumps(plain, indent=2))
    elif fmt == "yaml":
        import yaml

        click.echo(yaml.safe_dump(plain, sort_keys=False, allow_unicode=True), nl=False)
    elif fmt == "csv":
        rows = plain if isinstance(plain, list) else [plain]
        buf = io.StringIO()
        keys = list(dict.fromkeys(k for row in rows for k in row))
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _csv_cell(v) for k, v in row.items()} for row in rows)
        click.echo(buf.getvalue(), nl=False)
    else:
        raise ValueError(f"unknown format {fmt!r}")


def rfc3339(moment: datetime) -> str:
    """``2024-05-01T12:00:05Z``: UTC, whole seconds (what jq's ``fromdate``
    and every RFC 3339 reader accept)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _plain(value: Any) -> Any:
    """``value`` with every datetime, duration and tuple made JSON data."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, Seconds):
        return int(value) if float(value).is_integer() else round(float(value), 3)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _csv_cell(value: Any) -> Any:
    # CSV has no lists and no null: ids joined with ',', nothing left empty
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(_csv_cell(v)) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return value


# -- tables -------------------------------------------------------------------


def table(
    records: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    *,
    title: str | None = None,
    width: int | None = None,
) -> list[str]:
    """Print a table that fits the terminal: columns two spaces apart, a
    bold header on a terminal. When it is too narrow, wide columns are cut
    with '…' first, then the least useful columns are left out
    (:func:`layout`); headers are never cut. The keys of the columns shown.

    Drawn here rather than with ``rich.table``: rich took 350 ms for the
    618 rows of ``queue list --status=fail`` on a 100,000-job queue, this
    takes a few; the look (no box, two spaces between columns) is the same.
    """
    if width is None:
        width = terminal_width()
    cells = [[cell(rec.get(c.key)) for c in columns] for rec in records]
    need = [
        max([text_cells(c.label), *(text_cells(r[i]) for r in cells)])
        for i, c in enumerate(columns)
    ]
    shown = layout(columns, need, width)
    lines = []
    widths = [w for _, w in shown]
    if title:
        lines.append(title.center(sum(widths) + 2 * (len(widths) - 1)).rstrip())
    header = _line([(columns[i].label, w, columns[i].right) for i, w in shown])
    lines.append(f"\x1b[1m{header}\x1b[0m" if _styled() else header)
    lines += [_line([(row[i], w, columns[i].right) for i, w in shown]) for row in cells]
    click.echo("\n".join(lines))
    return [columns[i].key for i, _ in shown]


def terminal_width() -> int:
    """How wide a table may be: ``COLUMNS`` when set, else the terminal's
    width, else (a pipe) 200 cells (JSON is the format for scripts)."""
    given = os.environ.get("COLUMNS", "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else 200


def layout(columns: Sequence[Column], need: Sequence[int], width: int) -> list[tuple[int, int]]:
    """Which columns to show, in their order, and how wide: ``(index,
    width)`` pairs that fit ``width`` cells (two between columns).

    Every column gets what it needs when that fits. Else the wide columns
    give way first, down to their ``least`` (or their header), then the
    columns of highest ``priority`` number are left out one by one; what
    room is left goes back to the wide columns. A header is never cut; a
    lone column too wide for the terminal is cut.
    """
    floor = [
        min(need[i], max(c.least, text_cells(c.label))) if c.wide else need[i]
        for i, c in enumerate(columns)
    ]
    kept = list(range(len(columns)))

    def used(ids: list[int], sizes: Sequence[int]) -> int:
        return sum(sizes[i] for i in ids) + 2 * (len(ids) - 1)

    # leave out the least useful columns until the rest fit at their floor
    by_use = sorted(kept, key=lambda i: (columns[i].priority, i))
    while len(kept) > 1 and used(kept, floor) > width:
        kept.remove(by_use.pop())
    sizes = _grow(columns, kept, floor, need, width)
    # a wide column cut short is worth more than the columns less useful
    # than it: leave those out while it has less than it wants
    while True:
        short = [i for i in kept if columns[i].wide and sizes[i] < min(need[i], columns[i].want)]
        spare = [j for j in kept if any(columns[j].priority > columns[i].priority for i in short)]
        if not spare:
            break
        kept.remove(max(spare, key=lambda j: (columns[j].priority, j)))
        sizes = _grow(columns, kept, floor, need, width)
    if len(kept) == 1 and sizes[kept[0]] > width:
        sizes[kept[0]] = max(width, 1)
    return [(i, sizes[i]) for i in kept]


def _grow(
    columns: Sequence[Column], kept: list[int], floor: list[int], need: Sequence[int], width: int
) -> dict[int, int]:
    """Widths of the ``kept`` columns: their floors, and the room left
    shared among the wide ones, the narrowest needs first."""
    sizes = {i: floor[i] for i in kept}
    room = width - sum(floor[i] for i in kept) - 2 * (len(kept) - 1)
    wide = sorted((i for i in kept if columns[i].wide), key=lambda i: need[i])
    for k, i in enumerate(wide):
        share = max(room // (len(wide) - k), 0)
        grow = min(need[i] - sizes[i], share)
        sizes[i] += grow
        room -= grow
    return sizes


def text_cells(text: str) -> int:
    """How many terminal cells ``text`` takes (wide characters take two)."""
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def _fit(text: str, width: int, right: bool) -> str:
    """``text`` cut to ``width`` cells with '…', or padded to them."""
    size = text_cells(text)
    if size > width:
        if text.isascii():
            return text[: width - 1] + "…"
        from rich.cells import set_cell_size

        return set_cell_size(text, width - 1) + "…"
    pad = " " * (width - size)
    return pad + text if right else text + pad


def _line(cells: Sequence[tuple[str, int, bool]]) -> str:
    return "  ".join(_fit(text, width, right) for text, width, right in cells).rstrip()


def _styled() -> bool:
    """Bold headers only on a terminal, and never when NO_COLOR is set."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def cell(value: Any) -> str:
    """How a table shows one value: local time, short durations, collapsed
    names, ids joined by commas, nothing for None."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        # local time, without the year: a table is read by the person it runs for
        return value.astimezone().strftime("%m-%d %H:%M:%S")
    if isinstance(value, Seconds):
        return format_seconds(value)
    if isinstance(value, Names):
        from meshq.names import collapse

        pattern = collapse(list(value))
        return f"{pattern} and {value.more:,} more" if value.more else pattern
    if isinstance(value, list | tuple):
        return ",".join(cell(v) for v in value)
    if isinstance(value, Mapping):
        # a sweep job's parameters: lr=0.1 seed=3
        return " ".join(f"{k}={cell(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
