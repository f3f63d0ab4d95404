"""Jobs per second of ``true``: over SSH hosts (``queue run fifo_multi``)
and on this machine (``queue run fifo``), each against GNU Parallel on the
same hosts in the same repeat, so a noisy machine shows in both.

A figure is the wall of the ``meshq queue run`` process, start to exit, as
a user waits for it: Python's start, connecting, and shutting down included.
The details also give the steady rate (jobs over the span from the first
job's start to the last one's end, from the store) to show where time goes.
"""

from __future__ import annotations

from bench.common import (
    Context,
    Measure,
    Meshq,
    fill_queue,
    gnu_parallel,
    guard,
    machine_cost,
    machine_counters,
    median,
    parallel_missing,
)
from bench.hosts import LOGIN_DELAY, BenchHosts, HostGroup, start_bench_hosts
from tests.support.sshd import sshd_available

SSH_HOSTS = 4
SSH_SLOTS = 8
SSH_JOBS = 2000
#: GNU Parallel opens an ssh connection per job: fewer jobs give its rate
PARALLEL_SSH_JOBS = 200
PARALLEL_SLOW_JOBS = 100
LOCAL_JOBS = 5000
LOCAL_PARALLEL = 8


def run_queue(ctx: Context, mq: Meshq, jobs: int, mode: str, *run_args: str) -> dict[str, float]:
    """Add ``jobs`` jobs of ``true`` to a new queue, run it, and say how it went."""
    experiment = mq.home.parent / "exp"
    host = ("--host=localhost",) if mode == "fifo" else ()
    fill_queue(mq, "bench", experiment, jobs, "true", *host)
    before = machine_counters()
    run = mq("queue", "run", mode, "bench", *run_args)
    cost = machine_cost(before, jobs)
    mq.require_all_ended("bench", jobs)
    _, span = mq.span("bench")
    # the job folders stay until the suite ends: ext4 skips inodes freed in
    # the last minutes when it picks one for a new file, so removing 20,000
    # here made each later repeat slower (0.96x, 0.80x, 0.72x of GNU
    # Parallel in one run; 1.19x, 1.12x, 1.12x without), which measured
    # the file system, not meshq
    return {
        "jobs_per_s": jobs / run.wall,
        "wall_s": run.wall,
        "steady_jobs_per_s": jobs / span if span else 0.0,
        "outside_jobs_s": run.wall - span,
        "peak_rss_mb": run.maxrss_kib / 1024,
        **cost,
    }


def fifo_multi(ctx: Context, hosts: BenchHosts, group: HostGroup, jobs: int) -> dict[str, float]:
    """``queue run fifo_multi`` of ``jobs`` jobs over ``group``, in a new store."""
    mq = Meshq(ctx.scratch("ssh") / "store", hosts.env())
    mq("hosts", "add", ",".join(group.names), f"--max_jobs_allowed={SSH_SLOTS}")
    logins = group.logins()
    figures = run_queue(ctx, mq, jobs, "fifo_multi")
    figures["logins"] = group.logins() - logins
    return figures


def parallel_ssh(hosts: BenchHosts, group: HostGroup, jobs: int) -> dict[str, float]:
    """GNU Parallel ``-S SLOTS/host,…`` over ``group``: jobs/s and logins/job."""
    logins = group.logins()
    figures = gnu_parallel(
        [
            "--ssh",
            f"ssh -F {hosts.ssh_config}",
            "-S",
            ",".join(f"{SSH_SLOTS}/{name}" for name in group.names),
        ],
        jobs,
    )
    figures["logins_per_job"] = (group.logins() - logins) / jobs
    return figures


