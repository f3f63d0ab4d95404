"""The ``meshq`` entry point: the command groups, the global options, and
the one place where errors become a line on stderr and an exit status.

Imports of the queue machinery happen inside the commands, so that
``meshq --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from meshq import collector
from meshq.errors import SHOWN_CHARS, SHOWN_PATH_CHARS, MeshqError

if TYPE_CHECKING:
    from meshq.service import Service

T = TypeVar("T")
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine of the API to completion (asyncio is imported only
    by the commands that need it: it costs a cold start 20 ms)."""
    import asyncio

    return asyncio.run(coro)


class State:
    """What the global options say, and the API handle made from them."""

    def __init__(self, db: str | None, db_given_as: str = "--db") -> None:
        self.db = db
        #: how the user named the store: ``--db`` or ``MESHQ_DB`` (for errors)
        self.db_given_as = db_given_as
        self._mq: Service | None = None

    @property
    def mq(self) -> Service:
        if self._mq is None:
            from meshq.service import Service

            if self.db:
                from pathlib import Path

                from meshq.store.connection import check_named_path

                # checked here too, to name the option or variable it came from
                check_named_path(Path(self.db).expanduser(), self.db_given_as)
            self._mq = Service(self.db)
        return self._mq


def mq_of(ctx: click.Context) -> Service:
    """The API handle of the command's store."""
    state = ctx.find_object(State)
    assert state is not None, "the meshq group makes the State"
    return state.mq


@click.group(context_settings=CONTEXT)
@click.option(
    "--db",
    envvar="MESHQ_DB",
    metavar="PATH",
    help="The state store file [default: $MESHQ_HOME/meshq.db, else "
    "~/.local/share/meshq/meshq.db].",
)
@click.version_option(package_name="meshq")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """meshq: one queue of shell jobs, run on this machine and on any host ssh reaches.

    \b
    First steps:
      meshq demo                                   run a small demo queue here
      meshq queue create sweep
      meshq queue add sweep --name='job[1-10]' --host=localhost \\
                            --command='python train.py --seed=$MESHQ_INDEX'
      meshq queue run fifo sweep --max_parallel=4
      meshq queue status sweep

    Defaults for --experiment, -j, --policy, --timeout and --retries can be
    kept in ~/.config/meshq/config.toml (see docs/rules.md).
    """
    source = ctx.get_parameter_source("db")
    ctx.obj = State(db, "MESHQ_DB" if source is ParameterSource.ENVIRONMENT else "--db")
    from meshq.cli import config

    # the config file's defaults, for the subcommands this one resolves next
    ctx.default_map = config.load()


def _register() -> None:
    # control, inspect, job and jobset add their commands to the groups
    from meshq.cli import (  # noqa: F401
        completion,
        control,
        demo,
        hosts,
        inspect,
        job,
        jobset,
        queue,
        serve,
    )

    cli.add_command(completion.completion)
    cli.add_command(hosts.hosts)
    cli.add_command(queue.queue)
    cli.add_command(queue.queues)
    cli.add_command(demo.demo)
    cli.add_command(serve.serve)
    # the cloudmesh seed's vocabulary: cms job …, cms set jobset=…, its files
    cli.add_command(job.job)
    cli.add_command(jobset.set_variable)
    queue.queue.add_command(jobset.import_)
    queue.queue.add_command(jobset.export)
    hosts.hosts.add_command(jobset.export_hosts)


_register()


#: the longest error line printed; past it, its middle is left out
MAX_ERROR_LINE = 1_000


def error_line(message: str, args: Sequence[str]) -> str:
    """``meshq: error: MESSAGE`` as one short line.

    The checks shorten the user text they quote (:func:`meshq.errors.shown`),
    but click quotes an unknown option, command or bad value whole; so every
    long word of the command line found in the message is shortened here
    too, a newline never splits the line, and a line still too long loses
    its middle.
    """
    pieces: dict[str, int] = {}
    for arg in args:
        option, _, value = arg.partition("=")
        for piece in (arg, option, value):
            if len(piece) > SHOWN_PATH_CHARS:
                # as typed, and as repr() shows it inside quotes
                pieces[piece] = pieces[repr(piece)[1:-1]] = len(piece)
    for piece in sorted(pieces, key=len, reverse=True):
        if piece in message:
            short = f"{piece[:SHOWN_CHARS]}… ({pieces[piece]:,} characters)"
            message = message.replace(piece, short)
    line = " ".join(f"meshq: error: {message}".splitlines())
    if len(line) > MAX_ERROR_LINE:
        keep = MAX_ERROR_LINE // 2
        line = f"{line[:keep]} … {line[-keep:]}"
    return line


def entry() -> int:
    """The ``meshq`` program (console script, ``python -m meshq``): :func:`main`
    in a process of its own, with the collector set up for it
    (:mod:`meshq.collector`). Only here: a program that calls main() itself
    keeps its collector as it is."""
    collector.settle()
    try:
        return main()
    finally:
        collector.at_exit()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 failed jobs or
    host errors, 2 bad input). An error is one line on stderr
    (:func:`error_line`)."""
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        status = cli.main(args=args, prog_name="meshq", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as err:
        click.echo(err.ctx.get_help() if err.ctx else str(err))
        return 2
    except click.UsageError as err:
        where = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
        click.echo(error_line(f"{err.format_message()}{where}", args), err=True)
        return 2
    except click.exceptions.Exit as err:
        return int(err.exit_code)
    except click.Abort:
        click.echo("meshq: aborted", err=True)
        return 130
    except MeshqError as err:
        from meshq.cli.hints import with_hint

        click.echo(error_line(with_hint(err, args), args), err=True)
        return err.exit_code
    except KeyboardInterrupt:
        click.echo("meshq: interrupted; jobs already started run on", err=True)
        return 130
    except BrokenPipeError:
        return 0
    # a command returns an int when its outcome is not a plain success
    # (a run with failed jobs returns 1)
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(entry())
