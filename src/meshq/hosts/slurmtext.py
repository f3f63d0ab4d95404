"""What Slurm's client commands say, read; what they are told, written.

Pure functions, no I/O: the output of ``squeue``, ``sacct``, ``sinfo`` and
``scontrol show config`` goes in, typed values
come out; a job and a cluster's settings go in, ``sbatch`` option words
come out (argv words, never shell text). The Slurm backend
(:mod:`meshq.hosts.slurm`) runs the commands.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from meshq.model import Job

#: what ``squeue`` is asked to print: one line per array task (``-r``)
SQUEUE_FORMAT = "%i|%T|%r"
#: what ``sacct`` is asked to print (``-P``: fields split by ``|``)
SACCT_FORMAT = "JobID,State"
#: what ``sinfo`` is asked to print: partition (``*`` marks the default),
#: availability, nodes allocated/idle/other/total, generic resources
SINFO_FORMAT = "%P|%a|%F|%G"
#: Slurm's default largest array index + 1, when the cluster does not say
DEFAULT_MAX_ARRAY = 1001
#: a word of a ``-j`` list is at most this long (Linux limits one argument
#: to 128 KiB)
MAX_IDS_CHARS = 100_000

#: states of a job that is over (anything else waits, runs or winds down)
FINISHED_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "REVOKED",
        "SPECIAL_EXIT",
        "TIMEOUT",
    }
)
#: states in which the job's command has not started yet
WAITING_STATES = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"})
#: states of a job that Slurm ended although its command did not end on its
#: own, and why, in words (meshq makes such a job ``crash``, unless its log
#: says it ended first, or meshq itself killed it)
LOST_STATES = {
    "NODE_FAIL": "its node failed",
    "BOOT_FAIL": "its node failed to boot",
    "PREEMPTED": "it was preempted",
    "DEADLINE": "it reached its deadline",
    "TIMEOUT": "it reached the cluster's time limit",
    "CANCELLED": "it was cancelled from outside meshq (scancel)",
    "REVOKED": "it was revoked (federation)",
}
#: options meshq sets itself (or that would break how it reads jobs back):
#: an --sbatch-option may not name them
RESERVED_OPTIONS = {
    "--array": "meshq submits jobs as arrays itself",
    "-a": "meshq submits jobs as arrays itself",
    "--output": "the job wrapper writes the job's output",
    "-o": "the job wrapper writes the job's output",
    "--error": "the job wrapper writes the job's output",
    "-e": "the job wrapper writes the job's output",
    "--input": "jobs read nothing from their input",
    "-i": "jobs read nothing from their input",
    "--chdir": "use the job's --directory",
    "-D": "use the job's --directory",
    "--parsable": "meshq reads sbatch's answer itself",
    "--wrap": "meshq submits the job wrapper",
    "--requeue": "Slurm would run a job again behind meshq's back: use --retries",
    "--no-requeue": "meshq sets it",
    "--wait": "meshq does not wait for sbatch",
    "-W": "meshq does not wait for sbatch",
    "--hold": "a held job would never start",
    "-H": "a held job would never start",
    "--test-only": "meshq submits for real",
    "--time": "use the job's --timeout",
    "-t": "use the job's --timeout",
}


@dataclass(frozen=True, slots=True)
class RemoteState:
    """A job's state in Slurm and, for one that waits, the reason."""

    state: str
    reason: str = ""

    @property
    def label(self) -> str:
        """How ``queue list`` shows it: ``PENDING (Priority)``, ``RUNNING``."""
        if self.reason and self.reason != "None" and self.state not in FINISHED_STATES:
            return f"{self.state} ({self.reason})"
        return self.state

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def waiting(self) -> bool:
        return self.state in WAITING_STATES

    @property
    def lost(self) -> str | None:
        """Why Slurm ended the job without its command ending, in words; ``None``
        when it did not (the job completed or failed on its own, or still runs)."""
        why = LOST_STATES.get(self.state)
        return None if why is None else f"Slurm says {self.state}: {why}"


def _state_word(text: str) -> str:
    # sacct writes "CANCELLED by 1000"; squeue writes the bare state
    return text.strip().split(" ", 1)[0].upper()


def parse_squeue(text: str) -> dict[str, RemoteState]:
    """``squeue -h -r -o SQUEUE_FORMAT`` output: per job id (``1234_7`` for
    an array task), its state and reason. Torn or foreign lines are skipped."""
    out: dict[str, RemoteState] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) >= 2 and parts[0] and parts[1]:
            out[parts[0]] = RemoteState(_state_word(parts[1]), parts[2] if len(parts) > 2 else "")
    return out


def parse_sacct(text: str) -> dict[str, RemoteState]:
    """``sacct -n -P -X -o SACCT_FORMAT`` output: per job id, its state."""
    out: dict[str, RemoteState] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) >= 2 and parts[0] and parts[1]:
            out[parts[0]] = RemoteState(_state_word(parts[1]))
    return out


