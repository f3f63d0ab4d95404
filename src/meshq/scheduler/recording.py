"""Recording what the hosts report of a run's jobs.

Events from the agents (started, ended, failed to start, a cluster's id
and state) become status changes, applied in the store in one transaction
a batch; a failed attempt is put back in the queue when it has retries
left, and waiting jobs that depend on one that failed for good are
skipped. A periodic check asks the hosts about jobs that have been running
a while, for those that vanished without a word. At the end of a run, the
jobs it took and could not run are given up, and those left waiting are
explained.

A mixin of :class:`meshq.scheduler.engine.Runner`, which owns the state it
uses (see :class:`~meshq.scheduler.runnerpart.RunnerPart`).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from meshq.errors import HostError
from meshq.hosts.backend import Ended, FailedToStart, HostBackend, JobEvent, Queued, Started
from meshq.model import ACTIVE, FAILED, FINISHED, RETRIABLE, WAITING, Job, Status
from meshq.scheduler.fencing import fence_unseen
from meshq.scheduler.placement import held_gpus
from meshq.scheduler.reconcile import verdict
from meshq.scheduler.runnerpart import InFlight, RunnerPart
from meshq.store.store import Change

#: a launch the host has not confirmed after this long is taken as lost (s)
LAUNCH_LOST_AFTER = 60.0


class Recording(RunnerPart):
    """Hearing back from the hosts, and recording it."""

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
        self._inflight[job.id] = InFlight(job.evolve(run_id=self.run_id), time.monotonic())
        if job.host in self._state:
            self._state[job.host].take(held_gpus(job, job.gpu))
            self._touch(job.host)

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

    # -- the end of a run -----------------------------------------------------

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
