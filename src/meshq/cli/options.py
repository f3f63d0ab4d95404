"""Options that several commands share, declared once so that they mean the
same thing everywhere (docs/rules.md): the selection of jobs (``--name``,
``--status``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

NAME_HELP = (
    "Only these jobs: names, patterns and globs, comma separated "
    "(job7, job[1-5], 'job*'); a plain name must exist."
)
STATUS_HELP = "Only jobs in these states, comma separated (fail,kill; aliases such as failed work)."


def selection(fn: F) -> F:
    """``--name`` and ``--status``, the two ways every command picks jobs
    (read by :meth:`meshq.api.Meshq.select`)."""
    fn = click.option("--status", metavar="STATES", help=STATUS_HELP)(fn)
    return click.option("--name", metavar="PATTERN", help=NAME_HELP)(fn)
