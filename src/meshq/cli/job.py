"""``meshq job …``: the older seed's ``cms job`` commands, on meshq's queues,
hosts and schedulers. The current jobset is a queue (see :mod:`meshq.jobsets`);
states are shown in the seed's words (:mod:`meshq.cloudmesh.states`).
"""

from __future__ import annotations

import os
from typing import Any

import click

from meshq.cli.main import mq_of, run_async
from meshq.cli.options import format_option
from meshq.cli.render import Column, emit
from meshq.errors import UsageError
from meshq.limits import MAX_CPUS, MAX_SLOTS

#: the columns ``job list`` shows (the seed's JobName, JobStatus, RemoteIp, …),
#: the most useful first
LIST_COLUMNS = (
    Column("name", priority=0),
    Column("status", priority=0),
    Column("ip", priority=1),
    Column("submitted_to_ip", "submitted to", priority=3),
    Column("executable", priority=2, wide=True),
    Column("arguments", priority=4, wide=True),
    Column("user", priority=5),
)
HOST_COLUMNS = (
    Column("name", priority=0),
    Column("ip", priority=1),
    Column("cpus", priority=3),
    Column("status", priority=0),
    Column("job_counter", "jobs", priority=2),
    Column("max_jobs_allowed", "max jobs", priority=2),
)
STATUS_COLUMNS = (
    Column("status", priority=0),
    Column("count", priority=0),
    Column("jobs", priority=1, wide=True),
)
_mq = mq_of


def _moves(moves: list[Any]) -> None:
    """State changes, in the seed's words (``old_status:done new_status:ready``)."""
    from meshq.cloudmesh.states import old_word

    for m in moves:
        click.echo(f"{m.name}\told_status:{old_word(m.old)}\tnew_status:{old_word(m.new)}")


@click.group(invoke_without_command=True)
@click.option(
    "--service",
    type=click.Choice(["start", "info"]),
    help="The seed's REST service: start it ('meshq serve'), or show where it is "
    "('meshq serve info').",
)
@click.pass_context
def job(ctx: click.Context, service: str | None) -> None:
    """The older seed's 'cms job' commands, on meshq's queues and hosts.

    The current jobset is a YAML file in the seed's format ('meshq set
    jobset=FILE' or 'meshq job set FILE'; default: spec.yaml beside the
    store) and a meshq queue named after it. The store is the source of
    truth: the file is imported once, then written anew by every job
    command that changes something. States show in the seed's words: ready,
    submitted, done, failed, timeout, killed.

    \b
      meshq job template a.yaml --name='b[0-1]'     two runnable jobs (uname -a)
      meshq job add --name='z[0-1]' --ip=123,345 --executable=ls --output=a,b
      meshq job hosts add --hostname=red --ip=10.0.0.5 --cpus=4 --max_jobs_allowed=2
      meshq job scheduler --policy=smart
      meshq job run                                 fifo_multi over the hosts
      meshq job list --status=done
    """
    if service is not None:
        from meshq.cli import serve

        if service == "start":
            ctx.invoke(serve.serve, token=os.environ.get("MESHQ_TOKEN"))
        else:
            ctx.invoke(serve.info)
        return
    if ctx.invoked_subcommand is None:
        raise click.exceptions.NoArgsIsHelpError(ctx)


@job.command(name="set")
@click.argument("file", metavar="FILE")
@click.option(
    "--experiment",
    metavar="DIR",
    help="Where a new jobset's job folders go [FILE's folder/experiment].",
)
@click.pass_context
def set_(ctx: click.Context, file: str, experiment: str | None) -> None:
    """Make FILE the current jobset (as 'meshq set jobset=FILE').

    A file meshq has no queue for is imported (a missing one is created);
    a jobset meshq knows keeps the store's jobs, and the file is rewritten
    from the store.
    """
    current = _mq(ctx).use_jobset(file, experiment=experiment)
    click.echo(f"jobset={current.path!r} (queue {current.queue.name})")


