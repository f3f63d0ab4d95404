"""``meshq queue …`` and ``meshq queues``: the seed's queue commands."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from meshq.cli.main import State, run_async
from meshq.cli.render import OUTPUT_OPTION, emit, table
from meshq.errors import UsageError, shown_path
from meshq.limits import MAX_GPUS, MAX_PARALLEL, MAX_RETRIES, MAX_TIMEOUT

F = TypeVar("F", bound=Callable[..., Any])

JOB_COLUMNS = ("name", "status", "host", "exit_code", "attempts", "started", "ended", "command")
JOB_HEADERS = {"exit_code": "exit", "attempts": "tries"}
#: the ranges of the number options, as their help gives them
_TIMEOUT = f"at most {MAX_TIMEOUT:,} s: 365 days"
_RETRIES = f"0 to {MAX_RETRIES:,}"


def _mq(ctx: click.Context) -> Any:
    state: State = ctx.find_object(State)  # type: ignore[assignment]
    return state.mq


def experiment_check(fn: F) -> F:
    """The seed lets every queue command name the experiment; meshq stores
    it with the queue, so a given one must be the queue's."""
    return click.option(
        "--experiment",
        metavar="DIR",
        help="The queue's experiment folder (checked against the stored one).",
    )(fn)


def _check_experiment(mq: Any, queue: str, experiment: str | None) -> None:
    if experiment is None:
        return
    stored = mq.queue(queue).experiment
    if os.path.abspath(os.path.expanduser(experiment)) != stored:
        raise UsageError(
            f"queue {queue!r} lives in {stored}, not {shown_path(experiment)}: drop --experiment "
            "or name the right folder"
        )


def _statuses(text: str | None) -> list[Any] | None:
    if text is None:
        return None
    from meshq.model import Status

    return [Status.parse(s) for s in text.split(",") if s.strip()]


@click.group()
def queue() -> None:
    """Create queues, add jobs, run them, and follow them."""


@click.command()
@OUTPUT_OPTION
@click.pass_context
def queues(ctx: click.Context, fmt: str) -> None:
    """List every queue with its job counts per state."""
    from meshq.model import Status

    rows = []
    for summary in _mq(ctx).queues():
        row: dict[str, Any] = {"queue": summary.queue.name, "jobs": summary.total}
        row.update({s.value: summary.counts.get(s, 0) for s in Status})
        row["experiment"] = summary.queue.experiment
        rows.append(row)
    shown = [s.value for s in Status if any(r[s.value] for r in rows)]
    emit(rows, fmt, ["queue", "jobs", *shown, "experiment"])


@queue.command()
@click.argument("queue_name", metavar="QUEUE")
@click.option(
    "--experiment",
    default="./experiment",
    show_default=True,
    metavar="DIR",
    help="The folder under which each job gets its own directory, on every host.",
)
@click.option(
    "--timeout",
    metavar="SECONDS",
    help=f"Time limit in seconds for jobs that set none ({_TIMEOUT}).",
)
@click.option(
    "--retries", metavar="N", help=f"Reruns of a failed job, for jobs that set none ({_RETRIES})."
)
@click.pass_context
def create(
    ctx: click.Context, queue_name: str, experiment: str, timeout: str | None, retries: str | None
) -> None:
    """Create an empty queue."""
    q = _mq(ctx).create_queue(queue_name, experiment, timeout=timeout, retries=retries)
    click.echo(f"created queue {q.name} (experiment {q.experiment})")


@queue.command(name="set")
@click.argument("queue_name", metavar="QUEUE")
@click.option(
    "--timeout",
    metavar="SECONDS",
    help=f"Time limit in seconds for jobs that set none ({_TIMEOUT}).",
)
@click.option(
    "--retries", metavar="N", help=f"Reruns of a failed job, for jobs that set none ({_RETRIES})."
)
@click.pass_context
def set_(ctx: click.Context, queue_name: str, timeout: str | None, retries: str | None) -> None:
    """Change a queue's defaults for its jobs."""
    q = _mq(ctx).set_defaults(queue_name, timeout=timeout, retries=retries)
    click.echo(f"{q.name}: timeout {q.default_timeout or 'none'}, retries {q.default_retries or 0}")


