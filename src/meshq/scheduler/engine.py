"""One run of a queue: claim jobs in queue order, place them on hosts,
launch them through each host's agent, and record what the hosts report.

Completions arrive as events from the agents the moment the wrappers write
them; nothing sleeps and re-reads every job. A periodic check only asks
about jobs that have been running a while, to catch processes that vanished
without a word (killed from outside, out of memory).

Hosts fail in two ways, handled apart. A host that cannot be reached is
``down``: it gets no jobs (a job pinned to it fails to start, with the
reason) and is probed again every ``reprobe_every`` seconds. A host whose
connection drops mid-run is given ``host_lost_after`` seconds to come back
(a short network drop costs nothing: its jobs run on, and are checked on
return); after that its running jobs are ``crash`` and it is ``down``.

:class:`Runner` is one class built from mixins, a module each: looking
after hosts (:mod:`.hostcare`), choosing and launching jobs
(:mod:`.launching`) and recording what the hosts report
(:mod:`.recording`). This module holds the run itself: its state, its
loop, and the events it waits for.
"""

from __future__ import annotations

import asyncio
import random
import time

from meshq.hosts.backend import HostBackend, JobEvent, Queued
from meshq.model import Job, Queue, Status
from meshq.scheduler.freeslots import FreeSlots
from meshq.scheduler.hostcare import CONNECT_AT_ONCE, HostCare
from meshq.scheduler.launching import Launching
from meshq.scheduler.placement import HostState, held_gpus
from meshq.scheduler.policies import Policy, sequential
from meshq.scheduler.recording import Recording
from meshq.scheduler.run import Reporter, RunHost, RunResult, SilentReporter
from meshq.scheduler.runnerpart import InFlight, Mode
from meshq.store.runs import LEASE
from meshq.store.store import Store

#: how long a host whose connection dropped may take to come back before
#: its running jobs are declared crashed (s)
HOST_LOST_AFTER = 20.0
#: how often a down host is probed again (s)
REPROBE_EVERY = 30.0
#: how long to wait for more events once one arrived (s): fewer, larger
#: transactions and launch rounds, for at most this much added latency
COALESCE = 0.002
#: how often hosts are looked after: reconnects, probes, give-ups (s)
TICK = 1.0
#: how long the first placement waits for every host to join (s): placement
#: policies see all the hosts that answer at once, while a host whose login
#: hangs holds the others up no longer than this
JOIN_GRACE = 5.0


