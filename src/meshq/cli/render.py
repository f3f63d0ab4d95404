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
    "--output", "-o", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
    help="table for people; json, yaml or csv for scripts.",
)


def emit(records: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str],
         title: str | None = None, headers: dict[str, str] | None = None) -> None:
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


def table(records: Sequence[dict[str, Any]], columns: Sequence[str], *,
          title: str | None = None, headers: dict[str, str] | None = None,
          wide: Sequence[str] = ("command", "error", "experiment")) -> None:
    """A table that fits the terminal: long text columns are cut with '…'."""
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=False)
    t = Table(title=title, header_style="bold", box=None, pad_edge=False)
    for col in columns:
        label = (headers or {}).get(col, col)
        if col in wide:
            t.add_column(label, overflow="ellipsis", no_wrap=True, ratio=1, min_width=8)
        else:
            t.add_column(label, no_wrap=True)
    for rec in records:
        t.add_row(*(_cell(rec.get(c)) for c in columns))
    console.print(t)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    # a timestamp is easier to read without its date and zone
    if len(text) >= 19 and text[4] == "-" and text[10] == "T":
        return text[:19].replace("T", " ")
    return text


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
