"""What the fault-injection tests share: the ``meshq`` CLI bound to one test's
store, job commands that leave a trace, and looks into ``/proc``.

Every test host of these tests is this machine (real ``sshd`` servers on
127.0.0.x), though jobs there run as another user (``meshq-host``) in another
home, as on a real remote machine. So the job processes in ``/proc`` can be
checked directly, wherever the job ran; a job's files are read where its host
really wrote them (``job_log``, ``SshHost.real_path``); and a marker file that
jobs on every host append to lives in the test's ``shared_dir`` (the stand-in
for a shared file system), made with ``shared_file`` so both users can append.

Waiting is always a bounded poll with a deadline; where a test needs jobs
to stay running, they wait on a gate file that the test creates once it has
seen what it needs, never on a sleep that only usually suffices.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.support.cli import MESHQ, TRACEBACK, require_success, run_meshq
from tests.support.procs import alive as alive
from tests.support.procs import group_members as group_members
from tests.support.procs import proc_stat
from tests.support.sshd import SshHost

#: what Python prints for an unhandled exception: never meshq's output
#: what SQLite says when a writer gives up: never acceptable in meshq's output
LOCKED = "database is locked"
#: no single meshq command of these tests may take longer than this (s)
CALL_TIMEOUT = 90.0
#: how long a gated job waits for its gate before giving up (and exiting 99)
GATE_TIMEOUT_S = 60

T = TypeVar("T")


# -- waiting --------------------------------------------------------------------


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy, and return that;
    fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what} (last value: {value!r})"
            )
        time.sleep(interval)
        value = check()
    return value


# -- processes ------------------------------------------------------------------


def pgid_of(pid: int) -> int | None:
    fields = proc_stat(pid)
    return int(fields[2]) if fields is not None else None


def ppid_of(pid: int) -> int | None:
    fields = proc_stat(pid)
    return int(fields[1]) if fields is not None else None


def comm_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def live_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and alive(int(p.name))]


def environ_of(pid: int) -> set[bytes]:
    try:
        return set(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"))
    except OSError:
        return set()


def tagged(entries: Iterable[str]) -> list[int]:
    """Live processes (other than this one) whose environment holds any of
    ``entries`` (``NAME=value``) exactly."""
    wanted = {e.encode() for e in entries}
    me = os.getpid()
    return [pid for pid in live_pids() if pid != me and environ_of(pid) & wanted]


def kill_tagged(entries: Iterable[str]) -> None:
    """SIGKILL every process carrying one of ``entries``, a few rounds (a
    dying parent may still fork)."""
    entries = list(entries)
    for _ in range(5):
        pids = tagged(entries)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


# -- job commands and the marker file --------------------------------------------


def q(path: Path | str) -> str:
    return shlex.quote(str(path))


#: a sleep of 0.05 to 0.30 s, spread over the jobs by their index
VARIED_SLEEP = "printf -v d '0.%03d' $((50 + MESHQ_INDEX * 37 % 251)); sleep \"$d\""
#: a sleep of 0.02 to 0.10 s
SHORT_SLEEP = "printf -v d '0.%03d' $((20 + MESHQ_INDEX * 37 % 81)); sleep \"$d\""


#: a sleep to the next 0.1 s tick of the clock (at least 0.03 s): jobs running
#: at once all end together, so every run of a queue hears of ends and hunts
#: for free slots at the same moments, again and again
TICK_SLEEP = (
    "t=${EPOCHREALTIME/[.,]/}; w=$((100000 - t % 100000)); ((w < 30000)) && ((w += 100000)); "
    'printf -v d \'0.%06d\' "$w"; sleep "$d"'
)


def gate_wait(gate: Path) -> str:
    """Shell text that waits (bounded) until ``gate`` exists; exit 99 if it never does."""
    return (
        f"for ((i = 0; i < {GATE_TIMEOUT_S * 20}; i++)); do [[ -e {q(gate)} ]] && break; "
        f"sleep 0.05; done; [[ -e {q(gate)} ]] || {{ echo gate never opened >&2; exit 99; }}"
    )


def job_command(marker: Path, *, gate: Path | None = None, work: str = VARIED_SLEEP) -> str:
    """A job that appends ``start JOB ATTEMPT HOST TIME PID`` to ``marker``,
    waits for ``gate`` (if any), does ``work`` and appends ``end JOB ATTEMPT
    HOST TIME``. One short line per ``printf`` (one write to a file opened
    for appending): lines of jobs running at once never mix."""
    stamp = '"$MESHQ_JOB" "$MESHQ_ATTEMPT" "${MESHQ_TEST_HOST:-localhost}" "$EPOCHREALTIME"'
    parts = [f"printf 'start %s %s %s %s %s\\n' {stamp} \"$$\" >> {q(marker)}"]
    if gate is not None:
        parts.append(gate_wait(gate))
    parts.append(work)
    parts.append(f"printf 'end %s %s %s %s\\n' {stamp} >> {q(marker)}")
    return "; ".join(parts)


@dataclass(frozen=True)
class Mark:
    kind: str
    job: str
    attempt: int
    host: str
    time: float
    pid: int | None


def read_marks(marker: Path) -> list[Mark]:
    if not marker.exists():
        return []
    out = []
    for line in marker.read_text().splitlines():
        kind, job, attempt, host, stamp, *rest = line.split()
        out.append(
            Mark(kind, job, int(attempt), host, float(stamp), int(rest[0]) if rest else None)
        )
    return out


def starts(marker: Path) -> dict[str, Mark]:
    """The start line of each job (the last, if a job started twice)."""
    return {m.job: m for m in read_marks(marker) if m.kind == "start"}


def ends(marker: Path) -> dict[str, Mark]:
    return {m.job: m for m in read_marks(marker) if m.kind == "end"}


def assert_each_ran_once(marker: Path, names: Iterable[str]) -> None:
    """Every job of ``names`` started exactly once and ended exactly once, and
    nothing else ran."""
    marks = read_marks(marker)
    wanted = sorted(names)
    for kind in ("start", "end"):
        seen = Counter(m.job for m in marks if m.kind == kind)
        twice = sorted(n for n, c in seen.items() if c > 1)
        missing = sorted(set(wanted) - set(seen))
        extra = sorted(set(seen) - set(wanted))
        assert not twice, f"jobs whose command ran more than once ({kind} lines): {twice}"
        assert not missing, f"jobs with no {kind} line: {missing}"
        assert not extra, f"{kind} lines of jobs that should not have run: {extra}"


def peak_overlap(marker: Path, key: Callable[[Mark], str] = lambda m: m.host) -> Counter[str]:
    """The most jobs that ran at one moment, per ``key`` (the host, by default),
    from the start/end lines. At equal times an end counts before a start."""
    marks = read_marks(marker)
    spans: dict[tuple[str, int], list[Mark]] = defaultdict(list)
    for m in marks:
        spans[(m.job, m.attempt)].append(m)
    points: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for (job, _), pair in spans.items():
        kinds = {m.kind: m for m in pair}
        assert set(kinds) == {"start", "end"}, f"{job}: unfinished in the marker: {pair}"
        group = key(kinds["start"])
        points[group] += [(kinds["start"].time, 1), (kinds["end"].time, -1)]
    peak: Counter[str] = Counter()
    for group, events in points.items():
        running = 0
        for _, delta in sorted(events):
            running += delta
            peak[group] = max(peak[group], running)
    return peak


def job_log(
    experiment: str | Path, queue: str, name: str, hosts: Iterable[SshHost] = ()
) -> list[str]:
    """The job's state log (``EXPERIMENT/QUEUE/JOB/JOB.log``) as its hosts wrote
    it: the lines of the log on this machine, then those on each of ``hosts``
    (where meshq puts the experiment under the host user's home), from every
    place that has one; ``[]`` when none has. Pass every host the job may have
    run on: a job the store no longer places must still be found."""
    places = dict.fromkeys([Path(experiment), *(host.real_path(experiment) for host in hosts)])
    lines: list[str] = []
    for base in places:
        path = base / queue / name / f"{name}.log"
        if path.exists():
            lines += path.read_text().splitlines()
    return lines


# -- the CLI ----------------------------------------------------------------------


class Cli:
    """The ``meshq`` CLI on a store of one test's own (``MESHQ_HOME`` under
    its tmp dir), reaching the SSH test hosts once :meth:`use` is called.

    Every process it starts carries that ``MESHQ_HOME`` (meshq passes its
    environment on to the local agent and the jobs), so :meth:`cleanup` finds
    and kills, by pid, what a test left running on this machine, and only
    that; what runs on the SSH test hosts goes with their cluster."""

    def __init__(self, root: Path, work: Path | None = None) -> None:
        self.root = root
        self.home = root / "home"
        # the folder commands run in, where jobs added without --directory
        # run: jobs of another user on an SSH test host must be able to enter it
        self.work = work or root / "work"
        self.logs = root / "logs"
        for d in (self.home, self.work, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("MESHQ_") and k not in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")
        }
        env["MESHQ_HOME"] = str(self.home)
        env["PYTHONUNBUFFERED"] = "1"
        self.env = env
        self.started: list[subprocess.Popen[str]] = []
        self._outputs: dict[int, tuple[Path, Path]] = {}
        self._count = 0

    @property
    def tag(self) -> str:
        return f"MESHQ_HOME={self.home}"

    @property
    def db(self) -> Path:
        return self.home / "meshq.db"

    def use(self, ssh_config: Path) -> None:
        """Reach SSH hosts through this ssh config (the test cluster's)."""
        self.env["MESHQ_SSH_CONFIG"] = str(ssh_config)

    def __call__(
        self, *args: str, timeout: float = CALL_TIMEOUT, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``meshq ARGS`` to its end; the result, whatever its status."""
        return run_meshq(args, cwd=self.work, env={**self.env, **(env or {})}, timeout=timeout)

    def ok(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run ``meshq ARGS`` and insist that it exits 0 and says nothing of a locked store."""
        done = self(*args, **kw)
        require_success(done, args, tail=3000)
        assert LOCKED not in done.stderr + done.stdout, done.stderr
        return done

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``meshq ARGS`` in the background, its output going to files
        (a run prints a line per job: a pipe nobody reads would stall it)."""
        self._count += 1
        out = (self.logs / f"{self._count}.out").open("w")
        err = (self.logs / f"{self._count}.err").open("w")
        with out, err:
            proc = subprocess.Popen(
                [*MESHQ, *args],
                cwd=self.work,
                env={**self.env, **(env or {})},
                text=True,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        self._outputs[proc.pid] = (Path(out.name), Path(err.name))
        self.started.append(proc)
        return proc

    def output(self, proc: subprocess.Popen[str]) -> tuple[str, str]:
        """What a background meshq wrote so far: stdout, stderr."""
        out, err = self._outputs[proc.pid]
        return out.read_text(), err.read_text()

    def finish(
        self, proc: subprocess.Popen[str], timeout: float = CALL_TIMEOUT
    ) -> tuple[int, str, str]:
        """Wait for a background meshq to end: its status, stdout, stderr."""
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            _, err = self.output(proc)
            raise AssertionError(
                f"{proc.args!r} still running after {timeout} s: stderr={err[-3000:]!r}"
            ) from None
        out, err = self.output(proc)
        assert TRACEBACK not in err, f"{proc.args!r}:\n{err}"
        return proc.returncode, out, err

    # -- reading state --------------------------------------------------------

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--output=json").stdout)

    def jobs(self, queue: str) -> dict[str, dict[str, Any]]:
        """``meshq queue list QUEUE -o json``, by job name."""
        rows = self.json("queue", "list", queue)
        by_name = {r["name"]: r for r in rows}
        assert len(by_name) == len(rows), "a job name is listed twice"
        return by_name

    def statuses(self, queue: str) -> dict[str, str]:
        return {n: j["status"] for n, j in self.jobs(queue).items()}

    # -- teardown -------------------------------------------------------------

    def cleanup(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(timeout=10)
        kill_tagged([self.tag])


def summary_counts(stderr: str, queue: str) -> Counter[str]:
    """What a run's closing line (``QUEUE: 12 end, 1 fail``) says it finished."""
    lines = [line for line in stderr.splitlines() if line.startswith(f"{queue}: ")]
    assert lines, f"no summary line for {queue} in:\n{stderr[-2000:]}"
    counts: Counter[str] = Counter()
    text = lines[-1][len(queue) + 2 :]
    if text.strip() == "no job finished":
        return counts
    for part in text.split(","):
        n, state = part.split()
        counts[state] = int(n)
    return counts
