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
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from meshq import faults, paths
from meshq.errors import HostError
from meshq.hosts.backend import Ended, FailedToStart, HostBackend, JobEvent, Queued, Started
from meshq.model import (
    ACTIVE,
    FAILED,
    FINISHED,
    RETRIABLE,
    WAITING,
    Job,
    Queue,
    Status,
)
from meshq.scheduler.fencing import fence_unseen
from meshq.scheduler.freeslots import FreeSlots
from meshq.scheduler.hostcare import CONNECT_AT_ONCE, HostCare
from meshq.scheduler.placement import Fit, HostState, fit, held_gpus, place, why_never
from meshq.scheduler.policies import Policy, sequential
from meshq.scheduler.reconcile import verdict
from meshq.scheduler.run import Reporter, RunHost, RunResult, SilentReporter
from meshq.store.runs import LEASE
from meshq.store.store import Change, Store

Mode = Literal["fifo", "fifo_multi"]
#: a launch the host has not confirmed after this long is taken as lost (s)
LAUNCH_LOST_AFTER = 60.0
#: how many upcoming jobs get their directories made in one go
MAKE_AHEAD = 128
#: fifo_multi makes job directories ahead only on this many hosts or fewer:
#: an upcoming job may go to any host, so each would make every one of
#: them (on 1,000 hosts, 128,000 folders for 128 jobs); on more, the
#: wrapper makes its job's own directory
MAKE_AHEAD_HOSTS = 8
#: the progress total is counted again at most once a second, and less
#: often on a queue whose count costs more (1,000,000 jobs: 70 ms): the
#: count may take at most this share of the run's time
TOTAL_SHARE = 0.02
#: how long another run's slots on our hosts may go unread while other runs
#: live (s): the claim counts them again in its transaction anyway
OTHERS_EVERY = 0.25
#: how long a host whose connection dropped may take to come back before
#: its running jobs are declared crashed (s)
HOST_LOST_AFTER = 20.0
#: how often a down host is probed again (s)
REPROBE_EVERY = 30.0
#: how many times a fill peeks again when another run claimed every job
#: it peeked: each loss is another run's claim of waiting jobs, so the
#: retries end; 4 managers started together lost 3 rounds in a row
CLAIM_TRIES = 16
#: how long to wait for more events once one arrived (s): fewer, larger
#: transactions and launch rounds, for at most this much added latency
COALESCE = 0.002
#: how often hosts are looked after: reconnects, probes, give-ups (s)
TICK = 1.0
#: how long the first placement waits for every host to join (s): placement
#: policies see all the hosts that answer at once, while a host whose login
#: hangs holds the others up no longer than this
JOIN_GRACE = 5.0


@dataclass(slots=True)
class _InFlight:
    job: Job
    launched: float


