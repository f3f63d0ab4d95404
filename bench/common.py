"""What every benchmark shares: measures and targets, timing a process
(wall and peak memory), the ``meshq`` CLI in a store of its own, reading
that store, and GNU Parallel.

Every figure is taken from real processes, as a user would start them: the
``meshq`` console script next to this Python (``python -m meshq`` when there
is none), each command a new, cold process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Op = Literal[">=", "<", "<="]


@dataclass
class Measure:
    """One figure of the report, and the target it is held to."""

    key: str
    title: str
    unit: str
    target: float
    op: Op
    #: the figure: the median of ``runs`` (None when skipped or broken)
    value: float | None = None
    #: the figure of each repeat, in the order taken
    runs: list[float] = field(default_factory=list)
    #: the figures behind it (the peer's, spans, counts), for the report
    details: dict[str, Any] = field(default_factory=dict)
    #: why it was not measured (a tool missing), when it was not
    skipped: str | None = None
    #: what went wrong, when measuring it failed
    error: str | None = None

    @property
    def met(self) -> bool | None:
        """Whether the figure meets its target (None: no figure)."""
        if self.value is None:
            return None
        if self.op == ">=":
            return self.value >= self.target
        if self.op == "<=":
            return self.value <= self.target
        return self.value < self.target

    @property
    def score(self) -> float | None:
        """The figure as a multiple of its target: 1 is just met, more is better."""
        if self.value is None:
            return None
        if self.op == ">=":
            return self.value / self.target if self.target else float("inf")
        return self.target / self.value if self.value > 0 else float("inf")

    def set_runs(self, runs: Sequence[float]) -> Measure:
        """Record the repeats and take their median as the figure."""
        self.runs = [float(r) for r in runs]
        self.value = statistics.median(self.runs) if self.runs else None
        return self

    def as_dict(self) -> dict[str, Any]:
        """The measure as plain JSON data, with ``met`` and ``score``."""
        data = asdict(self)
        data["met"] = self.met
        data["score"] = self.score
        return data


@dataclass
class Context:
    """What a benchmark gets: a scratch folder, how often to repeat, a log."""

    work: Path
    repeat: int
    full: bool = False
    log: Callable[[str], None] = print
    _serial: int = 0

    def scratch(self, name: str) -> Path:
        """A new, empty folder under the scratch folder."""
        self._serial += 1
        path = self.work / f"{name}-{self._serial}"
        path.mkdir(parents=True)
        return path


class CommandFailed(RuntimeError):
    """A command the benchmark needs exited with a non-zero status."""


@dataclass(frozen=True)
class Timed:
    """How a finished process went."""

    wall: float
    #: peak resident memory (KiB) of the process (and any child it waited for)
    maxrss_kib: int
    returncode: int
    stdout: str
    stderr: str


def timed(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    stdin: str | None = None,
) -> Timed:
    """Run ``argv`` to its end; its wall time and peak RSS (from ``wait4``).

    Output goes to temporary files, never pipes, so a chatty process cannot
    block and the timing includes writing it, as a user's redirect would.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        if stdin is not None and proc.stdin is not None:
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = Timed(
            wall,
            int(usage.ru_maxrss),
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )
    if check and result.returncode != 0:
        tail = (result.stderr or result.stdout)[-2000:]
        raise CommandFailed(f"{' '.join(argv)[:200]} exited {result.returncode}:\n{tail}")
    return result


def meshq_argv() -> list[str]:
    """How a user starts meshq: the console script beside this Python."""
    script = Path(sys.executable).with_name("meshq")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "meshq"]


