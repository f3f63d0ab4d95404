"""One manager over simulated hosts: ``queue run fifo_multi`` as meshq runs
it (the same :class:`~meshq.scheduler.engine.Runner`, store and policy),
with every host a :class:`~bench.simhost.SimBackend`. Started by
``bench/sim.py`` as a process of its own, so that its CPU and peak memory
are the manager's and nothing else's:

    python -m bench.simrun --queue q --hosts 1000 --slots 16 --out run.json

The store is ``MESHQ_HOME``'s (or ``--db``); the queue must exist, its jobs
waiting. It prints ``running`` once the run has started, and writes what
it measured as JSON: the run's wall and CPU, peak RSS, and when each job
was dispatched and ended (counted per 0.5 s, from the reporter). Its
garbage collector is set up as the ``meshq`` program's is
(:func:`meshq.collector.settle`), as the manager runs there.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.simhost import SimHosts
from meshq import collector
from meshq.hosts.registry import Target
from meshq.model import HostKind, Job, Status
from meshq.scheduler.engine import Runner
from meshq.scheduler.policies import policy_named
from meshq.scheduler.run import RunHost
from meshq.store.store import Store

#: the width of one bin of the dispatch and end timelines (s)
BIN = 0.5


class Counting:
    """A reporter that counts dispatches and ends per :data:`BIN` seconds."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.first_start: float | None = None
        self.last_start = 0.0
        self.first_end: float | None = None
        self.last_end = 0.0

    def _bin(self, series: list[int]) -> float:
        now = time.monotonic() - self.t0
        i = int(now / BIN)
        if len(series) <= i:
            series.extend([0] * (i + 1 - len(series)))
        series[i] += 1
        return now

    def begin(self, total: int) -> None:
        print("running", flush=True)

    def set_total(self, total: int) -> None: ...

    def started(self, job: Job) -> None:
        now = self._bin(self.starts)
        if self.first_start is None:
            self.first_start = now
        self.last_start = now

    def finished(self, job: Job, status: Status, exit_code: int | None, error: str | None) -> None:
        now = self._bin(self.ends)
        if self.first_end is None:
            self.first_end = now
        self.last_end = now

    def message(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def phase(self, text: str) -> None: ...

    def end(self) -> None: ...


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench.simrun", description=__doc__)
    ap.add_argument("--db", type=Path, default=None, help="the store [MESHQ_HOME's]")
    ap.add_argument("--queue", required=True)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--slots", type=int, default=16)
    ap.add_argument("--latency", type=float, default=0.001, help="launch to start (s)")
    ap.add_argument("--duration", type=float, default=1.0, help="how long a job runs (s)")
    ap.add_argument("--fail-every", type=int, default=97, help="every n-th job exits 1")
    ap.add_argument("--policy", default="sequential")
    ap.add_argument("--prefix", default="sim", help="host names: PREFIX0000…")
    ap.add_argument("--profile", type=Path, default=None, help="write cProfile stats here")
    ap.add_argument("--out", type=Path, required=True, help="write the figures here (JSON)")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    collector.settle()
    store = Store(args.db)
    queue = store.queue(args.queue)
    sim = SimHosts(latency=args.latency, duration=args.duration, fail_every=args.fail_every)
    hosts = [
        RunHost(name, Target(name, HostKind.SSH), args.slots, maker=sim.maker)
        for name in (f"{args.prefix}{i:04d}" for i in range(args.hosts))
    ]
    counting = Counting()
    runner = Runner(
        store,
        queue,
        hosts,
        mode="fifo_multi",
        policy=policy_named(args.policy),
        reporter=counting,
    )
    profile = cProfile.Profile() if args.profile else None
    cpu0 = time.process_time()
    t0 = time.monotonic()
    if profile is not None:
        profile.enable()
    result = asyncio.run(runner.run())
    if profile is not None:
        profile.disable()
        profile.dump_stats(str(args.profile))
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    jobs = sum(result.finished.values())
    out: dict[str, Any] = {
        "jobs": jobs,
        "finished": {s.value: n for s, n in result.finished.items()},
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_ms_per_job": cpu * 1000 / jobs if jobs else None,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "first_start_s": counting.first_start,
        "last_start_s": counting.last_start,
        "first_end_s": counting.first_end,
        "last_end_s": counting.last_end,
        "bin_s": BIN,
        "started_per_bin": counting.starts,
        "ended_per_bin": counting.ends,
        "stranded": result.stranded,
        "left_to_others": result.left_to_others,
    }
    args.out.write_text(json.dumps(out))
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
