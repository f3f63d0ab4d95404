"""``meshq queue list / status / show / logs``: looking at a queue."""

from __future__ import annotations

import sys
from typing import Any

import click

from meshq.cli import stale
from meshq.cli.main import mq_of, run_async
from meshq.cli.options import (
    FORMATS,
    Duration,
    check_experiment,
    experiment_option,
    format_option,
    job_argument,
    queue_argument,
    selection,
)
from meshq.cli.queue import queue
from meshq.cli.records import (
    ATTEMPT_COLUMNS,
    EVENT_COLUMNS,
    JOB_COLUMNS,
    REMOTE_COLUMN,
    job_record,
    show_lines,
    show_record,
)
from meshq.cli.render import Column, Names, Seconds, cell, emit, emit_data, table
from meshq.errors import UsageError
from meshq.model import ACTIVE, Job


@queue.command(name="list")
@queue_argument
@selection
@format_option((*FORMATS, "joblog"))
@experiment_option
@click.pass_context
def list_(
    ctx: click.Context,
    queue_name: str,
    name: str | None,
    status: str | None,
    fmt: str,
    experiment: str | None,
) -> None:
    """List a queue's jobs in queue order.

    --format=joblog writes GNU Parallel's --joblog columns (Seq Host
    Starttime JobRuntime Send Receive Exitval Signal Command) for the jobs
    that ran to an end.
    """
    import time

    mq = mq_of(ctx)
    check_experiment(mq, queue_name, experiment)
    unwatched = stale.settle(mq, queue_name)
    jobs = mq.select(queue_name, name, status)
    if fmt == "joblog":
        from meshq import joblog

        # Seq is the place in the whole queue, whatever the selection
        seq = {j.id: i for i, j in enumerate(mq.select(queue_name), start=1)}
        click.echo("\n".join(joblog.lines((seq[j.id], j) for j in jobs)))
        return
    now = time.time()
    columns: tuple[Column, ...] = JOB_COLUMNS
    if any(j.remote_id for j in jobs):
        columns = (*JOB_COLUMNS[:4], REMOTE_COLUMN, *JOB_COLUMNS[4:])
    if fmt == "table":
        emit([stale.mark(job_record(j, now), j, unwatched) for j in jobs], fmt, columns)
        unwatched.hint()
    else:
        emit(
            [{**job_record(j, now), "watched": stale.watched(j, unwatched)} for j in jobs],
            fmt,
            columns,
        )


#: how many names of each state a ``queue status`` table names (in queue
#: order) unless --all; the count is always every job's
SHOWN_NAMES = 1000

STATUS_COLUMNS = (
    Column("status", priority=0),
    Column("count", priority=1, right=True),
    Column("jobs", priority=2, wide=True),
)


@queue.command()
@queue_argument
@click.option(
    "--watch",
    "-w",
    is_flag=True,
    help="Redraw counts, running jobs and hosts until no job waits or runs (Ctrl-C stops).",
)
@click.option(
    "--interval",
    type=Duration(least=0.1),
    default="1s",
    show_default=True,
    metavar="DURATION",
    help="How often --watch redraws (0.5, 2s, 1m).",
)
@click.option(
    "--all",
    "all_names",
    is_flag=True,
    help=f"Name every job of each state in the table (it names the first "
    f"{SHOWN_NAMES:,} of each; --format=json names every job).",
)
@format_option()
@click.pass_context
def status(
    ctx: click.Context, queue_name: str, watch: bool, interval: float, all_names: bool, fmt: str
) -> int:
    """Count the jobs per state, and name them, grouped by state; --watch
    for a live view."""
    if watch:
        if fmt != "table":
            raise UsageError("--watch draws for people: drop --format (or drop --watch)")
        from meshq.cli.watch import watch as live

        return live(mq_of(ctx), queue_name, interval)
    mq = mq_of(ctx)
    unwatched = stale.settle(mq, queue_name)
    if fmt == "table" and not all_names:
        # a table is cut to the terminal's width: collapsing a million names
        # (1 s) to show its first 200 cells is the cost this rule removes
        counted = mq.first_by_status(queue_name, SHOWN_NAMES)
    else:
        counted = {s: (len(names), names) for s, names in mq.by_status(queue_name).items()}
    rows: list[dict[str, Any]] = [
        {"status": s.value, "count": n, "jobs": Names(names, more=n - len(names))}
        for s, (n, names) in counted.items()
    ]
    total = sum(n for n, _ in counted.values())
    if unwatched.ids:
        # the jobs whose state may be old get a row of their own: start?
        old = {j.name: j for j in mq.select(queue_name, status=list(ACTIVE))}
        rows = _split_unwatched(rows, old, unwatched)
    if fmt == "table":
        rows = [
            {**r, "status": r["status"] + stale.MARK} if r.get("watched") is False else r
            for r in rows
        ]
    emit(rows, fmt, STATUS_COLUMNS, title=f"{queue_name}: {total} job(s)")
    if fmt == "table":
        unwatched.hint()
    return 0


