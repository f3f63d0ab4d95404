"""``meshq queue run / kill / reset / delete / refresh``: what acts on jobs
and their hosts."""

from __future__ import annotations

from typing import Any

import click

from meshq.cli.main import mq_of, run_async
from meshq.cli.notify import NOTIFY_OPTION, run_notify
from meshq.cli.options import (
    check_experiment,
    experiment_option,
    format_option,
    parallel_option,
    queue_argument,
    selection,
)
from meshq.cli.queue import queue
from meshq.cli.render import emit_data
from meshq.errors import UsageError


@queue.group()
def run() -> None:
    """Run a queue with a scheduler."""


#: runs take --name as every command does, to run only some jobs
_RUN_NAME = click.option(
    "--name", help="Run only these jobs: names, ranges (job[1-5]) or globs (job*)."
)


@run.command()
@queue_argument
@parallel_option(1, "How many jobs run at once.")
@_RUN_NAME
@NOTIFY_OPTION
@experiment_option
@format_option()
@click.pass_context
def fifo(
    ctx: click.Context,
    queue_name: str,
    max_parallel: int,
    name: str | None,
    notify: str | None,
    experiment: str | None,
    fmt: str,
) -> int:
    """Run the ready jobs in queue order on the host each is pinned to.

    Jobs with no host are skipped (give them --host, or use fifo_multi).
    Exits 0 when every job it ran ended with exit code 0, else 1. Ctrl-C stops
    starting jobs and waits for the running ones to end; Ctrl-C again quits at
    once, leaving them running (see 'meshq queue refresh'). Exits 130 when
    interrupted. A paused queue's run waits for 'meshq queue resume'.
    """
    from meshq.cli.progress import reporter_for_terminal

    mq = mq_of(ctx)
    check_experiment(mq, queue_name, experiment)
    reporter = reporter_for_terminal(queue_name)
    result = run_async(
        mq.run_fifo(queue_name, max_parallel, name=name, reporter=reporter, handle_signals=True)
    )
    return _finish(queue_name, result, fmt, notify)


@run.command(name="fifo_multi")
@queue_argument
@click.option(
    "--hosts",
    "hosts_",
    metavar="LIST",
    help="user@host,… : one slot per entry (repeat one for more) "
    "[the inventory's active hosts with their slots].",
)
@click.option(
    "--policy",
    type=click.Choice(["sequential", "random", "smart", "frugal"]),
    show_default=True,
    help="Which free host takes a job: the first, any, the most free, the least free "
    "(the queue's own, 'queue set --policy', comes before a config default).",
)
@_RUN_NAME
@NOTIFY_OPTION
@experiment_option
@format_option()
@click.pass_context
def fifo_multi(
    ctx: click.Context,
    queue_name: str,
    hosts_: str | None,
    policy: str | None,
    name: str | None,
    notify: str | None,
    experiment: str | None,
    fmt: str,
) -> int:
    """Run ready and undefined jobs in queue order over many hosts.

    A job goes to a host with a free slot (and enough free GPUs for --gpus)
    chosen by the policy. A host that cannot be reached is marked down and
    tried again later; one lost mid-run gets a grace period before its jobs
    count as crashed. Exits 0 when every job it ran ended with exit code 0;
    Ctrl-C as for fifo (130).
    """
    from meshq.cli.progress import reporter_for_terminal

    mq = mq_of(ctx)
    check_experiment(mq, queue_name, experiment)
    if ctx.get_parameter_source("policy") is click.core.ParameterSource.DEFAULT_MAP:
        # the config file's policy is everyone's default: a queue's own wins
        policy = mq.queue(queue_name).policy or policy
    result = run_async(
        mq.run_fifo_multi(
            queue_name,
            hosts_,
            policy=policy,
            name=name,
            reporter=reporter_for_terminal(queue_name),
            handle_signals=True,
        )
    )
    return _finish(queue_name, result, fmt, notify)


def _finish(queue_name: str, result: Any, fmt: str, notify: str | None) -> int:
    """Say what the run did, then run the --notify command; the run's
    exit status, whatever the notify command does."""
    code = _summarize(queue_name, result, fmt)
    run_notify(notify, run_record(queue_name, result), code)
    return code


def run_record(queue_name: str, result: Any) -> dict[str, Any]:
    """What a run did, for scripts: counts by final state, retries, and
    whether it stopped early."""
    from meshq.model import Status

    return {
        "queue": queue_name,
        "ok": result.ok,
        "finished": {s.value: result.finished[s] for s in Status if result.finished[s]},
        "retried": result.retried,
        "skipped": dict(result.skipped),
        "interrupted": result.interrupted,
        "still_running": result.still_running,
        "left_waiting": result.left_waiting,
        "paused": result.paused,
        "could_not_start": result.stranded,
        "why": result.stranded_why,
        "left_to_other_runs": result.left_to_others,
    }


def _summarize(queue_name: str, result: Any, fmt: str) -> int:
    record = run_record(queue_name, result)
    parts = [f"{n} {s}" for s, n in record["finished"].items()]
    click.echo(f"{queue_name}: " + (", ".join(parts) if parts else "no job finished"), err=True)
    if result.retried:
        click.echo(f"{result.retried} attempt(s) retried (--retries)", err=True)
    if result.paused:
        click.echo(
            f"queue {queue_name} is paused: 'meshq queue resume {queue_name}', then run it again",
            err=True,
        )
    if result.left_to_others:
        click.echo(
            f"{result.left_to_others} job(s) left to the other run(s) of {queue_name}, "
            "which hold its slots",
            err=True,
        )
    if result.stranded:
        click.echo(
            f"{result.stranded} job(s) could not start: {result.stranded_why}; "
            f"'meshq hosts probe' checks the hosts, then run the queue again",
            err=True,
        )
    if result.interrupted:
        _say_interrupted(queue_name, result)
    if fmt != "table":
        emit_data(record, fmt)
    if result.interrupted:
        return INTERRUPTED
    return 0 if result.ok else 1


