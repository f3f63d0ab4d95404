"""The manager alone, on a thousand simulated hosts.

``queue run fifo_multi`` of a large queue over 1,000 hosts × 16 slots whose
hosts answer at once without forking (:mod:`bench.simhost`): what is
measured is meshq's own work — claiming, placing, launching, recording —
not the hosts'. The manager is ``python -m bench.simrun``, a process of its
own driving meshq's ``Runner`` (the same code ``queue run`` runs), so its
CPU and peak RSS (``wait4``) are the manager's (and the simulated hosts',
which run in it: their share is in the profile, ``bench/RESULTS.md``).

While it runs, ``meshq queue status`` and ``meshq queue list --status=fail``
are timed on the queue, each a new process, as a user would type them.

The queue's jobs are ``true`` with no host; a simulated job "runs" 1 s and
every 97th exits 1 (so ``list --status=fail`` has rows). The default suite
runs 100,000 jobs (``--full``: 1,000,000) and a 10,000-job queue for the
growth of the cost per job. ``sim_managers``: 2 and 4 managers at once on
one queue, each over hosts of its own, and all over the same hosts (slots
shared through the store: run leases, claims counted in the transaction);
every job must run exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Context, Measure, Meshq, fill_queue, guard, median

HOSTS = 1000
SLOTS = 16
SMALL = 10_000
LARGE = 100_000
FULL_LARGE = 1_000_000
MANAGERS_JOBS = 50_000
#: status and list are timed this often during the large run
READS = 5
BENCH = Path(__file__).resolve().parent


def _manager(
    mq: Meshq,
    queue: str,
    out: Path,
    *,
    profile: Path | None = None,
    prefix: str = "sim",
    hosts: int = HOSTS,
) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "bench.simrun",
        "--queue",
        queue,
        "--hosts",
        str(hosts),
        "--slots",
        str(SLOTS),
        "--prefix",
        prefix,
        "--out",
        str(out),
    ]
    if profile is not None:
        argv += ["--profile", str(profile)]
    path = mq.env.get("PYTHONPATH", "")
    return subprocess.Popen(
        argv,
        env={**mq.env, "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH.parent), path]))},
        cwd=BENCH.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def _wait(proc: subprocess.Popen[bytes]) -> float:
    """Wait for ``proc``; its peak RSS (MB), from ``wait4``."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"bench.simrun exited {proc.returncode}")
    return float(usage.ru_maxrss) / 1024


def sim_run(
    ctx: Context, jobs: int, *, reads: int = 0, profile: Path | None = None
) -> dict[str, Any]:
    """Run ``jobs`` jobs over the simulated hosts; the manager's figures,
    and the walls of ``status``/``list`` taken ``reads`` times meanwhile."""
    mq = Meshq(ctx.scratch("sim") / "store")
    fill_queue(mq, "q", mq.home.parent / "exp", jobs, "true")
    out = mq.home.parent / "run.json"
    load = Path("/proc/loadavg").read_text().split()[0]
    proc = _manager(mq, "q", out, profile=profile)
    assert proc.stdout is not None
    proc.stdout.readline()  # "running": the run has started
    status_ms: list[float] = []
    list_ms: list[float] = []
    for _ in range(reads):
        time.sleep(1.0)
        if proc.poll() is not None:
            break
        status_ms.append(mq("queue", "status", "q").wall * 1000)
        list_ms.append(mq("queue", "list", "q", "--status=fail").wall * 1000)
    rss = _wait(proc)
    run: dict[str, Any] = json.loads(out.read_text())
    counts = dict(mq.query("SELECT status, count(*) FROM jobs GROUP BY status"))
    if counts.get("end", 0) + counts.get("fail", 0) != jobs:
        raise RuntimeError(f"{jobs} jobs: expected all to end, found {counts}")
    run.update(peak_rss_mb=rss, status_ms=status_ms, list_ms=list_ms, loadavg=load)
    run["jobs_per_s"] = jobs / run["wall_s"]
    span = run["last_start_s"] - run["first_start_s"]
    run["dispatch_per_s"] = jobs / span if span > 0 else None
    ends = run["last_end_s"] - run["first_end_s"]
    run["ends_per_s"] = jobs / ends if ends > 0 else None
    for key in ("started_per_bin", "ended_per_bin"):
        run.pop(key, None)
    return run


