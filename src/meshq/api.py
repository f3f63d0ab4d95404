"""The public Python API: :class:`Meshq`, whose every method is a plain
call, safe from a script and from a notebook::

    from meshq import Meshq

    with Meshq() as mq:                       # the default store; Meshq("x.db") for another
        mq.create_queue("sweep")
        mq.add("sweep", "job[1-10]", "python train.py --seed=$MESHQ_INDEX", host="localhost")
        result = mq.run_fifo("sweep", max_parallel=4)
        print(result.ok, mq.counts("sweep"))
        for job in mq.jobs("sweep", status="fail"):
            print(job.name, job.exit_code, job.stderr())

:class:`Meshq` has no operation of its own. Each of its methods is made
from the coroutine of the same name of :class:`meshq.AsyncMeshq` (which
calls the one implementation, :class:`meshq.service.Service`): the method
runs that coroutine on the :class:`Meshq`'s private event-loop thread
(:mod:`meshq.portal`) and waits for it, and a job handle it gives back is
bound to this :class:`Meshq` (:class:`meshq.results.Job`) instead.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

from meshq.aio import AsyncMeshq
from meshq.portal import Portal
from meshq.results import AsyncJob, Job

if TYPE_CHECKING:
    from meshq.scheduler.run import RunResult

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class _Made(Generic[P, R]):
    """A method of :class:`Meshq` made from a method of :class:`AsyncMeshq`:
    its signature and docstring are the coroutine's."""

    def __init__(
        self,
        fn: Callable[..., Any],
        call: Callable[[Meshq, Any], R],
        kind: str,
        returns: str | None = None,
    ) -> None:
        self._fn = fn
        self._call = call
        #: "call" (a coroutine made plain) or "iterate" (an async iterator)
        self.kind = kind
        # what help(), IDEs and the reference docs read: the coroutine's,
        # its examples without ``await``, its result as this method gives it
        self.__name__ = fn.__name__
        self.__qualname__ = f"Meshq.{fn.__name__}"
        self.__doc__ = _plain_doc(fn.__doc__)
        self.__wrapped__ = fn
        sig = inspect.signature(fn)
        self.__signature__ = sig.replace(
            parameters=list(sig.parameters.values())[1:],
            return_annotation=sig.return_annotation if returns is None else returns,
        )

    def __call__(self, mq: Meshq, /, *args: Any, **kwargs: Any) -> R:
        """``Meshq.add(mq, …)``, as for any method looked up on its class."""
        method: Callable[..., R] = self.__get__(mq, Meshq)
        return method(*args, **kwargs)

    @overload
    def __get__(self, obj: None, owner: type[Meshq]) -> Self: ...
    @overload
    def __get__(self, obj: Meshq, owner: type[Meshq]) -> Callable[P, R]: ...
    def __get__(self, obj: Meshq | None, owner: type[Meshq]) -> Self | Callable[P, R]:
        if obj is None:
            return self
        fn, call = self._fn, self._call

        @functools.wraps(fn)
        def method(*args: P.args, **kwargs: P.kwargs) -> R:
            return call(obj, fn(obj._async, *args, **kwargs))

        return method


def _plain_doc(doc: str | None) -> str | None:
    """A coroutine's docstring as its plain twin's: examples without ``await``."""
    if doc is None:
        return None
    return doc.replace("async with ", "with ").replace("async for ", "for ").replace("await ", "")


def _plain(fn: Callable[Concatenate[AsyncMeshq, P], Awaitable[R]]) -> _Made[P, R]:
    """A coroutine method as a plain one: run on the portal, result as is."""
    return _Made(fn, lambda mq, coro: mq._portal.call(coro), "call")


def _one_job(fn: Callable[Concatenate[AsyncMeshq, P], Awaitable[AsyncJob]]) -> _Made[P, Job]:
    """A coroutine method giving a job handle: the handle bound to the Meshq."""
    return _Made(fn, lambda mq, coro: _rebound(mq._portal.call(coro), mq), "call", "Job")


def _jobs(
    fn: Callable[Concatenate[AsyncMeshq, P], Awaitable[list[AsyncJob]]],
) -> _Made[P, list[Job]]:
    """A coroutine method giving job handles: each bound to the Meshq."""
    return _Made(
        fn, lambda mq, coro: [_rebound(j, mq) for j in mq._portal.call(coro)], "call", "list[Job]"
    )


