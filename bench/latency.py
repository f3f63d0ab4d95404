"""How long after a job exits the store says so.

Each job sleeps, then writes the time (``date +%s.%N``) into its job folder
as its last act; the store's history has the time its ``end`` was recorded
(``SELECT time FROM events WHERE new = 'end'``). The difference, per job, is
the exit-to-end latency: the wrapper noticing the exit, its line to the
manager, the manager's transaction. The median over the jobs of a run is
the run's figure. The details split it at the job's ``ended`` field (the
wrapper's own clock reading after ``wait``): host side, then manager side.
"""

from __future__ import annotations

from pathlib import Path

from bench.common import Context, Measure, Meshq, fill_queue, guard, median

JOBS = 200
PARALLEL = 8
#: each job sleeps this long, so exits spread out as real jobs' do (s)
JOB_SLEEP = 0.1


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def one_run(ctx: Context, jobs: int) -> dict[str, float]:
    """Run ``jobs`` jobs that record their exit; latency figures in ms."""
    mq = Meshq(ctx.scratch("latency") / "store")
    experiment = mq.home.parent / "exp"
    command = f'sleep {JOB_SLEEP}; date +%s.%N > "$MESHQ_JOB_DIR/exit_time"'
    fill_queue(mq, "lat", experiment, jobs, command, "--host=localhost")
    mq("queue", "run", "fifo", "lat", f"--max_parallel={PARALLEL}")
    mq.require_all_ended("lat", jobs)
    rows = mq.query(
        "SELECT jobs.name, jobs.ended, events.time FROM events "
        "JOIN jobs ON jobs.id = events.job_id WHERE events.new = 'end'"
    )
    total, host_side, manager_side = [], [], []
    for name, ended, recorded in rows:
        exited = float(Path(experiment, "lat", name, "exit_time").read_text())
        total.append((recorded - exited) * 1000)
        host_side.append((ended - exited) * 1000)
        manager_side.append((recorded - ended) * 1000)
    # kept until the suite ends, as in throughput.py (ext4 and freed inodes)
    if len(total) != jobs:
        raise RuntimeError(f"{len(total)} end events for {jobs} jobs")
    return {
        "median_ms": median(total),
        "p90_ms": _percentile(total, 0.9),
        "max_ms": max(total),
        "exit_to_ended_median_ms": median(host_side),
        "ended_to_event_median_ms": median(manager_side),
    }


def exit_to_end(ctx: Context, jobs: int = JOBS, bound_ms: float = 50) -> list[Measure]:
    """Median time from a job's exit to its ``end`` in the store."""
    measure = Measure(
        "exit_to_end_ms",
        f"exit -> end in the store, median over {jobs} jobs (sleep {JOB_SLEEP}), "
        f"fifo --max_parallel={PARALLEL}",
        "ms",
        bound_ms,
        "<",
    )
    with guard(ctx, measure):
        runs = []
        for i in range(ctx.repeat):
            runs.append(one_run(ctx, jobs))
            ctx.log(
                f"  repeat {i + 1}/{ctx.repeat}: median {runs[-1]['median_ms']:.1f} ms, "
                f"p90 {runs[-1]['p90_ms']:.1f} ms"
            )
        measure.set_runs([r["median_ms"] for r in runs])
        measure.details = {key: median([r[key] for r in runs]) for key in runs[0]}
    return [measure]
