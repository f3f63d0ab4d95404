"""How a Slurm job's state log and Slurm's own word on it are judged
together: pure functions of the log lines (``resources/wrapper.sh``) and
a :class:`~meshq.hosts.slurmtext.RemoteState`, for the Slurm backend
(:mod:`meshq.hosts.slurm`)."""

from __future__ import annotations

from meshq.hosts.backend import SIGNALLED
from meshq.hosts.slurmtext import RemoteState
from meshq.scheduler.reconcile import parse_log


def told_end(lines: tuple[str, ...]) -> bool:
    """Whether an attempt's log lines tell that its command is over."""
    facts = parse_log(lines)
    return facts.exit_code is not None or facts.fail_start is not None


def settled_lines(state: RemoteState | None, lines: tuple[str, ...]) -> tuple[str, ...]:
    """An attempt's log lines as far as they can be judged now: an end by a
    signal (exit status above 128) that meshq did not send waits for Slurm's
    last word, which may say why (a node that failed signals what ran on it
    first); until then the job still counts as running."""
    if state is None or state.finished:
        return lines
    facts = parse_log(lines)
    code = facts.exit_code
    if code is None or code <= SIGNALLED or facts.killed or facts.timed_out:
        return lines
    return tuple(line for line in lines if not line.startswith("end "))


def lost_reason(state: RemoteState | None, lines: tuple[str, ...]) -> str | None:
    """Slurm's word that it ended the job without its command ending (see
    reconcile.verdict), or that it ran the job and its wrapper never wrote
    a line: the job folder is not where the compute node looked."""
    if state is None or not state.finished:
        return None
    if state.lost is not None:
        return state.lost
    if not lines:
        return (
            f"Slurm says {state.state}, but the job never wrote to its log: are the job "
            "folders on a file system the compute nodes share?"
        )
    return None
