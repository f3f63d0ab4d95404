"""Options that several commands share, declared once so that they mean the
same thing everywhere (docs/rules.md): the selection of jobs (``--name``,
``--status``), the print format (``--format``), durations and parallelism."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from meshq.cli.completion import complete_host, complete_job, complete_queue, complete_status
from meshq.errors import UsageError
from meshq.limits import MAX_RETRIES, MAX_TIMEOUT

F = TypeVar("F", bound=Callable[..., Any])

NAME_HELP = (
    "Only these jobs: names, patterns and globs, comma separated "
    "(job7, job[1-5], 'job*'); a plain name must exist."
)
STATUS_HELP = "Only jobs in these states, comma separated (fail,kill; aliases such as failed work)."
TIMEOUT_HELP = (
    "Time limit: 90 (seconds), 90s, 30m, 1h30m, 2d or [D-]HH:MM:SS; "
    f"at most {MAX_TIMEOUT:,} s (365 days)."
)
#: the range of --retries, as its help gives it
RETRIES_RANGE = f"0 to {MAX_RETRIES:,}"
#: what every command can print
FORMATS = ("table", "json", "yaml", "csv")


class Duration(click.ParamType[float]):
    """A duration flag read by :func:`meshq.durations.parse` (``2s``,
    ``1m``, ``0.5``), as every duration meshq takes; in seconds."""

    name = "duration"

    def __init__(self, least: float = 0.0) -> None:
        self.least = least

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        from meshq import durations

        try:
            seconds = durations.parse(value, param.opts[0] if param else "duration")
        except UsageError as err:
            self.fail(str(err), param, ctx)
        if seconds < self.least:
            self.fail(f"{value!r} is too short: give {self.least:g} s or more", param, ctx)
        return seconds


def selection(fn: F) -> F:
    """``--name`` and ``--status``, the two ways every command picks jobs
    (read by :meth:`meshq.service.Service.select`)."""
    fn = click.option(
        "--status", metavar="STATES", help=STATUS_HELP, shell_complete=complete_status
    )(fn)
    return click.option("--name", metavar="PATTERN", help=NAME_HELP, shell_complete=complete_job)(
        fn
    )


#: the QUEUE argument of every queue command
queue_argument = click.argument("queue_name", metavar="QUEUE", shell_complete=complete_queue)
#: the JOB argument of show and logs: one job, by the rule of ``--name``
job_argument = click.argument("job_name", metavar="JOB", shell_complete=complete_job)
#: a host's NAME (hosts set/probe/enable/disable/delete)
host_argument = click.argument("name", shell_complete=complete_host)


def format_option(formats: Sequence[str] = FORMATS, *, old_output: bool = True) -> Callable[[F], F]:
    """``--format``: ``table`` for people, the others for scripts; the
    command gets it as ``fmt``.

    meshq used to call this ``--output``/``-o``; the seed's ``queue add
    --output`` is the job's stdout file, so the format got a name of its
    own. With ``old_output`` (every command but ``queue add``), the old
    spelling still works, hidden from the help.
    """
    choice = click.Choice(list(formats), case_sensitive=False)
    shown = ", ".join(f for f in formats if f != "table")

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def merged(*args: Any, **kwargs: Any) -> Any:
            fmt, old = kwargs.pop("fmt"), kwargs.pop("old_format", None)
            if fmt and old and fmt != old:
                raise UsageError(f"--format={fmt} and --output={old} disagree: give --format only")
            return fn(*args, fmt=(fmt or old or "table").lower(), **kwargs)

        wrapped: Any = merged
        if old_output:
            wrapped = click.option(
                "--output",
                "-o",
                "old_format",
                type=choice,
                hidden=True,
                help="Old name of --format.",
            )(wrapped)
        wrapped = click.option(
            "--format",
            "fmt",
            type=choice,
            default=None,
            help=f"How to print: table (for people; the default) or {shown} (for scripts).",
        )(wrapped)
        return wrapped  # type: ignore[no-any-return]

    return decorate


def _checked_parallel(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    from meshq.validate import max_parallel

    return None if value is None else max_parallel(value)


def parallel_option(default: int | None, help_text: str) -> Callable[[F], F]:
    """``--max_parallel`` (the seed's spelling), ``--max-parallel``, and
    ``-j`` as GNU Parallel users type it."""
    return click.option(
        "--max_parallel",
        "--max-parallel",
        "-j",
        "max_parallel",
        # checked by meshq, not click.IntRange: click repeats a value of any
        # length in its error, and meshq's line says the range the same way
        # every other number option does
        callback=_checked_parallel,
        default=None if default is None else str(default),
        show_default=default is not None,
        metavar="N",
        help=help_text,
    )


def experiment_option(fn: F) -> F:
    """The seed lets every queue command name the experiment; meshq stores
    it with the queue, so a given one must be the queue's (see
    :func:`check_experiment`)."""
    return click.option(
        "--experiment",
        metavar="DIR",
        help="The queue's experiment folder (checked against the stored one).",
    )(fn)


def check_experiment(mq: Any, queue: str, experiment: str | None) -> None:
    """A :class:`UsageError` unless ``experiment`` is None or the queue's."""
    import os

    if experiment is None:
        return
    stored = mq.queue(queue).experiment
    if os.path.abspath(os.path.expanduser(experiment)) != stored:
        raise UsageError(
            f"queue {queue!r} lives in {stored}, not {experiment}: drop --experiment "
            "or name the right folder"
        )


def check_job_flags(output: str | None, gpus: str | None) -> None:
    """The two job flags people mix up with others: ``--output`` is the
    job's stdout file (not the print format), ``--gpus`` a count (not ids)."""
    if output is not None and output.lower() in FORMATS:
        raise UsageError(
            f"--output names the job's stdout file, not a format: for {output} output use "
            f"--format={output.lower()} (a file called {output} needs a suffix: "
            f"--output={output}.out)"
        )
    if gpus is not None and "," in gpus:
        raise UsageError(
            f"--gpus is how many GPUs a job needs; to name the ids {gpus} use --gpu={gpus}"
        )