class Runner(HostCare):
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
        self._inflight: dict[int, _InFlight] = {}
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
                    if not self._inflight:
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
            self.store.end_run(self.run_id)
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
            self._inflight[job.id] = _InFlight(job.evolve(run_id=self.run_id), 0.0)
            self._state[job.host].take(held_gpus(job, job.gpu))
            self._touch(job.host)
            taken.append(job.id)
        if taken:
            self.store.adopt(taken, self.run_id)

    def _note_stranded(self) -> None:
        """Jobs left waiting at the end of a run that was not stopped and
        whose queue is not paused: no host of the run could take them."""
        if self._halted or self.result.paused:
            return
        left = self._waiting_count()
        if not left:
            return
        if self.store.other_live_runs(self.queue, self.run_id):
            self.result.left_to_others = left
            return
        self.result.stranded = left
        self.result.stranded_why = self._why_waiting()

    def _why_waiting(self) -> str:
        """Why jobs wait that this run cannot start, in words."""
        down = [n for n in self.hosts if n in self._down]
        if down and len(down) == len(self.hosts):
            details = "; ".join(f"{n}: {self._down[n][0]}" for n in down)
            return f"every host of this run is down ({details})"
        if down:
            return "the hosts they need are down (" + ", ".join(down) + ")"
        return "no host of this run could take them"

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

    async def _fill(self, tries: int = CLAIM_TRIES) -> bool:
        """Claim and launch what the free slots can take; whether any job
        was launched (or refused at once)."""
        self._skip_doomed()
        if self._paused():
            return False
        free = self.cap - len(self._inflight)
        if free <= 0:
            return False
        if (
            self.mode == "fifo_multi"
            and not self._down  # jobs pinned to a down host are to be failed now
            and not self._any_free()
        ):
            return False
        self._count_others()
        candidates = self.store.peek(
            self.queue,
            self._waiting_statuses(),
            free * 2 + 8,
            pinned_only=self.mode == "fifo",
            only=self.only,
        )
        launch: list[tuple[Job, str, str | None]] = []
        refuse: list[tuple[Job, str | None, str]] = []
        for job in candidates:
            if len(launch) >= free:
                break
            chosen, gpu, reason = self._choose(job)
            if reason is not None:
                refuse.append((job, chosen, reason))
            elif chosen is not None:
                self._state[chosen].take(held_gpus(job, gpu))
                self._touch(chosen)
                launch.append((job, chosen, gpu))
        if refuse:
            self._refuse(refuse)
        if not launch:
            return bool(refuse)
        # the store counts the hosts' slots again inside the claim: another run
        # may have taken one since we counted
        claimed = self.store.claim(
            launch,
            placed=self.mode == "fifo_multi",
            run_id=self.run_id,
            limits={name: state.slots for name, state in self._state.items()},
            scope=self.queue if self.mode == "fifo" else None,
            dead=self._dead,
            where={
                name: ident
                for name, backend in self._backends.items()
                if (ident := backend.identity) is not None
            },
        )
        faults.point("after-claim")
        won = {j.id for j in claimed}
        self._took.update(won)
        for job, host, gpu in launch:
            if job.id not in won:  # another run took it, or its slot
                self._state[host].give_back(held_gpus(job, gpu))
                self._touch(host)
                self._others_stale = True
        if not claimed and tries > 1 and self.store.other_live_runs(self.queue, self.run_id):
            # another run of the queue claimed every job we peeked (two runs
            # started together peek the same first jobs): peek again rather
            # than end with jobs still waiting. Slots the others took end it
            # instead: the fresh count of others leaves none free. Alone, a
            # run's claim comes up empty only on slots, and it waits as before.
            return await self._fill(tries - 1)
        await self._make_dirs(claimed)
        now = time.monotonic()
        for job in claimed:
            self._launch(job, now)
        # only the hosts launched to: a fill that launched 3 jobs on 1,000
        # hosts waits for 3 at most, not 1,000
        for name in {j.host for j in claimed if j.host is not None}:
            backend = self._backends.get(name)
            if backend is not None:
                with contextlib.suppress(HostError):
                    await backend.drain()
        faults.point("after-launch")
        if time.monotonic() >= self._next_total:
            t0 = time.monotonic()
            self.reporter.set_total(self._total())
            took = time.monotonic() - t0
            self._next_total = time.monotonic() + max(1.0, took / TOTAL_SHARE)
        return bool(claimed)

    def _paused(self) -> bool:
        """Whether the queue is paused now (``meshq queue pause``)."""
        self.queue = self.store.queue(self.queue.name)
        if self.queue.paused and not self.result.paused:
            self.reporter.message(
                f"queue {self.queue.name} is paused: no new jobs start; running jobs go on, "
                f"and this run waits for 'meshq queue resume {self.queue.name}'"
            )
            self.reporter.phase("paused")
        if not self.queue.paused and self.result.paused:
            self.reporter.message(f"queue {self.queue.name} resumed")
            self.reporter.phase("")
        self.result.paused = self.queue.paused
        return self.queue.paused

    def _count_others(self) -> None:
        """What other live runs hold on our hosts: of this queue for fifo
        (its --max_parallel is the queue's), of any queue for fifo_multi (a
        host's slots are the host's)."""
        now = time.monotonic()
        if not self._others_stale and now - self._others_read < OTHERS_EVERY:
            return
        # the slots other runs hold move only while another run lives, or
        # just ended (its jobs are ours to adopt): otherwise the scan of
        # every running job is skipped
        wall = time.time()
        known = len(self._dead)
        changed, found = self.store.other_runs_since(self.run_id, self._others_wall, self._dead)
        self._dead |= found
        self._others_read = now
        if not changed and not self._others_stale:
            return
        # a margin for the clocks of runs on other machines
        self._others_wall, self._others_stale = wall - LEASE, False
        queue = self.queue if self.mode == "fifo" else None
        slots, gpus, self._dead = self.store.others_by_host(self.run_id, queue, self._dead)
        if len(self._dead) > known:
            # a run just went away: what it left running is ours to count and watch
            self._adopt()
        for name, state in self._state.items():
            others, held = slots.get(name, 0), gpus.get(name, set())
            if others != state.others or held != state.gpus_others:
                state.others, state.gpus_others = others, held
                self._touch(name)

    def _touch(self, host: str | None) -> None:
        if host is not None and host in self._state:
            self._free.touch(self._state[host])

    def _any_free(self) -> bool:
        """Whether a usable host of the run has a free slot."""
        if self._free.indexed:
            return self._free.best() is not None
        return any(s.usable and s.free > 0 for s in self._state.values())

    def _choose(self, job: Job) -> tuple[str | None, str | None, str | None]:
        """``(host, gpu ids, None)`` to launch now, ``(host, None, reason)``
        to fail the job at once, ``(None, None, None)`` to leave it waiting."""
        if self.mode == "fifo":
            state = self._state.get(job.host or "")
            if state is None:
                return None, None, None
            if job.host in self._down:
                return job.host, None, f"host {job.host} is down: {self._down[job.host][0]}"
            verdict_, gpu = fit(job, state)
            if verdict_ is Fit.NEVER:
                return job.host, None, why_never(job, [state])
            if verdict_ is Fit.NOW and state.usable:
                return job.host, gpu, None
            return None, None, None
        # a job pinned (--host) to one of this run's hosts goes there; the
        # seed's fifo_multi ignores pins, which only surprises people
        pin = self._state.get(job.host or "") if not job.placed else None
        if (
            pin is None
            and not job.gpus
            and not job.gpu
            and job.id not in self._avoid
            and self._free.indexed
        ):
            # it needs only a slot: the policy's host, from the index (the same choice)
            best = self._free.best()
            return (best.name, None, None) if best is not None else (None, None, None)
        if pin is not None and pin.name in self._down:
            # as in fifo: a job pinned to a host that is down fails to start,
            # saying why, instead of waiting for a run that may never end
            return pin.name, None, f"host {pin.name} is down: {self._down[pin.name][0]}"
        candidates = [pin] if pin is not None else list(self._state.values())
        avoid = self._avoid.get(job.id, set())
        elsewhere = [h for h in candidates if h.name not in avoid]
        if avoid and elsewhere:
            verdict_, host, gpu = place(job, elsewhere, self.policy, self.rng)
            if verdict_ is Fit.NOW and host is not None:
                return host.name, gpu, None
        verdict_, host, gpu = place(job, candidates, self.policy, self.rng)
        if verdict_ is Fit.NEVER:
            return None, None, why_never(job, candidates)
        if verdict_ is Fit.NOW and host is not None:
            return host.name, gpu, None
        return None, None, None

    def _refuse(self, refuse: list[tuple[Job, str | None, str]]) -> None:
        """Jobs that cannot run on this run's hosts fail to start, saying why."""
        claimed = {
            j.id: j
            for j in self.store.claim([(j, h, None) for j, h, _ in refuse], run_id=self.run_id)
        }
        for job, _, reason in refuse:
            if job.id in claimed:
                self._took.add(job.id)
                mine = claimed[job.id]
                self._inflight[job.id] = _InFlight(mine, time.monotonic())
                self._events.put_nowait(
                    (mine.host or "", FailedToStart(job.id, mine.attempts, reason))
                )

    async def _make_dirs(self, claimed: list[Job]) -> None:
        """Make the job directories of ``claimed`` and of the jobs likely to
        come next, one ``mkdir`` per host for many jobs, so the wrapper need
        not start one per job; on every host at once. Best effort: the
        wrapper makes what is missing. Not done for ``fifo_multi`` over more
        than :data:`MAKE_AHEAD_HOSTS` hosts (see there)."""
        if self.mode == "fifo_multi" and len(self.hosts) > MAKE_AHEAD_HOSTS:
            return
        by_host: dict[str, list[str]] = {}
        for job in claimed:
            if job.host is None:
                continue
            made = self._made.setdefault(job.host, set())
            if job.name in made:
                made.discard(job.name)  # made; only names still to come are kept
            else:
                by_host.setdefault(job.host, []).append(job.name)
        shared: list[str] | None = None
        work = []
        for host, names in by_host.items():
            backend = self._backends.get(host)
            if backend is None:
                continue
            if self.mode == "fifo":
                ahead = self.store.peek_names(
                    self.queue, self._waiting_statuses(), MAKE_AHEAD, host, only=self.only
                )
            else:  # the same upcoming jobs for every host: read once
                if shared is None:
                    shared = self.store.peek_names(
                        self.queue, self._waiting_statuses(), MAKE_AHEAD, None, only=self.only
                    )
                ahead = shared
            made = self._made[host]
            todo = [n for n in dict.fromkeys(names + ahead) if n not in made]
            work.append(self._make_on(host, backend, todo, set(ahead)))
        await asyncio.gather(*work)

    async def _make_on(
        self, host: str, backend: HostBackend, todo: list[str], ahead: set[str]
    ) -> None:
        folder = paths.queue_folder(self.queue, local=backend.local)
        try:
            await backend.make_dirs([f"{folder}/{n}" for n in todo])
        except HostError:
            return
        self._made[host].update(n for n in todo if n in ahead)

    def _launch(self, job: Job, now: float) -> None:
        host = job.host
        assert host is not None
        if job.timeout is None and self.queue.default_timeout:
            job = job.evolve(timeout=self.queue.default_timeout)
        self._inflight[job.id] = _InFlight(job, now)
        backend = self._backends.get(host)
        try:
            if backend is None:
                raise HostError(host, "not connected")
            backend.launch(job)
        except HostError as err:
            self._events.put_nowait((host, FailedToStart(job.id, job.attempts, str(err))))
        else:
            self.reporter.started(job)

    # -- hearing back ---------------------------------------------------------

    def _on_event(self, host: str, event: JobEvent) -> None:
        self._events.put_nowait((host, event))

    def _wake(self) -> None:
        self._events.put_nowait(None)

    def _recount(self, job_id: int, status: Status) -> None:
        # a crash this run counted turns out to have ended otherwise
        counted = self._counted.get(job_id)
        if counted is not None and counted is not status:
            self.result.finished[counted] -= 1
            self.result.finished[status] += 1
            self.result.finished += Counter()  # drops states counted down to 0
            self._counted[job_id] = status

    def _watch(self, job: Job) -> None:
        # a crash this run counted turns out not to be one: count its real end
        counted = self._counted.pop(job.id, None)
        if counted is not None:
            self._done -= 1
            self.result.finished[counted] -= 1
            self.result.finished += Counter()  # drops states counted down to 0
        self._inflight[job.id] = _InFlight(job.evolve(run_id=self.run_id), time.monotonic())
        if job.host in self._state:
            self._state[job.host].take(held_gpus(job, job.gpu))
            self._touch(job.host)

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

    def _apply(self, batch: list[tuple[str, JobEvent]]) -> None:
        self._note_queued([e for _, e in batch if isinstance(e, Queued)])
        changes = [
            c
            for _, event in batch
            if not isinstance(event, Queued) and (c := self._change_for(event)) is not None
        ]
        self._commit(changes)

    def _note_queued(self, events: list[Queued]) -> None:
        """Record the ids and states a cluster gave our jobs (no status change)."""
        for event in events:
            flight = self._inflight.get(event.job_id)
            if flight is not None and flight.job.attempts == event.attempt:
                flight.job = flight.job.evolve(remote_id=event.remote_id, remote_state=event.state)
        # a job's last state (COMPLETED) may come after a check saw it end:
        # the store takes it as long as it is about the job's current attempt
        self.store.set_remote([(e.job_id, e.attempt, e.remote_id, e.state) for e in events])

    def _change_for(self, event: Started | Ended | FailedToStart) -> Change | None:
        flight = self._inflight.get(event.job_id)
        if flight is None or flight.job.attempts != event.attempt:
            return None  # a late word about an attempt that is no longer ours
        if isinstance(event, Started):
            fields: dict[str, Any] = {
                "pid": event.pid,
                "pstart": event.pstart,
                "started": event.time,
            }
            return Change(event.job_id, Status.START, fields, attempt=event.attempt)
        if isinstance(event, Ended):
            fields = {"exit_code": event.code, "signal": event.signal, "ended": event.time}
            status = event.status
            if event.note is not None:
                # the command ran, but what it wrote may be lost: never a quiet end
                fields["error"] = event.note
                status = Status.FAIL if status is Status.END else status
            return Change(event.job_id, status, fields, event.note, attempt=event.attempt)
        return Change(
            event.job_id,
            Status.FAIL_START,
            {"error": event.message, "ended": time.time()},
            detail=event.message,
            attempt=event.attempt,
        )

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
            if change.new not in WAITING and change.new not in FINISHED:
                continue
            del self._inflight[change.job_id]
            if flight.job.host in self._state:
                self._state[flight.job.host].give_back(held_gpus(flight.job, flight.job.gpu))
                self._touch(flight.job.host)
            if change.new in WAITING:
                continue  # back in the queue: its slot is free, it is not done
            if change.new in RETRIABLE and ok and self._retry(flight.job, change):
                continue
            self._finished(
                flight.job, change.new, change.fields.get("exit_code"), change.fields.get("error")
            )
            if change.new in FAILED:
                self._skip_check = True

    def _finished(self, job: Job, status: Status, exit_code: int | None, error: str | None) -> None:
        self._done += 1
        self.result.finished[status] += 1
        # kept small on a million-job run: only a crash may turn out not to
        # be one (see _watch), and only a job not final may be given up
        if status is Status.CRASH:
            self._counted[job.id] = status
        self._took.discard(job.id)
        self.reporter.finished(job, status, exit_code, error)

    def _retry(self, job: Job, failed: Change) -> bool:
        """Put a failed attempt back in the queue if it has retries left
        (``--retries``, else the queue's default), preferring another host
        next time, as GNU Parallel does."""
        allowed = job.retries if job.retries is not None else (self.queue.default_retries or 0)
        if job.attempts > allowed:
            return False
        fields: dict[str, Any] = {"gpu": None} if job.gpus else {}
        if job.placed:
            back = Status.UNDEFINED
            fields.update(host=None, placed=0, gpu=None if job.gpus else job.gpu)
        else:
            back = Status.READY
        why = failed.fields.get("error") or f"exit {failed.fields.get('exit_code')}"
        # the retries left, this one included: "1 left" on the last
        left = allowed - job.attempts + 1
        # the state's own name, as everywhere (docs/rules.md, States)
        detail = (
            f"attempt {job.attempts} ended {failed.new.value} on {job.host} ({why}); "
            f"it will be retried ({left} {'retry' if left == 1 else 'retries'} left)"
        )
        if self.store.apply([Change(job.id, back, fields, detail, job.attempts)]) != [True]:
            return False
        if job.host:
            self._avoid.setdefault(job.id, set()).add(job.host)
        self.result.retried += 1
        self.reporter.message(f"{job.name}: {detail}")
        return True

    def _skip_doomed(self) -> None:
        """Skip waiting jobs that depend on a job that ended badly for good;
        repeated, since a skip dooms the jobs that wait for it in turn."""
        while self._skip_check:
            self._skip_check = False
            doomed = [
                d for d in self.store.doomed(self.queue) if self.only is None or d[0] in self.only
            ]
            changes = [
                Change(
                    job_id,
                    Status.SKIP,
                    {"error": f"it waits for {dep}, which ended {status.value}"},
                    f"{dep} ended {status.value}",
                )
                for job_id, dep, status in doomed
            ]
            for change, ok in zip(changes, self.store.apply(changes), strict=True):
                if ok:
                    job = self.store.job_by_id(change.job_id)
                    self._finished(job, Status.SKIP, None, change.fields["error"])
                    self._skip_check = True

    # -- checking on jobs -----------------------------------------------------

    async def _check(self, force: bool = False, only: str | None = None) -> None:
        """Ask the hosts about jobs that have been running a while (taking
        over first those a run that since stopped left behind)."""
        if only is None:
            self._adopt()
        now = time.monotonic()
        by_host: dict[str, list[Job]] = {}
        for flight in self._inflight.values():
            host = flight.job.host
            if host is None or host not in self._backends or (only and host != only):
                continue
            if force or now - flight.launched >= self.check_interval:
                by_host.setdefault(host, []).append(flight.job)
        changes: list[Change] = []
        for host, jobs in by_host.items():
            try:
                changes += await self._judge(self._backends[host], jobs, now)
            except (HostError, KeyError):
                continue  # a lost host is looked after in _look_after_hosts
        self._commit(changes)

    async def _judge(self, backend: HostBackend, jobs: list[Job], now: float) -> list[Change]:
        """What ``backend``'s host says of ``jobs``, as status changes. A job
        it has no trace of, whose launch may be lost, is fenced first: it is
        launched again only once it is sure never to start from the old
        launch (see ``resources/wrapper.sh``)."""
        answers = await backend.check(jobs)
        changes: list[Change] = []
        unseen: list[Job] = []
        for job in jobs:
            change = verdict(job, answers[job.id])
            if change is not None:
                changes.append(change)
            elif self._launch_lost(job, now):
                unseen.append(job)
        if unseen:
            changes += await fence_unseen(backend, unseen)
        gone = {c.job_id for c in changes if c.new is Status.CRASH}
        crashed = [j for j in jobs if j.id in gone]
        if crashed:
            await backend.note_crash(crashed, "the process is gone")
        return changes

    def _launch_lost(self, job: Job, now: float) -> bool:
        """A job in ``run`` whose host has no trace of it: left by a run that
        stopped between claim and launch, or a launch that never arrived."""
        if job.status is not Status.RUN:
            return False
        launched = self._inflight[job.id].launched
        return launched == 0.0 or now - launched > LAUNCH_LOST_AFTER

    def _give_up_taken(self) -> bool:
        """At the end of a run: jobs it claimed that went back to waiting
        (a retry) but that no host of the run can take now end
        ``fail_start``, saying why, so that every job a run took is final
        when it ends. Whether any was given up."""
        if self._halted or self.result.paused or not self._took:
            return False
        left = [
            j
            for j in self.store.jobs(self.queue, statuses=list(self._waiting_statuses()))
            if j.id in self._took
        ]
        if not left:
            return False
        why = self._why_waiting()
        self._refuse([(j, j.host, f"no host of this run could take it: {why}") for j in left])
        return True

    async def _close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        backends = [*self._backends.values(), *self._stale.values()]
        self._backends, self._stale = {}, {}
        await asyncio.gather(*(b.close() for b in backends), return_exceptions=True)