#: the exit status of a run stopped by Ctrl-C (or SIGTERM): 128 + SIGINT, as shells say
INTERRUPTED = 130


def _say_interrupted(queue_name: str, result: Any) -> None:
    """What a stopped run left: jobs never started, jobs still running."""
    left = [f"{result.left_waiting} job(s) not started"]
    if result.still_running:
        left.append(f"{result.still_running} still running, not watched")
    click.echo(f"stopped (interrupted): {', '.join(left)}", err=True)
    if result.still_running:
        click.echo(
            f"'meshq queue refresh {queue_name}' (or the next run) records how they end",
            err=True,
        )
    if result.left_waiting:
        click.echo(f"'meshq queue run … {queue_name}' runs the rest", err=True)


def _print_moves(moves: list[Any], fmt: str) -> None:
    """State changes: the seed's ``NAME old_status:X new_status:Y`` lines
    for people, ``{"name", "old", "new"}`` records for scripts."""
    if fmt != "table":
        emit_data([{"name": m.name, "old": m.old.value, "new": m.new.value} for m in moves], fmt)
        return
    for m in moves:
        click.echo(f"{m.name}\told_status:{m.old.value}\tnew_status:{m.new.value}")


@queue.command()
@queue_argument
@selection
@format_option()
@click.pass_context
def kill(
    ctx: click.Context, queue_name: str, name: str | None, status: str | None, fmt: str
) -> None:
    """Kill running jobs, with every process they started (--name='*' for all)."""
    if name is None and status is None:
        raise UsageError("give --name (or --status) to say which jobs to kill; all: --name='*'")
    moves = run_async(mq_of(ctx).kill(queue_name, name, status))
    _print_moves(moves, fmt)
    if not moves:
        click.echo("no job was running", err=True)


@queue.command()
@queue_argument
@selection
@click.option(
    "--purge",
    is_flag=True,
    help="Also remove the job folders (every attempt's output) on every host they ran on.",
)
@experiment_option
@format_option()
@click.pass_context
def reset(
    ctx: click.Context,
    queue_name: str,
    name: str | None,
    status: str | None,
    purge: bool,
    experiment: str | None,
    fmt: str,
) -> None:
    """Make jobs runnable again: kill if running, back to ready (undefined
    without a host). Their output stays: the next attempt keeps it in
    JOB/attempts/N/ ('meshq queue logs --attempt=N'). With no option: every
    job not in end."""
    mq = mq_of(ctx)
    check_experiment(mq, queue_name, experiment)
    _print_moves(run_async(mq.reset(queue_name, name, status, purge=purge)), fmt)


@queue.command()
@queue_argument
@selection
@click.option("--yes", "-y", is_flag=True, help="Delete a whole queue without asking.")
@experiment_option
@format_option()
@click.pass_context
def delete(
    ctx: click.Context,
    queue_name: str,
    name: str | None,
    status: str | None,
    yes: bool,
    experiment: str | None,
    fmt: str,
) -> int:
    """Delete the selected jobs, or with no --name/--status the whole queue
    (asked first on a terminal; --yes to skip): running jobs are killed and
    job directories removed."""
    mq = mq_of(ctx)
    check_experiment(mq, queue_name, experiment)
    whole = name is None and status is None
    if whole and not yes and not _confirm_whole(mq, queue_name):
        click.echo(f"kept queue {queue_name}: nothing was deleted", err=True)
        return 1
    n = run_async(mq.delete(queue_name, name, status))
    what = f"queue {queue_name} ({n} job(s))" if whole else f"{n} job(s) from {queue_name}"
    if fmt == "table":
        click.echo(f"deleted {what}")
    else:
        emit_data({"queue": queue_name, "deleted": n, "whole_queue": whole}, fmt)
    return 0


def _confirm_whole(mq: Any, queue_name: str) -> bool:
    """Ask before a whole queue goes; off a terminal, refuse (a script that
    means it says --yes)."""
    import sys

    counts = mq.counts(queue_name)  # an unknown queue is an error before any question
    if not sys.stdin.isatty():
        raise UsageError(
            f"deleting the whole queue {queue_name} needs --yes when not at a terminal "
            "(or choose jobs with --name/--status)"
        )
    from meshq.model import ACTIVE

    running = sum(counts.get(s, 0) for s in ACTIVE)
    also = f", killing {running} running" if running else ""
    question = f"delete queue {queue_name} and its {sum(counts.values())} job(s){also}?"
    return click.confirm(question, default=False, err=True)


@queue.command()
@queue_argument
@experiment_option
@format_option()
@click.pass_context
def refresh(ctx: click.Context, queue_name: str, experiment: str | None, fmt: str) -> None:
    """Read the true state of running jobs from their hosts (after a crash
    of meshq, say) and record it."""
    mq = mq_of(ctx)
    check_experiment(mq, queue_name, experiment)
    moves = run_async(mq.refresh(queue_name))
    _print_moves(moves, fmt)
    if not moves:
        click.echo(f"{queue_name}: every job's state is up to date", err=True)