@job.command()
@click.pass_context
def info(ctx: click.Context) -> None:
    """Where the current jobset is, and what it holds."""
    from meshq.cloudmesh.states import OLD_WORDS, regroup

    mq = _mq(ctx)
    current = mq.jobset()
    q = current.queue
    groups = regroup(mq.by_status(q.name))
    counts = ", ".join(f"{len(groups[w])} {w}" for w in OLD_WORDS if groups.get(w)) or "none"
    how = "the default: 'meshq set jobset=FILE' sets another" if current.default else "set"
    click.echo(f"jobset      {current.path} ({how})")
    click.echo(f"queue       {q.name} (the store is the truth; job commands rewrite the file)")
    click.echo(f"experiment  {q.experiment}")
    click.echo(f"policy      {mq.policy(q.name)}")
    click.echo(f"jobs        {sum(len(v) for v in groups.values())} ({counts})")
    click.echo(f"hosts       {len(mq.hosts())} (the inventory: 'meshq job list hosts')")


@job.command()
@click.argument("file", metavar="[FILE]", required=False)
@click.option("--name", help="Names of the template jobs: a pattern such as b[0-1] [job].")
@click.pass_context
def template(ctx: click.Context, file: str | None, name: str | None) -> None:
    """Add runnable template jobs (uname -a on this machine) to the jobset.

    With FILE, FILE becomes the current jobset first. This machine joins the
    inventory when it is not there. See the result with 'less FILE'.
    """
    mq = _mq(ctx)
    added = mq.jobset_template(file, name)
    path = mq.jobset().path
    click.echo(f"added {len(added)} template job(s) to {path}: {', '.join(added)}")


@job.command()
@click.argument("file", metavar="[FILE]", required=False)
@click.option("--name", help="Job name(s): a pattern such as z[0-1].")
@click.option("--ip", help="Host each job asks for (one, or one per job: 123,345) [127.0.0.1].")
@click.option("--executable", help="The program to run [uname].")
@click.option("--arguments", help="Its arguments (one, or one per job) [-a with uname].")
@click.option(
    "--directory",
    metavar="DIR",
    help="Working directory [the folder you run this in: on a host, the same under its home].",
)
@click.option("--input", "input_", metavar="PATH", help="Input path (one, or one per job).")
@click.option(
    "--output",
    metavar="PATH",
    help="Stdout file in the job's folder, e.g. out or output/z0 (one, or one per job).",
)
@click.option("--status", help="First state: ready [ready].")
@click.option("--gpu", metavar="IDS", help="GPU ids: one list for all, or one id per job.")
@click.option("--user", help="User on the host.")
@click.option("--shell", help="Shell that runs the command [bash].")
@click.pass_context
def add(
    ctx: click.Context,
    file: str | None,
    name: str | None,
    ip: str | None,
    executable: str | None,
    arguments: str | None,
    directory: str | None,
    input_: str | None,
    output: str | None,
    status: str | None,
    gpu: str | None,
    user: str | None,
    shell: str | None,
) -> None:
    """Add jobs to the jobset: from FILE (jobs by name, or a jobset), or
    those --name expands to.

    Each of --ip, --input, --output, --gpu and --arguments is one value for
    every job, or a list with one value per job, in the order of the names
    (--name=z[0-1] --output=a,b gives z0 the output a and z1 b).
    """
    mq = _mq(ctx)
    if file is not None:
        given: list[str | None] = [
            ip,
            executable,
            arguments,
            directory,
            input_,
            output,
            status,
            gpu,
            user,
            shell,
        ]
        if name is not None or any(v is not None for v in given):
            raise UsageError("give FILE, or --name with the job's options, not both")
        added = mq.jobset_add_file(file)
    elif name is None:
        raise UsageError("give --name (and the job's options), or a FILE of jobs")
    else:
        added = mq.jobset_add(
            name,
            ip=ip,
            executable=executable,
            arguments=arguments,
            directory=directory,
            input=input_,
            output=output,
            status=status,
            gpu=gpu,
            user=user,
            shell=shell,
        )
    from meshq.names import collapse

    click.echo(f"added {len(added)} job(s) to the jobset: {collapse(added)}")


