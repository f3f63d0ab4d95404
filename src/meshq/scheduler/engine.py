"""One run of a queue: claim jobs in queue order, place them on hosts,
launch them through each host's agent, and record what the hosts report.

Completions arrive as events from the agents the moment the wrappers write
them; nothing sleeps and re-reads every job. A periodic check only asks
about jobs that have been running a while, to catch processes that vanished
without a word (killed from outside, out of memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from meshq.errors import HostError
from meshq.hosts.agent import AgentLine, HostAgent
from meshq.hosts.base import Transport
from meshq.model import ACTIVE, FINISHED, WAITING, Job, Queue, Status
from meshq.scheduler.policies import HostLoad, Policy, sequential
from meshq.scheduler.reconcile import verdict
from meshq.store.store import Change, Store

Mode = Literal["fifo", "fifo_multi"]
#: a launch the host has not confirmed after this long is taken as lost (s)
LAUNCH_LOST_AFTER = 60.0
#: how many upcoming jobs get their directories made in one go
MAKE_AHEAD = 128


class Reporter(Protocol):
    """Where a run tells a person (or a log) how it goes."""

    def begin(self, total: int) -> None: ...
    def set_total(self, total: int) -> None: ...
    def started(self, job: Job) -> None: ...
    def finished(
        self, job: Job, status: Status, exit_code: int | None, error: str | None
    ) -> None: ...
    def message(self, text: str) -> None: ...
    def end(self) -> None: ...


class SilentReporter:
    """A reporter that tells nobody (the Python API's default)."""

    def begin(self, total: int) -> None: ...
    def set_total(self, total: int) -> None: ...
    def started(self, job: Job) -> None: ...
    def finished(
        self, job: Job, status: Status, exit_code: int | None, error: str | None
    ) -> None: ...
    def message(self, text: str) -> None: ...
    def end(self) -> None: ...


@dataclass(slots=True)
class RunHost:
    """A host a run may use, and how many of its jobs may run at once."""

    name: str
    transport: Transport
    slots: int


@dataclass(slots=True)
class RunResult:
    """What a run did."""

    #: how many jobs ended in each final state during this run
    finished: Counter[Status] = field(default_factory=Counter)
    #: jobs this run left alone, and why
    skipped: dict[str, str] = field(default_factory=dict)
    #: stopped early (Ctrl-C / :meth:`Runner.stop`); the jobs in flight run on
    interrupted: bool = False
    still_running: int = 0

    @property
    def ok(self) -> bool:
        """Every job this run finished ended with exit code 0."""
        bad = sum(n for s, n in self.finished.items() if s is not Status.END)
        return bad == 0 and not self.interrupted and not self.skipped


@dataclass(slots=True)
class _InFlight:
    job: Job
    launched: float


class Runner:
    """Runs one queue until no job is left that it can run."""

    def __init__(
        self,
        store: Store,
        queue: Queue,
        hosts: list[RunHost],
        *,
        mode: Mode,
        max_parallel: int | None = None,
        policy: Policy = sequential,
        reporter: Reporter | None = None,
        check_interval: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.queue = queue
        self.hosts = {h.name: h for h in hosts}
        self.mode = mode
        self.cap = max_parallel if max_parallel is not None else sum(h.slots for h in hosts)
        self.policy = policy
        self.reporter: Reporter = reporter or SilentReporter()
        self.check_interval = check_interval
        self.rng = rng or random.Random()
        self.result = RunResult()
        self._agents: dict[str, HostAgent] = {}
        #: job directories known to exist, per host
        self._made: dict[str, set[str]] = {}
        self._inflight: dict[int, _InFlight] = {}
        self._events: asyncio.Queue[tuple[str, AgentLine] | None] = asyncio.Queue()
        self._stopping = asyncio.Event()
        self._done = 0
        self._next_total = 0.0

    # -- public ---------------------------------------------------------------

    def stop(self) -> None:
        """Launch nothing more and return soon; running jobs go on."""
        self._stopping.set()
        self._events.put_nowait(None)

    async def run(self) -> RunResult:
        """Run until the queue has nothing left for this run, or :meth:`stop`."""
        self._note_skipped()
        self._adopt()
        self.reporter.begin(self._total())
        try:
            if self._inflight:
                await self._check(force=True)
            last_check = time.monotonic()
            while True:
                launched = False if self._stopping.is_set() else await self._fill()
                if self._stopping.is_set():
                    break
                if not self._inflight and not launched:
                    break
                timeout = max(self.check_interval - (time.monotonic() - last_check), 0.01)
                batch = await self._next_batch(timeout)
                if batch:
                    self._apply(batch)
                if time.monotonic() - last_check >= self.check_interval:
                    await self._check()
                    last_check = time.monotonic()
        finally:
            self.result.interrupted = self._stopping.is_set()
            self.result.still_running = len(self._inflight)
            await self._close_agents()
            self.reporter.end()
        return self.result

    # -- choosing and launching -----------------------------------------------

    def _waiting_statuses(self) -> frozenset[Status]:
        if self.mode == "fifo":
            return frozenset({Status.READY})
        return frozenset({Status.READY, Status.UNDEFINED})

    def _note_skipped(self) -> None:
        if self.mode != "fifo":
            return
        loose = self.store.jobs(self.queue, statuses=[Status.UNDEFINED])
        for job in loose:
            self.result.skipped[job.name] = "no host"
        if loose:
            self.reporter.message(
                f"skipping {len(loose)} job(s) with no host: give them --host, or run them "
                "with 'fifo_multi'"
            )

    def _adopt(self) -> None:
        """Count jobs of this queue left running by an earlier run against
        their hosts' slots, and watch them like our own."""
        for job in self.store.active_jobs(self.queue):
            if job.host in self.hosts:
                self._inflight[job.id] = _InFlight(job, 0.0)

    def _total(self) -> int:
        counts = self.store.counts(self.queue)
        waiting = sum(counts.get(s, 0) for s in self._waiting_statuses())
        return self._done + len(self._inflight) + waiting

    def _loads(self) -> dict[str, int]:
        used: Counter[str] = Counter()
        for f in self._inflight.values():
            if f.job.host is not None:
                used[f.job.host] += 1
        return {name: used[name] for name in self.hosts}

    async def _fill(self) -> bool:
        free = self.cap - len(self._inflight)
        if free <= 0:
            return False
        used = self._loads()
        if all(used[h.name] >= h.slots for h in self.hosts.values()):
            return False
        candidates = self.store.peek(
            self.queue,
            self._waiting_statuses(),
            free * 4 + 16,
            pinned_only=self.mode == "fifo",
        )
        placements: list[tuple[Job, str, str | None]] = []
        for job in candidates:
            if len(placements) >= free:
                break
            host = self._place(job, used)
            if host is None:
                if self.mode == "fifo_multi":
                    break
                continue
            used[host] += 1
            placements.append((job, host, job.gpu))
        if not placements:
            return False
        claimed = self.store.claim(placements)
        await self._make_dirs(claimed)
        now = time.monotonic()
        for job in claimed:
            await self._launch(job, now)
        for agent in list(self._agents.values()):
            with contextlib.suppress(HostError):
                await agent.drain()
        if time.monotonic() >= self._next_total:
            self.reporter.set_total(self._total())
            self._next_total = time.monotonic() + 1.0
        return bool(claimed)

    async def _make_dirs(self, claimed: list[Job]) -> None:
        """Make the job directories of ``claimed`` and of the jobs likely to
        come next, one ``mkdir`` per host for many jobs, so the wrapper need
        not start one per job. Best effort: the wrapper makes what is missing."""
        by_host: dict[str, list[Job]] = {}
        for job in claimed:
            if job.host is not None and job.job_dir not in self._made.setdefault(job.host, set()):
                by_host.setdefault(job.host, []).append(job)
        for host, jobs in by_host.items():
            ahead = self.store.peek(
                self.queue, self._waiting_statuses(), MAKE_AHEAD, pinned_only=self.mode == "fifo"
            )
            if self.mode == "fifo":
                ahead = [j for j in ahead if j.host == host]
            made = self._made[host]
            dirs = list(dict.fromkeys(j.job_dir for j in [*jobs, *ahead] if j.job_dir not in made))
            try:
                agent = await self._agent(host)
                await agent.make_dirs(dirs)
            except HostError:
                continue
            made.update(dirs)

    def _place(self, job: Job, used: dict[str, int]) -> str | None:
        if self.mode == "fifo":
            host = self.hosts.get(job.host or "")
            return host.name if host and used[host.name] < host.slots else None
        loads = [HostLoad(h.name, h.slots, used[h.name]) for h in self.hosts.values()]
        chosen = self.policy(loads, self.rng)
        return chosen.name if chosen else None

    async def _agent(self, host: str) -> HostAgent:
        agent = self._agents.get(host)
        if agent is not None and agent.alive:
            return agent
        agent = HostAgent(self.hosts[host].transport, self._on_event, self._on_lost)
        await agent.start()
        self._agents[host] = agent
        return agent

    async def _launch(self, job: Job, now: float) -> None:
        assert job.host is not None
        self._inflight[job.id] = _InFlight(job, now)
        try:
            agent = await self._agent(job.host)
            agent.launch(job)
        except HostError as err:
            self._events.put_nowait(
                (job.host, AgentLine("F", (str(job.id), str(job.attempts), err.detail)))
            )
        else:
            self.reporter.started(job)

    # -- hearing back ---------------------------------------------------------

    def _on_event(self, host: str, line: AgentLine) -> None:
        self._events.put_nowait((host, line))

    def _on_lost(self, host: str, reason: str) -> None:
        self._agents.pop(host, None)
        self.reporter.message(f"{host}: {reason}; jobs there run on and are checked")

    async def _next_batch(self, timeout: float) -> list[tuple[str, AgentLine]]:
        batch: list[tuple[str, AgentLine]] = []
        try:
            first = await asyncio.wait_for(self._events.get(), timeout)
        except TimeoutError:
            return batch
        if first is not None:
            batch.append(first)
        while not self._events.empty():
            item = self._events.get_nowait()
            if item is not None:
                batch.append(item)
        return batch

    def _apply(self, batch: list[tuple[str, AgentLine]]) -> None:
        changes: list[Change] = []
        for _host, line in batch:
            change = self._change_for(line)
            if change is not None:
                changes.append(change)
        self._commit(changes)

    def _change_for(self, line: AgentLine) -> Change | None:
        try:
            key, attempt = int(line.fields[0]), int(line.fields[1])
        except (IndexError, ValueError):
            return None
        flight = self._inflight.get(key)
        if flight is None or flight.job.attempts != attempt:
            return None  # a late word about an attempt that is no longer ours
        f = line.fields
        if line.kind == "S" and len(f) >= 5:
            return Change(
                key,
                Status.START,
                {"pid": int(f[2]), "pstart": f[3], "started": float(f[4])},
                attempt=attempt,
            )
        if line.kind == "E" and len(f) >= 5:
            return Change(
                key, Status(f[2]), {"exit_code": int(f[3]), "ended": float(f[4])}, attempt=attempt
            )
        if line.kind == "F":
            message = f[2] if len(f) > 2 else "the job could not be started"
            return Change(
                key,
                Status.FAIL_START,
                {"error": message, "ended": time.time()},
                detail=message,
                attempt=attempt,
            )
        return None

    def _commit(self, changes: list[Change]) -> None:
        if not changes:
            return
        applied = self.store.apply(changes)
        for change, ok in zip(changes, applied, strict=True):
            flight = self._inflight.get(change.job_id)
            if flight is None:
                continue
            if change.new in ACTIVE:
                if ok:
                    flight.job = flight.job.evolve(status=change.new, **change.fields)
                continue
            if change.new in WAITING:
                # back in the queue: its slot is free, it is not done
                del self._inflight[change.job_id]
                continue
            if change.new in FINISHED:
                del self._inflight[change.job_id]
                self._done += 1
                self.result.finished[change.new] += 1
                self.reporter.finished(
                    flight.job,
                    change.new,
                    change.fields.get("exit_code"),
                    change.fields.get("error"),
                )

    # -- checking on jobs -----------------------------------------------------

    async def _check(self, force: bool = False) -> None:
        """Ask the hosts about jobs that have been running a while."""
        now = time.monotonic()
        by_host: dict[str, list[Job]] = {}
        for flight in self._inflight.values():
            old_enough = force or now - flight.launched >= self.check_interval
            if old_enough and flight.job.host is not None:
                by_host.setdefault(flight.job.host, []).append(flight.job)
        changes: list[Change] = []
        for host, jobs in by_host.items():
            try:
                agent = await self._agent(host)
                answers = await agent.check(jobs)
            except HostError as err:
                self.reporter.message(f"cannot check jobs on {host}: {err.detail}")
                continue
            for job in jobs:
                change = verdict(job, answers[job.id])
                if change is None and self._launch_lost(job, now):
                    change = Change(
                        job.id,
                        Status.READY,
                        {},
                        "launch lost: it never started; back to ready",
                        job.attempts,
                    )
                if change is not None:
                    changes.append(change)
        self._commit(changes)

    def _launch_lost(self, job: Job, now: float) -> bool:
        """A job in ``run`` whose host has no trace of it: left by a run that
        stopped between claim and launch, or a launch that never arrived."""
        if job.status is not Status.RUN:
            return False
        launched = self._inflight[job.id].launched
        return launched == 0.0 or now - launched > LAUNCH_LOST_AFTER

    async def _close_agents(self) -> None:
        agents, self._agents = list(self._agents.values()), {}
        await asyncio.gather(*(a.close() for a in agents), return_exceptions=True)


def stop_on_signals(runner: Runner, say: Callable[[str], None]) -> None:
    """Make Ctrl-C (and SIGTERM) stop launching, leaving running jobs
    running. The handler removes itself, so a second Ctrl-C quits at once."""
    loop = asyncio.get_running_loop()

    def handler(signum: int) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        say("stopping: no new jobs will start; running jobs go on (Ctrl-C again to quit at once)")
        runner.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, handler, sig)