def _iterated(
    fn: Callable[Concatenate[AsyncMeshq, P], AsyncIterator[T]],
) -> _Made[P, Iterator[T]]:
    """An async-iterator method as an iterator: each item one portal call."""
    item = str(inspect.signature(fn).return_annotation).removeprefix("AsyncIterator")
    return _Made(fn, lambda mq, items: mq._portal.iterate(items), "iterate", f"Iterator{item}")


def _rebound(job: AsyncJob, mq: Meshq) -> Job:
    values = {name: getattr(job, name) for name in Job.__dataclass_fields__ if name != "_mq"}
    return Job(**values, _mq=mq)


async def _open(db: str | Path | None, warn: Callable[[str], None] | None) -> AsyncMeshq:
    # made on the portal's thread: the store's SQLite connection belongs to it
    return AsyncMeshq(db, warn=warn)


class Meshq:
    """A handle on one meshq store and the hosts its jobs run on, for plain
    (synchronous) code: a script, a notebook, a thread. ``db`` names the
    store file (default: ``$MESHQ_DB``, else ``$MESHQ_HOME/meshq.db``, else
    ``~/.local/share/meshq/meshq.db``); ``warn`` is told warnings (default:
    a line on stderr). Close it (or use ``with``) when done.

    Every method is the one of :class:`~meshq.AsyncMeshq` of the same name,
    waited for. Example::

        with Meshq() as mq:
            mq.create_queue("sweep")
            mq.add("sweep", "job[1-4]", "echo $MESHQ_INDEX", host="localhost")
            print(mq.run_fifo("sweep", max_parallel=4).ok)
    """

    def __init__(
        self, db: str | Path | None = None, *, warn: Callable[[str], None] | None = None
    ) -> None:
        self._portal = Portal()
        try:
            self._async = self._portal.call(_open(db, warn))
        except BaseException:
            self._portal.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Meshq({str(self._async.service.store.path)!r})"

    def close(self) -> None:
        """Close the store and stop the private loop (a run still going on
        in a thread is stopped; its jobs run on). Calling it twice is fine.
        Example: ``mq.close()`` (or ``with Meshq() as mq: …``)"""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        try:
            self._portal.call(self._async.close())
        finally:
            self._portal.close()

    # queues
    create_queue = _plain(AsyncMeshq.create_queue)
    queue = _plain(AsyncMeshq.queue)
    queues = _plain(AsyncMeshq.queues)
    set_queue = _plain(AsyncMeshq.set_queue)
    pause = _plain(AsyncMeshq.pause)
    resume = _plain(AsyncMeshq.resume)
    # jobs
    add = _plain(AsyncMeshq.add)
    sweep = _plain(AsyncMeshq.sweep)
    add_file = _plain(AsyncMeshq.add_file)
    set_jobs = _plain(AsyncMeshq.set_jobs)
    jobs = _jobs(AsyncMeshq.jobs)
    job = _one_job(AsyncMeshq.job)
    wait = _one_job(AsyncMeshq.wait)
    history = _plain(AsyncMeshq.history)
    counts = _plain(AsyncMeshq.counts)
    summary = _plain(AsyncMeshq.summary)
    files = _plain(AsyncMeshq.files)
    # running, and what reaches hosts
    run_fifo = _plain(AsyncMeshq.run_fifo)
    run_fifo_multi = _plain(AsyncMeshq.run_fifo_multi)
    kill = _plain(AsyncMeshq.kill)
    reset = _plain(AsyncMeshq.reset)
    delete = _plain(AsyncMeshq.delete)
    refresh = _plain(AsyncMeshq.refresh)
    logs = _plain(AsyncMeshq.logs)
    follow = _iterated(AsyncMeshq.follow)
    # hosts
    add_hosts = _plain(AsyncMeshq.add_hosts)
    hosts = _plain(AsyncMeshq.hosts)
    host = _plain(AsyncMeshq.host)
    set_host = _plain(AsyncMeshq.set_host)
    enable_host = _plain(AsyncMeshq.enable_host)
    disable_host = _plain(AsyncMeshq.disable_host)
    delete_host = _plain(AsyncMeshq.delete_host)
    probe = _plain(AsyncMeshq.probe)
    # the seed's files
    import_file = _plain(AsyncMeshq.import_file)
    export_queue = _plain(AsyncMeshq.export_queue)
    export_hosts = _plain(AsyncMeshq.export_hosts)


def __getattr__(name: str) -> Any:
    # RunResult lives with the scheduler; kept importable from here
    if name == "RunResult":
        from meshq.scheduler.run import RunResult

        return RunResult
    raise AttributeError(name)


__all__ = ["Meshq", "RunResult"]
