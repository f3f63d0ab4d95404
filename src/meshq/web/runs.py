"""Runs the service starts: each an asyncio task on the service's run loop.

``POST /runs`` starts :meth:`Service.run_fifo` or :meth:`Service.run_fifo_multi`
as a task on one event loop that the service keeps on a thread of its own,
with a Service (a store connection) of that thread: no subprocess, no
shell. The scheduler's store calls are synchronous; on the loop that
answers HTTP requests, one that waited for another process's write would
stall every request, so the runs have a loop to themselves.

A run is known by a number the service gives it, for as long as the
service runs; the store keeps the jobs' states, whatever becomes of it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from meshq.errors import AlreadyExists, NotFound
from meshq.service import Service

if TYPE_CHECKING:
    from meshq.scheduler.engine import Runner
    from meshq.scheduler.run import RunResult

Mode = Literal["fifo", "fifo_multi"]
#: ``running`` until the run returns; then ``done``, ``stopped`` (by
#: :meth:`Runs.stop`: jobs in flight run on) or ``failed`` (it raised)
RunState = Literal["running", "done", "stopped", "failed"]


@dataclass
class Run:
    """One run the service started, and how it went."""

    id: int
    queue: str
    mode: Mode
    #: the options it was started with (``max_parallel``, ``hosts``, ``policy``, …)
    options: dict[str, Any]
    started: float = field(default_factory=time.time)
    state: RunState = "running"
    ended: float | None = None
    result: RunResult | None = None
    #: why it failed (state ``failed``)
    error: str | None = None
    runner: Runner | None = field(default=None, repr=False)
    stop_asked: bool = False


class Runs:
    """The service's run loop (a thread, started on first use) and the runs on it."""

    def __init__(self, db: str | Path | None, warn: Callable[[str], None]) -> None:
        self._db = db
        self._warn = warn
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._runs: dict[int, Run] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._service: Service | None = None

    # -- what the routes call -------------------------------------------------

    async def start(self, queue: str, mode: Mode, options: dict[str, Any]) -> Run:
        """Start a run of ``queue`` and return it once the service has
        checked its options (a bad option, an unknown queue: the service's
        error is raised here, and no run is left behind). One run of a
        queue at a time: another while it runs is an :class:`AlreadyExists`."""
        with self._lock:
            busy = [r for r in self._runs.values() if r.queue == queue and r.state == "running"]
            if busy:
                raise AlreadyExists(
                    f"queue {queue!r} is being run already (run {busy[0].id}): "
                    f"stop it first with POST /runs/{busy[0].id}/stop",
                    kind="run",
                    name=queue,
                )
            run = Run(next(self._numbers), queue, mode, dict(options))
            self._runs[run.id] = run
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        asyncio.run_coroutine_threadsafe(self._drive(run, ready), self._run_loop())
        try:
            await asyncio.wrap_future(ready)
        except BaseException:
            with self._lock:
                del self._runs[run.id]
            raise
        return run

    def list(self, *, active: bool = False) -> list[Run]:
        """The runs started by this service, newest first (``active``: running ones only)."""
        with self._lock:
            runs = sorted(self._runs.values(), key=lambda r: -r.id)
        return [r for r in runs if r.state == "running" or not active]

    def get(self, number: int) -> Run:
        """Run ``number``; :class:`NotFound` when this service started none such."""
        with self._lock:
            run = self._runs.get(number)
        if run is None:
            raise NotFound(f"no run {number}: GET /runs lists them", kind="run", name=str(number))
        return run

    def stop(self, number: int) -> Run:
        """Ask run ``number`` to launch nothing more and end (its running
        jobs go on). Stopping a run that has ended changes nothing."""
        run = self.get(number)
        if run.state == "running" and self._loop is not None:
            run.stop_asked = True
            if run.runner is not None:
                self._loop.call_soon_threadsafe(run.runner.stop)
        return run

    def close(self, wait: float = 10.0) -> None:
        """Stop every run and the loop (waiting up to ``wait`` seconds)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        for run in self.list(active=True):
            self.stop(run.id)
        deadline = time.monotonic() + wait
        while self.list(active=True) and time.monotonic() < deadline:
            time.sleep(0.05)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(max(deadline - time.monotonic(), 0.1))

    # -- on the run loop ------------------------------------------------------

    def _run_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=loop.run_forever, name="meshq-runs", daemon=True
                )
                self._thread.start()
                self._loop = loop
            return self._loop

    async def _drive(self, run: Run, ready: concurrent.futures.Future[None]) -> None:
        """Run ``run`` to its end, telling ``ready`` when it has begun (or failed to)."""

        def began(runner: Runner) -> None:
            run.runner = runner
            if run.stop_asked:
                runner.stop()
            ready.set_result(None)

        try:
            if self._service is None:
                self._service = Service(self._db, self._warn)
            service, o = self._service, run.options
            if run.mode == "fifo":
                result = await service.run_fifo(run.queue, on_runner=began, **o)
            else:
                result = await service.run_fifo_multi(run.queue, on_runner=began, **o)
        except Exception as err:  # told to the caller, or kept on the run
            if not ready.done():
                ready.set_exception(err)
                return
            run.state, run.error = "failed", str(err)
            self._warn(f"run {run.id} of queue {run.queue!r} failed: {err}")
        else:
            run.result = result
            run.state = "stopped" if result.interrupted else "done"
        finally:
            run.ended = time.time()
            run.runner = None
