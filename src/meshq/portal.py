"""A private event loop on a thread of its own, for synchronous callers.

The synchronous :class:`meshq.Meshq` runs every operation as a coroutine
on its :class:`Portal`'s loop and waits for the answer. That works the same
from a plain script and from code that already runs an event loop (a
Jupyter notebook, an asyncio program calling plain functions): the
operation never runs on the caller's loop, so ``asyncio.run`` is never
called inside a running loop, and the caller's loop is only blocked for as
long as the operation takes.

Everything of one :class:`~meshq.Meshq` (its store connection, its hosts'
connections, a run in the background) lives on that one thread, so calls
from several threads of the caller are serialised there instead of racing
on the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

from meshq.errors import MeshqError

T = TypeVar("T")


class Portal:
    """An event loop running on a daemon thread until :meth:`close`."""

    def __init__(self, name: str = "meshq-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        # the thread holds the loop, not the portal: a portal dropped without
        # close() is collected, and its finalizer stops the loop
        self._thread = threading.Thread(
            target=_serve, args=(self._loop, self._ready), name=name, daemon=True
        )
        self._thread.start()
        self._ready.wait()
        self._closed = False
        #: the process that owns the thread: a forked child has no such thread
        self._pid = os.getpid()
        # a Meshq dropped without close() must not leave its loop behind
        self._finalizer = weakref.finalize(self, _stop, self._loop, self._thread)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop (for scheduling work that outlives one call)."""
        return self._loop

    def in_loop(self) -> bool:
        """Whether the caller runs on this portal's own thread."""
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Start ``coro`` on the loop; its future, to wait on from any thread."""
        if self._closed:
            coro.close()
            raise MeshqError("this Meshq is closed")
        if os.getpid() != self._pid:
            # its loop thread stayed in the parent: waiting here would hang
            coro.close()
            raise MeshqError("a Meshq cannot be used in a forked process: make a new one there")
        if self.in_loop():
            coro.close()
            raise MeshqError(
                "a Meshq was called from its own event loop, where it would wait for "
                "itself: use meshq.AsyncMeshq in coroutines"
            )
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result (or its error).
        Interrupted (Ctrl-C), it cancels the coroutine, as ``asyncio.run``
        would: a run stops launching; jobs already started run on."""
        future = self.submit(coro)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def iterate(self, items: AsyncIterator[T]) -> Iterator[T]:
        """The items of an async iterator of the loop, one call each."""
        try:
            while True:
                try:
                    yield self.call(_next(items))
                except StopAsyncIteration:
                    return
        finally:
            close = getattr(items, "aclose", None)
            if close is not None and not self._closed:
                with contextlib.suppress(Exception):
                    self.call(close())

    def close(self) -> None:
        """Stop the loop (cancelling what still runs on it) and its thread."""
        if self._closed:
            return
        self._closed = True
        self._finalizer()


def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    try:
        loop.run_forever()
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _next(items: AsyncIterator[T]) -> T:
    return await anext(items)


def _stop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    if loop.is_closed():
        return
    with contextlib.suppress(RuntimeError):  # closed meanwhile
        loop.call_soon_threadsafe(loop.stop)
    if thread is not threading.current_thread():
        thread.join(timeout=10)