class Runner(Launching, Recording, HostCare):
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
        host_lost_after: float = HOST_LOST_AFTER,
        reprobe_every: float = REPROBE_EVERY,
        rng: random.Random | None = None,
        only: frozenset[int] | None = None,
    ) -> None:
        self.store = store
        #: run only these jobs (``--name``); None: every job of the queue
        self.only = only
        self.queue = queue
        self.hosts = {h.name: h for h in hosts}
        self.mode = mode
        self.cap = max_parallel if max_parallel is not None else sum(h.slots for h in hosts)
        self.policy = policy
        self.reporter: Reporter = reporter or SilentReporter()
        self.check_interval = check_interval
        self.host_lost_after = host_lost_after
        self.reprobe_every = reprobe_every
        self.rng = rng or random.Random()
        self.result = RunResult()
        # a host is usable once its backend has started (see HostCare._connect)
        self._state = {
            h.name: HostState(h.name, h.slots, h.gpus, usable=False, cluster=h.cluster)
            for h in hosts
        }
        #: the hosts with a free slot, as the policy ranks them (fifo_multi)
        self._free = FreeSlots(list(self._state.values()), policy, self.rng)
        #: hosts whose first connection is still being made
        self._joining: set[str] = set()
        #: hosts that answered again and whose jobs are being settled
        self._settling: set[str] = set()
        self._connecting = asyncio.Semaphore(CONNECT_AT_ONCE)
        #: jobs this run claimed: each must end final before the run does
        self._took: set[int] = set()
        self._backends: dict[str, HostBackend] = {}
        self._stale: dict[str, HostBackend] = {}
        self._crash_notes: dict[str, list[tuple[Job, str]]] = {}
        #: job directories known to exist, per host
        self._made: dict[str, set[str]] = {}
        #: hosts that cannot be reached: their error, and when to probe again
        self._down: dict[str, tuple[str, float]] = {}
        #: hosts whose connection dropped, since when
        self._lost: dict[str, float] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._inflight: dict[int, InFlight] = {}
        #: runs found dead (they stay so): their jobs hold no slot until adopted
        self._dead: set[int] = set()
        #: per job, the hosts where it failed in this run (retries go elsewhere)
        self._avoid: dict[int, set[str]] = {}
        #: something failed: waiting jobs that depend on it may have to be skipped
        self._skip_check = True
        self._events: asyncio.Queue[tuple[str, JobEvent] | None] = asyncio.Queue()
        self._stopping = asyncio.Event()
        #: stop launching, but watch the running jobs to their end (Ctrl-C)
        self._draining = False
        self._done = 0
        #: the jobs this run counted as crashed (a crash may turn out not to be one)
        self._counted: dict[int, Status] = {}
        self._next_total = 0.0
        #: when other runs' use of our hosts was last read (monotonic, and
        #: wall for the runs table); whether it must be read at the next fill
        self._others_read = -1.0
        self._others_wall = 0.0
        self._others_stale = True
        self._renew_at = time.monotonic() + LEASE / 3
        self.run_id = 0

    # -- public ---------------------------------------------------------------

    def stop(self) -> None:
        """Launch nothing more and return soon; running jobs go on, not
        watched (the next run of the queue, or ``refresh``, records them)."""
        self._stopping.set()
        self._events.put_nowait(None)

    def drain(self) -> None:
        """Launch nothing more, but watch the running jobs to their end and
        record it; return then (the first Ctrl-C). A failed attempt is put
        back in the queue for a later run, as ``--retries`` says, not run."""
        if not self._draining:
            self._draining = True
            self.reporter.phase("stopping")
        self._events.put_nowait(None)

    @property
    def _halted(self) -> bool:
        """Told to launch nothing more (:meth:`drain` or :meth:`stop`)."""
        return self._draining or self._stopping.is_set()

    async def run(self) -> RunResult:
        """Run until the queue has nothing left for this run, or :meth:`stop`."""
        self.run_id = self.store.start_run(self.queue)
        self._note_skipped()
        self._adopt()
        self._recheck_crashed()
        self.reporter.begin(self._total())
        try:
            # hosts join as each becomes ready: a slow or hung login on one
            # holds up no other (adopted jobs are checked as their host joins)
            self._connect_all()
            joins = list(self._tasks.values())
            if joins:
                await asyncio.wait(joins, timeout=JOIN_GRACE)
            # index the hosts in inventory order, not in the order they
            # happened to join: a seeded policy then places the same way
            self._free.rebuild()
            last_check = last_tick = time.monotonic()
            while True:
                launched = False if self._halted else await self._fill()
                if self._stopping.is_set():
                    break
                if self._draining:
                    if not self._inflight and not self._settling:
                        break
                elif (
                    not self._inflight
                    and not launched
                    and not self._worth_waiting()
                    and not self.result.paused  # a paused queue's run waits for resume
                ):
                    if self._give_up_taken():
                        continue  # their fail_start events are on their way
                    break
                timeout = max(
                    min(
                        TICK - (time.monotonic() - last_tick),
                        self.check_interval - (time.monotonic() - last_check),
                    ),
                    0.01,
                )
                batch = await self._next_batch(timeout)
                if batch:
                    self._apply(batch)
                now = time.monotonic()
                if now - last_tick >= TICK:
                    self._look_after_hosts(now)
                    self._free.rebuild()  # a safety net: every change is touched
                    last_tick = now
                if now >= self._renew_at:
                    self.store.renew_run(self.run_id)
                    self._renew_at = now + LEASE / 3
                if now - last_check >= self.check_interval:
                    await self._check()
                    last_check = time.monotonic()
            # what the last check heard besides status changes (a cluster's
            # final word on a job) is recorded before the run ends
            self._apply([item for item in self._pending_events() if item is not None])
            self._note_stranded()
        finally:
            self.result.interrupted = self._halted
            self.result.still_running = len(self._inflight)
            if self._halted:
                self.result.left_waiting = self._waiting_count()
            await self._close()
            # what hosts said while closing (a cluster's final state of jobs
            # whose logs told their end first) is recorded too
            last = [item[1] for item in self._pending_events() if item is not None]
            self._note_queued([e for e in last if isinstance(e, Queued)])
            self.store.end_run(self.run_id)
            self.reporter.end()
        return self.result

    # -- the run's jobs -------------------------------------------------------

    def _waiting_statuses(self) -> frozenset[Status]:
        if self.mode == "fifo":
            return frozenset({Status.READY})
        return frozenset({Status.READY, Status.UNDEFINED})

    def _note_skipped(self) -> None:
        if self.mode != "fifo":
            return
        loose = self.store.jobs(self.queue, statuses=[Status.UNDEFINED])
        if self.only is not None:
            loose = [j for j in loose if j.id in self.only]
        for job in loose:
            self.result.skipped[job.name] = "no host"
        if loose:
            self.reporter.message(
                f"skipping {len(loose)} job(s) with no host: give them --host, or run them "
                "with 'fifo_multi'"
            )

    def _adopt(self) -> None:
        """Take over jobs of this queue left running on our hosts by a run that
        is gone (killed, or stopped with Ctrl-C): they hold their slots and
        GPUs, and are watched like our own. A live run's jobs stay its own."""
        taken: list[int] = []
        for job in self.store.active_jobs(self.queue):
            if job.id in self._inflight or job.run_id == self.run_id or job.host not in self.hosts:
                continue
            if job.run_id not in self._dead:
                if self.store.run_alive(job.run_id):
                    continue
                if job.run_id is not None:
                    self._dead.add(job.run_id)
            self._inflight[job.id] = InFlight(job.evolve(run_id=self.run_id), 0.0)
            self._state[job.host].take(held_gpus(job, job.gpu))
            self._touch(job.host)
            taken.append(job.id)
        if taken:
            self.store.adopt(taken, self.run_id)

    def _recheck_crashed(self) -> None:
        """Jobs of this queue marked ``crash`` on our hosts may have been
        declared so while their host was silent: settle them as each host
        joins (see :meth:`HostCare._after_silence`)."""
        for job in self.store.jobs(self.queue, statuses=[Status.CRASH]):
            if job.host in self.hosts:
                self._crash_notes.setdefault(job.host, []).append(
                    (job, job.error or "the job's process is gone")
                )

    def _total(self) -> int:
        return self._done + len(self._inflight) + self._waiting_count()

    def _waiting_count(self) -> int:
        """How many jobs of this run (the queue's, or the selected ones) wait."""
        if self.only is not None:
            return self.store.count_in(self.queue, self._waiting_statuses(), self.only)
        counts = self.store.counts(self.queue)
        return sum(counts.get(s, 0) for s in self._waiting_statuses())

    # -- events from the hosts ------------------------------------------------

    def _on_event(self, host: str, event: JobEvent) -> None:
        self._events.put_nowait((host, event))

    def _wake(self) -> None:
        self._events.put_nowait(None)

    def _pending_events(self) -> list[tuple[str, JobEvent] | None]:
        items = []
        while not self._events.empty():
            items.append(self._events.get_nowait())
        return items

    async def _next_batch(self, timeout: float) -> list[tuple[str, JobEvent]]:
        batch: list[tuple[str, JobEvent]] = []
        try:
            first = await asyncio.wait_for(self._events.get(), timeout)
        except TimeoutError:
            return batch
        if first is not None:
            batch.append(first)
        # let the events that are arriving together be handled together: one
        # transaction and one round of launches for all of them
        await asyncio.sleep(COALESCE)
        batch += [item for item in self._pending_events() if item is not None]
        return batch

    async def _close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        backends = [*self._backends.values(), *self._stale.values()]
        self._backends, self._stale = {}, {}
        await asyncio.gather(*(b.close() for b in backends), return_exceptions=True)
