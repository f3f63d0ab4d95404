"""``meshq queue list / status / show / logs``: looking at a queue."""

from __future__ import annotations

import sys

import click

from meshq.cli.main import mq_of, run_async
from meshq.cli.options import check_experiment, experiment_option, format_option, selection
from meshq.cli.queue import queue
from meshq.cli.records import EVENT_COLUMNS, JOB_COLUMNS, job_record, show_lines, show_record
from meshq.cli.render import Column, Names, cell, emit, emit_data, table


@queue.command(name="list")
@click.argument("queue_name", metavar="QUEUE")
@selection
@format_option()
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
    """List a queue's jobs in queue order."""
    import time

    mq = mq_of(ctx)
    check_experiment(mq, queue_name, experiment)
    now = time.time()
    jobs = mq.select(queue_name, name, status)
    emit([job_record(j, now) for j in jobs], fmt, JOB_COLUMNS)


STATUS_COLUMNS = (
    Column("status", priority=0),
    Column("count", priority=1, right=True),
    Column("jobs", priority=2, wide=True),
)


@queue.command()
@click.argument("queue_name", metavar="QUEUE")
@format_option()
@click.pass_context
def status(ctx: click.Context, queue_name: str, fmt: str) -> None:
    """Count the jobs per state, and name them, grouped by state."""
    groups = mq_of(ctx).by_status(queue_name)
    rows = [
        {"status": s.value, "count": len(names), "jobs": Names(names)}
        for s, names in groups.items()
    ]
    total = sum(len(names) for names in groups.values())
    emit(rows, fmt, STATUS_COLUMNS, title=f"{queue_name}: {total} job(s)")


@queue.command()
@click.argument("queue_name", metavar="QUEUE")
@click.argument("job_name", metavar="JOB")
@format_option()
@click.pass_context
def show(ctx: click.Context, queue_name: str, job_name: str, fmt: str) -> None:
    """Every field of one job, and its state history (JSON: one object)."""
    mq = mq_of(ctx)
    job = mq.one(queue_name, job_name)
    record = show_record(
        job, mq.history(queue_name, job.name), mq.dependencies(queue_name, job.name)
    )
    if fmt != "table":
        emit_data(record, fmt)
        return
    lines = show_lines(record)
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        click.echo(f"{key:<{width}}  {cell(value)}".rstrip())
    click.echo("")
    table(record["history"], EVENT_COLUMNS, title="history")


@queue.command()
@click.argument("queue_name", metavar="QUEUE")
@click.argument("job_name", metavar="JOB")
@click.option("--stderr", "stderr", is_flag=True, help="Show stderr instead of stdout.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output until the job ends.")
@click.pass_context
def logs(ctx: click.Context, queue_name: str, job_name: str, stderr: bool, follow: bool) -> None:
    """Print a job's output (as it is: the job's own bytes)."""
    mq = mq_of(ctx)
    job = mq.one(queue_name, job_name)

    async def copy() -> None:
        out = sys.stdout.buffer
        async for chunk in mq.logs(queue_name, job.name, stderr=stderr, follow=follow):
            out.write(chunk)
            out.flush()

    run_async(copy())
