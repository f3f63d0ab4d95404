"""Jobs per second over SSH: meshq against GNU Parallel on the same hosts.

Starts --hosts real sshd servers on 127.0.0.x (as the tests do), then runs
--jobs jobs of ``true``:
  * meshq: ``queue run fifo_multi`` over the hosts, --slots slots each
  * GNU Parallel: ``parallel -S SLOTS/host,…`` with the same ssh config
and prints jobs/s of each and their ratio (median of --repeat runs).

    python bench/ssh_throughput.py [--jobs 2000] [--hosts 4] [--slots 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.sshd import SshCluster, start_cluster


def meshq(env: dict[str, str], *args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "meshq", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def run_meshq(cluster: SshCluster, work: Path, jobs: int, slots: int) -> float:
    home = work / "meshq-home"
    env = {**os.environ, "MESHQ_HOME": str(home), "MESHQ_SSH_CONFIG": str(cluster.ssh_config)}
    for host in cluster.hosts:
        meshq(env, "hosts", "add", host.name, f"--max_jobs_allowed={slots}")
    meshq(env, "queue", "create", "bench", f"--experiment={work}/exp")
    meshq(env, "queue", "add", "bench", f"--name=job[1-{jobs}]", "--command=true")
    seconds = meshq(env, "queue", "run", "fifo_multi", "bench")
    shutil.rmtree(home)
    shutil.rmtree(work / "exp", ignore_errors=True)
    return jobs / seconds


def run_parallel(cluster: SshCluster, jobs: int, slots: int) -> float:
    logins = ",".join(f"{slots}/{h.name}" for h in cluster.hosts)
    t0 = time.perf_counter()
    subprocess.run(
        ["parallel", "--ssh", f"ssh -F {cluster.ssh_config}", "-S", logins, "true", ":::",
         *map(str, range(jobs))],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return jobs / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--parallel-jobs", type=int, default=0,
                    help="jobs for GNU Parallel (default: --jobs; it is slow, fewer also work)")
    ap.add_argument("--hosts", type=int, default=4)
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="meshq-bench-") as tmp:
        work = Path(tmp)
        cluster = start_cluster(args.hosts, work / "hosts")
        try:
            ours = [run_meshq(cluster, work, args.jobs, args.slots) for _ in range(args.repeat)]
            theirs: list[float] = []
            if shutil.which("parallel"):
                n = args.parallel_jobs or args.jobs
                theirs = [run_parallel(cluster, n, args.slots) for _ in range(args.repeat)]
        finally:
            cluster.stop()
    mine = statistics.median(ours)
    print(f"machine: {os.cpu_count()} cores; {args.hosts} sshd hosts x {args.slots} slots, "
          f"{args.jobs} jobs of true")
    print(f"meshq fifo_multi: median {mine:.0f} jobs/s (runs: "
          f"{', '.join(f'{x:.0f}' for x in ours)})")
    if theirs:
        peer = statistics.median(theirs)
        print(f"GNU parallel -S {args.slots}/host: median {peer:.1f} jobs/s (runs: "
              f"{', '.join(f'{x:.1f}' for x in theirs)}); meshq/parallel = {mine / peer:.1f}x")
    else:
        print("GNU parallel: not installed, no comparison")


if __name__ == "__main__":
    main()
