"""Does a run cost more per job as the queue grows, and how much memory
does the manager need for a big one?

Two queues of ``true`` jobs, a small and a large one, each run with
``queue run fifo --max_parallel=8``. A run's cost per job is its steady
span (from the first job's start to the last one's end, from the store)
over its jobs: the start of Python and of the agent, paid once a run, would
otherwise make the large queue look cheaper per job than it is. The figure
is the large queue's cost per job over the small one's (1.0: no growth).
Peak memory is the ``wait4`` maximum RSS of the ``meshq queue run`` process
of the large queue (its local agent, a small bash, is counted if bigger).
"""

from __future__ import annotations

from bench.common import Context, Measure, Meshq, guard, median
from bench.throughput import run_queue

SMALL = 1_000
LARGE = 10_000
FULL_SMALL = 1_000
FULL_LARGE = 100_000
PARALLEL = 8


def run_scaling(ctx: Context) -> list[Measure]:
    """Per-job cost of a large queue against a small one; peak RSS."""
    small, large = (FULL_SMALL, FULL_LARGE) if ctx.full else (SMALL, LARGE)
    growth = Measure(
        "per_job_growth",
        f"run cost per job of true, {large} jobs / {small} jobs, fifo --max_parallel={PARALLEL}",
        "x",
        1.2,
        "<=",
    )
    memory = Measure(
        "peak_rss_mb",
        f"peak RSS of meshq queue run fifo, {large} jobs",
        "MB",
        300,
        "<",
    )
    with guard(ctx, growth, memory):
        smalls, larges = [], []
        for i in range(ctx.repeat):
            args = (f"--max_parallel={PARALLEL}",)
            smalls.append(
                run_queue(ctx, Meshq(ctx.scratch("small") / "store"), small, "fifo", *args)
            )
            larges.append(
                run_queue(ctx, Meshq(ctx.scratch("large") / "store"), large, "fifo", *args)
            )
            lo, hi = smalls[-1], larges[-1]
            ctx.log(
                f"  repeat {i + 1}/{ctx.repeat}: {small} jobs {lo['steady_jobs_per_s']:.0f} "
                f"jobs/s steady ({lo['jobs_per_s']:.0f} wall), {large} jobs "
                f"{hi['steady_jobs_per_s']:.0f} jobs/s steady ({hi['jobs_per_s']:.0f} wall), "
                f"peak RSS {hi['peak_rss_mb']:.0f} MB"
            )
        # seconds per job = 1 / rate: large/small per-job cost = small rate / large rate
        growth.set_runs(
            [
                s["steady_jobs_per_s"] / g["steady_jobs_per_s"]
                for s, g in zip(smalls, larges, strict=True)
            ]
        )
        memory.set_runs([g["peak_rss_mb"] for g in larges])
        growth.details = {
            "small_ms_per_job": median([1000 / s["steady_jobs_per_s"] for s in smalls]),
            "large_ms_per_job": median([1000 / g["steady_jobs_per_s"] for g in larges]),
            "wall_ratio": median(
                [s["jobs_per_s"] / g["jobs_per_s"] for s, g in zip(smalls, larges, strict=True)]
            ),
            "small_wall_jobs_per_s": median([s["jobs_per_s"] for s in smalls]),
            "large_wall_jobs_per_s": median([g["jobs_per_s"] for g in larges]),
        }
        memory.details = {
            "max_mb": max(g["peak_rss_mb"] for g in larges),
            "small_queue_mb": median([s["peak_rss_mb"] for s in smalls]),
        }
    return [growth, memory]