@queue.command()
@click.argument("queue_name", metavar="QUEUE")
@click.pass_context
def pause(ctx: click.Context, queue_name: str) -> None:
    """Start no new job of the queue; running jobs go on (a run waits for them)."""
    _mq(ctx).pause(queue_name)
    click.echo(f"paused {queue_name}: no new jobs start ('meshq queue resume {queue_name}')")


@queue.command()
@click.argument("queue_name", metavar="QUEUE")
@click.pass_context
def resume(ctx: click.Context, queue_name: str) -> None:
    """Let a paused queue's jobs start again (a run going on picks them up)."""
    _mq(ctx).resume(queue_name)
    click.echo(f"resumed {queue_name}")


@queue.command()
@click.argument("queue_name", metavar="QUEUE")
@click.option("--name", help="Job name or pattern: job[1-10], job[01-04], a,b,c.")
@click.option(
    "--command",
    "command_text",
    help="The shell command each job runs (the seed's \"'sleep 10'\" works too).",
)
@click.option(
    "--file",
    "job_file",
    metavar="YAML",
    help="Add the jobs of a job file instead (a list of entries with these fields).",
)
@click.option("--input", "input_", metavar="PATH", help="Input location, exported as MESHQ_INPUT.")
@click.option("--output", metavar="FILE", help="File for the command's stdout [NAME.out].")
@click.option("--status", help="First state: ready (needs a host) or undefined.")
@click.option("--gpu", metavar="IDS", help="GPU ids for CUDA_VISIBLE_DEVICES, e.g. 0 or 0,1.")
@click.option(
    "--gpus", metavar="N", help=f"How many GPUs (1 to {MAX_GPUS:,}); the scheduler picks free ones."
)
@click.option("--user", help="User on the host.")
@click.option("--host", help="Host to run on: localhost (or local) for this machine.")
@click.option("--shell", metavar="SHELL", help="Shell that runs the command [bash].")
@click.option("--log", metavar="FILE", help="File for the job's state log [NAME.log].")
@click.option("--pyenv", metavar="PATH", help="Activate script (or venv folder) sourced first.")
@click.option("--directory", metavar="DIR", help="Working directory [the job's own directory].")
@click.option(
    "--timeout",
    metavar="SECONDS",
    help=f"Kill the job after this many seconds ({_TIMEOUT}): state timeout.",
)
@click.option(
    "--retries", metavar="N", help=f"Rerun a failed, crashed or timed-out job N times ({_RETRIES})."
)
@click.option(
    "--after",
    metavar="NAMES",
    help="Run only after these jobs ended with exit code 0 (names or patterns); "
    "if one fails for good, this job is skipped.",
)
@experiment_check
@click.pass_context
def add(
    ctx: click.Context,
    queue_name: str,
    name: str | None,
    command_text: str | None,
    job_file: str | None,
    input_: str | None,
    output: str | None,
    status: str | None,
    gpu: str | None,
    gpus: str | None,
    user: str | None,
    host: str | None,
    shell: str | None,
    log: str | None,
    pyenv: str | None,
    directory: str | None,
    timeout: str | None,
    retries: str | None,
    after: str | None,
    experiment: str | None,
) -> None:
    """Add jobs to a queue; NAME patterns add many at once.

    Each job sees MESHQ_QUEUE, MESHQ_JOB, MESHQ_INDEX (what the pattern gave it:
    7 for job7, 07 for job07) and MESHQ_ATTEMPT, so one command serves a sweep:

    \b
      meshq queue add sweep --name='job[1-100]' --host=localhost \\
          --command='python train.py --seed=$MESHQ_INDEX'
    """
    mq = _mq(ctx)
    _check_experiment(mq, queue_name, experiment)
    if job_file is not None:
        if name is not None or command_text is not None:
            raise UsageError("give --file, or --name with --command, not both")
        _report_added(queue_name, mq.add_file(queue_name, job_file))
        return
    if name is None or command_text is None:
        raise UsageError("give --name and --command (or --file=jobs.yaml)")
    added = mq.add(
        queue_name,
        name,
        command_text,
        input=input_,
        output=output,
        status=status,
        gpu=gpu,
        gpus=gpus,
        user=user,
        host=host,
        shell=shell,
        log=log,
        pyenv=pyenv,
        directory=directory,
        timeout=timeout,
        retries=retries,
        after=after,
    )
    _report_added(queue_name, added)


