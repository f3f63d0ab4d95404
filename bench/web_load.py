"""How many ``GET /queues/{queue}/jobs?status=fail`` the REST service
answers per second on a queue of 100,000 jobs.

A real ``meshq serve`` on loopback (its own process, store and token), a
queue of ``--jobs`` jobs added in one transaction by the store's bulk add,
every 97th of them failed (written straight into the store, as if run: the
read is what is measured). A bounded load generator (httpx, asyncio) sends
``--requests`` requests, ``--concurrency`` at a time, stopping at
``--seconds`` whatever is left, for the first page of failed jobs and for
the last one; it prints requests/s and latency percentiles.

    python bench/web_load.py [--jobs 100000] [--requests 2000] [--concurrency 8] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meshq.service import Service  # noqa: E402
from tests.web.browser.serving import Served, serve  # noqa: E402

FAIL_EVERY = 97
PAGE = 50


@dataclass
class Load:
    """What one load run saw."""

    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    def line(self, what: str) -> str:
        ms = sorted(x * 1000 for x in self.latencies)
        if not ms:
            return f"{what}: no answer"

        def pct(p: float) -> float:
            return ms[min(len(ms) - 1, round(p / 100 * (len(ms) - 1)))]

        return (
            f"{what}: {len(ms)} requests in {self.wall:.1f} s = {len(ms) / self.wall:.0f} req/s; "
            f"latency ms p50 {pct(50):.1f}  p90 {pct(90):.1f}  p99 {pct(99):.1f}  "
            f"max {ms[-1]:.1f}  mean {statistics.fmean(ms):.1f}; "
            f"status {dict(self.statuses)}"
        )


def fill(served: Served, jobs: int) -> tuple[float, int]:
    """The queue ``big`` of ``jobs`` jobs (one transaction), every
    :data:`FAIL_EVERY`-th one failed; the seconds the add took, and how
    many failed."""
    service = Service(served.db)
    try:
        service.create_queue("big", str(served.experiment))
        start = time.perf_counter()
        service.add("big", f"job[1-{jobs}]", "true", host="localhost")
        took = time.perf_counter() - start
    finally:
        service.close()
    with contextlib.closing(sqlite3.connect(served.db)) as conn, conn:
        failed = conn.execute(
            "UPDATE jobs SET status = 'fail', exit_code = 1, attempts = 1 WHERE id % ? = 0",
            (FAIL_EVERY,),
        ).rowcount
    return took, failed


async def load(served: Served, path: str, requests: int, concurrency: int, seconds: float) -> Load:
    """``requests`` GETs of ``path``, ``concurrency`` at once, for at most ``seconds``."""
    out = Load()
    auth = {"Authorization": f"Bearer {served.token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    left = iter(range(requests))
    async with httpx.AsyncClient(
        base_url=served.url, headers=auth, limits=limits, timeout=60
    ) as http:
        start = time.perf_counter()
        deadline = start + seconds

        async def worker() -> None:
            for _ in left:
                if time.perf_counter() >= deadline:
                    return
                began = time.perf_counter()
                answer = await http.get(path)
                out.latencies.append(time.perf_counter() - began)
                out.statuses[answer.status_code] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        out.wall = time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="meshq-web-load-") as folder,
        serve(Path(folder)) as served,
    ):
        took, failed = fill(served, args.jobs)
        print(f"queue big: {args.jobs:,} jobs added in {took:.2f} s, {failed:,} of them failed")
        first = f"/queues/big/jobs?status=fail&limit={PAGE}"
        last = f"{first}&offset={max(failed - PAGE, 0)}"
        for what, path in (("first page", first), ("last page", last)):
            asyncio.run(load(served, path, 20, 2, args.seconds))  # warm up
            result = asyncio.run(load(served, path, args.requests, args.concurrency, args.seconds))
            print(
                result.line(
                    f"{what}: GET {path} ({PAGE} of {failed:,}; concurrency {args.concurrency})"
                )
            )


if __name__ == "__main__":
    main()
