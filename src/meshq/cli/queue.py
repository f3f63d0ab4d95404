"""``meshq queue …`` (the group, and the commands that make and change
queues and jobs) and ``meshq queues``."""

from __future__ import annotations

from typing import Any

import click

from meshq.cli.completion import complete_host
from meshq.cli.main import mq_of
from meshq.cli.options import (
    RETRIES_RANGE,
    TIMEOUT_HELP,
    check_experiment,
    check_job_flags,
    experiment_option,
    format_option,
    queue_argument,
    selection,
)
from meshq.cli.records import queue_record
from meshq.cli.render import Column, emit, say
from meshq.errors import UsageError
from meshq.limits import MAX_GPUS


@click.group()
def queue() -> None:
    """Create queues, add jobs, run them, and follow them."""


@click.command()
@format_option()
@click.pass_context
def queues(ctx: click.Context, fmt: str) -> None:
    """List every queue with its job counts per state."""
    from meshq.model import Status

    rows = [queue_record(s.queue, s.counts) for s in mq_of(ctx).queues()]
    shown = [s.value for s in Status if any(r[s.value] for r in rows)]
    columns = [
        Column("queue", priority=0),
        Column("jobs", priority=1, right=True),
        *(Column(s, priority=2, right=True) for s in shown),
        Column("experiment", priority=3, wide=True),
    ]
    emit(rows, fmt, columns)


def _queue_line(q: Any) -> str:
    from meshq.durations import format_seconds

    timeout = format_seconds(q.default_timeout) if q.default_timeout else "none"
    return (
        f"{q.name}: timeout {timeout}, retries {q.default_retries or 0}, "
        f"policy {q.policy or 'sequential'}"
    )


@queue.command()
@queue_argument
@click.option(
    "--experiment",
    default="./experiment",
    show_default=True,
    metavar="DIR",
    help="The folder under which each job gets its own directory, on every host.",
)
@click.option("--timeout", metavar="DURATION", help=f"{TIMEOUT_HELP} For jobs that set none.")
@click.option(
    "--retries",
    metavar="N",
    help=f"Reruns of a failed job ({RETRIES_RANGE}), for jobs that set none.",
)
@format_option()
@click.pass_context
def create(
    ctx: click.Context,
    queue_name: str,
    experiment: str,
    timeout: str | None,
    retries: str | None,
    fmt: str,
) -> None:
    """Create an empty queue."""
    q = mq_of(ctx).create_queue(queue_name, experiment, timeout=timeout, retries=retries)
    say(fmt, queue_record(q), f"created queue {q.name} (experiment {q.experiment})")


#: what ``queue set`` can change on jobs (with --name/--status), beside
#: --timeout and --retries, which without a selection are the queue's defaults
JOB_SETTINGS = (
    ("--command", "command", "CMD", "The shell command."),
    ("--host", "host", "HOST", "Pin to this host (an undefined job becomes ready)."),
    ("--user", "user", "USER", "User on the host."),
    ("--directory", "directory", "DIR", "Working directory."),
    ("--gpu", "gpu", "IDS", "GPU ids (replaces --gpus)."),
    ("--gpus", "gpus", "N", "How many GPUs (replaces --gpu)."),
    ("--pyenv", "pyenv", "PATH", "Activate script sourced first."),
    ("--shell", "shell", "SHELL", "Shell that runs the command."),
    ("--input", "input", "PATH", "Input location (MESHQ_INPUT)."),
    ("--output", "output", "FILE", "File for the command's stdout."),
    ("--log", "log", "FILE", "File for the job's state log."),
)


def _job_settings(fn: Any) -> Any:
    for flag, dest, metavar, text in reversed(JOB_SETTINGS):
        complete = complete_host if dest == "host" else None
        fn = click.option(flag, dest, metavar=metavar, help=text, shell_complete=complete)(fn)
    return fn


@queue.command(name="set")
@queue_argument
@selection
@click.option("--timeout", metavar="DURATION", help=f"{TIMEOUT_HELP}")
@click.option("--retries", metavar="N", help=f"Reruns of a failed job ({RETRIES_RANGE}).")
@click.option(
    "--policy",
    metavar="NAME",
    help="The fifo_multi policy for runs that name none: sequential, random, smart, frugal.",
)
@_job_settings
@format_option(old_output=False)
@click.pass_context
def set_(
    ctx: click.Context,
    /,
    queue_name: str,
    name: str | None,
    status: str | None,
    timeout: str | None,
    retries: str | None,
    policy: str | None,
    fmt: str,
    **fields: str | None,
) -> None:
    """Change jobs that are not running, or the queue's defaults.

    With --name or --status: the selected jobs get the fields given, all at
    once (a running job among them refuses the change; nothing is changed).
    Without: --timeout and --retries are the queue's defaults for jobs that
    set none, and --policy the fifo_multi policy of runs that name none.

    \b
      meshq queue set sweep --name='job[1-5]' --timeout=2h --host=gpu1
      meshq queue set sweep --status=fail --command='python train.py --fixed'
      meshq queue set sweep --retries=2            (the queue's default)
      meshq queue set sweep --policy=smart         (for fifo_multi)
    """
    mq = mq_of(ctx)
    check_job_flags(fields["output"], fields["gpus"])
    given = {k: v for k, v in fields.items() if v is not None}
    if name is None and status is None:
        if given:
            flags = ", ".join(f"--{k}" for k in given)
            are = "is a job setting" if len(given) == 1 else "are job settings"
            raise UsageError(
                f"{flags} {are}: choose the jobs with --name or --status (every job: --name='*')"
            )
        q = mq.set_defaults(queue_name, timeout=timeout, retries=retries, policy=policy)
        say(fmt, queue_record(q), _queue_line(q))
        return
    if policy is not None:
        raise UsageError("--policy is the queue's: give it without --name/--status")
    changed = mq.set_jobs(queue_name, name, status, timeout=timeout, retries=retries, **fields)
    from meshq.names import collapse

    what = collapse(changed) if changed else "no job"
    say(
        fmt,
        {"queue": queue_name, "changed": changed},
        f"changed {len(changed)} job(s) of {queue_name}: {what}",
    )