def _report_added(queue_name: str, added: list[str]) -> None:
    from meshq.names import collapse

    shown = collapse(added) if len(added) > 1 else added[0]
    click.echo(f"added {len(added)} job(s) to {queue_name}: {shown}")


@queue.command(name="list")
@click.argument("queue_name", metavar="QUEUE")
@click.option("--status", help="Only jobs in these states (comma separated).")
@click.option("--name", help="Only these jobs: a pattern (job[1-5]), a glob (job*) or a part.")
@OUTPUT_OPTION
@experiment_check
@click.pass_context
def list_(
    ctx: click.Context,
    queue_name: str,
    status: str | None,
    name: str | None,
    fmt: str,
    experiment: str | None,
) -> None:
    """List a queue's jobs in queue order."""
    mq = _mq(ctx)
    _check_experiment(mq, queue_name, experiment)
    jobs = mq.jobs(queue_name, status=_statuses(status), name=name)
    columns: tuple[str, ...] = JOB_COLUMNS
    records = [j.to_dict() for j in jobs]
    if fmt == "table" and any(j.remote_id for j in jobs):
        # jobs on a cluster: its id for each and what it says (PENDING (Priority))
        columns = (*JOB_COLUMNS[:3], "remote", *JOB_COLUMNS[3:])
        for record in records:
            parts = (record["remote_id"], record["remote_state"])
            record["remote"] = " ".join(p for p in parts if p) or None
    emit(records, fmt, columns, headers=JOB_HEADERS)


@queue.command()
@click.argument("queue_name", metavar="QUEUE")
@OUTPUT_OPTION
@click.pass_context
def status(ctx: click.Context, queue_name: str, fmt: str) -> None:
    """Count the jobs per state, and name them, grouped by state."""
    from meshq.names import collapse

    groups = _mq(ctx).by_status(queue_name)
    rows = [
        {"status": s.value, "count": len(names), "jobs": collapse(names)}
        for s, names in groups.items()
    ]
    if fmt == "table":
        total = sum(r["count"] for r in rows)
        table(
            rows, ["status", "count", "jobs"], title=f"{queue_name}: {total} job(s)", wide=("jobs",)
        )
    else:
        emit(rows, fmt, ["status", "count", "jobs"])


@queue.command()
@click.argument("queue_name", metavar="QUEUE")
@click.argument("job_name", metavar="JOB")
@OUTPUT_OPTION
@click.pass_context
def show(ctx: click.Context, queue_name: str, job_name: str, fmt: str) -> None:
    """Every field of one job, and its state history."""
    mq = _mq(ctx)
    job = mq.job(queue_name, job_name)
    history = [e.to_dict() for e in mq.history(queue_name, job_name)]
    deps = [f"{n} ({st.value})" for n, st in mq.dependencies(queue_name, job_name)]
    files = mq.files(job)
    record = {
        **job.to_dict(),
        "after": ", ".join(deps) or None,
        "files": files.to_dict() if files else None,
        "history": history,
    }
    if fmt != "table":
        emit([record], fmt, [])
        return
    width = max(len(k) for k in record)
    for key, value in record.items():
        if key == "files" and files is not None:
            for part, path in files.to_dict().items():
                if path is not None:
                    click.echo(f"{part:<{width}}  {path}")
        elif key != "history":
            click.echo(f"{key:<{width}}  {'' if value is None else value}")
    click.echo("")
    table(
        history,
        ["time", "old", "new", "attempt", "host", "exit_code", "detail"],
        title="history",
        headers={"exit_code": "exit"},
        wide=("detail",),
    )


