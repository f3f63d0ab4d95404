"""``meshq demo``: the first thing a newcomer types."""

from __future__ import annotations

from typing import Any

import click

from meshq import paths
from meshq.cli.main import State, run_async
from meshq.cli.options import parallel_option

DEMO_QUEUE = "demo"
DEMO_JOBS = 20
#: the job that fails on purpose, to show what a failure looks like
DEMO_FAILING = 13
DEMO_COMMAND = (
    'sleep "0.$((RANDOM % 8))"; '
    'echo "hello from $MESHQ_JOB (index $MESHQ_INDEX) on $(hostname)"; '
    f'if [ "$MESHQ_INDEX" = {DEMO_FAILING} ]; then echo "failing on purpose" >&2; exit 3; fi'
)


@click.command()
@parallel_option(4, "How many demo jobs run at once.")
@click.pass_context
def demo(ctx: click.Context, max_parallel: int) -> int:
    """Create a demo queue of 20 short jobs (one fails on purpose) and run it here.

    The queue is made anew each time; its files go under meshq's data folder.
    """
    from meshq.cli.progress import reporter_for_terminal
    from meshq.errors import NotFound
    from meshq.model import Status
    from meshq.store.connection import data_home

    state: State = ctx.find_object(State)  # type: ignore[assignment]
    mq: Any = state.mq
    try:
        mq.queue(DEMO_QUEUE)
        run_async(mq.delete(DEMO_QUEUE))
    except NotFound:
        pass
    experiment = str(data_home() / "experiments")
    queue = mq.create_queue(DEMO_QUEUE, experiment)
    mq.add(DEMO_QUEUE, f"job[1-{DEMO_JOBS}]", DEMO_COMMAND, host="localhost")
    click.echo(
        f"meshq demo: {DEMO_JOBS} jobs on this machine, {max_parallel} at a time; "
        f"job{DEMO_FAILING} fails on purpose",
        err=True,
    )
    result = run_async(
        mq.run_fifo(
            DEMO_QUEUE,
            max_parallel,
            reporter=reporter_for_terminal(DEMO_QUEUE),
            handle_signals=True,
        )
    )
    counts = mq.counts(DEMO_QUEUE)
    click.echo("")
    # the states' own names, as every command prints them
    shown = ", ".join(f"{counts[s]} {s.value}" for s in Status if s in counts)
    click.echo(f"{DEMO_QUEUE}: {shown} (store: {mq.store.path})")
    click.echo(f"job files: {paths.queue_folder(queue, local=True)}/JOB/")
    click.echo("")
    click.echo("Next, try:")
    click.echo(f"  meshq queue status {DEMO_QUEUE}")
    click.echo(f"  meshq queue list {DEMO_QUEUE} --status=fail")
    click.echo(f"  meshq queue logs {DEMO_QUEUE} job{DEMO_FAILING} --stderr")
    click.echo(f"  meshq queue show {DEMO_QUEUE} job{DEMO_FAILING}")
    click.echo(
        f"  meshq queue reset {DEMO_QUEUE} --status=fail && "
        f"meshq queue run fifo {DEMO_QUEUE} --max_parallel=4"
    )
    as_planned = (
        counts.get(Status.END, 0) == DEMO_JOBS - 1
        and counts.get(Status.FAIL, 0) == 1
        and not result.interrupted
    )
    # the one failure is the point of the demo: success means it went as planned
    return 0 if as_planned else 1
