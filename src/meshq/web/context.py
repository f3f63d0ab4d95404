"""What every route of the service reaches the store and the hosts through.

A :class:`~meshq.service.Service` (and its SQLite connection) belongs to
one thread, and a SQLite write may wait up to the store's busy timeout for
another process's write. So no store call runs on the server's event loop:
:meth:`Context.call` runs it in a worker thread, each worker thread with a
Service (a connection) of its own. A request whose write waits holds one
worker thread; the loop and the other threads go on answering.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from anyio import to_thread
from fastapi import Request

from meshq.service import Service
from meshq.web.runs import Runs

T = TypeVar("T")


class Context:
    """The store the service serves (``db``: a path, or None for meshq's
    default), a Service per worker thread, and the runs it started."""

    def __init__(self, db: str | Path | None, warn: Callable[[str], None]) -> None:
        self.db = db
        self.warn = warn
        self._local = threading.local()
        self.runs = Runs(db, warn)

    def service(self) -> Service:
        """This thread's Service, opened on first use."""
        service: Service | None = getattr(self._local, "service", None)
        if service is None:
            service = Service(self.db, self.warn)
            self._local.service = service
        return service

    async def call(self, operation: Callable[[Service], T]) -> T:
        """``operation(service)`` in a worker thread, with that thread's Service."""
        return await to_thread.run_sync(lambda: operation(self.service()))

    async def call_async(self, operation: Callable[[Service], Coroutine[Any, Any, T]]) -> T:
        """A coroutine operation (kill, reset, delete, probe: they talk to
        hosts and write the store) run to its end on a loop of its own in a
        worker thread, so its store calls never block the server's loop."""
        return await to_thread.run_sync(lambda: asyncio.run(operation(self.service())))

    def logs(
        self, queue: str, job: str, *, stderr: bool, follow: bool, attempt: int | None = None
    ) -> AsyncGenerator[bytes]:
        """The job's output (:meth:`Service.logs`), read on the server's loop
        with its thread's Service: it only reads the store (a read never
        waits for a writer in WAL mode) and waits for the host."""
        chunks = self.service().logs(queue, job, stderr=stderr, follow=follow, attempt=attempt)
        assert isinstance(chunks, AsyncGenerator)
        return chunks

    def close(self) -> None:
        """Stop the runs loop (the jobs of its runs go on running on their hosts)."""
        self.runs.close()


def context(request: Request) -> Context:
    """The :class:`Context` of the application serving ``request`` (a
    FastAPI dependency)."""
    found: Context = request.app.state.context
    return found
