"""How fast the dashboard shows a queue of 100,000 jobs.

A real ``meshq serve`` on loopback with a store holding one queue of
``--jobs`` jobs (default 100,000); Debian's chromium (Playwright) opens the
dashboard in a fresh context each time, and the figure is the time from the
navigation's start to the jobs table's first page rendered (50 rows and the
total shown), read from the page's own clock (``performance.now()``).
Also printed: the REST calls the page makes (a page of jobs at the start,
at the end, sorted), and what one tick of the live stream costs the store.

    python bench/dashboard_load.py [--jobs 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.web.browser.serving import CHROMIUM, CHROMIUM_ARGS, Served, serve  # noqa: E402

RENDERED = """() => {
  const rows = document.querySelectorAll('#jobs tbody tr').length;
  const range = document.getElementById('jobs-range').textContent;
  return rows === 50 && range.includes('of %s jobs') ? performance.now() : false;
}"""


def fill(served: Served, jobs: int) -> float:
    """One queue of ``jobs`` jobs (one transaction); seconds it took."""
    start = time.perf_counter()
    with served.service() as s:
        s.create_queue("big", str(served.experiment))
        s.add("big", f"job[1-{jobs}]", "true", host="localhost")
    return time.perf_counter() - start


def api_ms(served: Served, path: str, repeat: int) -> float:
    """The median wall time of ``GET path`` (ms), the body read whole."""
    times = []
    for _ in range(repeat):
        request = urllib.request.Request(served.url + path)
        request.add_header("Authorization", f"Bearer {served.token}")
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def tick_ms(served: Served, repeat: int, *, recount: bool) -> float:
    """What one tick of ``/events`` asks the store (ms, median): with
    ``recount``, as when a job moved (the counts too); else an idle tick."""
    from meshq.web.dashboard import snapshot

    times = []
    with served.service() as s:
        _, cursor = s.state_changes(None)
        for _ in range(repeat):
            start = time.perf_counter()
            snapshot(s, cursor, recount=recount)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def page_loads(served: Served, jobs: int, repeat: int) -> list[float]:
    """Navigation start to the first page of jobs rendered (ms), per load."""
    from playwright.sync_api import sync_playwright

    shown = f"{jobs:,}"
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(repeat + 1):  # the first load warms the server: not counted
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(served.page_url)
            done = page.wait_for_function(RENDERED % shown, polling="raf", timeout=120_000)
            out.append(float(done.json_value()))
            context.close()
        browser.close()
    return out[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="meshq-dashboard-") as folder,
        serve(Path(folder)) as served,
    ):
        print(f"filling a queue of {args.jobs:,} jobs: {fill(served, args.jobs):.1f} s")
        q = "/queues/big/jobs?limit=50"
        for what, path in [
            ("first page", q),
            ("last page", f"{q}&offset={args.jobs - 50}"),
            ("first page sorted by -name", f"{q}&sort=-name"),
            ("timeline (400 by -started)", "/queues/big/jobs?limit=400&sort=-started"),
            ("queues with counts", "/queues"),
        ]:
            print(f"GET {what}: {api_ms(served, path, args.repeat):.0f} ms (median)")
        for what, recount in (("idle", False), ("with the counts", True)):
            ms = tick_ms(served, args.repeat, recount=recount)
            print(f"one /events tick's store reads, {what}: {ms:.2f} ms (median)")
        loads = page_loads(served, args.jobs, args.repeat)
        print(
            f"dashboard, navigation to the jobs table's first page rendered, "
            f"{args.jobs:,} jobs: median {statistics.median(loads):.0f} ms "
            f"(min {min(loads):.0f}, max {max(loads):.0f}, {len(loads)} loads)"
        )


if __name__ == "__main__":
    main()