@queue.group()
def run() -> None:
    """Run a queue with a scheduler."""


@run.command()
@click.argument("queue_name", metavar="QUEUE")
@click.option(
    "--max-parallel",
    "--max_parallel",
    "max_parallel",
    default="1",
    show_default=True,
    metavar="N",
    # a string checked by meshq, not click.IntRange: click echoes a value
    # of any length in its error and has no upper bound by default
    help=f"How many jobs run at once (1 to {MAX_PARALLEL:,}).",
)
@experiment_check
@click.pass_context
def fifo(ctx: click.Context, queue_name: str, max_parallel: str, experiment: str | None) -> int:
    """Run the ready jobs in queue order on the host each is pinned to.

    Jobs with no host are skipped (give them --host, or use fifo_multi).
    Exits 0 when every job it ran ended with exit code 0, else 1. Ctrl-C stops
    starting jobs; the running ones go on (see 'meshq queue refresh').
    """
    from meshq.cli.progress import reporter_for_terminal
    from meshq.validate import max_parallel as checked

    parallel = checked(max_parallel)
    mq = _mq(ctx)
    _check_experiment(mq, queue_name, experiment)
    reporter = reporter_for_terminal()
    result = run_async(mq.run_fifo(queue_name, parallel, reporter=reporter, handle_signals=True))
    return _summarize(queue_name, result)


@run.command(name="fifo_multi")
@click.argument("queue_name", metavar="QUEUE")
@click.option(
    "--hosts",
    "hosts_",
    metavar="LIST",
    help="user@host,… : one slot per entry (repeat one for more) "
    "[the inventory's active hosts with their slots].",
)
@click.option(
    "--policy",
    default="sequential",
    show_default=True,
    type=click.Choice(["sequential", "random", "smart", "frugal"]),
    help="Which free host a job goes to: the first, any, the most free, the least free.",
)
@experiment_check
@click.pass_context
def fifo_multi(
    ctx: click.Context, queue_name: str, hosts_: str | None, policy: str, experiment: str | None
) -> int:
    """Run ready and undefined jobs in queue order over many hosts.

    A job goes to a host with a free slot (and enough free GPUs for --gpus)
    chosen by the policy. A host that cannot be reached is marked down and
    tried again later; one lost mid-run gets a grace period before its jobs
    count as crashed. Exits 0 when every job it ran ended with exit code 0.
    """
    from meshq.cli.progress import reporter_for_terminal

    mq = _mq(ctx)
    _check_experiment(mq, queue_name, experiment)
    result = run_async(
        mq.run_fifo_multi(
            queue_name, hosts_, policy=policy, reporter=reporter_for_terminal(), handle_signals=True
        )
    )
    return _summarize(queue_name, result)


def _summarize(queue_name: str, result: Any) -> int:
    parts = [f"{n} {s.value}" for s, n in sorted(result.finished.items())]
    click.echo(f"{queue_name}: " + (", ".join(parts) if parts else "no job ran"), err=True)
    if result.retried:
        click.echo(f"{result.retried} failed attempt(s) were run again (--retries)", err=True)
    if result.paused:
        click.echo(
            f"queue {queue_name} is paused: 'meshq queue resume {queue_name}', then run it again",
            err=True,
        )
    if result.left_to_others:
        click.echo(
            f"{result.left_to_others} job(s) left to the other run(s) of {queue_name}, "
            "which hold its slots",
            err=True,
        )
    if result.stranded:
        click.echo(
            f"{result.stranded} job(s) could not start: {result.stranded_why}; "
            f"'meshq hosts probe' checks the hosts, then run the queue again",
            err=True,
        )
    if result.interrupted:
        click.echo(
            f"stopped with {result.still_running} job(s) still running: "
            f"'meshq queue refresh {queue_name}' records how they end",
            err=True,
        )
    return 0 if result.ok else 1


