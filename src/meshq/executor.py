"""Python functions as meshq jobs, on any host: a real
:class:`concurrent.futures.Executor`::

    import meshq

    def train(config):
        ...
        return score

    with meshq.Executor(queue="feat", hosts=["h1", "h2"], pyenv="~/venv") as ex:
        futures = ex.map(train, configs)
        print(list(futures))

Each call is a normal meshq job of the queue (named after the function,
``train-k3x9-1`` …): it has states, retries, a time limit, GPUs, a history
and logs, and ``meshq queue kill`` / ``list`` / ``logs`` work on it. The
function and its arguments are pickled here with cloudpickle into
``call.pkl`` in the job's folder on every host of the Executor (a retry may
run elsewhere); the job runs them with the host's ``python3`` (after
``pyenv``) and writes the result back into its folder, whence the future
reads it. ``Future.result()`` raises what the call raised, with its remote
traceback as the cause; a call whose job ended without a result (time
limit, kill, crash, failed start) raises :class:`~meshq.errors.JobFailed`,
and a host whose Python or cloudpickle is not the version here raises
:class:`~meshq.errors.EnvironmentMismatch` saying which.

The Executor runs its queue (``fifo_multi`` over its hosts) in the
background, on its :class:`~meshq.Meshq`'s event-loop thread, for as long
as calls are waiting; it runs every waiting job of that queue, so give it a
queue of its own. Functions of ``__main__`` (a script, a notebook) travel
by value; those of other modules are imported by name on the host (the
job's working directory is on ``sys.path``), unless listed in ``by_value``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor as _Executor
from concurrent.futures import Future
from datetime import timedelta
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from meshq import calls, paths
from meshq.errors import HostError, JobFailed, MeshqError, NotFound
from meshq.model import LOCAL_HOST_NAMES, Job, Status
from meshq.service import DEFAULT_EXPERIMENT

if TYPE_CHECKING:
    from meshq.api import Meshq
    from meshq.hosts.backend import HostBackend
    from meshq.scheduler.run import RunResult
    from meshq.service import Service

P = ParamSpec("P")
T = TypeVar("T")

#: how many files are sent to one host at once
PUT_AT_ONCE = 16
#: how much of a failed job's stderr its error quotes
STDERR_TAIL = 2_000
#: how long to wait before looking again at calls another run holds (s)
LOOK_AGAIN = 0.5
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class _Reporter:
    """What the Executor hears from its runs: calls that start and end."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def begin(self, total: int) -> None: ...
    def set_total(self, total: int) -> None: ...
    def message(self, text: str) -> None: ...
    def phase(self, text: str) -> None: ...
    def end(self) -> None: ...

    def started(self, job: Job) -> None:
        self._executor._started(job)

    def finished(self, job: Job, status: Status, exit_code: int | None, error: str | None) -> None:
        self._executor._finished(job, status)


