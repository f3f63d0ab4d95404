"""The dashboard in chromium against a real ``meshq serve``: a run watched
to its end, a job killed from the page, the keyboard, paging and sorting,
the token, and the page at 1280 and 390 pixels wide (screenshots kept)."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import alive
from tests.web.browser.serving import Served, ci

try:
    from playwright.sync_api import expect
except ImportError:
    if ci():
        raise
    pytest.skip("the playwright package is missing", allow_module_level=True)

LONG = 60_000  # ms: the machine may be busy; nothing here asserts speed


def open_dashboard(page: Any, served: Served) -> None:
    page.goto(served.page_url)
    expect(page.locator("#connection")).to_have_text("live", timeout=LONG)


def queue_button(page: Any, name: str) -> Any:
    return page.locator(".queue-pick", has=page.locator(".name", has_text=re.compile(f"^{name}$")))


def confirm(page: Any, expected: str) -> None:
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(expected)
    page.locator("#confirm-ok").click()
    expect(dialog).to_be_hidden()


def test_a_run_started_from_the_page_is_seen_to_its_end(
    page: Any, served: Served, artifacts: Path
) -> None:
    with served.service() as s:
        s.create_queue("demo", str(served.experiment))
        s.add("demo", "job[1-6]", "echo hello $MESHQ_INDEX; sleep 0.5", host="localhost")
    open_dashboard(page, served)
    demo = queue_button(page, "demo")
    expect(demo).to_have_attribute("aria-label", re.compile("6 jobs, 6 ready"))
    expect(page.locator("#jobs tbody tr")).to_have_count(6)
    # the page must update itself: a reload would lose this mark
    page.evaluate("window.notReloaded = true")

    page.locator("#run-parallel").fill("3")
    page.locator("#run-button").click()
    confirm(page, "fifo, 3 jobs at a time")
    expect(demo).to_have_attribute("aria-label", re.compile("6 jobs, 6 end"), timeout=LONG)
    expect(page.locator("#jobs tbody tr td.state", has_text="end")).to_have_count(6, timeout=LONG)
    assert page.evaluate("window.notReloaded") is True
    # the timeline: six bars in at most three slots of localhost
    expect(page.locator("#timeline svg rect")).to_have_count(6, timeout=LONG)
    lanes = page.locator("#timeline svg text", has_text="localhost #").all_inner_texts()
    assert 1 <= len(lanes) <= 3, lanes
    # a job's detail: its history and its log
    page.get_by_role("button", name=re.compile("^job2, end")).click()
    expect(page.locator("#detail-title")).to_have_text("Job job2 (end)")
    expect(page.locator("#history tbody tr td", has_text="start")).not_to_have_count(0)
    expect(page.locator("#log")).to_contain_text("hello 2")

    page.screenshot(path=artifacts / "dashboard-1280.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    # usable at phone width: the page itself never scrolls sideways
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    expect(page.locator("#run-button")).to_be_in_viewport(ratio=0.5)
    page.screenshot(path=artifacts / "dashboard-390.png", full_page=True)


def test_a_running_job_is_killed_from_the_page_after_confirming(
    page: Any, served: Served, artifacts: Path
) -> None:
    with served.service() as s:
        s.create_queue("slow", str(served.experiment))
        s.add("slow", "sleeper", "echo started; sleep 300", host="localhost")
    open_dashboard(page, served)
    page.locator("#run-button").click()
    confirm(page, "Start a run of slow")
    link = page.get_by_role("button", name=re.compile("^sleeper, start"))
    expect(link).to_be_visible(timeout=LONG)
    # one run of a queue at a time: while it runs, it can be stopped instead
    expect(page.locator("#stop-button")).to_be_visible()
    expect(page.locator("#run-button")).to_be_disabled()
    link.click()
    expect(page.locator("#log")).to_contain_text("started", timeout=LONG)
    kill = page.locator("#kill-button")
    expect(kill).to_be_enabled()

    # Cancel changes nothing
    kill.click()
    expect(page.locator("#confirm")).to_be_visible()
    page.locator("#confirm-cancel").click()
    time.sleep(1)
    with served.service() as s:
        job = s.job("slow", "sleeper")
    assert job.status == "start" and job.pid is not None

    kill.click()
    confirm(page, "Kill sleeper of slow")
    expect(page.locator("#detail-title")).to_have_text("Job sleeper (kill)", timeout=LONG)
    expect(page.locator("#jobs tbody td.state", has_text="kill")).to_have_count(1, timeout=LONG)
    expect(queue_button(page, "slow")).to_have_attribute(
        "aria-label", re.compile("1 kill"), timeout=LONG
    )
    with served.service() as s:
        assert s.job("slow", "sleeper").status == "kill"
    deadline = time.monotonic() + 30
    while alive(job.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(job.pid), "the job's process outlived the kill"
    page.screenshot(path=artifacts / "dashboard-killed-1280.png", full_page=True)
    # the run has nothing left to do and ends
    expect(page.locator("#stop-button")).to_be_hidden(timeout=LONG)
    expect(page.locator("#run-button")).to_be_enabled()

    page.locator("#reset-button").click()
    confirm(page, "make it ready again")
    expect(page.locator("#detail-title")).to_have_text("Job sleeper (ready)", timeout=LONG)
    page.locator("#pause-button").click()
    confirm(page, "Launch no new job of slow")
    expect(queue_button(page, "slow")).to_have_attribute(
        "aria-label", re.compile("^Queue slow, paused: 1 job, 1 ready"), timeout=LONG
    )
    expect(page.locator("#pause-button")).to_have_text("Resume")
    page.locator("#pause-button").click()
    confirm(page, "be launched again")
    expect(page.locator("#pause-button")).to_have_text("Pause", timeout=LONG)
    with served.service() as s:
        assert s.job("slow", "sleeper").status == "ready" and not s.queue("slow").paused


def test_the_keyboard_reaches_every_control_and_the_dialog_traps_focus(
    page: Any, served: Served
) -> None:
    with served.service() as s:
        s.create_queue("keys", str(served.experiment))
        s.add("keys", "job[1-3]", "true", host="localhost")
    open_dashboard(page, served)
    expect(page.locator("#jobs tbody tr")).to_have_count(3)
    reached: list[str] = []
    page.locator("body").focus()
    for _ in range(60):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate(
                "(() => { const e = document.activeElement;"
                " return e.id || e.getAttribute('aria-label') || e.textContent.trim(); })()"
            )
        )
    for control in ("run-mode", "run-parallel", "run-button", "pause-button", "filter-state"):
        assert control in reached, (control, reached)
    assert "filter-name" in reached and "page-next" not in reached  # one page: disabled
    assert any(r.startswith("job1, ready") for r in reached), reached
    assert "Queue order" in reached and "Name" in reached  # sort buttons
    assert any(r.startswith("Queue keys") for r in reached), reached

    # Enter opens a job; its detail takes the focus
    page.get_by_role("button", name=re.compile("^job2, ready")).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#detail-panel")).to_be_focused()
    # a dialog opened by keyboard: focus inside, Tab stays inside, Escape
    # closes it and gives the focus back
    page.locator("#reset-button").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#confirm-cancel")).to_be_focused()
    for _ in range(3):
        page.keyboard.press("Tab")
        inside = page.evaluate(
            "document.getElementById('confirm').contains(document.activeElement)"
        )
        assert inside
    page.keyboard.press("Escape")
    expect(page.locator("#confirm")).to_be_hidden()
    expect(page.locator("#reset-button")).to_be_focused()
    # sorting by keyboard says so to a screen reader
    # (one press at a time: each is seen to take before the next, and the
    # focus stays on the button, as a keyboard user needs it to)
    sort_by_name = page.locator("th[data-sort=name] button")
    sort_by_name.focus()
    expect(sort_by_name).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("th[data-sort=name]")).to_have_attribute("aria-sort", "ascending")
    expect(sort_by_name).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("th[data-sort=name]")).to_have_attribute("aria-sort", "descending")
    expect(page.locator("#jobs tbody tr").first).to_contain_text("job3")


def test_filters_sorting_and_pages_come_from_the_api(page: Any, served: Served) -> None:
    with served.service() as s:
        s.create_queue("many", str(served.experiment))
        s.add("many", "job[1-120]", "true", host="localhost")
    open_dashboard(page, served)
    expect(page.locator("#jobs-range")).to_have_text("1–50 of 120 jobs")
    page.locator("#page-next").click()
    expect(page.locator("#jobs-range")).to_have_text("51–100 of 120 jobs")
    expect(page.locator("#jobs tbody tr").first).to_contain_text("job51")
    page.locator("#filter-name").fill("job1[0-1]?")
    page.locator("#filter-name").press("Enter")
    expect(page.locator("#jobs-range")).to_have_text("1–20 of 20 jobs")
    page.locator("th[data-sort=name] button").click()
    page.locator("th[data-sort=name] button").click()
    expect(page.locator("#jobs tbody tr").first).to_contain_text("job119")
    page.locator("#filter-state").select_option("end")
    expect(page.locator("#jobs-range")).to_have_text("0–0 of 0 jobs")


def _get(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_the_token_stays_out_of_urls_and_the_stream_needs_it(browser: Any, served: Served) -> None:
    assert _get(f"{served.url}/events") == 401
    assert _get(f"{served.url}/events", "not-the-token-at-all") == 403
    assert _get(f"{served.url}/static/../app.py") == 404
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    try:
        page.goto(served.url + "/")
        expect(page.locator("#token-form")).to_be_visible()
        expect(page.locator("#token-input")).to_be_focused()
        page.locator("#token-input").fill(served.token)
        page.locator("#token-input").press("Enter")
        expect(page.locator("#connection")).to_have_text("live", timeout=LONG)

        fresh = context.new_page()
        fresh.on("request", lambda r: urls.append(r.url))
        fresh.goto(served.page_url)
        expect(fresh.locator("#connection")).to_have_text("live", timeout=LONG)
        assert "token" not in fresh.url  # dropped from the address bar
    finally:
        context.close()
    assert urls and not [u for u in urls if served.token in u.split("#")[0]], urls


@pytest.mark.parametrize("width", [1280, 390])
def test_every_control_has_a_name_a_screen_reader_reads(
    page: Any, served: Served, width: int
) -> None:
    with served.service() as s:
        s.create_queue("named", str(served.experiment))
        s.add("named", "job[1-2]", "true", host="localhost")
    page.set_viewport_size({"width": width, "height": 900})
    open_dashboard(page, served)
    expect(page.locator("#jobs tbody tr")).to_have_count(2)
    unnamed = page.evaluate(
        """[...document.querySelectorAll('button, input, select')]
           .filter((e) => !e.closest('[hidden]'))
           .filter((e) => !(e.getAttribute('aria-label') || e.textContent.trim()
                           || (e.labels && e.labels.length)))
           .map((e) => e.outerHTML)"""
    )
    assert unnamed == []
    assert page.locator("[aria-live]").count() >= 2
    headers = page.locator("#jobs thead th").evaluate_all("(ths) => ths.map((t) => t.scope)")
    assert set(headers) == {"col"}
    overflow = json.loads(page.evaluate("JSON.stringify(document.scrollingElement.scrollWidth)"))
    assert overflow <= width


def test_the_timeline_packs_each_hosts_jobs_into_as_few_slots_as_ran_at_once(
    page: Any, served: Served
) -> None:
    page.goto(served.url + "/")
    slots = page.evaluate(
        """async () => {
          const { lanes } = await import('/static/timeline.js');
          const jobs = [
            { name: 'a', host: 'h1', start: 0, end: 10 },
            { name: 'b', host: 'h1', start: 5, end: 15 },
            { name: 'c', host: 'h1', start: 10, end: 20 },  // a's slot is free again
            { name: 'd', host: 'h1', start: 12, end: 13 },  // a third at once
            { name: 'e', host: 'h2', start: 0, end: 30 },
          ];
          const byHost = lanes(jobs);
          const counts = [...byHost].map(([h, s]) => [h, s.length]);
          return { slots: jobs.map((j) => j.slot), lanes: counts };
        }"""
    )
    assert slots == {"slots": [0, 1, 0, 2, 0], "lanes": [["h1", 3], ["h2", 1]]}