def _print_moves(moves: list[Any]) -> None:
    for m in moves:
        click.echo(f"{m.name}\told_status:{m.old.value}\tnew_status:{m.new.value}")


@queue.command()
@click.argument("queue_name", metavar="QUEUE")
@click.option(
    "--name",
    required=True,
    help="The job(s) to kill: a name, a pattern (job[1-5]) or a glob (job*).",
)
@click.pass_context
def kill(ctx: click.Context, queue_name: str, name: str) -> None:
    """Kill running jobs, with every process they started."""
    moves = run_async(_mq(ctx).kill(queue_name, name))
    _print_moves(moves)
    if not moves:
        click.echo("no job was running", err=True)


@queue.command()
@click.argument("queue_name", metavar="QUEUE")
@click.option("--name", help="Only these jobs: a name, a pattern (job[1-5]) or a glob (job*).")
@click.option("--status", help="Only jobs in this state.")
@experiment_check
@click.pass_context
def reset(
    ctx: click.Context,
    queue_name: str,
    name: str | None,
    status: str | None,
    experiment: str | None,
) -> None:
    """Make jobs runnable again: kill if running, remove the job directory,
    back to ready (undefined without a host). With no option: every job not
    in end."""
    mq = _mq(ctx)
    _check_experiment(mq, queue_name, experiment)
    _print_moves(run_async(mq.reset(queue_name, name, status)))


@queue.command()
@click.argument("queue_name", metavar="QUEUE")
@click.option(
    "--name",
    help="Only these jobs: a name, a pattern (job[1-5]) or a glob (job*); "
    "without it, the whole queue.",
)
@experiment_check
@click.pass_context
def delete(ctx: click.Context, queue_name: str, name: str | None, experiment: str | None) -> None:
    """Delete jobs, or the whole queue: running jobs are killed and job
    directories removed."""
    mq = _mq(ctx)
    _check_experiment(mq, queue_name, experiment)
    n = run_async(mq.delete(queue_name, name))
    what = f"queue {queue_name}" if name is None else f"{n} job(s) from {queue_name}"
    click.echo(f"deleted {what}" + (f" ({n} job(s))" if name is None else ""))


@queue.command()
@click.argument("queue_name", metavar="QUEUE")
@experiment_check
@click.pass_context
def refresh(ctx: click.Context, queue_name: str, experiment: str | None) -> None:
    """Read the true state of running jobs from their hosts (after a crash
    of meshq, say) and record it."""
    mq = _mq(ctx)
    _check_experiment(mq, queue_name, experiment)
    moves = run_async(mq.refresh(queue_name))
    _print_moves(moves)
    if not moves:
        click.echo(f"{queue_name}: every job's state is up to date", err=True)


@queue.command()
@click.argument("queue_name", metavar="QUEUE")
@click.argument("job_name", metavar="JOB")
@click.option("--stderr", "stderr", is_flag=True, help="Show stderr instead of stdout.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output until the job ends.")
@click.pass_context
def logs(ctx: click.Context, queue_name: str, job_name: str, stderr: bool, follow: bool) -> None:
    """Print a job's output."""
    mq = _mq(ctx)

    async def copy() -> None:
        out = sys.stdout.buffer
        async for chunk in mq.logs(queue_name, job_name, stderr=stderr, follow=follow):
            out.write(chunk)
            out.flush()

    run_async(copy())
