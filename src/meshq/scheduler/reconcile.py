"""Turning what a host says about a job into the job's true state.

Pure functions: the state log lines the wrapper wrote (see
``resources/wrapper.sh``) and whether the process is alive go in; the
status change the store should make comes out.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshq.hosts.backend import SIGNALLED, Liveness, signal_of
from meshq.model import Job, Status
from meshq.store.store import Change


@dataclass(frozen=True, slots=True)
class LogFacts:
    """What one attempt's state log lines say."""

    started: float | None = None
    pid: int | None = None
    pstart: str | None = None
    exit_code: int | None = None
    ended: float | None = None
    killed: bool = False
    timed_out: bool = False
    fail_start: str | None = None


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_log(lines: tuple[str, ...]) -> LogFacts:
    """Read one attempt's state lines; unknown or torn lines are ignored."""
    facts: dict[str, object] = {}
    for line in lines:
        kind, _, rest = line.partition(" ")
        parts = rest.split(" ")
        if kind == "start" and len(parts) >= 4 and parts[1].isdigit():
            facts.update(pid=int(parts[1]), pstart=parts[2], started=_float(parts[3]))
        elif kind == "end" and len(parts) >= 3 and parts[1].lstrip("-").isdigit():
            facts.update(exit_code=int(parts[1]), ended=_float(parts[2]))
        elif kind == "kill":
            facts["killed"] = True
        elif kind == "timeout":
            facts["timed_out"] = True
        elif kind == "fail_start":
            facts["fail_start"] = " ".join(parts[2:]) or "the job could not be started"
    return LogFacts(**facts)  # type: ignore[arg-type]


def _lost(facts: LogFacts) -> bool:
    """Whether a host's word that it lost an attempt stands against its log:
    unless meshq killed or timed it out, and unless the command ended on its
    own (an end line whose code is not a death by signal, which the loss
    explains: a node going down first signals what runs there)."""
    if facts.killed or facts.timed_out:
        return False
    return facts.exit_code is None or facts.exit_code > SIGNALLED


def verdict(job: Job, live: Liveness) -> Change | None:
    """The change that makes ``job`` agree with its host, or ``None`` when
    it agrees already or the host knows nothing of this attempt. A host that
    says it lost the attempt (``live.lost``) makes it ``crash``, with that
    reason, unless its log tells of an end of its own."""
    facts = parse_log(live.lines)
    attempt = job.attempts
    if facts.fail_start is not None:
        return Change(
            job.id, Status.FAIL_START, {"error": facts.fail_start}, "from the job log", attempt
        )
    started = {"pid": facts.pid, "pstart": facts.pstart, "started": facts.started}
    if live.lost is not None and _lost(facts):
        fields = {**started, "exit_code": facts.exit_code, "ended": facts.ended}
        return Change(
            job.id,
            Status.CRASH,
            {**{k: v for k, v in fields.items() if v is not None}, "error": live.lost},
            "lost by its host",
            attempt,
        )
    if facts.exit_code is not None or ((facts.killed or facts.timed_out) and not live.alive):
        if facts.killed:
            new = Status.KILL
        elif facts.timed_out:
            new = Status.TIMEOUT
        else:
            new = Status.END if facts.exit_code == 0 else Status.FAIL
        fields = {
            **started,
            "exit_code": facts.exit_code,
            "signal": signal_of(facts.exit_code),
            "ended": facts.ended,
        }
        return Change(
            job.id,
            new,
            {k: v for k, v in fields.items() if v is not None},
            "from the job log",
            attempt,
        )
    if facts.pid is None:
        if job.pid is None or job.status is not Status.START:
            return None
        # the store knows the process (pid and start time), but the log says
        # nothing of it: missing, unreadable, or written on a full disk
        if live.alive:
            return None
        return Change(
            job.id,
            Status.CRASH,
            {
                "error": "the job's process is gone and its log records nothing of this "
                "attempt (the log is missing or could not be written)"
            },
            "process vanished",
            attempt,
        )
    if live.alive:
        if job.status is Status.START:
            return None
        return Change(job.id, Status.START, started, "from the job log", attempt)
    return Change(
        job.id,
        Status.CRASH,
        {
            **started,
            "error": "the job's process is gone and it wrote no end line "
            "(killed from outside, out of memory, or the host rebooted)",
        },
        "process vanished",
        attempt,
    )
