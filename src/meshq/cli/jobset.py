"""The seed's files from the command line: ``meshq set jobset[=FILE]`` (the
seed's variable), ``meshq queue import FILE``, ``meshq queue export QUEUE``
and ``meshq hosts export``. Registered on the ``queue`` and ``hosts`` groups
by :mod:`meshq.cli.main`."""

from __future__ import annotations

from typing import Literal

import click

from meshq.cli.main import mq_of
from meshq.errors import UsageError, shown

#: the one variable of the seed's ``cms set`` that meshq has
VARIABLE = "jobset"


_mq = mq_of


@click.command(name="set")
@click.argument("assignment", metavar="jobset[=FILE]", required=False)
@click.pass_context
def set_variable(ctx: click.Context, assignment: str | None) -> None:
    """Show the current jobset ('set jobset'), or make FILE the current
    jobset ('set jobset=FILE', as 'meshq job set FILE')."""
    name, eq, value = (assignment or VARIABLE).partition("=")
    if name.strip() != VARIABLE:
        raise UsageError(
            f"meshq has no variable {shown(name)}: its one variable is jobset "
            "('meshq set jobset=FILE'); hosts and users are set with 'meshq hosts add'"
        )
    mq = _mq(ctx)
    if not eq:
        current = mq.jobset_setting()
        if current is None:
            click.echo(f"jobset is not set; the default is {mq.default_jobset_path()!r}")
        else:
            click.echo(f"jobset={current!r}")
        return
    if not value.strip():
        raise UsageError("jobset= needs a file: 'meshq set jobset=FILE'")
    click.echo(f"jobset={mq.use_jobset(value).path!r}")


@click.command(name="import")
@click.argument("file", metavar="FILE")
@click.option("--name", help="The new queue's name [the one the file records, else its name].")
@click.option("--experiment", metavar="DIR", help="The new queue's experiment folder.")
@click.pass_context
def import_(ctx: click.Context, file: str, name: str | None, experiment: str | None) -> None:
    """Import a seed file as a new queue and hosts.

    FILE is a jobset (cloudmesh: jobset: …), a job spec (jobs by name), a
    <queue>-queue.yaml (a queue) or a <cluster>-cluster.yaml (hosts only).
    Its hosts join the inventory (one already there stays as it is). A field
    meshq does not use is kept and written back by 'queue export'; a field
    nobody knows is refused. All or nothing.
    """
    done = _mq(ctx).import_file(file, name=name, experiment=experiment)
    hosts = f"{len(done.hosts)} new host(s)" + (f": {', '.join(done.hosts)}" if done.hosts else "")
    if done.queue is None:
        click.echo(f"imported {hosts}")
        return
    click.echo(
        f"imported queue {done.queue.name} ({len(done.jobs)} job(s), experiment "
        f"{done.queue.experiment}), {hosts}"
    )


@click.command(name="export")
@click.argument("queue_name", metavar="QUEUE")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["queue", "jobset"]),
    default="queue",
    show_default=True,
    help="queue: the newer seed's <queue>-queue.yaml; jobset: the older seed's jobset.",
)
@click.option("--file", "path", metavar="PATH", help="Write to PATH [stdout].")
@click.pass_context
def export(
    ctx: click.Context, queue_name: str, fmt: Literal["queue", "jobset"], path: str | None
) -> None:
    """Write a queue as a seed file: every job with every field, the
    inventory as a jobset's hosts. 'meshq queue import' reads it back."""
    from meshq.interop import write_file

    mq = _mq(ctx)
    text = mq.export_queue(queue_name, fmt)
    if path is None:
        click.echo(text, nl=False)
        return
    write_file(path, text)
    mq.note_export(queue_name, path)
    click.echo(f"wrote {path}")


@click.command(name="export")
@click.option("--file", "path", metavar="PATH", help="Write to PATH [stdout].")
@click.pass_context
def export_hosts(ctx: click.Context, path: str | None) -> None:
    """Write the inventory as the newer seed's <cluster>-cluster.yaml
    ('meshq queue import' reads it back)."""
    from meshq.interop import write_file

    text = _mq(ctx).export_hosts()
    if path is None:
        click.echo(text, nl=False)
        return
    write_file(path, text)
    click.echo(f"wrote {path}")