def unknown_ids(stderr: str) -> bool:
    """Whether ``squeue`` failed only because it knows none of the ids asked
    about (they left its memory: finished longer ago than ``MinJobAge``)."""
    return "Invalid job id" in stderr


def max_array_size(config: str) -> int:
    """``MaxArraySize`` from ``scontrol show config`` (array indices must be
    below it), else Slurm's default."""
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)", config, re.MULTILINE)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else DEFAULT_MAX_ARRAY


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition, as ``sinfo`` reports it."""

    name: str
    default: bool
    up: bool
    allocated: int
    idle: int
    other: int
    total: int
    gpus: int


def _gpu_count(gres: str) -> int:
    """GPUs per node in a ``%G`` field such as ``gpu:4``, ``gpu:a100:2(S:0)``
    or ``(null)``."""
    count = 0
    for item in gres.split(","):
        fields = item.split("(", 1)[0].split(":")
        if fields[0] == "gpu":
            count += int(fields[-1]) if fields[-1].isdigit() else 1
    return count


def parse_sinfo(text: str) -> list[Partition]:
    """``sinfo -h -o SINFO_FORMAT`` output: the partitions, in order; lines of
    one partition (nodes with other resources) are added up."""
    found: dict[str, Partition] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 4:
            continue
        name, avail, nodes, gres = parts[:4]
        counts = nodes.split("/")
        if len(counts) != 4 or not all(c.isdigit() for c in counts):
            continue
        alloc, idle, other, total = (int(c) for c in counts)
        default = name.endswith("*")
        name = name.rstrip("*")
        before = found.get(name)
        gpus = _gpu_count(gres) * total
        if before is not None:
            alloc, idle = alloc + before.allocated, idle + before.idle
            other, total, gpus = other + before.other, total + before.total, gpus + before.gpus
            default = default or before.default
        found[name] = Partition(name, default, avail == "up", alloc, idle, other, total, gpus)
    return list(found.values())


def describe(partitions: Sequence[Partition]) -> str:
    """One line for ``hosts probe`` and ``hosts list``: each partition with its
    nodes (allocated, idle, other) and GPUs."""
    if not partitions:
        return "no partitions"
    parts = []
    for p in partitions:
        state = "" if p.up else ", down"
        gpus = f", {p.gpus} GPU(s)" if p.gpus else ""
        parts.append(
            f"{p.name}{'*' if p.default else ''}{state}: {p.total} node(s) "
            f"({p.allocated} alloc, {p.idle} idle, {p.other} other){gpus}"
        )
    return "; ".join(parts)


def time_limit(seconds: float | None, grace: float) -> str | None:
    """``--time`` for a job whose own limit is ``seconds``: whole minutes
    (Slurm's unit), rounded up past the limit and the wrapper's ``grace``
    plus a minute, so that meshq's limit always fires first and the wrapper
    has time to write how the job ended. ``None``: the partition's default."""
    if not seconds:
        return None
    minutes = max(1, math.ceil((seconds + grace + 60) / 60))
    return str(minutes)


def check_option(word: str) -> str | None:
    """Why ``word`` cannot be an ``--sbatch-option``, or ``None`` if it can:
    it must be one option word (``--mem=4G``, ``--constraint=a100``) that
    meshq does not set itself."""
    if not word.startswith("-") or word in ("-", "--"):
        return "give an sbatch option such as --mem=4G"
    if any(ch in word for ch in "\0\n\r"):
        return "an option is one line"
    name = word.split("=", 1)[0]
    if not name.startswith("--"):
        name = name[:2]
    why = RESERVED_OPTIONS.get(name)
    return None if why is None else f"meshq sets {name} itself ({why})"


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """How a cluster's jobs are submitted: from ``hosts add --kind=slurm``."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    #: further sbatch options, each one argv word
    extra: tuple[str, ...] = ()


def sbatch_words(settings: ClusterSettings, job: Job, grace: float) -> tuple[str, ...]:
    """The option words of ``job``'s submission that depend on the job and
    the cluster (jobs with equal words can share one array)."""
    words = [f"--job-name=meshq-{job.queue}"]
    if settings.partition:
        words.append(f"--partition={settings.partition}")
    if settings.account:
        words.append(f"--account={settings.account}")
    if settings.qos:
        words.append(f"--qos={settings.qos}")
    if job.gpus:
        words.append(f"--gres=gpu:{job.gpus}")
    limit = time_limit(job.timeout, grace)
    if limit is not None:
        words.append(f"--time={limit}")
    return (*words, *settings.extra)


def id_lists(ids: Iterable[str], limit: int = MAX_IDS_CHARS) -> list[str]:
    """``ids`` as comma-separated ``-j`` words of at most ``limit`` characters."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for job_id in ids:
        if current and size + len(job_id) + 1 > limit:
            out.append(",".join(current))
            current, size = [], 0
        current.append(job_id)
        size += len(job_id) + 1
    if current:
        out.append(",".join(current))
    return out
