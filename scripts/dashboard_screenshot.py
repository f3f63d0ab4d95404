"""Take the README's picture of the dashboard: ``docs/img/dashboard.png``.

A real ``meshq serve`` in a temporary folder, two queues (one paused), a
run of 4 at a time started from the page, and the picture taken while it
runs, a running job's detail open.

    python scripts/dashboard_screenshot.py [--out docs/img/dashboard.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.web.browser.serving import CHROMIUM, CHROMIUM_ARGS, serve  # noqa: E402

# some jobs take longer than others; job7 fails
COMMAND = (
    'echo "epoch 1 of job $MESHQ_INDEX"; sleep $((MESHQ_INDEX % 4 + 2)); [ $MESHQ_INDEX -ne 7 ]'
)


def main() -> None:
    from playwright.sync_api import expect, sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "dashboard.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="meshq-shot-") as folder, serve(Path(folder)) as served:
        with served.service() as s:
            s.add_hosts("localhost", max_jobs=4)
            s.create_queue("sweep", str(served.experiment))
            s.add("sweep", "job[1-16]", COMMAND, host="localhost")
            s.create_queue("train", str(served.experiment))
            s.add("train", "lr[1-8]", "python train.py", host="localhost")
            s.pause("train")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(served.page_url)
            expect(page.locator("#connection")).to_have_text("live", timeout=60_000)
            page.locator("#run-button").click()
            page.locator("#confirm-ok").click()
            time.sleep(7)
            page.get_by_role("button", name=", start:").last.click()
            time.sleep(1)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