class Executor(_Executor):
    """Run Python calls as jobs of ``queue`` on ``hosts`` (names of the
    inventory, or any host ``ssh`` reaches; ``localhost`` is this machine).

    ``max_workers`` calls run at once on each host (default: its
    ``max_jobs`` in the inventory, else, for this machine, its number of
    CPUs, else 1). ``pyenv`` is sourced before ``python`` runs a call;
    ``directory`` is where it runs (default: its job's folder);
    ``timeout``, ``retries`` and ``gpus`` apply to every call, as for
    :meth:`meshq.Meshq.add`. The queue is made under ``experiment`` when it
    does not exist. ``mq`` is the store to use (default: a
    :class:`~meshq.Meshq` of ``db`` the Executor opens and closes).

    Example::

        with Executor(queue="feat", hosts=["localhost"], timeout="1h", retries=1) as ex:
            print(ex.submit(pow, 2, 10).result())   # 1024
    """

    def __init__(
        self,
        queue: str = "executor",
        hosts: str | Sequence[str] = ("localhost",),
        *,
        mq: Meshq | None = None,
        db: str | Path | None = None,
        experiment: str = DEFAULT_EXPERIMENT,
        max_workers: int | None = None,
        pyenv: str | None = None,
        python: str = "python3",
        directory: str | None = None,
        timeout: float | str | timedelta | None = None,
        retries: int | None = None,
        gpus: int | None = None,
        policy: str | None = None,
        by_value: Iterable[ModuleType | str] = (),
    ) -> None:
        from meshq.api import Meshq

        self._own = mq is None
        self._mq = Meshq(db) if mq is None else mq
        self._portal = self._mq._portal
        self._service: Service = self._mq._async.service
        self._queue = queue
        self._hosts = [hosts] if isinstance(hosts, str) else list(hosts)
        if not self._hosts:
            raise MeshqError("an Executor needs at least one host, such as 'localhost'")
        self._max_workers = max_workers
        self._policy = policy
        self._options: dict[str, Any] = {
            k: v
            for k, v in {
                "pyenv": pyenv,
                "directory": directory,
                "timeout": timeout.total_seconds() if isinstance(timeout, timedelta) else timeout,
                "retries": retries,
                "gpus": gpus,
            }.items()
            if v is not None
        }
        self._command = calls.command(python)
        self._experiment = experiment
        self._token = _token()
        self._count = 0
        #: job name → its future, while the call is not settled
        self._futures: dict[str, Future[Any]] = {}
        self._backends: dict[object, HostBackend] = {}
        self._driver: asyncio.Task[None] | None = None
        self._settling: set[asyncio.Task[None]] = set()
        self._ready = False
        self._closed = False
        self._reporter = _Reporter(self)
        for module in by_value:
            _by_value(module)
        try:
            self._portal.call(self._setup())
        except BaseException:
            if self._own:
                self._mq.close()
            raise

    # -- concurrent.futures.Executor ------------------------------------------

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Run ``fn(*args, **kwargs)`` as a job; its future.
        Example: ``ex.submit(train, config, epochs=10).result()``"""
        [future] = self._submit_many(fn, [(args, kwargs)])
        return future

    def map(
        self,
        fn: Callable[..., T],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
    ) -> Iterator[T]:
        """``fn`` over the items of ``iterables``, each call a job, all
        added in one go; the results in order, as they come (the first
        failed call raises when its turn comes). ``chunksize`` is ignored.
        Example: ``scores = list(ex.map(train, configs))``"""
        futures = self._submit_many(fn, [(args, {}) for args in zip(*iterables, strict=False)])
        end = None if timeout is None else time.monotonic() + timeout

        def results() -> Iterator[T]:
            try:
                for future in futures:
                    yield future.result(None if end is None else end - time.monotonic())
            finally:
                for future in futures:
                    future.cancel()

        return results()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Take no more calls; with ``cancel_futures``, cancel the calls that
        have not started (their jobs are deleted); with ``wait``, wait for the
        others to end, then let go of the hosts (and of the store it opened).
        Example: ``ex.shutdown(cancel_futures=True)``"""
        if self._closed and not wait:
            return
        self._closed = True
        if cancel_futures:
            self._portal.call(self._cancel_waiting())
        if not wait:
            return
        try:
            self._portal.call(self._drain())
        finally:
            if self._own:
                self._mq.close()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> bool | None:
        if error is not None:
            # an error (Ctrl-C) leaves the calls that run running, as meshq
            # does everywhere, and drops the ones that wait
            self.shutdown(wait=False, cancel_futures=True)
            return None
        self.shutdown(wait=True)
        return None

    # -- submitting (caller's thread, then the loop) ----------------------------

    def _submit_many(
        self, fn: Callable[..., Any], arguments: Sequence[tuple[Sequence[Any], dict[str, Any]]]
    ) -> list[Future[Any]]:
        if self._closed:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if not arguments:
            return []
        # pickled here: a call that cannot be pickled fails at once, here
        packed = [calls.pack(fn, args, kwargs) for args, kwargs in arguments]
        return self._portal.call(self._add(_function_name(fn), packed))

    async def _add(self, prefix: str, packed: list[bytes]) -> list[Future[Any]]:
        first = self._count + 1
        self._count += len(packed)
        stem = f"{prefix}-{self._token}-"
        job_names = [f"{stem}{n}" for n in range(first, self._count + 1)]
        q = self._service.store.queue(self._queue)
        sends = [
            (host, paths.job_folder(q, name, local=self._local(host)) + "/" + calls.CALL, data)
            for name, data in zip(job_names, packed, strict=True)
            for host in self._hosts
        ]
        await self._put_all(sends)
        futures: list[Future[Any]] = []
        for name in job_names:
            future: Future[Any] = Future()
            future.add_done_callback(functools.partial(self._on_cancel, name))
            self._futures[name] = future
            futures.append(future)
        pattern = f"{stem}[{first}-{self._count}]" if len(packed) > 1 else job_names[0]
        try:
            self._service.add(self._queue, pattern, self._command, **self._options)
        except BaseException:
            for name in job_names:
                self._futures.pop(name, None)
            raise
        if self._driver is None or self._driver.done():
            self._driver = asyncio.create_task(self._drive(), name=f"executor-{self._queue}")
        return futures

    async def _put_all(self, sends: list[tuple[str, str, bytes]]) -> None:
        limit = asyncio.Semaphore(PUT_AT_ONCE * len(self._hosts))

        async def one(host: str, path: str, data: bytes) -> None:
            async with limit:
                await self._backend_for(host).put(path, data)

        await asyncio.gather(*(one(*send) for send in sends))

    # -- running (the loop) -----------------------------------------------------

    async def _setup(self) -> None:
        """The queue (made when missing) and the runner on every host."""
        try:
            q = self._service.store.queue(self._queue)
        except NotFound:
            q = self._service.create_queue(self._queue, self._experiment)
        runner = calls.runner_source()
        await asyncio.gather(
            *(
                self._backend_for(h).put(
                    paths.queue_folder(q, local=self._local(h)) + "/" + calls.RUNNER, runner
                )
                for h in self._hosts
            )
        )
        self._ready = True

    def _local(self, host: str) -> bool:
        return self._service._is_local(host)

    def _backend_for(self, host: str, job: Job | None = None) -> HostBackend:
        """A backend for files to and from ``host`` (as ``job`` ran there,
        when given): kept for the Executor's life, one connection each."""
        from meshq.hosts.registry import make_backend, target

        where = (
            self._service._target_for(job) if job is not None else target(self._service.store, host)
        )
        key = (where.name, where.user, where.port)
        backend = self._backends.get(key)
        if backend is None:
            backend = self._backends[key] = make_backend(where)
        return backend

    def _slots(self) -> str:
        """The run's hosts as the seed's list: one entry per slot."""
        entries: list[str] = []
        for host in self._hosts:
            known = self._service.store.find_host("localhost" if host in LOCAL_HOST_NAMES else host)
            if self._max_workers is not None:
                slots = self._max_workers
            elif known is not None:
                slots = known.max_jobs
            else:
                slots = (os.cpu_count() or 1) if host in LOCAL_HOST_NAMES else 1
            entries += [host] * slots
        return ",".join(entries)

    async def _drive(self) -> None:
        """Run the queue while calls wait, then settle what other runs ended."""
        while self._futures:
            try:
                result = await self._service.run_fifo_multi(
                    self._queue, self._slots(), policy=self._policy, reporter=self._reporter
                )
            except MeshqError as err:
                self._fail_all(err)
                return
            await self._settle_left()
            if self._futures and not result.ran:
                if result.stranded:
                    self._fail_all(_stranded(self._queue, result))
                    return
                await asyncio.sleep(LOOK_AGAIN)  # another run holds them

    def _started(self, job: Job) -> None:
        future = self._futures.get(job.name)
        if future is not None and not future.running():
            future.set_running_or_notify_cancel()

    def _finished(self, job: Job, status: Status) -> None:
        if job.name in self._futures:
            task = asyncio.create_task(self._settle(job, status))
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)

    async def _settle_left(self) -> None:
        """Settle the calls whose jobs are final though no run of ours saw
        them end (another run took them, or they were skipped)."""
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)
        waiting = list(self._futures)
        if not waiting:
            return
        q = self._service.store.queue(self._queue)
        found = self._service.store.jobs(q, names=waiting)
        for job in found:
            if job.status not in (Status.UNDEFINED, Status.READY, Status.RUN, Status.START):
                await self._settle(job, job.status)
        for name in set(waiting) - {j.name for j in found}:
            future = self._futures.pop(name)
            if not future.done():
                future.set_exception(
                    JobFailed(
                        f"job {name} of queue {self._queue} was deleted before it ended",
                        queue=self._queue,
                        job=name,
                    )
                )

    async def _settle(self, job: Job, status: Status) -> None:
        future = self._futures.pop(job.name, None)
        if future is None or future.done():
            return
        try:
            value = await self._outcome(job, status)
        except BaseException as err:
            if not future.done():
                future.set_exception(err)
        else:
            if not future.done():
                future.set_result(value)

    async def _outcome(self, job: Job, status: Status) -> Any:
        """The call's value, or raise its error (see :func:`meshq.calls.outcome`)."""
        fresh = self._service.store.job_by_id(job.id)
        files = self._service.files(fresh)
        if status in (Status.END, Status.FAIL) and files is not None:
            backend = self._backend_for(fresh.host or "", fresh)
            try:
                data = await backend.read(f"{files.folder}/{calls.result_name(fresh.attempts)}")
            except HostError:
                data = None
            if data is not None:
                return calls.outcome(data, queue=self._queue, job=job.name, host=fresh.host)
        raise await self._failed(fresh, status)

    async def _failed(self, job: Job, status: Status) -> JobFailed:
        """The error of a call whose job ended ``status`` with no result."""
        stderr = ""
        files = self._service.files(job)
        if files is not None and job.attempts:
            with contextlib.suppress(HostError):
                raw = await self._backend_for(job.host or "", job).read(files.stderr)
                stderr = raw[-STDERR_TAIL:].decode("utf-8", "replace")
        said = f" (exit status {job.exit_code})" if job.exit_code is not None else ""
        why = f": {job.error}" if job.error else ""
        last = stderr.strip().splitlines()[-1:] if stderr.strip() else []
        tail = f"; its stderr ends: {last[0]}" if last else ""
        return JobFailed(
            f"job {job.name} of queue {job.queue} ended {status.value}{said}{why}{tail}",
            queue=job.queue,
            job=job.name,
            host=job.host,
            status=status.value,
            returncode=job.exit_code,
            stderr=stderr,
        )

    def _fail_all(self, error: BaseException) -> None:
        for name in list(self._futures):
            future = self._futures.pop(name)
            if not future.done():
                future.set_exception(error)

    # -- ending -----------------------------------------------------------------

    def _on_cancel(self, name: str, future: Future[Any]) -> None:
        # a future the caller cancelled (the loop cancels none of its own):
        # its job, if it still waits, goes too
        if future.cancelled() and not self._portal.in_loop():
            with contextlib.suppress(MeshqError):
                self._portal.submit(self._drop([name]))

    async def _drop(self, job_names: list[str]) -> None:
        """Delete the jobs of cancelled calls that have not started."""
        q = self._service.store.queue(self._queue)
        waiting = [
            j.name
            for j in self._service.store.jobs(q, names=job_names)
            if j.status in (Status.UNDEFINED, Status.READY)
        ]
        for name in job_names:
            self._futures.pop(name, None)
        if waiting:
            await self._service.delete(self._queue, ",".join(waiting))

    async def _cancel_waiting(self) -> None:
        q = self._service.store.queue(self._queue)
        waiting = {
            j.name
            for j in self._service.store.jobs(q, names=list(self._futures))
            if j.status in (Status.UNDEFINED, Status.READY)
        }
        for name in waiting:
            future = self._futures.pop(name)
            future.cancel()
        if waiting:
            await self._service.delete(self._queue, ",".join(sorted(waiting)))

    async def _drain(self) -> None:
        """Wait for every call, then close the hosts' connections."""
        while self._driver is not None and not self._driver.done():
            await asyncio.shield(self._driver)
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)
        backends, self._backends = list(self._backends.values()), {}
        await asyncio.gather(*(b.close() for b in backends), return_exceptions=True)


def _token() -> str:
    """A short random part of job names: two Executors never collide."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(4))


def _function_name(fn: Callable[..., Any]) -> str:
    """A job name's first part for calls of ``fn``: its name, as a job
    name may hold it."""
    name = _NOT_IN_NAME.sub("_", getattr(fn, "__name__", "") or "call").strip("._-")
    return (name or "call")[:40]


def _by_value(module: ModuleType | str) -> None:
    import importlib

    import cloudpickle

    found = importlib.import_module(module) if isinstance(module, str) else module
    cloudpickle.register_pickle_by_value(found)


def _stranded(queue: str, result: RunResult) -> JobFailed:
    why = result.stranded_why or "no host of the Executor could take them"
    return JobFailed(f"calls of queue {queue} cannot start: {why}", queue=queue, status="ready")
