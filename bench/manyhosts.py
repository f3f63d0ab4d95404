"""Many real hosts: 32 loopback sshd hosts × 8 slots (256 slots), 5,000
jobs of ``sleep 1``, ``meshq queue run fifo_multi`` as a user runs it.

The jobs sleep, so the CPU goes to sshd, the agents, the wrappers and the
manager, not to the jobs. The figures:

- **efficiency**: the ideal makespan (jobs × 1 s / slots: 19.5 s) over the
  wall of the whole ``meshq queue run`` process (Python's start, 32 logins,
  the last job's second, shutting down: all of it);
- **time to first job on every host**: from the run process's start to the
  first job that started on the last host to get one (the store's
  ``started``); the median over hosts too;
- **manager CPU**: user + system time of the ``meshq queue run`` process
  (``wait4``), per job. Its children count too, but over SSH it has none:
  the agents are on the hosts' side.

The hosts are the test suite's sshd (``tests/support/sshd.py``) on
127.0.0.20… with a home of their own whose ``.bashrc`` does nothing
(``bench/hosts.py``), logging in as the user running the benchmark.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Context, Measure, Meshq, fill_queue, guard
from bench.hosts import _own_home
from tests.support.sshd import SshdError, sshd_available, start_cluster

HOSTS = 32
SLOTS = 8
JOBS = 5000
SECONDS = 1
#: the hosts' addresses start at 127.0.0.FIRST (bench/hosts.py uses 2…9)
FIRST = 20


def many_hosts(ctx: Context) -> list[Measure]:
    """Efficiency, time to a first job on every host, manager CPU."""
    what = f"{JOBS:,} jobs of sleep {SECONDS}, {HOSTS} sshd hosts x {SLOTS} slots"
    eff = Measure("hosts32_efficiency", f"ideal makespan / run wall, {what}", "%", 90, ">=")
    first = Measure(
        "hosts32_first_job_s", f"run start to a first job on every host, {what}", "s", 5, "<"
    )
    cpu = Measure("hosts32_manager_cpu_ms", f"manager CPU per job, {what}", "ms", 1.0, "<")
    measures = [eff, first, cpu]
    reason = sshd_available()
    if reason is not None:
        for m in measures:
            m.skipped = reason
        return measures
    with guard(ctx, *measures):
        base = ctx.scratch("hosts32")
        cluster = start_cluster(
            HOSTS, base / "hosts", first_octet=FIRST, name_prefix="mh", user=getpass.getuser()
        )
        try:
            _own_home(cluster, base / "home", 0.0)
            runs = []
            for i in range(ctx.repeat):
                runs.append(_run(ctx, cluster.ssh_config, cluster.names))
                r = runs[-1]
                ctx.log(
                    f"  repeat {i + 1}/{ctx.repeat} (load {r['loadavg']}): "
                    f"{r['efficiency_pct']:.1f}% ({r['wall_s']:.1f} s, ideal "
                    f"{r['ideal_s']:.1f} s), first job on every host {r['first_on_all_s']:.2f} s, "
                    f"manager {r['cpu_ms_per_job']:.2f} ms CPU/job"
                )
        finally:
            with contextlib.suppress(SshdError):
                cluster.stop()
        eff.set_runs([r["efficiency_pct"] for r in runs])
        first.set_runs([r["first_on_all_s"] for r in runs])
        cpu.set_runs([r["cpu_ms_per_job"] for r in runs])
        eff.details = {"runs": runs}
    return measures


def _run(ctx: Context, ssh_config: Path, names: list[str]) -> dict[str, Any]:
    mq = Meshq(ctx.scratch("hosts32run") / "store", {"MESHQ_SSH_CONFIG": str(ssh_config)})
    mq("hosts", "add", ",".join(names), f"--max_jobs_allowed={SLOTS}")
    fill_queue(mq, "q", mq.home.parent / "exp", JOBS, f"sleep {SECONDS}")
    load = Path("/proc/loadavg").read_text().split()[0]
    with tempfile.TemporaryFile() as out:
        t0 = time.time()
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*mq.argv, "queue", "run", "fifo_multi", "q"],
            env=mq.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            out.seek(0)
            raise RuntimeError(f"queue run exited {status}: {out.read()[-2000:].decode()}")
    mq.require_all_ended("q", JOBS)
    firsts = [
        t - t0
        for (t,) in mq.query("SELECT MIN(started) FROM jobs GROUP BY host HAVING host IS NOT NULL")
    ]
    _, span = mq.span("q")
    ideal = JOBS * SECONDS / (HOSTS * SLOTS)
    return {
        "wall_s": wall,
        "span_s": span,
        "ideal_s": ideal,
        "efficiency_pct": 100 * ideal / wall,
        "span_efficiency_pct": 100 * ideal / span if span else None,
        "hosts_used": len(firsts),
        "first_on_all_s": max(firsts),
        "first_median_s": statistics.median(firsts),
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "cpu_ms_per_job": (usage.ru_utime + usage.ru_stime) * 1000 / JOBS,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "loadavg": load,
    }
