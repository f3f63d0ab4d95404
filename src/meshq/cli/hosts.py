"""``meshq hosts …``: the host inventory."""

from __future__ import annotations

import click

from meshq.cli.completion import complete_host
from meshq.cli.main import mq_of, run_async
from meshq.cli.options import format_option, host_argument
from meshq.cli.records import (
    HOST_COLUMNS,
    RESOLVED_NOTE,
    host_record,
    reached_cells,
    with_reached,
)
from meshq.cli.render import emit, say, table
from meshq.errors import UsageError
from meshq.limits import MAX_CPUS, MAX_SLOTS
from meshq.model import Host
from meshq.validate import CLUSTER_SLOTS


@click.group()
def hosts() -> None:
    """The hosts jobs run on: this machine, any host ssh reaches, and Slurm clusters."""


@hosts.command()
@host_argument
@click.option(
    "--ip", metavar="ADDRESS", help="Address to connect to [NAME, looked up like 'ssh NAME' would]."
)
@click.option("--user", help="User to log in as [from ~/.ssh/config, else yours].")
# numbers are strings here, checked by meshq.validate: click's int type echoes
# a value of any length in its error, and knows no upper bound
@click.option("--port", metavar="N", help="SSH port, 1 to 65535 [from ~/.ssh/config, else 22].")
@click.option(
    "--max-jobs-allowed",
    "--max_jobs_allowed",
    "max_jobs",
    metavar="N",
    help=f"Jobs it runs at once (its slots; 1 to {MAX_SLOTS:,}) [1; a Slurm cluster: "
    f"{CLUSTER_SLOTS}, the jobs queued there at once].",
)
@click.option("--cpus", metavar="N", help=f"CPU count, for your information (1 to {MAX_CPUS:,}).")
@click.option("--gpu", metavar="IDS", help="GPU ids jobs may be given, e.g. 0,1,2,3.")
@click.option(
    "--gpus", metavar="N", help="How many GPUs: ids 0 to N-1 (the same as --gpu=0,…,N-1)."
)
@click.option("--pyenv", metavar="PATH", help="Activate script sourced for jobs that name none.")
@click.option(
    "--no-host-key-check",
    is_flag=True,
    help="Do not check the host key against known_hosts (trusted networks only).",
)
@click.option(
    "--kind",
    metavar="KIND",
    help="local, ssh or slurm [local for localhost, else ssh].",
)
@click.option(
    "--login",
    metavar="[USER@]HOST",
    help="A Slurm cluster's login node, reached over SSH; 'local' if meshq runs on it.",
)
@click.option("--partition", help="Slurm partition(s) jobs are submitted to [the default].")
@click.option("--account", help="Slurm account jobs are charged to [yours].")
@click.option("--qos", help="Slurm quality of service [the default].")
@click.option(
    "--sbatch-option",
    "--sbatch_option",
    "sbatch_options",
    multiple=True,
    metavar="OPTION",
    help="A further sbatch option word for every job, e.g. --mem=4G (repeat for more).",
)
@format_option()
@click.pass_context
def add(
    ctx: click.Context,
    name: str,
    ip: str | None,
    user: str | None,
    port: str | None,
    max_jobs: str | None,
    cpus: str | None,
    gpu: str | None,
    gpus: str | None,
    pyenv: str | None,
    no_host_key_check: bool,
    kind: str | None,
    login: str | None,
    partition: str | None,
    account: str | None,
    qos: str | None,
    sbatch_options: tuple[str, ...],
    fmt: str,
) -> None:
    """Add hosts; NAME may be a pattern (red,red0[1-3]). A Slurm cluster:
    meshq hosts add hpc --kind=slurm --login=me@login-node [--partition=gpu]."""
    added = mq_of(ctx).add_hosts(
        name,
        kind=kind,
        ip=ip,
        user=user,
        port=port,
        max_jobs=max_jobs,
        cpus=cpus,
        gpus=gpu_ids(gpu, gpus),
        pyenv=pyenv,
        check_host_key=not no_host_key_check,
        login=login,
        partition=partition,
        account=account,
        qos=qos,
        sbatch_options=sbatch_options,
    )
    lines = [_added_line(host) for host in added]
    say(fmt, [host_record(h) for h in added], "\n".join(lines))


def _added_line(host: Host) -> str:
    """What ``hosts add`` says of one host it added."""
    if host.kind.cluster:
        where = f"{host.user + '@' if host.user else ''}{host.address or 'this machine'}"
        return (
            f"added Slurm cluster {host.name} (login node {where}, up to "
            f"{host.max_jobs} job(s) queued there)"
        )
    gpus = f", GPUs {','.join(host.gpus)}" if host.gpus else ""
    return f"added host {host.name} ({host.max_jobs} slot(s){gpus})"