def _split_unwatched(
    rows: list[dict[str, Any]], jobs: dict[str, Job], unwatched: stale.Unwatched
) -> list[dict[str, Any]]:
    """``status`` rows with each running state's unwatched jobs apart."""
    out = []
    for row in rows:
        names = list(row["jobs"])
        doubtful = [n for n in names if n in jobs and jobs[n].id in unwatched.ids]
        sure = [n for n in names if n not in doubtful]
        if sure or row["jobs"].more:
            more = row["jobs"].more
            out.append({**row, "count": len(sure) + more, "jobs": Names(sure, more=more)})
        if doubtful:
            out.append({**row, "count": len(doubtful), "jobs": Names(doubtful), "watched": False})
    return out


SUMMARY_HOST_COLUMNS = (
    Column("host", priority=0),
    Column("attempts", priority=1, right=True),
    Column("end", priority=2, right=True),
    Column("failed", priority=1, right=True),
    Column("mean_runtime", "mean runtime", priority=3, right=True),
    Column("failures", priority=4, wide=True),
)


def _seconds(value: float | None) -> Seconds | None:
    return None if value is None else Seconds(value)


@queue.command()
@queue_argument
@format_option()
@click.pass_context
def summary(ctx: click.Context, queue_name: str, fmt: str) -> None:
    """Counts per state, how long jobs ran (mean, median, max), and each
    host's attempts and failures (retried attempts too)."""
    mq = mq_of(ctx)
    unwatched = stale.settle(mq, queue_name)
    s = mq.summary(queue_name)
    stats = s.runtime
    runtime = {
        "jobs": stats.jobs,
        **{k: _seconds(getattr(stats, k)) for k in ("mean", "median", "max", "min")},
    }
    hosts: list[dict[str, Any]] = [
        {
            "host": h.host,
            "attempts": h.attempts,
            "end": h.end,
            "failed": h.failed,
            "failures": {st.value: n for st, n in h.by_status.items() if st.value != "end"},
            "mean_runtime": _seconds(h.mean_runtime),
        }
        for h in s.hosts
    ]
    counts = {st.value: n for st, n in s.counts.items()}
    if fmt != "table":
        emit_data(
            {
                "queue": s.queue,
                "jobs": s.jobs,
                "counts": counts,
                "runtime": runtime,
                "hosts": hosts,
                "unwatched": len(unwatched.ids),
            },
            fmt,
        )
        return
    states = ", ".join(f"{n} {st}" for st, n in counts.items()) or "no jobs"
    click.echo(f"{s.queue}: {s.jobs} job(s): {states}")
    if stats.jobs:
        click.echo(
            f"runtime of {stats.jobs} finished job(s): mean {cell(runtime['mean'])}, "
            f"median {cell(runtime['median'])}, max {cell(runtime['max'])}"
        )
    if hosts:
        click.echo("")
        rows = [
            {**h, "failures": ", ".join(f"{n} {st}" for st, n in h["failures"].items())}
            for h in hosts
        ]
        table(rows, SUMMARY_HOST_COLUMNS)
    unwatched.hint()


@queue.command()
@queue_argument
@job_argument
@format_option()
@click.pass_context
def show(ctx: click.Context, queue_name: str, job_name: str, fmt: str) -> None:
    """Every field of one job, and its state history (JSON: one object)."""
    mq = mq_of(ctx)
    unwatched = stale.settle(mq, queue_name)
    job = mq.one(queue_name, job_name)
    record = show_record(
        job,
        mq.history(queue_name, job.name),
        mq.dependencies(queue_name, job.name),
        mq.files(job),
        [(rec, mq.attempt_files(job, rec)) for rec in mq.attempts(job)],
    )
    if fmt != "table":
        emit_data({**record, "watched": stale.watched(job, unwatched)}, fmt)
        return
    record = stale.mark(record, job, unwatched)
    lines = show_lines(record)
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        click.echo(f"{key:<{width}}  {cell(value)}".rstrip())
    if len(record["attempt_list"]) > 1:
        click.echo("")
        table(record["attempt_list"], ATTEMPT_COLUMNS, title="attempts")
    click.echo("")
    table(record["history"], EVENT_COLUMNS, title="history")
    unwatched.hint()


@queue.command()
@queue_argument
@job_argument
@click.option("--stderr", "stderr", is_flag=True, help="Show stderr instead of stdout.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output until the job ends.")
@click.option(
    "--attempt",
    type=click.IntRange(min=1),
    metavar="N",
    help="The output of attempt N ('queue show' lists them) [the latest].",
)
@click.pass_context
def logs(
    ctx: click.Context,
    queue_name: str,
    job_name: str,
    stderr: bool,
    follow: bool,
    attempt: int | None,
) -> None:
    """Print a job's output (as it is: the job's own bytes)."""
    mq = mq_of(ctx)
    job = mq.one(queue_name, job_name)

    async def copy() -> None:
        out = sys.stdout.buffer
        chunks = mq.logs(queue_name, job.name, stderr=stderr, follow=follow, attempt=attempt)
        async for chunk in chunks:
            out.write(chunk)
            out.flush()

    run_async(copy())
