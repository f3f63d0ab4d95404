"""The dashboard in a real browser: Debian's chromium driven by Playwright,
against a real meshq service on a free loopback port with a store of its own.

Screenshots go to ``test-artifacts/dashboard/`` at the top of the checkout
(``$MESHQ_TEST_ARTIFACTS`` elsewhere); the folder is not tracked by git.
Without chromium or Playwright the tests skip here, and fail under CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.ci import unavailable
from tests.web.browser.serving import CHROMIUM, CHROMIUM_ARGS, Served, serve

ROOT = Path(__file__).resolve().parents[3]


def _unavailable(reason: str) -> None:
    """Skip: no browser here; under CI, fail (the browser tests must run there)."""
    unavailable(f"the browser: {reason}")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where the tests leave their screenshots."""
    folder = Path(os.environ.get("MESHQ_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "dashboard"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One headless chromium for this package's tests. Not for the session:
    Playwright's sync API keeps an event loop running in the main thread
    while it is started, and any later test's ``asyncio.run`` would fail."""
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} is missing: apt-get install chromium (scripts/test does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing: pip install -e '.[test]'")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A real meshq service on a free loopback port, with a store in ``tmp_path``."""
    with serve(tmp_path) as s:
        yield s


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    """A fresh page (its own sessionStorage) 1280 px wide."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    errors: list[str] = []
    tab.on("pageerror", lambda err: errors.append(str(err)))
    yield tab
    context.close()
    assert not errors, f"the page's script raised: {errors}"
