"""The public Python API for asyncio programs: :class:`AsyncMeshq`.

Every method is a coroutine (``follow`` an async iterator) and gives back
the typed records of :mod:`meshq.results`. It does no work of its own: each
method calls the one implementation, :class:`meshq.service.Service`, and
turns what comes back into public records. :class:`meshq.Meshq`, the plain
synchronous API, is made from this class generically (see
:mod:`meshq.api`)::

    import asyncio
    from meshq import AsyncMeshq

    async def main() -> None:
        async with AsyncMeshq() as mq:
            await mq.create_queue("sweep")
            await mq.add("sweep", "job[1-4]", "echo $MESHQ_INDEX", host="localhost")
            result = await mq.run_fifo("sweep", max_parallel=4)
            print(result.ok, [j.status for j in await mq.jobs("sweep")])

    asyncio.run(main())

Store operations run inline in the event loop: each takes about a
millisecond (a write may wait for another meshq process's write to end).
An :class:`AsyncMeshq` belongs to the event loop and thread that use it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from meshq.arguments import check_all, closest
from meshq.errors import ArgumentError, WaitTimeout, shown
from meshq.hostops import Moved
from meshq.interop import ExportFormat, Imported
from meshq.model import HostKind, Status
from meshq.paths import JobPaths
from meshq.results import AsyncJob, HostInfo, Probe, QueueSummary, StateChange
from meshq.scheduler.run import RunResult
from meshq.service import DEFAULT_EXPERIMENT, Service
from meshq.summary import Summary

#: what a ``status`` argument takes: ``"fail"``, ``"fail,kill"``, an alias
#: (``"failed"``), or a list of states
States = str | Iterable[Status | str] | None


def _warn(text: str) -> None:
    import sys

    print(f"meshq: warning: {text}", file=sys.stderr)


def _seconds(value: float | str | timedelta | None) -> float | str | None:
    """A duration as the service takes it: seconds, or text such as ``2h``."""
    return value.total_seconds() if isinstance(value, timedelta) else value


def _joined(value: str | Sequence[str] | None) -> str | None:
    """A list argument as the service takes it: comma separated."""
    if value is None or isinstance(value, str):
        return value
    return ",".join(str(v) for v in value)


@check_all
class AsyncMeshq:
    """A handle on one meshq store (and the hosts its jobs run on), for
    asyncio programs. ``db`` names the store file (default:
    ``$MESHQ_DB``, else ``$MESHQ_HOME/meshq.db``, else
    ``~/.local/share/meshq/meshq.db``); ``warn`` is told warnings (default:
    a line on stderr).

    Example::

        async with AsyncMeshq("runs.db") as mq:
            print([q.name for q in await mq.queues()])
    """

    def __init__(
        self, db: str | Path | None = None, *, warn: Callable[[str], None] | None = None
    ) -> None:
        #: the service layer underneath (internal records, for the CLI and tools)
        self.service = Service(db, warn or _warn)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the store. Jobs that run go on running."""
        self.service.close()

    def _job(self, record: Any) -> AsyncJob:
        return AsyncJob.bound(record, self)

    # -- queues ---------------------------------------------------------------

    async def create_queue(
        self,
        name: str,
        experiment: str = DEFAULT_EXPERIMENT,
        *,
        timeout: float | str | timedelta | None = None,
        retries: int | None = None,
    ) -> QueueSummary:
        """Create an empty queue whose jobs get their folders under
        ``experiment`` (made absolute here; on another host the same path
        under its home). ``timeout`` and ``retries`` are the defaults for
        its jobs. Example: ``await mq.create_queue("sweep", "~/runs", timeout="2h")``"""
        q = self.service.create_queue(name, experiment, timeout=_seconds(timeout), retries=retries)
        return QueueSummary.of(q, {})

    async def queue(self, name: str) -> QueueSummary:
        """The queue ``name`` with its counts; :class:`~meshq.errors.NotFound`
        if there is none. Example: ``(await mq.queue("sweep")).counts``"""
        q = self.service.queue(name)
        return QueueSummary.of(q, self.service.counts(q.name))

    async def queues(self) -> list[QueueSummary]:
        """Every queue with its counts per state.
        Example: ``[q.name for q in await mq.queues()]``"""
        return [QueueSummary.of(q, c) for q, c in self.service.store.queues()]

    async def set_queue(
        self,
        queue: str,
        *,
        timeout: float | str | timedelta | None = None,
        retries: int | None = None,
        policy: str | None = None,
    ) -> QueueSummary:
        """Set the queue's default time limit and retries for its jobs, and
        the ``fifo_multi`` policy its runs use (those given).
        Example: ``await mq.set_queue("sweep", retries=2, policy="smart")``"""
        self.service.set_defaults(queue, timeout=_seconds(timeout), retries=retries, policy=policy)
        return await self.queue(queue)

    async def pause(self, queue: str) -> QueueSummary:
        """Start no new job of the queue (running ones go on) until
        :meth:`resume`. Example: ``await mq.pause("sweep")``"""
        self.service.pause(queue)
        return await self.queue(queue)

    async def resume(self, queue: str) -> QueueSummary:
        """Let a paused queue's jobs start again. Example: ``await mq.resume("sweep")``"""
        self.service.resume(queue)
        return await self.queue(queue)

    # -- jobs -----------------------------------------------------------------

    async def add(
        self,
        queue: str,
        name: str,
        command: str,
        *,
        host: str | None = None,
        user: str | None = None,
        gpu: str | Sequence[int] | None = None,
        gpus: int | None = None,
        pyenv: str | None = None,
        directory: str | None = None,
        shell: str | None = None,
        input: str | None = None,
        output: str | None = None,
        log: str | None = None,
        timeout: float | str | timedelta | None = None,
        retries: int | None = None,
        after: str | Sequence[str] | None = None,
    ) -> list[str]:
        """Add the jobs the name pattern ``name`` expands to (``job[1-10]``,
        ``a[0-1]b[0-1]``), all running ``command`` with ``bash -c``, in one
        transaction; their names. Each job sees ``MESHQ_INDEX`` (``7`` for
        ``job7``), ``MESHQ_JOB``, ``MESHQ_QUEUE``, ``MESHQ_JOB_DIR``.

        ``host`` pins the jobs to a host (``localhost`` is this machine;
        without one they wait for a ``fifo_multi`` run to place them);
        ``gpu`` names the GPU ids they see, ``gpus`` asks for that many
        GPUs of their host; ``pyenv`` is sourced first (a venv folder or an
        activate script); ``directory`` is where the command runs (default:
        the folder this is called in; on another host the same folder
        under its home); ``timeout`` is a limit in seconds (or
        ``"2h"``, or a timedelta); ``retries`` reruns a failed attempt;
        ``after`` names jobs that must end well first.

        Example::

            await mq.add("sweep", "job[1-10]", "python train.py --seed=$MESHQ_INDEX",
                         host="localhost", timeout="1h", retries=2)
        """
        fields = _job_fields(locals(), JOB_OPTIONS)
        return self.service.add(queue, name, command, **fields)

    async def sweep(
        self,
        queue: str,
        command: str,
        /,
        *,
        name: str | None = None,
        host: str | None = None,
        user: str | None = None,
        gpu: str | Sequence[int] | None = None,
        gpus: int | None = None,
        pyenv: str | None = None,
        directory: str | None = None,
        shell: str | None = None,
        input: str | None = None,
        output: str | None = None,
        log: str | None = None,
        timeout: float | str | timedelta | None = None,
        retries: int | None = None,
        after: str | Sequence[str] | None = None,
        **params: Iterable[Any],
    ) -> list[str]:
        """Add one job per combination of the parameters' values, in one
        transaction; their names. ``{lr}`` in ``command`` becomes the
        value quoted for the shell (``{{``/``}}`` are literal braces), and
        each job also sees ``MESHQ_PARAM_LR``; ``name`` is a template
        (``"run-{lr}-{seed}"``, ``"r{index}"``) or a prefix (default names:
        ``lr0.1-seed0``). The options are :meth:`add`'s. See :mod:`meshq.sweeps`.

        Example::

            await mq.sweep("lr-sweep", "python train.py --lr={lr} --seed={seed}",
                           lr=[0.1, 0.01], seed=range(8), host="localhost")
        """
        options = set(JOB_OPTIONS) | {"name"}
        for key, values in params.items():
            if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
                raise _not_a_sweep_value(key, values, options)
        fields = _job_fields(locals(), JOB_OPTIONS)
        return self.service.sweep(queue, command, params, name=name, **fields)

    async def add_file(self, queue: str, path: str | Path) -> list[str]:
        """Add the jobs of a YAML job file (a list of entries with ``name``,
        ``command`` and any option of :meth:`add`, or ``grid`` for a sweep),
        all or none; their names. Example: ``await mq.add_file("sweep", "jobs.yaml")``"""
        return self.service.add_file(queue, str(path))

    async def set_jobs(
        self,
        queue: str,
        name: str | None = None,
        status: States = None,
        *,
        command: str | None = None,
        host: str | None = None,
        user: str | None = None,
        gpu: str | Sequence[int] | None = None,
        gpus: int | None = None,
        pyenv: str | None = None,
        directory: str | None = None,
        shell: str | None = None,
        input: str | None = None,
        output: str | None = None,
        log: str | None = None,
        timeout: float | str | timedelta | None = None,
        retries: int | None = None,
    ) -> list[str]:
        """Change fields of the selected jobs that are not running (a
        running one is refused, and nothing changes); their names.
        Example: ``await mq.set_jobs("sweep", "job[1-3]", timeout="3h")``"""
        given = _job_fields(locals(), ("command", *JOB_OPTIONS[:-1]))
        fields = {k: str(v) for k, v in given.items()}
        return self.service.set_jobs(queue, name, status, **fields)

    async def jobs(
        self, queue: str, *, name: str | None = None, status: States = None
    ) -> list[AsyncJob]:
        """The queue's jobs in queue order; ``name`` selects by names,
        ranges and globs (``job[1-5],prep*``), ``status`` by states
        (``"fail"``, ``"fail,kill"``, ``["end"]``, the aliases ``failed``,
        ``done``, …). Example: ``await mq.jobs("sweep", status="fail")``"""
        return [self._job(j) for j in self.service.select(queue, name, status)]

    async def job(self, queue: str, name: str) -> AsyncJob:
        """The job ``name`` of ``queue``; :class:`~meshq.errors.NotFound` if
        there is none. Example: ``(await mq.job("sweep", "job3")).exit_code``"""
        return self._job(self.service.job(queue, name))

    async def wait(
        self, queue: str, name: str, *, timeout: float | None = None, poll: float = 0.5
    ) -> AsyncJob:
        """Wait until the job is finished and return it; a
        :class:`~meshq.errors.WaitTimeout` after ``timeout`` seconds. It
        only watches the store: a run must be going on somewhere.
        Example: ``job = await mq.wait("sweep", "job3", timeout=60)``"""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = await self.job(queue, name)
            if job.done:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"job {name} of queue {queue} is still {job.status.value} after {timeout:g} s",
                    queue=queue,
                    job=name,
                )
            await asyncio.sleep(poll)

    async def history(self, queue: str, name: str) -> list[StateChange]:
        """The job's state changes, oldest first (every attempt).
        Example: ``[c.new for c in await mq.history("sweep", "job3")]``"""
        return [StateChange.of(e) for e in self.service.history(queue, name)]

    async def counts(self, queue: str) -> dict[Status, int]:
        """How many jobs of the queue are in each state (states with none
        left out). Example: ``(await mq.counts("sweep")).get(Status.END, 0)``"""
        return {s: n for s, n in self.service.counts(queue).items() if n}

    async def summary(self, queue: str) -> Summary:
        """Runtimes of the queue's jobs (seconds) and each host's attempts and
        failures. Example: ``(await mq.summary("sweep")).runtimes.median``"""
        return self.service.summary(queue)

    async def files(self, queue: str, name: str) -> JobPaths | None:
        """Where the job's folder and files are on its host (``~/…`` on
        another host); ``None`` while it has no host.
        Example: ``(await mq.files("sweep", "job3")).stdout``"""
        return self.service.files(self.service.job(queue, name))

    # -- running --------------------------------------------------------------

    async def run_fifo(
        self, queue: str, max_parallel: int = 1, *, name: str | None = None
    ) -> RunResult:
        """Run the queue's ready jobs in queue order, each on the host it is
        pinned to, at most ``max_parallel`` at once, until none is left;
        ``name`` runs only the jobs it selects. Jobs keep running if this is
        cancelled. Example: ``(await mq.run_fifo("sweep", 4)).ok``"""
        return await self.service.run_fifo(queue, max_parallel, name=name)

    async def run_fifo_multi(
        self,
        queue: str,
        hosts: str | Sequence[str] | None = None,
        *,
        policy: str | None = None,
        name: str | None = None,
    ) -> RunResult:
        """Run the queue's waiting jobs over many hosts, each placed by
        ``policy`` (``sequential``, ``random``, ``smart``, ``frugal``; default
        the queue's) on a host with a free slot. ``hosts``: the seed's list
        (``"pi@red,red01"`` or ``["red", "red01"]``, one slot per entry);
        default the inventory's hosts with their slots.
        Example: ``await mq.run_fifo_multi("sweep", policy="smart")``"""
        return await self.service.run_fifo_multi(queue, _joined(hosts), policy=policy, name=name)

    async def kill(self, queue: str, name: str | None = None, status: States = None) -> list[Moved]:
        """Kill the selected jobs that run (each with every process it
        started); what changed. Example: ``await mq.kill("sweep", "job[1-3]")``"""
        return await self.service.kill(queue, name, status)

    async def reset(
        self,
        queue: str,
        name: str | None = None,
        status: States = None,
        *,
        purge: bool = False,
    ) -> list[Moved]:
        """Make the selected jobs (neither given: every job not ``end``)
        runnable again: killed if running, back to ready. Their files stay
        (the next attempt keeps them in ``JOB/attempts/N/``); ``purge``
        removes their folders on every host they ran on.
        Example: ``await mq.reset("sweep", status="fail")``"""
        return await self.service.reset(queue, name, status, purge=purge)

    async def delete(self, queue: str, name: str | None = None, status: States = None) -> int:
        """Delete the selected jobs (neither given: the whole queue), killed
        if running and their folders removed; how many.
        Example: ``await mq.delete("sweep", status="end")``"""
        return await self.service.delete(queue, name, status)

    async def refresh(self, queue: str) -> list[Moved]:
        """Read the true state of the queue's running jobs from their hosts
        (after meshq itself was killed, say); what changed.
        Example: ``await mq.refresh("sweep")``"""
        return await self.service.refresh(queue)

    async def logs(
        self, queue: str, name: str, *, stderr: bool = False, attempt: int | None = None
    ) -> bytes:
        """The job's stdout (or stderr) as it is now, read on its host;
        ``attempt``: that attempt's (every attempt keeps its output). A file
        that cannot be read is an :class:`~meshq.errors.UnreadableFile`.
        Example: ``print((await mq.logs("sweep", "job3", attempt=1)).decode())``"""
        chunks = self.service.logs(queue, name, stderr=stderr, attempt=attempt)
        return b"".join([c async for c in chunks])

    async def follow(
        self, queue: str, name: str, *, stderr: bool = False, poll: float = 0.2
    ) -> AsyncIterator[bytes]:
        """The job's stdout (or stderr) from its start, then what it writes,
        until it ends (waiting for it to start first). Example::

            async for chunk in mq.follow("sweep", "job3"):
                print(chunk.decode(), end="")
        """
        async for chunk in self.service.logs(queue, name, stderr=stderr, follow=True, poll=poll):
            yield chunk

    # -- hosts ----------------------------------------------------------------

    async def add_hosts(
        self,
        name: str,
        *,
        ip: str | None = None,
        user: str | None = None,
        port: int | None = None,
        max_jobs: int | None = None,
        cpus: int | None = None,
        gpus: str | int | Sequence[int] | None = None,
        pyenv: str | None = None,
        check_host_key: bool = True,
        kind: HostKind | str | None = None,
        login: str | None = None,
        partition: str | None = None,
        account: str | None = None,
        qos: str | None = None,
        sbatch_options: Sequence[str] = (),
    ) -> list[HostInfo]:
        """Add the hosts the pattern ``name`` expands to (``red,red0[1-3]``)
        to the inventory: reached with ssh as ``~/.ssh/config`` says, at
        ``ip``/``user``/``port`` when given; ``max_jobs`` jobs at once;
        ``gpus`` the GPU ids (``"0,1"``, ``[0, 1]``) or a count (``4``: 0 to 3).
        ``kind="slurm"`` adds a Slurm cluster reached through its ``login``
        node (``"local"`` when meshq runs on it, else an ssh host), its jobs
        submitted to ``partition``/``account``/``qos`` with further
        ``sbatch_options`` words. Example::

            await mq.add_hosts("gpu[1-2]", max_jobs=8, gpus=4)
            await mq.add_hosts("hpc", kind="slurm", login="me@login1", partition="gpu")
        """
        ids = _gpu_ids(gpus)
        added = self.service.add_hosts(
            name,
            ip=ip,
            user=user,
            port=port,
            max_jobs=max_jobs,
            cpus=cpus,
            gpus=ids,
            pyenv=pyenv,
            check_host_key=check_host_key,
            kind=None if kind is None else str(kind),
            login=login,
            partition=partition,
            account=account,
            qos=qos,
            sbatch_options=tuple(sbatch_options),
        )
        return [HostInfo.of(self.service.store.host(h.name)) for h in added]

    async def hosts(self) -> list[HostInfo]:
        """Every host of the inventory. Example: ``[h.name for h in await mq.hosts()]``"""
        return [HostInfo.of(h) for h in self.service.hosts()]

    async def host(self, name: str) -> HostInfo:
        """The host ``name`` of the inventory. Example: ``(await mq.host("red")).status``"""
        return HostInfo.of(self.service.store.host(name))

    async def set_host(
        self,
        name: str,
        *,
        ip: str | None = None,
        user: str | None = None,
        port: int | None = None,
        max_jobs: int | None = None,
        cpus: int | None = None,
        gpus: str | int | Sequence[int] | None = None,
        pyenv: str | None = None,
    ) -> HostInfo:
        """Change a host's settings (those given; ``""`` clears one); its
        status and jobs stay. Example: ``await mq.set_host("red", max_jobs=4)``"""
        fields = {
            "ip": ip,
            "user": user,
            "port": port,
            "max_jobs": max_jobs,
            "cpus": cpus,
            "gpus": _gpu_ids(gpus),
            "pyenv": pyenv,
        }
        return HostInfo.of(self.service.set_host(name, **fields))

    async def enable_host(self, name: str) -> HostInfo:
        """Let runs use the host again. Example: ``await mq.enable_host("red")``"""
        return HostInfo.of(self.service.set_host_enabled(name, True))

    async def disable_host(self, name: str) -> HostInfo:
        """Keep runs from using the host (its running jobs go on).
        Example: ``await mq.disable_host("red")``"""
        return HostInfo.of(self.service.set_host_enabled(name, False))

    async def delete_host(self, name: str) -> None:
        """Remove the host from the inventory. Example: ``await mq.delete_host("red")``"""
        self.service.delete_host(name)

    async def probe(self, name: str | None = None) -> list[Probe]:
        """Try each host (or one) and record whether it answered.
        Example: ``[p.host.name for p in await mq.probe() if not p.ok]``"""
        return [Probe(HostInfo.of(h), e) for h, e in await self.service.probe(name)]

    # -- the seed's files -----------------------------------------------------

    async def import_file(
        self, path: str | Path, *, name: str | None = None, experiment: str | None = None
    ) -> Imported:
        """Import a cloudmesh file (a jobset, ``<queue>-queue.yaml``, a
        ``<cluster>-cluster.yaml``), all or none.
        Example: ``await mq.import_file("a-queue.yaml")``"""
        return self.service.import_file(str(path), name=name, experiment=experiment)

    async def export_queue(self, queue: str, fmt: ExportFormat = "queue") -> str:
        """The queue as a cloudmesh file's text (``queue`` or ``jobset``).
        Example: ``Path("a-queue.yaml").write_text(await mq.export_queue("a"))``"""
        return self.service.export_queue(queue, fmt)

    async def export_hosts(self) -> str:
        """The inventory as a cloudmesh ``-cluster.yaml`` file's text.
        Example: ``text = await mq.export_hosts()``"""
        return self.service.export_hosts()