def ssh_throughput(ctx: Context) -> list[Measure]:
    """jobs/s over SSH hosts, against GNU Parallel, and with a slow login shell."""
    rate = Measure(
        "ssh_jobs_per_s",
        f"fifo_multi jobs/s of true, {SSH_HOSTS} sshd hosts x {SSH_SLOTS} slots, {SSH_JOBS} jobs",
        "jobs/s",
        300,
        ">=",
    )
    versus = Measure(
        "ssh_vs_parallel",
        f"fifo_multi jobs/s / GNU Parallel -S {SSH_SLOTS}/host jobs/s "
        f"({PARALLEL_SSH_JOBS} jobs), same hosts",
        "x",
        15,
        ">=",
    )
    slow = Measure(
        "ssh_slow_login",
        f"fifo_multi jobs/s with a {LOGIN_DELAY * 1000:.0f} ms login shell / jobs/s with "
        "a fast one",
        "fraction",
        0.5,
        ">=",
    )
    measures = [rate, versus, slow]
    if (reason := sshd_available()) is not None:
        for m in measures:
            m.skipped = reason
        return measures
    peer_missing = parallel_missing()
    if peer_missing:
        versus.skipped = peer_missing
    with guard(ctx, *measures):
        hosts = start_bench_hosts(ctx.work / "hosts", SSH_HOSTS)
        try:
            fast_ms = hosts.ssh_wall(hosts.fast.names[0]) * 1000
            slow_ms = hosts.ssh_wall(hosts.slow.names[0]) * 1000
            ctx.log(f"  ssh HOST true: fast host {fast_ms:.0f} ms, slow host {slow_ms:.0f} ms")
            fasts, slows, peers, peers_slow = [], [], [], []
            for i in range(ctx.repeat):
                fasts.append(fifo_multi(ctx, hosts, hosts.fast, SSH_JOBS))
                slows.append(fifo_multi(ctx, hosts, hosts.slow, SSH_JOBS))
                line = (
                    f"  repeat {i + 1}/{ctx.repeat}: meshq {fasts[-1]['jobs_per_s']:.0f} jobs/s, "
                    f"slow login {slows[-1]['jobs_per_s']:.0f} jobs/s"
                )
                if not peer_missing:
                    peers.append(parallel_ssh(hosts, hosts.fast, PARALLEL_SSH_JOBS))
                    peers_slow.append(parallel_ssh(hosts, hosts.slow, PARALLEL_SLOW_JOBS))
                    line += (
                        f"; GNU parallel {peers[-1]['jobs_per_s']:.1f} jobs/s, slow login "
                        f"{peers_slow[-1]['jobs_per_s']:.1f} jobs/s"
                    )
                ctx.log(line)
        finally:
            hosts.stop()
        rate.set_runs([f["jobs_per_s"] for f in fasts])
        slow.set_runs(
            [s["jobs_per_s"] / f["jobs_per_s"] for f, s in zip(fasts, slows, strict=True)]
        )
        meshq, meshq_slow = _medians(fasts), _medians(slows)
        ssh_true_ms = {"fast_host": fast_ms, "slow_host": slow_ms}
        rate.details = {"meshq": meshq, "ssh_true_ms": ssh_true_ms}
        slow.details = {"meshq": meshq, "meshq_slow_login": meshq_slow, "ssh_true_ms": ssh_true_ms}
        if peers:
            versus.set_runs(
                [f["jobs_per_s"] / p["jobs_per_s"] for f, p in zip(fasts, peers, strict=True)]
            )
            versus.details = {
                "meshq_jobs_per_s": meshq["jobs_per_s"],
                "gnu_parallel": _medians(peers),
                "gnu_parallel_jobs": PARALLEL_SSH_JOBS,
                "gnu_parallel_slow_login": _medians(peers_slow),
                "gnu_parallel_slow_login_jobs": PARALLEL_SLOW_JOBS,
            }
    return measures


def local_throughput(ctx: Context, jobs: int = LOCAL_JOBS, bound: float = 1.5) -> list[Measure]:
    """jobs/s of ``queue run fifo`` on this machine against GNU Parallel -j."""
    versus = Measure(
        "local_vs_parallel",
        f"fifo --max_parallel={LOCAL_PARALLEL} jobs/s / GNU Parallel -j {LOCAL_PARALLEL} "
        f"jobs/s, {jobs} jobs of true, local",
        "x",
        bound,
        ">=",
    )
    if reason := parallel_missing():
        versus.skipped = reason
        return [versus]
    with guard(ctx, versus):
        ours, peers = [], []
        for i in range(ctx.repeat):
            mq = Meshq(ctx.scratch("local") / "store")
            ours.append(run_queue(ctx, mq, jobs, "fifo", f"--max_parallel={LOCAL_PARALLEL}"))
            peers.append(gnu_parallel(["-j", str(LOCAL_PARALLEL)], jobs))
            ctx.log(
                f"  repeat {i + 1}/{ctx.repeat}: meshq {ours[-1]['jobs_per_s']:.0f} jobs/s, "
                f"GNU parallel {peers[-1]['jobs_per_s']:.0f} jobs/s"
            )
        versus.set_runs(
            [o["jobs_per_s"] / p["jobs_per_s"] for o, p in zip(ours, peers, strict=True)]
        )
        versus.details = {"meshq": _medians(ours), "gnu_parallel": _medians(peers)}
    return [versus]


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per figure, its median over the repeats."""
    return {key: median([r[key] for r in runs]) for key in runs[0]}
