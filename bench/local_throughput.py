"""How fast meshq adds and runs jobs on this machine.

Prints, each as the median of --repeat runs of the real ``meshq`` CLI in a
fresh store:
  * seconds for ``meshq queue add --name=job[1-100000]``
  * jobs/s for --jobs jobs of ``true`` with ``queue run fifo --max_parallel=8``
  * jobs/s for the same jobs through GNU Parallel ``-j 8`` (when installed)

    python bench/local_throughput.py [--jobs 2000] [--repeat 3]
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


def meshq(home: Path, *args: str) -> float:
    """Run one meshq command; its wall time in seconds."""
    env = {**os.environ, "MESHQ_HOME": str(home)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "meshq", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def add_100k(work: Path) -> float:
    home = work / "add"
    meshq(home, "queue", "create", "big", f"--experiment={work}/exp")
    seconds = meshq(home, "queue", "add", "big", "--name=job[1-100000]", "--command=true",
                    "--host=localhost")
    shutil.rmtree(home)
    return seconds


def run_fifo(work: Path, jobs: int, parallel: int) -> float:
    home = work / "run"
    meshq(home, "queue", "create", "bench", f"--experiment={work}/exp")
    meshq(home, "queue", "add", "bench", f"--name=job[1-{jobs}]", "--command=true",
          "--host=localhost")
    seconds = meshq(home, "queue", "run", "fifo", "bench", f"--max_parallel={parallel}")
    shutil.rmtree(home)
    shutil.rmtree(work / "exp", ignore_errors=True)
    return jobs / seconds


def run_parallel(jobs: int, parallel: int) -> float | None:
    if shutil.which("parallel") is None:
        return None
    t0 = time.perf_counter()
    subprocess.run(["parallel", "-j", str(parallel), "true", ":::", *map(str, range(jobs))],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return jobs / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="meshq-bench-") as tmp:
        work = Path(tmp)
        adds = [add_100k(work) for _ in range(args.repeat)]
        runs = [run_fifo(work, args.jobs, args.parallel) for _ in range(args.repeat)]
        peers = [run_parallel(args.jobs, args.parallel) for _ in range(args.repeat)]
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print(f"queue add job[1-100000]: median {statistics.median(adds):.2f} s "
          f"(runs: {', '.join(f'{x:.2f}' for x in adds)})")
    print(f"run fifo {args.jobs} x true, --max_parallel={args.parallel}: median "
          f"{statistics.median(runs):.0f} jobs/s (runs: {', '.join(f'{x:.0f}' for x in runs)})")
    if all(p is not None for p in peers):
        med = statistics.median(p for p in peers if p is not None)
        print(f"GNU parallel -j {args.parallel}, same jobs: median {med:.0f} jobs/s; "
              f"meshq/parallel = {statistics.median(runs) / med:.2f}")
    else:
        print("GNU parallel: not installed, no comparison")


if __name__ == "__main__":
    main()
