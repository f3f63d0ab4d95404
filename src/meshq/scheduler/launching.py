"""Choosing and launching: how a run fills its free slots.

It peeks at the waiting jobs in queue order, chooses a host (and GPUs) for
each as the mode and the policy say, claims them in the store (which counts
the hosts' slots again inside the claim, so two runs never take the same
one), makes their directories ahead, and hands them to the hosts' agents.
A job that can never run on the run's hosts fails to start, saying why.

A mixin of :class:`meshq.scheduler.engine.Runner`, which owns the state it
uses (see :class:`~meshq.scheduler.runnerpart.RunnerPart`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from meshq import faults, paths
from meshq.errors import HostError
from meshq.hosts.backend import FailedToStart, HostBackend
from meshq.model import Job
from meshq.scheduler.placement import Fit, fit, held_gpus, place, why_never
from meshq.scheduler.runnerpart import InFlight, RunnerPart
from meshq.store.runs import LEASE

#: how many upcoming jobs get their directories made in one go
MAKE_AHEAD = 128
#: fifo_multi makes job directories ahead only on this many hosts or fewer:
#: an upcoming job may go to any host, so each would make every one of
#: them (on 1,000 hosts, 128,000 folders for 128 jobs); on more, the
#: host's agent makes each launch's folder (with its perl, where the host
#: has one: resources/agent.sh), else the job's wrapper
MAKE_AHEAD_HOSTS = 8
#: the progress total is counted again at most once a second, and less
#: often on a queue whose count costs more (1,000,000 jobs: 70 ms): the
#: count may take at most this share of the run's time
TOTAL_SHARE = 0.02
#: how long another run's slots on our hosts may go unread while other runs
#: live (s): the claim counts them again in its transaction anyway
OTHERS_EVERY = 0.25
#: how many times a fill peeks again when another run claimed every job
#: it peeked: each loss is another run's claim of waiting jobs, so the
#: retries end; 4 managers started together lost 3 rounds in a row
CLAIM_TRIES = 16


class Launching(RunnerPart):
    """Filling the run's free slots: choose, claim, launch."""

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
                self._inflight[job.id] = InFlight(mine, time.monotonic())
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
        self._inflight[job.id] = InFlight(job, now)
        backend = self._backends.get(host)
        try:
            if backend is None:
                raise HostError(host, "not connected")
            backend.launch(job)
        except HostError as err:
            self._events.put_nowait((host, FailedToStart(job.id, job.attempts, str(err))))
        else:
            self.reporter.started(job)
