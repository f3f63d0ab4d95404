"""Async scenarios run in the test process: bounded, and failing when their
event loop was left with an exception nobody handled.

``run(coro, timeout)`` runs one scenario to its end; ``until(predicate, …)``
polls without blocking the loop; the ``no_unhandled_async_errors`` fixture
(loaded suite-wide, used by the modules that want it with
``pytest.mark.usefixtures``) fails a test whose scenario left a task that
died unnoticed (reported when collected, hence the ``gc.collect()``).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

__all__ = ["UNHANDLED", "no_unhandled_async_errors", "run", "until"]

T = TypeVar("T")

#: what the scenarios' event loops reported as unhandled; each test must leave none
UNHANDLED: list[dict[str, Any]] = []


def run(coro: Coroutine[Any, Any, T], timeout: float = 90.0) -> T:
    """Run one async scenario to completion within ``timeout`` s, keeping what
    its loop reports as unhandled in :data:`UNHANDLED`."""

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        UNHANDLED.append(context)
        error = context.get("exception")
        if error is not None and not isinstance(error, Exception):
            # pytest's own time limit (a BaseException) raised inside a
            # callback: asyncio would swallow it and the test hang on, so end
            # the loop, and the test fails here instead
            loop.stop()

    async def guarded() -> T:
        asyncio.get_running_loop().set_exception_handler(handler)
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(guarded())


async def until(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll ``predicate`` without blocking the event loop; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def no_unhandled_async_errors() -> Iterator[None]:
    """Fail the test if its scenarios left an asyncio error nobody handled."""
    UNHANDLED.clear()
    yield
    gc.collect()
    found = [
        f"{c.get('message')}: {c.get('exception')!r} ({c.get('task') or c.get('future')})"
        for c in UNHANDLED
    ]
    UNHANDLED.clear()
    assert not found, "asyncio errors nobody handled:\n" + "\n".join(found)
