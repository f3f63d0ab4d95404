"""GNU Parallel's ``--joblog`` format, for jobs meshq ran
(``meshq queue list QUEUE --format=joblog``): tools written for
``parallel --joblog`` read it as they read parallel's own.

One header line, then one tab-separated line per job that ran to an end:
``Seq Host Starttime JobRuntime Send Receive Exitval Signal Command``.
Seq is the job's place in the queue (1 for the first job added), Host
``:`` for this machine (as parallel writes it) else ``user@host``, times in
seconds with three decimals (JobRuntime right-aligned in ten characters, as
parallel pads it). A job killed on request or past its time limit has
Exitval -1 and Signal 15 (meshq stops a job with TERM first), as parallel
logs a job it killed for ``--timeout``; a crashed job has Exitval -1.
"""

from __future__ import annotations

from collections.abc import Iterable

from meshq.model import FINISHED, Job, Status

HEADER = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand"
#: what meshq sends first to stop a job (kill, timeout)
_TERM = 15


def lines(jobs: Iterable[tuple[int, Job]]) -> list[str]:
    """The joblog of ``(seq, job)`` pairs: the header, then a line for
    each job that started and finished (a job never started has no line,
    so ``parallel --resume``-style tools run it)."""
    out = [HEADER]
    for seq, job in jobs:
        if job.started is None or job.ended is None or job.status not in FINISHED:
            continue
        exitval, signal = _outcome(job)
        # a command is one field: tabs and newlines would start another
        command = job.command.replace("\t", " ").replace("\n", " ")
        out.append(
            f"{seq}\t{_host(job)}\t{job.started:.3f}\t{job.ended - job.started:10.3f}\t0\t0\t"
            f"{exitval}\t{signal}\t{command}"
        )
    return out


def _host(job: Job) -> str:
    if job.is_local:
        return ":"
    return f"{job.user}@{job.host}" if job.user else str(job.host)


def _outcome(job: Job) -> tuple[int, int]:
    if job.status in (Status.KILL, Status.TIMEOUT):
        return -1, _TERM
    if job.status is Status.CRASH or job.exit_code is None:
        return -1, 0
    return job.exit_code, 0