def manager_scaling(ctx: Context) -> list[Measure]:
    """The manager's rate, CPU, memory, reads during a run, and growth."""
    large = FULL_LARGE if ctx.full else LARGE
    what = f"{large:,} jobs, {HOSTS} simulated hosts x {SLOTS} slots"
    rate = Measure("sim_jobs_per_s", f"jobs/s through the manager, {what}", "jobs/s", 5000, ">=")
    cpu = Measure("sim_cpu_ms_per_job", f"manager CPU per job, {what}", "ms", 0.2, "<=")
    rss = Measure("sim_peak_rss_mb", f"manager peak RSS, {what}", "MB", 500, "<")
    status = Measure("sim_status_ms", f"queue status during the run, {what}", "ms", 300, "<")
    lists = Measure(
        "sim_list_ms", f"queue list --status=fail during the run, {what}", "ms", 300, "<"
    )
    growth = Measure(
        "sim_per_job_growth",
        f"manager CPU per job, {large:,} jobs over {SMALL:,}",
        "x",
        1.2,
        "<=",
    )
    measures = [rate, cpu, rss, status, lists, growth]
    with guard(ctx, *measures):
        smalls, larges = [], []
        for i in range(ctx.repeat):
            smalls.append(sim_run(ctx, SMALL))
            larges.append(sim_run(ctx, large, reads=READS))
            s, g = smalls[-1], larges[-1]
            ctx.log(
                f"  repeat {i + 1}/{ctx.repeat} (load {g['loadavg']}): {large} jobs "
                f"{g['jobs_per_s']:.0f} jobs/s, {g['cpu_ms_per_job']:.3f} ms CPU/job, "
                f"{g['peak_rss_mb']:.0f} MB; status {median(g['status_ms'] or [0]):.0f} ms; "
                f"{SMALL} jobs {s['cpu_ms_per_job']:.3f} ms CPU/job"
            )
        rate.set_runs([g["jobs_per_s"] for g in larges])
        cpu.set_runs([g["cpu_ms_per_job"] for g in larges])
        rss.set_runs([g["peak_rss_mb"] for g in larges])
        status.set_runs([median(g["status_ms"]) for g in larges if g["status_ms"]])
        lists.set_runs([median(g["list_ms"]) for g in larges if g["list_ms"]])
        growth.set_runs(
            [g["cpu_ms_per_job"] / s["cpu_ms_per_job"] for s, g in zip(smalls, larges, strict=True)]
        )
        rate.details = {"runs": larges, "small_runs": smalls}
    return measures


def managers(ctx: Context) -> list[Measure]:
    """2 and 4 managers on one queue: their jobs/s together over one
    manager's, each manager with hosts of its own (1,000 / n of the same
    1,000 hosts' slots), and how the jobs split when they all share the
    1,000 hosts instead. Every run checks that no job ran twice."""
    out: list[Measure] = []
    for n in (2, 4):
        m = Measure(
            f"sim_managers_{n}",
            f"jobs/s of {n} managers on one queue, each over {HOSTS // n} of the "
            f"{HOSTS} simulated hosts x {SLOTS} slots, over one manager's, {MANAGERS_JOBS:,} jobs",
            "x",
            0.5,
            ">=",
        )
        out.append(m)
        with guard(ctx, m):
            ratios = []
            details = []
            for _ in range(ctx.repeat):
                one = _together(ctx, 1)
                split = _together(ctx, n, split=True)
                shared = _together(ctx, n, split=False)
                ratios.append(split["jobs_per_s"] / one["jobs_per_s"])
                details.append({"one": one, "split": split, "shared": shared})
                ctx.log(
                    f"  {n} managers (load {split['loadavg']}): own hosts "
                    f"{split['jobs_per_s']:.0f} jobs/s together, jobs each {split['jobs_each']}; "
                    f"shared hosts {shared['jobs_per_s']:.0f} jobs/s, jobs each "
                    f"{shared['jobs_each']}; one manager {one['jobs_per_s']:.0f} jobs/s"
                )
            m.set_runs(ratios)
            m.details = {"runs": details}
    return out


def _together(ctx: Context, n: int, *, split: bool = False) -> dict[str, Any]:
    """``n`` managers at once on one queue of :data:`MANAGERS_JOBS` jobs:
    over the same :data:`HOSTS` hosts, or (``split``) each over hosts of
    its own, :data:`HOSTS` / n of them."""
    mq = Meshq(ctx.scratch(f"managers{n}") / "store")
    fill_queue(mq, "q", mq.home.parent / "exp", MANAGERS_JOBS, "true")
    load = Path("/proc/loadavg").read_text().split()[0]
    outs = [Path(tempfile.mkstemp(dir=mq.home.parent, suffix=".json")[1]) for _ in range(n)]
    t0 = time.monotonic()
    if split:
        procs = [
            _manager(mq, "q", o, prefix=f"sim{i}-", hosts=HOSTS // n) for i, o in enumerate(outs)
        ]
    else:
        procs = [_manager(mq, "q", o) for o in outs]
    rss = [_wait(p) for p in procs]
    wall = time.monotonic() - t0
    runs = [json.loads(o.read_text()) for o in outs]
    # no job claimed twice: one launch (a `run` history row) and one attempt each
    ((twice,),) = mq.query("SELECT count(*) FROM jobs WHERE attempts != 1")
    ((launches,),) = mq.query("SELECT count(*) FROM events WHERE new = 'run'")
    ((done,),) = mq.query("SELECT count(*) FROM jobs WHERE status IN ('end', 'fail')")
    if twice or launches != MANAGERS_JOBS or done != MANAGERS_JOBS:
        raise RuntimeError(
            f"{twice} jobs ran more than once ({launches} launches, {done} of "
            f"{MANAGERS_JOBS} finished)"
        )
    return {
        "managers": n,
        "split_hosts": split,
        "jobs_per_s": MANAGERS_JOBS / wall,
        "wall_s": wall,
        "jobs_each": [r["jobs"] for r in runs],
        "duplicate_claims": twice,
        "cpu_ms_per_job": sum(r["cpu_s"] for r in runs) * 1000 / MANAGERS_JOBS,
        "peak_rss_mb": max(rss),
        "loadavg": load,
    }
