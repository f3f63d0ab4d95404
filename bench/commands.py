"""Commands a person types, timed as cold processes: ``queue add`` of many
jobs, ``queue list`` and ``queue status`` on a big queue, ``meshq --help``
and ``meshq queues``.

Each is a new ``meshq`` process (the console script), with its output going
to a file, after one untimed start that warms the file cache as any earlier
command would have; the figure is the median wall.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys

from bench.common import Context, Measure, Meshq, cold_walls, guard, median, timed

ADD_JOBS = 100_000
#: of the big queue, these first jobs have run (every FAIL_EVERY-th failed)
DONE = 60_000
FAIL_EVERY = 97


def _add(ctx: Context, jobs: int) -> tuple[Meshq, float]:
    """A new store with one queue; the wall of adding ``job[1-JOBS]`` to it."""
    mq = Meshq(ctx.scratch("add") / "store")
    mq("queue", "create", "big", f"--experiment={mq.home.parent / 'exp'}")
    wall = mq(
        "queue", "add", "big", f"--name=job[1-{jobs}]", "--command=true", "--host=localhost"
    ).wall
    return mq, wall


def _as_if_run(mq: Meshq) -> None:
    """Make the big queue look part-way through a run: the first
    :data:`DONE` jobs ended (every :data:`FAIL_EVERY`-th one failed), the
    rest ready. Written straight into the store: running 60,000 jobs to get
    there would take minutes and change nothing the reads below look at."""
    with contextlib.closing(sqlite3.connect(mq.db)) as conn, conn:
        conn.execute(
            "UPDATE jobs SET status = 'end', exit_code = 0, attempts = 1, "
            "started = submitted + 1, ended = submitted + 2 WHERE id <= ?",
            (DONE,),
        )
        conn.execute(
            "UPDATE jobs SET status = 'fail', exit_code = 1 WHERE id <= ? AND id % ? = 0",
            (DONE, FAIL_EVERY),
        )


def _add_measure(jobs: int, bound_s: float) -> Measure:
    return Measure(
        f"add_{jobs // 1000}k_s",
        f"meshq queue add --name=job[1-{jobs}] (cold process)",
        "s",
        bound_s,
        "<",
    )


def add_jobs(ctx: Context, jobs: int = ADD_JOBS, bound_s: float = 3.0) -> tuple[Measure, Meshq]:
    """Wall of ``meshq queue add --name=job[1-JOBS]`` in a new store; also
    the store of the last repeat, for the reads that follow."""
    measure = _add_measure(jobs, bound_s)
    walls, stores = [], []
    for i in range(ctx.repeat):
        mq, wall = _add(ctx, jobs)
        walls.append(wall)
        stores.append(mq)
        ctx.log(f"  repeat {i + 1}/{ctx.repeat}: {wall:.2f} s")
    measure.set_runs(walls)
    return measure, stores[-1]


def store_commands(ctx: Context) -> list[Measure]:
    """queue add of 100,000 jobs; list, status, queues and --help after it."""
    listing = Measure(
        "list_fail_ms",
        f"meshq queue list --status=fail on a {ADD_JOBS}-job queue (cold process)",
        "ms",
        300,
        "<",
    )
    status = Measure(
        "status_ms",
        f"meshq queue status on a {ADD_JOBS}-job queue (cold process)",
        "ms",
        300,
        "<",
    )
    helps = Measure("help_ms", "meshq --help (cold process)", "ms", 150, "<")
    queues = Measure(
        "queues_ms",
        f"meshq queues, a {ADD_JOBS}-job queue in the store (cold process)",
        "ms",
        150,
        "<",
    )
    times = max(5, ctx.repeat)
    add = _add_measure(ADD_JOBS, 3.0)  # replaced by the figures once taken
    with guard(ctx, add, listing, status, helps, queues):
        add, mq = add_jobs(ctx)
        _as_if_run(mq)
        fails = mq("queue", "list", "big", "--status=fail", "--output=json").stdout
        # the same store, for meshq compiling its modules at each start
        uncached = Meshq(mq.home, bytecode=False)
        for m, args in (
            (listing, ("queue", "list", "big", "--status=fail")),
            (status, ("queue", "status", "big")),
            (queues, ("queues",)),
            (helps, ("--help",)),
        ):
            m.set_runs([w * 1000 for w in cold_walls(mq, args, times)])
            m.details["no_bytecode_cache_ms"] = median(cold_walls(uncached, args, times)) * 1000
            ctx.log(
                f"  meshq {' '.join(args)}: median {m.value:.0f} ms of {times} "
                f"({m.details['no_bytecode_cache_ms']:.0f} ms without a bytecode cache)"
            )
        shape = f"{DONE} ended, 1 in {FAIL_EVERY} of those failed, the rest ready"
        listing.details.update(queue=shape, failed_jobs=len(json.loads(fails)))
        status.details["queue"] = shape
        python = [timed([sys.executable, "-c", "pass"]).wall * 1000 for _ in range(times)]
        helps.details["python_c_pass_ms"] = median(python)
    return [add, listing, status, helps, queues]


def cli_start(ctx: Context, bound_ms: float = 500) -> list[Measure]:
    """Wall of a cold ``meshq --help`` (the quick check's bound)."""
    measure = Measure("help_ms", "meshq --help (cold process)", "ms", bound_ms, "<")
    with guard(ctx, measure):
        mq = Meshq(ctx.scratch("help") / "store")
        measure.set_runs([w * 1000 for w in cold_walls(mq, ("--help",), max(5, ctx.repeat))])
    return [measure]