@job.command()
@format_option()
@click.pass_context
def status(ctx: click.Context, fmt: str) -> None:
    """The jobs grouped by their state."""
    from meshq.cloudmesh.states import regroup
    from meshq.names import collapse

    mq = _mq(ctx)
    q = mq.jobset().queue
    groups = regroup(mq.by_status(q.name))
    rows = [
        {"status": word, "count": len(names), "jobs": collapse(names)}
        for word, names in groups.items()
    ]
    total = sum(len(names) for names in groups.values())
    emit(rows, fmt, STATUS_COLUMNS, title=f"{q.name}: {total} job(s)")


@job.command(name="list")
@click.argument("what", metavar="[hosts]", required=False, type=click.Choice(["hosts"]))
@click.option("--status", help="Only jobs in these states: ready, submitted, done, failed, …")
@click.option("--name", help="Only jobs whose name holds this (or a pattern: b[0-1]).")
@format_option()
@click.pass_context
def list_(
    ctx: click.Context, what: str | None, status: str | None, name: str | None, fmt: str
) -> None:
    """List the jobset's jobs ('job list hosts': its hosts)."""
    mq = _mq(ctx)
    if what == "hosts":
        if status is not None or name is not None:
            raise UsageError("'job list hosts' takes no --status or --name")
        emit(mq.seed_hosts(), fmt, HOST_COLUMNS)
        return
    q = mq.jobset().queue
    emit(mq.seed_jobs(q.name, status=status, name=name), fmt, LIST_COLUMNS)


@job.command()
@click.option("--name", help="The job(s): a name, a pattern (ls_j[1-3]) or a glob [all].")
@click.pass_context
def kill(ctx: click.Context, name: str | None) -> None:
    """Kill running jobs, with every process they started."""
    mq = _mq(ctx)
    q = mq.jobset(writing=True).queue
    moves = run_async(mq.kill(q.name, name))
    mq.write_jobset(q)
    _moves(moves)
    if not moves:
        click.echo("no job was running", err=True)


@job.command()
@click.option("--name", help="The job(s): a name, a pattern or a glob [every job not done].")
@click.pass_context
def reset(ctx: click.Context, name: str | None) -> None:
    """Make jobs ready to run again: kill if running, remove the job's folder."""
    mq = _mq(ctx)
    q = mq.jobset(writing=True).queue
    # the seed's reset removes the job's folder: 'queue reset --purge'
    moves = run_async(mq.reset(q.name, name, purge=True))
    mq.write_jobset(q)
    _moves(moves)


@job.command()
@click.option("--name", help="The job(s): a name, a pattern or a glob [every job].")
@click.pass_context
def delete(ctx: click.Context, name: str | None) -> None:
    """Delete jobs from the jobset; submitted (running) ones are killed first."""
    mq = _mq(ctx)
    q = mq.jobset(writing=True).queue
    if name is None and not mq.jobs(q.name):
        click.echo("the jobset has no jobs", err=True)
        return
    n = run_async(mq.delete(q.name, name or "*"))
    mq.write_jobset(q)
    click.echo(f"deleted {n} job(s) from the jobset")


