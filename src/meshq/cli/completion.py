"""Shell completion (click's): ``meshq completion bash|zsh|fish`` prints
the script, and the completers here offer queue names, job names, states
and hosts from the store the command line names (``--db``, ``MESHQ_DB``).

A completer never fails and never creates a store: on any trouble it
offers nothing, and the shell falls back to its own completion.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click
from click.shell_completion import BashComplete as _BashComplete
from click.shell_completion import CompletionItem, add_completion_class, get_completion_class

from meshq.errors import MeshqError

SHELLS = ("bash", "zsh", "fish")
#: the variable click's completion scripts set when they ask meshq
COMPLETE_VAR = "_MESHQ_COMPLETE"


def _store_path(ctx: click.Context) -> Path | None:
    from meshq.store.connection import default_db_path

    db = ctx.find_root().params.get("db") or os.environ.get("MESHQ_DB")
    path = Path(db).expanduser() if db else default_db_path()
    return path if path.is_file() else None


def _words(ctx: click.Context, read: Callable[[Any], Iterable[str]]) -> list[str]:
    """What ``read(api)`` gives on the command's store, or nothing."""
    path = _store_path(ctx)
    if path is None:
        return []
    try:
        from meshq.service import Service

        mq = Service(path)
        try:
            return list(read(mq))
        finally:
            mq.close()
    except (MeshqError, OSError, ValueError):
        return []


def _items(words: Iterable[str], incomplete: str, *, listed: bool = False) -> list[CompletionItem]:
    """The words that complete ``incomplete``; with ``listed``, the last
    item of a comma list (``fail,ki`` completes to ``fail,kill``)."""
    head, _, last = incomplete.rpartition(",") if listed else ("", "", incomplete)
    prefix = f"{head}," if head else ""
    return [CompletionItem(prefix + w) for w in dict.fromkeys(words) if w.startswith(last)]


def complete_queue(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Queue names."""
    return _items(_words(ctx, lambda mq: (s.queue.name for s in mq.queues())), incomplete)


def complete_job(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Job names of the queue given before (a comma list for ``--name``)."""
    # while an option waits for its value, click leaves QUEUE unparsed in args
    queue = ctx.params.get("queue_name") or (ctx.args[0] if ctx.args else None)
    if not queue:
        return []
    names = _words(ctx, lambda mq: (j.name for j in mq.select(queue)))
    return _items(names, incomplete, listed=param.name == "name")


def complete_status(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """State names, then their aliases; a comma list."""
    from meshq.model import STATUS_ALIASES, Status

    words = [s.value for s in Status] + sorted(STATUS_ALIASES)
    return _items(words, incomplete, listed=True)


def complete_host(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Hosts of the inventory, and this machine."""
    from meshq.model import LOCALHOST

    hosts = _words(ctx, lambda mq: (h.name for h in mq.hosts()))
    return _items([*hosts, LOCALHOST], incomplete)


class BashComplete(_BashComplete):
    """click's bash completion, reading ``--name=job`` as typed: bash splits
    a word at ``=`` (``COMP_WORDBREAKS``), so click would see ``--name``,
    ``=`` and ``job`` and offer nothing."""

    def get_completion_args(self) -> tuple[list[str], str]:
        args, incomplete = super().get_completion_args()
        if incomplete == "=" and args and args[-1].startswith("-"):
            return args, ""
        if len(args) >= 2 and args[-1] == "=" and args[-2].startswith("-"):
            return args[:-1], incomplete
        return args, incomplete


add_completion_class(BashComplete, "bash")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL; it completes commands, options,
    queue and job names, states and hosts.

    \b
      bash:  eval "$(meshq completion bash)"        (in ~/.bashrc)
      zsh:   eval "$(meshq completion zsh)"         (in ~/.zshrc)
      fish:  meshq completion fish > ~/.config/fish/completions/meshq.fish
    """
    from meshq.cli.main import cli

    script = get_completion_class(shell)
    assert script is not None, "click knows bash, zsh and fish"
    click.echo(script(cli, {}, "meshq", COMPLETE_VAR).source())
