"""Showing records to people (tables that fit the terminal) and to
scripts (JSON, YAML, CSV)."""

from __future__ import annotations

import csv
import io
import json
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
    """A table that fits the terminal: long text columns are cut with '…'."""
    from rich.console import Console
    from rich.table import Table

    # a pipe gets a wide table (json is the format for scripts)
    console = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 200)
    t = Table(title=title, header_style="bold", box=None, pad_edge=False)
    rows = [[_cell(rec.get(c)) for c in columns] for rec in records]
    labels = [(headers or {}).get(c, c) for c in columns]
    need = [max([len(labels[i]), *(len(r[i]) for r in rows)]) for i in range(len(columns))]
    # short columns keep their full width; only the wide ones give way
    n_wide = sum(1 for c in columns if c in wide) or 1
    narrow = sum(min(n, 32) for n, c in zip(need, columns, strict=True) if c not in wide)
    room = max((console.width - narrow - 2 * len(columns)) // n_wide, 8)
    for i, col in enumerate(columns):
        if col in wide:
            t.add_column(
                labels[i], overflow="ellipsis", no_wrap=True, max_width=min(room, max(need[i], 1))
            )
        else:
            t.add_column(labels[i], no_wrap=True, min_width=min(need[i], 32))
    for row in rows:
        t.add_row(*row)
    console.print(t)


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