@job.command()
@click.option("--name", help="Only these jobs: a name, a pattern or a glob [every ready job].")
@click.pass_context
def run(ctx: click.Context, name: str | None) -> int:
    """Run the jobset's ready jobs on the hosts, each on the host its policy
    picks (a job that asks for a host of the run by --ip goes there).

    Exits 0 when every job it ran ended done, else 1.
    """
    from meshq.cli.progress import reporter_for_terminal
    from meshq.cloudmesh.states import old_word
    from meshq.model import WAITING
    from meshq.names import collapse

    mq = _mq(ctx)
    q = mq.jobset(writing=True).queue
    if name is not None:
        idle = [j for j in mq.select(q.name, name) if j.status not in WAITING]
        for j in idle:
            click.echo(
                f"{j.name} is {old_word(j.status)}: not run ('meshq job reset --name={j.name}' "
                "first)",
                err=True,
            )
    try:
        result = run_async(
            mq.run_fifo_multi(
                q.name, name=name, reporter=reporter_for_terminal(), handle_signals=True
            )
        )
    finally:
        mq.write_jobset(q)
    finished = {old_word(s): 0 for s in result.finished}
    for s, n in result.finished.items():
        finished[old_word(s)] += n
    parts = [f"{n} {w}" for w, n in finished.items()]
    click.echo(f"{q.name}: " + (", ".join(parts) if parts else "no job ran"), err=True)
    if result.stranded:
        click.echo(f"{result.stranded} job(s) could not start: {result.stranded_why}", err=True)
    if result.interrupted:
        click.echo(f"stopped; {result.still_running} job(s) still running", err=True)
    left = mq.select(q.name, name) if name is not None else []
    waiting = [j.name for j in left if j.status in WAITING]
    if waiting:
        click.echo(f"still ready: {collapse(waiting)}", err=True)
    return 0 if result.ok else 1


@job.command(name="help")
@click.pass_context
def help_(ctx: click.Context) -> None:
    """Print this manual page."""
    parent = ctx.parent
    assert parent is not None
    click.echo(parent.get_help())
    click.echo("")
    for name in job.list_commands(parent):
        command = job.get_command(parent, name)
        if command is not None:
            click.echo(f"  meshq job {name:<10} {command.get_short_help_str(70)}")


@job.group(name="hosts")
def job_hosts() -> None:
    """The hosts of the jobset (meshq's inventory)."""


@job_hosts.command(name="add")
@click.option("--hostname", required=True, help="The host's name, e.g. juliet.")
@click.option("--ip", required=True, help="Its address (or localhost for this machine).")
@click.option("--cpus", required=True, metavar="N", help=f"Its CPU count (1 to {MAX_CPUS:,}).")
@click.option("--status", help="free or active (in use), inactive (not in use) [free].")
@click.option(
    "--job_counter",
    "--job-counter",
    "job_counter",
    metavar="N",
    help="The seed's count of jobs running there: meshq counts them itself (only 0).",
)
@click.option(
    "--max_jobs_allowed",
    "--max-jobs-allowed",
    "max_jobs",
    metavar="N",
    help=f"Jobs it runs at once (1 to {MAX_SLOTS:,}) [1].",
)
@click.pass_context
def hosts_add(
    ctx: click.Context,
    hostname: str,
    ip: str,
    cpus: str,
    status: str | None,
    job_counter: str | None,
    max_jobs: str | None,
) -> None:
    """Add a host to the jobset's hosts (meshq's inventory)."""
    host = _mq(ctx).jobset_add_host(
        hostname, ip=ip, cpus=cpus, status=status, job_counter=job_counter, max_jobs=max_jobs
    )
    click.echo(f"added host {host.name} ({host.max_jobs} slot(s), {host.status.value})")


@job.command()
@click.argument("action", metavar="[info]", required=False, type=click.Choice(["info"]))
@click.option("--policy", help="sequential, random, smart or frugal.")
@click.pass_context
def scheduler(ctx: click.Context, action: str | None, policy: str | None) -> None:
    """Set the jobset's scheduler policy (--policy), or show it (info)."""
    mq = _mq(ctx)
    if (action is None) == (policy is None):
        raise UsageError("give --policy=NAME to set the policy, or info to show it")
    if policy is not None:
        chosen = mq.jobset_policy(policy)
        click.echo(f"scheduler policy: {chosen}")
        return
    click.echo(f"scheduler policy: {mq.policy(mq.jobset().queue.name)}")