@queue.command()
@queue_argument
@format_option()
@click.pass_context
def pause(ctx: click.Context, queue_name: str, fmt: str) -> None:
    """Start no new job of the queue: running jobs go on, and a run of the
    queue waits (saying 'paused') for 'meshq queue resume'."""
    q = mq_of(ctx).pause(queue_name)
    text = f"paused {queue_name}: no new jobs start ('meshq queue resume {queue_name}')"
    say(fmt, queue_record(q), text)


@queue.command()
@queue_argument
@format_option()
@click.pass_context
def resume(ctx: click.Context, queue_name: str, fmt: str) -> None:
    """Let a paused queue's jobs start again (a run going on picks them up)."""
    q = mq_of(ctx).resume(queue_name)
    say(fmt, queue_record(q), f"resumed {queue_name}")


@queue.command()
@queue_argument
@click.option(
    "--name", metavar="PATTERN", help="Job name or pattern: job[1-10], job[01-04], a,b,c."
)
@click.option(
    "--command",
    "command_text",
    help="The shell command each job runs (the seed's \"'sleep 10'\" works too).",
)
@click.option(
    "--file",
    "job_file",
    metavar="YAML",
    help="Add the jobs of a job file instead (a list of entries with these fields).",
)
@click.option(
    "--grid",
    "grid",
    metavar="NAME=VALUES",
    multiple=True,
    help="A sweep: one job per combination of the values (0.1,0.01 or 1-8); {NAME} in "
    "--command is the value, quoted, and MESHQ_PARAM_NAME holds it. --name is then a "
    "template (run-{lr}-{seed}) or a prefix. Repeat for more parameters.",
)
@click.option("--input", "input_", metavar="PATH", help="Input location, exported as MESHQ_INPUT.")
@click.option("--output", metavar="FILE", help="File for the command's stdout [NAME.out].")
@click.option("--status", help="First state: ready (needs a host) or undefined.")
@click.option("--gpu", metavar="IDS", help="GPU ids for CUDA_VISIBLE_DEVICES, e.g. 0 or 0,1.")
@click.option(
    "--gpus", metavar="N", help=f"How many GPUs (1 to {MAX_GPUS:,}); the scheduler picks free ones."
)
@click.option("--user", help="User on the host.")
@click.option(
    "--host",
    help="Host to run on: localhost (or local) for this machine.",
    shell_complete=complete_host,
)
@click.option("--shell", metavar="SHELL", help="Shell that runs the command [bash].")
@click.option("--log", metavar="FILE", help="File for the job's state log [NAME.log].")
@click.option("--pyenv", metavar="PATH", help="Activate script (or venv folder) sourced first.")
@click.option(
    "--directory",
    metavar="DIR",
    help="Working directory [the folder you run this in: on a host, the same under its home].",
)
@click.option(
    "--timeout", metavar="DURATION", help=f"{TIMEOUT_HELP} Past it the job is killed (timeout)."
)
@click.option(
    "--retries",
    metavar="N",
    help=f"Rerun a failed, crashed or timed-out job N times ({RETRIES_RANGE}).",
)
@click.option(
    "--after",
    metavar="NAMES",
    help="Run only after these jobs ended with exit code 0 (names or patterns); "
    "if one fails for good, this job is skipped.",
)
@experiment_option
@format_option(old_output=False)
@click.pass_context
def add(
    ctx: click.Context,
    /,
    queue_name: str,
    name: str | None,
    command_text: str | None,
    job_file: str | None,
    grid: tuple[str, ...],
    experiment: str | None,
    fmt: str,
    **fields: str | None,
) -> None:
    """Add jobs to a queue; NAME patterns add many at once.

    Each job sees MESHQ_QUEUE, MESHQ_JOB, MESHQ_INDEX (what the pattern gave it:
    7 for job7, 07 for job07) and MESHQ_ATTEMPT, so one command serves a sweep:

    \b
      meshq queue add sweep --name='job[1-100]' --host=localhost \\
          --command='python train.py --seed=$MESHQ_INDEX'

    A grid of parameters makes one job per combination (lr0.1-seed1, …):

    \b
      meshq queue add sweep --grid lr=0.1,0.01 --grid seed=1-8 --host=localhost \\
          --command='python train.py --lr={lr} --seed={seed}'
    """
    mq = mq_of(ctx)
    check_experiment(mq, queue_name, experiment)
    # the seed's --output is the job's stdout file; the print format is --format
    check_job_flags(fields["output"], fields["gpus"])
    fields["input"] = fields.pop("input_")
    if job_file is not None:
        if name is not None or command_text is not None or grid:
            raise UsageError("give --file, or --name with --command, not both")
        added = mq.add_file(queue_name, job_file)
    elif grid:
        from meshq.sweeps import parse_grid

        if command_text is None:
            raise UsageError("give --command with --grid: {NAME} in it is each value")
        added = mq.sweep(queue_name, command_text, parse_grid(grid), name=name, **fields)
    elif name is None or command_text is None:
        raise UsageError("give --name and --command (or --file=jobs.yaml)")
    else:
        added = mq.add(queue_name, name, command_text, **fields)
    from meshq.names import collapse

    shown = collapse(added) if len(added) > 1 else added[0]
    text = f"added {len(added)} job(s) to {queue_name}: {shown}"
    say(fmt, {"queue": queue_name, "added": added}, text)