def use_bytecode_cache(folder: Path) -> None:
    """Let the meshq processes this one starts cache their bytecode, in
    ``folder`` (``PYTHONPYCACHEPREFIX``: never in the source tree).

    A Python install normally caches it; an environment with
    ``PYTHONDONTWRITEBYTECODE=1`` (this one's, say) compiles meshq's own
    modules again at every start, which is not what a user's command costs.
    :meth:`Meshq.__init__` takes ``bytecode=False`` to measure that case.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(folder)


#: what meshq's commands import, its own modules and the libraries', whose
#: bytecode :func:`warm_bytecode` writes before anything is timed
_RUN_MODULES = (
    "meshq.cli.main",
    "meshq.scheduler.engine",
    "meshq.hosts.agent",
    "meshq.hosts.ssh",
    "meshq.hosts.slurm",
    "meshq.web.app",
    "asyncssh",
)


def warm_bytecode() -> None:
    """Compile into the cache of :func:`use_bytecode_cache` what meshq's
    commands import, as ``pip install`` does for a user: otherwise the first
    timed command that imports a library (``queue run`` and asyncssh with
    cryptography's Python side: 0.75 s here) measures its compiling."""
    code = f"import importlib\nfor m in {_RUN_MODULES!r}:\n    importlib.import_module(m)"
    subprocess.run([sys.executable, "-c", code], check=True)


_FOREIGN_ENV = frozenset({"MESHQ_DB", "MESHQ_FAULT", "MESHQ_FAULT_AFTER", "MESHQ_SSH_CONFIG"})


class Meshq:
    """The ``meshq`` CLI with a store of its own (``MESHQ_HOME``)."""

    def __init__(
        self, home: Path, extra_env: dict[str, str] | None = None, *, bytecode: bool = True
    ) -> None:
        self.home = home
        # another store, or a fault point, from the caller's shell must not leak in
        env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV}
        env["MESHQ_HOME"] = str(home)
        if not bytecode:  # compile meshq's modules at every start
            env.pop("PYTHONPYCACHEPREFIX", None)
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.update(extra_env or {})
        self.env = env
        self.argv = meshq_argv()

    @property
    def db(self) -> Path:
        """The store file."""
        return self.home / "meshq.db"

    def __call__(self, *args: str, check: bool = True) -> Timed:
        """Run ``meshq ARGS`` in this store; see :func:`timed`."""
        return timed([*self.argv, *args], env=self.env, check=check)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query on the store."""
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as conn:
            return list(conn.execute(sql, params))

    def span(self, queue: str) -> tuple[int, float]:
        """``(jobs ended ok, seconds from the first start to the last end)``
        of ``queue``: the run's steady work, without process start-up,
        connecting and shutting down."""
        ((count, first, last),) = self.query(
            "SELECT COUNT(*), MIN(started), MAX(ended) FROM jobs "
            "JOIN queues ON queues.id = jobs.queue_id "
            "WHERE queues.name = ? AND jobs.status = 'end'",
            (queue,),
        )
        return int(count), (last - first) if count else 0.0

    def require_all_ended(self, queue: str, jobs: int) -> None:
        """Raise unless all ``jobs`` jobs of ``queue`` ended with exit code 0."""
        rows = self.query(
            "SELECT jobs.status, COUNT(*) FROM jobs JOIN queues ON queues.id = jobs.queue_id "
            "WHERE queues.name = ? GROUP BY jobs.status",
            (queue,),
        )
        counts = dict(rows)
        if counts.get("end", 0) != jobs:
            raise CommandFailed(f"queue {queue}: expected {jobs} jobs in end, found {counts}")


def fill_queue(
    mq: Meshq, queue: str, experiment: Path, jobs: int, command: str, *extra: str
) -> None:
    """Create ``queue`` and add ``job[1-JOBS]`` running ``command``."""
    mq("queue", "create", queue, f"--experiment={experiment}")
    mq("queue", "add", queue, f"--name=job[1-{jobs}]", f"--command={command}", *extra)


def parallel_missing() -> str | None:
    """``None`` when GNU Parallel is installed, else why the comparison is skipped."""
    if shutil.which("parallel") is None:
        return "GNU parallel is not installed (apt-get install parallel)"
    return None


def machine_counters() -> tuple[float, int]:
    """``(busy CPU seconds of the whole machine, the last pid handed out)``:
    the difference over a run is what it cost the machine, every process
    included (approximate: anything else running meanwhile counts too)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    busy = (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # guest time is in user already
    return busy, int(Path("/proc/sys/kernel/ns_last_pid").read_text())


def machine_cost(before: tuple[float, int], jobs: int) -> dict[str, float]:
    """Busy CPU (ms) and processes started, per job, since ``before``."""
    cpu, pid = machine_counters()
    pids = pid - before[1]
    if pids < 0:  # the pid counter wrapped
        pids += int(Path("/proc/sys/kernel/pid_max").read_text())
    return {"machine_cpu_ms_per_job": (cpu - before[0]) * 1000 / jobs, "pids_per_job": pids / jobs}


def gnu_parallel(
    args: Sequence[str], jobs: int, *, env: dict[str, str] | None = None
) -> dict[str, float]:
    """Run ``parallel ARGS true ::: 1..JOBS``: its jobs per second, and
    what it cost the machine per job."""
    argv = ["parallel", *args, "true", ":::", *map(str, range(1, jobs + 1))]
    before = machine_counters()
    wall = timed(argv, env=env).wall
    return {"jobs_per_s": jobs / wall, **machine_cost(before, jobs)}


def remove(path: Path) -> None:
    """Remove a folder tree, quietly (job folders of a finished run)."""
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def scratch_root(keep: bool = False) -> Iterator[Path]:
    """A scratch folder for one suite run, under the system's temp folder."""
    path = Path(tempfile.mkdtemp(prefix="meshq-bench-"))
    try:
        yield path
    finally:
        if not keep:
            remove(path)


def median(values: Sequence[float]) -> float:
    """The median of ``values``."""
    return float(statistics.median(values))


def cold_walls(mq: Meshq, args: Sequence[str], times: int) -> list[float]:
    """Walls of ``times`` cold starts of ``meshq ARGS``, after one to warm
    the file cache (as it is for a user who typed a command before)."""
    mq(*args)
    return [mq(*args).wall for _ in range(times)]


@contextlib.contextmanager
def guard(ctx: Context, *measures: Measure) -> Iterator[None]:
    """Record an error in ``measures`` (those still without a figure) instead
    of letting it stop the suite: one broken measure must not hide the rest."""
    try:
        yield
    except Exception as err:  # any failure becomes the measure's error
        text = f"{type(err).__name__}: {err}".strip()
        for measure in measures:
            if measure.value is None and measure.skipped is None:
                measure.error = text
        ctx.log(f"  ERROR {text.splitlines()[0] if text else ''}")
