"""A Slurm cluster as a host: each meshq job is one Slurm array task that
runs the job wrapper, submitted on the cluster's login node.

The login node is reached as any host is (this machine with
``--login=local``, else over SSH, one connection), and runs the host agent
with a Slurm extension (``resources/slurm.sh``): file operations (job
folders, logs, fencing, crash notes) are the agent's own, and Slurm's client
commands run from it too, so a poll costs no new login. What happens to a
job is read back, not reported: one ``squeue`` per poll for every job of the
run, then the state logs of those whose Slurm state moved. The job's log
stays the truth about its command (start, end, exit code, kill, timeout);
Slurm's word adds what no log can say: that a job waits (its id and reason
are shown in ``queue list``), and that the cluster lost it (``NODE_FAIL``,
``PREEMPTED``, ``BOOT_FAIL``: ``crash``).

Submissions are batched: the jobs launched in one round that share their
sbatch options go out as one ``sbatch --array``, whose tasks read their
launch fields from a batch file (``EXPERIMENT/QUEUE/.meshq-batches``).
Before answering, the login node notes the array's id beside it, so a
manager killed mid-submission loses nothing: the next run (or ``refresh``)
finds each job's Slurm id there and never submits an attempt twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from meshq import faults, paths
from meshq.errors import HostError
from meshq.hosts import slurmtext
from meshq.hosts.agent import LAUNCH_FIELDS, AgentBackend, launch_fields, resource
from meshq.hosts.backend import (
    SIGNALLED,
    Ended,
    EventSink,
    FailedToStart,
    Fence,
    JobEvent,
    Liveness,
    LostSink,
    Queued,
    Started,
    ignore_event,
)
from meshq.hosts.base import Transport
from meshq.hosts.slurmlog import lost_reason, settled_lines, told_end
from meshq.hosts.slurmtext import ClusterSettings, RemoteState
from meshq.model import Identity, Job, Status
from meshq.scheduler.reconcile import verdict

#: how often jobs are polled while their states move, and at most when they
#: do not (s): a cluster's controller is shared, so a quiet run asks less
POLL_MIN = 0.5
POLL_MAX = 5.0
#: how long closing waits for Slurm's final state of the jobs whose end their
#: logs told first (a batch job stays RUNNING, then COMPLETING, for a moment
#: after its command ended): a job's recorded remote state is then Slurm's
#: last word (FAILED, COMPLETED), not what it said a moment before the end
LAST_WORD_WAIT = 3.0
#: what the wrapper gives a command between TERM and KILL (see wrapper.sh)
KILL_GRACE = 5.0
#: how long a kill waits for Slurm to see its jobs gone, past the grace (s)
KILL_SETTLE = 15.0
_SQUEUE = slurmtext.SQUEUE_FORMAT
#: a Slurm answer younger than this serves a fence right after a check (s)
_FRESH = 1.0


def batch_script() -> str:
    """The batch script every submission runs: the wrapper, then the runner."""
    return "#!/bin/bash\n" + resource("wrapper.sh") + "\n" + resource("slurm-batch.sh")


@dataclass(slots=True)
class _Watched:
    """A job of ours in the cluster, as the poll loop follows it."""

    job: Job
    remote_id: str
    label: str = ""
    started: bool = False
    #: its log told its end while Slurm still held it: followed only for
    #: Slurm's final state, which closing waits for (see LAST_WORD_WAIT)
    ended: bool = False


class SlurmBackend:
    """A Slurm cluster reached through its login node (see the module doc)."""

    def __init__(
        self,
        name: str,
        transport: Transport,
        on_event: EventSink = ignore_event,
        on_lost: LostSink | None = None,
        *,
        settings: ClusterSettings,
        local: bool,
        default_pyenv: str | None = None,
    ) -> None:
        self.name = name
        self.local = local
        self.settings = settings
        self.info: str | None = None
        self.agent = AgentBackend(
            transport,
            ignore_event,
            on_lost,
            local=local,
            default_pyenv=default_pyenv,
            extension=resource("slurm.sh"),
        )
        self._on_event = on_event
        self._pending: list[Job] = []
        self._watch: dict[int, _Watched] = {}
        self._poller: asyncio.Task[None] | None = None
        self._max_array = slurmtext.DEFAULT_MAX_ARRAY
        self._script = ""
        #: sacct answers (a cluster without accounting says so once)
        self._sacct = True
        self._last: tuple[float, dict[str, RemoteState]] = (0.0, {})
        #: the agent answers one log check per job at a time (its answers are
        #: matched by job and attempt), and the poll loop and the run's own
        #: checks may ask about one job at once
        self._reading = asyncio.Lock()

    # -- starting and stopping -------------------------------------------------

    @property
    def identity(self) -> Identity | None:
        return self.agent.identity

    async def start(self) -> None:
        """Reach the login node, install the batch script there, and check
        that Slurm answers (``sinfo``); :class:`HostError` saying why not."""
        await self.agent.start()
        script = batch_script()
        digest = hashlib.sha256(script.encode()).hexdigest()[:16]
        self._script = paths.helper_file(f"slurm-batch-{digest}.sh")
        wrote, sinfo, config = await self.agent.calls(
            [
                ("SW", [self._script, script]),
                ("SR", ["sinfo", "-h", "-o", slurmtext.SINFO_FORMAT]),
                ("SR", ["scontrol", "show", "config"]),
            ]
        )
        if wrote[:1] != ("ok",):
            raise HostError(self.name, f"cannot install the batch script: {wrote}")
        code, out, err = _answer(sinfo)
        if code != 0:
            raise HostError(
                self.name,
                f"sinfo failed ({_first_line(err) or f'exit status {code}'}): is Slurm "
                "installed there, and its config found (SLURM_CONF)?",
            )
        partitions = slurmtext.parse_sinfo(out)
        wanted = self.settings.partition
        if wanted is not None:
            known = {p.name for p in partitions}
            missing = [p for p in wanted.split(",") if p not in known]
            if missing:
                raise HostError(
                    self.name,
                    f"no partition {missing[0]!r} there (it has: {', '.join(sorted(known))}): "
                    "fix --partition",
                )
        self.info = slurmtext.describe(partitions)
        self._max_array = slurmtext.max_array_size(_answer(config)[1])
        self._poller = asyncio.create_task(self._poll_loop(), name=f"slurm-{self.name}")

    async def close(self) -> None:
        """Stop polling and let go of the login node; queued and running
        jobs go on in the cluster. Jobs whose end their logs told while Slurm
        still held them get up to :data:`LAST_WORD_WAIT` for Slurm's final
        state, told as ``Queued`` events."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await self._last_word()
        await self.agent.close()

    async def _last_word(self) -> None:
        deadline = time.monotonic() + LAST_WORD_WAIT
        delay = 0.1
        while (
            self.agent.alive
            and any(w.ended for w in self._watch.values())
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(delay)
            try:
                await self._poll(only_ended=True)
            except HostError:
                return
            delay = min(delay * 2, 1.0)

    # -- submitting ------------------------------------------------------------

    def launch(self, job: Job, gpu: str | None = None) -> None:
        """Queue ``job`` for the next submission (:meth:`drain` sends it).
        A cluster gives out GPUs itself: ``gpu`` ids only name what the
        command sees, as ``--gpu=IDS`` does elsewhere."""
        if not self.agent.alive:
            raise HostError(self.name, "the login node's agent is not running")
        self._pending.append(job if gpu is None else job.evolve(gpu=gpu))

    async def drain(self) -> None:
        """Submit what was launched: one ``sbatch --array`` per set of jobs
        that share their options (at most the cluster's MaxArraySize each),
        all in one round trip to the login node."""
        pending, self._pending = self._pending, []
        if pending:
            await self._submit(pending)
        await self.agent.drain()

    async def _submit(self, jobs: list[Job]) -> None:
        groups: dict[tuple[str, ...], list[Job]] = {}
        for job in jobs:
            words = slurmtext.sbatch_words(self.settings, job, KILL_GRACE)
            groups.setdefault((job.experiment, job.queue, *words), []).append(job)
        batches: list[list[Job]] = []
        requests: list[tuple[str, list[str | int | float | None]]] = []
        for key, members in groups.items():
            options = key[2:]
            for at in range(0, len(members), self._max_array):
                chunk = members[at : at + self._max_array]
                first = chunk[0]
                records: list[str] = []
                for job in chunk:
                    records += launch_fields(job, self._paths(job))
                fields: list[str | int | float | None] = [
                    self._script,
                    paths.batch_file(first, uuid.uuid4().hex, local=self.local),
                    paths.queue_folder_of(first, local=self.local),
                    len(options),
                    *options,
                    *records,
                ]
                batches.append(chunk)
                requests.append(("SB", fields))
        # a lost login node raises here: what became of these jobs is read
        # back later, from the batch files' index of submissions (or, never
        # submitted, they are fenced and launched again)
        answers = await self.agent.calls(requests)
        faults.point("slurm-after-sbatch")
        for chunk, answer in zip(batches, answers, strict=True):
            if answer[:1] == ("ok",) and len(answer) > 1:
                events: list[JobEvent] = []
                for index, job in enumerate(chunk):
                    remote = f"{answer[1]}_{index}"
                    self._watch[job.id] = _Watched(job, remote, "PENDING")
                    events.append(Queued(job.id, job.attempts, remote, "PENDING"))
                self._tell(events)
            else:
                why = answer[1] if len(answer) > 1 else "sbatch gave no answer"
                self._tell(
                    [FailedToStart(j.id, j.attempts, f"Slurm refused it: {why}") for j in chunk]
                )

    def _paths(self, job: Job) -> paths.JobPaths:
        return paths.job_paths(job, local=self.local, default_pyenv=self.agent.default_pyenv)

    def _tell(self, events: Sequence[JobEvent]) -> None:
        for event in events:
            self._on_event(self.name, event)

    # -- reading states back ---------------------------------------------------

    async def _states(self, ids: Sequence[str]) -> dict[str, RemoteState]:
        """Slurm's state of each job id it knows: one ``squeue`` (per 100 kB
        of ids), then ``sacct`` for those squeue has forgotten."""
        if not ids:
            return {}
        wanted = list(dict.fromkeys(ids))
        found: dict[str, RemoteState] = {}
        lists = slurmtext.id_lists(wanted)
        answers = await self.agent.calls(
            [
                ("SR", ["squeue", "-h", "-r", "-t", "all", "-j", word, "-o", _SQUEUE])
                for word in lists
            ]
        )
        for answer in answers:
            code, out, err = _answer(answer)
            if code != 0 and not slurmtext.unknown_ids(err):
                raise HostError(self.name, f"squeue failed: {_first_line(err) or code}")
            found.update(slurmtext.parse_squeue(out))
        missing = [i for i in wanted if i not in found]
        if missing and self._sacct:
            found.update(await self._sacct_states(missing))
        self._last = (time.monotonic(), found)
        return found

    async def _sacct_states(self, ids: list[str]) -> dict[str, RemoteState]:
        found: dict[str, RemoteState] = {}
        answers = await self.agent.calls(
            [
                ("SR", ["sacct", "-n", "-P", "-X", "-j", word, "-o", slurmtext.SACCT_FORMAT])
                for word in slurmtext.id_lists(ids)
            ]
        )
        for answer in answers:
            code, out, _ = _answer(answer)
            if code != 0:
                # no accounting on this cluster: the job logs have to do
                self._sacct = False
                break
            found.update(slurmtext.parse_sacct(out))
        return found

    async def _remote_ids(self, jobs: Sequence[Job]) -> dict[int, str | None]:
        """Each job's Slurm id for its current attempt: as this backend
        submitted it, as recorded, or as its queue's batch files say."""
        out: dict[int, str | None] = {}
        unknown: list[Job] = []
        for job in jobs:
            watched = self._watch.get(job.id)
            if watched is not None and watched.job.attempts == job.attempts:
                out[job.id] = watched.remote_id
            elif job.remote_id:
                out[job.id] = job.remote_id
            else:
                out[job.id] = None
                if job.status is not Status.READY and job.attempts:
                    unknown.append(job)
        if unknown:
            out.update(await self._find_ids(unknown))
        return out

    async def _find_ids(self, jobs: list[Job]) -> dict[int, str]:
        """The Slurm ids of attempts submitted by a run that died before it
        heard them: each queue's ``.meshq-batches/submitted`` names its
        submissions (batch file, array id) in order, and a batch file holds
        its tasks' jobs and attempts in array index order. Newest first,
        until every job is found."""
        by_folder: dict[str, dict[tuple[int, int], Job]] = {}
        for job in jobs:
            folder = paths.batch_folder(job, local=self.local)
            by_folder.setdefault(folder, {})[(job.id, job.attempts)] = job
        found: dict[int, str] = {}
        for folder, wanted in by_folder.items():
            try:
                index = (await self.agent.read(f"{folder}/submitted")).decode()
            except HostError:
                continue  # nothing was ever submitted from this queue
            entries = [line.split() for line in index.splitlines()]
            for token, array in reversed([e for e in entries if len(e) == 2]):
                if not wanted:
                    break
                try:
                    fields = (await self.agent.read(f"{folder}/{token}")).split(b"\0")
                except HostError:
                    continue
                for i in range(len(fields) // LAUNCH_FIELDS):
                    head = fields[i * LAUNCH_FIELDS : i * LAUNCH_FIELDS + 2]
                    if not all(f.isdigit() for f in head):
                        continue
                    key = (int(head[0]), int(head[1]))
                    if key in wanted:
                        found[wanted.pop(key).id] = f"{array}_{i}"
        return found

    async def check(self, jobs: Sequence[Job]) -> dict[int, Liveness]:
        """Per job: alive while Slurm holds it (waiting or running), the state
        log lines of its attempt, and Slurm's word when it lost the job. Jobs
        Slurm still holds are followed by the poll loop from now on."""
        ids = await self._remote_ids(jobs)
        states = await self._states([i for i in ids.values() if i])
        # a job that waits in Slurm's queue has written nothing yet (unless
        # meshq killed it, and then Slurm no longer holds it): thousands may
        # wait, and their logs are not read
        waiting = {
            j.id for j in jobs if (s := states.get(ids[j.id] or "")) is not None and s.waiting
        }
        logs = await self._logs([j for j in jobs if j.id not in waiting])
        out: dict[int, Liveness] = {}
        news: list[JobEvent] = []
        for job in jobs:
            remote = ids[job.id]
            state = states.get(remote) if remote else None
            alive = state is not None and not state.finished
            lines = () if job.id in waiting else settled_lines(state, logs[job.id].lines)
            out[job.id] = Liveness(alive, lines, lost_reason(state, lines))
            if remote is None or state is None:
                continue
            if alive and job.id not in self._watch:
                self._watch[job.id] = _Watched(job, remote, state.label, job.pid is not None)
            if alive and told_end(lines):
                self._watch[job.id].ended = True  # followed for Slurm's final state
            if job.remote_id != remote or job.remote_state != state.label:
                news.append(Queued(job.id, job.attempts, remote, state.label))
        self._tell(news)
        return out

    async def _logs(self, jobs: Sequence[Job]) -> dict[int, Liveness]:
        """The state log lines of each job's attempt (the agent's check)."""
        async with self._reading:
            return await self.agent.check(jobs)

    async def _poll_loop(self) -> None:
        delay = POLL_MIN
        while True:
            await asyncio.sleep(delay)
            if not self._watch:
                delay = POLL_MIN
                continue
            try:
                moved = await self._poll()
            except HostError:
                if not self.agent.alive:
                    return  # the run hears of it through on_lost
                moved = False
            delay = POLL_MIN if moved else min(delay * 2, POLL_MAX)

    async def _poll(self, *, only_ended: bool = False) -> bool:
        """One look at every job followed (``only_ended``: at those whose end
        their log told, for Slurm's final state): one squeue, then the logs of
        those whose state moved; the events that follow. Whether anything moved."""
        watched = [w for w in self._watch.values() if w.ended or not only_ended]
        states = await self._states([w.remote_id for w in watched])
        news: list[JobEvent] = []
        to_read: list[tuple[_Watched, RemoteState | None]] = []
        for w in watched:
            state = states.get(w.remote_id)
            if state is not None and state.label != w.label:
                w.label = state.label
                news.append(Queued(w.job.id, w.job.attempts, w.remote_id, state.label))
            if w.ended:
                if state is None or state.finished:
                    del self._watch[w.job.id]
                continue
            if state is not None and state.waiting:
                continue
            # running and not yet seen started, or over (or forgotten): its
            # log says how far it got
            if not w.started or state is None or state.state != "RUNNING":
                to_read.append((w, state))
        if to_read:
            logs = await self._logs([w.job for w, _ in to_read])
            for w, state in to_read:
                news += self._judge(w, state, logs[w.job.id].lines)
        self._tell(news)
        return bool(news)

    def _judge(
        self, w: _Watched, state: RemoteState | None, lines: tuple[str, ...]
    ) -> list[JobEvent]:
        """The events a followed job's log and Slurm state make; a job that
        Slurm has done with is followed no more (a loss, which the log cannot
        tell, is for the run's check: ``verdict`` makes it ``crash``)."""
        over = state is None or state.finished
        lines = settled_lines(state, lines)
        live = Liveness(not over, lines, lost_reason(state, lines))
        job = w.job.evolve(status=Status.START if w.started else Status.RUN)
        change = verdict(job, live)
        events: list[JobEvent] = []
        if change is not None and change.new is not Status.CRASH:
            f = change.fields
            if not w.started and f.get("pid") is not None:
                events.append(
                    Started(job.id, job.attempts, f["pid"], f["pstart"] or "", f["started"] or 0.0)
                )
                w.started = True
                w.job = w.job.evolve(pid=f["pid"], pstart=f["pstart"])
            if change.new is Status.FAIL_START:
                events.append(FailedToStart(job.id, job.attempts, f.get("error") or "not started"))
            elif change.new in (Status.END, Status.FAIL, Status.KILL, Status.TIMEOUT):
                code = f.get("exit_code")
                signal = code - SIGNALLED if code is not None and code > SIGNALLED else None
                ended = f.get("ended") or time.time()
                events.append(Ended(job.id, job.attempts, change.new, code, signal, ended))
        if over:
            self._watch.pop(job.id, None)
        elif any(isinstance(e, Ended | FailedToStart) for e in events):
            w.ended = True  # Slurm's final state is still to come
        return events

    # -- stopping jobs ---------------------------------------------------------

    async def kill(self, jobs: Sequence[Job], grace: float = KILL_GRACE) -> dict[int, str]:
        """Cancel each job Slurm still holds (``scancel``), after marking its
        attempt killed on request (so its wrapper records ``kill``); wait
        until Slurm has them gone. ``killed``, or ``gone`` if not held."""
        ids = await self._remote_ids(jobs)
        states = await self._states([i for i in ids.values() if i])
        held = [j for j in jobs if (s := states.get(ids[j.id] or "")) and not s.finished]
        out = {j.id: "gone" for j in jobs}
        if not held:
            return out
        fields: list[str | int] = []
        for job in held:
            fields += [self._paths(job).folder, job.attempts, job.log]
        await self.agent.call("SK", fields)
        cancel = [ids[j.id] or "" for j in held]
        await self.agent.call("SR", ["scancel", *cancel])
        deadline = time.monotonic() + grace + KILL_SETTLE
        while time.monotonic() < deadline:
            now = await self._states(cancel)
            if all(s.finished for i in cancel if (s := now.get(i)) is not None):
                break
            await asyncio.sleep(0.25)
        for job in held:
            out[job.id] = "killed"
        return out

    async def fence(self, jobs: Sequence[Job]) -> dict[int, Fence]:
        """A job Slurm still holds will run: it is never launched again
        (``STARTED``). Any other is fenced on the file system, as on every
        host (see ``resources/wrapper.sh``): its array task, should it run
        after all, finds its attempt taken and does nothing."""
        ids = await self._remote_ids(jobs)
        when, cached = self._last
        known = [i for i in ids.values() if i]
        fresh = time.monotonic() - when < _FRESH and all(i in cached for i in known)
        states = cached if fresh else await self._states(known)
        out: dict[int, Fence] = {}
        rest: list[Job] = []
        for job in jobs:
            state = states.get(ids[job.id] or "")
            if state is not None and not state.finished:
                out[job.id] = Fence.STARTED
            else:
                rest.append(job)
        if rest:
            out.update(await self.agent.fence(rest))
        return out

    # -- files on the login node -----------------------------------------------

    async def note_crash(self, jobs: Sequence[Job], reason: str) -> None:
        await self.agent.note_crash(jobs, reason)

    async def remove(self, folders: Sequence[str]) -> dict[str, str]:
        return await self.agent.remove(folders)

    async def make_dirs(self, folders: Sequence[str]) -> None:
        """Make the folders' parents (the queue folders: a submission's
        working directory) but not the job folders themselves: each job's
        wrapper makes its own on its compute node, where thousands of mkdirs
        (a metadata round trip each on a cluster file system) hold no
        submission up."""
        parents = sorted({f.rsplit("/", 1)[0] for f in folders if "/" in f.strip("/")})
        if parents:
            await self.agent.make_dirs(parents)

    async def read(self, path: str) -> bytes:
        return await self.agent.read(path)

    async def put(self, path: str, data: bytes) -> None:
        """Write the file on the login node (this machine's file system with
        ``--login=local``, else through the login's SSH connection), whole
        or not at all: a job reads it on its compute node, so ``path`` must
        be on the file system the cluster shares (the experiment is)."""
        await self.agent.put(path, data)

    async def follow(self, path: str, pid: int) -> AsyncIterator[bytes]:
        """``path`` as it grows, until the Slurm job of its folder's latest
        attempt is over (the job's pid is on a compute node, not here)."""
        argv = ["bash", "--norc", "-c", _FOLLOW, "meshq-follow", path]
        async for chunk in self.agent.transport.stream(argv):
            yield chunk


# The folder's .meshq-slurm names the job's Slurm id; a watcher, detached
# (so that it is no child of tail, which would see it as a zombie forever),
# lives while squeue says the job is not over, and tail stops after it.
_OVER = "|".join(['""', *sorted(slurmtext.FINISHED_STATES)])
_FOLLOW = (
    'f=$1; case $f in "~") f=$HOME ;; "~/"*) f=$HOME/${f#"~/"} ;; esac; '
    'read -r _ id _ < "${f%/*}/.meshq-slurm" 2>/dev/null; '
    "w=$( (while [[ -n $id ]]; do "
    's=$(squeue -h -t all -j "$id" -o %T 2>/dev/null); '
    f"case $s in {_OVER}) break ;; esac; sleep 1; done) > /dev/null 2>&1 & echo $!); "
    'exec tail -c +1 -F --pid="$w" -- "$f" 2>/dev/null'
)


def _answer(fields: tuple[str, ...]) -> tuple[int, str, str]:
    """An ``SR`` answer: exit status, stdout, stderr (newlines restored)."""
    code = int(fields[0]) if fields and fields[0].lstrip("-").isdigit() else 255
    out = fields[1] if len(fields) > 1 else ""
    err = fields[2] if len(fields) > 2 else ""
    return code, out.replace("\x1f", "\n"), err.replace("\x1f", "\n")


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""


__all__ = ["SlurmBackend", "batch_script"]