#: the job options of :meth:`AsyncMeshq.add`, as the service names them
JOB_OPTIONS = (
    "host",
    "user",
    "gpu",
    "gpus",
    "pyenv",
    "directory",
    "shell",
    "input",
    "output",
    "log",
    "timeout",
    "retries",
    "after",
)


def _job_fields(given: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """The job options among a method's arguments (``keys`` of ``given``)
    that were given, in the form the service's checks take."""
    out: dict[str, Any] = {}
    for key in keys:
        value = given.get(key)
        if value is None:
            continue
        if key == "timeout":
            value = _seconds(value)
        elif key in ("gpu", "after"):
            value = _joined(value)
        out[key] = value
    return out


def _not_a_sweep_value(key: str, values: object, options: Iterable[str]) -> ArgumentError:
    """The error for a sweep parameter given one value, not a list: most
    often a misspelt option."""
    guess = closest(key, options)
    kind = type(values).__name__
    advice = f"did you mean the option {guess!r}?" if guess else "give a list, such as [1, 2]"
    return ArgumentError(
        f"sweep() parameter {shown(key)} takes a list of values, not a {kind}: {advice}"
    )


def _gpu_ids(value: str | int | Sequence[int] | None) -> str | None:
    """A host's GPUs as the inventory takes them: ids, comma separated."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return ",".join(str(i) for i in range(value))
    return ",".join(str(i) for i in value)
