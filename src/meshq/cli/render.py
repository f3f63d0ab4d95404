"""Showing records to people (tables that fit the terminal) and to
scripts (JSON, YAML, CSV)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
from collections.abc import Sequence
from typing import Any

import click

FORMATS = ("table", "json", "yaml", "csv")
OUTPUT_OPTION = click.option(
    "--output",
    "-o",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table for people; json, yaml or csv for scripts.",
)


def emit(
    records: Sequence[dict[str, Any]],
    fmt: str,
    columns: Sequence[str],
    title: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Print ``records``: as a table of ``columns``, or whole as JSON/YAML/CSV."""
    if fmt == "json":
        click.echo(json.dumps(list(records), indent=2, default=str))
    elif fmt == "yaml":
        import yaml

        click.echo(yaml.safe_dump(list(records), sort_keys=False, allow_unicode=True), nl=False)
    elif fmt == "csv":
        buf = io.StringIO()
        keys = list(records[0]) if records else list(columns)
        writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
        click.echo(buf.getvalue(), nl=False)
    else:
        table(records, columns, title=title, headers=headers)


def table(
    records: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    wide: Sequence[str] = ("command", "error", "experiment"),
) -> None:
    """A table that fits the terminal: columns two spaces apart, a bold
    header on a terminal, long text columns cut with '…' first.

    Drawn here rather than with ``rich.table``: rich took 350 ms for the
    618 rows of ``queue list --status=fail`` on a 100,000-job queue, this
    takes a few; the look (no box, two spaces between columns) is the same.
    """
    rows = [[_cell(rec.get(c)) for c in columns] for rec in records]
    labels = [(headers or {}).get(c, c) for c in columns]
    # a pipe gets a wide table (json is the format for scripts)
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 200
    need = [max([cells(labels[i]), *(cells(r[i]) for r in rows)]) for i in range(len(columns))]
    widths = fit_widths(need, [c in wide for c in columns], width)
    lines = []
    if title:
        lines.append(title.center(sum(widths) + 2 * (len(widths) - 1)).rstrip())
    header = _line(labels, widths)
    lines.append(f"\x1b[1m{header}\x1b[0m" if _styled() else header)
    lines += [_line(row, widths) for row in rows]
    click.echo("\n".join(lines))


def fit_widths(need: Sequence[int], wide: Sequence[bool], width: int) -> list[int]:
    """Column widths, each at most its ``need``, that fit ``width`` cells
    (two between columns) where possible: the wide columns give way first,
    down to 8 cells, then the others, down to 8 cells."""
    out = list(need)
    for shrinking in (True, False):
        chosen = [i for i, w in enumerate(wide) if w == shrinking]
        room = width - 2 * (len(out) - 1) - sum(out[i] for i in range(len(out)) if i not in chosen)
        # water-filling: the narrowest of the chosen keep what they need,
        # the others share what is left equally
        for k, i in enumerate(sorted(chosen, key=lambda i: need[i])):
            share = room // (len(chosen) - k)
            out[i] = min(need[i], max(share, 8))
            room -= out[i]
        if sum(out) + 2 * (len(out) - 1) <= width:
            break
    return out


def cells(text: str) -> int:
    """How many terminal cells ``text`` takes (wide characters take two)."""
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells with '…', or padded to them."""
    size = cells(text)
    if size > width:
        if text.isascii():
            return text[: width - 1] + "…"
        from rich.cells import set_cell_size

        return set_cell_size(text, width - 1) + "…"
    return text + " " * (width - size)


def _line(values: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(_fit(v, w) for v, w in zip(values, widths, strict=True)).rstrip()


def _styled() -> bool:
    """Bold headers only on a terminal, and never when NO_COLOR is set."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    # a timestamp is easier to read without its date and zone
    if len(text) >= 19 and text[4] == "-" and text[10] == "T":
        return text[5:19].replace("T", " ")
    return text


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
