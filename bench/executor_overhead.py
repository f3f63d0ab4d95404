#!/usr/bin/env python3
"""The overhead of ``meshq.Executor.map`` over trivial calls, against
:class:`concurrent.futures.ProcessPoolExecutor` on this machine, one run:

    python bench/executor_overhead.py [--calls 1000] [--workers N]

Both run ``CALLS`` calls of a function that returns its argument, with
``N`` workers (default: the CPUs here). The pool keeps N Python processes
and sends each call over a pipe; meshq makes each call a job: pickled into
its folder, a row in the store, a launch through the host agent, a new
``python3`` that imports cloudpickle, a result file read back. The figure
is the wall time of each and the cost per call of meshq's way. Not part of
the suite: a figure to read, not a bound to check.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def identity(x: int) -> int:
    return x


def pool_seconds(calls: int, workers: int) -> float:
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(identity, range(calls)))
    assert results == list(range(calls))
    return time.perf_counter() - start


def meshq_seconds(calls: int, workers: int, folder: Path) -> float:
    import meshq

    # the jobs' python3 must import cloudpickle: this venv's, when there is one
    pyenv = sys.prefix if sys.prefix != sys.base_prefix else None
    start = time.perf_counter()
    with (
        meshq.Meshq(folder / "meshq.db") as mq,
        meshq.Executor(
            queue="bench",
            mq=mq,
            experiment=str(folder / "experiment"),
            max_workers=workers,
            pyenv=pyenv,
        ) as ex,
    ):
        results = list(ex.map(identity, range(calls)))
    assert results == list(range(calls))
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    pool = pool_seconds(args.calls, args.workers)
    with tempfile.TemporaryDirectory(prefix="meshq-bench-executor-") as scratch:
        mine = meshq_seconds(args.calls, args.workers, Path(scratch))
    report = {
        "calls": args.calls,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "process_pool_s": round(pool, 3),
        "meshq_executor_s": round(mine, 3),
        "overhead_per_call_ms": round((mine - pool) / args.calls * 1000, 2),
        "ratio": round(mine / pool, 1),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
