#!/usr/bin/env python3
"""meshq on a Slurm cluster against Slurm by hand: 2,000 jobs of ``true`` on one
single-node cluster (``tests/support/slurm.py``: real slurmctld, slurmd and munge,
32 CPUs advertised), three ways, one after the other in the same run:

* **meshq**: ``meshq queue run fifo_multi`` on a queue of 2,000 jobs whose host is the
  cluster (``hosts add hpc --kind=slurm --login=local --max_jobs_allowed=2000``), each
  job through meshq's wrapper (its .out, .err and state log, as on any host);
* **an sbatch loop**: ``sbatch --wrap=true`` once per job, from one bash loop, as a
  script that submits jobs one by one does;
* **a hand-written array**: ``sbatch --array=0-999 --wrap=true`` twice (the cluster's
  MaxArraySize is 1001), the fastest a person can hand Slurm these jobs.

Two times per way, from its start: *submitted* (Slurm holds all its jobs: polled with
``squeue`` every 50 ms; for meshq, from the start of the ``meshq queue run``
process, Python's start and connecting included) and *done* (all its jobs are over:
meshq's process has exited, having recorded every job; the others when ``squeue``
shows none of theirs waiting or running).

    python bench/slurm.py [--jobs 2000] [--repeat 1]    # on its own (root, Slurm installed)
    ./scripts/bench --only slurm                        # in the suite

Targets: meshq submits at least 10x as many jobs per second as the sbatch loop, and
its done time is within 80% of the array's (array time / meshq time >= 0.8).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Context, Measure, Meshq, fill_queue, guard
from tests.support.slurm import SlurmCluster, slurm_available, start_slurm

JOBS = 2000
#: how often Slurm is asked how many of a way's jobs it holds (s)
POLL = 0.05
#: Slurm keeps finished jobs MinJobAge seconds: room for every repeat's jobs
EXTRA_CONF = ("MaxJobCount=200000",)
_ACTIVE = "PD,CF,R,CG,S"


def _count(slurm: SlurmCluster, name: str, states: str = "all") -> int:
    out = slurm.run("squeue", "-h", "-r", "-t", states, "-n", name, "-o", "%i", check=False)
    return len(out.stdout.split())


class _Watch:
    """Polls, in a thread, when Slurm first holds ``jobs`` jobs named ``name``."""

    def __init__(self, slurm: SlurmCluster, name: str, jobs: int) -> None:
        self.slurm, self.name, self.jobs = slurm, name, jobs
        self.start = time.perf_counter()
        self.submitted: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if _count(self.slurm, self.name) >= self.jobs:
                self.submitted = time.perf_counter() - self.start
                return
            time.sleep(POLL)

    def close(self) -> float:
        self._stop.set()
        self._thread.join()
        if self.submitted is None:
            raise RuntimeError(f"Slurm never held all {self.jobs} jobs named {self.name}")
        return self.submitted


def _wait_done(slurm: SlurmCluster, name: str, start: float, timeout: float = 900) -> float:
    while _count(slurm, name, _ACTIVE):
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"jobs named {name} still running after {timeout} s")
        time.sleep(POLL)
    return time.perf_counter() - start


def run_meshq(ctx: Context, slurm: SlurmCluster, jobs: int) -> dict[str, float]:
    """2,000 jobs through ``meshq queue run fifo_multi`` on the cluster."""
    home = ctx.scratch("slurm-meshq")
    mq = Meshq(home, slurm.env)
    mq("hosts", "add", "hpc", "--kind=slurm", "--login=local", f"--max_jobs_allowed={jobs}")
    queue = f"bench{int(time.time() * 1000) % 10**9}"
    fill_queue(mq, queue, home.parent / f"{home.name}-exp", jobs, "true")
    watch = _Watch(slurm, f"meshq-{queue}", jobs)
    proc = subprocess.run(
        [*mq.argv, "queue", "run", "fifo_multi", queue],
        env=mq.env,
        capture_output=True,
        text=True,
        check=False,
    )
    done = time.perf_counter() - watch.start
    submitted = watch.close()
    if proc.returncode != 0:
        raise RuntimeError(f"meshq queue run exited {proc.returncode}: {proc.stderr[-1000:]}")
    mq.require_all_ended(queue, jobs)
    return {"submitted_s": submitted, "done_s": done}


def run_loop(slurm: SlurmCluster, jobs: int, name: str) -> dict[str, float]:
    """One ``sbatch --wrap=true`` per job, from a bash loop."""
    script = (
        f'for ((i = 0; i < {jobs}; i++)); do sbatch --parsable -J "$1" -o /dev/null '
        "-e /dev/null --wrap=true > /dev/null || exit 1; done"
    )
    start = time.perf_counter()
    subprocess.run(
        ["bash", "-c", script, "loop", name],
        env={**os.environ, **slurm.env},
        check=True,
        capture_output=True,
    )
    submitted = time.perf_counter() - start
    return {"submitted_s": submitted, "done_s": _wait_done(slurm, name, start)}


def run_array(slurm: SlurmCluster, jobs: int, name: str, max_array: int = 1001) -> dict[str, float]:
    """The jobs as hand-written arrays of at most ``max_array`` tasks."""
    start = time.perf_counter()
    for first in range(0, jobs, max_array):
        n = min(max_array, jobs - first)
        slurm.run(
            "sbatch", "--parsable", "-J", name, "-o", "/dev/null", "-e", "/dev/null",
            f"--array=0-{n - 1}", "--wrap=true",
        )  # fmt: skip
    submitted = time.perf_counter() - start
    return {"submitted_s": submitted, "done_s": _wait_done(slurm, name, start)}


def slurm_throughput(ctx: Context, jobs: int = JOBS) -> list[Measure]:
    """The measures of this module (see its doc). One repeat unless ``--full``:
    each takes some three minutes, Slurm's scheduling pace being what it is."""
    submit = Measure(
        "slurm_submit_vs_loop",
        f"jobs/s submitted to Slurm, {jobs:,} jobs: meshq over an sbatch loop",
        "x",
        10.0,
        ">=",
    )
    e2e = Measure(
        "slurm_vs_array",
        f"{jobs:,} jobs on Slurm, all done: a hand-written sbatch --array's time over meshq's",
        "x",
        0.8,
        ">=",
    )
    reason = slurm_available()
    if reason is not None:
        submit.skipped = e2e.skipped = reason
        return [submit, e2e]
    repeats = ctx.repeat if ctx.full else 1
    with guard(ctx, submit, e2e):
        slurm = start_slurm(extra=EXTRA_CONF)
        try:
            submit_runs, e2e_runs, details = [], [], []
            for r in range(repeats):
                mine = run_meshq(ctx, slurm, jobs)
                loop = run_loop(slurm, jobs, f"bench-loop-{r}")
                array = run_array(slurm, jobs, f"bench-array-{r}")
                submit_runs.append(loop["submitted_s"] / mine["submitted_s"])
                e2e_runs.append(array["done_s"] / mine["done_s"])
                figures = {"meshq": mine, "sbatch_loop": loop, "sbatch_array": array}
                details.append(figures)
                ctx.log(
                    "  "
                    + "; ".join(
                        f"{way}: submitted {f['submitted_s']:.2f} s "
                        f"({jobs / f['submitted_s']:,.0f} jobs/s), done {f['done_s']:.1f} s"
                        for way, f in figures.items()
                    )
                )
            submit.set_runs(submit_runs)
            e2e.set_runs(e2e_runs)
            for m in (submit, e2e):
                m.details = {"jobs": jobs, "runs": details}
        finally:
            slurm.stop()
    return [submit, e2e]


def main(argv: list[str] | None = None) -> int:
    import argparse

    from bench.common import scratch_root, use_bytecode_cache, warm_bytecode

    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=JOBS, help=f"jobs per way [{JOBS}]")
    ap.add_argument("--repeat", type=int, default=1, help="runs (median) [1]")
    args = ap.parse_args(argv)
    with scratch_root() as work:
        use_bytecode_cache(work / "pycache")
        warm_bytecode()
        ctx = Context(work, args.repeat, full=args.repeat > 1)
        measures = slurm_throughput(ctx, jobs=args.jobs)
    for m in measures:
        if m.value is None:
            print(f"{m.key}: {m.skipped or m.error}")
            continue
        verdict = "met" if m.met else "NOT met"
        print(f"{m.key}: {m.value:.2f}{m.unit} (target {m.op} {m.target:g}{m.unit}: {verdict})")
    return 0 if all(m.met for m in measures) else 1


if __name__ == "__main__":
    sys.exit(main())