def gpu_ids(gpu: str | None, gpus: str | None) -> str | None:
    """The GPU ids a host declares, from ``--gpu=IDS`` or ``--gpus=N``.

    ``--gpus`` is a count on every command (``queue add --gpus=N`` too); it
    used to take ids here, so a comma list (``--gpus=0,1``) is still read as
    ids, the one reading it can have.
    """
    if gpu is not None and gpus is not None:
        raise UsageError("give --gpu=IDS (which) or --gpus=N (how many), not both")
    if gpus is None or "," in gpus:
        return gpu if gpus is None else gpus
    count = gpus.strip()
    if not count.isdigit() or int(count) < 1:
        raise UsageError(
            f"invalid --gpus {gpus!r}: give how many GPUs (such as 4), or their ids with --gpu=0,1"
        )
    if int(count) > 1024:
        raise UsageError(f"invalid --gpus {gpus!r}: at most 1024 GPUs on one host")
    return ",".join(str(i) for i in range(int(count)))


@hosts.command(name="set")
@host_argument
@click.option("--ip", metavar="ADDRESS", help="Address to connect to ('' for NAME itself).")
@click.option("--user", help="User to log in as ('' for ~/.ssh/config's).")
@click.option("--port", metavar="PORT", help="SSH port ('' for ~/.ssh/config's).")
@click.option(
    "--max-jobs-allowed", "--max_jobs_allowed", "max_jobs", metavar="N", help="Its slots."
)
@click.option("--cpus", metavar="N", help="CPU count, for your information.")
@click.option("--gpu", metavar="IDS", help="GPU ids jobs may be given ('' for none).")
@click.option("--gpus", metavar="N", help="How many GPUs: ids 0 to N-1.")
@click.option("--pyenv", metavar="PATH", help="Activate script for jobs that name none.")
@click.option(
    "--host-key-check/--no-host-key-check",
    default=None,
    help="Check the host key against known_hosts, or not (trusted networks only).",
)
@format_option()
@click.pass_context
def set_(
    ctx: click.Context,
    name: str,
    ip: str | None,
    user: str | None,
    port: str | None,
    max_jobs: str | None,
    cpus: str | None,
    gpu: str | None,
    gpus: str | None,
    pyenv: str | None,
    host_key_check: bool | None,
    fmt: str,
) -> None:
    """Change a host's settings in place (no delete and add again); its
    status and running jobs stay. An empty value clears a setting.

    \b
      meshq hosts set gpu1 --max_jobs_allowed=8 --gpus=4
      meshq hosts set red01 --pyenv=~/ENV3/bin/activate
    """
    ids = "" if gpu == "" else gpu_ids(gpu, gpus)
    host = mq_of(ctx).set_host(
        name,
        ip=ip,
        user=user,
        port=port,
        max_jobs=max_jobs,
        cpus=cpus,
        gpus=ids,
        pyenv=pyenv,
        check_host_key=host_key_check,
    )
    text = (
        f"host {host.name}: {host.max_jobs} slot(s)"
        + (f", GPUs {','.join(host.gpus)}" if host.gpus else "")
        + (f", pyenv {host.pyenv}" if host.pyenv else "")
    )
    say(fmt, host_record(host), text)


@hosts.command(name="list")
@format_option()
@click.pass_context
def list_(ctx: click.Context, fmt: str) -> None:
    """The inventory: slots and GPUs in use and free, status, last probe;
    address, user and port as a connection uses them (those that come from
    ~/.ssh/config marked *; in JSON under resolved)."""
    mq = mq_of(ctx)
    slots, gpus = mq.host_usage()
    rows = [
        with_reached(host_record(h, slots[h.name], gpus.get(h.name, set())), mq.reached_as(h))
        for h in mq.hosts()
    ]
    if fmt != "table":
        emit(rows, fmt, HOST_COLUMNS)
        return
    cells = [reached_cells(row) for row in rows]
    shown = table([row for row, _ in cells], HOST_COLUMNS)
    if any(marked & set(shown) for _, marked in cells):
        click.echo(RESOLVED_NOTE)


@hosts.command()
@click.argument("name", required=False, shell_complete=complete_host)
@format_option()
@click.pass_context
def probe(ctx: click.Context, name: str | None, fmt: str) -> int:
    """Check that hosts (all, or NAME) can be reached and run the agent;
    exits 1 if one cannot."""
    results = run_async(mq_of(ctx).probe(name))
    lines = [
        f"{host.name}: "
        + ("ok" + (f" ({host.info})" if host.info else "") if error is None else "down: " + error)
        for host, error in results
    ]
    data = [
        {"name": h.name, "ok": error is None, "error": error, "info": h.info}
        for h, error in results
    ]
    say(fmt, data, "\n".join(lines))
    return 1 if any(error for _, error in results) else 0


@hosts.command()
@host_argument
@format_option()
@click.pass_context
def disable(ctx: click.Context, name: str, fmt: str) -> None:
    """Stop giving jobs to a host (running ones go on)."""
    host = mq_of(ctx).set_host_enabled(name, False)
    say(fmt, host_record(host), f"host {name} disabled")


@hosts.command()
@host_argument
@format_option()
@click.pass_context
def enable(ctx: click.Context, name: str, fmt: str) -> None:
    """Give jobs to a host again."""
    host = mq_of(ctx).set_host_enabled(name, True)
    say(fmt, host_record(host), f"host {name} enabled")


@hosts.command()
@host_argument
@format_option()
@click.pass_context
def delete(ctx: click.Context, name: str, fmt: str) -> None:
    """Remove a host from the inventory."""
    mq_of(ctx).delete_host(name)
    say(fmt, {"deleted": name}, f"host {name} deleted")
